// Judging test reports, finding the tests a task holds, and laying hidden files over a workspace.
#include <catch2/catch.hpp>

#include "evaluators/scoring.h"

namespace lineage {
namespace {

std::vector<TreeEntry> Report(const std::string& xml) { return {{"junit.xml", TreeEntry::Kind::kFile, xml}}; }

TEST_CASE("a report proves a task only when every expected test passed and none failed") {
  const std::string all_pass = R"(<testsuites><testsuite name="pytest" tests="3">
    <testcase classname="t" name="test_a" time="0.1"/>
    <testcase classname="t" name="test_b[1]"/><testcase classname="t" name="test_b[2]"/>
    <testcase classname="t" name="test_c"><system-out>noise</system-out></testcase>
    </testsuite></testsuites>)";
  ReportVerdict v = CheckReports(Report(all_pass), {"test_a", "test_b", "test_c"});
  CHECK(v.proven);
  CHECK(v.summary == "3 of 3 expected tests passed");

  const std::string one_fails = R"(<testsuite><testcase name="test_a"/><testcase name="test_b"><failure message="x"/></testcase></testsuite>)";
  v = CheckReports(Report(one_fails), {"test_a", "test_b"});
  CHECK_FALSE(v.proven);
  CHECK(v.passed_expected == 1);
  CHECK(v.summary == "1 of 2 expected tests passed, 1 failed; not passed: test_b");

  // Tests missing from the report (deselected, skipped, never collected) are not passed.
  const std::string partial = R"(<testsuite><testcase name="test_a"/><testcase name="test_c"><skipped/></testcase></testsuite>)";
  v = CheckReports(Report(partial), {"test_a", "test_b", "test_c"});
  CHECK_FALSE(v.proven);
  CHECK(v.summary == "1 of 3 expected tests passed; not passed: test_b, test_c");

  // A passing report of other tests proves nothing about these.
  CHECK_FALSE(CheckReports(Report(R"(<testsuite><testcase name="test_fake"/></testsuite>)"), {"test_a"}).proven);
}

TEST_CASE("no report, a broken one, or no known tests prove nothing") {
  ReportVerdict none = CheckReports({}, {"test_a"});
  CHECK_FALSE(none.proven);
  CHECK_THAT(none.summary, Catch::Contains("no report"));
  ReportVerdict broken = CheckReports(Report("<testsuite><testcase name="), {"test_a"});
  CHECK_FALSE(broken.proven);
  CHECK_THAT(broken.summary, Catch::Contains("not valid XML"));
  ReportVerdict unknown = CheckReports(Report(R"(<testsuite><testcase name="x"/></testsuite>)"), {});
  CHECK_FALSE(unknown.proven);
  CHECK_THAT(unknown.summary, Catch::Contains("cannot tell which tests"));
}

TEST_CASE("a report nested deeply enough to overflow a recursive parser is refused, not parsed") {
  std::string deep;
  for (int i = 0; i < 1'000'000; ++i) deep += "<a>";
  ReportVerdict v = CheckReports(Report("<testsuite><testcase name=\"test_a\"/>" + deep + "</testsuite>"), {"test_a"});
  CHECK_FALSE(v.proven);
  CHECK_THAT(v.summary, Catch::Contains("nests deeper than"));
}

TEST_CASE("report names stand for expected names in parametrized, JUnit 5 and Catch2 section forms") {
  const std::string xml = R"xml(<testsuites><testsuite>
    <testcase name="testAdd()"/><testcase name="leap year/section one"/><testcase name="test_x[param]"/>
    </testsuite></testsuites>)xml";
  CHECK(CheckReports(Report(xml), {"testAdd", "leap year", "test_x"}).proven);
  CHECK_FALSE(CheckReports(Report(xml), {"testAd"}).proven);  // a prefix of a longer name is not it
}

TEST_CASE("the tests a task holds are read from its test files by the language's conventions") {
  auto names = [](const std::string& path, const std::string& text, const std::string& language) {
    return ExpectedTestNames({{path, TreeEntry::Kind::kFile, text}}, language);
  };
  CHECK(names("test_x.py", "import x\n\ndef test_one():\n    pass\n\nclass T:\n    def test_two(self):\n        pass\n"
                           "def helper():\n    pass\n", "python") == std::vector<std::string>{"test_one", "test_two"});
  CHECK(names("t.cpp", "#define TEST(name) x\nTEST(adds)\nTEST( subtracts )\n", "cpp") == std::vector<std::string>{"adds", "subtracts"});
  CHECK(names("t.cpp", "TEST_CASE(\"a \\\"quoted\\\" name\") {\n#if defined(EXERCISM_RUN_ALL_TESTS)\n"
                      "TEST_CASE(\"second\", \"[tag]\") {\n#endif\n#if defined(EXERCISM_INCLUDE_BENCHMARK)\n"
                      "TEST_CASE(\"benchmark\") {\n#else\nTEST_CASE(\"third\") {\n#endif\n#if 0\nTEST(off)\n#endif\n", "cpp") ==
        std::vector<std::string>{"a \\\"quoted\\\" name", "second", "third"});
  CHECK(names("x_test.go", "func TestLeap(t *testing.T) {\nfunc helper(t *testing.T) {\nfunc TestOther(tt *testing.T) {\n", "go") ==
        std::vector<std::string>{"TestLeap", "TestOther"});
  CHECK(names("tests/x.rs", "#[test]\nfn one() {}\n#[test]\n#[ignore]\nfn two() {}\nfn helper() {}\n", "rust") ==
        std::vector<std::string>{"one", "two"});
  CHECK(names("T.java", "@Test\npublic void addsTwo() {\n}\n@Disabled\n@Test\nvoid other() {}\n", "java") ==
        std::vector<std::string>{"addsTwo", "other"});
  CHECK(names("x.spec.js", "test('adds', () => {});\n  xtest(\"subtracts\", () => {});\nit(`names`, f);\n", "javascript") ==
        std::vector<std::string>{"adds", "subtracts", "names"});
  CHECK(names("x.txt", "def test_one():\n", "text").empty());
}

