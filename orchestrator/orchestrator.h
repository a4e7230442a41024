// orchestrator: evolution runs, the Darwin Gödel Machine made asynchronous, budgeted and crash-safe.
//
// A run is one TOML file (RunConfig; docs/runs.md lists every key, examples/quickstart.toml is complete),
// validated in full before anything starts. CreateRun stores it in the archive; RunEvolution drives it, in
// the foreground (`lineage run start --foreground`) or under the daemon (RunDaemon), which runs every
// queued run and answers a control API.
//
// The loop evaluates the seed, then makes children until it has the number asked for or a budget runs out.
// Making a child:
//   1. select a parent (orchestrator/selection.h, internal);
//   2. choose what to learn from: a task the parent failed, or a systemic problem (mostly empty patches);
//   3. diagnose it with the diagnosis model (JSON with DGM's fields; retried on invalid JSON);
//   4. self-modify: the parent's built agent runs in the sandbox on a checkout of its own source, with
//      the diagnosis's problem statement as its task, through the run's gateway;
//   5. commit the result as a child on its own branch (an empty change is rejected);
//   6. build the child in the sandbox (a failed build rejects it; the log is kept);
//   7. evaluate it stage by stage; admit it when it kept its editing ability (a non-empty patch on at least
//      one stage-1 task), else reject it. Every rejection records its reason.
// Up to `children_in_flight` children are made at once and at most `sandboxes` sandboxed runs happen at
// once; a free slot is filled at once while work remains.
//
// Crash safety: the archive is the checkpoint. A child exists only once committed (steps 1-4 of a child
// killed midway are simply redone); a committed child that was being built or evaluated is resumed, and
// the evaluations it finished are kept. Budgets count what the archive recorded before a restart.
//
// The daemon's control API is a Unix socket in the home (HOME/daemon.sock) speaking one JSON object per
// line: the client sends a request and reads one reply, then the connection closes.
//   {"op": "ping"}                       -> {"ok": true, "pid": N, "active": [run ids]}
//   {"op": "start", "config": PATH}      -> {"ok": true, "run": ID}   (validated first; queued and started)
//   {"op": "fork", "run": ID, "from": AGENT[, "config": PATH, "models": PATH]} -> {"ok": true, "run": ID}
//   {"op": "pause"|"resume"|"stop", "run": ID} -> {"ok": true, "status": "pausing"|"queued"|"stopping"|...}
// A failure is {"ok": false, "error": "message"}. Run control lives in the archive (runs.status), so it
// survives the daemon: a run paused while no daemon runs stays paused; one the daemon was running when it
// was killed is resumed when it starts again.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "evaluators/stages.h"
#include "llm/llm.h"
#include "sandbox/sandbox.h"

namespace lineage {

namespace llm {
class Budget;        // llm/gateway.h
class CallReplayer;  // llm/gateway.h
}

// How parents are chosen (orchestrator/selection.h).
enum class SelectionStrategy { kDgm, kScoreProp, kBest, kRandom, kHgm, kNoOpenEnded, kNoSelfImprove };
const char* SelectionStrategyName(SelectionStrategy strategy);  // "dgm", "score-prop", ...

struct SelectionParams {
  SelectionStrategy strategy = SelectionStrategy::kDgm;
  double lambda = 10;   // dgm, score-prop: steepness of the sigmoid over scores
  double alpha0 = 0.5;  // dgm, score-prop: the score at the sigmoid's midpoint
  double alpha = 0.6;   // hgm: expand when (task evaluations)^alpha >= nodes - 1 + pending expansions
};

// [executor]: where sandboxed work runs. kLocal: this machine (the default). kSlurm: one Slurm job per
// sandboxed run (sandbox/slurm.h, docs/slurm.md); [concurrency] sandboxes is then the jobs in flight.
struct ExecutorConfig {
  enum class Kind { kLocal, kSlurm };
  Kind kind = Kind::kLocal;
  std::string partition, account, qos;
  int time_margin_s = 60;
  std::vector<std::string> sbatch_args;
  std::filesystem::path shared_dir;  // required with kSlurm
  // gateway_listen: an address of this host the nodes reach; each agent run's gateway listens there on TCP
  // too (a free port), and the job relays the agent's gateway socket to it. Empty: the Unix socket only
  // (the nodes are this host, or see its sockets).
  std::string gateway_host;
  // gateway_listen_any: gateway_listen may be a wildcard (0.0.0.0, ::), listening on every interface;
  // the nodes then dial this host by its name.
  bool gateway_listen_any = false;
};

struct RunConfig {
  std::string source;                // the file, for messages
  std::filesystem::path base_dir;    // what relative paths in it are relative to (absolute)
  std::string text;                  // the file as given; stored with the run
  std::string name;
  std::filesystem::path home;        // empty: the command line's --home
  std::string seed_agent;            // an agent's source directory (absolute), or an archive agent id
  std::uint64_t random_seed = 1;

