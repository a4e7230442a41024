// The harness: how lineage builds an agent, runs it on a workspace, and evaluates it on benchmark tasks.
// The evolution loop, `lineage bench` and `lineage agent run` all go through here.
//
// Agents (docs/agent-protocol.md). An agent's tree is built in a sandbox, once per distinct tree (a bounded
// cache under home/cache/builds/), then run in a sandbox on a workspace, reaching models only through a
// gateway started for the run; what it changed in the workspace is its answer.
//
// Evaluation. For each task: prepare a workspace, let the agent work on it, score the result in a fresh
// sandbox, and record the outcome in the archive. Tasks run in parallel; stages run one after another while
// the agent's score clears each stage's threshold. The same harness validates a suite: with Attempt::kGold
// the reference solution stands in for the agent (every task should pass); with Attempt::kUnchanged
// nothing is changed (every task should fail).
//
// Model calls. Every call made through a gateway can be recorded in the archive (ArchiveCallRecorder).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/interruption.h"
#include "base/safe_tree.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "evaluators/evaluator.h"
#include "evaluators/stages.h"
#include "llm/gateway.h"
#include "sandbox/sandbox.h"

namespace lineage {

// --- Agents ---------------------------------------------------------------------------------------------

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

// Why an agent's tree did not build. This is the agent's fault, and the loop rejects the agent for it;
// lineage's own faults (a full disk, a sandbox that would not start) are errors instead.
struct BuildFailure {
  enum class Cause { kManifest, kExit, kLimit };
  Cause cause = Cause::kExit;
  std::string manifest_error;          // kManifest: what is wrong with agent.toml
  int exit_code = 0;                   // kExit: the build command's exit status (-1 for a signal)
  SandboxLimit limit = SandboxLimit::kWall;  // kLimit: the limit that stopped the build
  std::string log;                     // the build's whole output
  std::filesystem::path log_file;      // where the log stays, under the build cache

  // One line: "build failed (exit 1)", "build failed (the wall limit)", "build failed: agent.toml: ...".
  std::string Reason() const;
  // Reason() and the end of the log, for a person.
  std::string Describe() const;
};

// A build, or why there is none.
struct BuildOutcome {
  std::optional<BuiltAgent> built;
  BuildFailure failure;  // meaningful when !built

