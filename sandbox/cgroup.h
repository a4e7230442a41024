// Per-sandbox cgroups (v1 or v2) for memory and pids limits, peak memory, CPU time and a sure kill.
// Internal to sandbox/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace lineage {

struct CgroupSupport {
  int version = 0;              // 0: none usable
  std::string memory_parent;    // where a sandbox's memory (v2: unified) cgroup is created
  std::string pids_parent;      // v1 only; v2 uses memory_parent
  std::string cpuacct_parent;   // v1 only
  bool memory = false, pids = false;
};

// Probes by creating and removing a test cgroup under this process's own cgroup.
CgroupSupport DetectCgroups();

class Cgroup {
 public:
  // Creates the sandbox's cgroups (one per controller on v1, one on v2) and sets the limits.
  static Result<std::unique_ptr<Cgroup>> Create(const CgroupSupport& support, std::uint64_t memory_bytes, int pids);
  ~Cgroup();  // kills what is left and removes the cgroups

  // Called in the forked child before exec: moves the calling process into every cgroup. Only
  // async-signal-safe calls (open, write, close) on paths prepared in advance.
  void JoinFromChild() const;

  // Kills every process still in the cgroup and waits until it is empty (bounded).
  void KillAll();

  // The processes in the cgroup now (host pids).
  std::vector<int> Processes() const;

  std::uint64_t PeakMemoryBytes() const;
  std::int64_t CpuMillis() const;  // -1 when unknown
  bool MemoryLimitHit() const;
  bool PidsLimitHit() const;

 private:
  Cgroup() = default;
  std::vector<std::string> dirs_;        // every created directory
  std::vector<std::string> procs_files_;  // cgroup.procs of each
  int version_ = 0;
  std::string memory_dir_, pids_dir_, cpu_dir_;
};

}  // namespace lineage
