#include "tracker/sqlite_store.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tracker/filter.h"
#include "tracker/schema.h"

namespace hpt::tracker {
namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Transaction;

// Idle read connections kept open; more are opened on demand and closed when returned.
constexpr size_t kMaxIdleReaders = 8;
// Bounds on the writer's caches (they are refilled from the database when cleared).
constexpr size_t kMaxCachedNames = 1 << 16;
constexpr size_t kMaxCachedSteps = 1 << 18;
// With background checkpoints: a checkpoint is asked for each time the WAL has grown by this many
// pages (SQLite's own automatic checkpoints run at 1000; fewer, larger checkpoints copy a page
// rewritten by several commits once: a third less checkpoint time per point at 4000), and past
// kWalBoundFrames pages (64 MiB at SQLite's default 4 KiB pages) the writer checkpoints itself.
constexpr int kCheckpointFrames = 4000;
constexpr int kWalBoundFrames = 16384;
// The writer connection's page cache: the hot leaves of a thousand trials' metrics fit, so a
// group commit reads no page back from the file (SQLite's default is 2 MiB).
constexpr int kWriterCacheKib = 64 << 10;
// Up to this many trials get their params with one query each; more with one query per study.
constexpr size_t kParamsPerTrialLimit = 32;

#define HPT_STUDY_COLUMNS                                                                        \
  "id, name, project, experiment, spec_yaml, spec_path, algorithm, objective_metric, maximize, " \
  "seed, state, reason, message, created_ms, finished_ms"
#define HPT_TRIAL_COLUMNS                                                                        \
  "id, study_id, name, state, reason, message, objective, seed, manifest, token_hash, attempt, " \
  "created_ms, started_ms, finished_ms"

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// uint64 values are stored as the int64 with the same bit pattern (SQLite integers are signed).
int64_t ToDb(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t FromDb(int64_t v) { return static_cast<uint64_t>(v); }

bool IsTerminalStudy(StudyState s) {
  return s == StudyState::kSucceeded || s == StudyState::kFailed;
}

// Runs a cached statement that returns no rows, with `args` bound to ?1, ?2, ... (Db::Prepare).
template <typename... Args>
absl::Status RunSql(Db& db, const char* sql, const Args&... args) {
  absl::StatusOr<Stmt> st = db.Prepare(sql, args...);
  if (!st.ok()) return st.status();
  return st->Run();
}

// Whether `sql` (one int64 parameter) returns a row.
absl::StatusOr<bool> Exists(Db& db, const char* sql, int64_t id) {
  absl::StatusOr<Stmt> st = db.Prepare(sql, id);
  if (!st.ok()) return st.status();
  return st->Step();
}

absl::Status StudyExists(Db& db, int64_t study_id) {
  absl::StatusOr<bool> found = Exists(db, "SELECT 1 FROM studies WHERE id = ?1", study_id);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
  return absl::OkStatus();
}

absl::Status TrialExists(Db& db, int64_t trial_id) {
  absl::StatusOr<bool> found = Exists(db, "SELECT 1 FROM trials WHERE id = ?1", trial_id);
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
  return absl::OkStatus();
}

// ---- row readers (columns in HPT_STUDY_COLUMNS / HPT_TRIAL_COLUMNS order) ----

absl::StatusOr<StudyRecord> ReadStudy(const Stmt& st) {
  StudyRecord r;
  r.id = st.ColumnInt(0);
  r.name = st.ColumnText(1);
  r.project = st.ColumnText(2);
  r.experiment = st.ColumnText(3);
  r.spec_yaml = st.ColumnText(4);
  r.spec_path = st.ColumnText(5);
  r.algorithm = st.ColumnText(6);
  r.objective_metric = st.ColumnText(7);
  r.maximize = st.ColumnInt(8) != 0;
  r.seed = FromDb(st.ColumnInt(9));
  absl::StatusOr<StudyState> state = ParseStudyState(st.ColumnText(10));
  if (!state.ok()) {
    return absl::DataLossError(
        absl::StrCat("study ", r.id, " has an unreadable state: ", state.status().message()));
  }
  r.state = *state;
  r.reason = st.ColumnText(11);
  r.message = st.ColumnText(12);
  r.created_ms = st.ColumnInt(13);
  r.finished_ms = st.ColumnInt(14);
  return r;
}

absl::StatusOr<TrialRecord> ReadTrial(const Stmt& st) {
  TrialRecord r;
  r.id = st.ColumnInt(0);
  r.study_id = st.ColumnInt(1);
  r.name = st.ColumnText(2);
  absl::StatusOr<TrialState> state = ParseTrialState(st.ColumnText(3));
  if (!state.ok()) {
    return absl::DataLossError(
        absl::StrCat("trial ", r.id, " has an unreadable state: ", state.status().message()));
  }
  r.state = *state;
  r.reason = st.ColumnText(4);
  r.message = st.ColumnText(5);
  if (!st.ColumnIsNull(6)) r.objective = st.ColumnDouble(6);
  r.seed = FromDb(st.ColumnInt(7));
  r.manifest = st.ColumnText(8);
  r.token_hash = st.ColumnText(9);
  r.attempt = static_cast<int>(st.ColumnInt(10));
  r.created_ms = st.ColumnInt(11);
  r.started_ms = st.ColumnInt(12);
  r.finished_ms = st.ColumnInt(13);
  return r;
}

// Reads every row of `st` (already bound) with `read`; st's error if it failed to prepare.
template <typename T, typename ReadFn>
absl::StatusOr<std::vector<T>> ReadAll(absl::StatusOr<Stmt> st, ReadFn read) {
  if (!st.ok()) return st.status();
  std::vector<T> out;
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    absl::StatusOr<T> rec = read(*st);
    if (!rec.ok()) return rec.status();
    out.push_back(*std::move(rec));
  }
}

absl::Status LoadAnnotations(Db& db, StudyRecord& study) {
  absl::StatusOr<Stmt> st =
      db.Prepare("SELECT key, value FROM study_annotations WHERE study_id = ?1", study.id);
  if (!st.ok()) return st.status();
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    study.annotations.emplace(st->ColumnText(0), st->ColumnText(1));
  }
}

// The single study `st` (bound) selects, with its annotations; `absent` when there is none.
absl::StatusOr<StudyRecord> LoadStudy(Db& db, absl::StatusOr<Stmt> st, const absl::Status& absent) {
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absent;
  absl::StatusOr<StudyRecord> study = ReadStudy(*st);
  if (!study.ok()) return study.status();
  if (absl::Status s = LoadAnnotations(db, *study); !s.ok()) return s;
  return study;
}

absl::Status LoadParams(Db& db, TrialRecord& trial) {
  absl::StatusOr<Stmt> st =
      db.Prepare("SELECT name, value FROM params WHERE trial_id = ?1 ORDER BY ord", trial.id);
  if (!st.ok()) return st.status();
  trial.params.clear();
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    trial.params.emplace_back(st->ColumnText(0), st->ColumnText(1));
  }
}

// Fills the params of `trials`, all of study `study_id` (0: of any studies).
absl::Status AttachParams(Db& db, int64_t study_id, const std::vector<TrialRecord*>& trials) {
  // One pass reads every param of the study (or of the file): worth it only for many trials
  // (across studies, a top-100 leaderboard read 3 ms slower that way over 10,000 trials).
  if (trials.size() <= (study_id != 0 ? kParamsPerTrialLimit : kParamsPerTrialLimit * 64)) {
    for (TrialRecord* t : trials) {
      if (absl::Status s = LoadParams(db, *t); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // Many trials: one pass over the params of their study (or of the file) instead of one query
  // per trial.
  std::map<int64_t, TrialRecord*> by_id;
  for (TrialRecord* t : trials) by_id[t->id] = t;
  absl::StatusOr<Stmt> st =
      study_id != 0
          ? db.Prepare("SELECT p.trial_id, p.name, p.value FROM params AS p JOIN trials AS t ON "
                       "t.id = p.trial_id WHERE t.study_id = ?1 ORDER BY p.trial_id, p.ord",
                       study_id)
          : db.Prepare("SELECT trial_id, name, value FROM params ORDER BY trial_id, ord");
  if (!st.ok()) return st.status();
  while (true) {
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    auto it = by_id.find(st->ColumnInt(0));
    if (it != by_id.end()) it->second->params.emplace_back(st->ColumnText(1), st->ColumnText(2));
  }
}

// The single trial `st` (bound) selects, with its params; `absent` when there is none.
absl::StatusOr<TrialRecord> LoadTrial(Db& db, absl::StatusOr<Stmt> st, const absl::Status& absent) {
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absent;
  absl::StatusOr<TrialRecord> trial = ReadTrial(*st);
  if (!trial.ok()) return trial.status();
  if (absl::Status s = LoadParams(db, *trial); !s.ok()) return s;
  return trial;
}

// The trials of study `study_id` that `st` (bound) selects, with their params.
absl::StatusOr<std::vector<TrialRecord>> LoadTrials(Db& db, int64_t study_id,
                                                    absl::StatusOr<Stmt> st) {
  absl::StatusOr<std::vector<TrialRecord>> trials = ReadAll<TrialRecord>(std::move(st), ReadTrial);
  if (!trials.ok()) return trials;
  std::vector<TrialRecord*> all;
  for (TrialRecord& t : *trials) all.push_back(&t);
  if (absl::Status s = AttachParams(db, study_id, all); !s.ok()) return s;
  return trials;
}

absl::Status ValidatePoint(const MetricPoint& p, size_t index) {
  const bool step_ok =
      !p.step.has_value() || (*p.step >= 0 && *p.step != std::numeric_limits<int64_t>::max());
  if (!p.name.empty() && p.name.size() <= kMaxMetricNameBytes && std::isfinite(p.value) &&
      step_ok && p.time_ms >= 0) {
    return absl::OkStatus();  // the common case, without formatting anything
  }
  const std::string where = absl::StrCat("metric point ", index);
  if (p.name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " has an empty name"));
  }
  if (p.name.size() > kMaxMetricNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(where, " has a ", p.name.size(),
                                                   "-byte name; at most ", kMaxMetricNameBytes,
                                                   " bytes are allowed"));
  }
  if (!std::isfinite(p.value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (\"", p.name, "\") has value ", p.value, "; values must be finite"));
  }
  if (p.step.has_value() && (*p.step < 0 || *p.step == std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(where, " (\"", p.name, "\") has step ", *p.step,
                                                   "; steps must be in [0, 2^63 - 1)"));
  }
  if (p.time_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, " (\"", p.name, "\") has time_ms ",
                                                   p.time_ms, "; use 0 for now or unix ms"));
  }
  return absl::OkStatus();
}

