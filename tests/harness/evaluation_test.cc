// Staged evaluation (EvaluateStaged over EvaluateTasks) with an evaluator that needs no sandbox: gold and
// unchanged attempts of a suite whose scoring is a file comparison. What the stages run, how a threshold
// gates, which results are kept and what interrupts a stage.
#include <catch2/catch.hpp>
#include <unistd.h>
#include <atomic>
#include <set>

#include "base/files.h"
#include "harness/harness.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;

// Tasks t1..t6. The stub writes answer.txt = 0; the reference writes 42, except for t2 (a wrong reference)
// and t5 (none). Scoring solves a workspace whose answer is 42; t6's scoring is lost by the executor.
class FileSuite : public Evaluator {
 public:
  const std::string& kind() const override { return kind_; }
  Result<std::vector<TaskInfo>> ListTasks() override {
    std::vector<TaskInfo> tasks;
    for (const char* id : {"t1", "t2", "t3", "t4", "t5", "t6"}) tasks.push_back(TaskInfo{id, "text", {}, "", 0});
    tasks[3].unavailable = "no toolchain for t4 here";
    return tasks;
  }
  Result<PreparedTask> Prepare(const std::string& task, const fs::path& workspace) override {
    fs::create_directories(workspace);
    last_workspace = workspace;
    LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(workspace / "answer.txt", "0", 0644));
    return PreparedTask{"solve " + task};
  }
  Status ApplyGold(const std::string& task, const fs::path& workspace) override {
    if (task == "t5") return Status::NotFound("t5 has no reference");
    return WriteFileAtomic(workspace / "answer.txt", task == "t2" ? "41" : "42", 0644);
  }
  Result<TaskScore> Score(const std::string& task, const fs::path& workspace, const ScoreContext&) override {
    ++scored;
    if (task == "t6") return Status::Unavailable("the cluster lost the job scoring t6");
    TaskScore score;
    auto answer = ReadFile(workspace / "answer.txt");
    score.solved = answer.ok() && *answer == "42";
    score.output = score.solved ? "ok" : "wrong answer";
    return score;
  }
  std::atomic<int> scored{0};
  fs::path last_workspace;

 private:
  std::string kind_ = "taskdir";
};

// Never asked to run anything: gold and unchanged attempts score through the evaluator alone.
class NoSandbox : public Sandbox {
 public:
  Result<SandboxResult> Run(const SandboxSpec&) override { return Status::Internal("no sandbox in this test"); }
  std::vector<std::string> EnforcedLimits() const override { return {}; }
  bool RunsOnThisHost() const override { return on_this_host; }
  bool on_this_host = true;
};

struct Staged {
  test::TempDir home;
  FileSuite suite;
  NoSandbox sandbox;
  EvaluationOptions options;
  Staged() {
    options.runtime.home = home.path();
    options.attempt = Attempt::kGold;
  }
  Result<StagedResult> Run(const std::vector<StageSpec>& stages) {
    return EvaluateStaged(stages, [this](const std::string&) -> Result<Evaluator*> { return &suite; }, options, sandbox);
  }
};

StageSpec Stage(int number, std::vector<std::string> tasks, double threshold = 0) {
  StageSpec s;
  s.number = number;
  s.suite = "files";
  s.tasks = std::move(tasks);
  s.threshold = threshold;
  return s;
}

TEST_CASE("a stage under its threshold ends the evaluation there, and one at it goes on to the next stage") {
  Staged below;
  auto stopped = below.Run({Stage(1, {"t1", "t2"}, 0.6), Stage(2, {"t3"})});
  REQUIRE(stopped.ok());
  CHECK(stopped->stage_reached == 1);
  CHECK(stopped->stages.size() == 1);
  CHECK(stopped->results.size() == 2);
  CHECK(stopped->score == Approx(0.5));

  Staged at;
  auto went_on = at.Run({Stage(1, {"t1", "t2"}, 0.5), Stage(2, {"t3"})});
  REQUIRE(went_on.ok());
  CHECK(went_on->stage_reached == 2);
  REQUIRE(went_on->stages.size() == 2);
  CHECK(went_on->stages[1].attempted == 1);
  CHECK(went_on->stages[1].solved == 1);
  CHECK(went_on->score == Approx(2.0 / 3));  // over every stage reached
}

