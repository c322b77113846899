// SpaceEncoding: how a search space maps to the unit cube the Gaussian process works in, and back.
//
//   absl::StatusOr<gp::SpaceEncoding> enc = gp::SpaceEncoding::Create(space);
//   absl::StatusOr<Eigen::VectorXd> z = enc->Encode(assignment);   // a finished trial's params
//   Assignment a = enc->Decode(z_candidate);                        // always a valid assignment
//
// Each parameter takes one or more coordinates in [0, 1]:
//   kDouble        one: (w(v) - w(min)) / (w(max) - w(min)), w = log for logUniform/logNormal,
//                  identity otherwise (the distribution's shape only matters to random search)
//   kInt           one, the same map on the integer lattice min, min+step, ...
//   kDouble + step one, the same map on its lattice
//   kDiscrete      one, the same map over the numeric list (log when every value is > 0 and
//                  they span three decades or more)
//   kCategorical   one per value (one-hot)
// Decode snaps every coordinate to the nearest valid value (nearest lattice point or list value
// in the warped scale; the largest one-hot coordinate for categoricals), so whatever point an
// optimizer produces, the assignment is valid. Encode(Decode(z)) is the snapped z.
//
// Immutable after Create; thread-safe.
#ifndef HPT_SUGGEST_GP_ENCODING_H_
#define HPT_SUGGEST_GP_ENCODING_H_

#include <Eigen/Core>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "suggest/internal/value_mapping.h"
#include "suggest/search_space.h"

namespace hpt::suggest::gp {

class SpaceEncoding {
 public:
  // InvalidArgument when the space fails ValidateSearchSpace.
  static absl::StatusOr<SpaceEncoding> Create(const SearchSpace& space);

  // The number of unit-cube coordinates.
  int Dimensions() const { return dims_; }
  // True for coordinates that take any value in [0, 1] (unquantized doubles): the ones a
  // gradient-based optimizer may move freely.
  const std::vector<bool>& continuous() const { return continuous_; }
  // The number of points of the space: infinity when it has an unquantized double.
  double Cardinality() const;

  // InvalidArgument when `a` misses a parameter, has an unknown one, or a value is not valid for
  // its parameter (not a number, outside [min, max], not in the list).
  absl::StatusOr<Eigen::VectorXd> Encode(const Assignment& a) const;

  // The valid assignment nearest to z (see the file comment). z must have Dimensions() entries.
  Assignment Decode(const Eigen::VectorXd& z) const;

  // The point of the space for one unit coordinate per parameter (u in [0, 1)^P, P = the number of
  // parameters), spread like the samplers' uniform maps: ints and lists by equal bins, categoricals
  // by equal bins over their values. Used to map Sobol points to candidates.
  Assignment FromUnitPerParameter(const double* u) const;

  // The finite space's points in a fixed order, when Cardinality() <= limit; empty otherwise.
  std::vector<Assignment> Enumerate(double limit) const;

 private:
  enum class Kind { kContinuous, kLattice, kList, kOneHot };
  struct Param {
    int index = 0;  // into space_.params
    Kind kind = Kind::kContinuous;
    bool log = false;
    int offset = 0;  // first coordinate
    // kLattice
    internal::Lattice lattice;
    // kList: numeric values in ascending order, with their list strings
    std::vector<double> values;
    std::vector<std::string> labels;
    double lo = 0;  // warped range of the parameter
    double hi = 0;
  };

  explicit SpaceEncoding(SearchSpace space) : space_(std::move(space)) {}
  double Warp(const Param& p, double v) const;
  double Unwarp(const Param& p, double w) const;
  double ToUnit(const Param& p, double v) const;
  std::string SnapNumeric(const Param& p, double u, double* snapped_u) const;

  SearchSpace space_;
  std::vector<Param> params_;
  int dims_ = 0;
  std::vector<bool> continuous_;
};

}  // namespace hpt::suggest::gp

#endif  // HPT_SUGGEST_GP_ENCODING_H_
