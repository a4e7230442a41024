// The TOML models configuration and the price table.
#include <catch2/catch.hpp>

#include "llm/llm.h"

namespace lineage::llm {
namespace {

TEST_CASE("A models configuration reads every key, with defaults for the rest") {
  auto config = ParseModelsConfig(R"(
[models.default]
provider = "openai"
base_url = "http://localhost:8000/v1/"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_API_KEY"
timeout_s = 30
max_retries = 2
retry_initial_s = 0.5
max_concurrency = 4

[models.expert]
provider = "anthropic"
model = "my-finetune"
input_usd_per_mtok = 1.5
output_usd_per_mtok = 6
)", "models.toml");
  REQUIRE(config.ok());
  REQUIRE(config->models.size() == 2);
  const ModelConfig* d = config->Find("default");
  REQUIRE(d);
  CHECK(d->base_url == "http://localhost:8000/v1");  // trailing slash dropped
  CHECK(d->timeout_ms == 30'000);
  CHECK(d->retry_initial_ms == 500);
  CHECK(d->max_retries == 2);
  CHECK(d->max_concurrency == 4);
  REQUIRE(d->price);
  CHECK(d->price->input == Approx(0.40));  // the built-in price of gpt-4.1-mini
  const ModelConfig* e = config->Find("expert");
  REQUIRE(e);
  CHECK(e->base_url == "https://api.anthropic.com");
  CHECK(e->api_key_env.empty());
  CHECK(e->price->output == Approx(6));
  CHECK(config->Find("my-finetune") == e);  // the upstream name finds it too
  CHECK(config->AliasList() == "default, expert");
}

TEST_CASE("Configuration errors name the file, the table and the key") {
  auto message = [](const std::string& toml) { return ParseModelsConfig(toml, "m.toml").status().message(); };
  CHECK(message("[models.a]\nmodel = \"x\"\n") == "m.toml: [models.a] provider: is required");
  CHECK(message("[models.a]\nprovider = \"azure\"\nmodel = \"x\"\n").find("'azure' is not one of openai, anthropic") !=
        std::string::npos);
  CHECK(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\ntimeout = 3\n")
            .starts_with("m.toml: [models.a] timeout: is not a known key; did you mean timeout_s? (allowed: api_key_env, "
                         "base_url, "));
  CHECK_THAT(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\ncolour = 3\n"),
             !Catch::Contains("did you mean") && Catch::Contains("(allowed: ") && Catch::Contains("see docs/models.md"));
  CHECK(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\napi_key = \"sk-123\"\n").find("environment variable") !=
        std::string::npos);
  CHECK(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\napi_key_env = \"sk-abc\"\n").find("looks like a key") !=
        std::string::npos);
  CHECK(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\nbase_url = \"api.openai.com\"\n").find("http://") !=
        std::string::npos);
  CHECK(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\nmax_retries = \"3\"\n") ==
        "m.toml: [models.a] max_retries: must be an integer");
  CHECK(message("[models.a]\nprovider = \"openai\"\nmodel = \"x\"\ninput_usd_per_mtok = 1\n") ==
        "m.toml: [models.a] output_usd_per_mtok: is required when the other price is given");
  CHECK(message("[models]\n") == "m.toml: no [models.<alias>] table; add at least [models.default]");
  CHECK(message("[models.a\n").rfind("m.toml:1:", 0) == 0);
}

TEST_CASE("Built-in prices match dated variants but not other models") {
  REQUIRE(DefaultPrice("gpt-4.1-mini-2025-04-14"));
  CHECK(DefaultPrice("gpt-4.1-mini-2025-04-14")->input == Approx(0.40));
  CHECK(DefaultPrice("gpt-4.1")->input == Approx(2.00));
  CHECK(DefaultPrice("openai/gpt-4.1-nano")->input == Approx(0.10));
  CHECK(DefaultPrice("claude-sonnet-4-5-20250929")->output == Approx(15));
  CHECK_FALSE(DefaultPrice("gpt-4.1-turbo"));
  CHECK_FALSE(DefaultPrice("llama3"));
}

TEST_CASE("Cost counts cached input at the cache price") {
  Price price{2.0, 8.0, 0.5};
  Usage usage{1'000'000, 500'000, 400'000, 0, 0};
  CHECK(CostUsd(usage, price) == Approx(600'000 * 2.0 / 1e6 + 400'000 * 0.5 / 1e6 + 500'000 * 8.0 / 1e6));
  CHECK(CostUsd(usage, Price{2.0, 8.0, std::nullopt}) == Approx(2.0 + 4.0));
}

}  // namespace
}  // namespace lineage::llm
