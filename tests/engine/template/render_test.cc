#include "engine/template/render.h"

#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/template/test_specs.h"

namespace hpt::engine {
namespace {

using ::hpt::engine::testing::kRandomExampleTemplate;
using ::hpt::engine::testing::kTfJobExampleTemplate;
using ::hpt::engine::testing::RandomTrialSpec;
using ::hpt::engine::testing::StudyFileWith;
using ::hpt::engine::testing::V1alpha1Context;
using ::hpt::engine::testing::V1alpha1Spec;
using ::hpt::engine::testing::V1beta1Context;
using ::hpt::engine::testing::V1beta1Spec;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

using Argv = std::vector<std::string>;

RenderedTrial Render(const StudySpec& spec, const TrialContext& ctx) {
  absl::StatusOr<RenderedTrial> r = RenderTrial(spec, ctx);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : RenderedTrial{};
}

std::string RenderError(const StudySpec& spec, const TrialContext& ctx) {
  absl::StatusOr<RenderedTrial> r = RenderTrial(spec, ctx);
  EXPECT_FALSE(r.ok()) << r->manifest.dump(2);
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

json Labels(const std::string& study, const std::string& trial) {
  return json{{"hpt.dev/study", study},
              {"hpt.dev/trial", trial},
              {"katib.kubeflow.org/experiment", study},
              {"katib.kubeflow.org/trial", trial}};
}

// hpt's own annotations of a study without project/experiment annotations.
json OwnAnnotations(const std::string& study, const std::string& trial) {
  return json{{"hpt.dev/study", study}, {"hpt.dev/trial", trial}};
}

// ------------------------------------------------------------------------------------------------
// v1alpha1

TEST(RenderV1alpha1Test, KatibRandomExample) {
  const RenderedTrial r = Render(V1alpha1Spec(), V1alpha1Context());
  EXPECT_EQ(r.kind, "Job");
  EXPECT_EQ(r.api_version, "batch/v1");
  EXPECT_EQ(r.argv, (Argv{"python", "/mxnet/example/image-classification/train_mnist.py",
                          "--batch-size=64", "--lr=0.0213", "--num-layers=3", "--optimizer=adam"}));
  EXPECT_THAT(r.env, ElementsAre(Pair("KATIB_TRIAL_NAME", "random-example-1")));
  EXPECT_EQ(r.gpus, 0);
  EXPECT_FALSE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(r.working_dir, "");
  const json labels = Labels("random-example", "random-example-1");
  const json annotations = OwnAnnotations("random-example", "random-example-1");
  const json expected = {
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata",
       {{"name", "random-example-1"},
        {"namespace", "kubeflow"},
        {"labels", labels},
        {"annotations", annotations}}},
      {"spec",
       {{"template",
         {{"metadata", {{"labels", labels}, {"annotations", annotations}}},
          {"spec",
           {{"containers",
             {{{"name", "random-example-1"},
               {"image", "katib/mxnet-mnist-example"},
               {"command",
                {"python", "/mxnet/example/image-classification/train_mnist.py", "--batch-size=64",
                 "--lr=0.0213", "--num-layers=3", "--optimizer=adam"}},
               {"env", {{{"name", "KATIB_TRIAL_NAME"}, {"value", "random-example-1"}}}}}}},
            {"restartPolicy", "Never"}}}}}}}};
  EXPECT_EQ(r.manifest, expected) << r.manifest.dump(2);
}

TEST(RenderV1alpha1Test, ParameterTypesAndStudyId) {
  StudySpec spec = V1alpha1Spec(absl::StrReplaceAll(
      kRandomExampleTemplate,
      {{"- \"{{.Name}}={{.Value}}\"", "- \"{{.Name}}={{.Value}}:{{.ParameterType}}\""},
       {"image: katib/mxnet-mnist-example",
        "image: \"{{.StudyID}}/{{.TrialID}}/{{.NameSpace}}\""}}));
  TrialContext ctx = V1alpha1Context();
  ctx.params.push_back({"--unknown", "x"});
  const RenderedTrial r = Render(spec, ctx);
  EXPECT_EQ(r.argv, (Argv{"python", "/mxnet/example/image-classification/train_mnist.py",
                          "--batch-size=64", "--lr=0.0213:DOUBLE", "--num-layers=3:INT",
                          "--optimizer=adam:CATEGORICAL", "--unknown=x:UNKNOWN_TYPE"}));
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][0]["image"],
            "random-example/random-example-1/kubeflow");
}

TEST(RenderV1alpha1Test, UnsupportedConstructNamesFileLineAndColumn) {
  const std::string tmpl = absl::StrReplaceAll(
      kRandomExampleTemplate, {{"{{- with .HyperParameters}}", "{{- if .HyperParameters}}"}});
  const std::string message = RenderError(V1alpha1Spec(tmpl), V1alpha1Context());
  // Template line 16 is file line 7 + 15; the action's keyword is at template column 13, and the
  // block scalar is indented by 8.
  EXPECT_THAT(message, StartsWith("/studies/random-example.yaml:22:21: template line 16, column "
                                  "13: unsupported template construct {{if}} (supported: "));
}

TEST(RenderV1alpha1Test, ErrorLocationWithoutSourceLine) {
  StudySpec spec = V1alpha1Spec("a: {{.Foo}}");
  spec.trial_template.source_line = 0;
  EXPECT_THAT(RenderError(spec, V1alpha1Context()),
              StartsWith("/studies/random-example.yaml: template line 1, column 6: unknown field "
                         ".Foo on dot"));
  // A template that does not sit in the study file as a block scalar: line known, column not.
  spec.trial_template.source_line = 12;
  spec.trial_template.source_name = "/studies/worker-template.yaml";
  EXPECT_THAT(RenderError(spec, V1alpha1Context()),
              StartsWith("/studies/worker-template.yaml:12: template line 1, column 6: unknown "
                         "field .Foo"));
}

TEST(RenderV1alpha1Test, NameMustBeTheWorkerId) {
  const std::string tmpl =
      absl::StrReplaceAll(kRandomExampleTemplate,
                          {{"  name: {{.WorkerID}}\n  namespace", "  name: fixed\n  namespace"}});
  EXPECT_EQ(RenderError(V1alpha1Spec(tmpl), V1alpha1Context()),
            "/studies/random-example.yaml:7: Invalid worker template. metadata.name is \"fixed\" "
            "but must be the WorkerID \"random-example-1\"; write \"name: {{.WorkerID}}\"");
  const std::string no_name = absl::StrReplaceAll(
      kRandomExampleTemplate, {{"  name: {{.WorkerID}}\n  namespace", "  namespace"}});
  EXPECT_THAT(RenderError(V1alpha1Spec(no_name), V1alpha1Context()),
              HasSubstr("Invalid worker template. metadata.name is missing but must be the "
                        "WorkerID \"random-example-1\""));
}

