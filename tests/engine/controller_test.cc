// End-to-end runs of the study controller: real processes (local runner), a real SQLite tracker
// file, a real gRPC metrics server on loopback, real study YAML through the loader.
#include "engine/controller.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/metrics_service.h"
#include "engine/validate.h"
#include "tests/common/test_dirs.h"
#include "tests/engine/test_studies.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using tracker::StudyState;
using tracker::TrialState;

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::FreshTestDir("controller");
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    server_ = std::make_unique<MetricsServer>(store_.get(), MetricsServerOptions{});
    auto port = server_->Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    endpoint_ = "127.0.0.1:" + std::to_string(*port);
    runner::LocalRunnerOptions ro;
    ro.grace_period_seconds = 1;
    runner_ = std::make_unique<runner::LocalRunner>(ro);
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
    StudyController c(
        *spec, store_.get(), runner_.get(),
        {.endpoint = endpoint_, .runs_dir = (dir_ / "runs").string(), .poll_interval_ms = 20});
    return c.Run();
  }

  std::map<TrialState, int> Count(int64_t study_id) {
    std::map<TrialState, int> n;
    absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store_->ListTrials(study_id);
    EXPECT_TRUE(trials.ok()) << trials.status();
    if (!trials.ok()) return n;
    for (const tracker::TrialRecord& t : *trials) ++n[t.state];
    return n;
  }

  fs::path dir_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::unique_ptr<MetricsServer> server_;
  std::string endpoint_;
  std::unique_ptr<runner::LocalRunner> runner_;
};

TEST_F(ControllerTest, RunsToMaxTrialCountWithStdOutMetrics) {
  auto study = RunYaml(Experiment("stdout", "echo epoch=1 loss=${trialParameters.x}",
                                  "  parallelTrialCount: 2\n  maxTrialCount: 5"));
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded);
  EXPECT_EQ(study->reason, "ExperimentMaxTrialsReached");
  EXPECT_EQ(study->project, "foo");
  auto trials = store_->ListTrials(study->id);
  ASSERT_EQ(trials->size(), 5u);
  for (const tracker::TrialRecord& t : *trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << t.name << ": " << t.message;
    ASSERT_TRUE(t.objective.has_value()) << t.name;
    // The objective is exactly the value the trial printed: its own parameter.
    EXPECT_EQ(suggest::FormatDouble(*t.objective), t.params[0].second);
    EXPECT_NE(t.manifest.find("loss=" + t.params[0].second), std::string::npos) << t.manifest;
  }
  auto board = store_->Leaderboard(study->id, 0);
  ASSERT_EQ(board->size(), 5u);
  for (size_t i = 1; i < board->size(); ++i) {
    EXPECT_LE(*(*board)[i - 1].objective, *(*board)[i].objective);
  }
}

TEST_F(ControllerTest, SameSeedGivesSameTrials) {
  const std::string yaml =
      Experiment("seeded", "echo loss=${trialParameters.x}", "  maxTrialCount: 3");
  auto a = RunYaml(yaml);
  auto b = RunYaml(yaml);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->name, "seeded-2");  // the name was taken: a suffix, nothing overwritten
  auto ta = store_->ListTrials(a->id);
  auto tb = store_->ListTrials(b->id);
  ASSERT_EQ(ta->size(), tb->size());
  for (size_t i = 0; i < ta->size(); ++i) EXPECT_EQ((*ta)[i].params, (*tb)[i].params);
}

TEST_F(ControllerTest, FailingTrialsFailTheStudyAtMaxFailedTrialCount) {
  auto study = RunYaml(Experiment("failing", ": ${trialParameters.x}; echo boom >&2; exit 1",
                                  "  parallelTrialCount: 1\n  maxTrialCount: 5\n"
                                  "  maxFailedTrialCount: 2"));
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kFailed);
  EXPECT_EQ(study->reason, "ExperimentFailed");
  auto trials = store_->ListTrials(study->id);
  ASSERT_EQ(trials->size(), 2u);
  for (const tracker::TrialRecord& t : *trials) {
    EXPECT_EQ(t.state, TrialState::kFailed);
    EXPECT_EQ(t.reason, "TrialFailed. Job reason: Error");
    EXPECT_NE(t.message.find("exit status 1"), std::string::npos) << t.message;
    EXPECT_NE(t.message.find("boom"), std::string::npos) << t.message;  // the log's tail
  }
}

