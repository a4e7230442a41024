// The archive: every agent variant lineage ever made, with its lineage, scores, logs and model calls.
//
// A lineage home is a directory holding:
//   archive.db   SQLite (WAL): runs, agents, per-stage scores, evaluations, model calls, events.
//   agents.git/  bare git repository: one commit per variant, its git parent the archive parent's commit,
//                on branch agents/<id>; `git log agents/<id>` shows a variant's whole lineage.
//   blobs/       content-addressed, compressed logs, transcripts, model requests and responses.
// docs/archive.md documents the formats.
//
// Consistency rule: git is written before the row that references it, so a row never names a commit that
// does not exist. A process killed at any point leaves the home openable; Fsck() finds (and with
// `repair` mends) what an interrupted write left behind.
//
// Thread-safety: one Archive may be shared by threads; writes are serialized by an internal mutex.
// Several processes may open the same home; SQLite serializes their writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/safe_tree.h"
#include "archive/outcome.h"
#include "base/status.h"

namespace lineage {

using AgentId = std::int64_t;
using RunId = std::int64_t;

// ---- States ---------------------------------------------------------------------------------------------
// Agents and runs move through explicit states; the archive refuses a transition its table does not allow,
// and records each one as exactly one event ("agent.<state>", "run.<state>") in the same write.
// docs/archive.md draws both machines.
//
// An agent:
//   pending ──► committed ──► built ──► evaluating ──► admitted
//      │            │                       │
//      │            └──────► rejected ◄─────┘      (an empty change, a failed build, lost editing ability)
//      ├──► rejected                               (committed with an empty or unusable change)
//      └──► failed                                 (never committed: its write was interrupted)
// admitted, rejected and failed are final. A hand-made or imported variant stays committed until a run
// evaluates it.
enum class AgentState { kPending, kCommitted, kBuilt, kEvaluating, kAdmitted, kRejected, kFailed };

// A run:
//   queued ──► running ──► finished ──► queued (a budget raised)
//     │          ├──► pausing ──► paused ──► queued (resume) | stopped
//     │          │      └──► running (resumed while draining)
//     │          ├──► stopping ──► stopped
//     │          ├──► paused (the home's disk ran low)
//     │          └──► failed ──► queued (resume) | stopped
//     └──► paused | stopped | failed
// pausing and stopping may also fail (and the paused run of faults: docs/runs.md). stopped is final; a
// failed run may be resumed, a finished one given a higher budget.
enum class RunState { kQueued, kRunning, kPausing, kPaused, kStopping, kStopped, kFinished, kFailed };

// The names stored in the archive and shown to people: "pending", "committed", ... "queued", "running", ...
const char* StateName(AgentState state);
const char* StateName(RunState state);
std::optional<AgentState> ParseAgentState(std::string_view name);
std::optional<RunState> ParseRunState(std::string_view name);

// The transition tables: whether `to` may follow `from`.
bool MayFollow(AgentState from, AgentState to);
bool MayFollow(RunState from, RunState to);
bool IsFinal(AgentState state);
bool IsFinal(RunState state);  // stopped
// A run that will do nothing more unless someone resumes it or raises its budget: finished, stopped, failed.
bool HasEnded(RunState state);

struct StageScore {
  int stage = 0;
  int attempted = 0;
  int solved = 0;
  std::optional<double> score;
};

struct Agent {
  AgentId id = 0;
  std::optional<RunId> run_id;
  std::optional<AgentId> parent_id;
  std::string name;
  std::string commit;  // empty while pending
  int generation = 0;  // 0 for a root
  AgentState state = AgentState::kPending;
  std::string reason;  // why it was rejected or failed
  std::optional<double> score;
  int stage_reached = 0;
  std::string problem_statement;
  std::string diagnosis_json;  // empty when there is none
  int files_changed = 0, lines_added = 0, lines_removed = 0;  // against the parent
  std::int64_t tokens_in = 0, tokens_out = 0;
  double cost_usd = 0;
  std::int64_t created_at = 0, updated_at = 0;  // Unix milliseconds
  std::vector<StageScore> stages;               // filled by GetAgent and ListAgents
  std::vector<AgentId> children;                // filled by GetAgent and ListAgents
};

struct Run {
  RunId id = 0;
  std::string name;
  RunState state = RunState::kQueued;
  std::string config;  // the orchestrator's stored configuration (opaque here)
  std::optional<AgentId> seed_agent_id;
  std::optional<int> children_wanted;  // unknown for runs made before lineage recorded it
  std::int64_t created_at = 0, updated_at = 0;
};

struct Evaluation {
  std::int64_t id = 0;
  AgentId agent_id = 0;
  std::string suite, task_id;
  int stage = 1;
  Outcome outcome = Outcome::kError;
  std::optional<double> score;
  std::int64_t duration_ms = 0, patch_bytes = 0;
  std::string log_blob;  // hash in blobs/, or empty
  std::int64_t created_at = 0;
};

struct ModelCall {
  std::int64_t id = 0;
  std::optional<RunId> run_id;
  std::optional<AgentId> agent_id;
  std::string task_id;
  std::string purpose;  // what lineage was doing: "diagnose", "self_modify", "evaluate", "agent_run", "manual"
  std::string label;    // the agent's own refinement (its X-Lineage-Purpose header), or empty
  std::string provider, model;
  std::int64_t input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
  std::int64_t latency_ms = 0;
  std::string outcome, error;
  std::string request_blob, response_blob;  // hashes in blobs/
  std::int64_t created_at = 0;
  // Of input_tokens: read from the provider's prompt cache, and written to it (priced apart).
  std::int64_t cache_read_tokens = 0, cache_write_tokens = 0;
};

struct Event {
  std::int64_t id = 0;
  std::optional<RunId> run_id;
  std::optional<AgentId> agent_id;
  std::string kind;
  std::string data_json = "{}";
  std::int64_t at = 0;
};

// One agent as parent selection sees it.
struct SelectionStats {
  AgentId id = 0;
  std::optional<AgentId> parent_id;
  std::optional<double> score;
  int attempted = 0, solved = 0;  // summed over stages
  int admitted_children = 0;
  AgentState state = AgentState::kPending;
};

struct FsckIssue {
  std::string subject;  // "agent 12", "branch agents/7", "blob 3fa2…"
  std::string problem;
  bool repaired = false;
};

struct DiffResult {
  std::string patch;  // unified diff, renames detected
  int files_changed = 0;
  int lines_added = 0;
  int lines_removed = 0;
};

struct ArchiveOptions {
  TreeLimits tree_limits;  // applied to every tree read from disk
};

// The schema version this build writes, and the versions of the storage libraries in use
// ("SQLite 3.40.1, libgit2 1.5.1, zstd 1.5.4").
int LatestSchemaVersion();
std::string StorageLibraryVersions();

// Unified diff between two trees held in memory (a workspace before and after an agent ran, say).
Result<DiffResult> DiffTrees(const std::vector<TreeEntry>& from, const std::vector<TreeEntry>& to);

class Archive {
 public:
  ~Archive();

