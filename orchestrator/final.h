// The final stage: a run's top agents on a held-out set ([[final]], `lineage run final`).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "harness/harness.h"
#include "orchestrator/run_config.h"
#include "sandbox/sandbox.h"

namespace lineage {

// How the top agents did on a held-out set ([[final]], `lineage run final`). Their task runs are recorded
// under the suite "final:<suite>" and stage 0: shown with the agent, never part of its score, never shown to
// a diagnosis.
struct FinalResult {
  AgentId agent = 0;
  int solved = 0, attempted = 0;             // on the held-out tasks
  std::optional<double> run_score;            // the score the run gave it, for comparison
};

struct FinalOptions {
  // How the agents run: RunRuntime(config, home) (run_services.h); the run's own, with its budget and its
  // replayer, when the run itself evaluates.
  AgentRuntime runtime;
  Sandbox* sandbox = nullptr;  // held to the run's [sandbox] limits here
  int parallel = 2;
  int table = 0;  // the [[final]] table (1-based) the run evaluates; 0: `lineage run final`
  std::function<void(const std::string&)> on_progress;
};

// The run's `final.top` best admitted agents (by the lower end of their interval) on `final.tasks`, with the
// run's models and [sandbox] limits; the calls are recorded with the run. Task runs recorded before (an
// interrupted final) are kept. Only a whole final is reported, as a run event "final" that `run status`
// shows; when a provider fault or the budget cut a task run, Unavailable says so, and running it again
// goes on from there.
Result<std::vector<FinalResult>> EvaluateFinal(Archive& archive, RunId run, const RunConfig& config,
                                               const FinalSpec& final, const FinalOptions& options);
// That every [[final]] table selects tasks that can run here (part of CheckRunConfig).
Status CheckFinals(const RunConfig& config);

// The suite name held-out results are recorded under.
std::string FinalSuiteName(const std::string& suite);

}  // namespace lineage
