// The Responses API and server-sent events towards callers (wire.h): what agents written with today's SDKs
// send and expect. Pure functions, as the rest of wire.
#include <algorithm>

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

// The HTTP status an error event's type stands for, to classify it as an answer with that status would be.
int StatusOfErrorType(const std::string& type) {
  if (type == "overloaded_error") return 529;
  if (type == "rate_limit_error" || type == "rate_limit_exceeded") return 429;
  if (type == "authentication_error" || type == "invalid_api_key") return 401;
  if (type == "invalid_request_error") return 400;
  return 500;
}

json ResponsesUsage(const Usage& u) {
  return {{"input_tokens", u.input},
          {"input_tokens_details", {{"cached_tokens", u.cache_read}}},
          {"output_tokens", u.output},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning}}},
          {"total_tokens", u.input + u.output}};
}

// The ids a response's output items carry: derived from the response's, so a replay writes the same.
std::string ItemId(const std::string& response_id, const char* prefix, size_t index) {
  return std::string(prefix) + "_" + (response_id.empty() ? "lineage" : response_id) + "_" + std::to_string(index);
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
                      {"id", ItemId(response.id, "msg", 0)},
                      {"status", "completed"},
                      {"role", "assistant"},
                      {"content", json::array({{{"type", "output_text"}, {"text", text}, {"annotations", json::array()}}})}});
  }
  for (const Block* call : response.ToolCalls()) {
    output.push_back({{"type", "function_call"},
                      {"id", ItemId(response.id, "fc", output.size())},
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

// --- Streams towards callers ----------------------------------------------------------------------------

StreamEncoder::StreamEncoder(Api api, bool include_usage) : api_(api), include_usage_(include_usage) {}

std::string StreamEncoder::Event(const std::string& type, json data) {
  data["type"] = type;
  data["sequence_number"] = sequence_++;
  return Sse(type, data);
}

std::string StreamEncoder::Piece(const StreamDelta& delta) {
  if (delta.kind == StreamDelta::Kind::kStart) {
    if (started_) return "";
    started_ = true;
    id_ = delta.id;
    model_ = delta.model;
    start_usage_ = delta.usage;
    ChatResponse empty;
    empty.id = id_;
    empty.model = model_;
    empty.usage = start_usage_;
    switch (api_) {
      case Api::kMessages: {
        json message = AnthropicResponse(empty);
        message["stop_reason"] = nullptr;
        message["usage"]["output_tokens"] = 0;
        return Sse("message_start", {{"type", "message_start"}, {"message", message}});
      }
      case Api::kResponses: {
        json pending = ResponsesResponse(empty);
        pending["status"] = "in_progress";
        pending["output"] = json::array();
        pending["usage"] = nullptr;
        return Event("response.created", {{"response", pending}}) + Event("response.in_progress", {{"response", pending}});
      }
      default: {
        json chunk = {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", 0}, {"model", model_}};
        chunk["choices"] = json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}});
        return Sse("", chunk);
      }
    }
  }
  std::string out;
  if (!started_) out += Piece(StreamDelta{StreamDelta::Kind::kStart});
  const bool text = delta.kind == StreamDelta::Kind::kText;
  if (delta.kind == StreamDelta::Kind::kToolCall || delta.block != open_block_ || (text != open_is_text_)) {
    if (delta.kind == StreamDelta::Kind::kToolArguments) return out;  // arguments of a call never opened
    // Text continues the Responses API's open message item, as its whole form joins text into one.
    if (!(text && api_ == Api::kResponses && open_block_ >= 0 && open_is_text_)) {
      out += Close();
      out += OpenBlock(delta);
    }
    open_block_ = delta.block;
    open_is_text_ = text;
  }
  if (delta.text.empty()) return out;
  const int index = next_index_ - 1;
  if (text) text_ += delta.text;
  else arguments_ += delta.text;
  switch (api_) {
    case Api::kMessages:
      return out + Sse("content_block_delta",
                       {{"type", "content_block_delta"},
                        {"index", index},
                        {"delta", text ? json{{"type", "text_delta"}, {"text", delta.text}}
                                       : json{{"type", "input_json_delta"}, {"partial_json", delta.text}}}});
    case Api::kResponses: {
      const std::string item = ItemId(id_, text ? "msg" : "fc", index);
      if (text) {
        return out + Event("response.output_text.delta", {{"item_id", item}, {"output_index", index}, {"content_index", 0},
                                                           {"delta", delta.text}, {"logprobs", json::array()}});
      }
      return out + Event("response.function_call_arguments.delta", {{"item_id", item}, {"output_index", index}, {"delta", delta.text}});
    }
    default: {
      json chunk = {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", 0}, {"model", model_}};
      json d = text ? json{{"content", delta.text}}
                    : json{{"tool_calls", json::array({{{"index", index}, {"function", {{"arguments", delta.text}}}}})}};
      chunk["choices"] = json::array({{{"index", 0}, {"delta", d}, {"finish_reason", nullptr}}});
      return out + Sse("", chunk);
    }
  }
}

std::string StreamEncoder::OpenBlock(const StreamDelta& delta) {
  const bool text = delta.kind == StreamDelta::Kind::kText;
  const int index = next_index_++;
  text_.clear();
  arguments_.clear();
  call_id_ = delta.id;
  call_name_ = delta.name;
  switch (api_) {
    case Api::kMessages: {
      json block = text ? json{{"type", "text"}, {"text", ""}}
                        : json{{"type", "tool_use"}, {"id", delta.id}, {"name", delta.name}, {"input", json::object()}};
      return Sse("content_block_start", {{"type", "content_block_start"}, {"index", index}, {"content_block", block}});
    }
    case Api::kResponses: {
      if (text) {
        json item = {{"type", "message"}, {"id", ItemId(id_, "msg", index)}, {"status", "in_progress"},
                     {"role", "assistant"}, {"content", json::array()}};
        return Event("response.output_item.added", {{"output_index", index}, {"item", item}}) +
               Event("response.content_part.added",
                     {{"item_id", item["id"]}, {"output_index", index}, {"content_index", 0},
                      {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}});
      }
      json item = {{"type", "function_call"}, {"id", ItemId(id_, "fc", index)}, {"call_id", delta.id},
                   {"name", delta.name}, {"arguments", ""}, {"status", "in_progress"}};
      return Event("response.output_item.added", {{"output_index", index}, {"item", item}});
    }
    default: {
      if (text) {
        --next_index_;  // Chat Completions numbers tool calls only
        return "";
      }
      json chunk = {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", 0}, {"model", model_}};
      json call = {{"index", index}, {"id", delta.id}, {"type", "function"}, {"function", {{"name", delta.name}, {"arguments", ""}}}};
      chunk["choices"] = json::array({{{"index", 0}, {"delta", {{"tool_calls", json::array({call})}}}, {"finish_reason", nullptr}}});
      return Sse("", chunk);
    }
  }
}

std::string StreamEncoder::Close() {
  if (open_block_ < 0) return "";
  const int index = next_index_ - 1;
  const bool text = open_is_text_;
  open_block_ = -1;
  if (api_ == Api::kMessages) return Sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
  if (api_ != Api::kResponses) return "";
  if (text) {
    const std::string id = ItemId(id_, "msg", index);
    json part = {{"type", "output_text"}, {"text", text_}, {"annotations", json::array()}};
    json item = {{"type", "message"}, {"id", id}, {"status", "completed"}, {"role", "assistant"}, {"content", json::array({part})}};
    items_.push_back(item);
    return Event("response.output_text.done",
                 {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"text", text_}, {"logprobs", json::array()}}) +
           Event("response.content_part.done", {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"part", part}}) +
           Event("response.output_item.done", {{"output_index", index}, {"item", item}});
  }
  const std::string id = ItemId(id_, "fc", index);
  json item = {{"type", "function_call"}, {"id", id}, {"call_id", call_id_}, {"name", call_name_},
               {"arguments", arguments_}, {"status", "completed"}};
  items_.push_back(item);
  return Event("response.function_call_arguments.done", {{"item_id", id}, {"output_index", index}, {"arguments", arguments_}}) +
         Event("response.output_item.done", {{"output_index", index}, {"item", item}});
}

std::string StreamEncoder::Finish(const ChatResponse& whole) {
  std::string out;
  if (!started_) out += Piece(StreamDelta{StreamDelta::Kind::kStart, 0, "", whole.id, "", whole.model, whole.usage});
  // The Responses API always answers with an item: an empty message when the model said nothing.
  if (api_ == Api::kResponses && items_.empty() && open_block_ < 0) out += Piece(StreamDelta{StreamDelta::Kind::kText, 0});
  out += Close();
  switch (api_) {
    case Api::kMessages: {
      // Usage as totals, input included: the answer's start may not have known it (an OpenAI upstream).
      const json message = AnthropicResponse(whole);
      return out + Sse("message_delta", {{"type", "message_delta"},
                                         {"delta", {{"stop_reason", message["stop_reason"]}, {"stop_sequence", nullptr}}},
                                         {"usage", message["usage"]}}) +
             Sse("message_stop", {{"type", "message_stop"}});
    }
    case Api::kResponses: {
      json completed = ResponsesResponse(whole);
      completed["output"] = items_;
      return out + Event("response.completed", {{"response", completed}});
    }
    default: {
      const json response = OpenAIResponse(whole);
      json chunk = {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", 0}, {"model", model_}};
      chunk["choices"] = json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", response["choices"][0]["finish_reason"]}}});
      out += Sse("", chunk);
      if (include_usage_) {
        chunk["choices"] = json::array();
        chunk["usage"] = response["usage"];
        out += Sse("", chunk);
      }
      return out + "data: [DONE]\n\n";
    }
  }
}

std::string StreamEncoder::Fail(const ModelError& error) {
  switch (api_) {
    case Api::kMessages: return Sse("error", ErrorBody(Dialect::kAnthropic, error));
    case Api::kResponses: {
      const json body = ErrorBody(Dialect::kOpenAI, error)["error"];
      return Event("error", {{"code", body["code"]}, {"message", error.message}, {"param", nullptr}});
    }
    default: return Sse("", ErrorBody(Dialect::kOpenAI, error));  // no [DONE]: the stream failed
  }
}

std::vector<StreamDelta> Pieces(const ChatResponse& response, std::size_t max_piece) {
  std::vector<StreamDelta> out;
  StreamDelta start{StreamDelta::Kind::kStart};
  start.id = response.id;
  start.model = response.model;
  start.usage = response.usage;
  start.usage.output = start.usage.reasoning = 0;
  out.push_back(start);
  auto split = [&](StreamDelta::Kind kind, int block, const std::string& text) {
    for (size_t at = 0; at < text.size(); at += max_piece) {
      StreamDelta d{kind, block};
      d.text = text.substr(at, max_piece);
      out.push_back(std::move(d));
    }
  };
  for (size_t i = 0; i < response.content.size(); ++i) {
    const Block& b = response.content[i];
    const int block = static_cast<int>(i);
    if (b.kind == Block::Kind::kText) {
      split(StreamDelta::Kind::kText, block, b.text);
    } else if (b.kind == Block::Kind::kToolCall) {
      StreamDelta call{StreamDelta::Kind::kToolCall, block};
      call.id = b.id;
      call.name = b.name;
      out.push_back(std::move(call));
      split(StreamDelta::Kind::kToolArguments, block, ArgumentsText(b.input));
    }
  }
  return out;
}

std::string StreamBody(Api api, const ChatResponse& response, bool include_usage) {
  StreamEncoder encoder(api, include_usage);
  std::string out;
  for (const StreamDelta& piece : Pieces(response)) out += encoder.Piece(piece);
  return out + encoder.Finish(response);
}

// --- Streams from providers -------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(Dialect dialect, DeltaHandler on_delta) : dialect_(dialect), on_delta_(std::move(on_delta)) {}

bool StreamDecoder::Hand(StreamDelta delta) {
  handed_ = true;
  if (on_delta_ && !on_delta_(delta)) stopped_ = true;
  return !stopped_;
}

bool StreamDecoder::Feed(std::string_view bytes) {
  if (error_ || stopped_) return false;
  // A provider's event with a field of the wrong type fails the answer, never the caller (this runs inside
  // curl's write callback, which no exception may cross).
  try {
    return FeedEvents(bytes);
  } catch (const json::exception& e) {
    error_ = ModelError{ErrorKind::kMalformedResponse, 200, std::string("the provider's stream is malformed: ") + e.what()};
    return false;
  }
}

bool StreamDecoder::FeedEvents(std::string_view bytes) {
  buffer_.append(bytes);
  // Events end with a blank line; a field line is "name: value" ("data" lines of one event join).
  for (;;) {
    size_t end = buffer_.find("\n\n"), skip = 2;
    if (const size_t crlf = buffer_.find("\r\n\r\n"); crlf != std::string::npos && crlf < end) end = crlf, skip = 4;
    if (end == std::string::npos) return true;
    const std::string block = buffer_.substr(0, end);
    buffer_.erase(0, end + skip);
    std::string event, data;
    size_t at = 0;
    while (at <= block.size()) {
      size_t eol = block.find('\n', at);
      if (eol == std::string::npos) eol = block.size();
      std::string line = block.substr(at, eol - at);
      at = eol + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (line.empty() || colon == 0) continue;  // a comment (": ping")
      std::string field = line.substr(0, colon), value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "event") event = value;
      if (field == "data") data += (data.empty() ? "" : "\n") + value;
    }
    if (!data.empty() && !OnEvent(event, data)) return false;
  }
}

bool StreamDecoder::OnEvent(const std::string& event, const std::string& data) {
  if (data == "[DONE]") return true;
  json parsed = JsonNesting(data) > kMaxNesting ? json(json::value_t::discarded) : json::parse(data, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    error_ = ModelError{ErrorKind::kMalformedResponse, 200, "the provider's stream holds an event that is not a JSON object"};
    return false;
  }
  if (event == "error" || parsed.contains("error")) {
    const json e = parsed.contains("error") && parsed["error"].is_object() ? parsed["error"] : parsed;
    const std::string type = e.contains("type") && e["type"].is_string() ? e["type"].get<std::string>()
                             : e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
    error_ = ClassifyHttpError(StatusOfErrorType(type), json{{"error", e}}.dump());
    error_->message = "mid-stream, " + error_->message;
    return false;
  }
  return dialect_ == Dialect::kOpenAI ? OnOpenAI(parsed) : OnAnthropic(parsed.value("type", event), parsed);
}

bool StreamDecoder::OnOpenAI(const json& chunk) {
  if (!started_) {
    started_ = true;
    whole_ = {{"id", chunk.value("id", "")}, {"object", "chat.completion"}, {"model", chunk.value("model", "")},
              {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}})}};
    StreamDelta start{StreamDelta::Kind::kStart};
    start.id = whole_["id"];
    start.model = whole_["model"];
    if (!Hand(std::move(start))) return false;
  }
  if (chunk.contains("usage") && chunk["usage"].is_object()) whole_["usage"] = chunk["usage"];
  if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) return true;
  const json& choice = chunk["choices"][0];
  if (!choice.is_object()) return true;
  json& message = whole_["choices"][0]["message"];
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) whole_["choices"][0]["finish_reason"] = choice["finish_reason"];
  if (!choice.contains("delta") || !choice["delta"].is_object()) return true;
  const json& delta = choice["delta"];
  if (delta.contains("content") && delta["content"].is_string() && !delta["content"].get<std::string>().empty()) {
    const std::string text = delta["content"];
    message["content"] = message["content"].get<std::string>() + text;
    if (!Hand(StreamDelta{StreamDelta::Kind::kText, 0, text})) return false;
  }
  if (!delta.contains("tool_calls") || !delta["tool_calls"].is_array()) return true;
  for (const json& call : delta["tool_calls"]) {
    if (!call.is_object() || !call.contains("index") || !call["index"].is_number_integer()) continue;
    const int index = call["index"].get<int>();
    if (index < 0 || index > 1024) continue;
    const int block = 1 + index;  // text is block 0
    json& calls = message["tool_calls"];
    if (!calls.is_array()) calls = json::array();
    while (static_cast<int>(calls.size()) <= index) {
      calls.push_back({{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
    }
    json& into = calls[index];
    const json fn = call.contains("function") && call["function"].is_object() ? call["function"] : json::object();
    if (call.contains("id") && call["id"].is_string()) into["id"] = call["id"];
    const bool opens = into["function"]["name"].get<std::string>().empty();
    if (opens && fn.contains("name") && fn["name"].is_string() && !fn["name"].get<std::string>().empty()) {
      into["function"]["name"] = fn["name"];
      StreamDelta open{StreamDelta::Kind::kToolCall, block};
      open.id = into["id"];
      open.name = fn["name"];
      if (!Hand(std::move(open))) return false;
    }
    if (fn.contains("arguments") && fn["arguments"].is_string() && !fn["arguments"].get<std::string>().empty()) {
      const std::string fragment = fn["arguments"];
      into["function"]["arguments"] = into["function"]["arguments"].get<std::string>() + fragment;
      if (!Hand(StreamDelta{StreamDelta::Kind::kToolArguments, block, fragment})) return false;
    }
  }
  return true;
}

bool StreamDecoder::OnAnthropic(const std::string& type, const json& event) {
  if (type == "message_start" && event.contains("message") && event["message"].is_object()) {
    started_ = true;
    whole_ = event["message"];
    whole_["content"] = json::array();
    Result<ChatResponse> so_far = ParseAnthropicResponse(whole_);
    StreamDelta start{StreamDelta::Kind::kStart};
    start.id = whole_.value("id", "");
    start.model = whole_.value("model", "");
    if (so_far.ok()) start.usage = so_far->usage;
    start.usage.output = 0;
    return Hand(std::move(start));
  }
  if (!started_) return true;  // a ping before the message
  const int index = event.contains("index") && event["index"].is_number_integer() ? event["index"].get<int>() : -1;
  json& content = whole_["content"];
  if (type == "content_block_start" && index >= 0 && index <= 1024 && event.contains("content_block")) {
    while (static_cast<int>(content.size()) <= index) content.push_back(json::object());
    content[index] = event["content_block"];
    const json& b = content[index];
    if (b.is_object() && b.value("type", "") == "tool_use") {
      StreamDelta open{StreamDelta::Kind::kToolCall, index};
      open.id = b.value("id", "");
      open.name = b.value("name", "");
      return Hand(std::move(open));
    }
    if (b.is_object() && b.value("type", "") == "text" && !b.value("text", "").empty()) {
      return Hand(StreamDelta{StreamDelta::Kind::kText, index, b.value("text", "")});
    }
    return true;
  }
  if (type == "content_block_delta" && index >= 0 && index < static_cast<int>(content.size()) && event.contains("delta") &&
      event["delta"].is_object()) {
    const json& d = event["delta"];
    json& b = content[index];
    if (d.value("type", "") == "text_delta" && d.contains("text") && d["text"].is_string()) {
      b["text"] = b.value("text", "") + d["text"].get<std::string>();
      return Hand(StreamDelta{StreamDelta::Kind::kText, index, d["text"]});
    }
    if (d.value("type", "") == "input_json_delta" && d.contains("partial_json") && d["partial_json"].is_string()) {
      arguments_[index] += d["partial_json"].get<std::string>();
      return Hand(StreamDelta{StreamDelta::Kind::kToolArguments, index, d["partial_json"]});
    }
    return true;  // thinking and signatures: nothing an agent acts on
  }
  if (type == "message_delta") {
    if (event.contains("delta") && event["delta"].is_object() && event["delta"].contains("stop_reason")) {
      whole_["stop_reason"] = event["delta"]["stop_reason"];
    }
    if (event.contains("usage") && event["usage"].is_object()) {
      for (const auto& [key, value] : event["usage"].items()) {
        if (!value.is_null()) whole_["usage"][key] = value;  // totals so far: they replace, never add
      }
    }
  }
  return true;
}

Result<ChatResponse> StreamDecoder::Finish() {
  if (!started_) return Status::InvalidArgument("the stream ended before the answer began");
  try {
    return FinishWhole();
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("the stream's answer is malformed: ") + e.what());
  }
}

Result<ChatResponse> StreamDecoder::FinishWhole() {
  if (dialect_ == Dialect::kAnthropic) {
    for (const auto& [index, text] : arguments_) whole_["content"][index]["input"] = ParseArgumentsText(text);
    json& content = whole_["content"];
    content.erase(std::remove_if(content.begin(), content.end(), [](const json& b) { return b.empty(); }), content.end());
  }
  return ParseResponse(dialect_, whole_);
}

}  // namespace lineage::llm::wire
