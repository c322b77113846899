#include "suggest/gp/bo_sampler.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <nlopt.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "suggest/gp/acquisition.h"
#include "suggest/gp/encoding.h"
#include "suggest/gp/gp_model.h"
#include "suggest/gp/output_transform.h"
#include "suggest/internal/rng.h"
#include "suggest/internal/settings.h"
#include "suggest/internal/sobol_points.h"
#include "suggest/linalg/backend.h"

namespace hpt::suggest {
namespace {

using gp::SpaceEncoding;
using Key = std::vector<std::string>;

constexpr uint64_t kInitSalt = 0x626f696e69740005ULL;     // "boinit"
constexpr uint64_t kSuggestSalt = 0x626f737567670006ULL;  // "bosugg"
constexpr double kPolishRadius = 0.1;                     // unit-cube half-width of a polish

enum class AcqKind { kLogEi, kEi, kPi, kLcb, kHedge };
enum class Parallel { kKrigingBeliever, kLiarMin, kLiarMean, kLiarMax };

struct Options {
  int n_initial_points = 10;
  AcqKind acq = AcqKind::kLogEi;
  bool polish = true;
  linalg::KernelType kernel = linalg::KernelType::kMatern52;
  std::optional<double> xi;
  double kappa = 1.96;
  Parallel parallel = Parallel::kKrigingBeliever;
  bool power = true;
  std::optional<int> n_candidates;
  int fit_restarts = 5;
  double noise_floor = 1e-6;
  std::optional<uint64_t> random_state;
};

constexpr absl::string_view kAllowed =
    "n_initial_points, acq_func, acq_optimizer, base_estimator, random_state, kernel, xi, kappa, "
    "parallel_strategy, output_transform, n_candidates, fit_restarts, noise_floor, and Katib "
    "v1alpha1's burn_in, N, mode, trade_off, model_type, kernel_type, nu, length_scale, noise, "
    "n_estimators, max_features, trial_hist";

absl::StatusOr<Options> ParseOptions(const AlgorithmSpec& algo) {
  if (absl::Status s = internal::CheckNoDuplicateSettings(algo); !s.ok()) return s;
  Options o;
  bool initial_set = false;
  for (const auto& setting : algo.settings) {
    // Named references, not a structured binding: clang 14 cannot capture bindings in lambdas.
    const std::string& key = setting.first;
    const std::string& value = setting.second;
    auto bad = [&](absl::string_view allowed) {
      return internal::BadSettingValue(algo, key, value, allowed);
    };
    auto parse_int = [&](int min, int* out) -> absl::Status {
      int v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < min) {
        return bad(absl::StrCat("an integer >= ", min));
      }
      *out = v;
      return absl::OkStatus();
    };
    auto parse_double = [&](double min, bool strict, double* out) -> absl::Status {
      double v = 0;
      if (!absl::SimpleAtod(value, &v) || !std::isfinite(v) || v < min || (strict && v == min)) {
        return bad(absl::StrCat("a number ", strict ? "> " : ">= ", FormatDouble(min)));
      }
      *out = v;
      return absl::OkStatus();
    };
    absl::Status s;
    if (key == "n_initial_points" || key == "burn_in") {
      if (initial_set) {
        return internal::BadSettingValue(algo, key, value,
                                         "only one of n_initial_points and burn_in");
      }
      initial_set = true;
      s = parse_int(0, &o.n_initial_points);
    } else if (key == "acq_func" || key == "mode") {
      std::string v = value;
      std::transform(v.begin(), v.end(), v.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (v == "logei") {
        o.acq = AcqKind::kLogEi;
      } else if (v == "ei") {
        o.acq = AcqKind::kEi;
      } else if (v == "pi") {
        o.acq = AcqKind::kPi;
      } else if ((v == "lcb" || v == "ucb") && key == "acq_func") {
        o.acq = AcqKind::kLcb;
      } else if (v == "gp_hedge" && key == "acq_func") {
        o.acq = AcqKind::kHedge;
      } else if ((v == "eips" || v == "pips") && key == "acq_func") {
        return absl::UnimplementedError(absl::StrCat(
            "algorithm '", algo.name, "': not supported yet: acq_func=", value,
            " (per-second acquisitions need trial durations); use LogEI, EI, PI, LCB or gp_hedge"));
      } else {
        s = bad(key == "mode" ? "ei, pi" : "LogEI, EI, PI, LCB, gp_hedge");
      }
    } else if (key == "acq_optimizer") {
      if (value == "auto" || value == "lbfgs") {
        o.polish = true;
      } else if (value == "sampling") {
        o.polish = false;
      } else {
        s = bad("auto, lbfgs, sampling");
      }
    } else if (key == "base_estimator" || key == "model_type") {
      std::string v = value;
      std::transform(v.begin(), v.end(), v.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      if (v == "RF" || v == "ET" || v == "GBRT") {
        return absl::UnimplementedError(absl::StrCat("algorithm '", algo.name,
                                                     "': not supported yet: ", key, "=", value,
                                                     " (hpt models with a Gaussian process: GP)"));
      }
      if (v != "GP") s = bad("GP");
    } else if (key == "random_state") {
      absl::StatusOr<std::optional<uint64_t>> rs = internal::ParseRandomState(algo);
      if (!rs.ok()) return rs.status();
      o.random_state = *rs;
    } else if (key == "kernel" || key == "kernel_type") {
      if (value == "matern52" || (key == "kernel_type" && value == "matern")) {
        o.kernel = linalg::KernelType::kMatern52;
      } else if (value == "matern32" && key == "kernel") {
        o.kernel = linalg::KernelType::kMatern32;
      } else if (value == "rbf") {
        o.kernel = linalg::KernelType::kRbf;
      } else {
        s = bad(key == "kernel" ? "matern52, matern32, rbf" : "matern, rbf");
      }
    } else if (key == "nu") {
      if (value == "1.5") {
        o.kernel = linalg::KernelType::kMatern32;
      } else if (value == "2.5") {
        o.kernel = linalg::KernelType::kMatern52;
      } else {
        s = bad("1.5, 2.5");
      }
    } else if (key == "xi" || key == "trade_off") {
      double v = 0;
      s = parse_double(0, false, &v);
      o.xi = v;
    } else if (key == "kappa") {
      s = parse_double(0, false, &o.kappa);
    } else if (key == "parallel_strategy") {
      if (value == "kriging_believer") {
        o.parallel = Parallel::kKrigingBeliever;
      } else if (value == "constant_liar_min") {
        o.parallel = Parallel::kLiarMin;
      } else if (value == "constant_liar_mean") {
        o.parallel = Parallel::kLiarMean;
      } else if (value == "constant_liar_max") {
        o.parallel = Parallel::kLiarMax;
      } else {
        s = bad("kriging_believer, constant_liar_min, constant_liar_mean, constant_liar_max");
      }
    } else if (key == "output_transform") {
      if (value == "standardize") {
        o.power = false;
      } else if (value == "power") {
        o.power = true;
      } else {
        s = bad("standardize, power");
      }
    } else if (key == "n_candidates" || key == "N") {
      int v = 0;
      s = parse_int(16, &v);
      o.n_candidates = v;
    } else if (key == "fit_restarts") {
      s = parse_int(0, &o.fit_restarts);
    } else if (key == "noise_floor") {
      s = parse_double(0, true, &o.noise_floor);
    } else if (key == "length_scale" || key == "noise") {
      double unused = 0;
      s = parse_double(0, true, &unused);  // learned by the fit; still checked
    } else if (key == "n_estimators" || key == "max_features" || key == "trial_hist") {
      // Random-forest and Katib-internal settings: meaningless for a GP.
    } else {
      return internal::UnknownSetting(algo, key, kAllowed);
    }
    if (!s.ok()) return s;
  }
  return o;
}

void AppendRow(const Eigen::VectorXd& z, Eigen::MatrixXd* rows) {
  rows->conservativeResize(rows->rows() + 1, Eigen::NoChange);
  rows->bottomRows(1) = z.transpose();
}

Key KeyOf(const Assignment& a) {
  Key k;
  k.reserve(a.size());
  for (const ParamValue& v : a) k.push_back(v.value);
  return k;
}

struct Candidate {
  Eigen::VectorXd z;
  Assignment assignment;
  double value = -std::numeric_limits<double>::infinity();
};

class BayesianOptimizationSampler final : public Sampler {
 public:
  BayesianOptimizationSampler(Options options, SpaceEncoding encoding, SearchSpace space,
                              uint64_t seed)
      : options_(std::move(options)),
        encoding_(std::move(encoding)),
        space_(std::move(space)),
        seed_(options_.random_state.value_or(seed)) {}

  absl::StatusOr<std::vector<Assignment>> Suggest(const SearchSpace& space, const History& history,
                                                  int n) override;

 private:
  struct Data {
    Eigen::MatrixXd x;        // finished trials with values, encoded
    Eigen::VectorXd y;        // their values (minimized)
    Eigen::MatrixXd pending;  // pending trials, encoded
  };

  Data Collect(const History& history, std::set<Key>* seen) const;
  std::optional<Assignment> InitialPoint(uint64_t index, std::set<Key>* seen) const;
  absl::Status Refit(const Data& data);
  absl::StatusOr<std::optional<Candidate>> Propose(const gp::GpModel& model, uint64_t index,
                                                   const std::set<Key>& seen, double incumbent,
                                                   Eigen::MatrixXd* hedge_proposals);
  absl::StatusOr<std::optional<Candidate>> Maximize(const gp::GpModel& model,
                                                    const gp::Acquisition& acq,
                                                    std::mt19937_64& rng,
                                                    const std::set<Key>& seen);
  absl::StatusOr<double> Fantasy(const gp::GpModel& model, const Eigen::VectorXd& z) const;
  // Adds pending point z to *model with its fantasized value, as an exact observation, and
  // lowers *incumbent to that value when it is better.
  absl::Status Believe(const Eigen::VectorXd& z, gp::GpModel* model, double* incumbent) const;
  int CandidateCount(int n) const;

  Options options_;
  SpaceEncoding encoding_;
  SearchSpace space_;
  const uint64_t seed_;

  // The last fit, on the finished trials (model_->x(), their transformed values model_->y()):
  // reused while those trials and their raw values fit_y_ stay the same.
  Eigen::VectorXd fit_y_;
  std::optional<linalg::GpHyperparameters> hyper_;
  std::optional<gp::GpModel> model_;
  // gp_hedge: the gains of EI, PI, LCB and the proposals of the last suggestion.
  Eigen::Vector3d gains_ = Eigen::Vector3d::Zero();
  Eigen::MatrixXd hedge_last_;
};

BayesianOptimizationSampler::Data BayesianOptimizationSampler::Collect(const History& history,
                                                                       std::set<Key>* seen) const {
  std::vector<Eigen::VectorXd> xs, ps;
  std::vector<double> ys;
  for (const Observation& o : history.trials) {
    seen->insert(KeyOf(o.params));
    absl::StatusOr<Eigen::VectorXd> z = encoding_.Encode(o.params);
    if (!z.ok()) continue;  // outside the current space (e.g. an older study's trial)
    seen->insert(KeyOf(encoding_.Decode(*z)));
    if (o.pending) {
      ps.push_back(*z);
    } else if (o.value.has_value() && std::isfinite(*o.value)) {
      xs.push_back(*z);
      ys.push_back(*o.value);
    }
  }
  Data d;
  const int dims = encoding_.Dimensions();
  d.x.resize(static_cast<Eigen::Index>(xs.size()), dims);
  d.y.resize(static_cast<Eigen::Index>(ys.size()));
  for (size_t i = 0; i < xs.size(); ++i) {
    d.x.row(i) = xs[i].transpose();
    d.y(i) = ys[i];
  }
  d.pending.resize(static_cast<Eigen::Index>(ps.size()), dims);
  for (size_t i = 0; i < ps.size(); ++i) d.pending.row(i) = ps[i].transpose();
  return d;
}

std::optional<Assignment> BayesianOptimizationSampler::InitialPoint(uint64_t index,
                                                                    std::set<Key>* seen) const {
  const int params = static_cast<int>(space_.params.size());
  const uint64_t key = internal::SplitMix64(seed_ ^ kInitSalt);
  // Past the Sobol' table's dimensions (or the sequence's end) random points take over.
  if (absl::StatusOr<std::vector<double>> u = internal::ShiftedSobolPoints(params, index, 1, key);
      u.ok()) {
    Assignment a = encoding_.FromUnitPerParameter(u->data());
    if (!seen->count(KeyOf(a))) return a;
  }
  // A duplicate (small discrete spaces): random points, then the unused rest of a finite space.
  std::mt19937_64 rng(internal::TrialSeed(seed_, kInitSalt, index));
  std::vector<double> u(params);
  for (int attempt = 0; attempt < 64; ++attempt) {
    for (double& v : u) v = internal::Uniform01(rng);
    Assignment a = encoding_.FromUnitPerParameter(u.data());
    if (!seen->count(KeyOf(a))) return a;
  }
  for (Assignment& a : encoding_.Enumerate(1e6)) {
    if (!seen->count(KeyOf(a))) return std::move(a);
  }
  return std::nullopt;
}

absl::Status BayesianOptimizationSampler::Refit(const Data& data) {
  if (model_.has_value() && model_->x().rows() == data.x.rows() && model_->x() == data.x &&
      fit_y_ == data.y) {
    return absl::OkStatus();
  }
  linalg::LinalgBackend& la = linalg::LinalgBackend::Default();
  const gp::OutputTransform transform = gp::OutputTransform::Fit(data.y, options_.power);
  Eigen::VectorXd targets = transform.Apply(data.y);
  const int n = static_cast<int>(data.x.rows());
  // Each likelihood evaluation costs O(m^3) on the m <= 300 points the fit uses (about 7 ms at
  // m = 300 on one core): the starts share a budget of about 1.2e9 / m^3 evaluations, so small
  // studies get every restart and large ones keep the warm start alone.
  constexpr int kMaxFitPoints = 300;
  constexpr int kEvaluationsPerStart = 120;
  const double m = std::min(n, kMaxFitPoints);
  const int budget = static_cast<int>(std::min(1e6, 1.2e9 / (m * m * m)));
  const int fixed_starts = hyper_.has_value() ? 2 : 1;  // warm start, prior mode
  const int restarts =
      std::clamp(budget / kEvaluationsPerStart - fixed_starts, 0, options_.fit_restarts);
  const bool mode_start = !hyper_.has_value() || budget >= kEvaluationsPerStart;
  const int starts = restarts + (hyper_.has_value() ? 1 : 0) + (mode_start ? 1 : 0);
  gp::GpFitOptions fit{.kernel = options_.kernel,
                       .noise_floor = options_.noise_floor,
                       .restarts = restarts,
                       .max_evaluations = std::clamp(budget / starts, 25, kEvaluationsPerStart),
                       .max_fit_points = kMaxFitPoints,
                       .seed = internal::TrialSeed(seed_, kSuggestSalt, static_cast<uint64_t>(n)),
                       .warm_start = hyper_,
                       .start_at_prior_mode = mode_start};
  absl::StatusOr<linalg::GpHyperparameters> h = gp::FitHyperparameters(la, data.x, targets, fit);
  if (!h.ok()) return h.status();
  absl::StatusOr<gp::GpModel> model = gp::GpModel::Create(la, data.x, targets, *h);
  if (!model.ok()) return model.status();
  // gp_hedge: reward each acquisition by the new model's (negated) mean at its last proposal.
  if (options_.acq == AcqKind::kHedge && hedge_last_.rows() == 3) {
    Eigen::VectorXd mean, variance;
    if (absl::Status s = model->Predict(hedge_last_, &mean, &variance); !s.ok()) return s;
    gains_ -= mean;
  }
  hyper_ = *h;
  model_ = std::move(*model);
  fit_y_ = data.y;
  return absl::OkStatus();
}

int BayesianOptimizationSampler::CandidateCount(int n) const {
  const int params = static_cast<int>(space_.params.size());
  const int base = options_.n_candidates.value_or(std::clamp(256 * params, 1024, 4096));
  // Each candidate's variance costs O(n^2); keep the batch near 2e9 multiply-adds.
  const double affordable = 2e9 / std::max(1.0, static_cast<double>(n) * n);
  return std::max(std::min(base, static_cast<int>(affordable)), std::min(base, 256));
}

absl::StatusOr<double> BayesianOptimizationSampler::Fantasy(const gp::GpModel& model,
                                                            const Eigen::VectorXd& z) const {
  switch (options_.parallel) {
    case Parallel::kLiarMin:
      return model_->y().minCoeff();
    case Parallel::kLiarMean:
      return model_->y().mean();
    case Parallel::kLiarMax:
      return model_->y().maxCoeff();
    case Parallel::kKrigingBeliever:
      break;
  }
  Eigen::VectorXd mean, variance;
  if (absl::Status s = model.Predict(z.transpose(), &mean, &variance); !s.ok()) return s;
  return mean(0);
}

absl::Status BayesianOptimizationSampler::Believe(const Eigen::VectorXd& z, gp::GpModel* model,
                                                  double* incumbent) const {
  absl::StatusOr<double> f = Fantasy(*model, z);
  if (!f.ok()) return f.status();
  *incumbent = std::min(*incumbent, *f);
  return model->Condition(z.transpose(), Eigen::VectorXd::Constant(1, *f), options_.noise_floor);
}

absl::StatusOr<std::optional<Candidate>> BayesianOptimizationSampler::Maximize(
    const gp::GpModel& model, const gp::Acquisition& acq, std::mt19937_64& rng,
    const std::set<Key>& seen) {
  const int dims = encoding_.Dimensions();
  const int params = static_cast<int>(space_.params.size());
  const int count = CandidateCount(model.size());
  std::vector<Assignment> assignments;
  const double cardinality = encoding_.Cardinality();
  if (cardinality <= count + count / 4) {
    for (Assignment& a : encoding_.Enumerate(cardinality)) {
      if (!seen.count(KeyOf(a))) assignments.push_back(std::move(a));
    }
  } else {
    if (params <= internal::kMaxSobolDims) {
      absl::StatusOr<std::vector<double>> u = internal::ShiftedSobolPoints(params, 0, count, rng());
      if (!u.ok()) return u.status();
      for (int i = 0; i < count; ++i) {
        assignments.push_back(
            encoding_.FromUnitPerParameter(u->data() + static_cast<size_t>(i) * params));
      }
    }
    // Perturbations of the best trials (in the fitted targets' order).
    const int top = std::min<int>(5, static_cast<int>(model_->y().size()));
    std::vector<int> order(model_->y().size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](int a, int b) { return model_->y()(a) < model_->y()(b); });
    const int per_point = std::max(8, count / 4 / std::max(top, 1));
    // Half move every coordinate a little (scales 0.01, 0.05, 0.2); half move one to three
    // coordinates anywhere in [0, 1], which finds the other basins of separable functions.
    const double scales[] = {0.01, 0.05, 0.2};
    std::normal_distribution<double> normal;
    for (int t = 0; t < top; ++t) {
      const Eigen::VectorXd center = model_->x().row(order[t]).transpose();
      for (int j = 0; j < per_point; ++j) {
        Eigen::VectorXd z = center;
        if (j % 2 == 0) {
          const double scale = scales[(j / 2) % 3];
          for (int d = 0; d < dims; ++d) z(d) += scale * normal(rng);
        } else {
          const int moves = 1 + static_cast<int>(rng() % static_cast<uint64_t>(std::min(3, dims)));
          for (int m = 0; m < moves; ++m) {
            z(static_cast<int>(rng() % static_cast<uint64_t>(dims))) = internal::Uniform01(rng);
          }
        }
        assignments.push_back(encoding_.Decode(z));
      }
    }
  }
  if (assignments.empty()) return std::optional<Candidate>();
  Eigen::MatrixXd z(static_cast<Eigen::Index>(assignments.size()), dims);
  for (size_t i = 0; i < assignments.size(); ++i) {
    absl::StatusOr<Eigen::VectorXd> e = encoding_.Encode(assignments[i]);
    if (!e.ok()) return e.status();
    z.row(i) = e->transpose();
  }
  Eigen::VectorXd mean, variance;
  if (absl::Status s = model.Predict(z, &mean, &variance); !s.ok()) return s;
  std::vector<double> value(assignments.size());
  for (size_t i = 0; i < assignments.size(); ++i) {
    value[i] = acq.Evaluate(mean(i), std::sqrt(variance(i))).value;
    if (!std::isfinite(value[i])) value[i] = -std::numeric_limits<double>::infinity();
  }
  std::vector<int> order(assignments.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return value[a] > value[b]; });

