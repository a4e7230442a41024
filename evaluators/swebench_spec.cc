#include "evaluators/swebench_spec.h"

#include <algorithm>
#include <optional>
#include <set>

#include "base/files.h"
#include "base/toml_reader.h"
#include "evaluators/stages.h"

namespace lineage::swebench {

namespace {

const char* const kSee = "docs/evaluators.md, SWE-bench";

// How much of a log line the rules see (ParseTestLog says why there is a bound).
constexpr std::size_t kMaxLineMatched = 2000;

Result<std::regex> Compile(const TableReader& r, const std::string& key, const std::string& text) {
  try {
    return std::regex(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return r.Error(key, "bad regex '" + text + "' (" + e.what() + ")");
  }
}

Result<EnvironmentRecipe> ReadEnvironment(const std::string& name, const toml::table& t, const std::string& where) {
  TableReader r(t, where);
  LINEAGE_RETURN_IF_ERROR(r.OnlyKeys({"suite", "packages", "mirror", "image"}, kSee));
  EnvironmentRecipe recipe;
  recipe.name = name;
  LINEAGE_ASSIGN_OR_RETURN(recipe.suite, r.String("suite", ""));
  LINEAGE_ASSIGN_OR_RETURN(recipe.packages, r.StringList("packages"));
  LINEAGE_ASSIGN_OR_RETURN(recipe.mirror, r.String("mirror", ""));
  LINEAGE_ASSIGN_OR_RETURN(recipe.image, r.String("image", ""));
  if (recipe.image.empty() == recipe.suite.empty()) {
    return r.Error("suite", "give a Debian suite (with packages) or an image, one of the two");
  }
  return recipe;
}

Result<LogParser> ReadParser(const std::string& name, const toml::table& t, const std::string& where) {
  TableReader r(t, where);
  LINEAGE_RETURN_IF_ERROR(r.OnlyKeys({"result", "status_first", "pass", "skip", "pending", "rename", "summary"}, kSee));
  LogParser p;
  p.name = name;
  LINEAGE_ASSIGN_OR_RETURN(std::string result, r.String("result", "", true));
  LINEAGE_ASSIGN_OR_RETURN(p.result, Compile(r, "result", result));
  if (p.result.mark_count() < 2) return r.Error("result", "needs two groups: the test's name and its status word");
  LINEAGE_ASSIGN_OR_RETURN(p.status_first, r.Bool("status_first", false));
  LINEAGE_ASSIGN_OR_RETURN(p.pass, r.StringList("pass"));
  if (p.pass.empty()) return r.Error("pass", "is required: the status words that mean passed");
  LINEAGE_ASSIGN_OR_RETURN(p.skip, r.StringList("skip"));
  LINEAGE_ASSIGN_OR_RETURN(std::string pending, r.String("pending", ""));
  if (!pending.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(p.pending, Compile(r, "pending", pending));
    p.has_pending = true;
  }
  LINEAGE_ASSIGN_OR_RETURN(std::string summary, r.String("summary", ""));
  if (!summary.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(p.summary, Compile(r, "summary", summary));
    p.has_summary = true;
  }
  if (const toml::node* rename = t.get("rename")) {
    const toml::array* rules = rename->as_array();
    if (!rules) return r.Error("rename", "must be a list of [regex, replacement] pairs");
    for (const toml::node& rule : *rules) {
      const toml::array* pair = rule.as_array();
      if (!pair || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string()) {
        return r.Error("rename", "must be a list of [regex, replacement] pairs");
      }
      LINEAGE_ASSIGN_OR_RETURN(std::regex re, Compile(r, "rename", (*pair)[0].as_string()->get()));
      p.rename.emplace_back(std::move(re), (*pair)[1].as_string()->get());
    }
  }
  return p;
}

Result<std::vector<VersionEnvironment>> ReadVersionEnvironments(const TableReader& r, const toml::table& t,
                                                               const std::string& where) {
  std::vector<VersionEnvironment> out;
  const toml::node* node = t.get("environments");
  if (!node) return out;
  const toml::array* list = node->as_array();
  if (!list) return r.Error("environments", "must be a list of { versions = [...], environment = \"NAME\" }");
  for (const toml::node& item : *list) {
    const toml::table* entry = item.as_table();
    if (!entry) return r.Error("environments", "must be a list of { versions = [...], environment = \"NAME\" }");
    TableReader e(*entry, where + " environments");
    LINEAGE_RETURN_IF_ERROR(e.OnlyKeys({"versions", "environment"}, kSee));
    VersionEnvironment ve;
    LINEAGE_ASSIGN_OR_RETURN(ve.versions, e.StringList("versions"));
    LINEAGE_ASSIGN_OR_RETURN(ve.environment, e.String("environment", "", true));
    if (ve.versions.empty()) return e.Error("versions", "is required (a version, or \"*\")");
    out.push_back(std::move(ve));
  }
  return out;
}

Result<RepoSpec> ReadRepo(const std::string& name, const toml::table& t, const std::string& where) {
  TableReader r(t, where);
  LINEAGE_RETURN_IF_ERROR(r.OnlyKeys(
      {"command", "arguments", "strip_prefix", "parser", "env", "timeout_seconds", "environments"}, kSee));
  RepoSpec spec;
  spec.repo = name;
  LINEAGE_ASSIGN_OR_RETURN(spec.command, r.StringList("command"));
  if (spec.command.empty()) return r.Error("command", "is required: the test command's words");
  LINEAGE_ASSIGN_OR_RETURN(std::string arguments, r.String("arguments", "path"));
  if (arguments != "path" && arguments != "module") return r.Error("arguments", "'" + arguments + "' is not path or module");
  spec.arguments = arguments == "module" ? RepoSpec::Arguments::kModule : RepoSpec::Arguments::kPath;
  LINEAGE_ASSIGN_OR_RETURN(spec.strip_prefix, r.String("strip_prefix", ""));
  LINEAGE_ASSIGN_OR_RETURN(spec.parser, r.String("parser", "", true));
  LINEAGE_ASSIGN_OR_RETURN(const toml::table* env, r.Table("env"));
  if (env) {
    for (const auto& [key, value] : *env) {
      if (!value.is_string()) return r.Error("env", std::string(key.str()) + " must be a string");
      spec.env[std::string(key.str())] = value.as_string()->get();
    }
  }
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t timeout, r.Integer("timeout_seconds", spec.timeout_ms / 1000, 1));
  spec.timeout_ms = timeout * 1000;
  LINEAGE_ASSIGN_OR_RETURN(spec.environments, ReadVersionEnvironments(r, t, where));
  return spec;
}

// Each [KIND.NAME] table of `root`'s `kind`, read by `read` into `out` (replacing same-named entries).
template <typename T, typename ReadFn>
Status ReadTables(const toml::table& root, const char* kind, const std::string& source, ReadFn read,
                  std::map<std::string, T>& out) {
  const toml::node* node = root.get(kind);
  if (!node) return Status::OK();
  const toml::table* tables = node->as_table();
  if (!tables) return Status::InvalidArgument(source + ": [" + kind + "] must hold tables");
  for (const auto& [key, value] : *tables) {
    const std::string name(key.str());
    const std::string where = source + ": [" + kind + "." + (name.find('/') != std::string::npos ? "\"" + name + "\"" : name) + "]";
    const toml::table* t = value.as_table();
    if (!t) return Status::InvalidArgument(where + " must be a table");
    LINEAGE_ASSIGN_OR_RETURN(T item, read(name, *t, where));
    out.insert_or_assign(name, std::move(item));
  }
  return Status::OK();
}

std::string Trim(std::string_view s) {
  const std::size_t start = s.find_first_not_of(" \t\r");
  if (start == std::string_view::npos) return "";
  const std::size_t end = s.find_last_not_of(" \t\r");
  return std::string(s.substr(start, end - start + 1));
}

std::string Renamed(const LogParser& parser, std::string name) {
  for (const auto& [re, replacement] : parser.rename) name = std::regex_replace(name, re, replacement);
  return name;
}

// Records `status` under the name as the log prints it and as the renames make it: datasets name a test
// either way (SWE-bench's Django 5.0 records keep Python 3.11's long form, its 4.x records the short one).
void Record(const LogParser& parser, const std::string& name, TestStatus status,
            std::map<std::string, TestStatus>& statuses) {
  statuses[name] = status;
  statuses[Renamed(parser, name)] = status;
}

bool StartsWithAny(const std::string& word, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return word.rfind(p, 0) == 0; });
}

}  // namespace

