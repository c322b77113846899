#include <math.h>

#include <algorithm>

#include "suggest/linalg/cuda/cuda_kernels.h"

namespace hpt::suggest::linalg::cuda {
namespace {

// Threads per block; a power of two (the block reductions halve it).
constexpr int kThreads = 256;
// Grid limits of the elementwise kernels (grid-stride loops cover the rest).
constexpr int64_t kMaxRowBlocks = 1024;
constexpr int64_t kMaxColumnBlocks = 65535;

// A grid for a rows x cols elementwise kernel: x over row tiles, y over columns.
dim3 ElementwiseGrid(int64_t rows, int64_t cols) {
  const int64_t row_blocks =
      std::clamp<int64_t>((rows + kThreads - 1) / kThreads, 1, kMaxRowBlocks);
  const int64_t col_blocks = std::clamp<int64_t>(cols, 1, kMaxColumnBlocks);
  return dim3(static_cast<unsigned>(row_blocks), static_cast<unsigned>(col_blocks));
}

unsigned LinearBlocks(int64_t count) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, kMaxRowBlocks * 64));
}

// The loops of an elementwise kernel over (i, j) of a rows x cols matrix.
#define HPT_FOR_EACH_COLUMN(j, cols) for (int64_t j = blockIdx.y; j < (cols); j += gridDim.y)
#define HPT_FOR_EACH_ROW(i, first, rows)                                                  \
  for (int64_t i = (first) + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
       i < (rows); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// The sum (or maximum) of v over the block, in a fixed tree order; every thread gets it.
// `shared` has kThreads entries.
__device__ double BlockSum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  const double result = shared[0];
  __syncthreads();
  return result;
}

__device__ double BlockMax(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      shared[threadIdx.x] = fmax(shared[threadIdx.x], shared[threadIdx.x + stride]);
    }
    __syncthreads();
  }
  const double result = shared[0];
  __syncthreads();
  return result;
}

__global__ void ScaleColumnsKernel(double* x, int64_t rows, int64_t cols, int64_t ld,
                                   const double* scale) {
  HPT_FOR_EACH_COLUMN(j, cols) {
    const double s = scale[j];
    HPT_FOR_EACH_ROW(i, 0, rows) { x[i + j * ld] *= s; }
  }
}

__global__ void RowSquaredNormsKernel(const double* x, int64_t rows, int64_t cols, int64_t ld,
                                      double* out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < rows;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double v = x[i + j * ld];
      sum += v * v;
    }
    out[i] = sum;
  }
}

// One block per column (cyclically).
__global__ void ColumnSquaredNormsKernel(const double* x, int64_t rows, int64_t cols, int64_t ld,
                                         double* out) {
  __shared__ double shared[kThreads];
  for (int64_t j = blockIdx.x; j < cols; j += gridDim.x) {
    double sum = 0;
    for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
      const double v = x[i + j * ld];
      sum += v * v;
    }
    sum = BlockSum(sum, shared);
    if (threadIdx.x == 0) out[j] = sum;
  }
}

__global__ void GramToKernelKernel(double* c, int64_t rows, int64_t cols, int64_t ld,
                                   const double* row_norms, const double* col_norms,
                                   KernelType type, double signal_variance) {
  HPT_FOR_EACH_COLUMN(j, cols) {
    const double col_norm = col_norms[j];
    HPT_FOR_EACH_ROW(i, 0, rows) {
      double& v = c[i + j * ld];
      const double r2 = fmax((v + row_norms[i]) + col_norm, 0.0);
      v = signal_variance * shape::Value(type, r2);
    }
  }
}

__global__ void GramToSquaredDistancesKernel(double* c, int64_t n, int64_t ld,
                                             const double* norms) {
  HPT_FOR_EACH_COLUMN(j, n) {
    const double col_norm = norms[j];
    HPT_FOR_EACH_ROW(i, 0, n) {
      double& v = c[i + j * ld];
      v = i == j ? 0.0 : fmax((v + norms[i]) + col_norm, 0.0);
    }
  }
}

__global__ void SquaredDistancesToKernelKernel(const double* r2, double* k, int64_t n, int64_t ld,
                                               KernelType type, double signal_variance,
                                               double noise) {
  HPT_FOR_EACH_COLUMN(j, n) {
    HPT_FOR_EACH_ROW(i, 0, n) {
      double v = signal_variance * shape::Value(type, r2[i + j * ld]);
      if (i == j) v += noise;
      k[i + j * ld] = v;
    }
  }
}

__global__ void AddToDiagonalKernel(double* a, int64_t n, int64_t ld, double value) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    a[i + i * ld] += value;
  }
}

__global__ void ZeroStrictUpperKernel(double* a, int64_t n, int64_t ld) {
  HPT_FOR_EACH_COLUMN(j, n) {
    // Rows 0 .. j-1 of column j.
    HPT_FOR_EACH_ROW(i, 0, j) { a[i + j * ld] = 0; }
  }
}

__global__ void FillKernel(double* x, int64_t count, double value) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = value;
  }
}

// Block b visits columns b, b + gridDim.x, ...; partials as in the header.
__global__ void SymmetryStatisticsKernel(const double* a, int64_t n, int64_t ld, double* partials) {
  __shared__ double shared[kThreads];
  double magnitude = 0;
  double asymmetry = 0;
  double non_finite = 0;
  for (int64_t j = blockIdx.x; j < n; j += gridDim.x) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const double v = a[i + j * ld];
      if (!isfinite(v)) {
        non_finite += 1;
        continue;
      }
      magnitude = fmax(magnitude, fabs(v));
      if (i > j) asymmetry = fmax(asymmetry, fabs(v - a[j + i * ld]));
    }
  }
  magnitude = BlockMax(magnitude, shared);
  asymmetry = BlockMax(asymmetry, shared);
  non_finite = BlockSum(non_finite, shared);
  if (threadIdx.x == 0) {
    partials[3 * blockIdx.x + 0] = magnitude;
    partials[3 * blockIdx.x + 1] = asymmetry;
    partials[3 * blockIdx.x + 2] = non_finite;
  }
}

