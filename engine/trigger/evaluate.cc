#include "engine/trigger/evaluate.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/trigger/schedule.h"

namespace hpt::engine::trigger {
namespace {

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

// a - b, saturating at the smallest int64.
int64_t SubSaturating(int64_t a, int64_t b) {
  return a < std::numeric_limits<int64_t>::min() + b ? std::numeric_limits<int64_t>::min() : a - b;
}

// Whether a is strictly better than b.
bool Better(Goal goal, double a, double b) { return goal == Goal::kMaximize ? a > b : a < b; }

// Computes the aggregate of windows [left, right] of `values` where both ends only move forward
// (the sliding windows in point order), in O(1) amortized per window.
class SlidingAggregate {
 public:
  SlidingAggregate(AggregateFunction function, std::span<const SeriesPoint> series)
      : function_(function), series_(series) {
    if (function_ == AggregateFunction::kMean) {
      prefix_.assign(series.size() + 1, 0.0L);
      for (size_t i = 0; i < series.size(); ++i) prefix_[i + 1] = prefix_[i] + series[i].value;
    }
  }

  // The mean of [left, right] from the prefix sums (also for windows out of sliding order).
  double Mean(size_t left, size_t right) const {
    return static_cast<double>((prefix_[right + 1] - prefix_[left]) /
                               static_cast<long double>(right - left + 1));
  }

  // The window [left, right]; `left` and `right` never decrease between calls.
  double Slide(size_t left, size_t right) {
    switch (function_) {
      case AggregateFunction::kLast:
        return series_[right].value;
      case AggregateFunction::kMean:
        return Mean(left, right);
      case AggregateFunction::kMin:
      case AggregateFunction::kMax:
        break;
    }
    const bool is_min = function_ == AggregateFunction::kMin;
    // The deque holds indexes of the window whose values are strictly monotonic (increasing for
    // min, decreasing for max): its front is the window's extreme.
    for (; next_ <= right; ++next_) {
      double v = series_[next_].value;
      while (!deque_.empty() &&
             (is_min ? series_[deque_.back()].value >= v : series_[deque_.back()].value <= v)) {
        deque_.pop_back();
      }
      deque_.push_back(next_);
    }
    while (deque_.front() < left) deque_.pop_front();
    return series_[deque_.front()].value;
  }

  // Any window, directly: O(right - left) for min and max.
  double Direct(size_t left, size_t right) const {
    switch (function_) {
      case AggregateFunction::kLast:
        return series_[right].value;
      case AggregateFunction::kMean:
        return Mean(left, right);
      case AggregateFunction::kMin:
      case AggregateFunction::kMax:
        break;
    }
    double out = series_[left].value;
    for (size_t i = left + 1; i <= right; ++i) {
      out = function_ == AggregateFunction::kMin ? std::min(out, series_[i].value)
                                                 : std::max(out, series_[i].value);
    }
    return out;
  }

