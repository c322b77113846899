// CheckTrialTemplate: Katib's webhook checks of trial templates, on a dry run.
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "engine/template/render.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/template/test_specs.h"

namespace hpt::engine {
namespace {

using ::hpt::engine::testing::kRandomExampleTemplate;
using ::hpt::engine::testing::kTfJobExampleTemplate;
using ::hpt::engine::testing::RandomTrialSpec;
using ::hpt::engine::testing::V1alpha1Spec;
using ::hpt::engine::testing::V1beta1Spec;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::vector<Diagnostic> Check(const StudySpec& spec) {
  std::vector<Diagnostic> diags;
  CheckTrialTemplate(spec, &diags);
  for (const Diagnostic& d : diags) EXPECT_EQ(d.severity, Diagnostic::Severity::kError);
  return diags;
}

std::string All(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const Diagnostic& d : diags) out += d.ToString() + "\n";
  return out;
}

// ------------------------------------------------------------------------------------------------
// v1beta1

TEST(CheckV1beta1Test, KatibRandomExampleIsValid) { EXPECT_THAT(Check(V1beta1Spec()), IsEmpty()); }

TEST(CheckV1beta1Test, KubeflowJobKindsAreValid) {
  for (const char* kind : {"TFJob", "PyTorchJob", "XGBoostJob", "MPIJob"}) {
    const std::string key = std::string(kind) == "TFJob"        ? "tfReplicaSpecs"
                            : std::string(kind) == "PyTorchJob" ? "pytorchReplicaSpecs"
                            : std::string(kind) == "MPIJob"     ? "mpiReplicaSpecs"
                                                                : "xgbReplicaSpecs";
    const std::string role = std::string(kind) == "MPIJob" ? "Launcher" : "Worker";
    json trial_spec = {{"apiVersion", "kubeflow.org/v1"}, {"kind", kind}};
    trial_spec["spec"][key][role]["template"]["spec"]["containers"] = json::parse(R"([{
        "name": "training-container", "image": "x",
        "command": ["train", "${trialParameters.learningRate}", "${trialParameters.momentum}"]}])");
    EXPECT_THAT(Check(V1beta1Spec(trial_spec)), IsEmpty()) << kind;
  }
}

TEST(CheckV1beta1Test, UnusedTrialParameter) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.trial_parameters.push_back({"unused", "", "${trialSpec.Name}"});
  const std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].file, "/studies/random/random.yaml");
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialParameters[2].name");
  EXPECT_EQ(diags[0].message,
            "trialParameter \"unused\" is not used: ${trialParameters.unused} does not occur in "
            "the trial template");
}

TEST(CheckV1beta1Test, PlaceholderNotDefined) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0]["args"] = {
      "--bs=${trialParameters.batchSize}", "${trialParameters.batchSize}",
      "${trialParameters.epochs}"};
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.source_yaml = "x: 1\n    args:\n    - \"--bs=${trialParameters.batchSize}\"\n";
  const std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 2u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialSpec");
  EXPECT_EQ(diags[0].message,
            "${trialParameters.batchSize} is not defined in spec.trialTemplate.trialParameters "
            "(defined: learningRate, momentum)");
  EXPECT_EQ(diags[0].line, 3);
  EXPECT_EQ(diags[0].column, 13);
  EXPECT_THAT(diags[1].message, StartsWith("${trialParameters.epochs} is not defined"));
  EXPECT_EQ(diags[1].line, 30);  // not in the file's text: the template's first line
  EXPECT_EQ(diags[1].column, 0);
}

TEST(CheckV1beta1Test, ReferencesMustExist) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.trial_parameters[1].reference = "mom";
  spec.trial_template.trial_parameters.push_back({"meta", "", "${trialSpec.Uid}"});
  spec.trial_template.source = absl::StrReplaceAll(
      spec.trial_template.source, {{"--epochs=1", "--epochs=1 ${trialParameters.meta}"}});
  const std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 3u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialParameters[1].reference");
  EXPECT_EQ(diags[0].message,
            "\"mom\" is neither a parameter of spec.parameters (lr, momentum) nor a trial metadata "
            "reference (${trialSpec.Name}, ${trialSpec.Namespace}, ${trialSpec.Kind}, "
            "${trialSpec.APIVersion}, ${trialSpec.Labels[<key>]}, "
            "${trialSpec.Annotations[<key>]})");
  EXPECT_EQ(diags[1].path, "spec.trialTemplate.trialParameters[2].reference");
  EXPECT_THAT(diags[1].message,
              StartsWith("\"${trialSpec.Uid}\" is not a valid trial metadata reference; allowed: "
                         "${trialSpec.Name}, "));
  EXPECT_EQ(diags[2].path, "spec.parameters[1]");
  EXPECT_EQ(diags[2].message,
            "parameter \"momentum\" is not the reference of any "
            "spec.trialTemplate.trialParameters entry, so every trial would fail with \"unable to "
            "find parameter from ParameterAssignment in TrialParameters\"");
}

