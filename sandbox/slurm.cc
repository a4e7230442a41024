#include "sandbox/slurm.h"

#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/files.h"
#include "base/unique_fd.h"
#include "sandbox/sandbox_json.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// --- Results as job files -------------------------------------------------------------------------------

// A job's result.json: the sandbox's result (sandbox_json.h), or lineage's own failure on the node as
// {"error"}; with a gateway relay, "gateway" and its "relay_failures".
Result<SandboxResult> ResultFromJob(const json& j) {
  if (j.contains("error")) {
    return Status::FailedPrecondition("the node could not run the sandbox: " + j["error"].get<std::string>());
  }
  if (j.value("relay_failures", 0) > 0) {
    // The agent's model calls never reached the gateway, which therefore counted no fault: the world's.
    return Status::Unavailable("the node could not reach the run's gateway at " + j.value("gateway", std::string("?")) +
                               " (" + std::to_string(j["relay_failures"].get<int>()) + " connection(s) failed; check "
                               "[executor] gateway_listen)");
  }
  return SandboxResultFromJson(j);
}

// --- Slurm's commands -------------------------------------------------------------------------------------

// Runs one of Slurm's client commands on this host: its output, or why it failed.
Result<std::string> Slurm(std::vector<std::string> argv) {
  SandboxSpec spec;
  spec.argv = std::move(argv);
  for (const char* name : {"SLURM_CONF", "MUNGE_SOCKET"}) {
    if (const char* value = std::getenv(name)) spec.env[name] = value;
  }
  spec.limits.wall_ms = 60'000;
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult r, RunTrusted(spec));
  if (!r.ok()) {
    return Status::Unavailable(spec.argv[0] + " failed (exit " + std::to_string(r.exit_code.value_or(-1)) +
                               "): " + ClipText(r.stderr_text + r.stdout_text, 2000));
  }
  return r.stdout_text;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A job's state while Slurm still lists it (completed jobs stay listed for a few minutes); empty when gone,
// nullopt when squeue did not answer (a busy controller: nothing is known).
std::optional<std::string> JobState(const std::string& id) {
  auto out = Slurm({"squeue", "-h", "-t", "all", "-j", id, "-o", "%T"});
  if (!out.ok()) {
    // squeue refuses an id it no longer knows: that job is gone.
    if (out.status().message().find("Invalid job id") != std::string::npos) return std::string();
    return std::nullopt;
  }
  return out->substr(0, out->find('\n'));
}

bool Live(const std::string& state) {
  for (const char* s : {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                        "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING"}) {
    if (state == s) return true;
  }
  return false;
}

class SlurmSandbox : public Sandbox {
 public:
  explicit SlurmSandbox(SlurmOptions options) : options_(std::move(options)) {}

