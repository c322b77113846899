// Readers shared by both dialects: parameters, {name, value} settings, spec.hpt, trial conditions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/spec/loader.h"
#include "trial_runner/k8s/job_settings.h"

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

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// Letters, digits, '-', '_' and '.': the characters of an annotation key's name part.
bool IsKeyNameChar(char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; }

constexpr size_t kMaxKeyNameLength = 63;

// An annotation key, [prefix/]name (Kubernetes' qualified name): the prefix a DNS-1123 subdomain,
// the name 1 to 63 of [A-Za-z0-9._-], starting and ending with a letter or digit.
bool IsQualifiedKey(absl::string_view key) {
  absl::string_view name = key;
  if (size_t slash = key.find('/'); slash != absl::string_view::npos) {
    const absl::string_view prefix = key.substr(0, slash);
    if (!runner::k8s::DnsSubdomainProblem(std::string(prefix)).empty()) return false;
    name = key.substr(slash + 1);
  }
  return !name.empty() && name.size() <= kMaxKeyNameLength && IsAlnum(name.front()) &&
         IsAlnum(name.back()) && std::all_of(name.begin(), name.end(), IsKeyNameChar);
}

// The text before a propagateAnnotations entry's '*': the beginning of some annotation key.
bool IsKeyPrefix(absl::string_view p) {
  if (p.empty()) return true;  // "*": every key
  const size_t slash = p.find('/');
  if (slash == absl::string_view::npos) {
    return p.size() <= runner::k8s::kMaxNameLength && IsAlnum(p.front()) &&
           std::all_of(p.begin(), p.end(), IsKeyNameChar);
  }
  const absl::string_view name = p.substr(slash + 1);
  return runner::k8s::DnsSubdomainProblem(std::string(p.substr(0, slash))).empty() &&
         name.size() < kMaxKeyNameLength && (name.empty() || IsAlnum(name.front())) &&
         std::all_of(name.begin(), name.end(), IsKeyNameChar);
}

// A DNS-1123 name field of spec.hpt.kubernetes; "" when absent or reported.
std::string ReadName(Sink* sink, const Field& f, size_t max_length) {
  std::optional<std::string> s = ReadString(sink, f);
  if (!s) return "";
  const std::string problem = runner::k8s::DnsSubdomainProblem(*s, max_length);
  if (!problem.empty()) {
    sink->Error(f.loc, f.path, problem);
    return "";
  }
  return *s;
}

