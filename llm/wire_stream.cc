// The Responses API and server-sent events towards callers (wire.h): what agents written with today's SDKs
// send and expect. Pure functions, as the rest of wire.
#include "base/files.h"
#include "llm/wire.h"

namespace lineage::llm::wire {

using json = nlohmann::json;

namespace {

Status Bad(const std::string& field, const std::string& what) { return Status::InvalidArgument(field + " " + what); }
std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// Text from a string or an array of parts of the Responses API.
Result<std::string> PartsText(const json& content, const std::string& path) {
  return TextOf(content, path, {"input_text", "output_text", "text"});
}

// Appends `block` to the last message when it has the same role, as consecutive items of one turn are.
void Add(std::vector<Message>& messages, Role role, Block block) {
  if (messages.empty() || messages.back().role != role) messages.push_back(Message{role, {}});
  messages.back().content.push_back(std::move(block));
}

json ParseArgumentsText(const std::string& arguments) {
  if (arguments.empty()) return json::object();
  if (JsonNesting(arguments) > kMaxNesting) return arguments;
  json parsed = json::parse(arguments, nullptr, false);
  return parsed.is_discarded() || !parsed.is_object() ? json(arguments) : parsed;
}

std::string ArgumentsText(const json& input) {
  if (input.is_string()) return input.get<std::string>();
  return input.is_null() ? "{}" : input.dump();
}

std::string Sse(const std::string& event, const json& data) {
  return (event.empty() ? "" : "event: " + event + "\n") + "data: " +
         data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

json ResponsesUsage(const Usage& u) {
  return {{"input_tokens", u.input},
          {"input_tokens_details", {{"cached_tokens", u.cache_read}}},
          {"output_tokens", u.output},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning}}},
          {"total_tokens", u.input + u.output}};
}

// The ids a response's output items carry: derived from the response's, so a replay writes the same.
std::string ItemId(const ChatResponse& response, const char* prefix, size_t index) {
  return std::string(prefix) + "_" + (response.id.empty() ? "lineage" : response.id) + "_" + std::to_string(index);
}

// --- Streams, from a whole response --------------------------------------------------------------------

std::string ChatCompletionsStream(const ChatResponse& response, bool include_usage) {
  json base = {{"id", response.id}, {"object", "chat.completion.chunk"}, {"created", 0}, {"model", response.model}};
  auto chunk = [&](json delta, json finish = nullptr) {
    json c = base;
    c["choices"] = json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}});
    return Sse("", c);
  };
  std::string out = chunk({{"role", "assistant"}, {"content", ""}});
  int call_index = 0;
  for (const Block& b : response.content) {
    if (b.kind == Block::Kind::kText && !b.text.empty()) {
      out += chunk({{"content", b.text}});
    } else if (b.kind == Block::Kind::kToolCall) {
      // The name first, then the arguments as a fragment: clients merge fragments by index.
      out += chunk({{"tool_calls", json::array({{{"index", call_index}, {"id", b.id}, {"type", "function"},
                                                 {"function", {{"name", b.name}, {"arguments", ""}}}}})}});
      out += chunk({{"tool_calls", json::array({{{"index", call_index}, {"function", {{"arguments", ArgumentsText(b.input)}}}}})}});
      ++call_index;
    }
  }
  json whole = OpenAIResponse(response);
  out += chunk(json::object(), whole["choices"][0]["finish_reason"]);
  if (include_usage) {
    json last = base;
    last["choices"] = json::array();
    last["usage"] = whole["usage"];
    out += Sse("", last);
  }
  return out + "data: [DONE]\n\n";
}

