#include "suggest/gp/gp_model.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <nlopt.hpp>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "suggest/internal/rng.h"

namespace hpt::suggest::gp {
namespace {

using linalg::GpHyperparameters;

constexpr double kLengthscalePriorSd = 1.7320508075688772;  // sqrt(3)
constexpr double kSignalPriorMean = 0;
constexpr double kSignalPriorSd = 1;
constexpr double kNoisePriorMean = -4;
constexpr double kNoisePriorSd = 1;
constexpr double kMeanPriorSd = 1;
constexpr uint64_t kFitSalt = 0x67706669740004ULL;  // "gpfit"

double LengthscalePriorMean(int dims) {
  return std::sqrt(2.0) + 0.5 * std::log(static_cast<double>(std::max(dims, 1)));
}

// Box bounds of the packed hyperparameters.
struct Bounds {
  std::vector<double> lower;
  std::vector<double> upper;
};

Bounds MakeBounds(int dims, double noise_floor) {
  Bounds b;
  for (int d = 0; d < dims; ++d) {
    b.lower.push_back(std::log(1e-2));
    b.upper.push_back(std::log(1e3));
  }
  b.lower.push_back(std::log(1e-2));  // signal variance
  b.upper.push_back(std::log(1e2));
  b.lower.push_back(std::log(noise_floor));  // noise variance
  b.upper.push_back(std::log(2.0));
  b.lower.push_back(-10);  // mean
  b.upper.push_back(10);
  return b;
}

void Clip(const Bounds& b, std::vector<double>* x) {
  for (size_t i = 0; i < x->size(); ++i) (*x)[i] = std::clamp((*x)[i], b.lower[i], b.upper[i]);
}

struct Objective {
  linalg::LinalgBackend* la;
  const Eigen::MatrixXd* x;
  const Eigen::VectorXd* y;
  GpHyperparameters h;
  absl::Status last_error;
  int failures = 0;
};

double Evaluate(unsigned n, const double* theta, double* grad, void* data) {
  auto* o = static_cast<Objective*>(data);
  o->h.Unpack(Eigen::Map<const Eigen::VectorXd>(theta, n));
  double nll = 0;
  Eigen::VectorXd g;
  absl::Status s = o->la->NegLogMarginalLikelihood(o->h, *o->x, *o->y, &nll, grad ? &g : nullptr);
  if (!s.ok() || !std::isfinite(nll) || (grad != nullptr && !g.allFinite())) {
    // A huge value with a zero gradient makes the line search step back.
    o->last_error =
        s.ok() ? absl::FailedPreconditionError("the likelihood or its gradient is not finite") : s;
    ++o->failures;
    if (grad != nullptr) std::fill(grad, grad + n, 0.0);
    return 1e100;
  }
  Eigen::VectorXd prior_grad;
  const double prior = NegLogPrior(o->h, grad ? &prior_grad : nullptr);
  if (grad != nullptr) {
    Eigen::Map<Eigen::VectorXd>(grad, n) = g + prior_grad;
  }
  return nll + prior;
}

// The rows the fit uses: all of them, or the best quarter plus an even random draw of the rest.
std::vector<int> FitSubset(const Eigen::VectorXd& y, int max_points, uint64_t seed) {
  const int n = static_cast<int>(y.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (n <= max_points) return order;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return y(a) < y(b); });
  const int best = max_points / 4;
  std::vector<int> rest(order.begin() + best, order.end());
  std::mt19937_64 rng(internal::TrialSeed(seed, kFitSalt, static_cast<uint64_t>(n)));
  for (int i = 0; i < max_points - best; ++i) {  // partial Fisher-Yates
    const int j = i + static_cast<int>(rng() % static_cast<uint64_t>(rest.size() - i));
    std::swap(rest[i], rest[j]);
  }
  std::vector<int> subset(order.begin(), order.begin() + best);
  subset.insert(subset.end(), rest.begin(), rest.begin() + (max_points - best));
  std::sort(subset.begin(), subset.end());
  return subset;
}

}  // namespace

