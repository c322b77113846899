// LoadStudyText / LoadStudyFile: both Katib dialects, defaults, validation with locations.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "engine/spec/study_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/spec/spec_test_util.h"

namespace hpt::engine {
namespace {

using ::hpt::engine::testing_util::Dump;
using ::hpt::engine::testing_util::Errors;
using ::hpt::engine::testing_util::HasError;
using ::hpt::engine::testing_util::HasWarning;
using ::hpt::engine::testing_util::Loaded;
using ::hpt::engine::testing_util::LoadFile;
using ::hpt::engine::testing_util::LoadText;
using ::hpt::engine::testing_util::TempDir;
using ::hpt::engine::testing_util::Warnings;
using suggest::Distribution;
using suggest::ParamType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::SizeIs;

// ---------------------------------------------------------------------------------------------
// A minimal valid Experiment, in pieces so that tests can put text at known lines:
//   lines 1-5  head (ends with "spec:"), ExpWith(top) puts `top` at line 6;
//   lines 6-10 objective + algorithm;
//   lines 11-16 parameters, ExpParams(p) puts `p` (starting with "  parameters:") at line 11;
//   lines 17-32 trialTemplate.
constexpr char kHead[] = R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: exp
spec:
)";
constexpr char kBody[] = R"(  objective:
    type: maximize
    objectiveMetricName: accuracy
  algorithm:
    algorithmName: random
)";
constexpr char kParams[] = R"(  parameters:
    - name: lr
      parameterType: double
      feasibleSpace:
        min: "0.01"
        max: "0.1"
)";
constexpr char kTail[] = R"(  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: learningRate
        reference: lr
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: busybox
                command: ["sh", "-c", "echo accuracy=${trialParameters.learningRate}"]
            restartPolicy: Never
)";

std::string Exp() { return std::string(kHead) + kBody + kParams + kTail; }
std::string ExpWith(const std::string& top) {
  return std::string(kHead) + top + kBody + kParams + kTail;
}
std::string ExpParams(const std::string& params) {
  return std::string(kHead) + kBody + params + kTail;
}
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  EXPECT_NE(text.find(from), std::string::npos) << "test bug: \"" << from << "\" not in text";
  return absl::StrReplaceAll(text, {{from, to}});
}

// A minimal valid StudyJob; AlphaWith(top) puts `top` at line 6.
constexpr char kAlphaHead[] = R"(apiVersion: kubeflow.org/v1alpha1
kind: StudyJob
metadata:
  name: job
spec:
)";
constexpr char kAlphaBody[] = R"(  optimizationtype: maximize
  objectivevaluename: accuracy
  parameterconfigs:
    - name: --lr
      parametertype: double
      feasible:
        min: "0.01"
        max: "0.03"
  workerSpec:
    goTemplate:
      rawTemplate: |-
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{.WorkerID}}
        spec:
          template:
            spec:
              containers:
              - name: {{.WorkerID}}
                image: busybox
                command:
                - "train"
                {{- with .HyperParameters}}
                {{- range .}}
                - "{{.Name}}={{.Value}}"
                {{- end}}
                {{- end}}
              restartPolicy: Never
  suggestionSpec:
    suggestionAlgorithm: random
    requestNumber: 2
)";
std::string Alpha() { return std::string(kAlphaHead) + kAlphaBody; }
std::string AlphaWith(const std::string& top) { return std::string(kAlphaHead) + top + kAlphaBody; }

// The error lines of a status message.
std::vector<std::string> MessageLines(const absl::Status& s) {
  return absl::StrSplit(s.message(), '\n');
}

// ---------------------------------------------------------------------------------------------
// v1beta1: good paths

TEST(LoadStudyV1beta1, MinimalGetsKatibDefaults) {
  Loaded r = LoadText(Exp());
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.dialect, Dialect::kExperimentV1beta1);
  EXPECT_EQ(s.api_version, "kubeflow.org/v1beta1");
  EXPECT_EQ(s.kind, "Experiment");
  EXPECT_EQ(s.name, "exp");
  EXPECT_EQ(s.study_name, "");
  EXPECT_EQ(s.namespace_, "default");
  EXPECT_EQ(s.file, "study.yaml");
  EXPECT_EQ(s.source_yaml, Exp());
  EXPECT_EQ(s.parallel_trial_count, 3);
  EXPECT_EQ(s.max_trial_count, std::nullopt);
  EXPECT_EQ(s.max_failed_trial_count, std::nullopt);
  EXPECT_EQ(s.request_count, 0);
  EXPECT_EQ(s.request_number, 0);
  EXPECT_EQ(s.resume_policy, "Never");
  EXPECT_TRUE(s.objective.maximize);
  EXPECT_TRUE(s.objective.goal_inclusive);
  EXPECT_EQ(s.objective.goal, std::nullopt);
  EXPECT_EQ(s.objective.metric, "accuracy");
  EXPECT_THAT(s.objective.strategies, ElementsAre(Pair("accuracy", MetricStrategy::kMax)));
  EXPECT_EQ(s.algorithm.name, "random");
  EXPECT_TRUE(s.algorithm.settings.empty());
  EXPECT_FALSE(s.early_stopping.has_value());
  ASSERT_THAT(s.space.params, SizeIs(1));
  EXPECT_EQ(s.space.params[0].name, "lr");
  EXPECT_EQ(s.space.params[0].type, ParamType::kDouble);
  EXPECT_DOUBLE_EQ(s.space.params[0].min, 0.01);
  EXPECT_DOUBLE_EQ(s.space.params[0].max, 0.1);
  EXPECT_EQ(s.space.params[0].step, std::nullopt);
  EXPECT_EQ(s.space.params[0].distribution, Distribution::kUniform);
  EXPECT_EQ(s.metrics_collector.kind, CollectorKind::kStdOut);
  EXPECT_TRUE(s.metrics_collector.metrics_format.empty());
  const TrialTemplateSpec& t = s.trial_template;
  EXPECT_EQ(t.primary_container_name, "main");
  EXPECT_EQ(t.success_condition, R"(status.conditions.#(type=="Complete")#|#(status=="True")#)");
  EXPECT_EQ(t.failure_condition, R"(status.conditions.#(type=="Failed")#|#(status=="True")#)");
  EXPECT_TRUE(t.primary_pod_labels.empty());
  EXPECT_FALSE(t.retain);
  EXPECT_EQ(t.source_name, "study.yaml");
  EXPECT_EQ(t.source_line, 23);  // "apiVersion: batch/v1" under trialSpec
  ASSERT_THAT(t.trial_parameters, SizeIs(1));
  EXPECT_EQ(t.trial_parameters[0].name, "learningRate");
  EXPECT_EQ(t.trial_parameters[0].reference, "lr");
  EXPECT_EQ(t.trial_parameters[0].description, "");
  nlohmann::json job = nlohmann::json::parse(t.source);
  EXPECT_EQ(job["kind"], "Job");
  EXPECT_EQ(job["spec"]["template"]["spec"]["containers"][0]["command"][2],
            "echo accuracy=${trialParameters.learningRate}");
  EXPECT_FALSE(s.hpt.local.has_value());
  EXPECT_FALSE(s.hpt.seed.has_value());
  EXPECT_EQ(s.MetricNames(), std::vector<std::string>{"accuracy"});
}

TEST(LoadStudyV1beta1, EveryFieldMapped) {
  const std::string yaml = R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: full-exp
  namespace: team-a
  labels:
    project: vision
    tier: "1"
  annotations:
    note: hello
spec:
  objective:
    type: minimize
    goal: 0.05
    objectiveMetricName: loss
    additionalMetricNames: [accuracy, f1]
    metricStrategies:
      - name: accuracy
        value: latest
  algorithm:
    algorithmName: bayesianoptimization
    algorithmSettings:
      - name: random_state
        value: "10"
      - name: n_initial_points
        value: 5
  parallelTrialCount: 2
  maxTrialCount: 20
  maxFailedTrialCount: 4
  resumePolicy: LongRunning
  metricsCollectorSpec:
    source:
      fileSystemPath:
        path: /var/log/train/metrics.json
        kind: File
        format: JSON
    collector:
      kind: File
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace:
        min: 0.0001
        max: "0.1"
        step: "0.0001"
        distribution: logUniform
    - name: layers
      parameterType: int
      feasibleSpace: {min: "1", max: 8, step: 1}
    - name: batch
      parameterType: discrete
      feasibleSpace:
        list: ["16", 32, "64"]
    - name: optimizer
      parameterType: categorical
      feasibleSpace:
        list: [sgd, adam]
        distribution: normal
  trialTemplate:
    retain: true
    primaryContainerName: trainer
    primaryPodLabels:
      role: master
    successCondition: status.ok
    failureCondition: status.bad
    trialParameters:
      - name: learningRate
        description: the learning rate
        reference: lr
      - name: trialName
        reference: ${trialSpec.Name}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: trainer
                image: busybox
            restartPolicy: Never
  hpt:
    seed: 18446744073709551615
    gpusPerTrial: 2
    trialDeadlineSeconds: 90.5
    local:
      command: [python3, train.py, "--lr=${trialParameters.learningRate}"]
      workingDir: ../src
      env:
        OMP_NUM_THREADS: 1
        MODE: fast
)";
  Loaded r = LoadText(yaml, "dir/full.yaml");
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.name, "full-exp");
  EXPECT_EQ(s.namespace_, "team-a");
  EXPECT_THAT(s.labels, ElementsAre(Pair("project", "vision"), Pair("tier", "1")));
  EXPECT_THAT(s.annotations, ElementsAre(Pair("note", "hello")));
  EXPECT_FALSE(s.objective.maximize);
  EXPECT_EQ(s.objective.goal, 0.05);
  EXPECT_EQ(s.objective.metric, "loss");
  EXPECT_EQ(s.objective.additional_metrics, (std::vector<std::string>{"accuracy", "f1"}));
  EXPECT_THAT(s.objective.strategies,
              ElementsAre(Pair("accuracy", MetricStrategy::kLatest),
                          Pair("f1", MetricStrategy::kMin), Pair("loss", MetricStrategy::kMin)));
  EXPECT_EQ(s.MetricNames(), (std::vector<std::string>{"loss", "accuracy", "f1"}));
  EXPECT_EQ(s.algorithm.name, "bayesianoptimization");
  EXPECT_EQ(s.algorithm.settings, (std::vector<std::pair<std::string, std::string>>{
                                      {"random_state", "10"}, {"n_initial_points", "5"}}));
  EXPECT_EQ(s.parallel_trial_count, 2);
  EXPECT_EQ(s.max_trial_count, 20);
  EXPECT_EQ(s.max_failed_trial_count, 4);
  EXPECT_EQ(s.resume_policy, "LongRunning");
  EXPECT_EQ(s.metrics_collector.kind, CollectorKind::kFile);
  EXPECT_EQ(s.metrics_collector.file_path, "/var/log/train/metrics.json");
  EXPECT_EQ(s.metrics_collector.file_format, "JSON");

  ASSERT_THAT(s.space.params, SizeIs(4));
  const suggest::ParameterSpec& lr = s.space.params[0];
  EXPECT_EQ(lr.type, ParamType::kDouble);
  EXPECT_DOUBLE_EQ(lr.min, 0.0001);
  EXPECT_DOUBLE_EQ(lr.max, 0.1);
  EXPECT_EQ(lr.step, 0.0001);
  EXPECT_EQ(lr.distribution, Distribution::kLogUniform);
  const suggest::ParameterSpec& layers = s.space.params[1];
  EXPECT_EQ(layers.name, "layers");
  EXPECT_EQ(layers.type, ParamType::kInt);
  EXPECT_EQ(layers.min, 1);
  EXPECT_EQ(layers.max, 8);
  EXPECT_EQ(layers.step, 1);
  const suggest::ParameterSpec& batch = s.space.params[2];
  EXPECT_EQ(batch.type, ParamType::kDiscrete);
  EXPECT_EQ(batch.list, (std::vector<std::string>{"16", "32", "64"}));
  const suggest::ParameterSpec& opt = s.space.params[3];
  EXPECT_EQ(opt.type, ParamType::kCategorical);
  EXPECT_EQ(opt.list, (std::vector<std::string>{"sgd", "adam"}));
  EXPECT_EQ(opt.distribution, Distribution::kNormal);

  const TrialTemplateSpec& t = s.trial_template;
  EXPECT_TRUE(t.retain);
  EXPECT_EQ(t.primary_container_name, "trainer");
  EXPECT_THAT(t.primary_pod_labels, ElementsAre(Pair("role", "master")));
  EXPECT_EQ(t.success_condition, "status.ok");
  EXPECT_EQ(t.failure_condition, "status.bad");
  ASSERT_THAT(t.trial_parameters, SizeIs(2));
  EXPECT_EQ(t.trial_parameters[0].description, "the learning rate");
  EXPECT_EQ(t.trial_parameters[1].name, "trialName");
  EXPECT_EQ(t.trial_parameters[1].reference, "${trialSpec.Name}");
  EXPECT_EQ(t.source_name, "dir/full.yaml");
  EXPECT_EQ(t.source_line, 73);

  ASSERT_TRUE(s.hpt.seed.has_value());
  EXPECT_EQ(*s.hpt.seed, 18446744073709551615ull);
  EXPECT_EQ(s.hpt.gpus_per_trial, 2);
  EXPECT_EQ(s.hpt.trial_deadline_seconds, 90.5);
  ASSERT_TRUE(s.hpt.local.has_value());
  EXPECT_EQ(
      s.hpt.local->command,
      (std::vector<std::string>{"python3", "train.py", "--lr=${trialParameters.learningRate}"}));
  EXPECT_EQ(s.hpt.local->working_dir, "../src");
  EXPECT_THAT(s.hpt.local->env, ElementsAre(Pair("MODE", "fast"), Pair("OMP_NUM_THREADS", "1")));
  EXPECT_TRUE(s.hpt.config_map_files.empty());
}

