// MapWarmStart's rules one by one (engine/warm_start.h), LoadWarmStartSources on a real SQLite
// tracker file, and warm-started studies run end to end by the controller (local runner, real
// processes, StdOut metrics).
#include "engine/warm_start.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/controller.h"
#include "tests/common/test_dirs.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using suggest::Assignment;
using suggest::ParameterSpec;
using suggest::ParamType;
using ::testing::ElementsAre;
using ::testing::Pair;
using tracker::TrialRecord;
using tracker::TrialState;
using Fit = MappedValue::Fit;
using OutOfSpace = WarmStartSpec::OutOfSpace;

// A new study minimizing "loss" over `params`.
StudySpec Spec(std::vector<ParameterSpec> params, OutOfSpace mode = OutOfSpace::kDrop,
               bool maximize = false) {
  StudySpec s;
  s.name = "new";
  s.objective.metric = "loss";
  s.objective.maximize = maximize;
  s.space.params = std::move(params);
  s.hpt.warm_start = WarmStartSpec{.studies = {"old"}, .out_of_space = mode};
  return s;
}

ParameterSpec Double(const std::string& name, double min, double max,
                     std::optional<double> step = std::nullopt) {
  return {.name = name, .type = ParamType::kDouble, .min = min, .max = max, .step = step};
}
ParameterSpec Int(const std::string& name, double min, double max,
                  std::optional<double> step = std::nullopt) {
  return {.name = name, .type = ParamType::kInt, .min = min, .max = max, .step = step};
}
ParameterSpec List(const std::string& name, ParamType type, std::vector<std::string> list) {
  return {.name = name, .type = type, .list = std::move(list)};
}

TrialRecord Trial(std::vector<std::pair<std::string, std::string>> params,
                  std::optional<double> objective, TrialState state = TrialState::kSucceeded) {
  TrialRecord t;
  t.state = state;
  t.objective = objective;
  t.params = std::move(params);
  return t;
}

WarmStartSource Source(const std::string& name, std::vector<TrialRecord> trials,
                       const std::string& metric = "loss", bool maximize = false) {
  WarmStartSource s;
  s.study.name = name;
  s.study.objective_metric = metric;
  s.study.maximize = maximize;
  s.trials = std::move(trials);
  return s;
}

std::vector<Assignment> Points(const WarmStartResult& r) {
  std::vector<Assignment> out;
  for (const suggest::Observation& o : r.history.trials) out.push_back(o.params);
  return out;
}

std::vector<std::optional<double>> Values(const WarmStartResult& r) {
  std::vector<std::optional<double>> out;
  for (const suggest::Observation& o : r.history.trials) {
    EXPECT_FALSE(o.pending);
    out.push_back(o.value);
  }
  return out;
}

// One value through MapParameterValue, as "fit:value".
std::string Map(const ParameterSpec& p, const std::string& v, OutOfSpace mode) {
  MappedValue m = MapParameterValue(p, v, mode);
  const char* fit = m.fit == Fit::kExact     ? "exact"
                    : m.fit == Fit::kClipped ? "clipped"
                    : m.fit == Fit::kOutside ? "outside"
                                             : "invalid";
  return std::string(fit) + ":" + m.value;
}

// ---------------------------------------------------------------------------------------------
// Rule 1: only SUCCEEDED trials with an objective.

TEST(MapWarmStart, OnlySucceededTrialsWithAnObjectiveAreUsed) {
  StudySpec spec = Spec({Double("x", 0, 1)});
  auto r = MapWarmStart(
      spec, {Source("old", {
                               Trial({{"x", "0.1"}}, 1.5),
                               Trial({{"x", "0.2"}}, std::nullopt),
                               Trial({{"x", "0.3"}}, 0.5, TrialState::kEarlyStopped),
                               Trial({{"x", "0.4"}}, std::nullopt, TrialState::kFailed),
                               Trial({{"x", "0.5"}}, std::nullopt, TrialState::kRunning),
                               Trial({{"x", "0.6"}}, std::nullopt, TrialState::kPending),
                               Trial({{"x", "0.7"}}, std::nullopt, TrialState::kKilled),
                               Trial({{"x", "0.8"}}, std::nullopt, TrialState::kMetricsUnavailable),
                               Trial({{"x", "0.9"}}, 2.5),
                           })});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Points(*r), ElementsAre(Assignment{{"x", "0.1"}}, Assignment{{"x", "0.9"}}));
  EXPECT_THAT(Values(*r), ElementsAre(1.5, 2.5));
  EXPECT_EQ(r->used, 2);
  EXPECT_EQ(r->skipped, 7);
  EXPECT_EQ(r->dropped, 0);
  EXPECT_EQ(r->clipped, 0);
  EXPECT_EQ(r->Summary(), "2 trials from old (7 skipped: not succeeded)");
}

