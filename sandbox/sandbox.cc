#include "sandbox/sandbox.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>

#include "sandbox/cgroup.h"
#include "sandbox/process_runner.h"
#include "sandbox/seccomp_filter.h"

namespace lineage {
namespace fs = std::filesystem;
namespace {

// /etc entries a toolchain needs; the rest of /etc (shadow, ssh keys, the host's configuration) stays out.
constexpr const char* kEtcEntries[] = {
    "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "environment", "gitconfig", "group",
    "host.conf", "hosts", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "mime.types",
    "nsswitch.conf", "passwd", "perl", "profile", "protocols", "python3", "python3.11", "services", "ssl",
    "terminfo", "timezone",
};


std::vector<std::pair<std::string, std::string>> EnvList(const SandboxSpec& spec) {
  return {spec.env.begin(), spec.env.end()};
}

Status ValidateSpec(const SandboxSpec& spec) {
  if (spec.argv.empty()) return Status::InvalidArgument("nothing to run: the command is empty");
  if (spec.workdir.empty() || spec.workdir[0] != '/') {
    return Status::InvalidArgument("workdir '" + spec.workdir + "' must be an absolute path inside the sandbox");
  }
  for (const SandboxMount& m : spec.mounts) {
    if (m.inside.empty() || m.inside[0] != '/') {
      return Status::InvalidArgument("mount target '" + m.inside + "' must be an absolute path inside the sandbox");
    }
    if (m.kind != SandboxMount::Kind::kTmpfs && !fs::exists(m.host)) {
      return Status::InvalidArgument("bind source '" + m.host + "' does not exist");
    }
  }
  if (!spec.socket_host.empty() && !fs::is_socket(spec.socket_host)) {
    return Status::InvalidArgument("'" + spec.socket_host + "' is not a Unix socket");
  }
  if (spec.limits.wall_ms <= 0 || spec.limits.cpu_seconds <= 0 || spec.limits.pids <= 0 ||
      spec.limits.open_files <= 0 || spec.limits.memory_bytes == 0 || spec.limits.output_bytes == 0) {
    return Status::InvalidArgument("every sandbox limit must be positive");
  }
  return Status::OK();
}

// Classifies what ended a run from the exit status and the cgroup's counters.
void Classify(SandboxResult& r, const SandboxLimits& limits, const Cgroup* cgroup) {
  if (cgroup && cgroup->MemoryLimitHit()) {
    r.limit = SandboxLimit::kMemory;
  } else if (cgroup && cgroup->PidsLimitHit()) {
    // The command may have shrugged off its failed forks, but the limit stopped it: report it.
    r.limit = SandboxLimit::kPids;
  } else if (r.signal == SIGXCPU || (r.signal == SIGKILL && !r.limit && r.cpu_ms >= limits.cpu_seconds * 1000)) {
    r.limit = SandboxLimit::kCpu;
  } else if (r.signal == SIGXFSZ) {
    r.limit = SandboxLimit::kFileSize;
  }
}

class BwrapSandbox : public Sandbox {
 public:
  BwrapSandbox(HostSupport host, CgroupSupport cgroups) : host_(std::move(host)), cgroups_(std::move(cgroups)) {}

  std::vector<std::string> EnforcedLimits() const override {
    std::string v = "cgroup v" + std::to_string(cgroups_.version);
    return {
        "wall: killed by lineage after the deadline (the whole PID namespace)",
        "cpu: RLIMIT_CPU per process",
        cgroups_.memory ? "memory: " + v + (cgroups_.version == 2 ? " memory.max" : " memory.limit_in_bytes")
                        : "memory: RLIMIT_AS per process (no usable memory cgroup here)",
        cgroups_.pids ? "pids: " + v + " pids.max" : "pids: NOT ENFORCED (no usable pids cgroup here)",
        "file_size: RLIMIT_FSIZE",
        "open_files: RLIMIT_NOFILE",
        "output: captured up to the cap, then the run is ended",
        "tmp: tmpfs with a size cap",
        "network: none (empty network namespace)",
        "syscalls: seccomp filter (ptrace, mount, bpf, io_uring, keyctl, namespaces, TIOCSTI, ...)",
    };
  }

  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    LINEAGE_RETURN_IF_ERROR(ValidateSpec(spec));
    LINEAGE_ASSIGN_OR_RETURN(UniqueFd filter, BuildSeccompFilter());
    std::unique_ptr<Cgroup> cgroup;
    if (cgroups_.version != 0) {
      auto cg = Cgroup::Create(cgroups_, spec.limits.memory_bytes, spec.limits.pids);
      if (!cg.ok()) return cg.status();
      cgroup = std::move(cg).value();
    }
    ProcessRun run;
    run.exe = host_.bwrap_path;
    run.args = BwrapArgs(spec, filter.get());
    run.env = EnvList(spec);
    run.cwd = "/";
    run.limits = &spec.limits;
    run.cgroup = cgroup.get();
    run.inherit_fd = filter.get();
    run.address_space_limit = !cgroups_.memory;
    run.stdin_data = &spec.stdin_data;
    LINEAGE_ASSIGN_OR_RETURN(SandboxResult result, RunProcess(run));
    // bwrap reports a command killed by signal N as exit status 128 + N.
    if (result.exit_code && *result.exit_code > 128 && *result.exit_code <= 128 + 64) {
      result.signal = *result.exit_code - 128;
      result.exit_code.reset();
    }
    Classify(result, spec.limits, cgroup.get());
    return result;
  }

