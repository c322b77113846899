#include "suggest/grid_sampler.h"

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

using ::testing::ElementsAre;
using testing::MustSuggest;

AlgorithmSpec Grid(std::vector<std::pair<std::string, std::string>> settings = {}) {
  return {.name = "grid", .settings = std::move(settings)};
}

std::unique_ptr<Sampler> MustMakeGrid(const AlgorithmSpec& algo, const SearchSpace& space) {
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeGridSampler(algo, space, 0);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Each assignment as "v1,v2,...".
std::vector<std::string> Rows(const std::vector<Assignment>& batch) {
  std::vector<std::string> rows;
  for (const Assignment& a : batch) {
    std::string row;
    for (const ParamValue& v : a) row += (row.empty() ? "" : ",") + v.value;
    rows.push_back(row);
  }
  return rows;
}

// All points of the grid, in the order the sampler proposes them.
std::vector<std::string> Enumerate(const AlgorithmSpec& algo, const SearchSpace& space) {
  std::unique_ptr<Sampler> s = MustMakeGrid(algo, space);
  if (s == nullptr) return {};
  return Rows(MustSuggest(*s, space, {}, 100000));
}

SearchSpace SmallSpace() {
  SearchSpace s;
  s.params = {testing::Double("x", 0, 1, Distribution::kUniform, 0.5), testing::Int("n", 1, 2),
              testing::Categorical("c", {"a", "b"})};
  return s;
}

TEST(GridSamplerTest, V1beta1EnumeratesTheProductFirstParameterSlowest) {
  EXPECT_THAT(Enumerate(Grid(), SmallSpace()),
              ElementsAre("0,1,a", "0,1,b", "0,2,a", "0,2,b", "0.5,1,a", "0.5,1,b", "0.5,2,a",
                          "0.5,2,b", "1,1,a", "1,1,b", "1,2,a", "1,2,b"));
}

TEST(GridSamplerTest, V1beta1DoubleStepsAreMinPlusKStepWithoutDrift) {
  SearchSpace s;
  s.params = {testing::Double("x", 0.1, 0.5, Distribution::kUniform, 0.1)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("0.1", "0.2", "0.3", "0.4", "0.5"));
  // 3*0.1 overshoots 0.3 by 5.6e-17: still inside the 1e-9*range tolerance.
  s.params = {testing::Double("x", 0, 0.3, Distribution::kUniform, 0.1)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("0", "0.1", "0.2", "0.3"));
  // A step that does not divide the range stops below max.
  s.params = {testing::Double("x", 0, 1, Distribution::kUniform, 0.3)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("0", "0.3", "0.6", "0.9"));
  // The distribution is ignored by grid; min == max gives one point.
  s.params = {testing::Double("x", 1e-3, 1e-3, Distribution::kLogUniform, 0.1)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("0.001"));
  s.params = {testing::Double("x", -1, 1, Distribution::kNormal, 0.75)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("-1", "-0.25", "0.5"));
}

TEST(GridSamplerTest, V1beta1IntStepDefaultsToOneAndListsAreKeptInOrder) {
  SearchSpace s;
  s.params = {testing::Int("n", -2, 1)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("-2", "-1", "0", "1"));
  s.params = {testing::Int("n", 10, 30, 7)};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("10", "17", "24"));
  s.params = {testing::Discrete("bs", {"64", "16", "32"})};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("64", "16", "32"));
  // A value listed twice is one grid point.
  s.params = {testing::Categorical("c", {"x", "y", "x"})};
  EXPECT_THAT(Enumerate(Grid(), s), ElementsAre("x", "y"));
}

TEST(GridSamplerTest, V1beta1DoubleWithoutStepIsRejected) {
  SearchSpace s = SmallSpace();
  s.params[0].step.reset();
  s.params[0].name = "lr";
  absl::StatusOr<std::unique_ptr<Sampler>> g = MakeGridSampler(Grid(), s, 0);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g.status().message(), "grid needs feasibleSpace.step for double parameter 'lr'");
  EXPECT_EQ(GridSize(s, Grid()).status(), g.status());
}