double NegLogPrior(const GpHyperparameters& h, Eigen::VectorXd* gradient) {
  const int d = h.Dimensions();
  const double mu = LengthscalePriorMean(d);
  const double var_l = kLengthscalePriorSd * kLengthscalePriorSd;
  const Eigen::ArrayXd dl = h.log_lengthscales.array() - mu;
  const double ds = h.log_signal_variance - kSignalPriorMean;
  const double dn = h.log_noise_variance - kNoisePriorMean;
  double value = 0.5 * dl.square().sum() / var_l;
  value += 0.5 * ds * ds / (kSignalPriorSd * kSignalPriorSd);
  value += 0.5 * dn * dn / (kNoisePriorSd * kNoisePriorSd);
  value += 0.5 * h.mean * h.mean / (kMeanPriorSd * kMeanPriorSd);
  if (gradient != nullptr) {
    gradient->resize(h.PackedSize());
    gradient->head(d) = (dl / var_l).matrix();
    (*gradient)(d) = ds / (kSignalPriorSd * kSignalPriorSd);
    (*gradient)(d + 1) = dn / (kNoisePriorSd * kNoisePriorSd);
    (*gradient)(d + 2) = h.mean / (kMeanPriorSd * kMeanPriorSd);
  }
  return value;
}

absl::StatusOr<GpHyperparameters> FitHyperparameters(linalg::LinalgBackend& la,
                                                     const Eigen::MatrixXd& x,
                                                     const Eigen::VectorXd& y,
                                                     const GpFitOptions& options) {
  const int n = static_cast<int>(x.rows());
  const int dims = static_cast<int>(x.cols());
  if (n < 1 || y.size() != n || dims < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("GP fit: needs n >= 1 rows of D >= 1 inputs and n values; got ", n, "x", dims,
                     " and ", y.size()));
  }
  if (!x.allFinite() || !y.allFinite()) {
    return absl::InvalidArgumentError("GP fit: inputs and values must be finite");
  }
  if (!(options.noise_floor > 0) || options.max_evaluations < 1 || options.restarts < 0 ||
      options.max_fit_points < 2) {
    return absl::InvalidArgumentError(
        "GP fit: noise_floor must be > 0, max_evaluations >= 1, restarts >= 0, "
        "max_fit_points >= 2");
  }
  const std::vector<int> rows = FitSubset(y, options.max_fit_points, options.seed);
  Eigen::MatrixXd fx(rows.size(), dims);
  Eigen::VectorXd fy(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    fx.row(i) = x.row(rows[i]);
    fy(i) = y(rows[i]);
  }

  const Bounds bounds = MakeBounds(dims, options.noise_floor);
  GpHyperparameters mode;
  mode.type = options.kernel;
  mode.log_lengthscales = Eigen::VectorXd::Constant(dims, LengthscalePriorMean(dims));
  mode.log_signal_variance = kSignalPriorMean;
  mode.log_noise_variance = kNoisePriorMean;
  mode.mean = 0;

  std::vector<std::vector<double>> starts;
  auto add_start = [&](const GpHyperparameters& h) {
    const Eigen::VectorXd p = h.Pack();
    std::vector<double> v(p.data(), p.data() + p.size());
    Clip(bounds, &v);
    starts.push_back(std::move(v));
  };
  const bool warm = options.warm_start.has_value() && options.warm_start->Dimensions() == dims;
  if (warm) {
    GpHyperparameters h = *options.warm_start;
    h.type = options.kernel;
    add_start(h);
  }
  if (!warm || options.start_at_prior_mode) add_start(mode);
  std::mt19937_64 rng(internal::TrialSeed(options.seed, kFitSalt, 0));
  std::normal_distribution<double> normal;  // only its output order matters for determinism
  for (int r = 0; r < options.restarts; ++r) {
    GpHyperparameters h = mode;
    for (int d = 0; d < dims; ++d) h.log_lengthscales(d) += kLengthscalePriorSd * normal(rng);
    h.log_signal_variance += kSignalPriorSd * normal(rng);
    h.log_noise_variance += kNoisePriorSd * normal(rng);
    add_start(h);
  }

  Objective objective{.la = &la, .x = &fx, .y = &fy, .h = mode, .last_error = absl::OkStatus()};
  double best_value = std::numeric_limits<double>::infinity();
  std::vector<double> best;
  auto consider = [&](const std::vector<double>& x) {
    const double value = Evaluate(static_cast<unsigned>(x.size()), x.data(), nullptr, &objective);
    if (value < best_value) {
      best_value = value;
      best = x;
    }
  };
  for (const std::vector<double>& start : starts) {
    consider(start);  // a start that is never improved on still counts
    std::vector<double> x = start;
    try {
      nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(x.size()));
      opt.set_lower_bounds(bounds.lower);
      opt.set_upper_bounds(bounds.upper);
      opt.set_min_objective(&Evaluate, &objective);
      opt.set_maxeval(options.max_evaluations);
      opt.set_ftol_rel(1e-9);
      opt.set_xtol_rel(1e-7);
      double value = 0;
      opt.optimize(x, value);
    } catch (const std::exception& e) {
      // Round-off limits, or a line search that gave up: NLopt leaves the best point it reached
      // in x, which is considered below like a normal result.
      objective.last_error = absl::InternalError(absl::StrCat("GP fit: NLopt stopped: ", e.what()));
    }
    consider(x);
  }
  if (best.empty() || !(best_value < 1e99)) {
    return absl::FailedPreconditionError(
        absl::StrCat("GP fit: no start gave a usable likelihood on ", fx.rows(),
                     " points; last error: ", objective.last_error.ToString()));
  }
  GpHyperparameters result = mode;
  result.Unpack(Eigen::Map<const Eigen::VectorXd>(best.data(), best.size()));
  return result;
}

