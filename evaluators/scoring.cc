#include "evaluators/scoring.h"

#include <unistd.h>

#include <algorithm>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

#include "base/files.h"
#include "evaluators/test_guard.h"

namespace lineage {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kScoringDiskBytes = 1ull << 30;  // a test build's objects, in the sandbox's memory
constexpr std::size_t kMaxListed = 5;                     // missing test names named in a summary

// Test output is kept from both ends: a compiler's first error and a test runner's summary both matter.
std::string CapOutput(const std::string& text) {
  if (text.size() <= kMaxTestOutputBytes) return text;
  const std::size_t half = kMaxTestOutputBytes / 2;
  return text.substr(0, half) + "\n[lineage: " + std::to_string(text.size() - 2 * half) +
         " bytes of test output elided]\n" + text.substr(text.size() - half);
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Testcase {
  std::string name;
  enum class Outcome { kPassed, kFailed, kSkipped } outcome = Outcome::kPassed;
};

void CollectTestcases(const boost::property_tree::ptree& node, std::vector<Testcase>& out) {
  for (const auto& [tag, child] : node) {
    if (tag == "testcase") {
      Testcase t;
      t.name = child.get<std::string>("<xmlattr>.name", "");
      for (const auto& [inner, ignored] : child) {
        if (inner == "failure" || inner == "error") t.outcome = Testcase::Outcome::kFailed;
        if (inner == "skipped" && t.outcome == Testcase::Outcome::kPassed) t.outcome = Testcase::Outcome::kSkipped;
      }
      out.push_back(std::move(t));
    } else if (tag != "<xmlattr>") {
      CollectTestcases(child, out);
    }
  }
}

// True when testcase `name` stands for the expected test `expected`.
bool Stands(const std::string& name, const std::string& expected) {
  if (name.compare(0, expected.size(), expected) != 0) return false;
  return name.size() == expected.size() || std::string("[(/ ").find(name[expected.size()]) != std::string::npos;
}

// Every capture of `pattern` (group 1, or group 2 when the pattern captures a quote first) in each line.
void Matches(const std::string& text, const std::regex& pattern, int group, std::vector<std::string>& out) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, pattern)) out.push_back(m[group].str());
  }
}

// The lines of C++ source the test build compiles, as far as test names go: a block under #if, #ifdef or
// #ifndef counts only when its condition names EXERCISM_RUN_ALL_TESTS, the one macro the build defines (a
// benchmark behind EXERCISM_INCLUDE_BENCHMARK, or #if 0, is not a test that runs).
std::string CompiledLines(const std::string& text) {
  static const std::regex kIf(R"(^[ \t]*#[ \t]*if(n?def)?\b(.*))");
  static const std::regex kElse(R"(^[ \t]*#[ \t]*(else|elif)\b)");
  static const std::regex kEndif(R"(^[ \t]*#[ \t]*endif\b)");
  std::vector<bool> live;  // per open block: are its lines compiled
  std::istringstream lines(text);
  std::string out;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kIf)) {
      const bool names_it = m[2].str().find("EXERCISM_RUN_ALL_TESTS") != std::string::npos;
      live.push_back(m[1].str() == "ndef" ? !names_it : names_it);
    } else if (std::regex_search(line, kElse)) {
      if (!live.empty()) live.back() = !live.back();
    } else if (std::regex_search(line, kEndif)) {
      if (!live.empty()) live.pop_back();
    } else if (std::all_of(live.begin(), live.end(), [](bool b) { return b; })) {
      out += line + "\n";
    }
  }
  return out;
}

