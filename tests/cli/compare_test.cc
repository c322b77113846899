// Sparklines (cli/sparkline.h) and the hpt.export/v1 study export (cli/study_export.h): a round
// trip through two real tracker files, and every kind of bad document.
#include <stdlib.h>

#include <cfloat>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/sparkline.h"
#include "cli/study_export.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tracker/trial_store.h"

namespace hpt::cli {
namespace {

using Json = nlohmann::ordered_json;
using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tracker::StudyRecord;
using tracker::StudyState;
using tracker::TrialRecord;
using tracker::TrialState;

// --- Sparkline ---------------------------------------------------------------------------------

TEST(Sparkline, ScalesMinToMax) {
  EXPECT_EQ(Sparkline({3, 1, 4, 1, 5}), "▅▁▆▁█");
  EXPECT_EQ(Sparkline({0, 1, 2, 3, 4, 5, 6, 7}), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(Sparkline({-2, -1}), "▁█");
}

TEST(Sparkline, ConstantIsFlatAndEmptyIsEmpty) {
  EXPECT_EQ(Sparkline({2.5, 2.5, 2.5}), "▄▄▄");
  EXPECT_EQ(Sparkline({7}), "▄");
  EXPECT_EQ(Sparkline({}), "");
}

TEST(Sparkline, ExtremeValuesDoNotOverflow) {
  EXPECT_EQ(Sparkline({-DBL_MAX, 0, DBL_MAX}), "▁▅█");  // 3.5 rounds up
  EXPECT_EQ(Sparkline({DBL_MAX, DBL_MAX}, 1), "▄");
}

TEST(Sparkline, DownsamplesByBucketMeans) {
  EXPECT_THAT(DownsampleMeans({1, 2, 3, 4, 5}, 2), ElementsAre(DoubleEq(1.5), DoubleEq(4)));
  EXPECT_THAT(DownsampleMeans({1, 2, 3}, 10), ElementsAre(1, 2, 3));
  EXPECT_THAT(DownsampleMeans({1, 2, 3}, 0), ElementsAre(DoubleEq(2)));  // width 0 acts as 1
  std::vector<double> ramp;
  for (int i = 0; i < 600; ++i) ramp.push_back(i);
  const std::vector<double> means = DownsampleMeans(ramp, kSparklineWidth);
  ASSERT_EQ(means.size(), kSparklineWidth);
  EXPECT_DOUBLE_EQ(means.front(), 4.5);  // mean of 0..9
  EXPECT_DOUBLE_EQ(means.back(), 594.5);
  const std::string line = Sparkline(ramp);
  EXPECT_EQ(line.size(), kSparklineWidth * 3);  // each block is 3 bytes of UTF-8
  EXPECT_EQ(line.substr(0, 3), "▁");
  EXPECT_EQ(line.substr(line.size() - 3), "█");
}

// --- StudyExport -------------------------------------------------------------------------------

class StudyExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "hpt_compare_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << "mkdtemp " << tmpl;
    dir_ = tmpl;
    source_ = Open("source.db");
    target_ = Open("target.db");
  }
  void TearDown() override {
    source_.reset();
    target_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<tracker::TrialStore> Open(const std::string& name) {
    absl::StatusOr<std::unique_ptr<tracker::TrialStore>> s =
        tracker::TrialStore::Open({}, dir_ + "/" + name);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  // A finished study with trials in every kind of state and history.
  StudyRecord MakeStudy() {
    absl::StatusOr<StudyRecord> s = source_->CreateStudy({.name = "demo",
                                                          .project = "proj",
                                                          .experiment = "exp",
                                                          .spec_yaml = "kind: Experiment\n",
                                                          .spec_path = "/tmp/demo.yaml",
                                                          .algorithm = "random",
                                                          .objective_metric = "acc",
                                                          .maximize = true,
                                                          .seed = 18446744073709551615ull,
                                                          .annotations = {{"a/b", "c"}}});
    EXPECT_TRUE(s.ok()) << s.status();
    auto trial = [&](const std::string& name, uint64_t seed) {
      absl::StatusOr<TrialRecord> t =
          source_->CreateTrial({.study_id = s->id,
                                .name = name,
                                .params = {{"z", "1"}, {"a", "0.30000000000000004"}},
                                .seed = seed,
                                .manifest = "{\"kind\":\"Job\"}",
                                .token_hash = "ab"});
      EXPECT_TRUE(t.ok()) << t.status();
      return t->id;
    };
    const int64_t done = trial("demo-00001", 1), running = trial("demo-00002", 2),
                  killed = trial("demo-00003", 3), pending = trial("demo-00004", 4);
    EXPECT_TRUE(source_
                    ->AppendMetrics(done, 7,
                                    {{.name = "acc", .step = 5, .value = 0.25, .time_ms = 1000},
                                     {.name = "loss", .step = 5, .value = 1e-300, .time_ms = 1000},
                                     {.name = "acc", .step = 3, .value = 0.75, .time_ms = 999},
                                     {.name = "acc", .step = 9, .value = -0.5, .time_ms = 2000}})
                    .ok());
    EXPECT_TRUE(
        source_->AppendMetrics(running, 0, {{.name = "acc", .value = 0.1, .time_ms = 5}}).ok());
    // done: three attempts (two requeues), then succeeded.
    for (int a = 0; a < 3; ++a) {
      if (a > 0) {
        EXPECT_TRUE(source_->SetTrialState(done, TrialState::kPending, "Requeued", "").ok());
      }
      EXPECT_TRUE(source_->SetTrialState(done, TrialState::kRunning, "", "").ok());
    }
    EXPECT_TRUE(source_->SetTrialState(done, TrialState::kSucceeded, "Done", "ok", 0.75).ok());
    EXPECT_TRUE(source_->SetTrialState(running, TrialState::kRunning, "", "").ok());
    EXPECT_TRUE(source_->SetTrialState(running, TrialState::kRunning, "Busy", "epoch 3").ok());
    EXPECT_TRUE(source_->SetTrialState(killed, TrialState::kKilled, "Stopped", "by user").ok());
    EXPECT_TRUE(source_->SetTrialState(pending, TrialState::kPending, "Queued", "no GPU").ok());
    EXPECT_TRUE(source_->AddEvent(s->id, done, "TrialCreated", "one").ok());
    EXPECT_TRUE(source_->AddEvent(s->id, 0, "StudyNote", "two").ok());
    EXPECT_TRUE(source_->AddEvent(s->id, killed, "TrialKilled", "three").ok());
    EXPECT_TRUE(
        source_->SetStudyState(s->id, StudyState::kSucceeded, "ExperimentGoalReached", "ok").ok());
    absl::StatusOr<StudyRecord> back = source_->GetStudy(s->id);
    EXPECT_TRUE(back.ok());
    return *back;
  }

  Json ExportOf(tracker::TrialStore* store, const std::string& name) {
    absl::StatusOr<StudyRecord> s = store->FindStudy(name);
    EXPECT_TRUE(s.ok()) << s.status();
    absl::StatusOr<StudyExport> e = ReadStudyExport(store, *s);
    EXPECT_TRUE(e.ok()) << e.status();
    return ExportToJson(*e);
  }

  std::string dir_;
  std::unique_ptr<tracker::TrialStore> source_, target_;
};

TEST_F(StudyExportTest, ExportHoldsEverything) {
  MakeStudy();
  const Json j = ExportOf(source_.get(), "demo");
  EXPECT_EQ(j["format"], "hpt.export/v1");
  EXPECT_EQ(j["study"]["seed"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(j["study"]["state"], "SUCCEEDED");
  EXPECT_EQ(j["study"]["annotations"], Json::parse(R"({"a/b":"c"})"));
  ASSERT_EQ(j["trials"].size(), 4u);
  const Json& done = j["trials"][0];
  EXPECT_EQ(done["params"], Json::parse(R"([{"name":"z","value":"1"},
                                            {"name":"a","value":"0.30000000000000004"}])"));
  EXPECT_EQ(done["attempt"], 3);
  EXPECT_EQ(done["objective"], 0.75);
  EXPECT_FALSE(done.contains("token_hash"));
  EXPECT_EQ(done["metrics"], Json::parse(R"([
      {"name":"acc","step":5,"value":0.25,"time_ms":1000},
      {"name":"loss","step":5,"value":1e-300,"time_ms":1000},
      {"name":"acc","step":3,"value":0.75,"time_ms":999},
      {"name":"acc","step":9,"value":-0.5,"time_ms":2000}])"));
  EXPECT_TRUE(j["trials"][1]["objective"].is_null());
  ASSERT_EQ(j["events"].size(), 3u);
  EXPECT_EQ(j["events"][0]["trial"], "demo-00001");
  EXPECT_TRUE(j["events"][1]["trial"].is_null());
  EXPECT_EQ(j["events"][2]["kind"], "TrialKilled");
}

TEST_F(StudyExportTest, RoundTripUnderTheSameName) {
  MakeStudy();
  const Json before = ExportOf(source_.get(), "demo");
  absl::StatusOr<StudyExport> parsed = ParseStudyExport(before.dump(2));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<StudyRecord> imported = ImportStudyExport(target_.get(), *parsed);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->name, "demo");
  EXPECT_EQ(imported->state, StudyState::kSucceeded);
  const Json after = ExportOf(target_.get(), "demo");
  EXPECT_EQ(after, before) << after.dump(2);  // times included
  // The running trial's start is stamped; the killed one never started.
  absl::StatusOr<TrialRecord> killed = target_->FindTrial("demo-00003");
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->started_ms, 0);
  EXPECT_GT(killed->finished_ms, 0);
  EXPECT_EQ(killed->token_hash, "");
}

// An export taken while the study ran imports stopped, so that no hptd takes the copy up.
TEST_F(StudyExportTest, ARunningStudyImportsStoppedWithItsUnfinishedTrialsKilled) {
  const StudyRecord s = MakeStudy();
  ASSERT_TRUE(source_->SetStudyState(s.id, StudyState::kRunning, "ExperimentRunning", "").ok());
  absl::StatusOr<StudyExport> e = ReadStudyExport(source_.get(), *source_->GetStudy(s.id));
  ASSERT_TRUE(e.ok()) << e.status();
  absl::StatusOr<StudyRecord> imported = ImportStudyExport(target_.get(), *e);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->state, StudyState::kFailed);
  EXPECT_EQ(imported->reason, "ImportedWhileRunning");
  EXPECT_GT(imported->finished_ms, 0);
  absl::StatusOr<std::vector<TrialRecord>> trials = target_->ListTrials(imported->id);
  ASSERT_TRUE(trials.ok());
  std::vector<std::string> states;
  for (const TrialRecord& t : *trials) {
    states.push_back(absl::StrCat(tracker::TrialStateName(t.state), " ", t.reason));
  }
  EXPECT_EQ(states, (std::vector<std::string>{"SUCCEEDED Done", "KILLED ImportedWhileRunning",
                                              "KILLED Stopped", "KILLED ImportedWhileRunning"}));
  EXPECT_EQ(trials->at(1).attempt, 1);  // its attempt is kept
  EXPECT_GT(trials->at(1).finished_ms, 0);
  absl::StatusOr<std::vector<tracker::Event>> events = target_->ListEvents(imported->id);
  ASSERT_TRUE(events.ok());
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->back().kind, "ImportedWhileRunning");
}

TEST_F(StudyExportTest, RenameRenamesTrialsAndEvents) {
  MakeStudy();
  absl::StatusOr<StudyExport> e = StudyExportFromJson(ExportOf(source_.get(), "demo"));
  ASSERT_TRUE(e.ok()) << e.status();
  e->trials[3].record.name = "odd";
  e->events[0].trial = "odd";
  ASSERT_TRUE(RenameStudyExport("copy", &*e).ok());
  EXPECT_EQ(e->study.name, "copy");
  EXPECT_EQ(e->trials[0].record.name, "copy-00001");
  EXPECT_EQ(e->trials[3].record.name, "copy-odd");
  EXPECT_EQ(e->events[0].trial, "copy-odd");
  EXPECT_EQ(e->events[1].trial, "");
  EXPECT_EQ(e->events[2].trial, "copy-00003");
  EXPECT_EQ(RenameStudyExport("", &*e).code(), absl::StatusCode::kInvalidArgument);
  // Into the same file, beside the original.
  absl::StatusOr<StudyRecord> copy = ImportStudyExport(source_.get(), *e);
  ASSERT_TRUE(copy.ok()) << copy.status();
  absl::StatusOr<std::vector<TrialRecord>> trials = source_->ListTrials(copy->id);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 4u);
  EXPECT_EQ((*trials)[3].name, "copy-odd");
  EXPECT_EQ((*trials)[3].reason, "Queued");
  EXPECT_EQ((*trials)[3].attempt, 0);
}

