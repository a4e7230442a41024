// ModelClient against the real fake model server over loopback HTTP: both formats, tools, every fault.
#include <chrono>
#include <cstdlib>
#include <thread>

#include <catch2/catch.hpp>

#include "llm/llm.h"
#include "tests/llm/llm_test_support.h"

namespace lineage::llm {
namespace {

using json = nlohmann::json;
using test::Config;
using test::FakeModel;
using test::StartFake;
using Clock = std::chrono::steady_clock;

ChatRequest Hello() {
  ChatRequest r;
  r.messages.push_back(Message::User("hello"));
  return r;
}

CallResult CallOnce(const std::string& script, Provider provider = Provider::kOpenAI,
                    std::function<void(ModelConfig&)> adjust = {}) {
  auto fake = StartFake(script);
  ModelConfig m = FakeModel("default", provider, fake->url());
  if (adjust) adjust(m);
  ModelClient client(Config({m}));
  return client.Call("default", Hello());
}

TEST_CASE("The client speaks both formats and reports usage and cost") {
  for (Provider provider : {Provider::kOpenAI, Provider::kAnthropic}) {
    auto fake = StartFake(R"({"responses": [{"text": "hi there", "usage": {"input": 1000, "output": 200}}]})");
    ModelClient client(Config({FakeModel("default", provider, fake->url())}));
    CallResult r = client.Call("default", Hello());
    INFO(ProviderName(provider) << ": " << r.error.message);
    REQUIRE(r.ok());
    CHECK(r.response->Text() == "hi there");
    CHECK(r.response->usage.input == 1000);
    CHECK(r.response->usage.output == 200);
    CHECK(r.attempts == 1);
    CHECK(r.cost_usd > 0);
    const auto requests = fake->requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].path == (provider == Provider::kOpenAI ? "/v1/chat/completions" : "/v1/messages"));
    CHECK(requests[0].body["messages"][0]["role"] == "user");
    if (provider == Provider::kAnthropic) {
      CHECK(requests[0].headers.at("anthropic-version") == "2023-06-01");
      CHECK(requests[0].body["max_tokens"] == 4096);  // the table's default, since Anthropic requires one
    }
  }
}

TEST_CASE("The key travels in each provider's header, read from the named variable") {
  ::setenv("LINEAGE_TEST_KEY", "sk-test-123456", 1);
  for (Provider provider : {Provider::kOpenAI, Provider::kAnthropic}) {
    auto fake = StartFake(R"({"responses": [{"text": "ok"}]})");
    ModelClient client(Config({FakeModel("default", provider, fake->url(), "LINEAGE_TEST_KEY")}));
    REQUIRE(client.Call("default", Hello()).ok());
    const auto headers = fake->requests().at(0).headers;
    if (provider == Provider::kOpenAI) {
      CHECK(headers.at("authorization") == "Bearer sk-test-123456");
    } else {
      CHECK(headers.at("x-api-key") == "sk-test-123456");
    }
  }
  ::unsetenv("LINEAGE_TEST_KEY");
}

TEST_CASE("Tools and tool calls round-trip through the client") {
  for (Provider provider : {Provider::kOpenAI, Provider::kAnthropic}) {
    auto fake = StartFake(R"({"responses": [
        {"tool_calls": [{"name": "bash", "id": "call_9", "arguments": {"command": "ls -la"}}]}]})");
    ModelClient client(Config({FakeModel("default", provider, fake->url())}));
    ChatRequest r = Hello();
    r.tools.push_back(Tool{"bash", "Run a command", json::parse(R"({"type":"object","properties":{"command":{"type":"string"}}})")});
    CallResult out = client.Call("default", r);
    REQUIRE(out.ok());
    CHECK(out.response->stop_reason == StopReason::kToolUse);
    auto calls = out.response->ToolCalls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0]->id == "call_9");
    CHECK(calls[0]->name == "bash");
    CHECK(calls[0]->input == json{{"command", "ls -la"}});
    const json body = fake->requests().at(0).body;
    if (provider == Provider::kOpenAI) {
      CHECK(body["tools"][0]["function"]["name"] == "bash");
    } else {
      CHECK(body["tools"][0]["input_schema"]["type"] == "object");
    }
  }
}

TEST_CASE("429 is retried after the Retry-After the server asked for") {
  const auto start = Clock::now();
  CallResult r = CallOnce(R"({"responses": [{"fault": "rate_limit", "retry_after": 1}, {"text": "ok"}]})");
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  REQUIRE(r.ok());
  CHECK(r.attempts == 2);
  CHECK(waited >= 950);  // the test backoff is 20 ms: only Retry-After explains a one-second wait
}

