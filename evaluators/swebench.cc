// SWE-bench (../shared/reference/swe-bench.md): real issues in real Python repositories, scored by the
// repositories' own tests. A suite directory holds instance records (*.jsonl or *.json, in SWE-bench's own
// fields) and repos/NAME.git, a repository per `repo` holding the base commits; a task's id is its
// instance id.
//
// The agent gets the tree at `base_commit` at /testbed and nothing else of the repository: no history, no
// refs, no remotes (agents that read future commits copy the upstream fix). Its instruction is the problem
// statement. The test patch and the gold patch never enter a sandbox that runs agent code: the files the
// test patch makes are computed here, on the host, from the base tree, and laid over the agent's tree for
// scoring, as Polyglot's hidden tests are. The repository's test command then runs on those files in the
// environment its version needs, and its log is read by the repository's parser (swebench_spec.h: data,
// not code).
#include <git2.h>
#include <git2/sys/repository.h>

#include <stdlib.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/files.h"
#include "base/toml_reader.h"
#include "evaluators/formats.h"
#include "evaluators/scoring.h"
#include "evaluators/stages.h"
#include "evaluators/swebench_spec.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Instance {
  TaskInfo info;
  std::string repo, base_commit, patch, test_patch, problem, hints, version;
  std::vector<std::string> fail_to_pass, pass_to_pass;
};

// libgit2's handles, freed with their owner.
template <typename T, void (*Free)(T*)>
struct GitPtr {
  T* p = nullptr;
  GitPtr() = default;
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  ~GitPtr() {
    if (p) Free(p);
  }
};
using Repo = GitPtr<git_repository, git_repository_free>;
using Odb = GitPtr<git_odb, git_odb_free>;
using Tree = GitPtr<git_tree, git_tree_free>;
using Commit = GitPtr<git_commit, git_commit_free>;
using Diff = GitPtr<git_diff, git_diff_free>;
using Blob = GitPtr<git_blob, git_blob_free>;

std::string GitError(const std::string& what) {
  const git_error* e = git_error_last();
  return what + ": " + (e && e->message ? e->message : "unknown libgit2 error");
}

