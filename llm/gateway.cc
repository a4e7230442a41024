#include "llm/gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
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
using Clock = std::chrono::steady_clock;

// --- Budget -------------------------------------------------------------------------------------------

namespace {

std::string Dollars(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

}  // namespace

std::string Budget::Reserve(const Spend& estimate) {
  std::lock_guard lock(mu_);
  std::string over = OverLocked(estimate);
  if (!over.empty()) return over;
  in_flight_.tokens += estimate.tokens;
  in_flight_.cost_usd += estimate.cost_usd;
  in_flight_.calls += estimate.calls;
  return "";
}

bool Budget::Fits(const Spend& estimate) const {
  std::lock_guard lock(mu_);
  return OverLocked(estimate).empty();
}

std::string Budget::OverLocked(const Spend& estimate) const {
  const std::int64_t tokens = spent_.tokens + in_flight_.tokens + estimate.tokens;
  const double cost = spent_.cost_usd + in_flight_.cost_usd + estimate.cost_usd;
  const std::int64_t calls = spent_.calls + in_flight_.calls + estimate.calls;
  if (limits_.calls && calls > *limits_.calls) {
    return "calls: " + std::to_string(*limits_.calls) + " of " + std::to_string(*limits_.calls) +
           " allowed are spent or in flight";
  }
  if (limits_.tokens && tokens > *limits_.tokens) {
    return "tokens: " + std::to_string(spent_.tokens) + " spent and " + std::to_string(in_flight_.tokens) +
           " in flight, and this call may use up to " + std::to_string(estimate.tokens) + " (prompt plus max_tokens), of " +
           std::to_string(*limits_.tokens) + " allowed";
  }
  if (limits_.cost_usd && cost > *limits_.cost_usd) {
    return "cost: " + Dollars(spent_.cost_usd) + " spent and " + Dollars(in_flight_.cost_usd) +
           " in flight, and this call may cost up to " + Dollars(estimate.cost_usd) + ", of " +
           Dollars(*limits_.cost_usd) + " allowed";
  }
  return "";
}

Spend Budget::Settle(const Spend& estimate, const Spend& actual) {
  std::lock_guard lock(mu_);
  in_flight_.tokens -= estimate.tokens;
  in_flight_.cost_usd -= estimate.cost_usd;
  in_flight_.calls -= estimate.calls;
  // What the call was admitted for is its own; beyond that, only what no one else holds is left.
  Spend charged = actual;
  if (limits_.tokens) {
    const std::int64_t room = *limits_.tokens - spent_.tokens - in_flight_.tokens;
    charged.tokens = std::min(actual.tokens, std::max(estimate.tokens, room));
  }
  if (limits_.cost_usd) {
    const double room = *limits_.cost_usd - spent_.cost_usd - in_flight_.cost_usd;
    charged.cost_usd = std::min(actual.cost_usd, std::max(estimate.cost_usd, room));
  }
  spent_.tokens += charged.tokens;
  spent_.cost_usd += charged.cost_usd;
  spent_.calls += charged.calls;
  return charged;
}

std::string Budget::Exhausted() const {
  std::lock_guard lock(mu_);
  if (limits_.calls && spent_.calls + in_flight_.calls >= *limits_.calls) {
    return "calls: " + std::to_string(*limits_.calls) + " of " + std::to_string(*limits_.calls) + " allowed are spent or in flight";
  }
  if (limits_.tokens && spent_.tokens + in_flight_.tokens >= *limits_.tokens) {
    return "tokens: " + std::to_string(*limits_.tokens) + " allowed are spent or in flight";
  }
  if (limits_.cost_usd && spent_.cost_usd + in_flight_.cost_usd >= *limits_.cost_usd) {
    return "cost: " + Dollars(*limits_.cost_usd) + " allowed is spent or in flight";
  }
  return "";
}

Spend Budget::spent() const {
  std::lock_guard lock(mu_);
  return spent_;
}

Spend Budget::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

std::string NewToken() { return "lgw-" + RandomHex(16); }

// --- Gateway ------------------------------------------------------------------------------------------

namespace {

constexpr size_t kMaxPendingRecords = 4096;

struct Grant {
  Attribution who;
  std::shared_ptr<Budget> budget;
};

std::string TokenOf(const HttpRequest& http) {
  std::string auth = http.Header("authorization");
  if (auth.rfind("Bearer ", 0) == 0) return auth.substr(7);
  return http.Header("x-api-key");
}

// A purpose header is the caller's word: keep it short and printable.
std::string CleanPurpose(const std::string& value) {
  std::string out;
  for (char c : value.substr(0, 64)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') out += c;
  }
  return out;
}

}  // namespace

struct Gateway::Impl {
  ModelClient client;
  GatewayOptions options;
  std::unique_ptr<HttpServer> http;

