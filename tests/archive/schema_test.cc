#include "archive/schema.h"

#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {
namespace fs = std::filesystem;

int Count(sql::Db& db, const std::string& query) {
  sql::Stmt s(db, query);
  REQUIRE(s.Step());
  return static_cast<int>(s.Int(0));
}

TEST_CASE("a fresh database gets the latest schema") {
  test::TempDir tmp;
  sql::Db db;
  REQUIRE(db.Open((tmp / "a.db").string(), true).ok());
  REQUIRE(schema::Migrate(db).ok());
  CHECK(*schema::CurrentVersion(db) == schema::LatestVersion());
  CHECK(Count(db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('runs','agents','agent_stages','evaluations',"
                  "'model_calls','events')") == 6);
  sql::Stmt mode(db, "PRAGMA journal_mode");
  REQUIRE(mode.Step());
  CHECK(mode.Text(0) == "wal");
  CHECK(Count(db, "PRAGMA foreign_keys") == 1);
}

TEST_CASE("an archive at schema version 1 migrates with its data intact") {
  test::TempDir tmp;
  fs::path home = tmp / "home";
  // Build a home the way an older lineage left it: an initialised git store and a version-1 database.
  {
    auto archive = Archive::Init(home);
    REQUIRE(archive.ok());
  }
  fs::remove(home / "archive.db");
  {
    sql::Db db;
    REQUIRE(db.Open((home / "archive.db").string(), true).ok());
    REQUIRE(schema::Migrate(db, 1).ok());
    REQUIRE(*schema::CurrentVersion(db) == 1);
    REQUIRE(db.Exec("INSERT INTO agents (id, name, status, created_at, updated_at) "
                    "VALUES (1, 'old', 'failed', 1, 1)").ok());
    REQUIRE(db.Exec("INSERT INTO evaluations (agent_id, suite, task_id, stage, outcome, created_at) "
                    "VALUES (1, 's', 't', 1, 'solved', 1)").ok());
    CHECK(Count(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events'") == 0);
  }
  auto archive = Archive::Open(home);
  REQUIRE(archive.ok());
  CHECK((*archive)->schema_version() == schema::LatestVersion());
  auto old = (*archive)->GetAgent(1);
  REQUIRE(old.ok());
  CHECK(old->name == "old");
  CHECK((*archive)->ListEvaluations(1)->size() == 1);
  // Tables of version 2 work.
  CHECK((*archive)->AppendEvent({0, std::nullopt, 1, "migrated", "{}", 0}).ok());
}

TEST_CASE("a database newer than this build is refused, untouched") {
  test::TempDir tmp;
  sql::Db db;
  REQUIRE(db.Open((tmp / "a.db").string(), true).ok());
  REQUIRE(schema::Migrate(db).ok());
  REQUIRE(db.Exec("PRAGMA user_version = 99").ok());
  Status s = schema::Migrate(db);
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(s.message() == "archive.db has schema version 99 but this lineage understands versions up to " +
                           std::to_string(schema::LatestVersion()) + "; upgrade lineage");
  CHECK(*schema::CurrentVersion(db) == 99);
}

TEST_CASE("a failing migration leaves the previous version in place") {
  test::TempDir tmp;
  sql::Db db;
  REQUIRE(db.Open((tmp / "a.db").string(), true).ok());
  REQUIRE(schema::Migrate(db, 1).ok());
  // A table that migration 2 is about to create makes it fail halfway.
  REQUIRE(db.Exec("CREATE TABLE events (x)").ok());
  Status s = schema::Migrate(db);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("migration to schema version 2 failed") == 0);
  CHECK(*schema::CurrentVersion(db) == 1);
  CHECK(Count(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'model_calls'") == 0);
}

TEST_CASE("the events table refuses updates and deletes") {
  test::TempDir tmp;
  sql::Db db;
  REQUIRE(db.Open((tmp / "a.db").string(), true).ok());
  REQUIRE(schema::Migrate(db).ok());
  REQUIRE(db.Exec("INSERT INTO events (kind, at) VALUES ('x', 1)").ok());
  Status update = db.Exec("UPDATE events SET kind = 'y'");
  CHECK(update.message().find("events are append-only") != std::string::npos);
  CHECK_FALSE(db.Exec("DELETE FROM events").ok());
  CHECK(Count(db, "SELECT COUNT(*) FROM events WHERE kind = 'x'") == 1);
}

}  // namespace
}  // namespace lineage
