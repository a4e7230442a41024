#include "web/web.h"

#include <algorithm>
#include <map>

#include "archive/journal.h"
#include "archive/scores.h"
#include "base/files.h"

namespace lineage::web {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxLogBytes = 64 * 1024;    // per evaluation log in an agent's page
constexpr std::size_t kMaxDiffBytes = 256 * 1024;  // of an agent's diff
constexpr std::size_t kMaxBuildLogBytes = 64 * 1024;  // of a failed build's log

// The end of a long build log (where the compiler's error is), with a note of what was cut.
std::string BuildLogTail(const std::string& log) {
  if (log.size() <= kMaxBuildLogBytes) return log;
  return "[the first " + std::to_string(log.size() - kMaxBuildLogBytes) + " bytes are cut]\n" +
         log.substr(log.size() - kMaxBuildLogBytes);
}

// The runs `agent` is the seed of. A seed belongs to no run (it may start several), so its run is found here.
Result<json> SeedOf(Archive& archive, AgentId agent) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Run> runs, archive.ListRuns());
  json out = json::array();
  for (const Run& r : runs) {
    if (r.seed_agent_id == agent) out.push_back(r.id);
  }
  return out;
}

json Opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json Opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }
json Opt(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

json IntervalJson(const Agent& a) {
  const auto interval = AgentInterval(a);
  return interval ? json::array({interval->low, interval->high}) : json(nullptr);
}

json AgentRow(const Agent& a) {
  return {{"id", a.id},
          {"parent", Opt(a.parent_id)},
          {"name", a.name},
          {"status", StateName(a.state)},
          {"reason", a.reason},
          {"score", Opt(a.score)},
          {"score_interval", IntervalJson(a)},
          {"solved", SolvedTasks(a)},
          {"attempted", AttemptedTasks(a)},
          {"stage_reached", a.stage_reached},
          {"generation", a.generation},
          {"files_changed", a.files_changed},
          {"lines_added", a.lines_added},
          {"lines_removed", a.lines_removed},
          {"created_at", FormatTimestamp(a.created_at)}};
}

// Where the run came from ({"kind": "fork", "run": R, "agent": A}), as the orchestrator stored it with the
// run's configuration (archive/journal.h, StoredConfig); null for a run started from a file.
json Origin(const Run& run) {
  const std::optional<journal::StoredConfig> stored = journal::StoredConfig::Decode(run.config);
  return stored ? json::parse(stored->origin.Encode()) : json();
}

json RunSummary(Archive& archive, const Run& run, const std::vector<Agent>& agents) {
  int children = 0, admitted = 0, rejected = 0;
  // The best agent is the one with the best lower bound (archive/scores.h); best_score is its mean.
  const Agent* best = BestAgent(agents);
  for (const Agent& a : agents) {
    // The run's seed is no child of it, even when it has a parent (a fork's, or an agent of another run).
    if (!a.parent_id || a.state == AgentState::kFailed || a.id == run.seed_agent_id) continue;
    ++children;
    if (a.state == AgentState::kAdmitted) ++admitted;
    if (a.state == AgentState::kRejected) ++rejected;
  }
  json out = {{"id", run.id}, {"name", run.name}, {"status", StateName(run.state)}, {"children", children},
              {"children_wanted", Opt(run.children_wanted)}, {"admitted", admitted}, {"rejected", rejected},
              {"in_progress", children - admitted - rejected}, {"best_score", best ? Opt(best->score) : json(nullptr)},
              {"best_agent", best ? json(best->id) : json(nullptr)}, {"best_interval", best ? IntervalJson(*best) : json(nullptr)},
              {"origin", Origin(run)},
              {"created_at", FormatTimestamp(run.created_at)}, {"updated_at", FormatTimestamp(run.updated_at)}};
  auto spend = archive.RunSpend(run.id);
  if (spend.ok()) {
    out["tokens"] = spend->tokens;
    out["cost_usd"] = spend->cost_usd;
    out["model_calls"] = spend->calls;
  }
  return out;
}

}  // namespace

Result<json> RunsJson(Archive& archive) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Run> runs, archive.ListRuns());
  json out = json::array();
  for (const Run& r : runs) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(r.id));
    out.push_back(RunSummary(archive, r, agents));
  }
  return out;
}

Result<json> RunSummaryJson(Archive& archive, RunId id) {
  LINEAGE_ASSIGN_OR_RETURN(Run run, archive.GetRun(id));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(id));
  return RunSummary(archive, run, agents);
}

