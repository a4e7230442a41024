// Runs one host process to completion with captured, capped output and a wall-clock deadline, using
// Boost.Process. Internal to sandbox/: both backends (bwrap, none) start their process through here.
#pragma once

#include <string>
#include <vector>

#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

namespace lineage {

struct ProcessRun {
  std::string exe;                // absolute path
  std::vector<std::string> args;  // argv[1..]
  std::vector<std::pair<std::string, std::string>> env;  // the whole environment
  std::string cwd;
  const SandboxLimits* limits = nullptr;
  Cgroup* cgroup = nullptr;  // joined before exec; killed when the run ends
  int inherit_fd = -1;       // a close-on-exec descriptor the child must keep (bwrap's seccomp filter)
  bool address_space_limit = false;  // set RLIMIT_AS to limits->memory_bytes (when no cgroup limits memory)
  const std::string* stdin_data = nullptr;  // fed to standard input (then EOF); /dev/null when null or empty
};

// Starts the process in its own process group with rlimits (CPU, file size, open files, no core dumps),
// reads stdout and stderr up to the cap, and kills the group (and the cgroup) when the deadline passes,
// when output exceeds the cap, or when the main process exits: nothing it started survives it.
Result<SandboxResult> RunProcess(const ProcessRun& run);

}  // namespace lineage
