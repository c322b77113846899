// The tracker's SQLite schema: numbered migrations, applied in order at open inside one
// transaction, each recorded in the `schema_version` table. A file is recognised as an hpt
// database by its SQLite application_id (kApplicationId), set by the first migration.
//
//   absl::Status s = sqlite::Migrate(db);   // after PRAGMA journal_mode / foreign_keys
//
// To change the schema, append a migration to the list in schema.cc (never edit a released one)
// and bump nothing else: LatestSchemaVersion() follows the list. Internal to tracker/.
#ifndef HPT_TRACKER_SCHEMA_H_
#define HPT_TRACKER_SCHEMA_H_

#include <cstdint>

#include "absl/status/status.h"
#include "tracker/sqlite_util.h"

namespace hpt::tracker::sqlite {

// SQLite's application_id for hpt files: "HPT1" in ASCII.
inline constexpr int32_t kApplicationId = 0x48505431;

// The schema version this build writes and understands.
int LatestSchemaVersion();

// Checks, without writing anything, that `db` is empty or an hpt database. DataLoss (naming the
// path) when the file is not a SQLite database, is another application's database, or is an hpt
// database without a schema_version table.
absl::Status CheckIdentity(Db& db);

// Applies the pending migrations in one IMMEDIATE transaction. DataLoss when the file is not an
// hpt database (CheckIdentity) or its schema version is newer than LatestSchemaVersion();
// Unavailable when the write lock cannot be taken within the busy timeout. Idempotent.
absl::Status Migrate(Db& db);

// The schema version recorded in `db` (0 for an empty file).
absl::StatusOr<int> SchemaVersion(Db& db);

}  // namespace hpt::tracker::sqlite

#endif  // HPT_TRACKER_SCHEMA_H_
