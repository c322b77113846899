// Stationary covariance kernels of the Gaussian-process model, and the plain structs that carry a
// GP between the model code (suggest/gp/) and a LinalgBackend.
//
//   linalg::KernelParams k{.type = linalg::KernelType::kMatern52,
//                          .lengthscales = Eigen::VectorXd::Constant(d, 0.3),
//                          .signal_variance = 1.0};
//   Eigen::MatrixXd kxz;
//   absl::Status s = LinalgBackend::Default().KernelMatrix(k, x, z, &kxz);   // rows of x vs z
//
// Every kernel is a function of the scaled squared distance
//   r2 = sum_d (a_d - b_d)^2 / lengthscale_d^2      (ARD: one length scale per input dimension)
// times the signal variance s:
//   Matérn 5/2  s (1 + sqrt(5) r + 5/3 r^2) exp(-sqrt(5) r)
//   Matérn 3/2  s (1 + sqrt(3) r) exp(-sqrt(3) r)
//   RBF         s exp(-r2 / 2)
// (Rasmussen & Williams, "Gaussian Processes for Machine Learning", 2006, eqs. 4.9 and 4.17.)
//
// Eigen types only: a CUDA backend includes this header, never the reverse. Plain functions of
// their arguments; thread-safe.
#ifndef HPT_SUGGEST_LINALG_KERNEL_H_
#define HPT_SUGGEST_LINALG_KERNEL_H_

#include <Eigen/Core>

#include "suggest/linalg/kernel_shape.h"  // KernelType and the formulas, shared with CUDA code

namespace hpt::suggest::linalg {

// "matern52", "matern32", "rbf".
const char* KernelTypeName(KernelType t);

struct KernelParams {
  KernelType type = KernelType::kMatern52;
  Eigen::VectorXd lengthscales;  // one per input dimension, > 0
  double signal_variance = 1;    // > 0
};

// The kernel divided by the signal variance, as a function of r2 >= 0: f(r2), with f(0) = 1.
double KernelShape(KernelType t, double r2);
// d f / d r2 at r2 >= 0 (finite at r2 = 0 for every kernel here; always <= 0).
double KernelShapeDerivative(KernelType t, double r2);

// The hyperparameters of a GP with a constant mean, in the coordinates the fit works on. The
// packed vector (Pack/Unpack) is
//   [log lengthscale_1 .. log lengthscale_D, log signal variance, log noise variance, mean].
struct GpHyperparameters {
  KernelType type = KernelType::kMatern52;
  Eigen::VectorXd log_lengthscales;
  double log_signal_variance = 0;
  double log_noise_variance = -9;
  double mean = 0;

  int Dimensions() const { return static_cast<int>(log_lengthscales.size()); }
  // D + 3.
  int PackedSize() const { return Dimensions() + 3; }
  Eigen::VectorXd Pack() const;
  // `packed` must have PackedSize() entries for this->Dimensions() (type and D are kept).
  void Unpack(const Eigen::VectorXd& packed);
  KernelParams Kernel() const;
  double NoiseVariance() const;
};

// What a posterior needs from a fitted GP: the training inputs (one row per observation), the
// lower Cholesky factor L of K(x, x) + noise*I, alpha = (K + noise*I)^-1 (y - mean), the kernel
// and the mean.
struct PosteriorFactor {
  KernelParams kernel;
  double mean = 0;
  Eigen::MatrixXd x;
  Eigen::MatrixXd lower;
  Eigen::VectorXd alpha;
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_KERNEL_H_
