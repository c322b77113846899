// The `grid` algorithm: every combination of per-parameter grid points, each proposed once.
//
//   AlgorithmSpec algo{.name = "grid"};                        // Katib v1beta1 (Optuna
//   GridSampler) absl::StatusOr<int64_t> size = GridSize(space, algo);      // e.g. to check
//   maxTrialCount absl::StatusOr<std::unique_ptr<Sampler>> s = MakeGridSampler(algo, space, seed);
//   auto batch = (*s)->Suggest(space, history, 4);             // fewer than 4 once exhausted
//
// Two modes, chosen by the settings:
//
// Katib v1beta1 (the default): the points of a parameter are
//   double       min, min+step, ..., computed as min + k*step, up to max (allowing max to be
//                overshot by 1e-9*(max-min)); feasibleSpace.step is required;
//   int          min, min+step, ..., max, step defaulting to 1;
//   discrete, categorical: the list as given.
// The distribution is ignored. Setting `random_state` (an integer >= 0) visits the combinations in
// a shuffled order determined by it; otherwise they go in lexicographic order, first parameter
// slowest. The engine's seed is not used: without random_state the order is fixed.
//
// Katib v1alpha1, when any of the settings `DefaultGrid`, `Iteration` or a setting named after a
// parameter is present: each parameter gets n points, n = DefaultGrid (1 when absent or <= 0),
// replaced for one parameter by the setting named after it (e.g. {"--lr", "4"}; <= 0 means 1).
// n = 1 gives min (or the first list item; so with the default a categorical only ever takes its
// first value). Otherwise point i (0 <= i < n) is min + (max-min)*i/(n-1) (integer division for
// ints, as Katib; doubles print as the shortest decimal, not Katib's 4 decimals) and a list
// parameter takes list[(len-1)*i/(n-1)]. `Iteration` is Katib's internal counter: accepted and
// ignored. At most kMaxGridPointsPerParameter points per parameter. The combinations go in
// lexicographic order, first parameter slowest.
//
// In both modes, repeated points of one parameter (a list naming a value twice, or more v1alpha1
// points than an int range holds) are kept once, so every combination is distinct. Suggest returns
// the first combinations, in the order above, whose value strings match no trial of `history`
// (pending and failed trials count), so batching and restarts do not change the sequence; it
// returns fewer than n, possibly none, when the grid is exhausted. A call costs
// O((history size + n) * number of parameters).
#ifndef HPT_SUGGEST_GRID_SAMPLER_H_
#define HPT_SUGGEST_GRID_SAMPLER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::suggest {

// The most points one parameter may have in v1alpha1 mode (DefaultGrid and per-parameter counts).
inline constexpr int64_t kMaxGridPointsPerParameter = int64_t{1} << 20;

// Creates a grid sampler for `space`. InvalidArgument for an unknown or malformed setting, a
// space that fails ValidateSearchSpace, or (v1beta1 mode) a double parameter without a step:
// "grid needs feasibleSpace.step for double parameter 'lr'". Suggest: InvalidArgument for n < 0
// or an invalid space. Not thread-safe.
absl::StatusOr<std::unique_ptr<Sampler>> MakeGridSampler(const AlgorithmSpec& algo,
                                                         const SearchSpace& space, uint64_t seed);

// The number of distinct combinations the grid sampler would propose for `space` with the
// settings of `algo` (its name is not checked), saturating at INT64_MAX. Errors as
// MakeGridSampler. Thread-safe.
absl::StatusOr<int64_t> GridSize(const SearchSpace& space, const AlgorithmSpec& algo);

}  // namespace hpt::suggest

#endif  // HPT_SUGGEST_GRID_SAMPLER_H_