// The value for `key` in the first of `a`, `b`, `c` that holds it; null if none does.
template <typename Map>
const typename Map::mapped_type* FindFirst(const typename Map::key_type& key, const Map& a,
                                           const Map& b, const Map& c) {
  for (const Map* m : {&a, &b, &c}) {
    if (auto it = m->find(key); it != m->end()) return &it->second;
  }
  return nullptr;
}

template <typename Map>
void MergeInto(const Map& from, Map& into) {
  for (const auto& [k, v] : from) into[k] = v;
}

// Names the calling thread for top -H, perf and /proc (at most 15 characters).
void NameThisThread(const char* name) {
#ifdef __linux__
  pthread_setname_np(pthread_self(), name);
#else
  (void)name;
#endif
}

}  // namespace

// ---- open / close ----

SqliteStore::SqliteStore(const StoreOptions& options, std::string path,
                         std::unique_ptr<sqlite::Db> writer,
                         std::unique_ptr<sqlite::Db> checkpointer)
    : options_(options),
      path_(std::move(path)),
      writer_db_(std::move(writer)),
      checkpoint_db_(std::move(checkpointer)) {
  if (checkpoint_db_ != nullptr) {
    checkpoint_thread_ = std::thread([this] {
      NameThisThread("hpt-checkpoint");
      CheckpointLoop();
    });
  }
  writer_thread_ = std::thread([this] {
    NameThisThread("hpt-writer");
    WriterLoop();
  });
  completion_thread_ = std::thread([this] {
    NameThisThread("hpt-completion");
    CompletionLoop();
  });
}

SqliteStore::~SqliteStore() {
  {
    absl::MutexLock lock(&queue_mu_);
    closing_ = true;
  }
  // The writer drains the queue, then the completion thread runs every callback.
  if (writer_thread_.joinable()) writer_thread_.join();
  if (completion_thread_.joinable()) completion_thread_.join();
  {
    absl::MutexLock lock(&checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  // The last connection to close copies what is left of the WAL and removes it.
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const StoreOptions& options,
                                                               const std::string& path) {
  StoreOptions opts = options;
  opts.synchronous = absl::AsciiStrToUpper(options.synchronous);
  if (opts.synchronous != "NORMAL" && opts.synchronous != "FULL") {
    return absl::InvalidArgumentError(absl::StrCat("StoreOptions.synchronous is \"",
                                                   options.synchronous,
                                                   "\"; allowed: \"NORMAL\", \"FULL\""));
  }
  if (opts.max_batch_points < 1) {
    return absl::InvalidArgumentError(absl::StrCat("StoreOptions.max_batch_points is ",
                                                   opts.max_batch_points, "; it must be >= 1"));
  }
  if (opts.busy_timeout_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat("StoreOptions.busy_timeout_ms is ",
                                                   opts.busy_timeout_ms, "; it must be >= 0"));
  }
  if (path.empty() || path == ":memory:") {
    return absl::InvalidArgumentError(
        absl::StrCat("the tracker needs a database file path, got \"", path, "\""));
  }

  absl::StatusOr<std::unique_ptr<Db>> db =
      Db::Open(path, Db::Mode::kReadWriteCreate, opts.busy_timeout_ms);
  absl::Status s = db.status();
  // Identity first, so that a foreign file is never switched to WAL.
  if (s.ok()) s = sqlite::CheckIdentity(**db);
  if (s.ok()) {
    absl::StatusOr<Stmt> wal = (*db)->Prepare("PRAGMA journal_mode = WAL");
    absl::StatusOr<bool> row = wal.ok() ? wal->Step() : absl::StatusOr<bool>(wal.status());
    if (!row.ok()) {
      s = row.status();
    } else if (!*row || absl::AsciiStrToLower(wal->ColumnText(0)) != "wal") {
      s = absl::UnavailableError(absl::StrCat(
          "cannot put \"", path, "\" in WAL mode (journal_mode is \"",
          *row ? wal->ColumnText(0) : "", "\"); the tracker needs a local filesystem"));
    }
  }
  if (s.ok()) s = (*db)->Exec(absl::StrCat("PRAGMA synchronous = ", opts.synchronous).c_str());
  if (s.ok()) s = (*db)->Exec("PRAGMA foreign_keys = ON");
  if (s.ok()) s = (*db)->Exec(absl::StrCat("PRAGMA cache_size = -", kWriterCacheKib).c_str());
  if (s.ok()) s = sqlite::Migrate(**db);
  std::unique_ptr<Db> checkpointer;
  if (s.ok() && opts.background_checkpoints) {
    absl::StatusOr<std::unique_ptr<Db>> c =
        Db::Open(path, Db::Mode::kReadWriteCreate, opts.busy_timeout_ms);
    s = c.status();
    if (s.ok()) s = (*c)->Exec(absl::StrCat("PRAGMA synchronous = ", opts.synchronous).c_str());
    if (s.ok()) {
      checkpointer = *std::move(c);
      (*db)->TrackWalSize();  // no more automatic checkpoints on the writer connection
    }
  }
  if (!s.ok()) return s;

  std::unique_ptr<SqliteStore> store(
      new SqliteStore(opts, path, *std::move(db), std::move(checkpointer)));
  {
    // Open the first reader now, so that a problem shows here rather than at the first read.
    absl::StatusOr<Reader> reader = store->AcquireReader();
    if (!reader.ok()) return reader.status();
  }
  return store;
}

// ---- read connections ----

SqliteStore::Reader::~Reader() {
  if (db_ != nullptr) store_->ReleaseReader(std::move(db_));
}

absl::StatusOr<SqliteStore::Reader> SqliteStore::AcquireReader() {
  {
    absl::MutexLock lock(&read_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Db> db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return Reader(this, std::move(db));
    }
  }
  absl::StatusOr<std::unique_ptr<Db>> db =
      Db::Open(path_, Db::Mode::kQueryOnly, options_.busy_timeout_ms);
  if (!db.ok()) return db.status();
  return Reader(this, *std::move(db));
}

void SqliteStore::ReleaseReader(std::unique_ptr<sqlite::Db> db) {
  {
    absl::MutexLock lock(&read_mu_);
    if (idle_readers_.size() < kMaxIdleReaders) {
      idle_readers_.push_back(std::move(db));
      return;
    }
  }
  db.reset();  // closed outside the lock
}

template <typename Fn>
std::invoke_result_t<Fn&, sqlite::Db&> SqliteStore::WithReadSnapshot(Fn fn) {
  absl::StatusOr<Reader> reader = AcquireReader();
  if (!reader.ok()) return reader.status();
  Db& db = reader->db();
  // Read transactions are only snapshots; their guards roll back, which for a reader is the same
  // as committing.
  absl::StatusOr<Transaction> txn = Transaction::Begin(db, Transaction::Kind::kDeferred);
  if (!txn.ok()) return txn.status();
  return fn(db);
}

absl::Status SqliteStore::WithWriteTransaction(absl::FunctionRef<absl::Status(sqlite::Db&)> fn) {
  Db& db = *writer_db_;
  absl::StatusOr<Transaction> txn = Transaction::Begin(db, Transaction::Kind::kImmediate);
  if (!txn.ok()) return txn.status();
  if (absl::Status s = fn(db); !s.ok()) return s;
  absl::Status s = txn->Commit();
  if (s.ok()) AfterCommit();
  return s;
}

// ---- studies ----

absl::StatusOr<StudyRecord> SqliteStore::CreateStudy(const NewStudy& study) {
  if (study.name.empty()) return absl::InvalidArgumentError("study name is empty");
  StudyRecord rec;
  rec.name = study.name;
  rec.project = study.project;
  rec.experiment = study.experiment;
  rec.spec_yaml = study.spec_yaml;
  rec.spec_path = study.spec_path;
  rec.algorithm = study.algorithm;
  rec.objective_metric = study.objective_metric;
  rec.maximize = study.maximize;
  rec.seed = study.seed;
  rec.annotations = study.annotations;
  rec.state = StudyState::kCreated;
  rec.created_ms = NowMs();

  absl::MutexLock lock(&write_mu_);
  absl::Status written = WithWriteTransaction([&](Db& db) -> absl::Status {
    absl::Status s =
        RunSql(db,
               "INSERT INTO studies (name, project, experiment, spec_yaml, spec_path, algorithm, "
               "objective_metric, maximize, seed, state, created_ms) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
               rec.name, rec.project, rec.experiment, rec.spec_yaml, rec.spec_path, rec.algorithm,
               rec.objective_metric, rec.maximize ? 1 : 0, ToDb(rec.seed),
               StudyStateName(rec.state), rec.created_ms);
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(
          absl::StrCat("a study named \"", rec.name, "\" already exists in ", path_));
    }
    if (!s.ok()) return s;
    rec.id = db.LastInsertRowid();
    for (const auto& [key, value] : rec.annotations) {
      s = RunSql(db, "INSERT INTO study_annotations (study_id, key, value) VALUES (?1, ?2, ?3)",
                 rec.id, key, value);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!written.ok()) return written;
  return rec;
}

absl::StatusOr<StudyRecord> SqliteStore::GetStudy(int64_t study_id) {
  return WithReadSnapshot([&](Db& db) {
    return LoadStudy(
        db, db.Prepare("SELECT " HPT_STUDY_COLUMNS " FROM studies WHERE id = ?1", study_id),
        absl::NotFoundError(absl::StrCat("no study with id ", study_id)));
  });
}

absl::StatusOr<StudyRecord> SqliteStore::FindStudy(const std::string& name) {
  return WithReadSnapshot([&](Db& db) {
    return LoadStudy(db,
                     db.Prepare("SELECT " HPT_STUDY_COLUMNS " FROM studies WHERE name = ?1", name),
                     absl::NotFoundError(absl::StrCat("no study named \"", name, "\"")));
  });
}

absl::StatusOr<std::vector<StudyRecord>> SqliteStore::ListStudies() {
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<StudyRecord>> {
    absl::StatusOr<std::vector<StudyRecord>> studies = ReadAll<StudyRecord>(
        db.Prepare("SELECT " HPT_STUDY_COLUMNS " FROM studies ORDER BY id"), ReadStudy);
    if (!studies.ok() || studies->empty()) return studies;
    std::map<int64_t, StudyRecord*> by_id;
    for (StudyRecord& s : *studies) by_id[s.id] = &s;
    absl::StatusOr<Stmt> st = db.Prepare("SELECT study_id, key, value FROM study_annotations");
    if (!st.ok()) return st.status();
    while (true) {
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto it = by_id.find(st->ColumnInt(0));
      if (it != by_id.end()) it->second->annotations.emplace(st->ColumnText(1), st->ColumnText(2));
    }
    return studies;
  });
}

absl::Status SqliteStore::SetStudyState(int64_t study_id, StudyState state,
                                        const std::string& reason, const std::string& message) {
  const int64_t now = NowMs();
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    int64_t finished_ms = 0;
    {
      absl::StatusOr<Stmt> st =
          db.Prepare("SELECT finished_ms FROM studies WHERE id = ?1", study_id);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
      finished_ms = st->ColumnInt(0);
    }
    if (!IsTerminalStudy(state)) {
      finished_ms = 0;
    } else if (finished_ms == 0) {
      finished_ms = now;
    }
    return RunSql(
        db,
        "UPDATE studies SET state = ?2, reason = ?3, message = ?4, finished_ms = ?5 WHERE id = ?1",
        study_id, StudyStateName(state), reason, message, finished_ms);
  });
}

