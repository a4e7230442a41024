// gateway_bench: what the gateway adds to a model call, and its throughput.
//
//   build/release/bench/gateway_bench [--calls N] [--callers C] [--archive DIR]
//
// Starts the fake model server and a gateway in front of it (both on loopback TCP, in this process), then
// (a) makes N sequential calls straight to the fake server and N through the gateway with the same client,
// printing p50/p95 latency and the difference (the gateway's added latency: parse, translate, budget,
// record, and the second HTTP hop); (b) has C concurrent callers make N calls each through the gateway
// and prints calls per second. Without --archive the recorder is a no-op; with it, every call is stored in a
// new archive at DIR as `lineage gateway serve` and the daemon do (a row plus request and response blobs).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  options.recorder = archive ? ArchiveCallRecorder(*archive) : [](const llm::CallRecord&) {};
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

  std::atomic<int> failed{0};
  const int per_caller = std::max(1, calls / 10);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_caller; ++i) failed += via_openai.Call("default", Request()).ok() ? 0 : 1;
    });
  }
  for (auto& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("  %d concurrent callers x %d calls through the gateway: %.0f calls/s (%d failed)\n", callers, per_caller,
              callers * per_caller / seconds, failed.load());
  return failed ? 1 : 0;
}
