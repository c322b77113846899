// Acquisition functions: how much a candidate with posterior mean mu and standard deviation sigma
// is worth evaluating next, for a MINIMIZED objective whose best (lowest) value so far is f*.
// Larger is better. Each returns its value and its derivatives with respect to mu and sigma, so
// the sampler can chain them with the posterior's gradient for gradient-based polishing.
//
//   gp::LogExpectedImprovement acq(/*best=*/-0.7, /*xi=*/0.0);
//   gp::AcquisitionValue a = acq.Evaluate(mean, std);   // a.value, a.d_mean, a.d_std
//
// With z = (f* - xi - mu) / sigma, phi and Phi the standard normal pdf and cdf:
//   EI     sigma (phi(z) + z Phi(z))              Mockus, Tiesis & Zilinskas 1978; Jones, Schonlau
//                                                 & Welch, "Efficient Global Optimization of
//                                                 Expensive Black-Box Functions", 1998
//   LogEI  log(sigma) + log(phi(z) + z Phi(z)),   Ament, Daulton, Eriksson, Balandat & Bakshy,
//          evaluated without underflow for        "Unexpected Improvements to Expected
//          z << 0                                 Improvement for Bayesian Optimization",
//                                                 NeurIPS 2023
//   PI     Phi(z)                                 Kushner, "A New Method of Locating the Maximum
//                                                 Point of an Arbitrary Multipeak Curve in the
//                                                 Presence of Noise", 1964
//   LCB    -(mu - kappa sigma)                    Srinivas, Krause, Kakade & Seeger, "Gaussian
//                                                 Process Optimization in the Bandit Setting",
//                                                 ICML 2010 (GP-UCB, here for minimization)
// The gp_hedge portfolio over EI, PI and LCB (Hoffman, Brochu & de Freitas, "Portfolio Allocation
// for Bayesian Optimization", UAI 2011) lives in the sampler, which owns the gains.
//
// Immutable after construction; thread-safe.
#ifndef HPT_SUGGEST_GP_ACQUISITION_H_
#define HPT_SUGGEST_GP_ACQUISITION_H_

namespace hpt::suggest::gp {

struct AcquisitionValue {
  double value = 0;
  double d_mean = 0;  // d value / d mu
  double d_std = 0;   // d value / d sigma
};

class Acquisition {
 public:
  virtual ~Acquisition() = default;
  // sigma is clamped to >= 1e-12.
  virtual AcquisitionValue Evaluate(double mean, double std) const = 0;
  virtual const char* Name() const = 0;
};

class ExpectedImprovement final : public Acquisition {
 public:
  ExpectedImprovement(double best, double xi) : target_(best - xi) {}
  AcquisitionValue Evaluate(double mean, double std) const override;
  const char* Name() const override { return "EI"; }

 private:
  double target_;
};

class LogExpectedImprovement final : public Acquisition {
 public:
  LogExpectedImprovement(double best, double xi) : target_(best - xi) {}
  AcquisitionValue Evaluate(double mean, double std) const override;
  const char* Name() const override { return "LogEI"; }

 private:
  double target_;
};

class ProbabilityOfImprovement final : public Acquisition {
 public:
  ProbabilityOfImprovement(double best, double xi) : target_(best - xi) {}
  AcquisitionValue Evaluate(double mean, double std) const override;
  const char* Name() const override { return "PI"; }

 private:
  double target_;
};

class LowerConfidenceBound final : public Acquisition {
 public:
  explicit LowerConfidenceBound(double kappa) : kappa_(kappa) {}
  AcquisitionValue Evaluate(double mean, double std) const override;
  const char* Name() const override { return "LCB"; }

 private:
  double kappa_;
};

// log(phi(z) + z Phi(z)) and its derivative Phi(z) / (phi(z) + z Phi(z)), accurate for every
// finite z (for z << 0 through the scaled complementary error function). Exposed for tests.
double LogH(double z, double* derivative);
// exp(x^2) erfc(x) for x >= 0 (the scaled complementary error function).
double Erfcx(double x);

}  // namespace hpt::suggest::gp

#endif  // HPT_SUGGEST_GP_ACQUISITION_H_
