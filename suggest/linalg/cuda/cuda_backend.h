// The CUDA LinalgBackend: the Gaussian-process linear algebra of backend.h on one NVIDIA GPU, in
// FP64, through cuBLAS and cuSOLVER. Built only when CMake finds a CUDA toolkit
// (HPT_WITH_CUDA=AUTO|ON); this header holds the factory alone and includes no CUDA header.
//
//   absl::StatusOr<std::unique_ptr<LinalgBackend>> cuda = MakeCudaBackend();
//   if (!cuda.ok()) return cuda.status();          // Unavailable: no device; use the CPU
//   absl::Status s = (*cuda)->NegLogMarginalLikelihood(h, x, y, &nll, &gradient);
//
// Most code should not call the factory: LinalgBackend::ForSize(n) picks this backend when it
// pays off and falls back to Eigen otherwise (backend.h).
//
// Contract: the same as EigenBackend, call for call: the same argument checks with the same status
// codes and messages (suggest/linalg/checks.h), the same jitter schedule and jitter_used values for
// Cholesky and the likelihood, results equal up to rounding (the parity tests assert 1e-8 relative
// for n <= 5,000). Besides those, any call may return
//   ResourceExhausted  the device ran out of memory (cudaErrorMemoryAllocation,
//                      CUBLAS/CUSOLVER_STATUS_ALLOC_FAILED), after one retry that first releases
//                      every buffer this backend keeps;
//   Unavailable        the device or its driver stopped serving (no device, driver mismatch,
//                      ECC error, no kernel image for this device);
//   Internal           any other CUDA, cuBLAS or cuSOLVER failure (a bug: the message names the
//                      call and the library's error name).
//
// Design notes.
// - Data: Eigen matrices are column-major doubles, as cuBLAS expects: every operand is copied to
//   the device with cudaMemcpyAsync on this backend's own stream, results come back the same way,
//   and each call synchronizes that stream before it returns (the interface takes and returns host
//   matrices). Nothing stays on the device between calls except the buffers themselves, so the
//   factor L of a Posterior or CholeskySolve call is uploaded again each call (O(n^2) bytes,
//   cheap next to the O(n^2 m) solve of m candidates, not next to a one-vector solve).
// - Buffers: a handful of device arrays kept in the object, grown (never shrunk) as calls need,
//   reused across calls. The kernel-matrix, solve and posterior panels are processed in column
//   blocks of at most CudaBackendOptions::block_bytes, so 100k candidates never need an
//   n x 100k matrix on the device.
// - Kernel matrices: the inputs are divided by the length scales on the device, -2 A B^T comes
//   from one DGEMM, and a small kernel adds the squared row norms, clamps at 0 and applies the
//   kernel shape of kernel_shape.h (the same inline formulas the CPU uses).
// - Cholesky: cusolverDnDpotrf on a copy, checking devInfo; on failure the copy is rebuilt and the
//   jitter increments of EigenBackend are added one by one, so the jittered matrix and the
//   reported jitter are the CPU's. The finiteness and symmetry checks of the input run on the
//   device (block maxima reduced on the host).
// - Likelihood: r2 stays in one n x n buffer and K -> L -> K^-1 (potrf, potrs for alpha, potri)
//   in another; the gradient's elementwise products run over the lower triangle in one kernel
//   that writes W .* dK/dr2 over r2, then DSYMV/DSYMM give the length-scale terms. Every
//   reduction adds per-block partial sums in a fixed order: results are deterministic, as the
//   hyperparameter fit requires.
// - Posterior: blocks of candidates; per block one DGEMM + kernel map gives K(x, z), one DGEMV
//   the mean, one DTRSM L^-1 K(x, z) and a column-norm kernel the variance.
// - One cudaStream_t, one cuBLAS and one cuSOLVER handle per backend, all RAII-owned; a mutex
//   serializes calls (the interface promises thread-safety; one stream and one set of buffers
//   cannot serve two calls at once). Each call first makes the backend's device current.
#ifndef HPT_SUGGEST_LINALG_CUDA_CUDA_BACKEND_H_
#define HPT_SUGGEST_LINALG_CUDA_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "suggest/linalg/backend.h"

namespace hpt::suggest::linalg {

struct CudaBackendOptions {
  // The CUDA device ordinal (0 .. device count - 1).
  int device = 0;
  // The largest device panel one block of a kernel matrix, a triangular solve or a posterior may
  // use (n rows times as many columns as fit). Larger blocks mean fewer, larger launches; the
  // device also holds up to two n x n matrices besides (for Cholesky and the likelihood). Must be
  // > 0; tests make it tiny to exercise the blocking.
  int64_t block_bytes = int64_t{1} << 30;
};

// Makes a CUDA backend on options.device, with its stream, cuBLAS and cuSOLVER handles.
// Unavailable: no usable device: none is present, the driver is missing or too old for this CUDA
// runtime, the device is unavailable (exclusive or prohibited mode) or this build has no kernel
// image for it; the message starts "CUDA backend: no usable CUDA device" and names the CUDA error.
// InvalidArgument: a negative device, one past the device count, or block_bytes <= 0.
// ResourceExhausted: the device has no memory left for the handles.
// Thread-safe; each call makes an independent backend.
absl::StatusOr<std::unique_ptr<LinalgBackend>> MakeCudaBackend(const CudaBackendOptions& options);
absl::StatusOr<std::unique_ptr<LinalgBackend>> MakeCudaBackend(int device = 0);

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_CUDA_CUDA_BACKEND_H_
