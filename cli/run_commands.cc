// `lineage run validate|start|list|status|pause|resume|stop|logs`: evolution runs.
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>

#include "base/files.h"
#include "cli/commands.h"
#include "sandbox/slurm.h"
#include "evaluators/evaluator.h"
#include "evaluators/stages.h"
#include "llm/llm.h"
#include "orchestrator/daemon.h"
#include "orchestrator/evolution.h"
#include "orchestrator/run_services.h"
#include "orchestrator/final.h"
#include "orchestrator/forecast.h"
#include "orchestrator/replay.h"
#include "orchestrator/run_config.h"
#include "orchestrator/runs.h"
#include "web/web.h"

namespace lineage::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct RunArgs {
  std::string config, models;
  std::int64_t run = 0;
  // run final
  std::string suite, subset;
  std::vector<std::string> tasks;
  int top = 3, sample = 0, parallel = 2;
  std::int64_t from = 0;  // run fork --from
  std::string to;         // run replay --to
  bool allow_exec = false;  // run replay --allow-exec
  bool foreground = false, json = false, follow = false, unsafe = false, watch = false, probe = false;
  BudgetRaise raise;  // run resume --children/--cost-usd/--tokens
};

// One minimal call per model a role of the run uses, as `lineage models check` makes (a few tokens each).
Status Probe(const RunConfig& config) {
  std::set<std::string> probed;
  int failed = 0;
  for (const auto& [role, alias] : RoleAliases(config)) {
    if (!probed.insert(alias).second) continue;
    llm::CallResult r = std::move(llm::ProbeModels(config.models, {alias}).front());
    if (r.ok()) {
      std::printf("probe: %s (alias %s): ok, %lld ms\n", role.c_str(), alias.c_str(), static_cast<long long>(r.latency_ms));
    } else {
      ++failed;
      std::printf("probe: %s (alias %s): FAILED %s: %s\n", role.c_str(), alias.c_str(), llm::ErrorKindName(r.error.kind),
                  r.error.message.c_str());
    }
  }
  if (failed) return Status::FailedPrecondition(std::to_string(failed) + " of the run's models did not answer the probe");
  return Status::OK();
}

// What each stage will run: its new tasks (a stage runs only those no earlier stage ran), and those that
// cannot run here, which are skipped and not counted.
Status PrintStages(const RunConfig& config) {
  std::set<std::string> earlier;
  for (const StageSpec& stage : config.evaluation.stages) {
    LINEAGE_ASSIGN_OR_RETURN(SuiteSpec spec, ResolveSuite(stage.suite, &config.evaluation));
    LINEAGE_ASSIGN_OR_RETURN(std::unique_ptr<Evaluator> evaluator, OpenEvaluator(spec));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
    std::erase_if(tasks, [&](const TaskInfo& t) { return !earlier.insert(t.id).second; });
    std::map<std::string, std::vector<std::string>> unavailable;  // reason → tasks
    for (const TaskInfo& t : tasks) {
      if (!t.unavailable.empty()) unavailable[t.unavailable].push_back(t.id);
    }
    std::string line = "stage " + std::to_string(stage.number) + ": " + std::to_string(tasks.size()) + " tasks of " +
                       stage.suite + (stage.subset.empty() ? "" : " (" + stage.subset + ")");
    const bool gates = config.selection.strategy != SelectionStrategy::kHgm;
    if (gates && stage.threshold > 0 && stage.number < static_cast<int>(config.evaluation.stages.size())) {
      line += "; on to stage " + std::to_string(stage.number + 1) + " at " +
              std::to_string(static_cast<int>(stage.threshold * 100 + 0.5)) + "% solved";
    }
    std::printf("%s\n", line.c_str());
    for (const auto& [reason, ids] : unavailable) {
      std::string list;
      for (const std::string& id : ids) list += (list.empty() ? "" : ", ") + id;
      std::printf("  skipped here (not counted): %s: %s\n", list.c_str(), reason.c_str());
    }
  }
  if (config.selection.strategy == SelectionStrategy::kHgm) {
    std::printf("hgm: each agent runs these tasks in order, one task run at a time as Thompson sampling picks the "
                "agent; the stages' thresholds do not gate\n");
  }
  return Status::OK();
}

std::string Usd(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, usd < 10 ? "$%.4f" : "$%.2f", usd);
  return buf;
}

std::string Basis(const CostForecast::Part& part) {
  return part.recorded > 0 ? " (mean of " + std::to_string(part.recorded) + " recorded)" : "";
}

// The forecast's lines, and a warning when the dollar budget cannot pay for stage 1 of the children asked
// for. The home's records are used when it exists; it is never created here.
Status PrintForecast(const RunConfig& config, const fs::path& home) {
  std::unique_ptr<Archive> archive;
  std::error_code ec;
  if (fs::exists(home / "archive.db", ec)) {
    auto opened = Archive::Open(home);
    if (opened.ok()) archive = std::move(opened).value();
  }
  LINEAGE_ASSIGN_OR_RETURN(CostForecast f, ForecastCost(config, archive.get()));
  std::printf("forecast, per child: %s to diagnose%s, %s to self-modify%s; per task run %s%s\n", Usd(f.diagnosis.usd).c_str(),
              Basis(f.diagnosis).c_str(), Usd(f.self_modification.usd).c_str(), Basis(f.self_modification).c_str(),
              Usd(f.task.usd).c_str(), Basis(f.task).c_str());
  std::string stages;
  for (std::size_t i = 0; i < f.stage_tasks.size(); ++i) {
    stages += (i ? ", " : "") + Usd(f.ChildThrough(static_cast<int>(i + 1))) + " through stage " + std::to_string(i + 1);
  }
  const double low = f.ChildThrough(1) * config.children, high = f.ChildThrough(static_cast<int>(f.stage_tasks.size())) * config.children;
  std::printf("forecast: a child costs %s; %d children: %s if none passes stage 1, %s if all reach the last stage "
              "(the seed's own evaluation aside)\n", stages.c_str(), config.children, Usd(low).c_str(), Usd(high).c_str());
  const bool from_prices = f.diagnosis.recorded == 0 || f.self_modification.recorded == 0 || f.task.recorded == 0;
  if (from_prices) std::printf("  (figures without 'recorded' are estimates from prices and typical sizes: docs/runs.md)\n");
  for (const std::string& alias : f.unpriced) {
    std::printf("  no price for model alias '%s': its calls count as free; set input_usd_per_mtok and "
                "output_usd_per_mtok (docs/models.md)\n", alias.c_str());
  }
  if (config.cost_usd && low > *config.cost_usd) {
    std::printf("warning: [budget] cost_usd %s cannot cover even stage 1 of the %d children asked for (about %s): the "
                "run will stop early\n", Usd(*config.cost_usd).c_str(), config.children, Usd(low).c_str());
  }
  return Status::OK();
}