const char* TestStatusName(TestStatus status) {
  switch (status) {
    case TestStatus::kPassed:
      return "passed";
    case TestStatus::kFailed:
      return "failed";
    case TestStatus::kSkipped:
      return "skipped";
  }
  return "failed";
}

Status ParseSpecTable(std::string_view text, const std::string& source, SpecTable& table) {
  LINEAGE_ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  for (const auto& [key, value] : root) {
    const std::string_view k = key.str();
    if (k != "environments" && k != "parsers" && k != "repos") {
      return Status::InvalidArgument(source + ": unknown table [" + std::string(k) + "] (known: environments, parsers, repos)");
    }
  }
  SpecTable next = table;  // the caller's table changes only when the whole file reads
  LINEAGE_RETURN_IF_ERROR(ReadTables(root, "environments", source, ReadEnvironment, next.environments));
  LINEAGE_RETURN_IF_ERROR(ReadTables(root, "parsers", source, ReadParser, next.parsers));
  LINEAGE_RETURN_IF_ERROR(ReadTables(root, "repos", source, ReadRepo, next.repos));
  for (const auto& [name, repo] : next.repos) {
    const std::string where = source + ": [repos.\"" + name + "\"]";
    if (!next.parsers.count(repo.parser)) {
      return Status::InvalidArgument(where + " parser: no [parsers." + repo.parser + "] table");
    }
    for (const VersionEnvironment& ve : repo.environments) {
      if (!next.environments.count(ve.environment)) {
        return Status::InvalidArgument(where + " environments: no [environments." + ve.environment + "] table");
      }
    }
  }
  table = std::move(next);
  return Status::OK();
}

