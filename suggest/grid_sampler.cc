#include "suggest/grid_sampler.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "suggest/internal/rng.h"
#include "suggest/internal/settings.h"
#include "suggest/internal/value_mapping.h"

namespace hpt::suggest {
namespace {

constexpr absl::string_view kAllowedSettings =
    "random_state (Katib v1beta1); or DefaultGrid, Iteration and a point count named after a "
    "parameter (Katib v1alpha1)";

// The grid settings, parsed.
struct GridConfig {
  bool v1alpha1 = false;
  std::optional<uint64_t> random_state;
  int64_t default_points = 1;
  std::map<std::string, int64_t, std::less<>> points;  // v1alpha1 per-parameter counts
};

absl::StatusOr<int64_t> ParsePointCount(const AlgorithmSpec& algo, const std::string& key,
                                        const std::string& value) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n > kMaxGridPointsPerParameter) {
    return internal::BadSettingValue(algo, key, value,
                                     absl::StrCat("an integer number of grid points, at most ",
                                                  kMaxGridPointsPerParameter, " (<= 0 means 1)"));
  }
  return n <= 0 ? 1 : n;
}

absl::StatusOr<GridConfig> ParseGridSettings(const AlgorithmSpec& algo, const SearchSpace& space) {
  if (absl::Status s = internal::CheckNoDuplicateSettings(algo); !s.ok()) return s;
  GridConfig config;
  for (const auto& [key, value] : algo.settings) {
    if (key != "random_state" &&
        (key == "DefaultGrid" || key == "Iteration" || space.Find(key) != nullptr)) {
      config.v1alpha1 = true;
    }
  }
  for (const auto& [key, value] : algo.settings) {
    if (key == "random_state") {
      if (config.v1alpha1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "algorithm '", algo.name,
            "': setting 'random_state' (Katib v1beta1) cannot be combined with the v1alpha1 "
            "settings DefaultGrid, Iteration and per-parameter point counts"));
      }
      absl::StatusOr<std::optional<uint64_t>> rs = internal::ParseRandomState(algo);
      if (!rs.ok()) return rs.status();
      config.random_state = *rs;
    } else if (key == "Iteration") {
      // Katib's internal round counter: accepted and ignored.
    } else if (key == "DefaultGrid") {
      absl::StatusOr<int64_t> n = ParsePointCount(algo, key, value);
      if (!n.ok()) return n.status();
      config.default_points = *n;
    } else if (space.Find(key) != nullptr) {
      absl::StatusOr<int64_t> n = ParsePointCount(algo, key, value);
      if (!n.ok()) return n.status();
      config.points[key] = *n;
    } else {
      return internal::UnknownSetting(algo, key, kAllowedSettings);
    }
  }
  return config;
}

// The points of one parameter: a lattice computed on demand (v1beta1 numeric parameters, which may
// have up to 2^53 points), or a list of distinct value strings.
struct Axis {
  ParameterSpec param;
  std::optional<internal::Lattice> lattice;
  std::vector<std::string> values;

  int64_t size() const {
    return lattice.has_value() ? lattice->count : static_cast<int64_t>(values.size());
  }
  std::string At(int64_t k) const {
    return lattice.has_value() ? internal::LatticeValue(param, *lattice, k) : values[k];
  }
};

void AddDistinct(std::string value, std::unordered_set<std::string>* seen,
                 std::vector<std::string>* out) {
  if (seen->insert(value).second) out->push_back(std::move(value));
}

// Katib v1alpha1 point i of n (0 <= i < n) of a parameter.
std::string V1alpha1Point(const ParameterSpec& p, int64_t i, int64_t n) {
  const int64_t denominator = std::max<int64_t>(n - 1, 1);
  switch (p.type) {
    case ParamType::kDouble: {
      if (i == 0) return FormatDouble(p.min);
      if (i == n - 1) return FormatDouble(p.max);
      const double offset =
          (p.max - p.min) * static_cast<double>(i) / static_cast<double>(denominator);
      return internal::FormatRounded(p.min + offset, internal::ArithmeticNoise(p.min, offset));
    }
    case ParamType::kInt: {
      const __int128 range = static_cast<int64_t>(p.max) - static_cast<int64_t>(p.min);
      return FormatInt(static_cast<int64_t>(p.min) + static_cast<int64_t>(range * i / denominator));
    }
    case ParamType::kDiscrete:
    case ParamType::kCategorical:
      break;
  }
  const __int128 last = static_cast<int64_t>(p.list.size()) - 1;
  return p.list[static_cast<size_t>(last * i / denominator)];
}

