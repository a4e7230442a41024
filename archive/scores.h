// How sure a score is: intervals over an agent's task results, the best agent by the worst it plausibly
// is, and a child set beside its parent on the tasks both ran.
//
// A score of 3 of 3 tasks says less than one of 45 of 60. lineage ranks agents by the lower end of a 95%
// Wilson score interval over their attempted tasks, so an agent lucky on a handful of tasks does not pass
// for the best (`lineage tree`, `show`, `run status`, the dashboard and the report all do so).
#pragma once

#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace lineage {

struct ScoreInterval {
  double low = 0, high = 1;
};

// The 95% Wilson score interval of `solved` successes in `attempted` tries; nullopt when none was tried.
std::optional<ScoreInterval> WilsonInterval(int solved, int attempted);

// Summed over the stages the agent ran.
int SolvedTasks(const Agent& agent);
int AttemptedTasks(const Agent& agent);
std::optional<ScoreInterval> AgentInterval(const Agent& agent);

// "0.600 [0.231, 0.882]", or "-" for an agent with no score.
std::string ScoreWithInterval(const Agent& agent);

// The best admitted agent of `agents`: the highest lower bound, then the higher mean, then the older.
// nullptr when no admitted agent has a score.
const Agent* BestAgent(const std::vector<Agent>& agents);
// Whether `a` ranks above `b` by that order (both scored).
bool RanksAbove(const Agent& a, const Agent& b);

// A held-out evaluation ([[final]], `lineage run final`: stage 0, suite "final:<suite>"): shown apart from
// the agent's own results and never part of its score.
bool IsHeldOut(const Evaluation& e);
// Whether its outcome says something of the agent: skipped, faulted and out_of_budget runs say nothing (the
// toolchain was missing, the world or the budget cut them) and are not attempts.
bool IsAttempt(const Evaluation& e);
// Whether an evaluation counts toward the agent's score: an attempt, not held out.
bool CountsTowardScore(const Evaluation& e);

// A task of a suite: (suite, task id).
using TaskRef = std::pair<std::string, std::string>;
// The tasks `evaluations` hold a result for (IsResult: not cut short by the world or the budget), held-out
// runs (stage 0) aside: those an agent is never to run again.
std::set<TaskRef> TasksWithResults(const std::vector<Evaluation>& evaluations);

// A child beside its parent, task by task, over the tasks both attempted (same suite and task; skipped,
// faulted and out-of-budget runs are not attempts).
struct PairedComparison {
  int both_solved = 0, child_only = 0, parent_only = 0, neither = 0;
  int Shared() const { return both_solved + child_only + parent_only + neither; }
};
PairedComparison ComparePaired(const std::vector<Evaluation>& child, const std::vector<Evaluation>& parent);

}  // namespace lineage
