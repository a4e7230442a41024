// Benchmark evaluators: how lineage judges an agent.
//
// An Evaluator is one benchmark suite. It lists its tasks, prepares a task's starting workspace and renders
// the instruction the agent gets, and scores a workspace once the agent has finished. Scoring never trusts
// the workspace: it runs on a copy, in a fresh sandbox, and the suite's hidden tests and protected files are
// laid over that copy first, so an agent's edits to the tests never count.
//
// Four formats are built in (docs/evaluators.md documents each):
//   taskdir   a directory of tasks, each with task.toml, workspace/, tests/ (hidden) and solution/;
//   polyglot  the Aider Polyglot benchmark (Exercism exercises in six languages) read where the user keeps it;
//   swebench  SWE-bench instance records and the repositories of their base commits, each task run in the
//             environment (sandbox/environment.h) its repository and version need;
//   exec      an external program speaking JSON lines, so a benchmark in any language plugs in without
//             recompiling lineage.
// A suite is named in a run configuration ([suites.NAME]) or inline as KIND:PATH ("taskdir:evaluators/starter").
//
// Thread-safety: after OpenEvaluator(), every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "sandbox/environment.h"
#include "sandbox/sandbox.h"

namespace lineage {

// A task whose starting workspace passes its tests by design (the task is to improve working code): an
// unchanged workspace passing proves nothing wrong with its tests.
inline constexpr const char* kRefactoringTag = "refactoring";

struct TaskInfo {
  std::string id;  // unique in the suite; '/'-separated ("cpp/all-your-base")
  std::string language;
  std::vector<std::string> tags;
  std::string unavailable;          // why it cannot run on this machine ("no go toolchain"); empty if it can
  std::int64_t agent_timeout_ms = 0;  // what the suite allows the agent; 0 = the caller's default
  // The root file system the task's agent and tests run in, which the harness builds before the first task
  // needs it; none: the host's.
  std::optional<EnvironmentRecipe> environment;
  std::string workspace_inside = "/workspace";  // where the agent sees its workspace
};

// How a task ended is the harness's to say (archive/outcome.h): an evaluator only scores workspaces.

// What scoring one workspace found.
struct TaskScore {
  bool solved = false;
  std::optional<double> partial;  // fraction of test cases passed, when the tests say
  bool timed_out = false;
  std::string output;             // the tests' output, capped (kMaxTestOutputBytes)
  std::int64_t duration_ms = 0;
  // Tests that the task's fix is meant to make pass and that passed here anyway: on an unchanged
  // workspace, stale entries of the task's list (SWE-bench's FAIL_TO_PASS), which validation names.
  std::vector<std::string> already_passing;
};

inline constexpr std::size_t kMaxTestOutputBytes = 64 * 1024;

// A prepared task: its workspace is written, and this is what the agent is told.
struct PreparedTask {
  std::string instruction;
};

// Where an evaluator may write while scoring, and what it scores in.
struct ScoreContext {
  Sandbox* sandbox = nullptr;
  std::filesystem::path scratch;  // an empty directory the evaluator may use; the caller removes it
  std::string root;               // the task's environment, built (TaskInfo::environment); empty: the host's
};

class Evaluator {
 public:
  virtual ~Evaluator() = default;

  virtual const std::string& kind() const = 0;  // "taskdir", "polyglot", "swebench", "exec"

  // Every task of the suite, sorted by id. Tasks whose toolchain is missing carry `unavailable`.
  virtual Result<std::vector<TaskInfo>> ListTasks() = 0;

  // Named task selections the suite defines ("dgm-stage1" → ids); each entry is an id or a glob.
  virtual Result<std::map<std::string, std::vector<std::string>>> Subsets() {
    return std::map<std::string, std::vector<std::string>>{};
  }

  // Ids that a subset names and the suite has no task for (a subset published for a bigger dataset than
  // the one at hand), by subset name; Subsets() leaves them out.
  virtual std::map<std::string, std::vector<std::string>> MissingFromSubsets() { return {}; }

  // Writes the task's starting files into `workspace` (an empty directory) and renders the instruction.
  virtual Result<PreparedTask> Prepare(const std::string& task, const std::filesystem::path& workspace) = 0;

  // Writes the reference solution over a prepared workspace, for gold validation. NotFound when the
  // suite has none for this task.
  virtual Status ApplyGold(const std::string& task, const std::filesystem::path& workspace) = 0;

  // Scores a finished `workspace` (read, never modified) in a fresh sandbox. An error means the harness
  // could not score at all (the evaluator program crashed, say); failing tests are a TaskScore.
  virtual Result<TaskScore> Score(const std::string& task, const std::filesystem::path& workspace,
                                  const ScoreContext& context) = 0;
};

// A suite: its name and where its tasks come from.
struct SuiteSpec {
  std::string name;  // as configured, or the inline text
  std::string kind;  // taskdir | polyglot | swebench | exec
  std::filesystem::path path;
  std::vector<std::string> args;    // exec: arguments after the program
  std::int64_t request_timeout_ms = 120'000;  // exec: list, prepare and gold requests
};

// Where suites keep what they fetch (a SWE-bench repository cloned from its public URL): the CLI sets
// home/cache/suites. Unset, a suite fetches nothing and says what is missing.
void SetSuiteCacheDir(const std::filesystem::path& dir);
std::filesystem::path SuiteCacheDir();

// Opens a suite; fails when its path is missing or its index cannot be read.
Result<std::unique_ptr<Evaluator>> OpenEvaluator(const SuiteSpec& spec);

}  // namespace lineage
