#include "suggest/linalg/kernel.h"

#include <cmath>

namespace hpt::suggest::linalg {

const char* KernelTypeName(KernelType t) {
  switch (t) {
    case KernelType::kMatern52:
      return "matern52";
    case KernelType::kMatern32:
      return "matern32";
    case KernelType::kRbf:
      return "rbf";
  }
  return "?";
}

double KernelShape(KernelType t, double r2) {
  switch (t) {
    case KernelType::kMatern52: {
      const double r = std::sqrt(5 * r2);
      return (1 + r + r * r / 3) * std::exp(-r);
    }
    case KernelType::kMatern32: {
      const double r = std::sqrt(3 * r2);
      return (1 + r) * std::exp(-r);
    }
    case KernelType::kRbf:
      return std::exp(-r2 / 2);
  }
  return 0;
}

double KernelShapeDerivative(KernelType t, double r2) {
  // With r' = sqrt(c r2): d/dr2 = (d/dr') * c / (2 r'), which cancels the r' of the Matérn
  // derivatives, so the expressions below are finite at r2 = 0.
  switch (t) {
    case KernelType::kMatern52: {
      const double r = std::sqrt(5 * r2);
      return -5.0 / 6.0 * (1 + r) * std::exp(-r);
    }
    case KernelType::kMatern32: {
      const double r = std::sqrt(3 * r2);
      return -1.5 * std::exp(-r);
    }
    case KernelType::kRbf:
      return -0.5 * std::exp(-r2 / 2);
  }
  return 0;
}

Eigen::VectorXd GpHyperparameters::Pack() const {
  Eigen::VectorXd p(PackedSize());
  const int d = Dimensions();
  p.head(d) = log_lengthscales;
  p(d) = log_signal_variance;
  p(d + 1) = log_noise_variance;
  p(d + 2) = mean;
  return p;
}

void GpHyperparameters::Unpack(const Eigen::VectorXd& packed) {
  const int d = Dimensions();
  log_lengthscales = packed.head(d);
  log_signal_variance = packed(d);
  log_noise_variance = packed(d + 1);
  mean = packed(d + 2);
}

KernelParams GpHyperparameters::Kernel() const {
  return KernelParams{.type = type,
                      .lengthscales = log_lengthscales.array().exp().matrix(),
                      .signal_variance = std::exp(log_signal_variance)};
}

double GpHyperparameters::NoiseVariance() const { return std::exp(log_noise_variance); }

}  // namespace hpt::suggest::linalg
