// The labels and annotations by which hpt finds its own Kubernetes objects, and the rule that
// turns a study or trial name into a valid label value. Shared by the template renderer (which
// writes them on every trial workload) and the Kubernetes runner (which selects by them).
#ifndef HPT_TRIAL_RUNNER_K8S_LABELS_H_
#define HPT_TRIAL_RUNNER_K8S_LABELS_H_

#include <string>
#include <string_view>

namespace hpt::runner::k8s {

inline constexpr char kStudyLabel[] = "hpt.dev/study";
inline constexpr char kTrialLabel[] = "hpt.dev/trial";
inline constexpr char kKatibExperimentLabel[] = "katib.kubeflow.org/experiment";
inline constexpr char kKatibTrialLabel[] = "katib.kubeflow.org/trial";
// Written by the Kubernetes runner on each Job: the attempt (1, 2, ... for retries after
// preemption) and the container whose log is the trial's StdOut.
inline constexpr char kAttemptAnnotation[] = "hpt.dev/attempt";
inline constexpr char kPrimaryContainerAnnotation[] = "hpt.dev/primary-container";

// A valid label value (<= 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric)
// for any name: other characters become '-', a name over 63 characters is cut to 54 and given
// '-' and 8 hex digits of its FNV-1a hash, and leading/trailing non-alphanumerics are dropped.
// Deterministic, so the runner can select what the renderer labelled.
std::string LabelValue(std::string_view name);

}  // namespace hpt::runner::k8s

#endif  // HPT_TRIAL_RUNNER_K8S_LABELS_H_
