// Trigger evaluation (engine/trigger/evaluate.h): aggregation, windows, conditions, cooldown and
// schedules. Values are chosen to be exact in binary floating point.
#include "engine/trigger/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/trigger/schedule.h"
#include "gtest/gtest.h"

namespace hpt::engine::trigger {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kMin = kMillisPerMinute;
constexpr int64_t kHour = kMillisPerHour;

int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0) {
  return absl::ToUnixMillis(
      absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone()));
}

TriggerSpec ModelTrigger(ConditionSpec::Kind kind, double threshold = 0,
                         Goal goal = Goal::kUnspecified) {
  TriggerSpec t;
  t.name = "t";
  t.watch.source = WatchSpec::Source::kModel;
  t.watch.model.project = "fraud";
  t.watch.model.metric = "auc";
  t.watch.model.goal = goal;
  t.condition.kind = kind;
  t.condition.threshold = threshold;
  t.cooldown_ms = 0;
  return t;
}

TriggerSpec StudyTrigger(ConditionSpec::Kind kind, Goal goal, double threshold = 0) {
  TriggerSpec t;
  t.name = "t";
  t.watch.source = WatchSpec::Source::kStudy;
  t.watch.study.name = "hpo";
  t.watch.study.goal = goal;
  t.condition.kind = kind;
  t.condition.threshold = threshold;
  t.cooldown_ms = 0;
  return t;
}

void SetWindow(TriggerSpec* t, AggregateFunction f, int64_t points, int64_t min_points = 1) {
  t->aggregate.function = f;
  t->aggregate.window = AggregateSpec::Window::kPoints;
  t->aggregate.window_points = points;
  t->aggregate.min_points = min_points;
}

void SetDuration(TriggerSpec* t, AggregateFunction f, int64_t ms, int64_t min_points = 1) {
  t->aggregate.function = f;
  t->aggregate.window = AggregateSpec::Window::kDuration;
  t->aggregate.window_ms = ms;
  t->aggregate.min_points = min_points;
}

// Points one minute apart ending at kT0.
std::vector<SeriesPoint> Series(const std::vector<double>& values) {
  std::vector<SeriesPoint> out;
  for (size_t i = 0; i < values.size(); ++i) {
    out.push_back({kT0 - static_cast<int64_t>(values.size() - 1 - i) * kMin, values[i]});
  }
  return out;
}

Decision Eval(const TriggerSpec& t, const std::vector<SeriesPoint>& s, TriggerState state = {},
              int64_t now = kT0) {
  return Evaluate(t, s, state, now);
}

// ---- Aggregation and windows.

TEST(Evaluate, DefaultIsTheLastPoint) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kBelow, 0.75);
  Decision d = Eval(t, Series({0.5, 0.875, 0.625}));
  EXPECT_TRUE(d.fire);
  EXPECT_FALSE(d.cooling_down);
  EXPECT_EQ(d.value, 0.625);
  EXPECT_EQ(d.best, std::nullopt);
  EXPECT_EQ(d.points, 1);
  EXPECT_EQ(d.next_eligible_ms, 0);
  EXPECT_EQ(d.next_due_ms, std::nullopt);
  EXPECT_EQ(d.reason, "auc = 0.625 < 0.75");

  d = Eval(t, Series({0.5, 0.875}));
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.value, 0.875);
  EXPECT_EQ(d.reason, "auc = 0.875, not below 0.75");
}

TEST(Evaluate, BelowAndAboveAreStrict) {
  TriggerSpec below = ModelTrigger(ConditionSpec::Kind::kBelow, 0.5);
  EXPECT_FALSE(Eval(below, Series({0.5})).fire);
  EXPECT_TRUE(Eval(below, Series({0.4375})).fire);
  TriggerSpec above = ModelTrigger(ConditionSpec::Kind::kAbove, 0.5);
  EXPECT_FALSE(Eval(above, Series({0.5})).fire);
  Decision d = Eval(above, Series({0.5625}));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason, "auc = 0.5625 > 0.5");
  EXPECT_EQ(Eval(above, Series({0.25})).reason, "auc = 0.25, not above 0.5");
}

