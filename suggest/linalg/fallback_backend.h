// FallbackBackend: a LinalgBackend that runs every call on a primary backend (the CUDA one) and
// reruns it on a fallback backend (the Eigen one) when the primary cannot serve it:
//   ResourceExhausted (out of device memory)   this call reruns on the fallback; later calls try
//                                              the primary again (a smaller problem may fit);
//   Unavailable or Internal (the device, its   this call and every later one run on the fallback.
//   driver or a library failed)
// Contract errors (InvalidArgument, FailedPrecondition) come back as they are: the fallback would
// give the same answer. The first fallback of each kind writes one line to the log.
//
//   FallbackBackend la(std::move(*cuda), &eigen, [](const std::string& line) {
//     std::cerr << line << "\n";
//   });
//   absl::Status s = la.Cholesky(a, &lower, nullptr);   // on CUDA, or on Eigen after a failure
//
// Thread-safe when both backends are (as every LinalgBackend is).
#ifndef HPT_SUGGEST_LINALG_FALLBACK_BACKEND_H_
#define HPT_SUGGEST_LINALG_FALLBACK_BACKEND_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "suggest/linalg/backend.h"

namespace hpt::suggest::linalg {

class FallbackBackend final : public LinalgBackend {
 public:
  // Receives one line (no trailing newline) per logged event.
  using Log = std::function<void(const std::string&)>;

  // `primary` must not be null; `fallback` must not be null and must outlive this object.
  FallbackBackend(std::unique_ptr<LinalgBackend> primary, LinalgBackend* fallback, Log log);

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

  // The primary's name: the backend this object stands for.
  const char* Name() const override { return primary_->Name(); }

  // Whether an Unavailable or Internal error has switched every call to the fallback for good.
  bool primary_disabled() const { return disabled_.load(std::memory_order_acquire); }

 private:
  // Runs call(*primary_) and, on the errors above, call(*fallback_).
  template <typename Call>
  absl::Status Run(const char* op, const Call& call);

  const std::unique_ptr<LinalgBackend> primary_;
  LinalgBackend* const fallback_;
  const Log log_;
  std::atomic<bool> disabled_{false};
  std::once_flag logged_exhausted_;
  std::once_flag logged_disabled_;
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_FALLBACK_BACKEND_H_
