#include "suggest/search_space.h"

#include <charconv>
#include <cmath>
#include <system_error>

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

}  // namespace hpt::suggest