TEST_CASE("go test -v and libtest output are read as reports, subtests and modules included") {
  auto text = [](const std::string& s) { return std::vector<TreeEntry>{{"out.txt", TreeEntry::Kind::kFile, s}}; };
  const std::string go = "=== RUN   TestLeap\n=== RUN   TestLeap/year_2000\n    --- PASS: TestLeap/year_2000 (0.00s)\n"
                         "--- PASS: TestLeap (0.00s)\n--- PASS: TestOther (0.01s)\nPASS\nok  \tleap\t0.01s\n";
  CHECK(CheckReports(text(go), {"TestLeap", "TestOther"}, ReportFormat::kGoTest).proven);
  ReportVerdict failed = CheckReports(text(go + "    --- FAIL: TestLeap/year_1900 (0.00s)\n"), {"TestLeap"},
                                      ReportFormat::kGoTest);
  CHECK_FALSE(failed.proven);
  CHECK(failed.failed == 1);
  CHECK_FALSE(CheckReports(text("--- SKIP: TestLeap (0.00s)\n"), {"TestLeap"}, ReportFormat::kGoTest).proven);

  const std::string libtest = "running 2 tests\ntest one ... ok\ntest io::reader::two ... ok\n\ntest result: ok.\n";
  CHECK(CheckReports(text(libtest), {"one", "two"}, ReportFormat::kLibtest).proven);
  CHECK_FALSE(CheckReports(text(libtest), {"one", "two", "three"}, ReportFormat::kLibtest).proven);
  CHECK_FALSE(CheckReports(text("test one ... FAILED\n"), {"one"}, ReportFormat::kLibtest).proven);
  CHECK_FALSE(CheckReports(text("test one ... ignored\n"), {"one"}, ReportFormat::kLibtest).proven);
  // A JUnit reader finds nothing in text, and the reverse: the format is the language's, not a guess.
  CHECK_FALSE(CheckReports(text(libtest), {"one"}, ReportFormat::kJUnit).proven);
}

TEST_CASE("Rust tests a feature gate compiles out are not expected, since no feature is enabled") {
  const std::string text =
      "#[cfg(feature = \"io\")]\nuse std::io::Read;\n\n#[test]\nfn plain() {}\n\n#[test]\n#[ignore]\n"
      "#[cfg(feature = \"exponentials\")]\nfn gated() {}\n\n#[cfg(feature = \"advanced\")]\n#[test]\n"
      "// a comment\nfn gated_too() {}\n\nmod outer {\n    #[test]\n    fn inner() {}\n\n"
      "    #[cfg(feature = \"io\")]\n    mod io {\n        fn helper() { if true { } }\n        #[test]\n"
      "        fn in_gated_module() {}\n    }\n\n    #[test]\n    fn after() {}\n}\n"
      "#[cfg(not(feature = \"io\"))]\n#[test]\nfn without_io() {}\n";
  CHECK(ExpectedTestNames({{"tests/x.rs", TreeEntry::Kind::kFile, text}}, "rust") ==
        std::vector<std::string>{"plain", "inner", "after", "without_io"});
}

TEST_CASE("laying files over a tree replaces them and clears what is in the way") {
  std::vector<TreeEntry> tree = {{"a.py", TreeEntry::Kind::kFile, "agent"},
                                 {"tests", TreeEntry::Kind::kFile, "a file where a directory belongs"},
                                 {"keep.txt", TreeEntry::Kind::kFile, "kept"},
                                 {"x/y.txt", TreeEntry::Kind::kFile, "under a path the overlay makes a file"}};
  std::vector<TreeEntry> overlay = {{"a.py", TreeEntry::Kind::kFile, "pristine"},
                                    {"tests/t.py", TreeEntry::Kind::kFile, "hidden"},
                                    {"x", TreeEntry::Kind::kFile, "file"}};
  auto out = LayOver(tree, overlay);
  std::map<std::string, std::string> by_path;
  for (const TreeEntry& e : out) by_path[e.path] = e.data;
  CHECK(by_path == std::map<std::string, std::string>{
                       {"a.py", "pristine"}, {"keep.txt", "kept"}, {"tests/t.py", "hidden"}, {"x", "file"}});
}

}  // namespace
}  // namespace lineage
