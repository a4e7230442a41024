#include "orchestrator/run_config.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "base/environment.h"
#include "base/files.h"
#include "base/toml_reader.h"
#include "harness/harness.h"
#include "net/http_server.h"
#include "orchestrator/final.h"
#include "orchestrator/prompts.h"

namespace lineage {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kTopKeys = {"name",  "home",   "seed_agent",  "random_seed", "models",  "roles",
                                        "selection", "budget", "concurrency", "agent",     "sandbox", "suites",
                                        "stages",    "faults",  "executor", "final"};
const std::set<std::string> kFaultKeys = {"patience_s", "retry_s"};
const std::set<std::string> kRoleKeys = {"diagnosis", "conductor", "expert"};
const std::set<std::string> kSelectionKeys = {"strategy", "lambda", "alpha0", "alpha"};
const std::set<std::string> kBudgetKeys = {"children", "cost_usd", "tokens", "wall_s", "task_evaluations"};
const std::set<std::string> kConcurrencyKeys = {"children", "sandboxes"};
const std::set<std::string> kAgentKeys = {"max_rounds", "self_modify_wall_s", "task_wall_s"};
const std::set<std::string> kSandboxKeys = {"memory", "pids", "disk", "min_free", "build_cache"};
const std::set<std::string> kExecutorKeys = {"kind", "partition", "account", "qos", "time_margin_s", "sbatch_args", "shared_dir",
                                            "gateway_listen", "gateway_listen_any"};
const char* const kSee = "docs/runs.md";

struct StrategyName {
  SelectionStrategy strategy;
  const char* name;
};
const StrategyName kStrategies[] = {
    {SelectionStrategy::kDgm, "dgm"},       {SelectionStrategy::kScoreProp, "score-prop"},
    {SelectionStrategy::kBest, "best"},     {SelectionStrategy::kRandom, "random"},
    {SelectionStrategy::kHgm, "hgm"},       {SelectionStrategy::kNoOpenEnded, "no-open-ended"},
    {SelectionStrategy::kNoSelfImprove, "no-self-improve"},
};

std::string StrategyList() {
  std::string out;
  for (const StrategyName& s : kStrategies) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

// [executor] gateway_listen: an address literal of this host, without a port. A wildcard would put every
// agent's gateway on every network this host is on, so it takes gateway_listen_any = true to mean it.
// Brackets around an IPv6 address are dropped: the gateway listens on the bare address.
Status CheckGatewayListen(const TableReader& r, ExecutorConfig& e) {
  std::string& g = e.gateway_host;
  if (r.Has("gateway_listen") && g.empty()) {
    return r.Error("gateway_listen", "'' names no address; name this host's address on the cluster's network (10.0.0.5), "
                                     "or leave the key out for the Unix socket only");
  }
  if (g.size() >= 2 && g.front() == '[' && g.back() == ']') g = g.substr(1, g.size() - 2);
  if (!g.empty() && !net::IsAddressLiteral(g)) {
    return r.Error("gateway_listen", "'" + g + "' must be an IP address of this host (10.0.0.5), without a port: each "
                                     "agent run's gateway takes a free one");
  }
  const bool wildcard = !g.empty() && net::IsWildcardAddress(g);
  if (wildcard && !e.gateway_listen_any) {
    return r.Error("gateway_listen", "'" + g + "' is a wildcard address: every agent's gateway would listen on every "
                                     "interface of this host, open to every network it is on; name this host's "
                                     "address on the cluster's network (10.0.0.5), or set gateway_listen_any = true "
                                     "if every interface is meant");
  }
  if (e.gateway_listen_any && !wildcard) {
    return r.Error("gateway_listen_any", "true needs gateway_listen to be a wildcard address (0.0.0.0 or ::), not '" + g + "'");
  }
  return Status::OK();
}

// Runs `parse` on the sub-table `key` (if present) after checking its keys.
template <typename Fn>
Status WithTable(const TableReader& top, const std::string& key, const std::set<std::string>& known,
                 const std::string& source, Fn parse) {
  LINEAGE_ASSIGN_OR_RETURN(const toml::table* table, top.Table(key));
  if (!table) return Status::OK();
  TableReader read(*table, source + ": [" + key + "]");
  LINEAGE_RETURN_IF_ERROR(read.OnlyKeys(known, kSee));
  return parse(read);
}

Status ParseModels(const toml::table& root, const TableReader& top, const std::string& source,
                   const fs::path& base_dir, RunConfig& config) {
  const toml::node* node = root.get("models");
  if (!node) return top.Error("models", "is required: a models file (\"models.toml\") or [models.ALIAS] tables");
  if (const auto* file = node->as_string()) {
    fs::path path = file->get();
    if (path.is_relative()) path = base_dir / path;
    auto models = llm::LoadModelsConfig(path.string());
    if (!models.ok()) return models.status().WithContext(source + ": models");
    config.models = std::move(models).value();
    return Status::OK();
  }
  if (!node->is_table()) return top.Error("models", "must be a file name or [models.ALIAS] tables");
  LINEAGE_ASSIGN_OR_RETURN(config.models, llm::ParseModelsConfig(config.text, source));
  return Status::OK();
}

Status CheckAlias(const RunConfig& config, const std::string& role, const std::string& alias) {
  if (config.models.FindAlias(alias)) return Status::OK();
  return Status::InvalidArgument(config.source + ": [roles] " + role + ": '" + alias +
                                 "' is not a model alias (aliases: " + config.models.AliasList() + ")");
}

// [roles]: which model alias each role uses; `fallback` where a role is not given.
Status ParseRolesTable(const TableReader& r, const std::string& fallback, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(config.diagnosis_model, r.String("diagnosis", fallback));
  LINEAGE_ASSIGN_OR_RETURN(config.conductor_model, r.String("conductor", fallback));
  LINEAGE_ASSIGN_OR_RETURN(config.expert_model, r.String("expert", config.conductor_model));
  return Status::OK();
}

// [selection]: the parent selection rule and its parameters.
Status ParseSelectionTable(const TableReader& r, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(std::string name, r.String("strategy", "dgm"));
  bool found = false;
  for (const StrategyName& s : kStrategies) {
    if (name == s.name) {
      config.selection.strategy = s.strategy;
      found = true;
    }
  }
  if (!found) return r.Error("strategy", "'" + name + "' is not one of " + StrategyList());
  LINEAGE_ASSIGN_OR_RETURN(config.selection.lambda, r.Number("lambda", 10, 0.001, 1000));
  LINEAGE_ASSIGN_OR_RETURN(config.selection.alpha0, r.Number("alpha0", 0.5, 0, 1));
  LINEAGE_ASSIGN_OR_RETURN(config.selection.alpha, r.Number("alpha", 0.6, 0.01, 1));
  if (r.Has("alpha") && config.selection.strategy != SelectionStrategy::kHgm) {
    return r.Error("alpha", "applies only to strategy = \"hgm\" (this run's is \"" + name + "\")");
  }
  return Status::OK();
}

// [budget]: how many children, and the limits of cost, tokens, wall time and task evaluations.
Status ParseBudgetTable(const TableReader& r, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t children, r.Integer("children", 0, 1, 100000));
  if (!r.Has("children")) return r.Error("children", "is required: how many children to produce");
  config.children = static_cast<int>(children);
  if (r.Has("cost_usd")) {
    LINEAGE_ASSIGN_OR_RETURN(double cost, r.Number("cost_usd", 0, 0.000001));
    config.cost_usd = cost;
  }
  if (r.Has("tokens")) {
    LINEAGE_ASSIGN_OR_RETURN(std::int64_t tokens, r.Integer("tokens", 0, 1));
    config.tokens = tokens;
  }
  if (r.Has("wall_s")) {
    LINEAGE_ASSIGN_OR_RETURN(std::int64_t wall, r.Milliseconds("wall_s", 0));
    config.wall_ms = wall;
  }
  if (r.Has("task_evaluations")) {
    LINEAGE_ASSIGN_OR_RETURN(std::int64_t evaluations, r.Integer("task_evaluations", 0, 1, 100'000'000));
    if (config.selection.strategy != SelectionStrategy::kHgm) {
      return r.Error("task_evaluations", "applies only to [selection] strategy = \"hgm\", whose unit of evaluation "
                                         "is one task run; other strategies evaluate whole stages");
    }
    config.task_evaluations = evaluations;
  }
  return Status::OK();
}

// [concurrency]: children and sandboxed runs at once.
Status ParseConcurrencyTable(const TableReader& r, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t children, r.Integer("children", 1, 1, 256));
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t sandboxes, r.Integer("sandboxes", 2, 1, 1024));
  config.children_in_flight = static_cast<int>(children);
  config.sandboxes = static_cast<int>(sandboxes);
  return Status::OK();
}

