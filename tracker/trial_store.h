// TrialStore: hpt's experiment tracker, one SQLite file (WAL) holding studies, trials, their
// parameters, metric points and events.
//
//   absl::StatusOr<std::unique_ptr<TrialStore>> store = TrialStore::Open({}, "hpt.db");
//   absl::StatusOr<StudyRecord> study = (*store)->CreateStudy({.name = "quickstart", ...});
//   absl::StatusOr<TrialRecord> trial = (*store)->CreateTrial({.study_id = study->id, ...});
//   (*store)->AppendMetrics(trial->id, /*seq=*/1, {{.name = "loss", .value = 0.3}});
//
// Thread-safety: every method may be called from any thread concurrently. Records returned are
// snapshots, never updated in place. Metric points are written by one writer thread that
// group-commits the batches queued by concurrent AppendMetrics callers; AppendMetrics returns only
// after the transaction holding its points has committed (durable at the configured synchronous
// level), and AppendMetricsAsync calls its callback only then. A trial in a terminal state cannot
// change state again (FailedPrecondition).
#ifndef HPT_TRACKER_TRIAL_STORE_H_
#define HPT_TRACKER_TRIAL_STORE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hpt::tracker {

// Katib's trial conditions (v1beta1), plus kPending/kRunning.
enum class TrialState {
  kPending,  // created, not yet started by a runner
  kRunning,
  kSucceeded,
  kFailed,
  kKilled,  // cancelled (study stopped, deadline, user)
  kEarlyStopped,
  kMetricsUnavailable,  // succeeded without reporting the objective
};
// "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "KILLED", "EARLY_STOPPED", "METRICS_UNAVAILABLE".
const char* TrialStateName(TrialState s);
absl::StatusOr<TrialState> ParseTrialState(const std::string& name);
bool IsTerminal(TrialState s);

enum class StudyState { kCreated, kRunning, kSucceeded, kFailed };
// "CREATED", "RUNNING", "SUCCEEDED", "FAILED".
const char* StudyStateName(StudyState s);
// Inverse of StudyStateName; InvalidArgument for anything else.
absl::StatusOr<StudyState> ParseStudyState(const std::string& name);

// Longest metric name AppendMetrics accepts, in bytes.
inline constexpr size_t kMaxMetricNameBytes = 256;

struct StoreOptions {
  // SQLite `synchronous`: "NORMAL" (durable against process crashes; the default, as WAL
  // recommends) or "FULL" (also against power loss; ~10x slower commits).
  std::string synchronous = "NORMAL";
  // Most metric points the writer thread puts in one transaction (a single call larger than this
  // goes alone). Larger groups amortize the commit over more points at the cost of latency for
  // the callers waiting on that commit.
  int max_batch_points = 10000;
  // SQLite busy timeout when another process holds the write lock; past it, writes fail with
  // Unavailable.
  int busy_timeout_ms = 5000;
  // Copy the WAL into the database file on a thread of its own (a connection of its own), instead
  // of inside the commit that crosses SQLite's 1000-page mark, so that the metric writer does not
  // wait for it (bench/RESULTS.md, "hptd metric intake"). The WAL stays below about 64 MiB: past
  // that the writer checkpoints itself between two group commits, which lets the WAL start over.
  // false: SQLite's automatic checkpoints.
  bool background_checkpoints = true;
};

struct NewStudy {
  std::string name;        // unique in the file
  std::string project;     // from annotations (may be empty)
  std::string experiment;  // from annotations (may be empty)
  std::string spec_yaml;   // the study file's exact text
  std::string spec_path;   // where it was read from (informational)
  std::string algorithm;
  std::string objective_metric;
  bool maximize = false;
  uint64_t seed = 0;
  std::map<std::string, std::string> annotations;
};

struct StudyRecord {
  int64_t id = 0;
  std::string name, project, experiment, spec_yaml, spec_path, algorithm, objective_metric;
  bool maximize = false;
  uint64_t seed = 0;
  std::map<std::string, std::string> annotations;
  StudyState state = StudyState::kCreated;
  std::string reason, message;              // e.g. "ExperimentGoalReached"
  int64_t created_ms = 0, finished_ms = 0;  // unix ms; 0 = not yet
};

struct NewTrial {
  int64_t study_id = 0;
  std::string name;  // unique in the file, e.g. "quickstart-00001"
  std::vector<std::pair<std::string, std::string>> params;  // name, value (strings)
  uint64_t seed = 0;
  std::string manifest;    // rendered trial manifest (JSON/YAML text)
  std::string token_hash;  // hex SHA-256 of the trial's token; empty: no token
};

