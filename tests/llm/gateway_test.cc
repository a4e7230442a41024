// The gateway over real HTTP: agents of either dialect, upstreams of either kind (the fake model server),
// tokens, budgets, faults, records, and record/replay.
#include "llm/gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "harness/harness.h"
#include "tests/llm/llm_test_support.h"
#include "tests/support/test_support.h"

namespace lineage::llm {
namespace {

using json = nlohmann::json;
using test::Config;
using test::FakeModel;
using test::Http;
using test::StartFake;

// A gateway on loopback TCP in front of `upstream` (alias "default"), plus a recorder that keeps calls.
struct Rig {
  std::mutex mu;
  std::vector<CallRecord> records;  // declared first: the gateway, stopping, may still record
  Status record_status;             // what the recorder answers (guarded by mu)
  std::unique_ptr<FakeModelServer> fake;
  std::unique_ptr<Gateway> gateway;

  Rig(const std::string& script, Provider upstream, GatewayOptions options = {}) {
    fake = StartFake(script);
    options.tcp_listen = "127.0.0.1:0";
    options.recorder = [this](const CallRecord& r) {
      std::lock_guard lock(mu);
      records.push_back(r);
      return record_status;
    };
    ModelConfig m = FakeModel("default", upstream, fake->url());
    m.max_retries = 2;
    auto started = Gateway::Start(Config({m}), options);
    REQUIRE(started.ok());
    gateway = std::move(started).value();
  }

  // An agent-side client that reaches the gateway in `dialect` with `token`.
  std::unique_ptr<ModelClient> Agent(Provider dialect, const std::string& token, const std::string& alias = "default") {
    const std::string env = "LINEAGE_TEST_TOKEN_" + std::to_string(counter++);
    ::setenv(env.c_str(), token.c_str(), 1);
    ModelConfig m = FakeModel(alias, dialect, gateway->tcp_url(), env);
    m.model = alias;  // agents ask the gateway for an alias
    m.max_retries = 0;  // the gateway retries upstream; the agent sees the outcome
    return std::make_unique<ModelClient>(Config({m}));
  }

  int counter = 0;
};

ChatRequest WithTools() {
  ChatRequest r;
  r.system = "You fix bugs.";
  r.messages.push_back(Message::User("Run the tests."));
  r.messages.push_back(Message{Role::kAssistant, {Block::Text("Running."), Block::ToolCall("call_1", "bash", json{{"command", "make test"}})}});
  r.messages.push_back(Message{Role::kUser, {Block::ToolResult("call_1", "2 failed", true)}});
  r.tools.push_back(Tool{"bash", "Run a shell command", json{{"type", "object"}}});
  return r;
}

TEST_CASE("A call the recorder cannot store counts as the world's fault: the work is redone, not judged") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  {
    std::lock_guard lock(rig.mu);
    rig.record_status = Status::IOError("disk full");
  }
  auto agent = rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, nullptr));
  ChatRequest request;
  request.messages.push_back(Message::User("hi"));
  CHECK(agent->Call("default", request).ok());  // the caller has its answer before the record is stored
  rig.gateway->Flush();
  const Gateway::Faults faults = rig.gateway->faults();
  CHECK(faults.unrecorded == 1);
  CHECK(faults.world == 0);
  CHECK_THAT(faults.first_unrecorded, Catch::Contains("could not record a model call") && Catch::Contains("disk full"));
}

TEST_CASE("Agents of either dialect reach upstreams of either kind, tools translated") {
  for (Provider agent_dialect : {Provider::kOpenAI, Provider::kAnthropic}) {
    for (Provider upstream : {Provider::kOpenAI, Provider::kAnthropic}) {
      INFO("agent " << ProviderName(agent_dialect) << ", upstream " << ProviderName(upstream));
      Rig rig(R"({"responses": [{"text": "Fixing.", "tool_calls": [{"name": "bash", "id": "c7", "arguments": {"command": "vi a.c"}}]}]})",
              upstream);
      auto agent = rig.Agent(agent_dialect, rig.gateway->IssueToken({}, nullptr));
      CallResult r = agent->Call("default", WithTools());
      INFO(r.error.message);
      REQUIRE(r.ok());
      CHECK(r.response->Text() == "Fixing.");
      REQUIRE(r.response->ToolCalls().size() == 1);
      CHECK(r.response->ToolCalls()[0]->input == json{{"command", "vi a.c"}});
      CHECK(r.response->stop_reason == StopReason::kToolUse);

      // The upstream got the conversation in its own format.
      const json up = rig.fake->requests().at(0).body;
      CHECK(up["model"] == (upstream == Provider::kOpenAI ? "gpt-4.1-mini" : "claude-sonnet-4-5"));
      if (upstream == Provider::kOpenAI) {
        CHECK(up["messages"][0] == json{{"role", "system"}, {"content", "You fix bugs."}});
        CHECK(up["messages"][2]["tool_calls"][0]["id"] == "call_1");
        CHECK(up["messages"][3]["role"] == "tool");
        CHECK(up["tools"][0]["function"]["name"] == "bash");
      } else {
        // With a cache breakpoint, as the gateway marks one for Anthropic upstreams (prompt_cache = "auto").
        CHECK(up["system"][0]["text"] == "You fix bugs.");
        CHECK(up["system"][0]["cache_control"]["type"] == "ephemeral");
        CHECK(up["messages"][1]["content"][1]["type"] == "tool_use");
        CHECK(up["messages"][2]["content"][0]["tool_use_id"] == "call_1");
        CHECK(up["tools"][0]["input_schema"]["type"] == "object");
      }
    }
  }
}