TEST(GridSamplerTest, ExhaustedGridReturnsNothing) {
  const SearchSpace space = SmallSpace();
  std::unique_ptr<Sampler> s = MustMakeGrid(Grid(), space);
  History history;
  std::vector<Assignment> first = MustSuggest(*s, space, history, 10);
  EXPECT_EQ(first.size(), 10u);
  testing::AddPending(first, &history);
  std::vector<Assignment> rest = MustSuggest(*s, space, history, 10);
  EXPECT_THAT(Rows(rest), ElementsAre("1,2,a", "1,2,b"));
  testing::AddPending(rest, &history);
  EXPECT_TRUE(MustSuggest(*s, space, history, 10).empty());
  EXPECT_TRUE(MustSuggest(*s, space, history, 1).empty());
}

TEST(GridSamplerTest, SkipsPointsAlreadyInTheHistoryWhateverTheirState) {
  const SearchSpace space = SmallSpace();
  History history;
  history.trials = {
      testing::Finished({{"x", "0"}, {"n", "1"}, {"c", "b"}}, 0.3),   // completed
      testing::Finished({{"x", "0.5"}, {"n", "1"}, {"c", "a"}}, {}),  // failed
      testing::Pending({{"x", "0"}, {"n", "2"}, {"c", "a"}}),         // running
      // Parameters in another order still match.
      testing::Pending({{"c", "a"}, {"x", "1"}, {"n", "1"}}),
      // Not grid points (another spelling, a missing parameter): no effect.
      testing::Finished({{"x", "0.50"}, {"n", "2"}, {"c", "a"}}, 1.0),
      testing::Finished({{"x", "0.5"}, {"n", "2"}}, 1.0),
  };
  std::unique_ptr<Sampler> s = MustMakeGrid(Grid(), space);
  EXPECT_THAT(
      Rows(MustSuggest(*s, space, history, 100)),
      ElementsAre("0,1,a", "0,2,b", "0.5,1,b", "0.5,2,a", "0.5,2,b", "1,1,b", "1,2,a", "1,2,b"));
}

TEST(GridSamplerTest, RandomStateShufflesDeterministically) {
  const SearchSpace space = SmallSpace();
  std::vector<std::string> lexicographic = Enumerate(Grid(), space);
  std::vector<std::string> shuffled = Enumerate(Grid({{"random_state", "7"}}), space);
  std::vector<std::string> again = Enumerate(Grid({{"random_state", "7"}}), space);
  std::vector<std::string> other = Enumerate(Grid({{"random_state", "8"}}), space);
  EXPECT_EQ(shuffled, again);
  EXPECT_NE(shuffled, lexicographic);
  EXPECT_NE(shuffled, other);
  EXPECT_THAT(shuffled, ::testing::UnorderedElementsAreArray(lexicographic));
  EXPECT_THAT(other, ::testing::UnorderedElementsAreArray(lexicographic));
}

TEST(GridSamplerTest, ShuffledOrderVisitsEveryPointOnceForManySizes) {
  for (int size = 1; size <= 130; ++size) {
    SearchSpace s;
    s.params = {testing::Int("i", 0, size - 1)};
    std::vector<std::string> got = Enumerate(Grid({{"random_state", "12345"}}), s);
    ASSERT_EQ(static_cast<int>(got.size()), size);
    std::set<std::string> distinct(got.begin(), got.end());
    EXPECT_EQ(static_cast<int>(distinct.size()), size) << "size " << size;
  }
}

TEST(GridSamplerTest, HugeGridsAreVisitedWithoutMaterializing) {
  SearchSpace s;
  s.params = {testing::Int("a", 0, 1e12), testing::Double("b", 0, 1, Distribution::kUniform, 1e-9),
              testing::Categorical("c", {"x", "y"})};
  absl::StatusOr<int64_t> size = GridSize(s, Grid());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, std::numeric_limits<int64_t>::max());  // 1e12 * 1e9 * 2 saturates
  std::unique_ptr<Sampler> lex = MustMakeGrid(Grid(), s);
  EXPECT_THAT(Rows(MustSuggest(*lex, s, {}, 3)), ElementsAre("0,0,x", "0,0,y", "0,1e-09,x"));
  std::unique_ptr<Sampler> shuffled = MustMakeGrid(Grid({{"random_state", "1"}}), s);
  std::vector<Assignment> batch = MustSuggest(*shuffled, s, {}, 50);
  ASSERT_EQ(batch.size(), 50u);
  std::set<std::string> distinct;
  for (const std::string& row : Rows(batch)) distinct.insert(row);
  EXPECT_EQ(distinct.size(), 50u);
  for (const Assignment& a : batch) testing::ExpectValid(s, a);
}

