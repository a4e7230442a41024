// OpenAI's Responses API (POST /v1/responses): what OpenAI's newer SDKs and agents speak. lineage's client
// never calls it upstream, and its records are not read back: a recorded Responses call is not replayed.
#include <initializer_list>

#include "llm/codec_parts.h"

namespace lineage::llm {
namespace codec {
namespace {

using json = nlohmann::json;

// Text from a string or an array of the API's parts.
Result<std::string> PartsText(const json& content, const std::string& path) {
  return TextOf(content, path, {"input_text", "output_text", "text"});
}

// The ids a response's output items carry: derived from the response's, so a replay writes the same.
std::string ItemId(const std::string& response_id, const char* prefix, size_t index) {
  return std::string(prefix) + "_" + (response_id.empty() ? "lineage" : response_id) + "_" + std::to_string(index);
}

json UsageJson(const Usage& u) {
  return {{"input_tokens", u.input},
          {"input_tokens_details", {{"cached_tokens", u.cache_read}}},
          {"output_tokens", u.output},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning}}},
          {"total_tokens", u.input + u.output}};
}

Result<ChatRequest> ParseRequestBody(const json& body) {
  ChatRequest request;
  LINEAGE_RETURN_IF_ERROR(ReadModel(body, request));
  if (body.contains("instructions") && body["instructions"].is_string()) {
    AddSystem(request, body["instructions"].get<std::string>());
  }
  if (body.contains("previous_response_id") && !body["previous_response_id"].is_null()) {
    return Bad("previous_response_id", "is not supported: lineage's gateway keeps no conversation state; send the "
                                       "whole input");
  }
  LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_output_tokens"));
  LINEAGE_RETURN_IF_ERROR(ReadSampling(body, request));
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
        AddSystem(request, text);
      } else if (role == "user" || role == "assistant") {
        AddBlocks(request, role == "user" ? Role::kUser : Role::kAssistant, {Block::Text(text)});
      } else {
        return Bad(path + ".role", "'" + role + "' is not one of user, assistant, system, developer");
      }
    } else if (type == "function_call") {
      if (!item.contains("name") || !item["name"].is_string()) return Bad(path + ".name", "is required (a string)");
      const std::string arguments = item.contains("arguments") && item["arguments"].is_string() ? item["arguments"].get<std::string>() : "";
      const std::string call_id = item.contains("call_id") && item["call_id"].is_string() ? item["call_id"].get<std::string>() : "";
      AddBlocks(request, Role::kAssistant, {ToolCallWithArguments(call_id, item["name"].get<std::string>(), arguments)});
    } else if (type == "function_call_output") {
      if (!item.contains("call_id") || !item["call_id"].is_string()) return Bad(path + ".call_id", "is required (a string)");
      LINEAGE_ASSIGN_OR_RETURN(std::string output, PartsText(item.value("output", json("")), path + ".output"));
      AddBlocks(request, Role::kUser, {Block::ToolResult(item["call_id"].get<std::string>(), output)});
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

json WriteResponseBody(const ChatResponse& response) {
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
                      {"arguments", wire::ArgumentsText(call->input)},
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
          {"usage", UsageJson(response.usage)}};
}

// The stream: typed events, numbered by sequence_number, from response.created to response.completed; each
// output item (one message holding all the text, then each function call) is added, filled by deltas and
// done in turn.
class ResponsesStreamEncoder : public BlockStreamEncoder {
 public:
  std::string Fail(const ModelError& error) override {
    const json body = wire::ErrorBody(wire::Dialect::kOpenAI, error)["error"];
    return Event("error", {{"code", body["code"]}, {"message", error.message}, {"param", nullptr}});
  }

 private:
  std::string Event(const std::string& type, json data) {
    data["type"] = type;
    data["sequence_number"] = sequence_++;
    return Sse(type, data);
  }

  // Events in the order written: the elements of a braced list are evaluated in order, where the operands
  // of `Event(a) + Event(b)` are not, and each numbers itself as it is made.
  static std::string Join(std::initializer_list<std::string> events) {
    std::string out;
    for (const std::string& e : events) out += e;
    return out;
  }

  bool JoinsText() const override { return true; }

  std::string Start() override {
    ChatResponse empty;
    empty.id = id();
    empty.model = model();
    empty.usage = start_usage();
    json pending = WriteResponseBody(empty);
    pending["status"] = "in_progress";
    pending["output"] = json::array();
    pending["usage"] = nullptr;
    return Join({Event("response.created", {{"response", pending}}), Event("response.in_progress", {{"response", pending}})});
  }

