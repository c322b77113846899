#include "cli/study_export.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace hpt::cli {
namespace {

using Json = nlohmann::ordered_json;
using tracker::StudyState;
using tracker::TrialState;

constexpr TrialState kTrialStates[] = {TrialState::kPending,
                                       TrialState::kRunning,
                                       TrialState::kSucceeded,
                                       TrialState::kFailed,
                                       TrialState::kKilled,
                                       TrialState::kEarlyStopped,
                                       TrialState::kMetricsUnavailable};
constexpr StudyState kStudyStates[] = {StudyState::kCreated, StudyState::kRunning,
                                       StudyState::kSucceeded, StudyState::kFailed};

// Points per AppendMetrics call when importing (one transaction each).
constexpr size_t kImportBatch = 10000;

// A found value for messages: its JSON type, and the value itself when it is a short scalar.
std::string Describe(const Json& v) {
  if (v.is_object() || v.is_array()) return v.type_name();
  std::string text = v.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
  if (text.size() > 40) text = absl::StrCat(text.substr(0, 37), "...");
  return absl::StrCat(v.type_name(), " ", text);
}

// Reads fields of the document, keeping the first error (later calls then do nothing). Every
// error names the field by its JSON path.
class Reader {
 public:
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

  void Fail(const std::string& path, absl::string_view what) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  }

  // path.key, or path["key"] for a key that is not a plain identifier (an annotation's).
  static std::string Join(const std::string& path, absl::string_view key) {
    const bool plain = !key.empty() && !absl::ascii_isdigit(key[0]) &&
                       std::all_of(key.begin(), key.end(),
                                   [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
    if (!plain) return absl::StrCat(path, "[", Json(std::string(key)).dump(), "]");
    return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
  }
  static std::string Index(const std::string& path, size_t i) {
    return absl::StrCat(path, "[", i, "]");
  }

  // True when `j` is an object holding no key outside `allowed`.
  bool Object(const Json& j, const std::string& path, std::initializer_list<const char*> allowed) {
    if (!ok()) return false;
    if (!j.is_object()) {
      Fail(path, absl::StrCat("expected an object, got ", Describe(j)));
      return false;
    }
    for (const auto& [key, value] : j.items()) {
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
        Fail(Join(path, key),
             absl::StrCat("unknown field; allowed: ", absl::StrJoin(allowed, ", ")));
        return false;
      }
    }
    return true;
  }

  // The field `key` of object `obj`, or nullptr when absent (an error when `required`).
  const Json* Field(const Json& obj, const std::string& path, const char* key, bool required) {
    if (!ok()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) Fail(Join(path, key), "required field missing");
      return nullptr;
    }
    return &*it;
  }

  void String(const Json& obj, const std::string& path, const char* key, std::string* out,
              bool required = false) {
    const Json* v = Field(obj, path, key, required);
    if (v == nullptr) return;
    if (!v->is_string()) return Expected(Join(path, key), "a string", *v);
    *out = v->get<std::string>();
  }

  void Bool(const Json& obj, const std::string& path, const char* key, bool* out) {
    const Json* v = Field(obj, path, key, false);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Expected(Join(path, key), "true or false", *v);
    *out = v->get<bool>();
  }

