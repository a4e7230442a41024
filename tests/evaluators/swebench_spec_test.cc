// SWE-bench's repository table (evaluators/swebench/repos.toml, as shipped) against excerpts of real logs,
// each run here under bubblewrap in the Debian environments the table names (2026-12-05):
//   django__django-11099 (Django 3.0) on bullseye's Python 3.9: auth_tests.test_validators with the test
//     patch alone and with the gold patch, and model_inheritance_regress, distinct_on_fields and view_tests
//     in the same tree;
//   django__django-15789 (Django 4.2) and django__django-16527 (Django 5.0) on bookworm's Python 3.11;
//   sympy__sympy-13480 (SymPy 1.1, bullseye) and sympy__sympy-24066 (SymPy 1.12, bookworm) under bin/test
//     --verbose, and sympy-24066 under bookworm's pytest 7.2 with -rA.
// A line is shortened where the real one is long; the few constructed lines say so.
#include <algorithm>
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

std::map<std::string, TestStatus> Parse(const std::string& parser, const std::string& log) {
  return ParseTestLog(Shipped().parsers.at(parser), log);
}

// The status of `name`, or "absent".
std::string StatusOf(const std::map<std::string, TestStatus>& statuses, const std::string& name) {
  auto it = statuses.find(name);
  return it == statuses.end() ? "absent" : TestStatusName(it->second);
}

// ---- Django ------------------------------------------------------------------------------------------------

TEST_CASE("swebench_spec: Django under Python 3.9 names a test as the dataset does") {
  // django-11099 with the gold patch.
  auto statuses = Parse("django",
                        "test_validate_password (auth_tests.test_validators.PasswordValidationTest) ... ok\n"
                        "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) ... ok\n"
                        "test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests) ... ok\n"
                        "\n"
                        "----------------------------------------------------------------------\n"
                        "Ran 22 tests in 0.088s\n");
  CHECK(StatusOf(statuses, "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)") == "passed");
  CHECK(StatusOf(statuses, "test_validate_password (auth_tests.test_validators.PasswordValidationTest)") == "passed");
  CHECK(statuses.size() == 3);
}

TEST_CASE("swebench_spec: Django under Python 3.11 is known by its long name and the short one") {
  // django-15789 with the test patch: Django 4.2's records use the short name, 5.0's the long one.
  auto statuses = Parse("django",
                        "test_json_script (utils_tests.test_html.TestUtilsHtml.test_json_script) ... ok\n"
                        "test_json_script_custom_encoder (utils_tests.test_html.TestUtilsHtml.test_json_script_custom_encoder) ... ERROR\n"
                        "test_json_script_without_id (utils_tests.test_html.TestUtilsHtml.test_json_script_without_id) ... ok\n");
  CHECK(StatusOf(statuses, "test_json_script (utils_tests.test_html.TestUtilsHtml)") == "passed");
  CHECK(StatusOf(statuses, "test_json_script (utils_tests.test_html.TestUtilsHtml.test_json_script)") == "passed");
  CHECK(StatusOf(statuses, "test_json_script_custom_encoder (utils_tests.test_html.TestUtilsHtml)") == "failed");
  CHECK(StatusOf(statuses,
                 "test_json_script_custom_encoder (utils_tests.test_html.TestUtilsHtml.test_json_script_custom_encoder)") ==
        "failed");
  CHECK(statuses.size() == 6);
}

TEST_CASE("swebench_spec: a Django test with a docstring gives its status to its name and its docstring") {
  // django-16527 (Python 3.11) and view_tests in django-11099's tree (Python 3.9).
  auto statuses = Parse("django",
                        "test_submit_row (admin_views.test_templatetags.AdminTemplateTagsTest.test_submit_row)\n"
                        "submit_row template tag should pass whole context. ... ok\n"
                        "test_csrf_token_in_404 (view_tests.tests.test_defaults.DefaultsTests)\n"
                        "The 404 page should have the csrf_token available in the context ... ok\n");
  CHECK(StatusOf(statuses, "submit_row template tag should pass whole context.") == "passed");
  CHECK(StatusOf(statuses, "test_submit_row (admin_views.test_templatetags.AdminTemplateTagsTest.test_submit_row)") ==
        "passed");
  CHECK(StatusOf(statuses, "test_submit_row (admin_views.test_templatetags.AdminTemplateTagsTest)") == "passed");
  CHECK(StatusOf(statuses, "The 404 page should have the csrf_token available in the context") == "passed");
  CHECK(StatusOf(statuses, "test_csrf_token_in_404 (view_tests.tests.test_defaults.DefaultsTests)") == "passed");
}

