// Building agents: the build cache is bounded (least recently used builds go first, builds in use never),
// and a build that floods its disk ends at the cap.
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
    in_use = std::move(a).value();  // held: never evicted
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
  CHECK_FALSE(again->cached);  // a, no longer held and the oldest, was evicted
}

TEST_CASE("a build that floods its disk fails at the cap, and leaves nothing in the cache") {
  test::TempDir home;
  SmallDisk sandbox;
  auto built = BuildAgent(home.path(), Agent(64, "flood"), sandbox);
  REQUIRE_FALSE(built.ok());
  CHECK_THAT(built.status().message(), Catch::Contains("the disk limit"));
  CHECK(CachedBuilds(home.path()) == 0);
}

}  // namespace
}  // namespace lineage
