#include "suggest/linalg/fallback_backend.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hpt::suggest::linalg {

FallbackBackend::FallbackBackend(std::unique_ptr<LinalgBackend> primary, LinalgBackend* fallback,
                                 Log log)
    : primary_(std::move(primary)), fallback_(fallback), log_(std::move(log)) {}

template <typename Call>
absl::Status FallbackBackend::Run(const char* op, const Call& call) {
  if (primary_disabled()) return call(*fallback_);
  absl::Status s = call(*primary_);
  switch (s.code()) {
    case absl::StatusCode::kResourceExhausted:
      std::call_once(logged_exhausted_, [&] {
        if (log_) {
          log_(absl::StrCat("hpt: the ", primary_->Name(), " linear-algebra backend ran out of ",
                            "memory in ", op, " (", s.ToString(), "); such calls rerun on the ",
                            fallback_->Name(), " backend"));
        }
      });
      return call(*fallback_);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
      disabled_.store(true, std::memory_order_release);
      std::call_once(logged_disabled_, [&] {
        if (log_) {
          log_(absl::StrCat("hpt: the ", primary_->Name(), " linear-algebra backend failed in ", op,
                            " (", s.ToString(), "); using the ", fallback_->Name(),
                            " backend from now on"));
        }
      });
      return call(*fallback_);
    default:
      return s;
  }
}

absl::Status FallbackBackend::Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                                       double* jitter_used) {
  return Run("Cholesky", [&](LinalgBackend& la) { return la.Cholesky(a, lower, jitter_used); });
}

absl::Status FallbackBackend::SolveLower(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                         Eigen::MatrixXd* x) {
  return Run("SolveLower", [&](LinalgBackend& la) { return la.SolveLower(lower, b, x); });
}

absl::Status FallbackBackend::SolveUpper(const Eigen::MatrixXd& upper, const Eigen::MatrixXd& b,
                                         Eigen::MatrixXd* x) {
  return Run("SolveUpper", [&](LinalgBackend& la) { return la.SolveUpper(upper, b, x); });
}

absl::Status FallbackBackend::CholeskySolve(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                            Eigen::MatrixXd* x) {
  return Run("CholeskySolve", [&](LinalgBackend& la) { return la.CholeskySolve(lower, b, x); });
}

absl::Status FallbackBackend::KernelMatrix(const KernelParams& kernel, const Eigen::MatrixXd& a,
                                           const Eigen::MatrixXd& b, Eigen::MatrixXd* out) {
  return Run("KernelMatrix", [&](LinalgBackend& la) { return la.KernelMatrix(kernel, a, b, out); });
}

absl::Status FallbackBackend::NegLogMarginalLikelihood(const GpHyperparameters& h,
                                                       const Eigen::MatrixXd& x,
                                                       const Eigen::VectorXd& y, double* value,
                                                       Eigen::VectorXd* gradient) {
  return Run("NegLogMarginalLikelihood", [&](LinalgBackend& la) {
    return la.NegLogMarginalLikelihood(h, x, y, value, gradient);
  });
}

absl::Status FallbackBackend::Posterior(const PosteriorFactor& f, const Eigen::MatrixXd& z,
                                        Eigen::VectorXd* mean, Eigen::VectorXd* variance) {
  return Run("Posterior", [&](LinalgBackend& la) { return la.Posterior(f, z, mean, variance); });
}

}  // namespace hpt::suggest::linalg