TEST_CASE("swebench_spec: a skipped Django test is skipped with its docstring or without") {
  // distinct_on_fields in django-11099's tree: the reason is quoted as Python's repr quotes it.
  auto statuses = Parse("django",
                        "test_basic_distinct_on (distinct_on_fields.tests.DistinctOnTests)\n"
                        "QuerySet.distinct('field', ...) works ... skipped \"Database doesn't support feature(s): "
                        "can_distinct_on_fields\"\n"
                        "test_distinct_not_implemented_checks (distinct_on_fields.tests.DistinctOnTests) ... skipped "
                        "\"Database doesn't support feature(s): can_distinct_on_fields\"\n"
                        "test_unsupported (mod.tests.T) ... skipped 'not on SQLite'\n");  // constructed: the common quoting
  CHECK(StatusOf(statuses, "test_basic_distinct_on (distinct_on_fields.tests.DistinctOnTests)") == "skipped");
  CHECK(StatusOf(statuses, "QuerySet.distinct('field', ...) works") == "skipped");
  CHECK(StatusOf(statuses, "test_distinct_not_implemented_checks (distinct_on_fields.tests.DistinctOnTests)") == "skipped");
  CHECK(StatusOf(statuses, "test_unsupported (mod.tests.T)") == "skipped");
}

TEST_CASE("swebench_spec: a Django expected failure passes and an unexpected success fails") {
  auto statuses = Parse("django",
                        // model_inheritance_regress in django-11099's tree.
                        "test_inheritance_values_joins (model_inheritance_regress.tests.ModelInheritanceTest) ... expected failure\n"
                        "test_lucky (mod.tests.T) ... unexpected success\n");  // constructed
  CHECK(StatusOf(statuses, "test_inheritance_values_joins (model_inheritance_regress.tests.ModelInheritanceTest)") ==
        "passed");
  CHECK(StatusOf(statuses, "test_lucky (mod.tests.T)") == "failed");
}

TEST_CASE("swebench_spec: Django's FAIL and ERROR report lines fail a test whose subtests printed no status") {
  // django-11099 with the test patch alone, under Python 3.9: a failing subtest prints no status after its
  // " ... ", so the next test's name follows on the same line, and only the closing report names the failures.
  auto statuses = Parse("django",
                        "test_validate_password (auth_tests.test_validators.PasswordValidationTest) ... ok\n"
                        "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) ... "
                        "test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests) ... \n"
                        "======================================================================\n"
                        "FAIL: test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests) "
                        "(invalid='trailingnewline\\n')\n"
                        "----------------------------------------------------------------------\n"
                        "Traceback (most recent call last):\n"
                        "  File \"/testbed/tests/auth_tests/test_validators.py\", line 261, in test_ascii_validator\n"
                        "    v(invalid)\n"
                        "AssertionError: ValidationError not raised\n"
                        "\n"
                        "======================================================================\n"
                        "FAIL: test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests) "
                        "(invalid='trailingnewline\\n')\n"
                        "======================================================================\n"
                        // django-15789 under Python 3.11.
                        "ERROR: test_json_script_custom_encoder (utils_tests.test_html.TestUtilsHtml.test_json_script_custom_encoder)\n"
                        "----------------------------------------------------------------------\n"
                        "Ran 22 tests in 0.079s\n"
                        "\n"
                        "FAILED (failures=2)\n");
  CHECK(StatusOf(statuses, "test_ascii_validator (auth_tests.test_validators.UsernameValidatorsTests)") == "failed");
  CHECK(StatusOf(statuses, "test_unicode_validator (auth_tests.test_validators.UsernameValidatorsTests)") == "failed");
  CHECK(StatusOf(statuses, "test_json_script_custom_encoder (utils_tests.test_html.TestUtilsHtml)") == "failed");
  CHECK(StatusOf(statuses, "test_validate_password (auth_tests.test_validators.PasswordValidationTest)") == "passed");
}