absl::StatusOr<Axis> BuildAxis(const ParameterSpec& p, const GridConfig& config) {
  Axis axis{.param = p, .lattice = std::nullopt, .values = {}};
  std::unordered_set<std::string> seen;
  if (config.v1alpha1) {
    auto it = config.points.find(p.name);
    const int64_t n = it != config.points.end() ? it->second : config.default_points;
    for (int64_t i = 0; i < n; ++i) AddDistinct(V1alpha1Point(p, i, n), &seen, &axis.values);
    return axis;
  }
  switch (p.type) {
    case ParamType::kDouble:
      if (!p.step.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("grid needs feasibleSpace.step for double parameter '", p.name, "'"));
      }
      [[fallthrough]];
    case ParamType::kInt:
      axis.lattice = internal::NumericLattice(p);
      return axis;
    case ParamType::kDiscrete:
    case ParamType::kCategorical:
      break;
  }
  for (const std::string& item : p.list) AddDistinct(item, &seen, &axis.values);
  return axis;
}

absl::StatusOr<std::vector<Axis>> BuildAxes(const SearchSpace& space, const GridConfig& config) {
  if (absl::Status s = ValidateSearchSpace(space); !s.ok()) return s;
  std::vector<Axis> axes;
  axes.reserve(space.params.size());
  for (const ParameterSpec& p : space.params) {
    absl::StatusOr<Axis> axis = BuildAxis(p, config);
    if (!axis.ok()) return axis.status();
    axes.push_back(*std::move(axis));
  }
  return axes;
}

int64_t SaturatedProduct(const std::vector<Axis>& axes) {
  int64_t product = 1;
  for (const Axis& axis : axes) {
    if (product > std::numeric_limits<int64_t>::max() / axis.size()) {
      return std::numeric_limits<int64_t>::max();
    }
    product *= axis.size();
  }
  return product;
}

// A keyed pseudo-random permutation of [0, size): a 4-round balanced Feistel network on the
// smallest even number of bits that covers size, with cycle walking back into range (on average
// fewer than 4 steps). Lets a shuffled grid be visited in O(1) per point without storing it.
class IndexPermutation {
 public:
  IndexPermutation(uint64_t size, uint64_t key) : size_(size) {
    int bits = size > 1 ? std::bit_width(size - 1) : 1;
    bits = std::max(bits, 2);
    bits += bits % 2;
    half_bits_ = bits / 2;
    mask_ = half_bits_ == 32 ? 0xffffffffULL : (uint64_t{1} << half_bits_) - 1;
    for (int r = 0; r < kRounds; ++r) round_keys_[r] = internal::SplitMix64(key + r);
  }

  uint64_t operator()(uint64_t pos) const {
    uint64_t x = Encrypt(pos);
    while (x >= size_) x = Encrypt(x);
    return x;
  }

 private:
  static constexpr int kRounds = 4;

  uint64_t Encrypt(uint64_t x) const {
    uint64_t left = x >> half_bits_;
    uint64_t right = x & mask_;
    for (int r = 0; r < kRounds; ++r) {
      const uint64_t f = internal::SplitMix64(right ^ round_keys_[r]) & mask_;
      const uint64_t next_right = left ^ f;
      left = right;
      right = next_right;
    }
    return (left << half_bits_) | right;
  }

  uint64_t size_;
  int half_bits_ = 1;
  uint64_t mask_ = 1;
  uint64_t round_keys_[kRounds] = {};
};

// A value-string key for comparing assignments: length-prefixed values in axis order.
void AppendKeyPart(const std::string& value, std::string* key) {
  absl::StrAppend(key, value.size(), ":", value);
}

