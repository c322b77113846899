// hpt trigger apply / list / delete / history / evaluate and hpt report: the CLI side of hptd's
// retraining triggers (docs/triggers.md), over the StudyService.
#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/remote.h"
#include "cli/table.h"
#include "engine/spec/study_spec.h"
#include "engine/trigger/trigger_spec.h"
#include "hpt/v1/study.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

// A time for a table (local time, to the second); the Unix milliseconds for json and csv. "" for 0.
std::string TimeCell(int64_t ms, const std::string& format) {
  if (ms == 0) return "";
  if (format != "table") return std::to_string(ms);
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms), absl::LocalTimeZone());
}

std::string NumberCell(bool has, double v) { return has ? suggest::FormatDouble(v) : ""; }

int Print(const Table& t, const std::string& format) {
  absl::Status s = PrintTable(t, format, std::cout);
  if (!s.ok()) {
    std::cerr << "hpt: " << s.message() << "\n";
    return 2;
  }
  return 0;
}

// JSON keeps ids and times as integers (PrintTable writes every number as a double) and absent
// values as null.
using Json = nlohmann::ordered_json;

Json Number(bool has, double v) { return has ? Json(v) : Json(nullptr); }
Json Millis(int64_t ms) { return ms == 0 ? Json(nullptr) : Json(ms); }

void PrintJson(const Json& rows) { std::cout << rows.dump(2) << "\n"; }

Json FiringsJson(const google::protobuf::RepeatedPtrField<hpt::v1::TriggerFiring>& firings) {
  Json rows = Json::array();
  for (const hpt::v1::TriggerFiring& f : firings) {
    rows.push_back({{"id", f.id()},
                    {"trigger", f.trigger()},
                    {"time_ms", f.time_ms()},
                    {"state", f.state()},
                    {"value", Number(f.has_value(), f.value())},
                    {"best", Number(f.has_best(), f.best())},
                    {"action", f.action()},
                    {"result", f.result()},
                    {"reason", f.reason()},
                    {"finished_ms", Millis(f.finished_ms())}});
  }
  return rows;
}

Table FiringTable(const google::protobuf::RepeatedPtrField<hpt::v1::TriggerFiring>& firings,
                  const std::string& format) {
  Table t;
  // The id is what the study an action makes is named after (<study>-retrain-<id>, <name>-t<id>).
  const bool table = format == "table";
  t.columns = {"id",     "trigger", table ? "time" : "time_ms", "state", "value", "best", "action",
               "result", "reason"};
  t.numeric = {true, false, !table, false, true, true, false, false, false};
  for (const hpt::v1::TriggerFiring& f : firings) {
    t.rows.push_back({std::to_string(f.id()), f.trigger(), TimeCell(f.time_ms(), format), f.state(),
                      NumberCell(f.has_value(), f.value()), NumberCell(f.has_best(), f.best()),
                      f.action(), f.result(), f.reason()});
  }
  return t;
}

// The text of a file, or nullopt with errno's reason in `error`.
std::optional<std::string> ReadFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *error = "read error";
    return std::nullopt;
  }
  return text.str();
}

}  // namespace

int ApplyTrigger(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o) {
  // Loaded here first, so that every problem names the user's path with line:column.
  std::vector<engine::Diagnostic> diagnostics;
  absl::StatusOr<engine::trigger::TriggerSpec> spec =
      engine::trigger::LoadTriggerFile(o.file, &diagnostics);
  std::set<std::string> shown;
  for (const engine::Diagnostic& d : diagnostics) {
    shown.insert(d.ToString());
    std::cerr << d.ToString() << "\n";
  }
  if (!spec.ok()) {
    if (diagnostics.empty()) std::cerr << "hpt: " << spec.status().message() << "\n";
    return 1;
  }
  std::string study_yaml;
  if (spec->action.kind == engine::trigger::ActionSpec::Kind::kSubmitStudy &&
      !spec->action.resolved_file.empty()) {
    std::string error;
    std::optional<std::string> text = ReadFile(spec->action.resolved_file, &error);
    if (!text) {
      std::cerr << "hpt: " << o.file << ": spec.action.submitStudy.file: cannot read \""
                << spec->action.file << "\""
                << (spec->action.file == spec->action.resolved_file
                        ? ""
                        : absl::StrCat(" (", spec->action.resolved_file, ")"))
                << ": " << error << "\n";
      return 1;
    }
    study_yaml = *std::move(text);
  }
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::ApplyTriggerRequest req;
  req.set_yaml(spec->source_yaml);  // the very text checked above
  req.set_file_name(o.file);
  req.set_study_yaml(study_yaml);
  hpt::v1::TriggerInfo info;
  grpc::Status s = remote->stub()->ApplyTrigger(remote->Context().get(), req, &info);
  if (!s.ok()) return remote->Failed(s);
  for (const std::string& w : info.warnings()) {
    if (!shown.contains(w)) std::cerr << w << "\n";
  }
  std::cout << "trigger " << info.name() << (info.created() ? " created" : " configured") << ": "
            << info.summary() << "\n";
  return 0;
}

