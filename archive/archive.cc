#include "archive/archive.h"

#include <signal.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <zstd.h>

#include "archive/blobs.h"
#include "archive/git_store.h"
#include "archive/journal.h"
#include "archive/schema.h"
#include "archive/sqlite.h"
#include "base/files.h"

namespace lineage {
namespace fs = std::filesystem;
namespace {

// Testing hook: LINEAGE_CRASH_POINT=<name> kills the process with SIGKILL at that point of a write, so
// tests can prove that a crash anywhere leaves the home consistent. Never set it in production.
void CrashPoint(const char* name) {
  static const char* wanted = std::getenv("LINEAGE_CRASH_POINT");
  if (wanted != nullptr && std::string(wanted) == name) raise(SIGKILL);
}

constexpr const char* kAgentColumns =
    "id, run_id, parent_id, name, commit_id, generation, status, reason, score, stage_reached, "
    "problem_statement, diagnosis, files_changed, lines_added, lines_removed, tokens_in, tokens_out, "
    "cost_usd, created_at, updated_at";

Agent ReadAgent(const sql::Stmt& s) {
  Agent a;
  a.id = s.Int(0);
  a.run_id = s.OptInt(1);
  a.parent_id = s.OptInt(2);
  a.name = s.Text(3);
  a.commit = s.Text(4);
  a.generation = static_cast<int>(s.Int(5));
  a.state = ParseAgentState(s.Text(6)).value_or(AgentState::kFailed);  // triggers keep names valid
  a.reason = s.Text(7);
  a.score = s.OptDouble(8);
  a.stage_reached = static_cast<int>(s.Int(9));
  a.problem_statement = s.Text(10);
  a.diagnosis_json = s.Text(11);
  a.files_changed = static_cast<int>(s.Int(12));
  a.lines_added = static_cast<int>(s.Int(13));
  a.lines_removed = static_cast<int>(s.Int(14));
  a.tokens_in = s.Int(15);
  a.tokens_out = s.Int(16);
  a.cost_usd = s.Double(17);
  a.created_at = s.Int(18);
  a.updated_at = s.Int(19);
  return a;
}

bool NeedsCommit(AgentState state) { return state != AgentState::kPending && state != AgentState::kFailed; }

// The event recording a move to `to`: `data` (a JSON object) with "from" and "reason".
std::string TransitionData(const std::string& data, const char* from, const std::string& reason) {
  nlohmann::json out = nlohmann::json::parse(data, nullptr, false);
  if (!out.is_object()) out = nlohmann::json::object();
  out["from"] = from;
  if (!reason.empty()) out["reason"] = reason;
  return out.dump();
}

Status AgentNotFound(AgentId id) { return Status::NotFound("agent " + std::to_string(id) + " does not exist"); }

// Materializing, diffing and parenting need the agent's commit; a pending or failed agent has none.
Status RequireCommit(const Agent& agent) {
  if (!agent.commit.empty()) return Status::OK();
  return Status::FailedPrecondition("agent " + std::to_string(agent.id) + " has no commit (it is " +
                                    StateName(agent.state) + ")");
}

}  // namespace

struct Archive::Impl {
  Result<std::vector<ModelCall>> ListCalls(const std::string& where, const std::function<void(sql::Stmt&)>& bind);

  fs::path home;
  ArchiveOptions options;
  sql::Db db;
  std::unique_ptr<GitStore> git;
  std::unique_ptr<BlobStore> blobs;
  int schema_version = 0;
  std::mutex mu;  // serializes every use of db and git

  // The agent's own row, without stages and children (cheap even for a parent of 100,000 children).
  Result<Agent> LoadAgentRow(AgentId id) {
    sql::Stmt s(db, std::string("SELECT ") + kAgentColumns + " FROM agents WHERE id = ?");
    s.Bind(1, id);
    if (!s.Step()) return s.status().ok() ? AgentNotFound(id) : s.status();
    return ReadAgent(s);
  }

  Result<Agent> LoadAgent(AgentId id) {
    LINEAGE_ASSIGN_OR_RETURN(Agent a, LoadAgentRow(id));
    sql::Stmt stages(db, "SELECT stage, attempted, solved, score FROM agent_stages WHERE agent_id = ? ORDER BY stage");
    stages.Bind(1, id);
    while (stages.Step()) {
      a.stages.push_back({static_cast<int>(stages.Int(0)), static_cast<int>(stages.Int(1)),
                          static_cast<int>(stages.Int(2)), stages.OptDouble(3)});
    }
    sql::Stmt kids(db, "SELECT id FROM agents WHERE parent_id = ? ORDER BY id");
    kids.Bind(1, id);
    while (kids.Step()) a.children.push_back(kids.Int(0));
    LINEAGE_RETURN_IF_ERROR(stages.status());
    LINEAGE_RETURN_IF_ERROR(kids.status());
    return a;
  }

  Status AppendEventLocked(const Event& e) {
    sql::Stmt s(db, "INSERT INTO events (run_id, agent_id, kind, data, at) VALUES (?, ?, ?, ?, ?)");
    s.Bind(1, e.run_id).Bind(2, e.agent_id).Bind(3, e.kind).Bind(4, e.data_json).Bind(5, e.at ? e.at : NowMillis());
    return s.Run();
  }

  // Records the finished commit on a pending row, and its state: the last step of every write of a variant.
  Status FinishCommit(const Agent& agent, const std::string& commit, const std::string& parent_commit,
                      AgentState state, const std::string& event_data) {
    LINEAGE_ASSIGN_OR_RETURN(DiffResult diff, git->Diff(parent_commit, commit, /*with_patch=*/false));
    sql::Transaction txn(db);
    LINEAGE_RETURN_IF_ERROR(txn.status());
    sql::Stmt s(db,
                "UPDATE agents SET commit_id = ?, status = ?, files_changed = ?, lines_added = ?, "
                "lines_removed = ?, updated_at = ? WHERE id = ? AND status = 'pending'");
    s.Bind(1, commit).Bind(2, StateName(state)).Bind(3, diff.files_changed).Bind(4, diff.lines_added);
    s.Bind(5, diff.lines_removed).Bind(6, NowMillis()).Bind(7, agent.id);
    LINEAGE_RETURN_IF_ERROR(s.Run());
    if (db.Changes() == 0) return Status::FailedPrecondition("agent " + std::to_string(agent.id) + " is no longer pending");
    nlohmann::json data = nlohmann::json::parse(event_data, nullptr, false);
    if (!data.is_object()) data = nlohmann::json::object();
    data["commit"] = commit;
    data["files_changed"] = diff.files_changed;
    data["lines_added"] = diff.lines_added;
    data["lines_removed"] = diff.lines_removed;
    if (agent.parent_id) data["parent"] = *agent.parent_id;
    const std::string kind = std::string("agent.") + StateName(state);
    LINEAGE_RETURN_IF_ERROR(AppendEventLocked(
        {0, agent.run_id, agent.id, kind, TransitionData(data.dump(), StateName(AgentState::kPending), agent.reason), 0}));
    return txn.Commit();
  }