  // An integer in [min, max].
  void Int(const Json& obj, const std::string& path, const char* key, int64_t min, int64_t max,
           int64_t* out) {
    const Json* v = Field(obj, path, key, false);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (!v->is_number_integer()) return Expected(where, "an integer", *v);
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail(
          where, absl::StrCat(v->get<uint64_t>(), " is out of range; allowed: ", min, " to ", max));
    }
    const int64_t n = v->get<int64_t>();
    if (n < min || n > max) {
      return Fail(where, absl::StrCat(n, " is out of range; allowed: ", min, " to ", max));
    }
    *out = n;
  }

  void Uint64(const Json& obj, const std::string& path, const char* key, uint64_t* out) {
    const Json* v = Field(obj, path, key, false);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (!v->is_number_integer()) return Expected(where, "an unsigned 64-bit integer", *v);
    if (!v->is_number_unsigned()) {
      return Fail(where, absl::StrCat(v->get<int64_t>(), " is negative; allowed: 0 to ",
                                      std::numeric_limits<uint64_t>::max()));
    }
    *out = v->get<uint64_t>();
  }

  // A finite number; null too when `nullable` (then `out` is reset).
  void Number(const Json& obj, const std::string& path, const char* key, bool required,
              bool nullable, std::optional<double>* out) {
    const Json* v = Field(obj, path, key, required);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (nullable && v->is_null()) {
      out->reset();
      return;
    }
    if (!v->is_number()) return Expected(where, nullable ? "a number or null" : "a number", *v);
    const double d = v->get<double>();
    if (!std::isfinite(d)) return Fail(where, "must be a finite number");
    *out = d;
  }

  // The array `key` of `obj`, or nullptr when absent or not an array (an error then).
  const Json* Array(const Json& obj, const std::string& path, const char* key, bool required) {
    const Json* v = Field(obj, path, key, required);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      Expected(Join(path, key), "an array", *v);
      return nullptr;
    }
    return v;
  }

 private:
  void Expected(const std::string& where, absl::string_view what, const Json& got) {
    Fail(where, absl::StrCat("expected ", what, ", got ", Describe(got)));
  }

  absl::Status status_;
};

template <typename State, size_t N>
std::string StateNames(const State (&states)[N], const char* (*name)(State)) {
  std::vector<std::string> names;
  for (State s : states) names.push_back(name(s));
  return absl::StrJoin(names, ", ");
}

template <typename State, size_t N>
void ReadState(Reader& r, const Json& obj, const std::string& path, const State (&states)[N],
               const char* (*name)(State), State* out) {
  std::string text;
  r.String(obj, path, "state", &text);
  if (!r.ok() || !obj.contains("state")) return;
  for (State s : states) {
    if (text == name(s)) {
      *out = s;
      return;
    }
  }
  r.Fail(Reader::Join(path, "state"),
         absl::StrCat("\"", text, "\" is not a state; allowed: ", StateNames(states, name)));
}