TEST(RenderV1alpha1Test, NamespaceMustBeTheStudyNamespace) {
  TrialContext ctx = V1alpha1Context();
  ctx.namespace_ = "default";
  EXPECT_THAT(RenderError(V1alpha1Spec(), ctx),
              HasSubstr("Invalid worker template. metadata.namespace is \"kubeflow\" but must be "
                        "the study's namespace \"default\"; write \"namespace: {{.NameSpace}}\""));
}

TEST(RenderV1alpha1Test, RenderedYamlErrorQuotesTheRenderedLine) {
  TrialContext ctx = V1alpha1Context();
  ctx.params[2].value = "ad\"am";
  const std::string message = RenderError(V1alpha1Spec(), ctx);
  EXPECT_THAT(message, StartsWith("/studies/random-example.yaml:7: the worker template rendered "
                                  "for trial \"random-example-1\" is not a valid manifest: "
                                  "invalid YAML: line 18, column "));
  EXPECT_THAT(message, HasSubstr(": \"        - \"--optimizer=ad\"am\"\""));
}

TEST(RenderV1alpha1Test, EmptyAndNonMapTemplates) {
  EXPECT_THAT(RenderError(V1alpha1Spec("  \n"), V1alpha1Context()),
              HasSubstr("the worker template is empty"));
  EXPECT_THAT(RenderError(V1alpha1Spec("- a\n- b\n"), V1alpha1Context()),
              HasSubstr("the worker template must render to a map (a Kubernetes object), got "
                        "array"));
}

TEST(RenderV1alpha1Test, TfJobPrimaryContainerIsInWorker) {
  TrialContext ctx = V1alpha1Context();
  ctx.params = {{"--learning_rate", "0.02"}, {"--batch_size", "150"}};
  const RenderedTrial r = Render(V1alpha1Spec(kTfJobExampleTemplate), ctx);
  EXPECT_EQ(r.kind, "TFJob");
  EXPECT_EQ(r.api_version, "kubeflow.org/v1");
  EXPECT_EQ(r.argv, (Argv{"python", "/var/tf_mnist/mnist_with_summaries.py",
                          "--log_dir=/train/random-example-1", "--learning_rate=0.02",
                          "--batch_size=150"}));
  const json& worker = r.manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"];
  EXPECT_EQ(worker["metadata"]["labels"], Labels("random-example", "random-example-1"));
  EXPECT_EQ(worker["spec"]["containers"][0]["env"],
            json::parse(R"([{"name":"KATIB_TRIAL_NAME","value":"random-example-1"}])"));
}

TEST(RenderV1alpha1Test, GpuWorkerTemplate) {
  // Katib's workerConfigMap.yaml gpuWorkerTemplate.yaml asks for nvidia.com/gpu: 1.
  const std::string tmpl = absl::StrReplaceAll(
      kRandomExampleTemplate, {{"      restartPolicy: Never",
                                "        resources:\n          limits:\n            "
                                "nvidia.com/gpu: 1\n      restartPolicy: Never"}});
  EXPECT_EQ(Render(V1alpha1Spec(tmpl), V1alpha1Context()).gpus, 1);
}

TEST(RenderV1alpha1Test, LocalCommandIsRenderedAsGoTemplate) {
  StudySpec spec = V1alpha1Spec();
  spec.hpt.local =
      LocalOverride{.command = {"python3", "train.py", "--trial={{.TrialID}}",
                                "{{range .HyperParameters}}{{.Name}}={{.Value}} {{end}}"},
                    .working_dir = "runs/../work",
                    .env = {{"DATA", "/data"}}};
  const RenderedTrial r = Render(spec, V1alpha1Context());
  EXPECT_EQ(r.argv, (Argv{"python3", "train.py", "--trial=random-example-1",
                          "--lr=0.0213 --num-layers=3 --optimizer=adam "}));
  EXPECT_EQ(r.working_dir, "/studies/work");
  EXPECT_THAT(r.env, UnorderedElementsAre(Pair("KATIB_TRIAL_NAME", "random-example-1"),
                                          Pair("DATA", "/data")));
  // The manifest keeps the template's command.
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][0]["command"][0], "python");

  spec.hpt.local->command = {"python3", "train.py", "{{.Bad}}"};
  EXPECT_THAT(RenderError(spec, V1alpha1Context()),
              HasSubstr(": spec.hpt.local.command[2], template line 1, column 3: unknown field "
                        ".Bad on dot"));
}

// ------------------------------------------------------------------------------------------------
// v1beta1

TEST(RenderV1beta1Test, KatibRandomExample) {
  const RenderedTrial r = Render(V1beta1Spec(), V1beta1Context());
  EXPECT_EQ(r.kind, "Job");
  EXPECT_EQ(r.api_version, "batch/v1");
  EXPECT_EQ(r.argv, (Argv{"python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1", "--batch-size=16",
                          "--lr=0.02", "--momentum=0.7"}));
  EXPECT_THAT(r.env, ElementsAre(Pair("KATIB_TRIAL_NAME", "random-x7k2p9")));
  EXPECT_EQ(r.gpus, 0);
  EXPECT_FALSE(r.active_deadline_seconds.has_value());
  json expected = RandomTrialSpec();
  const json labels = Labels("random", "random-x7k2p9");
  const json annotations = OwnAnnotations("random", "random-x7k2p9");
  expected["metadata"] = {{"name", "random-x7k2p9"},
                          {"namespace", "kubeflow"},
                          {"labels", labels},
                          {"annotations", annotations}};
  expected["spec"]["template"]["metadata"] = {{"labels", labels}, {"annotations", annotations}};
  json& container = expected["spec"]["template"]["spec"]["containers"][0];
  container["command"][4] = "--lr=0.02";
  container["command"][5] = "--momentum=0.7";
  container["env"] = json::parse(R"([{"name":"KATIB_TRIAL_NAME","value":"random-x7k2p9"}])");
  EXPECT_EQ(r.manifest, expected) << r.manifest.dump(2);
}

TEST(RenderV1beta1Test, ValuesAreSubstitutedEverywhereWithoutEscaping) {
  json trial_spec = RandomTrialSpec();
  json& container = trial_spec["spec"]["template"]["spec"]["containers"][0];
  container["args"] = {"${trialParameters.learningRate}${trialParameters.learningRate}"};
  container["image"] = "img:${trialParameters.momentum}";
  TrialContext ctx = V1beta1Context();
  ctx.params[0].value = "a b\\\\c";  // lands inside the JSON string as is
  const RenderedTrial r = Render(V1beta1Spec(trial_spec), ctx);
  EXPECT_EQ(r.argv, (Argv{"python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1", "--batch-size=16",
                          "--lr=a b\\c", "--momentum=0.7", "a b\\ca b\\c"}));
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][0]["image"], "img:0.7");
}