TEST_CASE("Prompt caching: an OpenAI-dialect agent's growing conversation is cached by an Anthropic upstream") {
  Rig rig(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last", "cache_min_tokens": 16})",
          Provider::kAnthropic);
  auto agent = rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, nullptr));
  ChatRequest first;
  first.system = std::string(2000, 's');
  first.messages.push_back(Message::User("first question"));
  CallResult r1 = agent->Call("default", first);
  REQUIRE(r1.ok());
  CHECK(r1.response->usage.cache_read == 0);
  rig.gateway->Flush();
  {
    std::lock_guard lock(rig.mu);
    CHECK(rig.records.at(0).usage.cache_write > 0);  // OpenAI's format has no field for it; the record has
  }
  // The gateway marked the breakpoints: the system prompt and the latest turn.
  const json up = rig.fake->requests().at(0).body;
  CHECK(up["system"][0]["cache_control"]["type"] == "ephemeral");
  CHECK(up["messages"].back()["content"].back()["cache_control"]["type"] == "ephemeral");

  ChatRequest second = first;
  second.messages.push_back(Message::Assistant("ok"));
  second.messages.push_back(Message::User("second question"));
  CallResult r2 = agent->Call("default", second);
  REQUIRE(r2.ok());
  CHECK(r2.response->usage.cache_read >= 500);  // the system prompt and the first turn, read back
  // Cached input costs less: the same call priced without the cache would cost more.
  const Price price = *DefaultPrice("claude-sonnet-4-5");
  Usage uncached = r2.response->usage;
  uncached.cache_read = uncached.cache_write = 0;
  CHECK(CostUsd(r2.response->usage, price) < CostUsd(uncached, price));

  // prompt_cache = "off": the caller's breakpoints only (none here), nothing cached.
  auto fake = test::StartFake(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last", "cache_min_tokens": 16})");
  ModelConfig m = FakeModel("default", Provider::kAnthropic, fake->url());
  m.prompt_cache = ModelConfig::PromptCache::kOff;
  ModelClient direct(Config({m}));
  REQUIRE(direct.Call("default", first).ok());
  CallResult off = direct.Call("default", second);
  REQUIRE(off.ok());
  CHECK(off.response->usage.cache_read == 0);
  CHECK_FALSE(fake->requests().at(0).body["system"].is_array());
}

TEST_CASE("A Responses request with fields of the wrong type is answered, recorded and counted, never a 500") {
  Rig rig(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last"})", Provider::kOpenAI);
  auto budget = std::make_shared<Budget>(BudgetLimits{std::nullopt, std::nullopt, 100});
  const std::string token = rig.gateway->IssueToken({}, budget);
  for (const char* body : {R"({"model": "default", "input": [{"type": 5, "role": "user", "content": "x"}]})",
                           R"({"model": "default", "input": [{"type": "function_call", "name": "f", "call_id": 7}]})",
                           R"({"model": "default", "input": "x", "tools": [{"type": null, "name": "f"}]})",
                           R"({"model": "default", "input": [{"role": "user", "content": [{"type": [], "text": "x"}]}]})"}) {
    INFO(body);
    auto reply = Http(rig.gateway->tcp_url() + "/v1/responses", {{"Authorization", "Bearer " + token}}, body);
    // A 400 naming the field, or read leniently (a type that is not a string is ignored); never an
    // exception that skips the ledger (a 500, unrecorded and free).
    CHECK((reply.status == 400 || reply.status == 200));
  }
  rig.gateway->Flush();
  CHECK(budget->spent().calls == 4);  // refused calls are not free either
  std::lock_guard lock(rig.mu);
  CHECK(rig.records.size() == 4);
}

