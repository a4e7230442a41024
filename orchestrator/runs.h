// Runs as the archive keeps them, apart from running them: creating a run (from a file or as a fork), its
// stored configuration, a person's controls (pause, resume, stop, a raised budget, another models file),
// and the home's one-runner lock. The evolution loop (orchestrator/evolution.h) runs what these store.
//
// Run control lives in the archive (runs.status), so it survives every process: a run paused while no
// daemon runs stays paused; one a process was running when it was killed is resumed by the next.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "archive/archive.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "orchestrator/run_config.h"

namespace lineage {

// ---- Creating runs ------------------------------------------------------------------------------------

// Stores the run: imports the seed (when it is a directory) and the configuration. The run is queued
// (RunState, archive/archive.h, draws what follows).
Result<RunId> CreateRun(Archive& archive, const RunConfig& config);
// When seed_agent names an archive agent (an id), that `home`'s archive holds it and that it may seed a run
// (`run validate`); OK for a directory, which CheckRunConfig checks.
Status CheckSeedAgent(const RunConfig& config, const std::filesystem::path& home);

// The configuration a run was created with; with the budgets raised since (RaiseBudget), unless not asked.
Result<RunConfig> StoredRunConfig(const Run& run, bool with_raised_budgets = true);

// A run's origin as CreateRun stored it (RunConfig::origin); kNone for a run started from a file.
journal::RunOrigin RunOrigin(const Run& run);

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

// ---- The home: one process runs its runs ------------------------------------------------------------------

// One process at a time runs a home's runs (a daemon, or `run start|resume --foreground`): it holds an
// exclusive lock on HOME/daemon.lock for its life, and repairs the home only once it has it. Another gets
// FailedPrecondition naming the holder (`holder` is how this one describes itself: "daemon", "run 3").
// A holder that has died is waited for (up to 10 s): a child it forked may hold the lock until it execs.
Result<UniqueFd> LockHomeForRuns(const std::filesystem::path& home, const std::string& holder);
// Renames who holds `lock` (taken by LockHomeForRuns) once it is known: "run 3 in the foreground".
void SetHomeHolder(const UniqueFd& lock, const std::string& holder);
// Who runs the home's runs now ("a daemon (pid 42)"), or nothing when no process does: a run left
// running, pausing or stopping is then interrupted, and waits for `run resume --foreground` or a daemon.
std::optional<std::string> HomeHolder(const std::filesystem::path& home);

// Finishes what an interrupted process left half-written in the home (Archive::Fsck with repair). Call it
// before resuming runs, holding LockHomeForRuns.
Status RepairHome(Archive& archive);

// ---- A person's controls ------------------------------------------------------------------------------------

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
// configuration is otherwise unchanged; only a paused or failed run (a running one is paused first).
Status ReplaceRunModels(Archive& archive, RunId id, const std::filesystem::path& models);

// How a run's last pause came about (its last run.paused event): whether the world's faults paused it, when a
// daemon may try again (Unix ms), and why.
struct PauseRecord {
  bool fault = false;
  std::int64_t retry_at = 0;
  std::string reason;
};
PauseRecord LastPause(Archive& archive, RunId run);

}  // namespace lineage
