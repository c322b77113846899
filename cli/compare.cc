// hpt compare / history / export / import: trials side by side, one trial's metric points, and a
// study's round trip through a file (cli/study_export.h).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/sparkline.h"
#include "cli/study_export.h"
#include "cli/table.h"
#include "cli/tracker_file.h"
#include "nlohmann/json.hpp"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

using tracker::MetricSummary;
using tracker::StudyRecord;
using tracker::TrialRecord;

// The trial named `name`; NotFound says which file was searched.
absl::StatusOr<TrialRecord> FindTrialIn(tracker::TrialStore* store, const std::string& db,
                                        const std::string& name) {
  absl::StatusOr<TrialRecord> t = store->FindTrial(name);
  if (absl::IsNotFound(t.status())) {
    return absl::NotFoundError(absl::StrCat("no trial \"", name, "\" in ", db,
                                            " (`hpt trials STUDY` lists a study's trials)"));
  }
  return t;
}

std::string Short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string FormatTimeMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixMillis(ms), absl::LocalTimeZone());
}

// One row of `hpt compare`: a label and one typed value per trial (null where a trial has none).
struct CompareRow {
  std::string field;  // the label shown: "seed", "param lr", "loss latest"
  std::string kind;   // "trial", "param" or "metric"
  std::string name;   // param or metric name (empty for kind "trial")
  std::string stat;   // metric rows: latest, best, min, max or count
  std::vector<nlohmann::json> values;

  bool Differs() const {
    return std::any_of(values.begin(), values.end(),
                       [&](const nlohmann::json& v) { return v != values.front(); });
  }
};

// A value as text: every digit for csv (`exact`), six significant digits of a double for people.
std::string Cell(const nlohmann::json& v, bool exact) {
  if (v.is_null()) return "";
  if (v.is_string()) {
    // A parameter: long non-integer numbers shortened for people, as the leaderboard does.
    const std::string text = v.get<std::string>();
    absl::StatusOr<double> d = suggest::Numeric(text);
    if (exact || !d.ok() || text.size() <= 8 || text.find_first_of(".eE") == std::string::npos) {
      return text;
    }
    return Short(*d);
  }
  if (v.is_number_float()) {
    return exact ? suggest::FormatDouble(v.get<double>()) : Short(v.get<double>());
  }
  return v.dump();
}

