// Each API's codec on its own, as pure functions: the registry, requests read, responses written and read
// back, streams written, errors in the API's dialect. (The gateway and the official SDKs exercise the same
// codecs over HTTP in gateway_test.cc and sdk_test.cc.)
#include "llm/codec.h"

#include <catch2/catch.hpp>

#include "llm/codec_parts.h"

namespace lineage::llm {
namespace {

using json = nlohmann::json;

const ApiCodec& Chat() { return *FindCodec("POST", "/v1/chat/completions"); }
const ApiCodec& Messages() { return *FindCodec("POST", "/v1/messages"); }
const ApiCodec& Responses() { return *FindCodec("POST", "/v1/responses"); }

// A stream split into its events: the event's name ("" when it has none) and its data.
struct Event {
  std::string name;
  std::string data;
  json Json() const { return json::parse(data); }
};
std::vector<Event> Events(const std::string& stream) {
  std::vector<Event> out;
  size_t at = 0;
  while (at < stream.size()) {
    size_t end = stream.find("\n\n", at);
    REQUIRE(end != std::string::npos);  // every event ends with a blank line
    Event e;
    std::string block = stream.substr(at, end - at);
    at = end + 2;
    if (block.rfind("event: ", 0) == 0) {
      const size_t eol = block.find('\n');
      e.name = block.substr(7, eol - 7);
      block.erase(0, eol + 1);
    }
    REQUIRE(block.rfind("data: ", 0) == 0);
    e.data = block.substr(6);
    out.push_back(e);
  }
  return out;
}
std::vector<std::string> Names(const std::vector<Event>& events) {
  std::vector<std::string> names;
  for (const Event& e : events) names.push_back(e.name);
  return names;
}

ChatResponse TextAnswer(const std::string& text) {
  ChatResponse r;
  r.id = "r1";
  r.model = "m";
  r.content = {Block::Text(text)};
  r.stop_reason = StopReason::kEndTurn;
  r.usage = Usage{40, 6, 0, 0, 0};
  return r;
}

ChatResponse CallAnswer() {
  ChatResponse r;
  r.id = "r2";
  r.model = "m";
  r.content = {Block::ToolCall("call_1", "bash", json{{"command", "ls"}})};
  r.stop_reason = StopReason::kToolUse;
  r.usage = Usage{40, 6, 0, 0, 0};
  return r;
}

// What a stream writes for `answer`, piece by piece (pieces of at most `max_piece` bytes).
std::string Stream(const ApiCodec& codec, const ChatResponse& answer, bool include_usage = false, size_t max_piece = 4) {
  std::unique_ptr<StreamEncoder> encoder = codec.NewStreamEncoder(include_usage);
  std::string out;
  for (const StreamDelta& piece : wire::Pieces(answer, max_piece)) out += encoder->Piece(piece);
  return out + encoder->Finish(answer);
}

// --- The registry ---------------------------------------------------------------------------------------

TEST_CASE("The registry finds each API by its path, and nothing else") {
  REQUIRE(FindCodec("POST", "/v1/chat/completions") != nullptr);
  REQUIRE(FindCodec("POST", "/v1/messages") != nullptr);
  REQUIRE(FindCodec("POST", "/v1/responses") != nullptr);
  CHECK(FindCodec("POST", "/v1/chat/completions")->path() == std::string("/v1/chat/completions"));
  CHECK(FindCodec("POST", "/v1/messages")->path() == std::string("/v1/messages"));
  CHECK(FindCodec("POST", "/v1/responses")->path() == std::string("/v1/responses"));
  CHECK(FindCodec("GET", "/v1/messages") == nullptr);  // every model API is a POST
  CHECK(FindCodec("POST", "/v1/models") == nullptr);
  CHECK(FindCodec("POST", "/v1/messages/") == nullptr);
  CHECK(FindCodec("POST", "/v1/chat/completions?x=1") == nullptr);
  CHECK(FindCodec("POST", "/v1/completions") == nullptr);
  CHECK(FindCodec("POST", "") == nullptr);
}

TEST_CASE("The registry lists each API once, in the order the gateway names them") {
  std::vector<std::string> names, paths;
  for (const ApiCodec* codec : Codecs()) {
    names.push_back(codec->name());
    paths.push_back(codec->path());
    CHECK(FindCodec("POST", codec->path()) == codec);
  }
  CHECK(names == std::vector<std::string>{"chat_completions", "responses", "messages"});
  CHECK(paths == std::vector<std::string>{"/v1/chat/completions", "/v1/responses", "/v1/messages"});
}

TEST_CASE("Each API's errors are in its dialect, and its records say which API it was") {
  CHECK(Chat().dialect() == wire::Dialect::kOpenAI);
  CHECK(Responses().dialect() == wire::Dialect::kOpenAI);
  CHECK(Messages().dialect() == wire::Dialect::kAnthropic);
  CHECK(Chat().record_dialect() == std::string("openai"));
  CHECK(Responses().record_dialect() == std::string("openai-responses"));
  CHECK(Messages().record_dialect() == std::string("anthropic"));
  // Only the APIs lineage's client calls upstream are the fake model server's to serve.
  CHECK(Chat().spoken_upstream());
  CHECK(Messages().spoken_upstream());
  CHECK_FALSE(Responses().spoken_upstream());
}

// --- Requests ---------------------------------------------------------------------------------------------

TEST_CASE("Chat Completions reads system text, a tool call and its result into the internal form") {
  auto r = Chat().ParseRequest(json::parse(R"({"model": "default", "max_tokens": 50, "messages": [
    {"role": "system", "content": "Be careful."}, {"role": "developer", "content": "Use bash."},
    {"role": "user", "content": "List the files."},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
      "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "a.txt"}, {"role": "user", "content": "And now?"}]})"));
  REQUIRE(r.ok());
  CHECK(r->model == "default");
  CHECK(r->max_tokens == 50);
  CHECK(r->system == "Be careful.\n\nUse bash.");
  REQUIRE(r->messages.size() == 3);  // the tool result and the next user text share one user turn
  CHECK(r->messages[1].content.at(0).kind == Block::Kind::kToolCall);
  CHECK(r->messages[1].content.at(0).input == json{{"command", "ls"}});
  CHECK(r->messages[2].content.at(0).kind == Block::Kind::kToolResult);
  CHECK(r->messages[2].content.at(1).text == "And now?");
}

TEST_CASE("Chat Completions refuses a malformed request, naming the field") {
  auto no_id = Chat().ParseRequest(json::parse(R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})"));
  REQUIRE_FALSE(no_id.ok());
  CHECK(no_id.status().message() == "messages[0].tool_call_id is required for a tool message");
  auto two = Chat().ParseRequest(json::parse(R"({"model": "m", "n": 2, "messages": []})"));
  REQUIRE_FALSE(two.ok());
  CHECK(two.status().message().rfind("n must be 1", 0) == 0);
  auto role = Chat().ParseRequest(json::parse(R"({"model": "m", "messages": [{"role": "robot", "content": "x"}]})"));
  REQUIRE_FALSE(role.ok());
  CHECK(role.status().message().find("messages[0].role 'robot'") == 0);
}

TEST_CASE("Messages reads blocks, tool results and cache breakpoints into the internal form") {
  auto r = Messages().ParseRequest(json::parse(R"({"model": "m", "max_tokens": 10, "system": "Sys",
    "messages": [{"role": "user", "content": "hi"},
      {"role": "assistant", "content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "t1", "name": "edit", "input": {"p": 1}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done", "is_error": true,
                                    "cache_control": {"type": "ephemeral"}}]}],
    "tools": [{"name": "edit", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"}})"));
  REQUIRE(r.ok());
  CHECK(r->system == "Sys");
  REQUIRE(r->messages.size() == 3);
  CHECK(r->messages[1].content.at(1).input == json{{"p", 1}});
  const Block& result = r->messages[2].content.at(0);
  CHECK(result.kind == Block::Kind::kToolResult);
  CHECK(result.is_error);
  CHECK(result.cache);
  REQUIRE(r->tool_choice);
  CHECK(r->tool_choice->mode == ToolChoice::Mode::kAny);
}

TEST_CASE("Messages refuses a malformed request, naming the field") {
  auto system_role = Messages().ParseRequest(json::parse(R"({"model": "m", "messages": [{"role": "system", "content": "x"}]})"));
  REQUIRE_FALSE(system_role.ok());
  CHECK(system_role.status().message() == "messages[0].role 'system' is not one of user, assistant");
  auto block = Messages().ParseRequest(json::parse(R"({"model": "m", "messages": [{"role": "user",
    "content": [{"type": "text", "text": "a"}, {"type": "image"}]}]})"));
  REQUIRE_FALSE(block.ok());
  CHECK(block.status().message().rfind("messages[0].content[1].type 'image' is not supported", 0) == 0);
}

