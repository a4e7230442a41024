// Translation between the two wire formats and the internal form, tools included.
#include "llm/wire.h"

#include <catch2/catch.hpp>

#include "llm/codec.h"

namespace lineage::llm {
namespace {

using json = nlohmann::json;
using wire::Dialect;

// The callers' side of each format is its API's codec (codec.h).
const ApiCodec& Chat() { return *FindCodec("POST", "/v1/chat/completions"); }
const ApiCodec& Messages() { return *FindCodec("POST", "/v1/messages"); }
const ApiCodec& Responses() { return *FindCodec("POST", "/v1/responses"); }

// A conversation with a system prompt, a tool, a call and its result, in OpenAI's format.
json OpenAIConversation() {
  return json::parse(R"({
    "model": "conductor", "max_tokens": 300, "temperature": 0.2, "stop": "END",
    "messages": [
      {"role": "system", "content": "You are careful."},
      {"role": "user", "content": [{"type": "text", "text": "List the files."}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"pwd\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
      {"role": "tool", "tool_call_id": "call_2", "content": "/work"},
      {"role": "user", "content": "Thanks."}
    ],
    "tools": [{"type": "function", "function": {"name": "bash", "description": "Run a command",
               "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}],
    "tool_choice": {"type": "function", "function": {"name": "bash"}}
  })");
}

TEST_CASE("An OpenAI request becomes the internal form with tool calls and results in place") {
  auto r = Chat().ParseRequest(OpenAIConversation());
  REQUIRE(r.ok());
  CHECK(r->model == "conductor");
  CHECK(r->system == "You are careful.");
  CHECK(r->max_tokens == 300);
  CHECK(r->stop == std::vector<std::string>{"END"});
  REQUIRE(r->messages.size() == 3);  // user, assistant (two calls), user (two results + text)
  CHECK(r->messages[1].role == Role::kAssistant);
  REQUIRE(r->messages[1].content.size() == 2);
  CHECK(r->messages[1].content[0].kind == Block::Kind::kToolCall);
  CHECK(r->messages[1].content[0].input == json{{"command", "ls"}});
  const auto& results = r->messages[2].content;
  REQUIRE(results.size() == 3);
  CHECK(results[0].kind == Block::Kind::kToolResult);
  CHECK(results[0].id == "call_1");
  CHECK(results[1].text == "/work");
  CHECK(results[2].text == "Thanks.");
  REQUIRE(r->tools.size() == 1);
  CHECK(r->tools[0].parameters["properties"].contains("command"));
  REQUIRE(r->tool_choice);
  CHECK(r->tool_choice->mode == ToolChoice::Mode::kTool);
}

TEST_CASE("OpenAI to Anthropic: tools, calls and results land where Anthropic expects them") {
  auto r = Chat().ParseRequest(OpenAIConversation());
  REQUIRE(r.ok());
  json a = wire::AnthropicRequest(*r, "claude-sonnet-4-5", 4096);
  CHECK(a["model"] == "claude-sonnet-4-5");
  CHECK(a["system"] == "You are careful.");
  CHECK(a["max_tokens"] == 300);
  CHECK(a["stop_sequences"] == json::array({"END"}));
  CHECK(a["tools"][0]["input_schema"]["properties"].contains("command"));
  CHECK(a["tool_choice"] == json{{"type", "tool"}, {"name", "bash"}});
  const json& assistant = a["messages"][1];
  CHECK(assistant["role"] == "assistant");
  CHECK(assistant["content"][0] == json{{"type", "tool_use"}, {"id", "call_1"}, {"name", "bash"}, {"input", {{"command", "ls"}}}});
  const json& user = a["messages"][2];
  CHECK(user["content"][0]["type"] == "tool_result");
  CHECK(user["content"][0]["tool_use_id"] == "call_1");
  CHECK(user["content"][1]["content"] == "/work");
  CHECK(user["content"][2] == json{{"type", "text"}, {"text", "Thanks."}});
  // And Anthropic's own parser reads back the same conversation.
  auto back = Messages().ParseRequest(a);
  REQUIRE(back.ok());
  CHECK(ToJson(*back)["messages"] == ToJson(*r)["messages"]);
}

TEST_CASE("Anthropic to OpenAI: tool results become tool messages right after the calls") {
  json anthropic = json::parse(R"({
    "model": "expert", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
    "messages": [
      {"role": "user", "content": "Fix it."},
      {"role": "assistant", "content": [{"type": "text", "text": "Looking."},
                                        {"type": "tool_use", "id": "tu_1", "name": "edit", "input": {"path": "a.c"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "done"}], "is_error": true}]}
    ],
    "tools": [{"name": "edit", "description": "Edit a file", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"}
  })");
  auto r = Messages().ParseRequest(anthropic);
  REQUIRE(r.ok());
  CHECK(r->messages[2].content[0].is_error);
  json o = wire::OpenAIRequest(*r, "gpt-4.1-mini", 4096);
  CHECK(o["messages"][0] == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(o["messages"][2]["content"] == "Looking.");
  CHECK(o["messages"][2]["tool_calls"][0]["function"]["arguments"] == "{\"path\":\"a.c\"}");
  CHECK(o["messages"][3] == json{{"role", "tool"}, {"tool_call_id", "tu_1"}, {"content", "done"}});
  CHECK(o["messages"].size() == 4);
  CHECK(o["tools"][0]["function"]["name"] == "edit");
  CHECK(o["tool_choice"] == "required");
}

TEST_CASE("Responses translate both ways with tool calls, stop reasons and usage") {
  json openai = json::parse(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4.1-mini",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
      "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"make\"}"}}]}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
              "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 7}}
  })");
  auto r = wire::ParseOpenAIResponse(openai);
  REQUIRE(r.ok());
  CHECK(r->stop_reason == StopReason::kToolUse);
  CHECK(r->usage.input == 120);
  CHECK(r->usage.cache_read == 100);
  CHECK(r->usage.reasoning == 7);
  json a = Messages().WriteResponse(*r);
  CHECK(a["stop_reason"] == "tool_use");
  CHECK(a["content"][0]["input"] == json{{"command", "make"}});
  CHECK(a["usage"]["input_tokens"] == 20);  // Anthropic counts uncached input apart
  CHECK(a["usage"]["cache_read_input_tokens"] == 100);
  auto again = wire::ParseAnthropicResponse(a);
  REQUIRE(again.ok());
  CHECK(again->usage.input == 120);
  json o = Chat().WriteResponse(*again);
  CHECK(o["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(o["choices"][0]["message"]["content"].is_null());
  CHECK(o["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{\"command\":\"make\"}");
}

TEST_CASE("A Responses API request becomes the internal form, and a response goes back as output items") {
  auto request = Responses().ParseRequest(json::parse(R"({"model": "m", "instructions": "Be brief.",
    "max_output_tokens": 100, "tools": [{"type": "function", "name": "bash", "parameters": {"type": "object"}}],
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "List files."}]},
              {"type": "function_call", "call_id": "c1", "name": "bash", "arguments": "{\"command\": \"ls\"}"},
              {"type": "function_call_output", "call_id": "c1", "output": "a.txt"}]})"));
  REQUIRE(request.ok());
  CHECK(request->system == "Be brief.");
  CHECK(request->max_tokens == 100);
  REQUIRE(request->messages.size() == 3);
  CHECK(request->messages[1].content[0].kind == Block::Kind::kToolCall);
  CHECK(request->messages[1].content[0].input == json{{"command", "ls"}});
  CHECK(request->messages[2].content[0].kind == Block::Kind::kToolResult);
  CHECK(request->messages[2].content[0].id == "c1");
  CHECK(request->tools.at(0).name == "bash");

