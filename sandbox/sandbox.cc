#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>

#include "base/files.h"
#include "base/safe_tree.h"
#include "base/unique_fd.h"
#include "sandbox/cgroup.h"
#include "sandbox/process_runner.h"
#include "sandbox/environment.h"
#include "sandbox/seccomp_filter.h"

namespace lineage {
namespace fs = std::filesystem;
namespace {

// /etc entries a toolchain needs; the rest of /etc (shadow, ssh keys, the host's configuration) stays out.
constexpr const char* kEtcEntries[] = {
    "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "environment", "gitconfig", "group",
    "host.conf", "hosts", "inputrc", "java-11-openjdk", "java-17-openjdk", "java-21-openjdk", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "mime.types",
    "nsswitch.conf", "passwd", "perl", "profile", "protocols", "python3", "python3.11", "services", "ssl",
    "terminfo", "timezone",
};
// Of those, the directories too big to copy cheaply: bound into the copy of /etc instead.
constexpr const char* kEtcBound[] = {"alternatives", "ca-certificates", "ssl"};

constexpr const char* kShimInside = "/.lineage-shim";  // the shim again, as the step before the command
constexpr int kStartTimeoutMs = 20'000;  // bubblewrap reporting its sandbox, on a loaded machine
constexpr int kMaxSyncDepth = 256;

std::vector<std::pair<std::string, std::string>> EnvList(const SandboxSpec& spec) {
  return {spec.env.begin(), spec.env.end()};
}

bool Writable(SandboxMount::Kind kind) {
  return kind == SandboxMount::Kind::kReadWrite || kind == SandboxMount::Kind::kScratch;
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
    if (m.files && m.kind != SandboxMount::Kind::kScratch) {
      return Status::InvalidArgument("mount '" + m.inside + "': only a scratch mount can hold files from memory");
    }
    if (m.files) continue;
    if (m.kind != SandboxMount::Kind::kTmpfs && !fs::exists(m.host)) {
      return Status::InvalidArgument("bind source '" + m.host + "' does not exist");
    }
    if (Writable(m.kind) && !fs::is_directory(m.host)) {
      return Status::InvalidArgument("writable mount '" + m.host + "' must be a directory");
    }
  }
  if (!spec.root.empty() && (spec.root[0] != '/' || !fs::is_directory(spec.root + "/usr"))) {
    return Status::InvalidArgument("root '" + spec.root + "' is not a root file system (no usr/ in it): build it "
                                   "with 'lineage env build'");
  }
  if (!spec.socket_host.empty() && !fs::is_socket(spec.socket_host)) {
    return Status::InvalidArgument("'" + spec.socket_host + "' is not a Unix socket");
  }
  const SandboxLimits& l = spec.limits;
  if (l.wall_ms <= 0 || l.cpu_seconds <= 0 || l.pids <= 0 || l.open_files <= 0 || l.memory_bytes == 0 ||
      l.output_bytes == 0 || l.disk_bytes == 0 || l.disk_entries == 0 || l.tmp_bytes == 0) {
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
  } else if ((r.signal == SIGXCPU || (r.signal == SIGKILL && !r.limit)) && r.cpu_ms >= limits.cpu_seconds * 1000) {
    // (A command can exit 152 to look killed by SIGXCPU: the CPU it used tells.)
    r.limit = SandboxLimit::kCpu;
  } else if (r.signal == SIGXFSZ) {
    r.limit = SandboxLimit::kFileSize;
  }
}

std::string Dir(const std::string& path) { return path.empty() || path.back() == '/' ? path : path + "/"; }

// lineage-sandbox-shim: $LINEAGE_SANDBOX_SHIM, else beside the running binary (installed), else where this
// build tree put it.
std::string ShimPath() {
  if (const char* env = std::getenv("LINEAGE_SANDBOX_SHIM"); env && *env) return env;
  std::error_code ec;
  const fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "lineage-sandbox-shim";
  if (!ec && access(beside.c_str(), X_OK) == 0) return beside.string();
  if (access(LINEAGE_SHIM_BUILD_PATH, X_OK) == 0) return LINEAGE_SHIM_BUILD_PATH;
  return "";
}

// One line of /proc/PID/status, split on whitespace after the key.
std::vector<long> StatusField(int pid, const std::string& key) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  std::istringstream in(text.ok() ? *text : "");
  std::vector<long> values;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    for (long v; fields >> v;) values.push_back(v);
    break;
  }
  return values;
}

// The host pid of bubblewrap's sandbox process: the child of the shim's child (bubblewrap, the init of the
// shim's PID namespace) that bubblewrap reported as `ns_pid`.
Result<int> FindSandboxProcess(int shim, long ns_pid, const Cgroup* cgroup) {
  std::vector<int> candidates;
  if (cgroup) candidates = cgroup->Processes();
  if (candidates.empty()) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") == std::string::npos) candidates.push_back(std::stoi(name));
    }
  }
  int bwrap = -1;
  for (int pid : candidates) {
    std::vector<long> ppid = StatusField(pid, "PPid");
    if (!ppid.empty() && ppid[0] == shim) bwrap = pid;
  }
  for (int pid : candidates) {
    std::vector<long> ppid = StatusField(pid, "PPid"), nspid = StatusField(pid, "NSpid");
    if (bwrap > 0 && !ppid.empty() && ppid[0] == bwrap && nspid.size() >= 2 && nspid[1] == ns_pid) return pid;
  }
  return Status::Internal("cannot find the sandbox's process (bubblewrap reported pid " + std::to_string(ns_pid) + ")");
}