Status Validate(const RunArgs& args, const fs::path& command_line_home) {
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, LoadRunConfig(args.config));
  if (!args.models.empty()) LINEAGE_RETURN_IF_ERROR(OverrideModels(config, args.models));
  LINEAGE_RETURN_IF_ERROR(CheckRunConfig(config));
  const fs::path home = config.home.empty() ? command_line_home : config.home;
  LINEAGE_RETURN_IF_ERROR(CheckSeedAgent(config, home));
  if (args.probe) LINEAGE_RETURN_IF_ERROR(Probe(config));
  std::printf("%s: valid. run '%s': %d children, strategy %s, %zu stages, %d children and %d sandboxes at once\n",
              args.config.c_str(), config.name.c_str(), config.children,
              SelectionStrategyName(config.selection.strategy), config.evaluation.stages.size(),
              config.children_in_flight, config.sandboxes);
  LINEAGE_RETURN_IF_ERROR(PrintStages(config));
  if (!args.probe) {
    std::printf("models: not contacted (a wrong base_url or key shows only when the run calls it; --probe calls "
                "each role's model once)\n");
  }
  return PrintForecast(config, home);
}

// "0.615 [0.425, 0.776]" from a JSON score and interval.
std::string ScoreText(const json& score, const json& interval) {
  if (!score.is_number()) return "-";
  char buf[64];
  if (interval.is_array()) {
    std::snprintf(buf, sizeof buf, "%.3f [%.3f, %.3f]", score.get<double>(), interval[0].get<double>(), interval[1].get<double>());
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", score.get<double>());
  }
  return buf;
}

// The final evaluations a run recorded ("final" events), as `run final` prints them.
std::string FinalView(const json& final) {
  std::string out = "final: " + std::to_string(final["agents"].size()) + " agent(s) on " +
                    std::to_string(final["tasks"].get<int>()) + " held-out task(s) of " + final["suite"].get<std::string>() + "\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-7s %-24s %s\n", "agent", "run score", "held out");
  out += line;
  for (const json& a : final["agents"]) {
    std::snprintf(line, sizeof line, "  #%-6lld %-24s %s  %d/%d\n", static_cast<long long>(a["agent"].get<AgentId>()),
                  ScoreText(a["run_score"], a["run_interval"]).c_str(), ScoreText(a["score"], a["score_interval"]).c_str(),
                  a["solved"].get<int>(), a["attempted"].get<int>());
    out += line;
  }
  return out;
}

Result<json> FinalEvents(Archive& archive, RunId run) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, archive.ListEvents(run));
  json out = json::array();
  for (const Event& e : events) {
    if (journal::FinalDone::Decode(e)) out.push_back(json::parse(e.data_json, nullptr, false));
  }
  return out;
}

Result<std::string> RunView(Archive& archive, RunId id);

