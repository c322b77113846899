// LoadTriggerFile / LoadTriggerText: a RetrainTrigger document read with engine/spec's located
// readers (strict: we own this kind, so unknown keys are errors). yaml-cpp exceptions stop here.
#include "engine/trigger/trigger_spec.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/spec/config_maps.h"
#include "engine/spec/yaml_reader.h"
#include "engine/trigger/schedule.h"
#include "trial_runner/k8s/job_settings.h"
#include "yaml-cpp/yaml.h"

namespace hpt::engine::trigger {
namespace {

using spec_internal::Field;
using spec_internal::JoinPath;
using spec_internal::Loc;
using spec_internal::LocOf;
using spec_internal::MapReader;
using spec_internal::Quote;
using spec_internal::Require;
using spec_internal::Sink;

constexpr char kSupported[] = "a trigger file holds apiVersion hpt.dev/v1 and kind RetrainTrigger";
constexpr char kDurationForms[] =
    "a duration such as \"90s\", \"5m\", \"6h\", \"2d\", \"1h30m\" or a number of seconds";
constexpr size_t kMaxNameLength = 63;

struct Reader {
  Sink* sink;
  absl::string_view text;  // the whole file
};

// Fields the cross-section checks point at, kept from the section readers.
struct Places {
  std::optional<Field> condition;   // the condition's key, e.g. spec.condition.dropFromBest
  std::optional<Field> model_goal;  // spec.watch.model.goal (possibly absent)
  std::optional<Field> every;       // spec.condition.schedule.every
};

// The keys among `keys` written in map `field`, even with a null value (`newBest:`), in file
// order, with where each key is.
std::vector<std::pair<std::string, Loc>> WrittenKeys(const Field& field,
                                                     std::initializer_list<const char*> keys) {
  std::vector<std::pair<std::string, Loc>> out;
  if (!field.present || !field.node.IsMap()) return out;
  for (const auto& kv : field.node) {
    if (!kv.first.IsScalar()) continue;
    for (const char* k : keys) {
      if (kv.first.Scalar() == k) {
        bool seen = std::any_of(out.begin(), out.end(),
                                [&](const auto& e) { return e.first == kv.first.Scalar(); });
        if (!seen) out.emplace_back(k, LocOf(kv.first));
      }
    }
  }
  return out;
}

// Reports unless exactly one of `keys` is written in map `field`; returns the one (the first when
// several are).
std::optional<std::string> ExactlyOne(Sink* sink, const Field& field,
                                      std::initializer_list<const char*> keys,
                                      absl::string_view what) {
  if (!field.present || !field.node.IsMap()) return std::nullopt;
  std::vector<std::pair<std::string, Loc>> written = WrittenKeys(field, keys);
  std::vector<std::string> names;
  for (const char* k : keys) names.emplace_back(k);
  if (written.empty()) {
    sink->Error(
        field.loc, field.path,
        absl::StrCat("must hold exactly one of ", absl::StrJoin(names, ", "), " (", what, ")"));
    return std::nullopt;
  }
  for (size_t i = 1; i < written.size(); ++i) {
    sink->Error(written[i].second, JoinPath(field.path, written[i].first),
                absl::StrCat("only one of ", absl::StrJoin(names, ", "), " may be given; ",
                             written[0].first, " is given at line ", written[0].second.line));
  }
  return written[0].first;
}

// A non-empty string.
std::optional<std::string> ReadName(Sink* sink, const Field& field, absl::string_view what) {
  if (!Require(sink, field, what)) return std::nullopt;
  std::optional<std::string> s = spec_internal::ReadString(sink, field);
  if (s && s->empty()) {
    sink->Error(field.loc, field.path, absl::StrCat("must not be empty (", what, ")"));
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> ReadDuration(Sink* sink, const Field& field, bool allow_zero) {
  if (!field.present) return std::nullopt;
  if (!field.node.IsScalar()) {
    sink->Error(
        field.loc, field.path,
        absl::StrCat("must be ", kDurationForms, ", got ", spec_internal::Describe(field.node)));
    return std::nullopt;
  }
  absl::StatusOr<int64_t> ms = ParseDuration(field.node.Scalar());
  if (!ms.ok()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be ", kDurationForms, ", got ", Quote(field.node.Scalar()), ": ",
                             ms.status().message()));
    return std::nullopt;
  }
  if (*ms == 0 && !allow_zero) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be longer than 0, got ", Quote(field.node.Scalar())));
    return std::nullopt;
  }
  return *ms;
}

std::optional<Goal> ReadGoal(Sink* sink, const Field& field) {
  std::optional<std::string> s = spec_internal::ReadString(sink, field);
  if (!s) return std::nullopt;
  if (*s == "maximize") return Goal::kMaximize;
  if (*s == "minimize") return Goal::kMinimize;
  sink->Error(field.loc, field.path, absl::StrCat("must be maximize or minimize, got ", Quote(*s)));
  return std::nullopt;
}

// The 1-based line `line` of `text` (without its newline); "" past the end.
absl::string_view LineOf(absl::string_view text, int line) {
  size_t start = 0;
  for (int i = 1; i < line; ++i) {
    size_t nl = text.find('\n', start);
    if (nl == absl::string_view::npos) return "";
    start = nl + 1;
  }
  size_t end = text.find('\n', start);
  return text.substr(start, end == absl::string_view::npos ? absl::string_view::npos : end - start);
}

// Where character `column` (1-based) of scalar `value` is in the file, when the scalar is written
// on one line as is (plain or quoted without escapes); the scalar's own place otherwise.
Loc LocInScalar(absl::string_view text, const Field& field, const std::string& value, int column) {
  absl::string_view line = LineOf(text, field.loc.line);
  if (field.loc.column < 1 || static_cast<size_t>(field.loc.column) > line.size()) {
    return field.loc;
  }
  absl::string_view rest = line.substr(field.loc.column - 1);
  int quote = (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) ? 1 : 0;
  if (rest.substr(quote, value.size()) != value) return field.loc;
  return Loc{field.loc.line, field.loc.column + quote + column - 1};
}

// ---- The inline study's text.

bool SameYaml(const YAML::Node& a, const YAML::Node& b) {
  if (a.Type() != b.Type()) return false;
  switch (a.Type()) {
    case YAML::NodeType::Scalar:
      return a.Scalar() == b.Scalar() && a.Tag() == b.Tag();
    case YAML::NodeType::Sequence: {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!SameYaml(a[i], b[i])) return false;
      }
      return true;
    }
    case YAML::NodeType::Map: {
      if (a.size() != b.size()) return false;
      auto ia = a.begin();
      auto ib = b.begin();
      for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
        if (!SameYaml(ia->first, ib->first) || !SameYaml(ia->second, ib->second)) return false;
      }
      return true;
    }
    default:
      return true;
  }
}