  // Creates the home if needed (idempotent), then opens it. Migrates an older schema.
  static Result<std::unique_ptr<Archive>> Init(const std::filesystem::path& home, ArchiveOptions options = {});
  // Opens an existing home; FailedPrecondition (naming `lineage init`) when there is none.
  static Result<std::unique_ptr<Archive>> Open(const std::filesystem::path& home, ArchiveOptions options = {});

  const std::filesystem::path& home() const;
  int schema_version() const;

  // --- Variants ---------------------------------------------------------------------------------------
  // Stores the directory `dir` as a new root agent.
  Result<Agent> ImportAgent(const std::filesystem::path& dir, const std::string& name,
                            std::optional<RunId> run = std::nullopt);
  // Stores `dir` (a modified copy of the parent's tree) as a child of `parent`: adds, deletes, renames and
  // executable bits are whatever differs between the two trees. A tree identical to the parent's is
  // refused (InvalidArgument) unless `allow_empty`. The child's row, problem statement, diagnosis and
  // state are one write: a crash leaves either no child or the whole of it (Fsck finishes a child whose
  // commit was written, in the state it was given).
  struct ChildOptions {
    std::string name;
    std::optional<RunId> run;
    std::string problem_statement;
    std::string diagnosis_json;  // empty: none
    AgentState state = AgentState::kCommitted;  // or kRejected, with a `reason` (required then)
    std::string reason;
    std::string event_data = "{}";  // more fields for the agent.<state> event (a JSON object)
    bool allow_empty = false;
  };
  Result<Agent> AddChild(AgentId parent, const std::filesystem::path& dir, const ChildOptions& options);
  Result<Agent> AddChild(AgentId parent, std::vector<TreeEntry> tree, const ChildOptions& options);
  // The variant's files, read from its commit.
  Result<std::vector<TreeEntry>> Tree(AgentId id);
  // The git id of the variant's root tree: two agents with the same files have the same one.
  Result<std::string> TreeId(AgentId id);
  // The oldest agent of `run` (its seed included) whose files are exactly `tree`, compared by git tree id;
  // nullopt when none is. A child that would duplicate one is rejected before it costs an evaluation.
  Result<std::optional<AgentId>> FindTree(const std::vector<TreeEntry>& tree, RunId run);
  // Writes the variant's files into `dir`, which must not exist or be empty.
  Status Materialize(AgentId id, const std::filesystem::path& dir);
  // Unified diff from `from` (its parent when nullopt; the empty tree for a root) to `to`.
  Result<DiffResult> Diff(AgentId to, std::optional<AgentId> from = std::nullopt);

  // --- Queries ----------------------------------------------------------------------------------------
  Result<Agent> GetAgent(AgentId id);
  // Agents in id order; of one run (its seed included) when `run` is given.
  Result<std::vector<Agent>> ListAgents(std::optional<RunId> run = std::nullopt);
  Result<std::vector<SelectionStats>> LoadSelectionStats(std::optional<RunId> run = std::nullopt);

