#include "trial_runner/k8s/k8s_runner.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/trial_runner/k8s/fake_apiserver.h"
#include "trial_runner/k8s/labels.h"

namespace hpt::runner::k8s {
namespace {

using json = nlohmann::json;
using testing::FakeApiServer;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// DeriveRunStatus: the status table, without a server.

json Job(json status = json::object()) {
  return {{"metadata", {{"name", "t1"}, {"uid", "u1"}}}, {"status", std::move(status)}};
}

json Pod(const std::string& name, const std::string& created, json status) {
  return {{"metadata", {{"name", name}, {"creationTimestamp", created}}},
          {"spec", {{"nodeName", "gpu-node-3"}, {"containers", {{{"name", "train"}}}}}},
          {"status", std::move(status)}};
}

json Cond(const std::string& type, const std::string& reason = "",
          const std::string& message = "") {
  return {{"type", type}, {"status", "True"}, {"reason", reason}, {"message", message}};
}

TEST(DeriveRunStatusTest, NoPodYet) {
  RunStatus st = DeriveRunStatus(Job(), {}, "");
  EXPECT_EQ(st.phase, RunPhase::kPending);
  EXPECT_EQ(st.reason, "Created");
  EXPECT_EQ(st.trial_name, "t1");
}

TEST(DeriveRunStatusTest, Suspended) {
  RunStatus st =
      DeriveRunStatus(Job({{"conditions", {Cond("Suspended", "JobSuspended")}}}), {}, "");
  EXPECT_EQ(st.phase, RunPhase::kPending);
  EXPECT_EQ(st.reason, "Suspended");
}

TEST(DeriveRunStatusTest, RunningPodOnItsNode) {
  RunStatus st = DeriveRunStatus(
      Job({{"active", 1}}), {Pod("t1-a", "2026-01-01T00:00:00Z", {{"phase", "Running"}})}, "train");
  EXPECT_EQ(st.phase, RunPhase::kRunning);
  EXPECT_EQ(st.reason, "Running");
  EXPECT_EQ(st.message, "pod t1-a on node gpu-node-3");
}

TEST(DeriveRunStatusTest, UnschedulableAndWaitingReasons) {
  json unschedulable = {
      {"phase", "Pending"},
      {"conditions",
       {{{"type", "PodScheduled"},
         {"status", "False"},
         {"reason", "Unschedulable"},
         {"message", "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}}}}};
  RunStatus st = DeriveRunStatus(Job(), {Pod("t1-a", "2026-01-01T00:00:00Z", unschedulable)}, "");
  EXPECT_EQ(st.phase, RunPhase::kPending);
  EXPECT_EQ(st.reason, "Unschedulable");
  EXPECT_EQ(st.message, "pod t1-a: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu.");

  json pulling = {
      {"phase", "Pending"},
      {"containerStatuses",
       {{{"name", "train"},
         {"state",
          {{"waiting",
            {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image"}}}}}}}}};
  st = DeriveRunStatus(Job(), {Pod("t1-a", "2026-01-01T00:00:00Z", pulling)}, "");
  EXPECT_EQ(st.reason, "ImagePullBackOff");
  EXPECT_EQ(st.message, "pod t1-a container train: ImagePullBackOff: Back-off pulling image");
}

TEST(DeriveRunStatusTest, CompleteAndFailedWithExitCode) {
  json terminated = {
      {"phase", "Failed"},
      {"containerStatuses",
       {{{"name", "train"}, {"state", {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}}}}}}};
  RunStatus st = DeriveRunStatus(Job({{"failed", 1},
                                      {"conditions",
                                       {Cond("Failed", "BackoffLimitExceeded",
                                             "Job has reached the specified backoff limit")}}}),
                                 {Pod("t1-a", "2026-01-01T00:00:00Z", terminated)}, "train");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "BackoffLimitExceeded");
  EXPECT_EQ(st.message,
            "Job has reached the specified backoff limit; pod t1-a container train: exit code 3 "
            "(Error)");
  EXPECT_EQ(st.exit_code, 3);

  st = DeriveRunStatus(Job({{"conditions", {Cond("Complete")}}}), {}, "");
  EXPECT_EQ(st.phase, RunPhase::kSucceeded);
  EXPECT_EQ(st.reason, "Completed");

  st = DeriveRunStatus(Job({{"conditions",
                             {Cond("Failed", "DeadlineExceeded",
                                   "Job was active longer than specified deadline")}}}),
                       {}, "");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "DeadlineExceeded");
}

TEST(DeriveRunStatusTest, PreemptedWhenTheNewestPodWasDisrupted) {
  json failed = {{"phase", "Failed"}};
  json preempted = {{"phase", "Failed"},
                    {"conditions",
                     {Cond("DisruptionTarget", "PreemptionByScheduler",
                           "Preempted by a pod on node gpu-node-3")}}};
  const json failed_job = Job({{"conditions", {Cond("Failed", "BackoffLimitExceeded")}}});
  RunStatus st = DeriveRunStatus(
      failed_job,
      {Pod("t1-a", "2026-01-01T00:00:00Z", failed), Pod("t1-b", "2026-01-01T00:05:00Z", preempted)},
      "");
  EXPECT_EQ(st.phase, RunPhase::kPreempted);
  EXPECT_EQ(st.reason, "PreemptionByScheduler");
  EXPECT_EQ(
      st.message,
      "pod t1-b was disrupted (PreemptionByScheduler): Preempted by a pod on node gpu-node-3");
  // The newest pod failed by itself: a real failure, even though an older one was evicted.
  st = DeriveRunStatus(
      failed_job,
      {Pod("t1-a", "2026-01-01T00:00:00Z", preempted), Pod("t1-b", "2026-01-01T00:05:00Z", failed)},
      "");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  // A disrupted pod while the Job still runs: the Job controller restarts it.
  st = DeriveRunStatus(Job(), {Pod("t1-a", "2026-01-01T00:00:00Z", preempted)}, "");
  EXPECT_EQ(st.phase, RunPhase::kPending);
  EXPECT_EQ(st.reason, "Restarting");
}

// ---------------------------------------------------------------------------------------------
// The runner against the fake API server.

constexpr char kNs[] = "ml";

json TrialJob(const std::string& name) {
  json job = json::parse(R"({
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"annotations": {"ai.bloomberg.com/project": "foo"}},
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
      {"name": "sidecar", "image": "busybox"},
      {"name": "train", "image": "python:3.11", "command": ["python3", "train.py"],
       "env": [{"name": "KATIB_TRIAL_NAME", "value": "x"}]}]}}}})");
  job["metadata"]["name"] = name;
  return job;
}

class K8sRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("k8s_runner_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    runner_ = NewRunner();
  }

  std::unique_ptr<K8sRunner> NewRunner(K8sRunnerOptions options = {}) {
    KubeClientOptions co;
    co.initial_backoff = absl::Milliseconds(5);
    co.max_backoff = absl::Milliseconds(50);
    co.request_timeout = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<KubeClient>> client =
        KubeClient::Create({.server = server_->base_url(), .bearer_token = "t"}, co);
    EXPECT_TRUE(client.ok()) << client.status();
    options.default_namespace = kNs;
    options.rewatch_backoff = absl::Milliseconds(20);
    absl::StatusOr<std::unique_ptr<K8sRunner>> runner =
        K8sRunner::Create(*std::move(client), std::move(options));
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? *std::move(runner) : nullptr;
  }

  TrialLaunch Launch(const std::string& name, int attempt = 1) {
    return {.trial_name = name,
            .study_name = "mnist",
            .env = {{"HPT_TRIAL_ID", name}, {"HPT_ENDPOINT", "hptd.ml.svc:7070"}},
            .log_path = (dir_ / name / "trial.log").string(),
            .secret_env = {{"HPT_TRIAL_TOKEN", "tok-" + name}},
            .attempt = attempt,
            .manifest = TrialJob(name).dump(),
            .primary_container = "train"};
  }

  // Polls until `want` holds (the runner's watches are asynchronous); the last status.
  RunStatus WaitFor(K8sRunner* runner, const std::string& name,
                    const std::function<bool(const RunStatus&)>& want) {
    RunStatus last;
    for (int i = 0; i < 3000; ++i) {
      absl::StatusOr<RunStatus> st = runner->Poll(name);
      EXPECT_TRUE(st.ok()) << st.status();
      if (!st.ok()) return last;
      last = *st;
      if (want(last)) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "timed out; last status " << RunPhaseName(last.phase) << " " << last.reason
                  << ": " << last.message;
    return last;
  }
  RunStatus WaitForPhase(const std::string& name, RunPhase phase) {
    return WaitFor(runner_.get(), name, [&](const RunStatus& s) { return s.phase == phase; });
  }

  std::string ReadFile(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::unique_ptr<FakeApiServer> server_;
  std::filesystem::path dir_;
  std::unique_ptr<K8sRunner> runner_;
};

TEST_F(K8sRunnerTest, LaunchCreatesTheSecretThenTheJob) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  std::optional<json> job = server_->Get("jobs", kNs, "mnist-00001");
  ASSERT_TRUE(job.has_value());
  const json& meta = (*job)["metadata"];
  EXPECT_EQ(meta["labels"]["hpt.dev/study"], "mnist");
  EXPECT_EQ(meta["labels"]["hpt.dev/trial"], "mnist-00001");
  EXPECT_EQ(meta["annotations"]["hpt.dev/attempt"], "1");
  EXPECT_EQ(meta["annotations"]["hpt.dev/primary-container"], "train");
  EXPECT_EQ(meta["annotations"]["ai.bloomberg.com/project"], "foo");
  EXPECT_EQ((*job)["spec"]["template"]["metadata"]["labels"]["hpt.dev/trial"], "mnist-00001");

  // Env goes to the primary container only; the token by reference, never literally.
  const json& containers = (*job)["spec"]["template"]["spec"]["containers"];
  EXPECT_FALSE(containers[0].contains("env"));
  const json& env = containers[1]["env"];
  auto find = [&](const std::string& name) {
    for (const json& e : env) {
      if (e["name"] == name) return e;
    }
    return json();
  };
  EXPECT_EQ(find("HPT_ENDPOINT")["value"], "hptd.ml.svc:7070");
  EXPECT_EQ(find("KATIB_TRIAL_NAME")["value"], "x");  // the template's own value is kept
  EXPECT_EQ(find("HPT_TRIAL_TOKEN"),
            json({{"name", "HPT_TRIAL_TOKEN"},
                  {"valueFrom",
                   {{"secretKeyRef",
                     {{"name", "mnist-00001-hpt-token-1"}, {"key", "HPT_TRIAL_TOKEN"}}}}}}));
  EXPECT_EQ(job->dump().find("tok-mnist-00001"), std::string::npos);

  std::optional<json> secret = server_->Get("secrets", kNs, "mnist-00001-hpt-token-1");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["data"]["HPT_TRIAL_TOKEN"], "dG9rLW1uaXN0LTAwMDAx");  // base64
  ASSERT_TRUE((*secret)["metadata"].contains("ownerReferences"));
  EXPECT_EQ((*secret)["metadata"]["ownerReferences"][0]["uid"], meta["uid"]);
  EXPECT_EQ((*secret)["metadata"]["ownerReferences"][0]["kind"], "Job");

  // The Secret was created before the Job.
  std::vector<testing::RecordedRequest> r = server_->Requests();
  int secret_post = -1, job_post = -1;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i].method != "POST") continue;
    if (r[i].path == "/api/v1/namespaces/ml/secrets") secret_post = static_cast<int>(i);
    if (r[i].path == "/apis/batch/v1/namespaces/ml/jobs") job_post = static_cast<int>(i);
  }
  EXPECT_GE(secret_post, 0);
  EXPECT_GT(job_post, secret_post);

  absl::StatusOr<RunStatus> st = runner_->Poll("mnist-00001");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->phase, RunPhase::kPending);
  EXPECT_EQ(st->attempt, 1);
}

TEST_F(K8sRunnerTest, JobDefaultsFillOnlyWhatTheJobLacks) {
  K8sRunnerOptions o;
  o.job_defaults = {.priority_class_name = "team-low", .backoff_limit = 0, .queue_name = "team-a"};
  std::unique_ptr<K8sRunner> runner = NewRunner(o);
  TrialLaunch l = Launch("mnist-00002");
  json manifest = json::parse(l.manifest);
  manifest["spec"]["template"]["spec"]["priorityClassName"] = "team-high";
  l.manifest = manifest.dump();
  ASSERT_TRUE(runner->Launch(l).ok());
  std::optional<json> job = server_->Get("jobs", kNs, "mnist-00002");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*job)["spec"]["template"]["spec"]["priorityClassName"], "team-high");
  EXPECT_EQ((*job)["spec"]["backoffLimit"], 0);
  EXPECT_EQ((*job)["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "team-a");
}

TEST_F(K8sRunnerTest, FollowsTheJobToSuccessAndCopiesTheLog) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "mnist-00001-x1", "Running").ok());
  RunStatus st = WaitForPhase("mnist-00001", RunPhase::kRunning);
  EXPECT_EQ(st.message, "pod mnist-00001-x1");

  ASSERT_TRUE(server_->SetPodLog(kNs, "mnist-00001-x1", "accuracy=0.91\nloss=0.2\n", "train").ok());
  ASSERT_TRUE(server_->SetPodStatus(kNs, "mnist-00001-x1", {{"phase", "Succeeded"}}).ok());
  ASSERT_TRUE(server_
                  ->SetJobStatus(kNs, "mnist-00001",
                                 {{"succeeded", 1},
                                  {"conditions", {{{"type", "Complete"}, {"status", "True"}}}}})
                  .ok());
  st = WaitForPhase("mnist-00001", RunPhase::kSucceeded);
  EXPECT_EQ(st.reason, "Completed");
  EXPECT_EQ(st.log_path, (dir_ / "mnist-00001" / "trial.log").string());
  EXPECT_EQ(ReadFile(st.log_path), "accuracy=0.91\nloss=0.2\n");
  // The token is revoked with the trial.
  EXPECT_FALSE(server_->Get("secrets", kNs, "mnist-00001-hpt-token-1").has_value());
  // Cancelling an ended trial changes nothing.
  EXPECT_TRUE(runner_->Cancel("mnist-00001").ok());
  EXPECT_EQ(runner_->Poll("mnist-00001")->phase, RunPhase::kSucceeded);
}

