#include "suggest/internal/value_mapping.h"

#include <algorithm>
#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/erf.hpp>
#include <charconv>
#include <cmath>
#include <limits>

namespace hpt::suggest::internal {
namespace {

// Report domain and range problems through errno instead of exceptions (the input is clamped, so
// none is expected).
using NoThrowPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::errno_on_error>,
    boost::math::policies::overflow_error<boost::math::policies::errno_on_error>,
    boost::math::policies::evaluation_error<boost::math::policies::errno_on_error>>;

// A draw from p's distribution, continuous, clipped to [min, max].
double Continuous(const ParameterSpec& p, double u) {
  double x = p.min;
  switch (p.distribution) {
    case Distribution::kUniform:
      x = p.min + u * (p.max - p.min);
      break;
    case Distribution::kLogUniform: {
      const double lo = std::log(p.min);
      x = std::exp(lo + u * (std::log(p.max) - lo));
      break;
    }
    case Distribution::kNormal:
      x = (p.min + p.max) / 2 + (p.max - p.min) / 6 * NormalQuantile(u);
      break;
    case Distribution::kLogNormal: {
      const double lo = std::log(p.min);
      const double hi = std::log(p.max);
      x = std::exp((lo + hi) / 2 + (hi - lo) / 6 * NormalQuantile(u));
      break;
    }
  }
  return std::clamp(x, p.min, p.max);
}

}  // namespace

std::optional<Lattice> NumericLattice(const ParameterSpec& p) {
  if (p.type == ParamType::kInt) {
    const int64_t step = p.step.has_value() ? static_cast<int64_t>(*p.step) : 1;
    const int64_t range = static_cast<int64_t>(p.max) - static_cast<int64_t>(p.min);
    return Lattice{.min = p.min, .step = static_cast<double>(step), .count = range / step + 1};
  }
  if (p.type != ParamType::kDouble || !p.step.has_value()) return std::nullopt;
  const double step = *p.step;
  const double limit = p.max + 1e-9 * (p.max - p.min);
  // Start from the quotient, then settle the last point against `limit` exactly as the values are
  // computed (min + k*step), so the count and the values never disagree.
  int64_t k = static_cast<int64_t>(std::floor((limit - p.min) / step));
  k = std::max<int64_t>(k, 0);
  while (k > 0 && p.min + static_cast<double>(k) * step > limit) --k;
  while (p.min + static_cast<double>(k + 1) * step <= limit) ++k;
  return Lattice{.min = p.min, .step = step, .count = k + 1};
}

std::string LatticeValue(const ParameterSpec& p, const Lattice& lattice, int64_t k) {
  if (p.type == ParamType::kInt) {
    return FormatInt(static_cast<int64_t>(lattice.min) + k * static_cast<int64_t>(lattice.step));
  }
  const double offset = static_cast<double>(k) * lattice.step;
  const double v = lattice.min + offset;
  if (v >= p.max) return FormatDouble(p.max);
  return FormatRounded(v, ArithmeticNoise(lattice.min, offset));
}

double ArithmeticNoise(double a, double bc) {
  return 4 * std::numeric_limits<double>::epsilon() * (std::fabs(a) + std::fabs(bc));
}

std::string FormatRounded(double v, double noise) {
  if (!(noise > 0) || !std::isfinite(v)) return FormatDouble(v);
  char buf[64];
  for (int digits = 1; digits < 17; ++digits) {
    auto [end, ec] =
        std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific, digits - 1);
    if (ec != std::errc()) break;
    double candidate = 0;
    auto [ptr, pec] = std::from_chars(buf, end, candidate);
    if (pec == std::errc() && ptr == end && std::fabs(candidate - v) <= noise) {
      return FormatDouble(candidate);
    }
  }
  return FormatDouble(v);
}

double NormalQuantile(double u) {
  u = std::clamp(u, 1e-12, 1 - 1e-12);
  return -std::sqrt(2.0) * boost::math::erfc_inv(2 * u, NoThrowPolicy());
}

std::string ValueFromUnit(const ParameterSpec& p, double u) {
  switch (p.type) {
    case ParamType::kDiscrete:
    case ParamType::kCategorical: {
      const size_t n = p.list.size();
      return p.list[std::min(n - 1, static_cast<size_t>(u * static_cast<double>(n)))];
    }
    case ParamType::kDouble:
    case ParamType::kInt:
      break;
  }
  const std::optional<Lattice> lattice = NumericLattice(p);
  if (!lattice.has_value()) return FormatDouble(Continuous(p, u));
  const int64_t last = lattice->count - 1;
  int64_t k = 0;
  if (p.distribution == Distribution::kUniform) {
    k = static_cast<int64_t>(u * static_cast<double>(lattice->count));
  } else {
    k = std::llround((Continuous(p, u) - lattice->min) / lattice->step);
  }
  return LatticeValue(p, *lattice, std::clamp<int64_t>(k, 0, last));
}

}  // namespace hpt::suggest::internal

namespace hpt::suggest {

std::optional<std::string> NearestGridValue(const ParameterSpec& p, double v) {
  const std::optional<internal::Lattice> lattice = internal::NumericLattice(p);
  if (!lattice) return std::nullopt;
  const double x = std::clamp(v, p.min, p.max);
  const double k = std::ceil((x - lattice->min) / lattice->step - 0.5);  // ties: the lower point
  int64_t index = 0;
  if (k >= static_cast<double>(lattice->count - 1)) {
    index = lattice->count - 1;
  } else if (k > 0) {
    index = static_cast<int64_t>(k);
  }
  return internal::LatticeValue(p, *lattice, index);
}

}  // namespace hpt::suggest