// Code points of UTF-8 text (the width of a cell, good enough for alignment).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Aligned columns under a header and a rule. Unlike PrintTable's "table" format, cells are shown
// as given (integers such as seeds and steps keep every digit).
void PrintColumns(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) w[c] = Width(header[c]);
  for (const auto& r : rows) {
    for (size_t c = 0; c < w.size() && c < r.size(); ++c) w[c] = std::max(w[c], Width(r[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < w.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      text += cell;
      if (c + 1 < w.size()) text += std::string(w[c] - Width(cell) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  line(header);
  std::vector<std::string> rule;
  for (size_t c = 0; c < w.size(); ++c) rule.push_back(std::string(w[c], '-'));
  line(rule);
  for (const auto& r : rows) line(r);
}

}  // namespace

int Compare(const GlobalOptions& g, const CompareOptions& o) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  std::vector<TrialRecord> trials;
  std::vector<std::string> missing;
  for (const std::string& name : o.trials) {
    absl::StatusOr<TrialRecord> t = (*store)->FindTrial(name);
    if (absl::IsNotFound(t.status())) {
      missing.push_back(absl::StrCat("\"", name, "\""));
      continue;
    }
    if (!t.ok()) return Fail(t.status());
    trials.push_back(*std::move(t));
  }
  if (!missing.empty()) {
    return Fail(absl::NotFoundError(absl::StrCat(missing.size() == 1 ? "no trial " : "no trials ",
                                                 absl::StrJoin(missing, ", "), " in ", g.db,
                                                 " (`hpt trials STUDY` lists a study's trials)")));
  }
  const size_t n = trials.size();
  std::vector<StudyRecord> studies;
  std::vector<std::map<std::string, MetricSummary>> sums(n);
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<StudyRecord> s = (*store)->GetStudy(trials[i].study_id);
    if (!s.ok()) return Fail(s.status());
    studies.push_back(*std::move(s));
    absl::StatusOr<std::vector<MetricSummary>> ms = (*store)->Summaries(trials[i].id);
    if (!ms.ok()) return Fail(ms.status());
    for (MetricSummary& m : *ms) sums[i].emplace(m.name, std::move(m));
  }

  std::vector<CompareRow> rows;
  auto add = [&](std::string field, std::string kind, std::string name, std::string stat,
                 auto value_of) {
    CompareRow r{.field = std::move(field),
                 .kind = std::move(kind),
                 .name = std::move(name),
                 .stat = std::move(stat)};
    for (size_t i = 0; i < n; ++i) r.values.push_back(value_of(i));
    rows.push_back(std::move(r));
  };
  add("study", "trial", "", "", [&](size_t i) { return nlohmann::json(studies[i].name); });
  add("state", "trial", "", "",
      [&](size_t i) { return nlohmann::json(tracker::TrialStateName(trials[i].state)); });
  add("attempt", "trial", "", "", [&](size_t i) { return nlohmann::json(trials[i].attempt); });
  add("seed", "trial", "", "", [&](size_t i) { return nlohmann::json(trials[i].seed); });
  add("objective", "trial", "", "", [&](size_t i) {
    return trials[i].objective ? nlohmann::json(*trials[i].objective) : nlohmann::json(nullptr);
  });

  std::vector<std::string> params;
  for (const TrialRecord& t : trials) {
    for (const auto& [name, value] : t.params) {
      if (std::find(params.begin(), params.end(), name) == params.end()) params.push_back(name);
    }
  }
  for (const std::string& p : params) {
    add("param " + p, "param", p, "", [&](size_t i) {
      for (const auto& [name, value] : trials[i].params) {
        if (name == p) return nlohmann::json(value);
      }
      return nlohmann::json(nullptr);
    });
  }

  // The studies' objective metrics first (in the trials' order), then the others by name.
  std::vector<std::string> metrics;
  for (const StudyRecord& s : studies) {
    if (std::find(metrics.begin(), metrics.end(), s.objective_metric) == metrics.end()) {
      metrics.push_back(s.objective_metric);
    }
  }
  std::set<std::string> others;
  for (const auto& per_trial : sums) {
    for (const auto& [name, summary] : per_trial) {
      if (std::find(metrics.begin(), metrics.end(), name) == metrics.end()) others.insert(name);
    }
  }
  metrics.insert(metrics.end(), others.begin(), others.end());
  for (const std::string& m : metrics) {
    size_t objective_of = 0, reported = 0;
    for (size_t i = 0; i < n; ++i) {
      objective_of += studies[i].objective_metric == m;
      reported += sums[i].contains(m);
    }
    if (reported == 0) continue;  // an objective nobody reported
    auto stat = [&](const char* name, auto get) {
      add(absl::StrCat(m, " ", name), "metric", m, name, [&](size_t i) {
        auto it = sums[i].find(m);
        return it == sums[i].end() ? nlohmann::json(nullptr) : get(i, it->second);
      });
    };
    stat("latest", [](size_t, const MetricSummary& s) { return nlohmann::json(s.latest); });
    if (objective_of > 0) {
      // Best by the direction of the study whose objective it is.
      stat("best", [&](size_t i, const MetricSummary& s) {
        if (studies[i].objective_metric != m) return nlohmann::json(nullptr);
        return nlohmann::json(studies[i].maximize ? s.max : s.min);
      });
    }
    if (objective_of < n) {
      stat("min", [](size_t, const MetricSummary& s) { return nlohmann::json(s.min); });
      stat("max", [](size_t, const MetricSummary& s) { return nlohmann::json(s.max); });
    }
    stat("count", [](size_t, const MetricSummary& s) { return nlohmann::json(s.count); });
  }

  if (o.format == "json") {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["trials"] = nlohmann::ordered_json::array();
    for (const TrialRecord& t : trials) j["trials"].push_back(t.name);
    j["rows"] = nlohmann::ordered_json::array();
    for (const CompareRow& r : rows) {
      nlohmann::ordered_json row = nlohmann::ordered_json::object();
      row["field"] = r.field;
      row["kind"] = r.kind;
      if (!r.name.empty()) row["name"] = r.name;
      if (!r.stat.empty()) row["stat"] = r.stat;
      row["differs"] = r.Differs();
      row["values"] = nlohmann::ordered_json::array();
      for (const nlohmann::json& v : r.values) row["values"].push_back(nlohmann::ordered_json(v));
      j["rows"].push_back(std::move(row));
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  const bool csv = o.format == "csv";
  Table t;
  t.columns = {csv ? "differs" : "", "field"};
  for (const TrialRecord& tr : trials) t.columns.push_back(tr.name);
  bool any_differs = false;
  for (const CompareRow& r : rows) {
    std::vector<std::string> cells = {r.Differs() ? "*" : "", r.field};
    any_differs = any_differs || r.Differs();
    for (const nlohmann::json& v : r.values) cells.push_back(Cell(v, csv));
    t.rows.push_back(std::move(cells));
  }
  if (csv) {
    absl::Status s = PrintTable(t, "csv", std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  PrintColumns(t.columns, t.rows, std::cout);
  if (any_differs) std::cout << "(* marks the rows whose values differ)\n";
  return 0;
}

int History(const GlobalOptions& g, const HistoryOptions& o) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<TrialRecord> t = FindTrialIn(store->get(), g.db, o.trial);
  if (!t.ok()) return Fail(t.status());
  absl::StatusOr<std::vector<tracker::StoredPoint>> points =
      (*store)->MetricHistory(t->id, o.metric);
  if (!points.ok()) return Fail(points.status());
  if (!o.metric.empty() && points->empty()) {
    absl::StatusOr<std::vector<MetricSummary>> sums = (*store)->Summaries(t->id);
    if (!sums.ok()) return Fail(sums.status());
    std::vector<std::string> names;
    for (const MetricSummary& m : *sums) names.push_back(m.name);
    return Fail(absl::NotFoundError(absl::StrCat(
        "trial \"", t->name, "\" has no metric \"", o.metric,
        "\"; its metrics: ", names.empty() ? "(none reported)" : absl::StrJoin(names, ", "))));
  }

  const bool table = o.format == "table";
  Table tab{.columns = {"metric", "step", "value", table ? "time" : "time_ms"},
            .numeric = {false, true, true, true}};
  std::vector<std::string> order;  // metrics by first appearance
  std::map<std::string, std::vector<double>> series;
  for (const tracker::StoredPoint& p : *points) {
    tab.rows.push_back({p.name, std::to_string(p.step),
                        table ? Short(p.value) : suggest::FormatDouble(p.value),
                        table ? FormatTimeMs(p.time_ms) : std::to_string(p.time_ms)});
    std::vector<double>& values = series[p.name];
    if (values.empty()) order.push_back(p.name);
    values.push_back(p.value);
  }
  if (o.format == "json") {  // typed: integer steps and times
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const tracker::StoredPoint& p : *points) {
      nlohmann::ordered_json point = nlohmann::ordered_json::object();
      point["metric"] = p.name;
      point["step"] = p.step;
      point["value"] = p.value;
      point["time_ms"] = p.time_ms;
      j.push_back(std::move(point));
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (!table) {
    absl::Status s = PrintTable(tab, o.format, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  PrintColumns(tab.columns, tab.rows, std::cout);
  if (points->empty()) {
    std::cout << "(trial " << t->name << " has no metric points yet)\n";
    return 0;
  }
  size_t width = 0;
  for (const std::string& m : order) width = std::max(width, m.size());
  std::cout << "\n";
  for (const std::string& m : order) {
    const std::vector<double>& v = series[m];
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    std::cout << m << std::string(width - m.size() + 2, ' ') << Sparkline(v) << "  " << Short(*lo)
              << " .. " << Short(*hi) << ", latest " << Short(v.back()) << " (" << v.size()
              << (v.size() == 1 ? " point" : " points");
    if (v.size() > kSparklineWidth) std::cout << ", " << kSparklineWidth << " columns of means";
    std::cout << ")\n";
  }
  return 0;
}

int Export(const GlobalOptions& g, const ExportOptions& o) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<StudyRecord> study = ResolveStudy(store->get(), o.study);
  if (!study.ok()) return Fail(study.status());
  if (study->state == tracker::StudyState::kRunning) {
    std::cerr << "hpt: warning: study " << study->name
              << " is RUNNING; the export is a snapshot of it now\n";
  }
  std::ostringstream out;
  if (o.format == "json") {
    absl::StatusOr<StudyExport> e = ReadStudyExport(store->get(), *study);
    if (!e.ok()) return Fail(e.status());
    const nlohmann::ordered_json j = ExportToJson(*e);
    try {
      out << j.dump(2) << "\n";
    } catch (const nlohmann::json::type_error&) {  // text that is not UTF-8
      std::cerr << "hpt: warning: study " << study->name
                << " holds text that is not valid UTF-8; it is exported with U+FFFD in place of "
                   "the invalid bytes\n";
      out.str("");
      out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
  } else {
    // One row per trial: trial, state, objective, params, each metric's latest value.
    absl::StatusOr<std::vector<TrialRecord>> trials = (*store)->ListTrials(study->id);
    if (!trials.ok()) return Fail(trials.status());
    std::vector<std::string> params;
    std::set<std::string> metrics;
    std::vector<std::map<std::string, std::string>> latest(trials->size());
    for (size_t i = 0; i < trials->size(); ++i) {
      for (const auto& [name, value] : (*trials)[i].params) {
        if (std::find(params.begin(), params.end(), name) == params.end()) params.push_back(name);
      }
      absl::StatusOr<std::vector<MetricSummary>> sums = (*store)->Summaries((*trials)[i].id);
      if (!sums.ok()) return Fail(sums.status());
      for (const MetricSummary& m : *sums) {
        metrics.insert(m.name);
        latest[i][m.name] = suggest::FormatDouble(m.latest);
      }
    }
    Table t{.columns = {"trial", "state", "objective"}};
    for (const std::string& p : params) t.columns.push_back(p);
    for (const std::string& m : metrics) t.columns.push_back(m);
    for (size_t i = 0; i < trials->size(); ++i) {
      const TrialRecord& tr = (*trials)[i];
      std::vector<std::string> row = {tr.name, tracker::TrialStateName(tr.state),
                                      tr.objective ? suggest::FormatDouble(*tr.objective) : ""};
      for (const std::string& p : params) {
        std::string v;
        for (const auto& [name, value] : tr.params) {
          if (name == p) v = value;
        }
        row.push_back(v);
      }
      for (const std::string& m : metrics) row.push_back(latest[i][m]);
      t.rows.push_back(std::move(row));
    }
    absl::Status s = PrintTable(t, "csv", out);
    if (!s.ok()) return Fail(s);
  }
  if (o.output.empty()) {
    std::cout << out.str();
    std::cout.flush();
    if (!std::cout) return Fail(absl::UnavailableError("cannot write the export to stdout"));
    return 0;
  }
  std::ofstream f(o.output, std::ios::binary | std::ios::trunc);
  f << out.str();
  f.close();
  if (!f) {
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot write ", o.output, ": ", std::strerror(errno))));
  }
  std::cerr << "hpt: exported study " << study->name << " to " << o.output << " (" << o.format
            << ")\n";
  return 0;
}

int Import(const GlobalOptions& g, const ImportOptions& o) {
  std::ifstream f(o.file, std::ios::binary);
  if (!f)
    return Fail(
        absl::NotFoundError(absl::StrCat("cannot read ", o.file, ": ", std::strerror(errno))));
  std::stringstream text;
  text << f.rdbuf();
  if (f.bad()) {
    return Fail(
        absl::UnavailableError(absl::StrCat("cannot read ", o.file, ": ", std::strerror(errno))));
  }
  absl::StatusOr<StudyExport> e = ParseStudyExport(text.str());
  if (!e.ok())
    return Fail(absl::Status(e.status().code(), absl::StrCat(o.file, ": ", e.status().message())));
  const std::string original = e->study.name;
  if (!o.name.empty() && o.name != original) {
    if (absl::Status s = RenameStudyExport(o.name, &*e); !s.ok()) return Fail(s);
  }
  auto store = tracker::TrialStore::Open({}, g.db);
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<StudyRecord> s = ImportStudyExport(store->get(), *e);
  if (!s.ok()) {
    return Fail(absl::Status(s.status().code(), absl::StrCat("cannot import ", o.file, " into ",
                                                             g.db, ": ", s.status().message())));
  }
  std::cout << "imported study " << s->name;
  if (s->name != original) std::cout << " (exported as " << original << ")";
  auto count = [](size_t n, const char* what) {
    return absl::StrCat(n, " ", what, n == 1 ? "" : "s");
  };
  std::cout << " into " << g.db << ": " << count(e->trials.size(), "trial") << ", "
            << count(e->PointCount(), "metric point") << ", " << count(e->events.size(), "event")
            << "\n";
  return 0;
}

}  // namespace hpt::cli
