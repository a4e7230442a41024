#include "llm/wire.h"

#include <algorithm>
#include <cctype>

#include "base/files.h"

namespace lineage::llm::wire {

using json = nlohmann::json;

namespace {

const json kEphemeral = {{"type", "ephemeral"}};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

// --- Tool-call arguments ------------------------------------------------------------------------------

json ToolArguments(const std::string& arguments) {
  if (arguments.empty()) return json::object();
  if (JsonNesting(arguments) > kMaxNesting) return arguments;
  json parsed = json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return arguments;
  return parsed;
}

std::string ArgumentsText(const json& input) {
  if (input.is_string()) return input.get<std::string>();
  if (input.is_null()) return "{}";
  return input.dump();
}

json AnthropicInput(const json& input) {
  if (input.is_object()) return input;
  if (input.is_null()) return json::object();
  return json{{"_raw_arguments", ArgumentsText(input)}};
}

// --- Requests to providers ----------------------------------------------------------------------------

json OpenAIRequest(const ChatRequest& request, const std::string& model, int default_max_tokens) {
  json messages = json::array();
  if (!request.system.empty()) messages.push_back({{"role", "system"}, {"content", request.system}});
  for (const Message& m : request.messages) {
    if (m.role == Role::kAssistant) {
      json out = {{"role", "assistant"}};
      std::string text;
      json calls = json::array();
      for (const Block& b : m.content) {
        if (b.kind == Block::Kind::kText) {
          text += (text.empty() ? "" : "\n") + b.text;
        } else if (b.kind == Block::Kind::kToolCall) {
          calls.push_back({{"id", b.id},
                           {"type", "function"},
                           {"function", {{"name", b.name}, {"arguments", ArgumentsText(b.input)}}}});
        }
      }
      out["content"] = calls.empty() || !text.empty() ? json(text) : json();
      if (!calls.empty()) out["tool_calls"] = calls;
      messages.push_back(out);
      continue;
    }
    // A user turn: tool results become tool messages (which must come first, right after the assistant's
    // calls), text becomes one user message.
    std::string text;
    for (const Block& b : m.content) {
      if (b.kind == Block::Kind::kToolResult) {
        messages.push_back({{"role", "tool"}, {"tool_call_id", b.id}, {"content", b.text}});
      } else if (b.kind == Block::Kind::kText) {
        text += (text.empty() ? "" : "\n") + b.text;
      }
    }
    if (!text.empty() || m.content.empty()) messages.push_back({{"role", "user"}, {"content", text}});
  }

  json body = {{"model", model}, {"messages", messages}};
  int max_tokens = request.max_tokens.value_or(default_max_tokens);
  if (!request.reasoning_effort.empty()) {
    // Reasoning models take max_completion_tokens and refuse temperature.
    body["max_completion_tokens"] = max_tokens;
    body["reasoning_effort"] = request.reasoning_effort;
  } else {
    body["max_tokens"] = max_tokens;
    if (request.temperature) body["temperature"] = *request.temperature;
  }
  if (request.top_p) body["top_p"] = *request.top_p;
  if (!request.stop.empty()) body["stop"] = request.stop;
  if (!request.tools.empty()) {
    json tools = json::array();
    for (const Tool& t : request.tools) {
      tools.push_back({{"type", "function"},
                       {"function", {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}});
    }
    body["tools"] = tools;
  }
  if (request.tool_choice) {
    switch (request.tool_choice->mode) {
      case ToolChoice::Mode::kAuto: body["tool_choice"] = "auto"; break;
      case ToolChoice::Mode::kAny: body["tool_choice"] = "required"; break;
      case ToolChoice::Mode::kNone: body["tool_choice"] = "none"; break;
      case ToolChoice::Mode::kTool:
        body["tool_choice"] = {{"type", "function"}, {"function", {{"name", request.tool_choice->name}}}};
        break;
    }
  }
  return body;
}

json AnthropicRequest(const ChatRequest& request, const std::string& model, int default_max_tokens) {
  json messages = json::array();
  for (const Message& m : request.messages) {
    json content = json::array();
    for (const Block& b : m.content) {
      switch (b.kind) {
        case Block::Kind::kText:
          if (b.text.empty()) continue;
          content.push_back({{"type", "text"}, {"text", b.text}});
          break;
        case Block::Kind::kToolCall:
          content.push_back({{"type", "tool_use"}, {"id", b.id}, {"name", b.name}, {"input", AnthropicInput(b.input)}});
          break;
        case Block::Kind::kToolResult:
          content.push_back({{"type", "tool_result"}, {"tool_use_id", b.id}, {"content", b.text}, {"is_error", b.is_error}});
          break;
      }
      if (b.cache) content.back()["cache_control"] = kEphemeral;
    }
    // Anthropic refuses empty text blocks but needs some content in every message.
    if (content.empty()) content.push_back({{"type", "text"}, {"text", "(empty)"}});
    messages.push_back({{"role", m.role == Role::kUser ? "user" : "assistant"}, {"content", content}});
  }
  json body = {{"model", model}, {"messages", messages},
               {"max_tokens", request.max_tokens.value_or(default_max_tokens)}};
  if (!request.system.empty()) {
    body["system"] = request.system;
    if (request.system_cache) {
      body["system"] = json::array({{{"type", "text"}, {"text", request.system}, {"cache_control", kEphemeral}}});
    }
  }
  if (request.temperature) body["temperature"] = *request.temperature;
  if (request.top_p) body["top_p"] = *request.top_p;
  if (!request.stop.empty()) body["stop_sequences"] = request.stop;
  if (!request.tools.empty()) {
    json tools = json::array();
    for (const Tool& t : request.tools) {
      tools.push_back({{"name", t.name}, {"description", t.description}, {"input_schema", t.parameters}});
      if (t.cache) tools.back()["cache_control"] = kEphemeral;
    }
    body["tools"] = tools;
  }
  if (request.tool_choice) {
    switch (request.tool_choice->mode) {
      case ToolChoice::Mode::kAuto: body["tool_choice"] = {{"type", "auto"}}; break;
      case ToolChoice::Mode::kAny: body["tool_choice"] = {{"type", "any"}}; break;
      case ToolChoice::Mode::kNone: body["tool_choice"] = {{"type", "none"}}; break;
      case ToolChoice::Mode::kTool: body["tool_choice"] = {{"type", "tool"}, {"name", request.tool_choice->name}}; break;
    }
  }
  return body;
}

// --- Responses from providers -------------------------------------------------------------------------

namespace {

std::int64_t Int(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number_integer()) return 0;
  return std::max<std::int64_t>(0, object[key].get<std::int64_t>());  // a usage count is never negative
}

// The stop reasons of both formats. Reading takes the first row whose name matches (so OpenAI's "stop"
// reads as end_turn); writing uses the reason's row; anything else reads as kOther and writes as row 0.
struct StopName {
  StopReason reason;
  const char* openai;
  const char* anthropic;
};
constexpr StopName kStopNames[] = {
    {StopReason::kEndTurn, "stop", "end_turn"},          {StopReason::kToolUse, "tool_calls", "tool_use"},
    {StopReason::kMaxTokens, "length", "max_tokens"},    {StopReason::kStopSequence, "stop", "stop_sequence"},
    {StopReason::kRefusal, "content_filter", "refusal"},
};

StopReason ReadStop(Dialect dialect, const std::string& name) {
  for (const StopName& row : kStopNames) {
    if (name == (dialect == Dialect::kOpenAI ? row.openai : row.anthropic)) return row.reason;
  }
  return StopReason::kOther;
}

}  // namespace

const char* StopReasonName(Dialect dialect, StopReason reason) {
  const StopName* found = &kStopNames[0];
  for (const StopName& row : kStopNames) {
    if (row.reason == reason) found = &row;
  }
  return dialect == Dialect::kOpenAI ? found->openai : found->anthropic;
}

Result<ChatResponse> ParseOpenAIResponse(const json& body) {
  if (!body.is_object() || !body.contains("choices") || !body["choices"].is_array() || body["choices"].empty()) {
    return Status::InvalidArgument("the response has no choices[]");
  }
  const json& choice = body["choices"][0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object()) {
    return Status::InvalidArgument("choices[0].message is missing");
  }
  const json& message = choice["message"];
  ChatResponse response;
  response.id = body.value("id", "");
  response.model = body.value("model", "");
  if (message.contains("content") && message["content"].is_string() && !message["content"].get<std::string>().empty()) {
    response.content.push_back(Block::Text(message["content"].get<std::string>()));
  }
  if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
    for (const json& call : message["tool_calls"]) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object() ||
          !call["function"].contains("name") || !call["function"]["name"].is_string()) {
        return Status::InvalidArgument("choices[0].message.tool_calls[] has a call without function.name");
      }
      const json& f = call["function"];
      response.content.push_back(Block::ToolCall(
          call.value("id", ""), f["name"].get<std::string>(),
          ToolArguments(f.contains("arguments") && f["arguments"].is_string() ? f["arguments"].get<std::string>() : "")));
    }
  }
  response.stop_reason = ReadStop(Dialect::kOpenAI, choice.contains("finish_reason") && choice["finish_reason"].is_string()
                                                        ? choice["finish_reason"].get<std::string>()
                                                        : "stop");
  if (body.contains("usage") && body["usage"].is_object()) {
    const json& u = body["usage"];
    response.usage.input = Int(u, "prompt_tokens");
    response.usage.output = Int(u, "completion_tokens");
    if (u.contains("prompt_tokens_details")) response.usage.cache_read = Int(u["prompt_tokens_details"], "cached_tokens");
    if (u.contains("completion_tokens_details")) {
      response.usage.reasoning = Int(u["completion_tokens_details"], "reasoning_tokens");
    }
  }
  return response;
}