TEST_F(ControllerTest, TrialWithoutObjectiveIsMetricsUnavailable) {
  auto study =
      RunYaml(Experiment("silent", "echo accuracy=${trialParameters.x}", "  maxTrialCount: 2"));
  ASSERT_TRUE(study.ok()) << study.status();
  auto n = Count(study->id);
  EXPECT_EQ(n[TrialState::kMetricsUnavailable], 2);
  auto t = store_->ListTrials(study->id);
  EXPECT_NE((*t)[0].message.find("never reported the objective metric \"loss\""), std::string::npos)
      << (*t)[0].message;
  // maxFailedTrialCount is not set: the study still completes on its budget.
  EXPECT_EQ(study->reason, "ExperimentMaxTrialsReached");
}

TEST_F(ControllerTest, DeadlineKillsTheTrial) {
  std::string yaml = Experiment("slow", ": ${trialParameters.x}; sleep 30", "  maxTrialCount: 1");
  yaml += "  hpt:\n    trialDeadlineSeconds: 1\n";
  auto study = RunYaml(yaml);
  ASSERT_TRUE(study.ok()) << study.status();
  auto t = store_->ListTrials(study->id);
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].state, TrialState::kFailed);
  EXPECT_EQ((*t)[0].reason, "TrialFailed. Job reason: DeadlineExceeded");
}

TEST_F(ControllerTest, GoalStopsTheStudyAndKillsRunningTrials) {
  // The first trial reaches the goal at once; the others would run for 30 s.
  auto study =
      RunYaml(Experiment("goal",
                         ": ${trialParameters.x}; if [ $HPT_TRIAL_ID = goal-00001 ]; then echo "
                         "loss=0.01; else sleep 30; fi",
                         "  parallelTrialCount: 3\n  maxTrialCount: 10",
                         "    type: minimize\n    goal: 0.05\n    objectiveMetricName: loss\n"));
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded);
  EXPECT_EQ(study->reason, "ExperimentGoalReached");
  auto n = Count(study->id);
  EXPECT_EQ(n[TrialState::kSucceeded], 1);
  EXPECT_EQ(n[TrialState::kKilled], 2);
}

TEST_F(ControllerTest, StudyJobV1alpha1WithGoTemplateRunsInRounds) {
  const std::string yaml = R"(apiVersion: "kubeflow.org/v1alpha1"
kind: StudyJob
metadata:
  namespace: kubeflow
  name: alpha
spec:
  studyName: alpha
  owner: crd
  optimizationtype: maximize
  objectivevaluename: Validation-accuracy
  requestcount: 2
  parameterconfigs:
    - name: --lr
      parametertype: double
      feasible:
        min: "0.01"
        max: "0.03"
    - name: --optimizer
      parametertype: categorical
      feasible:
        list: [sgd, adam]
  workerSpec:
    goTemplate:
        rawTemplate: |-
          apiVersion: batch/v1
          kind: Job
          metadata:
            name: {{.WorkerID}}
            namespace: kubeflow
          spec:
            template:
              spec:
                containers:
                - name: {{.WorkerID}}
                  image: katib/mxnet-mnist-example
                  command:
                  - "sh"
                  - "-c"
                  - 'for a in "$@"; do echo "arg $a"; done; echo Validation-accuracy=0.5'
                  - "worker"
                  {{- with .HyperParameters}}
                  {{- range .}}
                  - "{{.Name}}={{.Value}}"
                  {{- end}}
                  {{- end}}
                restartPolicy: Never
  suggestionSpec:
    suggestionAlgorithm: "random"
    requestNumber: 3
)";
  auto study = RunYaml(yaml);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded);
  auto trials = store_->ListTrials(study->id);
  ASSERT_EQ(trials->size(), 6u);  // 2 rounds x 3
  for (const tracker::TrialRecord& t : *trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << t.name << ": " << t.message;
    EXPECT_EQ(t.objective, 0.5);
    // The rendered Go template passed the parameters as flags.
    std::ifstream log(dir_ / "runs" / study->name / t.name / "trial.log");
    std::string text((std::istreambuf_iterator<char>(log)), {});
    EXPECT_NE(text.find("arg --lr=" + t.params[0].second), std::string::npos) << text;
    EXPECT_NE(text.find("arg --optimizer=" + t.params[1].second), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace hpt::engine

namespace hpt::engine {
namespace {

TEST_F(ControllerTest, V1beta1GoalIsInclusive) {
  auto study = RunYaml(Experiment("inclusive", "echo loss=0.5; : ${trialParameters.x}",
                                  "  parallelTrialCount: 1\n  maxTrialCount: 5",
                                  "    type: minimize\n    goal: 0.5\n"
                                  "    objectiveMetricName: loss\n"));
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->reason, "ExperimentGoalReached");
  EXPECT_EQ(store_->ListTrials(study->id)->size(), 1u);
}

TEST_F(ControllerTest, V1alpha1GoalIsStrict) {
  const std::string yaml = R"(apiVersion: "kubeflow.org/v1alpha1"
kind: StudyJob
metadata:
  name: strict
spec:
  optimizationtype: maximize
  objectivevaluename: accuracy
  optimizationgoal: 0.5
  requestcount: 2
  parameterconfigs:
    - name: --lr
      parametertype: double
      feasible: {min: "0.01", max: "0.03"}
  workerSpec:
    goTemplate:
      rawTemplate: |-
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{.WorkerID}}
          namespace: default
        spec:
          template:
            spec:
              containers:
              - name: main
                image: x
                command: ["sh", "-c", "echo accuracy=0.5"{{- with .HyperParameters}}{{- range .}}, "{{.Name}}={{.Value}}"{{- end}}{{- end}}]
              restartPolicy: Never
  suggestionSpec:
    suggestionAlgorithm: random
    requestNumber: 1
)";
  auto study = RunYaml(yaml);
  ASSERT_TRUE(study.ok()) << study.status();
  // accuracy == goal is not strictly better: both rounds run.
  EXPECT_EQ(study->reason, "ExperimentMaxTrialsReached");
  EXPECT_EQ(store_->ListTrials(study->id)->size(), 2u);
}

}  // namespace
}  // namespace hpt::engine

