// The bayesianoptimization sampler: settings, the unit-cube encoding, and behaviour (beats random
// search on a quadratic, spreads a parallel batch, never repeats a trial, uses up finite spaces).
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "suggest/gp/encoding.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"
#include "tests/suggest/sampler_test_util.h"

namespace hpt::suggest {
namespace {

using testing::Categorical;
using testing::Discrete;
using testing::Double;
using testing::ExpectValid;
using testing::Finished;
using testing::Int;
using testing::MustMake;
using testing::MustSuggest;
using testing::ValueOf;

AlgorithmSpec Bo(std::vector<std::pair<std::string, std::string>> settings = {}) {
  return {.name = "bayesianoptimization", .settings = std::move(settings)};
}

double Num(const Assignment& a, const std::string& name) {
  absl::StatusOr<double> v = Numeric(ValueOf(a, name));
  EXPECT_TRUE(v.ok()) << name;
  return v.ok() ? *v : 0;
}

// ---------------------------------------------------------------------------- settings

TEST(BoSettingsTest, UnknownSettingIsInvalidArgumentNamingIt) {
  SearchSpace space;
  space.params = {Double("x", 0, 1)};
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(Bo({{"gamma", "1"}}), space, 0);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              ::testing::StartsWith("algorithm 'bayesianoptimization': unknown setting 'gamma'; "
                                    "allowed: n_initial_points, acq_func,"));
}

TEST(BoSettingsTest, BadValuesAreInvalidArgumentSayingWhatIsAllowed) {
  SearchSpace space;
  space.params = {Double("x", 0, 1)};
  struct Case {
    std::pair<std::string, std::string> setting;
    std::string allowed;
  };
  const std::vector<Case> cases = {
      {{"n_initial_points", "-1"}, "an integer >= 0"},
      {{"n_initial_points", "ten"}, "an integer >= 0"},
      {{"acq_func", "UCB2"}, "LogEI, EI, PI, LCB, gp_hedge"},
      {{"acq_optimizer", "cobyla"}, "auto, lbfgs, sampling"},
      {{"base_estimator", "SVM"}, "GP"},
      {{"kernel", "matern"}, "matern52, matern32, rbf"},
      {{"kernel_type", "periodic"}, "matern, rbf"},
      {{"nu", "0.5"}, "1.5, 2.5"},
      {{"xi", "-0.1"}, "a number >= 0"},
      {{"kappa", "nan"}, "a number >= 0"},
      {{"parallel_strategy", "believer"},
       "kriging_believer, constant_liar_min, constant_liar_mean, constant_liar_max"},
      {{"output_transform", "log"}, "standardize, power"},
      {{"n_candidates", "8"}, "an integer >= 16"},
      {{"noise_floor", "0"}, "a number > 0"},
      {{"mode", "lcb"}, "ei, pi"},
      {{"random_state", "-3"}, "an integer >= 0"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(Bo({c.setting}), space, 0);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.setting.first;
    EXPECT_EQ(s.status().message(), "algorithm 'bayesianoptimization': setting " + c.setting.first +
                                        "=\"" + c.setting.second +
                                        "\" is invalid; allowed: " + c.allowed);
  }
  absl::StatusOr<std::unique_ptr<Sampler>> both =
      MakeSampler(Bo({{"burn_in", "3"}, {"n_initial_points", "4"}}), space, 0);
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<Sampler>> twice =
      MakeSampler(Bo({{"xi", "0.1"}, {"xi", "0.2"}}), space, 0);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BoSettingsTest, KatibOptionsHptLacksAreUnimplemented) {
  SearchSpace space;
  space.params = {Double("x", 0, 1)};
  for (auto setting : std::vector<std::pair<std::string, std::string>>{{"base_estimator", "RF"},
                                                                       {"base_estimator", "GBRT"},
                                                                       {"model_type", "rf"},
                                                                       {"acq_func", "EIps"},
                                                                       {"acq_func", "PIps"}}) {
    absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(Bo({setting}), space, 0);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented) << setting.second;
    EXPECT_THAT(std::string(s.status().message()), ::testing::HasSubstr("not supported yet"));
  }
}

TEST(BoSettingsTest, KatibV1beta1AndV1alpha1SettingsAreAccepted) {
  SearchSpace space;
  space.params = {Double("x", 0, 1)};
  const std::vector<std::vector<std::pair<std::string, std::string>>> ok = {
      {{"base_estimator", "GP"},
       {"n_initial_points", "5"},
       {"acq_func", "gp_hedge"},
       {"acq_optimizer", "auto"},
       {"random_state", "10"}},
      {{"burn_in", "10"},
       {"N", "100"},
       {"model_type", "gp"},
       {"kernel_type", "matern"},
       {"mode", "ei"},
       {"trade_off", "0.01"},
       {"length_scale", "0.5"},
       {"noise", "0.0005"},
       {"nu", "1.5"},
       {"n_estimators", "50"},
       {"max_features", "auto"},
       {"trial_hist", ""}},
      {{"acq_func", "LogEI"},
       {"kernel", "rbf"},
       {"xi", "0"},
       {"kappa", "2.5"},
       {"parallel_strategy", "constant_liar_min"},
       {"output_transform", "power"},
       {"n_candidates", "512"},
       {"fit_restarts", "0"},
       {"noise_floor", "1e-8"}},
  };
  for (const auto& settings : ok) {
    absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(Bo(settings), space, 0);
    EXPECT_TRUE(s.ok()) << s.status();
  }
}

// ---------------------------------------------------------------------------- encoding

TEST(SpaceEncodingTest, EncodesEachKindAndDecodesToTheNearestValidValue) {
  SearchSpace space;
  space.params = {Double("lr", 1e-4, 1, Distribution::kLogUniform), Int("layers", 1, 5),
                  Double("drop", 0, 0.5, Distribution::kUniform, 0.1),
                  Categorical("opt", {"sgd", "adam", "rms"}),
                  Discrete("batch", {"512", "8", "64", "8192"})};
  absl::StatusOr<gp::SpaceEncoding> enc = gp::SpaceEncoding::Create(space);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->Dimensions(), 7);  // lr, layers, drop, 3 one-hot, batch
  EXPECT_EQ(enc->continuous(), (std::vector<bool>{true, false, false, false, false, false, false}));
  EXPECT_EQ(enc->Cardinality(), std::numeric_limits<double>::infinity());

