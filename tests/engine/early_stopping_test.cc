// medianstop: the rule's arithmetic (Katib's and Optuna's forms), and a real study whose trials
// report over gRPC while they run, stopped by the controller when they fall behind.
#include "engine/early_stopping.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/controller.h"
#include "engine/metrics_service.h"
#include "engine/validate.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using tracker::StoredPoint;

std::vector<StoredPoint> Series(std::vector<double> values) {
  std::vector<StoredPoint> out;
  for (size_t i = 0; i < values.size(); ++i) {
    out.push_back({.name = "loss", .step = static_cast<int64_t>(i), .value = values[i]});
  }
  return out;
}

EarlyStoppingSpec Spec(int min_trials, int start_step, std::string rule = "katib") {
  EarlyStoppingSpec s;
  s.algorithm = "medianstop";
  s.min_trials_required = min_trials;
  s.start_step = start_step;
  s.rule = std::move(rule);
  return s;
}

TEST(MedianStopRuleTest, KatibMeanOfFirstValues) {
  MedianStopRule rule(Spec(2, 2), /*maximize=*/false);
  rule.AddFinished(Series({1.0, 3.0, 0.1}));  // first two: mean 2
  std::string why;
  EXPECT_FALSE(rule.ShouldStop(Series({9, 9}), &why));   // only one trial so far
  rule.AddFinished(Series({4.0, 2.0}));                  // mean 3 -> rule (2 + 3) / 2 = 2.5
  EXPECT_FALSE(rule.ShouldStop(Series({9}), &why));      // not start_step reports yet
  EXPECT_TRUE(rule.ShouldStop(Series({9, 2.6}), &why));  // best 2.6 > 2.5
  EXPECT_EQ(why,
            "medianstop: the best of its first 2 values, 2.6, is above the rule value 2.5 (the "
            "mean over 2 succeeded trials of their first 2 values)");
  EXPECT_FALSE(rule.ShouldStop(Series({9, 2.5}), &why));     // not worse: equal
  EXPECT_FALSE(rule.ShouldStop(Series({2.4, 9, 9}), &why));  // best of the first two counts
  EXPECT_TRUE(rule.judges_once());
}

TEST(MedianStopRuleTest, KatibMaximizeFlipsTheComparison) {
  MedianStopRule rule(Spec(1, 1), /*maximize=*/true);
  rule.AddFinished(Series({0.8}));
  EXPECT_TRUE(rule.ShouldStop(Series({0.7}), nullptr));
  EXPECT_FALSE(rule.ShouldStop(Series({0.9}), nullptr));
}

TEST(MedianStopRuleTest, OptunaMedianAtTheSameStep) {
  MedianStopRule rule(Spec(3, 1, "optuna"), /*maximize=*/false);
  rule.AddFinished(Series({5, 1.0}));
  rule.AddFinished(Series({5, 2.0}));
  std::string why;
  EXPECT_FALSE(rule.ShouldStop(Series({5, 9}), &why));  // 2 finished < n_startup_trials 3
  rule.AddFinished(Series({5, 3.0, 0.5}));              // step 1 median of {1, 2, 3} = 2
  EXPECT_FALSE(rule.ShouldStop(Series({9}), &why));     // step 0 < warm-up step 1
  EXPECT_TRUE(rule.ShouldStop(Series({9, 2.5}), &why));
  EXPECT_EQ(why,
            "medianstop (optuna): its best value up to step 1, 2.5, is above the median 2 of 3 "
            "finished trials at that step");
  EXPECT_FALSE(rule.ShouldStop(Series({1.5, 2.5}), &why));  // best so far 1.5 < 2
  // Step 2: only one finished trial reported it; its value is the median.
  EXPECT_TRUE(rule.ShouldStop(Series({9, 9, 0.6}), &why));
  EXPECT_FALSE(rule.ShouldStop(Series({9, 9, 9, 9}), &why));  // nobody reported step 3
  EXPECT_FALSE(rule.judges_once());
}

// A study whose trials report `loss` = x over gRPC 8 times, 0.15 s apart; medianstop with one
// trial required and start_step 2 stops every trial whose x is above the mean of the earlier
// succeeded trials' x.
TEST(EarlyStoppingStudyTest, TrialsFallingBehindAreStoppedWhileTheyRun) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("early_stopping_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto store = tracker::TrialStore::Open({}, (dir / "hpt.db").string());
  ASSERT_TRUE(store.ok()) << store.status();
  MetricsServer server(store->get(), {});
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  runner::LocalRunnerOptions ro;
  ro.grace_period_seconds = 1;
  runner::LocalRunner runner(ro);

  const std::string yaml = R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: stopper
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: random
  earlyStopping:
    algorithmName: medianstop
    algorithmSettings:
      - {name: min_trials_required, value: "1"}
      - {name: start_step, value: "2"}
  parallelTrialCount: 1
  maxTrialCount: 6
  parameters:
    - name: x
      parameterType: double
      feasibleSpace: {min: "0", max: "1"}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - {name: x, reference: x}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: python
                command:
                  - /usr/bin/python3
                  - -c
                  - |
                    import time, hpt_client
                    for i in range(8):
                        hpt_client.report({"loss": ${trialParameters.x}}, step=i)
                        time.sleep(0.15)
            restartPolicy: Never
  hpt:
    seed: 7
)";
  std::ofstream(dir / "study.yaml") << yaml;
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> spec = LoadAndCheckStudy((dir / "study.yaml").string(), &diags);
  ASSERT_TRUE(spec.ok()) << spec.status();
  StudyController c(*spec, store->get(), &runner,
                    {.endpoint = "127.0.0.1:" + std::to_string(*port),
                     .runs_dir = (dir / "runs").string(),
                     .python_path = std::string(HPT_BINARY_DIR) + "/python",
                     .poll_interval_ms = 20});
  absl::StatusOr<tracker::StudyRecord> study = c.Run();
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->state, tracker::StudyState::kSucceeded) << study->message;
  EXPECT_EQ(study->reason, "ExperimentMaxTrialsReached");

  auto trials = (*store)->ListTrials(study->id);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 6u);
  double sum = 0;
  int succeeded = 0, stopped = 0;
  for (const tracker::TrialRecord& t : *trials) {
    const double x = std::stod(t.params[0].second);
    const bool should_stop = succeeded > 0 && x > sum / succeeded;
    if (should_stop) {
      EXPECT_EQ(t.state, tracker::TrialState::kEarlyStopped) << t.name << " x=" << x;
      EXPECT_EQ(t.reason, "TrialEarlyStopped");
      EXPECT_NE(t.message.find("is above the rule value"), std::string::npos) << t.message;
      // Stopped at its second report, long before its eighth.
      auto points = (*store)->MetricHistory(t.id, "loss");
      ASSERT_TRUE(points.ok());
      EXPECT_LT(points->size(), 8u) << t.name;
      ++stopped;
    } else {
      EXPECT_EQ(t.state, tracker::TrialState::kSucceeded) << t.name << ": " << t.message;
      sum += x;
      ++succeeded;
    }
  }
  EXPECT_GE(stopped, 1);  // the seed makes the run exercise the rule
  EXPECT_GE(succeeded, 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hpt::engine
