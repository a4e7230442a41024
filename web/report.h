// The web views: the dashboard page (the daemon serves it; its data comes from /api) and the static report,
// the same page with every view's data embedded, as one HTML file that opens offline.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "archive/archive.h"

namespace lineage::web {

// The dashboard page with its script and styles inline: nothing is loaded from anywhere else.
std::string DashboardHtml();

// What the dashboard serves for a GET of `target` ("/", "/api/runs", "/api/runs/1", "/api/agents/3",
// with or without a query string): an HTTP status, a content type and a body. Read-only by construction.
struct Page {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};
Page ServeDashboard(Archive& archive, const std::string& target);

// A self-contained report of `run`: the runs page, the run's page and every agent's page.
Result<std::string> ReportHtml(Archive& archive, RunId run);

// `data` as JSON that is safe inside an HTML <script> element: '<', '>', '&', U+2028 and U+2029 are escaped
// (\u003c ...), so no text in it can end the element, open a comment or break a line.
std::string ScriptSafeJson(const nlohmann::json& data);

}  // namespace lineage::web
