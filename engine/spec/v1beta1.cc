// Experiment v1beta1 (kubeflow.org/v1beta1): the `spec` reader, Katib's defaults and checks.
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/spec/loader.h"
#include "re2/re2.h"

namespace hpt::engine::spec_internal {
namespace {

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr char kDefaultMetricsFile[] = "/var/log/katib/metrics.log";
constexpr char kCollectorAlternatives[] =
    "print name=value lines to stdout (collector kind StdOut), write them to a file (File), or "
    "report them over gRPC (Push)";

void ReadObjective(Sink* sink, const Field& field, ObjectiveSpec* o) {
  if (!Require(sink, field,
               "{type, objectiveMetricName, goal, additionalMetricNames, metricStrategies}")) {
    return;
  }
  MapReader m(sink, field);
  if (!m.is_map()) return;
  Field type = m.Get("type");
  Field goal = m.Get("goal");
  Field metric = m.Get("objectiveMetricName");
  Field extra = m.Get("additionalMetricNames");
  Field strategies = m.Get("metricStrategies");
  m.ReportUnknown(false,
                  "type, goal, objectiveMetricName, additionalMetricNames, metricStrategies");

  MetricStrategy by_type = MetricStrategy::kLatest;  // Katib's choice for an unknown type
  if (Require(sink, type, "minimize or maximize")) {
    if (std::optional<std::string> s = ReadString(sink, type)) {
      if (*s == "minimize") {
        o->maximize = false;
        by_type = MetricStrategy::kMin;
      } else if (*s == "maximize") {
        o->maximize = true;
        by_type = MetricStrategy::kMax;
      } else {
        sink->Error(type.loc, type.path,
                    absl::StrCat("must be minimize or maximize, got ", Quote(*s)));
      }
    }
  }
  if (std::optional<double> g = ReadNumber(sink, goal)) o->goal = *g;
  if (Require(sink, metric, "the name of the metric to optimize, e.g. loss")) {
    if (std::optional<std::string> s = ReadString(sink, metric)) {
      if (s->empty()) sink->Error(metric.loc, metric.path, "must not be empty");
      o->metric = *s;
    }
  }
  for (const Field& item : ReadList(sink, extra)) {
    std::optional<std::string> s;
    if (item.present) s = ReadString(sink, item);
    if (!item.present || (s && s->empty())) {
      sink->Error(item.loc, item.path, "must be a metric name");
      continue;
    }
    if (!s) continue;
    if (*s == o->metric) {
      sink->Error(item.loc, item.path,
                  absl::StrCat("must not repeat the objective metric ", Quote(*s),
                               " (the objective is always collected)"));
      continue;
    }
    if (std::find(o->additional_metrics.begin(), o->additional_metrics.end(), *s) !=
        o->additional_metrics.end()) {
      sink->Error(item.loc, item.path, absl::StrCat("metric ", Quote(*s), " is listed twice"));
      continue;
    }
    o->additional_metrics.push_back(*s);
  }

  std::vector<std::string> known;
  if (!o->metric.empty()) known.push_back(o->metric);
  known.insert(known.end(), o->additional_metrics.begin(), o->additional_metrics.end());
  for (const Field& item : ReadList(sink, strategies)) {
    if (!item.present) {
      sink->Error(item.loc, item.path, "must be {name, value}, got null");
      continue;
    }
    MapReader s(sink, item);
    if (!s.is_map()) continue;
    Field name = s.Get("name");
    Field value = s.Get("value");
    s.ReportUnknown(false, "name, value");
    std::optional<std::string> n;
    if (Require(sink, name, "the metric's name")) n = ReadString(sink, name);
    std::optional<MetricStrategy> strategy;
    if (Require(sink, value, "min, max or latest")) {
      if (std::optional<std::string> v = ReadString(sink, value)) {
        if (*v == "min") {
          strategy = MetricStrategy::kMin;
        } else if (*v == "max") {
          strategy = MetricStrategy::kMax;
        } else if (*v == "latest") {
          strategy = MetricStrategy::kLatest;
        } else {
          sink->Error(value.loc, value.path,
                      absl::StrCat("must be min, max or latest, got ", Quote(*v)));
        }
      }
    }
    if (!n) continue;
    if (std::find(known.begin(), known.end(), *n) == known.end()) {
      sink->Error(name.loc, name.path,
                  absl::StrCat("names no metric of this study: ", Quote(*n), "; known metrics: ",
                               absl::StrJoin(known, ", "), " (add it to additionalMetricNames)"));
      continue;
    }
    if (o->strategies.count(*n) > 0) {
      sink->Error(name.loc, name.path,
                  absl::StrCat("metric ", Quote(*n), " has a strategy already"));
      continue;
    }
    if (strategy) o->strategies[*n] = *strategy;
  }
  // Katib's default: the objective and every additional metric without an explicit strategy get
  // min (minimize) or max (maximize).
  for (const std::string& name : known) o->strategies.emplace(name, by_type);
}

void ReadAlgorithm(Sink* sink, const Field& field, suggest::AlgorithmSpec* a) {
  if (!Require(sink, field, "{algorithmName, algorithmSettings}")) return;
  MapReader m(sink, field);
  if (!m.is_map()) return;
  Field name = m.Get("algorithmName");
  Field settings = m.Get("algorithmSettings");
  m.ReportUnknown(false, "algorithmName, algorithmSettings");
  if (Require(sink, name, "e.g. random, grid, bayesianoptimization")) {
    if (std::optional<std::string> s = ReadString(sink, name)) {
      if (s->empty()) sink->Error(name.loc, name.path, "must not be empty");
      a->name = *s;
    }
  }
  a->settings = ReadSettings(sink, settings);
}

void ReadEarlyStopping(Sink* sink, const Field& field, StudySpec* out) {
  if (!field) return;
  MapReader m(sink, field);
  if (!m.is_map()) return;
  Field name = m.Get("algorithmName");
  Field settings = m.Get("algorithmSettings");
  m.ReportUnknown(false, "algorithmName, algorithmSettings");
  EarlyStoppingSpec es;
  if (Require(sink, name, "e.g. medianstop")) es.algorithm = ReadString(sink, name).value_or("");
  es.settings = ReadSettings(sink, settings);
  if (es.algorithm != "medianstop") {
    sink->Unsupported(name.loc, name.path,
                      absl::StrCat("early stopping algorithm ", Quote(es.algorithm),
                                   " (supported: medianstop); remove spec.earlyStopping to run "
                                   "every trial to the end"));
    return;
  }
  const Loc at = settings ? settings.loc : name.loc;
  const std::string path = settings ? settings.path : name.path;
  for (const auto& [key, value] : es.settings) {
    int64_t n = 0;
    if (key == "min_trials_required" || key == "start_step") {
      if (!absl::SimpleAtoi(value, &n) || n < 1 || n > 1000000) {
        sink->Error(
            at, path,
            absl::StrCat(key, " must be a whole number from 1 to 1000000, got ", Quote(value)));
        continue;
      }
      (key == "min_trials_required" ? es.min_trials_required : es.start_step) = static_cast<int>(n);
    } else if (key == "rule") {
      if (value != "katib" && value != "optuna") {
        sink->Error(at, path,
                    absl::StrCat("rule must be katib (Katib's medianstop) or optuna (Optuna's "
                                 "MedianPruner), got ",
                                 Quote(value)));
        continue;
      }
      es.rule = value;
    } else {
      sink->Error(at, path,
                  absl::StrCat("unknown medianstop setting ", Quote(key),
                               "; allowed: min_trials_required, start_step, rule"));
    }
  }
  out->early_stopping = std::move(es);
}

// Checks one filter.metricsFormat regex: RE2 syntax (Go's) and two capture groups.
void CheckMetricsFormat(Sink* sink, const Field& item, const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  if (!re.ok()) {
    sink->Error(item.loc, item.path,
                absl::StrCat("is not a valid regular expression: ", re.error(), " (in ",
                             Quote(pattern), ")"));
    return;
  }
  if (re.NumberOfCapturingGroups() < 2) {
    sink->Error(item.loc, item.path,
                absl::StrCat("must have at least 2 capture groups (group 1 the metric name, "
                             "group 2 the value), has ",
                             re.NumberOfCapturingGroups(), ": ", Quote(pattern)));
  }
}

void ReadCollector(Sink* sink, const Field& field, MetricsCollectorSpec* mc) {
  MapReader m(sink, field);
  Field source = m.Get("source");
  Field collector = m.Get("collector");
  m.ReportUnknown(false, "source, collector");

  MapReader src(sink, source);
  Field http_get = src.Get("httpGet");
  Field fs_path = src.Get("fileSystemPath");
  Field filter = src.Get("filter");
  src.ReportUnknown(false, "httpGet, fileSystemPath, filter");

  MapReader fsp(sink, fs_path);
  Field path = fsp.Get("path");
  Field path_kind = fsp.Get("kind");
  Field format = fsp.Get("format");
  fsp.ReportUnknown(false, "path, kind, format");

  MapReader flt(sink, filter);
  Field formats = flt.Get("metricsFormat");
  flt.ReportUnknown(false, "metricsFormat");

  MapReader col(sink, collector);
  Field kind = col.Get("kind");
  Field custom = col.Get("customCollector");
  col.ReportUnknown(false, "kind, customCollector");

  std::string kind_name = "StdOut";
  if (std::optional<std::string> k = ReadString(sink, kind)) kind_name = *k;
  if (kind_name == "StdOut") {
    mc->kind = CollectorKind::kStdOut;
  } else if (kind_name == "File") {
    mc->kind = CollectorKind::kFile;
  } else if (kind_name == "Push") {
    mc->kind = CollectorKind::kPush;
  } else if (kind_name == "TensorFlowEvent" || kind_name == "PrometheusMetric" ||
             kind_name == "Custom") {
    mc->kind = kind_name == "Custom"            ? CollectorKind::kCustom
               : kind_name == "TensorFlowEvent" ? CollectorKind::kTensorFlowEvent
                                                : CollectorKind::kPrometheusMetric;
    sink->Unsupported(
        kind.loc, kind.path,
        absl::StrCat("the ", kind_name, " metrics collector; ", kCollectorAlternatives));
    return;
  } else {
    sink->Error(kind.loc, kind.path,
                absl::StrCat("must be one of StdOut, File, TensorFlowEvent, PrometheusMetric, "
                             "Custom, Push, got ",
                             Quote(kind_name)));
    return;
  }

  if (custom) {
    sink->Warning(
        custom.key_loc, custom.path,
        absl::StrCat("is ignored: it is used only by the Custom collector, not ", kind_name));
  }
  if (http_get) {
    sink->Warning(
        http_get.key_loc, http_get.path,
        absl::StrCat("is ignored: it is used only by the PrometheusMetric collector, not ",
                     kind_name));
  }
  if (mc->kind != CollectorKind::kFile && fs_path) {
    sink->Warning(fs_path.key_loc, fs_path.path,
                  absl::StrCat("is ignored by the ", kind_name, " collector"));
  }

  if (mc->kind == CollectorKind::kFile) {
    // Katib's defaults: kind File, path /var/log/katib/metrics.log, format TEXT.
    mc->file_path = kDefaultMetricsFile;
    mc->file_format = "TEXT";
    if (std::optional<std::string> k = ReadString(sink, path_kind); k && *k != "File") {
      sink->Error(path_kind.loc, path_kind.path,
                  absl::StrCat("must be File for the File collector, got ", Quote(*k)));
    }
    if (std::optional<std::string> p = ReadString(sink, path)) {
      if (p->empty() || p->front() != '/') {
        sink->Error(path.loc, path.path,
                    absl::StrCat("must be an absolute path (starting with /), got ", Quote(*p)));
      }
      mc->file_path = *p;
    }
    if (std::optional<std::string> f = ReadString(sink, format)) {
      if (*f != "TEXT" && *f != "JSON") {
        sink->Error(format.loc, format.path, absl::StrCat("must be TEXT or JSON, got ", Quote(*f)));
      }
      mc->file_format = *f;
      if (*f == "JSON" && filter) {
        sink->Error(filter.key_loc, filter.path,
                    "must be absent when the file format is JSON (JSON lines are read by key, not "
                    "by regex)");
      }
    }
  }

  if (formats) {
    if (!formats.node.IsSequence()) {
      sink->Error(
          formats.loc, formats.path,
          absl::StrCat("must be a list of regular expressions, got ", Describe(formats.node)));
    } else {
      for (const Field& item : ReadList(sink, formats)) {
        std::optional<std::string> s;
        if (item.present) s = ReadString(sink, item);
        if (!item.present || (s && s->empty())) {
          sink->Error(item.loc, item.path,
                      "must be a regular expression with 2 groups (name, value)");
          continue;
        }
        if (!s) continue;
        CheckMetricsFormat(sink, item, *s);
        mc->metrics_format.push_back(*s);
      }
    }
  }
  if (mc->kind == CollectorKind::kPush && filter) {
    sink->Warning(filter.key_loc, filter.path,
                  "is ignored by the Push collector (metrics arrive already named)");
  }
}

void ReadTrialParameters(Sink* sink, const Field& field, TrialTemplateSpec* t) {
  if (!Require(sink, field, "a list of {name, reference, description}; it may be empty: []")) {
    return;
  }
  std::map<std::string, int> names, references;
  for (const Field& item : ReadList(sink, field)) {
    if (!item.present) {
      sink->Error(item.loc, item.path, "must be {name, reference, description}, got null");
      continue;
    }
    MapReader m(sink, item);
    if (!m.is_map()) continue;
    Field name = m.Get("name");
    Field description = m.Get("description");
    Field reference = m.Get("reference");
    m.ReportUnknown(false, "name, description, reference");
    TrialParameterSpec p;
    if (Require(sink, name, "used in the template as ${trialParameters.<name>}")) {
      if (std::optional<std::string> s = ReadString(sink, name)) {
        if (s->empty()) {
          sink->Error(name.loc, name.path, "must not be empty");
        } else if (s->find_first_of("{}") != std::string::npos) {
          sink->Error(name.loc, name.path,
                      absl::StrCat("must not contain { or }, got ", Quote(*s)));
        } else if (auto [it, inserted] = names.emplace(*s, name.loc.line); !inserted) {
          sink->Error(name.loc, name.path,
                      absl::StrCat("duplicate trial parameter name ", Quote(*s), " (first at line ",
                                   it->second, ")"));
        }
        p.name = *s;
      }
    }
    if (Require(sink, reference,
                "a parameter name from spec.parameters, or ${trialSpec.Name} etc.")) {
      if (std::optional<std::string> s = ReadString(sink, reference)) {
        if (s->empty()) {
          sink->Error(reference.loc, reference.path, "must not be empty");
        } else if (auto [it, inserted] = references.emplace(*s, reference.loc.line); !inserted) {
          sink->Error(reference.loc, reference.path,
                      absl::StrCat("duplicate reference ", Quote(*s), " (first at line ",
                                   it->second, "); each trial parameter needs its own reference"));
        }
        p.reference = *s;
      }
    }
    p.description = ReadString(sink, description).value_or("");
    t->trial_parameters.push_back(std::move(p));
  }
}

void ReadTrialTemplate(LoadContext& ctx, const Field& field, TrialTemplateSpec* t) {
  Sink* sink = ctx.sink;
  if (!Require(sink, field,
               "{primaryContainerName, trialParameters, and trialSpec or configMap}")) {
    return;
  }
  MapReader m(sink, field);
  if (!m.is_map()) return;
  Field retain = m.Get("retain");
  Field trial_spec = m.Get("trialSpec");
  Field config_map = m.Get("configMap");
  Field params = m.Get("trialParameters");
  Field primary = m.Get("primaryContainerName");
  Field labels = m.Get("primaryPodLabels");
  Field success = m.Get("successCondition");
  Field failure = m.Get("failureCondition");
  m.ReportUnknown(false,
                  "retain, trialSpec, configMap, trialParameters, primaryContainerName, "
                  "primaryPodLabels, successCondition, failureCondition");

  if (std::optional<bool> r = ReadBool(sink, retain)) t->retain = *r;

  std::string kind;  // the workload's kind, for the default conditions
  if (trial_spec && config_map) {
    sink->Error(config_map.key_loc, config_map.path, "set either trialSpec or configMap, not both");
  } else if (!trial_spec && !config_map) {
    sink->Error(m.loc(), m.path(),
                "needs trialSpec (the trial workload inline) or configMap (a template kept in a "
                "ConfigMap); neither is set");
  }
  if (trial_spec) {
    if (!trial_spec.node.IsMap()) {
      sink->Error(trial_spec.loc, trial_spec.path,
                  absl::StrCat("must be a map (a Kubernetes object such as a batch/v1 Job), got ",
                               Describe(trial_spec.node)));
    } else if (!config_map) {
      std::string error;
      if (std::optional<nlohmann::ordered_json> j = YamlToJson(trial_spec.node, &error)) {
        t->source = j->dump();
        t->source_name = sink->file();
        t->source_line = trial_spec.loc.line;
        const YAML::Node k = trial_spec.node["kind"];
        if (k.IsDefined() && k.IsScalar()) kind = k.Scalar();
      } else {
        sink->Error(trial_spec.loc, trial_spec.path, error);
      }
    }
  } else if (config_map) {
    MapReader cm(sink, config_map);
    if (cm.is_map()) {
      Field name = cm.Get("configMapName");
      Field ns = cm.Get("configMapNamespace");
      Field path = cm.Get("templatePath");
      cm.ReportUnknown(false, "configMapName, configMapNamespace, templatePath");
      std::optional<std::string> n, s, p;
      if (Require(sink, name, "the ConfigMap's metadata.name")) n = ReadString(sink, name);
      if (Require(sink, ns, "the ConfigMap's metadata.namespace")) s = ReadString(sink, ns);
      if (Require(sink, path, "the key in the ConfigMap's data that holds the template")) {
        p = ReadString(sink, path);
      }
      if (n && s && p) {
        if (auto e = ctx.config_maps->Find(*n, *s, *p, path)) {
          t->source = std::move(e->text);
          t->source_name = std::move(e->file);
          t->source_line = e->line;
          kind = TemplateKind(t->source);
        }
      }
    }
  }

  ReadTrialParameters(sink, params, t);

  if (Require(sink, primary, "the name of the container that runs the training code")) {
    if (std::optional<std::string> s = ReadString(sink, primary)) {
      if (s->empty()) sink->Error(primary.loc, primary.path, "must not be empty");
      t->primary_container_name = *s;
    }
  }
  if (auto l = ReadStringMap(sink, labels)) t->primary_pod_labels = std::move(*l);
  t->success_condition = ReadString(sink, success).value_or("");
  t->failure_condition = ReadString(sink, failure).value_or("");
  if (t->success_condition.empty() && t->failure_condition.empty()) {
    if (!kind.empty() && !ApplyConditionDefaults(kind, t)) {
      sink->Error(m.loc(), m.path(),
                  absl::StrCat("needs successCondition and failureCondition for a workload of "
                               "kind ",
                               Quote(kind),
                               " (GJSON paths on the workload's JSON; hpt has defaults for Job, "
                               "TrainJob, TFJob, PyTorchJob, XGBoostJob and MPIJob)"));
    }
  } else if (t->success_condition.empty()) {
    sink->Error(success.key_loc, success.path,
                "is required when failureCondition is set (set both, or neither to get the "
                "defaults for the workload's kind)");
  } else if (t->failure_condition.empty()) {
    sink->Error(failure.key_loc, failure.path,
                "is required when successCondition is set (set both, or neither to get the "
                "defaults for the workload's kind)");
  }
}

}  // namespace

void ReadExperimentV1beta1(LoadContext& ctx, MapReader& spec, StudySpec* out) {
  Sink* sink = ctx.sink;
  out->objective.goal_inclusive = true;
  out->request_count = 0;
  out->request_number = 0;

  Field parameters = spec.Get("parameters");
  Field nas = spec.Get("nasConfig");
  Field objective = spec.Get("objective");
  Field algorithm = spec.Get("algorithm");
  Field early_stopping = spec.Get("earlyStopping");
  Field parallel = spec.Get("parallelTrialCount");
  Field max_trials = spec.Get("maxTrialCount");
  Field max_failed = spec.Get("maxFailedTrialCount");
  Field collector = spec.Get("metricsCollectorSpec");
  Field trial_template = spec.Get("trialTemplate");
  Field resume = spec.Get("resumePolicy");
  spec.ReportUnknown(false,
                     "parameters, objective, algorithm, earlyStopping, parallelTrialCount, "
                     "maxTrialCount, maxFailedTrialCount, metricsCollectorSpec, trialTemplate, "
                     "nasConfig, resumePolicy, hpt");

  if (nas) {
    sink->Unsupported(nas.key_loc, nas.path,
                      "neural architecture search (spec.nasConfig); describe a hyperparameter "
                      "search with spec.parameters");
    if (parameters) {
      sink->Error(nas.key_loc, spec.path(), "set either parameters or nasConfig, not both");
    }
  } else if (Require(sink, parameters, "a list of {name, parameterType, feasibleSpace}")) {
    if (parameters.node.IsSequence() && parameters.node.size() == 0) {
      sink->Error(parameters.loc, parameters.path, "must list at least one parameter");
    }
  }
  ReadParameters(sink, parameters, {"parameterType", "feasibleSpace", true}, &out->space);
  ReadObjective(sink, objective, &out->objective);
  ReadAlgorithm(sink, algorithm, &out->algorithm);
  ReadEarlyStopping(sink, early_stopping, out);

  // kUnset marks a count that is absent or was reported as wrong (ReadInt's range is int32).
  constexpr int64_t kUnset = std::numeric_limits<int64_t>::min();
  int64_t p = ReadInt(sink, parallel, kInt32Min, kInt32Max).value_or(kUnset);
  int64_t mx = ReadInt(sink, max_trials, kInt32Min, kInt32Max).value_or(kUnset);
  int64_t mf = ReadInt(sink, max_failed, kInt32Min, kInt32Max).value_or(kUnset);
  if (p != kUnset && p <= 0) {
    sink->Error(parallel.loc, parallel.path, absl::StrCat("must be > 0, got ", p));
    p = kUnset;
  }
  if (mx != kUnset && mx <= 0) {
    sink->Error(max_trials.loc, max_trials.path,
                absl::StrCat("must be > 0 (leave it out for no limit), got ", mx));
    mx = kUnset;
  }
  if (mf != kUnset && mf < 0) {
    sink->Error(max_failed.loc, max_failed.path, absl::StrCat("must be >= 0, got ", mf));
    mf = kUnset;
  }
  if (p != kUnset && mx != kUnset && p > mx) {
    sink->Error(parallel.loc, parallel.path,
                absl::StrCat("must be <= maxTrialCount (", mx, "), got ", p));
  }
  if (mf != kUnset && mx != kUnset && mf > mx) {
    sink->Error(max_failed.loc, max_failed.path,
                absl::StrCat("must be <= maxTrialCount (", mx, "), got ", mf));
  }
  if (mx != kUnset) out->max_trial_count = static_cast<int>(mx);
  if (mf != kUnset) out->max_failed_trial_count = static_cast<int>(mf);
  // Katib's default is 3 and its webhook then rejects maxTrialCount < 3; hpt takes the smaller.
  out->parallel_trial_count = p != kUnset ? static_cast<int>(p) : 3;
  if (!parallel && mx != kUnset && mx < 3) out->parallel_trial_count = static_cast<int>(mx);

  ReadCollector(sink, collector, &out->metrics_collector);
  ReadTrialTemplate(ctx, trial_template, &out->trial_template);

  out->resume_policy = "Never";
  if (std::optional<std::string> r = ReadString(sink, resume)) {
    if (*r != "Never" && *r != "LongRunning" && *r != "FromVolume") {
      sink->Error(resume.loc, resume.path,
                  absl::StrCat("must be Never, LongRunning or FromVolume, got ", Quote(*r)));
    } else {
      out->resume_policy = *r;
    }
  }
}

}  // namespace hpt::engine::spec_internal