TEST_CASE("500, 529, a dropped connection and a truncated body are retried") {
  for (const char* fault : {"server_error", "overloaded", "drop", "truncate"}) {
    for (Provider provider : {Provider::kOpenAI, Provider::kAnthropic}) {
      CallResult r = CallOnce(std::string(R"({"responses": [{"fault": ")") + fault + R"("}, {"text": "ok"}]})", provider);
      INFO(fault << " " << ProviderName(provider) << ": " << r.error.message);
      REQUIRE(r.ok());
      CHECK(r.attempts == 2);
      CHECK(r.response->Text() == "ok");
    }
  }
}

TEST_CASE("Retries stop at max_retries with the last error classified") {
  CallResult r = CallOnce(R"({"responses": [{"fault": "overloaded"}], "when_exhausted": "repeat_last"})",
                          Provider::kAnthropic, [](ModelConfig& m) { m.max_retries = 2; });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.kind == ErrorKind::kOverloaded);
  CHECK(r.error.http_status == 529);
  CHECK(r.attempts == 3);
}

TEST_CASE("Other 4xx are not retried and are classified") {
  struct Case {
    const char* fault;
    ErrorKind kind;
  };
  for (Case c : {Case{"bad_request", ErrorKind::kBadRequest}, Case{"context_length", ErrorKind::kContextTooLong},
                 Case{"auth", ErrorKind::kAuth}}) {
    auto fake = StartFake(std::string(R"({"responses": [{"fault": ")") + c.fault + R"("}, {"text": "never"}]})");
    ModelClient client(Config({FakeModel("default", Provider::kOpenAI, fake->url())}));
    CallResult r = client.Call("default", Hello());
    INFO(c.fault << ": " << r.error.message);
    CHECK(r.error.kind == c.kind);
    CHECK(r.attempts == 1);
    CHECK(fake->requests().size() == 1);
  }
}

TEST_CASE("A malformed 200 is reported, not retried") {
  CallResult r = CallOnce(R"({"responses": [{"fault": "malformed"}, {"text": "never"}]})");
  CHECK(r.error.kind == ErrorKind::kMalformedResponse);
  CHECK(r.attempts == 1);
  CHECK(r.error.message.find("malformed") != std::string::npos);
}

TEST_CASE("A refused key is scrubbed from the error message") {
  ::setenv("LINEAGE_TEST_KEY", "sk-secret-abcdef", 1);
  CallResult r = CallOnce(R"({"responses": [{"fault": "auth"}]})", Provider::kOpenAI,
                          [](ModelConfig& m) { m.api_key_env = "LINEAGE_TEST_KEY"; });
  ::unsetenv("LINEAGE_TEST_KEY");
  CHECK(r.error.kind == ErrorKind::kAuth);
  CHECK(r.error.message.find("sk-secret-abcdef") == std::string::npos);
  CHECK(r.error.message.find("[redacted]") != std::string::npos);
  CHECK(r.error.message.find("api_key_env") != std::string::npos);
}

TEST_CASE("The deadline covers the whole call") {
  CallResult r = CallOnce(R"({"responses": [{"delay_ms": 1500, "text": "late"}]})", Provider::kOpenAI,
                          [](ModelConfig& m) { m.timeout_ms = 300; });
  CHECK(r.error.kind == ErrorKind::kTimeout);
  CHECK(r.latency_ms < 1400);
}

TEST_CASE("A Retry-After beyond the deadline fails at once instead of sleeping") {
  CallResult r = CallOnce(R"({"responses": [{"fault": "rate_limit", "retry_after": 30}, {"text": "ok"}]})",
                          Provider::kOpenAI, [](ModelConfig& m) { m.timeout_ms = 2000; });
  CHECK(r.error.kind == ErrorKind::kRateLimited);
  CHECK(r.latency_ms < 1500);
  CHECK(r.error.message.find("no time left") != std::string::npos);
}

TEST_CASE("An unreachable server and a missing key variable are explained") {
  ModelConfig m = FakeModel("default", Provider::kOpenAI, "http://127.0.0.1:9");
  m.max_retries = 1;
  ModelClient client(Config({m}));
  CallResult r = client.Call("default", Hello());
  CHECK(r.error.kind == ErrorKind::kUnreachable);
  CHECK(r.error.message.find("127.0.0.1:9") != std::string::npos);
  CHECK(r.attempts == 2);

  ::unsetenv("LINEAGE_MISSING_KEY");
  ModelConfig keyed = FakeModel("default", Provider::kOpenAI, "http://127.0.0.1:9", "LINEAGE_MISSING_KEY");
  ModelClient keyed_client(Config({keyed}));
  CallResult missing = keyed_client.Call("default", Hello());
  CHECK(missing.error.kind == ErrorKind::kConfig);
  CHECK(missing.error.message.find("LINEAGE_MISSING_KEY") != std::string::npos);
  CHECK(keyed_client.Call("nope", Hello()).error.message.find("no model alias 'nope'") != std::string::npos);
}

TEST_CASE("max_concurrency caps the calls in flight to one provider") {
  auto fake = StartFake(R"({"responses": [{"delay_ms": 300, "text": "ok"}], "when_exhausted": "repeat_last"})");
  ModelConfig m = FakeModel("default", Provider::kOpenAI, fake->url());
  m.max_concurrency = 2;
  ModelClient client(Config({m}));
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] { ok += client.Call("default", Hello()).ok() ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  CHECK(ok == 6);
  CHECK(elapsed >= 880);  // three waves of two; without the cap, one wave of 300 ms
}

}  // namespace
}  // namespace lineage::llm
