// The hostile suite: each attack program under attacks/ runs in the real bwrap sandbox, and each test
// asserts the attack was contained and correctly reported, and that nothing was left running.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <thread>

#include "base/files.h"
#include "base/safe_tree.h"
#include "sandbox/sandbox.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

using test::AnyProcessMatches;

struct Attack {
  TempDir workspace, outside;
  std::unique_ptr<Sandbox> sandbox;
  SandboxSpec spec;

  Attack() {
    auto s = Sandbox::Create(Sandbox::Backend::kBwrap);
    REQUIRE(s.ok());
    sandbox = std::move(s).value();
    spec.mounts = {{SandboxMount::Kind::kReadOnly, LINEAGE_ATTACKS_DIR, "/attacks", 0},
                   {SandboxMount::Kind::kReadOnly, LINEAGE_ATTACK_BIN_DIR, "/attack-bin", 0},
                   {SandboxMount::Kind::kReadWrite, workspace.path().string(), "/workspace", 0}};
    spec.workdir = "/workspace";
    spec.limits.wall_ms = 20000;
  }

  SandboxResult Run(const std::string& program) {
    spec.argv = {program.find(".sh") != std::string::npos ? "/attacks/" + program : "/attack-bin/" + program};
    auto r = sandbox->Run(spec);
    REQUIRE(r.ok());
    // Shown with any failing check of this test.
    UNSCOPED_INFO(program << " stdout: " << r->stdout_text.substr(0, 2000) << "\nstderr: " << r->stderr_text.substr(0, 2000)
                          << "\nexit " << r->exit_code.value_or(-1) << " signal " << r->signal.value_or(0));
    return std::move(r).value();
  }
};

TEST_CASE("TCP to an external address fails: there is no network") {
  Attack a;
  a.spec.env["TARGET_HOST"] = "1.1.1.1";
  a.spec.env["TARGET_PORT"] = "80";
  auto r = a.Run("tcp_connect.sh");
  CHECK(r.exit_code != 0);
  CHECK(r.stdout_text.find("CONNECTED") == std::string::npos);
  CHECK(r.stderr_text.find("Network is unreachable") != std::string::npos);
}

TEST_CASE("TCP to a service on the host's loopback never reaches it") {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(listener, 4) == 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);

  Attack a;
  a.spec.env["TARGET_HOST"] = "127.0.0.1";
  a.spec.env["TARGET_PORT"] = std::to_string(ntohs(addr.sin_port));
  auto r = a.Run("tcp_connect.sh");
  CHECK(r.exit_code != 0);
  CHECK(r.stdout_text.find("CONNECTED") == std::string::npos);
  CHECK(accept(listener, nullptr, nullptr) < 0);  // nothing ever arrived at the host's service
  close(listener);
}

TEST_CASE("DNS lookups fail") {
  Attack a;
  auto r = a.Run("dns.sh");
  CHECK(r.exit_code != 0);
  CHECK(r.stdout_text.find("RESOLVED") == std::string::npos);
}

TEST_CASE("host secrets outside the binds cannot be read") {
  Attack a;
  test::WriteFile(a.outside / "secret.txt", "TOP-SECRET-VALUE");
  test::WriteFile(a.outside / "archive.db", "ARCHIVE-CONTENTS");
  a.spec.env["SECRET_FILE"] = (a.outside / "secret.txt").string();
  a.spec.env["ARCHIVE_DB"] = (a.outside / "archive.db").string();
  auto r = a.Run("read_secret.sh");
  CHECK(r.stdout_text.find("TOP-SECRET-VALUE") == std::string::npos);
  CHECK(r.stdout_text.find("ARCHIVE-CONTENTS") == std::string::npos);
  CHECK(r.stdout_text.find("/etc/shadow: No such file") != std::string::npos);
}