__global__ void LikelihoodGradientTermsKernel(const double* k_inv, double* r2, int64_t n,
                                              int64_t ld, const double* alpha, KernelType type,
                                              double signal_variance, double* partials) {
  __shared__ double shared[kThreads];
  double weighted = 0;
  double trace = 0;
  const double g_scale = -2.0 * signal_variance;
  for (int64_t j = blockIdx.x; j < n; j += gridDim.x) {
    const double alpha_j = alpha[j];
    for (int64_t i = j + threadIdx.x; i < n; i += blockDim.x) {
      const int64_t at = i + j * ld;
      const double d2 = r2[at];
      const double w = alpha[i] * alpha_j - k_inv[at];
      if (i == j) {
        weighted += w * shape::Value(type, d2);
        trace += w;
      } else {
        weighted += 2 * (w * shape::Value(type, d2));
      }
      r2[at] = w * (g_scale * shape::Derivative(type, d2));
    }
  }
  weighted = BlockSum(weighted, shared);
  trace = BlockSum(trace, shared);
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x + 0] = weighted;
    partials[2 * blockIdx.x + 1] = trace;
  }
}

__global__ void ProbeKernel(int* flag) { *flag = 1; }

#undef HPT_FOR_EACH_COLUMN
#undef HPT_FOR_EACH_ROW

}  // namespace

int ReduceBlocks(int64_t columns) {
  return static_cast<int>(std::clamp<int64_t>(columns, 1, kReduceBlocks));
}

cudaError_t ScaleColumns(double* x, int64_t rows, int64_t cols, int64_t ld, const double* scale,
                         cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  ScaleColumnsKernel<<<ElementwiseGrid(rows, cols), kThreads, 0, stream>>>(x, rows, cols, ld,
                                                                           scale);
  return cudaGetLastError();
}

cudaError_t RowSquaredNorms(const double* x, int64_t rows, int64_t cols, int64_t ld, double* out,
                            cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  RowSquaredNormsKernel<<<LinearBlocks(rows), kThreads, 0, stream>>>(x, rows, cols, ld, out);
  return cudaGetLastError();
}

cudaError_t ColumnSquaredNorms(const double* x, int64_t rows, int64_t cols, int64_t ld, double* out,
                               cudaStream_t stream) {
  if (cols == 0) return cudaSuccess;
  const unsigned blocks = static_cast<unsigned>(std::clamp<int64_t>(cols, 1, kMaxColumnBlocks));
  ColumnSquaredNormsKernel<<<blocks, kThreads, 0, stream>>>(x, rows, cols, ld, out);
  return cudaGetLastError();
}

cudaError_t GramToKernel(double* c, int64_t rows, int64_t cols, int64_t ld, const double* row_norms,
                         const double* col_norms, KernelType type, double signal_variance,
                         cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  GramToKernelKernel<<<ElementwiseGrid(rows, cols), kThreads, 0, stream>>>(
      c, rows, cols, ld, row_norms, col_norms, type, signal_variance);
  return cudaGetLastError();
}

cudaError_t GramToSquaredDistances(double* c, int64_t n, int64_t ld, const double* norms,
                                   cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  GramToSquaredDistancesKernel<<<ElementwiseGrid(n, n), kThreads, 0, stream>>>(c, n, ld, norms);
  return cudaGetLastError();
}

cudaError_t SquaredDistancesToKernel(const double* r2, double* k, int64_t n, int64_t ld,
                                     KernelType type, double signal_variance, double noise,
                                     cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  SquaredDistancesToKernelKernel<<<ElementwiseGrid(n, n), kThreads, 0, stream>>>(
      r2, k, n, ld, type, signal_variance, noise);
  return cudaGetLastError();
}

cudaError_t AddToDiagonal(double* a, int64_t n, int64_t ld, double value, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  AddToDiagonalKernel<<<LinearBlocks(n), kThreads, 0, stream>>>(a, n, ld, value);
  return cudaGetLastError();
}

cudaError_t ZeroStrictUpper(double* a, int64_t n, int64_t ld, cudaStream_t stream) {
  if (n < 2) return cudaSuccess;
  ZeroStrictUpperKernel<<<ElementwiseGrid(n, n), kThreads, 0, stream>>>(a, n, ld);
  return cudaGetLastError();
}

cudaError_t Fill(double* x, int64_t count, double value, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  FillKernel<<<LinearBlocks(count), kThreads, 0, stream>>>(x, count, value);
  return cudaGetLastError();
}

cudaError_t SymmetryStatistics(const double* a, int64_t n, int64_t ld, double* partials,
                               cudaStream_t stream) {
  SymmetryStatisticsKernel<<<ReduceBlocks(n), kThreads, 0, stream>>>(a, n, ld, partials);
  return cudaGetLastError();
}

cudaError_t LikelihoodGradientTerms(const double* k_inv, double* r2, int64_t n, int64_t ld,
                                    const double* alpha, KernelType type, double signal_variance,
                                    double* partials, cudaStream_t stream) {
  LikelihoodGradientTermsKernel<<<ReduceBlocks(n), kThreads, 0, stream>>>(
      k_inv, r2, n, ld, alpha, type, signal_variance, partials);
  return cudaGetLastError();
}

cudaError_t Probe(int* flag, cudaStream_t stream) {
  ProbeKernel<<<1, 1, 0, stream>>>(flag);
  return cudaGetLastError();
}

}  // namespace hpt::suggest::linalg::cuda
