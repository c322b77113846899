#include "suggest/linalg/eigen_backend.h"

#include <Eigen/Cholesky>
#include <cmath>

#include "suggest/linalg/checks.h"

namespace hpt::suggest::linalg {
namespace {

using internal::CheckTriangular;

// Factors the symmetric *a in place: as it is, or else with jitter kCholeskyJitterBase *
// mean(|diag|) (1 if that is 0) on the diagonal, times 10 per failure, kCholeskyJitterTries
// times. *jitter_used (may be null) gets the jitter that worked, 0 when none was needed.
absl::Status FactorInPlace(const char* op, Eigen::MatrixXd* a, Eigen::LLT<Eigen::MatrixXd>* llt,
                           double* jitter_used) {
  if (jitter_used != nullptr) *jitter_used = 0;
  llt->compute(*a);
  if (llt->info() == Eigen::Success) return absl::OkStatus();
  double jitter = internal::FirstCholeskyJitter(a->diagonal().cwiseAbs().mean());
  double added = 0;
  for (int attempt = 0; attempt < kCholeskyJitterTries; ++attempt) {
    if (attempt > 0) jitter *= 10;
    a->diagonal().array() += jitter - added;
    added = jitter;
    llt->compute(*a);
    if (llt->info() == Eigen::Success) {
      if (jitter_used != nullptr) *jitter_used = jitter;
      return absl::OkStatus();
    }
  }
  return internal::NotPositiveDefinite(op, a->rows(), jitter);
}

}  // namespace

absl::Status EigenBackend::Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                                    double* jitter_used) {
  if (jitter_used != nullptr) *jitter_used = 0;
  if (absl::Status s = internal::CheckCholeskyShape(a, lower); !s.ok()) return s;
  if (!a.allFinite()) return internal::NonFiniteCholeskyInput(a);
  const Eigen::Index n = a.rows();
  if (n == 0) {
    lower->resize(0, 0);
    return absl::OkStatus();
  }
  const double asymmetry = (a - a.transpose()).cwiseAbs().maxCoeff();
  if (internal::IsAsymmetric(asymmetry, a.cwiseAbs().maxCoeff())) {
    return internal::AsymmetricCholeskyInput(a, asymmetry);
  }
  Eigen::MatrixXd work = a;
  Eigen::LLT<Eigen::MatrixXd> llt;
  if (absl::Status s = FactorInPlace("Cholesky", &work, &llt, jitter_used); !s.ok()) return s;
  *lower = llt.matrixL();
  return absl::OkStatus();
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

namespace hpt::suggest::linalg {
namespace {

// Rows of `x` divided by the length scales.
Eigen::MatrixXd Scaled(const Eigen::MatrixXd& x, const Eigen::VectorXd& lengthscales) {
  return x * lengthscales.cwiseInverse().asDiagonal();
}

// Squared distances between the rows of a and b (both already scaled), clamped at 0.
Eigen::MatrixXd SquaredDistances(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  Eigen::MatrixXd r2 = -2.0 * (a * b.transpose());
  r2.colwise() += a.rowwise().squaredNorm();
  r2.rowwise() += b.rowwise().squaredNorm().transpose();
  return r2.cwiseMax(0.0);
}

template <typename F>
Eigen::MatrixXd Map(const Eigen::MatrixXd& r2, F f) {
  return r2.unaryExpr(f);
}

Eigen::MatrixXd ApplyShape(KernelType t, const Eigen::MatrixXd& r2) {
  switch (t) {
    case KernelType::kMatern52:
      return Map(r2, [](double v) { return KernelShape(KernelType::kMatern52, v); });
    case KernelType::kMatern32:
      return Map(r2, [](double v) { return KernelShape(KernelType::kMatern32, v); });
    case KernelType::kRbf:
      return Map(r2, [](double v) { return KernelShape(KernelType::kRbf, v); });
  }
  return r2;
}

Eigen::MatrixXd ApplyShapeDerivative(KernelType t, const Eigen::MatrixXd& r2) {
  switch (t) {
    case KernelType::kMatern52:
      return Map(r2, [](double v) { return KernelShapeDerivative(KernelType::kMatern52, v); });
    case KernelType::kMatern32:
      return Map(r2, [](double v) { return KernelShapeDerivative(KernelType::kMatern32, v); });
    case KernelType::kRbf:
      return Map(r2, [](double v) { return KernelShapeDerivative(KernelType::kRbf, v); });
  }
  return r2;
}

}  // namespace

absl::Status EigenBackend::KernelMatrix(const KernelParams& kernel, const Eigen::MatrixXd& a,
                                        const Eigen::MatrixXd& b, Eigen::MatrixXd* out) {
  if (absl::Status s = internal::CheckKernelMatrixInputs(kernel, a, b, out); !s.ok()) return s;
  *out = kernel.signal_variance *
         ApplyShape(kernel.type, SquaredDistances(Scaled(a, kernel.lengthscales),
                                                  Scaled(b, kernel.lengthscales)));
  return absl::OkStatus();
}

absl::Status EigenBackend::NegLogMarginalLikelihood(const GpHyperparameters& h,
                                                    const Eigen::MatrixXd& x,
                                                    const Eigen::VectorXd& y, double* value,
                                                    Eigen::VectorXd* gradient) {
  KernelParams kernel;
  double noise = 0;
  if (absl::Status s = internal::CheckLikelihoodInputs(h, x, y, value, &kernel, &noise); !s.ok()) {
    return s;
  }
  const Eigen::Index n = x.rows();
  const Eigen::MatrixXd scaled = Scaled(x, kernel.lengthscales);
  Eigen::MatrixXd r2 = SquaredDistances(scaled, scaled);
  r2.diagonal().setZero();
  const Eigen::MatrixXd shape = ApplyShape(kernel.type, r2);
  Eigen::MatrixXd k = kernel.signal_variance * shape;
  k.diagonal().array() += noise;
  Eigen::LLT<Eigen::MatrixXd> llt;
  if (absl::Status s = FactorInPlace("NegLogMarginalLikelihood", &k, &llt, nullptr); !s.ok()) {
    return s;
  }
  const Eigen::VectorXd residual = y.array() - h.mean;
  const Eigen::VectorXd alpha = llt.solve(residual);
  const Eigen::MatrixXd& lower = llt.matrixLLT();  // lower triangle holds L
  const double log_det = 2 * lower.diagonal().array().log().sum();
  *value = 0.5 * residual.dot(alpha) + 0.5 * log_det + 0.5 * n * std::log(2 * M_PI);
  if (gradient == nullptr) return absl::OkStatus();

  Eigen::MatrixXd k_inv = Eigen::MatrixXd::Identity(n, n);
  llt.solveInPlace(k_inv);
  // W = alpha alpha^T - K^-1, so that dNLL/dtheta = -1/2 sum(W .* dK/dtheta).
  Eigen::MatrixXd w = alpha * alpha.transpose() - k_inv;
  const int d = static_cast<int>(x.cols());
  gradient->resize(h.PackedSize());
  (*gradient)(d) = -0.5 * kernel.signal_variance * w.cwiseProduct(shape).sum();
  (*gradient)(d + 1) = -0.5 * noise * w.trace();
  (*gradient)(d + 2) = -alpha.sum();
  // dK_ij/dlog l_d = G_ij (a_id - a_jd)^2 with G = -2 s f'(r2) and a the scaled inputs; summing
  // against M = W .* G gives sum_ij M_ij (a_id^2 + a_jd^2 - 2 a_id a_jd).
  w.array() *= (-2.0 * kernel.signal_variance) * ApplyShapeDerivative(kernel.type, r2).array();
  const Eigen::VectorXd row_sums = w.rowwise().sum();
  const Eigen::MatrixXd m_a = w * scaled;
  for (int j = 0; j < d; ++j) {
    (*gradient)(j) = -scaled.col(j).cwiseAbs2().dot(row_sums) + scaled.col(j).dot(m_a.col(j));
  }
  return absl::OkStatus();
}

absl::Status EigenBackend::Posterior(const PosteriorFactor& f, const Eigen::MatrixXd& z,
                                     Eigen::VectorXd* mean, Eigen::VectorXd* variance) {
  if (absl::Status s = internal::CheckPosteriorShapes(f, z, mean, variance); !s.ok()) return s;
  const Eigen::Index n = f.x.rows();
  constexpr Eigen::Index kBlock = 1024;
  mean->resize(z.rows());
  variance->resize(z.rows());
  Eigen::MatrixXd k_zx;
  for (Eigen::Index start = 0; start < z.rows(); start += kBlock) {
    const Eigen::Index rows = std::min(kBlock, z.rows() - start);
    if (absl::Status s = KernelMatrix(f.kernel, z.middleRows(start, rows), f.x, &k_zx); !s.ok()) {
      return s;
    }
    mean->segment(start, rows) = (k_zx * f.alpha).array() + f.mean;
    if (n == 0) {
      variance->segment(start, rows).setConstant(f.kernel.signal_variance);
      continue;
    }
    const Eigen::MatrixXd v = f.lower.triangularView<Eigen::Lower>().solve(k_zx.transpose());
    variance->segment(start, rows) =
        (f.kernel.signal_variance - v.colwise().squaredNorm().transpose().array()).cwiseMax(0.0);
  }
  return absl::OkStatus();
}

}  // namespace hpt::suggest::linalg
