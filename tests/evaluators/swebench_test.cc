// SWE-bench end to end, with the real sandbox and real environments (built once per build tree): a suite
// made here (tests/support/swebench_fixture.h) whose repository has future history and whose patches carry
// markers, and, where ../shared/data/swe-bench is (or $SWEBENCH_DATA), real Django and SymPy instances.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "harness/harness.h"
#include "llm/fake_server.h"
#include "tests/support/swebench_fixture.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;

Sandbox& RealSandbox() {
  static std::unique_ptr<Sandbox> sandbox = [] {
    auto s = Sandbox::Create(Sandbox::Backend::kBwrap);
    REQUIRE(s.ok());
    return std::move(s).value();
  }();
  return *sandbox;
}

std::unique_ptr<Evaluator> OpenSuite(const fs::path& dir) {
  auto e = OpenEvaluator(SuiteSpec{.name = "swebench:" + dir.string(), .kind = "swebench", .path = dir});
  INFO(e.status().ToString());
  REQUIRE(e.ok());
  return std::move(e).value();
}

std::vector<TaskResult> Validate(Evaluator& suite, const std::vector<TaskInfo>& tasks, Attempt attempt,
                                 const fs::path& scratch) {
  EvaluationOptions options;
  options.runtime.home = scratch;
  options.environments_home = test::EnvironmentTestHome();
  options.attempt = attempt;
  options.parallel = 2;
  auto results = EvaluateTasks(suite, tasks, 1, options, RealSandbox());
  INFO(results.status().ToString());
  REQUIRE(results.ok());
  return std::move(results).value();
}

TEST_CASE("swebench: a suite's tasks are its instances, at /testbed in their repository's environment") {
  test::TempDir dir;
  test::MakeSweBenchSuite(dir.path());
  auto suite = OpenSuite(dir.path());
  auto tasks = suite->ListTasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 2);
  CHECK((*tasks)[0].id == "acme__calc-1");
  CHECK((*tasks)[0].workspace_inside == "/testbed");
  REQUIRE((*tasks)[0].environment.has_value());
  CHECK((*tasks)[0].environment->name == "py311");
  CHECK((*tasks)[0].unavailable.empty());
  // DGM's subsets ship with lineage; their ids this suite has no record for are named, not dropped silently.
  auto missing = suite->MissingFromSubsets();
  CHECK(missing["dgm-small"].size() == 10);
  CHECK(missing["dgm-big"].size() == 140);
}

TEST_CASE("swebench: gold patches resolve their instances and unchanged trees do not, with each test's status logged") {
  test::TempDir dir, scratch;
  test::MakeSweBenchSuite(dir / "suite");
  auto suite = OpenSuite(dir / "suite");
  auto tasks = suite->ListTasks();
  REQUIRE(tasks.ok());
  for (const TaskResult& r : Validate(*suite, *tasks, Attempt::kGold, scratch.path())) {
    INFO(r.task_id << ": " << r.detail << "\n" << r.test_output);
    CHECK(r.outcome == Outcome::kSolved);
    CHECK(r.partial == 1.0);
    CHECK_THAT(r.test_output, Catch::Contains("FAIL_TO_PASS passed tests/test_ops.py::test_"));
    CHECK_THAT(r.test_output, Catch::Contains("PASS_TO_PASS passed tests/test_ops.py::test_sub"));
  }
  for (const TaskResult& r : Validate(*suite, *tasks, Attempt::kUnchanged, scratch.path())) {
    INFO(r.task_id << ": " << r.detail << "\n" << r.test_output);
    CHECK(r.outcome == Outcome::kFailed);
    CHECK(r.partial == 0.5);  // test_sub passes, the new test does not
    CHECK(r.already_passing.empty());
  }
}

