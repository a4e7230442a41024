// Sandboxed execution of hostile code: every agent run, agent build and benchmark test goes through here.
//
// A SandboxSpec says what to run and what it may touch; Sandbox::Run() runs it to completion and returns a
// SandboxResult. The `bwrap` backend isolates with bubblewrap (new user, pid, net, ipc, uts and cgroup
// namespaces; every capability dropped; system directories read-only; /proc read-only), a seccomp filter
// built with libseccomp, rlimits, and cgroup memory and pids limits where the host allows them.
//
// What a sandbox may write lives in file systems of its own, never on the host's disk: each writable mount
// is a private tmpfs that lineage fills with the host directory's files before the command starts and, for
// kReadWrite, copies back afterwards (no link followed, no special file, no setuid bit, `.git` untouched).
// Every writable place -- those mounts, /tmp and /dev/shm -- has a byte cap, and all of them together an
// entry cap; reaching either ends the run with limit `disk`. A `.git` directory at the root of a writable
// mount is bound read-only: nothing in a sandbox can plant a hook or a configuration the host runs later.
//
// A sandbox starts with descriptors 0, 1 and 2 only, whatever its caller holds, and never runs as host
// root: when lineage runs as root, it runs as SandboxOptions' unprivileged user. It lives in a PID
// namespace whose init dies with lineage, so whenever lineage dies, however abruptly, the kernel kills
// every process of every sandbox it started. When a run ends for any reason -- exit, timeout, a cap --
// the whole sandbox is killed and reaped: no process outlives it.
//
// The host side reads what a sandbox wrote with ReadTree() (base/safe_tree.h), which never follows a
// symlink out of the workspace, refuses special files and bounds sizes.
//
// Thread-safety: Run() may be called from several threads at once; each call owns its processes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/safe_tree.h"
#include "base/status.h"

namespace lineage {

// A spec and its result cross hosts as JSON (sandbox_json.h): a field added to one of these structs is
// mapped there too, or the build stops.
struct SandboxMount {
  enum class Kind {
    kReadOnly,   // `host` bound read-only
    kReadWrite,  // `host`'s files in a private file system; what the command leaves is copied back
    kScratch,    // `host`'s files in a private file system; nothing is copied back
    kTmpfs,      // an empty private file system of `tmpfs_bytes`
  };
  Kind kind = Kind::kReadOnly;
  std::string host;              // host path (all but kTmpfs)
  std::string inside;            // absolute path inside the sandbox
  std::uint64_t tmpfs_bytes = 0;  // size cap (kTmpfs only)
  // kScratch only: the private file system holds these files, written from memory, and `host` need not
  // exist (a scoring copy of a large tree never touches the host's disk). A backend that needs a directory
  // (the Slurm executor, the unsafe one) first writes them to `host` (WriteMountFiles).
  std::shared_ptr<const std::vector<TreeEntry>> files;

  bool operator==(const SandboxMount&) const = default;
};

// Defaults are what an agent gets.
struct SandboxLimits {
  std::int64_t wall_ms = 600'000;                     // whole run, then everything is killed
  std::int64_t cpu_seconds = 600;                     // RLIMIT_CPU per process
  std::uint64_t memory_bytes = 4ull << 30;            // cgroup memory limit (RLIMIT_AS without cgroups)
  int pids = 2048;  // cgroup pids limit; Polyglot's bank-account references run 1,000 threads at once
  std::uint64_t file_size_bytes = 1ull << 30;         // RLIMIT_FSIZE
  int open_files = 1024;                              // RLIMIT_NOFILE
  std::uint64_t output_bytes = 1ull << 20;            // captured stdout, and separately stderr; more ends the run
  std::uint64_t tmp_bytes = 512ull << 20;             // the private /tmp, and /dev/shm
  std::uint64_t disk_bytes = 2ull << 30;              // each writable mount (kReadWrite, kScratch)
  std::uint64_t disk_entries = 200'000;               // files and directories in all writable places

  bool operator==(const SandboxLimits&) const = default;
};

// The environment every sandboxed command starts from; callers add to it.
inline const std::map<std::string, std::string>& DefaultSandboxEnv() {
  static const std::map<std::string, std::string> kEnv = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/tmp"}, {"LANG", "C.UTF-8"}, {"TMPDIR", "/tmp"}};
  return kEnv;
}

struct SandboxSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH inside the sandbox
  std::string workdir = "/tmp";   // inside the sandbox
  std::vector<SandboxMount> mounts;
  std::map<std::string, std::string> env = DefaultSandboxEnv();  // the whole environment: nothing is inherited
  SandboxLimits limits;
  std::string stdin_data;  // the command's standard input; empty means /dev/null
  // A host Unix socket (the model gateway) to expose at `socket_inside`.
  std::string socket_host, socket_inside;
  // Where the same server listens on TCP ("HOST:PORT"), for an executor whose runs are on other hosts: the
  // Slurm executor's node relays `socket_inside` there. Empty: the Unix socket only.
  std::string socket_tcp;
  // A root file system to use as / in place of the host's (an environment: sandbox/environment.h); its
  // system directories replace the host's, whose /usr is then at kHostRootInside. Empty: the host's. Only
  // the bwrap backend can run it. The command gets $LINEAGE_HOST_EXEC (HostExecPrefix()).
  std::string root;
  // What the run is for ("agent 7 task python/bob"), for this host's logs; not seen inside, nor by an
  // executor's other users.
  std::string tag;
  // Host directories the command must not see wherever a system directory or a read-only mount would show
  // them (a suite's tasks, reference solutions and hidden tests, installed under /usr, say): each is covered
  // by an empty read-only file system. A mount whose host path lies inside one is the caller's explicit
  // choice and stays visible. The backend adds HiddenFromSandboxes() to these.
  std::vector<std::string> hidden;
  // Whom the run serves, by ids alone, for an executor's job listing, which every user of a cluster may see
  // (squeue shows a Slurm job's comment): never a task's name, which may be one of a held-out set.
  std::optional<std::int64_t> run_id, agent_id;