TEST(LoadStudyV1beta1, AdditionalMetricsTakeTheObjectivesStrategyUnlessExplicit) {
  Loaded r = LoadText(Replace(Exp(), "    objectiveMetricName: accuracy\n",
                              "    objectiveMetricName: accuracy\n"
                              "    additionalMetricNames: [loss, recall]\n"
                              "    metricStrategies: [{name: loss, value: min}]\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  EXPECT_THAT(r.spec->objective.strategies, ElementsAre(Pair("accuracy", MetricStrategy::kMax),
                                                        Pair("loss", MetricStrategy::kMin),
                                                        Pair("recall", MetricStrategy::kMax)));
}

TEST(LoadStudyV1beta1, ExplicitObjectiveStrategyIsKept) {
  Loaded r = LoadText(Replace(Exp(), "    objectiveMetricName: accuracy\n",
                              "    objectiveMetricName: accuracy\n"
                              "    metricStrategies: [{name: accuracy, value: latest}]\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  EXPECT_THAT(r.spec->objective.strategies, ElementsAre(Pair("accuracy", MetricStrategy::kLatest)));
}

TEST(LoadStudyV1beta1, DefaultParallelismNeverExceedsMaxTrialCount) {
  Loaded r = LoadText(ExpWith("  maxTrialCount: 2\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->parallel_trial_count, 2);
  EXPECT_EQ(r.spec->max_trial_count, 2);
}

TEST(LoadStudyV1beta1, FileCollectorDefaults) {
  Loaded r = LoadText(ExpWith("  metricsCollectorSpec:\n    collector:\n      kind: File\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  EXPECT_EQ(r.spec->metrics_collector.kind, CollectorKind::kFile);
  EXPECT_EQ(r.spec->metrics_collector.file_path, "/var/log/katib/metrics.log");
  EXPECT_EQ(r.spec->metrics_collector.file_format, "TEXT");
}

TEST(LoadStudyV1beta1, PushAndStdOutWithFilterAreSupported) {
  Loaded push = LoadText(ExpWith("  metricsCollectorSpec:\n    collector:\n      kind: Push\n"));
  ASSERT_TRUE(push.spec.ok()) << push.spec.status();
  EXPECT_EQ(push.spec->metrics_collector.kind, CollectorKind::kPush);

  Loaded stdout_filter = LoadText(
      ExpWith("  metricsCollectorSpec:\n    source:\n      filter:\n        metricsFormat:\n"
              "          - \"([\\\\w|-]+)\\\\s*:\\\\s*(\\\\d+)\"\n"));
  ASSERT_TRUE(stdout_filter.spec.ok()) << stdout_filter.spec.status();
  EXPECT_EQ(stdout_filter.spec->metrics_collector.kind, CollectorKind::kStdOut);
  EXPECT_EQ(stdout_filter.spec->metrics_collector.metrics_format,
            std::vector<std::string>{R"(([\w|-]+)\s*:\s*(\d+))"});
}

TEST(LoadStudyV1beta1, KubeflowJobConditionsAndPodLabels) {
  std::string yaml = Replace(Exp(), "      apiVersion: batch/v1\n      kind: Job\n",
                             "      apiVersion: kubeflow.org/v1\n      kind: PyTorchJob\n");
  Loaded r = LoadText(yaml);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  EXPECT_EQ(r.spec->trial_template.success_condition,
            R"(status.conditions.#(type=="Succeeded")#|#(status=="True")#)");
  EXPECT_EQ(r.spec->trial_template.failure_condition,
            R"(status.conditions.#(type=="Failed")#|#(status=="True")#)");
  EXPECT_THAT(r.spec->trial_template.primary_pod_labels,
              ElementsAre(Pair("training.kubeflow.org/job-role", "master")));
}

TEST(LoadStudyV1beta1, TrialSpecBecomesTypedJson) {
  std::string yaml = Replace(Exp(), "            restartPolicy: Never\n",
                             "            restartPolicy: Never\n"
                             "        backoffLimit: 0\n"
                             "        ratio: 1.5e3\n"
                             "        mask: 0x1F\n"
                             "        flag: true\n"
                             "        quotedFlag: \"true\"\n"
                             "        quotedInt: '7'\n"
                             "        nothing: ~\n"
                             "        word: yes\n"
                             "        inf: .inf\n"
                             "        script: |\n"
                             "          echo 1\n");
  Loaded r = LoadText(yaml);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  nlohmann::json j = nlohmann::json::parse(r.spec->trial_template.source)["spec"];
  EXPECT_EQ(j["backoffLimit"], 0);
  EXPECT_TRUE(j["backoffLimit"].is_number_integer());
  EXPECT_EQ(j["ratio"], 1500.0);
  EXPECT_TRUE(j["ratio"].is_number_float());
  EXPECT_EQ(j["mask"], 31);
  EXPECT_EQ(j["flag"], true);
  EXPECT_EQ(j["quotedFlag"], "true");
  EXPECT_EQ(j["quotedInt"], "7");
  EXPECT_TRUE(j["nothing"].is_null());
  EXPECT_EQ(j["word"], "yes");
  EXPECT_EQ(j["inf"], ".inf");
  EXPECT_EQ(j["script"], "echo 1\n");
  // File order is kept.
  EXPECT_THAT(r.spec->trial_template.source, HasSubstr(R"({"apiVersion":"batch/v1","kind":"Job")"));
}

TEST(LoadStudyV1beta1, FeasibleValuesAsStringsOrNumbers) {
  Loaded r = LoadText(ExpParams(R"(  parameters:
    - name: a
      parameterType: double
      feasibleSpace: {min: "-1.5", max: 2.5e-1, step: ".25"}
    - name: b
      parameterType: int
      feasibleSpace: {min: -3, max: "+4", step: "2"}
    - name: c
      parameterType: int
      feasibleSpace: {min: "2.0", max: 1e1}
)"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  const auto& p = r.spec->space.params;
  ASSERT_THAT(p, SizeIs(3));
  EXPECT_EQ(p[0].min, -1.5);
  EXPECT_EQ(p[0].max, 0.25);
  EXPECT_EQ(p[0].step, 0.25);
  EXPECT_EQ(p[1].min, -3);
  EXPECT_EQ(p[1].max, 4);
  EXPECT_EQ(p[1].step, 2);
  EXPECT_EQ(p[2].min, 2);
  EXPECT_EQ(p[2].max, 10);
}

TEST(LoadStudyV1beta1, TrialParametersMayBeEmpty) {
  // "trialParameters:" with no value (null) reads as absent: required.
  Loaded r = LoadText(Replace(Exp(), "      - name: learningRate\n        reference: lr\n", ""));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.trialParameters", 19, 5, "is required"));

  Loaded empty = LoadText(Replace(Exp(),
                                  "    trialParameters:\n      - name: learningRate\n"
                                  "        reference: lr\n",
                                  "    trialParameters: []\n"));
  ASSERT_TRUE(empty.spec.ok()) << empty.spec.status();
  EXPECT_TRUE(empty.spec->trial_template.trial_parameters.empty());
}

// ---------------------------------------------------------------------------------------------
// v1alpha1: good paths

TEST(LoadStudyV1alpha1, MinimalMapsAndDefaults) {
  Loaded r = LoadText(Alpha(), "jobs/alpha.yaml");
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.dialect, Dialect::kStudyJobV1alpha1);
  EXPECT_EQ(s.api_version, "kubeflow.org/v1alpha1");
  EXPECT_EQ(s.kind, "StudyJob");
  EXPECT_EQ(s.name, "job");
  EXPECT_EQ(s.namespace_, "default");
  EXPECT_TRUE(s.objective.maximize);
  EXPECT_FALSE(s.objective.goal_inclusive);
  EXPECT_EQ(s.objective.goal, std::nullopt);
  EXPECT_EQ(s.objective.metric, "accuracy");
  EXPECT_THAT(s.objective.strategies, ElementsAre(Pair("accuracy", MetricStrategy::kLatest)));
  EXPECT_EQ(s.algorithm.name, "random");
  EXPECT_EQ(s.request_number, 2);
  EXPECT_EQ(s.parallel_trial_count, 2);
  EXPECT_EQ(s.request_count, 0);
  EXPECT_EQ(s.max_trial_count, std::nullopt);
  EXPECT_EQ(s.resume_policy, "Never");
  EXPECT_EQ(s.metrics_collector.kind, CollectorKind::kStdOut);
  const TrialTemplateSpec& t = s.trial_template;
  EXPECT_EQ(t.source_name, "jobs/alpha.yaml");
  EXPECT_EQ(t.source_line, 17);  // the line after "rawTemplate: |-"
  EXPECT_EQ(t.source.substr(0, 30), "apiVersion: batch/v1\nkind: Job");
  EXPECT_THAT(t.source, HasSubstr("- \"{{.Name}}={{.Value}}\"\n"));
  EXPECT_EQ(t.primary_container_name, "");
  EXPECT_TRUE(t.trial_parameters.empty());
  EXPECT_EQ(t.success_condition, R"(status.conditions.#(type=="Complete")#|#(status=="True")#)");
  EXPECT_FALSE(t.retain);
}

TEST(LoadStudyV1alpha1, EveryFieldMapped) {
  const std::string yaml = R"(apiVersion: "kubeflow.org/v1alpha1"
kind: StudyJob
metadata:
  namespace: kubeflow
  labels:
    controller-tools.k8s.io: "1.0"
  name: full-job
spec:
  studyName: my-study
  owner: crd
  optimizationtype: minimize
  objectivevaluename: loss
  optimizationgoal: 0.01
  requestcount: 5
  metricsnames:
    - loss
    - accuracy
  parameterconfigs:
    - name: --lr
      parametertype: double
      feasible:
        min: "0.01"
        max: "0.03"
        step: "0.01"
    - name: --layers
      parametertype: int
      feasible: {min: "2", max: "5"}
    - name: --batch
      parametertype: discrete
      feasible:
        list: ["32", "64"]
    - name: --optimizer
      parametertype: categorical
      feasible:
        list: [sgd, adam, ftrl]
  workerSpec:
    retain: true
    goTemplate:
      rawTemplate: "kind: Job"
  suggestionSpec:
    suggestionAlgorithm: "bayesianoptimization"
    requestNumber: 3
    suggestionParameters:
      - name: "burn_in"
        value: "5"
  hpt:
    seed: 7
)";
  Loaded r = LoadText(yaml);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.name, "full-job");
  EXPECT_EQ(s.study_name, "my-study");
  EXPECT_EQ(s.owner, "crd");
  EXPECT_EQ(s.namespace_, "kubeflow");
  EXPECT_THAT(s.labels, ElementsAre(Pair("controller-tools.k8s.io", "1.0")));
  EXPECT_FALSE(s.objective.maximize);
  EXPECT_EQ(s.objective.goal, 0.01);
  EXPECT_FALSE(s.objective.goal_inclusive);
  EXPECT_EQ(s.objective.metric, "loss");
  // metricsnames lists the objective too; it is collected once.
  EXPECT_EQ(s.objective.additional_metrics, std::vector<std::string>{"accuracy"});
  EXPECT_THAT(s.objective.strategies, ElementsAre(Pair("accuracy", MetricStrategy::kLatest),
                                                  Pair("loss", MetricStrategy::kLatest)));
  EXPECT_EQ(s.algorithm.name, "bayesianoptimization");
  EXPECT_EQ(s.algorithm.settings,
            (std::vector<std::pair<std::string, std::string>>{{"burn_in", "5"}}));
  EXPECT_EQ(s.request_count, 5);
  EXPECT_EQ(s.request_number, 3);
  EXPECT_EQ(s.parallel_trial_count, 3);
  EXPECT_EQ(s.max_trial_count, 15);
  ASSERT_THAT(s.space.params, SizeIs(4));
  EXPECT_EQ(s.space.params[0].name, "--lr");
  EXPECT_EQ(s.space.params[0].step, 0.01);
  EXPECT_EQ(s.space.params[1].type, ParamType::kInt);
  EXPECT_EQ(s.space.params[1].min, 2);
  EXPECT_EQ(s.space.params[1].max, 5);
  EXPECT_EQ(s.space.params[2].list, (std::vector<std::string>{"32", "64"}));
  EXPECT_EQ(s.space.params[3].list, (std::vector<std::string>{"sgd", "adam", "ftrl"}));
  EXPECT_TRUE(s.trial_template.retain);
  EXPECT_EQ(s.trial_template.source, "kind: Job");
  EXPECT_EQ(s.trial_template.source_line, 39);  // a one-line template starts on its key's line
  EXPECT_EQ(s.hpt.seed, 7u);
}

TEST(LoadStudyV1alpha1, AlgorithmDefaultsToRandomAndRequestNumberToOne) {
  Loaded r = LoadText(Replace(Alpha(), "    suggestionAlgorithm: random\n    requestNumber: 2\n",
                              "    suggestionParameters: []\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->algorithm.name, "random");
  EXPECT_EQ(r.spec->request_number, 1);
  EXPECT_EQ(r.spec->parallel_trial_count, 1);
}

TEST(LoadStudyV1alpha1, GridDefaultsAndAllPointsRound) {
  Loaded r = LoadText(Replace(AlphaWith("  requestcount: 3\n"),
                              "    suggestionAlgorithm: random\n    requestNumber: 2\n",
                              "    suggestionAlgorithm: grid\n"
                              "    suggestionParameters:\n"
                              "      - {name: --lr, value: \"4\"}\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->algorithm.name, "grid");
  EXPECT_EQ(r.spec->algorithm.settings, (std::vector<std::pair<std::string, std::string>>{
                                            {"--lr", "4"}, {"DefaultGrid", "1"}}));
  EXPECT_EQ(r.spec->request_number, 0);  // every grid point
  EXPECT_EQ(r.spec->parallel_trial_count, 1);
  EXPECT_EQ(r.spec->request_count, 3);
  EXPECT_EQ(r.spec->max_trial_count, std::nullopt);

  Loaded given =
      LoadText(Replace(Alpha(), "    suggestionAlgorithm: random\n",
                       "    suggestionAlgorithm: grid\n"
                       "    suggestionParameters: [{name: DefaultGrid, value: \"3\"}]\n"));
  ASSERT_TRUE(given.spec.ok()) << given.spec.status();
  EXPECT_EQ(given.spec->algorithm.settings,
            (std::vector<std::pair<std::string, std::string>>{{"DefaultGrid", "3"}}));
  EXPECT_EQ(given.spec->request_number, 2);
}

TEST(LoadStudyV1alpha1, EarlyStoppingSpecIsOnlyAWarning) {
  Loaded r =
      LoadText(AlphaWith("  earlyStoppingSpec:\n    earlyStoppingAlgorithm: medianstopping\n"
                         "    earlyStoppingParameters: [{name: LeastStep, value: \"20\"}]\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_TRUE(HasWarning(r, "spec.earlyStoppingSpec", 6, 3, "is ignored"));
  EXPECT_FALSE(r.spec->early_stopping.has_value());
}

TEST(LoadStudyV1alpha1, RawTemplateWinsOverTemplatePath) {
  Loaded r = LoadText(Replace(Alpha(), "      rawTemplate: |-\n",
                              "      templatePath: other.yaml\n      rawTemplate: |-\n"));
  // The block now starts one line later.
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_TRUE(HasWarning(r, "spec.workerSpec.goTemplate.templatePath", 16, 7, "is ignored"));
  EXPECT_EQ(r.spec->trial_template.source_line, 18);
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps

constexpr char kConfigMap[] = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: trial-templates
  namespace: kubeflow
data:
  job.yaml: |
    apiVersion: batch/v1
    kind: Job
    spec:
      template:
        spec:
          containers:
            - name: main
              image: busybox
              command: ["train", "--lr=${trialParameters.learningRate}"]
  mpi.yaml: |
    apiVersion: kubeflow.org/v1
    kind: MPIJob
)";

std::string ExpFromConfigMap(const std::string& name, const std::string& ns,
                             const std::string& key) {
  return Replace(Exp(), std::string(kTail).substr(std::string(kTail).find("    trialSpec:")),
                 "    configMap:\n      configMapName: " + name +
                     "\n      configMapNamespace: " + ns + "\n      templatePath: " + key + "\n");
}

TEST(LoadStudyConfigMap, V1beta1TemplateFromAFileBesideTheStudy) {
  TempDir dir("cm");
  std::string cm = dir.Write("templates.yaml", kConfigMap);
  dir.Write("notes.yml", "this: [is not: valid");  // unparsable files beside are skipped
  std::string study =
      dir.Write("study.yaml", ExpFromConfigMap("trial-templates", "kubeflow", "job.yaml"));
  Loaded r = LoadFile(study);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  const TrialTemplateSpec& t = r.spec->trial_template;
  EXPECT_EQ(t.source_name, cm);
  EXPECT_EQ(t.source_line, 8);
  EXPECT_EQ(t.source.substr(0, 31), "apiVersion: batch/v1\nkind: Job\n");
  EXPECT_EQ(t.success_condition, R"(status.conditions.#(type=="Complete")#|#(status=="True")#)");

  Loaded mpi = LoadText(ExpFromConfigMap("trial-templates", "kubeflow", "mpi.yaml"),
                        dir.path() + "/other-study.yaml");
  ASSERT_TRUE(mpi.spec.ok()) << mpi.spec.status() << Dump(mpi.diags);
  EXPECT_EQ(mpi.spec->trial_template.source_line, 18);
  EXPECT_EQ(mpi.spec->trial_template.success_condition,
            R"(status.conditions.#(type=="Succeeded")#|#(status=="True")#)");
}

TEST(LoadStudyConfigMap, NamespaceMustMatchWhenBothNameOne) {
  TempDir dir("ns");
  dir.Write("templates.yaml", kConfigMap);
  std::string study =
      dir.Write("study.yaml", ExpFromConfigMap("trial-templates", "other-ns", "job.yaml"));
  Loaded r = LoadFile(study);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument) << Dump(r.diags);
  ASSERT_THAT(Errors(r), SizeIs(1)) << Dump(r.diags);
  EXPECT_EQ(Errors(r)[0].file, study);
  EXPECT_TRUE(
      HasError(r, "spec.trialTemplate.configMap.templatePath", 25, 21,
               "ConfigMap \"trial-templates\" (namespace \"other-ns\") with key \"job.yaml\" "
               "not found (searched templates.yaml); put the ConfigMap in a .yaml file "
               "beside the study, or list the file that holds it in "
               "spec.hpt.configMapFiles"));
}

TEST(LoadStudyConfigMap, MissingKeyListsTheKeysThere) {
  TempDir dir("key");
  std::string cm = dir.Write("templates.yaml", kConfigMap);
  std::string study =
      dir.Write("study.yaml", ExpFromConfigMap("trial-templates", "kubeflow", "gpu.yaml"));
  Loaded r = LoadFile(study);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.configMap.templatePath", 25, 21,
                       "ConfigMap \"trial-templates\" (namespace \"kubeflow\") has no key "
                       "\"gpu.yaml\": found at " +
                           cm + ":1 (its keys: job.yaml, mpi.yaml)"));
}

TEST(LoadStudyConfigMap, ConfigMapFilesAndSameFileDocuments) {
  TempDir dir("files");
  std::string cm = dir.Write("sub/templates.yaml", kConfigMap);
  std::string study =
      dir.Write("study.yaml", ExpFromConfigMap("trial-templates", "kubeflow", "job.yaml") +
                                  "  hpt:\n    configMapFiles: [sub/templates.yaml]\n");
  Loaded r = LoadFile(study);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->trial_template.source_name, cm);
  EXPECT_EQ(r.spec->hpt.config_map_files, std::vector<std::string>{"sub/templates.yaml"});

  // A ConfigMap in a second document of the study file itself.
  Loaded same =
      LoadText(ExpFromConfigMap("trial-templates", "kubeflow", "mpi.yaml") + "---\n" + kConfigMap);
  ASSERT_TRUE(same.spec.ok()) << same.spec.status() << Dump(same.diags);
  EXPECT_EQ(same.spec->trial_template.source_name, "study.yaml");
  EXPECT_EQ(same.spec->trial_template.source_line, 26 + 18);  // "---" is line 26
  EXPECT_EQ(same.spec->trial_template.source, "apiVersion: kubeflow.org/v1\nkind: MPIJob\n");
}

TEST(LoadStudyConfigMap, MissingConfigMapFileIsReportedAtItsEntry) {
  TempDir dir("missing");
  std::string study = dir.Write("study.yaml", ExpWith("  hpt:\n    configMapFiles:\n"
                                                      "      - nope.yaml\n"));
  Loaded r = LoadFile(study);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.hpt.configMapFiles[0]", 8, 9,
                       "cannot read " + dir.path() + "/nope.yaml: no such file"));
}

TEST(LoadStudyConfigMap, V1alpha1WorkerTemplateByTemplatePath) {
  TempDir dir("alpha");
  dir.Write("workers.yaml", R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: worker-template
data:
  cpu.yaml: "kind: Job"
)");
  std::string alpha = Replace(Alpha(), "      rawTemplate: |-\n",
                              "      templatePath: cpu.yaml\n      unused: |-\n");
  std::string study = dir.Write("job.yaml", alpha);
  Loaded r = LoadFile(study);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->trial_template.source, "kind: Job");
  EXPECT_EQ(r.spec->trial_template.source_line, 6);
  EXPECT_TRUE(HasWarning(r, "spec.workerSpec.goTemplate.unused", 17, 7, "unknown key"));

  // Given as text with no directory: nothing to search.
  Loaded text = LoadText(alpha, "<stdin>");
  EXPECT_EQ(text.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(text, "spec.workerSpec.goTemplate.templatePath", 16, 21,
                       "ConfigMap \"worker-template\" with key \"cpu.yaml\" not found (no files to "
                       "search: the study was given as text)"));
}

// ---------------------------------------------------------------------------------------------
// Validation, with locations

TEST(LoadStudyValidation, AllProblemsInOnePass) {
  std::string yaml = Replace(Exp(), "    type: maximize\n", "    type: biggest\n");
  yaml = Replace(yaml, "        min: \"0.01\"\n", "        min: \"abc\"\n");
  yaml = Replace(yaml, "    primaryContainerName: main\n", "    primaryContainerNam: main\n");
  Loaded r = LoadText(yaml);
  ASSERT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<Diagnostic> errors = Errors(r);
  ASSERT_THAT(errors, SizeIs(3)) << Dump(r.diags);
  EXPECT_EQ(errors[0].ToString(),
            "study.yaml:7:11: error: spec.objective.type: must be minimize or maximize, got "
            "\"biggest\"");
  EXPECT_EQ(errors[1].ToString(),
            "study.yaml:15:14: error: spec.parameters[0].feasibleSpace.min: must be a number, got "
            "\"abc\"");
  EXPECT_EQ(errors[2].ToString(),
            "study.yaml:17:3: error: spec.trialTemplate.primaryContainerName: is required (the "
            "name of the container that runs the training code)");
  EXPECT_TRUE(HasWarning(r, "spec.trialTemplate.primaryContainerNam", 18, 5,
                         "unknown key \"primaryContainerNam\""));
  EXPECT_EQ(
      MessageLines(r.spec.status()),
      (std::vector<std::string>{errors[0].ToString(), errors[1].ToString(), errors[2].ToString()}));
}

TEST(LoadStudyValidation, MalformedYamlHasLineAndColumn) {
  Loaded r = LoadText("apiVersion: kubeflow.org/v1beta1\nkind: [Experiment\nspec: {}\n");
  ASSERT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(r.diags, SizeIs(1));
  EXPECT_EQ(r.diags[0].line, 3);
  EXPECT_GT(r.diags[0].column, 0);
  EXPECT_THAT(r.diags[0].message, HasSubstr("malformed YAML: "));
  EXPECT_THAT(std::string(r.spec.status().message()), HasSubstr("study.yaml:3:"));

  Loaded tab = LoadText("a: b\n\tc: d\n");
  ASSERT_EQ(tab.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tab.diags[0].ToString(),
            "study.yaml:2:1: error: malformed YAML: illegal tab when looking for indentation");
}

TEST(LoadStudyValidation, InputThatHangsYamlCppIsAnError) {
  // yaml-cpp 0.7 alone allocates without bound on a ',' at the top of a document.
  Loaded r = LoadText("," + Exp());
  ASSERT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(r.diags, SizeIs(1));
  EXPECT_EQ(r.diags[0].ToString(),
            "study.yaml:1:1: error: malformed YAML: the parser does not terminate here (a ',' "
            "outside any [...] or {...}?)");
}

TEST(LoadStudyValidation, EmptyAndNonStudyDocuments) {
  Loaded empty = LoadText("# nothing\n");
  EXPECT_EQ(empty.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.spec.status().message()),
              HasSubstr("the file holds no YAML document"));

  Loaded list = LoadText("- a\n- b\n");
  EXPECT_EQ(list.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(list.diags[0].message, HasSubstr("a study must be a map"));

  Loaded two = LoadText(Exp() + "---\n" + Exp());
  EXPECT_EQ(two.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(two, "", 34, 1,
                       "a second study in the same file (the first starts at "
                       "line 1); hpt loads one study per file"));
}

TEST(LoadStudyValidation, WrongApiVersionOrKindListsTheSupportedOnes) {
  Loaded r = LoadText(Replace(Exp(), "kind: Experiment", "kind: Trial"));
  ASSERT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(r.diags, SizeIs(1)) << Dump(r.diags);
  EXPECT_EQ(r.diags[0].ToString(),
            "study.yaml:2:7: error: kind: apiVersion \"kubeflow.org/v1beta1\" with kind \"Trial\" "
            "is not a study hpt reads; hpt reads kind StudyJob (apiVersion "
            "kubeflow.org/v1alpha1) and kind Experiment (apiVersion kubeflow.org/v1beta1)");

  Loaded mixed = LoadText(Replace(Exp(), "kubeflow.org/v1beta1", "kubeflow.org/v1alpha1"));
  EXPECT_EQ(mixed.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.diags[0].message, HasSubstr("hpt reads kind StudyJob"));

  Loaded none = LoadText("metadata: {name: x}\n");
  EXPECT_EQ(none.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(none.diags[0].ToString(),
            "study.yaml:1:1: error: apiVersion and kind are missing; hpt reads kind StudyJob "
            "(apiVersion kubeflow.org/v1alpha1) and kind Experiment (apiVersion "
            "kubeflow.org/v1beta1)");
}

TEST(LoadStudyValidation, MetadataName) {
  Loaded missing = LoadText(Replace(Exp(), "  name: exp\n", "  namespace: x\n"));
  EXPECT_TRUE(HasError(missing, "metadata.name", 3, 1, "is required"));

  Loaded bad = LoadText(Replace(Exp(), "  name: exp\n", "  name: Exp_1\n"));
  EXPECT_TRUE(HasError(bad, "metadata.name", 4, 9,
                       "must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ (lowercase letters, digits and "
                       "'-', starting with a letter and not ending with '-'), got \"Exp_1\""));

  // Katib's regex is unanchored at the end and takes "a-"; hpt does not.
  Loaded dash = LoadText(Replace(Exp(), "  name: exp\n", "  name: a-\n"));
  EXPECT_TRUE(HasError(dash, "metadata.name", 4, 9, "must match"));

  Loaded long_name =
      LoadText(Replace(Exp(), "  name: exp\n", "  name: " + std::string(41, 'a') + "\n"));
  EXPECT_TRUE(HasError(long_name, "metadata.name", 4, 9, "must be at most 40 characters"));
  Loaded forty =
      LoadText(Replace(Exp(), "  name: exp\n", "  name: " + std::string(40, 'a') + "\n"));
  EXPECT_TRUE(forty.spec.ok()) << forty.spec.status();

  // v1alpha1 names are not held to the v1beta1 rule.
  Loaded alpha = LoadText(Replace(Alpha(), "  name: job\n", "  name: Job_1\n"));
  EXPECT_TRUE(alpha.spec.ok()) << alpha.spec.status();
}

TEST(LoadStudyValidation, ParametersXorNasConfig) {
  Loaded neither = LoadText(ExpParams(""));
  EXPECT_TRUE(HasError(neither, "spec.parameters", 5, 1, "is required"));

  Loaded empty = LoadText(ExpParams("  parameters: []\n"));
  EXPECT_TRUE(HasError(empty, "spec.parameters", 11, 15, "must list at least one parameter"));

  Loaded nas = LoadText(ExpWith("  nasConfig:\n    graphConfig: {numLayers: 8}\n"));
  EXPECT_EQ(nas.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(nas, "spec", 6, 3, "set either parameters or nasConfig, not both"));
  std::vector<Diagnostic> errors = Errors(nas);
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_EQ(errors[0].path, "spec.nasConfig");
  EXPECT_TRUE(errors[0].unsupported);
  EXPECT_FALSE(errors[1].unsupported);

  Loaded only_nas = LoadText(ExpParams("  nasConfig:\n    graphConfig: {numLayers: 8}\n"));
  EXPECT_EQ(only_nas.spec.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(HasError(only_nas, "spec.nasConfig", 11, 3,
                       "not supported yet: neural architecture search (spec.nasConfig); describe "
                       "a hyperparameter search with spec.parameters"));
}

TEST(LoadStudyValidation, NumericParameterRules) {
  Loaded r = LoadText(ExpParams(R"(  parameters:
    - name: a
      parameterType: double
      feasibleSpace:
        max: "1"
        list: ["1", "2"]
    - name: b
      parameterType: int
      feasibleSpace:
        min: "1.5"
        max: "4"
        step: "0.5"
    - name: c
      parameterType: double
      feasibleSpace:
        min: "2"
        max: "1"
        step: "0"
    - name: d
      parameterType: double
      feasibleSpace:
        min: "0"
        max: "1"
        distribution: logUniform
    - name: e
      parameterType: int
    - name: f
      parameterType: double
      feasibleSpace:
        min: [1]
        max: "1"
        distribution: cauchy
)"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.parameters[0].feasibleSpace.min", 14, 7,
                       "is required (for a double parameter)"));
  EXPECT_TRUE(HasError(r, "spec.parameters[0].feasibleSpace.list", 16, 9,
                       "is not allowed for a double parameter"));
  EXPECT_TRUE(HasError(r, "spec.parameters[1].feasibleSpace.min", 20, 14,
                       "must be an integer for an int parameter, got \"1.5\""));
  EXPECT_TRUE(HasError(r, "spec.parameters[1].feasibleSpace.step", 22, 15,
                       "must be an integer for an int parameter, got 0.5"));
  EXPECT_TRUE(
      HasError(r, "spec.parameters[2].feasibleSpace.max", 27, 14, "must be >= min (2), got 1"));
  EXPECT_TRUE(HasError(r, "spec.parameters[2].feasibleSpace.step", 28, 15, "must be > 0, got 0"));
  EXPECT_TRUE(HasError(r, "spec.parameters[3].feasibleSpace.min", 32, 14,
                       "must be > 0 for distribution logUniform (the range is searched in log "
                       "space), got 0"));
  EXPECT_TRUE(HasError(r, "spec.parameters[4].feasibleSpace", 35, 7,
                       "is required (min and max for an int parameter)"));
  EXPECT_TRUE(
      HasError(r, "spec.parameters[5].feasibleSpace.min", 40, 14,
               "must be a number (a YAML number or a string such as \"0.01\"), got a list"));
  EXPECT_TRUE(HasError(r, "spec.parameters[5].feasibleSpace.distribution", 42, 23,
                       "must be one of uniform, logUniform, normal, logNormal, got \"cauchy\""));
  EXPECT_THAT(Errors(r), SizeIs(10)) << Dump(r.diags);
}

TEST(LoadStudyValidation, ListParameterRules) {
  Loaded r = LoadText(ExpParams(R"(  parameters:
    - name: a
      parameterType: categorical
      feasibleSpace:
        min: "1"
        step: "1"
        list: []
    - name: b
      parameterType: discrete
      feasibleSpace:
        list: ["1", "two", 3]
    - name: c
      parameterType: categorical
      feasibleSpace: {max: "3"}
    - name: a
      parameterType: float
      feasibleSpace: {list: [x, x]}
)"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.parameters[0].feasibleSpace.min", 15, 9,
                       "is not allowed for a categorical parameter (it takes only list)"));
  EXPECT_TRUE(HasError(r, "spec.parameters[0].feasibleSpace.step", 16, 9, "is not allowed"));
  EXPECT_TRUE(
      HasError(r, "spec.parameters[0].feasibleSpace.list", 17, 15, "must list at least one value"));
  EXPECT_TRUE(HasError(r, "spec.parameters[1].feasibleSpace.list[1]", 21, 21,
                       "must be a number for a discrete parameter, got \"two\""));
  EXPECT_TRUE(HasError(r, "spec.parameters[2].feasibleSpace.max", 24, 23, "is not allowed"));
  EXPECT_TRUE(HasError(r, "spec.parameters[2].feasibleSpace.list", 24, 7,
                       "is required (the values of the categorical parameter)"));
  EXPECT_TRUE(HasError(r, "spec.parameters[3].name", 25, 13,
                       "duplicate parameter name \"a\" (first defined at line 12); parameter names "
                       "must be unique"));
  EXPECT_TRUE(HasError(r, "spec.parameters[3].parameterType", 26, 22,
                       "must be one of double, int, discrete, categorical, got \"float\""));
  EXPECT_THAT(Errors(r), SizeIs(8)) << Dump(r.diags);
}

TEST(LoadStudyValidation, ParameterEntryShapes) {
  Loaded r = LoadText(ExpParams("  parameters:\n    lr: {min: 1}\n"));
  EXPECT_TRUE(HasError(r, "spec.parameters", 12, 5, "must be a list, got a map"));

  Loaded items = LoadText(ExpParams("  parameters:\n    - lr\n    -\n"));
  EXPECT_TRUE(HasError(items, "spec.parameters[0]", 12, 7, "must be a map, got \"lr\""));
  EXPECT_TRUE(HasError(items, "spec.parameters[1]", 12, 5, "got null"));
}

TEST(LoadStudyValidation, Objective) {
  Loaded r = LoadText(Replace(Exp(), "    objectiveMetricName: accuracy\n",
                              "    goal: high\n"
                              "    additionalMetricNames: [loss, loss, \"\"]\n"
                              "    metricStrategies:\n"
                              "      - {name: loss, value: mean}\n"
                              "      - {name: f1, value: max}\n"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.objective.objectiveMetricName", 6, 3, "is required"));
  EXPECT_TRUE(HasError(r, "spec.objective.goal", 8, 11, "must be a number, got \"high\""));
  EXPECT_TRUE(HasError(r, "spec.objective.additionalMetricNames[1]", 9, 35,
                       "metric \"loss\" is listed twice"));
  EXPECT_TRUE(
      HasError(r, "spec.objective.additionalMetricNames[2]", 9, 41, "must be a metric name"));
  EXPECT_TRUE(HasError(r, "spec.objective.metricStrategies[0].value", 11, 29,
                       "must be min, max or latest, got \"mean\""));
  EXPECT_TRUE(HasError(r, "spec.objective.metricStrategies[1].name", 12, 16,
                       "names no metric of this study: \"f1\"; known metrics: loss (add it to "
                       "additionalMetricNames)"));
  EXPECT_THAT(Errors(r), SizeIs(6)) << Dump(r.diags);

  Loaded repeat = LoadText(Replace(Exp(), "    objectiveMetricName: accuracy\n",
                                   "    objectiveMetricName: accuracy\n"
                                   "    additionalMetricNames: [accuracy]\n"));
  EXPECT_TRUE(HasError(repeat, "spec.objective.additionalMetricNames[0]", 9, 29,
                       "must not repeat the objective metric \"accuracy\""));

  Loaded quoted_goal =
      LoadText(Replace(Exp(), "    type: maximize\n", "    type: maximize\n    goal: \"0.9\"\n"));
  EXPECT_TRUE(HasError(quoted_goal, "spec.objective.goal", 8, 11,
                       "must be a number, got the string \"0.9\" (write the number without "
                       "quotes)"));

  Loaded no_objective =
      LoadText(Replace(Exp(), std::string(kBody), "  algorithm:\n    algorithmName: random\n"));
  EXPECT_TRUE(HasError(no_objective, "spec.objective", 5, 1, "is required"));
}

TEST(LoadStudyValidation, AlgorithmAndCounts) {
  Loaded r =
      LoadText(Replace(ExpWith("  parallelTrialCount: 0\n  maxTrialCount: -2\n"
                               "  maxFailedTrialCount: -1\n"),
                       "    algorithmName: random\n", "    algorithmSettings: [{value: \"1\"}]\n"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.parallelTrialCount", 6, 23, "must be > 0, got 0"));
  EXPECT_TRUE(
      HasError(r, "spec.maxTrialCount", 7, 18, "must be > 0 (leave it out for no limit), got -2"));
  EXPECT_TRUE(HasError(r, "spec.maxFailedTrialCount", 8, 24, "must be >= 0, got -1"));
  EXPECT_TRUE(HasError(r, "spec.algorithm.algorithmName", 12, 3, "is required"));
  EXPECT_TRUE(HasError(r, "spec.algorithm.algorithmSettings[0].name", 13, 25, "is required"));
  EXPECT_THAT(Errors(r), SizeIs(5)) << Dump(r.diags);

  Loaded over =
      LoadText(ExpWith("  parallelTrialCount: 5\n  maxTrialCount: 4\n"
                       "  maxFailedTrialCount: 9\n"));
  EXPECT_TRUE(
      HasError(over, "spec.parallelTrialCount", 6, 23, "must be <= maxTrialCount (4), got 5"));
  EXPECT_TRUE(
      HasError(over, "spec.maxFailedTrialCount", 8, 24, "must be <= maxTrialCount (4), got 9"));

  Loaded types =
      LoadText(ExpWith("  parallelTrialCount: three\n  maxTrialCount: \"4\"\n"
                       "  maxFailedTrialCount: 99999999999\n"));
  EXPECT_TRUE(
      HasError(types, "spec.parallelTrialCount", 6, 23, "must be an integer, got \"three\""));
  EXPECT_TRUE(HasError(types, "spec.maxTrialCount", 7, 18,
                       "must be an integer, got the string \"4\" (write the number without "
                       "quotes)"));
  EXPECT_TRUE(HasError(types, "spec.maxFailedTrialCount", 8, 24,
                       "must be an integer between -2147483648 and 2147483647, got 99999999999"));

  Loaded dup =
      LoadText(Replace(Exp(), "    algorithmName: random\n",
                       "    algorithmName: random\n    algorithmSettings:\n"
                       "      - {name: a, value: \"1\"}\n      - {name: a, value: \"2\"}\n"));
  EXPECT_TRUE(HasError(dup, "spec.algorithm.algorithmSettings[1].name", 13, 16,
                       "duplicate setting \"a\" (first at line 12)"));
}

TEST(LoadStudyValidation, MetricsCollector) {
  auto with = [](const std::string& mc) {
    return LoadText(ExpWith("  metricsCollectorSpec:\n" + mc));
  };
  Loaded bad_kind = with("    collector: {kind: Stdout}\n");
  EXPECT_TRUE(HasError(bad_kind, "spec.metricsCollectorSpec.collector.kind", 7, 23,
                       "must be one of StdOut, File, TensorFlowEvent, PrometheusMetric, Custom, "
                       "Push, got \"Stdout\""));

  Loaded file = with(R"(    source:
      fileSystemPath: {path: logs/m.txt, kind: Directory, format: XML}
    collector: {kind: File}
)");
  EXPECT_TRUE(HasError(file, "spec.metricsCollectorSpec.source.fileSystemPath.path", 8, 30,
                       "must be an absolute path (starting with /), got \"logs/m.txt\""));
  EXPECT_TRUE(HasError(file, "spec.metricsCollectorSpec.source.fileSystemPath.kind", 8, 48,
                       "must be File for the File collector, got \"Directory\""));
  EXPECT_TRUE(HasError(file, "spec.metricsCollectorSpec.source.fileSystemPath.format", 8, 67,
                       "must be TEXT or JSON, got \"XML\""));

  Loaded json = with(R"y(    source:
      fileSystemPath: {path: /m.json, format: JSON}
      filter:
        metricsFormat: ["(\\w+)=(\\d+)"]
    collector: {kind: File}
)y");
  EXPECT_TRUE(HasError(json, "spec.metricsCollectorSpec.source.filter", 9, 7,
                       "must be absent when the file format is JSON"));

  Loaded regex = with(R"y(    source:
      filter:
        metricsFormat:
          - "(\\w+=(\\d+"
          - "(?:\\w+)=(\\d+)"
)y");
  EXPECT_TRUE(HasError(regex, "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", 10, 13,
                       "is not a valid regular expression: missing ): (\\w+=(\\d+"));
  EXPECT_TRUE(HasError(regex, "spec.metricsCollectorSpec.source.filter.metricsFormat[1]", 11, 13,
                       "must have at least 2 capture groups (group 1 the metric name, group 2 "
                       "the value), has 1"));

  Loaded tf = with("    collector:\n      kind: TensorFlowEvent\n");
  EXPECT_EQ(tf.spec.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(HasError(tf, "spec.metricsCollectorSpec.collector.kind", 8, 13,
                       "not supported yet: the TensorFlowEvent metrics collector; print "
                       "name=value lines to stdout (collector kind StdOut), write them to a file "
                       "(File), or report them over gRPC (Push)"));
  for (const char* kind : {"PrometheusMetric", "Custom"}) {
    Loaded l = with(std::string("    collector: {kind: ") + kind + "}\n");
    EXPECT_EQ(l.spec.status().code(), absl::StatusCode::kUnimplemented) << kind;
    ASSERT_THAT(Errors(l), SizeIs(1)) << kind;
    EXPECT_TRUE(Errors(l)[0].unsupported);
  }

  Loaded ignored =
      with("    source:\n      fileSystemPath: {path: /x}\n    collector: {kind: Push}\n");
  ASSERT_TRUE(ignored.spec.ok()) << ignored.spec.status();
  EXPECT_TRUE(HasWarning(ignored, "spec.metricsCollectorSpec.source.fileSystemPath", 8, 7,
                         "is ignored by the Push collector"));
}

TEST(LoadStudyValidation, TrialTemplate) {
  std::string both =
      Replace(Exp(), "    trialSpec:\n", "    configMap: {configMapName: a}\n    trialSpec:\n");
  Loaded r = LoadText(both);
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.configMap", 22, 5,
                       "set either trialSpec or configMap, not both"));

  std::string tail = kTail;
  std::string neither = Replace(Exp(), tail.substr(tail.find("    trialSpec:")), "");
  Loaded n = LoadText(neither);
  EXPECT_TRUE(HasError(n, "spec.trialTemplate", 17, 3,
                       "needs trialSpec (the trial workload inline) or configMap"));

  Loaded cm = LoadText(Replace(Exp(), tail.substr(tail.find("    trialSpec:")),
                               "    configMap:\n      configMapName: x\n"));
  EXPECT_TRUE(
      HasError(cm, "spec.trialTemplate.configMap.configMapNamespace", 22, 5, "is required"));
  EXPECT_TRUE(HasError(cm, "spec.trialTemplate.configMap.templatePath", 22, 5, "is required"));

  Loaded no_template = LoadText(Replace(Exp(), tail, ""));
  EXPECT_TRUE(HasError(no_template, "spec.trialTemplate", 5, 1, "is required"));

  Loaded not_map = LoadText(
      Replace(Exp(), tail.substr(tail.find("    trialSpec:")), "    trialSpec: job.yaml\n"));
  EXPECT_TRUE(HasError(not_map, "spec.trialTemplate.trialSpec", 22, 16,
                       "must be a map (a Kubernetes object such as a batch/v1 Job), got "
                       "\"job.yaml\""));
}

TEST(LoadStudyValidation, TrialParametersAndPrimaryContainer) {
  Loaded r = LoadText(Replace(Exp(),
                              "    primaryContainerName: main\n    trialParameters:\n"
                              "      - name: learningRate\n        reference: lr\n",
                              "    primaryContainerName: \"\"\n    trialParameters:\n"
                              "      - {name: learningRate, reference: lr}\n"
                              "      - {name: learningRate, reference: lr}\n"
                              "      - {name: \"a{b}\", reference: x}\n"
                              "      - {description: d}\n"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.primaryContainerName", 18, 27, "must not be empty"));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.trialParameters[1].name", 21, 16,
                       "duplicate trial parameter name \"learningRate\" (first at line 20)"));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.trialParameters[1].reference", 21, 41,
                       "duplicate reference \"lr\" (first at line 20)"));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.trialParameters[2].name", 22, 16,
                       "must not contain { or }, got \"a{b}\""));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.trialParameters[3].name", 23, 9, "is required"));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate.trialParameters[3].reference", 23, 9, "is required"));
  EXPECT_THAT(Errors(r), SizeIs(6)) << Dump(r.diags);
}

