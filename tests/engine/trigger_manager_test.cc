// TriggerManager over a real SQLite tracker file and a StudyManager running studies as real
// processes (local runner): apply, evaluate, fire, cooldown across restarts, both actions.
#include "engine/trigger_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/metrics_service.h"
#include "engine/study_manager.h"
#include "tests/common/test_dirs.h"
#include "tests/engine/test_studies.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Fires when the mean of the last 2 `auc` points of project fraud drops below 0.9.
std::string AucTrigger(const std::string& action, const std::string& cooldown = "1h") {
  return R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata:
  name: auc-drop
spec:
  watch:
    model: {project: fraud, metric: auc, goal: maximize}
  aggregate:
    function: mean
    window: {points: 2}
    minPoints: 2
  condition:
    below: 0.9
  cooldown: )" +
         cooldown + "\n  action:\n" + action;
}

class TriggerManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::FreshTestDir("trigger_manager");
    Open();
  }
  void TearDown() override {
    Close();
    fs::remove_all(dir_);
  }
  // (Re)starts the engine's parts on the same file: a restart.
  void Open() {
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    metrics_ = std::make_unique<MetricsServer>(store_.get(), MetricsServerOptions{});
    auto port = metrics_->Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    runner_ = std::make_unique<runner::LocalRunner>(runner::LocalRunnerOptions{});
    manager_ = std::make_unique<StudyManager>(
        store_.get(), runner_.get(),
        StudyManagerOptions{.endpoint = "127.0.0.1:" + std::to_string(*port),
                            .runs_dir = (dir_ / "runs").string(),
                            .poll_interval_ms = 20});
    // A long interval: the tests call EvaluateAll themselves.
    triggers_ = std::make_unique<TriggerManager>(store_.get(), manager_.get(),
                                                 TriggerManagerOptions{.interval = absl::Hours(1)});
  }
  void Close() {
    triggers_.reset();
    if (manager_) manager_->Shutdown();
    manager_.reset();
    runner_.reset();
    metrics_.reset();
    store_.reset();
  }
  // Runs a study to its end.
  void RunStudy(const std::string& yaml) {
    absl::StatusOr<StudyView> v = manager_->Submit(yaml, "study.yaml", {});
    ASSERT_TRUE(v.ok()) << v.status();
    WaitEnded(v->record.name);
  }
  StudyView WaitEnded(const std::string& name) {
    StudyView last;
    for (uint64_t version = 0;;) {
      absl::StatusOr<StudyUpdate> u = manager_->WaitForChange(name, version, absl::Seconds(60));
      EXPECT_TRUE(u.ok()) << u.status();
      if (!u.ok()) return last;
      last = u->view;
      if (!u->view.live &&
          tracker::StudyStateName(u->view.record.state) != std::string("RUNNING") &&
          tracker::StudyStateName(u->view.record.state) != std::string("CREATED")) {
        return last;
      }
      if (u->version == version) return last;  // timed out
      version = u->version;
    }
  }
  void Report(double auc, int64_t time_ms) {
    ASSERT_TRUE(triggers_
                    ->Report({{.project = "fraud",
                               .experiment = "prod",
                               .model = "v1",
                               .metric = "auc",
                               .value = auc,
                               .time_ms = time_ms}})
                    .ok());
  }

  fs::path dir_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<runner::LocalRunner> runner_;
  std::unique_ptr<StudyManager> manager_;
  std::unique_ptr<TriggerManager> triggers_;
};

