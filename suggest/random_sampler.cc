#include "suggest/random_sampler.h"

#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "suggest/internal/rng.h"
#include "suggest/internal/settings.h"
#include "suggest/internal/value_mapping.h"

namespace hpt::suggest {
namespace {

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(uint64_t seed) : seed_(seed) {}

  absl::StatusOr<std::vector<Assignment>> Suggest(const SearchSpace& space, const History& history,
                                                  int n) override {
    if (n < 0) return absl::InvalidArgumentError(absl::StrCat("random: n must be >= 0; got ", n));
    if (absl::Status s = ValidateSearchSpace(space); !s.ok()) return s;
    std::vector<Assignment> out;
    out.reserve(n);
    const uint64_t first = history.trials.size();
    for (int k = 0; k < n; ++k) {
      std::mt19937_64 rng(internal::TrialSeed(seed_, internal::kRandomSalt, first + k));
      Assignment a;
      a.reserve(space.params.size());
      for (const ParameterSpec& p : space.params) {
        a.push_back({p.name, internal::ValueFromUnit(p, internal::Uniform01(rng))});
      }
      out.push_back(std::move(a));
    }
    return out;
  }

 private:
  const uint64_t seed_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sampler>> MakeRandomSampler(const AlgorithmSpec& algo,
                                                           const SearchSpace& space,
                                                           uint64_t seed) {
  if (absl::Status s = internal::CheckSettingNames(algo, {"random_state"}); !s.ok()) return s;
  absl::StatusOr<std::optional<uint64_t>> random_state = internal::ParseRandomState(algo);
  if (!random_state.ok()) return random_state.status();
  if (absl::Status s = ValidateSearchSpace(space); !s.ok()) return s;
  return std::make_unique<RandomSampler>(random_state->value_or(seed));
}

}  // namespace hpt::suggest