// [agent]: an agent run's rounds and wall times.
Status ParseAgentTable(const TableReader& r, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t rounds, r.Integer("max_rounds", 30, 1, 10000));
  config.max_rounds = static_cast<int>(rounds);
  LINEAGE_ASSIGN_OR_RETURN(config.self_modify_wall_ms, r.Milliseconds("self_modify_wall_s", config.self_modify_wall_ms));
  if (r.Has("task_wall_s")) {
    LINEAGE_ASSIGN_OR_RETURN(std::int64_t wall, r.Milliseconds("task_wall_s", 0));
    config.task_wall_ms = wall;
  }
  return Status::OK();
}

// [faults]: the run's patience with the world's faults, and when a daemon retries.
Status ParseFaultsTable(const TableReader& r, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(config.fault_patience_ms, r.Milliseconds("patience_s", config.fault_patience_ms));
  LINEAGE_ASSIGN_OR_RETURN(config.fault_retry_ms, r.Milliseconds("retry_s", config.fault_retry_ms));
  return Status::OK();
}

// [executor]: where sandboxed work runs (here, or Slurm jobs).
Status ParseExecutorTable(const TableReader& r, RunConfig& config) {
  ExecutorConfig& e = config.executor;
  LINEAGE_ASSIGN_OR_RETURN(std::string kind, r.String("kind", "local"));
  if (kind != "local" && kind != "slurm") return r.Error("kind", "'" + kind + "' is not one of local, slurm");
  e.kind = kind == "slurm" ? ExecutorConfig::Kind::kSlurm : ExecutorConfig::Kind::kLocal;
  LINEAGE_ASSIGN_OR_RETURN(e.partition, r.String("partition", ""));
  LINEAGE_ASSIGN_OR_RETURN(e.account, r.String("account", ""));
  LINEAGE_ASSIGN_OR_RETURN(e.qos, r.String("qos", ""));
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t margin, r.Integer("time_margin_s", 60, 0, 86400));
  e.time_margin_s = static_cast<int>(margin);
  LINEAGE_ASSIGN_OR_RETURN(e.sbatch_args, r.StringList("sbatch_args"));
  LINEAGE_ASSIGN_OR_RETURN(std::string shared, r.String("shared_dir", "", e.kind == ExecutorConfig::Kind::kSlurm));
  if (!shared.empty()) e.shared_dir = fs::absolute(shared);
  LINEAGE_ASSIGN_OR_RETURN(e.gateway_host, r.String("gateway_listen", ""));
  LINEAGE_ASSIGN_OR_RETURN(e.gateway_listen_any, r.Bool("gateway_listen_any", false));
  return CheckGatewayListen(r, e);
}