TEST(RenderV1beta1Test, MetadataReferences) {
  json trial_spec = RandomTrialSpec();
  trial_spec["metadata"] = {{"labels", {{"team", "vision"}}},
                            {"annotations", {{"owner", "alice"}}}};
  trial_spec["spec"]["template"]["spec"]["containers"][0]["args"] = {
      "--name=${trialParameters.trialName}", "--ns=${trialParameters.trialNamespace}",
      "--kind=${trialParameters.kind}",      "--api=${trialParameters.api}",
      "--team=${trialParameters.team}",      "--owner=${trialParameters.owner}"};
  StudySpec spec = V1beta1Spec(trial_spec);
  auto& tps = spec.trial_template.trial_parameters;
  tps.push_back({"trialName", "", "${trialSpec.Name}"});
  tps.push_back({"trialNamespace", "", "${trialSpec.Namespace}"});
  tps.push_back({"kind", "", "${trialSpec.Kind}"});
  tps.push_back({"api", "", "${trialSpec.APIVersion}"});
  tps.push_back({"team", "", "${trialSpec.Labels[team]}"});
  tps.push_back({"owner", "", "${trialSpec.Annotations[owner]}"});
  TrialContext ctx = V1beta1Context();
  ctx.namespace_ = "research";
  const RenderedTrial r = Render(spec, ctx);
  EXPECT_EQ(r.argv, (Argv{"python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1", "--batch-size=16",
                          "--lr=0.02", "--momentum=0.7", "--name=random-x7k2p9", "--ns=research",
                          "--kind=Job", "--api=batch/v1", "--team=vision", "--owner=alice"}));
  EXPECT_EQ(r.manifest["metadata"]["namespace"], "research");
  EXPECT_EQ(r.manifest["metadata"]["labels"]["team"], "vision");
  json annotations = OwnAnnotations("random", "random-x7k2p9");
  annotations["owner"] = "alice";
  EXPECT_EQ(r.manifest["metadata"]["annotations"], annotations);
}

TEST(RenderV1beta1Test, ConfigMapTemplateInYaml) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.source =
      "apiVersion: batch/v1\n"
      "kind: Job\n"
      "spec:\n"
      "  parallelism: ${trialParameters.momentum}\n"
      "  template:\n"
      "    spec:\n"
      "      containers:\n"
      "      - name: training-container\n"
      "        command: [python3, train.py, \"--lr=${trialParameters.learningRate}\"]\n";
  spec.trial_template.source_name = "/studies/random/templates.yaml";
  spec.trial_template.source_line = 8;
  TrialContext ctx = V1beta1Context();
  ctx.params[1].value = "2";
  const RenderedTrial r = Render(spec, ctx);
  EXPECT_EQ(r.argv, (Argv{"python3", "train.py", "--lr=0.02"}));
  EXPECT_EQ(r.manifest["spec"]["parallelism"], json(2));  // a plain YAML scalar: typed
  EXPECT_EQ(r.manifest["metadata"]["name"], "random-x7k2p9");
}

TEST(RenderV1beta1Test, UnknownPlaceholderLeftOver) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0]["args"] = {
      "--x=${trialParameters.batchSize}"};
  StudySpec spec = V1beta1Spec(trial_spec);
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: the trial template uses "
            "${trialParameters.batchSize}, which spec.trialTemplate.trialParameters does not "
            "define (defined: learningRate, momentum)");
  // With the study file's text at hand, the placeholder's own line and column are named.
  spec.source_yaml = "a: 1\nb:\n  - \"--x=${trialParameters.batchSize}\"\n";
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              StartsWith("/studies/random/random.yaml:3:10: the trial template uses "
                         "${trialParameters.batchSize}"));
}

TEST(RenderV1beta1Test, ReferenceThatIsNeitherParameterNorMetadata) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.trial_parameters[1].reference = "mom";
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: trialParameter \"momentum\" (reference \"mom\"): "
            "the reference is neither a parameter of the study (lr, momentum) nor a trial "
            "metadata reference (${trialSpec.Name}, ${trialSpec.Namespace}, ${trialSpec.Kind}, "
            "${trialSpec.APIVersion}, ${trialSpec.Labels[<key>]}, "
            "${trialSpec.Annotations[<key>]})");
}

TEST(RenderV1beta1Test, InvalidMetadataReference) {
  for (const std::string ref :
       {"${trialSpec.Uid}", "${trialSpec.Labels[]}", "${trialSpec.Labels}", "${trialSpec.Name"}) {
    StudySpec spec = V1beta1Spec();
    spec.trial_template.trial_parameters.push_back({"meta", "", ref});
    EXPECT_THAT(RenderError(spec, V1beta1Context()),
                HasSubstr("trialParameter \"meta\" (reference \"" + ref +
                          "\"): not a valid trial metadata reference; allowed: "
                          "${trialSpec.Name}, "))
        << ref;
  }
}

TEST(RenderV1beta1Test, MetadataReferenceToMissingLabel) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.trial_parameters.push_back({"team", "", "${trialSpec.Labels[team]}"});
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("trialParameter \"team\" (reference \"${trialSpec.Labels[team]}\"): the "
                        "trial template's metadata.labels has no key \"team\""));
  spec.trial_template.trial_parameters.back() = {"o", "", "${trialSpec.Annotations[owner]}"};
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("metadata.annotations has no key \"owner\""));
}

TEST(RenderV1beta1Test, SpecParameterNotReferenced) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.trial_parameters.pop_back();  // nothing references momentum any more
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: unable to find parameter from ParameterAssignment "
            "in TrialParameters: parameter \"momentum\" is not the reference of any "
            "spec.trialTemplate.trialParameters entry; add one (e.g. {name: momentum, "
            "reference: momentum}) and use ${trialParameters.momentum} in the template");
}

TEST(RenderV1beta1Test, AssignmentMissingAValue) {
  TrialContext ctx = V1beta1Context();
  ctx.params.pop_back();
  EXPECT_THAT(RenderError(V1beta1Spec(), ctx),
              HasSubstr("trialParameter \"momentum\" (reference \"momentum\"): the assignment of "
                        "trial \"random-x7k2p9\" has no value for parameter \"momentum\""));
}

TEST(RenderV1beta1Test, AssignmentCountMismatch) {
  // Two trialParameters take their value from lr: 3 non-metadata trialParameters, 2 values.
  StudySpec spec = V1beta1Spec();
  spec.trial_template.trial_parameters.push_back({"lr2", "", "lr"});
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("the assignment of trial \"random-x7k2p9\" has 2 parameter values but the "
                        "template has 3 non-metadata trialParameters; they must be equal"));
}

TEST(RenderV1beta1Test, ValueThatBreaksTheJson) {
  TrialContext ctx = V1beta1Context();
  ctx.params[0].value = "0.1\"";
  const std::string message = RenderError(V1beta1Spec(), ctx);
  EXPECT_THAT(message, StartsWith("/studies/random/random.yaml:30: the trial template of trial "
                                  "\"random-x7k2p9\" is not a valid manifest after substituting "
                                  "its trialParameters (values are inserted without escaping): "
                                  "invalid JSON: "));
}

TEST(RenderV1beta1Test, PrimaryContainerMissing) {
  StudySpec spec = V1beta1Spec();
  spec.trial_template.primary_container_name = "trainer";
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: primaryContainerName \"trainer\" is not a container "
            "of spec.template.spec (containers found: \"training-container\")");
  spec.trial_template.primary_container_name = "";
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("spec.trialTemplate.primaryContainerName is required"));
}

