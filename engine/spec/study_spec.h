// StudySpec: one study, whichever Katib dialect it was written in (StudyJob v1alpha1 or
// Experiment v1beta1), with Katib's defaults applied.
//
//   std::vector<Diagnostic> diags;
//   absl::StatusOr<StudySpec> spec = LoadStudyFile("study.yaml", &diags);
//   for (const Diagnostic& d : diags) std::cerr << d.ToString() << "\n";  // warnings too
//
// Plain value types; no thread-safety concerns.
#ifndef HPT_ENGINE_SPEC_STUDY_SPEC_H_
#define HPT_ENGINE_SPEC_STUDY_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "suggest/search_space.h"
#include "trial_runner/k8s/job_settings.h"

namespace hpt::engine {

// One problem found in a study file: what, where (file:line:column and field path), and what is
// allowed. `line` and `column` are 1-based; 0 when unknown.
struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;     // e.g. "spec.parameters[2].feasibleSpace.min"
  std::string message;  // e.g. "must be a number, got \"abc\""
  // An error about a Katib feature hpt does not support yet; `message` then reads
  // "not supported yet: <feature>" and says what to use instead where there is something.
  bool unsupported = false;
  // "study.yaml:12:9: error: spec.parameters[2].feasibleSpace.min: must be a number, got \"abc\""
  std::string ToString() const;
};

// The status a list of diagnostics gives: OK without errors; Unimplemented when every error is a
// "not supported yet" one; InvalidArgument otherwise. The message joins every error's ToString().
absl::Status StatusFromDiagnostics(const std::vector<Diagnostic>& diagnostics);

enum class Dialect { kStudyJobV1alpha1, kExperimentV1beta1 };

enum class MetricStrategy { kMin, kMax, kLatest };

struct ObjectiveSpec {
  bool maximize = false;
  std::optional<double> goal;
  // v1beta1: the goal is reached when best >= goal (maximize) / <= goal (inclusive);
  // v1alpha1: strictly better than the goal.
  bool goal_inclusive = true;
  std::string metric;  // objectiveMetricName / objectivevaluename
  std::vector<std::string> additional_metrics;
  // Every metric above has one, defaults applied (v1beta1: min/max by type; v1alpha1: latest).
  std::map<std::string, MetricStrategy> strategies;
};

// spec.earlyStopping. Only "medianstop" is supported: a running trial is stopped (EARLY_STOPPED)
// when its objective is worse than the rule built from finished trials (engine/early_stopping.h).
struct EarlyStoppingSpec {
  std::string algorithm;  // "medianstop"
  std::vector<std::pair<std::string, std::string>> settings;
  int min_trials_required = 3;  // trials the rule needs before it stops anything (> 0)
  int start_step = 4;           // reports of a trial before the rule looks at it (>= 1)
  // "katib": Katib's rule (the mean over succeeded trials of their first start_step values,
  // checked once against the trial's best value after start_step reports). "optuna": Optuna's
  // MedianPruner (at every step from start_step on, the trial's best value so far against the
  // median of the finished trials' values at that step).
  std::string rule = "katib";
};

enum class CollectorKind {
  kStdOut,
  kFile,
  kTensorFlowEvent,
  kPrometheusMetric,
  kCustom,
  kPush,
  kNone
};

struct MetricsCollectorSpec {
  CollectorKind kind = CollectorKind::kStdOut;
  std::string file_path;                    // File: /var/log/katib/metrics.log by default
  std::string file_format = "TEXT";         // File: TEXT | JSON
  std::vector<std::string> metrics_format;  // filter.metricsFormat regexes (empty: Katib's default)
};

struct TrialParameterSpec {
  std::string name;
  std::string description;
  std::string reference;  // a spec.parameters[].name, or "${trialSpec.Name}" etc.
};

// The trial workload template.
struct TrialTemplateSpec {
  // v1alpha1: Go text/template source (rawTemplate, or the worker-template ConfigMap entry named by
  // templatePath). v1beta1: the trialSpec serialized to JSON, or the configMap template text.
  std::string source;
  std::string source_name;  // where `source` came from, for error messages
  int source_line = 0;      // 1-based line of the template's first line in `source_name`
  std::vector<TrialParameterSpec> trial_parameters;  // v1beta1 only
  std::string primary_container_name;  // v1beta1 (required); v1alpha1: the first container
  std::map<std::string, std::string> primary_pod_labels;
  std::string success_condition, failure_condition;  // GJSON paths (v1beta1 defaults applied)
  bool retain = false;
};

// hpt's own additions, under `spec.hpt` (a key Katib does not use). See docs/study-reference.md.
struct LocalOverride {
  // Replaces the primary container's command+args when the trial runs as a local process. Each
  // element is rendered like the template ({{.X}} or ${trialParameters.x}).
  std::vector<std::string> command;
  std::string working_dir;  // relative to the study file's directory
  std::map<std::string, std::string> env;
};

