// hpt leaderboard across studies: trials ranked by the objective or by a metric's strategy, top-k
// per (project, experiment), or grouped by parameter values (--group-by) with mean/std/count.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "cli/tracker_file.h"
#include "engine/controller.h"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

using tracker::RankedTrial;
using tracker::RankQuery;
using tracker::RankStrategy;
using tracker::StudyRecord;

// The query the options ask for, and the name of the ranked value's column.
struct Plan {
  RankQuery query;
  std::string value_column;  // empty: each group's objective metric
};

absl::StatusOr<Plan> MakePlan(tracker::TrialStore* store, const QueryOptions& q) {
  Plan plan;
  RankQuery& r = plan.query;
  if (q.top < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--top is ", q.top, "; use 0 for all rows"));
  }
  if (!q.study.empty()) {
    absl::StatusOr<StudyRecord> study = ResolveStudy(store, q.study);
    if (!study.ok()) return study.status();
    r.study_id = study->id;
  }
  r.project = q.project;
  r.experiment = q.experiment;
  r.filter = q.filter;
  r.limit_per_group = q.group_by.empty() ? q.top : 0;
  if (!q.order.empty() && q.order != "desc" && q.order != "asc") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--order \"", q.order, "\"; allowed: desc (largest first), asc (smallest first)"));
  }
  std::optional<bool> descending;
  if (!q.order.empty()) descending = q.order == "desc";
  static const std::map<std::string, RankStrategy> kStrategies = {
      {"objective", RankStrategy::kObjective},
      {"min", RankStrategy::kMin},
      {"max", RankStrategy::kMax},
      {"latest", RankStrategy::kLatest},
      {"best-at-step", RankStrategy::kBestAtStep}};
  RankStrategy strategy = RankStrategy::kObjective;
  if (!q.strategy.empty()) {
    auto it = kStrategies.find(q.strategy);
    if (it == kStrategies.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--strategy \"", q.strategy, "\"; allowed: objective, min, max, latest, best-at-step"));
    }
    strategy = it->second;
  }
  if (q.metric.empty()) {
    if (strategy != RankStrategy::kObjective) {
      return absl::InvalidArgumentError(
          absl::StrCat("--strategy ", q.strategy, " ranks a metric; name it with --metric NAME"));
    }
  } else {
    if (q.strategy.empty()) {
      if (!descending) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--metric ", q.metric,
            ": say which end is best with --order desc (largest first) or --order asc, or pick "
            "a --strategy (min, max, latest, best-at-step)"));
      }
      strategy = *descending ? RankStrategy::kMax : RankStrategy::kMin;
    } else if (strategy == RankStrategy::kObjective) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--strategy objective ranks each study's objective; drop --metric ", q.metric));
    } else if (!descending) {
      if (strategy == RankStrategy::kMin) descending = false;
      if (strategy == RankStrategy::kMax) descending = true;
      if (!descending) {
        return absl::InvalidArgumentError(
            absl::StrCat("--strategy ", q.strategy,
                         ": say which end is best with --order desc (largest first) or asc"));
      }
    }
  }
  if (strategy == RankStrategy::kBestAtStep) {
    if (!q.step) return absl::InvalidArgumentError("--strategy best-at-step needs --step N");
    r.step = *q.step;
  } else if (q.step) {
    return absl::InvalidArgumentError("--step applies only to --strategy best-at-step");
  }
  r.metric = q.metric;
  r.strategy = strategy;
  r.descending = descending;
  switch (strategy) {
    case RankStrategy::kObjective:
      break;
    case RankStrategy::kBestAtStep:
      plan.value_column = absl::StrCat(*descending ? "max" : "min", "(", q.metric, ")@", r.step);
      break;
    default:
      plan.value_column = absl::StrCat(tracker::RankStrategyName(strategy), "(", q.metric, ")");
  }
  for (const std::string& g : q.group_by) {
    if (!absl::StartsWith(g, "params.") || g.size() == 7) {
      return absl::InvalidArgumentError(
          absl::StrCat("--group-by \"", g, "\": group by parameters, as params.NAME"));
    }
  }
  return plan;
}

