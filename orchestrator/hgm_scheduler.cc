#include "orchestrator/hgm_scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "archive/scores.h"
#include "base/thread_annotations.h"
#include "orchestrator/finish_child.h"
#include "orchestrator/run_services.h"
#include "orchestrator/selection.h"

namespace lineage {

namespace {

using json = nlohmann::json;

// One task of the run's pool: the stages' tasks in order, each once (stage thresholds do not gate under
// hgm: Thompson sampling decides who is evaluated further).
struct PoolTask {
  std::string suite;
  TaskInfo info;
  int stage = 1;
  TaskRef Key() const { return {suite, info.id}; }
};

// The run's task pool and which agent has a result for which of its tasks. Read from the archive once, then
// kept up to date: a recorded task evaluation is never run again. Not thread-safe: its scheduler's lock
// guards it.
class TaskPool {
 public:
  explicit TaskPool(RunServices& run) : run_(run) {}

  Status Load() {
    std::set<TaskRef> seen;
    for (const StageSpec& stage : run_.config.evaluation.stages) {
      LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, run_.OpenSuite(stage.suite));
      LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, StageTasks(stage, *evaluator));
      for (TaskInfo& t : tasks) {
        if (!t.unavailable.empty()) continue;  // its toolchain is missing here: no evaluation to spend on it
        PoolTask task{stage.suite, std::move(t), stage.number};
        if (seen.insert(task.Key()).second) tasks_.push_back(std::move(task));
      }
    }
    return Status::OK();
  }

  // The pool's tasks `agent` has a result for (a fault's or a spent budget's run is no result).
  Result<std::set<TaskRef>*> Done(AgentId agent) {
    auto it = done_.find(agent);
    if (it != done_.end()) return &it->second;
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, run_.archive.ListEvaluations(agent));
    std::set<TaskRef>& done = done_[agent];
    done = TasksWithResults(evaluations);
    return &done;
  }
  void Forget(AgentId agent) { done_.erase(agent); }  // read it again from the archive

  // The next task of `agent` neither done nor `running`; nullptr when none.
  Result<const PoolTask*> Next(AgentId agent, const std::set<std::pair<AgentId, TaskRef>>& running) {
    LINEAGE_ASSIGN_OR_RETURN(std::set<TaskRef>* done, Done(agent));
    for (const PoolTask& t : tasks_) {
      if (!done->count(t.Key()) && !running.count({agent, t.Key()})) return &t;
    }
    return static_cast<const PoolTask*>(nullptr);
  }

  // The run's task evaluations of the pool's tasks, the seed's included: a reused seed's results on other
  // tasks are no part of this run's spending.
  Result<std::int64_t> CountEvaluations() {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, run_.archive.ListAgents(run_.run.id));
    std::set<TaskRef> pool;
    for (const PoolTask& t : tasks_) pool.insert(t.Key());
    std::int64_t n = 0;
    for (const Agent& a : agents) {
      LINEAGE_ASSIGN_OR_RETURN(std::set<TaskRef>* done, Done(a.id));
      for (const TaskRef& key : *done) n += pool.count(key);
    }
    return n;
  }

  // Whether a stage-1 task of the pool is not among `ran`.
  bool StageOneLeft(const std::set<TaskRef>& ran) const {
    return std::any_of(tasks_.begin(), tasks_.end(), [&](const PoolTask& t) { return t.stage == 1 && !ran.count(t.Key()); });
  }

 private:
  RunServices& run_;
  std::vector<PoolTask> tasks_;
  std::map<AgentId, std::set<TaskRef>> done_;
};

// A slot's next piece of work.
struct Piece {
  enum class Kind { kNone, kUnfinished, kExpand, kEvaluate };
  Kind kind = Kind::kNone;
  std::optional<Agent> unfinished;
  AgentId agent = 0;  // kExpand: the parent; kEvaluate: who runs the task
  const PoolTask* task = nullptr;
  int attempt = 0, slot = -1;
  std::string Name() const {
    switch (kind) {
      case Kind::kUnfinished: return "agent " + std::to_string(unfinished->id);
      case Kind::kEvaluate: return "agent " + std::to_string(agent) + " on " + task->info.id;
      default: return "attempt " + std::to_string(attempt);
    }
  }
};

class HgmScheduler : public Scheduler {
 public:
  explicit HgmScheduler(const ChildPipeline& p) : p_(p), run_(p.run), pool_(p.run) {}

