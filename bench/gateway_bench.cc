// gateway_bench: what the gateway adds to a model call, and its throughput.
//
//   build/release/bench/gateway_bench [--calls N] [--callers C] [--archive DIR]
//
// Starts the fake model server and a gateway in front of it (both on loopback TCP, in this process), then
// (a) makes N sequential calls straight to the fake server and N through the gateway with the same client,
// printing p50/p95 latency and the difference (the gateway's added latency: parse, translate, budget,
// record, and the second HTTP hop); (b) has C concurrent callers make N calls each through the gateway
// and prints calls per second; (c) streams answers from an upstream that sends an event every 2 ms and
// prints the time to the first piece straight from the upstream and through the gateway (the gateway
// streams from the upstream as it answers, so it adds only its own hop). Without --archive the recorder is a no-op; with it, every call is stored in a
// new archive at DIR as `lineage gateway serve` and the daemon do (a row plus request and response blobs).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "llm/fake_server.h"
#include "llm/gateway.h"
#include "llm/llm.h"
#include "harness/harness.h"

using namespace lineage;
using Clock = std::chrono::steady_clock;

namespace {

llm::ModelConfig Model(llm::Provider provider, const std::string& base_url, const std::string& model,
                       const std::string& key_env) {
  llm::ModelConfig m;
  m.alias = "default";
  m.provider = provider;
  m.base_url = base_url;
  m.model = model;
  m.api_key_env = key_env;
  m.max_concurrency = 256;
  m.max_retries = 0;
  return m;
}

// Each call's prompt differs (as an agent's do), so stored request blobs are never deduplicated.
llm::ChatRequest Request() {
  static std::atomic<int> counter{0};
  llm::ChatRequest r;
  r.system = "You are a careful software engineer.";
  r.messages.push_back(llm::Message::User(std::to_string(++counter) + std::string(2000, 'x')));  // ~500 tokens
  r.tools.push_back(llm::Tool{"bash", "Run a command", nlohmann::json{{"type", "object"}}});
  return r;
}

struct Percentiles {
  double p50, p95;
};

Percentiles Measure(llm::ModelClient& client, int calls) {
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) client.Call("default", Request());  // warm up connections
  for (int i = 0; i < calls; ++i) {
    llm::ChatRequest request = Request();
    auto start = Clock::now();
    if (!client.Call("default", request).ok()) {
      std::fprintf(stderr, "gateway_bench: a call failed\n");
      std::exit(2);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 95 / 100]};
}

