#include "orchestrator/commit_child.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "archive/journal.h"
#include "orchestrator/child_source.h"
#include "orchestrator/run_services.h"

namespace lineage {

using json = nlohmann::json;

namespace {

// Whether two trees hold the same entries, whatever order they were read in (git's tree walk and a
// directory walk order "a.txt" and "a/x" differently).
bool SameTree(std::vector<TreeEntry> a, std::vector<TreeEntry> b) {
  auto by_path = [](const TreeEntry& x, const TreeEntry& y) { return x.path < y.path; };
  std::sort(a.begin(), a.end(), by_path);
  std::sort(b.begin(), b.end(), by_path);
  return a == b;
}

bool Counted(const Agent& a) { return a.state != AgentState::kFailed && a.state != AgentState::kPending; }

// The options of the child's commit; rejected already when it changed nothing lineage would keep.
Archive::ChildOptions OptionsFor(RunServices& run, ChildDraft& draft) {
  std::string unusable = draft.unreadable;
  for (const TreeEntry& e : draft.tree) {
    // A file named .git, say: ReadTree passes it, the archive would refuse it.
    if (Status s = ValidateTreePath(e.path); unusable.empty() && !s.ok()) unusable = s.message();
  }
  if (!unusable.empty()) draft.tree = draft.parent_tree;
  Archive::ChildOptions options;
  options.name = "child of " + std::to_string(draft.parent);
  options.run = run.run.id;
  options.problem_statement = draft.statement;
  options.diagnosis_json = draft.diagnosis_json;
  options.allow_empty = SameTree(draft.parent_tree, draft.tree);
  options.event_data = journal::ChildMade{draft.attempt, SlotTag(draft.slot)}.Encode();
  if (options.allow_empty) {
    options.state = AgentState::kRejected;
    options.reason = unusable.empty() ? "empty change: the self-modification left the source as it was"
                                      : "unusable change: lineage will not read what the self-modification left: " + unusable;
  }
  return options;
}

}  // namespace

Status Committer::Load() {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, run_.archive.ListAgents(run_.run.id));
  std::lock_guard lock(mu_);
  agents_ = static_cast<std::size_t>(std::count_if(agents.begin(), agents.end(), Counted));
  return Status::OK();
}

Result<Agent> Committer::Commit(ChildDraft draft, std::optional<std::size_t> turn) {
  Archive::ChildOptions options = OptionsFor(run_, draft);
  std::unique_lock lock(mu_);
  if (turn) LINEAGE_RETURN_IF_ERROR(AwaitTurn(*turn, lock));
  if (!options.allow_empty) {
    // A child whose files are an agent's of this run already (a sibling that made the same change) would
    // only be evaluated again.
    LINEAGE_ASSIGN_OR_RETURN(std::optional<AgentId> same, run_.archive.FindTree(draft.tree, run_.run.id));
    if (same) {
      options.state = AgentState::kRejected;
      options.reason = "duplicate of #" + std::to_string(*same);
    }
  }
  LINEAGE_ASSIGN_OR_RETURN(Agent child, run_.archive.AddChild(draft.parent, std::move(draft.tree), options));
  ++agents_;
  lock.unlock();
  committed_.notify_all();
  run_.AgentsChanged();
  return child;
}

void Committer::Announce(const Agent& child) {
  run_.Progress(std::string("agent.") + StateName(child.state) + " " +
                json{{"agent", child.id}, {"parent", *child.parent_id}, {"files_changed", child.files_changed},
                     {"lines_added", child.lines_added}, {"lines_removed", child.lines_removed}, {"reason", child.reason}}
                    .dump());
}

Status Committer::AwaitTurn(std::size_t turn, std::unique_lock<std::mutex>& lock) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (agents_ < turn) {
    if (run_.StopRequested() || std::chrono::steady_clock::now() >= deadline) {
      return Status::FailedPrecondition("replay: the child committed when the run held " + std::to_string(turn) +
                                        " agents waited in vain for its turn (the run holds " + std::to_string(agents_) + ")");
    }
    // Woken by each commit; the timeout only notices the process stopping.
    committed_.wait_for(lock, std::chrono::seconds(1));
  }
  return Status::OK();
}

}  // namespace lineage