absl::StatusOr<GpModel> GpModel::Create(linalg::LinalgBackend& la, Eigen::MatrixXd x,
                                        Eigen::VectorXd y, const GpHyperparameters& h) {
  if (y.size() != x.rows() || x.cols() != h.Dimensions()) {
    return absl::InvalidArgumentError(absl::StrCat("GP model: ", x.rows(), "x", x.cols(),
                                                   " inputs, ", y.size(), " values and ",
                                                   h.Dimensions(), " length scales disagree"));
  }
  GpModel model(&la, h);
  model.factor_.kernel = h.Kernel();
  model.factor_.mean = h.mean;
  model.factor_.x = std::move(x);
  model.y_ = std::move(y);
  if (model.size() > 0) {
    Eigen::MatrixXd k;
    if (absl::Status s =
            la.KernelMatrix(model.factor_.kernel, model.factor_.x, model.factor_.x, &k);
        !s.ok()) {
      return s;
    }
    k.diagonal().array() += h.NoiseVariance();
    if (absl::Status s = la.Cholesky(k, &model.factor_.lower, nullptr); !s.ok()) return s;
  }
  if (absl::Status s = model.UpdateAlpha(); !s.ok()) return s;
  return model;
}

absl::Status GpModel::UpdateAlpha() {
  const Eigen::Index n = factor_.x.rows();
  if (n == 0) {
    factor_.lower.resize(0, 0);
    factor_.alpha.resize(0);
    return absl::OkStatus();
  }
  Eigen::MatrixXd alpha;
  const Eigen::MatrixXd residual = (y_.array() - h_.mean).matrix();
  if (absl::Status s = la_->CholeskySolve(factor_.lower, residual, &alpha); !s.ok()) return s;
  factor_.alpha = alpha.col(0);
  return absl::OkStatus();
}

