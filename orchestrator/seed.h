// A run's first step: its seed agent built and evaluated, the baseline every child is measured against
// (under hgm, on stage 1 only). A seed admitted before (an agent of another run, a fork's) keeps its
// recorded task results and runs only this run's tasks it has not run, so its score is over this run's
// stages.
#pragma once

#include "base/status.h"
#include "orchestrator/loop_state.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

// A seed that does not build fails the run (FailedPrecondition): there is nothing to evolve.
Result<Step> EvaluateSeed(RunServices& run);

}  // namespace lineage
