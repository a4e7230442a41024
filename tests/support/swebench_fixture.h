// A SWE-bench suite made for tests: a small Python repository ("acme/calc") with a base commit, a later
// commit holding the upstream fixes and a tag on it (future history an agent must never see), and two
// instances in SWE-bench's record format whose test and gold patches come from `git diff`. Marker strings
// sit only in what an agent must not read: the test patches (kTestMarker), the gold patches (kGoldMarker)
// and the future commit (kFutureMarker).
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/test_support.h"

namespace lineage::test {

inline constexpr const char* kTestMarker = "HIDDEN-TEST-MARKER";
inline constexpr const char* kGoldMarker = "GOLD-PATCH-MARKER";
inline constexpr const char* kFutureMarker = "FUTURE-COMMIT-MARKER";

// Where tests keep the environments they build: one home per build tree, so each is built once (the
// first test to need it builds it; the others wait on its lock).
inline std::filesystem::path EnvironmentTestHome() { return LINEAGE_ENV_TEST_HOME; }

inline std::string Git(const std::filesystem::path& work, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/git", "-C", work.string(), "-c", "user.name=t", "-c", "user.email=t@t",
                                   "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  INFO("git " << args.front() << ": " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

inline const char* kCalcBase =
    "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";

struct SweBenchFixture {
  std::filesystem::path dir;  // the suite: instances.jsonl, repos/calc.git, repos.toml
  std::string base;           // the base commit
};

// Writes the suite into `dir`. acme__calc-1: add() subtracts; acme__calc-2: mul() adds. `environment`
// names the shipped environment its tests run in ("py311" or "py39").
inline SweBenchFixture MakeSweBenchSuite(const std::filesystem::path& dir, const std::string& environment = "py311") {
  namespace fs = std::filesystem;
  const fs::path work = dir / "work";
  fs::create_directories(work);
  Git(work, {"init", "-q"});
  WriteFile(work / "calc" / "__init__.py", "");
  WriteFile(work / "calc" / "ops.py", kCalcBase);
  WriteFile(work / "tests" / "test_ops.py", "from calc.ops import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n");
  WriteFile(work / "README", "calc: arithmetic, mostly right\n");
  Git(work, {"add", "-A"});
  Git(work, {"commit", "-q", "-m", "base"});
  const std::string base = Git(work, {"rev-parse", "HEAD"}).substr(0, 40);

  auto patch_of = [&](const std::string& file, const std::string& text) {
    WriteFile(work / file, text);
    const std::string diff = Git(work, {"diff"});
    Git(work, {"checkout", "-q", "--", "."});
    return diff;
  };
  const std::string test_add = patch_of("tests/test_ops.py", "from calc.ops import add, sub\n\n\ndef test_sub():\n"
                                        "    assert sub(5, 3) == 2\n\n\ndef test_add():  # " + std::string(kTestMarker) +
                                        "\n    assert add(2, 3) == 5\n");
  const std::string test_mul = patch_of("tests/test_ops.py", "from calc.ops import mul, sub\n\n\ndef test_sub():\n"
                                        "    assert sub(5, 3) == 2\n\n\ndef test_mul():  # " + std::string(kTestMarker) +
                                        "\n    assert mul(2, 3) == 6\n");
  std::string fixed_add = kCalcBase, fixed_mul = kCalcBase;
  fixed_add.replace(fixed_add.find("a - b"), 5, "a + b  # " + std::string(kGoldMarker));
  fixed_mul.replace(fixed_mul.find("a + b"), 5, "a * b  # " + std::string(kGoldMarker));
  const std::string gold_add = patch_of("calc/ops.py", fixed_add);
  const std::string gold_mul = patch_of("calc/ops.py", fixed_mul);

  // Upstream's later history: both fixes, committed and tagged, then packed.
  std::string both = kCalcBase;
  both.replace(both.find("a - b"), 5, "a + b");
  both.replace(both.find("a + b\n\n\ndef sub"), 5, "a * b");
  WriteFile(work / "calc" / "ops.py", both);
  Git(work, {"commit", "-q", "-am", std::string("the upstream fix ") + kFutureMarker});
  Git(work, {"tag", "v9.9"});
  fs::create_directories(dir / "repos");
  Git(dir, {"clone", "-q", "--bare", work.string(), (dir / "repos" / "calc.git").string()});
  Git(dir / "repos" / "calc.git", {"pack-refs", "--all"});
  fs::remove_all(work);

  using nlohmann::json;
  auto record = [&](const std::string& id, const std::string& problem, const std::string& test_patch,
                    const std::string& gold, const std::string& test) {
    // The published dataset's encoding for one list, a plain list for the other: both are read.
    return json{{"instance_id", id}, {"repo", "acme/calc"}, {"base_commit", base}, {"patch", gold},
                {"test_patch", test_patch}, {"problem_statement", problem}, {"hints_text", "look at ops.py"},
                {"version", "1.0"}, {"FAIL_TO_PASS", json::array({"tests/test_ops.py::" + test}).dump()},
                {"PASS_TO_PASS", json::array({"tests/test_ops.py::test_sub"})}, {"created_at", "2024-01-01T00:00:00Z"}}
        .dump();
  };
  WriteFile(dir / "instances.jsonl",
            record("acme__calc-1", "calc.ops.add(2, 3) returns -1: add() subtracts.", test_add, gold_add, "test_add") + "\n" +
                record("acme__calc-2", "calc.ops.mul(2, 3) returns 5: mul() adds.", test_mul, gold_mul, "test_mul") + "\n");
  WriteFile(dir / "repos.toml", "[repos.\"acme/calc\"]\ncommand = [\"python3\", \"-m\", \"pytest\", \"-rA\", \"-p\", "
                                "\"no:cacheprovider\"]\nparser = \"pytest\"\ntimeout_seconds = 120\n"
                                "environments = [{ versions = [\"*\"], environment = \"" + environment + "\" }]\n");
  return {dir, base};
}

}  // namespace lineage::test
