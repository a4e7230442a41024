// llm: how lineage reaches foundation models.
//
// One internal request/response form (ChatRequest, ChatResponse) stands for both wire formats lineage
// speaks: OpenAI Chat Completions (OpenAI and every compatible server: vLLM, Ollama, llama.cpp, OpenRouter)
// and Anthropic Messages. A ModelClient calls the models named in a TOML configuration, one table per alias:
//
//   [models.default]
//   provider = "openai"             # openai (any compatible server) | anthropic
//   base_url = "https://api.openai.com/v1"
//   model = "gpt-4.1-mini"
//   api_key_env = "OPENAI_API_KEY"  # the variable that holds the key; never the key itself
//
// Optional keys per table are listed in docs/models.md (timeouts, retries, concurrency, prices).
//
// Keys are read from the environment when a call is made, and are never logged, returned in an error
// message or written anywhere. Agents never see them: they call the Gateway (llm/gateway.h), which calls
// a ModelClient on their behalf.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace lineage::llm {

// --- The internal form --------------------------------------------------------------------------------

enum class Role { kUser, kAssistant };

// A piece of a message. Tool results travel in user messages, as in Anthropic's format.
struct Block {
  enum class Kind { kText, kToolCall, kToolResult };
  Kind kind = Kind::kText;
  std::string text;      // kText; kToolResult: the result's text
  std::string id;        // kToolCall: the call id; kToolResult: the id of the call it answers
  std::string name;      // kToolCall: the tool's name
  nlohmann::json input;  // kToolCall: the arguments (an object; a string when a model sent invalid JSON)
  bool is_error = false;  // kToolResult
  bool cache = false;     // a prompt-cache breakpoint: the prompt up to and including this block is cached

  static Block Text(std::string text);
  static Block ToolCall(std::string id, std::string name, nlohmann::json input);
  static Block ToolResult(std::string id, std::string text, bool is_error = false);
};

struct Message {
  Role role = Role::kUser;
  std::vector<Block> content;

  static Message User(std::string text);
  static Message Assistant(std::string text);
  // All the text blocks, joined by newlines.
  std::string Text() const;
};

struct Tool {
  std::string name;
  std::string description;
  nlohmann::json parameters = nlohmann::json::object();  // JSON Schema of the arguments
  bool cache = false;  // a prompt-cache breakpoint after the tools up to this one
};

struct ToolChoice {
  enum class Mode { kAuto, kAny, kNone, kTool };
  Mode mode = Mode::kAuto;
  std::string name;  // kTool
};

struct ChatRequest {
  std::string model;   // an alias of the configuration (or, at the gateway, a configured model name)
  std::string system;  // empty: none
  bool system_cache = false;  // a prompt-cache breakpoint after the system prompt
  std::vector<Message> messages;
  std::vector<Tool> tools;
  std::optional<ToolChoice> tool_choice;
  std::optional<int> max_tokens;  // the model table's default_max_tokens when unset
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::vector<std::string> stop;
  std::string reasoning_effort;  // OpenAI reasoning models only; empty: unset
};

enum class StopReason { kEndTurn, kToolUse, kMaxTokens, kStopSequence, kRefusal, kOther };
const char* StopReasonName(StopReason reason);  // "end_turn", "tool_use", ...

struct Usage {
  std::int64_t input = 0;        // every prompt token, cached or not
  std::int64_t output = 0;       // every completion token, reasoning included
  std::int64_t cache_read = 0;   // part of `input` read from the provider's prompt cache
  std::int64_t cache_write = 0;  // part of `input` written to it
  std::int64_t reasoning = 0;    // part of `output` spent on hidden reasoning
};

struct ChatResponse {
  std::string id;
  std::string model;  // as the provider named it
  std::vector<Block> content;  // kText and kToolCall blocks
  StopReason stop_reason = StopReason::kEndTurn;
  Usage usage;

