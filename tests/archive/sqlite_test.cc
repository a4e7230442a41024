// The RAII layer over SQLite: a transaction that cannot be rolled back leaves no connection that would
// write half of it later.
#include "archive/sqlite.h"

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace lineage::sql {
namespace {

// Refuses every ROLLBACK, as a failing disk or an interrupted connection would make it fail.
int DenyRollback(void*, int action, const char* operation, const char*, const char*, const char*) {
  return action == SQLITE_TRANSACTION && operation != nullptr && std::string(operation) == "ROLLBACK" ? SQLITE_DENY
                                                                                                    : SQLITE_OK;
}

// A fresh database in `dir` holding the empty table t.
void OpenWithTable(Db& db, const test::TempDir& dir) {
  REQUIRE(db.Open((dir / "t.db").string(), /*create=*/true).ok());
  REQUIRE(db.Exec("CREATE TABLE t (x INTEGER)").ok());
}

int Count(Db& db) {
  Stmt count(db, "SELECT COUNT(*) FROM t");
  return count.Step() ? static_cast<int>(count.Int(0)) : -1;
}

TEST_CASE("a transaction that cannot be rolled back breaks its connection: nothing of it is written later") {
  test::TempDir dir;
  Db db;
  OpenWithTable(db, dir);
  {
    Transaction txn(db);
    REQUIRE(txn.status().ok());
    REQUIRE(db.Exec("INSERT INTO t VALUES (1)").ok());
    sqlite3_set_authorizer(db.handle(), DenyRollback, nullptr);
  }  // not committed: rolled back, which is refused
  sqlite3_set_authorizer(db.handle(), nullptr, nullptr);
  CHECK_FALSE(db.broken().ok());
  CHECK_THAT(db.broken().message(), Catch::Contains("could not roll back"));
  // The next write, and its COMMIT, are refused: the insert above is never committed through it.
  Transaction next(db);
  CHECK_FALSE(next.status().ok());
  CHECK_FALSE(db.Exec("INSERT INTO t VALUES (2)").ok());
  CHECK_FALSE(next.Commit().ok());
  Db other;
  REQUIRE(other.Open((dir / "t.db").string(), /*create=*/false).ok());
  CHECK(Count(other) == 0);
}

TEST_CASE("a transaction left uncommitted is rolled back, and the connection goes on") {
  test::TempDir dir;
  Db db;
  OpenWithTable(db, dir);
  {
    Transaction txn(db);
    REQUIRE(db.Exec("INSERT INTO t VALUES (1)").ok());
  }
  CHECK(db.broken().ok());
  CHECK(Count(db) == 0);
  Transaction txn(db);
  REQUIRE(db.Exec("INSERT INTO t VALUES (2)").ok());
  REQUIRE(txn.Commit().ok());
  CHECK(Count(db) == 1);
}

}  // namespace
}  // namespace lineage::sql
