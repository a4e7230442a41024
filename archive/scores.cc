#include "archive/scores.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

namespace lineage {

std::optional<ScoreInterval> WilsonInterval(int solved, int attempted) {
  if (attempted <= 0) return std::nullopt;
  constexpr double z = 1.959963984540054;  // the normal quantile of 97.5%: a two-sided 95% interval
  const double n = attempted, p = static_cast<double>(solved) / n, z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  // At 0 or all solved one end is exactly 0 or 1; rounding would leave it a hair inside.
  return ScoreInterval{solved <= 0 ? 0.0 : std::max(0.0, centre - half), solved >= attempted ? 1.0 : std::min(1.0, centre + half)};
}

int SolvedTasks(const Agent& agent) {
  int solved = 0;
  for (const StageScore& s : agent.stages) solved += s.solved;
  return solved;
}

int AttemptedTasks(const Agent& agent) {
  int attempted = 0;
  for (const StageScore& s : agent.stages) attempted += s.attempted;
  return attempted;
}

std::optional<ScoreInterval> AgentInterval(const Agent& agent) {
  return WilsonInterval(SolvedTasks(agent), AttemptedTasks(agent));
}

std::string ScoreWithInterval(const Agent& agent) {
  if (!agent.score) return "-";
  char buf[64];
  const auto interval = AgentInterval(agent);
  if (!interval) {
    std::snprintf(buf, sizeof buf, "%.3f", *agent.score);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f [%.3f, %.3f]", *agent.score, interval->low, interval->high);
  }
  return buf;
}

bool RanksAbove(const Agent& a, const Agent& b) {
  const double a_low = AgentInterval(a).value_or(ScoreInterval{0, 0}).low;
  const double b_low = AgentInterval(b).value_or(ScoreInterval{0, 0}).low;
  if (a_low != b_low) return a_low > b_low;
  if (a.score.value_or(0) != b.score.value_or(0)) return a.score.value_or(0) > b.score.value_or(0);
  return a.id < b.id;
}

const Agent* BestAgent(const std::vector<Agent>& agents) {
  const Agent* best = nullptr;
  for (const Agent& a : agents) {
    if (a.state != AgentState::kAdmitted || !a.score) continue;
    if (!best || RanksAbove(a, *best)) best = &a;
  }
  return best;
}

bool IsHeldOut(const Evaluation& e) { return e.stage == 0; }

bool IsAttempt(const Evaluation& e) {
  return Counts(e.outcome);
}

bool CountsTowardScore(const Evaluation& e) { return !IsHeldOut(e) && IsAttempt(e); }

std::set<TaskRef> TasksWithResults(const std::vector<Evaluation>& evaluations) {
  std::set<TaskRef> tasks;
  for (const Evaluation& e : evaluations) {
    if (IsResult(e.outcome) && !IsHeldOut(e)) tasks.insert({e.suite, e.task_id});
  }
  return tasks;
}

PairedComparison ComparePaired(const std::vector<Evaluation>& child, const std::vector<Evaluation>& parent) {
  auto attempted = CountsTowardScore;
  std::map<std::pair<std::string, std::string>, bool> parent_solved;
  for (const Evaluation& e : parent) {
    if (attempted(e)) parent_solved[{e.suite, e.task_id}] = e.outcome == Outcome::kSolved;
  }
  PairedComparison c;
  for (const Evaluation& e : child) {
    if (!attempted(e)) continue;
    auto it = parent_solved.find({e.suite, e.task_id});
    if (it == parent_solved.end()) continue;
    const bool solved = e.outcome == Outcome::kSolved;
    if (solved && it->second) ++c.both_solved;
    else if (solved) ++c.child_only;
    else if (it->second) ++c.parent_only;
    else ++c.neither;
  }
  return c;
}

}  // namespace lineage
