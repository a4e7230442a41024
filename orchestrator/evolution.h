// The evolution loop: the Darwin Gödel Machine, asynchronous, budgeted and crash-safe.
//
// A run evaluates its seed, then makes children until it has the number asked for or a budget runs out.
// Making a child:
//   1. select a parent (orchestrator/selection.h);
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
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>

#include "archive/archive.h"
#include "orchestrator/run_config.h"
#include "sandbox/sandbox.h"

namespace lineage {

// Run statuses, as stored in the archive.
namespace run_status {
inline constexpr const char* kQueued = "queued";      // created; a daemon will start it
inline constexpr const char* kRunning = "running";
inline constexpr const char* kPausing = "pausing";    // no new children; those in flight finish
inline constexpr const char* kPaused = "paused";
inline constexpr const char* kStopping = "stopping";
inline constexpr const char* kStopped = "stopped";
inline constexpr const char* kFinished = "finished";  // every child made, or a budget reached
inline constexpr const char* kFailed = "failed";      // could not go on; the last run.status event says why
}  // namespace run_status

// Stores the run: imports the seed (when it is a directory) and the configuration. The run is queued.
Result<RunId> CreateRun(Archive& archive, const RunConfig& config);

// The configuration a run was created with.
Result<RunConfig> StoredRunConfig(const Run& run);

struct EvolutionOptions {
  std::filesystem::path home;
  Sandbox* sandbox = nullptr;  // where all sandboxed work runs (the executor)
  // Set to stop starting children: the run returns once the work in flight has finished.
  const std::atomic<bool>* stop = nullptr;
  // One line per step (child started, diagnosed, committed, admitted...), one call at a time.
  std::function<void(const std::string&)> on_progress;
};

// Finishes what an interrupted process left half-written in the home (Archive::Fsck with repair). Call it
// before resuming runs, while no other process writes to the home.
Status RepairHome(Archive& archive);

// Runs or resumes `run` until it finishes, its status asks it to pause or stop, or `options.stop` is set.
// Returns the run's status at the end. An error means the run could not go on (it is then marked failed).
Result<std::string> RunEvolution(Archive& archive, RunId run, const EvolutionOptions& options);

// The directory holding the orchestrator's prompt templates (diagnose.md, self_modify.md).
std::filesystem::path PromptsDir();

}  // namespace lineage