TEST(Evaluate, FunctionsOverPointWindows) {
  const std::vector<SeriesPoint> s = Series({9, 1, 2, 3, 4, 5});
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kAbove, 3.5);
  SetWindow(&t, AggregateFunction::kMean, 3);
  Decision d = Eval(t, s);
  EXPECT_EQ(d.value, 4.0);
  EXPECT_EQ(d.points, 3);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason, "mean(auc) over the last 3 points = 4 > 3.5");

  SetWindow(&t, AggregateFunction::kMin, 3);
  EXPECT_EQ(Eval(t, s).value, 3.0);
  SetWindow(&t, AggregateFunction::kMax, 3);
  EXPECT_EQ(Eval(t, s).value, 5.0);
  SetWindow(&t, AggregateFunction::kLast, 3);
  EXPECT_EQ(Eval(t, s).value, 5.0);
  EXPECT_EQ(Eval(t, s).reason, "last(auc) over the last 3 points = 5 > 3.5");
  SetWindow(&t, AggregateFunction::kMax, 6);
  EXPECT_EQ(Eval(t, s).value, 9.0);
  SetWindow(&t, AggregateFunction::kMean, 1);
  EXPECT_EQ(Eval(t, s).reason, "mean(auc) over the last point = 5 > 3.5");
  // A window longer than the series holds the whole series.
  SetWindow(&t, AggregateFunction::kMean, 100);
  d = Eval(t, s);
  EXPECT_EQ(d.value, 4.0);
  EXPECT_EQ(d.points, 6);
}

TEST(Evaluate, DurationWindowExcludesItsStart) {
  // Points at kT0 - 5m, -4m, ..., kT0: values 0..5.
  const std::vector<SeriesPoint> s = Series({0, 1, 2, 3, 4, 5});
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kAbove, 0);
  SetDuration(&t, AggregateFunction::kMean, 2 * kMin);
  // time > now - 2m: the points at -1m and 0.
  Decision d = Eval(t, s);
  EXPECT_EQ(d.points, 2);
  EXPECT_EQ(d.value, 4.5);
  EXPECT_EQ(d.reason, "mean(auc) over the last 2m = 4.5 > 0");
  // One ms later the point at -1m is exactly at the start: out.
  d = Eval(t, s, {}, kT0 + kMin);
  EXPECT_EQ(d.points, 1);
  EXPECT_EQ(d.value, 5.0);
  d = Eval(t, s, {}, kT0 + kMin - 1);
  EXPECT_EQ(d.points, 2);
  // Points stamped after now count.
  d = Eval(t, s, {}, kT0 - 3 * kMin);
  EXPECT_EQ(d.points, 5);  // -4m (> -5m), -3m, ..., 0
  EXPECT_EQ(d.value, 3.0);
  // Everything aged out.
  d = Eval(t, s, {}, kT0 + 2 * kMin);
  EXPECT_EQ(d.points, 0);
  EXPECT_EQ(d.value, std::nullopt);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.reason, "mean(auc) over the last 2m: no points yet");

  SetDuration(&t, AggregateFunction::kMin, kHour);
  EXPECT_EQ(Eval(t, s).value, 0.0);
  SetDuration(&t, AggregateFunction::kMax, 3 * kMin);
  EXPECT_EQ(Eval(t, s).value, 5.0);
  SetDuration(&t, AggregateFunction::kLast, 3 * kMin);
  EXPECT_EQ(Eval(t, s).value, 5.0);
}

TEST(Evaluate, MinPoints) {
  const std::vector<SeriesPoint> s = Series({1, 2, 3});
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kAbove, 0);
  SetDuration(&t, AggregateFunction::kMean, 90 * kMillisPerSecond, 3);
  Decision d = Eval(t, s);  // -1m and 0 are in the window
  EXPECT_EQ(d.points, 2);
  EXPECT_EQ(d.value, std::nullopt);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.reason, "mean(auc) over the last 1m30s: 2 points, fewer than minPoints 3");
  t.aggregate.min_points = 2;
  d = Eval(t, s);
  EXPECT_EQ(d.value, 2.5);
  EXPECT_TRUE(d.fire);

  SetWindow(&t, AggregateFunction::kMean, 10, 4);
  d = Eval(t, s);
  EXPECT_EQ(d.value, std::nullopt);
  EXPECT_EQ(d.reason, "mean(auc) over the last 10 points: 3 points, fewer than minPoints 4");
  SetWindow(&t, AggregateFunction::kMean, 10, 3);
  EXPECT_EQ(Eval(t, s).value, 2.0);
  SetWindow(&t, AggregateFunction::kMean, 10, 2);
  EXPECT_EQ(Eval(t, Series({7})).reason,
            "mean(auc) over the last 10 points: 1 point, fewer than minPoints 2");
  EXPECT_EQ(Eval(ModelTrigger(ConditionSpec::Kind::kBelow, 1), {}).reason, "auc: no points yet");
}

