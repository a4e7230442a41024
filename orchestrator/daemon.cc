#include "orchestrator/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "base/environment.h"
#include "base/files.h"
#include "base/unique_fd.h"
#include "orchestrator/evolution.h"
#include "orchestrator/runs.h"
#include "sandbox/sandbox.h"
#include "sandbox/slurm.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxRequestBytes = 1 << 20;
constexpr int kPollMs = 250;
constexpr int kClientDeadlineMs = 5000;  // to send a request line; a silent client holds no one else up
constexpr int kMaxClients = 16;          // answered at once; more are told to come back

Result<sockaddr_un> SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("the socket path " + path + " is too long for a Unix socket; use a shorter home");
  }
  std::copy(path.begin(), path.end(), addr.sun_path);
  return addr;
}

Result<UniqueFd> Connect(const fs::path& socket_path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::IOError("cannot create a socket");
  const std::string path = socket_path.string();
  LINEAGE_ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(path));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FailedPrecondition("no daemon answers on " + path + "; start one with `lineage daemon`");
  }
  return fd;
}

bool WriteAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads up to the first newline (or EOF), within `timeout_ms`.
Result<std::string> ReadLine(int fd, int timeout_ms) {
  std::string line;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) return Status::IOError("no complete line within " + std::to_string(timeout_ms) + " ms");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
    if (line.size() > kMaxRequestBytes) return Status::InvalidArgument("request too long");
  }
  return line.substr(0, line.find('\n'));
}


class Daemon {
 public:
  explicit Daemon(const DaemonOptions& options) : options_(options) {}

