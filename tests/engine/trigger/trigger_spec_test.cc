// RetrainTrigger YAML (engine/trigger/trigger_spec.h): good documents with their defaults, and bad
// ones with the exact diagnostic (file:line:column, path, message).
#include "engine/trigger/trigger_spec.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace hpt::engine::trigger {
namespace {

struct Loaded {
  absl::StatusOr<TriggerSpec> spec;
  std::vector<Diagnostic> diags;
};

Loaded Load(const std::string& yaml, const std::string& file = "trigger.yaml") {
  Loaded r;
  r.spec = LoadTriggerText(yaml, file, &r.diags);
  return r;
}

std::string Dump(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const Diagnostic& d : diags) out += "  " + d.ToString() + "\n";
  return out.empty() ? "  (no diagnostics)\n" : out;
}

std::vector<std::string> Errors(const Loaded& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.diags) {
    if (d.severity == Diagnostic::Severity::kError) out.push_back(d.ToString());
  }
  return out;
}

// The only error, as printed; the status must be InvalidArgument.
std::string OnlyError(const Loaded& r) {
  if (r.spec.ok()) return "loaded without error:\n" + Dump(r.diags);
  if (r.spec.status().code() != absl::StatusCode::kInvalidArgument) {
    return "status " + r.spec.status().ToString();
  }
  std::vector<std::string> errors = Errors(r);
  if (errors.size() != 1) return "want 1 error, got:\n" + Dump(r.diags);
  return errors[0];
}

// A trigger named t; `spec` (indented by two spaces) starts on line 6.
std::string Doc(const std::string& spec) {
  return "apiVersion: hpt.dev/v1\n"
         "kind: RetrainTrigger\n"
         "metadata:\n"
         "  name: t\n"
         "spec:\n" +
         spec;
}

// ---- Good documents.

TEST(LoadTrigger, FullModelTrigger) {
  const std::string text = R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: fraud-auc-drop
  annotations: {ai.bloomberg.com/project: fraud}
  labels: {team: risk}
spec:
  watch:
    model:
      project: fraud
      experiment: prod
      name: fraud-v3
      metric: auc
      goal: maximize
  aggregate:
    function: mean
    window: {points: 50}
    minPoints: 10
  condition:
    below: 0.91
  cooldown: 6h
  action:
    retrainTrial:
      study: fraud-hpo
)";
  Loaded r = Load(text);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  EXPECT_TRUE(r.diags.empty()) << Dump(r.diags);
  const TriggerSpec& t = *r.spec;
  EXPECT_EQ(t.api_version, "hpt.dev/v1");
  EXPECT_EQ(t.kind, "RetrainTrigger");
  EXPECT_EQ(t.name, "fraud-auc-drop");
  EXPECT_EQ(t.namespace_, "default");
  EXPECT_EQ(t.annotations,
            (std::map<std::string, std::string>{{"ai.bloomberg.com/project", "fraud"}}));
  EXPECT_EQ(t.labels, (std::map<std::string, std::string>{{"team", "risk"}}));
  EXPECT_EQ(t.watch.source, WatchSpec::Source::kModel);
  EXPECT_EQ(t.watch.model.project, "fraud");
  EXPECT_EQ(t.watch.model.experiment, "prod");
  EXPECT_EQ(t.watch.model.name, "fraud-v3");
  EXPECT_EQ(t.watch.model.metric, "auc");
  EXPECT_EQ(t.watch.model.goal, Goal::kMaximize);
  EXPECT_EQ(t.goal(), Goal::kMaximize);
  EXPECT_EQ(t.aggregate.function, AggregateFunction::kMean);
  EXPECT_EQ(t.aggregate.window, AggregateSpec::Window::kPoints);
  EXPECT_EQ(t.aggregate.window_points, 50);
  EXPECT_EQ(t.aggregate.min_points, 10);
  EXPECT_EQ(t.condition.kind, ConditionSpec::Kind::kBelow);
  EXPECT_EQ(t.condition.threshold, 0.91);
  EXPECT_EQ(t.cooldown_ms, 6 * 3'600'000);
  EXPECT_EQ(t.action.kind, ActionSpec::Kind::kRetrainTrial);
  EXPECT_EQ(t.action.study, "fraud-hpo");
  EXPECT_EQ(t.file, "trigger.yaml");
  EXPECT_EQ(t.source_yaml, text);
  EXPECT_EQ(Summary(t),
            "mean(auc) over the last 50 points < 0.91, cooldown 6h -> retrain trial from study "
            "fraud-hpo");
}

