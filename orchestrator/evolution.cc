#include "orchestrator/evolution.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "archive/journal.h"
#include "base/files.h"
#include "orchestrator/child_source.h"
#include "orchestrator/commit_child.h"
#include "orchestrator/dgm_scheduler.h"
#include "orchestrator/final.h"
#include "orchestrator/hgm_scheduler.h"
#include "orchestrator/loop_state.h"
#include "orchestrator/run_services.h"
#include "orchestrator/runs.h"
#include "orchestrator/seed.h"

namespace lineage {

namespace {

using json = nlohmann::json;

// The children of the run that exist: a child whose commit never happened (marked failed by fsck) was
// never made, and its attempt is redone.
Result<int> ChildrenMade(Archive& archive, const Run& run) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, archive.ListAgents(run.id));
  int made = 0;
  for (const Agent& a : agents) {
    if (a.id == *run.seed_agent_id) continue;  // a seed may have a parent; it is no child of this run
    if (a.parent_id && a.state != AgentState::kFailed && a.state != AgentState::kPending) ++made;
  }
  return made;
}

// Marks the run failed for `why`, and says so; returns `why`.
Status MarkFailed(Archive& archive, RunId run, const Status& why, const std::function<void(const std::string&)>& progress) {
  const json data = {{"error", why.message()}};
  if (Status marked = archive.SetRunState(run, RunState::kFailed, data.dump()); !marked.ok()) {
    spdlog::error("cannot mark run {} failed: {}", run, marked.ToString());
  }
  progress("run.failed " + data.dump());
  return why;
}

// One process's course of one run: the seed, the scheduler's slots, the finals, and how the run ends. The
// parts it drives are in docs/design.md.
class Evolution {
 public:
  Evolution(RunServices& run, int made)
      : run_(run),
        loop_(run, made),
        source_(run.options.child_source ? run.options.child_source : std::shared_ptr<ChildSource>(LiveChildSource())),
        committer_(run),
        pipeline_{run, loop_, *source_, committer_} {}

  Result<RunState> Run() {
    if (Status s = OpenScheduler(); !s.ok()) return Fail(s);
    LINEAGE_RETURN_IF_ERROR(Start());
    if (StopBeforeWork()) return Finish();
    for (;;) {
      Result<Step> seed = LostIsWorldFault(EvaluateSeed(run_));
      if (!seed.ok()) return Fail(seed.status());
      if (seed->done()) break;
      if (!SeedRetried(*seed)) {
        run_.StopServing();
        return Finish();
      }
    }
    loop_.FaultsOver();
    if (Status s = scheduler_->Prepare(); !s.ok()) return Fail(s);
    for (;;) {
      std::vector<std::thread> slots;
      for (int i = 0; i < scheduler_->Slots(); ++i) slots.emplace_back([this] { scheduler_->Work(); });
      for (std::thread& t : slots) t.join();
      if (!loop_.fatal().ok() || !ResumedWhileDraining()) break;
      loop_.ClearStop();  // a pause undone before it completed: a full set of slots goes on
    }
    if (loop_.fatal().ok()) {
      if (Status s = RunFinals(); !s.ok()) return Fail(s);
    }
    run_.StopServing();
    if (!loop_.fatal().ok()) return Fail(loop_.fatal());
    return Finish();
  }

  Result<RunState> Fail(const Status& why) {
    run_.StopServing();
    return MarkFailed(run_.archive, run_.run.id, why, [this](const std::string& line) { run_.Progress(line); });
  }

 private:
  Status OpenScheduler() {
    LINEAGE_RETURN_IF_ERROR(committer_.Load());
    if (!run_.hgm()) {
      scheduler_ = MakeDgmScheduler(pipeline_);
      return Status::OK();
    }
    LINEAGE_ASSIGN_OR_RETURN(scheduler_, MakeHgmScheduler(pipeline_));
    return Status::OK();
  }

  // The run is running from here on (after the process running it was killed, or a daemon's stop, resumed).
  Status Start() {
    const json started = {{"children_wanted", run_.config.children}, {"children_made", loop_.made()}};
    if (run_.run.state == RunState::kQueued) {
      LINEAGE_RETURN_IF_ERROR(run_.archive.SetRunState(run_.run.id, RunState::kRunning, started.dump()));
      run_.Progress("run.running " + started.dump());
    } else {
      run_.Note("run.resumed", started);
    }
    return Status::OK();
  }