  Status MarkFailed(const Agent& agent, const std::string& reason) {
    sql::Transaction txn(db);
    LINEAGE_RETURN_IF_ERROR(txn.status());
    sql::Stmt s(db, "UPDATE agents SET status = 'failed', reason = ?, updated_at = ? WHERE id = ?");
    s.Bind(1, reason).Bind(2, NowMillis()).Bind(3, agent.id);
    LINEAGE_RETURN_IF_ERROR(s.Run());
    LINEAGE_RETURN_IF_ERROR(AppendEventLocked(
        {0, agent.run_id, agent.id, "agent.failed", TransitionData("{}", StateName(AgentState::kPending), reason), 0}));
    return txn.Commit();
  }

  // Stores `tree` as a new variant. Order matters for crash safety: pending row, git commit, branch, then
  // the row is completed. A crash between any two steps leaves a pending row that Fsck() can finish.
  Result<Agent> Store(const std::vector<TreeEntry>& tree, const Agent* parent, const std::string& name,
                      std::optional<RunId> run, const Archive::ChildOptions& child) {
    if (child.state != AgentState::kCommitted && child.state != AgentState::kRejected) {
      return Status::InvalidArgument(std::string("a new agent is committed or rejected, not ") + StateName(child.state));
    }
    // Fsck tells an interrupted rejection from an interrupted commit by the reason alone.
    if ((child.state == AgentState::kRejected) == child.reason.empty()) {
      return Status::InvalidArgument("a new agent has a reason exactly when it is rejected");
    }
    if (run) LINEAGE_RETURN_IF_ERROR(RunExists(*run));
    // Blobs and trees first: they are harmless if nothing ever references them, and an unchanged tree
    // can be refused before any row exists.
    LINEAGE_ASSIGN_OR_RETURN(std::string tree_id, git->WriteTree(tree));
    if (parent && !child.allow_empty) {
      LINEAGE_ASSIGN_OR_RETURN(std::string parent_tree, git->TreeOf(parent->commit));
      if (parent_tree == tree_id) {
        return Status::InvalidArgument("the tree is identical to agent " + std::to_string(parent->id) +
                                       "'s; a child must change something");
      }
    }

    // The pending row holds everything but the commit, so finishing it is a single update.
    Agent agent;
    agent.run_id = run;
    agent.name = name;
    agent.generation = parent ? parent->generation + 1 : 0;
    agent.state = AgentState::kPending;
    agent.reason = child.reason;
    agent.problem_statement = child.problem_statement;
    agent.diagnosis_json = child.diagnosis_json;
    agent.created_at = agent.updated_at = NowMillis();
    if (parent) agent.parent_id = parent->id;
    {
      sql::Stmt s(db,
                  "INSERT INTO agents (run_id, parent_id, name, generation, status, reason, problem_statement, "
                  "diagnosis, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)");
      s.Bind(1, agent.run_id).Bind(2, agent.parent_id).Bind(3, name).Bind(4, agent.generation);
      s.Bind(5, agent.reason).Bind(6, agent.problem_statement);
      if (agent.diagnosis_json.empty()) s.Bind(7, std::optional<std::string>());
      else s.Bind(7, agent.diagnosis_json);
      s.Bind(8, agent.created_at).Bind(9, agent.updated_at);
      LINEAGE_RETURN_IF_ERROR(s.Run());
      agent.id = db.LastInsertId();
    }
    CrashPoint("after-pending-row");

    const std::string parent_commit = parent ? parent->commit : "";
    std::string message = "agent " + std::to_string(agent.id) + (name.empty() ? "" : ": " + name) + "\n";
    if (parent) message += "\nparent: agent " + std::to_string(parent->id) + "\n";
    auto commit = git->Commit(tree_id, parent_commit, message, agent.created_at);
    if (!commit.ok()) return Abandon(agent, commit.status());
    CrashPoint("after-git-commit");
    Status branch = git->SetBranch(agent.id, *commit);
    if (!branch.ok()) return Abandon(agent, branch);
    CrashPoint("after-branch");
    Status finish = FinishCommit(agent, *commit, parent_commit, child.state, child.event_data);
    if (!finish.ok()) return finish;  // the branch exists: Fsck() can finish this agent
    spdlog::debug("stored agent {} (parent {}) as commit {} on agents/{}", agent.id,
                  parent ? std::to_string(parent->id) : "none", *commit, agent.id);
    return LoadAgent(agent.id);
  }

  Status Abandon(const Agent& agent, const Status& why) {
    Status s = MarkFailed(agent, why.message());
    if (!s.ok()) spdlog::warn("agent {} stays pending: {}", agent.id, s.ToString());
    return why;
  }

