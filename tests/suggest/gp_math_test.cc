// The GP math against closed forms and finite differences: kernels, the log marginal likelihood
// and its gradient, the posterior and its gradient, fantasies, the hyperparameter fit and the
// acquisition functions.
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>
#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "suggest/gp/acquisition.h"
#include "suggest/gp/gp_model.h"
#include "suggest/gp/output_transform.h"
#include "suggest/linalg/backend.h"
#include "suggest/linalg/eigen_backend.h"
#include "suggest/linalg/kernel.h"

namespace hpt::suggest::gp {
namespace {

using linalg::GpHyperparameters;
using linalg::KernelType;

constexpr KernelType kKernels[] = {KernelType::kMatern52, KernelType::kMatern32, KernelType::kRbf};

Eigen::MatrixXd RandomPoints(int n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd x(n, d);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x(i, j) = u(rng);
  }
  return x;
}

Eigen::VectorXd Objective(const Eigen::MatrixXd& x) {
  Eigen::VectorXd y(x.rows());
  for (int i = 0; i < x.rows(); ++i) {
    y(i) = std::sin(6 * x(i, 0)) + (x.row(i).array() - 0.3).square().sum();
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

// K(x, x) entry by entry from the scalar formulas of the kernel.h comment.
double DirectKernel(KernelType t, const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                    const Eigen::VectorXd& l, double s) {
  const double r = std::sqrt(((a - b).array() / l.array()).square().sum());
  switch (t) {
    case KernelType::kMatern52:
      return s * (1 + std::sqrt(5.0) * r + 5.0 / 3.0 * r * r) * std::exp(-std::sqrt(5.0) * r);
    case KernelType::kMatern32:
      return s * (1 + std::sqrt(3.0) * r) * std::exp(-std::sqrt(3.0) * r);
    case KernelType::kRbf:
      return s * std::exp(-0.5 * r * r);
  }
  return 0;
}

TEST(KernelTest, ShapesMatchTheClosedFormsAndDerivativesMatchFiniteDifferences) {
  for (KernelType t : kKernels) {
    SCOPED_TRACE(linalg::KernelTypeName(t));
    EXPECT_DOUBLE_EQ(linalg::KernelShape(t, 0), 1);
    for (double r2 : {1e-6, 0.01, 0.5, 2.0, 9.0}) {
      Eigen::VectorXd a(1), b(1), l(1);
      a << 0;
      b << std::sqrt(r2);
      l << 1;
      EXPECT_NEAR(linalg::KernelShape(t, r2), DirectKernel(t, a, b, l, 1), 1e-14);
      const double h = 1e-6 * std::max(r2, 1e-3);
      const double fd = (linalg::KernelShape(t, r2 + h) - linalg::KernelShape(t, r2 - h)) / (2 * h);
      EXPECT_NEAR(linalg::KernelShapeDerivative(t, r2), fd, 1e-6 * std::max(1.0, std::fabs(fd)));
    }
  }
}

TEST(KernelTest, KernelMatrixMatchesEntryByEntry) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd a = RandomPoints(7, 3, 1);
  const Eigen::MatrixXd b = RandomPoints(5, 3, 2);
  for (KernelType t : kKernels) {
    const linalg::KernelParams k = Hyper(t, 3).Kernel();
    Eigen::MatrixXd m;
    ASSERT_TRUE(la.KernelMatrix(k, a, b, &m).ok());
    ASSERT_EQ(m.rows(), 7);
    ASSERT_EQ(m.cols(), 5);
    for (int i = 0; i < 7; ++i) {
      for (int j = 0; j < 5; ++j) {
        EXPECT_NEAR(m(i, j), DirectKernel(t, a.row(i), b.row(j), k.lengthscales, k.signal_variance),
                    1e-12);
      }
    }
  }
}

TEST(KernelTest, BadShapesAndParametersAreInvalidArgument) {
  linalg::EigenBackend la;
  Eigen::MatrixXd out;
  linalg::KernelParams k = Hyper(KernelType::kRbf, 2).Kernel();
  EXPECT_EQ(la.KernelMatrix(k, RandomPoints(2, 3, 1), RandomPoints(2, 3, 1), &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(la.KernelMatrix(k, RandomPoints(2, 2, 1), RandomPoints(2, 3, 1), &out).code(),
            absl::StatusCode::kInvalidArgument);
  k.lengthscales(0) = 0;
  EXPECT_EQ(la.KernelMatrix(k, RandomPoints(2, 2, 1), RandomPoints(2, 2, 1), &out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LikelihoodTest, ValueMatchesADirectComputation) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd x = RandomPoints(12, 2, 3);
  const Eigen::VectorXd y = Objective(x);
  for (KernelType t : kKernels) {
    const GpHyperparameters h = Hyper(t, 2);
    Eigen::MatrixXd k(12, 12);
    for (int i = 0; i < 12; ++i) {
      for (int j = 0; j < 12; ++j) {
        k(i, j) = DirectKernel(t, x.row(i), x.row(j), h.Kernel().lengthscales,
                               h.Kernel().signal_variance);
      }
    }
    k.diagonal().array() += h.NoiseVariance();
    const Eigen::VectorXd r = y.array() - h.mean;
    const double direct =
        0.5 * r.dot(k.inverse() * r) + 0.5 * std::log(k.determinant()) + 6 * std::log(2 * M_PI);
    double value = 0;
    ASSERT_TRUE(la.NegLogMarginalLikelihood(h, x, y, &value, nullptr).ok());
    EXPECT_NEAR(value, direct, 1e-9 * std::fabs(direct)) << linalg::KernelTypeName(t);
  }
}

TEST(LikelihoodTest, GradientMatchesFiniteDifferences) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd x = RandomPoints(15, 3, 4);
  const Eigen::VectorXd y = Objective(x);
  for (KernelType t : kKernels) {
    SCOPED_TRACE(linalg::KernelTypeName(t));
    GpHyperparameters h = Hyper(t, 3);
    double value = 0;
    Eigen::VectorXd grad;
    ASSERT_TRUE(la.NegLogMarginalLikelihood(h, x, y, &value, &grad).ok());
    ASSERT_EQ(grad.size(), h.PackedSize());
    const Eigen::VectorXd p = h.Pack();
    for (int i = 0; i < p.size(); ++i) {
      const double eps = 1e-5;
      Eigen::VectorXd plus = p, minus = p;
      plus(i) += eps;
      minus(i) -= eps;
      double fp = 0, fm = 0;
      GpHyperparameters hp = h, hm = h;
      hp.Unpack(plus);
      hm.Unpack(minus);
      ASSERT_TRUE(la.NegLogMarginalLikelihood(hp, x, y, &fp, nullptr).ok());
      ASSERT_TRUE(la.NegLogMarginalLikelihood(hm, x, y, &fm, nullptr).ok());
      const double fd = (fp - fm) / (2 * eps);
      EXPECT_NEAR(grad(i), fd, 1e-5 * std::max(1.0, std::fabs(fd))) << "component " << i;
    }
  }
}

TEST(LikelihoodTest, PriorGradientMatchesFiniteDifferences) {
  const GpHyperparameters h = Hyper(KernelType::kMatern52, 4);
  Eigen::VectorXd grad;
  NegLogPrior(h, &grad);
  const Eigen::VectorXd p = h.Pack();
  for (int i = 0; i < p.size(); ++i) {
    Eigen::VectorXd plus = p, minus = p;
    plus(i) += 1e-6;
    minus(i) -= 1e-6;
    GpHyperparameters hp = h, hm = h;
    hp.Unpack(plus);
    hm.Unpack(minus);
    EXPECT_NEAR(grad(i), (NegLogPrior(hp, nullptr) - NegLogPrior(hm, nullptr)) / 2e-6, 1e-6);
  }
}

TEST(PosteriorTest, OnePointMatchesTheClosedForm) {
  linalg::EigenBackend la;
  Eigen::MatrixXd x(1, 1);
  x << 0.4;
  Eigen::VectorXd y(1);
  y << 2.0;
  GpHyperparameters h = Hyper(KernelType::kRbf, 1);
  h.log_lengthscales(0) = std::log(0.5);
  absl::StatusOr<GpModel> model = GpModel::Create(la, x, y, h);
  ASSERT_TRUE(model.ok()) << model.status();
  Eigen::MatrixXd z(3, 1);
  z << 0.4, 0.9, 3.0;
  Eigen::VectorXd mean, var;
  ASSERT_TRUE(model->Predict(z, &mean, &var).ok());
  const double s = std::exp(h.log_signal_variance);
  const double noise = h.NoiseVariance();
  for (int i = 0; i < 3; ++i) {
    const double r = (z(i, 0) - 0.4) / 0.5;
    const double k = s * std::exp(-0.5 * r * r);
    EXPECT_NEAR(mean(i), h.mean + k / (s + noise) * (2.0 - h.mean), 1e-12);
    EXPECT_NEAR(var(i), s - k * k / (s + noise), 1e-12);
  }
}

TEST(PosteriorTest, GradientMatchesFiniteDifferencesAndBatchPrediction) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd x = RandomPoints(20, 3, 5);
  for (KernelType t : kKernels) {
    SCOPED_TRACE(linalg::KernelTypeName(t));
    absl::StatusOr<GpModel> model = GpModel::Create(la, x, Objective(x), Hyper(t, 3));
    ASSERT_TRUE(model.ok());
    Eigen::VectorXd z(3);
    z << 0.21, 0.64, 0.37;
    double mu = 0, var = 0;
    Eigen::VectorXd dmu, dvar;
    ASSERT_TRUE(model->PredictWithGradient(z, &mu, &var, &dmu, &dvar).ok());
    Eigen::VectorXd bm, bv;
    ASSERT_TRUE(model->Predict(z.transpose(), &bm, &bv).ok());
    EXPECT_NEAR(mu, bm(0), 1e-12);
    EXPECT_NEAR(var, bv(0), 1e-12);
    for (int d = 0; d < 3; ++d) {
      Eigen::VectorXd zp = z, zm = z;
      zp(d) += 1e-6;
      zm(d) -= 1e-6;
      double mp, vp, mm, vm;
      Eigen::VectorXd g1, g2;
      ASSERT_TRUE(model->PredictWithGradient(zp, &mp, &vp, &g1, &g2).ok());
      ASSERT_TRUE(model->PredictWithGradient(zm, &mm, &vm, &g1, &g2).ok());
      EXPECT_NEAR(dmu(d), (mp - mm) / 2e-6, 1e-5);
      EXPECT_NEAR(dvar(d), (vp - vm) / 2e-6, 1e-5);
    }
  }
}

TEST(PosteriorTest, ConditioningEqualsFittingAllPoints) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd x = RandomPoints(14, 2, 6);
  const Eigen::VectorXd y = Objective(x);
  const GpHyperparameters h = Hyper(KernelType::kMatern52, 2);
  absl::StatusOr<GpModel> all = GpModel::Create(la, x, y, h);
  absl::StatusOr<GpModel> part = GpModel::Create(la, x.topRows(10), y.head(10), h);
  ASSERT_TRUE(all.ok());
  ASSERT_TRUE(part.ok());
  ASSERT_TRUE(part->Condition(x.bottomRows(4), y.tail(4)).ok());
  EXPECT_EQ(part->size(), 14);
  const Eigen::MatrixXd z = RandomPoints(30, 2, 7);
  Eigen::VectorXd m1, v1, m2, v2;
  ASSERT_TRUE(all->Predict(z, &m1, &v1).ok());
  ASSERT_TRUE(part->Predict(z, &m2, &v2).ok());
  EXPECT_LT((m1 - m2).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_LT((v1 - v2).cwiseAbs().maxCoeff(), 1e-10);
  // An empty model conditioned on everything is the same model too.
  absl::StatusOr<GpModel> empty = GpModel::Create(la, Eigen::MatrixXd(0, 2), Eigen::VectorXd(0), h);
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(empty->Condition(x, y).ok());
  ASSERT_TRUE(empty->Predict(z, &m2, &v2).ok());
  EXPECT_LT((m1 - m2).cwiseAbs().maxCoeff(), 1e-10);
}

TEST(FitTest, FindsAHigherPosteriorThanThePriorModeAndIsDeterministic) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd x = RandomPoints(30, 2, 8);
  Eigen::VectorXd y = Objective(x);
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  GpFitOptions options{.seed = 3};
  absl::StatusOr<GpHyperparameters> h = FitHyperparameters(la, x, y, options);
  ASSERT_TRUE(h.ok()) << h.status();
  absl::StatusOr<GpHyperparameters> again = FitHyperparameters(la, x, y, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(h->Pack(), again->Pack());
  auto objective = [&](const GpHyperparameters& g) {
    double v = 0;
    EXPECT_TRUE(la.NegLogMarginalLikelihood(g, x, y, &v, nullptr).ok());
    return v + NegLogPrior(g, nullptr);
  };
  GpHyperparameters mode = *h;
  mode.log_lengthscales.setConstant(std::sqrt(2.0) + 0.5 * std::log(2.0));
  mode.log_signal_variance = 0;
  mode.log_noise_variance = -4;
  mode.mean = 0;
  EXPECT_LT(objective(*h), objective(mode) - 1.0);
  // A noiseless smooth function: the noise goes well below the prior's e^-4.
  EXPECT_LT(h->log_noise_variance, -6);
  // The fit generalizes: held-out points are predicted well.
  absl::StatusOr<GpModel> model = GpModel::Create(la, x, y, *h);
  ASSERT_TRUE(model.ok());
  const Eigen::MatrixXd z = RandomPoints(50, 2, 9);
  Eigen::VectorXd truth = Objective(z);
  Eigen::VectorXd raw = Objective(x);
  const double mu = raw.mean();
  const double sd = std::sqrt((raw.array() - mu).square().mean());
  truth = (truth.array() - mu) / sd;
  Eigen::VectorXd mean, var;
  ASSERT_TRUE(model->Predict(z, &mean, &var).ok());
  EXPECT_LT((mean - truth).cwiseAbs().maxCoeff(), 0.25);
}

TEST(FitTest, BadInputsAreInvalidArgument) {
  linalg::EigenBackend la;
  EXPECT_EQ(FitHyperparameters(la, Eigen::MatrixXd(0, 2), Eigen::VectorXd(0), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  Eigen::VectorXd y(3);
  y << 1, std::nan(""), 2;
  EXPECT_EQ(FitHyperparameters(la, RandomPoints(3, 2, 1), y, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      FitHyperparameters(la, RandomPoints(3, 2, 1), Eigen::VectorXd::Zero(2), {}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(FitTest, ManyPointsAreFittedOnASubsetAndStillWork) {
  linalg::EigenBackend la;
  const Eigen::MatrixXd x = RandomPoints(120, 2, 10);
  Eigen::VectorXd y = Objective(x);
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  absl::StatusOr<GpHyperparameters> h =
      FitHyperparameters(la, x, y, {.max_fit_points = 40, .seed = 1});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->Pack().allFinite());
  // Duplicated inputs: the jitter/noise floor keeps the matrix factorizable.
  Eigen::MatrixXd dup(6, 2);
  dup << 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0.1, 0.2, 0.9, 0.9;
  Eigen::VectorXd dy(6);
  dy << 1, 1, 1, -1, -1, 0;
  EXPECT_TRUE(FitHyperparameters(la, dup, dy, {}).ok());
}

TEST(AcquisitionTest, LogHMatchesTheDirectFormulaAndStaysFiniteFarOut) {
  for (double z = -8; z <= 6; z += 0.25) {
    const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
    const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
    const double direct = std::log(pdf + z * cdf);
    double d = 0;
    EXPECT_NEAR(LogH(z, &d), direct, 1e-9 * std::max(1.0, std::fabs(direct))) << z;
    EXPECT_NEAR(d, cdf / (pdf + z * cdf), 1e-7 * std::max(1.0, std::fabs(d))) << z;
  }
  // Far in the tail, where phi + z Phi underflows: log h ~ -z^2/2 - log(2 pi)/2 - 2 log|z|.
  for (double z : {-30.0, -34.9, -35.1, -60.0, -1e3, -1e5}) {
    double d = 0;
    const double v = LogH(z, &d);
    const double asymptote = -0.5 * z * z - 0.5 * std::log(2 * M_PI) - 2 * std::log(-z);
    EXPECT_NEAR(v, asymptote, 4.0 / (z * z) + 1e-9 * std::fabs(asymptote)) << z;
    EXPECT_NEAR(d, -z, 3.0 / -z + 1e-9) << z;  // Phi/h ~ |z| (1 + 2/z^2)
    EXPECT_TRUE(std::isfinite(v));
  }
  // Continuity across the switch points.
  // Continuity across the switch points (the slope there is about |z|).
  EXPECT_NEAR(LogH(-1 - 1e-12, nullptr), LogH(-1 + 1e-12, nullptr), 1e-10);
  EXPECT_NEAR(LogH(-35 - 1e-12, nullptr), LogH(-35 + 1e-12, nullptr), 1e-9);
}

TEST(AcquisitionTest, ErfcxMatchesItsDefinitionAndAsymptote) {
  for (double x : {0.0, 0.5, 2.0, 10.0, 24.9}) {
    EXPECT_NEAR(Erfcx(x), std::exp(x * x) * std::erfc(x), 1e-13 * std::exp(x * x) * std::erfc(x));
  }
  EXPECT_NEAR(Erfcx(25 + 1e-12), Erfcx(25 - 1e-12), 1e-13);
  EXPECT_NEAR(Erfcx(1e4) * 1e4 * std::sqrt(M_PI), 1.0, 1e-8);
}

TEST(AcquisitionTest, ValuesAndDerivativesMatchClosedFormsAndFiniteDifferences) {
  const ExpectedImprovement ei(0.5, 0.01);
  const LogExpectedImprovement logei(0.5, 0.01);
  const ProbabilityOfImprovement pi(0.5, 0.01);
  const LowerConfidenceBound lcb(1.96);
  const Acquisition* all[] = {&ei, &logei, &pi, &lcb};
  for (const Acquisition* a : all) {
    SCOPED_TRACE(a->Name());
    for (double mean : {-1.0, 0.3, 0.49, 1.5}) {
      for (double sd : {0.05, 0.4, 2.0}) {
        const AcquisitionValue v = a->Evaluate(mean, sd);
        const double h = 1e-6;
        EXPECT_NEAR(v.d_mean,
                    (a->Evaluate(mean + h, sd).value - a->Evaluate(mean - h, sd).value) / (2 * h),
                    1e-5 * std::max(1.0, std::fabs(v.d_mean)));
        EXPECT_NEAR(v.d_std,
                    (a->Evaluate(mean, sd + h).value - a->Evaluate(mean, sd - h).value) / (2 * h),
                    1e-5 * std::max(1.0, std::fabs(v.d_std)));
        EXPECT_NEAR(logei.Evaluate(mean, sd).value, std::log(ei.Evaluate(mean, sd).value), 1e-9);
      }
    }
  }
  // EI at mean = target: sigma * phi(0).
  EXPECT_NEAR(ei.Evaluate(0.49, 2.0).value, 2.0 / std::sqrt(2 * M_PI), 1e-12);
  EXPECT_NEAR(pi.Evaluate(0.49, 2.0).value, 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(lcb.Evaluate(1.0, 2.0).value, -(1.0 - 1.96 * 2.0));
  // LogEI keeps ordering where EI underflows to 0.
  EXPECT_EQ(ei.Evaluate(100, 1).value, 0);
  EXPECT_GT(logei.Evaluate(100, 1).value, logei.Evaluate(101, 1).value);
  EXPECT_TRUE(std::isfinite(logei.Evaluate(101, 1).value));
}

TEST(OutputTransformTest, StandardizesAndKeepsTheOrder) {
  Eigen::VectorXd y(6);
  y << 3, 1, 4, 1, 5, 1000;
  for (bool power : {false, true}) {
    const OutputTransform t = OutputTransform::Fit(y, power);
    const Eigen::VectorXd u = t.Apply(y);
    EXPECT_NEAR(u.mean(), 0, 1e-12);
    EXPECT_NEAR((u.array() - u.mean()).square().sum() / 5, 1, 1e-9);
    for (int i = 0; i < 6; ++i) {
      for (int j = 0; j < 6; ++j) {
        if (y(i) < y(j)) {
          EXPECT_LT(u(i), u(j));
        }
      }
    }
  }
  // The power transform pulls the outlier in.
  const Eigen::VectorXd plain = OutputTransform::Fit(y, false).Apply(y);
  const Eigen::VectorXd power = OutputTransform::Fit(y, true).Apply(y);
  EXPECT_LT(power.maxCoeff(), plain.maxCoeff());
  EXPECT_NE(OutputTransform::Fit(y, true).lambda(), 1);
  // Constant values: no division by zero.
  const Eigen::VectorXd c = Eigen::VectorXd::Constant(4, 2.5);
  EXPECT_TRUE(OutputTransform::Fit(c, true).Apply(c).allFinite());
  EXPECT_DOUBLE_EQ(OutputTransform::YeoJohnson(3, 1), 3);
  EXPECT_DOUBLE_EQ(OutputTransform::YeoJohnson(-3, 1), -3);
  EXPECT_DOUBLE_EQ(OutputTransform::YeoJohnson(std::exp(1) - 1, 0), 1);
}

}  // namespace
}  // namespace hpt::suggest::gp