std::string MessagesStream(const ChatResponse& response) {
  json whole = AnthropicResponse(response);
  json start = whole;
  start["content"] = json::array();
  start["stop_reason"] = nullptr;
  start["usage"]["output_tokens"] = 0;
  std::string out = Sse("message_start", {{"type", "message_start"}, {"message", start}});
  const json& blocks = whole["content"];
  for (size_t i = 0; i < blocks.size(); ++i) {
    const json& block = blocks[i];
    json opened = block, delta;
    if (block["type"] == "text") {
      opened["text"] = "";
      delta = {{"type", "text_delta"}, {"text", block["text"]}};
    } else {
      opened["input"] = json::object();
      delta = {{"type", "input_json_delta"}, {"partial_json", block["input"].dump()}};
    }
    out += Sse("content_block_start", {{"type", "content_block_start"}, {"index", i}, {"content_block", opened}});
    out += Sse("content_block_delta", {{"type", "content_block_delta"}, {"index", i}, {"delta", delta}});
    out += Sse("content_block_stop", {{"type", "content_block_stop"}, {"index", i}});
  }
  out += Sse("message_delta", {{"type", "message_delta"},
                               {"delta", {{"stop_reason", whole["stop_reason"]}, {"stop_sequence", nullptr}}},
                               {"usage", {{"output_tokens", response.usage.output}}}});
  return out + Sse("message_stop", {{"type", "message_stop"}});
}

std::string ResponsesStream(const ChatResponse& response) {
  const json whole = ResponsesResponse(response);
  int sequence = 0;
  auto event = [&](const std::string& type, json data) {
    data["type"] = type;
    data["sequence_number"] = sequence++;
    return Sse(type, data);
  };
  json pending = whole;
  pending["status"] = "in_progress";
  pending["output"] = json::array();
  pending["usage"] = nullptr;
  std::string out = event("response.created", {{"response", pending}});
  out += event("response.in_progress", {{"response", pending}});
  const json& items = whole["output"];
  for (size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    const std::string id = item["id"];
    json added = item;
    added["status"] = "in_progress";
    if (item["type"] == "message") {
      added["content"] = json::array();
      out += event("response.output_item.added", {{"output_index", i}, {"item", added}});
      const json part = item["content"][0];
      json empty_part = part;
      empty_part["text"] = "";
      out += event("response.content_part.added",
                   {{"item_id", id}, {"output_index", i}, {"content_index", 0}, {"part", empty_part}});
      out += event("response.output_text.delta",
                   {{"item_id", id}, {"output_index", i}, {"content_index", 0}, {"delta", part["text"]}, {"logprobs", json::array()}});
      out += event("response.output_text.done",
                   {{"item_id", id}, {"output_index", i}, {"content_index", 0}, {"text", part["text"]}, {"logprobs", json::array()}});
      out += event("response.content_part.done", {{"item_id", id}, {"output_index", i}, {"content_index", 0}, {"part", part}});
    } else {
      added["arguments"] = "";
      out += event("response.output_item.added", {{"output_index", i}, {"item", added}});
      out += event("response.function_call_arguments.delta", {{"item_id", id}, {"output_index", i}, {"delta", item["arguments"]}});
      out += event("response.function_call_arguments.done",
                   {{"item_id", id}, {"output_index", i}, {"arguments", item["arguments"]}});
    }
    out += event("response.output_item.done", {{"output_index", i}, {"item", item}});
  }
  return out + event("response.completed", {{"response", whole}});
}

}  // namespace

Api ApiOf(const std::string& method, const std::string& target) {
  if (method != "POST") return Api::kNone;
  if (target == "/v1/chat/completions") return Api::kChatCompletions;
  if (target == "/v1/messages") return Api::kMessages;
  if (target == "/v1/responses") return Api::kResponses;
  return Api::kNone;
}

Dialect DialectOf(Api api) { return api == Api::kMessages ? Dialect::kAnthropic : Dialect::kOpenAI; }

StreamRequest ParseStreamRequest(const json& body) {
  StreamRequest out;
  if (!body.is_object()) return out;
  out.stream = body.contains("stream") && body["stream"].is_boolean() && body["stream"].get<bool>();
  if (body.contains("stream_options") && body["stream_options"].is_object()) {
    const json& options = body["stream_options"];
    out.include_usage = options.contains("include_usage") && options["include_usage"].is_boolean() &&
                        options["include_usage"].get<bool>();
  }
  return out;
}