  const Assignment a = {
      {"lr", "0.01"}, {"layers", "3"}, {"drop", "0.2"}, {"opt", "adam"}, {"batch", "64"}};
  absl::StatusOr<Eigen::VectorXd> z = enc->Encode(a);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_NEAR((*z)(0), 0.5, 1e-12);  // log scale: 1e-2 is halfway between 1e-4 and 1
  EXPECT_NEAR((*z)(1), 0.5, 1e-12);  // 3 of 1..5
  EXPECT_NEAR((*z)(2), 0.4, 1e-12);  // 0.2 of 0..0.5
  EXPECT_EQ((*z)(3), 0);
  EXPECT_EQ((*z)(4), 1);
  EXPECT_EQ((*z)(5), 0);
  EXPECT_NEAR((*z)(6), 0.3, 1e-12);  // log scale (3 decades): log(64/8) / log(8192/8)
  const Assignment back = enc->Decode(*z);
  EXPECT_NEAR(Num(back, "lr"), 0.01, 1e-15);
  for (const char* name : {"layers", "drop", "opt", "batch"}) {
    EXPECT_EQ(ValueOf(back, name), ValueOf(a, name));
  }

  Eigen::VectorXd off(7);
  off << 0.25, 0.61, 0.33, 0.2, 0.1, 0.7, 0.9;
  const Assignment snapped = enc->Decode(off);
  EXPECT_EQ(ValueOf(snapped, "layers"), "3");  // 1 + 0.61*4 = 3.44
  EXPECT_EQ(ValueOf(snapped, "drop"), "0.2");  // 0.165 is nearest to 0.2
  EXPECT_EQ(ValueOf(snapped, "opt"), "rms");
  EXPECT_EQ(ValueOf(snapped, "batch"), "8192");  // 8 * 1024^0.9 = 4096 is nearest 8192 in log
  EXPECT_NEAR(Num(snapped, "lr"), 1e-3, 1e-15);
  ExpectValid(space, snapped);
  // Clamped outside the cube.
  off << -3, 7, 2, 0, 0, 0, -1;
  ExpectValid(space, enc->Decode(off));
}

TEST(SpaceEncodingTest, EncodeRejectsValuesOutsideTheSpace) {
  SearchSpace space;
  space.params = {Double("x", 0, 1), Int("k", 0, 4), Categorical("c", {"a", "b"})};
  absl::StatusOr<gp::SpaceEncoding> enc = gp::SpaceEncoding::Create(space);
  ASSERT_TRUE(enc.ok());
  struct Case {
    Assignment a;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"x", "2"}, {"k", "1"}, {"c", "a"}}, "parameter 'x': value \"2\" is outside [0, 1]"},
      {{{"x", "0.5"}, {"k", "1.5"}, {"c", "a"}}, "parameter 'k': value \"1.5\" is not an integer"},
      {{{"x", "0.5"}, {"k", "1"}, {"c", "z"}},
       "parameter 'c': value \"z\" is not one of its values"},
      {{{"x", "abc"}, {"k", "1"}, {"c", "a"}}, "parameter 'x': value \"abc\" is not a number"},
      {{{"x", "0.5"}, {"c", "a"}}, "parameter 'k' has no value"},
      {{{"x", "0.5"}, {"k", "1"}, {"c", "a"}, {"y", "1"}}, "unknown parameter 'y'"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Eigen::VectorXd> z = enc->Encode(c.a);
    EXPECT_EQ(z.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(z.status().message(), c.message);
  }
}

