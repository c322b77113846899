// FakeKubelet: plays kubelet and job controller against a FakeApiServer, so that tests (and
// hpt_fake_cluster) can run whole studies on the Kubernetes runner without a cluster.
//
//   FakeKubelet kubelet(server.get(), {.preempt = {"mnist-00002 1"}});
//   ... run a study with the Kubernetes runner against server->base_url() ...
//   EXPECT_EQ(kubelet.jobs_seen(), 5);
//
// Every Job (any namespace) that appears gets one pod "<job>-a<attempt>" (attempt from the
// hpt.dev/attempt annotation). Its primary container (hpt.dev/primary-container, else the first)
// is "run": a command `sh -c "echo TEXT[; ...]"` prints TEXT (the pod's log), and the Job
// completes; a script containing "exit 1" fails the Job (BackoffLimitExceeded, exit code 1). A
// Job is preempted instead (pod Failed with DisruptionTarget=True PreemptionByScheduler, then the
// Job Failed) when "<job> <attempt>" is in Options::preempt, or when its script contains
// "preempt-once" and this is attempt 1.
//
// Thread-safety: one polling thread (every 5 ms) started by the constructor and joined by the
// destructor; jobs_seen() may be called from any thread.
#ifndef HPT_TESTS_TRIAL_RUNNER_K8S_FAKE_KUBELET_H_
#define HPT_TESTS_TRIAL_RUNNER_K8S_FAKE_KUBELET_H_

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "tests/trial_runner/k8s/fake_apiserver.h"

namespace hpt::runner::k8s::testing {

class FakeKubelet {
 public:
  struct Options {
    std::set<std::string> preempt;  // "<job name> <attempt>"
  };

  FakeKubelet(FakeApiServer* server, Options options);
  ~FakeKubelet();
  FakeKubelet(const FakeKubelet&) = delete;
  FakeKubelet& operator=(const FakeKubelet&) = delete;

  // Jobs (distinct uids) run so far.
  int jobs_seen() const { return jobs_seen_.load(); }

 private:
  void Loop();
  void Run(const nlohmann::json& job);

  FakeApiServer* server_;
  const Options options_;
  std::set<std::string> seen_;  // uids; only the polling thread touches it
  std::atomic<int> jobs_seen_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started when everything above is ready
};

}  // namespace hpt::runner::k8s::testing

#endif  // HPT_TESTS_TRIAL_RUNNER_K8S_FAKE_KUBELET_H_