void ReadStudy(Reader& r, const Json& j, tracker::StudyRecord* s) {
  const std::string path = "study";
  if (!r.Object(j, path,
                {"name", "project", "experiment", "spec_yaml", "spec_path", "algorithm",
                 "objective_metric", "maximize", "seed", "state", "reason", "message",
                 "annotations", "created_ms", "finished_ms"})) {
    return;
  }
  r.String(j, path, "name", &s->name, /*required=*/true);
  if (r.ok() && s->name.empty()) r.Fail("study.name", "must not be empty");
  r.String(j, path, "project", &s->project);
  r.String(j, path, "experiment", &s->experiment);
  r.String(j, path, "spec_yaml", &s->spec_yaml);
  r.String(j, path, "spec_path", &s->spec_path);
  r.String(j, path, "algorithm", &s->algorithm);
  r.String(j, path, "objective_metric", &s->objective_metric);
  r.Bool(j, path, "maximize", &s->maximize);
  r.Uint64(j, path, "seed", &s->seed);
  ReadState(r, j, path, kStudyStates, tracker::StudyStateName, &s->state);
  r.String(j, path, "reason", &s->reason);
  r.String(j, path, "message", &s->message);
  if (const Json* a = r.Field(j, path, "annotations", false); a != nullptr) {
    if (!a->is_object()) {
      r.Fail("study.annotations",
             absl::StrCat("expected an object of strings, got ", Describe(*a)));
      return;
    }
    for (const auto& [key, value] : a->items()) {
      if (!r.ok()) break;
      r.String(*a, "study.annotations", key.c_str(), &s->annotations[key]);
    }
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  r.Int(j, path, "created_ms", 0, kMax, &s->created_ms);
  r.Int(j, path, "finished_ms", 0, kMax, &s->finished_ms);
}

void ReadPoint(Reader& r, const Json& j, const std::string& path, tracker::StoredPoint* p) {
  if (!r.Object(j, path, {"name", "step", "value", "time_ms"})) return;
  r.String(j, path, "name", &p->name, /*required=*/true);
  if (r.ok() && p->name.empty()) r.Fail(Reader::Join(path, "name"), "must not be empty");
  if (r.ok() && p->name.size() > tracker::kMaxMetricNameBytes) {
    r.Fail(Reader::Join(path, "name"), absl::StrCat("is ", p->name.size(), " bytes long; at most ",
                                                    tracker::kMaxMetricNameBytes, " allowed"));
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  r.Int(j, path, "step", 0, kMax, &p->step);
  std::optional<double> value;
  r.Number(j, path, "value", /*required=*/true, /*nullable=*/false, &value);
  if (value) p->value = *value;
  r.Int(j, path, "time_ms", 0, kMax, &p->time_ms);
}

void ReadTrial(Reader& r, const Json& j, const std::string& path, ExportedTrial* t) {
  if (!r.Object(j, path,
                {"name", "params", "seed", "state", "reason", "message", "objective", "attempt",
                 "manifest", "created_ms", "started_ms", "finished_ms", "metrics"})) {
    return;
  }
  tracker::TrialRecord& rec = t->record;
  r.String(j, path, "name", &rec.name, /*required=*/true);
  if (r.ok() && rec.name.empty()) r.Fail(Reader::Join(path, "name"), "must not be empty");
  if (const Json* params = r.Array(j, path, "params", false); params != nullptr) {
    const std::string ppath = Reader::Join(path, "params");
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < params->size() && r.ok(); ++i) {
      const std::string at = Reader::Index(ppath, i);
      if (!r.Object((*params)[i], at, {"name", "value"})) break;
      std::string name, value;
      r.String((*params)[i], at, "name", &name, /*required=*/true);
      r.String((*params)[i], at, "value", &value, /*required=*/true);
      if (!r.ok()) break;
      if (name.empty()) r.Fail(Reader::Join(at, "name"), "must not be empty");
      if (auto [it, fresh] = seen.emplace(name, i); !fresh) {
        r.Fail(Reader::Join(at, "name"), absl::StrCat("\"", name, "\" is assigned twice (also ",
                                                      Reader::Index(ppath, it->second), ")"));
      }
      rec.params.emplace_back(std::move(name), std::move(value));
    }
  }
  r.Uint64(j, path, "seed", &rec.seed);
  ReadState(r, j, path, kTrialStates, tracker::TrialStateName, &rec.state);
  r.String(j, path, "reason", &rec.reason);
  r.String(j, path, "message", &rec.message);
  r.Number(j, path, "objective", /*required=*/false, /*nullable=*/true, &rec.objective);
  if (r.ok() && rec.objective && !tracker::IsTerminal(rec.state)) {
    r.Fail(Reader::Join(path, "objective"),
           absl::StrCat("a ", tracker::TrialStateName(rec.state),
                        " trial has no objective (only finished trials have one); use null"));
  }
  int64_t attempt = 0;
  r.Int(j, path, "attempt", 0, kMaxImportAttempts, &attempt);
  rec.attempt = static_cast<int>(attempt);
  if (r.ok() && rec.state == TrialState::kRunning && rec.attempt == 0) {
    r.Fail(Reader::Join(path, "attempt"), "0, but a RUNNING trial has started at least once");
  }
  r.String(j, path, "manifest", &rec.manifest);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  r.Int(j, path, "created_ms", 0, kMax, &rec.created_ms);
  r.Int(j, path, "started_ms", 0, kMax, &rec.started_ms);
  r.Int(j, path, "finished_ms", 0, kMax, &rec.finished_ms);
  if (const Json* metrics = r.Array(j, path, "metrics", false); metrics != nullptr) {
    const std::string mpath = Reader::Join(path, "metrics");
    t->points.resize(metrics->size());
    for (size_t i = 0; i < metrics->size() && r.ok(); ++i) {
      ReadPoint(r, (*metrics)[i], Reader::Index(mpath, i), &t->points[i]);
    }
  }
}

void ReadEvent(Reader& r, const Json& j, const std::string& path,
               const std::map<std::string, size_t>& trials, ExportedEvent* e) {
  if (!r.Object(j, path, {"trial", "kind", "message", "time_ms"})) return;
  if (const Json* trial = r.Field(j, path, "trial", false); trial != nullptr && !trial->is_null()) {
    r.String(j, path, "trial", &e->trial);
    if (r.ok() && !trials.contains(e->trial)) {
      r.Fail(Reader::Join(path, "trial"),
             absl::StrCat("no trial \"", e->trial, "\" in this export (null: a study event)"));
    }
  }
  r.String(j, path, "kind", &e->kind, /*required=*/true);
  if (r.ok() && e->kind.empty()) r.Fail(Reader::Join(path, "kind"), "must not be empty");
  r.String(j, path, "message", &e->message);
  r.Int(j, path, "time_ms", 1, std::numeric_limits<int64_t>::max(), &e->time_ms);
}

Json PointJson(const tracker::StoredPoint& p) {
  Json j = Json::object();
  j["name"] = p.name;
  j["step"] = p.step;
  j["value"] = p.value;
  j["time_ms"] = p.time_ms;
  return j;
}

std::string ParseErrorMessage(const std::exception& e) {
  absl::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    if (size_t close = what.find("] "); close != absl::string_view::npos) {
      what.remove_prefix(close + 2);
    }
  }
  return std::string(what);
}

}  // namespace

