// The child pipeline's last steps, for a committed child: build it (a tree that does not build rejects it,
// its log kept), evaluate it, and record the verdict (verdict.h). A child the world interrupted on the way
// is finished later from where it stands: a committed child is never made again.
#pragma once

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "base/status.h"
#include "harness/harness.h"
#include "orchestrator/loop_state.h"
#include "orchestrator/verdict.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

// Rejects `child` for a failed build; the whole log is a blob named by the agent.rejected event.
Status RejectUnbuilt(RunServices& run, Agent& child, const BuildFailure& failure);

// Records `verdict` on `child`; nothing yet for kNotYet.
Status RecordVerdict(RunServices& run, Verdict verdict, Agent& child, const nlohmann::json& data);

// Builds `child` and moves it on to evaluating; under hgm that is all (the policy evaluates it one task run
// at a time), under dgm it is evaluated stage by stage and judged.
Result<Step> FinishChild(RunServices& run, Agent& child);

}  // namespace lineage
