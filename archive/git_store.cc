#include "archive/git_store.h"

#include <map>
#include <memory>
#include <mutex>

namespace lineage {
namespace fs = std::filesystem;
namespace {

Status GitError(const std::string& what) {
  const git_error* err = git_error_last();
  return Status::IOError(what + ": " + (err != nullptr && err->message != nullptr ? err->message : "libgit2 error"));
}

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

Result<git_oid> ParseOid(const std::string& hex) {
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, hex.c_str()) != 0) {
    return Status::InvalidArgument("'" + hex + "' is not a commit id");
  }
  return oid;
}

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using BuilderPtr = GitPtr<git_treebuilder, git_treebuilder_free>;
using SignaturePtr = GitPtr<git_signature, git_signature_free>;
using ReferencePtr = GitPtr<git_reference, git_reference_free>;

// A directory of the tree being written: files by name, subdirectories by name.
struct DirNode {
  std::map<std::string, const TreeEntry*> files;
  std::map<std::string, DirNode> dirs;
};

Result<git_oid> WriteDir(git_repository* repo, const DirNode& node) {
  git_treebuilder* raw = nullptr;
  if (git_treebuilder_new(&raw, repo, nullptr) != 0) return GitError("cannot create tree");
  BuilderPtr builder(raw);
  for (const auto& [name, entry] : node.files) {
    git_oid oid;
    if (git_blob_create_from_buffer(&oid, repo, entry->data.data(), entry->data.size()) != 0) {
      return GitError("cannot store '" + entry->path + "'");
    }
    git_filemode_t mode = entry->kind == TreeEntry::Kind::kSymlink      ? GIT_FILEMODE_LINK
                          : entry->kind == TreeEntry::Kind::kExecutable ? GIT_FILEMODE_BLOB_EXECUTABLE
                                                                        : GIT_FILEMODE_BLOB;
    if (git_treebuilder_insert(nullptr, builder.get(), name.c_str(), &oid, mode) != 0) {
      return GitError("cannot add '" + entry->path + "' to its tree");
    }
  }
  for (const auto& [name, child] : node.dirs) {
    LINEAGE_ASSIGN_OR_RETURN(git_oid oid, WriteDir(repo, child));
    if (git_treebuilder_insert(nullptr, builder.get(), name.c_str(), &oid, GIT_FILEMODE_TREE) != 0) {
      return GitError("cannot add directory '" + name + "' to its tree");
    }
  }
  git_oid tree_oid;
  if (git_treebuilder_write(&tree_oid, builder.get()) != 0) return GitError("cannot write tree");
  return tree_oid;
}

Result<git_oid> WriteTreeObject(git_repository* repo, const std::vector<TreeEntry>& entries) {
  DirNode root;
  for (const TreeEntry& entry : entries) {
    LINEAGE_RETURN_IF_ERROR(ValidateTreePath(entry.path));
    DirNode* node = &root;
    size_t start = 0;
    for (size_t slash; (slash = entry.path.find('/', start)) != std::string::npos; start = slash + 1) {
      std::string dir = entry.path.substr(start, slash - start);
      if (node->files.count(dir) != 0) {
        return Status::InvalidArgument("refusing path '" + entry.path + "': '" + dir + "' is also a file");
      }
      node = &node->dirs[dir];
    }
    std::string name = entry.path.substr(start);
    if (node->dirs.count(name) != 0 || !node->files.emplace(name, &entry).second) {
      return Status::InvalidArgument("refusing path '" + entry.path + "': it appears twice in the tree");
    }
  }
  return WriteDir(repo, root);
}

struct WalkState {
  git_repository* repo;
  std::vector<TreeEntry>* out;
  Status status;
};

