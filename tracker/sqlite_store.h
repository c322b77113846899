// SqliteStore: the TrialStore over one SQLite file in WAL mode. Internal to tracker/ (like
// leveldb's db_impl.h): TrialStore::Open builds one; nothing outside the module includes this.
//
// Connections and threads:
//  - one write connection (write_mu_) for every write: direct writes (CreateStudy, SetTrialState,
//    ...) lock it for one IMMEDIATE transaction; the writer thread locks it per group commit;
//  - a pool of query-only read connections (read_mu_ guards the idle ones); WAL lets them read
//    while a write transaction is open, and each read sees every commit made before it began;
//  - one writer thread: AppendMetrics validates its input and the trial, queues a PendingAppend
//    (queue_mu_) and waits on its `done` flag; the writer takes every queued batch up to
//    max_batch_points, writes each under its own SAVEPOINT in one transaction, commits, and only
//    then marks the batches done with their own results.
// Lock order: the three mutexes are never held together.
#ifndef HPT_TRACKER_SQLITE_STORE_H_
#define HPT_TRACKER_SQLITE_STORE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tracker/sqlite_util.h"
#include "tracker/trial_store.h"

namespace hpt::tracker {

class SqliteStore final : public TrialStore {
 public:
  // See TrialStore::Open.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const StoreOptions& options,
                                                           const std::string& path);
  ~SqliteStore() override;

  absl::StatusOr<StudyRecord> CreateStudy(const NewStudy& study) override;
  absl::StatusOr<StudyRecord> GetStudy(int64_t study_id) override;
  absl::StatusOr<StudyRecord> FindStudy(const std::string& name) override;
  absl::StatusOr<std::vector<StudyRecord>> ListStudies() override;
  absl::Status SetStudyState(int64_t study_id, StudyState state, const std::string& reason,
                             const std::string& message) override;

  absl::StatusOr<TrialRecord> CreateTrial(const NewTrial& trial) override;
  absl::StatusOr<TrialRecord> GetTrial(int64_t trial_id) override;
  absl::StatusOr<TrialRecord> FindTrial(const std::string& name) override;
  absl::StatusOr<std::vector<TrialRecord>> ListTrials(int64_t study_id) override;
  absl::Status SetTrialState(int64_t trial_id, TrialState state, const std::string& reason,
                             const std::string& message, std::optional<double> objective) override;

  absl::StatusOr<AppendResult> AppendMetrics(int64_t trial_id, uint64_t seq,
                                             const std::vector<MetricPoint>& points) override;
  absl::StatusOr<std::vector<StoredPoint>> MetricHistory(int64_t trial_id,
                                                         const std::string& name) override;
  absl::StatusOr<std::vector<MetricSummary>> Summaries(int64_t trial_id) override;
  absl::Status DeleteMetrics(int64_t trial_id) override;

  absl::StatusOr<std::vector<TrialRecord>> Leaderboard(int64_t study_id, int limit) override;

  absl::Status AddEvent(int64_t study_id, int64_t trial_id, const std::string& kind,
                        const std::string& message) override;
  absl::StatusOr<std::vector<Event>> ListEvents(int64_t study_id) override;

 private:
  // One AppendMetrics call waiting for the writer thread. Lives on the caller's stack; the writer
  // must not touch it after setting `done`.
  struct PendingAppend {
    int64_t trial_id = 0;
    uint64_t seq = 0;
    const std::vector<MetricPoint>* points = nullptr;
    absl::StatusOr<AppendResult> result;
    bool done = false;  // guarded by queue_mu_
  };

  using StepKey = std::pair<int64_t, int64_t>;  // (trial id, metric name id)

  // Name ids and next steps written by an open transaction; they reach the caches only after the
  // transaction commits, and are dropped with a rolled-back savepoint.
  struct Staged {
    absl::flat_hash_map<std::string, int64_t> name_ids;
    absl::flat_hash_map<StepKey, int64_t> next_steps;
  };

  // A read connection borrowed from the pool; returned to it on destruction.
  class Reader {
   public:
    Reader(SqliteStore* store, std::unique_ptr<sqlite::Db> db)
        : store_(store), db_(std::move(db)) {}
    Reader(Reader&&) = default;
    ~Reader();
    sqlite::Db& db() { return *db_; }

   private:
    SqliteStore* store_;
    std::unique_ptr<sqlite::Db> db_;
  };

  SqliteStore(const StoreOptions& options, std::string path, std::unique_ptr<sqlite::Db> writer);

  absl::StatusOr<Reader> AcquireReader();
  // Runs `fn(db)` (returning a Status or StatusOr) on a pooled read connection inside a deferred
  // transaction, so that all of fn's statements read one snapshot; returns fn's result, or the
  // error acquiring the connection or beginning the transaction. Defined in sqlite_store.cc, the
  // only place it is used.
  template <typename Fn>
  std::invoke_result_t<Fn&, sqlite::Db&> WithReadSnapshot(Fn fn);
  // Runs `fn(db)` on the write connection inside an IMMEDIATE transaction and commits it when fn
  // returns OK; otherwise the transaction rolls back and fn's error is returned. The commit's
  // error is returned when it fails.
  absl::Status WithWriteTransaction(absl::FunctionRef<absl::Status(sqlite::Db&)> fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // OK when trial `trial_id` exists (NotFound otherwise), from known_trials_ or a read.
  absl::Status CheckTrialExists(int64_t trial_id);
  void ReleaseReader(std::unique_ptr<sqlite::Db> db);

  void WriterLoop();
  bool QueueReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_);
  // Writes `group` in one transaction and sets each batch's result.
  void WriteGroup(const std::vector<PendingAppend*>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes one batch inside the group's open transaction. A non-OK result is that batch's own
  // failure (its savepoint is rolled back); `fatal` is set when the transaction itself is broken.
  absl::StatusOr<AppendResult> WriteBatch(const PendingAppend& batch, int64_t now,
                                          const Staged& group, Staged& staged, absl::Status& fatal)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<int64_t> MetricNameId(const std::string& name, const Staged& group, Staged& staged)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<int64_t> NextStep(const StepKey& key, const Staged& group, const Staged& staged)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const StoreOptions options_;
  const std::string path_;

  absl::Mutex write_mu_;
  std::unique_ptr<sqlite::Db> writer_db_ ABSL_GUARDED_BY(write_mu_);
  // Committed metric name ids and next auto-assigned step per (trial, name). Caches only: an
  // absent entry is read from the database.
  absl::flat_hash_map<std::string, int64_t> name_ids_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_map<StepKey, int64_t> next_steps_ ABSL_GUARDED_BY(write_mu_);

  absl::Mutex read_mu_;
  std::vector<std::unique_ptr<sqlite::Db>> idle_readers_ ABSL_GUARDED_BY(read_mu_);
  // Trials AppendMetrics has seen in the file (trials are never deleted), so that a report costs
  // no read; bounded, refilled on demand.
  absl::flat_hash_set<int64_t> known_trials_ ABSL_GUARDED_BY(read_mu_);

  absl::Mutex queue_mu_;
  std::deque<PendingAppend*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool closing_ ABSL_GUARDED_BY(queue_mu_) = false;

  std::thread writer_thread_;
};

}  // namespace hpt::tracker

#endif  // HPT_TRACKER_SQLITE_STORE_H_
