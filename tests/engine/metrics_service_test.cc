// hpt.v1.MetricsService and Katib's DBManager over a real gRPC server on loopback, backed by a
// real SQLite tracker file.
#include "engine/metrics_service.h"

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include "engine/token.h"
#include "hpt/v1/metrics.grpc.pb.h"
#include "katib/v1beta1/api.grpc.pb.h"
#include "tracker/trial_store.h"

namespace hpt::engine {
namespace {

constexpr char kStudyYaml[] = R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: svc
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: random
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.01", max: "0.1"}
    - name: layers
      parameterType: int
      feasibleSpace: {min: "1", max: "4"}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - {name: lr, reference: lr}
      - {name: layers, reference: layers}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: x
                command: ["train", "--lr=${trialParameters.lr}", "--layers=${trialParameters.layers}"]
            restartPolicy: Never
)";

class MetricsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("metrics_service_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto study = store_->CreateStudy({.name = "svc",
                                      .spec_yaml = kStudyYaml,
                                      .spec_path = "svc.yaml",
                                      .algorithm = "random",
                                      .objective_metric = "loss"});
    ASSERT_TRUE(study.ok()) << study.status();
    token_ = NewTrialToken();
    auto trial = store_->CreateTrial({.study_id = study->id,
                                      .name = "svc-00001",
                                      .params = {{"lr", "0.05"}, {"layers", "3"}},
                                      .seed = 42,
                                      .token_hash = HashToken(token_)});
    ASSERT_TRUE(trial.ok()) << trial.status();
    trial_id_ = trial->id;
    server_ = std::make_unique<MetricsServer>(store_.get(),
                                              MetricsServerOptions{.max_points_per_request = 100});
    auto port = server_->Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port),
                                   grpc::InsecureChannelCredentials());
    stub_ = hpt::v1::MetricsService::NewStub(channel_);
    katib_ = api::v1::beta1::DBManager::NewStub(channel_);
  }

  void TearDown() override {
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  hpt::v1::ReportRequest Request(uint64_t seq, double value, std::optional<int64_t> step = {}) {
    hpt::v1::ReportRequest r;
    r.set_trial_id("svc-00001");
    r.set_token(token_);
    r.set_seq(seq);
    auto* p = r.add_points();
    p->set_name("loss");
    p->set_value(value);
    if (step) p->set_step(*step);
    return r;
  }

  grpc::Status Report(const hpt::v1::ReportRequest& r, hpt::v1::ReportResponse* resp) {
    grpc::ClientContext ctx;
    return stub_->Report(&ctx, r, resp);
  }

  std::filesystem::path dir_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::string token_;
  int64_t trial_id_ = 0;
  std::unique_ptr<MetricsServer> server_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hpt::v1::MetricsService::Stub> stub_;
  std::unique_ptr<api::v1::beta1::DBManager::Stub> katib_;
};

TEST_F(MetricsServiceTest, ReportIsStoredAndAcknowledged) {
  hpt::v1::ReportResponse resp;
  ASSERT_TRUE(Report(Request(1, 0.5, 0), &resp).ok());
  EXPECT_EQ(resp.seq(), 1u);
  EXPECT_EQ(resp.stored(), 1);
  EXPECT_FALSE(resp.duplicate());
  ASSERT_TRUE(Report(Request(2, 0.25), &resp).ok());  // no step: the next one
  auto h = store_->MetricHistory(trial_id_, "loss");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].step, 0);
  EXPECT_DOUBLE_EQ((*h)[0].value, 0.5);
  EXPECT_EQ((*h)[1].step, 1);
  EXPECT_DOUBLE_EQ((*h)[1].value, 0.25);
}

TEST_F(MetricsServiceTest, ReplayedSeqIsAcknowledgedButNotStoredTwice) {
  hpt::v1::ReportResponse resp;
  ASSERT_TRUE(Report(Request(7, 0.5, 0), &resp).ok());
  ASSERT_TRUE(Report(Request(7, 0.5, 0), &resp).ok());
  EXPECT_TRUE(resp.duplicate());
  EXPECT_EQ(resp.stored(), 0);
  EXPECT_EQ(store_->MetricHistory(trial_id_, "loss")->size(), 1u);
}

TEST_F(MetricsServiceTest, WrongTokenIsPermissionDenied) {
  auto r = Request(1, 0.5);
  r.set_token("not-the-token");
  hpt::v1::ReportResponse resp;
  grpc::Status s = Report(r, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("svc-00001"), std::string::npos) << s.error_message();
  EXPECT_TRUE(store_->MetricHistory(trial_id_, "")->empty());
}

