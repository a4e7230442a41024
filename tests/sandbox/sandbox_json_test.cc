// The sandbox's types as JSON (sandbox/sandbox_json.h): every field there and back, the layout Slurm's job
// files have always had, and documents refused by the key that is wrong.
#include "sandbox/sandbox_json.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace Catch {
// A failed comparison shows both values as their JSON.
template <>
struct StringMaker<lineage::SandboxLimits> {
  static std::string convert(const lineage::SandboxLimits& v) { return lineage::SandboxLimitsToJson(v).dump(); }
};
template <>
struct StringMaker<lineage::SandboxSpec> {
  static std::string convert(const lineage::SandboxSpec& v) { return lineage::SandboxSpecToJson(v).dump(); }
};
template <>
struct StringMaker<lineage::SandboxResult> {
  static std::string convert(const lineage::SandboxResult& v) { return lineage::SandboxResultToJson(v).dump(); }
};
}  // namespace Catch

namespace lineage {
namespace {

using json = nlohmann::json;

// Values with every field set apart from its default, and apart from each other where they share a type, so
// that two fields swapped in a mapping show. Each is filled through a structured binding, which must name
// every field: a field added to the struct stops this file building until it is filled here too.
SandboxLimits FilledLimits() {
  SandboxLimits limits;
  auto& [wall_ms, cpu_seconds, memory_bytes, pids, file_size_bytes, open_files, output_bytes, tmp_bytes, disk_bytes,
         disk_entries] = limits;
  wall_ms = 1'001;
  cpu_seconds = 1'002;
  memory_bytes = 1'003;
  pids = 1'004;
  file_size_bytes = 1'005;
  open_files = 1'006;
  output_bytes = 1'007;
  tmp_bytes = 1'008;
  disk_bytes = 1'009;
  disk_entries = 1'010;
  return limits;
}

SandboxSpec FilledSpec() {
  SandboxSpec spec;
  auto& [argv, workdir, mounts, env, limits, stdin_data, socket_host, socket_inside, socket_tcp, root, tag, hidden,
         run_id, agent_id] = spec;
  argv = {"python3", "-c", "print('hi')", ""};
  workdir = "/workspace";
  mounts = {{SandboxMount::Kind::kReadOnly, "/host/suite", "/suite", 0},
            {SandboxMount::Kind::kReadWrite, "/host/ws", "/workspace", 0},
            {SandboxMount::Kind::kScratch, "/host/agent", "/agent", 0},
            {SandboxMount::Kind::kTmpfs, "", "/scratch", 64ull << 20}};
  env = {{"PATH", "/bin"}, {"EMPTY", ""}, {"LINEAGE_TOKEN", "t0k=n"}};
  limits = FilledLimits();
  stdin_data = std::string("line one\nline two\0three", 23);
  socket_host = "/run/lineage/gw.sock";
  socket_inside = "/run/gateway.sock";
  socket_tcp = "10.0.0.5:4000";
  root = "/home/u/.lineage/cache/environments/py39-0123456789abcdef/root";
  tag = "agent 7 task python/bob";
  hidden = {"/usr/share/lineage/evaluators", "/srv/suites/held-out"};
  run_id = 3;
  agent_id = 7;
  return spec;
}

SandboxResult FilledResult() {
  SandboxResult result;
  auto& [exit_code, signal, limit, stdout_text, stderr_text, stdout_truncated, stderr_truncated, wall_ms, cpu_ms,
         peak_memory_bytes] = result;
  exit_code = 3;
  signal = 9;
  limit = SandboxLimit::kDisk;
  stdout_text = std::string("out \xff\xfe not UTF-8\0", 18);
  stderr_text = "err\n";
  stdout_truncated = true;
  stderr_truncated = true;  // the same as stdout_truncated: the results test sets each alone too
  wall_ms = 2'001;
  cpu_ms = 2'002;
  peak_memory_bytes = 2'003;
  return result;
}

// Through text, as a job file goes: a value written, dumped, parsed and read.
template <class T, class ToJson, class FromJson>
T ThroughText(const T& value, ToJson to, FromJson from) {
  const std::string text = to(value).dump();
  auto back = from(json::parse(text));
  INFO(text);
  REQUIRE(back.ok());
  return *back;
}

SandboxLimits Again(const SandboxLimits& v) { return ThroughText(v, SandboxLimitsToJson, SandboxLimitsFromJson); }
SandboxSpec Again(const SandboxSpec& v) { return ThroughText(v, SandboxSpecToJson, SandboxSpecFromJson); }
SandboxResult Again(const SandboxResult& v) { return ThroughText(v, SandboxResultToJson, SandboxResultFromJson); }

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

TEST_CASE("sandbox_json: the filled values set every field apart from its default") {
  {
    const SandboxLimits filled = FilledLimits(), plain;
    const auto& [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9] = filled;
    const auto& [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9] = plain;
    CHECK((a0 != b0 && a1 != b1 && a2 != b2 && a3 != b3 && a4 != b4 && a5 != b5 && a6 != b6 && a7 != b7 &&
           a8 != b8 && a9 != b9));
  }
  {
    const SandboxSpec filled = FilledSpec(), plain;
    const auto& [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13] = filled;
    const auto& [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13] = plain;
    CHECK((a0 != b0 && a1 != b1 && a2 != b2 && a3 != b3 && a4 != b4 && a5 != b5 && a6 != b6 && a7 != b7 &&
           a8 != b8 && a9 != b9 && a10 != b10 && a11 != b11 && a12 != b12 && a13 != b13));
  }
  {
    const SandboxResult filled = FilledResult(), plain;
    const auto& [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9] = filled;
    const auto& [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9] = plain;
    CHECK((a0 != b0 && a1 != b1 && a2 != b2 && a3 != b3 && a4 != b4 && a5 != b5 && a6 != b6 && a7 != b7 &&
           a8 != b8 && a9 != b9));
  }
}

TEST_CASE("sandbox_json: limits round-trip with every field set, at their defaults, and at the extremes") {
  CHECK(Again(FilledLimits()) == FilledLimits());
  CHECK(Again(SandboxLimits{}) == SandboxLimits{});
  SandboxLimits extreme;
  extreme.wall_ms = std::numeric_limits<std::int64_t>::max();
  extreme.cpu_seconds = std::numeric_limits<std::int64_t>::min();
  extreme.memory_bytes = std::numeric_limits<std::uint64_t>::max();
  extreme.pids = std::numeric_limits<int>::max();
  extreme.open_files = std::numeric_limits<int>::min();
  extreme.disk_entries = 0;
  CHECK(Again(extreme) == extreme);
}

TEST_CASE("sandbox_json: a spec round-trips with every field set, mounts of each kind among them") {
  const SandboxSpec filled = FilledSpec();
  CHECK(Again(filled) == filled);
  // In memory too, without the text between: what a caller of the mapping gets.
  auto direct = SandboxSpecFromJson(SandboxSpecToJson(filled));
  REQUIRE(direct.ok());
  CHECK(*direct == filled);
  for (const SandboxMount& mount : filled.mounts) {
    SandboxSpec one;
    one.mounts = {mount};
    INFO(static_cast<int>(mount.kind));
    CHECK(Again(one) == one);
  }
}

TEST_CASE("sandbox_json: a spec round-trips at its defaults, and with only one of run_id and agent_id") {
  CHECK(Again(SandboxSpec{}) == SandboxSpec{});
  SandboxSpec run_only;
  run_only.run_id = 0;
  CHECK(Again(run_only) == run_only);
  SandboxSpec agent_only;
  agent_only.agent_id = -1;
  CHECK(Again(agent_only) == agent_only);
  // An empty environment is not the default one: it stays empty.
  SandboxSpec bare;
  bare.env.clear();
  CHECK(Again(bare).env.empty());
}

TEST_CASE("sandbox_json: results round-trip with each limit hit, and with none") {
  CHECK(Again(FilledResult()) == FilledResult());
  CHECK(Again(SandboxResult{}) == SandboxResult{});
  for (SandboxLimit limit : {SandboxLimit::kWall, SandboxLimit::kCpu, SandboxLimit::kMemory, SandboxLimit::kPids,
                             SandboxLimit::kOutput, SandboxLimit::kFileSize, SandboxLimit::kDisk}) {
    SandboxResult r;
    r.signal = 9;
    r.limit = limit;
    INFO(SandboxLimitName(limit));
    CHECK(Again(r) == r);
  }
  for (const auto& [out, err] : {std::pair{true, false}, std::pair{false, true}}) {
    SandboxResult r = FilledResult();
    r.stdout_truncated = out;
    r.stderr_truncated = err;
    CHECK(Again(r) == r);
  }
  SandboxResult exited;
  exited.exit_code = 0;
  exited.stdout_text = "ok\n";
  const SandboxResult back = Again(exited);
  CHECK(back == exited);
  CHECK(back.ok());
  CHECK_FALSE(back.signal.has_value());
  CHECK_FALSE(back.limit.has_value());
}

TEST_CASE("sandbox_json: output that is not UTF-8 survives as base64") {
  SandboxResult r;
  r.stdout_text = std::string("\x80\xff\0\xc3", 4);
  r.stderr_text = std::string(1, '\0');
  const json j = SandboxResultToJson(r);
  CHECK(j["stdout"] == "gP8Aww==");
  CHECK(j["stderr"] == "AA==");
  CHECK_NOTHROW(j.dump());  // nlohmann throws on invalid UTF-8 in a string: base64 never is
  CHECK(Again(r) == r);
}

// The keys and numbers below are what Slurm's job files have carried from the start: a node may run another
// build of lineage than the host that submitted its job.
TEST_CASE("sandbox_json: the layout is the job files' own") {
  const json spec = SandboxSpecToJson(FilledSpec());
  CHECK(Keys(spec) == std::set<std::string>{"argv", "workdir", "mounts", "env", "limits", "stdin", "socket_host",
                                            "socket_inside", "socket_tcp", "root", "tag", "hidden", "run_id",
                                            "agent_id"});
  CHECK(Keys(spec["limits"]) == std::set<std::string>{"wall_ms", "cpu_seconds", "memory_bytes", "pids",
                                                      "file_size_bytes", "open_files", "output_bytes", "tmp_bytes",
                                                      "disk_bytes", "disk_entries"});
  CHECK(Keys(spec["mounts"][0]) == std::set<std::string>{"kind", "host", "inside", "tmpfs_bytes"});
  std::vector<int> kinds;
  for (const json& m : spec["mounts"]) kinds.push_back(m["kind"].get<int>());
  CHECK(kinds == std::vector<int>{0, 1, 2, 3});
  CHECK(spec["stdin"] == FilledSpec().stdin_data);
  CHECK(spec["env"]["LINEAGE_TOKEN"] == "t0k=n");
  CHECK(spec["run_id"] == 3);
  CHECK(SandboxSpecToJson(SandboxSpec{})["run_id"].is_null());

  const json result = SandboxResultToJson(FilledResult());
  CHECK(Keys(result) == std::set<std::string>{"exit_code", "signal", "limit", "stdout", "stderr", "stdout_truncated",
                                              "stderr_truncated", "wall_ms", "cpu_ms", "peak_memory_bytes"});
  CHECK(result["limit"] == 6);  // kDisk
  CHECK(SandboxResultToJson(SandboxResult{})["limit"].is_null());
  CHECK(SandboxResultToJson(SandboxResult{})["exit_code"].is_null());
}

TEST_CASE("sandbox_json: a spec and a result as an older build wrote them read the same") {
  // No socket_tcp, tag, hidden, run_id or agent_id: what a build before them wrote.
  auto spec = SandboxSpecFromJson(json::parse(R"({"argv":["sh","-c","true"],"env":{"HOME":"/tmp"},)"
                                              R"("limits":{"cpu_seconds":5,"disk_bytes":6,"disk_entries":7,)"
                                              R"("file_size_bytes":8,"memory_bytes":9,"open_files":10,)"
                                              R"("output_bytes":11,"pids":12,"tmp_bytes":13,"wall_ms":14},)"
                                              R"("mounts":[{"host":"/h","inside":"/w","kind":1,"tmpfs_bytes":0}],)"
                                              R"("socket_host":"","socket_inside":"","stdin":"in","workdir":"/w"})"));
  REQUIRE(spec.ok());
  CHECK(spec->argv == std::vector<std::string>{"sh", "-c", "true"});
  CHECK(spec->env == std::map<std::string, std::string>{{"HOME", "/tmp"}});
  CHECK(spec->limits.cpu_seconds == 5);
  CHECK(spec->limits.wall_ms == 14);
  CHECK(spec->limits.pids == 12);
  REQUIRE(spec->mounts.size() == 1);
  CHECK(spec->mounts[0] == SandboxMount{SandboxMount::Kind::kReadWrite, "/h", "/w", 0});
  CHECK(spec->stdin_data == "in");
  CHECK(spec->socket_tcp.empty());
  CHECK(spec->root.empty());
  CHECK(spec->tag.empty());
  CHECK(spec->hidden.empty());
  CHECK_FALSE(spec->run_id.has_value());

  auto result = SandboxResultFromJson(json::parse(R"({"cpu_ms":20,"exit_code":null,"limit":0,)"
                                                  R"("peak_memory_bytes":4096,"signal":9,"stderr":"",)"
                                                  R"("stderr_truncated":false,"stdout":"aGk=",)"
                                                  R"("stdout_truncated":true,"wall_ms":1000})"));
  REQUIRE(result.ok());
  CHECK_FALSE(result->exit_code.has_value());
  CHECK(result->signal == 9);
  CHECK(result->limit == SandboxLimit::kWall);
  CHECK(result->stdout_text == "hi");
  CHECK(result->stdout_truncated);
  CHECK(result->peak_memory_bytes == 4096);
}

TEST_CASE("sandbox_json: keys a reader does not know are ignored") {
  json spec = SandboxSpecToJson(FilledSpec());
  spec["from_a_newer_build"] = {1, 2};
  spec["limits"]["gpu_seconds"] = 5;
  spec["mounts"][1]["propagation"] = "slave";
  auto read = SandboxSpecFromJson(spec);
  REQUIRE(read.ok());
  CHECK(*read == FilledSpec());
  json result = SandboxResultToJson(FilledResult());
  result["gateway"] = "10.0.0.5:4000";  // the Slurm job's envelope beside the result
  auto back = SandboxResultFromJson(result);
  REQUIRE(back.ok());
  CHECK(*back == FilledResult());
}

// A valid document changed by `change`, then read: the error, which must name the key.
struct Broken {
  const char* what;
  std::function<void(json&)> change;
  const char* message;  // a part of the error's message
};

TEST_CASE("sandbox_json: a malformed spec is refused with a message naming the key") {
  const std::vector<Broken> cases = {
      {"a missing key", [](json& j) { j.erase("workdir"); }, "'workdir' is missing"},
      {"a missing nested key", [](json& j) { j["limits"].erase("pids"); }, "'limits.pids' is missing"},
      {"a string for an integer", [](json& j) { j["limits"]["wall_ms"] = "600"; },
       "'limits.wall_ms' must be an integer, not string"},
      {"a fraction for an integer", [](json& j) { j["limits"]["cpu_seconds"] = 1.5; },
       "'limits.cpu_seconds' must be an integer, not number"},
      {"an integer too large for int", [](json& j) { j["limits"]["pids"] = 1ll << 40; },
       "'limits.pids' is 1099511627776, out of range"},
      {"a negative size", [](json& j) { j["limits"]["memory_bytes"] = -1; }, "'limits.memory_bytes' is -1, out of range"},
      {"limits that are not an object", [](json& j) { j["limits"] = json::array(); }, "'limits' must be an object, not array"},
      {"mounts that are not an array", [](json& j) { j["mounts"] = "/host:/inside"; }, "'mounts' must be an array, not string"},
      {"a mount that is not an object", [](json& j) { j["mounts"][2] = 7; }, "'mounts[2]' must be an object, not number"},
      {"a mount's host of the wrong type", [](json& j) { j["mounts"][1]["host"] = 5; },
       "'mounts[1].host' must be a string, not number"},
      {"a mount's unknown kind", [](json& j) { j["mounts"][3]["kind"] = 9; }, "'mounts[3].kind' is 9, not a mount kind"},
      {"a negative mount kind", [](json& j) { j["mounts"][0]["kind"] = -1; }, "'mounts[0].kind' is -1, not a mount kind"},
      {"an argument that is not a string", [](json& j) { j["argv"][1] = nullptr; }, "'argv[1]' must be a string, not null"},
      {"argv that is a string", [](json& j) { j["argv"] = "sh -c true"; }, "'argv' must be an array of strings, not string"},
      {"an environment value that is not a string", [](json& j) { j["env"]["HOME"] = 1; },
       "'env.HOME' must be a string, not number"},
      {"a hidden path that is not a string", [](json& j) { j["hidden"] = {"/a", false}; },
       "'hidden[1]' must be a string, not boolean"},
      {"a run id that is not an integer", [](json& j) { j["run_id"] = "3"; }, "'run_id' must be an integer, not string"},
  };
  for (const Broken& c : cases) {
    json j = SandboxSpecToJson(FilledSpec());
    c.change(j);
    auto read = SandboxSpecFromJson(j);
    INFO(c.what);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() == Status::Code::kCorruption);
    CHECK_THAT(read.status().message(), Catch::Contains(c.message));
  }
  auto not_object = SandboxSpecFromJson(json::array({"sh"}));
  REQUIRE_FALSE(not_object.ok());
  CHECK_THAT(not_object.status().message(), Catch::Contains("not a JSON object but array"));
}

TEST_CASE("sandbox_json: a malformed result or limits document is refused with a message naming the key") {
  const std::vector<Broken> cases = {
      {"no exit code key", [](json& j) { j.erase("exit_code"); }, "'exit_code' is missing"},
      {"a signal as a string", [](json& j) { j["signal"] = "KILL"; }, "'signal' must be an integer, not string"},
      {"a limit by name", [](json& j) { j["limit"] = "disk"; }, "'limit' must be an integer, not string"},
      {"an unknown limit", [](json& j) { j["limit"] = 7; }, "'limit' is 7, not a sandbox limit"},
      {"output that is not base64", [](json& j) { j["stdout"] = "hello"; }, "'stdout': not base64"},
      {"output that is not a string", [](json& j) { j["stderr"] = json::array(); }, "'stderr' must be a string, not array"},
      {"a flag as a number", [](json& j) { j["stdout_truncated"] = 1; }, "'stdout_truncated' must be a boolean, not number"},
      {"negative peak memory", [](json& j) { j["peak_memory_bytes"] = -5; }, "'peak_memory_bytes' is -5, out of range"},
  };
  for (const Broken& c : cases) {
    json j = SandboxResultToJson(FilledResult());
    c.change(j);
    auto read = SandboxResultFromJson(j);
    INFO(c.what);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() == Status::Code::kCorruption);
    CHECK_THAT(read.status().message(), Catch::Contains(c.message));
  }
  json limits = SandboxLimitsToJson(FilledLimits());
  limits.erase("disk_entries");
  auto read = SandboxLimitsFromJson(limits);
  REQUIRE_FALSE(read.ok());
  CHECK_THAT(read.status().message(), Catch::Contains("'disk_entries' is missing"));
  CHECK_FALSE(SandboxLimitsFromJson(json(5)).ok());
}

}  // namespace
}  // namespace lineage
