"""Study YAML for the command-line end-to-end tests (test_cli.py, test_crash.py).

One shape: a Katib v1beta1 Experiment over one parameter x in [0, 1], minimizing `loss`, whose
trial is a batch/v1 Job with one container `train` running `command`, where
``${trialParameters.x}`` is x's value.
"""
import json


# The default search space: one double x in [0, 1].
DOUBLE_X = """    - name: x
      parameterType: double
      feasibleSpace: {min: "0", max: "1"}
"""


def experiment(name, command, parallel, max_trials, namespace=None, annotations=None,
               algorithm="random", parameters=DOUBLE_X, extra_spec=""):
    """The study's YAML text. `command` is the container's command list; `parameters` the items
    of spec.parameters (they must include x); `extra_spec` more lines of spec (indented)."""
    metadata = f"  name: {name}\n"
    if namespace:
        metadata += f"  namespace: {namespace}\n"
    if annotations:
        metadata += "  annotations:\n" + "".join(
            f"    {key}: {value}\n" for key, value in annotations.items())
    return f"""apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
{metadata}spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: {algorithm}
  parallelTrialCount: {parallel}
  maxTrialCount: {max_trials}
{extra_spec}  parameters:
{parameters}  trialTemplate:
    primaryContainerName: train
    trialParameters:
      - {{name: x, reference: x}}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: train
                image: python:3.11
                command: {json.dumps(command)}
            restartPolicy: Never
"""


def shell_experiment(name, script, parallel, max_trials, **kwargs):
    """experiment() whose container runs `script` under sh -c."""
    return experiment(name, ["sh", "-c", script], parallel, max_trials, **kwargs)
