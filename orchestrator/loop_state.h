// What a run's slots share, whichever scheduler runs them: how a piece of work ended (Step), the children
// made and the slots whose draws they use, the world's faults and the run's patience with them, and why
// the run stops starting work (StopReason).
//
// One mutex guards it all. A scheduler's own lock may be held when calling in; LoopState never calls out
// to a scheduler, so the order is always scheduler, then loop state.
#pragma once

#include <cstdint>
#include <mutex>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "base/interruption.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "orchestrator/run_services.h"

namespace lineage {

// How a piece of the run's work ended (evaluating the seed, making a child, finishing one, one task run),
// when lineage itself did not fail: an error is fatal to the run.
struct Step {
  enum class End {
    kDone,         // done: the agents involved are judged by what they did
    kRedo,         // no child came of it for a reason that is no one's fault lineage can name (an unusable
                   // diagnosis): redone with fresh draws; kMaxConsecutiveFailures in a row fail the run
    kInterrupted,  // the world or the budget cut it short (`interruption`): redone, never judged
  };
  End end = End::kDone;
  std::string why;            // kRedo
  Interruption interruption;  // kInterrupted

  static Step Done() { return {}; }
  static Step Redo(std::string why) { return {End::kRedo, std::move(why), {}}; }
  static Step Cut(Interruption i) { return {End::kInterrupted, "", std::move(i)}; }
  bool done() const { return end == End::kDone; }
  // Whether ending it backs off (LoopState::Ended sleeps): a scheduler lets go of its lock first.
  bool world_fault() const { return end == End::kInterrupted && !interruption.budget(); }
};

// Work the executor lost (a cluster job gone: sandbox/slurm.h, Unavailable) is the world's fault, redone
// like an outage.
Result<Step> LostIsWorldFault(Result<Step> step);

// Why a run stopped starting work: its kind decides how the run ends (evolution.cc, Finish), its text is
// the reason its record gives.
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

inline constexpr int kMaxConsecutiveFailures = 3;  // attempts that fail before a child exists

class LoopState {
 public:
  // `made`: the children the run had made when this process took it up.
  LoopState(RunServices& run, int made);

  // --- Slots: the i-th child is made with the i-th slot's draws, so the course of a run does not depend on
  // how many attempts the world interrupted.
  int NextAttempt();
  int TakeSlot();                  // the smallest slot not taken
  void ReleaseSlot(int slot);      // an attempt that made no child gives its slot (and its draws) back
  void MadeChild(int slot);        // its child is committed: the slot is spent
  int made();
  // The children made, and how many of `expanding` slots have none yet, read together.
  std::pair<int, int> MadeAndPending(const std::set<int>& expanding);
  std::mt19937_64 SlotRng(int slot);
  // The draws of a run's policy (HGM's), going on from where the archive stands: `done` pieces of work so
  // far, so a resumed run makes the choices a run never interrupted would have made from the same archive.
  std::uint64_t PolicySeed(std::int64_t done);

  // --- Ending: what every slot does once a piece of work ended; sleeps for a world fault's backoff
  // (Step::world_fault), so a scheduler calls it holding its own lock for any other end only: then no other
  // slot starts work before the end is accounted for.
  void Ended(const Step& step, const std::string& name, int attempt, int slot);
  // A fault of the world interrupted `name`: recorded, and a wait before it is redone (1 s, doubling to
  // 30 s). False, with the run set to pause, once the faults have lasted the run's patience, or when the
  // run is stopping or pausing meanwhile.
  bool AbsorbFault(const std::string& name, const std::string& why);
  void FaultsOver();  // work went through: the run's patience starts afresh

  // Whether new work may start, as far as the run's state, budgets and disk go; records why not.
  bool MayGoOn();
  // Records why the run stops, unless a reason was recorded already.
  void Stop(StopReason why);
  void StopForBudget(const std::string& why);
  void Fail(const Status& why);  // fatal to the run; the first error is the one reported
  Status fatal();
  StopReason stop_reason();
  void ClearStop();  // a pause undone before it completed: a full set of slots goes on
  bool budget_spent();
  // The run pauses for a reason of the world's: its faults outlasted its patience, the disk ran low, or a
  // model could not be reached before any call was answered.
  bool paused_by_world();
  bool low_disk_or_faults();  // a final stage is not run then

 private:
  bool MayGoOnLocked(StopReason* why) REQUIRES(mu_);

  RunServices& run_;
  std::mutex mu_;
  int attempts_ GUARDED_BY(mu_) = 0;
  int made_ GUARDED_BY(mu_) = 0;
  int consecutive_failures_ GUARDED_BY(mu_) = 0;
  int next_slot_ GUARDED_BY(mu_) = 0;
  std::set<int> free_slots_ GUARDED_BY(mu_);
  std::set<int> made_slots_ GUARDED_BY(mu_);
  std::map<int, int> slot_redos_ GUARDED_BY(mu_);  // kRedo ends per slot: each redo draws afresh
  std::optional<std::int64_t> fault_since_ GUARDED_BY(mu_);  // the first fault of the current run of faults
  std::string fault_first_ GUARDED_BY(mu_);
  std::int64_t fault_backoff_ms_ GUARDED_BY(mu_) = 1000;
  bool fault_paused_ GUARDED_BY(mu_) = false;  // the faults outlasted the patience: the run pauses
  bool budget_spent_ GUARDED_BY(mu_) = false;  // the budget refused a call
  bool low_disk_ GUARDED_BY(mu_) = false;      // the home's file system ran low
  bool config_paused_ GUARDED_BY(mu_) = false;  // a model could not be reached before any call was answered
  Status fatal_ GUARDED_BY(mu_);
  StopReason stop_ GUARDED_BY(mu_);
};

}  // namespace lineage
