// ThrottledSandbox: how a run's sandboxed work is held to the run's [sandbox] limits and its number of
// sandboxes at once (a run builds one over its executor).
#pragma once

#include <algorithm>
#include <cstdint>
#include <semaphore>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace lineage {

// All sandboxed work of a run goes through one of these: at most `slots` sandboxes at once, each with the
// run's memory and pids limits ([sandbox] in the run configuration).
class ThrottledSandbox : public Sandbox {
 public:
  ThrottledSandbox(Sandbox& inner, int slots, std::uint64_t memory_bytes, int pids, std::uint64_t disk_bytes)
      : inner_(inner), slots_(slots), memory_bytes_(memory_bytes), pids_(pids), disk_bytes_(disk_bytes) {}
  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    SandboxSpec limited = spec;
    limited.limits.memory_bytes = std::min(limited.limits.memory_bytes, memory_bytes_);
    limited.limits.pids = std::min(limited.limits.pids, pids_);
    limited.limits.disk_bytes = std::min(limited.limits.disk_bytes, disk_bytes_);
    slots_.acquire();
    auto result = inner_.Run(limited);
    slots_.release();
    return result;
  }
  std::vector<std::string> EnforcedLimits() const override { return inner_.EnforcedLimits(); }
  bool RunsOnThisHost() const override { return inner_.RunsOnThisHost(); }

 private:
  Sandbox& inner_;
  std::counting_semaphore<4096> slots_;
  const std::uint64_t memory_bytes_;
  const int pids_;
  const std::uint64_t disk_bytes_;
};

}  // namespace lineage