  std::string Open(const StreamDelta& delta) override {
    index_ = next_index_++;
    text_.clear();
    arguments_.clear();
    call_id_ = delta.id;
    call_name_ = delta.name;
    if (delta.kind == StreamDelta::Kind::kText) {
      json item = {{"type", "message"}, {"id", ItemId(id(), "msg", index_)}, {"status", "in_progress"},
                   {"role", "assistant"}, {"content", json::array()}};
      return Join({Event("response.output_item.added", {{"output_index", index_}, {"item", item}}),
                   Event("response.content_part.added",
                         {{"item_id", item["id"]}, {"output_index", index_}, {"content_index", 0},
                          {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}})});
    }
    json item = {{"type", "function_call"}, {"id", ItemId(id(), "fc", index_)}, {"call_id", delta.id},
                 {"name", delta.name}, {"arguments", ""}, {"status", "in_progress"}};
    return Event("response.output_item.added", {{"output_index", index_}, {"item", item}});
  }

  std::string Delta(bool text, const std::string& piece) override {
    if (text) {
      text_ += piece;
      return Event("response.output_text.delta", {{"item_id", ItemId(id(), "msg", index_)}, {"output_index", index_},
                                                  {"content_index", 0}, {"delta", piece}, {"logprobs", json::array()}});
    }
    arguments_ += piece;
    return Event("response.function_call_arguments.delta",
                 {{"item_id", ItemId(id(), "fc", index_)}, {"output_index", index_}, {"delta", piece}});
  }

  std::string Close(bool text) override {
    if (text) {
      const std::string item_id = ItemId(id(), "msg", index_);
      json part = {{"type", "output_text"}, {"text", text_}, {"annotations", json::array()}};
      json item = {{"type", "message"}, {"id", item_id}, {"status", "completed"}, {"role", "assistant"}, {"content", json::array({part})}};
      items_.push_back(item);
      return Join({Event("response.output_text.done", {{"item_id", item_id}, {"output_index", index_}, {"content_index", 0},
                                                       {"text", text_}, {"logprobs", json::array()}}),
                   Event("response.content_part.done",
                         {{"item_id", item_id}, {"output_index", index_}, {"content_index", 0}, {"part", part}}),
                   Event("response.output_item.done", {{"output_index", index_}, {"item", item}})});
    }
    const std::string item_id = ItemId(id(), "fc", index_);
    json item = {{"type", "function_call"}, {"id", item_id}, {"call_id", call_id_}, {"name", call_name_},
                 {"arguments", arguments_}, {"status", "completed"}};
    items_.push_back(item);
    return Join({Event("response.function_call_arguments.done",
                       {{"item_id", item_id}, {"output_index", index_}, {"arguments", arguments_}}),
                 Event("response.output_item.done", {{"output_index", index_}, {"item", item}})});
  }

  std::string End(const ChatResponse& whole) override {
    std::string out;
    // The Responses API always answers with an item: an empty message when the model said nothing.
    if (items_.empty()) {
      out += Piece(StreamDelta{StreamDelta::Kind::kText, 0});
      out += CloseOpen();
    }
    json completed = WriteResponseBody(whole);
    completed["output"] = items_;
    return out + Event("response.completed", {{"response", completed}});
  }

  int sequence_ = 0;                 // the next event's sequence_number
  int index_ = -1, next_index_ = 0;  // the open item's output index; the next one's
  std::string text_, arguments_, call_id_, call_name_;  // of the open item
  json items_ = json::array();                          // the output items done
};

class Responses : public ApiCodec {
 public:
  const char* path() const override { return "/v1/responses"; }
  const char* name() const override { return "responses"; }
  wire::Dialect dialect() const override { return wire::Dialect::kOpenAI; }
  const char* record_dialect() const override { return "openai-responses"; }
  bool spoken_upstream() const override { return false; }
  Result<ChatRequest> ParseRequest(const json& body) const override { return ParseRequestBody(body); }
  json WriteResponse(const ChatResponse& response) const override { return WriteResponseBody(response); }
  Result<ChatResponse> ReadResponse(const std::string&) const override {
    return Status::NotFound("a Responses API call cannot be replayed from its record");
  }
  std::unique_ptr<StreamEncoder> NewStreamEncoder(bool) const override { return std::make_unique<ResponsesStreamEncoder>(); }
};

}  // namespace
}  // namespace codec

const ApiCodec& ResponsesCodec() {
  static const codec::Responses codec;
  return codec;
}

}  // namespace lineage::llm
