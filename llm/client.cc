// ModelClient: libcurl, retries with backoff, deadlines, a concurrency cap per provider endpoint.
#include <curl/curl.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "base/environment.h"
#include "base/files.h"
#include "llm/llm.h"
#include "llm/wire.h"

namespace lineage::llm {

namespace {

// Connections to the provider are close-on-exec, like every descriptor lineage opens: a sandbox started
// meanwhile must never hold one (it would make calls nobody meters or records).
curl_socket_t OpenSocket(void*, curlsocktype, curl_sockaddr* address) {
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr std::size_t kMaxResponseBytes = 64 << 20;

// At most `capacity` holders at once; waiting gives up at a deadline.
class Limiter {
 public:
  explicit Limiter(int capacity) : free_(capacity) {}
  bool Acquire(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return free_ > 0; })) return false;
    --free_;
    return true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

struct Attempt {
  CURLcode curl = CURLE_OK;
  long http_status = 0;
  std::string body;
  std::optional<std::int64_t> retry_after_ms;
  bool too_large = false;
  // A streamed call: a 2xx event stream goes to the decoder as it arrives; anything else is a body.
  CURL* handle = nullptr;
  wire::StreamDecoder* decoder = nullptr;
  std::optional<bool> streaming;  // known at the first byte of the body
  std::size_t streamed_bytes = 0;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* attempt = static_cast<Attempt*>(user);
  if (attempt->decoder && !attempt->streaming) {
    long status = 0;
    char* type = nullptr;
    curl_easy_getinfo(attempt->handle, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(attempt->handle, CURLINFO_CONTENT_TYPE, &type);
    attempt->streaming = status >= 200 && status < 300 && type && std::strstr(type, "text/event-stream");
  }
  if (attempt->streaming.value_or(false)) {
    // A stream is bounded as a whole answer is: a provider that never ends an event cannot grow the buffer.
    if ((attempt->streamed_bytes += size * n) > kMaxResponseBytes) {
      attempt->too_large = true;
      return 0;
    }
    return attempt->decoder->Feed(std::string_view(data, size * n)) ? size * n : 0;  // 0 aborts the transfer
  }
  if (attempt->body.size() + size * n > kMaxResponseBytes) {
    attempt->too_large = true;
    return 0;  // aborts the transfer
  }
  attempt->body.append(data, size * n);
  return size * n;
}

std::optional<std::int64_t> ParseSeconds(const std::string& value, double scale) {
  try {
    size_t used = 0;
    double v = std::stod(value, &used);
    if (used == 0 || v < 0) return std::nullopt;
    return static_cast<std::int64_t>(v * scale);
  } catch (const std::exception&) {
    return std::nullopt;  // an HTTP date: rare; the backoff applies instead
  }
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* attempt = static_cast<Attempt*>(user);
  std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r\n") + 1);
    // OpenAI sends retry-after-ms; everyone sends retry-after in seconds.
    if (name == "retry-after-ms") attempt->retry_after_ms = ParseSeconds(value, 1);
    if (name == "retry-after" && !attempt->retry_after_ms) attempt->retry_after_ms = ParseSeconds(value, 1000);
  }
  return size * n;
}

std::string Endpoint(const ModelConfig& m) {
  if (m.provider == Provider::kOpenAI) return m.base_url + "/chat/completions";
  // Anthropic's documented base has no /v1; accept both spellings.
  const bool has_v1 = m.base_url.size() >= 3 && m.base_url.compare(m.base_url.size() - 3, 3, "/v1") == 0;
  return m.base_url + (has_v1 ? "/messages" : "/v1/messages");
}

std::string Redact(std::string text, const std::string& secret) {
  if (secret.size() < 4) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "[redacted]");
  }
  return text;
}