TEST(SpaceEncodingTest, EnumeratesFiniteSpaces) {
  SearchSpace space;
  space.params = {Int("k", 0, 2), Categorical("c", {"a", "b"}), Discrete("d", {"1", "2"})};
  absl::StatusOr<gp::SpaceEncoding> enc = gp::SpaceEncoding::Create(space);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->Cardinality(), 12);
  std::vector<Assignment> all = enc->Enumerate(100);
  ASSERT_EQ(all.size(), 12u);
  std::set<std::vector<std::string>> distinct;
  for (const Assignment& a : all) {
    ExpectValid(space, a);
    distinct.insert({a[0].value, a[1].value, a[2].value});
  }
  EXPECT_EQ(distinct.size(), 12u);
  EXPECT_TRUE(enc->Enumerate(11).empty());
}

// ---------------------------------------------------------------------------- behaviour

// Runs `trials` sequential suggestions of `algo` on f and returns the best value.
double Optimize(const AlgorithmSpec& algo, const SearchSpace& space, uint64_t seed, int trials,
                const std::function<double(const Assignment&)>& f) {
  std::unique_ptr<Sampler> s = MustMake(algo, space, seed);
  if (s == nullptr) return 1e300;
  History h;
  double best = 1e300;
  for (int i = 0; i < trials; ++i) {
    std::vector<Assignment> x = MustSuggest(*s, space, h, 1);
    if (x.size() != 1) return 1e300;
    ExpectValid(space, x[0]);
    const double v = f(x[0]);
    best = std::min(best, v);
    h.trials.push_back(Finished(x[0], v));
  }
  return best;
}

TEST(BoBehaviourTest, BeatsRandomSearchOnAQuadraticByAClearMargin) {
  SearchSpace space;
  space.params = {Double("x", -5, 5), Double("y", -5, 5),
                  Double("lr", 1e-5, 1, Distribution::kLogUniform), Int("k", 0, 20)};
  auto f = [](const Assignment& a) {
    const double lr = std::log10(Num(a, "lr"));
    return std::pow(Num(a, "x") - 1.3, 2) + std::pow(Num(a, "y") + 2.1, 2) + std::pow(lr + 3, 2) +
           0.05 * std::pow(Num(a, "k") - 7, 2);
  };
  int wins = 0;
  for (uint64_t seed : {1, 2, 3}) {
    const double bo = Optimize(Bo(), space, seed, 40, f);
    const double random = Optimize({.name = "random", .settings = {}}, space, seed, 40, f);
    SCOPED_TRACE(::testing::Message() << "seed " << seed << ": bo " << bo << " random " << random);
    EXPECT_LT(bo, 0.25);
    if (bo < random / 5) ++wins;
  }
  EXPECT_EQ(wins, 3);
}

TEST(BoBehaviourTest, EveryAcquisitionKernelAndStrategyImprovesOnItsInitialDesign) {
  SearchSpace space;
  space.params = {Double("x", 0, 1), Double("y", 0, 1), Categorical("c", {"a", "b", "c"})};
  auto f = [](const Assignment& a) {
    const double shift = ValueOf(a, "c") == "b" ? 0 : 1;
    return std::pow(Num(a, "x") - 0.7, 2) + std::pow(Num(a, "y") - 0.2, 2) + shift;
  };
  const std::vector<std::vector<std::pair<std::string, std::string>>> variants = {
      {{"acq_func", "LogEI"}},
      {{"acq_func", "EI"}},
      {{"acq_func", "PI"}},
      {{"acq_func", "LCB"}},
      {{"acq_func", "gp_hedge"}},
      {{"kernel", "rbf"}},
      {{"kernel", "matern32"}},
      {{"output_transform", "power"}},
      {{"acq_optimizer", "sampling"}},
  };
  for (const auto& v : variants) {
    auto settings = v;
    settings.push_back({"n_initial_points", "10"});
    const double initial = Optimize(Bo(settings), space, 4, 10, f);
    const double after = Optimize(Bo(settings), space, 4, 30, f);
    EXPECT_LT(after, std::min(initial, 0.02)) << v[0].first << "=" << v[0].second;
  }
}

