// StudyController: runs one study to completion on the embedded default (`hpt run`): asks the
// sampler for assignments, records each trial, renders its template, launches it on a runner,
// watches it, takes its objective, and stops the study by Katib's completion rules.
//
//   StudyController c(spec, store, runner, {.endpoint = "127.0.0.1:4711"});
//   absl::StatusOr<tracker::StudyRecord> done = c.Run();   // blocks until the study completes
//
// Completion (v1beta1, CONTRACT.md §5.2, in order): goal reached (inclusive) -> Succeeded
// "ExperimentGoalReached"; failed + metricsUnavailable >= maxFailedTrialCount (when set, != 0) ->
// Failed "ExperimentFailed"; finished trials >= maxTrialCount -> Succeeded
// "ExperimentMaxTrialsReached"; the sampler has nothing more (grid exhausted) -> Succeeded
// "ExperimentSuggestionEndReached". v1alpha1: rounds of requestNumber trials, requestcount rounds,
// a strict goal on the objective's last value; failed workers never fail the study.
// Trials still running when the study completes are stopped (state KILLED) unless
// `stop_running_on_completion` is false. A trial whose objective was never reported ends
// METRICS_UNAVAILABLE. Metrics come over gRPC; when a trial reported none, its log (StdOut
// collector) or metrics file (File collector) is parsed as the fallback channel.
// With spec.hpt.warmStart (engine/warm_start.h), the named studies' trials are read once when
// Run() starts (a fresh study or a resumed one), mapped into this study's space, recorded as one
// "WarmStart" event, and handed to every Suggest call before the study's own trials; they never
// count toward maxTrialCount, the trial numbering or early stopping. A named study the store does
// not have fails Run() with NotFound before anything is written (when resuming, it is left out and
// the event says so); one with another objective metric, FailedPrecondition.
// With spec.earlyStopping (medianstop, engine/early_stopping.h), running trials whose objective
// falls behind the rule are stopped and recorded EARLY_STOPPED ("TrialEarlyStopped"); their slot
// is free at once.
// Every trial gets HPT_TRIAL_ATTEMPT (1, then 2, ... for each retry) in its environment.
// A trial the runner reports Preempted is run again (same parameters, seed and token; the next
// attempt) up to spec.hpt.kubernetes.preemptionRetries times without counting as failed: it goes
// back to PENDING, the points the preempted attempt reported are deleted (an event records how
// many) so the retry starts clean, and a TrialPreempted event is recorded. Past the budget the
// trial ends FAILED with the disruption's reason.
//
// Thread-safety: Run() is called once, from one thread; RequestStop(), RequestDetach() and
// SetLimits() may be called from any thread (they only set flags that Run() reads).
#ifndef HPT_ENGINE_CONTROLLER_H_
#define HPT_ENGINE_CONTROLLER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"
#include "tracker/trial_store.h"
#include "trial_runner/trial_runner.h"