TEST_CASE("a suite's references and hidden tests are unreadable wherever a bind shows them") {
  // A suite kept inside a directory that is bound into the sandbox (as /usr is into every one): the agent
  // lists and reads it there.
  Attack a;
  test::WriteFile(a.outside / "suites/mine/task/solution/answer.py", "REFERENCE-SOLUTION");
  test::WriteFile(a.outside / "suites/mine/task/tests/test_answer.py", "HIDDEN-TEST");
  test::WriteFile(a.outside / "suites/notes.txt", "visible");
  HideFromSandboxes((a.outside / "suites/mine").string());
  a.spec.mounts.push_back({SandboxMount::Kind::kReadOnly, a.outside.path().string(), "/opt/data", 0});
  a.spec.argv = {"sh", "-c", "cat /opt/data/suites/notes.txt; ls -A /opt/data/suites/mine; "
                             "cat /opt/data/suites/mine/task/solution/answer.py /opt/data/suites/mine/task/tests/*; "
                             "touch /opt/data/suites/mine/planted && echo planted"};
  auto r = a.sandbox->Run(a.spec);
  REQUIRE(r.ok());
  INFO(r->stdout_text << r->stderr_text);
  CHECK(r->stdout_text.rfind("visible", 0) == 0);
  CHECK(r->stdout_text.find("REFERENCE-SOLUTION") == std::string::npos);
  CHECK(r->stdout_text.find("HIDDEN-TEST") == std::string::npos);
  CHECK(r->stdout_text.find("task") == std::string::npos);
  CHECK(r->stdout_text.find("planted") == std::string::npos);

  // lineage's own suites, wherever lineage is installed: the data directory's evaluators/ (under /usr for a
  // root install) shows nothing.
  if (geteuid() == 0) {
    const fs::path installed = "/usr/local/share/lineage-hostile-test-" + std::to_string(getpid());
    test::WriteFile(installed / "solution.txt", "INSTALLED-REFERENCE");
    HideFromSandboxes(installed.string());
    a.spec.argv = {"sh", "-c", "cat " + (installed / "solution.txt").string() + "; ls -A " + installed.string()};
    auto under_usr = a.sandbox->Run(a.spec);
    std::error_code ec;
    fs::remove_all(installed, ec);
    REQUIRE(under_usr.ok());
    INFO(under_usr->stdout_text << under_usr->stderr_text);
    CHECK(under_usr->stdout_text.find("INSTALLED-REFERENCE") == std::string::npos);
    CHECK(under_usr->stdout_text.find("solution.txt") == std::string::npos);
  }
}

TEST_CASE("a host process of another user, nobody's, cannot read a sandbox's environment and token") {
  // Sandboxes of a root lineage once ran as nobody, like many host services: any of them could read an
  // agent's gateway token from /proc/PID/environ, or ptrace it.
  if (geteuid() != 0) {
    WARN("skipped: the sandbox runs as lineage's own user when lineage is not root");
    return;
  }
  Attack a;
  a.spec.env["LINEAGE_GATEWAY_TOKEN"] = "TOKEN-SECRET-4711";
  a.spec.argv = {"sleep", "6"};
  std::thread run([&] { (void)a.sandbox->Run(a.spec); });
  std::string pid;
  for (int i = 0; i < 100 && pid.empty(); ++i) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      auto environ = ReadFile(entry.path() / "environ");
      auto cmdline = ReadFile(entry.path() / "cmdline");
      if (environ.ok() && environ->find("TOKEN-SECRET-4711") != std::string::npos && cmdline.ok() &&
          cmdline->rfind("sleep", 0) == 0) {
        pid = name;
      }
    }
    if (pid.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_FALSE(pid.empty());
  auto read = test::RunCommand({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                                "cat /proc/" + pid + "/environ; grep -E '^(Uid|Gid)' /proc/" + pid + "/status"});
  run.join();
  INFO(read.out << read.err);
  CHECK(read.out.find("TOKEN-SECRET-4711") == std::string::npos);
  CHECK(read.out.find("\t65534\t") == std::string::npos);  // the sandbox is not nobody's
}

TEST_CASE("the host's environment is not visible, neither inherited nor through /proc") {
  setenv("LINEAGE_FAKE_API_KEY", "sk-live-DO-NOT-LEAK", 1);
  Attack a;
  a.spec.env["HOST_PID"] = std::to_string(getpid());
  auto r = a.Run("read_environ.sh");
  unsetenv("LINEAGE_FAKE_API_KEY");
  CHECK(r.stdout_text.find("sk-live-DO-NOT-LEAK") == std::string::npos);
  CHECK(r.stdout_text.find("LINEAGE_FAKE_API_KEY") == std::string::npos);
}

