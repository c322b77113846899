// The CUDA LinalgBackend against the Eigen one (built only when HPT_CUDA_ENABLED).
//
// Parity tests run every operation on both backends with the same inputs and require the results
// to agree to 1e-8 relative (the infinity norm of the difference over that of the CPU result),
// and every error to be the same status (code and message); they skip without a device. The
// factory and selector tests always run: on a machine without a GPU, MakeCudaBackend must answer
// Unavailable and every choice must fall back to Eigen; with one, the CUDA backend must come up.
// Whether a device is expected is read from the /dev/nvidia<N> device files, or from
// HPT_TEST_EXPECT_CUDA=0|1 when set.
#include "suggest/linalg/cuda/cuda_backend.h"

#include <Eigen/Core>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "suggest/gp/gp_model.h"
#include "suggest/linalg/backend.h"
#include "suggest/linalg/backend_selector.h"
#include "suggest/linalg/eigen_backend.h"
#include "suggest/linalg/kernel.h"

namespace hpt::suggest::linalg {
namespace {

constexpr double kTolerance = 1e-8;
constexpr KernelType kKernels[] = {KernelType::kMatern52, KernelType::kMatern32, KernelType::kRbf};

bool DeviceExpected() {
  if (const char* e = std::getenv("HPT_TEST_EXPECT_CUDA"); e != nullptr && *e != '\0') {
    return std::string(e) == "1";
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev", ec)) {
    if (std::regex_match(entry.path().filename().string(), std::regex("nvidia[0-9]+"))) return true;
  }
  return false;
}

// ||gpu - cpu||_inf <= tolerance * max(||cpu||_inf, floor).
::testing::AssertionResult Agree(const Eigen::MatrixXd& gpu, const Eigen::MatrixXd& cpu,
                                 double tolerance = kTolerance, double floor = 1e-300) {
  if (gpu.rows() != cpu.rows() || gpu.cols() != cpu.cols()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << gpu.rows() << "x" << gpu.cols() << " on the GPU, " << cpu.rows()
           << "x" << cpu.cols() << " on the CPU";
  }
  if (cpu.size() == 0) return ::testing::AssertionSuccess();
  if (!gpu.allFinite()) return ::testing::AssertionFailure() << "the GPU result is not finite";
  Eigen::Index row = 0, col = 0;
  const double error = (gpu - cpu).cwiseAbs().maxCoeff(&row, &col);
  const double scale = std::max(cpu.cwiseAbs().maxCoeff(), floor);
  if (error <= tolerance * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "relative difference " << error / scale << " > " << tolerance << " at (" << row << ", "
         << col << "): GPU " << gpu(row, col) << ", CPU " << cpu(row, col);
}

::testing::AssertionResult AgreeScalar(double gpu, double cpu, double tolerance = kTolerance) {
  return Agree(Eigen::MatrixXd::Constant(1, 1, gpu), Eigen::MatrixXd::Constant(1, 1, cpu),
               tolerance);
}

Eigen::MatrixXd RandomPoints(int n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd x(n, d);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x(i, j) = u(rng);
  }
  return x;
}

Eigen::VectorXd Values(const Eigen::MatrixXd& x) {
  Eigen::VectorXd y(x.rows());
  for (int i = 0; i < x.rows(); ++i) {
    y(i) = std::sin(6 * x(i, 0)) + (x.row(i).array() - 0.3).square().sum() - 0.5;
  }
  return y;
}

GpHyperparameters Hyper(KernelType t, int d) {
  GpHyperparameters h;
  h.type = t;
  h.log_lengthscales = Eigen::VectorXd::LinSpaced(d, std::log(0.3), std::log(0.9));
  h.log_signal_variance = std::log(1.7);
  h.log_noise_variance = std::log(0.01);
  h.mean = 0.2;
  return h;
}

// K(x, x) + noise I on the CPU.
Eigen::MatrixXd NoisyKernel(const GpHyperparameters& h, const Eigen::MatrixXd& x) {
  EigenBackend eigen;
  Eigen::MatrixXd k;
  EXPECT_TRUE(eigen.KernelMatrix(h.Kernel(), x, x, &k).ok());
  k.diagonal().array() += h.NoiseVariance();
  return k;
}

// --- Always run ----------------------------------------------------------------------------

TEST(CudaBackendFactoryTest, AnswersAsTheMachineAllows) {
  absl::StatusOr<std::unique_ptr<LinalgBackend>> cuda = MakeCudaBackend();
  if (DeviceExpected()) {
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    ASSERT_NE(*cuda, nullptr);
    EXPECT_STREQ((*cuda)->Name(), "cuda");
  } else {
    ASSERT_FALSE(cuda.ok());
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kUnavailable) << cuda.status();
    EXPECT_TRUE(absl::StartsWith(cuda.status().message(), "CUDA backend: no usable CUDA device"))
        << cuda.status();
  }
}

TEST(CudaBackendFactoryTest, RejectsBadOptions) {
  absl::StatusOr<std::unique_ptr<LinalgBackend>> cuda = MakeCudaBackend(-1);
  EXPECT_EQ(cuda.status(),
            absl::InvalidArgumentError("CUDA backend: device -1 requested; ordinals are >= 0"));
  cuda = MakeCudaBackend(CudaBackendOptions{.block_bytes = 0});
  EXPECT_EQ(cuda.status(),
            absl::InvalidArgumentError("CUDA backend: block_bytes must be > 0; got 0"));
  cuda = MakeCudaBackend(1000);
  if (DeviceExpected()) {
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kInvalidArgument) << cuda.status();
    EXPECT_TRUE(absl::StartsWith(cuda.status().message(),
                                 "CUDA backend: device 1000 requested; this machine has "))
        << cuda.status();
  } else {
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kUnavailable) << cuda.status();
  }
}

