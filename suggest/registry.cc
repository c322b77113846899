// The algorithm registry behind MakeSampler (declared in suggest/sampler.h).
#include <algorithm>
#include <iterator>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "suggest/gp/bo_sampler.h"
#include "suggest/grid_sampler.h"
#include "suggest/random_sampler.h"
#include "suggest/sampler.h"
#include "suggest/sobol_sampler.h"

namespace hpt::suggest {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<Sampler>> (*)(const AlgorithmSpec&,
                                                             const SearchSpace&, uint64_t);

struct Registered {
  std::string_view name;
  Factory make;
};

// Sorted by name.
constexpr Registered kAlgorithms[] = {
    {"bayesianoptimization", &MakeBayesianOptimizationSampler},
    {"grid", &MakeGridSampler},
    {"random", &MakeRandomSampler},
    {"sobol", &MakeSobolSampler},
};

// Katib algorithm names (v1beta1 and v1alpha1) that hpt does not implement yet.
constexpr std::string_view kNotYetSupported[] = {
    "cmaes", "darts", "enas", "hyperband", "multivariate-tpe", "nasenvelopenet", "nasrl", "pbt",
    "tpe",
};

}  // namespace

std::vector<std::string> KnownAlgorithms() {
  std::vector<std::string> names;
  for (const Registered& r : kAlgorithms) names.emplace_back(r.name);
  return names;
}

absl::StatusOr<std::unique_ptr<Sampler>> MakeSampler(const AlgorithmSpec& algo,
                                                     const SearchSpace& space, uint64_t seed) {
  for (const Registered& r : kAlgorithms) {
    if (r.name == algo.name) return r.make(algo, space, seed);
  }
  const std::string known = absl::StrJoin(KnownAlgorithms(), ", ");
  if (std::find(std::begin(kNotYetSupported), std::end(kNotYetSupported), algo.name) !=
      std::end(kNotYetSupported)) {
    return absl::UnimplementedError(
        absl::StrCat("not supported yet: algorithm '", algo.name, "' (hpt supports: ", known, ")"));
  }
  return absl::NotFoundError(absl::StrCat("unknown algorithm '", algo.name, "'; known: ", known));
}

}  // namespace hpt::suggest