TEST_CASE("The gateway refuses unknown tokens and unknown models, in the caller's dialect") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  const std::string chat = R"({"model": "default", "messages": [{"role": "user", "content": "hi"}]})";
  auto no_token = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {}, chat);
  CHECK(no_token.status == 401);
  CHECK(json::parse(no_token.body)["error"]["message"].get<std::string>().find("token") != std::string::npos);
  auto anthropic_wrong = Http(rig.gateway->tcp_url() + "/v1/messages", {{"x-api-key", "lgw-wrong"}},
                              R"({"model": "default", "max_tokens": 5, "messages": []})");
  CHECK(anthropic_wrong.status == 401);
  CHECK(json::parse(anthropic_wrong.body)["type"] == "error");

  auto unknown = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}},
                      R"({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(unknown.status == 400);
  CHECK(json::parse(unknown.body)["error"]["message"] == "model 'gpt-5' is not configured; ask for one of: default");

  auto models = Http(rig.gateway->tcp_url() + "/v1/models", {{"Authorization", "Bearer " + token}}, "");
  CHECK(models.status == 200);
  CHECK(json::parse(models.body)["data"][0]["id"] == "default");

  rig.gateway->RevokeToken(token);
  CHECK(Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}}, chat).status == 401);
  CHECK(rig.fake->requests().empty());
}

TEST_CASE("Upstream faults reach the agent classified, after the gateway's own retries") {
  Rig rig(R"({"responses": [{"fault": "rate_limit", "retry_after": 0}, {"text": "after retry"},
                             {"fault": "context_length"},
                             {"fault": "server_error"}, {"fault": "server_error"}, {"fault": "server_error"},
                             {"fault": "malformed"}]})",
          Provider::kAnthropic);
  auto agent = rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, nullptr));
  ChatRequest hello;
  hello.messages.push_back(Message::User("hi"));

  CallResult retried = agent->Call("default", hello);
  REQUIRE(retried.ok());
  CHECK(retried.response->Text() == "after retry");

  CallResult too_long = agent->Call("default", hello);
  CHECK(too_long.error.kind == ErrorKind::kContextTooLong);

  CallResult server = agent->Call("default", hello);
  CHECK(server.error.kind == ErrorKind::kServer);  // three 500s: the gateway's two retries are spent

  CallResult malformed = agent->Call("default", hello);
  CHECK(malformed.error.http_status == 502);
  CHECK(malformed.error.message.find("malformed") != std::string::npos);

  rig.gateway->Flush();
  std::lock_guard lock(rig.mu);
  REQUIRE(rig.records.size() == 4);
  CHECK(rig.records[0].outcome == "ok");
  CHECK(rig.records[0].attempts == 2);
  CHECK(rig.records[1].outcome == "context_too_long");
  CHECK(rig.records[2].outcome == "server");
  CHECK(rig.records[3].outcome == "malformed_response");
}

TEST_CASE("Every call is recorded with its attribution, usage and cost") {
  Rig rig(R"({"responses": [{"text": "ok", "usage": {"input": 500, "output": 50}}]})", Provider::kOpenAI);
  const std::string token = rig.gateway->IssueToken(Attribution{7, 42, "task-3", "evaluate"}, nullptr);
  auto reply = Http(rig.gateway->tcp_url() + "/v1/messages",
                    {{"x-api-key", token}, {"X-Lineage-Purpose", "expert"}},
                    R"({"model": "default", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})");
  REQUIRE(reply.status == 200);
  CHECK(json::parse(reply.body)["content"][0]["text"] == "ok");
  rig.gateway->Flush();
  std::lock_guard lock(rig.mu);
  REQUIRE(rig.records.size() == 1);
  const CallRecord& r = rig.records[0];
  CHECK(r.who.run_id == 7);
  CHECK(r.who.agent_id == 42);
  CHECK(r.who.task_id == "task-3");
  CHECK(r.who.purpose == "evaluate");  // lineage's word stands...
  CHECK(r.who.label == "expert");      // ...and the agent's refines it
  CHECK(r.dialect == "anthropic");
  CHECK(r.provider == "openai");
  CHECK(r.model == "gpt-4.1-mini");
  CHECK(r.usage.input == 500);
  CHECK(r.cost_usd == Approx(CostUsd(Usage{500, 50, 0, 0, 0}, *DefaultPrice("gpt-4.1-mini"))));
  CHECK(json::parse(r.request_body)["max_tokens"] == 64);
  CHECK(json::parse(r.response_body)["type"] == "message");
}

