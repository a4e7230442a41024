// How one task run ended, and what that means for its agent. Written by the harness, stored by the archive,
// read by the loop, the scores and the reports: one type, one table of names, one rule of what counts.
#pragma once

#include <optional>
#include <string_view>

namespace lineage {

enum class Outcome {
  kSolved,
  kFailed,       // the tests ran and failed
  kEmptyPatch,   // the agent changed nothing (never solved)
  kTimeout,      // the tests ran out of time
  kError,        // the harness could not attempt the task
  kSkipped,      // the toolchain is missing here
  kFaulted,      // a model call failed for the provider's or lineage's configuration's reasons
  kOutOfBudget,  // the run's budget refused a model call
};

// What a recorded task run says of its agent.
enum class Disposition {
  kJudged,          // a result: it counts toward the agent's score and may be shown to a diagnosis
  kRedoWorldFault,  // the world cut it short: no result, run again after a backoff
  kRedoBudget,      // the budget cut it short: no result, run again once there is budget
  kNotCounted,      // a result that says nothing of the agent (skipped: a toolchain missing here)
};

constexpr Disposition DispositionOf(Outcome o) {
  switch (o) {
    case Outcome::kFaulted: return Disposition::kRedoWorldFault;
    case Outcome::kOutOfBudget: return Disposition::kRedoBudget;
    case Outcome::kSkipped: return Disposition::kNotCounted;
    default: return Disposition::kJudged;
  }
}

// A recorded run that stands: it is never run again (skipped ones included).
constexpr bool IsResult(Outcome o) {
  const Disposition d = DispositionOf(o);
  return d == Disposition::kJudged || d == Disposition::kNotCounted;
}
// A result that counts toward a score.
constexpr bool Counts(Outcome o) { return DispositionOf(o) == Disposition::kJudged; }

// The names stored in the archive and shown to people: "solved", "failed", "empty_patch", "timeout",
// "error", "skipped", "faulted", "out_of_budget".
const char* OutcomeName(Outcome o);
// nullopt for a name not in the table (an archive written by a newer lineage, say).
std::optional<Outcome> ParseOutcome(std::string_view name);

}  // namespace lineage