 private:
  std::vector<std::string> BwrapArgs(const SandboxSpec& spec, int seccomp_fd) const {
    std::vector<std::string> a = {"--unshare-all", "--unshare-user", "--unshare-cgroup", "--die-with-parent",
                                  "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox", "--uid", "1000", "--gid", "1000",
                                  "--ro-bind", "/usr", "/usr"};
    // Debian's merged /usr: /bin, /lib, ... are symlinks into /usr.
    for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
      std::error_code ec;
      if (fs::is_symlink(dir, ec)) {
        a.insert(a.end(), {"--symlink", fs::read_symlink(dir, ec).string(), dir});
      } else if (fs::is_directory(dir, ec)) {
        a.insert(a.end(), {"--ro-bind", dir, dir});
      }
    }
    for (const char* entry : kEtcEntries) {
      std::string path = std::string("/etc/") + entry;
      a.insert(a.end(), {"--ro-bind-try", path, path});
    }
    a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(spec.limits.tmp_bytes),
                       "--tmpfs", "/tmp"});
    for (const SandboxMount& m : spec.mounts) {
      switch (m.kind) {
        case SandboxMount::Kind::kReadOnly: a.insert(a.end(), {"--ro-bind", m.host, m.inside}); break;
        case SandboxMount::Kind::kReadWrite: a.insert(a.end(), {"--bind", m.host, m.inside}); break;
        case SandboxMount::Kind::kTmpfs:
          a.insert(a.end(), {"--size", std::to_string(m.tmpfs_bytes), "--tmpfs", m.inside});
          break;
      }
    }
    if (!spec.socket_host.empty()) a.insert(a.end(), {"--bind", spec.socket_host, spec.socket_inside});
    // bwrap's root is a tmpfs; once every mount point exists, make it read-only so that only the binds
    // and the tmpfs mounts can be written.
    a.insert(a.end(), {"--remount-ro", "/", "--chdir", spec.workdir, "--seccomp", std::to_string(seccomp_fd), "--"});
    a.insert(a.end(), spec.argv.begin(), spec.argv.end());
    return a;
  }

  HostSupport host_;
  CgroupSupport cgroups_;
};

// No isolation at all: the command runs on the host as lineage's user. Limits still apply.
class UnsafeSandbox : public Sandbox {
 public:
  std::vector<std::string> EnforcedLimits() const override {
    return {"NO ISOLATION: network, files and processes of this host are reachable",
            "wall, cpu, file_size, open_files, output: as with bwrap", "memory: RLIMIT_AS per process"};
  }

  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    LINEAGE_RETURN_IF_ERROR(ValidateSpec(spec));
    auto path = spec.env.find("PATH");
    std::string exe = FindInPath(spec.argv[0], path == spec.env.end() ? "" : path->second);
    if (exe.empty()) return Status::InvalidArgument("command '" + spec.argv[0] + "' not found in PATH");
    ProcessRun run;
    run.exe = exe;
    run.args.assign(spec.argv.begin() + 1, spec.argv.end());
    run.env = EnvList(spec);
    run.cwd = HostPathOf(spec, spec.workdir);
    run.limits = &spec.limits;
    run.address_space_limit = true;
    run.stdin_data = &spec.stdin_data;
    LINEAGE_ASSIGN_OR_RETURN(SandboxResult result, RunProcess(run));
    Classify(result, spec.limits, nullptr);
    return result;
  }

 private:
  // Without mount namespaces, a path inside maps back through the binds to the host.
  static std::string HostPathOf(const SandboxSpec& spec, const std::string& inside) {
    for (const SandboxMount& m : spec.mounts) {
      if (m.kind == SandboxMount::Kind::kTmpfs) continue;
      if (inside == m.inside || inside.rfind(m.inside + "/", 0) == 0) return m.host + inside.substr(m.inside.size());
    }
    return inside;
  }
};

}  // namespace

