// A Gaussian-process regression model with a constant mean, and the maximum-a-posteriori fit of
// its hyperparameters. Linear algebra goes through a linalg::LinalgBackend only, so the same
// model runs on the CPU (Eigen) or on a GPU backend.
//
//   gp::GpFitOptions options{.seed = 7};
//   absl::StatusOr<linalg::GpHyperparameters> h = gp::FitHyperparameters(la, x, y, options);
//   absl::StatusOr<gp::GpModel> model = gp::GpModel::Create(la, x, y, *h);
//   Eigen::VectorXd mean, variance;
//   absl::Status s = model->Predict(candidates, &mean, &variance);
//
// Inputs are rows in the unit cube (see suggest/gp/encoding.h); outputs are expected to be
// standardized (mean 0, variance 1), which the priors below assume.
//
// The fit maximizes log p(y | theta) + log p(theta) over theta = (log length scales, log signal
// variance, log noise variance, mean) with NLopt's L-BFGS and the analytic gradient, from several
// starts: the previous fit (warm start), the prior's mode and `restarts` draws from the prior. The
// priors:
//   log lengthscale_d ~ N(sqrt(2) + log(D)/2, 3)   (dimension-scaled; Hvarfner, Hellsten & Nardi,
//                                                   "Vanilla Bayesian Optimization Performs Great
//                                                   in High Dimensions", ICML 2024)
//   log signal variance ~ N(0, 1)
//   log noise variance  ~ N(-4, 1), bounded below by the noise floor
//   mean ~ N(0, 1)
//
// Thread-safety: GpModel is a value; const methods may be called from several threads at once.
#ifndef HPT_SUGGEST_GP_GP_MODEL_H_
#define HPT_SUGGEST_GP_GP_MODEL_H_

#include <Eigen/Core>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "suggest/linalg/backend.h"
#include "suggest/linalg/kernel.h"

namespace hpt::suggest::gp {

struct GpFitOptions {
  linalg::KernelType kernel = linalg::KernelType::kMatern52;
  // The smallest noise variance (in standardized units). Keeps K well conditioned.
  double noise_floor = 1e-6;
  // Random starts drawn from the prior, besides the prior's mode and the warm start. Each start
  // costs up to `max_evaluations` likelihood evaluations, O(n^3) each.
  int restarts = 2;
  int max_evaluations = 120;
  // Above this many observations the hyperparameters are fitted on a subset of this size (the
  // best quarter by value plus an even random draw of the rest); the model itself uses them all.
  int max_fit_points = 300;
  uint64_t seed = 0;
  // The previous fit, used as the first start (when its dimension matches).
  std::optional<linalg::GpHyperparameters> warm_start;
  // Whether the prior's mode is a start too. May be turned off to save time when a warm start
  // is given (without a warm start the mode is always used).
  bool start_at_prior_mode = true;
};

// The negative log density of the prior above (up to a constant) at h, and its gradient with
// respect to h.Pack() when `gradient` is not null.
double NegLogPrior(const linalg::GpHyperparameters& h, Eigen::VectorXd* gradient);

// Fits the hyperparameters of a GP to (x, y): x is n x D with n >= 1, y has n entries, both
// finite. InvalidArgument for bad shapes or values; FailedPrecondition when no start gives a
// factorizable kernel matrix. Deterministic for the same inputs and options.
absl::StatusOr<linalg::GpHyperparameters> FitHyperparameters(linalg::LinalgBackend& la,
                                                             const Eigen::MatrixXd& x,
                                                             const Eigen::VectorXd& y,
                                                             const GpFitOptions& options);

class GpModel {
 public:
  // Conditions a GP with hyperparameters h on (x, y). InvalidArgument for bad shapes;
  // FailedPrecondition when K + noise*I cannot be factored even with jitter.
  static absl::StatusOr<GpModel> Create(linalg::LinalgBackend& la, Eigen::MatrixXd x,
                                        Eigen::VectorXd y, const linalg::GpHyperparameters& h);

  // Adds observations without refitting the hyperparameters, extending the Cholesky factor in
  // O(n^2 k) for k new rows. `noise_variance` is the noise of the new rows: the model's own when
  // absent; a tiny value makes them (near) exact, as the fantasized values of pending trials
  // should be, so that a batch does not pile up where the noise leaves variance. Errors as
  // Create.
  absl::Status Condition(const Eigen::MatrixXd& x_new, const Eigen::VectorXd& y_new,
                         std::optional<double> noise_variance = std::nullopt);

  // Posterior mean and variance of the latent function at the rows of z.
  absl::Status Predict(const Eigen::MatrixXd& z, Eigen::VectorXd* mean,
                       Eigen::VectorXd* variance) const;

  // The same at one point, with the gradients of mean and variance with respect to z.
  absl::Status PredictWithGradient(const Eigen::VectorXd& z, double* mean, double* variance,
                                   Eigen::VectorXd* d_mean, Eigen::VectorXd* d_variance) const;

  int size() const { return static_cast<int>(factor_.x.rows()); }
  const linalg::GpHyperparameters& hyperparameters() const { return h_; }
  // The inputs (rows) and values the model is conditioned on, in order.
  const Eigen::MatrixXd& x() const { return factor_.x; }
  const Eigen::VectorXd& y() const { return y_; }

 private:
  GpModel(linalg::LinalgBackend* la, linalg::GpHyperparameters h) : la_(la), h_(std::move(h)) {}
  absl::Status UpdateAlpha();

  linalg::LinalgBackend* la_;
  linalg::GpHyperparameters h_;
  Eigen::VectorXd y_;
  linalg::PosteriorFactor factor_;
};

}  // namespace hpt::suggest::gp

#endif  // HPT_SUGGEST_GP_GP_MODEL_H_