// Reads from `fd` until `done` says the text is complete or the writer is gone, within the start timeout.
Result<std::string> ReadUntil(int fd, const std::function<bool(const std::string&)>& done) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (!done(text)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) {
      return Status::IOError("the sandbox was not ready within " + std::to_string(kStartTimeoutMs / 1000) + " s");
    }
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError("the sandbox did not start");
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

// The sandbox's pid in the shim's PID namespace, from bubblewrap's --info-fd report.
Result<long> ReadChildPid(int fd) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadUntil(fd, [](const std::string& t) { return t.find('}') != std::string::npos; }));
  const size_t key = text.find("\"child-pid\":");
  if (key == std::string::npos) return Status::IOError("bubblewrap's report names no child-pid: " + text);
  return std::strtol(text.c_str() + key + 12, nullptr, 10);
}

// True when `user` may search every directory on the way to `path`, and read `path` itself (list it, when a
// directory), by its mode bits. Access control lists are not consulted: a path they open is staged anyway.
bool ReachableBy(const std::string& path, const SandboxUser& user) {
  auto allows = [&](const struct stat& st, mode_t other, mode_t group, mode_t owner) {
    return (st.st_mode & other) || (st.st_gid == user.gid && (st.st_mode & group)) ||
           (st.st_uid == user.uid && (st.st_mode & owner));
  };
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  fs::path at = "/";
  for (const fs::path& part : absolute.relative_path()) {
    struct stat st;
    if (stat(at.c_str(), &st) != 0 || !allows(st, S_IXOTH, S_IXGRP, S_IXUSR)) return false;
    at /= part;
  }
  struct stat st;
  if (stat(at.c_str(), &st) != 0 || !allows(st, S_IROTH, S_IRGRP, S_IRUSR)) return false;
  return !S_ISDIR(st.st_mode) || allows(st, S_IXOTH, S_IXGRP, S_IXUSR);
}

// True when the process of `pidfd` has exited.
bool Exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

struct Pipe {
  UniqueFd read, write;
  static Result<Pipe> Make() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Status::IOError(std::string("pipe2: ") + std::strerror(errno));
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

// A file system only the sandbox writes: a writable mount, /tmp or /dev/shm.
struct Place {
  std::string inside;
  const SandboxMount* mount = nullptr;  // null for /tmp and /dev/shm
  std::vector<std::string> nested;      // mount points inside it, relative: left alone when copying
  UniqueFd fd;                          // its root, opened through the sandbox while it waits to start
};

// `passwd` or `group` text with an entry for the sandbox's user (uid and gid 1000, as bubblewrap maps it)
// when it has none: programs that look their user up (Python's getpass, git, ssh) find one. Django's
// createsuperuser tests loop forever without it.
std::string WithSandboxAccount(std::string text, bool group) {
  static const std::regex kHas1000(R"((^|\n)[^:\n]*:[^:\n]*:1000:)");
  if (std::regex_search(text, kHas1000)) return text;
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text + (group ? "sandbox:x:1000:\n" : "sandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n");
}

// Host files every sandbox of a Sandbox uses, in one temporary directory readable by the sandbox user and
// removed with the Sandbox:
//   etc/    the /etc a sandbox sees: a copy of kEtcEntries, bound as one directory (a few mounts rather than
//           one per entry: each costs bubblewrap a bind and a remount), with empty mount points for
//           kEtcBound, which are bound from the host;
//   stage/  an empty directory the shim lays its staged paths over, in its own mount namespace.
class HostFiles {
 public:
  static Result<std::unique_ptr<HostFiles>> Make() {
    SweepLeftovers();
    std::string dir = (fs::temp_directory_path() / ("lineage-sandbox-" + std::to_string(getpid()) + "-XXXXXX")).string();
    if (mkdtemp(dir.data()) == nullptr) return Status::IOError("cannot create a directory for the sandbox's files");
    std::unique_ptr<HostFiles> files(new HostFiles(dir));
    std::error_code ec;
    fs::create_directories(files->etc(), ec);
    fs::create_directories(files->stage_root(), ec);
    if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
    for (const char* entry : kEtcEntries) {
      const fs::path from = fs::path("/etc") / entry, to = fs::path(files->etc()) / entry;
      if (!fs::exists(fs::symlink_status(from, ec))) continue;
      if (std::find_if(std::begin(kEtcBound), std::end(kEtcBound), [&](const char* b) { return b == std::string(entry); }) !=
          std::end(kEtcBound)) {
        if (fs::is_directory(from, ec)) fs::create_directory(to, ec);
        continue;
      }
      fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
      if (ec) return Status::IOError("cannot copy " + from.string() + ": " + ec.message());
    }
    for (const char* accounts : {"passwd", "group"}) {
      const fs::path file = fs::path(files->etc()) / accounts;
      auto text = ReadFile(file);
      LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(file, WithSandboxAccount(text.ok() ? *text : "", accounts[0] == 'g')));
    }
    // Everything readable by the sandbox user.
    chmod(dir.c_str(), 0755);
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      struct stat st;
      if (lstat(it->path().c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) {
        chmod(it->path().c_str(), (st.st_mode & 07777 & ~(S_ISUID | S_ISGID)) | (S_ISDIR(st.st_mode) ? 0555 : 0444));
      }
    }
    return files;
  }
  ~HostFiles() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string etc() const { return dir_ + "/etc"; }
  // An environment's `passwd` or `group` (root/etc/NAME) with the sandbox's account added, written here once
  // per content (runs in parallel write the same bytes); "" when the environment has none.
  std::string EnvironmentAccounts(const std::string& root, const char* name) const {
    auto text = ReadFile(root + "/etc/" + name);
    if (!text.ok()) return "";
    const std::string data = WithSandboxAccount(*text, name[0] == 'g');
    const std::string path = dir_ + "/" + name + "-" + Sha256Hex(data).substr(0, 16);
    std::error_code ec;
    if (!fs::exists(path, ec) && !WriteFileAtomic(path, data).ok()) return "";
    return path;
  }
  std::string stage_root() const { return dir_ + "/stage"; }