TEST(Evaluate, NonFiniteValuesAreSkipped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kBelow, 10);
  SetWindow(&t, AggregateFunction::kMean, 3);
  Decision d = Eval(t, Series({100, 1, nan, inf, 3, -inf}));
  EXPECT_EQ(d.points, 3);  // 100, 1, 3
  EXPECT_EQ(d.value, 104.0 / 3);
  SetWindow(&t, AggregateFunction::kLast, 1);
  EXPECT_EQ(Eval(t, Series({1, nan})).value, 1.0);
  EXPECT_EQ(Eval(t, Series({nan})).value, std::nullopt);
}

TEST(Evaluate, PointsAreOrderedByTime) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kBelow, 10);
  std::vector<SeriesPoint> s = {{kT0, 1}, {kT0 - kMin, 2}, {kT0 - 2 * kMin, 3}};
  EXPECT_EQ(Eval(t, s).value, 1.0);
  // Equal times keep the given order.
  s = {{kT0, 1}, {kT0, 2}};
  EXPECT_EQ(Eval(t, s).value, 2.0);
}

// ---- dropFromBest.

TEST(Evaluate, DropFromBestAbsolute) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kDropFromBest, 0, Goal::kMaximize);
  SetWindow(&t, AggregateFunction::kMean, 2, 2);
  t.condition.margin = 0.25;
  // Windows of 2: 0.625, 0.875, 0.875, 0.625, 0.375. Best 0.875, now 0.375: a drop of 0.5.
  const std::vector<SeriesPoint> s = Series({0.5, 0.75, 1.0, 0.75, 0.5, 0.25});
  Decision d = Eval(t, s);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.value, 0.375);
  EXPECT_EQ(d.best, 0.875);
  EXPECT_EQ(d.reason,
            "mean(auc) over the last 2 points = 0.375, 0.5 below its best 0.875 (more than the "
            "margin 0.25)");
  t.condition.margin = 0.5;  // strict
  d = Eval(t, s);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.reason,
            "mean(auc) over the last 2 points = 0.375, 0.5 below its best 0.875 (not more than "
            "the margin 0.5)");
}

TEST(Evaluate, DropFromBestCountsEveryEvaluableWindow) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kDropFromBest, 0, Goal::kMaximize);
  t.condition.margin = 0.25;
  const std::vector<SeriesPoint> s = Series({1.0, 0.0, 0.0});
  // minPoints 1: the first window holds only the 1.0.
  SetWindow(&t, AggregateFunction::kMean, 2, 1);
  EXPECT_EQ(Eval(t, s).best, 1.0);
  // minPoints 2: windows 0.5 and 0.
  SetWindow(&t, AggregateFunction::kMean, 2, 2);
  Decision d = Eval(t, s);
  EXPECT_EQ(d.best, 0.5);
  EXPECT_EQ(d.value, 0.0);
  EXPECT_TRUE(d.fire);
  // Too few points for any window: no value, no best.
  SetWindow(&t, AggregateFunction::kMean, 5, 5);
  d = Eval(t, s);
  EXPECT_EQ(d.best, std::nullopt);
  EXPECT_EQ(d.value, std::nullopt);
  EXPECT_FALSE(d.fire);
}

TEST(Evaluate, DropFromBestRelative) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kDropFromBest, 0, Goal::kMaximize);
  t.condition.relative = true;
  t.condition.margin = 0.25;  // 0.25 x 2 = 0.5: a drop of exactly 0.5 does not fire
  const std::vector<SeriesPoint> s = Series({1, 2, 1.5});
  Decision d = Eval(t, s);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.best, 2.0);
  EXPECT_EQ(d.reason,
            "auc = 1.5, 0.5 below its best 2 (not more than the margin 0.5 = 0.25 x |best|)");
  t.condition.margin = 0.125;
  d = Eval(t, s);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason,
            "auc = 1.5, 0.5 below its best 2 (more than the margin 0.25 = 0.125 x |best|)");
}

