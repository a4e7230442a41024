// A run's configuration: one TOML file (RunConfig; docs/runs.md lists every key, examples/quickstart.toml is
// complete), parsed and checked in full before anything starts or is stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "archive/journal.h"
#include "base/status.h"
#include "evaluators/stages.h"
#include "llm/llm.h"
#include "orchestrator/selection.h"
#include "sandbox/sandbox.h"

namespace lineage {

// [executor]: where sandboxed work runs. kLocal: this machine (the default). kSlurm: one Slurm job per
// sandboxed run (sandbox/slurm.h, docs/slurm.md); [concurrency] sandboxes is then the jobs in flight.
struct ExecutorConfig {
  enum class Kind { kLocal, kSlurm };
  Kind kind = Kind::kLocal;
  std::string partition, account, qos;
  int time_margin_s = 60;
  std::vector<std::string> sbatch_args;
  std::filesystem::path shared_dir;  // required with kSlurm
  // gateway_listen: an address of this host the nodes reach; each agent run's gateway listens there on TCP
  // too (a free port), and the job relays the agent's gateway socket to it. Empty: the Unix socket only
  // (the nodes are this host, or see its sockets).
  std::string gateway_host;
  // gateway_listen_any: gateway_listen may be a wildcard (0.0.0.0, ::), listening on every interface;
  // the nodes then dial this host by its name.
  bool gateway_listen_any = false;
};

struct RunConfig {
  std::string source;                // the file, for messages
  std::filesystem::path base_dir;    // what relative paths in it are relative to (absolute)
  std::string text;                  // the file as given; stored with the run
  std::string name;
  std::filesystem::path home;        // empty: the command line's --home
  std::string seed_agent;            // an agent's source directory (absolute), or an archive agent id
  std::uint64_t random_seed = 1;

  llm::ModelsConfig models;
  std::string models_override;       // a models file given on the command line instead of `models`...
  std::string models_override_text;  // ...and its text, stored with the run so a resume needs no file
  std::string diagnosis_model;       // aliases in `models`
  std::string conductor_model, expert_model;

  SelectionParams selection;

  // Budgets: the run stops cleanly at the first one reached.
  int children = 0;                  // children to produce (admitted or rejected)
  std::optional<double> cost_usd;
  std::optional<std::int64_t> tokens;
  std::optional<std::int64_t> wall_ms;
  // hgm only: task runs over the whole run, the seed's included (each one a unit of evaluation).
  std::optional<std::int64_t> task_evaluations;

  int children_in_flight = 1;        // N: children being made or evaluated at once
  int sandboxes = 2;                 // M: sandboxed runs at once, over the whole run

  int max_rounds = 30;               // the agent's round cap, solving and self-modifying
  std::int64_t self_modify_wall_ms = 30 * 60 * 1000;
  std::optional<std::int64_t> task_wall_ms;  // overrides the suites' agent time per task
  std::uint64_t sandbox_memory_bytes = 4ull << 30;
  int sandbox_pids = SandboxLimits{}.pids;
  std::uint64_t sandbox_disk_bytes = 2ull << 30;  // each writable place of a sandbox
  std::uint64_t min_free_bytes = 1ull << 30;      // the home's free space under which the run pauses
  std::uint64_t build_cache_bytes = 4ull << 30;   // the home's cache of built agents, least recently used evicted

  // [faults] patience_s: how long model calls may keep failing for the world's reasons (the provider down,
  // a key refused) before the run pauses itself; the work they interrupt is redone meanwhile.
  std::int64_t fault_patience_ms = 10 * 60 * 1000;
  // [faults] retry_s: how long after such a pause a daemon resumes the run by itself.
  std::int64_t fault_retry_ms = 5 * 60 * 1000;

  ExecutorConfig executor;
  EvaluationConfig evaluation;       // [suites.*] and [[stages]]; at least one stage

  // Where the run came from, when not from a file alone (a fork, a replay). Stored with the run (RunOrigin
  // reads it back).
  journal::RunOrigin origin;
};

// Parses and checks the keys and their values. Relative paths are relative to the file's directory.
Result<RunConfig> LoadRunConfig(const std::filesystem::path& file);
Result<RunConfig> ParseRunConfig(std::string_view text, const std::string& source,
                                 const std::filesystem::path& base_dir);

// Uses the models file `file` instead of the configuration's own (`lineage run start --models`); the roles
// must name aliases it defines.
Status OverrideModels(RunConfig& config, const std::filesystem::path& file);
// The same from the file's text (`source` names it in messages).
Status OverrideModelsText(RunConfig& config, const std::string& text, const std::string& source);

// The checks that need the world: the prompt templates (CheckPromptTemplates), the seed agent's agent.toml,
// every suite opens, every stage selects tasks. `lineage run validate` and `lineage run start` run them
// before anything starts.
Status CheckRunConfig(const RunConfig& config);
// The run's roles and the model alias each calls: {"diagnosis", ...}, {"conductor", ...}, {"expert", ...}.
std::vector<std::pair<std::string, std::string>> RoleAliases(const RunConfig& config);
// That every role's model has its key: the environment variable its api_key_env names is set (in this
// process: the daemon's, for a run handed to it). Part of CheckRunConfig; a resumed run checks it again.
Status CheckModelKeys(const RunConfig& config);

}  // namespace lineage
