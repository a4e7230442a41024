// `lineage bench list | run | validate`: benchmark suites outside an evolution run.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <memory>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "archive/scores.h"
#include "cli/commands.h"
#include "sandbox/slurm.h"
#include "evaluators/evaluator.h"
#include "evaluators/stages.h"
#include "llm/llm.h"
#include "harness/harness.h"

namespace lineage::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct BenchArgs {
  std::string suite, config, agent, models, subset;
  std::vector<std::string> tasks;
  int parallel = 1;
  int max_rounds = 30;
  std::optional<double> wall;
  std::optional<std::int64_t> max_tokens, max_calls;
  std::optional<double> max_cost;
  bool staged = false, gold = false, unchanged = false, json = false, unsafe = false;
  std::string executor = "local", shared_dir;  // validate: where the sandboxed runs go (sandbox/slurm.h)
};

// The evaluation configuration of --config, when given.
Result<std::optional<EvaluationConfig>> LoadConfig(const BenchArgs& args) {
  if (args.config.empty()) return std::optional<EvaluationConfig>();
  LINEAGE_ASSIGN_OR_RETURN(EvaluationConfig config, LoadEvaluationConfig(args.config));
  return std::optional<EvaluationConfig>(std::move(config));
}

std::string Join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

// "1 task", "2 tasks".
std::string Counted(std::size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// The first `named` items, then a count of the rest: a list can run to hundreds (django__django-13321's
// stale entries), and --json has them all.
std::string Abridged(const std::vector<std::string>& items, std::size_t named) {
  if (items.size() <= named) return Join(items, ", ");
  const std::vector<std::string> first(items.begin(), items.begin() + named);
  return Join(first, ", ") + " and " + std::to_string(items.size() - named) + " more (--json lists them all)";
}

// The tasks --subset and --tasks pick: the subset's (all without one), narrowed to --tasks' patterns.
Result<std::vector<TaskInfo>> PickTasks(const BenchArgs& args, Evaluator& evaluator) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> all, evaluator.ListTasks());
  if (!args.subset.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> patterns, SubsetPatterns(evaluator, args.suite, args.subset));
    LINEAGE_ASSIGN_OR_RETURN(all, SelectTasks(all, patterns));
  }
  return SelectTasks(all, args.tasks);
}

json TaskJson(const TaskInfo& t) {
  return {{"id", t.id}, {"language", t.language}, {"tags", t.tags}, {"available", t.unavailable.empty()},
          {"unavailable", t.unavailable}, {"environment", t.environment ? json(t.environment->name) : json(nullptr)}};
}

Status ListSuite(const BenchArgs& args, Evaluator& evaluator) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, PickTasks(args, evaluator));
  LINEAGE_ASSIGN_OR_RETURN(auto subsets, evaluator.Subsets());
  const auto missing = evaluator.MissingFromSubsets();
  if (args.json) {
    json out = {{"suite", args.suite}, {"kind", evaluator.kind()}, {"tasks", json::array()}, {"subsets", subsets},
                {"missing_from_subsets", missing}};
    for (const TaskInfo& t : tasks) out["tasks"].push_back(TaskJson(t));
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  std::size_t width = 4;
  for (const TaskInfo& t : tasks) width = std::max(width, t.id.size());
  std::printf("%-*s  %-10s  %s\n", static_cast<int>(width), "TASK", "LANGUAGE", "TAGS");
  // Reasons are shared by a language's tasks: each is said once, after the table.
  std::map<std::string, int> reasons;
  int unavailable = 0;
  for (const TaskInfo& t : tasks) {
    std::string tags = Join(t.tags, ",");
    if (!t.unavailable.empty()) {
      tags += "  [unavailable]";
      ++unavailable;
      ++reasons[t.unavailable];
    }
    std::printf("%-*s  %-10s  %s\n", static_cast<int>(width), t.id.c_str(), t.language.c_str(), tags.c_str());
  }
  std::printf("%s (%d unavailable here) in %s suite %s\n", Counted(tasks.size(), "task").c_str(), unavailable,
              evaluator.kind().c_str(), args.suite.c_str());
  for (const auto& [reason, count] : reasons) {
    std::printf("unavailable: %s: %s\n", Counted(count, "task").c_str(), reason.c_str());
  }
  for (const auto& [name, ids] : subsets) {
    auto absent = missing.find(name);
    if (absent == missing.end() || absent->second.empty()) {
      std::printf("subset %s: %s\n", name.c_str(), Counted(ids.size(), "task").c_str());
      continue;
    }
    // A subset published for a bigger dataset: say which of its ids this suite lacks.
    std::printf("subset %s: %s; %zu of its ids have no record here: %s\n", name.c_str(),
                Counted(ids.size(), "task").c_str(), absent->second.size(), Abridged(absent->second, 5).c_str());
  }
  return Status::OK();
}