namespace hpt::engine {
namespace {

// A two-parameter quadratic evaluated by real trial processes (awk), run to maxTrialCount with
// three trials in parallel, as a study with `algorithm`.
std::string QuadraticStudy(const std::string& name, const std::string& algorithm) {
  return R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: )" +
         name + R"(
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: )" +
         algorithm + R"(
  parallelTrialCount: 3
  maxTrialCount: 24
  parameters:
    - name: x
      parameterType: double
      feasibleSpace: {min: "-2", max: "2"}
    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.00001", max: "1", distribution: logUniform}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - {name: x, reference: x}
      - {name: lr, reference: lr}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: busybox
                command: ["sh", "-c", "awk -v x=${trialParameters.x} -v lr=${trialParameters.lr} 'BEGIN { l = log(lr) / log(10) + 2.5; printf \"loss=%.10f\\n\", (x - 0.73) * (x - 0.73) + 0.2 * l * l }'"]
            restartPolicy: Never
  hpt:
    seed: 11
)";
}

TEST_F(ControllerTest, BayesianOptimizationBeatsRandomSearchEndToEnd) {
  auto bo = RunYaml(QuadraticStudy("bo", "bayesianoptimization"));
  auto random = RunYaml(QuadraticStudy("random", "random"));
  ASSERT_TRUE(bo.ok()) << bo.status();
  ASSERT_TRUE(random.ok()) << random.status();
  EXPECT_EQ(bo->state, StudyState::kSucceeded);
  EXPECT_EQ(Count(bo->id)[TrialState::kSucceeded], 24);
  auto best_bo = store_->Leaderboard(bo->id, 1);
  auto best_random = store_->Leaderboard(random->id, 1);
  ASSERT_TRUE(best_bo.ok() && best_random.ok());
  ASSERT_EQ(best_bo->size(), 1u);
  ASSERT_EQ(best_random->size(), 1u);
  const double b = *(*best_bo)[0].objective;
  const double r = *(*best_random)[0].objective;
  EXPECT_LT(b, 0.01) << "random's best: " << r;
  EXPECT_LT(b, r / 5) << "bayesianoptimization " << b << ", random " << r;
}

}  // namespace
}  // namespace hpt::engine

