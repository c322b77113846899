// The study controller driving the Kubernetes runner against the in-process fake API server:
// a FakeKubelet plays kubelet and job controller (it "runs" each trial Job by printing what the
// container's `echo` would print into the pod's log), and preempts chosen attempts. What is
// real: the study YAML through the loader, the rendered Jobs, the REST client and runner, the
// SQLite tracker file. What is fake: the API server and the cluster behind it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "engine/controller.h"
#include "engine/validate.h"
#include "tests/trial_runner/k8s/fake_apiserver.h"
#include "tests/trial_runner/k8s/fake_kubelet.h"
#include "trial_runner/k8s/k8s_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using runner::k8s::testing::FakeApiServer;
using runner::k8s::testing::FakeKubelet;
using tracker::StudyState;
using tracker::TrialState;

std::string Study(int preemption_retries) {
  return R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: mnist
  namespace: ml
  annotations:
    ai.bloomberg.com/project: foo
    ai.bloomberg.com/experiment: abcde
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: random
  parallelTrialCount: 2
  maxTrialCount: 4
  parameters:
    - name: x
      parameterType: double
      feasibleSpace: {min: "0", max: "1"}
  trialTemplate:
    primaryContainerName: train
    trialParameters:
      - {name: x, reference: x}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: train
                image: python:3.11
                command: ["sh", "-c", "echo loss=${trialParameters.x}"]
                resources:
                  limits: {nvidia.com/gpu: 1}
            restartPolicy: Never
  hpt:
    kubernetes:
      preemptionRetries: )" +
         std::to_string(preemption_retries) + "\n";
}

