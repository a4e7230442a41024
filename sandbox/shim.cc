// lineage-sandbox-shim: the process between lineage and bubblewrap that makes a sandbox's life depend on
// lineage's, with no window in which it does not; and, inside the sandbox, the step before the command.
//
//   lineage-sandbox-shim --parent PID [--user UID:GID] [--wall-ms MS] [--keep FD]...
//                        [--stage-root DIR --stage PATH...] -- PROGRAM [ARGS...]
//   lineage-sandbox-shim --ready-fd W --go-fd R -- COMMAND [ARGS...]
//
// The second form runs inside the sandbox, once bubblewrap has set it up: it tells lineage so (a byte on
// W), waits for lineage to fill the sandbox's writable file systems (a byte on R; end of file means
// lineage is gone), closes both and runs COMMAND.
//
// It runs as a fresh single-threaded process (lineage execs it right after fork), so it can do what a
// forked child of a multi-threaded program cannot. In order:
//   1. Arms its parent-death signal and checks that PID is still its parent, so a lineage killed at any
//      moment -- even before this line -- takes the shim with it.
//   2. Closes every descriptor but 0, 1, 2 and the --keep ones.
//   3. Enters a new PID namespace (and a mount namespace; as a non-root user, first a user namespace
//      mapping only its own ids). Its one child becomes that namespace's init, with its own parent-death
//      signal, and runs PROGRAM (bubblewrap). When the shim dies, its child dies, and the kernel kills
//      every process in the namespace, bubblewrap's nested sandbox included: nothing outlives lineage.
//   4. --stage: mounts each PATH, cloned while still privileged enough to reach it, at DIR/<N> (N counting
//      from 0, on a small tmpfs this mount namespace lays over the empty directory DIR), so that a sandbox
//      user who may not traverse lineage's 0700 home can still be given exactly those paths.
//   5. --user: when run as root, switches to UID:GID (no supplementary groups) before starting PROGRAM,
//      so the sandbox never runs as host root.
//   6. Waits for its child and exits as it did. --wall-ms is a backstop for lineage's own deadline: past
//      it (plus 5 s) the shim kills the namespace itself, even if lineage is stopped.
// Failures print "lineage-sandbox-shim: ..." on stderr and exit 125 (127 when PROGRAM cannot be run).
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kShimFailure = 125;
constexpr int kExecFailure = 127;
constexpr long kWallGraceMs = 5000;  // lineage's own deadline starts later, once the sandbox is filled

[[noreturn]] void Die(const std::string& what, bool with_errno = true) {
  std::string line = "lineage-sandbox-shim: " + what;
  if (with_errno) line += std::string(": ") + std::strerror(errno);
  line += "\n";
  (void)!write(2, line.data(), line.size());
  _exit(kShimFailure);
}

struct Options {
  pid_t parent = 0;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  long wall_ms = 0;
  std::vector<int> keep;
  std::string stage_root;
  std::vector<std::string> stage;
  std::vector<char*> program;  // NULL-terminated
  int ready_fd = -1, go_fd = -1;
};

long ParseNumber(const char* text, const char* flag) {
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 0) Die(std::string(flag) + " needs a number", false);
  return value;
}

Options Parse(int argc, char** argv) {
  Options o;
  int i = 1;
  auto value = [&](const char* flag) {
    if (i + 1 >= argc) Die(std::string(flag) + " needs a value", false);
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--parent") {
      o.parent = static_cast<pid_t>(ParseNumber(value("--parent"), "--parent"));
    } else if (arg == "--user") {
      std::string ids = value("--user");
      size_t colon = ids.find(':');
      if (colon == std::string::npos) Die("--user needs UID:GID", false);
      o.switch_user = true;
      o.uid = static_cast<uid_t>(ParseNumber(ids.substr(0, colon).c_str(), "--user"));
      o.gid = static_cast<gid_t>(ParseNumber(ids.substr(colon + 1).c_str(), "--user"));
    } else if (arg == "--wall-ms") {
      o.wall_ms = ParseNumber(value("--wall-ms"), "--wall-ms");
    } else if (arg == "--keep") {
      o.keep.push_back(static_cast<int>(ParseNumber(value("--keep"), "--keep")));
    } else if (arg == "--stage-root") {
      o.stage_root = value("--stage-root");
    } else if (arg == "--stage") {
      o.stage.push_back(value("--stage"));
    } else if (arg == "--ready-fd") {
      o.ready_fd = static_cast<int>(ParseNumber(value("--ready-fd"), "--ready-fd"));
    } else if (arg == "--go-fd") {
      o.go_fd = static_cast<int>(ParseNumber(value("--go-fd"), "--go-fd"));
    } else {
      Die("unknown option '" + arg + "'", false);
    }
  }
  for (; i < argc; ++i) o.program.push_back(argv[i]);
  const bool waiter = o.ready_fd >= 0 && o.go_fd >= 0;
  if (!o.stage.empty() && o.stage_root.empty()) Die("--stage needs --stage-root", false);
  if ((o.parent <= 0 && !waiter) || o.program.empty()) {
    Die("usage: --parent PID [options] -- PROGRAM [ARGS...], or --ready-fd W --go-fd R -- COMMAND [ARGS...]", false);
  }
  o.program.push_back(nullptr);
  return o;
}

// Dies with the parent; exits at once if the parent is already gone (the signal would never come).
void TieToParent(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Die("prctl(PR_SET_PDEATHSIG)");
  if (getppid() != parent) _exit(kShimFailure);
}