// Rust's #[test] functions, leaving out those a #[cfg(feature = ...)] attribute on them or on a module
// around them compiles out: the tests run with no feature enabled, as DGM's harness runs them.
void RustTests(const std::string& text, std::vector<std::string>& out) {
  static const std::regex kAttribute(R"(^[ \t]*#\[)");
  static const std::regex kTest(R"(^[ \t]*#\[test\])");
  static const std::regex kFeatureGate(R"(^[ \t]*#\[cfg\([ \t]*(?:all\(|any\()?[ \t]*feature\b)");
  static const std::regex kFn(R"(^[ \t]*(?:pub[ \t]+)?(?:async[ \t]+)?fn[ \t]+(\w+))");
  static const std::regex kMod(R"(^[ \t]*(?:pub[ \t]+)?mod[ \t]+\w+[ \t]*\{)");
  std::istringstream lines(text);
  bool test = false, gated = false;
  int skip_depth = 0;  // > 0: inside a gated module, this many braces deep
  for (std::string line; std::getline(lines, line);) {
    if (skip_depth > 0) {
      skip_depth += static_cast<int>(std::count(line.begin(), line.end(), '{')) -
                    static_cast<int>(std::count(line.begin(), line.end(), '}'));
      continue;
    }
    std::smatch m;
    if (std::regex_search(line, kAttribute)) {
      test = test || std::regex_search(line, kTest);
      gated = gated || std::regex_search(line, kFeatureGate);
      continue;
    }
    if (gated && std::regex_search(line, kMod)) {
      skip_depth = static_cast<int>(std::count(line.begin(), line.end(), '{')) -
                   static_cast<int>(std::count(line.begin(), line.end(), '}'));
    } else if (test && !gated && std::regex_search(line, m, kFn)) {
      out.push_back(m[1].str());
    }
    // Blank lines and comments between an attribute and its item keep the attribute.
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line.compare(first, 2, "//") != 0) test = gated = false;
  }
}

// Names declared on the line after a marker line (@Test void x()).
void AfterMarker(const std::string& text, const std::regex& marker, const std::regex& declaration,
                 std::vector<std::string>& out) {
  std::istringstream lines(text);
  bool marked = false;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, marker)) {
      marked = true;
    } else if (marked && std::regex_search(line, m, declaration)) {
      out.push_back(m[1].str());
      marked = false;
    }
  }
}

}  // namespace

std::vector<TreeEntry> LayOver(std::vector<TreeEntry> tree, const std::vector<TreeEntry>& overlay) {
  std::map<std::string, TreeEntry> by_path;
  for (TreeEntry& e : tree) by_path[e.path] = std::move(e);
  for (const TreeEntry& o : overlay) {
    for (auto it = by_path.begin(); it != by_path.end();) {
      bool in_the_way = it->first == o.path || IsUnder(it->first, o.path) || IsUnder(o.path, it->first);
      it = in_the_way ? by_path.erase(it) : std::next(it);
    }
    by_path[o.path] = o;
  }
  std::vector<TreeEntry> out;
  out.reserve(by_path.size());
  for (auto& [path, e] : by_path) out.push_back(std::move(e));
  return out;
}