TEST_CASE("A budget runs out in the middle of an agent's run") {
  Rig rig(R"({"responses": [{"text": "step", "usage": {"input": 100, "output": 100}}], "when_exhausted": "repeat_last"})",
          Provider::kAnthropic);
  auto budget = std::make_shared<Budget>(BudgetLimits{std::nullopt, std::nullopt, 3});
  auto agent = rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, budget));
  ChatRequest step;
  step.messages.push_back(Message::User("next step"));
  for (int i = 0; i < 3; ++i) REQUIRE(agent->Call("default", step).ok());
  CallResult refused = agent->Call("default", step);
  CHECK(refused.error.kind == ErrorKind::kBudgetExceeded);
  CHECK(refused.error.http_status == 402);
  CHECK(refused.error.message.find("budget exhausted") != std::string::npos);
  CHECK(rig.fake->requests().size() == 3);
  CHECK(budget->spent().calls == 3);
  CHECK(budget->spent().tokens == 600);
  CHECK(budget->in_flight().calls == 0);

  // A token budget counts the prompt and the most the answer may use.
  auto tokens = std::make_shared<Budget>(BudgetLimits{1000, std::nullopt, std::nullopt});
  const std::string token = rig.gateway->IssueToken({}, tokens);
  auto big = Http(rig.gateway->tcp_url() + "/v1/messages", {{"x-api-key", token}},
                  R"({"model": "default", "max_tokens": 2000, "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(big.status == 402);
  const json body = json::parse(big.body);
  CHECK(body["type"] == "error");
  CHECK(body["error"]["message"].get<std::string>().find("max_tokens") != std::string::npos);
}

TEST_CASE("An agent asking for more tokens than the budget holds gets its own error, not the budget's end") {
  Rig rig(R"({"responses": [{"text": "step", "usage": {"input": 10, "output": 10}}], "when_exhausted": "repeat_last"})",
          Provider::kAnthropic);
  // Room for calls of the model's usual size (default_max_tokens), not for one asking 1,000,000.
  auto budget = std::make_shared<Budget>(BudgetLimits{20000, std::nullopt, std::nullopt});
  const std::string token = rig.gateway->IssueToken({}, budget);
  auto greedy = Http(rig.gateway->tcp_url() + "/v1/messages", {{"x-api-key", token}},
                     R"({"model": "default", "max_tokens": 1000000, "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(greedy.status == 400);
  CHECK_THAT(greedy.body, Catch::Contains("would pass the budget") && Catch::Contains("ask for at most"));
  // A run reads 402s as its budget's end: this one is not counted so, and a usual call still goes through.
  CHECK(rig.gateway->faults().budget == 0);
  auto usual = Http(rig.gateway->tcp_url() + "/v1/messages", {{"x-api-key", token}},
                    R"({"model": "default", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(usual.status == 200);
  CHECK(budget->in_flight().tokens == 0);
}

TEST_CASE("One budget shared by concurrent agents admits exactly its calls") {
  Rig rig(R"({"responses": [{"text": "ok", "delay_ms": 20}], "when_exhausted": "repeat_last"})", Provider::kOpenAI);
  auto shared = std::make_shared<Budget>(BudgetLimits{std::nullopt, std::nullopt, 10});
  std::vector<std::unique_ptr<ModelClient>> agents;
  for (int i = 0; i < 8; ++i) agents.push_back(rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, shared)));
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (auto& agent : agents) {
    threads.emplace_back([&, a = agent.get()] {
      ChatRequest r;
      r.messages.push_back(Message::User("go"));
      for (int i = 0; i < 5; ++i) {
        CallResult out = a->Call("default", r);
        if (out.ok()) ++ok;
        else if (out.error.kind == ErrorKind::kBudgetExceeded) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 10);
  CHECK(refused == 30);
  CHECK(rig.fake->requests().size() == 10);
  CHECK(shared->spent().calls == 10);
}

TEST_CASE("The gateway serves a Unix socket") {
  test::TempDir dir;
  GatewayOptions options;
  options.unix_socket = (dir / "gw.sock").string();
  Rig rig(R"({"responses": [{"text": "over the socket"}]})", Provider::kOpenAI, options);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  ::setenv("LINEAGE_TEST_SOCKET_TOKEN", token.c_str(), 1);
  ModelConfig m = FakeModel("default", Provider::kOpenAI, "http://gateway", "LINEAGE_TEST_SOCKET_TOKEN");
  m.unix_socket = options.unix_socket;
  m.model = "default";
  ModelClient agent(Config({m}));
  CallResult r = agent.Call("default", ChatRequest{.messages = {Message::User("hi")}});
  INFO(r.error.message);
  REQUIRE(r.ok());
  CHECK(r.response->Text() == "over the socket");
}

TEST_CASE("A recorded run replays with no model at all") {
  test::TempDir dir;
  ChatRequest first = WithTools(), second;
  first.messages[2].content[0].is_error = false;  // OpenAI's format cannot carry it; the hashes would differ
  second.messages.push_back(Message::User("second question"));
  {
    GatewayOptions record;
    record.cache_mode = CacheMode::kRecord;
    record.cache_dir = dir / "cache";
    Rig rig(R"({"responses": [{"text": "one", "usage": {"input": 10, "output": 2}}, {"text": "two"}, {"text": "three"}]})",
            Provider::kAnthropic, record);
    auto agent = rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, nullptr));
    REQUIRE(agent->Call("default", first).response->Text() == "one");
    REQUIRE(agent->Call("default", second).response->Text() == "two");
    REQUIRE(agent->Call("default", first).response->Text() == "three");
  }
  // No upstream: a config pointing at a closed port proves nothing is called.
  GatewayOptions replay;
  replay.tcp_listen = "127.0.0.1:0";
  replay.cache_mode = CacheMode::kReplay;
  replay.cache_dir = dir / "cache";
  std::vector<CallRecord> records;
  replay.recorder = [&](const CallRecord& r) {
    records.push_back(r);
    return Status::OK();
  };
  auto gateway = Gateway::Start(Config({FakeModel("default", Provider::kAnthropic, "http://127.0.0.1:9")}), replay);
  REQUIRE(gateway.ok());
  ::setenv("LINEAGE_TEST_REPLAY_TOKEN", (*gateway)->IssueToken({}, nullptr).c_str(), 1);
  ModelConfig m = FakeModel("default", Provider::kAnthropic, (*gateway)->tcp_url(), "LINEAGE_TEST_REPLAY_TOKEN");
  m.model = "default";
  m.max_retries = 0;
  ModelClient agent(Config({m}));  // this time the agent speaks Anthropic: the cache is format-neutral
  auto text = [&](const ChatRequest& r) {
    CallResult out = agent.Call("default", r);
    return out.ok() ? out.response->Text() : out.error.message;
  };
  CHECK(text(first) == "one");
  CHECK(text(second) == "two");
  CHECK(text(first) == "three");
  CallResult unknown = agent.Call("default", ChatRequest{.messages = {Message::User("never asked")}});
  CHECK(unknown.error.http_status == 404);
  CHECK(unknown.error.message.find("no recorded response") != std::string::npos);
  (*gateway)->Flush();
  REQUIRE(records.size() == 4);
  CHECK(records[0].replayed);
  CHECK(records[0].usage.input == 10);
}

// --- What one caller can hold of the gateway -------------------------------------------------------------

// A raw connection to the gateway that sends a request's headers and leaves its body owed.
struct RawConnection {
  int fd = -1;
  RawConnection(const std::string& url, const std::string& token, std::size_t content_length) {
    const int port = std::stoi(url.substr(url.rfind(':') + 1));
    fd = test::ConnectLoopback(port);
    REQUIRE(fd >= 0);
    const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                             "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
    REQUIRE(send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  }
  ~RawConnection() { close(fd); }
  // The status the gateway answered within `ms`, or 0 when it is still waiting for the body.
  int Status(int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return 0;
    char buf[256] = {0};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    return n > 12 ? std::atoi(buf + 9) : -1;
  }
};

TEST_CASE("A request body over the gateway's cap is refused unread, and never recorded") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  test::HttpReply r = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}},
                           std::string(5 << 20, 'x'));
  CHECK(r.status == 413);
  rig.gateway->Flush();
  CHECK(rig.records.empty());
}