// The agent: a shell script that looks for the repository's future and the hidden patches everywhere it
// can, and runs a program built on the host, with and without $LINEAGE_HOST_EXEC.
std::vector<TreeEntry> SnoopingAgent() {
  const std::string build =
      "printf '#include <stdio.h>\\nint main(void) { puts(\"hello from the host\"); return 0; }\\n' | "
      "cc -x c -o \"$LINEAGE_BUILD_DIR/hello\" -\n";
  const std::string run =
      "exec > /testbed/report.txt 2>&1\n"
      "echo \"pwd=$(pwd)\"\n"
      "git log --all --oneline; git tag; git reflog; git branch -a; git remote -v\n"
      "cat .git/packed-refs .git/HEAD .git/FETCH_HEAD\n"
      "ls -a\n"
      "M=MARKER\n"
      "echo grep-start\n"
      "grep -rl -e \"HIDDEN-TEST-$M\" -e \"GOLD-PATCH-$M\" -e \"FUTURE-COMMIT-$M\" "
      "--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=host / 2>/dev/null\n"
      "echo grep-end\n"
      "python3 --version\n"
      "\"$LINEAGE_BUILD_DIR/hello\" && echo direct-ran\n"
      "$LINEAGE_HOST_EXEC \"$LINEAGE_BUILD_DIR/hello\"\n"
      "true\n";
  return {{"agent.toml", TreeEntry::Kind::kFile,
           "protocol = 1\nname = \"snoop\"\n[build]\ncommand = \"sh build.sh\"\n[run]\ncommand = \"sh $LINEAGE_AGENT_DIR/run.sh\"\n"},
          {"build.sh", TreeEntry::Kind::kFile, build},
          {"run.sh", TreeEntry::Kind::kFile, run}};
}

TEST_CASE("swebench: an agent finds no history past its base commit and no hidden test or gold patch anywhere") {
  test::TempDir dir, home, ws;
  test::MakeSweBenchSuite(dir / "suite", "py39");  // bullseye: an older C library than the host's
  auto suite = OpenSuite(dir / "suite");
  auto tasks = suite->ListTasks();
  REQUIRE(tasks.ok());
  const TaskInfo& task = (*tasks)[0];
  auto env = EnsureEnvironment(test::EnvironmentTestHome(), *task.environment);
  INFO(env.status().ToString());
  REQUIRE(env.ok());
  auto prepared = suite->Prepare(task.id, ws.path());
  REQUIRE(prepared.ok());
  CHECK_THAT(prepared->instruction, Catch::Contains("add() subtracts"));
  CHECK_THAT(prepared->instruction, !Catch::Contains("look at ops.py"));  // hints are off
  CHECK(test::ReadFileOrDie(ws / "calc/ops.py") == test::kCalcBase);
  CHECK_FALSE(fs::exists(ws / ".git"));

  auto build = BuildAgent(home.path(), SnoopingAgent(), RealSandbox());
  REQUIRE(build.ok());
  if (!build->built) FAIL(build->failure.Describe());
  AgentRunOptions run;
  run.runtime.home = home.path();
  run.workspace = ws.path();
  run.root = env->root.string();
  run.workspace_inside = task.workspace_inside;
  run.instruction = prepared->instruction;
  run.task_id = task.id;
  run.runtime.models.models.push_back(llm::ModelConfig{});
  run.runtime.models.models.back().alias = "default";
  run.runtime.models.models.back().model = "m";
  run.runtime.models.models.back().base_url = "http://127.0.0.1:9";
  auto result = RunAgent(*build->built, run, RealSandbox());
  REQUIRE(result.ok());
  const std::string report = test::ReadFileOrDie(ws / "report.txt");
  INFO(report);
  CHECK_THAT(report, Catch::Contains("pwd=/testbed"));
  CHECK_THAT(report, Catch::Contains("grep-start\ngrep-end"));  // nothing found, anywhere
  for (const char* leak : {test::kTestMarker, test::kGoldMarker, test::kFutureMarker, "v9.9", "upstream"}) {
    CHECK_THAT(report, !Catch::Contains(leak));
  }
  CHECK_THAT(report, Catch::Contains("Python 3.9"));  // the environment's, not the host's 3.11
  // Built on the host, the program needs the host's C library: it runs through $LINEAGE_HOST_EXEC.
  CHECK_THAT(report, Catch::Contains("hello from the host"));
  CHECK_THAT(report, !Catch::Contains("direct-ran"));
}