absl::Status SqliteStore::DeleteStudy(int64_t study_id) {
  absl::MutexLock lock(&write_mu_);
  std::vector<int64_t> trial_ids;
  absl::Status deleted = WithWriteTransaction([&](Db& db) -> absl::Status {
    {
      absl::StatusOr<Stmt> st = db.Prepare("SELECT count(*) FROM studies WHERE id = ?1", study_id);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row || st->ColumnInt(0) == 0) {
        return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
      }
    }
    absl::StatusOr<Stmt> st = db.Prepare("SELECT id FROM trials WHERE study_id = ?1", study_id);
    if (!st.ok()) return st.status();
    for (;;) {
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      trial_ids.push_back(st->ColumnInt(0));
    }
    // Foreign keys cascade to trials, params, report seqs, events and annotations; a trigger
    // deletes the trials' metric points.
    return RunSql(db, "DELETE FROM studies WHERE id = ?1", study_id);
  });
  if (!deleted.ok()) return deleted;
  const absl::flat_hash_set<int64_t> gone(trial_ids.begin(), trial_ids.end());
  ForgetNextSteps([&](int64_t id) { return gone.contains(id); });
  return absl::OkStatus();
}

void SqliteStore::ForgetNextSteps(absl::FunctionRef<bool(int64_t)> gone) {
  for (auto it = next_steps_.begin(); it != next_steps_.end();) {
    if (gone(it->first.first)) {
      next_steps_.erase(it++);
    } else {
      ++it;
    }
  }
}

// ---- trials ----

absl::StatusOr<TrialRecord> SqliteStore::CreateTrial(const NewTrial& trial) {
  if (trial.name.empty()) return absl::InvalidArgumentError("trial name is empty");
  std::set<std::string> param_names;
  for (size_t i = 0; i < trial.params.size(); ++i) {
    const std::string& name = trial.params[i].first;
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trial \"", trial.name, "\": parameter ", i, " has an empty name"));
    }
    if (!param_names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("trial \"", trial.name, "\": parameter \"",
                                                     name, "\" is assigned more than once"));
    }
  }
  TrialRecord rec;
  rec.study_id = trial.study_id;
  rec.name = trial.name;
  rec.state = TrialState::kPending;
  rec.params = trial.params;
  rec.seed = trial.seed;
  rec.manifest = trial.manifest;
  rec.token_hash = trial.token_hash;
  rec.created_ms = NowMs();

  absl::MutexLock lock(&write_mu_);
  absl::Status written = WithWriteTransaction([&](Db& db) -> absl::Status {
    if (absl::Status s = StudyExists(db, rec.study_id); !s.ok()) {
      if (!absl::IsNotFound(s)) return s;
      return absl::NotFoundError(
          absl::StrCat("cannot create trial \"", rec.name, "\": ", s.message()));
    }
    absl::Status s =
        RunSql(db,
               "INSERT INTO trials (study_id, name, state, seed, manifest, token_hash, created_ms) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
               rec.study_id, rec.name, TrialStateName(rec.state), ToDb(rec.seed), rec.manifest,
               rec.token_hash, rec.created_ms);
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(
          absl::StrCat("a trial named \"", rec.name, "\" already exists in ", path_));
    }
    if (!s.ok()) return s;
    rec.id = db.LastInsertRowid();
    for (size_t i = 0; i < rec.params.size(); ++i) {
      s = RunSql(db, "INSERT INTO params (trial_id, ord, name, value) VALUES (?1, ?2, ?3, ?4)",
                 rec.id, static_cast<int64_t>(i), rec.params[i].first, rec.params[i].second);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!written.ok()) return written;
  return rec;
}

absl::StatusOr<TrialRecord> SqliteStore::GetTrial(int64_t trial_id) {
  return WithReadSnapshot([&](Db& db) {
    return LoadTrial(db,
                     db.Prepare("SELECT " HPT_TRIAL_COLUMNS " FROM trials WHERE id = ?1", trial_id),
                     absl::NotFoundError(absl::StrCat("no trial with id ", trial_id)));
  });
}

absl::StatusOr<TrialRecord> SqliteStore::FindTrial(const std::string& name) {
  return WithReadSnapshot([&](Db& db) {
    return LoadTrial(db,
                     db.Prepare("SELECT " HPT_TRIAL_COLUMNS " FROM trials WHERE name = ?1", name),
                     absl::NotFoundError(absl::StrCat("no trial named \"", name, "\"")));
  });
}

absl::StatusOr<std::vector<TrialRecord>> SqliteStore::ListTrials(int64_t study_id) {
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<TrialRecord>> {
    if (absl::Status s = StudyExists(db, study_id); !s.ok()) return s;
    return LoadTrials(
        db, study_id,
        db.Prepare("SELECT " HPT_TRIAL_COLUMNS " FROM trials WHERE study_id = ?1 ORDER BY id",
                   study_id));
  });
}

absl::StatusOr<std::vector<TrialRecord>> SqliteStore::FindTrials(const std::string& filter,
                                                                 int64_t study_id, int limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial limit is ", limit, "; use 0 for all trials or a positive count"));
  }
  absl::StatusOr<Filter> parsed = ParseFilter(filter);
  if (!parsed.ok()) return parsed.status();
  const SqlFilter where = parsed->ToSql();
  // The SQL depends only on the filter's shape (its values are bound), so the statement cache
  // keeps one per shape.
  std::string sql = "SELECT " HPT_TRIAL_COLUMNS
                    " FROM trials WHERE id IN (SELECT t.id FROM trials AS t "
                    "JOIN studies AS s ON s.id = t.study_id WHERE (?1 = 0 OR t.study_id = ?1)";
  if (!parsed->empty()) absl::StrAppend(&sql, " AND (", where.where, ")");
  absl::StrAppend(&sql, ") ORDER BY id");
  if (limit > 0) absl::StrAppend(&sql, " LIMIT ", limit);
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<TrialRecord>> {
    if (study_id != 0) {
      if (absl::Status s = StudyExists(db, study_id); !s.ok()) return s;
    }
    absl::StatusOr<Stmt> st = db.Prepare(sql.c_str());
    if (!st.ok()) return st.status();
    st->BindInt(1, study_id);
    if (absl::Status s = BindSqlValues(st->handle(), 2, where.args); !s.ok()) return s;
    std::vector<TrialRecord> out;
    while (true) {
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<TrialRecord> t = ReadTrial(*st);
      if (!t.ok()) return t.status();
      out.push_back(*std::move(t));
    }
    std::vector<TrialRecord*> trials;
    for (TrialRecord& t : out) trials.push_back(&t);
    if (absl::Status s = AttachParams(db, study_id, trials); !s.ok()) return s;
    return out;
  });
}