// ---------------------------------------------------------------------------------------------
// Rule 2: the same metric; the direction may differ.

TEST(MapWarmStart, AnotherObjectiveMetricIsFailedPrecondition) {
  StudySpec spec = Spec({Double("x", 0, 1)});
  auto r = MapWarmStart(spec, {Source("old", {Trial({{"x", "0.1"}}, 1.0)}),
                               Source("acc", {Trial({{"x", "0.1"}}, 1.0)}, "accuracy", true)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "warmStart: study \"acc\" optimizes \"accuracy\", this study optimizes \"loss\"; warm "
            "start needs studies of the same objective metric");
}

TEST(MapWarmStart, ValuesAreRawAndInTheNewStudysMinimizationSense) {
  // An old study that maximized "loss" (odd, but allowed): its raw values are kept; the new study
  // minimizes, so they go in as they are.
  StudySpec minimize = Spec({Double("x", 0, 1)});
  auto a = MapWarmStart(minimize, {Source("old", {Trial({{"x", "0.5"}}, 0.25)}, "loss", true)});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(Values(*a), ElementsAre(0.25));
  // The new study maximizes: values are negated, whatever the old direction.
  StudySpec maximize = Spec({Double("x", 0, 1)}, OutOfSpace::kDrop, /*maximize=*/true);
  auto b = MapWarmStart(maximize, {Source("old", {Trial({{"x", "0.5"}}, 0.25)}, "loss", false),
                                   Source("old2", {Trial({{"x", "0.6"}}, -3.0)}, "loss", true)});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(Values(*b), ElementsAre(-0.25, 3.0));
  EXPECT_EQ(b->Summary(), "1 trial from old, 1 trial from old2");
}

// ---------------------------------------------------------------------------------------------
// Rule 3: parameters by name.

TEST(MapWarmStart, MissingParameterDropsTheTrialAndExtraOnesAreIgnored) {
  StudySpec spec = Spec({Double("lr", 0, 1), Int("batch", 1, 64)});
  auto r = MapWarmStart(
      spec, {Source("old", {
                               // Old order, an extra parameter: new order kept.
                               Trial({{"momentum", "0.9"}, {"batch", "32"}, {"lr", "0.1"}}, 1.0),
                               Trial({{"lr", "0.2"}}, 2.0),
                               Trial({{"lr", "0.3"}}, 3.0),
                               Trial({{"batch", "8"}}, 4.0),
                           })});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Points(*r), ElementsAre(Assignment{{"lr", "0.1"}, {"batch", "32"}}));
  EXPECT_EQ(r->used, 1);
  EXPECT_EQ(r->dropped, 3);
  ASSERT_EQ(r->sources.size(), 1u);
  EXPECT_THAT(r->sources[0].drop_reasons,
              ElementsAre(Pair("no value for batch", 2), Pair("no value for lr", 1)));
  EXPECT_EQ(r->Summary(), "1 trial from old (3 dropped: 2 no value for batch, 1 no value for lr)");
}

// ---------------------------------------------------------------------------------------------
// Rules 4 to 6, value by value.

TEST(MapParameterValue, DoubleRange) {
  const ParameterSpec x = Double("x", 0.5, 2);
  for (OutOfSpace mode : {OutOfSpace::kDrop, OutOfSpace::kClip}) {
    EXPECT_EQ(Map(x, "1.25", mode), "exact:1.25");
    EXPECT_EQ(Map(x, "0.50", mode), "exact:0.5");  // written as the space writes it
    EXPECT_EQ(Map(x, "2", mode), "exact:2");       // bounds are inside
    EXPECT_EQ(Map(x, "1e0", mode), "exact:1");
    EXPECT_EQ(Map(x, "abc", mode), "invalid:");
    EXPECT_EQ(Map(x, "", mode), "invalid:");
    EXPECT_EQ(Map(x, "nan", mode), "invalid:");
  }
  EXPECT_EQ(Map(x, "0.25", OutOfSpace::kDrop), "outside:");
  EXPECT_EQ(Map(x, "7", OutOfSpace::kDrop), "outside:");
  EXPECT_EQ(Map(x, "0.25", OutOfSpace::kClip), "clipped:0.5");
  EXPECT_EQ(Map(x, "7", OutOfSpace::kClip), "clipped:2");
}

