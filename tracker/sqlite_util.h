// Thin RAII wrappers over the SQLite C API for the tracker's SQLite store: a connection with a
// prepared-statement cache (Db), a borrowed statement that resets itself when it goes out of scope
// (Stmt), and a transaction guard that rolls back unless committed (Transaction). Internal to
// tracker/: nothing outside the module includes this header.
//
//   absl::StatusOr<std::unique_ptr<Db>> db = Db::Open(path, Db::Mode::kReadWriteCreate, 5000);
//   absl::StatusOr<Stmt> st = (*db)->Prepare("SELECT name FROM studies WHERE id = ?1", id);
//   if (!st.ok()) return st.status();
//   absl::StatusOr<bool> row = st->Step();   // true: a row; read it with st->ColumnText(0)
//
// Every error becomes an absl::Status whose message names the operation, SQLite's message and the
// file's path; codes follow the retry guide (see SqliteStatusCode).
//
// Thread-safety: a Db, and the Stmts and Transactions made from it, must be used by one thread at a
// time (connections are opened in SQLite's multi-thread mode); the store guards each connection
// with a mutex.
#ifndef HPT_TRACKER_SQLITE_UTIL_H_
#define HPT_TRACKER_SQLITE_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hpt::tracker::sqlite {

// Maps an (extended) SQLite result code to a status code: BUSY/LOCKED/IOERR/CANTOPEN ->
// Unavailable, CORRUPT/NOTADB -> DataLoss, UNIQUE/PRIMARYKEY constraint -> AlreadyExists,
// FOREIGNKEY constraint -> NotFound, FULL/NOMEM -> ResourceExhausted, READONLY/PERM/AUTH ->
// PermissionDenied, TOOBIG/RANGE/MISMATCH -> InvalidArgument, anything else -> Internal.
absl::StatusCode SqliteStatusCode(int rc);

class Db;

// A prepared statement borrowed from a Db's cache. Bind errors are remembered and reported by the
// next Step. The destructor resets the statement and clears its bindings, which also ends the
// implicit read transaction a SELECT holds; keep a Stmt no longer than needed.
class Stmt {
 public:
  // `owned`: the statement is not in the Db's cache; this Stmt finalizes it.
  Stmt(Db* db, sqlite3_stmt* stmt, bool owned = false) : db_(db), stmt_(stmt), owned_(owned) {}
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Parameters are 1-based, as in SQLite. Text is copied.
  Stmt& BindInt(int index, int64_t value);
  Stmt& BindDouble(int index, double value);
  Stmt& BindText(int index, absl::string_view value);
  Stmt& BindNull(int index);
  // The SQLite statement, for binders that take one (e.g. BindSqlValues of filter.h).
  sqlite3_stmt* handle() const { return stmt_; }
  // Binds `args` to parameters 1, 2, ... in order: integers with BindInt, floating-point values
  // with BindDouble, strings with BindText. bool and 64-bit unsigned values are refused at
  // compile time; convert them explicitly.
  template <typename... Args>
  Stmt& BindAll(const Args&... args);

  // Runs the statement to its next row. true: a row is ready; false: the statement is done.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring rows (INSERT, UPDATE, DELETE, most PRAGMAs).
  absl::Status Run();
  // Rewinds the statement so that it can run again, keeping its bindings: for running one
  // statement many times with new values without borrowing it anew.
  Stmt& Reset();

  // Columns are 0-based. NULL reads as 0, 0.0 or "".
  int64_t ColumnInt(int col) const;
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  template <typename T>
  void BindArg(int index, const T& value);

  Db* db_;
  sqlite3_stmt* stmt_;
  bool owned_ = false;
  int bind_rc_ = 0;  // first failed bind, 0 (SQLITE_OK) if none
};

class Db {
 public:
  enum class Mode {
    kReadWriteCreate,  // creates the file when missing
    kQueryOnly,        // the file must exist; writes are refused (PRAGMA query_only)
  };