  ChatResponse response;
  response.id = "x";
  response.content = {Block::Text("Done."), Block::ToolCall("c2", "bash", json{{"command", "pwd"}})};
  response.stop_reason = StopReason::kToolUse;
  response.usage = Usage{10, 5, 4, 0, 0};
  const json out = Responses().WriteResponse(response);
  CHECK(out["object"] == "response");
  CHECK(out["output"][0]["content"][0] == json{{"type", "output_text"}, {"text", "Done."}, {"annotations", json::array()}});
  CHECK(out["output"][1]["type"] == "function_call");
  CHECK(out["output"][1]["arguments"] == R"({"command":"pwd"})");
  CHECK(out["usage"]["input_tokens_details"]["cached_tokens"] == 4);
}

TEST_CASE("A whole response streams as each API's events, tool-call arguments included") {
  ChatResponse response;
  response.id = "x";
  response.content = {Block::Text("Hi."), Block::ToolCall("c2", "bash", json{{"command", "pwd"}})};
  response.stop_reason = StopReason::kToolUse;
  const std::string chat = StreamBody(Chat(), response, true);
  CHECK(chat.find(R"("delta":{"content":"Hi."})") != std::string::npos);
  CHECK(chat.find(R"("arguments":"{\"command\":\"pwd\"}")") != std::string::npos);
  CHECK(chat.find(R"("finish_reason":"tool_calls")") != std::string::npos);
  CHECK(chat.find(R"("choices":[],)") != std::string::npos);  // the usage chunk
  CHECK(chat.rfind("data: [DONE]\n\n") == chat.size() - 14);
  const std::string messages = StreamBody(Messages(), response, false);
  CHECK(messages.rfind("event: message_start\n", 0) == 0);
  CHECK(messages.find(R"("partial_json":"{\"command\":\"pwd\"}","type":"input_json_delta")") != std::string::npos);
  CHECK(messages.find("event: message_stop\n") != std::string::npos);
  const std::string responses = StreamBody(Responses(), response, false);
  CHECK(responses.rfind("event: response.created\n", 0) == 0);
  CHECK(responses.find("event: response.function_call_arguments.delta") != std::string::npos);
  CHECK(responses.find("event: response.completed") != std::string::npos);
}

// What a provider streams, read back by the decoder however the bytes are split, is the answer unstreamed.
TEST_CASE("A provider's stream of either dialect decodes to the whole answer, split at any byte") {
  ChatResponse response;
  response.id = "msg_1";
  response.model = "m";
  response.content = {Block::Text("Let me look."), Block::ToolCall("c1", "bash", json{{"command", "ls -la"}}),
                      Block::ToolCall("c2", "editor", json{{"path", "a.txt"}})};
  response.stop_reason = StopReason::kToolUse;
  response.usage = Usage{100, 20, 60, 10, 0};
  for (const ApiCodec* api : {&Chat(), &Messages()}) {
    const std::unique_ptr<StreamEncoder> encoder = api->NewStreamEncoder(/*include_usage=*/true);
    std::string events;
    for (const StreamDelta& piece : wire::Pieces(response, 5)) events += encoder->Piece(piece);
    events += encoder->Finish(response);
    for (size_t split : {size_t{1}, size_t{7}, events.size()}) {
      INFO("api " << api->name() << ", split every " << split << " bytes");
      std::string text, arguments;
      int calls = 0;
      wire::StreamDecoder decoder(api->dialect(), [&](const StreamDelta& d) {
        if (d.kind == StreamDelta::Kind::kText) text += d.text;
        if (d.kind == StreamDelta::Kind::kToolCall) ++calls;
        if (d.kind == StreamDelta::Kind::kToolArguments) arguments += d.text;
        return true;
      });
      for (size_t at = 0; at < events.size(); at += split) REQUIRE(decoder.Feed(std::string_view(events).substr(at, split)));
      auto whole = decoder.Finish();
      REQUIRE(whole.ok());
      CHECK(text == "Let me look.");
      CHECK(calls == 2);
      CHECK(arguments == R"({"command":"ls -la"}{"path":"a.txt"})");
      ChatResponse expected = response;
      if (api == &Chat()) expected.usage.cache_write = 0;  // OpenAI reports none
      CHECK(ToJson(*whole) == ToJson(expected));
    }
  }
}

TEST_CASE("A provider's error event mid-stream is classified, and the decoder stops") {
  wire::StreamDecoder anthropic(wire::Dialect::kAnthropic, nullptr);
  CHECK(anthropic.Feed("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],"
                       "\"usage\":{\"input_tokens\":5}}}\n\n: a comment\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"));
  CHECK_FALSE(anthropic.Feed("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n"));
  REQUIRE(anthropic.error());
  CHECK(anthropic.error()->kind == ErrorKind::kOverloaded);
  wire::StreamDecoder openai(wire::Dialect::kOpenAI, nullptr);
  CHECK_FALSE(openai.Feed("data: {\"error\": {\"message\": \"oops\", \"type\": \"server_error\"}}\r\n\r\n"));
  CHECK(openai.error()->kind == ErrorKind::kServer);
  wire::StreamDecoder junk(wire::Dialect::kOpenAI, nullptr);
  CHECK_FALSE(junk.Feed("data: {not json\n\n"));
  CHECK(junk.error()->kind == ErrorKind::kMalformedResponse);
}

TEST_CASE("cache_control breakpoints pass through, from either dialect, to an Anthropic upstream") {
  auto anthropic = Messages().ParseRequest(json::parse(R"({"model": "m", "max_tokens": 10,
    "system": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}],
    "tools": [{"name": "bash", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}]},
                 {"role": "assistant", "content": "ok"}, {"role": "user", "content": "next"}]})"));
  REQUIRE(anthropic.ok());
  CHECK(anthropic->system_cache);
  CHECK(anthropic->tools[0].cache);
  CHECK(anthropic->messages[0].content[0].cache);
  CHECK(CacheBreakpoints(*anthropic) == 3);
  const json out = wire::AnthropicRequest(*anthropic, "claude", 100);
  CHECK(out["system"][0]["cache_control"]["type"] == "ephemeral");
  CHECK(out["tools"][0]["cache_control"]["type"] == "ephemeral");
  CHECK(out["messages"][0]["content"][0]["cache_control"]["type"] == "ephemeral");
  CHECK_FALSE(out["messages"][2]["content"][0].contains("cache_control"));

  // OpenAI-dialect callers mark content parts (as LiteLLM and OpenRouter accept).
  auto openai = Chat().ParseRequest(json::parse(R"({"model": "m", "messages": [
    {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]},
    {"role": "user", "content": "hi"}]})"));
  REQUIRE(openai.ok());
  CHECK(openai->system_cache);
  CHECK_FALSE(openai->messages[0].content[0].cache);
}

