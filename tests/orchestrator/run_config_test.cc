// Parsing and checking a run's configuration (orchestrator/run_config.cc): errors name the key and value.
#include <catch2/catch.hpp>

#include "orchestrator/run_config.h"
#include "tests/orchestrator/scripted_sandbox.h"

namespace lineage {
namespace {

// The [executor] table of a Slurm run with `lines` added, parsed.
Result<RunConfig> WithExecutor(const test::TempDir& dir, const std::string& lines) {
  test::WriteFastWorld(dir.path());
  return ParseRunConfig(test::FastRunToml(dir.path(), "http://127.0.0.1:9", 1, "",
                                          "[executor]\nkind = \"slurm\"\nshared_dir = \"/tmp\"\n" + lines),
                        "run.toml", dir.path());
}

TEST_CASE("fast: gateway_listen refuses a wildcard address, whatever its spelling, unless gateway_listen_any says so") {
  test::TempDir dir;
  for (const std::string wildcard : {"0.0.0.0", "::", "::0", "[::]", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0"}) {
    INFO(wildcard);
    auto refused = WithExecutor(dir, "gateway_listen = \"" + wildcard + "\"\n");
    CHECK_THAT(refused.status().message(),
               Catch::Contains("[executor] gateway_listen: '") && Catch::Contains("is a wildcard address") &&
                   Catch::Contains("every interface") && Catch::Contains("gateway_listen_any = true"));
    auto meant = WithExecutor(dir, "gateway_listen = \"" + wildcard + "\"\ngateway_listen_any = true\n");
    INFO(meant.status().ToString());
    CHECK(meant.ok());
  }
  CHECK_THAT(WithExecutor(dir, "gateway_listen = \"\"\n").status().message(),
             Catch::Contains("[executor] gateway_listen: '' names no address"));
  CHECK_THAT(WithExecutor(dir, "gateway_listen = \"gateway.example\"\n").status().message(),
             Catch::Contains("[executor] gateway_listen: 'gateway.example' must be an IP address"));
  CHECK_THAT(WithExecutor(dir, "gateway_listen = \"10.0.0.5:8080\"\n").status().message(),
             Catch::Contains("'10.0.0.5:8080' must be an IP address of this host (10.0.0.5), without a port"));
  CHECK_THAT(WithExecutor(dir, "gateway_listen = \"10.0.0.5\"\ngateway_listen_any = true\n").status().message(),
             Catch::Contains("[executor] gateway_listen_any: true needs gateway_listen to be a wildcard") &&
                 Catch::Contains("'10.0.0.5'"));

  auto address = WithExecutor(dir, "gateway_listen = \"10.0.0.5\"\n");
  REQUIRE(address.ok());
  CHECK(address->executor.gateway_host == "10.0.0.5");
  auto v6 = WithExecutor(dir, "gateway_listen = \"[fd00::5]\"\n");
  REQUIRE(v6.ok());
  CHECK(v6->executor.gateway_host == "fd00::5");  // the address the gateway listens on, bare
}

}  // namespace
}  // namespace lineage
