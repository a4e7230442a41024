// slurm_bench: what the Slurm executor adds to a sandboxed run, and the jobs in flight it sustains.
//
//   scripts/slurm-local.sh start
//   build/release/bench/slurm_bench [--jobs N] [--shared-dir DIR]
//
// (a) N sequential runs of `true` through the executor: the time from Run() to its result, less the
// command's own wall time in the node's sandbox, is lineage's and Slurm's overhead per job (submission,
// scheduling, the node starting lineage and bubblewrap, the result file read back); p50 and p95. (b) N runs
// with 1, 2 and 4 threads submitting at once: jobs per second (the node's CPUs bound how many run at once:
// each job asks for one).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/files.h"
#include "sandbox/slurm.h"

using namespace lineage;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int jobs = 40;
  std::filesystem::path shared = std::filesystem::temp_directory_path() / ("slurm-bench-" + RandomHex(4));
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--jobs")) jobs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--shared-dir")) shared = argv[i + 1];
  }
  SlurmOptions options;
  options.shared_dir = shared;
  options.job_prefix = "lineage-bench";
  options.lineage_binary = LINEAGE_BINARY;
  auto created = CreateSlurmSandbox(options);
  if (!created.ok()) {
    std::fprintf(stderr, "slurm_bench: %s\n", created.status().message().c_str());
    return 2;
  }
  Sandbox& executor = **created;
  SandboxSpec spec;
  spec.argv = {"true"};
  spec.limits.wall_ms = 60'000;
  spec.limits.memory_bytes = 256ull << 20;

  std::vector<double> overhead_ms, total_ms;
  for (int i = 0; i < jobs; ++i) {
    const auto start = Clock::now();
    auto r = executor.Run(spec);
    if (!r.ok() || !r->ok()) {
      std::fprintf(stderr, "slurm_bench: a job failed: %s\n", r.ok() ? r->stderr_text.c_str() : r.status().message().c_str());
      return 1;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    total_ms.push_back(ms);
    overhead_ms.push_back(ms - r->wall_ms);
  }
  std::sort(overhead_ms.begin(), overhead_ms.end());
  std::sort(total_ms.begin(), total_ms.end());
  std::printf("slurm_bench: %d sequential jobs of `true`, shared dir %s\n", jobs, shared.c_str());
  std::printf("  submission to result read, p50 %.0f ms, p95 %.0f ms\n", total_ms[jobs / 2], total_ms[jobs * 95 / 100]);
  std::printf("  of which not the command's sandboxed run (overhead), p50 %.0f ms, p95 %.0f ms\n",
              overhead_ms[jobs / 2], overhead_ms[jobs * 95 / 100]);
  for (int threads : {1, 2, 4}) {
    std::atomic<int> next{0}, failed{0};
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        while (next++ < jobs) {
          auto r = executor.Run(spec);
          if (!r.ok() || !r->ok()) ++failed;
        }
      });
    }
    for (auto& t : pool) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("  %d in flight: %.1f jobs/s (%d failed)\n", threads, jobs / seconds, failed.load());
  }
  std::error_code ec;
  std::filesystem::remove_all(shared, ec);
  return 0;
}
