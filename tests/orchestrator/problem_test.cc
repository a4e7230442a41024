// ChooseProblem: what a child is to learn from its parent's evaluations.
#include <catch2/catch.hpp>

#include "orchestrator/problem.h"
#include "tests/orchestrator/services_rig.h"

namespace lineage {
namespace {

struct Parent {
  test::ServicesRig rig;
  std::mt19937_64 rng{1};

  void Record(const std::string& task, Outcome outcome, int stage = 1) {
    Evaluation e;
    e.agent_id = rig.seed();
    e.suite = "fast";
    e.task_id = task;
    e.stage = stage;
    e.outcome = outcome;
    REQUIRE(rig.archive().RecordEvaluation(e).ok());
  }
  Problem Choose(const std::string& recorded_task = "") {
    auto p = ChooseProblem(rig.archive(), rig.seed(), rng, recorded_task);
    REQUIRE(p.ok());
    return *p;
  }
};

TEST_CASE("an agent with no results gets a general improvement to make") {
  Parent p;
  const Problem problem = p.Choose();
  CHECK(problem.kind == Problem::Kind::kNoEvaluations);
  CHECK(problem.task_id.empty());
  CHECK_THAT(problem.text, Catch::Contains("no evaluation results"));
}

TEST_CASE("mostly empty patches are a systemic problem, shown with one such task's log") {
  Parent p;
  p.Record("t1", Outcome::kEmptyPatch);
  p.Record("t2", Outcome::kEmptyPatch);
  p.Record("t3", Outcome::kSolved);
  const Problem problem = p.Choose();
  CHECK(problem.kind == Problem::Kind::kEmptyPatches);
  CHECK_THAT(problem.text, Catch::Contains("on 2 of its 3 tasks") && Catch::Contains("task t1"));
}

TEST_CASE("a failed task is what a child learns from, never a solved one while one failed") {
  Parent p;
  p.Record("t1", Outcome::kSolved);
  p.Record("t2", Outcome::kFailed);
  p.Record("t3", Outcome::kSolved);
  for (int i = 0; i < 10; ++i) {
    const Problem problem = p.Choose();
    CHECK(problem.kind == Problem::Kind::kFailedTask);
    CHECK(problem.task_id == "t2");
  }
}

TEST_CASE("an agent that solved every task learns from one it solved") {
  Parent p;
  p.Record("t1", Outcome::kSolved);
  const Problem problem = p.Choose();
  CHECK(problem.kind == Problem::Kind::kAllSolved);
  CHECK(problem.task_id == "t1");
  CHECK_THAT(problem.text, Catch::StartsWith("The agent solved every task"));
}

TEST_CASE("runs the world cut short, skipped runs and held-out runs are never shown to a diagnosis") {
  Parent p;
  p.Record("t1", Outcome::kFaulted);
  p.Record("t2", Outcome::kOutOfBudget);
  p.Record("t3", Outcome::kSkipped);
  p.Record("held", Outcome::kFailed, /*stage=*/0);
  CHECK(p.Choose().kind == Problem::Kind::kNoEvaluations);
}

TEST_CASE("a replay's recorded task is the one learnt from") {
  Parent p;
  p.Record("t1", Outcome::kFailed);
  p.Record("t2", Outcome::kFailed);
  CHECK(p.Choose("t1").task_id == "t1");
  CHECK(p.Choose("t2").task_id == "t2");
}

TEST_CASE("the same draws choose the same problem") {
  Parent a, b;
  for (Parent* p : {&a, &b}) {
    for (const char* t : {"t1", "t2", "t3"}) p->Record(t, Outcome::kFailed);
  }
  for (int i = 0; i < 5; ++i) CHECK(a.Choose().task_id == b.Choose().task_id);
}

TEST_CASE("each kind of problem has the name the journal records") {
  CHECK(std::string(ProblemKindName(Problem::Kind::kFailedTask)) == "failed_task");
  CHECK(std::string(ProblemKindName(Problem::Kind::kEmptyPatches)) == "empty_patches");
  CHECK(std::string(ProblemKindName(Problem::Kind::kNoEvaluations)) == "no_evaluations");
  CHECK(std::string(ProblemKindName(Problem::Kind::kAllSolved)) == "all_solved");
}

}  // namespace
}  // namespace lineage