absl::Status SqliteStore::SetTrialState(int64_t trial_id, TrialState state,
                                        const std::string& reason, const std::string& message,
                                        std::optional<double> objective) {
  if (objective.has_value() && !IsTerminal(state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial ", trial_id,
                     ": an objective is recorded only with a terminal state, "
                     "not with ",
                     TrialStateName(state)));
  }
  if (objective.has_value() && !std::isfinite(*objective)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial ", trial_id, ": objective is ", *objective, "; it must be finite"));
  }
  const int64_t now = NowMs();
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    std::string name;
    TrialState current = TrialState::kPending;
    int64_t attempt = 0, started_ms = 0;
    {
      absl::StatusOr<Stmt> st =
          db.Prepare("SELECT name, state, attempt, started_ms FROM trials WHERE id = ?1", trial_id);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
      name = st->ColumnText(0);
      absl::StatusOr<TrialState> parsed = ParseTrialState(st->ColumnText(1));
      if (!parsed.ok()) {
        return absl::DataLossError(absl::StrCat(
            "trial \"", name, "\" has an unreadable state: ", parsed.status().message()));
      }
      current = *parsed;
      attempt = st->ColumnInt(2);
      started_ms = st->ColumnInt(3);
    }
    if (IsTerminal(current)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "trial \"", name, "\" (id ", trial_id, ") is already ", TrialStateName(current),
          "; a finished trial cannot move to ", TrialStateName(state)));
    }
    if (state == TrialState::kRunning) {
      if (current != TrialState::kRunning) ++attempt;
      if (started_ms == 0) started_ms = now;
    }
    absl::StatusOr<Stmt> st = db.Prepare(
        "UPDATE trials SET state = ?2, reason = ?3, message = ?4, objective = ?5, attempt = ?6, "
        "started_ms = ?7, finished_ms = ?8 WHERE id = ?1");
    if (!st.ok()) return st.status();
    st->BindInt(1, trial_id)
        .BindText(2, TrialStateName(state))
        .BindText(3, reason)
        .BindText(4, message)
        .BindInt(6, attempt)
        .BindInt(7, started_ms)
        .BindInt(8, IsTerminal(state) ? now : 0);
    if (objective.has_value()) {
      st->BindDouble(5, *objective);
    } else {
      st->BindNull(5);
    }
    return st->Run();
  });
}

absl::Status SqliteStore::SetTrialTokenHash(int64_t trial_id, const std::string& token_hash) {
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    std::string name, state_name;
    {
      absl::StatusOr<Stmt> st =
          db.Prepare("SELECT name, state FROM trials WHERE id = ?1", trial_id);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
      name = st->ColumnText(0);
      state_name = st->ColumnText(1);
    }
    absl::StatusOr<TrialState> state = ParseTrialState(state_name);
    if (!state.ok()) {
      return absl::DataLossError(
          absl::StrCat("trial \"", name, "\" has an unreadable state: ", state.status().message()));
    }
    if (IsTerminal(*state)) {
      return absl::FailedPreconditionError(absl::StrCat("trial \"", name, "\" (id ", trial_id,
                                                        ") is already ", TrialStateName(*state),
                                                        "; a finished trial keeps its token"));
    }
    return RunSql(db, "UPDATE trials SET token_hash = ?2 WHERE id = ?1", trial_id, token_hash);
  });
}

// ---- metrics ----

absl::StatusOr<AppendResult> SqliteStore::AppendMetrics(int64_t trial_id, uint64_t seq,
                                                        const std::vector<MetricPoint>& points) {
  absl::Notification finished;
  absl::StatusOr<AppendResult> result;
  auto pending = std::make_unique<PendingAppend>();
  pending->trial_id = trial_id;
  pending->seq = seq;
  pending->points = &points;  // this caller waits until `done` ran
  pending->done = [&](absl::StatusOr<AppendResult> r) {
    result = std::move(r);
    finished.Notify();
  };
  Enqueue(std::move(pending));
  finished.WaitForNotification();
  return result;
}

void SqliteStore::AppendMetricsAsync(int64_t trial_id, uint64_t seq,
                                     std::vector<MetricPoint> points, const AppendOptions& options,
                                     AppendCallback done) {
  auto pending = std::make_unique<PendingAppend>();
  pending->trial_id = trial_id;
  pending->seq = seq;
  pending->owned = std::move(points);
  pending->points = &pending->owned;
  pending->options = options;
  pending->done = std::move(done);
  Enqueue(std::move(pending));
}

void SqliteStore::Enqueue(std::unique_ptr<PendingAppend> p) {
  absl::Status refused;
  for (size_t i = 0; i < p->points->size() && refused.ok(); ++i) {
    if (absl::Status s = ValidatePoint((*p->points)[i], i); !s.ok()) {
      refused = absl::InvalidArgumentError(
          absl::StrCat("metrics for trial ", p->trial_id, ": ", s.message()));
    }
  }
  if (refused.ok()) {
    absl::MutexLock lock(&queue_mu_);
    if (!closing_) {
      queue_.push_back(std::move(p));
      return;
    }
    refused = absl::UnavailableError(absl::StrCat("the store of ", path_, " is closing"));
  }
  std::move(p->done)(std::move(refused));
}

bool SqliteStore::QueueReady() const { return !queue_.empty() || closing_; }

bool SqliteStore::CompletionReady() const { return !completed_.empty() || writer_finished_; }

void SqliteStore::WriterLoop() {
  while (true) {
    Group group;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(this, &SqliteStore::QueueReady));
      if (queue_.empty()) break;  // closing, and every queued batch is written
      size_t points = 0;
      const size_t max_points = static_cast<size_t>(options_.max_batch_points);
      // Whole batches only; one larger than max_batch_points goes alone.
      while (!queue_.empty()) {
        const size_t n = queue_.front()->points->size();
        if (!group.empty() && points + n > max_points) break;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
        points += n;
      }
    }
    {
      absl::MutexLock lock(&write_mu_);
      WriteGroup(group);
      AfterCommit();
    }
    absl::MutexLock lock(&done_mu_);
    for (std::unique_ptr<PendingAppend>& p : group) completed_.push_back(std::move(p));
  }
  absl::MutexLock lock(&done_mu_);
  writer_finished_ = true;
}

void SqliteStore::CompletionLoop() {
  while (true) {
    std::deque<std::unique_ptr<PendingAppend>> done;
    {
      absl::MutexLock lock(&done_mu_);
      done_mu_.Await(absl::Condition(this, &SqliteStore::CompletionReady));
      if (completed_.empty()) return;  // the writer has finished and everything is answered
      done.swap(completed_);
    }
    for (std::unique_ptr<PendingAppend>& p : done) std::move(p->done)(std::move(p->result));
  }
}

bool SqliteStore::CheckpointReady() const { return checkpoint_wanted_ || checkpoint_stop_; }

void SqliteStore::AfterCommit() {
  if (checkpoint_db_ == nullptr) return;  // SQLite's automatic checkpoints
  const int frames = writer_db_->WalFrames();
  if (frames > kWalBoundFrames) {
    // Nobody writes while the writer checkpoints, so this catches up, and the next write
    // transaction starts the WAL over. A failure leaves the WAL as it was; the next commit tries
    // again.
    int wal_frames = 0, copied = 0;
    writer_db_->Checkpoint(&wal_frames, &copied).IgnoreError();
  }
  // A smaller WAL than last time: it restarted.
  if (frames >= checkpoint_asked_at_ && frames < checkpoint_asked_at_ + kCheckpointFrames) return;
  checkpoint_asked_at_ = frames;
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_wanted_ = true;
}

void SqliteStore::CheckpointLoop() {
  while (true) {
    {
      absl::MutexLock lock(&checkpoint_mu_);
      checkpoint_mu_.Await(absl::Condition(this, &SqliteStore::CheckpointReady));
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
    }
    // A failed checkpoint loses nothing (the WAL holds every commit); the next commit asks again.
    int frames = 0, copied = 0;
    checkpoint_db_->Checkpoint(&frames, &copied).IgnoreError();
  }
}

absl::Status SqliteStore::NoticeForeignWrites() {
  absl::StatusOr<Stmt> st = writer_db_->Prepare("PRAGMA data_version");
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  const int64_t version = *row ? st->ColumnInt(0) : 0;
  if (data_version_ != -1 && version != data_version_) {
    // Another process appended or deleted points: the next steps it wrote are not ours to know.
    // (Name ids cannot go stale: names are never deleted.)
    next_steps_.clear();
  }
  data_version_ = version;
  return absl::OkStatus();
}

void SqliteStore::WriteGroup(const Group& group) {
  const int64_t now = NowMs();
  Db& db = *writer_db_;
  absl::Status s;
  absl::StatusOr<Transaction> txn = Transaction::Begin(db, Transaction::Kind::kImmediate);
  if (!txn.ok()) s = txn.status();
  if (s.ok()) s = NoticeForeignWrites();
  // Insertion orders are read and written back under the write lock, so that several processes
  // writing the file never reuse one.
  int64_t next_ord = 0;
  if (s.ok()) {
    absl::StatusOr<Stmt> st = db.Prepare("SELECT next FROM metric_ord");
    absl::StatusOr<bool> row = st.ok() ? st->Step() : absl::StatusOr<bool>(st.status());
    if (!row.ok()) {
      s = row.status();
    } else if (!*row) {
      s = absl::DataLossError(absl::StrCat("the metric_ord table of ", path_, " is empty"));
    } else {
      next_ord = st->ColumnInt(0);
    }
  }
  if (!s.ok()) {
    for (const std::unique_ptr<PendingAppend>& p : group) p->result = s;
    return;  // `txn`, if open, rolls back
  }
  const int64_t first_ord = next_ord;
  Staged written;  // by the batches that succeeded so far
  absl::Status fatal;
  size_t attempted = 0;
  for (const std::unique_ptr<PendingAppend>& p : group) {
    Staged staged;
    p->result = WriteBatch(*p, now, written, staged, next_ord, fatal);
    ++attempted;
    if (!fatal.ok()) break;
    if (p->result.ok()) {
      MergeInto(staged.name_ids, written.name_ids);
      MergeInto(staged.next_steps, written.next_steps);
    }
  }
  s = fatal;
  if (s.ok() && next_ord != first_ord) {
    s = RunSql(db, "UPDATE metric_ord SET next = ?1", next_ord);
  }
  if (s.ok()) s = txn->Commit();
  if (!s.ok()) {
    // Nothing of this group is stored: every batch that had not failed on its own fails with it.
    for (size_t i = 0; i < group.size(); ++i) {
      if (i >= attempted || group[i]->result.ok()) {
        group[i]->result = absl::Status(
            s.code(),
            absl::StrCat("writing metrics of trial ", group[i]->trial_id, ": ", s.message()));
      }
    }
    return;  // `txn` rolls back
  }
  if (name_ids_.size() + written.name_ids.size() > kMaxCachedNames) name_ids_.clear();
  if (next_steps_.size() + written.next_steps.size() > kMaxCachedSteps) next_steps_.clear();
  MergeInto(written.name_ids, name_ids_);
  MergeInto(written.next_steps, next_steps_);
}

