// hpt leaderboard / trials / show / studies: read-only views of the tracker file.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "cli/tracker_file.h"
#include "engine/controller.h"
#include "engine/spec/study_spec.h"
#include "nlohmann/json.hpp"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

using tracker::StudyRecord;
using tracker::TrialRecord;

std::string FormatTime(int64_t ms) {
  if (ms == 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms), absl::LocalTimeZone());
}

std::string Duration(const TrialRecord& t) {
  if (t.started_ms == 0 || t.finished_ms == 0) return "";
  return absl::StrCat(suggest::FormatDouble((t.finished_ms - t.started_ms) / 100 / 10.0), "s");
}

// Columns: rank?, trial, state, objective, params..., other metrics..., duration.
Table TrialTable(tracker::TrialStore* store, const StudyRecord& study,
                 const std::vector<TrialRecord>& trials, bool ranked) {
  std::optional<engine::StudySpec> spec = SpecOf(study);
  std::vector<std::string> params;
  std::set<std::string> metric_set;
  std::vector<std::map<std::string, std::string>> metric_cells(trials.size());
  for (size_t i = 0; i < trials.size(); ++i) {
    for (const auto& [name, value] : trials[i].params) {
      if (std::find(params.begin(), params.end(), name) == params.end()) params.push_back(name);
    }
    absl::StatusOr<std::vector<tracker::MetricSummary>> sums = store->Summaries(trials[i].id);
    if (!sums.ok()) continue;
    for (const tracker::MetricSummary& m : *sums) {
      if (m.name == study.objective_metric) continue;
      metric_set.insert(m.name);
      metric_cells[i][m.name] =
          suggest::FormatDouble(spec ? engine::ValueByStrategy(*spec, m) : m.latest);
    }
  }
  Table t;
  if (ranked) t.columns.push_back("rank");
  t.columns.insert(t.columns.end(), {"trial", "state", study.objective_metric});
  for (const std::string& p : params) t.columns.push_back(p);
  for (const std::string& m : metric_set) t.columns.push_back(m);
  t.columns.push_back("duration");
  t.numeric.assign(t.columns.size(), false);
  if (ranked) t.numeric[0] = true;
  t.numeric[ranked ? 3 : 2] = true;
  for (size_t c = t.columns.size() - 1 - metric_set.size(); c + 1 < t.columns.size(); ++c) {
    t.numeric[c] = true;
  }
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialRecord& tr = trials[i];
    std::vector<std::string> row;
    if (ranked) row.push_back(std::to_string(i + 1));
    row.push_back(tr.name);
    row.push_back(tracker::TrialStateName(tr.state));
    row.push_back(tr.objective ? suggest::FormatDouble(*tr.objective) : "");
    for (const std::string& p : params) {
      std::string v;
      for (const auto& [name, value] : tr.params) {
        if (name == p) v = value;
      }
      row.push_back(v);
    }
    for (const std::string& m : metric_set) row.push_back(metric_cells[i][m]);
    row.push_back(Duration(tr));
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace

// `trials` without those that do not match `filter` (all of them when it is empty).
absl::StatusOr<std::vector<TrialRecord>> Matching(tracker::TrialStore* store, int64_t study_id,
                                                  const std::string& filter,
                                                  std::vector<TrialRecord> trials) {
  if (filter.empty()) return trials;
  absl::StatusOr<std::vector<TrialRecord>> found = store->FindTrials(filter, study_id, 0);
  if (!found.ok()) return found.status();
  std::set<int64_t> ids;
  for (const TrialRecord& t : *found) ids.insert(t.id);
  std::erase_if(trials, [&](const TrialRecord& t) { return !ids.contains(t.id); });
  return trials;
}

int PrintLeaderboard(tracker::TrialStore* store, const StudyRecord& study, const QueryOptions& q,
                     std::ostream& out) {
  absl::StatusOr<std::vector<TrialRecord>> best =
      store->Leaderboard(study.id, q.filter.empty() ? q.top : 0);
  if (!best.ok()) return Fail(best.status());
  best = Matching(store, study.id, q.filter, *std::move(best));
  if (!best.ok()) return Fail(best.status());
  if (q.top > 0 && static_cast<int>(best->size()) > q.top) best->resize(q.top);
  if (q.format == "table") {
    out << "leaderboard of " << study.name << " (" << (study.maximize ? "max " : "min ")
        << study.objective_metric << "), top " << best->size() << "\n";
  }
  if (best->empty() && q.format == "table") {
    out << "(no trial has an objective value yet)\n";
    return 0;
  }
  absl::Status s = PrintTable(TrialTable(store, study, *best, true), q.format, out);
  return s.ok() ? 0 : Fail(s);
}

int Trials(const GlobalOptions& g, const QueryOptions& q) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<StudyRecord> study = ResolveStudy(store->get(), q.study);
  if (!study.ok()) return Fail(study.status());
  absl::StatusOr<std::vector<TrialRecord>> trials = (*store)->ListTrials(study->id);
  if (!trials.ok()) return Fail(trials.status());
  trials = Matching(store->get(), study->id, q.filter, *std::move(trials));
  if (!trials.ok()) return Fail(trials.status());
  absl::Status s =
      PrintTable(TrialTable(store->get(), *study, *trials, false), q.format, std::cout);
  return s.ok() ? 0 : Fail(s);
}

