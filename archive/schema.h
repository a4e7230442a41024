// The archive's SQLite schema and its migrations, internal to archive/. docs/archive.md documents it.
//
// The schema version lives in PRAGMA user_version. Each migration moves it up by one inside a single
// transaction, so a crash mid-migration leaves the previous version intact.
#pragma once

#include "archive/sqlite.h"
#include "base/status.h"

namespace lineage::schema {

// The version this build of lineage writes.
int LatestVersion();

Result<int> CurrentVersion(sql::Db& db);

// Brings the database up to `target` (LatestVersion() by default). Fails with FailedPrecondition when the
// file is newer than this build understands.
Status Migrate(sql::Db& db, int target = -1);

}  // namespace lineage::schema
