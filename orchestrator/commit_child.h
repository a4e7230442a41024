// The child pipeline's fifth step: the child is committed on its own branch. A change lineage will not keep
// (none at all, a path it would not read, the files of an agent of this run already) is committed rejected,
// at no evaluation's cost, so that every attempt that made a child leaves a record of it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace lineage {

class RunServices;  // orchestrator/run_services.h

// A child as the self-modification left it, ready to commit.
struct ChildDraft {
  AgentId parent = 0;
  int attempt = 0, slot = 0;
  std::vector<TreeEntry> parent_tree, tree;
  std::string unreadable;       // SelfModification::unreadable
  std::string statement;        // the problem statement it was made for
  std::string diagnosis_json;   // the diagnosis's answer
};

class Committer {
 public:
  explicit Committer(RunServices& run) : run_(run) {}

  // Reads how many agents the run holds (a replay's commit turns count them).
  Status Load();
  // Commits `draft`: rejected at once when empty, unusable or a duplicate of an agent of this run, else
  // committed to be built and evaluated. With `turn`, waits until the run holds that many agents (a
  // replay: ten minutes at most, or until the process stops). The duplicate check and the commit are one
  // step, so two children in flight cannot both pass it. The caller counts the child, then says so
  // (Announce).
  Result<Agent> Commit(ChildDraft draft, std::optional<std::size_t> turn);
  // The progress line of a committed child.
  void Announce(const Agent& child);

 private:
  Status AwaitTurn(std::size_t turn, std::unique_lock<std::mutex>& lock) REQUIRES(mu_);

  RunServices& run_;
  std::mutex mu_;
  std::condition_variable committed_;
  std::size_t agents_ GUARDED_BY(mu_) = 0;  // the run's agents, failed and pending ones aside
};

}  // namespace lineage