TEST_CASE("A flood of large bodies is turned away before it is read: bytes in flight are bounded") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  // 20 callers, each a token of its own, each announcing 4 MB: the gateway holds at most 32 MiB of them.
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 20; ++i) {
    flood.push_back(std::make_unique<RawConnection>(rig.gateway->tcp_url(), rig.gateway->IssueToken({}, nullptr), 4'000'000));
  }
  int waiting = 0, turned_away = 0;
  for (auto& c : flood) {
    const int status = c->Status(300);
    if (status == 0) ++waiting;
    if (status == 503) ++turned_away;
  }
  CHECK(waiting == 8);  // 8 x 4 MB fit under 32 MiB
  CHECK(turned_away == 12);
  // A caller nobody knows holds no byte: it is answered 401 before its body is read.
  RawConnection bogus(rig.gateway->tcp_url(), "lgw-bogus", 4'000'000);
  CHECK(bogus.Status(1000) == 401);
}

TEST_CASE("One token holds at most 16 connections to the gateway") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  std::vector<std::unique_ptr<RawConnection>> connections;
  for (int i = 0; i < 20; ++i) connections.push_back(std::make_unique<RawConnection>(rig.gateway->tcp_url(), token, 10));
  int waiting = 0, refused = 0;
  for (auto& c : connections) {
    const int status = c->Status(300);
    if (status == 0) ++waiting;
    if (status == 429) ++refused;
  }
  CHECK(waiting == 16);
  CHECK(refused == 4);
  // Nor can a connection opened with a bogus token carry the real one past the cap.
  RawConnection bogus(rig.gateway->tcp_url(), "lgw-bogus", 0);
  CHECK(bogus.Status(1000) == 401);
  const std::string again = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                            "\r\nContent-Length: 2\r\n\r\n{}";
  (void)!send(bogus.fd, again.data(), again.size(), MSG_NOSIGNAL);
  CHECK(bogus.Status(1000) <= 0);  // closed after the 401: nothing more is answered
  // Another token is not held back by this one.
  auto other = rig.Agent(Provider::kOpenAI, rig.gateway->IssueToken({}, nullptr));
  ChatRequest hello;
  hello.messages = {Message::User("hi")};
  CHECK(other->Call("default", hello).ok());
}

