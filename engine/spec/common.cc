// Readers shared by both dialects: parameters, {name, value} settings, spec.hpt, trial conditions.
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/spec/loader.h"

namespace hpt::engine::spec_internal {
namespace {

using suggest::Distribution;
using suggest::ParamType;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

std::optional<ParamType> ParseParamType(absl::string_view s) {
  if (s == "double") return ParamType::kDouble;
  if (s == "int") return ParamType::kInt;
  if (s == "discrete") return ParamType::kDiscrete;
  if (s == "categorical") return ParamType::kCategorical;
  return std::nullopt;
}

std::optional<Distribution> ParseDistribution(absl::string_view s) {
  if (s == "uniform") return Distribution::kUniform;
  if (s == "logUniform") return Distribution::kLogUniform;
  if (s == "normal") return Distribution::kNormal;
  if (s == "logNormal") return Distribution::kLogNormal;
  return std::nullopt;
}

bool IsIntegral(double v) { return std::floor(v) == v; }

// One numeric bound of an int/double parameter.
struct Bound {
  std::optional<double> value;
  std::string text;
};

Bound ReadBound(Sink* sink, const Field& f, ParamType type) {
  Bound b;
  b.value = ReadNumeric(sink, f, &b.text);
  if (b.value && type == ParamType::kInt && !IsIntegral(*b.value)) {
    sink->Error(f.loc, f.path,
                absl::StrCat("must be an integer for an int parameter, got ", Quote(b.text)));
    b.value.reset();
  }
  return b;
}

}  // namespace

void ReadParameters(Sink* sink, const Field& list, const ParameterKeys& keys,
                    suggest::SearchSpace* space) {
  const std::string allowed_param = absl::StrCat("name, ", keys.type, ", ", keys.feasible);
  const std::string allowed_feasible =
      keys.has_distribution ? "min, max, step, list, distribution" : "min, max, step, list";
  std::map<std::string, int> first_line;  // parameter name -> line of its first definition

  for (const Field& item : ReadList(sink, list)) {
    if (!item.present) {
      sink->Error(item.loc, item.path,
                  absl::StrCat("must be a parameter {", allowed_param, "}, got null"));
      continue;
    }
    MapReader p(sink, item);
    if (!p.is_map()) continue;
    suggest::ParameterSpec param;

    Field name = p.Get("name");
    if (Require(sink, name, "the parameter's name, e.g. lr")) {
      if (std::optional<std::string> s = ReadString(sink, name)) {
        if (s->empty()) {
          sink->Error(name.loc, name.path, "must not be empty");
        } else if (auto [it, inserted] = first_line.emplace(*s, name.loc.line); !inserted) {
          sink->Error(
              name.loc, name.path,
              absl::StrCat("duplicate parameter name ", Quote(*s), " (first defined at line ",
                           it->second, "); parameter names must be unique"));
        }
        param.name = *s;
      }
    }

    Field type_field = p.Get(keys.type);
    std::optional<ParamType> type;
    if (Require(sink, type_field, "one of double, int, discrete, categorical")) {
      if (std::optional<std::string> s = ReadString(sink, type_field)) {
        type = ParseParamType(*s);
        if (!type) {
          sink->Error(
              type_field.loc, type_field.path,
              absl::StrCat("must be one of double, int, discrete, categorical, got ", Quote(*s)));
        }
      }
    }

    Field feasible = p.Get(keys.feasible);
    MapReader fs(sink, feasible);
    Field min = fs.Get("min");
    Field max = fs.Get("max");
    Field step = fs.Get("step");
    Field values = fs.Get("list");
    Field distribution = keys.has_distribution ? fs.Get("distribution") : Field();
    fs.ReportUnknown(false, allowed_feasible);
    p.ReportUnknown(false, allowed_param);

    if (distribution) {
      if (std::optional<std::string> s = ReadString(sink, distribution)) {
        std::optional<Distribution> d = ParseDistribution(*s);
        if (!d) {
          sink->Error(distribution.loc, distribution.path,
                      absl::StrCat("must be one of uniform, logUniform, normal, logNormal, got ",
                                   Quote(*s)));
        } else {
          param.distribution = *d;
        }
      }
    }

    if (!type) {
      space->params.push_back(std::move(param));
      continue;
    }
    param.type = *type;
    const char* type_name = suggest::ParamTypeName(*type);
    const std::string a_type = absl::StrCat(*type == ParamType::kInt ? "an " : "a ", type_name);

    if (*type == ParamType::kDouble || *type == ParamType::kInt) {
      if (!feasible) {
        Require(sink, feasible, absl::StrCat("min and max for ", a_type, " parameter"));
      } else if (fs.is_map()) {
        Require(sink, min, absl::StrCat("for ", a_type, " parameter"));
        Require(sink, max, absl::StrCat("for ", a_type, " parameter"));
        if (values) {
          sink->Error(values.key_loc, values.path,
                      absl::StrCat("is not allowed for ", a_type,
                                   " parameter (it takes min and max; a list of numbers is a "
                                   "discrete parameter)"));
        }
        Bound lo = ReadBound(sink, min, *type);
        Bound hi = ReadBound(sink, max, *type);
        if (lo.value) param.min = *lo.value;
        if (hi.value) param.max = *hi.value;
        if (lo.value && hi.value && *hi.value < *lo.value) {
          sink->Error(max.loc, max.path,
                      absl::StrCat("must be >= min (", lo.text, "), got ", hi.text));
        }
        if (lo.value && *lo.value <= 0 &&
            (param.distribution == Distribution::kLogUniform ||
             param.distribution == Distribution::kLogNormal)) {
          sink->Error(min.loc, min.path,
                      absl::StrCat("must be > 0 for distribution ",
                                   suggest::DistributionName(param.distribution),
                                   " (the range is searched in log space), got ", lo.text));
        }
        if (step) {
          std::string text;
          std::optional<double> s = ReadNumeric(sink, step, &text);
          if (s && *s <= 0) {
            sink->Error(step.loc, step.path, absl::StrCat("must be > 0, got ", text));
          } else if (s && *type == ParamType::kInt && !IsIntegral(*s)) {
            sink->Error(step.loc, step.path,
                        absl::StrCat("must be an integer for an int parameter, got ", text));
          } else if (s) {
            param.step = *s;
          }
        }
      }
    } else {
      // discrete / categorical: a list of values and nothing else.
      for (const Field* f : {&min, &max, &step}) {
        if (*f) {
          sink->Error(
              f->key_loc, f->path,
              absl::StrCat("is not allowed for a ", type_name, " parameter (it takes only list)"));
        }
      }
      if (!feasible) {
        Require(sink, feasible, absl::StrCat("list: the values of the ", type_name, " parameter"));
      } else if (fs.is_map() &&
                 Require(sink, values,
                         absl::StrCat("the values of the ", type_name, " parameter"))) {
        std::vector<Field> items = ReadList(sink, values);
        if (values.node.IsSequence() && items.empty()) {
          sink->Error(values.loc, values.path, "must list at least one value");
        }
        std::set<std::string> seen;
        for (const Field& v : items) {
          if (!v.present || !v.node.IsScalar()) {
            sink->Error(v.loc, v.path, absl::StrCat("must be a value, got ", Describe(v.node)));
            continue;
          }
          std::string value = v.node.Scalar();
          if (*type == ParamType::kDiscrete && !ParseNumber(value)) {
            sink->Error(v.loc, v.path,
                        absl::StrCat("must be a number for a discrete parameter, got ",
                                     Quote(value), " (use a categorical parameter for words)"));
            continue;
          }
          if (!seen.insert(value).second) {
            sink->Warning(v.loc, v.path,
                          absl::StrCat("value ", Quote(value), " is listed more than once"));
          }
          param.list.push_back(std::move(value));
        }
      }
    }
    space->params.push_back(std::move(param));
  }
}

std::vector<std::pair<std::string, std::string>> ReadSettings(Sink* sink, const Field& list) {
  std::vector<std::pair<std::string, std::string>> out;
  std::map<std::string, int> first_line;
  for (const Field& item : ReadList(sink, list)) {
    if (!item.present) {
      sink->Error(item.loc, item.path, "must be a setting {name, value}, got null");
      continue;
    }
    MapReader m(sink, item);
    if (!m.is_map()) continue;
    Field name = m.Get("name");
    Field value = m.Get("value");
    m.ReportUnknown(false, "name, value");
    std::optional<std::string> n;
    if (Require(sink, name, "the setting's name")) n = ReadString(sink, name);
    std::optional<std::string> v = ReadString(sink, value);
    if (!n) continue;
    if (auto [it, inserted] = first_line.emplace(*n, name.loc.line); !inserted) {
      sink->Error(name.loc, name.path,
                  absl::StrCat("duplicate setting ", Quote(*n), " (first at line ", it->second,
                               "); each setting may appear once"));
      continue;
    }
    out.emplace_back(*n, v.value_or(""));
  }
  return out;
}

void ReadHptExtensions(Sink* sink, const Field& hpt, ConfigMapFinder* finder, HptExtensions* out) {
  MapReader h(sink, hpt);
  Field local = h.Get("local");
  Field seed = h.Get("seed");
  Field gpus = h.Get("gpusPerTrial");
  Field deadline = h.Get("trialDeadlineSeconds");
  Field files = h.Get("configMapFiles");
  h.ReportUnknown(true, "local, seed, gpusPerTrial, trialDeadlineSeconds, configMapFiles");

  if (local) {
    MapReader l(sink, local);
    if (l.is_map()) {
      LocalOverride o;
      Field command = l.Get("command");
      Field working_dir = l.Get("workingDir");
      Field env = l.Get("env");
      l.ReportUnknown(true, "command, workingDir, env");
      if (std::optional<std::vector<std::string>> c = ReadStringList(sink, command)) {
        if (c->empty()) {
          sink->Error(command.loc, command.path,
                      "must name the program to run, e.g. [python3, train.py, "
                      "\"--lr=${trialParameters.learningRate}\"]");
        }
        o.command = std::move(*c);
      }
      if (std::optional<std::string> w = ReadString(sink, working_dir)) o.working_dir = *w;
      if (auto e = ReadStringMap(sink, env)) o.env = std::move(*e);
      out->local = std::move(o);
    }
  }
  if (std::optional<uint64_t> s = ReadUint64(sink, seed)) out->seed = *s;
  if (std::optional<int64_t> g = ReadInt(sink, gpus, 0, kInt32Max)) {
    out->gpus_per_trial = static_cast<int>(*g);
  }
  if (std::optional<double> d = ReadNumber(sink, deadline)) {
    if (*d <= 0) {
      sink->Error(deadline.loc, deadline.path,
                  absl::StrCat("must be > 0 (seconds), got ", deadline.node.Scalar()));
    } else {
      out->trial_deadline_seconds = *d;
    }
  }
  if (files) {
    if (!files.node.IsSequence()) {
      sink->Error(files.loc, files.path,
                  absl::StrCat("must be a list of file paths, got ", Describe(files.node)));
    } else {
      for (const Field& f : ReadList(sink, files)) {
        std::optional<std::string> p;
        if (f.present) p = ReadString(sink, f);
        if (!f.present || (p && p->empty())) {
          sink->Error(f.loc, f.path, "must be a file path");
          continue;
        }
        if (!p) continue;
        out->config_map_files.push_back(*p);
        finder->AddFile(*p, f);
      }
    }
  }
}

std::string TemplateKind(absl::string_view template_text) {
  std::string error;
  Loc loc;
  std::optional<std::vector<YAML::Node>> docs = LoadYamlDocuments(template_text, &error, &loc);
  if (docs && docs->size() == 1 && (*docs)[0].IsMap()) {
    const YAML::Node kind = (*docs)[0]["kind"];
    if (kind.IsDefined() && kind.IsScalar()) return kind.Scalar();
  }
  // Go-template syntax need not be YAML; fall back to the first top-level `kind:` line.
  for (absl::string_view line : absl::StrSplit(template_text, '\n')) {
    if (!absl::StartsWith(line, "kind:")) continue;
    absl::string_view v = absl::StripAsciiWhitespace(line.substr(5));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    return std::string(v);
  }
  return "";
}

bool ApplyConditionDefaults(absl::string_view kind, TrialTemplateSpec* t) {
  static constexpr char kJobSuccess[] =
      R"(status.conditions.#(type=="Complete")#|#(status=="True")#)";
  static constexpr char kKubeflowSuccess[] =
      R"(status.conditions.#(type=="Succeeded")#|#(status=="True")#)";
  static constexpr char kFailure[] = R"(status.conditions.#(type=="Failed")#|#(status=="True")#)";
  if (kind == "Job" || kind == "TrainJob") {
    t->success_condition = kJobSuccess;
    t->failure_condition = kFailure;
    if (kind == "TrainJob" && t->primary_pod_labels.empty()) {
      t->primary_pod_labels = {{"jobset.sigs.k8s.io/replicatedjob-name", "node"},
                               {"batch.kubernetes.io/job-completion-index", "0"}};
    }
    return true;
  }
  if (kind == "TFJob" || kind == "PyTorchJob" || kind == "XGBoostJob" || kind == "MPIJob") {
    t->success_condition = kKubeflowSuccess;
    t->failure_condition = kFailure;
    if (t->primary_pod_labels.empty()) {
      t->primary_pod_labels = {{"training.kubeflow.org/job-role", "master"}};
    }
    return true;
  }
  return false;
}

}  // namespace hpt::engine::spec_internal
