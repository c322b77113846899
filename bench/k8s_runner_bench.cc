// The Kubernetes runner's own cost, against the in-process fake API server on loopback (no
// cluster: the figures are hpt's client, runner and HTTP overhead, not an API server's).
//
//   BM_Launch            one trial's Launch: Secret create, Job create, Secret ownerReference
//                        patch (three requests), with N trials already followed.
//   BM_EndToStatus       from the Job's Complete condition to Poll showing Succeeded: the watch
//                        event, a fresh list of the Job's pods, the log copy, the Secret delete.
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tests/trial_runner/k8s/fake_apiserver.h"
#include "trial_runner/k8s/k8s_runner.h"

namespace hpt::runner::k8s {
namespace {

using json = nlohmann::json;
using testing::FakeApiServer;

json Job(const std::string& name) {
  json job = json::parse(R"({"apiVersion": "batch/v1", "kind": "Job", "metadata": {},
    "spec": {"template": {"spec": {"restartPolicy": "Never",
      "containers": [{"name": "train", "image": "python:3.11", "command": ["python3"]}]}}}})");
  job["metadata"]["name"] = name;
  return job;
}

struct Setup {
  std::unique_ptr<FakeApiServer> server;
  std::unique_ptr<K8sRunner> runner;
  std::string dir;
};

Setup Start() {
  Setup s;
  s.server = *FakeApiServer::Start();
  auto client = KubeClient::Create({.server = s.server->base_url(), .bearer_token = "t"});
  s.runner = *K8sRunner::Create(*std::move(client), {.default_namespace = "ml"});
  s.dir = (std::filesystem::temp_directory_path() / "hpt_k8s_bench").string();
  return s;
}

TrialLaunch Launch(const Setup& s, int i) {
  const std::string name = "bench-" + std::to_string(i);
  return {.trial_name = name,
          .study_name = "bench",
          .env = {{"HPT_ENDPOINT", "hptd:7070"}},
          .log_path = s.dir + "/" + name + ".log",
          .secret_env = {{"HPT_TRIAL_TOKEN", "token"}},
          .manifest = Job(name).dump()};
}

void BM_Launch(benchmark::State& state) {
  Setup s = Start();
  int i = 0;
  for (; i < state.range(0); ++i) (void)s.runner->Launch(Launch(s, i));
  for (auto _ : state) {
    absl::Status st = s.runner->Launch(Launch(s, i++));
    if (!st.ok()) state.SkipWithError(std::string(st.message()).c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Launch)->Arg(0)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_EndToStatus(benchmark::State& state) {
  Setup s = Start();
  int i = 0;
  for (; i < state.range(0); ++i) (void)s.runner->Launch(Launch(s, i));
  for (auto _ : state) {
    state.PauseTiming();
    const TrialLaunch l = Launch(s, i++);
    (void)s.runner->Launch(l);
    (void)s.server->CreatePodForJob("ml", l.trial_name, l.trial_name + "-p", "Running");
    (void)s.server->SetPodLog("ml", l.trial_name + "-p", "loss=0.5\n");
    // Wait until the runner has seen the pod running, so only the ending is timed.
    while (s.runner->Poll(l.trial_name)->phase != RunPhase::kRunning) std::this_thread::yield();
    state.ResumeTiming();
    (void)s.server->SetJobStatus("ml", l.trial_name,
                                 {{"conditions", {{{"type", "Complete"}, {"status", "True"}}}}});
    while (s.runner->Poll(l.trial_name)->phase != RunPhase::kSucceeded) std::this_thread::yield();
  }
}
BENCHMARK(BM_EndToStatus)->Arg(0)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace hpt::runner::k8s

BENCHMARK_MAIN();
