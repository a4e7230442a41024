#include "archive/schema.h"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

namespace lineage::schema {
namespace {

// Migration i (1-based) takes user_version from i-1 to i. Append only: never edit a released migration.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: runs, agents and their evaluations.
      R"sql(
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  status        TEXT    NOT NULL DEFAULT 'created',
  config        TEXT    NOT NULL DEFAULT '',
  seed_agent_id INTEGER REFERENCES agents(id),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  finished_at   INTEGER
);
CREATE TABLE agents (
  id                INTEGER PRIMARY KEY,
  run_id            INTEGER REFERENCES runs(id),
  parent_id         INTEGER REFERENCES agents(id),
  name              TEXT    NOT NULL DEFAULT '',
  commit_id         TEXT,
  generation        INTEGER NOT NULL DEFAULT 0,
  status            TEXT    NOT NULL,
  reason            TEXT    NOT NULL DEFAULT '',
  score             REAL,
  stage_reached     INTEGER NOT NULL DEFAULT 0,
  problem_statement TEXT    NOT NULL DEFAULT '',
  diagnosis         TEXT,
  files_changed     INTEGER NOT NULL DEFAULT 0,
  lines_added       INTEGER NOT NULL DEFAULT 0,
  lines_removed     INTEGER NOT NULL DEFAULT 0,
  tokens_in         INTEGER NOT NULL DEFAULT 0,
  tokens_out        INTEGER NOT NULL DEFAULT 0,
  cost_usd          REAL    NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX agents_parent ON agents(parent_id);
CREATE INDEX agents_run ON agents(run_id);
CREATE TABLE agent_stages (
  agent_id  INTEGER NOT NULL REFERENCES agents(id),
  stage     INTEGER NOT NULL,
  attempted INTEGER NOT NULL,
  solved    INTEGER NOT NULL,
  score     REAL,
  PRIMARY KEY (agent_id, stage)
) WITHOUT ROWID;
CREATE TABLE evaluations (
  id          INTEGER PRIMARY KEY,
  agent_id    INTEGER NOT NULL REFERENCES agents(id),
  suite       TEXT    NOT NULL,
  task_id     TEXT    NOT NULL,
  stage       INTEGER NOT NULL,
  outcome     TEXT    NOT NULL,
  score       REAL,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  patch_bytes INTEGER NOT NULL DEFAULT 0,
  log_blob    TEXT,
  created_at  INTEGER NOT NULL,
  UNIQUE (agent_id, suite, task_id)
);
)sql",
      // 2: every model call, and the append-only journal of events.
      R"sql(
CREATE TABLE model_calls (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER REFERENCES runs(id),
  agent_id      INTEGER REFERENCES agents(id),
  task_id       TEXT,
  purpose       TEXT    NOT NULL,
  provider      TEXT    NOT NULL,
  model         TEXT    NOT NULL,
  input_tokens  INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cost_usd      REAL    NOT NULL DEFAULT 0,
  latency_ms    INTEGER NOT NULL DEFAULT 0,
  outcome       TEXT    NOT NULL,
  error         TEXT    NOT NULL DEFAULT '',
  request_blob  TEXT,
  response_blob TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX model_calls_agent ON model_calls(agent_id);
CREATE INDEX model_calls_run ON model_calls(run_id);
CREATE TABLE events (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id   INTEGER REFERENCES runs(id),
  agent_id INTEGER REFERENCES agents(id),
  kind     TEXT    NOT NULL,
  data     TEXT    NOT NULL DEFAULT '{}',
  at       INTEGER NOT NULL
);
CREATE INDEX events_run ON events(run_id, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
)sql",
      // 3: states are checked; a run records the children it wants; a model call keeps the agent's label.
      R"sql(
UPDATE runs SET status = 'queued' WHERE status = 'created';
ALTER TABLE runs ADD COLUMN children_wanted INTEGER;
ALTER TABLE model_calls ADD COLUMN label TEXT NOT NULL DEFAULT '';
CREATE TRIGGER agents_state_insert BEFORE INSERT ON agents
  WHEN NEW.status NOT IN ('pending', 'committed', 'built', 'evaluating', 'admitted', 'rejected', 'failed')
  BEGIN SELECT RAISE(ABORT, 'unknown agent state'); END;
CREATE TRIGGER agents_state_update BEFORE UPDATE OF status ON agents
  WHEN NEW.status NOT IN ('pending', 'committed', 'built', 'evaluating', 'admitted', 'rejected', 'failed')
  BEGIN SELECT RAISE(ABORT, 'unknown agent state'); END;
CREATE TRIGGER runs_state_insert BEFORE INSERT ON runs
  WHEN NEW.status NOT IN ('queued', 'running', 'pausing', 'paused', 'stopping', 'stopped', 'finished', 'failed')
  BEGIN SELECT RAISE(ABORT, 'unknown run state'); END;
CREATE TRIGGER runs_state_update BEFORE UPDATE OF status ON runs
  WHEN NEW.status NOT IN ('queued', 'running', 'pausing', 'paused', 'stopping', 'stopped', 'finished', 'failed')
  BEGIN SELECT RAISE(ABORT, 'unknown run state'); END;
)sql",
      // 4: a model call's cached input, read and written, apart (prompt caching is priced apart).
      R"sql(
ALTER TABLE model_calls ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
)sql",
  };
  return kMigrations;
}

}  // namespace

int LatestVersion() { return static_cast<int>(Migrations().size()); }

Result<int> CurrentVersion(sql::Db& db) {
  sql::Stmt stmt(db, "PRAGMA user_version");
  if (!stmt.Step()) return stmt.status().ok() ? Status::Internal("PRAGMA user_version returned no row") : stmt.status();
  return static_cast<int>(stmt.Int(0));
}

Status Migrate(sql::Db& db, int target) {
  if (target < 0) target = LatestVersion();
  sql::Transaction txn(db);
  LINEAGE_RETURN_IF_ERROR(txn.status());
  // Read the version inside the write transaction: two processes opening a fresh home migrate once.
  LINEAGE_ASSIGN_OR_RETURN(int current, CurrentVersion(db));
  if (current > LatestVersion()) {
    return Status::FailedPrecondition("archive.db has schema version " + std::to_string(current) +
                                      " but this lineage understands versions up to " +
                                      std::to_string(LatestVersion()) + "; upgrade lineage");
  }
  if (current >= target) return Status::OK();
  for (int v = current + 1; v <= target; ++v) {
    Status s = db.Exec(Migrations()[v - 1]);
    if (!s.ok()) return s.WithContext("migration to schema version " + std::to_string(v) + " failed");
  }
  LINEAGE_RETURN_IF_ERROR(db.Exec("PRAGMA user_version = " + std::to_string(target)));
  LINEAGE_RETURN_IF_ERROR(txn.Commit());
  if (current > 0) spdlog::info("migrated archive.db from schema version {} to {}", current, target);
  return Status::OK();
}

}  // namespace lineage::schema
