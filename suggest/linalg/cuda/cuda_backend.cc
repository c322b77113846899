#include "suggest/linalg/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "suggest/linalg/checks.h"
#include "suggest/linalg/cuda/cuda_kernels.h"

// Returns the status of `expr` when it is not OK.
#define HPT_CUDA_RETURN_IF_ERROR(expr)                          \
  do {                                                          \
    if (absl::Status hpt_status_ = (expr); !hpt_status_.ok()) { \
      return hpt_status_;                                       \
    }                                                           \
  } while (false)

namespace hpt::suggest::linalg {
namespace {

// --- Return codes to Status ------------------------------------------------------------------

// Errors after which the device cannot serve this process any more (or never could).
bool DeviceUnusable(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorECCUncorrectable:
    case cudaErrorInitializationError:
      return true;
    default:
      return false;
  }
}

absl::Status CudaStatus(cudaError_t e, absl::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();  // clears a non-sticky error so that the next call starts clean
  const std::string message = absl::StrCat("CUDA backend: ", what, " failed: ", cudaGetErrorName(e),
                                           " (", cudaGetErrorString(e), ")");
  if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  if (DeviceUnusable(e)) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::Status CublasStatus(cublasStatus_t s, absl::string_view what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message =
      absl::StrCat("CUDA backend: ", what, " failed: ", cublasGetStatusName(s), " (",
                   cublasGetStatusString(s), ")");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

const char* CusolverStatusName(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE:
      return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default:
      return "CUSOLVER_STATUS_(other)";
  }
}

absl::Status CusolverStatus(cusolverStatus_t s, absl::string_view what) {
  if (s == CUSOLVER_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message = absl::StrCat(
      "CUDA backend: ", what, " failed: ", CusolverStatusName(s), " (", static_cast<int>(s), ")");
  if (s == CUSOLVER_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// cuBLAS and the legacy cuSOLVER routines take int dimensions.
absl::Status CheckDimensions(const char* op, std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) {
    if (d > INT_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": a dimension of ", d, " exceeds the CUDA backend's limit of ", INT_MAX));
    }
  }
  return absl::OkStatus();
}

// --- RAII owners -------------------------------------------------------------------------------

// A device array that only grows; its contents are not kept across a reallocation.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { Release(); }

  T* get() const { return data_; }

  absl::Status Reserve(size_t count, absl::string_view what) {
    if (count <= capacity_) return absl::OkStatus();
    if (count > SIZE_MAX / sizeof(T)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("CUDA backend: ", count, " elements for ", what, " overflow size_t"));
    }
    Release();
    void* p = nullptr;
    const size_t bytes = count * sizeof(T);
    HPT_CUDA_RETURN_IF_ERROR(CudaStatus(
        cudaMalloc(&p, bytes), absl::StrCat("cudaMalloc of ", bytes, " bytes for ", what)));
    data_ = static_cast<T*>(p);
    capacity_ = count;
    return absl::OkStatus();
  }

  void Release() {
    if (data_ != nullptr) {
      (void)cudaFree(data_);  // nothing to do about a failure while freeing
      data_ = nullptr;
      capacity_ = 0;
    }
  }

 private:
  T* data_ = nullptr;
  size_t capacity_ = 0;
};

struct StreamDeleter {
  void operator()(cudaStream_t s) const { (void)cudaStreamDestroy(s); }
};
struct CublasDeleter {
  void operator()(cublasHandle_t h) const { (void)cublasDestroy(h); }
};
struct CusolverDeleter {
  void operator()(cusolverDnHandle_t h) const { (void)cusolverDnDestroy(h); }
};
struct CusolverParamsDeleter {
  void operator()(cusolverDnParams_t p) const { (void)cusolverDnDestroyParams(p); }
};
using UniqueStream = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDeleter>;
using UniqueCublas = std::unique_ptr<std::remove_pointer_t<cublasHandle_t>, CublasDeleter>;
using UniqueCusolver = std::unique_ptr<std::remove_pointer_t<cusolverDnHandle_t>, CusolverDeleter>;
using UniqueCusolverParams =
    std::unique_ptr<std::remove_pointer_t<cusolverDnParams_t>, CusolverParamsDeleter>;

// cusolverDnDpotri takes int dimensions and 32-bit element offsets: the likelihood gradient
// (which needs K^-1) is limited to n^2 <= INT_MAX.
constexpr int64_t kMaxInverseOrder = 46340;

// --- The backend -------------------------------------------------------------------------------

class CudaBackend final : public LinalgBackend {
 public:
  static absl::StatusOr<std::unique_ptr<LinalgBackend>> Create(const CudaBackendOptions& options);

  ~CudaBackend() override;

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
  const char* Name() const override { return "cuda"; }

 private:
  // One device array a call needs, and how many elements.
  struct Need {
    DeviceArray<double>* array;
    size_t count;
    const char* what;
  };
  // The triangular solves share everything but these.
  enum class Solve { kLower, kUpper, kCholesky };
  // What FactorWithJitter factors: a copy of panel_ (Cholesky), or the kernel matrix
  // signal_variance * shape(r2) + noise I of the squared distances r2 in panel_ (the likelihood).
  struct SquareSource {
    bool copy_of_panel = true;
    KernelType type = KernelType::kMatern52;
    double signal_variance = 1;
    double noise = 0;
  };

  explicit CudaBackend(const CudaBackendOptions& options)
      : device_(options.device), block_bytes_(options.block_bytes) {}

  cudaStream_t stream() const { return stream_.get(); }