// Why `run` is in its state, as the event that put it there says ("reason" of run.paused, "error" of
// run.failed); empty when it says nothing.
std::string StateReason(Archive& archive, const Run& run) {
  auto events = archive.ListEvents(run.id);
  if (!events.ok()) return "";
  const std::string kind = std::string("run.") + StateName(run.state);
  for (auto e = events->rbegin(); e != events->rend(); ++e) {
    if (e->kind != kind) continue;
    const json data = json::parse(e->data_json, nullptr, false);
    if (!data.is_object()) return "";
    const auto text = [&](const char* key) {
      auto it = data.find(key);
      return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    // The reason may quote what an agent printed (a seed's build log): no control character reaches the
    // terminal.
    std::string why = text("reason").empty() ? text("error") : text("reason");
    std::erase_if(why, [](unsigned char c) { return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f; });
    return why;
  }
  return "";
}

// Whether `run` is left running, pausing or stopping by a process that ended (Ctrl-C, kill -9, a daemon
// stopped): nothing goes on with it until `run resume --foreground` or a daemon takes it up.
bool Interrupted(const Run& run, const std::optional<std::string>& holder) {
  const bool owned_state = run.state == RunState::kRunning || run.state == RunState::kPausing ||
                           run.state == RunState::kStopping;
  return owned_state && !holder;
}

// Claims `home` for a run in this process, before anything is stored: refused while a daemon serves it
// (it would take the stored run up and spend on it too).
Result<UniqueFd> ClaimForForeground(const fs::path& home, const std::string& what) {
  if (DaemonRunning(home)) {
    return Status::FailedPrecondition("a daemon serves " + home.string() +
                                      "; hand it the run instead (without --foreground); nothing was stored");
  }
  return LockHomeForRuns(home, what);
}

// Ctrl-C (or SIGTERM) once: the run stops cleanly, once the work in flight is done, and says so. Twice: at
// once. Nothing committed is lost either way (every sandbox dies with lineage; the next start goes on).
std::atomic<bool> foreground_stop{false};
void OnForegroundSignal(int) {
  if (foreground_stop.exchange(true)) {
    constexpr char kNow[] = "\nstopped at once; nothing committed is lost\n";
    (void)!write(STDERR_FILENO, kNow, sizeof kNow - 1);
    _exit(130);
  }
  constexpr char kAck[] = "\nstopping: waiting for the work in flight (a task run or a build) to end; Ctrl-C again "
                          "stops at once, losing nothing committed\n";
  (void)!write(STDERR_FILENO, kAck, sizeof kAck - 1);
}

// Runs `run` in this process, which holds `home_lock` (ClaimForForeground), until it ends or is stopped.
// On a terminal the run's view (as `run status --watch` draws it) is redrawn every second; elsewhere each
// step is a line. A run stopped by a signal exits 130, the shell's code for it.
Status RunInForeground(Archive& archive, RunId run, bool unsafe, UniqueFd home_lock) {
  SetHomeHolder(home_lock, "run " + std::to_string(run) + " in the foreground");
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, Sandbox::Create(unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));
  std::signal(SIGINT, OnForegroundSignal);
  std::signal(SIGTERM, OnForegroundSignal);
  LINEAGE_RETURN_IF_ERROR(RepairHome(archive));
  EvolutionOptions options;
  options.home = archive.home();
  options.sandbox = sandbox.get();
  options.stop = &foreground_stop;
  const bool tty = isatty(STDERR_FILENO);
  std::atomic<bool> done{false};
  std::thread view;
  if (tty) {
    view = std::thread([&] {
      while (!done) {
        auto text = RunView(archive, run);
        if (text.ok() && !foreground_stop) {
          std::fprintf(stderr, "\033[H\033[2J%s(Ctrl-C stops the run; `lineage run resume %lld --foreground` goes on)\n",
                       text->c_str(), static_cast<long long>(run));
        }
        for (int i = 0; i < 10 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  } else {
    options.on_progress = [](const std::string& line) {
      std::fprintf(stderr, "%s %s\n", FormatTimestamp(NowMillis()).substr(11, 8).c_str(), line.c_str());
    };
    std::fprintf(stderr, "run %lld: running in the foreground (Ctrl-C stops it; `lineage run resume %lld --foreground` goes on)\n",
                 static_cast<long long>(run), static_cast<long long>(run));
  }
  auto state = RunEvolution(archive, run, options);
  done = true;
  if (view.joinable()) view.join();
  if (!state.ok()) return state.status();
  LINEAGE_ASSIGN_OR_RETURN(Run ended, archive.GetRun(run));
  const std::string why = *state == RunState::kPaused || *state == RunState::kFailed ? StateReason(archive, ended) : "";
  std::printf("run %lld: %s%s\n", static_cast<long long>(run), StateName(*state), why.empty() ? "" : (": " + why).c_str());
  if (foreground_stop) {
    std::printf("run %lld: stopped by a signal; `lineage run resume %lld --foreground` goes on\n",
                static_cast<long long>(run), static_cast<long long>(run));
    std::fflush(stdout);
    std::exit(130);
  }
  return Status::OK();
}

Status Start(const RunArgs& args, const fs::path& home, bool home_given) {
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, LoadRunConfig(args.config));
  if (!args.models.empty()) LINEAGE_RETURN_IF_ERROR(OverrideModels(config, args.models));
  // The configuration's home applies unless the command line named one.
  const fs::path run_home = !config.home.empty() && !home_given ? config.home : home;
  if (!args.foreground) {
    // The daemon runs the full check (suites, stages, seed) itself and answers with any error.
    json request = {{"op", "start"}, {"config", fs::absolute(args.config).string()}};
    if (!args.models.empty()) request["models"] = fs::absolute(args.models).string();
    LINEAGE_ASSIGN_OR_RETURN(json reply, CallDaemon(run_home, request));
    std::printf("run %lld: queued; the daemon started it (lineage run status %lld)\n",
                static_cast<long long>(reply.value("run", 0)), static_cast<long long>(reply.value("run", 0)));
    return Status::OK();
  }
  LINEAGE_RETURN_IF_ERROR(CheckRunConfig(config));
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Init(run_home));
  LINEAGE_ASSIGN_OR_RETURN(UniqueFd lock, ClaimForForeground(archive->home(), "a run in the foreground"));
  LINEAGE_ASSIGN_OR_RETURN(RunId run, CreateRun(*archive, config));
  return RunInForeground(*archive, run, args.unsafe, std::move(lock));
}

// A run's summary as the dashboard shows it (web/web.h): one source for every view.
Result<json> Summary(Archive& archive, RunId run) { return web::RunSummaryJson(archive, run); }

Status List(const RunArgs& args, const fs::path& home) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Run> runs, archive->ListRuns());
  json out = json::array();
  const std::optional<std::string> holder = HomeHolder(home);
  for (const Run& r : runs) {
    LINEAGE_ASSIGN_OR_RETURN(json summary, Summary(*archive, r.id));
    summary["run"] = summary["id"];
    summary["interrupted"] = Interrupted(r, holder);
    out.push_back(summary);
  }
  if (args.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  std::printf("%-4s  %-20s  %-11s  %-9s  %-8s  %-6s  %s\n", "RUN", "NAME", "STATUS", "CHILDREN", "ADMITTED", "BEST", "COST");
  for (const json& r : out) {
    std::string children = std::to_string(r["children"].get<int>()) + "/" +
                           (r["children_wanted"].is_null() ? "?" : std::to_string(r["children_wanted"].get<int>()));
    char best[16] = "-";
    if (!r["best_score"].is_null()) std::snprintf(best, sizeof(best), "%.3f", r["best_score"].get<double>());
    const std::string status = r["interrupted"].get<bool>() ? "interrupted" : r["status"].get<std::string>();
    std::printf("%-4lld  %-20s  %-11s  %-9s  %-8d  %-6s  $%.4f\n", static_cast<long long>(r["run"].get<RunId>()),
                r["name"].get<std::string>().c_str(), status.c_str(), children.c_str(), r["admitted"].get<int>(), best,
                r.value("cost_usd", 0.0));
  }
  if (std::any_of(out.begin(), out.end(), [](const json& r) { return r["interrupted"].get<bool>(); })) {
    std::printf("interrupted: no process runs it; `lineage run resume RUN --foreground` or `lineage daemon` goes on\n");
  }
  return Status::OK();
}

// The terminal view of a run: progress, best score, spend, the children in flight with their stage and
// results so far, and the latest events.
// Where the money went: by purpose, to calls that failed, and what an admitted child and a point of best
// score (a percentage point over the seed's) cost.
std::string SpendLines(Archive& archive, const Run& run, const json& summary) {
  auto breakdown = archive.RunSpendBreakdown(run.id);
  if (!breakdown.ok()) return "";
  std::string out = "  by purpose:";
  char part[160];
  for (const auto& [purpose, spend] : breakdown->by_purpose) {
    std::snprintf(part, sizeof(part), " %s $%.4f (%lld calls);", purpose.c_str(), spend.cost_usd,
                  static_cast<long long>(spend.calls));
    out += part;
  }
  std::snprintf(part, sizeof(part), " failed calls: %lld ($%.4f)\n", static_cast<long long>(breakdown->failed.calls),
                breakdown->failed.cost_usd);
  out += part;
  if (breakdown->cache_read_tokens + breakdown->cache_write_tokens > 0) {
    std::snprintf(part, sizeof(part), "  prompt cache: %lld of %lld input tokens read from it (%.0f%%), %lld written\n",
                  static_cast<long long>(breakdown->cache_read_tokens), static_cast<long long>(breakdown->input_tokens),
                  breakdown->input_tokens ? 100.0 * breakdown->cache_read_tokens / breakdown->input_tokens : 0.0,
                  static_cast<long long>(breakdown->cache_write_tokens));
    out += part;
  }
  const double cost = summary.value("cost_usd", 0.0);
  const int admitted = summary.value("admitted", 0);
  if (admitted > 0) {
    std::snprintf(part, sizeof(part), "  per admitted child: $%.4f", cost / admitted);
    out += part;
    auto seed = run.seed_agent_id ? archive.GetAgent(*run.seed_agent_id) : Result<Agent>(Status::NotFound("no seed"));
    if (seed.ok() && seed->score && !summary["best_score"].is_null() && summary["best_score"].get<double>() > *seed->score) {
      std::snprintf(part, sizeof(part), "; per point of best score gained: $%.4f",
                    cost / ((summary["best_score"].get<double>() - *seed->score) * 100));
      out += part;
    }
    out += "\n";
  }
  return out;
}

// A Slurm run's jobs in the queue, each pending one with Slurm's reason ("Resources", "Priority", ...).
json ClusterJobs(const fs::path& home, const Run& run) {
  auto config = StoredRunConfig(run);
  if (!config.ok() || config->executor.kind != ExecutorConfig::Kind::kSlurm) return nullptr;
  auto jobs = ListSlurmJobs(SlurmJobPrefix(home, run.id));
  if (!jobs.ok()) return {{"error", jobs.status().message()}};
  json out = json::array();
  for (const SlurmJob& j : *jobs) out.push_back({{"id", j.id}, {"name", j.name}, {"state", j.state}, {"reason", j.reason}});
  return out;
}

std::string ClusterView(const fs::path& home, const Run& run) {
  const json jobs = ClusterJobs(home, run);
  if (jobs.is_null()) return "";
  if (jobs.is_object()) return "cluster: cannot list the run's jobs: " + jobs["error"].get<std::string>() + "\n";
  int running = 0;
  std::string pending;
  for (const json& j : jobs) {
    if (j["state"] == "RUNNING") ++running;
    if (j["state"] == "PENDING") pending += "  job " + j["id"].get<std::string>() + " pending: " + j["reason"].get<std::string>() + "\n";
  }
  return "cluster: " + std::to_string(jobs.size()) + " job(s) queued, " + std::to_string(running) + " running\n" + pending;
}

Result<std::string> RunView(Archive& archive, RunId id) {
  LINEAGE_ASSIGN_OR_RETURN(Run run, archive.GetRun(id));
  LINEAGE_ASSIGN_OR_RETURN(json s, Summary(archive, id));
  char line[512];
  std::string out;
  std::snprintf(line, sizeof(line), "run %lld (%s): %s\n", static_cast<long long>(run.id), run.name.c_str(),
                StateName(run.state));
  out += line;
  if (Interrupted(run, HomeHolder(archive.home()))) {
    out += run.state == RunState::kStopping
               ? "interrupted: no process runs it; `lineage run stop " + std::to_string(run.id) + "` completes the stop\n"
               : "interrupted: no process runs it; `lineage run resume " + std::to_string(run.id) +
                     " --foreground` or `lineage daemon` goes on\n";
  } else if (std::string why = StateReason(archive, run); !why.empty()) {
    out += "why: " + why + "\n";
  }
  if (const journal::RunOrigin origin = RunOrigin(run); origin.kind == journal::RunOrigin::Kind::kFork) {
    std::snprintf(line, sizeof(line), "origin: fork of run %lld from agent #%lld\n", static_cast<long long>(origin.run),
                  static_cast<long long>(origin.agent));
    out += line;
  } else if (origin.replay()) {
    out += "origin: replay of run " + std::to_string(origin.run) + " of " + (origin.home.empty() ? "?" : origin.home) + "\n";
  }
  std::snprintf(line, sizeof(line), "children: %d of %s (%d admitted, %d rejected, %d in progress)\n",
                s["children"].get<int>(),
                s["children_wanted"].is_null() ? "?" : std::to_string(s["children_wanted"].get<int>()).c_str(),
                s["admitted"].get<int>(), s["rejected"].get<int>(), s["in_progress"].get<int>());
  out += line;
  if (!s["best_score"].is_null()) {
    // The best agent by the lower end of its 95% interval (archive/scores.h), not by a lucky mean.
    std::snprintf(line, sizeof(line), "best agent: #%lld, score %.3f", static_cast<long long>(s["best_agent"].get<AgentId>()),
                  s["best_score"].get<double>());
    out += line;
    if (s["best_interval"].is_array()) {
      std::snprintf(line, sizeof(line), " [%.3f, %.3f]", s["best_interval"][0].get<double>(), s["best_interval"][1].get<double>());
      out += line;
    }
    out += "\n";
  }
  std::snprintf(line, sizeof(line), "spend: %lld model calls, %lld tokens, $%.4f\n",
                static_cast<long long>(s.value("model_calls", 0)), static_cast<long long>(s.value("tokens", 0)),
                s.value("cost_usd", 0.0));
  out += line;
  out += SpendLines(archive, run, s);
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(id));
  std::string flying;
  for (const Agent& a : agents) {
    if (a.state != AgentState::kCommitted && a.state != AgentState::kBuilt && a.state != AgentState::kEvaluating) continue;
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive.ListEvaluations(a.id));
    int stage = 0, solved = 0;
    for (const Evaluation& e : evaluations) {
      stage = std::max(stage, e.stage);
      solved += e.outcome == Outcome::kSolved;
    }
    std::snprintf(line, sizeof(line), "  #%-5lld %-10s stage %d  %d/%zu solved so far\n", static_cast<long long>(a.id),
                  StateName(a.state), stage, solved, evaluations.size());
    flying += line;
  }
  int committed_in_flight = static_cast<int>(std::count(flying.begin(), flying.end(), '\n'));
  if (auto config = StoredRunConfig(run); config.ok()) {
    std::snprintf(line, sizeof(line), "slots: %d of %d children past their commit; at most %d sandboxes at once\n",
                  committed_in_flight, config->children_in_flight, config->sandboxes);
    out += line;
  }
  out += "in flight:" + std::string(flying.empty() ? " none\n" : "\n" + flying);
  LINEAGE_ASSIGN_OR_RETURN(json finals, FinalEvents(archive, id));
  for (const json& final : finals) out += FinalView(final);
  out += ClusterView(archive.home(), run);
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, archive.ListEvents(id));
  out += "latest:\n";
  for (std::size_t i = events.size() > 6 ? events.size() - 6 : 0; i < events.size(); ++i) {
    std::string data = events[i].data_json.size() > 100 ? events[i].data_json.substr(0, 97) + "..." : events[i].data_json;
    out += "  " + FormatTimestamp(events[i].at).substr(11, 8) + " " + events[i].kind + " " + data + "\n";
  }
  return out;
}

