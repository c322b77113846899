// The conformance suite every sampler passes (random, grid in both Katib modes, sobol,
// bayesianoptimization in its initial design, its GP phase and on a finite space).
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

using testing::AddPending;
using testing::ExpectValid;
using testing::Finished;
using testing::MustMake;
using testing::MustSuggest;

struct SamplerCase {
  std::string label;
  AlgorithmSpec algo;
  SearchSpace space;
  // Different engine seeds give different suggestions.
  bool seed_sensitive = false;
  // The number of distinct assignments the sampler proposes before it is exhausted (grid), or 0.
  int grid_size = 0;
};

std::vector<SamplerCase> Cases() {
  return {
      {"random", {.name = "random", .settings = {}}, testing::MixedSpace(), true, 0},
      {"random_random_state",
       {.name = "random", .settings = {{"random_state", "7"}}},
       testing::MixedSpace(),
       false,
       0},
      {"sobol", {.name = "sobol", .settings = {}}, testing::MixedSpace(), true, 0},
      {"grid", {.name = "grid", .settings = {}}, testing::GridSpace(), false, 540},
      {"grid_random_state",
       {.name = "grid", .settings = {{"random_state", "3"}}},
       testing::GridSpace(),
       false,
       540},
      {"bayesianoptimization",
       {.name = "bayesianoptimization", .settings = {}},
       testing::MixedSpace(),
       true,
       0},
      // Past its initial design after two finished trials: the GP path.
      {"bayesianoptimization_gp",
       {.name = "bayesianoptimization", .settings = {{"n_initial_points", "2"}}},
       testing::MixedSpace(),
       true,
       0},
      {"bayesianoptimization_finite",
       {.name = "bayesianoptimization", .settings = {{"n_initial_points", "2"}}},
       testing::GridSpace(),
       true,
       540},
      {"grid_v1alpha1",
       {.name = "grid", .settings = {{"DefaultGrid", "3"}}},
       testing::GridSpace(),
       false,
       324},
  };
}

class SamplerConformanceTest : public ::testing::TestWithParam<SamplerCase> {
 protected:
  const SamplerCase& c() const { return GetParam(); }
  const SearchSpace& space() const { return GetParam().space; }
  std::unique_ptr<Sampler> Make(uint64_t seed) const { return MustMake(c().algo, space(), seed); }
};

TEST_P(SamplerConformanceTest, SameSeedGivesIdenticalSuggestions) {
  std::unique_ptr<Sampler> a = Make(42);
  std::unique_ptr<Sampler> b = Make(42);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  History ha, hb;
  for (int round = 0; round < 3; ++round) {
    std::vector<Assignment> xa = MustSuggest(*a, space(), ha, 5);
    std::vector<Assignment> xb = MustSuggest(*b, space(), hb, 5);
    ASSERT_EQ(xa.size(), 5u);
    EXPECT_EQ(xa, xb) << "round " << round;
    AddPending(xa, &ha);
    AddPending(xb, &hb);
  }
}

TEST_P(SamplerConformanceTest, DifferentSeedsDifferWhereSeeded) {
  std::vector<Assignment> x1 = MustSuggest(*Make(1), space(), {}, 10);
  std::vector<Assignment> x2 = MustSuggest(*Make(2), space(), {}, 10);
  ASSERT_EQ(x1.size(), 10u);
  ASSERT_EQ(x2.size(), 10u);
  if (c().seed_sensitive) {
    for (int i = 0; i < 10; ++i) EXPECT_NE(x1[i], x2[i]) << "trial " << i;
  } else {
    EXPECT_EQ(x1, x2);  // the seed is replaced by random_state, or not used (grid)
  }
}

TEST_P(SamplerConformanceTest, EveryValueIsInsideItsSpaceAndWellTyped) {
  std::unique_ptr<Sampler> s = Make(7);
  History history;
  std::vector<Assignment> all;
  for (int round = 0; round < 10; ++round) {
    std::vector<Assignment> batch = MustSuggest(*s, space(), history, 30);
    AddPending(batch, &history);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(all.size(), 300u);
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "trial " << i);
    ExpectValid(space(), all[i]);
  }
}

