// A stand-in for the single-header Catch2 that real exercises bundle in test/catch.hpp: TEST_CASE, REQUIRE,
// and a main that understands Catch's `-r junit -o FILE`, so that lineage's tests build in a second.
#pragma once

#include <cstdio>
#include <cstring>
#include <vector>

struct MiniCase {
  const char* name;
  void (*fn)();
};
inline std::vector<MiniCase>& MiniCases() {
  static std::vector<MiniCase> cases;
  return cases;
}
struct MiniRegister {
  MiniRegister(const char* name, void (*fn)()) { MiniCases().push_back({name, fn}); }
};
struct MiniFailure {};

#define MINI_CAT2(a, b) a##b
#define MINI_CAT(a, b) MINI_CAT2(a, b)
#define TEST_CASE(name)                                                                       \
  static void MINI_CAT(mini_case_, __LINE__)();                                               \
  static MiniRegister MINI_CAT(mini_register_, __LINE__)(name, MINI_CAT(mini_case_, __LINE__)); \
  static void MINI_CAT(mini_case_, __LINE__)()
#define REQUIRE(cond)                 \
  do {                                \
    if (!(cond)) throw MiniFailure{}; \
  } while (0)

int main(int argc, char** argv) {
  const char* report = nullptr;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "-o") == 0) report = argv[i + 1];
  }
  std::vector<bool> passed;
  int failed = 0;
  for (const MiniCase& c : MiniCases()) {
    bool ok = true;
    try {
      c.fn();
    } catch (...) {
      ok = false;
    }
    passed.push_back(ok);
    failed += !ok;
  }
  std::printf("test cases: %zu | %zu passed | %d failed\n", MiniCases().size(), MiniCases().size() - failed, failed);
  if (report) {
    std::FILE* out = std::fopen(report, "w");
    if (!out) return 2;
    std::fprintf(out, "<testsuites><testsuite name=\"leap\">\n");
    for (size_t i = 0; i < passed.size(); ++i) {
      std::fprintf(out, "<testcase name=\"%s\">%s</testcase>\n", MiniCases()[i].name, passed[i] ? "" : "<failure/>");
    }
    std::fprintf(out, "</testsuite></testsuites>\n");
    std::fclose(out);
  }
  return failed == 0 ? 0 : 1;
}