// The time from a streamed call to its first piece (the response's start), p50 and p95.
Percentiles MeasureFirstPiece(llm::ModelClient& client, int calls) {
  std::vector<double> ms;
  for (int i = 0; i < calls + 10; ++i) {
    const auto start = Clock::now();
    std::optional<Clock::time_point> first;
    auto result = client.Call("default", Request(), [&](const llm::StreamDelta&) {
      if (!first) first = Clock::now();
      return true;
    });
    if (!result.ok() || !first) {
      std::fprintf(stderr, "gateway_bench: a streamed call failed: %s\n", result.error.message.c_str());
      std::exit(2);
    }
    if (i >= 10) ms.push_back(std::chrono::duration<double, std::milli>(*first - start).count());  // after warm-up
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 95 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 2000, callers = 64;
  std::string archive_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--calls")) calls = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--callers")) callers = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--archive")) archive_dir = argv[i + 1];
  }
  std::unique_ptr<Archive> archive;
  if (!archive_dir.empty()) {
    auto opened = Archive::Init(archive_dir);
    if (!opened.ok()) {
      std::fprintf(stderr, "gateway_bench: %s\n", opened.status().message().c_str());
      return 2;
    }
    archive = std::move(opened).value();
  }
  auto fake = llm::FakeModelServer::Start(R"({"responses": [{"text": "ok"}], "when_exhausted": "repeat_last"})", "bench");
  if (!fake.ok()) return 2;
  llm::GatewayOptions options;
  options.tcp_listen = "127.0.0.1:0";
  options.max_connections = 256;  // the clients of the sequential runs keep theirs open beside the 64 callers'
  options.recorder = archive ? ArchiveCallRecorder(*archive) : [](const llm::CallRecord&) { return Status::OK(); };
  llm::ModelsConfig upstream{"bench", {Model(llm::Provider::kOpenAI, (*fake)->url() + "/v1", "gpt-4.1-mini", "")}};
  auto gateway = llm::Gateway::Start(upstream, options);
  if (!gateway.ok()) return 2;
  ::setenv("GATEWAY_BENCH_TOKEN", (*gateway)->IssueToken({}, nullptr).c_str(), 1);

  llm::ModelClient direct(upstream);
  llm::ModelClient via_openai({"bench", {Model(llm::Provider::kOpenAI, (*gateway)->tcp_url() + "/v1", "default", "GATEWAY_BENCH_TOKEN")}});
  llm::ModelClient via_anthropic({"bench", {Model(llm::Provider::kAnthropic, (*gateway)->tcp_url(), "default", "GATEWAY_BENCH_TOKEN")}});

  std::printf("gateway_bench: %d sequential calls each, prompt ~500 tokens, loopback TCP, %s\n", calls,
              archive ? ("recording into " + archive_dir).c_str() : "not recording");
  Percentiles d = Measure(direct, calls);
  Percentiles g = Measure(via_openai, calls);
  Percentiles t = Measure(via_anthropic, calls);
  std::printf("  %-44s p50 %6.3f ms   p95 %6.3f ms\n", "direct to the fake server", d.p50, d.p95);
  std::printf("  %-44s p50 %6.3f ms   p95 %6.3f ms\n", "through the gateway (OpenAI -> OpenAI)", g.p50, g.p95);
  std::printf("  %-44s p50 %6.3f ms   p95 %6.3f ms\n", "through the gateway (Anthropic -> OpenAI)", t.p50, t.p95);
  std::printf("  added by the gateway at p50: %.3f ms (same format), %.3f ms (translated)\n", g.p50 - d.p50,
              t.p50 - d.p50);

  // Streaming: the answer takes ~50 ms to arrive whole; its first piece should not wait for the rest.
  auto slow = llm::FakeModelServer::Start(
      R"({"responses": [{"text": ")" + std::string(400, 'a') + R"(", "chunk_delay_ms": 2}], "when_exhausted": "repeat_last"})",
      "bench");
  if (!slow.ok()) return 2;
  llm::ModelsConfig streaming{"bench", {Model(llm::Provider::kOpenAI, (*slow)->url() + "/v1", "gpt-4.1-mini", "")}};
  auto streaming_gateway = llm::Gateway::Start(streaming, options);
  if (!streaming_gateway.ok()) return 2;
  ::setenv("GATEWAY_BENCH_STREAM_TOKEN", (*streaming_gateway)->IssueToken({}, nullptr).c_str(), 1);
  llm::ModelClient stream_direct(streaming);
  llm::ModelClient stream_openai(
      {"bench", {Model(llm::Provider::kOpenAI, (*streaming_gateway)->tcp_url() + "/v1", "default", "GATEWAY_BENCH_STREAM_TOKEN")}});
  llm::ModelClient stream_anthropic(
      {"bench", {Model(llm::Provider::kAnthropic, (*streaming_gateway)->tcp_url(), "default", "GATEWAY_BENCH_STREAM_TOKEN")}});
  const int streamed_calls = std::max(20, calls / 10);
  Percentiles sd = MeasureFirstPiece(stream_direct, streamed_calls);
  Percentiles sg = MeasureFirstPiece(stream_openai, streamed_calls);
  Percentiles st = MeasureFirstPiece(stream_anthropic, streamed_calls);
  std::printf("  streamed, %d calls, answer ~55 ms long; time to the first piece:\n", streamed_calls);
  std::printf("  %-44s p50 %6.3f ms   p95 %6.3f ms\n", "direct to the fake server", sd.p50, sd.p95);
  std::printf("  %-44s p50 %6.3f ms   p95 %6.3f ms\n", "through the gateway (OpenAI -> OpenAI)", sg.p50, sg.p95);
  std::printf("  %-44s p50 %6.3f ms   p95 %6.3f ms\n", "through the gateway (Anthropic -> OpenAI)", st.p50, st.p95);
  std::printf("  time to first byte added by the gateway at p50: %.3f ms (same format), %.3f ms (translated)\n",
              sg.p50 - sd.p50, st.p50 - sd.p50);

  std::atomic<int> failed{0};
  const int per_caller = std::max(1, calls / 10);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  // Each caller with its own token, as each sandbox has: one token holds at most 16 connections.
  std::vector<std::unique_ptr<llm::ModelClient>> clients;
  for (int c = 0; c < callers; ++c) {
    const std::string variable = "GATEWAY_BENCH_TOKEN_" + std::to_string(c);
    ::setenv(variable.c_str(), (*gateway)->IssueToken({}, nullptr).c_str(), 1);
    clients.push_back(std::make_unique<llm::ModelClient>(
        llm::ModelsConfig{"bench", {Model(llm::Provider::kOpenAI, (*gateway)->tcp_url() + "/v1", "default", variable)}}));
  }
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < per_caller; ++i) {
        auto result = clients[c]->Call("default", Request());
        if (!result.ok() && failed++ == 0) std::fprintf(stderr, "gateway_bench: %s\n", result.error.message.c_str());
      }
    });
  }
  for (auto& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("  %d concurrent callers x %d calls through the gateway: %.0f calls/s (%d failed)\n", callers, per_caller,
              callers * per_caller / seconds, failed.load());
  return failed ? 1 : 0;
}
