#include "tracker/sqlite_util.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "tracker/filter.h"

namespace hpt::tracker::sqlite {

absl::StatusCode SqliteStatusCode(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return absl::StatusCode::kNotFound;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return absl::StatusCode::kInvalidArgument;
    case SQLITE_INTERRUPT:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kInternal;
  }
}

// ---- Stmt ----

Stmt::Stmt(Stmt&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), owned_(other.owned_), bind_rc_(other.bind_rc_) {
  other.stmt_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Stmt& Stmt::BindInt(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::BindDouble(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::BindText(int index, absl::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

absl::StatusOr<bool> Stmt::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return db_->Error(bind_rc_, absl::StrCat("binding parameters of \"", sqlite3_sql(stmt_), "\""));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, absl::StrCat("running \"", sqlite3_sql(stmt_), "\""));
}

absl::Status Stmt::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

Stmt& Stmt::Reset() {
  sqlite3_reset(stmt_);  // its result repeats the last Step's error, already reported
  return *this;
}

int64_t Stmt::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

double Stmt::ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Stmt::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

bool Stmt::ColumnIsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// ---- Db ----

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path, Mode mode,
                                             int busy_timeout_ms) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (mode == Mode::kReadWriteCreate) flags |= SQLITE_OPEN_CREATE;
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    // The handle (when allocated) carries the message; close it either way.
    std::string msg = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close_v2(handle);
    return absl::UnavailableError(
        absl::StrCat("cannot open SQLite database \"", path, "\": ", msg));
  }
  std::unique_ptr<Db> db(new Db(handle, path));
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, busy_timeout_ms);
  // hpt_num() of the trial filters (filter.h), on every connection that may run one.
  if (absl::Status s = RegisterFilterFunctions(handle); !s.ok()) return s;
  if (mode == Mode::kQueryOnly) {
    if (absl::Status s = db->Exec("PRAGMA query_only = ON"); !s.ok()) return s;
  }
  return db;
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

absl::Status Db::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return absl::Status(SqliteStatusCode(rc), absl::StrCat("running \"", sql, "\": ", msg, " (",
                                                         sqlite3_errstr(rc), ") in ", path_));
}

absl::StatusOr<Stmt> Db::Prepare(const char* sql) {
  auto it = cache_.find(absl::string_view(sql));
  if (it != cache_.end()) return Stmt(this, it->second);
  const bool cached = cache_.size() < kMaxCachedStatements;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Error(rc, absl::StrCat("preparing \"", sql, "\""));
  }
  if (!cached) return Stmt(this, stmt, /*owned=*/true);
  cache_.emplace(sql, stmt);
  return Stmt(this, stmt);
}

int64_t Db::Changes() const { return sqlite3_changes64(db_); }

int64_t Db::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

bool Db::AutoCommit() const { return sqlite3_get_autocommit(db_) != 0; }

absl::Status Db::Checkpoint(int* wal_frames, int* copied) {
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, wal_frames, copied);
  if (rc == SQLITE_OK) return absl::OkStatus();
  return Error(rc, "checkpointing the WAL");
}

void Db::TrackWalSize() { sqlite3_wal_hook(db_, &Db::OnWalCommit, this); }

int Db::OnWalCommit(void* self, sqlite3*, const char*, int frames) {
  static_cast<Db*>(self)->wal_frames_ = frames;
  return SQLITE_OK;
}

absl::Status Db::Error(int rc, absl::string_view what) const {
  return absl::Status(SqliteStatusCode(rc), absl::StrCat(what, ": ", sqlite3_errmsg(db_), " (",
                                                         sqlite3_errstr(rc), ") in ", path_));
}

// ---- Transaction ----

absl::StatusOr<Transaction> Transaction::Begin(Db& db, Kind kind) {
  absl::StatusOr<Stmt> begin =
      db.Prepare(kind == Kind::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!begin.ok()) return begin.status();
  if (absl::Status s = begin->Run(); !s.ok()) return s;
  return Transaction(&db);
}

Transaction::~Transaction() {
  // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) roll the transaction back by themselves.
  if (db_ == nullptr || db_->AutoCommit()) return;
  absl::StatusOr<Stmt> rollback = db_->Prepare("ROLLBACK");
  // A failed ROLLBACK leaves nothing better to do than what SQLite does on close: the journal
  // is rolled back by the next connection to open the file.
  if (rollback.ok()) rollback->Run().IgnoreError();
}

absl::Status Transaction::Commit() {
  absl::StatusOr<Stmt> commit = db_->Prepare("COMMIT");
  if (!commit.ok()) return commit.status();
  absl::Status s = commit->Run();
  // On failure (e.g. SQLITE_BUSY) the transaction stays open and the destructor rolls it back.
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace hpt::tracker::sqlite