TEST(BoBehaviourTest, AParallelBatchIsSpreadOutNotCopiesOfOnePoint) {
  SearchSpace space;
  space.params = {Double("x", 0, 1), Double("y", 0, 1)};
  // Multimodal, so that after 10 trials the model is still unsure in many places.
  auto f = [](double x, double y) { return std::sin(9 * x) * std::cos(7 * y) + 0.3 * x; };
  for (const char* strategy : {"kriging_believer", "constant_liar_min", "constant_liar_max"}) {
    SCOPED_TRACE(strategy);
    std::unique_ptr<Sampler> s = MustMake(Bo({{"parallel_strategy", strategy}}), space, 9);
    History h;
    std::vector<Assignment> init = MustSuggest(*s, space, h, 10);
    ASSERT_EQ(init.size(), 10u);
    for (const Assignment& a : init) h.trials.push_back(Finished(a, f(Num(a, "x"), Num(a, "y"))));
    std::vector<Assignment> batch = MustSuggest(*s, space, h, 8);
    ASSERT_EQ(batch.size(), 8u);
    double closest = 1e9, farthest = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      for (size_t j = i + 1; j < batch.size(); ++j) {
        const double d = std::hypot(Num(batch[i], "x") - Num(batch[j], "x"),
                                    Num(batch[i], "y") - Num(batch[j], "y"));
        closest = std::min(closest, d);
        farthest = std::max(farthest, d);
      }
    }
    // The model's x length scale is about 0.04 here, so 0.001 apart is already a different point
    // to it; without conditioning on the pending points the batch collapses to ~1e-11 apart.
    EXPECT_GT(closest, 0.001);
    EXPECT_GT(farthest, 0.3);
  }
}

TEST(BoBehaviourTest, NeverRepeatsATrialAndUsesUpAFiniteSpace) {
  SearchSpace space;
  space.params = {Int("k", 0, 3), Categorical("c", {"a", "b"})};
  std::unique_ptr<Sampler> s = MustMake(Bo({{"n_initial_points", "2"}}), space, 5);
  History h;
  std::set<std::vector<std::string>> seen;
  for (int i = 0; i < 8; ++i) {
    std::vector<Assignment> x = MustSuggest(*s, space, h, 1);
    ASSERT_EQ(x.size(), 1u) << "trial " << i;
    EXPECT_TRUE(seen.insert({x[0][0].value, x[0][1].value}).second) << "trial " << i;
    const double k = Num(x[0], "k");
    // Every third trial fails: failed trials are not repeated either.
    std::optional<double> v;
    if (i % 3 != 2) v = std::pow(k - 2, 2) + (x[0][1].value == "a" ? 1.0 : 0.0);
    h.trials.push_back(Finished(x[0], v));
  }
  EXPECT_TRUE(MustSuggest(*s, space, h, 3).empty());
}

TEST(BoBehaviourTest, FindsALogScaledOptimum) {
  SearchSpace space;
  space.params = {Double("lr", 1e-6, 1, Distribution::kLogUniform)};
  auto f = [](const Assignment& a) { return std::pow(std::log10(Num(a, "lr")) + 4.5, 2); };
  EXPECT_LT(Optimize(Bo(), space, 2, 20, f), 1e-3);
}

TEST(BoBehaviourTest, IgnoresFailedTrialsAndTrialsOutsideTheSpace) {
  SearchSpace space;
  space.params = {Double("x", 0, 1), Double("y", 0, 1)};
  std::unique_ptr<Sampler> s = MustMake(Bo({{"n_initial_points", "0"}}), space, 1);
  History h;
  h.trials.push_back(Finished({{"x", "0.1"}, {"y", "0.1"}}, 1.0));
  h.trials.push_back(Finished({{"x", "0.9"}, {"y", "0.2"}}, std::nullopt));  // failed
  h.trials.push_back(Finished({{"x", "5"}, {"y", "0.2"}}, 0.0));             // outside
  h.trials.push_back(Finished({{"x", "0.5"}, {"y", "0.7"}}, 0.5));
  h.trials.push_back(Finished({{"x", "0.4"}, {"y", "0.4"}}, std::nan("")));  // not a number
  std::vector<Assignment> x = MustSuggest(*s, space, h, 2);
  ASSERT_EQ(x.size(), 2u);
  for (const Assignment& a : x) ExpectValid(space, a);
}

TEST(BoBehaviourTest, HandlesThousandsOfObservationsOnASubsetFit) {
  SearchSpace space;
  space.params = {Double("x", 0, 1), Double("y", 0, 1), Double("z", 0, 1)};
  std::unique_ptr<Sampler> s = MustMake(Bo(), space, 3);
  History h;
  std::vector<Assignment> init = MustSuggest(*MustMake({.name = "sobol"}, space, 1), space, h, 600);
  for (const Assignment& a : init) {
    h.trials.push_back(Finished(a, std::sin(7 * Num(a, "x")) + Num(a, "y") * Num(a, "z")));
  }
  std::vector<Assignment> x = MustSuggest(*s, space, h, 2);
  ASSERT_EQ(x.size(), 2u);
  for (const Assignment& a : x) ExpectValid(space, a);
}

}  // namespace
}  // namespace hpt::suggest
