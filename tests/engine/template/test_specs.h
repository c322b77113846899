// Study specs built by hand for the template tests (the YAML loader is tested on its own).
#ifndef HPT_TESTS_ENGINE_TEMPLATE_TEST_SPECS_H_
#define HPT_TESTS_ENGINE_TEMPLATE_TEST_SPECS_H_

#include <string>

#include "engine/spec/study_spec.h"
#include "engine/template/render.h"
#include "nlohmann/json.hpp"

namespace hpt::engine::testing {

// The rawTemplate of Katib's examples/v1alpha1/random-example.yaml (Apache-2.0, The Kubeflow
// Authors), without the block scalar's indentation.
inline constexpr char kRandomExampleTemplate[] = R"(apiVersion: batch/v1
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
        - "python"
        - "/mxnet/example/image-classification/train_mnist.py"
        - "--batch-size=64"
        {{- with .HyperParameters}}
        {{- range .}}
        - "{{.Name}}={{.Value}}"
        {{- end}}
        {{- end}}
      restartPolicy: Never)";

// The rawTemplate of Katib's examples/v1alpha1/tfjob-example.yaml, unindented.
inline constexpr char kTfJobExampleTemplate[] = R"(apiVersion: "kubeflow.org/v1"
kind: TFJob
metadata:
  name: {{.WorkerID}}
  namespace: kubeflow
spec:
 tfReplicaSpecs:
  Worker:
    replicas: 1
    restartPolicy: Never
    template:
      spec:
        containers:
          - name: tensorflow
            image: gcr.io/kubeflow-ci/tf-mnist-with-summaries:1.0
            command:
              - "python"
              - "/var/tf_mnist/mnist_with_summaries.py"
              - "--log_dir=/train/{{.WorkerID}}"
              {{- with .HyperParameters}}
              {{- range .}}
              - "{{.Name}}={{.Value}}"
              {{- end}}
              {{- end}}
            volumeMounts:
              - mountPath: "/train"
                name: "train"
        volumes:
          - name: "train"
            persistentVolumeClaim:
              claimName: "tfevent-volume")";

// The 6 lines of a study file before a rawTemplate block scalar (so the template starts on
// line 7, indented by 8 spaces).
inline std::string StudyFileWith(const std::string& tmpl) {
  std::string out =
      "apiVersion: kubeflow.org/v1alpha1\n"
      "kind: StudyJob\n"
      "spec:\n"
      "  workerSpec:\n"
      "    goTemplate:\n"
      "      rawTemplate: |-\n";
  size_t begin = 0;
  while (begin <= tmpl.size()) {
    size_t end = tmpl.find('\n', begin);
    if (end == std::string::npos) end = tmpl.size();
    const std::string line = tmpl.substr(begin, end - begin);
    out += (line.empty() ? "" : "        " + line) + "\n";
    begin = end + 1;
  }
  return out;
}

// Katib's random-example StudyJob with three parameters; the template text as the loader gives it.
inline StudySpec V1alpha1Spec(const std::string& tmpl = kRandomExampleTemplate) {
  StudySpec spec;
  spec.dialect = Dialect::kStudyJobV1alpha1;
  spec.file = "/studies/random-example.yaml";
  spec.source_yaml = StudyFileWith(tmpl);
  spec.api_version = "kubeflow.org/v1alpha1";
  spec.kind = "StudyJob";
  spec.name = "random-example";
  spec.study_name = "random-example";
  spec.namespace_ = "kubeflow";
  spec.space.params = {
      {.name = "--lr", .type = suggest::ParamType::kDouble, .min = 0.01, .max = 0.03},
      {.name = "--num-layers", .type = suggest::ParamType::kInt, .min = 2, .max = 5},
      {.name = "--optimizer",
       .type = suggest::ParamType::kCategorical,
       .list = {"sgd", "adam", "ftrl"}},
  };
  spec.trial_template.source = tmpl;
  spec.trial_template.source_name = spec.file;
  spec.trial_template.source_line = 7;
  return spec;
}

inline TrialContext V1alpha1Context() {
  return TrialContext{
      .study_name = "random-example",
      .trial_name = "random-example-1",
      .namespace_ = "kubeflow",
      .params = {{"--lr", "0.0213"}, {"--num-layers", "3"}, {"--optimizer", "adam"}}};
}

// The trialSpec of Katib's examples/v1beta1/hp-tuning/random.yaml, as JSON.
inline nlohmann::json RandomTrialSpec() {
  return nlohmann::json::parse(R"({
    "apiVersion": "batch/v1",
    "kind": "Job",
    "spec": {
      "template": {
        "spec": {
          "containers": [{
            "name": "training-container",
            "image": "ghcr.io/kubeflow/katib/pytorch-mnist-cpu:latest",
            "command": ["python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1", "--batch-size=16",
                        "--lr=${trialParameters.learningRate}",
                        "--momentum=${trialParameters.momentum}"],
            "resources": {"limits": {"memory": "1Gi", "cpu": "0.5"}}
          }],
          "restartPolicy": "Never"
        }
      }
    }
  })");
}

// Katib's random.yaml Experiment: parameters lr and momentum, trialParameters learningRate and
// momentum, primary container training-container.
inline StudySpec V1beta1Spec(const nlohmann::json& trial_spec = RandomTrialSpec()) {
  StudySpec spec;
  spec.dialect = Dialect::kExperimentV1beta1;
  spec.file = "/studies/random/random.yaml";
  spec.api_version = "kubeflow.org/v1beta1";
  spec.kind = "Experiment";
  spec.name = "random";
  spec.namespace_ = "kubeflow";
  spec.space.params = {
      {.name = "lr", .type = suggest::ParamType::kDouble, .min = 0.01, .max = 0.05},
      {.name = "momentum", .type = suggest::ParamType::kDouble, .min = 0.5, .max = 0.9},
  };
  spec.trial_template.source = trial_spec.dump();
  spec.trial_template.source_name = spec.file;
  spec.trial_template.source_line = 30;
  spec.trial_template.primary_container_name = "training-container";
  spec.trial_template.trial_parameters = {
      {"learningRate", "Learning rate for the training model", "lr"},
      {"momentum", "Momentum for the training model", "momentum"},
  };
  return spec;
}

inline TrialContext V1beta1Context() {
  return TrialContext{.study_name = "random",
                      .trial_name = "random-x7k2p9",
                      .namespace_ = "kubeflow",
                      .params = {{"lr", "0.02"}, {"momentum", "0.7"}}};
}

}  // namespace hpt::engine::testing

#endif  // HPT_TESTS_ENGINE_TEMPLATE_TEST_SPECS_H_