  // --- Runs, scores, evaluations, model calls, events ---------------------------------------------------
  // A new run, queued (one run.queued event).
  Result<Run> CreateRun(const std::string& name, const std::string& config, std::optional<AgentId> seed,
                        std::optional<int> children_wanted = std::nullopt);
  Result<Run> GetRun(RunId id);
  Result<std::vector<Run>> ListRuns();
  // Moves an agent or a run to `to` and records the agent.<to> or run.<to> event, whose data is
  // `event_data` (a JSON object) with "from" and, when given, "reason" added. FailedPrecondition when the
  // table does not allow it (naming both states); the check and the write are one transaction, so two
  // processes cannot both move the same run from the same state. An agent's event joins its run's journal,
  // or `event_run`'s when the agent belongs to no run (a run's seed).
  Status SetAgentState(AgentId id, AgentState to, const std::string& reason = "", const std::string& event_data = "{}",
                       std::optional<RunId> event_run = std::nullopt);
  Status SetRunState(RunId id, RunState to, const std::string& event_data = "{}");
  // Replaces a run's stored configuration and the children it wants (a budget raised), with a run.configured
  // event whose data is `event_data`.
  Status SetRunConfig(RunId id, const std::string& config, std::optional<int> children_wanted,
                      const std::string& event_data = "{}");
  Status RecordStageScore(AgentId id, const StageScore& stage);
  // Replaces any earlier evaluation of the same agent, suite and task (a retried evaluation).
  Result<std::int64_t> RecordEvaluation(const Evaluation& evaluation);
  Result<std::vector<Evaluation>> ListEvaluations(AgentId agent);
  // Stores `request` and `response` as blobs and the call as a row.
  Result<std::int64_t> RecordModelCall(ModelCall call, const std::string& request, const std::string& response);
  Result<std::vector<ModelCall>> ListModelCalls(AgentId agent);
  // The calls a run recorded under `task_id` ("child 3": those made to make a run's third child).
  Result<std::vector<ModelCall>> ListModelCalls(RunId run, const std::string& task_id);
  // Every call a run recorded, in the order they were recorded.
  Result<std::vector<ModelCall>> ListRunModelCalls(RunId run);
  // What making and judging an agent of a run cost, in dollars by purpose: the calls that made it (its
  // diagnosis and its parent's self-modification, recorded under the task its first event names as
  // calls_task) and its own evaluation. Empty for an agent no run made.
  Result<std::map<std::string, double>> AgentCost(const Agent& agent);
  // What a run's recorded model calls spent: {input + output tokens, US dollars, calls}.
  struct Spend {
    std::int64_t tokens = 0;
    double cost_usd = 0;
    std::int64_t calls = 0;
  };
  Result<Spend> RunSpend(RunId run);
  // The run's spend by purpose ("diagnose", "self_modify", "evaluate"), and what went to calls that failed.
  struct SpendBreakdown {
    std::map<std::string, Spend> by_purpose;
    Spend failed;
    std::int64_t input_tokens = 0, cache_read_tokens = 0, cache_write_tokens = 0;  // over every call
  };
  Result<SpendBreakdown> RunSpendBreakdown(RunId run);
  // What one unit of work cost on average, over every run in the home, by purpose, counting only calls
  // of `models` (upstream model names) that succeeded and that `counts` accepts (a forecast takes only calls
  // priced as the run's models are now): a unit is what a call's agent and task name together (a child's
  // diagnosis or self-modification, one task run).
  struct CostAverage {
    double usd = 0;
    std::int64_t units = 0;  // how many the mean is over
  };
  struct CallCost {
    std::string model;
    std::int64_t input_tokens = 0, output_tokens = 0, cache_read_tokens = 0, cache_write_tokens = 0;
    double cost_usd = 0;
  };
  Result<std::map<std::string, CostAverage>> AverageCosts(const std::vector<std::string>& models,
                                                          const std::function<bool(const CallCost&)>& counts);
  Result<std::int64_t> AppendEvent(const Event& event);
  Result<std::vector<Event>> ListEvents(std::optional<RunId> run);
  // The log of the agent's failed build: the blob its agent.rejected event names as build_log_blob. Empty
  // when its build never failed, or the blob is gone (fsck reports that).
  Result<std::string> BuildLog(AgentId agent);

  Result<std::string> PutBlob(const std::string& data);
  Result<std::string> GetBlob(const std::string& hash);

  // --- Consistency ------------------------------------------------------------------------------------
  // Checks database integrity, DB <-> git (every commit exists, every branch matches its row, every git
  // parent matches the archive parent) and DB <-> blobs. With `repair`, finishes or marks failed the
  // agents an interrupted write left pending, restores missing branches, and removes stale lock and
  // temporary files. Run it while no other lineage process writes to the home.
  Result<std::vector<FsckIssue>> Fsck(bool repair);

  struct Impl;  // opaque; defined in archive.cc

 private:
  explicit Archive(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lineage