int64_t StudyExport::PointCount() const {
  int64_t n = 0;
  for (const ExportedTrial& t : trials) n += static_cast<int64_t>(t.points.size());
  return n;
}

absl::StatusOr<StudyExport> ReadStudyExport(tracker::TrialStore* store,
                                            const tracker::StudyRecord& study) {
  StudyExport e;
  e.study = study;
  e.study.id = 0;
  // Events first: every trial an event names then exists in the trial list read after them.
  absl::StatusOr<std::vector<tracker::Event>> events = store->ListEvents(study.id);
  if (!events.ok()) return events.status();
  absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store->ListTrials(study.id);
  if (!trials.ok()) return trials.status();
  std::map<int64_t, std::string> names;
  for (const tracker::TrialRecord& t : *trials) {
    absl::StatusOr<std::vector<tracker::StoredPoint>> points = store->MetricHistory(t.id, "");
    if (!points.ok()) return points.status();
    names[t.id] = t.name;
    ExportedTrial& out = e.trials.emplace_back();
    out.record = t;
    out.record.id = 0;
    out.record.study_id = 0;
    out.record.token_hash.clear();
    out.points = *std::move(points);
  }
  for (const tracker::Event& ev : *events) {
    std::string trial;
    if (ev.trial_id != 0) {
      auto it = names.find(ev.trial_id);
      if (it == names.end()) {
        return absl::NotFoundError(absl::StrCat("event ", ev.id, " of study \"", study.name,
                                                "\" names trial id ", ev.trial_id,
                                                ", which is no longer in the study"));
      }
      trial = it->second;
    }
    e.events.push_back(
        {.trial = std::move(trial), .kind = ev.kind, .message = ev.message, .time_ms = ev.time_ms});
  }
  return e;
}