ModelError TransportError(CURLcode code, const std::string& url, bool* retryable) {
  ModelError e;
  *retryable = true;
  const std::string detail = std::string(" (") + curl_easy_strerror(code) + ")";
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      e.kind = ErrorKind::kTimeout;
      e.message = "no answer from " + url + " before the deadline" + detail + "; raise timeout_s if the model is slow";
      break;
    case CURLE_COULDNT_CONNECT:
      e.kind = ErrorKind::kUnreachable;
      e.message = "cannot connect to " + url + detail + "; is the server running and base_url right?";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      *retryable = false;
      e.kind = ErrorKind::kUnreachable;
      e.message = "cannot resolve the host of " + url + detail + "; check base_url";
      break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      *retryable = false;
      e.kind = ErrorKind::kConfig;
      e.message = "base_url gives a bad URL: " + url + detail;
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      *retryable = false;
      e.kind = ErrorKind::kUnreachable;
      e.message = "TLS failed with " + url + detail;
      break;
    default:  // GOT_NOTHING, RECV_ERROR, SEND_ERROR, PARTIAL_FILE: the connection dropped
      e.kind = ErrorKind::kUnreachable;
      e.message = "the connection to " + url + " dropped" + detail;
      break;
  }
  return e;
}

}  // namespace

struct ModelClient::Impl {
  ModelsConfig config;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Limiter>> limiters;  // by provider and base_url
  std::vector<CURL*> idle_handles;  // kept for their open connections
  std::mt19937_64 rng{std::random_device{}()};

  ~Impl() {
    for (CURL* h : idle_handles) curl_easy_cleanup(h);
  }

  std::shared_ptr<Limiter> LimiterFor(const ModelConfig& m) {
    std::lock_guard lock(mu);
    auto& limiter = limiters[std::string(ProviderName(m.provider)) + " " + m.base_url + " " + m.unix_socket];
    if (!limiter) limiter = std::make_shared<Limiter>(m.max_concurrency);
    return limiter;
  }

  CURL* TakeHandle() {
    std::lock_guard lock(mu);
    if (idle_handles.empty()) return curl_easy_init();
    CURL* h = idle_handles.back();
    idle_handles.pop_back();
    return h;
  }

  void ReturnHandle(CURL* h) {
    std::lock_guard lock(mu);
    idle_handles.push_back(h);
  }

  double Jitter() {
    std::lock_guard lock(mu);
    return std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  }

  Attempt Post(const ModelConfig& m, const std::string& url, curl_slist* headers, const std::string& body,
               std::int64_t remaining_ms, wire::StreamDecoder* decoder) {
    Attempt attempt;
    CURL* h = TakeHandle();
    attempt.handle = h;
    attempt.decoder = decoder;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<std::int64_t>(m.connect_timeout_ms, remaining_ms)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining_ms));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &attempt);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &attempt);
    if (!m.unix_socket.empty()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, m.unix_socket.c_str());
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    attempt.curl = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &attempt.http_status);
    ReturnHandle(h);
    return attempt;
  }

  // One attempt's outcome: a response, or an error and whether another attempt may help.
  CallResult Judge(const ModelConfig& m, const std::string& url, const Attempt& a, bool* retryable) {
    CallResult result;
    *retryable = false;
    if (a.streaming.value_or(false)) return JudgeStream(url, a, retryable);
    if (a.too_large) {
      result.error = {ErrorKind::kMalformedResponse, static_cast<int>(a.http_status),
                      "the response from " + url + " is larger than 64 MiB"};
      return result;
    }
    if (a.curl != CURLE_OK) {
      result.error = TransportError(a.curl, url, retryable);
      return result;
    }
    if (a.http_status < 200 || a.http_status >= 300) {
      result.error = wire::ClassifyHttpError(static_cast<int>(a.http_status), a.body);
      *retryable = IsRetryable(result.error.kind);
      return result;
    }
    json body = JsonNesting(a.body) > kMaxNesting ? json(json::value_t::discarded) : json::parse(a.body, nullptr, false);
    auto dialect = m.provider == Provider::kOpenAI ? wire::Dialect::kOpenAI : wire::Dialect::kAnthropic;
    Result<ChatResponse> parsed = body.is_discarded() ? Result<ChatResponse>(Status::InvalidArgument("it is not JSON"))
                                                      : wire::ParseResponse(dialect, body);
    if (!parsed.ok()) {
      result.error = {ErrorKind::kMalformedResponse, static_cast<int>(a.http_status),
                      "the response from " + url + " is malformed: " + parsed.status().message() +
                          "; is base_url a " + ProviderName(m.provider) + "-compatible server?"};
      return result;
    }
    result.response = std::move(parsed).value();
    return result;
  }

  CallResult JudgeStream(const std::string& url, const Attempt& a, bool* retryable);
};