// A test list: a JSON array of strings, or the published dataset's JSON-encoded string holding one.
Result<std::vector<std::string>> TestList(const json& record, const char* key, const std::string& where) {
  if (!record.contains(key)) return std::vector<std::string>{};
  json list = record[key];
  if (list.is_string()) list = json::parse(list.get<std::string>(), nullptr, false);
  if (!list.is_array()) return Status::InvalidArgument(where + ": " + key + " is neither a list nor a JSON-encoded list");
  std::vector<std::string> out;
  for (const json& item : list) {
    if (!item.is_string()) return Status::InvalidArgument(where + ": " + key + " must hold strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::string> Field(const json& record, const char* key, const std::string& where, bool required = true) {
  if (!record.contains(key) || record[key].is_null()) {
    if (!required) return std::string();
    return Status::InvalidArgument(where + ": no " + key);
  }
  if (!record[key].is_string()) return Status::InvalidArgument(where + ": " + key + " must be a string");
  return record[key].get<std::string>();
}

Result<Instance> ReadInstance(const json& record, const std::string& where) {
  if (!record.is_object()) return Status::InvalidArgument(where + ": not a JSON object");
  Instance in;
  LINEAGE_ASSIGN_OR_RETURN(in.info.id, Field(record, "instance_id", where));
  const std::string at = where + " (" + in.info.id + ")";
  LINEAGE_ASSIGN_OR_RETURN(in.repo, Field(record, "repo", at));
  LINEAGE_ASSIGN_OR_RETURN(in.base_commit, Field(record, "base_commit", at));
  LINEAGE_ASSIGN_OR_RETURN(in.patch, Field(record, "patch", at, false));
  LINEAGE_ASSIGN_OR_RETURN(in.test_patch, Field(record, "test_patch", at));
  LINEAGE_ASSIGN_OR_RETURN(in.problem, Field(record, "problem_statement", at));
  LINEAGE_ASSIGN_OR_RETURN(in.hints, Field(record, "hints_text", at, false));
  if (record.contains("version") && record["version"].is_number()) {
    in.version = record["version"].dump();  // some copies store 3.0 as a number
  } else {
    LINEAGE_ASSIGN_OR_RETURN(in.version, Field(record, "version", at, false));
  }
  LINEAGE_ASSIGN_OR_RETURN(in.fail_to_pass, TestList(record, "FAIL_TO_PASS", at));
  LINEAGE_ASSIGN_OR_RETURN(in.pass_to_pass, TestList(record, "PASS_TO_PASS", at));
  git_oid oid;
  if (in.base_commit.size() != 40 || git_oid_fromstr(&oid, in.base_commit.c_str()) != 0) {
    return Status::InvalidArgument(at + ": base_commit '" + in.base_commit + "' is not a 40-digit commit id");
  }
  if (in.repo.find('/') == std::string::npos || in.repo.find("..") != std::string::npos) {
    return Status::InvalidArgument(at + ": repo '" + in.repo + "' is not OWNER/NAME");
  }
  if (in.fail_to_pass.empty()) return Status::InvalidArgument(at + ": FAIL_TO_PASS is empty: nothing could prove it resolved");
  in.info.language = "python";
  in.info.workspace_inside = "/testbed";
  in.info.tags = {"swebench", in.repo.substr(in.repo.find('/') + 1)};
  return in;
}

// Every record of the files in `dir`: *.jsonl (one per line) and *.json (an array, or one record).
Result<std::vector<Instance>> ReadRecords(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension();
    if (entry.is_regular_file(ec) && (ext == ".jsonl" || ext == ".json")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Instance> out;
  for (const fs::path& file : files) {
    LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    if (file.extension() == ".json") {
      json doc = json::parse(text, nullptr, false);
      if (doc.is_discarded()) return Status::InvalidArgument(file.string() + ": not valid JSON");
      if (!doc.is_array()) doc = json::array({doc});
      for (std::size_t i = 0; i < doc.size(); ++i) {
        LINEAGE_ASSIGN_OR_RETURN(Instance in, ReadInstance(doc[i], file.string() + ": record " + std::to_string(i + 1)));
        out.push_back(std::move(in));
      }
      continue;
    }
    std::size_t line_no = 0, start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      start = end + 1;
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = file.string() + ":" + std::to_string(line_no);
      json record = json::parse(line, nullptr, false);
      if (record.is_discarded()) return Status::InvalidArgument(where + ": not valid JSON");
      LINEAGE_ASSIGN_OR_RETURN(Instance in, ReadInstance(record, where));
      out.push_back(std::move(in));
    }
  }
  return out;
}

// A subset file: a JSON array of instance ids.
Result<std::vector<std::string>> ReadSubset(const fs::path& file) {
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  json ids = json::parse(text, nullptr, false);
  if (!ids.is_array()) return Status::InvalidArgument(file.string() + ": not a JSON array of instance ids");
  std::vector<std::string> out;
  for (const json& id : ids) {
    if (!id.is_string()) return Status::InvalidArgument(file.string() + ": holds something other than an instance id");
    out.push_back(id.get<std::string>());
  }
  return out;
}

// An object database opened read-only, wrapped as a repository without refs: a shared or read-only copy
// needs no refs/ directory, and nothing here reads one.
Status OpenObjects(const fs::path& git_dir, Repo& repo) {
  Odb odb;
  if (git_odb_open(&odb.p, (git_dir / "objects").c_str()) != 0) return Status::IOError(GitError("cannot open " + git_dir.string()));
  if (git_repository_wrap_odb(&repo.p, odb.p) != 0) return Status::IOError(GitError("cannot open " + git_dir.string()));
  return Status::OK();
}

Status TreeAt(git_repository* repo, const std::string& commit, Tree& tree) {
  git_oid oid;
  Commit c;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0 || git_commit_lookup(&c.p, repo, &oid) != 0) {
    return Status::NotFound(GitError("commit " + commit + " is not in the repository"));
  }
  if (git_commit_tree(&tree.p, c.p) != 0) return Status::IOError(GitError("cannot read the tree of " + commit));
  return Status::OK();
}

Result<TreeEntry> EntryOf(git_repository* repo, const std::string& path, const git_oid* id, git_filemode_t mode) {
  Blob blob;
  if (git_blob_lookup(&blob.p, repo, id) != 0) return Status::IOError(GitError("cannot read " + path));
  TreeEntry e;
  e.path = path;
  e.kind = mode == GIT_FILEMODE_LINK ? TreeEntry::Kind::kSymlink
           : mode == GIT_FILEMODE_BLOB_EXECUTABLE ? TreeEntry::Kind::kExecutable
                                                 : TreeEntry::Kind::kFile;
  e.data.assign(static_cast<const char*>(git_blob_rawcontent(blob.p)), git_blob_rawsize(blob.p));
  return e;
}

// Every file of `tree` (submodules left out: the official images have none checked out either). The
// blobs are read by a few threads, each through a database of its own (inflating them is most of the
// cost of a Django tree's 6,000 files, and one database serialises its readers).
Result<std::vector<TreeEntry>> Files(const fs::path& git_dir, git_tree* tree) {
  struct Listed {
    std::string path;
    git_oid id;
    git_filemode_t mode;
  };
  std::vector<Listed> listed;
  auto visit = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) return 0;
    static_cast<std::vector<Listed>*>(payload)->push_back(
        {std::string(root) + git_tree_entry_name(entry), *git_tree_entry_id(entry), git_tree_entry_filemode(entry)});
    return 0;
  };
  if (git_tree_walk(tree, GIT_TREEWALK_PRE, visit, &listed) != 0) return Status::IOError(GitError("cannot read the tree"));

  std::vector<TreeEntry> out(listed.size());
  const std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4);
  std::vector<Status> status(threads, Status::OK());
  auto read = [&](std::size_t t) {
    Repo repo;
    status[t] = OpenObjects(git_dir, repo);
    for (std::size_t i = t; i < listed.size() && status[t].ok(); i += threads) {
      auto e = EntryOf(repo.p, listed[i].path, &listed[i].id, listed[i].mode);
      if (e.ok()) out[i] = std::move(e).value();
      else status[t] = e.status();
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(read, t);
  read(0);
  for (std::thread& t : pool) t.join();
  for (const Status& st : status) LINEAGE_RETURN_IF_ERROR(st);
  return out;
}

struct PatchedFiles {
  std::vector<TreeEntry> files;      // as the patch leaves them
  std::vector<std::string> deleted;  // removed by the patch
};

// The files `patch` touches, as they are once it is applied to `tree`; applied here, on the host, so that
// no sandbox ever sees the patch itself. libgit2 reads the patch and the base files; `git apply` applies it
// (libgit2's apply wants each hunk at its stated line, and the dataset's hunks are often a few lines off,
// which git apply accepts as it does when SWE-bench's harness applies them).
Result<PatchedFiles> ApplyToTree(git_repository* repo, git_tree* tree, const std::string& patch, const std::string& what) {
  Diff diff;
  if (git_diff_from_buffer(&diff.p, patch.data(), patch.size()) != 0) {
    return Status::InvalidArgument(GitError(what + " is not a diff libgit2 can read"));
  }
  char pattern[] = "/tmp/lineage-patch-XXXXXX";
  if (!mkdtemp(pattern)) return Status::IOError("cannot create a directory to apply " + what + " in");
  struct Remove {
    fs::path dir;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{pattern};
  const fs::path dir = fs::path(pattern) / "tree";
  std::vector<TreeEntry> before;
  for (std::size_t i = 0; i < git_diff_num_deltas(diff.p); ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.p, i);
    if (delta->status == GIT_DELTA_ADDED) continue;
    const std::string path = delta->old_file.path;
    GitPtr<git_tree_entry, git_tree_entry_free> entry;
    if (git_tree_entry_bypath(&entry.p, tree, path.c_str()) != 0) {
      return Status::InvalidArgument(what + " changes " + path + ", which the base commit does not have");
    }
    LINEAGE_ASSIGN_OR_RETURN(TreeEntry e, EntryOf(repo, path, git_tree_entry_id(entry.p), git_tree_entry_filemode(entry.p)));
    before.push_back(std::move(e));
  }
  LINEAGE_RETURN_IF_ERROR(WriteTree(dir, before));
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(fs::path(pattern) / "patch", patch));
  SandboxSpec spec;  // a trusted host program on the dataset's own patch: no agent wrote it
  spec.argv = {"git", "apply", "--whitespace=nowarn", (fs::path(pattern) / "patch").string()};
  spec.workdir = dir.string();
  spec.env["GIT_CONFIG_NOSYSTEM"] = "1";
  spec.env["HOME"] = pattern;
  spec.limits.wall_ms = 60'000;
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult applied, RunTrusted(spec));
  if (!applied.ok()) {
    return Status::InvalidArgument(what + " does not apply to the base commit: " + applied.stderr_text.substr(0, 500));
  }
  PatchedFiles out;
  for (std::size_t i = 0; i < git_diff_num_deltas(diff.p); ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.p, i);
    if (delta->status == GIT_DELTA_DELETED || delta->status == GIT_DELTA_RENAMED) out.deleted.push_back(delta->old_file.path);
    if (delta->status == GIT_DELTA_DELETED) continue;
    const std::string path = delta->new_file.path;
    LINEAGE_RETURN_IF_ERROR(ValidateTreePath(path).WithContext(what));
    std::error_code ec;
    const fs::file_status status = fs::symlink_status(dir / path, ec);
    if (fs::is_symlink(status)) {  // a link is its text: never followed on the host
      out.files.push_back({path, TreeEntry::Kind::kSymlink, fs::read_symlink(dir / path, ec).string()});
      continue;
    }
    auto data = fs::is_regular_file(status) ? ReadFile(dir / path) : Result<std::string>(Status::NotFound(path));
    if (!data.ok()) return Status::Internal(what + ": " + path + " is missing once the patch is applied");
    const TreeEntry::Kind kind = delta->new_file.mode == GIT_FILEMODE_BLOB_EXECUTABLE ? TreeEntry::Kind::kExecutable
                                                                                       : TreeEntry::Kind::kFile;
    out.files.push_back({path, kind, std::move(data).value()});
  }
  return out;
}

