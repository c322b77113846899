#include "suggest/sobol_sampler.h"

#include <boost/random/sobol.hpp>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "suggest/internal/rng.h"
#include "suggest/internal/settings.h"
#include "suggest/internal/value_mapping.h"

namespace hpt::suggest {
namespace {

using SobolEngine = boost::random::sobol_engine<uint32_t, 32>;

// Points 0 .. kSequenceLength - 1 exist: Boost's 32-bit engine holds 2^32 - 1 points after the
// origin, and its counter must not wrap.
constexpr uint64_t kSequenceLength = uint64_t{1} << 32;

absl::Status CheckDimensions(const SearchSpace& space) {
  if (absl::Status s = ValidateSearchSpace(space); !s.ok()) return s;
  if (space.params.size() > static_cast<size_t>(kMaxSobolDimensions)) {
    return absl::InvalidArgumentError(absl::StrCat("sobol supports at most ", kMaxSobolDimensions,
                                                   " parameters; the space has ",
                                                   space.params.size()));
  }
  return absl::OkStatus();
}

class SobolSampler final : public Sampler {
 public:
  explicit SobolSampler(uint64_t seed) : seed_(seed) {}

  absl::StatusOr<std::vector<Assignment>> Suggest(const SearchSpace& space, const History& history,
                                                  int n) override {
    if (n < 0) return absl::InvalidArgumentError(absl::StrCat("sobol: n must be >= 0; got ", n));
    if (absl::Status s = CheckDimensions(space); !s.ok()) return s;
    const uint64_t first = history.trials.size();
    if (first + static_cast<uint64_t>(n) > kSequenceLength) {
      return absl::OutOfRangeError(absl::StrCat("sobol: the sequence has ", kSequenceLength,
                                                " points; point ", first + n - 1,
                                                " is past its end"));
    }
    std::vector<Assignment> out;
    if (n == 0) return out;
    const size_t dims = space.params.size();
    std::vector<uint32_t> shift(dims);
    const uint64_t key = internal::SplitMix64(seed_ ^ internal::kSobolSalt);
    for (size_t d = 0; d < dims; ++d) {
      shift[d] = static_cast<uint32_t>(internal::SplitMix64(key + d) >> 32);
    }
    out.reserve(n);
    try {
      SobolEngine engine(dims);
      // Boost's first output is point 1 (the origin is skipped), so point i >= 1 is the engine's
      // vector i - 1.
      if (first > 0) engine.discard((first - 1) * dims);
      std::vector<uint32_t> coords(dims);
      for (int k = 0; k < n; ++k) {
        if (first + k == 0) {
          std::fill(coords.begin(), coords.end(), 0);
        } else {
          for (uint32_t& c : coords) c = engine();
        }
        Assignment a;
        a.reserve(dims);
        for (size_t d = 0; d < dims; ++d) {
          const double u = static_cast<double>(coords[d] ^ shift[d]) * 0x1.0p-32;
          a.push_back({space.params[d].name, internal::ValueFromUnit(space.params[d], u)});
        }
        out.push_back(std::move(a));
      }
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("sobol: the Boost engine failed at point ", first, "+: ", e.what()));
    }
    return out;
  }

 private:
  const uint64_t seed_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sampler>> MakeSobolSampler(const AlgorithmSpec& algo,
                                                          const SearchSpace& space, uint64_t seed) {
  if (absl::Status s = internal::CheckSettingNames(algo, {}); !s.ok()) return s;
  if (absl::Status s = CheckDimensions(space); !s.ok()) return s;
  return std::make_unique<SobolSampler>(seed);
}

}  // namespace hpt::suggest
