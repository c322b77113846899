// hptd's StudyService end to end: a real gRPC server on a Unix socket and on loopback TCP, a
// StudyManager running studies as real processes (local runner), a real SQLite tracker file.
#include "engine/study_service.h"

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "engine/metrics_service.h"
#include "engine/study_manager.h"
#include "hpt/v1/study.grpc.pb.h"
#include "tests/engine/test_studies.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;

constexpr char kToken[] = "0123456789abcdef-admin";

class StudyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("study_service_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    metrics_ = std::make_unique<MetricsServer>(store_.get(), MetricsServerOptions{});
    auto port = metrics_->Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    runner::LocalRunnerOptions ro;
    ro.grace_period_seconds = 1;
    runner_ = std::make_unique<runner::LocalRunner>(ro);
    manager_ = std::make_unique<StudyManager>(
        store_.get(), runner_.get(),
        StudyManagerOptions{.endpoint = "127.0.0.1:" + std::to_string(*port),
                            .runs_dir = (dir_ / "runs").string(),
                            .poll_interval_ms = 20});
    socket_ = (dir_ / "hptd.sock").string();
    admin_ = std::make_unique<AdminServer>(
        manager_.get(), store_.get(),
        AdminServerOptions{
            .unix_socket = socket_, .tcp_address = "127.0.0.1:0", .admin_token = kToken});
    auto admin_port = admin_->Start();
    ASSERT_TRUE(admin_port.ok()) << admin_port.status();
    tcp_port_ = *admin_port;
    stub_ = hpt::v1::StudyService::NewStub(
        grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    admin_.reset();
    manager_.reset();
    runner_.reset();
    metrics_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return ctx;
  }

  grpc::Status Submit(const std::string& yaml, hpt::v1::Study* out, bool allow_rename = false) {
    hpt::v1::SubmitRequest req;
    req.set_spec_yaml(yaml);
    req.set_file_name("study.yaml");
    req.set_allow_rename(allow_rename);
    return stub_->Submit(Ctx().get(), req, out);
  }

  // Follows the study with Watch until it is no longer live; the last Study seen.
  hpt::v1::Study WatchToEnd(const std::string& name, int* events = nullptr,
                            std::vector<std::string>* texts = nullptr) {
    hpt::v1::StudyRef ref;
    ref.set_name(name);
    auto ctx = Ctx();
    auto reader = stub_->Watch(ctx.get(), ref);
    hpt::v1::StudyEvent e;
    hpt::v1::Study last;
    int n = 0;
    while (reader->Read(&e)) {
      last = e.study();
      if (texts) texts->push_back(e.event());
      ++n;
    }
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (events) *events = n;
    return last;
  }

  // Polls Get until `want` holds (bounded); the last Study.
  hpt::v1::Study WaitFor(const std::string& name,
                         const std::function<bool(const hpt::v1::Study&)>& want) {
    hpt::v1::Study s;
    for (int i = 0; i < 3000; ++i) {
      hpt::v1::StudyRef ref;
      ref.set_name(name);
      EXPECT_TRUE(stub_->Get(Ctx().get(), ref, &s).ok());
      if (want(s)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "timed out; last: " << s.DebugString();
    return s;
  }

  fs::path dir_;
  std::string socket_;
  int tcp_port_ = 0;
  std::unique_ptr<tracker::TrialStore> store_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<runner::LocalRunner> runner_;
  std::unique_ptr<StudyManager> manager_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<hpt::v1::StudyService::Stub> stub_;
};

TEST_F(StudyServiceTest, SubmitWatchAndReadTheTrials) {
  hpt::v1::Study s;
  grpc::Status st = Submit(Experiment("echo", "echo loss=${trialParameters.x}", 2, 4), &s);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(s.name(), "echo");
  EXPECT_EQ(s.state(), hpt::v1::RUNNING);
  int events = 0;
  std::vector<std::string> texts;
  hpt::v1::Study last = WatchToEnd("echo", &events, &texts);
  // Every trial's ending reaches the watcher, however close together they came.
  for (int i = 1; i <= 4; ++i) {
    const std::string want = "echo-0000" + std::to_string(i) + " SUCCEEDED";
    int seen = 0;
    for (const std::string& t : texts) seen += t.rfind(want, 0) == 0;
    EXPECT_EQ(seen, 1) << want;
  }
  EXPECT_EQ(last.state(), hpt::v1::SUCCEEDED) << last.DebugString();
  EXPECT_EQ(last.reason(), "ExperimentMaxTrialsReached");
  EXPECT_FALSE(last.live());
  EXPECT_EQ(last.progress().succeeded(), 4);
  EXPECT_EQ(last.progress().max_trial_count(), 4);
  EXPECT_GE(events, 2);

  hpt::v1::ListTrialsRequest lt;
  lt.set_name("echo");
  hpt::v1::ListTrialsResponse trials;
  ASSERT_TRUE(stub_->ListTrials(Ctx().get(), lt, &trials).ok());
  ASSERT_EQ(trials.trials_size(), 4);
  for (const hpt::v1::Trial& t : trials.trials()) {
    EXPECT_EQ(t.state(), "SUCCEEDED");
    EXPECT_DOUBLE_EQ(t.objective(), std::stod(t.params().at("x")));
  }
  lt.set_limit(1);
  hpt::v1::ListTrialsResponse best;
  ASSERT_TRUE(stub_->Leaderboard(Ctx().get(), lt, &best).ok());
  ASSERT_EQ(best.trials_size(), 1);
  EXPECT_EQ(best.trials(0).name(), last.progress().best_trial());

  hpt::v1::MetricHistoryRequest mh;
  mh.set_trial(best.trials(0).name());
  mh.set_metric("loss");
  hpt::v1::MetricHistoryResponse points;
  ASSERT_TRUE(stub_->MetricHistory(Ctx().get(), mh, &points).ok());
  ASSERT_EQ(points.points_size(), 1);
  EXPECT_DOUBLE_EQ(points.points(0).value(), best.trials(0).objective());

  hpt::v1::ListStudiesResponse all;
  ASSERT_TRUE(stub_->List(Ctx().get(), {}, &all).ok());
  ASSERT_EQ(all.studies_size(), 1);
}

TEST_F(StudyServiceTest, BadStudiesAndNamesAreRefusedPrecisely) {
  hpt::v1::Study s;
  grpc::Status st = Submit("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nspec: [\n", &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("study.yaml:"), std::string::npos) << st.error_message();

  const std::string good = Experiment("dup", "echo loss=${trialParameters.x}", 1, 1);
  ASSERT_TRUE(Submit(good, &s).ok());
  st = Submit(good, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::ALREADY_EXISTS) << st.error_message();
  ASSERT_TRUE(Submit(good, &s, /*allow_rename=*/true).ok());
  EXPECT_EQ(s.name(), "dup-2");

  hpt::v1::StudyRef ref;
  ref.set_name("nope");
  st = stub_->Get(Ctx().get(), ref, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  WatchToEnd("dup");
  WatchToEnd("dup-2");
}

TEST_F(StudyServiceTest, StopKillsTheRunningTrialsAndResumeContinues) {
  hpt::v1::Study s;
  ASSERT_TRUE(
      Submit(Experiment("long", "sleep 30; echo loss=${trialParameters.x}", 2, 4), &s).ok());
  WaitFor("long", [](const hpt::v1::Study& s) { return s.progress().running() == 2; });
  hpt::v1::StopRequest stop;
  stop.set_name("long");
  ASSERT_TRUE(stub_->Stop(Ctx().get(), stop, &s).ok());
  hpt::v1::Study last = WatchToEnd("long");
  EXPECT_EQ(last.state(), hpt::v1::FAILED);
  EXPECT_EQ(last.reason(), "ExperimentStopped");
  EXPECT_EQ(last.progress().killed(), 2);
  grpc::Status st = stub_->Stop(Ctx().get(), stop, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();

  // Resume continues with the next trial numbers; the stopped trials stay KILLED.
  hpt::v1::ResumeRequest resume;
  resume.set_name("long");
  resume.set_max_trial_count(1);
  st = stub_->Resume(Ctx().get(), resume, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  resume.set_max_trial_count(3);
  ASSERT_TRUE(stub_->Resume(Ctx().get(), resume, &s).ok());
  EXPECT_TRUE(s.live());
  st = stub_->Resume(Ctx().get(), resume, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  WaitFor("long", [](const hpt::v1::Study& s) { return s.progress().running() == 1; });
  ASSERT_TRUE(stub_->Stop(Ctx().get(), stop, &s).ok());
  last = WatchToEnd("long");
  EXPECT_EQ(last.progress().created(), 3);
  auto trial = store_->FindTrial("long-00003");
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->state, tracker::TrialState::kKilled);
}

TEST_F(StudyServiceTest, StopCanLetRunningTrialsFinish) {
  hpt::v1::Study s;
  ASSERT_TRUE(
      Submit(Experiment("finish", "sleep 1; echo loss=${trialParameters.x}", 2, 10), &s).ok());
  WaitFor("finish", [](const hpt::v1::Study& s) { return s.progress().running() == 2; });
  hpt::v1::StopRequest stop;
  stop.set_name("finish");
  stop.set_let_running_finish(true);
  ASSERT_TRUE(stub_->Stop(Ctx().get(), stop, &s).ok());
  hpt::v1::Study last = WatchToEnd("finish");
  EXPECT_EQ(last.reason(), "ExperimentStopped");
  EXPECT_EQ(last.progress().succeeded(), 2);
  EXPECT_EQ(last.progress().killed(), 0);
  EXPECT_EQ(last.progress().created(), 2);
}

TEST_F(StudyServiceTest, DeleteRemovesAStudyWithItsTrialsAndFiles) {
  hpt::v1::Study s;
  ASSERT_TRUE(Submit(Experiment("done", "echo loss=${trialParameters.x}", 2, 3), &s).ok());
  ASSERT_TRUE(Submit(Experiment("busy", "sleep 30; echo loss=${trialParameters.x}", 2, 4), &s)
                  .ok());
  EXPECT_EQ(WatchToEnd("done").state(), hpt::v1::SUCCEEDED);
  WaitFor("busy", [](const hpt::v1::Study& s) { return s.progress().running() == 2; });
  ASSERT_TRUE(fs::exists(dir_ / "runs" / "done"));

  hpt::v1::DeleteRequest del;
  hpt::v1::DeleteResponse resp;
  del.set_name("done");
  ASSERT_TRUE(stub_->Delete(Ctx().get(), del, &resp).ok());
  EXPECT_EQ(resp.name(), "done");
  EXPECT_EQ(resp.trials(), 3);
  hpt::v1::StudyRef ref;
  ref.set_name("done");
  EXPECT_EQ(stub_->Get(Ctx().get(), ref, &s).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(store_->FindTrial("done-00001").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "done"));
  EXPECT_EQ(stub_->Delete(Ctx().get(), del, &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  // A running study needs force, which stops it first.
  del.set_name("busy");
  grpc::Status st = stub_->Delete(Ctx().get(), del, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("running"));
  ref.set_name("busy");
  ASSERT_TRUE(stub_->Get(Ctx().get(), ref, &s).ok());
  EXPECT_TRUE(s.live());
  del.set_force(true);
  st = stub_->Delete(Ctx().get(), del, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.trials(), 2);
  EXPECT_EQ(stub_->Get(Ctx().get(), ref, &s).error_code(), grpc::StatusCode::NOT_FOUND);
  hpt::v1::ListStudiesResponse all;
  ASSERT_TRUE(stub_->List(Ctx().get(), {}, &all).ok());
  EXPECT_EQ(all.studies_size(), 0);

  // The name can be used again, from nothing.
  ASSERT_TRUE(Submit(Experiment("done", "echo loss=${trialParameters.x}", 1, 1), &s).ok());
  hpt::v1::Study again = WatchToEnd("done");
  EXPECT_EQ(again.state(), hpt::v1::SUCCEEDED);
  EXPECT_EQ(again.progress().created(), 1);
}

// When the goal is reached, the other running trial is stopped (KILLED) by default, or runs to
// its end with spec.hpt.runningTrialsOnCompletion: Finish.
TEST_F(StudyServiceTest, RunningTrialsOnCompletionStopOrFinish) {
  for (const std::string policy : {"Stop", "Finish"}) {
    SCOPED_TRACE(policy);
    const std::string name = policy == "Stop" ? "goal-stop" : "goal-finish";
    // The first trial to start reaches the goal at once; the other one takes 3 seconds.
    const std::string flag = (dir_ / (name + ".first")).string();
    const std::string script = "if mkdir " + flag +
                               " 2>/dev/null; then echo loss=0; else sleep 3; echo loss=1; fi; "
                               ": ${trialParameters.x}";
    hpt::v1::Study s;
    ASSERT_TRUE(Submit(Experiment(name, script,
                                  "  parallelTrialCount: 2\n  maxTrialCount: 4\n  hpt:\n"
                                  "    runningTrialsOnCompletion: " + policy,
                                  "    type: minimize\n    goal: 0.5\n"
                                  "    objectiveMetricName: loss\n"),
                       &s)
                    .ok());
    hpt::v1::Study last = WatchToEnd(name);
    EXPECT_EQ(last.reason(), "ExperimentGoalReached");
    EXPECT_EQ(last.progress().created(), 2);
    EXPECT_EQ(last.progress().succeeded(), policy == "Stop" ? 1 : 2);
    EXPECT_EQ(last.progress().killed(), policy == "Stop" ? 1 : 0);
  }
}

TEST_F(StudyServiceTest, UpdateChangesTheBudgetOfARunningStudy) {
  hpt::v1::Study s;
  ASSERT_TRUE(Submit(Experiment("grow", "sleep 1; echo loss=${trialParameters.x}", 1, 2), &s).ok());
  hpt::v1::UpdateRequest up;
  up.set_name("grow");
  up.set_parallel_trial_count(0);
  grpc::Status st = stub_->Update(Ctx().get(), up, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "parallelTrialCount must be >= 1, got 0");
  up.set_parallel_trial_count(3);
  up.set_max_trial_count(3);
  ASSERT_TRUE(stub_->Update(Ctx().get(), up, &s).ok());
  EXPECT_EQ(s.progress().parallel_trial_count(), 3);
  hpt::v1::Study seen =
      WaitFor("grow", [](const hpt::v1::Study& s) { return s.progress().running() >= 2; });
  EXPECT_GE(seen.progress().running(), 2);
  hpt::v1::Study last = WatchToEnd("grow");
  EXPECT_EQ(last.state(), hpt::v1::SUCCEEDED);
  EXPECT_EQ(last.progress().succeeded(), 3);
  st = stub_->Update(Ctx().get(), up, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(StudyServiceTest, TcpNeedsTheAdminTokenAndTheSocketIsPrivate) {
  struct stat st_buf {};
  ASSERT_EQ(::stat(socket_.c_str(), &st_buf), 0);
  EXPECT_EQ(st_buf.st_mode & 0777, 0600);

  auto tcp = hpt::v1::StudyService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(tcp_port_), grpc::InsecureChannelCredentials()));
  hpt::v1::ListStudiesResponse all;
  grpc::Status st = tcp->List(Ctx().get(), {}, &all);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto wrong = Ctx();
  wrong->AddMetadata("authorization", "Bearer not-the-token");
  st = tcp->List(wrong.get(), {}, &all);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "wrong admin token");
  auto right = Ctx();
  right->AddMetadata("authorization", std::string("Bearer ") + kToken);
  st = tcp->List(right.get(), {}, &all);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST(AdminServerTest, NoAnonymousTcp) {
  StudyManager* none = nullptr;
  AdminServer a(none, nullptr, {.tcp_address = "127.0.0.1:0"});
  absl::StatusOr<int> s = a.Start();
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
  AdminServer b(none, nullptr, {.tcp_address = "127.0.0.1:0", .admin_token = "short"});
  EXPECT_EQ(b.Start().status().message(), "the admin token must be at least 16 characters");
}

TEST_F(StudyServiceTest, ShutdownLeavesStudiesRunning) {
  hpt::v1::Study s;
  ASSERT_TRUE(
      Submit(Experiment("stay", "sleep 30; echo loss=${trialParameters.x}", 1, 2), &s).ok());
  WaitFor("stay", [](const hpt::v1::Study& s) { return s.progress().running() == 1; });
  admin_->Shutdown();
  manager_->Shutdown();
  auto study = store_->FindStudy("stay");
  ASSERT_TRUE(study.ok());
  EXPECT_EQ(study->state, tracker::StudyState::kRunning);
  absl::StatusOr<StudyView> v =
      manager_->Submit(Experiment("late", "echo loss=${trialParameters.x}", 1, 1), "x.yaml", {});
  EXPECT_TRUE(absl::IsUnavailable(v.status())) << v.status();
}

TEST_F(StudyServiceTest, RestartTakesUpRunningStudiesAndRunsLostTrialsAgain) {
  hpt::v1::Study s;
  ASSERT_TRUE(
      Submit(Experiment("again", "sleep 2; echo loss=${trialParameters.x}", 1, 2), &s).ok());
  WaitFor("again", [](const hpt::v1::Study& s) { return s.progress().running() == 1; });
  // The engine stops (its trials' processes go with its runner), then a new one starts.
  admin_->Shutdown();
  manager_->Shutdown();
  manager_.reset();
  runner_.reset();
  runner_ = std::make_unique<runner::LocalRunner>(runner::LocalRunnerOptions{});
  manager_ = std::make_unique<StudyManager>(
      store_.get(), runner_.get(),
      StudyManagerOptions{.runs_dir = (dir_ / "runs").string(), .poll_interval_ms = 20});
  absl::StatusOr<std::vector<std::string>> taken = manager_->RecoverAll();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, std::vector<std::string>{"again"});
  for (;;) {
    absl::StatusOr<StudyUpdate> u = manager_->WaitForChange("again", 0, absl::Seconds(1));
    ASSERT_TRUE(u.ok()) << u.status();
    if (!u->view.live) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Its process went with the old engine: the trial ran again once (attempt 2) and finished.
  auto again = store_->FindTrial("again-00001");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, tracker::TrialState::kSucceeded) << again->message;
  auto events = store_->ListEvents(again->study_id);
  ASSERT_TRUE(events.ok()) << events.status();
  int requeued = 0;
  for (const tracker::Event& e : *events) {
    if (e.kind != "TrialRequeued" || e.trial_id != again->id) continue;
    ++requeued;
    EXPECT_NE(e.message.find("run again as attempt 2"), std::string::npos) << e.message;
  }
  EXPECT_EQ(requeued, 1);
  auto next = store_->FindTrial("again-00002");
  ASSERT_TRUE(next.ok()) << next.status();  // the study went on with a new trial
  EXPECT_TRUE(tracker::IsTerminal(next->state));
  auto study = store_->FindStudy("again");
  ASSERT_TRUE(study.ok());
  EXPECT_NE(study->state, tracker::StudyState::kRunning);
  // Nothing left to take up.
  taken = manager_->RecoverAll();
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->empty());
}

}  // namespace
}  // namespace hpt::engine
