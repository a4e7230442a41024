// HGM's whole policy in the loop (fast tier): each free slot expands a node or runs one more task of one,
// task evaluations are a budget and never repeated, and a child that repeats a sibling's change is rejected
// before it costs an evaluation. The decisions' distributions are tests/orchestrator/selection_test.cc.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>

#include "archive/archive.h"
#include "orchestrator/run_config.h"
#include "orchestrator/runs.h"
#include "tests/orchestrator/fast_world.h"

namespace lineage {
namespace {

using Kind = test::ScriptedSandbox::Kind;
using json = nlohmann::json;

const char* const kHgm = "[selection]\nstrategy = \"hgm\"\n";

// Every agent's recorded task evaluations: agent -> task -> outcome.
std::map<AgentId, std::map<std::string, std::string>> Evaluations(test::World& w) {
  std::map<AgentId, std::map<std::string, std::string>> out;
  auto agents = w.archive->ListAgents(w.run);
  REQUIRE(agents.ok());
  for (const Agent& a : *agents) {
    auto evaluations = w.archive->ListEvaluations(a.id);
    REQUIRE(evaluations.ok());
    for (const Evaluation& e : *evaluations) out[a.id][e.task_id] = OutcomeName(e.outcome);
  }
  return out;
}

int Total(const std::map<AgentId, std::map<std::string, std::string>>& evaluations) {
  int n = 0;
  for (const auto& [agent, tasks] : evaluations) n += static_cast<int>(tasks.size());
  return n;
}

TEST_CASE("fast: a child whose change repeats a sibling's is rejected as its duplicate and never built or evaluated") {
  // Two children in flight from the seed, both told to make the same change.
  test::World w({"same"}, 2, "", "", json::array(), "openai", /*in_flight=*/2);
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  const std::vector<Agent> children = w.Children();
  REQUIRE(children.size() == 2);
  const Agent& first = children[0].state == AgentState::kAdmitted ? children[0] : children[1];
  const Agent& second = &first == &children[0] ? children[1] : children[0];
  CHECK(first.state == AgentState::kAdmitted);
  CHECK(second.state == AgentState::kRejected);
  CHECK(second.reason == "duplicate of #" + std::to_string(first.id));
  CHECK(w.sandbox.count(Kind::kBuild) == 2);  // the seed and the first child
  CHECK(w.sandbox.count(Kind::kTask) == 6);   // each of them on the three tasks
  auto evaluations = Evaluations(w);
  CHECK(evaluations.count(second.id) == 0);
}

TEST_CASE("fast: hgm expands and evaluates one task at a time, within its task-evaluation budget") {
  test::World w({"unique"}, 4, "task_evaluations = 12\n", kHgm);
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  auto evaluations = Evaluations(w);
  CHECK(Total(evaluations) == 12);
  CHECK(w.sandbox.count(Kind::kTask) == 12);  // each recorded evaluation ran once
  const std::vector<Agent> children = w.Children();
  REQUIRE(children.size() >= 2);  // expansions happened...
  int evaluated_children = 0;
  for (const Agent& c : children) evaluated_children += evaluations.count(c.id) > 0;  // ...and evaluations of them
  CHECK(evaluated_children >= 1);
  // Not every agent on every task: the budget ends the run first (which agents got how many tasks depends
  // on the order slots finish in).
  if (children.size() == 4) CHECK(Total(evaluations) < 15);
  CHECK_THAT(w.LastEvent("run.finished").dump(), Catch::Contains("budget: task evaluations"));
  // Each child the policy evaluated was judged: admitted at its first non-empty patch on a stage-1 task.
  for (const Agent& c : children) {
    if (evaluations.count(c.id)) CHECK(c.state == AgentState::kAdmitted);
  }
  // More task evaluations: the run goes on from where it stood.
  BudgetRaise raise;
  raise.task_evaluations = 14;
  auto raised = RaiseBudget(*w.archive, w.run, raise);
  INFO(raised.status().ToString());
  REQUIRE(raised.ok());
  CHECK(*raised == RunState::kQueued);
  REQUIRE(w.Evolve().ok());
  CHECK(Total(Evaluations(w)) == 14);
  CHECK(w.sandbox.count(Kind::kTask) == 14);
  raise.task_evaluations = 10;
  CHECK_THAT(RaiseBudget(*w.archive, w.run, raise).status().message(), Catch::Contains("does not raise"));
}

TEST_CASE("fast: an hgm run stopped midway and resumed runs no task evaluation twice and spends the same budget") {
  test::World w({"unique"}, 4, "task_evaluations = 12\n", kHgm);
  std::atomic<bool> stop{false};
  w.sandbox.on_run = [&](Kind kind, int before) {
    if (kind == Kind::kTask && before == 5) stop = true;
  };
  auto first = w.Evolve(&stop);
  REQUIRE(first.ok());
  CHECK(*first == RunState::kRunning);
  const int recorded = Total(Evaluations(w));
  CHECK(recorded >= 6);
  CHECK(recorded < 12);
  auto second = w.Evolve();
  INFO(second.status().ToString());
  REQUIRE(second.ok());
  CHECK(*second == RunState::kFinished);
  CHECK(Total(Evaluations(w)) == 12);
  CHECK(w.sandbox.count(Kind::kTask) == 12);
}

TEST_CASE("fast: without a task-evaluation budget hgm ends once its children are made and judged") {
  test::World w({"unique", "noop"}, 3, "", kHgm);
  auto ended = w.Evolve();
  INFO(ended.status().ToString());
  REQUIRE(ended.ok());
  CHECK(*ended == RunState::kFinished);
  const std::vector<Agent> children = w.Children();
  REQUIRE(children.size() == 3);
  for (const Agent& c : children) {
    INFO("agent " << c.id << " " << StateName(c.state) << " " << c.reason);
    CHECK((c.state == AgentState::kAdmitted || c.state == AgentState::kRejected));
  }
  CHECK(w.sandbox.count(Kind::kTask) == Total(Evaluations(w)));
}

TEST_CASE("fast: alpha and task_evaluations are refused for strategies they do not apply to, naming the key") {
  test::TempDir dir;
  test::WriteFastWorld(dir.path());
  auto refused = ParseRunConfig(test::FastRunToml(dir.path(), "http://127.0.0.1:9", 2, "task_evaluations = 10\n"), "run.toml", dir.path());
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("task_evaluations") && Catch::Contains("hgm"));
  auto alpha = ParseRunConfig(test::FastRunToml(dir.path(), "http://127.0.0.1:9", 2, "", "[selection]\nalpha = 0.5\n"), "run.toml", dir.path());
  REQUIRE_FALSE(alpha.ok());
  CHECK_THAT(alpha.status().message(), Catch::Contains("alpha"));
  auto fine = ParseRunConfig(test::FastRunToml(dir.path(), "http://127.0.0.1:9", 2, "task_evaluations = 10\n",
                                               "[selection]\nstrategy = \"hgm\"\nalpha = 0.5\n"), "run.toml", dir.path());
  INFO(fine.status().ToString());
  REQUIRE(fine.ok());
  CHECK(fine->selection.alpha == 0.5);
  CHECK(*fine->task_evaluations == 10);
}

}  // namespace
}  // namespace lineage
