// `lineage bench` end to end: real agents (an oracle, a no-op, a test editor) built and run in the sandbox,
// scored in fresh sandboxes, results in the archive; gold validation of every format.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::RunLineage;
using test::TempDir;
using test::WriteFile;

const fs::path kSource = LINEAGE_SOURCE_DIR;
const fs::path kStarter = kSource / "evaluators" / "starter";
const fs::path kData = kSource / "tests" / "evaluators" / "data";

// A shell agent: agent.toml plus run.sh, which finds its task id in task.json.
fs::path ShellAgent(const fs::path& dir, const std::string& name, const std::string& body) {
  WriteFile(dir / "agent.toml", "protocol = 1\nname = \"" + name + "\"\n[run]\ncommand = \"sh $LINEAGE_AGENT_DIR/run.sh\"\n");
  WriteFile(dir / "run.sh",
            "set -e\n"
            "id=$(sed -n 's/.*\"task_id\": *\"\\([^\"]*\\)\".*/\\1/p' \"$LINEAGE_TASK\")\n" +
                body +
                "\nprintf '{\"status\":\"finished\",\"summary\":\"%s\",\"rounds\":1}' \"$id\" > "
                "\"$LINEAGE_OUTPUT_DIR/result.json\"\n");
  return dir;
}

// An agent that knows the answers: solutions/<task id>/ is copied over the workspace.
fs::path OracleAgent(const fs::path& dir) {
  return ShellAgent(dir, "oracle", "if [ -d \"$LINEAGE_AGENT_DIR/solutions/$id\" ]; then cp -r \"$LINEAGE_AGENT_DIR/solutions/$id/.\" .; fi");
}

void CopyTree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