  std::mutex mu;  // guards grants and faults
  std::map<std::string, Grant> grants;
  Gateway::Faults faults;
  std::mutex cache_mu;  // guards the cache directory and replay_positions
  std::map<std::string, size_t> replay_positions;  // by request hash

  // Records are handed to the recorder by one background thread, in call order, so that storing them
  // (a database row and two blobs, each fsynced) stays off the agent's path.
  std::mutex record_mu;
  std::condition_variable record_cv;
  std::deque<CallRecord> pending_records;
  bool recording = false;  // the writer is inside the recorder
  bool stop_recording = false;
  std::thread record_thread;

  explicit Impl(ModelsConfig models) : client(std::move(models)) {}

  void Enqueue(CallRecord record) {
    if (!options.recorder) return;
    {
      // Backpressure: callers faster than the recorder wait rather than grow the queue without bound.
      std::unique_lock lock(record_mu);
      record_cv.wait(lock, [&] { return pending_records.size() < kMaxPendingRecords; });
      pending_records.push_back(std::move(record));
    }
    record_cv.notify_all();
  }

  void RecordLoop() {
    std::unique_lock lock(record_mu);
    for (;;) {
      record_cv.wait(lock, [&] { return stop_recording || !pending_records.empty(); });
      if (pending_records.empty()) return;  // stopping, and everything is stored
      CallRecord record = std::move(pending_records.front());
      pending_records.pop_front();
      recording = true;
      record_cv.notify_all();  // a caller may wait for room in the queue
      lock.unlock();
      if (Status stored = options.recorder(record); !stored.ok()) {
        spdlog::error("cannot record a model call: {}", stored.ToString());
        std::lock_guard faults_lock(mu);
        if (faults.unrecorded++ == 0) faults.first_unrecorded = "lineage could not record a model call: " + stored.message();
      }
      lock.lock();
      recording = false;
      record_cv.notify_all();
    }
  }

  void Flush() {
    std::unique_lock lock(record_mu);
    record_cv.wait(lock, [&] { return pending_records.empty() && !recording; });
  }

  HttpResponse ErrorResponse(wire::Dialect dialect, ErrorKind kind, const std::string& message) {
    return HttpResponse{wire::HttpStatus(dialect, kind), wire::ErrorBody(dialect, ModelError{kind, 0, message}).dump()};
  }

  std::optional<Grant> Find(const std::string& token) {
    std::lock_guard lock(mu);
    auto it = grants.find(token);
    if (token.empty() || it == grants.end()) return std::nullopt;
    return it->second;
  }

  HttpResponse Models() {
    json data = json::array();
    for (const ModelConfig& m : client.config().models) {
      data.push_back({{"id", m.alias}, {"object", "model"}, {"created", 0}, {"owned_by", "lineage"}});
    }
    return HttpResponse{200, json{{"object", "list"}, {"data", data}}.dump()};
  }

  std::filesystem::path CachePath(const std::string& hash) const { return options.cache_dir / (hash + ".json"); }

