// The `bayesianoptimization` algorithm: Gaussian-process Bayesian optimization (Katib's name; its
// v1beta1 settings and the v1alpha1 ones that still mean something).
//
//   AlgorithmSpec algo{.name = "bayesianoptimization", .settings = {{"acq_func", "LogEI"}}};
//   absl::StatusOr<std::unique_ptr<Sampler>> s = MakeBayesianOptimizationSampler(algo, space, 7);
//   auto next = (*s)->Suggest(space, history, 4);
//
// How one suggestion is made:
//  1. Initial design: while the trial index is below n_initial_points (or fewer than two trials
//     have values), the next point of a digitally shifted Sobol' sequence over the parameters.
//  2. Otherwise the finished trials with values are encoded into the unit cube (gp/encoding.h),
//     their values transformed (Yeo-Johnson, then standardized, against outliers; or only
//     standardized),
//     and a GP (Matérn-5/2 ARD by default) is fitted by MAP (gp/gp_model.h), warm-started from the
//     previous fit. The fit is reused while the finished trials do not change.
//  3. Pending trials (running, or proposed earlier in the same call) are added to the model with
//     fantasized values: the posterior mean (kriging believer) or a constant lie (constant liar:
//     the min, mean or max observed value); Ginsbourger, Le Riche & Carraro, "Kriging is
//     well-suited to parallelize optimization", 2010. Fantasies are exact (noise-floor) values and
//     count towards the incumbent, so a batch spreads out instead of piling up.
//  4. The acquisition (LogEI by default; gp/acquisition.h) is evaluated on a scrambled Sobol'
//     candidate set sized by the dimension and shrunk as n grows (every candidate costs O(n^2)),
//     plus perturbations of the five best trials (Gaussian steps of every coordinate, or one to
//     three coordinates moved anywhere); every candidate is snapped to a valid
//     point. The best few are polished with NLopt L-BFGS over the continuous coordinates using the
//     posterior's gradient, each within a box of +-0.1 around it (on the whole cube L-BFGS runs
//     into the corners, where the model's extrapolation flatters the acquisition), then
//     snapped again.
//  5. The best candidate that is not already a trial (finished, failed or pending) wins. A finite
//     space that is used up gives fewer than n suggestions.
//
// Settings (all optional):
//   n_initial_points  integer >= 0, default 10 (v1alpha1: burn_in)
//   acq_func          LogEI (default) | EI | PI | LCB | gp_hedge (v1alpha1: mode = ei | pi)
//   acq_optimizer     auto | lbfgs (candidates, then gradient polishing; default) | sampling
//                     (candidates only)
//   base_estimator    GP (v1alpha1: model_type = gp); RF/ET/GBRT are not supported yet
//   random_state      integer >= 0: replaces the study's seed
//   kernel            matern52 (default) | matern32 | rbf (v1alpha1: kernel_type = matern | rbf,
//                     nu = 1.5 | 2.5)
//   xi                >= 0, the improvement margin of EI/LogEI/PI in standardized units (v1alpha1:
//                     trade_off); default 0 for LogEI, 0.01 for EI and PI
//   kappa             >= 0, LCB's exploration weight, default 1.96
//   parallel_strategy kriging_believer (default) | constant_liar_min | constant_liar_mean |
//                     constant_liar_max
//   output_transform  power (Yeo-Johnson, then standardize; default) | standardize
//   n_candidates      integer >= 16: the Sobol' candidates per suggestion before shrinking for
//                     large n (v1alpha1: N); default clamp(256 * parameters, 1024, 4096)
//   fit_restarts      integer >= 0, default 5: random starts of the hyperparameter fit (none
//                     above 500 trials, where the warm start carries over)
//   noise_floor       > 0, default 1e-6: the smallest noise variance (standardized units)
// Accepted and ignored (they configure models hpt does not have, or Katib internals):
// length_scale, noise (learned here), n_estimators, max_features, trial_hist.
//
// Determinism: the same seed and the same sequence of calls give the same suggestions; a batch of
// n equals n calls of one with the growing pending history.
#ifndef HPT_SUGGEST_GP_BO_SAMPLER_H_
#define HPT_SUGGEST_GP_BO_SAMPLER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::suggest {

// Creates the sampler. InvalidArgument for an unknown setting or a bad value (naming it and what
// is allowed) and for an invalid space; Unimplemented for Katib options hpt lacks (base_estimator
// RF/ET/GBRT, acq_func EIps/PIps). Not thread-safe.
absl::StatusOr<std::unique_ptr<Sampler>> MakeBayesianOptimizationSampler(const AlgorithmSpec& algo,
                                                                         const SearchSpace& space,
                                                                         uint64_t seed);

}  // namespace hpt::suggest

#endif  // HPT_SUGGEST_GP_BO_SAMPLER_H_