// Whether `candidate` parses to one document equal to `node`.
bool ParsesTo(const std::string& candidate, const YAML::Node& node) {
  std::string error;
  Loc error_loc;
  std::optional<std::vector<YAML::Node>> docs =
      spec_internal::LoadYamlDocuments(candidate, &error, &error_loc);
  return docs && docs->size() == 1 && SameYaml((*docs)[0], node);
}

// The lines of block map `node` cut from `text` and shifted left by its column; nullopt when the
// node is not a block map starting its own line, or the cut text does not read back the same.
std::optional<std::string> CutBlock(absl::string_view text, const YAML::Node& node, Loc* at) {
  Loc loc = LocOf(node);
  if (loc.line < 1 || loc.column < 1 || !node.IsMap()) return std::nullopt;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (static_cast<size_t>(loc.line) > lines.size()) return std::nullopt;
  const size_t indent = static_cast<size_t>(loc.column - 1);
  absl::string_view first = lines[loc.line - 1];
  if (first.size() <= indent || first.find_first_not_of(' ') != indent || first[indent] == '{') {
    return std::nullopt;
  }
  std::vector<std::string> out;
  size_t kept = 0;  // lines up to the last one with content
  for (size_t i = loc.line - 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t content = line.find_first_not_of(' ');
    bool blank = content == absl::string_view::npos;
    bool comment = !blank && line[content] == '#';
    if (i >= static_cast<size_t>(loc.line) && !blank && !comment && content < indent) break;
    if (blank) {
      out.emplace_back();
    } else if (content < indent) {
      out.emplace_back(line.substr(content));  // a comment further left
    } else {
      out.emplace_back(line.substr(indent));
    }
    if (!blank && !comment) kept = out.size();
  }
  out.resize(kept);
  std::string cut = absl::StrCat(absl::StrJoin(out, "\n"), "\n");
  if (!ParsesTo(cut, node)) return std::nullopt;
  *at = loc;
  return cut;
}