// Without --suite: the suites one could name, with their task counts.
Status ListSuites(const BenchArgs& args, const std::optional<EvaluationConfig>& config) {
  std::vector<std::string> names = {"starter"};
  if (config) {
    for (const auto& [name, spec] : config->suites) {
      if (name != "starter") names.push_back(name);
    }
  }
  SuiteCache suites(config ? &*config : nullptr);
  json out = json::array();
  if (!args.json) std::printf("%-16s  %-9s  %-6s  %s\n", "SUITE", "KIND", "TASKS", "PATH");
  for (const std::string& name : names) {
    LINEAGE_ASSIGN_OR_RETURN(SuiteSpec spec, ResolveSuite(name, config ? &*config : nullptr));
    auto evaluator = suites.Open(name);
    std::string tasks = "?", problem;
    int count = 0, available = 0;
    if (evaluator.ok()) {
      auto listed = evaluator.value()->ListTasks();
      if (listed.ok()) {
        count = static_cast<int>(listed->size());
        available = static_cast<int>(std::count_if(listed->begin(), listed->end(),
                                                    [](const TaskInfo& t) { return t.unavailable.empty(); }));
        tasks = std::to_string(count);
      } else {
        problem = listed.status().message();
      }
    } else {
      problem = evaluator.status().message();
    }
    if (args.json) {
      out.push_back({{"suite", name}, {"kind", spec.kind}, {"path", spec.path.string()}, {"tasks", count},
                     {"available", available}, {"problem", problem}});
    } else {
      std::printf("%-16s  %-9s  %-6s  %s\n", name.c_str(), spec.kind.c_str(), tasks.c_str(), spec.path.c_str());
      if (!problem.empty()) std::printf("  problem: %s\n", problem.c_str());
    }
  }
  if (args.json) std::printf("%s\n", out.dump(2).c_str());
  else std::printf("inline suites: --suite KIND:PATH with KIND one of taskdir, polyglot, exec\n");
  return Status::OK();
}

Status BenchList(const BenchArgs& args) {
  LINEAGE_ASSIGN_OR_RETURN(std::optional<EvaluationConfig> config, LoadConfig(args));
  if (args.suite.empty()) return ListSuites(args, config);
  SuiteCache suites(config ? &*config : nullptr);
  LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites.Open(args.suite));
  return ListSuite(args, *evaluator);
}

// Live progress on stderr, one line per finished task.
class Progress {
 public:
  Progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet) {}
  void Done(const TaskResult& r) {
    ++done_;
    if (quiet_) return;
    std::string note = r.detail.empty() ? "" : "  (" + r.detail.substr(0, 100) + ")";
    std::string count = std::to_string(done_) + (total_ ? "/" + std::to_string(total_) : "");
    std::fprintf(stderr, "[%s] %-11s %-36s %6.1fs%s\n", count.c_str(), OutcomeName(r.outcome), r.task_id.c_str(),
                 r.duration_ms / 1000.0, note.c_str());
  }

 private:
  std::size_t total_, done_ = 0;
  bool quiet_;
};

