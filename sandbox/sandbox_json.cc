#include "sandbox/sandbox_json.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/files.h"

namespace lineage {
namespace {

using json = nlohmann::json;

// --- Reading, with every error naming its key ------------------------------------------------------------

Status Wrong(const std::string& name, const json& value, const char* expected) {
  return Status::Corruption("'" + name + "' must be " + expected + ", not " + value.type_name());
}

template <class T>
json Nullable(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

template <class T>
  requires std::is_integral_v<T>
Status Decode(const json& value, const std::string& name, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return Wrong(name, value, "a boolean");
    out = value.get<bool>();
    return Status::OK();
  } else {
    // nlohmann keeps a non-negative number as unsigned and a negative one as signed: range-check each as it is.
    bool fits = false;
    if (value.is_number_unsigned()) {
      fits = std::in_range<T>(value.get<std::uint64_t>());
      if (fits) out = static_cast<T>(value.get<std::uint64_t>());
    } else if (value.is_number_integer()) {
      fits = std::in_range<T>(value.get<std::int64_t>());
      if (fits) out = static_cast<T>(value.get<std::int64_t>());
    } else {
      return Wrong(name, value, "an integer");
    }
    if (!fits) return Status::Corruption("'" + name + "' is " + value.dump() + ", out of range");
    return Status::OK();
  }
}

Status Decode(const json& value, const std::string& name, std::string& out) {
  if (!value.is_string()) return Wrong(name, value, "a string");
  out = value.get<std::string>();
  return Status::OK();
}

Status Decode(const json& value, const std::string& name, std::vector<std::string>& out) {
  if (!value.is_array()) return Wrong(name, value, "an array of strings");
  out.clear();
  for (std::size_t i = 0; i < value.size(); ++i) {
    LINEAGE_RETURN_IF_ERROR(Decode(value[i], name + "[" + std::to_string(i) + "]", out.emplace_back()));
  }
  return Status::OK();
}

Status Decode(const json& value, const std::string& name, std::map<std::string, std::string>& out) {
  if (!value.is_object()) return Wrong(name, value, "an object of strings");
  out.clear();
  for (const auto& [key, item] : value.items()) LINEAGE_RETURN_IF_ERROR(Decode(item, name + "." + key, out[key]));
  return Status::OK();
}

// Whether `kind` is one of Kind's enumerators. A switch without a default: -Wswitch names an enumerator
// added to the enum and missing here.
bool Known(SandboxMount::Kind kind) {
  switch (kind) {
    case SandboxMount::Kind::kReadOnly:
    case SandboxMount::Kind::kReadWrite:
    case SandboxMount::Kind::kScratch:
    case SandboxMount::Kind::kTmpfs:
      return true;
  }
  return false;
}

bool Known(SandboxLimit limit) {
  switch (limit) {
    case SandboxLimit::kWall:
    case SandboxLimit::kCpu:
    case SandboxLimit::kMemory:
    case SandboxLimit::kPids:
    case SandboxLimit::kOutput:
    case SandboxLimit::kFileSize:
    case SandboxLimit::kDisk:
      return true;
  }
  return false;
}

// An enum travels as its number (sandbox_json.h); `what` names the enum in errors.
template <class Enum>
Status DecodeEnum(const json& value, const std::string& name, const char* what, Enum& out) {
  int number = 0;
  LINEAGE_RETURN_IF_ERROR(Decode(value, name, number));
  if (!Known(static_cast<Enum>(number))) {
    return Status::Corruption("'" + name + "' is " + std::to_string(number) + ", not " + what);
  }
  out = static_cast<Enum>(number);
  return Status::OK();
}

Status Decode(const json& value, const std::string& name, SandboxMount::Kind& out) {
  return DecodeEnum(value, name, "a mount kind this build knows", out);
}
Status Decode(const json& value, const std::string& name, SandboxLimit& out) {
  return DecodeEnum(value, name, "a sandbox limit this build knows", out);
}

// Null is nullopt. Declared after every other Decode, which it may call.
template <class T>
Status Decode(const json& value, const std::string& name, std::optional<T>& out) {
  if (value.is_null()) {
    out.reset();
    return Status::OK();
  }
  return Decode(value, name, out.emplace());
}

// Reads one JSON object's members into fields. The first error sticks, and later reads do nothing, so a
// mapping reads every field in a row and asks status() once.
class Reader {
 public:
  // `path` names the object in errors: "" at the top, "limits", "mounts[1]".
  Reader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) {
      status_ = path_.empty() ? Status::Corruption(std::string("not a JSON object but ") + object_.type_name())
                              : Wrong(path_, object_, "an object");
    }
  }

