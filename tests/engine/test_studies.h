// Study YAML for the engine's tests: a v1beta1 Experiment over one parameter x in [0, 1] whose
// trials run a shell script.
#ifndef HPT_TESTS_ENGINE_TEST_STUDIES_H_
#define HPT_TESTS_ENGINE_TEST_STUDIES_H_

#include <string>

namespace hpt::engine {

// A v1beta1 experiment whose trial runs `script` under sh -c; ${trialParameters.x} is x's value.
inline std::string Experiment(const std::string& name, const std::string& script,
                              const std::string& extra_spec,
                              const std::string& objective =
                                  "    type: minimize\n"
                                  "    objectiveMetricName: loss\n") {
  return R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: )" +
         name + R"(
  annotations:
    ai.bloomberg.com/project: foo
spec:
  objective:
)" + objective +
         R"(  algorithm:
    algorithmName: random
)" + extra_spec +
         R"(
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
                image: busybox
                command: ["sh", "-c", ")" +
         script + R"("]
            restartPolicy: Never
)";
}

// The same with a budget: parallelTrialCount and maxTrialCount.
inline std::string Experiment(const std::string& name, const std::string& script, int parallel,
                              int max_trials) {
  return Experiment(name, script,
                    "  parallelTrialCount: " + std::to_string(parallel) +
                        "\n  maxTrialCount: " + std::to_string(max_trials));
}

}  // namespace hpt::engine

#endif  // HPT_TESTS_ENGINE_TEST_STUDIES_H_