TEST_CASE("swebench: lineage bench validate checks gold and unchanged, and bench list names absent subset ids") {
  test::TempDir dir;
  test::MakeSweBenchSuite(dir / "suite");
  {
    // acme__calc-2 lists test_sub, which passes before the fix, among its FAIL_TO_PASS tests: a stale entry,
    // as real records have. It is named, not a problem, since test_mul still fails unchanged.
    const auto path = dir / "suite" / "instances.jsonl";
    std::istringstream lines(test::ReadFileOrDie(path));
    std::string text, line;
    while (std::getline(lines, line)) {
      auto record = nlohmann::json::parse(line);
      if (record["instance_id"] == "acme__calc-2") {
        record["FAIL_TO_PASS"] = {"tests/test_ops.py::test_mul", "tests/test_ops.py::test_sub"};
      }
      text += record.dump() + "\n";
    }
    test::WriteFile(path, text);
  }
  const std::string suite = "swebench:" + (dir / "suite").string();
  auto list = test::RunLineage(test::EnvironmentTestHome(), {"bench", "list", "--suite", suite});
  INFO(list.out << list.err);
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.out, Catch::Contains("subset dgm-small: 0 tasks; 10 of its ids have no record here: django__django-10973"));
  // A subset none of whose tasks the suite has selects nothing, loudly: never the whole suite.
  auto empty = test::RunLineage(test::EnvironmentTestHome(), {"bench", "list", "--suite", suite, "--subset", "dgm-small"});
  CHECK(empty.exit_code != 0);
  CHECK_THAT(empty.err, Catch::Contains("has none of the 10 tasks of its subset 'dgm-small'"));
  auto validate = test::RunLineage(test::EnvironmentTestHome(),
                                   {"bench", "validate", "--gold", "--unchanged", "--suite", suite, "--parallel", "2"});
  INFO(validate.out << validate.err);
  CHECK(validate.exit_code == 0);
  CHECK_THAT(validate.out, Catch::Contains("2 tasks, 0 problems"));
  CHECK_THAT(validate.out, Catch::Contains("NOTE unchanged acme__calc-2: passes without the fix (a stale "
                                           "FAIL_TO_PASS entry): tests/test_ops.py::test_sub\n"));
}

// Offline, an OCI image is made here from an environment lineage built, then unpacked as another.
TEST_CASE("swebench: an environment from an OCI image runs like one built from packages") {
  EnvironmentRecipe py39;
  py39.name = "py39";
  {
    test::TempDir suite;
    test::MakeSweBenchSuite(suite.path(), "py39");
    auto tasks = OpenSuite(suite.path())->ListTasks();
    REQUIRE(tasks.ok());
    py39 = *(*tasks)[0].environment;
  }
  auto base = EnsureEnvironment(test::EnvironmentTestHome(), py39);
  REQUIRE(base.ok());
  test::TempDir dir, home;
  const fs::path layout = dir / "layout", bundle = dir / "bundle";
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"/usr/bin/umoci", "init", "--layout", layout.string()},
           {"/usr/bin/umoci", "new", "--image", layout.string() + ":base"},
           {"/usr/bin/umoci", "unpack", "--rootless", "--image", layout.string() + ":base", bundle.string()},
           {"/bin/cp", "-a", base->root.string() + "/.", (bundle / "rootfs").string()},
           {"/usr/bin/umoci", "repack", "--image", layout.string() + ":base", bundle.string()}}) {
    auto r = test::RunCommand(argv);
    INFO(argv[0] << " " << argv[1] << ": " << r.err);
    REQUIRE(r.exit_code == 0);
  }
  EnvironmentRecipe image;
  image.name = "image";
  image.image = "oci:" + layout.string() + ":base";

  // kill -9 of lineage in the middle of the build: nothing half-built counts, no tool keeps running, and the
  // next build starts again from nothing.
  const pid_t building = test::SpawnCommand(test::LineageArgv(home.path(), {"env", "build", "--image", image.image, "--name", "image"}));
  const fs::path tmp = EnvironmentsDir(home.path()) / ("image-" + RecipeHash(image) + ".tmp");
  for (int i = 0; i < 400 && !fs::exists(tmp / "image"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(tmp / "image"));  // skopeo is copying the image
  kill(building, SIGKILL);
  waitpid(building, nullptr, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK_FALSE(test::AnyProcessMatches(layout.string()));  // skopeo and umoci died with it
  CHECK_FALSE(LookupEnvironment(home.path(), image).built);
  auto listed = ListEnvironments(home.path());
  REQUIRE(listed.size() == 1);
  CHECK_FALSE(listed[0].built);

  std::vector<std::string> progress;
  auto env = EnsureEnvironment(home.path(), image, [&](const std::string& line) { progress.push_back(line); });
  INFO(env.status().ToString());
  REQUIRE(env.ok());
  CHECK(env->built);
  CHECK(CheckEnvironment(*env).empty());
  CHECK_FALSE(progress.empty());
  SandboxSpec spec;
  spec.root = env->root.string();
  spec.argv = {"python3", "-c", "import sys; print(sys.version_info[:2])"};
  auto ran = RealSandbox().Run(spec);
  REQUIRE(ran.ok());
  CHECK(ran->stdout_text == "(3, 9)\n");
  // Built once: asked again, nothing is rebuilt.
  progress.clear();
  auto again = EnsureEnvironment(home.path(), image, [&](const std::string& line) { progress.push_back(line); });
  REQUIRE(again.ok());
  CHECK(progress.empty());
  CHECK(again->root == env->root);
}

// The real seed conductor, built as lineage builds it, fixes an instance inside bullseye: its program (built
// on Debian 12) starts through $LINEAGE_HOST_EXEC, reaches the gateway through the sandbox's socket, and its
// bash tool runs the environment's shell and Python. The model is scripted; everything else is real.
TEST_CASE("swebench: the seed conductor resolves an instance inside an older Debian's environment") {
  test::TempDir dir, scratch;
  test::MakeSweBenchSuite(dir / "suite", "py39");
  auto suite = OpenSuite(dir / "suite");
  auto all = suite->ListTasks();
  REQUIRE(all.ok());
  const std::vector<TaskInfo> tasks = {(*all)[0]};  // acme__calc-1: add() subtracts
  const std::string script = R"js({"responses": [
      {"match": "^lineage probe", "text": "ok"},
      {"match": "add\\(\\) subtracts", "tool_calls": [{"name": "bash", "arguments": {"command":
          "sed -i '0,/a - b/s//a + b/' calc/ops.py && python3 -c 'import sys; print(sys.version_info[:2])'"}}]},
      {"match": "\\[exit code \\d+\\]", "tool_calls": [{"name": "finish", "arguments": {"summary": "fixed add()"}}]}],
    "when_exhausted": "repeat_last"})js";
  auto fake = llm::FakeModelServer::Start(script, "conductor in an environment");
  REQUIRE(fake.ok());
  auto tree = ReadTree(fs::path(LINEAGE_SOURCE_DIR) / "agents" / "conductor");
  REQUIRE(tree.ok());
  auto build = BuildAgent(test::EnvironmentTestHome(), *tree, RealSandbox());  // cached per build tree
  REQUIRE(build.ok());
  if (!build->built) FAIL(build->failure.Describe());

  EvaluationOptions options;
  options.runtime.home = scratch.path();
  options.environments_home = test::EnvironmentTestHome();
  options.runtime.models.models.push_back(llm::ModelConfig{});
  llm::ModelConfig& model = options.runtime.models.models.back();
  model.alias = "default";
  model.provider = llm::Provider::kOpenAI;
  model.base_url = (*fake)->url() + "/v1";
  model.model = "gpt-4.1-mini";
  options.attempt = Attempt::kAgent;
  options.agent = &*build->built;
  auto results = EvaluateTasks(*suite, tasks, 1, options, RealSandbox());
  INFO(results.status().ToString());
  REQUIRE(results.ok());
  const TaskResult& r = results->front();
  INFO(r.agent_status << ": " << r.detail << "\n" << r.test_output);
  CHECK(r.agent_status == "finished");
  CHECK(r.outcome == Outcome::kSolved);
}