  // Makes this backend's device current on the calling thread.
  absl::Status Activate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Grows the arrays; on out-of-memory, releases every cached array and tries once more.
  absl::Status Reserve(std::initializer_list<Need> needs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Upload(double* device, const double* host, size_t count, const char* what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Download(double* host, const double* device, size_t count, const char* what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies the diagonal of the n x n device matrix `a` to host memory.
  absl::Status DownloadDiagonal(double* host, const double* a, int64_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Sync(const char* what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The columns of one n-row panel block out of `total` (>= 1 when total >= 1).
  int64_t BlockColumns(int64_t rows, int64_t total) const;

  // Uploads rows [first, first + rows) of the host matrix `host` to `dst` (rows x d, ld = rows),
  // multiplies column j by scales_[j] and writes the squared row norms to `norms`.
  absl::Status UploadScaledRows(const Eigen::MatrixXd& host, int64_t first, int64_t rows,
                                double* dst, double* norms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // c (rows_a x rows_b, ld rows_a) = -2 a b^T for a (rows_a x d, ld rows_a) and b (rows_b x d,
  // ld rows_b).
  absl::Status MinusTwoGram(const double* a, int64_t rows_a, const double* b, int64_t rows_b,
                            int64_t d, double* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills square_ (n x n) from `source`.
  absl::Status BuildSquare(const SquareSource& source, int64_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Factors square_ (n x n, lower) in place; returns devInfo (0: factored; i > 0: the leading
  // minor of order i is not positive definite).
  absl::StatusOr<int> Potrf(int64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds square_ from `source` and factors it, retrying with EigenBackend's jitter schedule.
  // `mean_abs_diagonal`: mean |diag| of the unjittered matrix when the caller knows it; else it
  // is read from the device after a failure.
  absl::Status FactorWithJitter(const char* op, int64_t n, const SquareSource& source,
                                std::optional<double> mean_abs_diagonal, double* jitter_used)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // cols right-hand sides in panel_ (n x cols) := op(T)^-1 panel_ for the triangle of square_.
  absl::Status Trsm(cublasFillMode_t fill, cublasOperation_t op, int64_t n, int64_t cols)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status TriangularSolve(Solve kind, const char* op, const Eigen::MatrixXd& t,
                               const Eigen::MatrixXd& b, Eigen::MatrixXd* x);

  absl::Mutex mu_;
  const int device_;
  const int64_t block_bytes_;
  // Set once by Create(), used under mu_. The stream is destroyed last (declared first).
  UniqueStream stream_;
  UniqueCublas cublas_;
  UniqueCusolver cusolver_;
  UniqueCusolverParams cusolver_params_;
  DeviceArray<int> info_;  // cuSOLVER's devInfo

  // Reused across calls; each call says what it keeps where.
  DeviceArray<double> square_ ABSL_GUARDED_BY(mu_);     // n x n: the matrix to factor, L, K^-1
  DeviceArray<double> panel_ ABSL_GUARDED_BY(mu_);      // n x (n or a block): a copy, r2, K(x, z)
  DeviceArray<double> rows_a_ ABSL_GUARDED_BY(mu_);     // scaled inputs, n x d
  DeviceArray<double> rows_b_ ABSL_GUARDED_BY(mu_);     // scaled candidates; M times inputs
  DeviceArray<double> vec_a_ ABSL_GUARDED_BY(mu_);      // row norms of rows_a_; M's row sums
  DeviceArray<double> vec_b_ ABSL_GUARDED_BY(mu_);      // alpha
  DeviceArray<double> vec_c_ ABSL_GUARDED_BY(mu_);      // row norms of rows_b_; ones
  DeviceArray<double> vec_d_ ABSL_GUARDED_BY(mu_);      // posterior means of a block
  DeviceArray<double> vec_e_ ABSL_GUARDED_BY(mu_);      // |L^-1 k|^2 of a block
  DeviceArray<double> scales_ ABSL_GUARDED_BY(mu_);     // 1 / length scales
  DeviceArray<double> partials_ ABSL_GUARDED_BY(mu_);   // per-block reduction results
  DeviceArray<double> workspace_ ABSL_GUARDED_BY(mu_);  // cuSOLVER's device workspace
  std::vector<char> host_workspace_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<LinalgBackend>> CudaBackend::Create(
    const CudaBackendOptions& options) {
  if (options.device < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA backend: device ", options.device, " requested; ordinals are >= 0"));
  }
  if (options.block_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA backend: block_bytes must be > 0; got ", options.block_bytes));
  }
  auto unusable = [](cudaError_t e, const char* what) {
    (void)cudaGetLastError();
    if (e == cudaErrorMemoryAllocation) {
      return absl::ResourceExhaustedError(absl::StrCat("CUDA backend: ", what,
                                                       " failed: ", cudaGetErrorName(e), " (",
                                                       cudaGetErrorString(e), ")"));
    }
    return absl::UnavailableError(absl::StrCat("CUDA backend: no usable CUDA device: ", what,
                                               " failed: ", cudaGetErrorName(e), " (",
                                               cudaGetErrorString(e), ")"));
  };
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    return unusable(e, "cudaGetDeviceCount");
  }
  if (count == 0) {
    return absl::UnavailableError(
        "CUDA backend: no usable CUDA device: the CUDA runtime reports none");
  }
  if (options.device >= count) {
    return absl::InvalidArgumentError(absl::StrCat("CUDA backend: device ", options.device,
                                                   " requested; this machine has ", count,
                                                   " CUDA device(s), 0 to ", count - 1));
  }
  if (cudaError_t e = cudaSetDevice(options.device); e != cudaSuccess) {
    return unusable(e, "cudaSetDevice");
  }
  if (cudaError_t e = cudaFree(nullptr); e != cudaSuccess) {  // creates the context now
    return unusable(e, "creating the CUDA context");
  }
  std::unique_ptr<CudaBackend> backend(new CudaBackend(options));
  cudaStream_t stream = nullptr;
  if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking); e != cudaSuccess) {
    return unusable(e, "cudaStreamCreateWithFlags");
  }
  backend->stream_.reset(stream);

  cublasHandle_t cublas = nullptr;
  if (cublasStatus_t s = cublasCreate(&cublas); s != CUBLAS_STATUS_SUCCESS) {
    if (s == CUBLAS_STATUS_NOT_INITIALIZED) {
      return absl::UnavailableError(absl::StrCat(
          "CUDA backend: no usable CUDA device: cublasCreate failed: ", cublasGetStatusName(s),
          " (", cublasGetStatusString(s), ")"));
    }
    return CublasStatus(s, "cublasCreate");
  }
  backend->cublas_.reset(cublas);
  HPT_CUDA_RETURN_IF_ERROR(CublasStatus(cublasSetStream(cublas, stream), "cublasSetStream"));
  HPT_CUDA_RETURN_IF_ERROR(
      CublasStatus(cublasSetPointerMode(cublas, CUBLAS_POINTER_MODE_HOST), "cublasSetPointerMode"));

  cusolverDnHandle_t cusolver = nullptr;
  if (cusolverStatus_t s = cusolverDnCreate(&cusolver); s != CUSOLVER_STATUS_SUCCESS) {
    if (s == CUSOLVER_STATUS_NOT_INITIALIZED) {
      return absl::UnavailableError(absl::StrCat(
          "CUDA backend: no usable CUDA device: cusolverDnCreate failed: ", CusolverStatusName(s)));
    }
    return CusolverStatus(s, "cusolverDnCreate");
  }
  backend->cusolver_.reset(cusolver);
  HPT_CUDA_RETURN_IF_ERROR(
      CusolverStatus(cusolverDnSetStream(cusolver, stream), "cusolverDnSetStream"));
  // The hyperparameter fit must be deterministic (gp_model.h).
  HPT_CUDA_RETURN_IF_ERROR(
      CusolverStatus(cusolverDnSetDeterministicMode(cusolver, CUSOLVER_DETERMINISTIC_RESULTS),
                     "cusolverDnSetDeterministicMode"));
  cusolverDnParams_t params = nullptr;
  HPT_CUDA_RETURN_IF_ERROR(
      CusolverStatus(cusolverDnCreateParams(&params), "cusolverDnCreateParams"));
  backend->cusolver_params_.reset(params);

  HPT_CUDA_RETURN_IF_ERROR(backend->info_.Reserve(1, "devInfo"));
  // A first launch proves that this build holds a kernel image the device can run.
  if (cudaError_t e = cuda::Probe(backend->info_.get(), stream); e != cudaSuccess) {
    return unusable(e, "the first kernel launch");
  }
  if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) {
    return unusable(e, "the first kernel");
  }
  return std::unique_ptr<LinalgBackend>(std::move(backend));
}

CudaBackend::~CudaBackend() {
  // The arrays and handles belong to this device; the members' destructors release them.
  (void)cudaSetDevice(device_);
  if (stream_ != nullptr) (void)cudaStreamSynchronize(stream_.get());
}

absl::Status CudaBackend::Activate() { return CudaStatus(cudaSetDevice(device_), "cudaSetDevice"); }

absl::Status CudaBackend::Reserve(std::initializer_list<Need> needs) {
  absl::Status first = absl::OkStatus();
  for (const Need& need : needs) {
    first = need.array->Reserve(need.count, need.what);
    if (!first.ok()) break;
  }
  if (first.code() != absl::StatusCode::kResourceExhausted) return first;
  // Arrays sized for an earlier, larger call may be what is in the way.
  ReleaseAll();
  for (const Need& need : needs)
    HPT_CUDA_RETURN_IF_ERROR(need.array->Reserve(need.count, need.what));
  return absl::OkStatus();
}

void CudaBackend::ReleaseAll() {
  for (DeviceArray<double>* array :
       {&square_, &panel_, &rows_a_, &rows_b_, &vec_a_, &vec_b_, &vec_c_, &vec_d_, &vec_e_,
        &scales_, &partials_, &workspace_}) {
    array->Release();
  }
}

absl::Status CudaBackend::Upload(double* device, const double* host, size_t count,
                                 const char* what) {
  if (count == 0) return absl::OkStatus();
  return CudaStatus(
      cudaMemcpyAsync(device, host, count * sizeof(double), cudaMemcpyHostToDevice, stream()),
      absl::StrCat("copying ", what, " to the device"));
}

absl::Status CudaBackend::Download(double* host, const double* device, size_t count,
                                   const char* what) {
  if (count == 0) return absl::OkStatus();
  return CudaStatus(
      cudaMemcpyAsync(host, device, count * sizeof(double), cudaMemcpyDeviceToHost, stream()),
      absl::StrCat("copying ", what, " from the device"));
}

absl::Status CudaBackend::DownloadDiagonal(double* host, const double* a, int64_t n) {
  if (n == 0) return absl::OkStatus();
  // n rows of one element each, (n + 1) elements apart on the device.
  return CudaStatus(cudaMemcpy2DAsync(host, sizeof(double), a, (n + 1) * sizeof(double),
                                      sizeof(double), n, cudaMemcpyDeviceToHost, stream()),
                    "copying a diagonal from the device");
}

absl::Status CudaBackend::Sync(const char* what) {
  return CudaStatus(cudaStreamSynchronize(stream()), absl::StrCat("the device work of ", what));
}

int64_t CudaBackend::BlockColumns(int64_t rows, int64_t total) const {
  const int64_t fit =
      block_bytes_ / (static_cast<int64_t>(sizeof(double)) * std::max<int64_t>(rows, 1));
  return std::clamp<int64_t>(fit, 1, std::max<int64_t>(total, 1));
}

absl::Status CudaBackend::UploadScaledRows(const Eigen::MatrixXd& host, int64_t first, int64_t rows,
                                           double* dst, double* norms) {
  const int64_t d = host.cols();
  if (rows == 0) return absl::OkStatus();
  if (d > 0) {
    // Column j of the block is `rows` contiguous doubles, host.rows() apart between columns.
    HPT_CUDA_RETURN_IF_ERROR(
        CudaStatus(cudaMemcpy2DAsync(dst, rows * sizeof(double), host.data() + first,
                                     host.rows() * sizeof(double), rows * sizeof(double), d,
                                     cudaMemcpyHostToDevice, stream()),
                   "copying inputs to the device"));
    HPT_CUDA_RETURN_IF_ERROR(CudaStatus(
        cuda::ScaleColumns(dst, rows, d, rows, scales_.get(), stream()), "ScaleColumns"));
  }
  return CudaStatus(cuda::RowSquaredNorms(dst, rows, d, rows, norms, stream()), "RowSquaredNorms");
}

absl::Status CudaBackend::MinusTwoGram(const double* a, int64_t rows_a, const double* b,
                                       int64_t rows_b, int64_t d, double* c) {
  if (rows_a == 0 || rows_b == 0) return absl::OkStatus();
  if (d == 0) {
    return CudaStatus(cudaMemsetAsync(c, 0, rows_a * rows_b * sizeof(double), stream()),
                      "cudaMemsetAsync");
  }
  const double alpha = -2;
  const double beta = 0;
  return CublasStatus(cublasDgemm(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(rows_a),
                                  static_cast<int>(rows_b), static_cast<int>(d), &alpha, a,
                                  static_cast<int>(rows_a), b, static_cast<int>(rows_b), &beta, c,
                                  static_cast<int>(rows_a)),
                      "cublasDgemm");
}

absl::StatusOr<int> CudaBackend::Potrf(int64_t n) {
  size_t device_bytes = 0;
  size_t host_bytes = 0;
  HPT_CUDA_RETURN_IF_ERROR(CusolverStatus(
      cusolverDnXpotrf_bufferSize(cusolver_.get(), cusolver_params_.get(), CUBLAS_FILL_MODE_LOWER,
                                  n, CUDA_R_64F, square_.get(), n, CUDA_R_64F, &device_bytes,
                                  &host_bytes),
      "cusolverDnXpotrf_bufferSize"));
  HPT_CUDA_RETURN_IF_ERROR(
      workspace_.Reserve(std::max<size_t>(1, (device_bytes + sizeof(double) - 1) / sizeof(double)),
                         "the Cholesky workspace"));
  if (host_workspace_.size() < host_bytes) host_workspace_.resize(host_bytes);
  HPT_CUDA_RETURN_IF_ERROR(CusolverStatus(
      cusolverDnXpotrf(cusolver_.get(), cusolver_params_.get(), CUBLAS_FILL_MODE_LOWER, n,
                       CUDA_R_64F, square_.get(), n, CUDA_R_64F, workspace_.get(), device_bytes,
                       host_bytes > 0 ? host_workspace_.data() : nullptr, host_bytes, info_.get()),
      "cusolverDnXpotrf"));
  int info = 0;
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpyAsync(&info, info_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream()),
                 "copying devInfo from the device"));
  HPT_CUDA_RETURN_IF_ERROR(Sync("cusolverDnXpotrf"));
  if (info < 0) {
    return absl::InternalError(
        absl::StrCat("CUDA backend: cusolverDnXpotrf rejected its argument ", -info));
  }
  return info;
}

absl::Status CudaBackend::BuildSquare(const SquareSource& source, int64_t n) {
  if (source.copy_of_panel) {
    return CudaStatus(
        cudaMemcpyAsync(square_.get(), panel_.get(), static_cast<size_t>(n) * n * sizeof(double),
                        cudaMemcpyDeviceToDevice, stream()),
        "copying the matrix to factor");
  }
  return CudaStatus(cuda::SquaredDistancesToKernel(panel_.get(), square_.get(), n, n, source.type,
                                                   source.signal_variance, source.noise, stream()),
                    "SquaredDistancesToKernel");
}

absl::Status CudaBackend::FactorWithJitter(const char* op, int64_t n, const SquareSource& source,
                                           std::optional<double> mean_abs_diagonal,
                                           double* jitter_used) {
  if (jitter_used != nullptr) *jitter_used = 0;
  HPT_CUDA_RETURN_IF_ERROR(BuildSquare(source, n));
  absl::StatusOr<int> info = Potrf(n);
  if (!info.ok()) return info.status();
  if (*info == 0) return absl::OkStatus();
  if (!mean_abs_diagonal.has_value()) {
    HPT_CUDA_RETURN_IF_ERROR(BuildSquare(source, n));
    std::vector<double> diagonal(n);
    HPT_CUDA_RETURN_IF_ERROR(DownloadDiagonal(diagonal.data(), square_.get(), n));
    HPT_CUDA_RETURN_IF_ERROR(Sync(op));
    // A strided map, like EigenBackend's diagonal view, so that Eigen sums in the same order.
    mean_abs_diagonal = Eigen::Map<const Eigen::VectorXd, 0, Eigen::InnerStride<>>(
                            diagonal.data(), n, Eigen::InnerStride<>(1))
                            .cwiseAbs()
                            .mean();
  }
  // EigenBackend adds jitter - added to the diagonal of the same matrix after each failure; the
  // same increments, applied in the same order to a rebuilt matrix, give the same numbers.
  double jitter = internal::FirstCholeskyJitter(*mean_abs_diagonal);
  double added = 0;
  std::vector<double> increments;
  for (int attempt = 0; attempt < kCholeskyJitterTries; ++attempt) {
    if (attempt > 0) jitter *= 10;
    increments.push_back(jitter - added);
    added = jitter;
    HPT_CUDA_RETURN_IF_ERROR(BuildSquare(source, n));
    for (double increment : increments) {
      HPT_CUDA_RETURN_IF_ERROR(CudaStatus(
          cuda::AddToDiagonal(square_.get(), n, n, increment, stream()), "AddToDiagonal"));
    }
    info = Potrf(n);
    if (!info.ok()) return info.status();
    if (*info == 0) {
      if (jitter_used != nullptr) *jitter_used = jitter;
      return absl::OkStatus();
    }
  }
  return internal::NotPositiveDefinite(op, n, jitter);
}

absl::Status CudaBackend::Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                                   double* jitter_used) {
  if (jitter_used != nullptr) *jitter_used = 0;
  HPT_CUDA_RETURN_IF_ERROR(internal::CheckCholeskyShape(a, lower));
  const int64_t n = a.rows();
  if (n == 0) {
    lower->resize(0, 0);
    return absl::OkStatus();
  }
  HPT_CUDA_RETURN_IF_ERROR(CheckDimensions("Cholesky", {n}));
  const size_t nn = static_cast<size_t>(n) * n;
  absl::MutexLock lock(&mu_);
  HPT_CUDA_RETURN_IF_ERROR(Activate());
  HPT_CUDA_RETURN_IF_ERROR(Reserve({{&square_, nn, "the Cholesky factor"},
                                    {&panel_, nn, "the matrix to factor"},
                                    {&partials_, 3 * cuda::kReduceBlocks, "partial results"}}));
  HPT_CUDA_RETURN_IF_ERROR(Upload(panel_.get(), a.data(), nn, "the matrix to factor"));

  // EigenBackend's checks of the values, on the device: finite, then symmetric.
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cuda::SymmetryStatistics(panel_.get(), n, n, partials_.get(), stream()),
                 "SymmetryStatistics"));
  const int blocks = cuda::ReduceBlocks(n);
  std::vector<double> partials(3 * static_cast<size_t>(blocks));
  HPT_CUDA_RETURN_IF_ERROR(
      Download(partials.data(), partials_.get(), partials.size(), "partial results"));
  HPT_CUDA_RETURN_IF_ERROR(Sync("Cholesky"));
  double magnitude = 0;
  double asymmetry = 0;
  double non_finite = 0;
  for (int b = 0; b < blocks; ++b) {
    magnitude = std::max(magnitude, partials[3 * b]);
    asymmetry = std::max(asymmetry, partials[3 * b + 1]);
    non_finite += partials[3 * b + 2];
  }
  if (non_finite > 0) return internal::NonFiniteCholeskyInput(a);
  if (internal::IsAsymmetric(asymmetry, magnitude)) {
    return internal::AsymmetricCholeskyInput(a, asymmetry);
  }

  // EigenBackend's expression for the jitter scale, on the same values.
  const double mean_abs_diagonal = a.diagonal().cwiseAbs().mean();
  HPT_CUDA_RETURN_IF_ERROR(
      FactorWithJitter("Cholesky", n, SquareSource{}, mean_abs_diagonal, jitter_used));
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cuda::ZeroStrictUpper(square_.get(), n, n, stream()), "ZeroStrictUpper"));
  lower->resize(n, n);  // after the last read of `a`, which `lower` may alias
  HPT_CUDA_RETURN_IF_ERROR(Download(lower->data(), square_.get(), nn, "the Cholesky factor"));
  return Sync("Cholesky");
}