// The selector with the real factory, for each HPT_LINALG value.
TEST(CudaBackendSelectionTest, EveryPreferenceFallsBackToEigenWithoutADevice) {
  const bool device = DeviceExpected();
  struct Case {
    const char* hpt_linalg;
    const char* default_name;  // with a device; "eigen" without
    const char* large_name;    // ForSize(10^6)
    const char* small_name;    // ForSize(10)
    size_t lines_with_device;
    size_t lines_without_device;
  };
  const Case cases[] = {
      {"cuda", "cuda", "cuda", "cuda", 0, 1},
      {"auto", "eigen", "cuda", "eigen", 0, 1},
      {"cpu", "eigen", "eigen", "eigen", 0, 0},
      {"garbage", "eigen", "eigen", "eigen", 1, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.hpt_linalg);
    ASSERT_EQ(setenv("HPT_LINALG", c.hpt_linalg, 1), 0);
    std::vector<std::string> log;
    std::unique_ptr<BackendSelector> selector = BackendSelector::FromEnvironment(
        [] { return MakeCudaBackend(); }, [&](const std::string& line) { log.push_back(line); });
    for (int repeat = 0; repeat < 3; ++repeat) {
      EXPECT_STREQ(selector->Default().Name(), device ? c.default_name : "eigen");
      EXPECT_STREQ(selector->ForSize(1000000).Name(), device ? c.large_name : "eigen");
      EXPECT_STREQ(selector->ForSize(10).Name(), device ? c.small_name : "eigen");
    }
    EXPECT_EQ(log.size(), device ? c.lines_with_device : c.lines_without_device)
        << absl::StrJoin(log, "\n");
    if (!device && std::string(c.hpt_linalg) != "garbage" && !log.empty()) {
      EXPECT_TRUE(absl::StartsWith(log.back(),
                                   "hpt: CUDA linear algebra is unavailable: UNAVAILABLE: CUDA "
                                   "backend: no usable CUDA device"))
          << log.back();
    }
  }
  ASSERT_EQ(unsetenv("HPT_LINALG"), 0);
}

// The process-wide Default() / ForSize(): no other test of this binary calls them, so the
// environment set here is the one they read. Without a device: Eigen, one line on stderr.
TEST(CudaBackendSelectionTest, ProcessWideChoiceUnderHptLinalgCuda) {
  ASSERT_EQ(setenv("HPT_LINALG", "cuda", 1), 0);
  const bool device = DeviceExpected();
  ::testing::internal::CaptureStderr();
  std::vector<std::string> names;
  for (int repeat = 0; repeat < 3; ++repeat) {
    names.push_back(LinalgBackend::Default().Name());
    names.push_back(LinalgBackend::ForSize(10).Name());
    names.push_back(LinalgBackend::ForSize(100000).Name());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(unsetenv("HPT_LINALG"), 0);
  for (const std::string& name : names) EXPECT_EQ(name, device ? "cuda" : "eigen");
  const std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
  if (device) {
    EXPECT_TRUE(lines.empty()) << err;
  } else {
    ASSERT_EQ(lines.size(), 1u) << err;
    EXPECT_TRUE(absl::StartsWith(lines[0], "hpt: CUDA linear algebra is unavailable: ")) << err;
  }
}

// --- Parity (skipped without a device) ---------------------------------------------------------

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LinalgBackend>> cuda = MakeCudaBackend();
    if (!cuda.ok() && cuda.status().code() == absl::StatusCode::kUnavailable && !DeviceExpected()) {
      GTEST_SKIP() << "no CUDA device: " << cuda.status();
    }
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    gpu_ = std::move(*cuda);
  }

  EigenBackend cpu_;
  std::unique_ptr<LinalgBackend> gpu_;
};