Status LoadSpecTable(const std::filesystem::path& file, SpecTable& table) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return ParseSpecTable(text, file.string(), table);
}

Result<EnvironmentRecipe> EnvironmentFor(const SpecTable& table, const std::string& repo, const std::string& version) {
  auto spec = table.repos.find(repo);
  if (spec == table.repos.end()) {
    return Status::NotFound("no [repos.\"" + repo + "\"] table in repos.toml: lineage does not know how to test " + repo);
  }
  for (const VersionEnvironment& ve : spec->second.environments) {
    for (const std::string& pattern : ve.versions) {
      if (!GlobMatch(pattern, version)) continue;
      auto env = table.environments.find(ve.environment);
      if (env == table.environments.end()) {
        return Status::InvalidArgument(repo + " " + version + ": no environment '" + ve.environment + "'");
      }
      return env->second;
    }
  }
  return Status::NotFound("no environment for " + repo + " version '" + version + "' (its [repos.\"" + repo +
                          "\"] environments name none)");
}

std::vector<std::string> TestCommand(const RepoSpec& spec, const std::vector<std::string>& test_files) {
  std::vector<std::string> argv = spec.command;
  for (const std::string& file : test_files) {
    if (spec.arguments == RepoSpec::Arguments::kPath) {
      argv.push_back(file);
      continue;
    }
    if (file.size() < 3 || file.compare(file.size() - 3, 3, ".py") != 0) continue;
    std::string module = file.substr(0, file.size() - 3);
    if (!spec.strip_prefix.empty() && module.rfind(spec.strip_prefix, 0) == 0) module = module.substr(spec.strip_prefix.size());
    std::replace(module.begin(), module.end(), '/', '.');
    argv.push_back(module);
  }
  return argv;
}