Status ShowStatus(const RunArgs& args, const fs::path& home) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  LINEAGE_RETURN_IF_ERROR(archive->GetRun(args.run).status());
  if (args.json) {
    LINEAGE_ASSIGN_OR_RETURN(json out, Summary(*archive, args.run));
    out["run"] = out["id"];
    LINEAGE_ASSIGN_OR_RETURN(Run run, archive->GetRun(args.run));
    out["interrupted"] = Interrupted(run, HomeHolder(home));
    out["reason"] = StateReason(*archive, run);
    if (json jobs = ClusterJobs(home, run); !jobs.is_null()) out["cluster_jobs"] = jobs;
    LINEAGE_ASSIGN_OR_RETURN(out["final"], FinalEvents(*archive, args.run));
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  const bool tty = isatty(STDOUT_FILENO);
  for (;;) {
    LINEAGE_ASSIGN_OR_RETURN(std::string view, RunView(*archive, args.run));
    // On a terminal the view redraws in place; in a pipe each refresh is appended.
    std::printf("%s%s", args.watch && tty ? "\033[H\033[2J" : "", view.c_str());
    std::fflush(stdout);
    LINEAGE_ASSIGN_OR_RETURN(Run run, archive->GetRun(args.run));
    if (!args.watch || HasEnded(run.state)) return Status::OK();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// `lineage run final RUN --suite S`: the run's best agents on a held-out set, after the run.
Status Final(const RunArgs& args, const fs::path& home) {
  if (args.top < 1) return Status::InvalidArgument("--top must be at least 1");
  if (args.parallel < 1) return Status::InvalidArgument("--parallel must be at least 1");
  if (args.sample < 0) return Status::InvalidArgument("--sample must be a number of tasks (0: every selected task)");
  if (!args.tasks.empty() && !args.subset.empty()) return Status::InvalidArgument("give --tasks or --subset, not both");
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  LINEAGE_ASSIGN_OR_RETURN(Run run, archive->GetRun(args.run));
  if (!HasEnded(run.state) && run.state != RunState::kPaused) {
    return Status::FailedPrecondition("run " + std::to_string(run.id) + " is " + StateName(run.state) +
                                      "; its final evaluation runs once it has ended or is paused");
  }
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, StoredRunConfig(run));
  LINEAGE_RETURN_IF_ERROR(CheckModelKeys(config));
  FinalSpec final;
  final.tasks.suite = args.suite;
  final.tasks.tasks = args.tasks;
  final.tasks.subset = args.subset;
  final.tasks.sample = args.sample;
  final.top = args.top;
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, Sandbox::Create(args.unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));
  FinalOptions options;
  options.runtime = RunRuntime(config, home);
  options.runtime.gateway_host.clear();  // the final runs here, in a local sandbox, whatever the run's executor
  options.sandbox = sandbox.get();
  options.parallel = args.parallel;
  if (!args.json) {
    options.on_progress = [](const std::string& line) {
      if (line.rfind("final {", 0) != 0) std::fprintf(stderr, "%s\n", line.c_str());
    };
  }
  LINEAGE_RETURN_IF_ERROR(EvaluateFinal(*archive, run.id, config, final, options).status());
  LINEAGE_ASSIGN_OR_RETURN(json finals, FinalEvents(*archive, run.id));
  if (args.json) {
    std::printf("%s\n", finals.back().dump(2).c_str());
  } else {
    std::printf("%s", FinalView(finals.back()).c_str());
  }
  return Status::OK();
}

