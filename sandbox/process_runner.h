// Runs one host process to completion with captured, capped output and a wall-clock deadline, using
// Boost.Process. Internal to sandbox/: both backends (bwrap, none) start their process through here.
#pragma once

#include <functional>
#include <optional>
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
  Cgroup* cgroup = nullptr;   // joined before exec; killed when the run ends
  std::vector<int> keep_fds;  // close-on-exec descriptors the child keeps; it inherits no other beyond 0-2
  bool address_space_limit = false;  // set RLIMIT_AS to limits->memory_bytes (when no cgroup limits memory)
  const std::string* stdin_data = nullptr;  // fed to standard input (then EOF); /dev/null when null or empty
  // Called once the process has started, with its pid, before the deadline starts; an error kills the
  // process and is returned, with what it printed on stderr.
  std::function<Status(int pid)> on_start;
  // Polled every few milliseconds while the process runs; a limit it returns ends the run.
  std::function<std::optional<SandboxLimit>()> watch;
};

// Starts the process in its own process group with rlimits (CPU, file size, open files, no core dumps), a
// parent-death signal (it dies with this process, even one killed before the signal was armed) and no
// inherited descriptors but 0-2 and `keep_fds`. Reads stdout and stderr up to the cap, and kills the group
// (and the cgroup) when the deadline passes, when output exceeds the cap, when `watch` says so, or when the
// main process exits: nothing it started survives it.
Result<SandboxResult> RunProcess(const ProcessRun& run);

}  // namespace lineage
