// Outcome: how a task run ended, its name in the archive, and what it says of its agent.
#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "archive/outcome.h"
#include "archive/sqlite.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

constexpr Outcome kAll[] = {Outcome::kSolved,  Outcome::kFailed,  Outcome::kEmptyPatch, Outcome::kTimeout,
                            Outcome::kError,   Outcome::kSkipped, Outcome::kFaulted,    Outcome::kOutOfBudget};

TEST_CASE("every outcome's name reads back as that outcome, and the names are the archive's") {
  for (Outcome o : kAll) CHECK(ParseOutcome(OutcomeName(o)) == o);
  CHECK(std::string(OutcomeName(Outcome::kEmptyPatch)) == "empty_patch");
  CHECK(std::string(OutcomeName(Outcome::kOutOfBudget)) == "out_of_budget");
  CHECK(std::string(OutcomeName(Outcome::kFaulted)) == "faulted");
}

TEST_CASE("a name no outcome has is not read as one") {
  CHECK_FALSE(ParseOutcome("Solved"));
  CHECK_FALSE(ParseOutcome(""));
  CHECK_FALSE(ParseOutcome("passed"));
}

TEST_CASE("the world's and the budget's interruptions are redone, a skipped run is not counted, the rest judge") {
  CHECK(DispositionOf(Outcome::kFaulted) == Disposition::kRedoWorldFault);
  CHECK(DispositionOf(Outcome::kOutOfBudget) == Disposition::kRedoBudget);
  CHECK(DispositionOf(Outcome::kSkipped) == Disposition::kNotCounted);
  for (Outcome o : {Outcome::kSolved, Outcome::kFailed, Outcome::kEmptyPatch, Outcome::kTimeout, Outcome::kError}) {
    CHECK(DispositionOf(o) == Disposition::kJudged);
  }
}

TEST_CASE("a result stands unless the world or the budget cut it short, and only judged ones count") {
  for (Outcome o : kAll) {
    const Disposition d = DispositionOf(o);
    CHECK(IsResult(o) == (d == Disposition::kJudged || d == Disposition::kNotCounted));
    CHECK(Counts(o) == (d == Disposition::kJudged));
  }
  CHECK_FALSE(IsResult(Outcome::kFaulted));
  CHECK(IsResult(Outcome::kSkipped));
  CHECK_FALSE(Counts(Outcome::kSkipped));
}

TEST_CASE("an evaluation whose stored outcome this lineage does not know reads as an error, a result that solved nothing") {
  test::TempDir home;
  auto archive = Archive::Init(home.path());
  REQUIRE(archive.ok());
  test::TempDir seed;
  test::WriteFile(seed / "agent.toml", "protocol = 1\nname = \"s\"\n[run]\ncommand = \"true\"\n");
  auto agent = (*archive)->ImportAgent(seed.path(), "seed");
  REQUIRE(agent.ok());
  Evaluation e;
  e.agent_id = agent->id;
  e.suite = "s";
  e.task_id = "t";
  e.outcome = Outcome::kSolved;
  REQUIRE((*archive)->RecordEvaluation(e).ok());
  auto listed = (*archive)->ListEvaluations(agent->id);
  REQUIRE(listed.ok());
  CHECK(listed->at(0).outcome == Outcome::kSolved);
  {
    sql::Db db;  // as a newer lineage would have written it
    REQUIRE(db.Open((home.path() / "archive.db").string(), false).ok());
    REQUIRE(db.Exec("UPDATE evaluations SET outcome = 'exploded'").ok());
  }
  auto unknown = (*archive)->ListEvaluations(agent->id);
  REQUIRE(unknown.ok());
  CHECK(unknown->at(0).outcome == Outcome::kError);
  CHECK(Counts(unknown->at(0).outcome));
}

}  // namespace
}  // namespace lineage