// The model's AUC drops: the trigger reruns the champion of study "hpo" with its parameters,
// once per cooldown, also after a restart.
TEST_F(TriggerManagerTest, RetrainsTheChampionOncePerCooldownAcrossRestarts) {
  RunStudy(Experiment("hpo", "echo loss=${trialParameters.x}", 2, 4));
  absl::StatusOr<tracker::StudyRecord> hpo = store_->FindStudy("hpo");
  ASSERT_TRUE(hpo.ok());
  absl::StatusOr<std::vector<tracker::TrialRecord>> best = store_->Leaderboard(hpo->id, 1);
  ASSERT_TRUE(best.ok());
  ASSERT_THAT(*best, SizeIs(1));
  const std::string champion_x = best->front().params[0].second;

  absl::StatusOr<AppliedTrigger> applied =
      triggers_->Apply(AucTrigger("    retrainTrial: {study: hpo}\n"), "auc.yaml", "");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(applied->created);
  EXPECT_EQ(applied->summary,
            "mean(auc) over the last 2 points < 0.9, cooldown 1h -> retrain trial from study hpo");
  // No Start(): its thread would evaluate at the real time, and this test says what "now" is.

  const int64_t t0 = 1'900'000'000'000;  // fixed times: the test says what "now" is
  Report(0.95, t0);
  absl::StatusOr<std::vector<tracker::TriggerFiring>> none = triggers_->EvaluateAll(t0 + 1);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, SizeIs(0));  // one point: below minPoints
  Report(0.80, t0 + 1000);        // mean 0.875 < 0.9
  absl::StatusOr<std::vector<tracker::TriggerFiring>> fired = triggers_->EvaluateAll(t0 + 2000);
  ASSERT_TRUE(fired.ok()) << fired.status();
  ASSERT_THAT(*fired, SizeIs(1));
  const tracker::TriggerFiring f = fired->front();  // a copy: `fired` is reused below
  EXPECT_EQ(f.state, tracker::FiringState::kDone) << f.result;
  EXPECT_EQ(f.result, absl::StrCat("hpo-retrain-", f.id));
  EXPECT_EQ(f.value, 0.875);
  EXPECT_EQ(f.action, "retrainTrial");
  EXPECT_EQ(f.reason, "mean(auc) over the last 2 points = 0.875 < 0.9");

  // The retraining study: one trial, the champion's x, the trigger's annotations and an event.
  StudyView retrain = WaitEnded(f.result);
  EXPECT_EQ(tracker::StudyStateName(retrain.record.state), std::string("SUCCEEDED"));
  EXPECT_EQ(retrain.record.project, "foo");
  EXPECT_EQ(retrain.record.annotations["hpt.dev/trigger"], "auc-drop");
  EXPECT_EQ(retrain.record.annotations["hpt.dev/champion"], best->front().name);
  absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store_->ListTrials(retrain.record.id);
  ASSERT_TRUE(trials.ok());
  ASSERT_THAT(*trials, SizeIs(1));
  EXPECT_EQ(trials->front().params[0].second, champion_x);
  absl::StatusOr<std::vector<tracker::Event>> events = store_->ListEvents(retrain.record.id);
  ASSERT_TRUE(events.ok());
  bool triggered = false;
  for (const tracker::Event& e : *events) {
    if (e.kind == "Triggered") {
      triggered = true;
      EXPECT_THAT(e.message, HasSubstr(absl::StrCat("trigger auc-drop (firing ", f.id, ")")));
    }
  }
  EXPECT_TRUE(triggered);

  // Still below: the cooldown holds, before and after a restart, until it ends.
  Report(0.70, t0 + 3000);
  fired = triggers_->EvaluateAll(t0 + 4000);
  ASSERT_TRUE(fired.ok());
  EXPECT_THAT(*fired, SizeIs(0));
  absl::StatusOr<std::vector<TriggerView>> views = triggers_->List();
  ASSERT_TRUE(views.ok());
  ASSERT_THAT(*views, SizeIs(1));
  ASSERT_TRUE(views->front().last.has_value());
  EXPECT_TRUE(views->front().last->cooling_down);
  ASSERT_TRUE(views->front().last_firing.has_value());
  EXPECT_EQ(views->front().last_firing->id, f.id);
  Close();
  Open();  // a restart: what the cooldown needs is in the file
  fired = triggers_->EvaluateAll(t0 + 2000 + 3'599'999);
  ASSERT_TRUE(fired.ok());
  EXPECT_THAT(*fired, SizeIs(0));
  fired = triggers_->EvaluateAll(t0 + 2000 + 3'600'000);  // exactly when the cooldown ends
  ASSERT_TRUE(fired.ok());
  ASSERT_THAT(*fired, SizeIs(1));
  WaitEnded(fired->front().result);
  absl::StatusOr<std::vector<tracker::TriggerFiring>> history = triggers_->History("auc-drop", 0);
  ASSERT_TRUE(history.ok());
  ASSERT_THAT(*history, SizeIs(2));
  EXPECT_EQ(history->at(0).id, f.id);
}

