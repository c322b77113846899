// The search space of a study and the values a sampler proposes for it.
//
// A SearchSpace is the list of a study's parameters, in the order the study declares them. Values
// are carried as strings (`ParamValue::value`), exactly as they are substituted into trial
// templates and stored by the tracker, the way Katib carries them; Numeric() parses one back.
//
//   SearchSpace space;
//   space.params.push_back({.name = "lr", .type = ParamType::kDouble, .min = 1e-4, .max = 1e-1,
//                           .distribution = Distribution::kLogUniform});
//   space.params.push_back({.name = "opt", .type = ParamType::kCategorical,
//                           .list = {"sgd", "adam"}});
//
// Plain value types; no thread-safety concerns.
#ifndef HPT_SUGGEST_SEARCH_SPACE_H_
#define HPT_SUGGEST_SEARCH_SPACE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hpt::suggest {

enum class ParamType { kDouble, kInt, kDiscrete, kCategorical };
enum class Distribution { kUniform, kLogUniform, kNormal, kLogNormal };

// "double", "int", "discrete", "categorical".
const char* ParamTypeName(ParamType t);
// "uniform", "logUniform", "normal", "logNormal".
const char* DistributionName(Distribution d);

struct ParameterSpec {
  std::string name;
  ParamType type = ParamType::kDouble;
  // kDouble / kInt: the closed range [min, max]. Unused otherwise.
  double min = 0;
  double max = 0;
  // kDouble / kInt: optional quantization step (grid needs it for doubles).
  std::optional<double> step;
  Distribution distribution = Distribution::kUniform;
  // kDiscrete (numbers as strings) / kCategorical (any strings): the feasible values, in order.
  std::vector<std::string> list;
  bool operator==(const ParameterSpec&) const = default;
};

struct SearchSpace {
  std::vector<ParameterSpec> params;
  // Returns the parameter called `name`, or nullptr.
  const ParameterSpec* Find(const std::string& name) const;
  bool operator==(const SearchSpace&) const = default;
};

// Checks that `space` is well formed, independent of any algorithm: at least one parameter; names
// non-empty and unique; kDouble/kInt: finite min <= max, a step (when set) finite and > 0 and
// giving at most 2^53 values; kInt: integral min, max and step within +-2^53; logUniform/logNormal:
// min > 0; kDiscrete/kCategorical: a non-empty list (kDiscrete: every item a finite number). OK, or
// InvalidArgument naming the parameter, the field (Katib's feasibleSpace.*) and what is allowed.
absl::Status ValidateSearchSpace(const SearchSpace& space);

// One parameter's value in an assignment.
struct ParamValue {
  std::string name;
  std::string value;
  bool operator==(const ParamValue&) const = default;
};
// A full assignment: one value per parameter of the space, in the space's order.
using Assignment = std::vector<ParamValue>;

// Formats a double the way hpt writes parameter values: the shortest string that round-trips.
std::string FormatDouble(double v);
// Formats an integer value.
std::string FormatInt(int64_t v);

// Parses a value of a numeric parameter (kDouble, kInt, kDiscrete). InvalidArgument otherwise.
absl::StatusOr<double> Numeric(const std::string& value);

// The grid of a quantized numeric parameter (kInt, or kDouble with a step) as every sampler sees
// it: the value string of the grid point nearest to `v` (v clamped to [min, max] first; a tie
// goes to the lower point), exactly as the samplers print it, so that it compares equal to a
// suggested value. nullopt for an unquantized kDouble and for list parameters.
std::optional<std::string> NearestGridValue(const ParameterSpec& p, double v);

// One trial as the sampler sees it.
struct Observation {
  Assignment params;
  // The objective in minimization sense (maximize objectives are negated by the engine).
  // nullopt: the trial is pending/running, or it finished without a usable value.
  std::optional<double> value;
  bool pending = false;  // true while the trial is still running
};

struct History {
  std::vector<Observation> trials;  // in creation order
};

// The algorithm of a study: Katib's `algorithmName` + `algorithmSettings`.
struct AlgorithmSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> settings;  // in file order
  // Returns the setting called `key`, or nullptr.
  const std::string* Find(const std::string& key) const;
};

}  // namespace hpt::suggest

#endif  // HPT_SUGGEST_SEARCH_SPACE_H_
