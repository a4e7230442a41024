#include "web/web.h"

#include "base/files.h"

namespace lineage::web {

namespace assets {
extern const char kIndexHtml[];
extern const char kAppJs[];
extern const char kAppCss[];
}  // namespace assets

namespace {

using json = nlohmann::json;

std::string Replace(std::string text, const std::string& marker, const std::string& value) {
  const std::size_t at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), value);
  return text;
}

// The page with `data_script` (JavaScript) in place of the data marker.
std::string PageHtml(const std::string& data_script) {
  std::string page = Replace(assets::kIndexHtml, "/*LINEAGE_CSS*/", assets::kAppCss);
  page = Replace(page, "/*LINEAGE_DATA*/", data_script);
  return Replace(page, "/*LINEAGE_JS*/", assets::kAppJs);
}

}  // namespace

std::string ScriptSafeJson(const nlohmann::json& data) {
  // Agents write much of this text. Inside <script>, "</script" ends the element and "<!--" starts a
  // comment that can swallow the rest of the page; U+2028 and U+2029 end a line in older JavaScript. JSON
  // strings may spell every one of these as \uXXXX, and then none occurs in the page at all.
  const std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < text.size() && text[i + 1] == '\x80' && (text[i + 2] == '\xa8' || text[i + 2] == '\xa9')) {
      out += text[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string DashboardHtml() { return PageHtml(""); }

Result<std::string> ReportHtml(Archive& archive, RunId run) {
  json data = {{"generated_at", FormatTimestamp(NowMillis())}, {"default_route", "#/run/" + std::to_string(run)}};
  LINEAGE_ASSIGN_OR_RETURN(json runs, RunsJson(archive));
  json only_this;
  for (const json& r : runs) {
    if (r["id"] == run) only_this.push_back(r);
  }
  data["/runs"] = only_this;
  LINEAGE_ASSIGN_OR_RETURN(json run_data, RunJson(archive, run));
  data["/runs/" + std::to_string(run)] = run_data;
  for (const json& a : run_data["agents"]) {
    const AgentId id = a["id"].get<AgentId>();
    LINEAGE_ASSIGN_OR_RETURN(data["/agents/" + std::to_string(id)], AgentJson(archive, id));
  }
  return PageHtml("window.LINEAGE_DATA = " + ScriptSafeJson(data) + ";");
}

}  // namespace lineage::web