TEST(LoadStudyValidation, ConditionsAndResumePolicy) {
  Loaded custom_kind = LoadText(Replace(Exp(), "      kind: Job\n", "      kind: RayJob\n"));
  EXPECT_TRUE(HasError(custom_kind, "spec.trialTemplate", 17, 3,
                       "needs successCondition and failureCondition for a workload of kind "
                       "\"RayJob\""));
  Loaded custom_ok = LoadText(Replace(Replace(Exp(), "      kind: Job\n", "      kind: RayJob\n"),
                                      "    primaryContainerName: main\n",
                                      "    primaryContainerName: main\n"
                                      "    successCondition: status.done\n"
                                      "    failureCondition: status.failed\n"));
  ASSERT_TRUE(custom_ok.spec.ok()) << custom_ok.spec.status();
  EXPECT_EQ(custom_ok.spec->trial_template.success_condition, "status.done");

  Loaded half = LoadText(Replace(Exp(), "    primaryContainerName: main\n",
                                 "    primaryContainerName: main\n"
                                 "    successCondition: status.done\n"));
  EXPECT_TRUE(HasError(half, "spec.trialTemplate.failureCondition", 17, 3,
                       "is required when successCondition is set"));

  Loaded resume = LoadText(ExpWith("  resumePolicy: Always\n"));
  EXPECT_TRUE(HasError(resume, "spec.resumePolicy", 6, 17,
                       "must be Never, LongRunning or FromVolume, got \"Always\""));
}