class ControllerK8sTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("controller_k8s_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto server = FakeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    runner::k8s::KubeClientOptions co;
    co.initial_backoff = absl::Milliseconds(5);
    co.max_backoff = absl::Milliseconds(50);
    auto client = runner::k8s::KubeClient::Create({.server = server_->base_url()}, co);
    ASSERT_TRUE(client.ok()) << client.status();
    auto runner = runner::k8s::K8sRunner::Create(
        std::move(*client), {.default_namespace = "ml", .rewatch_backoff = absl::Milliseconds(20)});
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }

  // An engine restart: a new runner over the same fake API server takes the study up again
  // (resume + recover) and runs it to its end while a fake kubelet runs its Jobs. Every trial
  // must end SUCCEEDED with its loss (x) as objective, read from its log (adopted ones too).
  absl::StatusOr<tracker::StudyRecord> RestartAndFinish(const StudySpec& spec, ControllerOptions co,
                                                        int* jobs_run) {
    absl::StatusOr<std::unique_ptr<runner::k8s::KubeClient>> client =
        runner::k8s::KubeClient::Create({.server = server_->base_url()});
    if (!client.ok()) return client.status();
    auto runner = runner::k8s::K8sRunner::Create(std::move(*client), {.default_namespace = "ml"});
    if (!runner.ok()) return runner.status();
    runner_ = std::move(*runner);
    FakeKubelet cluster(server_.get(), {});  // the cluster runs them now
    co.resume = true;
    co.recover = true;
    co.study_name = "mnist";
    StudyController second(spec, store_.get(), runner_.get(), co);
    absl::StatusOr<tracker::StudyRecord> study = second.Run();
    *jobs_run = cluster.jobs_seen();
    if (!study.ok()) return study;
    EXPECT_EQ(study->state, StudyState::kSucceeded) << study->message;
    auto trials = store_->ListTrials(study->id);
    EXPECT_TRUE(trials.ok() && trials->size() == 4u);
    for (const tracker::TrialRecord& t :
         trials.ok() ? *trials : std::vector<tracker::TrialRecord>{}) {
      EXPECT_EQ(t.state, TrialState::kSucceeded) << t.name << ": " << t.message;
      EXPECT_TRUE(t.objective.has_value()) << t.name;
      if (t.objective) {
        EXPECT_EQ(suggest::FormatDouble(*t.objective), t.params[0].second);
      }
    }
    return study;
  }

  void TearDown() override {
    runner_.reset();
    server_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  absl::StatusOr<tracker::StudyRecord> RunYaml(const std::string& yaml) {
    const fs::path file = dir_ / "study.yaml";
    std::ofstream(file) << yaml;
    std::vector<Diagnostic> diags;
    absl::StatusOr<StudySpec> spec = LoadAndCheckStudy(file.string(), &diags);
    if (!spec.ok()) return spec.status();
    StudyController c(*spec, store_.get(), runner_.get(),
                      {.endpoint = "hptd.ml.svc:7070",
                       .runs_dir = (dir_ / "runs").string(),
                       .poll_interval_ms = 10,
                       .cluster = true});
    return c.Run();
  }

  std::vector<tracker::Event> Events(int64_t study_id, const std::string& kind) {
    std::vector<tracker::Event> out;
    absl::StatusOr<std::vector<tracker::Event>> all = store_->ListEvents(study_id);
    EXPECT_TRUE(all.ok()) << all.status();
    for (const tracker::Event& e : all.value_or(std::vector<tracker::Event>{})) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<runner::k8s::K8sRunner> runner_;
};

TEST_F(ControllerK8sTest, RunsEachTrialAsAJobAndReadsItsLog) {
  FakeKubelet cluster(server_.get(), {});
  auto study = RunYaml(Study(3));
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded) << study->message;
  EXPECT_EQ(study->project, "foo");
  auto trials = store_->ListTrials(study->id);
  ASSERT_EQ(trials->size(), 4u);
  for (const tracker::TrialRecord& t : *trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << t.name << ": " << t.message;
    ASSERT_TRUE(t.objective.has_value()) << t.name;
    EXPECT_EQ(suggest::FormatDouble(*t.objective), t.params[0].second);
  }
  // Each Job carried the study's annotations, a GPU limit, HPT_ENDPOINT and the token by
  // reference; every per-trial Secret is gone.
  EXPECT_EQ(cluster.jobs_seen(), 4);
  for (const json& job : server_->Jobs("ml")) {
    EXPECT_EQ(job["metadata"]["annotations"]["ai.bloomberg.com/project"], "foo");
    EXPECT_EQ(job["spec"]["template"]["metadata"]["annotations"]["ai.bloomberg.com/experiment"],
              "abcde");
    const json& c = job["spec"]["template"]["spec"]["containers"][0];
    EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"], 1);
    bool endpoint = false, token_ref = false, trial_dir = false;
    for (const json& e : c["env"]) {
      if (e["name"] == "HPT_ENDPOINT") endpoint = e["value"] == "hptd.ml.svc:7070";
      if (e["name"] == "HPT_TRIAL_TOKEN")
        token_ref = e.contains("valueFrom") && !e.contains("value");
      if (e["name"] == "HPT_TRIAL_DIR") trial_dir = true;
    }
    EXPECT_TRUE(endpoint);
    EXPECT_TRUE(token_ref);
    EXPECT_FALSE(trial_dir);  // a local path means nothing in a pod
  }
  EXPECT_TRUE(server_->Secrets("ml").empty());
}

TEST_F(ControllerK8sTest, PreemptedTrialIsRetriedWithoutCountingAsFailed) {
  FakeKubelet cluster(server_.get(), {.preempt = {"mnist-00002 1", "mnist-00002 2"}});
  auto study = RunYaml(Study(3));
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded) << study->message;
  auto trial = store_->FindTrial("mnist-00002");
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->state, TrialState::kSucceeded) << trial->message;
  ASSERT_TRUE(trial->objective.has_value());
  // The preempted attempts' points are gone: the objective is the third attempt's value.
  EXPECT_EQ(suggest::FormatDouble(*trial->objective), trial->params[0].second);
  EXPECT_EQ(cluster.jobs_seen(), 6);  // 4 trials, 2 retries
  std::vector<tracker::Event> preempted = Events(study->id, "TrialPreempted");
  ASSERT_EQ(preempted.size(), 2u);
  EXPECT_NE(preempted[0].message.find("PreemptionByScheduler: pod mnist-00002-a1 was disrupted"),
            std::string::npos)
      << preempted[0].message;
  EXPECT_NE(preempted[0].message.find("retry 1 of 3 (attempt 2)"), std::string::npos)
      << preempted[0].message;
  EXPECT_NE(preempted[1].message.find("retry 2 of 3 (attempt 3)"), std::string::npos)
      << preempted[1].message;
  auto trials = store_->ListTrials(study->id);
  for (const tracker::TrialRecord& t : *trials) EXPECT_EQ(t.state, TrialState::kSucceeded);
}