TEST_CASE("Responses reads a string input, and items with calls and their outputs") {
  auto plain = Responses().ParseRequest(json::parse(R"({"model": "m", "input": "Hello", "instructions": "Be brief."})"));
  REQUIRE(plain.ok());
  CHECK(plain->system == "Be brief.");
  REQUIRE(plain->messages.size() == 1);
  CHECK(plain->messages[0].content.at(0).text == "Hello");

  auto items = Responses().ParseRequest(json::parse(R"({"model": "m", "max_output_tokens": 64, "input": [
    {"role": "developer", "content": "Use bash."}, {"role": "user", "content": [{"type": "input_text", "text": "Go."}]},
    {"type": "reasoning", "summary": []},
    {"type": "function_call", "call_id": "c1", "name": "bash", "arguments": "{not json"},
    {"type": "function_call_output", "call_id": "c1", "output": "done"}]})"));
  REQUIRE(items.ok());
  CHECK(items->system == "Use bash.");
  CHECK(items->max_tokens == 64);
  REQUIRE(items->messages.size() == 3);
  CHECK(items->messages[1].content.at(0).input == json("{not json"));  // kept as the model wrote it
  CHECK(items->messages[2].content.at(0).id == "c1");
}

TEST_CASE("Responses refuses server-side state and unknown items, naming the field") {
  auto state = Responses().ParseRequest(json::parse(R"({"model": "m", "input": "x", "previous_response_id": "resp_1"})"));
  REQUIRE_FALSE(state.ok());
  CHECK(state.status().message().rfind("previous_response_id is not supported", 0) == 0);
  auto item = Responses().ParseRequest(json::parse(R"({"model": "m", "input": [{"type": "web_search_call"}]})"));
  REQUIRE_FALSE(item.ok());
  CHECK(item.status().message().rfind("input[0].type 'web_search_call' is not one of", 0) == 0);
  auto none = Responses().ParseRequest(json::parse(R"({"model": "m", "input": []})"));
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message() == "input holds no message");
}