TEST_CASE("nothing can be written outside the workspace") {
  Attack a;
  a.spec.env["OUTSIDE_DIR"] = a.outside.path().string();
  auto r = a.Run("write_outside.sh");
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_text.find("WROTE") == std::string::npos);
  CHECK_FALSE(fs::exists(a.outside / "pwned"));
  CHECK_FALSE(fs::exists(fs::path(LINEAGE_ATTACKS_DIR) / "pwned"));
  CHECK_FALSE(fs::exists("/usr/pwned"));
  CHECK_FALSE(fs::exists("/etc/pwned"));
}

TEST_CASE("links left in the workspace never make the host read a host file") {
  Attack a;
  test::WriteFile(a.outside / "secret.txt", "TOP-SECRET-VALUE");
  a.spec.env["SECRET_FILE"] = (a.outside / "secret.txt").string();
  auto r = a.Run("links.sh");
  CHECK(r.stdout_text.find("HARDLINKED") == std::string::npos);  // a hard link across mounts is refused

  // The host reads the workspace as lineage does (to diff and commit it): symlinks come back as links.
  auto tree = ReadTree(a.workspace.path());
  REQUIRE(tree.ok());
  for (const TreeEntry& e : *tree) CHECK(e.data.find("TOP-SECRET-VALUE") == std::string::npos);
  auto leak = std::find_if(tree->begin(), tree->end(), [](const TreeEntry& e) { return e.path == "leak-symlink"; });
  REQUIRE(leak != tree->end());
  CHECK(leak->kind == TreeEntry::Kind::kSymlink);
}

TEST_CASE("hard links made in the workspace come back to the host as separate files") {
  Attack a;
  test::WriteFile(a.outside / "secret.txt", "x");
  a.spec.env["SECRET_FILE"] = (a.outside / "secret.txt").string();
  a.Run("links.sh");
  struct stat st;
  REQUIRE(lstat((a.workspace / "own-hardlink").c_str(), &st) == 0);
  CHECK(st.st_nlink == 1);
  REQUIRE(lstat((a.workspace / "own-file").c_str(), &st) == 0);
  CHECK(st.st_nlink == 1);
  CHECK(ReadTree(a.workspace.path()).ok());
}

TEST_CASE("device files cannot be created") {
  Attack a;
  auto r = a.Run("mknod.sh");
  CHECK(r.stdout_text.find("MADE") == std::string::npos);
  CHECK_FALSE(fs::exists(a.workspace / "null"));
  CHECK_FALSE(fs::exists(a.workspace / "disk"));
}

TEST_CASE("no capabilities, no new privileges, seccomp on: a setuid binary gains nothing") {
  Attack a;
  auto r = a.Run("privileges.sh");
  CHECK(r.stdout_text.find("CapEff:\t0000000000000000") != std::string::npos);
  CHECK(r.stdout_text.find("CapPrm:\t0000000000000000") != std::string::npos);
  CHECK(r.stdout_text.find("NoNewPrivs:\t1") != std::string::npos);
  CHECK(r.stdout_text.find("Seccomp:\t2") != std::string::npos);
}

TEST_CASE("ptrace is refused") {
  Attack a;
  auto r = a.Run("ptrace");
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_text == "BLOCKED Operation not permitted\n");
}

TEST_CASE("TIOCSTI is refused, even with junk in the high bits") {
  Attack a;
  auto r = a.Run("tiocsti");
  CHECK(r.stdout_text == "plain=-1 Operation not permitted\njunk=-1 Operation not permitted\n");
}

TEST_CASE("a 32-bit system call, made to slip past an x86-64 filter, kills the process") {
  Attack a;
  auto r = a.Run("i386_syscall");
  // SIGSYS from the filter; SIGSEGV where the kernel has no 32-bit entry at all. Either way the call
  // never returned.
  CHECK((r.signal == SIGSYS || r.signal == SIGSEGV));
  CHECK(r.stdout_text.empty());
}

TEST_CASE("a fork bomb is stopped by the pids limit and leaves nothing behind") {
  Attack a;
  a.spec.limits.pids = 64;
  auto r = a.Run("fork_bomb.sh");
  CHECK(r.limit == SandboxLimit::kPids);
  CHECK_FALSE(AnyProcessMatches("/attacks/fork_bomb.sh"));
}

