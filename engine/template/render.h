// Trial templates: turns a study's trial template and one parameter assignment into the trial's
// manifest (a Kubernetes object as JSON) and what a local process needs to run it.
//
//   TrialContext ctx{.study_name = "quickstart", .trial_name = "quickstart-00001",
//                    .namespace_ = "default", .params = assignment};
//   absl::StatusOr<RenderedTrial> r = RenderTrial(spec, ctx);
//   // r->manifest is the Job; r->argv is the primary container's command + args.
//
// v1alpha1: a subset of Go's text/template ({{.WorkerID}}, {{.NameSpace}}, {{.StudyID}},
// {{.TrialID}}, {{- with .HyperParameters}}{{- range .}}{{.Name}}={{.Value}}{{- end}}{{- end}},
// trim markers). Anything outside the subset is an error naming the construct.
// v1beta1: ${trialParameters.x} substitution, references ${trialSpec.Name|Namespace|Kind|
// APIVersion|Labels[k]|Annotations[k]}, with Katib's webhook checks.
// Pure functions without shared state: safe to call from several threads at once.
#ifndef HPT_ENGINE_TEMPLATE_RENDER_H_
#define HPT_ENGINE_TEMPLATE_RENDER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"
#include "nlohmann/json.hpp"
#include "suggest/search_space.h"