TEST(LoadTrigger, StudyNewBestWithDefaults) {
  for (const std::string& forms : {std::string("    newBest: {}\n  cooldown: 0\n  action:\n"
                                               "    retrainTrial: {}\n"),
                                   std::string("    newBest:\n  cooldown: 0\n  action:\n"
                                               "    retrainTrial:\n")}) {
    Loaded r = Load(R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: champion
  namespace: ml
spec:
  watch:
    study: {name: fraud-hpo}
  condition:
)" + forms);
    ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
    const TriggerSpec& t = *r.spec;
    EXPECT_EQ(t.namespace_, "ml");
    EXPECT_EQ(t.watch.source, WatchSpec::Source::kStudy);
    EXPECT_EQ(t.watch.study.name, "fraud-hpo");
    EXPECT_EQ(t.watch.study.goal, Goal::kUnspecified);  // the caller sets it from the study
    EXPECT_EQ(t.aggregate.function, AggregateFunction::kLast);
    EXPECT_EQ(t.aggregate.window, AggregateSpec::Window::kPoints);
    EXPECT_EQ(t.aggregate.window_points, 1);
    EXPECT_EQ(t.aggregate.min_points, 1);
    EXPECT_EQ(t.condition.kind, ConditionSpec::Kind::kNewBest);
    EXPECT_EQ(t.cooldown_ms, 0);
    EXPECT_EQ(t.action.kind, ActionSpec::Kind::kRetrainTrial);
    EXPECT_EQ(t.action.study, "fraud-hpo");  // defaults to the watched study
    EXPECT_EQ(Summary(t),
              "the best objective of study fraud-hpo reaches a new best, cooldown 0s -> retrain "
              "trial from study fraud-hpo");
  }
}

TEST(LoadTrigger, CronScheduleWithoutWatchSubmitsAFile) {
  const std::string text = R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: nightly
spec:
  condition:
    schedule: {cron: "0 3 * * *"}
  action:
    submitStudy:
      file: hpo.yaml
      warmStartFrom: [fraud-hpo, fraud-hpo-2]
)";
  Loaded r = Load(text, "conf/triggers/nightly.yaml");
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  const TriggerSpec& t = *r.spec;
  EXPECT_EQ(t.watch.source, WatchSpec::Source::kNone);
  EXPECT_EQ(t.goal(), Goal::kUnspecified);
  EXPECT_EQ(t.condition.kind, ConditionSpec::Kind::kSchedule);
  EXPECT_EQ(t.condition.cron, "0 3 * * *");
  EXPECT_EQ(t.condition.every_ms, 0);
  EXPECT_EQ(t.cooldown_ms, kDefaultCooldownMillis);
  EXPECT_EQ(t.action.kind, ActionSpec::Kind::kSubmitStudy);
  EXPECT_EQ(t.action.file, "hpo.yaml");
  EXPECT_EQ(t.action.resolved_file, "conf/triggers/hpo.yaml");
  EXPECT_EQ(t.action.study_yaml, "");
  EXPECT_EQ(t.action.warm_start_from, (std::vector<std::string>{"fraud-hpo", "fraud-hpo-2"}));
  EXPECT_EQ(Summary(t),
            "cron \"0 3 * * *\" (UTC), cooldown 1h -> submit study file hpo.yaml (warm start from "
            "fraud-hpo, fraud-hpo-2)");

  // Relative to the trigger's directory; absolute paths and text without a file stay as given.
  auto resolved = [](const std::string& file, const std::string& trigger_file) {
    Loaded r = Load(Doc("  condition: {schedule: {every: 1d}}\n"
                        "  action: {submitStudy: {file: \"" +
                        file + "\"}}\n"),
                    trigger_file);
    EXPECT_TRUE(r.spec.ok()) << Dump(r.diags);
    return r.spec.ok() ? r.spec->action.resolved_file : "";
  };
  EXPECT_EQ(resolved("../studies/hpo.yaml", "conf/triggers/t.yaml"), "conf/studies/hpo.yaml");
  EXPECT_EQ(resolved("/srv/hpo.yaml", "conf/triggers/t.yaml"), "/srv/hpo.yaml");
  EXPECT_EQ(resolved("hpo.yaml", "t.yaml"), "hpo.yaml");
  EXPECT_EQ(resolved("hpo.yaml", "<stdin>"), "hpo.yaml");
  EXPECT_EQ(resolved("hpo.yaml", ""), "hpo.yaml");
}

