#include "llm/fake_server.h"

#include <algorithm>

#include <deque>

#include <chrono>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "base/files.h"
#include "net/http_server.h"
#include "llm/codec.h"
#include "llm/wire.h"

namespace lineage::llm {

using net::HttpRequest;
using net::HttpResponse;
using net::HttpServer;
using net::HttpServerOptions;

using json = nlohmann::json;

namespace {

enum class Fault { kNone, kRateLimit, kServerError, kOverloaded, kAuth, kBadRequest, kContextLength, kDrop, kMalformed, kTruncate };

struct ScriptEntry {
  std::optional<std::regex> match;
  std::string pattern;
  std::string text;
  json tool_calls = json::array();
  std::optional<Usage> usage;
  std::string stop_reason;  // empty: from the content
  Fault fault = Fault::kNone;
  std::string fault_message;
  int retry_after_s = -1;
  int delay_ms = 0;
  int chunk_delay_ms = 0;  // streamed: the pause after each event but the last
};

enum class WhenExhausted { kError, kRepeatLast, kCycle };

// A provider outage: from the `after`-th chat request on (0-based), `requests` requests, or every request
// for `seconds` from the first, fail with `fault`. They do not consume the script: after the outage the
// script goes on where it was, so a run through an outage can be compared with one without.
struct Outage {
  int after = 0;
  int requests = 0;
  double seconds = 0;
  ScriptEntry fault;  // only fault, fault_message, retry_after_s
  std::optional<std::chrono::steady_clock::time_point> began;
};

struct Script {
  std::vector<ScriptEntry> entries;
  WhenExhausted when_exhausted = WhenExhausted::kError;
  std::vector<Outage> outages;
  std::int64_t cache_min_tokens = 1024;  // the shortest prefix a provider caches
};

Result<Fault> ParseFault(const std::string& name, const std::string& where) {
  static const std::map<std::string, Fault> kFaults = {
      {"rate_limit", Fault::kRateLimit}, {"server_error", Fault::kServerError}, {"overloaded", Fault::kOverloaded},
      {"auth", Fault::kAuth},           {"bad_request", Fault::kBadRequest},   {"context_length", Fault::kContextLength},
      {"drop", Fault::kDrop},           {"malformed", Fault::kMalformed},      {"truncate", Fault::kTruncate}};
  auto it = kFaults.find(name);
  if (it == kFaults.end()) {
    return Status::InvalidArgument(where + ".fault: '" + name + "' is not one of rate_limit, server_error, "
                                   "overloaded, auth, bad_request, context_length, drop, malformed, truncate");
  }
  return it->second;
}

Result<Script> ParseScript(const std::string& text, const std::string& source) {
  json root = json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    return Status::InvalidArgument(source + ": not a JSON object (see docs/fake-llm.md)");
  }
  if (!root.contains("responses") || !root["responses"].is_array()) {
    return Status::InvalidArgument(source + ": responses must be an array");
  }
  static const std::set<std::string> kKeys = {"match", "text", "tool_calls", "usage", "stop_reason",
                                              "fault", "message", "retry_after", "delay_ms", "chunk_delay_ms"};
  Script script;
  const json& responses = root["responses"];
  for (size_t i = 0; i < responses.size(); ++i) {
    const std::string where = source + ": responses[" + std::to_string(i) + "]";
    const json& r = responses[i];
    if (!r.is_object()) return Status::InvalidArgument(where + " must be an object");
    for (const auto& [key, value] : r.items()) {
      if (!kKeys.count(key)) return Status::InvalidArgument(where + "." + key + " is not a known key");
    }
    ScriptEntry e;
    try {
      if (r.contains("match")) {
        e.pattern = r["match"].get<std::string>();
        try {
          e.match = std::regex(e.pattern, std::regex::ECMAScript | std::regex::icase);
        } catch (const std::regex_error& err) {
          return Status::InvalidArgument(where + ".match: '" + e.pattern + "' is not a valid regex: " + err.what());
        }
      }
      e.text = r.value("text", "");
      if (r.contains("tool_calls")) {
        if (!r["tool_calls"].is_array()) return Status::InvalidArgument(where + ".tool_calls must be an array");
        for (const json& call : r["tool_calls"]) {
          if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) {
            return Status::InvalidArgument(where + ".tool_calls[] needs a name");
          }
        }
        e.tool_calls = r["tool_calls"];
      }
      if (r.contains("usage")) {
        const json& u = r["usage"];
        e.usage = Usage{u.value("input", 0), u.value("output", 0), u.value("cache_read", 0), u.value("cache_write", 0), 0};
      }
      e.stop_reason = r.value("stop_reason", "");
      if (r.contains("fault")) {
        LINEAGE_ASSIGN_OR_RETURN(e.fault, ParseFault(r["fault"].get<std::string>(), where));
      }
      e.fault_message = r.value("message", "");
      e.retry_after_s = r.value("retry_after", -1);
      e.delay_ms = r.value("delay_ms", 0);
      e.chunk_delay_ms = r.value("chunk_delay_ms", 0);
    } catch (const json::exception& err) {
      return Status::InvalidArgument(where + ": a value has the wrong type (" + err.what() + ")");
    }
    script.entries.push_back(std::move(e));
  }
  if (root.contains("outages")) {
    if (!root["outages"].is_array()) return Status::InvalidArgument(source + ": outages must be an array");
    for (size_t i = 0; i < root["outages"].size(); ++i) {
      const std::string where = source + ": outages[" + std::to_string(i) + "]";
      const json& o = root["outages"][i];
      if (!o.is_object() || !o.contains("fault") || !o["fault"].is_string()) {
        return Status::InvalidArgument(where + " needs a fault (see docs/fake-llm.md)");
      }
      for (const auto& [key, value] : o.items()) {
        if (!std::set<std::string>{"after", "requests", "seconds", "fault", "message", "retry_after"}.count(key)) {
          return Status::InvalidArgument(where + "." + key + " is not a known key");
        }
      }
      Outage outage;
      try {
        outage.after = o.value("after", 0);
        outage.requests = o.value("requests", 0);
        outage.seconds = o.value("seconds", 0.0);
        outage.fault.fault_message = o.value("message", "");
        outage.fault.retry_after_s = o.value("retry_after", -1);
      } catch (const json::exception& err) {
        return Status::InvalidArgument(where + ": a value has the wrong type (" + err.what() + ")");
      }
      LINEAGE_ASSIGN_OR_RETURN(outage.fault.fault, ParseFault(o["fault"].get<std::string>(), where));
      if ((outage.requests > 0) == (outage.seconds > 0) || outage.after < 0 || outage.requests < 0 || outage.seconds < 0) {
        return Status::InvalidArgument(where + " needs one of requests or seconds (positive), and after >= 0");
      }
      script.outages.push_back(std::move(outage));
    }
  }
  if (root.contains("cache_min_tokens")) {
    if (!root["cache_min_tokens"].is_number_integer() || root["cache_min_tokens"].get<std::int64_t>() < 1) {
      return Status::InvalidArgument(source + ": cache_min_tokens must be a positive integer");
    }
    script.cache_min_tokens = root["cache_min_tokens"].get<std::int64_t>();
  }
  const std::string when = root.value("when_exhausted", "error");
  if (when == "error") script.when_exhausted = WhenExhausted::kError;
  else if (when == "repeat_last") script.when_exhausted = WhenExhausted::kRepeatLast;
  else if (when == "cycle") script.when_exhausted = WhenExhausted::kCycle;
  else return Status::InvalidArgument(source + ": when_exhausted '" + when + "' is not one of error, repeat_last, cycle");
  return script;
}

