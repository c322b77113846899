#include "engine/early_stopping.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "suggest/search_space.h"

namespace hpt::engine {

MedianStopRule::MedianStopRule(const EarlyStoppingSpec& spec, bool maximize)
    : min_trials_(std::max(1, spec.min_trials_required)),
      start_step_(std::max(1, spec.start_step)),
      optuna_(spec.rule == "optuna"),
      maximize_(maximize) {}

double MedianStopRule::Best(const std::vector<tracker::StoredPoint>& points, size_t n) const {
  double best = points[0].value;
  for (size_t i = 1; i < n && i < points.size(); ++i) {
    if (Worse(best, points[i].value)) best = points[i].value;
  }
  return best;
}

void MedianStopRule::AddFinished(const std::vector<tracker::StoredPoint>& points) {
  if (points.empty()) return;
  ++finished_;
  if (!optuna_) {
    const size_t n = std::min(points.size(), static_cast<size_t>(start_step_));
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += points[i].value;
    first_means_.push_back(sum / n);
    return;
  }
  for (const tracker::StoredPoint& p : points) by_step_[p.step].push_back(p.value);
}

bool MedianStopRule::ShouldStop(const std::vector<tracker::StoredPoint>& points,
                                std::string* why) const {
  if (points.empty()) return false;
  const char* worse = maximize_ ? "below" : "above";
  if (!optuna_) {
    if (points.size() < static_cast<size_t>(start_step_)) return false;
    if (first_means_.size() < static_cast<size_t>(min_trials_)) return false;
    double sum = 0;
    for (double m : first_means_) sum += m;
    const double rule = sum / first_means_.size();
    const double best = Best(points, start_step_);
    if (!Worse(best, rule)) return false;
    if (why) {
      *why = absl::StrCat("medianstop: the best of its first ", start_step_, " values, ",
                          suggest::FormatDouble(best), ", is ", worse, " the rule value ",
                          suggest::FormatDouble(rule), " (the mean over ", first_means_.size(),
                          " succeeded trials of their first ", start_step_, " values)");
    }
    return true;
  }
  const int64_t step = points.back().step;
  if (step < start_step_ || finished_ < min_trials_) return false;
  auto it = by_step_.find(step);
  if (it == by_step_.end() || it->second.empty()) return false;
  std::vector<double> values = it->second;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  const double best = Best(points, points.size());
  if (!Worse(best, median)) return false;
  if (why) {
    *why = absl::StrCat("medianstop (optuna): its best value up to step ", step, ", ",
                        suggest::FormatDouble(best), ", is ", worse, " the median ",
                        suggest::FormatDouble(median), " of ", n, " finished trials at that step");
  }
  return true;
}

}  // namespace hpt::engine