TEST(CheckV1beta1Test, NameAndNamespaceMustBeOmitted) {
  json trial_spec = RandomTrialSpec();
  trial_spec["metadata"] = {{"name", "fixed"}, {"namespace", "kubeflow"}};
  const std::vector<Diagnostic> diags = Check(V1beta1Spec(trial_spec));
  ASSERT_EQ(diags.size(), 2u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialSpec.metadata.name");
  EXPECT_EQ(diags[1].path, "spec.trialTemplate.trialSpec.metadata.namespace");
  EXPECT_THAT(diags[0].message,
              StartsWith("metadata.name and metadata.namespace in the trial template must be "
                         "omitted"));
  EXPECT_EQ(diags[0].line, 30);
}

TEST(CheckV1beta1Test, ApiVersionAndKindRequired) {
  json trial_spec = RandomTrialSpec();
  trial_spec.erase("apiVersion");
  trial_spec.erase("kind");
  const std::vector<Diagnostic> diags = Check(V1beta1Spec(trial_spec));
  ASSERT_EQ(diags.size(), 2u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialSpec.apiVersion");
  EXPECT_EQ(diags[0].message, "is required");
  EXPECT_EQ(diags[1].path, "spec.trialTemplate.trialSpec.kind");
  EXPECT_EQ(diags[1].message, "is required");
}

TEST(CheckV1beta1Test, KindMustBeATrainingWorkload) {
  json trial_spec = RandomTrialSpec();
  trial_spec["apiVersion"] = "apps/v1";
  trial_spec["kind"] = "Deployment";
  std::vector<Diagnostic> diags = Check(V1beta1Spec(trial_spec));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialSpec.kind");
  EXPECT_EQ(diags[0].message,
            "kind \"Deployment\" with apiVersion \"apps/v1\" is not a supported trial workload; "
            "allowed: Job (batch/v1), TFJob, PyTorchJob, XGBoostJob, MPIJob (kubeflow.org/v1)");
  trial_spec["apiVersion"] = "batch/v2";
  trial_spec["kind"] = "Job";
  diags = Check(V1beta1Spec(trial_spec));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_THAT(diags[0].message, StartsWith("kind \"Job\" with apiVersion \"batch/v2\" is not"));
}

TEST(CheckV1beta1Test, JobNeedsContainers) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"] = json::array();
  trial_spec["spec"]["template"]["spec"]["initContainers"] = json::parse(R"([{"name": "i",
      "args": ["${trialParameters.learningRate}", "${trialParameters.momentum}"]}])");
  const std::vector<Diagnostic> diags = Check(V1beta1Spec(trial_spec));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialSpec.spec.template.spec.containers");
  EXPECT_EQ(diags[0].message, "a batch/v1 Job needs a non-empty list of containers");
}

TEST(CheckV1beta1Test, DryRenderFindsPrimaryContainerAndMetadataProblems) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.primary_container_name = "trainer";
  std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.trialSpec");
  EXPECT_EQ(diags[0].message,
            "primaryContainerName \"trainer\" is not a container of spec.template.spec "
            "(containers found: \"training-container\")");
  EXPECT_EQ(diags[0].file, "/studies/random/random.yaml");
  EXPECT_EQ(diags[0].line, 30);
  EXPECT_EQ(diags[0].ToString(),
            "/studies/random/random.yaml:30: error: spec.trialTemplate.trialSpec: "
            "primaryContainerName \"trainer\" is not a container of spec.template.spec "
            "(containers found: \"training-container\")");

  spec = V1beta1Spec();
  spec.trial_template.trial_parameters.push_back({"team", "", "${trialSpec.Labels[team]}"});
  spec.trial_template.source = absl::StrReplaceAll(
      spec.trial_template.source, {{"--epochs=1", "--team=${trialParameters.team}"}});
  diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_THAT(diags[0].message, HasSubstr("metadata.labels has no key \"team\""));
}

TEST(CheckV1beta1Test, ConfigMapTemplate) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.source =
      "apiVersion: batch/v1\n"
      "kind: Job\n"
      "metadata:\n"
      "  name: fixed\n"
      "spec:\n"
      "  template:\n"
      "    spec:\n"
      "      containers:\n"
      "      - name: training-container\n"
      "        command: [train, \"${trialParameters.learningRate}\", "
      "\"${trialParameters.momentum}\"]\n";
  spec.trial_template.source_name = "/studies/random/trial-templates.yaml";
  spec.trial_template.source_line = 9;
  const std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.trialTemplate.configMap.metadata.name");
  EXPECT_EQ(diags[0].file, "/studies/random/trial-templates.yaml");
  EXPECT_EQ(diags[0].line, 9);
}

TEST(CheckV1beta1Test, EmptyAndUnparseableTemplates) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.source = "";
  spec.trial_template.trial_parameters.clear();
  spec.space.params.clear();
  std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].message, "the trial template is empty");

  spec = V1beta1Spec();
  spec.trial_template.source = "{\"kind\": \"Job\", ${trialParameters.learningRate}" +
                               std::string(" ${trialParameters.momentum}");
  diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_THAT(diags[0].message, StartsWith("the trial template is not a valid manifest: invalid "
                                           "JSON: "));
}