TEST(Evaluate, DropFromBestMinimize) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kDropFromBest, 0, Goal::kMinimize);
  t.watch.model.metric = "loss";
  t.condition.margin = 0.5;
  Decision d = Eval(t, Series({1, 0.5, 1.25}));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.best, 0.5);
  EXPECT_EQ(d.value, 1.25);
  EXPECT_EQ(d.reason, "loss = 1.25, 0.75 above its best 0.5 (more than the margin 0.5)");
  // Relative to |best| with a negative best: -2 -> -1 is a rise of 1 = 0.5 x |-2|.
  t.condition.relative = true;
  d = Eval(t, Series({-2, -1}));
  EXPECT_EQ(d.best, -2.0);
  EXPECT_FALSE(d.fire);
  t.condition.margin = 0.375;
  EXPECT_TRUE(Eval(t, Series({-2, -1})).fire);
  // At the best: no drop.
  d = Eval(t, Series({3, 2}));
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.reason,
            "loss = 2, 0 above its best 2 (not more than the margin 0.75 = 0.375 x |best|)");
}

TEST(Evaluate, DropFromBestOverDurationWindows) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kDropFromBest, 0, Goal::kMaximize);
  SetDuration(&t, AggregateFunction::kMin, 90 * kMillisPerSecond, 2);
  t.condition.margin = 1;
  // Points a minute apart; a window of 1m30s ending at a point holds it and the one before.
  const std::vector<SeriesPoint> s = Series({5, 6, 7, 3, 2, 1});
  // Windows: [5]x, [5,6]=5, [6,7]=6, [7,3]=3, [3,2]=2, [2,1]=1; now: [2,1] = 1.
  Decision d = Eval(t, s);
  EXPECT_EQ(d.best, 6.0);
  EXPECT_EQ(d.value, 1.0);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason,
            "min(auc) over the last 1m30s = 1, 5 below its best 6 (more than the margin 1)");
}

// The best by definition, recomputed naively.
std::optional<double> BruteBest(const AggregateSpec& a, Goal goal,
                                const std::vector<SeriesPoint>& s, int64_t now,
                                std::optional<double>* current) {
  auto aggregate = [&](size_t l, size_t r) {  // [l, r]
    double v = s[r].value;
    if (a.function == AggregateFunction::kMean) {
      long double sum = 0;
      for (size_t i = l; i <= r; ++i) sum += s[i].value;
      v = static_cast<double>(sum / (r - l + 1));
    } else if (a.function != AggregateFunction::kLast) {
      v = s[l].value;
      for (size_t i = l; i <= r; ++i) {
        v = a.function == AggregateFunction::kMin ? std::min(v, s[i].value)
                                                  : std::max(v, s[i].value);
      }
    }
    return v;
  };
  auto better = [&](double x, double y) { return goal == Goal::kMaximize ? x > y : x < y; };
  std::optional<double> best;
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    size_t l = 0;
    for (size_t j = 0; j <= i; ++j) {
      bool in = a.window == AggregateSpec::Window::kPoints
                    ? i - j < static_cast<size_t>(a.window_points)
                    : s[j].time_ms > s[i].time_ms - a.window_ms;
      if (in) {
        l = j;
        break;
      }
    }
    if (i - l + 1 < static_cast<size_t>(a.min_points)) continue;
    double v = aggregate(l, i);
    if (!best || better(v, *best)) best = v;
  }
  current->reset();
  if (n > 0) {
    size_t l = n;
    for (size_t j = 0; j < n; ++j) {
      bool in = a.window == AggregateSpec::Window::kPoints
                    ? n - j <= static_cast<size_t>(a.window_points)
                    : s[j].time_ms > now - a.window_ms;
      if (in) {
        l = j;
        break;
      }
    }
    if (l < n && n - l >= static_cast<size_t>(a.min_points)) *current = aggregate(l, n - 1);
  }
  if (*current && (!best || better(**current, *best))) best = *current;
  return best;
}

