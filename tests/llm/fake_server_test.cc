// The fake model server: script order, patterns, exhaustion, request log, script errors.
#include "llm/fake_server.h"

#include <catch2/catch.hpp>

#include "tests/llm/llm_test_support.h"
#include "tests/support/test_support.h"

namespace lineage::llm {
namespace {

using json = nlohmann::json;
using test::Http;
using test::StartFake;

std::string Ask(const FakeModelServer& fake, const std::string& text) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
  auto reply = Http(fake.url() + "/v1/chat/completions", {}, body.dump());
  json parsed = json::parse(reply.body, nullptr, false);
  if (reply.status != 200) return "HTTP " + std::to_string(reply.status);
  return parsed["choices"][0]["message"]["content"].is_string() ? parsed["choices"][0]["message"]["content"].get<std::string>()
                                                                : "";
}

TEST_CASE("Responses come in order, and a pattern on the latest message picks its own") {
  auto fake = StartFake(R"js({"responses": [
      {"text": "first"},
      {"match": "tests? (passed|pass)", "text": "done"},
      {"text": "second"}]})js");
  CHECK(Ask(*fake, "start") == "first");
  CHECK(Ask(*fake, "All TESTS PASSED") == "done");  // patterns ignore case
  CHECK(Ask(*fake, "continue") == "second");
  CHECK(Ask(*fake, "more") == "HTTP 400");  // exhausted: an error the client will not retry
  CHECK(Ask(*fake, "the test passed") == "done");  // pattern entries may answer again
  auto requests = fake->requests();
  REQUIRE(requests.size() == 5);
  CHECK(requests[1].response_index == 1);
  CHECK(requests[3].response_index == -1);
  CHECK(requests[2].body["messages"][0]["content"] == "continue");
}

TEST_CASE("When exhausted, a script can repeat its last answer or cycle") {
  auto repeat = StartFake(R"({"responses": [{"text": "a"}, {"text": "b"}], "when_exhausted": "repeat_last"})");
  CHECK(Ask(*repeat, "1") == "a");
  CHECK(Ask(*repeat, "2") == "b");
  CHECK(Ask(*repeat, "3") == "b");
  auto cycle = StartFake(R"({"responses": [{"text": "a"}, {"text": "b"}], "when_exhausted": "cycle"})");
  CHECK(Ask(*cycle, "1") == "a");
  CHECK(Ask(*cycle, "2") == "b");
  CHECK(Ask(*cycle, "3") == "a");
}

TEST_CASE("The request log records what the server received") {
  test::TempDir dir;
  FakeServerOptions options;
  options.request_log = dir / "requests.jsonl";
  auto fake = FakeModelServer::Start(R"({"responses": [{"text": "x"}]})", "inline", options);
  REQUIRE(fake.ok());
  Ask(**fake, "logged question");
  auto via_http = json::parse(Http((*fake)->url() + "/_fake/requests", {}, "").body);
  CHECK(via_http[0]["body"]["messages"][0]["content"] == "logged question");
  const std::string log = test::ReadFileOrDie(dir / "requests.jsonl");
  CHECK(log.find("logged question") != std::string::npos);
}

TEST_CASE("Anthropic requests without max_tokens are refused, as Anthropic does") {
  auto fake = StartFake(R"({"responses": [{"text": "x"}]})");
  auto reply = Http(fake->url() + "/v1/messages", {}, R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(reply.status == 400);
  CHECK(json::parse(reply.body)["error"]["message"] == "max_tokens: Field required");
}

TEST_CASE("Script errors name the entry and key at fault") {
  auto message = [](const std::string& script) { return FakeModelServer::Start(script, "s.json").status().message(); };
  CHECK(message("[]") == "s.json: not a JSON object (see docs/fake-llm.md)");
  CHECK(message(R"({"responses": [{"fault": "explode"}]})").rfind("s.json: responses[0].fault: 'explode'", 0) == 0);
  CHECK(message(R"({"responses": [{"txt": "x"}]})") == "s.json: responses[0].txt is not a known key");
  CHECK(message(R"js({"responses": [{"match": "("}]})js").find("responses[0].match") != std::string::npos);
  CHECK(message(R"({"responses": [], "when_exhausted": "loop"})").find("when_exhausted 'loop'") != std::string::npos);
}

}  // namespace
}  // namespace lineage::llm
