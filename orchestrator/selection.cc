#include "orchestrator/selection.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "archive/scores.h"

namespace lineage {

namespace {

double Alpha(const SelectionStats& s) { return s.attempted > 0 ? static_cast<double>(s.solved) / s.attempted : 0.0; }

double Sigmoid(const SelectionParams& p, const SelectionStats& s) {
  return 1.0 / (1.0 + std::exp(-p.lambda * (Alpha(s) - p.alpha0)));
}

// A uniform double in [0, 1) from the raw generator output: the same on every standard library.
double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::size_t Draw(const std::vector<double>& weights, std::mt19937_64& rng) {
  double x = Uniform(rng), acc = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    acc += weights[i];
    if (x < acc) return i;
  }
  return weights.size() - 1;
}

// The lower end of the agent's 95% interval (archive/scores.h): 0 when it attempted nothing.
double LowerBound(const SelectionStats& s) { return WilsonInterval(s.solved, s.attempted).value_or(ScoreInterval{0, 0}).low; }

// The best by lower bound, as everywhere in lineage; then by mean, then fewer admitted children.
std::size_t Best(const std::vector<SelectionStats>& c) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < c.size(); ++i) {
    const double l = LowerBound(c[i]), m = LowerBound(c[best]);
    const double a = Alpha(c[i]), b = Alpha(c[best]);
    if (l > m || (l == m && (a > b || (a == b && c[i].admitted_children < c[best].admitted_children)))) best = i;
  }
  return best;
}

std::size_t Newest(const std::vector<SelectionStats>& c) {
  std::size_t newest = 0;
  for (std::size_t i = 1; i < c.size(); ++i) {
    if (c[i].id > c[newest].id) newest = i;
  }
  return newest;
}

double Beta(double a, double b, std::mt19937_64& rng) {
  double x = std::gamma_distribution<double>(a, 1.0)(rng);
  double y = std::gamma_distribution<double>(b, 1.0)(rng);
  return x / (x + y);
}

// Each agent's clade (itself and every descendant): summed solved and attempted.
template <typename Node>
std::map<AgentId, std::pair<int, int>> CladeResults(const std::vector<Node>& all) {
  std::map<AgentId, std::optional<AgentId>> parent;
  for (const Node& s : all) parent[s.id] = s.parent_id;
  std::map<AgentId, std::pair<int, int>> clade;
  for (const Node& s : all) {
    // Credit the agent and each of its ancestors.
    for (std::optional<AgentId> a = s.id; a; a = parent.count(*a) ? parent[*a] : std::nullopt) {
      clade[*a].first += s.solved;
      clade[*a].second += s.attempted;
    }
  }
  return clade;
}

}  // namespace

std::vector<SelectionStats> SelectionCandidates(const std::vector<SelectionStats>& all, AgentId seed) {
  std::vector<SelectionStats> out;
  for (const SelectionStats& s : all) {
    if (s.id == seed || s.state == AgentState::kAdmitted) out.push_back(s);
  }
  return out;
}

std::vector<double> SelectionWeights(const SelectionParams& params, const std::vector<SelectionStats>& c) {
  std::vector<double> w(c.size(), 0.0);
  if (c.empty()) return w;
  switch (params.strategy) {
    case SelectionStrategy::kDgm:
    case SelectionStrategy::kNoSelfImprove:
      for (std::size_t i = 0; i < c.size(); ++i) w[i] = Sigmoid(params, c[i]) / (1.0 + c[i].admitted_children);
      break;
    case SelectionStrategy::kScoreProp:
      for (std::size_t i = 0; i < c.size(); ++i) w[i] = Sigmoid(params, c[i]);
      break;
    case SelectionStrategy::kRandom: std::fill(w.begin(), w.end(), 1.0); break;
    case SelectionStrategy::kBest: w[Best(c)] = 1.0; break;
    case SelectionStrategy::kNoOpenEnded: w[Newest(c)] = 1.0; break;
    case SelectionStrategy::kHgm: return {};
  }
  double total = 0;
  for (double x : w) total += x;
  for (double& x : w) x /= total;
  return w;
}

AgentId SelectParent(const SelectionParams& params, const std::vector<SelectionStats>& candidates,
                     const std::vector<SelectionStats>& all, std::mt19937_64& rng) {
  if (params.strategy != SelectionStrategy::kHgm) {
    return candidates[Draw(SelectionWeights(params, candidates), rng)].id;
  }
  const auto clade = CladeResults(all);
  AgentId best = candidates.front().id;
  double best_theta = -1;
  for (const SelectionStats& c : candidates) {
    auto it = clade.find(c.id);
    const int solved = it == clade.end() ? 0 : it->second.first;
    const int attempted = it == clade.end() ? 0 : it->second.second;
    const double theta = Beta(1.0 + solved, 1.0 + (attempted - solved), rng);
    if (theta > best_theta) {
      best_theta = theta;
      best = c.id;
    }
  }
  return best;
}

AgentId ModifyingAgent(const SelectionParams& params, AgentId parent, AgentId seed) {
  return params.strategy == SelectionStrategy::kNoSelfImprove ? seed : parent;
}

HgmDecision DecideHgm(double alpha, const HgmState& state, std::mt19937_64& rng) {
  bool can_expand = state.may_expand, can_evaluate = false;
  if (can_expand) {
    can_expand = std::any_of(state.nodes.begin(), state.nodes.end(), [](const HgmNode& n) { return n.expandable; });
  }
  if (state.may_evaluate) {
    can_evaluate = std::any_of(state.nodes.begin(), state.nodes.end(), [](const HgmNode& n) { return n.evaluable; });
  }
  if (!can_expand && !can_evaluate) return {};
  const double nodes = static_cast<double>(state.nodes.size());
  const bool rule = std::pow(static_cast<double>(state.task_evaluations), alpha) >= nodes - 1 + state.pending_expansions;
  const bool expand = can_expand && (rule || !can_evaluate);
  // Thompson sampling: one draw per eligible node, the argmax wins (ties: the first, in id order).
  const auto clade = CladeResults(state.nodes);
  HgmDecision out{expand ? HgmDecision::Action::kExpand : HgmDecision::Action::kEvaluate, 0};
  double best_theta = -1;
  for (const HgmNode& n : state.nodes) {
    if (expand ? !n.expandable : !n.evaluable) continue;
    auto [solved, attempted] = expand ? clade.at(n.id) : std::pair<int, int>{n.solved, n.attempted};
    const double theta = Beta(1.0 + solved, 1.0 + (attempted - solved), rng);
    if (theta > best_theta) {
      best_theta = theta;
      out.agent = n.id;
    }
  }
  return out;
}

}  // namespace lineage
