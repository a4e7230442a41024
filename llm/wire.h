// The two wire formats and the internal form: parsing, writing and translating requests, responses and
// errors. Pure functions; the client uses them upstream, the gateway towards agents, the fake server both.
// The fields handled are those of ../shared/reference/model-apis.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "llm/llm.h"

namespace lineage::llm::wire {

enum class Dialect { kOpenAI, kAnthropic };
const char* DialectName(Dialect dialect);

// Requests as a caller sent them. InvalidArgument names the field at fault ("messages[2].content").
// Streaming and n > 1 are refused.
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

// Classifies a non-2xx answer from a provider. `body` may be anything, JSON or not.
ModelError ClassifyHttpError(int http_status, const std::string& body);

}  // namespace lineage::llm::wire