  Status RunExists(RunId run) {
    sql::Stmt s(db, "SELECT 1 FROM runs WHERE id = ?");
    s.Bind(1, run);
    if (s.Step()) return Status::OK();
    return s.status().ok() ? Status::NotFound("run " + std::to_string(run) + " does not exist") : s.status();
  }
};

int LatestSchemaVersion() { return schema::LatestVersion(); }

std::string StorageLibraryVersions() {
  int major = 0, minor = 0, rev = 0;
  git_libgit2_version(&major, &minor, &rev);
  return std::string("SQLite ") + sqlite3_libversion() + ", libgit2 " + std::to_string(major) + "." +
         std::to_string(minor) + "." + std::to_string(rev) + ", zstd " + ZSTD_versionString();
}

namespace {

// The home is its owner's alone: 0700, and the database 0600 (SQLite gives its journal files the
// database's mode). Applied to an existing home too, which older versions left open.
Status MakePrivate(const fs::path& home) {
  LINEAGE_RETURN_IF_ERROR(MakePrivateDirectory(home));
  for (const char* name : {"archive.db", "archive.db-wal", "archive.db-shm"}) {
    const fs::path file = home / name;
    if (chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
      return Status::IOError("cannot make '" + file.string() + "' private (chmod 0600): " + std::strerror(errno));
    }
  }
  return Status::OK();
}

}  // namespace

Archive::Archive(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Archive::~Archive() = default;

const fs::path& Archive::home() const { return impl_->home; }
int Archive::schema_version() const { return impl_->schema_version; }

Result<std::unique_ptr<Archive>> Archive::Init(const fs::path& home, ArchiveOptions options) {
  std::error_code ec;
  LINEAGE_RETURN_IF_ERROR(MakePrivate(home));
  fs::create_directories(home / "blobs", ec);
  if (ec) return Status::IOError("cannot create lineage home '" + home.string() + "': " + ec.message());
  // Git before the database: a home whose archive.db exists always has its agents.git.
  LINEAGE_RETURN_IF_ERROR(GitStore::OpenOrCreate(home / "agents.git").status());
  {
    sql::Db db;  // creates an empty archive.db; Open() below migrates it
    LINEAGE_RETURN_IF_ERROR(db.Open((home / "archive.db").string(), /*create=*/true));
  }
  return Open(home, options);
}

Result<std::unique_ptr<Archive>> Archive::Open(const fs::path& home, ArchiveOptions options) {
  std::error_code ec;
  if (!fs::exists(home / "archive.db", ec)) {
    return Status::FailedPrecondition("no lineage home at '" + home.string() +
                                      "'; run `lineage init` there, or pass --home DIR / set LINEAGE_HOME");
  }
  auto impl = std::make_unique<Impl>();
  impl->home = home;
  impl->options = options;
  LINEAGE_RETURN_IF_ERROR(MakePrivate(home));
  LINEAGE_RETURN_IF_ERROR(impl->db.Open((home / "archive.db").string(), /*create=*/false));
  LINEAGE_RETURN_IF_ERROR(schema::Migrate(impl->db));
  LINEAGE_ASSIGN_OR_RETURN(impl->schema_version, schema::CurrentVersion(impl->db));
  spdlog::debug("opened lineage home {} (schema {})", home.string(), impl->schema_version);
  auto git = GitStore::Open(home / "agents.git");
  if (!git.ok()) return git.status().WithContext("the home's agents.git is damaged");
  impl->git = std::move(git).value();
  impl->blobs = std::make_unique<BlobStore>(home / "blobs");
  return std::unique_ptr<Archive>(new Archive(std::move(impl)));
}

Result<Agent> Archive::ImportAgent(const fs::path& dir, const std::string& name, std::optional<RunId> run) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ReadTree(dir, impl_->options.tree_limits));
  std::lock_guard lock(impl_->mu);
  ChildOptions root;
  root.allow_empty = true;
  return impl_->Store(tree, nullptr, name, run, root);
}

Result<Agent> Archive::AddChild(AgentId parent, const fs::path& dir, const ChildOptions& options) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ReadTree(dir, impl_->options.tree_limits));
  return AddChild(parent, std::move(tree), options);
}

Result<Agent> Archive::AddChild(AgentId parent_id, std::vector<TreeEntry> tree, const ChildOptions& options) {
  std::lock_guard lock(impl_->mu);
  LINEAGE_ASSIGN_OR_RETURN(Agent parent, impl_->LoadAgentRow(parent_id));
  LINEAGE_RETURN_IF_ERROR(RequireCommit(parent).WithContext("cannot add a child"));
  std::optional<RunId> run = options.run ? options.run : parent.run_id;
  return impl_->Store(tree, &parent, options.name, run, options);
}

Result<std::vector<TreeEntry>> Archive::Tree(AgentId id) {
  std::lock_guard lock(impl_->mu);
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, impl_->LoadAgentRow(id));
  LINEAGE_RETURN_IF_ERROR(RequireCommit(agent));
  return impl_->git->ReadTree(agent.commit);
}

Result<std::string> Archive::TreeId(AgentId id) {
  std::lock_guard lock(impl_->mu);
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, impl_->LoadAgentRow(id));
  LINEAGE_RETURN_IF_ERROR(RequireCommit(agent));
  return impl_->git->TreeOf(agent.commit);
}

Result<std::optional<AgentId>> Archive::FindTree(const std::vector<TreeEntry>& tree, RunId run) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Agent> agents, ListAgents(run));
  std::lock_guard lock(impl_->mu);
  // Writing the tree's objects is harmless: git's store is content-addressed, and an unreferenced tree
  // costs only its bytes.
  LINEAGE_ASSIGN_OR_RETURN(std::string wanted, impl_->git->WriteTree(tree));
  for (const Agent& a : agents) {
    if (a.commit.empty() || a.state == AgentState::kFailed) continue;
    LINEAGE_ASSIGN_OR_RETURN(std::string id, impl_->git->TreeOf(a.commit));
    if (id == wanted) return std::optional<AgentId>(a.id);
  }
  return std::optional<AgentId>();
}

Status Archive::Materialize(AgentId id, const fs::path& dir) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, Tree(id));
  return WriteTree(dir, tree);
}

Result<DiffResult> Archive::Diff(AgentId to, std::optional<AgentId> from) {
  std::lock_guard lock(impl_->mu);
  LINEAGE_ASSIGN_OR_RETURN(Agent new_agent, impl_->LoadAgentRow(to));
  LINEAGE_RETURN_IF_ERROR(RequireCommit(new_agent));
  std::string old_commit;
  std::optional<AgentId> old_id = from ? from : new_agent.parent_id;
  if (old_id) {
    LINEAGE_ASSIGN_OR_RETURN(Agent old_agent, impl_->LoadAgentRow(*old_id));
    LINEAGE_RETURN_IF_ERROR(RequireCommit(old_agent));
    old_commit = old_agent.commit;
  }
  return impl_->git->Diff(old_commit, new_agent.commit);
}

Result<Agent> Archive::GetAgent(AgentId id) {
  std::lock_guard lock(impl_->mu);
  return impl_->LoadAgent(id);
}