  // For callers to whom a failed build is simply an error: the build, or InvalidArgument(Describe()).
  Result<BuiltAgent> OrError() &&;
};

inline constexpr std::uint64_t kDefaultBuildCacheBytes = 4ull << 30;

// Builds `tree` in a sandbox under home/cache/builds/<hash of the tree>/, unless that build exists. The
// cache holds at most `cache_bytes`: after a new build, the least recently used builds not in use are
// evicted. A tree that does not build is an outcome (BuildFailure); an error means lineage could not try.
Result<BuildOutcome> BuildAgent(const std::filesystem::path& home, const std::vector<TreeEntry>& tree, Sandbox& sandbox,
                                std::uint64_t cache_bytes = kDefaultBuildCacheBytes);

// What every agent run of a caller shares: where lineage keeps its things, the models the agent sees, the
// limits and budget it runs under, and where its calls go. A setting every agent run needs lives here and
// nowhere else: AgentRunOptions and EvaluationOptions each hold one, and the loop builds one per run.
struct AgentRuntime {
  std::filesystem::path home;
  llm::ModelsConfig models;
  int max_rounds = 30;
  llm::BudgetLimits budget;                     // each agent run's own (each task's when evaluating)
  std::shared_ptr<llm::Budget> shared_budget;  // when set, used instead of `budget` (a run's common budget)
  llm::CallRecorder recorder;  // optional: where the gateway's calls go (evaluation: the archive's, by default)
  // An address of this host that the executor's nodes reach: the run's gateway listens there on TCP too
  // (a free port), for agents on other hosts (the Slurm executor). Empty: the gateway's Unix socket only.
  std::string gateway_host;
  // Set when replaying a recorded run: the agent's calls are answered from the recording.
  std::shared_ptr<llm::CallReplayer> replayer;
};

// One agent run: the runtime, and what this run is about.
struct AgentRunOptions {
  AgentRuntime runtime;
  std::filesystem::path workspace;  // the agent's writable working directory; its changes are the answer
  std::string instruction;
  std::string task_id = "manual";
  llm::Attribution attribution;
  std::int64_t wall_ms = 30 * 60 * 1000;
  std::filesystem::path git_dir;  // optional: a repository the agent may read at its workspace's .git
  // The task's environment (a built root file system: sandbox/environment.h), where the agent runs and
  // its tools find their programs; empty: the host's. The agent's own program, built on the host, is
  // started with $LINEAGE_HOST_EXEC (docs/agent-protocol.md).
  std::string root;
  std::string workspace_inside = "/workspace";  // where the agent sees its workspace
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
  // Calls of the agent's that failed for the world's reasons or the budget's (llm::Gateway::faults): a run
  // with either says nothing about the agent.
  llm::Gateway::Faults faults;
};

// What lineage asks a model to tell whether it answers at all (a probe): fake model scripts match it.
inline constexpr const char* kProbePrompt = "lineage probe: reply with the single word ok";

// Runs a built agent on options.workspace. An error means lineage could not run it at all; what the agent
// did, crashes and limits included, is in the result. When the agent's calls failed only by timing out,
// lineage probes the same model once: if it answers, the timeouts were the agent's own doing (a generation
// too long to finish) and are not reported as the world's.
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


// --- Evaluation -----------------------------------------------------------------------------------------

enum class Attempt { kAgent, kGold, kUnchanged };

struct TaskResult {
  std::string task_id, language;
  int stage = 1;
  Outcome outcome = Outcome::kError;
  std::optional<double> partial;
  bool non_empty_patch = false;
  std::string detail;        // why: the error, the missing toolchain, the agent's status when it failed
  std::string test_output;   // capped
  std::string agent_status;  // kAgent only: finished, crashed, limit:wall, ...
  int rounds = 0;
  llm::Spend spend;
  std::int64_t agent_ms = 0, test_ms = 0, duration_ms = 0;
  bool kept = false;  // recorded by an earlier attempt (EvaluationOptions::existing), not run now
  std::vector<std::string> already_passing;  // TaskScore::already_passing
};


struct EvaluationOptions {
  AgentRuntime runtime;  // kAgent: how the agent runs (runtime.home: where any attempt's scratch goes)
  Attempt attempt = Attempt::kAgent;
  const BuiltAgent* agent = nullptr;  // kAgent: the built agent
  std::optional<std::int64_t> agent_wall_ms;  // overrides the suite's per-task time
  int parallel = 1;
  // Where results go (optional): one evaluation row per task, with its log as a blob.
  Archive* archive = nullptr;
  std::optional<AgentId> agent_id;
  std::optional<RunId> run_id;
  std::string suite_name;
  // Tasks already evaluated (a resumed run): their recorded outcome stands and they are not run again.
  std::vector<Evaluation> existing;
  // Whose cache keeps the environments tasks run in (sandbox/environment.h); empty: runtime.home's.
  std::filesystem::path environments_home;
  // Called with a line for a person while an environment a task needs is built (before the first task).
  std::function<void(const std::string&)> on_environment;
  // Progress: called once per task as it starts and as it ends, from worker threads, one call at a time.
  std::function<void(const TaskInfo&)> on_start;
  std::function<void(const TaskResult&)> on_result;
};

// Attempts `tasks` of `evaluator`, `options.parallel` at a time. Task failures (an agent that crashes, an
// evaluator program that hangs) are outcomes of their task; an error means the harness itself could not go on.
// Each task's workspace is a directory of its own, removed afterwards: in /dev/shm/lineage-UID when the
// sandbox's runs are on this host and it has 2 GiB free (large trees cost seconds a pass on a disk), else
// under runtime.home/runs.
Result<std::vector<TaskResult>> EvaluateTasks(Evaluator& evaluator, const std::vector<TaskInfo>& tasks,
                                              int stage, const EvaluationOptions& options, Sandbox& sandbox);

struct StagedResult {
  std::vector<TaskResult> results;
  std::vector<StageScore> stages;  // one per stage run
  int stage_reached = 0;
  std::optional<double> score;     // solved / attempted over the stages reached
  // Set when a stage had a faulted or out_of_budget task (a world fault wins over the budget): the
  // evaluation stopped there, unjudged, and its stage score was not recorded. Run it again later: the tasks
  // recorded are kept.
  std::optional<Interruption> interrupted;
};

// Runs `stages` in order. A stage runs only tasks no earlier stage ran; after it, the agent goes on when
// its score so far is at least the stage's threshold. With an archive and an agent id, each stage's score
// is recorded (Archive::RecordStageScore), which sets the agent's score and stage reached.
using SuiteOpener = std::function<Result<Evaluator*>(const std::string& suite)>;
Result<StagedResult> EvaluateStaged(const std::vector<StageSpec>& stages, const SuiteOpener& open_suite,
                                    EvaluationOptions options, Sandbox& sandbox);


// --- Model calls ----------------------------------------------------------------------------------------

// A recorder that stores each call in `archive`, which must outlive it. A call that cannot be stored is an
// error, which the gateway counts as the world's fault (Gateway::Faults::unrecorded): the agent's run that
// made it is redone, not judged, since budgets and replays are rebuilt from the records.
llm::CallRecorder ArchiveCallRecorder(Archive& archive);

}  // namespace lineage
