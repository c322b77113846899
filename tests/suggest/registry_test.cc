#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "suggest/sampler.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

SearchSpace OneDouble() {
  SearchSpace s;
  s.params = {testing::Double("lr", 0.01, 0.1)};
  return s;
}

TEST(RegistryTest, KnownAlgorithmsAreSorted) {
  EXPECT_THAT(KnownAlgorithms(),
              ::testing::ElementsAre("bayesianoptimization", "grid", "random", "sobol"));
}

TEST(RegistryTest, MakesEveryKnownAlgorithm) {
  SearchSpace space = OneDouble();
  space.params[0].step = 0.01;  // grid needs it
  for (const std::string& name : KnownAlgorithms()) {
    absl::StatusOr<std::unique_ptr<Sampler>> s =
        MakeSampler({.name = name, .settings = {}}, space, 1);
    ASSERT_TRUE(s.ok()) << name << ": " << s.status();
    EXPECT_NE(*s, nullptr);
  }
}

TEST(RegistryTest, KatibAlgorithmsNotYetSupportedAreUnimplemented) {
  for (const char* name : {"tpe", "multivariate-tpe", "cmaes", "hyperband", "pbt", "enas", "darts",
                           "nasrl", "nasenvelopenet"}) {
    absl::StatusOr<std::unique_ptr<Sampler>> s =
        MakeSampler({.name = name, .settings = {}}, OneDouble(), 1);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented) << name;
    EXPECT_EQ(s.status().message(),
              std::string("not supported yet: algorithm '") + name +
                  "' (hpt supports: bayesianoptimization, grid, random, sobol)");
  }
}

TEST(RegistryTest, UnknownAlgorithmIsNotFound) {
  for (const char* name : {"foo", "Random", "GRID", ""}) {
    absl::StatusOr<std::unique_ptr<Sampler>> s =
        MakeSampler({.name = name, .settings = {}}, OneDouble(), 1);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << name;
    EXPECT_EQ(s.status().message(), std::string("unknown algorithm '") + name +
                                        "'; known: bayesianoptimization, grid, random, sobol");
  }
}

TEST(RegistryTest, SettingErrorsAreInvalidArgument) {
  struct Case {
    AlgorithmSpec algo;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"random", {{"gamma", "0.25"}}},
       "algorithm 'random': unknown setting 'gamma'; allowed: random_state"},
      {{"random", {{"random_state", "-1"}}},
       "algorithm 'random': setting random_state=\"-1\" is invalid; allowed: an integer >= 0"},
      {{"random", {{"random_state", "1.5"}}},
       "algorithm 'random': setting random_state=\"1.5\" is invalid; allowed: an integer >= 0"},
      {{"random", {{"random_state", "seven"}}},
       "algorithm 'random': setting random_state=\"seven\" is invalid; allowed: an integer >= 0"},
      {{"random", {{"random_state", "1"}, {"random_state", "2"}}},
       "algorithm 'random': setting 'random_state' is given more than once"},
      {{"sobol", {{"random_state", "1"}}},
       "algorithm 'sobol': unknown setting 'random_state'; allowed: none (sobol takes no "
       "settings)"},
      {{"grid", {{"gamma", "1"}}},
       "algorithm 'grid': unknown setting 'gamma'; allowed: random_state (Katib v1beta1); or "
       "DefaultGrid, Iteration and a point count named after a parameter (Katib v1alpha1)"},
  };
  SearchSpace space = OneDouble();
  space.params[0].step = 0.01;
  for (const Case& c : cases) {
    absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(c.algo, space, 1);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.status().message(), c.message);
  }
}

TEST(RegistryTest, SpaceErrorsAreInvalidArgument) {
  for (const std::string& name : KnownAlgorithms()) {
    absl::StatusOr<std::unique_ptr<Sampler>> s =
        MakeSampler({.name = name, .settings = {}}, SearchSpace{}, 1);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(s.status().message(), "the search space has no parameters; at least one is needed");
  }
  absl::StatusOr<std::unique_ptr<Sampler>> grid =
      MakeSampler({.name = "grid", .settings = {}}, OneDouble(), 1);
  EXPECT_EQ(grid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(grid.status().message(), "grid needs feasibleSpace.step for double parameter 'lr'");
}

}  // namespace
}  // namespace hpt::suggest
