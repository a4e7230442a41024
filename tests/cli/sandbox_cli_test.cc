// `lineage sandbox check` and `lineage sandbox run`, through the real binary.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace lineage {
namespace {

using test::RunLineage;

TEST_CASE("sandbox check lists what is enforced") {
  test::TempDir tmp;
  auto r = RunLineage(tmp / "home", {"sandbox", "check"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("user namespaces  yes") != std::string::npos);
  CHECK(r.out.find("limits enforced:") != std::string::npos);
  CHECK(r.out.find("memory: ") != std::string::npos);
}

TEST_CASE("sandbox run --json reports the fields scripts rely on") {
  test::TempDir tmp;
  test::WriteFile(tmp / "ws/in.txt", "hello\n");
  auto r = RunLineage(tmp / "home", {"sandbox", "run", "--json", "--wall", "10", "--bind",
                                     (tmp / "ws").string() + ":/workspace", "--env", "GREETING=hi", "--", "sh",
                                     "-c", "cat in.txt; echo $GREETING; echo err >&2; pwd > out.txt; exit 3"});
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["exit_code"] == 3);
  CHECK(j["signal"].is_null());
  CHECK(j["limit"].is_null());
  CHECK(j["stdout"] == "hello\nhi\n");
  CHECK(j["stderr"] == "err\n");
  CHECK(j["wall_ms"].get<int>() >= 0);
  CHECK(j.contains("cpu_ms"));
  CHECK(j.contains("peak_memory_bytes"));
  CHECK(test::ReadFileOrDie(tmp / "ws/out.txt") == "/workspace\n");
}

TEST_CASE("sandbox run passes output through and summarises on stderr") {
  test::TempDir tmp;
  auto r = RunLineage(tmp / "home", {"sandbox", "run", "--wall", "1", "--", "sh", "-c", "echo out; sleep 10"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "out\n");
  CHECK(r.err.find("sandbox: signal 9, ended by the wall limit") != std::string::npos);
}

TEST_CASE("sandbox run refuses bad values, naming them") {
  test::TempDir tmp;
  auto memory = RunLineage(tmp / "home", {"sandbox", "run", "--memory", "lots", "--", "true"});
  CHECK(memory.exit_code == 1);
  CHECK(memory.err.find("--memory 'lots' is not a size") != std::string::npos);
  auto bind = RunLineage(tmp / "home", {"sandbox", "run", "--bind", "nocolon", "--", "true"});
  CHECK(bind.exit_code == 1);
  CHECK(bind.err.find("--bind 'nocolon' is not HOST:INSIDE") != std::string::npos);
  auto env = RunLineage(tmp / "home", {"sandbox", "run", "--env", "=x", "--", "true"});
  CHECK(env.exit_code == 1);
  CHECK(env.err.find("--env '=x' is not NAME=VALUE") != std::string::npos);
}

TEST_CASE("the unsafe no-sandbox backend runs without isolation and says so loudly") {
  test::TempDir tmp;
  auto r = RunLineage(tmp / "home", {"sandbox", "run", "--unsafe-no-sandbox", "--json", "--", "hostname"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("WITHOUT ISOLATION") != std::string::npos);
  CHECK(nlohmann::json::parse(r.out)["stdout"] != "sandbox\n");
}

}  // namespace
}  // namespace lineage