int CollectEntry(const char* root, const git_tree_entry* entry, void* payload) {
  auto* state = static_cast<WalkState*>(payload);
  git_filemode_t mode = git_tree_entry_filemode(entry);
  if (mode == GIT_FILEMODE_TREE) return 0;
  std::string path = std::string(root) + git_tree_entry_name(entry);
  if (mode == GIT_FILEMODE_COMMIT) {
    state->status = Status::Corruption("'" + path + "' is a submodule; variants cannot hold submodules");
    return -1;
  }
  git_blob* blob = nullptr;
  if (git_blob_lookup(&blob, state->repo, git_tree_entry_id(entry)) != 0) {
    state->status = GitError("cannot read '" + path + "'");
    return -1;
  }
  TreeEntry out;
  out.path = std::move(path);
  out.kind = mode == GIT_FILEMODE_LINK              ? TreeEntry::Kind::kSymlink
             : mode == GIT_FILEMODE_BLOB_EXECUTABLE ? TreeEntry::Kind::kExecutable
                                                    : TreeEntry::Kind::kFile;
  out.data.assign(static_cast<const char*>(git_blob_rawcontent(blob)), git_blob_rawsize(blob));
  git_blob_free(blob);
  state->out->push_back(std::move(out));
  return 0;
}

}  // namespace

GitStore::~GitStore() { git_repository_free(repo_); }

Result<std::unique_ptr<GitStore>> GitStore::OpenOrCreate(const fs::path& path) {
  InitLibgit2();
  std::error_code ec;
  if (!fs::exists(path / "HEAD", ec)) {
    git_repository* repo = nullptr;
    if (git_repository_init(&repo, path.c_str(), /*is_bare=*/1) != 0) {
      return GitError("cannot create '" + path.string() + "'");
    }
    git_repository_free(repo);
  }
  return Open(path);
}

Result<std::unique_ptr<GitStore>> GitStore::Open(const fs::path& path) {
  InitLibgit2();
  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, path.c_str()) != 0) return GitError("cannot open '" + path.string() + "'");
  return std::unique_ptr<GitStore>(new GitStore(repo, path));
}

Result<git_commit*> GitStore::LookupCommit(const std::string& commit) {
  LINEAGE_ASSIGN_OR_RETURN(git_oid oid, ParseOid(commit));
  git_commit* out = nullptr;
  if (git_commit_lookup(&out, repo_, &oid) != 0) return Status::NotFound("commit " + commit + " is not in agents.git");
  return out;
}

Result<std::string> GitStore::WriteTree(const std::vector<TreeEntry>& entries) {
  LINEAGE_ASSIGN_OR_RETURN(git_oid oid, WriteTreeObject(repo_, entries));
  return OidHex(oid);
}

Result<std::string> GitStore::TreeOf(const std::string& commit) {
  LINEAGE_ASSIGN_OR_RETURN(git_commit * raw, LookupCommit(commit));
  CommitPtr c(raw);
  return OidHex(*git_commit_tree_id(c.get()));
}

Result<std::string> GitStore::Commit(const std::string& tree_id, const std::string& parent_commit,
                                     const std::string& message, std::int64_t time_millis) {
  LINEAGE_ASSIGN_OR_RETURN(git_oid tree_oid, ParseOid(tree_id));
  git_tree* tree_raw = nullptr;
  if (git_tree_lookup(&tree_raw, repo_, &tree_oid) != 0) return GitError("cannot read tree " + tree_id);
  TreePtr tree(tree_raw);

  CommitPtr parent;
  if (!parent_commit.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(git_commit * p, LookupCommit(parent_commit));
    parent.reset(p);
  }
  git_signature* sig_raw = nullptr;
  if (git_signature_new(&sig_raw, "lineage", "lineage@localhost", time_millis / 1000, 0) != 0) {
    return GitError("cannot create commit signature");
  }
  SignaturePtr sig(sig_raw);
  const git_commit* parents[1] = {parent.get()};
  git_oid commit_oid;
  if (git_commit_create(&commit_oid, repo_, nullptr, sig.get(), sig.get(), "UTF-8", message.c_str(), tree.get(),
                        parent ? 1 : 0, parents) != 0) {
    return GitError("cannot write commit");
  }
  return OidHex(commit_oid);
}

