// Suite and stage configuration, task selection and seeded sampling.
#include "evaluators/stages.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "base/environment.h"
#include "base/files.h"
#include "base/toml_reader.h"

namespace lineage {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kSuiteKeys = {"kind", "path", "args", "request_timeout_s"};
const std::set<std::string> kStageKeys = {"suite", "tasks", "subset", "sample", "seed", "threshold"};
const char* const kKinds = "taskdir, polyglot, swebench, exec";

bool IsKnownKind(const std::string& kind) {
  return kind == "taskdir" || kind == "polyglot" || kind == "swebench" || kind == "exec";
}

// A suite's path may begin with "~/" or an environment variable ($NAME or ${NAME}): a shared configuration
// (examples/dgm-polyglot.toml) names a benchmark wherever each user keeps it.
Result<std::string> ExpandPath(const std::string& path) {
  if (path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (!home || !*home) return Status::InvalidArgument("'" + path + "' starts with ~/ but HOME is not set");
    return std::string(home) + path.substr(1);
  }
  if (path.empty() || path[0] != '$') return path;
  const bool braced = path.size() > 1 && path[1] == '{';
  std::size_t end = braced ? path.find('}') : path.find('/');
  if (braced && end == std::string::npos) return Status::InvalidArgument("'" + path + "' has no closing }");
  if (end == std::string::npos) end = path.size();
  const std::string name = path.substr(braced ? 2 : 1, end - (braced ? 2 : 1));
  const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                     std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
  if (!valid) return Status::InvalidArgument("'" + path + "' does not start with a variable name");
  const char* value = std::getenv(name.c_str());
  if (!value || !*value) {
    return Status::InvalidArgument("'" + path + "' names $" + name + ", " +
                                   MissingVariable(name, "which is not set: export " + name + "=DIR (the suite's directory)"));
  }
  return std::string(value) + path.substr(end + (braced ? 1 : 0));
}

Result<SuiteSpec> ParseSuiteTable(const std::string& name, const toml::table& table, const std::string& source,
                                  const fs::path& base_dir) {
  TableReader read(table, source + ": [suites." + name + "]");
  LINEAGE_RETURN_IF_ERROR(read.OnlyKeys(kSuiteKeys, "docs/evaluators.md"));
  SuiteSpec spec;
  spec.name = name;
  LINEAGE_ASSIGN_OR_RETURN(spec.kind, read.String("kind", "", true));
  if (!IsKnownKind(spec.kind)) return read.Error("kind", "'" + spec.kind + "' is not one of " + kKinds);
  LINEAGE_ASSIGN_OR_RETURN(std::string path, read.String("path", "", true));
  if (path.empty()) return read.Error("path", "must not be empty");
  auto expanded = ExpandPath(path);
  if (!expanded.ok()) return read.Error("path", expanded.status().message());
  path = std::move(expanded).value();
  spec.path = fs::path(path).is_absolute() ? fs::path(path) : base_dir / path;
  LINEAGE_ASSIGN_OR_RETURN(spec.args, read.StringList("args"));
  if (!spec.args.empty() && spec.kind != "exec") return read.Error("args", "only an exec suite takes arguments");
  LINEAGE_ASSIGN_OR_RETURN(spec.request_timeout_ms, read.Milliseconds("request_timeout_s", spec.request_timeout_ms));
  return spec;
}

// `where` names the table in messages; empty: [[stages]] #number.
Result<StageSpec> ParseStageTable(int number, const toml::table& table, const EvaluationConfig& config,
                                  const std::string& where = "") {
  TableReader read(table, where.empty() ? config.source + ": [[stages]] #" + std::to_string(number) : where);
  LINEAGE_RETURN_IF_ERROR(read.OnlyKeys(kStageKeys, "docs/evaluators.md"));
  StageSpec stage;
  stage.number = number;
  LINEAGE_ASSIGN_OR_RETURN(stage.suite, read.String("suite", "", true));
  if (!config.suites.count(stage.suite) && stage.suite != "starter") {
    std::string known;
    for (const auto& [name, spec] : config.suites) known += (known.empty() ? "" : ", ") + name;
    return read.Error("suite", "'" + stage.suite + "' is not a suite of this file (suites: " +
                                   (known.empty() ? "none; add a [suites.NAME] table" : known) + ")");
  }
  LINEAGE_ASSIGN_OR_RETURN(stage.tasks, read.StringList("tasks"));
  LINEAGE_ASSIGN_OR_RETURN(stage.subset, read.String("subset", ""));
  if (!stage.tasks.empty() && !stage.subset.empty()) return read.Error("subset", "give tasks or subset, not both");
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t sample, read.Integer("sample", 0, 1, 1'000'000));
  stage.sample = static_cast<int>(sample);
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t seed, read.Integer("seed", 0, 0));
  if (read.Has("seed") && !read.Has("sample")) return read.Error("seed", "only applies with sample");
  stage.seed = static_cast<std::uint64_t>(seed);
  LINEAGE_ASSIGN_OR_RETURN(stage.threshold, read.Number("threshold", 0, 0, 1));
  return stage;
}