// Study records and specs by name, read once.
class StudyCache {
 public:
  explicit StudyCache(tracker::TrialStore* store) : store_(store) {}
  const StudyRecord* Get(const std::string& name) {
    auto it = records_.find(name);
    if (it == records_.end()) {
      absl::StatusOr<StudyRecord> s = store_->FindStudy(name);
      it = records_.emplace(name, s.ok() ? std::optional<StudyRecord>(*s) : std::nullopt).first;
      if (s.ok()) specs_.emplace(name, SpecOf(*s));
    }
    return it->second ? &*it->second : nullptr;
  }
  // A metric's value by its study's strategy for it (Katib's), else its latest.
  double Value(const std::string& study, const tracker::MetricSummary& m) {
    Get(study);
    auto it = specs_.find(study);
    if (it == specs_.end() || !it->second) return m.latest;
    return engine::ValueByStrategy(*it->second, m);
  }

 private:
  tracker::TrialStore* store_;
  std::map<std::string, std::optional<StudyRecord>> records_;
  std::map<std::string, std::optional<engine::StudySpec>> specs_;
};

std::string ParamValue(const tracker::TrialRecord& t, const std::string& name) {
  for (const auto& [n, v] : t.params) {
    if (n == name) return v;
  }
  return "";
}

std::string Duration(const tracker::TrialRecord& t) {
  if (t.started_ms == 0 || t.finished_ms == 0) return "";
  return absl::StrCat(suggest::FormatDouble((t.finished_ms - t.started_ms) / 100 / 10.0), "s");
}

std::string GroupTitle(const RankedTrial& r) {
  return absl::StrCat("project ", r.project.empty() ? "(none)" : r.project, ", experiment ",
                      r.experiment.empty() ? "(none)" : r.experiment);
}

// Rows [begin, end) share a (project, experiment).
struct Group {
  size_t begin, end;
};

std::vector<Group> SplitGroups(const std::vector<RankedTrial>& rows) {
  std::vector<Group> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (out.empty() || rows[i].project != rows[out.back().begin].project ||
        rows[i].experiment != rows[out.back().begin].experiment) {
      out.push_back({i, i});
    }
    out.back().end = i + 1;
  }
  return out;
}

// The ranked value's column for a group: the plan's, or the group's objective metric.
std::string ValueColumn(const Plan& plan, StudyCache& studies, const RankedTrial& first) {
  if (!plan.value_column.empty()) return plan.value_column;
  const StudyRecord* s = studies.Get(first.study);
  return s ? s->objective_metric : "objective";
}

// Whether larger values rank first in this group.
bool Descending(const Plan& plan, StudyCache& studies, const RankedTrial& first) {
  if (plan.query.descending) return *plan.query.descending;
  const StudyRecord* s = studies.Get(first.study);
  return s != nullptr && s->maximize;
}

// One table of ranked trials; `with_group` adds project and experiment columns (json, csv).
Table TrialRows(tracker::TrialStore* store, const QueryOptions& q, const Plan& plan,
                StudyCache& studies, const std::vector<RankedTrial>& rows, bool with_group) {
  std::vector<std::string> params = q.params;
  const bool all_params = params.empty();
  std::set<std::string> skip_metrics;  // the ranked metric is the value column already
  if (!q.metric.empty()) skip_metrics.insert(q.metric);
  std::vector<std::map<std::string, double>> metric_values(rows.size());
  std::vector<std::string> metric_names = q.metrics;
  std::set<std::string> seen_metrics(metric_names.begin(), metric_names.end());
  for (size_t i = 0; i < rows.size(); ++i) {
    const RankedTrial& r = rows[i];
    if (all_params) {
      for (const auto& [name, value] : r.trial.params) {
        if (std::find(params.begin(), params.end(), name) == params.end()) params.push_back(name);
      }
    }
    if (q.metric.empty()) {
      if (const StudyRecord* s = studies.Get(r.study)) skip_metrics.insert(s->objective_metric);
    }
    absl::StatusOr<std::vector<tracker::MetricSummary>> sums = store->Summaries(r.trial.id);
    if (!sums.ok()) continue;
    for (const tracker::MetricSummary& m : *sums) {
      metric_values[i][m.name] = studies.Value(r.study, m);
      if (q.metrics.empty() && seen_metrics.insert(m.name).second) metric_names.push_back(m.name);
    }
  }
  if (q.metrics.empty()) {
    std::erase_if(metric_names, [&](const std::string& m) { return skip_metrics.contains(m); });
    std::sort(metric_names.begin(), metric_names.end());
  }
  // The aligned table shows one group and names its value column by what it ranks; json and csv
  // hold every group under the same keys, "value" and what it is in "ranked_by".
  Table t;
  if (with_group) t.columns = {"project", "experiment", "ranked_by"};
  const size_t first = t.columns.size();
  const std::string value_column =
      with_group || rows.empty() ? "value" : ValueColumn(plan, studies, rows.front());
  t.columns.insert(t.columns.end(), {"rank", "study", "trial", "state", value_column});
  for (const std::string& p : params) t.columns.push_back(p);
  for (const std::string& m : metric_names) t.columns.push_back(m);
  t.columns.push_back("duration");
  t.numeric.assign(t.columns.size(), false);
  t.numeric[first] = true;
  t.numeric[first + 4] = true;
  for (size_t c = first + 5 + params.size(); c + 1 < t.columns.size(); ++c) t.numeric[c] = true;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RankedTrial& r = rows[i];
    std::vector<std::string> row;
    if (with_group) row = {r.project, r.experiment, ValueColumn(plan, studies, r)};
    row.insert(row.end(), {std::to_string(r.rank), r.study, r.trial.name,
                           tracker::TrialStateName(r.trial.state), suggest::FormatDouble(r.value)});
    for (const std::string& p : params) row.push_back(ParamValue(r.trial, p));
    for (const std::string& m : metric_names) {
      auto it = metric_values[i].find(m);
      row.push_back(it == metric_values[i].end() ? "" : suggest::FormatDouble(it->second));
    }
    row.push_back(Duration(r.trial));
    t.rows.push_back(std::move(row));
  }
  return t;
}

