#include "suggest/search_space.h"

#include <charconv>
#include <cmath>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace hpt::suggest {

const char* ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kDouble:
      return "double";
    case ParamType::kInt:
      return "int";
    case ParamType::kDiscrete:
      return "discrete";
    case ParamType::kCategorical:
      return "categorical";
  }
  return "unknown";
}

const char* DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kUniform:
      return "uniform";
    case Distribution::kLogUniform:
      return "logUniform";
    case Distribution::kNormal:
      return "normal";
    case Distribution::kLogNormal:
      return "logNormal";
  }
  return "unknown";
}

const ParameterSpec* SearchSpace::Find(const std::string& name) const {
  for (const ParameterSpec& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const std::string* AlgorithmSpec::Find(const std::string& key) const {
  for (const auto& [k, v] : settings) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return std::to_string(v);
  return std::string(buf, end);
}

std::string FormatInt(int64_t v) { return std::to_string(v); }

absl::StatusOr<double> Numeric(const std::string& value) {
  const char* begin = value.data();
  const char* end = begin + value.size();
  if (begin != end && *begin == '+') ++begin;
  double out = 0;
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc() || ptr != end || value.empty() || !std::isfinite(out)) {
    return absl::InvalidArgumentError("not a finite number: \"" + value + "\"");
  }
  return out;
}

namespace {

// 2^53: beyond it doubles no longer hold every integer.
constexpr double kMaxExactInteger = 9007199254740992.0;

absl::Status BadParam(const ParameterSpec& p, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("parameter '", p.name, "' (", ParamTypeName(p.type), "): ", what));
}

bool IsIntegral(double v) { return std::isfinite(v) && std::trunc(v) == v; }

absl::Status ValidateNumeric(const ParameterSpec& p) {
  if (!std::isfinite(p.min) || !std::isfinite(p.max)) {
    return BadParam(p, absl::StrCat("feasibleSpace.min and max must be finite numbers; got min ",
                                    FormatDouble(p.min), ", max ", FormatDouble(p.max)));
  }
  if (p.min > p.max) {
    return BadParam(p, absl::StrCat("feasibleSpace.min ", FormatDouble(p.min),
                                    " is greater than max ", FormatDouble(p.max)));
  }
  if (p.type == ParamType::kInt) {
    if (!IsIntegral(p.min) || !IsIntegral(p.max) || std::fabs(p.min) > kMaxExactInteger ||
        std::fabs(p.max) > kMaxExactInteger) {
      return BadParam(p, absl::StrCat("feasibleSpace.min and max must be integers within +-2^53; "
                                      "got min ",
                                      FormatDouble(p.min), ", max ", FormatDouble(p.max)));
    }
  }
  if (p.step.has_value()) {
    const double step = *p.step;
    if (!std::isfinite(step) || step <= 0) {
      return BadParam(
          p, absl::StrCat("feasibleSpace.step must be a number > 0; got ", FormatDouble(step)));
    }
    if (p.type == ParamType::kInt && (!IsIntegral(step) || step > kMaxExactInteger)) {
      return BadParam(p, absl::StrCat("feasibleSpace.step must be a positive integer; got ",
                                      FormatDouble(step)));
    }
    if ((p.max - p.min) / step > kMaxExactInteger) {
      return BadParam(p, absl::StrCat("feasibleSpace.step ", FormatDouble(step),
                                      " is too small for the range [", FormatDouble(p.min), ", ",
                                      FormatDouble(p.max), "] (more than 2^53 values)"));
    }
  }
  if ((p.distribution == Distribution::kLogUniform || p.distribution == Distribution::kLogNormal) &&
      !(p.min > 0)) {
    return BadParam(p, absl::StrCat("distribution ", DistributionName(p.distribution),
                                    " needs feasibleSpace.min > 0; got ", FormatDouble(p.min)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSearchSpace(const SearchSpace& space) {
  if (space.params.empty()) {
    return absl::InvalidArgumentError("the search space has no parameters; at least one is needed");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < space.params.size(); ++i) {
    const ParameterSpec& p = space.params[i];
    if (p.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter #", i + 1, " has an empty name; every parameter needs one"));
    }
    if (!seen.insert(p.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter '", p.name, "' is declared more than once; names must be unique"));
    }
    switch (p.type) {
      case ParamType::kDouble:
      case ParamType::kInt:
        if (absl::Status s = ValidateNumeric(p); !s.ok()) return s;
        break;
      case ParamType::kDiscrete:
      case ParamType::kCategorical:
        if (p.list.empty()) return BadParam(p, "feasibleSpace.list must not be empty");
        if (p.type == ParamType::kDiscrete) {
          for (const std::string& item : p.list) {
            if (!Numeric(item).ok()) {
              return BadParam(p, absl::StrCat("feasibleSpace.list item \"", item,
                                              "\" is not a finite number (discrete lists hold "
                                              "numbers; use categorical for strings)"));
            }
          }
        }
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", p.name,
                         "' has an unknown type; allowed: double, int, discrete, "
                         "categorical"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hpt::suggest