// Matches one path component's worth of pattern against text, with '**' free to cross '/'.
bool GlobMatchFrom(std::string_view p, std::string_view t) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      std::string_view rest = p.substr(2);
      for (std::size_t i = 0; i <= t.size(); ++i) {
        if (GlobMatchFrom(rest, t.substr(i))) return true;
      }
      return false;
    }
    if (p[0] == '*') {
      std::string_view rest = p.substr(1);
      for (std::size_t i = 0; i <= t.size(); ++i) {
        if (GlobMatchFrom(rest, t.substr(i))) return true;
        if (i < t.size() && t[i] == '/') return false;
      }
      return false;
    }
    if (t.empty() || (p[0] != '?' && p[0] != t[0]) || (p[0] == '?' && t[0] == '/')) return false;
    p.remove_prefix(1);
    t.remove_prefix(1);
  }
  return t.empty();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) { return GlobMatchFrom(pattern, text); }

Result<EvaluationConfig> ParseEvaluationConfig(std::string_view text, const std::string& source,
                                               const fs::path& base_dir) {
  LINEAGE_ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  EvaluationConfig config;
  config.source = source;
  TableReader top(root, source + ":");
  LINEAGE_ASSIGN_OR_RETURN(const toml::table* suites, top.Table("suites"));
  if (suites) {
    for (const auto& [key, node] : *suites) {
      const std::string name(key.str());
      if (!node.is_table()) return Status::InvalidArgument(source + ": suites." + name + " must be a table");
      LINEAGE_ASSIGN_OR_RETURN(SuiteSpec spec, ParseSuiteTable(name, *node.as_table(), source, base_dir));
      config.suites[name] = std::move(spec);
    }
  }
  if (const toml::node* stages = root.get("stages")) {
    const toml::array* array = stages->as_array();
    if (!array || !array->is_array_of_tables()) {
      return Status::InvalidArgument(source + ": stages must be an array of tables ([[stages]])");
    }
    int number = 0;
    for (const toml::node& node : *array) {
      LINEAGE_ASSIGN_OR_RETURN(StageSpec stage, ParseStageTable(++number, *node.as_table(), config));
      config.stages.push_back(std::move(stage));
    }
  }
  if (const toml::node* finals = root.get("final")) {
    const toml::array* array = finals->as_array();
    if (!array || !array->is_array_of_tables()) {
      return Status::InvalidArgument(source + ": final must be an array of tables ([[final]])");
    }
    int number = 0;
    for (const toml::node& node : *array) {
      // A stage's keys, less threshold (nothing follows it), plus top.
      toml::table table = *node.as_table();
      const std::string where = source + ": [[final]] #" + std::to_string(++number);
      TableReader read(*node.as_table(), where);
      FinalSpec final;
      LINEAGE_ASSIGN_OR_RETURN(std::int64_t top, read.Integer("top", 3, 1, 1000));
      final.top = static_cast<int>(top);
      if (read.Has("threshold")) return read.Error("threshold", "has no meaning for the final evaluation: nothing follows it");
      table.erase("top");
      LINEAGE_ASSIGN_OR_RETURN(final.tasks, ParseStageTable(0, table, config, where));
      config.finals.push_back(std::move(final));
    }
  }
  return config;
}

Result<EvaluationConfig> LoadEvaluationConfig(const fs::path& file) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return ParseEvaluationConfig(text, file.string(), fs::absolute(file).parent_path());
}

fs::path StarterSuiteDir() {
  if (const char* env = std::getenv("LINEAGE_STARTER_SUITE"); env && *env) return env;
  return DataDir() / "evaluators" / "starter";
}

