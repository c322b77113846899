// How samplers turn numbers into parameter values (internal to suggest/).
//
// Every sampler that draws points from the unit cube (random: i.i.d. uniforms; sobol: a
// quasi-random sequence) maps coordinate u in [0, 1) of one dimension to one parameter with
// ValueFromUnit(), so they agree on what each distribution means:
//
//   kDouble   uniform     min + u*(max-min)
//             logUniform  exp(log min + u*(log max - log min))
//             normal      mu + sigma*Phi^-1(u), mu = (min+max)/2, sigma = (max-min)/6, clipped
//             logNormal   the same in log space, clipped
//   kInt      like kDouble, on the lattice min, min+step, ... (step defaults to 1): uniform picks
//             lattice point floor(u*count) (each equally likely); the other distributions round the
//             continuous draw to the nearest lattice point.
//   kDouble with a step: the same lattice rule.
//   kDiscrete / kCategorical: list[floor(u*size)].
//
// Values are strings: integers via FormatInt; lattice doubles as the shortest decimal within
// floating-point noise of min + k*step (so 0.1 + 2*0.1 prints as "0.3"); other doubles via
// FormatDouble. Plain functions of their arguments; thread-safe. `p` must pass
// ValidateSearchSpace().
#ifndef HPT_SUGGEST_INTERNAL_VALUE_MAPPING_H_
#define HPT_SUGGEST_INTERNAL_VALUE_MAPPING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "suggest/search_space.h"

namespace hpt::suggest::internal {

// The points min + k*step, k in [0, count), of a quantized numeric parameter.
struct Lattice {
  double min = 0;
  double step = 1;
  int64_t count = 1;
};

// kInt: always (step defaults to 1). kDouble with a step: the points min + k*step <= max, allowing
// max to be overshot by 1e-9*(max-min) so that floating noise does not drop the last point.
// nullopt for an unquantized kDouble and for list parameters.
std::optional<Lattice> NumericLattice(const ParameterSpec& p);

// The value string of lattice point k (0 <= k < lattice.count) of `p`, clamped to [min, max].
std::string LatticeValue(const ParameterSpec& p, const Lattice& lattice, int64_t k);

// The shortest decimal (as FormatDouble prints it) within `noise` of v; FormatDouble(v) when
// noise <= 0.
std::string FormatRounded(double v, double noise);

// The floating-point noise of computing a + b*c in doubles (a few ulps of the operands).
double ArithmeticNoise(double a, double bc);

// Phi^-1(u): the standard normal quantile. u is clamped to [1e-12, 1 - 1e-12].
double NormalQuantile(double u);

// Maps u in [0, 1) to a value of `p` following its distribution (see the file comment).
std::string ValueFromUnit(const ParameterSpec& p, double u);

}  // namespace hpt::suggest::internal

#endif  // HPT_SUGGEST_INTERNAL_VALUE_MAPPING_H_
