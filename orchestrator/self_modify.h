// The child pipeline's fourth step, DGM's own: the modifying agent, built, runs in the sandbox on a checkout
// of the parent's source with the diagnosis's problem statement as its task; what it leaves is the child.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "llm/gateway.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

// What a self-modification left: the tree, or (unreadable set) nothing lineage would read.
struct SelfModification {
  std::vector<TreeEntry> tree;
  std::string unreadable;       // why lineage would not read the workspace it left
  llm::Gateway::Faults faults;  // the agent's calls the world or the budget failed: then it says nothing
};

// Runs `modifier` (built now; the build cache usually has it) on a checkout of `tree` in the attempt's
// scratch directory. Nothing when the modifier does not build (it did when it was admitted: a limit under
// load, say). Unavailable when the executor lost the run (a cluster job gone).
Result<std::optional<SelfModification>> SelfModify(RunServices& run, int attempt, int slot, AgentId modifier,
                                                   const std::vector<TreeEntry>& tree, const std::string& statement);

}  // namespace lineage