  // The disk too full, or a model unreachable before any answer: the run pauses before any work.
  bool StopBeforeWork() {
    StopReason why;
    if (std::string low = run_.LowDisk(); !low.empty()) {
      why = {StopReason::Kind::kLowDisk, low};
    } else if (std::string wrong = UnreachableBeforeFirstAnswer(); !wrong.empty()) {
      why = {StopReason::Kind::kConfig, wrong};
    }
    if (why.empty()) return false;
    loop_.Stop(why);
    run_.StopServing();
    return true;
  }

  // The seed's evaluation was interrupted: whether it is to be tried again (after a world fault's backoff);
  // false, with the reason recorded, when the run ends before its children.
  bool SeedRetried(const Step& seed) {
    if (seed.interruption.budget()) {
      loop_.StopForBudget(seed.interruption.why);
      return false;
    }
    if (loop_.AbsorbFault("seed", seed.interruption.why)) return true;
    loop_.Stop(run_.StopRequested() ? StopReason{StopReason::Kind::kStopRequested, "stop requested"}
                                    : StopReason{StopReason::Kind::kPausing, "pausing"});
    return false;
  }

  // Until a provider has answered one of the run's calls, a server that refuses the connection is a wrong
  // base_url (or a server not started), not an outage: the run pauses at once with what to fix, instead of
  // waiting out its fault patience. Empty when the models can be reached, when one of the run's calls was
  // answered already, or in a replay (it calls no provider).
  std::string UnreachableBeforeFirstAnswer() {
    if (run_.options.replayer) return "";
    auto calls = run_.archive.ListRunModelCalls(run_.run.id);
    if (!calls.ok() || std::any_of(calls->begin(), calls->end(), [](const ModelCall& c) { return c.outcome == "ok"; })) {
      return "";
    }
    std::set<std::string> tried;
    for (const auto& [role, alias] : RoleAliases(run_.config)) {
      if (!tried.insert(alias).second) continue;
      const llm::ModelError e = llm::ConnectToModel(run_.config.models, alias);
      if (e.kind != llm::ErrorKind::kUnreachable && e.kind != llm::ErrorKind::kConfig) continue;
      return "config: the " + role + " role's model ([models." + alias + "] of " + run_.config.models.source +
             ") cannot be reached, and no call of this run has been answered yet: " + e.message +
             " Fix base_url (or start the server), then `lineage run resume " + std::to_string(run_.run.id) +
             "` (--models FILE gives the run another models file)";
    }
    return "";
  }

  // The slots stopped for a pause or a stop that has since been undone (`run resume` while pausing), and
  // work remains.
  bool ResumedWhileDraining() {
    const StopReason why = loop_.stop_reason();
    if (!why.Is(StopReason::Kind::kPausing) && !why.Is(StopReason::Kind::kStopping)) return false;
    auto state = run_.StoredState();
    return state.ok() && *state == RunState::kRunning && scheduler_->WorkLeft();
  }

  // [[final]]: once the run has done its work (not when it pauses or stops, nor when its budget is spent),
  // its top agents on each held-out set, unless an earlier process of the run did so already. A final that
  // cannot run is reported, never the run's failure: its work is done.
  Status RunFinals() {
    const RunConfig& config = run_.config;
    if (config.evaluation.finals.empty() || loop_.stop_reason().Is(StopReason::Kind::kStopRequested) ||
        loop_.low_disk_or_faults() || run_.StopRequested()) {
      return Status::OK();
    }
    LINEAGE_ASSIGN_OR_RETURN(RunState now, run_.StoredState());
    if (now != RunState::kRunning) return Status::OK();
    if (loop_.budget_spent()) {
      run_.Progress("final: skipped, the run's budget is spent (" + loop_.stop_reason().text + "); `lineage run final " +
                    std::to_string(run_.run.id) + " --suite S` runs it");
      return Status::OK();
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, run_.archive.ListEvents(run_.run.id));
    for (std::size_t i = 0; i < config.evaluation.finals.size(); ++i) {
      const int table = static_cast<int>(i) + 1;
      const bool done = std::any_of(events.begin(), events.end(), [&](const Event& e) {
        const std::optional<journal::FinalDone> final = journal::FinalDone::Decode(e);
        return final && final->table == table;
      });
      if (done) continue;
      FinalOptions options;
      options.runtime = run_.runtime;
      options.sandbox = run_.sandbox.get();
      options.parallel = config.sandboxes;
      options.table = table;
      options.on_progress = [this](const std::string& line) { run_.Progress(line); };
      if (auto ran = EvaluateFinal(run_.archive, run_.run.id, config, config.evaluation.finals[i], options); !ran.ok()) {
        run_.Note("final.failed", {{"table", table}, {"error", ran.status().message()}});
      }
    }
    return Status::OK();
  }