  std::string Text() const;  // all text blocks, joined by newlines
  std::vector<const Block*> ToolCalls() const;
};

// One piece of an answer as it streams in, whatever the provider's format. A stream is one kStart, then
// pieces in order; a block's pieces carry its index (blocks may be text or tool calls, as in `content`).
struct StreamDelta {
  enum class Kind { kStart, kText, kToolCall, kToolArguments };
  Kind kind = Kind::kText;
  int block = 0;
  std::string text;   // kText: text; kToolArguments: a fragment of the arguments' JSON
  std::string id;     // kStart: the response's id; kToolCall: the call's id (a kToolCall opens its block)
  std::string name;   // kToolCall: the tool's name
  std::string model;  // kStart: the model, as the provider names it
  Usage usage;        // kStart: what the provider counted before answering (Anthropic's input tokens)
};
// Takes each piece as it arrives; returning false abandons the call.
using DeltaHandler = std::function<bool(const StreamDelta&)>;

// Anthropic's prompt caching, where the caller marked nothing: breakpoints after the system prompt and on
// the latest turn's last block, so that each call of a growing conversation reads the one before from
// the cache. Breakpoints the caller set are kept; beyond Anthropic's four, the earliest message ones go.
void AddCacheBreakpoints(ChatRequest& request);
// How many breakpoints `request` carries.
int CacheBreakpoints(const ChatRequest& request);

// The internal form as JSON (for record/replay caches, logs and tests). Cache breakpoints are left out:
// they change what a call costs, not what it answers, so a request hashes the same with or without them.
nlohmann::json ToJson(const ChatRequest& request);
nlohmann::json ToJson(const ChatResponse& response);
Result<ChatResponse> ChatResponseFromJson(const nlohmann::json& json);

// --- Errors -------------------------------------------------------------------------------------------

enum class ErrorKind {
  kNone,
  kAuth,               // the provider refused the key
  kBadRequest,         // the request is wrong; retrying will not help
  kContextTooLong,     // the prompt does not fit the model's context window
  kRateLimited,        // 429
  kOverloaded,         // 529 (Anthropic) or 503
  kServer,             // other 5xx
  kTimeout,            // the call's deadline passed
  kUnreachable,        // connection refused or dropped, name not resolved
  kMalformedResponse,  // 2xx with a body that is not the expected JSON
  kBudgetExceeded,     // the gateway refused: the caller's budget is spent
  kConfig,             // lineage's configuration is wrong (missing key variable, unknown alias)
  kNotRecorded,        // replay mode, and this request was never recorded
};
const char* ErrorKindName(ErrorKind kind);  // "auth", "rate_limited", ...
// Whether a call that failed this way is worth retrying.
bool IsRetryable(ErrorKind kind);
// Whether a call that failed this way failed for the world's reasons (the provider, its key, lineage's
// configuration), not for the caller's request or its budget: a run does not hold it against an agent.
bool IsWorldFault(ErrorKind kind);

struct ModelError {
  ErrorKind kind = ErrorKind::kNone;
  int http_status = 0;  // of the last attempt; 0 when there was no HTTP response
  std::string message;  // what happened and what to do about it
};

// The outcome of one call, retries included.
struct CallResult {
  std::optional<ChatResponse> response;  // set on success
  ModelError error;                      // set on failure
  int attempts = 0;
  std::int64_t latency_ms = 0;  // from the call to its outcome, waiting and retries included
  double cost_usd = 0;          // of the successful attempt, from the price table
  std::string provider, model;  // the upstream that answered (or failed)

  bool ok() const { return response.has_value(); }
};

// --- Configuration ------------------------------------------------------------------------------------

enum class Provider { kOpenAI, kAnthropic };
const char* ProviderName(Provider provider);

