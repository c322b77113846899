// Katib's own example YAMLs (shared/peers/katib/, copied verbatim from kubeflow/katib) load the
// way a Katib user expects; what hpt does not support yet says so.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/spec/study_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/spec/spec_test_util.h"

namespace hpt::engine {
namespace {

using ::hpt::engine::testing_util::Dump;
using ::hpt::engine::testing_util::Errors;
using ::hpt::engine::testing_util::Loaded;
using ::hpt::engine::testing_util::LoadFile;
using suggest::ParamType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::SizeIs;

// Katib's files are not hpt's and are not committed: they sit in shared/peers/katib beside the
// checkout, or where $HPT_KATIB_FIXTURES points. Without them every test here is skipped.
std::string FixtureDir() {
  const char* env = std::getenv("HPT_KATIB_FIXTURES");
  return env && *env ? std::string(env) : std::string(HPT_SOURCE_DIR) + "/../shared/peers/katib";
}
std::string Fixture(const std::string& relative) { return FixtureDir() + "/" + relative; }

class FixturesPresent : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!std::filesystem::is_directory(FixtureDir())) {
      GTEST_SKIP() << "Katib fixtures not found at " << FixtureDir() << " (set HPT_KATIB_FIXTURES)";
    }
  }
};
::testing::Environment* const kFixturesPresent =
    ::testing::AddGlobalTestEnvironment(new FixturesPresent);
