// Tests of the SQLite TrialStore against real files in a per-test temporary directory.
#include "tracker/trial_store.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tracker/sqlite_util.h"

namespace hpt::tracker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

#define HPT_CONCAT_INNER(a, b) a##b
#define HPT_CONCAT(a, b) HPT_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(HPT_CONCAT(status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.status();          \
  lhs = *std::move(tmp)
#define ASSERT_OK(expr)                   \
  do {                                    \
    const absl::Status status_ = (expr);  \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (0)

constexpr uint64_t kTopBitSeed = 0x8000000000000001ULL;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Raw SQLite access, to inspect and tamper with files behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  sqlite3* handle() { return db_; }
  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  // The first column of the first row as text ("" when there is none).
  std::string Query(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class TrialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "hpt_tracker_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << "mkdtemp " << tmpl;
    dir_ = tmpl;
    path_ = dir_ + "/hpt.db";
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  absl::StatusOr<std::unique_ptr<TrialStore>> OpenAt(const std::string& path,
                                                     const StoreOptions& options = {}) {
    return TrialStore::Open(options, path);
  }
  // (Re)opens the store at path_ into store_.
  void Reopen(const StoreOptions& options = {}) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<TrialStore>> s = TrialStore::Open(options, path_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  NewStudy StudyNamed(const std::string& name, bool maximize = false) {
    NewStudy s;
    s.name = name;
    s.objective_metric = "loss";
    s.algorithm = "random";
    s.maximize = maximize;
    return s;
  }
  // Creates a study and returns its id (0 after a failed assertion).
  int64_t MakeStudy(const std::string& name, bool maximize = false) {
    absl::StatusOr<StudyRecord> s = store_->CreateStudy(StudyNamed(name, maximize));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->id : 0;
  }
  int64_t MakeTrial(int64_t study_id, const std::string& name) {
    absl::StatusOr<TrialRecord> t = store_->CreateTrial(
        {.study_id = study_id, .name = name, .params = {{"lr", "0.1"}}, .seed = 7});
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->id : 0;
  }
  // AppendMetricsAsync of one "loss" point held to token hash `hash`; waits for its result.
  absl::StatusOr<AppendResult> AppendHeldTo(int64_t trial_id, uint64_t seq,
                                            const std::string& hash) {
    absl::Notification done;
    absl::StatusOr<AppendResult> result;
    store_->AppendMetricsAsync(trial_id, seq, {{.name = "loss", .value = 1}},
                               {.expect_token_hash = hash}, [&](absl::StatusOr<AppendResult> r) {
                                 result = std::move(r);
                                 done.Notify();
                               });
    done.WaitForNotification();
    return result;
  }
  std::vector<StoredPoint> History(int64_t trial_id, const std::string& name = "") {
    absl::StatusOr<std::vector<StoredPoint>> h = store_->MetricHistory(trial_id, name);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *h : std::vector<StoredPoint>{};
  }
  // (name, step, value) of each stored point, in order.
  std::vector<std::tuple<std::string, int64_t, double>> Triples(int64_t trial_id,
                                                                const std::string& name = "") {
    std::vector<std::tuple<std::string, int64_t, double>> out;
    for (const StoredPoint& p : History(trial_id, name)) out.emplace_back(p.name, p.step, p.value);
    return out;
  }

  void RunConcurrentAppends(const StoreOptions& options, int threads, int calls);

  std::string dir_, path_;
  std::unique_ptr<TrialStore> store_;
};

// ---- studies ----

TEST_F(TrialStoreTest, StudyRoundTripsEveryField) {
  Reopen();
  NewStudy in;
  in.name = "quickstart";
  in.project = "vision";
  in.experiment = "resnet-sweep";
  in.spec_yaml = "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n# ünïcode\n";
  in.spec_path = "/specs/quickstart.yaml";
  in.algorithm = "bayesianoptimization";
  in.objective_metric = "accuracy";
  in.maximize = true;
  in.seed = kTopBitSeed;
  in.annotations = {{"hpt.dev/project", "vision"}, {"owner", "ana"}, {"empty", ""}};
  ASSERT_OK_AND_ASSIGN(StudyRecord created, store_->CreateStudy(in));
  EXPECT_GT(created.id, 0);
  EXPECT_GT(created.created_ms, 0);
  EXPECT_EQ(created.finished_ms, 0);
  EXPECT_EQ(created.state, StudyState::kCreated);

  auto check = [&](const StudyRecord& r) {
    EXPECT_EQ(r.id, created.id);
    EXPECT_EQ(r.name, in.name);
    EXPECT_EQ(r.project, in.project);
    EXPECT_EQ(r.experiment, in.experiment);
    EXPECT_EQ(r.spec_yaml, in.spec_yaml);
    EXPECT_EQ(r.spec_path, in.spec_path);
    EXPECT_EQ(r.algorithm, in.algorithm);
    EXPECT_EQ(r.objective_metric, in.objective_metric);
    EXPECT_TRUE(r.maximize);
    EXPECT_EQ(r.seed, kTopBitSeed);
    EXPECT_EQ(r.annotations, in.annotations);
    EXPECT_EQ(r.state, StudyState::kCreated);
    EXPECT_EQ(r.reason, "");
    EXPECT_EQ(r.message, "");
    EXPECT_EQ(r.created_ms, created.created_ms);
    EXPECT_EQ(r.finished_ms, 0);
  };
  ASSERT_OK_AND_ASSIGN(StudyRecord got, store_->GetStudy(created.id));
  check(got);
  ASSERT_OK_AND_ASSIGN(StudyRecord found, store_->FindStudy("quickstart"));
  check(found);
  ASSERT_OK_AND_ASSIGN(std::vector<StudyRecord> all, store_->ListStudies());
  ASSERT_THAT(all, SizeIs(1));
  check(all[0]);
  // The raw column holds the same bit pattern.
  store_.reset();
  EXPECT_EQ(RawDb(path_).Query("SELECT seed FROM studies"),
            std::to_string(static_cast<int64_t>(kTopBitSeed)));
}

TEST_F(TrialStoreTest, StudyErrors) {
  Reopen();
  const int64_t id = MakeStudy("a");
  absl::StatusOr<StudyRecord> dup = store_->CreateStudy(StudyNamed("a"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Msg(dup.status()), HasSubstr("\"a\""));
  EXPECT_EQ(store_->CreateStudy(StudyNamed("")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetStudy(id + 100).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindStudy("b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetStudyState(id + 100, StudyState::kRunning, "", "").code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<StudyRecord> all, store_->ListStudies());
  EXPECT_THAT(all, SizeIs(1));
}

TEST_F(TrialStoreTest, ListStudiesOldestFirstWithOwnAnnotations) {
  Reopen();
  for (const char* name : {"zeta", "alpha", "mid"}) {
    NewStudy s = StudyNamed(name);
    s.annotations = {{"name", name}};
    ASSERT_TRUE(store_->CreateStudy(s).ok());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<StudyRecord> all, store_->ListStudies());
  ASSERT_THAT(all, SizeIs(3));
  EXPECT_EQ(all[0].name, "zeta");
  EXPECT_EQ(all[1].name, "alpha");
  EXPECT_EQ(all[2].name, "mid");
  for (const StudyRecord& s : all) {
    EXPECT_EQ(s.annotations, (std::map<std::string, std::string>{{"name", s.name}}));
  }
  EXPECT_LT(all[0].id, all[1].id);
  EXPECT_LT(all[1].id, all[2].id);
}

TEST_F(TrialStoreTest, SetStudyState) {
  Reopen();
  const int64_t id = MakeStudy("s");
  ASSERT_OK(store_->SetStudyState(id, StudyState::kRunning, "Started", "two trials"));
  ASSERT_OK_AND_ASSIGN(StudyRecord running, store_->GetStudy(id));
  EXPECT_EQ(running.state, StudyState::kRunning);
  EXPECT_EQ(running.reason, "Started");
  EXPECT_EQ(running.message, "two trials");
  EXPECT_EQ(running.finished_ms, 0);

  ASSERT_OK(store_->SetStudyState(id, StudyState::kSucceeded, "ExperimentGoalReached", "done"));
  ASSERT_OK_AND_ASSIGN(StudyRecord done, store_->GetStudy(id));
  EXPECT_EQ(done.state, StudyState::kSucceeded);
  EXPECT_EQ(done.reason, "ExperimentGoalReached");
  EXPECT_GE(done.finished_ms, done.created_ms);

  // A resumed study is unfinished again.
  ASSERT_OK(store_->SetStudyState(id, StudyState::kRunning, "Resumed", ""));
  ASSERT_OK_AND_ASSIGN(StudyRecord resumed, store_->GetStudy(id));
  EXPECT_EQ(resumed.finished_ms, 0);
}

TEST_F(TrialStoreTest, StudyStateNames) {
  for (StudyState s :
       {StudyState::kCreated, StudyState::kRunning, StudyState::kSucceeded, StudyState::kFailed}) {
    ASSERT_OK_AND_ASSIGN(StudyState parsed, ParseStudyState(StudyStateName(s)));
    EXPECT_EQ(parsed, s);
  }
  EXPECT_EQ(ParseStudyState("created").status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- trials ----

TEST_F(TrialStoreTest, TrialRoundTripsEveryField) {
  Reopen();
  const int64_t study = MakeStudy("s");
  NewTrial in{.study_id = study,
              .name = "s-00001",
              .params = {{"lr", "0.01"}, {"batch", "64"}, {"alpha", "relu"}},
              .seed = ~0ULL,
              .manifest = "{\"kind\": \"Job\"}",
              .token_hash = std::string(64, 'a')};
  ASSERT_OK_AND_ASSIGN(TrialRecord created, store_->CreateTrial(in));
  auto check = [&](const TrialRecord& r) {
    EXPECT_EQ(r.id, created.id);
    EXPECT_EQ(r.study_id, study);
    EXPECT_EQ(r.name, "s-00001");
    EXPECT_EQ(r.state, TrialState::kPending);
    EXPECT_EQ(r.reason, "");
    EXPECT_EQ(r.message, "");
    EXPECT_EQ(r.objective, std::nullopt);
    EXPECT_EQ(r.params, in.params);  // order kept, not sorted
    EXPECT_EQ(r.seed, ~0ULL);
    EXPECT_EQ(r.manifest, in.manifest);
    EXPECT_EQ(r.token_hash, in.token_hash);
    EXPECT_EQ(r.attempt, 0);
    EXPECT_EQ(r.created_ms, created.created_ms);
    EXPECT_EQ(r.started_ms, 0);
    EXPECT_EQ(r.finished_ms, 0);
  };
  check(created);
  ASSERT_OK_AND_ASSIGN(TrialRecord got, store_->GetTrial(created.id));
  check(got);
  ASSERT_OK_AND_ASSIGN(TrialRecord found, store_->FindTrial("s-00001"));
  check(found);
  ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> listed, store_->ListTrials(study));
  ASSERT_THAT(listed, SizeIs(1));
  check(listed[0]);
}

TEST_F(TrialStoreTest, ListTrialsInCreationOrderWithOwnParams) {
  Reopen();
  const int64_t a = MakeStudy("a");
  const int64_t b = MakeStudy("b");
  // More than the per-trial params threshold, so the study-wide query is used too.
  for (int i = 0; i < 40; ++i) {
    std::vector<std::pair<std::string, std::string>> params;
    for (int k = 0; k <= i % 3; ++k) {
      params.emplace_back("p" + std::to_string(2 - k), std::to_string(i * 10 + k));
    }
    ASSERT_TRUE(store_
                    ->CreateTrial({.study_id = (i % 4 == 3) ? b : a,
                                   .name = "t" + std::to_string(39 - i),
                                   .params = params})
                    .ok());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> in_a, store_->ListTrials(a));
  ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> in_b, store_->ListTrials(b));
  EXPECT_THAT(in_a, SizeIs(30));
  EXPECT_THAT(in_b, SizeIs(10));
  for (const auto* list : {&in_a, &in_b}) {
    for (size_t j = 0; j < list->size(); ++j) {
      const TrialRecord& t = (*list)[j];
      if (j > 0) {
        EXPECT_LT((*list)[j - 1].id, t.id);
      }
      const int i = 39 - std::stoi(t.name.substr(1));
      std::vector<std::pair<std::string, std::string>> want;
      for (int k = 0; k <= i % 3; ++k) {
        want.emplace_back("p" + std::to_string(2 - k), std::to_string(i * 10 + k));
      }
      EXPECT_EQ(t.params, want) << t.name;
    }
  }
  // A few trials take the per-trial path.
  const int64_t c = MakeStudy("c");
  MakeTrial(c, "c1");
  ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> in_c, store_->ListTrials(c));
  ASSERT_THAT(in_c, SizeIs(1));
  EXPECT_EQ(in_c[0].params, (std::vector<std::pair<std::string, std::string>>{{"lr", "0.1"}}));
}

TEST_F(TrialStoreTest, TrialErrors) {
  Reopen();
  const int64_t study = MakeStudy("s");
  MakeTrial(study, "t1");
  absl::StatusOr<TrialRecord> dup = store_->CreateTrial({.study_id = study, .name = "t1"});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Msg(dup.status()), HasSubstr("\"t1\""));
  absl::StatusOr<TrialRecord> orphan = store_->CreateTrial({.study_id = study + 50, .name = "t2"});
  EXPECT_EQ(orphan.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(orphan.status()), HasSubstr("t2"));
  EXPECT_EQ(store_->CreateTrial({.study_id = study, .name = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->CreateTrial({.study_id = study, .name = "t3", .params = {{"x", "1"}, {"x", "2"}}})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->CreateTrial({.study_id = study, .name = "t4", .params = {{"", "1"}}}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetTrial(9999).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindTrial("t3").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListTrials(study + 50).status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> all, store_->ListTrials(study));
  EXPECT_THAT(all, SizeIs(1));
}

TEST_F(TrialStoreTest, TrialStateMachine) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t id = MakeTrial(study, "t");

  ASSERT_OK(store_->SetTrialState(id, TrialState::kRunning, "JobRunning", "pod up"));
  ASSERT_OK_AND_ASSIGN(TrialRecord running, store_->GetTrial(id));
  EXPECT_EQ(running.state, TrialState::kRunning);
  EXPECT_EQ(running.reason, "JobRunning");
  EXPECT_EQ(running.message, "pod up");
  EXPECT_EQ(running.attempt, 1);
  EXPECT_GE(running.started_ms, running.created_ms);
  EXPECT_EQ(running.finished_ms, 0);

  // Running -> Running updates the message only.
  ASSERT_OK(store_->SetTrialState(id, TrialState::kRunning, "JobRunning", "epoch 3"));
  ASSERT_OK_AND_ASSIGN(TrialRecord still, store_->GetTrial(id));
  EXPECT_EQ(still.attempt, 1);
  EXPECT_EQ(still.message, "epoch 3");
  EXPECT_EQ(still.started_ms, running.started_ms);

  // An objective needs a terminal state and a finite value; nothing changes on refusal.
  EXPECT_EQ(store_->SetTrialState(id, TrialState::kRunning, "", "", 0.5).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetTrialState(id, TrialState::kSucceeded, "", "", std::nan("")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_
                ->SetTrialState(id, TrialState::kSucceeded, "", "",
                                std::numeric_limits<double>::infinity())
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(TrialRecord unchanged, store_->GetTrial(id));
  EXPECT_EQ(unchanged.state, TrialState::kRunning);

  ASSERT_OK(store_->SetTrialState(id, TrialState::kSucceeded, "JobSucceeded", "ok", -0.25));
  ASSERT_OK_AND_ASSIGN(TrialRecord done, store_->GetTrial(id));
  EXPECT_EQ(done.state, TrialState::kSucceeded);
  EXPECT_EQ(done.objective, std::optional<double>(-0.25));
  EXPECT_GE(done.finished_ms, done.started_ms);
  EXPECT_EQ(done.started_ms, running.started_ms);

  for (TrialState next :
       {TrialState::kRunning, TrialState::kPending, TrialState::kFailed, TrialState::kSucceeded}) {
    absl::Status s = store_->SetTrialState(id, next, "", "");
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << TrialStateName(next);
    EXPECT_THAT(Msg(s), HasSubstr("\"t\""));
    EXPECT_THAT(Msg(s), HasSubstr("SUCCEEDED"));
  }
  ASSERT_OK_AND_ASSIGN(TrialRecord final_rec, store_->GetTrial(id));
  EXPECT_EQ(final_rec.state, TrialState::kSucceeded);
  EXPECT_EQ(final_rec.reason, "JobSucceeded");
  EXPECT_EQ(final_rec.objective, std::optional<double>(-0.25));
  EXPECT_EQ(final_rec.finished_ms, done.finished_ms);

  EXPECT_EQ(store_->SetTrialState(id + 100, TrialState::kRunning, "", "").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TrialStoreTest, TrialRequeueAndDirectKill) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t a = MakeTrial(study, "a");
  ASSERT_OK(store_->SetTrialState(a, TrialState::kRunning, "", ""));
  ASSERT_OK_AND_ASSIGN(TrialRecord first, store_->GetTrial(a));
  ASSERT_OK(store_->SetTrialState(a, TrialState::kPending, "RunnerLost", "node gone"));
  ASSERT_OK(store_->SetTrialState(a, TrialState::kRunning, "", ""));
  ASSERT_OK_AND_ASSIGN(TrialRecord second, store_->GetTrial(a));
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.started_ms, first.started_ms);
  ASSERT_OK(store_->SetTrialState(a, TrialState::kFailed, "JobFailed", "exit 1"));
  ASSERT_OK_AND_ASSIGN(TrialRecord failed, store_->GetTrial(a));
  EXPECT_EQ(failed.objective, std::nullopt);
  EXPECT_GT(failed.finished_ms, 0);

  const int64_t b = MakeTrial(study, "b");
  ASSERT_OK(store_->SetTrialState(b, TrialState::kKilled, "StudyStopped", ""));
  ASSERT_OK_AND_ASSIGN(TrialRecord killed, store_->GetTrial(b));
  EXPECT_EQ(killed.state, TrialState::kKilled);
  EXPECT_EQ(killed.attempt, 0);
  EXPECT_EQ(killed.started_ms, 0);
  EXPECT_GT(killed.finished_ms, 0);
  EXPECT_EQ(store_->SetTrialState(b, TrialState::kRunning, "", "").code(),
            absl::StatusCode::kFailedPrecondition);
}

// ---- metrics ----

TEST_F(TrialStoreTest, AppendMetricsExplicitAndAutoSteps) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  ASSERT_OK_AND_ASSIGN(AppendResult r1,
                       store_->AppendMetrics(t, 0,
                                             {{.name = "loss", .value = 0.9},
                                              {.name = "acc", .step = 10, .value = 0.1},
                                              {.name = "loss", .value = 0.8}}));
  EXPECT_EQ(r1.stored, 3);
  EXPECT_FALSE(r1.duplicate);
  ASSERT_OK(store_->AppendMetrics(t, 0, {{.name = "loss", .step = 7, .value = 0.7}}).status());
  ASSERT_OK(store_
                ->AppendMetrics(t, 0,
                                {{.name = "loss", .value = 0.6},
                                 {.name = "acc", .value = 0.2},
                                 {.name = "loss", .step = 3, .value = 0.5},
                                 {.name = "loss", .value = 0.4}})
                .status());
  using T = std::tuple<std::string, int64_t, double>;
  EXPECT_THAT(Triples(t), ElementsAre(T{"loss", 0, 0.9}, T{"acc", 10, 0.1}, T{"loss", 1, 0.8},
                                      T{"loss", 7, 0.7}, T{"loss", 8, 0.6}, T{"acc", 11, 0.2},
                                      T{"loss", 3, 0.5}, T{"loss", 9, 0.4}));
  EXPECT_THAT(Triples(t, "acc"), ElementsAre(T{"acc", 10, 0.1}, T{"acc", 11, 0.2}));
  EXPECT_THAT(Triples(t, "never"), IsEmpty());

  // After a reopen the next step comes from the file: max(step) + 1.
  Reopen();
  ASSERT_OK(store_
                ->AppendMetrics(t, 0,
                                {{.name = "loss", .value = 0.3},
                                 {.name = "acc", .value = 0.3},
                                 {.name = "new", .value = 1}})
                .status());
  EXPECT_THAT(Triples(t, "loss").back(), (T{"loss", 10, 0.3}));
  EXPECT_THAT(Triples(t, "acc").back(), (T{"acc", 12, 0.3}));
  EXPECT_THAT(Triples(t, "new"), ElementsAre(T{"new", 0, 1}));
  // Explicit steps seen before an auto step on a cold cache.
  Reopen();
  ASSERT_OK(
      store_
          ->AppendMetrics(
              t, 0, {{.name = "acc", .step = 40, .value = 0.5}, {.name = "acc", .value = 0.6}})
          .status());
  EXPECT_THAT(Triples(t, "acc").back(), (T{"acc", 41, 0.6}));
}

TEST_F(TrialStoreTest, AppendMetricsTimes) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  ASSERT_OK(store_
                ->AppendMetrics(
                    t, 0, {{.name = "m", .value = 1, .time_ms = 1234}, {.name = "m", .value = 2}})
                .status());
  std::vector<StoredPoint> h = History(t);
  ASSERT_THAT(h, SizeIs(2));
  EXPECT_EQ(h[0].time_ms, 1234);
  ASSERT_OK_AND_ASSIGN(TrialRecord rec, store_->GetTrial(t));
  EXPECT_GE(h[1].time_ms, rec.created_ms);  // 0 means now
}

TEST_F(TrialStoreTest, SeqReplayIsIdempotentAcrossReopen) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t t = MakeTrial(study, "t");
  const int64_t other = MakeTrial(study, "other");
  const std::vector<MetricPoint> pts = {{.name = "loss", .value = 1}, {.name = "loss", .value = 2}};
  ASSERT_OK_AND_ASSIGN(AppendResult first, store_->AppendMetrics(t, 1, pts));
  EXPECT_EQ(first.stored, 2);
  EXPECT_FALSE(first.duplicate);
  ASSERT_OK_AND_ASSIGN(AppendResult replay, store_->AppendMetrics(t, 1, pts));
  EXPECT_EQ(replay.stored, 0);
  EXPECT_TRUE(replay.duplicate);
  // Seqs are per trial.
  ASSERT_OK_AND_ASSIGN(AppendResult other_trial, store_->AppendMetrics(other, 1, pts));
  EXPECT_FALSE(other_trial.duplicate);
  // The top bit of a seq is kept.
  const uint64_t big = ~0ULL - 5;
  ASSERT_OK_AND_ASSIGN(AppendResult b1, store_->AppendMetrics(t, big, {{.name = "x", .value = 3}}));
  EXPECT_FALSE(b1.duplicate);
  // An empty report with a seq records the seq.
  ASSERT_OK_AND_ASSIGN(AppendResult empty, store_->AppendMetrics(t, 5, {}));
  EXPECT_EQ(empty.stored, 0);
  EXPECT_FALSE(empty.duplicate);
  EXPECT_THAT(History(t), SizeIs(3));

  Reopen();
  for (uint64_t seq : {uint64_t{1}, big, uint64_t{5}}) {
    ASSERT_OK_AND_ASSIGN(AppendResult again, store_->AppendMetrics(t, seq, pts));
    EXPECT_TRUE(again.duplicate) << seq;
    EXPECT_EQ(again.stored, 0);
  }
  ASSERT_OK_AND_ASSIGN(AppendResult fresh, store_->AppendMetrics(t, 2, pts));
  EXPECT_EQ(fresh.stored, 2);
  EXPECT_FALSE(fresh.duplicate);
  // Seq 0 never deduplicates.
  ASSERT_OK(store_->AppendMetrics(t, 0, pts).status());
  ASSERT_OK(store_->AppendMetrics(t, 0, pts).status());
  EXPECT_THAT(History(t), SizeIs(9));
  EXPECT_THAT(History(other), SizeIs(2));
}

TEST_F(TrialStoreTest, BadPointsAreRefusedWholeAndStoreNothing) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<MetricPoint> bad[] = {
      {{.name = "ok", .value = 1}, {.name = "loss", .value = std::nan("")}},
      {{.name = "ok", .value = 1}, {.name = "loss", .value = inf}},
      {{.name = "loss", .value = -inf}},
      {{.name = "ok", .value = 1}, {.name = "", .value = 1}},
      {{.name = std::string(kMaxMetricNameBytes + 1, 'n'), .value = 1}},
      {{.name = "loss", .step = -1, .value = 1}},
      {{.name = "loss", .value = 1, .time_ms = -5}},
  };
  for (const std::vector<MetricPoint>& points : bad) {
    absl::StatusOr<AppendResult> r = store_->AppendMetrics(t, 1, points);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << points.back().name;
  }
  EXPECT_THAT(History(t), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> none, store_->Summaries(t));
  EXPECT_THAT(none, IsEmpty());
  absl::Status nan_status = store_->AppendMetrics(t, 0, bad[0]).status();
  EXPECT_THAT(Msg(nan_status), HasSubstr("loss"));
  EXPECT_THAT(Msg(nan_status), HasSubstr("finite"));
  // The refused calls did not consume seq 1, and a 256-byte name is fine.
  const std::string longest(kMaxMetricNameBytes, 'n');
  ASSERT_OK_AND_ASSIGN(AppendResult r,
                       store_->AppendMetrics(t, 1, {{.name = longest, .value = 1}}));
  EXPECT_EQ(r.stored, 1);
  EXPECT_FALSE(r.duplicate);
}

TEST_F(TrialStoreTest, UnknownTrialIsNotFound) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  const int64_t missing = t + 1000;
  absl::StatusOr<AppendResult> r = store_->AppendMetrics(missing, 1, {{.name = "m", .value = 1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(r.status()), HasSubstr(std::to_string(missing)));
  EXPECT_EQ(store_->AppendMetrics(missing, 0, {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->MetricHistory(missing, "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Summaries(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteMetrics(missing).code(), absl::StatusCode::kNotFound);
  store_.reset();
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM report_seqs"), "0");
}

TEST_F(TrialStoreTest, Summaries) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  ASSERT_OK(store_
                ->AppendMetrics(t, 0,
                                {{.name = "loss", .value = 3},
                                 {.name = "loss", .value = 1},
                                 {.name = "acc", .step = 5, .value = 0.5},
                                 {.name = "loss", .value = 2}})
                .status());
  // The latest is the last stored point, even with a smaller step.
  ASSERT_OK(store_->AppendMetrics(t, 0, {{.name = "acc", .step = 2, .value = 0.25}}).status());
  ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> sums, store_->Summaries(t));
  ASSERT_THAT(sums, SizeIs(2));
  EXPECT_EQ(sums[0].name, "acc");
  EXPECT_EQ(sums[0].min, 0.25);
  EXPECT_EQ(sums[0].max, 0.5);
  EXPECT_EQ(sums[0].latest, 0.25);
  EXPECT_EQ(sums[0].count, 2);
  EXPECT_EQ(sums[0].last_step, 2);
  EXPECT_EQ(sums[1].name, "loss");
  EXPECT_EQ(sums[1].min, 1);
  EXPECT_EQ(sums[1].max, 3);
  EXPECT_EQ(sums[1].latest, 2);
  EXPECT_EQ(sums[1].count, 3);
  EXPECT_EQ(sums[1].last_step, 2);
  // Another trial's points do not leak in.
  const int64_t u = MakeTrial(MakeStudy("s2"), "u");
  ASSERT_OK(store_->AppendMetrics(u, 0, {{.name = "loss", .value = -100}}).status());
  ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> again, store_->Summaries(t));
  EXPECT_EQ(again[1].min, 1);
  EXPECT_EQ(again[1].count, 3);
}

// The summaries the writer keeps equal those computed from the points, whatever the mix of
// batches, explicit and automatic steps, replays, refused batches and deletions.
TEST_F(TrialStoreTest, SummariesAlwaysMatchThePoints) {
  Reopen({.max_batch_points = 64});
  const int64_t study = MakeStudy("s");
  std::vector<int64_t> trials;
  for (int i = 0; i < 4; ++i) trials.push_back(MakeTrial(study, "t" + std::to_string(i)));
  std::mt19937 rng(7);
  const std::vector<std::string> names = {"loss", "acc", "lr"};
  uint64_t seq = 0;
  for (int round = 0; round < 300; ++round) {
    const int64_t t = trials[rng() % trials.size()];
    std::vector<MetricPoint> points;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      MetricPoint p{.name = names[rng() % names.size()],
                    .value = std::uniform_real_distribution<double>(-5, 5)(rng)};
      if (rng() % 2 == 0) p.step = static_cast<int64_t>(rng() % 50);
      points.push_back(p);
    }
    if (round % 37 == 5) points.push_back({.name = "bad", .value = std::nan("")});  // refused
    const uint64_t s = round % 11 == 3 && seq > 0 ? seq : ++seq;                    // a replay
    store_->AppendMetrics(t, s, points).IgnoreError();
    if (round == 150) ASSERT_OK(store_->DeleteMetrics(trials[0]));
  }
  for (int64_t t : trials) {
    std::map<std::string, MetricSummary> want;
    for (const StoredPoint& p : History(t)) {
      MetricSummary& m = want[p.name];
      m.name = p.name;
      m.min = m.count == 0 ? p.value : std::min(m.min, p.value);
      m.max = m.count == 0 ? p.value : std::max(m.max, p.value);
      m.latest = p.value;
      m.last_step = p.step;
      ++m.count;
    }
    ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> got, store_->Summaries(t));
    ASSERT_EQ(got.size(), want.size()) << "trial " << t;
    for (const MetricSummary& g : got) {
      const MetricSummary& w = want[g.name];
      EXPECT_EQ(g.count, w.count) << g.name;
      EXPECT_EQ(g.min, w.min) << g.name;
      EXPECT_EQ(g.max, w.max) << g.name;
      EXPECT_EQ(g.latest, w.latest) << g.name;
      EXPECT_EQ(g.last_step, w.last_step) << g.name;
    }
  }
}

// hpt import restores a record's own times over those the store stamped.
TEST_F(TrialStoreTest, RestoredTimesAndEventsAtAGivenTime) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t t = MakeTrial(study, "t");
  ASSERT_OK(store_->SetTrialState(t, TrialState::kRunning, "", ""));
  ASSERT_OK(store_->SetTrialState(t, TrialState::kSucceeded, "", ""));
  ASSERT_OK(store_->RestoreTrialTimes(t, 1000, 2000, 3000));
  ASSERT_OK(store_->RestoreStudyTimes(study, 500, 0));
  ASSERT_OK_AND_ASSIGN(TrialRecord tr, store_->GetTrial(t));
  EXPECT_EQ(tr.created_ms, 1000);
  EXPECT_EQ(tr.started_ms, 2000);
  EXPECT_EQ(tr.finished_ms, 3000);
  ASSERT_OK_AND_ASSIGN(StudyRecord sr, store_->GetStudy(study));
  EXPECT_EQ(sr.created_ms, 500);
  EXPECT_EQ(sr.finished_ms, 0);
  ASSERT_OK(store_->AddEventAt(study, t, "TrialSucceeded", "done", 2500));
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, store_->ListEvents(study));
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].time_ms, 2500);

  EXPECT_EQ(store_->RestoreTrialTimes(t, -1, 0, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RestoreTrialTimes(t + 99, 1, 1, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RestoreStudyTimes(study + 99, 1, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddEventAt(study, t, "X", "", 0).code(), absl::StatusCode::kInvalidArgument);
}

// Filters run on the store's own tables: the summaries the writer keeps, params, states.
TEST_F(TrialStoreTest, FindTrialsByFilterAcrossStudies) {
  Reopen();
  const int64_t a = MakeStudy("a");
  const int64_t b = MakeStudy("b", /*maximize=*/true);
  auto trial = [&](int64_t study, const std::string& name, const std::string& optimizer,
                   std::vector<double> losses) {
    absl::StatusOr<TrialRecord> t = store_->CreateTrial(
        {.study_id = study, .name = name, .params = {{"optimizer", optimizer}, {"lr", "0.01"}}});
    EXPECT_TRUE(t.ok()) << t.status();
    std::vector<MetricPoint> points;
    for (double v : losses) points.push_back({.name = "loss", .value = v});
    EXPECT_TRUE(store_->AppendMetrics(t->id, 0, points).ok());
    return t->id;
  };
  trial(a, "a-1", "adam", {0.9, 0.2, 0.5});  // study a minimizes loss: best 0.2
  const int64_t a2 = trial(a, "a-2", "sgd", {0.4});
  trial(b, "b-1", "adam", {0.1, 0.3});  // study b maximizes: best 0.3
  ASSERT_OK(store_->SetTrialState(a2, TrialState::kRunning, "", ""));
  ASSERT_OK(store_->SetTrialState(a2, TrialState::kSucceeded, "", ""));
  auto names = [&](const std::string& filter, int64_t study = 0, int limit = 0) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<TrialRecord>> found = store_->FindTrials(filter, study, limit);
    EXPECT_TRUE(found.ok()) << found.status();
    if (found.ok()) {
      for (const TrialRecord& t : *found) out.push_back(t.name);
    }
    return out;
  };
  EXPECT_THAT(names(""), ElementsAre("a-1", "a-2", "b-1"));
  EXPECT_THAT(names("metrics.loss <= 0.3"), ElementsAre("a-1", "b-1"));
  EXPECT_THAT(names("last(metrics.loss) > 0.45"), ElementsAre("a-1"));
  EXPECT_THAT(names("params.optimizer = 'adam' and params.lr < 0.1"), ElementsAre("a-1", "b-1"));
  EXPECT_THAT(names("state = 'succeeded' or study = 'b'"), ElementsAre("a-2", "b-1"));
  EXPECT_THAT(names("count(metrics.loss) >= 2", a), ElementsAre("a-1"));
  EXPECT_THAT(names("", 0, 2), ElementsAre("a-1", "a-2"));
  // The trial's params come with it.
  absl::StatusOr<std::vector<TrialRecord>> one = store_->FindTrials("trial = 'b-1'", 0, 0);
  ASSERT_OK(one.status());
  ASSERT_THAT(*one, SizeIs(1));
  EXPECT_EQ(one->front().params[0], (std::pair<std::string, std::string>("optimizer", "adam")));

  absl::StatusOr<std::vector<TrialRecord>> bad = store_->FindTrials("metrics.loss >= ", 0, 0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(bad.status()), HasSubstr("column 17"));
  EXPECT_EQ(store_->FindTrials("", 999, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindTrials("", 0, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

// A leaderboard across studies, grouped by (project, experiment), against a brute-force ranking
// of random trials: every strategy, both orders, top-k, filters.
TEST_F(TrialStoreTest, RankTrialsAgainstBruteForce) {
  Reopen();
  std::mt19937_64 rng(20261122);
  struct Truth {
    int64_t id;
    std::string name, study, project, experiment;
    std::vector<std::pair<int64_t, double>> acc;  // (step, value)
    std::optional<double> objective;
    bool study_maximizes;
  };
  std::vector<Truth> truth;
  const std::vector<std::pair<std::string, std::string>> groups = {
      {"fraud", "prod"}, {"fraud", "dev"}, {"", ""}};
  int n = 0;
  for (int si = 0; si < 6; ++si) {
    NewStudy ns = StudyNamed("s" + std::to_string(si), /*maximize=*/true);
    ns.objective_metric = "acc";
    ns.project = groups[si % 3].first;
    ns.experiment = groups[si % 3].second;
    ASSERT_OK_AND_ASSIGN(StudyRecord study, store_->CreateStudy(ns));
    for (int ti = 0; ti < 25; ++ti) {
      Truth t{.name = "t" + std::to_string(n++),
              .study = study.name,
              .project = ns.project,
              .experiment = ns.experiment,
              .study_maximizes = true};
      ASSERT_OK_AND_ASSIGN(
          TrialRecord rec,
          store_->CreateTrial({.study_id = study.id, .name = t.name, .params = {{"lr", "0.1"}}}));
      t.id = rec.id;
      const int points = static_cast<int>(rng() % 6);  // some trials never report
      std::vector<MetricPoint> batch;
      for (int k = 0; k < points; ++k) {
        // Few distinct values, so that ties (broken by creation order) happen.
        const double v = static_cast<double>(rng() % 8) / 8;
        const int64_t step = k * 10;
        batch.push_back({.name = "acc", .step = step, .value = v});
        t.acc.push_back({step, v});
      }
      if (!batch.empty()) ASSERT_OK(store_->AppendMetrics(rec.id, 0, batch).status());
      ASSERT_OK(store_->SetTrialState(rec.id, TrialState::kRunning, "", ""));
      if (!t.acc.empty() && rng() % 4 != 0) {
        double best = t.acc[0].second;
        for (const auto& [step, v] : t.acc) best = std::max(best, v);
        t.objective = best;
      }
      ASSERT_OK(store_->SetTrialState(rec.id, TrialState::kSucceeded, "", "", t.objective));
      truth.push_back(t);
    }
  }
  auto value_of = [](const Truth& t, RankStrategy strategy, bool desc,
                     int64_t step) -> std::optional<double> {
    if (strategy == RankStrategy::kObjective) return t.objective;
    std::optional<double> out;
    for (const auto& [s, v] : t.acc) {
      switch (strategy) {
        case RankStrategy::kMin:
          out = out ? std::min(*out, v) : v;
          break;
        case RankStrategy::kMax:
          out = out ? std::max(*out, v) : v;
          break;
        case RankStrategy::kLatest:
          out = v;
          break;
        case RankStrategy::kBestAtStep:
          if (s <= step) out = out ? (desc ? std::max(*out, v) : std::min(*out, v)) : v;
          break;
        case RankStrategy::kObjective:
          break;
      }
    }
    return out;
  };
  int checked = 0;
  for (RankStrategy strategy : {RankStrategy::kObjective, RankStrategy::kMin, RankStrategy::kMax,
                                RankStrategy::kLatest, RankStrategy::kBestAtStep}) {
    for (int order = 0; order < 3; ++order) {  // unset, descending, ascending
      if (order == 0 && strategy != RankStrategy::kObjective) continue;
      for (int limit : {0, 1, 4}) {
        for (const std::string& filter : {std::string(""), std::string("study != 's1'")}) {
          RankQuery q{.filter = filter,
                      .metric = "acc",
                      .strategy = strategy,
                      .step = 20,
                      .limit_per_group = limit};
          if (order > 0) q.descending = order == 1;
          const bool desc = q.descending.value_or(true);
          std::vector<std::tuple<std::string, std::string, double, int64_t, std::string>> want;
          for (const Truth& t : truth) {
            if (!filter.empty() && t.study == "s1") continue;
            std::optional<double> v = value_of(t, strategy, desc, q.step);
            if (!v) continue;
            want.emplace_back(t.project, t.experiment, desc ? -*v : *v, t.id, t.name);
          }
          std::sort(want.begin(), want.end());
          std::vector<std::string> want_rows;
          std::map<std::pair<std::string, std::string>, int> seen;
          for (const auto& [p, e, key, id, name] : want) {
            const int rank = ++seen[{p, e}];
            if (limit > 0 && rank > limit) continue;
            want_rows.push_back(
                absl::StrCat(p, "/", e, " #", rank, " ", name, " ", desc ? -key : key));
          }
          ASSERT_OK_AND_ASSIGN(std::vector<RankedTrial> got, store_->RankTrials(q));
          std::vector<std::string> got_rows;
          for (const RankedTrial& r : got) {
            got_rows.push_back(absl::StrCat(r.project, "/", r.experiment, " #", r.rank, " ",
                                            r.trial.name, " ", r.value));
          }
          ASSERT_EQ(got_rows, want_rows) << RankStrategyName(strategy) << " order " << order
                                         << " limit " << limit << " filter " << filter;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 66);  // objective: 3 orders x 3 limits x 2 filters; the rest: 4 x 2 x 3 x 2
}

TEST_F(TrialStoreTest, RankTrialsScopesParamsAndErrors) {
  Reopen();
  NewStudy a = StudyNamed("a", /*maximize=*/true);
  a.objective_metric = "acc";
  a.project = "fraud";
  ASSERT_OK_AND_ASSIGN(StudyRecord sa, store_->CreateStudy(a));
  NewStudy b = StudyNamed("b");  // minimizes loss, same project and experiment
  b.project = "fraud";
  ASSERT_OK_AND_ASSIGN(StudyRecord sb, store_->CreateStudy(b));
  NewStudy c = StudyNamed("c");
  c.project = "ads";
  ASSERT_OK_AND_ASSIGN(StudyRecord sc, store_->CreateStudy(c));
  auto finished = [&](int64_t study, const std::string& name, double objective) {
    absl::StatusOr<TrialRecord> t = store_->CreateTrial(
        {.study_id = study, .name = name, .params = {{"optimizer", "adam"}, {"lr", "0.5"}}});
    EXPECT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(store_->SetTrialState(t->id, TrialState::kRunning, "", "").ok());
    EXPECT_TRUE(store_->SetTrialState(t->id, TrialState::kSucceeded, "", "", objective).ok());
  };
  finished(sa.id, "a-1", 0.7);
  finished(sb.id, "b-1", 0.2);
  finished(sc.id, "c-1", 0.4);
  finished(sc.id, "c-2", 0.3);

  // Project fraud mixes "max acc" and "min loss": ranking by "objective" means nothing there.
  absl::StatusOr<std::vector<RankedTrial>> mixed = store_->RankTrials({});
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(mixed.status()),
            "the studies of project \"fraud\", experiment \"\" rank different objectives: a (max "
            "acc),b (min loss); rank by one metric and order instead, or narrow the studies");
  // One study, or one project, ranks fine; each study's own direction applies.
  ASSERT_OK_AND_ASSIGN(std::vector<RankedTrial> ads, store_->RankTrials({.project = "ads"}));
  ASSERT_THAT(ads, SizeIs(2));
  EXPECT_EQ(ads[0].trial.name, "c-2");
  EXPECT_EQ(ads[0].study, "c");
  EXPECT_EQ(ads[0].project, "ads");
  EXPECT_EQ(ads[0].rank, 1);
  EXPECT_EQ(ads[1].rank, 2);
  EXPECT_EQ(ads[0].trial.params[0], (std::pair<std::string, std::string>("optimizer", "adam")));
  ASSERT_OK_AND_ASSIGN(std::vector<RankedTrial> one, store_->RankTrials({.study_id = sa.id}));
  ASSERT_THAT(one, SizeIs(1));
  EXPECT_EQ(one[0].value, 0.7);
  // The filter narrows the studies before the check.
  ASSERT_OK_AND_ASSIGN(std::vector<RankedTrial> narrowed,
                       store_->RankTrials({.filter = "study != 'b'"}));
  EXPECT_THAT(narrowed, SizeIs(3));
  // With an order given, any mix ranks.
  ASSERT_OK_AND_ASSIGN(std::vector<RankedTrial> asc,
                       store_->RankTrials({.project = "fraud", .descending = false}));
  ASSERT_THAT(asc, SizeIs(2));
  EXPECT_EQ(asc[0].trial.name, "b-1");
  // A metric nobody reported ranks nothing.
  ASSERT_OK_AND_ASSIGN(std::vector<RankedTrial> none,
                       store_->RankTrials({.metric = "nope", .strategy = RankStrategy::kMax}));
  EXPECT_THAT(none, IsEmpty());

  EXPECT_EQ(store_->RankTrials({.study_id = 999}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RankTrials({.limit_per_group = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RankTrials({.metric = "acc", .strategy = RankStrategy::kMax, .step = -1})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<RankedTrial>> no_metric =
      store_->RankTrials({.strategy = RankStrategy::kLatest});
  EXPECT_EQ(Msg(no_metric.status()), "the latest strategy ranks by a metric; name one");
  absl::StatusOr<std::vector<RankedTrial>> no_order =
      store_->RankTrials({.metric = "acc", .strategy = RankStrategy::kBestAtStep});
  EXPECT_EQ(no_order.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<RankedTrial>> bad = store_->RankTrials({.filter = "state = 'NOPE'"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TrialStoreTest, TriggersApplyFindListDelete) {
  Reopen();
  bool created = false;
  ASSERT_OK_AND_ASSIGN(TriggerRecord a, store_->ApplyTrigger({.name = "auc-drop",
                                                              .spec_yaml = "kind: RetrainTrigger\n",
                                                              .spec_path = "t.yaml",
                                                              .study_yaml = "kind: Experiment\n",
                                                              .baseline = 0.5},
                                                             &created));
  EXPECT_TRUE(created);
  EXPECT_GT(a.id, 0);
  EXPECT_EQ(a.applied_ms, a.updated_ms);
  EXPECT_EQ(a.baseline, 0.5);
  EXPECT_EQ(a.study_yaml, "kind: Experiment\n");
  ASSERT_OK_AND_ASSIGN(
      std::optional<TriggerFiring> fired,
      store_->ClaimFiring(
          {.trigger_id = a.id, .time_ms = 1000, .reason = "x", .action = "submitStudy"}, 0));
  ASSERT_TRUE(fired.has_value());
  // Applied again: same id and first time, new text, the firing kept.
  ASSERT_OK_AND_ASSIGN(TriggerRecord b,
                       store_->ApplyTrigger({.name = "auc-drop", .spec_yaml = "v2\n"}, &created));
  EXPECT_FALSE(created);
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.applied_ms, a.applied_ms);
  EXPECT_GE(b.updated_ms, a.updated_ms);
  EXPECT_EQ(b.spec_yaml, "v2\n");
  EXPECT_EQ(b.study_yaml, "");
  EXPECT_FALSE(b.baseline.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<TriggerFiring> firings, store_->ListFirings(a.id, 0));
  EXPECT_THAT(firings, SizeIs(1));
  ASSERT_OK(store_->ApplyTrigger({.name = "another", .spec_yaml = "y\n"}, nullptr).status());
  ASSERT_OK_AND_ASSIGN(std::vector<TriggerRecord> all, store_->ListTriggers());
  ASSERT_THAT(all, SizeIs(2));
  EXPECT_EQ(all[0].name, "another");
  EXPECT_EQ(all[1].name, "auc-drop");

  ASSERT_OK(store_->DeleteTrigger("auc-drop"));
  EXPECT_EQ(store_->FindTrigger("auc-drop").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteTrigger("auc-drop").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListFirings(a.id, 0).status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<TriggerFiring> none, store_->ListFirings(0, 0));
  EXPECT_THAT(none, IsEmpty());  // its firings went with it
  // Applied anew, its firings never take an old firing's id (studies are named by it).
  ASSERT_OK_AND_ASSIGN(TriggerRecord again,
                       store_->ApplyTrigger({.name = "auc-drop", .spec_yaml = "v3\n"}, nullptr));
  ASSERT_OK_AND_ASSIGN(std::optional<TriggerFiring> next,
                       store_->ClaimFiring({.trigger_id = again.id, .time_ms = 1000}, 0));
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(next->id, fired->id);

  EXPECT_EQ(store_->ApplyTrigger({.spec_yaml = "x"}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ApplyTrigger({.name = "n"}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ApplyTrigger({.name = "n", .spec_yaml = "x", .baseline = NAN}, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// The cooldown is the store's: claims are refused until the last firing + cooldown, also from
// another store on the same file (a second engine, or this one after a restart).
TEST_F(TrialStoreTest, FiringClaimsHoldTheCooldownAcrossStores) {
  Reopen();
  ASSERT_OK_AND_ASSIGN(TriggerRecord t,
                       store_->ApplyTrigger({.name = "t", .spec_yaml = "x\n"}, nullptr));
  auto claim = [&](TrialStore* store, int64_t time_ms) -> std::optional<int64_t> {
    absl::StatusOr<std::optional<TriggerFiring>> f = store->ClaimFiring({.trigger_id = t.id,
                                                                         .time_ms = time_ms,
                                                                         .value = 0.8,
                                                                         .best = 0.9,
                                                                         .reason = "auc 0.8 < 0.85",
                                                                         .action = "retrainTrial"},
                                                                        /*cooldown_ms=*/1000);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok() || !f->has_value()) return std::nullopt;
    EXPECT_EQ((*f)->trigger, "t");
    EXPECT_EQ((*f)->state, FiringState::kPending);
    EXPECT_EQ((*f)->value, 0.8);
    EXPECT_EQ((*f)->best, 0.9);
    return (*f)->id;
  };
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrialStore> other, OpenAt(path_));
  const std::optional<int64_t> first = claim(store_.get(), 10'000);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(claim(other.get(), 10'000).has_value());
  EXPECT_FALSE(claim(other.get(), 10'999).has_value());
  EXPECT_FALSE(claim(store_.get(), 10'500).has_value());
  other.reset();
  Reopen();  // a restart
  EXPECT_FALSE(claim(store_.get(), 10'999).has_value());
  const std::optional<int64_t> second = claim(store_.get(), 11'000);  // exactly at the end
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(claim(store_.get(), 11'001).has_value());

  ASSERT_OK(store_->FinishFiring(*first, FiringState::kDone, "fraud-hpo-retrain-1"));
  ASSERT_OK(store_->FinishFiring(*second, FiringState::kFailed, "no study \"x\""));
  ASSERT_OK_AND_ASSIGN(std::vector<TriggerFiring> all, store_->ListFirings(t.id, 0));
  ASSERT_THAT(all, SizeIs(2));
  EXPECT_EQ(all[0].id, *first);
  EXPECT_EQ(all[0].state, FiringState::kDone);
  EXPECT_EQ(all[0].result, "fraud-hpo-retrain-1");
  EXPECT_GT(all[0].finished_ms, 0);
  EXPECT_EQ(all[0].reason, "auc 0.8 < 0.85");
  EXPECT_EQ(all[0].action, "retrainTrial");
  EXPECT_EQ(all[1].state, FiringState::kFailed);
  ASSERT_OK_AND_ASSIGN(std::vector<TriggerFiring> last, store_->ListFirings(0, 1));
  ASSERT_THAT(last, SizeIs(1));
  EXPECT_EQ(last[0].id, *second);

  EXPECT_EQ(store_->FinishFiring(*first, FiringState::kPending, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->FinishFiring(999, FiringState::kDone, "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ClaimFiring({.trigger_id = 999, .time_ms = 1}, 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ClaimFiring({.trigger_id = t.id, .time_ms = 1}, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListFirings(0, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TrialStoreTest, ModelMetricsSeries) {
  Reopen();
  ASSERT_OK(store_->AppendModelMetrics({
      {.project = "fraud",
       .experiment = "prod",
       .model = "v1",
       .metric = "auc",
       .value = 0.9,
       .time_ms = 100},
      {.project = "fraud",
       .experiment = "prod",
       .model = "v2",
       .metric = "auc",
       .value = 0.8,
       .time_ms = 300},
      {.project = "fraud",
       .experiment = "dev",
       .model = "v1",
       .metric = "auc",
       .value = 0.7,
       .time_ms = 200},
      {.project = "fraud",
       .experiment = "prod",
       .model = "v1",
       .metric = "loss",
       .value = 1,
       .time_ms = 150},
      {.project = "ads", .metric = "auc", .value = 0.5, .time_ms = 50},
      {.project = "fraud",
       .experiment = "prod",
       .model = "v1",
       .metric = "auc",
       .value = 0.85,
       .time_ms = 300},  // same time as v2's: insertion order after it
  }));
  auto values = [&](ModelSeriesQuery q) {
    std::vector<double> out;
    absl::StatusOr<std::vector<ModelPoint>> s = store_->ModelSeries(q);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) {
      for (const ModelPoint& p : *s) out.push_back(p.value);
    }
    return out;
  };
  EXPECT_THAT(values({.project = "fraud", .metric = "auc"}), ElementsAre(0.9, 0.7, 0.8, 0.85));
  EXPECT_THAT(values({.project = "fraud", .experiment = "prod", .metric = "auc"}),
              ElementsAre(0.9, 0.8, 0.85));
  EXPECT_THAT(values({.project = "fraud", .model = "v1", .metric = "auc"}),
              ElementsAre(0.9, 0.7, 0.85));
  EXPECT_THAT(values({.project = "fraud", .metric = "auc", .since_ms = 100}),
              ElementsAre(0.7, 0.8, 0.85));
  EXPECT_THAT(values({.project = "fraud", .metric = "auc", .last_n = 2}), ElementsAre(0.8, 0.85));
  EXPECT_THAT(values({.project = "nope", .metric = "auc"}), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<ModelPoint> one,
                       store_->ModelSeries({.project = "ads", .metric = "auc"}));
  ASSERT_THAT(one, SizeIs(1));
  EXPECT_EQ(one[0].experiment, "");
  EXPECT_EQ(one[0].time_ms, 50);
  // Time 0 is now.
  ASSERT_OK(store_->AppendModelMetrics({{.project = "p", .metric = "m", .value = 1}}));
  ASSERT_OK_AND_ASSIGN(std::vector<ModelPoint> now,
                       store_->ModelSeries({.project = "p", .metric = "m"}));
  ASSERT_THAT(now, SizeIs(1));
  EXPECT_GT(now[0].time_ms, 1'700'000'000'000);

  // A bad point anywhere stores nothing of the call.
  absl::Status bad = store_->AppendModelMetrics(
      {{.project = "q", .metric = "m", .value = 1}, {.project = "q", .metric = "m", .value = NAN}});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(bad), "model metric point 1 (\"m\") has value nan; values must be finite");
  EXPECT_THAT(values({.project = "q", .metric = "m"}), IsEmpty());
  EXPECT_EQ(Msg(store_->AppendModelMetrics({{.metric = "m"}})),
            "model metric point 0 has no project");
  EXPECT_EQ(Msg(store_->AppendModelMetrics({{.project = "p"}})),
            "model metric point 0 has no metric name");
  EXPECT_EQ(store_->AppendModelMetrics({{.project = "p", .metric = "m", .time_ms = -1}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ModelSeries({.project = "p"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ModelSeries({.project = "p", .metric = "m", .last_n = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The statement cache is bounded: past kMaxCachedStatements texts, statements are prepared for
// one use and finalized with it (a long-running hptd answering arbitrary filters).
TEST_F(TrialStoreTest, StatementCacheIsBounded) {
  absl::StatusOr<std::unique_ptr<sqlite::Db>> db =
      sqlite::Db::Open(path_, sqlite::Db::Mode::kReadWriteCreate, 1000);
  ASSERT_TRUE(db.ok()) << db.status();
  const size_t limit = sqlite::Db::kMaxCachedStatements;
  for (size_t i = 0; i < limit + 50; ++i) {
    const std::string sql = absl::StrCat("SELECT ?1 + ", i);
    absl::StatusOr<sqlite::Stmt> st = (*db)->Prepare(sql.c_str(), int64_t{1});
    ASSERT_TRUE(st.ok()) << st.status();
    absl::StatusOr<bool> row = st->Step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(st->ColumnInt(0), static_cast<int64_t>(i) + 1);
  }
  EXPECT_EQ((*db)->CachedStatements(), limit);
  // A cached text is reused, and an uncached one can run again (prepared anew).
  for (size_t i : {size_t{0}, limit + 10}) {
    const std::string sql = absl::StrCat("SELECT ?1 + ", i);
    absl::StatusOr<sqlite::Stmt> st = (*db)->Prepare(sql.c_str(), int64_t{2});
    ASSERT_TRUE(st.ok()) << st.status();
    absl::StatusOr<bool> row = st->Step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(st->ColumnInt(0), static_cast<int64_t>(i) + 2);
  }
  EXPECT_EQ((*db)->CachedStatements(), limit);
}

TEST_F(TrialStoreTest, DeleteMetrics) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t t = MakeTrial(study, "t");
  const int64_t keep = MakeTrial(study, "keep");
  ASSERT_OK(
      store_->AppendMetrics(t, 1, {{.name = "loss", .value = 1}, {.name = "loss", .value = 2}})
          .status());
  ASSERT_OK(store_->AppendMetrics(keep, 1, {{.name = "loss", .value = 5}}).status());
  ASSERT_OK(store_->DeleteMetrics(t));
  EXPECT_THAT(History(t), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> sums, store_->Summaries(t));
  EXPECT_THAT(sums, IsEmpty());
  // Seqs are forgotten and auto steps restart.
  ASSERT_OK_AND_ASSIGN(AppendResult r, store_->AppendMetrics(t, 1, {{.name = "loss", .value = 9}}));
  EXPECT_FALSE(r.duplicate);
  using T = std::tuple<std::string, int64_t, double>;
  EXPECT_THAT(Triples(t), ElementsAre(T{"loss", 0, 9}));
  EXPECT_THAT(Triples(keep), ElementsAre(T{"loss", 0, 5}));
  ASSERT_OK_AND_ASSIGN(AppendResult kept_seq,
                       store_->AppendMetrics(keep, 1, {{.name = "loss", .value = 5}}));
  EXPECT_TRUE(kept_seq.duplicate);
}

// `threads` callers (a quarter per trial) each make `calls` reports of 5 auto-step points of a
// shared metric plus one explicit-step point of their own, replaying every tenth report; a
// reader runs alongside. Checks that every acknowledged point is stored exactly once.
void TrialStoreTest::RunConcurrentAppends(const StoreOptions& options, int threads, int calls) {
  Reopen(options);
  const int64_t study = MakeStudy("s");
  constexpr int kTrials = 4, kPoints = 5;
  ASSERT_EQ(threads % kTrials, 0);
  std::vector<int64_t> trials;
  for (int i = 0; i < kTrials; ++i) trials.push_back(MakeTrial(study, "t" + std::to_string(i)));

  std::atomic<int> errors{0}, duplicates{0}, wrong_dups{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> workers;
  for (int th = 0; th < threads; ++th) {
    workers.emplace_back([&, th] {
      const int64_t trial = trials[th % kTrials];
      for (int c = 0; c < calls; ++c) {
        std::vector<MetricPoint> pts;
        for (int k = 0; k < kPoints; ++k) {
          // Unique value per (thread, call, point); "shared" takes auto steps from many threads.
          pts.push_back({.name = "shared", .value = th * 100000.0 + c * 10 + k});
        }
        pts.push_back({.name = "own" + std::to_string(th), .step = c, .value = 1.0 * c});
        const uint64_t seq = static_cast<uint64_t>(th) * 1000 + c + 1;
        absl::StatusOr<AppendResult> r = store_->AppendMetrics(trial, seq, pts);
        if (!r.ok() || r->duplicate || r->stored != kPoints + 1) ++errors;
        if (c % 10 == 9) {  // a replay of an acknowledged report
          absl::StatusOr<AppendResult> again = store_->AppendMetrics(trial, seq - 4, pts);
          if (!again.ok()) ++errors;
          if (again.ok() && again->duplicate && again->stored == 0) ++duplicates;
          if (again.ok() && !again->duplicate) ++wrong_dups;
        }
      }
    });
  }
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    while (writing.load()) {
      if (!store_->Summaries(trials[0]).ok()) ++read_errors;
      std::this_thread::yield();
    }
  });
  for (std::thread& t : workers) t.join();
  writing = false;
  reader.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(wrong_dups.load(), 0);
  EXPECT_EQ(duplicates.load(), threads * (calls / 10));

  const int per_trial = threads / kTrials;
  for (int i = 0; i < kTrials; ++i) {
    std::vector<StoredPoint> h = History(trials[i]);
    ASSERT_EQ(h.size(), static_cast<size_t>(per_trial * calls * (kPoints + 1)));
    std::set<double> shared_values;
    std::set<int64_t> shared_steps;
    std::map<std::string, std::vector<int64_t>> own_steps;
    for (const StoredPoint& p : h) {
      if (p.name == "shared") {
        EXPECT_TRUE(shared_values.insert(p.value).second) << "twice: " << p.value;
        EXPECT_TRUE(shared_steps.insert(p.step).second) << "step twice: " << p.step;
      } else {
        own_steps[p.name].push_back(p.step);
      }
    }
    // Every acknowledged point is there, and the auto steps are exactly 0..n-1.
    EXPECT_EQ(shared_values.size(), static_cast<size_t>(per_trial * calls * kPoints));
    EXPECT_EQ(*shared_steps.begin(), 0);
    EXPECT_EQ(*shared_steps.rbegin(), static_cast<int64_t>(shared_steps.size()) - 1);
    ASSERT_EQ(own_steps.size(), static_cast<size_t>(per_trial));
    for (const auto& [name, steps] : own_steps) {
      ASSERT_EQ(steps.size(), static_cast<size_t>(calls)) << name;
      for (int c = 0; c < calls; ++c) EXPECT_EQ(steps[c], c) << name;  // each caller's order
    }
    ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> sums, store_->Summaries(trials[i]));
    ASSERT_THAT(sums, SizeIs(per_trial + 1));
    EXPECT_EQ(sums.back().name, "shared");
    EXPECT_EQ(sums.back().count, per_trial * calls * kPoints);
  }
}

TEST_F(TrialStoreTest, ConcurrentAppendsAreStoredExactlyOnce) {
  RunConcurrentAppends(StoreOptions{}, /*threads=*/16, /*calls=*/200);
}

// Groups of at most 7 points (one report each), so group boundaries fall everywhere.
TEST_F(TrialStoreTest, ConcurrentAppendsWithSmallGroups) {
  RunConcurrentAppends({.max_batch_points = 7}, /*threads=*/8, /*calls=*/50);
}

// ---- AppendMetricsAsync, schema 2 ----

TEST_F(TrialStoreTest, AppendMetricsAsyncAnswersOnceCommitted) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t t = MakeTrial(study, "t");
  absl::Mutex mu;
  std::vector<absl::StatusOr<AppendResult>> results;
  auto record = [&](absl::StatusOr<AppendResult> r) {
    absl::MutexLock lock(&mu);
    results.push_back(std::move(r));
  };
  store_->AppendMetricsAsync(t, 1, {{.name = "loss", .value = 1}, {.name = "loss", .value = 2}}, {},
                             record);
  store_->AppendMetricsAsync(t, 1, {{.name = "loss", .value = 1}}, {}, record);  // a replay
  store_->AppendMetricsAsync(t + 1000, 2, {{.name = "loss", .value = 1}}, {}, record);
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](std::vector<absl::StatusOr<AppendResult>>* r) { return r->size() == 3; }, &results));
  }
  ASSERT_OK(results[0].status());
  EXPECT_EQ(results[0]->stored, 2);
  EXPECT_FALSE(results[0]->duplicate);
  ASSERT_OK(results[1].status());
  EXPECT_EQ(results[1]->stored, 0);
  EXPECT_TRUE(results[1]->duplicate);
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(results[2].status()), HasSubstr(std::to_string(t + 1000)));
  // Acknowledged means committed: a fresh connection sees the points.
  EXPECT_EQ(
      RawDb(path_).Query("SELECT count(*) FROM metrics WHERE trial_id = " + std::to_string(t)),
      "2");

  // Invalid points are refused before queuing: the callback has run when the call returns.
  bool called = false;
  store_->AppendMetricsAsync(t, 3, {{.name = "loss", .value = std::nan("")}}, {},
                             [&](absl::StatusOr<AppendResult> r) {
                               EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
                               called = true;
                             });
  EXPECT_TRUE(called);
}

TEST_F(TrialStoreTest, RequireOpenRefusesFinishedTrialsInTheWritingTransaction) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t t = MakeTrial(study, "t");
  const int64_t other = MakeTrial(study, "other");
  ASSERT_OK(store_->SetTrialState(t, TrialState::kRunning, "", ""));
  // Many reports race with the trial's end: each is either stored (before the end) or refused
  // with FailedPrecondition, and exactly the acknowledged ones are stored.
  constexpr int kReports = 400;
  absl::Mutex mu;
  int answered = 0, stored = 0, refused = 0, other_errors = 0;
  for (int i = 0; i < kReports; ++i) {
    if (i == kReports / 2) {
      ASSERT_OK(store_->SetTrialState(t, TrialState::kSucceeded, "Done", ""));
    }
    store_->AppendMetricsAsync(
        t, i + 1, {{.name = "loss", .step = i, .value = 1.0 * i}}, {.require_open = true},
        [&](absl::StatusOr<AppendResult> r) {
          absl::MutexLock lock(&mu);
          ++answered;
          if (r.ok() && r->stored == 1) {
            ++stored;
          } else if (r.status().code() == absl::StatusCode::kFailedPrecondition &&
                     absl::StrContains(r.status().message(), "\"t\"") &&
                     absl::StrContains(r.status().message(), "SUCCEEDED")) {
            ++refused;
          } else {
            ++other_errors;
          }
        });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n == kReports; }, &answered));
  }
  EXPECT_EQ(other_errors, 0);
  EXPECT_GE(refused, kReports / 2);  // everything queued after the end, at least
  EXPECT_EQ(stored + refused, kReports);
  EXPECT_THAT(History(t), SizeIs(stored));
  // Refused reports consumed no seq: without require_open the same seq is stored.
  ASSERT_OK_AND_ASSIGN(AppendResult late,
                       store_->AppendMetrics(t, kReports, {{.name = "late", .value = 1}}));
  EXPECT_FALSE(late.duplicate);
  // require_open does not refuse a pending or running trial.
  bool ok = false;
  absl::Notification done;
  store_->AppendMetricsAsync(other, 0, {{.name = "loss", .value = 1}}, {.require_open = true},
                             [&](absl::StatusOr<AppendResult> r) {
                               ok = r.ok() && r->stored == 1;
                               done.Notify();
                             });
  done.WaitForNotification();
  EXPECT_TRUE(ok);
}

TEST_F(TrialStoreTest, EveryCallbackRunsWhenTheStoreCloses) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  std::atomic<int> ok{0}, answered{0};
  for (int i = 0; i < 200; ++i) {
    store_->AppendMetricsAsync(t, i + 1, {{.name = "m", .value = 1.0 * i}}, {},
                               [&](absl::StatusOr<AppendResult> r) {
                                 if (r.ok()) ++ok;
                                 ++answered;
                               });
  }
  store_.reset();  // drains the queue: every queued report is written and answered
  EXPECT_EQ(answered.load(), 200);
  EXPECT_EQ(ok.load(), 200);
  Reopen();
  EXPECT_THAT(History(t), SizeIs(200));
}

TEST_F(TrialStoreTest, MetricHistoryIsReadFromThePointsKey) {
  Reopen();
  MakeStudy("s");
  store_.reset();
  RawDb raw(path_);
  // The plan of the history and next-step queries (as in sqlite_store.cc): a search of the
  // primary key (trial, metric), rows in insertion order, no sort.
  auto plan = [&](const std::string& sql) {
    std::string out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(raw.handle(), ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr),
        SQLITE_OK)
        << sql;
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
      out += "\n";
    }
    sqlite3_finalize(st);
    return out;
  };
  const std::string one = plan(
      "SELECT n.name, m.step, m.value, m.time_ms FROM metric_names AS n "
      "JOIN metrics AS m ON m.trial_id = ?1 AND m.name_id = n.id "
      "WHERE n.name = ?2 ORDER BY m.ord");
  EXPECT_THAT(one, HasSubstr("USING PRIMARY KEY (trial_id=? AND name_id=?)")) << one;
  EXPECT_THAT(one, Not(HasSubstr("TEMP B-TREE"))) << one;
  EXPECT_THAT(one, Not(HasSubstr("SCAN m"))) << one;
  const std::string next =
      plan("SELECT COALESCE(MAX(step) + 1, 0) FROM metrics WHERE trial_id = ?1 AND name_id = ?2");
  EXPECT_THAT(next, HasSubstr("USING PRIMARY KEY (trial_id=? AND name_id=?)")) << next;
}

// The version-1 schema, as released (migration 1 of tracker/schema.cc), for files written before
// migration 2.
constexpr char kVersion1Schema[] = R"sql(
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,
                             applied_ms INTEGER NOT NULL);
PRAGMA application_id = 1213223985;
CREATE TABLE studies (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, project TEXT NOT NULL DEFAULT '',
  experiment TEXT NOT NULL DEFAULT '', spec_yaml TEXT NOT NULL DEFAULT '',
  spec_path TEXT NOT NULL DEFAULT '', algorithm TEXT NOT NULL DEFAULT '',
  objective_metric TEXT NOT NULL DEFAULT '', maximize INTEGER NOT NULL DEFAULT 0,
  seed INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE study_annotations (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (study_id, key)) WITHOUT ROWID;
CREATE TABLE trials (
  id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  name TEXT NOT NULL UNIQUE, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '', objective REAL, seed INTEGER NOT NULL DEFAULT 0,
  manifest TEXT NOT NULL DEFAULT '', token_hash TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX trials_by_study ON trials(study_id);
CREATE TABLE params (
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE, ord INTEGER NOT NULL,
  name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (trial_id, ord)) WITHOUT ROWID;
CREATE TABLE metric_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE metrics (
  id INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  name_id INTEGER NOT NULL REFERENCES metric_names(id), step INTEGER NOT NULL,
  value REAL NOT NULL, time_ms INTEGER NOT NULL);
CREATE INDEX metrics_by_trial ON metrics(trial_id, name_id, step);
CREATE TABLE report_seqs (
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
  PRIMARY KEY (trial_id, seq)) WITHOUT ROWID;
CREATE TABLE events (
  id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  trial_id INTEGER REFERENCES trials(id) ON DELETE CASCADE, kind TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '', time_ms INTEGER NOT NULL);
CREATE INDEX events_by_study ON events(study_id);
INSERT INTO schema_version VALUES (1, 'initial schema', 1700000000000);
)sql";

TEST_F(TrialStoreTest, AVersion1FileOpensAndKeepsItsData) {
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec(kVersion1Schema), SQLITE_OK);
    ASSERT_EQ(
        raw.Exec("INSERT INTO studies (id, name, objective_metric, state, created_ms) "
                 "VALUES (1, 'old', 'loss', 'RUNNING', 5);"
                 "INSERT INTO trials (id, study_id, name, state, created_ms, token_hash) "
                 "VALUES (1, 1, 'old-1', 'RUNNING', 6, 'ab'), (2, 1, 'old-2', 'SUCCEEDED', 7, '');"
                 "INSERT INTO metric_names (id, name) VALUES (1, 'loss'), (2, 'acc');"
                 // Insertion order (id) differs from step order, and trials interleave.
                 "INSERT INTO metrics (id, trial_id, name_id, step, value, time_ms) VALUES "
                 "(1, 1, 1, 0, 0.9, 100), (2, 2, 1, 0, 5.0, 101), (3, 1, 2, 10, 0.1, 102),"
                 "(4, 1, 1, 7, 0.7, 103), (5, 1, 1, 3, 0.5, 104), (6, 2, 1, 1, 4.0, 105);"
                 "INSERT INTO report_seqs (trial_id, seq) VALUES (1, 1), (1, 2);"
                 "INSERT INTO events (study_id, trial_id, kind, message, time_ms) "
                 "VALUES (1, 1, 'TrialRunning', 'm', 8);"),
        SQLITE_OK);
  }
  Reopen();
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Query("SELECT MAX(version) FROM schema_version"), "4");
    EXPECT_EQ(raw.Query("SELECT count(*) FROM metrics"), "6");
    // Migration 3 summarized the old points: (trial 1: loss, acc), (trial 2: loss).
    EXPECT_EQ(raw.Query("SELECT count(*) FROM metric_summaries"), "3");
    EXPECT_EQ(raw.Query("SELECT count(*) FROM sqlite_master WHERE name = 'metrics_by_trial'"), "0");
  }
  using T = std::tuple<std::string, int64_t, double>;
  EXPECT_THAT(Triples(1), ElementsAre(T{"loss", 0, 0.9}, T{"acc", 10, 0.1}, T{"loss", 7, 0.7},
                                      T{"loss", 3, 0.5}));
  EXPECT_THAT(Triples(1, "loss"),
              ElementsAre(T{"loss", 0, 0.9}, T{"loss", 7, 0.7}, T{"loss", 3, 0.5}));
  EXPECT_THAT(Triples(2), ElementsAre(T{"loss", 0, 5.0}, T{"loss", 1, 4.0}));
  EXPECT_EQ(History(1)[0].time_ms, 100);
  ASSERT_OK_AND_ASSIGN(std::vector<MetricSummary> sums, store_->Summaries(1));
  ASSERT_THAT(sums, SizeIs(2));
  EXPECT_EQ(sums[1].name, "loss");
  EXPECT_EQ(sums[1].latest, 0.5);  // the last inserted, not the largest step
  EXPECT_EQ(sums[1].last_step, 3);
  EXPECT_EQ(sums[1].count, 3);
  // Old seqs are still remembered; auto steps continue after the largest old step; new points
  // come after the old ones.
  ASSERT_OK_AND_ASSIGN(AppendResult replay,
                       store_->AppendMetrics(1, 2, {{.name = "loss", .value = 1}}));
  EXPECT_TRUE(replay.duplicate);
  ASSERT_OK(store_->AppendMetrics(1, 3, {{.name = "loss", .value = 0.4}}).status());
  EXPECT_THAT(Triples(1, "loss").back(), (T{"loss", 8, 0.4}));
  ASSERT_OK_AND_ASSIGN(TrialRecord t1, store_->FindTrial("old-1"));
  EXPECT_EQ(t1.token_hash, "ab");
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, store_->ListEvents(1));
  EXPECT_THAT(events, SizeIs(1));
  // Opening again changes nothing.
  Reopen();
  EXPECT_THAT(History(1), SizeIs(5));
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM schema_version"), "4");
}

TEST_F(TrialStoreTest, DeletingATrialDeletesItsMetrics) {
  Reopen();
  const int64_t gone_study = MakeStudy("gone");
  const int64_t gone = MakeTrial(gone_study, "gone-1");
  const int64_t kept = MakeTrial(MakeStudy("kept"), "kept-1");
  ASSERT_OK(store_->AppendMetrics(gone, 1, {{.name = "loss", .value = 1}}).status());
  ASSERT_OK(store_->AppendMetrics(kept, 1, {{.name = "loss", .value = 2}}).status());
  store_.reset();
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("PRAGMA foreign_keys = ON"), SQLITE_OK);
    ASSERT_EQ(raw.Exec("DELETE FROM studies WHERE id = " + std::to_string(gone_study)),
              SQLITE_OK);  // cascades to its trials, and the trigger to their metrics
    EXPECT_EQ(raw.Query("SELECT count(*) FROM metrics WHERE trial_id = " + std::to_string(gone)),
              "0");
    EXPECT_EQ(raw.Query("SELECT count(*) FROM metrics WHERE trial_id = " + std::to_string(kept)),
              "1");
  }
}

TEST_F(TrialStoreTest, DeleteStudyRemovesEverythingItHeldAndNothingElse) {
  Reopen();
  NewStudy with_annotations = StudyNamed("gone");
  with_annotations.annotations = {{"hpt.dev/project", "p"}};
  ASSERT_OK_AND_ASSIGN(StudyRecord g, store_->CreateStudy(with_annotations));
  const int64_t gone_study = g.id;
  const int64_t kept_study = MakeStudy("kept");
  const int64_t kept = MakeTrial(kept_study, "kept-1");
  const int64_t gone = MakeTrial(gone_study, "gone-1");  // the highest id: SQLite may reuse it
  ASSERT_OK(store_->AppendMetrics(kept, 1, {{.name = "loss", .step = 3, .value = 1}}).status());
  ASSERT_OK(store_->AppendMetrics(gone, 1, {{.name = "loss", .value = 1}}).status());
  ASSERT_OK(store_->AppendMetrics(gone, 2, {{.name = "loss", .value = 2}}).status());
  ASSERT_OK(store_->AddEvent(gone_study, gone, "TrialLaunched", "x"));
  ASSERT_OK(store_->AddEvent(kept_study, kept, "TrialLaunched", "y"));

  ASSERT_OK(store_->DeleteStudy(gone_study));
  EXPECT_EQ(store_->GetStudy(gone_study).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->FindTrial("gone-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteStudy(gone_study).code(), absl::StatusCode::kNotFound);
  {
    RawDb raw(path_);
    // One row each is left: the kept study's.
    for (const char* table : {"trials", "params", "metrics", "report_seqs", "events"}) {
      EXPECT_EQ(raw.Query(absl::StrCat("SELECT count(*) FROM ", table)), "1") << table;
    }
    EXPECT_EQ(raw.Query("SELECT count(*) FROM study_annotations WHERE study_id = " +
                        std::to_string(gone_study)),
              "0");
  }
  ASSERT_OK_AND_ASSIGN(StudyRecord k, store_->GetStudy(kept_study));
  EXPECT_EQ(k.name, "kept");
  EXPECT_EQ(History(kept).size(), 1u);

  // The name is free again, and a new trial starts from nothing even when it is given the id of
  // a deleted one: its auto steps and seqs are its own.
  const int64_t again = MakeTrial(MakeStudy("gone"), "gone-1");
  EXPECT_EQ(again, gone) << "the id was not reused; this test no longer covers that case";
  ASSERT_OK_AND_ASSIGN(AppendResult r,
                       store_->AppendMetrics(again, 1, {{.name = "loss", .value = 5}}));
  EXPECT_FALSE(r.duplicate);
  std::vector<StoredPoint> h = History(again);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].step, 0);
  EXPECT_EQ(h[0].value, 5);
}

TEST_F(TrialStoreTest, ExpectedTokenHashIsCheckedInTheWritingTransaction) {
  Reopen();
  const int64_t study = MakeStudy("s");
  absl::StatusOr<TrialRecord> t = store_->CreateTrial(
      {.study_id = study, .name = "t", .params = {{"lr", "0.1"}}, .token_hash = "aa"});
  ASSERT_OK(t.status());
  auto append = [&](uint64_t seq, const std::string& hash) {
    return AppendHeldTo(t->id, seq, hash);
  };
  ASSERT_OK(append(1, "aa").status());
  absl::StatusOr<AppendResult> stale = append(2, "bb");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Msg(stale.status()), HasSubstr("no longer has the token"));
  EXPECT_EQ(History(t->id).size(), 1u);
  ASSERT_OK(append(3, "").status());  // no expectation: not checked
  EXPECT_EQ(History(t->id).size(), 2u);
}

// Another process appending to the same file: the steps it wrote are not in this store's cache,
// and auto steps must continue after them rather than repeat them.
TEST_F(TrialStoreTest, AutoStepsContinueAfterAnotherProcessWrote) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrialStore> other, OpenAt(path_));
  for (int round = 0; round < 3; ++round) {
    ASSERT_OK(
        store_->AppendMetrics(t, 0, {{.name = "loss", .value = 1}, {.name = "loss", .value = 2}})
            .status());
    ASSERT_OK(other->AppendMetrics(t, 0, {{.name = "loss", .value = 3}}).status());
  }
  std::vector<int64_t> steps;
  for (const StoredPoint& p : History(t, "loss")) steps.push_back(p.step);
  EXPECT_THAT(steps, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8));
}

TEST_F(TrialStoreTest, ConcurrentAppendsWithSqliteCheckpoints) {
  StoreOptions options;
  options.background_checkpoints = false;
  options.max_batch_points = 50;
  RunConcurrentAppends(options, /*threads=*/8, /*calls=*/50);
}

// ---- leaderboard ----

TEST_F(TrialStoreTest, LeaderboardOrdersByDirectionWithTiesByCreation) {
  Reopen();
  for (bool maximize : {false, true}) {
    SCOPED_TRACE(maximize);
    const std::string prefix = maximize ? "max-" : "min-";
    const int64_t study = MakeStudy(prefix + "study", maximize);
    const int64_t other = MakeStudy(prefix + "other", maximize);
    std::vector<std::pair<std::string, std::optional<double>>> plan = {
        {"a", 0.5}, {"b", 0.2}, {"c", 0.5}, {"d", std::nullopt}, {"e", 0.9}, {"f", -1.0}};
    for (const auto& [name, objective] : plan) {
      const int64_t id = MakeTrial(study, prefix + name);
      if (objective.has_value()) {
        ASSERT_OK(store_->SetTrialState(id, TrialState::kSucceeded, "", "", objective));
      } else {
        ASSERT_OK(store_->SetTrialState(id, TrialState::kRunning, "", ""));
      }
    }
    const int64_t elsewhere = MakeTrial(other, prefix + "elsewhere");
    ASSERT_OK(store_->SetTrialState(elsewhere, TrialState::kSucceeded, "", "", 100.0));

    auto names = [&](int limit) {
      std::vector<std::string> out;
      absl::StatusOr<std::vector<TrialRecord>> board = store_->Leaderboard(study, limit);
      EXPECT_TRUE(board.ok()) << board.status();
      if (board.ok()) {
        for (const TrialRecord& t : *board) out.push_back(t.name.substr(prefix.size()));
      }
      return out;
    };
    if (maximize) {
      EXPECT_THAT(names(0), ElementsAre("e", "a", "c", "b", "f"));
      EXPECT_THAT(names(2), ElementsAre("e", "a"));
    } else {
      EXPECT_THAT(names(0), ElementsAre("f", "b", "a", "c", "e"));
      EXPECT_THAT(names(3), ElementsAre("f", "b", "a"));
    }
    EXPECT_THAT(names(50), SizeIs(5));
    ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> top, store_->Leaderboard(study, 1));
    ASSERT_THAT(top, SizeIs(1));
    EXPECT_EQ(top[0].params, (std::vector<std::pair<std::string, std::string>>{{"lr", "0.1"}}));
    EXPECT_EQ(top[0].objective, std::optional<double>(maximize ? 0.9 : -1.0));
    EXPECT_EQ(store_->Leaderboard(study, -1).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(store_->Leaderboard(12345, 0).status().code(), absl::StatusCode::kNotFound);
}

// ---- events ----

TEST_F(TrialStoreTest, Events) {
  Reopen();
  const int64_t study = MakeStudy("s");
  const int64_t other = MakeStudy("o");
  const int64_t t = MakeTrial(study, "t");
  const int64_t u = MakeTrial(other, "u");
  ASSERT_OK(store_->AddEvent(study, 0, "StudyStarted", "go"));
  ASSERT_OK(store_->AddEvent(study, t, "TrialFailed", "exit code 3"));
  ASSERT_OK(store_->AddEvent(other, u, "TrialSucceeded", ""));
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, store_->ListEvents(study));
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].study_id, study);
  EXPECT_EQ(events[0].trial_id, 0);
  EXPECT_EQ(events[0].kind, "StudyStarted");
  EXPECT_EQ(events[0].message, "go");
  EXPECT_GT(events[0].time_ms, 0);
  EXPECT_EQ(events[1].trial_id, t);
  EXPECT_EQ(events[1].kind, "TrialFailed");
  EXPECT_EQ(events[1].message, "exit code 3");
  EXPECT_LT(events[0].id, events[1].id);
  EXPECT_GE(events[1].time_ms, events[0].time_ms);

  EXPECT_EQ(store_->AddEvent(study, 0, "", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AddEvent(study, u, "Wrong", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AddEvent(study, u + 100, "Gone", "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddEvent(other + 100, 0, "Gone", "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListEvents(other + 100).status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<Event> after, store_->ListEvents(study));
  EXPECT_THAT(after, SizeIs(2));
}

// ---- files: persistence, migrations, foreign files, options ----

TEST_F(TrialStoreTest, ReopenKeepsEverything) {
  Reopen({.synchronous = "FULL"});
  NewStudy ns = StudyNamed("persist", true);
  ns.seed = kTopBitSeed;
  ns.annotations = {{"k", "v"}};
  ASSERT_OK_AND_ASSIGN(StudyRecord study, store_->CreateStudy(ns));
  ASSERT_OK_AND_ASSIGN(TrialRecord trial, store_->CreateTrial({.study_id = study.id,
                                                               .name = "persist-1",
                                                               .params = {{"b", "2"}, {"a", "1"}},
                                                               .seed = kTopBitSeed}));
  ASSERT_OK(store_->SetTrialState(trial.id, TrialState::kRunning, "", ""));
  ASSERT_OK(store_->AppendMetrics(trial.id, 3, {{.name = "acc", .value = 0.7}}).status());
  ASSERT_OK(store_->SetTrialState(trial.id, TrialState::kSucceeded, "Done", "", 0.7));
  ASSERT_OK(store_->AddEvent(study.id, trial.id, "TrialSucceeded", "fine"));
  ASSERT_OK(store_->SetStudyState(study.id, StudyState::kSucceeded, "Finished", ""));

  Reopen();
  ASSERT_OK_AND_ASSIGN(StudyRecord s, store_->FindStudy("persist"));
  EXPECT_EQ(s.id, study.id);
  EXPECT_EQ(s.seed, kTopBitSeed);
  EXPECT_EQ(s.annotations, ns.annotations);
  EXPECT_EQ(s.state, StudyState::kSucceeded);
  EXPECT_GT(s.finished_ms, 0);
  ASSERT_OK_AND_ASSIGN(TrialRecord t, store_->FindTrial("persist-1"));
  EXPECT_EQ(t.params, trial.params);
  EXPECT_EQ(t.seed, kTopBitSeed);
  EXPECT_EQ(t.state, TrialState::kSucceeded);
  EXPECT_EQ(t.objective, std::optional<double>(0.7));
  EXPECT_EQ(t.attempt, 1);
  using T = std::tuple<std::string, int64_t, double>;
  EXPECT_THAT(Triples(t.id), ElementsAre(T{"acc", 0, 0.7}));
  ASSERT_OK_AND_ASSIGN(std::vector<Event> events, store_->ListEvents(s.id));
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].message, "fine");
  ASSERT_OK_AND_ASSIGN(std::vector<TrialRecord> board, store_->Leaderboard(s.id, 0));
  EXPECT_THAT(board, SizeIs(1));
}

TEST_F(TrialStoreTest, MigrationsAreIdempotentAndTheFileIsWal) {
  for (int i = 0; i < 3; ++i) {
    Reopen();
    MakeStudy("s" + std::to_string(i));
  }
  store_.reset();
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("SELECT count(*) FROM schema_version"), "4");
  EXPECT_EQ(raw.Query("SELECT MAX(version) FROM schema_version"), "4");
  EXPECT_EQ(raw.Query("PRAGMA application_id"), std::to_string(0x48505431));
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("SELECT count(*) FROM studies"), "3");
}

TEST_F(TrialStoreTest, NewerSchemaIsDataLossAndUntouched) {
  Reopen();
  MakeStudy("s");
  store_.reset();
  ASSERT_EQ(RawDb(path_).Exec("INSERT INTO schema_version VALUES (999, 'from the future', 0)"),
            SQLITE_OK);
  absl::StatusOr<std::unique_ptr<TrialStore>> newer = OpenAt(path_);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(newer.status()), HasSubstr(path_));
  EXPECT_THAT(Msg(newer.status()), HasSubstr("999"));
  RawDb raw(path_);
  EXPECT_EQ(raw.Query("SELECT count(*) FROM studies"), "1");
  ASSERT_EQ(raw.Exec("DELETE FROM schema_version WHERE version = 999"), SQLITE_OK);
  EXPECT_TRUE(OpenAt(path_).ok());
}

TEST_F(TrialStoreTest, NonDatabaseFileIsDataLossAndUntouched) {
  const std::string text = "name: not a database\n" + std::string(3000, 'x');
  { std::ofstream(path_) << text; }
  absl::StatusOr<std::unique_ptr<TrialStore>> s = OpenAt(path_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(s.status()), HasSubstr(path_));
  std::ifstream in(path_);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), text);
}

