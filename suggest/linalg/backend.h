// LinalgBackend: the dense linear algebra the Gaussian-process code needs (Cholesky factorization
// and triangular solves), behind one narrow interface so a GPU implementation can replace the CPU
// one without touching its callers.
//
//   LinalgBackend& la = LinalgBackend::Default();
//   Eigen::MatrixXd lower;
//   double jitter = 0;
//   if (absl::Status s = la.Cholesky(kernel, &lower, &jitter); !s.ok()) return s;
//   Eigen::MatrixXd alpha;                                  // K^-1 y
//   if (absl::Status s = la.CholeskySolve(lower, y, &alpha); !s.ok()) return s;
//
// Only Eigen and abseil types appear here: a CUDA build adds its backend in its own files, and
// this header never includes (or is conditioned on) a CUDA header.
//
// Thread-safety: implementations are safe to call from several threads at once (the Default()
// instance is shared).
#ifndef HPT_SUGGEST_LINALG_BACKEND_H_
#define HPT_SUGGEST_LINALG_BACKEND_H_

#include <Eigen/Core>

#include "absl/status/status.h"

namespace hpt::suggest::linalg {

// Cholesky retries with jitter = kCholeskyJitterBase * mean(|diag(a)|) (1 if that is 0) added to
// the diagonal, multiplied by 10 after each failure, at most kCholeskyJitterTries times.
inline constexpr double kCholeskyJitterBase = 1e-10;
inline constexpr int kCholeskyJitterTries = 6;

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

  // A short name for logs and benchmarks, e.g. "eigen".
  virtual const char* Name() const = 0;

  // The process-wide backend: today always the Eigen (CPU) one. Never null; lives forever.
  static LinalgBackend& Default();

 protected:
  LinalgBackend() = default;
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_BACKEND_H_