TEST(RenderV1beta1Test, PrimaryContainerIsFoundByName) {
  json trial_spec = RandomTrialSpec();
  json& containers = trial_spec["spec"]["template"]["spec"]["containers"];
  containers.insert(containers.begin(),
                    json{{"name", "sidecar"}, {"image", "busybox"}, {"command", {"sleep"}}});
  const RenderedTrial r = Render(V1beta1Spec(trial_spec), V1beta1Context());
  EXPECT_EQ(r.argv[0], "python3");
  EXPECT_FALSE(r.manifest["spec"]["template"]["spec"]["containers"][0].contains("env"));
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][1]["env"][0]["name"],
            "KATIB_TRIAL_NAME");
}

TEST(RenderV1beta1Test, NoCommand) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0].erase("command");
  trial_spec["spec"]["template"]["spec"]["containers"][0]["args"] = {
      "--lr=${trialParameters.learningRate}", "--momentum=${trialParameters.momentum}"};
  // Args alone are the argv.
  EXPECT_EQ(Render(V1beta1Spec(trial_spec), V1beta1Context()).argv,
            (Argv{"--lr=0.02", "--momentum=0.7"}));
  trial_spec["spec"]["template"]["spec"]["containers"][0].erase("args");
  EXPECT_EQ(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
            "/studies/random/random.yaml:30: container \"training-container\" "
            "(spec.template.spec.containers[0]): the primary container has no command; set "
            "spec.hpt.local.command to run it locally");
}

TEST(RenderV1beta1Test, CommandMustHoldStrings) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0]["args"] = {"--n", 3};
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("spec.template.spec.containers[0].args[1] must be a string (quote it), "
                        "got number 3"));
}

TEST(RenderV1beta1Test, UnsupportedKindAndMissingKind) {
  json trial_spec = RandomTrialSpec();
  trial_spec["kind"] = "Deployment";
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("kind \"Deployment\" is not a supported trial workload; supported: Job, "
                        "TFJob, PyTorchJob, XGBoostJob, MPIJob"));
  trial_spec.erase("kind");
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("the trial template has no kind"));
  EXPECT_THAT(RenderError(V1beta1Spec(json::parse(R"({"kind": "Job", "apiVersion": "batch/v1"})")),
                          V1beta1Context()),
              HasSubstr("a Job needs a spec map"));
}

TEST(RenderV1beta1Test, JobWithoutPodTemplate) {
  StudySpec spec = V1beta1Spec(json::parse(R"({"kind": "Job", "apiVersion": "batch/v1",
      "spec": {"x": "${trialParameters.learningRate}${trialParameters.momentum}"}})"));
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("a Job needs spec.template (the pod template)"));
}

// ------------------------------------------------------------------------------------------------
// Labels, annotations, env, GPUs, deadlines, local overrides (both dialects share them).

TEST(RenderCommonTest, AnnotationsOfTheStudyAreCarried) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["metadata"] = {{"annotations", {{"team", "template-wins"}}}};
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.annotations = {{"hpt.dev/project", "vision"}, {"team", "study"}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  json annotations = OwnAnnotations("random", "random-x7k2p9");
  annotations["hpt.dev/project"] = "vision";
  annotations["team"] = "study";
  EXPECT_EQ(r.manifest["metadata"]["annotations"], annotations);
  annotations["team"] = "template-wins";
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["annotations"], annotations);
}

TEST(RenderCommonTest, StudyLabelsGoToThePods) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["metadata"] = {{"labels", {{"app", "from-template"}}}};
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.labels = {{"controller-tools.k8s.io", "1.0"}, {"app", "from-study"}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  json pod_labels = Labels("random", "random-x7k2p9");
  pod_labels["controller-tools.k8s.io"] = "1.0";
  pod_labels["app"] = "from-template";
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["labels"], pod_labels);
  EXPECT_EQ(r.manifest["metadata"]["labels"], Labels("random", "random-x7k2p9"));
}

TEST(RenderCommonTest, TemplateLabelsAreKeptAndOursAdded) {
  json trial_spec = RandomTrialSpec();
  trial_spec["metadata"] = {{"labels", {{"app", "mnist"}}}};
  trial_spec["spec"]["template"]["metadata"] = {{"labels", {{"app", "mnist-pod"}}}};
  const RenderedTrial r = Render(V1beta1Spec(trial_spec), V1beta1Context());
  json expected = Labels("random", "random-x7k2p9");
  expected["app"] = "mnist";
  EXPECT_EQ(r.manifest["metadata"]["labels"], expected);
  expected["app"] = "mnist-pod";
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["labels"], expected);
  // A labels entry that is not a map is an error, not silently replaced.
  trial_spec["spec"]["template"]["metadata"]["labels"] = "app=mnist";
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("spec.template.metadata.labels must be a map, got string"));
}

TEST(RenderCommonTest, LabelValuesAreSanitized) {
  TrialContext ctx = V1beta1Context();
  ctx.study_name = "-My Study/v2 (final)!";
  RenderedTrial r = Render(V1beta1Spec(), ctx);
  EXPECT_EQ(r.manifest["metadata"]["labels"]["hpt.dev/study"], "My-Study-v2--final");
  EXPECT_EQ(r.manifest["metadata"]["labels"]["katib.kubeflow.org/experiment"],
            "My-Study-v2--final");

  ctx.study_name = std::string(80, 'a');
  r = Render(V1beta1Spec(), ctx);
  const std::string a = r.manifest["metadata"]["labels"]["hpt.dev/study"];
  ctx.study_name = std::string(79, 'a') + "b";
  r = Render(V1beta1Spec(), ctx);
  const std::string b = r.manifest["metadata"]["labels"]["hpt.dev/study"];
  EXPECT_EQ(a.size(), 63u);
  EXPECT_EQ(b.size(), 63u);
  EXPECT_EQ(a.substr(0, 55), std::string(54, 'a') + "-");
  EXPECT_NE(a, b);  // a hash of the whole name keeps them apart
  for (const std::string& v : {a, b}) {
    for (char c : v) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-') << v;
  }
}

TEST(RenderCommonTest, EnvKeepsLiteralValuesAndTrialNameOnce) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0]["env"] = json::parse(R"([
      {"name": "A", "value": "1"},
      {"name": "KATIB_TRIAL_NAME", "value": "set-by-template"},
      {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
      {"name": "B", "value": "${trialParameters.learningRate}"}])");
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.hpt.local = LocalOverride{.env = {{"B", "override"}, {"C", "3"}}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_THAT(r.env, UnorderedElementsAre(Pair("A", "1"), Pair("B", "override"), Pair("C", "3"),
                                          Pair("KATIB_TRIAL_NAME", "set-by-template")));
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][0]["env"].size(), 4u);
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][0]["env"][3]["value"], "0.02");
}

TEST(RenderCommonTest, EnvValueMustBeAString) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0]["env"] = {{{"name", "N"}, {"value", 1}}};
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("spec.template.spec.containers[0].env[0].value must be a string (quote "
                        "it), got number 1"));
}

