#include "engine/warm_start.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "suggest/search_space.h"

namespace hpt::engine {
namespace {

using suggest::ParameterSpec;
using suggest::ParamType;
using Fit = MappedValue::Fit;
using OutOfSpace = WarmStartSpec::OutOfSpace;

MappedValue Invalid() { return {.fit = Fit::kInvalid, .value = ""}; }
MappedValue Outside() { return {.fit = Fit::kOutside, .value = ""}; }

MappedValue MapNumeric(const ParameterSpec& p, const std::string& raw, OutOfSpace mode) {
  absl::StatusOr<double> parsed = suggest::Numeric(raw);
  if (!parsed.ok()) return Invalid();
  const double v = *parsed;
  if (p.type == ParamType::kInt && std::trunc(v) != v) return Invalid();
  const bool in_range = v >= p.min && v <= p.max;
  if (!in_range && mode == OutOfSpace::kDrop) return Outside();
  const double x = std::clamp(v, p.min, p.max);
  // The grid point exactly as the samplers print it, so that a mapped value matches the grid's
  // string (rule 6).
  std::optional<std::string> grid_value = suggest::NearestGridValue(p, x);
  if (!grid_value) {  // an unquantized double
    return {.fit = in_range ? Fit::kExact : Fit::kClipped, .value = suggest::FormatDouble(x)};
  }
  std::string value = *std::move(grid_value);
  // On the grid when the grid point is v itself, up to the noise of computing min + k*step.
  const double point = *suggest::Numeric(value);
  const bool on_grid =
      p.type == ParamType::kInt ? point == v : std::fabs(point - v) <= 1e-9 * p.step.value_or(1);
  if (in_range && on_grid) return {.fit = Fit::kExact, .value = std::move(value)};
  if (mode == OutOfSpace::kDrop) return Outside();
  return {.fit = Fit::kClipped, .value = std::move(value)};
}

MappedValue MapDiscrete(const ParameterSpec& p, const std::string& raw, OutOfSpace mode) {
  absl::StatusOr<double> parsed = suggest::Numeric(raw);
  if (!parsed.ok()) return Invalid();
  const std::string* nearest = nullptr;
  double best = 0;
  for (const std::string& item : p.list) {
    const double d = std::fabs(*suggest::Numeric(item) - *parsed);
    if (d == 0) return {.fit = Fit::kExact, .value = item};
    if (nearest == nullptr || d < best) {
      nearest = &item;
      best = d;
    }
  }
  if (mode == OutOfSpace::kDrop || nearest == nullptr) return Outside();
  return {.fit = Fit::kClipped, .value = *nearest};
}

// Adds one to the count of `reason`, keeping the order reasons are first met.
void CountReason(const std::string& reason, std::vector<std::pair<std::string, int>>* reasons) {
  for (auto& [r, n] : *reasons) {
    if (r == reason) {
      ++n;
      return;
    }
  }
  reasons->emplace_back(reason, 1);
}

const std::string* FindParam(const tracker::TrialRecord& t, const std::string& name) {
  for (const auto& [n, v] : t.params) {
    if (n == name) return &v;
  }
  return nullptr;
}

}  // namespace

MappedValue MapParameterValue(const ParameterSpec& param, const std::string& value,
                              OutOfSpace out_of_space) {
  switch (param.type) {
    case ParamType::kDouble:
    case ParamType::kInt:
      return MapNumeric(param, value, out_of_space);
    case ParamType::kDiscrete:
      return MapDiscrete(param, value, out_of_space);
    case ParamType::kCategorical:
      if (std::find(param.list.begin(), param.list.end(), value) != param.list.end()) {
        return {.fit = Fit::kExact, .value = value};
      }
      return Invalid();
  }
  return Invalid();
}

std::string WarmStartSourceStats::Note() const {
  std::vector<std::string> parts;
  if (dropped > 0) {
    std::string reasons;
    if (drop_reasons.size() == 1) {
      reasons = drop_reasons[0].first;
    } else {
      reasons = absl::StrJoin(drop_reasons, ", ", [](std::string* out, const auto& r) {
        absl::StrAppend(out, r.second, " ", r.first);
      });
    }
    parts.push_back(absl::StrCat(dropped, " dropped: ", reasons));
  }
  if (clipped > 0) parts.push_back(absl::StrCat(clipped, " clipped"));
  if (skipped > 0) parts.push_back(absl::StrCat(skipped, " skipped: not succeeded"));
  std::string note = absl::StrCat(used, used == 1 ? " trial" : " trials", " from ", study);
  if (!parts.empty()) absl::StrAppend(&note, " (", absl::StrJoin(parts, "; "), ")");
  return note;
}

std::string WarmStartResult::Summary() const { return absl::StrJoin(notes, ", "); }

absl::StatusOr<WarmStartResult> MapWarmStart(const StudySpec& spec,
                                             const std::vector<WarmStartSource>& sources) {
  const OutOfSpace mode =
      spec.hpt.warm_start ? spec.hpt.warm_start->out_of_space : OutOfSpace::kDrop;
  WarmStartResult result;
  for (const WarmStartSource& source : sources) {
    if (source.study.objective_metric != spec.objective.metric) {
      return absl::FailedPreconditionError(absl::StrCat(
          "warmStart: study \"", source.study.name, "\" optimizes \"",
          source.study.objective_metric, "\", this study optimizes \"", spec.objective.metric,
          "\"; warm start needs studies of the same objective metric"));
    }
    WarmStartSourceStats stats{.study = source.study.name};
    for (const tracker::TrialRecord& t : source.trials) {
      if (t.state != tracker::TrialState::kSucceeded || !t.objective ||
          !std::isfinite(*t.objective)) {
        ++stats.skipped;
        continue;
      }
      suggest::Observation o;
      std::string drop_reason;
      bool clipped = false;
      for (const ParameterSpec& p : spec.space.params) {
        const std::string* raw = FindParam(t, p.name);
        if (raw == nullptr) {
          drop_reason = absl::StrCat("no value for ", p.name);
          break;
        }
        MappedValue m = MapParameterValue(p, *raw, mode);
        if (m.fit == Fit::kInvalid) {
          drop_reason = p.type == ParamType::kCategorical
                            ? absl::StrCat(p.name, " value no longer listed")
                            : absl::StrCat(p.name, " not ",
                                           p.type == ParamType::kInt ? "an integer" : "a number");
          break;
        }
        if (m.fit == Fit::kOutside) {
          drop_reason = "outside the space";
          break;
        }
        clipped |= m.fit == Fit::kClipped;
        o.params.push_back({p.name, std::move(m.value)});
      }
      if (!drop_reason.empty()) {
        ++stats.dropped;
        CountReason(drop_reason, &stats.drop_reasons);
        continue;
      }
      o.value = spec.objective.maximize ? -*t.objective : *t.objective;
      o.pending = false;
      ++stats.used;
      if (clipped) ++stats.clipped;
      result.history.trials.push_back(std::move(o));
    }
    result.used += stats.used;
    result.dropped += stats.dropped;
    result.clipped += stats.clipped;
    result.skipped += stats.skipped;
    result.notes.push_back(stats.Note());
    result.sources.push_back(std::move(stats));
  }
  return result;
}

absl::StatusOr<std::vector<WarmStartSource>> LoadWarmStartSources(
    tracker::TrialStore& store, const std::vector<std::string>& studies,
    const std::string& store_name) {
  std::vector<WarmStartSource> out;
  for (const std::string& name : studies) {
    absl::StatusOr<tracker::StudyRecord> study = store.FindStudy(name);
    if (absl::IsNotFound(study.status())) {
      return absl::NotFoundError(
          absl::StrCat("warmStart: no study \"", name, "\" in ", store_name));
    }
    if (!study.ok()) return study.status();
    absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store.ListTrials(study->id);
    if (!trials.ok()) return trials.status();
    out.push_back({.study = *std::move(study), .trials = *std::move(trials)});
  }
  return out;
}

}  // namespace hpt::engine
