// EigenBackend: the CPU LinalgBackend, on Eigen's LLT, triangular views and matrix products
// (squared distances through one product, then the kernel map elementwise). Always built.
//
//   linalg::EigenBackend eigen;
//   Eigen::MatrixXd lower;
//   absl::Status s = eigen.Cholesky(a, &lower, /*jitter_used=*/nullptr);
//
// Stateless: safe to use from several threads at once.
#ifndef HPT_SUGGEST_LINALG_EIGEN_BACKEND_H_
#define HPT_SUGGEST_LINALG_EIGEN_BACKEND_H_

#include "suggest/linalg/backend.h"

namespace hpt::suggest::linalg {

class EigenBackend final : public LinalgBackend {
 public:
  EigenBackend() = default;

  absl::Status Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                        double* jitter_used) override;
  absl::Status SolveLower(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                          Eigen::MatrixXd* x) override;
  absl::Status SolveUpper(const Eigen::MatrixXd& upper, const Eigen::MatrixXd& b,
                          Eigen::MatrixXd* x) override;
  absl::Status CholeskySolve(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                             Eigen::MatrixXd* x) override;
  absl::Status KernelMatrix(const KernelParams& kernel, const Eigen::MatrixXd& a,
                            const Eigen::MatrixXd& b, Eigen::MatrixXd* out) override;
  absl::Status NegLogMarginalLikelihood(const GpHyperparameters& h, const Eigen::MatrixXd& x,
                                        const Eigen::VectorXd& y, double* value,
                                        Eigen::VectorXd* gradient) override;
  absl::Status Posterior(const PosteriorFactor& f, const Eigen::MatrixXd& z, Eigen::VectorXd* mean,
                         Eigen::VectorXd* variance) override;
  const char* Name() const override { return "eigen"; }
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_EIGEN_BACKEND_H_
