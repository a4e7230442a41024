// Parent selection: each strategy's distribution, measured by drawing many times with a seeded generator.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "orchestrator/selection.h"

namespace lineage {
namespace {

SelectionStats Agent(AgentId id, std::optional<AgentId> parent, int attempted, int solved, int admitted_children,
                     AgentState state = AgentState::kAdmitted) {
  SelectionStats s;
  s.id = id;
  s.parent_id = parent;
  s.attempted = attempted;
  s.solved = solved;
  s.admitted_children = admitted_children;
  s.state = state;
  return s;
}

// Agent 1 (seed, 0.5, two admitted children), 2 (0.9, none), 3 (0.1, none), 4 (0.9, one).
std::vector<SelectionStats> Archive4() {
  return {Agent(1, std::nullopt, 10, 5, 2), Agent(2, 1, 10, 9, 0), Agent(3, 1, 10, 1, 0), Agent(4, 2, 10, 9, 1)};
}

std::map<AgentId, double> Frequencies(const SelectionParams& params, const std::vector<SelectionStats>& agents,
                                      int draws = 40000) {
  std::mt19937_64 rng(42);
  std::map<AgentId, double> f;
  for (int i = 0; i < draws; ++i) f[SelectParent(params, agents, agents, rng)] += 1.0 / draws;
  return f;
}

double Sigmoid(double alpha) { return 1.0 / (1.0 + std::exp(-10 * (alpha - 0.5))); }

TEST_CASE("dgm draws in proportion to sigmoid(score) / (1 + admitted children)") {
  SelectionParams p{.strategy = SelectionStrategy::kDgm};
  const double w1 = Sigmoid(0.5) / 3, w2 = Sigmoid(0.9), w3 = Sigmoid(0.1), w4 = Sigmoid(0.9) / 2;
  const double total = w1 + w2 + w3 + w4;
  auto weights = SelectionWeights(p, Archive4());
  REQUIRE(weights.size() == 4);
  CHECK(weights[0] == Approx(w1 / total));
  CHECK(weights[1] == Approx(w2 / total));
  CHECK(weights[2] == Approx(w3 / total));
  CHECK(weights[3] == Approx(w4 / total));
  auto f = Frequencies(p, Archive4());
  CHECK(f[1] == Approx(w1 / total).margin(0.01));
  CHECK(f[2] == Approx(w2 / total).margin(0.01));
  CHECK(f[3] == Approx(w3 / total).margin(0.01));
  CHECK(f[4] == Approx(w4 / total).margin(0.01));
}

TEST_CASE("score-prop ignores children: lambda and alpha0 shape the sigmoid") {
  SelectionParams p{.strategy = SelectionStrategy::kScoreProp};
  auto f = Frequencies(p, Archive4());
  CHECK(f[2] == Approx(f[4]).margin(0.01));  // same score, different children
  CHECK(f[3] < 0.02);
  SelectionParams flat{.strategy = SelectionStrategy::kScoreProp, .lambda = 0.001};
  auto w = SelectionWeights(flat, Archive4());
  for (double x : w) CHECK(x == Approx(0.25).margin(0.001));
}

TEST_CASE("random is uniform, best takes the top score, no-open-ended the newest") {
  auto f = Frequencies({.strategy = SelectionStrategy::kRandom}, Archive4());
  for (AgentId id : {1, 2, 3, 4}) CHECK(f[id] == Approx(0.25).margin(0.01));
  // Agents 2 and 4 tie on score; 2 has fewer admitted children.
  CHECK(Frequencies({.strategy = SelectionStrategy::kBest}, Archive4(), 100)[2] == Approx(1.0));
  CHECK(Frequencies({.strategy = SelectionStrategy::kNoOpenEnded}, Archive4(), 100)[4] == Approx(1.0));
}

TEST_CASE("no-self-improve selects like dgm but the seed makes every change") {
  SelectionParams p{.strategy = SelectionStrategy::kNoSelfImprove};
  CHECK(SelectionWeights(p, Archive4()) == SelectionWeights({.strategy = SelectionStrategy::kDgm}, Archive4()));
  CHECK(ModifyingAgent(p, 4, 1) == 1);
  CHECK(ModifyingAgent({.strategy = SelectionStrategy::kDgm}, 4, 1) == 4);
}

TEST_CASE("hgm favours the clade whose descendants solve more, by Thompson sampling") {
  // Agents 2 and 3 score the same themselves, but 2's descendants (4, 5: rejected, yet evaluated) solve
  // nearly everything and 3's solve nothing.
  std::vector<SelectionStats> all = {Agent(1, std::nullopt, 10, 5, 2), Agent(2, 1, 10, 5, 0), Agent(3, 1, 10, 5, 0),
                                     Agent(4, 2, 20, 19, 0, AgentState::kRejected),
                                     Agent(5, 2, 20, 19, 0, AgentState::kRejected),
                                     Agent(6, 3, 20, 0, 0, AgentState::kRejected),
                                     Agent(7, 3, 20, 0, 0, AgentState::kRejected)};
  auto candidates = SelectionCandidates(all, 1);
  REQUIRE(candidates.size() == 3);
  std::mt19937_64 rng(7);
  std::map<AgentId, int> picks;
  for (int i = 0; i < 4000; ++i) ++picks[SelectParent({.strategy = SelectionStrategy::kHgm}, candidates, all, rng)];
  // Clades: 2 solved 43 of 50, the seed 53 of 110, 3 only 5 of 50.
  CHECK(picks[2] > 3900);
  CHECK(picks[3] < 10);
}

TEST_CASE("best ranks by the lower end of the 95% interval, not by the mean of a few tasks") {
  // 3 of 3 (mean 1, lower bound 0.44) against 45 of 60 (mean 0.75, lower bound 0.63).
  std::vector<SelectionStats> agents = {Agent(1, std::nullopt, 60, 45, 0), Agent(2, 1, 3, 3, 0)};
  CHECK(Frequencies({.strategy = SelectionStrategy::kBest}, agents, 100)[1] == Approx(1.0));
}

HgmNode Node(AgentId id, std::optional<AgentId> parent, int attempted, int solved, bool expandable, bool evaluable) {
  return HgmNode{id, parent, solved, attempted, expandable, evaluable};
}

TEST_CASE("hgm expands when (task evaluations)^alpha reaches nodes - 1 + pending expansions, else evaluates") {
  std::mt19937_64 rng(1);
  auto decide = [&](std::int64_t evaluations, int nodes, int pending) {
    HgmState state;
    for (int i = 1; i <= nodes; ++i) state.nodes.push_back(Node(i, i == 1 ? std::nullopt : std::optional<AgentId>(1), 0, 0, true, true));
    state.task_evaluations = evaluations;
    state.pending_expansions = pending;
    return DecideHgm(0.6, state, rng).action;
  };
  using A = HgmDecision::Action;
  CHECK(decide(0, 1, 0) == A::kExpand);      // 0^0.6 = 0 >= 0: the seed alone is expanded first
  CHECK(decide(0, 1, 1) == A::kEvaluate);    // ...but not twice before anything is evaluated
  CHECK(decide(100, 10, 0) == A::kExpand);   // 100^0.6 = 15.8 >= 9
  CHECK(decide(100, 17, 0) == A::kEvaluate); // 15.8 < 16
  CHECK(decide(100, 10, 7) == A::kEvaluate); // 15.8 < 9 + 7: pending expansions count
  CHECK(decide(100, 10, 6) == A::kExpand);
}

TEST_CASE("hgm does the other action when the rule's choice is impossible, and nothing when neither is") {
  std::mt19937_64 rng(1);
  HgmState state;
  state.nodes = {Node(1, std::nullopt, 0, 0, true, false)};
  CHECK(DecideHgm(0.6, state, rng).action == HgmDecision::Action::kExpand);
  state.task_evaluations = 1;
  state.nodes = {Node(1, std::nullopt, 0, 0, true, false), Node(2, 1, 0, 0, false, false), Node(3, 1, 0, 0, false, false)};
  CHECK(DecideHgm(0.6, state, rng).action == HgmDecision::Action::kExpand);  // the rule says evaluate: nothing is left to
  state.may_expand = false;
  CHECK(DecideHgm(0.6, state, rng).action == HgmDecision::Action::kNone);
  state.nodes[1].evaluable = true;
  state.task_evaluations = 1000;  // the rule says expand, but the budget allows no more children
  HgmDecision d = DecideHgm(0.6, state, rng);
  CHECK(d.action == HgmDecision::Action::kEvaluate);
  CHECK(d.agent == 2);
  state.may_evaluate = false;
  CHECK(DecideHgm(0.6, state, rng).action == HgmDecision::Action::kNone);
}

TEST_CASE("hgm's choices follow Thompson sampling: expansion on clades, evaluation on own results") {
  // 1 (seed) ─┬─ 2 ── 3 (solved 1 of 1)      clade of 2: 1 of 1, Beta(2, 1)
  //           └─ 4 (failed 1 of 1)           clade of 1: 1 of 2, Beta(2, 2)
  HgmState state;
  state.nodes = {Node(1, std::nullopt, 0, 0, true, true), Node(2, 1, 0, 0, true, true), Node(3, 2, 1, 1, false, false),
                 Node(4, 1, 1, 0, false, false)};
  state.task_evaluations = 1000;  // the rule: expand
  std::mt19937_64 rng(11);
  std::map<AgentId, double> expanded, evaluated;
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) {
    HgmDecision d = DecideHgm(0.6, state, rng);
    REQUIRE(d.action == HgmDecision::Action::kExpand);
    expanded[d.agent] += 1.0 / draws;
  }
  // P(Beta(2, 1) > Beta(2, 2)) = ∫ 2x (3x² − 2x³) dx = 0.7
  CHECK(expanded[2] == Approx(0.7).margin(0.01));
  CHECK(expanded[1] == Approx(0.3).margin(0.01));
  // Evaluation looks at the agents' own results: 3 (1 of 1, Beta(2, 1)) against 4 (0 of 0, Beta(1, 1)).
  state.task_evaluations = 0;
  state.pending_expansions = 5;  // the rule: evaluate
  state.nodes = {Node(1, std::nullopt, 0, 0, false, false), Node(3, 1, 1, 1, false, true), Node(4, 1, 0, 0, false, true)};
  for (int i = 0; i < draws; ++i) {
    HgmDecision d = DecideHgm(0.6, state, rng);
    REQUIRE(d.action == HgmDecision::Action::kEvaluate);
    evaluated[d.agent] += 1.0 / draws;
  }
  CHECK(evaluated[3] == Approx(2.0 / 3).margin(0.01));  // P(Beta(2, 1) > U(0, 1)) = ∫ 2x · x dx
  CHECK(evaluated[4] == Approx(1.0 / 3).margin(0.01));
}

TEST_CASE("only the seed and admitted agents are candidates") {
  std::vector<SelectionStats> all = {Agent(1, std::nullopt, 0, 0, 0, AgentState::kEvaluating),
                                     Agent(2, 1, 10, 9, 0, AgentState::kRejected), Agent(3, 1, 10, 5, 0)};
  auto candidates = SelectionCandidates(all, 1);
  REQUIRE(candidates.size() == 2);
  CHECK(candidates[0].id == 1);
  CHECK(candidates[1].id == 3);
}

TEST_CASE("the same seed draws the same parents") {
  std::mt19937_64 a(99), b(99);
  auto agents = Archive4();
  for (int i = 0; i < 100; ++i) {
    CHECK(SelectParent({}, agents, agents, a) == SelectParent({}, agents, agents, b));
  }
}

}  // namespace
}  // namespace lineage