Result<std::vector<Agent>> Archive::ListAgents(std::optional<RunId> run) {
  std::lock_guard lock(impl_->mu);
  if (run) LINEAGE_RETURN_IF_ERROR(impl_->RunExists(*run));
  std::vector<Agent> agents;
  std::map<AgentId, size_t> index;
  {
    sql::Stmt s(impl_->db, std::string("SELECT ") + kAgentColumns +
                               " FROM agents WHERE ?1 IS NULL OR run_id = ?1 OR "
                               "id = (SELECT seed_agent_id FROM runs WHERE id = ?1) ORDER BY id");
    s.Bind(1, run);
    while (s.Step()) {
      index[s.Int(0)] = agents.size();
      agents.push_back(ReadAgent(s));
    }
    LINEAGE_RETURN_IF_ERROR(s.status());
  }
  for (const Agent& a : agents) {
    if (!a.parent_id) continue;
    auto it = index.find(*a.parent_id);
    if (it != index.end()) agents[it->second].children.push_back(a.id);
  }
  sql::Stmt s(impl_->db, "SELECT agent_id, stage, attempted, solved, score FROM agent_stages ORDER BY agent_id, stage");
  while (s.Step()) {
    auto it = index.find(s.Int(0));
    if (it == index.end()) continue;
    agents[it->second].stages.push_back({static_cast<int>(s.Int(1)), static_cast<int>(s.Int(2)),
                                         static_cast<int>(s.Int(3)), s.OptDouble(4)});
  }
  LINEAGE_RETURN_IF_ERROR(s.status());
  return agents;
}

Result<std::vector<SelectionStats>> Archive::LoadSelectionStats(std::optional<RunId> run) {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db, R"sql(
SELECT a.id, a.parent_id, a.score, a.status, COALESCE(st.attempted, 0), COALESCE(st.solved, 0), COALESCE(ch.n, 0)
FROM agents a
LEFT JOIN (SELECT agent_id, SUM(attempted) AS attempted, SUM(solved) AS solved
           FROM agent_stages GROUP BY agent_id) st ON st.agent_id = a.id
LEFT JOIN (SELECT parent_id, COUNT(*) AS n FROM agents WHERE status = 'admitted'
           GROUP BY parent_id) ch ON ch.parent_id = a.id
WHERE ?1 IS NULL OR a.run_id = ?1 OR a.id = (SELECT seed_agent_id FROM runs WHERE id = ?1)
ORDER BY a.id)sql");
  s.Bind(1, run);
  std::vector<SelectionStats> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.OptInt(1), s.OptDouble(2), static_cast<int>(s.Int(4)), static_cast<int>(s.Int(5)),
                   static_cast<int>(s.Int(6)), ParseAgentState(s.Text(3)).value_or(AgentState::kFailed)});
  }
  LINEAGE_RETURN_IF_ERROR(s.status());
  return out;
}

Result<Run> Archive::CreateRun(const std::string& name, const std::string& config, std::optional<AgentId> seed,
                               std::optional<int> children_wanted) {
  std::lock_guard lock(impl_->mu);
  if (seed) LINEAGE_RETURN_IF_ERROR(impl_->LoadAgentRow(*seed).status());
  std::int64_t now = NowMillis();
  sql::Transaction txn(impl_->db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  sql::Stmt s(impl_->db,
              "INSERT INTO runs (name, status, config, seed_agent_id, children_wanted, created_at, updated_at) "
              "VALUES (?, 'queued', ?, ?, ?, ?, ?)");
  s.Bind(1, name).Bind(2, config).Bind(3, seed).Bind(4, children_wanted).Bind(5, now).Bind(6, now);
  LINEAGE_RETURN_IF_ERROR(s.Run());
  const RunId id = impl_->db.LastInsertId();
  nlohmann::json data = {{"name", name}};
  if (children_wanted) data["children_wanted"] = *children_wanted;
  LINEAGE_RETURN_IF_ERROR(impl_->AppendEventLocked({0, id, std::nullopt, "run.queued", data.dump(), now}));
  LINEAGE_RETURN_IF_ERROR(txn.Commit());
  return Run{id, name, RunState::kQueued, config, seed, children_wanted, now, now};
}

namespace {
Run ReadRun(const sql::Stmt& s) {
  return Run{s.Int(0),     s.Text(1),  ParseRunState(s.Text(2)).value_or(RunState::kFailed),
             s.Text(3),    s.OptInt(4), s.OptInt(5) ? std::optional<int>(static_cast<int>(*s.OptInt(5))) : std::nullopt,
             s.Int(6),     s.Int(7)};
}
constexpr const char* kRunColumns = "id, name, status, config, seed_agent_id, children_wanted, created_at, updated_at";
}  // namespace

Result<Run> Archive::GetRun(RunId id) {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
  s.Bind(1, id);
  if (!s.Step()) return s.status().ok() ? Status::NotFound("run " + std::to_string(id) + " does not exist") : s.status();
  return ReadRun(s);
}

Result<std::vector<Run>> Archive::ListRuns() {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db, std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id");
  std::vector<Run> runs;
  while (s.Step()) runs.push_back(ReadRun(s));
  LINEAGE_RETURN_IF_ERROR(s.status());
  return runs;
}

Result<Archive::Spend> Archive::RunSpend(RunId run) {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db,
              "SELECT COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0), COUNT(*) "
              "FROM model_calls WHERE run_id = ?");
  s.Bind(1, run);
  if (!s.Step()) return s.status().ok() ? Status::Internal("no row from a SUM query") : s.status();
  return Spend{s.Int(0), s.Double(1), s.Int(2)};
}

Result<Archive::SpendBreakdown> Archive::RunSpendBreakdown(RunId run) {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db,
              "SELECT purpose, outcome = 'ok', COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0), "
              "COUNT(*) FROM model_calls WHERE run_id = ? GROUP BY purpose, outcome = 'ok'");
  s.Bind(1, run);
  SpendBreakdown out;
  while (s.Step()) {
    Spend& into = s.Int(1) ? out.by_purpose[s.Text(0)] : out.failed;
    into.tokens += s.Int(2);
    into.cost_usd += s.Double(3);
    into.calls += s.Int(4);
  }
  LINEAGE_RETURN_IF_ERROR(s.status());
  sql::Stmt cache(impl_->db,
                  "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), "
                  "COALESCE(SUM(cache_write_tokens), 0) FROM model_calls WHERE run_id = ?");
  cache.Bind(1, run);
  if (cache.Step()) {
    out.input_tokens = cache.Int(0);
    out.cache_read_tokens = cache.Int(1);
    out.cache_write_tokens = cache.Int(2);
  }
  LINEAGE_RETURN_IF_ERROR(cache.status());
  return out;
}