  Status Open() {
    std::lock_guard lock(mu_);
    LINEAGE_RETURN_IF_ERROR(pool_.Load());
    LINEAGE_ASSIGN_OR_RETURN(evaluations_done_, pool_.CountEvaluations());
    rng_.seed(p_.loop.PolicySeed(evaluations_done_));
    return Status::OK();
  }

  Status Prepare() override {
    // Under hgm a child being evaluated is simply evaluable again: it needs no slot of its own.
    LINEAGE_ASSIGN_OR_RETURN(std::deque<Agent> unfinished, UnfinishedChildren(run_, /*evaluating=*/false));
    std::lock_guard lock(mu_);
    unfinished_ = std::move(unfinished);
    pool_.Forget(run_.seed());  // the seed's evaluation just recorded is read again: its tasks are done
    LINEAGE_ASSIGN_OR_RETURN(evaluations_done_, pool_.CountEvaluations());
    return JudgeLeftovers();
  }

  int Slots() const override { return std::max(run_.config.sandboxes, run_.config.children_in_flight); }

  bool WorkLeft() override {
    std::lock_guard lock(mu_);
    if (p_.loop.made() < run_.config.children || !unfinished_.empty()) return true;
    Result<HgmState> state = Now();  // the work left may be task runs alone
    return state.ok() && state->may_evaluate &&
           std::any_of(state->nodes.begin(), state->nodes.end(), [](const HgmNode& n) { return n.evaluable; });
  }

  void Work() override {
    for (;;) {
      std::unique_lock lock(mu_);
      Piece piece = Next(lock);
      if (piece.kind == Piece::Kind::kNone) {
        cv_.notify_all();
        return;
      }
      lock.unlock();
      Result<Step> r = Run(piece);
      lock.lock();
      Done(piece, r);
      cv_.notify_all();
      if (!r.ok()) {
        p_.loop.Fail(r.status());
        continue;
      }
      if (r->world_fault()) lock.unlock();
      p_.loop.Ended(*r, piece.Name(), piece.attempt, piece.slot);
    }
  }

 private:
  // The next piece of work for a slot, waiting while others work and none is to be had; kNone when the slot
  // is done.
  Piece Next(std::unique_lock<std::mutex>& lock) REQUIRES(mu_) {
    for (;;) {
      if (!p_.loop.fatal().ok() || !p_.loop.MayGoOn()) return {};
      Piece piece;
      if (!unfinished_.empty()) {
        piece.kind = Piece::Kind::kUnfinished;
        piece.unfinished.emplace(std::move(unfinished_.front()));
        unfinished_.pop_front();
        ++busy_;
        return piece;
      }
      Result<HgmState> now = Now();
      if (!now.ok()) {
        p_.loop.Fail(now.status());
        continue;
      }
      const HgmDecision decision = DecideHgm(run_.config.selection.alpha, *now, rng_);
      if (decision.action == HgmDecision::Action::kExpand) return Expand(decision.agent);
      if (decision.action == HgmDecision::Action::kEvaluate) {
        Result<const PoolTask*> task = pool_.Next(decision.agent, evaluating_);
        if (!task.ok()) {
          p_.loop.Fail(task.status());
          continue;
        }
        piece = {Piece::Kind::kEvaluate, std::nullopt, decision.agent, *task};
        evaluating_.insert({decision.agent, (*task)->Key()});
        return piece;
      }
      if (in_flight_ == 0 && evaluating_.empty() && busy_ == 0) {  // nothing left, and nothing coming
        const auto& budget = run_.config.task_evaluations;
        if (budget && now->task_evaluations >= *budget) p_.loop.Stop({StopReason::Kind::kBudget, "budget: task evaluations"});
        return {};
      }
      cv_.wait(lock);
    }
  }

  Piece Expand(AgentId parent) REQUIRES(mu_) {
    Piece piece;
    piece.kind = Piece::Kind::kExpand;
    piece.agent = parent;
    piece.attempt = p_.loop.NextAttempt();
    piece.slot = p_.loop.TakeSlot();
    ++in_flight_;
    expanding_.insert(piece.slot);
    return piece;
  }