json ResultJson(const TaskResult& r) {
  return {{"task", r.task_id},
          {"language", r.language},
          {"stage", r.stage},
          {"outcome", OutcomeName(r.outcome)},
          {"solved", r.outcome == Outcome::kSolved},
          {"partial", r.partial ? json(*r.partial) : json(nullptr)},
          {"non_empty_patch", r.non_empty_patch},
          {"agent_status", r.agent_status},
          {"rounds", r.rounds},
          {"tokens", r.spend.tokens},
          {"cost_usd", r.spend.cost_usd},
          {"duration_ms", r.duration_ms},
          {"detail", r.detail},
          {"test_output", r.test_output}};
}

void PrintTable(const std::vector<TaskResult>& results) {
  std::size_t width = 4;
  for (const TaskResult& r : results) width = std::max(width, r.task_id.size());
  std::printf("%-*s  %-5s  %-11s  %-7s  %-5s  %8s  %s\n", static_cast<int>(width), "TASK", "STAGE", "OUTCOME",
              "PARTIAL", "PATCH", "TIME", "DETAIL");
  for (const TaskResult& r : results) {
    std::string partial = r.partial ? std::to_string(static_cast<int>(*r.partial * 100 + 0.5)) + "%" : "-";
    std::printf("%-*s  %-5d  %-11s  %-7s  %-5s  %7.1fs  %s\n", static_cast<int>(width), r.task_id.c_str(), r.stage,
                OutcomeName(r.outcome), partial.c_str(), r.non_empty_patch ? "yes" : "no", r.duration_ms / 1000.0,
                r.detail.substr(0, 80).c_str());
  }
}

struct Tally {
  int attempted = 0, solved = 0, skipped = 0, errors = 0;
};

Tally Count(const std::vector<TaskResult>& results) {
  Tally t;
  for (const TaskResult& r : results) {
    if (!Counts(r.outcome)) ++t.skipped;
    else ++t.attempted;
    if (r.outcome == Outcome::kSolved) ++t.solved;
    if (r.outcome == Outcome::kError) ++t.errors;
  }
  return t;
}

// An agent's score comes from its stage scores, not its evaluation rows: without a stage 1 score, `lineage
// show` would say "score -" after a run that recorded every task. It is recounted from every stage-1 row the
// agent has (this run's and earlier ones), as a run's stage would count them.
Status RecordStageOne(Archive& archive, AgentId agent) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive.ListEvaluations(agent));
  StageScore stage{.stage = 1};
  for (const Evaluation& e : evaluations) {
    if (e.stage != 1 || !CountsTowardScore(e)) continue;
    ++stage.attempted;
    stage.solved += e.outcome == Outcome::kSolved;
  }
  if (stage.attempted == 0) return Status::OK();  // nothing judged: no score rather than 0
  stage.score = static_cast<double>(stage.solved) / stage.attempted;
  return archive.RecordStageScore(agent, stage);
}

// The agent to evaluate: an archive id, or a directory stored in the archive first (results need an agent).
Result<Agent> ResolveAgent(const std::string& which, Archive& archive, bool quiet) {
  std::error_code ec;
  if (fs::is_directory(which, ec)) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ReadTree(which));
    LINEAGE_ASSIGN_OR_RETURN(AgentManifest manifest, ParseAgentManifest(tree));
    const std::string name = manifest.name.empty() ? fs::path(which).filename().string() : manifest.name;
    LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive.ImportAgent(which, name));
    if (!quiet) std::fprintf(stderr, "bench: stored %s as agent %lld\n", which.c_str(), static_cast<long long>(agent.id));
    return agent;
  }
  if (which.empty() || !std::all_of(which.begin(), which.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return Status::NotFound("--agent '" + which + "' is neither a directory nor an agent id");
  }
  return archive.GetAgent(std::stoll(which));
}

