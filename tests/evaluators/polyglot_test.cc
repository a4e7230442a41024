// The polyglot format, on a small checkout laid out like Aider's polyglot-benchmark (tests/evaluators/data).
#include <catch2/catch.hpp>

#include "evaluators/evaluator.h"
#include "evaluators/scoring.h"
#include "tests/evaluators/evaluator_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::WriteFile;

std::unique_ptr<Evaluator> Polyglot() { return test::OpenSuite("polyglot:" + (test::kEvaluatorData / "polyglot").string()); }

TEST_CASE("exercises of every language present are listed, and a missing toolchain is reported") {
  auto evaluator = Polyglot();
  auto tasks = evaluator->ListTasks();
  REQUIRE(tasks.ok());
  std::map<std::string, TaskInfo> by_id;
  for (const TaskInfo& t : *tasks) by_id[t.id] = t;
  REQUIRE(by_id.size() == 3);
  CHECK(by_id["cpp/leap"].language == "cpp");
  CHECK(by_id["python/leap"].unavailable.empty());
  // Go writes no report lineage reads yet: unavailable, with the reason, rather than never solved.
  CHECK_THAT(by_id["go/leap"].unavailable, Catch::Contains("does not read go's test reports yet"));
}

TEST_CASE("the agent sees neither .meta, .docs nor the tests, and the instruction names the solution files") {
  auto evaluator = Polyglot();
  test::TempDir dir;
  auto prepared = evaluator->Prepare("cpp/leap", dir / "ws");
  REQUIRE(prepared.ok());
  CHECK(fs::exists(dir / "ws" / "leap.cpp"));
  CHECK(fs::exists(dir / "ws" / "CMakeLists.txt"));
  CHECK_FALSE(fs::exists(dir / "ws" / "leap_test.cpp"));
  CHECK_FALSE(fs::exists(dir / "ws" / ".meta"));
  CHECK_FALSE(fs::exists(dir / "ws" / ".docs"));
  CHECK_THAT(prepared->instruction, Catch::Contains("Given a year, report if it is a leap year."));
  CHECK_THAT(prepared->instruction, Catch::Contains("modify the supplied files: leap.cpp, leap.h"));
}

TEST_CASE("gold solutions pass in C++ and Python, and untouched stubs fail") {
  auto evaluator = Polyglot();
  for (const char* task : {"cpp/leap", "python/leap"}) {
    INFO(task);
    auto gold = test::AttemptTask(*evaluator, task, [&](const fs::path& ws) { REQUIRE(evaluator->ApplyGold(task, ws).ok()); });
    REQUIRE(gold.score.ok());
    INFO(gold.score->output);
    CHECK(gold.score->solved);
    auto unchanged = test::AttemptTask(*evaluator, task, nullptr);
    REQUIRE(unchanged.score.ok());
    CHECK_FALSE(unchanged.score->solved);
  }
}

TEST_CASE("edits to test and build files are undone before the tests run") {
  auto evaluator = Polyglot();
  auto cheat = test::AttemptTask(*evaluator, "python/leap", [](const fs::path& ws) {
    WriteFile(ws / "leap_test.py", "def test_nothing():\n    pass\n");
  });
  REQUIRE(cheat.score.ok());
  CHECK_FALSE(cheat.score->solved);
  auto build_cheat = test::AttemptTask(*evaluator, "cpp/leap", [](const fs::path& ws) {
    WriteFile(ws / "CMakeLists.txt", "cmake_minimum_required(VERSION 3.5)\nproject(x NONE)\n");
  });
  REQUIRE(build_cheat.score.ok());
  CHECK_FALSE(build_cheat.score->solved);
}

TEST_CASE("a path that is not a polyglot checkout is refused with a hint") {
  auto missing = OpenEvaluator(SuiteSpec{.name = "p", .kind = "polyglot", .path = "/nonexistent/polyglot"});
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("polyglot-benchmark"));
  test::TempDir empty;
  auto nothing = OpenEvaluator(SuiteSpec{.name = "p", .kind = "polyglot", .path = empty.path()});
  REQUIRE_FALSE(nothing.ok());
  CHECK_THAT(nothing.status().message(), Catch::Contains("exercises/practice"));
}

}  // namespace
}  // namespace lineage
