// StudyJob v1alpha1 (kubeflow.org/v1alpha1): the `spec` reader, Katib's defaults and checks.
// Key spelling is Katib's, mixed case included (`optimizationtype`, `suggestionSpec`, ...).
#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/spec/loader.h"

namespace hpt::engine::spec_internal {
namespace {

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr char kWorkerTemplateConfigMap[] = "worker-template";

void ReadWorkerSpec(LoadContext& ctx, const Field& field, TrialTemplateSpec* t) {
  Sink* sink = ctx.sink;
  if (!Require(sink, field, "{goTemplate: {rawTemplate or templatePath}}")) return;
  MapReader w(sink, field);
  if (!w.is_map()) return;
  Field retain = w.Get("retain");
  Field go_template = w.Get("goTemplate");
  w.ReportUnknown(false, "retain, goTemplate");
  if (std::optional<bool> r = ReadBool(sink, retain)) t->retain = *r;

  if (!Require(sink, go_template, "{rawTemplate or templatePath}")) return;
  MapReader g(sink, go_template);
  if (!g.is_map()) return;
  Field raw = g.Get("rawTemplate");
  Field path = g.Get("templatePath");
  g.ReportUnknown(false, "rawTemplate, templatePath");
  std::optional<std::string> raw_text = ReadString(sink, raw);
  std::optional<std::string> path_text = ReadString(sink, path);

  if (raw_text && !raw_text->empty()) {
    // Katib uses rawTemplate whenever it is not empty.
    t->source = *raw_text;
    t->source_name = sink->file();
    t->source_line = ScalarTextLine(raw.node, ctx.text);
    if (path_text && !path_text->empty()) {
      sink->Warning(path.key_loc, path.path,
                    "is ignored: rawTemplate is set and takes precedence (as in Katib)");
    }
  } else if (path_text && !path_text->empty()) {
    if (auto e = ctx.config_maps->Find(kWorkerTemplateConfigMap, "", *path_text, path)) {
      t->source = std::move(e->text);
      t->source_name = std::move(e->file);
      t->source_line = e->line;
    }
  } else if (!raw && !path) {
    sink->Error(g.loc(), g.path(),
                "needs rawTemplate (the worker template inline) or templatePath (a key of "
                "ConfigMap worker-template)");
  } else {
    const Field& empty = raw ? raw : path;
    if (empty.node.IsScalar()) {
      sink->Error(empty.loc, empty.path,
                  "is empty; give the worker template inline (rawTemplate) or a key of ConfigMap "
                  "worker-template (templatePath)");
    }
  }
  // v1alpha1 names no success conditions; use the defaults of the template's kind when known.
  if (!t->source.empty()) ApplyConditionDefaults(TemplateKind(t->source), t);
}

// suggestionSpec -> algorithm, request_number.
void ReadSuggestionSpec(Sink* sink, const Field& field, StudySpec* out) {
  if (!field) {
    sink->Error(field.key_loc, field.path,
                "No Spec.SuggestionSpec specified. spec.suggestionSpec is required: "
                "{suggestionAlgorithm, requestNumber, suggestionParameters}");
    return;
  }
  MapReader s(sink, field);
  Field algorithm = s.Get("suggestionAlgorithm");
  Field request_number = s.Get("requestNumber");
  Field parameters = s.Get("suggestionParameters");
  s.ReportUnknown(false, "suggestionAlgorithm, requestNumber, suggestionParameters");
  if (!s.is_map()) return;

  out->algorithm.name = ReadString(sink, algorithm).value_or("");
  if (out->algorithm.name.empty()) out->algorithm.name = "random";  // Katib's default
  out->algorithm.settings = ReadSettings(sink, parameters);
  if (out->algorithm.name == "grid" && out->algorithm.Find("DefaultGrid") == nullptr) {
    out->algorithm.settings.emplace_back("DefaultGrid", "1");
  }

  int64_t n = 0;
  if (std::optional<int64_t> v = ReadInt(sink, request_number, kInt32Min, kInt32Max)) {
    if (*v < 0) {
      sink->Error(request_number.loc, request_number.path,
                  absl::StrCat("must be >= 0 (trials per round), got ", *v));
    } else {
      n = *v;
    }
  }
  // Rounds of requestNumber trials. For grid, 0 means "every grid point": the round size stays 0
  // and trials then run one at a time. Otherwise 0 means one trial per round.
  if (n > 0) {
    out->request_number = static_cast<int>(n);
  } else {
    out->request_number = out->algorithm.name == "grid" ? 0 : 1;
  }
  out->parallel_trial_count = std::max(out->request_number, 1);
}

}  // namespace

void ReadStudyJobV1alpha1(LoadContext& ctx, MapReader& spec, StudySpec* out) {
  Sink* sink = ctx.sink;
  out->objective.goal_inclusive = false;
  out->resume_policy = "Never";

  Field study_name = spec.Get("studyName");
  Field owner = spec.Get("owner");
  Field optimization_type = spec.Get("optimizationtype");
  Field goal = spec.Get("optimizationgoal");
  Field objective = spec.Get("objectivevaluename");
  Field metrics = spec.Get("metricsnames");
  Field request_count = spec.Get("requestcount");
  Field parameters = spec.Get("parameterconfigs");
  Field worker = spec.Get("workerSpec");
  Field suggestion = spec.Get("suggestionSpec");
  Field early_stopping = spec.Get("earlyStoppingSpec");
  Field collector = spec.Get("metricsCollectorSpec");
  Field nas = spec.Get("nasConfig");
  spec.ReportUnknown(false,
                     "studyName, owner, optimizationtype, optimizationgoal, objectivevaluename, "
                     "metricsnames, requestcount, parameterconfigs, workerSpec, suggestionSpec, "
                     "earlyStoppingSpec, metricsCollectorSpec, nasConfig, hpt");

  out->study_name = ReadString(sink, study_name).value_or("");
  out->owner = ReadString(sink, owner).value_or("");

  ObjectiveSpec& o = out->objective;
  if (Require(sink, optimization_type, "minimize or maximize")) {
    if (std::optional<std::string> s = ReadString(sink, optimization_type)) {
      if (*s == "minimize" || *s == "maximize") {
        o.maximize = *s == "maximize";
      } else {
        sink->Error(optimization_type.loc, optimization_type.path,
                    absl::StrCat("must be minimize or maximize, got ", Quote(*s)));
      }
    }
  }
  if (std::optional<double> g = ReadNumber(sink, goal)) o.goal = *g;
  if (Require(sink, objective, "the name of the metric to optimize, e.g. Validation-accuracy")) {
    if (std::optional<std::string> s = ReadString(sink, objective)) {
      if (s->empty()) sink->Error(objective.loc, objective.path, "must not be empty");
      o.metric = *s;
    }
  }
  // The objective is collected even when metricsnames omits it; listing it there is harmless.
  for (const Field& item : ReadList(sink, metrics)) {
    std::optional<std::string> s;
    if (item.present) s = ReadString(sink, item);
    if (!item.present || (s && s->empty())) {
      sink->Error(item.loc, item.path, "must be a metric name");
      continue;
    }
    if (!s || *s == o.metric) continue;
    if (std::find(o.additional_metrics.begin(), o.additional_metrics.end(), *s) !=
        o.additional_metrics.end()) {
      sink->Warning(item.loc, item.path, absl::StrCat("metric ", Quote(*s), " is listed twice"));
      continue;
    }
    o.additional_metrics.push_back(*s);
  }
  // v1alpha1 keeps the last value a worker reported.
  o.strategies[o.metric] = MetricStrategy::kLatest;
  for (const std::string& m : o.additional_metrics) o.strategies[m] = MetricStrategy::kLatest;

  if (nas) {
    sink->Unsupported(nas.key_loc, nas.path,
                      "neural architecture search (spec.nasConfig); describe a hyperparameter "
                      "search with spec.parameterconfigs");
    if (parameters) {
      sink->Error(nas.key_loc, spec.path(), "set either parameterconfigs or nasConfig, not both");
    }
  } else if (Require(sink, parameters, "a list of {name, parametertype, feasible}")) {
    if (parameters.node.IsSequence() && parameters.node.size() == 0) {
      sink->Error(parameters.loc, parameters.path, "must list at least one parameter");
    }
  }
  ReadParameters(sink, parameters, {"parametertype", "feasible", false}, &out->space);

  ReadWorkerSpec(ctx, worker, &out->trial_template);
  ReadSuggestionSpec(sink, suggestion, out);

  int64_t rounds = 0;
  if (std::optional<int64_t> v = ReadInt(sink, request_count, kInt32Min, kInt32Max)) {
    if (*v < 0) {
      sink->Error(
          request_count.loc, request_count.path,
          absl::StrCat("must be >= 0 (0: rounds until the algorithm has no more), got ", *v));
    } else {
      rounds = *v;
    }
  }
  out->request_count = static_cast<int>(rounds);
  if (rounds > 0 && out->request_number > 0) {
    int64_t total = rounds * out->request_number;
    if (total > kInt32Max) {
      sink->Error(request_count.loc, request_count.path,
                  absl::StrCat("requestcount × requestNumber = ", total,
                               " trials is more than hpt counts (", kInt32Max, ")"));
    } else {
      out->max_trial_count = static_cast<int>(total);
    }
  }

  if (early_stopping) {
    MapReader es(sink, early_stopping);
    Field algorithm = es.Get("earlyStoppingAlgorithm");
    Field settings = es.Get("earlyStoppingParameters");
    es.ReportUnknown(false, "earlyStoppingAlgorithm, earlyStoppingParameters");
    ReadString(sink, algorithm);
    ReadSettings(sink, settings);
    sink->Warning(early_stopping.key_loc, early_stopping.path,
                  "is ignored: Katib's v1alpha1 controller does not use it either; every trial "
                  "runs to the end");
  }
  if (collector) {
    sink->Unsupported(collector.key_loc, collector.path,
                      "a custom v1alpha1 metrics collector (spec.metricsCollectorSpec, a CronJob "
                      "template); hpt collects name=value lines from the trial's stdout and "
                      "metrics reported over gRPC by itself: remove spec.metricsCollectorSpec");
  }
}

}  // namespace hpt::engine::spec_internal
