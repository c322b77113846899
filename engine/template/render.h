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
// Pure functions; thread-compatible.
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
  std::string study_name;   // v1alpha1 {{.StudyID}}
  std::string trial_name;   // {{.TrialID}}, {{.WorkerID}}, ${trialSpec.Name}, metadata.name
  std::string namespace_;   // {{.NameSpace}}, ${trialSpec.Namespace}, metadata.namespace
  suggest::Assignment params;  // one value per spec.space parameter
};

struct RenderedTrial {
  nlohmann::json manifest;                  // the workload object, metadata.name/namespace set
  std::string kind, api_version;
  // The primary container (v1beta1 primaryContainerName; v1alpha1 the first container) of the
  // pod template (Job: spec.template; TFJob/PyTorchJob: the Master/Chief/Worker replica).
  std::vector<std::string> argv;            // command + args, or spec.hpt.local.command rendered
  std::map<std::string, std::string> env;   // literal env values of the primary container, plus
                                            // spec.hpt.local.env
  std::string working_dir;                  // spec.hpt.local.workingDir (absolute) or empty
  int gpus = 0;                             // nvidia.com/gpu limit (or spec.hpt.gpusPerTrial)
  std::optional<double> active_deadline_seconds;  // Job spec, or spec.hpt.trialDeadlineSeconds
};

// Renders one trial. InvalidArgument naming the template construct, the missing parameter, or
// the manifest problem (with the template's line where known).
absl::StatusOr<RenderedTrial> RenderTrial(const StudySpec& spec, const TrialContext& ctx);

// Katib's webhook checks of the template, run on a dry render with placeholder values; appends
// problems to `diagnostics` (file:line:column where known).
void CheckTrialTemplate(const StudySpec& spec, std::vector<Diagnostic>* diagnostics);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_TEMPLATE_RENDER_H_