Result<std::map<std::string, Archive::CostAverage>> Archive::AverageCosts(
    const std::vector<std::string>& models, const std::function<bool(const CallCost&)>& counts) {
  std::map<std::string, CostAverage> out;
  if (models.empty()) return out;
  std::string in;
  for (std::size_t i = 0; i < models.size(); ++i) in += i ? ", ?" : "?";
  std::map<std::string, std::set<std::string>> units;  // by purpose
  {
    std::lock_guard lock(impl_->mu);
    sql::Stmt s(impl_->db, "SELECT purpose, COALESCE(agent_id, 0) || ':' || COALESCE(task_id, ''), model, input_tokens, "
                           "output_tokens, cache_read_tokens, cache_write_tokens, cost_usd FROM model_calls "
                           "WHERE outcome IN ('ok', 'replayed') AND model IN (" + in + ")");
    for (std::size_t i = 0; i < models.size(); ++i) s.Bind(static_cast<int>(i + 1), models[i]);
    while (s.Step()) {
      const CallCost call{s.Text(2), s.Int(3), s.Int(4), s.Int(5), s.Int(6), s.Double(7)};
      if (counts && !counts(call)) continue;
      out[s.Text(0)].usd += call.cost_usd;
      units[s.Text(0)].insert(s.Text(1));
    }
    LINEAGE_RETURN_IF_ERROR(s.status());
  }
  for (auto& [purpose, average] : out) {
    average.units = static_cast<std::int64_t>(units[purpose].size());
    average.usd /= static_cast<double>(average.units);
  }
  return out;
}

