// Score intervals, the best agent by its lower bound, and the paired comparison of a child with its parent.
#include "archive/scores.h"

#include <catch2/catch.hpp>

namespace lineage {
namespace {

Agent Scored(AgentId id, int solved, int attempted, AgentState state = AgentState::kAdmitted) {
  Agent a;
  a.id = id;
  a.state = state;
  a.stages = {StageScore{1, attempted, solved, attempted ? std::optional<double>(double(solved) / attempted) : std::nullopt}};
  if (attempted) a.score = double(solved) / attempted;
  return a;
}

Evaluation Eval(const std::string& task, const std::string& outcome) {
  Evaluation e;
  e.suite = "s";
  e.task_id = task;
  e.outcome = *ParseOutcome(outcome);
  return e;
}

TEST_CASE("Wilson intervals for known counts") {
  CHECK_FALSE(WilsonInterval(0, 0));
  auto half = WilsonInterval(5, 10);
  REQUIRE(half);
  CHECK(half->low == Approx(0.2366).margin(1e-4));
  CHECK(half->high == Approx(0.7634).margin(1e-4));
  auto none = WilsonInterval(0, 10);
  CHECK(none->low == 0);
  CHECK(none->high == Approx(0.2775).margin(1e-4));
  auto all = WilsonInterval(10, 10);
  CHECK(all->low == Approx(0.7225).margin(1e-4));
  CHECK(all->high == 1);
  auto many = WilsonInterval(45, 60);
  CHECK(many->low == Approx(0.6283).margin(1e-3));
  CHECK(many->high == Approx(0.8422).margin(1e-3));
  // More tasks, the same mean: a narrower interval.
  CHECK(WilsonInterval(50, 100)->high - WilsonInterval(50, 100)->low < half->high - half->low);
}

TEST_CASE("the best agent is the one with the best lower bound, not the best mean of a few tasks") {
  std::vector<Agent> agents = {Scored(1, 3, 3), Scored(2, 45, 60), Scored(3, 9, 10, AgentState::kRejected)};
  REQUIRE(BestAgent(agents));
  CHECK(BestAgent(agents)->id == 2);  // 3/3 has a mean of 1 but a lower bound of 0.44
  CHECK(ScoreWithInterval(agents[0]) == "1.000 [0.439, 1.000]");
  CHECK(ScoreWithInterval(Agent{}) == "-");
  // Equal bounds: the higher mean, then the older agent.
  CHECK(BestAgent({Scored(4, 2, 4), Scored(5, 2, 4)})->id == 4);
  CHECK(BestAgent({Scored(6, 0, 0)}) == nullptr);
}

TEST_CASE("a child is compared with its parent only on the tasks both attempted") {
  std::vector<Evaluation> parent = {Eval("a", "solved"), Eval("b", "failed"), Eval("c", "solved"), Eval("d", "failed"),
                                    Eval("e", "faulted"), Eval("g", "solved")};
  std::vector<Evaluation> child = {Eval("a", "solved"), Eval("b", "solved"), Eval("c", "empty_patch"), Eval("d", "timeout"),
                                   Eval("e", "solved"), Eval("f", "solved"), Eval("g", "skipped")};
  PairedComparison c = ComparePaired(child, parent);
  CHECK(c.both_solved == 1);
  CHECK(c.child_only == 1);
  CHECK(c.parent_only == 1);
  CHECK(c.neither == 1);
  CHECK(c.Shared() == 4);  // e: the parent's run was the world's fault; f: the parent never ran it; g: skipped
}

}  // namespace
}  // namespace lineage