TEST(MapParameterValue, DoubleStepGrid) {
  const ParameterSpec x = Double("x", 0.1, 1, 0.1);                          // 0.1, 0.2, ..., 1
  EXPECT_EQ(Map(x, "0.30000000000000004", OutOfSpace::kDrop), "exact:0.3");  // float noise
  EXPECT_EQ(Map(x, "0.7", OutOfSpace::kDrop), "exact:0.7");
  EXPECT_EQ(Map(x, "1", OutOfSpace::kDrop), "exact:1");
  EXPECT_EQ(Map(x, "0.33", OutOfSpace::kDrop), "outside:");  // off the grid
  EXPECT_EQ(Map(x, "0.33", OutOfSpace::kClip), "clipped:0.3");
  EXPECT_EQ(Map(x, "0.37", OutOfSpace::kClip), "clipped:0.4");
  EXPECT_EQ(Map(x, "0.25", OutOfSpace::kClip), "clipped:0.2");  // a tie goes to the lower point
  EXPECT_EQ(Map(x, "5", OutOfSpace::kClip), "clipped:1");
  EXPECT_EQ(Map(x, "-5", OutOfSpace::kClip), "clipped:0.1");
  // The last grid point may lie below max: 0, 0.4, 0.8 in [0, 1].
  const ParameterSpec y = Double("y", 0, 1, 0.4);
  EXPECT_EQ(Map(y, "1", OutOfSpace::kDrop), "outside:");
  EXPECT_EQ(Map(y, "1", OutOfSpace::kClip), "clipped:0.8");
}

TEST(MapParameterValue, Int) {
  const ParameterSpec n = Int("n", 1, 10);
  for (OutOfSpace mode : {OutOfSpace::kDrop, OutOfSpace::kClip}) {
    EXPECT_EQ(Map(n, "4", mode), "exact:4");
    EXPECT_EQ(Map(n, "4.0", mode), "exact:4");   // an old double parameter's integral value
    EXPECT_EQ(Map(n, "3.5", mode), "invalid:");  // never rounded
    EXPECT_EQ(Map(n, "four", mode), "invalid:");
  }
  EXPECT_EQ(Map(n, "12", OutOfSpace::kDrop), "outside:");
  EXPECT_EQ(Map(n, "12", OutOfSpace::kClip), "clipped:10");
  EXPECT_EQ(Map(n, "-3", OutOfSpace::kClip), "clipped:1");
  const ParameterSpec odd = Int("odd", 1, 9, 2);  // 1, 3, 5, 7, 9
  EXPECT_EQ(Map(odd, "7", OutOfSpace::kDrop), "exact:7");
  EXPECT_EQ(Map(odd, "4", OutOfSpace::kDrop), "outside:");
  EXPECT_EQ(Map(odd, "4", OutOfSpace::kClip), "clipped:3");  // tie: the lower point
  EXPECT_EQ(Map(odd, "10", OutOfSpace::kClip), "clipped:9");
}

TEST(MapParameterValue, Discrete) {
  const ParameterSpec d = List("d", ParamType::kDiscrete, {"0.1", "1", "10", "4"});
  for (OutOfSpace mode : {OutOfSpace::kDrop, OutOfSpace::kClip}) {
    EXPECT_EQ(Map(d, "0.10", mode), "exact:0.1");  // the listed spelling
    EXPECT_EQ(Map(d, "1e1", mode), "exact:10");
    EXPECT_EQ(Map(d, "x", mode), "invalid:");
  }
  EXPECT_EQ(Map(d, "3", OutOfSpace::kDrop), "outside:");
  EXPECT_EQ(Map(d, "3", OutOfSpace::kClip), "clipped:4");
  EXPECT_EQ(Map(d, "7", OutOfSpace::kClip), "clipped:10");  // 10 is listed before 4: tie -> 10
  EXPECT_EQ(Map(d, "100", OutOfSpace::kClip), "clipped:10");
  EXPECT_EQ(Map(d, "-1", OutOfSpace::kClip), "clipped:0.1");
}

