// The child pipeline, in order: select a parent → choose its problem (child_source.h, problem.h) →
// diagnose (diagnose.h) → self-modify (self_modify.h) → commit (commit_child.h) → build, evaluate, judge
// (finish_child.h). docs/design.md follows one child through it.
#pragma once

#include <optional>

#include "archive/archive.h"
#include "base/status.h"
#include "orchestrator/loop_state.h"

namespace lineage {

class ChildSource;  // orchestrator/child_source.h
class Committer;    // orchestrator/commit_child.h
class RunServices;  // orchestrator/run_services.h

// What making a child needs besides its slot: the run, what the slots share, where parents come from,
// and the one committer of the run.
struct ChildPipeline {
  RunServices& run;
  LoopState& loop;
  ChildSource& source;
  Committer& committer;
};

struct MadeChild {
  Step step;
  // A committed child whose evaluation the world interrupted: it is to be finished later (FinishChild).
  std::optional<Agent> unfinished;
};

// Makes the child of `slot` in attempt `attempt`. `chosen`: the parent HGM's policy chose. A world fault
// during the self-modification is absorbed here (LoopState::AbsorbFault) and the modifier runs again on the
// same diagnosis; one before it ends the attempt unmade.
Result<MadeChild> MakeChild(const ChildPipeline& p, int attempt, int slot, std::optional<AgentId> chosen = std::nullopt);

}  // namespace lineage