// US dollars per million tokens.
struct Price {
  double input = 0;
  double output = 0;
  std::optional<double> cache_read;   // the input price when unset
  std::optional<double> cache_write;  // the input price when unset (Anthropic charges 1.25x)
};
// Built-in prices of common models (exact name or a dated variant such as "gpt-4.1-mini-2025-04-14").
std::optional<Price> DefaultPrice(const std::string& model);
double CostUsd(const Usage& usage, const Price& price);

struct ModelConfig {
  std::string alias;  // the table's name: [models.<alias>]
  Provider provider = Provider::kOpenAI;
  std::string base_url;     // defaults to the provider's public API
  std::string model;        // the upstream model name
  std::string api_key_env;  // empty: send no key (local servers)
  std::string gateway_token;  // set by lineage to reach its own gateway; never read from a file
  std::string unix_socket;  // connect through this socket instead of TCP (used to reach a gateway)
  int connect_timeout_ms = 10'000;
  int timeout_ms = 600'000;  // overall deadline of one call, retries and waiting included
  int max_retries = 5;
  int retry_initial_ms = 1'000;  // backoff: doubles per retry, with jitter, up to retry_max_ms
  int retry_max_ms = 60'000;
  int max_concurrency = 16;  // calls in flight to this provider and base_url, shared by its aliases
  int default_max_tokens = 4096;
  // Anthropic upstreams: with kAuto (the default) the client marks prompt-cache breakpoints itself when the
  // caller set none (AddCacheBreakpoints); kOff sends the caller's breakpoints only.
  enum class PromptCache { kAuto, kOff };
  PromptCache prompt_cache = PromptCache::kAuto;
  std::optional<Price> price;  // from the table, else DefaultPrice(model); no cost is counted without one
};

struct ModelsConfig {
  std::string source;  // the file it came from, for messages
  std::vector<ModelConfig> models;

  // The table named `alias`; nullptr when none.
  const ModelConfig* FindAlias(const std::string& alias) const;
  // The table of alias `name`, or else the first whose upstream `model` is `name`; nullptr when none.
  const ModelConfig* Find(const std::string& name) const;
  std::string AliasList() const;  // "default, conductor, expert"
};

Result<ModelsConfig> LoadModelsConfig(const std::filesystem::path& file);
// `source` names the text in error messages.
Result<ModelsConfig> ParseModelsConfig(const std::string& toml, const std::string& source);

// --- The client ---------------------------------------------------------------------------------------

// Calls configured models. Thread-safe: one client serves every thread of a process. Retries 429, 5xx,
// 529, timeouts and dropped connections with exponential backoff and jitter, honouring Retry-After, within
// the alias's overall deadline; never retries other 4xx.
class ModelClient {
 public:
  explicit ModelClient(ModelsConfig config);
  ~ModelClient();
  ModelClient(const ModelClient&) = delete;
  ModelClient& operator=(const ModelClient&) = delete;

  const ModelsConfig& config() const;

  // Calls the model configured for `alias` (request.model is ignored). With `on_delta`, the provider is
  // asked to stream, and each piece is handed over as it arrives; the result holds the whole response all
  // the same. A call is retried only while no piece has been handed over.
  CallResult Call(const std::string& alias, const ChatRequest& request, const DeltaHandler& on_delta = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Calls each of `aliases` once with a tiny prompt, each with at most one retry and 60 s (`lineage models
// check`, `lineage run validate --probe`): whether the models answer, and what it took.
std::vector<CallResult> ProbeModels(ModelsConfig models, const std::vector<std::string>& aliases);

// Whether `alias`'s server takes a connection (TCP, and TLS for https), within its connect_timeout_s: no
// request is sent and nothing is spent. kNone when it does; kUnreachable when it refuses the connection
// (nothing listens there); kConfig when the URL is bad; kTimeout for every failure that may pass (no answer,
// a name not resolved, a network down, a proxy or TLS failing).
ModelError ConnectToModel(const ModelsConfig& models, const std::string& alias);

}  // namespace lineage::llm