  template <class T>
  void Required(const char* key, T& out) {
    if (const json* value = Find(key, /*required=*/true)) status_ = Decode(*value, Name(key), out);
  }
  // A key an older writer left out: absent leaves `out` as it is.
  template <class T>
  void Optional(const char* key, T& out) {
    if (const json* value = Find(key, /*required=*/false)) status_ = Decode(*value, Name(key), out);
  }
  // A string of base64 whose bytes go to `out`.
  void Base64Bytes(const char* key, std::string& out) {
    std::string text;
    Required(key, text);
    if (!status_.ok()) return;
    auto bytes = FromBase64(text);
    if (!bytes.ok()) {
      status_ = Status::Corruption("'" + Name(key) + "': " + bytes.status().message());
      return;
    }
    out = std::move(bytes).value();
  }
  // An object read by `read(Reader&)`.
  template <class Read>
  void Object(const char* key, Read read) {
    const json* value = Find(key, /*required=*/true);
    if (!value) return;
    Reader nested(*value, Name(key));
    if (nested.status_.ok()) read(nested);
    status_ = nested.status_;
  }
  // An array of objects, each read by `read(Reader&, T&)` into an element of `out`.
  template <class T, class Read>
  void Objects(const char* key, std::vector<T>& out, Read read) {
    const json* value = Find(key, /*required=*/true);
    if (!value) return;
    if (!value->is_array()) {
      status_ = Wrong(Name(key), *value, "an array");
      return;
    }
    out.clear();
    for (std::size_t i = 0; i < value->size() && status_.ok(); ++i) {
      Reader nested((*value)[i], Name(key) + "[" + std::to_string(i) + "]");
      if (nested.status_.ok()) read(nested, out.emplace_back());
      status_ = nested.status_;
    }
  }

  const Status& status() const { return status_; }

 private:
  std::string Name(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  // The member `key`, or null: when absent (an error if `required`), or after an error.
  const json* Find(const char* key, bool required) {
    if (!status_.ok()) return nullptr;
    auto it = object_.find(key);
    if (it != object_.end()) return &*it;
    if (required) status_ = Status::Corruption("'" + Name(key) + "' is missing");
    return nullptr;
  }

  const json& object_;
  const std::string path_;
  Status status_;
};

// --- The mappings --------------------------------------------------------------------------------------
//
// Each takes its struct apart with a structured binding: a field added to the struct is one the binding
// does not name, and the build stops here ("N names provided for structured binding ... decomposes into
// N+1 elements"). Map it in both directions and in the round-trip test (tests/sandbox/sandbox_json_test.cc),
// keeping the binding in the struct's order of fields.

json MountToJson(const SandboxMount& mount) {
  const auto& [kind, host, inside, tmpfs_bytes, files] = mount;
  // Files held in memory do not travel: the executor writes them to a directory and sends its path as `host`.
  (void)files;
  return {{"kind", static_cast<int>(kind)}, {"host", host}, {"inside", inside}, {"tmpfs_bytes", tmpfs_bytes}};
}

void ReadMount(Reader& in, SandboxMount& mount) {
  auto& [kind, host, inside, tmpfs_bytes, files] = mount;
  files = nullptr;
  in.Required("kind", kind);
  in.Required("host", host);
  in.Required("inside", inside);
  in.Required("tmpfs_bytes", tmpfs_bytes);
}

void ReadLimits(Reader& in, SandboxLimits& limits) {
  auto& [wall_ms, cpu_seconds, memory_bytes, pids, file_size_bytes, open_files, output_bytes, tmp_bytes, disk_bytes,
         disk_entries] = limits;
  in.Required("wall_ms", wall_ms);
  in.Required("cpu_seconds", cpu_seconds);
  in.Required("memory_bytes", memory_bytes);
  in.Required("pids", pids);
  in.Required("file_size_bytes", file_size_bytes);
  in.Required("open_files", open_files);
  in.Required("output_bytes", output_bytes);
  in.Required("tmp_bytes", tmp_bytes);
  in.Required("disk_bytes", disk_bytes);
  in.Required("disk_entries", disk_entries);
}

}  // namespace