  llm::ModelsConfig models;
  std::string models_override;       // a models file given on the command line instead of `models`...
  std::string models_override_text;  // ...and its text, stored with the run so a resume needs no file
  std::string diagnosis_model;       // aliases in `models`
  std::string conductor_model, expert_model;

  SelectionParams selection;

  // Budgets: the run stops cleanly at the first one reached.
  int children = 0;                  // children to produce (admitted or rejected)
  std::optional<double> cost_usd;
  std::optional<std::int64_t> tokens;
  std::optional<std::int64_t> wall_ms;
  // hgm only: task runs over the whole run, the seed's included (each one a unit of evaluation).
  std::optional<std::int64_t> task_evaluations;

  int children_in_flight = 1;        // N: children being made or evaluated at once
  int sandboxes = 2;                 // M: sandboxed runs at once, over the whole run

  int max_rounds = 30;               // the agent's round cap, solving and self-modifying
  std::int64_t self_modify_wall_ms = 30 * 60 * 1000;
  std::optional<std::int64_t> task_wall_ms;  // overrides the suites' agent time per task
  std::uint64_t sandbox_memory_bytes = 4ull << 30;
  int sandbox_pids = SandboxLimits{}.pids;
  std::uint64_t sandbox_disk_bytes = 2ull << 30;  // each writable place of a sandbox
  std::uint64_t min_free_bytes = 1ull << 30;      // the home's free space under which the run pauses
  std::uint64_t build_cache_bytes = 4ull << 30;   // the home's cache of built agents, least recently used evicted

  // [faults] patience_s: how long model calls may keep failing for the world's reasons (the provider down,
  // a key refused) before the run pauses itself; the work they interrupt is redone meanwhile.
  std::int64_t fault_patience_ms = 10 * 60 * 1000;
  // [faults] retry_s: how long after such a pause a daemon resumes the run by itself.
  std::int64_t fault_retry_ms = 5 * 60 * 1000;

  ExecutorConfig executor;
  EvaluationConfig evaluation;       // [suites.*] and [[stages]]; at least one stage

  // Where the run came from, when not from a file alone: {"kind": "fork", "run": R, "agent": A}. Stored
  // with the run (RunOrigin reads it back); null otherwise.
  nlohmann::json origin;
};

// Parses and checks the keys and their values. Relative paths are relative to the file's directory.
Result<RunConfig> LoadRunConfig(const std::filesystem::path& file);
Result<RunConfig> ParseRunConfig(std::string_view text, const std::string& source,
                                 const std::filesystem::path& base_dir);

// Uses the models file `file` instead of the configuration's own (`lineage run start --models`); the roles
// must name aliases it defines.
Status OverrideModels(RunConfig& config, const std::filesystem::path& file);
// The same from the file's text (`source` names it in messages).
Status OverrideModelsText(RunConfig& config, const std::string& text, const std::string& source);

// The checks that need the world: the prompt templates (CheckPromptTemplates), the seed agent's agent.toml,
// every suite opens, every stage selects tasks. `lineage run validate` and `lineage run start` run them
// before anything starts.
Status CheckRunConfig(const RunConfig& config);
// The run's roles and the model alias each calls: {"diagnosis", ...}, {"conductor", ...}, {"expert", ...}.
std::vector<std::pair<std::string, std::string>> RoleAliases(const RunConfig& config);
// That every role's model has its key: the environment variable its api_key_env names is set (in this
// process: the daemon's, for a run handed to it). Part of CheckRunConfig; a resumed run checks it again.
Status CheckModelKeys(const RunConfig& config);

// ---- What a run is expected to spend -------------------------------------------------------------------

// A forecast of a run's model spend (`lineage run validate`). Each figure is a mean over the home's
// recorded calls of the same upstream models when it holds some (Archive::AverageCosts), else an estimate
// from the models' prices and typical sizes (docs/runs.md, "Cost forecast", gives them).
struct CostForecast {
  struct Part {
    double usd = 0;
    std::int64_t recorded = 0;  // units the mean is over; 0: estimated from prices
  };
  Part diagnosis, self_modification;  // per child
  Part task;                          // per task run of an agent
  std::vector<int> stage_tasks;       // the tasks each stage adds
  std::vector<std::string> unpriced;  // aliases whose model has no price: their calls count as free

