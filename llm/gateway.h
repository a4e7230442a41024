// The gateway: the only way agents reach a model.
//
// An HTTP server on a Unix socket (bound into each sandbox) and optionally on loopback TCP, serving
//   POST /v1/chat/completions   OpenAI-compatible
//   POST /v1/responses          OpenAI's Responses API
//   POST /v1/messages           Anthropic-compatible
//   GET  /v1/models             the configured aliases, OpenAI's list format
// each plain or, with `stream: true`, as the API's server-sent events, streamed from the upstream as it
// answers (a failure midway ends the stream with the API's error event; docs/models.md).
// A caller authenticates with a token the gateway issued (`Authorization: Bearer T` or `x-api-key: T`)
// and names a configured alias as its model ("default", "conductor", "expert", ...). The gateway calls the
// alias's upstream through a ModelClient, translating between the two formats (tools included) when the
// caller's dialect and the upstream's differ, so an agent of either dialect works with either provider.
//
// Each token carries its attribution (run, agent, task, purpose) and a Budget, which several tokens may
// share. A call is admitted only if the budget's spent plus in-flight spend, plus this call's estimate,
// stays within its limits; otherwise it is refused with HTTP 402 in the caller's dialect. A call refused for
// another reason (bad JSON, an unknown model) counts against the call budget too, so that a caller cannot
// flood the gateway with free junk. Every call,
// refused or not, is handed to the CallRecorder (the orchestrator stores it in the archive) by a background
// thread, after the caller has its answer: storing a call costs about a millisecond of fsyncs that the agent
// should not wait for. Flush() waits for the records so far; Stop() stores every one before returning. A
// process killed outright can lose the records of the calls answered in its last milliseconds. A record the
// recorder could not store counts as a fault of the world's (Faults::unrecorded): budgets and replays are
// rebuilt from the records, so the work that made the call is redone rather than judged.
//
// Record and replay: in kRecord mode each upstream response is stored under the SHA-256 of the canonical
// request (upstream model plus the internal form); in kReplay mode responses come only from there, so a
// recorded run can be replayed with no model at all.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/status.h"
#include "llm/llm.h"

namespace lineage::llm {

struct BudgetLimits {
  std::optional<std::int64_t> tokens;  // input plus output
  std::optional<double> cost_usd;
  std::optional<std::int64_t> calls;
};

struct Spend {
  std::int64_t tokens = 0;
  double cost_usd = 0;
  std::int64_t calls = 0;
};

// Spend against limits; thread-safe. Share one between tokens to give them a common budget.
class Budget {
 public:
  explicit Budget(BudgetLimits limits = {}) : limits_(limits) {}

  // Admits a call estimated at `estimate`, counting it as in flight; an empty string when admitted,
  // else which limit it would pass ("cost: $1.02 spent or in flight of $1.00").
  std::string Reserve(const Spend& estimate);
  // Whether Reserve(estimate) would admit the call now (nothing is reserved).
  bool Fits(const Spend& estimate) const;
  // Settles an admitted call: its estimate leaves the in-flight spend and `actual` is added to spent, but
  // never past the budget: a call may use more than it reserved while the budget has room for it, and no
  // more (an upstream may report more than it was asked for). Returns what was charged, which is what the
  // call must be recorded with: a resumed run rebuilds its budgets from the records.
  Spend Settle(const Spend& estimate, const Spend& actual);
  // Which limit is reached already, so that no call at all can be admitted; empty when none is.
  std::string Exhausted() const;

  Spend spent() const;
  Spend in_flight() const;
  const BudgetLimits& limits() const { return limits_; }

 private:
  std::string OverLocked(const Spend& estimate) const;  // which limit `estimate` would pass; mu_ held