  std::vector<Candidate> best;
  std::set<Key> taken;
  // Polishing costs O(n^2) per step and point: fewer, shorter polishes for large n.
  const int polish = model.size() > 1000 ? 2 : model.size() > 500 ? 3 : 5;
  for (int i : order) {
    if (static_cast<int>(best.size()) >= polish) break;
    Key k = KeyOf(assignments[i]);
    if (seen.count(k) || !taken.insert(k).second) continue;
    best.push_back({z.row(i).transpose(), assignments[i], value[i]});
  }
  if (best.empty()) return std::optional<Candidate>();

  const std::vector<bool>& free = encoding_.continuous();
  std::vector<int> free_dims;
  for (int d = 0; d < dims; ++d) {
    if (free[d]) free_dims.push_back(d);
  }
  if (options_.polish && !free_dims.empty()) {
    for (Candidate& c : best) {
      struct Ctx {
        const gp::GpModel* model;
        const gp::Acquisition* acq;
        const std::vector<int>* free_dims;
        Eigen::VectorXd z;
        absl::Status error;
      } ctx{&model, &acq, &free_dims, c.z, absl::OkStatus()};
      auto objective = [](unsigned m, const double* x, double* grad, void* data) -> double {
        auto* ctx = static_cast<Ctx*>(data);
        for (unsigned j = 0; j < m; ++j) ctx->z((*ctx->free_dims)[j]) = x[j];
        double mu = 0, var = 0;
        Eigen::VectorXd dmu, dvar;
        absl::Status s = ctx->model->PredictWithGradient(ctx->z, &mu, &var, &dmu, &dvar);
        if (!s.ok()) {
          ctx->error = s;
          if (grad != nullptr) std::fill(grad, grad + m, 0.0);
          return 1e100;
        }
        const double sd = std::sqrt(std::max(var, 1e-24));
        const gp::AcquisitionValue a = ctx->acq->Evaluate(mu, sd);
        if (grad != nullptr) {
          for (unsigned j = 0; j < m; ++j) {
            const int d = (*ctx->free_dims)[j];
            grad[j] = -(a.d_mean * dmu(d) + a.d_std * dvar(d) / (2 * sd));
          }
        }
        return std::isfinite(a.value) ? -a.value : 1e100;
      };
      std::vector<double> x(free_dims.size());
      for (size_t j = 0; j < free_dims.size(); ++j) x[j] = c.z(free_dims[j]);
      double minimum = 0;
      try {
        nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(x.size()));
        // A box around the candidate, not the whole cube: on the cube L-BFGS runs into the
        // corners, where the posterior's extrapolation makes the acquisition look best.
        std::vector<double> lower(x.size()), upper(x.size());
        for (size_t j = 0; j < x.size(); ++j) {
          lower[j] = std::max(0.0, x[j] - kPolishRadius);
          upper[j] = std::min(1.0, x[j] + kPolishRadius);
        }
        opt.set_lower_bounds(lower);
        opt.set_upper_bounds(upper);
        opt.set_min_objective(+objective, &ctx);
        opt.set_maxeval(model.size() > 500 ? 15 : 40);
        opt.set_ftol_rel(1e-9);
        opt.optimize(x, minimum);
      } catch (const nlopt::roundoff_limited&) {
        // x holds the best point reached.
      } catch (const std::exception&) {
        continue;  // keep the unpolished candidate
      }
      if (!ctx.error.ok()) return ctx.error;
      Eigen::VectorXd moved = c.z;
      for (size_t j = 0; j < free_dims.size(); ++j) moved(free_dims[j]) = x[j];
      Assignment a = encoding_.Decode(moved);
      Key k = KeyOf(a);
      if (seen.count(k)) continue;
      absl::StatusOr<Eigen::VectorXd> snapped = encoding_.Encode(a);
      if (!snapped.ok()) return snapped.status();
      Eigen::VectorXd m1, v1;
      if (absl::Status s = model.Predict(snapped->transpose(), &m1, &v1); !s.ok()) return s;
      const double v = acq.Evaluate(m1(0), std::sqrt(v1(0))).value;
      if (std::isfinite(v) && v > c.value) {
        c = Candidate{*snapped, std::move(a), v};
      }
    }
  }
  const Candidate* winner = &best[0];
  for (const Candidate& c : best) {
    if (c.value > winner->value) winner = &c;
  }
  return std::optional<Candidate>(*winner);
}

