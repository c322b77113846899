#include "suggest/sobol_sampler.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

using testing::MustSuggest;

const AlgorithmSpec kSobol{.name = "sobol", .settings = {}};

std::unique_ptr<Sampler> MustMakeSobol(const SearchSpace& space, uint64_t seed) {
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSobolSampler(kSobol, space, seed);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

SearchSpace UnitCube(int dims) {
  SearchSpace s;
  for (int d = 0; d < dims; ++d) s.params.push_back(testing::Double("x" + std::to_string(d), 0, 1));
  return s;
}

// Points first .. first+count-1 as coordinates in [0, 1).
std::vector<std::vector<double>> Points(const SearchSpace& space, uint64_t seed, int first,
                                        int count) {
  std::unique_ptr<Sampler> s = MustMakeSobol(space, seed);
  History history;
  history.trials.resize(first);  // only the size matters to sobol
  std::vector<std::vector<double>> out;
  for (const Assignment& a : MustSuggest(*s, space, history, count)) {
    std::vector<double> p;
    for (const ParamValue& v : a) p.push_back(*Numeric(v.value));
    out.push_back(p);
  }
  return out;
}

TEST(SobolSamplerTest, EveryAlignedBlockOf16HitsAll16BinsIn1D) {
  for (uint64_t seed : {0, 1, 42, 123456789}) {
    for (int first : {0, 16, 32, 1024}) {
      std::set<int> bins;
      for (const std::vector<double>& p : Points(UnitCube(1), seed, first, 16)) {
        bins.insert(static_cast<int>(std::floor(p[0] * 16)));
      }
      EXPECT_EQ(bins.size(), 16u) << "seed " << seed << ", points " << first << "..";
    }
  }
}

TEST(SobolSamplerTest, TheFirstTwoDimensionsFormANet) {
  // 2^m points: one in each 2^-a x 2^-(m-a) box; checked for squares with m = 4 and 8.
  for (uint64_t seed : {3, 99}) {
    for (int m : {4, 8}) {
      const int side = 1 << (m / 2);
      std::set<std::pair<int, int>> cells;
      for (const std::vector<double>& p : Points(UnitCube(3), seed, 0, 1 << m)) {
        cells.insert({static_cast<int>(p[0] * side), static_cast<int>(p[1] * side)});
      }
      EXPECT_EQ(static_cast<int>(cells.size()), 1 << m) << "seed " << seed << ", m " << m;
    }
  }
}

TEST(SobolSamplerTest, DigitalShiftDependsOnTheSeed) {
  std::vector<std::vector<double>> a = Points(UnitCube(2), 1, 0, 8);
  std::vector<std::vector<double>> b = Points(UnitCube(2), 2, 0, 8);
  EXPECT_EQ(a, Points(UnitCube(2), 1, 0, 8));
  for (int i = 0; i < 8; ++i) EXPECT_NE(a[i], b[i]) << i;
  // Point 0 is the shift itself, not the origin.
  EXPECT_NE(a[0], std::vector<double>({0.0, 0.0}));
}

TEST(SobolSamplerTest, IntsAndListsAreCoveredByEqualBins) {
  SearchSpace s;
  s.params = {testing::Int("n", 0, 3), testing::Categorical("c", {"a", "b", "c", "d"})};
  std::unique_ptr<Sampler> sampler = MustMakeSobol(s, 5);
  std::set<std::string> n, c;
  for (const Assignment& a : MustSuggest(*sampler, s, {}, 4)) {
    n.insert(a[0].value);
    c.insert(a[1].value);
  }
  EXPECT_THAT(n, ::testing::ElementsAre("0", "1", "2", "3"));
  EXPECT_THAT(c, ::testing::ElementsAre("a", "b", "c", "d"));
}

TEST(SobolSamplerTest, LogUniformCoversEveryDecadeEvenly) {
  SearchSpace s;
  s.params = {testing::Double("lr", 1e-4, 1, Distribution::kLogUniform)};
  int per_decade[4] = {0, 0, 0, 0};
  std::unique_ptr<Sampler> sampler = MustMakeSobol(s, 8);
  for (const Assignment& a : MustSuggest(*sampler, s, {}, 64)) {
    const int decade = static_cast<int>(std::floor(std::log10(*Numeric(a[0].value)) + 4));
    ASSERT_GE(decade, 0);
    ASSERT_LT(decade, 4);
    ++per_decade[decade];
  }
  for (int d = 0; d < 4; ++d) EXPECT_EQ(per_decade[d], 16) << d;
}

TEST(SobolSamplerTest, RejectsSettingsAndTooManyDimensions) {
  absl::StatusOr<std::unique_ptr<Sampler>> s =
      MakeSobolSampler({.name = "sobol", .settings = {{"scramble", "true"}}}, UnitCube(2), 1);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "algorithm 'sobol': unknown setting 'scramble'; allowed: none (sobol takes no "
            "settings)");
  s = MakeSobolSampler(kSobol, UnitCube(kMaxSobolDimensions + 1), 1);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), "sobol supports at most 3667 parameters; the space has 3668");
  EXPECT_NE(MustMakeSobol(UnitCube(kMaxSobolDimensions), 1), nullptr);
}

TEST(SobolSamplerTest, ManyDimensionsStayInRange) {
  const SearchSpace space = UnitCube(kMaxSobolDimensions);
  std::unique_ptr<Sampler> s = MustMakeSobol(space, 4);
  History history;
  history.trials.resize(1000);
  std::vector<Assignment> batch = MustSuggest(*s, space, history, 2);
  ASSERT_EQ(batch.size(), 2u);
  for (const Assignment& a : batch) testing::ExpectValid(space, a);
}

}  // namespace
}  // namespace hpt::suggest
