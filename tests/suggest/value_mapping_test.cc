#include "suggest/internal/value_mapping.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest::internal {
namespace {

TEST(FormatRoundedTest, DropsFloatingNoiseOnly) {
  EXPECT_EQ(FormatRounded(0.1 + 2 * 0.1, ArithmeticNoise(0.1, 2 * 0.1)), "0.3");
  EXPECT_EQ(FormatRounded(0.1 * 3, ArithmeticNoise(0, 0.1 * 3)), "0.3");
  // A value that is exact stays exact, however many digits it has.
  EXPECT_EQ(FormatRounded(0.123456789012, ArithmeticNoise(0.123456789012, 0)), "0.123456789012");
  EXPECT_EQ(FormatRounded(1.0 / 3, 0), FormatDouble(1.0 / 3));
  EXPECT_EQ(FormatRounded(1000, 1e-9), "1000");
  EXPECT_EQ(FormatRounded(-2.5e-7, 1e-20), "-2.5e-07");
}

TEST(NumericLatticeTest, CountsPoints) {
  using testing::Double;
  using testing::Int;
  EXPECT_EQ(NumericLattice(Int("n", 1, 10))->count, 10);
  EXPECT_EQ(NumericLattice(Int("n", 1, 10, 3))->count, 4);  // 1 4 7 10
  EXPECT_EQ(NumericLattice(Int("n", 1, 9, 3))->count, 3);   // 1 4 7
  EXPECT_EQ(NumericLattice(Double("x", 0, 1, Distribution::kUniform, 0.1))->count, 11);
  EXPECT_EQ(NumericLattice(Double("x", 0, 0.3, Distribution::kUniform, 0.1))->count, 4);
  EXPECT_EQ(NumericLattice(Double("x", 0, 1, Distribution::kUniform, 2))->count, 1);
  EXPECT_FALSE(NumericLattice(Double("x", 0, 1)).has_value());
  EXPECT_FALSE(NumericLattice(testing::Categorical("c", {"a"})).has_value());
}

TEST(ValueFromUnitTest, EndsOfTheUnitIntervalMapToTheEndsOfTheRange) {
  const double below_one = std::nextafter(1.0, 0.0);
  EXPECT_EQ(ValueFromUnit(testing::Int("n", 3, 7), 0), "3");
  EXPECT_EQ(ValueFromUnit(testing::Int("n", 3, 7), below_one), "7");
  EXPECT_EQ(ValueFromUnit(testing::Int("n", 3, 7), 0.2), "4");  // bins of width 1/5
  EXPECT_EQ(ValueFromUnit(testing::Double("x", 2, 4), 0), "2");
  EXPECT_EQ(ValueFromUnit(testing::Double("x", 2, 4), 0.5), "3");
  EXPECT_EQ(ValueFromUnit(testing::Double("x", 1e-3, 1e3, Distribution::kLogUniform), 0.5), "1");
  EXPECT_EQ(ValueFromUnit(testing::Double("x", 0, 6, Distribution::kNormal), 0.5), "3");
  EXPECT_EQ(ValueFromUnit(testing::Double("x", 0, 6, Distribution::kNormal), 1e-9), "0");
  EXPECT_EQ(ValueFromUnit(testing::Double("x", 0, 6, Distribution::kNormal), below_one), "6");
  EXPECT_EQ(ValueFromUnit(testing::Categorical("c", {"a", "b", "c"}), 0), "a");
  EXPECT_EQ(ValueFromUnit(testing::Categorical("c", {"a", "b", "c"}), below_one), "c");
  EXPECT_EQ(ValueFromUnit(testing::Int("n", 1, 100, std::nullopt, Distribution::kLogUniform), 0.5),
            "10");
}

TEST(NormalQuantileTest, MatchesKnownQuantiles) {
  EXPECT_NEAR(NormalQuantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.00134989803163), -3.0, 1e-9);
  EXPECT_TRUE(std::isfinite(NormalQuantile(0)));
  EXPECT_TRUE(std::isfinite(NormalQuantile(1)));
}

// The public face of the lattice (warm start snaps old values with it): the nearest point as the
// samplers print it.
TEST(NearestGridValueTest, SnapsToThePointsSamplersPrint) {
  const ParameterSpec i{.name = "i", .type = ParamType::kInt, .min = 1, .max = 10};
  EXPECT_EQ(NearestGridValue(i, 3.5), "3");  // a tie goes to the lower point
  EXPECT_EQ(NearestGridValue(i, 3.6), "4");
  EXPECT_EQ(NearestGridValue(i, 20), "10");
  EXPECT_EQ(NearestGridValue(i, -5), "1");
  const ParameterSpec d{.name = "d", .type = ParamType::kDouble, .min = 0, .max = 1, .step = 0.1};
  EXPECT_EQ(NearestGridValue(d, 0.25), "0.2");
  EXPECT_EQ(NearestGridValue(d, 0.3), "0.3");  // 0.1 * 3 is 0.30000000000000004 in doubles
  EXPECT_EQ(NearestGridValue(d, 0.71), "0.7");
  EXPECT_EQ(NearestGridValue(ParameterSpec{.name = "u", .min = 0, .max = 1}, 0.5), std::nullopt);
  EXPECT_EQ(NearestGridValue(
                ParameterSpec{.name = "c", .type = ParamType::kCategorical, .list = {"a"}}, 0),
            std::nullopt);
}

}  // namespace
}  // namespace hpt::suggest::internal