TEST(RenderCommonTest, GpuLimitAsIntAsStringAndDefault) {
  json trial_spec = RandomTrialSpec();
  json& limits = trial_spec["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
  limits["nvidia.com/gpu"] = 2;
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.hpt.gpus_per_trial = 4;  // the template's own limit wins
  EXPECT_EQ(Render(spec, V1beta1Context()).gpus, 2);

  limits["nvidia.com/gpu"] = "3";
  EXPECT_EQ(Render(V1beta1Spec(trial_spec), V1beta1Context()).gpus, 3);

  limits["nvidia.com/gpu"] = "1.5";
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("spec.template.spec.containers[0].resources.limits[\"nvidia.com/gpu\"] "
                        "must be a whole number of GPUs, got \"1.5\""));
  limits["nvidia.com/gpu"] = -1;
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("must be a whole number of GPUs, got -1"));

  // No limit in the template: spec.hpt.gpus_per_trial, written into the manifest too.
  spec = V1beta1Spec();
  spec.hpt.gpus_per_trial = 1;
  const RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.gpus, 1);
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"],
            json({{"memory", "1Gi"}, {"cpu", "0.5"}, {"nvidia.com/gpu", 1}}));
  EXPECT_EQ(Render(V1beta1Spec(), V1beta1Context()).gpus, 0);
}

TEST(RenderCommonTest, DeadlineFromJobOrStudy) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["activeDeadlineSeconds"] = 3600;
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.hpt.trial_deadline_seconds = 60;
  RenderedTrial r = Render(spec, V1beta1Context());
  ASSERT_TRUE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(*r.active_deadline_seconds, 3600);

  spec = V1beta1Spec();
  spec.hpt.trial_deadline_seconds = 120.5;
  r = Render(spec, V1beta1Context());
  ASSERT_TRUE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(*r.active_deadline_seconds, 120.5);
  EXPECT_EQ(r.manifest["spec"]["activeDeadlineSeconds"], json(121));

  trial_spec["spec"]["activeDeadlineSeconds"] = "1h";
  EXPECT_THAT(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
              HasSubstr("spec.activeDeadlineSeconds must be a positive number of seconds, got "
                        "\"1h\""));
}

TEST(RenderCommonTest, LocalOverrideV1beta1) {
  StudySpec spec = V1beta1Spec();
  spec.hpt.local =
      LocalOverride{.command = {"python3", "train.py", "--lr", "${trialParameters.learningRate}",
                                "--out=runs/${trialParameters.momentum}"},
                    .working_dir = "./code/"};
  RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.argv, (Argv{"python3", "train.py", "--lr", "0.02", "--out=runs/0.7"}));
  EXPECT_EQ(r.working_dir, "/studies/random/code");

  spec.hpt.local->working_dir = "/abs/dir";
  EXPECT_EQ(Render(spec, V1beta1Context()).working_dir, "/abs/dir");

  spec.hpt.local->command = {"train", "${trialParameters.nope}"};
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("spec.hpt.local.command[1] uses ${trialParameters.nope}, which "
                        "spec.trialTemplate.trialParameters does not define"));

  // A local command also covers a container that has none.
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["spec"]["containers"][0].erase("command");
  spec = V1beta1Spec(trial_spec);
  spec.hpt.local = LocalOverride{.command = {"./run.sh"}};
  EXPECT_EQ(Render(spec, V1beta1Context()).argv, (Argv{"./run.sh"}));
}

TEST(RenderCommonTest, TfJobPrimaryReplicaOrder) {
  // Chief before Master before Worker; every replica's pods are labelled, only the primary
  // container gets KATIB_TRIAL_NAME.
  const json trial_spec = json::parse(R"({
    "apiVersion": "kubeflow.org/v1", "kind": "TFJob",
    "spec": {
      "runPolicy": {"activeDeadlineSeconds": 900},
      "tfReplicaSpecs": {
        "PS": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "tensorflow", "image": "tf", "command": ["ps"]}]}}},
        "Worker": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "tensorflow", "image": "tf", "command": ["worker"]}]}}},
        "Chief": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "tensorflow", "image": "tf",
             "command": ["chief", "--lr=${trialParameters.learningRate}",
                         "--m=${trialParameters.momentum}"],
             "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}}
      }
    }
  })");
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.trial_template.primary_container_name = "tensorflow";
  RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.kind, "TFJob");
  EXPECT_EQ(r.argv, (Argv{"chief", "--lr=0.02", "--m=0.7"}));
  EXPECT_EQ(r.gpus, 1);
  ASSERT_TRUE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(*r.active_deadline_seconds, 900);
  const json& replicas = r.manifest["spec"]["tfReplicaSpecs"];
  for (const char* role : {"PS", "Worker", "Chief"}) {
    EXPECT_EQ(replicas[role]["template"]["metadata"]["labels"], Labels("random", "random-x7k2p9"))
        << role;
  }
  EXPECT_TRUE(replicas["Chief"]["template"]["spec"]["containers"][0].contains("env"));
  EXPECT_FALSE(replicas["Worker"]["template"]["spec"]["containers"][0].contains("env"));

  // Without Chief, Worker is next (Master absent).
  json no_chief = trial_spec;
  no_chief["spec"]["tfReplicaSpecs"].erase("Chief");
  no_chief["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["args"] = {
      "${trialParameters.learningRate}", "${trialParameters.momentum}"};
  no_chief["spec"].erase("runPolicy");
  spec = V1beta1Spec(no_chief);
  spec.trial_template.primary_container_name = "tensorflow";
  spec.hpt.trial_deadline_seconds = 30;
  r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.argv, (Argv{"worker", "0.02", "0.7"}));
  EXPECT_EQ(r.manifest["spec"]["runPolicy"], json({{"activeDeadlineSeconds", 30}}));

  // No primary replica at all.
  json ps_only = no_chief;
  ps_only["spec"]["tfReplicaSpecs"].erase("Worker");
  ps_only["spec"]["tfReplicaSpecs"]["PS"]["template"]["spec"]["containers"][0]["args"] = {
      "${trialParameters.learningRate}", "${trialParameters.momentum}"};
  spec = V1beta1Spec(ps_only);
  spec.trial_template.primary_container_name = "tensorflow";
  EXPECT_THAT(RenderError(spec, V1beta1Context()),
              HasSubstr("spec.tfReplicaSpecs has no replica with a pod template among Chief, "
                        "Master, Worker"));
}

