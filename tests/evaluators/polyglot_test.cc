// The polyglot format, on a small checkout laid out like Aider's polyglot-benchmark (tests/evaluators/data).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <set>

#include "evaluators/evaluator.h"
#include "evaluators/scoring.h"
#include "tests/evaluators/evaluator_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::WriteFile;

std::unique_ptr<Evaluator> Polyglot() { return test::OpenSuite("polyglot:" + (test::kEvaluatorData / "polyglot").string()); }

std::map<std::string, TaskInfo> ById(Evaluator& evaluator) {
  auto tasks = evaluator.ListTasks();
  REQUIRE(tasks.ok());
  std::map<std::string, TaskInfo> by_id;
  for (const TaskInfo& t : *tasks) by_id[t.id] = t;
  return by_id;
}

// The ten tasks of DGM's first stage, copied from the benchmark (tests/evaluators/data/polyglot-dgm-small).
const fs::path kDgmSmall = test::kEvaluatorData / "polyglot-dgm-small";

// Sets an environment variable for one scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name(name) {
    if (const char* old = std::getenv(name)) saved = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (saved) setenv(name, saved->c_str(), 1);
    else unsetenv(name);
  }
  const char* name;
  std::optional<std::string> saved;
};

// A sandbox that runs nothing: it keeps the files the tests would have run on, and what it was asked.
class RecordingSandbox : public Sandbox {
 public:
  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    this->spec = spec;
    if (spec.mounts.at(0).files) files = *spec.mounts.at(0).files;
    return SandboxResult{};
  }
  std::vector<std::string> EnforcedLimits() const override { return {}; }

  const TreeEntry* File(const std::string& path) const {
    for (const TreeEntry& e : files) {
      if (e.path == path) return &e;
    }
    return nullptr;
  }

  SandboxSpec spec;
  std::vector<TreeEntry> files;
};

// The task's reference solution is scored solved, and its untouched starting workspace is not.
void CheckGoldPassesAndStubFails(Evaluator& evaluator, const std::string& task) {
  auto gold = test::AttemptTask(evaluator, task, [&](const fs::path& ws) { REQUIRE(evaluator.ApplyGold(task, ws).ok()); });
  REQUIRE(gold.score.ok());
  INFO(gold.score->output);
  CHECK(gold.score->solved);
  auto unchanged = test::AttemptTask(evaluator, task, nullptr);
  REQUIRE(unchanged.score.ok());
  CHECK_FALSE(unchanged.score->solved);
}

TEST_CASE("exercises of every language present are listed, each with the runner lineage reads") {
  auto evaluator = Polyglot();
  auto by_id = ById(*evaluator);
  REQUIRE(by_id.size() == 3);
  CHECK(by_id["cpp/leap"].language == "cpp");
  CHECK(by_id["python/leap"].unavailable.empty());
  CHECK(by_id["go/leap"].unavailable.empty());
}

TEST_CASE("DGM's subsets are named dgm-small and dgm-medium, as far as the checkout holds their tasks") {
  auto evaluator = test::OpenSuite("polyglot:" + kDgmSmall.string());
  auto subsets = evaluator->Subsets();
  REQUIRE(subsets.ok());
  REQUIRE(subsets->count("dgm-small") == 1);
  CHECK(subsets->at("dgm-small").size() == 10);
  CHECK(subsets->at("dgm-small") == subsets->at("dgm-stage1"));  // the earlier name still works
  // Of the 50, only python/dominoes is among the ten copied here.
  CHECK(subsets->at("dgm-medium") == std::vector<std::string>{"python/dominoes"});
}

TEST_CASE("JavaScript without its test dependencies is unavailable, with the command that installs them") {
  test::TempDir empty;
  ScopedEnv env("LINEAGE_POLYGLOT_NODE_MODULES", empty.path().string());
  auto evaluator = test::OpenSuite("polyglot:" + kDgmSmall.string());
  auto by_id = ById(*evaluator);
  CHECK_THAT(by_id["javascript/robot-name"].unavailable, Catch::Contains("holds no jest"));
  CHECK(by_id["python/beer-song"].unavailable.empty());
}