std::string RepoName(const std::string& repo) { return repo.substr(repo.find('/') + 1); }

class SweBenchEvaluator : public IndexedEvaluator<Instance> {
 public:
  static Result<std::unique_ptr<Evaluator>> Open(const SuiteSpec& spec) {
    if (!fs::is_directory(spec.path)) {
      return Status::NotFound("swebench suite '" + spec.name + "': " + spec.path.string() +
                              " is not a directory (it holds SWE-bench records, *.jsonl or *.json, and repos/NAME.git)");
    }
    std::unique_ptr<SweBenchEvaluator> e(new SweBenchEvaluator(spec.path));
    LINEAGE_RETURN_IF_ERROR(swebench::LoadSpecTable(DataDir() / "evaluators" / "swebench" / "repos.toml", e->table_));
    std::error_code ec;
    if (fs::exists(spec.path / "repos.toml", ec)) LINEAGE_RETURN_IF_ERROR(swebench::LoadSpecTable(spec.path / "repos.toml", e->table_));
    LINEAGE_RETURN_IF_ERROR(e->ReadSuiteConfig(spec.path / "suite.toml"));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<Instance> records, ReadRecords(spec.path));
    if (records.empty()) {
      return Status::InvalidArgument("swebench suite '" + spec.name + "': no instance records (*.jsonl, *.json) in " +
                                     spec.path.string());
    }
    for (Instance& in : records) {
      if (e->tasks_.count(in.info.id)) {
        return Status::InvalidArgument("swebench suite '" + spec.name + "': instance " + in.info.id + " appears twice");
      }
      auto env = swebench::EnvironmentFor(e->table_, in.repo, in.version);
      if (env.ok()) {
        in.info.environment = std::move(env).value();
      } else {
        in.info.unavailable = env.status().message();
      }
      if (in.info.unavailable.empty() && !e->table_.repos.count(in.repo)) {
        in.info.unavailable = "no test command for " + in.repo + " (add [repos.\"" + in.repo + "\"] to repos.toml)";
      }
      e->tasks_[in.info.id] = std::move(in);
    }
    LINEAGE_RETURN_IF_ERROR(e->ReadSubsets());
    return std::unique_ptr<Evaluator>(std::move(e));
  }

  Result<PreparedTask> Prepare(const std::string& id, const fs::path& workspace) override {
    LINEAGE_ASSIGN_OR_RETURN(const Instance* in, Find(id));
    Repo repo;
    Tree tree;
    LINEAGE_RETURN_IF_ERROR(OpenBase(*in, repo, tree));
    LINEAGE_ASSIGN_OR_RETURN(fs::path git_dir, GitDir(in->repo));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> files, Files(git_dir, tree.p));
    LINEAGE_RETURN_IF_ERROR(WriteTree(workspace, files));
    return PreparedTask{Instruction(*in)};
  }

  Status ApplyGold(const std::string& id, const fs::path& workspace) override {
    LINEAGE_ASSIGN_OR_RETURN(const Instance* in, Find(id));
    if (in->patch.empty()) return Status::NotFound(id + ": the record has no gold patch");
    Repo repo;
    Tree tree;
    LINEAGE_RETURN_IF_ERROR(OpenBase(*in, repo, tree));
    LINEAGE_ASSIGN_OR_RETURN(PatchedFiles gold, ApplyToTree(repo.p, tree.p, in->patch, id + "'s gold patch"));
    for (const std::string& path : gold.deleted) {
      std::error_code ec;
      fs::remove(workspace / path, ec);
    }
    return WriteOver(workspace, gold.files);
  }

  Result<TaskScore> Score(const std::string& id, const fs::path& workspace, const ScoreContext& context) override {
    LINEAGE_ASSIGN_OR_RETURN(const Instance* in, Find(id));
    if (in->info.environment && context.root.empty()) {
      return Status::FailedPrecondition(id + " runs in environment '" + in->info.environment->name + "', which is not built");
    }
    const swebench::RepoSpec& spec = table_.repos.at(in->repo);
    auto parser = table_.parsers.find(spec.parser);
    if (parser == table_.parsers.end()) return Status::InvalidArgument(in->repo + ": no parser '" + spec.parser + "'");
    LINEAGE_ASSIGN_OR_RETURN(std::shared_ptr<const PatchedFiles> tests, TestFiles(*in));
    std::vector<std::string> test_files;
    for (const TreeEntry& e : tests->files) test_files.push_back(e.path);
    TestRun run;
    run.overlay = tests->files;
    // Files the test patch deletes are gone for the tests too, whatever the agent left there.
    run.adjust = [deleted = tests->deleted](std::vector<TreeEntry>& files) {
      std::erase_if(files, [&](const TreeEntry& e) {
        return std::find(deleted.begin(), deleted.end(), e.path) != deleted.end();
      });
    };
    run.inside = in->info.workspace_inside;
    run.argv = swebench::TestCommand(spec, test_files);
    run.env = spec.env;
    run.timeout_ms = spec.timeout_ms;
    LINEAGE_ASSIGN_OR_RETURN(TestRunResult r, RunOnCopy(workspace, run, context));
    const std::string log = r.process.stdout_text + r.process.stderr_text;
    const swebench::Judgement judgement =
        swebench::Judge(swebench::ParseTestLog(parser->second, log), in->fail_to_pass, in->pass_to_pass);
    TaskScore score;
    score.solved = judgement.resolved;
    score.timed_out = r.process.limit == SandboxLimit::kWall || r.process.limit == SandboxLimit::kCpu;
    const int total = judgement.fail_to_pass + judgement.pass_to_pass;
    if (total > 0) score.partial = static_cast<double>(judgement.fail_to_pass_passed + judgement.pass_to_pass_passed) / total;
    for (const swebench::TestVerdict& t : judgement.tests) {
      if (t.fail_to_pass && t.passed) score.already_passing.push_back(t.name);
    }
    score.output = Report(judgement, r.process, log);
    score.duration_ms = r.process.wall_ms;
    return score;
  }

 private:
  explicit SweBenchEvaluator(fs::path dir) : IndexedEvaluator("swebench"), dir_(std::move(dir)) {}

  // suite.toml (optional): `hints = true` shows each instance's hints_text with its problem statement.
  Status ReadSuiteConfig(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return Status::OK();
    LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    LINEAGE_ASSIGN_OR_RETURN(toml::table config, ParseToml(text, file.string()));
    TableReader r(config, file.string() + ":");
    LINEAGE_RETURN_IF_ERROR(r.OnlyKeys({"hints"}, "docs/evaluators.md, SWE-bench"));
    LINEAGE_ASSIGN_OR_RETURN(hints_, r.Bool("hints", false));
    return Status::OK();
  }

  // DGM's and HGM's subsets, shipped with lineage, and the suite's own subsets/*.json; each keeps the ids
  // the suite has, and MissingFromSubsets() names the others.
  Status ReadSubsets() {
    std::map<std::string, fs::path> files;
    for (const fs::path& dir : {DataDir() / "evaluators" / "swebench" / "subsets", dir_ / "subsets"}) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".json") files[entry.path().stem().string()] = entry.path();
      }
    }
    for (const auto& [name, file] : files) {
      LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> ids, ReadSubset(file));
      for (const std::string& id : ids) (tasks_.count(id) ? subsets_[name] : missing_[name]).push_back(id);
      if (!subsets_.count(name)) subsets_[name] = {};
    }
    return Status::OK();
  }

  // The repository's objects: the suite's repos/NAME.git (bare) or repos/NAME/.git, else a clone from the
  // repository's public URL in the suite cache (made once).
  Result<fs::path> GitDir(const std::string& repo) {
    std::error_code ec;
    for (const fs::path& dir : {dir_ / "repos" / (RepoName(repo) + ".git"), dir_ / "repos" / RepoName(repo) / ".git"}) {
      if (fs::is_directory(dir / "objects", ec)) return dir;
    }
    const fs::path cache = SuiteCacheDir();
    const std::string url = "https://github.com/" + repo + ".git";
    if (cache.empty()) {
      return Status::NotFound("no repository for " + repo + " in " + (dir_ / "repos").string() + ": clone " + url +
                              " there as " + RepoName(repo) + ".git (git clone --bare)");
    }
    const fs::path clone = cache / "swebench" / (repo.substr(0, repo.find('/')) + "__" + RepoName(repo) + ".git");
    std::lock_guard lock(clone_mu_);
    if (fs::is_directory(clone / "objects", ec)) return clone;
    const fs::path tmp = clone.string() + ".tmp";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp.parent_path(), ec);
    git_clone_options options = GIT_CLONE_OPTIONS_INIT;
    options.bare = 1;
    Repo cloned;
    if (git_clone(&cloned.p, url.c_str(), tmp.c_str(), &options) != 0) {
      const std::string why = GitError("cannot clone " + url);
      fs::remove_all(tmp, ec);
      return Status::Unavailable(why + " (no internet here? put a clone at " +
                                 (dir_ / "repos" / (RepoName(repo) + ".git")).string() + ")");
    }
    fs::rename(tmp, clone, ec);
    if (ec) return Status::IOError("cannot move " + tmp.string() + " into place: " + ec.message());
    return clone;
  }

  // The files the instance's test patch makes, computed once: every agent's scoring lays the same ones.
  Result<std::shared_ptr<const PatchedFiles>> TestFiles(const Instance& in) {
    {
      std::lock_guard lock(test_files_mu_);
      if (auto it = test_files_.find(in.info.id); it != test_files_.end()) return it->second;
    }
    Repo repo;
    Tree tree;
    LINEAGE_RETURN_IF_ERROR(OpenBase(in, repo, tree));
    LINEAGE_ASSIGN_OR_RETURN(PatchedFiles files, ApplyToTree(repo.p, tree.p, in.test_patch, in.info.id + "'s test patch"));
    auto shared = std::make_shared<const PatchedFiles>(std::move(files));
    std::lock_guard lock(test_files_mu_);
    return test_files_.emplace(in.info.id, std::move(shared)).first->second;
  }

  Status OpenBase(const Instance& in, Repo& repo, Tree& tree) {
    LINEAGE_ASSIGN_OR_RETURN(fs::path git_dir, GitDir(in.repo));
    LINEAGE_RETURN_IF_ERROR(OpenObjects(git_dir, repo));
    return TreeAt(repo.p, in.base_commit, tree).WithContext(in.info.id + " in " + git_dir.string());
  }

  std::string Instruction(const Instance& in) const {
    std::string text = in.problem;
    if (hints_ && !in.hints.empty()) text += "\n\nHints:\n" + in.hints;
    // As SWE-bench's agents are told: the repository is checked out, the tests are hidden.
    text += "\n\n####\n\nThe repository " + in.repo + " is at " + in.info.workspace_inside +
            " (your working directory), checked out at the commit this issue was reported against. Change its "
            "source so that the issue above is resolved. Hidden tests will check your change; you need not "
            "write tests, and changes to existing test files are not kept.\n";
    return text;
  }

  // What the evaluation log keeps: the verdict, each listed test's status, then the end of the log.
  static std::string Report(const swebench::Judgement& judgement, const SandboxResult& process, const std::string& log) {
    std::string head = "[lineage: " + std::string(judgement.resolved ? "resolved" : "not resolved") + ": " +
                       judgement.Summary() + "]\n";
    for (const swebench::TestVerdict& t : judgement.tests) {
      head += std::string(t.fail_to_pass ? "FAIL_TO_PASS " : "PASS_TO_PASS ") + (t.passed ? "passed " : "NOT PASSED ") +
              t.name + (t.passed ? "" : " (" + t.reason + ")") + "\n";
      if (head.size() > kMaxTestOutputBytes / 2) {
        head += "[...]\n";
        break;
      }
    }
    if (process.limit) head += std::string("[lineage: the tests hit the ") + SandboxLimitName(*process.limit) + " limit]\n";
    const std::size_t room = kMaxTestOutputBytes - std::min(head.size(), kMaxTestOutputBytes);
    return head + "\n" + (log.size() > room ? "[...]" + log.substr(log.size() - room) : log);
  }

  fs::path dir_;
  swebench::SpecTable table_;
  bool hints_ = false;
  std::mutex clone_mu_;
  std::mutex test_files_mu_;
  std::map<std::string, std::shared_ptr<const PatchedFiles>> test_files_;  // TestFiles(), by instance id
};

}  // namespace

Result<std::unique_ptr<Evaluator>> OpenSweBench(const SuiteSpec& spec) {
  git_libgit2_init();  // counted: once per suite opened is harmless
  return SweBenchEvaluator::Open(spec);
}

}  // namespace lineage
