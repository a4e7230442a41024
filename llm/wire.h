// The two wire formats and the internal form: parsing, writing and translating requests, responses and
// errors. Pure functions; the client uses them upstream, the gateway towards agents, the fake server both.
// The fields handled are those of ../shared/reference/model-apis.md.
#pragma once

#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "llm/llm.h"

namespace lineage::llm::wire {

enum class Dialect { kOpenAI, kAnthropic };
const char* DialectName(Dialect dialect);

// Text from a string or an array of text parts ({type, text}) whose type is one of `types`; anything else
// is refused, naming the part at `path`.
Result<std::string> TextOf(const nlohmann::json& content, const std::string& path,
                           const std::vector<std::string>& types = {"text"});

// Requests as a caller sent them. InvalidArgument names the field at fault ("messages[2].content").
// n > 1 is refused; `stream` is read apart (ParseStreamRequest).
Result<ChatRequest> ParseOpenAIRequest(const nlohmann::json& body);
Result<ChatRequest> ParseAnthropicRequest(const nlohmann::json& body);
Result<ChatRequest> ParseRequest(Dialect dialect, const nlohmann::json& body);

// Requests to send upstream. `model` replaces request.model; `default_max_tokens` applies when the
// request sets none.
nlohmann::json OpenAIRequest(const ChatRequest& request, const std::string& model, int default_max_tokens);
nlohmann::json AnthropicRequest(const ChatRequest& request, const std::string& model, int default_max_tokens);
nlohmann::json Request(Dialect dialect, const ChatRequest& request, const std::string& model,
                       int default_max_tokens);

// Responses as a provider sent them; InvalidArgument says what is missing.
Result<ChatResponse> ParseOpenAIResponse(const nlohmann::json& body);
Result<ChatResponse> ParseAnthropicResponse(const nlohmann::json& body);
Result<ChatResponse> ParseResponse(Dialect dialect, const nlohmann::json& body);

// Responses to send to a caller.
nlohmann::json OpenAIResponse(const ChatResponse& response);
nlohmann::json AnthropicResponse(const ChatResponse& response);
nlohmann::json Response(Dialect dialect, const ChatResponse& response);

// An error as each dialect writes it, and the HTTP status it travels with.
nlohmann::json ErrorBody(Dialect dialect, const ModelError& error);
int HttpStatus(Dialect dialect, ErrorKind kind);

// --- The APIs agents call, and streams (wire_stream.cc) -----------------------------------------------

// What a caller's request asks for: OpenAI's Chat Completions or Responses, or Anthropic's Messages.
enum class Api { kNone, kChatCompletions, kMessages, kResponses };
Api ApiOf(const std::string& method, const std::string& target);  // kNone for any other endpoint
Dialect DialectOf(Api api);  // how its errors are written: Responses as OpenAI

// A caller's request and the whole response it gets, in its API's form.
Result<ChatRequest> ParseApiRequest(Api api, const nlohmann::json& body);
nlohmann::json ApiResponse(Api api, const ChatResponse& response);

// The Responses API: `input` as a string or items (messages, function_call, function_call_output),
// `instructions`, flat function `tools`, `max_output_tokens`. Conversation state on the server
// (previous_response_id) is refused: lineage keeps none.
Result<ChatRequest> ParseResponsesRequest(const nlohmann::json& body);
nlohmann::json ResponsesResponse(const ChatResponse& response);

// `stream: true` (and OpenAI's stream_options.include_usage) in a caller's request.
struct StreamRequest {
  bool stream = false;
  bool include_usage = false;
};
StreamRequest ParseStreamRequest(const nlohmann::json& body);

// A caller's stream, written as the answer arrives: its API's server-sent events (text/event-stream),
// Chat Completions chunks ending "data: [DONE]" (with a usage chunk when asked), Messages' message_start
// ... message_stop, the Responses API's response.created ... response.completed. Each call returns the
// events to send now: Piece() for each piece (its kStart first), then Finish() with the whole response,
// or Fail() when the answer cannot be finished (the API's error event).
class StreamEncoder {
 public:
  StreamEncoder(Api api, bool include_usage);
  std::string Piece(const StreamDelta& delta);
  std::string Finish(const ChatResponse& whole);
  std::string Fail(const ModelError& error);
  bool started() const { return started_; }

 private:
  std::string Event(const std::string& type, nlohmann::json data);  // Responses: typed, numbered
  std::string Close();  // ends the open block or item
  std::string OpenBlock(const StreamDelta& delta);

  Api api_;
  bool include_usage_;
  bool started_ = false;
  std::string id_, model_;
  Usage start_usage_;
  int open_block_ = -1;   // the piece's block now open; -1: none
  bool open_is_text_ = false;
  int next_index_ = 0;    // Messages: the next content index; Responses: the next output index; Chat: the next call
  int sequence_ = 0;      // Responses' sequence_number
  std::string text_, arguments_, call_id_, call_name_;  // of the open block
  nlohmann::json items_ = nlohmann::json::array();      // Responses: the output items done
};

// A whole response as pieces (StreamDelta), text and arguments in pieces of at most `max_piece` bytes.
std::vector<StreamDelta> Pieces(const ChatResponse& response, std::size_t max_piece = std::string::npos);

// A whole response as its API's stream, all at once.
std::string StreamBody(Api api, const ChatResponse& response, bool include_usage);

// Reads a provider's stream of `dialect` as it arrives (any split of the bytes), handing each piece to
// `on_delta`. Finish() gives the whole response, parsed as the same answer unstreamed would be.
class StreamDecoder {
 public:
  StreamDecoder(Dialect dialect, DeltaHandler on_delta);
  // False once the stream failed: an error event, data that is not JSON, or `on_delta` said stop.
  bool Feed(std::string_view bytes);
  Result<ChatResponse> Finish();
  const std::optional<ModelError>& error() const { return error_; }
  bool stopped() const { return stopped_; }      // on_delta returned false
  bool handed_over() const { return handed_; }  // some piece went to on_delta

 private:
  bool FeedEvents(std::string_view bytes);
  Result<ChatResponse> FinishWhole();
  bool OnEvent(const std::string& event, const std::string& data);
  bool OnOpenAI(const nlohmann::json& chunk);
  bool OnAnthropic(const std::string& type, const nlohmann::json& event);
  bool Hand(StreamDelta delta);

  Dialect dialect_;
  DeltaHandler on_delta_;
  std::string buffer_;
  nlohmann::json whole_;  // the response as the provider would have sent it unstreamed
  std::map<int, std::string> arguments_;  // by block: tool-call arguments so far
  std::optional<ModelError> error_;
  bool started_ = false, stopped_ = false, handed_ = false;
};

// Classifies a non-2xx answer from a provider. `body` may be anything, JSON or not.
ModelError ClassifyHttpError(int http_status, const std::string& body);

}  // namespace lineage::llm::wire
