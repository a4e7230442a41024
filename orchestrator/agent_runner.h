// Building and running an agent as lineage does (docs/agent-protocol.md): the agent's tree is built in a
// sandbox (once per distinct tree), then run in a sandbox on a workspace, reaching models only through a
// gateway started for the run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/safe_tree.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "llm/gateway.h"
#include "sandbox/sandbox.h"

namespace lineage {

// agent.toml: the protocol version and how to build and run the agent.
struct AgentManifest {
  int protocol = 1;
  std::string name;
  std::string build_command;  // sh -c, in the agent's tree; may be empty (nothing to build)
  std::string run_command;    // sh -c, in the workspace
};

inline constexpr int kAgentProtocolVersion = 1;

// Reads agent.toml from an agent's tree; errors name the key at fault.
Result<AgentManifest> ParseAgentManifest(const std::vector<TreeEntry>& tree);

struct BuiltAgent {
  AgentManifest manifest;
  std::filesystem::path source_dir;  // the tree, as built
  std::filesystem::path build_dir;   // what the build wrote
  bool cached = false;               // built by an earlier run
  std::shared_ptr<UniqueFd> lease;   // held while the build is in use: the cache does not evict it
};

inline constexpr std::uint64_t kDefaultBuildCacheBytes = 4ull << 30;

// Builds `tree` in a sandbox under home/cache/builds/<hash of the tree>/, unless that build exists. The
// cache holds at most `cache_bytes`: after a new build, the least recently used builds not in use are
// evicted. A failed build is an InvalidArgument carrying the end of the build's output.
Result<BuiltAgent> BuildAgent(const std::filesystem::path& home, const std::vector<TreeEntry>& tree, Sandbox& sandbox,
                              std::uint64_t cache_bytes = kDefaultBuildCacheBytes);

struct AgentRunOptions {
  std::filesystem::path home;
  std::filesystem::path workspace;  // the agent's writable working directory; its changes are the answer
  std::string instruction;
  std::string task_id = "manual";
  llm::ModelsConfig models;
  int max_rounds = 30;
  std::int64_t wall_ms = 30 * 60 * 1000;
  llm::BudgetLimits budget;
  std::shared_ptr<llm::Budget> shared_budget;  // when set, used instead of `budget` (a run's common budget)
  llm::Attribution attribution;
  llm::CallRecorder recorder;  // optional: where the gateway's calls go
  std::filesystem::path git_dir;  // optional: a repository the agent may read at its workspace's .git
};

struct AgentRunResult {
  std::filesystem::path output_dir;  // result.json and trajectory.jsonl, kept after the run
  // From result.json: finished, round_cap, budget_exhausted, model_error; or crashed, limit:NAME, no_result,
  // bad_workspace (the agent left a workspace lineage will not read: `unreadable_workspace` says why; the
  // diff is then empty).
  std::string status;
  std::string unreadable_workspace;
  std::string summary;
  int rounds = 0;
  std::vector<std::string> trajectory;  // its JSON lines
  SandboxResult process;
  DiffResult diff;      // the workspace before -> after
  std::vector<TreeEntry> before, after;  // the workspace's files
  llm::Spend spend;
};

// Runs a built agent on options.workspace. An error means lineage could not run it at all; what the agent
// did, crashes and limits included, is in the result.
Result<AgentRunResult> RunAgent(const BuiltAgent& agent, const AgentRunOptions& options, Sandbox& sandbox);

// Paths that tools on the host run or obey later without being asked: version control's hooks and
// configuration (.git, .gitmodules, .gitattributes, .githooks, .husky, .pre-commit-config.yaml, .hg, .jj,
// .svn), direnv's .envrc, editors, dev containers and tool managers (.vscode, .idea, .devcontainer, .exrc,
// .nvimrc, .nvim.lua, mise.toml, .mise.toml, .tool-versions), package managers' configuration (.npmrc,
// .yarnrc, .yarnrc.yml, .cargo). Matched by any path component, as a case-insensitive file system would
// (`.GIT`, `.vscode.`, GIT~1 included).
bool IsHostExecuted(const std::string& path);

struct DirectoryRunResult {
  AgentRunResult run;                // run.diff is what reached the directory
  std::vector<std::string> refused;  // changed paths that did not: host-executed, or symlinks leading out
  std::vector<std::string> kept;     // changed in the directory while the agent worked: left as they are
};

// Runs the agent on a copy of the user's directory options.workspace (its .git readable, not writable), then
// carries the agent's changes back to it, except those to host-executed paths and symlinks that lead out of
// the directory (absolute, climbing out, or into a host-executed path), which it lists: nothing an agent
// does can make the user's tools run its code later.
Result<DirectoryRunResult> RunAgentOnDirectory(const BuiltAgent& agent, AgentRunOptions options, Sandbox& sandbox);

}  // namespace lineage
