#include "orchestrator/loop_state.h"

#include <algorithm>

#include "base/files.h"
#include "llm/gateway.h"
#include "orchestrator/evolution.h"

namespace lineage {

Result<Step> LostIsWorldFault(Result<Step> step) {
  if (step.ok() || step.status().code() != Status::Code::kUnavailable) return step;
  return Step::Cut(Interruption::WorldFault(step.status().message()));
}

LoopState::LoopState(RunServices& run, int made) : run_(run), made_(made), next_slot_(made) {
  for (int i = 0; i < made; ++i) made_slots_.insert(i);
}

int LoopState::NextAttempt() {
  std::lock_guard lock(mu_);
  return ++attempts_;
}

int LoopState::TakeSlot() {
  std::lock_guard lock(mu_);
  if (free_slots_.empty()) return next_slot_++;
  const int slot = *free_slots_.begin();
  free_slots_.erase(free_slots_.begin());
  return slot;
}

void LoopState::ReleaseSlot(int slot) {
  std::lock_guard lock(mu_);
  if (slot >= 0 && !made_slots_.count(slot)) free_slots_.insert(slot);
}

void LoopState::MadeChild(int slot) {
  std::lock_guard lock(mu_);
  ++made_;
  made_slots_.insert(slot);
}

std::pair<int, int> LoopState::MadeAndPending(const std::set<int>& expanding) {
  std::lock_guard lock(mu_);
  int pending = 0;
  for (int slot : expanding) pending += !made_slots_.count(slot);
  return {made_, pending};
}

int LoopState::made() {
  std::lock_guard lock(mu_);
  return made_;
}

std::mt19937_64 LoopState::SlotRng(int slot) {
  std::lock_guard lock(mu_);
  const RunId as_run = run_.options.draws_as_run.value_or(run_.run.id);
  return std::mt19937_64(run_.config.random_seed ^ static_cast<std::uint64_t>(as_run) * 0x9E3779B97F4A7C15ull ^
                         (static_cast<std::uint64_t>(slot) + 1) * 0xBF58476D1CE4E5B9ull ^
                         static_cast<std::uint64_t>(slot_redos_[slot]) * 0x94D049BB133111EBull);
}

std::uint64_t LoopState::PolicySeed(std::int64_t done) {
  std::lock_guard lock(mu_);
  const RunId as_run = run_.options.draws_as_run.value_or(run_.run.id);
  return run_.config.random_seed ^ static_cast<std::uint64_t>(as_run) * 0x9E3779B97F4A7C15ull ^
         static_cast<std::uint64_t>(done + made_) * 0xD1B54A32D192ED03ull;
}

void LoopState::Ended(const Step& step, const std::string& name, int attempt, int slot) {
  if (step.world_fault()) {
    AbsorbFault(name, step.interruption.why);
    return;
  }
  std::optional<std::string> failed;
  {
    std::lock_guard lock(mu_);
    switch (step.end) {
      case Step::End::kDone:
        consecutive_failures_ = 0;
        fault_since_.reset();
        return;
      case Step::End::kInterrupted:  // the budget
        budget_spent_ = true;
        if (stop_.empty()) stop_ = {StopReason::Kind::kBudget, "budget: a model call was refused (" + step.interruption.why + ")"};
        return;
      case Step::End::kRedo:
        if (slot >= 0) ++slot_redos_[slot];  // redone with fresh draws: the same parent may be why
        if (++consecutive_failures_ >= kMaxConsecutiveFailures && fatal_.ok()) {
          fatal_ = Status::FailedPrecondition(std::to_string(kMaxConsecutiveFailures) +
                                              " attempts in a row made no child; the last: " + step.why);
        }
        failed = step.why;
    }
  }
  run_.Note("child.failed", {{"attempt", attempt}, {"error", *failed}});
}

bool LoopState::AbsorbFault(const std::string& name, const std::string& why) {
  // A stop or pause asked for meanwhile wins: the step is left for the next resume.
  if (run_.StopRequested()) return false;
  if (auto state = run_.StoredState(); state.ok() && (*state == RunState::kPausing || *state == RunState::kStopping)) {
    return false;
  }
  std::int64_t wait_ms = 0;
  {
    std::lock_guard lock(mu_);
    const std::int64_t now = run_.Now();
    if (!fault_since_) {
      fault_since_ = now;
      fault_first_ = why;
      fault_backoff_ms_ = 1000;
    }
    if (now - *fault_since_ >= run_.config.fault_patience_ms) {
      if (!fault_paused_) {
        fault_paused_ = true;
        stop_ = {StopReason::Kind::kFaults,
                 "fault: the models have failed since " + FormatTimestamp(*fault_since_).substr(11, 8) + " UTC (" +
                     fault_first_ + "); `lineage run resume " + std::to_string(run_.run.id) +
                     "` retries, and a daemon retries by itself"};
      }
      return false;
    }
    wait_ms = fault_backoff_ms_;
    fault_backoff_ms_ = std::min<std::int64_t>(fault_backoff_ms_ * 2, 30'000);
  }
  run_.Note("fault.absorbed", {{"step", name}, {"error", why}, {"retry_in_ms", wait_ms}});
  run_.Sleep(wait_ms);
  return true;
}

void LoopState::FaultsOver() {
  std::lock_guard lock(mu_);
  fault_since_.reset();
}

bool LoopState::MayGoOn() {
  std::lock_guard lock(mu_);
  if (!fatal_.ok()) return false;
  StopReason why;
  const bool go_on = MayGoOnLocked(&why);
  if (why.Is(StopReason::Kind::kLowDisk)) low_disk_ = true;
  if (!why.empty() && stop_.empty()) stop_ = std::move(why);
  return go_on;
}

// Empty `why` with false: the run ends for a reason already given.
bool LoopState::MayGoOnLocked(StopReason* why) {
  if (budget_spent_ || fault_paused_) return false;
  if (std::string low = run_.LowDisk(); !low.empty()) {
    *why = {StopReason::Kind::kLowDisk, low};
    return false;
  }
  if (run_.StopRequested()) {
    *why = {StopReason::Kind::kStopRequested, "stop requested"};
    return false;
  }
  if (auto state = run_.StoredState(); state.ok() && (*state == RunState::kPausing || *state == RunState::kStopping)) {
    *why = {*state == RunState::kPausing ? StopReason::Kind::kPausing : StopReason::Kind::kStopping, StateName(*state)};
    return false;
  }
  const RunConfig& config = run_.config;
  if (config.wall_ms && run_.Now() - run_.started_at >= *config.wall_ms) {
    *why = {StopReason::Kind::kBudget, "budget: wall time"};
    return false;
  }
  const llm::Spend spent = run_.budget->spent(), flying = run_.budget->in_flight();
  const llm::BudgetLimits& limits = run_.budget->limits();
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

void LoopState::Stop(StopReason why) {
  std::lock_guard lock(mu_);
  if (why.Is(StopReason::Kind::kLowDisk)) low_disk_ = true;
  if (why.Is(StopReason::Kind::kConfig)) config_paused_ = true;
  if (stop_.empty()) stop_ = std::move(why);
}

void LoopState::StopForBudget(const std::string& why) {
  Stop({StopReason::Kind::kBudget, "budget: a model call was refused (" + why + ")"});
}

void LoopState::Fail(const Status& why) {
  std::lock_guard lock(mu_);
  if (fatal_.ok()) fatal_ = why;
}

Status LoopState::fatal() {
  std::lock_guard lock(mu_);
  return fatal_;
}

StopReason LoopState::stop_reason() {
  std::lock_guard lock(mu_);
  return stop_;
}

void LoopState::ClearStop() {
  std::lock_guard lock(mu_);
  stop_ = {};
}

bool LoopState::budget_spent() {
  std::lock_guard lock(mu_);
  return budget_spent_ || stop_.Is(StopReason::Kind::kBudget);
}

bool LoopState::paused_by_world() {
  std::lock_guard lock(mu_);
  return low_disk_ || fault_paused_ || config_paused_;
}

bool LoopState::low_disk_or_faults() {
  std::lock_guard lock(mu_);
  return low_disk_ || fault_paused_;
}

}  // namespace lineage