TEST(GridSamplerTest, TheEngineSeedDoesNotChangeTheGrid) {
  const SearchSpace space = SmallSpace();
  for (const AlgorithmSpec& algo : {Grid(), Grid({{"random_state", "3"}})}) {
    absl::StatusOr<std::unique_ptr<Sampler>> a = MakeGridSampler(algo, space, 1);
    absl::StatusOr<std::unique_ptr<Sampler>> b = MakeGridSampler(algo, space, 2);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(MustSuggest(**a, space, {}, 12), MustSuggest(**b, space, {}, 12));
  }
}

TEST(GridSamplerTest, SuggestFollowsANewSpace) {
  std::unique_ptr<Sampler> s = MustMakeGrid(Grid(), SmallSpace());
  SearchSpace other;
  other.params = {testing::Int("k", 5, 6)};
  EXPECT_THAT(Rows(MustSuggest(*s, other, {}, 10)), ElementsAre("5", "6"));
  other.params = {testing::Double("d", 0, 1)};  // no step
  EXPECT_EQ(s->Suggest(other, {}, 1).status().message(),
            "grid needs feasibleSpace.step for double parameter 'd'");
}

// --- Katib v1alpha1 (DefaultGrid) ---

SearchSpace V1alpha1Space() {
  SearchSpace s;
  s.params = {testing::Double("--lr", 0.01, 0.03), testing::Int("--num-layers", 2, 5),
              testing::Categorical("--optimizer", {"sgd", "adam", "ftrl"})};
  return s;
}

TEST(GridSamplerTest, V1alpha1DefaultGridGivesEvenlySpacedPoints) {
  std::vector<std::string> rows = Enumerate(Grid({{"DefaultGrid", "3"}}), V1alpha1Space());
  ASSERT_EQ(rows.size(), 27u);
  // lr: 0.01 + 0.02*i/2; layers: 2 + (3*i)/2 in integers = 2, 3, 5; optimizer: list[2*i/2].
  EXPECT_THAT(std::vector<std::string>(rows.begin(), rows.begin() + 4),
              ElementsAre("0.01,2,sgd", "0.01,2,adam", "0.01,2,ftrl", "0.01,3,sgd"));
  EXPECT_EQ(rows[8], "0.01,5,ftrl");
  EXPECT_EQ(rows[9], "0.02,2,sgd");
  EXPECT_EQ(rows[26], "0.03,5,ftrl");
}

TEST(GridSamplerTest, V1alpha1PerParameterCountsOverrideDefaultGrid) {
  EXPECT_THAT(
      Enumerate(Grid({{"DefaultGrid", "1"}, {"--lr", "4"}, {"--optimizer", "2"}}), V1alpha1Space()),
      ElementsAre("0.01,2,sgd", "0.01,2,ftrl", "0.01666666666666667,2,sgd",
                  "0.01666666666666667,2,ftrl", "0.02333333333333333,2,sgd",
                  "0.02333333333333333,2,ftrl", "0.03,2,sgd", "0.03,2,ftrl"));
}

TEST(GridSamplerTest, V1alpha1OnePointIsMinOrTheFirstListItem) {
  // Katib's quirk: with DefaultGrid 1 (the default) a categorical only ever takes its first value.
  for (const char* value : {"1", "0", "-3"}) {
    EXPECT_THAT(Enumerate(Grid({{"DefaultGrid", value}}), V1alpha1Space()),
                ElementsAre("0.01,2,sgd"))
        << value;
  }
  // Iteration alone selects v1alpha1 mode (DefaultGrid defaults to 1), and is ignored.
  EXPECT_THAT(Enumerate(Grid({{"Iteration", "4"}}), V1alpha1Space()), ElementsAre("0.01,2,sgd"));
  // So does a per-parameter count alone.
  EXPECT_THAT(Enumerate(Grid({{"--num-layers", "2"}}), V1alpha1Space()),
              ElementsAre("0.01,2,sgd", "0.01,5,sgd"));
}

TEST(GridSamplerTest, V1alpha1RepeatedPointsAreProposedOnce) {
  SearchSpace s;
  s.params = {testing::Int("n", 0, 1), testing::Discrete("d", {"1", "2", "3"})};
  // n: 0 + (1*i)/4 = 0,0,0,0,1; d: list[(2*i)/4] = 1,1,2,2,3.
  EXPECT_THAT(Enumerate(Grid({{"DefaultGrid", "5"}}), s),
              ElementsAre("0,1", "0,2", "0,3", "1,1", "1,2", "1,3"));
  EXPECT_EQ(*GridSize(s, Grid({{"DefaultGrid", "5"}})), 6);
}

