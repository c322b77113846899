// Digitally shifted Sobol' points, shared by the `sobol` sampler and the initial design and
// candidate sets of `bayesianoptimization` (internal to suggest/).
//
//   absl::StatusOr<std::vector<double>> u = internal::ShiftedSobolPoints(dims, first, count, key);
//   // point i, coordinate d: (*u)[i * dims + d], in [0, 1)
//
// Point i is the i-th point of the 32-bit Sobol' sequence (boost::random::sobol_engine, Joe-Kuo
// direction numbers) in Gray-code order starting at the origin (Boost's engine starts one later;
// point 0 is added here), reached with the engine's discard(), so any window of the sequence can
// be asked for. Each 32-bit coordinate of dimension d is XORed with the word
// SplitMix64(key + d) >> 32, then scaled by 2^-32 into [0, 1); the shift keeps the net property.
// Plain function; thread-safe.
#ifndef HPT_SUGGEST_INTERNAL_SOBOL_POINTS_H_
#define HPT_SUGGEST_INTERNAL_SOBOL_POINTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace hpt::suggest::internal {

// The most dimensions Boost's direction-number table holds.
inline constexpr int kMaxSobolDims = 3667;

// Points first .. first + count - 1 over `dims` dimensions, row-major. InvalidArgument for dims
// outside [1, kMaxSobolDims] or count < 0; OutOfRange past point 2^32 - 1; Internal if the Boost
// engine fails (naming the first point).
absl::StatusOr<std::vector<double>> ShiftedSobolPoints(int dims, uint64_t first, int count,
                                                       uint64_t key);

}  // namespace hpt::suggest::internal

#endif  // HPT_SUGGEST_INTERNAL_SOBOL_POINTS_H_