  Result<SandboxResult> Run(const SandboxSpec& spec) override {
    static std::atomic<int> serial{0};
    const std::string name =
        options_.job_prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(serial++) + "-" + RandomHex(3);
    const fs::path dir = options_.shared_dir / "jobs" / name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create the job directory " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);  // its spec holds a gateway token
    struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      }
    } cleanup{dir};
    // The node hides what this process hides, whatever its own registry holds.
    SandboxSpec sent = spec;
    for (const std::string& h : HiddenFromSandboxes()) sent.hidden.push_back(h);
    LINEAGE_RETURN_IF_ERROR(WriteMountFiles(sent));
    LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(dir / "spec.json", SandboxSpecToJson(sent).dump(), 0600));
    LINEAGE_ASSIGN_OR_RETURN(std::string id, Submit(spec, name, dir));
    spdlog::debug("slurm: job {} ({}) submitted for {}", id, name, spec.tag);
    return Await(id, name, dir);
  }

  bool RunsOnThisHost() const override { return false; }

  std::vector<std::string> EnforcedLimits() const override {
    return {"every limit: as the bubblewrap sandbox on the node enforces it (lineage sandbox check on a node)",
            "time: Slurm's --time, the wall limit plus " + std::to_string(options_.time_margin_s) + " s",
            "memory: Slurm's --mem, the sandbox's memory limit and its tmpfs file systems, plus 512 MiB for lineage"};
  }

 private:
  Result<std::string> Submit(const SandboxSpec& spec, const std::string& name, const fs::path& dir) {
    const std::int64_t minutes = std::max<std::int64_t>(1, (spec.limits.wall_ms / 1000 + options_.time_margin_s + 59) / 60);
    // What the job holds in memory: the sandbox's own limit, and its private file systems, which are tmpfs
    // (the private /tmp and /dev/shm, each writable mount), plus lineage and bubblewrap on the node.
    std::uint64_t writable = 0;
    for (const SandboxMount& m : spec.mounts) {
      if (m.kind == SandboxMount::Kind::kReadWrite || m.kind == SandboxMount::Kind::kScratch) writable += spec.limits.disk_bytes;
      if (m.kind == SandboxMount::Kind::kTmpfs) writable += m.tmpfs_bytes;
    }
    const std::uint64_t mem_mib = (spec.limits.memory_bytes + 2 * spec.limits.tmp_bytes + writable) / (1 << 20) + 512;
    std::vector<std::string> argv = {"sbatch", "--parsable", "--job-name=" + name,
                                     "--comment=" + SlurmJobComment(spec),
                                     "--output=" + (dir / "slurm.out").string(), "--time=" + std::to_string(minutes),
                                     "--mem=" + std::to_string(mem_mib), "--cpus-per-task=1", "--requeue"};
    if (!options_.partition.empty()) argv.push_back("--partition=" + options_.partition);
    if (!options_.account.empty()) argv.push_back("--account=" + options_.account);
    if (!options_.qos.empty()) argv.push_back("--qos=" + options_.qos);
    argv.insert(argv.end(), options_.sbatch_args.begin(), options_.sbatch_args.end());
    argv.push_back("--wrap=exec " + ShellQuote(options_.lineage_binary) + " sandbox exec " + ShellQuote(dir.string()));
    auto out = Slurm(argv);
    if (!out.ok()) return out.status().WithContext("submitting " + name);
    const std::string id = out->substr(0, out->find_first_of(";\n"));
    if (id.empty()) return Status::Unavailable("sbatch printed no job id for " + name);
    return id;
  }

  // Waits for the job's result. A job that left the queue without one: its Slurm limits (memory, time)
  // were the sandboxed run's, reported as its limit; anything else was the cluster's (Unavailable).
  Result<SandboxResult> Await(const std::string& id, const std::string& name, const fs::path& dir) {
    using Clock = std::chrono::steady_clock;
    auto next_check = Clock::now() + std::chrono::seconds(1);
    int pause_ms = 20;
    std::optional<Clock::time_point> ended;  // when Slurm said the job was over
    std::string final_state;
    for (;;) {
      if (auto text = ReadFile(dir / "result.json"); text.ok()) {
        try {
          Result<SandboxResult> result = ResultFromJob(json::parse(*text));
          if (!result.ok() && result.status().code() == Status::Code::kCorruption) {
            return result.status().WithContext("job " + id + " left an unreadable result");
          }
          return result;
        } catch (const json::exception& e) {
          return Status::Corruption("job " + id + " left an unreadable result: " + e.what());
        }
      }
      if (ended) {
        // A shared file system may show a file renamed into place on the node a few seconds late.
        if (Clock::now() - *ended < std::chrono::seconds(5)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          continue;
        }
        return Lost(id, name, dir, final_state);
      }
      if (Clock::now() >= next_check) {
        next_check = Clock::now() + std::chrono::seconds(1);
        const std::optional<std::string> state = JobState(id);
        if (state && !Live(*state)) {
          ended = Clock::now();
          final_state = *state;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      pause_ms = std::min(pause_ms * 2, 250);
    }
  }

  Result<SandboxResult> Lost(const std::string& id, const std::string& name, const fs::path& dir,
                             const std::string& final_state) {
    const std::string state = final_state.empty() ? "gone from the queue" : final_state;
    (void)Slurm({"scancel", id});  // whatever is left of it
    if (final_state == "OUT_OF_MEMORY" || final_state == "TIMEOUT") {
      // The job outgrew what it asked Slurm for: the run's own doing (its memory, its disk on tmpfs, its time).
      SandboxResult r;
      r.limit = final_state == "TIMEOUT" ? SandboxLimit::kWall : SandboxLimit::kMemory;
      r.signal = 9;
      r.stderr_text = "[lineage: Slurm ended job " + id + " (" + final_state + ")]\n";
      return r;
    }
    auto read = ReadFile(dir / "slurm.out");
    const std::string log = read.ok() ? *read : "";
    return Status::Unavailable("the cluster ended job " + id + " (" + name + ") without a result (" + state +
                               "): its work is redone" + (log.empty() ? "" : "; the job's output ends: " + ClipText(log.substr(log.size() > 500 ? log.size() - 500 : 0), 500)));
  }

  SlurmOptions options_;
};


// --- The gateway from a node ----------------------------------------------------------------------------

// Relays each connection made to a Unix socket on this node to a TCP address (the run's gateway on the
// orchestrator's host): the sandbox is given the socket, as on the orchestrator's own host.
class GatewayRelay {
 public:
  static Result<std::unique_ptr<GatewayRelay>> Start(const std::string& socket_path, const std::string& host_port) {
    const size_t colon = host_port.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("gateway address '" + host_port + "' is not HOST:PORT");
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);  // IPv6
    auto relay = std::unique_ptr<GatewayRelay>(new GatewayRelay(host, host_port.substr(colon + 1)));
    relay->listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof address.sun_path) return Status::InvalidArgument("socket path too long: " + socket_path);
    std::strcpy(address.sun_path, socket_path.c_str());
    ::unlink(socket_path.c_str());
    if (!relay->listener_.valid() || ::bind(relay->listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(relay->listener_.get(), 64) != 0) {
      return Status::IOError("cannot listen on " + socket_path + ": " + std::strerror(errno));
    }
    relay->path_ = socket_path;
    relay->accepting_ = std::thread([raw = relay.get()] { raw->Accept(); });
    return relay;
  }

  ~GatewayRelay() {
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
    accepting_.join();
    std::unique_lock lock(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    done_.wait(lock, [&] { return pumping_ == 0; });
    ::unlink(path_.c_str());
  }

  // Connections the relay could not carry to the gateway: calls the gateway never saw.
  int failures() const { return failures_.load(); }

 private:
  GatewayRelay(std::string host, std::string port) : host_(std::move(host)), port_(std::move(port)) {}

  // One thread per connection, at most kMaxConnections at once (more wait in the listen queue); each
  // leaves nothing behind when its connection ends.
  static constexpr int kMaxConnections = 32;

  void Accept() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        done_.wait(lock, [&] { return pumping_ < kMaxConnections; });
      }
      const int client = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR) continue;
        return;
      }
      std::lock_guard lock(mu_);
      try {
        std::thread([this, client] { Pump(client); }).detach();
        open_.insert(client);
        ++pumping_;
      } catch (const std::system_error&) {
        ::close(client);  // no thread to carry it: the caller sees its connection closed
        ++failures_;
      }
    }
  }

  int Connect() const {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found) != 0) return -1;
    int fd = -1;
    for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
      fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
        ::close(fd);
        fd = -1;
      }
    }
    ::freeaddrinfo(found);
    return fd;
  }

  // Copies bytes both ways until both sides have finished writing.
  void Pump(int client) {
    const int server = Connect();
    if (server < 0) ++failures_;
    if (server >= 0) {
      {
        std::lock_guard lock(mu_);
        open_.insert(server);
      }
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      int open_ends = 2;
      char buffer[65536];
      while (open_ends > 0 && ::poll(fds, 2, -1) > 0) {
        for (int i = 0; i < 2; ++i) {
          if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
          const int other = i == 0 ? server : client;
          if (n <= 0) {
            ::shutdown(other, SHUT_WR);  // the other side sees the end of what this one sent
            fds[i].fd = -1;
            --open_ends;
            continue;
          }
          for (ssize_t sent = 0; sent < n;) {
            const ssize_t w = ::send(other, buffer + sent, n - sent, MSG_NOSIGNAL);
            if (w <= 0) {
              open_ends = 0;
              break;
            }
            sent += w;
          }
        }
      }
    }
    std::lock_guard lock(mu_);
    for (int fd : {client, server}) {
      if (fd < 0) continue;
      open_.erase(fd);
      ::close(fd);
    }
    --pumping_;
    done_.notify_all();
  }

  std::string host_, port_, path_;
  UniqueFd listener_;
  std::thread accepting_;
  std::mutex mu_;
  std::condition_variable done_;
  std::set<int> open_;
  int pumping_ = 0;
  std::atomic<int> failures_{0};
};

}  // namespace

