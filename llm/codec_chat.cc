// OpenAI's Chat Completions (POST /v1/chat/completions): the API most agents and SDKs speak, and the one
// lineage's client speaks to OpenAI-compatible providers.
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
  if (body.contains("n") && body["n"].is_number_integer() && body["n"].get<int>() != 1) {
    return Bad("n", "must be 1: lineage's gateway returns one choice");
  }
  LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_completion_tokens"));
  if (!request.max_tokens) {
    LINEAGE_ASSIGN_OR_RETURN(request.max_tokens, OptionalPositiveInt(body, "max_tokens"));
  }
  LINEAGE_ASSIGN_OR_RETURN(request.stop, ReadStop(body, "stop"));
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
      AddSystem(request, text, cache);
    } else if (role == "user") {
      Block block = Block::Text(text);
      block.cache = cache;
      AddBlocks(request, Role::kUser, {std::move(block)});
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
          const std::string arguments = function.contains("arguments") && function["arguments"].is_string()
                                            ? function["arguments"].get<std::string>()
                                            : std::string();
          blocks.push_back(ToolCallWithArguments(call.value("id", ""), function["name"].get<std::string>(), arguments));
        }
      }
      if (blocks.empty()) blocks.push_back(Block::Text(""));
      AddBlocks(request, Role::kAssistant, std::move(blocks));
    } else if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string()) {
        return Bad(Field(path, "tool_call_id"), "is required for a tool message");
      }
      Block result = Block::ToolResult(m["tool_call_id"].get<std::string>(), text);
      result.cache = cache;
      AddBlocks(request, Role::kUser, {std::move(result)});
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

json WriteResponseBody(const ChatResponse& response) {
  std::string text;
  json calls = json::array();
  for (const Block& b : response.content) {
    if (b.kind == Block::Kind::kText) {
      text += (text.empty() ? "" : "\n") + b.text;
    } else if (b.kind == Block::Kind::kToolCall) {
      calls.push_back({{"id", b.id},
                       {"type", "function"},
                       {"function", {{"name", b.name}, {"arguments", wire::ArgumentsText(b.input)}}}});
    }
  }
  json message = {{"role", "assistant"}, {"content", text.empty() && !calls.empty() ? json() : json(text)}};
  if (!calls.empty()) message["tool_calls"] = calls;
  const Usage& u = response.usage;
  return {{"id", response.id},
          {"object", "chat.completion"},
          {"created", 0},
          {"model", response.model},
          {"choices", json::array({{{"index", 0},
                                    {"message", message},
                                    {"finish_reason", wire::StopReasonName(wire::Dialect::kOpenAI, response.stop_reason)}}})},
          {"usage",
           {{"prompt_tokens", u.input},
            {"completion_tokens", u.output},
            {"total_tokens", u.input + u.output},
            {"prompt_tokens_details", {{"cached_tokens", u.cache_read}}},
            {"completion_tokens_details", {{"reasoning_tokens", u.reasoning}}}}}};
}


// The stream: "data: CHUNK" lines of chat.completion.chunk objects, ending "data: [DONE]"; only tool calls
// are numbered (choices[0].delta.tool_calls[].index).
class ChatStreamEncoder : public BlockStreamEncoder {
 public:
  explicit ChatStreamEncoder(bool include_usage) : include_usage_(include_usage) {}

  std::string Fail(const ModelError& error) override {
    return Sse("", wire::ErrorBody(wire::Dialect::kOpenAI, error));  // no [DONE]: the stream failed
  }

 private:
  json Chunk(json delta, json finish_reason = nullptr) const {
    json chunk = {{"id", id()}, {"object", "chat.completion.chunk"}, {"created", 0}, {"model", model()}};
    chunk["choices"] =
        json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish_reason)}}});
    return chunk;
  }

  std::string Start() override { return Sse("", Chunk({{"role", "assistant"}, {"content", ""}})); }

  std::string Open(const StreamDelta& delta) override {
    if (delta.kind == StreamDelta::Kind::kText) return "";
    call_ = next_call_++;
    json call = {{"index", call_},
                 {"id", delta.id},
                 {"type", "function"},
                 {"function", {{"name", delta.name}, {"arguments", ""}}}};
    return Sse("", Chunk({{"tool_calls", json::array({call})}}));
  }

  std::string Delta(bool text, const std::string& piece) override {
    return Sse("", Chunk(text ? json{{"content", piece}}
                              : json{{"tool_calls", json::array({{{"index", call_}, {"function", {{"arguments", piece}}}}})}}));
  }

  std::string Close(bool) override { return ""; }

  std::string End(const ChatResponse& whole) override {
    const json response = WriteResponseBody(whole);
    json chunk = Chunk(json::object(), response["choices"][0]["finish_reason"]);
    std::string out = Sse("", chunk);
    if (include_usage_) {
      chunk["choices"] = json::array();
      chunk["usage"] = response["usage"];
      out += Sse("", chunk);
    }
    return out + "data: [DONE]\n\n";
  }

  const bool include_usage_;
  int call_ = -1, next_call_ = 0;  // the open tool call's index; the next one's
};

class ChatCompletions : public ApiCodec {
 public:
  const char* path() const override { return "/v1/chat/completions"; }
  const char* name() const override { return "chat_completions"; }
  wire::Dialect dialect() const override { return wire::Dialect::kOpenAI; }
  const char* record_dialect() const override { return "openai"; }
  bool spoken_upstream() const override { return true; }
  Result<ChatRequest> ParseRequest(const json& body) const override { return ParseRequestBody(body); }
  json WriteResponse(const ChatResponse& response) const override { return WriteResponseBody(response); }
  Result<ChatResponse> ReadResponse(const std::string& recorded) const override {
    return ReadRecorded(recorded, wire::ParseOpenAIResponse);
  }
  std::unique_ptr<StreamEncoder> NewStreamEncoder(bool include_usage) const override {
    return std::make_unique<ChatStreamEncoder>(include_usage);
  }
};

}  // namespace
}  // namespace codec

const ApiCodec& ChatCompletionsCodec() {
  static const codec::ChatCompletions codec;
  return codec;
}

}  // namespace lineage::llm
