#include "orchestrator/problem.h"

#include <vector>

#include "orchestrator/prompts.h"

namespace lineage {

namespace {

// A task's log for the diagnosis prompt (prompts.h).
std::string DiagnosisLog(Archive& archive, const Evaluation& e) {
  std::optional<std::string> log;
  if (!e.log_blob.empty()) {
    if (auto blob = archive.GetBlob(e.log_blob); blob.ok()) log = std::move(*blob);
  }
  return TaskLog(e, log);
}

}  // namespace

const char* ProblemKindName(Problem::Kind kind) {
  switch (kind) {
    case Problem::Kind::kFailedTask: return "failed_task";
    case Problem::Kind::kEmptyPatches: return "empty_patches";
    case Problem::Kind::kNoEvaluations: return "no_evaluations";
    case Problem::Kind::kAllSolved: return "all_solved";
  }
  return "?";
}

Result<Problem> ChooseProblem(Archive& archive, AgentId parent, std::mt19937_64& rng, const std::string& recorded_task) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive.ListEvaluations(parent));
  std::vector<const Evaluation*> failed, solved, empty_patches;
  for (const Evaluation& e : evaluations) {
    if (!Counts(e.outcome) || e.stage == 0) continue;  // stage 0: held out ([[final]]), never shown to a diagnosis
    if (e.outcome == Outcome::kEmptyPatch) empty_patches.push_back(&e);
    (e.outcome == Outcome::kSolved ? solved : failed).push_back(&e);
  }
  const std::size_t attempted = failed.size() + solved.size();
  Problem p;
  if (attempted > 0 && 2 * empty_patches.size() > attempted) {
    p.kind = Problem::Kind::kEmptyPatches;
    p.text = "A systemic problem: on " + std::to_string(empty_patches.size()) + " of its " + std::to_string(attempted) +
             " tasks the agent changed no file at all (an empty patch), which can never solve a task.\n";
    p.text += "\nOne such task's log:\n" + DiagnosisLog(archive, *empty_patches.front());
    return p;
  }
  const std::vector<const Evaluation*>& pool = failed.empty() ? solved : failed;
  if (pool.empty()) {
    p.kind = Problem::Kind::kNoEvaluations;
    p.text = "The agent has no evaluation results yet; propose a general improvement.\n";
    return p;
  }
  const Evaluation* e = pool[static_cast<std::size_t>(rng() % pool.size())];
  if (!recorded_task.empty()) {
    for (const Evaluation& recorded : evaluations) {
      if (recorded.task_id == recorded_task && recorded.stage > 0) e = &recorded;
    }
  }
  p.kind = failed.empty() ? Problem::Kind::kAllSolved : Problem::Kind::kFailedTask;
  p.task_id = e->task_id;
  p.text = std::string(failed.empty() ? "The agent solved every task it attempted; make it more reliable or "
                                        "efficient. One task it solved:\n"
                                      : "A task the agent failed:\n") +
           DiagnosisLog(archive, *e);
  return p;
}

}  // namespace lineage
