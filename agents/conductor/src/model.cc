#include "model.h"

#include <curl/curl.h>

namespace conductor {

using json = nlohmann::json;

namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string ErrorMessage(const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    return parsed["error"].value("message", body);
  }
  return body.substr(0, 500);
}

}  // namespace

GatewayModel::GatewayModel(std::string socket, std::string url, std::string token, int max_tokens)
    : socket_(std::move(socket)), url_(std::move(url)), token_(std::move(token)), max_tokens_(max_tokens) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

ModelReply GatewayModel::Chat(const std::string& model, const json& messages, const json& tools, const std::string& purpose) {
  json request = {{"model", model}, {"messages", messages}, {"max_tokens", max_tokens_}};
  if (!tools.empty()) request["tools"] = tools;
  const std::string body = request.dump();
  std::string response;

  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  headers = curl_slist_append(headers, ("X-Lineage-Purpose: " + purpose).c_str());
  headers = curl_slist_append(headers, "Expect:");
  const std::string url = (socket_.empty() ? url_ : "http://gateway") + "/v1/chat/completions";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!socket_.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 900L);  // the gateway has its own deadline; this only guards a hang
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);

  ModelReply reply;
  reply.http_status = static_cast<int>(status);
  if (code != CURLE_OK) {
    reply.error = std::string("cannot reach the gateway: ") + curl_easy_strerror(code);
    return reply;
  }
  if (status != 200) {
    reply.budget_exhausted = status == 402;
    reply.error = "HTTP " + std::to_string(status) + ": " + ErrorMessage(response);
    return reply;
  }
  json parsed = json::parse(response, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("choices") || !parsed["choices"].is_array() || parsed["choices"].empty()) {
    reply.error = "the gateway's answer has no choices";
    return reply;
  }
  reply.ok = true;
  reply.message = parsed["choices"][0].value("message", json::object());
  reply.finish_reason = parsed["choices"][0].value("finish_reason", "");
  reply.usage = parsed.value("usage", json::object());
  return reply;
}

}  // namespace conductor