TEST(LoadStudyValidation, EarlyStoppingMedianStop) {
  Loaded r =
      LoadText(ExpWith("  earlyStopping:\n    algorithmName: medianstop\n"
                       "    algorithmSettings: [{name: start_step, value: \"5\"}, "
                       "{name: rule, value: optuna}]\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->early_stopping->start_step, 5);
  EXPECT_EQ(r.spec->early_stopping->min_trials_required, 3);  // Katib's default
  EXPECT_EQ(r.spec->early_stopping->rule, "optuna");

  Loaded other = LoadText(ExpWith("  earlyStopping:\n    algorithmName: hyperband\n"));
  EXPECT_EQ(other.spec.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(HasError(other, "spec.earlyStopping.algorithmName", 7, 20,
                       "not supported yet: early stopping algorithm \"hyperband\" (supported: "
                       "medianstop); remove spec.earlyStopping to run every trial to the end"))
      << Dump(other.diags);

  Loaded bad =
      LoadText(ExpWith("  earlyStopping:\n    algorithmName: medianstop\n"
                       "    algorithmSettings: [{name: start_step, value: \"0\"}, "
                       "{name: rule, value: mean}, {name: patience, value: \"2\"}]\n"));
  EXPECT_EQ(bad.spec.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> messages;
  for (const Diagnostic& d : Errors(bad)) messages.push_back(d.ToString());
  EXPECT_THAT(
      messages,
      ElementsAre(
          "study.yaml:8:24: error: spec.earlyStopping.algorithmSettings: start_step must be a "
          "whole number from 1 to 1000000, got \"0\"",
          "study.yaml:8:24: error: spec.earlyStopping.algorithmSettings: rule must be katib "
          "(Katib's medianstop) or optuna (Optuna's MedianPruner), got \"mean\"",
          "study.yaml:8:24: error: spec.earlyStopping.algorithmSettings: unknown medianstop "
          "setting \"patience\"; allowed: min_trials_required, start_step, rule"));

  // An unsupported feature and an ordinary error: InvalidArgument with both.
  Loaded mixed = LoadText(Replace(ExpWith("  earlyStopping:\n    algorithmName: hyperband\n"),
                                  "    type: maximize\n", "    type: up\n"));
  EXPECT_EQ(mixed.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageLines(mixed.spec.status()), SizeIs(2));
}

TEST(LoadStudyValidation, UnknownKeysWarnWithLocation) {
  std::string yaml = Replace(Exp(), "  name: exp\n", "  name: exp\n  nmespace: x\n  uid: abc\n");
  yaml = Replace(yaml, "    type: maximize\n", "    type: maximize\n    gaol: 1\n");
  yaml = Replace(yaml, "                image: busybox\n",
                 "                image: busybox\n                anythingGoes: here\n");
  yaml += "status:\n  trials: 3\nextra: 1\n";
  Loaded r = LoadText(yaml);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_THAT(Warnings(r), SizeIs(3)) << Dump(r.diags);
  EXPECT_TRUE(HasWarning(r, "metadata.nmespace", 5, 3,
                         "unknown key \"nmespace\" is ignored (check its spelling; known keys "
                         "here: name, namespace, labels, annotations)"));
  EXPECT_TRUE(HasWarning(r, "spec.objective.gaol", 10, 5, "unknown key \"gaol\""));
  EXPECT_TRUE(HasWarning(r, "extra", 39, 1, "unknown key \"extra\""));
}

TEST(LoadStudyValidation, DuplicateKeys) {
  Loaded r =
      LoadText(Replace(Exp(), "    type: maximize\n", "    type: maximize\n    type: minimize\n"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.objective.type", 8, 5,
                       "duplicate key \"type\" (first at line 7); a key may appear once"));
  EXPECT_TRUE(r.spec.status().message().find("maximize") == std::string::npos);
}

TEST(LoadStudyValidation, WrongShapesAreDiagnosticsNotExceptions) {
  Loaded r = LoadText(R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: [exp]
spec:
  objective: minimize
  algorithm: [random]
  parameters: {}
  trialTemplate: 3
  metricsCollectorSpec: [StdOut]
  hpt: yes
)");
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "metadata", 3, 11, "must be a map, got a list"));
  EXPECT_TRUE(HasError(r, "spec.objective", 5, 14, "must be a map, got \"minimize\""));
  EXPECT_TRUE(HasError(r, "spec.algorithm", 6, 14, "must be a map, got a list"));
  EXPECT_TRUE(HasError(r, "spec.parameters", 7, 15, "must be a list, got a map"));
  EXPECT_TRUE(HasError(r, "spec.trialTemplate", 8, 18, "must be a map, got \"3\""));
  EXPECT_TRUE(HasError(r, "spec.metricsCollectorSpec", 9, 25, "must be a map, got a list"));
  EXPECT_TRUE(HasError(r, "spec.hpt", 10, 8, "must be a map, got \"yes\""));

  Loaded spec_list = LoadText(
      "apiVersion: kubeflow.org/v1alpha1\nkind: StudyJob\nmetadata: {name: "
      "a}\nspec: [1, 2]\n");
  EXPECT_TRUE(HasError(spec_list, "spec", 4, 7, "must be a map, got a list"));
}

// ---------------------------------------------------------------------------------------------
// v1alpha1 validation

TEST(LoadStudyV1alpha1Validation, SuggestionSpecRequired) {
  std::string yaml = Alpha();
  yaml = yaml.substr(0, yaml.find("  suggestionSpec:"));
  Loaded r = LoadText(yaml);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.suggestionSpec", 5, 1,
                       "No Spec.SuggestionSpec specified. spec.suggestionSpec is required: "
                       "{suggestionAlgorithm, requestNumber, suggestionParameters}"));
  EXPECT_THAT(Errors(r), SizeIs(1)) << Dump(r.diags);
}