absl::Status SqliteStore::CheckTrial(const PendingAppend& batch) {
  absl::StatusOr<Stmt> st = writer_db_->Prepare(
      "SELECT name, state, token_hash FROM trials WHERE id = ?1", batch.trial_id);
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("no trial with id ", batch.trial_id));
  if (!batch.options.expect_token_hash.empty() &&
      st->ColumnText(2) != batch.options.expect_token_hash) {
    return absl::PermissionDeniedError(
        absl::StrCat("trial \"", st->ColumnText(0), "\" (id ", batch.trial_id,
                     ") no longer has the token this report was checked against"));
  }
  if (!batch.options.require_open) return absl::OkStatus();
  const std::string state = st->ColumnText(1);
  absl::StatusOr<TrialState> parsed = ParseTrialState(state);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat("trial \"", st->ColumnText(0), "\" (id ",
                                            batch.trial_id, ") has an unreadable state \"", state,
                                            "\""));
  }
  if (IsTerminal(*parsed)) {
    return absl::FailedPreconditionError(absl::StrCat("trial \"", st->ColumnText(0), "\" (id ",
                                                      batch.trial_id, ") already finished (", state,
                                                      "); it takes no more metrics"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> SqliteStore::WriteBatch(const PendingAppend& batch, int64_t now,
                                                     const Staged& group, Staged& staged,
                                                     int64_t& next_ord, absl::Status& fatal) {
  Db& db = *writer_db_;
  if (absl::Status s = RunSql(db, "SAVEPOINT append_batch"); !s.ok()) {
    fatal = s;
    return s;
  }
  const int64_t first_ord = next_ord;
  absl::StatusOr<AppendResult> result = AppendResult{};
  if (absl::Status s = CheckTrial(batch); !s.ok()) result = s;
  if (result.ok() && batch.seq != 0) {
    absl::StatusOr<Stmt> st =
        db.Prepare("INSERT OR IGNORE INTO report_seqs (trial_id, seq) VALUES (?1, ?2)");
    absl::Status s = st.status();
    if (s.ok()) s = st->BindInt(1, batch.trial_id).BindInt(2, ToDb(batch.seq)).Run();
    if (!s.ok()) {
      result = s;
    } else if (db.Changes() == 0) {
      result = AppendResult{.stored = 0, .duplicate = true};
    }
  }
  if (result.ok() && !result->duplicate && !batch.points->empty()) {
    absl::StatusOr<Stmt> insert = db.Prepare(
        "INSERT INTO metrics (trial_id, name_id, ord, step, value, time_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!insert.ok()) result = insert.status();
    // The next step of each metric this batch touches, staged once at the end; -1: not known (an
    // auto step reads it from the table, which holds this batch's points by then).
    // Each metric the batch touches: its next step, and what the batch adds to its summary.
    struct Series {
      int64_t name_id;
      int64_t next;
      bool changed;
      int64_t count = 0;
      double min = 0, max = 0, last = 0;
      int64_t last_step = 0;
    };
    std::vector<Series> series;
    size_t cur = 0;  // index in `series` of the current point's metric
    const std::string* last_name = nullptr;
    for (const MetricPoint& p : *batch.points) {
      if (!result.ok()) break;
      if (last_name == nullptr || p.name != *last_name) {  // points usually cycle a few names
        absl::StatusOr<int64_t> name_id = MetricNameId(p.name, group, staged);
        if (!name_id.ok()) {
          result = name_id.status();
          break;
        }
        last_name = &p.name;
        for (cur = 0; cur < series.size() && series[cur].name_id != *name_id; ++cur) {
        }
        if (cur == series.size()) {
          const int64_t* known = FindFirst(StepKey(batch.trial_id, *name_id), staged.next_steps,
                                           group.next_steps, next_steps_);
          series.push_back({*name_id, known != nullptr ? *known : -1, false});
        }
      }
      Series& m = series[cur];
      int64_t step = 0;
      if (p.step.has_value()) {
        step = *p.step;
        if (m.next != -1 && m.next <= step) {  // a known next step stays ahead of explicit ones
          m.next = step + 1;
          m.changed = true;
        }
      } else {
        if (m.next == -1) {
          absl::StatusOr<int64_t> next = NextStepFromTable(StepKey(batch.trial_id, m.name_id));
          if (!next.ok()) {
            result = next.status();
            break;
          }
          m.next = *next;
        }
        step = m.next++;
        m.changed = true;
      }
      absl::Status s = insert->Reset()
                           .BindInt(1, batch.trial_id)
                           .BindInt(2, m.name_id)
                           .BindInt(3, next_ord++)
                           .BindInt(4, step)
                           .BindDouble(5, p.value)
                           .BindInt(6, p.time_ms != 0 ? p.time_ms : now)
                           .Run();
      if (!s.ok()) result = s;
      m.min = m.count == 0 ? p.value : std::min(m.min, p.value);
      m.max = m.count == 0 ? p.value : std::max(m.max, p.value);
      m.last = p.value;
      m.last_step = step;
      ++m.count;
    }
    if (result.ok()) {
      absl::StatusOr<Stmt> upsert = db.Prepare(
          "INSERT INTO metric_summaries "
          "(trial_id, name_id, count, min_value, max_value, last_value, last_step) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
          "ON CONFLICT (trial_id, name_id) DO UPDATE SET count = count + excluded.count, "
          "min_value = min(min_value, excluded.min_value), "
          "max_value = max(max_value, excluded.max_value), "
          "last_value = excluded.last_value, last_step = excluded.last_step");
      if (!upsert.ok()) result = upsert.status();
      for (const Series& m : series) {
        if (!result.ok()) break;
        absl::Status s = upsert->Reset()
                             .BindInt(1, batch.trial_id)
                             .BindInt(2, m.name_id)
                             .BindInt(3, m.count)
                             .BindDouble(4, m.min)
                             .BindDouble(5, m.max)
                             .BindDouble(6, m.last)
                             .BindInt(7, m.last_step)
                             .Run();
        if (!s.ok()) result = s;
      }
    }
    if (result.ok()) {
      for (const Series& m : series) {
        if (m.changed) staged.next_steps[StepKey(batch.trial_id, m.name_id)] = m.next;
      }
    }
  }
  if (result.ok() && !result->duplicate) {
    result->stored = static_cast<int64_t>(batch.points->size());
  }

  absl::Status end;
  if (result.ok()) {
    end = RunSql(db, "RELEASE append_batch");
  } else {
    staged = Staged{};
    next_ord = first_ord;
    end = RunSql(db, "ROLLBACK TO append_batch");
    if (end.ok()) end = RunSql(db, "RELEASE append_batch");
  }
  if (!end.ok()) {
    fatal = end;
    return end;
  }
  return result;
}

absl::StatusOr<int64_t> SqliteStore::MetricNameId(const std::string& name, const Staged& group,
                                                  Staged& staged) {
  // Committed names first: the common case, and no name is both committed and staged.
  if (auto it = name_ids_.find(name); it != name_ids_.end()) return it->second;
  if (auto it = group.name_ids.find(name); it != group.name_ids.end()) return it->second;
  if (auto it = staged.name_ids.find(name); it != staged.name_ids.end()) return it->second;
  Db& db = *writer_db_;
  {
    absl::StatusOr<Stmt> st = db.Prepare("SELECT id FROM metric_names WHERE name = ?1", name);
    if (!st.ok()) return st.status();
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      // Committed before this transaction (a newer row would be in a staged map).
      return staged.name_ids[name] = st->ColumnInt(0);
    }
  }
  absl::StatusOr<Stmt> st = db.Prepare("INSERT INTO metric_names (name) VALUES (?1)");
  if (!st.ok()) return st.status();
  if (absl::Status s = st->BindText(1, name).Run(); !s.ok()) return s;
  return staged.name_ids[name] = db.LastInsertRowid();
}

absl::StatusOr<int64_t> SqliteStore::NextStepFromTable(const StepKey& key) {
  // Not indexed by step: scans the metric's points once, after which the cache knows.
  absl::StatusOr<Stmt> st = writer_db_->Prepare(
      "SELECT COALESCE(MAX(step) + 1, 0) FROM metrics WHERE trial_id = ?1 AND name_id = ?2",
      key.first, key.second);
  if (!st.ok()) return st.status();
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return *row ? st->ColumnInt(0) : 0;
}

absl::StatusOr<std::vector<StoredPoint>> SqliteStore::MetricHistory(int64_t trial_id,
                                                                    const std::string& name) {
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<StoredPoint>> {
    if (absl::Status s = TrialExists(db, trial_id); !s.ok()) return s;
    absl::StatusOr<Stmt> st =
        name.empty() ? db.Prepare(
                           "SELECT n.name, m.step, m.value, m.time_ms FROM metrics AS m "
                           "JOIN metric_names AS n ON n.id = m.name_id WHERE m.trial_id = ?1 "
                           "ORDER BY m.ord",
                           trial_id)
                     : db.Prepare(
                           "SELECT n.name, m.step, m.value, m.time_ms FROM metric_names AS n "
                           "JOIN metrics AS m ON m.trial_id = ?1 AND m.name_id = n.id "
                           "WHERE n.name = ?2 ORDER BY m.ord",
                           trial_id, name);
    return ReadAll<StoredPoint>(std::move(st), [](const Stmt& row) -> absl::StatusOr<StoredPoint> {
      return StoredPoint{.name = row.ColumnText(0),
                         .step = row.ColumnInt(1),
                         .value = row.ColumnDouble(2),
                         .time_ms = row.ColumnInt(3)};
    });
  });
}

absl::StatusOr<std::vector<MetricSummary>> SqliteStore::Summaries(int64_t trial_id) {
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<MetricSummary>> {
    if (absl::Status s = TrialExists(db, trial_id); !s.ok()) return s;
    return ReadAll<MetricSummary>(
        db.Prepare("SELECT n.name, a.min_value, a.max_value, a.last_value, a.count, a.last_step "
                   "FROM metric_summaries AS a JOIN metric_names AS n ON n.id = a.name_id "
                   "WHERE a.trial_id = ?1 ORDER BY n.name",
                   trial_id),
        [](const Stmt& row) -> absl::StatusOr<MetricSummary> {
          return MetricSummary{.name = row.ColumnText(0),
                               .min = row.ColumnDouble(1),
                               .max = row.ColumnDouble(2),
                               .latest = row.ColumnDouble(3),
                               .count = row.ColumnInt(4),
                               .last_step = row.ColumnInt(5)};
        });
  });
}

absl::Status SqliteStore::DeleteMetrics(int64_t trial_id) {
  absl::MutexLock lock(&write_mu_);
  absl::Status deleted = WithWriteTransaction([&](Db& db) -> absl::Status {
    if (absl::Status s = TrialExists(db, trial_id); !s.ok()) return s;
    for (const char* sql : {"DELETE FROM metrics WHERE trial_id = ?1",
                            "DELETE FROM metric_summaries WHERE trial_id = ?1"}) {
      if (absl::Status s = RunSql(db, sql, trial_id); !s.ok()) return s;
    }
    return RunSql(db, "DELETE FROM report_seqs WHERE trial_id = ?1", trial_id);
  });
  if (!deleted.ok()) return deleted;
  ForgetNextSteps([&](int64_t id) { return id == trial_id; });
  return absl::OkStatus();
}

// ---- leaderboard ----

absl::StatusOr<std::vector<TrialRecord>> SqliteStore::Leaderboard(int64_t study_id, int limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaderboard limit is ", limit, "; use 0 for all trials or a positive count"));
  }
  const int64_t max_rows = limit == 0 ? -1 : limit;  // LIMIT -1: no limit
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<TrialRecord>> {
    bool maximize = false;
    {
      absl::StatusOr<Stmt> st = db.Prepare("SELECT maximize FROM studies WHERE id = ?1", study_id);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError(absl::StrCat("no study with id ", study_id));
      maximize = st->ColumnInt(0) != 0;
    }
    const char* sql = maximize ? "SELECT " HPT_TRIAL_COLUMNS
                                 " FROM trials WHERE study_id = ?1 AND objective IS NOT NULL "
                                 "ORDER BY objective DESC, id LIMIT ?2"
                               : "SELECT " HPT_TRIAL_COLUMNS
                                 " FROM trials WHERE study_id = ?1 AND objective IS NOT NULL "
                                 "ORDER BY objective ASC, id LIMIT ?2";
    return LoadTrials(db, study_id, db.Prepare(sql, study_id, max_rows));
  });
}