TEST_CASE("a task an earlier stage ran is not run again, and skipped tasks count for nothing") {
  Staged s;
  auto r = s.Run({Stage(1, {"t1", "t4", "t5"}), Stage(2, {"t1", "t3"})});
  REQUIRE(r.ok());
  CHECK(s.suite.scored == 2);  // t1 and t3; t4 cannot run here, t5 has no reference
  REQUIRE(r->results.size() == 4);
  CHECK(r->results[1].outcome == Outcome::kSkipped);
  CHECK(r->results[1].detail == "no toolchain for t4 here");
  CHECK(r->results[2].outcome == Outcome::kSkipped);
  CHECK_THAT(r->results[2].detail, Catch::Contains("no reference solution to try"));
  CHECK(r->stages[0].attempted == 1);
  CHECK(r->stages[1].attempted == 1);
  CHECK(r->results[3].task_id == "t3");
  CHECK(r->score == Approx(1.0));
}

TEST_CASE("recorded results stand and are not scored again, except those the world cut short") {
  Staged s;
  s.options.suite_name = "files";
  Evaluation kept;
  kept.suite = "files";
  kept.task_id = "t2";
  kept.outcome = Outcome::kSolved;  // recorded as solved: it stands, though the reference is wrong now
  Evaluation faulted = kept;
  faulted.task_id = "t3";
  faulted.outcome = Outcome::kFaulted;
  s.options.existing = {kept, faulted};
  auto r = s.Run({Stage(1, {"t1", "t2", "t3"})});
  REQUIRE(r.ok());
  CHECK(s.suite.scored == 2);  // t1 and t3, run again
  CHECK(r->results[1].kept);
  CHECK(r->results[1].outcome == Outcome::kSolved);
  CHECK_FALSE(r->results[2].kept);
  CHECK(r->results[2].outcome == Outcome::kSolved);
  CHECK(r->stages[0].solved == 3);
}

TEST_CASE("a scoring the executor lost interrupts its stage, unjudged and without a stage score") {
  Staged s;
  auto r = s.Run({Stage(1, {"t1", "t6"}), Stage(2, {"t3"})});
  REQUIRE(r.ok());
  REQUIRE(r->interrupted);
  CHECK(r->interrupted->cause == Interruption::Cause::kWorldFault);
  CHECK_THAT(r->interrupted->why, Catch::StartsWith("t6: ") && Catch::Contains("lost the job"));
  CHECK(r->stages.empty());
  CHECK(r->stage_reached == 0);
  CHECK(r->results.size() == 2);
}

TEST_CASE("tasks run in parallel keep their order, and unchanged stubs fail with no patch") {
  Staged s;
  s.options.parallel = 4;
  s.options.attempt = Attempt::kUnchanged;
  std::atomic<int> started{0};
  s.options.on_start = [&](const TaskInfo&) { ++started; };
  auto r = s.Run({Stage(1, {"t1", "t2", "t3", "t5"})});
  REQUIRE(r.ok());
  CHECK(started == 4);
  REQUIRE(r->results.size() == 4);
  const std::vector<std::string> order = {r->results[0].task_id, r->results[1].task_id, r->results[2].task_id,
                                          r->results[3].task_id};
  CHECK(order == std::vector<std::string>{"t1", "t2", "t3", "t5"});
  for (const TaskResult& t : r->results) {
    CHECK(t.outcome == Outcome::kFailed);
    CHECK_FALSE(t.non_empty_patch);
  }
  CHECK(r->score == Approx(0.0));
  // Nothing is left behind in the home.
  CHECK((!fs::exists(s.home / "runs") || fs::is_empty(s.home / "runs")));
}

TEST_CASE("task directories are kept in memory for runs on this host, and what a killed process left there goes") {
  const fs::path memory = "/dev/shm/lineage-" + std::to_string(geteuid());
  Staged s;
  auto r = s.Run({Stage(1, {"t1"})});
  REQUIRE(r.ok());
  if (s.suite.last_workspace.string().rfind(memory.string() + "/", 0) != 0) {
    WARN("skipped: task directories are in " << s.suite.last_workspace.parent_path().string() << " (no room on /dev/shm?)");
    return;
  }
  // A batch of a process that is gone, and one of a process that runs (this one's pid).
  const fs::path dead = memory / "eval-1-2147483600-0", live = memory / ("eval-1-" + std::to_string(getpid()) + "-999");
  fs::create_directories(dead / "t1" / "workspace");
  fs::create_directories(live);
  REQUIRE(s.Run({Stage(1, {"t2"})}).ok());
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
  fs::remove_all(live);
  CHECK_FALSE(fs::exists(s.suite.last_workspace.parent_path().parent_path()));  // the batch is removed after

  // A sandbox whose runs are on other hosts reads task directories through the home, a shared file system.
  s.sandbox.on_this_host = false;
  REQUIRE(s.Run({Stage(1, {"t3"})}).ok());
  CHECK(s.suite.last_workspace.string().rfind((s.home.path() / "runs").string() + "/", 0) == 0);
}

}  // namespace
}  // namespace lineage