TEST_F(K8sRunnerTest, FailedJobKeepsItsReasonAndExitCode) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "mnist-00001-x1", "Running").ok());
  ASSERT_TRUE(server_
                  ->SetPodStatus(
                      kNs, "mnist-00001-x1",
                      {{"phase", "Failed"},
                       {"containerStatuses",
                        {{{"name", "train"},
                          {"state", {{"terminated", {{"exitCode", 2}, {"reason", "Error"}}}}}}}}})
                  .ok());
  ASSERT_TRUE(server_
                  ->SetJobStatus(kNs, "mnist-00001",
                                 {{"failed", 1},
                                  {"conditions",
                                   {{{"type", "Failed"},
                                     {"status", "True"},
                                     {"reason", "BackoffLimitExceeded"},
                                     {"message", "Job has reached the specified backoff limit"}}}}})
                  .ok());
  RunStatus st = WaitForPhase("mnist-00001", RunPhase::kFailed);
  EXPECT_EQ(st.reason, "BackoffLimitExceeded");
  EXPECT_EQ(st.exit_code, 2);
  EXPECT_THAT(st.message, HasSubstr("exit code 2 (Error)"));
}

TEST_F(K8sRunnerTest, PreemptedTrialIsRetriedAsANewAttempt) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  const std::string first_uid = server_->Get("jobs", kNs, "mnist-00001").value()["metadata"]["uid"];
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "mnist-00001-x1", "Running").ok());
  ASSERT_TRUE(server_
                  ->SetPodStatus(kNs, "mnist-00001-x1",
                                 {{"phase", "Failed"},
                                  {"conditions",
                                   {{{"type", "DisruptionTarget"},
                                     {"status", "True"},
                                     {"reason", "PreemptionByScheduler"}}}}})
                  .ok());
  ASSERT_TRUE(
      server_
          ->SetJobStatus(
              kNs, "mnist-00001",
              {{"failed", 1},
               {"conditions",
                {{{"type", "Failed"}, {"status", "True"}, {"reason", "BackoffLimitExceeded"}}}}})
          .ok());
  RunStatus st = WaitForPhase("mnist-00001", RunPhase::kPreempted);
  EXPECT_EQ(st.reason, "PreemptionByScheduler");

  // The same attempt again is refused; the next attempt replaces the old Job.
  EXPECT_TRUE(absl::IsAlreadyExists(runner_->Launch(Launch("mnist-00001", 1))));
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001", 2)).ok());
  std::optional<json> job = server_->Get("jobs", kNs, "mnist-00001");
  ASSERT_TRUE(job.has_value());
  EXPECT_NE((*job)["metadata"]["uid"], first_uid);
  EXPECT_EQ((*job)["metadata"]["annotations"]["hpt.dev/attempt"], "2");
  EXPECT_TRUE(server_->Get("secrets", kNs, "mnist-00001-hpt-token-2").has_value());
  EXPECT_EQ(server_->Jobs(kNs).size(), 1u);
  st = *runner_->Poll("mnist-00001");
  EXPECT_EQ(st.phase, RunPhase::kPending);
  EXPECT_EQ(st.attempt, 2);
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "mnist-00001-y1", "Running").ok());
  st = WaitForPhase("mnist-00001", RunPhase::kRunning);
  EXPECT_EQ(st.message, "pod mnist-00001-y1");
}

