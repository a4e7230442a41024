#include "archive/outcome.h"

#include <utility>

namespace lineage {

namespace {

constexpr std::pair<Outcome, const char*> kNames[] = {
    {Outcome::kSolved, "solved"},   {Outcome::kFailed, "failed"},   {Outcome::kEmptyPatch, "empty_patch"},
    {Outcome::kTimeout, "timeout"}, {Outcome::kError, "error"},     {Outcome::kSkipped, "skipped"},
    {Outcome::kFaulted, "faulted"}, {Outcome::kOutOfBudget, "out_of_budget"},
};

}  // namespace

const char* OutcomeName(Outcome o) {
  for (const auto& [outcome, name] : kNames) {
    if (outcome == o) return name;
  }
  return "?";
}

std::optional<Outcome> ParseOutcome(std::string_view name) {
  for (const auto& [outcome, text] : kNames) {
    if (name == text) return outcome;
  }
  return std::nullopt;
}

}  // namespace lineage
