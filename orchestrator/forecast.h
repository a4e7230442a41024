// What a run is expected to spend on models, before it starts (`lineage run validate`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "orchestrator/run_config.h"

namespace lineage {

// A forecast of a run's model spend (`lineage run validate`). Each figure is a mean over the home's
// recorded calls of the same upstream models when it holds some (Archive::AverageCosts), else an estimate
// from the models' prices and typical sizes (docs/runs.md, "Cost forecast", gives them).
struct CostForecast {
  struct Part {
    double usd = 0;
    std::int64_t recorded = 0;  // units the mean is over; 0: estimated from prices
  };
  Part diagnosis, self_modification;  // per child
  Part task;                          // per task run of an agent
  std::vector<int> stage_tasks;       // the tasks each stage adds
  std::vector<std::string> unpriced;  // aliases whose model has no price: their calls count as free

  // What one child costs when it is evaluated through `stage` (1-based; 0: not evaluated).
  double ChildThrough(int stage) const;
};
// `archive` may be null (no home yet): prices only.
Result<CostForecast> ForecastCost(const RunConfig& config, Archive* archive);

}  // namespace lineage
