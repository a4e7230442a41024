#include "orchestrator/finish_child.h"

#include <algorithm>

#include "orchestrator/run_services.h"

namespace lineage {

using json = nlohmann::json;

Status RejectUnbuilt(RunServices& run, Agent& child, const BuildFailure& failure) {
  LINEAGE_ASSIGN_OR_RETURN(std::string log_blob, run.archive.PutBlob(failure.Describe() + "\n\n" + failure.log));
  return run.MoveAgent(child, AgentState::kRejected, failure.Reason(), {{"build_log_blob", log_blob}});
}

Status RecordVerdict(RunServices& run, Verdict verdict, Agent& child, const json& data) {
  switch (verdict) {
    case Verdict::kAdmit: return run.MoveAgent(child, AgentState::kAdmitted, "", data);
    case Verdict::kReject: return run.MoveAgent(child, AgentState::kRejected, kLostEditingAbility, data);
    case Verdict::kNotYet: return Status::OK();
  }
  return Status::OK();
}

Result<Step> FinishChild(RunServices& run, Agent& child) {
  LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, run.Build(child.id));
  if (!build.built) {
    LINEAGE_RETURN_IF_ERROR(RejectUnbuilt(run, child, build.failure));
    return Step::Done();
  }
  LINEAGE_RETURN_IF_ERROR(run.MoveToEvaluating(child));
  if (run.hgm()) return Step::Done();
  LINEAGE_ASSIGN_OR_RETURN(StagedResult staged, run.EvaluateStages(child.id, *build.built));
  if (staged.interrupted) {
    return Step::Cut({staged.interrupted->cause, "evaluating " + staged.interrupted->why});  // it stays evaluating
  }
  const bool kept_editing = std::any_of(staged.results.begin(), staged.results.end(), [](const TaskResult& r) {
    return r.stage == 1 && r.non_empty_patch;
  });
  const json data = {{"parent", child.parent_id ? json(*child.parent_id) : json(nullptr)},
                     {"score", staged.score ? json(*staged.score) : json(nullptr)}, {"stage_reached", staged.stage_reached}};
  // Staged evaluation ran every stage-1 task: none is left.
  LINEAGE_RETURN_IF_ERROR(RecordVerdict(run, JudgeChild(kept_editing, /*stage_one_left=*/false), child, data));
  return Step::Done();
}

}  // namespace lineage