TEST(RenderCommonTest, PyTorchJobPrimaryIsMaster) {
  const json trial_spec = json::parse(R"({
    "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
    "spec": {"pytorchReplicaSpecs": {
      "Worker": {"replicas": 2, "template": {"spec": {"containers": [
          {"name": "pytorch", "image": "pt", "command": ["worker"]}]}}},
      "Master": {"replicas": 1, "template": {"spec": {"containers": [
          {"name": "pytorch", "image": "pt",
           "command": ["python3", "mnist.py"],
           "args": ["--lr=${trialParameters.learningRate}", "--momentum=${trialParameters.momentum}"]}]}}}
    }}
  })");
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.trial_template.primary_container_name = "pytorch";
  const RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.kind, "PyTorchJob");
  EXPECT_EQ(r.argv, (Argv{"python3", "mnist.py", "--lr=0.02", "--momentum=0.7"}));
  EXPECT_EQ(r.manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
                      ["env"][0]["value"],
            "random-x7k2p9");
  EXPECT_EQ(r.manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"],
            Labels("random", "random-x7k2p9"));
}

// ------------------------------------------------------------------------------------------------
// Annotations: the study's (filtered by spec.hpt.kubernetes.propagateAnnotations) and hpt's own.

TEST(RenderAnnotationsTest, ProjectAndExperimentOnEveryObject) {
  StudySpec spec = V1beta1Spec();
  spec.annotations = {{"ai.bloomberg.com/project", "foo"},
                      {"ai.bloomberg.com/experiment", "abcde"}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  const json want = {{"ai.bloomberg.com/project", "foo"}, {"ai.bloomberg.com/experiment", "abcde"},
                     {"hpt.dev/project", "foo"},          {"hpt.dev/experiment", "abcde"},
                     {"hpt.dev/study", "random"},         {"hpt.dev/trial", "random-x7k2p9"}};
  EXPECT_EQ(r.manifest["metadata"]["annotations"], want);
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["annotations"], want);
}

TEST(RenderAnnotationsTest, ProjectAndExperimentOmittedWhenTheStudyHasNone) {
  StudySpec spec = V1beta1Spec();
  spec.annotations = {{"team", "vision"}, {"ai.bloomberg.com/projects", "not-a-project"}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  json want = OwnAnnotations("random", "random-x7k2p9");
  want["team"] = "vision";
  want["ai.bloomberg.com/projects"] = "not-a-project";
  EXPECT_EQ(r.manifest["metadata"]["annotations"], want);
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["annotations"], want);
  // Only the experiment.
  spec.annotations = {{"x.io/experiment", "e1"}};
  want = OwnAnnotations("random", "random-x7k2p9");
  want["x.io/experiment"] = "e1";
  want["hpt.dev/experiment"] = "e1";
  EXPECT_EQ(Render(spec, V1beta1Context()).manifest["metadata"]["annotations"], want);
}

TEST(RenderAnnotationsTest, StudyAndTrialComeFromTheContext) {
  // The controller may name the study differently from metadata.name (a second run: -2).
  TrialContext ctx = V1alpha1Context();
  ctx.study_name = "random-example-2";
  ctx.trial_name = "random-example-2-00007";
  const RenderedTrial r = Render(V1alpha1Spec(), ctx);
  EXPECT_EQ(r.manifest["metadata"]["annotations"],
            OwnAnnotations("random-example-2", "random-example-2-00007"));
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["annotations"],
            OwnAnnotations("random-example-2", "random-example-2-00007"));
}

TEST(RenderAnnotationsTest, PropagateAnnotationsByExactKeyAndPrefix) {
  StudySpec spec = V1beta1Spec();
  spec.annotations = {{"ai.bloomberg.com/project", "foo"},
                      {"ai.bloomberg.com/experiment", "abcde"},
                      {"team", "vision"},
                      {"teamster", "no"},
                      {"internal.corp/secret", "s3cr3t"}};
  spec.hpt.kubernetes.propagate_annotations = {"ai.bloomberg.com/*", "team"};
  const RenderedTrial r = Render(spec, V1beta1Context());
  json want = OwnAnnotations("random", "random-x7k2p9");
  want["ai.bloomberg.com/project"] = "foo";
  want["ai.bloomberg.com/experiment"] = "abcde";
  want["team"] = "vision";
  // The project and experiment are the study's whatever is copied.
  want["hpt.dev/project"] = "foo";
  want["hpt.dev/experiment"] = "abcde";
  EXPECT_EQ(r.manifest["metadata"]["annotations"], want);
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["annotations"], want);

  // A list that matches none of them: only hpt's own (with the project derived from them all).
  spec.hpt.kubernetes.propagate_annotations = {"example.com/*", "ai.bloomberg.com/project2"};
  want = OwnAnnotations("random", "random-x7k2p9");
  want["hpt.dev/project"] = "foo";
  want["hpt.dev/experiment"] = "abcde";
  EXPECT_EQ(Render(spec, V1beta1Context()).manifest["metadata"]["annotations"], want);

  // "*" and the empty list copy everything.
  for (const std::vector<std::string>& all :
       {std::vector<std::string>{"*"}, std::vector<std::string>{}}) {
    spec.hpt.kubernetes.propagate_annotations = all;
    const json got = Render(spec, V1beta1Context()).manifest["metadata"]["annotations"];
    EXPECT_EQ(got.size(), 9u) << got.dump();
    EXPECT_EQ(got["internal.corp/secret"], "s3cr3t");
    EXPECT_EQ(got["teamster"], "no");
  }
}

TEST(RenderAnnotationsTest, CustomPrefix) {
  StudySpec spec = V1beta1Spec();
  spec.hpt.kubernetes.annotation_prefix = "ml.example.com";
  spec.annotations = {{"ai.bloomberg.com/project", "foo"}, {"ml.example.com/project", "mine"}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  const json want = {{"ai.bloomberg.com/project", "foo"},
                     {"ml.example.com/project", "mine"},
                     {"ml.example.com/study", "random"},
                     {"ml.example.com/trial", "random-x7k2p9"}};
  EXPECT_EQ(r.manifest["metadata"]["annotations"], want);
  EXPECT_EQ(r.manifest["spec"]["template"]["metadata"]["annotations"], want);
  // The labels keep hpt.dev/: the runner selects a study's objects by them.
  EXPECT_EQ(r.manifest["metadata"]["labels"], Labels("random", "random-x7k2p9"));
}

TEST(RenderAnnotationsTest, TemplateValuesWinAndOwnReplaceTheStudys) {
  json trial_spec = RandomTrialSpec();
  trial_spec["metadata"] = {{"annotations", {{"hpt.dev/project", "template-project"}}}};
  trial_spec["spec"]["template"]["metadata"] = {{"annotations", {{"hpt.dev/trial", "mine"}}}};
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.annotations = {{"hpt.dev/study", "stale"}, {"hpt.dev/project", "vision"}};
  const RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.manifest["metadata"]["annotations"], json({{"hpt.dev/project", "template-project"},
                                                         {"hpt.dev/study", "random"},
                                                         {"hpt.dev/trial", "random-x7k2p9"}}));
  EXPECT_EQ(
      r.manifest["spec"]["template"]["metadata"]["annotations"],
      json(
          {{"hpt.dev/project", "vision"}, {"hpt.dev/study", "random"}, {"hpt.dev/trial", "mine"}}));
}