// [sandbox]: the limits of every sandboxed run, and the home's disk floor.
Status ParseSandboxTable(const TableReader& r, RunConfig& config) {
  LINEAGE_ASSIGN_OR_RETURN(std::string memory, r.String("memory", "4G"));
  auto bytes = ParseSize(memory, "memory");
  if (!bytes.ok()) return r.Error("memory", bytes.status().message());
  config.sandbox_memory_bytes = *bytes;
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t pids, r.Integer("pids", SandboxLimits{}.pids, 16, 100000));
  config.sandbox_pids = static_cast<int>(pids);
  LINEAGE_ASSIGN_OR_RETURN(std::string disk, r.String("disk", "2G"));
  auto disk_bytes = ParseSize(disk, "disk");
  if (!disk_bytes.ok()) return r.Error("disk", disk_bytes.status().message());
  config.sandbox_disk_bytes = *disk_bytes;
  for (auto [key, fallback, target] : {std::tuple{"min_free", "1G", &config.min_free_bytes},
                                       std::tuple{"build_cache", "4G", &config.build_cache_bytes}}) {
    LINEAGE_ASSIGN_OR_RETURN(std::string text, r.String(key, fallback));
    auto bytes = ParseSize(text, key);
    if (!bytes.ok()) return r.Error(key, bytes.status().message());
    *target = *bytes;
  }
  return Status::OK();
}

// seed_agent: a directory (relative to the configuration's) or an archive agent id.
Status ParseSeedAgent(const toml::table& root, const TableReader& top, const fs::path& base_dir, RunConfig& config) {
  const toml::node* seed = root.get("seed_agent");
  if (!seed) return top.Error("seed_agent", "is required: an agent's source directory or an archive agent id");
  if (const auto* id = seed->as_integer()) {
    if (id->get() < 1) return top.Error("seed_agent", "an agent id must be positive");
    config.seed_agent = std::to_string(id->get());
  } else if (const auto* dir = seed->as_string()) {
    fs::path path = dir->get();
    config.seed_agent = (path.is_relative() ? base_dir / path : path).lexically_normal().string();
  } else {
    return top.Error("seed_agent", "must be a directory (string) or an agent id (integer)");
  }
  return Status::OK();
}

}  // namespace