TEST_CASE("a memory hog is killed by the memory limit") {
  Attack a;
  a.spec.limits.memory_bytes = 128ull << 20;
  auto r = a.Run("memory_hog.sh");
  CHECK(r.limit == SandboxLimit::kMemory);
  CHECK(r.signal == SIGKILL);
  CHECK(r.peak_memory_bytes <= (128ull << 20));
}

TEST_CASE("a CPU spin is killed by the CPU limit") {
  Attack a;
  a.spec.limits.cpu_seconds = 1;
  auto r = a.Run("cpu_spin.sh");
  CHECK(r.limit == SandboxLimit::kCpu);
  CHECK(r.cpu_ms >= 1000);
  CHECK(r.wall_ms < 10000);
}

TEST_CASE("filling the private /tmp ends the run at its size, with limit disk") {
  Attack a;
  a.spec.limits.tmp_bytes = 8ull << 20;
  auto r = a.Run("fill_tmp.sh");
  CHECK(r.limit == SandboxLimit::kDisk);
}

TEST_CASE("/dev cannot be filled: it is read-only, but for its devices and the capped /dev/shm") {
  Attack a;
  a.spec.argv = {"sh", "-c", "echo x > /dev/fill && echo WROTE-DEV; echo ok > /dev/null && echo NULL-OK; "
                             "echo y > /dev/shm/y && echo SHM-OK"};
  auto r = a.sandbox->Run(a.spec);
  REQUIRE(r.ok());
  CHECK(r->stdout_text == "NULL-OK\nSHM-OK\n");
}

TEST_CASE("filling /dev/shm, which lives in memory, ends the run at its size, with limit disk") {
  Attack a;
  a.spec.limits.tmp_bytes = 8ull << 20;
  auto r = a.Run("fill_shm.sh");
  CHECK(r.limit == SandboxLimit::kDisk);
  CHECK(r.peak_memory_bytes < (64ull << 20));
}

// Total bytes under `dir`, counted without following links.
std::uint64_t BytesUnder(const fs::path& dir) {
  std::uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_symlink()) continue;
    if (it->is_regular_file()) total += it->file_size();
  }
  return total;
}

TEST_CASE("4 GiB of small files stop at the disk cap: limit disk, and the host's disk never holds them") {
  Attack a;
  a.spec.limits.disk_bytes = 64ull << 20;
  auto r = a.Run("disk_flood.sh");
  CHECK(r.limit == SandboxLimit::kDisk);
  CHECK(r.stdout_text.find("WROTE-ALL") == std::string::npos);
  CHECK(BytesUnder(a.workspace.path()) == 0);  // a run ended by the cap is not copied back
}

TEST_CASE("a sparse file comes back sparse: the host's disk holds what the sandbox's held") {
  Attack a;
  a.spec.argv = {"sh", "-c", "truncate -s 512M sparse && echo data >> sparse"};
  auto r = a.sandbox->Run(a.spec);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 0);
  struct stat st;
  REQUIRE(stat((a.workspace / "sparse").c_str(), &st) == 0);
  CHECK(st.st_size == (512ll << 20) + 5);
  CHECK(st.st_blocks * 512 < (1 << 20));
}

TEST_CASE("200,000 directories stop at the entry cap: limit disk, and none reaches the host") {
  Attack a;
  a.spec.limits.disk_entries = 5000;
  auto r = a.Run("inode_flood.sh");
  CHECK(r.limit == SandboxLimit::kDisk);
  CHECK(r.stdout_text.find("MADE-ALL") == std::string::npos);
  CHECK(fs::is_empty(a.workspace.path()));
}

TEST_CASE("the workspace's files reach the sandbox and what it leaves comes back, in a file system of its own") {
  Attack a;
  test::WriteFile(a.workspace / "in.txt", "from the host\n");
  test::WriteFile(a.workspace / "gone.txt", "to be deleted\n");
  a.spec.argv = {"sh", "-c", "cat in.txt && rm gone.txt && mkdir -p sub/empty && echo out > sub/out.txt && "
                             "df -P /workspace | tail -n 1"};
  a.spec.limits.disk_bytes = 16ull << 20;
  auto r = a.sandbox->Run(a.spec);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_text.rfind("from the host\ntmpfs ", 0) == 0);  // not the host's disk
  CHECK(test::ReadFileOrDie(a.workspace / "sub/out.txt") == "out\n");
  CHECK(fs::is_directory(a.workspace / "sub/empty"));
  CHECK_FALSE(fs::exists(a.workspace / "gone.txt"));
}