TEST_F(StudyExportTest, TakenNamesAreRefusedAndNothingIsLeftBehind) {
  MakeStudy();
  absl::StatusOr<StudyExport> e = StudyExportFromJson(ExportOf(source_.get(), "demo"));
  ASSERT_TRUE(e.ok());
  absl::StatusOr<StudyRecord> again = ImportStudyExport(source_.get(), *e);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(),
            "a study named \"demo\" already exists; import it under another name with --name "
            "NEW_NAME (which renames its trials too)");
  e->study.name = "fresh";  // its trials keep the taken names
  again = ImportStudyExport(source_.get(), *e);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(),
              HasSubstr("trial \"demo-00001\" (trials[0]) already exists in study \"demo\""));
  EXPECT_TRUE(absl::IsNotFound(source_->FindStudy("fresh").status()));
}

TEST_F(StudyExportTest, AFailureHalfwayRemovesThePartlyImportedStudy) {
  MakeStudy();
  absl::StatusOr<StudyExport> e = StudyExportFromJson(ExportOf(source_.get(), "demo"));
  ASSERT_TRUE(e.ok());
  e->trials[2].points.push_back({.name = "acc", .step = -1, .value = 1});  // the store refuses
  absl::StatusOr<StudyRecord> s = ImportStudyExport(target_.get(), *e);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("trials[2] (demo-00003): "));
  EXPECT_TRUE(absl::IsNotFound(target_->FindStudy("demo").status()));
  EXPECT_TRUE(absl::IsNotFound(target_->FindTrial("demo-00001").status()));
}

