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
  std::optional<double> active_deadline_seconds;  // Job spec, or spec.hpt.trialDeadlineSeconds
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
// Both dialects then: add the labels hpt.dev/study, hpt.dev/trial, katib.kubeflow.org/experiment
// and katib.kubeflow.org/trial (values sanitized to valid label values) to the workload and to
// every pod template; copy spec.annotations onto both and spec.labels onto the pod templates (a
// key the template sets keeps its value);
// add env KATIB_TRIAL_NAME to the primary container unless present; write spec.hpt.gpus_per_trial
// as the nvidia.com/gpu limit and spec.hpt.trial_deadline_seconds as activeDeadlineSeconds
// (Job: spec, Kubeflow jobs: spec.runPolicy) when the template has none. Workload kinds: Job,
// TFJob (Chief, Master, Worker), PyTorchJob and XGBoostJob (Master, Worker), MPIJob (Launcher,
// Worker); the first replica present holds the primary container.
//
// InvalidArgument, "<file>:<line>[:<column>]: <problem>" (the template's file and position where
// known), for: a construct outside the Go-template subset, invalid YAML/JSON after rendering, a
// wrong v1alpha1 name/namespace, an undefined ${trialParameters.x}, a trialParameter whose
// reference is neither a parameter nor a valid metadata reference, a parameter no trialParameter
// references ("unable to find parameter from ParameterAssignment in TrialParameters"), an
// assignment that does not match the trialParameters, an unsupported kind, a missing primary
// container, a primary container without command/args and no spec.hpt.local.command, or a
// malformed field (env values, GPU limit, activeDeadlineSeconds).
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
