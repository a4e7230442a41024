// A minimal test harness for the starter suite: TEST(name) defines a case, CHECK(cond) records a failure and
// goes on, CHECK_THROWS(expr, type) expects an exception. Prints a summary, and writes the JUnit report
// lineage scores by to $LINEAGE_REPORT_DIR/junit.xml once every test has run.
//
// A test file includes the solution's header first and this one after it, so that these macros are the
// harness's whatever the solution's header defined; lineage's guard (evaluators/test_guard.h) refuses a
// solution whose headers define any other name used here or in the tests.
#pragma once

#undef TEST
#undef CHECK
#undef CHECK_THROWS

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

struct TestCase {
  const char* name;
  void (*fn)();
};
inline std::vector<TestCase>& Tests() {
  static std::vector<TestCase> tests;
  return tests;
}
inline int& Failures() {
  static int failures = 0;
  return failures;
}
struct Register {
  Register(const char* name, void (*fn)()) { Tests().push_back({name, fn}); }
};

#define TEST(name)                                  \
  static void name();                               \
  static Register register_##name(#name, name);     \
  static void name()
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++Failures();                                                            \
      std::printf("  check failed at line %d: %s\n", __LINE__, #cond);         \
    }                                                                          \
  } while (0)
#define CHECK_THROWS(expr, type)          \
  do {                                    \
    bool thrown = false;                  \
    try {                                 \
      (void)(expr);                       \
    } catch (const type&) {               \
      thrown = true;                      \
    } catch (...) {                       \
    }                                     \
    CHECK(thrown && #expr " throws " #type); \
  } while (0)

inline void WriteReport(const std::vector<std::pair<const char*, bool>>& results) {
  const char* dir = std::getenv("LINEAGE_REPORT_DIR");
  if (!dir) return;
  std::FILE* out = std::fopen((std::string(dir) + "/junit.xml").c_str(), "w");
  if (!out) return;
  std::fprintf(out, "<testsuites><testsuite name=\"starter\" tests=\"%zu\">\n", results.size());
  for (const auto& [name, ok] : results) {
    std::fprintf(out, "<testcase name=\"%s\">%s</testcase>\n", name, ok ? "" : "<failure/>");
  }
  std::fprintf(out, "</testsuite></testsuites>\n");
  std::fclose(out);
}

int main() {
  int failed = 0;
  std::vector<std::pair<const char*, bool>> results;
  for (const TestCase& t : Tests()) {
    int before = Failures();
    try {
      t.fn();
    } catch (const std::exception& e) {
      ++Failures();
      std::printf("  unexpected exception: %s\n", e.what());
    } catch (...) {
      ++Failures();
      std::printf("  unexpected exception\n");
    }
    bool ok = Failures() == before;
    if (!ok) ++failed;
    results.emplace_back(t.name, ok);
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", t.name);
  }
  std::printf("test cases: %zu | %zu passed | %d failed\n", Tests().size(), Tests().size() - failed, failed);
  WriteReport(results);
  return failed == 0 ? 0 : 1;
}
