// Status and Result<T>: errors as values at module boundaries.
//
// A Status is either OK or a code plus a message meant for a person: it names the file, key or value at
// fault and, where possible, what would be right. Codes fall in two families that the CLI maps to exit
// codes: the caller's fault (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition: exit 1) and ours
// or the machine's (IOError, Corruption, Internal: exit 2).
//
// Result<T> holds a T or a non-OK Status. Functions that can fail return one of the two; exceptions never
// cross a module boundary.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lineage {

// [[nodiscard]]: a Status dropped on the floor is an error nobody hears of; say why where one is ignored.
class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,     // bad input from the user or a caller
    kNotFound,            // a named thing does not exist
    kAlreadyExists,       // a thing to create exists already
    kFailedPrecondition,  // the system is not in a state where this can run (e.g. no home yet)
    kIOError,             // the operating system refused
    kCorruption,          // stored data is inconsistent
    kInternal,            // a bug or an unexpected library failure
    kUnavailable,         // the infrastructure lost the work (a cluster job lost or preempted): redo it
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status AlreadyExists(std::string msg) { return Status(Code::kAlreadyExists, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) { return Status(Code::kFailedPrecondition, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // True when the caller (or the user) can fix the problem by changing the input.
  bool IsUserError() const {
    return code_ == Code::kInvalidArgument || code_ == Code::kNotFound || code_ == Code::kAlreadyExists ||
           code_ == Code::kFailedPrecondition;
  }

  // "not found: agent 42 does not exist"
  std::string ToString() const;

  // Returns a copy whose message is "context: message"; the code is kept.
  Status WithContext(const std::string& context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design, like std::optional
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace lineage

// Propagates a non-OK Status to the caller.
#define LINEAGE_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::lineage::Status lineage_status_ = (expr);        \
    if (!lineage_status_.ok()) return lineage_status_; \
  } while (0)

#define LINEAGE_CONCAT_INNER(a, b) a##b
#define LINEAGE_CONCAT(a, b) LINEAGE_CONCAT_INNER(a, b)

// `LINEAGE_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or returns its Status.
#define LINEAGE_ASSIGN_OR_RETURN(decl, expr) \
  LINEAGE_ASSIGN_OR_RETURN_IMPL(LINEAGE_CONCAT(lineage_result_, __LINE__), decl, expr)
#define LINEAGE_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  decl = std::move(tmp).value()
