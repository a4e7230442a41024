// The run configuration: one TOML file saying everything an evolution run needs. It is validated in full
// before anything starts; every error names the file, the key and the allowed values. docs/runs.md lists
// every key; examples/quickstart.toml is a complete example.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "evaluators/stages.h"
#include "llm/llm.h"

namespace lineage {

// How parents are chosen (orchestrator/selection.h).
enum class SelectionStrategy { kDgm, kScoreProp, kBest, kRandom, kHgm, kNoOpenEnded, kNoSelfImprove };
const char* SelectionStrategyName(SelectionStrategy strategy);  // "dgm", "score-prop", ...

struct SelectionParams {
  SelectionStrategy strategy = SelectionStrategy::kDgm;
  double lambda = 10;   // dgm, score-prop: steepness of the sigmoid over scores
  double alpha0 = 0.5;  // dgm, score-prop: the score at the sigmoid's midpoint
};

struct RunConfig {
  std::string source;                // the file, for messages
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

  int children_in_flight = 1;        // N: children being made or evaluated at once
  int sandboxes = 2;                 // M: sandboxed runs at once, over the whole run

  int max_rounds = 30;               // the agent's round cap, solving and self-modifying
  std::int64_t self_modify_wall_ms = 30 * 60 * 1000;
  std::optional<std::int64_t> task_wall_ms;  // overrides the suites' agent time per task
  std::uint64_t sandbox_memory_bytes = 4ull << 30;
  int sandbox_pids = 256;
  std::uint64_t sandbox_disk_bytes = 2ull << 30;  // each writable place of a sandbox
  std::uint64_t min_free_bytes = 1ull << 30;      // the home's free space under which the run pauses
  std::uint64_t build_cache_bytes = 4ull << 30;   // the home's cache of built agents, least recently used evicted

  EvaluationConfig evaluation;       // [suites.*] and [[stages]]; at least one stage
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

// The checks that need the world: the seed agent's agent.toml, every suite opens, every stage selects
// tasks. `lineage run validate` and `lineage run start` run them before anything starts.
Status CheckRunConfig(const RunConfig& config);

}  // namespace lineage