// The text an entry's `match` is tested against: every block of the latest message.
std::string LatestText(const ChatRequest& request) {
  if (request.messages.empty()) return "";
  std::string text;
  for (const Block& b : request.messages.back().content) {
    text += b.text + "\n";
    if (b.kind == Block::Kind::kToolCall) text += b.input.dump() + "\n";
  }
  return text;
}

// A prompt as the provider caches it: its parts in order (tools, system, each message block), and the
// parts after which the caller set a cache breakpoint.
struct PromptParts {
  std::vector<std::string> parts;
  std::vector<size_t> breakpoints;  // index of the part a breakpoint follows
};

PromptParts PartsOf(const ChatRequest& request) {
  PromptParts p;
  auto add = [&](std::string part, bool breakpoint) {
    p.parts.push_back(std::move(part));
    if (breakpoint) p.breakpoints.push_back(p.parts.size() - 1);
  };
  for (const Tool& t : request.tools) add(t.name + t.description + t.parameters.dump(), t.cache);
  add(request.system, request.system_cache);
  for (const Message& m : request.messages) {
    for (const Block& b : m.content) add(std::string(m.role == Role::kUser ? "u:" : "a:") + b.id + b.name + b.text + b.input.dump(), b.cache);
  }
  return p;
}

std::string KeyOf(const HttpRequest& http) {
  std::string key = http.Header("x-api-key");
  if (key.empty()) {
    key = http.Header("authorization");
    if (key.rfind("Bearer ", 0) == 0) key = key.substr(7);
  }
  return key;
}

}  // namespace