Result<json> RunJson(Archive& archive, RunId id) {
  LINEAGE_ASSIGN_OR_RETURN(Run run, archive.GetRun(id));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(id));
  json out = {{"run", RunSummary(archive, run, agents)}, {"agents", json::array()}};
  std::map<AgentId, const Agent*> by_id;
  for (const Agent& a : agents) {
    by_id[a.id] = &a;
    out["agents"].push_back(AgentRow(a));
  }
  const Agent* best = BestAgent(agents);
  json lineage = json::array();
  for (const Agent* a = best; a; a = a->parent_id && by_id.count(*a->parent_id) ? by_id[*a->parent_id] : nullptr) {
    lineage.push_back(a->id);
  }
  out["best_lineage"] = lineage;
  // Score over time: after each agent arrives (id order), the best agent's score (by lower bound) and its
  // lower bound, and the mean score of the admitted ones.
  json series = json::array();
  const Agent* leader = nullptr;
  double sum = 0;
  int n = 0;
  for (const Agent& a : agents) {
    if (a.state == AgentState::kAdmitted && a.score) {
      if (!leader || RanksAbove(a, *leader)) leader = &a;
      sum += *a.score;
      ++n;
    }
    if (n > 0) {
      const auto interval = AgentInterval(*leader);
      series.push_back({{"agent", a.id}, {"best", *leader->score}, {"best_low", interval ? json(interval->low) : json(nullptr)},
                        {"mean", sum / n}});
    }
  }
  out["score_over_time"] = series;
  return out;
}

Result<json> AgentJson(Archive& archive, AgentId id) {
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive.GetAgent(id));
  json out = {{"agent", AgentRow(agent)}, {"run", Opt(agent.run_id)}, {"problem_statement", agent.problem_statement}};
  LINEAGE_ASSIGN_OR_RETURN(out["seed_of"], SeedOf(archive, id));
  out["build_log"] = nullptr;
  if (agent.state == AgentState::kRejected) {
    LINEAGE_ASSIGN_OR_RETURN(std::string log, archive.BuildLog(id));
    if (!log.empty()) out["build_log"] = BuildLogTail(log);
  }
  out["diagnosis"] = agent.diagnosis_json.empty() ? json(nullptr) : json::parse(agent.diagnosis_json, nullptr, false);
  if (!agent.commit.empty()) {
    auto diff = archive.Diff(id);
    out["diff"] = diff.ok() ? ClipText(diff->patch, kMaxDiffBytes) : "";
  }
  json stages = json::array();
  for (const StageScore& s : agent.stages) {
    stages.push_back({{"stage", s.stage}, {"attempted", s.attempted}, {"solved", s.solved}, {"score", Opt(s.score)}});
  }
  out["stages"] = stages;
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive.ListEvaluations(id));
  json evals = json::array();
  for (const Evaluation& e : evaluations) {
    std::string log;
    if (!e.log_blob.empty()) {
      auto blob = archive.GetBlob(e.log_blob);
      if (blob.ok()) log = ClipText(*blob, kMaxLogBytes);
    }
    evals.push_back({{"suite", e.suite}, {"task", e.task_id}, {"stage", e.stage}, {"held_out", IsHeldOut(e)}, {"outcome", OutcomeName(e.outcome)},
                     {"score", Opt(e.score)}, {"duration_ms", e.duration_ms}, {"patch_bytes", e.patch_bytes},
                     {"log", log}});
  }
  out["evaluations"] = evals;
  out["paired"] = nullptr;
  if (agent.parent_id) {
    auto parent = archive.ListEvaluations(*agent.parent_id);
    if (parent.ok()) {
      const PairedComparison c = ComparePaired(evaluations, *parent);
      out["paired"] = {{"parent", *agent.parent_id}, {"shared", c.Shared()}, {"both_solved", c.both_solved},
                       {"child_only", c.child_only}, {"parent_only", c.parent_only}, {"neither", c.neither}};
    }
  }
  LINEAGE_ASSIGN_OR_RETURN(std::vector<ModelCall> calls, archive.ListModelCalls(id));
  json model_calls = json::array();
  double cost = 0;
  std::int64_t tokens = 0;
  for (const ModelCall& c : calls) {
    cost += c.cost_usd;
    tokens += c.input_tokens + c.output_tokens;
    model_calls.push_back({{"purpose", c.purpose}, {"label", c.label}, {"task", c.task_id}, {"model", c.model},
                           {"input_tokens", c.input_tokens}, {"output_tokens", c.output_tokens},
                           {"cache_read_tokens", c.cache_read_tokens}, {"cache_write_tokens", c.cache_write_tokens},
                           {"cost_usd", c.cost_usd}, {"latency_ms", c.latency_ms}, {"outcome", c.outcome},
                           {"at", FormatTimestamp(c.created_at)}});
  }
  out["model_calls"] = model_calls;
  out["spend"] = {{"tokens", tokens}, {"cost_usd", cost}, {"calls", calls.size()}};
  // What making and judging it cost, by purpose (its calls above are those it made, as parent too).
  auto made = archive.AgentCost(agent);
  out["cost"] = made.ok() ? json(*made) : json::object();
  return out;
}

}  // namespace lineage::web