absl::Status GpModel::Condition(const Eigen::MatrixXd& x_new, const Eigen::VectorXd& y_new,
                                std::optional<double> noise_variance) {
  const Eigen::Index k = x_new.rows();
  const Eigen::Index n = factor_.x.rows();
  if (y_new.size() != k || x_new.cols() != h_.Dimensions()) {
    return absl::InvalidArgumentError("GP model: new inputs and values disagree in shape");
  }
  if (k == 0) return absl::OkStatus();
  Eigen::MatrixXd k22;
  if (absl::Status s = la_->KernelMatrix(factor_.kernel, x_new, x_new, &k22); !s.ok()) return s;
  k22.diagonal().array() += noise_variance.value_or(h_.NoiseVariance());
  Eigen::MatrixXd lower(n + k, n + k);
  lower.setZero();
  if (n > 0) {
    Eigen::MatrixXd k12, l21t;
    if (absl::Status s = la_->KernelMatrix(factor_.kernel, factor_.x, x_new, &k12); !s.ok()) {
      return s;
    }
    if (absl::Status s = la_->SolveLower(factor_.lower, k12, &l21t); !s.ok()) return s;
    k22 -= l21t.transpose() * l21t;
    k22 = (k22 + k22.transpose()) / 2;
    lower.topLeftCorner(n, n) = factor_.lower;
    lower.bottomLeftCorner(k, n) = l21t.transpose();
  }
  Eigen::MatrixXd l22;
  if (absl::Status s = la_->Cholesky(k22, &l22, nullptr); !s.ok()) return s;
  lower.bottomRightCorner(k, k) = l22;
  factor_.lower = std::move(lower);
  factor_.x.conservativeResize(n + k, Eigen::NoChange);
  factor_.x.bottomRows(k) = x_new;
  y_.conservativeResize(n + k);
  y_.tail(k) = y_new;
  return UpdateAlpha();
}

absl::Status GpModel::Predict(const Eigen::MatrixXd& z, Eigen::VectorXd* mean,
                              Eigen::VectorXd* variance) const {
  return la_->Posterior(factor_, z, mean, variance);
}

absl::Status GpModel::PredictWithGradient(const Eigen::VectorXd& z, double* mean, double* variance,
                                          Eigen::VectorXd* d_mean,
                                          Eigen::VectorXd* d_variance) const {
  const Eigen::Index dims = h_.Dimensions();
  if (z.size() != dims) {
    return absl::InvalidArgumentError(
        absl::StrCat("GP model: a point of ", z.size(), " coordinates for ", dims, " dimensions"));
  }
  const linalg::KernelParams& kp = factor_.kernel;
  const Eigen::Index n = factor_.x.rows();
  const Eigen::ArrayXd inv_l2 = kp.lengthscales.array().square().inverse();
  Eigen::VectorXd k(n);
  Eigen::MatrixXd dk(n, dims);  // dk_i / dz
  for (Eigen::Index i = 0; i < n; ++i) {
    const Eigen::ArrayXd diff = z.array() - factor_.x.row(i).transpose().array();
    const double r2 = (diff.square() * inv_l2).sum();
    k(i) = kp.signal_variance * linalg::KernelShape(kp.type, r2);
    const double df = kp.signal_variance * linalg::KernelShapeDerivative(kp.type, r2);
    dk.row(i) = (2 * df * diff * inv_l2).transpose();
  }
  *mean = h_.mean + (n > 0 ? k.dot(factor_.alpha) : 0.0);
  *d_mean = n > 0 ? Eigen::VectorXd(dk.transpose() * factor_.alpha) : Eigen::VectorXd::Zero(dims);
  if (n == 0) {
    *variance = kp.signal_variance;
    *d_variance = Eigen::VectorXd::Zero(dims);
    return absl::OkStatus();
  }
  Eigen::MatrixXd k_inv_k;
  if (absl::Status s = la_->CholeskySolve(factor_.lower, k, &k_inv_k); !s.ok()) return s;
  *variance = std::max(0.0, kp.signal_variance - k.dot(k_inv_k.col(0)));
  *d_variance = -2 * (dk.transpose() * k_inv_k.col(0));
  return absl::OkStatus();
}

}  // namespace hpt::suggest::gp
