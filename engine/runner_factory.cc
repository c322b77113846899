#include "engine/runner_factory.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "trial_runner/k8s/k8s_runner.h"
#include "trial_runner/k8s/kube_config.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {

absl::StatusOr<std::unique_ptr<runner::TrialRunner>> MakeRunner(const RunnerConfig& config,
                                                                std::string* description) {
  std::string ignored;
  std::string& where = description ? *description : ignored;
  if (config.kind == "local") {
    runner::LocalRunnerOptions ro;
    if (!config.gpus.empty()) {
      std::vector<int> ids;
      for (absl::string_view part : absl::StrSplit(config.gpus, ',')) {
        int id;
        if (!absl::SimpleAtoi(part, &id) || id < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--gpus: \"", std::string(part), "\" is not a GPU id; expected e.g. --gpus 0,1"));
        }
        ids.push_back(id);
      }
      ro.gpus = ids;
    }
    absl::StatusOr<std::unique_ptr<runner::LocalRunner>> r = runner::LocalRunner::Create(ro);
    if (!r.ok()) return r.status();
    where = config.gpus.empty() ? "local processes"
                                : absl::StrCat("local processes, GPUs ", config.gpus);
    return std::unique_ptr<runner::TrialRunner>(*std::move(r));
  }
  if (config.kind != "kubernetes") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown runner \"", config.kind, "\"; use local or kubernetes"));
  }
  if (absl::Status s = runner::k8s::ValidateJobSettings(config.job_defaults); !s.ok()) return s;
  absl::StatusOr<runner::k8s::KubeConfig> kc =
      runner::k8s::LoadKubeConfig({.kubeconfig = config.kubeconfig, .context = config.context});
  if (!kc.ok()) return kc.status();
  runner::k8s::K8sRunnerOptions ro;
  ro.default_namespace = kc->namespace_;
  ro.job_defaults = config.job_defaults;
  where = absl::StrCat("Kubernetes API server ", kc->server, " (",
                       kc->context.empty() ? kc->source : "context " + kc->context, ")");
  absl::StatusOr<std::unique_ptr<runner::k8s::KubeClient>> client =
      runner::k8s::KubeClient::Create(*std::move(kc));
  if (!client.ok()) return client.status();
  absl::StatusOr<std::unique_ptr<runner::k8s::K8sRunner>> r =
      runner::k8s::K8sRunner::Create(*std::move(client), std::move(ro));
  if (!r.ok()) return r.status();
  return std::unique_ptr<runner::TrialRunner>(*std::move(r));
}

std::string DefaultPythonPath() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (const fs::path& candidate : {exe.parent_path().parent_path() / "python",
                                    exe.parent_path().parent_path() / "share" / "hpt" / "python"}) {
    if (fs::exists(candidate / "hpt_client", ec)) return candidate.string();
  }
  return "";
}

}  // namespace hpt::engine