// --group-by: the trials of each (project, experiment) bucketed by their values of the named
// parameters, each bucket with count, mean, sample std (n > 1), min and max of the ranked value;
// buckets ranked by their mean, best first, top `q.top` per group.
Table GroupedRows(const QueryOptions& q, const Plan& plan, StudyCache& studies,
                  const std::vector<RankedTrial>& rows, const std::vector<Group>& groups,
                  bool with_group) {
  Table t;
  if (with_group) t.columns = {"project", "experiment", "ranked_by"};
  const size_t first = t.columns.size();
  t.columns.push_back("rank");
  for (const std::string& g : q.group_by) t.columns.push_back(g);
  const std::string value =
      with_group || rows.empty() ? "value" : ValueColumn(plan, studies, rows.front());
  for (const char* stat : {"count", "mean", "std", "min", "max"}) {
    t.columns.push_back(absl::StrCat(stat, "(", value, ")"));
  }
  t.columns.push_back("best trial");
  t.numeric.assign(t.columns.size(), false);
  t.numeric[first] = true;
  for (size_t c = first + 1 + q.group_by.size(); c + 1 < t.columns.size(); ++c) {
    t.numeric[c] = true;
  }
  for (const Group& g : groups) {
    const bool desc = Descending(plan, studies, rows[g.begin]);
    struct Bucket {
      std::vector<std::string> key;
      std::vector<double> values;
      std::string best_trial;  // rows come best first: the bucket's first row is its best
    };
    std::map<std::vector<std::string>, Bucket> buckets;
    for (size_t i = g.begin; i < g.end; ++i) {
      std::vector<std::string> key;
      for (const std::string& name : q.group_by) {
        key.push_back(ParamValue(rows[i].trial, name.substr(7)));
      }
      Bucket& b = buckets[key];
      if (b.values.empty()) {
        b.key = key;
        b.best_trial = rows[i].trial.name;
      }
      b.values.push_back(rows[i].value);
    }
    struct Stats {
      const Bucket* bucket;
      double mean, std, min, max;
    };
    std::vector<Stats> stats;
    for (const auto& [key, b] : buckets) {
      double sum = 0;
      for (double v : b.values) sum += v;
      const double n = static_cast<double>(b.values.size());
      const double mean = sum / n;
      double ss = 0;
      for (double v : b.values) ss += (v - mean) * (v - mean);
      stats.push_back({&b, mean, b.values.size() > 1 ? std::sqrt(ss / (n - 1)) : NAN,
                       *std::min_element(b.values.begin(), b.values.end()),
                       *std::max_element(b.values.begin(), b.values.end())});
    }
    // Best mean first; ties: more trials first, then the key.
    std::stable_sort(stats.begin(), stats.end(), [&](const Stats& a, const Stats& b) {
      if (a.mean != b.mean) return desc ? a.mean > b.mean : a.mean < b.mean;
      return a.bucket->values.size() > b.bucket->values.size();
    });
    if (q.top > 0 && static_cast<int>(stats.size()) > q.top) stats.resize(q.top);
    for (size_t k = 0; k < stats.size(); ++k) {
      const Stats& s = stats[k];
      std::vector<std::string> row;
      if (with_group) {
        row = {rows[g.begin].project, rows[g.begin].experiment,
               ValueColumn(plan, studies, rows[g.begin])};
      }
      row.push_back(std::to_string(k + 1));
      row.insert(row.end(), s.bucket->key.begin(), s.bucket->key.end());
      row.push_back(std::to_string(s.bucket->values.size()));
      row.push_back(suggest::FormatDouble(s.mean));
      row.push_back(std::isnan(s.std) ? "" : suggest::FormatDouble(s.std));
      row.push_back(suggest::FormatDouble(s.min));
      row.push_back(suggest::FormatDouble(s.max));
      row.push_back(s.bucket->best_trial);
      t.rows.push_back(std::move(row));
    }
  }
  return t;
}

}  // namespace