void Emit(const YAML::Node& node, YAML::Emitter* out) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
        *out << YAML::DoubleQuoted << node.Scalar();
      } else {
        *out << node.Scalar();
      }
      return;
    case YAML::NodeType::Sequence:
      *out << YAML::BeginSeq;
      for (const YAML::Node& item : node) Emit(item, out);
      *out << YAML::EndSeq;
      return;
    case YAML::NodeType::Map:
      *out << YAML::BeginMap;
      for (const auto& kv : node) {
        *out << YAML::Key;
        Emit(kv.first, out);
        *out << YAML::Value;
        Emit(kv.second, out);
      }
      *out << YAML::EndMap;
      return;
    default:
      *out << YAML::Null;
  }
}

// The text of an inline study written in flow style (or otherwise not cut out): re-emitted, and
// kept only when it reads back the same.
std::optional<std::string> EmitStudy(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Block);
  out.SetSeqFormat(YAML::Block);
  Emit(node, &out);
  if (!out.good()) return std::nullopt;
  std::string text = absl::StrCat(out.c_str(), "\n");
  if (!ParsesTo(text, node)) return std::nullopt;
  return text;
}

void ReadInlineStudy(const Reader& r, const Field& field, ActionSpec* out) {
  Sink* sink = r.sink;
  if (!field.node.IsMap()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a study document (a map with apiVersion, kind, metadata and "
                             "spec), got ",
                             spec_internal::Describe(field.node)));
    return;
  }
  Loc at;
  std::optional<std::string> text = CutBlock(r.text, field.node, &at);
  const bool cut = text.has_value();
  if (!cut) text = EmitStudy(field.node);
  if (!text) {
    sink->Error(field.loc, field.path,
                "cannot keep this study's YAML text; write it in block style or put it in a file "
                "(action.submitStudy.file)");
    return;
  }
  out->study_yaml = *text;
  if (cut) {
    out->study_yaml_line = at.line;
    out->study_yaml_indent = at.column - 1;
  }

  // Validate the study now, with its diagnostics placed in the trigger file.
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> study = LoadStudyText(*text, sink->file(), &diags);
  bool any_error = false;
  for (Diagnostic& d : diags) {
    if (d.file == sink->file()) {
      if (cut && d.line > 0) {
        d.line += at.line - 1;
        if (d.column > 0) d.column += at.column - 1;
      } else {
        if (d.line > 0) {
          d.message = absl::StrCat("(line ", d.line, ":", d.column, " of the study as re-emitted) ",
                                   d.message);
        }
        d.line = field.loc.line;
        d.column = field.loc.column;
      }
      d.path = d.path.empty() ? field.path : JoinPath(field.path, d.path);
    }
    any_error = any_error || d.severity == Diagnostic::Severity::kError;
    sink->Add(std::move(d));
  }
  if (!study.ok() && !any_error) {
    sink->Error(field.loc, field.path,
                absl::StrCat("the study does not load: ", study.status().message()));
  }
}

// ---- The sections.

void ReadMetadata(Sink* sink, const Field& field, TriggerSpec* out) {
  if (!Require(sink, field, "{name, namespace, labels, annotations}")) return;
  MapReader m(sink, field);
  if (!m.is_map()) return;
  Field name = m.Get("name");
  Field ns = m.Get("namespace");
  Field labels = m.Get("labels");
  Field annotations = m.Get("annotations");
  m.ReportUnknown(true, "name, namespace, labels, annotations");
  constexpr char kDnsLabel[] =
      "a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a "
      "letter or digit";
  if (std::optional<std::string> s = ReadName(sink, name, "the trigger's name")) {
    out->name = *s;
    if (!runner::k8s::IsDnsLabel(*s, kMaxNameLength)) {
      sink->Error(name.loc, name.path, absl::StrCat("must be ", kDnsLabel, ", got ", Quote(*s)));
    }
  }
  if (std::optional<std::string> s = spec_internal::ReadString(sink, ns)) {
    if (!s->empty()) {
      out->namespace_ = *s;
      if (!runner::k8s::IsDnsLabel(*s, kMaxNameLength)) {
        sink->Error(ns.loc, ns.path, absl::StrCat("must be ", kDnsLabel, ", got ", Quote(*s)));
      }
    }
  }
  if (auto l = spec_internal::ReadStringMap(sink, labels)) out->labels = std::move(*l);
  if (auto a = spec_internal::ReadStringMap(sink, annotations)) out->annotations = std::move(*a);
}