  static std::string RequestHash(const ModelConfig& m, ChatRequest request) {
    request.model.clear();  // the alias does not matter; the upstream model does
    return Sha256Hex(json{{"model", m.model}, {"provider", ProviderName(m.provider)}, {"request", ToJson(request)}}.dump());
  }

  // A recorded run's answer (CallReplayer) as the upstream's would be.
  static CallResult FromRecording(const ApiCodec& codec, ReplayedCall replayed) {
    CallResult result;
    result.provider = replayed.provider;
    result.model = replayed.model;
    result.attempts = 1;
    if (replayed.error.kind != ErrorKind::kNone) {
      result.error = replayed.error;
      return result;
    }
    Result<ChatResponse> response = codec.ReadResponse(replayed.response_body);
    if (!response.ok() && response.status().code() == Status::Code::kNotFound) {
      result.error = {ErrorKind::kNotRecorded, 0, "replay: " + response.status().message()};
      return result;
    }
    if (!response.ok()) {
      result.error = {ErrorKind::kMalformedResponse, 0, "replay: the recorded response: " + response.status().message()};
      return result;
    }
    response->usage = replayed.usage;
    result.response = std::move(*response);
    result.cost_usd = replayed.cost_usd;
    return result;
  }

  CallResult Replay(const ModelConfig& m, const std::string& hash) {
    CallResult result;
    result.provider = ProviderName(m.provider);
    result.model = m.model;
    std::lock_guard lock(cache_mu);
    Result<std::string> text = ReadFile(CachePath(hash));
    json stored = text.ok() ? json::parse(*text, nullptr, false) : json();
    if (!stored.is_array() || stored.empty()) {
      result.error = {ErrorKind::kNotRecorded, 0,
                      "replay: no recorded response for this request (hash " + hash.substr(0, 12) + ") in " +
                          options.cache_dir.string() + "; the agent asked something the recorded run did not"};
      return result;
    }
    // Identical requests made several times get the recorded responses in order, then the last again.
    size_t& position = replay_positions[hash];
    Result<ChatResponse> response = ChatResponseFromJson(stored[std::min(position, stored.size() - 1)]);
    ++position;
    if (!response.ok()) {
      result.error = {ErrorKind::kMalformedResponse, 0, "replay: " + CachePath(hash).string() + ": " + response.status().message()};
      return result;
    }
    result.response = std::move(response).value();
    result.attempts = 1;
    if (m.price) result.cost_usd = CostUsd(result.response->usage, *m.price);
    return result;
  }

  void Store(const std::string& hash, const ChatResponse& response) {
    std::lock_guard lock(cache_mu);
    Result<std::string> text = ReadFile(CachePath(hash));
    json stored = text.ok() ? json::parse(*text, nullptr, false) : json::array();
    if (!stored.is_array()) stored = json::array();
    stored.push_back(ToJson(response));
    Status status = WriteFileAtomic(CachePath(hash), stored.dump(1));
    if (!status.ok()) spdlog::error("gateway: cannot record a response: {}", status.message());
  }

  HttpResponse Handle(const HttpRequest& http) {
    const auto start = Clock::now();
    const ApiCodec* codec = FindCodec(http.method, http.target);
    const wire::Dialect dialect = codec ? codec->dialect() : wire::Dialect::kOpenAI;
    if (!codec && !(http.method == "GET" && http.target == "/v1/models")) {
      std::string served;
      for (const ApiCodec* c : Codecs()) served += std::string("POST ") + c->path() + ", ";
      served.erase(served.size() - 2);  // the last ", "
      return ErrorResponse(dialect, ErrorKind::kNotRecorded, "lineage's gateway serves " + served + " and GET /v1/models");
    }
    std::optional<Grant> grant = Find(TokenOf(http));
    if (!grant) {
      HttpResponse refused = ErrorResponse(dialect, ErrorKind::kAuth, "unknown or missing gateway token; use the token "
                                                                      "lineage gave this sandbox (Authorization: Bearer "
                                                                      "TOKEN or x-api-key: TOKEN)");
      refused.close = true;  // a connection opened with a bad token serves nobody after
      return refused;
    }
    if (http.method == "GET") return Models();

    auto record = std::make_shared<CallRecord>();
    record->who = grant->who;
    record->who.label = CleanPurpose(http.Header("x-lineage-purpose"));
    record->dialect = codec->record_dialect();
    record->request_body = http.body;
    HttpResponse response = Serve(*codec, http, *grant, record, start);
    if (!response.stream) Conclude(*record, *grant, response, start);  // a stream concludes itself as it ends
    return response;
  }