TEST_CASE("Every API refuses a body that is not an object, or names no model, in the same words") {
  for (const ApiCodec* codec : Codecs()) {
    INFO(codec->name());
    auto array = codec->ParseRequest(json::array());
    REQUIRE_FALSE(array.ok());
    CHECK(array.status().message() == "the request body must be a JSON object");
    auto no_model = codec->ParseRequest(json{{"messages", json::array()}, {"input", "x"}});
    REQUIRE_FALSE(no_model.ok());
    CHECK(no_model.status().message() == "model is required (a string)");
    auto bad_temperature = codec->ParseRequest(json{{"model", "m"}, {"messages", json::array()}, {"input", "x"}, {"temperature", "hot"}});
    REQUIRE_FALSE(bad_temperature.ok());
    CHECK(bad_temperature.status().message() == "temperature must be a number");
  }
}

// --- Responses, whole -------------------------------------------------------------------------------------

TEST_CASE("Chat Completions and Messages read back the responses they write") {
  ChatResponse answer;
  answer.id = "r9";
  answer.model = "m";
  answer.content = {Block::Text("Looking."), Block::ToolCall("c1", "bash", json{{"command", "ls"}})};
  answer.stop_reason = StopReason::kToolUse;
  for (const ApiCodec* codec : {&Chat(), &Messages()}) {
    INFO(codec->name());
    // Each counts what its API can carry: OpenAI's no cache writes, Anthropic's no reasoning.
    answer.usage = codec == &Chat() ? Usage{100, 20, 60, 0, 5} : Usage{100, 20, 60, 10, 0};
    auto back = codec->ReadResponse(codec->WriteResponse(answer).dump());
    REQUIRE(back.ok());
    CHECK(ToJson(*back) == ToJson(answer));
  }
}

TEST_CASE("A recorded response that is not JSON, or a Responses one, is not read back") {
  auto junk = Chat().ReadResponse("{not json");
  REQUIRE_FALSE(junk.ok());
  CHECK(junk.status().code() == Status::Code::kInvalidArgument);
  CHECK(junk.status().message() == "not JSON");
  auto empty = Messages().ReadResponse("{}");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message() == "the response has no content[]");
  auto responses = Responses().ReadResponse(Responses().WriteResponse(TextAnswer("hi")).dump());
  REQUIRE_FALSE(responses.ok());
  CHECK(responses.status().code() == Status::Code::kNotFound);  // the gateway's "not recorded"
}