TEST_CASE("a Java exercise whose tests import a library nobody installed is unavailable, naming it") {
  test::TempDir dir;
  const fs::path ex = dir / "java" / "exercises" / "practice" / "hangman";
  WriteFile(ex / ".meta" / "config.json",
            R"({"files": {"solution": ["src/main/java/Hangman.java"], "test": ["src/test/java/HangmanTest.java"]}})");
  WriteFile(ex / "src" / "main" / "java" / "Hangman.java", "class Hangman {}\n");
  WriteFile(ex / "src" / "test" / "java" / "HangmanTest.java",
            "import io.reactivex.Observable;\nimport org.junit.jupiter.api.Test;\nimport java.util.List;\n"
            "class HangmanTest {\n  @Test\n  void guesses() {}\n}\n");
  auto evaluator = test::OpenSuite("polyglot:" + dir.path().string());
  CHECK_THAT(ById(*evaluator)["java/hangman"].unavailable, Catch::Contains("import io.reactivex.Observable"));
}

TEST_CASE("an Exercism track cloned as <suite>/<language> loads and validates like the benchmark") {
  test::TempDir dir;
  // An upstream track also holds concept exercises, its own config and tooling: only practice/ is read.
  fs::create_directories(dir / "python" / "exercises" / "practice");
  fs::copy(kDgmSmall / "python" / "exercises" / "practice" / "beer-song",
           dir / "python" / "exercises" / "practice" / "beer-song", fs::copy_options::recursive);
  WriteFile(dir / "python" / "config.json", "{\"language\": \"Python\"}\n");
  WriteFile(dir / "python" / "exercises" / "concept" / "lists" / "lists.py", "\n");
  WriteFile(dir / "python" / "bin" / "fetch-configlet", "#!/bin/sh\n");
  auto evaluator = test::OpenSuite("polyglot:" + dir.path().string());
  auto by_id = ById(*evaluator);
  REQUIRE(by_id.size() == 1);
  auto gold = test::AttemptTask(*evaluator, "python/beer-song",
                                [&](const fs::path& ws) { REQUIRE(evaluator->ApplyGold("python/beer-song", ws).ok()); });
  REQUIRE(gold.score.ok());
  CHECK(gold.score->solved);
}

// The full benchmark ($POLYGLOT_BENCHMARK, else ../shared/data/polyglot-benchmark beside the repository),
// or nothing when it is not on this machine.
std::optional<fs::path> SharedBenchmark() {
  const char* env = std::getenv("POLYGLOT_BENCHMARK");
  const fs::path benchmark = env && *env ? fs::path(env)
                                         : test::kEvaluatorData.parent_path().parent_path().parent_path().parent_path() /
                                               "shared/data/polyglot-benchmark";
  if (fs::exists(benchmark / "cpp/exercises/practice")) return benchmark;
  WARN("skipped: no Polyglot benchmark at " << benchmark.string() << " (set POLYGLOT_BENCHMARK)");
  return std::nullopt;
}

// A suite of `tasks` ("language/slug") copied from the full benchmark.
std::unique_ptr<Evaluator> SuiteOf(const fs::path& benchmark, const test::TempDir& dir,
                                   std::initializer_list<const char*> tasks) {
  for (const std::string task : tasks) {
    const std::string language = task.substr(0, task.find('/')), slug = task.substr(task.find('/') + 1);
    fs::create_directories(dir / language / "exercises" / "practice");
    fs::copy(benchmark / language / "exercises/practice" / slug, dir / language / "exercises/practice" / slug,
             fs::copy_options::recursive);
  }
  return test::OpenSuite("polyglot:" + dir.path().string());
}

TEST_CASE("the concurrency tests of bank-account pass with their references under the default limits") {
  // 1,000 threads at once, in C++ and in Java: a pids limit sized below what a benchmark's own reference
  // needs fails it (DGM's medium set holds cpp/bank-account).
  auto benchmark = SharedBenchmark();
  if (!benchmark) return;
  test::TempDir dir;
  auto evaluator = SuiteOf(*benchmark, dir, {"cpp/bank-account", "java/bank-account"});
  for (const char* task : {"cpp/bank-account", "java/bank-account"}) {
    INFO(task);
    auto gold = test::AttemptTask(*evaluator, task, [&](const fs::path& ws) { REQUIRE(evaluator->ApplyGold(task, ws).ok()); });
    REQUIRE(gold.score.ok());
    INFO(gold.score->output);
    CHECK(gold.score->solved);
  }
}

