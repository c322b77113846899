#include "suggest/gp/output_transform.h"

#include <cmath>
#include <limits>

namespace hpt::suggest::gp {
namespace {

void Moments(const Eigen::VectorXd& y, double* mean, double* std) {
  *mean = y.mean();
  const double var =
      y.size() > 1 ? (y.array() - *mean).square().sum() / static_cast<double>(y.size() - 1) : 0;
  *std = var > 1e-300 ? std::sqrt(var) : 1;
}

}  // namespace

double OutputTransform::YeoJohnson(double v, double lambda) {
  if (v >= 0) {
    return std::fabs(lambda) < 1e-12 ? std::log1p(v) : (std::pow(v + 1, lambda) - 1) / lambda;
  }
  return std::fabs(lambda - 2) < 1e-12 ? -std::log1p(-v)
                                       : -(std::pow(1 - v, 2 - lambda) - 1) / (2 - lambda);
}

OutputTransform OutputTransform::Fit(const Eigen::VectorXd& y, bool power) {
  OutputTransform t;
  Moments(y, &t.mean1_, &t.std1_);
  if (!power) return t;
  t.power_ = true;
  const Eigen::VectorXd s = (y.array() - t.mean1_) / t.std1_;
  // Profile log-likelihood of lambda: -n/2 log(var of the transformed) + (lambda - 1) *
  // sum(sign(s) log(|s| + 1)); a grid over [-2, 2] is plenty for a 1-D smooth function.
  const double jacobian = (s.array().sign() * s.array().abs().log1p()).sum();
  double best = -std::numeric_limits<double>::infinity();
  for (int i = 0; i <= 80; ++i) {
    const double lambda = -2 + 0.05 * i;
    Eigen::VectorXd u(s.size());
    for (Eigen::Index j = 0; j < s.size(); ++j) u(j) = YeoJohnson(s(j), lambda);
    const double var = (u.array() - u.mean()).square().mean();
    if (!(var > 0) || !std::isfinite(var)) continue;
    const double ll =
        -0.5 * static_cast<double>(s.size()) * std::log(var) + (lambda - 1) * jacobian;
    if (ll > best) {
      best = ll;
      t.lambda_ = lambda;
    }
  }
  Eigen::VectorXd u(s.size());
  for (Eigen::Index j = 0; j < s.size(); ++j) u(j) = YeoJohnson(s(j), t.lambda_);
  Moments(u, &t.mean2_, &t.std2_);
  return t;
}

Eigen::VectorXd OutputTransform::Apply(const Eigen::VectorXd& y) const {
  Eigen::VectorXd s = (y.array() - mean1_) / std1_;
  if (!power_) return s;
  for (Eigen::Index j = 0; j < s.size(); ++j) s(j) = (YeoJohnson(s(j), lambda_) - mean2_) / std2_;
  return s;
}

}  // namespace hpt::suggest::gp
