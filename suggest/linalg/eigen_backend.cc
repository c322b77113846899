#include "suggest/linalg/eigen_backend.h"

#include <Eigen/Cholesky>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace hpt::suggest::linalg {
namespace {

std::string Shape(const Eigen::MatrixXd& m) { return absl::StrCat(m.rows(), "x", m.cols()); }

// Shared checks of the triangular solves.
absl::Status CheckTriangular(const char* op, const Eigen::MatrixXd& t, const Eigen::MatrixXd& b,
                             Eigen::MatrixXd* x) {
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

}  // namespace

absl::Status EigenBackend::Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                                    double* jitter_used) {
  if (lower == nullptr) return absl::InvalidArgumentError("Cholesky: lower must not be null");
  if (jitter_used != nullptr) *jitter_used = 0;
  if (a.rows() != a.cols()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Cholesky needs a square matrix; got ", Shape(a)));
  }
  if (!a.allFinite()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Cholesky: the ", Shape(a), " matrix holds NaN or infinity"));
  }
  const Eigen::Index n = a.rows();
  if (n == 0) {
    lower->resize(0, 0);
    return absl::OkStatus();
  }
  const double asymmetry = (a - a.transpose()).cwiseAbs().maxCoeff();
  const double magnitude = a.cwiseAbs().maxCoeff();
  if (asymmetry > 1e-10 * magnitude) {
    return absl::InvalidArgumentError(absl::StrCat("Cholesky: the ", Shape(a),
                                                   " matrix is not symmetric (largest |a - a^T| "
                                                   "entry ",
                                                   asymmetry, ")"));
  }
  Eigen::LLT<Eigen::MatrixXd> llt(a);
  if (llt.info() == Eigen::Success) {
    *lower = llt.matrixL();
    return absl::OkStatus();
  }
  double scale = a.diagonal().cwiseAbs().mean();
  if (!(scale > 0)) scale = 1;
  double jitter = kCholeskyJitterBase * scale;
  for (int attempt = 0; attempt < kCholeskyJitterTries; ++attempt) {
    if (attempt > 0) jitter *= 10;
    Eigen::MatrixXd shifted = a;
    shifted.diagonal().array() += jitter;
    llt.compute(shifted);
    if (llt.info() == Eigen::Success) {
      *lower = llt.matrixL();
      if (jitter_used != nullptr) *jitter_used = jitter;
      return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "Cholesky failed: the ", Shape(a), " matrix is not positive definite, even with jitter ",
      jitter, " added to its diagonal (", kCholeskyJitterTries, " tries)"));
}

absl::Status EigenBackend::SolveLower(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                      Eigen::MatrixXd* x) {
  if (absl::Status s = CheckTriangular("SolveLower", lower, b, x); !s.ok()) return s;
  *x = lower.triangularView<Eigen::Lower>().solve(b);
  return absl::OkStatus();
}

absl::Status EigenBackend::SolveUpper(const Eigen::MatrixXd& upper, const Eigen::MatrixXd& b,
                                      Eigen::MatrixXd* x) {
  if (absl::Status s = CheckTriangular("SolveUpper", upper, b, x); !s.ok()) return s;
  *x = upper.triangularView<Eigen::Upper>().solve(b);
  return absl::OkStatus();
}

absl::Status EigenBackend::CholeskySolve(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                         Eigen::MatrixXd* x) {
  if (absl::Status s = CheckTriangular("CholeskySolve", lower, b, x); !s.ok()) return s;
  Eigen::MatrixXd y = lower.triangularView<Eigen::Lower>().solve(b);
  *x = lower.triangularView<Eigen::Lower>().transpose().solve(y);
  return absl::OkStatus();
}

}  // namespace hpt::suggest::linalg