struct Bench {
  TempDir home, files;
  fs::path models;
  Bench() {
    // The test agents never call a model; the gateway still needs one configured.
    models = files / "models.toml";
    WriteFile(models, "[models.default]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"none\"\n");
  }
  json Run(const fs::path& agent, const std::string& suite, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"bench", "run", "--agent", agent.string(), "--models", models.string(), "--json"};
    if (!suite.empty()) args.insert(args.end(), {"--suite", suite});
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = RunLineage(home.path(), args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
};

std::map<std::string, std::string> Outcomes(const json& out) {
  std::map<std::string, std::string> m;
  for (const json& r : out["results"]) m[r["task"]] = r["outcome"];
  return m;
}

const std::vector<std::string> kQuick = {"py/fizzbuzz", "py/fix-median", "cpp/leap-year", "cpp/fix-average"};

TEST_CASE("bench run: an oracle agent solves the tasks, and its results are in the archive") {
  Bench bench;
  fs::path agent = OracleAgent(bench.files / "oracle");
  for (const std::string& id : kQuick) CopyTree(kStarter / id / "solution", agent / "solutions" / id);
  json out = bench.Run(agent, "taskdir:" + kStarter.string(), {"--tasks", "py/fi*", "cpp/f*", "cpp/leap-year", "--parallel", "2"});
  CHECK(Outcomes(out) == std::map<std::string, std::string>{{"cpp/fix-average", "solved"}, {"cpp/leap-year", "solved"},
                                                            {"py/fix-median", "solved"}, {"py/fizzbuzz", "solved"}});
  CHECK(out["solved"] == 4);
  CHECK(out["score"] == 1.0);

  auto archive = Archive::Open(bench.home.path());
  REQUIRE(archive.ok());
  auto evaluations = (*archive)->ListEvaluations(out["agent"].get<AgentId>());
  REQUIRE(evaluations.ok());
  REQUIRE(evaluations->size() == 4);
  for (const Evaluation& e : *evaluations) {
    CHECK(e.outcome == Outcome::kSolved);
    CHECK(e.patch_bytes > 0);
    auto log = (*archive)->GetBlob(e.log_blob);
    REQUIRE(log.ok());
    json parsed = json::parse(*log);
    CHECK(parsed["agent"]["status"] == "finished");
    CHECK_FALSE(parsed["patch"].get<std::string>().empty());
  }
}

TEST_CASE("bench run: a no-op agent never solves, and an agent that edits the tests gets no credit") {
  Bench bench;
  json noop = bench.Run(ShellAgent(bench.files / "noop", "noop", "true"), "starter", {"--tasks", "py/fizzbuzz", "cpp/leap-year"});
  CHECK(Outcomes(noop) == std::map<std::string, std::string>{{"cpp/leap-year", "empty_patch"}, {"py/fizzbuzz", "empty_patch"}});
  CHECK(noop["solved"] == 0);
  CHECK(noop["attempted"] == 2);

  // The visible test file and a conftest.py that would pass everything; the stub stays wrong.
  fs::path cheater = ShellAgent(bench.files / "cheater", "cheater",
                                "printf 'def test_ok():\\n    pass\\n' > test_fizzbuzz.py\n"
                                "printf 'import pytest\\n@pytest.hookimpl(tryfirst=True)\\ndef pytest_runtest_call(item):\\n    pass\\n' > conftest.py");
  json cheat = bench.Run(cheater, "starter", {"--tasks", "py/fizzbuzz"});
  CHECK(Outcomes(cheat) == std::map<std::string, std::string>{{"py/fizzbuzz", "failed"}});
}

TEST_CASE("bench run: the agent it names for `lineage show` has the score the run printed") {
  Bench bench;
  auto r = RunLineage(bench.home.path(), {"bench", "run", "--agent", ShellAgent(bench.files / "noop", "noop", "true").string(),
                                          "--models", bench.models.string(), "--suite", "starter", "--tasks", "py/fizzbuzz", "cpp/leap-year"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("agent 1: solved 0 of 2 attempted (0.0%)"));
  CHECK_THAT(r.out, Catch::Contains("results are in the archive: lineage show 1"));
  auto show = RunLineage(bench.home.path(), {"show", "1"});
  INFO(show.out);
  CHECK_THAT(show.out, Catch::Contains("  score        0.000 [0.000, 0.658]  (0/2 tasks, 95% interval; stage 1 reached)"));
  CHECK_THAT(show.out, Catch::Contains("  evaluations  2 tasks: 0 solved, 2 empty_patch"));
}

TEST_CASE("bench run: an agent leaving a workspace lineage will not read fails its task, and leaves no scratch behind") {
  Bench bench;
  // A 20 MB file (over the 16 MiB lineage reads of one file), and a sparse gigabyte.
  json out = bench.Run(ShellAgent(bench.files / "flood", "flood", "head -c 20000000 /dev/zero > big.bin\ntruncate -s 1G sparse.bin"),
                       "starter", {"--tasks", "py/fizzbuzz"});
  CHECK(Outcomes(out) == std::map<std::string, std::string>{{"py/fizzbuzz", "failed"}});
  CHECK_THAT(out["results"][0]["detail"].get<std::string>(), Catch::Contains("lineage will not read the workspace"));
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(bench.home / "runs")) left.push_back(e.path().filename());
  CHECK(left.empty());
}

TEST_CASE("bench run: a misbehaving evaluator program fails its own tasks and the rest go on") {
  Bench bench;
  json out = bench.Run(ShellAgent(bench.files / "answer", "answer", "echo 42 > answer.txt"),
                       "exec:" + (kData / "misbehaving_evaluator.py").string());
  CHECK(Outcomes(out) == std::map<std::string, std::string>{
                             {"crash", "error"}, {"garbage", "error"}, {"good", "solved"}, {"hang", "error"}, {"stdout", "error"}});
  for (const json& r : out["results"]) {
    if (r["outcome"] == "error") CHECK_THAT(r["detail"].get<std::string>(), Catch::Contains("evaluator program"));
  }
}

TEST_CASE("bench run --staged: stages advance on their threshold and the stage reached is recorded") {
  Bench bench;
  WriteFile(bench.files / "run.toml", "[suites.mine]\nkind = \"taskdir\"\npath = \"" + kStarter.string() +
                                          "\"\n[[stages]]\nsuite = \"mine\"\nsubset = \"quick\"\nthreshold = 0.5\n"
                                          "[[stages]]\nsuite = \"mine\"\ntasks = [\"py/palindrome\", \"py/fizzbuzz\"]\n");
  const std::string config = (bench.files / "run.toml").string();
  fs::path oracle = OracleAgent(bench.files / "oracle");
  for (const char* id : {"py/fizzbuzz", "py/fix-median", "cpp/leap-year", "py/palindrome"}) {
    CopyTree(kStarter / id / "solution", oracle / "solutions" / id);
  }
  json good = bench.Run(oracle, "", {"--staged", "--config", config, "--parallel", "2"});
  CHECK(good["stage_reached"] == 2);
  CHECK(good["attempted"] == 5);  // stage 2 does not repeat py/fizzbuzz
  CHECK(good["solved"] == 4);
  auto archive = Archive::Open(bench.home.path());
  REQUIRE(archive.ok());
  auto agent = (*archive)->GetAgent(good["agent"].get<AgentId>());
  REQUIRE(agent.ok());
  CHECK(agent->stage_reached == 2);
  REQUIRE(agent->score.has_value());
  CHECK(*agent->score == Approx(0.8));

  json noop = bench.Run(ShellAgent(bench.files / "noop", "noop", "true"), "", {"--staged", "--config", config});
  CHECK(noop["stage_reached"] == 1);
  CHECK(noop["attempted"] == 4);
}

TEST_CASE("bench validate --gold: every format's reference solutions pass, and problems are listed with why") {
  TempDir home;
  auto starter = RunLineage(home.path(), {"bench", "validate", "--gold", "--unchanged", "--suite", "starter", "--parallel", "2", "--json"});
  INFO(starter.err);
  CHECK(starter.exit_code == 0);
  json s = json::parse(starter.out);
  CHECK(s["problems"].empty());
  CHECK(s["checks"][0]["passed"] == s["tasks"]);

  auto polyglot = RunLineage(home.path(), {"bench", "validate", "--gold", "--suite", "polyglot:" + (kData / "polyglot").string(), "--json"});
  CHECK(polyglot.exit_code == 0);
  CHECK(json::parse(polyglot.out)["problems"].empty());

  auto example = RunLineage(home.path(), {"bench", "validate", "--gold", "--unchanged", "--suite",
                                          "exec:" + (kSource / "evaluators/examples/python-exec/evaluator.py").string()});
  CHECK(example.exit_code == 0);

  auto broken = RunLineage(home.path(), {"bench", "validate", "--gold", "--suite",
                                         "exec:" + (kData / "misbehaving_evaluator.py").string()});
  CHECK(broken.exit_code == 1);
  CHECK_THAT(broken.out, Catch::Contains("FAIL gold      crash: scoring: evaluator program"));
  CHECK_THAT(broken.err, Catch::Contains("4 validation problems"));  // crash, garbage, hang, stdout
}

TEST_CASE("bench list, validate and run take a subset by name, and an unknown one names those there are") {
  TempDir home;
  const std::string suite = "polyglot:" + (kData / "polyglot-dgm-small").string();
  auto small = RunLineage(home.path(), {"bench", "list", "--suite", suite, "--subset", "dgm-small", "--json"});
  REQUIRE(small.exit_code == 0);
  CHECK(json::parse(small.out)["tasks"].size() == 10);
  auto narrowed = RunLineage(home.path(), {"bench", "list", "--suite", suite, "--subset", "dgm-small", "--tasks", "python/*", "--json"});
  REQUIRE(narrowed.exit_code == 0);
  CHECK(json::parse(narrowed.out)["tasks"].size() == 2);
  auto unknown = RunLineage(home.path(), {"bench", "list", "--suite", suite, "--subset", "dgm-large"});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Catch::Contains("has no subset 'dgm-large' (it has: dgm-medium, dgm-small, dgm-stage1)"));

