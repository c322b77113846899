#include "suggest/sobol_sampler.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "suggest/internal/rng.h"
#include "suggest/internal/settings.h"
#include "suggest/internal/sobol_points.h"
#include "suggest/internal/value_mapping.h"

namespace hpt::suggest {
namespace {

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
    const int dims = static_cast<int>(space.params.size());
    absl::StatusOr<std::vector<double>> u = internal::ShiftedSobolPoints(
        dims, history.trials.size(), n, internal::SplitMix64(seed_ ^ internal::kSobolSalt));
    if (!u.ok()) {
      return absl::Status(u.status().code(), absl::StrCat("sobol: ", u.status().message()));
    }
    std::vector<Assignment> out;
    out.reserve(n);
    for (int k = 0; k < n; ++k) {
      Assignment a;
      a.reserve(dims);
      for (int d = 0; d < dims; ++d) {
        a.push_back(
            {space.params[d].name,
             internal::ValueFromUnit(space.params[d], (*u)[static_cast<size_t>(k) * dims + d])});
      }
      out.push_back(std::move(a));
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
