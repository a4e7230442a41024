// The official SDKs from the npm registry (tests/llm/sdk: openai, @anthropic-ai/sdk) as agents, against a
// real gateway in front of the fake model server of either kind: the wire formats as the SDKs parse
// them, streaming included (from an upstream that streams, and one that is cut off), not as our own
// client does.
#include <catch2/catch.hpp>

#include "llm/gateway.h"
#include "tests/llm/llm_test_support.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using namespace llm;

const fs::path kSdkDir = fs::path(LINEAGE_SOURCE_DIR) / "tests" / "llm" / "sdk";

constexpr const char* kScript = R"({"responses": [
  {"match": "use the tool", "tool_calls": [{"name": "bash", "id": "call_9", "arguments": {"command": "ls -la"}}]},
  {"match": "say hello", "text": "Hello from the model."},
  {"match": "break midway", "text": "This answer is long enough to be cut off halfway through.", "fault": "truncate"}],
  "when_exhausted": "repeat_last", "cache_min_tokens": 256})";

void RunSdkChecks(Provider upstream) {
  auto fake = test::StartFake(kScript);
  GatewayOptions options;
  options.tcp_listen = "127.0.0.1:0";
  auto gateway = Gateway::Start(test::Config({test::FakeModel("default", upstream, fake->url())}), options);
  REQUIRE(gateway.ok());
  const std::string token = (*gateway)->IssueToken({}, nullptr);
  auto r = test::RunCommand({"/usr/bin/env", "node", (kSdkDir / "sdk_test.mjs").string()},
                            {{"LINEAGE_GATEWAY_URL", (*gateway)->tcp_url()}, {"LINEAGE_GATEWAY_TOKEN", token}});
  INFO(r.out);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("all SDK checks passed"));
}

TEST_CASE("the official OpenAI and Anthropic SDKs, streaming or not, through the gateway to an OpenAI upstream") {
  REQUIRE(fs::is_directory(kSdkDir / "node_modules" / "openai"));  // scripts/setup.sh installs them (npm ci)
  RunSdkChecks(Provider::kOpenAI);
}

TEST_CASE("the official OpenAI and Anthropic SDKs, streaming or not, through the gateway to an Anthropic upstream") {
  REQUIRE(fs::is_directory(kSdkDir / "node_modules" / "@anthropic-ai" / "sdk"));
  RunSdkChecks(Provider::kAnthropic);
}

}  // namespace
}  // namespace lineage
