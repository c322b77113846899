// FallbackBackend (fallback_backend.h) with a scripted primary: which errors rerun a call on the
// fallback, which ones switch to it for good, which ones come back as they are, and the one log
// line of each kind. Runs in every build (no CUDA needed).
#include "suggest/linalg/fallback_backend.h"

#include <memory>
#include <string>
#include <vector>

#include "fake_linalg_backend.h"
#include "gtest/gtest.h"
#include "suggest/linalg/eigen_backend.h"

namespace hpt::suggest::linalg {
namespace {

class FallbackBackendTest : public ::testing::Test {
 protected:
  FallbackBackendTest() {
    auto primary = std::make_unique<FakeLinalgBackend>();
    primary_ = primary.get();
    backend_ = std::make_unique<FallbackBackend>(
        std::move(primary), &fallback_, [this](const std::string& line) { log_.push_back(line); });
  }

  // A Cholesky call through the backend, with a 2x2 SPD matrix the fallback can factor.
  absl::Status Factor(Eigen::MatrixXd* lower) {
    Eigen::MatrixXd a(2, 2);
    a << 4, 2, 2, 5;
    return backend_->Cholesky(a, lower, nullptr);
  }

  FakeLinalgBackend* primary_;
  FakeLinalgBackend fallback_{"fake-cpu"};
  std::vector<std::string> log_;
  std::unique_ptr<FallbackBackend> backend_;
};

TEST_F(FallbackBackendTest, OkCallsStayOnThePrimary) {
  EXPECT_STREQ(backend_->Name(), "fake-cuda");
  Eigen::MatrixXd lower;
  ASSERT_TRUE(Factor(&lower).ok());
  EXPECT_EQ(primary_->calls(), 1);
  EXPECT_EQ(fallback_.calls(), 0);
  EXPECT_TRUE(log_.empty());
  EXPECT_FALSE(backend_->primary_disabled());
}

TEST_F(FallbackBackendTest, ContractErrorsComeBackWithoutAFallback) {
  for (absl::Status s : {absl::InvalidArgumentError("bad shape"),
                         absl::FailedPreconditionError("not positive definite")}) {
    primary_->set_status(s);
    Eigen::MatrixXd lower;
    EXPECT_EQ(Factor(&lower), s);
  }
  EXPECT_EQ(primary_->calls(), 2);
  EXPECT_EQ(fallback_.calls(), 0);
  EXPECT_TRUE(log_.empty());
}

TEST_F(FallbackBackendTest, OutOfMemoryRerunsEachSuchCallOnTheFallbackAndLogsOnce) {
  primary_->set_status(absl::ResourceExhaustedError("cudaMalloc of 8 GB"));
  Eigen::MatrixXd x;
  Eigen::VectorXd mean, variance;
  ASSERT_TRUE(backend_->SolveLower(Eigen::MatrixXd(), Eigen::MatrixXd(), &x).ok());
  EXPECT_EQ(x(0, 0), FakeLinalgBackend::kMarker);  // the fallback's answer
  ASSERT_TRUE(backend_->Posterior(PosteriorFactor(), Eigen::MatrixXd(), &mean, &variance).ok());
  EXPECT_EQ(primary_->calls(), 2);
  EXPECT_EQ(fallback_.calls(), 2);
  EXPECT_FALSE(backend_->primary_disabled());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0],
            "hpt: the fake-cuda linear-algebra backend ran out of memory in SolveLower "
            "(RESOURCE_EXHAUSTED: cudaMalloc of 8 GB); such calls rerun on the fake-cpu backend");
  // A later call that fits runs on the primary again.
  primary_->set_status(absl::OkStatus());
  ASSERT_TRUE(backend_->CholeskySolve(Eigen::MatrixXd(), Eigen::MatrixXd(), &x).ok());
  EXPECT_EQ(primary_->calls(), 3);
  EXPECT_EQ(fallback_.calls(), 2);
}

TEST_F(FallbackBackendTest, ADeviceFailureSwitchesToTheFallbackForGood) {
  primary_->set_status(absl::InternalError("CUDA backend: cublasDgemm failed"));
  Eigen::MatrixXd out;
  ASSERT_TRUE(
      backend_->KernelMatrix(KernelParams(), Eigen::MatrixXd(), Eigen::MatrixXd(), &out).ok());
  EXPECT_TRUE(backend_->primary_disabled());
  primary_->set_status(absl::OkStatus());  // even if the primary would answer now
  double value = 0;
  Eigen::VectorXd gradient;
  ASSERT_TRUE(backend_
                  ->NegLogMarginalLikelihood(GpHyperparameters(), Eigen::MatrixXd(),
                                             Eigen::VectorXd(), &value, &gradient)
                  .ok());
  ASSERT_TRUE(backend_->SolveUpper(Eigen::MatrixXd(), Eigen::MatrixXd(), &out).ok());
  EXPECT_EQ(primary_->calls(), 1);
  EXPECT_EQ(fallback_.calls(), 3);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0],
            "hpt: the fake-cuda linear-algebra backend failed in KernelMatrix (INTERNAL: CUDA "
            "backend: cublasDgemm failed); using the fake-cpu backend from now on");
}

TEST_F(FallbackBackendTest, UnavailableAlsoSwitchesAndTheFallbacksErrorIsReturned) {
  primary_->set_status(absl::UnavailableError("device lost"));
  fallback_.set_status(absl::InvalidArgumentError("the fallback's own answer"));
  Eigen::MatrixXd lower;
  EXPECT_EQ(Factor(&lower), absl::InvalidArgumentError("the fallback's own answer"));
  EXPECT_TRUE(backend_->primary_disabled());
  EXPECT_EQ(log_.size(), 1u);
}

TEST(FallbackBackendOverEigenTest, TheFallbackGivesTheEigenResult) {
  auto primary = std::make_unique<FakeLinalgBackend>();
  primary->set_status(absl::ResourceExhaustedError("out of memory"));
  EigenBackend eigen;
  FallbackBackend backend(std::move(primary), &eigen, nullptr);  // a null log is allowed
  Eigen::MatrixXd a(2, 2);
  a << 4, 2, 2, 5;
  Eigen::MatrixXd lower;
  double jitter = -1;
  ASSERT_TRUE(backend.Cholesky(a, &lower, &jitter).ok());
  EXPECT_EQ(jitter, 0);
  EXPECT_DOUBLE_EQ(lower(0, 0), 2);
  EXPECT_DOUBLE_EQ(lower(1, 0), 1);
  EXPECT_DOUBLE_EQ(lower(1, 1), 2);
  EXPECT_EQ(lower(0, 1), 0);
}

}  // namespace
}  // namespace hpt::suggest::linalg
