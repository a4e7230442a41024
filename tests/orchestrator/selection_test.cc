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
