// The child pipeline's third step: the diagnosis model reads the parent's source and the problem, and
// answers with DGM's fields (prompts.h, kDiagnosisFields); an answer that does not parse is asked again.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/interruption.h"
#include "base/status.h"
#include "orchestrator/problem.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

inline constexpr int kDiagnosisAttempts = 3;  // DGM retries unparsable JSON up to 3 times

// A diagnosis: the model's answer, or why there is none.
struct Diagnosis {
  nlohmann::json answer;                     // DGM's fields, when the diagnosis is usable
  std::optional<Interruption> interrupted;   // the world or the budget refused a call: redo, no one's fault
  std::string unusable;                      // the model's answers could not be used (kDiagnosisAttempts)
  // What the child is to do: the suggestion, then the problem it addresses.
  std::string ProblemStatement() const;
};

// Diagnoses `problem` of `parent` (whose source is `tree`) for the child of `slot`. The usable answer is
// journalled (journal::Diagnosis) before it is returned: replay makes its children from that record. An
// error means lineage could not record the call or the diagnosis; the answer is then not used.
Result<Diagnosis> Diagnose(RunServices& run, AgentId parent, const std::vector<TreeEntry>& tree,
                           const Problem& problem, int slot);

}  // namespace lineage
