// The argument checks and error messages of the LinalgBackend contract (backend.h), shared by every
// backend so that the Eigen and the CUDA backend reject the same inputs with the same status code
// and message. Internal to suggest/linalg: backends include it, callers do not.
//
//   if (absl::Status s = internal::CheckKernelMatrixInputs(kernel, a, b, out); !s.ok()) return s;
//
// Plain functions of their arguments; thread-safe. Eigen and abseil types only.
#ifndef HPT_SUGGEST_LINALG_CHECKS_H_
#define HPT_SUGGEST_LINALG_CHECKS_H_

#include <Eigen/Core>
#include <string>

#include "absl/status/status.h"
#include "suggest/linalg/kernel.h"

namespace hpt::suggest::linalg::internal {

// "3x4".
std::string Shape(const Eigen::MatrixXd& m);

// SolveLower / SolveUpper / CholeskySolve: x not null, t square with b.rows() rows (else
// InvalidArgument), and every diagonal entry of t finite and nonzero (else FailedPrecondition).
absl::Status CheckTriangular(const char* op, const Eigen::MatrixXd& t, const Eigen::MatrixXd& b,
                             const Eigen::MatrixXd* x);

// InvalidArgument unless the kernel has `dims` length scales, all finite and > 0, and a finite
// signal variance > 0.
absl::Status CheckKernel(const char* op, const KernelParams& k, Eigen::Index dims);

// KernelMatrix: out not null, equal column counts, CheckKernel, finite inputs.
absl::Status CheckKernelMatrixInputs(const KernelParams& kernel, const Eigen::MatrixXd& a,
                                     const Eigen::MatrixXd& b, const Eigen::MatrixXd* out);

// Cholesky, the checks that come before the values are read: `lower` not null and `a` square.
absl::Status CheckCholeskyShape(const Eigen::MatrixXd& a, const Eigen::MatrixXd* lower);
// Cholesky, the errors for values: NaN or infinity in a, and an asymmetric a (largest |a - a^T|
// entry `asymmetry` > 1e-10 * the largest |a| entry `magnitude`).
absl::Status NonFiniteCholeskyInput(const Eigen::MatrixXd& a);
bool IsAsymmetric(double asymmetry, double magnitude);
absl::Status AsymmetricCholeskyInput(const Eigen::MatrixXd& a, double asymmetry);

// The jitter schedule of backend.h: the first jitter for a matrix whose diagonal has mean absolute
// value `mean_abs_diagonal` (kCholeskyJitterBase times it, or times 1 when it is not > 0).
double FirstCholeskyJitter(double mean_abs_diagonal);
// FailedPrecondition: the n x n matrix of `op` did not factor even with `jitter` (the last tried).
absl::Status NotPositiveDefinite(const char* op, Eigen::Index n, double jitter);

// NegLogMarginalLikelihood: value not null, n >= 1 inputs with n values, a valid kernel, finite
// inputs, values, noise and mean. On OK sets *kernel = h.Kernel() and *noise = h.NoiseVariance().
absl::Status CheckLikelihoodInputs(const GpHyperparameters& h, const Eigen::MatrixXd& x,
                                   const Eigen::VectorXd& y, const double* value,
                                   KernelParams* kernel, double* noise);

// Posterior, the checks before any candidate is read: outputs not null, a consistent factor and
// candidates with the model's column count.
absl::Status CheckPosteriorShapes(const PosteriorFactor& f, const Eigen::MatrixXd& z,
                                  const Eigen::VectorXd* mean, const Eigen::VectorXd* variance);

}  // namespace hpt::suggest::linalg::internal

#endif  // HPT_SUGGEST_LINALG_CHECKS_H_
