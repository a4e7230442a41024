// The providers' two wire formats, OpenAI's and Anthropic's, and the internal form: writing requests
// upstream, reading responses and streams back, and errors in either dialect. Pure functions, used by the
// client; what callers send the gateway and get back is their API's codec's (codec.h), built on these.
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

// Tool-call arguments: OpenAI's formats carry them as a JSON string, Anthropic's as an object, the internal
// form as the object. A model may write invalid JSON: ToolArguments keeps the string then, so that the
// agent sees what the model wrote, and the others write such a string back as it was.
nlohmann::json ToolArguments(const std::string& arguments);
std::string ArgumentsText(const nlohmann::json& input);     // as OpenAI's string
nlohmann::json AnthropicInput(const nlohmann::json& input);  // as Anthropic's object

// A stop reason as each dialect names it (finish_reason, stop_reason).
const char* StopReasonName(Dialect dialect, StopReason reason);

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

// An error as each dialect writes it, and the HTTP status it travels with.
nlohmann::json ErrorBody(Dialect dialect, const ModelError& error);
int HttpStatus(Dialect dialect, ErrorKind kind);

// --- Streams (wire_stream.cc) -------------------------------------------------------------------------

// `stream: true` (and OpenAI's stream_options.include_usage) in a caller's request.
struct StreamRequest {
  bool stream = false;
  bool include_usage = false;
};
StreamRequest ParseStreamRequest(const nlohmann::json& body);

// A whole response as pieces (StreamDelta), text and arguments in pieces of at most `max_piece` bytes.
std::vector<StreamDelta> Pieces(const ChatResponse& response, std::size_t max_piece = std::string::npos);

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
