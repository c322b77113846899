#include "suggest/random_sampler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

using testing::MustSuggest;

const AlgorithmSpec kRandom{.name = "random", .settings = {}};

SearchSpace Space(ParameterSpec p) {
  SearchSpace s;
  s.params = {std::move(p)};
  return s;
}

// 2000 draws of the single parameter of `space`, as numbers.
std::vector<double> Draws(const SearchSpace& space, uint64_t seed = 2024) {
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeRandomSampler(kRandom, space, seed);
  EXPECT_TRUE(s.ok()) << s.status();
  std::vector<double> out;
  for (const Assignment& a : MustSuggest(**s, space, {}, 2000)) {
    out.push_back(*Numeric(a[0].value));
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

TEST(RandomSamplerTest, UniformDoubleMeanIsNearTheMiddle) {
  std::vector<double> x = Draws(Space(testing::Double("x", 0, 10)));
  ASSERT_EQ(x.size(), 2000u);
  // The standard error of the mean is 10/sqrt(12*2000) = 0.065; the seed is fixed.
  EXPECT_NEAR(Mean(x), 5.0, 0.3);
  EXPECT_LT(*std::min_element(x.begin(), x.end()), 0.1);
  EXPECT_GT(*std::max_element(x.begin(), x.end()), 9.9);
}

TEST(RandomSamplerTest, LogUniformMedianIsNearTheGeometricMean) {
  std::vector<double> x = Draws(Space(testing::Double("lr", 1e-4, 1, Distribution::kLogUniform)));
  EXPECT_NEAR(std::log10(Median(x)), -2.0, 0.15);
  int below_1e3 = 0;
  for (double v : x) below_1e3 += v < 1e-3;
  EXPECT_NEAR(below_1e3 / 2000.0, 0.25, 0.04);  // a quarter of the decades
}

TEST(RandomSamplerTest, NormalHasMuAndSigmaFromTheRangeAndIsClipped) {
  std::vector<double> x = Draws(Space(testing::Double("w", 0, 6, Distribution::kNormal)));
  const double mean = Mean(x);
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 3.0, 0.1);                   // mu = (min+max)/2
  EXPECT_NEAR(std::sqrt(var / 2000), 1.0, 0.1);  // sigma = (max-min)/6
  EXPECT_GE(*std::min_element(x.begin(), x.end()), 0.0);
  EXPECT_LE(*std::max_element(x.begin(), x.end()), 6.0);
}

TEST(RandomSamplerTest, LogNormalIsCenteredOnTheGeometricMean) {
  std::vector<double> x = Draws(Space(testing::Double("s", 0.01, 100, Distribution::kLogNormal)));
  EXPECT_NEAR(std::log10(Median(x)), 0.0, 0.15);
  EXPECT_GE(*std::min_element(x.begin(), x.end()), 0.01);
  EXPECT_LE(*std::max_element(x.begin(), x.end()), 100.0);
}

TEST(RandomSamplerTest, IntIsUniformAndInclusive) {
  std::vector<double> x = Draws(Space(testing::Int("die", 1, 6)));
  std::map<double, int> counts;
  for (double v : x) ++counts[v];
  ASSERT_EQ(counts.size(), 6u);
  EXPECT_EQ(counts.begin()->first, 1);
  EXPECT_EQ(counts.rbegin()->first, 6);
  for (const auto& [face, n] : counts) EXPECT_NEAR(n / 2000.0, 1 / 6.0, 0.04) << face;
}

TEST(RandomSamplerTest, IntAndDoubleStepsGiveLatticePoints) {
  std::set<std::string> ints, doubles;
  SearchSpace space;
  space.params = {testing::Int("n", 0, 10, 5),
                  testing::Double("x", 0.1, 0.5, Distribution::kUniform, 0.1)};
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeRandomSampler(kRandom, space, 9);
  ASSERT_TRUE(s.ok()) << s.status();
  for (const Assignment& a : MustSuggest(**s, space, {}, 500)) {
    ints.insert(a[0].value);
    doubles.insert(a[1].value);
  }
  EXPECT_THAT(ints, ::testing::ElementsAre("0", "10", "5"));
  // min + k*step, printed without floating noise (0.1 + 2*0.1 is 0.30000000000000004).
  EXPECT_THAT(doubles, ::testing::ElementsAre("0.1", "0.2", "0.3", "0.4", "0.5"));
}

TEST(RandomSamplerTest, ListsArePickedUniformly) {
  SearchSpace space;
  space.params = {testing::Categorical("opt", {"sgd", "adam", "rmsprop", "adagrad"}),
                  testing::Discrete("bs", {"32", "64"})};
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeRandomSampler(kRandom, space, 3);
  ASSERT_TRUE(s.ok());
  std::map<std::string, int> opt, bs;
  for (const Assignment& a : MustSuggest(**s, space, {}, 2000)) {
    ++opt[a[0].value];
    ++bs[a[1].value];
  }
  ASSERT_EQ(opt.size(), 4u);
  for (const auto& [v, n] : opt) EXPECT_NEAR(n / 2000.0, 0.25, 0.04) << v;
  ASSERT_EQ(bs.size(), 2u);
  for (const auto& [v, n] : bs) EXPECT_NEAR(n / 2000.0, 0.5, 0.04) << v;
}

TEST(RandomSamplerTest, RandomStateReplacesTheSeed) {
  const SearchSpace space = testing::MixedSpace();
  absl::StatusOr<std::unique_ptr<Sampler>> with_state =
      MakeRandomSampler({.name = "random", .settings = {{"random_state", "5"}}}, space, 1);
  absl::StatusOr<std::unique_ptr<Sampler>> seeded = MakeRandomSampler(kRandom, space, 5);
  absl::StatusOr<std::unique_ptr<Sampler>> other = MakeRandomSampler(kRandom, space, 1);
  ASSERT_TRUE(with_state.ok() && seeded.ok() && other.ok());
  std::vector<Assignment> a = MustSuggest(**with_state, space, {}, 5);
  EXPECT_EQ(a, MustSuggest(**seeded, space, {}, 5));
  EXPECT_NE(a, MustSuggest(**other, space, {}, 5));
}

TEST(RandomSamplerTest, TrialIDependsOnlyOnItsPositionInTheHistory) {
  // The third trial is the same whatever the first two were.
  const SearchSpace space = testing::MixedSpace();
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeRandomSampler(kRandom, space, 77);
  ASSERT_TRUE(s.ok());
  std::vector<Assignment> first = MustSuggest(**s, space, {}, 3);
  History fake;
  fake.trials = {testing::Finished(first[1], 1.0), testing::Pending(first[1])};
  EXPECT_EQ(MustSuggest(**s, space, fake, 1)[0], first[2]);
}

TEST(RandomSamplerTest, GoldenValuesForIntsAndLists) {
  // Locks the stream (seed mix, mt19937_64, our uniform mapping) so a change is noticed: samplers
  // must give the same trials across versions for a resumed study.
  SearchSpace space;
  space.params = {testing::Int("n", 0, 1000), testing::Categorical("c", {"a", "b", "c", "d"})};
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeRandomSampler(kRandom, space, 42);
  ASSERT_TRUE(s.ok());
  std::vector<std::string> got;
  for (const Assignment& a : MustSuggest(**s, space, {}, 5)) {
    got.push_back(a[0].value + "/" + a[1].value);
  }
  EXPECT_THAT(got, ::testing::ElementsAre("912/b", "262/a", "593/d", "326/b", "883/d"));
}

}  // namespace
}  // namespace hpt::suggest
