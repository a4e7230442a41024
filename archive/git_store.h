// GitStore: the bare repository of agent variants (agents.git), written with libgit2. Internal to archive/.
//
// Every variant is one commit whose git parent is its archive parent's commit, on branch agents/<id>.
// libgit2 runs no hooks and no filters, so nothing in a stored tree can execute on the host.
// Not thread-safe: the Archive serializes access.
#pragma once

#include <git2.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "base/safe_tree.h"
#include "base/status.h"

namespace lineage {

class GitStore {
 public:
  ~GitStore();
  GitStore(const GitStore&) = delete;
  GitStore& operator=(const GitStore&) = delete;

  // Creates a bare repository at `path` if there is none, then opens it.
  static Result<std::unique_ptr<GitStore>> OpenOrCreate(const std::filesystem::path& path);
  static Result<std::unique_ptr<GitStore>> Open(const std::filesystem::path& path);

  // Writes the blobs and trees of `entries`; returns the root tree id.
  Result<std::string> WriteTree(const std::vector<TreeEntry>& entries);
  // The root tree id of `commit`.
  Result<std::string> TreeOf(const std::string& commit);
  // Writes a commit of `tree` (with `parent_commit` as git parent unless empty). The same inputs give the
  // same commit id, so retrying after a crash is harmless.
  Result<std::string> Commit(const std::string& tree, const std::string& parent_commit, const std::string& message,
                             std::int64_t time_millis);

  // Points refs/heads/agents/<agent_id> at `commit`. Idempotent; refuses to move an existing branch
  // elsewhere unless `force`.
  Status SetBranch(std::int64_t agent_id, const std::string& commit, bool force = false);
  // The commit of agents/<agent_id>, or nullopt when the branch does not exist.
  Result<std::optional<std::string>> Branch(std::int64_t agent_id);
  // Every agent id that has a branch.
  Result<std::vector<std::int64_t>> ListBranches();

  bool HasCommit(const std::string& commit);
  // The commit's first git parent, or "" for a root commit.
  Result<std::string> ParentOf(const std::string& commit);
  // Every file and symlink of the commit's tree, sorted by path.
  Result<std::vector<TreeEntry>> ReadTree(const std::string& commit);
  // Unified diff from `old_commit` (or the empty tree when "") to `new_commit`. With `with_patch` false
  // only the counts are computed (the patch text stays empty), which is all a commit needs to record.
  Result<DiffResult> Diff(const std::string& old_commit, const std::string& new_commit, bool with_patch = true);

  // Lock files left by a process killed while updating a ref (under refs/, or HEAD, config, packed-refs).
  std::vector<std::filesystem::path> ListStaleLocks() const;

  static std::string BranchName(std::int64_t agent_id) { return "refs/heads/agents/" + std::to_string(agent_id); }

 private:
  GitStore(git_repository* repo, std::filesystem::path path) : repo_(repo), path_(std::move(path)) {}
  Result<git_commit*> LookupCommit(const std::string& commit);

  git_repository* repo_;
  std::filesystem::path path_;
};

}  // namespace lineage