namespace hpt::engine {

struct Progress {
  std::string study;
  int created = 0, pending = 0, running = 0, succeeded = 0, failed = 0, killed = 0,
      metrics_unavailable = 0, early_stopped = 0;
  std::optional<int> max_trials;  // nullopt: unlimited
  std::optional<double> best;     // the objective in its own sense
  std::string best_trial;
  std::string last_event;  // e.g. "quickstart-00004 SUCCEEDED loss=0.0123"
  int finished() const { return succeeded + failed + killed + metrics_unavailable + early_stopped; }
};

struct ControllerOptions {
  // HPT_ENDPOINT handed to trials (host:port): where they reach the metrics service. For
  // trials in a cluster, an address their pods can reach (e.g. hptd's Service); when they
  // cannot reach any, the StdOut/File collectors still read their logs.
  std::string endpoint;
  std::string runs_dir = "hpt-runs";  // per-trial directories: <runs_dir>/<study>/<trial>/
  std::string python_path;            // prepended to trials' PYTHONPATH (hpt_client), if set
  std::string study_name;             // overrides metadata.name; empty: the spec's name
  int poll_interval_ms = 100;         // how often running trials are polled
  bool stop_running_on_completion = true;
  // The runner runs trials in a cluster (the Kubernetes runner): trials get no local working
  // directory, HPT_TRIAL_DIR or PYTHONPATH; their logs still land in <runs_dir>/<study>/<trial>/.
  bool cluster = false;
  std::function<void(const Progress&)> on_progress;  // after every state change; may be empty
  // Continue the stored study of this name (options.study_name, else the spec's) instead of
  // creating one: its trials count, the trial numbering and the seed go on where they were. The
  // study must exist and have no unfinished trials (FailedPrecondition otherwise) unless
  // `recover`.
  bool resume = false;
  // With `resume`, after an engine restart: the study's unfinished trials that the runner still
  // has (TrialRunner::Adopt: Kubernetes Jobs) are followed again, never launched twice. For each
  // other one the runner first stops whatever is left of it (TrialRunner::Reclaim: the local
  // runner kills the process group the dead engine orphaned); then the trial is run again once
  // (same parameters and seed, the next attempt, a new token so that the lost attempt can no
  // longer report, its points deleted, a "TrialRequeued" event saying why and how many points
  // were dropped). A trial that already has a TrialRequeued event, or whose runner cannot vouch
  // that nothing of it still runs (Reclaim not OK: the Kubernetes runner), ends FAILED
  // "TrialLost". What is left of finished trials (an early-stopped trial's process) is stopped
  // too.
  bool recover = false;
  // How the tracker file is named in messages (its path, e.g. "hpt.db"); empty: "the tracker
  // file". Used by spec.hpt.warmStart's NotFound error.
  std::string store_name;
};

// Budget changes of a running study (Katib lets parallelTrialCount, maxTrialCount and
// maxFailedTrialCount change while an Experiment runs); unset members keep their value.
struct StudyLimits {
  std::optional<int> parallel_trial_count;    // >= 1
  std::optional<int> max_trial_count;         // >= 1
  std::optional<int> max_failed_trial_count;  // >= 0
};

class StudyController {
 public:
  StudyController(StudySpec spec, tracker::TrialStore* store, runner::TrialRunner* runner,
                  ControllerOptions options);
  StudyController(const StudyController&) = delete;
  StudyController& operator=(const StudyController&) = delete;

  // Creates the study in the store (the name gets a "-2", "-3", ... suffix when taken) and runs
  // it to completion. Returns the study's final record. Errors: InvalidArgument/Unimplemented
  // for a study the sampler cannot serve; NotFound for a spec.hpt.warmStart study the store does
  // not have and FailedPrecondition for one with another objective metric (nothing is written
  // then; when resuming, InvalidArgument for a warmStart naming the resumed study itself); store
  // errors as they come.
  absl::StatusOr<tracker::StudyRecord> Run();

  // Asks Run() to stop: running trials are cancelled (KILLED) unless `let_running_finish`, in
  // which case no new trial starts and Run() waits for the running ones. The study ends Failed
  // with reason "ExperimentStopped". Async-signal-safe.
  void RequestStop(bool let_running_finish = false) {
    let_running_finish_.store(let_running_finish);
    stop_.store(true);
  }
  // Asks Run() to return at once, leaving the study RUNNING in the store and its trials to the
  // runner (a daemon shutting down: a restart picks them up). Async-signal-safe.
  void RequestDetach() { detach_.store(true); }
  // Changes the budget of the running study (or of the next Run()). InvalidArgument for a value
  // out of range, naming it; v1alpha1 StudyJobs (rounds) take no changes (FailedPrecondition).
  absl::Status SetLimits(const StudyLimits& limits);

 private:
  StudySpec spec_;
  tracker::TrialStore* store_;
  runner::TrialRunner* runner_;
  ControllerOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> let_running_finish_{false};
  std::atomic<bool> detach_{false};
  // The live budget; -1 = unlimited / unset.
  std::atomic<int> parallel_;
  std::atomic<int> max_trials_;
  std::atomic<int> max_failed_;
};

// The seed of a study: spec.hpt.seed, else a hash of the study's name, so a re-run (and
// `hpt render`) reproduces the same suggestions.
uint64_t StudySeed(const StudySpec& spec, const std::string& study_name);

// The name of the index-th trial (1-based) of a study: "<study>-00001".
std::string TrialName(const std::string& study_name, int index);

// A metric's value by its strategy in the study (min / max / latest); a metric the study does
// not name (reported but not declared) gives its latest value.
double ValueByStrategy(const StudySpec& spec, const tracker::MetricSummary& metric);

// A study's progress counted from its stored trials: states counted, the best objective by the
// study's direction.
Progress ProgressFromTrials(const tracker::StudyRecord& study,
                            const std::vector<tracker::TrialRecord>& trials);

// The objective of a trial from its metric summaries by the study's strategy; nullopt when the
// objective metric was never reported.
std::optional<double> ObjectiveFrom(const StudySpec& spec,
                                    const std::vector<tracker::MetricSummary>& summaries);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_CONTROLLER_H_
