// The trial runner hpt runs studies on, from the command line's words: local processes (with GPU
// slots) or a Kubernetes cluster (kubeconfig / in-cluster, Job defaults). Shared by `hpt run` and
// hptd.
//
//   RunnerConfig config{.kind = "kubernetes", .context = "gpu"};
//   std::string where;
//   absl::StatusOr<std::unique_ptr<runner::TrialRunner>> r = MakeRunner(config, &where);
#ifndef HPT_ENGINE_RUNNER_FACTORY_H_
#define HPT_ENGINE_RUNNER_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trial_runner/k8s/job_settings.h"
#include "trial_runner/trial_runner.h"

namespace hpt::engine {

struct RunnerConfig {
  std::string kind = "local";  // "local" or "kubernetes"
  std::string gpus;            // local: GPU ids to hand out, "0,1"; "" = GPUs not managed
  std::string kubeconfig;      // kubernetes: as kubectl's --kubeconfig / --context
  std::string context;
  runner::k8s::JobSettings job_defaults;  // kubernetes: for Jobs that set none
};

// InvalidArgument for an unknown kind, a bad GPU list ("--gpus: \"x\" is not a GPU id") or bad
// Job defaults; the kubeconfig's errors as LoadKubeConfig gives them. `description` (may be null)
// receives a line saying where trials will run.
absl::StatusOr<std::unique_ptr<runner::TrialRunner>> MakeRunner(const RunnerConfig& config,
                                                                std::string* description);

// Where hpt's Python client (hpt_client and the generated gRPC stubs) lies beside the running
// executable: <dir>/../python (a build tree) or <dir>/../share/hpt/python (an install); "" when
// neither exists. Local trials get it prepended to PYTHONPATH.
std::string DefaultPythonPath();

}  // namespace hpt::engine

#endif  // HPT_ENGINE_RUNNER_FACTORY_H_
