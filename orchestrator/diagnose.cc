#include "orchestrator/diagnose.h"

#include "archive/journal.h"
#include "llm/gateway.h"
#include "orchestrator/child_source.h"
#include "orchestrator/prompts.h"
#include "orchestrator/run_services.h"

namespace lineage {

using json = nlohmann::json;

namespace {

// A token of the diagnosis's own for the run's gateway, revoked when the diagnosis ends.
struct DiagnosisToken {
  DiagnosisToken(RunServices& run, int slot)
      : gateway(*run.gateway),
        token(gateway.IssueToken(llm::Attribution{run.run.id, std::nullopt, SlotTag(slot), "diagnose"}, run.budget)) {}
  ~DiagnosisToken() { gateway.RevokeToken(token); }
  llm::Gateway& gateway;
  const std::string token;
};

// A failed call: the budget's or the world's interruption, else a refusal the model would repeat.
Diagnosis Refused(const llm::ModelError& error) {
  Diagnosis d;
  if (error.kind == llm::ErrorKind::kBudgetExceeded) {
    d.interrupted = Interruption::Budget("budget reached while diagnosing: " + error.message);
  } else if (llm::IsWorldFault(error.kind)) {
    // The provider's fault is the world's, redone after a backoff; a request the model refuses (the prompt
    // too long, say) would be refused again.
    d.interrupted = Interruption::WorldFault("the diagnosis model failed: " + error.message);
  } else {
    d.unusable = "the diagnosis model refused: " + error.message;
  }
  return d;
}

}  // namespace

std::string Diagnosis::ProblemStatement() const {
  return answer["implementation_suggestion"].get<std::string>() + "\n\n" + answer["problem_description"].get<std::string>();
}

Result<Diagnosis> Diagnose(RunServices& run, AgentId parent, const std::vector<TreeEntry>& tree, const Problem& problem,
                           int slot) {
  DiagnosisToken token(run, slot);
  llm::ModelConfig model = run.diagnosis_model;
  model.gateway_token = token.token;
  llm::ModelClient client(llm::ModelsConfig{"the run's gateway", {model}});
  llm::ChatRequest request;
  request.messages = {DiagnosisPrompt(run.prompts, SourceListing(tree), problem.text)};
  Diagnosis last;
  last.unusable = "no diagnosis attempted";
  for (int i = 0; i < kDiagnosisAttempts; ++i) {
    llm::CallResult r = client.Call("diagnosis", request);
    if (!r.response) {
      last = Refused(r.error);
      if (last.interrupted) return last;
      continue;
    }
    auto parsed = ParseDiagnosis(r.response->Text());
    // The call must be in the record before its answer is used: budgets and replays are rebuilt from it.
    run.gateway->Flush();
    if (const llm::Gateway::Faults faults = run.gateway->faults(); faults.unrecorded > 0) {
      return Status::IOError(faults.first_unrecorded);
    }
    if (parsed.ok()) {
      const journal::Diagnosis record{parent, ProblemKindName(problem.kind), problem.task_id,
                                      (*parsed)["improvement_proposal"].get<std::string>(), SlotTag(slot)};
      // Replay makes its children from this record: without it the diagnosis is not used.
      LINEAGE_RETURN_IF_ERROR(run.Journal(journal::Diagnosis::kKind, record.Encode()));
      Diagnosis usable;
      usable.answer = std::move(*parsed);
      return usable;
    }
    last = Diagnosis{};
    last.unusable = parsed.status().message();
    // Ask again, saying what was wrong with the answer.
    request.messages.push_back(llm::Message::Assistant(r.response->Text()));
    request.messages.push_back(llm::Message::User("That was not usable: " + last.unusable + ". Answer with the JSON object only."));
  }
  return last;
}

}  // namespace lineage