// A valid document to break one field at a time.
Json Valid() {
  return Json::parse(R"({
    "format": "hpt.export/v1",
    "study": {"name": "s", "objective_metric": "loss", "state": "SUCCEEDED",
              "annotations": {"k/x": "v"}},
    "trials": [
      {"name": "s-1", "params": [{"name": "x", "value": "1"}], "state": "SUCCEEDED",
       "objective": 0.5, "attempt": 1,
       "metrics": [{"name": "loss", "step": 0, "value": 0.5, "time_ms": 10}]},
      {"name": "s-2", "state": "PENDING"}
    ],
    "events": [{"trial": "s-1", "kind": "TrialCreated"}, {"trial": null, "kind": "Note"}]
  })");
}

TEST(ParseStudyExport, MinimalDocumentDefaults) {
  absl::StatusOr<StudyExport> e = StudyExportFromJson(Valid());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->study.name, "s");
  EXPECT_EQ(e->study.seed, 0u);
  EXPECT_FALSE(e->study.maximize);
  ASSERT_EQ(e->trials.size(), 2u);
  EXPECT_EQ(e->trials[1].record.state, TrialState::kPending);
  EXPECT_FALSE(e->trials[1].record.objective.has_value());
  EXPECT_TRUE(e->trials[1].points.empty());
  EXPECT_EQ(e->PointCount(), 1);
  ASSERT_EQ(e->events.size(), 2u);
  EXPECT_EQ(e->events[1].trial, "");
}