// `lineage run replay RUN --to NEWHOME`: RUN again, every model call answered from its record.
Status Replay(const RunArgs& args, const fs::path& home) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  LINEAGE_ASSIGN_OR_RETURN(auto sandbox, Sandbox::Create(args.unsafe ? Sandbox::Backend::kNone : Sandbox::Backend::kBwrap));
  static std::atomic<bool> stop{false};
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });
  ReplayOptions options;
  options.to = fs::absolute(args.to);
  options.allow_exec = args.allow_exec;
  options.sandbox = sandbox.get();
  options.stop = &stop;
  options.on_progress = [](const std::string& line) {
    std::fprintf(stderr, "%s %s\n", FormatTimestamp(NowMillis()).substr(11, 8).c_str(), line.c_str());
  };
  std::fprintf(stderr, "replaying run %lld into %s: every model call is answered from its record\n",
               static_cast<long long>(args.run), args.to.c_str());
  LINEAGE_ASSIGN_OR_RETURN(ReplayReport report, ReplayRun(*archive, args.run, options));
  std::printf("replay of run %lld: run %lld of %s, %s; %lld model calls answered from the record\n",
              static_cast<long long>(args.run), static_cast<long long>(report.run), args.to.c_str(),
              StateName(report.state), static_cast<long long>(report.calls));
  for (std::size_t i = 0; i < report.notes.size() && i < 20; ++i) std::printf("note: %s\n", report.notes[i].c_str());
  if (report.notes.size() > 20) std::printf("note: ... and %zu more\n", report.notes.size() - 20);
  if (!report.divergence.empty()) {
    std::printf("diverged at %s\n", report.divergence.c_str());
    return Status::FailedPrecondition("the replay of run " + std::to_string(args.run) + " diverged from its record");
  }
  if (!report.differences.empty()) {
    for (const std::string& d : report.differences) std::printf("differs: %s\n", d.c_str());
    return Status::FailedPrecondition("the replay of run " + std::to_string(args.run) + " ended with another tree");
  }
  std::printf("the same tree: %d agents with the same parents, statuses, reasons, scores and source trees\n", report.agents);
  return Status::OK();
}

