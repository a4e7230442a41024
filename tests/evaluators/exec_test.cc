// The exec format: the shipped Python example, and a program that crashes, hangs or prints garbage.
#include <catch2/catch.hpp>

#include "evaluators/evaluator.h"
#include "tests/evaluators/evaluator_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;

const fs::path kExample = fs::path(LINEAGE_SOURCE_DIR) / "evaluators" / "examples" / "python-exec" / "evaluator.py";

TEST_CASE("the example evaluator lists, prepares, applies gold and scores in the sandbox") {
  auto evaluator = test::OpenSuite("exec:" + kExample.string());
  auto tasks = evaluator->ListTasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 3);
  CHECK(evaluator->Subsets()->at("first-two").size() == 2);
  auto gold = test::AttemptTask(*evaluator, "clamp", [&](const fs::path& ws) { REQUIRE(evaluator->ApplyGold("clamp", ws).ok()); });
  CHECK_THAT(gold.prepared.instruction, Catch::Contains("clamp(x, lo, hi)"));
  REQUIRE(gold.score.ok());
  CHECK(gold.score->solved);
  CHECK(*gold.score->partial == 1.0);
  auto half = test::AttemptTask(*evaluator, "clamp", [](const fs::path& ws) {
    test::WriteFile(ws / "clamp.py", "def clamp(x, lo, hi):\n    return max(lo, x)\n");
  });
  REQUIRE(half.score.ok());
  CHECK_FALSE(half.score->solved);
  CHECK(*half.score->partial == Approx(2.0 / 3));
}

TEST_CASE("an evaluator program that crashes, hangs or prints garbage is a clear error for that task only") {
  auto evaluator = test::OpenSuite("exec:" + (test::kEvaluatorData / "misbehaving_evaluator.py").string());
  auto gold = [&](const std::string& task) {
    return test::AttemptTask(*evaluator, task, [&](const fs::path& ws) { REQUIRE(evaluator->ApplyGold(task, ws).ok()); });
  };
  auto crash = gold("crash");
  REQUIRE_FALSE(crash.score.ok());
  CHECK_THAT(crash.score.status().message(), Catch::Contains("score of task crash: exited with status 3"));
  CHECK_THAT(crash.score.status().message(), Catch::Contains("something broke"));
  auto hang = gold("hang");
  REQUIRE_FALSE(hang.score.ok());
  CHECK_THAT(hang.score.status().message(), Catch::Contains("no answer within 2 s"));
  auto garbage = gold("garbage");
  REQUIRE_FALSE(garbage.score.ok());
  CHECK_THAT(garbage.score.status().message(), Catch::Contains("the report is not a JSON object: 'this is not json'"));
  auto stdout_reply = gold("stdout");
  REQUIRE_FALSE(stdout_reply.score.ok());
  CHECK_THAT(stdout_reply.score.status().message(), Catch::Contains("never from standard output"));
  auto good = gold("good");
  REQUIRE(good.score.ok());
  CHECK(good.score->solved);
}

TEST_CASE("a program that is missing or cannot list its tasks fails to open, naming it") {
  auto missing = OpenEvaluator(SuiteSpec{.name = "e", .kind = "exec", .path = "/nonexistent/eval"});
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("/nonexistent/eval is not an executable program"));
  test::TempDir dir;
  test::WriteFile(dir / "bad.sh", "#!/bin/sh\necho '{\"tasks\": 3}'\n", true);
  auto bad = OpenEvaluator(SuiteSpec{.name = "e", .kind = "exec", .path = dir / "bad.sh"});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("list: the reply has no \"tasks\" array"));
}

TEST_CASE("a program in a shared directory is refused, since scoring exposes its directory") {
  auto in_usr_bin = OpenEvaluator(SuiteSpec{.name = "e", .kind = "exec", .path = "/usr/bin/python3"});
  REQUIRE_FALSE(in_usr_bin.ok());
  CHECK_THAT(in_usr_bin.status().message(), Catch::Contains("put the program in a directory of its own"));
}

}  // namespace
}  // namespace lineage