TEST_CASE("A Responses answer, sent back as input, reads as the assistant's turn") {
  ChatResponse answer = CallAnswer();
  answer.content.insert(answer.content.begin(), Block::Text("Let me look."));
  const json out = Responses().WriteResponse(answer);
  CHECK(out["status"] == "completed");
  json input = out["output"];
  input.push_back({{"type", "function_call_output"}, {"call_id", "call_1"}, {"output", "a.txt"}});
  auto next = Responses().ParseRequest(json{{"model", "m"}, {"input", input}});
  REQUIRE(next.ok());
  REQUIRE(next->messages.size() == 2);
  CHECK(next->messages[0].role == Role::kAssistant);
  REQUIRE(next->messages[0].content.size() == 2);
  CHECK(next->messages[0].content[0].text == "Let me look.");
  CHECK(next->messages[0].content[1].input == json{{"command", "ls"}});
  CHECK(next->messages[1].content.at(0).kind == Block::Kind::kToolResult);
}

TEST_CASE("A Responses answer cut at max_output_tokens is incomplete, and an empty one still has a message") {
  ChatResponse cut = TextAnswer("Half");
  cut.stop_reason = StopReason::kMaxTokens;
  const json out = Responses().WriteResponse(cut);
  CHECK(out["status"] == "incomplete");
  CHECK(out["incomplete_details"]["reason"] == "max_output_tokens");
  const json empty = Responses().WriteResponse(ChatResponse{});
  REQUIRE(empty["output"].size() == 1);
  CHECK(empty["output"][0]["type"] == "message");
  CHECK(empty["id"] == "resp_lineage");
}

// --- Streams ----------------------------------------------------------------------------------------------

TEST_CASE("A Chat Completions stream of text: the role, the text in chunks, the finish, then [DONE]") {
  const std::vector<Event> events = Events(Stream(Chat(), TextAnswer("Hello, world"), /*include_usage=*/true));
  REQUIRE(events.size() == 7);  // role, 3 pieces of 4 bytes, finish, usage, [DONE]
  CHECK(events[0].Json()["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
  std::string text;
  for (size_t i = 1; i <= 3; ++i) text += events[i].Json()["choices"][0]["delta"]["content"].get<std::string>();
  CHECK(text == "Hello, world");
  CHECK(events[4].Json()["choices"][0]["finish_reason"] == "stop");
  CHECK(events[5].Json()["choices"] == json::array());
  CHECK(events[5].Json()["usage"]["prompt_tokens"] == 40);
  CHECK(events[6].data == "[DONE]");
  for (const Event& e : events) CHECK(e.name.empty());  // Chat Completions names no events
}

TEST_CASE("A Chat Completions stream of a tool call opens it by index, then sends its arguments") {
  const std::vector<Event> events = Events(Stream(Chat(), CallAnswer(), false, 1024));
  REQUIRE(events.size() == 5);  // role, the call, its arguments, finish, [DONE]
  const json open = events[1].Json()["choices"][0]["delta"]["tool_calls"][0];
  CHECK(open["index"] == 0);
  CHECK(open["id"] == "call_1");
  CHECK(open["function"]["name"] == "bash");
  const json arguments = events[2].Json()["choices"][0]["delta"]["tool_calls"][0];
  CHECK(arguments["index"] == 0);
  CHECK(arguments["function"]["arguments"] == R"({"command":"ls"})");
  CHECK(events[3].Json()["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(events[4].data == "[DONE]");
}

TEST_CASE("A Messages stream numbers its blocks, text then tool call, and ends with the stop reason") {
  ChatResponse answer = CallAnswer();
  answer.content.insert(answer.content.begin(), Block::Text("Hi."));
  const std::vector<Event> events = Events(Stream(Messages(), answer, false, 1024));
  CHECK(Names(events) == std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                                  "content_block_stop", "content_block_start", "content_block_delta",
                                                  "content_block_stop", "message_delta", "message_stop"});
  CHECK(events[0].Json()["message"]["stop_reason"].is_null());
  CHECK(events[1].Json()["index"] == 0);
  CHECK(events[2].Json()["delta"] == json{{"type", "text_delta"}, {"text", "Hi."}});
  CHECK(events[4].Json()["index"] == 1);
  CHECK(events[4].Json()["content_block"]["type"] == "tool_use");
  CHECK(events[5].Json()["delta"]["partial_json"] == R"({"command":"ls"})");
  CHECK(events[7].Json()["delta"]["stop_reason"] == "tool_use");
  CHECK(events[7].Json()["usage"]["input_tokens"] == 40);
}

TEST_CASE("A Responses stream of text: one message item, added, filled and done, then the whole response") {
  const std::vector<Event> events = Events(Stream(Responses(), TextAnswer("Hello, world"), false, 6));
  CHECK(Names(events) == std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                                  "response.content_part.added", "response.output_text.delta",
                                                  "response.output_text.delta", "response.output_text.done",
                                                  "response.content_part.done", "response.output_item.done",
                                                  "response.completed"});
  for (const Event& e : events) CHECK(e.Json()["type"] == e.name);
  CHECK(events[6].Json()["text"] == "Hello, world");
  const json completed = events.back().Json()["response"];
  CHECK(completed["status"] == "completed");
  CHECK(completed["output"][0]["content"][0]["text"] == "Hello, world");
}

TEST_CASE("A Responses stream of a tool call: a function_call item with its arguments") {
  const std::vector<Event> events = Events(Stream(Responses(), CallAnswer(), false, 1024));
  CHECK(Names(events) == std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                                  "response.function_call_arguments.delta",
                                                  "response.function_call_arguments.done", "response.output_item.done",
                                                  "response.completed"});
  CHECK(events[2].Json()["item"]["call_id"] == "call_1");
  CHECK(events[4].Json()["arguments"] == R"({"command":"ls"})");
  const json output = events.back().Json()["response"]["output"];
  REQUIRE(output.size() == 1);
  CHECK(output[0]["type"] == "function_call");
  CHECK(output[0]["status"] == "completed");
}

TEST_CASE("A Responses stream numbers its events 0, 1, 2 ... in the order they are sent") {
  ChatResponse answer = CallAnswer();
  answer.content.insert(answer.content.begin(), Block::Text("Hi."));
  const std::vector<Event> events = Events(Stream(Responses(), answer, false, 2));
  REQUIRE(events.size() > 8);
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO(events[i].name);
    CHECK(events[i].Json()["sequence_number"] == i);
  }
}