// The ranked value of RankTrials' strategies (trial `t`; ?5 is the metric's name id, ?6 the step).
const char* RankValueSql(RankStrategy strategy, bool descending) {
  switch (strategy) {
    case RankStrategy::kObjective:
      return "t.objective";
    case RankStrategy::kMin:
      return "(SELECT rs.min_value FROM metric_summaries AS rs "
             "WHERE rs.trial_id = t.id AND rs.name_id = ?5)";
    case RankStrategy::kMax:
      return "(SELECT rs.max_value FROM metric_summaries AS rs "
             "WHERE rs.trial_id = t.id AND rs.name_id = ?5)";
    case RankStrategy::kLatest:
      return "(SELECT rs.last_value FROM metric_summaries AS rs "
             "WHERE rs.trial_id = t.id AND rs.name_id = ?5)";
    case RankStrategy::kBestAtStep:
      return descending ? "(SELECT MAX(rp.value) FROM metrics AS rp "
                          "WHERE rp.trial_id = t.id AND rp.name_id = ?5 AND rp.step <= ?6)"
                        : "(SELECT MIN(rp.value) FROM metrics AS rp "
                          "WHERE rp.trial_id = t.id AND rp.name_id = ?5 AND rp.step <= ?6)";
  }
  return "NULL";
}

absl::StatusOr<std::vector<RankedTrial>> SqliteStore::RankTrials(const RankQuery& q) {
  if (q.limit_per_group < 0) {
    return absl::InvalidArgumentError(absl::StrCat("leaderboard limit is ", q.limit_per_group,
                                                   "; use 0 for all trials or a positive count"));
  }
  if (q.step < 0) {
    return absl::InvalidArgumentError(absl::StrCat("step is ", q.step, "; steps are >= 0"));
  }
  const bool by_objective = q.strategy == RankStrategy::kObjective;
  if (!by_objective && q.metric.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the ", RankStrategyName(q.strategy),
                                                   " strategy ranks by a metric; name one"));
  }
  if (q.strategy == RankStrategy::kBestAtStep && !q.descending.has_value()) {
    return absl::InvalidArgumentError(
        "the best-at-step strategy needs an order (largest or smallest first)");
  }
  absl::StatusOr<Filter> parsed = ParseFilter(q.filter);
  if (!parsed.ok()) return parsed.status();
  const SqlFilter where = parsed->ToSql();
  // ?1 study, ?2 project, ?3 experiment, ?4 limit, ?5 metric name id, ?6 step; the filter's own
  // placeholders follow. All six appear before the filter's first `?`, which SQLite therefore
  // numbers 7 (a bare `?` takes the largest number used so far plus one).
  // Groups are numbered (g.gid) so that the ranking sorts integers, not project and experiment
  // texts (half the time of the query over 10,000 trials).
  std::string ranked = absl::StrCat(
      "WITH g AS (SELECT id AS sid, DENSE_RANK() OVER (ORDER BY project, experiment) AS gid "
      "FROM studies), v AS (SELECT t.id AS tid, g.gid AS gid, s.name AS sname, s.project AS p, "
      "s.experiment AS e, s.maximize AS smax, s.objective_metric AS smetric, ",
      RankValueSql(q.strategy, q.descending.value_or(false)),
      " AS val FROM trials AS t JOIN studies AS s ON s.id = t.study_id JOIN g ON g.sid = s.id "
      "WHERE (?1 = 0 OR t.study_id = ?1) AND (?2 IS NULL OR s.project = ?2) "
      "AND (?3 IS NULL OR s.experiment = ?3) AND ?4 >= 0 AND ?5 IS NOT NULL AND ?6 >= 0");
  if (!parsed->empty()) absl::StrAppend(&ranked, " AND (", where.where, ")");
  absl::StrAppend(&ranked, ")");
  std::string order;
  if (q.descending.has_value()) {
    order = *q.descending ? "val DESC" : "val ASC";
  } else {
    order = "CASE WHEN smax = 1 THEN -val ELSE val END";
  }
  const std::string sql = absl::StrCat(
      ranked, ", r AS (SELECT tid, gid, val, ROW_NUMBER() OVER (PARTITION BY gid ORDER BY ", order,
      ", tid) AS rk FROM v WHERE val IS NOT NULL) SELECT " HPT_TRIAL_COLUMNS
      ", rk, val, (SELECT name FROM studies WHERE id = trials.study_id), "
      "(SELECT project FROM studies WHERE id = trials.study_id), "
      "(SELECT experiment FROM studies WHERE id = trials.study_id) "
      "FROM r JOIN trials ON trials.id = r.tid WHERE ?4 = 0 OR rk <= ?4 ORDER BY gid, rk");
  // Groups whose studies rank different things by "objective".
  const std::string mixed = absl::StrCat(
      ranked,
      " SELECT p, e, GROUP_CONCAT(DISTINCT sname || ' (' || CASE WHEN smax = 1 THEN 'max ' ELSE "
      "'min ' END || smetric || ')') FROM v WHERE val IS NOT NULL GROUP BY p, e "
      "HAVING COUNT(DISTINCT smax) > 1 OR COUNT(DISTINCT smetric) > 1 ORDER BY p, e");
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<RankedTrial>> {
    if (q.study_id != 0) {
      if (absl::Status s = StudyExists(db, q.study_id); !s.ok()) return s;
    }
    int64_t name_id = 0;
    if (!by_objective) {
      absl::StatusOr<Stmt> st = db.Prepare("SELECT id FROM metric_names WHERE name = ?1", q.metric);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) return std::vector<RankedTrial>{};  // never reported by any trial
      name_id = st->ColumnInt(0);
    }
    auto bind = [&](Stmt& st) -> absl::Status {
      st.BindInt(1, q.study_id);
      q.project ? st.BindText(2, *q.project) : st.BindNull(2);
      q.experiment ? st.BindText(3, *q.experiment) : st.BindNull(3);
      st.BindInt(4, q.limit_per_group);
      st.BindInt(5, name_id);
      st.BindInt(6, q.step);
      return BindSqlValues(st.handle(), 7, where.args);
    };
    // The studies in scope are read first: only when some group mixes objectives need the
    // trials (the filter) say whether the mix survives.
    bool maybe_mixed = false;
    if (by_objective && !q.descending.has_value()) {
      absl::StatusOr<Stmt> st = db.Prepare(
          "SELECT 1 FROM studies AS s WHERE (?1 = 0 OR s.id = ?1) AND (?2 IS NULL OR "
          "s.project = ?2) AND (?3 IS NULL OR s.experiment = ?3) GROUP BY s.project, "
          "s.experiment HAVING COUNT(DISTINCT s.maximize) > 1 OR "
          "COUNT(DISTINCT s.objective_metric) > 1 LIMIT 1");
      if (!st.ok()) return st.status();
      st->BindInt(1, q.study_id);
      q.project ? st->BindText(2, *q.project) : st->BindNull(2);
      q.experiment ? st->BindText(3, *q.experiment) : st->BindNull(3);
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      maybe_mixed = *row;
    }
    if (maybe_mixed) {
      absl::StatusOr<Stmt> st = db.Prepare(mixed.c_str());
      if (!st.ok()) return st.status();
      if (absl::Status s = bind(*st); !s.ok()) return s;
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (*row) {
        return absl::InvalidArgumentError(
            absl::StrCat("the studies of project \"", st->ColumnText(0), "\", experiment \"",
                         st->ColumnText(1), "\" rank different objectives: ", st->ColumnText(2),
                         "; rank by one metric and order instead, or narrow the studies"));
      }
    }
    absl::StatusOr<Stmt> st = db.Prepare(sql.c_str());
    if (!st.ok()) return st.status();
    if (absl::Status s = bind(*st); !s.ok()) return s;
    std::vector<RankedTrial> out;
    while (true) {
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<TrialRecord> t = ReadTrial(*st);
      if (!t.ok()) return t.status();
      out.push_back({.trial = *std::move(t),
                     .study = st->ColumnText(16),
                     .project = st->ColumnText(17),
                     .experiment = st->ColumnText(18),
                     .value = st->ColumnDouble(15),
                     .rank = static_cast<int>(st->ColumnInt(14))});
    }
    std::vector<TrialRecord*> trials;
    for (RankedTrial& r : out) trials.push_back(&r.trial);
    if (absl::Status s = AttachParams(db, q.study_id, trials); !s.ok()) return s;
    return out;
  });
}

