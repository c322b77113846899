// hptd's StudyService end to end: a real gRPC server on a Unix socket and on loopback TCP, a
// StudyManager running studies as real processes (local runner), a real SQLite tracker file.
#include "engine/study_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/metrics_service.h"
#include "engine/study_manager.h"
#include "engine/trigger_manager.h"
#include "hpt/v1/study.grpc.pb.h"
#include "tests/common/test_dirs.h"
#include "tests/engine/test_studies.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;

constexpr char kToken[] = "0123456789abcdef-admin";

class StudyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::FreshTestDir("study_service");
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
    // Never started: a trigger is evaluated only when a test calls EvaluateTriggers.
    triggers_ = std::make_unique<TriggerManager>(store_.get(), manager_.get(),
                                                 TriggerManagerOptions{.interval = absl::Hours(1)});
    socket_ = (dir_ / "hptd.sock").string();
    admin_ = std::make_unique<AdminServer>(manager_.get(), store_.get(),
                                           AdminServerOptions{.unix_socket = socket_,
                                                              .tcp_address = "127.0.0.1:0",
                                                              .admin_token = kToken,
                                                              .triggers = triggers_.get()});
    auto admin_port = admin_->Start();
    ASSERT_TRUE(admin_port.ok()) << admin_port.status();
    tcp_port_ = *admin_port;
    stub_ = hpt::v1::StudyService::NewStub(
        grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    admin_.reset();
    triggers_.reset();
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
  std::unique_ptr<TriggerManager> triggers_;
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
  ASSERT_TRUE(
      Submit(Experiment("busy", "sleep 30; echo loss=${trialParameters.x}", 2, 4), &s).ok());
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
                                  "    runningTrialsOnCompletion: " +
                                      policy,
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

// ---- retraining triggers ----

// A RetrainTrigger watching project fraud's model metric auc, firing below 0.9, with `action`
// (the lines under spec.action, indented by 4).
std::string AucTrigger(const std::string& name, const std::string& action) {
  return "apiVersion: hpt.dev/v1\n"
         "kind: RetrainTrigger\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  watch:\n"
         "    model: {project: fraud, metric: auc}\n"
         "  condition:\n"
         "    below: 0.9\n"
         "  cooldown: 1h\n"
         "  action:\n" +
         action;
}

grpc::Status ApplyTrigger(hpt::v1::StudyService::Stub* stub, grpc::ClientContext* ctx,
                          const std::string& yaml, hpt::v1::TriggerInfo* out,
                          const std::string& study_yaml = "") {
  hpt::v1::ApplyTriggerRequest req;
  req.set_yaml(yaml);
  req.set_file_name("auc.yaml");
  req.set_study_yaml(study_yaml);
  return stub->ApplyTrigger(ctx, req, out);
}

grpc::Status ReportAuc(hpt::v1::StudyService::Stub* stub, grpc::ClientContext* ctx, double auc,
                       hpt::v1::ReportModelMetricsResponse* out) {
  hpt::v1::ReportModelMetricsRequest req;
  req.set_project("fraud");
  hpt::v1::ModelMetric* m = req.add_metrics();
  m->set_name("auc");
  m->set_value(auc);
  return stub->ReportModelMetrics(ctx, req, out);
}

TEST_F(StudyServiceTest, TriggerRpcsAreUnimplementedWithoutATriggerManager) {
  const std::string socket = (dir_ / "plain.sock").string();
  AdminServer plain(manager_.get(), store_.get(), {.unix_socket = socket});
  ASSERT_TRUE(plain.Start().ok());
  auto stub = hpt::v1::StudyService::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  std::vector<grpc::Status> got;
  hpt::v1::TriggerInfo info;
  got.push_back(ApplyTrigger(stub.get(), Ctx().get(),
                             AucTrigger("t", "    retrainTrial: {study: s}\n"), &info));
  hpt::v1::ListTriggersResponse list;
  got.push_back(stub->ListTriggers(Ctx().get(), {}, &list));
  hpt::v1::TriggerRef ref;
  ref.set_name("t");
  got.push_back(stub->DeleteTrigger(Ctx().get(), ref, &ref));
  hpt::v1::TriggerHistoryRequest hreq;
  hpt::v1::TriggerHistoryResponse history;
  got.push_back(stub->TriggerHistory(Ctx().get(), hreq, &history));
  hpt::v1::ReportModelMetricsResponse stored;
  got.push_back(ReportAuc(stub.get(), Ctx().get(), 0.5, &stored));
  got.push_back(stub->EvaluateTriggers(Ctx().get(), {}, &history));
  ASSERT_EQ(got.size(), 6u);
  for (const grpc::Status& st : got) {
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
    EXPECT_EQ(st.error_message(), "this hptd runs no triggers");
  }
  // Nothing reached the store.
  auto points = store_->ModelSeries({.project = "fraud", .metric = "auc"});
  ASSERT_TRUE(points.ok()) << points.status();
  EXPECT_TRUE(points->empty());
}

// The whole round: apply, list, report, evaluate (no firing, then one retraining the champion),
// the cooldown, history, and delete.
TEST_F(StudyServiceTest, TriggerFiresOnAReportedMetricAndRetrainsTheChampion) {
  hpt::v1::Study s;
  ASSERT_TRUE(Submit(Experiment("champ", "echo loss=${trialParameters.x}", 1, 3), &s).ok());
  ASSERT_EQ(WatchToEnd("champ").state(), hpt::v1::SUCCEEDED);
  hpt::v1::ListTrialsRequest lt;
  lt.set_name("champ");
  lt.set_limit(1);
  hpt::v1::ListTrialsResponse best;
  ASSERT_TRUE(stub_->Leaderboard(Ctx().get(), lt, &best).ok());
  ASSERT_EQ(best.trials_size(), 1);

  const std::string yaml = AucTrigger("auc-drop", "    retrainTrial: {study: champ}\n");
  hpt::v1::TriggerInfo info;
  grpc::Status st = ApplyTrigger(stub_.get(), Ctx().get(), yaml, &info);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(info.name(), "auc-drop");
  EXPECT_TRUE(info.created());
  EXPECT_FALSE(info.summary().empty());
  EXPECT_TRUE(info.warnings().empty());
  EXPECT_GT(info.applied_ms(), 0);
  EXPECT_EQ(info.updated_ms(), info.applied_ms());
  hpt::v1::TriggerInfo again;
  ASSERT_TRUE(ApplyTrigger(stub_.get(), Ctx().get(), yaml, &again).ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.applied_ms(), info.applied_ms());
  EXPECT_EQ(again.summary(), info.summary());

  hpt::v1::ListTriggersResponse list;
  ASSERT_TRUE(stub_->ListTriggers(Ctx().get(), {}, &list).ok());
  ASSERT_EQ(list.triggers_size(), 1);
  EXPECT_EQ(list.triggers(0).name(), "auc-drop");
  EXPECT_EQ(list.triggers(0).summary(), info.summary());
  EXPECT_FALSE(list.triggers(0).has_last_value());
  EXPECT_EQ(list.triggers(0).last_evaluated_ms(), 0);
  EXPECT_EQ(list.triggers(0).last_fired_ms(), 0);
  EXPECT_EQ(list.triggers(0).last_firing_state(), "");

  hpt::v1::ReportModelMetricsResponse stored;
  ASSERT_TRUE(ReportAuc(stub_.get(), Ctx().get(), 0.95, &stored).ok());
  EXPECT_EQ(stored.stored(), 1);
  hpt::v1::TriggerHistoryResponse fired;
  ASSERT_TRUE(stub_->EvaluateTriggers(Ctx().get(), {}, &fired).ok());
  EXPECT_EQ(fired.firings_size(), 0);
  ASSERT_TRUE(stub_->ListTriggers(Ctx().get(), {}, &list).ok());
  ASSERT_EQ(list.triggers_size(), 1);
  EXPECT_TRUE(list.triggers(0).has_last_value());
  EXPECT_DOUBLE_EQ(list.triggers(0).last_value(), 0.95);
  EXPECT_GT(list.triggers(0).last_evaluated_ms(), 0);
  EXPECT_FALSE(list.triggers(0).last_reason().empty());
  EXPECT_EQ(list.triggers(0).last_fired_ms(), 0);

  ASSERT_TRUE(ReportAuc(stub_.get(), Ctx().get(), 0.8, &stored).ok());
  ASSERT_TRUE(stub_->EvaluateTriggers(Ctx().get(), {}, &fired).ok());
  ASSERT_EQ(fired.firings_size(), 1);
  const hpt::v1::TriggerFiring f = fired.firings(0);
  EXPECT_GT(f.id(), 0);
  EXPECT_EQ(f.trigger(), "auc-drop");
  ASSERT_TRUE(f.has_value());
  EXPECT_DOUBLE_EQ(f.value(), 0.8);
  EXPECT_EQ(f.action(), "retrainTrial");
  EXPECT_EQ(f.state(), "DONE");
  EXPECT_EQ(f.result(), "champ-retrain-" + std::to_string(f.id()));
  EXPECT_FALSE(f.reason().empty());

  // The cooldown (1h): a lower value fires nothing more.
  ASSERT_TRUE(ReportAuc(stub_.get(), Ctx().get(), 0.7, &stored).ok());
  ASSERT_TRUE(stub_->EvaluateTriggers(Ctx().get(), {}, &fired).ok());
  EXPECT_EQ(fired.firings_size(), 0);

  hpt::v1::TriggerHistoryRequest hreq;
  hreq.set_name("auc-drop");
  hpt::v1::TriggerHistoryResponse history;
  ASSERT_TRUE(stub_->TriggerHistory(Ctx().get(), hreq, &history).ok());
  ASSERT_EQ(history.firings_size(), 1);
  EXPECT_EQ(history.firings(0).id(), f.id());
  EXPECT_EQ(history.firings(0).state(), "DONE");
  EXPECT_EQ(history.firings(0).result(), f.result());
  EXPECT_EQ(history.firings(0).time_ms(), f.time_ms());
  EXPECT_GE(history.firings(0).finished_ms(), f.time_ms());
  ASSERT_TRUE(stub_->ListTriggers(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.triggers(0).last_fired_ms(), f.time_ms());
  EXPECT_EQ(list.triggers(0).last_firing_state(), "DONE");
  EXPECT_EQ(list.triggers(0).last_firing_result(), f.result());

  // The retraining study: one trial with the champion's parameters.
  hpt::v1::Study retrain = WatchToEnd(f.result());
  EXPECT_EQ(retrain.state(), hpt::v1::SUCCEEDED) << retrain.DebugString();
  hpt::v1::ListTrialsRequest rt;
  rt.set_name(f.result());
  hpt::v1::ListTrialsResponse trials;
  ASSERT_TRUE(stub_->ListTrials(Ctx().get(), rt, &trials).ok());
  ASSERT_EQ(trials.trials_size(), 1);
  EXPECT_EQ(trials.trials(0).params().at("x"), best.trials(0).params().at("x"));

  hpt::v1::TriggerRef ref;
  ref.set_name("auc-drop");
  hpt::v1::TriggerRef deleted;
  ASSERT_TRUE(stub_->DeleteTrigger(Ctx().get(), ref, &deleted).ok());
  EXPECT_EQ(deleted.name(), "auc-drop");
  st = stub_->DeleteTrigger(Ctx().get(), ref, &deleted);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  st = stub_->TriggerHistory(Ctx().get(), hreq, &history);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  ASSERT_TRUE(stub_->ListTriggers(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.triggers_size(), 0);
}

TEST_F(StudyServiceTest, BadTriggersAreRefusedWithTheirCodes) {
  hpt::v1::TriggerInfo info;
  // A file that does not load: INVALID_ARGUMENT naming file:line:column.
  grpc::Status st =
      ApplyTrigger(stub_.get(), Ctx().get(),
                   AucTrigger("t", "    retrainTrial: {study: s}\n") + "  unknownKey: 1\n", &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("auc.yaml:13:3:"), std::string::npos) << st.error_message();
  // A study it names does not exist: NOT_FOUND.
  st = ApplyTrigger(stub_.get(), Ctx().get(), AucTrigger("t", "    retrainTrial: {study: nope}\n"),
                    &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("\"nope\""), std::string::npos) << st.error_message();
  const std::string watch_study =
      "apiVersion: hpt.dev/v1\nkind: RetrainTrigger\nmetadata: {name: w}\nspec:\n"
      "  watch: {study: {name: missing}}\n  condition: {newBest: {}}\n"
      "  action: {retrainTrial: {}}\n";
  st = ApplyTrigger(stub_.get(), Ctx().get(), watch_study, &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("\"missing\""), std::string::npos) << st.error_message();
  // submitStudy with a file whose text was not sent: INVALID_ARGUMENT.
  st = ApplyTrigger(stub_.get(), Ctx().get(), AucTrigger("t", "    submitStudy: {file: s.yaml}\n"),
                    &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("s.yaml"), std::string::npos) << st.error_message();
  hpt::v1::ListTriggersResponse list;
  ASSERT_TRUE(stub_->ListTriggers(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.triggers_size(), 0);

  hpt::v1::TriggerHistoryRequest hreq;
  hreq.set_name("nope");
  hpt::v1::TriggerHistoryResponse history;
  st = stub_->TriggerHistory(Ctx().get(), hreq, &history);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  hreq.set_name("");
  hreq.set_limit(-1);
  st = stub_->TriggerHistory(Ctx().get(), hreq, &history);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "limit must be >= 0, got -1");
  hreq.set_limit(0);
  ASSERT_TRUE(stub_->TriggerHistory(Ctx().get(), hreq, &history).ok());
  EXPECT_EQ(history.firings_size(), 0);
  hpt::v1::TriggerRef ref;
  ref.set_name("nope");
  st = stub_->DeleteTrigger(Ctx().get(), ref, &ref);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
}

TEST_F(StudyServiceTest, ReportModelMetricsStoresThePoints) {
  hpt::v1::ReportModelMetricsRequest req;
  req.set_project("fraud");
  req.set_experiment("prod");
  req.set_model("v3");
  for (auto [name, value, time] : {std::tuple<const char*, double, int64_t>{"auc", 0.93, 1000},
                                   {"auc", 0.91, 2000},
                                   {"latency", 12.5, 1500}}) {
    hpt::v1::ModelMetric* m = req.add_metrics();
    m->set_name(name);
    m->set_value(value);
    m->set_time_ms(time);
  }
  hpt::v1::ReportModelMetricsResponse resp;
  grpc::Status st = stub_->ReportModelMetrics(Ctx().get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.stored(), 3);
  auto auc = store_->ModelSeries(
      {.project = "fraud", .experiment = "prod", .model = "v3", .metric = "auc"});
  ASSERT_TRUE(auc.ok()) << auc.status();
  ASSERT_EQ(auc->size(), 2u);
  EXPECT_EQ((*auc)[0].value, 0.93);
  EXPECT_EQ((*auc)[0].time_ms, 1000);
  EXPECT_EQ((*auc)[1].value, 0.91);
  EXPECT_EQ((*auc)[1].time_ms, 2000);
  EXPECT_EQ((*auc)[1].project, "fraud");
  EXPECT_EQ((*auc)[1].experiment, "prod");
  EXPECT_EQ((*auc)[1].model, "v3");
  auto latency = store_->ModelSeries({.project = "fraud", .metric = "latency"});
  ASSERT_TRUE(latency.ok()) << latency.status();
  ASSERT_EQ(latency->size(), 1u);
  EXPECT_EQ((*latency)[0].value, 12.5);

  // time_ms 0: stamped now.
  const int64_t before = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(ReportAuc(stub_.get(), Ctx().get(), 0.5, &resp).ok());
  const int64_t after = absl::ToUnixMillis(absl::Now());
  auto now_points = store_->ModelSeries({.project = "fraud", .metric = "auc", .since_ms = 2000});
  ASSERT_TRUE(now_points.ok());
  ASSERT_EQ(now_points->size(), 1u);
  EXPECT_GE((*now_points)[0].time_ms, before);
  EXPECT_LE((*now_points)[0].time_ms, after);

  // Bad requests store nothing.
  hpt::v1::ReportModelMetricsRequest bad = req;
  bad.set_project("");
  st = stub_->ReportModelMetrics(Ctx().get(), bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "project is required (the project the model is deployed under)");
  bad = req;
  bad.clear_metrics();
  st = stub_->ReportModelMetrics(Ctx().get(), bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "no metrics: give at least one name and value");
  bad = req;
  bad.mutable_metrics(1)->set_value(std::nan(""));
  st = stub_->ReportModelMetrics(Ctx().get(), bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  bad = req;
  bad.mutable_metrics(0)->set_name("");
  st = stub_->ReportModelMetrics(Ctx().get(), bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  auc = store_->ModelSeries({.project = "fraud", .metric = "auc"});
  ASSERT_TRUE(auc.ok());
  EXPECT_EQ(auc->size(), 3u);
}

TEST_F(StudyServiceTest, TriggerRpcsOverTcpNeedTheAdminToken) {
  auto tcp = hpt::v1::StudyService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(tcp_port_), grpc::InsecureChannelCredentials()));
  hpt::v1::ReportModelMetricsResponse stored;
  grpc::Status st = ReportAuc(tcp.get(), Ctx().get(), 0.5, &stored);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  hpt::v1::TriggerInfo info;
  st = ApplyTrigger(tcp.get(), Ctx().get(), AucTrigger("t", "    retrainTrial: {study: s}\n"),
                    &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  hpt::v1::TriggerHistoryResponse history;
  st = tcp->EvaluateTriggers(Ctx().get(), {}, &history);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto points = store_->ModelSeries({.project = "fraud", .metric = "auc"});
  ASSERT_TRUE(points.ok());
  EXPECT_TRUE(points->empty());
  auto right = Ctx();
  right->AddMetadata("authorization", std::string("Bearer ") + kToken);
  st = ReportAuc(tcp.get(), right.get(), 0.5, &stored);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(stored.stored(), 1);
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

namespace hpt::engine {
namespace {

// A local runner whose Purge waits until the test lets it go: a Kubernetes API server being slow.
class SlowPurgeRunner final : public runner::TrialRunner {
 public:
  absl::Status Launch(const runner::TrialLaunch& l) override { return local_.Launch(l); }
  absl::StatusOr<runner::RunStatus> Poll(const std::string& n) override { return local_.Poll(n); }
  absl::Status Cancel(const std::string& n) override { return local_.Cancel(n); }
  absl::StatusOr<std::vector<runner::RunStatus>> Adopt(const std::string& s) override {
    return local_.Adopt(s);
  }
  absl::Status Purge(const std::string& study) override {
    entered_.Notify();
    release_.WaitForNotification();
    return local_.Purge(study);
  }
  absl::Notification entered_, release_;

 private:
  runner::LocalRunner local_{runner::LocalRunnerOptions{}};
};

// Deleting a study does not hold the manager while the runner purges: other studies answer
// meanwhile, and the study being deleted can be neither resumed nor deleted again.
TEST(StudyManagerDelete, PurgesWithoutHoldingTheManager) {
  const fs::path dir = test_support::FreshTestDir("study_manager_delete");
  auto store = tracker::TrialStore::Open({}, (dir / "hpt.db").string());
  ASSERT_TRUE(store.ok()) << store.status();
  SlowPurgeRunner runner;
  StudyManager manager(store->get(), &runner,
                       {.runs_dir = (dir / "runs").string(), .poll_interval_ms = 20});
  for (const char* name : {"a", "b"}) {
    absl::StatusOr<StudyView> v =
        manager.Submit(Experiment(name, "echo loss=${trialParameters.x}", 1, 1), "s.yaml", {});
    ASSERT_TRUE(v.ok()) << v.status();
    for (uint64_t version = 0;;) {
      absl::StatusOr<StudyUpdate> u = manager.WaitForChange(name, version, absl::Seconds(60));
      ASSERT_TRUE(u.ok()) << u.status();
      if (!u->view.live && u->view.record.state != tracker::StudyState::kRunning) break;
      ASSERT_NE(u->version, version) << "timed out";
      version = u->version;
    }
  }
  absl::StatusOr<int> deleted;
  std::thread deleter([&] { deleted = manager.Delete("a", /*force=*/false); });
  runner.entered_.WaitForNotification();
  // Answers while "a" is purged (these calls waited for the whole purge before).
  auto other = std::async(std::launch::async, [&] { return manager.Get("b"); });
  const bool answered = other.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  EXPECT_TRUE(answered) << "Get(b) waited for the purge of a";
  absl::StatusOr<StudyView> resumed = manager.Resume("a", 5);
  EXPECT_EQ(resumed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(resumed.status().message(), "study a is being deleted");
  absl::StatusOr<int> twice = manager.Delete("a", false);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(twice.status().message(), "study a is being deleted already");
  runner.release_.Notify();
  deleter.join();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  if (answered) {
    EXPECT_TRUE(other.get().ok());
  }
  EXPECT_EQ(manager.Get("a").status().code(), absl::StatusCode::kNotFound);
  manager.Shutdown();
  store->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hpt::engine