absl::Status CudaBackend::Trsm(cublasFillMode_t fill, cublasOperation_t op, int64_t n,
                               int64_t cols) {
  const double one = 1;
  return CublasStatus(cublasDtrsm(cublas_.get(), CUBLAS_SIDE_LEFT, fill, op, CUBLAS_DIAG_NON_UNIT,
                                  static_cast<int>(n), static_cast<int>(cols), &one, square_.get(),
                                  static_cast<int>(n), panel_.get(), static_cast<int>(n)),
                      "cublasDtrsm");
}

absl::Status CudaBackend::TriangularSolve(Solve kind, const char* op, const Eigen::MatrixXd& t,
                                          const Eigen::MatrixXd& b, Eigen::MatrixXd* x) {
  HPT_CUDA_RETURN_IF_ERROR(internal::CheckTriangular(op, t, b, x));
  const int64_t n = t.rows();
  const int64_t m = b.cols();
  if (n == 0 || m == 0) {
    x->resize(n, m);
    return absl::OkStatus();
  }
  HPT_CUDA_RETURN_IF_ERROR(CheckDimensions(op, {n, m}));
  const int64_t block = BlockColumns(n, m);
  const size_t nn = static_cast<size_t>(n) * n;
  absl::MutexLock lock(&mu_);
  HPT_CUDA_RETURN_IF_ERROR(Activate());
  HPT_CUDA_RETURN_IF_ERROR(
      Reserve({{&square_, nn, "the triangular matrix"},
               {&panel_, static_cast<size_t>(n * block), "right-hand sides"}}));
  HPT_CUDA_RETURN_IF_ERROR(Upload(square_.get(), t.data(), nn, "the triangular matrix"));
  // Right-hand-side blocks are read before the same columns of *x are written, and *x keeps its
  // shape when it aliases b: x may alias t or b.
  const bool was_b = x == &b;
  Eigen::MatrixXd result;
  Eigen::MatrixXd* out = x == &t ? &result : x;
  if (!was_b) out->resize(n, m);
  for (int64_t start = 0; start < m; start += block) {
    const int64_t cols = std::min(block, m - start);
    const size_t count = static_cast<size_t>(n) * cols;
    HPT_CUDA_RETURN_IF_ERROR(Upload(panel_.get(), b.data() + start * n, count, "right-hand sides"));
    switch (kind) {
      case Solve::kLower:
        HPT_CUDA_RETURN_IF_ERROR(Trsm(CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, cols));
        break;
      case Solve::kUpper:
        HPT_CUDA_RETURN_IF_ERROR(Trsm(CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, n, cols));
        break;
      case Solve::kCholesky:  // L (L^T X) = B
        HPT_CUDA_RETURN_IF_ERROR(Trsm(CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, cols));
        HPT_CUDA_RETURN_IF_ERROR(Trsm(CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, n, cols));
        break;
    }
    HPT_CUDA_RETURN_IF_ERROR(Download(out->data() + start * n, panel_.get(), count, "solutions"));
    HPT_CUDA_RETURN_IF_ERROR(Sync(op));
  }
  if (out == &result) *x = std::move(result);
  return absl::OkStatus();
}

