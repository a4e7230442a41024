// The HTTP server over real loopback sockets: what callers who name no client can hold of it.
#include "net/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace lineage::net {
namespace {

// A loopback connection that begins a request and never finishes its headers.
struct Slow {
  int fd = -1;
  explicit Slow(int port) {
    fd = test::ConnectLoopback(port);
    REQUIRE(fd >= 0);
    const std::string start = "GET / HTTP/1.1\r\nHost: x\r\n";
    REQUIRE(send(fd, start.data(), start.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(start.size()));
  }
  ~Slow() { close(fd); }
  // Whether the server closed the connection within `ms`.
  bool Closed(int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return false;
    char c;
    return recv(fd, &c, 1, 0) <= 0;
  }
};

std::unique_ptr<HttpServer> Start(int max_anonymous, int anonymous_timeout_ms) {
  HttpServerOptions options;
  options.tcp_listen = "127.0.0.1:0";
  options.client_key = [](const HttpRequest& r) { return r.Header("authorization"); };
  options.max_anonymous_connections = max_anonymous;
  options.anonymous_timeout_ms = anonymous_timeout_ms;
  auto started = HttpServer::Start(options, [](const HttpRequest&) { return HttpResponse{200, "{}"}; });
  REQUIRE(started.ok());
  return std::move(started).value();
}

TEST_CASE("A connection that names no client in time is closed, and at the cap a new one pushes out the oldest") {
  auto server = Start(/*max_anonymous=*/4, /*anonymous_timeout_ms=*/60'000);
  std::vector<std::unique_ptr<Slow>> slow;
  for (int i = 0; i < 4; ++i) slow.push_back(std::make_unique<Slow>(server->tcp_port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all four are being served
  CHECK(!slow[0]->Closed(100));
  Slow fifth(server->tcp_port());
  CHECK(slow[0]->Closed(2000));  // the oldest made room
  CHECK(!slow[1]->Closed(100));
  CHECK(!fifth.Closed(100));

  auto quick = Start(/*max_anonymous=*/4, /*anonymous_timeout_ms=*/300);
  Slow idle(quick->tcp_port());
  CHECK(!idle.Closed(100));
  CHECK(idle.Closed(3000));  // its headers never came: out of time
}

TEST_CASE("IsWildcardAddress knows every spelling of listening everywhere, and nothing else") {
  for (const char* host : {"", "0.0.0.0", "::", "::0", "[::]", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0"}) {
    INFO(host);
    CHECK(IsWildcardAddress(host));
  }
  for (const char* host : {"127.0.0.1", "10.0.0.5", "::1", "[fd00::5]", "::ffff:10.0.0.5", "gateway.example"}) {
    INFO(host);
    CHECK(!IsWildcardAddress(host));
  }
  CHECK(IsAddressLiteral("[fd00::5]"));
  CHECK(!IsAddressLiteral("gateway.example"));
  CHECK(!IsAddressLiteral("10.0.0.5:8080"));
}

}  // namespace
}  // namespace lineage::net
