// The two wire formats and the internal form: parsing, writing and translating requests, responses and
// errors. Pure functions; the client uses them upstream, the gateway towards agents, the fake server both.
// The fields handled are those of ../shared/reference/model-apis.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
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

// A whole response as its API's server-sent events (a text/event-stream body): Chat Completions chunks
// ending "data: [DONE]" (with a usage chunk when asked), Messages' message_start ... message_stop, the
// Responses API's response.created ... response.completed.
std::string StreamBody(Api api, const ChatResponse& response, bool include_usage);

// Classifies a non-2xx answer from a provider. `body` may be anything, JSON or not.
ModelError ClassifyHttpError(int http_status, const std::string& body);

}  // namespace lineage::llm::wire