// Reads one whole response (headers and a Content-Length body) from `fd`; its status, or 0 when none came.
int ReadResponse(int fd) {
  std::string in;
  char buf[4096];
  for (;;) {
    const auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const auto at = in.find("Content-Length: ");
      const std::size_t length = at == std::string::npos ? 0 : std::stoul(in.substr(at + 16));
      if (in.size() >= head_end + 4 + length) return std::atoi(in.c_str() + 9);
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return 0;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    in.append(buf, static_cast<std::size_t>(n));
  }
}

TEST_CASE("A wrong token on a keep-alive connection that served another token is answered 401") {
  Rig rig(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last"})", Provider::kOpenAI);
  const std::string good = rig.gateway->IssueToken({}, nullptr);
  const std::string body = R"({"model": "default", "messages": [{"role": "user", "content": "hi"}]})";
  RawConnection connection(rig.gateway->tcp_url(), good, body.size());
  REQUIRE(send(connection.fd, body.data(), body.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(body.size()));
  REQUIRE(ReadResponse(connection.fd) == 200);
  // The same connection, as a client's pool would reuse it, now with a token nobody issued.
  const std::string wrong = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer lgw-wrong\r\n"
                            "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  REQUIRE(send(connection.fd, wrong.data(), wrong.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(wrong.size()));
  CHECK(ReadResponse(connection.fd) == 401);
}

TEST_CASE("Slow connections that present no token never keep a caller with one out") {
  Rig rig(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last"})", Provider::kOpenAI);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  // 100 connections (more than the gateway's 64) that begin a request and never finish its headers.
  const int port = std::stoi(rig.gateway->tcp_url().substr(rig.gateway->tcp_url().rfind(':') + 1));
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) {
    const int fd = test::ConnectLoopback(port);
    REQUIRE(fd >= 0);
    const std::string start = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
    (void)!send(fd, start.data(), start.size(), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) {  // each call a new connection, while the slow ones stay
    const auto start = Clock::now();
    test::HttpReply r = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}},
                             R"({"model": "default", "messages": [{"role": "user", "content": "hi"}]})");
    INFO(r.body);
    CHECK(r.status == 200);
    CHECK(Clock::now() - start < std::chrono::seconds(5));  // not the two minutes a wave of them cost
  }
  for (int fd : slow) close(fd);
}

TEST_CASE("A request nested deep enough to overflow a recursive copy is refused, and the gateway lives on") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  const std::string deep = std::string(300'000, '[') + std::string(300'000, ']');
  const std::string body = R"({"model": "default", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": )"
                           R"("function", "function": {"name": "f", "parameters": {"x": )" + deep + "}}}]}";
  test::HttpReply r = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}}, body);
  CHECK(r.status == 400);
  CHECK_THAT(r.body, Catch::Contains("nests deeper than"));
  auto agent = rig.Agent(Provider::kOpenAI, token);
  ChatRequest hello;
  hello.messages = {Message::User("hi")};
  CHECK(agent->Call("default", hello).ok());
}

TEST_CASE("A refused call's record is bounded, and junk counts against the call budget until it is spent") {
  Rig rig(R"({"responses": [{"text": "ok"}]})", Provider::kOpenAI);
  auto budget = std::make_shared<Budget>(BudgetLimits{std::nullopt, std::nullopt, 5});
  const std::string token = rig.gateway->IssueToken({}, budget);
  std::vector<long> statuses;
  for (int i = 0; i < 8; ++i) {
    statuses.push_back(Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}},
                            std::string(1 << 20, 'j')).status);
  }
  CHECK(statuses == std::vector<long>{400, 400, 400, 400, 400, 402, 402, 402});
  CHECK(budget->spent().calls == 5);
  rig.gateway->Flush();
  std::lock_guard lock(rig.mu);
  REQUIRE(rig.records.size() == 8);
  for (const CallRecord& r : rig.records) CHECK(r.request_body.size() < 2 * kMaxRefusedRecordBytes);
}

// --- Streaming from the upstream ----------------------------------------------------------------------

