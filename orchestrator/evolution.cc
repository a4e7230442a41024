#include "orchestrator/evolution.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <set>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <semaphore>
#include <thread>

#include "archive/journal.h"
#include "base/files.h"
#include "harness/harness.h"
#include "llm/gateway.h"
#include "orchestrator/final.h"
#include "orchestrator/prompts.h"
#include "orchestrator/runs.h"
#include "orchestrator/selection.h"
#include "orchestrator/verdict.h"
#include "sandbox/slurm.h"
#include "sandbox/throttled_sandbox.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kDiagnosisAttempts = 3;               // DGM retries unparsable JSON up to 3 times
constexpr int kMaxConsecutiveFailures = 3;          // attempts that fail before a child exists


// Whether two trees hold the same entries, whatever order they were read in (git's tree walk and a
// directory walk order "a.txt" and "a/x" differently).
bool SameTree(std::vector<TreeEntry> a, std::vector<TreeEntry> b) {
  auto by_path = [](const TreeEntry& x, const TreeEntry& y) { return x.path < y.path; };
  std::sort(a.begin(), a.end(), by_path);
  std::sort(b.begin(), b.end(), by_path);
  return a == b;
}

// Why a run stopped starting work: its kind decides how the run ends (Evolution::Finish), its text is the
// reason its record gives.
struct StopReason {
  enum class Kind {
    kNone,
    kStopRequested,  // this process is stopping (a signal, the daemon stopping): the run goes on next time
    kPausing,        // a person paused the run
    kStopping,       // a person stopped the run
    kBudget,         // a budget of the run is spent
    kFaults,         // the world's faults outlasted the run's patience
    kLowDisk,        // the home's file system is too full
    kConfig,         // the configuration cannot work (a model nobody answers for)
  };
  Kind kind = Kind::kNone;
  std::string text;
  bool empty() const { return kind == Kind::kNone; }
  bool Is(Kind k) const { return kind == k; }
};

// How a piece of the run's work ended (evaluating the seed, making a child, finishing one), when lineage
// itself did not fail: an error is fatal to the run.
struct Step {
  enum class End {
    kDone,         // done: the agents involved are judged by what they did
    kRedo,         // no child came of it for a reason that is no one's fault lineage can name (an unusable
                   // diagnosis): redone; kMaxConsecutiveFailures in a row fail the run
    kWorldFault,   // a model call failed for the provider's or the configuration's reasons: redone after a
                   // backoff, with the same draws, until the run's patience runs out and it pauses
    kBudgetSpent,  // the run's budget refused a call: nothing new starts, and the run finishes
  };
  End end = End::kDone;
  std::string why;  // all but kDone
  static Step Done() { return {End::kDone, ""}; }
};

// A recorded task run that stands as a result: one the world or the budget cut short is run again.
bool IsResult(const Evaluation& e) { return e.outcome != outcome::kFaulted && e.outcome != outcome::kOutOfBudget; }
// A result that says something of its agent: skipped runs (a toolchain missing here) do not.
bool Counts(const Evaluation& e) { return IsResult(e) && e.outcome != outcome::kSkipped; }

std::string TaskKey(const std::string& suite, const std::string& task) { return suite + "\t" + task; }

// The tasks (TaskKey) an agent has results for, held-out runs (stage 0, [[final]]) aside.
std::set<std::string> ResultKeys(const std::vector<Evaluation>& evaluations) {
  std::set<std::string> keys;
  for (const Evaluation& e : evaluations) {
    if (IsResult(e) && e.stage > 0) keys.insert(TaskKey(e.suite, e.task_id));
  }
  return keys;
}

// A diagnosis: the model's answer, or why there is none.
struct Diagnosis {
  enum class Refusal { kNone, kBudget, kWorldFault, kInvalidAnswer, kLineage /* lineage could not record it */ };
  json answer;
  Refusal refusal = Refusal::kNone;
  std::string why;
};

struct Problem {
  std::string kind;     // "failed_task" | "empty_patches" | "no_evaluations" | "all_solved"
  std::string task_id;  // empty for a systemic problem
  std::string text;     // for the diagnosis prompt
};

class Evolution {
 public:
  Evolution(Archive& archive, Run run, RunConfig config, const EvolutionOptions& options)
      : archive_(archive), run_(std::move(run)), config_(std::move(config)), options_(options) {}

  Result<RunState> Run() {
    // Work the world interrupted (a provider outage, a spent budget) leaves its agent where it was; it is
    // taken up again here, after a resume.
    if (run_.state != RunState::kQueued && run_.state != RunState::kRunning) {
      return Status::FailedPrecondition("run " + std::to_string(run_.id) + " is " + StateName(run_.state) +
                                        "; resume it first (`lineage run resume " + std::to_string(run_.id) + "`)");
    }
    if (Status s = Setup(); !s.ok()) return Fail(s);
    const json started = {{"children_wanted", config_.children}, {"children_made", made_}};
    if (run_.state == RunState::kQueued) {
      LINEAGE_RETURN_IF_ERROR(archive_.SetRunState(run_.id, RunState::kRunning, started.dump()));
      Progress("run.running " + started.dump());
    } else {
      Note("run.resumed", started);  // after the process running it was killed, or a daemon's stop
    }
    if (std::string low = LowDisk(); !low.empty()) {
      stop_reason_ = {StopReason::Kind::kLowDisk, low};
      low_disk_ = true;
      StopServing();
      return Finish();
    }
    if (std::string wrong = UnreachableBeforeFirstAnswer(); !wrong.empty()) {
      stop_reason_ = {StopReason::Kind::kConfig, wrong};
      config_paused_ = true;
      StopServing();
      return Finish();
    }
    for (;;) {
      Result<Step> seed = LostIsWorldFault(EvaluateSeed());
      if (!seed.ok()) return Fail(seed.status());
      if (seed->end == Step::End::kDone) {
        fault_since_.reset();
        break;
      }
      if (seed->end == Step::End::kBudgetSpent) {
        stop_reason_ = {StopReason::Kind::kBudget, "budget: a model call was refused (" + seed->why + ")"};
        StopServing();
        return Finish();
      }
      if (!AbsorbFault("seed", seed->why)) {
        if (stop_reason_.empty()) {
          stop_reason_ = options_.stop && options_.stop->load() ? StopReason{StopReason::Kind::kStopRequested, "stop requested"}
                                                                : StopReason{StopReason::Kind::kPausing, "pausing"};
        }
        StopServing();
        return Finish();
      }
    }
    if (Status s = ResumeChildren(); !s.ok()) return Fail(s);
    if (hgm()) {
      // The seed's evaluation just recorded is read again: its tasks are done.
      done_.erase(*run_.seed_agent_id);
      Result<std::int64_t> counted = CountEvaluations();
      if (!counted.ok()) return Fail(counted.status());
      evaluations_done_ = *counted;
      if (Status s = JudgeLeftovers(); !s.ok()) return Fail(s);
    }
    for (;;) {
      std::vector<std::thread> workers;
      // HGM's slots each take the next piece of work, an expansion or one task run; DGM's each make children.
      const int slots = hgm() ? std::max(config_.sandboxes, config_.children_in_flight) : config_.children_in_flight;
      for (int i = 0; i < slots; ++i) workers.emplace_back([this] { hgm() ? HgmWorker() : Worker(); });
      for (std::thread& t : workers) t.join();
      if (!fatal_.ok() || !ResumedWhileDraining()) break;
      stop_reason_ = {};  // a pause undone before it completed: a full set of workers goes on
    }
    if (fatal_.ok()) {
      if (Status s = RunFinals(); !s.ok()) return Fail(s);
    }
    StopServing();
    if (!fatal_.ok()) return Fail(fatal_);
    return Finish();
  }