TEST(LoadTrigger, ConditionsWindowsAndDurations) {
  Loaded r = Load(Doc(R"(  watch:
    model: {project: fraud, metric: latency, goal: minimize}
  aggregate:
    function: max
    window: {duration: 1h30m}
    minPoints: 3
  condition:
    above: 250
  cooldown: 90
  action: {retrainTrial: {study: s}}
)"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  EXPECT_EQ(r.spec->aggregate.function, AggregateFunction::kMax);
  EXPECT_EQ(r.spec->aggregate.window, AggregateSpec::Window::kDuration);
  EXPECT_EQ(r.spec->aggregate.window_ms, 5'400'000);
  EXPECT_EQ(r.spec->aggregate.min_points, 3);
  EXPECT_EQ(r.spec->condition.kind, ConditionSpec::Kind::kAbove);
  EXPECT_EQ(r.spec->condition.threshold, 250);
  EXPECT_EQ(r.spec->cooldown_ms, 90'000);
  EXPECT_EQ(r.spec->watch.model.experiment, "");
  EXPECT_EQ(r.spec->watch.model.name, "");
  EXPECT_EQ(Summary(*r.spec),
            "max(latency) over the last 1h30m > 250, cooldown 1m30s -> retrain trial from study s");

  r = Load(Doc(R"(  watch: {model: {project: fraud, metric: auc, goal: maximize}}
  aggregate: {function: min, window: {points: 5}}
  condition:
    dropFromBest: {margin: 0.05, relative: true}
  cooldown: "2d"
  action: {retrainTrial: {study: s}}
)"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  EXPECT_EQ(r.spec->condition.kind, ConditionSpec::Kind::kDropFromBest);
  EXPECT_EQ(r.spec->condition.margin, 0.05);
  EXPECT_TRUE(r.spec->condition.relative);
  EXPECT_EQ(r.spec->cooldown_ms, 2 * 86'400'000);
  EXPECT_EQ(r.spec->aggregate.min_points, 1);
  EXPECT_EQ(Summary(*r.spec),
            "min(auc) over the last 5 points drops from its best by more than 0.05 x |best|, "
            "cooldown 2d -> retrain trial from study s");

  r = Load(Doc(R"(  watch: {model: {project: fraud, metric: auc, goal: minimize}}
  condition:
    dropFromBest: {margin: 0}
  action: {retrainTrial: {study: s}}
)"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  EXPECT_EQ(r.spec->condition.margin, 0);
  EXPECT_FALSE(r.spec->condition.relative);

  r = Load(Doc(R"(  watch: {model: {project: fraud, metric: auc}}
  condition:
    schedule:
      every: 24h
  action: {retrainTrial: {study: s}}
)"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  EXPECT_EQ(r.spec->condition.kind, ConditionSpec::Kind::kSchedule);
  EXPECT_EQ(r.spec->condition.every_ms, 86'400'000);
  EXPECT_EQ(r.spec->condition.cron, "");
  EXPECT_TRUE(r.diags.empty()) << Dump(r.diags);
}

TEST(LoadTrigger, ScheduleShorterThanCooldownWarns) {
  Loaded r = Load(Doc(R"(  condition:
    schedule: {every: 30m}
  action: {retrainTrial: {study: s}}
)"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  ASSERT_EQ(r.diags.size(), 1u) << Dump(r.diags);
  EXPECT_EQ(r.diags[0].ToString(),
            "trigger.yaml:7:23: warning: spec.condition.schedule.every: the schedule (every 30m) "
            "is shorter than the cooldown (1h); the trigger fires at most once per cooldown");
}

const char kInlineStudy[] = R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: retrain
spec:
  watch:
    model: {project: fraud, metric: auc, goal: maximize}
  condition:
    dropFromBest: {margin: 0.02}
  action:
    submitStudy:
      # the study to run
      study:
        apiVersion: kubeflow.org/v1beta1
        kind: Experiment
        metadata:
          name: exp
        spec:
          objective:
            type: maximize
            objectiveMetricName: accuracy
          algorithm:
            algorithmName: random
          parameters:
            - name: lr
              parameterType: double
              feasibleSpace: {min: "0.01", max: "0.1"}
          trialTemplate:
            primaryContainerName: main
            trialParameters:
              - name: lr
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
          # a comment
                        command: ["sh", "-c", "echo ${trialParameters.lr}"]

      warmStartFrom: [old]
)";

TEST(LoadTrigger, InlineStudyKeepsItsText) {
  Loaded r = Load(kInlineStudy);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  const ActionSpec& a = r.spec->action;
  EXPECT_EQ(a.kind, ActionSpec::Kind::kSubmitStudy);
  EXPECT_EQ(a.file, "");
  EXPECT_EQ(a.study_yaml_line, 14);
  EXPECT_EQ(a.study_yaml_indent, 8);
  EXPECT_EQ(a.warm_start_from, std::vector<std::string>{"old"});
  EXPECT_EQ(a.study_yaml, R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: exp
spec:
  objective:
    type: maximize
    objectiveMetricName: accuracy
  algorithm:
    algorithmName: random
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.01", max: "0.1"}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: lr
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
  # a comment
                command: ["sh", "-c", "echo ${trialParameters.lr}"]
)");
  EXPECT_EQ(Summary(*r.spec),
            "auc drops from its best by more than 0.02, cooldown 1h -> submit the inline study "
            "(warm start from old)");
  // The kept text is a study that loads.
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> study = LoadStudyText(a.study_yaml, "inline.yaml", &diags);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->name, "exp");
}

TEST(LoadTrigger, InlineStudyErrorsPointIntoTheTriggerFile) {
  std::string text = kInlineStudy;
  text.replace(text.find("\"0.01\""), 6, "\"abc\"");
  Loaded r = Load(text);
  EXPECT_EQ(OnlyError(r),
            "trigger.yaml:27:36: error: "
            "spec.action.submitStudy.study.spec.parameters[0].feasibleSpace.min: must be a "
            "number, got \"abc\"");
}

TEST(LoadTrigger, FlowStyleInlineStudyIsReEmitted) {
  const std::string text = Doc(R"(  condition: {schedule: {every: 1d}}
  action:
    submitStudy:
      study: {apiVersion: kubeflow.org/v1beta1, kind: Experiment, metadata: {name: exp},
        spec: {objective: {type: maximize, objectiveMetricName: accuracy},
          algorithm: {algorithmName: random},
          parameters: [{name: lr, parameterType: double, feasibleSpace: {min: "0.01", max: "0.1"}}],
          trialTemplate: {primaryContainerName: main, trialParameters: [{name: lr, reference: lr}],
            trialSpec: {apiVersion: batch/v1, kind: Job, spec: {template: {spec: {containers: [
              {name: main, image: busybox, command: ["sh", "-c", "echo ${trialParameters.lr}"]}]}}}}}}}
)");
  Loaded r = Load(text);
  ASSERT_TRUE(r.spec.ok()) << r.spec.status() << "\n" << Dump(r.diags);
  const ActionSpec& a = r.spec->action;
  EXPECT_EQ(a.study_yaml_line, 0);
  EXPECT_EQ(a.study_yaml_indent, 0);
  EXPECT_TRUE(absl::StrContains(a.study_yaml, "min: \"0.01\"")) << a.study_yaml;
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> study = LoadStudyText(a.study_yaml, "inline.yaml", &diags);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->space.params.size(), 1u);

  // Errors in a re-emitted study point at the study field, with the place in the emitted text.
  std::string bad = text;
  bad.replace(bad.find("\"0.01\""), 6, "\"abc\"");
  r = Load(bad);
  std::string error = OnlyError(r);
  EXPECT_TRUE(
      absl::StartsWith(error,
                       "trigger.yaml:9:14: error: "
                       "spec.action.submitStudy.study.spec.parameters[0].feasibleSpace.min: "
                       "(line "))
      << error;
  EXPECT_TRUE(absl::EndsWith(error, "of the study as re-emitted) must be a number, got \"abc\""))
      << error;
}

TEST(LoadTrigger, FromAFile) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "hpt_trigger_file";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "t.yaml").string();
  std::ofstream(path) << Doc(
      "  condition: {schedule: {every: 1d}}\n"
      "  action: {submitStudy: {file: hpo.yaml}}\n");
  std::vector<Diagnostic> diags;
  absl::StatusOr<TriggerSpec> t = LoadTriggerFile(path, &diags);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->file, path);
  EXPECT_EQ(t->action.resolved_file, (dir / "hpo.yaml").string());

  diags.clear();
  t = LoadTriggerFile((dir / "missing.yaml").string(), &diags);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].file, (dir / "missing.yaml").string());
  std::filesystem::remove_all(dir);
}