  // What one child costs when it is evaluated through `stage` (1-based; 0: not evaluated).
  double ChildThrough(int stage) const;
};
// `archive` may be null (no home yet): prices only.
Result<CostForecast> ForecastCost(const RunConfig& config, Archive* archive);

// ---- The evolution loop ---------------------------------------------------------------------------------

// Stores the run: imports the seed (when it is a directory) and the configuration. The run is queued
// (RunState, archive/archive.h, draws what follows).
Result<RunId> CreateRun(Archive& archive, const RunConfig& config);
// When seed_agent names an archive agent (an id), that `home`'s archive holds it and that it may seed a run
// (`run validate`); OK for a directory, which CheckRunConfig checks.
Status CheckSeedAgent(const RunConfig& config, const std::filesystem::path& home);

// The configuration a run was created with; with the budgets raised since (RaiseBudget), unless not asked.
Result<RunConfig> StoredRunConfig(const Run& run, bool with_raised_budgets = true);

// A run's origin as CreateRun stored it (RunConfig::origin); null for a run started from a file.
nlohmann::json RunOrigin(const Run& run);

// `lineage run fork RUN --from AGENT`: a new run in the same home whose seed is AGENT, an admitted agent of
// run `from` (or its seed), with `from`'s configuration as its file gave it, or `config` (a path, with
// `models` overriding its models file, as `run start --models`). The seed keeps the task results the
// archive holds for it: a stage whose suite and tasks it has run already is not run again; any other is.
// The new run is queued, with origin {"kind": "fork", "run": from, "agent": agent}.
struct ForkOptions {
  RunId from = 0;
  AgentId agent = 0;
  std::filesystem::path config, models;  // empty: from's
};
Result<RunId> ForkRun(Archive& archive, const ForkOptions& options);

// The models an agent of the run sees: the configured ones, with the roles' choices under the aliases
// agents ask for ("conductor", "expert").
llm::ModelsConfig AgentModels(const RunConfig& config);

// What the names of a run's Slurm jobs begin with ([executor] kind = "slurm"): its home and its id.
std::string SlurmJobPrefix(const std::filesystem::path& home, RunId run);

struct EvolutionOptions {
  std::filesystem::path home;
  Sandbox* sandbox = nullptr;  // where all sandboxed work runs (the executor)
  // Set to stop starting children: the run returns once the work in flight has finished.
  const std::atomic<bool>* stop = nullptr;
  // One line per step (child started, diagnosed, committed, admitted...), one call at a time.
  std::function<void(const std::string&)> on_progress;
  // Unix milliseconds, for the run's wall budget and its patience with faults; unset: the system clock.
  std::function<std::int64_t()> clock;
  // Waits `ms` between retries of work a fault interrupted; unset: sleeps (waking for `stop`). Seams for tests.
  std::function<void(std::int64_t ms)> sleep;
  // Set when replaying (ReplayRun): every model call of the run is answered from the recording, and no
  // model key is needed.
  std::shared_ptr<llm::CallReplayer> replayer;
  // Set when replaying: what the record says the child of a slot ("child 3") was made from, so that
  // children made concurrently, whose choices depend on timing, are made as they were. nullopt: choose.
  struct ChildPlan {
    AgentId parent = 0;        // in this run's ids
    std::string problem;       // what it learnt from: "failed_task", "empty_patches", ...
    std::string task;          // and on which task, if any
    std::size_t commit_turn = 0;  // how many agents the run holds when it commits (its seed included)
  };
  std::function<std::optional<ChildPlan>(const std::string& slot)> child_plan;
  // Set when replaying: the recorded run's id, which the draws mix in instead of this run's.
  std::optional<RunId> draws_as_run;
};

// One process at a time runs a home's runs (a daemon, or `run start|resume --foreground`): it holds an
// exclusive lock on HOME/daemon.lock for its life, and repairs the home only once it has it. Another gets
// FailedPrecondition naming the holder (`holder` is how this one describes itself: "daemon", "run 3").
Result<UniqueFd> LockHomeForRuns(const std::filesystem::path& home, const std::string& holder);
// Renames who holds `lock` (taken by LockHomeForRuns) once it is known: "run 3 in the foreground".
void SetHomeHolder(const UniqueFd& lock, const std::string& holder);
// Who runs the home's runs now ("a daemon (pid 42)"), or nothing when no process does: a run left
// running, pausing or stopping is then interrupted, and waits for `run resume --foreground` or a daemon.
std::optional<std::string> HomeHolder(const std::filesystem::path& home);

// Finishes what an interrupted process left half-written in the home (Archive::Fsck with repair). Call it
// before resuming runs, holding LockHomeForRuns.
Status RepairHome(Archive& archive);

// Runs or resumes `run` (queued, or running when the process running it was killed) until it finishes,
// its state asks it to pause or stop, or `options.stop` is set. Returns the run's state at the end:
// running after `options.stop` (it resumes next time). An error means the run could not go on (it is then
// failed, and the run.failed event says why).
Result<RunState> RunEvolution(Archive& archive, RunId run, const EvolutionOptions& options);

// The directory holding the orchestrator's prompt templates (diagnose.md, self_modify.md; their placeholders
// are in docs/runs.md): $LINEAGE_PROMPTS, else DataDir()/prompts. A run whose templates are missing, or lack
// a placeholder, fails as it starts, naming the file.
std::filesystem::path PromptsDir();
// FailedPrecondition naming the template that is missing or lacks a placeholder.
Status CheckPromptTemplates();

// ---- The final stage: the top agents on a held-out set ------------------------------------------------------

// How the top agents did on a held-out set ([[final]], `lineage run final`). Their task runs are recorded
// under the suite "final:<suite>" and stage 0: shown with the agent, never part of its score, never shown to
// a diagnosis.
struct FinalResult {
  AgentId agent = 0;
  int solved = 0, attempted = 0;             // on the held-out tasks
  std::optional<double> run_score;            // the score the run gave it, for comparison
};

struct FinalOptions {
  std::filesystem::path home;
  Sandbox* sandbox = nullptr;  // held to the run's [sandbox] limits here
  int parallel = 2;
  int table = 0;  // the [[final]] table (1-based) the run evaluates; 0: `lineage run final`
  std::shared_ptr<llm::Budget> shared_budget;  // the run's, when the run itself evaluates; else none
  std::shared_ptr<llm::CallReplayer> replayer;  // the run's, when replaying
  std::string gateway_host;
  std::function<void(const std::string&)> on_progress;
};

// The run's `final.top` best admitted agents (by the lower end of their interval) on `final.tasks`, with the
// run's models and [sandbox] limits; the calls are recorded with the run. Task runs recorded before (an
// interrupted final) are kept. Only a whole final is reported, as a run event "final" that `run status`
// shows; when a provider fault or the budget cut a task run, Unavailable says so, and running it again
// goes on from there.
Result<std::vector<FinalResult>> EvaluateFinal(Archive& archive, RunId run, const RunConfig& config,
                                               const FinalSpec& final, const FinalOptions& options);
// That every [[final]] table selects tasks that can run here (part of CheckRunConfig).
Status CheckFinals(const RunConfig& config);

// The suite name held-out results are recorded under.
std::string FinalSuiteName(const std::string& suite);

// ---- Replaying a run -----------------------------------------------------------------------------------

// `lineage run replay RUN --to NEWHOME`: runs RUN again in a new home with the same configuration, seed
// agent and random seed, every model call (diagnoses, self-modifications, the agents' task runs) answered
// from RUN's recorded responses, so no provider is called or needs a key. A recorded call is found by its
// place in the run: its agent, purpose, task, and its index among that agent's calls for that purpose and
// task. Its request is compared with the recorded one: a difference only in what varies from run to run
// (timings, temporary paths, process ids, clock times) is a note; any other, or a call never recorded, stops
// the replay at that call, which the report names with a diff of the two requests.
struct ReplayOptions {
  std::filesystem::path to;          // a home with no run in it (created when missing)
  Sandbox* sandbox = nullptr;
  std::atomic<bool>* stop = nullptr;  // set by the caller to stop; set by the replay when it diverges
  std::function<void(const std::string&)> on_progress;
  bool allow_exec = false;  // run an exec suite the stored configuration names (its program runs on the host)
};
struct ReplayReport {
  RunId run = 0;                         // the replay, in the new home
  RunState state = RunState::kQueued;    // how it ended
  std::string divergence;                // empty: none; else the first divergent call and the diff
  std::vector<std::string> notes;        // calls whose requests differed only in what varies
  std::vector<std::string> differences;  // agents that ended otherwise than recorded; empty: the same tree
  int agents = 0;                        // compared
  std::int64_t calls = 0;                // answered from the record
};
Result<ReplayReport> ReplayRun(Archive& source, RunId run, const ReplayOptions& options);

// ---- The daemon -------------------------------------------------------------------------------------------

struct DaemonOptions {
  std::filesystem::path home;
  bool unsafe_no_sandbox = false;
  std::function<void(const std::string&)> on_progress;  // runs' progress lines, prefixed "run N: "
  // Called once the daemon holds the home, has repaired it and listens: where the CLI starts the dashboard
  // (web/web.h). An error ends the daemon before any run starts.
  std::function<Status()> on_serving;
};

// Serves until `stop` is set (SIGTERM), then stops every run cleanly (they resume next time) and returns.
// FailedPrecondition when another daemon serves the home.
Status RunDaemon(const DaemonOptions& options, const std::atomic<bool>& stop);

std::filesystem::path DaemonSocket(const std::filesystem::path& home);
// True when a daemon answers on the home's socket.
bool DaemonRunning(const std::filesystem::path& home);
// Sends one request to the home's daemon; FailedPrecondition (naming `lineage daemon`) when none runs, and
// the daemon's error when it refuses.
Result<nlohmann::json> CallDaemon(const std::filesystem::path& home, const nlohmann::json& request);

// What a person may ask of a run, as the control API and `lineage run pause|resume|stop` name it.
enum class RunControl { kPause, kResume, kStop };
std::optional<RunControl> ParseRunControl(std::string_view op);  // "pause", "resume", "stop"

// Pause, resume or stop `run` in the archive; returns its new state. Pausing a running run makes it
// pausing (no new children; those in flight finish), stopping likewise; resuming a paused or failed run
// queues it, and a pausing one goes on running. Errors name the run's state when the request makes no
// sense (resuming a stopped run, say).
Result<RunState> ApplyControl(Archive& archive, RunId run, RunControl control);

// Raises a run's budget: `lineage run resume RUN --children N --cost-usd X --tokens T --task-evaluations E`.
// Each value given
// must be above the run's own; a finished run is queued again (the children its budget interrupted are
// judged, then more are made). A running run must be paused first. Returns the run's state after.
struct BudgetRaise {
  std::optional<int> children;
  std::optional<double> cost_usd;
  std::optional<std::int64_t> tokens;
  std::optional<std::int64_t> task_evaluations;  // hgm runs
};
Result<RunState> RaiseBudget(Archive& archive, RunId id, const BudgetRaise& raise);

// Gives a run another models file: `lineage run resume RUN --models FILE`, after a wrong base_url or key
// variable paused or failed it. The file is checked as `run start --models` checks it, and the run's
// configuration is otherwise unchanged; a running run must be paused first.
Status ReplaceRunModels(Archive& archive, RunId id, const std::filesystem::path& models);

}  // namespace lineage
