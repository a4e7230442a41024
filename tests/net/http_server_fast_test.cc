// The HTTP server (net/http_server.h) over real loopback sockets, driven by a raw client written here so
// that it can send exactly what it wants, malformed requests included, and see exactly what comes back.
// Every test runs in well under a second.
#include "net/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "tests/support/test_support.h"

namespace lineage::net {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

struct Response {
  int status = 0;  // 0: the connection ended, or nothing came in time, before a whole response
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::vector<std::string> chunks;  // a chunked body's pieces, as they came

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One connection to the server. Sends bytes as given and parses responses itself; a read that waits longer
// than kWaitMs gives up, so that a server that never answers fails a test instead of hanging it.
class Client {
 public:
  static constexpr int kWaitMs = 5000;

  static std::unique_ptr<Client> Tcp(int port) {
    const int fd = test::ConnectLoopback(port);
    REQUIRE(fd >= 0);
    return std::make_unique<Client>(fd);
  }
  static std::unique_ptr<Client> Unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof address.sun_path);
    std::strcpy(address.sun_path, path.c_str());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    return std::make_unique<Client>(fd);
  }

  explicit Client(int fd) : fd_(fd) {}
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The status line and headers of the next response; status 0 when they did not come whole.
  Response ReadHead() {
    Response r;
    std::string line;
    if (!ReadLine(line) || line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return r;
    const int status = std::atoi(line.c_str() + 9);
    for (;;) {
      if (!ReadLine(line)) return r;
      if (line.empty()) break;
      const auto colon = line.find(':');
      if (colon == std::string::npos) return r;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    r.status = status;
    return r;
  }

  // The next chunk of a chunked body: nullopt when the stream broke off, "" for the last chunk (and the
  // body's end, no trailers).
  std::optional<std::string> ReadChunk() {
    std::string line, data;
    if (!ReadLine(line) || line.empty()) return std::nullopt;
    const std::size_t size = std::stoul(line, nullptr, 16);
    if (!ReadBytes(size + 2, data) || data.substr(size) != "\r\n") return std::nullopt;
    return data.substr(0, size);
  }

  // The next whole response; status 0 when it did not come whole.
  Response Read() {
    Response r = ReadHead();
    if (r.status == 0) return r;
    if (r.Header("transfer-encoding") == "chunked") {
      for (;;) {
        std::optional<std::string> chunk = ReadChunk();
        if (!chunk) return Response{};
        if (chunk->empty()) break;
        r.chunks.push_back(*chunk);
        r.body += *chunk;
      }
    } else if (!ReadBytes(std::stoul(r.Header("content-length").empty() ? "0" : r.Header("content-length")), r.body)) {
      return Response{};
    }
    return r;
  }

  // Whether the server ends the connection within `ms`: the end of the stream, or a reset. Whatever
  // arrives first is read and dropped.
  bool Closed(int ms) {
    const auto until = Clock::now() + milliseconds(ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
      char sink[4096];
      if (::recv(fd_, sink, sizeof sink, 0) <= 0) return true;
    }
  }

  // Ends this side's writing, as a client whose request is all sent may.
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

 private:
  // Reads more into buffer_; false at the end of the stream, on an error, or after kWaitMs.
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, kWaitMs) <= 0) return false;
    char data[65536];
    const ssize_t n = ::recv(fd_, data, sizeof data, 0);
    if (n <= 0) return false;
    buffer_.append(data, static_cast<std::size_t>(n));
    return true;
  }
  bool ReadLine(std::string& line) {
    std::size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return true;
  }
  bool ReadBytes(std::size_t n, std::string& out) {
    while (buffer_.size() < n) {
      if (!Fill()) return false;
    }
    out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
  }

  int fd_;
  std::string buffer_;
};

std::string Get(const std::string& target, const std::string& headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + headers + "\r\n";
}
std::string Post(const std::string& target, const std::string& body, const std::string& headers = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         headers + "\r\n" + body;
}

std::unique_ptr<HttpServer> Start(HttpServerOptions options, HttpHandler handler) {
  if (options.unix_socket.empty() && options.tcp_listen.empty()) options.tcp_listen = "127.0.0.1:0";
  auto started = HttpServer::Start(options, std::move(handler));
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  return std::move(started).value();
}