 private:
  // What a lineage process killed outright left: its directory, named after its pid.
  static void SweepLeftovers() {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
      const std::string name = entry.path().filename();
      int pid = 0;
      struct stat st;
      if (std::sscanf(name.c_str(), "lineage-sandbox-%d-", &pid) != 1 || pid <= 0 || pid == getpid()) continue;
      if (lstat(entry.path().c_str(), &st) != 0 || st.st_uid != geteuid() || !S_ISDIR(st.st_mode)) continue;
      if (kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ec);
    }
  }

  explicit HostFiles(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// One run of a bwrap sandbox: the arguments, the start (fill the writable places, then let it go), the disk
// watch, and the copy back.
//
// The start: bubblewrap reports its sandbox's pid (--info-fd); the shim, inside the set-up sandbox, says it is
// ready and waits (the ready and go pipes); lineage opens each writable place through /proc/PID/root, fills
// it, and sends the go. Nothing of the agent's has run before the go.
class Launch {
 public:
  Launch(const SandboxSpec& spec, std::optional<SandboxUser> user, const Cgroup* cgroup, std::string shim,
         const HostFiles& files)
      : spec_(spec), user_(user), cgroup_(cgroup), shim_(std::move(shim)), files_(files) {
    places_.push_back({"/tmp"});
    places_.push_back({"/dev/shm"});
    for (const SandboxMount& m : spec.mounts) {
      if (Writable(m.kind) || m.kind == SandboxMount::Kind::kTmpfs) places_.push_back({m.inside, &m});
    }
    for (Place& place : places_) {
      for (const SandboxMount& m : spec.mounts) {
        if (&m != place.mount && m.inside.rfind(Dir(place.inside), 0) == 0) {
          place.nested.push_back(m.inside.substr(Dir(place.inside).size()));
        }
      }
      if (!spec.socket_inside.empty() && spec.socket_inside.rfind(Dir(place.inside), 0) == 0) {
        place.nested.push_back(spec.socket_inside.substr(Dir(place.inside).size()));
      }
    }
  }

  Status Prepare() {
    LINEAGE_ASSIGN_OR_RETURN(filter_, BuildSeccompFilter());
    LINEAGE_ASSIGN_OR_RETURN(info_, Pipe::Make());
    LINEAGE_ASSIGN_OR_RETURN(ready_, Pipe::Make());
    LINEAGE_ASSIGN_OR_RETURN(go_, Pipe::Make());
    if (user_ && !spec_.socket_host.empty() && lchown(spec_.socket_host.c_str(), user_->uid, user_->gid) != 0) {
      return Status::IOError("cannot hand " + spec_.socket_host + " to the sandbox user: " + std::strerror(errno));
    }
    return Status::OK();
  }

  std::vector<int> KeepFds() const { return {filter_.get(), info_.write.get(), ready_.write.get(), go_.read.get()}; }

  // The shim's arguments, bubblewrap's after them.
  std::vector<std::string> Args(const std::string& bwrap) {
    std::vector<std::string> bw = BwrapArgs();
    std::vector<std::string> a = {"--parent", std::to_string(getpid()), "--wall-ms", std::to_string(spec_.limits.wall_ms)};
    if (user_) a.insert(a.end(), {"--user", std::to_string(user_->uid) + ":" + std::to_string(user_->gid)});
    for (int fd : KeepFds()) a.insert(a.end(), {"--keep", std::to_string(fd)});
    if (!stage_.empty()) a.insert(a.end(), {"--stage-root", files_.stage_root()});
    for (const std::string& path : stage_) a.insert(a.end(), {"--stage", path});
    a.push_back("--");
    a.push_back(bwrap);
    a.insert(a.end(), bw.begin(), bw.end());
    return a;
  }

  Status Start(int shim) {
    // Those ends are the sandbox's now: reading ours sees end of file once it has died.
    info_.write.reset();
    ready_.write.reset();
    go_.read.reset();
    LINEAGE_ASSIGN_OR_RETURN(long ns_pid, ReadChildPid(info_.read.get()));
    LINEAGE_ASSIGN_OR_RETURN(int pid, FindSandboxProcess(shim, ns_pid, cgroup_));
    // Held from here: the process cannot be mistaken for another that reuses its pid.
    init_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!init_.valid()) return Status::IOError(std::string("pidfd_open: ") + std::strerror(errno));
    LINEAGE_RETURN_IF_ERROR(ReadUntil(ready_.read.get(), [](const std::string& t) { return !t.empty(); }).status());
    UniqueFd root(open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid() || Exited(init_.get())) return Status::IOError("the sandbox ended before it started");
    for (Place& place : places_) {
      // Resolved inside the sandbox's root, through no symlink: nothing of the sandbox's can redirect it.
      open_how how{};
      how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
      how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      place.fd = UniqueFd(static_cast<int>(syscall(SYS_openat2, root.get(), place.inside.c_str(), &how, sizeof how)));
      if (!place.fd.valid()) return Status::IOError("cannot open the sandbox's " + place.inside + ": " + std::strerror(errno));
      struct statfs fs_info;
      if (fstatfs(place.fd.get(), &fs_info) != 0 || fs_info.f_type != TMPFS_MAGIC) {
        return Status::Internal("the sandbox's " + place.inside + " is not a file system of its own");
      }
      if (!place.mount || !Writable(place.mount->kind)) continue;
      if (place.mount->files) {
        LINEAGE_RETURN_IF_ERROR(Fill(place));
        continue;
      }
      UniqueFd host(open(place.mount->host.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!host.valid()) return Status::IOError("cannot open " + place.mount->host + ": " + std::strerror(errno));
      SyncOptions in = SyncLimits(place);
      if (user_) in.create_as = std::make_pair(user_->uid, user_->gid);
      auto copied = SyncTree(host.get(), place.fd.get(), in);
      if (!copied.ok()) return copied.status().WithContext("copying " + place.mount->host + " into the sandbox");
    }
    if (write(go_.write.get(), "g", 1) != 1) return Status::IOError("cannot start the sandbox's command");
    go_.write.reset();
    return Status::OK();
  }

  // Waits (a moment) until the sandbox's init has gone, and with it every process of the sandbox: before
  // what it wrote is copied back, nothing may still be writing.
  void AwaitEnd() {
    if (!init_.valid()) return;
    pollfd p{init_.get(), POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) {
      syscall(SYS_pidfd_send_signal, init_.get(), SIGKILL, nullptr, 0);
      poll(&p, 1, 2000);
    }
  }

  // kDisk once a writable place is full, or all of them together hold the entry cap.
  std::optional<SandboxLimit> CheckDisk() const {
    std::uint64_t entries = 0;
    for (const Place& place : places_) {
      struct statvfs st;
      if (!place.fd.valid() || fstatvfs(place.fd.get(), &st) != 0) continue;
      if (st.f_bfree == 0) return SandboxLimit::kDisk;
      entries += st.f_files - st.f_ffree - 1;  // not its root directory
    }
    if (entries >= spec_.limits.disk_entries) return SandboxLimit::kDisk;
    return std::nullopt;
  }

  // What the command left in each kReadWrite mount, copied back to the host.
  Status CopyBack() {
    for (const Place& place : places_) {
      if (!place.mount || place.mount->kind != SandboxMount::Kind::kReadWrite || !place.fd.valid()) continue;
      UniqueFd host(open(place.mount->host.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!host.valid()) return Status::IOError("cannot open " + place.mount->host + ": " + std::strerror(errno));
      auto copied = SyncTree(place.fd.get(), host.get(), SyncLimits(place));
      if (!copied.ok()) return copied.status().WithContext("copying the sandbox's " + place.inside + " back");
    }
    return Status::OK();
  }

 private:
  // A place filled from the files its mount holds in memory; paths under a mount nested in it are left to
  // that mount, as SyncTree leaves them.
  Status Fill(const Place& place) const {
    const std::vector<TreeEntry>* files = place.mount->files.get();
    std::vector<TreeEntry> kept;
    if (!place.nested.empty()) {
      for (const TreeEntry& e : *files) {
        const bool nested = std::any_of(place.nested.begin(), place.nested.end(), [&](const std::string& n) {
          return e.path == n || e.path.rfind(n + "/", 0) == 0;
        });
        if (!nested) kept.push_back(e);
      }
      files = &kept;
    }
    std::optional<std::pair<std::uint32_t, std::uint32_t>> as;
    if (user_) as = std::make_pair(user_->uid, user_->gid);
    return WriteTreeAt(place.fd.get(), *files, as).WithContext("filling the sandbox's " + place.inside);
  }

  SyncOptions SyncLimits(const Place& place) const {
    SyncOptions o;
    o.limits.max_file_bytes = spec_.limits.file_size_bytes;
    o.limits.max_total_bytes = spec_.limits.disk_bytes;
    o.limits.max_entries = spec_.limits.disk_entries;
    o.limits.max_depth = kMaxSyncDepth;
    o.skip = place.nested;
    return o;
  }

  // A host path as bubblewrap sees it: as it is when the sandbox user can reach it; else staged by the shim,
  // which can (staging costs a few milliseconds, so only what needs it is staged).
  std::string Stage(const std::string& host) {
    if (!user_ || ReachableBy(host, *user_)) return host;
    stage_.push_back(host);
    return files_.stage_root() + "/" + std::to_string(stage_.size() - 1);
  }

  std::vector<std::string> BwrapArgs() {
    const std::string tmp_bytes = std::to_string(spec_.limits.tmp_bytes);
    std::vector<std::string> a = {"--unshare-all", "--unshare-user", "--unshare-cgroup", "--die-with-parent",
                                  "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox", "--uid", "1000",
                                  "--gid", "1000"};
    // The host's system directories, at / or, in an environment, under kHostRootInside for the host-built
    // programs that run there through the host's loader.
    const std::string host_root = spec_.root.empty() ? "" : kHostRootInside;
    SystemDirs("", host_root, a);
    if (spec_.root.empty()) {
      a.insert(a.end(), {"--ro-bind", Stage(files_.etc()), "/etc"});
      for (const char* entry : kEtcBound) {
        const std::string path = std::string("/etc/") + entry;
        std::error_code ec;
        if (fs::is_directory(path, ec)) a.insert(a.end(), {"--ro-bind", path, path});
      }
    } else {
      // The environment's own: its /usr and links, /etc, and what images keep outside /usr (a conda
      // installation under /opt, say).
      SystemDirs(spec_.root, "", a);
      for (const char* dir : {"/etc", "/opt", "/var"}) {
        std::error_code ec;
        if (fs::is_directory(spec_.root + dir, ec)) a.insert(a.end(), {"--ro-bind", Stage(spec_.root + dir), dir});
      }
      for (const char* accounts : {"passwd", "group"}) {
        const std::string file = files_.EnvironmentAccounts(spec_.root, accounts);
        if (!file.empty()) a.insert(a.end(), {"--ro-bind", Stage(file), std::string("/etc/") + accounts});
      }
    }
    a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", tmp_bytes, "--tmpfs", "/tmp", "--size", tmp_bytes,
                       "--tmpfs", "/dev/shm"});
    const std::vector<std::string> hidden = Hidden();
    for (const std::string& h : hidden) {
      if (IsWithin(h, "/usr")) Cover(host_root + h, a);  // where every sandbox sees the host's /usr
    }
    for (const SandboxMount& m : spec_.mounts) {
      switch (m.kind) {
        case SandboxMount::Kind::kReadOnly: {
          a.insert(a.end(), {"--ro-bind", Stage(m.host), m.inside});
          std::error_code ec;
          const std::string host = fs::weakly_canonical(m.host, ec).string();  // hidden paths are canonical
          for (const std::string& h : hidden) {
            if (h != host && IsWithin(h, host)) Cover(Dir(m.inside) + h.substr(Dir(host).size()), a);
          }
          break;
        }
        case SandboxMount::Kind::kReadWrite:
        case SandboxMount::Kind::kScratch: {
          a.insert(a.end(), {"--size", std::to_string(spec_.limits.disk_bytes), "--tmpfs", m.inside});
          // The host's repository stays the host's: hooks and configuration are read-only inside.
          const std::string git = Dir(m.host) + ".git";
          std::error_code ec;
          if (!m.files && fs::is_directory(fs::symlink_status(git, ec))) {
            a.insert(a.end(), {"--ro-bind", Stage(git), Dir(m.inside) + ".git"});
          }
          break;
        }
        case SandboxMount::Kind::kTmpfs:
          a.insert(a.end(), {"--size", std::to_string(m.tmpfs_bytes), "--tmpfs", m.inside});
          break;
      }
    }
    if (!spec_.socket_host.empty()) a.insert(a.end(), {"--bind", Stage(spec_.socket_host), spec_.socket_inside});
    a.insert(a.end(), {"--ro-bind", Stage(shim_), kShimInside});
    // bwrap's root is a tmpfs; once every mount point exists, make it read-only so that only the binds
    // and the tmpfs mounts can be written. /proc is read-only too: no process writes another's memory. So
    // is /dev, bwrap's own tmpfs, which nothing caps (its devices and /dev/shm are mounts of their own).
    for (const std::string& covered : covered_) a.insert(a.end(), {"--remount-ro", covered});
    a.insert(a.end(), {"--remount-ro", "/", "--remount-ro", "/proc", "--remount-ro", "/dev", "--chdir", spec_.workdir, "--info-fd",
                       std::to_string(info_.write.get()), "--seccomp", std::to_string(filter_.get()), "--", kShimInside,
                       "--ready-fd", std::to_string(ready_.write.get()), "--go-fd", std::to_string(go_.read.get()), "--"});
    a.insert(a.end(), spec_.argv.begin(), spec_.argv.end());
    return a;
  }

  // `from`'s /usr and its /bin, /lib ... (Debian's merged /usr: links into /usr) at `to`, read-only.
  void SystemDirs(const std::string& from, const std::string& to, std::vector<std::string>& a) {
    a.insert(a.end(), {"--ro-bind", from.empty() ? "/usr" : Stage(from + "/usr"), to + "/usr"});
    for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
      const std::string path = from + dir;
      std::error_code ec;
      if (fs::is_symlink(path, ec)) {
        a.insert(a.end(), {"--symlink", fs::read_symlink(path, ec).string(), to + dir});
      } else if (fs::is_directory(path, ec)) {
        a.insert(a.end(), {"--ro-bind", from.empty() ? path : Stage(path), to + dir});
      }
    }
  }

  // The spec's hidden directories and the process's: canonical, existing, once each. They are covered
  // before the spec's mounts, so a mount the caller asks for (an exec suite's program directory, say) is
  // laid over the cover and stays visible.
  std::vector<std::string> Hidden() const {
    std::vector<std::string> all = spec_.hidden, out;
    for (const std::string& h : HiddenFromSandboxes()) all.push_back(h);
    for (const std::string& h : all) {
      std::error_code ec;
      const fs::path canonical = fs::canonical(h, ec);
      if (ec || !fs::is_directory(canonical, ec)) continue;
      if (std::find(out.begin(), out.end(), canonical.string()) == out.end()) out.push_back(canonical.string());
    }
    return out;
  }

  // An empty file system over `inside`, made read-only at the end.
  void Cover(const std::string& inside, std::vector<std::string>& a) {
    a.insert(a.end(), {"--size", "4096", "--tmpfs", inside});
    covered_.push_back(inside);
  }

  static bool IsWithin(const std::string& path, const std::string& dir) {
    return path == dir || path.rfind(Dir(dir), 0) == 0;
  }

  const SandboxSpec& spec_;
  const std::optional<SandboxUser> user_;
  const Cgroup* cgroup_;
  const std::string shim_;
  const HostFiles& files_;
  UniqueFd filter_, init_;  // init_: a pidfd of bubblewrap's init in the sandbox
  Pipe info_, ready_, go_;
  std::vector<std::string> stage_;
  std::vector<Place> places_;
  std::vector<std::string> covered_;  // where Cover() put an empty file system
};

