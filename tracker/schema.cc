#include "tracker/schema.h"

#include <chrono>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hpt::tracker::sqlite {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Append only. Migrations run with foreign_keys=ON; one that rebuilds a table must not rely on
// turning them off (PRAGMA foreign_keys is a no-op inside the migration transaction).
//
// Conventions: ids are INTEGER PRIMARY KEY (rowid aliases, so creation order = id order); times are
// unix milliseconds, 0 = not yet; uint64 values (seeds, report seqs) are stored as the int64 with
// the same bit pattern; states are the upper-case names of trial_store.h.
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE studies (
  id               INTEGER PRIMARY KEY,
  name             TEXT    NOT NULL UNIQUE,
  project          TEXT    NOT NULL DEFAULT '',
  experiment       TEXT    NOT NULL DEFAULT '',
  spec_yaml        TEXT    NOT NULL DEFAULT '',
  spec_path        TEXT    NOT NULL DEFAULT '',
  algorithm        TEXT    NOT NULL DEFAULT '',
  objective_metric TEXT    NOT NULL DEFAULT '',
  maximize         INTEGER NOT NULL DEFAULT 0,
  seed             INTEGER NOT NULL DEFAULT 0,
  state            TEXT    NOT NULL,
  reason           TEXT    NOT NULL DEFAULT '',
  message          TEXT    NOT NULL DEFAULT '',
  created_ms       INTEGER NOT NULL,
  finished_ms      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE study_annotations (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  key      TEXT    NOT NULL,
  value    TEXT    NOT NULL,
  PRIMARY KEY (study_id, key)
) WITHOUT ROWID;
CREATE TABLE trials (
  id          INTEGER PRIMARY KEY,
  study_id    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  name        TEXT    NOT NULL UNIQUE,
  state       TEXT    NOT NULL,
  reason      TEXT    NOT NULL DEFAULT '',
  message     TEXT    NOT NULL DEFAULT '',
  objective   REAL,
  seed        INTEGER NOT NULL DEFAULT 0,
  manifest    TEXT    NOT NULL DEFAULT '',
  token_hash  TEXT    NOT NULL DEFAULT '',
  attempt     INTEGER NOT NULL DEFAULT 0,
  created_ms  INTEGER NOT NULL,
  started_ms  INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trials_by_study ON trials(study_id);
CREATE TABLE params (
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  ord      INTEGER NOT NULL,
  name     TEXT    NOT NULL,
  value    TEXT    NOT NULL,
  PRIMARY KEY (trial_id, ord)
) WITHOUT ROWID;
CREATE TABLE metric_names (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE metrics (
  id       INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  name_id  INTEGER NOT NULL REFERENCES metric_names(id),
  step     INTEGER NOT NULL,
  value    REAL    NOT NULL,
  time_ms  INTEGER NOT NULL
);
-- Per-trial history (insertion order = id) and max(step) per (trial, metric).
CREATE INDEX metrics_by_trial ON metrics(trial_id, name_id, step);
CREATE TABLE report_seqs (
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  seq      INTEGER NOT NULL,
  PRIMARY KEY (trial_id, seq)
) WITHOUT ROWID;
CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  trial_id INTEGER REFERENCES trials(id) ON DELETE CASCADE,
  kind     TEXT    NOT NULL,
  message  TEXT    NOT NULL DEFAULT '',
  time_ms  INTEGER NOT NULL
);
CREATE INDEX events_by_study ON events(study_id);
)sql"},
    // Metric points clustered by (trial, metric): one B-tree instead of a rowid table plus an index
    // on (trial_id, name_id, step), which every insert from interleaved trials had to update in a
    // different place (bench/RESULTS.md, "hptd metric intake"). `ord` is the insertion order
    // (unique in the file; the old rowid for migrated points), so a metric's history is read from
    // the key in insertion order; metric_ord holds the next one, so that it never needs a scan.
    // No foreign keys: they cost two lookups per point, and the writer checks the trial once per
    // batch in the same transaction (name ids come from metric_names only); the trigger keeps
    // ON DELETE CASCADE's meaning for trials.
    {2, "metric points keyed by (trial, metric, insertion order)", R"sql(
CREATE TABLE metric_points (
  trial_id INTEGER NOT NULL,  -- trials.id
  name_id  INTEGER NOT NULL,  -- metric_names.id
  ord      INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  value    REAL    NOT NULL,
  time_ms  INTEGER NOT NULL,
  PRIMARY KEY (trial_id, name_id, ord)
) WITHOUT ROWID;
INSERT INTO metric_points (trial_id, name_id, ord, step, value, time_ms)
  SELECT trial_id, name_id, id, step, value, time_ms FROM metrics ORDER BY trial_id, name_id, id;
CREATE TABLE metric_ord (
  next INTEGER NOT NULL
);
INSERT INTO metric_ord (next) SELECT COALESCE(MAX(id), 0) + 1 FROM metrics;
DROP TABLE metrics;
ALTER TABLE metric_points RENAME TO metrics;
CREATE TRIGGER metrics_of_deleted_trial AFTER DELETE ON trials BEGIN
  DELETE FROM metrics WHERE trial_id = old.id;
END;
)sql"},
    // Per (trial, metric): count, min, max and the last point, kept by the writer in the
    // transaction that stores the points, so that summaries, leaderboards and filters read one
    // row per metric instead of scanning the points (issue 7: 10,000 trials, 1,000,000 points).
    {3, "metric summaries per trial and metric", R"sql(
CREATE TABLE metric_summaries (
  trial_id   INTEGER NOT NULL,  -- trials.id
  name_id    INTEGER NOT NULL,  -- metric_names.id
  count      INTEGER NOT NULL,
  min_value  REAL    NOT NULL,
  max_value  REAL    NOT NULL,
  last_value REAL    NOT NULL,  -- the most recently stored point (Katib's "latest")
  last_step  INTEGER NOT NULL,
  PRIMARY KEY (trial_id, name_id)
) WITHOUT ROWID;
INSERT INTO metric_summaries (trial_id, name_id, count, min_value, max_value, last_value, last_step)
  SELECT a.trial_id, a.name_id, a.points, a.min_value, a.max_value, m.value, m.step
  FROM (SELECT trial_id, name_id, COUNT(*) AS points, MIN(value) AS min_value,
               MAX(value) AS max_value, MAX(ord) AS last_ord
        FROM metrics GROUP BY trial_id, name_id) AS a
  JOIN metrics AS m ON m.trial_id = a.trial_id AND m.name_id = a.name_id AND m.ord = a.last_ord;
DROP TRIGGER metrics_of_deleted_trial;
CREATE TRIGGER metrics_of_deleted_trial AFTER DELETE ON trials BEGIN
  DELETE FROM metrics WHERE trial_id = old.id;
  DELETE FROM metric_summaries WHERE trial_id = old.id;
END;
)sql"},
    // Retraining triggers (engine/trigger): their text, their firings (the cooldown is read from
    // the last one, so it holds across restarts), and the deployed models' metric points they
    // watch.
    {4, "retraining triggers, their firings, deployed models' metrics", R"sql(
CREATE TABLE triggers (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL UNIQUE,
  spec_yaml  TEXT    NOT NULL,
  spec_path  TEXT    NOT NULL DEFAULT '',
  study_yaml TEXT    NOT NULL DEFAULT '',
  applied_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  baseline   REAL
);
CREATE TABLE trigger_firings (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: studies a firing makes are named by it
  trigger_id  INTEGER NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
  time_ms     INTEGER NOT NULL,
  value       REAL,
  best        REAL,
  reason      TEXT    NOT NULL,
  action      TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  result      TEXT    NOT NULL DEFAULT '',
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trigger_firings_by_trigger ON trigger_firings(trigger_id, time_ms);
CREATE TABLE model_metrics (
  id         INTEGER PRIMARY KEY,
  project    TEXT    NOT NULL,
  experiment TEXT    NOT NULL,
  model      TEXT    NOT NULL,
  metric     TEXT    NOT NULL,
  value      REAL    NOT NULL,
  time_ms    INTEGER NOT NULL
);
CREATE INDEX model_metrics_by_stream ON model_metrics(project, metric, time_ms);
)sql"},
};

constexpr bool VersionsAreConsecutive() {
  int expected = 1;
  for (const Migration& m : kMigrations) {
    if (m.version != expected++) return false;
  }
  return true;
}
static_assert(VersionsAreConsecutive(), "schema migrations must be numbered 1, 2, 3, ...");

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<int64_t> QueryInt(Db& db, const char* sql) {
  absl::StatusOr<Stmt> st = db.Prepare(sql);
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::InternalError(absl::StrCat("\"", sql, "\" returned no row in ", db.path()));
  }
  return st->ColumnInt(0);
}

absl::StatusOr<bool> HasVersionTable(Db& db) {
  absl::StatusOr<int64_t> n = QueryInt(
      db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  if (!n.ok()) return n.status();
  return *n > 0;
}

}  // namespace

int LatestSchemaVersion() { return std::end(kMigrations)[-1].version; }

absl::Status CheckIdentity(Db& db) {
  absl::StatusOr<int64_t> app_id = QueryInt(db, "PRAGMA application_id");
  if (!app_id.ok()) {
    if (absl::IsDataLoss(app_id.status())) {
      return absl::DataLossError(absl::StrCat("\"", db.path(),
                                              "\" is not an hpt database: it is not a SQLite "
                                              "database (",
                                              app_id.status().message(), ")"));
    }
    return app_id.status();
  }
  absl::StatusOr<bool> has_version = HasVersionTable(db);
  if (!has_version.ok()) return has_version.status();
  if (*app_id == kApplicationId) {
    if (!*has_version) {
      return absl::DataLossError(absl::StrCat("\"", db.path(),
                                              "\" is a damaged hpt database: its schema_version "
                                              "table is missing"));
    }
    return absl::OkStatus();
  }
  if (*app_id != 0) {
    return absl::DataLossError(absl::StrFormat(
        "\"%s\" is not an hpt database: it belongs to another application (SQLite "
        "application_id 0x%08x; hpt files have 0x%08x)",
        db.path(), static_cast<uint32_t>(*app_id), static_cast<uint32_t>(kApplicationId)));
  }
  absl::StatusOr<int64_t> objects =
      QueryInt(db, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'");
  if (!objects.ok()) return objects.status();
  if (*objects > 0) {
    return absl::DataLossError(absl::StrCat(
        "\"", db.path(), "\" is not an hpt database: it is a SQLite database with ", *objects,
        " tables/indexes but no hpt application_id; pass a new or an hpt file"));
  }
  return absl::OkStatus();  // an empty file: the migrations will make it an hpt database
}

absl::StatusOr<int> SchemaVersion(Db& db) {
  absl::StatusOr<bool> has_version = HasVersionTable(db);
  if (!has_version.ok()) return has_version.status();
  if (!*has_version) return 0;
  absl::StatusOr<int64_t> v = QueryInt(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!v.ok()) return v.status();
  return static_cast<int>(*v);
}

absl::Status Migrate(Db& db) {
  absl::StatusOr<Transaction> txn = Transaction::Begin(db, Transaction::Kind::kImmediate);
  if (!txn.ok()) return txn.status();
  // Checked again under the write lock: another process may have initialised the file.
  if (absl::Status s = CheckIdentity(db); !s.ok()) return s;
  absl::StatusOr<int> current = SchemaVersion(db);
  if (!current.ok()) return current.status();
  const int latest = LatestSchemaVersion();
  if (*current > latest) {
    return absl::DataLossError(absl::StrCat("\"", db.path(), "\" has schema version ", *current,
                                            ", newer than this hpt build's ", latest,
                                            "; open it with a newer hpt (refusing to touch it)"));
  }
  if (*current == latest) return absl::OkStatus();  // nothing to do; the guard rolls back

  if (*current == 0) {
    absl::Status s = db.Exec(
        "CREATE TABLE schema_version ("
        "  version     INTEGER PRIMARY KEY,"
        "  description TEXT    NOT NULL,"
        "  applied_ms  INTEGER NOT NULL)");
    if (!s.ok()) return s;
    s = db.Exec(absl::StrCat("PRAGMA application_id = ", kApplicationId).c_str());
    if (!s.ok()) return s;
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= *current) continue;
    if (absl::Status s = db.Exec(m.sql); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("applying schema migration ", m.version, " (",
                                                 m.description, "): ", s.message()));
    }
    absl::StatusOr<Stmt> record = db.Prepare(
        "INSERT INTO schema_version (version, description, applied_ms) VALUES (?1, ?2, ?3)");
    if (!record.ok()) return record.status();
    record->BindInt(1, m.version).BindText(2, m.description).BindInt(3, NowMs());
    if (absl::Status s = record->Run(); !s.ok()) return s;
  }
  return txn->Commit();
}

}  // namespace hpt::tracker::sqlite