TEST_CASE("a scratch copy held in memory reaches the sandbox as files, links as links, and never the host's disk") {
  Attack a;
  TempDir secret_dir;
  test::WriteFile(secret_dir / "secret.txt", "host secret\n");
  const fs::path host = a.outside / "copy";  // named, never written
  auto files = std::make_shared<const std::vector<TreeEntry>>(std::vector<TreeEntry>{
      {"src/app.py", TreeEntry::Kind::kFile, "print('hi')\n"},
      {"run.sh", TreeEntry::Kind::kExecutable, "#!/bin/sh\necho ran\n"},
      {"leak", TreeEntry::Kind::kSymlink, (secret_dir / "secret.txt").string()}});
  a.spec.mounts = {{SandboxMount::Kind::kScratch, host.string(), "/testbed", 0, files}};
  a.spec.workdir = "/testbed";
  a.spec.argv = {"sh", "-c", "cat src/app.py && ./run.sh && readlink leak && (cat leak || echo unreadable) && "
                             "echo new > new.txt && df -P /testbed | tail -n 1"};
  auto r = a.sandbox->Run(a.spec);
  REQUIRE(r.ok());
  INFO(r->stdout_text << r->stderr_text);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_text.rfind("print('hi')\nran\n" + (secret_dir / "secret.txt").string() + "\nunreadable\n", 0) == 0);
  CHECK(r->stdout_text.find("tmpfs ") != std::string::npos);
  CHECK_FALSE(fs::exists(host));  // nothing written on the host, nothing copied back

  // A path that would climb out of the mount is refused before anything runs.
  a.spec.mounts[0].files = std::make_shared<const std::vector<TreeEntry>>(
      std::vector<TreeEntry>{{"../escape.txt", TreeEntry::Kind::kFile, "x"}});
  auto bad = a.sandbox->Run(a.spec);
  CHECK_FALSE(bad.ok());
  CHECK_FALSE(fs::exists(a.outside / "escape.txt"));
}

TEST_CASE("a huge file stops at the file size limit") {
  Attack a;
  a.spec.limits.file_size_bytes = 4ull << 20;
  auto r = a.Run("huge_file.sh");
  CHECK(r.limit == SandboxLimit::kFileSize);
  CHECK(fs::file_size(a.workspace / "huge") == (4ull << 20));
}

TEST_CASE("a gigabyte of stdout is cut at the cap and ends the run") {
  Attack a;
  a.spec.limits.output_bytes = 1 << 20;
  auto r = a.Run("flood_stdout.sh");
  CHECK(r.limit == SandboxLimit::kOutput);
  CHECK(r.stdout_truncated);
  CHECK(r.stdout_text.size() == (1u << 20) + std::string(kTruncationMarker).size());
  CHECK(r.stdout_text.substr(1 << 20) == kTruncationMarker);
  CHECK(r.wall_ms < 10000);
}

TEST_CASE("background processes do not outlive the sandbox") {
  Attack a;
  auto r = a.Run("background.sh");
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_text == "LEFT-BEHIND\n");
  CHECK_FALSE(AnyProcessMatches("sleep 31415"));
  CHECK_FALSE(AnyProcessMatches("sleep 31416"));
}

TEST_CASE("a process that ignores SIGTERM is killed at the wall limit") {
  Attack a;
  a.spec.limits.wall_ms = 1000;
  auto r = a.Run("ignore_term.sh");
  CHECK(r.limit == SandboxLimit::kWall);
  CHECK(r.signal == SIGKILL);
  CHECK(r.wall_ms < 5000);
  CHECK_FALSE(AnyProcessMatches("sleep 302"));
}

