// SqliteStore: the TrialStore over one SQLite file in WAL mode. Internal to tracker/ (like
// leveldb's db_impl.h): TrialStore::Open builds one; nothing outside the module includes this.
//
// Connections and threads:
//  - one write connection (write_mu_) for every write: direct writes (CreateStudy, SetTrialState,
//    ...) lock it for one IMMEDIATE transaction; the writer thread locks it per group commit;
//  - a pool of query-only read connections (read_mu_ guards the idle ones); WAL lets them read
//    while a write transaction is open, and each read sees every commit made before it began;
//  - one writer thread: AppendMetrics[Async] validates its input and queues a PendingAppend
//    (queue_mu_); the writer takes every queued batch up to max_batch_points, writes each under
//    its own SAVEPOINT in one transaction (checking the trial there), commits, and hands the
//    batches with their results to
//  - one completion thread (done_mu_), which runs the callers' callbacks, so that the writer goes
//    on to the next group at once. AppendMetrics is AppendMetricsAsync plus a wait;
//  - with StoreOptions::background_checkpoints, one checkpoint thread with a connection of its
//    own, which copies the WAL into the database file when a commit asks (checkpoint_mu_); the
//    writer connection makes no automatic checkpoints, and checkpoints itself only when the WAL
//    has outgrown kWalBoundFrames (the WAL restarts only after a checkpoint that caught up, which
//    a busy writer rarely leaves time for).
// Lock order: write_mu_ before checkpoint_mu_; the others are never held together.
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
  absl::Status DeleteStudy(int64_t study_id) override;

  absl::StatusOr<TrialRecord> CreateTrial(const NewTrial& trial) override;
  absl::StatusOr<TrialRecord> GetTrial(int64_t trial_id) override;
  absl::StatusOr<TrialRecord> FindTrial(const std::string& name) override;
  absl::StatusOr<std::vector<TrialRecord>> ListTrials(int64_t study_id) override;
  absl::StatusOr<std::vector<TrialRecord>> FindTrials(const std::string& filter, int64_t study_id,
                                                      int limit) override;
  absl::Status SetTrialState(int64_t trial_id, TrialState state, const std::string& reason,
                             const std::string& message, std::optional<double> objective) override;
  absl::Status SetTrialTokenHash(int64_t trial_id, const std::string& token_hash) override;

  absl::StatusOr<AppendResult> AppendMetrics(int64_t trial_id, uint64_t seq,
                                             const std::vector<MetricPoint>& points) override;
  void AppendMetricsAsync(int64_t trial_id, uint64_t seq, std::vector<MetricPoint> points,
                          const AppendOptions& options, AppendCallback done) override;
  absl::StatusOr<std::vector<StoredPoint>> MetricHistory(int64_t trial_id,
                                                         const std::string& name) override;
  absl::StatusOr<std::vector<MetricSummary>> Summaries(int64_t trial_id) override;
  absl::Status DeleteMetrics(int64_t trial_id) override;

  absl::StatusOr<std::vector<TrialRecord>> Leaderboard(int64_t study_id, int limit) override;
  absl::StatusOr<std::vector<RankedTrial>> RankTrials(const RankQuery& query) override;
  absl::StatusOr<TriggerRecord> ApplyTrigger(const TriggerRecord& trigger, bool* created) override;
  absl::StatusOr<TriggerRecord> FindTrigger(const std::string& name) override;
  absl::StatusOr<std::vector<TriggerRecord>> ListTriggers() override;
  absl::Status DeleteTrigger(const std::string& name) override;
  absl::StatusOr<std::optional<TriggerFiring>> ClaimFiring(const TriggerFiring& firing,
                                                           int64_t cooldown_ms) override;
  absl::Status FinishFiring(int64_t firing_id, FiringState state, const std::string& result,
                            int64_t finished_ms) override;
  absl::StatusOr<std::vector<TriggerFiring>> ListFirings(int64_t trigger_id, int limit) override;
  absl::Status AppendModelMetrics(const std::vector<ModelPoint>& points) override;
  absl::StatusOr<std::vector<ModelPoint>> ModelSeries(const ModelSeriesQuery& query) override;

  absl::Status AddEvent(int64_t study_id, int64_t trial_id, const std::string& kind,
                        const std::string& message) override;
  absl::Status AddEventAt(int64_t study_id, int64_t trial_id, const std::string& kind,
                          const std::string& message, int64_t time_ms) override;
  absl::Status RestoreStudyTimes(int64_t study_id, int64_t created_ms,
                                 int64_t finished_ms) override;
  absl::Status RestoreTrialTimes(int64_t trial_id, int64_t created_ms, int64_t started_ms,
                                 int64_t finished_ms) override;
  absl::StatusOr<std::vector<Event>> ListEvents(int64_t study_id) override;

 private:
  // One queued AppendMetrics[Async] call, owned by the queue, then by the writer, then by the
  // completion thread, which runs `done` and destroys it.
  struct PendingAppend {
    int64_t trial_id = 0;
    uint64_t seq = 0;
    std::vector<MetricPoint> owned;  // AppendMetricsAsync's points
    // The points: `owned`, or the vector of an AppendMetrics caller that waits for `done`.
    const std::vector<MetricPoint>* points = nullptr;
    AppendOptions options;
    AppendCallback done;
    absl::StatusOr<AppendResult> result;
  };
  using Group = std::vector<std::unique_ptr<PendingAppend>>;

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

  // `checkpointer`: the checkpoint thread's connection; null without background checkpoints.
  SqliteStore(const StoreOptions& options, std::string path, std::unique_ptr<sqlite::Db> writer,
              std::unique_ptr<sqlite::Db> checkpointer);

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
  void ReleaseReader(std::unique_ptr<sqlite::Db> db);

  // Validates and queues `p`; runs its callback at once when it is refused.
  void Enqueue(std::unique_ptr<PendingAppend> p);
  void WriterLoop();
  void CompletionLoop();
  void CheckpointLoop();
  bool CheckpointReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_);
  // After a commit on the writer connection: asks the checkpoint thread for a checkpoint, or
  // checkpoints here when the WAL has outgrown its bound.
  void AfterCommit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  bool QueueReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_);
  bool CompletionReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(done_mu_);
  // Writes `group` in one transaction and sets each batch's result.
  void WriteGroup(const Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Drops the caches that another connection's commits (another process) may have made stale.
  absl::Status NoticeForeignWrites() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes one batch inside the group's open transaction, taking insertion orders from
  // `next_ord`. A non-OK result is that batch's own failure (its savepoint is rolled back and
  // `next_ord` restored); `fatal` is set when the transaction itself is broken.
  absl::StatusOr<AppendResult> WriteBatch(const PendingAppend& batch, int64_t now,
                                          const Staged& group, Staged& staged, int64_t& next_ord,
                                          absl::Status& fatal)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Checks inside the open transaction that the trial exists (NotFound) and, when asked, that it
  // has not finished (FailedPrecondition).
  absl::Status CheckTrial(const PendingAppend& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<int64_t> MetricNameId(const std::string& name, const Staged& group, Staged& staged)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // max(step) + 1 of a metric of a trial (0 for none), read from the table inside the open
  // transaction.
  // Drops the cached next steps of the trials `gone(trial_id)` says (their points were deleted,
  // and SQLite may give a deleted trial's id to a new one).
  void ForgetNextSteps(absl::FunctionRef<bool(int64_t)> gone)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<int64_t> NextStepFromTable(const StepKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const StoreOptions options_;
  const std::string path_;

  absl::Mutex write_mu_;
  std::unique_ptr<sqlite::Db> writer_db_ ABSL_GUARDED_BY(write_mu_);
  // Committed metric name ids and next auto-assigned step per (trial, name). Caches only: an
  // absent entry is read from the database.
  absl::flat_hash_map<std::string, int64_t> name_ids_ ABSL_GUARDED_BY(write_mu_);
  absl::flat_hash_map<StepKey, int64_t> next_steps_ ABSL_GUARDED_BY(write_mu_);

  // The writer connection's PRAGMA data_version when it last looked (-1: never): it changes when
  // another connection commits.
  int64_t data_version_ ABSL_GUARDED_BY(write_mu_) = -1;
  // The WAL's size in pages when a background checkpoint was last asked for.
  int checkpoint_asked_at_ ABSL_GUARDED_BY(write_mu_) = 0;

  absl::Mutex read_mu_;
  std::vector<std::unique_ptr<sqlite::Db>> idle_readers_ ABSL_GUARDED_BY(read_mu_);

  absl::Mutex queue_mu_;
  std::deque<std::unique_ptr<PendingAppend>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool closing_ ABSL_GUARDED_BY(queue_mu_) = false;

  absl::Mutex done_mu_;
  std::deque<std::unique_ptr<PendingAppend>> completed_ ABSL_GUARDED_BY(done_mu_);
  bool writer_finished_ ABSL_GUARDED_BY(done_mu_) = false;

  absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpoint_stop_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  std::unique_ptr<sqlite::Db> checkpoint_db_;  // used by the checkpoint thread only

  std::thread writer_thread_;
  std::thread completion_thread_;
  std::thread checkpoint_thread_;
};

}  // namespace hpt::tracker

#endif  // HPT_TRACKER_SQLITE_STORE_H_
