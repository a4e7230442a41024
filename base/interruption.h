// Work the world cut short: a provider down, a lost cluster job, a spent budget. Such work is redone, never
// judged: a score says only what the agent did. One value says so wherever such work surfaces (a staged
// evaluation, a step of the loop), so that every part reads the same two causes the same way.
#pragma once

#include <string>
#include <utility>

namespace lineage {

struct Interruption {
  enum class Cause {
    kWorldFault,  // a provider's or the executor's fault: redone after a backoff, within the run's patience
    kBudget,      // the run's budget refused a call: nothing new starts, and the run finishes
  };
  Cause cause = Cause::kWorldFault;
  std::string why;

  static Interruption WorldFault(std::string why) { return {Cause::kWorldFault, std::move(why)}; }
  static Interruption Budget(std::string why) { return {Cause::kBudget, std::move(why)}; }
  bool budget() const { return cause == Cause::kBudget; }
};

}  // namespace lineage