std::map<std::string, TestStatus> ParseTestLog(const LogParser& parser, std::string_view log) {
  std::map<std::string, TestStatus> statuses;
  std::set<std::string> summarized;       // named by a summary line: failed, whatever comes after
  std::optional<std::string> pending;     // a name whose status comes on a later line
  for (std::size_t start = 0; start < log.size();) {
    std::size_t end = log.find('\n', start);
    if (end == std::string_view::npos) end = log.size();
    // libstdc++'s std::regex recurses once per character and overflows the stack on a line of some 30,000
    // (Django prints a failing subtest's parameters whole: 32,110 characters in django-15789). Every rule
    // finds its name and status near the start of a line, so the matching sees a bounded prefix.
    const std::string line = Trim(log.substr(start, std::min(end - start, kMaxLineMatched)));
    start = end + 1;
    if (line.empty()) continue;
    std::smatch m;
    // Summary lines first: "FAIL: name" also begins with a status word.
    if (parser.has_summary && std::regex_search(line, m, parser.summary)) {
      const std::string name = Trim(m[1].str());
      summarized.insert(name);
      summarized.insert(Renamed(parser, name));
      continue;
    }
    if (std::regex_search(line, m, parser.result)) {
      const std::string name = Trim(m[parser.status_first ? 2 : 1].str());
      const std::string word = m[parser.status_first ? 1 : 2].str();
      const TestStatus status = StartsWithAny(word, parser.pass)   ? TestStatus::kPassed
                                : StartsWithAny(word, parser.skip) ? TestStatus::kSkipped
                                                                   : TestStatus::kFailed;
      if (!name.empty()) Record(parser, name, status, statuses);
      if (pending) Record(parser, *pending, status, statuses);
      pending.reset();
      continue;
    }
    if (parser.has_pending && std::regex_search(line, m, parser.pending)) pending = Trim(m[1].str());
  }
  for (const std::string& name : summarized) statuses[name] = TestStatus::kFailed;
  return statuses;
}

std::string Judgement::Summary() const {
  return "FAIL_TO_PASS " + std::to_string(fail_to_pass_passed) + "/" + std::to_string(fail_to_pass) + ", PASS_TO_PASS " +
         std::to_string(pass_to_pass_passed) + "/" + std::to_string(pass_to_pass);
}

Judgement Judge(const std::map<std::string, TestStatus>& statuses, const std::vector<std::string>& fail_to_pass,
                const std::vector<std::string>& pass_to_pass) {
  Judgement j;
  auto judge = [&](const std::string& name, bool f2p) {
    TestVerdict v{name, f2p, false, ""};
    auto it = statuses.find(name);
    if (it == statuses.end()) {
      v.reason = "not in the test log";
    } else {
      v.passed = it->second == TestStatus::kPassed;
      if (!v.passed) v.reason = TestStatusName(it->second);
    }
    (f2p ? j.fail_to_pass_passed : j.pass_to_pass_passed) += v.passed;
    j.tests.push_back(std::move(v));
  };
  for (const std::string& name : fail_to_pass) judge(name, true);
  for (const std::string& name : pass_to_pass) judge(name, false);
  j.fail_to_pass = static_cast<int>(fail_to_pass.size());
  j.pass_to_pass = static_cast<int>(pass_to_pass.size());
  j.resolved = j.fail_to_pass_passed == j.fail_to_pass && j.pass_to_pass_passed == j.pass_to_pass && j.fail_to_pass > 0;
  return j;
}

}  // namespace lineage::swebench