struct TrialRecord {
  int64_t id = 0;
  int64_t study_id = 0;
  std::string name;
  TrialState state = TrialState::kPending;
  std::string reason, message;
  std::optional<double> objective;  // by the study's metric strategy, in the metric's own sense
  std::vector<std::pair<std::string, std::string>> params;
  uint64_t seed = 0;
  std::string manifest;
  std::string token_hash;
  int attempt = 0;
  int64_t created_ms = 0, started_ms = 0, finished_ms = 0;
};

struct MetricPoint {
  std::string name;
  std::optional<int64_t> step;  // absent: next step for (trial, name): 0, 1, 2, ...
  double value = 0;
  int64_t time_ms = 0;  // 0: now
};

// A stored point (step always set).
struct StoredPoint {
  std::string name;
  int64_t step = 0;
  double value = 0;
  int64_t time_ms = 0;
};

// Per-metric summary of one trial, Katib's observation {min, max, latest}.
struct MetricSummary {
  std::string name;
  double min = 0, max = 0, latest = 0;
  int64_t count = 0;
  int64_t last_step = 0;  // step of `latest`
};

// How a leaderboard values a trial's metric (RankQuery::strategy).
enum class RankStrategy {
  kObjective,   // the trial's stored objective (the study's metric, by the study's strategy)
  kMin,         // the metric's smallest value
  kMax,         // its largest value
  kLatest,      // its last reported value
  kBestAtStep,  // its best value (by the order) among points with step <= RankQuery::step
};

// "objective", "min", "max", "latest", "best-at-step".
const char* RankStrategyName(RankStrategy s);

// A leaderboard across studies (TrialStore::RankTrials): trials ranked by one value, top-k per
// (project, experiment) group.
struct RankQuery {
  int64_t study_id = 0;                   // 0: every study
  std::optional<std::string> project;     // only studies of this project ("" included)
  std::optional<std::string> experiment;  // only studies of this experiment
  std::string filter;                     // the trial filter language (tracker/filter.h)
  std::string metric;                     // the ranked metric; ignored by kObjective
  RankStrategy strategy = RankStrategy::kObjective;
  int64_t step = 0;  // kBestAtStep: the last step counted
  // Best first means largest first. Unset: each study's direction (kObjective only; its studies
  // must then agree, per group, on the objective metric and the direction).
  std::optional<bool> descending;
  int limit_per_group = 0;  // top-k of each (project, experiment); 0: every ranked trial
};

// One row of a leaderboard.
struct RankedTrial {
  TrialRecord trial;
  std::string study;                // the study's name
  std::string project, experiment;  // the study's
  double value = 0;                 // the ranked value
  int rank = 0;                     // 1-based, within its (project, experiment) group
};

struct AppendResult {
  int64_t stored = 0;      // points written
  bool duplicate = false;  // `seq` had been seen for this trial: nothing written
};

// How AppendMetricsAsync treats one call.
struct AppendOptions {
  // Refuse the call (FailedPrecondition, nothing stored) when the trial is in a terminal state.
  // Checked inside the transaction that stores the points, so a report racing with the trial's
  // end is either stored before the trial finished or refused, never stored after.
  bool require_open = false;
  // When not empty: the trial's stored token hash must be this one (PermissionDenied otherwise),
  // checked in the same transaction. A caller that authorized the report against a hash it
  // remembered thus never stores points for a trial whose token has since changed, nor for
  // another trial that took over the id of a deleted one.
  std::string expect_token_hash;
};

// Receives the outcome of AppendMetricsAsync: the same result AppendMetrics returns.
using AppendCallback = absl::AnyInvocable<void(absl::StatusOr<AppendResult>) &&>;

struct Event {
  int64_t id = 0;
  int64_t study_id = 0;
  int64_t trial_id = 0;  // 0: study-level
  std::string kind;      // e.g. "TrialFailed"
  std::string message;
  int64_t time_ms = 0;
};

// A retraining trigger as stored (engine/trigger/trigger_spec.h reads its text).
struct TriggerRecord {
  int64_t id = 0;
  std::string name;        // unique in the file
  std::string spec_yaml;   // the RetrainTrigger document's exact text
  std::string spec_path;   // where it was read from (informational)
  std::string study_yaml;  // action.submitStudy.file's text, read when the trigger was applied
  int64_t applied_ms = 0;  // first applied (kept when applied again)
  int64_t updated_ms = 0;  // last applied
  // newBest's baseline: the watched best when the trigger was last applied (null: none yet).
  std::optional<double> baseline;
};

