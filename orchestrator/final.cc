// The final stage: a run's best agents on a held-out set, reported apart from their scores.
#include "orchestrator/final.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "archive/scores.h"
#include "harness/harness.h"
#include "orchestrator/run_services.h"
#include "orchestrator/runs.h"
#include "sandbox/throttled_sandbox.h"

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

// The final's tasks, able to run here; errors name `where` (the [[final]] table, or the command).
Result<std::vector<TaskInfo>> FinalTasks(const FinalSpec& final, SuiteCache& suites, const std::string& where) {
  auto evaluator = suites.Open(final.tasks.suite);
  if (!evaluator.ok()) return evaluator.status().WithContext(where);
  auto tasks = StageTasks(final.tasks, **evaluator);
  if (!tasks.ok()) return tasks.status().WithContext(where);
  std::erase_if(*tasks, [](const TaskInfo& t) { return !t.unavailable.empty(); });
  if (tasks->empty()) return Status::InvalidArgument(where + " selects no task of " + final.tasks.suite + " that can run here");
  return tasks;
}

// How many of `tasks` (of `suite`) the run's stages also select.
int OverlapWithStages(const RunConfig& config, const std::string& suite, const std::vector<TaskInfo>& tasks, SuiteCache& suites) {
  std::set<std::string> staged;
  for (const StageSpec& stage : config.evaluation.stages) {
    if (stage.suite != suite) continue;
    auto evaluator = suites.Open(stage.suite);
    if (!evaluator.ok()) continue;
    auto selected = StageTasks(stage, **evaluator);
    if (!selected.ok()) continue;
    for (const TaskInfo& t : *selected) staged.insert(t.id);
  }
  return static_cast<int>(std::count_if(tasks.begin(), tasks.end(), [&](const TaskInfo& t) { return staged.count(t.id); }));
}

}  // namespace

std::string FinalSuiteName(const std::string& suite) { return "final:" + suite; }

Result<std::vector<FinalResult>> EvaluateFinal(Archive& archive, RunId run, const RunConfig& config,
                                               const FinalSpec& final, const FinalOptions& options) {
  if (!options.sandbox) return Status::Internal("no sandbox to run in");
  // A replay's models answer from a record; outside the replay itself there is none to answer from, and a
  // final would reach the providers the replay was made to do without.
  LINEAGE_ASSIGN_OR_RETURN(Run stored, archive.GetRun(run));
  if (const journal::RunOrigin origin = RunOrigin(stored); !options.runtime.replayer && origin.replay()) {
    return Status::FailedPrecondition(
        "run " + std::to_string(run) + " is a replay of run " + std::to_string(origin.run) + " of " +
        (origin.home.empty() ? "?" : origin.home) + ": its model calls come from that record, and a final here would call the "
        "providers live; run the final on the recorded run in its own home");
  }
  const std::string where = options.table > 0 ? "[[final]] #" + std::to_string(options.table) : "the final stage";
  SuiteCache suites(&config.evaluation);
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, FinalTasks(final, suites, where));
  LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites.Open(final.tasks.suite));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> top, TopAgents(archive, run, final.top));
  if (top.empty()) return Status::FailedPrecondition("run " + std::to_string(run) + " has no admitted agent with a score");
  auto progress = [&](const std::string& line) {
    if (options.on_progress) options.on_progress(line);
  };
  // A held-out set that is not held out says nothing more than the run's scores: say so.
  const int overlap = OverlapWithStages(config, final.tasks.suite, tasks, suites);
  progress("final: the top " + std::to_string(top.size()) + " agent(s) on " + std::to_string(tasks.size()) +
           " held-out task(s) of " + final.tasks.suite +
           (overlap ? "; warning: " + std::to_string(overlap) + " of them are also in the run's stages, so not held out" : ""));
  // The run's limits, as every sandbox of the run has them.
  ThrottledSandbox sandbox(*options.sandbox, std::max(1, options.parallel), config.sandbox_memory_bytes, config.sandbox_pids,
                           config.sandbox_disk_bytes);
  std::vector<FinalResult> results;
  json agents = json::array();
  int interrupted = 0;
  for (const Agent& agent : top) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive.Tree(agent.id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(options.runtime.home, tree, sandbox, config.build_cache_bytes));
    if (!build.built) return Status::Unavailable("agent " + std::to_string(agent.id) + " does not build now: " + build.failure.Describe());
    EvaluationOptions eval;
    eval.runtime = options.runtime;
    eval.agent = &*build.built;
    eval.agent_wall_ms = config.task_wall_ms;
    eval.parallel = options.parallel;
    eval.archive = &archive;
    eval.agent_id = agent.id;
    eval.run_id = run;
    eval.suite_name = FinalSuiteName(final.tasks.suite);
    LINEAGE_ASSIGN_OR_RETURN(eval.existing, archive.ListEvaluations(agent.id));
    eval.on_result = [&](const TaskResult& r) {
      progress("final: agent " + std::to_string(agent.id) + ": " + r.task_id + " " + OutcomeName(r.outcome));
    };
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskResult> ran, EvaluateTasks(*evaluator, tasks, /*stage=*/0, eval, sandbox));
    FinalResult result{agent.id, 0, 0, agent.score};
    for (const TaskResult& r : ran) {
      result.attempted += Counts(r.outcome);
      result.solved += r.outcome == Outcome::kSolved;
      interrupted += !IsResult(r.outcome);
    }
    results.push_back(result);
    agents.push_back({{"agent", agent.id}, {"solved", result.solved}, {"attempted", result.attempted},
                      {"score", result.attempted ? json(double(result.solved) / result.attempted) : json(nullptr)},
                      {"score_interval", IntervalJson(result.solved, result.attempted)},
                      {"run_score", agent.score ? json(*agent.score) : json(nullptr)},
                      {"run_interval", IntervalJson(SolvedTasks(agent), AttemptedTasks(agent))}});
  }
  // Only a whole final is reported: task runs the world or the budget cut are run again next time (those
  // recorded are kept).
  if (interrupted > 0) {
    return Status::Unavailable(where + ": " + std::to_string(interrupted) + " task run(s) were cut by a provider fault or "
                               "the budget; the results so far are kept, and the final goes on when run again");
  }
  const std::string data = journal::FinalDone{options.table}.Encode(
      json{{"suite", final.tasks.suite}, {"tasks", tasks.size()}, {"overlap", overlap}, {"agents", agents}}.dump());
  LINEAGE_RETURN_IF_ERROR(archive.AppendEvent(Event{0, run, std::nullopt, journal::FinalDone::kKind, data, 0}).status());
  progress(std::string(journal::FinalDone::kKind) + " " + data);
  return results;
}

Status CheckFinals(const RunConfig& config) {
  SuiteCache suites(&config.evaluation);
  for (std::size_t i = 0; i < config.evaluation.finals.size(); ++i) {
    const std::string where = config.source + ": [[final]] #" + std::to_string(i + 1);
    LINEAGE_RETURN_IF_ERROR(FinalTasks(config.evaluation.finals[i], suites, where).status());
  }
  return Status::OK();
}

}  // namespace lineage