absl::StatusOr<std::optional<Candidate>> BayesianOptimizationSampler::Propose(
    const gp::GpModel& model, uint64_t index, const std::set<Key>& seen, double incumbent,
    Eigen::MatrixXd* hedge_proposals) {
  std::mt19937_64 rng(internal::TrialSeed(seed_, kSuggestSalt, index));
  const double best = incumbent;
  const double xi = options_.xi.value_or(options_.acq == AcqKind::kLogEi ? 0.0 : 0.01);
  switch (options_.acq) {
    case AcqKind::kLogEi:
      return Maximize(model, gp::LogExpectedImprovement(best, xi), rng, seen);
    case AcqKind::kEi:
      return Maximize(model, gp::ExpectedImprovement(best, xi), rng, seen);
    case AcqKind::kPi:
      return Maximize(model, gp::ProbabilityOfImprovement(best, xi), rng, seen);
    case AcqKind::kLcb:
      return Maximize(model, gp::LowerConfidenceBound(options_.kappa), rng, seen);
    case AcqKind::kHedge:
      break;
  }
  // gp_hedge: each member proposes; one proposal is chosen with probability softmax(gains).
  const gp::ExpectedImprovement ei(best, xi);
  const gp::ProbabilityOfImprovement pi(best, xi);
  const gp::LowerConfidenceBound lcb(options_.kappa);
  const gp::Acquisition* members[] = {&ei, &pi, &lcb};
  std::vector<std::optional<Candidate>> proposals;
  for (const gp::Acquisition* a : members) {
    absl::StatusOr<std::optional<Candidate>> c = Maximize(model, *a, rng, seen);
    if (!c.ok()) return c.status();
    proposals.push_back(std::move(*c));
  }
  if (!proposals[0].has_value()) return std::optional<Candidate>();
  hedge_proposals->resize(3, encoding_.Dimensions());
  for (int i = 0; i < 3; ++i) hedge_proposals->row(i) = proposals[i]->z.transpose();
  const Eigen::ArrayXd w = (gains_.array() - gains_.maxCoeff()).exp();
  double u = internal::Uniform01(rng) * w.sum();
  int chosen = 0;
  while (chosen < 2 && u >= w(chosen)) u -= w(chosen++);
  return std::move(proposals[chosen]);
}

