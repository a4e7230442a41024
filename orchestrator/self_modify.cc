#include "orchestrator/self_modify.h"

#include <filesystem>

#include "base/files.h"
#include "orchestrator/child_source.h"
#include "orchestrator/prompts.h"
#include "orchestrator/run_services.h"

namespace lineage {

namespace fs = std::filesystem;

Result<std::optional<SelfModification>> SelfModify(RunServices& run, int attempt, int slot, AgentId modifier,
                                                   const std::vector<TreeEntry>& tree, const std::string& statement) {
  LINEAGE_ASSIGN_OR_RETURN(BuildOutcome build, run.Build(modifier));
  if (!build.built) return std::optional<SelfModification>();
  const fs::path workspace = run.run_dir / "work" / ("attempt-" + std::to_string(attempt));
  std::error_code ec;
  fs::remove_all(workspace, ec);
  LINEAGE_RETURN_IF_ERROR(WriteTree(workspace, tree));
  AgentRunOptions options;
  options.runtime = run.runtime;
  options.workspace = workspace;
  options.instruction = Fill(run.prompts.self_modify, {{"problem_statement", statement}});
  options.task_id = "self-modify";
  options.wall_ms = run.config.self_modify_wall_ms;
  options.attribution = llm::Attribution{run.run.id, modifier, SlotTag(slot), "self_modify"};
  auto result = RunAgent(*build.built, options, *run.sandbox);
  if (!result.ok()) return result.status().WithContext("self-modification");
  // The self-modification's transcript outlives its scratch directory as a blob.
  std::string transcript;
  for (const std::string& line : result->trajectory) transcript += line + "\n";
  LINEAGE_ASSIGN_OR_RETURN(std::string transcript_blob, run.archive.PutBlob(transcript));
  run.Note("self_modify", {{"agent", modifier}, {"status", result->status}, {"rounds", result->rounds},
                           {"files_changed", result->diff.files_changed}, {"cost_usd", result->spend.cost_usd},
                           {"summary", result->summary}, {"transcript_blob", transcript_blob}});
  fs::remove_all(result->output_dir.parent_path(), ec);
  fs::remove_all(workspace, ec);
  return std::optional<SelfModification>(SelfModification{std::move(result->after), result->unreadable_workspace, result->faults});
}

}  // namespace lineage
