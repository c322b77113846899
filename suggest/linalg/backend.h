// LinalgBackend: the dense linear algebra the Gaussian-process code needs (kernel matrices,
// Cholesky factorization, triangular solves, the log marginal likelihood with its gradient, and the
// posterior of a candidate batch), behind one narrow interface so a GPU implementation can replace
// the CPU one without touching its callers.
//
//   LinalgBackend& la = LinalgBackend::Default();
//   Eigen::MatrixXd lower;
//   double jitter = 0;
//   if (absl::Status s = la.Cholesky(kernel, &lower, &jitter); !s.ok()) return s;
//   Eigen::MatrixXd alpha;                                  // K^-1 y
//   if (absl::Status s = la.CholeskySolve(lower, y, &alpha); !s.ok()) return s;
//
// Which backend: Default() is the CPU (Eigen) backend unless HPT_LINALG=cuda; ForSize(n) also
// picks the CUDA backend (cuBLAS + cuSOLVER, suggest/linalg/cuda/) for problems of n >=
// kDefaultCudaCrossover observations when the build has it and a device answers:
//
//   LinalgBackend& la = LinalgBackend::ForSize(x.rows());    // "cuda" or "eigen"
//
// Environment (read once, at the first Default() or ForSize() call):
//   HPT_LINALG=auto|cpu|cuda   auto (the default): by size as above; cpu: always Eigen; cuda:
//                              CUDA for every size, also from Default(). Any other value: one
//                              line on stderr, then cpu.
//   HPT_LINALG_CROSSOVER=n     the crossover of auto (a non-negative integer).
// With no usable device (none, a driver too old for the runtime, out of memory at start-up) the
// CUDA choice falls back to Eigen with one line on stderr; so does a call that runs out of device
// memory or meets a device failure (see fallback_backend.h). A build without CUDA
// (HPT_WITH_CUDA=OFF, or no toolkit found) always uses Eigen, and says so (once) only under
// HPT_LINALG=cuda.
//
// Only Eigen and abseil types appear here: a CUDA build adds its backend in its own files, and
// this header never includes (or is conditioned on) a CUDA header.
//
// Thread-safety: implementations are safe to call from several threads at once (the Default()
// and ForSize() instances are shared).
#ifndef HPT_SUGGEST_LINALG_BACKEND_H_
#define HPT_SUGGEST_LINALG_BACKEND_H_

#include <Eigen/Core>
#include <cstdint>

#include "absl/status/status.h"
#include "suggest/linalg/kernel.h"

namespace hpt::suggest::linalg {

// Cholesky retries with jitter = kCholeskyJitterBase * mean(|diag(a)|) (1 if that is 0) added to
// the diagonal, multiplied by 10 after each failure, at most kCholeskyJitterTries times.
inline constexpr double kCholeskyJitterBase = 1e-10;
inline constexpr int kCholeskyJitterTries = 6;

// The number of observations from which ForSize() prefers the CUDA backend under HPT_LINALG=auto.
// NOT YET MEASURED (issue 4: the GPU proof, bench/gpu/run.sh, is pending): a placeholder until the
// benchmark's crossover table is read on the target device. HPT_LINALG_CROSSOVER overrides it.
inline constexpr int64_t kDefaultCudaCrossover = 2000;

class LinalgBackend {
 public:
  LinalgBackend(const LinalgBackend&) = delete;
  LinalgBackend& operator=(const LinalgBackend&) = delete;
  virtual ~LinalgBackend() = default;

  // Factors the symmetric matrix a = L L^T and stores the lower-triangular L (zeros above the
  // diagonal) in *lower. If a is not numerically positive definite, retries with jitter on the
  // diagonal (see kCholeskyJitterBase) and then factors a + jitter*I. *jitter_used (may be null)
  // receives the jitter added, 0 when none was needed.
  // OK: factored. InvalidArgument: a is not square, not symmetric (to 1e-10 relative), or holds NaN
  // or infinity. FailedPrecondition: still not positive definite with the largest jitter; the
  // message names the matrix size and that jitter. On error *lower is unspecified.
  virtual absl::Status Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                                double* jitter_used) = 0;

  // Solves lower * X = b for X (lower triangular; only its lower triangle is read).
  // InvalidArgument: shapes disagree. FailedPrecondition: a zero or non-finite diagonal entry.
  virtual absl::Status SolveLower(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                  Eigen::MatrixXd* x) = 0;

  // Solves upper * X = b for X (upper triangular; only its upper triangle is read).
  // Errors as SolveLower.
  virtual absl::Status SolveUpper(const Eigen::MatrixXd& upper, const Eigen::MatrixXd& b,
                                  Eigen::MatrixXd* x) = 0;

  // Solves (L L^T) X = b given the Cholesky factor L = `lower` (two triangular solves).
  // Errors as SolveLower.
  virtual absl::Status CholeskySolve(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                     Eigen::MatrixXd* x) = 0;

  // The kernel matrix k(a_i, b_j) between the rows of a (n x D) and of b (m x D): *out is n x m.
  // InvalidArgument: column counts differ from each other or from kernel.lengthscales, a length
  // scale or the signal variance is not finite and > 0, or an input holds NaN/infinity.
  virtual absl::Status KernelMatrix(const KernelParams& kernel, const Eigen::MatrixXd& a,
                                    const Eigen::MatrixXd& b, Eigen::MatrixXd* out) = 0;

  // The negative log marginal likelihood of observations y (n) at inputs x (n x D) under a GP with
  // hyperparameters h,
  //   NLL = 1/2 (y-m)^T (K+s_n I)^-1 (y-m) + 1/2 log|K+s_n I| + n/2 log(2 pi)
  // (Rasmussen & Williams 2006, eq. 5.8), and, when `gradient` is not null, its gradient with
  // respect to h.Pack() (eq. 5.9: -1/2 tr((alpha alpha^T - (K+s_n I)^-1) dK/dtheta); -sum(alpha)
  // for the mean). The factorization is checked and retried with jitter like Cholesky().
  // InvalidArgument: shapes disagree or inputs are not finite. FailedPrecondition: the kernel
  // matrix cannot be factored (the message names its size).
  virtual absl::Status NegLogMarginalLikelihood(const GpHyperparameters& h,
                                                const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                                double* value, Eigen::VectorXd* gradient) = 0;

  // The posterior of the latent function at the rows of z (m x D): mean_i = m + k(z_i, x) alpha
  // and variance_i = k(z_i, z_i) - |L^-1 k(x, z_i)|^2 (clamped to >= 0). Evaluated in blocks of
  // rows, so m may be large. InvalidArgument: shapes disagree.
  virtual absl::Status Posterior(const PosteriorFactor& f, const Eigen::MatrixXd& z,
                                 Eigen::VectorXd* mean, Eigen::VectorXd* variance) = 0;

  // A short name for logs and benchmarks, e.g. "eigen".
  virtual const char* Name() const = 0;

  // The process-wide backend for callers that do not know the problem size: the Eigen (CPU) one,
  // or the CUDA one under HPT_LINALG=cuda when a device answers. Never null; lives forever.
  static LinalgBackend& Default();

  // The process-wide backend for a problem of n observations (the size of the kernel matrix to
  // factor): the CUDA one when this build has it, a device answers and, under HPT_LINALG=auto,
  // n >= the crossover; else the Eigen one. The first call that wants CUDA probes the device
  // (once per process). Never null; lives forever.
  static LinalgBackend& ForSize(int64_t n);

 protected:
  LinalgBackend() = default;
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_BACKEND_H_