  Status Serve(const std::atomic<bool>& stop) {
    LINEAGE_ASSIGN_OR_RETURN(archive_, Archive::Init(options_.home));
    LINEAGE_RETURN_IF_ERROR(LockHome());
    LINEAGE_RETURN_IF_ERROR(RepairHome(*archive_));
    LINEAGE_ASSIGN_OR_RETURN(sandbox_, Sandbox::Create(options_.unsafe_no_sandbox ? Sandbox::Backend::kNone
                                                                                   : Sandbox::Backend::kBwrap));
    LINEAGE_RETURN_IF_ERROR(SettleStatuses());
    LINEAGE_ASSIGN_OR_RETURN(UniqueFd listener, Listen());
    Progress("daemon: serving " + DaemonSocket(options_.home).string());
    if (options_.on_serving) LINEAGE_RETURN_IF_ERROR(options_.on_serving());
    while (!stop.load()) {
      StartRunnable();
      pollfd p{listener.get(), POLLIN, 0};
      if (poll(&p, 1, kPollMs) > 0) {
        UniqueFd client(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client.get() >= 0) AnswerAside(std::move(client));
      }
      ReapFinished();
    }
    for (std::thread& t : TakeClients(/*all=*/true)) t.join();
    Progress("daemon: stopping; runs in flight resume at the next start");
    {
      std::lock_guard lock(mu_);
      for (auto& [id, active] : active_) active->stop = true;
    }
    for (;;) {
      ReapFinished();
      std::lock_guard lock(mu_);
      if (active_.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    unlink(DaemonSocket(options_.home).c_str());
    return Status::OK();
  }

 private:
  struct ActiveRun {
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    std::thread thread;
  };

  // One daemon per home, and no foreground run beside it.
  Status LockHome() {
    LINEAGE_ASSIGN_OR_RETURN(lock_fd_, LockHomeForRuns(options_.home, "a daemon"));
    // Runs handed over later are checked against this process's environment, not the user's shell.
    SetEnvironmentOwner("the daemon (pid " + std::to_string(getpid()) + ")");
    return Status::OK();
  }

  // What a killed daemon left mid-way: a pause or stop that was draining is now complete.
  Status SettleStatuses() {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Run> runs, archive_->ListRuns());
    for (const Run& r : runs) {
      if (r.state == RunState::kPausing) LINEAGE_RETURN_IF_ERROR(archive_->SetRunState(r.id, RunState::kPaused));
      if (r.state == RunState::kStopping) LINEAGE_RETURN_IF_ERROR(archive_->SetRunState(r.id, RunState::kStopped));
    }
    return Status::OK();
  }

  Result<UniqueFd> Listen() {
    const std::string path = DaemonSocket(options_.home).string();
    unlink(path.c_str());  // stale: the home lock proves no daemon owns it
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    LINEAGE_ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(path));
    if (fd.get() < 0 || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd.get(), 16) != 0) {
      return Status::IOError("cannot listen on " + path);
    }
    chmod(path.c_str(), 0600);
    return fd;
  }

  // A run the world's faults paused (its run.paused event says fault and retry_at) is queued again once
  // retry_at has passed; checked every few seconds. Returns whether it queued one.
  bool RetryFaultPaused(const std::vector<Run>& runs) {
    if (NowMillis() < next_fault_check_) return false;
    next_fault_check_ = NowMillis() + 5000;
    bool queued = false;
    for (const Run& r : runs) {
      if (r.state != RunState::kPaused) continue;
      const PauseRecord paused = LastPause(*archive_, r.id);
      if (!paused.fault || NowMillis() < paused.retry_at) continue;
      auto resumed = ApplyControl(*archive_, r.id, RunControl::kResume);
      Progress("run " + std::to_string(r.id) + ": paused by faults; trying again: " +
               (resumed.ok() ? StateName(*resumed) : resumed.status().message()));
      queued = queued || resumed.ok();
    }
    return queued;
  }

  // Starts every run that is queued or was running when the last daemon ended.
  void StartRunnable() {
    auto runs = archive_->ListRuns();
    if (!runs.ok()) return;
    if (RetryFaultPaused(*runs)) runs = archive_->ListRuns();  // those it queued start now
    if (!runs.ok()) return;
    std::lock_guard lock(mu_);
    for (const Run& r : *runs) {
      if (active_.count(r.id) || (r.state != RunState::kQueued && r.state != RunState::kRunning)) continue;
      auto active = std::make_unique<ActiveRun>();
      ActiveRun* raw = active.get();
      const RunId id = r.id;
      raw->thread = std::thread([this, raw, id] {
        EvolutionOptions evo;
        evo.home = options_.home;
        evo.sandbox = sandbox_.get();
        evo.stop = &raw->stop;
        evo.on_progress = [this, id](const std::string& line) { Progress("run " + std::to_string(id) + ": " + line); };
        auto state = RunEvolution(*archive_, id, evo);
        Progress("run " + std::to_string(id) + ": " + (state.ok() ? StateName(*state) : "failed: " + state.status().message()));
        raw->done = true;
      });
      active_[id] = std::move(active);
    }
  }

  void ReapFinished() {
    std::lock_guard lock(mu_);
    for (auto it = active_.begin(); it != active_.end();) {
      if (it->second->done) {
        it->second->thread.join();
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Each client is answered on a thread of its own, with a deadline: one that says nothing delays nobody.
  void AnswerAside(UniqueFd client) {
    for (std::thread& t : TakeClients(/*all=*/false)) t.join();
    std::lock_guard lock(clients_mu_);
    if (clients_.size() >= kMaxClients) {
      WriteAll(client.get(), json{{"ok", false}, {"error", "the daemon is answering too many clients; try again"}}.dump() + "\n");
      return;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    clients_.push_back({std::thread([this, fd = std::make_shared<UniqueFd>(std::move(client)), done] {
                          Answer(fd->get());
                          *done = true;
                        }),
                        done});
  }

  // The client threads that have finished (or all of them), out of the list, to join.
  std::vector<std::thread> TakeClients(bool all) {
    std::lock_guard lock(clients_mu_);
    std::vector<std::thread> out;
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (all || *it->done) {
        out.push_back(std::move(it->thread));
        it = clients_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  void Answer(int fd) {
    auto line = ReadLine(fd, kClientDeadlineMs);
    json reply;
    if (!line.ok()) {
      reply = {{"ok", false}, {"error", line.status().message()}};
    } else {
      json request = JsonNesting(*line) > kMaxNesting ? json(json::value_t::discarded) : json::parse(*line, nullptr, false);
      Result<json> handled = Status::InvalidArgument("not a JSON object");
      try {
        if (request.is_object()) handled = Handle(request);
      } catch (const std::exception& e) {  // a field of the wrong type, say
        handled = Status::InvalidArgument(std::string("bad request: ") + e.what());
      }
      reply = handled.ok() ? *handled : json{{"ok", false}, {"error", handled.status().message()}};
    }
    WriteAll(fd, reply.dump() + "\n");
  }

  Result<json> Handle(const json& request) {
    const std::string op = request.value("op", "");
    if (op == "ping") {
      json active = json::array();
      std::lock_guard lock(mu_);
      for (const auto& [id, run] : active_) active.push_back(id);
      return json{{"ok", true}, {"pid", getpid()}, {"active", active}};
    }
    if (op == "start") {
      LINEAGE_ASSIGN_OR_RETURN(RunConfig config, LoadRunConfig(request.value("config", "")));
      if (request.contains("models")) LINEAGE_RETURN_IF_ERROR(OverrideModels(config, request.value("models", "")));
      LINEAGE_RETURN_IF_ERROR(CheckRunConfig(config));
      LINEAGE_ASSIGN_OR_RETURN(RunId run, CreateRun(*archive_, config));
      StartRunnable();
      return json{{"ok", true}, {"run", run}};
    }
    if (op == "fork") {
      if (!request.contains("run") || !request["run"].is_number_integer() || !request.contains("from") ||
          !request["from"].is_number_integer()) {
        return Status::InvalidArgument("fork needs \"run\" and \"from\": ids");
      }
      ForkOptions fork;
      fork.from = request["run"].get<RunId>();
      fork.agent = request["from"].get<AgentId>();
      fork.config = request.value("config", "");
      fork.models = request.value("models", "");
      LINEAGE_ASSIGN_OR_RETURN(RunId run, ForkRun(*archive_, fork));
      StartRunnable();
      return json{{"ok", true}, {"run", run}};
    }
    if (std::optional<RunControl> control = ParseRunControl(op)) {
      if (!request.contains("run") || !request["run"].is_number_integer()) {
        return Status::InvalidArgument(op + " needs \"run\": an id");
      }
      LINEAGE_ASSIGN_OR_RETURN(RunState state, ApplyControl(*archive_, request["run"].get<RunId>(), *control));
      return json{{"ok", true}, {"status", StateName(state)}};
    }
    return Status::InvalidArgument("unknown op '" + op + "' (ping, start, fork, pause, resume, stop)");
  }

  void Progress(const std::string& line) {
    spdlog::info("{}", line);
    if (!options_.on_progress) return;
    std::lock_guard lock(progress_mu_);
    options_.on_progress(line);
  }

  const DaemonOptions& options_;
  std::unique_ptr<Archive> archive_;
  std::unique_ptr<Sandbox> sandbox_;
  UniqueFd lock_fd_;
  std::int64_t next_fault_check_ = 0;
  std::mutex mu_;
  std::map<RunId, std::unique_ptr<ActiveRun>> active_;
  std::mutex progress_mu_;
  struct Client {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex clients_mu_;
  std::list<Client> clients_;
};

}  // namespace

fs::path DaemonSocket(const fs::path& home) { return home / "daemon.sock"; }

bool DaemonRunning(const fs::path& home) { return Connect(DaemonSocket(home)).ok(); }

Result<json> CallDaemon(const fs::path& home, const json& request) {
  LINEAGE_ASSIGN_OR_RETURN(UniqueFd fd, Connect(DaemonSocket(home)));
  if (!WriteAll(fd.get(), request.dump() + "\n")) return Status::IOError("the daemon closed the connection");
  LINEAGE_ASSIGN_OR_RETURN(std::string line, ReadLine(fd.get(), 60'000));
  json reply = json::parse(line, nullptr, false);
  if (!reply.is_object()) return Status::IOError("the daemon answered garbage: " + line.substr(0, 200));
  if (!reply.value("ok", false)) return Status::InvalidArgument(reply.value("error", "the daemon refused"));
  return reply;
}

Status RunDaemon(const DaemonOptions& options, const std::atomic<bool>& stop) {
  Daemon daemon(options);
  return daemon.Serve(stop);
}

}  // namespace lineage