TEST(LoadStudyV1alpha1Validation, ObjectiveParametersAndTemplate) {
  std::string yaml =
      Replace(Alpha(), "  optimizationtype: maximize\n  objectivevaluename: accuracy\n",
              "  optimizationtype: max\n  optimizationgoal: \"x\"\n");
  yaml = Replace(yaml, "      parametertype: double\n", "      parametertype: unknown\n");
  yaml = Replace(yaml, "      rawTemplate: |-\n", "      rawTemplat: |-\n");
  yaml = Replace(yaml, "    requestNumber: 2\n", "    requestNumber: -1\n");
  Loaded r = LoadText(yaml);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      HasError(r, "spec.optimizationtype", 6, 21, "must be minimize or maximize, got \"max\""));
  EXPECT_TRUE(
      HasError(r, "spec.optimizationgoal", 7, 21, "must be a number, got the string \"x\""));
  EXPECT_TRUE(HasError(r, "spec.objectivevaluename", 5, 1, "is required"));
  EXPECT_TRUE(HasError(r, "spec.parameterconfigs[0].parametertype", 10, 22,
                       "must be one of double, int, discrete, categorical, got \"unknown\""));
  EXPECT_TRUE(HasError(r, "spec.workerSpec.goTemplate", 15, 5,
                       "needs rawTemplate (the worker template inline) or templatePath"));
  EXPECT_TRUE(HasWarning(r, "spec.workerSpec.goTemplate.rawTemplat", 16, 7, "unknown key"));
  EXPECT_TRUE(HasError(r, "spec.suggestionSpec.requestNumber", 37, 20, "must be >= 0"));
  EXPECT_THAT(Errors(r), SizeIs(6)) << Dump(r.diags);

  Loaded rounds = LoadText(AlphaWith("  requestcount: -4\n"));
  EXPECT_TRUE(HasError(rounds, "spec.requestcount", 6, 17, "must be >= 0"));

  Loaded no_params = LoadText(Replace(Alpha(),
                                      "  parameterconfigs:\n    - name: --lr\n"
                                      "      parametertype: double\n      feasible:\n"
                                      "        min: \"0.01\"\n        max: \"0.03\"\n",
                                      ""));
  EXPECT_TRUE(HasError(no_params, "spec.parameterconfigs", 5, 1, "is required"));

  Loaded no_worker = LoadText(Alpha().substr(0, Alpha().find("  workerSpec:")) +
                              "  suggestionSpec: {requestNumber: 1}\n");
  EXPECT_TRUE(HasError(no_worker, "spec.workerSpec", 5, 1, "is required"));
}