class CudaParityBySizeTest : public CudaParityTest, public ::testing::WithParamInterface<int> {};

INSTANTIATE_TEST_SUITE_P(Sizes, CudaParityBySizeTest, ::testing::Values(10, 500, 5000),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat("n", info.param);
                         });

TEST_P(CudaParityBySizeTest, KernelMatrices) {
  const int n = GetParam();
  const int d = 4;
  const Eigen::MatrixXd x = RandomPoints(n, d, 1);
  const Eigen::MatrixXd z = RandomPoints(777, d, 2);
  for (KernelType t : kKernels) {
    SCOPED_TRACE(KernelTypeName(t));
    const KernelParams k = Hyper(t, d).Kernel();
    Eigen::MatrixXd cpu, gpu;
    ASSERT_TRUE(cpu_.KernelMatrix(k, x, z, &cpu).ok());
    ASSERT_TRUE(gpu_->KernelMatrix(k, x, z, &gpu).ok());
    EXPECT_TRUE(Agree(gpu, cpu));
    ASSERT_TRUE(cpu_.KernelMatrix(k, z, x, &cpu).ok());
    ASSERT_TRUE(gpu_->KernelMatrix(k, z, x, &gpu).ok());
    EXPECT_TRUE(Agree(gpu, cpu));
    if (n <= 500) {
      ASSERT_TRUE(cpu_.KernelMatrix(k, x, x, &cpu).ok());
      ASSERT_TRUE(gpu_->KernelMatrix(k, x, x, &gpu).ok());
      EXPECT_TRUE(Agree(gpu, cpu));
    }
  }
}

TEST_P(CudaParityBySizeTest, CholeskyAndSolves) {
  const int n = GetParam();
  const Eigen::MatrixXd x = RandomPoints(n, 4, 3);
  const Eigen::MatrixXd k = NoisyKernel(Hyper(KernelType::kMatern52, 4), x);
  Eigen::MatrixXd cpu, gpu;
  double cpu_jitter = -1, gpu_jitter = -1;
  ASSERT_TRUE(cpu_.Cholesky(k, &cpu, &cpu_jitter).ok());
  ASSERT_TRUE(gpu_->Cholesky(k, &gpu, &gpu_jitter).ok());
  EXPECT_EQ(gpu_jitter, 0);
  EXPECT_EQ(cpu_jitter, 0);
  EXPECT_TRUE(Agree(gpu, cpu));
  EXPECT_TRUE(gpu.isLowerTriangular(0.0));  // exact zeros above the diagonal

  const Eigen::MatrixXd& lower = cpu;
  const Eigen::MatrixXd upper = lower.transpose();
  const Eigen::MatrixXd b = RandomPoints(n, 3, 4).array() - 0.5;
  Eigen::MatrixXd cpu_x, gpu_x;
  ASSERT_TRUE(cpu_.SolveLower(lower, b, &cpu_x).ok());
  ASSERT_TRUE(gpu_->SolveLower(lower, b, &gpu_x).ok());
  EXPECT_TRUE(Agree(gpu_x, cpu_x));
  ASSERT_TRUE(cpu_.SolveUpper(upper, b, &cpu_x).ok());
  ASSERT_TRUE(gpu_->SolveUpper(upper, b, &gpu_x).ok());
  EXPECT_TRUE(Agree(gpu_x, cpu_x));
  ASSERT_TRUE(cpu_.CholeskySolve(lower, b, &cpu_x).ok());
  ASSERT_TRUE(gpu_->CholeskySolve(lower, b, &gpu_x).ok());
  EXPECT_TRUE(Agree(gpu_x, cpu_x));
}

