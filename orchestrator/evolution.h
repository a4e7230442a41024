// The evolution loop: the Darwin Gödel Machine made asynchronous, budgeted and crash-safe.
//
// A run is one TOML file (RunConfig; docs/runs.md lists every key, examples/quickstart.toml is complete),
// validated in full before anything starts. CreateRun stores it in the archive; RunEvolution drives it, in
// the foreground (`lineage run start --foreground`) or under the daemon (RunDaemon), which runs every
// queued run and answers a control API.
//
// The loop evaluates the seed, then makes children until it has the number asked for or a budget runs out.
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
// The parts, and one child's path through them, are in docs/design.md.
//
// Crash safety: the archive is the checkpoint. A child exists only once committed (steps 1-4 of a child
// killed midway are simply redone); a committed child that was being built or evaluated is resumed, and
// the evaluations it finished are kept. Budgets count what the archive recorded before a restart.
//
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "archive/archive.h"
#include "base/status.h"
#include "llm/llm.h"
#include "orchestrator/run_config.h"
#include "sandbox/sandbox.h"

namespace lineage {

namespace llm {
class CallReplayer;  // llm/gateway.h
}
class ChildSource;  // orchestrator/child_source.h

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
  // Where children's parents and problems come from; unset: the run's own choice (LiveChildSource). A
  // replay's comes from its record, so that children made concurrently, whose choices depend on timing,
  // are made as they were.
  std::shared_ptr<ChildSource> child_source;
  // Set when replaying: the recorded run's id, which the draws mix in instead of this run's.
  std::optional<RunId> draws_as_run;
};

// Runs or resumes `run` (queued, or running when the process running it was killed) until it finishes,
// its state asks it to pause or stop, or `options.stop` is set. Returns the run's state at the end:
// running after `options.stop` (it resumes next time). An error means the run could not go on (it is then
// failed, and the run.failed event says why).
Result<RunState> RunEvolution(Archive& archive, RunId run, const EvolutionOptions& options);


}  // namespace lineage
