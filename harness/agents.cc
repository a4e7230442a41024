#include "harness/harness.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/files.h"
#include "base/toml_reader.h"
#include "base/unique_fd.h"
#include "net/http_server.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Where the agent sees things, inside its sandbox.
constexpr const char* kAgentDir = "/agent";
constexpr const char* kBuildDir = "/build";
constexpr const char* kWorkspace = "/workspace";
constexpr const char* kInputDir = "/lineage/in";
constexpr const char* kOutputDir = "/lineage/out";
constexpr const char* kGatewaySocket = "/lineage/gateway.sock";

std::string TreeHash(const std::vector<TreeEntry>& tree) {
  std::string canonical;
  for (const TreeEntry& e : tree) {
    canonical += e.path + '\0' + std::to_string(static_cast<int>(e.kind)) + '\0' + std::to_string(e.data.size()) +
                 '\0' + e.data;
  }
  return Sha256Hex(canonical);
}

std::string Tail(const std::string& text, size_t lines) {
  if (text.empty()) return text;
  size_t at = text.size();
  for (size_t n = 0; n <= lines && at > 0; ++n) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) return text;
  }
  return text.substr(at + 1);
}

// Picks the gateway alias for a role: the role's own table, else "default", else the first.
std::string AliasFor(const llm::ModelsConfig& models, const std::string& role) {
  for (const std::string& name : {role, std::string("default")}) {
    if (models.FindAlias(name)) return name;
  }
  return models.models.empty() ? "default" : models.models.front().alias;
}

