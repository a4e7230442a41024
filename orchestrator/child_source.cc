#include "orchestrator/child_source.h"

#include "orchestrator/run_services.h"
#include "orchestrator/selection.h"

namespace lineage {

namespace {

class LiveSource : public ChildSource {
 public:
  Result<ChildOrigin> Choose(RunServices& run, int, std::optional<AgentId> chosen, std::mt19937_64& rng) override {
    ChildOrigin origin;
    if (chosen) {
      origin.parent = *chosen;
    } else {
      LINEAGE_ASSIGN_OR_RETURN(std::vector<SelectionStats> all, run.archive.LoadSelectionStats(run.run.id));
      std::vector<SelectionStats> candidates = SelectionCandidates(all, run.seed());
      if (candidates.empty()) return Status::Internal("no agent to select a parent from");
      origin.parent = SelectParent(run.config.selection, candidates, all, rng);
    }
    LINEAGE_ASSIGN_OR_RETURN(origin.problem, ChooseProblem(run.archive, origin.parent, rng));
    return origin;
  }
};

}  // namespace

std::unique_ptr<ChildSource> LiveChildSource() { return std::make_unique<LiveSource>(); }

}  // namespace lineage