TEST_CASE("A Responses stream of an empty answer still holds a message item") {
  ChatResponse empty;
  empty.id = "r3";
  const std::vector<Event> events = Events(Stream(Responses(), empty));
  const json output = events.back().Json()["response"]["output"];
  REQUIRE(output.size() == 1);
  CHECK(output[0]["type"] == "message");
  CHECK(output[0]["content"][0]["text"] == "");
}

TEST_CASE("A stream starts itself on its first piece, and fails with its API's error event") {
  const ModelError error{ErrorKind::kRateLimited, 429, "slow down"};
  for (const ApiCodec* codec : Codecs()) {
    INFO(codec->name());
    std::unique_ptr<StreamEncoder> encoder = codec->NewStreamEncoder(false);
    CHECK_FALSE(encoder->started());
    const std::string first = encoder->Piece(StreamDelta{StreamDelta::Kind::kText, 0, "Hi"});
    CHECK(encoder->started());
    CHECK(first.find("Hi") != std::string::npos);
    const std::vector<Event> failed = Events(encoder->Fail(error));
    REQUIRE(failed.size() == 1);
    const json data = failed[0].Json();
    if (codec->dialect() == wire::Dialect::kAnthropic) {
      CHECK(failed[0].name == "error");
      CHECK(data["error"]["type"] == "rate_limit_error");
    } else if (codec == &Responses()) {
      CHECK(failed[0].name == "error");
      CHECK(data["code"] == "rate_limited");
      CHECK(data["message"] == "slow down");
    } else {
      CHECK(failed[0].name.empty());
      CHECK(data["error"]["message"] == "slow down");  // and no [DONE]: the stream failed
    }
  }
}

TEST_CASE("StreamBody writes a whole response as the same events as a stream of its pieces") {
  ChatResponse answer = CallAnswer();
  answer.content.insert(answer.content.begin(), Block::Text("Let me look."));
  for (const ApiCodec* codec : Codecs()) {
    INFO(codec->name());
    CHECK(StreamBody(*codec, answer, true) == Stream(*codec, answer, true, std::string::npos));
  }
}

// --- What the codecs share ----------------------------------------------------------------------------------

TEST_CASE("The conversation walk joins turns of one role and system texts with a blank line") {
  ChatRequest request;
  codec::AddSystem(request, "One.");
  codec::AddSystem(request, "Two.", /*cache=*/true);
  CHECK(request.system == "One.\n\nTwo.");
  CHECK(request.system_cache);
  codec::AddBlocks(request, Role::kUser, {Block::Text("a")});
  codec::AddBlocks(request, Role::kUser, {Block::ToolResult("c1", "b")});
  codec::AddBlocks(request, Role::kAssistant, {});  // nothing: no empty turn
  codec::AddBlocks(request, Role::kAssistant, {codec::ToolCallWithArguments("c2", "bash", "")});
  REQUIRE(request.messages.size() == 2);
  CHECK(request.messages[0].content.size() == 2);
  CHECK(request.messages[1].content.at(0).input == json::object());  // no arguments: an empty object
}

}  // namespace
}  // namespace lineage::llm