  // [[final]]: once the run has done its work (not when it pauses or stops, nor when its budget is spent),
  // its top agents on each held-out set, unless an earlier process of the run did so already. A final that
  // cannot run is reported, never the run's failure: its work is done.
  Status RunFinals() {
    if (config_.evaluation.finals.empty() || stop_reason_.Is(StopReason::Kind::kStopRequested) || low_disk_ || fault_paused_) return Status::OK();
    if (options_.stop && options_.stop->load()) return Status::OK();
    LINEAGE_ASSIGN_OR_RETURN(class Run now, archive_.GetRun(run_.id));
    if (now.state != RunState::kRunning) return Status::OK();
    if (budget_spent_ || stop_reason_.Is(StopReason::Kind::kBudget)) {
      Progress("final: skipped, the run's budget is spent (" + stop_reason_.text + "); `lineage run final " +
               std::to_string(run_.id) + " --suite S` runs it");
      return Status::OK();
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, archive_.ListEvents(run_.id));
    for (std::size_t i = 0; i < config_.evaluation.finals.size(); ++i) {
      const int table = static_cast<int>(i) + 1;
      const bool done = std::any_of(events.begin(), events.end(), [&](const Event& e) {
        return e.kind == "final" && json::parse(e.data_json, nullptr, false).value("table", 0) == table;
      });
      if (done) continue;
      FinalOptions options;
      options.home = options_.home;
      options.sandbox = sandbox_.get();
      options.parallel = config_.sandboxes;
      options.table = table;
      options.shared_budget = budget_;
      options.replayer = options_.replayer;
      options.gateway_host = config_.executor.gateway_host;
      options.on_progress = [this](const std::string& line) { Progress(line); };
      if (auto ran = EvaluateFinal(archive_, run_.id, config_, config_.evaluation.finals[i], options); !ran.ok()) {
        Note("final.failed", {{"table", table}, {"error", ran.status().message()}});
      }
    }
    return Status::OK();
  }

  // The run's process lets go of it, however it ends: its gateway stops, and no job of its stays in the
  // cluster's queue.
  void StopServing() {
    gateway_->Stop();
    if (!slurm_) return;
    if (auto cancelled = CancelSlurmJobs(SlurmJobPrefix()); !cancelled.ok()) {
      spdlog::warn("slurm: cannot cancel the run's jobs: {}", cancelled.status().message());
    }
  }

  // --- Setting up ---------------------------------------------------------------------------------------
  // The names of this run's Slurm jobs begin with this: the home and the run.
  std::string SlurmJobPrefix() const { return lineage::SlurmJobPrefix(options_.home, run_.id); }

  SlurmOptions SlurmOptionsFor(const ExecutorConfig& e) const {
    SlurmOptions o;
    o.partition = e.partition;
    o.account = e.account;
    o.qos = e.qos;
    o.time_margin_s = e.time_margin_s;
    o.sbatch_args = e.sbatch_args;
    o.shared_dir = e.shared_dir;
    o.job_prefix = SlurmJobPrefix();
    o.job_prefix.pop_back();  // the executor adds its own "-"
    return o;
  }

