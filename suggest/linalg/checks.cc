#include "suggest/linalg/checks.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "suggest/linalg/backend.h"

namespace hpt::suggest::linalg::internal {

std::string Shape(const Eigen::MatrixXd& m) { return absl::StrCat(m.rows(), "x", m.cols()); }

absl::Status CheckTriangular(const char* op, const Eigen::MatrixXd& t, const Eigen::MatrixXd& b,
                             const Eigen::MatrixXd* x) {
  if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": x must not be null"));
  if (t.rows() != t.cols() || t.rows() != b.rows()) {
    return absl::InvalidArgumentError(absl::StrCat(op,
                                                   ": needs a square n x n matrix and an n-row "
                                                   "right-hand side; got ",
                                                   Shape(t), " and ", Shape(b)));
  }
  for (Eigen::Index i = 0; i < t.rows(); ++i) {
    const double d = t(i, i);
    if (d == 0 || !std::isfinite(d)) {
      return absl::FailedPreconditionError(absl::StrCat(
          op, ": the ", Shape(t), " triangular matrix is singular: diagonal entry ", i, " is ", d));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckKernel(const char* op, const KernelParams& k, Eigen::Index dims) {
  if (k.lengthscales.size() != dims) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": the kernel has ", k.lengthscales.size(),
                                                   " length scales for ", dims,
                                                   "-dimensional inputs"));
  }
  if (!k.lengthscales.allFinite() || (k.lengthscales.array() <= 0).any() ||
      !std::isfinite(k.signal_variance) || !(k.signal_variance > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": length scales and the signal variance must be finite and > 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckKernelMatrixInputs(const KernelParams& kernel, const Eigen::MatrixXd& a,
                                     const Eigen::MatrixXd& b, const Eigen::MatrixXd* out) {
  if (out == nullptr) return absl::InvalidArgumentError("KernelMatrix: out must not be null");
  if (a.cols() != b.cols()) {
    return absl::InvalidArgumentError(
        absl::StrCat("KernelMatrix: inputs have ", a.cols(), " and ", b.cols(), " columns"));
  }
  if (absl::Status s = CheckKernel("KernelMatrix", kernel, a.cols()); !s.ok()) return s;
  if (!a.allFinite() || !b.allFinite()) {
    return absl::InvalidArgumentError("KernelMatrix: an input holds NaN or infinity");
  }
  return absl::OkStatus();
}

absl::Status CheckCholeskyShape(const Eigen::MatrixXd& a, const Eigen::MatrixXd* lower) {
  if (lower == nullptr) return absl::InvalidArgumentError("Cholesky: lower must not be null");
  if (a.rows() != a.cols()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Cholesky needs a square matrix; got ", Shape(a)));
  }
  return absl::OkStatus();
}

absl::Status NonFiniteCholeskyInput(const Eigen::MatrixXd& a) {
  return absl::InvalidArgumentError(
      absl::StrCat("Cholesky: the ", Shape(a), " matrix holds NaN or infinity"));
}

bool IsAsymmetric(double asymmetry, double magnitude) { return asymmetry > 1e-10 * magnitude; }

absl::Status AsymmetricCholeskyInput(const Eigen::MatrixXd& a, double asymmetry) {
  return absl::InvalidArgumentError(absl::StrCat("Cholesky: the ", Shape(a),
                                                 " matrix is not symmetric (largest |a - a^T| "
                                                 "entry ",
                                                 asymmetry, ")"));
}

double FirstCholeskyJitter(double mean_abs_diagonal) {
  return kCholeskyJitterBase * (mean_abs_diagonal > 0 ? mean_abs_diagonal : 1.0);
}

absl::Status NotPositiveDefinite(const char* op, Eigen::Index n, double jitter) {
  return absl::FailedPreconditionError(absl::StrCat(
      op, " failed: the ", n, "x", n, " matrix is not positive definite, even with jitter ", jitter,
      " added to its diagonal (", kCholeskyJitterTries, " tries)"));
}

absl::Status CheckLikelihoodInputs(const GpHyperparameters& h, const Eigen::MatrixXd& x,
                                   const Eigen::VectorXd& y, const double* value,
                                   KernelParams* kernel, double* noise) {
  if (value == nullptr) {
    return absl::InvalidArgumentError("NegLogMarginalLikelihood: value must not be null");
  }
  const Eigen::Index n = x.rows();
  if (y.size() != n || n == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NegLogMarginalLikelihood: needs n >= 1 inputs and n values; got ", n, " and ", y.size()));
  }
  *kernel = h.Kernel();
  if (absl::Status s = CheckKernel("NegLogMarginalLikelihood", *kernel, x.cols()); !s.ok()) {
    return s;
  }
  *noise = h.NoiseVariance();
  if (!x.allFinite() || !y.allFinite() || !std::isfinite(*noise) || !std::isfinite(h.mean)) {
    return absl::InvalidArgumentError(
        "NegLogMarginalLikelihood: inputs, values and hyperparameters must be finite");
  }
  return absl::OkStatus();
}

absl::Status CheckPosteriorShapes(const PosteriorFactor& f, const Eigen::MatrixXd& z,
                                  const Eigen::VectorXd* mean, const Eigen::VectorXd* variance) {
  if (mean == nullptr || variance == nullptr) {
    return absl::InvalidArgumentError("Posterior: mean and variance must not be null");
  }
  const Eigen::Index n = f.x.rows();
  if (f.lower.rows() != n || f.lower.cols() != n || f.alpha.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("Posterior: the factor is inconsistent: ", n, " inputs, a ", f.lower.rows(),
                     "x", f.lower.cols(), " Cholesky factor and ", f.alpha.size(), " weights"));
  }
  if (z.cols() != f.x.cols()) {
    return absl::InvalidArgumentError(absl::StrCat("Posterior: candidates have ", z.cols(),
                                                   " columns; the model has ", f.x.cols()));
  }
  return absl::OkStatus();
}

}  // namespace hpt::suggest::linalg::internal
