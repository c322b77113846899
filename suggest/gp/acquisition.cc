#include "suggest/gp/acquisition.h"

#include <algorithm>
#include <cmath>

namespace hpt::suggest::gp {
namespace {

constexpr double kMinStd = 1e-12;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
constexpr double kSqrtHalfPi = 1.2533141373155003;  // sqrt(pi / 2)
constexpr double kHalfLog2Pi = 0.9189385332046728;  // log(2 pi) / 2

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double SmallPhi(double z) { return kInvSqrt2Pi * std::exp(-0.5 * z * z); }

}  // namespace

double Erfcx(double x) {
  if (x < 25) return std::exp(x * x) * std::erfc(x);
  // Asymptotic series; the first omitted term is below 1e-12 relative for x >= 25.
  const double inv2 = 1 / (x * x);
  const double series = 1 - 0.5 * inv2 + 0.75 * inv2 * inv2 - 1.875 * inv2 * inv2 * inv2 +
                        6.5625 * inv2 * inv2 * inv2 * inv2;
  return series / (x * std::sqrt(M_PI));
}

double LogH(double z, double* derivative) {
  if (z > -1) {
    const double cdf = Phi(z);
    const double h = SmallPhi(z) + z * cdf;
    if (derivative != nullptr) *derivative = cdf / h;
    return std::log(h);
  }
  // h(z) = phi(z) (1 - w) with w = |z| sqrt(pi/2) erfcx(|z|/sqrt 2); 1 - w ~ 1/z^2 cancels
  // badly for large |z|, where its asymptotic series takes over.
  const double a = -z;
  const double e = Erfcx(a / std::sqrt(2.0));
  double one_minus_w = 0;
  if (a < 35) {
    one_minus_w = 1 - a * kSqrtHalfPi * e;
  } else {
    const double inv2 = 1 / (a * a);
    one_minus_w = inv2 * (1 - 3 * inv2 + 15 * inv2 * inv2 - 105 * inv2 * inv2 * inv2);
  }
  if (derivative != nullptr) *derivative = kSqrtHalfPi * e / one_minus_w;
  return -0.5 * z * z - kHalfLog2Pi + std::log(one_minus_w);
}

AcquisitionValue ExpectedImprovement::Evaluate(double mean, double std) const {
  const double s = std::max(std, kMinStd);
  const double z = (target_ - mean) / s;
  const double pdf = SmallPhi(z);
  const double cdf = Phi(z);
  return {.value = s * (pdf + z * cdf), .d_mean = -cdf, .d_std = pdf};
}

AcquisitionValue LogExpectedImprovement::Evaluate(double mean, double std) const {
  const double s = std::max(std, kMinStd);
  const double z = (target_ - mean) / s;
  double dlog = 0;
  const double log_h = LogH(z, &dlog);
  return {.value = std::log(s) + log_h, .d_mean = -dlog / s, .d_std = 1 / s - dlog * z / s};
}

AcquisitionValue ProbabilityOfImprovement::Evaluate(double mean, double std) const {
  const double s = std::max(std, kMinStd);
  const double z = (target_ - mean) / s;
  const double pdf = SmallPhi(z);
  return {.value = Phi(z), .d_mean = -pdf / s, .d_std = -pdf * z / s};
}

AcquisitionValue LowerConfidenceBound::Evaluate(double mean, double std) const {
  return {.value = -(mean - kappa_ * std), .d_mean = -1, .d_std = kappa_};
}

}  // namespace hpt::suggest::gp
