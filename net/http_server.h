// A small HTTP/1.1 server (Boost.Beast) on a Unix socket and/or TCP, shared by the gateway, the fake model
// server and the daemon's dashboard. Beast stays inside http_server.cc: users see plain request and response
// structs.
//
// One thread per connection, with keep-alive. A hostile caller can pin neither threads nor memory:
// connections beyond `max_connections` are answered 503 and closed; a connection idle (not inside the
// handler) for longer than `idle_timeout_ms` is closed; a body over `max_body_bytes` is answered 413 unread;
// the bodies being read or handled by all connections together stay under `max_bytes_in_flight` (a request
// past it is answered 503 before its body is read); and with `client_key`, one client (a token, say) holds
// at most `max_connections_per_client` connections (429 beyond).
//
// With `client_key`, nobody who cannot name a client can keep those who can out. A connection is anonymous
// until a request of it names a client: anonymous connections are held apart from the others, at most
// `max_anonymous_connections` of them (a new one pushes out the oldest, so that a flood of them, however
// quickly renewed, cannot keep a real caller's new connection out), each with `anonymous_timeout_ms` to send
// its first request's headers; only connections that named a client count against `max_connections`. A
// request that names no client is handled from its headers alone, its body never read, and its connection
// is closed after the answer.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace lineage::net {

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string target;  // "/v1/messages"
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string Header(const std::string& lower_case_name) const;
};

struct HttpResponse;

// What a streamed response writes with (HttpResponse::stream).
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends `piece` at once (the response's status and headers first, with the first piece); false once the
  // client is gone.
  virtual bool Write(std::string_view piece) = 0;
  // Ends the body without its last chunk, as a connection lost midway would (fault injection).
  virtual void Cut() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // How the response leaves: fault injection in the fake model server uses the last two.
  enum class Delivery { kNormal, kDropConnection, kTruncateBody };
  Delivery delivery = Delivery::kNormal;
  bool close = false;  // end the connection once this response is written (a refused caller, say)
  // A response written while it is produced (server-sent events): when set, `stream` runs on the
  // connection's thread; this response's status and headers go out with its first Write, chunked, and each
  // Write leaves as it is made. If it writes nothing, the response it returns is sent instead, whole: an
  // error found before the first byte keeps its own status. `body` is ignored.
  std::function<HttpResponse(StreamWriter& writer)> stream;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string unix_socket;  // path; empty: none. A stale socket file there is replaced.
  std::string tcp_listen;   // "HOST:PORT" (PORT 0 picks a free one); empty: none
  int max_connections = 256;
  int idle_timeout_ms = 120'000;
  std::size_t max_body_bytes = 32 << 20;
  std::size_t max_bytes_in_flight = 128 << 20;
  // Who a connection serves, from its first request's headers (the body is not read yet); empty: nobody
  // it knows (an unknown token, say). Used with max_connections_per_client; a later request on the
  // connection naming another client is refused (429) and the connection closed.
  std::function<std::string(const HttpRequest&)> client_key;
  int max_connections_per_client = 16;
  int max_anonymous_connections = 64;
  int anonymous_timeout_ms = 10'000;
};

class HttpServer {
 public:
  // Binds every listener before returning, so callers can connect at once.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();  // Stop()s

  // Closes the listeners and every connection, and waits for the handlers running now to return.
  void Stop();

  int tcp_port() const;          // 0 without a TCP listener
  std::string tcp_url() const;   // "http://127.0.0.1:PORT", or empty
  const std::string& unix_socket() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT"; InvalidArgument names `flag` and the value.
Status ParseHostPort(const std::string& value, const std::string& flag, std::string* host, int* port);

// Whether `host` is an IPv4 or IPv6 address literal (IPv6 with or without brackets), which is what a
// server can listen on.
bool IsAddressLiteral(const std::string& host);
// Whether listening on `host` listens on every interface: empty, or an unspecified address in any of its
// spellings (0.0.0.0, ::, ::0, [::], 0:0::0, ::ffff:0.0.0.0, ...).
bool IsWildcardAddress(const std::string& host);

}  // namespace lineage::net