void ReadWatch(Sink* sink, const Field& field, WatchSpec* out, Places* places) {
  MapReader w(sink, field);
  if (!w.is_map()) return;
  Field model = w.Get("model");
  Field study = w.Get("study");
  w.ReportUnknown(true, "model, study");
  std::optional<std::string> which =
      ExactlyOne(sink, field, {"model", "study"}, "a deployed model's metric, or a study's best");
  if (which == "model") {
    out->source = WatchSpec::Source::kModel;
    MapReader m(sink, model);
    if (!model.present) {
      Require(sink, model, "{project, experiment, name, metric, goal}");
      return;
    }
    Field project = m.Get("project");
    Field experiment = m.Get("experiment");
    Field name = m.Get("name");
    Field metric = m.Get("metric");
    Field goal = m.Get("goal");
    m.ReportUnknown(true, "project, experiment, name, metric, goal");
    places->model_goal.emplace(goal);
    if (!m.is_map()) return;
    out->model.project =
        ReadName(sink, project, "the project the model reports under").value_or("");
    out->model.experiment = spec_internal::ReadString(sink, experiment).value_or("");
    out->model.name = spec_internal::ReadString(sink, name).value_or("");
    out->model.metric = ReadName(sink, metric, "the metric name the model reports").value_or("");
    out->model.goal = ReadGoal(sink, goal).value_or(Goal::kUnspecified);
  } else if (which == "study") {
    out->source = WatchSpec::Source::kStudy;
    if (!study.present) {
      Require(sink, study, "{name}");
      return;
    }
    MapReader s(sink, study);
    Field name = s.Get("name");
    s.ReportUnknown(true, "name");
    if (!s.is_map()) return;
    out->study.name =
        ReadName(sink, name, "the study whose best objective is watched").value_or("");
  }
}

void ReadAggregate(Sink* sink, const Field& field, AggregateSpec* out) {
  MapReader a(sink, field);
  Field function = a.Get("function");
  Field window = a.Get("window");
  Field min_points = a.Get("minPoints");
  a.ReportUnknown(true, "function, window, minPoints");
  if (!a.is_map()) return;
  if (std::optional<std::string> f = spec_internal::ReadString(sink, function)) {
    if (*f == "last") {
      out->function = AggregateFunction::kLast;
    } else if (*f == "mean") {
      out->function = AggregateFunction::kMean;
    } else if (*f == "min") {
      out->function = AggregateFunction::kMin;
    } else if (*f == "max") {
      out->function = AggregateFunction::kMax;
    } else {
      sink->Error(function.loc, function.path,
                  absl::StrCat("must be last, mean, min or max, got ", Quote(*f)));
    }
  }
  std::optional<int64_t> points_value;
  if (window.present) {
    MapReader w(sink, window);
    Field p = w.Get("points");
    Field duration = w.Get("duration");
    w.ReportUnknown(true, "points, duration");
    std::optional<std::string> which =
        ExactlyOne(sink, window, {"points", "duration"}, "{points: N} or {duration: 1h}");
    if (which == "points") {
      out->window = AggregateSpec::Window::kPoints;
      if (Require(sink, p, "the number of newest points in the window")) {
        points_value = spec_internal::ReadInt(sink, p, 1, kMaxWindowPoints);
        if (points_value) out->window_points = *points_value;
      }
    } else if (which == "duration") {
      out->window = AggregateSpec::Window::kDuration;
      if (Require(sink, duration, kDurationForms)) {
        if (std::optional<int64_t> ms = ReadDuration(sink, duration, false)) out->window_ms = *ms;
      }
    }
  }
  if (std::optional<int64_t> m = spec_internal::ReadInt(sink, min_points, 1, kMaxWindowPoints)) {
    out->min_points = *m;
    if (out->window == AggregateSpec::Window::kPoints && *m > out->window_points &&
        (points_value || !window.present)) {
      sink->Error(
          min_points.loc, min_points.path,
          absl::StrCat("must be at most window.points (", out->window_points, "), got ", *m,
                       ": a window of ", out->window_points,
                       out->window_points == 1 ? " point" : " points", " never holds that many"));
    }
  }
}

