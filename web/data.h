// What the dashboard and the static report show, as JSON read from the archive. The same shapes are served
// by the daemon's HTTP API (/api/runs, /api/runs/ID, /api/agents/ID) and embedded in a report.
#pragma once

#include <nlohmann/json.hpp>

#include "archive/archive.h"

namespace lineage::web {

// Every run: id, name, status, children made and wanted, admitted, best score, spend.
Result<nlohmann::json> RunsJson(Archive& archive);

// One run's summary, as RunsJson lists it.
Result<nlohmann::json> RunSummaryJson(Archive& archive, RunId run);

// One run: its summary, its agents (id, parent, status, reason, score, stage reached, generation, diff
// size, created_at), the best agent's lineage, and the score over time (best and mean of the admitted
// agents after each agent's arrival).
Result<nlohmann::json> RunJson(Archive& archive, RunId run);

// One agent: its row, problem statement, diagnosis, diff against its parent, evaluations (with their
// logs, capped), and model calls with tokens and cost.
Result<nlohmann::json> AgentJson(Archive& archive, AgentId agent);

}  // namespace lineage::web