TEST(RenderAnnotationsTest, EveryReplicaOfAKubeflowJob) {
  const json trial_spec = json::parse(R"({
    "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
    "spec": {"pytorchReplicaSpecs": {
      "Master": {"replicas": 1, "template": {"spec": {"containers": [
          {"name": "pytorch", "image": "pt",
           "command": ["m", "${trialParameters.learningRate}", "${trialParameters.momentum}"]}]}}},
      "Worker": {"replicas": 2, "template": {"metadata": {"annotations": {"a": "b"}},
          "spec": {"containers": [{"name": "pytorch", "image": "pt", "command": ["w"]}]}}}
    }}
  })");
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.trial_template.primary_container_name = "pytorch";
  spec.annotations = {{"ai.bloomberg.com/project", "foo"}};
  spec.hpt.kubernetes.propagate_annotations = {"ai.bloomberg.com/project"};
  const RenderedTrial r = Render(spec, V1beta1Context());
  json want = OwnAnnotations("random", "random-x7k2p9");
  want["ai.bloomberg.com/project"] = "foo";
  want["hpt.dev/project"] = "foo";
  EXPECT_EQ(r.manifest["metadata"]["annotations"], want);
  const json& replicas = r.manifest["spec"]["pytorchReplicaSpecs"];
  EXPECT_EQ(replicas["Master"]["template"]["metadata"]["annotations"], want);
  want["a"] = "b";
  EXPECT_EQ(replicas["Worker"]["template"]["metadata"]["annotations"], want);
}

TEST(RenderAnnotationsTest, AnnotationsThatAreNotAMap) {
  json trial_spec = RandomTrialSpec();
  trial_spec["spec"]["template"]["metadata"] = {{"annotations", {"a", "b"}}};
  EXPECT_EQ(RenderError(V1beta1Spec(trial_spec), V1beta1Context()),
            "/studies/random/random.yaml:30: spec.template.metadata.annotations must be a map, got "
            "array");
}

// ------------------------------------------------------------------------------------------------
// Tenancy: spec.hpt.kubernetes job settings.

runner::k8s::JobSettings AllJobSettings() {
  return runner::k8s::JobSettings{.priority_class_name = "team-a-high",
                                  .active_deadline_seconds = 7200,
                                  .backoff_limit = 0,
                                  .ttl_seconds_after_finished = 600,
                                  .service_account_name = "trainer",
                                  .queue_name = "team-a"};
}

TEST(RenderJobSettingsTest, JobGetsEverySetting) {
  StudySpec spec = V1beta1Spec();
  spec.hpt.kubernetes.job = AllJobSettings();
  const RenderedTrial r = Render(spec, V1beta1Context());
  const json& m = r.manifest;
  json labels = Labels("random", "random-x7k2p9");
  labels["kueue.x-k8s.io/queue-name"] = "team-a";
  EXPECT_EQ(m["metadata"]["labels"], labels);
  // Only the Job is queued; its pods are admitted with it.
  EXPECT_EQ(m["spec"]["template"]["metadata"]["labels"], Labels("random", "random-x7k2p9"));
  EXPECT_EQ(m["spec"]["activeDeadlineSeconds"], json(7200));
  EXPECT_EQ(m["spec"]["backoffLimit"], json(0));
  EXPECT_EQ(m["spec"]["ttlSecondsAfterFinished"], json(600));
  EXPECT_EQ(m["spec"]["template"]["spec"]["priorityClassName"], "team-a-high");
  EXPECT_EQ(m["spec"]["template"]["spec"]["serviceAccountName"], "trainer");
  ASSERT_TRUE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(*r.active_deadline_seconds, 7200);
}

TEST(RenderJobSettingsTest, V1alpha1JobGetsThemToo) {
  StudySpec spec = V1alpha1Spec();
  spec.hpt.kubernetes.job = {.backoff_limit = 2, .service_account_name = "trainer"};
  const RenderedTrial r = Render(spec, V1alpha1Context());
  EXPECT_EQ(r.manifest["spec"]["backoffLimit"], json(2));
  EXPECT_EQ(r.manifest["spec"]["template"]["spec"]["serviceAccountName"], "trainer");
  EXPECT_FALSE(r.manifest["spec"].contains("ttlSecondsAfterFinished"));
  EXPECT_FALSE(r.manifest["spec"]["template"]["spec"].contains("priorityClassName"));
  EXPECT_FALSE(r.manifest["metadata"]["labels"].contains("kueue.x-k8s.io/queue-name"));
  EXPECT_FALSE(r.active_deadline_seconds.has_value());
}

TEST(RenderJobSettingsTest, TemplateValuesWin) {
  json trial_spec = RandomTrialSpec();
  trial_spec["metadata"] = {{"labels", {{"kueue.x-k8s.io/queue-name", "own-queue"}}}};
  trial_spec["spec"]["backoffLimit"] = 1;
  trial_spec["spec"]["activeDeadlineSeconds"] = 3600;
  trial_spec["spec"]["ttlSecondsAfterFinished"] = 86400;
  trial_spec["spec"]["template"]["spec"]["priorityClassName"] = "batch-low";
  trial_spec["spec"]["template"]["spec"]["serviceAccountName"] = "default";
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.hpt.kubernetes.job = AllJobSettings();
  const RenderedTrial r = Render(spec, V1beta1Context());
  const json& m = r.manifest;
  EXPECT_EQ(m["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "own-queue");
  EXPECT_EQ(m["spec"]["backoffLimit"], json(1));
  EXPECT_EQ(m["spec"]["activeDeadlineSeconds"], json(3600));
  EXPECT_EQ(m["spec"]["ttlSecondsAfterFinished"], json(86400));
  EXPECT_EQ(m["spec"]["template"]["spec"]["priorityClassName"], "batch-low");
  EXPECT_EQ(m["spec"]["template"]["spec"]["serviceAccountName"], "default");
  ASSERT_TRUE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(*r.active_deadline_seconds, 3600);
}

TEST(RenderJobSettingsTest, TrialDeadlineSecondsGoesFirst) {
  // The loader rejects a study with both; a spec built by hand gets trialDeadlineSeconds.
  StudySpec spec = V1beta1Spec();
  spec.hpt.trial_deadline_seconds = 99.5;
  spec.hpt.kubernetes.job.active_deadline_seconds = 7200;
  const RenderedTrial r = Render(spec, V1beta1Context());
  EXPECT_EQ(r.manifest["spec"]["activeDeadlineSeconds"], json(100));
  ASSERT_TRUE(r.active_deadline_seconds.has_value());
  EXPECT_EQ(*r.active_deadline_seconds, 99.5);
}

// A Kubeflow training job of `kind` whose replicas `primary` (first) and `other` run `pytorch`.
json KubeflowJob(const std::string& kind, const std::string& replica_key,
                 const std::string& primary, const std::string& other) {
  json job = {{"apiVersion", "kubeflow.org/v1"}, {"kind", kind}};
  job["spec"][replica_key][primary] = json::parse(R"({"replicas": 1, "template": {"spec": {
      "containers": [{"name": "trainer", "image": "img",
                      "command": ["train", "${trialParameters.learningRate}",
                                  "${trialParameters.momentum}"]}]}}})");
  job["spec"][replica_key][other] = json::parse(R"({"replicas": 2, "template": {"spec": {
      "containers": [{"name": "trainer", "image": "img", "command": ["work"]}]}}})");
  return job;
}

