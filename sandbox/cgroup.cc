#include "sandbox/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/files.h"

namespace lineage {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRoot = "/sys/fs/cgroup";

bool WriteText(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

std::string ReadText(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : "";
}

std::uint64_t ReadNumber(const std::string& path) {
  std::string text = ReadText(path);
  return text.empty() ? 0 : std::strtoull(text.c_str(), nullptr, 10);
}

// The value of `key` in a flat keyed file ("max 3\n", "oom_kill 1\n").
std::uint64_t ReadKey(const std::string& path, const std::string& key) {
  std::istringstream in(ReadText(path));
  std::string k;
  std::uint64_t v;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// This process's cgroup path for `controller` (v1) or the unified one ("" controller), from /proc/self/cgroup.
std::string OwnPath(const std::string& controller) {
  std::istringstream in(ReadText("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::stringstream list(controllers);
    std::string c;
    bool match = controller.empty() && controllers.empty();
    while (!match && std::getline(list, c, ',')) match = c == controller;
    if (match) return line.substr(b + 1);
  }
  return "/";
}

// The directory under which sandbox cgroups of `controller` can be made, or "" when none works.
std::string ProbeParent(const std::string& mount, const std::string& controller, const char* limit_file) {
  for (std::string parent : {mount + OwnPath(controller), mount}) {
    if (!fs::is_directory(parent)) continue;
    std::string probe = parent + "/lineage-probe-" + std::to_string(getpid());
    if (mkdir(probe.c_str(), 0755) != 0) continue;
    bool usable = fs::exists(probe + "/" + limit_file);
    rmdir(probe.c_str());
    if (usable) return parent;
  }
  return "";
}

std::atomic<int> counter{0};

}  // namespace

namespace {

// Removes the cgroups a lineage process killed outright left under `parent` (named lineage-<pid>-<n>),
// killing whatever is still in them.
void SweepLeftovers(const std::string& parent) {
  if (parent.empty()) return;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    int pid = 0;
    if (std::sscanf(entry.path().filename().c_str(), "lineage-%d-", &pid) != 1 || pid <= 0 || pid == getpid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // its owner lives
    std::istringstream in(ReadText(entry.path() / "cgroup.procs"));
    for (pid_t p; in >> p;) kill(p, SIGKILL);
    for (int i = 0; i < 100 && rmdir(entry.path().c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

}  // namespace

CgroupSupport DetectCgroups() {
  CgroupSupport s;
  if (fs::exists(std::string(kRoot) + "/cgroup.controllers")) {
    s.memory_parent = ProbeParent(kRoot, "", "memory.max");
    s.memory = !s.memory_parent.empty();
    s.pids = s.memory && !ProbeParent(kRoot, "", "pids.max").empty();
    s.version = s.memory || s.pids ? 2 : 0;
    SweepLeftovers(s.memory_parent);
    return s;
  }
  s.memory_parent = ProbeParent(std::string(kRoot) + "/memory", "memory", "memory.limit_in_bytes");
  s.pids_parent = ProbeParent(std::string(kRoot) + "/pids", "pids", "pids.max");
  s.cpuacct_parent = ProbeParent(std::string(kRoot) + "/cpuacct", "cpuacct", "cpuacct.usage");
  s.memory = !s.memory_parent.empty();
  s.pids = !s.pids_parent.empty();
  s.version = s.memory || s.pids ? 1 : 0;
  for (const std::string& parent : {s.memory_parent, s.pids_parent, s.cpuacct_parent}) SweepLeftovers(parent);
  return s;
}

Result<std::unique_ptr<Cgroup>> Cgroup::Create(const CgroupSupport& support, std::uint64_t memory_bytes, int pids) {
  std::unique_ptr<Cgroup> cg(new Cgroup());
  cg->version_ = support.version;
  std::string name = "lineage-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  auto make = [&](const std::string& parent) -> Result<std::string> {
    std::string dir = parent + "/" + name;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create cgroup " + dir + ": " + std::strerror(errno));
    }
    cg->dirs_.push_back(dir);
    cg->procs_files_.push_back(dir + "/cgroup.procs");
    return dir;
  };
  if (support.version == 2) {
    LINEAGE_ASSIGN_OR_RETURN(std::string dir, make(support.memory_parent));
    cg->memory_dir_ = cg->pids_dir_ = cg->cpu_dir_ = dir;
    if (!WriteText(dir + "/memory.max", std::to_string(memory_bytes))) return Status::IOError("cannot set " + dir + "/memory.max");
    WriteText(dir + "/memory.swap.max", "0");
    if (support.pids && !WriteText(dir + "/pids.max", std::to_string(pids))) return Status::IOError("cannot set pids.max");
    return cg;
  }
  if (support.memory) {
    LINEAGE_ASSIGN_OR_RETURN(cg->memory_dir_, make(support.memory_parent));
    if (!WriteText(cg->memory_dir_ + "/memory.limit_in_bytes", std::to_string(memory_bytes))) {
      return Status::IOError("cannot set " + cg->memory_dir_ + "/memory.limit_in_bytes");
    }
    WriteText(cg->memory_dir_ + "/memory.memsw.limit_in_bytes", std::to_string(memory_bytes));
  }
  if (support.pids) {
    LINEAGE_ASSIGN_OR_RETURN(cg->pids_dir_, make(support.pids_parent));
    if (!WriteText(cg->pids_dir_ + "/pids.max", std::to_string(pids))) return Status::IOError("cannot set pids.max");
  }
  if (!support.cpuacct_parent.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(cg->cpu_dir_, make(support.cpuacct_parent));
  }
  return cg;
}

void Cgroup::JoinFromChild() const {
  for (const std::string& procs : procs_files_) {
    int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = write(fd, "0", 1);
    (void)n;
    close(fd);
  }
}

void Cgroup::KillAll() {
  // cgroup.kill (v2, Linux 5.14+) kills everything at once, even processes forking right now; the loop
  // below then only confirms the cgroup is empty. On v1 the loop does the killing.
  if (version_ == 2 && !memory_dir_.empty()) WriteText(memory_dir_ + "/cgroup.kill", "1");
  for (int round = 0; round < 1000; ++round) {
    bool any = false;
    for (const std::string& procs : procs_files_) {
      std::istringstream in(ReadText(procs));
      pid_t pid;
      while (in >> pid) {
        any = true;
        kill(pid, SIGKILL);
      }
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Cgroup::~Cgroup() {
  KillAll();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    for (int i = 0; i < 500 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

std::vector<int> Cgroup::Processes() const {
  std::vector<int> pids;
  if (procs_files_.empty()) return pids;
  std::istringstream in(ReadText(procs_files_.front()));
  for (int pid; in >> pid;) pids.push_back(pid);
  return pids;
}

std::uint64_t Cgroup::PeakMemoryBytes() const {
  if (memory_dir_.empty()) return 0;
  return ReadNumber(memory_dir_ + (version_ == 2 ? "/memory.peak" : "/memory.max_usage_in_bytes"));
}

std::int64_t Cgroup::CpuMillis() const {
  if (cpu_dir_.empty()) return -1;
  if (version_ == 2) return static_cast<std::int64_t>(ReadKey(cpu_dir_ + "/cpu.stat", "usage_usec") / 1000);
  return static_cast<std::int64_t>(ReadNumber(cpu_dir_ + "/cpuacct.usage") / 1000000);
}

bool Cgroup::MemoryLimitHit() const {
  if (memory_dir_.empty()) return false;
  if (version_ == 2) return ReadKey(memory_dir_ + "/memory.events", "oom_kill") > 0;
  return ReadKey(memory_dir_ + "/memory.oom_control", "oom_kill") > 0;
}

bool Cgroup::PidsLimitHit() const {
  if (pids_dir_.empty()) return false;
  return ReadKey(pids_dir_ + "/pids.events", "max") > 0;
}

}  // namespace lineage
