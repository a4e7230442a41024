// The taskdir format: task.toml parsing and errors, preparing, hidden tests, and scoring in the sandbox.
#include <catch2/catch.hpp>

#include "evaluators/evaluator.h"
#include "tests/evaluators/evaluator_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::WriteFile;

const char* kTaskToml = R"(instruction = "Make answer.txt say 42."
language = "text"
tags = ["easy"]
test = "grep -qx 42 answer.txt && sh check.sh"
test_timeout_s = 20
tests = ["answer"]
)";

// The hidden check writes the JUnit report scoring believes.
const char* kCheck = R"(if grep -qx 42 answer.txt; then verdict=""; else verdict="<failure/>"; fi
echo "<testsuite><testcase name=\"answer\">$verdict</testcase></testsuite>" > "$LINEAGE_REPORT_DIR/junit.xml"
[ -z "$verdict" ]
)";

void WriteTask(const fs::path& dir, const std::string& toml = kTaskToml) {
  WriteFile(dir / "task.toml", toml);
  WriteFile(dir / "workspace" / "answer.txt", "?\n");
  WriteFile(dir / "workspace" / "check.sh", "exit 0\n");  // visible, and overwritten by the hidden copy
  WriteFile(dir / "tests" / "check.sh", kCheck);
  WriteFile(dir / "solution" / "answer.txt", "42\n");
}

std::string OpenError(const fs::path& root) {
  auto evaluator = OpenEvaluator(SuiteSpec{.name = "t", .kind = "taskdir", .path = root});
  REQUIRE_FALSE(evaluator.ok());
  return evaluator.status().message();
}

TEST_CASE("a malformed task.toml is reported with its path and key") {
  TempDir suite;
  WriteTask(suite / "a" / "one");
  WriteTask(suite / "b" / "two", "instruction = \"x\"\nlanguage = \"text\"\n");
  CHECK_THAT(OpenError(suite.path()), Catch::Contains((suite / "b" / "two" / "task.toml").string() + ": test: is required"));

  WriteTask(suite / "b" / "two", "instruction = \"x\"\nlanguage = \"text\"\ntest = \"true\"\ntest_timeout_s = \"soon\"\n");
  CHECK_THAT(OpenError(suite.path()), Catch::Contains("task.toml: test_timeout_s: must be a number"));

  WriteTask(suite / "b" / "two", "instruction = \"x\"\nlanguage = \"text\"\ntest = \"true\"\ntimeout = 3\n");
  CHECK_THAT(OpenError(suite.path()), Catch::Contains("task.toml: timeout: is not a known key"));

  WriteTask(suite / "b" / "two", "instruction = \"x\"\nlanguage = [\n");
  CHECK_THAT(OpenError(suite.path()), Catch::Contains((suite / "b" / "two" / "task.toml").string() + ":"));
}

TEST_CASE("tasks are found at any depth and listed by path with their tags") {
  TempDir suite;
  WriteTask(suite / "cpp" / "one");
  WriteTask(suite / "two");
  auto evaluator = test::OpenSuite("taskdir:" + suite.path().string());
  auto tasks = evaluator->ListTasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 2);
  CHECK((*tasks)[0].id == "cpp/one");
  CHECK((*tasks)[1].id == "two");
  CHECK((*tasks)[0].tags == std::vector<std::string>{"easy"});
  CHECK((*tasks)[0].unavailable.empty());
}

TEST_CASE("a task that requires a missing program is unavailable, not failed") {
  TempDir suite;
  WriteTask(suite / "t", std::string(kTaskToml) + "requires = [\"sh\", \"no-such-compiler-xyz\"]\n");
  auto evaluator = test::OpenSuite("taskdir:" + suite.path().string());
  CHECK_THAT(evaluator->ListTasks()->at(0).unavailable, Catch::Contains("no-such-compiler-xyz"));
}

TEST_CASE("the reference solution passes and the starting workspace fails") {
  TempDir suite;
  WriteTask(suite / "t");
  auto evaluator = test::OpenSuite("taskdir:" + suite.path().string());
  auto gold = test::AttemptTask(*evaluator, "t", [&](const fs::path& ws) { REQUIRE(evaluator->ApplyGold("t", ws).ok()); });
  CHECK(gold.prepared.instruction == "Make answer.txt say 42.");
  REQUIRE(gold.score.ok());
  CHECK(gold.score->solved);
  auto unchanged = test::AttemptTask(*evaluator, "t", nullptr);
  REQUIRE(unchanged.score.ok());
  CHECK_FALSE(unchanged.score->solved);
}

TEST_CASE("an agent that edits the tests gets no credit") {
  TempDir suite;
  WriteTask(suite / "t");
  // The visible check.sh passes anything; the hidden one does not. answer.txt stays wrong.
  WriteFile(suite / "t" / "task.toml", "instruction = \"x\"\nlanguage = \"text\"\ntest = \"sh check.sh\"\ntests = [\"answer\"]\n");
  auto evaluator = test::OpenSuite("taskdir:" + suite.path().string());
  auto cheat = test::AttemptTask(*evaluator, "t", [](const fs::path& ws) { WriteFile(ws / "check.sh", "exit 0\n"); });
  REQUIRE(cheat.score.ok());
  CHECK_FALSE(cheat.score->solved);
}

TEST_CASE("scoring never changes the agent's workspace") {
  TempDir suite;
  WriteTask(suite / "t");
  WriteFile(suite / "t" / "task.toml",
            "instruction = \"x\"\nlanguage = \"text\"\ntest = \"echo scribble > answer.txt; rm -f check.sh\"\n");
  auto evaluator = test::OpenSuite("taskdir:" + suite.path().string());
  TempDir dir;
  REQUIRE(evaluator->Prepare("t", dir / "ws").ok());
  fs::create_directories(dir / "scratch");
  REQUIRE(evaluator->Score("t", dir / "ws", ScoreContext{&test::TestSandbox(), dir / "scratch"}).ok());
  CHECK(test::ReadFileOrDie(dir / "ws" / "answer.txt") == "?\n");
  CHECK(fs::exists(dir / "ws" / "check.sh"));
}

TEST_CASE("the starter suite has at least 24 tasks in C++ and Python with a spread of difficulty") {
  auto evaluator = test::OpenSuite("starter");
  auto tasks = evaluator->ListTasks();
  REQUIRE(tasks.ok());
  CHECK(tasks->size() >= 24);
  std::map<std::string, int> languages, difficulty;
  for (const TaskInfo& t : *tasks) {
    ++languages[t.language];
    REQUIRE_FALSE(t.tags.empty());
    ++difficulty[t.tags[0]];
  }
  CHECK(languages["cpp"] >= 10);
  CHECK(languages["python"] >= 10);
  CHECK(difficulty["easy"] >= 5);
  CHECK(difficulty["medium"] >= 5);
  CHECK(difficulty["hard"] >= 3);
  auto subsets = evaluator->Subsets();
  REQUIRE(subsets.ok());
  CHECK(subsets->count("quick") == 1);
}

}  // namespace
}  // namespace lineage