TEST_CASE("A streamed answer reaches the caller piece by piece as the upstream sends it, and is recorded whole") {
  const std::string text = "Hello from a slow model, sent piece by piece.";  // three pieces of 16 bytes
  Rig rig(R"({"responses": [{"text": ")" + text + R"(", "chunk_delay_ms": 300, "usage": {"input": 40, "output": 12}}]})",
          Provider::kOpenAI);
  auto budget = std::make_shared<Budget>();
  auto agent = rig.Agent(Provider::kAnthropic, rig.gateway->IssueToken({}, budget));  // translated on the way
  ChatRequest hello;
  hello.messages = {Message::User("hi")};
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<double> seconds;
  std::string streamed;
  CallResult result = agent->Call("default", hello, [&](const StreamDelta& piece) {
    if (piece.kind == StreamDelta::Kind::kText) {
      seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      streamed += piece.text;
    }
    return true;
  });
  REQUIRE(result.ok());
  CHECK(streamed == text);
  CHECK(result.response->Text() == text);
  CHECK(result.response->usage.input == 40);
  REQUIRE(seconds.size() >= 3);
  // The upstream takes 1.2 s to finish (a pause after each of its four events): the first piece must not
  // wait for the last.
  CHECK(seconds.front() < 0.6);
  CHECK(seconds.back() >= 0.6);
  CHECK(budget->spent().tokens == 52);
  rig.gateway->Flush();
  std::lock_guard lock(rig.mu);
  REQUIRE(rig.records.size() == 1);
  CHECK(rig.records[0].outcome == "ok");
  CHECK(rig.records[0].usage.output == 12);
  const json whole = json::parse(rig.records[0].response_body);  // the record keeps the answer whole
  CHECK(whole["content"][0]["text"] == text);
}

TEST_CASE("A stream the upstream cuts short ends with the caller's error event and is the world's fault") {
  Rig rig(R"({"responses": [{"text": ")" + std::string(200, 'a') + R"(", "fault": "truncate"}], "when_exhausted": "repeat_last"})",
          Provider::kAnthropic);
  const std::string token = rig.gateway->IssueToken({}, nullptr);
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + token}};
  auto chat = Http(rig.gateway->tcp_url() + "/v1/chat/completions", auth,
                   R"({"model": "default", "stream": true, "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(chat.status == 200);
  CHECK_THAT(chat.body, Catch::Contains(R"("content":"aaaa)"));  // pieces came before the cut
  CHECK_THAT(chat.body, Catch::Contains(R"(data: {"error":{"code":"unreachable")"));
  CHECK_THAT(chat.body, !Catch::Contains("[DONE]"));
  auto messages = Http(rig.gateway->tcp_url() + "/v1/messages", auth,
                       R"({"model": "default", "max_tokens": 99, "stream": true, "messages": [{"role": "user", "content": "hi"}]})");
  CHECK_THAT(messages.body, Catch::Contains("event: message_start"));
  CHECK_THAT(messages.body, Catch::Contains("event: error\ndata: {\"error\":{\"message\":\"mid-stream, the connection to " +
                                            rig.fake->url() + "/v1/messages dropped"));
  CHECK_THAT(messages.body, Catch::EndsWith("\"type\":\"api_error\"},\"type\":\"error\"}\n\n"));
  auto responses = Http(rig.gateway->tcp_url() + "/v1/responses", auth,
                        R"({"model": "default", "stream": true, "input": "hi"})");
  CHECK_THAT(responses.body, Catch::Contains("event: response.output_text.delta"));
  CHECK_THAT(responses.body, Catch::Contains("event: error\ndata: {\"code\":\"unreachable\""));
  CHECK(rig.gateway->faults().world == 3);
  CHECK(rig.fake->requests().size() == 3);  // a stream the caller has begun to read is never retried
  rig.gateway->Flush();
  std::lock_guard lock(rig.mu);
  REQUIRE(rig.records.size() == 3);
  CHECK(rig.records[0].outcome == "unreachable");
}

TEST_CASE("An answer that outgrows what it reserved stops at the budget with the budget's error event") {
  // The fake model ignores max_tokens, as a provider never would; the gateway must hold the line anyway.
  Rig rig(R"({"responses": [{"text": ")" + std::string(4000, 'a') + R"("}]})", Provider::kOpenAI);
  auto budget = std::make_shared<Budget>(BudgetLimits{300, std::nullopt, std::nullopt});
  const std::string token = rig.gateway->IssueToken({}, budget);
  auto reply = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}},
                    R"({"model": "default", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]})");
  CHECK(reply.status == 200);
  CHECK_THAT(reply.body, Catch::Contains(R"("code":"budget_exceeded")"));
  CHECK_THAT(reply.body, Catch::Contains("budget exhausted mid-answer"));
  int pieces = 0;
  for (size_t at = 0; (at = reply.body.find(R"("content":"aaaaaaaaaaaaaaaa")", at)) != std::string::npos; ++at) ++pieces;
  CHECK(pieces > 50);
  CHECK(pieces < 100);  // of 250
  // What was produced is paid for: the budget is passed by the piece that crossed it (16 bytes), no more.
  CHECK(budget->spent().tokens > 250);
  CHECK(budget->spent().tokens <= 300 + 4);
  CHECK(budget->in_flight().tokens == 0);
  CHECK(rig.gateway->faults().budget == 1);
  CHECK(rig.gateway->faults().world == 0);
}


// --- What a call is charged, and recorded with -----------------------------------------------------------