// ---- retraining triggers and deployed models' metrics ----

namespace {

#define HPT_TRIGGER_COLUMNS \
  "id, name, spec_yaml, spec_path, study_yaml, applied_ms, updated_ms, baseline"
#define HPT_FIRING_COLUMNS                                                               \
  "f.id, f.trigger_id, (SELECT name FROM triggers WHERE id = f.trigger_id), f.time_ms, " \
  "f.value, f.best, f.reason, f.action, f.state, f.result, f.finished_ms"

absl::StatusOr<TriggerRecord> ReadTrigger(const Stmt& st) {
  TriggerRecord r;
  r.id = st.ColumnInt(0);
  r.name = st.ColumnText(1);
  r.spec_yaml = st.ColumnText(2);
  r.spec_path = st.ColumnText(3);
  r.study_yaml = st.ColumnText(4);
  r.applied_ms = st.ColumnInt(5);
  r.updated_ms = st.ColumnInt(6);
  if (!st.ColumnIsNull(7)) r.baseline = st.ColumnDouble(7);
  return r;
}

absl::StatusOr<TriggerFiring> ReadFiring(const Stmt& st) {
  TriggerFiring f;
  f.id = st.ColumnInt(0);
  f.trigger_id = st.ColumnInt(1);
  f.trigger = st.ColumnText(2);
  f.time_ms = st.ColumnInt(3);
  if (!st.ColumnIsNull(4)) f.value = st.ColumnDouble(4);
  if (!st.ColumnIsNull(5)) f.best = st.ColumnDouble(5);
  f.reason = st.ColumnText(6);
  f.action = st.ColumnText(7);
  const std::string state = st.ColumnText(8);
  bool known = false;
  for (FiringState s : {FiringState::kPending, FiringState::kDone, FiringState::kFailed}) {
    if (state == FiringStateName(s)) {
      f.state = s;
      known = true;
    }
  }
  if (!known) {
    return absl::DataLossError(
        absl::StrCat("trigger firing ", f.id, " has an unreadable state \"", state, "\""));
  }
  f.result = st.ColumnText(9);
  f.finished_ms = st.ColumnInt(10);
  return f;
}

// A double as a bound value, or NULL.
void BindOptional(Stmt& st, int index, const std::optional<double>& v) {
  v ? st.BindDouble(index, *v) : st.BindNull(index);
}

}  // namespace

absl::StatusOr<TriggerRecord> SqliteStore::ApplyTrigger(const TriggerRecord& trigger,
                                                        bool* created) {
  if (trigger.name.empty()) return absl::InvalidArgumentError("trigger name is empty");
  if (trigger.spec_yaml.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trigger \"", trigger.name, "\" has an empty spec"));
  }
  if (trigger.baseline && !std::isfinite(*trigger.baseline)) {
    return absl::InvalidArgumentError(absl::StrCat("trigger \"", trigger.name, "\": baseline is ",
                                                   *trigger.baseline, "; it must be finite"));
  }
  const int64_t now = NowMs();
  bool inserted = false;
  absl::MutexLock lock(&write_mu_);
  absl::Status s = WithWriteTransaction([&](Db& db) -> absl::Status {
    absl::StatusOr<Stmt> had = db.Prepare("SELECT 1 FROM triggers WHERE name = ?1", trigger.name);
    if (!had.ok()) return had.status();
    absl::StatusOr<bool> found = had->Step();
    if (!found.ok()) return found.status();
    inserted = !*found;
    absl::StatusOr<Stmt> st = db.Prepare(
        "INSERT INTO triggers (name, spec_yaml, spec_path, study_yaml, applied_ms, updated_ms, "
        "baseline) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT (name) DO UPDATE SET "
        "spec_yaml = excluded.spec_yaml, spec_path = excluded.spec_path, "
        "study_yaml = excluded.study_yaml, updated_ms = excluded.updated_ms, "
        "baseline = excluded.baseline",
        trigger.name, trigger.spec_yaml, trigger.spec_path, trigger.study_yaml, now);
    if (!st.ok()) return st.status();
    BindOptional(*st, 6, trigger.baseline);
    return st->Run();
  });
  if (!s.ok()) return s;
  if (created != nullptr) *created = inserted;
  return FindTrigger(trigger.name);
}

absl::StatusOr<TriggerRecord> SqliteStore::FindTrigger(const std::string& name) {
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<TriggerRecord> {
    absl::StatusOr<Stmt> st =
        db.Prepare("SELECT " HPT_TRIGGER_COLUMNS " FROM triggers WHERE name = ?1", name);
    if (!st.ok()) return st.status();
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::NotFoundError(absl::StrCat("no trigger \"", name, "\""));
    return ReadTrigger(*st);
  });
}

absl::StatusOr<std::vector<TriggerRecord>> SqliteStore::ListTriggers() {
  return WithReadSnapshot([&](Db& db) {
    return ReadAll<TriggerRecord>(
        db.Prepare("SELECT " HPT_TRIGGER_COLUMNS " FROM triggers ORDER BY name"), ReadTrigger);
  });
}

absl::Status SqliteStore::DeleteTrigger(const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    absl::StatusOr<Stmt> st = db.Prepare("SELECT id FROM triggers WHERE name = ?1", name);
    if (!st.ok()) return st.status();
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::NotFoundError(absl::StrCat("no trigger \"", name, "\""));
    const int64_t id = st->ColumnInt(0);
    if (absl::Status r = RunSql(db, "DELETE FROM trigger_firings WHERE trigger_id = ?1", id);
        !r.ok()) {
      return r;
    }
    return RunSql(db, "DELETE FROM triggers WHERE id = ?1", id);
  });
}

absl::StatusOr<std::optional<TriggerFiring>> SqliteStore::ClaimFiring(const TriggerFiring& firing,
                                                                      int64_t cooldown_ms) {
  if (cooldown_ms < 0 || firing.time_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a firing needs a time and a cooldown >= 0, got ", firing.time_ms, " and ", cooldown_ms));
  }
  std::optional<int64_t> id;
  absl::MutexLock lock(&write_mu_);
  absl::Status s = WithWriteTransaction([&](Db& db) -> absl::Status {
    absl::StatusOr<bool> known =
        Exists(db, "SELECT 1 FROM triggers WHERE id = ?1", firing.trigger_id);
    if (!known.ok()) return known.status();
    if (!*known) return absl::NotFoundError(absl::StrCat("no trigger with id ", firing.trigger_id));
    absl::StatusOr<Stmt> last = db.Prepare(
        "SELECT MAX(time_ms) FROM trigger_firings WHERE trigger_id = ?1", firing.trigger_id);
    if (!last.ok()) return last.status();
    absl::StatusOr<bool> row = last->Step();
    if (!row.ok()) return row.status();
    if (*row && !last->ColumnIsNull(0) && firing.time_ms < last->ColumnInt(0) + cooldown_ms) {
      return absl::OkStatus();  // cooling down: nothing written
    }
    absl::StatusOr<Stmt> st = db.Prepare(
        "INSERT INTO trigger_firings (trigger_id, time_ms, value, best, reason, action, state) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING') RETURNING id");
    if (!st.ok()) return st.status();
    st->BindInt(1, firing.trigger_id).BindInt(2, firing.time_ms);
    BindOptional(*st, 3, firing.value);
    BindOptional(*st, 4, firing.best);
    st->BindText(5, firing.reason).BindText(6, firing.action);
    absl::StatusOr<bool> inserted = st->Step();
    if (!inserted.ok()) return inserted.status();
    if (!*inserted) return absl::InternalError("inserting a trigger firing returned no id");
    id = st->ColumnInt(0);
    return st->Run();  // steps to the end, so that the statement is done before the commit
  });
  if (!s.ok()) return s;
  if (!id) return std::optional<TriggerFiring>();
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::optional<TriggerFiring>> {
    absl::StatusOr<Stmt> st =
        db.Prepare("SELECT " HPT_FIRING_COLUMNS " FROM trigger_firings AS f WHERE f.id = ?1", *id);
    if (!st.ok()) return st.status();
    absl::StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::NotFoundError(absl::StrCat("trigger firing ", *id, " vanished"));
    absl::StatusOr<TriggerFiring> f = ReadFiring(*st);
    if (!f.ok()) return f.status();
    return std::optional<TriggerFiring>(*std::move(f));
  });
}