TEST(LoadStudyV1alpha1Validation, UnsupportedFeatures) {
  Loaded collector =
      LoadText(AlphaWith("  metricsCollectorSpec:\n    goTemplate:\n"
                         "      rawTemplate: \"kind: CronJob\"\n"));
  EXPECT_EQ(collector.spec.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(HasError(collector, "spec.metricsCollectorSpec", 6, 3,
                       "not supported yet: a custom v1alpha1 metrics collector"));

  Loaded nas =
      LoadText(Replace(Alpha(), "  parameterconfigs:\n", "  nasConfig: {}\n  parameterconfig:\n"));
  // nasConfig: {} is present (an empty map), parameterconfigs is absent.
  EXPECT_EQ(nas.spec.status().code(), absl::StatusCode::kUnimplemented) << Dump(nas.diags);
  EXPECT_TRUE(
      HasError(nas, "spec.nasConfig", 8, 3, "not supported yet: neural architecture search"));
}

// ---------------------------------------------------------------------------------------------
// spec.hpt

TEST(LoadStudyHpt, TrialDeadlineBeyondAnIntegerIsRefused) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    trialDeadlineSeconds: 1e300
)"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.hpt.trialDeadlineSeconds", 7, 27,
                       "must be > 0 and <= 2147483647 (seconds), got 1e300"))
      << Dump(r.diags);
}

TEST(LoadStudyHpt, StrictKeysAndValues) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    seed: -1
    gpusPerTrial: -1
    trialDeadlineSeconds: 0
    configMapFiles: one.yaml
    local:
      command: []
      cwd: /tmp
    retries: 3
    runningTrialsOnCompletion: finish
)"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.hpt.seed", 7, 11,
                       "must be an unsigned integer (0 to 18446744073709551615), got \"-1\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.gpusPerTrial", 8, 19,
                       "must be an integer between 0 and 2147483647, got -1"));
  EXPECT_TRUE(HasError(r, "spec.hpt.trialDeadlineSeconds", 9, 27,
                       "must be > 0 and <= 2147483647 (seconds), got 0"));
  EXPECT_TRUE(HasError(r, "spec.hpt.configMapFiles", 10, 21,
                       "must be a list of file paths, got \"one.yaml\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.local.command", 12, 16, "must name the program to run"));
  EXPECT_TRUE(HasError(r, "spec.hpt.local.cwd", 13, 7,
                       "unknown key \"cwd\"; allowed keys: command, workingDir, env"));
  EXPECT_TRUE(HasError(r, "spec.hpt.retries", 14, 5,
                       "unknown key \"retries\"; allowed keys: local, seed, gpusPerTrial, "
                       "trialDeadlineSeconds, configMapFiles, kubernetes, "
                       "runningTrialsOnCompletion, warmStart"));
  EXPECT_TRUE(HasError(r, "spec.hpt.runningTrialsOnCompletion", 15, 32,
                       "must be Stop (running trials are stopped when the study completes; the "
                       "default) or Finish (they run to their end), got \"finish\""));
  EXPECT_THAT(Errors(r), SizeIs(8)) << Dump(r.diags);
}