void ReadCondition(const Reader& r, const Field& field, ConditionSpec* out, Places* places) {
  Sink* sink = r.sink;
  MapReader c(sink, field);
  Field below = c.Get("below");
  Field above = c.Get("above");
  Field drop = c.Get("dropFromBest");
  Field new_best = c.Get("newBest");
  Field schedule = c.Get("schedule");
  c.ReportUnknown(true, "below, above, dropFromBest, newBest, schedule");
  if (!c.is_map()) return;
  std::optional<std::string> which =
      ExactlyOne(sink, field, {"below", "above", "dropFromBest", "newBest", "schedule"},
                 "the condition that fires the trigger");
  if (!which) return;
  auto number = [&](const Field& f) {
    if (!f.present) {
      sink->Error(f.key_loc, f.path, "must be a number, got null");
      return;
    }
    if (std::optional<double> v = spec_internal::ReadNumber(sink, f)) out->threshold = *v;
  };
  if (*which == "below") {
    out->kind = ConditionSpec::Kind::kBelow;
    number(below);
    places->condition.emplace(below);
  } else if (*which == "above") {
    out->kind = ConditionSpec::Kind::kAbove;
    number(above);
    places->condition.emplace(above);
  } else if (*which == "dropFromBest") {
    out->kind = ConditionSpec::Kind::kDropFromBest;
    places->condition.emplace(drop);
    if (!Require(sink, drop, "{margin, relative}")) return;
    MapReader d(sink, drop);
    Field margin = d.Get("margin");
    Field relative = d.Get("relative");
    d.ReportUnknown(true, "margin, relative");
    if (!d.is_map()) return;
    if (Require(sink, margin, "how far below the best (above, when minimizing) fires")) {
      if (std::optional<double> m = spec_internal::ReadNumber(sink, margin)) {
        if (*m < 0) {
          sink->Error(margin.loc, margin.path,
                      absl::StrCat("must be at least 0, got ", margin.node.Scalar()));
        } else {
          out->margin = *m;
        }
      }
    }
    out->relative = spec_internal::ReadBool(sink, relative).value_or(false);
  } else if (*which == "newBest") {
    out->kind = ConditionSpec::Kind::kNewBest;
    places->condition.emplace(new_best);
    MapReader n(sink, new_best);  // `newBest:` and `newBest: {}` both read as no settings
    n.ReportUnknown(true, "none (write newBest: {})");
  } else {
    out->kind = ConditionSpec::Kind::kSchedule;
    places->condition.emplace(schedule);
    if (!Require(sink, schedule, "{every: 24h} or {cron: \"0 3 * * *\"}")) return;
    MapReader s(sink, schedule);
    Field every = s.Get("every");
    Field cron = s.Get("cron");
    s.ReportUnknown(true, "every, cron");
    if (!s.is_map()) return;
    std::optional<std::string> kind =
        ExactlyOne(sink, schedule, {"every", "cron"}, "{every: 24h} or {cron: \"0 3 * * *\"}");
    if (kind == "every") {
      places->every.emplace(every);
      if (Require(sink, every, kDurationForms)) {
        if (std::optional<int64_t> ms = ReadDuration(sink, every, false)) out->every_ms = *ms;
      }
    } else if (kind == "cron") {
      if (!Require(sink, cron, "a 5-field cron expression, in UTC")) return;
      std::optional<std::string> expr = spec_internal::ReadString(sink, cron);
      if (!expr) return;
      out->cron = *expr;
      CronError error;
      if (!CronSchedule::Parse(*expr, &error)) {
        sink->Error(LocInScalar(r.text, cron, *expr, error.column), cron.path,
                    absl::StrCat("invalid cron expression ", Quote(*expr), ": column ",
                                 error.column, ": ", error.message,
                                 "; the form is \"minute hour day-of-month month day-of-week\" "
                                 "(UTC)"));
      }
    }
  }
}