TEST_F(K8sRunnerTest, AlreadyExistsAdoptsOwnJobNeverDuplicates) {
  // The create reached the server but its answer was lost: the retry meets 409 and adopts.
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  std::unique_ptr<K8sRunner> restarted = NewRunner();
  ASSERT_TRUE(restarted->Launch(Launch("mnist-00001")).ok());
  EXPECT_EQ(server_->Jobs(kNs).size(), 1u);
  EXPECT_EQ(restarted->Poll("mnist-00001")->phase, RunPhase::kPending);
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "p", "Running").ok());
  WaitFor(restarted.get(), "mnist-00001",
          [](const RunStatus& s) { return s.phase == RunPhase::kRunning; });
}

TEST_F(K8sRunnerTest, ServerErrorOnCreateThatWasStoredIsAdopted) {
  // 500 after the Job was stored is indistinguishable from a lost answer; the client retries,
  // meets 409 and the runner adopts the Job it finds.
  server_->FailNext({.count = 2,
                     .code = 503,
                     .method = "POST",
                     .path_prefix = "/apis/batch/v1/namespaces/ml/jobs"});
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  EXPECT_EQ(server_->Jobs(kNs).size(), 1u);
  EXPECT_EQ(server_->RequestCount("POST", "/apis/batch/v1/namespaces/ml/jobs"), 3);
}

