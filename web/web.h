// web: the archive as people see it in a browser. The dashboard is a read-only HTTP server that
// `lineage daemon --http` starts; the static report (`lineage report`) is the same page with every view's
// data embedded, as one HTML file that opens offline. Both show the JSON below; docs/dashboard.md gives
// its fields.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace lineage::web {

// ---- The data ---------------------------------------------------------------------------------------------
// Served as /api/runs, /api/runs/ID and /api/agents/ID, and embedded in a report.

// Every run: id, name, status, children made and wanted, admitted, best score, spend.
Result<nlohmann::json> RunsJson(Archive& archive);

// One run's summary, as RunsJson lists it.
Result<nlohmann::json> RunSummaryJson(Archive& archive, RunId run);

// One run: its summary, its agents (id, parent, status, reason, score, stage reached, generation, diff
// size, created_at), the best agent's lineage, and the score over time (best and mean of the admitted
// agents after each agent's arrival).
Result<nlohmann::json> RunJson(Archive& archive, RunId run);

// One agent: its row, problem statement, diagnosis, diff against its parent, evaluations (with their
// logs, capped), and model calls with tokens and cost.
Result<nlohmann::json> AgentJson(Archive& archive, AgentId agent);

// ---- The pages --------------------------------------------------------------------------------------------

// The dashboard page with its script and styles inline: nothing is loaded from anywhere else.
std::string DashboardHtml();

// A self-contained report of `run`: the runs page, the run's page and every agent's page.
Result<std::string> ReportHtml(Archive& archive, RunId run);

// `data` as JSON that is safe inside an HTML <script> element: '<', '>', '&', U+2028 and U+2029 are escaped
// (\u003c ...), so no text in it can end the element, open a comment or break a line.
std::string ScriptSafeJson(const nlohmann::json& data);

// ---- The dashboard server ---------------------------------------------------------------------------------

struct DashboardOptions {
  std::filesystem::path home;  // where a generated token is written (HOME/dashboard-token, 0600)
  // "HOST:PORT" (port 0 picks one). An address other than loopback needs a token: `token`, else one is
  // generated into the home, never to the log.
  std::string listen;
  std::string token;
  // On loopback the dashboard answers only requests whose Host is its own address (127.0.0.1:PORT,
  // localhost:PORT, [::1]:PORT) or one of these names: a page elsewhere cannot reach it by DNS rebinding.
  std::vector<std::string> hosts;
};

// Serves GET /, /api/runs, /api/runs/ID and /api/agents/ID from `archive`, which must outlive it; any other
// method is refused (405). With a token, every request needs "Authorization: Bearer T" or "?token=T".
class Dashboard {
 public:
  static Result<std::unique_ptr<Dashboard>> Start(Archive& archive, const DashboardOptions& options);
  virtual ~Dashboard() = default;  // stops serving

  // "dashboard: http://127.0.0.1:PORT/" and where the token is, if one is needed (never the token).
  virtual std::string Banner() const = 0;
  virtual int port() const = 0;
};

}  // namespace lineage::web