TEST(LoadStudyHpt, RunningTrialsOnCompletion) {
  Loaded stop = LoadText(ExpWith("  hpt:\n    runningTrialsOnCompletion: Stop\n"));
  ASSERT_TRUE(stop.spec.ok()) << stop.spec.status() << Dump(stop.diags);
  EXPECT_FALSE(stop.spec->hpt.finish_running_on_completion);
  Loaded finish = LoadText(ExpWith("  hpt:\n    runningTrialsOnCompletion: Finish\n"));
  ASSERT_TRUE(finish.spec.ok()) << finish.spec.status() << Dump(finish.diags);
  EXPECT_TRUE(finish.spec->hpt.finish_running_on_completion);
  Loaded absent = LoadText(ExpWith("  hpt:\n    seed: 3\n"));
  ASSERT_TRUE(absent.spec.ok()) << absent.spec.status() << Dump(absent.diags);
  EXPECT_FALSE(absent.spec->hpt.finish_running_on_completion);
}

TEST(LoadStudyHpt, V1alpha1TakesItToo) {
  Loaded r = LoadText(AlphaWith("  hpt:\n    gpusPerTrial: 1\n    local: {command: [./train]}\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->hpt.gpus_per_trial, 1);
  ASSERT_TRUE(r.spec->hpt.local.has_value());
  EXPECT_EQ(r.spec->hpt.local->command, std::vector<std::string>{"./train"});
  EXPECT_EQ(r.spec->hpt.local->working_dir, "");
}

// ---------------------------------------------------------------------------------------------
// spec.hpt.warmStart

TEST(LoadStudyHptWarmStart, LongForm) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    warmStart:
      studies: [fraud-hpo, fraud-hpo-2]
      outOfSpace: clip
)"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  ASSERT_TRUE(r.spec->hpt.warm_start.has_value());
  EXPECT_EQ(r.spec->hpt.warm_start->studies,
            (std::vector<std::string>{"fraud-hpo", "fraud-hpo-2"}));
  EXPECT_EQ(r.spec->hpt.warm_start->out_of_space, WarmStartSpec::OutOfSpace::kClip);

  Loaded drop = LoadText(ExpWith("  hpt:\n    warmStart: {studies: [a], outOfSpace: drop}\n"));
  ASSERT_TRUE(drop.spec.ok()) << drop.spec.status() << Dump(drop.diags);
  EXPECT_EQ(drop.spec->hpt.warm_start->studies, std::vector<std::string>{"a"});
  EXPECT_EQ(drop.spec->hpt.warm_start->out_of_space, WarmStartSpec::OutOfSpace::kDrop);
}

