#include "sandbox/process_runner.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <chrono>
#include <cstring>
#include <thread>

#include "base/unique_fd.h"

namespace lineage {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr auto kWatchInterval = std::chrono::milliseconds(25);
constexpr int kOrphanedExit = 125;  // the child found lineage gone before it could die with it

// Captures one stream up to `cap` bytes; past the cap it keeps draining (so the writer never blocks on a
// full pipe before it is killed) and reports the overflow once.
class StreamReader {
 public:
  StreamReader(bp::async_pipe& pipe, std::string& sink, bool& truncated, std::uint64_t cap,
               std::function<void()> on_overflow, std::function<void()> on_eof)
      : pipe_(pipe), sink_(sink), truncated_(truncated), cap_(cap), on_overflow_(std::move(on_overflow)),
        on_eof_(std::move(on_eof)) {}

  void Start() {
    pipe_.async_read_some(asio::buffer(buf_), [this](const boost::system::error_code& ec, std::size_t n) {
      if (n > 0) Append(n);
      if (ec) {
        on_eof_();
        return;
      }
      Start();
    });
  }

 private:
  void Append(std::size_t n) {
    if (truncated_) return;
    std::size_t room = cap_ - sink_.size();
    sink_.append(buf_.data(), std::min(room, n));
    if (n > room) {
      truncated_ = true;
      sink_ += kTruncationMarker;
      on_overflow_();
    }
  }