enum class FiringState { kPending, kDone, kFailed };
// "PENDING", "DONE", "FAILED".
const char* FiringStateName(FiringState s);

// One firing of a trigger: claimed (kPending) before its action runs, then finished.
struct TriggerFiring {
  int64_t id = 0;
  int64_t trigger_id = 0;
  std::string trigger;  // the trigger's name (filled when read)
  int64_t time_ms = 0;
  std::optional<double> value, best;  // the evaluation's aggregate and best
  std::string reason;                 // the evaluation's one line
  std::string action;                 // "retrainTrial" or "submitStudy"
  FiringState state = FiringState::kPending;
  std::string result;  // what the action made (a study's name), or why it failed
  int64_t finished_ms = 0;
};

// A point of a deployed model's metric (`hpt report`).
struct ModelPoint {
  std::string project;     // required
  std::string experiment;  // may be empty
  std::string model;       // may be empty
  std::string metric;      // required
  double value = 0;        // finite
  int64_t time_ms = 0;     // 0: now
};

// Which model points ModelSeries returns: project and metric exactly; experiment and model
// exactly when not empty (empty: any).
struct ModelSeriesQuery {
  std::string project, experiment, model, metric;
  int64_t since_ms = 0;  // only points with time_ms > since_ms (0: from the start)
  int64_t last_n = 0;    // only the last n points (by time, then insertion; 0: all)
};

class TrialStore {
 public:
  TrialStore() = default;
  TrialStore(const TrialStore&) = delete;
  TrialStore& operator=(const TrialStore&) = delete;
  virtual ~TrialStore() = default;  // stops the writer thread after draining queued batches

  // Opens (creating if needed) the SQLite file at `path`, enables WAL, runs pending numbered
  // migrations. InvalidArgument for bad options (synchronous other than NORMAL/FULL,
  // max_batch_points < 1, busy_timeout_ms < 0, an empty path or ":memory:"); Unavailable when the
  // file cannot be opened or is locked; DataLoss when it is not an hpt database (not SQLite, or
  // another application's SQLite file) or from a newer hpt. A foreign file is left untouched.
  static absl::StatusOr<std::unique_ptr<TrialStore>> Open(const StoreOptions& options,
                                                          const std::string& path);

  // Returns the stored record (state kCreated). InvalidArgument for an empty name; AlreadyExists
  // when a study with that name exists.
  virtual absl::StatusOr<StudyRecord> CreateStudy(const NewStudy& study) = 0;
  // NotFound when absent.
  virtual absl::StatusOr<StudyRecord> GetStudy(int64_t study_id) = 0;
  virtual absl::StatusOr<StudyRecord> FindStudy(const std::string& name) = 0;
  // All studies, oldest first.
  virtual absl::StatusOr<std::vector<StudyRecord>> ListStudies() = 0;
  // Sets state/reason/message; a terminal state (Succeeded/Failed) also sets finished_ms (kept
  // when already set), a non-terminal one clears it (a resumed study). NotFound when absent.
  virtual absl::Status SetStudyState(int64_t study_id, StudyState state, const std::string& reason,
                                     const std::string& message) = 0;
  // Deletes a study with everything it holds: its trials, their params, metric points and report
  // seqs, its events and annotations, in one transaction. Metric appends for its trials still
  // queued fail NotFound. NotFound when absent.
  virtual absl::Status DeleteStudy(int64_t study_id) = 0;