// `lineage run fork RUN --from AGENT`: a new run from one of RUN's agents, queued (or run here).
Status Fork(const RunArgs& args, const fs::path& home) {
  if (!args.foreground && DaemonRunning(home)) {
    json request = {{"op", "fork"}, {"run", args.run}, {"from", args.from}};
    if (!args.config.empty()) request["config"] = fs::absolute(args.config).string();
    if (!args.models.empty()) request["models"] = fs::absolute(args.models).string();
    LINEAGE_ASSIGN_OR_RETURN(json reply, CallDaemon(home, request));
    std::printf("run %lld: fork of run %lld from agent #%lld; the daemon started it (lineage run status %lld)\n",
                static_cast<long long>(reply.value("run", 0)), static_cast<long long>(args.run),
                static_cast<long long>(args.from), static_cast<long long>(reply.value("run", 0)));
    return Status::OK();
  }
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  UniqueFd lock;
  if (args.foreground) {
    LINEAGE_ASSIGN_OR_RETURN(lock, ClaimForForeground(home, "a fork in the foreground"));
  }
  ForkOptions options;
  options.from = args.run;
  options.agent = args.from;
  options.config = args.config;
  options.models = args.models;
  LINEAGE_ASSIGN_OR_RETURN(RunId run, ForkRun(*archive, options));
  std::printf("run %lld: fork of run %lld from agent #%lld, queued\n", static_cast<long long>(run),
              static_cast<long long>(args.run), static_cast<long long>(args.from));
  if (args.foreground) return RunInForeground(*archive, run, args.unsafe, std::move(lock));
  std::printf("no daemon is running: `lineage daemon` starts it, or `lineage run resume %lld --foreground`\n",
              static_cast<long long>(run));
  return Status::OK();
}