TEST(AggregateWindows, MatchesBruteForceOnRandomSeries) {
  std::mt19937_64 rng(42);
  auto pick = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  int with_best = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    AggregateSpec a;
    a.function = static_cast<AggregateFunction>(pick(0, 3));
    if (pick(0, 1) == 0) {
      a.window = AggregateSpec::Window::kPoints;
      a.window_points = pick(1, 12);
      a.min_points = pick(1, static_cast<int>(a.window_points));
    } else {
      a.window = AggregateSpec::Window::kDuration;
      a.window_ms = pick(1, 20) * 1000;
      a.min_points = pick(1, 5);
    }
    const Goal goal = pick(0, 1) == 0 ? Goal::kMaximize : Goal::kMinimize;
    std::vector<SeriesPoint> s(pick(0, 60));
    int64_t t = 1'000'000;
    for (SeriesPoint& p : s) {
      t += pick(0, 3) * 1000;  // repeated times too
      p.time_ms = t;
      p.value = std::uniform_real_distribution<double>(-10, 10)(rng);
      if (pick(0, 5) == 0) p.value = pick(-3, 3);  // ties
    }
    const int64_t now = t + pick(-5, 10) * 1000;
    std::optional<double> want_current;
    std::optional<double> want = BruteBest(a, goal, s, now, &want_current);
    WindowValues got = AggregateWindows(a, goal, s, now);
    ASSERT_EQ(got.best.has_value(), want.has_value()) << "iteration " << iter;
    ASSERT_EQ(got.current.has_value(), want_current.has_value()) << "iteration " << iter;
    if (want) {
      ++with_best;
      EXPECT_NEAR(*got.best, *want, 1e-12) << "iteration " << iter;
      if (a.function != AggregateFunction::kMean) {
        EXPECT_EQ(*got.best, *want);
      }
    }
    if (want_current) {
      EXPECT_NEAR(*got.current, *want_current, 1e-12) << "iteration " << iter;
    }
    // Without a goal there is no best.
    EXPECT_EQ(AggregateWindows(a, Goal::kUnspecified, s, now).best, std::nullopt);
  }
  EXPECT_GT(with_best, 2000);
}

// ---- newBest.

TEST(Evaluate, NewBestOnAModel) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kNewBest, 0, Goal::kMaximize);
  const std::vector<SeriesPoint> s = Series({0.75, 0.875, 0.5});
  TriggerState state;
  state.best_at_last_firing = 0.8125;
  Decision d = Eval(t, s, state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.best, 0.875);
  EXPECT_EQ(d.value, 0.5);
  EXPECT_EQ(d.reason, "auc reached 0.875, better than the baseline 0.8125");
  state.best_at_last_firing = 0.875;  // strictly better only
  d = Eval(t, s, state);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.reason, "auc: best 0.875, not better than the baseline 0.875");
  state.best_at_last_firing.reset();
  d = Eval(t, s, state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason, "auc reached 0.875 (no baseline yet)");
  d = Eval(t, {}, state);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.best, std::nullopt);
  EXPECT_EQ(d.reason, "auc: no points yet");
  // Minimizing.
  t.watch.model.goal = Goal::kMinimize;
  state.best_at_last_firing = 0.625;
  d = Eval(t, s, state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.best, 0.5);
  // Without a goal (a spec built by hand; the loader refuses it).
  t.watch.model.goal = Goal::kUnspecified;
  d = Eval(t, s, state);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.reason, "auc: no goal to tell the best");
}