Result<ChatResponse> ParseAnthropicResponse(const json& body) {
  if (!body.is_object() || !body.contains("content") || !body["content"].is_array()) {
    return Status::InvalidArgument("the response has no content[]");
  }
  ChatResponse response;
  response.id = body.value("id", "");
  response.model = body.value("model", "");
  for (const json& b : body["content"]) {
    const std::string type = b.is_object() ? b.value("type", "") : "";
    if (type == "text") {
      response.content.push_back(Block::Text(b.value("text", "")));
    } else if (type == "tool_use") {
      if (!b.contains("name") || !b["name"].is_string()) {
        return Status::InvalidArgument("content[] has a tool_use block without a name");
      }
      response.content.push_back(
          Block::ToolCall(b.value("id", ""), b["name"].get<std::string>(), b.contains("input") ? b["input"] : json::object()));
    }  // thinking blocks and others carry nothing an agent acts on
  }
  response.stop_reason = ReadStop(Dialect::kAnthropic, body.contains("stop_reason") && body["stop_reason"].is_string()
                                                           ? body["stop_reason"].get<std::string>()
                                                           : "end_turn");
  if (body.contains("usage") && body["usage"].is_object()) {
    const json& u = body["usage"];
    response.usage.cache_read = Int(u, "cache_read_input_tokens");
    response.usage.cache_write = Int(u, "cache_creation_input_tokens");
    // Anthropic's input_tokens leaves out cached tokens; the internal `input` counts every prompt token.
    response.usage.input = Int(u, "input_tokens") + response.usage.cache_read + response.usage.cache_write;
    response.usage.output = Int(u, "output_tokens");
  }
  return response;
}