TEST_F(K8sRunnerTest, ForeignJobWithTheSameNameIsNotAdopted) {
  json foreign = TrialJob("mnist-00001");
  absl::StatusOr<std::unique_ptr<KubeClient>> client =
      KubeClient::Create({.server = server_->base_url()});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Create(kJobs, kNs, foreign).ok());
  absl::Status s = runner_->Launch(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("a Job named ml/mnist-00001 already exists and was not created by hpt for "
                        "this trial"));
  EXPECT_EQ(runner_->Poll("mnist-00001")->reason, "LaunchFailed");
  EXPECT_TRUE(server_->Secrets(kNs).empty());  // the Secret is cleaned up
}

TEST_F(K8sRunnerTest, InvalidJobFailsTheTrialWithTheServersMessage) {
  TrialLaunch l = Launch("mnist-00001");
  json manifest = json::parse(l.manifest);
  manifest["spec"]["template"]["spec"]["restartPolicy"] = "Always";
  l.manifest = manifest.dump();
  ASSERT_TRUE(runner_->Launch(l).ok());
  RunStatus st = *runner_->Poll("mnist-00001");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Invalid");
  EXPECT_THAT(st.message, HasSubstr("the API server refused the Job"));
  EXPECT_THAT(st.message, HasSubstr("restartPolicy"));
  EXPECT_TRUE(server_->Secrets(kNs).empty());
}