nlohmann::ordered_json ExportToJson(const StudyExport& e) {
  const tracker::StudyRecord& s = e.study;
  Json study = Json::object();
  study["name"] = s.name;
  study["project"] = s.project;
  study["experiment"] = s.experiment;
  study["spec_yaml"] = s.spec_yaml;
  study["spec_path"] = s.spec_path;
  study["algorithm"] = s.algorithm;
  study["objective_metric"] = s.objective_metric;
  study["maximize"] = s.maximize;
  study["seed"] = s.seed;
  study["state"] = tracker::StudyStateName(s.state);
  study["reason"] = s.reason;
  study["message"] = s.message;
  study["annotations"] = Json::object();
  for (const auto& [key, value] : s.annotations) study["annotations"][key] = value;
  study["created_ms"] = s.created_ms;
  study["finished_ms"] = s.finished_ms;

  Json trials = Json::array();
  for (const ExportedTrial& et : e.trials) {
    const tracker::TrialRecord& t = et.record;
    Json j = Json::object();
    j["name"] = t.name;
    j["params"] = Json::array();
    for (const auto& [name, value] : t.params) {
      Json p = Json::object();
      p["name"] = name;
      p["value"] = value;
      j["params"].push_back(std::move(p));
    }
    j["seed"] = t.seed;
    j["state"] = tracker::TrialStateName(t.state);
    j["reason"] = t.reason;
    j["message"] = t.message;
    j["objective"] = t.objective ? Json(*t.objective) : Json(nullptr);
    j["attempt"] = t.attempt;
    j["manifest"] = t.manifest;
    j["created_ms"] = t.created_ms;
    j["started_ms"] = t.started_ms;
    j["finished_ms"] = t.finished_ms;
    j["metrics"] = Json::array();
    for (const tracker::StoredPoint& p : et.points) j["metrics"].push_back(PointJson(p));
    trials.push_back(std::move(j));
  }

  Json events = Json::array();
  for (const ExportedEvent& ev : e.events) {
    Json j = Json::object();
    j["trial"] = ev.trial.empty() ? Json(nullptr) : Json(ev.trial);
    j["kind"] = ev.kind;
    j["message"] = ev.message;
    j["time_ms"] = ev.time_ms;
    events.push_back(std::move(j));
  }

  Json doc = Json::object();
  doc["format"] = kExportFormat;
  doc["study"] = std::move(study);
  doc["trials"] = std::move(trials);
  doc["events"] = std::move(events);
  return doc;
}

absl::StatusOr<StudyExport> ParseStudyExport(const std::string& text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for 1e999
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", ParseErrorMessage(e)));
  }
  return StudyExportFromJson(j);
}

absl::StatusOr<StudyExport> StudyExportFromJson(const nlohmann::ordered_json& j) {
  const std::string expected = absl::StrCat("expected \"format\": \"", kExportFormat, "\"");
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an hpt export: the document is ", Describe(j), ", not an object (", expected, ")"));
  }
  // The format first: a later version may have fields this one does not know.
  auto format = j.find("format");
  if (format == j.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("format: required field missing; not an hpt export? (", expected, ")"));
  }
  if (!format->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("format: expected a string, got ", Describe(*format), " (", expected, ")"));
  }
  const std::string version = format->get<std::string>();
  if (version != kExportFormat) {
    if (absl::string_view(version).substr(0, 11) == "hpt.export/") {
      return absl::UnimplementedError(
          absl::StrCat("format: \"", version, "\" is not supported by this hpt, which reads \"",
                       kExportFormat, "\" (a newer hpt may read it)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("format: \"", version, "\" is not an hpt export format (", expected, ")"));
  }

  Reader r;
  StudyExport e;
  r.Object(j, "", {"format", "study", "trials", "events"});
  if (const Json* study = r.Field(j, "", "study", /*required=*/true); study != nullptr) {
    ReadStudy(r, *study, &e.study);
  }
  std::map<std::string, size_t> trial_index;
  if (const Json* trials = r.Array(j, "", "trials", /*required=*/true); trials != nullptr) {
    e.trials.resize(trials->size());
    for (size_t i = 0; i < trials->size() && r.ok(); ++i) {
      const std::string path = Reader::Index("trials", i);
      ReadTrial(r, (*trials)[i], path, &e.trials[i]);
      if (!r.ok()) break;
      const std::string& name = e.trials[i].record.name;
      if (auto [it, fresh] = trial_index.emplace(name, i); !fresh) {
        r.Fail(Reader::Join(path, "name"),
               absl::StrCat("\"", name, "\" is also the name of ",
                            Reader::Index("trials", it->second), "; trial names are unique"));
      }
    }
  }
  if (const Json* events = r.Array(j, "", "events", false); events != nullptr) {
    e.events.resize(events->size());
    for (size_t i = 0; i < events->size() && r.ok(); ++i) {
      ReadEvent(r, (*events)[i], Reader::Index("events", i), trial_index, &e.events[i]);
    }
  }
  if (!r.ok()) return r.status();
  return e;
}