TEST_F(ControllerK8sTest, PreemptionBeyondTheBudgetFailsTheTrial) {
  FakeKubelet cluster(server_.get(), {.preempt = {"mnist-00001 1", "mnist-00001 2"}});
  auto study = RunYaml(Study(1));
  ASSERT_TRUE(study.ok()) << study.status();
  auto trial = store_->FindTrial("mnist-00001");
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->state, TrialState::kFailed);
  EXPECT_EQ(trial->reason, "TrialFailed. Job reason: PreemptionByScheduler");
  EXPECT_NE(trial->message.find("preempted 2 times, more than "
                                "spec.hpt.kubernetes.preemptionRetries=1 allows"),
            std::string::npos)
      << trial->message;
  EXPECT_EQ(Events(study->id, "TrialPreempted").size(), 1u);
}

TEST_F(ControllerK8sTest, RestartTakesUpTheRunningJobsWithoutDuplicates) {
  const fs::path file = dir_ / "study.yaml";
  std::ofstream(file) << Study(3);
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> spec = LoadAndCheckStudy(file.string(), &diags);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ControllerOptions co{.endpoint = "hptd.ml.svc:7070",
                       .runs_dir = (dir_ / "runs").string(),
                       .poll_interval_ms = 10,
                       .cluster = true};
  {
    // The first engine launches two Jobs and goes away (as hptd does on SIGTERM or a crash).
    StudyController first(*spec, store_.get(), runner_.get(), co);
    std::thread stopper([&] {
      while (server_->Jobs("ml").size() < 2)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      first.RequestDetach();
    });
    absl::StatusOr<tracker::StudyRecord> detached = first.Run();
    stopper.join();
    ASSERT_TRUE(detached.ok()) << detached.status();
    EXPECT_EQ(detached->state, tracker::StudyState::kRunning);
  }
  runner_.reset();  // the old engine's runner is gone; the Jobs are not
  int jobs_run = 0;
  absl::StatusOr<tracker::StudyRecord> study = RestartAndFinish(*spec, co, &jobs_run);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(server_->RequestCount("POST", "/apis/batch/v1/namespaces/ml/jobs"), 4);
  EXPECT_EQ(jobs_run, 4);
  EXPECT_EQ(Events(study->id, "TrialAdopted").size(), 2u);
}