TEST_F(K8sRunnerTest, TooManyRequestsOnCreateIsWaitedOut) {
  server_->FailNext({.count = 2, .code = 429, .retry_after_seconds = 0, .method = "POST"});
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  EXPECT_EQ(server_->Jobs(kNs).size(), 1u);
}

TEST_F(K8sRunnerTest, RejectsWhatItCannotRun) {
  TrialLaunch l = Launch("mnist-00001");
  l.manifest = R"({"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "x"}})";
  absl::Status s = runner_->Launch(l);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(),
            "trial 'mnist-00001': the Kubernetes runner runs batch/v1 Jobs; this trial's workload "
            "is kubeflow.org/v1 TFJob (TFJob, PyTorchJob and other kinds are not supported yet)");
  l = Launch("mnist-00001");
  l.primary_container = "nope";
  s = runner_->Launch(l);
  EXPECT_EQ(s.message(),
            "trial 'mnist-00001': the primary container \"nope\" is not in "
            "spec.template.spec.containers");
  l = Launch("Bad_Name");
  s = runner_->Launch(l);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("metadata.name \"Bad_Name\" is not a valid Job name"));
  l = Launch("mnist-00001");
  l.manifest = "not json";
  EXPECT_TRUE(absl::IsInvalidArgument(runner_->Launch(l)));
  EXPECT_TRUE(server_->Jobs().empty());
  EXPECT_TRUE(absl::IsNotFound(runner_->Poll("mnist-00001").status()));
}

TEST_F(K8sRunnerTest, CancelDeletesTheJobAndTheSecret) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "p", "Running").ok());
  WaitForPhase("mnist-00001", RunPhase::kRunning);
  ASSERT_TRUE(runner_->Cancel("mnist-00001").ok());
  RunStatus st = *runner_->Poll("mnist-00001");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Cancelled");
  EXPECT_TRUE(server_->Jobs(kNs).empty());
  EXPECT_TRUE(server_->Pods(kNs).empty());
  EXPECT_TRUE(server_->Secrets(kNs).empty());
  EXPECT_EQ(server_->RequestCount("DELETE", "/apis/batch/v1/namespaces/ml/jobs/mnist-00001"), 1);
  EXPECT_TRUE(absl::IsNotFound(runner_->Cancel("nope")));
}

TEST_F(K8sRunnerTest, JobDeletedBehindItsBackFailsTheTrial) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  absl::StatusOr<std::unique_ptr<KubeClient>> client =
      KubeClient::Create({.server = server_->base_url()});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Delete(kJobs, kNs, "mnist-00001").ok());
  RunStatus st = WaitForPhase("mnist-00001", RunPhase::kFailed);
  EXPECT_EQ(st.reason, "JobDeleted");
}

TEST_F(K8sRunnerTest, RecoversFromDroppedWatchesAndExpiredVersions) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "p", "Running").ok());
  WaitForPhase("mnist-00001", RunPhase::kRunning);
  // The watches break; then history is compacted, so re-watching from the last version is 410
  // and the runner must list again to see the change.
  server_->DropWatches();
  server_->Compact();
  ASSERT_TRUE(server_
                  ->SetJobStatus(kNs, "mnist-00001",
                                 {{"conditions", {{{"type", "Complete"}, {"status", "True"}}}}})
                  .ok());
  WaitForPhase("mnist-00001", RunPhase::kSucceeded);
}

TEST_F(K8sRunnerTest, ApiServerOutageDuringWatchIsRiddenOut) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  server_->FailNext({.count = 5, .code = 500, .method = "GET"});
  server_->DropWatches();
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "p", "Running").ok());
  WaitForPhase("mnist-00001", RunPhase::kRunning);
}

TEST_F(K8sRunnerTest, AdoptReattachesAfterARestart) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00002", 2)).ok());
  TrialLaunch other = Launch("other-00001");
  other.study_name = "other";
  ASSERT_TRUE(runner_->Launch(other).ok());
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00002", "p2", "Running").ok());
  runner_.reset();  // the engine goes away; the Jobs stay

  std::unique_ptr<K8sRunner> runner = NewRunner();
  EXPECT_TRUE(absl::IsNotFound(runner->Poll("mnist-00001").status()));
  absl::StatusOr<std::vector<RunStatus>> adopted = runner->Adopt("mnist");
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  ASSERT_EQ(adopted->size(), 2u);
  EXPECT_EQ((*adopted)[0].trial_name, "mnist-00001");
  EXPECT_EQ((*adopted)[0].phase, RunPhase::kPending);
  EXPECT_EQ((*adopted)[1].trial_name, "mnist-00002");
  EXPECT_EQ((*adopted)[1].phase, RunPhase::kRunning);
  EXPECT_EQ((*adopted)[1].attempt, 2);

  ASSERT_TRUE(server_
                  ->SetJobStatus(kNs, "mnist-00002",
                                 {{"conditions", {{{"type", "Complete"}, {"status", "True"}}}}})
                  .ok());
  ASSERT_TRUE(server_->SetPodLog(kNs, "p2", "loss=0.25\n", "train").ok());
  WaitFor(runner.get(), "mnist-00002",
          [](const RunStatus& s) { return s.phase == RunPhase::kSucceeded; });
  EXPECT_FALSE(server_->Get("secrets", kNs, "mnist-00002-hpt-token-2").has_value());
  // The engine attaches to it only now: the log it missed is copied at the attach.
  ASSERT_TRUE(runner->Launch(Launch("mnist-00002", 2)).ok());
  EXPECT_EQ(ReadFile(dir_ / "mnist-00002" / "trial.log"), "loss=0.25\n");
  EXPECT_EQ(server_->Jobs(kNs).size(), 3u);  // attached, not created again
  ASSERT_TRUE(runner->Cancel("mnist-00001").ok());
  EXPECT_FALSE(server_->Get("jobs", kNs, "mnist-00001").has_value());
  EXPECT_TRUE(server_->Get("jobs", kNs, "other-00001").has_value());
}

