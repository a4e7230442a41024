// `lineage sandbox check` and `lineage sandbox run`, through the real binary.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include <filesystem>
#include <functional>

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

// True while a process runs exactly `command` (not one that carries it in its own arguments).
bool Running(const std::string& command) {
  return test::AnyProcess([&](const std::string& cmdline) { return cmdline.rfind(command + " ", 0) == 0; });
}

// Polls `condition` for up to `seconds`.
bool Eventually(const std::function<bool()>& condition, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST_CASE("killing lineage at any moment around a sandbox's start leaves no process behind") {
  test::TempDir tmp;
  const std::vector<std::string> args = {"sandbox", "run", "--wall", "600", "--", "sleep", "31418"};
  // How long a sandbox takes to start here and now (a loaded machine is slower): kills are drawn over twice
  // that, so that some land before the command starts and some after.
  std::vector<pid_t> killed;
  auto start = std::chrono::steady_clock::now();
  killed.push_back(test::SpawnCommand(test::LineageArgv(tmp / "home", args)));
  REQUIRE(Eventually([] { return Running("sleep 31418"); }, 30));
  const auto startup = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  kill(killed.back(), SIGKILL);
  waitpid(killed.back(), nullptr, 0);
  REQUIRE(Eventually([] { return !Running("sleep 31418"); }, 10));

  std::mt19937 rng(20261127);  // fixed: the same draws on every run
  int before_start = 0, after_start = 0;
  for (int i = 0; i < 60; ++i) {
    pid_t lineage = test::SpawnCommand(test::LineageArgv(tmp / "home", args));
    killed.push_back(lineage);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (2 * startup.count() + 1)));
    const bool started = Running("sleep 31418");
    REQUIRE(kill(lineage, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(lineage, &status, 0) == lineage);
    REQUIRE(WIFSIGNALED(status));  // the kill landed: lineage was still running
    (started ? after_start : before_start) += 1;
  }
  INFO(before_start << " kills before the command started, " << after_start << " after (a start took "
                    << startup.count() / 1000 << " ms)");
  CHECK(before_start > 0);
  CHECK(after_start > 0);
  // The parent-death signals and the namespace's teardown are asynchronous; give them a moment.
  CHECK(Eventually([] { return !test::AnyProcessMatches("31418"); }, 5));
  // What the killed processes left on disk (their sandbox files) the next lineage process sweeps away.
  REQUIRE(RunLineage(tmp / "home", {"sandbox", "run", "--", "true"}).exit_code == 0);
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path())) {
    for (pid_t pid : killed) {
      CHECK(entry.path().filename().string().rfind("lineage-sandbox-" + std::to_string(pid) + "-", 0) != 0);
    }
  }
}

TEST_CASE("a sandbox's wall limit holds even while lineage is stopped") {
  test::TempDir tmp;
  pid_t lineage = test::SpawnCommand(test::LineageArgv(tmp / "home", {"sandbox", "run", "--wall", "1", "--", "sleep", "31419"}));
  REQUIRE(Eventually([] { return Running("sleep 31419"); }, 10));
  REQUIRE(kill(lineage, SIGSTOP) == 0);
  // lineage's own timer cannot fire now; the shim's backstop (the wall plus 5 s) must.
  CHECK(Eventually([] { return !Running("sleep 31419"); }, 12));
  kill(lineage, SIGKILL);
  waitpid(lineage, nullptr, 0);
}

TEST_CASE("sandbox run --disk caps what a writable bind may hold, and reports limit disk") {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp / "ws");
  auto r = RunLineage(tmp / "home", {"sandbox", "run", "--json", "--disk", "4M", "--bind", (tmp / "ws").string() + ":/workspace",
                                     "--", "sh", "-c", "head -c 8000000 /dev/zero > big; echo done"});
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["limit"] == "disk");
  CHECK_FALSE(std::filesystem::exists(tmp / "ws/big"));
  auto bad = RunLineage(tmp / "home", {"sandbox", "run", "--disk", "much", "--", "true"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("--disk 'much' is not a size") != std::string::npos);
}

}  // namespace
}  // namespace lineage
