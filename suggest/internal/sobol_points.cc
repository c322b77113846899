#include "suggest/internal/sobol_points.h"

#include <boost/random/sobol.hpp>
#include <exception>

#include "absl/strings/str_cat.h"
#include "suggest/internal/rng.h"
#include "suggest/sobol_sampler.h"

namespace hpt::suggest::internal {

static_assert(kMaxSobolDims == kMaxSobolDimensions, "one limit for sobol and its helper");

absl::StatusOr<std::vector<double>> ShiftedSobolPoints(int dims, uint64_t first, int count,
                                                       uint64_t key) {
  if (dims < 1 || dims > kMaxSobolDims || count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("Sobol' points: ", dims, " dimensions (1 to ",
                                                   kMaxSobolDims, ") and count ", count,
                                                   " (>= 0)"));
  }
  // Boost's 32-bit engine holds 2^32 - 1 points after the origin, and its counter must not wrap.
  constexpr uint64_t kSequenceLength = uint64_t{1} << 32;
  if (first + static_cast<uint64_t>(count) > kSequenceLength) {
    return absl::OutOfRangeError(absl::StrCat("the Sobol' sequence has ", kSequenceLength,
                                              " points; point ", first + count - 1,
                                              " is past its end"));
  }
  std::vector<double> u(static_cast<size_t>(count) * dims);
  if (count == 0) return u;
  std::vector<uint32_t> shift(dims);
  for (int d = 0; d < dims; ++d) shift[d] = static_cast<uint32_t>(SplitMix64(key + d) >> 32);
  try {
    boost::random::sobol_engine<uint32_t, 32> engine(dims);
    // Boost's first output is point 1 (the origin is skipped), so point i >= 1 is its vector i-1.
    if (first > 0) engine.discard((first - 1) * dims);
    size_t at = 0;
    for (int i = 0; i < count; ++i) {
      for (int d = 0; d < dims; ++d) {
        const uint32_t c = first + i == 0 ? 0u : engine();
        u[at++] = static_cast<double>(c ^ shift[d]) * 0x1.0p-32;
      }
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("the Boost Sobol' engine failed at point ", first, "+: ", e.what()));
  }
  return u;
}

}  // namespace hpt::suggest::internal