Status GitStore::SetBranch(std::int64_t agent_id, const std::string& commit, bool force) {
  LINEAGE_ASSIGN_OR_RETURN(git_oid oid, ParseOid(commit));
  LINEAGE_ASSIGN_OR_RETURN(auto existing, Branch(agent_id));
  if (existing && *existing == commit) return Status::OK();
  if (existing && !force) {
    return Status::Corruption("branch agents/" + std::to_string(agent_id) + " already points to " + *existing +
                              ", not " + commit);
  }
  git_reference* ref = nullptr;
  if (git_reference_create(&ref, repo_, BranchName(agent_id).c_str(), &oid, /*force=*/1, nullptr) != 0) {
    return GitError("cannot set branch agents/" + std::to_string(agent_id));
  }
  git_reference_free(ref);
  return Status::OK();
}

Result<std::optional<std::string>> GitStore::Branch(std::int64_t agent_id) {
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, repo_, BranchName(agent_id).c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
  if (rc != 0) return GitError("cannot read branch agents/" + std::to_string(agent_id));
  return std::optional<std::string>(OidHex(oid));
}

Result<std::vector<std::int64_t>> GitStore::ListBranches() {
  git_reference_iterator* it = nullptr;
  if (git_reference_iterator_glob_new(&it, repo_, "refs/heads/agents/*") != 0) return GitError("cannot list branches");
  std::vector<std::int64_t> ids;
  const char* name = nullptr;
  const std::string prefix = "refs/heads/agents/";
  while (git_reference_next_name(&name, it) == 0) {
    std::string suffix = std::string(name).substr(prefix.size());
    char* end = nullptr;
    long long id = std::strtoll(suffix.c_str(), &end, 10);
    if (!suffix.empty() && *end == '\0') ids.push_back(id);
  }
  git_reference_iterator_free(it);
  return ids;
}

bool GitStore::HasCommit(const std::string& commit) {
  auto c = LookupCommit(commit);
  if (!c.ok()) return false;
  git_commit_free(*c);
  return true;
}

Result<std::string> GitStore::ParentOf(const std::string& commit) {
  LINEAGE_ASSIGN_OR_RETURN(git_commit * raw, LookupCommit(commit));
  CommitPtr c(raw);
  if (git_commit_parentcount(c.get()) == 0) return std::string();
  return OidHex(*git_commit_parent_id(c.get(), 0));
}

Result<std::vector<TreeEntry>> GitStore::ReadTree(const std::string& commit) {
  LINEAGE_ASSIGN_OR_RETURN(git_commit * raw, LookupCommit(commit));
  CommitPtr c(raw);
  git_tree* tree_raw = nullptr;
  if (git_commit_tree(&tree_raw, c.get()) != 0) return GitError("cannot read the tree of " + commit);
  TreePtr tree(tree_raw);
  std::vector<TreeEntry> entries;
  WalkState state{repo_, &entries, Status::OK()};
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, CollectEntry, &state) != 0) {
    return state.status.ok() ? GitError("cannot walk the tree of " + commit) : state.status;
  }
  return entries;
}