int Studies(const GlobalOptions& g, const QueryOptions& q) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<std::vector<StudyRecord>> all = (*store)->ListStudies();
  if (!all.ok()) return Fail(all.status());
  Table t{.columns = {"study", "state", "reason", "algorithm", "objective", "trials", "best",
                      "project", "experiment", "created"}};
  t.numeric = {false, false, false, false, false, true, true, false, false, false};
  for (const StudyRecord& s : *all) {
    auto trials = (*store)->ListTrials(s.id);
    auto best = (*store)->Leaderboard(s.id, 1);
    t.rows.push_back({s.name, tracker::StudyStateName(s.state), s.reason, s.algorithm,
                      absl::StrCat(s.maximize ? "max " : "min ", s.objective_metric),
                      trials.ok() ? std::to_string(trials->size()) : "",
                      best.ok() && !best->empty() && best->front().objective
                          ? suggest::FormatDouble(*best->front().objective)
                          : "",
                      s.project, s.experiment, FormatTime(s.created_ms)});
  }
  absl::Status st = PrintTable(t, q.format, std::cout);
  return st.ok() ? 0 : Fail(st);
}

int Show(const GlobalOptions& g, const QueryOptions& q) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<TrialRecord> t = (*store)->FindTrial(q.trial);
  if (!t.ok()) return Fail(t.status());
  absl::StatusOr<StudyRecord> study = (*store)->GetStudy(t->study_id);
  if (!study.ok()) return Fail(study.status());
  absl::StatusOr<std::vector<tracker::MetricSummary>> sums = (*store)->Summaries(t->id);
  if (!sums.ok()) return Fail(sums.status());
  absl::StatusOr<std::vector<tracker::Event>> events = (*store)->ListEvents(study->id);
  if (!events.ok()) return Fail(events.status());

  if (q.format == "json") {
    nlohmann::json j = {{"trial", t->name},
                        {"study", study->name},
                        {"state", tracker::TrialStateName(t->state)},
                        {"reason", t->reason},
                        {"message", t->message},
                        {"seed", t->seed},
                        {"created_ms", t->created_ms},
                        {"started_ms", t->started_ms},
                        {"finished_ms", t->finished_ms}};
    j["objective"] = t->objective ? nlohmann::json(*t->objective) : nlohmann::json(nullptr);
    for (const auto& [name, value] : t->params) j["params"][name] = value;
    for (const tracker::MetricSummary& m : *sums) {
      j["metrics"][m.name] = {{"min", m.min},
                              {"max", m.max},
                              {"latest", m.latest},
                              {"count", m.count},
                              {"last_step", m.last_step}};
    }
    nlohmann::json manifest = nlohmann::json::parse(t->manifest, nullptr, false);
    j["manifest"] = manifest.is_discarded() ? nlohmann::json(t->manifest) : manifest;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (q.format != "table") return Fail(absl::InvalidArgumentError("--format: table or json"));
  std::cout << "trial      " << t->name << "\n"
            << "study      " << study->name << "\n"
            << "state      " << tracker::TrialStateName(t->state) << " (" << t->reason << ")\n"
            << "message    " << t->message << "\n"
            << "objective  " << study->objective_metric << " = "
            << (t->objective ? suggest::FormatDouble(*t->objective) : "-") << "\n"
            << "seed       " << t->seed << "\n"
            << "created    " << FormatTime(t->created_ms) << "\n"
            << "started    " << FormatTime(t->started_ms) << "\n"
            << "finished   " << FormatTime(t->finished_ms) << "  " << Duration(*t) << "\n\n";
  Table p{.columns = {"parameter", "value"}};
  for (const auto& [name, value] : t->params) p.rows.push_back({name, value});
  PrintTable(p, "table", std::cout).IgnoreError();
  std::cout << "\n";
  Table m{.columns = {"metric", "count", "min", "max", "latest", "last step"}};
  for (const tracker::MetricSummary& s : *sums) {
    m.rows.push_back({s.name, std::to_string(s.count), suggest::FormatDouble(s.min),
                      suggest::FormatDouble(s.max), suggest::FormatDouble(s.latest),
                      std::to_string(s.last_step)});
  }
  PrintTable(m, "table", std::cout).IgnoreError();
  std::cout << "\nevents\n";
  for (const tracker::Event& e : *events) {
    if (e.trial_id != t->id) continue;
    std::cout << "  " << FormatTime(e.time_ms) << "  " << e.kind << ": " << e.message << "\n";
  }
  std::cout << "\nmanifest (rendered)\n" << t->manifest << "\n";
  return 0;
}

}  // namespace hpt::cli
