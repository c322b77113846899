// TriggerManager: hptd's retraining triggers. It stores RetrainTrigger documents
// (engine/trigger/trigger_spec.h) in the tracker, takes deployed models' metric points
// (`hpt report`), evaluates every trigger (engine/trigger/evaluate.h) on a thread, and when one
// fires, claims the firing in the tracker (TrialStore::ClaimFiring: at most once per cooldown,
// also across restarts and engines sharing the file) and runs its action through the
// StudyManager:
//   retrainTrial  a one-trial study: the champion's study (the best trial of action.study) with
//                 every parameter fixed to the champion's value, named <study>-retrain-<firing>;
//   submitStudy   the action's study (inline, or the file read when the trigger was applied),
//                 named <name>-t<firing>, warm-started from action.warmStartFrom when given.
// Each firing is a row of the tracker (`hpt trigger history`): PENDING while its action runs,
// then DONE with the study it made or FAILED with why. A firing left PENDING by a crash is
// finished by the next Start(): its study's name is derived from the firing, so an action that
// had already submitted it is not repeated.
//
//   TriggerManager triggers(store, &manager, {.interval = absl::Seconds(30)});
//   triggers.Start();
//   absl::StatusOr<AppliedTrigger> t = triggers.Apply(yaml, "auc-drop.yaml", "");
//   triggers.Report({{.project = "fraud", .metric = "auc", .value = 0.81}});  // wakes it
//
// Thread-safety: thread-safe. The destructor stops the thread (an action running finishes
// first).
#ifndef HPT_ENGINE_TRIGGER_MANAGER_H_
#define HPT_ENGINE_TRIGGER_MANAGER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/spec/study_spec.h"
#include "engine/study_manager.h"
#include "engine/trigger/evaluate.h"
#include "engine/trigger/trigger_spec.h"
#include "tracker/trial_store.h"

namespace hpt::engine {

struct TriggerManagerOptions {
  // How often every trigger is evaluated (also right after Report and Apply).
  absl::Duration interval = absl::Seconds(30);
};

struct AppliedTrigger {
  tracker::TriggerRecord record;
  bool created = false;                 // false: an existing trigger was replaced
  std::string summary;                  // trigger::Summary
  std::vector<Diagnostic> diagnostics;  // warnings
};

// A trigger as `hpt trigger list` shows it.
struct TriggerView {
  tracker::TriggerRecord record;
  std::string summary;  // trigger::Summary; the load error when its text no longer loads
  // The last evaluation in this process (null before the first).
  std::optional<trigger::Decision> last;
  int64_t last_evaluated_ms = 0;
  std::optional<tracker::TriggerFiring> last_firing;
};

class TriggerManager {
 public:
  TriggerManager(tracker::TrialStore* store, StudyManager* studies, TriggerManagerOptions options);
  ~TriggerManager();
  TriggerManager(const TriggerManager&) = delete;
  TriggerManager& operator=(const TriggerManager&) = delete;

  // Finishes the firings a crash left PENDING, then starts the evaluation thread. Idempotent.
  void Start();
  // Stops the thread; idempotent.
  void Stop();

  // Loads `yaml` (a RetrainTrigger; `file_name` names it in errors), checks what it names
  // (watch.study and retrainTrial's study must exist: NotFound; a submitStudy study must load:
  // InvalidArgument with its errors), records the watched best as newBest's baseline, and
  // stores it by name (replacing a trigger of that name, whose cooldown goes on). `study_yaml`:
  // the text of action.submitStudy.file, read by the caller (hptd cannot read the caller's
  // files); required when the action names a file (InvalidArgument otherwise), ignored else.
  absl::StatusOr<AppliedTrigger> Apply(const std::string& yaml, const std::string& file_name,
                                       const std::string& study_yaml);
  // NotFound when absent.
  absl::Status Delete(const std::string& name);
  absl::StatusOr<std::vector<TriggerView>> List();
  // The firings of a trigger (every trigger when `name` is empty), oldest first, the last
  // `limit` (0: all). NotFound for an unknown trigger.
  absl::StatusOr<std::vector<tracker::TriggerFiring>> History(const std::string& name, int limit);
  // Stores deployed-model metric points (TrialStore::AppendModelMetrics) and wakes the thread.
  absl::Status Report(const std::vector<tracker::ModelPoint>& points);

  // Evaluates every trigger once at `now_ms` (0: now) and runs the actions of those that fire;
  // returns the firings made. The thread calls it; tests may call it directly.
  absl::StatusOr<std::vector<tracker::TriggerFiring>> EvaluateAll(int64_t now_ms = 0);
  // Asks the thread for an evaluation now.
  void Wake();

 private:
  // The watched series of `spec` (setting watch.study.goal), oldest first. NotFound when the
  // watched study does not exist.
  absl::StatusOr<std::vector<trigger::SeriesPoint>> Series(trigger::TriggerSpec& spec);
  // Runs the action of a claimed firing; returns the study made.
  absl::StatusOr<std::string> RunAction(const trigger::TriggerSpec& spec,
                                        const tracker::TriggerRecord& record,
                                        const tracker::TriggerFiring& firing);
  // Whether study `study` exists and was made by trigger `trigger` (its hpt.dev/trigger
  // annotation): a firing's action found done after a crash.
  bool MadeBy(const std::string& study, const std::string& trigger);
  // Runs and finishes a claimed firing.
  tracker::TriggerFiring Fire(const trigger::TriggerSpec& spec,
                              const tracker::TriggerRecord& record, tracker::TriggerFiring firing);
  void Loop();

  tracker::TrialStore* store_;
  StudyManager* studies_;
  const TriggerManagerOptions options_;

  absl::Mutex eval_mu_;  // one evaluation at a time (thread, tests, Start's recovery)
  absl::Mutex mu_;
  std::map<std::string, std::pair<trigger::Decision, int64_t>> last_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The study text of retrainTrial: `study_yaml` (a v1beta1 Experiment) with every parameter fixed
// to `params` (a categorical of one value), the grid algorithm, one trial at a time, no early
// stopping or warm start, named `name`, with `annotations` added. InvalidArgument when the text
// is not a v1beta1 Experiment or lacks a parameter's value.
absl::StatusOr<std::string> RetrainStudyYaml(
    const std::string& study_yaml, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& params,
    const std::map<std::string, std::string>& annotations);

// The study text of submitStudy: `study_yaml` (either dialect) named `name`, with `annotations`
// added, and spec.hpt.warmStart.studies set to `warm_start` when not empty. InvalidArgument when
// the text is not a YAML map.
absl::StatusOr<std::string> SubmittedStudyYaml(
    const std::string& study_yaml, const std::string& name,
    const std::vector<std::string>& warm_start,
    const std::map<std::string, std::string>& annotations);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_TRIGGER_MANAGER_H_
