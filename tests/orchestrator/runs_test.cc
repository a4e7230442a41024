// The home's lock: one process runs a home's runs, and a holder that died lets the next one in.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "orchestrator/runs.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

TEST_CASE("a live holder's home is refused at once, naming it") {
  test::TempDir home;
  auto first = LockHomeForRuns(home.path(), "a daemon");
  REQUIRE(first.ok());
  auto second = LockHomeForRuns(home.path(), "run 2 in the foreground");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("is in use by a daemon (pid " + std::to_string(getpid()) + ")") !=
        std::string::npos);
  CHECK(HomeHolder(home.path()).has_value());
}

TEST_CASE("a holder killed while a child it forked still holds the lock: the next holder waits for that child") {
  // As a daemon killed between a fork and its child's exec: the child holds the close-on-exec lock for a
  // moment after the daemon is gone, and a new daemon started at once must not be refused for it.
  test::TempDir home;
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t holder = fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    auto lock = LockHomeForRuns(home.path(), "a daemon");
    if (!lock.ok()) _exit(1);
    if (fork() == 0) {  // the straggler: keeps the lock 1 s past its parent
      (void)!write(ready[1], "x", 1);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      _exit(0);
    }
    _exit(0);
  }
  char byte;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  int status = 0;
  waitpid(holder, &status, 0);
  close(ready[0]);
  close(ready[1]);

  const auto start = std::chrono::steady_clock::now();
  auto next = LockHomeForRuns(home.path(), "a daemon");
  INFO((next.ok() ? std::string() : next.status().message()));
  CHECK(next.ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

}  // namespace
}  // namespace lineage
