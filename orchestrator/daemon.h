// The daemon: runs evolution runs in the background, resumes unfinished runs when it starts, and answers a
// control API on a Unix socket in the home (home/daemon.sock).
//
// The control API speaks one JSON object per line: the client sends a request and reads one reply, then
// the connection closes. Requests:
//   {"op": "ping"}                       -> {"ok": true, "pid": N, "active": [run ids]}
//   {"op": "start", "config": PATH}      -> {"ok": true, "run": ID}   (validated first; queued and started)
//   {"op": "pause"|"resume"|"stop", "run": ID} -> {"ok": true, "status": "pausing"|"queued"|"stopping"|...}
// A failure is {"ok": false, "error": "message"}.
//
// With `http_listen`, the daemon also serves the dashboard (web/): GET /, /api/runs, /api/runs/ID and
// /api/agents/ID, read-only; a token, when set, is required as "Authorization: Bearer T" or "?token=T". A
// generated token is written to HOME/dashboard-token (0600), never to the log.
//
// Run control lives in the archive (runs.status), so it survives the daemon: a run paused while no daemon
// runs stays paused; one the daemon was running when it was killed is resumed when it starts again.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"

namespace lineage {

struct DaemonOptions {
  std::filesystem::path home;
  bool unsafe_no_sandbox = false;
  // The read-only web dashboard: off when empty; "127.0.0.1:8080" (port 0 picks one). An address other
  // than loopback needs a token: `http_token`, else one is generated and printed.
  std::string http_listen;
  std::string http_token;
  // On loopback the dashboard answers only requests whose Host is its own address (127.0.0.1:PORT,
  // localhost:PORT, [::1]:PORT) or one of these names: a page elsewhere cannot reach it by DNS rebinding.
  std::vector<std::string> http_hosts;
  std::function<void(const std::string&)> on_progress;  // runs' progress lines, prefixed "run N: "
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

// Pause, resume or stop `run` in the archive; returns its new status. Errors name the run's status when
// the change makes no sense (resuming a stopped run, say).
Result<std::string> ApplyControl(Archive& archive, RunId run, const std::string& op);

}  // namespace lineage
