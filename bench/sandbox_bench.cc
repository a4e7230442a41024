// sandbox_bench: the cost of the sandbox, p50 and p95 over repeated runs.
//
//   build/release/bench/sandbox_bench [--runs N]
//
// Runs `true` and an agent-like shell pipeline (a) directly with posix_spawn, (b) through the `none`
// backend (lineage's process runner alone) and (c) in the bwrap sandbox, and prints the wall time; then
// `true` in a sandbox with a writable workspace of 200 small files, which lineage copies into the
// sandbox's own file system and back.
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

extern char** environ;
using namespace lineage;
using Clock = std::chrono::steady_clock;

namespace {

void RunDirect(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) std::exit(2);
  int status;
  waitpid(pid, &status, 0);
}

void Measure(const char* label, int runs, const std::function<void()>& fn) {
  std::vector<double> ms;
  fn();  // warm up caches
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("  %-34s p50 %7.2f ms   p95 %7.2f ms\n", label, ms[ms.size() / 2], ms[ms.size() * 95 / 100]);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 200;
  if (argc == 3 && std::string(argv[1]) == "--runs") runs = std::atoi(argv[2]);
  auto bwrap = Sandbox::Create(Sandbox::Backend::kBwrap);
  if (!bwrap.ok()) {
    std::fprintf(stderr, "sandbox_bench: %s\n", bwrap.status().ToString().c_str());
    return 2;
  }
  auto none = Sandbox::Create(Sandbox::Backend::kNone);
  const std::vector<std::string> kTrue = {"true"};
  const std::vector<std::string> kPipeline = {"sh", "-c", "ls /usr/bin | grep -c a | wc -l > /dev/null"};
  for (const auto& [name, cmd] : {std::pair{"true", kTrue}, std::pair{"pipeline", kPipeline}}) {
    SandboxSpec spec;
    spec.argv = cmd;
    std::printf("%s (%d runs)\n", name, runs);
    Measure("direct (posix_spawn)", runs, [&] { RunDirect(cmd); });
    Measure("none backend (runner only)", runs, [&] { (void)(*none)->Run(spec); });
    Measure("bwrap sandbox", runs, [&] {
      auto r = (*bwrap)->Run(spec);
      if (!r.ok() || r->exit_code != 0) std::exit(2);
    });
  }
  // A workspace as an agent gets one: 200 files of 2 KiB in 10 directories.
  const std::filesystem::path workspace = std::filesystem::temp_directory_path() / "lineage-sandbox-bench";
  std::filesystem::remove_all(workspace);
  for (int i = 0; i < 200; ++i) {
    std::filesystem::create_directories(workspace / ("dir" + std::to_string(i % 10)));
    std::ofstream(workspace / ("dir" + std::to_string(i % 10)) / ("file" + std::to_string(i) + ".py")) << std::string(2048, 'x');
  }
  SandboxSpec spec;
  spec.argv = kTrue;
  spec.mounts = {{SandboxMount::Kind::kReadWrite, workspace.string(), "/workspace", 0}};
  spec.workdir = "/workspace";
  std::printf("true, with a 200-file workspace copied in and back (%d runs)\n", runs);
  Measure("bwrap sandbox", runs, [&] {
    auto r = (*bwrap)->Run(spec);
    if (!r.ok() || r->exit_code != 0) std::exit(2);
  });
  std::filesystem::remove_all(workspace);
  return 0;
}