  // Counts and records a call that has been answered.
  void Conclude(CallRecord& record, const Grant& grant, const HttpResponse& response, Clock::time_point start) {
    if (record.response_body.empty()) record.response_body = response.body;
    if (record.outcome != "ok") {
      CountFault(record);
      // A refused call is not worth its whole body, nor free.
      record.request_body = ClipText(record.request_body, kMaxRefusedRecordBytes);
      record.response_body = ClipText(record.response_body, kMaxRefusedRecordBytes);
      // (A call refused for the budget itself is not counted: that budget is spent already.)
      if (!record.charged && record.outcome != ErrorKindName(ErrorKind::kBudgetExceeded)) {
        grant.budget->Settle(Spend{}, Spend{0, 0, 1});
      }
    }
    record.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    Enqueue(std::move(record));
  }

  void CountFault(const CallRecord& record) {
    std::lock_guard lock(mu);
    if (record.error_kind == ErrorKind::kBudgetExceeded) {
      ++faults.budget;
      return;
    }
    if (record.error_kind == ErrorKind::kTimeout) ++faults.timeouts;
    if (IsWorldFault(record.error_kind) && faults.world++ == 0) {
      faults.first_world = record.outcome + ": " + record.error;
      faults.first_alias = record.alias;
    }
  }

  // Settles an admitted call at `usage` and `cost_usd`, and leaves them saying what the budget was charged:
  // that is what the caller is told and what the call is recorded with, so that a budget rebuilt from the
  // records (a resumed run) is spent exactly as this one is. An upstream reporting more than the budget
  // allowed (Budget::Settle) is charged what it allowed, output first.
  static void Charge(const Grant& grant, const Spend& estimate, const std::string& alias, Usage& usage, double& cost_usd) {
    const Spend charged = grant.budget->Settle(estimate, Spend{usage.input + usage.output, cost_usd, 1});
    if (charged.tokens == usage.input + usage.output && charged.cost_usd == cost_usd) return;
    spdlog::warn("gateway: the upstream of '{}' reported {} tokens ({}) for a call its budget allowed {} ({}); "
                 "charged and recorded at that",
                 alias, usage.input + usage.output, Dollars(cost_usd), charged.tokens, Dollars(charged.cost_usd));
    usage.output = std::clamp<std::int64_t>(charged.tokens - usage.input, 0, usage.output);
    usage.input = std::min(usage.input, charged.tokens - usage.output);
    usage.reasoning = std::min(usage.reasoning, usage.output);
    usage.cache_read = std::min(usage.cache_read, usage.input);
    usage.cache_write = std::min(usage.cache_write, usage.input - usage.cache_read);
    cost_usd = charged.cost_usd;
  }

  static void Failed(CallRecord& record, ErrorKind kind, const std::string& message) {
    record.outcome = ErrorKindName(kind);
    record.error_kind = kind;
    record.error = message;
  }