// submitStudy: the trigger's study, renamed per firing and warm-started from the old one.
TEST_F(TriggerManagerTest, SubmitsAWarmStartedStudy) {
  RunStudy(Experiment("old", "echo loss=${trialParameters.x}", 2, 3));
  const std::string study = Experiment("fresh", "echo loss=${trialParameters.x}", 1, 2);
  absl::StatusOr<AppliedTrigger> applied = triggers_->Apply(
      AucTrigger("    submitStudy:\n      file: fresh.yaml\n      warmStartFrom: [old]\n"),
      (dir_ / "auc.yaml").string(), study);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->record.study_yaml, study);
  const int64_t t0 = 1'900'000'000'000;
  Report(0.5, t0);
  Report(0.5, t0 + 1);
  absl::StatusOr<std::vector<tracker::TriggerFiring>> fired = triggers_->EvaluateAll(t0 + 2);
  ASSERT_TRUE(fired.ok()) << fired.status();
  ASSERT_THAT(*fired, SizeIs(1));
  EXPECT_EQ(fired->front().state, tracker::FiringState::kDone) << fired->front().result;
  EXPECT_EQ(fired->front().result, absl::StrCat("fresh-t", fired->front().id));
  StudyView v = WaitEnded(fired->front().result);
  EXPECT_EQ(tracker::StudyStateName(v.record.state), std::string("SUCCEEDED"));
  absl::StatusOr<std::vector<tracker::Event>> events = store_->ListEvents(v.record.id);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> kinds;
  for (const tracker::Event& e : *events) {
    if (e.kind == "WarmStart" || e.kind == "Triggered") kinds.push_back(e.kind);
  }
  EXPECT_THAT(kinds, ::testing::IsSupersetOf({"WarmStart", "Triggered"}));
  EXPECT_THAT(v.record.spec_yaml, HasSubstr("warmStart"));
}

// A firing claimed but not finished (the engine died in its action) is finished by the next
// Start, without a second study when the first had been submitted.
TEST_F(TriggerManagerTest, StartFinishesAPendingFiring) {
  RunStudy(Experiment("hpo", "echo loss=${trialParameters.x}", 1, 2));
  absl::StatusOr<AppliedTrigger> applied =
      triggers_->Apply(AucTrigger("    retrainTrial: {study: hpo}\n"), "auc.yaml", "");
  ASSERT_TRUE(applied.ok()) << applied.status();
  absl::StatusOr<std::optional<tracker::TriggerFiring>> claimed = store_->ClaimFiring(
      {.trigger_id = applied->record.id, .time_ms = 5, .reason = "r", .action = "retrainTrial"}, 0);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  triggers_->Start();
  absl::StatusOr<std::vector<tracker::TriggerFiring>> history = triggers_->History("", 0);
  ASSERT_TRUE(history.ok());
  ASSERT_THAT(*history, SizeIs(1));
  EXPECT_EQ(history->front().state, tracker::FiringState::kDone) << history->front().result;
  const std::string made = history->front().result;
  EXPECT_EQ(made, absl::StrCat("hpo-retrain-", (*claimed)->id));
  WaitEnded(made);
  // A second Start (another restart) finds nothing pending; the study exists once.
  Close();
  Open();
  triggers_->Start();
  absl::StatusOr<std::vector<tracker::StudyRecord>> studies = store_->ListStudies();
  ASSERT_TRUE(studies.ok());
  int retrains = 0;
  for (const tracker::StudyRecord& s : *studies) retrains += s.name == made;
  EXPECT_EQ(retrains, 1);
}