const char* SelectionStrategyName(SelectionStrategy strategy) {
  for (const StrategyName& s : kStrategies) {
    if (s.strategy == strategy) return s.name;
  }
  return "unknown";
}

Result<RunConfig> ParseRunConfig(std::string_view text, const std::string& source, const fs::path& base_dir) {
  LINEAGE_ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  RunConfig config;
  config.source = source;
  config.base_dir = fs::absolute(base_dir);
  config.text = std::string(text);
  TableReader top(root, source + ":");
  LINEAGE_RETURN_IF_ERROR(top.OnlyKeys(kTopKeys, kSee));
  // [name] parsed into `config` by `parse`, when the file has the table.
  auto table = [&](const char* name, const std::set<std::string>& keys, Status (*parse)(const TableReader&, RunConfig&)) {
    return WithTable(top, name, keys, source, [&](const TableReader& r) { return parse(r, config); });
  };

  LINEAGE_ASSIGN_OR_RETURN(config.name, top.String("name", "", true));
  if (config.name.empty()) return top.Error("name", "must not be empty");
  LINEAGE_ASSIGN_OR_RETURN(std::string home, top.String("home", ""));
  if (!home.empty()) config.home = fs::path(home).is_relative() ? base_dir / home : fs::path(home);
  LINEAGE_RETURN_IF_ERROR(ParseSeedAgent(root, top, base_dir, config));
  LINEAGE_ASSIGN_OR_RETURN(std::int64_t random_seed, top.Integer("random_seed", 1, 0));
  config.random_seed = static_cast<std::uint64_t>(random_seed);

  LINEAGE_RETURN_IF_ERROR(ParseModels(root, top, source, base_dir, config));
  const std::string fallback = config.models.FindAlias("default") ? "default" : config.models.models.front().alias;
  config.diagnosis_model = config.conductor_model = config.expert_model = fallback;
  LINEAGE_RETURN_IF_ERROR(WithTable(top, "roles", kRoleKeys, source,
                                    [&](const TableReader& r) { return ParseRolesTable(r, fallback, config); }));
  LINEAGE_RETURN_IF_ERROR(CheckAlias(config, "diagnosis", config.diagnosis_model));
  LINEAGE_RETURN_IF_ERROR(CheckAlias(config, "conductor", config.conductor_model));
  LINEAGE_RETURN_IF_ERROR(CheckAlias(config, "expert", config.expert_model));

  LINEAGE_RETURN_IF_ERROR(table("selection", kSelectionKeys, ParseSelectionTable));
  LINEAGE_ASSIGN_OR_RETURN(const toml::table* budget, top.Table("budget"));
  if (!budget) return top.Error("[budget]", "is required, with at least children = N");
  LINEAGE_RETURN_IF_ERROR(table("budget", kBudgetKeys, ParseBudgetTable));
  LINEAGE_RETURN_IF_ERROR(table("concurrency", kConcurrencyKeys, ParseConcurrencyTable));
  LINEAGE_RETURN_IF_ERROR(table("agent", kAgentKeys, ParseAgentTable));
  LINEAGE_RETURN_IF_ERROR(table("faults", kFaultKeys, ParseFaultsTable));
  LINEAGE_RETURN_IF_ERROR(table("executor", kExecutorKeys, ParseExecutorTable));
  LINEAGE_RETURN_IF_ERROR(table("sandbox", kSandboxKeys, ParseSandboxTable));

  LINEAGE_ASSIGN_OR_RETURN(config.evaluation, ParseEvaluationConfig(text, source, base_dir));
  if (config.evaluation.stages.empty()) {
    return Status::InvalidArgument(source + ": at least one [[stages]] table is required (see " + kSee + ")");
  }
  return config;
}

Status OverrideModels(RunConfig& config, const fs::path& file) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return OverrideModelsText(config, text, fs::absolute(file).string());
}

Status OverrideModelsText(RunConfig& config, const std::string& text, const std::string& source) {
  LINEAGE_ASSIGN_OR_RETURN(config.models, llm::ParseModelsConfig(text, source));
  config.models_override = source;
  config.models_override_text = text;
  // Roles left to their default follow the new file's default alias.
  const std::string fallback = config.models.FindAlias("default") ? "default" : config.models.models.front().alias;
  for (std::string* role : {&config.diagnosis_model, &config.conductor_model, &config.expert_model}) {
    if (!config.models.FindAlias(*role)) *role = fallback;
  }
  return Status::OK();
}

