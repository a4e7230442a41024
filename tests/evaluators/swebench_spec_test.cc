// SWE-bench's repository table (evaluators/swebench/repos.toml, as shipped) against real log excerpts: Django
// 4.2 under Python 3.11 (admin_docs.test_views, bookworm), Django 3.0 under 3.9, SymPy 1.1 under 3.9 (bin/test
// --verbose on sympy/core/tests/test_numbers.py), and pytest -rA.
#include <catch2/catch.hpp>

#include "evaluators/swebench_spec.h"

namespace lineage::swebench {
namespace {

const SpecTable& Shipped() {
  static const SpecTable table = [] {
    SpecTable t;
    Status s = LoadSpecTable(std::string(LINEAGE_SOURCE_DIR) + "/evaluators/swebench/repos.toml", t);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return t;
  }();
  return table;
}

const LogParser& Parser(const std::string& name) { return Shipped().parsers.at(name); }

TEST_CASE("swebench_spec: Django 4.2's log under Python 3.11 reads as the dataset names its tests") {
  const char* log =
      "System check identified no issues (0 silenced).\n"
      "test_bookmarklets (admin_docs.test_views.AdminDocViewTests.test_bookmarklets) ... ok\n"
      "test_callable_urlconf (admin_docs.test_views.AdminDocViewTests.test_callable_urlconf)\n"
      "Index view should correctly resolve view patterns when ROOT_URLCONF is ... ok\n"
      "test_index (admin_docs.test_views.AdminDocViewTests.test_index) ... FAIL\n"
      "test_missing_docutils (admin_docs.test_views.AdminDocViewTests.test_missing_docutils) ... skipped 'no docutils'\n"
      "\n"
      "======================================================================\n"
      "FAIL: test_index (admin_docs.test_views.AdminDocViewTests.test_index)\n";
  auto statuses = ParseTestLog(Parser("django"), log);
  CHECK(statuses["test_bookmarklets (admin_docs.test_views.AdminDocViewTests)"] == TestStatus::kPassed);
  // A docstring's test: both its name and its docstring line carry the status.
  CHECK(statuses["test_callable_urlconf (admin_docs.test_views.AdminDocViewTests)"] == TestStatus::kPassed);
  CHECK(statuses["Index view should correctly resolve view patterns when ROOT_URLCONF is"] == TestStatus::kPassed);
  CHECK(statuses["test_index (admin_docs.test_views.AdminDocViewTests)"] == TestStatus::kFailed);
  CHECK(statuses["test_missing_docutils (admin_docs.test_views.AdminDocViewTests)"] == TestStatus::kSkipped);
  // SWE-bench's Django 5.0 records keep Python 3.11's long names: a test answers to both.
  CHECK(statuses["test_bookmarklets (admin_docs.test_views.AdminDocViewTests.test_bookmarklets)"] == TestStatus::kPassed);
  CHECK(statuses["test_index (admin_docs.test_views.AdminDocViewTests.test_index)"] == TestStatus::kFailed);
}

TEST_CASE("swebench_spec: Django under Python 3.9, with an ok after a test's own output and expected failures") {
  const char* log =
      "test_help_text (auth_tests.test_validators.UserAttributeSimilarityValidatorTest) ... ok\n"
      "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) ... some stderr output\n"
      "ok\n"
      "test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests) ... expected failure\n"
      "test_validate (auth_tests.test_validators.CommonPasswordValidatorTest) ... ERROR\n"
      "ERROR: test_validate (auth_tests.test_validators.CommonPasswordValidatorTest)\n";
  auto statuses = ParseTestLog(Parser("django"), log);
  CHECK(statuses["test_help_text (auth_tests.test_validators.UserAttributeSimilarityValidatorTest)"] == TestStatus::kPassed);
  CHECK(statuses["test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)"] == TestStatus::kPassed);
  CHECK(statuses["test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests)"] == TestStatus::kPassed);
  CHECK(statuses["test_validate (auth_tests.test_validators.CommonPasswordValidatorTest)"] == TestStatus::kFailed);
  CHECK(statuses.count("") == 0);
}

TEST_CASE("swebench_spec: SymPy's bin/test --verbose lines") {
  const char* log =
      "sympy/core/tests/test_numbers.py[84] \n"
      "test_integers_cache ok\n"
      "test_mod ok\n"
      "test_mpmath_issues f\n"
      "test_issue_13890 F\n"
      "test_issue_13891 E\n"
      "test_slow_thing w\n";
  auto statuses = ParseTestLog(Parser("sympy"), log);
  CHECK(statuses["test_integers_cache"] == TestStatus::kPassed);
  CHECK(statuses["test_mod"] == TestStatus::kPassed);
  CHECK(statuses["test_mpmath_issues"] == TestStatus::kFailed);  // an expected failure is not a pass, as officially
  CHECK(statuses["test_issue_13890"] == TestStatus::kFailed);
  CHECK(statuses["test_issue_13891"] == TestStatus::kFailed);
  CHECK(statuses["test_slow_thing"] == TestStatus::kSkipped);
  CHECK(statuses.size() == 6);
}

TEST_CASE("swebench_spec: pytest's -rA summary, status first") {
  const char* log =
      "=========================== short test summary info ============================\n"
      "PASSED tests/test_ops.py::test_sub\n"
      "PASSED tests/test_ops.py::test_param[1-2]\n"
      "FAILED tests/test_ops.py::test_add - assert -1 == 5\n"
      "SKIPPED [1] tests/test_ops.py:9: no network\n"
      "XFAIL tests/test_ops.py::test_known - reason\n";
  auto statuses = ParseTestLog(Parser("pytest"), log);
  CHECK(statuses["tests/test_ops.py::test_sub"] == TestStatus::kPassed);
  CHECK(statuses["tests/test_ops.py::test_param[1-2]"] == TestStatus::kPassed);
  CHECK(statuses["tests/test_ops.py::test_add"] == TestStatus::kFailed);
  CHECK(statuses["tests/test_ops.py::test_known"] == TestStatus::kPassed);
}

TEST_CASE("swebench_spec: each repository's version picks its environment") {
  auto env = [](const std::string& repo, const std::string& version) {
    auto e = EnvironmentFor(Shipped(), repo, version);
    INFO(e.status().ToString());
    REQUIRE(e.ok());
    return e->name + " " + e->suite;
  };
  CHECK(env("django/django", "3.0") == "py39 bullseye");
  CHECK(env("django/django", "3.2") == "py39 bullseye");
  CHECK(env("django/django", "4.0") == "py311 bookworm");
  CHECK(env("django/django", "5.0") == "py311 bookworm");
  CHECK(env("sympy/sympy", "1.1") == "py39 bullseye");
  auto unknown = EnvironmentFor(Shipped(), "acme/unknown", "1.0");
  CHECK(unknown.status().code() == Status::Code::kNotFound);
  CHECK_THAT(unknown.status().message(), Catch::Contains("[repos.\"acme/unknown\"]"));
}

TEST_CASE("swebench_spec: a test patch's files become the repository's test arguments") {
  const RepoSpec& django = Shipped().repos.at("django/django");
  auto argv = TestCommand(django, {"tests/migrations/test_commands.py", "tests/migrations/test_migrations/0001_initial.py",
                                   "tests/templates/custom.html"});
  REQUIRE(argv.size() == django.command.size() + 2);
  CHECK(argv[django.command.size()] == "migrations.test_commands");
  CHECK(argv[django.command.size() + 1] == "migrations.test_migrations.0001_initial");
  const RepoSpec& sympy = Shipped().repos.at("sympy/sympy");
  auto paths = TestCommand(sympy, {"sympy/core/tests/test_numbers.py"});
  CHECK(paths.back() == "sympy/core/tests/test_numbers.py");
}

TEST_CASE("swebench_spec: resolved needs every listed test passed, and a test the log omits fails with a reason") {
  std::map<std::string, TestStatus> statuses = {
      {"a", TestStatus::kPassed}, {"b", TestStatus::kPassed}, {"c", TestStatus::kSkipped}, {"d", TestStatus::kFailed}};
  CHECK(Judge(statuses, {"a"}, {"b"}).resolved);
  Judgement partial = Judge(statuses, {"a", "d"}, {"b", "c", "e"});
  CHECK_FALSE(partial.resolved);
  CHECK(partial.Summary() == "FAIL_TO_PASS 1/2, PASS_TO_PASS 1/3");
  REQUIRE(partial.tests.size() == 5);
  CHECK(partial.tests[1].reason == "failed");
  CHECK(partial.tests[3].reason == "skipped");  // a skipped test is not a pass
  CHECK(partial.tests[4].reason == "not in the test log");
  CHECK_FALSE(Judge(statuses, {}, {"a"}).resolved);  // nothing to prove it resolved
}

TEST_CASE("swebench_spec: a bad table names its file, table and key, and leaves what was read as it was") {
  SpecTable table = Shipped();
  auto error = [&](const std::string& text) {
    Status s = ParseSpecTable(text, "suite/repos.toml", table);
    CHECK_FALSE(s.ok());
    return s.message();
  };
  CHECK_THAT(error("[parsers.bad]\nresult = '(unclosed'\npass = ['ok']\n"),
             Catch::Contains("suite/repos.toml: [parsers.bad] result: bad regex"));
  CHECK_THAT(error("[repos.\"acme/x\"]\ncommand = ['t']\nparser = 'pytest'\ncomand = 1\n"),
             Catch::Contains("[repos.\"acme/x\"] comand: is not a known key; did you mean command?"));
  CHECK_THAT(error("[repos.\"acme/x\"]\ncommand = ['t']\nparser = 'pytest'\n"
                   "environments = [{ versions = ['*'], environment = 'py27' }]\n"),
             Catch::Contains("environments: no [environments.py27] table"));
  CHECK_THAT(error("[environments.both]\nsuite = 'bookworm'\nimage = 'docker://x'\n"), Catch::Contains("[environments.both]"));
  CHECK(table.repos.size() == Shipped().repos.size());
  CHECK(table.parsers.count("bad") == 0);
  // A table of the same name replaces the shipped one.
  REQUIRE(ParseSpecTable("[repos.\"sympy/sympy\"]\ncommand = ['pytest']\nparser = 'pytest'\n"
                         "environments = [{ versions = ['*'], environment = 'py311' }]\n",
                         "suite/repos.toml", table)
              .ok());
  CHECK(table.repos.at("sympy/sympy").parser == "pytest");
}

}  // namespace
}  // namespace lineage::swebench