struct FakeModelServer::Impl {
  Script script;
  std::unique_ptr<HttpServer> http;
  std::filesystem::path log_path;
  mutable std::mutex mu;
  std::vector<ReceivedRequest> received;
  size_t next_sequential = 0;
  int responses_made = 0;
  int chat_requests = 0;  // valid chat requests so far, outages included
  // Prompt caching as the providers account it: Anthropic caches the prefix up to each breakpoint the
  // caller marks; OpenAI caches every prompt's prefix, in steps of 128 tokens, by itself.
  std::set<std::string> cached_prefixes;  // Anthropic: hashes of prefixes written
  std::deque<std::string> recent_prompts;   // OpenAI: the latest prompts, whose prefixes are cached

  // The cached part of `request`'s prompt of `input` tokens (4 bytes a token), and the part written.
  std::pair<std::int64_t, std::int64_t> CacheUsage(wire::Dialect dialect, const ChatRequest& request) {
    const PromptParts p = PartsOf(request);
    std::string prefix;
    std::vector<std::size_t> ends;  // where the prompt's prefix after each part ends
    for (const std::string& part : p.parts) ends.push_back((prefix += part + "\x1f").size());
    auto tokens = [](std::size_t bytes) { return static_cast<std::int64_t>(bytes / 4); };
    if (dialect == wire::Dialect::kOpenAI) {
      std::size_t longest = 0;
      for (const std::string& earlier : recent_prompts) {
        const auto mismatch = std::mismatch(prefix.begin(), prefix.end(), earlier.begin(), earlier.end());
        longest = std::max<std::size_t>(longest, mismatch.first - prefix.begin());
      }
      recent_prompts.push_back(prefix);
      if (recent_prompts.size() > 64) recent_prompts.pop_front();
      const std::int64_t cached = (static_cast<std::int64_t>(longest / 4) / 128) * 128;
      return {cached >= script.cache_min_tokens ? cached : 0, 0};
    }
    std::int64_t read = 0, written = 0;
    for (size_t at : p.breakpoints) {
      if (tokens(ends[at]) < script.cache_min_tokens) continue;
      const std::string key = Sha256Hex(prefix.substr(0, ends[at]));
      if (cached_prefixes.count(key)) {
        read = std::max(read, tokens(ends[at]));
      } else {
        cached_prefixes.insert(key);
        written = std::max(written, tokens(ends[at]));
      }
    }
    return {read, std::max<std::int64_t>(0, written - read)};
  }

  // The outage the `n`-th chat request falls in, if any.
  const Outage* OutageAt(int n) {
    const auto now = std::chrono::steady_clock::now();
    for (Outage& o : script.outages) {
      if (n < o.after) continue;
      if (o.requests > 0 && n < o.after + o.requests) return &o;
      if (o.seconds > 0) {
        if (!o.began) o.began = now;
        if (now - *o.began < std::chrono::duration<double>(o.seconds)) return &o;
      }
    }
    return nullptr;
  }

  // Picks the entry answering `request`; -1 when the script is exhausted.
  int Choose(const ChatRequest& request) {
    const std::string latest = LatestText(request);
    for (size_t i = 0; i < script.entries.size(); ++i) {
      const ScriptEntry& e = script.entries[i];
      if (e.match && std::regex_search(latest, *e.match)) return static_cast<int>(i);
    }
    std::vector<int> sequential;
    for (size_t i = 0; i < script.entries.size(); ++i) {
      if (!script.entries[i].match) sequential.push_back(static_cast<int>(i));
    }
    if (sequential.empty()) return -1;
    if (next_sequential < sequential.size()) return sequential[next_sequential++];
    switch (script.when_exhausted) {
      case WhenExhausted::kRepeatLast: return sequential.back();
      case WhenExhausted::kCycle: return sequential[next_sequential++ % sequential.size()];
      case WhenExhausted::kError: return -1;
    }
    return -1;
  }