void CloseInheritedDescriptors(std::vector<int> keep) {
  keep.push_back(2);  // 0, 1 and 2 stay
  std::sort(keep.begin(), keep.end());
  unsigned int from = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(from)) continue;
    if (fd > static_cast<int>(from)) syscall(SYS_close_range, from, static_cast<unsigned int>(fd - 1), 0);
    from = static_cast<unsigned int>(fd) + 1;
  }
  syscall(SYS_close_range, from, ~0u, 0);
}

void WriteProcFile(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    Die(std::string("cannot write ") + path);
  }
  close(fd);
}

// A PID namespace whose init is our child; a private mount namespace too when there are paths to stage.
void EnterNamespaces(bool stage) {
  const int mounts = stage ? CLONE_NEWNS : 0;
  if (geteuid() == 0) {
    if (unshare(mounts | CLONE_NEWPID) != 0) Die("unshare(CLONE_NEWPID)");
  } else {
    const uid_t uid = geteuid();
    const gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | mounts | CLONE_NEWPID) != 0) Die("unshare(CLONE_NEWUSER | CLONE_NEWPID)");
    // Only our own ids, unchanged: bubblewrap then maps its sandbox user onto them.
    WriteProcFile("/proc/self/setgroups", "deny");
    WriteProcFile("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1");
    WriteProcFile("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1");
  }
  // Nothing mounted here reaches the host's mount table.
  if (stage && mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) Die("making / a slave mount");
}

void StagePaths(const std::string& root, const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  // Clone every path first: a path under the root must be reached before the root is covered.
  std::vector<int> trees;
  std::vector<bool> is_dir;
  for (const std::string& path : paths) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) Die("cannot stage " + path);
    int tree = static_cast<int>(
        syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (tree < 0) Die("cannot clone " + path);
    trees.push_back(tree);
    is_dir.push_back(S_ISDIR(st.st_mode));
  }
  if (mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) {
    Die("cannot mount a tmpfs at " + root);
  }
  for (size_t i = 0; i < trees.size(); ++i) {
    const std::string target = root + "/" + std::to_string(i);
    int made = is_dir[i] ? mkdir(target.c_str(), 0755) : open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (made < 0) Die("cannot create " + target);
    if (!is_dir[i]) close(made);
    if (syscall(SYS_move_mount, trees[i], "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      Die("cannot mount " + paths[i] + " at " + target);
    }
    close(trees[i]);
  }
}

void SwitchUser(const Options& o) {
  if (!o.switch_user) {
    if (geteuid() == 0) Die("refusing to start a sandbox as root without --user", false);
    return;
  }
  if (setgroups(0, nullptr) != 0) Die("setgroups");
  if (setresgid(o.gid, o.gid, o.gid) != 0) Die("setresgid");
  if (setresuid(o.uid, o.uid, o.uid) != 0) Die("setresuid");
  // Changing credentials cleared the parent-death signal.
  TieToParent(o.parent);
}

// Waits for `child`, killing it once `deadline` (CLOCK_MONOTONIC) has passed; returns its wait status.
int WaitFor(pid_t child, const timespec* deadline) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  for (;;) {
    int status = 0;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) return status;
    if (done < 0 && errno != EINTR) Die("waitpid");
    if (!deadline) {
      sigwaitinfo(&chld, nullptr);
      continue;
    }
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left_ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    if (left_ms <= 0) {
      kill(child, SIGKILL);  // the namespace's init: the kernel kills the rest
      deadline = nullptr;
      continue;
    }
    timespec wait{left_ms / 1000, (left_ms % 1000) * 1000000};
    sigtimedwait(&chld, nullptr, &wait);
  }
}

// Inside the sandbox: ready, wait for the go, run the command.
[[noreturn]] void RunWhenTold(const Options& o) {
  if (write(o.ready_fd, "r", 1) != 1) Die("cannot signal readiness");
  close(o.ready_fd);
  char go = 0;
  ssize_t n;
  do {
    n = read(o.go_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(kShimFailure);  // lineage is gone
  close(o.go_fd);
  execvp(o.program[0], o.program.data());
  std::string line = std::string("lineage: cannot run ") + o.program[0] + ": " + std::strerror(errno) + "\n";
  (void)!write(2, line.data(), line.size());
  _exit(kExecFailure);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  if (o.ready_fd >= 0) RunWhenTold(o);
  TieToParent(o.parent);
  CloseInheritedDescriptors(o.keep);
  EnterNamespaces(!o.stage.empty());
  StagePaths(o.stage_root, o.stage);
  SwitchUser(o);

  int alive[2];
  if (pipe2(alive, O_CLOEXEC) != 0) Die("pipe2");
  pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    // The namespace's init. getppid() is 0 here (the parent lives outside), so the pipe tells whether the
    // shim was gone before the signal was armed: its write end closes when the shim dies.
    close(alive[1]);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Die("prctl(PR_SET_PDEATHSIG)");
    pollfd p{alive[0], POLLIN, 0};
    if (poll(&p, 1, 0) != 0) _exit(kShimFailure);
    execvp(o.program[0], o.program.data());
    std::string line = std::string("lineage-sandbox-shim: cannot run ") + o.program[0] + ": " + std::strerror(errno) + "\n";
    (void)!write(2, line.data(), line.size());
    _exit(kExecFailure);
  }
  close(alive[0]);
  // The kept descriptors are the child's: the shim holding them would keep a pipe from closing.
  for (int fd : o.keep) close(fd);

  timespec deadline{};
  if (o.wall_ms > 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    long ms = o.wall_ms + kWallGraceMs;
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
  }
  int status = WaitFor(child, o.wall_ms > 0 ? &deadline : nullptr);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  // Die the way the child died, so lineage sees the same signal.
  signal(WTERMSIG(status), SIG_DFL);
  kill(getpid(), WTERMSIG(status));
  return 128 + WTERMSIG(status);
}