Result<std::unique_ptr<Sandbox>> CreateSlurmSandbox(const SlurmOptions& given) {
  SlurmOptions options = given;
  if (FindInPath("sbatch").empty()) {
    return Status::FailedPrecondition("the Slurm executor needs sbatch and squeue on this host (Debian: slurm-client); "
                                      "scripts/slurm-local.sh start sets up a single-node cluster to try it");
  }
  if (options.shared_dir.empty()) return Status::InvalidArgument("[executor] shared_dir is required with kind = \"slurm\"");
  std::error_code ec;
  fs::create_directories(options.shared_dir / "jobs", ec);
  if (ec) return Status::FailedPrecondition("[executor] shared_dir " + options.shared_dir.string() + " is not usable: " + ec.message());
  if (options.lineage_binary.empty()) options.lineage_binary = fs::read_symlink("/proc/self/exe", ec).string();
  return std::unique_ptr<Sandbox>(new SlurmSandbox(std::move(options)));
}

namespace {

// The node's side, its result as the job's JSON; a failure of lineage's own is an "error".
json RunJob(const fs::path& job_dir) {
  auto text = ReadFile(job_dir / "spec.json");
  if (!text.ok()) return {{"error", text.status().message()}};
  Result<SandboxSpec> read = [&]() -> Result<SandboxSpec> {
    try {
      return SandboxSpecFromJson(json::parse(*text));
    } catch (const json::exception& e) {
      return Status::Corruption(e.what());
    }
  }();
  if (!read.ok()) return {{"error", (job_dir / "spec.json").string() + " is not a sandbox spec: " + read.status().message()}};
  SandboxSpec spec = std::move(read).value();
  auto sandbox = Sandbox::Create(Sandbox::Backend::kBwrap);
  if (!sandbox.ok()) return {{"error", sandbox.status().message()}};
  // The gateway is on the orchestrator's host: its socket here is a relay to its TCP address.
  std::unique_ptr<GatewayRelay> relay;
  if (!spec.socket_tcp.empty() && !spec.socket_inside.empty()) {
    const std::string local = (fs::temp_directory_path() / ("lineage-gateway-" + RandomHex(8) + ".sock")).string();
    auto started = GatewayRelay::Start(local, spec.socket_tcp);
    if (!started.ok()) return {{"error", started.status().message()}};
    relay = std::move(started).value();
    spec.socket_host = local;
  }
  auto result = (*sandbox)->Run(spec);
  if (!result.ok()) return {{"error", result.status().message()}};
  json out = SandboxResultToJson(*result);
  if (relay) {
    const int failures = relay->failures();
    relay.reset();
    if (failures > 0) out["relay_failures"] = failures;
    out["gateway"] = spec.socket_tcp;
  }
  return out;
}

}  // namespace

