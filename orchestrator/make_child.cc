#include "orchestrator/make_child.h"

#include "orchestrator/child_source.h"
#include "orchestrator/commit_child.h"
#include "orchestrator/diagnose.h"
#include "orchestrator/finish_child.h"
#include "orchestrator/run_services.h"
#include "orchestrator/selection.h"
#include "orchestrator/self_modify.h"

namespace lineage {

namespace {

// Step 4: runs the modifier until the world lets it finish. A Step when no child can come of it.
Result<std::optional<SelfModification>> Modify(const ChildPipeline& p, int attempt, int slot, AgentId modifier,
                                               const std::vector<TreeEntry>& tree, const std::string& statement,
                                               std::optional<Step>* ended) {
  const std::string about = "self-modifying agent " + std::to_string(modifier) + ": ";
  for (;;) {
    Result<std::optional<SelfModification>> modified = SelfModify(p.run, attempt, slot, modifier, tree, statement);
    std::string fault;
    if (!modified.ok() && modified.status().code() == Status::Code::kUnavailable) {
      fault = about + modified.status().message();  // the executor lost the build or the run (a cluster job gone)
    } else {
      LINEAGE_ASSIGN_OR_RETURN(std::optional<SelfModification> modification, std::move(modified));
      if (!modification) {
        *ended = Step::Redo("agent " + std::to_string(modifier) + " no longer builds");
      } else if (modification->faults.budget > 0) {
        *ended = Step::Cut(Interruption::Budget("self-modifying agent " + std::to_string(modifier)));
      } else if (modification->faults.world > 0) {
        fault = about + modification->faults.first_world;  // what it did while the world failed it makes no child
      }
      if (fault.empty()) return modification;
    }
    if (!p.loop.AbsorbFault("attempt " + std::to_string(attempt), fault)) {
      *ended = Step::Cut(Interruption::WorldFault(fault));
      return std::optional<SelfModification>();
    }
  }
}

}  // namespace

Result<MadeChild> MakeChild(const ChildPipeline& p, int attempt, int slot, std::optional<AgentId> chosen) {
  RunServices& run = p.run;
  std::mt19937_64 rng = p.loop.SlotRng(slot);
  LINEAGE_ASSIGN_OR_RETURN(ChildOrigin origin, p.source.Choose(run, slot, chosen, rng));
  const Problem& problem = origin.problem;
  run.Progress("attempt " + std::to_string(attempt) + ": parent " + std::to_string(origin.parent) + ", learning from " +
               (problem.task_id.empty() ? ProblemKindName(problem.kind) : problem.task_id));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> parent_tree, run.archive.Tree(origin.parent));

  const std::string about = "diagnosing parent " + std::to_string(origin.parent) + ": ";
  Result<Diagnosis> diagnosis = Diagnose(run, origin.parent, parent_tree, problem, slot);
  if (!diagnosis.ok()) return Status::IOError(about + diagnosis.status().message());
  if (diagnosis->interrupted) {
    return MadeChild{Step::Cut({diagnosis->interrupted->cause, about + diagnosis->interrupted->why}), std::nullopt};
  }
  if (!diagnosis->unusable.empty()) return MadeChild{Step::Redo(about + diagnosis->unusable), std::nullopt};
  const std::string statement = diagnosis->ProblemStatement();

  const AgentId modifier = ModifyingAgent(run.config.selection, origin.parent, run.seed());
  std::optional<Step> ended;
  LINEAGE_ASSIGN_OR_RETURN(std::optional<SelfModification> modification,
                           Modify(p, attempt, slot, modifier, parent_tree, statement, &ended));
  if (ended) return MadeChild{*ended, std::nullopt};

  ChildDraft draft{origin.parent, attempt, slot, std::move(parent_tree), std::move(modification->tree),
                   modification->unreadable, statement, diagnosis->answer.dump()};
  LINEAGE_ASSIGN_OR_RETURN(Agent child, p.committer.Commit(std::move(draft), origin.commit_turn));
  p.loop.MadeChild(slot);
  p.committer.Announce(child);
  if (child.state == AgentState::kRejected) return MadeChild{Step::Done(), std::nullopt};
  LINEAGE_ASSIGN_OR_RETURN(Step finished, LostIsWorldFault(FinishChild(run, child)));
  if (finished.done()) return MadeChild{finished, std::nullopt};
  return MadeChild{finished, child};  // the world interrupted its evaluation: taken up again
}

}  // namespace lineage