// spec.hpt.kubernetes. `trial_deadline` is spec.hpt.trialDeadlineSeconds, which sets the same
// activeDeadlineSeconds.
void ReadKubernetes(Sink* sink, const Field& field, const Field& trial_deadline,
                    KubernetesSettings* out) {
  MapReader k(sink, field);
  if (!field || !k.is_map()) return;
  Field priority = k.Get("priorityClassName");
  Field deadline = k.Get("activeDeadlineSeconds");
  Field backoff = k.Get("backoffLimit");
  Field ttl = k.Get("ttlSecondsAfterFinished");
  Field account = k.Get("serviceAccountName");
  Field queue = k.Get("queueName");
  Field prefix = k.Get("annotationPrefix");
  Field propagate = k.Get("propagateAnnotations");
  Field retries = k.Get("preemptionRetries");
  k.ReportUnknown(true,
                  "priorityClassName, activeDeadlineSeconds, backoffLimit, "
                  "ttlSecondsAfterFinished, serviceAccountName, queueName, annotationPrefix, "
                  "propagateAnnotations, preemptionRetries");

  runner::k8s::JobSettings& job = out->job;
  job.priority_class_name = ReadName(sink, priority, runner::k8s::kMaxNameLength);
  job.service_account_name = ReadName(sink, account, runner::k8s::kMaxNameLength);
  job.queue_name = ReadName(sink, queue, runner::k8s::kMaxLabelValueLength);
  if (std::optional<int64_t> d = ReadInt(sink, deadline, std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max())) {
    if (*d <= 0) {
      sink->Error(deadline.loc, deadline.path, absl::StrCat("must be > 0 (seconds), got ", *d));
    } else if (trial_deadline) {
      sink->Error(deadline.key_loc, deadline.path,
                  absl::StrCat("must not be given together with spec.hpt.trialDeadlineSeconds "
                               "(line ",
                               trial_deadline.key_loc.line,
                               "): both set the trial's activeDeadlineSeconds; keep one"));
    } else {
      job.active_deadline_seconds = *d;
    }
  }
  if (std::optional<int64_t> b = ReadInt(sink, backoff, 0, kInt32Max)) job.backoff_limit = *b;
  if (std::optional<int64_t> t = ReadInt(sink, ttl, 0, kInt32Max)) {
    job.ttl_seconds_after_finished = *t;
  }
  if (std::optional<int64_t> r = ReadInt(sink, retries, 0, 100)) {
    out->preemption_retries = static_cast<int>(*r);
  }
  if (std::optional<std::string> p = ReadString(sink, prefix)) {
    const std::string problem = runner::k8s::DnsSubdomainProblem(*p);
    if (!problem.empty()) {
      sink->Error(prefix.loc, prefix.path,
                  absl::StrCat(problem,
                               " (the prefix of hpt's annotation keys <prefix>/project, "
                               "<prefix>/experiment, <prefix>/study, <prefix>/trial)"));
    } else {
      out->annotation_prefix = *p;
    }
  }
  if (propagate) {
    if (!propagate.node.IsSequence()) {
      sink->Error(propagate.loc, propagate.path,
                  absl::StrCat("must be a list of annotation keys and key prefixes ending in "
                               "'*', got ",
                               Describe(propagate.node)));
      return;
    }
    std::vector<Field> items = ReadList(sink, propagate);
    if (items.empty()) {
      sink->Error(propagate.loc, propagate.path,
                  "must list at least one annotation key or key prefix (e.g. "
                  "[ai.bloomberg.com/*]); leave it out to copy every annotation");
    }
    std::map<std::string, int> first_line;
    for (const Field& item : items) {
      if (!item.present || !item.node.IsScalar()) {
        sink->Error(item.loc, item.path,
                    absl::StrCat("must be an annotation key or a key prefix ending in '*', got ",
                                 Describe(item.node)));
        continue;
      }
      const std::string entry = item.node.Scalar();
      const size_t star = entry.find('*');
      const bool valid = star == std::string::npos
                             ? IsQualifiedKey(entry)
                             : star == entry.size() - 1 && IsKeyPrefix(entry.substr(0, star));
      if (!valid) {
        sink->Error(item.loc, item.path,
                    absl::StrCat("must be an annotation key ([prefix/]name: the prefix a DNS-1123 "
                                 "subdomain, the name 1 to 63 letters, digits, '-', '_' or '.', "
                                 "starting and ending with a letter or digit; e.g. "
                                 "ai.bloomberg.com/project) or a key prefix ending in '*' (e.g. "
                                 "ai.bloomberg.com/*), got ",
                                 Quote(entry)));
        continue;
      }
      if (auto [it, inserted] = first_line.emplace(entry, item.loc.line); !inserted) {
        sink->Warning(item.loc, item.path,
                      absl::StrCat(Quote(entry), " is listed more than once (first at line ",
                                   it->second, ")"));
        continue;
      }
      out->propagate_annotations.push_back(entry);
    }
  }
}

// The study names of spec.hpt.warmStart.studies (or of the short form's list).
std::vector<std::string> ReadWarmStartStudies(Sink* sink, const Field& list) {
  std::vector<std::string> out;
  if (!list.node.IsSequence()) {
    sink->Error(list.loc, list.path,
                absl::StrCat("must be a list of study names, got ", Describe(list.node)));
    return out;
  }
  std::vector<Field> items = ReadList(sink, list);
  if (items.empty()) {
    sink->Error(list.loc, list.path,
                "must name at least one earlier study of the same tracker file; leave "
                "warmStart out to start from scratch");
  }
  std::map<std::string, int> first_line;
  for (const Field& item : items) {
    if (!item.present || !item.node.IsScalar() || item.node.Scalar().empty()) {
      sink->Error(
          item.loc, item.path,
          absl::StrCat("must be a study name, got ", item.present ? Describe(item.node) : "null"));
      continue;
    }
    const std::string name = item.node.Scalar();
    if (auto [it, inserted] = first_line.emplace(name, item.loc.line); !inserted) {
      sink->Error(item.loc, item.path,
                  absl::StrCat(Quote(name), " is listed more than once (first at line ", it->second,
                               "); each study may be named once"));
      continue;
    }
    out.push_back(name);
  }
  return out;
}

