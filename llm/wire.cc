#include "llm/wire.h"

#include <algorithm>
#include <cctype>

#include "base/files.h"

namespace lineage::llm::wire {

using json = nlohmann::json;

namespace {

std::string Field(const std::string& path, const std::string& name) { return path + "." + name; }
std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

Status Bad(const std::string& field, const std::string& what) {
  return Status::InvalidArgument(field + " " + what);
}


// Whether a block or part carries Anthropic's cache_control (OpenAI-dialect proxies accept it on content
// parts too).
bool CacheControl(const json& part) {
  return part.is_object() && part.contains("cache_control") && part["cache_control"].is_object();
}

// Whether any part of an array of content parts carries cache_control.
bool AnyCacheControl(const json& content) {
  return content.is_array() && std::any_of(content.begin(), content.end(), CacheControl);
}

const json kEphemeral = {{"type", "ephemeral"}};

Result<std::optional<double>> OptionalNumber(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<double>();
  if (!body[key].is_number()) return Bad(key, "must be a number");
  return std::optional<double>(body[key].get<double>());
}

Result<std::optional<int>> OptionalPositiveInt(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<int>();
  if (!body[key].is_number_integer() || body[key].get<std::int64_t>() <= 0) {
    return Bad(key, "must be a positive integer");
  }
  return std::optional<int>(static_cast<int>(std::min<std::int64_t>(body[key].get<std::int64_t>(), 1 << 30)));
}

// Shared parameter fields: temperature, top_p.
Status ParseCommon(const json& body, ChatRequest& request) {
  if (!body.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  if (!body.contains("model") || !body["model"].is_string()) return Bad("model", "is required (a string)");
  request.model = body["model"].get<std::string>();
  if (!body.contains("messages") || !body["messages"].is_array()) {
    return Bad("messages", "is required (an array)");
  }
  LINEAGE_ASSIGN_OR_RETURN(request.temperature, OptionalNumber(body, "temperature"));
  LINEAGE_ASSIGN_OR_RETURN(request.top_p, OptionalNumber(body, "top_p"));
  return Status::OK();
}

// Tool arguments arrive as a JSON string in OpenAI's format. A model may write invalid JSON: keep the raw
// string so the agent sees what the model wrote.
json ParseArguments(const std::string& arguments) {
  if (arguments.empty()) return json::object();
  if (JsonNesting(arguments) > kMaxNesting) return arguments;
  json parsed = json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return arguments;
  return parsed;
}

std::string ArgumentsString(const json& input) {
  if (input.is_string()) return input.get<std::string>();
  if (input.is_null()) return "{}";
  return input.dump();
}

json AnthropicInput(const json& input) {
  if (input.is_object()) return input;
  if (input.is_null()) return json::object();
  return json{{"_raw_arguments", ArgumentsString(input)}};
}

Result<std::vector<std::string>> ParseStop(const json& body, const char* key) {
  std::vector<std::string> stop;
  if (!body.contains(key) || body[key].is_null()) return stop;
  const json& value = body[key];
  if (value.is_string()) return std::vector<std::string>{value.get<std::string>()};
  if (!value.is_array()) return Bad(key, "must be a string or an array of strings");
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) return Bad(Index(key, i), "must be a string");
    stop.push_back(value[i].get<std::string>());
  }
  return stop;
}

// Appends blocks to the last message when it has the same role (both formats allow runs of one role;
// Anthropic requires tool results of one turn to share one user message).
void Append(std::vector<Message>& messages, Role role, std::vector<Block> blocks) {
  if (blocks.empty()) return;
  if (messages.empty() || messages.back().role != role) {
    messages.push_back(Message{role, {}});
  }
  auto& content = messages.back().content;
  content.insert(content.end(), std::make_move_iterator(blocks.begin()), std::make_move_iterator(blocks.end()));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

Result<std::string> TextOf(const json& content, const std::string& path, const std::vector<std::string>& types) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return Bad(path, "must be a string or an array of text parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string type = part.is_object() && part.contains("type") && part["type"].is_string() ? part["type"].get<std::string>() : "";
    if (std::find(types.begin(), types.end(), type) == types.end() || !part.contains("text") ||
        !part["text"].is_string()) {
      return Bad(Index(path, i), "is not a text part: only text content is supported");
    }
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

const char* DialectName(Dialect dialect) { return dialect == Dialect::kOpenAI ? "openai" : "anthropic"; }

// --- OpenAI requests ----------------------------------------------------------------------------------

Result<ChatRequest> ParseOpenAIRequest(const json& body) {
  ChatRequest request;
  LINEAGE_RETURN_IF_ERROR(ParseCommon(body, request));
  if (body.contains("n") && body["n"].is_number_integer() && body["n"].get<int>() != 1) {
    return Bad("n", "must be 1: lineage's gateway returns one choice");
  }
  LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_completion_tokens"));
  if (!request.max_tokens) {
    LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_tokens"));
  }
  LINEAGE_ASSIGN_OR_RETURN(request.stop, ParseStop(body, "stop"));
  if (body.contains("reasoning_effort") && body["reasoning_effort"].is_string()) {
    request.reasoning_effort = body["reasoning_effort"].get<std::string>();
  }

  const json& messages = body["messages"];
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string path = Index("messages", i);
    const json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Bad(Field(path, "role"), "is required (a string)");
    }
    const std::string role = m["role"].get<std::string>();
    LINEAGE_ASSIGN_OR_RETURN(std::string text, TextOf(m.value("content", json()), Field(path, "content")));
    const bool cache = AnyCacheControl(m.value("content", json()));
    if (role == "system" || role == "developer") {
      if (!request.system.empty()) request.system += "\n\n";
      request.system += text;
      request.system_cache = request.system_cache || cache;
    } else if (role == "user") {
      Block block = Block::Text(text);
      block.cache = cache;
      Append(request.messages, Role::kUser, {std::move(block)});
    } else if (role == "assistant") {
      std::vector<Block> blocks;
      if (!text.empty()) blocks.push_back(Block::Text(text));
      if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
        const json& calls = m["tool_calls"];
        for (size_t j = 0; j < calls.size(); ++j) {
          const std::string call_path = Index(Field(path, "tool_calls"), j);
          const json& call = calls[j];
          if (!call.is_object() || !call.contains("function") || !call["function"].is_object() ||
              !call["function"].contains("name") || !call["function"]["name"].is_string()) {
            return Bad(Field(call_path, "function.name"), "is required (a string)");
          }
          const json& function = call["function"];
          std::string arguments = function.contains("arguments") && function["arguments"].is_string()
                                      ? function["arguments"].get<std::string>()
                                      : std::string();
          blocks.push_back(Block::ToolCall(call.value("id", ""), function["name"].get<std::string>(),
                                           ParseArguments(arguments)));
        }
      }
      if (blocks.empty()) blocks.push_back(Block::Text(""));
      Append(request.messages, Role::kAssistant, std::move(blocks));
    } else if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string()) {
        return Bad(Field(path, "tool_call_id"), "is required for a tool message");
      }
      Block result = Block::ToolResult(m["tool_call_id"].get<std::string>(), text);
      result.cache = cache;
      Append(request.messages, Role::kUser, {std::move(result)});
    } else {
      return Bad(Field(path, "role"), "'" + role + "' is not one of system, developer, user, assistant, tool");
    }
  }

  if (body.contains("tools") && body["tools"].is_array()) {
    const json& tools = body["tools"];
    for (size_t i = 0; i < tools.size(); ++i) {
      const json& t = tools[i];
      if (!t.is_object() || t.value("type", "function") != "function" || !t.contains("function") ||
          !t["function"].is_object() || !t["function"].contains("name") || !t["function"]["name"].is_string()) {
        return Bad(Index("tools", i), "must be {type:\"function\", function:{name, description, parameters}}");
      }
      const json& f = t["function"];
      request.tools.push_back(Tool{f["name"].get<std::string>(),
                                   f.contains("description") && f["description"].is_string()
                                       ? f["description"].get<std::string>()
                                       : "",
                                   f.contains("parameters") && f["parameters"].is_object() ? f["parameters"]
                                                                                             : json::object()});
    }
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const json& choice = body["tool_choice"];
    if (choice.is_string()) {
      const std::string mode = choice.get<std::string>();
      if (mode == "auto") request.tool_choice = ToolChoice{ToolChoice::Mode::kAuto, ""};
      else if (mode == "required") request.tool_choice = ToolChoice{ToolChoice::Mode::kAny, ""};
      else if (mode == "none") request.tool_choice = ToolChoice{ToolChoice::Mode::kNone, ""};
      else return Bad("tool_choice", "'" + mode + "' is not one of auto, required, none");
    } else if (choice.is_object() && choice.contains("function") && choice["function"].is_object() &&
               choice["function"].contains("name") && choice["function"]["name"].is_string()) {
      request.tool_choice = ToolChoice{ToolChoice::Mode::kTool, choice["function"]["name"].get<std::string>()};
    } else {
      return Bad("tool_choice", "must be auto, required, none or {type:\"function\", function:{name}}");
    }
  }
  return request;
}

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
                           {"function", {{"name", b.name}, {"arguments", ArgumentsString(b.input)}}}});
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

