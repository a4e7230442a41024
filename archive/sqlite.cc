#include "archive/sqlite.h"

#include <spdlog/spdlog.h>

namespace lineage::sql {

Db::~Db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status Db::Error(const std::string& what) const {
  const char* msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
  int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : SQLITE_NOMEM;
  std::string text = what + ": " + msg;
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) return Status::Corruption(text);
  if ((code & 0xff) == SQLITE_BUSY) return Status::IOError(text + " (another lineage process holds the archive)");
  return Status::IOError(text);
}

Status Db::Open(const std::string& path, bool create) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    return Error("cannot open '" + path + "'");
  }
  sqlite3_busy_timeout(db_, 10000);
  sqlite3_extended_result_codes(db_, 1);
  // journal_mode returns a row; Exec ignores it. WAL lets readers run while a writer commits.
  return Exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;");
}

Status Db::Exec(const std::string& sql) {
  if (!broken_.ok()) return broken_;
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    Status s = Error("SQL failed");
    return s.code() == Status::Code::kCorruption ? s : Status::IOError("SQL failed: " + msg);
  }
  return Status::OK();
}

Stmt::Stmt(const Db& db, std::string_view sql) : db_(db) {
  if (!db.broken().ok()) {
    status_ = db.broken();
    return;
  }
  if (sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK) {
    status_ = db.Error("cannot prepare '" + std::string(sql.substr(0, 60)) + "'");
  }
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::Bind(int index, std::int64_t value) {
  if (status_.ok()) sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
Stmt& Stmt::Bind(int index, double value) {
  if (status_.ok()) sqlite3_bind_double(stmt_, index, value);
  return *this;
}
Stmt& Stmt::Bind(int index, std::string_view text) {
  if (status_.ok()) sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int index) {
  if (status_.ok()) sqlite3_bind_null(stmt_, index);
  return *this;
}

bool Stmt::Step() {
  if (!status_.ok()) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = db_.Error("query failed");
  return false;
}

Status Stmt::Run() {
  while (Step()) {
  }
  return status_;
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col));
}

Transaction::Transaction(Db& db) : db_(db) {
  status_ = db_.Exec("BEGIN IMMEDIATE");
  open_ = status_.ok();
}

Transaction::~Transaction() {
  if (!open_) return;
  const Status rolled_back = db_.Exec("ROLLBACK");
  if (rolled_back.ok() || sqlite3_get_autocommit(db_.handle()) != 0) return;  // SQLite ended it anyway
  spdlog::error("the archive cannot roll back a transaction: {}", rolled_back.ToString());
  db_.Break(Status::Internal("the archive's connection could not roll back a failed write (" + rolled_back.message() +
                             "); nothing of that write was committed; restart lineage"));
}

Status Transaction::Commit() {
  if (!status_.ok()) return status_;
  Status s = db_.Exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace lineage::sql