Result<ChatRequest> ParseApiRequest(Api api, const json& body) {
  if (api == Api::kResponses) return ParseResponsesRequest(body);
  return ParseRequest(DialectOf(api), body);
}

json ApiResponse(Api api, const ChatResponse& response) {
  return api == Api::kResponses ? ResponsesResponse(response) : Response(DialectOf(api), response);
}

Result<ChatRequest> ParseResponsesRequest(const json& body) {
  if (!body.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  if (!body.contains("model") || !body["model"].is_string()) return Bad("model", "is required (a string)");
  ChatRequest request;
  request.model = body["model"].get<std::string>();
  if (body.contains("instructions") && body["instructions"].is_string()) {
    request.system = body["instructions"].get<std::string>();
  }
  if (body.contains("previous_response_id") && !body["previous_response_id"].is_null()) {
    return Bad("previous_response_id", "is not supported: lineage's gateway keeps no conversation state; send the "
                                       "whole input");
  }
  if (body.contains("max_output_tokens") && !body["max_output_tokens"].is_null()) {
    if (!body["max_output_tokens"].is_number_integer() || body["max_output_tokens"].get<std::int64_t>() <= 0) {
      return Bad("max_output_tokens", "must be a positive integer");
    }
    request.max_tokens = static_cast<int>(std::min<std::int64_t>(body["max_output_tokens"].get<std::int64_t>(), 1 << 30));
  }
  for (const char* key : {"temperature", "top_p"}) {
    if (!body.contains(key) || body[key].is_null()) continue;
    if (!body[key].is_number()) return Bad(key, "must be a number");
    (std::string(key) == "temperature" ? request.temperature : request.top_p) = body[key].get<double>();
  }
  if (body.contains("reasoning") && body["reasoning"].is_object() && body["reasoning"].contains("effort") &&
      body["reasoning"]["effort"].is_string()) {
    request.reasoning_effort = body["reasoning"]["effort"].get<std::string>();
  }

  if (!body.contains("input")) return Bad("input", "is required (a string or an array of items)");
  const json& input = body["input"];
  if (input.is_string()) {
    request.messages.push_back(Message::User(input.get<std::string>()));
  } else if (!input.is_array()) {
    return Bad("input", "must be a string or an array of items");
  }
  for (size_t i = 0; input.is_array() && i < input.size(); ++i) {
    const std::string path = Index("input", i);
    const json& item = input[i];
    if (!item.is_object()) return Bad(path, "must be an object");
    const std::string type = item.contains("type") && item["type"].is_string() ? item["type"].get<std::string>()
                             : item.contains("role")                          ? "message"
                                                                              : "";
    if (type == "message") {
      const std::string role = item.contains("role") && item["role"].is_string() ? item["role"].get<std::string>() : "";
      LINEAGE_ASSIGN_OR_RETURN(std::string text, PartsText(item.value("content", json()), path + ".content"));
      if (role == "system" || role == "developer") {
        request.system += (request.system.empty() ? "" : "\n\n") + text;
      } else if (role == "user" || role == "assistant") {
        Add(request.messages, role == "user" ? Role::kUser : Role::kAssistant, Block::Text(text));
      } else {
        return Bad(path + ".role", "'" + role + "' is not one of user, assistant, system, developer");
      }
    } else if (type == "function_call") {
      if (!item.contains("name") || !item["name"].is_string()) return Bad(path + ".name", "is required (a string)");
      const std::string arguments = item.contains("arguments") && item["arguments"].is_string() ? item["arguments"].get<std::string>() : "";
      const std::string call_id = item.contains("call_id") && item["call_id"].is_string() ? item["call_id"].get<std::string>() : "";
      Add(request.messages, Role::kAssistant,
          Block::ToolCall(call_id, item["name"].get<std::string>(), ParseArgumentsText(arguments)));
    } else if (type == "function_call_output") {
      if (!item.contains("call_id") || !item["call_id"].is_string()) return Bad(path + ".call_id", "is required (a string)");
      LINEAGE_ASSIGN_OR_RETURN(std::string output, PartsText(item.value("output", json("")), path + ".output"));
      Add(request.messages, Role::kUser, Block::ToolResult(item["call_id"].get<std::string>(), output));
    } else if (type == "reasoning") {
      continue;  // a reasoning model's summary of its own: nothing to pass on
    } else {
      return Bad(path + ".type", "'" + type + "' is not one of message, function_call, function_call_output");
    }
  }
  if (request.messages.empty()) return Bad("input", "holds no message");

  if (body.contains("tools") && body["tools"].is_array()) {
    const json& tools = body["tools"];
    for (size_t i = 0; i < tools.size(); ++i) {
      const json& t = tools[i];
      if (!t.is_object() || !t.contains("type") || t["type"] != "function" || !t.contains("name") || !t["name"].is_string()) {
        return Bad(Index("tools", i), "must be {type:\"function\", name, description, parameters}: lineage's gateway "
                                      "serves function tools only");
      }
      request.tools.push_back(Tool{t["name"].get<std::string>(),
                                   t.contains("description") && t["description"].is_string() ? t["description"].get<std::string>() : "",
                                   t.contains("parameters") && t["parameters"].is_object() ? t["parameters"] : json::object()});
    }
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const json& choice = body["tool_choice"];
    const std::string mode = choice.is_string() ? choice.get<std::string>() : "";
    if (mode == "auto") request.tool_choice = ToolChoice{ToolChoice::Mode::kAuto, ""};
    else if (mode == "required") request.tool_choice = ToolChoice{ToolChoice::Mode::kAny, ""};
    else if (mode == "none") request.tool_choice = ToolChoice{ToolChoice::Mode::kNone, ""};
    else if (choice.is_object() && choice.contains("type") && choice["type"] == "function" && choice.contains("name") &&
             choice["name"].is_string())
      request.tool_choice = ToolChoice{ToolChoice::Mode::kTool, choice["name"].get<std::string>()};
    else return Bad("tool_choice", "must be auto, required, none or {type:\"function\", name}");
  }
  return request;
}

json ResponsesResponse(const ChatResponse& response) {
  json output = json::array();
  std::string text;
  for (const Block& b : response.content) {
    if (b.kind == Block::Kind::kText) text += (text.empty() ? "" : "\n") + b.text;
  }
  if (!text.empty() || response.ToolCalls().empty()) {
    output.push_back({{"type", "message"},
                      {"id", ItemId(response, "msg", 0)},
                      {"status", "completed"},
                      {"role", "assistant"},
                      {"content", json::array({{{"type", "output_text"}, {"text", text}, {"annotations", json::array()}}})}});
  }
  for (const Block* call : response.ToolCalls()) {
    output.push_back({{"type", "function_call"},
                      {"id", ItemId(response, "fc", output.size())},
                      {"call_id", call->id},
                      {"name", call->name},
                      {"arguments", ArgumentsText(call->input)},
                      {"status", "completed"}});
  }
  const bool cut = response.stop_reason == StopReason::kMaxTokens;
  return {{"id", "resp_" + (response.id.empty() ? std::string("lineage") : response.id)},
          {"object", "response"},
          {"created_at", 0},
          {"status", cut ? "incomplete" : "completed"},
          {"incomplete_details", cut ? json{{"reason", "max_output_tokens"}} : json()},
          {"error", nullptr},
          {"model", response.model},
          {"output", output},
          {"parallel_tool_calls", true},
          {"tool_choice", "auto"},
          {"tools", json::array()},
          {"usage", ResponsesUsage(response.usage)}};
}

std::string StreamBody(Api api, const ChatResponse& response, bool include_usage) {
  switch (api) {
    case Api::kMessages: return MessagesStream(response);
    case Api::kResponses: return ResponsesStream(response);
    default: return ChatCompletionsStream(response, include_usage);
  }
}

}  // namespace lineage::llm::wire