TEST_P(SamplerConformanceTest, OneBatchEqualsOneAtATimeWithGrowingHistory) {
  // Start from a history with finished trials, some with values and one failed.
  std::unique_ptr<Sampler> warmup = Make(11);
  std::vector<Assignment> first = MustSuggest(*warmup, space(), {}, 3);
  ASSERT_EQ(first.size(), 3u);
  History start;
  start.trials = {Finished(first[0], 0.5), Finished(first[1], -1.25), Finished(first[2], {})};

  std::vector<Assignment> batched = MustSuggest(*Make(11), space(), start, 4);
  ASSERT_EQ(batched.size(), 4u);

  std::unique_ptr<Sampler> one = Make(11);
  History growing = start;
  std::vector<Assignment> singles;
  for (int k = 0; k < 4; ++k) {
    std::vector<Assignment> x = MustSuggest(*one, space(), growing, 1);
    ASSERT_EQ(x.size(), 1u);
    singles.push_back(x[0]);
    AddPending(x, &growing);
  }
  EXPECT_EQ(batched, singles);
}

TEST_P(SamplerConformanceTest, AFreshSamplerContinuesTheSameSequence) {
  // What the engine sees after a restart: a new sampler with the stored history.
  std::unique_ptr<Sampler> original = Make(5);
  History history;
  std::vector<Assignment> x1 = MustSuggest(*original, space(), history, 6);
  AddPending(x1, &history);
  std::vector<Assignment> x2 = MustSuggest(*original, space(), history, 6);

  std::unique_ptr<Sampler> restarted = Make(5);
  EXPECT_EQ(MustSuggest(*restarted, space(), history, 6), x2);
}

TEST_P(SamplerConformanceTest, ZeroGivesNothingAndNegativeIsInvalid) {
  std::unique_ptr<Sampler> s = Make(1);
  absl::StatusOr<std::vector<Assignment>> none = s->Suggest(space(), {}, 0);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  absl::StatusOr<std::vector<Assignment>> bad = s->Suggest(space(), {}, -1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(SamplerConformanceTest, InvalidSpaceAtSuggestIsInvalidArgument) {
  std::unique_ptr<Sampler> s = Make(1);
  SearchSpace broken = space();
  broken.params[0].min = 1;
  broken.params[0].max = 0;
  absl::StatusOr<std::vector<Assignment>> r = s->Suggest(broken, {}, 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'" + space().params[0].name + "'"), std::string::npos)
      << r.status();
}

TEST_P(SamplerConformanceTest, ReturnsNUntilAGridIsExhaustedThenNothing) {
  std::unique_ptr<Sampler> s = Make(3);
  History history;
  std::set<std::vector<std::string>> seen;
  int rounds = 0;
  while (rounds < 20) {
    std::vector<Assignment> batch = MustSuggest(*s, space(), history, 64);
    ++rounds;
    for (const Assignment& a : batch) {
      std::vector<std::string> values;
      for (const ParamValue& v : a) values.push_back(v.value);
      const bool is_new = seen.insert(values).second;
      if (c().grid_size > 0) {
        EXPECT_TRUE(is_new);  // a grid never repeats itself
      }
    }
    AddPending(batch, &history);
    if (c().grid_size == 0) {
      ASSERT_EQ(batch.size(), 64u);  // unbounded samplers always return n
    } else if (batch.size() < 64) {
      break;
    }
  }
  if (c().grid_size > 0) {
    EXPECT_EQ(static_cast<int>(seen.size()), c().grid_size);
    EXPECT_TRUE(MustSuggest(*s, space(), history, 5).empty());
  } else {
    EXPECT_EQ(rounds, 20);
  }
}

INSTANTIATE_TEST_SUITE_P(AllSamplers, SamplerConformanceTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<SamplerCase>& info) {
                           return info.param.label;
                         });

}  // namespace
}  // namespace hpt::suggest