TEST_CASE("swebench_spec: a status after a Django test's own output is that test's") {
  // Constructed from django-11099's names: a test writing to stderr splits its line, or puts the next test's
  // name before the status.
  auto statuses = Parse("django",
                        "test_help_text (auth_tests.test_validators.MinimumLengthValidatorTest) ... Internal Server Error: /x\n"
                        "ok\n"
                        "test_validate (auth_tests.test_validators.MinimumLengthValidatorTest) ... \n"
                        "some output of its own\n"
                        "FAIL\n"
                        "test_help_text (auth_tests.test_validators.NumericPasswordValidatorTest) ... "
                        "test_validate (auth_tests.test_validators.NumericPasswordValidatorTest) ... ok\n");
  CHECK(StatusOf(statuses, "test_help_text (auth_tests.test_validators.MinimumLengthValidatorTest)") == "passed");
  CHECK(StatusOf(statuses, "test_validate (auth_tests.test_validators.MinimumLengthValidatorTest)") == "failed");
  CHECK(StatusOf(statuses, "test_validate (auth_tests.test_validators.NumericPasswordValidatorTest)") == "passed");
  CHECK(statuses.count("") == 0);
}

TEST_CASE("swebench_spec: a 32000-character subtest line is read and does not crash") {
  // django-15789 under Python 3.11: Django prints the failing subtest's parameters whole, and std::regex
  // recurses per character.
  const std::string amps(16000, '&');
  const std::string params = "(value='><!" + amps + "D', output='><!" + amps + "D')";
  auto statuses = Parse("django",
                        "test_strip_tags (utils_tests.test_html.TestUtilsHtml.test_strip_tags) ... \n"
                        "  test_strip_tags (utils_tests.test_html.TestUtilsHtml.test_strip_tags) " + params + " ... FAIL\n"
                        "test_strip_tags_files (utils_tests.test_html.TestUtilsHtml.test_strip_tags_files) ... ok\n"
                        "FAIL: test_strip_tags (utils_tests.test_html.TestUtilsHtml.test_strip_tags) " + params + "\n");
  CHECK(StatusOf(statuses, "test_strip_tags (utils_tests.test_html.TestUtilsHtml)") == "failed");
  CHECK(StatusOf(statuses, "test_strip_tags_files (utils_tests.test_html.TestUtilsHtml)") == "passed");
  const std::string huge(1'000'000, 'x');
  CHECK(Parse("django", huge + "\n" + huge).empty());
  CHECK(Parse("pytest", "FAILED " + huge).size() == 1);
}

TEST_CASE("swebench_spec: a later report of a test wins but never over a summary line") {
  const LogParser& django = Shipped().parsers.at("django");
  auto statuses = ParseTestLog(django,
                               "test_a (m.T) ... FAIL\n"
                               "test_a (m.T) ... ok\n"
                               "FAIL: test_b (m.T)\n"
                               "test_b (m.T) ... ok\n");
  CHECK(StatusOf(statuses, "test_a (m.T)") == "passed");
  CHECK(StatusOf(statuses, "test_b (m.T)") == "failed");
}

TEST_CASE("swebench_spec: a real Django 5.0 log judged against its record") {
  // django-16527 with the test patch alone, then with the gold patch; the lists are the record's.
  const std::string head =
      "test_override_change_form_template_tags (admin_views.test_templatetags.AdminTemplateTagsTest.test_override_change_form_template_tags)\n"
      "admin_modify template tags follow the standard search pattern ... ok\n"
      "test_override_change_list_template_tags (admin_views.test_templatetags.AdminTemplateTagsTest.test_override_change_list_template_tags)\n"
      "admin_list template tags follow the standard search pattern ... ok\n"
      "test_override_show_save_and_add_another (admin_views.test_templatetags.AdminTemplateTagsTest.test_override_show_save_and_add_another) ... ok\n"
      "test_submit_row (admin_views.test_templatetags.AdminTemplateTagsTest.test_submit_row)\n"
      "submit_row template tag should pass whole context. ... ok\n";
  const std::string tail =
      "test_choice_links (admin_views.test_templatetags.DateHierarchyTests.test_choice_links) ... ok\n"
      "test_choice_links_datetime (admin_views.test_templatetags.DateHierarchyTests.test_choice_links_datetime) ... ok\n";
  const std::string f2p =
      "test_submit_row_save_as_new_add_permission_required (admin_views.test_templatetags.AdminTemplateTagsTest."
      "test_submit_row_save_as_new_add_permission_required)";
  const std::vector<std::string> p2p = {
      "test_choice_links (admin_views.test_templatetags.DateHierarchyTests.test_choice_links)",
      "test_choice_links_datetime (admin_views.test_templatetags.DateHierarchyTests.test_choice_links_datetime)",
      "admin_modify template tags follow the standard search pattern",
      "admin_list template tags follow the standard search pattern",
      "test_override_show_save_and_add_another (admin_views.test_templatetags.AdminTemplateTagsTest."
      "test_override_show_save_and_add_another)",
      "submit_row template tag should pass whole context."};
  Judgement before = Judge(Parse("django", head + f2p + " ... FAIL\n" + tail + "FAIL: " + f2p + "\n"), {f2p}, p2p);
  CHECK_FALSE(before.resolved);
  CHECK(before.Summary() == "FAIL_TO_PASS 0/1, PASS_TO_PASS 6/6");
  Judgement after = Judge(Parse("django", head + f2p + " ... ok\n" + tail), {f2p}, p2p);
  CHECK(after.resolved);
  CHECK(after.Summary() == "FAIL_TO_PASS 1/1, PASS_TO_PASS 6/6");
}