  // Returns the stored record (state kPending, attempt 0). InvalidArgument for an empty trial or
  // parameter name or a parameter assigned twice; AlreadyExists for a duplicate name; NotFound for
  // an unknown study.
  virtual absl::StatusOr<TrialRecord> CreateTrial(const NewTrial& trial) = 0;
  // NotFound when absent.
  virtual absl::StatusOr<TrialRecord> GetTrial(int64_t trial_id) = 0;
  virtual absl::StatusOr<TrialRecord> FindTrial(const std::string& name) = 0;
  // Trials of a study in creation order. NotFound for an unknown study.
  virtual absl::StatusOr<std::vector<TrialRecord>> ListTrials(int64_t study_id) = 0;
  // Trials of every study (or of study `study_id` when it is not 0) that match `filter`, the
  // trial filter language of tracker/filter.h (empty: every trial), in creation order, at most
  // `limit` (0: all). Answered by SQLite from the metric summaries. InvalidArgument: a filter that
  // does not parse (the message points at its column) or a negative limit; NotFound: an unknown
  // study.
  virtual absl::StatusOr<std::vector<TrialRecord>> FindTrials(const std::string& filter,
                                                              int64_t study_id, int limit) = 0;
  // Moves a trial to `state` (Running sets started_ms; terminal states set finished_ms and
  // `objective` when given). FailedPrecondition when the trial is already terminal.
  // Details: Pending -> Running, Running -> Pending (a requeue), Pending/Running -> terminal and
  // Running -> Running (new reason/message) are allowed. Each move into Running from another
  // state increments `attempt`; started_ms is the first start. InvalidArgument for an objective
  // with a non-terminal state or a non-finite objective; NotFound for an unknown trial.
  virtual absl::Status SetTrialState(int64_t trial_id, TrialState state, const std::string& reason,
                                     const std::string& message,
                                     std::optional<double> objective = std::nullopt) = 0;
  // Replaces a trial's token hash (hex SHA-256 of its token; empty: no token is accepted). A
  // trial run again after an engine restart gets a new token, so that the process of its lost
  // attempt can no longer report: appends checked against the old hash
  // (AppendOptions::expect_token_hash) are refused from the commit of this call on.
  // FailedPrecondition when the trial is already terminal; NotFound for an unknown trial.
  virtual absl::Status SetTrialTokenHash(int64_t trial_id, const std::string& token_hash) = 0;

  // Appends points to a trial; returns after they are committed. `seq` > 0 makes the call
  // idempotent per trial (a replay returns {0, duplicate=true}); seq 0 disables dedup.
  // NotFound: unknown trial. InvalidArgument: non-finite value or empty name.
  // Also InvalidArgument: a name longer than kMaxMetricNameBytes, a negative step or time_ms.
  // Any error means nothing of the call was stored. Seqs are remembered until DeleteMetrics
  // (also across reopening the file); a call with seq 0 and no points stores nothing. The trial's
  // state is not checked (AppendMetricsAsync can). Unavailable when the store is closing or the
  // file is locked past the busy timeout.
  virtual absl::StatusOr<AppendResult> AppendMetrics(int64_t trial_id, uint64_t seq,
                                                     const std::vector<MetricPoint>& points) = 0;
  // AppendMetrics without waiting, and with `options`: queues the points and returns at once;
  // `done` receives what AppendMetrics would have returned (plus FailedPrecondition under
  // `options.require_open`), once the transaction holding the points has committed (or the call
  // failed). `done` runs on the store's completion thread, or on the calling thread before this
  // returns when the call is refused without queuing (invalid points, store closing); it must be
  // quick and must not block (hand the result on, e.g. finish a gRPC call). Every call gets
  // exactly one `done`; the store's destructor writes and answers everything queued first.
  virtual void AppendMetricsAsync(int64_t trial_id, uint64_t seq, std::vector<MetricPoint> points,
                                  const AppendOptions& options, AppendCallback done) = 0;
  // Points of one metric (all metrics when `name` is empty) in insertion order; empty for a
  // metric never reported. Read from the points' key (trial, metric, insertion order): the cost
  // is that of the points returned, whatever else the file holds. NotFound: unknown trial.
  virtual absl::StatusOr<std::vector<StoredPoint>> MetricHistory(int64_t trial_id,
                                                                 const std::string& name) = 0;
  // {min, max, latest, count} per metric of a trial, by metric name. `latest` is the value of the
  // last point stored. NotFound: unknown trial.
  virtual absl::StatusOr<std::vector<MetricSummary>> Summaries(int64_t trial_id) = 0;
  // Deletes every metric point of a trial (Katib's DeleteObservationLog), and forgets its report
  // seqs, so a rerun may start its seqs and auto steps from the beginning. NotFound: unknown
  // trial.
  virtual absl::Status DeleteMetrics(int64_t trial_id) = 0;

  // Trials of a study that have an objective, best first (by the study's direction), at most
  // `limit` (0 = all). Equal objectives keep creation order. NotFound: unknown study;
  // InvalidArgument: negative limit.
  virtual absl::StatusOr<std::vector<TrialRecord>> Leaderboard(int64_t study_id, int limit) = 0;

