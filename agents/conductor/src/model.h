// The conductor's only way to a model: lineage's gateway, in OpenAI's Chat Completions format with native
// tool calling. The gateway holds the real keys, enforces the budget and records every call.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace conductor {

struct ModelReply {
  bool ok = false;
  bool budget_exhausted = false;  // HTTP 402: stop cleanly, no further call will be answered
  int http_status = 0;
  std::string error;           // when !ok
  nlohmann::json message;      // the assistant message: content and tool_calls
  std::string finish_reason;
  nlohmann::json usage;
};

class Model {
 public:
  virtual ~Model() = default;
  // One chat completion. `purpose` is recorded with the call (conductor, expert, meta_reasoning).
  virtual ModelReply Chat(const std::string& model, const nlohmann::json& messages, const nlohmann::json& tools,
                          const std::string& purpose) = 0;
};

// The model behind lineage's gateway.
class GatewayModel : public Model {
 public:
  // `socket` is the gateway's Unix socket; when empty, `url` (http://host:port) is used instead.
  GatewayModel(std::string socket, std::string url, std::string token, int max_tokens);
  ModelReply Chat(const std::string& model, const nlohmann::json& messages, const nlohmann::json& tools,
                  const std::string& purpose) override;

 private:
  std::string socket_, url_, token_;
  int max_tokens_;
};

}  // namespace conductor