int RankedLeaderboard(tracker::TrialStore* store, const QueryOptions& q, std::ostream& out) {
  if (q.format != "table" && q.format != "json" && q.format != "csv") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("unknown --format \"", q.format, "\"; allowed: table, json, csv")));
  }
  absl::StatusOr<Plan> plan = MakePlan(store, q);
  if (!plan.ok()) return Fail(plan.status());
  absl::StatusOr<std::vector<RankedTrial>> rows = store->RankTrials(plan->query);
  if (!rows.ok()) return Fail(rows.status());
  const std::vector<Group> groups = SplitGroups(*rows);
  StudyCache studies(store);
  auto table = [&](const std::vector<RankedTrial>& part, const std::vector<Group>& part_groups,
                   bool with_group) {
    return q.group_by.empty() ? TrialRows(store, q, *plan, studies, part, with_group)
                              : GroupedRows(q, *plan, studies, part, part_groups, with_group);
  };
  if (q.format != "table") {
    absl::Status s = PrintTable(table(*rows, groups, true), q.format, out);
    return s.ok() ? 0 : Fail(s);
  }
  if (rows->empty()) {
    out << "(no trial has a value to rank"
        << (plan->query.metric.empty() ? "" : absl::StrCat(" of ", plan->query.metric)) << ")\n";
    return 0;
  }
  for (size_t k = 0; k < groups.size(); ++k) {
    const Group& g = groups[k];
    const std::vector<RankedTrial> part(rows->begin() + g.begin, rows->begin() + g.end);
    const RankedTrial& head = part.front();
    const bool desc = Descending(*plan, studies, head);
    if (k > 0) out << "\n";
    out << GroupTitle(head) << ": ";
    if (q.group_by.empty()) {
      out << "top " << part.size() << " by " << ValueColumn(*plan, studies, head);
    } else {
      out << "trials grouped by " << absl::StrJoin(q.group_by, ", ") << ", by mean "
          << ValueColumn(*plan, studies, head);
    }
    out << (desc ? ", largest first\n" : ", smallest first\n");
    absl::Status s = PrintTable(table(part, {{0, part.size()}}, false), "table", out);
    if (!s.ok()) return Fail(s);
  }
  return 0;
}

int Leaderboard(const GlobalOptions& g, const QueryOptions& q) {
  auto store = OpenExisting(g.db);
  if (!store.ok()) return Fail(store.status());
  const bool ranked = q.all_studies || q.project || q.experiment || !q.metric.empty() ||
                      !q.strategy.empty() || q.step || !q.order.empty() || !q.params.empty() ||
                      !q.metrics.empty() || !q.group_by.empty();
  if (!ranked) {
    absl::StatusOr<StudyRecord> study = ResolveStudy(store->get(), q.study);
    if (study.ok()) return PrintLeaderboard(store->get(), *study, q, std::cout);
    // Several studies and none named: rank them all, grouped by project and experiment.
    if (!q.study.empty() || !absl::IsInvalidArgument(study.status())) return Fail(study.status());
  }
  return RankedLeaderboard(store->get(), q, std::cout);
}

}  // namespace hpt::cli