  Result<Step> Run(Piece& piece) {
    switch (piece.kind) {
      case Piece::Kind::kUnfinished: return LostIsWorldFault(FinishChild(run_, *piece.unfinished));
      case Piece::Kind::kEvaluate: return LostIsWorldFault(EvaluateOne(piece.agent, *piece.task));
      default: break;
    }
    Result<MadeChild> made = MakeChild(p_, piece.attempt, piece.slot, piece.agent);
    if (!made.ok()) return LostIsWorldFault(made.status());
    if (made->unfinished) {
      std::lock_guard lock(mu_);
      unfinished_.push_back(*made->unfinished);
    }
    return made->step;
  }

  void Done(const Piece& piece, const Result<Step>& r) REQUIRES(mu_) {
    switch (piece.kind) {
      case Piece::Kind::kUnfinished:
        --busy_;
        if (r.ok() && !r->done()) unfinished_.push_front(*piece.unfinished);
        break;
      case Piece::Kind::kEvaluate: evaluating_.erase({piece.agent, piece.task->Key()}); break;
      default:
        --in_flight_;
        expanding_.erase(piece.slot);
        p_.loop.ReleaseSlot(piece.slot);
        break;
    }
  }

  // What the policy may choose from now.
  Result<HgmState> Now() REQUIRES(mu_) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<SelectionStats> all, run_.archive.LoadSelectionStats(run_.run.id));
    const RunConfig& config = run_.config;
    HgmState state;
    state.task_evaluations = evaluations_done_ + static_cast<std::int64_t>(evaluating_.size());
    // Pending: expansions whose child is not committed yet (a committed one being built is a node already).
    const auto [made, pending] = p_.loop.MadeAndPending(expanding_);
    state.pending_expansions = pending;
    const bool children_left = made + pending < config.children;
    state.may_evaluate = !config.task_evaluations || state.task_evaluations < *config.task_evaluations;
    // A child made once the task evaluations are spent could never be judged.
    state.may_expand = children_left && in_flight_ < config.children_in_flight && state.may_evaluate;
    for (const SelectionStats& s : all) {
      if (s.state == AgentState::kFailed || s.state == AgentState::kPending) continue;
      const bool seed = s.id == run_.seed();
      const bool judged = seed || s.state == AgentState::kAdmitted;
      HgmNode node{s.id, seed ? std::nullopt : s.parent_id, s.solved, s.attempted, judged, false};
      // Evaluated: admitted agents and children being judged; once the children are all made, and with no
      // budget of task evaluations to spend, only children still being judged.
      if ((judged && (children_left || config.task_evaluations)) || s.state == AgentState::kEvaluating) {
        LINEAGE_ASSIGN_OR_RETURN(const PoolTask* next, pool_.Next(s.id, evaluating_));
        node.evaluable = next != nullptr;
      }
      state.nodes.push_back(node);
    }
    return state;
  }

  // One task run of `id`: recorded at once (so never run again), its stage score updated, and a child being
  // judged judged.
  Result<Step> EvaluateOne(AgentId id, const PoolTask& task) {
    LINEAGE_ASSIGN_OR_RETURN(Agent agent, run_.archive.GetAgent(id));
    LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, run_.Build(id));
    if (!build.built) return Unbuilt(agent, build.failure);
    LINEAGE_ASSIGN_OR_RETURN(Evaluator* evaluator, run_.OpenSuite(task.suite));
    EvaluationOptions eval = run_.EvaluationFor(id, *build.built);
    eval.suite_name = task.suite;
    eval.parallel = 1;
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskResult> results, EvaluateTasks(*evaluator, {task.info}, task.stage, eval, *run_.sandbox));
    const TaskResult& r = results.at(0);
    const std::string why = "evaluating " + r.task_id + ": " + r.detail;
    switch (DispositionOf(r.outcome)) {
      case Disposition::kRedoWorldFault: return Step::Cut(Interruption::WorldFault(why));
      case Disposition::kRedoBudget: return Step::Cut(Interruption::Budget(why));
      default: break;
    }
    {
      std::lock_guard lock(mu_);
      LINEAGE_ASSIGN_OR_RETURN(std::set<TaskRef>* done, pool_.Done(id));
      if (done->insert(task.Key()).second) ++evaluations_done_;
    }
    // Two slots may finish tasks of one agent at once: its stage score and its verdict are one step each.
    std::lock_guard judging(judge_mu_);
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, run_.archive.ListEvaluations(id));
    StageScore score{.stage = task.stage};
    for (const Evaluation& e : evaluations) {
      if (e.stage != task.stage || !Counts(e.outcome)) continue;
      ++score.attempted;
      score.solved += e.outcome == Outcome::kSolved;
    }
    if (score.attempted > 0) score.score = static_cast<double>(score.solved) / score.attempted;
    LINEAGE_RETURN_IF_ERROR(run_.archive.RecordStageScore(id, score));
    return Judge(id, evaluations);
  }

  // A child being judged that no longer builds is judged by it, as when it was first built; an agent
  // admitted before did build, so its failure now is the machine's (a limit under load).
  Result<Step> Unbuilt(Agent& agent, const BuildFailure& failure) {
    if (agent.state != AgentState::kEvaluating) {
      return Step::Cut(Interruption::WorldFault("agent " + std::to_string(agent.id) + " no longer builds: " + failure.Describe()));
    }
    std::lock_guard judging(judge_mu_);
    LINEAGE_ASSIGN_OR_RETURN(agent, run_.archive.GetAgent(agent.id));
    if (agent.state == AgentState::kEvaluating) LINEAGE_RETURN_IF_ERROR(RejectUnbuilt(run_, agent, failure));
    return Step::Done();
  }

  // A child being judged is admitted at its first non-empty patch on a stage-1 task, and rejected once it
  // has run every stage-1 task without one. judge_mu_ held (or no other slot running).
  Result<Step> Judge(AgentId id, const std::vector<Evaluation>& evaluations) {
    LINEAGE_ASSIGN_OR_RETURN(Agent agent, run_.archive.GetAgent(id));
    if (agent.state != AgentState::kEvaluating) return Step::Done();
    // A patch cut short by the world or the budget is no sign of anything, however long.
    const bool edited = std::any_of(evaluations.begin(), evaluations.end(), [](const Evaluation& e) {
      return e.stage == 1 && Counts(e.outcome) && e.patch_bytes > 0;
    });
    const json data = {{"parent", agent.parent_id ? json(*agent.parent_id) : json(nullptr)},
                       {"score", agent.score ? json(*agent.score) : json(nullptr)}, {"stage_reached", agent.stage_reached}};
    const bool stage_one_left = pool_.StageOneLeft(TasksWithResults(evaluations));  // the pool's tasks do not change
    LINEAGE_RETURN_IF_ERROR(RecordVerdict(run_, JudgeChild(edited, stage_one_left), agent, data));
    return Step::Done();
  }

  // Children a killed process left being judged with their verdict due (their last stage-1 task recorded,
  // the verdict not): judged now, else they would wait forever for a task that is not left.
  Status JudgeLeftovers() REQUIRES(mu_) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, run_.archive.ListAgents(run_.run.id));
    for (const Agent& a : agents) {
      if (a.state != AgentState::kEvaluating || a.id == run_.seed()) continue;
      LINEAGE_ASSIGN_OR_RETURN(std::vector<Evaluation> evaluations, run_.archive.ListEvaluations(a.id));
      LINEAGE_RETURN_IF_ERROR(Judge(a.id, evaluations).status());
    }
    return Status::OK();
  }

  const ChildPipeline p_;
  RunServices& run_;
  std::mutex judge_mu_;  // an agent's stage score and verdict after a task run
  std::mutex mu_;
  std::condition_variable cv_;  // a slot finished a piece of work: a waiting slot may find some
  TaskPool pool_ GUARDED_BY(mu_);
  std::deque<Agent> unfinished_ GUARDED_BY(mu_);  // committed children whose building the world interrupted
  std::set<std::pair<AgentId, TaskRef>> evaluating_ GUARDED_BY(mu_);  // task runs in flight (agent, task)
  std::set<int> expanding_ GUARDED_BY(mu_);   // the slots of expansions in flight
  std::int64_t evaluations_done_ GUARDED_BY(mu_) = 0;
  int busy_ GUARDED_BY(mu_) = 0;       // slots finishing unfinished children
  int in_flight_ GUARDED_BY(mu_) = 0;  // expansions under way
  std::mt19937_64 rng_ GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<Scheduler>> MakeHgmScheduler(const ChildPipeline& pipeline) {
  auto scheduler = std::make_unique<HgmScheduler>(pipeline);
  LINEAGE_RETURN_IF_ERROR(scheduler->Open());
  return std::unique_ptr<Scheduler>(std::move(scheduler));
}

}  // namespace lineage