// The key of a history trial, or nullopt when it lacks one of the parameters.
std::optional<std::string> HistoryKey(const std::vector<Axis>& axes, const Assignment& params) {
  std::string key;
  for (size_t j = 0; j < axes.size(); ++j) {
    const std::string& name = axes[j].param.name;
    const ParamValue* found = nullptr;
    if (j < params.size() && params[j].name == name) {
      found = &params[j];
    } else {
      for (const ParamValue& v : params) {
        if (v.name == name) {
          found = &v;
          break;
        }
      }
    }
    if (found == nullptr) return std::nullopt;
    AppendKeyPart(found->value, &key);
  }
  return key;
}

class GridSampler final : public Sampler {
 public:
  GridSampler(AlgorithmSpec algo, SearchSpace space, GridConfig config, std::vector<Axis> axes)
      : algo_(std::move(algo)),
        space_(std::move(space)),
        config_(std::move(config)),
        axes_(std::move(axes)),
        size_(SaturatedProduct(axes_)) {}

  absl::StatusOr<std::vector<Assignment>> Suggest(const SearchSpace& space, const History& history,
                                                  int n) override {
    if (n < 0) return absl::InvalidArgumentError(absl::StrCat("grid: n must be >= 0; got ", n));
    if (!(space == space_)) {
      absl::StatusOr<GridConfig> config = ParseGridSettings(algo_, space);
      if (!config.ok()) return config.status();
      absl::StatusOr<std::vector<Axis>> axes = BuildAxes(space, *config);
      if (!axes.ok()) return axes.status();
      space_ = space;
      config_ = *std::move(config);
      axes_ = *std::move(axes);
      size_ = SaturatedProduct(axes_);
    }
    std::unordered_set<std::string> present;
    for (const Observation& trial : history.trials) {
      if (std::optional<std::string> key = HistoryKey(axes_, trial.params)) {
        present.insert(*std::move(key));
      }
    }
    std::optional<IndexPermutation> shuffle;
    if (config_.random_state.has_value()) {
      shuffle.emplace(static_cast<uint64_t>(size_),
                      internal::SplitMix64(*config_.random_state ^ internal::kGridSalt));
    }
    std::vector<Assignment> out;
    std::vector<int64_t> digits(axes_.size());
    // Each skipped position is a distinct combination already in `present`, so this loop runs at
    // most history.trials.size() + n times before it returns n points.
    for (int64_t pos = 0; pos < size_ && static_cast<int>(out.size()) < n; ++pos) {
      int64_t index = shuffle.has_value() ? static_cast<int64_t>((*shuffle)(pos)) : pos;
      for (size_t j = axes_.size(); j-- > 0;) {
        digits[j] = index % axes_[j].size();
        index /= axes_[j].size();
      }
      Assignment a;
      a.reserve(axes_.size());
      std::string key;
      for (size_t j = 0; j < axes_.size(); ++j) {
        a.push_back({axes_[j].param.name, axes_[j].At(digits[j])});
        AppendKeyPart(a.back().value, &key);
      }
      if (present.insert(std::move(key)).second) out.push_back(std::move(a));
    }
    return out;
  }

 private:
  const AlgorithmSpec algo_;
  // The space the axes were built for; rebuilt when Suggest gets a different one.
  SearchSpace space_;
  GridConfig config_;
  std::vector<Axis> axes_;
  int64_t size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sampler>> MakeGridSampler(const AlgorithmSpec& algo,
                                                         const SearchSpace& space,
                                                         uint64_t /*seed*/) {
  absl::StatusOr<GridConfig> config = ParseGridSettings(algo, space);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::vector<Axis>> axes = BuildAxes(space, *config);
  if (!axes.ok()) return axes.status();
  return std::make_unique<GridSampler>(algo, space, *std::move(config), *std::move(axes));
}

absl::StatusOr<int64_t> GridSize(const SearchSpace& space, const AlgorithmSpec& algo) {
  absl::StatusOr<GridConfig> config = ParseGridSettings(algo, space);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::vector<Axis>> axes = BuildAxes(space, *config);
  if (!axes.ok()) return axes.status();
  return SaturatedProduct(*axes);
}

}  // namespace hpt::suggest