absl::Status SqliteStore::FinishFiring(int64_t firing_id, FiringState state,
                                       const std::string& result, int64_t finished_ms) {
  if (state == FiringState::kPending) {
    return absl::InvalidArgumentError("a firing finishes DONE or FAILED, not PENDING");
  }
  if (finished_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a firing's finish time is unix ms >= 0, got ", finished_ms));
  }
  const int64_t now = finished_ms > 0 ? finished_ms : NowMs();
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    absl::StatusOr<bool> known =
        Exists(db, "SELECT 1 FROM trigger_firings WHERE id = ?1", firing_id);
    if (!known.ok()) return known.status();
    if (!*known) return absl::NotFoundError(absl::StrCat("no trigger firing with id ", firing_id));
    return RunSql(db,
                  "UPDATE trigger_firings SET state = ?2, result = ?3, finished_ms = ?4 "
                  "WHERE id = ?1",
                  firing_id, std::string(FiringStateName(state)), result, now);
  });
}

absl::StatusOr<std::vector<TriggerFiring>> SqliteStore::ListFirings(int64_t trigger_id, int limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("firing limit is ", limit, "; use 0 for all or a positive count"));
  }
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<TriggerFiring>> {
    if (trigger_id != 0) {
      absl::StatusOr<bool> known = Exists(db, "SELECT 1 FROM triggers WHERE id = ?1", trigger_id);
      if (!known.ok()) return known.status();
      if (!*known) return absl::NotFoundError(absl::StrCat("no trigger with id ", trigger_id));
    }
    // The last `limit` firings, oldest first.
    absl::StatusOr<std::vector<TriggerFiring>> out = ReadAll<TriggerFiring>(
        db.Prepare("SELECT * FROM (SELECT " HPT_FIRING_COLUMNS
                   " FROM trigger_firings AS f WHERE ?1 = 0 OR f.trigger_id = ?1 "
                   "ORDER BY f.time_ms DESC, f.id DESC LIMIT ?2) ORDER BY 4, 1",
                   trigger_id, limit == 0 ? int64_t{-1} : int64_t{limit}),
        ReadFiring);
    return out;
  });
}

absl::Status SqliteStore::AppendModelMetrics(const std::vector<ModelPoint>& points) {
  for (size_t i = 0; i < points.size(); ++i) {
    const ModelPoint& p = points[i];
    const std::string where = absl::StrCat("model metric point ", i);
    if (p.project.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has no project"));
    }
    if (p.metric.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has no metric name"));
    }
    if (!std::isfinite(p.value)) {
      return absl::InvalidArgumentError(absl::StrCat(where, " (\"", p.metric, "\") has value ",
                                                     p.value, "; values must be finite"));
    }
    if (p.time_ms < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has time ", p.time_ms, "; times are unix ms >= 0"));
    }
  }
  if (points.empty()) return absl::OkStatus();
  const int64_t now = NowMs();
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    for (const ModelPoint& p : points) {
      if (absl::Status s = RunSql(db,
                                  "INSERT INTO model_metrics (project, experiment, model, metric, "
                                  "value, time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                  p.project, p.experiment, p.model, p.metric, p.value,
                                  p.time_ms == 0 ? now : p.time_ms);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ModelPoint>> SqliteStore::ModelSeries(const ModelSeriesQuery& q) {
  if (q.project.empty() || q.metric.empty()) {
    return absl::InvalidArgumentError("a model series needs a project and a metric");
  }
  if (q.since_ms < 0 || q.last_n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("since_ms and last_n must be >= 0, got ", q.since_ms, " and ", q.last_n));
  }
  return WithReadSnapshot([&](Db& db) {
    return ReadAll<ModelPoint>(
        db.Prepare("SELECT project, experiment, model, metric, value, time_ms FROM ("
                   "SELECT * FROM model_metrics WHERE project = ?1 AND metric = ?2 "
                   "AND (?3 = '' OR experiment = ?3) AND (?4 = '' OR model = ?4) "
                   "AND time_ms > ?5 ORDER BY time_ms DESC, id DESC LIMIT ?6) "
                   "ORDER BY time_ms, id",
                   q.project, q.metric, q.experiment, q.model, q.since_ms,
                   q.last_n == 0 ? int64_t{-1} : q.last_n),
        +[](const Stmt& st) -> absl::StatusOr<ModelPoint> {
          return ModelPoint{.project = st.ColumnText(0),
                            .experiment = st.ColumnText(1),
                            .model = st.ColumnText(2),
                            .metric = st.ColumnText(3),
                            .value = st.ColumnDouble(4),
                            .time_ms = st.ColumnInt(5)};
        });
  });
}

// ---- events ----

absl::Status SqliteStore::AddEvent(int64_t study_id, int64_t trial_id, const std::string& kind,
                                   const std::string& message) {
  return AddEventAt(study_id, trial_id, kind, message, NowMs());
}

absl::Status SqliteStore::RestoreStudyTimes(int64_t study_id, int64_t created_ms,
                                            int64_t finished_ms) {
  if (created_ms < 0 || finished_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("study times must be >= 0 (unix ms), got ", created_ms, " and ", finished_ms));
  }
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    if (absl::Status s = StudyExists(db, study_id); !s.ok()) return s;
    return RunSql(db, "UPDATE studies SET created_ms = ?2, finished_ms = ?3 WHERE id = ?1",
                  study_id, created_ms, finished_ms);
  });
}

absl::Status SqliteStore::RestoreTrialTimes(int64_t trial_id, int64_t created_ms,
                                            int64_t started_ms, int64_t finished_ms) {
  if (created_ms < 0 || started_ms < 0 || finished_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat("trial times must be >= 0 (unix ms), got ",
                                                   created_ms, ", ", started_ms, " and ",
                                                   finished_ms));
  }
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    if (absl::Status s = TrialExists(db, trial_id); !s.ok()) return s;
    return RunSql(db,
                  "UPDATE trials SET created_ms = ?2, started_ms = ?3, finished_ms = ?4 "
                  "WHERE id = ?1",
                  trial_id, created_ms, started_ms, finished_ms);
  });
}

absl::Status SqliteStore::AddEventAt(int64_t study_id, int64_t trial_id, const std::string& kind,
                                     const std::string& message, int64_t time_ms) {
  if (kind.empty()) return absl::InvalidArgumentError("event kind is empty");
  if (time_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("event time must be > 0 (unix ms), got ", time_ms));
  }
  const int64_t now = time_ms;
  absl::MutexLock lock(&write_mu_);
  return WithWriteTransaction([&](Db& db) -> absl::Status {
    if (absl::Status s = StudyExists(db, study_id); !s.ok()) return s;
    if (trial_id != 0) {
      absl::StatusOr<Stmt> st = db.Prepare("SELECT study_id FROM trials WHERE id = ?1", trial_id);
      if (!st.ok()) return st.status();
      absl::StatusOr<bool> row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError(absl::StrCat("no trial with id ", trial_id));
      if (st->ColumnInt(0) != study_id) {
        return absl::InvalidArgumentError(absl::StrCat("trial ", trial_id, " belongs to study ",
                                                       st->ColumnInt(0), ", not to study ",
                                                       study_id));
      }
    }
    absl::StatusOr<Stmt> st = db.Prepare(
        "INSERT INTO events (study_id, trial_id, kind, message, time_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st.ok()) return st.status();
    st->BindInt(1, study_id).BindText(3, kind).BindText(4, message).BindInt(5, now);
    if (trial_id != 0) {
      st->BindInt(2, trial_id);
    } else {
      st->BindNull(2);
    }
    return st->Run();
  });
}

absl::StatusOr<std::vector<Event>> SqliteStore::ListEvents(int64_t study_id) {
  return WithReadSnapshot([&](Db& db) -> absl::StatusOr<std::vector<Event>> {
    if (absl::Status s = StudyExists(db, study_id); !s.ok()) return s;
    return ReadAll<Event>(
        db.Prepare("SELECT id, study_id, COALESCE(trial_id, 0), kind, message, time_ms FROM events "
                   "WHERE study_id = ?1 ORDER BY id",
                   study_id),
        [](const Stmt& row) -> absl::StatusOr<Event> {
          return Event{.id = row.ColumnInt(0),
                       .study_id = row.ColumnInt(1),
                       .trial_id = row.ColumnInt(2),
                       .kind = row.ColumnText(3),
                       .message = row.ColumnText(4),
                       .time_ms = row.ColumnInt(5)};
        });
  });
}

#undef HPT_STUDY_COLUMNS
#undef HPT_TRIAL_COLUMNS

}  // namespace hpt::tracker