  // The state the run ends in. It is read and then written: a pause or stop landing in between makes the
  // write refused, and the decision is made again from the new state.
  Result<RunState> Finish() {
    const StopReason why = loop_.stop_reason();
    for (int tries = 0;; ++tries) {
      LINEAGE_ASSIGN_OR_RETURN(RunState now, run_.StoredState());
      RunState state = RunState::kFinished;
      if (now == RunState::kPausing) state = RunState::kPaused;
      else if (now == RunState::kStopping) state = RunState::kStopped;
      else if (why.Is(StopReason::Kind::kStopRequested)) state = RunState::kRunning;  // resumed when the daemon returns
      else if (loop_.paused_by_world()) state = RunState::kPaused;
      journal::RunEnded ended{loop_.made(), why.text};
      if (why.Is(StopReason::Kind::kFaults) && state == RunState::kPaused && now == RunState::kRunning) {
        ended.fault = true;  // a daemon resumes it by itself at retry_at
        ended.retry_at = NowMillis() + run_.config.fault_retry_ms;
      }
      const std::string data = ended.Encode();
      if (state == RunState::kRunning) {
        LINEAGE_RETURN_IF_ERROR(run_.Journal("run.interrupted", data));
        return state;
      }
      Status written = run_.archive.SetRunState(run_.run.id, state, data);
      if (written.code() == Status::Code::kFailedPrecondition && tries < 3) continue;
      LINEAGE_RETURN_IF_ERROR(written);
      run_.Progress(std::string("run.") + StateName(state) + " " + data);
      return state;
    }
  }

  RunServices& run_;
  LoopState loop_;
  std::shared_ptr<ChildSource> source_;  // a replay's, else the run's own choice
  Committer committer_;
  ChildPipeline pipeline_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace

Result<RunState> RunEvolution(Archive& archive, RunId run_id, const EvolutionOptions& options) {
  LINEAGE_ASSIGN_OR_RETURN(Run run, archive.GetRun(run_id));
  if (!options.replayer && RunOrigin(run).replay()) {
    // Going on live would call real providers, at a cost, inside an experiment meant to be offline.
    return Status::FailedPrecondition("run " + std::to_string(run_id) + " is a replay of a recorded run; it goes on only "
                                      "as a replay (`lineage run replay`), never with live models");
  }
  if (!run.seed_agent_id) return Status::Corruption("run " + std::to_string(run_id) + " has no seed agent");
  LINEAGE_ASSIGN_OR_RETURN(RunConfig config, StoredRunConfig(run));
  // Work the world interrupted (a provider outage, a spent budget) leaves its agent where it was; it is
  // taken up again here, after a resume.
  if (run.state != RunState::kQueued && run.state != RunState::kRunning) {
    return Status::FailedPrecondition("run " + std::to_string(run_id) + " is " + StateName(run.state) +
                                      "; resume it first (`lineage run resume " + std::to_string(run_id) + "`)");
  }
  // The run could not start (its archive, its prompts, its keys, its executor): it fails, saying why.
  auto fail = [&](const Status& why) {
    return MarkFailed(archive, run_id, why, [&](const std::string& line) {
      if (options.on_progress) options.on_progress(line);
    });
  };
  Result<int> made = ChildrenMade(archive, run);
  if (!made.ok()) return fail(made.status());
  Result<std::unique_ptr<RunServices>> services = OpenRunServices(archive, run, std::move(config), options);
  if (!services.ok()) return fail(services.status());
  Evolution evolution(**services, *made);
  return evolution.Run();
}

}  // namespace lineage