Status Archive::SetRunState(RunId id, RunState to, const std::string& event_data) {
  std::lock_guard lock(impl_->mu);
  sql::Transaction txn(impl_->db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  std::string from;
  {
    sql::Stmt get(impl_->db, "SELECT status FROM runs WHERE id = ?");
    get.Bind(1, id);
    if (!get.Step()) return get.status().ok() ? Status::NotFound("run " + std::to_string(id) + " does not exist") : get.status();
    from = get.Text(0);
  }
  const std::optional<RunState> current = ParseRunState(from);
  if (!current || !MayFollow(*current, to)) {
    return Status::FailedPrecondition("run " + std::to_string(id) + " is " + from + "; it cannot become " + StateName(to));
  }
  const std::int64_t now = NowMillis();
  const bool ended = HasEnded(to);
  sql::Stmt s(impl_->db, ended ? "UPDATE runs SET status = ?, updated_at = ?, finished_at = ? WHERE id = ?"
                               : "UPDATE runs SET status = ?, updated_at = ?, finished_at = NULL WHERE id = ?");
  s.Bind(1, StateName(to)).Bind(2, now);
  if (ended) s.Bind(3, now).Bind(4, id);
  else s.Bind(3, id);
  LINEAGE_RETURN_IF_ERROR(s.Run());
  LINEAGE_RETURN_IF_ERROR(impl_->AppendEventLocked(
      {0, id, std::nullopt, std::string("run.") + StateName(to), TransitionData(event_data, from.c_str(), ""), now}));
  return txn.Commit();
}

Status Archive::SetRunConfig(RunId id, const std::string& config, std::optional<int> children_wanted,
                             const std::string& event_data) {
  std::lock_guard lock(impl_->mu);
  sql::Transaction txn(impl_->db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  const std::int64_t now = NowMillis();
  sql::Stmt s(impl_->db, "UPDATE runs SET config = ?, children_wanted = ?, updated_at = ? WHERE id = ?");
  s.Bind(1, config).Bind(2, children_wanted).Bind(3, now).Bind(4, id);
  LINEAGE_RETURN_IF_ERROR(s.Run());
  if (impl_->db.Changes() == 0) return Status::NotFound("run " + std::to_string(id) + " does not exist");
  LINEAGE_RETURN_IF_ERROR(impl_->AppendEventLocked({0, id, std::nullopt, "run.configured", event_data, now}));
  return txn.Commit();
}

Status Archive::SetAgentState(AgentId id, AgentState to, const std::string& reason, const std::string& event_data,
                              std::optional<RunId> event_run) {
  std::lock_guard lock(impl_->mu);
  sql::Transaction txn(impl_->db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  LINEAGE_ASSIGN_OR_RETURN(Agent agent, impl_->LoadAgentRow(id));
  if (!MayFollow(agent.state, to)) {
    return Status::FailedPrecondition("agent " + std::to_string(id) + " is " + StateName(agent.state) +
                                      "; it cannot become " + StateName(to));
  }
  sql::Stmt s(impl_->db, "UPDATE agents SET status = ?, reason = ?, updated_at = ? WHERE id = ?");
  s.Bind(1, StateName(to)).Bind(2, reason).Bind(3, NowMillis()).Bind(4, id);
  LINEAGE_RETURN_IF_ERROR(s.Run());
  LINEAGE_RETURN_IF_ERROR(impl_->AppendEventLocked({0, agent.run_id ? agent.run_id : event_run, id,
                                                    std::string("agent.") + StateName(to),
                                                    TransitionData(event_data, StateName(agent.state), reason), 0}));
  return txn.Commit();
}

Status Archive::RecordStageScore(AgentId id, const StageScore& stage) {
  std::lock_guard lock(impl_->mu);
  LINEAGE_RETURN_IF_ERROR(impl_->LoadAgentRow(id).status());
  sql::Transaction txn(impl_->db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  sql::Stmt s(impl_->db,
              "INSERT OR REPLACE INTO agent_stages (agent_id, stage, attempted, solved, score) VALUES (?, ?, ?, ?, ?)");
  s.Bind(1, id).Bind(2, stage.stage).Bind(3, stage.attempted).Bind(4, stage.solved).Bind(5, stage.score);
  LINEAGE_RETURN_IF_ERROR(s.Run());
  // The agent's score is over every task it attempted, across the stages it reached.
  sql::Stmt u(impl_->db, R"sql(
UPDATE agents SET
  score = (SELECT CASE WHEN SUM(attempted) > 0 THEN CAST(SUM(solved) AS REAL) / SUM(attempted) END
           FROM agent_stages WHERE agent_id = ?1),
  stage_reached = (SELECT MAX(stage) FROM agent_stages WHERE agent_id = ?1),
  updated_at = ?2
WHERE id = ?1)sql");
  u.Bind(1, id).Bind(2, NowMillis());
  LINEAGE_RETURN_IF_ERROR(u.Run());
  return txn.Commit();
}

Result<std::int64_t> Archive::RecordEvaluation(const Evaluation& e) {
  std::lock_guard lock(impl_->mu);
  LINEAGE_RETURN_IF_ERROR(impl_->LoadAgentRow(e.agent_id).status());
  if (!e.log_blob.empty() && !impl_->blobs->Exists(e.log_blob)) {
    return Status::InvalidArgument("evaluation log blob " + e.log_blob + " is not in the blob store");
  }
  sql::Stmt s(impl_->db, R"sql(
INSERT INTO evaluations (agent_id, suite, task_id, stage, outcome, score, duration_ms, patch_bytes, log_blob, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (agent_id, suite, task_id) DO UPDATE SET
  stage = excluded.stage, outcome = excluded.outcome, score = excluded.score, duration_ms = excluded.duration_ms,
  patch_bytes = excluded.patch_bytes, log_blob = excluded.log_blob, created_at = excluded.created_at)sql");
  std::optional<std::string> log = e.log_blob.empty() ? std::nullopt : std::optional<std::string>(e.log_blob);
  s.Bind(1, e.agent_id).Bind(2, e.suite).Bind(3, e.task_id).Bind(4, e.stage).Bind(5, OutcomeName(e.outcome)).Bind(6, e.score);
  s.Bind(7, e.duration_ms).Bind(8, e.patch_bytes).Bind(9, log).Bind(10, e.created_at ? e.created_at : NowMillis());
  LINEAGE_RETURN_IF_ERROR(s.Run());
  sql::Stmt id(impl_->db, "SELECT id FROM evaluations WHERE agent_id = ? AND suite = ? AND task_id = ?");
  id.Bind(1, e.agent_id).Bind(2, e.suite).Bind(3, e.task_id);
  if (!id.Step()) return id.status().ok() ? Status::Internal("evaluation vanished after insert") : id.status();
  return id.Int(0);
}

Result<std::vector<Evaluation>> Archive::ListEvaluations(AgentId agent) {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db,
              "SELECT id, agent_id, suite, task_id, stage, outcome, score, duration_ms, patch_bytes, log_blob, "
              "created_at FROM evaluations WHERE agent_id = ? ORDER BY stage, suite, task_id");
  s.Bind(1, agent);
  std::vector<Evaluation> out;
  while (s.Step()) {
    const std::string name = s.Text(5);
    std::optional<Outcome> outcome = ParseOutcome(name);
    if (!outcome) {
      // A newer lineage's outcome, say: a result that solved nothing, as an older lineage counted it.
      spdlog::warn("evaluation {} of agent {} has the outcome '{}', which this lineage does not know; it counts as "
                   "an error", s.Int(0), agent, name);
    }
    out.push_back({s.Int(0), s.Int(1), s.Text(2), s.Text(3), static_cast<int>(s.Int(4)), outcome.value_or(Outcome::kError), s.OptDouble(6),
                   s.Int(7), s.Int(8), s.Text(9), s.Int(10)});
  }
  LINEAGE_RETURN_IF_ERROR(s.status());
  return out;
}

Result<std::int64_t> Archive::RecordModelCall(ModelCall c, const std::string& request, const std::string& response) {
  // Blobs first: the row must never name a blob that is not there.
  LINEAGE_ASSIGN_OR_RETURN(c.request_blob, impl_->blobs->Put(request));
  LINEAGE_ASSIGN_OR_RETURN(c.response_blob, impl_->blobs->Put(response));
  std::lock_guard lock(impl_->mu);
  sql::Transaction txn(impl_->db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  sql::Stmt s(impl_->db, R"sql(
INSERT INTO model_calls (run_id, agent_id, task_id, purpose, provider, model, input_tokens, output_tokens, cost_usd,
  latency_ms, outcome, error, request_blob, response_blob, created_at, label, cache_read_tokens, cache_write_tokens)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
  std::optional<std::string> task = c.task_id.empty() ? std::nullopt : std::optional<std::string>(c.task_id);
  s.Bind(1, c.run_id).Bind(2, c.agent_id).Bind(3, task).Bind(4, c.purpose).Bind(5, c.provider).Bind(6, c.model);
  s.Bind(7, c.input_tokens).Bind(8, c.output_tokens).Bind(9, c.cost_usd).Bind(10, c.latency_ms).Bind(11, c.outcome);
  s.Bind(12, c.error).Bind(13, c.request_blob).Bind(14, c.response_blob).Bind(15, c.created_at ? c.created_at : NowMillis());
  s.Bind(16, c.label).Bind(17, c.cache_read_tokens).Bind(18, c.cache_write_tokens);
  LINEAGE_RETURN_IF_ERROR(s.Run());
  std::int64_t id = impl_->db.LastInsertId();
  if (c.agent_id) {
    // The agent's own totals, kept on its row so the tree can show spend without a join.
    sql::Stmt u(impl_->db,
                "UPDATE agents SET tokens_in = tokens_in + ?, tokens_out = tokens_out + ?, cost_usd = cost_usd + ? "
                "WHERE id = ?");
    u.Bind(1, c.input_tokens).Bind(2, c.output_tokens).Bind(3, c.cost_usd).Bind(4, *c.agent_id);
    LINEAGE_RETURN_IF_ERROR(u.Run());
  }
  LINEAGE_RETURN_IF_ERROR(txn.Commit());
  return id;
}

Result<std::vector<ModelCall>> Archive::ListModelCalls(RunId run, const std::string& task_id) {
  return impl_->ListCalls("run_id = ? AND task_id = ?", [&](sql::Stmt& s) { s.Bind(1, run).Bind(2, task_id); });
}

Result<std::vector<ModelCall>> Archive::ListRunModelCalls(RunId run) {
  return impl_->ListCalls("run_id = ?", [&](sql::Stmt& s) { s.Bind(1, run); });
}

Result<std::map<std::string, double>> Archive::AgentCost(const Agent& a) {
  std::map<std::string, double> cost;
  if (!a.run_id) return cost;
  LINEAGE_ASSIGN_OR_RETURN(std::vector<Event> events, ListEvents(*a.run_id));
  std::string calls_task;
  for (const Event& e : events) {
    if (e.agent_id != a.id || (e.kind != "agent.committed" && e.kind != "agent.rejected")) continue;
    if (auto made = journal::ChildMade::Decode(e)) calls_task = made->calls_task;
    break;
  }
  if (!calls_task.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<ModelCall> making, ListModelCalls(*a.run_id, calls_task));
    for (const ModelCall& c : making) cost[c.purpose] += c.cost_usd;
  }
  LINEAGE_ASSIGN_OR_RETURN(std::vector<ModelCall> own, ListModelCalls(a.id));
  for (const ModelCall& c : own) {
    if (c.purpose == "evaluate") cost[c.purpose] += c.cost_usd;
  }
  return cost;
}

Result<std::vector<ModelCall>> Archive::ListModelCalls(AgentId agent) {
  return impl_->ListCalls("agent_id = ?", [&](sql::Stmt& s) { s.Bind(1, agent); });
}

Result<std::vector<ModelCall>> Archive::Impl::ListCalls(const std::string& where, const std::function<void(sql::Stmt&)>& bind) {
  std::lock_guard lock(mu);
  sql::Stmt s(db,
              "SELECT id, run_id, agent_id, task_id, purpose, provider, model, input_tokens, output_tokens, cost_usd, "
              "latency_ms, outcome, error, request_blob, response_blob, created_at, label, cache_read_tokens, "
              "cache_write_tokens FROM model_calls "
              "WHERE " + where + " ORDER BY id");
  bind(s);
  std::vector<ModelCall> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.OptInt(1), s.OptInt(2), s.Text(3), s.Text(4), s.Text(16), s.Text(5), s.Text(6), s.Int(7),
                   s.Int(8), s.Double(9), s.Int(10), s.Text(11), s.Text(12), s.Text(13), s.Text(14), s.Int(15)});
    out.back().cache_read_tokens = s.Int(17);
    out.back().cache_write_tokens = s.Int(18);
  }
  LINEAGE_RETURN_IF_ERROR(s.status());
  return out;
}

Result<std::int64_t> Archive::AppendEvent(const Event& event) {
  std::lock_guard lock(impl_->mu);
  if (!nlohmann::json::accept(event.data_json)) {
    return Status::InvalidArgument("event data is not JSON: " + event.data_json.substr(0, 80));
  }
  LINEAGE_RETURN_IF_ERROR(impl_->AppendEventLocked(event));
  return impl_->db.LastInsertId();
}

Result<std::vector<Event>> Archive::ListEvents(std::optional<RunId> run) {
  std::lock_guard lock(impl_->mu);
  sql::Stmt s(impl_->db,
              "SELECT id, run_id, agent_id, kind, data, at FROM events WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id");
  s.Bind(1, run);
  std::vector<Event> out;
  while (s.Step()) out.push_back({s.Int(0), s.OptInt(1), s.OptInt(2), s.Text(3), s.Text(4), s.Int(5)});
  LINEAGE_RETURN_IF_ERROR(s.status());
  return out;
}

Result<std::string> Archive::BuildLog(AgentId agent) {
  std::string blob;
  {
    std::lock_guard lock(impl_->mu);
    sql::Stmt s(impl_->db, "SELECT data FROM events WHERE agent_id = ? AND kind = 'agent.rejected' ORDER BY id");
    s.Bind(1, agent);
    while (s.Step()) {
      const nlohmann::json data = nlohmann::json::parse(s.Text(0), nullptr, false);
      if (data.is_object() && data.contains("build_log_blob") && data["build_log_blob"].is_string()) {
        blob = data["build_log_blob"];
      }
    }
    LINEAGE_RETURN_IF_ERROR(s.status());
  }
  if (blob.empty()) return std::string();
  auto text = GetBlob(blob);
  return text.ok() ? *text : std::string();
}

Result<std::string> Archive::PutBlob(const std::string& data) { return impl_->blobs->Put(data); }
Result<std::string> Archive::GetBlob(const std::string& hash) { return impl_->blobs->Get(hash); }

// --- fsck ------------------------------------------------------------------------------------------------

namespace {

struct AgentLink {
  AgentId id;
  std::optional<AgentId> parent_id;
  std::string commit;
  AgentState state;
};

class Fsck {
 public:
  Fsck(Archive::Impl& impl, bool repair) : impl_(impl), repair_(repair) {}

  Result<std::vector<FsckIssue>> Run() {
    LINEAGE_RETURN_IF_ERROR(CheckDatabase());
    LINEAGE_ASSIGN_OR_RETURN(std::vector<AgentLink> agents, LoadLinks());
    std::map<AgentId, std::string> commit_of;
    for (const AgentLink& a : agents) commit_of[a.id] = a.commit;
    for (const AgentLink& a : agents) LINEAGE_RETURN_IF_ERROR(CheckAgent(a, commit_of));
    LINEAGE_RETURN_IF_ERROR(CheckBranches(commit_of));
    LINEAGE_RETURN_IF_ERROR(CheckBlobs());
    CheckLeftovers();
    return std::move(issues_);
  }

 private:
  void Report(std::string subject, std::string problem, bool repaired = false) {
    issues_.push_back({std::move(subject), std::move(problem), repaired});
  }
  static std::string AgentSubject(AgentId id) { return "agent " + std::to_string(id); }

  Status CheckDatabase() {
    sql::Stmt quick(impl_.db, "PRAGMA quick_check");
    while (quick.Step()) {
      std::string line = quick.Text(0);
      if (line != "ok") Report("archive.db", line);
    }
    LINEAGE_RETURN_IF_ERROR(quick.status());
    sql::Stmt fk(impl_.db, "PRAGMA foreign_key_check");
    while (fk.Step()) {
      Report("archive.db", "row " + std::to_string(fk.Int(1)) + " of table " + fk.Text(0) +
                               " references a missing row of " + fk.Text(2));
    }
    return fk.status();
  }

  Result<std::vector<AgentLink>> LoadLinks() {
    sql::Stmt s(impl_.db, "SELECT id, parent_id, COALESCE(commit_id, ''), status FROM agents ORDER BY id");
    std::vector<AgentLink> out;
    while (s.Step()) out.push_back({s.Int(0), s.OptInt(1), s.Text(2), ParseAgentState(s.Text(3)).value_or(AgentState::kFailed)});
    LINEAGE_RETURN_IF_ERROR(s.status());
    return out;
  }

  Status CheckAgent(const AgentLink& a, std::map<AgentId, std::string>& commit_of) {
    const std::string subject = AgentSubject(a.id);
    std::string parent_commit = a.parent_id ? commit_of[*a.parent_id] : "";
    if (a.commit.empty()) {
      if (a.state == AgentState::kPending) return RepairPending(a, parent_commit, commit_of);
      if (NeedsCommit(a.state)) Report(subject, std::string("it is ") + StateName(a.state) + " but it has no commit");
      return Status::OK();
    }
    if (!impl_.git->HasCommit(a.commit)) {
      Report(subject, "commit " + a.commit + " is missing from agents.git");
      return Status::OK();
    }
    LINEAGE_ASSIGN_OR_RETURN(std::string git_parent, impl_.git->ParentOf(a.commit));
    if (git_parent != parent_commit) {
      Report(subject, "commit " + a.commit + " has git parent '" + git_parent + "' but its archive parent's commit is '" +
                          parent_commit + "'");
    }
    LINEAGE_ASSIGN_OR_RETURN(auto branch, impl_.git->Branch(a.id));
    if (branch == a.commit) return Status::OK();
    std::string problem = branch ? "branch agents/" + std::to_string(a.id) + " points to " + *branch + ", not " + a.commit
                                 : "branch agents/" + std::to_string(a.id) + " is missing";
    bool repaired = repair_ && impl_.git->SetBranch(a.id, a.commit, /*force=*/true).ok();
    Report(subject, problem, repaired);
    return Status::OK();
  }

  // A pending row is a write that was interrupted. If its branch was written, the commit is whole and only
  // the row needs finishing; otherwise nothing durable exists and the row is marked failed.
  Status RepairPending(const AgentLink& a, const std::string& parent_commit,
                       std::map<AgentId, std::string>& commit_of) {
    const std::string subject = AgentSubject(a.id);
    LINEAGE_ASSIGN_OR_RETURN(auto branch, impl_.git->Branch(a.id));
    // ParentOf fails when the branch names a commit that is not there.
    auto git_parent = branch ? impl_.git->ParentOf(*branch) : Result<std::string>(Status::NotFound("no branch"));
    bool complete = git_parent.ok() && *git_parent == parent_commit;
    if (!repair_) {
      Report(subject, complete ? "pending: its commit was written but the row was not finished (repairable)"
                               : "pending: interrupted before its commit was written (repair marks it failed)");
      return Status::OK();
    }
    LINEAGE_ASSIGN_OR_RETURN(Agent agent, impl_.LoadAgentRow(a.id));
    if (complete) {
      // The state the write meant to record: only a child committed as rejected has a reason already.
      const AgentState state = agent.reason.empty() ? AgentState::kCommitted : AgentState::kRejected;
      LINEAGE_RETURN_IF_ERROR(impl_.FinishCommit(agent, *branch, parent_commit, state, "{}"));
      commit_of[a.id] = *branch;
      Report(subject, "pending: finished the interrupted write (commit " + *branch + ")", true);
    } else {
      LINEAGE_RETURN_IF_ERROR(impl_.MarkFailed(agent, "interrupted before its commit was written"));
      Report(subject, "pending: interrupted before its commit was written; marked failed", true);
    }
    return Status::OK();
  }

  Status CheckBranches(const std::map<AgentId, std::string>& commit_of) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<AgentId> branches, impl_.git->ListBranches());
    for (AgentId id : branches) {
      if (commit_of.count(id) == 0) {
        Report("branch agents/" + std::to_string(id), "no agent " + std::to_string(id) + " in archive.db");
      }
    }
    return Status::OK();
  }

  Status CheckBlobs() {
    std::set<std::string> referenced;
    sql::Stmt s(impl_.db,
                "SELECT log_blob FROM evaluations WHERE log_blob IS NOT NULL UNION "
                "SELECT request_blob FROM model_calls WHERE request_blob IS NOT NULL UNION "
                "SELECT response_blob FROM model_calls WHERE response_blob IS NOT NULL UNION "
                // Events name blobs too (a rejected build's log, a self-modification's transcript): any
                // top-level "*_blob" string of their data.
                "SELECT j.value FROM events, json_each(CASE WHEN json_valid(events.data) THEN events.data ELSE '{}' END) AS j "
                "WHERE j.key LIKE '%\\_blob' ESCAPE '\\' AND j.type = 'text'");
    while (s.Step()) referenced.insert(s.Text(0));
    LINEAGE_RETURN_IF_ERROR(s.status());
    for (const std::string& hash : referenced) {
      if (!impl_.blobs->Exists(hash)) Report("blob " + hash, "referenced by archive.db but missing from blobs/");
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> stored, impl_.blobs->List());
    for (const std::string& hash : stored) {
      auto data = impl_.blobs->Get(hash);
      if (!data.ok()) Report("blob " + hash, data.status().message());
    }
    return Status::OK();
  }

  // Lock files from a process killed mid-update block later updates of the same ref; temporary files are
  // harmless but waste space.
  void CheckLeftovers() {
    std::vector<fs::path> leftovers = impl_.git->ListStaleLocks();
    std::vector<fs::path> temps = impl_.blobs->ListTemporaryFiles();
    leftovers.insert(leftovers.end(), temps.begin(), temps.end());
    for (const fs::path& path : leftovers) {
      std::error_code ec;
      bool repaired = repair_ && fs::remove(path, ec);
      Report(fs::relative(path, impl_.home, ec).string(), "left over by an interrupted write", repaired);
    }
  }

  Archive::Impl& impl_;
  bool repair_;
  std::vector<FsckIssue> issues_;
};

}  // namespace

Result<std::vector<FsckIssue>> Archive::Fsck(bool repair) {
  std::lock_guard lock(impl_->mu);
  return lineage::Fsck(*impl_, repair).Run();
}

}  // namespace lineage