TEST(MapParameterValue, CategoricalIsNeverClipped) {
  const ParameterSpec c = List("opt", ParamType::kCategorical, {"sgd", "adam"});
  for (OutOfSpace mode : {OutOfSpace::kDrop, OutOfSpace::kClip}) {
    EXPECT_EQ(Map(c, "adam", mode), "exact:adam");
    EXPECT_EQ(Map(c, "rmsprop", mode), "invalid:");
    EXPECT_EQ(Map(c, "Adam", mode), "invalid:");
  }
}

// ---------------------------------------------------------------------------------------------
// Whole trials: drop vs clip.

std::vector<TrialRecord> MixedTrials() {
  return {
      Trial({{"lr", "0.05"}, {"n", "4"}, {"opt", "adam"}}, 1.0),     // fits
      Trial({{"lr", "0.5"}, {"n", "4"}, {"opt", "adam"}}, 2.0),      // lr above max
      Trial({{"lr", "0.05"}, {"n", "40"}, {"opt", "sgd"}}, 3.0),     // n above max
      Trial({{"lr", "0.05"}, {"n", "4"}, {"opt", "rmsprop"}}, 4.0),  // opt no longer listed
      Trial({{"lr", "0.05"}, {"n", "4.5"}, {"opt", "sgd"}}, 5.0),    // n not an integer
      Trial({{"lr", "0.7"}, {"n", "4"}, {"opt", "adam"}}, 6.0),      // lands where #2 lands
  };
}

TEST(MapWarmStart, DropLeavesOutTrialsOutsideTheSpace) {
  StudySpec spec = Spec({Double("lr", 0.01, 0.1), Int("n", 1, 8),
                         List("opt", ParamType::kCategorical, {"sgd", "adam"})},
                        OutOfSpace::kDrop);
  auto r = MapWarmStart(spec, {Source("old", MixedTrials())});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Points(*r), ElementsAre(Assignment{{"lr", "0.05"}, {"n", "4"}, {"opt", "adam"}}));
  EXPECT_THAT(Values(*r), ElementsAre(1.0));
  EXPECT_EQ(r->used, 1);
  EXPECT_EQ(r->dropped, 5);
  EXPECT_EQ(r->clipped, 0);
  EXPECT_EQ(r->Summary(),
            "1 trial from old (5 dropped: 3 outside the space, 1 opt value no longer listed, 1 n "
            "not an integer)");
}

TEST(MapWarmStart, ClipMovesValuesAndKeepsRepeatedPoints) {
  StudySpec spec = Spec({Double("lr", 0.01, 0.1), Int("n", 1, 8),
                         List("opt", ParamType::kCategorical, {"sgd", "adam"})},
                        OutOfSpace::kClip);
  auto r = MapWarmStart(spec, {Source("old", MixedTrials())});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Points(*r), ElementsAre(Assignment{{"lr", "0.05"}, {"n", "4"}, {"opt", "adam"}},
                                      Assignment{{"lr", "0.1"}, {"n", "4"}, {"opt", "adam"}},
                                      Assignment{{"lr", "0.05"}, {"n", "8"}, {"opt", "sgd"}},
                                      Assignment{{"lr", "0.1"}, {"n", "4"}, {"opt", "adam"}}));
  EXPECT_THAT(Values(*r), ElementsAre(1.0, 2.0, 3.0, 6.0));
  EXPECT_EQ(r->used, 4);
  EXPECT_EQ(r->clipped, 3);
  EXPECT_EQ(r->dropped, 2);
  EXPECT_EQ(r->Summary(),
            "4 trials from old (2 dropped: 1 opt value no longer listed, 1 n not an integer; 3 "
            "clipped)");
}