namespace hpt::engine {

struct TrialContext {
  std::string study_name;      // v1alpha1 {{.StudyID}}
  std::string trial_name;      // {{.TrialID}}, {{.WorkerID}}, ${trialSpec.Name}, metadata.name
  std::string namespace_;      // {{.NameSpace}}, ${trialSpec.Namespace}, metadata.namespace
  suggest::Assignment params;  // one value per spec.space parameter
};

struct RenderedTrial {
  nlohmann::json manifest;  // the workload object, metadata.name/namespace set
  std::string kind, api_version;
  // The primary container (v1beta1 primaryContainerName; v1alpha1 the first container) of the
  // pod template (Job: spec.template; TFJob/PyTorchJob: the Master/Chief/Worker replica).
  std::vector<std::string> argv;           // command + args, or spec.hpt.local.command rendered
  std::map<std::string, std::string> env;  // literal env values of the primary container, plus
                                           // spec.hpt.local.env
  std::string working_dir;                 // spec.hpt.local.workingDir (absolute) or empty
  int gpus = 0;                            // nvidia.com/gpu limit (or spec.hpt.gpusPerTrial)
  // The workload's activeDeadlineSeconds: the template's, or spec.hpt.trialDeadlineSeconds, or
  // spec.hpt.kubernetes.activeDeadlineSeconds.
  std::optional<double> active_deadline_seconds;
};

// Renders one trial.
//
// v1alpha1: the Go-template subset (engine/template/gotemplate.h) with StudyID = ctx.study_name,
// TrialID = WorkerID = ctx.trial_name, NameSpace = ctx.namespace_ and HyperParameters =
// ctx.params; the text is read as YAML (plain scalars typed, engine/template/yaml_json.h). The
// template must itself set metadata.name = the WorkerID and metadata.namespace = ctx.namespace_
// (Katib's "Invalid worker template."). v1beta1: every ${trialParameters.x} is replaced (plain
// text replace, as Katib does) by the value of its reference: a spec parameter's value from
// ctx.params, or ${trialSpec.Name|Namespace|Kind|APIVersion|Labels[k]|Annotations[k]} (Kind,
// APIVersion, Labels and Annotations read from the template itself); the text is then read as
// JSON, or as YAML when that fails (a ConfigMap template); metadata.name/namespace are set.
//
// Both dialects then add, to every kind, on the workload and on every pod template (a key the
// template sets keeps its value everywhere below):
//   - labels hpt.dev/study, hpt.dev/trial, katib.kubeflow.org/experiment and
//     katib.kubeflow.org/trial (ctx.study_name / ctx.trial_name sanitized to valid label values);
//     the pod templates also get spec.labels;
//   - annotations: those of spec.annotations that spec.hpt.kubernetes.propagate_annotations lets
//     through (KubernetesSettings::Propagates; all when it is empty), then hpt's own, with P =
//     spec.hpt.kubernetes.annotation_prefix (default hpt.dev): P/study = ctx.study_name,
//     P/trial = ctx.trial_name, P/project = StudyProject(spec) and P/experiment =
//     StudyExperiment(spec), the last two only when not empty; hpt's own replace a study
//     annotation of the same key.
// Then: env KATIB_TRIAL_NAME in the primary container unless present; spec.hpt.gpus_per_trial as
// the primary container's nvidia.com/gpu limit when it has none (tolerations and node selectors
// are the template's own and pass through); when the template has no activeDeadlineSeconds
// (Job: in spec, Kubeflow jobs: in spec.runPolicy), spec.hpt.trial_deadline_seconds (rounded up)
// or else spec.hpt.kubernetes.job.active_deadline_seconds is written there (the loader accepts
// only one of the two).
// The other tenancy settings of spec.hpt.kubernetes.job (all validated by
// runner::k8s::ValidateJobSettings first), each only where the template has no value:
//   - Job: runner::k8s::ApplyJobSettings: spec.backoffLimit, spec.ttlSecondsAfterFinished,
//     spec.template.spec.priorityClassName / serviceAccountName, and the label
//     kueue.x-k8s.io/queue-name = queue_name on the Job's metadata;
//   - TFJob, PyTorchJob, XGBoostJob, MPIJob: spec.runPolicy.backoffLimit and
//     spec.runPolicy.ttlSecondsAfterFinished (Kubeflow's RunPolicy), priorityClassName and
//     serviceAccountName on every replica's pod template spec, and the Kueue label on the
//     workload's metadata (Kueue admits Kubeflow jobs by the same label).
//     spec.runPolicy.schedulingPolicy (gang scheduling) is left to the template.
// Workload kinds: Job, TFJob (Chief, Master, Worker), PyTorchJob and XGBoostJob (Master, Worker),
// MPIJob (Launcher, Worker); the first replica present holds the primary container.
//
// InvalidArgument, "<file>:<line>[:<column>]: <problem>" (the template's file and position where
// known), for: a construct outside the Go-template subset, invalid YAML/JSON after rendering, a
// rendered text (or spec.hpt.local.command element) larger than 4 MiB, a wrong v1alpha1
// name/namespace, an undefined ${trialParameters.x}, a trialParameter whose reference is neither
// a parameter nor a valid metadata reference, a parameter no trialParameter references ("unable
// to find parameter from ParameterAssignment in TrialParameters"), an assignment that does not
// match the trialParameters, an unsupported kind, a missing primary container, a primary
// container without command/args and no spec.hpt.local.command, a malformed field (env values,
// GPU limit, activeDeadlineSeconds, an object on the way to a setting that is not a map), or
// spec.hpt.kubernetes.job settings that ValidateJobSettings rejects (a spec built by hand; the
// loader rejects them first).
absl::StatusOr<RenderedTrial> RenderTrial(const StudySpec& spec, const TrialContext& ctx);

// Katib's webhook checks of the template, appended to `diagnostics` as errors (file, line and
// column where known; path such as "spec.trialTemplate.trialSpec" or
// "spec.workerSpec.goTemplate.rawTemplate"). v1beta1: every trialParameter is used, every
// ${trialParameters.x} is defined, references exist, every parameter is referenced, the template
// leaves metadata.name/namespace unset, has apiVersion and kind, the kind is Job (batch/v1) or
// TFJob/PyTorchJob/XGBoostJob/MPIJob (kubeflow.org/v1), a Job has containers; when all that holds,
// a dry RenderTrial with a representative value per parameter reports what remains. v1alpha1: a
// dry render with no HyperParameters; kind must be Job, TFJob or PyTorchJob, name the WorkerID
// and namespace the study's. Does nothing when `diagnostics` is null.
void CheckTrialTemplate(const StudySpec& spec, std::vector<Diagnostic>* diagnostics);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_TEMPLATE_RENDER_H_