  // Parses, admits, calls and answers; fills `record` on the way (a streamed answer, as it ends).
  HttpResponse Serve(const ApiCodec& codec, const HttpRequest& http, const Grant& grant,
                     const std::shared_ptr<CallRecord>& call, Clock::time_point start) {
    const wire::Dialect dialect = codec.dialect();
    CallRecord& record = *call;
    auto refuse = [&](ErrorKind kind, const std::string& message) {
      Failed(record, kind, message);
      return ErrorResponse(dialect, kind, message);
    };
    // A spent budget refuses before the body is even read as JSON: a flood past it costs nothing more.
    if (std::string spent = grant.budget->Exhausted(); !spent.empty()) {
      return refuse(ErrorKind::kBudgetExceeded, "budget exhausted: " + spent + "; this caller gets no more model calls");
    }
    if (JsonNesting(http.body) > kMaxNesting) {
      return refuse(ErrorKind::kBadRequest, "the request body nests deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    json body = json::parse(http.body, nullptr, false);
    if (body.is_discarded()) return refuse(ErrorKind::kBadRequest, "the request body is not valid JSON");
    // A field of the wrong type deep in a hostile body must be the caller's 400, recorded and counted,
    // never an exception past the ledger.
    Result<ChatRequest> request = Status::Internal("not parsed");
    try {
      request = codec.ParseRequest(body);
    } catch (const json::exception& e) {
      request = Status::InvalidArgument(std::string("the request has a field of the wrong type: ") + e.what());
    }
    if (!request.ok()) return refuse(ErrorKind::kBadRequest, request.status().message());
    record.alias = request->model;
    const ModelConfig* m = client.config().Find(request->model);
    if (!m) {
      return refuse(ErrorKind::kBadRequest, "model '" + request->model + "' is not configured; ask for one of: " +
                                                client.config().AliasList());
    }
    record.provider = ProviderName(m->provider);
    record.model = m->model;

    const std::int64_t prompt_estimate = static_cast<std::int64_t>(http.body.size() / 4);
    const int max_tokens = request->max_tokens.value_or(m->default_max_tokens);
    Spend estimate{prompt_estimate + max_tokens,
                   m->price ? CostUsd(Usage{prompt_estimate, max_tokens, 0, 0, 0}, *m->price) : 0.0, 1};
    if (std::string over = grant.budget->Reserve(estimate); !over.empty()) {
      // A call of the model's usual size would still fit: the caller asked for too much, which is its own
      // doing (400), not the budget running out (402, which a run takes for the end of its budget).
      const int usual = std::min(max_tokens, m->default_max_tokens);
      Spend typical{prompt_estimate + usual, m->price ? CostUsd(Usage{prompt_estimate, usual, 0, 0, 0}, *m->price) : 0.0, 1};
      if (usual < max_tokens && grant.budget->Fits(typical)) {
        return refuse(ErrorKind::kBadRequest, "max_tokens " + std::to_string(max_tokens) + " would pass the budget (" + over +
                                                  "); ask for at most " + std::to_string(usual));
      }
      return refuse(ErrorKind::kBudgetExceeded, "budget exhausted: " + over + "; this caller gets no more model calls");
    }

    record.charged = true;  // Settle below counts the call
    const std::string hash = options.cache_mode == CacheMode::kOff ? "" : RequestHash(*m, *request);
    const wire::StreamRequest stream = wire::ParseStreamRequest(body);
    if (stream.stream && options.cache_mode != CacheMode::kReplay && !options.replayer) {
      return StreamCall(&codec, stream, *m, std::move(*request), grant, estimate, max_tokens, hash, call, start);
    }
    CallResult result;
    if (options.replayer) {
      result = FromRecording(codec, options.replayer->Answer(grant.who, codec.name(), http.body));
      record.replayed = true;
    } else if (options.cache_mode == CacheMode::kReplay) {
      result = Replay(*m, hash);
      record.replayed = true;
    } else {
      result = client.Call(m->alias, *request);
    }
    record.attempts = result.attempts;
    if (!result.ok()) {
      grant.budget->Settle(estimate, Spend{0, 0, 1});  // nothing was produced
      return refuse(result.error.kind, result.error.message);
    }
    Charge(grant, estimate, m->alias, result.response->usage, result.cost_usd);

    if (options.cache_mode == CacheMode::kRecord) Store(hash, *result.response);
    record.outcome = "ok";
    record.usage = result.response->usage;
    record.cost_usd = result.cost_usd;
    // The record keeps the whole response; a caller that asked for a stream gets it as its API's events.
    record.response_body = codec.WriteResponse(*result.response).dump();
    if (!stream.stream) return HttpResponse{200, record.response_body};
    HttpResponse streamed{200, StreamBody(codec, *result.response, stream.include_usage)};
    streamed.content_type = "text/event-stream";
    streamed.headers.push_back({"cache-control", "no-cache"});
    return streamed;
  }

  // Calls the upstream streaming and writes the caller's stream as the pieces arrive. The answer is
  // cut, with the API's error event, when it outgrows what was reserved for it (`reserved_output`
  // tokens) and the budget cannot cover the excess, or when the upstream fails midway.
  HttpResponse StreamCall(const ApiCodec* codec, wire::StreamRequest stream, const ModelConfig& m, ChatRequest request,
                          const Grant& grant, Spend estimate, std::int64_t reserved_output, std::string hash,
                          std::shared_ptr<CallRecord> call, Clock::time_point start) {
    HttpResponse out{200, ""};
    out.content_type = "text/event-stream";
    out.headers.push_back({"cache-control", "no-cache"});
    out.stream = [=, this](net::StreamWriter& writer) {
      CallRecord& record = *call;
      const std::unique_ptr<StreamEncoder> encoder = codec->NewStreamEncoder(stream.include_usage);
      std::int64_t output_bytes = 0;
      std::optional<ModelError> stopped;  // why the gateway ended the answer early
      bool client_gone = false;
      auto output_cost = [&](std::int64_t tokens) { return m.price ? CostUsd(Usage{0, tokens, 0, 0, 0}, *m.price) : 0.0; };
      CallResult result = client.Call(m.alias, request, [&](const StreamDelta& piece) {
        output_bytes += static_cast<std::int64_t>(piece.text.size());
        const std::int64_t over = output_bytes / 4 - reserved_output;
        if (over > 0 && !grant.budget->Fits(Spend{over, output_cost(over), 0})) {
          stopped = ModelError{ErrorKind::kBudgetExceeded, 0,
                               "budget exhausted mid-answer: the answer outgrew the " + std::to_string(reserved_output) +
                                   " tokens reserved for it and the budget cannot cover more"};
          return false;
        }
        if (!writer.Write(encoder->Piece(piece))) {
          client_gone = true;
          stopped = ModelError{ErrorKind::kBadRequest, 0, "the caller closed the connection mid-answer"};
          return false;
        }
        return true;
      });
      record.attempts = result.attempts;
      if (result.ok() && !stopped) {
        Usage& usage = result.response->usage;
        if (usage.input == 0 && usage.output == 0) {
          // A stream that reported no usage (an upstream ignoring stream_options) is not free: charge the
          // prompt's estimate and what was produced, and record them as such.
          usage.input = estimate.tokens - reserved_output;
          usage.output = output_bytes / 4;
          if (m.price) result.cost_usd = CostUsd(usage, *m.price);
        }
        Charge(grant, estimate, m.alias, usage, result.cost_usd);
        if (options.cache_mode == CacheMode::kRecord) Store(hash, *result.response);
        record.outcome = "ok";
        record.usage = result.response->usage;
        record.cost_usd = result.cost_usd;
        record.response_body = codec->WriteResponse(*result.response).dump();
        // Recorded before the last event leaves: a caller that has its answer finds the call on record.
        const std::string last = encoder->Finish(*result.response);
        Conclude(record, grant, HttpResponse{}, start);
        writer.Write(last);
        return HttpResponse{};
      }
      const ModelError error = stopped ? *stopped : result.error;
      // An answer ended early is paid for all the same, and recorded with what it was charged.
      Usage used;
      double cost = 0;
      if (client_gone) {
        // A caller that hangs up mid-answer is charged all it reserved: the provider may have produced (and
        // billed) hidden reasoning the gateway never saw.
        used = Usage{estimate.tokens - reserved_output, reserved_output, 0, 0, 0};
        cost = estimate.cost_usd;
      } else if (encoder->started()) {
        // What the provider produced before the end.
        used = Usage{estimate.tokens - reserved_output, output_bytes / 4, 0, 0, 0};
        cost = m.price ? CostUsd(used, *m.price) : 0.0;
      }
      Charge(grant, estimate, m.alias, used, cost);
      record.usage = used;
      record.cost_usd = cost;
      Failed(record, error.kind, error.message);
      if (!encoder->started()) {
        HttpResponse refused = ErrorResponse(codec->dialect(), error.kind, error.message);
        Conclude(record, grant, refused, start);
        return refused;
      }
      const std::string last = encoder->Fail(error);
      record.response_body = last;
      Conclude(record, grant, HttpResponse{}, start);
      writer.Write(last);
      return HttpResponse{};
    };
    return out;
  }
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() { Stop(); }

Result<std::unique_ptr<Gateway>> Gateway::Start(ModelsConfig models, GatewayOptions options) {
  if (options.cache_mode != CacheMode::kOff) {
    if (options.cache_dir.empty()) return Status::InvalidArgument("record and replay need a cache directory");
    std::error_code ec;
    if (options.cache_mode == CacheMode::kReplay && !std::filesystem::is_directory(options.cache_dir, ec)) {
      return Status::NotFound("replay cache " + options.cache_dir.string() + " does not exist; record a run first");
    }
    std::filesystem::create_directories(options.cache_dir, ec);
    if (ec) return Status::IOError("cannot create " + options.cache_dir.string() + ": " + ec.message());
  }
  auto impl = std::make_unique<Impl>(std::move(models));
  impl->options = std::move(options);
  Impl* raw = impl.get();
  HttpServerOptions http_options;
  http_options.unix_socket = raw->options.unix_socket;
  http_options.tcp_listen = raw->options.tcp_listen;
  http_options.max_body_bytes = raw->options.max_body_bytes;
  http_options.max_bytes_in_flight = raw->options.max_bytes_in_flight;
  http_options.max_connections = raw->options.max_connections;
  http_options.max_connections_per_client = raw->options.max_connections_per_token;
  // Connections count against a token only once it is a token this gateway gave.
  http_options.client_key = [raw](const HttpRequest& r) {
    std::string token = TokenOf(r);
    return raw->Find(token) ? token : std::string();
  };
  LINEAGE_ASSIGN_OR_RETURN(impl->http,
                           HttpServer::Start(http_options, [raw](const HttpRequest& r) { return raw->Handle(r); }));
  raw->record_thread = std::thread([raw] { raw->RecordLoop(); });
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

std::string Gateway::IssueToken(Attribution who, std::shared_ptr<Budget> budget) {
  std::string token = NewToken();
  AddToken(token, std::move(who), std::move(budget));
  return token;
}

void Gateway::AddToken(const std::string& token, Attribution who, std::shared_ptr<Budget> budget) {
  std::lock_guard lock(impl_->mu);
  impl_->grants[token] = Grant{std::move(who), budget ? std::move(budget) : std::make_shared<Budget>()};
}

void Gateway::RevokeToken(const std::string& token) {
  std::lock_guard lock(impl_->mu);
  impl_->grants.erase(token);
}

Gateway::Faults Gateway::faults() const {
  std::lock_guard lock(impl_->mu);
  return impl_->faults;
}

std::string Gateway::tcp_url() const { return impl_->http->tcp_url(); }
const std::string& Gateway::unix_socket() const { return impl_->http->unix_socket(); }
void Gateway::Flush() { impl_->Flush(); }

void Gateway::Stop() {
  if (impl_->http) impl_->http->Stop();
  {
    std::lock_guard lock(impl_->record_mu);
    impl_->stop_recording = true;
  }
  impl_->record_cv.notify_all();
  if (impl_->record_thread.joinable()) impl_->record_thread.join();
}

}  // namespace lineage::llm