TEST(ParseStudyExport, NotJsonNamesLineAndColumn) {
  absl::StatusOr<StudyExport> e = ParseStudyExport("{\n  \"format\": \"hpt.export/v1\",\n  ]");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("not valid JSON: parse error at line 3, column 3"));
}

TEST(ParseStudyExport, FormatVersions) {
  Json j = Valid();
  j["format"] = "hpt.export/v2";
  EXPECT_EQ(StudyExportFromJson(j).status(),
            absl::UnimplementedError("format: \"hpt.export/v2\" is not supported by this hpt, "
                                     "which reads \"hpt.export/v1\" (a newer hpt may read it)"));
  j["format"] = "mlflow";
  EXPECT_EQ(StudyExportFromJson(j).status(),
            absl::InvalidArgumentError("format: \"mlflow\" is not an hpt export format (expected "
                                       "\"format\": \"hpt.export/v1\")"));
  j.erase("format");
  EXPECT_EQ(StudyExportFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(StudyExportFromJson(j).status().message(),
              HasSubstr("format: required field missing"));
  EXPECT_THAT(StudyExportFromJson(Json::array()).status().message(),
              HasSubstr("not an hpt export: the document is array"));
}

TEST(ParseStudyExport, EveryBadFieldIsNamedByItsPath) {
  struct Case {
    std::string json_pointer;  // where to put `value` (null: erase the field there)
    Json value;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/extra", 1, "extra: unknown field; allowed: format, study, trials, events"},
      {"/study", nullptr, "study: required field missing"},
      {"/study/name", 5, "study.name: expected a string, got number 5"},
      {"/study/name", "", "study.name: must not be empty"},
      {"/study/seed", -1, "study.seed: -1 is negative; allowed: 0 to 18446744073709551615"},
      {"/study/maximize", "yes", "study.maximize: expected true or false, got string \"yes\""},
      {"/study/state", "DONE",
       "study.state: \"DONE\" is not a state; allowed: CREATED, RUNNING, SUCCEEDED, FAILED"},
      {"/study/annotations/k~1x", 3, "study.annotations[\"k/x\"]: expected a string, got number 3"},
      {"/study/created_ms", 1.5, "study.created_ms: expected an integer, got number 1.5"},
      {"/trials", Json::object(), "trials: expected an array, got object"},
      {"/trials/1/name", nullptr, "trials[1].name: required field missing"},
      {"/trials/1/name", "s-1",
       "trials[1].name: \"s-1\" is also the name of trials[0]; trial names are unique"},
      {"/trials/0/nmae", "x",
       "trials[0].nmae: unknown field; allowed: name, params, seed, state, reason, message, "
       "objective, attempt, manifest, created_ms, started_ms, finished_ms, metrics"},
      {"/trials/0/params/1", Json::parse(R"({"name":"x","value":"2"})"),
       "trials[0].params[1].name: \"x\" is assigned twice (also trials[0].params[0])"},
      {"/trials/0/params/0/value", 1, "trials[0].params[0].value: expected a string, got number 1"},
      {"/trials/0/state", "done",
       "trials[0].state: \"done\" is not a state; allowed: PENDING, RUNNING, SUCCEEDED, FAILED, "
       "KILLED, EARLY_STOPPED, METRICS_UNAVAILABLE"},
      {"/trials/1/objective", 1.0,
       "trials[1].objective: a PENDING trial has no objective (only finished trials have one); "
       "use null"},
      {"/trials/0/objective", "0.5",
       "trials[0].objective: expected a number or null, got string \"0.5\""},
      {"/trials/0/attempt", 10001, "trials[0].attempt: 10001 is out of range; allowed: 0 to 10000"},
      {"/trials/1/state", "RUNNING",
       "trials[1].attempt: 0, but a RUNNING trial has started at least once"},
      {"/trials/0/metrics/0/value", "abc",
       "trials[0].metrics[0].value: expected a number, got string \"abc\""},
      {"/trials/0/metrics/0/value", nullptr, "trials[0].metrics[0].value: required field missing"},
      {"/trials/0/metrics/0/step", -1,
       "trials[0].metrics[0].step: -1 is out of range; allowed: 0 to 9223372036854775807"},
      {"/trials/0/metrics/0/time_ms", 18446744073709551615ull,
       "trials[0].metrics[0].time_ms: 18446744073709551615 is out of range; allowed: 0 to "
       "9223372036854775807"},
      {"/trials/0/metrics/0/name", std::string(257, 'm'),
       "trials[0].metrics[0].name: is 257 bytes long; at most 256 allowed"},
      {"/trials/0/metrics/1", "point",
       "trials[0].metrics[1]: expected an object, got string \"point\""},
      {"/events/0/trial", "s-9",
       "events[0].trial: no trial \"s-9\" in this export (null: a study event)"},
      {"/events/1/kind", "", "events[1].kind: must not be empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json_pointer);
    Json j = Valid();
    const Json::json_pointer ptr(c.json_pointer);
    if (c.value.is_null()) {
      j[ptr.parent_pointer()].erase(ptr.back());
    } else {
      j[ptr] = c.value;
    }
    EXPECT_EQ(StudyExportFromJson(j).status(), absl::InvalidArgumentError(c.message));
  }
}

}  // namespace
}  // namespace hpt::cli