absl::StatusOr<std::vector<Assignment>> BayesianOptimizationSampler::Suggest(
    const SearchSpace& space, const History& history, int n) {
  if (n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bayesianoptimization: n must be >= 0; got ", n));
  }
  if (absl::Status s = ValidateSearchSpace(space); !s.ok()) return s;
  if (!(space == space_)) {
    absl::StatusOr<SpaceEncoding> enc = SpaceEncoding::Create(space);
    if (!enc.ok()) return enc.status();
    encoding_ = std::move(*enc);
    space_ = space;
    model_.reset();
    hyper_.reset();
    hedge_last_.resize(0, 0);
  }
  std::vector<Assignment> out;
  if (n == 0) return out;
  std::set<Key> seen;
  Data data = Collect(history, &seen);
  std::optional<gp::GpModel> conditioned;
  // The best target, fantasies included: a kriging believer's pending point predicted below the
  // best must not keep its improvement, or the batch piles up there.
  double incumbent = 0;
  for (int k = 0; k < n; ++k) {
    const uint64_t index = history.trials.size() + static_cast<uint64_t>(k);
    if (index < static_cast<uint64_t>(options_.n_initial_points) || data.y.size() < 2) {
      std::optional<Assignment> a = InitialPoint(index, &seen);
      if (!a.has_value()) break;
      seen.insert(KeyOf(*a));
      absl::StatusOr<Eigen::VectorXd> z = encoding_.Encode(*a);
      if (!z.ok()) return z.status();
      // Still before the model (the GP phase, once reached, lasts the call): just pending.
      AppendRow(*z, &data.pending);
      out.push_back(std::move(*a));
      continue;
    }
    if (!conditioned.has_value()) {
      if (absl::Status s = Refit(data); !s.ok()) return s;
      conditioned = *model_;
      incumbent = model_->y().minCoeff();
      // Pending trials one at a time, in order, so a batch and single calls agree exactly.
      for (Eigen::Index i = 0; i < data.pending.rows(); ++i) {
        if (absl::Status s = Believe(data.pending.row(i).transpose(), &*conditioned, &incumbent);
            !s.ok()) {
          return s;
        }
      }
    }
    Eigen::MatrixXd hedge;
    absl::StatusOr<std::optional<Candidate>> c =
        Propose(*conditioned, index, seen, incumbent, &hedge);
    if (!c.ok()) return c.status();
    if (!c->has_value()) break;
    if (hedge.rows() == 3) hedge_last_ = hedge;
    Candidate& chosen = **c;
    seen.insert(KeyOf(chosen.assignment));
    if (absl::Status s = Believe(chosen.z, &*conditioned, &incumbent); !s.ok()) return s;
    AppendRow(chosen.z, &data.pending);
    out.push_back(std::move(chosen.assignment));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sampler>> MakeBayesianOptimizationSampler(const AlgorithmSpec& algo,
                                                                         const SearchSpace& space,
                                                                         uint64_t seed) {
  absl::StatusOr<Options> options = ParseOptions(algo);
  if (!options.ok()) return options.status();
  absl::StatusOr<SpaceEncoding> encoding = SpaceEncoding::Create(space);
  if (!encoding.ok()) return encoding.status();
  return std::make_unique<BayesianOptimizationSampler>(std::move(*options), std::move(*encoding),
                                                       space, seed);
}

}  // namespace hpt::suggest