Result<ChatResponse> ParseResponse(Dialect dialect, const json& body) {
  return dialect == Dialect::kOpenAI ? ParseOpenAIResponse(body) : ParseAnthropicResponse(body);
}
json Request(Dialect dialect, const ChatRequest& request, const std::string& model, int default_max_tokens) {
  return dialect == Dialect::kOpenAI ? OpenAIRequest(request, model, default_max_tokens)
                                     : AnthropicRequest(request, model, default_max_tokens);
}

// --- Errors -------------------------------------------------------------------------------------------

int HttpStatus(Dialect dialect, ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kAuth: return 401;
    case ErrorKind::kBadRequest:
    case ErrorKind::kContextTooLong: return 400;
    case ErrorKind::kBudgetExceeded: return 402;  // not 429: clients must not retry a spent budget
    case ErrorKind::kNotRecorded: return 404;
    case ErrorKind::kRateLimited: return 429;
    case ErrorKind::kOverloaded: return dialect == Dialect::kAnthropic ? 529 : 503;
    case ErrorKind::kTimeout: return 504;
    case ErrorKind::kUnreachable:
    case ErrorKind::kMalformedResponse: return 502;
    default: return 500;
  }
}

json ErrorBody(Dialect dialect, const ModelError& error) {
  if (dialect == Dialect::kOpenAI) {
    const char* type = error.kind == ErrorKind::kAuth                ? "invalid_api_key"
                       : error.kind == ErrorKind::kBadRequest ||
                               error.kind == ErrorKind::kContextTooLong ? "invalid_request_error"
                       : error.kind == ErrorKind::kRateLimited       ? "rate_limit_exceeded"
                       : error.kind == ErrorKind::kBudgetExceeded    ? "insufficient_quota"
                                                                     : "server_error";
    const char* code = error.kind == ErrorKind::kContextTooLong ? "context_length_exceeded" : ErrorKindName(error.kind);
    return {{"error", {{"message", error.message}, {"type", type}, {"code", code}}}};
  }
  const char* type = error.kind == ErrorKind::kAuth                    ? "authentication_error"
                     : error.kind == ErrorKind::kBadRequest ||
                             error.kind == ErrorKind::kContextTooLong  ? "invalid_request_error"
                     : error.kind == ErrorKind::kRateLimited           ? "rate_limit_error"
                     : error.kind == ErrorKind::kOverloaded            ? "overloaded_error"
                     : error.kind == ErrorKind::kBudgetExceeded        ? "billing_error"
                     : error.kind == ErrorKind::kNotRecorded           ? "not_found_error"
                                                                       : "api_error";
  return {{"type", "error"}, {"error", {{"type", type}, {"message", error.message}}}};
}

