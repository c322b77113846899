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

double KernelShape(KernelType t, double r2) { return shape::Value(t, r2); }

double KernelShapeDerivative(KernelType t, double r2) { return shape::Derivative(t, r2); }

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
