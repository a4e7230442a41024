// Building agents: the build cache is bounded (least recently used builds go first, builds in use never),
// a build that floods its disk ends at the cap, and a tree that does not build says why as a value.
#include <catch2/catch.hpp>

#include "harness/harness.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;

Sandbox& RealSandbox() {
  static std::unique_ptr<Sandbox> sandbox = [] {
    auto s = Sandbox::Create(Sandbox::Backend::kBwrap);
    REQUIRE(s.ok());
    return std::move(s).value();
  }();
  return *sandbox;
}

// The real sandbox with a lower disk cap, as a run's [sandbox] disk gives.
class SmallDisk : public Sandbox {
 public:
  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    SandboxSpec small = spec;
    small.limits.disk_bytes = 8ull << 20;
    return RealSandbox().Run(small);
  }
  std::vector<std::string> EnforcedLimits() const override { return RealSandbox().EnforcedLimits(); }
};

// An agent whose build writes `megabytes` of output; `tag` makes its tree (and so its cache entry) distinct.
std::vector<TreeEntry> Agent(int megabytes, const std::string& tag) {
  return {{"agent.toml", TreeEntry::Kind::kFile,
           "protocol = 1\nname = \"" + tag + "\"\n[build]\ncommand = \"head -c " + std::to_string(megabytes) +
               "000000 /dev/zero > $LINEAGE_BUILD_DIR/out\"\n[run]\ncommand = \"true\"\n"}};
}

int CachedBuilds(const fs::path& home) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(home / "cache" / "builds")) n += fs::is_directory(e.path() / "build");
  return n;
}

TEST_CASE("the build cache keeps to its size, evicting the least recently used builds not in use") {
  test::TempDir home;
  const std::uint64_t cap = 2'500'000;  // room for two 1 MB builds
  std::optional<BuiltAgent> in_use;
  {
    auto a = BuildAgent(home.path(), Agent(1, "a"), RealSandbox(), cap);
    REQUIRE(a.ok());
    REQUIRE(a->built);
    in_use = std::move(*a->built);  // held: never evicted
  }
  REQUIRE(BuildAgent(home.path(), Agent(1, "b"), RealSandbox(), cap).ok());
  REQUIRE(BuildAgent(home.path(), Agent(1, "c"), RealSandbox(), cap).ok());
  CHECK(CachedBuilds(home.path()) == 2);
  CHECK(fs::exists(in_use->build_dir / "out"));  // b went, though a is older
  in_use.reset();
  REQUIRE(BuildAgent(home.path(), Agent(1, "d"), RealSandbox(), cap).ok());
  CHECK(CachedBuilds(home.path()) == 2);
  auto again = BuildAgent(home.path(), Agent(1, "a"), RealSandbox(), cap);
  REQUIRE(again.ok());
  REQUIRE(again->built);
  CHECK_FALSE(again->built->cached);  // a, no longer held and the oldest, was evicted
}

TEST_CASE("a build that floods its disk fails at the cap, and leaves nothing in the cache") {
  test::TempDir home;
  SmallDisk sandbox;
  auto built = BuildAgent(home.path(), Agent(64, "flood"), sandbox);
  REQUIRE(built.ok());  // the agent's failure, not lineage's
  REQUIRE_FALSE(built->built);
  CHECK(built->failure.cause == BuildFailure::Cause::kLimit);
  CHECK(built->failure.limit == SandboxLimit::kDisk);
  CHECK(built->failure.Reason() == "build failed (the disk limit)");
  CHECK(CachedBuilds(home.path()) == 0);
}

TEST_CASE("a tree that does not build is an outcome naming its cause, not an error") {
  test::TempDir home;
  auto exits = BuildAgent(home.path(),
                          {{"agent.toml", TreeEntry::Kind::kFile,
                            "protocol = 1\n[build]\ncommand = \"echo compiling; exit 3\"\n[run]\ncommand = \"true\"\n"}},
                          RealSandbox());
  REQUIRE(exits.ok());
  REQUIRE_FALSE(exits->built);
  CHECK(exits->failure.cause == BuildFailure::Cause::kExit);
  CHECK(exits->failure.exit_code == 3);
  CHECK(exits->failure.Reason() == "build failed (exit 3)");
  CHECK_THAT(exits->failure.log, Catch::Contains("compiling"));
  CHECK(fs::exists(exits->failure.log_file));
  CHECK(CachedBuilds(home.path()) == 0);

  auto no_manifest = BuildAgent(home.path(), {{"main.py", TreeEntry::Kind::kFile, "print(1)\n"}}, RealSandbox());
  REQUIRE(no_manifest.ok());
  REQUIRE_FALSE(no_manifest->built);
  CHECK(no_manifest->failure.cause == BuildFailure::Cause::kManifest);
  CHECK_THAT(no_manifest->failure.Reason(), Catch::StartsWith("build failed: ") && Catch::Contains("no agent.toml"));
  auto as_error = std::move(*no_manifest).OrError();
  CHECK(as_error.status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("an agent that exits at once, silent and with no result, is no_result, never a crash of lineage") {
  test::TempDir home;
  auto build = BuildAgent(home.path(), {{"agent.toml", TreeEntry::Kind::kFile, "protocol = 1\n[run]\ncommand = \"true\"\n"}},
                          RealSandbox());
  REQUIRE(build.ok());
  REQUIRE(build->built);
  test::TempDir ws;
  test::WriteFile(ws / "README.md", "a task\n");
  AgentRunOptions run;
  run.runtime.home = home.path();
  run.workspace = ws.path();
  run.instruction = "do something";
  run.task_id = "t";
  run.runtime.models.models.push_back(llm::ModelConfig{});
  run.runtime.models.models.back().alias = "default";
  run.runtime.models.models.back().model = "m";
  run.runtime.models.models.back().base_url = "http://127.0.0.1:9";
  auto result = RunAgent(*build->built, run, RealSandbox());
  REQUIRE(result.ok());
  CHECK(result->status == "no_result");
  CHECK(result->summary.empty());
}

}  // namespace
}  // namespace lineage