// ---- The document.

TEST(LoadTriggerErrors, Document) {
  EXPECT_EQ(OnlyError(Load("")),
            "trigger.yaml: error: the file holds no YAML document; a trigger file holds "
            "apiVersion hpt.dev/v1 and kind RetrainTrigger");
  EXPECT_EQ(OnlyError(Load("- a\n- b\n")),
            "trigger.yaml:1:1: error: a trigger must be a map with apiVersion, kind, metadata and "
            "spec, got a list");
  EXPECT_EQ(OnlyError(Load("a: [\n")).substr(0, 22), "trigger.yaml:2:1: erro");
  EXPECT_EQ(OnlyError(Load(Doc("  condition: {schedule: {every: 1d}}\n"
                               "  action: {retrainTrial: {study: s}}\n") +
                           "---\nkind: Other\n")),
            "trigger.yaml:9:1: error: a second document (the first starts at line 1); a trigger "
            "file holds one RetrainTrigger");
  EXPECT_EQ(OnlyError(Load("metadata: {name: t}\n")),
            "trigger.yaml:1:1: error: apiVersion and kind are missing; a trigger file holds "
            "apiVersion hpt.dev/v1 and kind RetrainTrigger");
  EXPECT_EQ(OnlyError(Load("kind: RetrainTrigger\n")),
            "trigger.yaml:1:1: error: apiVersion: is required (hpt.dev/v1)");
}

TEST(LoadTriggerErrors, WrongKindOrApiVersion) {
  EXPECT_EQ(OnlyError(Load("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n")),
            "trigger.yaml:2:7: error: kind: apiVersion \"kubeflow.org/v1beta1\" with kind "
            "\"Experiment\" is not a trigger (this is a study: run it with `hpt submit`, or name "
            "it in action.submitStudy); a trigger file holds apiVersion hpt.dev/v1 and kind "
            "RetrainTrigger");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: Trigger\n")),
            "trigger.yaml:2:7: error: kind: apiVersion \"hpt.dev/v1\" with kind \"Trigger\" is "
            "not a trigger; a trigger file holds apiVersion hpt.dev/v1 and kind RetrainTrigger");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v2\nkind: RetrainTrigger\n")),
            "trigger.yaml:1:13: error: apiVersion: must be \"hpt.dev/v1\" for kind "
            "RetrainTrigger, got \"hpt.dev/v2\"");
}

