#include "suggest/search_space.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

TEST(ValidateSearchSpaceTest, AcceptsWellFormedSpaces) {
  EXPECT_TRUE(ValidateSearchSpace(testing::MixedSpace()).ok());
  EXPECT_TRUE(ValidateSearchSpace(testing::GridSpace()).ok());
  SearchSpace point;
  point.params = {testing::Double("x", 2, 2), testing::Int("n", -3, -3, 7)};
  EXPECT_TRUE(ValidateSearchSpace(point).ok());
}

TEST(ValidateSearchSpaceTest, RejectsEachKindOfMistakeWithAClearMessage) {
  struct Case {
    ParameterSpec param;
    std::string message;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {testing::Double("lr", 0.1, 0.01),
       "parameter 'lr' (double): feasibleSpace.min 0.1 is greater than max 0.01"},
      {testing::Double("lr", 0, inf),
       "parameter 'lr' (double): feasibleSpace.min and max must be finite numbers; got min 0, "
       "max inf"},
      {testing::Double("lr", 0, 1, Distribution::kLogUniform),
       "parameter 'lr' (double): distribution logUniform needs feasibleSpace.min > 0; got 0"},
      {testing::Int("n", -1, 5, std::nullopt, Distribution::kLogNormal),
       "parameter 'n' (int): distribution logNormal needs feasibleSpace.min > 0; got -1"},
      {testing::Double("lr", 0, 1, Distribution::kUniform, 0),
       "parameter 'lr' (double): feasibleSpace.step must be a number > 0; got 0"},
      {testing::Double("lr", 0, 1, Distribution::kUniform, -0.5),
       "parameter 'lr' (double): feasibleSpace.step must be a number > 0; got -0.5"},
      {testing::Double("lr", 0, 1, Distribution::kUniform, 1e-300),
       "parameter 'lr' (double): feasibleSpace.step 1e-300 is too small for the range [0, 1] "
       "(more than 2^53 values)"},
      {testing::Int("n", 0.5, 4),
       "parameter 'n' (int): feasibleSpace.min and max must be integers within +-2^53; got min "
       "0.5, max 4"},
      {testing::Int("n", 0, 1e17),
       "parameter 'n' (int): feasibleSpace.min and max must be integers within +-2^53; got min "
       "0, max 1e+17"},
      {testing::Int("n", 0, 10, 2.5),
       "parameter 'n' (int): feasibleSpace.step must be a positive integer; got 2.5"},
      {testing::Categorical("opt", {}),
       "parameter 'opt' (categorical): feasibleSpace.list must not be empty"},
      {testing::Discrete("bs", {"16", "big"}),
       "parameter 'bs' (discrete): feasibleSpace.list item \"big\" is not a finite number "
       "(discrete lists hold numbers; use categorical for strings)"},
  };
  for (const Case& c : cases) {
    SearchSpace s;
    s.params = {testing::Int("ok", 0, 1), c.param};
    absl::Status status = ValidateSearchSpace(s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(std::string(status.message()), c.message);
  }
}

TEST(ValidateSearchSpaceTest, RejectsEmptyUnnamedAndDuplicateParameters) {
  EXPECT_EQ(ValidateSearchSpace(SearchSpace{}).message(),
            "the search space has no parameters; at least one is needed");
  SearchSpace s;
  s.params = {testing::Int("a", 0, 1), testing::Int("", 0, 1)};
  EXPECT_EQ(ValidateSearchSpace(s).message(),
            "parameter #2 has an empty name; every parameter needs one");
  s.params = {testing::Int("a", 0, 1), testing::Double("a", 0, 1)};
  absl::Status dup = ValidateSearchSpace(s);
  EXPECT_EQ(dup.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dup.message(), "parameter 'a' is declared more than once; names must be unique");
}

}  // namespace
}  // namespace hpt::suggest