// `spec.hpt.kubernetes`: how trials run on a cluster. Every value here yields to what the trial
// template itself sets (see engine/template/render.h for where each lands).
struct KubernetesSettings {
  // Tenancy: priorityClassName, activeDeadlineSeconds, backoffLimit, ttlSecondsAfterFinished,
  // serviceAccountName and the Kueue queue (queueName). Validated by the loader with
  // runner::k8s::ValidateJobSettings' rules.
  runner::k8s::JobSettings job;
  // hpt's own annotations on every trial workload and pod template are <prefix>/project,
  // <prefix>/experiment, <prefix>/study and <prefix>/trial. A DNS-1123 subdomain.
  std::string annotation_prefix = "hpt.dev";
  // Which of the study's metadata.annotations are copied to the trial workloads: empty = all;
  // otherwise each entry is an exact key ("ai.bloomberg.com/project") or a prefix ending in '*'
  // ("ai.bloomberg.com/*"; "*" alone matches every key), and annotations no entry matches are
  // not copied.
  std::vector<std::string> propagate_annotations;
  // How many times a preempted trial is run again without counting as failed (0..100).
  int preemption_retries = 3;

  // Whether the study annotation `key` is copied to trial workloads (propagate_annotations).
  bool Propagates(const std::string& key) const;
};

// `spec.hpt.warmStart`: earlier studies of the same tracker file whose finished trials feed this
// study's sampler before its own trials (engine/warm_start.h has the mapping rules).
struct WarmStartSpec {
  // What happens to an old value outside the new space (out of [min, max], off the step grid, a
  // discrete value not listed): kDrop leaves the old trial out; kClip moves the value to the
  // nearest feasible one. A categorical value no longer listed is always dropped.
  enum class OutOfSpace { kDrop, kClip };
  std::vector<std::string> studies;  // study names, non-empty, distinct, not this study's own
  OutOfSpace out_of_space = OutOfSpace::kDrop;
};

struct HptExtensions {
  std::optional<LocalOverride> local;
  std::optional<uint64_t> seed;       // the study's seed (default: derived from the name)
  std::optional<int> gpus_per_trial;  // default nvidia.com/gpu limit when the template has none
  std::optional<double> trial_deadline_seconds;  // activeDeadlineSeconds for every trial
  // Files holding ConfigMaps (v1alpha1 worker-template, v1beta1 trialTemplate.configMap), relative
  // to the study file. YAML files beside the study are searched too.
  std::vector<std::string> config_map_files;
  KubernetesSettings kubernetes;  // spec.hpt.kubernetes
  // runningTrialsOnCompletion: Finish lets the trials still running when the study completes
  // (goal reached, budget spent) run to their end; Stop (the default) stops them, KILLED.
  bool finish_running_on_completion = false;
  std::optional<WarmStartSpec> warm_start;  // spec.hpt.warmStart; nullopt: start from scratch
};

struct StudySpec {
  Dialect dialect = Dialect::kExperimentV1beta1;
  std::string file;         // path it was loaded from ("<string>" for text)
  std::string source_yaml;  // the file's exact text
  std::string api_version, kind;
  std::string name;        // metadata.name (v1alpha1: metadata.name; studyName kept below)
  std::string study_name;  // v1alpha1 spec.studyName (empty for v1beta1)
  std::string namespace_;  // metadata.namespace ("default" when absent)
  std::map<std::string, std::string> labels, annotations;
  std::string owner;  // v1alpha1 spec.owner

  ObjectiveSpec objective;
  suggest::SearchSpace space;
  suggest::AlgorithmSpec algorithm;
  std::optional<EarlyStoppingSpec> early_stopping;

  int parallel_trial_count = 3;        // v1alpha1: requestNumber
  std::optional<int> max_trial_count;  // v1alpha1: requestcount * requestNumber
  std::optional<int> max_failed_trial_count;
  // v1alpha1 rounds: requestcount rounds of requestNumber trials, each round starting when the
  // previous one has finished. 0 for v1beta1.
  int request_count = 0;
  int request_number = 0;
  std::string resume_policy = "Never";

  MetricsCollectorSpec metrics_collector;
  TrialTemplateSpec trial_template;
  HptExtensions hpt;

  // Every metric name the study collects: the objective first, then the additional ones.
  std::vector<std::string> MetricNames() const;
};

// The study's project and experiment, as recorded with it and written on its trials' workloads:
// the value of the annotation <spec.hpt.kubernetes.annotationPrefix>/project (default
// hpt.dev/project) when the study has it, else of the first annotation (in key order) whose key
// ends with "/project", e.g. ai.bloomberg.com/project; empty when none. The same for
// "/experiment".
std::string StudyProject(const StudySpec& spec);
std::string StudyExperiment(const StudySpec& spec);

// Parses and validates a study file. Every problem found in the pass is appended to `diagnostics`
// (warnings included, e.g. unknown keys); the result is InvalidArgument when any is an error, with
// all errors in the message, and Unimplemented ("not supported yet: <feature>") when the only
// errors are features hpt does not support yet. `diagnostics` may be null.
// LoadStudyFile: NotFound when `path` does not exist (FailedPrecondition when it cannot be read).
// Templates kept in ConfigMaps are looked up in the study file's other documents, then in
// `spec.hpt.configMapFiles`, then in the *.yaml / *.yml files of the study file's directory (see
// docs/study-reference.md).
// Thread-safe (no shared state); reads files only.
absl::StatusOr<StudySpec> LoadStudyFile(const std::string& path,
                                        std::vector<Diagnostic>* diagnostics);
// The same for text already read. `file_name` names it in diagnostics and places it for the
// ConfigMap lookup (its directory); a name that is empty or starts with '<' ("<stdin>") has no
// directory, and only the text's own documents and spec.hpt.configMapFiles (relative to the
// current directory) are searched.
absl::StatusOr<StudySpec> LoadStudyText(const std::string& text, const std::string& file_name,
                                        std::vector<Diagnostic>* diagnostics);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_SPEC_STUDY_SPEC_H_