// A streamed attempt: the answer, or why it ended early. Retried only while the caller has seen nothing.
CallResult ModelClient::Impl::JudgeStream(const std::string& url, const Attempt& a, bool* retryable) {
  CallResult result;
  const wire::StreamDecoder& decoder = *a.decoder;
  if (a.too_large) {
    result.error = {ErrorKind::kMalformedResponse, static_cast<int>(a.http_status),
                    "the stream from " + url + " is larger than 64 MiB"};
    return result;
  }
  if (decoder.stopped()) {
    result.error = {ErrorKind::kUnreachable, static_cast<int>(a.http_status), "the caller stopped the stream from " + url};
    return result;
  }
  if (decoder.error()) {
    result.error = *decoder.error();
    *retryable = IsRetryable(result.error.kind);
  } else if (a.curl != CURLE_OK) {
    result.error = TransportError(a.curl, url, retryable);
    result.error.message = "mid-stream, " + result.error.message;
  } else if (Result<ChatResponse> whole = a.decoder->Finish(); !whole.ok()) {
    result.error = {ErrorKind::kMalformedResponse, static_cast<int>(a.http_status),
                    "the stream from " + url + " is malformed: " + whole.status().message()};
  } else {
    result.response = std::move(whole).value();
    return result;
  }
  if (decoder.handed_over()) *retryable = false;
  return result;
}

ModelClient::ModelClient(ModelsConfig config) : impl_(std::make_unique<Impl>()) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->config = std::move(config);
}

ModelClient::~ModelClient() = default;

const ModelsConfig& ModelClient::config() const { return impl_->config; }

