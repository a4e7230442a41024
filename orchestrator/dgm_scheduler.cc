#include "orchestrator/dgm_scheduler.h"

#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "base/thread_annotations.h"
#include "orchestrator/finish_child.h"
#include "orchestrator/run_services.h"

namespace lineage {

namespace {

class DgmScheduler : public Scheduler {
 public:
  explicit DgmScheduler(const ChildPipeline& p) : p_(p) {}

  Status Prepare() override {
    LINEAGE_ASSIGN_OR_RETURN(std::deque<Agent> unfinished, UnfinishedChildren(p_.run, /*evaluating=*/true));
    std::lock_guard lock(mu_);
    unfinished_ = std::move(unfinished);
    return Status::OK();
  }

  int Slots() const override { return p_.run.config.children_in_flight; }

  bool WorkLeft() override {
    std::lock_guard lock(mu_);
    return p_.loop.made() < p_.run.config.children || !unfinished_.empty();
  }

  void Work() override {
    for (;;) {
      // The next piece of work: an unfinished child, else a new attempt in a slot of its own.
      int attempt = 0, slot = -1;
      std::optional<Agent> unfinished;
      {
        std::lock_guard lock(mu_);
        if (!p_.loop.fatal().ok()) return;
        if (unfinished_.empty() && p_.loop.made() + in_flight_ >= p_.run.config.children) return;
        if (!p_.loop.MayGoOn()) return;
        if (!unfinished_.empty()) {
          unfinished.emplace(std::move(unfinished_.front()));
          unfinished_.pop_front();
        } else {
          attempt = p_.loop.NextAttempt();
          slot = p_.loop.TakeSlot();
          ++in_flight_;
        }
      }
      Result<Step> r = unfinished ? Finish(*unfinished) : Make(attempt, slot);
      std::unique_lock lock(mu_);
      if (!unfinished) --in_flight_;
      if (unfinished && r.ok() && !r->done()) unfinished_.push_front(*unfinished);  // not judged yet
      if (!r.ok()) {
        p_.loop.Fail(r.status());
        continue;  // the loop sees the failure and returns
      }
      p_.loop.ReleaseSlot(slot);  // an attempt that made no child gives its slot (and its draws) back
      if (r->world_fault()) lock.unlock();
      p_.loop.Ended(*r, unfinished ? "agent " + std::to_string(unfinished->id) : "attempt " + std::to_string(attempt),
                    attempt, slot);
    }
  }

 private:
  Result<Step> Finish(Agent& child) { return LostIsWorldFault(FinishChild(p_.run, child)); }

  Result<Step> Make(int attempt, int slot) {
    Result<MadeChild> made = MakeChild(p_, attempt, slot);
    if (!made.ok()) return LostIsWorldFault(made.status());
    if (made->unfinished) {
      std::lock_guard lock(mu_);
      unfinished_.push_back(*made->unfinished);  // the world interrupted its evaluation: taken up again
    }
    return made->step;
  }

  const ChildPipeline p_;
  std::mutex mu_;
  std::deque<Agent> unfinished_ GUARDED_BY(mu_);  // committed children whose judging the world interrupted
  int in_flight_ GUARDED_BY(mu_) = 0;             // attempts at new children under way
};

}  // namespace

std::unique_ptr<Scheduler> MakeDgmScheduler(const ChildPipeline& pipeline) {
  return std::make_unique<DgmScheduler>(pipeline);
}

}  // namespace lineage
