// The `random` algorithm: independent draws from each parameter's distribution (Katib v1beta1
// `random`, which is hyperopt's rand.suggest; and v1alpha1 `random`).
//
//   AlgorithmSpec algo{.name = "random", .settings = {{"random_state", "7"}}};
//   absl::StatusOr<std::unique_ptr<Sampler>> s = MakeRandomSampler(algo, space, /*seed=*/42);
//   auto batch = (*s)->Suggest(space, history, 4);
//
// Distributions (see suggest/internal/value_mapping.h for the exact mapping):
//   double   uniform or logUniform in [min, max]; normal/logNormal with mu = (min+max)/2 and
//            sigma = (max-min)/6 (in log space for logNormal), clipped to [min, max]; with a step
//            the value is min + k*step within the range.
//   int      uniform over min, min+step, ..., max (step defaults to 1), inclusive; the other
//            distributions round to the nearest such point.
//   discrete, categorical: a uniform pick from the list.
//
// Determinism: the k-th assignment of a call is trial i = history.trials.size() + k of the study,
// and it is drawn from a generator seeded by a mix of (seed, i). So the result depends only on the
// seed and the trial's position: not on how calls are batched, nor on a restart. History values are
// not used, and an assignment may repeat an earlier one (as in Katib).
//
// Settings: `random_state` (an integer >= 0) replaces the engine's seed.
#ifndef HPT_SUGGEST_RANDOM_SAMPLER_H_
#define HPT_SUGGEST_RANDOM_SAMPLER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::suggest {

// Creates a random sampler. InvalidArgument for an unknown or malformed setting, or an invalid
// space (see ValidateSearchSpace). The sampler's Suggest returns exactly n assignments (n >= 0;
// InvalidArgument for n < 0 or a space that fails ValidateSearchSpace). Not thread-safe.
absl::StatusOr<std::unique_ptr<Sampler>> MakeRandomSampler(const AlgorithmSpec& algo,
                                                           const SearchSpace& space, uint64_t seed);

}  // namespace hpt::suggest

#endif  // HPT_SUGGEST_RANDOM_SAMPLER_H_