void ReadAction(const Reader& r, const Field& field, const WatchSpec& watch, ActionSpec* out) {
  Sink* sink = r.sink;
  MapReader a(sink, field);
  Field retrain = a.Get("retrainTrial");
  Field submit = a.Get("submitStudy");
  a.ReportUnknown(true, "retrainTrial, submitStudy");
  if (!a.is_map()) return;
  std::optional<std::string> which =
      ExactlyOne(sink, field, {"retrainTrial", "submitStudy"},
                 "retrain with the champion's parameters, or submit a study");
  if (which == "retrainTrial") {
    out->kind = ActionSpec::Kind::kRetrainTrial;
    MapReader t(sink, retrain);  // `retrainTrial:` and `retrainTrial: {}` take the default
    Field study = t.Get("study");
    t.ReportUnknown(true, "study");
    if (retrain.present && !t.is_map()) return;
    if (study.present) {
      out->study = ReadName(sink, study, "the study whose best trial is the champion").value_or("");
    } else if (watch.source == WatchSpec::Source::kStudy) {
      out->study = watch.study.name;
    } else {
      sink->Error(study.key_loc, study.path,
                  absl::StrCat("is required when the trigger does not watch a study (the champion "
                               "is the best trial of this study; it defaults to "
                               "spec.watch.study.name)"));
    }
  } else if (which == "submitStudy") {
    out->kind = ActionSpec::Kind::kSubmitStudy;
    if (!Require(sink, submit, "{file} or {study}, and optionally warmStartFrom")) return;
    MapReader s(sink, submit);
    Field file = s.Get("file");
    Field study = s.Get("study");
    Field warm = s.Get("warmStartFrom");
    s.ReportUnknown(true, "file, study, warmStartFrom");
    if (!s.is_map()) return;
    std::optional<std::string> kind =
        ExactlyOne(sink, submit, {"file", "study"},
                   "a study file relative to this file, or an inline study document");
    if (kind == "file") {
      if (std::optional<std::string> f = ReadName(sink, file, "the study file")) {
        out->file = *f;
        std::filesystem::path p(*f);
        const std::string& base = sink->file();
        if (p.is_absolute() || base.empty() || base.front() == '<') {
          out->resolved_file = *f;
        } else {
          std::filesystem::path dir = std::filesystem::path(base).parent_path();
          out->resolved_file = dir.empty() ? *f : (dir / p).lexically_normal().string();
        }
      }
    } else if (kind == "study") {
      if (Require(sink, study, "an inline study document")) ReadInlineStudy(r, study, out);
    }
    if (std::optional<std::vector<std::string>> names = spec_internal::ReadStringList(sink, warm)) {
      std::vector<Field> items = spec_internal::ReadList(sink, warm);
      for (size_t i = 0; i < names->size() && i < items.size(); ++i) {
        if ((*names)[i].empty()) {
          sink->Error(items[i].loc, items[i].path, "must not be empty (a study name)");
        }
      }
      out->warm_start_from = std::move(*names);
    }
  }
}

std::string ConditionName(ConditionSpec::Kind kind) {
  switch (kind) {
    case ConditionSpec::Kind::kBelow:
      return "below";
    case ConditionSpec::Kind::kAbove:
      return "above";
    case ConditionSpec::Kind::kDropFromBest:
      return "dropFromBest";
    case ConditionSpec::Kind::kNewBest:
      return "newBest";
    case ConditionSpec::Kind::kSchedule:
      return "schedule";
  }
  return "";
}