TEST(LoadTriggerErrors, UnknownKeysAreErrors) {
  Loaded r = Load(R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
status: {}
metadata:
  name: t
  uid: abc
spec:
  watch: {model: {project: p, metric: m, gaol: maximize}}
  conditon:
    below: 1
  action: {retrainTrial: {study: s, params: {}}}
)");
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Errors(r),
            (std::vector<std::string>{
                "trigger.yaml:3:1: error: status: unknown key \"status\"; allowed keys: "
                "apiVersion, kind, metadata, spec",
                "trigger.yaml:6:3: error: metadata.uid: unknown key \"uid\"; allowed keys: name, "
                "namespace, labels, annotations",
                "trigger.yaml:7:1: error: spec.condition: is required (one of below, above, "
                "dropFromBest, newBest, schedule)",
                "trigger.yaml:8:42: error: spec.watch.model.gaol: unknown key \"gaol\"; allowed "
                "keys: project, experiment, name, metric, goal",
                "trigger.yaml:9:3: error: spec.conditon: unknown key \"conditon\"; allowed keys: "
                "watch, aggregate, condition, cooldown, action",
                "trigger.yaml:11:37: error: spec.action.retrainTrial.params: unknown key "
                "\"params\"; allowed keys: study",
            }))
      << Dump(r.diags);
  // The status lists every error.
  EXPECT_EQ(std::count(r.spec.status().message().begin(), r.spec.status().message().end(), '\n'),
            5);
}

// ---- metadata.

TEST(LoadTriggerErrors, Metadata) {
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nmetadata:\n"
                           "  namespace: default\nspec:\n"
                           "  condition: {schedule: {every: 1d}}\n"
                           "  action: {retrainTrial: {study: s}}\n")),
            "trigger.yaml:3:1: error: metadata.name: is required (the trigger's name)");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nmetadata:\n"
                           "  name: Fraud_1\nspec:\n"
                           "  condition: {schedule: {every: 1d}}\n"
                           "  action: {retrainTrial: {study: s}}\n")),
            "trigger.yaml:4:9: error: metadata.name: must be a DNS-1123 label: at most 63 "
            "lowercase letters, digits and '-', starting and ending with a letter or digit, got "
            "\"Fraud_1\"");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nmetadata:\n"
                           "  name: \"\"\nspec:\n"
                           "  condition: {schedule: {every: 1d}}\n"
                           "  action: {retrainTrial: {study: s}}\n")),
            "trigger.yaml:4:9: error: metadata.name: must not be empty (the trigger's name)");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nmetadata:\n"
                           "  name: t\n  namespace: My.NS\nspec:\n"
                           "  condition: {schedule: {every: 1d}}\n"
                           "  action: {retrainTrial: {study: s}}\n")),
            "trigger.yaml:5:14: error: metadata.namespace: must be a DNS-1123 label: at most 63 "
            "lowercase letters, digits and '-', starting and ending with a letter or digit, got "
            "\"My.NS\"");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nspec:\n"
                           "  condition: {schedule: {every: 1d}}\n"
                           "  action: {retrainTrial: {study: s}}\n")),
            "trigger.yaml:1:1: error: metadata: is required ({name, namespace, labels, "
            "annotations})");
  EXPECT_EQ(OnlyError(Load("apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nmetadata: {name: t}\n")),
            "trigger.yaml:1:1: error: spec: is required ({watch, aggregate, condition, cooldown, "
            "action})");
}

// ---- watch.

TEST(LoadTriggerErrors, Watch) {
  EXPECT_EQ(OnlyError(Load(Doc("  watch: {}\n"
                               "  condition: {below: 1}\n"
                               "  action: {retrainTrial: {study: s}}\n"))),
            "trigger.yaml:6:10: error: spec.watch: must hold exactly one of model, study (a "
            "deployed model's metric, or a study's best)");
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    model: {project: p, metric: m}\n"
                               "    study: {name: s}\n"
                               "  condition: {below: 1}\n"
                               "  action: {retrainTrial: {study: s}}\n"))),
            "trigger.yaml:8:5: error: spec.watch.study: only one of model, study may be given; "
            "model is given at line 7");
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    model: {experiment: prod, metric: \"\"}\n"
                               "  condition: {below: 1}\n"
                               "  action: {retrainTrial: {study: s}}\n"))),
            "want 1 error, got:\n"
            "  trigger.yaml:7:5: error: spec.watch.model.project: is required (the project the "
            "model reports under)\n"
            "  trigger.yaml:7:39: error: spec.watch.model.metric: must not be empty (the metric "
            "name the model reports)\n");
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    model: {project: p, metric: m, goal: up}\n"
                               "  condition: {below: 1}\n"
                               "  action: {retrainTrial: {study: s}}\n"))),
            "trigger.yaml:7:42: error: spec.watch.model.goal: must be maximize or minimize, got "
            "\"up\"");
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    study: fraud-hpo\n"
                               "  condition: {below: 1}\n"
                               "  action: {retrainTrial: {study: s}}\n"))),
            "trigger.yaml:7:12: error: spec.watch.study: must be a map, got \"fraud-hpo\"");
  EXPECT_EQ(OnlyError(Load(Doc("  condition: {below: 0.9}\n"
                               "  action: {retrainTrial: {study: s}}\n"))),
            "trigger.yaml:5:1: error: spec.watch: is required by condition below (line 6): "
            "watch.model (a deployed model's metric) or watch.study (a study's best objective); "
            "only a schedule needs no watch");
}

