// What a run is expected to spend: from the home's records where it has them, else from prices.
#include "orchestrator/forecast.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "base/safe_tree.h"
#include "evaluators/evaluator.h"
#include "evaluators/stages.h"

namespace lineage {

namespace {

namespace fs = std::filesystem;

// Typical sizes, for a model the home has no record of (docs/runs.md, "Cost forecast"). A diagnosis reads
// the agent's source (at most the 60 KiB the prompt holds) and a task's log (about 40 KiB), and writes a
// page; an agent's round re-reads a growing conversation and writes a little: about half its round cap
// when it changes itself, a third of it on a task.
constexpr std::int64_t kSourceCapBytes = 60 * 1024;
constexpr std::int64_t kTaskLogTokens = 10'000;
constexpr std::int64_t kDiagnosisOutputTokens = 2'000;
constexpr std::int64_t kSelfModifyRoundInput = 8'000, kSelfModifyRoundOutput = 1'000;
constexpr std::int64_t kTaskRoundInput = 6'000, kTaskRoundOutput = 600;

std::int64_t SourceBytes(const RunConfig& config) {
  std::error_code ec;
  if (!fs::is_directory(config.seed_agent, ec)) return kSourceCapBytes;
  auto tree = ReadTree(config.seed_agent);
  if (!tree.ok()) return kSourceCapBytes;
  std::int64_t bytes = 0;
  for (const TreeEntry& e : *tree) bytes += static_cast<std::int64_t>(e.data.size());
  return std::min(bytes, kSourceCapBytes);
}

struct Priced {
  const llm::ModelConfig* model = nullptr;
  bool ok() const { return model && model->price; }
  double Cost(std::int64_t input, std::int64_t output) const {
    return ok() ? llm::CostUsd(llm::Usage{input, output, 0, 0, 0}, *model->price) : 0.0;
  }
};

}  // namespace

double CostForecast::ChildThrough(int stage) const {
  double usd = diagnosis.usd + self_modification.usd;
  for (int i = 0; i < stage && i < static_cast<int>(stage_tasks.size()); ++i) usd += task.usd * stage_tasks[i];
  return usd;
}

Result<CostForecast> ForecastCost(const RunConfig& config, Archive* archive) {
  CostForecast f;
  std::map<std::string, Priced> by_role;
  std::vector<std::string> upstream;
  for (const auto& [role, alias] : RoleAliases(config)) {
    Priced p{config.models.FindAlias(alias)};
    if (p.model && !p.ok() && std::find(f.unpriced.begin(), f.unpriced.end(), alias) == f.unpriced.end()) {
      f.unpriced.push_back(alias);
    }
    if (p.model) upstream.push_back(p.model->model);
    by_role[role] = p;
  }
  const std::int64_t rounds = std::max(1, config.max_rounds);
  f.diagnosis.usd = by_role["diagnosis"].Cost(SourceBytes(config) / 4 + kTaskLogTokens, kDiagnosisOutputTokens);
  f.self_modification.usd =
      by_role["conductor"].Cost(kSelfModifyRoundInput * (rounds / 2 + 1), kSelfModifyRoundOutput * (rounds / 2 + 1));
  f.task.usd = by_role["conductor"].Cost(kTaskRoundInput * (rounds / 3 + 1), kTaskRoundOutput * (rounds / 3 + 1));

  if (archive) {
    // A record teaches only where it was priced as the run's models are now: calls to a fake model, or
    // at another price, say nothing of what this run will spend.
    auto priced_now = [&](const Archive::CallCost& call) {
      for (const llm::ModelConfig& m : config.models.models) {
        if (m.model != call.model || !m.price) continue;
        const double now = llm::CostUsd(llm::Usage{call.input_tokens, call.output_tokens, call.cache_read_tokens,
                                                   call.cache_write_tokens, 0}, *m.price);
        if (std::abs(now - call.cost_usd) <= 1e-9 + 1e-6 * std::abs(now)) return true;
      }
      return false;
    };
    LINEAGE_ASSIGN_OR_RETURN(auto averages, archive->AverageCosts(upstream, priced_now));
    auto use = [&](const char* purpose, CostForecast::Part& part) {
      auto it = averages.find(purpose);
      if (it != averages.end()) part = CostForecast::Part{it->second.usd, it->second.units};
    };
    use("diagnose", f.diagnosis);
    use("self_modify", f.self_modification);
    use("evaluate", f.task);
  }

  std::set<std::string> earlier;
  for (const StageSpec& stage : config.evaluation.stages) {
    LINEAGE_ASSIGN_OR_RETURN(SuiteSpec spec, ResolveSuite(stage.suite, &config.evaluation));
    LINEAGE_ASSIGN_OR_RETURN(std::unique_ptr<Evaluator> evaluator, OpenEvaluator(spec));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
    int added = 0;
    for (const TaskInfo& t : tasks) added += t.unavailable.empty() && earlier.insert(t.id).second ? 1 : 0;
    f.stage_tasks.push_back(added);
  }
  return f;
}

}  // namespace lineage
