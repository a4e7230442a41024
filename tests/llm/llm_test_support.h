// Helpers for the llm tests: a fake model server from an inline script, configurations pointing at it,
// and raw HTTP calls (to see exactly what a caller of the gateway receives).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "llm/fake_server.h"
#include "llm/llm.h"

namespace lineage::test {

// Starts the fake model server on a free loopback port; fails the test when the script is wrong.
std::unique_ptr<llm::FakeModelServer> StartFake(const std::string& script_json);

// One alias pointing at `url` (a fake server or a gateway), with quick retries for tests.
llm::ModelConfig FakeModel(const std::string& alias, llm::Provider provider, const std::string& url,
                           const std::string& api_key_env = "");
llm::ModelsConfig Config(std::vector<llm::ModelConfig> models);

struct HttpReply {
  long status = 0;
  std::string body;
};
// POSTs `body` (or GETs when body is empty) to base_url + path; `unix_socket` when not empty.
HttpReply Http(const std::string& url, const std::map<std::string, std::string>& headers, const std::string& body,
               const std::string& unix_socket = "");

}  // namespace lineage::test
