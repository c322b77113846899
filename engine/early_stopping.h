// Early stopping of running trials: `medianstop` (spec.earlyStopping), in Katib's form or, as an
// option, Optuna's MedianPruner. Pure computation over objective values; the controller feeds it
// finished trials and asks about running ones.
//
//   MedianStopRule rule(*spec.early_stopping, spec.objective.maximize);
//   rule.AddFinished(points_of_a_succeeded_trial);
//   std::string why;
//   if (rule.ShouldStop(points_of_a_running_trial, &why)) { ... stop it: EARLY_STOPPED ... }
//
// Katib's rule (CONTRACT.md §4.2): each succeeded trial contributes the mean of its first
// start_step objective values; with at least min_trials_required of them the rule value is the
// mean of those means (Katib calls it a median; its code computes a mean). A running trial is
// judged once, when it has reported start_step values: it stops when the best of them is worse
// than the rule value (greater when minimizing, less when maximizing).
// Optuna's rule (MedianPruner with n_startup_trials = min_trials_required, n_warmup_steps =
// start_step): at every reported step s >= start_step of a running trial, when at least
// min_trials_required finished trials exist, the median of the finished trials' values at step s
// (those that reported s); the trial stops when its best value up to s is worse than that median.
//
// Thread-compatible.
#ifndef HPT_ENGINE_EARLY_STOPPING_H_
#define HPT_ENGINE_EARLY_STOPPING_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/spec/study_spec.h"
#include "tracker/trial_store.h"

namespace hpt::engine {

class MedianStopRule {
 public:
  MedianStopRule(const EarlyStoppingSpec& spec, bool maximize);

  // A succeeded trial's objective points (in report order).
  void AddFinished(const std::vector<tracker::StoredPoint>& points);

  // Whether a running trial whose objective points (in report order) are `points` should stop
  // now. When true, `why` (may be null) says why in a sentence.
  bool ShouldStop(const std::vector<tracker::StoredPoint>& points, std::string* why) const;

  // Katib's rule judges a trial once; the controller asks again only under Optuna's rule.
  bool judges_once() const { return !optuna_; }
  int start_step() const { return start_step_; }

 private:
  bool Worse(double a, double b) const { return maximize_ ? a < b : a > b; }
  double Best(const std::vector<tracker::StoredPoint>& points, size_t n) const;

  const int min_trials_;
  const int start_step_;
  const bool optuna_;
  const bool maximize_;
  std::vector<double> first_means_;                 // Katib: one per succeeded trial
  std::map<int64_t, std::vector<double>> by_step_;  // Optuna: finished values per step
  int finished_ = 0;
};

}  // namespace hpt::engine

#endif  // HPT_ENGINE_EARLY_STOPPING_H_