  ChatResponse Answer(const ScriptEntry& e, wire::Dialect dialect, const ChatRequest& request, size_t request_bytes) {
    ChatResponse r;
    r.id = "fake-" + std::to_string(++responses_made);
    r.model = request.model;
    if (!e.text.empty()) r.content.push_back(Block::Text(e.text));
    int n = 0;
    for (const json& call : e.tool_calls) {
      r.content.push_back(Block::ToolCall(call.value("id", r.id + "-call-" + std::to_string(++n)),
                                          call["name"].get<std::string>(), call.value("arguments", json::object())));
    }
    if (r.content.empty()) r.content.push_back(Block::Text(""));
    r.stop_reason = e.tool_calls.empty() ? StopReason::kEndTurn : StopReason::kToolUse;
    if (e.stop_reason == "max_tokens") r.stop_reason = StopReason::kMaxTokens;
    if (e.stop_reason == "refusal") r.stop_reason = StopReason::kRefusal;
    if (e.stop_reason == "stop_sequence") r.stop_reason = StopReason::kStopSequence;
    const auto [read, written] = CacheUsage(dialect, request);
    r.usage = e.usage.value_or(Usage{static_cast<std::int64_t>(request_bytes / 4),
                                     static_cast<std::int64_t>(e.text.size() / 4 + 10 * e.tool_calls.size() + 1), 0, 0, 0});
    if (!e.usage) {
      r.usage.cache_read = std::min(read, r.usage.input);
      r.usage.cache_write = std::min(written, r.usage.input - r.usage.cache_read);
    }
    return r;
  }

  HttpResponse Error(wire::Dialect dialect, ErrorKind kind, const std::string& message) {
    ModelError error{kind, 0, message};
    return HttpResponse{wire::HttpStatus(dialect, kind), wire::ErrorBody(dialect, error).dump()};
  }

  // `normal_body` is what the entry would answer without its fault (the truncate fault cuts it short).
  HttpResponse Fail(const ScriptEntry& e, wire::Dialect dialect, const std::string& key, const std::string& normal_body) {
    auto with = [&](ErrorKind kind, std::string fallback) {
      return Error(dialect, kind, e.fault_message.empty() ? fallback : e.fault_message);
    };
    HttpResponse out;
    switch (e.fault) {
      case Fault::kRateLimit:
        out = with(ErrorKind::kRateLimited, "Rate limit reached (fake)");
        if (e.retry_after_s >= 0) out.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
        return out;
      case Fault::kServerError: return with(ErrorKind::kServer, "The server had an error (fake)");
      case Fault::kOverloaded:
        out = with(ErrorKind::kOverloaded, "Overloaded (fake)");
        out.status = 529;
        return out;
      // Like OpenAI, echo the key that was refused; lineage must scrub it before it reaches a log.
      case Fault::kAuth: return with(ErrorKind::kAuth, "Incorrect API key provided: " + key);
      case Fault::kBadRequest: return with(ErrorKind::kBadRequest, "Invalid request (fake)");
      case Fault::kContextLength:
        return with(ErrorKind::kContextTooLong,
                    "This model's maximum context length is 8192 tokens; your messages resulted in 9000 tokens "
                    "(context_length_exceeded)");
      case Fault::kDrop: out.delivery = HttpResponse::Delivery::kDropConnection; return out;
      case Fault::kMalformed: out.body = "{\"id\": \"fake\", \"choices\": [ {\"message\": "; return out;
      case Fault::kTruncate:
        out.body = normal_body;
        out.delivery = HttpResponse::Delivery::kTruncateBody;
        return out;
      case Fault::kNone: break;
    }
    return out;
  }

  void Log(const ReceivedRequest& r) {
    if (log_path.empty()) return;
    std::ofstream out(log_path, std::ios::app);
    out << json{{"path", r.path}, {"body", r.body}, {"response_index", r.response_index}}.dump() << "\n";
  }