  bp::async_pipe& pipe_;
  std::string& sink_;
  bool& truncated_;
  std::uint64_t cap_;
  std::function<void()> on_overflow_, on_eof_;
  std::array<char, 65536> buf_;
};

void SetLimit(int resource, rlim_t soft, rlim_t hard) {
  rlimit rl{soft, hard};
  setrlimit(resource, &rl);
}
void SetLimit(int resource, rlim_t value) { SetLimit(resource, value, value); }

// In the forked child: marks every descriptor from 3 up close-on-exec -- whoever opened it, on whatever
// thread -- then clears the mark on the ones to keep. Only system calls: no allocation after fork.
void InheritOnly(const std::vector<int>& keep) {
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    const rlim_t last = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    for (rlim_t fd = 3; fd < last; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
  for (int fd : keep) fcntl(fd, F_SETFD, 0);
}

// Standard input comes through a pipe that a thread of ours fills, with SIGPIPE blocked on that thread: a
// command that never reads blocks no one and kills nothing, and what it has read is gone. (A file could be
// read again by any process of the sandbox: an exec evaluator's request, nonce and all.)
class StdinPipe {
 public:
  ~StdinPipe() { Finish(); }

  // The descriptor the child reads; -1 when there is nothing to send (it gets /dev/null).
  Status Open(const std::string* data) {
    if (data == nullptr || data->empty()) return Status::OK();
    data_ = data;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Status::IOError(std::string("cannot create a pipe: ") + std::strerror(errno));
    read_ = UniqueFd(fds[0]);
    write_ = UniqueFd(fds[1]);
    return Status::OK();
  }
  int read_fd() const { return read_.get(); }

  // After the child has started: our copy of its end goes, and the data goes in.
  void Start() {
    if (!write_.valid()) return;
    read_.reset();
    writer_ = std::thread([this] {
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);  // a reader gone is EPIPE, nothing more
      for (std::size_t done = 0; done < data_->size();) {
        ssize_t n = write(write_.get(), data_->data() + done, data_->size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      write_.reset();
    });
  }

  void Finish() {
    if (writer_.joinable()) writer_.join();
  }

 private:
  const std::string* data_ = nullptr;
  UniqueFd read_, write_;
  std::thread writer_;
};

}  // namespace

Result<SandboxResult> RunProcess(const ProcessRun& run) {
  const SandboxLimits& limits = *run.limits;
  asio::io_context io;
  bp::async_pipe out_pipe(io), err_pipe(io);
  SandboxResult result;

  bp::environment env;
  env.clear();
  for (const auto& [k, v] : run.env) env[k] = v;

  bool exited = false;
  int open_streams = 2;
  asio::steady_timer deadline(io), watch_timer(io);
  pid_t group = 0;

  auto kill_all = [&] {
    if (group > 0) kill(-group, SIGKILL);
    if (run.cgroup) run.cgroup->KillAll();
  };
  auto maybe_done = [&] {
    if (exited && open_streams == 0) {
      deadline.cancel();
      watch_timer.cancel();
    }
  };
  auto end_with = [&](SandboxLimit limit) {
    if (!result.limit) result.limit = limit;
    kill_all();
  };

  StdinPipe stdin_pipe;
  LINEAGE_RETURN_IF_ERROR(stdin_pipe.Open(run.stdin_data));
  const int stdin_fd = stdin_pipe.read_fd();

  // Runs in the child between fork and exec: only async-signal-safe calls.
  const pid_t parent = getpid();
  auto child_setup = [&](auto&) {
    setpgid(0, 0);
    // The signal comes when this thread ends; if it already has, it never will.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent) _exit(kOrphanedExit);
    if (run.cgroup) run.cgroup->JoinFromChild();
    // SIGXCPU at the soft limit names the cause; SIGKILL two seconds later if it is ignored.
    SetLimit(RLIMIT_CPU, static_cast<rlim_t>(limits.cpu_seconds), static_cast<rlim_t>(limits.cpu_seconds + 2));
    SetLimit(RLIMIT_FSIZE, static_cast<rlim_t>(limits.file_size_bytes));
    SetLimit(RLIMIT_NOFILE, static_cast<rlim_t>(limits.open_files));
    SetLimit(RLIMIT_CORE, 0);
    if (run.address_space_limit) SetLimit(RLIMIT_AS, static_cast<rlim_t>(limits.memory_bytes));
    if (stdin_fd >= 0) dup2(stdin_fd, 0);
    InheritOnly(run.keep_fds);
  };

  rusage before{};
  getrusage(RUSAGE_CHILDREN, &before);
  std::error_code ec;
  bp::child child(bp::exe = run.exe, bp::args = run.args, env, bp::start_dir = run.cwd, bp::std_in < "/dev/null",
                  bp::std_out > out_pipe, bp::std_err > err_pipe, io,
                  bp::on_exit = [&](int, const std::error_code&) {
                    exited = true;
                    // The main process is gone: whatever it left behind goes with it.
                    kill_all();
                    maybe_done();
                  },
                  bp::extend::on_exec_setup = child_setup, ec);
  if (ec) return Status::IOError("cannot start '" + run.exe + "': " + ec.message());
  group = child.id();
  stdin_pipe.Start();
  Status started = run.on_start ? run.on_start(group) : Status::OK();
  if (!started.ok()) kill_all();
  const auto start = Clock::now();

  StreamReader out(out_pipe, result.stdout_text, result.stdout_truncated, limits.output_bytes,
                   [&] { end_with(SandboxLimit::kOutput); }, [&] { --open_streams; maybe_done(); });
  StreamReader err(err_pipe, result.stderr_text, result.stderr_truncated, limits.output_bytes,
                   [&] { end_with(SandboxLimit::kOutput); }, [&] { --open_streams; maybe_done(); });
  out.Start();
  err.Start();
  deadline.expires_after(std::chrono::milliseconds(limits.wall_ms));
  deadline.async_wait([&](const boost::system::error_code& timer_ec) {
    if (!timer_ec) end_with(SandboxLimit::kWall);
  });
  std::function<void()> watch_next = [&] {
    watch_timer.expires_after(kWatchInterval);
    watch_timer.async_wait([&](const boost::system::error_code& timer_ec) {
      if (timer_ec || exited) return;
      if (std::optional<SandboxLimit> hit = run.watch()) {
        end_with(*hit);
        return;
      }
      watch_next();
    });
  };
  if (run.watch && started.ok()) watch_next();
  // Returns once the exit handler has run and both streams reached EOF (the timers are cancelled then).
  io.run();
  stdin_pipe.Finish();  // the reader is gone: the writer has returned, or does now
  if (!started.ok()) {
    std::string said = result.stderr_text.substr(0, 2000);
    while (!said.empty() && said.back() == '\n') said.pop_back();
    return Status::FailedPrecondition(started.message() + (said.empty() ? "" : ": " + said));
  }

  result.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  int status = child.native_exit_code();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);

  rusage after{};
  getrusage(RUSAGE_CHILDREN, &after);
  auto cpu_ms = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000;
  };
  std::int64_t cgroup_cpu_ms = run.cgroup ? run.cgroup->CpuMillis() : -1;
  result.cpu_ms = cgroup_cpu_ms >= 0 ? cgroup_cpu_ms : cpu_ms(after) - cpu_ms(before);
  result.peak_memory_bytes = run.cgroup ? run.cgroup->PeakMemoryBytes() : 0;
  if (result.peak_memory_bytes == 0) result.peak_memory_bytes = static_cast<std::uint64_t>(after.ru_maxrss) * 1024;
  return result;
}

}  // namespace lineage
