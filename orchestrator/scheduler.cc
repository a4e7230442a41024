#include "orchestrator/scheduler.h"

#include "orchestrator/run_services.h"

namespace lineage {

Result<std::deque<Agent>> UnfinishedChildren(RunServices& run, bool evaluating) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, run.archive.ListAgents(run.run.id));
  std::deque<Agent> out;
  for (Agent& a : agents) {
    if (!a.parent_id || a.id == run.seed()) continue;
    if (a.state == AgentState::kCommitted || a.state == AgentState::kBuilt ||
        (evaluating && a.state == AgentState::kEvaluating)) {
      run.Progress("agent " + std::to_string(a.id) + ": resuming (" + StateName(a.state) + ")");
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace lineage