Result<RunConfig> LoadRunConfig(const fs::path& file) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return ParseRunConfig(text, file.string(), fs::absolute(file).parent_path());
}

std::vector<std::pair<std::string, std::string>> RoleAliases(const RunConfig& config) {
  return {{"diagnosis", config.diagnosis_model}, {"conductor", config.conductor_model}, {"expert", config.expert_model}};
}

// What would make every call to a model fail, found before anything is stored: a key variable that is not
// set. Every alias is checked, the roles' and the rest: agents may call any of them.
Status CheckModelKeys(const RunConfig& config) {
  for (const llm::ModelConfig& m : config.models.models) {
    if (m.api_key_env.empty() || !m.gateway_token.empty() || !m.unix_socket.empty()) continue;
    const char* key = std::getenv(m.api_key_env.c_str());
    if (!key || !*key) {
      std::string roles;
      for (const auto& [role, alias] : RoleAliases(config)) {
        if (alias == m.alias) roles += (roles.empty() ? "" : ", ") + role;
      }
      const std::string callers = roles.empty() ? std::string("the run's agents may call this model")
                                                : "the run's " + roles + " role calls this model";
      return Status::InvalidArgument(
          config.models.source + ": [models." + m.alias + "] api_key_env: " +
          MissingVariable(m.api_key_env, "the environment variable " + m.api_key_env + " is not set, and " + callers +
                                             "; export the provider's key in it") +
          ", or pass --models with tables that need none");
    }
  }
  return Status::OK();
}

// The seed's source is copied into every agent, where no cover can hide it: a suite inside it would hand
// every agent its references and hidden tests.
static Status RefuseSuiteInSeed(const RunConfig& config, const SuiteSpec& suite) {
  std::error_code ec;
  if (!fs::is_directory(config.seed_agent, ec)) return Status::OK();
  const fs::path seed = fs::weakly_canonical(config.seed_agent, ec);
  const fs::path root = fs::weakly_canonical(suite.kind == "exec" ? suite.path.parent_path() : suite.path, ec);
  const auto [seed_end, ignored] = std::mismatch(seed.begin(), seed.end(), root.begin(), root.end());
  if (seed_end != seed.end()) return Status::OK();
  return Status::InvalidArgument(config.source + ": suite '" + suite.name + "' (" + root.string() +
                                 ") lies inside seed_agent " + seed.string() +
                                 ", whose files every agent gets: keep the suite outside the agent's source");
}

Status CheckRunConfig(const RunConfig& config) {
  LINEAGE_RETURN_IF_ERROR(CheckPromptTemplates());
  LINEAGE_RETURN_IF_ERROR(CheckModelKeys(config));
  std::error_code ec;
  if (fs::is_directory(config.seed_agent, ec)) {
    auto tree = ReadTree(config.seed_agent);
    if (!tree.ok()) return tree.status().WithContext(config.source + ": seed_agent");
    auto manifest = ParseAgentManifest(*tree);
    if (!manifest.ok()) return manifest.status().WithContext(config.source + ": seed_agent " + config.seed_agent);
  } else if (config.seed_agent.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument(config.source + ": seed_agent: " + config.seed_agent + " is not a directory");
  }
  for (const StageSpec& stage : config.evaluation.stages) {
    auto spec = ResolveSuite(stage.suite, &config.evaluation);
    if (!spec.ok()) return spec.status().WithContext(config.source);
    LINEAGE_RETURN_IF_ERROR(RefuseSuiteInSeed(config, *spec));
    auto evaluator = OpenEvaluator(*spec);
    if (!evaluator.ok()) return evaluator.status().WithContext(config.source + ": stage " + std::to_string(stage.number));
    auto tasks = StageTasks(stage, **evaluator);
    if (!tasks.ok()) return tasks.status().WithContext(config.source);
    if (tasks->empty()) {
      return Status::InvalidArgument(config.source + ": stage " + std::to_string(stage.number) + " selects no task");
    }
    auto runnable = std::find_if(tasks->begin(), tasks->end(), [](const TaskInfo& t) { return t.unavailable.empty(); });
    if (runnable == tasks->end()) {
      return Status::FailedPrecondition(config.source + ": stage " + std::to_string(stage.number) + ": none of its " +
                                        std::to_string(tasks->size()) + " tasks can run here (" +
                                        tasks->front().id + ": " + tasks->front().unavailable + ")");
    }
  }
  return CheckFinals(config);
}

}  // namespace lineage
