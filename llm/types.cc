// The internal form: constructors, names and its JSON representation.
#include <algorithm>
#include <array>

#include "llm/llm.h"

namespace lineage::llm {

using json = nlohmann::json;

Block Block::Text(std::string text) {
  Block b;
  b.text = std::move(text);
  return b;
}

Block Block::ToolCall(std::string id, std::string name, json input) {
  Block b;
  b.kind = Kind::kToolCall;
  b.id = std::move(id);
  b.name = std::move(name);
  b.input = std::move(input);
  return b;
}

Block Block::ToolResult(std::string id, std::string text, bool is_error) {
  Block b;
  b.kind = Kind::kToolResult;
  b.id = std::move(id);
  b.text = std::move(text);
  b.is_error = is_error;
  return b;
}

Message Message::User(std::string text) { return Message{Role::kUser, {Block::Text(std::move(text))}}; }
Message Message::Assistant(std::string text) { return Message{Role::kAssistant, {Block::Text(std::move(text))}}; }

namespace {

std::string JoinText(const std::vector<Block>& blocks) {
  std::string text;
  for (const Block& b : blocks) {
    if (b.kind != Block::Kind::kText) continue;
    if (!text.empty()) text += "\n";
    text += b.text;
  }
  return text;
}

const char* KindName(Block::Kind kind) {
  switch (kind) {
    case Block::Kind::kText: return "text";
    case Block::Kind::kToolCall: return "tool_call";
    case Block::Kind::kToolResult: return "tool_result";
  }
  return "text";
}

json BlockJson(const Block& b) {
  json out = {{"kind", KindName(b.kind)}};
  if (b.kind == Block::Kind::kToolCall) {
    out["id"] = b.id;
    out["name"] = b.name;
    out["input"] = b.input;
  } else if (b.kind == Block::Kind::kToolResult) {
    out["id"] = b.id;
    out["text"] = b.text;
    out["is_error"] = b.is_error;
  } else {
    out["text"] = b.text;
  }
  return out;
}

Result<Block> BlockFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a content block is not an object");
  const std::string kind = j.value("kind", "");
  if (kind == "text") return Block::Text(j.value("text", ""));
  if (kind == "tool_call") return Block::ToolCall(j.value("id", ""), j.value("name", ""), j.value("input", json::object()));
  if (kind == "tool_result") return Block::ToolResult(j.value("id", ""), j.value("text", ""), j.value("is_error", false));
  return Status::InvalidArgument("unknown content block kind '" + kind + "'");
}

constexpr std::array<StopReason, 6> kStopReasons = {StopReason::kEndTurn,      StopReason::kToolUse,
                                                    StopReason::kMaxTokens,    StopReason::kStopSequence,
                                                    StopReason::kRefusal,      StopReason::kOther};

}  // namespace

std::string Message::Text() const { return JoinText(content); }
std::string ChatResponse::Text() const { return JoinText(content); }

std::vector<const Block*> ChatResponse::ToolCalls() const {
  std::vector<const Block*> calls;
  for (const Block& b : content) {
    if (b.kind == Block::Kind::kToolCall) calls.push_back(&b);
  }
  return calls;
}

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kEndTurn: return "end_turn";
    case StopReason::kToolUse: return "tool_use";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kStopSequence: return "stop_sequence";
    case StopReason::kRefusal: return "refusal";
    case StopReason::kOther: return "other";
  }
  return "other";
}

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone: return "ok";
    case ErrorKind::kAuth: return "auth";
    case ErrorKind::kBadRequest: return "bad_request";
    case ErrorKind::kContextTooLong: return "context_too_long";
    case ErrorKind::kRateLimited: return "rate_limited";
    case ErrorKind::kOverloaded: return "overloaded";
    case ErrorKind::kServer: return "server";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kUnreachable: return "unreachable";
    case ErrorKind::kMalformedResponse: return "malformed_response";
    case ErrorKind::kBudgetExceeded: return "budget_exceeded";
    case ErrorKind::kConfig: return "config";
    case ErrorKind::kNotRecorded: return "not_recorded";
  }
  return "unknown";
}

bool IsRetryable(ErrorKind kind) {
  return kind == ErrorKind::kRateLimited || kind == ErrorKind::kOverloaded || kind == ErrorKind::kServer ||
         kind == ErrorKind::kTimeout || kind == ErrorKind::kUnreachable;
}

bool IsWorldFault(ErrorKind kind) {
  return IsRetryable(kind) || kind == ErrorKind::kAuth || kind == ErrorKind::kMalformedResponse ||
         kind == ErrorKind::kConfig;
}

