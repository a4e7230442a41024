// DGM's scheduler (scheduler.h): `children_in_flight` slots, each finishing an unfinished child or making a
// new one, until the run has the children it wants or must stop.
#pragma once

#include <memory>

#include "orchestrator/make_child.h"
#include "orchestrator/scheduler.h"

namespace lineage {

std::unique_ptr<Scheduler> MakeDgmScheduler(const ChildPipeline& pipeline);

}  // namespace lineage
