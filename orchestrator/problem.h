// The child pipeline's second step: what a child is to learn from, chosen from its parent's evaluations.
#pragma once

#include <optional>
#include <random>
#include <string>

#include "archive/archive.h"
#include "base/status.h"

namespace lineage {

struct Problem {
  enum class Kind {
    kFailedTask,     // a task the parent failed, chosen at random
    kEmptyPatches,   // most of its patches were empty: a systemic problem
    kNoEvaluations,  // it has no results yet
    kAllSolved,      // it solved every task it attempted: one it solved
  };
  Kind kind = Kind::kNoEvaluations;
  std::string task_id;  // empty for a systemic problem
  std::string text;     // for the diagnosis prompt
};

// The names the journal records ("failed_task", "empty_patches", "no_evaluations", "all_solved").
const char* ProblemKindName(Problem::Kind kind);

// What `parent`'s child should learn from: a systemic problem when most of its patches were empty, else a
// task it failed (drawn with `rng`), else one it solved. Held-out results (stage 0) are never shown.
// `recorded_task`: a replay's record names the task instead (the draw is made all the same).
Result<Problem> ChooseProblem(Archive& archive, AgentId parent, std::mt19937_64& rng,
                              const std::string& recorded_task = "");

}  // namespace lineage