TEST_F(TrialStoreTest, ForeignSqliteFileIsDataLossAndUntouched) {
  {
    RawDb raw(path_);
    ASSERT_EQ(raw.Exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"), SQLITE_OK);
  }
  absl::StatusOr<std::unique_ptr<TrialStore>> s = OpenAt(path_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(s.status()), HasSubstr(path_));
  EXPECT_THAT(Msg(s.status()), HasSubstr("not an hpt database"));

  const std::string other = dir_ + "/other-app.db";
  {
    RawDb raw(other);
    ASSERT_EQ(raw.Exec("PRAGMA application_id = 42"), SQLITE_OK);
  }
  EXPECT_EQ(OpenAt(other).status().code(), absl::StatusCode::kDataLoss);

  RawDb raw(path_);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(raw.Query("SELECT count(*) FROM sqlite_master"), "1");
}

TEST_F(TrialStoreTest, BadOptionsAndPaths) {
  EXPECT_EQ(OpenAt(path_, {.synchronous = "OFF"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenAt(path_, {.max_batch_points = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenAt(path_, {.busy_timeout_ms = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenAt("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenAt(":memory:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path_));  // refused before touching anything
  EXPECT_TRUE(OpenAt(path_, {.synchronous = "full"}).ok());

  const std::string nowhere = dir_ + "/no/such/dir/hpt.db";
  absl::StatusOr<std::unique_ptr<TrialStore>> s = OpenAt(nowhere);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Msg(s.status()), HasSubstr(nowhere));
}

TEST_F(TrialStoreTest, WritesFailUnavailableWhileAnotherProcessHoldsTheLock) {
  Reopen({.busy_timeout_ms = 0});
  const int64_t study = MakeStudy("s");
  const int64_t t = MakeTrial(study, "t");
  RawDb other(path_);
  ASSERT_EQ(other.Exec("BEGIN IMMEDIATE"), SQLITE_OK);
  EXPECT_EQ(store_->CreateStudy(StudyNamed("blocked")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->AppendMetrics(t, 1, {{.name = "m", .value = 1}}).status().code(),
            absl::StatusCode::kUnavailable);
  // Reads go on under WAL.
  EXPECT_TRUE(store_->GetTrial(t).ok());
  ASSERT_EQ(other.Exec("ROLLBACK"), SQLITE_OK);
  // The failed report consumed nothing: the same seq is stored now.
  ASSERT_OK_AND_ASSIGN(AppendResult r, store_->AppendMetrics(t, 1, {{.name = "m", .value = 1}}));
  EXPECT_EQ(r.stored, 1);
  EXPECT_FALSE(r.duplicate);
  EXPECT_TRUE(store_->CreateStudy(StudyNamed("unblocked")).ok());
}

// A trial run again after an engine restart gets a new token: from the commit on, appends held
// to the old hash are refused, those held to the new one (or to none) stored.
TEST_F(TrialStoreTest, SetTrialTokenHashReplacesTheTokenForLaterAppends) {
  Reopen();
  const int64_t study = MakeStudy("s");
  absl::StatusOr<TrialRecord> t = store_->CreateTrial(
      {.study_id = study, .name = "t", .params = {{"lr", "0.1"}}, .token_hash = "old"});
  ASSERT_OK(t.status());
  auto append = [&](uint64_t seq, const std::string& hash) {
    return AppendHeldTo(t->id, seq, hash);
  };
  ASSERT_OK(append(1, "old").status());
  ASSERT_OK(store_->SetTrialTokenHash(t->id, "new"));
  ASSERT_OK_AND_ASSIGN(TrialRecord after, store_->GetTrial(t->id));
  EXPECT_EQ(after.token_hash, "new");
  EXPECT_EQ(after.state, TrialState::kPending);  // nothing else changed
  EXPECT_EQ(after.attempt, 0);
  absl::StatusOr<AppendResult> stale = append(2, "old");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_OK(append(3, "new").status());
  EXPECT_EQ(History(t->id).size(), 2u);
  // Reopening the file keeps it.
  Reopen();
  ASSERT_OK_AND_ASSIGN(TrialRecord reread, store_->GetTrial(t->id));
  EXPECT_EQ(reread.token_hash, "new");
}

TEST_F(TrialStoreTest, SetTrialTokenHashOfUnknownOrFinishedTrials) {
  Reopen();
  const int64_t t = MakeTrial(MakeStudy("s"), "t");
  absl::Status unknown = store_->SetTrialTokenHash(t + 100, "x");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(unknown), HasSubstr(std::to_string(t + 100)));
  ASSERT_OK(store_->SetTrialState(t, TrialState::kRunning, "TrialRunning", ""));
  ASSERT_OK(store_->SetTrialTokenHash(t, "while-running"));
  ASSERT_OK(store_->SetTrialState(t, TrialState::kFailed, "TrialLost", "gone"));
  absl::Status finished = store_->SetTrialTokenHash(t, "late");
  EXPECT_EQ(finished.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(finished), HasSubstr("already FAILED"));
  ASSERT_OK_AND_ASSIGN(TrialRecord r, store_->GetTrial(t));
  EXPECT_EQ(r.token_hash, "while-running");
}

}  // namespace
}  // namespace hpt::tracker
