// The small CUDA kernels of the CUDA LinalgBackend (cuda_backend.cc), behind host launchers. Every
// matrix is column-major FP64 in device memory with leading dimension `ld` (>= rows); sizes are
// element counts. Each launcher enqueues its kernel on `stream` and returns the launch status
// (cudaGetLastError()); execution errors surface at the caller's next synchronization.
//
//   HPT_RETURN_IF_ERROR(Check(cuda::ScaleColumns(x, n, d, n, inv_lengthscales, stream), "scale"));
//
// Internal to suggest/linalg/cuda/ (included by cuda_backend.cc and cuda_kernels.cu only).
// Reductions write one partial result per block (kReduceBlocks at most, in block order) that the
// caller adds in a fixed order, so every result is deterministic.
#ifndef HPT_SUGGEST_LINALG_CUDA_CUDA_KERNELS_H_
#define HPT_SUGGEST_LINALG_CUDA_CUDA_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "suggest/linalg/kernel_shape.h"

namespace hpt::suggest::linalg::cuda {

// The most blocks a reduction kernel launches, hence the most partial results it writes.
inline constexpr int kReduceBlocks = 1024;

// The number of blocks a reduction over `columns` columns uses (<= kReduceBlocks, >= 1).
int ReduceBlocks(int64_t columns);

// x(i, j) *= scale[j] for a rows x cols matrix.
cudaError_t ScaleColumns(double* x, int64_t rows, int64_t cols, int64_t ld, const double* scale,
                         cudaStream_t stream);

// out[i] = sum_j x(i, j)^2 for a rows x cols matrix (out has rows entries).
cudaError_t RowSquaredNorms(const double* x, int64_t rows, int64_t cols, int64_t ld, double* out,
                            cudaStream_t stream);

// out[j] = sum_i x(i, j)^2 for a rows x cols matrix (out has cols entries).
cudaError_t ColumnSquaredNorms(const double* x, int64_t rows, int64_t cols, int64_t ld, double* out,
                               cudaStream_t stream);

// c holds -2 A B^T (rows x cols); replaces each entry by
//   signal_variance * shape(max((c(i, j) + row_norms[i]) + col_norms[j], 0)).
cudaError_t GramToKernel(double* c, int64_t rows, int64_t cols, int64_t ld, const double* row_norms,
                         const double* col_norms, KernelType type, double signal_variance,
                         cudaStream_t stream);

// c holds -2 A A^T (n x n); replaces each entry by the squared distance
//   max((c(i, j) + norms[i]) + norms[j], 0), and 0 on the diagonal.
cudaError_t GramToSquaredDistances(double* c, int64_t n, int64_t ld, const double* norms,
                                   cudaStream_t stream);

// k(i, j) = signal_variance * shape(r2(i, j)), plus noise on the diagonal (n x n; both matrices
// with leading dimension ld).
cudaError_t SquaredDistancesToKernel(const double* r2, double* k, int64_t n, int64_t ld,
                                     KernelType type, double signal_variance, double noise,
                                     cudaStream_t stream);

// a(i, i) += value for i < n.
cudaError_t AddToDiagonal(double* a, int64_t n, int64_t ld, double value, cudaStream_t stream);

// a(i, j) = 0 for j > i (n x n).
cudaError_t ZeroStrictUpper(double* a, int64_t n, int64_t ld, cudaStream_t stream);

// x[i] = value for i < count.
cudaError_t Fill(double* x, int64_t count, double value, cudaStream_t stream);

// For an n x n matrix: partials[3 b + 0] = max |a(i, j)|, partials[3 b + 1] = max |a(i, j) -
// a(j, i)| and partials[3 b + 2] = the count of non-finite entries, over the columns that block b
// of ReduceBlocks(n) visits.
cudaError_t SymmetryStatistics(const double* a, int64_t n, int64_t ld, double* partials,
                               cudaStream_t stream);

// The elementwise part of the likelihood gradient, over the lower triangle (i >= j) of n x n
// matrices: with w = alpha[i] alpha[j] - k_inv(i, j) (k_inv: the lower triangle of K^-1),
//   partials[2 b + 0] = sum of c w shape(r2(i, j))  (c = 2 off the diagonal, 1 on it)
//   partials[2 b + 1] = sum of w on the diagonal
// over the columns of block b of ReduceBlocks(n), and r2(i, j) is replaced by
//   w * ((-2 signal_variance) * shape'(r2(i, j)))
// (the upper triangle of r2 is left as it was).
cudaError_t LikelihoodGradientTerms(const double* k_inv, double* r2, int64_t n, int64_t ld,
                                    const double* alpha, KernelType type, double signal_variance,
                                    double* partials, cudaStream_t stream);

// Sets *flag = 1 (a launch that proves this build has a kernel image for the device).
cudaError_t Probe(int* flag, cudaStream_t stream);

}  // namespace hpt::suggest::linalg::cuda

#endif  // HPT_SUGGEST_LINALG_CUDA_CUDA_KERNELS_H_