// Deleting a study: its finished Jobs and Secrets go, so that a new study of the same name
// creates fresh Jobs instead of adopting the old ones as its own.
TEST_F(K8sRunnerTest, PurgeDeletesTheStudysJobsAndForgetsItsTrials) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00002")).ok());
  TrialLaunch other = Launch("other-00001");
  other.study_name = "other";
  ASSERT_TRUE(runner_->Launch(other).ok());
  ASSERT_TRUE(server_
                  ->SetJobStatus(kNs, "mnist-00001",
                                 {{"conditions", {{{"type", "Complete"}, {"status", "True"}}}}})
                  .ok());
  WaitForPhase("mnist-00001", RunPhase::kSucceeded);
  ASSERT_TRUE(runner_->Cancel("mnist-00002").ok());

  ASSERT_TRUE(runner_->Purge("mnist").ok());
  EXPECT_FALSE(server_->Get("jobs", kNs, "mnist-00001").has_value());
  EXPECT_FALSE(server_->Get("jobs", kNs, "mnist-00002").has_value());
  EXPECT_TRUE(server_->Get("jobs", kNs, "other-00001").has_value());
  EXPECT_TRUE(server_->Get("secrets", kNs, "other-00001-hpt-token-1").has_value());
  EXPECT_EQ(server_->Secrets(kNs).size(), 1u);
  EXPECT_TRUE(absl::IsNotFound(runner_->Poll("mnist-00001").status()));
  EXPECT_EQ(runner_->Poll("other-00001")->phase, RunPhase::kPending);
  EXPECT_TRUE(runner_->Purge("mnist").ok());  // nothing left: still OK

  // The same name again is a new Job, followed from the start.
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  EXPECT_EQ(runner_->Poll("mnist-00001")->phase, RunPhase::kPending);
  EXPECT_EQ(server_->RequestCount("POST", "/apis/batch/v1/namespaces/ml/jobs"), 4);
}

// ---------------------------------------------------------------------------------------------
// Reclaim: after a restart, a trial whose Job vanished may run again only when nothing of it is
// left running.

class K8sReclaimTest : public K8sRunnerTest {
 protected:
  // A client of its own, as kubectl would be.
  std::unique_ptr<KubeClient> Kubectl() {
    absl::StatusOr<std::unique_ptr<KubeClient>> client =
        KubeClient::Create({.server = server_->base_url()});
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // The engine (and its runner) went away while the Job ran; then the Job was deleted without
  // its dependents (propagationPolicy Orphan), so its pods and token Secret are left.
  void EngineGoneThenJobDeleted(const std::string& name) {
    runner_.reset();
    ASSERT_TRUE(Kubectl()->Delete(kJobs, kNs, name, "Orphan").ok());
  }

  // The next engine's runner, after its Adopt found nothing of the study.
  std::unique_ptr<K8sRunner> Restarted() {
    std::unique_ptr<K8sRunner> runner = NewRunner();
    absl::StatusOr<std::vector<RunStatus>> adopted = runner->Adopt("mnist");
    EXPECT_TRUE(adopted.ok()) << adopted.status();
    EXPECT_TRUE(adopted.ok() && adopted->empty());
    return runner;
  }
};

TEST_F(K8sReclaimTest, JobGoneNoPodDeletesTheSecretAndTheNextAttemptRuns) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  EngineGoneThenJobDeleted("mnist-00001");
  ASSERT_TRUE(server_->Get("secrets", kNs, "mnist-00001-hpt-token-1").has_value());
  std::unique_ptr<K8sRunner> runner = Restarted();