TEST_CASE("java/rest-api runs against Debian's json.org API: its reference passes and its stub fails") {
  // Its tests build JSON with org.json and catch no JSONException: the API must be json.org's, whose
  // exception is unchecked (Debian's json-latest.jar), not Android's (DGM's medium set holds it).
  auto benchmark = SharedBenchmark();
  if (!benchmark) return;
  test::TempDir dir;
  auto evaluator = SuiteOf(*benchmark, dir, {"java/rest-api"});
  INFO(ById(*evaluator)["java/rest-api"].unavailable);
  REQUIRE(ById(*evaluator)["java/rest-api"].unavailable.empty());
  CheckGoldPassesAndStubFails(*evaluator, "java/rest-api");
}

TEST_CASE("an agent's Cargo.toml adds registry crates and nothing else, and its tool configuration is dropped") {
  auto evaluator = test::OpenSuite("polyglot:" + kDgmSmall.string());
  test::TempDir dir;
  REQUIRE(evaluator->Prepare("rust/bowling", dir / "ws").ok());
  WriteFile(dir / "ws" / "Cargo.toml",
            "[package]\nname = \"bowling\"\nversion = \"1.2.0\"\nedition = \"2021\"\nbuild = \"evil.rs\"\n"
            "[dependencies]\nitertools = \"0.10\"\nnum-traits = { version = \"0.2\", default-features = false }\n"
            "evil = { path = \"../evil\" }\n[[test]]\nname = \"fake\"\nharness = false\n");
  WriteFile(dir / "ws" / ".cargo" / "config.toml", "[target.x86_64-unknown-linux-gnu]\nrunner = \"true\"\n");
  WriteFile(dir / "ws" / "build.rs", "fn main() {}\n");
  WriteFile(dir / "ws" / "target" / "debug" / "deps" / "bowling-0123", "a test binary built elsewhere\n");
  WriteFile(dir / "ws" / "src" / "build.rs", "// a module of the solution's, not a build script\n");
  RecordingSandbox sandbox;
  fs::create_directories(dir / "scratch");
  REQUIRE(evaluator->Score("rust/bowling", dir / "ws", ScoreContext{&sandbox, dir / "scratch"}).ok());
  const TreeEntry* manifest = sandbox.File("Cargo.toml");
  REQUIRE(manifest != nullptr);
  INFO(manifest->data);
  // Debian has one version of each crate: the one asked for becomes "whichever there is".
  CHECK_THAT(manifest->data, Catch::Contains("itertools = '*'") || Catch::Contains("itertools = \"*\""));
  CHECK_THAT(manifest->data, Catch::Contains("num-traits"));
  CHECK_THAT(manifest->data, !Catch::Contains("evil"));
  CHECK_THAT(manifest->data, !Catch::Contains("harness"));
  CHECK(sandbox.File(".cargo/config.toml") == nullptr);
  CHECK(sandbox.File("build.rs") == nullptr);
  CHECK(sandbox.File("target/debug/deps/bowling-0123") == nullptr);
  CHECK(sandbox.File("src/build.rs") != nullptr);
  CHECK(sandbox.File("src/lib.rs") != nullptr);
  CHECK(sandbox.spec.env.at("CARGO_HOME") == "/tmp/cargo");
}

// The harness proven in every language: DGM's first-stage tasks pass with their reference solutions and
// fail untouched (the full 225: scripts/polyglot-validate.sh).
TEST_CASE("gold solutions of DGM's dgm-small pass in all six languages, and untouched stubs fail") {
  auto evaluator = test::OpenSuite("polyglot:" + kDgmSmall.string());
  auto subsets = evaluator->Subsets();
  REQUIRE(subsets.ok());
  std::set<std::string> languages;
  for (const std::string& task : subsets->at("dgm-small")) {
    INFO(task);
    languages.insert(task.substr(0, task.find('/')));
    REQUIRE(ById(*evaluator)[task].unavailable.empty());
    CheckGoldPassesAndStubFails(*evaluator, task);
  }
  CHECK(languages.size() == 6);
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

TEST_CASE("gold solutions pass in C++, Go and Python, and untouched stubs fail") {
  auto evaluator = Polyglot();
  for (const char* task : {"cpp/leap", "go/leap", "python/leap"}) {
    INFO(task);
    CheckGoldPassesAndStubFails(*evaluator, task);
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