  // Trials ranked by `query` (see RankQuery), grouped by their study's (project, experiment)
  // in that order, each group best first (ties: creation order), with params. Trials without a
  // value (no objective; metric never reported; no point at or before `step`) are left out.
  // Answered by SQLite from the metric summaries (kBestAtStep reads the metric's points).
  // InvalidArgument: a filter that does not parse, an empty metric for a metric strategy, a
  // negative step or limit, or (kObjective without `descending`) a group whose studies differ in
  // objective metric or direction, naming them. NotFound: an unknown study.
  virtual absl::StatusOr<std::vector<RankedTrial>> RankTrials(const RankQuery& query) = 0;

  // Records an event stamped now; `trial_id` 0 for a study-level event. InvalidArgument for an
  // empty kind or a trial of another study; NotFound for an unknown study or trial.
  virtual absl::Status AddEvent(int64_t study_id, int64_t trial_id, const std::string& kind,
                                const std::string& message) = 0;
  // AddEvent with its time given (`time_ms` > 0, else InvalidArgument): for restoring a record
  // (hpt import).
  virtual absl::Status AddEventAt(int64_t study_id, int64_t trial_id, const std::string& kind,
                                  const std::string& message, int64_t time_ms) = 0;
  // For restoring a record (hpt import): overwrite the times the store stamped with the
  // record's (unix ms; 0 = not yet). Call after the last state change, which stamps times again.
  // NotFound for an unknown id; InvalidArgument for a negative time.
  virtual absl::Status RestoreStudyTimes(int64_t study_id, int64_t created_ms,
                                         int64_t finished_ms) = 0;
  virtual absl::Status RestoreTrialTimes(int64_t trial_id, int64_t created_ms, int64_t started_ms,
                                         int64_t finished_ms) = 0;
  // ---- retraining triggers and deployed models' metrics ----
  // Stores a trigger by name: a new one (id, applied_ms = updated_ms = now), or replaces the
  // text, study text and baseline of the one with that name (keeping its id, applied_ms and
  // firings, so its cooldown goes on). `*created` (may be null) says which. InvalidArgument for
  // an empty name or text.
  virtual absl::StatusOr<TriggerRecord> ApplyTrigger(const TriggerRecord& trigger,
                                                     bool* created) = 0;
  // NotFound when absent.
  virtual absl::StatusOr<TriggerRecord> FindTrigger(const std::string& name) = 0;
  // All triggers, by name.
  virtual absl::StatusOr<std::vector<TriggerRecord>> ListTriggers() = 0;
  // Deletes a trigger and its firings. NotFound when absent.
  virtual absl::Status DeleteTrigger(const std::string& name) = 0;
  // Records `firing` (state kPending) unless the trigger's last firing is less than
  // `cooldown_ms` before firing.time_ms, all in one IMMEDIATE transaction: two engines (or one
  // restarted) evaluating the same trigger thus fire it at most once per cooldown. Returns the
  // stored firing, or nullopt when the cooldown refused it. NotFound for an unknown trigger;
  // InvalidArgument for a negative cooldown or time.
  virtual absl::StatusOr<std::optional<TriggerFiring>> ClaimFiring(const TriggerFiring& firing,
                                                                   int64_t cooldown_ms) = 0;
  // Ends a firing (kDone or kFailed) with its result at `finished_ms` (unix ms; 0: now).
  // NotFound for an unknown id; InvalidArgument for kPending or a negative time.
  virtual absl::Status FinishFiring(int64_t firing_id, FiringState state, const std::string& result,
                                    int64_t finished_ms = 0) = 0;
  // Firings of one trigger (all triggers when 0), oldest first; the last `limit` (0: all).
  // NotFound for an unknown trigger.
  virtual absl::StatusOr<std::vector<TriggerFiring>> ListFirings(int64_t trigger_id, int limit) = 0;
  // Stores deployed-model metric points in one transaction. InvalidArgument (nothing stored) for
  // an empty project or metric, a non-finite value, a negative time, naming the point.
  virtual absl::Status AppendModelMetrics(const std::vector<ModelPoint>& points) = 0;
  // The points `query` selects, oldest first (by time, then insertion). InvalidArgument for an
  // empty project or metric, or a negative since_ms / last_n.
  virtual absl::StatusOr<std::vector<ModelPoint>> ModelSeries(const ModelSeriesQuery& query) = 0;

  // Events of a study, oldest first. NotFound for an unknown study.
  virtual absl::StatusOr<std::vector<Event>> ListEvents(int64_t study_id) = 0;
};

}  // namespace hpt::tracker

#endif  // HPT_TRACKER_TRIAL_STORE_H_