// --- Anthropic requests -------------------------------------------------------------------------------

Result<ChatRequest> ParseAnthropicRequest(const json& body) {
  ChatRequest request;
  LINEAGE_RETURN_IF_ERROR(ParseCommon(body, request));
  LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_tokens"));
  LINEAGE_ASSIGN_OR_RETURN(request.stop, ParseStop(body, "stop_sequences"));
  if (body.contains("system")) {
    LINEAGE_ASSIGN_OR_RETURN(request.system, TextOf(body["system"], "system"));
    request.system_cache = AnyCacheControl(body["system"]);
  }

  const json& messages = body["messages"];
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string path = Index("messages", i);
    const json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Bad(Field(path, "role"), "is required (a string)");
    }
    const std::string role_name = m["role"].get<std::string>();
    if (role_name != "user" && role_name != "assistant") {
      return Bad(Field(path, "role"), "'" + role_name + "' is not one of user, assistant");
    }
    const Role role = role_name == "user" ? Role::kUser : Role::kAssistant;
    const json content = m.value("content", json());
    if (content.is_string()) {
      Append(request.messages, role, {Block::Text(content.get<std::string>())});
      continue;
    }
    if (!content.is_array()) return Bad(Field(path, "content"), "must be a string or an array of blocks");
    std::vector<Block> blocks;
    for (size_t j = 0; j < content.size(); ++j) {
      const std::string block_path = Index(Field(path, "content"), j);
      const json& b = content[j];
      const std::string type = b.is_object() ? b.value("type", "") : "";
      if (type == "text") {
        blocks.push_back(Block::Text(b.value("text", "")));
      } else if (type == "tool_use") {
        if (!b.contains("name") || !b["name"].is_string()) return Bad(Field(block_path, "name"), "is required");
        blocks.push_back(Block::ToolCall(b.value("id", ""), b["name"].get<std::string>(),
                                         b.contains("input") ? b["input"] : json::object()));
      } else if (type == "tool_result") {
        if (!b.contains("tool_use_id") || !b["tool_use_id"].is_string()) {
          return Bad(Field(block_path, "tool_use_id"), "is required");
        }
        LINEAGE_ASSIGN_OR_RETURN(std::string text, TextOf(b.value("content", json()), Field(block_path, "content")));
        blocks.push_back(Block::ToolResult(b["tool_use_id"].get<std::string>(), text, b.value("is_error", false)));
      } else if (type == "thinking" || type == "redacted_thinking") {
        continue;  // a model's earlier reasoning carries no instruction; other providers cannot take it
      } else {
        return Bad(Field(block_path, "type"), "'" + type + "' is not supported (text, tool_use, tool_result)");
      }
      blocks.back().cache = CacheControl(b);
    }
    Append(request.messages, role, std::move(blocks));
  }

  if (body.contains("tools") && body["tools"].is_array()) {
    const json& tools = body["tools"];
    for (size_t i = 0; i < tools.size(); ++i) {
      const json& t = tools[i];
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
        return Bad(Field(Index("tools", i), "name"), "is required (a string)");
      }
      request.tools.push_back(Tool{t["name"].get<std::string>(), t.value("description", ""),
                                   t.contains("input_schema") && t["input_schema"].is_object() ? t["input_schema"]
                                                                                               : json::object(),
                                   CacheControl(t)});
    }
  }
  if (body.contains("tool_choice") && body["tool_choice"].is_object()) {
    const std::string type = body["tool_choice"].value("type", "auto");
    if (type == "auto") request.tool_choice = ToolChoice{ToolChoice::Mode::kAuto, ""};
    else if (type == "any") request.tool_choice = ToolChoice{ToolChoice::Mode::kAny, ""};
    else if (type == "none") request.tool_choice = ToolChoice{ToolChoice::Mode::kNone, ""};
    else if (type == "tool") request.tool_choice = ToolChoice{ToolChoice::Mode::kTool, body["tool_choice"].value("name", "")};
    else return Bad("tool_choice.type", "'" + type + "' is not one of auto, any, tool, none");
  }
  return request;
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