TEST_CASE("Automatic breakpoints mark the system prompt and the latest turn, within Anthropic's four") {
  ChatRequest r;
  r.system = "rules";
  r.messages = {Message::User("a"), Message::Assistant("b"),
                Message{Role::kUser, {Block::ToolResult("c1", "out"), Block::Text("")}}};
  AddCacheBreakpoints(r);
  CHECK(r.system_cache);
  CHECK(r.messages[2].content[0].cache);  // the last block Anthropic will see: empty text is not sent
  CHECK_FALSE(r.messages[2].content[1].cache);
  CHECK(CacheBreakpoints(r) == 2);

  // The caller's own breakpoints are kept; past four, the earliest message ones go.
  ChatRequest mine;
  mine.system = "rules";
  mine.system_cache = true;
  for (int i = 0; i < 5; ++i) {
    mine.messages.push_back(Message::User("u" + std::to_string(i)));
    mine.messages.back().content[0].cache = true;
  }
  AddCacheBreakpoints(mine);
  CHECK(CacheBreakpoints(mine) == 4);
  CHECK(mine.system_cache);
  CHECK_FALSE(mine.messages[0].content[0].cache);
  CHECK(mine.messages[4].content[0].cache);

  // Tools can carry too many as well: those go too, and the count stays Anthropic's.
  ChatRequest tools;
  tools.messages = {Message::User("a")};
  for (int i = 0; i < 6; ++i) tools.tools.push_back(Tool{"t" + std::to_string(i), "", json::object(), true});
  AddCacheBreakpoints(tools);
  CHECK(CacheBreakpoints(tools) == 4);
}

