// Whether a retraining trigger fires now: a pure function of its spec, the watched series, the
// trigger's stored state and the time. The caller (hptd) fetches the series, stores the state and
// runs the action; nothing here does I/O.
//
//   std::vector<SeriesPoint> series = ...;        // oldest first
//   TriggerState state{.applied_ms = applied, .last_fired_ms = last_fired};
//   Decision d = Evaluate(spec, series, state, now_ms);
//   if (d.fire) {
//     RunAction(spec.action);
//     state.last_fired_ms = now_ms;               // and, for newBest, best_at_last_firing = d.best
//   }
//   log(d.reason);   // "mean(auc) over the last 50 points = 0.873 < 0.91"
//
// Semantics (docs/triggers.md is the user's version):
// - The series. Points with a value that is NaN or infinite are dropped; the rest are stably
//   sorted by time (the caller passes them oldest first; ties keep their order).
//   watch.model: the metric's reported points. watch.study: the caller passes each successful
//   trial's objective at its finish time, in finish order; Evaluate replaces each value by the best
//   so far by the study's direction (spec.watch.study.goal, which the caller sets from the study),
//   so function `last` reads the study's best objective.
// - The window as of now. {points: N}: the last N points. {duration: D}: the points with
//   time > now - D (points stamped after now count). Fewer than minPoints points (or none): no
//   value, and no condition but a schedule can hold.
// - The aggregate over the window: last (the newest point's value), mean, min or max.
// - The best (dropFromBest, newBest), by the goal: the best aggregate over every evaluable window
//   in the series: the window ending at each point i (points: the N points up to i; duration:
//   the points j <= i with time_j > time_i - D) when it holds at least minPoints points, and the
//   window as of now. Computed in O(n) (prefix sums for mean, monotonic deques for min/max).
// - below / above: value < threshold / value > threshold (strict).
// - dropFromBest: drop = best - value (maximize) or value - best (minimize); holds when
//   drop > margin, or drop > margin * |best| when relative.
// - newBest: holds when the best is strictly better than state.best_at_last_firing; with no
//   baseline (empty), as soon as there is a best. The caller records the baseline: Decision.best
//   of an evaluation when the trigger is applied (empty when there is no value yet), then
//   Decision.best after each firing.
// - schedule {every: E}: holds when now >= ref + E; {cron}: when a cron time t has ref < t <= now
//   (times missed while hptd was down collapse into one firing). ref = state.last_fired_ms, or
//   state.applied_ms before the first firing.
// - cooldown C (applies to every condition): when state.last_fired_ms is set and
//   now < last_fired_ms + C, the trigger does not fire; cooling_down says the condition holds.
//   now == last_fired_ms + C is eligible.
//
// All functions are pure and thread-safe.
#ifndef HPT_ENGINE_TRIGGER_EVALUATE_H_
#define HPT_ENGINE_TRIGGER_EVALUATE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/trigger/trigger_spec.h"

namespace hpt::engine::trigger {

// One point of the watched series. `time_ms` is milliseconds since the Unix epoch.
struct SeriesPoint {
  int64_t time_ms = 0;
  double value = 0;
};

// What the caller stores per trigger between evaluations.
struct TriggerState {
  int64_t applied_ms = 0;                // when the trigger was applied (schedule baseline)
  std::optional<int64_t> last_fired_ms;  // the last firing (cooldown, schedule)
  // newBest: the baseline (see above). Other conditions ignore it; the caller may keep the best
  // at apply time here for display.
  std::optional<double> best_at_last_firing;
};

struct Decision {
  bool fire = false;
  bool cooling_down = false;    // the condition holds but the cooldown blocks it
  std::optional<double> value;  // the aggregated value evaluated (null: not enough points)
  std::optional<double> best;   // the best (dropFromBest, newBest); null otherwise or without one
  // When the cooldown ends: last_fired_ms + cooldown while it runs, now + cooldown when this
  // evaluation fires (the caller then records last_fired_ms = now); 0 when there is none.
  int64_t next_eligible_ms = 0;
  // schedule conditions: when the schedule is next due (already passed when it holds but the
  // cooldown blocks it; null for a cron expression that never matches again). The caller wakes up
  // at max(next_due_ms, next_eligible_ms). Null for other conditions, which are evaluated when new
  // points arrive (and, for duration windows, as they age out).
  std::optional<int64_t> next_due_ms;
  int64_t points = 0;  // points in the window as of now
  // One line for humans: "mean(auc) over the last 50 points = 0.873 < 0.91".
  std::string reason;
};

Decision Evaluate(const TriggerSpec& spec, std::span<const SeriesPoint> series,
                  const TriggerState& state, int64_t now_ms);

// The building blocks of Evaluate, for callers that show a trigger's series.

// The series Evaluate aggregates: non-finite values dropped, stably sorted by time, and for a
// study watch with a known goal the running best.
std::vector<SeriesPoint> PrepareSeries(const TriggerSpec& spec,
                                       std::span<const SeriesPoint> series);

struct WindowValues {
  std::optional<double> current;  // the aggregate as of now; null below min_points
  int64_t current_points = 0;     // points in the window as of now
  // The best evaluable window's aggregate by `goal` (see above); null when goal is kUnspecified
  // or no window is evaluable.
  std::optional<double> best;
};

// The aggregate as of now and the best over the series. `series` must be prepared: finite values
// sorted by time.
WindowValues AggregateWindows(const AggregateSpec& aggregate, Goal goal,
                              std::span<const SeriesPoint> series, int64_t now_ms);

}  // namespace hpt::engine::trigger

#endif  // HPT_ENGINE_TRIGGER_EVALUATE_H_