class BwrapSandbox : public Sandbox {
 public:
  BwrapSandbox(HostSupport host, CgroupSupport cgroups, SandboxUser user, std::unique_ptr<HostFiles> files)
      : host_(std::move(host)), cgroups_(std::move(cgroups)), user_(user), files_(std::move(files)) {}

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
        "disk: every writable place a size-capped tmpfs (workspace, build and output dirs, /tmp, /dev/shm), "
        "entries counted across them",
        "network: none (empty network namespace)",
        "syscalls: seccomp filter (ptrace, mount, bpf, io_uring, keyctl, namespaces, pidfd_getfd, kcmp, "
        "socket families other than unix and inet, TIOCSTI, ...)",
        "identity: " + host_.identity,
        "descriptors: 0, 1 and 2 only",
        "lifetime: a PID namespace whose init dies with lineage",
    };
  }

  std::unique_ptr<HostFiles> TakeFiles() { return std::move(files_); }

  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    LINEAGE_RETURN_IF_ERROR(ValidateSpec(spec));
    std::unique_ptr<Cgroup> cgroup;
    if (cgroups_.version != 0) {
      auto cg = Cgroup::Create(cgroups_, spec.limits.memory_bytes, spec.limits.pids);
      if (!cg.ok()) return cg.status();
      cgroup = std::move(cg).value();
    }
    Launch launch(spec, geteuid() == 0 ? std::optional<SandboxUser>(user_) : std::nullopt, cgroup.get(), host_.shim_path,
                  *files_);
    LINEAGE_RETURN_IF_ERROR(launch.Prepare());
    ProcessRun run;
    run.exe = host_.shim_path;
    run.args = launch.Args(host_.bwrap_path);
    run.env = EnvList(spec);
    if (!spec.root.empty() && !spec.env.count("LINEAGE_HOST_EXEC")) run.env.emplace_back("LINEAGE_HOST_EXEC", HostExecPrefix());
    run.cwd = "/";
    run.limits = &spec.limits;
    run.cgroup = cgroup.get();
    run.keep_fds = launch.KeepFds();
    run.address_space_limit = !cgroups_.memory;
    run.stdin_data = &spec.stdin_data;
    run.on_start = [&](int pid) { return launch.Start(pid); };
    run.watch = [&] { return launch.CheckDisk(); };
    auto ran = RunProcess(run);
    if (!ran.ok()) return ran.status().WithContext("the sandbox did not start");
    SandboxResult result = std::move(ran).value();
    // bwrap reports a command killed by signal N as exit status 128 + N.
    if (result.exit_code && *result.exit_code > 128 && *result.exit_code <= 128 + 64) {
      result.signal = *result.exit_code - 128;
      result.exit_code.reset();
    }
    Classify(result, spec.limits, cgroup.get());
    launch.AwaitEnd();
    if (!result.limit) result.limit = launch.CheckDisk();
    // A run that filled its disk leaves the host as it was: there is nothing worth the copy.
    if (result.limit != SandboxLimit::kDisk) LINEAGE_RETURN_IF_ERROR(launch.CopyBack());
    return result;
  }

 private:
  HostSupport host_;
  CgroupSupport cgroups_;
  SandboxUser user_;
  std::unique_ptr<HostFiles> files_;
};

