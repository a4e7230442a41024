#include "orchestrator/seed.h"

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "archive/scores.h"
#include "orchestrator/run_services.h"

namespace lineage {

namespace {

using json = nlohmann::json;

// An evaluation the world interrupted: the agent stays evaluating, to be taken up again.
Step Interrupted(const Interruption& i) { return Step::Cut({i.cause, "evaluating " + i.why}); }

Result<BuiltAgent> BuildSeed(RunServices& run, AgentId seed) {
  LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, run.Build(seed));
  if (!build.built) return Status::FailedPrecondition("the seed agent does not build: " + build.failure.Describe());
  return std::move(*build.built);
}

// Whether the seed lacks a result for some task of the run's stages (under hgm, of stage 1).
Result<bool> MissesTasks(RunServices& run, AgentId seed) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> recorded, run.archive.ListEvaluations(seed));
  const std::set<TaskRef> done = TasksWithResults(recorded);
  std::vector<StageSpec> stages = run.config.evaluation.stages;
  if (run.hgm()) stages.resize(1);
  for (const StageSpec& stage : stages) {
    LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, run.OpenSuite(stage.suite));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
    for (const TaskInfo& t : tasks) {
      if (!done.count({stage.suite, t.id})) return true;
    }
  }
  return false;
}

Result<Step> EvaluateAdmittedSeed(RunServices& run, const Agent& seed) {
  LINEAGE_ASSIGN_OR_RETURN(bool missing, MissesTasks(run, seed.id));
  if (!missing) return Step::Done();
  run.Progress("seed agent " + std::to_string(seed.id) + ": evaluating it on this run's tasks it has not run");
  LINEAGE_ASSIGN_OR_RETURN(BuiltAgent built, BuildSeed(run, seed.id));
  LINEAGE_ASSIGN_OR_RETURN(StagedResult staged, run.EvaluateStages(seed.id, built));
  if (staged.interrupted) return Interrupted(*staged.interrupted);
  return Step::Done();
}

}  // namespace

Result<Step> EvaluateSeed(RunServices& run) {
  LINEAGE_ASSIGN_OR_RETURN(Agent seed, run.archive.GetAgent(run.seed()));
  if (seed.state == AgentState::kAdmitted) return EvaluateAdmittedSeed(run, seed);
  run.Progress("seed agent " + std::to_string(seed.id) + ": building and evaluating");
  LINEAGE_ASSIGN_OR_RETURN(BuiltAgent built, BuildSeed(run, seed.id));
  LINEAGE_RETURN_IF_ERROR(run.MoveToEvaluating(seed));
  LINEAGE_ASSIGN_OR_RETURN(StagedResult staged, run.EvaluateStages(seed.id, built));
  if (staged.interrupted) return Interrupted(*staged.interrupted);
  LINEAGE_RETURN_IF_ERROR(run.MoveAgent(seed, AgentState::kAdmitted, "seed",
                                        {{"score", staged.score ? json(*staged.score) : json(nullptr)},
                                         {"stage_reached", staged.stage_reached}, {"seed", true}}));
  return Step::Done();
}

}  // namespace lineage