TEST(Evaluate, StudySeriesIsTheBestSoFar) {
  TriggerSpec t = StudyTrigger(ConditionSpec::Kind::kNewBest, Goal::kMinimize);
  const std::vector<SeriesPoint> s = Series({0.5, 0.25, 0.375});
  std::vector<SeriesPoint> prepared = PrepareSeries(t, s);
  ASSERT_EQ(prepared.size(), 3u);
  EXPECT_EQ(prepared[0].value, 0.5);
  EXPECT_EQ(prepared[1].value, 0.25);
  EXPECT_EQ(prepared[2].value, 0.25);
  EXPECT_EQ(prepared[2].time_ms, kT0);

  TriggerState state;
  state.best_at_last_firing = 0.375;
  Decision d = Eval(t, s, state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.value, 0.25);
  EXPECT_EQ(d.best, 0.25);
  EXPECT_EQ(d.reason,
            "the best objective of study hpo reached 0.25, better than the baseline 0.375");
  state.best_at_last_firing = 0.25;
  EXPECT_FALSE(Eval(t, s, state).fire);

  // Thresholds read the best so far.
  TriggerSpec above = StudyTrigger(ConditionSpec::Kind::kAbove, Goal::kMaximize, 0.875);
  d = Eval(above, Series({0.75, 0.9375, 0.5}));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.value, 0.9375);
  EXPECT_EQ(d.reason, "the best objective of study hpo = 0.9375 > 0.875");

  // The caller must set the study's direction.
  TriggerSpec unknown = StudyTrigger(ConditionSpec::Kind::kNewBest, Goal::kUnspecified);
  d = Eval(unknown, s);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.value, std::nullopt);
  EXPECT_EQ(d.reason,
            "the direction of study hpo is unknown (watch.study.goal was not set from the study's "
            "objective)");
  EXPECT_EQ(PrepareSeries(unknown, s)[2].value, 0.375);  // unchanged
  // A schedule still fires; only the value is missing.
  TriggerSpec scheduled = StudyTrigger(ConditionSpec::Kind::kSchedule, Goal::kUnspecified);
  scheduled.condition.every_ms = kHour;
  TriggerState state2;
  state2.applied_ms = kT0 - kHour;
  d = Eval(scheduled, s, state2);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason, "every 1h: due since " + FormatTimeUtc(kT0) +
                          "; the direction of study hpo is unknown (watch.study.goal was not set "
                          "from the study's objective)");
}

// ---- Cooldown.

TEST(Evaluate, CooldownBoundary) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kBelow, 1);
  t.cooldown_ms = kHour;
  const std::vector<SeriesPoint> s = Series({0.5});
  TriggerState state;
  state.last_fired_ms = kT0 - kHour + 1;  // 1 ms left
  Decision d = Eval(t, s, state);
  EXPECT_FALSE(d.fire);
  EXPECT_TRUE(d.cooling_down);
  EXPECT_EQ(d.next_eligible_ms, kT0 + 1);
  EXPECT_EQ(d.reason,
            "auc = 0.5 < 1; cooling down until " + FormatTimeUtc(kT0 + 1) + " (cooldown 1h)");
  state.last_fired_ms = kT0 - kHour;  // exactly at the end: eligible
  d = Eval(t, s, state);
  EXPECT_TRUE(d.fire);
  EXPECT_FALSE(d.cooling_down);
  EXPECT_EQ(d.next_eligible_ms, kT0 + kHour);
  EXPECT_EQ(d.reason, "auc = 0.5 < 1");
  // In the cooldown with the condition false: not cooling_down, but next_eligible_ms is known.
  state.last_fired_ms = kT0 - 1;
  d = Eval(t, Series({2}), state);
  EXPECT_FALSE(d.fire);
  EXPECT_FALSE(d.cooling_down);
  EXPECT_EQ(d.next_eligible_ms, kT0 - 1 + kHour);
  // Cooldown 0: fires again at once.
  t.cooldown_ms = 0;
  state.last_fired_ms = kT0;
  d = Eval(t, s, state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.next_eligible_ms, 0);
  // Never fired: no cooldown.
  t.cooldown_ms = kHour;
  d = Eval(t, s, TriggerState{});
  EXPECT_TRUE(d.fire);
}

// ---- Schedules.

TEST(Evaluate, ScheduleEvery) {
  TriggerSpec t;
  t.condition.kind = ConditionSpec::Kind::kSchedule;
  t.condition.every_ms = 24 * kHour;
  TriggerState state;
  state.applied_ms = Utc(2024, 1, 1, 12, 0);
  Decision d = Evaluate(t, {}, state, Utc(2024, 1, 2, 12, 0) - 1);
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 2, 12, 0));
  EXPECT_EQ(d.value, std::nullopt);
  EXPECT_EQ(d.reason, "every 1d: next due at 2024-01-02T12:00:00Z");
  d = Evaluate(t, {}, state, Utc(2024, 1, 2, 12, 0));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 3, 12, 0));  // from this firing
  EXPECT_EQ(d.next_eligible_ms, Utc(2024, 1, 2, 13, 0));
  EXPECT_EQ(d.reason, "every 1d: due since 2024-01-02T12:00:00Z");
  // After a firing the reference is the firing.
  state.last_fired_ms = Utc(2024, 1, 2, 18, 0);
  d = Evaluate(t, {}, state, Utc(2024, 1, 3, 17, 59));
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 3, 18, 0));
  // Long downtime: one firing.
  d = Evaluate(t, {}, state, Utc(2024, 3, 1));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 3, 2));
}