TEST_CASE("Invalid tool arguments from a model are kept, not lost") {
  json openai = json::parse(R"({"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant",
      "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{not json"}}]}}]})");
  auto r = wire::ParseOpenAIResponse(openai);
  REQUIRE(r.ok());
  CHECK(r->content[0].input == "{not json");
  CHECK(Chat().WriteResponse(*r)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{not json");
  CHECK(Messages().WriteResponse(*r)["content"][0]["input"] == json{{"_raw_arguments", "{not json"}});
}

TEST_CASE("Stop reasons map between the formats") {
  for (auto [anthropic, openai] : std::vector<std::pair<std::string, std::string>>{
           {"end_turn", "stop"}, {"max_tokens", "length"}, {"tool_use", "tool_calls"}, {"refusal", "content_filter"}}) {
    json a = {{"content", json::array()}, {"stop_reason", anthropic}};
    auto r = wire::ParseAnthropicResponse(a);
    REQUIRE(r.ok());
    CHECK(Chat().WriteResponse(*r)["choices"][0]["finish_reason"] == openai);
  }
}

TEST_CASE("Bad requests name the field at fault") {
  auto no_model = Chat().ParseRequest(json{{"messages", json::array()}});
  CHECK(no_model.status().message().find("model") != std::string::npos);
  auto bad_role = Chat().ParseRequest(json::parse(R"({"model": "m", "messages": [{"role": "robot", "content": "x"}]})"));
  CHECK(bad_role.status().message().find("messages[0].role") != std::string::npos);
  auto stateful = Responses().ParseRequest(json::parse(R"({"model": "m", "input": "hi", "previous_response_id": "r1"})"));
  CHECK(stateful.status().message().find("previous_response_id") != std::string::npos);
  auto builtin = Responses().ParseRequest(json::parse(R"({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]})"));
  CHECK(builtin.status().message().find("tools[0]") != std::string::npos);
  auto image = Messages().ParseRequest(
      json::parse(R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image"}]}]})"));
  CHECK(image.status().message().find("messages[0].content[0].type") != std::string::npos);
  auto tool_without_id = Chat().ParseRequest(json::parse(R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})"));
  CHECK(tool_without_id.status().message().find("tool_call_id") != std::string::npos);
}

TEST_CASE("Reasoning models get max_completion_tokens and no temperature") {
  ChatRequest r;
  r.messages.push_back(Message::User("hi"));
  r.temperature = 0.5;
  r.reasoning_effort = "low";
  json o = wire::OpenAIRequest(r, "o4-mini", 1000);
  CHECK(o["max_completion_tokens"] == 1000);
  CHECK_FALSE(o.contains("max_tokens"));
  CHECK_FALSE(o.contains("temperature"));
}

TEST_CASE("Provider errors are classified") {
  CHECK(wire::ClassifyHttpError(401, R"({"error":{"message":"bad key"}})").kind == ErrorKind::kAuth);
  CHECK(wire::ClassifyHttpError(429, "").kind == ErrorKind::kRateLimited);
  CHECK(wire::ClassifyHttpError(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})").kind ==
        ErrorKind::kOverloaded);
  CHECK(wire::ClassifyHttpError(502, "<html>bad gateway</html>").kind == ErrorKind::kServer);
  CHECK(wire::ClassifyHttpError(400, R"({"error":{"message":"too long","code":"context_length_exceeded"}})").kind ==
        ErrorKind::kContextTooLong);
  CHECK(wire::ClassifyHttpError(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens"}})")
            .kind == ErrorKind::kContextTooLong);
  auto bad = wire::ClassifyHttpError(400, R"({"error":{"message":"Unknown model foo"}})");
  CHECK(bad.kind == ErrorKind::kBadRequest);
  CHECK(bad.message.find("Unknown model foo") != std::string::npos);
}

TEST_CASE("Errors are written in each dialect's shape") {
  ModelError e{ErrorKind::kBudgetExceeded, 0, "budget exhausted"};
  json o = wire::ErrorBody(Dialect::kOpenAI, e);
  CHECK(o["error"]["message"] == "budget exhausted");
  CHECK(o["error"]["code"] == "budget_exceeded");
  json a = wire::ErrorBody(Dialect::kAnthropic, e);
  CHECK(a["type"] == "error");
  CHECK(a["error"]["message"] == "budget exhausted");
  CHECK(wire::HttpStatus(Dialect::kAnthropic, ErrorKind::kOverloaded) == 529);
  CHECK(wire::HttpStatus(Dialect::kOpenAI, ErrorKind::kBudgetExceeded) == 402);
}

}  // namespace
}  // namespace lineage::llm