// ---- aggregate.

TEST(LoadTriggerErrors, Aggregate) {
  const std::string watch = "  watch: {model: {project: p, metric: m}}\n";
  const std::string rest = "  condition: {below: 1}\n  action: {retrainTrial: {study: s}}\n";
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  aggregate: {function: median}\n" + rest))),
            "trigger.yaml:7:25: error: spec.aggregate.function: must be last, mean, min or max, "
            "got \"median\"");
  EXPECT_EQ(
      OnlyError(Load(Doc(watch + "  aggregate: {window: {points: 5, duration: 1h}}\n" + rest))),
      "trigger.yaml:7:35: error: spec.aggregate.window.duration: only one of points, "
      "duration may be given; points is given at line 7");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  aggregate: {window: {}}\n" + rest))),
            "trigger.yaml:7:23: error: spec.aggregate.window: must hold exactly one of points, "
            "duration ({points: N} or {duration: 1h})");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  aggregate: {window: {points: 0}}\n" + rest))),
            "trigger.yaml:7:32: error: spec.aggregate.window.points: must be an integer between 1 "
            "and 1000000, got 0");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  aggregate: {window: {duration: 0s}}\n" + rest))),
            "trigger.yaml:7:34: error: spec.aggregate.window.duration: must be longer than 0, got "
            "\"0s\"");
  EXPECT_EQ(
      OnlyError(Load(Doc(watch + "  aggregate: {window: {points: 5}, minPoints: 6}\n" + rest))),
      "trigger.yaml:7:47: error: spec.aggregate.minPoints: must be at most window.points "
      "(5), got 6: a window of 5 points never holds that many");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  aggregate: {minPoints: 2}\n" + rest))),
            "trigger.yaml:7:26: error: spec.aggregate.minPoints: must be at most window.points "
            "(1), got 2: a window of 1 point never holds that many");
  // A duration window takes any minPoints.
  EXPECT_TRUE(Load(Doc(watch + "  aggregate: {window: {duration: 1h}, minPoints: 100}\n" + rest))
                  .spec.ok());
}

// ---- condition.

TEST(LoadTriggerErrors, TwoConditions) {
  Loaded r = Load(Doc(R"(  watch: {model: {project: p, metric: auc}}
  condition:
    below: 0.9
    above: 0.95
  action: {retrainTrial: {study: s}}
)"));
  EXPECT_EQ(OnlyError(r),
            "trigger.yaml:9:5: error: spec.condition.above: only one of below, above, "
            "dropFromBest, newBest, schedule may be given; below is given at line 8");
}

TEST(LoadTriggerErrors, ConditionValues) {
  const std::string watch = "  watch: {model: {project: p, metric: m, goal: maximize}}\n";
  const std::string action = "  action: {retrainTrial: {study: s}}\n";
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition: {}\n" + action))),
            "trigger.yaml:7:14: error: spec.condition: must hold exactly one of below, above, "
            "dropFromBest, newBest, schedule (the condition that fires the trigger)");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition: {below: abc}\n" + action))),
            "trigger.yaml:7:22: error: spec.condition.below: must be a number, got \"abc\"");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition:\n    above:\n" + action))),
            "trigger.yaml:8:5: error: spec.condition.above: must be a number, got null");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition: {dropFromBest: {margin: -0.1}}\n" + action))),
            "trigger.yaml:7:38: error: spec.condition.dropFromBest.margin: must be at least 0, "
            "got -0.1");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition: {dropFromBest: {relative: yes}}\n" + action))),
            "want 1 error, got:\n"
            "  trigger.yaml:7:15: error: spec.condition.dropFromBest.margin: is required (how far "
            "below the best (above, when minimizing) fires)\n"
            "  trigger.yaml:7:40: error: spec.condition.dropFromBest.relative: must be true or "
            "false, got \"yes\"\n");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition: {newBest: {since: 1d}}\n" + action))),
            "trigger.yaml:7:25: error: spec.condition.newBest.since: unknown key \"since\"; "
            "allowed keys: none (write newBest: {})");
  EXPECT_EQ(OnlyError(Load(Doc(watch + "  condition: {newBest: true}\n" + action))),
            "trigger.yaml:7:24: error: spec.condition.newBest: must be a map, got \"true\"");
}