std::string SlurmJobComment(const SandboxSpec& spec) {
  std::string comment = "lineage";
  if (spec.run_id) comment += " run " + std::to_string(*spec.run_id);
  if (spec.agent_id) comment += " agent " + std::to_string(*spec.agent_id);
  return comment;
}

Status RunSandboxJob(const fs::path& job_dir) {
  json result;
  try {
    result = RunJob(job_dir);
  } catch (const std::exception& e) {
    result = {{"error", std::string("lineage failed on the node: ") + e.what()}};
  }
  return WriteFileAtomic(job_dir / "result.json", result.dump(-1, ' ', false, json::error_handler_t::replace), 0600);
}

Result<std::vector<SlurmJob>> ListSlurmJobs(const std::string& prefix) {
  LINEAGE_ASSIGN_OR_RETURN(std::string out, Slurm({"squeue", "--me", "-h", "-o", "%i|%j|%T|%r|%k"}));  // ours only
  std::vector<SlurmJob> jobs;
  size_t at = 0;
  while (at < out.size()) {
    size_t end = out.find('\n', at);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(at, end - at);
    at = end + 1;
    SlurmJob job;
    size_t a = line.find('|'), b = line.find('|', a + 1), c = line.find('|', b + 1), d = line.find('|', c + 1);
    if (a == std::string::npos || b == std::string::npos || c == std::string::npos || d == std::string::npos) continue;
    job.id = line.substr(0, a);
    job.name = line.substr(a + 1, b - a - 1);
    job.state = line.substr(b + 1, c - b - 1);
    job.reason = line.substr(c + 1, d - c - 1);
    job.comment = line.substr(d + 1);
    if (job.name.rfind(prefix, 0) == 0) jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<int> CancelSlurmJobs(const std::string& prefix) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<SlurmJob> jobs, ListSlurmJobs(prefix));
  if (jobs.empty()) return 0;
  std::vector<std::string> argv = {"scancel"};
  for (const SlurmJob& job : jobs) argv.push_back(job.id);
  LINEAGE_RETURN_IF_ERROR(Slurm(argv).status());
  return static_cast<int>(jobs.size());
}

}  // namespace lineage