// Pause, resume and stop go to the daemon when one runs; otherwise the archive records the wish, which a
// daemon (or `run resume --foreground`) reads when it starts.
Status Control(const RunArgs& args, const fs::path& home, const std::string& op) {
  const bool here = op == "resume" && args.foreground;
  if (here && DaemonRunning(home)) {
    return Status::FailedPrecondition("a daemon serves " + home.string() + "; `lineage run resume " +
                                      std::to_string(args.run) + "` (without --foreground) hands it the run");
  }
  if (args.raise.children || args.raise.cost_usd || args.raise.tokens || args.raise.task_evaluations) {
    LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
    LINEAGE_ASSIGN_OR_RETURN(RunState raised, RaiseBudget(*archive, args.run, args.raise));
    std::printf("run %lld: budget raised (%s)\n", static_cast<long long>(args.run), StateName(raised));
  }
  if (!args.models.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
    LINEAGE_RETURN_IF_ERROR(ReplaceRunModels(*archive, args.run, args.models));
    std::printf("run %lld: models from %s\n", static_cast<long long>(args.run), fs::absolute(args.models).c_str());
  }
  if (DaemonRunning(home)) {
    LINEAGE_ASSIGN_OR_RETURN(json reply, CallDaemon(home, {{"op", op}, {"run", args.run}}));
    std::printf("run %lld: %s\n", static_cast<long long>(args.run), reply.value("status", "").c_str());
    return Status::OK();
  }
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  // No daemon. Unless a foreground process runs the home's runs, this one holds the home for a moment:
  // nothing runs the run then, so a pause or a stop has no work in flight to wait for and completes now.
  Result<UniqueFd> lock = LockHomeForRuns(home, "`lineage run " + op + "`");
  if (here && !lock.ok()) return lock.status();
  LINEAGE_ASSIGN_OR_RETURN(RunState state, ApplyControl(*archive, args.run, *ParseRunControl(op)));
  if (lock.ok() && (state == RunState::kPausing || state == RunState::kStopping)) {
    const RunState settled = state == RunState::kPausing ? RunState::kPaused : RunState::kStopped;
    LINEAGE_RETURN_IF_ERROR(archive->SetRunState(args.run, settled, json{{"control", op}, {"reason", op + " while no process ran it"}}.dump()));
    std::printf("run %lld: %s\n", static_cast<long long>(args.run), StateName(settled));
    return Status::OK();
  }
  if (here) return RunInForeground(*archive, args.run, args.unsafe, std::move(lock).value());
  std::printf("run %lld: %s (no daemon is running; `lineage daemon` acts on it)\n", static_cast<long long>(args.run),
              StateName(state));
  return Status::OK();
}

Status Logs(const RunArgs& args, const fs::path& home) {
  LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(home));
  LINEAGE_RETURN_IF_ERROR(archive->GetRun(args.run).status());
  std::int64_t last = 0;
  for (;;) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, archive->ListEvents(args.run));
    for (const Event& e : events) {
      if (e.id <= last) continue;
      last = e.id;
      if (args.json) {
        json line = {{"id", e.id}, {"at", FormatTimestamp(e.at)}, {"kind", e.kind},
                     {"agent", e.agent_id ? json(*e.agent_id) : json(nullptr)}, {"data", json::parse(e.data_json, nullptr, false)}};
        std::printf("%s\n", line.dump().c_str());
      } else {
        std::printf("%s  %-16s %s\n", FormatTimestamp(e.at).c_str(), e.kind.c_str(), e.data_json.c_str());
      }
    }
    std::fflush(stdout);
    if (!args.follow) return Status::OK();
    LINEAGE_ASSIGN_OR_RETURN(Run run, archive->GetRun(args.run));
    if (HasEnded(run.state)) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

