// StudyManager: many studies at once in one process (hptd): each submitted study gets its own
// StudyController on its own thread, all sharing one tracker and one trial runner. It answers
// for the StudyService: submit, get, list, stop, resume, budget changes and watching.
//
//   StudyManager manager(store, runner, {.endpoint = "hptd.ml.svc:7070"});
//   absl::StatusOr<StudyView> s = manager.Submit(yaml, "study.yaml", {});
//   for (uint64_t version = 0;;) {   // follow it
//     absl::StatusOr<StudyUpdate> u = manager.WaitForChange(s->record.name, version,
//                                                           absl::Seconds(30));
//     if (!u.ok() || !u->view.live) break;
//     version = u->version;
//   }
//
// Thread-safety: thread-safe. The destructor detaches every running controller (their studies
// stay RUNNING in the store, their trials with the runner) and joins their threads.
#ifndef HPT_ENGINE_STUDY_MANAGER_H_
#define HPT_ENGINE_STUDY_MANAGER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/controller.h"
#include "tracker/trial_store.h"
#include "trial_runner/trial_runner.h"

namespace hpt::engine {

struct StudyManagerOptions {
  std::string endpoint;               // HPT_ENDPOINT for trials
  std::string runs_dir = "hpt-runs";  // per-trial directories
  std::string python_path;            // prepended to local trials' PYTHONPATH
  bool cluster = false;               // the runner runs trials in a cluster
  int poll_interval_ms = 100;
  // How the tracker file is named in messages (ControllerOptions::store_name: its path).
  std::string store_name;
};

// A study as the service shows it: the stored record and its progress (live from the
// controller while it runs, counted from the stored trials otherwise).
struct StudyView {
  tracker::StudyRecord record;
  Progress progress;
  int parallel_trial_count = 0;
  std::optional<int> max_failed_trial_count;
  bool live = false;
};

struct StudyUpdate {
  StudyView view;
  uint64_t version = 0;  // increases with every change of this study
  // The controller's events after the version asked about, oldest first (at most the last
  // kMaxEvents of them are kept per study).
  std::vector<std::string> events;
};

struct SubmitOptions {
  std::string name;           // overrides metadata.name
  bool allow_rename = false;  // a taken name gets -2, -3, ...; otherwise AlreadyExists
};

class StudyManager {
 public:
  StudyManager(tracker::TrialStore* store, runner::TrialRunner* runner,
               StudyManagerOptions options);
  ~StudyManager();
  StudyManager(const StudyManager&) = delete;
  StudyManager& operator=(const StudyManager&) = delete;

  // Loads and checks the study text (InvalidArgument with every problem as file:line:column;
  // Unimplemented for what hpt does not support yet), stores it and starts running it.
  // AlreadyExists when the name is taken (unless allow_rename); Unavailable after Shutdown().
  absl::StatusOr<StudyView> Submit(const std::string& yaml, const std::string& file_name,
                                   const SubmitOptions& options);
  // NotFound for an unknown study.
  absl::StatusOr<StudyView> Get(const std::string& name);
  absl::StatusOr<std::vector<StudyView>> List();
  // FailedPrecondition when the study is not running in this process.
  absl::StatusOr<StudyView> Stop(const std::string& name, bool let_running_finish);
  // Runs a stopped or finished study again (same trials and seed), with a new maxTrialCount when
  // given. FailedPrecondition when it is running, or when it ended at its maxTrialCount and none
  // larger is given; InvalidArgument for a maxTrialCount not above the trials it has.
  absl::StatusOr<StudyView> Resume(const std::string& name, std::optional<int> max_trial_count);
  // Deletes a study with its trials, metric points and events (TrialStore::DeleteStudy), its
  // workloads left in the runner (TrialRunner::Purge: Kubernetes Jobs) and its trial directories
  // under runs_dir; returns how many trials it had. A study running here is
  // refused (FailedPrecondition: stop it first) unless `force`, which stops it (running trials
  // are stopped, KILLED) and waits for its controller to end. A study the store shows RUNNING that
  // no controller here runs (another hpt process on the same file) is refused unless `force`.
  // NotFound for an unknown study. Watchers of the study see it end NotFound. The runner purges
  // without the manager's lock held, so other studies' calls go on meanwhile; the study itself
  // cannot be resumed or deleted again until the delete ends (FailedPrecondition).
  absl::StatusOr<int> Delete(const std::string& name, bool force);
  // Budget changes of a running study (StudyController::SetLimits); FailedPrecondition when it is
  // not running here.
  absl::StatusOr<StudyView> Update(const std::string& name, const StudyLimits& limits);
  // Returns when the study's version is above `version` (at once when it already is), or at the
  // deadline with the current state. NotFound for an unknown study.
  absl::StatusOr<StudyUpdate> WaitForChange(const std::string& name, uint64_t version,
                                            absl::Duration timeout);

  // After an engine restart: runs again every study the store shows RUNNING that is not running
  // here, taking up its unfinished trials (ControllerOptions::recover: the runner's are followed
  // again, lost ones end FAILED "TrialLost"). Returns the studies taken up; a study that cannot be
  // (e.g. its stored spec no longer loads) is marked FAILED with the reason and skipped.
  absl::StatusOr<std::vector<std::string>> RecoverAll();

  // Takes no more work and detaches every controller (see the class comment); idempotent.
  void Shutdown();

 private:
  struct Running;

  absl::StatusOr<StudyView> Start(StudySpec spec, ControllerOptions options, bool resume,
                                  bool recover = false);
  absl::StatusOr<StudyView> ViewLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins the threads of controllers that have returned.
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delete's first part: stops the study when it runs here and `force` says so (waiting for its
  // controller), and reads its record and trials, refusing what Delete refuses.
  absl::Status PrepareDeleteLocked(const std::string& name, bool force,
                                   absl::StatusOr<tracker::StudyRecord>* record,
                                   absl::StatusOr<std::vector<tracker::TrialRecord>>* trials)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  tracker::TrialStore* store_;
  runner::TrialRunner* runner_;
  const StudyManagerOptions options_;

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Running>> running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> versions_ ABSL_GUARDED_BY(mu_);
  static constexpr size_t kMaxEvents = 1000;
  std::map<std::string, std::deque<std::pair<uint64_t, std::string>>> events_ ABSL_GUARDED_BY(mu_);
  // The budget a study last ran with in this process (a resume or an update may have changed it
  // from its spec's); the spec's budget is shown for studies not run here.
  struct Budget {
    int parallel_trial_count = 0;
    std::optional<int> max_trial_count, max_failed_trial_count;
  };
  std::map<std::string, Budget> budgets_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // Studies whose workloads the runner is purging (Delete, outside mu_): not to be started.
  std::set<std::string> deleting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hpt::engine

#endif  // HPT_ENGINE_STUDY_MANAGER_H_