Result<DiffResult> GitStore::Diff(const std::string& old_commit, const std::string& new_commit, bool with_patch) {
  auto tree_of = [&](const std::string& commit) -> Result<git_tree*> {
    if (commit.empty()) return static_cast<git_tree*>(nullptr);
    LINEAGE_ASSIGN_OR_RETURN(git_commit * raw, LookupCommit(commit));
    CommitPtr c(raw);
    git_tree* tree = nullptr;
    if (git_commit_tree(&tree, c.get()) != 0) return GitError("cannot read the tree of " + commit);
    return tree;
  };
  LINEAGE_ASSIGN_OR_RETURN(git_tree * old_raw, tree_of(old_commit));
  TreePtr old_tree(old_raw);
  LINEAGE_ASSIGN_OR_RETURN(git_tree * new_raw, tree_of(new_commit));
  TreePtr new_tree(new_raw);

  git_diff* diff_raw = nullptr;
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  if (git_diff_tree_to_tree(&diff_raw, repo_, old_tree.get(), new_tree.get(), &opts) != 0) {
    return GitError("cannot diff " + old_commit + " and " + new_commit);
  }
  DiffPtr diff(diff_raw);
  git_diff_find_options find = GIT_DIFF_FIND_OPTIONS_INIT;
  find.flags = GIT_DIFF_FIND_RENAMES;
  if (git_diff_find_similar(diff.get(), &find) != 0) return GitError("cannot detect renames");

  DiffResult result;
  if (with_patch) {
    git_buf buf = GIT_BUF_INIT;
    if (git_diff_to_buf(&buf, diff.get(), GIT_DIFF_FORMAT_PATCH) != 0) return GitError("cannot format diff");
    result.patch.assign(buf.ptr, buf.size);
    git_buf_dispose(&buf);
  }

  git_diff_stats* stats = nullptr;
  if (git_diff_get_stats(&stats, diff.get()) != 0) return GitError("cannot compute diff stats");
  result.files_changed = static_cast<int>(git_diff_stats_files_changed(stats));
  result.lines_added = static_cast<int>(git_diff_stats_insertions(stats));
  result.lines_removed = static_cast<int>(git_diff_stats_deletions(stats));
  git_diff_stats_free(stats);
  return result;
}

Result<DiffResult> DiffTrees(const std::vector<TreeEntry>& from, const std::vector<TreeEntry>& to) {
  InitLibgit2();
  std::map<std::string, const TreeEntry*> before, after;
  for (const TreeEntry& e : from) before[e.path] = &e;
  for (const TreeEntry& e : to) after[e.path] = &e;
  std::map<std::string, std::pair<const TreeEntry*, const TreeEntry*>> paths;
  for (const auto& [path, e] : before) paths[path].first = e;
  for (const auto& [path, e] : after) paths[path].second = e;

  DiffResult result;
  for (const auto& [path, pair] : paths) {
    const auto [old_entry, new_entry] = pair;
    if (old_entry && new_entry && old_entry->data == new_entry->data && old_entry->kind == new_entry->kind) continue;
    git_patch* raw = nullptr;
    const std::string a = "a/" + path, b = "b/" + path;
    git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
    if (git_patch_from_buffers(&raw, old_entry ? old_entry->data.data() : nullptr, old_entry ? old_entry->data.size() : 0,
                               old_entry ? path.c_str() : nullptr, new_entry ? new_entry->data.data() : nullptr,
                               new_entry ? new_entry->data.size() : 0, new_entry ? path.c_str() : nullptr, &opts) != 0) {
      return GitError("cannot diff " + path);
    }
    std::unique_ptr<git_patch, decltype(&git_patch_free)> patch(raw, git_patch_free);
    git_buf buf = GIT_BUF_INIT;
    if (git_patch_to_buf(&buf, patch.get()) != 0) return GitError("cannot format the diff of " + path);
    result.patch.append(buf.ptr, buf.size);
    git_buf_dispose(&buf);
    size_t context = 0, added = 0, removed = 0;
    git_patch_line_stats(&context, &added, &removed, patch.get());
    result.files_changed += 1;
    result.lines_added += static_cast<int>(added);
    result.lines_removed += static_cast<int>(removed);
  }
  return result;
}

std::vector<fs::path> GitStore::ListStaleLocks() const {
  // Only ref updates take .lock files; objects/ (hundreds of thousands of loose objects) is not walked.
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path_, ec)) {
    if (entry.path().extension() == ".lock") out.push_back(entry.path());
  }
  for (auto it = fs::recursive_directory_iterator(path_ / "refs", ec); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().extension() == ".lock") out.push_back(it->path());
  }
  return out;
}

}  // namespace lineage
