// The taskdir format: a directory of tasks, each a directory holding task.toml, workspace/, tests/ and
// solution/. A task's id is its directory's path under the suite root ("py/word-count"). Hidden test
// support shared by every task of a language lives in support/<language>/ at the root.
#include <algorithm>
#include <map>
#include <set>

#include "base/files.h"
#include "base/toml_reader.h"
#include "evaluators/formats.h"
#include "evaluators/scoring.h"

namespace lineage {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kTaskKeys = {"instruction", "language",        "tags",          "test",
                                         "requires",    "agent_timeout_s", "test_timeout_s", "tests"};
const std::set<std::string> kSuiteKeys = {"name", "description", "subsets"};

struct TaskDef {
  TaskInfo info;
  fs::path dir;
  std::string instruction;
  std::string test_command;
  std::int64_t test_timeout_ms = 120'000;
  std::vector<std::string> tests;  // the test names its report must show passed; empty: read from tests/
};

Result<TaskDef> ParseTask(const fs::path& root, const fs::path& dir) {
  const fs::path file = dir / "task.toml";
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  LINEAGE_ASSIGN_OR_RETURN(toml::table table, ParseToml(text, file.string()));
  TableReader read(table, file.string() + ":");
  LINEAGE_RETURN_IF_ERROR(read.OnlyKeys(kTaskKeys, "docs/evaluators.md"));
  TaskDef task;
  task.dir = dir;
  task.info.id = fs::relative(dir, root).generic_string();
  LINEAGE_ASSIGN_OR_RETURN(task.instruction, read.String("instruction", "", true));
  if (task.instruction.empty()) return read.Error("instruction", "must not be empty");
  LINEAGE_ASSIGN_OR_RETURN(task.info.language, read.String("language", "", true));
  LINEAGE_ASSIGN_OR_RETURN(task.info.tags, read.StringList("tags"));
  LINEAGE_ASSIGN_OR_RETURN(task.test_command, read.String("test", "", true));
  if (task.test_command.empty()) return read.Error("test", "must not be empty");
  LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> requires_programs, read.StringList("requires"));
  LINEAGE_ASSIGN_OR_RETURN(task.tests, read.StringList("tests"));
  LINEAGE_ASSIGN_OR_RETURN(task.info.agent_timeout_ms, read.Milliseconds("agent_timeout_s", 600'000));
  LINEAGE_ASSIGN_OR_RETURN(task.test_timeout_ms, read.Milliseconds("test_timeout_s", 120'000));
  for (const std::string& program : requires_programs) {
    if (!HasProgram(program)) {
      task.info.unavailable = "'" + program + "' is not installed (task.toml requires it)";
      break;
    }
  }
  if (!fs::is_directory(dir / "workspace")) {
    return Status::InvalidArgument(dir.string() + ": a task needs a workspace/ directory (its starting files)");
  }
  return task;
}

class TaskDirEvaluator : public IndexedEvaluator<TaskDef> {
 public:
  static Result<std::unique_ptr<Evaluator>> Open(const SuiteSpec& spec) {
    std::unique_ptr<TaskDirEvaluator> e(new TaskDirEvaluator());
    const fs::path root = spec.path;
    if (!fs::is_directory(root)) {
      return Status::NotFound("taskdir suite '" + spec.name + "': " + root.string() + " is not a directory");
    }
    LINEAGE_RETURN_IF_ERROR(e->ReadSuiteFile(root));
    e->root_ = root;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_directory() || !fs::exists(it->path() / "task.toml")) continue;
      LINEAGE_ASSIGN_OR_RETURN(TaskDef task, ParseTask(root, it->path()));
      e->tasks_[task.info.id] = std::move(task);
      it.disable_recursion_pending();  // a task's own directories hold no tasks
    }
    if (ec) return Status::IOError("cannot list " + root.string() + ": " + ec.message());
    if (e->tasks_.empty()) {
      return Status::InvalidArgument("taskdir suite '" + spec.name + "': no task.toml under " + root.string());
    }
    return std::unique_ptr<Evaluator>(std::move(e));
  }

  Result<PreparedTask> Prepare(const std::string& id, const fs::path& workspace) override {
    LINEAGE_ASSIGN_OR_RETURN(const TaskDef* task, Find(id));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> files, ReadTree(task->dir / "workspace"));
    LINEAGE_RETURN_IF_ERROR(WriteTree(workspace, files));
    return PreparedTask{task->instruction};
  }

  Status ApplyGold(const std::string& id, const fs::path& workspace) override {
    LINEAGE_ASSIGN_OR_RETURN(const TaskDef* task, Find(id));
    if (!fs::is_directory(task->dir / "solution")) {
      return Status::NotFound("task " + id + " has no solution/ directory");
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> files, ReadTree(task->dir / "solution"));
    return WriteOver(workspace, files);
  }

  Result<TaskScore> Score(const std::string& id, const fs::path& workspace, const ScoreContext& context) override {
    LINEAGE_ASSIGN_OR_RETURN(const TaskDef* task, Find(id));
    TestRun run;
    // Shared test support for the task's language first, then the task's own tests over it.
    for (const fs::path& dir : {root_ / "support" / task->info.language, task->dir / "tests"}) {
      if (!fs::is_directory(dir)) continue;
      LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> files, ReadTree(dir));
      if (dir == task->dir / "tests") {
        run.expected_tests = task->tests.empty() ? ExpectedTestNames(files, task->info.language) : task->tests;
      }
      run.overlay = LayOver(std::move(run.overlay), files);
    }
    run.argv = {"sh", "-c", task->test_command};
    run.timeout_ms = task->test_timeout_ms;
    return RunTests(workspace, run, context);
  }

 private:
  TaskDirEvaluator() : IndexedEvaluator("taskdir") {}

  // suite.toml (optional): a name, a description and named subsets.
  Status ReadSuiteFile(const fs::path& root) {
    const fs::path file = root / "suite.toml";
    if (!fs::exists(file)) return Status::OK();
    LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    LINEAGE_ASSIGN_OR_RETURN(toml::table table, ParseToml(text, file.string()));
    TableReader read(table, file.string() + ":");
    LINEAGE_RETURN_IF_ERROR(read.OnlyKeys(kSuiteKeys, "docs/evaluators.md"));
    LINEAGE_ASSIGN_OR_RETURN(const toml::table* subsets, read.Table("subsets"));
    if (!subsets) return Status::OK();
    TableReader sub(*subsets, file.string() + ": [subsets]");
    for (const auto& [key, node] : *subsets) {
      LINEAGE_ASSIGN_OR_RETURN(subsets_[std::string(key.str())], sub.StringList(std::string(key.str())));
    }
    return Status::OK();
  }

  fs::path root_;
};

}  // namespace

Result<std::unique_ptr<Evaluator>> OpenTaskDir(const SuiteSpec& spec) { return TaskDirEvaluator::Open(spec); }

}  // namespace lineage