TEST(LoadTriggerErrors, ConditionNeedsOfTheWatch) {
  const std::string action = "  action: {retrainTrial: {study: s}}\n";
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    model: {project: p, metric: auc}\n"
                               "  condition:\n"
                               "    dropFromBest: {margin: 0.02}\n" +
                               action))),
            "trigger.yaml:7:5: error: spec.watch.model.goal: is required by condition "
            "dropFromBest (line 9): maximize or minimize, to tell the best");
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    model:\n"
                               "      project: p\n"
                               "      metric: auc\n"
                               "  condition:\n"
                               "    newBest: {}\n" +
                               action))),
            "trigger.yaml:7:5: error: spec.watch.model.goal: is required by condition newBest "
            "(line 11): maximize or minimize, to tell the best");
  EXPECT_EQ(OnlyError(Load(Doc("  watch:\n"
                               "    study: {name: hpo}\n"
                               "  condition:\n"
                               "    dropFromBest: {margin: 0.02}\n" +
                               action))),
            "trigger.yaml:9:5: error: spec.condition.dropFromBest: needs watch.model: a study's "
            "best objective never drops (use below or above, or watch the deployed model's "
            "metric)");
}

TEST(LoadTriggerErrors, Schedule) {
  const std::string action = "  action: {retrainTrial: {study: s}}\n";
  // The column points into the expression: quoted, plain, and in block style.
  EXPECT_EQ(OnlyError(Load(Doc("  condition:\n"
                               "    schedule: {cron: \"0 3 * * MOX\"}\n" +
                               action))),
            "trigger.yaml:7:31: error: spec.condition.schedule.cron: invalid cron expression "
            "\"0 3 * * MOX\": column 9: day-of-week: unknown name \"MOX\" (allowed: 0-7 (0 and 7 "
            "are Sunday) or SUN-SAT); the form is \"minute hour day-of-month month day-of-week\" "
            "(UTC)");
  EXPECT_EQ(OnlyError(Load(Doc("  condition:\n"
                               "    schedule:\n"
                               "      cron: 0 24 * * *\n" +
                               action))),
            "trigger.yaml:8:15: error: spec.condition.schedule.cron: invalid cron expression "
            "\"0 24 * * *\": column 3: hour: value 24 is out of range (allowed: 0-23); the form "
            "is \"minute hour day-of-month month day-of-week\" (UTC)");
  EXPECT_EQ(OnlyError(Load(Doc("  condition:\n"
                               "    schedule: {cron: '0 0 30 2 *'}\n" +
                               action))),
            "trigger.yaml:7:27: error: spec.condition.schedule.cron: invalid cron expression "
            "\"0 0 30 2 *\": column 5: day-of-month: \"30\" never occurs in month \"2\" (February "
            "has at most 29 days; April, June, September and November 30), so the expression "
            "never matches; the form is \"minute hour day-of-month month day-of-week\" (UTC)");
  EXPECT_EQ(OnlyError(Load(Doc("  condition:\n"
                               "    schedule: {every: 1d, cron: \"@daily\"}\n" +
                               action))),
            "trigger.yaml:7:27: error: spec.condition.schedule.cron: only one of every, cron may "
            "be given; every is given at line 7");
  EXPECT_EQ(OnlyError(Load(Doc("  condition:\n"
                               "    schedule: {every: 0}\n" +
                               action))),
            "trigger.yaml:7:23: error: spec.condition.schedule.every: must be longer than 0, got "
            "\"0\"");
  EXPECT_EQ(OnlyError(Load(Doc("  condition:\n"
                               "    schedule:\n" +
                               action))),
            "trigger.yaml:7:5: error: spec.condition.schedule: is required ({every: 24h} or "
            "{cron: \"0 3 * * *\"})");
}

// ---- cooldown.

TEST(LoadTriggerErrors, Durations) {
  const std::string body =
      "  condition: {schedule: {every: 1d}}\n"
      "  action: {retrainTrial: {study: s}}\n";
  EXPECT_EQ(OnlyError(Load(Doc(body + "  cooldown: 5x\n"))),
            "trigger.yaml:8:13: error: spec.cooldown: must be a duration such as \"90s\", \"5m\", "
            "\"6h\", \"2d\", \"1h30m\" or a number of seconds, got \"5x\": unknown unit \"x\"; "
            "units are d, h, m, s, ms");
  EXPECT_EQ(OnlyError(Load(Doc(body + "  cooldown: -5m\n"))),
            "trigger.yaml:8:13: error: spec.cooldown: must be a duration such as \"90s\", \"5m\", "
            "\"6h\", \"2d\", \"1h30m\" or a number of seconds, got \"-5m\": must not be negative");
  EXPECT_EQ(OnlyError(Load(Doc(body + "  cooldown: [1h]\n"))),
            "trigger.yaml:8:13: error: spec.cooldown: must be a duration such as \"90s\", \"5m\", "
            "\"6h\", \"2d\", \"1h30m\" or a number of seconds, got a list");
}

// ---- action.