  // Opens `path`. Unavailable when the file cannot be opened (missing directory, permissions).
  // Does not read the file yet: a non-database file fails at the first statement (DataLoss).
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path, Mode mode,
                                                  int busy_timeout_ms);
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();  // finalizes the cached statements and closes the connection

  // Runs one or more ';'-separated statements without parameters or results.
  absl::Status Exec(const char* sql);
  // Returns the cached prepared statement for `sql` (prepared on first use). Only one Stmt per
  // distinct SQL text may be alive at a time. The cache holds at most kMaxCachedStatements texts:
  // beyond that (SQL built from filters has one text per filter shape), a text not yet cached is
  // prepared for this Stmt alone and finalized with it, so that a long-running process serving
  // arbitrary filters keeps bounded memory.
  static constexpr size_t kMaxCachedStatements = 256;
  absl::StatusOr<Stmt> Prepare(const char* sql);
  // Statements in the cache.
  size_t CachedStatements() const { return cache_.size(); }
  // Prepare(sql) with `args` bound by Stmt::BindAll: db.Prepare("... WHERE id = ?1", id).
  template <typename Arg, typename... Args>
  absl::StatusOr<Stmt> Prepare(const char* sql, const Arg& arg, const Args&... args);

  // Rows changed by the last INSERT/UPDATE/DELETE, and the rowid of the last INSERT.
  int64_t Changes() const;
  int64_t LastInsertRowid() const;
  // Whether no transaction is open.
  bool AutoCommit() const;

  // Copies what it can of the WAL into the database file without waiting for anyone (a PASSIVE
  // sqlite3_wal_checkpoint_v2). On OK, `wal_frames` is the WAL's size in frames and `copied` how
  // many of them are in the database file now. Once everything is copied and no reader uses the
  // WAL, the next write transaction starts the WAL from its beginning.
  absl::Status Checkpoint(int* wal_frames, int* copied);
  // Turns off SQLite's automatic checkpoints on this connection (the caller checkpoints) and
  // from now on records the WAL's size after each commit of this connection: WalFrames().
  void TrackWalSize();
  // The WAL's size in frames after this connection's last commit (0 before TrackWalSize).
  int WalFrames() const { return wal_frames_; }

  // Status for result code `rc` of `what` (e.g. "inserting trial"), with SQLite's message and the
  // path.
  absl::Status Error(int rc, absl::string_view what) const;

  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);

  sqlite3* db_;
  std::string path_;
  int wal_frames_ = 0;
  // By SQL text; looked up without copying the text (heterogeneous lookup).
  absl::flat_hash_map<std::string, sqlite3_stmt*> cache_;
};

// An open transaction; rolls back on destruction unless Commit succeeded.
class Transaction {
 public:
  enum class Kind {
    kDeferred,   // takes locks on first use: a consistent snapshot for reads
    kImmediate,  // takes the write lock now (waiting up to the busy timeout): for writers
  };
  static absl::StatusOr<Transaction> Begin(Db& db, Kind kind);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // null once committed or rolled back
};

// ---- template definitions ----

template <typename... Args>
Stmt& Stmt::BindAll(const Args&... args) {
  [[maybe_unused]] int index = 0;
  (BindArg(++index, args), ...);
  return *this;
}

template <typename T>
void Stmt::BindArg(int index, const T& value) {
  if constexpr (std::is_integral_v<T>) {
    static_assert(!std::is_same_v<T, bool>, "bind a bool as the integer 0 or 1");
    static_assert(std::is_signed_v<T> || sizeof(T) < sizeof(int64_t),
                  "convert a 64-bit unsigned value to int64_t explicitly");
    BindInt(index, static_cast<int64_t>(value));
  } else if constexpr (std::is_floating_point_v<T>) {
    BindDouble(index, static_cast<double>(value));
  } else {
    static_assert(std::is_convertible_v<const T&, absl::string_view>,
                  "BindAll binds integers, floating-point values and strings");
    BindText(index, absl::string_view(value));
  }
}

template <typename Arg, typename... Args>
absl::StatusOr<Stmt> Db::Prepare(const char* sql, const Arg& arg, const Args&... args) {
  absl::StatusOr<Stmt> st = Prepare(sql);
  if (st.ok()) st->BindAll(arg, args...);
  return st;
}

}  // namespace hpt::tracker::sqlite

#endif  // HPT_TRACKER_SQLITE_UTIL_H_