ModelError ClassifyHttpError(int http_status, const std::string& body) {
  std::string provider_message;
  std::string code;
  json parsed = JsonNesting(body) > kMaxNesting ? json(json::value_t::discarded) : json::parse(body, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    const json& e = parsed["error"];
    if (e.contains("message") && e["message"].is_string()) provider_message = e["message"].get<std::string>();
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("type") && e["type"].is_string() && code.empty()) code = e["type"].get<std::string>();
  } else {
    provider_message = body.substr(0, 300);
  }
  const std::string said = provider_message.empty() ? "" : ": " + provider_message;
  const std::string lower = Lower(provider_message + " " + code);

  ModelError error;
  error.http_status = http_status;
  if (http_status == 401 || http_status == 403) {
    error.kind = ErrorKind::kAuth;
    error.message = "the provider refused the API key (HTTP " + std::to_string(http_status) + said +
                    "); check the key in the variable named by api_key_env";
  } else if (http_status == 402) {
    error.kind = ErrorKind::kBudgetExceeded;
    error.message = "the budget for these calls is spent (HTTP 402" + said + ")";
  } else if (http_status == 429) {
    error.kind = ErrorKind::kRateLimited;
    error.message = "rate limited by the provider (HTTP 429" + said + "); lower max_concurrency or wait";
  } else if (http_status == 529 || http_status == 503) {
    error.kind = ErrorKind::kOverloaded;
    error.message = "the provider is overloaded (HTTP " + std::to_string(http_status) + said + "); try again later";
  } else if (http_status >= 500) {
    error.kind = ErrorKind::kServer;
    error.message = "the provider failed (HTTP " + std::to_string(http_status) + said + "); try again later";
  } else if (lower.find("context_length") != std::string::npos || lower.find("context length") != std::string::npos ||
             lower.find("context window") != std::string::npos || lower.find("prompt is too long") != std::string::npos ||
             lower.find("too many tokens") != std::string::npos) {
    error.kind = ErrorKind::kContextTooLong;
    error.message = "the prompt is longer than the model's context window (HTTP " + std::to_string(http_status) +
                    said + "); shorten the conversation";
  } else {
    error.kind = ErrorKind::kBadRequest;
    error.message = "the provider refused the request (HTTP " + std::to_string(http_status) + said +
                    "); check the model name and the request";
  }
  return error;
}

}  // namespace lineage::llm::wire