void RegisterRunCommands(CLI::App& app, Context& ctx) {
  auto* run = app.add_subcommand("run", "Evolution runs: validate a configuration, start, watch and control runs");
  run->require_subcommand(1);
  auto args = std::make_shared<RunArgs>();

  auto* validate = run->add_subcommand("validate", "Check a run configuration without starting anything");
  validate->add_option("CONFIG", args->config, "the run configuration (TOML)")->required();
  validate->add_flag("--probe", args->probe, "also call each model the run's roles use once, with a tiny prompt");
  validate->add_option("--models", args->models, "a models file to use instead of the configuration's (as run start)");
  validate->callback([&ctx, args] { ctx.action = [args, &ctx] { return Validate(*args, ctx.home); }; });

  auto* start = run->add_subcommand("start", "Hand a run to the daemon (or run it here with --foreground)");
  start->add_option("CONFIG", args->config, "the run configuration (TOML)")->required();
  start->add_flag("--foreground", args->foreground, "run in this process with live progress");
  start->add_option("--models", args->models, "a models file to use instead of the configuration's `models`");
  start->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
  start->callback([&ctx, args] { ctx.action = [args, &ctx] { return Start(*args, ctx.home, ctx.home_given); }; });

  auto* list = run->add_subcommand("list", "List the runs of the archive");
  list->add_flag("--json", args->json, "print JSON");
  list->callback([&ctx, args] { ctx.action = [args, &ctx] { return List(*args, ctx.home); }; });

  auto* status = run->add_subcommand("status", "One run: status, children, best score, spend");
  status->add_option("RUN", args->run, "the run id")->required();
  status->add_flag("--json", args->json, "print JSON");
  status->add_flag("--watch", args->watch, "redraw every second until the run ends: children in flight, stages, "
                                          "scores, spend, latest events");
  status->callback([&ctx, args] { ctx.action = [args, &ctx] { return ShowStatus(*args, ctx.home); }; });

  for (const char* op : {"pause", "resume", "stop"}) {
    auto* cmd = run->add_subcommand(op, std::string(op) == "pause"    ? "Start no new children; those in flight finish"
                                        : std::string(op) == "resume" ? "Go on with a paused or interrupted run"
                                                                      : "Stop a run for good");
    cmd->add_option("RUN", args->run, "the run id")->required();
    if (std::string(op) == "resume") {
      cmd->add_flag("--foreground", args->foreground, "resume in this process instead of the daemon");
      cmd->add_option("--children", args->raise.children, "raise the number of children the run makes");
      cmd->add_option("--cost-usd", args->raise.cost_usd, "raise the run's dollar budget (a finished run goes on)");
      cmd->add_option("--tokens", args->raise.tokens, "raise the run's token budget");
      cmd->add_option("--task-evaluations", args->raise.task_evaluations, "raise an hgm run's task-evaluation budget");
      cmd->add_option("--models", args->models, "a models file to use from now on instead of the run's (a wrong "
                                                "base_url or key variable fixed)");
      cmd->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
    }
    cmd->callback([&ctx, args, op] { ctx.action = [args, &ctx, op] { return Control(*args, ctx.home, op); }; });
  }

  auto* final = run->add_subcommand("final", "Evaluate a run's best agents (by the lower end of their score's interval) "
                                             "on a held-out suite; the results are reported apart from their scores");
  final->add_option("RUN", args->run, "the run id")->required();
  final->add_option("--suite", args->suite, "the held-out suite: one of the run's [suites.*], KIND:PATH, or starter")
      ->required();
  final->add_option("--top", args->top, "how many of the run's best admitted agents")->capture_default_str();
  final->add_option("--tasks", args->tasks, "task ids or glob patterns of the suite (default: all)")->delimiter(',');
  final->add_option("--subset", args->subset, "a subset the suite defines");
  final->add_option("--sample", args->sample, "draw this many of the selected tasks");
  final->add_option("--parallel", args->parallel, "tasks at a time")->capture_default_str();
  final->add_flag("--json", args->json, "print JSON");
  final->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
  final->callback([&ctx, args] { ctx.action = [args, &ctx] { return Final(*args, ctx.home); }; });

  auto* replay = run->add_subcommand("replay", "Run RUN again in a new home, every model call answered from RUN's "
                                               "record (no provider needed), and compare the trees");
  replay->add_option("RUN", args->run, "the recorded run")->required();
  replay->add_option("--to", args->to, "a new home for the replay")->required();
  replay->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
  replay->add_flag("--allow-exec", args->allow_exec,
                   "run an exec suite the run's configuration names (its program runs on this host, unsandboxed)");
  replay->callback([&ctx, args] { ctx.action = [args, &ctx] { return Replay(*args, ctx.home); }; });

  auto* fork = run->add_subcommand("fork", "Start a new run whose seed is an agent of RUN, keeping that agent's "
                                           "task results where the stages are the same");
  fork->add_option("RUN", args->run, "the run forked from")->required();
  fork->add_option("--from", args->from, "an admitted agent of RUN: the new run's seed")->required();
  fork->add_option("--config", args->config, "a run configuration for the new run (default: RUN's, as its file gave it)");
  fork->add_option("--models", args->models, "a models file to use instead of the configuration's (as run start)");
  fork->add_flag("--foreground", args->foreground, "run it in this process with live progress");
  fork->add_flag("--unsafe-no-sandbox", args->unsafe, "run WITHOUT isolation (only for code you trust)");
  fork->callback([&ctx, args] { ctx.action = [args, &ctx] { return Fork(*args, ctx.home); }; });

  auto* logs = run->add_subcommand("logs", "A run's events: children started, diagnosed, admitted, rejected...");
  logs->add_option("RUN", args->run, "the run id")->required();
  logs->add_flag("--follow,-f", args->follow, "keep printing until the run ends");
  logs->add_flag("--json", args->json, "one JSON object per line");
  logs->callback([&ctx, args] { ctx.action = [args, &ctx] { return Logs(*args, ctx.home); }; });
}

}  // namespace lineage::cli

namespace lineage::cli {

void RegisterDaemonCommand(CLI::App& app, Context& ctx) {
  auto unsafe = std::make_shared<bool>(false);
  auto http = std::make_shared<std::string>(), http_token = std::make_shared<std::string>();
  auto http_hosts = std::make_shared<std::vector<std::string>>();
  auto* daemon = app.add_subcommand("daemon", "Run evolution runs in the background: a control API on "
                                              "HOME/daemon.sock; resumes unfinished runs; SIGTERM stops cleanly");
  daemon->add_flag("--unsafe-no-sandbox", *unsafe, "run WITHOUT isolation (only for code you trust)");
  daemon->add_option("--http", *http, "serve the read-only dashboard at HOST:PORT (off by default; a non-loopback "
                                      "address requires a token)");
  daemon->add_option("--http-token", *http_token, "the dashboard's token (default: generated for non-loopback "
                                                  "addresses, into HOME/dashboard-token)")
      ->envname("LINEAGE_DASHBOARD_TOKEN");
  daemon->add_option("--http-host", *http_hosts, "another name the dashboard answers to on loopback, as a browser's "
                                                 "Host header gives it (repeatable)")
      ->allow_extra_args(false);
  daemon->callback([&ctx, unsafe, http, http_token, http_hosts] {
    ctx.action = [&ctx, unsafe, http, http_token, http_hosts] {
      static std::atomic<bool> stop{false};
      std::signal(SIGINT, [](int) { stop = true; });
      std::signal(SIGTERM, [](int) { stop = true; });
      auto progress = [](const std::string& line) {
        std::fprintf(stderr, "%s %s\n", FormatTimestamp(NowMillis()).c_str(), line.c_str());
      };
      // The dashboard reads the archive through a connection of its own, opened once the daemon holds the
      // home; it stops after the daemon has stopped its runs.
      std::unique_ptr<Archive> dashboard_archive;
      std::unique_ptr<web::Dashboard> dashboard;
      DaemonOptions options;
      options.home = ctx.home;
      options.unsafe_no_sandbox = *unsafe;
      options.on_progress = progress;
      if (!http->empty()) {
        options.on_serving = [&]() -> Status {
          LINEAGE_ASSIGN_OR_RETURN(dashboard_archive, Archive::Open(ctx.home));
          LINEAGE_ASSIGN_OR_RETURN(dashboard, web::Dashboard::Start(*dashboard_archive, {ctx.home, *http, *http_token, *http_hosts}));
          spdlog::info("{}", dashboard->Banner());
          progress(dashboard->Banner());
          return Status::OK();
        };
      }
      Status status = RunDaemon(options, stop);
      dashboard.reset();
      return status;
    };
  });
}

}  // namespace lineage::cli
