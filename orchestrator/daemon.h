// The daemon: runs every queued run of a home in the background and answers a control API.
//
// The daemon's control API is a Unix socket in the home (HOME/daemon.sock) speaking one JSON object per
// line: the client sends a request and reads one reply, then the connection closes.
//   {"op": "ping"}                       -> {"ok": true, "pid": N, "active": [run ids]}
//   {"op": "start", "config": PATH}      -> {"ok": true, "run": ID}   (validated first; queued and started)
//   {"op": "fork", "run": ID, "from": AGENT[, "config": PATH, "models": PATH]} -> {"ok": true, "run": ID}
//   {"op": "pause"|"resume"|"stop", "run": ID} -> {"ok": true, "status": "pausing"|"queued"|"stopping"|...}
// A failure is {"ok": false, "error": "message"}. Run control lives in the archive (runs.status), so it
// survives the daemon: a run paused while no daemon runs stays paused; one the daemon was running when it
// was killed is resumed when it starts again.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/status.h"

namespace lineage {

struct DaemonOptions {
  std::filesystem::path home;
  bool unsafe_no_sandbox = false;
  std::function<void(const std::string&)> on_progress;  // runs' progress lines, prefixed "run N: "
  // Called once the daemon holds the home, has repaired it and listens: where the CLI starts the dashboard
  // (web/web.h). An error ends the daemon before any run starts.
  std::function<Status()> on_serving;
};

// Serves until `stop` is set (SIGTERM), then stops every run cleanly (they resume next time) and returns.
// FailedPrecondition when another daemon serves the home.
Status RunDaemon(const DaemonOptions& options, const std::atomic<bool>& stop);

std::filesystem::path DaemonSocket(const std::filesystem::path& home);
// True when a daemon answers on the home's socket.
bool DaemonRunning(const std::filesystem::path& home);
// Sends one request to the home's daemon; FailedPrecondition (naming `lineage daemon`) when none runs, and
// the daemon's error when it refuses.
Result<nlohmann::json> CallDaemon(const std::filesystem::path& home, const nlohmann::json& request);

}  // namespace lineage
