// A retraining trigger: a RetrainTrigger document (apiVersion hpt.dev/v1) read into a TriggerSpec.
//
// A trigger watches a metric stream (a deployed model's metric reported with `hpt report`, or a
// study's best objective), aggregates it (last, mean, min or max over a window of points or of
// time), fires on a condition (below/above a threshold, a drop from the best, a new best, or a
// schedule) at most once per cooldown, and then acts: it launches a retraining trial with a study's
// champion parameters, or submits a study. docs/triggers.md is the user reference; evaluate.h
// decides whether a trigger fires.
//
//   std::vector<Diagnostic> diags;
//   absl::StatusOr<TriggerSpec> t = LoadTriggerFile("fraud-trigger.yaml", &diags);
//   for (const Diagnostic& d : diags) std::cerr << d.ToString() << "\n";  // warnings too
//   if (t.ok()) store(t->name, t->source_yaml);
//
// Plain value types and pure functions; thread-safe.
#ifndef HPT_ENGINE_TRIGGER_TRIGGER_SPEC_H_
#define HPT_ENGINE_TRIGGER_TRIGGER_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"

namespace hpt::engine::trigger {

inline constexpr char kTriggerApiVersion[] = "hpt.dev/v1";
inline constexpr char kTriggerKind[] = "RetrainTrigger";
inline constexpr int64_t kDefaultCooldownMillis = 3'600'000;  // 1h
// The largest aggregate.window.points (and minPoints).
inline constexpr int64_t kMaxWindowPoints = 1'000'000;

// Which direction is better.
enum class Goal { kUnspecified, kMaximize, kMinimize };

// spec.watch.model: the metric `metric` of the models reported under project/experiment/name.
struct ModelWatch {
  std::string project;             // required, non-empty
  std::string experiment;          // "" = any experiment
  std::string name;                // "" = any model of the project (and experiment)
  std::string metric;              // required, non-empty
  Goal goal = Goal::kUnspecified;  // required for dropFromBest and newBest
};

// spec.watch.study: the best objective of study `name`.
struct StudyWatch {
  std::string name;
  // Not read from the YAML: the study's direction. The caller sets it from the study's objective
  // before Evaluate (kMaximize when objective.maximize); Evaluate cannot use the study watch
  // without it.
  Goal goal = Goal::kUnspecified;
};

struct WatchSpec {
  enum class Source { kNone, kModel, kStudy };
  Source source = Source::kNone;  // kNone only with a schedule condition
  ModelWatch model;               // when kModel
  StudyWatch study;               // when kStudy
};

enum class AggregateFunction { kLast, kMean, kMin, kMax };

// spec.aggregate. Default: last over a window of 1 point.
struct AggregateSpec {
  enum class Window { kPoints, kDuration };
  AggregateFunction function = AggregateFunction::kLast;
  Window window = Window::kPoints;
  int64_t window_points = 1;  // kPoints: the last N points (1..kMaxWindowPoints)
  int64_t window_ms = 0;      // kDuration: points newer than now - window_ms (> 0)
  // No value (and no firing) while the window holds fewer points (1..window_points).
  int64_t min_points = 1;
};

// spec.condition: exactly one kind.
struct ConditionSpec {
  enum class Kind { kBelow, kAbove, kDropFromBest, kNewBest, kSchedule };
  Kind kind = Kind::kBelow;
  double threshold = 0;   // kBelow / kAbove
  double margin = 0;      // kDropFromBest (>= 0)
  bool relative = false;  // kDropFromBest: margin is a fraction of |best|
  int64_t every_ms = 0;   // kSchedule: > 0 for {every}, 0 for {cron}
  std::string cron;       // kSchedule: the 5-field expression (UTC) for {cron}; "" for {every}
};

// spec.action: exactly one kind.
struct ActionSpec {
  enum class Kind { kRetrainTrial, kSubmitStudy };
  Kind kind = Kind::kRetrainTrial;
  // kRetrainTrial: the study whose best trial is the champion (defaults to watch.study.name).
  std::string study;
  // kSubmitStudy, one of:
  std::string file;           // as written (relative to the trigger file) ...
  std::string resolved_file;  // ... and resolved against the trigger file's directory
  std::string study_yaml;     // an inline study: its YAML text (validated with LoadStudyText)
  // Where study_yaml begins in the trigger file (1-based) and how many columns were cut from its
  // lines; 0 when the text was re-emitted (a flow-style map) rather than cut from the file.
  int study_yaml_line = 0;
  int study_yaml_indent = 0;
  std::vector<std::string> warm_start_from;  // study names (optional)
};

struct TriggerSpec {
  std::string api_version;  // kTriggerApiVersion
  std::string kind;         // kTriggerKind
  std::string name;         // metadata.name: a DNS-1123 label
  std::string namespace_ = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  WatchSpec watch;
  AggregateSpec aggregate;
  ConditionSpec condition;
  int64_t cooldown_ms = kDefaultCooldownMillis;  // >= 0
  ActionSpec action;

  std::string file;         // the file read, or the name given to LoadTriggerText
  std::string source_yaml;  // the whole text as read, for storage

  // The direction of "best": watch.model.goal or watch.study.goal (kUnspecified without a watch).
  Goal goal() const;
  // The watched stream for humans: "auc" (a model's metric) or "the best objective of study
  // fraud-hpo"; "" without a watch.
  std::string Subject() const;
};

// Reads a RetrainTrigger file. Every problem is reported into `diagnostics` (when non-null) with
// file:line:column, the field path and what is allowed; one call finds all of them. Returns the
// spec when there is no error (warnings allowed), InvalidArgument listing every error otherwise,
// NotFound / FailedPrecondition when the file cannot be read.
absl::StatusOr<TriggerSpec> LoadTriggerFile(const std::string& path,
                                            std::vector<Diagnostic>* diagnostics);
// The same for text already read. `file_name` names it in diagnostics ("<string>" when empty) and
// is the base of action.submitStudy.file (a name starting with '<' has no directory: the file is
// kept relative to the current directory).
absl::StatusOr<TriggerSpec> LoadTriggerText(const std::string& text, const std::string& file_name,
                                            std::vector<Diagnostic>* diagnostics);

// "maximize" / "minimize" / "" ; "last" / "mean" / "min" / "max".
std::string GoalName(Goal goal);
std::string FunctionName(AggregateFunction function);

// The aggregated value for humans: "auc" (function last over 1 point), "mean(auc) over the last 50
// points", "max(auc) over the last 1h".
std::string DescribeAggregate(const TriggerSpec& spec);

// One line for listings: "mean(auc) over the last 50 points < 0.91, cooldown 6h -> retrain trial
// from study fraud-hpo".
std::string Summary(const TriggerSpec& spec);

}  // namespace hpt::engine::trigger

#endif  // HPT_ENGINE_TRIGGER_TRIGGER_SPEC_H_
