// Deterministic random-number helpers shared by the samplers (internal to suggest/).
//
// Every draw a sampler makes is a pure function of (seed, trial index), so suggestions do not
// depend on how calls are batched or whether the engine restarted:
//
//   std::mt19937_64 rng(internal::TrialSeed(seed, internal::kRandomSalt, trial_index));
//   double u = internal::Uniform01(rng);  // [0, 1), 53 random bits
//
// Only the engine's bit output is used (std::mt19937_64 is fully specified by the standard); the
// mapping to [0, 1) is ours, because std::uniform_real_distribution differs between standard
// libraries. Plain functions; thread-safe.
#ifndef HPT_SUGGEST_INTERNAL_RNG_H_
#define HPT_SUGGEST_INTERNAL_RNG_H_

#include <cstdint>
#include <random>

namespace hpt::suggest::internal {

// Salts keep the streams of different samplers independent for the same seed.
inline constexpr uint64_t kRandomSalt = 0x72616e646f6d0001ULL;  // "random"
inline constexpr uint64_t kGridSalt = 0x67726964000002ULL;      // "grid"
inline constexpr uint64_t kSobolSalt = 0x736f626f6c0003ULL;     // "sobol"

// The SplitMix64 finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
constexpr uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A 64-bit seed for stream `index` of a sampler seeded with `seed`. For a fixed (seed, salt) it is
// a bijection of `index`, so no two trials share a stream.
constexpr uint64_t TrialSeed(uint64_t seed, uint64_t salt, uint64_t index) {
  return SplitMix64(SplitMix64(seed ^ salt) ^ (index * 0x9e3779b97f4a7c15ULL));
}

// A double uniform in [0, 1) from the top 53 bits of one engine output.
inline double Uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace hpt::suggest::internal

#endif  // HPT_SUGGEST_INTERNAL_RNG_H_