TEST(MapWarmStart, SourcesKeepTheirOrderAndCountsAddUp) {
  StudySpec spec = Spec({Double("x", 0, 1)}, OutOfSpace::kClip);
  auto r = MapWarmStart(
      spec, {Source("a", {Trial({{"x", "0.25"}}, 1.0), Trial({{"x", "2"}}, 2.0)}), Source("b", {}),
             Source("c", {Trial({{"y", "0.5"}}, 3.0), Trial({{"x", "0.75"}}, 4.0),
                          Trial({{"x", "0.5"}}, std::nullopt, TrialState::kFailed)})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Points(*r), ElementsAre(Assignment{{"x", "0.25"}}, Assignment{{"x", "1"}},
                                      Assignment{{"x", "0.75"}}));
  EXPECT_THAT(Values(*r), ElementsAre(1.0, 2.0, 4.0));
  EXPECT_EQ(r->used, 3);
  EXPECT_EQ(r->clipped, 1);
  EXPECT_EQ(r->dropped, 1);
  EXPECT_EQ(r->skipped, 1);
  ASSERT_EQ(r->sources.size(), 3u);
  EXPECT_EQ(r->sources[1].study, "b");
  EXPECT_EQ(r->sources[1].used, 0);
  EXPECT_EQ(r->Summary(),
            "2 trials from a (1 clipped), 0 trials from b, 1 trial from c (1 dropped: no value "
            "for x; 1 skipped: not succeeded)");
}

TEST(MapWarmStart, WithoutWarmStartSpecDropIsTheRule) {
  StudySpec spec = Spec({Double("x", 0, 1)});
  spec.hpt.warm_start.reset();
  auto r = MapWarmStart(spec, {Source("a", {Trial({{"x", "2"}}, 1.0)})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->used, 0);
  EXPECT_EQ(r->dropped, 1);
}

// ---------------------------------------------------------------------------------------------
// LoadWarmStartSources on a real tracker file.

TEST(LoadWarmStartSources, ReadsStudiesInOrderAndNamesAMissingOne) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("warm_start_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto store = tracker::TrialStore::Open({}, (dir / "hpt.db").string());
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* name : {"first", "second"}) {
    auto s = (*store)->CreateStudy({.name = name, .objective_metric = "loss"});
    ASSERT_TRUE(s.ok()) << s.status();
    auto t = (*store)->CreateTrial(
        {.study_id = s->id, .name = std::string(name) + "-00001", .params = {{"x", "0.5"}}});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(
        (*store)->SetTrialState(t->id, TrialState::kSucceeded, "TrialSucceeded", "", 0.5).ok());
  }
  auto sources = LoadWarmStartSources(**store, {"second", "first"}, "hpt.db");
  ASSERT_TRUE(sources.ok()) << sources.status();
  ASSERT_EQ(sources->size(), 2u);
  EXPECT_EQ((*sources)[0].study.name, "second");
  EXPECT_EQ((*sources)[1].study.name, "first");
  ASSERT_EQ((*sources)[0].trials.size(), 1u);
  EXPECT_EQ((*sources)[0].trials[0].name, "second-00001");
  EXPECT_EQ((*sources)[0].trials[0].objective, 0.5);

  auto missing = LoadWarmStartSources(**store, {"first", "nope"}, "/data/hpt.db");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "warmStart: no study \"nope\" in /data/hpt.db");
  store->reset();
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// End to end: studies run by the controller on the local runner, one tracker file.

// A v1beta1 Experiment over one int parameter x in [min, max] whose trials print loss=x (the
// StdOut collector reads it). `extra` goes into spec (budget, spec.hpt).
std::string IntStudy(const std::string& name, const std::string& algorithm, int min, int max,
                     const std::string& extra) {
  return "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n  name: " + name +
         "\nspec:\n  objective:\n    type: minimize\n    objectiveMetricName: loss\n"
         "  algorithm:\n    algorithmName: " +
         algorithm + "\n" + extra +
         "  parameters:\n    - name: x\n      parameterType: int\n"
         "      feasibleSpace: {min: \"" +
         std::to_string(min) + "\", max: \"" + std::to_string(max) +
         "\"}\n"
         "  trialTemplate:\n    primaryContainerName: main\n    trialParameters:\n"
         "      - {name: x, reference: x}\n    trialSpec:\n      apiVersion: batch/v1\n"
         "      kind: Job\n      spec:\n        template:\n          spec:\n"
         "            containers:\n              - name: main\n                image: busybox\n"
         "                command: [\"sh\", \"-c\", \"echo loss=${trialParameters.x}\"]\n"
         "            restartPolicy: Never\n";
}

class WarmStartRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::FreshTestDir("warm_run");
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    runner_ = std::make_unique<runner::LocalRunner>(
        runner::LocalRunnerOptions{.grace_period_seconds = 1});
  }

  void TearDown() override {
    runner_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  absl::StatusOr<StudySpec> Load(const std::string& yaml) {
    std::vector<Diagnostic> diags;
    return LoadStudyText(yaml, (dir_ / "study.yaml").string(), &diags);
  }

  absl::StatusOr<tracker::StudyRecord> Run(const StudySpec& spec, bool resume = false,
                                           std::optional<int> max_trials = std::nullopt) {
    StudyController c(spec, store_.get(), runner_.get(),
                      {.endpoint = "127.0.0.1:1",
                       .runs_dir = (dir_ / "runs").string(),
                       .poll_interval_ms = 20,
                       .resume = resume,
                       .store_name = "hpt.db"});
    if (max_trials) {
      absl::Status s = c.SetLimits({.max_trial_count = *max_trials});
      if (!s.ok()) return s;
    }
    return c.Run();
  }

  absl::StatusOr<tracker::StudyRecord> RunYaml(const std::string& yaml) {
    absl::StatusOr<StudySpec> spec = Load(yaml);
    if (!spec.ok()) return spec.status();
    return Run(*spec);
  }

  // "name x=v state" per trial, in creation order.
  std::vector<std::string> Trials(int64_t study_id) {
    std::vector<std::string> out;
    auto trials = store_->ListTrials(study_id);
    EXPECT_TRUE(trials.ok()) << trials.status();
    if (!trials.ok()) return out;
    for (const TrialRecord& t : *trials) {
      std::string line = t.name;
      for (const auto& [n, v] : t.params) line += " " + n + "=" + v;
      out.push_back(line + " " + tracker::TrialStateName(t.state));
    }
    return out;
  }

  // The messages of the study's events of `kind`.
  std::vector<std::string> Events(int64_t study_id, const std::string& kind) {
    std::vector<std::string> out;
    auto events = store_->ListEvents(study_id);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return out;
    for (const tracker::Event& e : *events) {
      if (e.kind == kind) out.push_back(e.message);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::unique_ptr<runner::LocalRunner> runner_;
};

TEST_F(WarmStartRunTest, GridSkipsWhatTheEarlierStudyEvaluated) {
  // Study A: a random search over x in [1, 6], four trials.
  auto a = RunYaml(IntStudy("wa", "random", 1, 6,
                            "  parallelTrialCount: 1\n  maxTrialCount: 4\n  hpt: {seed: 7}\n"));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->state, tracker::StudyState::kSucceeded) << a->message;
  auto a_trials = store_->ListTrials(a->id);
  ASSERT_TRUE(a_trials.ok());
  ASSERT_EQ(a_trials->size(), 4u);
  std::set<int> seen;  // A's distinct points
  int outside = 0;     // A's trials with x = 1: outside B's space
  for (const TrialRecord& t : *a_trials) {
    ASSERT_EQ(t.state, TrialState::kSucceeded) << t.name << ": " << t.message;
    ASSERT_EQ(t.params.size(), 1u);
    const int x = std::stoi(t.params[0].second);
    EXPECT_EQ(t.objective, static_cast<double>(x)) << t.name;
    if (x == 1) {
      ++outside;
    } else {
      seen.insert(x);
    }
  }

  // With seed 7 A's points are known to overlap B's grid; the checks below do not depend on them.
  ASSERT_FALSE(seen.empty());
  // Study B: the grid over x in [2, 8] (the space changed), warm-started from A.
  auto b = RunYaml(
      IntStudy("wb", "grid", 2, 8, "  parallelTrialCount: 2\n  hpt:\n    warmStart: [wa]\n"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->state, tracker::StudyState::kSucceeded);
  EXPECT_EQ(b->reason, "ExperimentSuggestionEndReached");
  // B ran exactly the grid points A had not, in grid order, numbered from 1.
  std::vector<std::string> want;
  for (int x = 2; x <= 8; ++x) {
    if (seen.contains(x)) continue;
    want.push_back(TrialName("wb", static_cast<int>(want.size()) + 1) + " x=" + std::to_string(x) +
                   " SUCCEEDED");
  }
  EXPECT_EQ(Trials(b->id), want);
  EXPECT_EQ(want.size(), 7 - seen.size());

  std::string note =
      std::to_string(4 - outside) + (4 - outside == 1 ? " trial" : " trials") + " from wa";
  if (outside > 0) note += " (" + std::to_string(outside) + " dropped: outside the space)";
  EXPECT_THAT(Events(b->id, "WarmStart"), ElementsAre(note));
  // A is untouched.
  EXPECT_EQ(store_->ListTrials(a->id)->size(), 4u);
}

TEST_F(WarmStartRunTest, WarmTrialsDoNotCountTowardTheBudgetAndResumeReadsTheSourcesAgain) {
  // A: the grid over x in [1, 4] with two trials: x = 1, 2.
  auto a = RunYaml(IntStudy("ga", "grid", 1, 4, "  parallelTrialCount: 1\n  maxTrialCount: 2\n"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Trials(a->id),
            (std::vector<std::string>{"ga-00001 x=1 SUCCEEDED", "ga-00002 x=2 SUCCEEDED"}));

  // B: the grid over x in [2, 6], two trials of its own: x = 2 is known from A (x = 1 is
  // outside B's space).
  auto spec = Load(IntStudy("gb", "grid", 2, 6,
                            "  parallelTrialCount: 1\n  maxTrialCount: 2\n"
                            "  hpt:\n    warmStart: {studies: [ga], outOfSpace: drop}\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto b = Run(*spec);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->reason, "ExperimentMaxTrialsReached");
  EXPECT_EQ(Trials(b->id),
            (std::vector<std::string>{"gb-00001 x=3 SUCCEEDED", "gb-00002 x=4 SUCCEEDED"}));
  EXPECT_THAT(Events(b->id, "WarmStart"),
              ElementsAre("1 trial from ga (1 dropped: outside the space)"));

  // A is deleted; B resumed with a larger budget leaves it out and says so; without A's x = 2
  // the grid now proposes it.
  ASSERT_TRUE(store_->DeleteStudy(a->id).ok());
  auto resumed = Run(*spec, /*resume=*/true, /*max_trials=*/4);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->reason, "ExperimentMaxTrialsReached");
  EXPECT_EQ(Trials(b->id),
            (std::vector<std::string>{"gb-00001 x=3 SUCCEEDED", "gb-00002 x=4 SUCCEEDED",
                                      "gb-00003 x=2 SUCCEEDED", "gb-00004 x=5 SUCCEEDED"}));
  EXPECT_THAT(Events(b->id, "WarmStart"),
              ElementsAre("1 trial from ga (1 dropped: outside the space)",
                          "no study \"ga\" in hpt.db any more"));
}

TEST_F(WarmStartRunTest, ClippedPointsAreSkippedByTheGridToo) {
  auto a = RunYaml(IntStudy("ca", "grid", 1, 4, "  parallelTrialCount: 1\n  maxTrialCount: 2\n"));
  ASSERT_TRUE(a.ok()) << a.status();
  // B: x in [2, 4]; A's x = 1 is clipped to 2, A's x = 2 lands there too: only 3 and 4 remain.
  auto b = RunYaml(IntStudy("cb", "grid", 2, 4,
                            "  hpt:\n    warmStart:\n      studies: [ca]\n"
                            "      outOfSpace: clip\n"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->reason, "ExperimentSuggestionEndReached");
  EXPECT_EQ(Trials(b->id),
            (std::vector<std::string>{"cb-00001 x=3 SUCCEEDED", "cb-00002 x=4 SUCCEEDED"}));
  EXPECT_THAT(Events(b->id, "WarmStart"), ElementsAre("2 trials from ca (1 clipped)"));
}

TEST_F(WarmStartRunTest, AMissingStudyFailsTheStartAndWritesNothing) {
  auto b = RunYaml(IntStudy("mb", "grid", 1, 3, "  hpt:\n    warmStart: [ma, nope]\n"));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(b.status().message(), "warmStart: no study \"ma\" in hpt.db");
  EXPECT_EQ(store_->FindStudy("mb").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(WarmStartRunTest, AnotherObjectiveMetricFailsTheStart) {
  auto a = RunYaml(IntStudy("oa", "grid", 1, 2, ""));
  ASSERT_TRUE(a.ok()) << a.status();
  std::string yaml = IntStudy("ob", "grid", 1, 3, "  hpt:\n    warmStart: [oa]\n");
  yaml.replace(yaml.find("objectiveMetricName: loss"), 25, "objectiveMetricName: acc");
  auto b = RunYaml(yaml);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(b.status().message(),
            "warmStart: study \"oa\" optimizes \"loss\", this study optimizes \"acc\"; warm "
            "start needs studies of the same objective metric");
  EXPECT_EQ(store_->FindStudy("ob").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace hpt::engine