absl::Status RenameStudyExport(const std::string& name, StudyExport* e) {
  if (name.empty()) return absl::InvalidArgumentError("the new study name must not be empty");
  const std::string old = e->study.name;
  auto rename = [&](const std::string& trial) {
    if (absl::string_view(trial).substr(0, old.size()) == old) {
      return absl::StrCat(name, absl::string_view(trial).substr(old.size()));
    }
    return absl::StrCat(name, "-", trial);
  };
  for (ExportedTrial& t : e->trials) t.record.name = rename(t.record.name);
  for (ExportedEvent& ev : e->events) {
    if (!ev.trial.empty()) ev.trial = rename(ev.trial);
  }
  e->study.name = name;
  return absl::OkStatus();
}

absl::StatusOr<tracker::StudyRecord> ImportStudyExport(tracker::TrialStore* store,
                                                       const StudyExport& e) {
  const std::string rename_hint =
      "; import it under another name with --name NEW_NAME (which renames its trials too)";
  absl::StatusOr<tracker::StudyRecord> existing = store->FindStudy(e.study.name);
  if (existing.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("a study named \"", e.study.name, "\" already exists", rename_hint));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  for (size_t i = 0; i < e.trials.size(); ++i) {
    const std::string& name = e.trials[i].record.name;
    absl::StatusOr<tracker::TrialRecord> t = store->FindTrial(name);
    if (t.ok()) {
      absl::StatusOr<tracker::StudyRecord> owner = store->GetStudy(t->study_id);
      return absl::AlreadyExistsError(absl::StrCat(
          "trial \"", name, "\" (trials[", i, "]) already exists",
          owner.ok() ? absl::StrCat(" in study \"", owner->name, "\"") : "", rename_hint));
    }
    if (!absl::IsNotFound(t.status())) return t.status();
  }

  const tracker::StudyRecord& s = e.study;
  absl::StatusOr<tracker::StudyRecord> created =
      store->CreateStudy({.name = s.name,
                          .project = s.project,
                          .experiment = s.experiment,
                          .spec_yaml = s.spec_yaml,
                          .spec_path = s.spec_path,
                          .algorithm = s.algorithm,
                          .objective_metric = s.objective_metric,
                          .maximize = s.maximize,
                          .seed = s.seed,
                          .annotations = s.annotations});
  if (absl::IsAlreadyExists(created.status())) {  // created meanwhile by someone else
    return absl::AlreadyExistsError(
        absl::StrCat("a study named \"", s.name, "\" already exists", rename_hint));
  }
  if (!created.ok()) return created.status();
  const int64_t study_id = created->id;
  // A study exported while it ran is a copy: whatever runs its trials runs them elsewhere, and an
  // hptd on this file must not take it up (it would run them again). It is stored stopped, its
  // unfinished trials killed; `hpt resume` runs it again.
  const bool was_running = s.state == StudyState::kRunning;
  constexpr char kImportedWhileRunning[] = "ImportedWhileRunning";
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());

  std::map<std::string, int64_t> ids;
  absl::Status status;
  for (size_t i = 0; i < e.trials.size() && status.ok(); ++i) {
    const tracker::TrialRecord& t = e.trials[i].record;
    const std::string where = absl::StrCat("trials[", i, "] (", t.name, "): ");
    absl::StatusOr<tracker::TrialRecord> trial = store->CreateTrial({.study_id = study_id,
                                                                     .name = t.name,
                                                                     .params = t.params,
                                                                     .seed = t.seed,
                                                                     .manifest = t.manifest});
    if (!trial.ok()) {
      status = absl::Status(trial.status().code(), where + std::string(trial.status().message()));
      if (absl::IsAlreadyExists(status)) {
        status = absl::AlreadyExistsError(absl::StrCat(status.message(), rename_hint));
      }
      break;
    }
    ids[t.name] = trial->id;
    const std::vector<tracker::StoredPoint>& points = e.trials[i].points;
    for (size_t begin = 0; begin < points.size() && status.ok(); begin += kImportBatch) {
      std::vector<tracker::MetricPoint> batch;
      for (size_t k = begin; k < std::min(points.size(), begin + kImportBatch); ++k) {
        batch.push_back({.name = points[k].name,
                         .step = points[k].step,
                         .value = points[k].value,
                         .time_ms = points[k].time_ms});
      }
      if (absl::StatusOr<tracker::AppendResult> r = store->AppendMetrics(trial->id, 0, batch);
          !r.ok()) {
        status = absl::Status(r.status().code(), where + std::string(r.status().message()));
      }
    }
    // Each move into RUNNING counts an attempt; a requeue (back to PENDING) separates them.
    for (int a = 1; a <= t.attempt && status.ok(); ++a) {
      if (a > 1) status = store->SetTrialState(trial->id, TrialState::kPending, "", "");
      if (status.ok()) status = store->SetTrialState(trial->id, TrialState::kRunning, "", "");
    }
    const bool killed_here = was_running && !tracker::IsTerminal(t.state);
    const bool untouched = !killed_here && t.state == TrialState::kPending && t.attempt == 0 &&
                           t.reason.empty() && t.message.empty();
    if (status.ok() && killed_here) {
      status = store->SetTrialState(trial->id, TrialState::kKilled, kImportedWhileRunning,
                                    "the study was exported while this trial ran");
    } else if (status.ok() && !untouched) {
      status = store->SetTrialState(trial->id, t.state, t.reason, t.message, t.objective);
    }
    if (status.ok()) {
      status = store->RestoreTrialTimes(trial->id, t.created_ms, t.started_ms,
                                        killed_here ? now_ms : t.finished_ms);
    }
    if (!status.ok() && status.message().substr(0, where.size()) != where) {
      status = absl::Status(status.code(), where + std::string(status.message()));
    }
  }
  for (size_t i = 0; i < e.events.size() && status.ok(); ++i) {
    const ExportedEvent& ev = e.events[i];
    int64_t trial_id = 0;
    if (!ev.trial.empty()) {
      auto it = ids.find(ev.trial);
      if (it == ids.end()) {
        status = absl::InvalidArgumentError(
            absl::StrCat("events[", i, "].trial: no trial \"", ev.trial, "\" in this export"));
        break;
      }
      trial_id = it->second;
    }
    status = store->AddEventAt(study_id, trial_id, ev.kind, ev.message, ev.time_ms);
    if (!status.ok()) {
      status = absl::Status(status.code(), absl::StrCat("events[", i, "]: ", status.message()));
    }
  }
  if (status.ok() && was_running) {
    status = store->SetStudyState(study_id, StudyState::kFailed, kImportedWhileRunning,
                                  "exported while running; `hpt resume` runs it again");
    if (status.ok()) {
      status = store->AddEvent(study_id, 0, kImportedWhileRunning,
                               "imported from an export taken while the study ran: stopped, its "
                               "unfinished trials killed");
    }
  } else if (status.ok() &&
             (s.state != StudyState::kCreated || !s.reason.empty() || !s.message.empty())) {
    status = store->SetStudyState(study_id, s.state, s.reason, s.message);
  }
  if (status.ok()) {
    status = store->RestoreStudyTimes(study_id, s.created_ms, was_running ? now_ms : s.finished_ms);
  }
  if (!status.ok()) {
    // Leave nothing half-imported behind.
    if (absl::Status undo = store->DeleteStudy(study_id); !undo.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), "; removing the partly imported study \"",
                                       s.name, "\" failed too: ", undo.message()));
    }
    return status;
  }
  return store->GetStudy(study_id);
}

}  // namespace hpt::cli