TEST(CheckV1beta1Test, AppendsToExistingDiagnosticsAndAcceptsNull) {
  std::vector<Diagnostic> diags(1);
  diags[0].severity = Diagnostic::Severity::kWarning;
  StudySpec spec = V1beta1Spec();
  spec.trial_template.primary_container_name = "nope";
  CheckTrialTemplate(spec, &diags);
  ASSERT_EQ(diags.size(), 2u);
  EXPECT_EQ(diags[0].severity, Diagnostic::Severity::kWarning);
  CheckTrialTemplate(spec, nullptr);  // no crash
}

// ------------------------------------------------------------------------------------------------
// v1alpha1

TEST(CheckV1alpha1Test, KatibExamplesAreValid) {
  EXPECT_THAT(Check(V1alpha1Spec()), IsEmpty());
  EXPECT_THAT(Check(V1alpha1Spec(kTfJobExampleTemplate)), IsEmpty());
}

TEST(CheckV1alpha1Test, KindMustBeJobTfJobOrPyTorchJob) {
  const std::string tmpl =
      absl::StrReplaceAll(kRandomExampleTemplate, {{"kind: Job", "kind: MPIJob"}});
  const std::vector<Diagnostic> diags = Check(V1alpha1Spec(tmpl));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.workerSpec.goTemplate.rawTemplate.kind");
  EXPECT_EQ(diags[0].message,
            "Invalid worker template. kind is \"MPIJob\"; a StudyJob worker must be a Job, TFJob "
            "or PyTorchJob");
  EXPECT_EQ(diags[0].line, 7);
}

TEST(CheckV1alpha1Test, NameAndNamespace) {
  std::string tmpl = absl::StrReplaceAll(
      kRandomExampleTemplate, {{"  name: {{.WorkerID}}\n  namespace", "  name: w\n  namespace"}});
  std::vector<Diagnostic> diags = Check(V1alpha1Spec(tmpl));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].path, "spec.workerSpec.goTemplate.rawTemplate");
  EXPECT_EQ(diags[0].message,
            "Invalid worker template. metadata.name is \"w\" but must be the WorkerID "
            "\"random-example-dry-run\"; write \"name: {{.WorkerID}}\"");

  StudySpec spec = V1alpha1Spec();
  spec.namespace_ = "default";
  diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].message,
            "Invalid worker template. metadata.namespace is \"kubeflow\" but must be the study's "
            "namespace \"default\"; write \"namespace: {{.NameSpace}}\"");
}

TEST(CheckV1alpha1Test, UnsupportedConstructHasFileLineAndColumn) {
  const std::string tmpl =
      absl::StrReplaceAll(kRandomExampleTemplate, {{"{{- range .}}", "{{- range $i, $p := .}}"}});
  const std::vector<Diagnostic> diags = Check(V1alpha1Spec(tmpl));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].file, "/studies/random-example.yaml");
  EXPECT_EQ(diags[0].line, 23);
  EXPECT_EQ(diags[0].column, 27);
  EXPECT_THAT(diags[0].ToString(),
              StartsWith("/studies/random-example.yaml:23:27: error: "
                         "spec.workerSpec.goTemplate.rawTemplate: template line 17, column 19: "
                         "unsupported template construct variable $i"));
}

TEST(CheckV1alpha1Test, TemplateFromAConfigMapFile) {
  StudySpec spec = V1alpha1Spec("kind: Job\nmetadata: {name: \"{{.WorkerID}}\", namespace: x}\n");
  spec.trial_template.source_name = "/studies/workerConfigMap.yaml";
  spec.trial_template.source_line = 9;
  const std::vector<Diagnostic> diags = Check(spec);
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].file, "/studies/workerConfigMap.yaml");
  EXPECT_EQ(diags[0].line, 9);
  EXPECT_EQ(diags[0].path, "spec.workerSpec.goTemplate.templatePath");
  EXPECT_THAT(diags[0].message, HasSubstr("metadata.namespace is \"x\""));
}

TEST(CheckV1alpha1Test, DryRenderFindsContainerProblems) {
  const std::string tmpl = absl::StrReplaceAll(
      kRandomExampleTemplate, {{"        command:\n        - \"python\"\n", "        args:\n"}});
  // Args alone are still an argv.
  EXPECT_THAT(Check(V1alpha1Spec(tmpl)), IsEmpty());
  const std::string no_containers =
      "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{.WorkerID}}\n  namespace: "
      "kubeflow\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n";
  const std::vector<Diagnostic> diags = Check(V1alpha1Spec(no_containers));
  ASSERT_EQ(diags.size(), 1u) << All(diags);
  EXPECT_EQ(diags[0].message, "spec.template.spec.containers must be a non-empty list");
}

}  // namespace
}  // namespace hpt::engine