  auto medium = RunLineage(home.path(), {"bench", "validate", "--gold", "--suite", suite, "--subset", "dgm-medium", "--json"});
  INFO(medium.err);
  REQUIRE(medium.exit_code == 0);
  json m = json::parse(medium.out);
  CHECK(m["tasks"] == 1);  // of DGM's 50, only python/dominoes is among the ten here
  CHECK(m["checks"][0]["passed"] == 1);
  auto one = RunLineage(home.path(), {"bench", "validate", "--gold", "--suite", suite, "--subset", "dgm-medium"});
  CHECK(one.exit_code == 0);
  CHECK_THAT(one.err, Catch::Contains("validate: gold on 1 task of "));
  CHECK_THAT(one.out, Catch::Contains(": 1 task, 0 problems\n"));

  Bench bench;
  json run = bench.Run(OracleAgent(bench.files / "oracle"), suite, {"--subset", "dgm-medium"});
  CHECK(run["attempted"] == 1);
  CHECK(run["results"][0]["task"] == "python/dominoes");
}

TEST_CASE("bench validate skips, with the reason, a task whose reference cannot pass here or cannot run") {
  TempDir home, suite;
  // An exercise named as one whose reference needs what Debian lacks, and one whose test files hold no test.
  for (const char* slug : {"robot-name", "counter"}) {
    const fs::path ex = suite / "rust" / "exercises" / "practice" / slug;
    WriteFile(ex / ".meta" / "config.json", R"({"files": {"solution": ["src/lib.rs"], "test": ["tests/t.rs"], )"
                                            R"("example": [".meta/example.rs"]}})");
    WriteFile(ex / "Cargo.toml", std::string("[package]\nname = \"") + slug + "\"\nversion = \"0.1.0\"\n");
    WriteFile(ex / "src" / "lib.rs", "\n");
    WriteFile(ex / ".meta" / "example.rs", "\n");
    WriteFile(ex / "tests" / "t.rs", std::string(slug) == "robot-name" ? "#[test]\nfn wins() {}\n" : "// write tests here\n");
  }
  auto r = RunLineage(home.path(), {"bench", "validate", "--gold", "--suite", "polyglot:" + suite.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("SKIP gold      rust/robot-name: no reference solution to try: the reference is "
                                    "written for rand 0.3"));
  CHECK_THAT(r.out, Catch::Contains("SKIP gold      rust/counter: its test files hold no test"));
  CHECK_THAT(r.out, Catch::Contains("2 tasks, 0 problems, 2 skipped"));
}

TEST_CASE("bench list shows the suites and their tasks") {
  TempDir home;
  auto suites = RunLineage(home.path(), {"bench", "list"});
  CHECK(suites.exit_code == 0);
  CHECK_THAT(suites.out, Catch::Contains("starter"));
  auto tasks = RunLineage(home.path(), {"bench", "list", "--suite", "starter", "--tasks", "cpp/*", "--json"});
  REQUIRE(tasks.exit_code == 0);
  json t = json::parse(tasks.out);
  CHECK(t["tasks"].size() >= 10);
  for (const json& task : t["tasks"]) CHECK(task["language"] == "cpp");
  auto bad = RunLineage(home.path(), {"bench", "list", "--suite", "zip:/x"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("KIND:PATH"));
}

}  // namespace
}  // namespace lineage