Result<SuiteSpec> ParseInlineSuite(const std::string& text) {
  std::size_t colon = text.find(':');
  std::string kind = colon == std::string::npos ? "" : text.substr(0, colon);
  if (!IsKnownKind(kind) || colon + 1 >= text.size()) {
    return Status::InvalidArgument("suite '" + text + "' is neither a configured suite nor KIND:PATH with KIND one of " +
                                   kKinds + " (for example taskdir:evaluators/starter)");
  }
  SuiteSpec spec;
  spec.name = text;
  spec.kind = kind;
  spec.path = fs::absolute(text.substr(colon + 1));
  return spec;
}

Result<SuiteSpec> ResolveSuite(const std::string& text, const EvaluationConfig* config) {
  if (config) {
    auto it = config->suites.find(text);
    if (it != config->suites.end()) return it->second;
  }
  if (text == "starter") return SuiteSpec{.name = "starter", .kind = "taskdir", .path = StarterSuiteDir()};
  return ParseInlineSuite(text);
}

Result<Evaluator*> SuiteCache::Open(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = open_.find(name);
  if (it != open_.end()) return it->second.get();
  LINEAGE_ASSIGN_OR_RETURN(SuiteSpec spec, ResolveSuite(name, config_));
  LINEAGE_ASSIGN_OR_RETURN(std::unique_ptr<Evaluator> evaluator, OpenEvaluator(spec));
  return (open_[name] = std::move(evaluator)).get();
}

Result<std::vector<TaskInfo>> SelectTasks(const std::vector<TaskInfo>& tasks, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return tasks;
  std::vector<bool> chosen(tasks.size(), false);
  for (const std::string& pattern : patterns) {
    bool matched = false;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (GlobMatch(pattern, tasks[i].id)) chosen[i] = matched = true;
    }
    if (!matched) return Status::InvalidArgument("task '" + pattern + "' matches no task of the suite");
  }
  std::vector<TaskInfo> out;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (chosen[i]) out.push_back(tasks[i]);
  }
  return out;
}

std::vector<TaskInfo> SampleTasks(const std::vector<TaskInfo>& tasks, int n, std::uint64_t seed) {
  if (n <= 0 || static_cast<std::size_t>(n) >= tasks.size()) return tasks;
  // A partial Fisher-Yates shuffle on raw mt19937_64 output: std::uniform_int_distribution differs between
  // standard libraries, and a seed must draw the same tasks everywhere.
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> order(tasks.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
    std::size_t j = i + static_cast<std::size_t>(rng() % (order.size() - i));
    std::swap(order[i], order[j]);
  }
  std::vector<std::size_t> picked(order.begin(), order.begin() + n);
  std::sort(picked.begin(), picked.end());
  std::vector<TaskInfo> out;
  for (std::size_t i : picked) out.push_back(tasks[i]);
  return out;
}

Result<std::vector<std::string>> SubsetPatterns(Evaluator& evaluator, const std::string& suite,
                                               const std::string& name) {
  LINEAGE_ASSIGN_OR_RETURN(auto subsets, evaluator.Subsets());
  auto it = subsets.find(name);
  if (it != subsets.end() && !it->second.empty()) return it->second;
  if (it != subsets.end()) {
    // Selecting nothing would select everything downstream (no patterns): a subset published for a bigger
    // dataset than the one at hand is an error, with where to look.
    const std::size_t absent = evaluator.MissingFromSubsets()[name].size();
    return Status::InvalidArgument("suite '" + suite + "' has none of the " + std::to_string(absent) + " tasks of its subset '" +
                                   name + "' (lineage bench list --suite " + suite + " names them): bring the records " +
                                   "they come from");
  }
  std::string known;
  for (const auto& [subset, ids] : subsets) known += (known.empty() ? "" : ", ") + subset;
  return Status::InvalidArgument("suite '" + suite + "' has no subset '" + name + "' (it has: " +
                                 (known.empty() ? "none" : known) + ")");
}

Result<std::vector<TaskInfo>> StageTasks(const StageSpec& stage, Evaluator& evaluator) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> all, evaluator.ListTasks());
  std::vector<std::string> patterns = stage.tasks;
  const std::string context = "stage " + std::to_string(stage.number);
  if (!stage.subset.empty()) {
    auto subset = SubsetPatterns(evaluator, stage.suite, stage.subset);
    if (!subset.ok()) return subset.status().WithContext(context);
    patterns = std::move(subset).value();
  }
  auto selected = SelectTasks(all, patterns);
  if (!selected.ok()) return selected.status().WithContext(context);
  return SampleTasks(selected.value(), stage.sample, stage.seed);
}

}  // namespace lineage
