// An install as a user gets it: `cmake --install` into a fresh prefix, then the installed `lineage` finds its
// data (prompts, starter suite, seed agent, examples) and its sandbox shim relative to itself.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::RunCommand;
using test::TempDir;

TEST_CASE("cmake --install lays out a lineage that finds its data and shim beside itself") {
  TempDir dir;
  const fs::path prefix = dir / "usr";
  auto installed = RunCommand({LINEAGE_CMAKE, "--install", LINEAGE_BUILD_DIR, "--prefix", prefix.string()});
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  for (const char* file : {"bin/lineage", "bin/lineage-fake-llm", "bin/lineage-sandbox-shim",
                           "share/lineage/prompts/diagnose.md", "share/lineage/prompts/self_modify.md",
                           "share/lineage/evaluators/starter/suite.toml", "share/lineage/agents/conductor/agent.toml",
                           "share/lineage/examples/quickstart.toml", "share/doc/lineage/README.md"}) {
    INFO(file);
    CHECK(fs::exists(prefix / file));
  }
  const std::string lineage = (prefix / "bin" / "lineage").string();
  auto version = RunCommand({lineage, "version"});
  REQUIRE(version.exit_code == 0);
  CHECK_THAT(version.out, Catch::Contains("data: " + (prefix / "share" / "lineage").string() + "\n"));

  // The starter suite and the sandbox work from the install alone.
  auto list = RunCommand({lineage, "--home", (dir / "home").string(), "bench", "list", "--suite", "starter"});
  INFO(list.err);
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.out, Catch::Contains("py/fizzbuzz"));
  auto sandbox = RunCommand({lineage, "sandbox", "run", "--", "/bin/echo", "inside"});
  INFO(sandbox.err);
  CHECK(sandbox.exit_code == 0);
  CHECK(sandbox.out == "inside\n");

  // The quickstart's configuration validates from where it was installed (its seed is ../agents/conductor).
  auto validate = RunCommand({lineage, "run", "validate", (prefix / "share/lineage/examples/quickstart.toml").string()},
                             {{"OPENAI_API_KEY", "sk-test-not-a-real-key"}});
  INFO(validate.out << validate.err);
  CHECK(validate.exit_code == 0);
}

TEST_CASE("an install under /usr shows no sandbox its starter suite's references or hidden tests") {
  // A root install puts the starter suite under /usr/local/share/lineage, and every sandbox sees /usr.
  if (geteuid() != 0) {
    WARN("skipped: installing under /usr needs root");
    return;
  }
  const fs::path prefix = "/usr/local/lineage-install-test-" + std::to_string(getpid());
  struct Remove {
    fs::path path;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } remove{prefix};
  auto installed = RunCommand({LINEAGE_CMAKE, "--install", LINEAGE_BUILD_DIR, "--prefix", prefix.string()});
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  const fs::path starter = prefix / "share/lineage/evaluators/starter";
  REQUIRE(fs::exists(starter / "cpp/leap-year/solution/leap.cpp"));
  auto read = RunCommand({(prefix / "bin/lineage").string(), "sandbox", "run", "--", "sh", "-c",
                          "ls -A " + starter.string() + "; cat " + (starter / "cpp/leap-year/solution/leap.cpp").string() +
                              " " + (starter / "cpp/leap-year/tests/test_leap.cpp").string()});
  INFO(read.out << read.err);
  CHECK(read.out.find("cpp") == std::string::npos);
  CHECK(read.out.find("is_leap") == std::string::npos);
  CHECK(read.out.find("TEST(") == std::string::npos);
}

}  // namespace
}  // namespace lineage
