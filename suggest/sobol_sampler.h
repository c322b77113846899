// The `sobol` algorithm: a randomized Sobol' low-discrepancy sequence (Katib v1beta1 `sobol`, which
// is goptuna's Sobol sampler), so that few trials already cover the space evenly.
//
//   AlgorithmSpec algo{.name = "sobol"};
//   absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSobolSampler(algo, space, /*seed=*/42);
//   auto batch = (*s)->Suggest(space, history, 8);
//
// Points come from boost::random::sobol_engine (32-bit, Joe-Kuo direction numbers) with one
// dimension per parameter, in the space's order. Point i is the i-th point of the Sobol' sequence
// in Gray-code order starting at the origin (Boost's engine starts one later; point 0 is added
// here), with i = history.trials.size() + k for the k-th assignment of a call, reached with the
// engine's discard(); so batching and restarts do not change the sequence.
//
// Randomization: a digital shift. Each 32-bit coordinate of dimension d is XORed with a random word
// w_d derived from the seed (SplitMix64), then scaled by 2^-32 into [0, 1). The shift keeps the
// net property: every aligned block of 2^m points still puts exactly one point in each dyadic
// interval of width 2^-m per dimension (and the first two dimensions form a (0,m,2)-net). Different
// seeds give different point sets; the same seed gives the same points.
//
// The unit cube maps to the space as in suggest/internal/value_mapping.h: doubles linearly
// (uniform) or in log space (logUniform); normal/logNormal through the normal quantile (inverse
// CDF), clipped to [min, max]; ints (and stepped doubles) to lattice point floor(u*count);
// lists by equal bins. Resolution is 2^-32 of the range.
//
// Settings: none. At most 3667 parameters (Boost's table); at most 2^32 - 1 points.
#ifndef HPT_SUGGEST_SOBOL_SAMPLER_H_
#define HPT_SUGGEST_SOBOL_SAMPLER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::suggest {

// The most parameters a sobol study may have.
inline constexpr int kMaxSobolDimensions = 3667;

// Creates a sobol sampler. InvalidArgument for any setting, an invalid space, or more than
// kMaxSobolDimensions parameters. Suggest returns exactly n assignments; InvalidArgument for n < 0
// or an invalid space, OutOfRange past the end of the sequence (2^32 - 1 points). Not thread-safe.
absl::StatusOr<std::unique_ptr<Sampler>> MakeSobolSampler(const AlgorithmSpec& algo,
                                                          const SearchSpace& space, uint64_t seed);

}  // namespace hpt::suggest

#endif  // HPT_SUGGEST_SOBOL_SAMPLER_H_