Status BenchRun(const BenchArgs& args, const fs::path& home) {
  if (args.parallel < 1) return Status::InvalidArgument("--parallel must be at least 1");
  if (args.max_rounds < 1) return Status::InvalidArgument("--max-rounds must be at least 1");
  if (args.wall && *args.wall <= 0) return Status::InvalidArgument("--wall must be positive");
  if (args.staged && (!args.tasks.empty() || !args.suite.empty() || !args.subset.empty())) {
    return Status::InvalidArgument("--staged takes its suites and tasks from the configuration's [[stages]]; drop "
                                   "--suite, --subset and --tasks");
  }
  if (!args.staged && args.suite.empty()) return Status::InvalidArgument("--suite is required (or --staged)");
  LINEAGE_ASSIGN_OR_RETURN(std::optional<EvaluationConfig> config, LoadConfig(args));
  if (args.staged && (!config || config->stages.empty())) {
    return Status::InvalidArgument("--staged needs --config with at least one [[stages]] table");
  }
  LINEAGE_ASSIGN_OR_RETURN(llm::ModelsConfig models, llm::LoadModelsConfig(args.models));
  SuiteCache suites(config ? &*config : nullptr);
  std::vector<TaskInfo> tasks;
  Evaluator* evaluator = nullptr;
  if (!args.staged) {
    LINEAGE_ASSIGN_OR_RETURN(evaluator, suites.Open(args.suite));
    LINEAGE_ASSIGN_OR_RETURN(tasks, PickTasks(args, *evaluator));
  }

  LINEAGE_ASSIGN_OR_RETURN(std::unique_ptr<Archive> archive, Archive::Init(home));
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, ResolveAgent(args.agent, *archive, args.json));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive->Tree(agent.id));
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, Sandbox::Create(args.unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));
  if (!args.json) std::fprintf(stderr, "bench: building agent %lld...\n", static_cast<long long>(agent.id));
  LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(home, tree, *sandbox));
  LINEAGE_ASSIGN_OR_RETURN(BuiltAgent built, std::move(build).OrError());

  Progress progress(tasks.size(), args.json);  // staged: the total is not known in advance
  EvaluationOptions options;
  options.runtime.home = home;
  options.runtime.models = std::move(models);
  options.runtime.max_rounds = args.max_rounds;
  options.runtime.budget = llm::BudgetLimits{args.max_tokens, args.max_cost, args.max_calls};
  options.agent = &built;
  if (args.wall) options.agent_wall_ms = static_cast<std::int64_t>(*args.wall * 1000);
  options.parallel = args.parallel;
  options.archive = archive.get();
  options.agent_id = agent.id;
  options.suite_name = args.suite;
  options.on_result = [&](const TaskResult& r) { progress.Done(r); };

  std::vector<TaskResult> results;
  StagedResult staged;
  if (args.staged) {
    if (!args.json) std::fprintf(stderr, "bench: %zu stages from %s\n", config->stages.size(), args.config.c_str());
    options.on_start = nullptr;
    LINEAGE_ASSIGN_OR_RETURN(staged, EvaluateStaged(config->stages, [&](const std::string& s) { return suites.Open(s); },
                                                    options, *sandbox));
    results = staged.results;
  } else {
    if (!args.json) {
      std::fprintf(stderr, "bench: %s of %s, %d at a time\n", Counted(tasks.size(), "task").c_str(), args.suite.c_str(),
                   args.parallel);
    }
    LINEAGE_ASSIGN_OR_RETURN(results, EvaluateTasks(*evaluator, tasks, 1, options, *sandbox));
    LINEAGE_RETURN_IF_ERROR(RecordStageOne(*archive, agent.id));
  }

  const Tally t = Count(results);
  if (args.json) {
    json out = {{"agent", agent.id}, {"suite", args.staged ? json(nullptr) : json(args.suite)},
                {"attempted", t.attempted}, {"solved", t.solved}, {"skipped", t.skipped}, {"errors", t.errors},
                {"score", t.attempted ? json(static_cast<double>(t.solved) / t.attempted) : json(nullptr)},
                {"results", json::array()}};
    if (args.staged) out["stage_reached"] = staged.stage_reached;
    for (const TaskResult& r : results) out["results"].push_back(ResultJson(r));
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return Status::OK();
  }
  PrintTable(results);
  std::printf("agent %lld: solved %d of %d attempted (%.1f%%)", static_cast<long long>(agent.id), t.solved, t.attempted,
              t.attempted ? 100.0 * t.solved / t.attempted : 0.0);
  if (t.skipped) std::printf(", %d skipped (toolchain missing)", t.skipped);
  if (t.errors) std::printf(", %d errors", t.errors);
  if (args.staged) std::printf(", reached stage %d", staged.stage_reached);
  std::printf("\nresults are in the archive: lineage show %lld\n", static_cast<long long>(agent.id));
  return Status::OK();
}

