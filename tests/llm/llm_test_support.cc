#include "tests/llm/llm_test_support.h"

#include <curl/curl.h>

#include <catch2/catch.hpp>

namespace lineage::test {

std::unique_ptr<llm::FakeModelServer> StartFake(const std::string& script_json) {
  auto server = llm::FakeModelServer::Start(script_json, "test script");
  INFO(server.status().message());
  REQUIRE(server.ok());
  return std::move(server).value();
}

llm::ModelConfig FakeModel(const std::string& alias, llm::Provider provider, const std::string& url,
                           const std::string& api_key_env) {
  llm::ModelConfig m;
  m.alias = alias;
  m.provider = provider;
  m.base_url = provider == llm::Provider::kOpenAI ? url + "/v1" : url;
  m.model = provider == llm::Provider::kOpenAI ? "gpt-4.1-mini" : "claude-sonnet-4-5";
  m.api_key_env = api_key_env;
  m.timeout_ms = 20'000;
  m.retry_initial_ms = 20;
  m.retry_max_ms = 100;
  m.price = llm::DefaultPrice(m.model);
  return m;
}

llm::ModelsConfig Config(std::vector<llm::ModelConfig> models) {
  llm::ModelsConfig config;
  config.source = "test config";
  config.models = std::move(models);
  return config;
}

namespace {
size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
}  // namespace

HttpReply Http(const std::string& url, const std::map<std::string, std::string>& headers, const std::string& body,
               const std::string& unix_socket) {
  HttpReply reply;
  CURL* h = curl_easy_init();
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [name, value] : headers) list = curl_slist_append(list, (name + ": " + value).c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
  if (!body.empty()) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  if (!unix_socket.empty()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, unix_socket.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  // A status that came back counts even when sending failed after it (a refused body, say).
  curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(h);
  return reply;
}

}  // namespace lineage::test