  absl::StatusOr<Reclaimed> r = runner->Reclaim(Launch("mnist-00001"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->message,
            "no Job or running pod of trial mnist-00001 is left in namespace ml; its token Secret "
            "mnist-00001-hpt-token-1 was deleted");
  EXPECT_TRUE(server_->Secrets(kNs).empty());
  EXPECT_TRUE(server_->Jobs(kNs).empty());
  // Calling it again finds nothing at all.
  r = runner->Reclaim(Launch("mnist-00001"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 0);
  EXPECT_EQ(r->message, "no Job or running pod of trial mnist-00001 is left in namespace ml");

  // A leftover Secret of the next attempt's name (its owner gone) does not stop the launch.
  json stale = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata",
                 {{"name", "mnist-00001-hpt-token-2"},
                  {"ownerReferences",
                   {{{"apiVersion", "batch/v1"},
                     {"kind", "Job"},
                     {"name", "mnist-00001"},
                     {"uid", "gone"}}}}}},
                {"stringData", {{"HPT_TRIAL_TOKEN", "old"}}}};
  ASSERT_TRUE(Kubectl()->Create(kSecrets, kNs, stale).ok());
  ASSERT_TRUE(runner->Launch(Launch("mnist-00001", 2)).ok());
  ASSERT_EQ(server_->Jobs(kNs).size(), 1u);
  const json job = server_->Jobs(kNs)[0];
  EXPECT_EQ(job["metadata"]["annotations"]["hpt.dev/attempt"], "2");
  std::optional<json> secret = server_->Get("secrets", kNs, "mnist-00001-hpt-token-2");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["data"]["HPT_TRIAL_TOKEN"], "dG9rLW1uaXN0LTAwMDAx");  // the new token
  ASSERT_EQ((*secret)["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ((*secret)["metadata"]["ownerReferences"][0]["uid"], job["metadata"]["uid"]);
  EXPECT_EQ(server_->Secrets(kNs).size(), 1u);
  EXPECT_EQ(runner->Poll("mnist-00001")->attempt, 2);
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "mnist-00001-b1", "Running").ok());
  RunStatus st = WaitFor(runner.get(), "mnist-00001",
                         [](const RunStatus& s) { return s.phase == RunPhase::kRunning; });
  EXPECT_EQ(st.message, "pod mnist-00001-b1");
}

TEST_F(K8sReclaimTest, PodsThatHaveNotEndedBlockItUntilTheyEnd) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  ASSERT_TRUE(server_->CreatePodForJob(kNs, "mnist-00001", "mnist-00001-a1", "Running").ok());
  EngineGoneThenJobDeleted("mnist-00001");
  // A pod that only the Job controller's job-name label ties to the trial counts too.
  json stray = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "stray"}, {"labels", {{"job-name", "mnist-00001"}}}}},
                {"spec", {{"containers", {{{"name", "train"}, {"image", "python:3.11"}}}}}}};
  ASSERT_TRUE(Kubectl()->Create(kPods, kNs, stray).ok());
  ASSERT_TRUE(server_->SetPodStatus(kNs, "stray", {{"phase", "Pending"}}).ok());
  std::unique_ptr<K8sRunner> runner = Restarted();

  absl::StatusOr<Reclaimed> r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(r.status().message(),
            "trial 'mnist-00001': its Job ml/mnist-00001 is gone but pods ml/mnist-00001-a1 "
            "(Running), ml/stray (Pending) have not ended; hpt does not run the trial again "
            "while any of it may still run");
  EXPECT_TRUE(server_->Get("secrets", kNs, "mnist-00001-hpt-token-1").has_value());

  ASSERT_TRUE(Kubectl()->Delete(kPods, kNs, "stray").ok());
  r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(r.status().message(),
            "trial 'mnist-00001': its Job ml/mnist-00001 is gone but pod ml/mnist-00001-a1 "
            "(Running) has not ended; hpt does not run the trial again while any of it may "
            "still run");

  ASSERT_TRUE(server_->SetPodStatus(kNs, "mnist-00001-a1", {{"phase", "Failed"}}).ok());
  r = runner->Reclaim(Launch("mnist-00001"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->message,
            "no Job or running pod of trial mnist-00001 is left in namespace ml; its token Secret "
            "mnist-00001-hpt-token-1 was deleted; its ended pod mnist-00001-a1 was left as is");
  EXPECT_TRUE(server_->Secrets(kNs).empty());
  EXPECT_TRUE(server_->Get("pods", kNs, "mnist-00001-a1").has_value());
}

TEST_F(K8sReclaimTest, AJobThatExistsIsNeverReplaced) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  // This runner still follows the trial: it is not lost.
  absl::StatusOr<Reclaimed> r = runner_->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(r.status().message(),
            "trial 'mnist-00001': this runner still follows it (Pending, attempt 1 in namespace "
            "ml); it is not lost, so it is not run again");

  // Someone edits the Job's labels while no engine runs: the next Adopt does not find it.
  runner_.reset();
  ASSERT_TRUE(Kubectl()
                  ->MergePatch(kJobs, kNs, "mnist-00001",
                               {{"metadata", {{"labels", {{"hpt.dev/study", "edited"}}}}}})
                  .ok());
  std::unique_ptr<K8sRunner> runner = Restarted();
  r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(r.status().message(),
            "trial 'mnist-00001': Job mnist-00001 in namespace ml exists (not finished, attempt "
            "1) but was not adopted: its labels hpt.dev/study and hpt.dev/trial do not name this "
            "trial, or the runner does not adopt from namespace ml; hpt does not run the trial "
            "again while the Job exists: delete it to let hpt run the trial again");
  // A finished one is kept just the same; nothing was deleted.
  ASSERT_TRUE(server_
                  ->SetJobStatus(kNs, "mnist-00001",
                                 {{"conditions", {{{"type", "Complete"}, {"status", "True"}}}}})
                  .ok());
  r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("exists (finished, attempt 1)"));
  EXPECT_EQ(server_->Jobs(kNs).size(), 1u);
  EXPECT_TRUE(server_->Get("secrets", kNs, "mnist-00001-hpt-token-1").has_value());
  EXPECT_EQ(server_->RequestCount("DELETE"), 0);
}