TEST(LoadTriggerErrors, Action) {
  const std::string model = "  watch: {model: {project: p, metric: m}}\n  condition: {below: 1}\n";
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action: {retrainTrial: {}}\n"))),
            "trigger.yaml:8:12: error: spec.action.retrainTrial.study: is required when the "
            "trigger does not watch a study (the champion is the best trial of this study; it "
            "defaults to spec.watch.study.name)");
  EXPECT_EQ(OnlyError(Load(Doc(model))),
            "trigger.yaml:5:1: error: spec.action: is required (retrainTrial or submitStudy)");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action: {}\n"))),
            "trigger.yaml:8:11: error: spec.action: must hold exactly one of retrainTrial, "
            "submitStudy (retrain with the champion's parameters, or submit a study)");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action:\n"
                                       "    retrainTrial: {study: s}\n"
                                       "    submitStudy: {file: a.yaml}\n"))),
            "trigger.yaml:10:5: error: spec.action.submitStudy: only one of retrainTrial, "
            "submitStudy may be given; retrainTrial is given at line 9");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action:\n"
                                       "    submitStudy: {file: a.yaml, study: {}}\n"))),
            "trigger.yaml:9:33: error: spec.action.submitStudy.study: only one of file, study may "
            "be given; file is given at line 9");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action:\n"
                                       "    submitStudy: {warmStartFrom: [a]}\n"))),
            "trigger.yaml:9:18: error: spec.action.submitStudy: must hold exactly one of file, "
            "study (a study file relative to this file, or an inline study document)");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action:\n"
                                       "    submitStudy: {file: a.yaml, warmStartFrom: old}\n"))),
            "trigger.yaml:9:48: error: spec.action.submitStudy.warmStartFrom: must be a list of "
            "strings, got \"old\"");
  EXPECT_EQ(
      OnlyError(Load(Doc(model + "  action:\n"
                                 "    submitStudy: {file: a.yaml, warmStartFrom: [a, \"\"]}\n"))),
      "trigger.yaml:9:52: error: spec.action.submitStudy.warmStartFrom[1]: must not be empty "
      "(a study name)");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action:\n"
                                       "    submitStudy: {study: [a]}\n"))),
            "trigger.yaml:9:26: error: spec.action.submitStudy.study: must be a study document (a "
            "map with apiVersion, kind, metadata and spec), got a list");
  EXPECT_EQ(OnlyError(Load(Doc(model + "  action:\n"
                                       "    submitStudy:\n"))),
            "trigger.yaml:9:5: error: spec.action.submitStudy: is required ({file} or {study}, and "
            "optionally warmStartFrom)");
}

TEST(LoadTriggerErrors, AllProblemsInOnePass) {
  Loaded r = Load(R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: Bad_Name
spec:
  watch:
    model: {project: fraud, metric: auc}
  aggregate: {function: avg, window: {points: 10}}
  condition:
    dropFromBest: {margin: 0.02}
  cooldown: 5x
  action: {retrainTrial: {}}
)");
  ASSERT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> errors = Errors(r);
  ASSERT_EQ(errors.size(), 5u) << Dump(r.diags);
  // As in docs/triggers.md.
  EXPECT_EQ(errors[0],
            "trigger.yaml:4:9: error: metadata.name: must be a DNS-1123 label: at most 63 "
            "lowercase letters, digits and '-', starting and ending with a letter or digit, got "
            "\"Bad_Name\"");
  EXPECT_EQ(errors[1],
            "trigger.yaml:7:5: error: spec.watch.model.goal: is required by condition "
            "dropFromBest (line 10): maximize or minimize, to tell the best");
  EXPECT_EQ(errors[2],
            "trigger.yaml:8:25: error: spec.aggregate.function: must be last, mean, min or max, "
            "got \"avg\"");
  EXPECT_EQ(errors[3],
            "trigger.yaml:11:13: error: spec.cooldown: must be a duration such as \"90s\", "
            "\"5m\", \"6h\", \"2d\", \"1h30m\" or a number of seconds, got \"5x\": unknown "
            "unit \"x\"; units are d, h, m, s, ms");
  EXPECT_EQ(errors[4],
            "trigger.yaml:12:12: error: spec.action.retrainTrial.study: is required when the "
            "trigger does not watch a study (the champion is the best trial of this study; it "
            "defaults to spec.watch.study.name)");
}

TEST(Names, GoalsAndFunctions) {
  EXPECT_EQ(GoalName(Goal::kMaximize), "maximize");
  EXPECT_EQ(GoalName(Goal::kMinimize), "minimize");
  EXPECT_EQ(GoalName(Goal::kUnspecified), "");
  EXPECT_EQ(FunctionName(AggregateFunction::kLast), "last");
  EXPECT_EQ(FunctionName(AggregateFunction::kMean), "mean");
  EXPECT_EQ(FunctionName(AggregateFunction::kMin), "min");
  EXPECT_EQ(FunctionName(AggregateFunction::kMax), "max");
}

}  // namespace
}  // namespace hpt::engine::trigger