std::vector<std::string> ExpectedTestNames(const std::vector<TreeEntry>& test_files, const std::string& language) {
  static const std::regex kPython(R"(^[ \t]*(?:async[ \t]+)?def[ \t]+(test\w*)[ \t]*\()");
  static const std::regex kCppTest(R"(^[ \t]*TEST[ \t]*\([ \t]*(\w+)[ \t]*\))");
  static const std::regex kCatch(R"re(^[ \t]*TEST_CASE[ \t]*\([ \t]*"((?:[^"\\]|\\.)*)")re");
  static const std::regex kGo(R"(^func[ \t]+(Test\w*)[ \t]*\([ \t]*\w+[ \t]+\*testing\.T[ \t]*\))");
  static const std::regex kJavaMarker(R"(^[ \t]*@Test\b)");
  static const std::regex kJavaMethod(R"(\bvoid[ \t]+(\w+)[ \t]*\()");
  static const std::regex kJs(R"re(^[ \t]*(?:x?test|it)[ \t]*\([ \t]*(['"`])(.*?)\1)re");
  std::vector<std::string> names;
  for (const TreeEntry& file : test_files) {
    if (file.kind == TreeEntry::Kind::kSymlink) continue;
    if (language == "python" && EndsWith(file.path, ".py")) Matches(file.data, kPython, 1, names);
    if (language == "cpp") {
      const std::string compiled = CompiledLines(file.data);
      Matches(compiled, kCppTest, 1, names);
      Matches(compiled, kCatch, 1, names);
    }
    if (language == "go" && EndsWith(file.path, "_test.go")) Matches(file.data, kGo, 1, names);
    if (language == "rust" && EndsWith(file.path, ".rs")) RustTests(file.data, names);
    if (language == "java" && EndsWith(file.path, ".java")) AfterMarker(file.data, kJavaMarker, kJavaMethod, names);
    if (language == "javascript" && EndsWith(file.path, ".js")) Matches(file.data, kJs, 2, names);
  }
  return names;
}

namespace {

// The testcases of JUnit XML reports; false (with v.summary saying why) when a report cannot be read.
bool ReadJUnit(const std::vector<TreeEntry>& reports, std::vector<Testcase>& testcases, int& files, ReportVerdict& v) {
  for (const TreeEntry& report : reports) {
    if (report.kind == TreeEntry::Kind::kSymlink || !EndsWith(report.path, ".xml")) continue;
    ++files;
    if (XmlNesting(report.data) > kMaxNesting) {
      v.summary = "the test report " + report.path + " nests deeper than " + std::to_string(kMaxNesting) + " elements";
      return false;
    }
    try {
      std::istringstream in(report.data);
      boost::property_tree::ptree tree;
      boost::property_tree::read_xml(in, tree);
      CollectTestcases(tree, testcases);
    } catch (const std::exception& e) {
      v.summary = "the test report " + report.path + " is not valid XML (" + e.what() + ")";
      return false;
    }
  }
  return true;
}

// The testcases of a test runner's verbose text output: each line `pattern` matches is one, its name in
// group `name_group` and its verdict in group `verdict_group` (`passed` / `skipped` spell the good ones).
void ReadText(const std::vector<TreeEntry>& reports, const std::regex& pattern, int name_group, int verdict_group,
              const std::string& passed, const std::string& skipped, std::vector<Testcase>& testcases, int& files) {
  for (const TreeEntry& report : reports) {
    if (report.kind == TreeEntry::Kind::kSymlink) continue;
    ++files;
    std::istringstream lines(report.data);
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, pattern)) continue;
      Testcase t;
      t.name = m[name_group].str();
      const std::string verdict = m[verdict_group].str();
      t.outcome = verdict == passed    ? Testcase::Outcome::kPassed
                  : verdict == skipped ? Testcase::Outcome::kSkipped
                                       : Testcase::Outcome::kFailed;
      testcases.push_back(std::move(t));
    }
  }
}

}  // namespace

ReportVerdict CheckReports(const std::vector<TreeEntry>& reports, const std::vector<std::string>& expected,
                           ReportFormat format) {
  // go test -v: "--- PASS: TestX (0.00s)", subtests indented. libtest: "test tests::x ... ok".
  static const std::regex kGoLine(R"(^[ \t]*--- (PASS|FAIL|SKIP): (\S+) \()");
  static const std::regex kLibtestLine(R"(^test (?:\S+::)?(\S+) \.\.\. (ok|FAILED|ignored)\b)");
  ReportVerdict v;
  v.expected = static_cast<int>(expected.size());
  std::vector<Testcase> testcases;
  int files = 0;
  switch (format) {
    case ReportFormat::kJUnit:
      if (!ReadJUnit(reports, testcases, files, v)) return v;
      break;
    case ReportFormat::kGoTest:
      ReadText(reports, kGoLine, 2, 1, "PASS", "SKIP", testcases, files);
      break;
    case ReportFormat::kLibtest:
      ReadText(reports, kLibtestLine, 1, 2, "ok", "ignored", testcases, files);
      break;
  }
  v.testcases = static_cast<int>(testcases.size());
  if (files == 0) {
    v.summary = "the tests wrote no report to $LINEAGE_REPORT_DIR: an exit status alone never means solved";
    return v;
  }
  std::string missing;
  int missing_count = 0;
  for (const std::string& name : expected) {
    bool passed = std::any_of(testcases.begin(), testcases.end(), [&](const Testcase& t) {
      return t.outcome == Testcase::Outcome::kPassed && Stands(t.name, name);
    });
    if (passed) {
      ++v.passed_expected;
    } else if (missing_count++ < static_cast<int>(kMaxListed)) {
      missing += (missing.empty() ? "" : ", ") + name;
    }
  }
  v.failed = static_cast<int>(std::count_if(testcases.begin(), testcases.end(), [](const Testcase& t) {
    return t.outcome == Testcase::Outcome::kFailed;
  }));
  v.summary = std::to_string(v.passed_expected) + " of " + std::to_string(v.expected) + " expected tests passed";
  if (v.failed > 0) v.summary += ", " + std::to_string(v.failed) + " failed";
  if (missing_count > 0) {
    v.summary += "; not passed: " + missing + (missing_count > static_cast<int>(kMaxListed) ? ", ..." : "");
  }
  if (expected.empty()) v.summary = "cannot tell which tests the task holds: no test names found in its test files";
  v.proven = !expected.empty() && v.passed_expected == v.expected && v.failed == 0;
  return v;
}

Result<TestRunResult> RunOnCopy(const fs::path& workspace, const TestRun& run, const ScoreContext& context) {
  if (!context.sandbox) return Status::Internal("scoring needs a sandbox");
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ReadTree(workspace));
  if (run.adjust) run.adjust(tree);
  const fs::path copy = context.scratch / "workspace", reports = context.scratch / "report";
  std::vector<TreeEntry> overlay = run.overlay;
  GuardCppTests(overlay);
  // The copy is written from memory into the sandbox's own file system, not to the host's disk first: a
  // Django tree is 6,000 files, and the disk is the slow part of lineage's work on a task.
  auto files = std::make_shared<const std::vector<TreeEntry>>(LayOver(std::move(tree), overlay));
  std::error_code ec;
  fs::create_directories(reports, ec);
  if (ec) return Status::IOError("cannot create " + reports.string() + ": " + ec.message());
  const fs::path pytest_guard = context.scratch / "pytest_guard.py", jest_guard = context.scratch / "jest_guard.js";
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(pytest_guard, kPytestGuard));
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(jest_guard, kJestGuard));
  SandboxSpec spec;
  spec.argv = run.argv;
  spec.workdir = run.inside;
  spec.root = context.root;
  // The workspace first: later mounts may sit inside it (node_modules, say).
  spec.mounts = {{SandboxMount::Kind::kScratch, copy.string(), run.inside, 0, std::move(files)},
                 {SandboxMount::Kind::kReadWrite, reports.string(), kReportDirInside},
                 {SandboxMount::Kind::kReadOnly, pytest_guard.string(), kPytestGuardInside},
                 {SandboxMount::Kind::kReadOnly, jest_guard.string(), kJestGuardInside}};
  spec.mounts.insert(spec.mounts.end(), run.mounts.begin(), run.mounts.end());
  for (const auto& [name, value] : run.env) spec.env[name] = value;
  spec.env["LINEAGE_REPORT_DIR"] = kReportDirInside;
  spec.stdin_data = run.stdin_data;
  spec.limits.wall_ms = run.timeout_ms;
  spec.limits.cpu_seconds = std::max<std::int64_t>(10, run.timeout_ms / 1000 * 2);
  spec.limits.output_bytes = 4ull << 20;
  spec.limits.disk_bytes = kScoringDiskBytes;
  TestRunResult out;
  LINEAGE_ASSIGN_OR_RETURN(out.process, context.sandbox->Run(spec));
  TreeLimits limits;
  limits.max_file_bytes = 16ull << 20;
  limits.max_total_bytes = 64ull << 20;
  auto left = ReadTree(reports, limits);
  if (left.ok()) out.reports = std::move(left).value();  // unreadable reports prove nothing
  return out;
}

Result<TaskScore> RunTests(const fs::path& workspace, const TestRun& run, const ScoreContext& context) {
  LINEAGE_ASSIGN_OR_RETURN(TestRunResult r, RunOnCopy(workspace, run, context));
  const ReportVerdict verdict = CheckReports(r.reports, run.expected_tests, run.report);
  TaskScore score;
  score.solved = r.process.ok() && verdict.proven;
  score.timed_out = r.process.limit == SandboxLimit::kWall || r.process.limit == SandboxLimit::kCpu;
  if (verdict.expected > 0) score.partial = static_cast<double>(verdict.passed_expected) / verdict.expected;
  std::string output = r.process.stdout_text;
  if (!r.process.stderr_text.empty()) output += (output.empty() ? "" : "\n") + r.process.stderr_text;
  if (r.process.limit) {
    output += std::string("\n[lineage: the tests hit the ") + SandboxLimitName(*r.process.limit) + " limit]\n";
  }
  score.output = CapOutput(output) + "\n[lineage: " + verdict.summary + "]\n";
  score.duration_ms = r.process.wall_ms;
  return score;
}

bool HasProgram(const std::string& program) { return !FindInPath(program).empty(); }

Status WriteOver(const std::filesystem::path& dir, const std::vector<TreeEntry>& entries) {
  for (const TreeEntry& e : entries) {
    LINEAGE_RETURN_IF_ERROR(ValidateTreePath(e.path));
    const fs::path target = dir / e.path;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (fs::is_symlink(target, ec) || fs::exists(target, ec)) fs::remove_all(target, ec);
    if (e.kind == TreeEntry::Kind::kSymlink) {
      fs::create_symlink(e.data, target, ec);
      if (ec) return Status::IOError("cannot create symlink " + target.string() + ": " + ec.message());
      continue;
    }
    LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(target, e.data));
    if (e.kind == TreeEntry::Kind::kExecutable) {
      fs::permissions(target, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                      fs::perm_options::add, ec);
    }
  }
  return Status::OK();
}

}  // namespace lineage
