#include <Eigen/Core>
#include <limits>

#include "gtest/gtest.h"
#include "suggest/linalg/backend.h"
#include "suggest/linalg/eigen_backend.h"

namespace hpt::suggest::linalg {
namespace {

Eigen::MatrixXd Spd3() {
  Eigen::MatrixXd a(3, 3);
  a << 4, 2, 0.6,  //
      2, 5, 1,     //
      0.6, 1, 3;
  return a;
}

TEST(LinalgBackendTest, DefaultIsTheEigenBackend) {
  EXPECT_STREQ(LinalgBackend::Default().Name(), "eigen");
  EXPECT_EQ(&LinalgBackend::Default(), &LinalgBackend::Default());
}

TEST(LinalgBackendTest, CholeskyOfAnSpdMatrixNeedsNoJitter) {
  EigenBackend la;
  const Eigen::MatrixXd a = Spd3();
  Eigen::MatrixXd lower;
  double jitter = -1;
  ASSERT_TRUE(la.Cholesky(a, &lower, &jitter).ok());
  EXPECT_EQ(jitter, 0);
  ASSERT_EQ(lower.rows(), 3);
  ASSERT_EQ(lower.cols(), 3);
  EXPECT_TRUE(lower.isLowerTriangular());
  EXPECT_DOUBLE_EQ(lower(0, 0), 2);  // sqrt(4)
  EXPECT_DOUBLE_EQ(lower(1, 0), 1);  // 2 / 2
  EXPECT_DOUBLE_EQ(lower(1, 1), 2);  // sqrt(5 - 1)
  EXPECT_LT((lower * lower.transpose() - a).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_TRUE(la.Cholesky(a, &lower, nullptr).ok());  // jitter_used may be null
}

TEST(LinalgBackendTest, SingularPsdMatrixIsFactoredWithTheSmallestJitter) {
  EigenBackend la;
  Eigen::MatrixXd a = Eigen::MatrixXd::Ones(2, 2);  // rank 1: the second pivot is exactly 0
  Eigen::MatrixXd lower;
  double jitter = -1;
  ASSERT_TRUE(la.Cholesky(a, &lower, &jitter).ok());
  EXPECT_DOUBLE_EQ(jitter, 1e-10);  // 1e-10 * mean(diag) = 1e-10
  Eigen::MatrixXd shifted = a;
  shifted.diagonal().array() += jitter;
  EXPECT_LT((lower * lower.transpose() - shifted).cwiseAbs().maxCoeff(), 1e-12);

  // The jitter scales with the diagonal.
  a = 100 * Eigen::MatrixXd::Ones(3, 3);
  ASSERT_TRUE(la.Cholesky(a, &lower, &jitter).ok());
  EXPECT_GE(jitter, 1e-8 * (1 - 1e-12));
  EXPECT_LE(jitter, 1e-3);
  EXPECT_TRUE(lower.allFinite());

  // An all-zero matrix uses a scale of 1.
  ASSERT_TRUE(la.Cholesky(Eigen::MatrixXd::Zero(2, 2), &lower, &jitter).ok());
  EXPECT_DOUBLE_EQ(jitter, 1e-10);
}

TEST(LinalgBackendTest, NonPsdMatrixFailsWithFailedPrecondition) {
  EigenBackend la;
  Eigen::MatrixXd a(2, 2);
  a << 1, 2, 2, 1;  // eigenvalues 3 and -1
  Eigen::MatrixXd lower;
  double jitter = -1;
  absl::Status s = la.Cholesky(a, &lower, &jitter);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "Cholesky failed: the 2x2 matrix is not positive definite, even with jitter 1e-05 "
            "added to its diagonal (6 tries)");
}

TEST(LinalgBackendTest, CholeskyRejectsBadInput) {
  EigenBackend la;
  Eigen::MatrixXd lower;
  absl::Status s = la.Cholesky(Eigen::MatrixXd::Ones(2, 3), &lower, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Cholesky needs a square matrix; got 2x3");

  Eigen::MatrixXd nan = Spd3();
  nan(1, 1) = std::numeric_limits<double>::quiet_NaN();
  s = la.Cholesky(nan, &lower, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Cholesky: the 3x3 matrix holds NaN or infinity");

  Eigen::MatrixXd asym = Spd3();
  asym(0, 2) = 1;
  s = la.Cholesky(asym, &lower, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Cholesky: the 3x3 matrix is not symmetric (largest |a - a^T| entry 0.4)");

  EXPECT_EQ(la.Cholesky(Spd3(), nullptr, nullptr).code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(la.Cholesky(Eigen::MatrixXd(0, 0), &lower, nullptr).ok());
  EXPECT_EQ(lower.size(), 0);
}

TEST(LinalgBackendTest, TriangularSolvesWithAMatrixRightHandSide) {
  EigenBackend la;
  Eigen::MatrixXd lower;
  ASSERT_TRUE(la.Cholesky(Spd3(), &lower, nullptr).ok());
  Eigen::MatrixXd b(3, 2);
  b << 1, 0,  //
      2, -1,  //
      3, 4;
  Eigen::MatrixXd x;
  ASSERT_TRUE(la.SolveLower(lower, b, &x).ok());
  EXPECT_LT((lower * x - b).cwiseAbs().maxCoeff(), 1e-12);

  const Eigen::MatrixXd upper = lower.transpose();
  ASSERT_TRUE(la.SolveUpper(upper, b, &x).ok());
  EXPECT_LT((upper * x - b).cwiseAbs().maxCoeff(), 1e-12);

  ASSERT_TRUE(la.CholeskySolve(lower, b, &x).ok());
  EXPECT_LT((Spd3() * x - b).cwiseAbs().maxCoeff(), 1e-12);

  // Only the named triangle is read.
  Eigen::MatrixXd dirty = lower;
  dirty(0, 2) = 99;
  ASSERT_TRUE(la.SolveLower(dirty, b, &x).ok());
  EXPECT_LT((lower * x - b).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(LinalgBackendTest, SolvesRejectBadShapesAndSingularFactors) {
  EigenBackend la;
  Eigen::MatrixXd x;
  absl::Status s = la.SolveLower(Eigen::MatrixXd::Identity(3, 3), Eigen::MatrixXd::Ones(2, 1), &x);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      "SolveLower: needs a square n x n matrix and an n-row right-hand side; got 3x3 and 2x1");
  s = la.CholeskySolve(Eigen::MatrixXd::Identity(2, 3), Eigen::MatrixXd::Ones(2, 1), &x);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  Eigen::MatrixXd singular = Eigen::MatrixXd::Identity(3, 3);
  singular(1, 1) = 0;
  s = la.SolveUpper(singular, Eigen::MatrixXd::Ones(3, 1), &x);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "SolveUpper: the 3x3 triangular matrix is singular: diagonal entry 1 is 0");
  EXPECT_EQ(
      la.SolveLower(Eigen::MatrixXd::Identity(2, 2), Eigen::MatrixXd::Ones(2, 1), nullptr).code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hpt::suggest::linalg