  bool operator==(const SandboxSpec&) const = default;
};

// Writes each mount's `files` to its `host`, which must not exist yet or be empty, and drops them from the
// spec: for a backend whose runs need the files in a directory.
Status WriteMountFiles(SandboxSpec& spec);

// Adds `host_dir` to what every sandbox this process starts hides (SandboxSpec::hidden): OpenEvaluator adds
// each suite's directory. lineage's own suites, DataDir()/evaluators, are always hidden.
void HideFromSandboxes(const std::string& host_dir);
// Every directory HideFromSandboxes() was given, and DataDir()/evaluators; canonical paths.
std::vector<std::string> HiddenFromSandboxes();

// Which limit ended a run.
enum class SandboxLimit { kWall, kCpu, kMemory, kPids, kOutput, kFileSize, kDisk };
// "wall", "cpu", "memory", "pids", "output", "file_size", "disk"
const char* SandboxLimitName(SandboxLimit limit);

struct SandboxResult {
  std::optional<int> exit_code;  // set when the command exited
  std::optional<int> signal;     // set when it was killed by a signal
  std::optional<SandboxLimit> limit;
  std::string stdout_text, stderr_text;  // up to limits.output_bytes each, then a truncation marker
  bool stdout_truncated = false, stderr_truncated = false;
  std::int64_t wall_ms = 0, cpu_ms = 0;
  std::uint64_t peak_memory_bytes = 0;

  bool ok() const { return exit_code == 0 && !limit; }
  bool operator==(const SandboxResult&) const = default;
};

inline constexpr const char* kTruncationMarker = "\n[lineage: output truncated]\n";

// Who a sandbox runs as on the host when lineage runs as root (otherwise: lineage's own user). By default a
// uid and gid of lineage's own that no account has: a host process of any user (nobody's, say) could
// otherwise read a sandbox's /proc/PID/environ, with its gateway token, or ptrace it.
inline constexpr std::uint32_t kSandboxUid = 2'000'000'000;
struct SandboxUser {
  std::uint32_t uid = kSandboxUid, gid = kSandboxUid;
};
// Parses "nobody", "1234", "1234:1234" or "name:group"; InvalidArgument names `what` when unknown.
Result<SandboxUser> ParseSandboxUser(const std::string& text, const std::string& what);

struct SandboxOptions {
  // Who sandboxes run as when lineage runs as root; unset: $LINEAGE_SANDBOX_USER, else kSandboxUid.
  std::optional<SandboxUser> user;
};

// What this host supports, detected at start-up.
struct HostSupport {
  std::string bwrap_path;  // empty when bubblewrap is missing
  std::string bwrap_version;
  bool user_namespaces = false;  // bwrap could create its namespaces
  bool seccomp = false;
  int cgroup_version = 0;  // 0 (unusable), 1 or 2
  bool cgroup_memory = false, cgroup_pids = false;
  std::string shim_path;  // lineage-sandbox-shim; empty when missing
  std::string identity;   // "lineage's own user (uid 1000)" or "uid 2000000000:2000000000 (lineage runs as root)"
  std::string problem;  // why the bwrap backend cannot run here, with the fix; empty when it can
};
HostSupport DetectHost(const SandboxOptions& options = {});

class Sandbox {
 public:
  enum class Backend { kBwrap, kNone };
  virtual ~Sandbox() = default;

  // kBwrap fails with FailedPrecondition (naming the fix) when the host cannot run it. kNone isolates
  // nothing and must only be created when the user passed --unsafe-no-sandbox; it logs a loud warning.
  static Result<std::unique_ptr<Sandbox>> Create(Backend backend, const SandboxOptions& options = {});

  // Runs `spec` to completion. An error means the sandbox itself could not start (bad spec, host
  // problem); anything the command does is reported in the result.
  virtual Result<SandboxResult> Run(const SandboxSpec& spec) = 0;

  // One line per limit: which are enforced here and how ("memory: cgroup v1 memory.limit_in_bytes").
  virtual std::vector<std::string> EnforcedLimits() const = 0;

  // Whether runs read their mounts' host paths on this host (false: on another, through a shared file
  // system, as Slurm's do). Only then may a caller keep a run's files in this host's memory (/dev/shm).
  virtual bool RunsOnThisHost() const { return true; }
};

// The path of `program` as a command would find it: itself when it holds a '/', else the first executable in
// the directories of `path_var` (the sandbox's default PATH when empty). Empty when there is none.
std::string FindInPath(const std::string& program, const std::string& path_var = "");

// Runs a *trusted* host program -- an evaluator plug-in listing its tasks, say -- with the spec's limits,
// environment and standard input, but no isolation: mounts are not allowed and `workdir` is a host path.
// Never use it for anything an agent wrote or could have changed.
Result<SandboxResult> RunTrusted(const SandboxSpec& spec);

// Parses "512", "64K", "512M", "4G" (powers of 1024) into bytes; InvalidArgument names `what`.
Result<std::uint64_t> ParseSize(const std::string& text, const std::string& what);

}  // namespace lineage