HttpResponse Ok(std::string body) { return HttpResponse{200, std::move(body)}; }

// Counts the handler's calls, from any thread.
struct Calls {
  std::atomic<int> count{0};
  HttpHandler Counting(HttpHandler inner) {
    return [this, inner](const HttpRequest& r) {
      ++count;
      return inner(r);
    };
  }
};

// Waits up to `ms` for `done`, polling: for what happens on the server's threads.
bool Eventually(const std::function<bool()>& done, int ms = 3000) {
  const auto until = Clock::now() + milliseconds(ms);
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// --- The request and the response ------------------------------------------------------------------------

TEST_CASE("http: the handler sees the method, target, headers in lower case and body") {
  std::mutex mu;
  HttpRequest seen;
  auto server = Start({}, [&](const HttpRequest& r) {
    std::lock_guard lock(mu);
    seen = r;
    return Ok("{}");
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Post("/v1/messages?stream=1", "{\"a\":1}", "X-Api-KEY: secret\r\nContent-Type: text/plain\r\n")));
  REQUIRE(client->Read().status == 200);
  std::lock_guard lock(mu);
  CHECK(seen.method == "POST");
  CHECK(seen.target == "/v1/messages?stream=1");
  CHECK(seen.body == "{\"a\":1}");
  CHECK(seen.Header("x-api-key") == "secret");
  CHECK(seen.Header("content-type") == "text/plain");
  CHECK(seen.Header("host") == "test");
  CHECK(seen.Header("X-Api-KEY").empty());  // names are looked up in lower case
  CHECK(seen.Header("absent").empty());
}

TEST_CASE("http: a response's status, content type, headers and body reach the client") {
  auto server = Start({}, [](const HttpRequest& r) {
    if (r.target == "/missing") return HttpResponse{404, "{\"error\":\"no such route\"}"};
    HttpResponse response{201, std::string("binary\0body\xff", 12)};
    response.content_type = "application/octet-stream";
    response.headers = {{"X-Request-Id", "req-7"}, {"Retry-After", "3"}};
    return response;
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/created")));
  Response created = client->Read();
  CHECK(created.status == 201);
  CHECK(created.body == std::string("binary\0body\xff", 12));
  CHECK(created.Header("content-type") == "application/octet-stream");
  CHECK(created.Header("content-length") == "12");
  CHECK(created.Header("x-request-id") == "req-7");
  CHECK(created.Header("retry-after") == "3");
  CHECK(created.Header("server") == "lineage");
  REQUIRE(client->Send(Get("/missing")));
  Response missing = client->Read();
  CHECK(missing.status == 404);
  CHECK(missing.body == "{\"error\":\"no such route\"}");
  CHECK(missing.Header("content-type") == "application/json");  // the default
}

TEST_CASE("http: a handler that throws is answered 500 and the connection serves on") {
  auto server = Start({}, [](const HttpRequest& r) -> HttpResponse {
    if (r.target == "/throw") throw std::runtime_error("the handler's own failure");
    return Ok("fine");
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/throw")));
  Response failed = client->Read();
  CHECK(failed.status == 500);
  CHECK(failed.body.find("internal error") != std::string::npos);
  CHECK(failed.body.find("the handler's own failure") == std::string::npos);  // nothing of its inside leaks
  REQUIRE(client->Send(Get("/next")));
  CHECK(client->Read().body == "fine");
}

// --- Connections ------------------------------------------------------------------------------------------

TEST_CASE("http: keep-alive serves two requests on one connection, and pipelined ones in order") {
  std::atomic<int> n{0};
  auto server = Start({}, [&](const HttpRequest& r) { return Ok(r.target + " #" + std::to_string(++n)); });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/one")));
  Response one = client->Read();
  CHECK(one.body == "/one #1");
  CHECK(!client->Closed(50));
  REQUIRE(client->Send(Post("/two", "x")));
  CHECK(client->Read().body == "/two #2");
  // Both requests in one write: the answers come back in the order asked.
  REQUIRE(client->Send(Get("/three") + Post("/four", "body") + Get("/five")));
  CHECK(client->Read().body == "/three #3");
  CHECK(client->Read().body == "/four #4");
  CHECK(client->Read().body == "/five #5");
}

TEST_CASE("http: a request with Connection close, or in HTTP/1.0, is answered and its connection closed") {
  auto server = Start({}, [](const HttpRequest&) { return Ok("bye"); });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/", "Connection: close\r\n")));
  Response r = client->Read();
  CHECK(r.status == 200);
  CHECK(r.body == "bye");
  CHECK(r.Header("connection") == "close");
  CHECK(client->Closed(2000));

  auto old = Client::Tcp(server->tcp_port());
  REQUIRE(old->Send("GET / HTTP/1.0\r\n\r\n"));
  CHECK(old->Read().body == "bye");
  CHECK(old->Closed(2000));
}

TEST_CASE("http: a response marked close ends its connection once written") {
  auto server = Start({}, [](const HttpRequest& r) {
    HttpResponse response = Ok("refused");
    response.status = 401;
    response.close = r.target == "/close";
    return response;
  });
  auto kept = Client::Tcp(server->tcp_port());
  REQUIRE(kept->Send(Get("/keep")));
  CHECK(kept->Read().status == 401);
  CHECK(!kept->Closed(100));
  auto closed = Client::Tcp(server->tcp_port());
  REQUIRE(closed->Send(Get("/close")));
  Response r = closed->Read();
  CHECK(r.status == 401);
  CHECK(r.body == "refused");
  CHECK(closed->Closed(2000));
}

TEST_CASE("http: a connection idle past idle_timeout_ms is closed") {
  HttpServerOptions options;
  options.idle_timeout_ms = 200;
  auto server = Start(options, [](const HttpRequest&) { return Ok("{}"); });
  auto client = Client::Tcp(server->tcp_port());
  const auto start = Clock::now();  // before the request: its connection is idle only after it
  REQUIRE(client->Send(Get("/")));
  REQUIRE(client->Read().status == 200);
  CHECK(!client->Closed(50));
  CHECK(client->Closed(3000));
  CHECK(MsSince(start) >= 190);
}

TEST_CASE("http: connections beyond max_connections are answered 503 and closed") {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = Start(options, [](const HttpRequest&) { return Ok("served"); });
  auto first = Client::Tcp(server->tcp_port());
  auto second = Client::Tcp(server->tcp_port());
  REQUIRE(first->Send(Get("/")));
  REQUIRE(first->Read().status == 200);  // both are being served by now: the server accepts in order
  auto third = Client::Tcp(server->tcp_port());
  Response refused = third->Read();
  CHECK(refused.status == 503);
  CHECK(refused.body.find("too many connections") != std::string::npos);
  CHECK(third->Closed(2000));
  REQUIRE(second->Send(Get("/")));
  CHECK(second->Read().body == "served");
  // Once one leaves, there is room again.
  first.reset();
  Response later;
  CHECK(Eventually([&] {
    auto again = Client::Tcp(server->tcp_port());
    if (!again->Send(Get("/"))) return false;
    later = again->Read();
    return later.status == 200;
  }));
  CHECK(later.body == "served");
}

TEST_CASE("http: concurrent clients are served at once, each on its own thread") {
  constexpr int kClients = 8;
  std::mutex mu;
  std::condition_variable all_in;
  int inside = 0;
  auto server = Start({}, [&](const HttpRequest& r) {
    std::unique_lock lock(mu);
    ++inside;
    all_in.notify_all();
    // Every handler waits for all the others: served one at a time, none would ever see eight.
    const bool together = all_in.wait_for(lock, std::chrono::seconds(5), [&] { return inside >= kClients; });
    return Ok(r.body + (together ? " together" : " alone"));
  });
  std::vector<std::future<Response>> answers;
  for (int i = 0; i < kClients; ++i) {
    answers.push_back(std::async(std::launch::async, [&server, i] {
      Client client(test::ConnectLoopback(server->tcp_port()));
      client.Send(Post("/", "client " + std::to_string(i)));
      return client.Read();
    }));
  }
  for (int i = 0; i < kClients; ++i) {
    Response r = answers[i].get();
    CHECK(r.status == 200);
    CHECK(r.body == "client " + std::to_string(i) + " together");
  }
}

// --- Streamed responses -----------------------------------------------------------------------------------

TEST_CASE("http: a streamed response is chunked, each piece leaves as it is written, and keep-alive holds") {
  std::promise<void> first_read;
  auto first_read_future = first_read.get_future();
  std::atomic<bool> second_written{false};
  std::atomic<int> writes_refused{0};  // Catch's checks belong on the test's thread, not the server's
  auto server = Start({}, [&](const HttpRequest& r) {
    if (r.target == "/plain") return Ok("after the stream");
    HttpResponse response;
    response.content_type = "text/event-stream";
    response.headers = {{"Cache-Control", "no-cache"}};
    response.stream = [&](StreamWriter& writer) {
      if (!writer.Write("data: one\n\n")) ++writes_refused;
      // The client reads the first piece while the handler still holds the second.
      if (first_read_future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return HttpResponse{};
      second_written = true;
      if (!writer.Write("")) ++writes_refused;  // nothing to send: not the body's end
      if (!writer.Write("data: two\n\n")) ++writes_refused;
      return HttpResponse{};
    };
    return response;
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/stream")));
  Response head = client->ReadHead();
  CHECK(head.status == 200);
  CHECK(head.Header("transfer-encoding") == "chunked");
  CHECK(head.Header("content-type") == "text/event-stream");
  CHECK(head.Header("cache-control") == "no-cache");
  CHECK(client->ReadChunk() == std::optional<std::string>("data: one\n\n"));
  CHECK(!second_written);
  first_read.set_value();
  CHECK(client->ReadChunk() == std::optional<std::string>("data: two\n\n"));
  CHECK(client->ReadChunk() == std::optional<std::string>(""));  // the last chunk
  CHECK(writes_refused == 0);
}

TEST_CASE("http: a streamed response ends with its last chunk and the connection serves the next request") {
  auto server = Start({}, [](const HttpRequest& r) {
    if (r.target == "/plain") return Ok("after the stream");
    HttpResponse response;
    response.stream = [](StreamWriter& writer) {
      for (const char* piece : {"a", "bb", "ccc"}) writer.Write(piece);
      return HttpResponse{};
    };
    return response;
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/stream")));
  Response streamed = client->Read();
  CHECK(streamed.status == 200);
  CHECK(streamed.chunks == std::vector<std::string>{"a", "bb", "ccc"});
  CHECK(streamed.body == "abbccc");
  REQUIRE(client->Send(Get("/plain")));
  CHECK(client->Read().body == "after the stream");
}

TEST_CASE("http: a stream that writes nothing sends the response it returns, whole, with its own status") {
  auto server = Start({}, [](const HttpRequest& r) {
    HttpResponse response;
    response.stream = [](StreamWriter&) { return HttpResponse{429, "{\"error\":\"slow down\"}"}; };
    return response;
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/")));
  Response r = client->Read();
  CHECK(r.status == 429);
  CHECK(r.body == "{\"error\":\"slow down\"}");
  CHECK(r.Header("transfer-encoding").empty());
  CHECK(r.Header("content-length") == std::to_string(r.body.size()));
  REQUIRE(client->Send(Get("/")));  // and the connection serves on
  CHECK(client->Read().status == 429);
}

TEST_CASE("http: a stream cut, or one whose handler throws midway, ends without its last chunk") {
  std::atomic<int> sent_after_cut{0};
  auto server = Start({}, [&](const HttpRequest& r) {
    HttpResponse response;
    const bool cut = r.target == "/cut";
    response.stream = [cut, &sent_after_cut](StreamWriter& writer) -> HttpResponse {
      writer.Write("partial");
      if (cut) {
        writer.Cut();
        if (writer.Write("never sent")) ++sent_after_cut;
        return HttpResponse{};
      }
      throw std::runtime_error("midway");
    };
    return response;
  });
  for (const char* target : {"/cut", "/throw"}) {
    INFO(target);
    auto client = Client::Tcp(server->tcp_port());
    REQUIRE(client->Send(Get(target)));
    REQUIRE(client->ReadHead().status == 200);
    CHECK(client->ReadChunk() == std::optional<std::string>("partial"));
    CHECK(client->ReadChunk() == std::nullopt);  // the connection ended: no last chunk
  }
  CHECK(sent_after_cut == 0);
}

TEST_CASE("http: fault injection drops the connection, or truncates the body, as asked") {
  auto server = Start({}, [](const HttpRequest& r) {
    HttpResponse response = Ok(std::string(100, 'x'));
    response.delivery = r.target == "/drop" ? HttpResponse::Delivery::kDropConnection
                                            : HttpResponse::Delivery::kTruncateBody;
    return response;
  });
  auto dropped = Client::Tcp(server->tcp_port());
  REQUIRE(dropped->Send(Get("/drop")));
  CHECK(dropped->Read().status == 0);
  auto truncated = Client::Tcp(server->tcp_port());
  REQUIRE(truncated->Send(Get("/truncate")));
  Response head = truncated->ReadHead();
  CHECK(head.status == 200);
  CHECK(head.Header("content-length") == "100");
  CHECK(truncated->Read().status == 0);  // fewer than 100 bytes, then the end
}

// --- What the server refuses ------------------------------------------------------------------------------

TEST_CASE("http: a body announced over max_body_bytes is answered 413 unread, and the handler never called") {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  Calls calls;
  auto server = Start(options, calls.Counting([](const HttpRequest&) { return Ok("{}"); }));
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Post("/", std::string(1024, 'a'))));  // at the cap: served
  CHECK(client->Read().status == 200);
  REQUIRE(client->Send(Post("/", std::string(2048, 'a'))));
  Response r = client->Read();
  CHECK(r.status == 413);
  CHECK(r.body.find("too large") != std::string::npos);
  CHECK(client->Closed(2000));
  CHECK(calls.count == 1);
}

TEST_CASE("http: a chunked body that grows past max_body_bytes is answered 413, readable while still sending") {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  Calls calls;
  auto server = Start(options, calls.Counting([](const HttpRequest&) { return Ok("{}"); }));
  auto client = Client::Tcp(server->tcp_port());
  // Far more than the socket buffers hold: the server answers while the client still sends.
  std::string request = "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk = "1000\r\n" + std::string(4096, 'b') + "\r\n";
  for (int i = 0; i < 256; ++i) request += chunk;
  request += "0\r\n\r\n";
  auto sending = std::async(std::launch::async, [&] { return client->Send(request); });
  Response r = client->Read();
  sending.wait();
  CHECK(r.status == 413);
  CHECK(calls.count == 0);
}

TEST_CASE("http: a body past max_bytes_in_flight is answered 503 before it is read") {
  HttpServerOptions options;
  options.max_bytes_in_flight = 4096;
  Calls calls;
  auto server = Start(options, calls.Counting([](const HttpRequest&) { return Ok("{}"); }));
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Post("/", std::string(4096, 'a'))));  // all of the budget: served
  CHECK(client->Read().status == 200);
  auto big = Client::Tcp(server->tcp_port());
  const std::string request = Post("/", std::string(1 << 20, 'a'));
  auto sending = std::async(std::launch::async, [&] { return big->Send(request); });
  Response r = big->Read();
  sending.wait();
  CHECK(r.status == 503);
  CHECK(r.body.find("in flight") != std::string::npos);
  CHECK(calls.count == 1);
  // The budget was never spent: a request within it is served.
  auto after = Client::Tcp(server->tcp_port());
  REQUIRE(after->Send(Post("/", std::string(4000, 'a'))));
  CHECK(after->Read().status == 200);
}

TEST_CASE("http: a malformed request line or oversized headers end the connection, the handler never called") {
  Calls calls;
  auto server = Start({}, calls.Counting([](const HttpRequest&) { return Ok("{}"); }));
  for (const std::string& bad : {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
                                 std::string("GET\r\n\r\n"), std::string("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                 "GET / HTTP/1.1\r\nX-Big: " + std::string(70 * 1024, 'h') + "\r\n\r\n"}) {
    INFO(bad.substr(0, 40));
    auto client = Client::Tcp(server->tcp_port());
    client->Send(bad);
    CHECK(client->Closed(2000));
  }
  CHECK(calls.count == 0);
  // The server is none the worse.
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/")));
  CHECK(client->Read().status == 200);
}

// --- Clients (HttpServerOptions::client_key) --------------------------------------------------------------

HttpServerOptions Keyed(int per_client) {
  HttpServerOptions options;
  options.client_key = [](const HttpRequest& r) { return r.Header("authorization"); };
  options.max_connections_per_client = per_client;
  return options;
}

TEST_CASE("http: one client holds at most max_connections_per_client connections, then is answered 429") {
  auto server = Start(Keyed(2), [](const HttpRequest&) { return Ok("{}"); });
  std::vector<std::unique_ptr<Client>> alice;
  for (int i = 0; i < 2; ++i) {
    alice.push_back(Client::Tcp(server->tcp_port()));
    REQUIRE(alice.back()->Send(Get("/", "Authorization: alice\r\n")));
    REQUIRE(alice.back()->Read().status == 200);
  }
  auto third = Client::Tcp(server->tcp_port());
  REQUIRE(third->Send(Get("/", "Authorization: alice\r\n")));
  Response r = third->Read();
  CHECK(r.status == 429);
  CHECK(r.body.find("too many connections for this client") != std::string::npos);
  CHECK(third->Closed(2000));
  auto bob = Client::Tcp(server->tcp_port());  // another client is not held back by alice
  REQUIRE(bob->Send(Get("/", "Authorization: bob\r\n")));
  CHECK(bob->Read().status == 200);
}

TEST_CASE("http: a connection serves one client, and a request naming none is answered and closed") {
  Calls calls;
  auto server = Start(Keyed(4), calls.Counting([](const HttpRequest& r) {
                        return r.Header("authorization").empty() ? HttpResponse{401, "{\"error\":\"who are you\"}"}
                                                                 : Ok("{}");
                      }));
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/", "Authorization: alice\r\n")));
  CHECK(client->Read().status == 200);
  REQUIRE(client->Send(Get("/", "Authorization: mallory\r\n")));
  Response switched = client->Read();
  CHECK(switched.status == 429);
  CHECK(switched.body.find("one client") != std::string::npos);
  CHECK(client->Closed(2000));
  CHECK(calls.count == 1);

  auto anonymous = Client::Tcp(server->tcp_port());
  REQUIRE(anonymous->Send(Post("/", "a body nobody reads")));
  Response r = anonymous->Read();
  CHECK(r.status == 401);  // the handler's own answer, from the headers alone
  CHECK(r.body == "{\"error\":\"who are you\"}");
  CHECK(anonymous->Closed(2000));
}

// --- Listening and stopping -------------------------------------------------------------------------------

TEST_CASE("http: the server listens on a Unix socket, replaces a stale one, and removes it on Stop") {
  test::TempDir tmp;
  const std::string path = (tmp / "gateway.sock").string();
  {
    // A socket file nobody listens on any more, as a killed server leaves one.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
    REQUIRE(std::filesystem::is_socket(path));
  }
  HttpServerOptions options;
  options.unix_socket = path;
  auto server = Start(options, [](const HttpRequest& r) { return Ok("unix " + r.target); });
  CHECK(server->unix_socket() == path);
  CHECK(server->tcp_port() == 0);
  CHECK(server->tcp_url().empty());
  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto client = Client::Unix(path);
  REQUIRE(client->Send(Get("/v1/models")));
  CHECK(client->Read().body == "unix /v1/models");
  REQUIRE(client->Send(Get("/again")));  // keep-alive here too
  CHECK(client->Read().body == "unix /again");
  server->Stop();
  CHECK(client->Closed(1000));
  CHECK(!std::filesystem::exists(path));
}

TEST_CASE("http: one server listens on a Unix socket and TCP at once") {
  test::TempDir tmp;
  HttpServerOptions options;
  options.unix_socket = (tmp / "both.sock").string();
  options.tcp_listen = "127.0.0.1:0";
  auto server = Start(options, [](const HttpRequest&) { return Ok("both"); });
  CHECK(server->tcp_port() > 0);
  CHECK(server->tcp_url() == "http://127.0.0.1:" + std::to_string(server->tcp_port()));
  auto unix_client = Client::Unix(options.unix_socket);
  auto tcp_client = Client::Tcp(server->tcp_port());
  REQUIRE(unix_client->Send(Get("/")));
  REQUIRE(tcp_client->Send(Get("/")));
  CHECK(unix_client->Read().body == "both");
  CHECK(tcp_client->Read().body == "both");
}

TEST_CASE("http: Stop with clients connected ends them promptly, and a stopped server accepts nobody") {
  auto server = Start({}, [](const HttpRequest&) { return Ok("{}"); });
  const int port = server->tcp_port();
  auto idle = Client::Tcp(port);  // kept alive after a response
  REQUIRE(idle->Send(Get("/")));
  REQUIRE(idle->Read().status == 200);
  auto halfway = Client::Tcp(port);  // inside its headers
  REQUIRE(halfway->Send("GET / HTTP/1.1\r\nHost: te"));
  auto silent = Client::Tcp(port);  // connected, nothing sent
  std::this_thread::sleep_for(milliseconds(50));  // all three accepted
  const auto start = Clock::now();
  server->Stop();
  CHECK(MsSince(start) < 1000);  // not the idle timeout (two minutes)
  CHECK(idle->Closed(1000));
  CHECK(halfway->Closed(1000));
  CHECK(silent->Closed(1000));
  CHECK(test::ConnectLoopback(port) < 0);
  server->Stop();  // a second Stop does nothing
}

TEST_CASE("http: Stop waits for the handlers running now to return") {
  std::atomic<bool> entered{false}, finished{false};
  auto server = Start({}, [&](const HttpRequest&) {
    entered = true;
    std::this_thread::sleep_for(milliseconds(300));
    finished = true;
    return Ok("{}");
  });
  auto client = Client::Tcp(server->tcp_port());
  REQUIRE(client->Send(Get("/")));
  REQUIRE(Eventually([&] { return entered.load(); }));
  server->Stop();
  CHECK(finished);
}

TEST_CASE("http: listening on a port in use fails, naming the address and the fix") {
  const int holder = test::ListenLoopback();
  REQUIRE(holder >= 0);
  const std::string address = "127.0.0.1:" + std::to_string(test::LocalPort(holder));
  HttpServerOptions options;
  options.tcp_listen = address;
  auto taken = HttpServer::Start(options, [](const HttpRequest&) { return Ok("{}"); });
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.status().code() == Status::Code::kFailedPrecondition);
  CHECK_THAT(taken.status().message(), Catch::Contains(address) && Catch::Contains("in use"));

  // With a Unix socket as well, the error names the address that failed.
  test::TempDir tmp;
  options.unix_socket = (tmp / "fine.sock").string();
  auto both = HttpServer::Start(options, [](const HttpRequest&) { return Ok("{}"); });
  REQUIRE_FALSE(both.ok());
  CHECK_THAT(both.status().message(), Catch::Contains(address) && Catch::Contains("in use"));
  ::close(holder);
}

TEST_CASE("http: a Unix socket path held by another kind of file is left alone, and the error says so") {
  test::TempDir tmp;
  const std::string path = (tmp / "not-a-socket").string();
  test::WriteFile(path, "precious");
  HttpServerOptions options;
  options.unix_socket = path;
  auto started = HttpServer::Start(options, [](const HttpRequest&) { return Ok("{}"); });
  REQUIRE_FALSE(started.ok());
  CHECK_THAT(started.status().message(), Catch::Contains(path));
  CHECK(started.status().message().find("port") == std::string::npos);  // a path, not a port, to change
  CHECK(test::ReadFileOrDie(path) == "precious");
}

TEST_CASE("http: Start refuses options it cannot listen with, naming them") {
  auto nothing = HttpServer::Start({}, [](const HttpRequest&) { return Ok("{}"); });
  REQUIRE_FALSE(nothing.ok());
  CHECK(nothing.status().code() == Status::Code::kInvalidArgument);
  for (const char* bad : {"8080", "127.0.0.1:http", "127.0.0.1:70000", ":80"}) {
    INFO(bad);
    HttpServerOptions options;
    options.tcp_listen = bad;
    auto started = HttpServer::Start(options, [](const HttpRequest&) { return Ok("{}"); });
    REQUIRE_FALSE(started.ok());
    CHECK(started.status().code() == Status::Code::kInvalidArgument);
    CHECK_THAT(started.status().message(), Catch::Contains(bad));
  }
  std::string host;
  int port = -1;
  CHECK(ParseHostPort("[::1]:8080", "--http", &host, &port).ok());
  CHECK(host == "[::1]");
  CHECK(port == 8080);
  CHECK_THAT(ParseHostPort("localhost", "--http", &host, &port).message(),
             Catch::Contains("--http 'localhost' must be HOST:PORT"));
}

}  // namespace
}  // namespace lineage::net