TEST_F(TriggerManagerTest, ApplyChecksWhatTheTriggerNames) {
  absl::StatusOr<AppliedTrigger> no_study =
      triggers_->Apply(AucTrigger("    retrainTrial: {study: nope}\n"), "auc.yaml", "");
  EXPECT_EQ(no_study.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(no_study.status().message(),
            "trigger \"auc-drop\": action.retrainTrial.study: no study \"nope\"");
  absl::StatusOr<AppliedTrigger> no_text =
      triggers_->Apply(AucTrigger("    submitStudy: {file: s.yaml}\n"), "auc.yaml", "");
  EXPECT_EQ(no_text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_text.status().message(), HasSubstr("action.submitStudy.file: the text of s.yaml"));
  absl::StatusOr<AppliedTrigger> bad_study = triggers_->Apply(
      AucTrigger("    submitStudy: {file: s.yaml}\n"), "auc.yaml", "kind: Experiment\n");
  EXPECT_EQ(bad_study.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_study.status().message(), HasSubstr("action.submitStudy.file s.yaml: "));
  absl::StatusOr<AppliedTrigger> bad_yaml = triggers_->Apply("kind: [", "t.yaml", "");
  EXPECT_EQ(bad_yaml.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_yaml.status().message(), HasSubstr("t.yaml:1:"));
  const std::string watch_missing = R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata: {name: best}
spec:
  watch: {study: {name: ghost}}
  condition: {newBest: {}}
  action: {retrainTrial: {study: ghost}}
)";
  EXPECT_EQ(triggers_->Apply(watch_missing, "b.yaml", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(triggers_->Delete("auc-drop").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(triggers_->History("auc-drop", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(triggers_->Report({{.project = "fraud", .metric = "auc", .value = NAN}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// newBest over a study: the baseline is the best when applied; a better trial fires once.
TEST_F(TriggerManagerTest, NewBestOfAStudyFiresOnImprovement) {
  RunStudy(Experiment("hpo", "echo loss=${trialParameters.x}", 1, 2));
  const std::string yaml = R"(apiVersion: hpt.dev/v1
kind: RetrainTrigger
metadata: {name: best}
spec:
  watch: {study: {name: hpo}}
  condition: {newBest: {}}
  cooldown: 0s
  action: {retrainTrial: {study: hpo}}
)";
  absl::StatusOr<AppliedTrigger> applied = triggers_->Apply(yaml, "b.yaml", "");
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_TRUE(applied->record.baseline.has_value());
  absl::StatusOr<std::vector<tracker::TriggerFiring>> fired = triggers_->EvaluateAll();
  ASSERT_TRUE(fired.ok());
  EXPECT_THAT(*fired, SizeIs(0));  // nothing better than when applied
  // A better trial (x = 0: loss 0) lands in hpo.
  absl::StatusOr<tracker::StudyRecord> hpo = store_->FindStudy("hpo");
  ASSERT_TRUE(hpo.ok());
  absl::StatusOr<tracker::TrialRecord> t =
      store_->CreateTrial({.study_id = hpo->id, .name = "hpo-manual", .params = {{"x", "0"}}});
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(store_->SetTrialState(t->id, tracker::TrialState::kRunning, "", "").ok());
  ASSERT_TRUE(store_->SetTrialState(t->id, tracker::TrialState::kSucceeded, "", "", -1.0).ok());
  fired = triggers_->EvaluateAll();
  ASSERT_TRUE(fired.ok());
  ASSERT_THAT(*fired, SizeIs(1));
  EXPECT_EQ(fired->front().best, -1.0);
  StudyView v = WaitEnded(fired->front().result);
  absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store_->ListTrials(v.record.id);
  ASSERT_TRUE(trials.ok());
  ASSERT_THAT(*trials, SizeIs(1));
  EXPECT_THAT(trials->front().params,
              ElementsAre(std::make_pair(std::string("x"), std::string("0"))));
  // The best is now the baseline: no second firing.
  fired = triggers_->EvaluateAll();
  ASSERT_TRUE(fired.ok());
  EXPECT_THAT(*fired, SizeIs(0));
}

TEST(RetrainStudyYaml, FixesEveryParameterAndRenames) {
  absl::StatusOr<std::string> y =
      RetrainStudyYaml(Experiment("hpo", "echo loss=1", 3, 9), "hpo-retrain-4", {{"x", "0.25"}},
                       {{"hpt.dev/trigger", "t"}});
  ASSERT_TRUE(y.ok()) << y.status();
  absl::StatusOr<StudySpec> spec = LoadStudyText(*y, "<test>", nullptr);
  ASSERT_TRUE(spec.ok()) << spec.status() << "\n" << *y;
  EXPECT_EQ(spec->name, "hpo-retrain-4");
  EXPECT_EQ(spec->algorithm.name, "grid");
  EXPECT_EQ(spec->max_trial_count, 1);
  EXPECT_EQ(spec->parallel_trial_count, 1);
  ASSERT_THAT(spec->space.params, SizeIs(1));
  EXPECT_EQ(spec->space.params[0].type, suggest::ParamType::kCategorical);
  EXPECT_THAT(spec->space.params[0].list, ElementsAre("0.25"));
  EXPECT_EQ(spec->annotations.at("hpt.dev/trigger"), "t");
  EXPECT_EQ(spec->annotations.at("ai.bloomberg.com/project"), "foo");

  EXPECT_EQ(RetrainStudyYaml(Experiment("hpo", "echo", 1, 1), "n", {}, {}).status().message(),
            "the champion has no value for parameter \"x\"");
  EXPECT_THAT(RetrainStudyYaml("apiVersion: kubeflow.org/v1alpha1\nkind: StudyJob\n", "n", {}, {})
                  .status()
                  .message(),
              HasSubstr("this study is kubeflow.org/v1alpha1 StudyJob"));
  EXPECT_EQ(RetrainStudyYaml("[1, 2]", "n", {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hpt::engine