// spec.hpt.warmStart: {studies: [...], outOfSpace: drop|clip}, or the short form [a, b].
void ReadWarmStart(Sink* sink, const Field& field, std::optional<WarmStartSpec>* out) {
  if (!field) return;
  const size_t errors_before = sink->diagnostics().size();
  WarmStartSpec ws;
  if (field.node.IsSequence()) {
    ws.studies = ReadWarmStartStudies(sink, field);
  } else if (!field.node.IsMap()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a map {studies, outOfSpace} or a list of study names, got ",
                             Describe(field.node)));
    return;
  } else {
    MapReader w(sink, field);
    Field studies = w.Get("studies");
    Field out_of_space = w.Get("outOfSpace");
    w.ReportUnknown(true, "studies, outOfSpace");
    if (Require(sink, studies, "the names of earlier studies of the same tracker file")) {
      ws.studies = ReadWarmStartStudies(sink, studies);
    }
    if (std::optional<std::string> o = ReadString(sink, out_of_space)) {
      if (*o == "drop") {
        ws.out_of_space = WarmStartSpec::OutOfSpace::kDrop;
      } else if (*o == "clip") {
        ws.out_of_space = WarmStartSpec::OutOfSpace::kClip;
      } else {
        sink->Error(out_of_space.loc, out_of_space.path,
                    absl::StrCat("must be drop (an old trial with a value outside the space is "
                                 "left out; the default) or clip (the value moves to the nearest "
                                 "feasible one), got ",
                                 Quote(*o)));
      }
    }
  }
  for (size_t i = errors_before; i < sink->diagnostics().size(); ++i) {
    if (sink->diagnostics()[i].severity == Diagnostic::Severity::kError) return;
  }
  *out = std::move(ws);
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
    const size_t diagnostics_before = sink->diagnostics().size();

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
          if (*type == ParamType::kDiscrete) {
            if (!ParseNumber(value)) {
              sink->Error(v.loc, v.path,
                          absl::StrCat("must be a number for a discrete parameter, got ",
                                       Quote(value), " (use a categorical parameter for words)"));
              continue;
            }
            // The number as ParseNumber read it, as min and max keep it: " 128" is "128".
            value = std::string(absl::StripAsciiWhitespace(value));
          }
          if (!seen.insert(value).second) {
            sink->Warning(v.loc, v.path,
                          absl::StrCat("value ", Quote(value), " is listed more than once"));
          }
          param.list.push_back(std::move(value));
        }
      }
    }
    // The samplers' own rules (suggest::ValidateSearchSpace) have the last word, so that a space
    // that loads is one every sampler takes (e.g. a step giving more than 2^53 values).
    bool param_errors = false;
    for (size_t i = diagnostics_before; i < sink->diagnostics().size(); ++i) {
      param_errors |= sink->diagnostics()[i].severity == Diagnostic::Severity::kError;
    }
    if (!param_errors) {
      if (absl::Status s = suggest::ValidateSearchSpace(suggest::SearchSpace{.params = {param}});
          !s.ok()) {
        sink->Error(feasible.loc, feasible.path, std::string(s.message()));
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
  Field kubernetes = h.Get("kubernetes");
  Field on_completion = h.Get("runningTrialsOnCompletion");
  Field warm_start = h.Get("warmStart");
  h.ReportUnknown(true,
                  "local, seed, gpusPerTrial, trialDeadlineSeconds, configMapFiles, kubernetes, "
                  "runningTrialsOnCompletion, warmStart");
  ReadKubernetes(sink, kubernetes, deadline, &out->kubernetes);
  ReadWarmStart(sink, warm_start, &out->warm_start);

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
  if (std::optional<std::string> c = ReadString(sink, on_completion)) {
    if (*c == "Stop" || *c == "Finish") {
      out->finish_running_on_completion = *c == "Finish";
    } else {
      sink->Error(on_completion.loc, on_completion.path,
                  absl::StrCat("must be Stop (running trials are stopped when the study "
                               "completes; the default) or Finish (they run to their end), got ",
                               Quote(*c)));
    }
  }
  if (std::optional<uint64_t> s = ReadUint64(sink, seed)) out->seed = *s;
  if (std::optional<int64_t> g = ReadInt(sink, gpus, 0, kInt32Max)) {
    out->gpus_per_trial = static_cast<int>(*g);
  }
  if (std::optional<double> d = ReadNumber(sink, deadline)) {
    // The bound keeps the Job's integer activeDeadlineSeconds in range (about 68 years).
    constexpr double kMaxDeadline = 2147483647;
    if (*d <= 0 || *d > kMaxDeadline) {
      sink->Error(
          deadline.loc, deadline.path,
          absl::StrCat("must be > 0 and <= 2147483647 (seconds), got ", deadline.node.Scalar()));
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