  Status Setup() {
    if (!options_.sandbox) return Status::Internal("no sandbox to run in");
    LINEAGE_ASSIGN_OR_RETURN(prompts_, LoadPrompts());
    if (!options_.replayer) LINEAGE_RETURN_IF_ERROR(CheckModelKeys(config_));  // a replay calls no provider
    Sandbox* executor = options_.sandbox;
    if (config_.executor.kind == ExecutorConfig::Kind::kSlurm) {
      LINEAGE_ASSIGN_OR_RETURN(slurm_, CreateSlurmSandbox(SlurmOptionsFor(config_.executor)));
      // Jobs a killed process left are cancelled, never waited for: their work is redone, so that no result
      // of theirs can count twice.
      LINEAGE_ASSIGN_OR_RETURN(int cancelled, CancelSlurmJobs(SlurmJobPrefix()));
      Progress("slurm: sandboxed work goes to Slurm jobs named " + SlurmJobPrefix() + "*" +
               (cancelled > 0 ? "; cancelled " + std::to_string(cancelled) + " job(s) an earlier process left; their work is redone" : ""));
      executor = slurm_.get();
    }
    sandbox_ = std::make_unique<ThrottledSandbox>(*executor, config_.sandboxes, config_.sandbox_memory_bytes,
                                                  config_.sandbox_pids, config_.sandbox_disk_bytes);
    run_dir_ = options_.home / "runs" / ("run-" + std::to_string(run_.id));
    std::error_code ec;
    fs::remove_all(run_dir_ / "work", ec);  // scratch of attempts a crash interrupted
    fs::create_directories(run_dir_ / "work", ec);
    if (ec) return Status::IOError("cannot create " + run_dir_.string() + ": " + ec.message());

    // Budgets count what the archive recorded before a restart.
    LINEAGE_ASSIGN_OR_RETURN(Archive::Spend spent, archive_.RunSpend(run_.id));
    llm::BudgetLimits limits;
    if (config_.cost_usd) limits.cost_usd = std::max(0.0, *config_.cost_usd - spent.cost_usd);
    if (config_.tokens) limits.tokens = std::max<std::int64_t>(0, *config_.tokens - spent.tokens);
    budget_ = std::make_shared<llm::Budget>(limits);
    agent_models_ = AgentModels(config_);

    llm::GatewayOptions gateway_options;
    gateway_options.unix_socket = (run_dir_ / "gateway.sock").string();
    gateway_options.recorder = ArchiveCallRecorder(archive_);
    gateway_options.replayer = options_.replayer;
    LINEAGE_ASSIGN_OR_RETURN(gateway_, llm::Gateway::Start(config_.models, gateway_options));
    llm::ModelConfig to_gateway;
    to_gateway.alias = "diagnosis";
    // Anthropic's dialect carries prompt-cache breakpoints (the diagnosis marks one after the source
    // listing); the gateway passes them to an Anthropic upstream and drops them for an OpenAI one.
    to_gateway.provider = llm::Provider::kAnthropic;
    to_gateway.base_url = "http://lineage-gateway";
    to_gateway.prompt_cache = llm::ModelConfig::PromptCache::kOff;  // the breakpoints are the prompt's own
    to_gateway.unix_socket = gateway_options.unix_socket;
    to_gateway.model = config_.diagnosis_model;
    to_gateway.max_retries = 0;  // the gateway retries upstream; a 402 must not be retried
    if (const llm::ModelConfig* m = config_.models.FindAlias(config_.diagnosis_model)) {
      to_gateway.default_max_tokens = m->default_max_tokens;  // what the budget reserves for a diagnosis
    }
    diagnosis_model_ = to_gateway;  // each attempt gets a client with a token of its own (AttemptTag)

    started_at_ = Now();
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive_.ListAgents(run_.id));
    for (const Agent& a : agents) {
      // A child whose commit never happened (marked failed by fsck) was never made; its attempt is redone.
      if (a.id == *run_.seed_agent_id) continue;  // a seed may have a parent; it is no child of this run
      if (a.parent_id && a.state != AgentState::kFailed && a.state != AgentState::kPending) ++made_;
    }
    next_slot_ = made_;
    for (int i = 0; i < made_; ++i) made_slots_.insert(i);
    if (hgm()) {
      LINEAGE_RETURN_IF_ERROR(LoadTaskPool());
      LINEAGE_ASSIGN_OR_RETURN(evaluations_done_, CountEvaluations());
      // The draws go on from where the archive stands, so a resumed run makes the choices a run that was
      // never interrupted would have made from the same archive.
      hgm_rng_.seed(config_.random_seed ^ static_cast<std::uint64_t>(options_.draws_as_run.value_or(run_.id)) * 0x9E3779B97F4A7C15ull ^
                    static_cast<std::uint64_t>(evaluations_done_ + made_) * 0xD1B54A32D192ED03ull);
    }
    return Status::OK();
  }

  // --- The seed and resumed children ----------------------------------------------------------------------
  Result<Step> EvaluateSeed() {
    LINEAGE_ASSIGN_OR_RETURN(Agent seed, archive_.GetAgent(*run_.seed_agent_id));
    if (seed.state == AgentState::kAdmitted) return EvaluateAdmittedSeed(seed);
    Progress("seed agent " + std::to_string(seed.id) + ": building and evaluating");
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive_.Tree(seed.id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(options_.home, tree, *sandbox_, config_.build_cache_bytes));
    if (!build.built) return Status::FailedPrecondition("the seed agent does not build: " + build.failure.Describe());
    LINEAGE_RETURN_IF_ERROR(MoveToEvaluating(seed));
    LINEAGE_ASSIGN_OR_RETURN(StagedResult staged, Evaluate(seed.id, *build.built));
    if (staged.interrupted != StagedResult::Interrupted::kNo) return Interrupted(staged);
    LINEAGE_RETURN_IF_ERROR(MoveAgent(seed, AgentState::kAdmitted, "seed",
                                      {{"score", staged.score ? json(*staged.score) : json(nullptr)},
                                       {"stage_reached", staged.stage_reached}, {"seed", true}}));
    return Step::Done();
  }

  // A seed admitted before (an agent of another run, a fork's): its recorded task results stand, and only
  // the tasks of this run's stages it has not run are run, so its score is over this run's stages.
  Result<Step> EvaluateAdmittedSeed(const Agent& seed) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> recorded, archive_.ListEvaluations(seed.id));
    const std::set<std::string> done = ResultKeys(recorded);
    std::vector<StageSpec> stages = config_.evaluation.stages;
    if (hgm()) stages.resize(1);
    bool missing = false;
    for (const StageSpec& stage : stages) {
      LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites_.Open(stage.suite));
      LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
      for (const TaskInfo& t : tasks) missing |= !done.count(TaskKey(stage.suite, t.id));
    }
    if (!missing) return Step::Done();
    Progress("seed agent " + std::to_string(seed.id) + ": evaluating it on this run's tasks it has not run");
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive_.Tree(seed.id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(options_.home, tree, *sandbox_, config_.build_cache_bytes));
    if (!build.built) return Status::FailedPrecondition("the seed agent does not build: " + build.failure.Describe());
    LINEAGE_ASSIGN_OR_RETURN(StagedResult staged, Evaluate(seed.id, *build.built));
    if (staged.interrupted != StagedResult::Interrupted::kNo) return Interrupted(staged);
    return Step::Done();
  }

  // Work the executor lost (a cluster job gone: sandbox/slurm.h) is the world's fault, redone like an outage.
  static Result<Step> LostIsWorldFault(Result<Step> step) {
    if (step.ok() || step.status().code() != Status::Code::kUnavailable) return step;
    return Step{Step::End::kWorldFault, step.status().message()};
  }

  // An evaluation the world interrupted: the agent stays evaluating, to be taken up again.
  static Step Interrupted(const StagedResult& staged) {
    return {staged.interrupted == StagedResult::Interrupted::kBudget ? Step::End::kBudgetSpent : Step::End::kWorldFault,
            "evaluating " + staged.why};
  }

  // Moves `agent` on to `to` (nothing when it is there already: a resumed step), with one event, and says so.
  Status MoveAgent(Agent& agent, AgentState to, const std::string& reason = "", json data = json::object()) {
    if (agent.state == to) return Status::OK();
    data["agent"] = agent.id;
    LINEAGE_RETURN_IF_ERROR(archive_.SetAgentState(agent.id, to, reason, data.dump(), run_.id));
    agent.state = to;
    if (!reason.empty()) data["reason"] = reason;
    Progress(std::string("agent.") + StateName(to) + " " + data.dump());
    return Status::OK();
  }

  // A built agent goes on to be evaluated; one resumed from built or evaluating is not moved back.
  Status MoveToEvaluating(Agent& agent) {
    if (agent.state == AgentState::kCommitted) LINEAGE_RETURN_IF_ERROR(MoveAgent(agent, AgentState::kBuilt));
    return MoveAgent(agent, AgentState::kEvaluating);
  }

  // Children committed before a crash, a pause or an interruption continue from their build: the workers
  // take them before making new ones.
  Status ResumeChildren() {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive_.ListAgents(run_.id));
    for (Agent& a : agents) {
      if (!a.parent_id || a.id == *run_.seed_agent_id) continue;
      // Under hgm a child being evaluated is simply evaluable again: it needs no slot of its own.
      const bool evaluating = a.state == AgentState::kEvaluating && !hgm();
      if (a.state == AgentState::kCommitted || a.state == AgentState::kBuilt || evaluating) {
        Progress("agent " + std::to_string(a.id) + ": resuming (" + StateName(a.state) + ")");
        unfinished_.push_back(a);
      }
    }
    return Status::OK();
  }

  // --- The worker loop ----------------------------------------------------------------------------------
  // Each worker finishes the children the world interrupted, then makes new ones, until the run has the
  // children it wants or must stop.
  void Worker() {
    for (;;) {
      int attempt = 0, slot = -1;
      std::optional<Agent> unfinished;
      {
        std::unique_lock lock(mu_);
        StopReason why;
        if (!fatal_.ok() || (unfinished_.empty() && made_ + in_flight_ >= config_.children) || !MayGoOn(&why)) {
          if (!why.empty() && stop_reason_.empty()) stop_reason_ = why;
          return;
        }
        if (!unfinished_.empty()) {
          unfinished.emplace(std::move(unfinished_.front()));
          unfinished_.pop_front();
        } else {
          attempt = ++attempts_;
          slot = TakeSlot();
          ++in_flight_;
        }
      }
      Result<Step> r = LostIsWorldFault(unfinished ? FinishChild(*unfinished) : MakeChild(attempt, slot));
      std::unique_lock lock(mu_);
      if (!unfinished) --in_flight_;
      if (unfinished && r.ok() && r->end != Step::End::kDone) unfinished_.push_front(*unfinished);  // not judged yet
      if (!r.ok()) {
        if (fatal_.ok()) fatal_ = r.status();
        continue;  // the loop sees fatal_ and returns
      }
      // A child that exists is counted; an attempt that made none gives its slot (and its draws) back.
      if (slot >= 0 && !made_slots_.count(slot)) free_slots_.insert(slot);
      const std::string step = unfinished ? "agent " + std::to_string(unfinished->id) : "attempt " + std::to_string(attempt);
      Ended(*r, step, attempt, slot, lock);
    }
  }

  // Accounts for how a step ended (`step` names it in events). Called with `lock` (on mu_) held; a world
  // fault's backoff releases it.
  void Ended(const Step& r, const std::string& step, int attempt, int slot, std::unique_lock<std::mutex>& lock) {
    switch (r.end) {
        case Step::End::kDone:
          consecutive_failures_ = 0;
          fault_since_.reset();
          break;
        case Step::End::kBudgetSpent:
          budget_spent_ = true;
          if (stop_reason_.empty()) stop_reason_ = {StopReason::Kind::kBudget, "budget: a model call was refused (" + r.why + ")"};
          break;
        case Step::End::kRedo:
          if (slot >= 0) ++slot_redos_[slot];  // redone with fresh draws: the same parent may be why
          Note("child.failed", {{"attempt", attempt}, {"error", r.why}});
          if (++consecutive_failures_ >= kMaxConsecutiveFailures && fatal_.ok()) {
            fatal_ = Status::FailedPrecondition(std::to_string(kMaxConsecutiveFailures) +
                                                " attempts in a row made no child; the last: " + r.why);
          }
          break;
        case Step::End::kWorldFault:
          lock.unlock();
          AbsorbFault(step, r.why);
          lock.lock();
          break;
    }
  }

  // The smallest slot not taken: the i-th child is made with the i-th slot's draws, so the course of a run
  // does not depend on how many attempts the world interrupted. Called with mu_ held.
  int TakeSlot() {
    if (free_slots_.empty()) return next_slot_++;
    const int slot = *free_slots_.begin();
    free_slots_.erase(free_slots_.begin());
    return slot;
  }

  // Called with mu_ held.
  std::mt19937_64 SlotRng(int slot) {
    return std::mt19937_64(config_.random_seed ^ static_cast<std::uint64_t>(options_.draws_as_run.value_or(run_.id)) * 0x9E3779B97F4A7C15ull ^
                           (static_cast<std::uint64_t>(slot) + 1) * 0xBF58476D1CE4E5B9ull ^
                           static_cast<std::uint64_t>(slot_redos_[slot]) * 0x94D049BB133111EBull);
  }

  // Until a provider has answered one of the run's calls, a server that refuses the connection or a host
  // that does not resolve is a wrong base_url (or a server not started), not an outage: the run pauses at
  // once with what to fix, instead of waiting out its fault patience. Empty when the models can be reached,
  // when one of the run's calls was answered already, or in a replay (it calls no provider).
  std::string UnreachableBeforeFirstAnswer() {
    if (options_.replayer) return "";
    auto calls = archive_.ListRunModelCalls(run_.id);
    if (!calls.ok() || std::any_of(calls->begin(), calls->end(), [](const ModelCall& c) { return c.outcome == "ok"; })) {
      return "";
    }
    std::set<std::string> tried;
    for (const auto& [role, alias] : RoleAliases(config_)) {
      if (!tried.insert(alias).second) continue;
      const llm::ModelError e = llm::ConnectToModel(config_.models, alias);
      if (e.kind != llm::ErrorKind::kUnreachable && e.kind != llm::ErrorKind::kConfig) continue;
      return "config: the " + role + " role's model ([models." + alias + "] of " + config_.models.source +
             ") cannot be reached, and no call of this run has been answered yet: " + e.message +
             " Fix base_url (or start the server), then `lineage run resume " + std::to_string(run_.id) +
             "` (--models FILE gives the run another models file)";
    }
    return "";
  }

  // A fault of the world interrupted `step`: record it, and wait before the step is redone (1 s, doubling to
  // 30 s). False, with the run set to pause, once the faults have lasted the run's patience.
  bool AbsorbFault(const std::string& step, const std::string& why) {
    // A stop or pause asked for meanwhile wins: the step is left for the next resume.
    if (options_.stop && options_.stop->load()) return false;
    if (auto run = archive_.GetRun(run_.id);
        run.ok() && (run->state == RunState::kPausing || run->state == RunState::kStopping)) {
      return false;
    }
    std::int64_t wait_ms = 0;
    {
      std::lock_guard lock(mu_);
      const std::int64_t now = Now();
      if (!fault_since_) {
        fault_since_ = now;
        fault_first_ = why;
        fault_backoff_ms_ = 1000;
      }
      if (now - *fault_since_ >= config_.fault_patience_ms) {
        if (!fault_paused_) {
          fault_paused_ = true;
          stop_reason_ = {StopReason::Kind::kFaults,
                          "fault: the models have failed since " + FormatTimestamp(*fault_since_).substr(11, 8) +
                              " UTC (" + fault_first_ + "); `lineage run resume " + std::to_string(run_.id) +
                              "` retries, and a daemon retries by itself"};
        }
        return false;
      }
      wait_ms = fault_backoff_ms_;
      fault_backoff_ms_ = std::min<std::int64_t>(fault_backoff_ms_ * 2, 30'000);
    }
    Note("fault.absorbed", {{"step", step}, {"error", why}, {"retry_in_ms", wait_ms}});
    Sleep(wait_ms);
    return true;
  }

  void Sleep(std::int64_t ms) {
    if (options_.sleep) return options_.sleep(ms);
    for (std::int64_t slept = 0; slept < ms && !(options_.stop && options_.stop->load()); slept += 100) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::int64_t>(100, ms - slept)));
    }
  }

  // Why the home's file system is too full to go on; empty when it is not. A run pauses then, rather than
  // fail writes halfway through a child.
  std::string LowDisk() const {
    struct statvfs st;
    if (statvfs(options_.home.c_str(), &st) != 0) return "";
    const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    if (free >= config_.min_free_bytes) return "";
    auto mib = [](std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; };
    return "disk: the home's file system has " + mib(free) + " free, under [sandbox] min_free (" +
           mib(config_.min_free_bytes) + "); free some space, then `lineage run resume " + std::to_string(run_.id) + "`";
  }

  // Whether new work may start, as far as the run's state, budgets and disk go. Called with mu_ held.
  // Empty `why` with false: the run ends for a reason already given.
  bool MayGoOn(StopReason* why) {
    if (budget_spent_ || fault_paused_) return false;
    if (std::string low = LowDisk(); !low.empty()) {
      *why = {StopReason::Kind::kLowDisk, low};
      low_disk_ = true;
      return false;
    }
    if (options_.stop && options_.stop->load()) {
      *why = {StopReason::Kind::kStopRequested, "stop requested"};
      return false;
    }
    auto run = archive_.GetRun(run_.id);
    if (run.ok() && (run->state == RunState::kPausing || run->state == RunState::kStopping)) {
      *why = {run->state == RunState::kPausing ? StopReason::Kind::kPausing : StopReason::Kind::kStopping,
              StateName(run->state)};
      return false;
    }
    if (config_.wall_ms && Now() - started_at_ >= *config_.wall_ms) {
      *why = {StopReason::Kind::kBudget, "budget: wall time"};
      return false;
    }
    const llm::Spend spent = budget_->spent(), flying = budget_->in_flight();
    const llm::BudgetLimits& limits = budget_->limits();
    if (limits.cost_usd && spent.cost_usd + flying.cost_usd >= *limits.cost_usd) {
      *why = {StopReason::Kind::kBudget, "budget: cost"};
      return false;
    }
    if (limits.tokens && spent.tokens + flying.tokens >= *limits.tokens) {
      *why = {StopReason::Kind::kBudget, "budget: tokens"};
      return false;
    }
    return true;
  }

  // --- HGM's policy: every free slot expands a node or runs one more task of one -------------------------
  bool hgm() const { return config_.selection.strategy == SelectionStrategy::kHgm; }

  // One task of the run's pool: the stages' tasks in order, each once (stage thresholds do not gate under
  // hgm: Thompson sampling decides who is evaluated further).
  struct PoolTask {
    std::string suite;
    TaskInfo info;
    int stage = 1;
    std::string Key() const { return TaskKey(suite, info.id); }
  };

  Status LoadTaskPool() {
    std::set<std::string> seen;
    for (const StageSpec& stage : config_.evaluation.stages) {
      LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites_.Open(stage.suite));
      LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
      for (TaskInfo& t : tasks) {
        if (!t.unavailable.empty()) continue;  // its toolchain is missing here: no evaluation to spend on it
        PoolTask task{stage.suite, std::move(t), stage.number};
        if (seen.insert(task.Key()).second) pool_.push_back(std::move(task));
      }
    }
    return Status::OK();
  }

  // The pool's tasks `agent` has a result for (a fault's or a spent budget's run is no result). Read from
  // the archive once, then kept up to date: a recorded task evaluation is never run again. mu_ held.
  Result<std::set<std::string>*> DoneTasks(AgentId agent) {
    auto it = done_.find(agent);
    if (it != done_.end()) return &it->second;
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive_.ListEvaluations(agent));
    std::set<std::string>& done = done_[agent];
    done = ResultKeys(evaluations);
    return &done;
  }

  // The next pool task of `agent` neither done nor in flight; nullptr when none. mu_ held.
  Result<const PoolTask*> NextTask(AgentId agent) {
    LINEAGE_ASSIGN_OR_RETURN(std::set<std::string>* done, DoneTasks(agent));
    for (const PoolTask& t : pool_) {
      const std::string key = t.Key();
      if (!done->count(key) && !evaluating_.count({agent, key})) return &t;
    }
    return static_cast<const PoolTask*>(nullptr);
  }

  // The run's task evaluations so far, the seed's included (Setup reads them; each one done adds one).
  Result<std::int64_t> CountEvaluations() {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive_.ListAgents(run_.id));
    // Only the pool's tasks: a reused seed's results on other tasks are no part of this run's spending.
    std::set<std::string> pool;
    for (const PoolTask& t : pool_) pool.insert(t.Key());
    std::int64_t n = 0;
    for (const Agent& a : agents) {
      LINEAGE_ASSIGN_OR_RETURN(std::set<std::string>* done, DoneTasks(a.id));
      for (const std::string& key : *done) n += pool.count(key);
    }
    return n;
  }

  // What the policy may choose from now. mu_ held.
  Result<HgmState> HgmNow() {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<SelectionStats> all, archive_.LoadSelectionStats(run_.id));
    HgmState state;
    state.task_evaluations = evaluations_done_ + static_cast<std::int64_t>(evaluating_.size());
    // Pending: expansions whose child is not committed yet (a committed one being built is a node already).
    for (int slot : expanding_) state.pending_expansions += !made_slots_.count(slot);
    const bool children_left = made_ + state.pending_expansions < config_.children;
    state.may_evaluate = !config_.task_evaluations || state.task_evaluations < *config_.task_evaluations;
    // A child made once the task evaluations are spent could never be judged.
    state.may_expand = children_left && in_flight_ < config_.children_in_flight && state.may_evaluate;
    for (const SelectionStats& s : all) {
      if (s.state == AgentState::kFailed || s.state == AgentState::kPending) continue;
      const bool seed = s.id == *run_.seed_agent_id;
      HgmNode node{s.id, seed ? std::nullopt : s.parent_id, s.solved, s.attempted,
                   seed || s.state == AgentState::kAdmitted, false};
      // Evaluated: admitted agents and children being judged; once the children are all made, and with no
      // budget of task evaluations to spend, only children still being judged.
      const bool judged = seed || s.state == AgentState::kAdmitted;
      if ((judged && (children_left || config_.task_evaluations)) || s.state == AgentState::kEvaluating) {
        LINEAGE_ASSIGN_OR_RETURN(const PoolTask* next, NextTask(s.id));
        node.evaluable = next != nullptr;
      }
      state.nodes.push_back(node);
    }
    return state;
  }

  // A slot of HGM's policy: finishes children the world interrupted, then takes whatever DecideHgm says,
  // until nothing is left to do or the run must stop. A slot with nothing to do while others work waits
  // for them: what they finish may give it work.
  void HgmWorker() {
    for (;;) {
      std::unique_lock lock(mu_);
      std::optional<Agent> unfinished;
      HgmDecision decision;
      const PoolTask* task = nullptr;
      int attempt = 0, slot = -1;
      for (;;) {
        StopReason why;
        if (!fatal_.ok() || !MayGoOn(&why)) {
          if (!why.empty() && stop_reason_.empty()) stop_reason_ = why;
          hgm_cv_.notify_all();
          return;
        }
        if (!unfinished_.empty()) {
          unfinished.emplace(std::move(unfinished_.front()));
          unfinished_.pop_front();
          ++busy_;
          break;
        }
        Result<HgmState> now = HgmNow();
        if (!now.ok()) {
          fatal_ = now.status();
          continue;
        }
        decision = DecideHgm(config_.selection.alpha, *now, hgm_rng_);
        if (decision.action == HgmDecision::Action::kExpand) {
          attempt = ++attempts_;
          slot = TakeSlot();
          ++in_flight_;
          expanding_.insert(slot);
          break;
        }
        if (decision.action == HgmDecision::Action::kEvaluate) {
          Result<const PoolTask*> next = NextTask(decision.agent);
          if (!next.ok()) {
            fatal_ = next.status();
            continue;
          }
          task = *next;
          evaluating_.insert({decision.agent, task->Key()});
          break;
        }
        if (in_flight_ == 0 && evaluating_.empty() && busy_ == 0) {  // nothing left, and nothing coming
          if (config_.task_evaluations && now->task_evaluations >= *config_.task_evaluations && stop_reason_.empty()) {
            stop_reason_ = {StopReason::Kind::kBudget, "budget: task evaluations"};
          }
          hgm_cv_.notify_all();
          return;
        }
        hgm_cv_.wait(lock);
      }
      lock.unlock();
      std::string step;
      Result<Step> r = Step::Done();
      if (unfinished) {
        step = "agent " + std::to_string(unfinished->id);
        r = LostIsWorldFault(FinishChild(*unfinished));
      } else if (task) {
        step = "agent " + std::to_string(decision.agent) + " on " + task->info.id;
        r = LostIsWorldFault(EvaluateOne(decision.agent, *task));
      } else {
        step = "attempt " + std::to_string(attempt);
        r = LostIsWorldFault(MakeChild(attempt, slot, decision.agent));
      }
      lock.lock();
      if (unfinished) {
        --busy_;
        if (r.ok() && r->end != Step::End::kDone) unfinished_.push_front(*unfinished);
      } else if (task) {
        evaluating_.erase({decision.agent, task->Key()});
      } else {
        --in_flight_;
        expanding_.erase(slot);
        if (!made_slots_.count(slot)) free_slots_.insert(slot);
      }
      hgm_cv_.notify_all();
      if (!r.ok()) {
        if (fatal_.ok()) fatal_ = r.status();
        continue;
      }
      Ended(*r, step, attempt, slot, lock);
    }
  }

  // One task run of `agent` under HGM: recorded at once (so never run again), its stage score updated,
  // and a child being judged admitted at its first non-empty stage-1 patch, or rejected once it has run
  // every stage-1 task without one.
  Result<Step> EvaluateOne(AgentId id, const PoolTask& task) {
    LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive_.GetAgent(id));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive_.Tree(id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(options_.home, tree, *sandbox_, config_.build_cache_bytes));
    if (!build.built) {
      // A child being judged that no longer builds is judged by it, as when it was first built; an agent
      // admitted before did build, so its failure now is the machine's (a limit under load).
      if (agent.state != AgentState::kEvaluating) {
        return Step{Step::End::kWorldFault, "agent " + std::to_string(id) + " no longer builds: " + build.failure.Describe()};
      }
      std::lock_guard judging(judge_mu_);
      LINEAGE_ASSIGN_OR_RETURN(std::string log_blob, archive_.PutBlob(build.failure.Describe() + "\n\n" + build.failure.log));
      LINEAGE_ASSIGN_OR_RETURN(agent, archive_.GetAgent(id));
      if (agent.state == AgentState::kEvaluating) {
        LINEAGE_RETURN_IF_ERROR(MoveAgent(agent, AgentState::kRejected, build.failure.Reason(), {{"build_log_blob", log_blob}}));
      }
      return Step::Done();
    }
    LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, suites_.Open(task.suite));
    EvaluationOptions eval = EvaluationFor(id, *build.built);
    eval.suite_name = task.suite;
    eval.parallel = 1;
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskResult> results, EvaluateTasks(*evaluator, {task.info}, task.stage, eval, *sandbox_));
    const TaskResult& r = results.at(0);
    if (r.outcome == outcome::kFaulted) return Step{Step::End::kWorldFault, "evaluating " + r.task_id + ": " + r.detail};
    if (r.outcome == outcome::kOutOfBudget) return Step{Step::End::kBudgetSpent, "evaluating " + r.task_id + ": " + r.detail};
    {
      std::lock_guard lock(mu_);
      LINEAGE_ASSIGN_OR_RETURN(std::set<std::string>* done, DoneTasks(id));
      if (done->insert(task.Key()).second) ++evaluations_done_;
    }
    // Two slots may finish tasks of one agent at once: its stage score and its verdict are one step each.
    std::lock_guard judging(judge_mu_);
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive_.ListEvaluations(id));
    StageScore score{.stage = task.stage};
    for (const Evaluation& e : evaluations) {
      if (e.stage != task.stage || !Counts(e)) continue;
      ++score.attempted;
      score.solved += e.outcome == outcome::kSolved;
    }
    if (score.attempted > 0) score.score = static_cast<double>(score.solved) / score.attempted;
    LINEAGE_RETURN_IF_ERROR(archive_.RecordStageScore(id, score));
    return Judge(id, evaluations);
  }

  // Under hgm, a child being judged is admitted at its first non-empty patch on a stage-1 task, and
  // rejected once it has run every stage-1 task without one. judge_mu_ held (or no other slot running).
  Result<Step> Judge(AgentId id, const std::vector<Evaluation>& evaluations) {
    LINEAGE_ASSIGN_OR_RETURN(Agent agent, archive_.GetAgent(id));
    if (agent.state != AgentState::kEvaluating) return Step::Done();
    // A patch cut short by the world or the budget is no sign of anything, however long.
    const bool edited = std::any_of(evaluations.begin(), evaluations.end(), [](const Evaluation& e) {
      return e.stage == 1 && Counts(e) && e.patch_bytes > 0;
    });
    const std::set<std::string> ran = ResultKeys(evaluations);
    json data = {{"parent", agent.parent_id ? json(*agent.parent_id) : json(nullptr)},
                 {"score", agent.score ? json(*agent.score) : json(nullptr)}, {"stage_reached", agent.stage_reached}};
    const bool stage_one_left = std::any_of(pool_.begin(), pool_.end(), [&](const PoolTask& t) {
      return t.stage == 1 && !ran.count(t.Key());
    });
    LINEAGE_RETURN_IF_ERROR(Apply(JudgeChild(edited, stage_one_left), agent, data));
    return Step::Done();
  }

  // Children a killed process left being judged with their verdict due (their last stage-1 task recorded,
  // the verdict not): judged now, else they would wait forever for a task that is not left.
  Status JudgeLeftovers() {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive_.ListAgents(run_.id));
    for (const Agent& a : agents) {
      if (a.state != AgentState::kEvaluating || a.id == *run_.seed_agent_id) continue;
      LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive_.ListEvaluations(a.id));
      LINEAGE_RETURN_IF_ERROR(Judge(a.id, evaluations).status());
    }
    return Status::OK();
  }

  // --- Making one child ---------------------------------------------------------------------------------
  // `chosen`: the parent HGM's policy chose; else one is selected here.
  Result<Step> MakeChild(int attempt, int slot, std::optional<AgentId> chosen = std::nullopt) {
    // A replay makes the child the record says this slot made (EvolutionOptions::child_plan).
    std::optional<EvolutionOptions::ChildPlan> plan;
    if (options_.child_plan) plan = options_.child_plan(SlotTag(slot));
    if (plan) chosen = plan->parent;
    AgentId parent = chosen.value_or(0);
    std::mt19937_64 rng;
    {
      std::lock_guard lock(mu_);
      rng = SlotRng(slot);
      if (!chosen) {
        LINEAGE_ASSIGN_OR_RETURN(std::vector<SelectionStats> all, archive_.LoadSelectionStats(run_.id));
        std::vector<SelectionStats> candidates = SelectionCandidates(all, *run_.seed_agent_id);
        if (candidates.empty()) return Status::Internal("no agent to select a parent from");
        parent = SelectParent(config_.selection, candidates, all, rng);
      }
    }
    LINEAGE_ASSIGN_OR_RETURN(Problem problem, ChooseProblem(parent, rng, plan ? &*plan : nullptr));
    Progress("attempt " + std::to_string(attempt) + ": parent " + std::to_string(parent) + ", learning from " +
             (problem.task_id.empty() ? problem.kind : problem.task_id));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> parent_tree, archive_.Tree(parent));
    Diagnosis diagnosis = Diagnose(parent, parent_tree, problem, slot);
    const std::string about = "diagnosing parent " + std::to_string(parent) + ": ";
    switch (diagnosis.refusal) {
      case Diagnosis::Refusal::kNone: break;
      case Diagnosis::Refusal::kBudget: return Step{Step::End::kBudgetSpent, about + diagnosis.why};
      case Diagnosis::Refusal::kWorldFault: return Step{Step::End::kWorldFault, about + diagnosis.why};
      case Diagnosis::Refusal::kInvalidAnswer: return Step{Step::End::kRedo, about + diagnosis.why};
      case Diagnosis::Refusal::kLineage: return Status::IOError(about + diagnosis.why);
    }
    const std::string statement = diagnosis.answer["implementation_suggestion"].get<std::string>() + "\n\n" +
                                  diagnosis.answer["problem_description"].get<std::string>();

    const AgentId modifier = ModifyingAgent(config_.selection, parent, *run_.seed_agent_id);
    std::optional<SelfModification> modification;
    for (;;) {
      Result<std::optional<SelfModification>> modified = SelfModify(attempt, slot, modifier, parent_tree, statement);
      if (!modified.ok() && modified.status().code() == Status::Code::kUnavailable) {
        // The executor lost the build or the run (a cluster job gone): again, on the same diagnosis.
        const std::string why = "self-modifying agent " + std::to_string(modifier) + ": " + modified.status().message();
        if (!AbsorbFault("attempt " + std::to_string(attempt), why)) return Step{Step::End::kWorldFault, why};
        continue;
      }
      LINEAGE_ASSIGN_OR_RETURN(modification, std::move(modified));
      if (!modification) return Step{Step::End::kRedo, "agent " + std::to_string(modifier) + " no longer builds"};
      if (modification->faults.budget > 0) {
        return Step{Step::End::kBudgetSpent, "self-modifying agent " + std::to_string(modifier)};
      }
      if (modification->faults.world == 0) break;
      // What the parent did while the world failed it makes no child: it runs again, on the same diagnosis.
      const std::string why = "self-modifying agent " + std::to_string(modifier) + ": " + modification->faults.first_world;
      if (!AbsorbFault("attempt " + std::to_string(attempt), why)) return Step{Step::End::kWorldFault, why};
    }
    std::vector<TreeEntry> child_tree = std::move(modification->tree);
    std::string unusable = modification->unreadable;
    for (const TreeEntry& e : child_tree) {
      // A file named .git, say: ReadTree passes it, the archive would refuse it.
      if (Status s = ValidateTreePath(e.path); unusable.empty() && !s.ok()) unusable = s.message();
    }
    if (!unusable.empty()) child_tree = parent_tree;
    const bool empty = SameTree(parent_tree, child_tree);
    Archive::ChildOptions child_options;
    child_options.name = "child of " + std::to_string(parent);
    child_options.run = run_.id;
    child_options.problem_statement = statement;
    child_options.diagnosis_json = diagnosis.answer.dump();
    child_options.allow_empty = empty;
    child_options.event_data = journal::ChildMade{attempt, SlotTag(slot)}.Encode();
    if (empty) {
      child_options.state = AgentState::kRejected;
      child_options.reason = unusable.empty()
                                 ? "empty change: the self-modification left the source as it was"
                                 : "unusable change: lineage will not read what the self-modification left: " + unusable;
    }
    // A child whose files are an agent's of this run already (a sibling that made the same change) would
    // only be evaluated again: rejected now, at no evaluation's cost. The look and the commit are one step,
    // so two children in flight cannot both pass it.
    std::unique_lock commit_lock(commit_mu_);
    if (plan) LINEAGE_RETURN_IF_ERROR(AwaitCommitTurn(plan->commit_turn, commit_lock));
    if (!empty) {
      LINEAGE_ASSIGN_OR_RETURN(std::optional<AgentId> same, archive_.FindTree(child_tree, run_.id));
      if (same) {
        child_options.state = AgentState::kRejected;
        child_options.reason = "duplicate of #" + std::to_string(*same);
      }
    }
    const bool judged = child_options.state == AgentState::kRejected;
    LINEAGE_ASSIGN_OR_RETURN(Agent child, archive_.AddChild(parent, std::move(child_tree), child_options));
    commit_lock.unlock();
    {
      std::lock_guard lock(mu_);
      ++made_;
      made_slots_.insert(slot);
    }
    Progress(std::string("agent.") + StateName(child.state) + " " +
             json{{"agent", child.id}, {"parent", parent}, {"files_changed", child.files_changed},
                  {"lines_added", child.lines_added}, {"lines_removed", child.lines_removed}, {"reason", child.reason}}
                 .dump());
    if (judged) return Step::Done();
    LINEAGE_ASSIGN_OR_RETURN(Step finished, LostIsWorldFault(FinishChild(child)));
    if (finished.end != Step::End::kDone) {
      std::lock_guard lock(mu_);
      unfinished_.push_back(child);  // the world interrupted its evaluation: taken up again
    }
    return finished;
  }

  // A replayed child commits when the run holds as many agents as the record's did when it committed:
  // concurrent children get the same ids, in the same order. `lock` (on commit_mu_) is let go meanwhile.
  Status AwaitCommitTurn(std::size_t turn, std::unique_lock<std::mutex>& lock) {
    for (int waited_ms = 0;; waited_ms += 10) {
      LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive_.ListAgents(run_.id));
      std::erase_if(agents, [](const Agent& a) { return a.state == AgentState::kFailed || a.state == AgentState::kPending; });
      if (agents.size() >= turn) return Status::OK();
      if ((options_.stop && options_.stop->load()) || waited_ms > 10 * 60 * 1000) {
        return Status::FailedPrecondition("replay: the child committed when the run held " + std::to_string(turn) +
                               " agents waited in vain for its turn (the run holds " + std::to_string(agents.size()) + ")");
      }
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      lock.lock();
    }
  }

  // What the child should learn from: a systemic problem when most of the parent's patches were empty,
  // else a task it failed (chosen at random), else one it solved. A replay's `plan` names it.
  Result<Problem> ChooseProblem(AgentId parent, std::mt19937_64& rng, const EvolutionOptions::ChildPlan* plan = nullptr) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, archive_.ListEvaluations(parent));
    std::vector<const Evaluation*> failed, solved, empty_patches;
    int empty = 0, attempted = 0;
    for (const Evaluation& e : evaluations) {
      if (!Counts(e) || e.stage == 0) continue;  // stage 0: held out ([[final]]), never shown to a diagnosis
      ++attempted;
      if (e.outcome == outcome::kEmptyPatch) {
        ++empty;
        empty_patches.push_back(&e);
      }
      (e.outcome == outcome::kSolved ? solved : failed).push_back(&e);
    }
    Problem p;
    if (attempted > 0 && 2 * empty > attempted) {
      p.kind = "empty_patches";
      p.text = "A systemic problem: on " + std::to_string(empty) + " of its " + std::to_string(attempted) +
               " tasks the agent changed no file at all (an empty patch), which can never solve a task.\n";
      p.text += "\nOne such task's log:\n" + DiagnosisLog(*empty_patches.front());
      return p;
    }
    const std::vector<const Evaluation*>& pool = failed.empty() ? solved : failed;
    if (pool.empty()) {
      p.kind = "no_evaluations";
      p.text = "The agent has no evaluation results yet; propose a general improvement.\n";
      return p;
    }
    const Evaluation* e = pool[static_cast<std::size_t>(rng() % pool.size())];
    if (plan && !plan->task.empty()) {
      for (const Evaluation& recorded : evaluations) {
        if (recorded.task_id == plan->task && recorded.stage > 0) e = &recorded;
      }
    }
    p.kind = failed.empty() ? "all_solved" : "failed_task";
    p.task_id = e->task_id;
    p.text = std::string(failed.empty() ? "The agent solved every task it attempted; make it more reliable or "
                                          "efficient. One task it solved:\n"
                                        : "A task the agent failed:\n") +
             DiagnosisLog(*e);
    return p;
  }

  // A task's log for the diagnosis prompt (prompts.h).
  std::string DiagnosisLog(const Evaluation& e) {
    std::optional<std::string> log;
    if (!e.log_blob.empty()) {
      if (auto blob = archive_.GetBlob(e.log_blob); blob.ok()) log = std::move(*blob);
    }
    return TaskLog(e, log);
  }

  // The calls made to make the run's k-th child (its diagnosis, its parent's self-modification, redone ones
  // included) are recorded with the task "child k", which the child's first event names: what a child cost
  // can be told (lineage show).
  static std::string SlotTag(int slot) { return "child " + std::to_string(slot + 1); }

  Diagnosis Diagnose(AgentId parent, const std::vector<TreeEntry>& tree, const Problem& problem, int slot) {
    llm::ModelConfig model = diagnosis_model_;
    model.gateway_token = gateway_->IssueToken(llm::Attribution{run_.id, std::nullopt, SlotTag(slot), "diagnose"}, budget_);
    struct Revoke {
      llm::Gateway& gateway;
      std::string token;
      ~Revoke() { gateway.RevokeToken(token); }
    } revoke{*gateway_, model.gateway_token};
    llm::ModelClient diagnosis_client(llm::ModelsConfig{"the run's gateway", {model}});
    llm::ChatRequest request;
    request.messages = {DiagnosisPrompt(prompts_, SourceListing(tree), problem.text)};
    Diagnosis last{json(), Diagnosis::Refusal::kInvalidAnswer, "no diagnosis attempted"};
    for (int i = 0; i < kDiagnosisAttempts; ++i) {
      llm::CallResult r = diagnosis_client.Call("diagnosis", request);
      if (!r.response) {
        if (r.error.kind == llm::ErrorKind::kBudgetExceeded) {
          return {json(), Diagnosis::Refusal::kBudget, "budget reached while diagnosing: " + r.error.message};
        }
        // The provider's fault is the world's, redone after a backoff; a request the model refuses (the
        // prompt too long, say) would be refused again.
        if (llm::IsWorldFault(r.error.kind)) {
          return {json(), Diagnosis::Refusal::kWorldFault, "the diagnosis model failed: " + r.error.message};
        }
        last = {json(), Diagnosis::Refusal::kInvalidAnswer, "the diagnosis model refused: " + r.error.message};
        continue;
      }
      auto parsed = ParseDiagnosis(r.response->Text());
      // The call must be in the record before its answer is used: budgets and replays are rebuilt from it.
      gateway_->Flush();
      if (const llm::Gateway::Faults faults = gateway_->faults(); faults.unrecorded > 0) {
        return {json(), Diagnosis::Refusal::kLineage, faults.first_unrecorded};
      }
      if (parsed.ok()) {
        const journal::Diagnosis record{parent, problem.kind, problem.task_id,
                                        (*parsed)["improvement_proposal"].get<std::string>(), SlotTag(slot)};
        // Replay makes its children from this record: without it the diagnosis is not used.
        if (Status written = Journal(journal::Diagnosis::kKind, record.Encode()); !written.ok()) {
          return {json(), Diagnosis::Refusal::kLineage, written.message()};
        }
        return {std::move(*parsed), Diagnosis::Refusal::kNone, ""};
      }
      last = {json(), Diagnosis::Refusal::kInvalidAnswer, parsed.status().message()};
      // Ask again, saying what was wrong with the answer.
      request.messages.push_back(llm::Message::Assistant(r.response->Text()));
      request.messages.push_back(
          llm::Message::User("That was not usable: " + last.why + ". Answer with the JSON object only."));
    }
    return last;
  }

  // What a self-modification left: the tree, or (unreadable set) the parent's, when lineage would not read
  // the workspace it left.
  struct SelfModification {
    std::vector<TreeEntry> tree;
    std::string unreadable;
    llm::Gateway::Faults faults;  // the agent's calls the world or the budget failed
  };

  // Runs `modifier` on a checkout of `tree`; nothing when the modifier does not build (it did when it was
  // admitted, so a limit under load, say).
  Result<std::optional<SelfModification>> SelfModify(int attempt, int slot, AgentId modifier, const std::vector<TreeEntry>& tree,
                                                     const std::string& statement) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> modifier_tree, archive_.Tree(modifier));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build,
                             BuildAgent(options_.home, modifier_tree, *sandbox_, config_.build_cache_bytes));
    if (!build.built) return std::optional<SelfModification>();
    const BuiltAgent& built = *build.built;
    const fs::path workspace = run_dir_ / "work" / ("attempt-" + std::to_string(attempt));
    std::error_code ec;
    fs::remove_all(workspace, ec);
    LINEAGE_RETURN_IF_ERROR(WriteTree(workspace, tree));
    AgentRunOptions run;
    run.home = options_.home;
    run.workspace = workspace;
    run.instruction = Fill(prompts_.self_modify, {{"problem_statement", statement}});
    run.task_id = "self-modify";
    run.models = agent_models_;
    run.max_rounds = config_.max_rounds;
    run.wall_ms = config_.self_modify_wall_ms;
    run.shared_budget = budget_;
    run.gateway_host = config_.executor.gateway_host;
    run.attribution = llm::Attribution{run_.id, modifier, SlotTag(slot), "self_modify"};
    run.recorder = ArchiveCallRecorder(archive_);
    run.replayer = options_.replayer;
    auto result = RunAgent(built, run, *sandbox_);
    if (!result.ok()) return result.status().WithContext("self-modification");
    // The self-modification's transcript outlives its scratch directory as a blob.
    std::string transcript;
    for (const std::string& line : result->trajectory) transcript += line + "\n";
    LINEAGE_ASSIGN_OR_RETURN(std::string transcript_blob, archive_.PutBlob(transcript));
    Note("self_modify", {{"agent", modifier}, {"status", result->status}, {"rounds", result->rounds},
                         {"files_changed", result->diff.files_changed}, {"cost_usd", result->spend.cost_usd},
                         {"summary", result->summary}, {"transcript_blob", transcript_blob}});
    fs::remove_all(result->output_dir.parent_path(), ec);
    fs::remove_all(workspace, ec);
    return std::optional<SelfModification>(
        SelfModification{std::move(result->after), result->unreadable_workspace, result->faults});
  }

  // Steps 6 and 7 for a committed child: build, evaluate stage by stage, admit or reject.
  Result<Step> FinishChild(Agent& child) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, archive_.Tree(child.id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, BuildAgent(options_.home, tree, *sandbox_, config_.build_cache_bytes));
    if (!build.built) {
      // The whole log is a blob named by the agent.rejected event.
      LINEAGE_ASSIGN_OR_RETURN(std::string log_blob, archive_.PutBlob(build.failure.Describe() + "\n\n" + build.failure.log));
      LINEAGE_RETURN_IF_ERROR(MoveAgent(child, AgentState::kRejected, build.failure.Reason(), {{"build_log_blob", log_blob}}));
      return Step::Done();
    }
    LINEAGE_RETURN_IF_ERROR(MoveToEvaluating(child));
    if (hgm()) return Step::Done();  // evaluated one task at a time, as the policy chooses (HgmWorker)
    LINEAGE_ASSIGN_OR_RETURN(StagedResult staged, Evaluate(child.id, *build.built));
    if (staged.interrupted != StagedResult::Interrupted::kNo) return Interrupted(staged);
    const bool kept_editing = std::any_of(staged.results.begin(), staged.results.end(), [](const TaskResult& r) {
      return r.stage == 1 && r.non_empty_patch;
    });
    json data = {{"parent", child.parent_id ? json(*child.parent_id) : json(nullptr)},
                 {"score", staged.score ? json(*staged.score) : json(nullptr)}, {"stage_reached", staged.stage_reached}};
    // Staged evaluation ran every stage-1 task: none is left.
    LINEAGE_RETURN_IF_ERROR(Apply(JudgeChild(kept_editing, /*stage_one_left=*/false), child, data));
    return Step::Done();
  }

  // Records `verdict` on `child` (verdict.h); nothing yet for kNotYet.
  Status Apply(Verdict verdict, Agent& child, const json& data) {
    switch (verdict) {
      case Verdict::kAdmit: return MoveAgent(child, AgentState::kAdmitted, "", data);
      case Verdict::kReject: return MoveAgent(child, AgentState::kRejected, kLostEditingAbility, data);
      case Verdict::kNotYet: return Status::OK();
    }
    return Status::OK();
  }

  // How the run evaluates `agent`: its models, limits, budget and archive.
  EvaluationOptions EvaluationFor(AgentId agent, const BuiltAgent& built) {
    EvaluationOptions eval;
    eval.home = options_.home;
    eval.agent = &built;
    eval.models = agent_models_;
    eval.max_rounds = config_.max_rounds;
    eval.agent_wall_ms = config_.task_wall_ms;
    eval.parallel = config_.sandboxes;
    eval.archive = &archive_;
    eval.agent_id = agent;
    eval.run_id = run_.id;
    eval.on_result = [this, agent](const TaskResult& r) {
      Progress("agent " + std::to_string(agent) + " stage " + std::to_string(r.stage) + ": " + r.task_id + " " + r.outcome +
               (r.kept ? " (recorded before)" : ""));
    };
    // Evaluation spends from the run's budget too: a dollar budget is a promise about the whole run. A child
    // evaluated as the budget runs out may be judged on truncated runs; no new child starts after that.
    eval.shared_budget = budget_;
    eval.gateway_host = config_.executor.gateway_host;
    eval.replayer = options_.replayer;
    return eval;
  }

  // Stage by stage. Under hgm only the seed is evaluated so, on the first stage: a baseline for the first
  // diagnoses; the policy chooses every task run after it.
  Result<StagedResult> Evaluate(AgentId agent, const BuiltAgent& built) {
    EvaluationOptions eval = EvaluationFor(agent, built);
    LINEAGE_ASSIGN_OR_RETURN(eval.existing, archive_.ListEvaluations(agent));
    std::vector<StageSpec> stages = config_.evaluation.stages;
    if (hgm()) stages.resize(1);
    return EvaluateStaged(stages, [this](const std::string& suite) { return suites_.Open(suite); }, eval, *sandbox_);
  }

  // --- Ending -------------------------------------------------------------------------------------------
  // The workers stopped for a pause or a stop that has since been undone (`run resume` while pausing), and
  // children remain to be made.
  bool ResumedWhileDraining() {
    if (!stop_reason_.Is(StopReason::Kind::kPausing) && !stop_reason_.Is(StopReason::Kind::kStopping)) return false;
    auto now = archive_.GetRun(run_.id);
    if (!now.ok() || now->state != RunState::kRunning) return false;
    if (made_ < config_.children || !unfinished_.empty()) return true;
    if (!hgm()) return false;
    // Under hgm the work left may be task runs alone.
    std::lock_guard lock(mu_);
    Result<HgmState> state = HgmNow();
    return state.ok() && state->may_evaluate &&
           std::any_of(state->nodes.begin(), state->nodes.end(), [](const HgmNode& n) { return n.evaluable; });
  }

  Result<RunState> Finish() {
    // The state is read and then written: a pause or stop landing in between makes the write refused, and
    // the decision is made again from the new state.
    for (int tries = 0;; ++tries) {
      LINEAGE_ASSIGN_OR_RETURN(class Run now, archive_.GetRun(run_.id));
      RunState state = RunState::kFinished;
      if (now.state == RunState::kPausing) state = RunState::kPaused;
      else if (now.state == RunState::kStopping) state = RunState::kStopped;
      else if (stop_reason_.Is(StopReason::Kind::kStopRequested)) state = RunState::kRunning;  // resumed when the daemon returns
      else if (low_disk_ || fault_paused_ || config_paused_) state = RunState::kPaused;
      journal::RunEnded ended{made_, stop_reason_.text};
      if (fault_paused_ && state == RunState::kPaused && now.state == RunState::kRunning) {
        ended.fault = true;  // a daemon resumes it by itself at retry_at
        ended.retry_at = NowMillis() + config_.fault_retry_ms;
      }
      const std::string data = ended.Encode();
      if (state == RunState::kRunning) {
        LINEAGE_RETURN_IF_ERROR(Journal("run.interrupted", data));
        return state;
      }
      Status written = archive_.SetRunState(run_.id, state, data);
      if (written.code() == Status::Code::kFailedPrecondition && tries < 3) continue;
      LINEAGE_RETURN_IF_ERROR(written);
      Progress(std::string("run.") + StateName(state) + " " + data);
      return state;
    }
  }

  Result<RunState> Fail(const Status& why) {
    if (gateway_) StopServing();
    const json data = {{"error", why.message()}};
    Status marked = archive_.SetRunState(run_.id, RunState::kFailed, data.dump());
    if (!marked.ok()) spdlog::error("cannot mark run {} failed: {}", run_.id, marked.ToString());
    Progress("run.failed " + data.dump());
    return why;
  }

  std::int64_t Now() const { return options_.clock ? options_.clock() : NowMillis(); }

  // An event later steps read back (archive/journal.h): it lands, or the step fails.
  Status Journal(const std::string& kind, const std::string& data, std::optional<AgentId> agent = std::nullopt) {
    LINEAGE_RETURN_IF_ERROR(archive_.AppendEvent(Event{0, run_.id, agent, kind, data, 0}).status());
    Progress(kind + " " + data);
    return Status::OK();
  }

  // An event for people (the run's log, the dashboard): a failed write is logged, and the run goes on.
  void Note(const std::string& kind, json data) {
    std::optional<AgentId> agent;
    if (data.contains("agent") && data["agent"].is_number_integer()) agent = data["agent"].get<AgentId>();
    auto appended = archive_.AppendEvent(Event{0, run_.id, agent, kind, data.dump(), 0});
    if (!appended.ok()) spdlog::error("cannot record event {}: {}", kind, appended.status().ToString());
    Progress(kind + " " + data.dump());
  }

  void Progress(const std::string& line) {
    if (!options_.on_progress) return;
    std::lock_guard lock(progress_mu_);
    options_.on_progress(line);
  }

  Archive& archive_;
  const class Run run_;
  const RunConfig config_;
  const EvolutionOptions& options_;
  std::unique_ptr<Sandbox> sandbox_;
  Prompts prompts_;
  fs::path run_dir_;
  std::shared_ptr<llm::Budget> budget_;
  llm::ModelsConfig agent_models_;
  std::unique_ptr<llm::Gateway> gateway_;
  llm::ModelConfig diagnosis_model_;
  std::unique_ptr<Sandbox> slurm_;  // [executor] kind = "slurm": the executor ThrottledSandbox wraps
  std::int64_t started_at_ = 0;

  std::mutex commit_mu_;  // a child's duplicate check and its commit
  std::mutex judge_mu_;   // hgm: an agent's stage score and verdict after a task run
  std::mutex mu_;  // guards what follows
  int made_ = 0, in_flight_ = 0, attempts_ = 0, consecutive_failures_ = 0;
  int next_slot_ = 0;                          // Setup: the children made so far
  std::set<int> free_slots_, made_slots_;
  std::map<int, int> slot_redos_;              // kRedo ends per slot: each redo draws afresh
  std::deque<Agent> unfinished_;               // committed children whose judging the world interrupted
  std::optional<std::int64_t> fault_since_;    // the first fault of the current run of faults (Now())
  std::string fault_first_;
  std::int64_t fault_backoff_ms_ = 1000;
  bool config_paused_ = false;                 // a model could not be reached before any call was answered
  bool fault_paused_ = false;                  // the faults outlasted the patience: the run pauses
  Status fatal_;
  StopReason stop_reason_;
  bool budget_spent_ = false;                   // the gateway refused a diagnosis call
  bool low_disk_ = false;                       // the home's file system ran low: the run pauses

  // hgm (guarded by mu_): the task pool, each agent's tasks done, the task runs in flight (agent, task),
  // slots finishing interrupted children, and the draws.
  std::vector<PoolTask> pool_;
  std::map<AgentId, std::set<std::string>> done_;
  std::set<std::pair<AgentId, std::string>> evaluating_;
  std::set<int> expanding_;  // the slots of expansions in flight
  std::int64_t evaluations_done_ = 0;
  int busy_ = 0;
  std::mt19937_64 hgm_rng_;
  std::condition_variable hgm_cv_;

  SuiteCache suites_{&config_.evaluation};
  std::mutex progress_mu_;
};

}  // namespace

