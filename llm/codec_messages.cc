// Anthropic's Messages (POST /v1/messages): what Claude's SDKs and agents speak, and what lineage's client
// speaks to Anthropic.
#include "llm/codec_parts.h"

namespace lineage::llm {
namespace codec {
namespace {

using json = nlohmann::json;

Result<ChatRequest> ParseRequestBody(const json& body) {
  ChatRequest request;
  LINEAGE_RETURN_IF_ERROR(ReadModel(body, request));
  if (!body.contains("messages") || !body["messages"].is_array()) return Bad("messages", "is required (an array)");
  LINEAGE_RETURN_IF_ERROR(ReadSampling(body, request));
  LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_tokens"));
  LINEAGE_ASSIGN_OR_RETURN(request.stop, ReadStop(body, "stop_sequences"));
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
      AddBlocks(request, role, {Block::Text(content.get<std::string>())});
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
    AddBlocks(request, role, std::move(blocks));
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

json WriteResponseBody(const ChatResponse& response) {
  json content = json::array();
  for (const Block& b : response.content) {
    if (b.kind == Block::Kind::kText) {
      content.push_back({{"type", "text"}, {"text", b.text}});
    } else if (b.kind == Block::Kind::kToolCall) {
      content.push_back({{"type", "tool_use"}, {"id", b.id}, {"name", b.name}, {"input", wire::AnthropicInput(b.input)}});
    }
  }
  const Usage& u = response.usage;
  return {{"id", response.id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", response.model},
          {"content", content},
          {"stop_reason", wire::StopReasonName(wire::Dialect::kAnthropic, response.stop_reason)},
          {"stop_sequence", nullptr},
          {"usage",
           {{"input_tokens", std::max<std::int64_t>(0, u.input - u.cache_read - u.cache_write)},
            {"output_tokens", u.output},
            {"cache_read_input_tokens", u.cache_read},
            {"cache_creation_input_tokens", u.cache_write}}}};
}

// The stream: message_start, then content_block_start, _delta... and _stop for each block, numbered in
// order, then message_delta (the stop reason and usage) and message_stop.
class MessagesStreamEncoder : public BlockStreamEncoder {
 public:
  std::string Fail(const ModelError& error) override { return Sse("error", wire::ErrorBody(wire::Dialect::kAnthropic, error)); }

 private:
  std::string Start() override {
    ChatResponse empty;
    empty.id = id();
    empty.model = model();
    empty.usage = start_usage();
    json message = WriteResponseBody(empty);
    message["stop_reason"] = nullptr;
    message["usage"]["output_tokens"] = 0;
    return Sse("message_start", {{"type", "message_start"}, {"message", message}});
  }

  std::string Open(const StreamDelta& delta) override {
    index_ = next_index_++;
    json block = delta.kind == StreamDelta::Kind::kText
                     ? json{{"type", "text"}, {"text", ""}}
                     : json{{"type", "tool_use"}, {"id", delta.id}, {"name", delta.name}, {"input", json::object()}};
    return Sse("content_block_start", {{"type", "content_block_start"}, {"index", index_}, {"content_block", block}});
  }

  std::string Delta(bool text, const std::string& piece) override {
    return Sse("content_block_delta", {{"type", "content_block_delta"},
                                       {"index", index_},
                                       {"delta", text ? json{{"type", "text_delta"}, {"text", piece}}
                                                      : json{{"type", "input_json_delta"}, {"partial_json", piece}}}});
  }

  std::string Close(bool) override { return Sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}}); }

  std::string End(const ChatResponse& whole) override {
    // Usage as totals, input included: the answer's start may not have known it (an OpenAI upstream).
    const json message = WriteResponseBody(whole);
    return Sse("message_delta", {{"type", "message_delta"},
                                 {"delta", {{"stop_reason", message["stop_reason"]}, {"stop_sequence", nullptr}}},
                                 {"usage", message["usage"]}}) +
           Sse("message_stop", {{"type", "message_stop"}});
  }

  int index_ = -1, next_index_ = 0;  // the open block's content index; the next one's
};

class Messages : public ApiCodec {
 public:
  const char* path() const override { return "/v1/messages"; }
  const char* name() const override { return "messages"; }
  wire::Dialect dialect() const override { return wire::Dialect::kAnthropic; }
  const char* record_dialect() const override { return "anthropic"; }
  bool spoken_upstream() const override { return true; }
  Result<ChatRequest> ParseRequest(const json& body) const override { return ParseRequestBody(body); }
  json WriteResponse(const ChatResponse& response) const override { return WriteResponseBody(response); }
  Result<ChatResponse> ReadResponse(const std::string& recorded) const override {
    return ReadRecorded(recorded, wire::ParseAnthropicResponse);
  }
  std::unique_ptr<StreamEncoder> NewStreamEncoder(bool) const override { return std::make_unique<MessagesStreamEncoder>(); }
};

}  // namespace
}  // namespace codec

const ApiCodec& MessagesCodec() {
  static const codec::Messages codec;
  return codec;
}

}  // namespace lineage::llm
