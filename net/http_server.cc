#include "net/http_server.h"

#include <spdlog/spdlog.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace lineage::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

Status ParseHostPort(const std::string& value, const std::string& flag, std::string* host, int* port) {
  const auto colon = value.rfind(':');
  const std::string bad = flag + " '" + value + "' must be HOST:PORT, such as 127.0.0.1:8080";
  if (colon == std::string::npos || colon == 0) return Status::InvalidArgument(bad);
  *host = value.substr(0, colon);
  try {
    size_t used = 0;
    *port = std::stoi(value.substr(colon + 1), &used);
    if (used != value.size() - colon - 1 || *port < 0 || *port > 65535) return Status::InvalidArgument(bad);
  } catch (const std::exception&) {
    return Status::InvalidArgument(bad);
  }
  return Status::OK();
}

namespace {

// `host` without the brackets of an IPv6 literal ("[::1]" -> "::1").
std::string Unbracketed(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

bool IsAddressLiteral(const std::string& host) {
  const std::string bare = Unbracketed(host);
  in_addr v4;
  in6_addr v6;
  return ::inet_pton(AF_INET, bare.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, bare.c_str(), &v6) == 1;
}

bool IsWildcardAddress(const std::string& host) {
  const std::string bare = Unbracketed(host);
  if (bare.empty()) return true;
  in_addr v4;
  if (::inet_pton(AF_INET, bare.c_str(), &v4) == 1) return v4.s_addr == INADDR_ANY;
  in6_addr v6;
  if (::inet_pton(AF_INET6, bare.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_UNSPECIFIED(&v6)) return true;
  // ::ffff:0.0.0.0, IPv4's wildcard as IPv6 spells it.
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 0 && v6.s6_addr[13] == 0 && v6.s6_addr[14] == 0 &&
         v6.s6_addr[15] == 0;
}

namespace {

// One accepted connection, served on its own thread.
struct Connection {
  int fd = -1;
  std::string client;  // HttpServerOptions::client_key of its first request
  std::atomic<bool> busy{false};  // inside the handler: idle time does not count
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> last_activity_ms{0};
  std::int64_t accepted_ms = 0;
  // With a client_key: no request of it has named a client yet. Guarded by the server's mu, as `evicted`
  // is: an anonymous connection pushed out by a newer one, or out of time for its first headers.
  bool anonymous = false;
  bool evicted = false;
  std::thread thread;
};

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

HttpRequest ToRequest(const http::request<http::string_body>& in) {
  HttpRequest out;
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = in.body();
  return out;
}

http::response<http::string_body> ToBeast(const HttpResponse& in, unsigned version, bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(in.status), version};
  out.set(http::field::server, "lineage");
  out.set(http::field::content_type, in.content_type);
  for (const auto& [name, value] : in.headers) out.set(name, value);
  out.keep_alive(keep_alive);
  out.body() = in.body;
  out.prepare_payload();
  return out;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io;
  std::unique_ptr<asio::local::stream_protocol::acceptor> unix_acceptor;
  std::unique_ptr<asio::ip::tcp::acceptor> tcp_acceptor;
  int tcp_port = 0;
  std::string tcp_host;
  std::vector<std::thread> accept_threads;
  std::thread reaper;

  std::mutex mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::list<std::unique_ptr<Connection>> connections;

  std::size_t bytes_in_flight = 0;               // guarded by mu
  std::map<std::string, int> client_connections;  // guarded by mu
  int named_connections = 0;                      // guarded by mu: those bound to a client

  // Counts `bytes` of request body in flight; false when that would pass the cap.
  bool Reserve(std::size_t bytes) {
    std::lock_guard lock(mu);
    if (bytes_in_flight + bytes > options.max_bytes_in_flight) return false;
    bytes_in_flight += bytes;
    return true;
  }
  void Release(std::size_t bytes) {
    std::lock_guard lock(mu);
    bytes_in_flight -= bytes;
  }

  // Binds an anonymous connection to the client `key` its first request names: 0, or the status that
  // refuses it (429: the client holds its share of connections; 503: the server is full).
  int Admit(Connection* conn, const std::string& key) {
    std::lock_guard lock(mu);
    if (named_connections >= options.max_connections) return 503;
    auto it = client_connections.find(key);
    if (it != client_connections.end() && it->second >= options.max_connections_per_client) return 429;
    ++client_connections[key];
    ++named_connections;
    conn->client = key;
    conn->anonymous = false;
    return 0;
  }
  void Leave(Connection* conn) {
    if (conn->client.empty()) return;
    std::lock_guard lock(mu);
    --named_connections;
    if (--client_connections[conn->client] == 0) client_connections.erase(conn->client);
  }

  // Ends an anonymous connection from another thread: its own wakes from its read and leaves. Holds `mu`.
  static void Evict(Connection& c) {
    c.evicted = true;
    ::shutdown(c.fd, SHUT_RDWR);
  }

  // Makes room for one more anonymous connection: the oldest goes when they are at their cap. Refusing the
  // new one instead would let whoever holds the cap (and renews it as fast as it is cut) keep everyone out.
  // Holds `mu`.
  void MakeRoomForAnonymous() {
    int anonymous = 0;
    Connection* oldest = nullptr;
    for (auto& c : connections) {
      if (!c->anonymous || c->evicted || c->done) continue;
      if (anonymous++ == 0) oldest = c.get();
    }
    if (anonymous < options.max_anonymous_connections || !oldest) return;
    spdlog::debug("http: {} connections named no client yet; the oldest is closed for a new one", anonymous);
    Evict(*oldest);
  }

  HttpResponse Call(const HttpRequest& request) {
    try {
      return handler(request);
    } catch (const std::exception& e) {
      spdlog::error("http handler failed: {}", e.what());
      return HttpResponse{500, "{\"error\":{\"message\":\"internal error\"}}"};
    }
  }

  // Answers a request that names no client (HttpServerOptions::client_key) from its headers alone, and
  // leaves the connection to be closed: its body is never read, so that a caller nobody knows holds
  // neither bytes in flight nor the connection.
  template <class Socket>
  void AnswerAnonymous(Socket& socket, const HttpRequest& head, unsigned version, bool body_owed) {
    HttpResponse response = Call(head);
    beast::error_code ec;
    if (response.stream) {
      Stream(socket, response, version, /*keep_alive=*/false);
    } else {
      http::write(socket, ToBeast(response, version, /*keep_alive=*/false), ec);
    }
    if (body_owed) DiscardBriefly(socket.native_handle());
  }

  template <class Socket>
  void Serve(Socket socket, Connection* conn) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(64 * 1024);
      beast::error_code ec;
      http::read_header(socket, buffer, parser, ec);
      const bool too_large = ec == http::error::body_limit;  // the announced length is over the cap already
      if (ec && !too_large) break;
      if (options.client_key) {
        const HttpRequest head = ToRequest(parser.get());  // the headers; no byte of the body is read yet
        const std::string key = options.client_key(head);
        if (key.empty()) {
          // Whoever this is (an unknown token, or one just revoked) gets the handler's answer (a 401, say),
          // never a refusal that speaks of connections or sizes: a client pooling connections retries those.
          AnswerAnonymous(socket, head, parser.get().version(), too_large || !parser.is_done());
          break;
        }
        if (conn->client.empty()) {
          if (const int refused = Admit(conn, key)) {
            WriteSimple(socket, refused, refused == 429 ? "{\"error\":{\"message\":\"too many connections for this client\"}}"
                                                        : "{\"error\":{\"message\":\"too many connections\"}}");
            break;
          }
        } else if (key != conn->client) {
          WriteSimple(socket, 429, "{\"error\":{\"message\":\"a connection serves one client; open another\"}}");
          break;
        }
      }
      if (too_large) {
        WriteSimple(socket, 413, "{\"error\":{\"message\":\"request body too large\"}}");
        DiscardBriefly(socket.native_handle());
        break;
      }
      // A body announced (or, chunked, possible) is counted before a byte of it is read.
      const std::size_t body = static_cast<std::size_t>(parser.content_length().value_or(options.max_body_bytes));
      if (body > options.max_body_bytes) {
        WriteSimple(socket, 413, "{\"error\":{\"message\":\"request body too large\"}}");
        DiscardBriefly(socket.native_handle());
        break;
      }
      if (!Reserve(body)) {
        WriteSimple(socket, 503, "{\"error\":{\"message\":\"too many request bytes in flight; try again shortly\"}}");
        break;
      }
      http::read(socket, buffer, parser, ec);
      if (ec) {
        Release(body);
        if (ec == http::error::body_limit) {
          WriteSimple(socket, 413, "{\"error\":{\"message\":\"request body too large\"}}");
        }
        break;
      }
      conn->busy = true;
      const auto& request = parser.get();
      HttpResponse response = Call(ToRequest(request));
      Release(body);
      if (response.stream) {
        const bool whole = Stream(socket, response, request.version(), request.keep_alive());
        conn->busy = false;
        conn->last_activity_ms = NowMs();
        if (!whole || !request.keep_alive() || response.close) break;
        continue;
      }
      conn->busy = false;
      conn->last_activity_ms = NowMs();
      if (response.delivery == HttpResponse::Delivery::kDropConnection) break;
      auto out = ToBeast(response, request.version(), request.keep_alive());
      if (response.delivery == HttpResponse::Delivery::kTruncateBody) {
        std::ostringstream whole;
        whole << out;
        const std::string bytes = whole.str();
        asio::write(socket, asio::buffer(bytes.data(), bytes.size() - out.body().size() / 2 - 1), ec);
        break;
      }
      http::write(socket, out, ec);
      if (ec || !request.keep_alive() || response.close) break;
    }
    Leave(conn);
    beast::error_code ignored;
    socket.shutdown(Socket::shutdown_both, ignored);
    // Under the lock: Reap() and Stop() shut connections down by fd number under it, and once closed the
    // number may belong to someone else.
    std::lock_guard lock(mu);
    conn->done = true;
    socket.close(ignored);
  }

  // Writes a streamed response (HttpResponse::stream). False when the connection must end: the client
  // went away, or the body was cut short.
  template <class Socket>
  bool Stream(Socket& socket, const HttpResponse& response, unsigned version, bool keep_alive) {
    class Writer : public StreamWriter {
     public:
      Writer(Socket& socket, const HttpResponse& response, unsigned version, bool keep_alive)
          : socket_(socket), head_{static_cast<http::status>(response.status), version} {
        head_.set(http::field::server, "lineage");
        head_.set(http::field::content_type, response.content_type);
        for (const auto& [name, value] : response.headers) head_.set(name, value);
        head_.keep_alive(keep_alive);
        head_.chunked(true);
      }
      bool Write(std::string_view piece) override {
        if (!open_) return false;
        if (!started_) {
          started_ = true;
          http::response_serializer<http::empty_body> serializer{head_};
          http::write_header(socket_, serializer, ec_);
          if ((open_ = !ec_) == false) return false;
        }
        if (piece.empty()) return true;  // an empty chunk would end the body
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        return open_ = Send(size) && Send(piece) && Send("\r\n");
      }
      void Cut() override { open_ = false; }
      bool Finish() { return open_ && Send("0\r\n\r\n"); }

      // Sends all of `bytes`, or gives up when the client has read nothing for a minute: a caller that stops
      // reading must not hold this thread (nor the stream's budget reservation) for ever.
      bool Send(std::string_view bytes) {
        const int fd = socket_.native_handle();
        while (!bytes.empty()) {
          pollfd p{fd, POLLOUT, 0};
          if (::poll(&p, 1, 60'000) <= 0) return false;
          const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (n <= 0) return false;
          bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
      }
      bool started() const { return started_; }

     private:
      Socket& socket_;
      http::response<http::empty_body> head_;
      beast::error_code ec_;
      bool started_ = false, open_ = true;
    };
    Writer writer(socket, response, version, keep_alive);
    HttpResponse whole;
    try {
      whole = response.stream(writer);
    } catch (const std::exception& e) {
      spdlog::error("http stream failed: {}", e.what());
      if (writer.started()) return false;  // the client sees the body end without its last chunk
      whole = HttpResponse{500, "{\"error\":{\"message\":\"internal error\"}}"};
    }
    if (writer.started()) return writer.Finish();
    beast::error_code ec;
    http::write(socket, ToBeast(whole, version, keep_alive), ec);
    return !ec && !whole.close;
  }

  // Lets a client still sending a refused body read the refusal: stop writing, then read and drop what
  // arrives for a moment (never keeping it), so that closing does not reset the connection under the reply.
  static void DiscardBriefly(int fd) {
    ::shutdown(fd, SHUT_WR);
    const auto until = Clock::now() + std::chrono::milliseconds(1000);
    char sink[65536];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return;
      if (::recv(fd, sink, sizeof sink, 0) <= 0) return;
    }
  }

  template <class Socket>
  void WriteSimple(Socket& socket, int status, const std::string& body) {
    beast::error_code ec;
    http::write(socket, ToBeast(HttpResponse{status, body}, 11, false), ec);
  }

  template <class Acceptor>
  void AcceptLoop(Acceptor& acceptor) {
    for (;;) {
      typename Acceptor::protocol_type::socket socket(io);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      if (!ec) ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);  // Asio does not
      if constexpr (std::is_same_v<typename Acceptor::protocol_type, asio::ip::tcp>) {
        // A streamed response is many small writes: Nagle's algorithm would hold each one back for an ACK.
        if (!ec) socket.set_option(asio::ip::tcp::no_delay(true), ec);
      }
      std::lock_guard lock(mu);
      if (stopping) return;
      if (ec) continue;
      Reap();
      if (options.client_key) {
        // Counted against max_connections once it names a client (Admit); until then, among the anonymous.
        MakeRoomForAnonymous();
      } else if (static_cast<int>(connections.size()) >= options.max_connections) {
        WriteSimple(socket, 503, "{\"error\":{\"message\":\"too many connections\"}}");
        continue;
      }
      auto conn = std::make_unique<Connection>();
      conn->fd = socket.native_handle();
      conn->accepted_ms = NowMs();
      conn->last_activity_ms = conn->accepted_ms;
      conn->anonymous = static_cast<bool>(options.client_key);
      Connection* raw = conn.get();
      conn->thread = std::thread([this, s = std::move(socket), raw]() mutable { Serve(std::move(s), raw); });
      connections.push_back(std::move(conn));
    }
  }

  // Joins finished connections, and closes idle ones and anonymous ones out of time. Holds `mu`.
  void Reap() {
    const std::int64_t now = NowMs();
    for (auto it = connections.begin(); it != connections.end();) {
      Connection& c = **it;
      if (c.done) {
        c.thread.join();
        it = connections.erase(it);
        continue;
      }
      if (c.anonymous && !c.evicted && now - c.accepted_ms > options.anonymous_timeout_ms) {
        Evict(c);
      } else if (!c.busy && now - c.last_activity_ms > options.idle_timeout_ms) {
        ::shutdown(c.fd, SHUT_RDWR);
      }
      ++it;
    }
  }

  void ReaperLoop() {
    std::unique_lock lock(mu);
    const int period_ms = std::min({1000, options.idle_timeout_ms, options.anonymous_timeout_ms});
    while (!stopping) {
      stop_cv.wait_for(lock, std::chrono::milliseconds(period_ms));
      if (!stopping) Reap();
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler) {
  if (options.unix_socket.empty() && options.tcp_listen.empty()) {
    return Status::InvalidArgument("an HTTP server needs a Unix socket path or a HOST:PORT to listen on");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  std::string where;  // the listener being bound, for its errors
  try {
    if (!options.unix_socket.empty()) {
      where = options.unix_socket;
      std::error_code ec;
      if (std::filesystem::is_socket(options.unix_socket, ec)) std::filesystem::remove(options.unix_socket, ec);
      impl->unix_acceptor = std::make_unique<asio::local::stream_protocol::acceptor>(
          impl->io, asio::local::stream_protocol::endpoint(options.unix_socket));
      ::chmod(options.unix_socket.c_str(), 0600);  // the token is the real guard; this keeps other users out
      ::fcntl(impl->unix_acceptor->native_handle(), F_SETFD, FD_CLOEXEC);
    }
    if (!options.tcp_listen.empty()) {
      where = options.tcp_listen;
      int port = 0;
      LINEAGE_RETURN_IF_ERROR(ParseHostPort(options.tcp_listen, "listen address", &impl->tcp_host, &port));
      asio::ip::tcp::endpoint endpoint(asio::ip::make_address(impl->tcp_host), static_cast<unsigned short>(port));
      impl->tcp_acceptor = std::make_unique<asio::ip::tcp::acceptor>(impl->io, endpoint, /*reuse_address=*/true);
      impl->tcp_port = impl->tcp_acceptor->local_endpoint().port();
      ::fcntl(impl->tcp_acceptor->native_handle(), F_SETFD, FD_CLOEXEC);
    }
  } catch (const boost::system::system_error& e) {
    // An address in use, or not one of this host's, is the caller's choice to change, not lineage's fault.
    const auto code = e.code();
    if (code == asio::error::address_in_use) {
      // A socket file there was replaced above: what holds a Unix socket's path is another kind of file.
      return Status::FailedPrecondition("cannot listen on " + where +
                                        (where == options.unix_socket
                                             ? ": a file that is not a socket is there; remove it or choose another path"
                                             : ": the address is in use; choose another port"));
    }
    if (code == asio::error::access_denied || code == boost::system::errc::address_not_available) {
      return Status::InvalidArgument("cannot listen on " + where + ": " + code.message());
    }
    return Status::IOError("cannot listen on " + where + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::IOError("cannot listen on " + where + ": " + e.what());
  }
  Impl* raw = impl.get();
  if (raw->unix_acceptor) raw->accept_threads.emplace_back([raw] { raw->AcceptLoop(*raw->unix_acceptor); });
  if (raw->tcp_acceptor) raw->accept_threads.emplace_back([raw] { raw->AcceptLoop(*raw->tcp_acceptor); });
  raw->reaper = std::thread([raw] { raw->ReaperLoop(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.stop_cv.notify_all();
  // shutdown() wakes a thread blocked in accept() or read() on Linux; close() alone would not.
  if (s.unix_acceptor) ::shutdown(s.unix_acceptor->native_handle(), SHUT_RDWR);
  if (s.tcp_acceptor) ::shutdown(s.tcp_acceptor->native_handle(), SHUT_RDWR);
  for (auto& t : s.accept_threads) t.join();
  s.reaper.join();
  std::list<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard lock(s.mu);
    for (auto& c : s.connections) {
      if (!c->done) ::shutdown(c->fd, SHUT_RDWR);
    }
    connections.swap(s.connections);
  }
  for (auto& c : connections) c->thread.join();
  beast::error_code ignored;
  if (s.unix_acceptor) {
    s.unix_acceptor->close(ignored);
    std::error_code ec;
    std::filesystem::remove(s.options.unix_socket, ec);
  }
  if (s.tcp_acceptor) s.tcp_acceptor->close(ignored);
}

int HttpServer::tcp_port() const { return impl_->tcp_port; }
std::string HttpServer::tcp_url() const {
  if (!impl_->tcp_acceptor) return "";
  const std::string& host = impl_->tcp_host;
  return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(impl_->tcp_port);
}
const std::string& HttpServer::unix_socket() const { return impl_->options.unix_socket; }

}  // namespace lineage::net