TEST_F(K8sReclaimTest, ApiServerErrorsAreReturnedNotGuessed) {
  ASSERT_TRUE(runner_->Launch(Launch("mnist-00001")).ok());
  EngineGoneThenJobDeleted("mnist-00001");
  std::unique_ptr<K8sRunner> runner = NewRunner();  // no Adopt: no watch traffic either

  // Every attempt of the client fails (max_attempts 8).
  server_->FailNext({.count = 8,
                     .code = 503,
                     .method = "GET",
                     .path_prefix = "/apis/batch/v1/namespaces/ml/jobs/mnist-00001"});
  absl::StatusOr<Reclaimed> r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(HttpStatus(r.status()), 503);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("trial 'mnist-00001': cannot tell whether its Job ml/mnist-00001 is left: "
                        "GET /apis/batch/v1/namespaces/ml/jobs/mnist-00001: 503"));

  server_->FailNext({.count = 1, .code = 403, .method = "GET", .path_prefix = "/api/v1"});
  r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("trial 'mnist-00001': cannot list its pods in namespace ml: "));

  server_->FailNext({.count = 8,
                     .code = 500,
                     .method = "DELETE",
                     .path_prefix = "/api/v1/namespaces/ml/secrets"});
  r = runner->Reclaim(Launch("mnist-00001"));
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(
      std::string(r.status().message()),
      HasSubstr(
          "trial 'mnist-00001': cannot delete its token Secret ml/mnist-00001-hpt-token-1: "));
  EXPECT_TRUE(server_->Get("secrets", kNs, "mnist-00001-hpt-token-1").has_value());

  // The outage is over: the same call succeeds.
  r = runner->Reclaim(Launch("mnist-00001"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 1);
  EXPECT_TRUE(server_->Secrets(kNs).empty());
}

TEST_F(K8sReclaimTest, TheLaunchAsTheEngineKnowsAFinishedTrial) {
  // For finished trials the engine passes only names: without the namespace the runner cannot
  // tell (and asks the API server nothing: a restart does this for every finished trial).
  absl::StatusOr<Reclaimed> r =
      runner_->Reclaim({.trial_name = "mnist-00007", .study_name = "mnist"});
  EXPECT_EQ(r.status(), absl::UnimplementedError("trial 'mnist-00007': without its namespace and "
                                                 "manifest the runner cannot look for it"));
  EXPECT_EQ(server_->RequestCount("GET", "/apis/batch/v1/namespaces/ml/jobs/mnist-00007"), 0);
  // With its namespace, a trial that never got a Job is simply not there.
  r = runner_->Reclaim({.trial_name = "mnist-00007", .study_name = "mnist", .namespace_ = "ml"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 0);
  EXPECT_EQ(r->message, "no Job or running pod of trial mnist-00007 is left in namespace ml");
  EXPECT_EQ(server_->RequestCount("GET", "/apis/batch/v1/namespaces/ml/jobs/mnist-00007"), 1);

  TrialLaunch bad = Launch("mnist-00001");
  bad.namespace_ = "Bad_NS";
  EXPECT_EQ(runner_->Reclaim(bad).status(),
            absl::InvalidArgumentError("trial 'mnist-00001': namespace \"Bad_NS\" is not a valid "
                                       "namespace (a DNS-1123 label)"));
  EXPECT_TRUE(absl::IsInvalidArgument(
      runner_->Reclaim({.trial_name = "Bad_Name", .namespace_ = "ml"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(runner_->Reclaim({}).status()));
}

TEST_F(K8sRunnerTest, LabelValuesAreSelectable) {
  EXPECT_EQ(LabelValue("mnist"), "mnist");
  EXPECT_EQ(LabelValue("My Study!"), "My-Study");
  const std::string long_name(80, 'a');
  const std::string v = LabelValue(long_name);
  EXPECT_EQ(v.size(), 63u);
  EXPECT_EQ(v, LabelValue(long_name));
  EXPECT_NE(v, LabelValue(long_name + "b"));
}

TEST(K8sRunnerOptionsTest, RejectsBadOptions) {
  K8sRunnerOptions o;
  o.default_namespace = "Bad_NS";
  EXPECT_THAT(std::string(ValidateK8sRunnerOptions(o).message()),
              HasSubstr("K8sRunnerOptions.default_namespace \"Bad_NS\" is not a valid namespace"));
  o = {};
  o.watch_timeout_seconds = 0;
  EXPECT_EQ(ValidateK8sRunnerOptions(o).message(),
            "K8sRunnerOptions.watch_timeout_seconds must be >= 1, got 0");
  o = {};
  o.job_defaults.backoff_limit = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateK8sRunnerOptions(o)));
  EXPECT_TRUE(ValidateK8sRunnerOptions({}).ok());
}

}  // namespace
}  // namespace hpt::runner::k8s