TEST_P(CudaParityBySizeTest, LikelihoodAndGradient) {
  const int n = GetParam();
  const int d = 3;
  const Eigen::MatrixXd x = RandomPoints(n, d, 5);
  const Eigen::VectorXd y = Values(x);
  for (KernelType t : kKernels) {
    if (n > 500 && t != KernelType::kMatern52) continue;  // the CPU side costs seconds per call
    SCOPED_TRACE(KernelTypeName(t));
    const GpHyperparameters h = Hyper(t, d);
    double cpu_value = 0, gpu_value = 0;
    Eigen::VectorXd cpu_gradient, gpu_gradient;
    ASSERT_TRUE(cpu_.NegLogMarginalLikelihood(h, x, y, &cpu_value, &cpu_gradient).ok());
    ASSERT_TRUE(gpu_->NegLogMarginalLikelihood(h, x, y, &gpu_value, &gpu_gradient).ok());
    EXPECT_TRUE(AgreeScalar(gpu_value, cpu_value));
    ASSERT_EQ(gpu_gradient.size(), h.PackedSize());
    EXPECT_TRUE(Agree(gpu_gradient, cpu_gradient));
    double value_only = 0;
    ASSERT_TRUE(gpu_->NegLogMarginalLikelihood(h, x, y, &value_only, nullptr).ok());
    EXPECT_EQ(value_only, gpu_value);  // deterministic
    Eigen::VectorXd again;
    ASSERT_TRUE(gpu_->NegLogMarginalLikelihood(h, x, y, &value_only, &again).ok());
    EXPECT_EQ(again, gpu_gradient);  // bit for bit: the fit relies on it
  }
}

TEST_P(CudaParityBySizeTest, Posterior) {
  const int n = GetParam();
  const int d = 4;
  const GpHyperparameters h = Hyper(KernelType::kMatern52, d);
  PosteriorFactor f{.kernel = h.Kernel(), .mean = h.mean, .x = RandomPoints(n, d, 6)};
  ASSERT_TRUE(cpu_.Cholesky(NoisyKernel(h, f.x), &f.lower, nullptr).ok());
  Eigen::MatrixXd alpha;
  ASSERT_TRUE(cpu_.CholeskySolve(f.lower, (Values(f.x).array() - h.mean).matrix(), &alpha).ok());
  f.alpha = alpha.col(0);
  Eigen::MatrixXd z = RandomPoints(3000, d, 7);
  z.topRows(5) = f.x.topRows(5);  // candidates on training points: variance near the noise
  Eigen::VectorXd cpu_mean, cpu_var, gpu_mean, gpu_var;
  ASSERT_TRUE(cpu_.Posterior(f, z, &cpu_mean, &cpu_var).ok());
  ASSERT_TRUE(gpu_->Posterior(f, z, &gpu_mean, &gpu_var).ok());
  EXPECT_TRUE(Agree(gpu_mean, cpu_mean));
  // Variances are s - |v|^2: compared relative to s, the size of the terms that cancel.
  EXPECT_TRUE(Agree(gpu_var, cpu_var, kTolerance, f.kernel.signal_variance));
  EXPECT_GE(gpu_var.minCoeff(), 0);
}

TEST_F(CudaParityTest, JitterIsTheCpusToTheBit) {
  // Block-diagonal copies of ones(2, 2): every second pivot is exactly 0 on both sides, and the
  // first jitter (1e-10 * mean |diag| = 1e-10) is enough.
  for (int n : {2, 10, 500}) {
    SCOPED_TRACE(n);
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(n, n);
    for (int i = 0; i + 1 < n; i += 2) a.block(i, i, 2, 2).setOnes();
    Eigen::MatrixXd cpu, gpu;
    double cpu_jitter = -1, gpu_jitter = -1;
    ASSERT_TRUE(cpu_.Cholesky(a, &cpu, &cpu_jitter).ok());
    ASSERT_TRUE(gpu_->Cholesky(a, &gpu, &gpu_jitter).ok());
    EXPECT_EQ(cpu_jitter, 1e-10);
    EXPECT_EQ(gpu_jitter, cpu_jitter);
    EXPECT_TRUE(Agree(gpu, cpu));
  }
  // Zeros: a scale of 1.
  Eigen::MatrixXd lower;
  double jitter = -1;
  ASSERT_TRUE(gpu_->Cholesky(Eigen::MatrixXd::Zero(3, 3), &lower, &jitter).ok());
  EXPECT_EQ(jitter, 1e-10);
  // 100 * ones(3, 3): a larger scale, the same schedule on both sides.
  double cpu_jitter = -1;
  Eigen::MatrixXd cpu;
  ASSERT_TRUE(cpu_.Cholesky(100 * Eigen::MatrixXd::Ones(3, 3), &cpu, &cpu_jitter).ok());
  ASSERT_TRUE(gpu_->Cholesky(100 * Eigen::MatrixXd::Ones(3, 3), &lower, &jitter).ok());
  EXPECT_EQ(jitter, cpu_jitter);
  EXPECT_TRUE(Agree(lower, cpu, 1e-6));  // a factor of a matrix with a 1e-8 pivot
}

