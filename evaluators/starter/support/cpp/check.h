// A minimal test harness for the starter suite: TEST(name) defines a case, CHECK(cond) records a failure and
// goes on, CHECK_THROWS(expr, type) expects an exception. Prints a Catch2-style summary for partial scores.
#pragma once

#include <cstdio>
#include <exception>
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

int main() {
  int failed = 0;
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
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", t.name);
  }
  std::printf("test cases: %zu | %zu passed | %d failed\n", Tests().size(), Tests().size() - failed, failed);
  return failed == 0 ? 0 : 1;
}
