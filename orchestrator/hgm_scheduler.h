// HGM's scheduler (scheduler.h): max(sandboxes, children_in_flight) slots, each taking whatever DecideHgm
// (selection.h) says — expand a node (make a child of the parent Thompson sampling chose) or run one more
// task of an agent — until nothing is left to do or the run must stop. A slot with nothing to do while
// others work waits for them: what they finish may give it work.
//
// The unit of evaluation is one task run, recorded at once and never run again. A child being judged is
// admitted at its first non-empty stage-1 patch, rejected once it has run every stage-1 task without one
// (verdict.h).
#pragma once

#include <memory>

#include "base/status.h"
#include "orchestrator/make_child.h"
#include "orchestrator/scheduler.h"

namespace lineage {

// Reads the run's task pool and what the archive holds of it, and seeds the policy's draws from there.
Result<std::unique_ptr<Scheduler>> MakeHgmScheduler(const ChildPipeline& pipeline);

}  // namespace lineage
