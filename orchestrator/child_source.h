// The child pipeline's first two steps: which parent a child is made from, and what it is to learn from.
// A live run chooses by its selection rule (selection.h) and ChooseProblem; a replay takes both from its
// record (replay.cc). The pipeline asks its source and never knows which it has.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "archive/archive.h"
#include "base/status.h"
#include "orchestrator/problem.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

// The task every model call made to make the run's k-th child is recorded with ("child k": its diagnosis,
// its parent's self-modification, redone ones included), which the child's first event names: what a child
// cost can be told (lineage show), and a replay finds what the record's k-th child was made from.
inline std::string SlotTag(int slot) { return "child " + std::to_string(slot + 1); }

struct ChildOrigin {
  AgentId parent = 0;
  Problem problem;
  // A replay's child commits only when the run holds this many agents, as the record's did (its seed
  // included): children made concurrently get the ids, and the order, they had. nullopt: at once.
  std::optional<std::size_t> commit_turn;
};

class ChildSource {
 public:
  virtual ~ChildSource() = default;
  // What the child of `slot` is made from. `chosen`: the parent HGM's policy chose, if any; `rng`: the
  // slot's draws.
  virtual Result<ChildOrigin> Choose(RunServices& run, int slot, std::optional<AgentId> chosen,
                                     std::mt19937_64& rng) = 0;
};

// The run's own choice: HGM's chosen parent, else the run's selection rule over its archive; then
// ChooseProblem.
std::unique_ptr<ChildSource> LiveChildSource();

}  // namespace lineage