struct KubeflowKind {
  const char* kind;
  const char* replica_key;
  const char* primary;
  const char* other;
};

constexpr KubeflowKind kKubeflowKinds[] = {
    {"TFJob", "tfReplicaSpecs", "Chief", "Worker"},
    {"PyTorchJob", "pytorchReplicaSpecs", "Master", "Worker"},
    {"XGBoostJob", "xgbReplicaSpecs", "Master", "Worker"},
    {"MPIJob", "mpiReplicaSpecs", "Launcher", "Worker"},
};

TEST(RenderJobSettingsTest, KubeflowJobsGetThemInRunPolicyAndEveryReplica) {
  for (const KubeflowKind& k : kKubeflowKinds) {
    StudySpec spec = V1beta1Spec(KubeflowJob(k.kind, k.replica_key, k.primary, k.other));
    spec.trial_template.primary_container_name = "trainer";
    spec.hpt.kubernetes.job = AllJobSettings();
    const RenderedTrial r = Render(spec, V1beta1Context());
    const json& m = r.manifest;
    EXPECT_EQ(m["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "team-a") << k.kind;
    EXPECT_EQ(m["spec"]["runPolicy"], json({{"activeDeadlineSeconds", 7200},
                                            {"backoffLimit", 0},
                                            {"ttlSecondsAfterFinished", 600}}))
        << k.kind;
    for (const char* role : {k.primary, k.other}) {
      const json& pod_spec = m["spec"][k.replica_key][role]["template"]["spec"];
      EXPECT_EQ(pod_spec["priorityClassName"], "team-a-high") << k.kind << " " << role;
      EXPECT_EQ(pod_spec["serviceAccountName"], "trainer") << k.kind << " " << role;
      EXPECT_FALSE(m["spec"][k.replica_key][role]["template"]["metadata"]["labels"].contains(
          "kueue.x-k8s.io/queue-name"));
    }
    // Nothing Job-only lands on a Kubeflow job's spec.
    EXPECT_FALSE(m["spec"].contains("backoffLimit")) << k.kind;
    EXPECT_FALSE(m["spec"].contains("template")) << k.kind;
    ASSERT_TRUE(r.active_deadline_seconds.has_value()) << k.kind;
    EXPECT_EQ(*r.active_deadline_seconds, 7200) << k.kind;
  }
}

TEST(RenderJobSettingsTest, KubeflowTemplateValuesWin) {
  json trial_spec = KubeflowJob("PyTorchJob", "pytorchReplicaSpecs", "Master", "Worker");
  trial_spec["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "own";
  trial_spec["spec"]["runPolicy"] = {{"backoffLimit", 5}, {"cleanPodPolicy", "None"}};
  trial_spec["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["priorityClassName"] =
      "worker-low";
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.trial_template.primary_container_name = "trainer";
  spec.hpt.kubernetes.job = {.priority_class_name = "team-a-high",
                             .backoff_limit = 0,
                             .ttl_seconds_after_finished = 60,
                             .queue_name = "team-a"};
  const RenderedTrial r = Render(spec, V1beta1Context());
  const json& m = r.manifest;
  EXPECT_EQ(m["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "own");
  EXPECT_EQ(
      m["spec"]["runPolicy"],
      json({{"backoffLimit", 5}, {"cleanPodPolicy", "None"}, {"ttlSecondsAfterFinished", 60}}));
  const json& replicas = m["spec"]["pytorchReplicaSpecs"];
  EXPECT_EQ(replicas["Master"]["template"]["spec"]["priorityClassName"], "team-a-high");
  EXPECT_EQ(replicas["Worker"]["template"]["spec"]["priorityClassName"], "worker-low");
  EXPECT_FALSE(replicas["Master"]["template"]["spec"].contains("serviceAccountName"));
  EXPECT_FALSE(r.active_deadline_seconds.has_value());

  // Only what is set is written: no runPolicy for a priority class alone.
  trial_spec["spec"].erase("runPolicy");
  spec = V1beta1Spec(trial_spec);
  spec.trial_template.primary_container_name = "trainer";
  spec.hpt.kubernetes.job = {.priority_class_name = "team-a-high"};
  EXPECT_FALSE(Render(spec, V1beta1Context()).manifest["spec"].contains("runPolicy"));
}

TEST(RenderJobSettingsTest, RunPolicyThatIsNotAMap) {
  json trial_spec = KubeflowJob("TFJob", "tfReplicaSpecs", "Chief", "Worker");
  trial_spec["spec"]["runPolicy"] = "strict";
  StudySpec spec = V1beta1Spec(trial_spec);
  spec.trial_template.primary_container_name = "trainer";
  spec.hpt.kubernetes.job = {.backoff_limit = 0};
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: spec.runPolicy must be a map, got string");
  // Without a setting that needs it, the template's runPolicy is left alone.
  spec.hpt.kubernetes.job = {.priority_class_name = "high"};
  EXPECT_EQ(Render(spec, V1beta1Context()).manifest["spec"]["runPolicy"], "strict");
}

TEST(RenderJobSettingsTest, InvalidSettingsOfAHandBuiltSpec) {
  StudySpec spec = V1beta1Spec();
  spec.hpt.kubernetes.job = {.backoff_limit = -1, .queue_name = "Team A"};
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: invalid Job settings: backoffLimit must be an "
            "integer between 0 and 2147483647, got -1; queueName must be a DNS-1123 subdomain "
            "(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, "
            "at most 63 characters), got \"Team A\"");
  // The same for a Kubeflow job.
  spec = V1beta1Spec(KubeflowJob("TFJob", "tfReplicaSpecs", "Chief", "Worker"));
  spec.trial_template.primary_container_name = "trainer";
  spec.hpt.kubernetes.job = {.active_deadline_seconds = 0};
  EXPECT_EQ(RenderError(spec, V1beta1Context()),
            "/studies/random/random.yaml:30: invalid Job settings: activeDeadlineSeconds must be "
            "> 0 (seconds), got 0");
}

TEST(RenderJobSettingsTest, JobOfAnotherApiVersion) {
  // A v1alpha1 template may name any apiVersion for a Job; the settings apply to batch/v1 only.
  StudySpec spec = V1alpha1Spec(
      absl::StrReplaceAll(kRandomExampleTemplate, {{"apiVersion: batch/v1", "apiVersion: v2"}}));
  EXPECT_EQ(Render(spec, V1alpha1Context()).api_version, "v2");  // no settings: renders
  spec.hpt.kubernetes.job = {.backoff_limit = 0};
  EXPECT_EQ(RenderError(spec, V1alpha1Context()),
            "/studies/random-example.yaml:7: cannot apply the Job settings: the object is not a "
            "batch/v1 Job (got apiVersion \"v2\", kind \"Job\")");
}

}  // namespace
}  // namespace hpt::engine
