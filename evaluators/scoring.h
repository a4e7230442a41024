// Shared by the built-in formats (internal to evaluators/): running tests on a copy of a finished
// workspace in a fresh sandbox, and deciding from the test runner's report whether they passed.
//
// An exit status alone never means solved: a solution that calls _exit(0) at exit, prints a fake summary
// or hooks the test runner must not pass. The tests run with $LINEAGE_REPORT_DIR naming an empty directory
// outside the workspace, created for this run only (so nothing the agent left can be in it), and the test
// command writes its report there: JUnit XML, or the verbose text of `go test -v` or of Rust's libtest for
// the runners that write no XML. A task is solved when the command exits 0 in time and the report shows
// every test the pristine test files hold as passed, and none failed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/safe_tree.h"
#include "evaluators/evaluator.h"

namespace lineage {

// Where the report directory is inside the scoring sandbox; $LINEAGE_REPORT_DIR names it.
inline constexpr const char* kReportDirInside = "/lineage/report";

// What the test command leaves in $LINEAGE_REPORT_DIR.
enum class ReportFormat {
  kJUnit,    // *.xml: testsuite/testcase elements
  kGoTest,   // `go test -v` output: "--- PASS: TestName/subtest (0.00s)"
  kLibtest,  // Rust's libtest output: "test module::name ... ok"
};

struct TestRun {
  // Applied to the agent's files before the overlay: a format drops what it does not let an agent add
  // (a test runner's configuration, say) or rewrites what it lets an agent change only in part.
  std::function<void(std::vector<TreeEntry>& files)> adjust;
  std::vector<TreeEntry> overlay;  // hidden tests and protected files, written over the workspace copy
  std::vector<std::string> argv;   // run in `inside`
  std::string inside = "/workspace";  // where the workspace copy is, inside the sandbox
  std::int64_t timeout_ms = 120'000;
  std::vector<SandboxMount> mounts;  // extra read-only paths the tests need
  std::string stdin_data;
  std::vector<std::string> expected_tests;  // names the report must show passed (ExpectedTestNames)
  ReportFormat report = ReportFormat::kJUnit;
  std::map<std::string, std::string> env;  // added to the sandbox's environment
};

struct TestRunResult {
  SandboxResult process;
  std::vector<TreeEntry> reports;  // what the tests left in $LINEAGE_REPORT_DIR
};

// Reads `workspace` (safely: it is hostile), lays `run.overlay` over a copy of it (in the sandbox's memory;
// `context.scratch` only where the executor needs a directory) and runs the command there in a fresh
// sandbox, with an empty report directory.
Result<TestRunResult> RunOnCopy(const std::filesystem::path& workspace, const TestRun& run, const ScoreContext& context);

// RunOnCopy, judged: solved when the command exits 0 in time and its JUnit reports prove every expected
// test passed (CheckReports).
Result<TaskScore> RunTests(const std::filesystem::path& workspace, const TestRun& run, const ScoreContext& context);

// The names of the tests in `test_files`, by the conventions of `language` (python: def test_*; cpp:
// TEST(name) and Catch2's TEST_CASE("name") outside #if blocks not naming EXERCISM_RUN_ALL_TESTS; go: func
// TestX; rust: #[test] fn x, but not under #[cfg(feature = ...)]; java: @Test void x(); javascript:
// test("name"), xtest("name") and it("name")). Empty when the language is unknown or nothing matched.
std::vector<std::string> ExpectedTestNames(const std::vector<TreeEntry>& test_files, const std::string& language);

struct ReportVerdict {
  bool proven = false;    // every expected test passed, and no test failed or erred
  int expected = 0, passed_expected = 0, failed = 0, testcases = 0;
  std::string summary;    // "5 of 5 expected tests passed", or why nothing is proven
};

// Reads the reports among `reports` in `format` (JUnit: *.xml, testsuite/testcase elements at any depth;
// the text formats: every file) against `expected`: a testcase stands for an expected name when its name
// equals it or continues it with "[", "(", "/" or " " (parametrized, JUnit 5, Go subtest and Catch2
// section forms). Libtest names are matched by their last "::" component (tests in a module).
ReportVerdict CheckReports(const std::vector<TreeEntry>& reports, const std::vector<std::string>& expected,
                           ReportFormat format = ReportFormat::kJUnit);

// `tree` with `overlay` laid over it: same paths replaced; entries in the way of an overlay path (a file
// where the overlay needs a directory, or the reverse) removed.
std::vector<TreeEntry> LayOver(std::vector<TreeEntry> tree, const std::vector<TreeEntry>& overlay);

// True when `program` is an executable in a directory of the sandbox's PATH.
bool HasProgram(const std::string& program);

// Writes `entries` into `dir` (trusted: a workspace lineage just prepared), replacing files at the same
// paths and creating directories as needed.
Status WriteOver(const std::filesystem::path& dir, const std::vector<TreeEntry>& entries);

}  // namespace lineage