namespace hpt::engine {
namespace {

// ---- After an engine restart: local trials lost with the engine are run again once ----

// Starts `script` under /bin/sh in a process group of its own: what a trial's process looks like
// after the engine that started it died of SIGKILL. A child of the test: reap it.
pid_t StartGroup(const std::string& script) {
  const char* text = script.c_str();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", text, static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

class RecoverTest : public ControllerTest {
 protected:
  StudySpec Spec(const std::string& yaml) {
    const fs::path file = dir_ / "study.yaml";
    std::ofstream(file) << yaml;
    std::vector<Diagnostic> diags;
    absl::StatusOr<StudySpec> spec = LoadAndCheckStudy(file.string(), &diags);
    EXPECT_TRUE(spec.ok()) << spec.status();
    return spec.ok() ? *spec : StudySpec{};
  }
  ControllerOptions Options(bool recover) {
    ControllerOptions co{
        .endpoint = endpoint_, .runs_dir = (dir_ / "runs").string(), .poll_interval_ms = 20};
    if (recover) {
      co.resume = co.recover = true;
      co.study_name = "requeue";
    }
    return co;
  }
  // Runs a controller until `ready` holds, then detaches it: the engine goes away and leaves
  // the study RUNNING.
  void RunUntil(const StudySpec& spec, bool recover, const std::function<bool()>& ready) {
    StudyController c(spec, store_.get(), runner_.get(), Options(recover));
    std::atomic<bool> seen{false};
    std::thread stopper([&] {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!ready() && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      seen = ready();
      c.RequestDetach();
    });
    absl::StatusOr<tracker::StudyRecord> study = c.Run();
    stopper.join();
    ASSERT_TRUE(seen) << "the condition never held";
    ASSERT_TRUE(study.ok()) << study.status();
    EXPECT_EQ(study->state, StudyState::kRunning);
  }
  bool TrialRunning(int requeues) {
    absl::StatusOr<tracker::TrialRecord> t = store_->FindTrial("requeue-00001");
    return t.ok() && t->state == TrialState::kRunning &&
           static_cast<int>(Events("TrialRequeued").size()) == requeues;
  }
  std::vector<tracker::Event> Events(const std::string& kind) {
    std::vector<tracker::Event> out;
    absl::StatusOr<tracker::StudyRecord> study = store_->FindStudy("requeue");
    if (!study.ok()) return out;
    absl::StatusOr<std::vector<tracker::Event>> events = store_->ListEvents(study->id);
    if (!events.ok()) return out;
    for (const tracker::Event& e : *events) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }
  // The engine dies: its runner goes (here it stops its processes; see StrayProcess).
  void EngineGone() {
    runner::LocalRunnerOptions ro;
    ro.grace_period_seconds = 1;
    ro.shutdown_grace_seconds = 0.5;
    runner_ = std::make_unique<runner::LocalRunner>(ro);
  }
  fs::path TrialDir() { return dir_ / "runs" / "requeue" / "requeue-00001"; }

  // Stands in for attempt 1's process orphaned by an engine killed with -9 (this runner stops
  // its own processes when it goes): a process group and the record the runner would have left.
  pid_t StartOrphan() {
    const pid_t orphan = StartGroup("sleep 120");
    absl::StatusOr<runner::ProcessRecord> record =
        runner::RecordOfProcess(orphan, "requeue-00001", 1);
    EXPECT_TRUE(record.ok()) << record.status();
    if (record.ok()) {
      EXPECT_TRUE(runner::WriteProcessRecord(
                      runner::ProcessRecordPath((TrialDir() / "trial.log").string()), *record)
                      .ok());
    }
    return orphan;
  }

  static void ExpectStoppedBySigterm(pid_t pid) {
    int ws = 0;
    ASSERT_EQ(waitpid(pid, &ws, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(ws));
    EXPECT_EQ(WTERMSIG(ws), SIGTERM);
  }
};

TEST_F(RecoverTest, ALocalTrialLostWithItsEngineRunsAgainWithANewTokenAndNoOldPoints) {
  // Attempt 1 would run for two minutes; the re-queued attempt reports at once.
  const StudySpec spec = Spec(Experiment(
      "requeue",
      "echo attempt=$HPT_TRIAL_ATTEMPT; if [ $HPT_TRIAL_ATTEMPT = 1 ]; then sleep 120; fi; echo "
      "loss=${trialParameters.x}",
      1, 1));
  RunUntil(spec, /*recover=*/false, [&] { return TrialRunning(0); });
  absl::StatusOr<tracker::TrialRecord> before = store_->FindTrial("requeue-00001");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->attempt, 1);
  // What attempt 1 reported (acknowledged) before the engine died.
  ASSERT_TRUE(store_
                  ->AppendMetrics(before->id, 1,
                                  {{.name = "loss", .value = 9},
                                   {.name = "loss", .value = 8},
                                   {.name = "accuracy", .value = 0.1}})
                  .ok());
  // A kill -9 leaves attempt 1's process running with nobody watching it.
  EngineGone();
  const pid_t orphan = StartOrphan();

  StudyController second(spec, store_.get(), runner_.get(), Options(/*recover=*/true));
  absl::StatusOr<tracker::StudyRecord> study = second.Run();
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded) << study->message;

  // The orphan was stopped before the trial ran again.
  ExpectStoppedBySigterm(orphan);

  absl::StatusOr<tracker::TrialRecord> t = store_->FindTrial("requeue-00001");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->state, TrialState::kSucceeded) << t->message;
  std::ifstream log(TrialDir() / "trial.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(text.find("attempt=1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("attempt=2\n"), std::string::npos) << text;
  EXPECT_EQ(t->params, before->params);
  EXPECT_EQ(t->seed, before->seed);
  EXPECT_NE(t->token_hash, before->token_hash);  // the lost attempt's token is refused now
  ASSERT_TRUE(t->objective.has_value());
  EXPECT_EQ(suggest::FormatDouble(*t->objective), t->params[0].second);
  // Only the new attempt's point: the lost attempt's three are gone.
  absl::StatusOr<std::vector<tracker::StoredPoint>> points = store_->MetricHistory(t->id, "");
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].name, "loss");

  std::vector<tracker::Event> requeued = Events("TrialRequeued");
  ASSERT_EQ(requeued.size(), 1u);
  EXPECT_EQ(requeued[0].trial_id, t->id);
  EXPECT_EQ(requeued[0].message,
            absl::StrCat("the previous engine ended while the trial ran (process ", orphan,
                         " (attempt 1) was still running (process group ", orphan,
                         "); stopped it with SIGTERM); run again as attempt 2 with the same "
                         "parameters and a new token; the 3 metric points of the lost attempt "
                         "were discarded"));
  EXPECT_TRUE(Events("TrialLost").empty());
}

