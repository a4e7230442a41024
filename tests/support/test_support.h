// Helpers shared by the tests: scratch directories, file writing, and running the real `lineage` binary.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lineage::test {

// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// Writes `data` to `path`, creating parent directories; `executable` sets mode 0755.
void WriteFile(const std::filesystem::path& path, const std::string& data, bool executable = false);
std::string ReadFileOrDie(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out, err;
};

// Starts argv (argv[0] is a path) with the current environment plus `env`, stdin from /dev/null and
// stdout/stderr on the given descriptors (-1: /dev/null). Returns the pid; the caller waits for it.
int SpawnCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                 int out_fd = -1, int err_fd = -1);

// A TCP socket listening on 127.0.0.1 at a port the kernel chose (a close-on-exec descriptor the caller
// closes; closing it leaves a port nobody listens on); -1 on failure. LocalPort tells which port.
int ListenLoopback();
int LocalPort(int fd);

// A TCP connection to 127.0.0.1:`port` (a close-on-exec descriptor the caller closes); -1 when refused.
int ConnectLoopback(int port);

// Runs argv (argv[0] is a path) with the current environment plus `env`, and waits for it.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

// The argv that runs the built `lineage` binary with `--home home` and `args`.
std::vector<std::string> LineageArgv(const std::filesystem::path& home, const std::vector<std::string>& args);

// True while some process on this host has a command line (arguments joined by spaces) for which `match`
// holds.
bool AnyProcess(const std::function<bool(const std::string& cmdline)>& match);
// AnyProcess with `needle` anywhere in the command line.
bool AnyProcessMatches(const std::string& needle);

// Runs the built `lineage` binary with `--home home` and `args`.
CommandResult RunLineage(const std::filesystem::path& home, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env = {});

}  // namespace lineage::test