TEST_CASE("a sandbox starts with descriptors 0, 1 and 2 only, whatever the caller and its other threads hold") {
  // Held by this thread without close-on-exec: a host directory, as `exec 7</some/dir` would leave.
  TempDir host_dir;
  int dir_fd = open(host_dir.path().c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(dir_fd >= 0);
  // Meanwhile other threads keep opening descriptors without close-on-exec.
  std::atomic<bool> stop{false};
  std::vector<std::thread> openers;
  for (int t = 0; t < 2; ++t) {
    openers.emplace_back([&] {
      while (!stop) {
        int fds[2];
        if (pipe(fds) == 0) {
          int dir = open("/", O_RDONLY | O_DIRECTORY);
          std::this_thread::yield();
          close(fds[0]);
          close(fds[1]);
          if (dir >= 0) close(dir);
        }
      }
    });
  }
  std::vector<std::string> outputs(8);
  std::vector<std::thread> runs;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    runs.emplace_back([&, i] {
      Attack a;
      a.spec.argv = {"/attack-bin/fds"};
      auto r = a.sandbox->Run(a.spec);
      outputs[i] = r.ok() ? r->stdout_text : r.status().message();
    });
  }
  for (std::thread& t : runs) t.join();
  stop = true;
  for (std::thread& t : openers) t.join();
  close(dir_fd);
  for (const std::string& out : outputs) CHECK(out == "fds: 0 1 2\n");
}