TEST(Evaluate, ScheduleCron) {
  TriggerSpec t;
  t.condition.kind = ConditionSpec::Kind::kSchedule;
  t.condition.cron = "0 3 * * *";
  t.cooldown_ms = 0;
  TriggerState state;
  state.applied_ms = Utc(2024, 1, 1, 0, 0);
  Decision d = Evaluate(t, {}, state, Utc(2024, 1, 1, 2, 59));
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 1, 3, 0));
  EXPECT_EQ(d.reason, "cron \"0 3 * * *\": next due at 2024-01-01T03:00:00Z");
  d = Evaluate(t, {}, state, Utc(2024, 1, 1, 3, 0));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 2, 3, 0));
  EXPECT_EQ(d.reason, "cron \"0 3 * * *\": due since 2024-01-01T03:00:00Z");
  // Applied exactly at a cron time: that time is not due (ref < t).
  state.applied_ms = Utc(2024, 1, 1, 3, 0);
  EXPECT_FALSE(Evaluate(t, {}, state, Utc(2024, 1, 1, 3, 0) + 30'000).fire);
  // Missed times collapse into one firing.
  state.last_fired_ms = Utc(2024, 1, 1, 3, 0);
  d = Evaluate(t, {}, state, Utc(2024, 1, 5, 12, 0));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason, "cron \"0 3 * * *\": due since 2024-01-02T03:00:00Z");
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 6, 3, 0));
  state.last_fired_ms = Utc(2024, 1, 5, 12, 0);
  d = Evaluate(t, {}, state, Utc(2024, 1, 5, 12, 1));
  EXPECT_FALSE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 6, 3, 0));
}

TEST(Evaluate, ScheduleBlockedByCooldownFiresWhenItEnds) {
  TriggerSpec t;
  t.condition.kind = ConditionSpec::Kind::kSchedule;
  t.condition.cron = "0 * * * *";
  t.cooldown_ms = 6 * kHour;
  TriggerState state;
  state.applied_ms = Utc(2024, 1, 1);
  state.last_fired_ms = Utc(2024, 1, 1, 3, 0);
  Decision d = Evaluate(t, {}, state, Utc(2024, 1, 1, 4, 0));
  EXPECT_FALSE(d.fire);
  EXPECT_TRUE(d.cooling_down);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 1, 4, 0));
  EXPECT_EQ(d.next_eligible_ms, Utc(2024, 1, 1, 9, 0));
  EXPECT_EQ(d.reason,
            "cron \"0 * * * *\": due since 2024-01-01T04:00:00Z; cooling down until "
            "2024-01-01T09:00:00Z (cooldown 6h)");
  d = Evaluate(t, {}, state, Utc(2024, 1, 1, 9, 0));
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.next_due_ms, Utc(2024, 1, 1, 10, 0));
}

TEST(Evaluate, ScheduleReportsTheWatchedValue) {
  TriggerSpec t = ModelTrigger(ConditionSpec::Kind::kSchedule);
  t.condition.every_ms = kHour;
  SetWindow(&t, AggregateFunction::kMean, 2);
  TriggerState state;
  state.applied_ms = kT0 - kHour;
  Decision d = Eval(t, Series({1, 2, 4}), state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.value, 3.0);
  EXPECT_EQ(d.reason,
            "every 1h: due since " + FormatTimeUtc(kT0) + "; mean(auc) over the last 2 points = 3");
  // No points: the schedule still fires.
  d = Eval(t, {}, state);
  EXPECT_TRUE(d.fire);
  EXPECT_EQ(d.reason, "every 1h: due since " + FormatTimeUtc(kT0) +
                          "; mean(auc) over the last 2 points: no points yet");
}

}  // namespace
}  // namespace hpt::engine::trigger