// Gold validation: the reference solution must pass (--gold); the untouched workspace must fail (--unchanged).
Status BenchValidate(const BenchArgs& args, const fs::path& home) {
  if (!args.gold && !args.unchanged) {
    return Status::InvalidArgument("choose what to validate: --gold (reference solutions pass) and/or --unchanged "
                                   "(starting workspaces fail)");
  }
  if (args.suite.empty()) return Status::InvalidArgument("--suite is required");
  if (args.parallel < 1) return Status::InvalidArgument("--parallel must be at least 1");
  LINEAGE_ASSIGN_OR_RETURN(std::optional<EvaluationConfig> config, LoadConfig(args));
  SuiteCache suites(config ? &*config : nullptr);
  LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites.Open(args.suite));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, PickTasks(args, *evaluator));
  std::unique_ptr<Sandbox> sandbox;
  // Nothing is recorded: workspaces go to a scratch directory, removed at the end (on the shared directory
  // when the runs are Slurm jobs: the nodes must see them).
  fs::path scratch_home = fs::temp_directory_path() / ("lineage-validate-" + std::to_string(getpid()));
  if (args.executor == "slurm") {
    if (args.shared_dir.empty()) return Status::InvalidArgument("--executor slurm needs --shared-dir DIR (a directory every node sees)");
    SlurmOptions slurm;
    slurm.shared_dir = fs::absolute(args.shared_dir);
    slurm.job_prefix = "lineage-validate-" + std::to_string(getpid());
    LINEAGE_ASSIGN_OR_RETURN(sandbox, CreateSlurmSandbox(slurm));
    scratch_home = slurm.shared_dir / ("validate-" + std::to_string(getpid()));
  } else {
    LINEAGE_ASSIGN_OR_RETURN(sandbox, Sandbox::Create(args.unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));
  }
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{scratch_home};

  struct Check {
    Attempt attempt;
    const char* name;
    Outcome expected;
  };
  std::vector<Check> checks;
  if (args.gold) checks.push_back({Attempt::kGold, "gold", Outcome::kSolved});
  if (args.unchanged) checks.push_back({Attempt::kUnchanged, "unchanged", Outcome::kFailed});

  json out = {{"suite", args.suite}, {"tasks", tasks.size()}, {"checks", json::array()}, {"problems", json::array()},
              {"skipped_tasks", json::array()}, {"stale_tests", json::array()}, {"results", json::array()}};
  int problems = 0, skipped = 0;
  for (const Check& check : checks) {
    if (!args.json) std::fprintf(stderr, "validate: %s on %s of %s\n", check.name, Counted(tasks.size(), "task").c_str(),
                                args.suite.c_str());
    Progress progress(tasks.size(), args.json);
    EvaluationOptions options;
    options.runtime.home = scratch_home;
    options.environments_home = home;  // environments outlive the validation: they are the home's
    options.on_environment = [&](const std::string& line) {
      if (!args.json) std::fprintf(stderr, "environment %s\n", line.c_str());
    };
    options.attempt = check.attempt;
    options.parallel = args.parallel;
    options.on_result = [&](const TaskResult& r) { progress.Done(r); };
    std::vector<TaskInfo> checked = tasks;
    std::set<std::string> refactoring;  // unchanged: their starting code passes by design, nothing to check
    for (TaskInfo& t : checked) {
      if (check.attempt == Attempt::kUnchanged && t.unavailable.empty() &&
          std::count(t.tags.begin(), t.tags.end(), kRefactoringTag)) {
        t.unavailable = "a refactoring exercise: its starting code passes by design";
        refactoring.insert(t.id);
      }
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskResult> results, EvaluateTasks(*evaluator, checked, 1, options, *sandbox));
    int passed = 0;
    for (const TaskResult& r : results) {
      out["results"].push_back({{"check", check.name}, {"task", r.task_id}, {"language", r.language},
                                {"outcome", OutcomeName(r.outcome)}, {"duration_ms", r.duration_ms}, {"test_ms", r.test_ms}});
      if (check.attempt == Attempt::kUnchanged && !r.already_passing.empty()) {
        // A stale list entry: the test passes before the fix. Named, not fatal, while others still fail.
        out["stale_tests"].push_back({{"task", r.task_id}, {"tests", r.already_passing}});
        if (!args.json) {
          std::printf("NOTE %-9s %s: passes without the fix (a stale FAIL_TO_PASS entry): %s\n", check.name,
                      r.task_id.c_str(), Abridged(r.already_passing, 3).c_str());
        }
      }
      if (r.outcome == Outcome::kSkipped) {
        if (check.attempt == Attempt::kGold || refactoring.count(r.task_id)) {
          if (check.attempt == Attempt::kGold) ++skipped;
          out["skipped_tasks"].push_back({{"check", check.name}, {"task", r.task_id}, {"why", r.detail}});
          if (!args.json) std::printf("SKIP %-9s %s: %s\n", check.name, r.task_id.c_str(), r.detail.c_str());
        }
        continue;
      }
      bool ok = check.attempt == Attempt::kGold ? r.outcome == Outcome::kSolved
                                                : r.outcome == Outcome::kFailed || r.outcome == Outcome::kTimeout;
      if (ok) {
        ++passed;
        continue;
      }
      ++problems;
      std::string why = r.detail;
      if (why.empty()) {
        why = check.attempt == Attempt::kGold ? std::string("the reference solution does not pass: ") + OutcomeName(r.outcome)
                                              : "passes without any change (its tests prove nothing)";
      }
      std::string tail = r.test_output.size() > 600 ? "..." + r.test_output.substr(r.test_output.size() - 600) : r.test_output;
      out["problems"].push_back({{"check", check.name}, {"task", r.task_id}, {"outcome", OutcomeName(r.outcome)}, {"why", why},
                                 {"test_output", tail}});
      if (!args.json) {
        std::printf("FAIL %-9s %s: %s\n", check.name, r.task_id.c_str(), why.c_str());
        if (!tail.empty()) std::printf("%s\n", tail.c_str());
      }
    }
    out["checks"].push_back({{"check", check.name}, {"passed", passed}});
  }
  out["skipped"] = skipped;
  if (args.json) {
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    std::printf("%s: %s, %s%s\n", args.suite.c_str(), Counted(tasks.size(), "task").c_str(),
                Counted(problems, "problem").c_str(),
                skipped ? (", " + std::to_string(skipped) + " skipped (SKIP lines say why)").c_str() : "");
  }
  if (problems) {
    return Status::FailedPrecondition(Counted(problems, "validation problem") + " in suite " + args.suite);
  }
  return Status::OK();
}