// A Job deleted while no engine ran (with propagationPolicy Orphan, so its token Secret and its
// ended pod are left): the restarted engine finds nothing of the trial running
// (TrialRunner::Reclaim), deletes the Secret and runs the trial again once as attempt 2; the
// other Job is adopted, not created again.
TEST_F(ControllerK8sTest, RestartRunsATrialWhoseJobVanishedAgainOnce) {
  const fs::path file = dir_ / "study.yaml";
  std::ofstream(file) << Study(3);
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> spec = LoadAndCheckStudy(file.string(), &diags);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ControllerOptions co{.endpoint = "hptd.ml.svc:7070",
                       .runs_dir = (dir_ / "runs").string(),
                       .poll_interval_ms = 10,
                       .cluster = true};
  auto running = [&](const std::string& name) {
    absl::StatusOr<tracker::TrialRecord> t = store_->FindTrial(name);
    return t.ok() && t->state == TrialState::kRunning;
  };
  {
    // The first engine's two Jobs get a pod each (named so that the cluster's later pods sort
    // newer) and run; then the engine goes away.
    StudyController first(*spec, store_.get(), runner_.get(), co);
    std::thread stopper([&] {
      while (server_->Jobs("ml").size() < 2)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      for (const char* job : {"mnist-00001", "mnist-00002"}) {
        EXPECT_TRUE(server_->CreatePodForJob("ml", job, std::string(job) + "-0", "Running").ok());
      }
      while (!running("mnist-00001") || !running("mnist-00002"))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      first.RequestDetach();
    });
    absl::StatusOr<tracker::StudyRecord> detached = first.Run();
    stopper.join();
    ASSERT_TRUE(detached.ok()) << detached.status();
    EXPECT_EQ(detached->state, tracker::StudyState::kRunning);
  }
  runner_.reset();
  auto client = runner::k8s::KubeClient::Create({.server = server_->base_url()});
  ASSERT_TRUE(client.ok());
  const std::string lost_uid = server_->Get("jobs", "ml", "mnist-00001").value()["metadata"]["uid"];
  ASSERT_TRUE((*client)->Delete(runner::k8s::kJobs, "ml", "mnist-00001", "Orphan").ok());
  ASSERT_TRUE(server_->SetPodStatus("ml", "mnist-00001-0", {{"phase", "Failed"}}).ok());
  ASSERT_TRUE(server_->Get("secrets", "ml", "mnist-00001-hpt-token-1").has_value());
  int jobs_run = 0;
  absl::StatusOr<tracker::StudyRecord> study = RestartAndFinish(*spec, co, &jobs_run);
  ASSERT_TRUE(study.ok()) << study.status();

  auto lost = store_->FindTrial("mnist-00001");
  ASSERT_TRUE(lost.ok()) << lost.status();
  std::vector<tracker::Event> requeued = Events(study->id, "TrialRequeued");
  ASSERT_EQ(requeued.size(), 1u);
  EXPECT_EQ(requeued[0].trial_id, lost->id);
  EXPECT_EQ(requeued[0].message,
            "the previous engine ended while the trial ran (no Job or running pod of trial "
            "mnist-00001 is left in namespace ml; its token Secret mnist-00001-hpt-token-1 was "
            "deleted; its ended pod mnist-00001-0 was left as is); run again as attempt 2 with "
            "the same parameters and a new token; the lost attempt had reported no metric "
            "points");
  // The tracker counts the second start even when the fake cluster finished it before any poll
  // saw it running (a workload that succeeded has run).
  EXPECT_EQ(store_->FindTrial("mnist-00001")->attempt, 2);
  EXPECT_TRUE(Events(study->id, "TrialLost").empty());
  std::vector<tracker::Event> adopted = Events(study->id, "TrialAdopted");
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].trial_id, store_->FindTrial("mnist-00002")->id);

  // One Job per trial at any time: the lost one, then its replacement (attempt 2) once the lost
  // one was gone; 4 trials, 5 creates, and the cluster ran 4 Jobs.
  EXPECT_EQ(server_->RequestCount("POST", "/apis/batch/v1/namespaces/ml/jobs"), 5);
  EXPECT_EQ(jobs_run, 4);
  std::optional<json> job = server_->Get("jobs", "ml", "mnist-00001");
  ASSERT_TRUE(job.has_value());
  EXPECT_NE((*job)["metadata"]["uid"], lost_uid);
  EXPECT_EQ((*job)["metadata"]["annotations"]["hpt.dev/attempt"], "2");
  std::string attempt_env;
  for (const json& e : (*job)["spec"]["template"]["spec"]["containers"][0]["env"]) {
    if (e["name"] == "HPT_TRIAL_ATTEMPT") attempt_env = e["value"];
  }
  EXPECT_EQ(attempt_env, "2");
  EXPECT_TRUE(server_->Secrets("ml").empty());
}

}  // namespace
}  // namespace hpt::engine