// Evicts the least recently used builds under `builds` (but `keep`, and any in use) until they hold at
// most `cap` bytes. A build in use holds its lease shared; one being made holds its lock.
void EvictBuilds(const fs::path& builds, std::uint64_t cap, const fs::path& keep) {
  struct Entry {
    fs::path dir;
    std::uint64_t bytes = 0;
    fs::file_time_type used;
  };
  std::vector<Entry> entries;
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(builds, ec)) {
    if (!item.is_directory(ec)) continue;  // a failed or broken build counts too
    auto size = ReadFile(item.path() / "size");
    Entry e{item.path(), size.ok() ? std::strtoull(size->c_str(), nullptr, 10) : BytesUnder(item.path()),
            fs::last_write_time(item.path(), ec)};
    total += e.bytes;
    if (item.path() != keep) entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const Entry& e : entries) {
    if (total <= cap) return;
    UniqueFd lock(::open((e.dir.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    UniqueFd lease(::open((e.dir.string() + ".lease").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock.valid() || !lease.valid() || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0 ||
        ::flock(lease.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;  // being built or in use
    }
    spdlog::info("build cache: evicting {} ({} bytes, over the {}-byte cap)", e.dir.string(), e.bytes, cap);
    fs::remove_all(e.dir, ec);
    if (!ec) total -= e.bytes;
  }
}

// Where the executor's nodes reach a gateway listening at `tcp_url` on `host`: that address, or this host's
// name when it listens on every interface ([executor] gateway_listen_any), as no node can dial a wildcard.
std::string GatewayAddressForNodes(const std::string& host, const std::string& tcp_url) {
  const std::string address = tcp_url.substr(std::string("http://").size());
  if (!net::IsWildcardAddress(host)) return address;
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0) return address;
  return std::string(name) + address.substr(address.rfind(':'));
}

}  // namespace

Result<AgentManifest> ParseAgentManifest(const std::vector<TreeEntry>& tree) {
  const TreeEntry* file = nullptr;
  for (const TreeEntry& e : tree) {
    if (e.path == "agent.toml" && e.kind != TreeEntry::Kind::kSymlink) file = &e;
  }
  if (!file) return Status::InvalidArgument("the agent has no agent.toml at its root (see docs/agent-protocol.md)");
  LINEAGE_ASSIGN_OR_RETURN(toml::table root, ParseToml(file->data, "agent.toml"));
  AgentManifest m;
  auto protocol = root["protocol"].value<int64_t>();
  if (!protocol) return Status::InvalidArgument("agent.toml: protocol (an integer) is required");
  if (*protocol != kAgentProtocolVersion) {
    return Status::InvalidArgument("agent.toml: protocol " + std::to_string(*protocol) + " is not supported; this lineage speaks " +
                                   std::to_string(kAgentProtocolVersion));
  }
  m.protocol = static_cast<int>(*protocol);
  m.name = root["name"].value_or(std::string());
  if (root.contains("build") && !root["build"]["command"].is_string()) {
    return Status::InvalidArgument("agent.toml: [build] command must be a string");
  }
  m.build_command = root["build"]["command"].value_or(std::string());
  auto run = root["run"]["command"].value<std::string>();
  if (!run || run->empty()) return Status::InvalidArgument("agent.toml: [run] command (a string) is required");
  m.run_command = *run;
  return m;
}

std::string BuildFailure::Reason() const {
  switch (cause) {
    case Cause::kManifest: return "build failed: " + manifest_error;
    case Cause::kExit: return "build failed (exit " + std::to_string(exit_code) + ")";
    case Cause::kLimit: return std::string("build failed (the ") + SandboxLimitName(limit) + " limit)";
  }
  return "build failed";
}

std::string BuildFailure::Describe() const {
  if (cause == Cause::kManifest) return manifest_error;
  return "the agent's " + Reason() + "; the end of " + log_file.string() + ":\n" + Tail(log, 20);
}

Result<BuiltAgent> BuildOutcome::OrError() && {
  if (built) return std::move(*built);
  return Status::InvalidArgument(failure.Describe());
}

Result<BuildOutcome> BuildAgent(const fs::path& home, const std::vector<TreeEntry>& tree, Sandbox& sandbox,
                                std::uint64_t cache_bytes) {
  BuildOutcome outcome;
  auto manifest = ParseAgentManifest(tree);
  if (!manifest.ok()) {
    if (manifest.status().code() != Status::Code::kInvalidArgument) return manifest.status();
    outcome.failure.cause = BuildFailure::Cause::kManifest;
    outcome.failure.manifest_error = manifest.status().message();
    return outcome;
  }
  BuiltAgent built;
  built.manifest = std::move(*manifest);
  const fs::path dir = home / "cache" / "builds" / TreeHash(tree).substr(0, 32);
  built.source_dir = dir / "src";
  built.build_dir = dir / "build";
  std::error_code ec;
  // One build per tree at a time, across processes; the kernel drops the lock if we are killed.
  fs::create_directories(dir.parent_path(), ec);
  UniqueFd lock(::open((dir.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0) return Status::IOError("cannot lock " + dir.string() + ".lock");
  // The lease is taken before the build lock is let go: no eviction can slip in between.
  built.lease = std::make_shared<UniqueFd>(::open((dir.string() + ".lease").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!built.lease->valid() || ::flock(built.lease->get(), LOCK_SH) != 0) {
    return Status::IOError("cannot lease " + dir.string() + ".lease");
  }
  if (fs::is_directory(built.build_dir, ec)) {  // renamed into place only after a successful build
    built.cached = true;
    ::utimensat(AT_FDCWD, dir.c_str(), nullptr, 0);  // used now: the last to be evicted
    outcome.built = std::move(built);
    return outcome;
  }
  // A build interrupted earlier leaves src/ or build.tmp/ behind: start again from nothing.
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "build.tmp", ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  LINEAGE_RETURN_IF_ERROR(WriteTree(built.source_dir, tree));

  if (!built.manifest.build_command.empty()) {
    SandboxSpec spec;
    spec.argv = {"sh", "-c", built.manifest.build_command};
    spec.workdir = kAgentDir;
    spec.mounts = {{SandboxMount::Kind::kReadOnly, built.source_dir.string(), kAgentDir},
                   {SandboxMount::Kind::kReadWrite, (dir / "build.tmp").string(), kBuildDir}};
    spec.env["LINEAGE_AGENT_DIR"] = kAgentDir;
    spec.env["LINEAGE_BUILD_DIR"] = kBuildDir;
    spec.limits.wall_ms = 15 * 60 * 1000;
    spec.limits.output_bytes = 4 << 20;
    spdlog::info("building agent {} in {}", built.manifest.name, dir.string());
    LINEAGE_ASSIGN_OR_RETURN(SandboxResult r, sandbox.Run(spec));
    const std::string log = r.stdout_text + r.stderr_text;
    (void)WriteFileAtomic(dir / "build.log", log);
    if (!r.ok()) {
      // Only the log stays: a failed build must not keep what it wrote.
      fs::remove_all(dir / "build.tmp", ec);
      fs::remove_all(built.source_dir, ec);
      BuildFailure& f = outcome.failure;
      f.cause = r.limit ? BuildFailure::Cause::kLimit : BuildFailure::Cause::kExit;
      if (r.limit) f.limit = *r.limit;
      f.exit_code = r.exit_code.value_or(-1);
      f.log = log;
      f.log_file = dir / "build.log";
      return outcome;
    }
  }
  fs::rename(dir / "build.tmp", built.build_dir, ec);
  if (ec) return Status::IOError("cannot finish the build in " + dir.string() + ": " + ec.message());
  (void)WriteFileAtomic(dir / "size", std::to_string(BytesUnder(dir)));
  EvictBuilds(dir.parent_path(), cache_bytes, dir);
  outcome.built = std::move(built);
  return outcome;
}

// Whether `alias` answers a tiny question through `gateway` (recorded with the purpose "probe").
bool ModelAnswers(llm::Gateway& gateway, const std::string& socket, const AgentRunOptions& options, const std::string& alias,
                  const std::shared_ptr<llm::Budget>& budget) {
  if (alias.empty() || !options.runtime.models.FindAlias(alias)) return false;
  llm::ModelConfig m;
  m.alias = alias;
  m.provider = llm::Provider::kOpenAI;
  m.base_url = "http://lineage-gateway/v1";
  m.unix_socket = socket;
  m.model = alias;
  m.max_retries = 0;
  m.default_max_tokens = 8;
  llm::Attribution who = options.attribution;
  who.purpose = "probe";
  m.gateway_token = gateway.IssueToken(who, budget);
  llm::ModelClient client(llm::ModelsConfig{"lineage's probe", {m}});
  llm::ChatRequest request;
  request.messages = {llm::Message::User(kProbePrompt)};
  request.max_tokens = 8;
  const bool ok = client.Call(alias, request).ok();
  gateway.RevokeToken(m.gateway_token);
  return ok;
}

Result<AgentRunResult> RunAgent(const BuiltAgent& agent, const AgentRunOptions& options, Sandbox& sandbox) {
  AgentRunResult result;
  std::error_code ec;
  if (!fs::is_directory(options.workspace, ec)) {
    return Status::InvalidArgument("workspace " + options.workspace.string() + " is not a directory");
  }
  if (options.runtime.models.models.empty()) return Status::InvalidArgument("no models are configured");
  // Runs may start in the same millisecond, from several threads.
  static std::atomic<int> serial{0};
  const fs::path run_dir = options.runtime.home / "runs" /
                           ("agent-run-" + std::to_string(NowMillis()) + "-" + std::to_string(getpid()) + "-" +
                            std::to_string(serial++));
  result.output_dir = run_dir / "out";
  // The run's directory goes with any error; on success the caller decides (the trajectory is in it).
  struct RemoveUnlessKept {
    fs::path dir;
    bool keep = false;
    ~RemoveUnlessKept() {
      std::error_code ignored;
      if (!keep) fs::remove_all(dir, ignored);
    }
  } cleanup{run_dir};
  fs::create_directories(run_dir / "in", ec);
  fs::create_directories(result.output_dir, ec);
  if (ec) return Status::IOError("cannot create " + run_dir.string() + ": " + ec.message());

  json task = {{"protocol", kAgentProtocolVersion},
               {"task_id", options.task_id},
               {"instruction", options.instruction},
               {"workspace", options.workspace_inside},
               {"models", {{"conductor", AliasFor(options.runtime.models, "conductor")}, {"expert", AliasFor(options.runtime.models, "expert")}}},
               {"limits", {{"max_rounds", options.runtime.max_rounds}, {"wall_seconds", options.wall_ms / 1000}}}};
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(run_dir / "in" / "task.json", task.dump(2)));

  llm::GatewayOptions gateway_options;
  gateway_options.unix_socket = (run_dir / "gateway.sock").string();
  if (!options.runtime.gateway_host.empty()) gateway_options.tcp_listen = options.runtime.gateway_host + ":0";
  gateway_options.recorder = options.runtime.recorder;
  gateway_options.replayer = options.runtime.replayer;
  LINEAGE_ASSIGN_OR_RETURN(auto gateway, llm::Gateway::Start(options.runtime.models, gateway_options));
  auto budget = options.runtime.shared_budget ? options.runtime.shared_budget : std::make_shared<llm::Budget>(options.runtime.budget);
  const llm::Spend spent_before = budget->spent();
  const std::string token = gateway->IssueToken(options.attribution, budget);

  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> before, ReadTree(options.workspace));
  SandboxSpec spec;
  spec.argv = {"sh", "-c", agent.manifest.run_command};
  spec.workdir = options.workspace_inside;
  spec.root = options.root;
  spec.mounts = {{SandboxMount::Kind::kReadOnly, agent.source_dir.string(), kAgentDir},
                 {SandboxMount::Kind::kReadOnly, agent.build_dir.string(), kBuildDir},
                 {SandboxMount::Kind::kReadWrite, fs::absolute(options.workspace).string(), options.workspace_inside},
                 {SandboxMount::Kind::kReadOnly, (run_dir / "in").string(), kInputDir},
                 {SandboxMount::Kind::kReadWrite, result.output_dir.string(), kOutputDir}};
  if (!options.git_dir.empty()) {
    spec.mounts.push_back({SandboxMount::Kind::kReadOnly, options.git_dir.string(), options.workspace_inside + "/.git"});
  }
  spec.socket_host = gateway_options.unix_socket;
  spec.socket_inside = kGatewaySocket;
  if (!options.runtime.gateway_host.empty()) spec.socket_tcp = GatewayAddressForNodes(options.runtime.gateway_host, gateway->tcp_url());
  spec.tag = "agent " + (options.attribution.agent_id ? std::to_string(*options.attribution.agent_id) : std::string("?")) +
             " task " + options.task_id;
  spec.run_id = options.attribution.run_id;
  spec.agent_id = options.attribution.agent_id;
  spec.env["LINEAGE_TASK"] = std::string(kInputDir) + "/task.json";
  spec.env["LINEAGE_OUTPUT_DIR"] = kOutputDir;
  spec.env["LINEAGE_AGENT_DIR"] = kAgentDir;
  spec.env["LINEAGE_BUILD_DIR"] = kBuildDir;
  spec.env["LINEAGE_GATEWAY_SOCKET"] = kGatewaySocket;
  spec.env["LINEAGE_GATEWAY_TOKEN"] = token;
  spec.limits.wall_ms = options.wall_ms;
  LINEAGE_ASSIGN_OR_RETURN(result.process, sandbox.Run(spec));
  result.faults = gateway->faults();
  // Timeouts are the one world fault an agent causes at will (a generation too long to finish): when they
  // are all there was, and the model answers lineage, they were the agent's doing.
  if (result.faults.world > 0 && result.faults.world == result.faults.timeouts &&
      ModelAnswers(*gateway, gateway_options.unix_socket, options, result.faults.first_alias, budget)) {
    result.faults.world = 0;  // the model answers lineage: those failures were the agent's doing
    result.faults.first_world.clear();
  }
  gateway->Stop();  // records every call before the run is reported
  // A call the archive could not store leaves the run's record short: the run is the world's to redo.
  if (const llm::Gateway::Faults stored = gateway->faults(); stored.unrecorded > 0) {
    if (result.faults.world++ == 0) result.faults.first_world = stored.first_unrecorded;
  }
  // With a shared budget, runs that overlap this one add to the difference: an upper bound then.
  const llm::Spend spent_after = budget->spent();
  result.spend = {spent_after.tokens - spent_before.tokens, spent_after.cost_usd - spent_before.cost_usd,
                  spent_after.calls - spent_before.calls};

  // A workspace lineage will not read (a file over the limit, a tree too deep) is the agent's failure, not
  // lineage's: it has no answer.
  Result<std::vector<TreeEntry>> after = ReadTree(options.workspace);
  if (after.ok()) {
    LINEAGE_ASSIGN_OR_RETURN(result.diff, DiffTrees(before, *after));
    result.after = std::move(after).value();
  } else {
    result.unreadable_workspace = after.status().message();
    result.after = before;
  }
  result.before = std::move(before);

  // The output directory was the agent's to write: read it as hostile (no symlinks followed, sizes capped).
  TreeLimits out_limits;
  out_limits.max_file_bytes = 64 << 20;
  Result<std::vector<TreeEntry>> out = ReadTree(result.output_dir, out_limits);
  json agent_result;
  if (out.ok()) {
    for (const TreeEntry& e : *out) {
      if (e.kind == TreeEntry::Kind::kSymlink) continue;
      if (e.path == "result.json" && JsonNesting(e.data) <= kMaxNesting) agent_result = json::parse(e.data, nullptr, false);
      if (e.path == "trajectory.jsonl") {
        std::istringstream lines(e.data);
        for (std::string line; std::getline(lines, line);) result.trajectory.push_back(line);
      }
    }
  }
  if (!result.unreadable_workspace.empty()) {
    result.status = "bad_workspace";
  } else if (result.process.limit) {
    result.status = std::string("limit:") + SandboxLimitName(*result.process.limit);
  } else if (result.process.exit_code != 0) {
    result.status = "crashed";
  } else if (!agent_result.is_object() || !agent_result.contains("status") || !agent_result["status"].is_string()) {
    result.status = "no_result";
  } else {
    result.status = agent_result["status"].get<std::string>();
  }
  if (agent_result.is_object()) {
    if (agent_result.contains("summary") && agent_result["summary"].is_string()) result.summary = agent_result["summary"];
    if (agent_result.contains("rounds") && agent_result["rounds"].is_number_integer()) result.rounds = agent_result["rounds"];
  }
  if (result.status == "bad_workspace") result.summary = "lineage will not read the workspace it left: " + result.unreadable_workspace;
  if (result.summary.empty() && result.status != "finished") result.summary = Tail(result.process.stderr_text, 5);
  cleanup.keep = true;
  return result;
}

bool IsHostExecuted(const std::string& path) {
  static const char* const kNames[] = {
      // version control: hooks and configuration
      ".gitmodules", ".gitattributes", ".githooks", ".husky", ".pre-commit-config.yaml", ".hg", ".jj", ".svn",
      // shells, editors, dev containers, tool managers
      ".envrc", ".vscode", ".idea", ".devcontainer", ".exrc", ".nvimrc", ".nvim.lua", ".mise.toml", "mise.toml",
      ".tool-versions",
      // package managers' configuration (scripts, shells, binaries they run)
      ".npmrc", ".yarnrc", ".yarnrc.yml", ".cargo"};
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    // As a case-insensitive file system would see it: `.VSCODE` is `.vscode` there.
    const std::string part = FoldedName(std::string_view(path).substr(start, end - start));
    if (IsGitName(part)) return true;
    for (const char* name : kNames) {
      if (part == name) return true;
    }
    start = end + 1;
  }
  return false;
}

// A symlink the host could be led through: absolute, climbing out of the tree, or into a host-executed path.
bool IsEscapingLink(const TreeEntry& entry) {
  if (entry.kind != TreeEntry::Kind::kSymlink) return false;
  if (entry.data.empty() || entry.data[0] == '/') return true;
  const fs::path resolved = (fs::path(entry.path).parent_path() / entry.data).lexically_normal();
  const std::string text = resolved.generic_string();
  return text == ".." || text.rfind("../", 0) == 0 || IsHostExecuted(text);
}

Result<DirectoryRunResult> RunAgentOnDirectory(const BuiltAgent& agent, AgentRunOptions options, Sandbox& sandbox) {
  const fs::path dir = options.workspace;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument("workspace " + dir.string() + " is not a directory");
  static std::atomic<int> serial{0};
  const fs::path copy = options.runtime.home / "runs" /
                        ("agent-workspace-" + std::to_string(NowMillis()) + "-" + std::to_string(getpid()) + "-" +
                         std::to_string(serial++));
  fs::create_directories(copy, ec);
  if (ec) return Status::IOError("cannot create " + copy.string() + ": " + ec.message());
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } cleanup{copy};
  {
    UniqueFd from(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), to(::open(copy.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto copied = SyncTree(from.get(), to.get());
    if (!copied.ok()) return copied.status().WithContext("copying " + dir.string() + " for the agent");
  }
  options.workspace = copy;
  if (fs::is_directory(dir / ".git", ec)) options.git_dir = dir / ".git";
  DirectoryRunResult out;
  LINEAGE_ASSIGN_OR_RETURN(out.run, RunAgent(agent, options, sandbox));

  // What may come back: the agent's tree, with every host-executed path as it was before.
  std::map<std::string, TreeEntry> kept;
  for (const TreeEntry& e : out.run.after) kept[e.path] = e;
  std::map<std::string, const TreeEntry*> was;
  for (const TreeEntry& e : out.run.before) was[e.path] = &e;
  std::set<std::string> paths;
  for (const auto& [path, e] : kept) paths.insert(path);
  for (const auto& [path, e] : was) paths.insert(path);
  for (const std::string& path : paths) {
    auto now = kept.find(path);
    auto then = was.find(path);
    if (!IsHostExecuted(path) && !(now != kept.end() && IsEscapingLink(now->second))) continue;
    const bool changed = (now == kept.end()) != (then == was.end()) ||
                         (now != kept.end() && then != was.end() && !(now->second == *then->second));
    if (!changed) continue;
    out.refused.push_back(path);
    if (then == was.end()) {
      kept.erase(path);
    } else {
      kept[path] = *then->second;
    }
  }
  std::vector<TreeEntry> allowed;
  for (auto& [path, e] : kept) allowed.push_back(std::move(e));
  auto applied = ApplyChanges(dir, out.run.before, allowed);
  if (!applied.ok()) return applied.status().WithContext("carrying the agent's changes back to " + dir.string());
  out.kept = std::move(applied).value();
  // What landed: the agent's tree, but for the paths someone else changed meanwhile.
  std::map<std::string, const TreeEntry*> before;
  for (const TreeEntry& e : out.run.before) before[e.path] = &e;
  std::erase_if(allowed, [&](const TreeEntry& e) {
    return std::binary_search(out.kept.begin(), out.kept.end(), e.path);
  });
  for (const std::string& path : out.kept) {
    if (auto was = before.find(path); was != before.end()) allowed.push_back(*was->second);
  }
  std::sort(allowed.begin(), allowed.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  LINEAGE_ASSIGN_OR_RETURN(out.run.diff, DiffTrees(out.run.before, allowed));
  out.run.after = std::move(allowed);
  return out;
}

}  // namespace lineage
