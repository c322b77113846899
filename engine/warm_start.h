// Warm start (Katib issue #1067): the finished trials of earlier studies of the same tracker file
// feed a new study's sampler before its own trials, so that a re-run after a change of the search
// space starts from what is already known instead of from scratch. A study asks for it with
// `spec.hpt.warmStart` (engine/spec/study_spec.h, WarmStartSpec; docs/study-reference.md, "Warm
// start").
//
//   absl::StatusOr<std::vector<WarmStartSource>> sources =
//       LoadWarmStartSources(*store, spec.hpt.warm_start->studies, "hpt.db");
//   if (!sources.ok()) return sources.status();            // NotFound: no such study
//   absl::StatusOr<WarmStartResult> warm = MapWarmStart(spec, *sources);
//   if (!warm.ok()) return warm.status();                  // FailedPrecondition: other metric
//   // warm->history.trials go before the study's own trials in every Suggest call;
//   // warm->Summary() is the text of the study's "WarmStart" event.
//
// The rules MapWarmStart applies to each trial of each source, in order:
//  1. Only SUCCEEDED trials with an objective are used. Every other trial (still running, failed,
//     killed, METRICS_UNAVAILABLE, and EARLY_STOPPED too: its value comes from a run cut short,
//     and the controller gives its own early-stopped trials no value either) is skipped.
//  2. The source must optimize the objective metric of the new study (same name), else the whole
//     warm start fails (FailedPrecondition naming both). The direction may differ: objective
//     values are the raw metric values, and each observation's value is in the minimization sense
//     of the NEW study (negated when it maximizes), as the controller's own history is.
//  3. Parameters are matched by name. A trial without a value for one of the new space's
//     parameters is dropped (there is no default to fill in); old parameters the new space does
//     not have are ignored.
//  4. Each value is read with the new parameter's type. Dropped whatever `outOfSpace` says: a
//     value that is not a number for a double/int/discrete parameter, a number that is not an
//     integer for an int parameter, a categorical value the new list no longer has.
//  5. Out of the space: a number outside [min, max], a double/int not on the step grid
//     (min + k*step; ints always have one, step 1 by default), a discrete number the list does
//     not hold. `drop` (the default) drops the trial; `clip` moves the value to the nearest
//     feasible one (the bound; the nearest grid point, ties to the lower one; the nearest listed
//     number, ties to the one listed first) and counts the trial as clipped.
//  6. Kept values are written the way the new space's samplers write them (a discrete value as
//     listed, a grid point as the grid prints it, a double in its shortest form), so that the
//     grid algorithm recognizes the points already evaluated.
//  7. Trials that land on the same point (two old trials, or clipping) are all kept: the GP takes
//     repeated points (its noise term), the grid counts the point once.
// Observations keep the sources' order, then each source's trial order; none is pending.
//
// Thread-safety: plain functions; MapWarmStart has no state, LoadWarmStartSources only reads the
// store (which is thread-safe).
#ifndef HPT_ENGINE_WARM_START_H_
#define HPT_ENGINE_WARM_START_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"
#include "suggest/search_space.h"
#include "tracker/trial_store.h"

namespace hpt::engine {

// One earlier study and its trials, as the store holds them.
struct WarmStartSource {
  tracker::StudyRecord study;  // name, objective_metric and maximize are read
  std::vector<tracker::TrialRecord> trials;
};

// What became of one source's trials.
struct WarmStartSourceStats {
  std::string study;
  int used = 0;     // observations made (clipped ones included)
  int dropped = 0;  // succeeded trials left out (rules 3 to 5)
  int clipped = 0;  // used trials with at least one value moved (rule 5, clip)
  int skipped = 0;  // trials not SUCCEEDED with an objective (rule 1)
  // Why trials were dropped, in the order first met, each with its count, e.g.
  // {"outside the space", 3}, {"no value for batch", 1}.
  std::vector<std::pair<std::string, int>> drop_reasons;

  // "12 trials from fraud-hpo (3 dropped: outside the space; 2 clipped; 4 skipped: not
  // succeeded)"; the parenthesis lists only what is not zero, and is left out when all are.
  std::string Note() const;
};

struct WarmStartResult {
  suggest::History history;  // the observations, none pending, values in minimization sense
  int used = 0, dropped = 0, clipped = 0, skipped = 0;  // totals over the sources
  std::vector<WarmStartSourceStats> sources;            // one per source, in order
  // One line per source (WarmStartSourceStats::Note), plus any the loader added.
  std::vector<std::string> notes;

  // The notes joined with ", ": the message of the study's "WarmStart" event.
  std::string Summary() const;
};

// Maps the trials of `sources` into the search space and objective of `spec` by the rules above;
// `spec.hpt.warm_start` gives outOfSpace (drop when it is not set). FailedPrecondition when a
// source optimizes another metric than spec.objective.metric, naming both; nothing else fails
// (trials that do not fit are counted, not errors).
absl::StatusOr<WarmStartResult> MapWarmStart(const StudySpec& spec,
                                             const std::vector<WarmStartSource>& sources);

// How one value of an old trial fits a parameter of the new space (rules 4 to 6).
struct MappedValue {
  enum class Fit {
    kExact,    // feasible as it is (perhaps written differently: "0.10" -> "0.1")
    kClipped,  // moved to the nearest feasible value (outOfSpace: clip)
    kOutside,  // outside the space (outOfSpace: drop)
    kInvalid,  // not a value of the parameter's type, or a categorical value no longer listed
  };
  Fit fit = Fit::kExact;
  std::string value;  // the value to use (kExact, kClipped); empty otherwise
};
MappedValue MapParameterValue(const suggest::ParameterSpec& param, const std::string& value,
                              WarmStartSpec::OutOfSpace out_of_space);

// Reads the named studies and their trials from `store`, in the order named. NotFound
// `warmStart: no study "x" in <store_name>` for a study the store does not have; the store's
// errors as they come.
absl::StatusOr<std::vector<WarmStartSource>> LoadWarmStartSources(
    tracker::TrialStore& store, const std::vector<std::string>& studies,
    const std::string& store_name);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_WARM_START_H_
