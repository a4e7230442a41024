// Which suites a run evaluates on, and in which stages.
//
// The run configuration (TOML) names suites and lists stages:
//
//   [suites.starter]
//   kind = "taskdir"                 # taskdir | polyglot | exec
//   path = "evaluators/starter"      # relative paths are relative to the configuration file
//
//   [[stages]]
//   suite = "starter"
//   tasks = ["py/*"]                 # ids or globs; or subset = "NAME"; or neither (the whole suite)
//   sample = 4                       # optional: a random sample of that many, drawn with `seed`
//   seed = 1
//   threshold = 0.5                  # score needed (over every task attempted so far) to go on
//
// Stage k runs only the tasks that no earlier stage ran. An agent's score is solved / attempted over the
// stages it reached; tasks skipped for a missing toolchain are not attempted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "evaluators/evaluator.h"

namespace lineage {

struct StageSpec {
  int number = 1;  // 1-based, in file order
  std::string suite;
  std::vector<std::string> tasks;  // ids or glob patterns
  std::string subset;              // a subset the suite defines
  int sample = 0;                  // 0 = every selected task
  std::uint64_t seed = 0;
  double threshold = 0;            // 0 = always go on
};

// [[final]]: a held-out set the run's top agents are evaluated on once it ends (or `lineage run final`).
// Its results are reported apart and never count toward a score, nor reach a diagnosis.
struct FinalSpec {
  StageSpec tasks;  // suite, tasks | subset, sample, seed (no threshold)
  int top = 3;      // the run's best admitted agents, by the lower end of their interval
};

struct EvaluationConfig {
  std::string source;  // the file, for messages
  std::map<std::string, SuiteSpec> suites;
  std::vector<StageSpec> stages;
  std::vector<FinalSpec> finals;
};

// Reads the [suites.*] tables and [[stages]] of a run configuration; other top-level keys are left to the
// run configuration's own parser. Errors name the file, the table and the key.
Result<EvaluationConfig> LoadEvaluationConfig(const std::filesystem::path& file);
Result<EvaluationConfig> ParseEvaluationConfig(std::string_view text, const std::string& source,
                                               const std::filesystem::path& base_dir);

// Parses an inline suite, "KIND:PATH". InvalidArgument names the text and the known kinds.
Result<SuiteSpec> ParseInlineSuite(const std::string& text);

// What --suite names: a suite of `config` (may be null), else an inline KIND:PATH, else the built-in
// "starter" suite shipped with lineage.
Result<SuiteSpec> ResolveSuite(const std::string& text, const EvaluationConfig* config);

// Opens suites by name (ResolveSuite, then OpenEvaluator) once each and keeps them open. Thread-safe.
// `config` may be null; when set it must outlive the cache.
class SuiteCache {
 public:
  explicit SuiteCache(const EvaluationConfig* config) : config_(config) {}
  Result<Evaluator*> Open(const std::string& name);

 private:
  const EvaluationConfig* config_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Evaluator>> open_;
};

// The directory of the starter suite: $LINEAGE_STARTER_SUITE, else DataDir()/evaluators/starter.
std::filesystem::path StarterSuiteDir();

// Tasks matching any of `patterns` (ids, or globs where '*' does not cross '/' and '**' does), in suite
// order. A pattern that matches nothing is an InvalidArgument naming it. No patterns selects every task.
Result<std::vector<TaskInfo>> SelectTasks(const std::vector<TaskInfo>& tasks, const std::vector<std::string>& patterns);

// `n` tasks drawn without replacement by a generator seeded with `seed`: the same seed always draws the
// same tasks, on any machine. Returned in suite order.
std::vector<TaskInfo> SampleTasks(const std::vector<TaskInfo>& tasks, int n, std::uint64_t seed);

// The ids and globs of the subset `name` of `evaluator` (the suite named `suite`); an InvalidArgument
// naming the subsets the suite has when it has no such subset.
Result<std::vector<std::string>> SubsetPatterns(Evaluator& evaluator, const std::string& suite, const std::string& name);

// The tasks of one stage of `evaluator`'s suite, before removing those earlier stages ran.
Result<std::vector<TaskInfo>> StageTasks(const StageSpec& stage, Evaluator& evaluator);

// True when `text` matches `pattern` ('*' within one path component, '**' across components, '?').
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace lineage