  const BudgetLimits limits_;
  mutable std::mutex mu_;
  Spend spent_, in_flight_;
};

// Whom a call served; recorded with it.
struct Attribution {
  std::optional<std::int64_t> run_id;
  std::optional<std::int64_t> agent_id;
  std::string task_id;
  std::string purpose;  // what lineage is doing: "self_modify", "evaluate", "diagnose", ...
  std::string label;    // the caller's refinement, from its X-Lineage-Purpose header; never replaces purpose
};

struct CallRecord {
  Attribution who;
  std::string dialect;  // the caller's: "openai" | "anthropic"
  std::string alias;    // the model the caller named
  std::string provider, model;  // the upstream; empty when the call never got that far
  std::string request_body;     // as the caller sent it
  std::string response_body;    // as the caller received it
  Usage usage;
  double cost_usd = 0;
  std::int64_t latency_ms = 0;
  int attempts = 0;
  std::string outcome;  // "ok" or an ErrorKind name
  ErrorKind error_kind = ErrorKind::kNone;
  std::string error;    // the message, when not ok
  bool replayed = false;
  bool charged = false;  // the budget counted it (an admitted call)
};

// Stores one record; an error when it could not (the archive's disk full, say).
using CallRecorder = std::function<Status(const CallRecord&)>;

enum class CacheMode { kOff, kRecord, kReplay };

// Answers calls from a recorded run instead of the upstream (`lineage run replay`, orchestrator/replay.cc):
// given whom the call serves, the caller's API ("chat_completions", "messages", "responses") and its request
// body as sent, the result the recorded run got. Called from the gateway's threads.
struct ReplayedCall {
  std::string response_body;  // as the recorded caller received it (its API's JSON); empty with an error
  ModelError error;           // kind kNone: answered
  Usage usage;
  double cost_usd = 0;
  std::string provider, model;
};
class CallReplayer {
 public:
  virtual ~CallReplayer() = default;
  virtual ReplayedCall Answer(const Attribution& who, const std::string& api, const std::string& request_body) = 0;
};

struct GatewayOptions {
  std::string unix_socket;  // path; empty: none
  std::string tcp_listen;   // "127.0.0.1:PORT"; empty: none
  CallRecorder recorder;    // optional; called from one background thread, in call order
  CacheMode cache_mode = CacheMode::kOff;
  std::filesystem::path cache_dir;  // kRecord, kReplay
  std::shared_ptr<CallReplayer> replayer;  // set: every admitted call is answered by it, never by the upstream
  // What one caller can hold of the gateway (net/http_server.h): a bigger body is refused with 413; all
  // bodies in flight together stay under the second; one token holds at most that many connections.
  // Connections that present no token the gateway issued are held apart, few and briefly, and are answered
  // 401 unread: they never keep a caller with a token out.
  std::size_t max_body_bytes = 4 << 20;
  std::size_t max_bytes_in_flight = 32 << 20;
  int max_connections = 64, max_connections_per_token = 16;
};

// Of a refused call (a bad request, an unknown model, a spent budget), the record keeps this much of the
// request and the response; but for a budget refusal, the call counts against the call budget all the same.
inline constexpr std::size_t kMaxRefusedRecordBytes = 4096;

class Gateway {
 public:
  // Starts serving at once. Fails when no listener can be bound or a cache directory is unusable.
  static Result<std::unique_ptr<Gateway>> Start(ModelsConfig models, GatewayOptions options);
  ~Gateway();  // Stop()s

  // Issues a new random token (or registers `token`) for a caller.
  std::string IssueToken(Attribution who, std::shared_ptr<Budget> budget);
  void AddToken(const std::string& token, Attribution who, std::shared_ptr<Budget> budget);
  void RevokeToken(const std::string& token);

  // The failed calls this gateway answered that were not the caller's doing: the world's (IsWorldFault:
  // the provider down, a key refused, lineage's configuration) and the budget's (HTTP 402). A run reads
  // them to tell an agent's failure from the world's.
  struct Faults {
    int world = 0, budget = 0;
    int timeouts = 0;         // of the world's: calls that ran out of time (a caller can cause those)
    std::string first_world;  // "server: the provider failed (HTTP 500 ...)", the first one
    std::string first_alias;  // the model that call asked for
    int unrecorded = 0;          // calls the recorder could not store (not counted in `world`)
    std::string first_unrecorded;
  };
  Faults faults() const;

  std::string tcp_url() const;  // "http://127.0.0.1:PORT", or empty
  const std::string& unix_socket() const;
  // Returns once every call answered so far has been handed to the recorder.
  void Flush();
  // Stops serving, then records what is still queued.
  void Stop();

  struct Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A new random token (hex, 128 bits) for a sandbox.
std::string NewToken();

}  // namespace lineage::llm