const char* SandboxLimitName(SandboxLimit limit) {
  switch (limit) {
    case SandboxLimit::kWall: return "wall";
    case SandboxLimit::kCpu: return "cpu";
    case SandboxLimit::kMemory: return "memory";
    case SandboxLimit::kPids: return "pids";
    case SandboxLimit::kOutput: return "output";
    case SandboxLimit::kFileSize: return "file_size";
  }
  return "unknown";
}

Result<std::uint64_t> ParseSize(const std::string& text, const std::string& what) {
  size_t used = 0;
  unsigned long long n = 0;
  try {
    if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) n = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string suffix = used == 0 ? "" : text.substr(used);
  std::uint64_t scale = suffix.empty() ? 1
                        : suffix == "K" || suffix == "k" ? 1ull << 10
                        : suffix == "M" || suffix == "m" ? 1ull << 20
                        : suffix == "G" || suffix == "g" ? 1ull << 30
                                                         : 0;
  if (used == 0 || scale == 0 || n == 0) {
    return Status::InvalidArgument(what + " '" + text + "' is not a size; use a positive number with an optional "
                                          "K, M or G suffix, such as 512M");
  }
  return n * scale;
}

namespace {

// DetectHost() with the cgroup probe already done, so that Create() probes only once.
HostSupport DetectHostWith(const CgroupSupport& cg) {
  HostSupport h;
  h.bwrap_path = FindInPath("bwrap", "");
  h.seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
  h.cgroup_version = cg.version;
  h.cgroup_memory = cg.memory;
  h.cgroup_pids = cg.pids;
  if (h.bwrap_path.empty()) {
    h.problem = "bubblewrap is not installed: install it (apt-get install bubblewrap), or pass --unsafe-no-sandbox";
    return h;
  }
  // A real namespace round trip tells more than any sysctl: containers block it in many ways.
  SandboxLimits limits;
  limits.wall_ms = 10000;
  ProcessRun probe;
  probe.exe = h.bwrap_path;
  probe.args = {"--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                "--", "true"};
  probe.cwd = "/";
  probe.limits = &limits;
  auto r = RunProcess(probe);
  ProcessRun version = probe;
  version.args = {"--version"};
  if (auto v = RunProcess(version); v.ok()) {
    h.bwrap_version = v->stdout_text.substr(0, v->stdout_text.find('\n'));
  }
  h.user_namespaces = r.ok() && r->exit_code == 0;
  if (!h.user_namespaces) {
    std::string why = r.ok() ? r->stderr_text.substr(0, r->stderr_text.find('\n')) : r.status().message();
    h.problem = "bubblewrap cannot create namespaces here (" + why +
                "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
                "user.max_user_namespaces > 0), or run the container privileged or with a seccomp profile that "
                "permits unshare, or install bwrap setuid root; or pass --unsafe-no-sandbox";
  } else if (!h.seccomp) {
    h.problem = "this kernel has no seccomp support; lineage will not run hostile code without it";
  }
  return h;
}

}  // namespace

std::string FindInPath(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  const std::string& path = path_var.empty() ? DefaultSandboxEnv().at("PATH") : path_var;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

HostSupport DetectHost() { return DetectHostWith(DetectCgroups()); }

Result<SandboxResult> RunTrusted(const SandboxSpec& spec) {
  if (!spec.mounts.empty() || !spec.socket_host.empty()) {
    return Status::InvalidArgument("a trusted host command takes no mounts or sockets");
  }
  return UnsafeSandbox().Run(spec);
}

Result<std::unique_ptr<Sandbox>> Sandbox::Create(Backend backend) {
  if (backend == Backend::kNone) {
    spdlog::warn("*** --unsafe-no-sandbox: commands run WITHOUT ISOLATION, with this user's files, network and "
                 "processes within reach. Only do this with code you trust. ***");
    return std::unique_ptr<Sandbox>(new UnsafeSandbox());
  }
  CgroupSupport cgroups = DetectCgroups();
  HostSupport host = DetectHostWith(cgroups);
  if (!host.problem.empty()) return Status::FailedPrecondition(host.problem);
  auto sandbox = std::unique_ptr<Sandbox>(new BwrapSandbox(std::move(host), std::move(cgroups)));
  for (const std::string& line : sandbox->EnforcedLimits()) {
    if (line.find("NOT ENFORCED") != std::string::npos || line.find("RLIMIT_AS") != std::string::npos) {
      spdlog::warn("sandbox limit {}", line);
    } else {
      spdlog::info("sandbox limit {}", line);
    }
  }
  return sandbox;
}

}  // namespace lineage