// Real instances, when the shared data is here: one per environment and repository.
TEST_CASE("swebench: real Django and SymPy instances validate in their environments") {
  const char* env = std::getenv("SWEBENCH_DATA");
  const fs::path data = env && *env ? fs::path(env) : fs::path(LINEAGE_SOURCE_DIR).parent_path() / "shared" / "data" / "swe-bench";
  if (!fs::exists(data / "instances.jsonl")) {
    WARN("skipped: no SWE-bench data at " << data.string() << " (set SWEBENCH_DATA)");
    return;
  }
  auto suite = OpenSuite(data);
  auto all = suite->ListTasks();
  REQUIRE(all.ok());
  std::vector<TaskInfo> tasks;
  for (const TaskInfo& t : *all) {
    if (t.id == "django__django-11099" || t.id == "django__django-15814" || t.id == "sympy__sympy-13480") tasks.push_back(t);
  }
  REQUIRE(tasks.size() == 3);
  test::TempDir scratch;
  for (const TaskResult& r : Validate(*suite, tasks, Attempt::kGold, scratch.path())) {
    INFO(r.task_id << ": " << r.detail << "\n" << r.test_output);
    CHECK(r.outcome == Outcome::kSolved);
  }
  for (const TaskResult& r : Validate(*suite, tasks, Attempt::kUnchanged, scratch.path())) {
    INFO(r.task_id << ": " << r.detail << "\n" << r.test_output);
    CHECK(r.outcome == Outcome::kFailed);
  }
}

}  // namespace
}  // namespace lineage
