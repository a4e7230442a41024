// The fake model server: a real HTTP server on loopback that speaks OpenAI Chat Completions
// (POST /v1/chat/completions) and Anthropic Messages (POST /v1/messages), answering from a script. Tests
// and the offline demo use it in place of a provider; `lineage-fake-llm` runs it on its own.
//
// A script is a JSON file (docs/fake-llm.md has the whole format):
//
//   {"responses": [
//      {"text": "I will look at the tests first."},
//      {"tool_calls": [{"name": "bash", "arguments": {"command": "ls"}}]},
//      {"match": "tests? passed", "text": "Done."},     // chosen when the latest message matches
//      {"fault": "rate_limit", "retry_after": 1},       // then 429 with Retry-After: 1
//      {"delay_ms": 300, "text": "slow answer", "usage": {"input": 10, "output": 3}}
//    ],
//    "when_exhausted": "error"}                          // or "repeat_last", "cycle"
//
// For each request, the first entry with a `match` pattern (ECMAScript regex) found in the text of the
// latest message answers; otherwise the next entry without one, in order. Faults: rate_limit (429),
// server_error (500), overloaded (529), auth (401), bad_request (400), context_length (400), drop (closes
// the connection), malformed (200 with invalid JSON), truncate (the body cut short).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace lineage::llm {

struct FakeServerOptions {
  std::string listen = "127.0.0.1:0";  // port 0 picks a free one
  std::string unix_socket;             // optional, in addition
  std::filesystem::path request_log;   // optional: one JSON line per request received
};

struct ReceivedRequest {
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json body;                          // null when the body was not JSON
  int response_index = -1;                      // the script entry that answered; -1: none
};

class FakeModelServer {
 public:
  // `script` is the script's JSON text; `source` names it in error messages.
  static Result<std::unique_ptr<FakeModelServer>> Start(const std::string& script, const std::string& source,
                                                        const FakeServerOptions& options = {});
  static Result<std::unique_ptr<FakeModelServer>> StartFromFile(const std::filesystem::path& script,
                                                                const FakeServerOptions& options = {});
  ~FakeModelServer();

  std::string url() const;  // "http://127.0.0.1:PORT"
  int port() const;
  // Every request received so far, in order.
  std::vector<ReceivedRequest> requests() const;
  void Stop();

  struct Impl;

 private:
  explicit FakeModelServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lineage::llm