// --- Responses ----------------------------------------------------------------------------------------

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

const char* WriteStop(Dialect dialect, StopReason reason) {
  const StopName* found = &kStopNames[0];
  for (const StopName& row : kStopNames) {
    if (row.reason == reason) found = &row;
  }
  return dialect == Dialect::kOpenAI ? found->openai : found->anthropic;
}

}  // namespace

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
          ParseArguments(f.contains("arguments") && f["arguments"].is_string() ? f["arguments"].get<std::string>() : "")));
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

json OpenAIResponse(const ChatResponse& response) {
  std::string text;
  json calls = json::array();
  for (const Block& b : response.content) {
    if (b.kind == Block::Kind::kText) {
      text += (text.empty() ? "" : "\n") + b.text;
    } else if (b.kind == Block::Kind::kToolCall) {
      calls.push_back({{"id", b.id}, {"type", "function"}, {"function", {{"name", b.name}, {"arguments", ArgumentsString(b.input)}}}});
    }
  }
  json message = {{"role", "assistant"}, {"content", text.empty() && !calls.empty() ? json() : json(text)}};
  if (!calls.empty()) message["tool_calls"] = calls;
  const Usage& u = response.usage;
  return {{"id", response.id},
          {"object", "chat.completion"},
          {"created", 0},
          {"model", response.model},
          {"choices", json::array({{{"index", 0}, {"message", message}, {"finish_reason", WriteStop(Dialect::kOpenAI, response.stop_reason)}}})},
          {"usage",
           {{"prompt_tokens", u.input},
            {"completion_tokens", u.output},
            {"total_tokens", u.input + u.output},
            {"prompt_tokens_details", {{"cached_tokens", u.cache_read}}},
            {"completion_tokens_details", {{"reasoning_tokens", u.reasoning}}}}}};
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

json AnthropicResponse(const ChatResponse& response) {
  json content = json::array();
  for (const Block& b : response.content) {
    if (b.kind == Block::Kind::kText) {
      content.push_back({{"type", "text"}, {"text", b.text}});
    } else if (b.kind == Block::Kind::kToolCall) {
      content.push_back({{"type", "tool_use"}, {"id", b.id}, {"name", b.name}, {"input", AnthropicInput(b.input)}});
    }
  }
  const Usage& u = response.usage;
  return {{"id", response.id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", response.model},
          {"content", content},
          {"stop_reason", WriteStop(Dialect::kAnthropic, response.stop_reason)},
          {"stop_sequence", nullptr},
          {"usage",
           {{"input_tokens", std::max<std::int64_t>(0, u.input - u.cache_read - u.cache_write)},
            {"output_tokens", u.output},
            {"cache_read_input_tokens", u.cache_read},
            {"cache_creation_input_tokens", u.cache_write}}}};
}

// --- Dispatch by dialect ------------------------------------------------------------------------------

Result<ChatRequest> ParseRequest(Dialect dialect, const json& body) {
  return dialect == Dialect::kOpenAI ? ParseOpenAIRequest(body) : ParseAnthropicRequest(body);
}
json Request(Dialect dialect, const ChatRequest& request, const std::string& model, int default_max_tokens) {
  return dialect == Dialect::kOpenAI ? OpenAIRequest(request, model, default_max_tokens)
                                     : AnthropicRequest(request, model, default_max_tokens);
}
Result<ChatResponse> ParseResponse(Dialect dialect, const json& body) {
  return dialect == Dialect::kOpenAI ? ParseOpenAIResponse(body) : ParseAnthropicResponse(body);
}
json Response(Dialect dialect, const ChatResponse& response) {
  return dialect == Dialect::kOpenAI ? OpenAIResponse(response) : AnthropicResponse(response);
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