int ListTriggers(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::ListTriggersResponse resp;
  grpc::Status s = remote->stub()->ListTriggers(remote->Context().get(), {}, &resp);
  if (!s.ok()) return remote->Failed(s);
  if (resp.triggers().empty() && o.format == "table") {
    std::cout << "no triggers\n";
    return 0;
  }
  if (o.format == "json") {
    Json rows = Json::array();
    for (const hpt::v1::TriggerInfo& i : resp.triggers()) {
      rows.push_back({{"name", i.name()},
                      {"summary", i.summary()},
                      {"value", Number(i.has_last_value(), i.last_value())},
                      {"evaluated_ms", Millis(i.last_evaluated_ms())},
                      {"reason", i.last_reason()},
                      {"fired_ms", Millis(i.last_fired_ms())},
                      {"state", i.last_firing_state()},
                      {"result", i.last_firing_result()},
                      {"applied_ms", i.applied_ms()},
                      {"updated_ms", i.updated_ms()}});
    }
    PrintJson(rows);
    return 0;
  }
  // Times: local time in a table, Unix milliseconds (`*_ms`) in csv.
  const bool table = o.format == "table";
  Table t;
  t.columns = {"name",   "summary",
               "value",  table ? "evaluated" : "evaluated_ms",
               "reason", table ? "fired" : "fired_ms",
               "state",  "result"};
  t.numeric = {false, false, true, !table, false, !table, false, false};
  for (const hpt::v1::TriggerInfo& i : resp.triggers()) {
    t.rows.push_back({i.name(), i.summary(), NumberCell(i.has_last_value(), i.last_value()),
                      TimeCell(i.last_evaluated_ms(), o.format), i.last_reason(),
                      TimeCell(i.last_fired_ms(), o.format), i.last_firing_state(),
                      i.last_firing_result()});
  }
  return Print(t, o.format);
}

int DeleteTrigger(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::TriggerRef ref;
  ref.set_name(o.name);
  hpt::v1::TriggerRef resp;
  grpc::Status s = remote->stub()->DeleteTrigger(remote->Context().get(), ref, &resp);
  if (!s.ok()) return remote->Failed(s);
  std::cout << "trigger " << resp.name() << " deleted\n";
  return 0;
}

int TriggerHistory(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o) {
  if (o.limit < 0) {
    std::cerr << "hpt: --limit must be >= 0 (0 = every firing), got " << o.limit << "\n";
    return 2;
  }
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::TriggerHistoryRequest req;
  req.set_name(o.name);
  req.set_limit(o.limit);
  hpt::v1::TriggerHistoryResponse resp;
  grpc::Status s = remote->stub()->TriggerHistory(remote->Context().get(), req, &resp);
  if (!s.ok()) return remote->Failed(s);
  if (resp.firings().empty() && o.format == "table") {
    std::cout << (o.name.empty() ? "no trigger has fired" : "trigger " + o.name + " never fired")
              << "\n";
    return 0;
  }
  if (o.format == "json") {
    PrintJson(FiringsJson(resp.firings()));
    return 0;
  }
  return Print(FiringTable(resp.firings(), o.format), o.format);
}

int EvaluateTriggers(const GlobalOptions& g, const RemoteOptions& r) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::TriggerHistoryResponse resp;
  // An action submits a study: allow it more than the usual deadline.
  grpc::Status s = remote->stub()->EvaluateTriggers(remote->Context(120).get(), {}, &resp);
  if (!s.ok()) return remote->Failed(s);
  if (resp.firings().empty()) {
    std::cout << "no trigger fired\n";
    return 0;
  }
  for (const hpt::v1::TriggerFiring& f : resp.firings()) {
    std::cout << "trigger " << f.trigger() << " fired: " << f.reason() << " -> " << f.action()
              << " " << f.state() << (f.result().empty() ? "" : ": " + f.result()) << "\n";
  }
  return 0;
}

int Report(const GlobalOptions& g, const RemoteOptions& r, const ReportOptions& o) {
  hpt::v1::ReportModelMetricsRequest req;
  req.set_project(o.project);
  req.set_experiment(o.experiment);
  req.set_model(o.model);
  if (o.time_ms && *o.time_ms < 0) {
    std::cerr << "hpt: --time must be Unix milliseconds >= 0, got " << *o.time_ms << "\n";
    return 2;
  }
  for (const std::string& m : o.metrics) {
    const size_t eq = m.find('=');
    double value = 0;
    if (eq == std::string::npos || eq == 0 || !absl::SimpleAtod(m.substr(eq + 1), &value) ||
        !std::isfinite(value)) {
      std::cerr << "hpt: report: \"" << m
                << "\" is not NAME=VALUE with a finite number as VALUE (e.g. auc=0.93)\n";
      return 2;
    }
    hpt::v1::ModelMetric* point = req.add_metrics();
    point->set_name(m.substr(0, eq));
    point->set_value(value);
    point->set_time_ms(o.time_ms.value_or(0));
  }
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::ReportModelMetricsResponse resp;
  grpc::Status s = remote->stub()->ReportModelMetrics(remote->Context().get(), req, &resp);
  if (!s.ok()) return remote->Failed(s);
  std::cout << "stored " << resp.stored() << " point" << (resp.stored() == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace hpt::cli