 private:
  AggregateFunction function_;
  std::span<const SeriesPoint> series_;
  std::vector<long double> prefix_;
  std::deque<size_t> deque_;
  size_t next_ = 0;
};

std::string NotEnough(const std::string& what, const AggregateSpec& aggregate, int64_t points) {
  if (points == 0) return absl::StrCat(what, ": no points yet");
  return absl::StrCat(what, ": ", points, points == 1 ? " point" : " points",
                      ", fewer than minPoints ", aggregate.min_points);
}

}  // namespace

std::vector<SeriesPoint> PrepareSeries(const TriggerSpec& spec,
                                       std::span<const SeriesPoint> series) {
  std::vector<SeriesPoint> out;
  out.reserve(series.size());
  for (const SeriesPoint& p : series) {
    if (std::isfinite(p.value)) out.push_back(p);
  }
  std::stable_sort(out.begin(), out.end(), [](const SeriesPoint& a, const SeriesPoint& b) {
    return a.time_ms < b.time_ms;
  });
  const Goal goal = spec.watch.study.goal;
  if (spec.watch.source == WatchSpec::Source::kStudy && goal != Goal::kUnspecified) {
    for (size_t i = 1; i < out.size(); ++i) {
      if (!Better(goal, out[i].value, out[i - 1].value)) out[i].value = out[i - 1].value;
    }
  }
  return out;
}

WindowValues AggregateWindows(const AggregateSpec& aggregate, Goal goal,
                              std::span<const SeriesPoint> series, int64_t now_ms) {
  WindowValues out;
  const size_t n = series.size();
  if (n == 0) return out;
  const bool by_points = aggregate.window == AggregateSpec::Window::kPoints;
  const size_t window_points = static_cast<size_t>(std::max<int64_t>(aggregate.window_points, 1));
  const size_t min_points = static_cast<size_t>(std::max<int64_t>(aggregate.min_points, 1));
  SlidingAggregate sliding(aggregate.function, series);

  // The window as of now: [current_left, n - 1].
  size_t current_left = 0;
  if (by_points) {
    current_left = n > window_points ? n - window_points : 0;
  } else {
    // The first point with time > now - D.
    const int64_t cutoff = SubSaturating(now_ms, aggregate.window_ms);
    current_left = static_cast<size_t>(
        std::upper_bound(series.begin(), series.end(), cutoff,
                         [](int64_t t, const SeriesPoint& p) { return t < p.time_ms; }) -
        series.begin());
  }
  out.current_points = static_cast<int64_t>(n - current_left);
  if (n - current_left >= min_points && current_left < n) {
    out.current = sliding.Direct(current_left, n - 1);
  }

  if (goal == Goal::kUnspecified) return out;
  // Every window ending at a point.
  size_t left = 0;
  for (size_t i = 0; i < n; ++i) {
    if (by_points) {
      left = i + 1 > window_points ? i + 1 - window_points : 0;
    } else {
      const int64_t t = series[i].time_ms;
      const int64_t cutoff = SubSaturating(t, aggregate.window_ms);
      while (left < i && series[left].time_ms <= cutoff) ++left;
    }
    if (i - left + 1 < min_points) continue;
    double v = sliding.Slide(left, i);
    if (!out.best || Better(goal, v, *out.best)) out.best = v;
  }
  if (out.current && (!out.best || Better(goal, *out.current, *out.best))) out.best = out.current;
  return out;
}

Decision Evaluate(const TriggerSpec& spec, std::span<const SeriesPoint> series,
                  const TriggerState& state, int64_t now_ms) {
  Decision d;
  const ConditionSpec& cond = spec.condition;
  const Goal goal = spec.goal();
  const bool has_watch = spec.watch.source != WatchSpec::Source::kNone;
  const std::string what = DescribeAggregate(spec);

  bool holds = false;
  std::string why;
  std::string watch_problem;
  if (spec.watch.source == WatchSpec::Source::kStudy && goal == Goal::kUnspecified) {
    // A caller error: the study's direction was never set.
    watch_problem =
        absl::StrCat("the direction of study ", spec.watch.study.name,
                     " is unknown (watch.study.goal was not set from the study's objective)");
  } else if (has_watch) {
    std::vector<SeriesPoint> prepared = PrepareSeries(spec, series);
    WindowValues w = AggregateWindows(spec.aggregate, goal, prepared, now_ms);
    d.value = w.current;
    d.points = w.current_points;
    if (cond.kind == ConditionSpec::Kind::kDropFromBest ||
        cond.kind == ConditionSpec::Kind::kNewBest) {
      d.best = w.best;
    }
  }

  if (cond.kind == ConditionSpec::Kind::kSchedule) {
    const int64_t ref = state.last_fired_ms.value_or(state.applied_ms);
    std::string schedule;
    std::optional<int64_t> due;
    if (cond.every_ms > 0) {
      schedule = absl::StrCat("every ", FormatDuration(cond.every_ms));
      due = ref + cond.every_ms;
    } else {
      schedule = absl::StrCat("cron \"", cond.cron, "\"");
      absl::StatusOr<CronSchedule> cron = CronSchedule::Parse(cond.cron);
      if (!cron.ok()) {
        schedule = std::string(cron.status().message());
      } else {
        due = cron->Next(ref);
      }
    }
    d.next_due_ms = due;
    holds = due.has_value() && now_ms >= *due;
    if (!due) {
      why = absl::StrCat(schedule, ": never due");
    } else {
      why = absl::StrCat(schedule, holds ? ": due since " : ": next due at ", FormatTimeUtc(*due));
    }
    if (!watch_problem.empty()) {
      absl::StrAppend(&why, "; ", watch_problem);
    } else if (has_watch) {
      absl::StrAppend(&why, "; ",
                      d.value ? absl::StrCat(what, " = ", Num(*d.value))
                              : NotEnough(what, spec.aggregate, d.points));
    }
  } else if (!watch_problem.empty()) {
    why = watch_problem;
  } else if (!has_watch) {
    why = "the trigger watches nothing (spec.watch is required for this condition)";
  } else if (cond.kind == ConditionSpec::Kind::kNewBest) {
    if (!d.best) {
      why = goal == Goal::kUnspecified ? absl::StrCat(what, ": no goal to tell the best")
                                       : NotEnough(what, spec.aggregate, d.points);
    } else if (!state.best_at_last_firing) {
      holds = true;
      why = absl::StrCat(what, " reached ", Num(*d.best), " (no baseline yet)");
    } else if (Better(goal, *d.best, *state.best_at_last_firing)) {
      holds = true;
      why = absl::StrCat(what, " reached ", Num(*d.best), ", better than the baseline ",
                         Num(*state.best_at_last_firing));
    } else {
      why = absl::StrCat(what, ": best ", Num(*d.best), ", not better than the baseline ",
                         Num(*state.best_at_last_firing));
    }
  } else if (!d.value) {
    why = NotEnough(what, spec.aggregate, d.points);
  } else if (cond.kind == ConditionSpec::Kind::kBelow) {
    holds = *d.value < cond.threshold;
    why = absl::StrCat(what, " = ", Num(*d.value), holds ? " < " : ", not below ",
                       Num(cond.threshold));
  } else if (cond.kind == ConditionSpec::Kind::kAbove) {
    holds = *d.value > cond.threshold;
    why = absl::StrCat(what, " = ", Num(*d.value), holds ? " > " : ", not above ",
                       Num(cond.threshold));
  } else if (cond.kind == ConditionSpec::Kind::kDropFromBest) {
    if (!d.best) {
      why = absl::StrCat(what, " = ", Num(*d.value), ": no goal to tell the best");
    } else {
      const double drop = goal == Goal::kMaximize ? *d.best - *d.value : *d.value - *d.best;
      const double limit = cond.relative ? cond.margin * std::fabs(*d.best) : cond.margin;
      holds = drop > limit;
      std::string margin = cond.relative
                               ? absl::StrCat(Num(limit), " = ", Num(cond.margin), " x |best|")
                               : Num(cond.margin);
      why = absl::StrCat(what, " = ", Num(*d.value), ", ", Num(std::fabs(drop)),
                         goal == Goal::kMaximize ? " below" : " above", " its best ", Num(*d.best),
                         holds ? " (more than the margin " : " (not more than the margin ", margin,
                         ")");
    }
  }

  const bool cooling = state.last_fired_ms.has_value() && spec.cooldown_ms > 0 &&
                       now_ms < *state.last_fired_ms + spec.cooldown_ms;
  if (cooling) {
    d.next_eligible_ms = *state.last_fired_ms + spec.cooldown_ms;
    d.cooling_down = holds;
    if (holds) {
      absl::StrAppend(&why, "; cooling down until ", FormatTimeUtc(d.next_eligible_ms),
                      " (cooldown ", FormatDuration(spec.cooldown_ms), ")");
    }
  } else {
    d.fire = holds;
    if (holds && spec.cooldown_ms > 0) d.next_eligible_ms = now_ms + spec.cooldown_ms;
  }
  if (d.fire && cond.kind == ConditionSpec::Kind::kSchedule) {
    // The next due time once the caller records this firing.
    if (cond.every_ms > 0) {
      d.next_due_ms = now_ms + cond.every_ms;
    } else if (absl::StatusOr<CronSchedule> cron = CronSchedule::Parse(cond.cron); cron.ok()) {
      d.next_due_ms = cron->Next(now_ms);
    }
  }
  d.reason = std::move(why);
  return d;
}

}  // namespace hpt::engine::trigger