// No isolation at all: the command runs on the host as lineage's user. Limits still apply.
class UnsafeSandbox : public Sandbox {
 public:
  std::vector<std::string> EnforcedLimits() const override {
    return {"NO ISOLATION: network, files and processes of this host are reachable",
            "wall, cpu, file_size, open_files, output: as with bwrap", "memory: RLIMIT_AS per process",
            "disk: NOT ENFORCED (writable mounts are the host directories themselves)"};
  }

  Result<SandboxResult> Run(const SandboxSpec& given) override {
    LINEAGE_RETURN_IF_ERROR(ValidateSpec(given));
    if (!given.root.empty()) {
      return Status::FailedPrecondition("an environment (root " + given.root + ") needs the bwrap sandbox: "
                                        "--unsafe-no-sandbox cannot change the root file system");
    }
    SandboxSpec spec = given;
    LINEAGE_RETURN_IF_ERROR(WriteMountFiles(spec));
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

// The sandbox user: as given, else from $LINEAGE_SANDBOX_USER, else lineage's own uid (kSandboxUid).
Result<SandboxUser> ResolveUser(const SandboxOptions& options) {
  if (options.user) return *options.user;
  if (const char* env = std::getenv("LINEAGE_SANDBOX_USER"); env && *env) {
    return ParseSandboxUser(env, "--sandbox-user (LINEAGE_SANDBOX_USER)");
  }
  return SandboxUser{};
}

}  // namespace

const char* SandboxLimitName(SandboxLimit limit) {
  switch (limit) {
    case SandboxLimit::kWall: return "wall";
    case SandboxLimit::kCpu: return "cpu";
    case SandboxLimit::kMemory: return "memory";
    case SandboxLimit::kPids: return "pids";
    case SandboxLimit::kOutput: return "output";
    case SandboxLimit::kFileSize: return "file_size";
    case SandboxLimit::kDisk: return "disk";
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

Result<SandboxUser> ParseSandboxUser(const std::string& text, const std::string& what) {
  const size_t colon = text.find(':');
  const std::string user_part = text.substr(0, colon), group_part = colon == std::string::npos ? "" : text.substr(colon + 1);
  auto number = [](const std::string& s) -> std::optional<std::uint32_t> {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9) return std::nullopt;
    return static_cast<std::uint32_t>(std::stoul(s));
  };
  SandboxUser out;
  if (auto uid = number(user_part)) {
    out.uid = *uid;
    const passwd* pw = getpwuid(*uid);
    out.gid = pw ? pw->pw_gid : *uid;
  } else if (const passwd* pw = user_part.empty() ? nullptr : getpwnam(user_part.c_str())) {
    out.uid = pw->pw_uid;
    out.gid = pw->pw_gid;
  } else {
    return Status::InvalidArgument(what + " '" + text + "': no user '" + user_part + "' here; give a name or UID[:GID]");
  }
  if (!group_part.empty()) {
    if (auto gid = number(group_part)) {
      out.gid = *gid;
    } else if (const struct group* gr = getgrnam(group_part.c_str())) {
      out.gid = gr->gr_gid;
    } else {
      return Status::InvalidArgument(what + " '" + text + "': no group '" + group_part + "' here");
    }
  }
  if (out.uid == 0 || out.gid == 0) {
    return Status::InvalidArgument(what + " '" + text + "': a sandbox must not run as root; name an unprivileged user");
  }
  return out;
}

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

namespace {

// DetectHost() with the cgroup probe already done, so that Create() probes only once.
HostSupport DetectHostWith(const CgroupSupport& cg, const SandboxUser& user, std::unique_ptr<HostFiles>* files_out) {
  HostSupport h;
  h.bwrap_path = FindInPath("bwrap", "");
  h.shim_path = ShimPath();
  h.seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
  h.cgroup_version = cg.version;
  h.cgroup_memory = cg.memory;
  h.cgroup_pids = cg.pids;
  h.identity = geteuid() == 0 ? "host uid " + std::to_string(user.uid) + ":" + std::to_string(user.gid) +
                                    " (lineage runs as root; --sandbox-user or LINEAGE_SANDBOX_USER chooses it)"
                              : "lineage's own user (uid " + std::to_string(geteuid()) + ")";
  if (h.bwrap_path.empty()) {
    h.problem = "bubblewrap is not installed: install it (apt-get install bubblewrap), or pass --unsafe-no-sandbox";
    return h;
  }
  if (h.shim_path.empty()) {
    h.problem = "lineage-sandbox-shim is not installed beside lineage (reinstall lineage, or set LINEAGE_SANDBOX_SHIM)";
    return h;
  }
  SandboxLimits limits;
  limits.wall_ms = 10000;
  ProcessRun version;
  version.exe = h.bwrap_path;
  version.args = {"--version"};
  version.cwd = "/";
  version.limits = &limits;
  if (auto v = RunProcess(version); v.ok()) {
    h.bwrap_version = v->stdout_text.substr(0, v->stdout_text.find('\n'));
  }
  if (!h.seccomp) {
    h.problem = "this kernel has no seccomp support; lineage will not run hostile code without it";
    return h;
  }
  // A real sandbox round trip tells more than any sysctl: containers block it in many ways.
  auto files = HostFiles::Make();
  if (!files.ok()) {
    h.problem = files.status().message();
    return h;
  }
  SandboxSpec probe;
  probe.argv = {"true"};
  probe.limits.wall_ms = 10000;
  BwrapSandbox prober(h, cg, user, std::move(files).value());
  auto r = prober.Run(probe);
  if (files_out) *files_out = prober.TakeFiles();
  h.user_namespaces = r.ok() && r->exit_code == 0;
  if (!h.user_namespaces) {
    std::string why = r.ok() ? r->stderr_text.substr(0, r->stderr_text.find('\n')) : r.status().message();
    h.problem = "bubblewrap cannot create namespaces here (" + why +
                "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
                "user.max_user_namespaces > 0), or run the container privileged or with a seccomp profile that "
                "permits unshare; or pass --unsafe-no-sandbox";
  }
  return h;
}

}  // namespace

HostSupport DetectHost(const SandboxOptions& options) {
  Result<SandboxUser> user = ResolveUser(options);
  HostSupport h = DetectHostWith(DetectCgroups(), user.ok() ? *user : SandboxUser{}, nullptr);
  if (!user.ok()) h.problem = user.status().message();
  return h;
}

Result<SandboxResult> RunTrusted(const SandboxSpec& spec) {
  if (!spec.mounts.empty() || !spec.socket_host.empty()) {
    return Status::InvalidArgument("a trusted host command takes no mounts or sockets");
  }
  return UnsafeSandbox().Run(spec);
}

namespace {
std::mutex hidden_mu;
std::vector<std::string>& HiddenDirs() {
  static std::vector<std::string> dirs;
  return dirs;
}
}  // namespace

Status WriteMountFiles(SandboxSpec& spec) {
  for (SandboxMount& m : spec.mounts) {
    if (!m.files) continue;
    LINEAGE_RETURN_IF_ERROR(WriteTree(m.host, *m.files));
    m.files = nullptr;
  }
  return Status::OK();
}

void HideFromSandboxes(const std::string& host_dir) {
  std::error_code ec;
  const std::string path = fs::weakly_canonical(fs::absolute(host_dir, ec), ec).string();
  std::lock_guard<std::mutex> lock(hidden_mu);
  if (std::find(HiddenDirs().begin(), HiddenDirs().end(), path) == HiddenDirs().end()) HiddenDirs().push_back(path);
}

std::vector<std::string> HiddenFromSandboxes() {
  std::error_code ec;
  std::vector<std::string> out = {fs::weakly_canonical(DataDir() / "evaluators", ec).string()};
  std::lock_guard<std::mutex> lock(hidden_mu);
  out.insert(out.end(), HiddenDirs().begin(), HiddenDirs().end());
  return out;
}

Result<std::unique_ptr<Sandbox>> Sandbox::Create(Backend backend, const SandboxOptions& options) {
  if (backend == Backend::kNone) {
    spdlog::warn("*** --unsafe-no-sandbox: commands run WITHOUT ISOLATION, with this user's files, network and "
                 "processes within reach. Only do this with code you trust. ***");
    return std::unique_ptr<Sandbox>(new UnsafeSandbox());
  }
  LINEAGE_ASSIGN_OR_RETURN(SandboxUser user, ResolveUser(options));
  CgroupSupport cgroups = DetectCgroups();
  std::unique_ptr<HostFiles> files;  // the probe's, kept
  HostSupport host = DetectHostWith(cgroups, user, &files);
  if (!host.problem.empty()) return Status::FailedPrecondition(host.problem);
  auto sandbox = std::unique_ptr<Sandbox>(new BwrapSandbox(std::move(host), std::move(cgroups), user, std::move(files)));
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
