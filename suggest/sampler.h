// Sampler: the plug-in interface of every suggestion algorithm, and the registry by name.
//
//   absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(study.algorithm, study.space, seed);
//   if (!s.ok()) return s.status();              // unknown algorithm or setting, clear message
//   auto next = (*s)->Suggest(study.space, history, 3);
//
// Samplers are pure computation: no I/O, no threads. The same seed and the same sequence of calls
// give the same suggestions.
#ifndef HPT_SUGGEST_SAMPLER_H_
#define HPT_SUGGEST_SAMPLER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "suggest/search_space.h"

namespace hpt::suggest {

// One per study. Not thread-safe: the engine serializes calls.
class Sampler {
 public:
  virtual ~Sampler() = default;
  // Returns up to n new assignments. `history` holds every trial of the study so far (finished
  // ones with their values, pending ones without) so samplers can avoid duplicates. Fewer than n
  // (possibly none) means the algorithm has nothing more to propose (e.g. grid exhausted).
  virtual absl::StatusOr<std::vector<Assignment>> Suggest(const SearchSpace& space,
                                                          const History& history, int n) = 0;
};

// Creates the sampler registered under `algo.name` ("random", "grid", "sobol", ...), validating
// `algo.settings` against `space`. NotFound for an unknown name, listing the known ones;
// Unimplemented ("not supported yet: algorithm 'X'") for Katib algorithms hpt does not have yet;
// InvalidArgument for an unknown or malformed setting, naming it and what is allowed.
absl::StatusOr<std::unique_ptr<Sampler>> MakeSampler(const AlgorithmSpec& algo,
                                                     const SearchSpace& space, uint64_t seed);

// The names MakeSampler accepts, sorted.
std::vector<std::string> KnownAlgorithms();

}  // namespace hpt::suggest

#endif  // HPT_SUGGEST_SAMPLER_H_