llm::ModelsConfig AgentModels(const RunConfig& config) {
  llm::ModelsConfig models = config.models;
  for (const auto& [alias, chosen] : {std::pair<std::string, std::string>{"conductor", config.conductor_model},
                                      {"expert", config.expert_model}}) {
    if (models.FindAlias(alias)) continue;
    llm::ModelConfig copy = *config.models.FindAlias(chosen);
    copy.alias = alias;
    models.models.push_back(copy);
  }
  return models;
}

std::string SlurmJobPrefix(const fs::path& home, RunId run) {
  return "lineage-" + Sha256Hex(fs::absolute(home).string()).substr(0, 8) + "-r" + std::to_string(run) + "-";
}


Result<RunState> RunEvolution(Archive& archive, RunId run_id, const EvolutionOptions& options) {
  LINEAGE_ASSIGN_OR_RETURN(Run run, archive.GetRun(run_id));
  if (const json origin = RunOrigin(run); !options.replayer && origin.is_object() && origin.value("kind", "") == "replay") {
    // Going on live would call real providers, at a cost, inside an experiment meant to be offline.
    return Status::FailedPrecondition("run " + std::to_string(run_id) + " is a replay of a recorded run; it goes on only "
                                      "as a replay (`lineage run replay`), never with live models");
  }
  if (!run.seed_agent_id) return Status::Corruption("run " + std::to_string(run_id) + " has no seed agent");
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, StoredRunConfig(run));
  Evolution evolution(archive, std::move(run), std::move(config), options);
  return evolution.Run();
}

}  // namespace lineage