void ReadTrigger(const Reader& r, const std::string& text, TriggerSpec* out) {
  Sink* sink = r.sink;
  std::optional<std::vector<YAML::Node>> loaded =
      spec_internal::LoadFileDocuments(sink, text, kSupported);
  if (!loaded) return;
  const std::vector<YAML::Node>& docs = *loaded;
  for (size_t i = 1; i < docs.size(); ++i) {
    sink->Error(LocOf(docs[i]), "",
                absl::StrCat("a second document (the first starts at line ", LocOf(docs[0]).line,
                             "); a trigger file holds one RetrainTrigger"));
  }
  const YAML::Node& doc = docs[0];
  if (!doc.IsMap()) {
    sink->Error(LocOf(doc), "",
                absl::StrCat("a trigger must be a map with apiVersion, kind, metadata and spec, "
                             "got ",
                             spec_internal::Describe(doc)));
    return;
  }
  MapReader root(sink, doc, "");
  Field api = root.Get("apiVersion");
  Field kind = root.Get("kind");
  Field metadata = root.Get("metadata");
  Field spec = root.Get("spec");
  std::optional<std::string> api_text = spec_internal::ReadString(sink, api);
  std::optional<std::string> kind_text = spec_internal::ReadString(sink, kind);
  if (!api.present && !kind.present) {
    sink->Error({1, 1}, "", absl::StrCat("apiVersion and kind are missing; ", kSupported));
    return;
  }
  if (!api_text || !kind_text) {
    if (!api.present) Require(sink, api, kTriggerApiVersion);
    if (!kind.present) Require(sink, kind, kTriggerKind);
    return;
  }
  if (*kind_text != kTriggerKind) {
    std::string hint;
    if (*kind_text == "Experiment" || *kind_text == "StudyJob") {
      hint = " (this is a study: run it with `hpt submit`, or name it in action.submitStudy)";
    }
    sink->Error(kind.loc, kind.path,
                absl::StrCat("apiVersion ", Quote(*api_text), " with kind ", Quote(*kind_text),
                             " is not a trigger", hint, "; ", kSupported));
    return;
  }
  if (*api_text != kTriggerApiVersion) {
    sink->Error(api.loc, api.path,
                absl::StrCat("must be ", Quote(kTriggerApiVersion),
                             " for kind RetrainTrigger, got ", Quote(*api_text)));
    return;
  }
  out->api_version = *api_text;
  out->kind = *kind_text;
  root.ReportUnknown(true, "apiVersion, kind, metadata, spec");
  ReadMetadata(sink, metadata, out);
  if (!Require(sink, spec, "{watch, aggregate, condition, cooldown, action}")) return;
  MapReader s(sink, spec);
  Field watch = s.Get("watch");
  Field aggregate = s.Get("aggregate");
  Field condition = s.Get("condition");
  Field cooldown = s.Get("cooldown");
  Field action = s.Get("action");
  s.ReportUnknown(true, "watch, aggregate, condition, cooldown, action");
  if (!s.is_map()) return;

  Places places;
  ReadWatch(sink, watch, &out->watch, &places);
  ReadAggregate(sink, aggregate, &out->aggregate);
  if (Require(sink, condition, "one of below, above, dropFromBest, newBest, schedule")) {
    ReadCondition(r, condition, &out->condition, &places);
  }
  if (std::optional<int64_t> ms = ReadDuration(sink, cooldown, true)) out->cooldown_ms = *ms;
  if (Require(sink, action, "retrainTrial or submitStudy")) {
    ReadAction(r, action, out->watch, &out->action);
  }

  // What the condition needs of the watch.
  if (!places.condition) return;
  const Field& chosen = *places.condition;
  const ConditionSpec::Kind k = out->condition.kind;
  const std::string name = ConditionName(k);
  const WatchSpec::Source source = out->watch.source;
  if (k != ConditionSpec::Kind::kSchedule && !watch.present) {
    sink->Error(watch.key_loc, watch.path,
                absl::StrCat("is required by condition ", name, " (line ", chosen.key_loc.line,
                             "): watch.model (a deployed model's metric) or watch.study (a "
                             "study's best objective); only a schedule needs no watch"));
  }
  if (k == ConditionSpec::Kind::kDropFromBest && source == WatchSpec::Source::kStudy) {
    sink->Error(chosen.key_loc, chosen.path,
                "needs watch.model: a study's best objective never drops (use below or above, or "
                "watch the deployed model's metric)");
  }
  if ((k == ConditionSpec::Kind::kDropFromBest || k == ConditionSpec::Kind::kNewBest) &&
      source == WatchSpec::Source::kModel && out->watch.model.goal == Goal::kUnspecified) {
    // At the model map, where the goal belongs (a bad value is reported already).
    if (places.model_goal && !places.model_goal->present) {
      sink->Error(places.model_goal->key_loc, places.model_goal->path,
                  absl::StrCat("is required by condition ", name, " (line ", chosen.key_loc.line,
                               "): maximize or minimize, to tell the best"));
    }
  }
  if (k == ConditionSpec::Kind::kSchedule && places.every && out->condition.every_ms > 0 &&
      out->condition.every_ms < out->cooldown_ms) {
    sink->Warning(places.every->loc, places.every->path,
                  absl::StrCat("the schedule (every ", FormatDuration(out->condition.every_ms),
                               ") is shorter than the cooldown (", FormatDuration(out->cooldown_ms),
                               "); the trigger fires at most once per cooldown"));
  }
}

}  // namespace