absl::Status CudaBackend::SolveLower(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                     Eigen::MatrixXd* x) {
  return TriangularSolve(Solve::kLower, "SolveLower", lower, b, x);
}

absl::Status CudaBackend::SolveUpper(const Eigen::MatrixXd& upper, const Eigen::MatrixXd& b,
                                     Eigen::MatrixXd* x) {
  return TriangularSolve(Solve::kUpper, "SolveUpper", upper, b, x);
}

absl::Status CudaBackend::CholeskySolve(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                                        Eigen::MatrixXd* x) {
  return TriangularSolve(Solve::kCholesky, "CholeskySolve", lower, b, x);
}

absl::Status CudaBackend::KernelMatrix(const KernelParams& kernel, const Eigen::MatrixXd& a,
                                       const Eigen::MatrixXd& b, Eigen::MatrixXd* out) {
  HPT_CUDA_RETURN_IF_ERROR(internal::CheckKernelMatrixInputs(kernel, a, b, out));
  const int64_t n = a.rows();
  const int64_t m = b.rows();
  const int64_t d = a.cols();
  if (n == 0 || m == 0) {
    out->resize(n, m);
    return absl::OkStatus();
  }
  HPT_CUDA_RETURN_IF_ERROR(CheckDimensions("KernelMatrix", {n, m, d}));
  const int64_t block = BlockColumns(n, m);
  const Eigen::VectorXd inverse_scales = kernel.lengthscales.cwiseInverse();
  absl::MutexLock lock(&mu_);
  HPT_CUDA_RETURN_IF_ERROR(Activate());
  HPT_CUDA_RETURN_IF_ERROR(
      Reserve({{&rows_a_, static_cast<size_t>(n * d), "scaled inputs"},
               {&rows_b_, static_cast<size_t>(m * d), "scaled inputs"},
               {&vec_a_, static_cast<size_t>(n), "squared norms"},
               {&vec_c_, static_cast<size_t>(m), "squared norms"},
               {&scales_, static_cast<size_t>(d), "inverse length scales"},
               {&panel_, static_cast<size_t>(n * block), "a kernel-matrix block"}}));
  HPT_CUDA_RETURN_IF_ERROR(Upload(scales_.get(), inverse_scales.data(), d, "length scales"));
  // Both inputs reach the device before *out (which may alias them) changes.
  HPT_CUDA_RETURN_IF_ERROR(UploadScaledRows(a, 0, n, rows_a_.get(), vec_a_.get()));
  HPT_CUDA_RETURN_IF_ERROR(UploadScaledRows(b, 0, m, rows_b_.get(), vec_c_.get()));
  HPT_CUDA_RETURN_IF_ERROR(Sync("KernelMatrix"));
  out->resize(n, m);
  for (int64_t start = 0; start < m; start += block) {
    const int64_t cols = std::min(block, m - start);
    // Rows [start, start + cols) of b's scaled copy: a cols x d matrix with leading dimension m.
    if (d == 0) {
      HPT_CUDA_RETURN_IF_ERROR(
          CudaStatus(cudaMemsetAsync(panel_.get(), 0,
                                     static_cast<size_t>(n) * cols * sizeof(double), stream()),
                     "cudaMemsetAsync"));
    } else {
      const double alpha = -2;
      const double beta = 0;
      HPT_CUDA_RETURN_IF_ERROR(
          CublasStatus(cublasDgemm(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(n),
                                   static_cast<int>(cols), static_cast<int>(d), &alpha,
                                   rows_a_.get(), static_cast<int>(n), rows_b_.get() + start,
                                   static_cast<int>(m), &beta, panel_.get(), static_cast<int>(n)),
                       "cublasDgemm"));
    }
    HPT_CUDA_RETURN_IF_ERROR(
        CudaStatus(cuda::GramToKernel(panel_.get(), n, cols, n, vec_a_.get(), vec_c_.get() + start,
                                      kernel.type, kernel.signal_variance, stream()),
                   "GramToKernel"));
    HPT_CUDA_RETURN_IF_ERROR(Download(out->data() + start * n, panel_.get(),
                                      static_cast<size_t>(n) * cols, "a kernel-matrix block"));
    HPT_CUDA_RETURN_IF_ERROR(Sync("KernelMatrix"));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::NegLogMarginalLikelihood(const GpHyperparameters& h,
                                                   const Eigen::MatrixXd& x,
                                                   const Eigen::VectorXd& y, double* value,
                                                   Eigen::VectorXd* gradient) {
  KernelParams kernel;
  double noise = 0;
  HPT_CUDA_RETURN_IF_ERROR(internal::CheckLikelihoodInputs(h, x, y, value, &kernel, &noise));
  const int64_t n = x.rows();
  const int64_t d = x.cols();
  HPT_CUDA_RETURN_IF_ERROR(CheckDimensions("NegLogMarginalLikelihood", {n, d}));
  if (gradient != nullptr && n > kMaxInverseOrder) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "NegLogMarginalLikelihood: the CUDA backend computes the gradient for at most ",
        kMaxInverseOrder, " observations (cusolverDnDpotri's 32-bit indexing); got ", n));
  }
  const size_t nn = static_cast<size_t>(n) * n;
  const size_t nd = static_cast<size_t>(n) * d;
  const Eigen::VectorXd residual = y.array() - h.mean;
  const Eigen::VectorXd inverse_scales = kernel.lengthscales.cwiseInverse();
  const double s = kernel.signal_variance;

  absl::MutexLock lock(&mu_);
  HPT_CUDA_RETURN_IF_ERROR(Activate());
  HPT_CUDA_RETURN_IF_ERROR(Reserve({{&square_, nn, "the kernel matrix"},
                                    {&panel_, nn, "squared distances"},
                                    {&rows_a_, nd, "scaled inputs"},
                                    {&rows_b_, nd, "gradient products"},
                                    {&vec_a_, static_cast<size_t>(n), "squared norms"},
                                    {&vec_b_, static_cast<size_t>(n), "alpha"},
                                    {&vec_c_, static_cast<size_t>(n), "ones"},
                                    {&scales_, static_cast<size_t>(d), "inverse length scales"},
                                    {&partials_, 3 * cuda::kReduceBlocks, "partial results"}}));
  HPT_CUDA_RETURN_IF_ERROR(Upload(scales_.get(), inverse_scales.data(), d, "length scales"));
  HPT_CUDA_RETURN_IF_ERROR(UploadScaledRows(x, 0, n, rows_a_.get(), vec_a_.get()));
  // panel_ = r2 for the whole call; square_ = K, then L, then K^-1.
  HPT_CUDA_RETURN_IF_ERROR(MinusTwoGram(rows_a_.get(), n, rows_a_.get(), n, d, panel_.get()));
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cuda::GramToSquaredDistances(panel_.get(), n, n, vec_a_.get(), stream()),
                 "GramToSquaredDistances"));
  const SquareSource kernel_matrix{
      .copy_of_panel = false, .type = kernel.type, .signal_variance = s, .noise = noise};
  HPT_CUDA_RETURN_IF_ERROR(
      FactorWithJitter("NegLogMarginalLikelihood", n, kernel_matrix, std::nullopt, nullptr));

  HPT_CUDA_RETURN_IF_ERROR(Upload(vec_b_.get(), residual.data(), n, "residuals"));
  HPT_CUDA_RETURN_IF_ERROR(CusolverStatus(
      cusolverDnXpotrs(cusolver_.get(), cusolver_params_.get(), CUBLAS_FILL_MODE_LOWER, n, 1,
                       CUDA_R_64F, square_.get(), n, CUDA_R_64F, vec_b_.get(), n, info_.get()),
      "cusolverDnXpotrs"));
  int info = 0;
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpyAsync(&info, info_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream()),
                 "copying devInfo from the device"));
  Eigen::VectorXd alpha(n);
  Eigen::VectorXd diagonal(n);
  HPT_CUDA_RETURN_IF_ERROR(Download(alpha.data(), vec_b_.get(), n, "alpha"));
  HPT_CUDA_RETURN_IF_ERROR(DownloadDiagonal(diagonal.data(), square_.get(), n));
  HPT_CUDA_RETURN_IF_ERROR(Sync("NegLogMarginalLikelihood"));
  if (info != 0) {
    return absl::InternalError(
        absl::StrCat("CUDA backend: cusolverDnXpotrs reported devInfo ", info));
  }
  const double log_det = 2 * diagonal.array().log().sum();
  *value = 0.5 * residual.dot(alpha) + 0.5 * log_det + 0.5 * n * std::log(2 * M_PI);
  if (gradient == nullptr) return absl::OkStatus();

  // K^-1 (lower triangle) in place of L.
  int lwork = 0;
  HPT_CUDA_RETURN_IF_ERROR(CusolverStatus(
      cusolverDnDpotri_bufferSize(cusolver_.get(), CUBLAS_FILL_MODE_LOWER, static_cast<int>(n),
                                  square_.get(), static_cast<int>(n), &lwork),
      "cusolverDnDpotri_bufferSize"));
  HPT_CUDA_RETURN_IF_ERROR(
      workspace_.Reserve(std::max<size_t>(1, static_cast<size_t>(lwork)), "the inverse workspace"));
  HPT_CUDA_RETURN_IF_ERROR(CusolverStatus(
      cusolverDnDpotri(cusolver_.get(), CUBLAS_FILL_MODE_LOWER, static_cast<int>(n), square_.get(),
                       static_cast<int>(n), workspace_.get(), lwork, info_.get()),
      "cusolverDnDpotri"));
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpyAsync(&info, info_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream()),
                 "copying devInfo from the device"));
  HPT_CUDA_RETURN_IF_ERROR(Sync("NegLogMarginalLikelihood"));
  if (info != 0) {
    return absl::InternalError(absl::StrCat("CUDA backend: cusolverDnDpotri reported devInfo ",
                                            info, " for a ", n, "x", n,
                                            " factor that cusolverDnXpotrf accepted"));
  }

  // W = alpha alpha^T - K^-1; dNLL/dtheta = -1/2 sum(W .* dK/dtheta) (see EigenBackend). The
  // kernel sums W .* shape and trace(W) and leaves M = W .* (-2 s f'(r2)) in panel_'s lower
  // triangle; M's row sums and M * scaled inputs give the length-scale terms.
  const int blocks = cuda::ReduceBlocks(n);
  HPT_CUDA_RETURN_IF_ERROR(
      CudaStatus(cuda::LikelihoodGradientTerms(square_.get(), panel_.get(), n, n, vec_b_.get(),
                                               kernel.type, s, partials_.get(), stream()),
                 "LikelihoodGradientTerms"));
  HPT_CUDA_RETURN_IF_ERROR(CudaStatus(cuda::Fill(vec_c_.get(), n, 1.0, stream()), "Fill"));
  const double one = 1;
  const double zero = 0;
  HPT_CUDA_RETURN_IF_ERROR(CublasStatus(
      cublasDsymv(cublas_.get(), CUBLAS_FILL_MODE_LOWER, static_cast<int>(n), &one, panel_.get(),
                  static_cast<int>(n), vec_c_.get(), 1, &zero, vec_a_.get(), 1),
      "cublasDsymv"));
  if (d > 0) {
    HPT_CUDA_RETURN_IF_ERROR(CublasStatus(
        cublasDsymm(cublas_.get(), CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, static_cast<int>(n),
                    static_cast<int>(d), &one, panel_.get(), static_cast<int>(n), rows_a_.get(),
                    static_cast<int>(n), &zero, rows_b_.get(), static_cast<int>(n)),
        "cublasDsymm"));
  }
  std::vector<double> partials(2 * static_cast<size_t>(blocks));
  Eigen::VectorXd row_sums(n);
  Eigen::MatrixXd m_a(n, d);
  HPT_CUDA_RETURN_IF_ERROR(
      Download(partials.data(), partials_.get(), partials.size(), "partial results"));
  HPT_CUDA_RETURN_IF_ERROR(Download(row_sums.data(), vec_a_.get(), n, "row sums"));
  HPT_CUDA_RETURN_IF_ERROR(Download(m_a.data(), rows_b_.get(), nd, "gradient products"));
  HPT_CUDA_RETURN_IF_ERROR(Sync("NegLogMarginalLikelihood"));
  double weighted = 0;
  double trace = 0;
  for (int b = 0; b < blocks; ++b) {
    weighted += partials[2 * b];
    trace += partials[2 * b + 1];
  }
  // The same scaled inputs the device used (one multiplication per entry, exact either side).
  const Eigen::MatrixXd scaled = x * inverse_scales.asDiagonal();
  gradient->resize(h.PackedSize());
  (*gradient)(d) = -0.5 * s * weighted;
  (*gradient)(d + 1) = -0.5 * noise * trace;
  (*gradient)(d + 2) = -alpha.sum();
  for (int64_t j = 0; j < d; ++j) {
    (*gradient)(j) = -scaled.col(j).cwiseAbs2().dot(row_sums) + scaled.col(j).dot(m_a.col(j));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::Posterior(const PosteriorFactor& f, const Eigen::MatrixXd& z,
                                    Eigen::VectorXd* mean, Eigen::VectorXd* variance) {
  HPT_CUDA_RETURN_IF_ERROR(internal::CheckPosteriorShapes(f, z, mean, variance));
  const int64_t n = f.x.rows();
  const int64_t m = z.rows();
  const int64_t d = z.cols();
  mean->resize(m);
  variance->resize(m);
  if (m == 0) return absl::OkStatus();
  // EigenBackend checks the candidates through KernelMatrix(z, x): the same errors here.
  Eigen::MatrixXd unused;
  HPT_CUDA_RETURN_IF_ERROR(internal::CheckKernelMatrixInputs(f.kernel, z, f.x, &unused));
  const double s = f.kernel.signal_variance;
  if (n == 0) {
    mean->setConstant(f.mean);
    variance->setConstant(s);
    return absl::OkStatus();
  }
  HPT_CUDA_RETURN_IF_ERROR(CheckDimensions("Posterior", {n, m, d}));
  const int64_t block = BlockColumns(n, m);
  const size_t nn = static_cast<size_t>(n) * n;
  const Eigen::VectorXd inverse_scales = f.kernel.lengthscales.cwiseInverse();

  absl::MutexLock lock(&mu_);
  HPT_CUDA_RETURN_IF_ERROR(Activate());
  HPT_CUDA_RETURN_IF_ERROR(
      Reserve({{&square_, nn, "the Cholesky factor"},
               {&panel_, static_cast<size_t>(n * block), "a cross-kernel block"},
               {&rows_a_, static_cast<size_t>(n * d), "scaled inputs"},
               {&rows_b_, static_cast<size_t>(block * d), "scaled candidates"},
               {&vec_a_, static_cast<size_t>(n), "squared norms"},
               {&vec_b_, static_cast<size_t>(n), "alpha"},
               {&vec_c_, static_cast<size_t>(block), "squared norms"},
               {&vec_d_, static_cast<size_t>(block), "posterior means"},
               {&vec_e_, static_cast<size_t>(block), "variance reductions"},
               {&scales_, static_cast<size_t>(d), "inverse length scales"}}));
  HPT_CUDA_RETURN_IF_ERROR(Upload(square_.get(), f.lower.data(), nn, "the Cholesky factor"));
  HPT_CUDA_RETURN_IF_ERROR(Upload(vec_b_.get(), f.alpha.data(), n, "alpha"));
  HPT_CUDA_RETURN_IF_ERROR(Upload(scales_.get(), inverse_scales.data(), d, "length scales"));
  HPT_CUDA_RETURN_IF_ERROR(UploadScaledRows(f.x, 0, n, rows_a_.get(), vec_a_.get()));
  Eigen::VectorXd block_mean(block);
  Eigen::VectorXd block_reduction(block);
  const double one = 1;
  const double zero = 0;
  for (int64_t start = 0; start < m; start += block) {
    const int64_t cols = std::min(block, m - start);
    HPT_CUDA_RETURN_IF_ERROR(UploadScaledRows(z, start, cols, rows_b_.get(), vec_c_.get()));
    // panel_ = K(x, z_block), n x cols.
    HPT_CUDA_RETURN_IF_ERROR(MinusTwoGram(rows_a_.get(), n, rows_b_.get(), cols, d, panel_.get()));
    HPT_CUDA_RETURN_IF_ERROR(
        CudaStatus(cuda::GramToKernel(panel_.get(), n, cols, n, vec_a_.get(), vec_c_.get(),
                                      f.kernel.type, s, stream()),
                   "GramToKernel"));
    HPT_CUDA_RETURN_IF_ERROR(CublasStatus(
        cublasDgemv(cublas_.get(), CUBLAS_OP_T, static_cast<int>(n), static_cast<int>(cols), &one,
                    panel_.get(), static_cast<int>(n), vec_b_.get(), 1, &zero, vec_d_.get(), 1),
        "cublasDgemv"));
    HPT_CUDA_RETURN_IF_ERROR(Trsm(CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, cols));  // L^-1 K(x, z)
    HPT_CUDA_RETURN_IF_ERROR(
        CudaStatus(cuda::ColumnSquaredNorms(panel_.get(), n, cols, n, vec_e_.get(), stream()),
                   "ColumnSquaredNorms"));
    HPT_CUDA_RETURN_IF_ERROR(Download(block_mean.data(), vec_d_.get(), cols, "posterior means"));
    HPT_CUDA_RETURN_IF_ERROR(
        Download(block_reduction.data(), vec_e_.get(), cols, "variance reductions"));
    HPT_CUDA_RETURN_IF_ERROR(Sync("Posterior"));
    mean->segment(start, cols) = block_mean.head(cols).array() + f.mean;
    variance->segment(start, cols) = (s - block_reduction.head(cols).array()).cwiseMax(0.0);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinalgBackend>> MakeCudaBackend(const CudaBackendOptions& options) {
  return CudaBackend::Create(options);
}

absl::StatusOr<std::unique_ptr<LinalgBackend>> MakeCudaBackend(int device) {
  return MakeCudaBackend(CudaBackendOptions{.device = device});
}

}  // namespace hpt::suggest::linalg

#undef HPT_CUDA_RETURN_IF_ERROR
