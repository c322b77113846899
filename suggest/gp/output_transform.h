// Output transforms of the GP sampler: objective values -> the standardized targets the GP fits.
//
//   gp::OutputTransform t = gp::OutputTransform::Fit(y, /*power=*/true);
//   Eigen::VectorXd targets = t.Apply(y);
//
// Standardize: (y - mean) / std (std 1 when all values are equal). Power: first standardize, then
// the Yeo-Johnson transform (Yeo & Johnson, "A new family of power transformations to improve
// normality or symmetry", Biometrika 2000) with lambda in [-2, 2] maximizing the Gaussian
// profile log-likelihood, then standardize again. Both are monotone increasing, so the best value
// stays the best. Immutable after Fit; thread-safe.
#ifndef HPT_SUGGEST_GP_OUTPUT_TRANSFORM_H_
#define HPT_SUGGEST_GP_OUTPUT_TRANSFORM_H_

#include <Eigen/Core>

namespace hpt::suggest::gp {

class OutputTransform {
 public:
  // y must be finite and non-empty.
  static OutputTransform Fit(const Eigen::VectorXd& y, bool power);
  Eigen::VectorXd Apply(const Eigen::VectorXd& y) const;
  double lambda() const { return lambda_; }
  bool power() const { return power_; }

  // The Yeo-Johnson transform of v with parameter lambda.
  static double YeoJohnson(double v, double lambda);

 private:
  double mean1_ = 0, std1_ = 1;  // the first standardization
  bool power_ = false;
  double lambda_ = 1;
  double mean2_ = 0, std2_ = 1;  // after the power transform
};

}  // namespace hpt::suggest::gp

#endif  // HPT_SUGGEST_GP_OUTPUT_TRANSFORM_H_