// Files found by the directory scan are named by their normalized path.
std::string Normalized(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

using Settings = std::vector<std::pair<std::string, std::string>>;
constexpr char kJobSuccess[] = R"(status.conditions.#(type=="Complete")#|#(status=="True")#)";
constexpr char kFailure[] = R"(status.conditions.#(type=="Failed")#|#(status=="True")#)";

class KatibFixtureOk : public ::testing::TestWithParam<const char*> {};

TEST_P(KatibFixtureOk, LoadsWithoutDiagnostics) {
  Loaded r = LoadFile(Fixture(GetParam()));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  EXPECT_THAT(r.diags, SizeIs(0)) << Dump(r.diags);
  EXPECT_EQ(r.spec->namespace_, "kubeflow");
  EXPECT_FALSE(r.spec->trial_template.source.empty());
  EXPECT_EQ(r.spec->trial_template.success_condition, kJobSuccess);
}

INSTANTIATE_TEST_SUITE_P(
    Katib, KatibFixtureOk,
    ::testing::Values("v1beta1/random.yaml", "v1beta1/grid.yaml",
                      "v1beta1/bayesian-optimization.yaml", "v1beta1/cma-es.yaml",
                      "v1beta1/hyperband.yaml", "v1beta1/file-metrics-collector.yaml",
                      "v1alpha1/random-example.yaml", "v1alpha1/grid-example.yaml",
                      "v1alpha1/bayseopt-example.yaml", "v1alpha1/hypb-example.yaml"));

TEST(KatibFixtures, V1beta1Random) {
  Loaded r = LoadFile(Fixture("v1beta1/random.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.name, "random");
  EXPECT_FALSE(s.objective.maximize);
  EXPECT_EQ(s.objective.goal, 0.001);
  EXPECT_TRUE(s.objective.goal_inclusive);
  EXPECT_EQ(s.objective.metric, "loss");
  EXPECT_THAT(s.objective.strategies, ElementsAre(Pair("loss", MetricStrategy::kMin)));
  EXPECT_EQ(s.algorithm.name, "random");
  EXPECT_EQ(s.parallel_trial_count, 3);
  EXPECT_EQ(s.max_trial_count, 12);
  EXPECT_EQ(s.max_failed_trial_count, 3);
  ASSERT_THAT(s.space.params, SizeIs(2));
  EXPECT_EQ(s.space.params[1].name, "momentum");
  EXPECT_DOUBLE_EQ(s.space.params[1].min, 0.5);
  EXPECT_DOUBLE_EQ(s.space.params[1].max, 0.9);
  EXPECT_EQ(s.metrics_collector.kind, CollectorKind::kStdOut);
  EXPECT_EQ(s.trial_template.primary_container_name, "training-container");
  EXPECT_EQ(s.trial_template.source_line, 38);
  EXPECT_EQ(s.trial_template.failure_condition, kFailure);
  nlohmann::json job = nlohmann::json::parse(s.trial_template.source);
  nlohmann::json container = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["resources"]["limits"]["cpu"], "0.5");
  EXPECT_EQ(container["command"][4], "--lr=${trialParameters.learningRate}");
}

TEST(KatibFixtures, V1beta1GridHasSteps) {
  Loaded r = LoadFile(Fixture("v1beta1/grid.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  EXPECT_EQ(r.spec->algorithm.name, "grid");
  EXPECT_EQ(r.spec->space.params[0].step, 0.005);
  EXPECT_EQ(r.spec->space.params[1].step, 0.1);
}

TEST(KatibFixtures, V1beta1AlgorithmSettings) {
  Loaded bo = LoadFile(Fixture("v1beta1/bayesian-optimization.yaml"));
  ASSERT_TRUE(bo.spec.ok()) << bo.spec.status();
  EXPECT_EQ(bo.spec->algorithm.settings, (Settings{{"random_state", "10"}}));
  Loaded cma = LoadFile(Fixture("v1beta1/cma-es.yaml"));
  ASSERT_TRUE(cma.spec.ok()) << cma.spec.status();
  EXPECT_EQ(cma.spec->name, "cmaes");
  EXPECT_EQ(cma.spec->algorithm.settings, (Settings{{"restart_strategy", "ipop"}}));
}

TEST(KatibFixtures, V1beta1Hyperband) {
  Loaded r = LoadFile(Fixture("v1beta1/hyperband.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  EXPECT_EQ(r.spec->parallel_trial_count, 2);
  EXPECT_EQ(r.spec->max_trial_count, 2);
  EXPECT_EQ(r.spec->max_failed_trial_count, 2);
  EXPECT_EQ(r.spec->algorithm.settings,
            (Settings{{"resource_name", "num-epochs"}, {"eta", "2"}, {"r_l", "2"}}));
  ASSERT_THAT(r.spec->space.params, SizeIs(3));
  EXPECT_EQ(r.spec->space.params[2].type, ParamType::kInt);
  EXPECT_EQ(r.spec->space.params[2].min, 1);
  EXPECT_EQ(r.spec->space.params[2].max, 1);
  EXPECT_THAT(r.spec->trial_template.trial_parameters, SizeIs(3));
}

TEST(KatibFixtures, V1beta1FileMetricsCollector) {
  Loaded r = LoadFile(Fixture("v1beta1/file-metrics-collector.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  const StudySpec& s = *r.spec;
  EXPECT_TRUE(s.objective.maximize);
  EXPECT_EQ(s.objective.additional_metrics, std::vector<std::string>{"loss"});
  EXPECT_THAT(s.objective.strategies, ElementsAre(Pair("accuracy", MetricStrategy::kMax),
                                                  Pair("loss", MetricStrategy::kMax)));
  EXPECT_EQ(s.metrics_collector.kind, CollectorKind::kFile);
  EXPECT_EQ(s.metrics_collector.file_path, "/katib/mnist.log");
  EXPECT_EQ(s.metrics_collector.file_format, "TEXT");
  EXPECT_EQ(s.metrics_collector.metrics_format,
            std::vector<std::string>{R"({metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)})"});
}

TEST(KatibFixtures, V1beta1MedianStop) {
  Loaded r = LoadFile(Fixture("v1beta1/median-stop.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  ASSERT_TRUE(r.spec->early_stopping.has_value());
  const EarlyStoppingSpec& es = *r.spec->early_stopping;
  EXPECT_EQ(es.algorithm, "medianstop");
  EXPECT_EQ(es.min_trials_required, 1);
  EXPECT_EQ(es.start_step, 2);
  EXPECT_EQ(es.rule, "katib");
}

TEST(KatibFixtures, V1alpha1RandomExample) {
  Loaded r = LoadFile(Fixture("v1alpha1/random-example.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status();
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.dialect, Dialect::kStudyJobV1alpha1);
  EXPECT_EQ(s.name, "random-example");
  EXPECT_EQ(s.study_name, "random-example");
  EXPECT_EQ(s.owner, "crd");
  EXPECT_THAT(s.labels, ElementsAre(Pair("controller-tools.k8s.io", "1.0")));
  EXPECT_TRUE(s.objective.maximize);
  EXPECT_EQ(s.objective.goal, 0.99);
  EXPECT_FALSE(s.objective.goal_inclusive);
  EXPECT_EQ(s.objective.metric, "Validation-accuracy");
  EXPECT_EQ(s.objective.additional_metrics, std::vector<std::string>{"accuracy"});
  EXPECT_EQ(s.algorithm.name, "random");
  EXPECT_EQ(s.request_count, 4);
  EXPECT_EQ(s.request_number, 3);
  EXPECT_EQ(s.parallel_trial_count, 3);
  EXPECT_EQ(s.max_trial_count, 12);
  ASSERT_THAT(s.space.params, SizeIs(3));
  EXPECT_EQ(s.space.params[0].name, "--lr");
  EXPECT_EQ(s.space.params[1].type, ParamType::kInt);
  EXPECT_EQ(s.space.params[2].list, (std::vector<std::string>{"sgd", "adam", "ftrl"}));
  EXPECT_EQ(s.trial_template.source_name, Fixture("v1alpha1/random-example.yaml"));
  EXPECT_EQ(s.trial_template.source_line, 38);
  EXPECT_EQ(s.trial_template.source.substr(0, 20), "apiVersion: batch/v1");
  EXPECT_THAT(s.trial_template.source, HasSubstr("{{- range .}}"));
  EXPECT_EQ(s.trial_template.primary_container_name, "");
}

TEST(KatibFixtures, V1alpha1GridExampleFindsTheWorkerConfigMapBesideIt) {
  Loaded r = LoadFile(Fixture("v1alpha1/grid-example.yaml"));
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << Dump(r.diags);
  const StudySpec& s = *r.spec;
  EXPECT_EQ(s.algorithm.name, "grid");
  EXPECT_EQ(s.algorithm.settings, (Settings{{"DefaultGrid", "1"}, {"--lr", "4"}}));
  EXPECT_EQ(s.request_number, 0);
  EXPECT_EQ(s.parallel_trial_count, 1);
  EXPECT_EQ(s.max_trial_count, std::nullopt);
  EXPECT_EQ(s.trial_template.source_name, Normalized(Fixture("v1alpha1/workerConfigMap.yaml")));
  EXPECT_EQ(s.trial_template.source_line, 8);
  EXPECT_EQ(s.trial_template.source.substr(0, 30), "apiVersion: batch/v1\nkind: Job");
  EXPECT_THAT(s.trial_template.source, HasSubstr("katib/mxnet-mnist-example\n"));
  EXPECT_THAT(s.trial_template.source, ::testing::Not(HasSubstr("nvidia.com/gpu")));
}

TEST(KatibFixtures, V1alpha1BayesOptAndHyperband) {
  Loaded bo = LoadFile(Fixture("v1alpha1/bayseopt-example.yaml"));
  ASSERT_TRUE(bo.spec.ok()) << bo.spec.status();
  EXPECT_EQ(bo.spec->algorithm.name, "bayesianoptimization");
  EXPECT_EQ(bo.spec->algorithm.settings, (Settings{{"burn_in", "5"}}));
  EXPECT_EQ(bo.spec->request_count, 10);
  EXPECT_EQ(bo.spec->max_trial_count, 30);

  Loaded hb = LoadFile(Fixture("v1alpha1/hypb-example.yaml"));
  ASSERT_TRUE(hb.spec.ok()) << hb.spec.status();
  EXPECT_EQ(hb.spec->algorithm.name, "hyperband");
  EXPECT_EQ(hb.spec->algorithm.settings,
            (Settings{{"ResourceName", "--num-epochs"}, {"eta", "3"}, {"r_l", "9"}}));
  EXPECT_EQ(hb.spec->objective.goal, std::nullopt);
  EXPECT_EQ(hb.spec->request_number, 1);
  EXPECT_EQ(hb.spec->request_count, 0);
  EXPECT_EQ(hb.spec->max_trial_count, std::nullopt);
  EXPECT_EQ(hb.spec->trial_template.source_name,
            Normalized(Fixture("v1alpha1/workerConfigMap.yaml")));
}

TEST(KatibFixtures, V1alpha1TfJobExampleNeedsTheMetricsCollector) {
  Loaded r = LoadFile(Fixture("v1alpha1/tfjob-example.yaml"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kUnimplemented) << Dump(r.diags);
  EXPECT_THAT(std::string(r.spec.status().message()), HasSubstr("metrics collector"));
  ASSERT_THAT(Errors(r), SizeIs(1)) << Dump(r.diags);
  EXPECT_TRUE(Errors(r)[0].unsupported);
  EXPECT_EQ(Errors(r)[0].path, "spec.metricsCollectorSpec");
  EXPECT_EQ(Errors(r)[0].line, 62);
}

TEST(KatibFixtures, WorkerConfigMapIsNotAStudy) {
  Loaded r = LoadFile(Fixture("v1alpha1/workerConfigMap.yaml"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(r.diags, SizeIs(1));
  EXPECT_EQ(r.diags[0].path, "kind");
  EXPECT_EQ(r.diags[0].line, 2);
  EXPECT_THAT(r.diags[0].message, HasSubstr("this is a ConfigMap, not a study"));
}

}  // namespace
}  // namespace hpt::engine