void AddSuiteOptions(CLI::App* cmd, BenchArgs& args, bool suite_required) {
  auto* suite = cmd->add_option("--suite", args.suite,
                                "a suite named in --config, 'starter', or KIND:PATH (taskdir:DIR, polyglot:DIR, "
                                "exec:PROGRAM)");
  if (suite_required) suite->required();
  cmd->add_option("--config", args.config, "a run configuration whose [suites.*] and [[stages]] to use");
  cmd->add_option("--subset", args.subset,
                  "a subset the suite defines (polyglot: dgm-small, dgm-medium; swebench: dgm-small, dgm-medium, "
                  "dgm-big); --tasks narrows it further");
  cmd->add_option("--tasks", args.tasks, "task ids or glob patterns, space- or comma-separated (cpp/*, py/fizz*)")
      ->delimiter(',');
  cmd->add_flag("--json", args.json, "print JSON for scripts");
}

}  // namespace

void RegisterBenchCommands(CLI::App& app, Context& ctx) {
  auto* bench = app.add_subcommand("bench", "Benchmark suites: list them, evaluate an agent, validate a suite");
  bench->require_subcommand(1);

  auto list_args = std::make_shared<BenchArgs>();
  auto* list = bench->add_subcommand("list", "List the suites, or the tasks of one suite (--suite)");
  AddSuiteOptions(list, *list_args, false);
  list->callback([&ctx, list_args] { ctx.action = [list_args] { return BenchList(*list_args); }; });

  auto run_args = std::make_shared<BenchArgs>();
  auto* run = bench->add_subcommand("run", "Evaluate an agent on a suite in the sandbox; results go into the archive");
  AddSuiteOptions(run, *run_args, false);
  run->add_option("--agent", run_args->agent, "an agent id in the archive, or an agent's source directory")->required();
  run->add_option("--models", run_args->models, "the models configuration (TOML) the agent reaches through the gateway")
      ->required();
  run->add_option("--parallel", run_args->parallel, "tasks at a time")->capture_default_str();
  run->add_flag("--staged", run_args->staged, "run the [[stages]] of --config, advancing past each threshold");
  run->add_option("--max-rounds", run_args->max_rounds, "the agent's round cap per task")->capture_default_str();
  run->add_option("--wall", run_args->wall, "the agent's wall-clock limit per task in seconds (default: the suite's)");
  run->add_option("--max-tokens", run_args->max_tokens, "budget per task: tokens");
  run->add_option("--max-cost", run_args->max_cost, "budget per task: US dollars");
  run->add_option("--max-calls", run_args->max_calls, "budget per task: model calls");
  run->add_flag("--unsafe-no-sandbox", run_args->unsafe, "run WITHOUT isolation (only for code you trust)");
  run->callback([&ctx, run_args] { ctx.action = [run_args, &ctx] { return BenchRun(*run_args, ctx.home); }; });

  auto validate_args = std::make_shared<BenchArgs>();
  auto* validate = bench->add_subcommand("validate", "Check a suite's harness: reference solutions pass (--gold), "
                                                     "untouched workspaces fail (--unchanged)");
  AddSuiteOptions(validate, *validate_args, true);
  validate->add_flag("--gold", validate_args->gold, "apply each task's reference solution and expect it to pass");
  validate->add_flag("--unchanged", validate_args->unchanged, "score each starting workspace and expect it to fail");
  validate->add_option("--parallel", validate_args->parallel, "tasks at a time")->capture_default_str();
  validate->add_flag("--unsafe-no-sandbox", validate_args->unsafe, "run WITHOUT isolation (only for code you trust)");
  validate->add_option("--executor", validate_args->executor, "local, or slurm: each sandboxed run a Slurm job")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  validate->add_option("--shared-dir", validate_args->shared_dir, "slurm: a directory every node sees at the same path");
  validate->callback([&ctx, validate_args] {
    ctx.action = [validate_args, &ctx] { return BenchValidate(*validate_args, ctx.home); };
  });
}

}  // namespace lineage::cli