// ---- SymPy and pytest --------------------------------------------------------------------------------------

TEST_CASE("swebench_spec: SymPy's bin/test --verbose lines, the last of a file with the file's verdict") {
  auto statuses = Parse("sympy",
                        // sympy-13480 with the test patch alone, SymPy 1.1 on Python 3.9.
                        "sympy/functions/elementary/tests/test_hyperbolic.py[45] \n"
                        "test_sinh ok\n"
                        "test_coth E\n"
                        "test_sinh_expansion ok\n"
                        "test_cosh_expansion ok                                                    [FAIL]\n"
                        "\n"
                        "________________________________________________________________________________\n"
                        "________ sympy/functions/elementary/tests/test_hyperbolic.py:test_coth _________\n"
                        "NameError: name 'cotm' is not defined\n"
                        // sympy-24066 with the test patch alone, SymPy 1.12 on Python 3.11.
                        "test_newtons_method_function__ccode cython not installed. s\n"
                        "test_newtons_method_function__ccode_parameters No C compiler found. s       [OK]\n"
                        "test_issue_16772 f\n"
                        "test_issue_21536 ok                                                         [OK]\n"
                        "test_issue_24062 E\n"
                        "test_slow_one Slow w\n"  // constructed: runtests.py's form for a slow test
                        "test_wrong F\n");        // constructed
  CHECK(StatusOf(statuses, "test_sinh") == "passed");
  CHECK(StatusOf(statuses, "test_coth") == "failed");
  CHECK(StatusOf(statuses, "test_cosh_expansion") == "passed");
  CHECK(StatusOf(statuses, "test_newtons_method_function__ccode") == "skipped");
  CHECK(StatusOf(statuses, "test_newtons_method_function__ccode_parameters") == "skipped");
  CHECK(StatusOf(statuses, "test_issue_16772") == "failed");  // an expected failure: not a pass, as officially
  CHECK(StatusOf(statuses, "test_issue_21536") == "passed");
  CHECK(StatusOf(statuses, "test_issue_24062") == "failed");
  CHECK(StatusOf(statuses, "test_slow_one") == "skipped");
  CHECK(StatusOf(statuses, "test_wrong") == "failed");
  CHECK(statuses.size() == 11);
}

TEST_CASE("swebench_spec: pytest's -rA short summary, status first") {
  // sympy-24066's test file under pytest 7.2 (bookworm), with the test patch alone; SKIPPED from
  // sympy/codegen/tests/test_algorithms.py in the same tree.
  auto statuses = Parse("pytest",
                        "=========================== short test summary info ============================\n"
                        "PASSED sympy/physics/units/tests/test_quantities.py::test_str_repr\n"
                        "PASSED sympy/physics/units/tests/test_quantities.py::test_physics_constant\n"
                        "SKIPPED [1] sympy/codegen/tests/test_algorithms.py:31: cython not installed.\n"
                        "XFAIL sympy/physics/units/tests/test_quantities.py::test_factor_and_dimension_with_Abs\n"
                        "FAILED sympy/physics/units/tests/test_quantities.py::test_issue_24062 - Value...\n"
                        "=================== 1 failed, 31 passed, 1 xfailed in 1.21s ====================\n"
                        "PASSED tests/test_ops.py::test_param[a - b]\n"  // constructed: a parameter id with spaces
                        "ERROR tests/test_ops.py::test_db - fixture 'db' not found\n");  // constructed
  CHECK(StatusOf(statuses, "sympy/physics/units/tests/test_quantities.py::test_str_repr") == "passed");
  CHECK(StatusOf(statuses, "sympy/physics/units/tests/test_quantities.py::test_factor_and_dimension_with_Abs") ==
        "passed");
  CHECK(StatusOf(statuses, "sympy/physics/units/tests/test_quantities.py::test_issue_24062") == "failed");
  CHECK(StatusOf(statuses, "tests/test_ops.py::test_param[a") == "passed");  // as the dataset names it
  CHECK(StatusOf(statuses, "tests/test_ops.py::test_db") == "failed");
}