Goal TriggerSpec::goal() const {
  switch (watch.source) {
    case WatchSpec::Source::kModel:
      return watch.model.goal;
    case WatchSpec::Source::kStudy:
      return watch.study.goal;
    case WatchSpec::Source::kNone:
      break;
  }
  return Goal::kUnspecified;
}

std::string TriggerSpec::Subject() const {
  switch (watch.source) {
    case WatchSpec::Source::kModel:
      return watch.model.metric;
    case WatchSpec::Source::kStudy:
      return absl::StrCat("the best objective of study ", watch.study.name);
    case WatchSpec::Source::kNone:
      break;
  }
  return "";
}

std::string GoalName(Goal goal) {
  switch (goal) {
    case Goal::kMaximize:
      return "maximize";
    case Goal::kMinimize:
      return "minimize";
    case Goal::kUnspecified:
      break;
  }
  return "";
}

std::string FunctionName(AggregateFunction function) {
  switch (function) {
    case AggregateFunction::kLast:
      return "last";
    case AggregateFunction::kMean:
      return "mean";
    case AggregateFunction::kMin:
      return "min";
    case AggregateFunction::kMax:
      return "max";
  }
  return "";
}

std::string DescribeAggregate(const TriggerSpec& spec) {
  const AggregateSpec& a = spec.aggregate;
  const std::string subject = spec.Subject();
  if (a.function == AggregateFunction::kLast && a.window == AggregateSpec::Window::kPoints &&
      a.window_points == 1) {
    return subject;
  }
  std::string window = a.window == AggregateSpec::Window::kDuration
                           ? FormatDuration(a.window_ms)
                           : (a.window_points == 1 ? std::string("point")
                                                   : absl::StrCat(a.window_points, " points"));
  return absl::StrCat(FunctionName(a.function), "(", subject, ") over the last ", window);
}

std::string Summary(const TriggerSpec& spec) {
  const ConditionSpec& c = spec.condition;
  const std::string what = DescribeAggregate(spec);
  std::string condition;
  switch (c.kind) {
    case ConditionSpec::Kind::kBelow:
      condition = absl::StrCat(what, " < ", c.threshold);
      break;
    case ConditionSpec::Kind::kAbove:
      condition = absl::StrCat(what, " > ", c.threshold);
      break;
    case ConditionSpec::Kind::kDropFromBest:
      condition = absl::StrCat(what, " drops from its best by more than ", c.margin,
                               c.relative ? " x |best|" : "");
      break;
    case ConditionSpec::Kind::kNewBest:
      condition = absl::StrCat(what, " reaches a new best");
      break;
    case ConditionSpec::Kind::kSchedule:
      condition = c.every_ms > 0 ? absl::StrCat("every ", FormatDuration(c.every_ms))
                                 : absl::StrCat("cron \"", c.cron, "\" (UTC)");
      break;
  }
  const ActionSpec& a = spec.action;
  std::string action;
  if (a.kind == ActionSpec::Kind::kRetrainTrial) {
    action = absl::StrCat("retrain trial from study ", a.study);
  } else {
    action = a.file.empty() ? std::string("submit the inline study")
                            : absl::StrCat("submit study file ", a.file);
    if (!a.warm_start_from.empty()) {
      absl::StrAppend(&action, " (warm start from ", absl::StrJoin(a.warm_start_from, ", "), ")");
    }
  }
  return absl::StrCat(condition, ", cooldown ", FormatDuration(spec.cooldown_ms), " -> ", action);
}

absl::StatusOr<TriggerSpec> LoadTriggerText(const std::string& text, const std::string& file_name,
                                            std::vector<Diagnostic>* diagnostics) {
  TriggerSpec spec;
  spec.file = file_name.empty() ? "<string>" : file_name;
  spec.source_yaml = text;
  absl::Status s = spec_internal::RunLoad(
      spec.file, "trigger",
      [&](Sink* sink) {
        Reader r{sink, text};
        ReadTrigger(r, text, &spec);
      },
      diagnostics);
  if (!s.ok()) return s;
  return spec;
}

absl::StatusOr<TriggerSpec> LoadTriggerFile(const std::string& path,
                                            std::vector<Diagnostic>* diagnostics) {
  absl::StatusOr<std::string> text = spec_internal::ReadLoadedFile(path, diagnostics);
  if (!text.ok()) return text.status();
  return LoadTriggerText(*text, path, diagnostics);
}

}  // namespace hpt::engine::trigger
