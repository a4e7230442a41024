// The models configuration (TOML) and the price table.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <toml++/toml.h>

#include "base/files.h"
#include "base/toml_reader.h"
#include "llm/llm.h"

namespace lineage::llm {

namespace {

struct KnownPrice {
  const char* model;
  Price price;
};

// US dollars per million tokens (input, output, cached input read, and for Anthropic cached input written),
// as published by the providers in 2025.
// A table in the configuration overrides them; docs/models.md says how.
const KnownPrice kKnownPrices[] = {
    {"gpt-5", {1.25, 10.00, 0.125}},          {"gpt-5-mini", {0.25, 2.00, 0.025}},
    {"gpt-5-nano", {0.05, 0.40, 0.005}},      {"gpt-4.1", {2.00, 8.00, 0.50}},
    {"gpt-4.1-mini", {0.40, 1.60, 0.10}},     {"gpt-4.1-nano", {0.10, 0.40, 0.025}},
    {"gpt-4o", {2.50, 10.00, 1.25}},          {"gpt-4o-mini", {0.15, 0.60, 0.075}},
    {"o3", {2.00, 8.00, 0.50}},               {"o4-mini", {1.10, 4.40, 0.275}},
    {"claude-opus-4", {15.00, 75.00, 1.50, 18.75}},  {"claude-opus-4-1", {15.00, 75.00, 1.50, 18.75}},
    {"claude-sonnet-4", {3.00, 15.00, 0.30, 3.75}},  {"claude-sonnet-4-5", {3.00, 15.00, 0.30, 3.75}},
    {"claude-3-7-sonnet", {3.00, 15.00, 0.30, 3.75}}, {"claude-haiku-4-5", {1.00, 5.00, 0.10, 1.25}},
    {"claude-3-5-haiku", {0.80, 4.00, 0.08, 1.00}},
};

// "gpt-4.1-mini-2025-04-14" is a dated "gpt-4.1-mini"; "gpt-4.1-mini" is not a dated "gpt-4.1".
bool IsVariantOf(const std::string& model, const std::string& known) {
  if (model == known) return true;
  if (model.size() <= known.size() + 1 || model.compare(0, known.size(), known) != 0 || model[known.size()] != '-') {
    return false;
  }
  return std::all_of(model.begin() + known.size() + 1, model.end(),
                     [](unsigned char c) { return std::isdigit(c) || c == '-'; });
}

const std::set<std::string> kModelKeys = {
    "provider",         "base_url",      "model",           "api_key_env",        "unix_socket",
    "connect_timeout_s", "timeout_s",    "max_retries",     "retry_initial_s",    "retry_max_s",
    "max_concurrency",  "default_max_tokens", "input_usd_per_mtok", "output_usd_per_mtok",
    "cache_read_usd_per_mtok", "cache_write_usd_per_mtok", "prompt_cache"};

Result<ModelConfig> ParseModelTable(const std::string& alias, const toml::table& table, const std::string& source) {
  const std::string where = source + ": [models." + alias + "]";
  TableReader read(table, where);
  for (const auto& [key, value] : table) {
    const std::string name(key.str());
    if (name == "api_key" || name == "key") {
      return read.Error(name, "keys are never written in the configuration; put the key in an environment "
                              "variable and name it with api_key_env");
    }
  }
  LINEAGE_RETURN_IF_ERROR(read.OnlyKeys(kModelKeys, "docs/models.md"));

  ModelConfig m;
  m.alias = alias;
  LINEAGE_ASSIGN_OR_RETURN(std::string provider, read.String("provider", "", true));
  if (provider == "openai") m.provider = Provider::kOpenAI;
  else if (provider == "anthropic") m.provider = Provider::kAnthropic;
  else return read.Error("provider", "'" + provider + "' is not one of openai, anthropic");

  const char* default_url = m.provider == Provider::kOpenAI ? "https://api.openai.com/v1" : "https://api.anthropic.com";
  LINEAGE_ASSIGN_OR_RETURN(m.base_url, read.String("base_url", default_url));
  if (m.base_url.rfind("http://", 0) != 0 && m.base_url.rfind("https://", 0) != 0) {
    return read.Error("base_url", "'" + m.base_url + "' must start with http:// or https://");
  }
  const std::string host = m.base_url.substr(m.base_url.find("://") + 3);
  if (host.empty() || host[0] == '/' || host[0] == ':' || host.find_first_of(" \t\n") != std::string::npos) {
    return read.Error("base_url", "'" + m.base_url + "' names no host (http://HOST[:PORT]/PATH)");
  }
  while (!m.base_url.empty() && m.base_url.back() == '/') m.base_url.pop_back();
  LINEAGE_ASSIGN_OR_RETURN(m.model, read.String("model", "", true));
  if (m.model.empty()) return read.Error("model", "must not be empty");
  LINEAGE_ASSIGN_OR_RETURN(m.api_key_env, read.String("api_key_env", ""));
  if (m.api_key_env.rfind("sk-", 0) == 0) {
    return read.Error("api_key_env", "looks like a key itself; it must be the name of the environment variable "
                                     "that holds the key");
  }
  LINEAGE_ASSIGN_OR_RETURN(m.unix_socket, read.String("unix_socket", ""));
  LINEAGE_ASSIGN_OR_RETURN(m.connect_timeout_ms, read.Milliseconds("connect_timeout_s", m.connect_timeout_ms));
  LINEAGE_ASSIGN_OR_RETURN(m.timeout_ms, read.Milliseconds("timeout_s", m.timeout_ms));
  LINEAGE_ASSIGN_OR_RETURN(m.max_retries, read.Integer("max_retries", m.max_retries, 0));
  LINEAGE_ASSIGN_OR_RETURN(m.retry_initial_ms, read.Milliseconds("retry_initial_s", m.retry_initial_ms));
  LINEAGE_ASSIGN_OR_RETURN(m.retry_max_ms, read.Milliseconds("retry_max_s", m.retry_max_ms));
  LINEAGE_ASSIGN_OR_RETURN(m.max_concurrency, read.Integer("max_concurrency", m.max_concurrency, 1));
  LINEAGE_ASSIGN_OR_RETURN(m.default_max_tokens, read.Integer("default_max_tokens", m.default_max_tokens, 1));

  m.price = DefaultPrice(m.model);
  if (read.Has("input_usd_per_mtok") || read.Has("output_usd_per_mtok")) {
    if (!read.Has("input_usd_per_mtok") || !read.Has("output_usd_per_mtok")) {
      return read.Error(read.Has("input_usd_per_mtok") ? "output_usd_per_mtok" : "input_usd_per_mtok",
                        "is required when the other price is given");
    }
    Price price;
    LINEAGE_ASSIGN_OR_RETURN(price.input, read.Number("input_usd_per_mtok", 0, 0));
    LINEAGE_ASSIGN_OR_RETURN(price.output, read.Number("output_usd_per_mtok", 0, 0));
    m.price = price;
  }
  if (read.Has("cache_read_usd_per_mtok")) {
    if (!m.price) return read.Error("cache_read_usd_per_mtok", "needs input_usd_per_mtok and output_usd_per_mtok");
    LINEAGE_ASSIGN_OR_RETURN(m.price->cache_read, read.Number("cache_read_usd_per_mtok", 0, 0));
  }
  if (read.Has("cache_write_usd_per_mtok")) {
    if (!m.price) return read.Error("cache_write_usd_per_mtok", "needs input_usd_per_mtok and output_usd_per_mtok");
    LINEAGE_ASSIGN_OR_RETURN(m.price->cache_write, read.Number("cache_write_usd_per_mtok", 0, 0));
  }
  // Anthropic charges 1.25x the input price for cache writes; a table giving no write price means that.
  if (m.price && !m.price->cache_write && m.provider == Provider::kAnthropic) m.price->cache_write = 1.25 * m.price->input;
  LINEAGE_ASSIGN_OR_RETURN(std::string prompt_cache, read.String("prompt_cache", "auto"));
  if (prompt_cache != "auto" && prompt_cache != "off") return read.Error("prompt_cache", "'" + prompt_cache + "' is not one of auto, off");
  m.prompt_cache = prompt_cache == "off" ? ModelConfig::PromptCache::kOff : ModelConfig::PromptCache::kAuto;
  return m;
}

}  // namespace

std::optional<Price> DefaultPrice(const std::string& model) {
  // OpenRouter and similar name models "openai/gpt-4.1-mini".
  const std::string name = model.substr(model.rfind('/') == std::string::npos ? 0 : model.rfind('/') + 1);
  const KnownPrice* best = nullptr;
  for (const KnownPrice& known : kKnownPrices) {
    if (IsVariantOf(name, known.model) && (!best || std::string(known.model).size() > std::string(best->model).size())) {
      best = &known;
    }
  }
  if (!best) return std::nullopt;
  return best->price;
}

double CostUsd(const Usage& usage, const Price& price) {
  const double read = static_cast<double>(std::min(usage.cache_read, usage.input));
  const double written = std::min(static_cast<double>(usage.cache_write), static_cast<double>(usage.input) - read);
  const double uncached = static_cast<double>(usage.input) - read - written;
  return (uncached * price.input + read * price.cache_read.value_or(price.input) +
          written * price.cache_write.value_or(price.input) + static_cast<double>(usage.output) * price.output) /
         1e6;
}

const ModelConfig* ModelsConfig::FindAlias(const std::string& alias) const {
  for (const ModelConfig& m : models) {
    if (m.alias == alias) return &m;
  }
  return nullptr;
}

const ModelConfig* ModelsConfig::Find(const std::string& name) const {
  if (const ModelConfig* m = FindAlias(name)) return m;
  for (const ModelConfig& m : models) {
    if (m.model == name) return &m;
  }
  return nullptr;
}

std::string ModelsConfig::AliasList() const {
  std::string list;
  for (const ModelConfig& m : models) list += (list.empty() ? "" : ", ") + m.alias;
  return list;
}

Result<ModelsConfig> ParseModelsConfig(const std::string& text, const std::string& source) {
  LINEAGE_ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  const toml::table* models = root["models"].as_table();
  if (!models || models->empty()) {
    return Status::InvalidArgument(source + ": no [models.<alias>] table; add at least [models.default]");
  }
  ModelsConfig config;
  config.source = source;
  for (const auto& [key, node] : *models) {
    const std::string alias(key.str());
    if (!node.is_table()) return Status::InvalidArgument(source + ": models." + alias + " must be a table");
    LINEAGE_ASSIGN_OR_RETURN(ModelConfig model, ParseModelTable(alias, *node.as_table(), source));
    config.models.push_back(std::move(model));
  }
  return config;
}

Result<ModelsConfig> LoadModelsConfig(const std::filesystem::path& file) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return ParseModelsConfig(text, file.string());
}

}  // namespace lineage::llm