// ---- Environments and commands -----------------------------------------------------------------------------

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
  CHECK(env("sympy/sympy", "1.12") == "py39 bullseye");
  CHECK(env("psf/requests", "2.0") == "py311 bookworm");
  auto e = EnvironmentFor(Shipped(), "django/django", "3.0");
  REQUIRE(e.ok());
  CHECK(std::find(e->packages.begin(), e->packages.end(), "git") != e->packages.end());
}

TEST_CASE("swebench_spec: an unknown repository or version or environment is an error naming it") {
  auto unknown = EnvironmentFor(Shipped(), "acme/unknown", "1.0");
  CHECK(unknown.status().code() == Status::Code::kNotFound);
  CHECK_THAT(unknown.status().message(), Catch::Contains("[repos.\"acme/unknown\"]"));
  SpecTable table = Shipped();
  table.repos["acme/old"] = table.repos.at("psf/requests");
  table.repos["acme/old"].environments = {{{"1.*"}, "py27"}};
  auto version = EnvironmentFor(table, "acme/old", "2.0");
  CHECK(version.status().code() == Status::Code::kNotFound);
  CHECK_THAT(version.status().message(), Catch::Contains("acme/old") && Catch::Contains("'2.0'"));
  auto environment = EnvironmentFor(table, "acme/old", "1.4");
  CHECK(environment.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(environment.status().message(), Catch::Contains("py27"));
}

TEST_CASE("swebench_spec: a Django test patch's Python files become module labels") {
  const RepoSpec& django = Shipped().repos.at("django/django");
  auto argv = TestCommand(django, {"tests/migrations/test_commands.py", "tests/asgi/project/static/file.txt",
                                   "tests/migrations/test_migrations/0001_initial.py"});
  std::vector<std::string> expected = {"python3", "tests/runtests.py", "--verbosity", "2", "--settings=test_sqlite",
                                       "--parallel", "1", "migrations.test_commands",
                                       "migrations.test_migrations.0001_initial"};
  CHECK(argv == expected);
  CHECK(django.env.at("LANG") == "C.UTF-8");
  CHECK(django.env.at("PYTHONIOENCODING") == "utf8");
}

TEST_CASE("swebench_spec: SymPy and pytest take the test patch's paths as they are") {
  const RepoSpec& sympy = Shipped().repos.at("sympy/sympy");
  auto argv = TestCommand(sympy, {"sympy/core/tests/test_numbers.py", "sympy/core/tests/test_basic.py"});
  std::vector<std::string> expected = {"python3", "bin/test", "-C", "--verbose", "sympy/core/tests/test_numbers.py",
                                       "sympy/core/tests/test_basic.py"};
  CHECK(argv == expected);
  CHECK(sympy.env.at("PYTHONWARNINGS") == "ignore::UserWarning,ignore::SyntaxWarning");
  const RepoSpec& requests = Shipped().repos.at("psf/requests");
  CHECK(requests.parser == "pytest");
  CHECK(TestCommand(requests, {"tests/test_requests.py"}).back() == "tests/test_requests.py");
}

// ---- Judging -----------------------------------------------------------------------------------------------

TEST_CASE("swebench_spec: resolved needs every listed test passed") {
  std::map<std::string, TestStatus> statuses = {{"a", TestStatus::kPassed}, {"b", TestStatus::kPassed}};
  Judgement j = Judge(statuses, {"a"}, {"b"});
  CHECK(j.resolved);
  CHECK(j.Summary() == "FAIL_TO_PASS 1/1, PASS_TO_PASS 1/1");
  REQUIRE(j.tests.size() == 2);
  CHECK(j.tests[0].fail_to_pass);
  CHECK_FALSE(j.tests[1].fail_to_pass);
  CHECK(j.tests[1].reason.empty());
  CHECK_FALSE(Judge(statuses, {}, {"a"}).resolved);  // nothing to prove it resolved
}

TEST_CASE("swebench_spec: a partial fix is counted with each failure's reason") {
  std::map<std::string, TestStatus> statuses = {
      {"a", TestStatus::kPassed}, {"b", TestStatus::kPassed}, {"c", TestStatus::kSkipped}, {"d", TestStatus::kFailed}};
  Judgement partial = Judge(statuses, {"a", "d"}, {"b", "c", "e"});
  CHECK_FALSE(partial.resolved);
  CHECK(partial.Summary() == "FAIL_TO_PASS 1/2, PASS_TO_PASS 1/3");
  REQUIRE(partial.tests.size() == 5);
  CHECK(partial.tests[1].name == "d");
  CHECK(partial.tests[1].reason == "failed");
  CHECK(partial.tests[3].reason == "skipped");  // a skipped test is not a pass
  CHECK(partial.tests[4].reason == "not in the test log");
  CHECK(std::string(TestStatusName(TestStatus::kSkipped)) == "skipped");
}

// ---- Reading tables ----------------------------------------------------------------------------------------

// Parses `text` into a copy of the shipped table; the error's message, after checking the copy is unchanged.
std::string ErrorOf(const std::string& text) {
  SpecTable table = Shipped();
  Status s = ParseSpecTable(text, "suite/repos.toml", table);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(table.repos.size() == Shipped().repos.size());
  CHECK(table.parsers.size() == Shipped().parsers.size());
  CHECK(table.environments.size() == Shipped().environments.size());
  CHECK(table.repos.at("sympy/sympy").parser == "sympy");
  return s.message();
}

TEST_CASE("swebench_spec: a bad regex names the file, the table and the key") {
  CHECK_THAT(ErrorOf("[parsers.bad]\nresult = '(unclosed'\npass = ['ok']\n"),
             Catch::Contains("suite/repos.toml: [parsers.bad] result: bad regex"));
  CHECK_THAT(ErrorOf("[parsers.bad]\nresult = '(a) (b)'\npass = ['ok']\nrename = [['[', 'x']]\n"),
             Catch::Contains("[parsers.bad] rename: bad regex"));
}

TEST_CASE("swebench_spec: an unknown key is named with the key meant") {
  CHECK_THAT(ErrorOf("[repos.\"acme/x\"]\ncommand = ['t']\nparser = 'pytest'\ncomand = 1\n"),
             Catch::Contains("suite/repos.toml: [repos.\"acme/x\"] comand: is not a known key; did you mean command?"));
  CHECK_THAT(ErrorOf("[parsers.p]\nresult = '(a) (b)'\npass = ['ok']\nsumary = 'x'\n"), Catch::Contains("sumary"));
  CHECK_THAT(ErrorOf("[repo.\"acme/x\"]\ncommand = ['t']\n"), Catch::Contains("unknown table [repo]"));
}

TEST_CASE("swebench_spec: a repository naming an undefined environment or parser is an error") {
  CHECK_THAT(ErrorOf("[repos.\"acme/x\"]\ncommand = ['t']\nparser = 'pytest'\n"
                     "environments = [{ versions = ['*'], environment = 'py27' }]\n"),
             Catch::Contains("suite/repos.toml: [repos.\"acme/x\"] environments: no [environments.py27] table"));
  CHECK_THAT(ErrorOf("[repos.\"acme/x\"]\ncommand = ['t']\nparser = 'nose'\n"), Catch::Contains("no [parsers.nose]"));
  CHECK_THAT(ErrorOf("[environments.both]\nsuite = 'bookworm'\nimage = 'docker://x'\n"), Catch::Contains("[environments.both]"));
}

TEST_CASE("swebench_spec: a suite's table replaces the shipped one of the same name") {
  SpecTable table = Shipped();
  REQUIRE(ParseSpecTable("[repos.\"sympy/sympy\"]\ncommand = ['python3', '-m', 'pytest', '-rA']\nparser = 'pytest'\n"
                         "environments = [{ versions = ['*'], environment = 'py311' }]\n",
                         "suite/repos.toml", table)
              .ok());
  CHECK(table.repos.at("sympy/sympy").parser == "pytest");
  CHECK(table.repos.at("sympy/sympy").timeout_ms == 1'800'000);
  CHECK(table.repos.at("django/django").parser == "django");
}

}  // namespace
}  // namespace lineage::swebench