json SandboxLimitsToJson(const SandboxLimits& limits) {
  const auto& [wall_ms, cpu_seconds, memory_bytes, pids, file_size_bytes, open_files, output_bytes, tmp_bytes,
               disk_bytes, disk_entries] = limits;
  return {{"wall_ms", wall_ms},
          {"cpu_seconds", cpu_seconds},
          {"memory_bytes", memory_bytes},
          {"pids", pids},
          {"file_size_bytes", file_size_bytes},
          {"open_files", open_files},
          {"output_bytes", output_bytes},
          {"tmp_bytes", tmp_bytes},
          {"disk_bytes", disk_bytes},
          {"disk_entries", disk_entries}};
}

Result<SandboxLimits> SandboxLimitsFromJson(const json& j) {
  SandboxLimits limits;
  Reader in(j, "");
  ReadLimits(in, limits);
  LINEAGE_RETURN_IF_ERROR(in.status());
  return limits;
}

json SandboxSpecToJson(const SandboxSpec& spec) {
  const auto& [argv, workdir, mounts, env, limits, stdin_data, socket_host, socket_inside, socket_tcp, root, tag,
               hidden, run_id, agent_id] = spec;
  json mount_list = json::array();
  for (const SandboxMount& m : mounts) mount_list.push_back(MountToJson(m));
  return {{"argv", argv},
          {"workdir", workdir},
          {"mounts", std::move(mount_list)},
          {"env", env},
          {"limits", SandboxLimitsToJson(limits)},
          {"stdin", stdin_data},
          {"socket_host", socket_host},
          {"socket_inside", socket_inside},
          {"socket_tcp", socket_tcp},
          {"root", root},
          {"tag", tag},
          {"hidden", hidden},
          {"run_id", Nullable(run_id)},
          {"agent_id", Nullable(agent_id)}};
}

Result<SandboxSpec> SandboxSpecFromJson(const json& j) {
  SandboxSpec spec;
  auto& [argv, workdir, mounts, env, limits, stdin_data, socket_host, socket_inside, socket_tcp, root, tag, hidden,
         run_id, agent_id] = spec;
  Reader in(j, "");
  in.Required("argv", argv);
  in.Required("workdir", workdir);
  in.Objects("mounts", mounts, ReadMount);
  in.Required("env", env);
  in.Object("limits", [&](Reader& nested) { ReadLimits(nested, limits); });
  in.Required("stdin", stdin_data);
  in.Required("socket_host", socket_host);
  in.Required("socket_inside", socket_inside);
  in.Optional("socket_tcp", socket_tcp);
  in.Optional("root", root);
  in.Optional("tag", tag);
  in.Optional("hidden", hidden);
  in.Optional("run_id", run_id);
  in.Optional("agent_id", agent_id);
  LINEAGE_RETURN_IF_ERROR(in.status());
  return spec;
}

json SandboxResultToJson(const SandboxResult& result) {
  const auto& [exit_code, signal, limit, stdout_text, stderr_text, stdout_truncated, stderr_truncated, wall_ms, cpu_ms,
               peak_memory_bytes] = result;
  return {{"exit_code", Nullable(exit_code)},
          {"signal", Nullable(signal)},
          {"limit", limit ? json(static_cast<int>(*limit)) : json(nullptr)},
          {"stdout", Base64(stdout_text)},
          {"stderr", Base64(stderr_text)},
          {"stdout_truncated", stdout_truncated},
          {"stderr_truncated", stderr_truncated},
          {"wall_ms", wall_ms},
          {"cpu_ms", cpu_ms},
          {"peak_memory_bytes", peak_memory_bytes}};
}

Result<SandboxResult> SandboxResultFromJson(const json& j) {
  SandboxResult result;
  auto& [exit_code, signal, limit, stdout_text, stderr_text, stdout_truncated, stderr_truncated, wall_ms, cpu_ms,
         peak_memory_bytes] = result;
  Reader in(j, "");
  in.Required("exit_code", exit_code);
  in.Required("signal", signal);
  in.Required("limit", limit);
  in.Base64Bytes("stdout", stdout_text);
  in.Base64Bytes("stderr", stderr_text);
  in.Required("stdout_truncated", stdout_truncated);
  in.Required("stderr_truncated", stderr_truncated);
  in.Required("wall_ms", wall_ms);
  in.Required("cpu_ms", cpu_ms);
  in.Required("peak_memory_bytes", peak_memory_bytes);
  LINEAGE_RETURN_IF_ERROR(in.status());
  return result;
}

}  // namespace lineage