TEST(LoadStudyHptWarmStart, ShortFormTakesTheDefaults) {
  Loaded r = LoadText(ExpWith("  hpt:\n    warmStart: [old-study]\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  ASSERT_TRUE(r.spec->hpt.warm_start.has_value());
  EXPECT_EQ(r.spec->hpt.warm_start->studies, std::vector<std::string>{"old-study"});
  EXPECT_EQ(r.spec->hpt.warm_start->out_of_space, WarmStartSpec::OutOfSpace::kDrop);

  Loaded map = LoadText(ExpWith("  hpt:\n    warmStart:\n      studies: [b]\n"));
  ASSERT_TRUE(map.spec.ok()) << map.spec.status() << Dump(map.diags);
  EXPECT_EQ(map.spec->hpt.warm_start->out_of_space, WarmStartSpec::OutOfSpace::kDrop);
}

TEST(LoadStudyHptWarmStart, AbsentOrNullIsNoWarmStart) {
  Loaded absent = LoadText(Exp());
  ASSERT_TRUE(absent.spec.ok()) << absent.spec.status();
  EXPECT_FALSE(absent.spec->hpt.warm_start.has_value());
  Loaded null = LoadText(ExpWith("  hpt:\n    warmStart:\n"));
  ASSERT_TRUE(null.spec.ok()) << null.spec.status() << Dump(null.diags);
  EXPECT_FALSE(null.spec->hpt.warm_start.has_value());
}

TEST(LoadStudyHptWarmStart, V1alpha1TakesItToo) {
  Loaded r = LoadText(AlphaWith("  hpt:\n    warmStart: {studies: [old-job], outOfSpace: clip}\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  ASSERT_TRUE(r.spec->hpt.warm_start.has_value());
  EXPECT_EQ(r.spec->hpt.warm_start->studies, std::vector<std::string>{"old-job"});
  EXPECT_EQ(r.spec->hpt.warm_start->out_of_space, WarmStartSpec::OutOfSpace::kClip);
  // The study's own name is allowed: the run is stored as job-2 and reads the stored job.
  Loaded self = LoadText(AlphaWith("  hpt:\n    warmStart: [job]\n"));
  ASSERT_TRUE(self.spec.ok()) << self.spec.status() << Dump(self.diags);
  EXPECT_EQ(self.spec->hpt.warm_start->studies, std::vector<std::string>{"job"});
}

TEST(LoadStudyHptWarmStart, BadShapes) {
  Loaded scalar = LoadText(ExpWith("  hpt:\n    warmStart: fraud-hpo\n"));
  EXPECT_EQ(scalar.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(scalar, "spec.hpt.warmStart", 7, 16,
                       "must be a map {studies, outOfSpace} or a list of study names, got "
                       "\"fraud-hpo\""));
  EXPECT_THAT(Errors(scalar), SizeIs(1)) << Dump(scalar.diags);

  Loaded empty = LoadText(ExpWith("  hpt:\n    warmStart: []\n"));
  EXPECT_TRUE(HasError(empty, "spec.hpt.warmStart", 7, 16,
                       "must name at least one earlier study of the same tracker file; leave "
                       "warmStart out to start from scratch"));
  EXPECT_FALSE(empty.spec.ok());

  Loaded no_studies = LoadText(ExpWith("  hpt:\n    warmStart:\n      outOfSpace: clip\n"));
  EXPECT_TRUE(HasError(no_studies, "spec.hpt.warmStart.studies", 7, 5,
                       "is required (the names of earlier studies of the same tracker file)"));
  EXPECT_THAT(Errors(no_studies), SizeIs(1)) << Dump(no_studies.diags);

  Loaded studies_scalar = LoadText(ExpWith("  hpt:\n    warmStart:\n      studies: a\n"));
  EXPECT_TRUE(HasError(studies_scalar, "spec.hpt.warmStart.studies", 8, 16,
                       "must be a list of study names, got \"a\""));
}

TEST(LoadStudyHptWarmStart, BadEntriesAndValues) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    warmStart:
      studies:
        - fraud-hpo
        - {name: x}
        - ""
        -
        - exp
        - fraud-hpo
      outOfSpace: nearest
      mode: clip
)"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      HasError(r, "spec.hpt.warmStart.studies[1]", 10, 11, "must be a study name, got a map"));
  EXPECT_TRUE(HasError(r, "spec.hpt.warmStart.studies[2]", 11, 11,
                       "must be a study name, got the string \"\""));
  // An empty item is placed at its list (yaml-cpp marks it at the token after it).
  EXPECT_TRUE(HasError(r, "spec.hpt.warmStart.studies[3]", 9, 9, "must be a study name, got null"));
  // [4] is the study's own name: allowed (a rerun reads the stored study of that name).
  EXPECT_FALSE(HasError(r, "spec.hpt.warmStart.studies[4]", 13, 11, "exp"));
  EXPECT_TRUE(HasError(r, "spec.hpt.warmStart.studies[5]", 14, 11,
                       "\"fraud-hpo\" is listed more than once (first at line 9); each study "
                       "may be named once"));
  EXPECT_TRUE(HasError(r, "spec.hpt.warmStart.outOfSpace", 15, 19,
                       "must be drop (an old trial with a value outside the space is left out; "
                       "the default) or clip (the value moves to the nearest feasible one), got "
                       "\"nearest\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.warmStart.mode", 16, 7,
                       "unknown key \"mode\"; allowed keys: studies, outOfSpace"));
  EXPECT_THAT(Errors(r), SizeIs(6)) << Dump(r.diags);
}

// ---------------------------------------------------------------------------------------------
// spec.hpt.kubernetes

constexpr char kDnsRule[] =
    "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending "
    "with a letter or digit, at most ";

TEST(LoadStudyHptKubernetes, Defaults) {
  Loaded r = LoadText(Exp());
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  const KubernetesSettings& k = r.spec->hpt.kubernetes;
  EXPECT_EQ(k.job.priority_class_name, "");
  EXPECT_FALSE(k.job.active_deadline_seconds.has_value());
  EXPECT_FALSE(k.job.backoff_limit.has_value());
  EXPECT_FALSE(k.job.ttl_seconds_after_finished.has_value());
  EXPECT_EQ(k.job.service_account_name, "");
  EXPECT_EQ(k.job.queue_name, "");
  EXPECT_EQ(k.annotation_prefix, "hpt.dev");
  EXPECT_TRUE(k.propagate_annotations.empty());
  EXPECT_EQ(k.preemption_retries, 3);
}

TEST(LoadStudyHptKubernetes, EveryFieldMapped) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    kubernetes:
      priorityClassName: team-a-high
      activeDeadlineSeconds: 7200
      backoffLimit: 0
      ttlSecondsAfterFinished: 600
      serviceAccountName: trainer
      queueName: team-a
      annotationPrefix: ml.example.com
      propagateAnnotations: [ai.bloomberg.com/*, team, "example.com/Run_ID", "*", a*]
      preemptionRetries: 0
)"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  const KubernetesSettings& k = r.spec->hpt.kubernetes;
  EXPECT_EQ(k.job.priority_class_name, "team-a-high");
  EXPECT_EQ(k.job.active_deadline_seconds, 7200);
  EXPECT_EQ(k.job.backoff_limit, 0);
  EXPECT_EQ(k.job.ttl_seconds_after_finished, 600);
  EXPECT_EQ(k.job.service_account_name, "trainer");
  EXPECT_EQ(k.job.queue_name, "team-a");
  EXPECT_EQ(k.annotation_prefix, "ml.example.com");
  EXPECT_THAT(k.propagate_annotations,
              ElementsAre("ai.bloomberg.com/*", "team", "example.com/Run_ID", "*", "a*"));
  EXPECT_EQ(k.preemption_retries, 0);
  EXPECT_FALSE(r.spec->hpt.trial_deadline_seconds.has_value());
}

TEST(LoadStudyHptKubernetes, LimitsThatAreAllowed) {
  const std::string name63(63, 'q');
  const std::string name253 = std::string(200, 'a') + "." + std::string(52, 'b');
  Loaded r = LoadText(ExpWith("  hpt:\n    kubernetes:\n      priorityClassName: " + name253 +
                              "\n      queueName: " + name63 +
                              "\n      backoffLimit: 2147483647\n      preemptionRetries: 100\n"
                              "      activeDeadlineSeconds: 9223372036854775807\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->hpt.kubernetes.job.priority_class_name, name253);
  EXPECT_EQ(r.spec->hpt.kubernetes.job.queue_name, name63);
  EXPECT_EQ(r.spec->hpt.kubernetes.job.backoff_limit, 2147483647);
  EXPECT_EQ(r.spec->hpt.kubernetes.job.active_deadline_seconds, 9223372036854775807);
  EXPECT_EQ(r.spec->hpt.kubernetes.preemption_retries, 100);
}

TEST(LoadStudyHptKubernetes, EveryProblemAtItsPlace) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    trialDeadlineSeconds: 60
    kubernetes:
      priorityClassName: Team_A
      activeDeadlineSeconds: 7200
      backoffLimit: -1
      ttlSecondsAfterFinished: "600"
      serviceAccountName: a..b
      queueName: qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq
      annotationPrefix: Hpt.Dev
      propagateAnnotations:
        - ai.bloomberg.com/*
        - "bad key"
        - a*b*
        - ai.bloomberg.com/*
        - -x/y
        - {a: b}
        - Example.com/*
      preemptionRetries: 101
      retries: 1
)"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.priorityClassName", 9, 26,
                       std::string(kDnsRule) + "253 characters), got \"Team_A\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.activeDeadlineSeconds", 10, 7,
                       "must not be given together with spec.hpt.trialDeadlineSeconds (line 7): "
                       "both set the trial's activeDeadlineSeconds; keep one"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.backoffLimit", 11, 21,
                       "must be an integer between 0 and 2147483647, got -1"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.ttlSecondsAfterFinished", 12, 32,
                       "must be an integer, got the string \"600\" (write the number without "
                       "quotes)"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.serviceAccountName", 13, 27,
                       std::string(kDnsRule) + "253 characters), got \"a..b\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.queueName", 14, 18,
                       std::string(kDnsRule) + "63 characters), got 64 characters"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.annotationPrefix", 15, 25,
                       std::string(kDnsRule) +
                           "253 characters), got \"Hpt.Dev\" (the prefix of hpt's annotation keys "
                           "<prefix>/project, <prefix>/experiment, <prefix>/study, "
                           "<prefix>/trial)"));
  const std::string key_rule =
      "must be an annotation key ([prefix/]name: the prefix a DNS-1123 subdomain, the name 1 to "
      "63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; e.g. "
      "ai.bloomberg.com/project) or a key prefix ending in '*' (e.g. ai.bloomberg.com/*), got ";
  EXPECT_TRUE(
      HasError(r, "spec.hpt.kubernetes.propagateAnnotations[1]", 18, 11, key_rule + "\"bad key\""));
  EXPECT_TRUE(
      HasError(r, "spec.hpt.kubernetes.propagateAnnotations[2]", 19, 11, key_rule + "\"a*b*\""));
  EXPECT_TRUE(HasWarning(r, "spec.hpt.kubernetes.propagateAnnotations[3]", 20, 11,
                         "\"ai.bloomberg.com/*\" is listed more than once (first at line 17)"));
  EXPECT_TRUE(
      HasError(r, "spec.hpt.kubernetes.propagateAnnotations[4]", 21, 11, key_rule + "\"-x/y\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.propagateAnnotations[5]", 22, 11,
                       "must be an annotation key or a key prefix ending in '*', got a map"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.propagateAnnotations[6]", 23, 11,
                       key_rule + "\"Example.com/*\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.preemptionRetries", 24, 26,
                       "must be an integer between 0 and 100, got 101"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.retries", 25, 7,
                       "unknown key \"retries\"; allowed keys: priorityClassName, "
                       "activeDeadlineSeconds, backoffLimit, ttlSecondsAfterFinished, "
                       "serviceAccountName, queueName, annotationPrefix, propagateAnnotations, "
                       "preemptionRetries"));
  EXPECT_THAT(Errors(r), SizeIs(14)) << Dump(r.diags);
  EXPECT_THAT(Warnings(r), SizeIs(1)) << Dump(r.diags);
  // The message of the status lists them with file, line and column.
  EXPECT_THAT(std::string(r.spec.status().message()),
              HasSubstr("study.yaml:11:21: error: spec.hpt.kubernetes.backoffLimit: must be an "
                        "integer between 0 and 2147483647, got -1"));
}

TEST(LoadStudyHptKubernetes, ShapesAndEmptyValues) {
  Loaded r = LoadText(ExpWith(R"(  hpt:
    kubernetes:
      priorityClassName: ""
      activeDeadlineSeconds: 0
      propagateAnnotations: []
)"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.priorityClassName", 8, 26,
                       std::string(kDnsRule) + "253 characters), got \"\""));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.activeDeadlineSeconds", 9, 30,
                       "must be > 0 (seconds), got 0"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.propagateAnnotations", 10, 29,
                       "must list at least one annotation key or key prefix (e.g. "
                       "[ai.bloomberg.com/*]); leave it out to copy every annotation"));
  EXPECT_THAT(Errors(r), SizeIs(3)) << Dump(r.diags);

  r = LoadText(
      ExpWith("  hpt:\n    kubernetes:\n      propagateAnnotations: ai.bloomberg.com/*\n"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes.propagateAnnotations", 8, 29,
                       "must be a list of annotation keys and key prefixes ending in '*', got "
                       "\"ai.bloomberg.com/*\""));
  EXPECT_THAT(Errors(r), SizeIs(1)) << Dump(r.diags);

  r = LoadText(ExpWith("  hpt:\n    kubernetes: [a]\n"));
  EXPECT_TRUE(HasError(r, "spec.hpt.kubernetes", 7, 17, "must be a map, got a list"));
  EXPECT_THAT(Errors(r), SizeIs(1)) << Dump(r.diags);

  // An empty block is no block.
  r = LoadText(ExpWith("  hpt:\n    kubernetes:\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->hpt.kubernetes.annotation_prefix, "hpt.dev");
}

TEST(LoadStudyHptKubernetes, V1alpha1TakesItToo) {
  Loaded r = LoadText(AlphaWith(
      "  hpt:\n    kubernetes: {queueName: team-a, backoffLimit: 1, preemptionRetries: 7}\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(r.spec->hpt.kubernetes.job.queue_name, "team-a");
  EXPECT_EQ(r.spec->hpt.kubernetes.job.backoff_limit, 1);
  EXPECT_EQ(r.spec->hpt.kubernetes.preemption_retries, 7);
}

TEST(KubernetesSettingsTest, Propagates) {
  KubernetesSettings k;
  EXPECT_TRUE(k.Propagates("anything"));  // empty: all
  k.propagate_annotations = {"ai.bloomberg.com/*", "team", "x.io/run*"};
  EXPECT_TRUE(k.Propagates("ai.bloomberg.com/project"));
  EXPECT_TRUE(k.Propagates("ai.bloomberg.com/"));
  EXPECT_TRUE(k.Propagates("team"));
  EXPECT_TRUE(k.Propagates("x.io/run"));
  EXPECT_TRUE(k.Propagates("x.io/run-id"));
  EXPECT_FALSE(k.Propagates("teams"));
  EXPECT_FALSE(k.Propagates("tea"));
  EXPECT_FALSE(k.Propagates("ai.bloomberg.com"));
  EXPECT_FALSE(k.Propagates("sub.ai.bloomberg.com/project"));
  EXPECT_FALSE(k.Propagates("x.io/ru"));
  k.propagate_annotations = {"*"};
  EXPECT_TRUE(k.Propagates("a/b"));
}

// ---------------------------------------------------------------------------------------------
// StudyProject / StudyExperiment

TEST(StudyProjectTest, OwnAnnotationFirstThenAnyEnding) {
  StudySpec spec;
  EXPECT_EQ(StudyProject(spec), "");
  EXPECT_EQ(StudyExperiment(spec), "");
  spec.annotations = {{"ai.bloomberg.com/project", "foo"},
                      {"ai.bloomberg.com/experiment", "abcde"}};
  EXPECT_EQ(StudyProject(spec), "foo");
  EXPECT_EQ(StudyExperiment(spec), "abcde");
  spec.annotations["hpt.dev/project"] = "own";
  EXPECT_EQ(StudyProject(spec), "own");
  EXPECT_EQ(StudyExperiment(spec), "abcde");
  // Keys that only look alike do not count: "/project" alone, or another ending.
  spec.annotations = {{"/project", "x"}, {"project", "y"}, {"a.io/projects", "z"}};
  EXPECT_EQ(StudyProject(spec), "");
  // The first in key order wins among the others.
  spec.annotations = {{"b.io/project", "b"}, {"a.io/project", "a"}};
  EXPECT_EQ(StudyProject(spec), "a");
}

TEST(StudyProjectTest, RespectsTheConfiguredPrefix) {
  StudySpec spec;
  spec.hpt.kubernetes.annotation_prefix = "ml.example.com";
  spec.annotations = {{"a.io/project", "a"},
                      {"hpt.dev/project", "h"},
                      {"ml.example.com/project", "mine"},
                      {"a.io/experiment", "e"}};
  EXPECT_EQ(StudyProject(spec), "mine");
  EXPECT_EQ(StudyExperiment(spec), "e");
  spec.annotations.erase("ml.example.com/project");
  EXPECT_EQ(StudyProject(spec), "a");  // hpt.dev is not special under another prefix
}

TEST(StudyProjectTest, FromALoadedStudy) {
  Loaded r = LoadText(Replace(Exp(), "  name: exp\n",
                              "  name: exp\n  annotations:\n    ai.bloomberg.com/project: foo\n"
                              "    ai.bloomberg.com/experiment: abcde\n"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  EXPECT_EQ(StudyProject(*r.spec), "foo");
  EXPECT_EQ(StudyExperiment(*r.spec), "abcde");
}

// ---------------------------------------------------------------------------------------------
// LoadStudyFile

TEST(LoadStudyFile, MissingFileIsNotFound) {
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> s = LoadStudyFile("/nonexistent/dir/study.yaml", &diags);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), "cannot read /nonexistent/dir/study.yaml: no such file");
  ASSERT_THAT(diags, SizeIs(1));
  EXPECT_EQ(diags[0].file, "/nonexistent/dir/study.yaml");
}

TEST(LoadStudyFile, KeepsPathAndExactText) {
  TempDir dir("exact");
  std::string text = "# a comment that must survive\n" + Exp() + "\n\n";
  std::string path = dir.Write("s.yaml", text);
  absl::StatusOr<StudySpec> s = LoadStudyFile(path, nullptr);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->file, path);
  EXPECT_EQ(s->source_yaml, text);
  EXPECT_EQ(s->trial_template.source_name, path);
  EXPECT_EQ(s->trial_template.source_line, 24);
}

TEST(LoadStudyText, NullDiagnosticsIsAllowed) {
  absl::StatusOr<StudySpec> s = LoadStudyText("kind: Job\n", "", nullptr);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("<string>:1:7: error: kind: apiVersion \"\" with kind \"Job\""));
}

}  // namespace
}  // namespace hpt::engine

namespace hpt::engine {
namespace {

using ::hpt::engine::testing_util::LoadText;

TEST(LoadStudyRobustness, EveryTruncationLoadsWithoutThrowing) {
  const std::string full = Exp() + "  hpt:\n    local: {command: [a]}\n";
  for (size_t n = 0; n <= full.size(); n += 3) {
    std::vector<Diagnostic> diags;
    absl::StatusOr<StudySpec> s = LoadStudyText(full.substr(0, n), "t.yaml", &diags);
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << n;
      EXPECT_FALSE(diags.empty()) << n;
    }
  }
}

TEST(LoadStudyRobustness, SelfReferentialTrialSpecIsAnError) {
  std::string yaml = std::string(R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: loop}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: random}
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.1", max: "1"}}
  trialTemplate:
    primaryContainerName: main
    trialParameters: []
    trialSpec: &job
      kind: Job
      spec: *job
)");
  testing_util::Loaded r = LoadText(yaml);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(testing_util::HasError(r, "spec.trialTemplate.trialSpec", 12, 16,
                                     "is nested more than 100 levels deep"));
}

}  // namespace
}  // namespace hpt::engine