TEST_CASE("a sandbox never runs as host root, and nothing it writes comes out setuid or setgid") {
  Attack a;
  std::atomic<bool> done{false};
  std::string host_uid;
  std::thread watcher([&] {
    while (!done && host_uid.empty()) {
      for (const auto& entry : fs::directory_iterator("/proc")) {
        std::ifstream cmd(entry.path() / "cmdline");
        std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
        if (line.find("31417") == std::string::npos) continue;
        std::ifstream status(entry.path() / "status");
        for (std::string l; std::getline(status, l);) {
          if (l.rfind("Uid:", 0) == 0) host_uid = l;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto r = a.Run("setuid.sh");
  done = true;
  watcher.join();
  const std::string expected = std::to_string(geteuid() == 0 ? kSandboxUid : geteuid());
  INFO("host view of the sandbox's process: " << host_uid);
  CHECK(host_uid.find("\t" + expected + "\t") != std::string::npos);
  CHECK(r.stdout_text.find("suid-env") != std::string::npos);  // it did make one, inside
  for (const char* name : {"suid-env", "sgid-dir", "sgid-dir/inner"}) {
    struct stat st;
    REQUIRE(lstat((a.workspace / name).c_str(), &st) == 0);
    CHECK((st.st_mode & (S_ISUID | S_ISGID)) == 0);
    CHECK(st.st_uid == geteuid());
  }
}

TEST_CASE("a workspace's .git is read-only inside: no hook or configuration reaches the host") {
  Attack a;
  test::WriteFile(a.workspace / ".git/config", "[core]\n\tbare = false\n");
  test::WriteFile(a.workspace / ".git/hooks/README", "hooks\n");
  test::WriteFile(a.workspace / "README.md", "original\n");
  auto r = a.Run("git_hooks.sh");
  CHECK(r.stdout_text.find("HOOK-WRITTEN") == std::string::npos);
  CHECK(r.stdout_text.find("CONFIG-WRITTEN") == std::string::npos);
  CHECK(r.stdout_text.find("DIR-MADE") == std::string::npos);
  CHECK_FALSE(fs::exists(a.workspace / ".git/hooks/post-checkout"));
  CHECK(test::ReadFileOrDie(a.workspace / ".git/config") == "[core]\n\tbare = false\n");
  CHECK(test::ReadFileOrDie(a.workspace / "README.md") == "innocent change\n");  // the rest came back
}

TEST_CASE("no process writes another's memory or takes its descriptors") {
  Attack a;
  auto r = a.Run("proc_writes");
  CHECK(r.stdout_text ==
        "proc_mem_write refused\nprocess_vm_writev refused\npidfd_getfd refused\nkcmp refused\n"
        "process_madvise refused\nparent memory: parent-memory\n");
}

TEST_CASE("only Unix and inet sockets can be made: vsock, netlink, packet and the rest are refused") {
  Attack a;
  auto r = a.Run("sockets");
  CHECK(r.stdout_text ==
        "unix created\ninet created\ninet6 created\nvsock Address family not supported by protocol\n"
        "netlink Address family not supported by protocol\npacket Address family not supported by protocol\n"
        "bluetooth Address family not supported by protocol\nalg Address family not supported by protocol\n"
        "family-99 Address family not supported by protocol\n"
        "socketpair-inet Address family not supported by protocol\n");
}

TEST_CASE("a bad spec is refused before anything runs") {
  Attack a;
  a.spec.argv = {};
  CHECK(a.sandbox->Run(a.spec).status().message() == "nothing to run: the command is empty");
  a.spec.argv = {"true"};
  a.spec.mounts.push_back({SandboxMount::Kind::kReadOnly, "/nonexistent/lineage", "/x", 0});
  CHECK(a.sandbox->Run(a.spec).status().message() == "bind source '/nonexistent/lineage' does not exist");
}

}  // namespace
}  // namespace lineage

namespace lineage {
namespace {

TEST_CASE("the exposed host Unix socket is reachable, and is the only way out") {
  test::TempDir sock_dir;
  std::string path = (sock_dir / "gateway.sock").string();
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(listener, 1) == 0);
  std::thread server([&] {
    int conn = accept(listener, nullptr, nullptr);
    char buf[8] = {0};
    if (read(conn, buf, 4) == 4 && std::string(buf) == "ping") (void)!write(conn, "pong", 4);
    close(conn);
  });

  Attack a;
  a.spec.socket_host = path;
  a.spec.socket_inside = "/run/lineage/gateway.sock";
  a.spec.env["GATEWAY_SOCKET"] = a.spec.socket_inside;
  auto r = a.Run("unix_connect");
  server.join();
  close(listener);
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_text == "reply=pong\n");
}

// An environment (sandbox/environment.h) is shared by every later task that runs in it: a task must not be
// able to change it. Here a root file system made of links to the host's /usr stands in for one built by
// mmdebstrap (tests/evaluators/swebench_test.cc runs real ones).
TEST_CASE("a sandbox in an environment cannot change the environment, nor the host's files it can read") {
  Attack attack;
  TempDir root;
  fs::create_symlink("/usr", root / "usr");
  fs::create_symlink("usr/bin", root / "bin");
  fs::create_symlink("usr/lib", root / "lib");
  if (fs::exists("/usr/lib64")) fs::create_symlink("usr/lib64", root / "lib64");
  fs::create_directories(root / "etc");
  test::WriteFile(root / "etc" / "environment-marker", "pristine\n");
  test::WriteFile(root / "etc" / "passwd", "root:x:0:0:root:/root:/bin/sh\n");
  test::WriteFile(root / "var" / "lib" / "state", "pristine\n");
  // Writable by anyone: only the sandbox's read-only mounts stand between the attacker and these files.
  for (const char* path : {"etc", "var", "var/lib", "etc/environment-marker", "etc/passwd", "var/lib/state"}) {
    fs::permissions(root / path, fs::perms::all);
  }
  attack.spec.root = root.path().string();
  attack.spec.argv = {"sh", "-c",
                      "for f in /etc/environment-marker /var/lib/state /usr/lineage-planted /lineage/host/usr/lineage-planted "
                      "/planted; do (echo changed > $f) 2>/dev/null && echo \"WROTE $f\"; done; "
                      "rm -f /etc/environment-marker 2>/dev/null && echo REMOVED; "
                      "touch /lineage/host/usr/bin/planted 2>/dev/null && echo WROTE host; "
                      "cat /etc/environment-marker; test -x \"${LINEAGE_HOST_EXEC%% *}\" && echo host-loader; "
                      "echo \"user=$(id -un)\""};
  auto r = attack.sandbox->Run(attack.spec);
  REQUIRE(r.ok());
  INFO(r->stdout_text << r->stderr_text);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_text.find("WROTE") == std::string::npos);
  CHECK(r->stdout_text.find("REMOVED") == std::string::npos);
  CHECK(r->stdout_text.find("pristine") != std::string::npos);
  CHECK(r->stdout_text.find("host-loader") != std::string::npos);  // $LINEAGE_HOST_EXEC names the host's loader
  // The environment's accounts, with the sandbox's own added: programs that look their user up find one.
  CHECK(r->stdout_text.find("user=sandbox") != std::string::npos);
  CHECK(test::ReadFileOrDie(root / "etc" / "environment-marker") == "pristine\n");
  CHECK(test::ReadFileOrDie(root / "var" / "lib" / "state") == "pristine\n");
  CHECK_FALSE(fs::exists("/usr/lineage-planted"));
  CHECK_FALSE(fs::exists("/usr/bin/planted"));
}

}  // namespace
}  // namespace lineage