TEST_F(MetricsServiceTest, UnknownTrialIsNotFound) {
  auto r = Request(1, 0.5);
  r.set_trial_id("nope-00001");
  hpt::v1::ReportResponse resp;
  EXPECT_EQ(Report(r, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(MetricsServiceTest, NanAndInfAreInvalidArgument) {
  hpt::v1::ReportResponse resp;
  for (double v : {std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    grpc::Status s = Report(Request(1, v), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << v;
    EXPECT_NE(s.error_message().find("points[0].value"), std::string::npos) << s.error_message();
  }
  EXPECT_TRUE(store_->MetricHistory(trial_id_, "")->empty());
}

TEST_F(MetricsServiceTest, OversizeRequestsAndBadNamesAreInvalidArgument) {
  auto r = Request(1, 0.5);
  for (int i = 0; i < 100; ++i) *r.add_points() = r.points(0);  // 101 > 100
  hpt::v1::ReportResponse resp;
  grpc::Status s = Report(r, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("at most 100"), std::string::npos) << s.error_message();

  auto empty = Request(2, 0.5);
  empty.mutable_points(0)->set_name("");
  EXPECT_EQ(Report(empty, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto longname = Request(3, 0.5);
  longname.mutable_points(0)->set_name(std::string(257, 'x'));
  EXPECT_EQ(Report(longname, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(store_->MetricHistory(trial_id_, "")->empty());
}

TEST_F(MetricsServiceTest, FinishedTrialIsFailedPrecondition) {
  ASSERT_TRUE(store_->SetTrialState(trial_id_, tracker::TrialState::kSucceeded, "done", "").ok());
  hpt::v1::ReportResponse resp;
  EXPECT_EQ(Report(Request(1, 0.5), &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(MetricsServiceTest, StreamStoresEveryMessage) {
  grpc::ClientContext ctx;
  hpt::v1::ReportStreamResponse resp;
  auto writer = stub_->ReportStream(&ctx, &resp);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(writer->Write(Request(i + 1, i * 0.1, i)));
  ASSERT_TRUE(writer->Write(Request(10, 99, 99)));  // a replay: acknowledged, not stored
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.requests(), 51);
  EXPECT_EQ(resp.stored(), 50);
  EXPECT_EQ(store_->MetricHistory(trial_id_, "loss")->size(), 50u);
}

TEST_F(MetricsServiceTest, StreamEndsWithTheFirstError) {
  grpc::ClientContext ctx;
  hpt::v1::ReportStreamResponse resp;
  auto writer = stub_->ReportStream(&ctx, &resp);
  ASSERT_TRUE(writer->Write(Request(1, 0.5, 0)));
  writer->Write(Request(2, std::nan(""), 1));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(store_->MetricHistory(trial_id_, "loss")->size(), 1u);
}

TEST_F(MetricsServiceTest, GetAssignmentReturnsParamsWithTypes) {
  grpc::ClientContext ctx;
  hpt::v1::GetAssignmentRequest req;
  req.set_trial_id("svc-00001");
  req.set_token(token_);
  hpt::v1::GetAssignmentResponse resp;
  grpc::Status s = stub_->GetAssignment(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.study(), "svc");
  EXPECT_EQ(resp.seed(), 42u);
  EXPECT_EQ(resp.objective_metric(), "loss");
  ASSERT_EQ(resp.parameters_size(), 2);
  EXPECT_EQ(resp.parameters(0).name(), "lr");
  EXPECT_EQ(resp.parameters(0).value(), "0.05");
  EXPECT_EQ(resp.parameters(0).type(), "double");
  EXPECT_EQ(resp.parameters(1).type(), "int");

  grpc::ClientContext ctx2;
  req.set_token("wrong");
  EXPECT_EQ(stub_->GetAssignment(&ctx2, req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MetricsServiceTest, KatibReportGetDelete) {
  api::v1::beta1::ReportObservationLogRequest req;
  req.set_trial_name("svc-00001");
  auto* log = req.mutable_observation_log()->add_metric_logs();
  log->set_time_stamp("2024-05-01T10:00:00Z");
  log->mutable_metric()->set_name("loss");
  log->mutable_metric()->set_value("-7.5e-05");
  auto* log2 = req.mutable_observation_log()->add_metric_logs();
  log2->set_time_stamp("2024-05-01T10:00:01.5Z");
  log2->mutable_metric()->set_name("accuracy");
  log2->mutable_metric()->set_value("0.9");
  {
    grpc::ClientContext ctx;
    api::v1::beta1::ReportObservationLogReply reply;
    grpc::Status s = katib_->ReportObservationLog(&ctx, req, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    api::v1::beta1::GetObservationLogRequest get;
    get.set_trial_name("svc-00001");
    get.set_metric_name("loss");
    api::v1::beta1::GetObservationLogReply reply;
    ASSERT_TRUE(katib_->GetObservationLog(&ctx, get, &reply).ok());
    ASSERT_EQ(reply.observation_log().metric_logs_size(), 1);
    EXPECT_EQ(reply.observation_log().metric_logs(0).metric().value(), "-7.5e-05");
    EXPECT_EQ(reply.observation_log().metric_logs(0).time_stamp(), "2024-05-01T10:00:00Z");
  }
  {
    grpc::ClientContext ctx;
    api::v1::beta1::GetObservationLogRequest get;
    get.set_trial_name("svc-00001");
    get.set_start_time("2024-05-01T10:00:01Z");
    api::v1::beta1::GetObservationLogReply reply;
    ASSERT_TRUE(katib_->GetObservationLog(&ctx, get, &reply).ok());
    ASSERT_EQ(reply.observation_log().metric_logs_size(), 1);
    EXPECT_EQ(reply.observation_log().metric_logs(0).metric().name(), "accuracy");
  }
  {
    grpc::ClientContext ctx;
    api::v1::beta1::DeleteObservationLogRequest del;
    del.set_trial_name("svc-00001");
    api::v1::beta1::DeleteObservationLogReply reply;
    ASSERT_TRUE(katib_->DeleteObservationLog(&ctx, del, &reply).ok());
    EXPECT_TRUE(store_->MetricHistory(trial_id_, "")->empty());
  }
}

TEST_F(MetricsServiceTest, KatibRejectsNonNumericValuesAndUnknownTrials) {
  api::v1::beta1::ReportObservationLogRequest req;
  req.set_trial_name("svc-00001");
  auto* log = req.mutable_observation_log()->add_metric_logs();
  log->mutable_metric()->set_name("loss");
  log->mutable_metric()->set_value("unavailable");
  grpc::ClientContext ctx;
  api::v1::beta1::ReportObservationLogReply reply;
  grpc::Status s = katib_->ReportObservationLog(&ctx, req, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("unavailable"), std::string::npos);

  req.set_trial_name("ghost");
  log->mutable_metric()->set_value("1");
  grpc::ClientContext ctx2;
  EXPECT_EQ(katib_->ReportObservationLog(&ctx2, req, &reply).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// gRPC's default SO_REUSEPORT would let a second server share the port (and take some of the
// trials' reports); hpt's servers refuse a taken port instead.
TEST_F(MetricsServiceTest, TakenPortIsAnErrorNotAShare) {
  MetricsServer second(store_.get(), MetricsServerOptions{});
  absl::StatusOr<int> port = second.Start("127.0.0.1:" + std::to_string(port_));
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(port.status().message()), ::testing::HasSubstr("in use"));
}


// A trial run again after an engine restart gets a new token (TrialStore::SetTrialTokenHash).
// The server caches token hashes per trial; a cached OLD hash must not keep accepting the OLD
// token (the lost attempt's process), and the NEW token must be accepted at once.
TEST_F(MetricsServiceTest, ChangedTokenRefusesTheOldOneEvenWhenCached) {
  hpt::v1::ReportResponse resp;
  ASSERT_TRUE(Report(Request(1, 0.5, 0), &resp).ok());  // caches the trial with the old hash
  const std::string old_token = token_;
  const std::string new_token = NewTrialToken();
  ASSERT_TRUE(store_->SetTrialTokenHash(trial_id_, HashToken(new_token)).ok());

  // The cached hash still matches the old token: the writing transaction refuses it.
  grpc::Status s = Report(Request(2, 0.4, 1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("svc-00001"));
  // And again, now from a fresh read.
  s = Report(Request(3, 0.3, 2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();

  token_ = new_token;
  s = Report(Request(10, 0.2, 0), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.stored(), 1);
  // The new token primed the cache; the old one is still refused.
  token_ = old_token;
  s = Report(Request(4, 0.1, 3), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();

  auto h = store_->MetricHistory(trial_id_, "loss");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_DOUBLE_EQ((*h)[0].value, 0.5);
  EXPECT_DOUBLE_EQ((*h)[1].value, 0.2);
}

// Katib's reports carry no token, so a trial whose token changed is not refused to them; but the
// remembered id is checked against the trial it was remembered with, so a report is never stored
// on a trial that took over a stale cache entry's id.
TEST_F(MetricsServiceTest, KatibReportsSurviveAStaleCacheEntry) {
  auto katib_report = [&](const std::string& value) {
    api::v1::beta1::ReportObservationLogRequest req;
    req.set_trial_name("svc-00001");
    auto* log = req.mutable_observation_log()->add_metric_logs();
    log->mutable_metric()->set_name("loss");
    log->mutable_metric()->set_value(value);
    grpc::ClientContext ctx;
    api::v1::beta1::ReportObservationLogReply reply;
    return katib_->ReportObservationLog(&ctx, req, &reply);
  };
  ASSERT_TRUE(katib_report("1").ok());  // caches the trial
  ASSERT_TRUE(store_->SetTrialTokenHash(trial_id_, HashToken(NewTrialToken())).ok());
  grpc::Status s = katib_report("2");
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(store_->MetricHistory(trial_id_, "loss")->size(), 2u);
}

}  // namespace
}  // namespace hpt::engine