TEST_F(CudaParityTest, NotPositiveDefiniteIsTheSameFailedPrecondition) {
  Eigen::MatrixXd small(2, 2);
  small << 1, 2, 2, 1;  // eigenvalues 3 and -1
  Eigen::MatrixXd large = Eigen::MatrixXd::Identity(500, 500);
  large(250, 250) = -1;
  for (const Eigen::MatrixXd& a : {small, large}) {
    Eigen::MatrixXd lower;
    const absl::Status cpu = cpu_.Cholesky(a, &lower, nullptr);
    const absl::Status gpu = gpu_->Cholesky(a, &lower, nullptr);
    EXPECT_EQ(cpu.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(gpu, cpu);
  }
  Eigen::MatrixXd lower;
  EXPECT_EQ(gpu_->Cholesky(small, &lower, nullptr).message(),
            "Cholesky failed: the 2x2 matrix is not positive definite, even with jitter 1e-05 "
            "added to its diagonal (6 tries)");
}

TEST_F(CudaParityTest, LikelihoodOfARankOneKernelMatrixUsesTheSameJitter) {
  // Every input at the origin, s = 1 and no noise: r2 = 0 exactly, K = ones(n), every pivot after
  // the first exactly 0 on both sides; the first jitter (1e-10) makes it factor.
  GpHyperparameters h = Hyper(KernelType::kMatern52, 2);
  h.log_signal_variance = 0;
  h.log_noise_variance = -1000;  // exp() underflows to 0
  const Eigen::MatrixXd x = Eigen::MatrixXd::Zero(4, 2);
  const Eigen::VectorXd y = Eigen::VectorXd::LinSpaced(4, -1, 1) * 1e-6;
  double cpu_value = 0, gpu_value = 0;
  Eigen::VectorXd cpu_gradient, gpu_gradient;
  ASSERT_TRUE(cpu_.NegLogMarginalLikelihood(h, x, y, &cpu_value, &cpu_gradient).ok());
  ASSERT_TRUE(gpu_->NegLogMarginalLikelihood(h, x, y, &gpu_value, &gpu_gradient).ok());
  // Pivots of ~2e-10 s carry relative rounding errors of ~1e-6.
  EXPECT_TRUE(AgreeScalar(gpu_value, cpu_value, 1e-6));
  EXPECT_TRUE(Agree(gpu_gradient, cpu_gradient, 1e-4));
}

TEST_F(CudaParityTest, ErrorsAreTheCpusStatusForStatus) {
  const Eigen::MatrixXd x = RandomPoints(5, 2, 9);
  const Eigen::MatrixXd k = NoisyKernel(Hyper(KernelType::kMatern52, 2), x);
  Eigen::MatrixXd nan = k;
  nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  Eigen::MatrixXd asymmetric = k;
  asymmetric(0, 4) += 0.25;
  Eigen::MatrixXd singular = Eigen::MatrixXd::Identity(5, 5);
  singular(3, 3) = 0;
  Eigen::MatrixXd out;
  Eigen::VectorXd mean, variance;
  double value = 0;

  auto both = [&](const std::function<absl::Status(LinalgBackend&)>& call) {
    const absl::Status cpu = call(cpu_);
    const absl::Status gpu = call(*gpu_);
    EXPECT_FALSE(cpu.ok());
    EXPECT_EQ(gpu, cpu);
  };
  // Cholesky.
  both([&](LinalgBackend& la) { return la.Cholesky(Eigen::MatrixXd::Ones(2, 3), &out, nullptr); });
  both([&](LinalgBackend& la) { return la.Cholesky(nan, &out, nullptr); });
  both([&](LinalgBackend& la) { return la.Cholesky(asymmetric, &out, nullptr); });
  both([&](LinalgBackend& la) { return la.Cholesky(k, nullptr, nullptr); });
  // Solves.
  both([&](LinalgBackend& la) { return la.SolveLower(k, Eigen::MatrixXd::Ones(4, 1), &out); });
  both([&](LinalgBackend& la) {
    return la.SolveUpper(singular, Eigen::MatrixXd::Ones(5, 2), &out);
  });
  both([&](LinalgBackend& la) {
    return la.CholeskySolve(singular, Eigen::MatrixXd::Ones(5, 1), &out);
  });
  both(
      [&](LinalgBackend& la) { return la.CholeskySolve(k, Eigen::MatrixXd::Ones(5, 1), nullptr); });
  // Kernel matrices.
  KernelParams kernel = Hyper(KernelType::kRbf, 2).Kernel();
  both([&](LinalgBackend& la) { return la.KernelMatrix(kernel, x, RandomPoints(3, 3, 1), &out); });
  both([&](LinalgBackend& la) { return la.KernelMatrix(kernel, x, nan.leftCols(2), &out); });
  both([&](LinalgBackend& la) { return la.KernelMatrix(kernel, x, x, nullptr); });
  KernelParams bad = kernel;
  bad.lengthscales(1) = 0;
  both([&](LinalgBackend& la) { return la.KernelMatrix(bad, x, x, &out); });
  bad = kernel;
  bad.signal_variance = std::numeric_limits<double>::infinity();
  both([&](LinalgBackend& la) { return la.KernelMatrix(bad, x, x, &out); });
  // The likelihood.
  GpHyperparameters h = Hyper(KernelType::kMatern32, 2);
  const Eigen::VectorXd y = Values(x);
  both([&](LinalgBackend& la) { return la.NegLogMarginalLikelihood(h, x, y, nullptr, nullptr); });
  both([&](LinalgBackend& la) {
    return la.NegLogMarginalLikelihood(h, x, y.head(4), &value, nullptr);
  });
  both([&](LinalgBackend& la) {
    return la.NegLogMarginalLikelihood(h, Eigen::MatrixXd(0, 2), Eigen::VectorXd(0), &value,
                                       nullptr);
  });
  both([&](LinalgBackend& la) {
    return la.NegLogMarginalLikelihood(Hyper(KernelType::kMatern32, 3), x, y, &value, nullptr);
  });
  GpHyperparameters nan_mean = h;
  nan_mean.mean = std::numeric_limits<double>::quiet_NaN();
  both([&](LinalgBackend& la) {
    return la.NegLogMarginalLikelihood(nan_mean, x, y, &value, nullptr);
  });
  // The posterior.
  PosteriorFactor f{.kernel = h.Kernel(), .mean = 0, .x = x};
  f.lower = Eigen::MatrixXd::Identity(5, 5);
  f.alpha = Eigen::VectorXd::Zero(4);  // inconsistent
  both([&](LinalgBackend& la) { return la.Posterior(f, x, &mean, &variance); });
  f.alpha = Eigen::VectorXd::Zero(5);
  both([&](LinalgBackend& la) { return la.Posterior(f, RandomPoints(3, 3, 2), &mean, &variance); });
  both([&](LinalgBackend& la) { return la.Posterior(f, nan.leftCols(2), &mean, &variance); });
  both([&](LinalgBackend& la) { return la.Posterior(f, x, nullptr, &variance); });
  f.kernel.lengthscales(0) = -1;
  both([&](LinalgBackend& la) { return la.Posterior(f, x, &mean, &variance); });
}

TEST_F(CudaParityTest, EmptyShapesAnswerLikeTheCpu) {
  Eigen::MatrixXd out;
  ASSERT_TRUE(gpu_->Cholesky(Eigen::MatrixXd(0, 0), &out, nullptr).ok());
  EXPECT_EQ(out.size(), 0);
  ASSERT_TRUE(gpu_->SolveLower(Eigen::MatrixXd::Identity(3, 3), Eigen::MatrixXd(3, 0), &out).ok());
  EXPECT_EQ(out.rows(), 3);
  EXPECT_EQ(out.cols(), 0);
  const KernelParams k = Hyper(KernelType::kMatern52, 2).Kernel();
  ASSERT_TRUE(gpu_->KernelMatrix(k, Eigen::MatrixXd(0, 2), RandomPoints(4, 2, 1), &out).ok());
  EXPECT_EQ(out.rows(), 0);
  EXPECT_EQ(out.cols(), 4);
  // Zero input dimensions: r2 = 0, every entry is the signal variance.
  const KernelParams k0{
      .type = KernelType::kRbf, .lengthscales = Eigen::VectorXd(0), .signal_variance = 2.5};
  ASSERT_TRUE(gpu_->KernelMatrix(k0, Eigen::MatrixXd(3, 0), Eigen::MatrixXd(2, 0), &out).ok());
  EXPECT_EQ(out, Eigen::MatrixXd::Constant(3, 2, 2.5));
  // No training points: the prior. No candidates: empty outputs.
  PosteriorFactor prior{.kernel = k,
                        .mean = 0.7,
                        .x = Eigen::MatrixXd(0, 2),
                        .lower = Eigen::MatrixXd(0, 0),
                        .alpha = Eigen::VectorXd(0)};
  Eigen::VectorXd mean, variance;
  ASSERT_TRUE(gpu_->Posterior(prior, RandomPoints(3, 2, 1), &mean, &variance).ok());
  EXPECT_EQ(mean, Eigen::VectorXd::Constant(3, 0.7));
  EXPECT_EQ(variance, Eigen::VectorXd::Constant(3, k.signal_variance));
  ASSERT_TRUE(gpu_->Posterior(prior, Eigen::MatrixXd(0, 2), &mean, &variance).ok());
  EXPECT_EQ(mean.size(), 0);
  EXPECT_EQ(variance.size(), 0);
}

TEST_F(CudaParityTest, SmallBlocksAndAliasedOutputsGiveTheSameResults) {
  const int n = 300;
  const int d = 3;
  // 7 columns of n rows per block: every blocked loop runs many times, with a short last block.
  absl::StatusOr<std::unique_ptr<LinalgBackend>> blocked =
      MakeCudaBackend(CudaBackendOptions{.block_bytes = 7 * n * 8});
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  const GpHyperparameters h = Hyper(KernelType::kMatern32, d);
  PosteriorFactor f{.kernel = h.Kernel(), .mean = h.mean, .x = RandomPoints(n, d, 11)};
  const Eigen::MatrixXd k = NoisyKernel(h, f.x);
  ASSERT_TRUE(cpu_.Cholesky(k, &f.lower, nullptr).ok());
  Eigen::MatrixXd alpha;
  ASSERT_TRUE(
      cpu_.CholeskySolve(f.lower, Values(f.x) - Eigen::VectorXd::Constant(n, h.mean), &alpha).ok());
  f.alpha = alpha.col(0);
  const Eigen::MatrixXd z = RandomPoints(200, d, 12);
  Eigen::VectorXd cpu_mean, cpu_var, gpu_mean, gpu_var;
  ASSERT_TRUE(cpu_.Posterior(f, z, &cpu_mean, &cpu_var).ok());
  ASSERT_TRUE((*blocked)->Posterior(f, z, &gpu_mean, &gpu_var).ok());
  EXPECT_TRUE(Agree(gpu_mean, cpu_mean));
  EXPECT_TRUE(Agree(gpu_var, cpu_var, kTolerance, f.kernel.signal_variance));

  Eigen::MatrixXd cpu, gpu;
  ASSERT_TRUE(cpu_.KernelMatrix(f.kernel, f.x, z, &cpu).ok());
  ASSERT_TRUE((*blocked)->KernelMatrix(f.kernel, f.x, z, &gpu).ok());
  EXPECT_TRUE(Agree(gpu, cpu));

  const Eigen::MatrixXd b = RandomPoints(n, 20, 13);
  ASSERT_TRUE(cpu_.CholeskySolve(f.lower, b, &cpu).ok());
  Eigen::MatrixXd aliased = b;  // x aliases b
  ASSERT_TRUE((*blocked)->CholeskySolve(f.lower, aliased, &aliased).ok());
  EXPECT_TRUE(Agree(aliased, cpu));
  Eigen::MatrixXd factor = f.lower;  // x aliases the triangular matrix
  ASSERT_TRUE((*blocked)->SolveLower(factor, Eigen::MatrixXd(f.lower), &factor).ok());
  EXPECT_TRUE(Agree(factor, Eigen::MatrixXd::Identity(n, n), kTolerance, 1));
  Eigen::MatrixXd in_place = k;  // lower aliases a
  ASSERT_TRUE((*blocked)->Cholesky(in_place, &in_place, nullptr).ok());
  EXPECT_TRUE(Agree(in_place, f.lower));
  Eigen::MatrixXd points = f.x;  // out aliases both inputs
  ASSERT_TRUE((*blocked)->KernelMatrix(f.kernel, points, points, &points).ok());
  ASSERT_TRUE(cpu_.KernelMatrix(f.kernel, f.x, f.x, &cpu).ok());
  EXPECT_TRUE(Agree(points, cpu));
}

// The GP code of suggest/gp/ on both backends: a full hyperparameter fit (every likelihood
// evaluation on the backend under test) and the model's posterior.
TEST_F(CudaParityTest, HyperparameterFitAndModelPredictionsAgree) {
  const int n = 2000;
  const int d = 4;
  const Eigen::MatrixXd x = RandomPoints(n, d, 21);
  const Eigen::VectorXd y = (Values(x).array() - Values(x).mean()) / 0.5;
  const gp::GpFitOptions options{
      .restarts = 0, .max_evaluations = 12, .max_fit_points = n, .seed = 5};
  absl::StatusOr<GpHyperparameters> cpu_h = gp::FitHyperparameters(cpu_, x, y, options);
  absl::StatusOr<GpHyperparameters> gpu_h = gp::FitHyperparameters(*gpu_, x, y, options);
  ASSERT_TRUE(cpu_h.ok()) << cpu_h.status();
  ASSERT_TRUE(gpu_h.ok()) << gpu_h.status();
  // L-BFGS from the same start on likelihoods that agree to ~1e-12 follows the same path; its
  // stopping rule (xtol 1e-7), not the arithmetic, bounds how far the end points may differ.
  EXPECT_TRUE(Agree(gpu_h->Pack(), cpu_h->Pack(), 1e-6));
  double cpu_at_cpu = 0, cpu_at_gpu = 0;
  ASSERT_TRUE(cpu_.NegLogMarginalLikelihood(*cpu_h, x, y, &cpu_at_cpu, nullptr).ok());
  ASSERT_TRUE(cpu_.NegLogMarginalLikelihood(*gpu_h, x, y, &cpu_at_gpu, nullptr).ok());
  EXPECT_TRUE(AgreeScalar(cpu_at_gpu + gp::NegLogPrior(*gpu_h, nullptr),
                          cpu_at_cpu + gp::NegLogPrior(*cpu_h, nullptr)));

  // The model with the same hyperparameters, at n = 5,000.
  const Eigen::MatrixXd big_x = RandomPoints(5000, d, 22);
  const Eigen::VectorXd big_y = Values(big_x);
  absl::StatusOr<gp::GpModel> cpu_model = gp::GpModel::Create(cpu_, big_x, big_y, *cpu_h);
  absl::StatusOr<gp::GpModel> gpu_model = gp::GpModel::Create(*gpu_, big_x, big_y, *cpu_h);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.status();
  ASSERT_TRUE(gpu_model.ok()) << gpu_model.status();
  const Eigen::MatrixXd z = RandomPoints(2000, d, 23);
  Eigen::VectorXd cpu_mean, cpu_var, gpu_mean, gpu_var;
  ASSERT_TRUE(cpu_model->Predict(z, &cpu_mean, &cpu_var).ok());
  ASSERT_TRUE(gpu_model->Predict(z, &gpu_mean, &gpu_var).ok());
  EXPECT_TRUE(Agree(gpu_mean, cpu_mean));
  EXPECT_TRUE(Agree(gpu_var, cpu_var, kTolerance, std::exp(cpu_h->log_signal_variance)));
  double cpu_m = 0, cpu_v = 0, gpu_m = 0, gpu_v = 0;
  Eigen::VectorXd cpu_dm, cpu_dv, gpu_dm, gpu_dv;
  const Eigen::VectorXd point = z.row(0).transpose();
  ASSERT_TRUE(cpu_model->PredictWithGradient(point, &cpu_m, &cpu_v, &cpu_dm, &cpu_dv).ok());
  ASSERT_TRUE(gpu_model->PredictWithGradient(point, &gpu_m, &gpu_v, &gpu_dm, &gpu_dv).ok());
  EXPECT_TRUE(AgreeScalar(gpu_m, cpu_m));
  EXPECT_TRUE(Agree(gpu_dm, cpu_dm));
  EXPECT_TRUE(Agree(gpu_dv, cpu_dv, 1e-6));  // -2 k^T K^-1 dk: cancels like the variance
}

}  // namespace
}  // namespace hpt::suggest::linalg