  HttpResponse Handle(const HttpRequest& http) {
    ReceivedRequest received_request{http.target, http.headers, json::parse(http.body, nullptr, false), -1};
    if (received_request.body.is_discarded()) received_request.body = nullptr;
    if (http.method == "GET" && http.target == "/_fake/requests") {
      std::lock_guard lock(mu);
      json all = json::array();
      for (const auto& r : received) all.push_back({{"path", r.path}, {"body", r.body}, {"response_index", r.response_index}});
      return HttpResponse{200, all.dump()};
    }
    if (http.method == "GET" && http.target == "/v1/models") {
      return HttpResponse{200, R"({"object":"list","data":[{"id":"fake","object":"model","owned_by":"lineage"}]})"};
    }
    // Standing in for a provider, the fake serves the APIs lineage's client calls providers in.
    const ApiCodec* codec = FindCodec(http.method, http.target);
    if (!codec || !codec->spoken_upstream()) {
      return HttpResponse{404, R"({"error":{"message":"no such endpoint on the fake model server"}})"};
    }
    const wire::Dialect dialect = codec->dialect();

    int index = -1;
    HttpResponse response;
    const ScriptEntry* entry = nullptr;
    std::optional<ChatResponse> answer;
    {
      std::lock_guard lock(mu);
      Result<ChatRequest> request = codec->ParseRequest(received_request.body);
      if (!request.ok()) {
        response = Error(dialect, ErrorKind::kBadRequest, request.status().message());
      } else if (dialect == wire::Dialect::kAnthropic && !request->max_tokens) {
        response = Error(dialect, ErrorKind::kBadRequest, "max_tokens: Field required");
      } else if (const Outage* outage = OutageAt(chat_requests++)) {
        response = Fail(outage->fault, dialect, KeyOf(http), "{}");
      } else if ((index = Choose(*request)) < 0) {
        response = Error(dialect, ErrorKind::kBadRequest,
                         "the fake model server's script has no response left for this request");
      } else {
        entry = &script.entries[index];
        answer = Answer(*entry, dialect, *request, http.body.size());
        std::string body = codec->WriteResponse(*answer).dump();
        response = entry->fault != Fault::kNone ? Fail(*entry, dialect, KeyOf(http), body) : HttpResponse{200, body};
      }
      received_request.response_index = index;
      received.push_back(received_request);
      Log(received_request);
    }
    if (entry && entry->delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(entry->delay_ms));
    const wire::StreamRequest stream = wire::ParseStreamRequest(received_request.body);
    if (stream.stream && answer && (entry->fault == Fault::kNone || entry->fault == Fault::kTruncate)) {
      return Streamed(*codec, *answer, stream.include_usage, entry->chunk_delay_ms, entry->fault == Fault::kTruncate);
    }
    return response;
  }

  // An answer as the provider streams it: text and arguments in pieces of a few bytes, `chunk_delay_ms`
  // apart; `cut` stops halfway, as a connection lost mid-answer.
  static HttpResponse Streamed(const ApiCodec& codec, ChatResponse answer, bool include_usage, int chunk_delay_ms, bool cut) {
    HttpResponse out;
    out.content_type = "text/event-stream";
    out.stream = [&codec, answer = std::move(answer), include_usage, chunk_delay_ms, cut](net::StreamWriter& writer) {
      const std::unique_ptr<StreamEncoder> encoder = codec.NewStreamEncoder(include_usage);
      const std::vector<StreamDelta> pieces = wire::Pieces(answer, 16);
      const size_t end = cut ? pieces.size() / 2 : pieces.size();
      for (size_t i = 0; i < end; ++i) {
        if (!writer.Write(encoder->Piece(pieces[i]))) return HttpResponse{};
        if (chunk_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(chunk_delay_ms));
      }
      if (cut) writer.Cut();
      else writer.Write(encoder->Finish(answer));
      return HttpResponse{};
    };
    return out;
  }
};

FakeModelServer::FakeModelServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeModelServer::~FakeModelServer() { Stop(); }

Result<std::unique_ptr<FakeModelServer>> FakeModelServer::Start(const std::string& script_text,
                                                                const std::string& source,
                                                                const FakeServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  LINEAGE_ASSIGN_OR_RETURN(impl->script, ParseScript(script_text, source));
  impl->log_path = options.request_log;
  Impl* raw = impl.get();
  HttpServerOptions http_options;
  http_options.tcp_listen = options.listen;
  http_options.unix_socket = options.unix_socket;
  LINEAGE_ASSIGN_OR_RETURN(impl->http,
                           HttpServer::Start(http_options, [raw](const HttpRequest& r) { return raw->Handle(r); }));
  return std::unique_ptr<FakeModelServer>(new FakeModelServer(std::move(impl)));
}

Result<std::unique_ptr<FakeModelServer>> FakeModelServer::StartFromFile(const std::filesystem::path& script,
                                                                        const FakeServerOptions& options) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(script));
  return Start(text, script.string(), options);
}

std::string FakeModelServer::url() const { return impl_->http->tcp_url(); }
int FakeModelServer::port() const { return impl_->http->tcp_port(); }

std::vector<ReceivedRequest> FakeModelServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->received;
}

void FakeModelServer::Stop() {
  if (impl_->http) impl_->http->Stop();
}

}  // namespace lineage::llm
