// Evaluating an agent on benchmark tasks: for each task, prepare a workspace, let the agent work on it (in
// the sandbox, through the gateway), score the result in a fresh sandbox, and record the outcome in the
// archive. Tasks run in parallel; stages run one after another while the agent's score clears each
// stage's threshold.
//
// The same harness validates a suite: with Attempt::kGold the reference solution stands in for the agent
// (every task should pass); with Attempt::kUnchanged nothing is changed (every task should fail).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "evaluators/evaluator.h"
#include "evaluators/stages.h"
#include "llm/gateway.h"
#include "orchestrator/agent_runner.h"
#include "sandbox/sandbox.h"

namespace lineage {

enum class Attempt { kAgent, kGold, kUnchanged };

struct TaskResult {
  std::string task_id, language;
  int stage = 1;
  std::string outcome;  // outcome::k* (evaluators/evaluator.h)
  std::optional<double> partial;
  bool non_empty_patch = false;
  std::string detail;        // why: the error, the missing toolchain, the agent's status when it failed
  std::string test_output;   // capped
  std::string agent_status;  // kAgent only: finished, crashed, limit:wall, ...
  int rounds = 0;
  llm::Spend spend;
  std::int64_t agent_ms = 0, test_ms = 0, duration_ms = 0;
};

// Counts toward a score: every outcome but skipped.
bool Attempted(const TaskResult& result);

struct EvaluationOptions {
  std::filesystem::path home;
  Attempt attempt = Attempt::kAgent;
  // kAgent: the built agent and how it runs.
  const BuiltAgent* agent = nullptr;
  llm::ModelsConfig models;
  int max_rounds = 30;
  std::optional<std::int64_t> agent_wall_ms;  // overrides the suite's per-task time
  llm::BudgetLimits budget_per_task;
  std::shared_ptr<llm::Budget> shared_budget;  // when set, every task's calls count against it instead
  int parallel = 1;
  // Where results go (optional): one evaluation row per task, with its log as a blob.
  Archive* archive = nullptr;
  std::optional<AgentId> agent_id;
  std::optional<RunId> run_id;
  std::string suite_name;
  // Tasks already evaluated (a resumed run): their recorded outcome stands and they are not run again.
  std::vector<Evaluation> existing;
  // Progress: called once per task as it starts and as it ends, from worker threads, one call at a time.
  std::function<void(const TaskInfo&)> on_start;
  std::function<void(const TaskResult&)> on_result;
};

// Attempts `tasks` of `evaluator`, `options.parallel` at a time. Task failures (an agent that crashes, an
// evaluator program that hangs) are outcomes of their task; an error means the harness itself could not go on.
Result<std::vector<TaskResult>> EvaluateTasks(Evaluator& evaluator, const std::vector<TaskInfo>& tasks,
                                              int stage, const EvaluationOptions& options, Sandbox& sandbox);

struct StagedResult {
  std::vector<TaskResult> results;
  std::vector<StageScore> stages;  // one per stage run
  int stage_reached = 0;
  std::optional<double> score;     // solved / attempted over the stages reached
};

// Runs `stages` in order. A stage runs only tasks no earlier stage ran; after it, the agent goes on when
// its score so far is at least the stage's threshold. With an archive and an agent id, each stage's score
// is recorded (Archive::RecordStageScore), which sets the agent's score and stage reached.
using SuiteOpener = std::function<Result<Evaluator*>(const std::string& suite)>;
Result<StagedResult> EvaluateStaged(const std::vector<StageSpec>& stages, const SuiteOpener& open_suite,
                                    EvaluationOptions options, Sandbox& sandbox);

}  // namespace lineage