TEST_CASE("A stream the caller hangs up on is recorded with what it cost, so a budget rebuilt from the archive is spent as much") {
  test::TempDir home;
  auto archive = Archive::Init(home.path());
  REQUIRE(archive.ok());
  auto run = (*archive)->CreateRun("hang-up", "", std::nullopt);
  REQUIRE(run.ok());
  // A long answer, slowly: the caller hangs up after its first bytes, long before the end.
  auto fake = StartFake(R"({"responses": [{"text": ")" + std::string(2000, 'a') + R"(", "chunk_delay_ms": 50}]})");
  GatewayOptions options;
  options.tcp_listen = "127.0.0.1:0";
  options.recorder = ArchiveCallRecorder(**archive);  // as a run records its calls
  auto gateway = Gateway::Start(Config({FakeModel("default", Provider::kOpenAI, fake->url())}), options);
  REQUIRE(gateway.ok());
  const BudgetLimits limits{12000, 1.0, std::nullopt};
  auto budget = std::make_shared<Budget>(limits);
  const std::string token = (*gateway)->IssueToken(Attribution{run->id, std::nullopt, "task-1", "evaluate"}, budget);
  {
    const std::string body =
        R"({"model": "default", "max_tokens": 1000, "stream": true, "messages": [{"role": "user", "content": "hi"}]})";
    RawConnection caller((*gateway)->tcp_url(), token, body.size());
    REQUIRE(send(caller.fd, body.data(), body.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(body.size()));
    REQUIRE(caller.Status(5000) == 200);
  }  // hung up mid-answer
  // The gateway finds the caller gone at its next write, then records the call.
  Result<std::vector<ModelCall>> calls = std::vector<ModelCall>{};
  for (int i = 0; i < 500 && calls.ok() && calls->empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (*gateway)->Flush();
    calls = (*archive)->ListRunModelCalls(run->id);
  }
  REQUIRE(calls.ok());
  REQUIRE(calls->size() == 1);
  REQUIRE(budget->in_flight().calls == 0);
  const Spend spent = budget->spent();
  CHECK(spent.tokens > 1000);  // the prompt and all the answer reserved
  CHECK(spent.cost_usd > 0);
  const ModelCall& call = (*calls)[0];
  CHECK(call.outcome == "bad_request");
  CHECK(call.input_tokens + call.output_tokens == spent.tokens);
  CHECK(call.cost_usd == Approx(spent.cost_usd));
  // A resumed run rebuilds its budget from the archive (orchestrator/evolution.cc): what is left is what
  // was left before the restart, not a fresh 12,000 tokens.
  auto recorded = (*archive)->RunSpend(run->id);
  REQUIRE(recorded.ok());
  CHECK(recorded->tokens == spent.tokens);
  CHECK(recorded->cost_usd == Approx(spent.cost_usd));
  Budget rebuilt(BudgetLimits{*limits.tokens - recorded->tokens, *limits.cost_usd - recorded->cost_usd, std::nullopt});
  CHECK(rebuilt.Fits(Spend{*limits.tokens - spent.tokens, 0, 1}));
  CHECK(!rebuilt.Fits(Spend{*limits.tokens - spent.tokens + 1, 0, 1}));
}

TEST_CASE("An upstream reporting more usage than a call was admitted for charges no more than the budget holds") {
  // The fake model reports 50,010 tokens for every answer, whatever it was asked for.
  Rig rig(R"({"responses": [{"text": "ok", "usage": {"input": 10, "output": 50000}}], "when_exhausted": "repeat_last"})",
          Provider::kOpenAI);
  for (const bool stream : {false, true}) {
    INFO("stream: " << stream);
    auto budget = std::make_shared<Budget>(BudgetLimits{5000, std::nullopt, std::nullopt});
    const std::string token = rig.gateway->IssueToken({}, budget);
    const std::string body = std::string(R"({"model": "default", "max_tokens": 100, "stream": )") +
                             (stream ? "true" : "false") + R"(, "messages": [{"role": "user", "content": "hi"}]})";
    auto reply = Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}}, body);
    CHECK(reply.status == 200);
    CHECK(budget->spent().tokens == 5000);  // all the budget had, and not a token more
    CHECK(budget->in_flight().tokens == 0);
    // The caller is told, and the call recorded with, what was charged.
    if (!stream) CHECK(json::parse(reply.body)["usage"]["total_tokens"] == 5000);
    rig.gateway->Flush();
    std::lock_guard lock(rig.mu);
    REQUIRE(!rig.records.empty());
    const CallRecord& r = rig.records.back();
    CHECK(r.outcome == "ok");
    CHECK(r.usage.input + r.usage.output == 5000);
    CHECK(r.usage.input == 10);
    // The budget is spent: the next call is refused.
    CHECK(Http(rig.gateway->tcp_url() + "/v1/chat/completions", {{"Authorization", "Bearer " + token}}, body).status == 402);
  }
}

}  // namespace
}  // namespace lineage::llm
