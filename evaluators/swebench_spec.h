// SWE-bench's per-repository knowledge, as data (internal to evaluators/): which environment a repository's
// version runs in, how its tests are run on the files a test patch touches, and how their log is read.
//
// lineage ships evaluators/swebench/repos.toml (Django, SymPy, and pytest for the rest); a suite directory's
// own repos.toml is read after it, its tables replacing the shipped ones of the same name. Nothing in C++
// names a repository: a new one is a table.
//
//   [environments.py39]                      # sandbox/environment.h's recipe
//   suite = "bullseye"
//   packages = ["python3", "python3-tz"]
//
//   [parsers.django]
//   result = '^(?:(.+?) \.\.\. )?(ok|OK|FAIL|ERROR|skipped|expected failure|unexpected success)\b'
//   status_first = false                      # true: group 1 is the status word, group 2 the name
//   pass = ["ok", "OK", "expected failure"]   # the status words (group 2) that mean passed; ...
//   skip = ["skipped"]                        # ... and skipped; any other word means failed
//   pending = '^(\w+ \([\w.]+\))$'            # a name alone on its line: the next result is its too
//   rename = [['^(\w+) \(([\w.]+)\.\1\)$', '$1 ($2)']]   # regex, replacement (ECMAScript $n): a test
//                                             # is known by the printed name and the renamed one
//   summary = '^(?:FAIL|ERROR): (.+)$'        # lines naming a failed test
//
//   [repos."django/django"]
//   command = ["python3", "tests/runtests.py", "--verbosity", "2", "--settings=test_sqlite", "--parallel", "1"]
//   arguments = "module"      # how a test file becomes an argument: "path" (as is) or "module"
//   strip_prefix = "tests/"   # "module": tests/a/b.py -> a.b
//   parser = "django"
//   env = { PYTHONWARNINGS = "ignore" }
//   timeout_seconds = 1800
//   environments = [{ versions = ["3.0", "3.1", "3.2"], environment = "py39" },
//                   { versions = ["*"], environment = "py311" }]   # first match wins; globs allowed
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "sandbox/environment.h"

namespace lineage::swebench {

enum class TestStatus { kPassed, kFailed, kSkipped };
const char* TestStatusName(TestStatus status);  // "passed", "failed", "skipped"

struct LogParser {
  std::string name;
  std::regex result;                 // group 1: the test's name (may be empty: the pending one's); group 2: its status word
  bool status_first = false;         // the groups the other way round (pytest's "PASSED name")
  std::vector<std::string> pass, skip;
  bool has_pending = false;
  std::regex pending;                // group 1: a name whose result comes on the next result line
  std::vector<std::pair<std::regex, std::string>> rename;  // a name is recorded as printed and as renamed
  bool has_summary = false;
  std::regex summary;                // group 1: a failed test's name
};

struct VersionEnvironment {
  std::vector<std::string> versions;  // exact versions or globs ("4.*", "*")
  std::string environment;
};

struct RepoSpec {
  std::string repo;  // "django/django"
  std::vector<std::string> command;
  enum class Arguments { kPath, kModule } arguments = Arguments::kPath;
  std::string strip_prefix;
  std::string parser;
  std::map<std::string, std::string> env;
  std::int64_t timeout_ms = 1'800'000;
  std::vector<VersionEnvironment> environments;
};

struct SpecTable {
  std::map<std::string, EnvironmentRecipe> environments;  // each recipe's name is its table's
  std::map<std::string, LogParser> parsers;
  std::map<std::string, RepoSpec> repos;
};

// Reads a repos.toml into `table`, replacing tables of the same name. Errors name the file, the table and
// the key (a bad regex included), and the table is left as it was.
Status LoadSpecTable(const std::filesystem::path& file, SpecTable& table);
Status ParseSpecTable(std::string_view text, const std::string& source, SpecTable& table);

// The environment `repo` at `version` runs in; NotFound names the repository and version when no table
// says, InvalidArgument when the named environment is not defined.
Result<EnvironmentRecipe> EnvironmentFor(const SpecTable& table, const std::string& repo, const std::string& version);

// The command that runs the tests of `test_files` (paths in the repository, as a test patch names them).
std::vector<std::string> TestCommand(const RepoSpec& spec, const std::vector<std::string>& test_files);

// Every test the log reports, with its status; when a test is reported twice, the later report wins, except
// that a summary line always marks its test failed. The rules see each line's first 2,000 characters.
std::map<std::string, TestStatus> ParseTestLog(const LogParser& parser, std::string_view log);

struct TestVerdict {
  std::string name;
  bool fail_to_pass = false;  // else pass-to-pass
  bool passed = false;
  std::string reason;         // when not passed: "failed", "skipped", "not in the test log"
};

struct Judgement {
  bool resolved = false;  // every FAIL_TO_PASS and every PASS_TO_PASS test passed
  int fail_to_pass = 0, fail_to_pass_passed = 0, pass_to_pass = 0, pass_to_pass_passed = 0;
  std::vector<TestVerdict> tests;  // FAIL_TO_PASS first, then PASS_TO_PASS, in list order
  std::string Summary() const;     // "FAIL_TO_PASS 2/3, PASS_TO_PASS 40/40"
};

// The official rule: resolved when every test of both lists passed. A skipped test is not a pass; a listed
// test the log never mentions fails with the reason "not in the test log".
Judgement Judge(const std::map<std::string, TestStatus>& statuses, const std::vector<std::string>& fail_to_pass,
                const std::vector<std::string>& pass_to_pass);

}  // namespace lineage::swebench