const char* ProviderName(Provider provider) { return provider == Provider::kOpenAI ? "openai" : "anthropic"; }

json ToJson(const ChatRequest& r) {
  json messages = json::array();
  for (const Message& m : r.messages) {
    json blocks = json::array();
    for (const Block& b : m.content) blocks.push_back(BlockJson(b));
    messages.push_back({{"role", m.role == Role::kUser ? "user" : "assistant"}, {"content", blocks}});
  }
  json tools = json::array();
  for (const Tool& t : r.tools) {
    tools.push_back({{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}});
  }
  json out = {{"model", r.model}, {"system", r.system}, {"messages", messages}, {"tools", tools}, {"stop", r.stop}};
  if (r.tool_choice) {
    static constexpr const char* kModes[] = {"auto", "any", "none", "tool"};
    out["tool_choice"] = {{"mode", kModes[static_cast<int>(r.tool_choice->mode)]}, {"name", r.tool_choice->name}};
  }
  if (r.max_tokens) out["max_tokens"] = *r.max_tokens;
  if (r.temperature) out["temperature"] = *r.temperature;
  if (r.top_p) out["top_p"] = *r.top_p;
  if (!r.reasoning_effort.empty()) out["reasoning_effort"] = r.reasoning_effort;
  return out;
}

json ToJson(const ChatResponse& r) {
  json blocks = json::array();
  for (const Block& b : r.content) blocks.push_back(BlockJson(b));
  return {{"id", r.id},
          {"model", r.model},
          {"content", blocks},
          {"stop_reason", StopReasonName(r.stop_reason)},
          {"usage",
           {{"input", r.usage.input},
            {"output", r.usage.output},
            {"cache_read", r.usage.cache_read},
            {"cache_write", r.usage.cache_write},
            {"reasoning", r.usage.reasoning}}}};
}

Result<ChatResponse> ChatResponseFromJson(const json& j) {
  if (!j.is_object() || !j.contains("content") || !j["content"].is_array()) {
    return Status::InvalidArgument("a stored response has no content array");
  }
  ChatResponse r;
  r.id = j.value("id", "");
  r.model = j.value("model", "");
  for (const json& b : j["content"]) {
    LINEAGE_ASSIGN_OR_RETURN(Block block, BlockFromJson(b));
    r.content.push_back(std::move(block));
  }
  const std::string stop = j.value("stop_reason", "end_turn");
  r.stop_reason = StopReason::kOther;
  for (StopReason s : kStopReasons) {
    if (stop == StopReasonName(s)) r.stop_reason = s;
  }
  const json usage = j.value("usage", json::object());
  r.usage.input = usage.value("input", 0);
  r.usage.output = usage.value("output", 0);
  r.usage.cache_read = usage.value("cache_read", 0);
  r.usage.cache_write = usage.value("cache_write", 0);
  r.usage.reasoning = usage.value("reasoning", 0);
  return r;
}

}  // namespace lineage::llm

namespace lineage::llm {

int CacheBreakpoints(const ChatRequest& request) {
  int n = request.system_cache ? 1 : 0;
  for (const Tool& t : request.tools) n += t.cache ? 1 : 0;
  for (const Message& m : request.messages) {
    for (const Block& b : m.content) n += b.cache ? 1 : 0;
  }
  return n;
}

void AddCacheBreakpoints(ChatRequest& request) {
  constexpr int kMaxBreakpoints = 4;  // Anthropic's limit per request
  if (CacheBreakpoints(request) == 0) {
    request.system_cache = !request.system.empty();
    // The latest turn's last block that Anthropic will see (empty text blocks are not sent).
    if (!request.messages.empty()) {
      std::vector<Block>& latest = request.messages.back().content;
      auto last = std::find_if(latest.rbegin(), latest.rend(),
                               [](const Block& b) { return b.kind != Block::Kind::kText || !b.text.empty(); });
      if (last != latest.rend()) last->cache = true;
    }
  }
  // Counted once and cleared one at a time (a request may mark every one of thousands of blocks): the
  // earliest message ones go first, then tools', then the system prompt's.
  int n = CacheBreakpoints(request);
  auto clear = [&](bool& cache) {
    if (n > kMaxBreakpoints && cache) {
      cache = false;
      --n;
    }
  };
  for (Message& m : request.messages) {
    for (Block& b : m.content) clear(b.cache);
  }
  for (Tool& t : request.tools) clear(t.cache);
  clear(request.system_cache);
}

}  // namespace lineage::llm
