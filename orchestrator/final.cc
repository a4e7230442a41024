// The final stage: a run's best agents on a held-out set, reported apart from their scores.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "archive/scores.h"
#include "harness/harness.h"
#include "orchestrator/orchestrator.h"

namespace lineage {

namespace {

using json = nlohmann::json;

// The run's `top` best admitted agents, best first.
Result<std::vector<Agent>> TopAgents(Archive& archive, RunId run, int top) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(run));
  std::erase_if(agents, [](const Agent& a) { return a.state != AgentState::kAdmitted || !a.score; });
  std::sort(agents.begin(), agents.end(), [](const Agent& a, const Agent& b) { return RanksAbove(a, b); });
  if (agents.size() > static_cast<std::size_t>(top)) agents.resize(top);
  return agents;
}

json IntervalJson(int solved, int attempted) {
  const auto interval = WilsonInterval(solved, attempted);
  return interval ? json::array({interval->low, interval->high}) : json(nullptr);
}

}  // namespace

std::string FinalSuiteName(const std::string& suite) { return "final:" + suite; }

Result<std::vector<FinalResult>> EvaluateFinal(Archive& archive, RunId run, const RunConfig& config,
                                               const FinalSpec& final, const FinalOptions& options) {
  if (!options.sandbox) return Status::Internal("no sandbox to run in");
  SuiteCache suites(&config.evaluation);
  LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites.Open(final.tasks.suite));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(final.tasks, *evaluator));
  if (tasks.empty()) return Status::InvalidArgument("the final stage selects no task of " + final.tasks.suite);
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> top, TopAgents(archive, run, final.top));
  if (top.empty()) return Status::FailedPrecondition("run " + std::to_string(run) + " has no admitted agent with a score");
  auto progress = [&](const std::string& line) {
    if (options.on_progress) options.on_progress(line);
  };
  progress("final: the top " + std::to_string(top.size()) + " agent(s) on " + std::to_string(tasks.size()) +
           " held-out task(s) of " + final.tasks.suite);
  std::vector<FinalResult> results;
  json agents = json::array();
  for (const Agent& agent : top) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive.Tree(agent.id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(options.home, tree, *options.sandbox, config.build_cache_bytes));
    LINEAGE_ASSIGN_OR_RETURN(BuiltAgent built, std::move(build).OrError());
    EvaluationOptions eval;
    eval.home = options.home;
    eval.agent = &built;
    eval.models = AgentModels(config);
    eval.max_rounds = config.max_rounds;
    eval.agent_wall_ms = config.task_wall_ms;
    eval.parallel = options.parallel;
    eval.archive = &archive;
    eval.agent_id = agent.id;
    eval.run_id = run;
    eval.suite_name = FinalSuiteName(final.tasks.suite);
    eval.shared_budget = options.shared_budget;
    eval.gateway_host = options.gateway_host;
    LINEAGE_ASSIGN_OR_RETURN(eval.existing, archive.ListEvaluations(agent.id));
    eval.on_result = [&](const TaskResult& r) {
      progress("final: agent " + std::to_string(agent.id) + ": " + r.task_id + " " + r.outcome);
    };
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskResult> ran, EvaluateTasks(*evaluator, tasks, /*stage=*/0, eval, *options.sandbox));
    FinalResult result{agent.id, 0, 0, agent.score};
    for (const TaskResult& r : ran) {
      result.attempted += Attempted(r);
      result.solved += r.outcome == outcome::kSolved;
    }
    results.push_back(result);
    agents.push_back({{"agent", agent.id}, {"solved", result.solved}, {"attempted", result.attempted},
                      {"score", result.attempted ? json(double(result.solved) / result.attempted) : json(nullptr)},
                      {"score_interval", IntervalJson(result.solved, result.attempted)},
                      {"run_score", agent.score ? json(*agent.score) : json(nullptr)},
                      {"run_interval", IntervalJson(SolvedTasks(agent), AttemptedTasks(agent))}});
  }
  const json data = {{"suite", final.tasks.suite}, {"tasks", tasks.size()}, {"agents", agents}};
  LINEAGE_RETURN_IF_ERROR(archive.AppendEvent(Event{0, run, std::nullopt, "final", data.dump(), 0}).status());
  progress("final " + data.dump());
  return results;
}

}  // namespace lineage