CallResult ModelClient::Call(const std::string& alias, const ChatRequest& request, const DeltaHandler& on_delta) {
  const auto start = Clock::now();
  auto finish = [&](CallResult result, const ModelConfig* m, const std::string& secret) {
    result.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    result.error.message = Redact(result.error.message, secret);
    if (m) {
      result.provider = ProviderName(m->provider);
      result.model = m->model;
      if (result.response && m->price) result.cost_usd = CostUsd(result.response->usage, *m->price);
    }
    return result;
  };

  const ModelConfig* m = impl_->config.FindAlias(alias);
  if (!m) {
    CallResult result;
    result.error = {ErrorKind::kConfig, 0,
                    "no model alias '" + alias + "' in " + impl_->config.source + "; configured: " +
                        impl_->config.AliasList()};
    return finish(std::move(result), nullptr, "");
  }

  std::string key = m->gateway_token;
  if (key.empty() && !m->api_key_env.empty()) {
    const char* value = std::getenv(m->api_key_env.c_str());
    if (!value || !*value) {
      CallResult result;
      result.error = {ErrorKind::kConfig, 0,
                      MissingVariable(m->api_key_env, "environment variable " + m->api_key_env + " (api_key_env of [models." +
                                                          m->alias + "]) is not set; export the provider's key in it")};
      return finish(std::move(result), m, "");
    }
    key = value;
  }

  const std::string url = Endpoint(*m);
  const wire::Dialect dialect = m->provider == Provider::kOpenAI ? wire::Dialect::kOpenAI : wire::Dialect::kAnthropic;
  json wire_request;
  if (m->provider == Provider::kAnthropic && m->prompt_cache == ModelConfig::PromptCache::kAuto) {
    ChatRequest cached = request;
    AddCacheBreakpoints(cached);
    wire_request = wire::AnthropicRequest(cached, m->model, m->default_max_tokens);
  } else {
    wire_request = wire::Request(dialect, request, m->model, m->default_max_tokens);
  }
  if (on_delta) {
    wire_request["stream"] = true;
    if (dialect == wire::Dialect::kOpenAI) wire_request["stream_options"] = {{"include_usage", true}};
  }
  const std::string body = wire_request.dump();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip on large prompts
  if (m->provider == Provider::kAnthropic) {
    headers = curl_slist_append(headers, "anthropic-version: 2023-06-01");
    if (!key.empty()) headers = curl_slist_append(headers, ("x-api-key: " + key).c_str());
  } else if (!key.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + key).c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers, curl_slist_free_all);

  const auto deadline = start + std::chrono::milliseconds(m->timeout_ms);
  auto limiter = impl_->LimiterFor(*m);
  if (!limiter->Acquire(deadline)) {
    CallResult result;
    result.error = {ErrorKind::kTimeout, 0,
                    "waited " + std::to_string(m->timeout_ms / 1000) + " s for one of the " +
                        std::to_string(m->max_concurrency) + " call slots of " + url +
                        " (max_concurrency); raise it or timeout_s"};
    return finish(std::move(result), m, key);
  }
  struct Release {
    Limiter* l;
    ~Release() { l->Release(); }
  } release{limiter.get()};

  CallResult result;
  for (int attempt = 1;; ++attempt) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (remaining <= 0) {
      result.error = {ErrorKind::kTimeout, result.error.http_status,
                      "no answer from " + url + " within timeout_s (" + std::to_string(m->timeout_ms / 1000) +
                          " s, retries included)" +
                          (result.error.message.empty() ? "" : "; last error: " + result.error.message)};
      return finish(std::move(result), m, key);
    }
    std::optional<wire::StreamDecoder> decoder;
    if (on_delta) decoder.emplace(dialect, on_delta);
    Attempt a = impl_->Post(*m, url, headers, body, remaining, decoder ? &*decoder : nullptr);
    bool retryable = false;
    const int attempts = attempt;
    result = impl_->Judge(*m, url, a, &retryable);
    result.attempts = attempts;
    if (result.ok()) {
      // A provider that answered a stream request whole: the caller gets the pieces all the same.
      if (on_delta && !a.streaming.value_or(false)) {
        for (const StreamDelta& piece : wire::Pieces(*result.response)) {
          if (!on_delta(piece)) break;
        }
      }
      return finish(std::move(result), m, key);
    }
    spdlog::debug("model call to [models.{}] attempt {} failed: {}", m->alias, attempt,
                  Redact(result.error.message, key));
    if (!retryable || attempt > m->max_retries) return finish(std::move(result), m, key);

    std::int64_t wait_ms = a.retry_after_ms.value_or(static_cast<std::int64_t>(
        std::min<double>(m->retry_max_ms, m->retry_initial_ms * std::pow(2.0, attempt - 1)) * impl_->Jitter()));
    if (Clock::now() + std::chrono::milliseconds(wait_ms) >= deadline) {
      result.error.message += "; no time left within timeout_s for another attempt";
      return finish(std::move(result), m, key);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

std::vector<CallResult> ProbeModels(ModelsConfig models, const std::vector<std::string>& aliases) {
  for (ModelConfig& m : models.models) {
    m.timeout_ms = std::min(m.timeout_ms, 60'000);
    m.max_retries = std::min(m.max_retries, 1);
  }
  ModelClient client(std::move(models));
  ChatRequest request;
  request.messages.push_back(Message::User("Reply with the single word: ok"));
  request.max_tokens = 16;
  std::vector<CallResult> results;
  for (const std::string& alias : aliases) results.push_back(client.Call(alias, request));
  return results;
}

ModelError ConnectToModel(const ModelsConfig& models, const std::string& alias) {
  const ModelConfig* m = models.FindAlias(alias);
  if (!m) return {ErrorKind::kConfig, 0, "no model alias '" + alias + "' in " + models.source};
  CURL* h = curl_easy_init();
  if (!h) return {ErrorKind::kConfig, 0, "libcurl cannot start"};
  const std::string url = Endpoint(*m);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m->connect_timeout_ms));
  if (!m->unix_socket.empty()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, m->unix_socket.c_str());
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  const CURLcode code = curl_easy_perform(h);
  long os_errno = 0;
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  curl_easy_cleanup(h);
  if (code == CURLE_OK) return {};
  bool retryable = false;
  ModelError e = TransportError(code, url, &retryable);
  // Only a refusal says nothing listens there. A name not resolved, a network down, a proxy or TLS failing
  // may pass (a machine still booting, a VPN not up yet): those are the world's, like no answer at all.
  const bool refused = code == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED;
  if (e.kind == ErrorKind::kUnreachable && !refused) e.kind = ErrorKind::kTimeout;
  return e;
}

}  // namespace lineage::llm
