#include "web/web.h"

#include <optional>
#include <set>

#include "base/files.h"
#include "net/http_server.h"

namespace lineage::web {

namespace {

using json = nlohmann::json;

// What the dashboard serves for a GET of `target` ("/api/runs/1", with or without a query string).
struct Page {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

Page ServeDashboard(Archive& archive, const std::string& target) {
  const std::string path = target.substr(0, target.find('?'));
  auto as_page = [](Result<json> data) -> Page {
    if (!data.ok()) {
      const int status = data.status().code() == Status::Code::kNotFound ? 404 : 500;
      return {status, "application/json", json{{"error", data.status().message()}}.dump()};
    }
    return {200, "application/json", data->dump(-1, ' ', false, json::error_handler_t::replace)};
  };
  auto id_after = [&](const std::string& prefix) -> std::optional<std::int64_t> {
    if (path.rfind(prefix, 0) != 0 || path.size() == prefix.size()) return std::nullopt;
    const std::string digits = path.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) return std::nullopt;
    return std::stoll(digits);
  };
  if (path == "/" || path == "/index.html") return {200, "text/html; charset=utf-8", DashboardHtml()};
  if (path == "/api/runs") return as_page(RunsJson(archive));
  if (auto run = id_after("/api/runs/")) return as_page(RunJson(archive, *run));
  if (auto agent = id_after("/api/agents/")) return as_page(AgentJson(archive, *agent));
  return {404, "application/json", json{{"error", "no page " + path}}.dump()};
}

// The value of `name` in the query string of `target` ("/api/runs?token=T&x=1"); empty when absent.
std::string QueryParameter(const std::string& target, const std::string& name) {
  const std::size_t query = target.find('?');
  if (query == std::string::npos) return "";
  for (std::size_t at = query + 1; at < target.size();) {
    std::size_t end = target.find('&', at);
    if (end == std::string::npos) end = target.size();
    const std::string pair = target.substr(at, end - at);
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    at = end + 1;
  }
  return "";
}

class DashboardServer : public Dashboard {
 public:
  DashboardServer(Archive& archive, const DashboardOptions& options) : archive_(archive), options_(options) {}

  Status Start() {
    std::string host;
    int port = 0;
    LINEAGE_RETURN_IF_ERROR(net::ParseHostPort(options_.listen, "--http", &host, &port));
    token_ = options_.token;
    const bool loopback = host == "127.0.0.1" || host == "localhost" || host == "::1";
    const std::filesystem::path token_file = options_.home / "dashboard-token";
    if (!loopback && token_.empty()) {
      token_ = "lgw-" + RandomHex(16);  // the shape of every lineage token
      LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(token_file, token_ + "\n", 0600));
    }
    net::HttpServerOptions http;
    http.tcp_listen = options_.listen;
    http.max_connections = 64;
    auto server = net::HttpServer::Start(http, [this](const net::HttpRequest& request) { return Answer(request); });
    if (!server.ok()) return server.status().WithContext("the dashboard (--http " + options_.listen + ")");
    server_ = std::move(server).value();
    const std::string bound = std::to_string(server_->tcp_port());
    if (loopback) {
      allowed_hosts_ = {"127.0.0.1:" + bound, "localhost:" + bound, "[::1]:" + bound};
      for (const std::string& name : options_.hosts) {
        allowed_hosts_.insert(name);
        allowed_hosts_.insert(name + ":" + bound);
      }
    }
    // The token itself never goes to the log.
    banner_ = "dashboard: http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + bound + "/" +
              (token_.empty()           ? ""
               : options_.token.empty() ? " (a token is required; it is in " + token_file.string() + ")"
                                        : " (a token is required: the one given)");
    return Status::OK();
  }

  std::string Banner() const override { return banner_; }
  int port() const override { return server_->tcp_port(); }

 private:
  net::HttpResponse Answer(const net::HttpRequest& request) {
    net::HttpResponse response;
    response.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
    if (request.method != "GET") {
      response.status = 405;
      response.body = R"({"error": "the dashboard is read-only"})";
      return response;
    }
    if (!allowed_hosts_.empty() && !allowed_hosts_.count(request.Header("host"))) {
      response.status = 403;
      response.body = R"({"error": "this dashboard answers only to its own address as Host (a guard against DNS )"
                      R"(rebinding); name another with lineage daemon --http-host NAME"})";
      return response;
    }
    if (!token_.empty() && !Authorized(request)) {
      response.status = 401;
      response.body = R"({"error": "a token is required: ?token=T or Authorization: Bearer T"})";
      return response;
    }
    Page page = ServeDashboard(archive_, request.target);
    response.status = page.status;
    response.content_type = page.content_type;
    response.body = std::move(page.body);
    return response;
  }

  // Constant-time comparison, so the token cannot be guessed byte by byte from response times.
  bool Authorized(const net::HttpRequest& request) const {
    std::string given = request.Header("authorization");
    if (given.rfind("Bearer ", 0) == 0) {
      given = given.substr(7);
    } else {
      given = QueryParameter(request.target, "token");
    }
    if (given.size() != token_.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token_[i]);
    return diff == 0;
  }

  Archive& archive_;
  const DashboardOptions options_;
  std::string token_;
  std::set<std::string> allowed_hosts_;  // empty: any Host (off loopback, where the token guards)
  std::string banner_;
  std::unique_ptr<net::HttpServer> server_;  // last: stopped first, while the rest still stands
};

}  // namespace

Result<std::unique_ptr<Dashboard>> Dashboard::Start(Archive& archive, const DashboardOptions& options) {
  auto server = std::make_unique<DashboardServer>(archive, options);
  LINEAGE_RETURN_IF_ERROR(server->Start());
  return std::unique_ptr<Dashboard>(std::move(server));
}

}  // namespace lineage::web