TEST(GridSamplerTest, V1alpha1DoublesNeedNoStep) {
  SearchSpace s;
  s.params = {testing::Double("x", -1, 1), testing::Double("y", 1e-4, 1e-4)};
  EXPECT_THAT(Enumerate(Grid({{"DefaultGrid", "5"}}), s),
              ElementsAre("-1,1e-04", "-0.5,1e-04", "0,1e-04", "0.5,1e-04", "1,1e-04"));
}

TEST(GridSamplerTest, V1alpha1SettingErrors) {
  struct Case {
    AlgorithmSpec algo;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Grid({{"DefaultGrid", "three"}}),
       "algorithm 'grid': setting DefaultGrid=\"three\" is invalid; allowed: an integer number of "
       "grid points, at most 1048576 (<= 0 means 1)"},
      {Grid({{"DefaultGrid", "1048577"}}),
       "algorithm 'grid': setting DefaultGrid=\"1048577\" is invalid; allowed: an integer number "
       "of grid points, at most 1048576 (<= 0 means 1)"},
      {Grid({{"DefaultGrid", "2"}, {"--lr", "2.5"}}),
       "algorithm 'grid': setting --lr=\"2.5\" is invalid; allowed: an integer number of grid "
       "points, at most 1048576 (<= 0 means 1)"},
      {Grid({{"DefaultGrid", "2"}, {"random_state", "1"}}),
       "algorithm 'grid': setting 'random_state' (Katib v1beta1) cannot be combined with the "
       "v1alpha1 settings DefaultGrid, Iteration and per-parameter point counts"},
      {Grid({{"DefaultGrid", "2"}, {"--momentum", "3"}}),
       "algorithm 'grid': unknown setting '--momentum'; allowed: random_state (Katib v1beta1); or "
       "DefaultGrid, Iteration and a point count named after a parameter (Katib v1alpha1)"},
      {Grid({{"DefaultGrid", "2"}, {"DefaultGrid", "3"}}),
       "algorithm 'grid': setting 'DefaultGrid' is given more than once"},
      {Grid({{"random_state", "-2"}}),
       "algorithm 'grid': setting random_state=\"-2\" is invalid; allowed: an integer >= 0"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::unique_ptr<Sampler>> s = MakeGridSampler(c.algo, V1alpha1Space(), 0);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.status().message(), c.message);
    EXPECT_EQ(GridSize(V1alpha1Space(), c.algo).status(), s.status());
  }
}

// --- GridSize ---

TEST(GridSizeTest, CountsDistinctCombinations) {
  EXPECT_EQ(*GridSize(SmallSpace(), Grid()), 12);
  EXPECT_EQ(*GridSize(SmallSpace(), Grid({{"random_state", "4"}})), 12);
  EXPECT_EQ(*GridSize(testing::GridSpace(), Grid()), 540);
  EXPECT_EQ(*GridSize(V1alpha1Space(), Grid({{"DefaultGrid", "3"}})), 27);
  EXPECT_EQ(*GridSize(V1alpha1Space(), Grid({{"DefaultGrid", "3"}, {"--lr", "10"}})), 90);
  EXPECT_EQ(*GridSize(V1alpha1Space(), Grid({{"DefaultGrid", "1"}})), 1);
  SearchSpace s;
  s.params = {testing::Double("x", 0, 1, Distribution::kUniform, 0.001)};
  EXPECT_EQ(*GridSize(s, Grid()), 1001);
}

TEST(GridSizeTest, SaturatesInsteadOfOverflowing) {
  SearchSpace s;
  for (const char* name : {"a", "b", "c"}) s.params.push_back(testing::Int(name, 0, 65535));
  EXPECT_EQ(*GridSize(s, Grid()), int64_t{1} << 48);
  s.params.push_back(testing::Int("d", 0, 32767));
  EXPECT_EQ(*GridSize(s, Grid()), std::numeric_limits<int64_t>::max());  // 2^63
  s.params.back().max = 32766;  // 2^48 * 32767 = 2^63 - 2^48 fits
  EXPECT_EQ(*GridSize(s, Grid()), (int64_t{1} << 48) * 32767);
}

TEST(GridSizeTest, InvalidSpaceIsInvalidArgument) {
  EXPECT_EQ(GridSize(SearchSpace{}, Grid()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hpt::suggest