TEST_F(RecoverTest, ATrialLostAgainAfterItsRequeueIsTrialLost) {
  const StudySpec spec =
      Spec(Experiment("requeue", "sleep 120; echo loss=${trialParameters.x}", 1, 1));
  RunUntil(spec, /*recover=*/false, [&] { return TrialRunning(0); });
  EngineGone();
  // The second engine runs it again (attempt 2) and dies too.
  RunUntil(spec, /*recover=*/true, [&] { return TrialRunning(1); });
  EngineGone();
  StudyController third(spec, store_.get(), runner_.get(), Options(/*recover=*/true));
  absl::StatusOr<tracker::StudyRecord> study = third.Run();
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded) << study->message;  // maxTrialCount: 1

  absl::StatusOr<tracker::TrialRecord> t = store_->FindTrial("requeue-00001");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->state, TrialState::kFailed);
  EXPECT_EQ(t->reason, "TrialLost");
  EXPECT_EQ(t->message,
            absl::StrCat("the trial was lost with the previous engine (no process record at ",
                         (TrialDir() / "trial.log.hpt-process").string(),
                         ": no process of the trial is left) after it had already been run again "
                         "once after an engine restart; it is not run again"));
  EXPECT_EQ(Events("TrialRequeued").size(), 1u);
  EXPECT_EQ(Events("TrialLost").size(), 1u);
  EXPECT_EQ(store_->ListTrials(study->id)->size(), 1u);
}

TEST_F(RecoverTest, WhatIsLeftOfAFinishedTrialIsStoppedToo) {
  const StudySpec spec = Spec(Experiment(
      "requeue",
      "if [ $HPT_TRIAL_ID = requeue-00001 ]; then sleep 120; fi; echo loss=${trialParameters.x}", 1,
      2));
  RunUntil(spec, /*recover=*/false, [&] { return TrialRunning(0); });
  absl::StatusOr<tracker::TrialRecord> first = store_->FindTrial("requeue-00001");
  ASSERT_TRUE(first.ok()) << first.status();
  // The engine recorded the trial early-stopped and died before its process had ended.
  ASSERT_TRUE(store_
                  ->SetTrialState(first->id, TrialState::kEarlyStopped, "TrialEarlyStopped",
                                  "Trial is early stopped")
                  .ok());
  EngineGone();
  const pid_t orphan = StartOrphan();

  StudyController second(spec, store_.get(), runner_.get(), Options(/*recover=*/true));
  absl::StatusOr<tracker::StudyRecord> study = second.Run();
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, StudyState::kSucceeded) << study->message;
  ExpectStoppedBySigterm(orphan);
  absl::StatusOr<tracker::TrialRecord> t = store_->FindTrial("requeue-00001");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->state, TrialState::kEarlyStopped);  // finished trials stay finished
  EXPECT_TRUE(Events("TrialRequeued").empty());
  auto n = Count(study->id);
  EXPECT_EQ(n[TrialState::kSucceeded], 1);
}

}  // namespace
}  // namespace hpt::engine
