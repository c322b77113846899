// Drives the C++ Reporter against a real gRPC server on 127.0.0.1 that implements
// hpt.v1.MetricsService in memory (token check, seq dedup, injected failures and stalls).
#include "client/cpp/hpt_client.h"

#include <grpcpp/grpcpp.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hpt/v1/metrics.grpc.pb.h"

namespace hpt::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kTrialId[] = "study-a-trial-7";
constexpr char kToken[] = "s3cret";

struct StoredPoint {
  std::string name;
  std::optional<int64_t> step;
  double value;
  int64_t time_ms;
};

// In-memory MetricsService. Every Report/GetAssignment request is recorded before any check.
class FakeMetricsService final : public hpt::v1::MetricsService::Service {
 public:
  grpc::Status Report(grpc::ServerContext*, const hpt::v1::ReportRequest* req,
                      hpt::v1::ReportResponse* resp) override {
    bool stall = false;
    {
      absl::MutexLock lock(&mu_);
      reports_.push_back(*req);
      if (stall_next_report_) {
        stall_next_report_ = false;
        stall = true;
      }
    }
    if (stall) release_stall_.WaitForNotification();  // the client's deadline passes meanwhile
    absl::MutexLock lock(&mu_);
    if (fail_next_reports_ > 0) {
      --fail_next_reports_;
      return grpc::Status(fail_code_, "injected failure");
    }
    if (grpc::Status s = CheckTrial(req->trial_id(), req->token()); !s.ok()) return s;
    if (finished_) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "trial finished");
    resp->set_seq(req->seq());
    if (!seen_seqs_.insert(req->seq()).second) {
      resp->set_duplicate(true);
      return grpc::Status::OK;
    }
    for (const hpt::v1::MetricPoint& p : req->points()) {
      stored_.push_back({p.name(), p.has_step() ? std::optional<int64_t>(p.step()) : std::nullopt,
                         p.value(), p.time_unix_ms()});
    }
    resp->set_stored(req->points_size());
    return grpc::Status::OK;
  }

  grpc::Status GetAssignment(grpc::ServerContext*, const hpt::v1::GetAssignmentRequest* req,
                             hpt::v1::GetAssignmentResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++assignment_calls_;
    if (fail_next_assignments_ > 0) {
      --fail_next_assignments_;
      return grpc::Status(fail_code_, "injected failure");
    }
    if (grpc::Status s = CheckTrial(req->trial_id(), req->token()); !s.ok()) return s;
    resp->set_trial_id(kTrialId);
    resp->set_study("study-a");
    resp->set_seed(42);
    resp->set_objective_metric("loss");
    for (auto [name, value, type] :
         {std::tuple{"lr", "0.01", "double"}, std::tuple{"layers", "3", "int"},
          std::tuple{"optimizer", "adam", "categorical"}}) {
      hpt::v1::Parameter* p = resp->add_parameters();
      p->set_name(name);
      p->set_value(value);
      p->set_type(type);
    }
    return grpc::Status::OK;
  }

  void FailNextReports(int n, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    fail_next_reports_ = n;
    fail_code_ = code;
  }
  void FailNextAssignments(int n, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    fail_next_assignments_ = n;
    fail_code_ = code;
  }
  void StallNextReport() {
    absl::MutexLock lock(&mu_);
    stall_next_report_ = true;
  }
  void ReleaseStall() {
    if (!release_stall_.HasBeenNotified()) release_stall_.Notify();
  }
  void SetFinished() {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  std::vector<hpt::v1::ReportRequest> reports() {
    absl::MutexLock lock(&mu_);
    return reports_;
  }
  std::vector<StoredPoint> stored() {
    absl::MutexLock lock(&mu_);
    return stored_;
  }
  int assignment_calls() {
    absl::MutexLock lock(&mu_);
    return assignment_calls_;
  }

 private:
  static grpc::Status CheckTrial(const std::string& trial_id, const std::string& token) {
    if (trial_id != kTrialId) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown trial \"" + trial_id + "\"");
    }
    if (token != kToken) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong token for trial");
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  std::vector<hpt::v1::ReportRequest> reports_ ABSL_GUARDED_BY(mu_);
  std::vector<StoredPoint> stored_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> seen_seqs_ ABSL_GUARDED_BY(mu_);
  int fail_next_reports_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_next_assignments_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::StatusCode fail_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::UNAVAILABLE;
  bool stall_next_report_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int assignment_calls_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification release_stall_;
};

class ReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // never share a port with a test
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    endpoint_ = absl::StrCat("127.0.0.1:", port_);
  }
  void TearDown() override {
    service_.ReleaseStall();
    server_->Shutdown();
  }

  // Short backoffs keep the retry tests fast; the deadline is generous for a loaded machine.
  ReporterOptions Options() const {
    ReporterOptions o;
    o.endpoint = endpoint_;
    o.trial_id = kTrialId;
    o.token = kToken;
    o.rpc_timeout = absl::Seconds(20);
    // Retries span ~2.5 s: longer than gRPC's 1 s reconnect backoff, so a first connection that
    // fails on a loaded machine is retried after the channel reconnects instead of failing the
    // test (seen once in a fresh-machine run: UNAVAILABLE before the server saw the call).
    o.max_attempts = 8;
    o.initial_backoff = absl::Milliseconds(20);
    o.max_backoff = absl::Seconds(1);
    return o;
  }

  std::unique_ptr<Reporter> MakeReporter(ReporterOptions o) {
    absl::StatusOr<std::unique_ptr<Reporter>> r = Reporter::Create(std::move(o));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  std::unique_ptr<Reporter> MakeReporter() { return MakeReporter(Options()); }

  void SetTrialEnv(const std::string& endpoint, const std::string& id, const std::string& token) {
    setenv(kEnvEndpoint, endpoint.c_str(), 1);
    setenv(kEnvTrialId, id.c_str(), 1);
    setenv(kEnvTrialToken, token.c_str(), 1);
  }

  FakeMetricsService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string endpoint_;
};

TEST_F(ReporterTest, FromEnvNamesEachMissingVariable) {
  for (const char* var : {kEnvEndpoint, kEnvTrialId, kEnvTrialToken}) {
    SetTrialEnv(endpoint_, kTrialId, kToken);
    unsetenv(var);
    absl::StatusOr<std::unique_ptr<Reporter>> r = Reporter::FromEnv();
    ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << var;
    EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat(var, " is not set")));
    EXPECT_THAT(r.status().message(), HasSubstr("run this under hpt (hpt run study.yaml)"));
  }
}

TEST_F(ReporterTest, FromEnvTreatsEmptyAsMissingAndNamesAll) {
  SetTrialEnv("", kTrialId, kToken);
  unsetenv(kEnvTrialId);
  unsetenv(kEnvTrialToken);
  absl::StatusOr<std::unique_ptr<Reporter>> r = Reporter::FromEnv();
  ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              HasSubstr("HPT_ENDPOINT, HPT_TRIAL_ID, HPT_TRIAL_TOKEN are not set"));
}

TEST_F(ReporterTest, FromEnvReportsPointsWithNamesStepsValuesAndTime) {
  SetTrialEnv(endpoint_, kTrialId, kToken);
  absl::StatusOr<std::unique_ptr<Reporter>> r = Reporter::FromEnv();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->endpoint(), endpoint_);
  EXPECT_EQ((*r)->trial_id(), kTrialId);

  const int64_t before = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE((*r)->Report({{"loss", 0.5}, {"accuracy", 0.75}}, 3).ok());
  const int64_t after = absl::ToUnixMillis(absl::Now());

  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].trial_id(), kTrialId);
  EXPECT_EQ(reqs[0].token(), kToken);
  EXPECT_GT(reqs[0].seq(), 0u);
  EXPECT_FALSE(reqs[0].final());
  std::vector<StoredPoint> pts = service_.stored();
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].name, "loss");
  EXPECT_EQ(pts[0].step, 3);
  EXPECT_EQ(pts[0].value, 0.5);
  EXPECT_EQ(pts[1].name, "accuracy");
  EXPECT_EQ(pts[1].step, 3);
  EXPECT_EQ(pts[1].value, 0.75);
  EXPECT_EQ(pts[0].time_ms, pts[1].time_ms);
  EXPECT_GE(pts[0].time_ms, before);
  EXPECT_LE(pts[0].time_ms, after);
}

TEST_F(ReporterTest, AbsentStepIsNotSent) {
  std::unique_ptr<Reporter> r = MakeReporter();
  ASSERT_TRUE(r->Report({{"loss", -1.25}}).ok());
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_EQ(reqs[0].points_size(), 1);
  EXPECT_FALSE(reqs[0].points(0).has_step());
  EXPECT_EQ(reqs[0].points(0).value(), -1.25);
}

TEST_F(ReporterTest, SeqCountsUpByOneAcrossReportersOfTheProcess) {
  std::unique_ptr<Reporter> a = MakeReporter();
  std::unique_ptr<Reporter> b = MakeReporter();
  ASSERT_TRUE(a->Report({{"loss", 1}}, 0).ok());
  ASSERT_TRUE(a->Report({{"loss", 2}}, 1).ok());
  ASSERT_TRUE(b->Report({{"loss", 3}}, 2).ok());
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].seq(), reqs[0].seq() + 1);
  EXPECT_EQ(reqs[2].seq(), reqs[0].seq() + 2);
  EXPECT_EQ(service_.stored().size(), 3u);
}

TEST_F(ReporterTest, EmptyReportSendsNothingUnlessFinal) {
  std::unique_ptr<Reporter> r = MakeReporter();
  ASSERT_TRUE(r->Report({}).ok());
  EXPECT_TRUE(service_.reports().empty());
  ASSERT_TRUE(r->Report({}, std::nullopt, /*final=*/true).ok());
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].final());
  EXPECT_EQ(reqs[0].points_size(), 0);
}

TEST_F(ReporterTest, RetriesUnavailableWithTheSameSeq) {
  std::unique_ptr<Reporter> r = MakeReporter();
  service_.FailNextReports(2, grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(r->Report({{"loss", 0.25}}, 7).ok());
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].seq(), reqs[0].seq());
  EXPECT_EQ(reqs[2].seq(), reqs[0].seq());
  std::vector<StoredPoint> pts = service_.stored();
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].value, 0.25);
  EXPECT_EQ(pts[0].step, 7);
}

TEST_F(ReporterTest, RetriesDeadlineExceededAndTheLateReplayIsNotStoredTwice) {
  ReporterOptions o = Options();
  o.rpc_timeout = absl::Milliseconds(500);
  std::unique_ptr<Reporter> r = MakeReporter(o);
  service_.StallNextReport();  // first attempt blocks until released: its deadline passes
  ASSERT_TRUE(r->Report({{"loss", 0.5}}, 1).ok());
  service_.ReleaseStall();
  server_->Shutdown();  // waits for the stalled handler, which now sees a known seq
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  // Two attempts, or more if the machine is too loaded to answer the retry within 500 ms.
  ASSERT_GE(reqs.size(), 2u);
  for (const auto& req : reqs) EXPECT_EQ(req.seq(), reqs[0].seq());
  EXPECT_EQ(service_.stored().size(), 1u);
}

TEST_F(ReporterTest, GivesUpAfterMaxAttemptsWithUnavailable) {
  ReporterOptions o = Options();
  o.max_attempts = 4;
  std::unique_ptr<Reporter> r = MakeReporter(o);
  service_.FailNextReports(100, grpc::StatusCode::UNAVAILABLE);
  absl::Status s = r->Report({{"loss", 1.0}});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("injected failure"));
  EXPECT_THAT(s.message(), HasSubstr("after 4 attempts"));
  EXPECT_THAT(s.message(), HasSubstr("hpt.v1.MetricsService/Report at " + endpoint_));
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), 4u);
  for (const auto& req : reqs) EXPECT_EQ(req.seq(), reqs[0].seq());
  EXPECT_TRUE(service_.stored().empty());
}

TEST_F(ReporterTest, NonRetryableServerCodesPropagateAfterOneAttempt) {
  std::unique_ptr<Reporter> r = MakeReporter();
  size_t sent = 0;
  for (grpc::StatusCode code :
       {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::NOT_FOUND,
        grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::FAILED_PRECONDITION,
        grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::INTERNAL,
        grpc::StatusCode::UNAUTHENTICATED, grpc::StatusCode::UNIMPLEMENTED}) {
    service_.FailNextReports(1, code);
    absl::Status s = r->Report({{"loss", 1.0}});
    EXPECT_EQ(s.code(), static_cast<absl::StatusCode>(code)) << s;
    EXPECT_THAT(s.message(), HasSubstr("injected failure"));
    EXPECT_EQ(service_.reports().size(), ++sent) << s;  // exactly one attempt each
  }
  EXPECT_TRUE(service_.stored().empty());
}

TEST_F(ReporterTest, ServerChecksSurfaceWithTheirCodes) {
  ReporterOptions wrong_token = Options();
  wrong_token.token = "guess";
  absl::Status s = MakeReporter(wrong_token)->Report({{"loss", 1.0}});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("wrong token for trial"));

  ReporterOptions wrong_trial = Options();
  wrong_trial.trial_id = "nope";
  s = MakeReporter(wrong_trial)->Report({{"loss", 1.0}});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("unknown trial \"nope\""));

  service_.SetFinished();
  s = MakeReporter()->Report({{"loss", 1.0}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_.reports().size(), 3u);
}

TEST_F(ReporterTest, RejectsBadMetricsBeforeSending) {
  std::unique_ptr<Reporter> r = MakeReporter();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::vector<std::pair<std::string, double>> metrics;
    std::optional<int64_t> step;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{{"loss", std::nan("")}}, 0, "metric \"loss\" is nan; metric values must be finite"},
           {{{"ok", 1.0}, {"loss", inf}}, 0, "metric \"loss\" is inf"},
           {{{"loss", -inf}}, std::nullopt, "metric \"loss\" is -inf"},
           {{{"", 1.0}}, 0, "metric name is empty"},
           {{{std::string(257, 'x'), 1.0}}, 0, "is 257 bytes; at most 256 allowed"},
           {{{"loss", 1.0}}, -1, "step is -1; steps are integers >= 0"},
       }) {
    absl::Status s = r->Report(c.metrics, c.step);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
  EXPECT_TRUE(service_.reports().empty());
  EXPECT_TRUE(r->Report({{std::string(256, 'x'), 1.0}}, 0).ok());
  EXPECT_EQ(service_.reports().size(), 1u);
}

TEST_F(ReporterTest, AssignmentReturnsValuesAndIsCached) {
  std::unique_ptr<Reporter> r = MakeReporter();
  service_.FailNextAssignments(1, grpc::StatusCode::UNAVAILABLE);  // retried
  absl::StatusOr<std::map<std::string, std::string>> a = r->Assignment();
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(*a, ElementsAre(Pair("layers", "3"), Pair("lr", "0.01"), Pair("optimizer", "adam")));
  absl::StatusOr<TrialAssignment> full = r->GetAssignment();
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->trial_id, kTrialId);
  EXPECT_EQ(full->study, "study-a");
  EXPECT_EQ(full->seed, 42u);
  EXPECT_EQ(full->objective_metric, "loss");
  EXPECT_THAT(full->types, ElementsAre(Pair("layers", "int"), Pair("lr", "double"),
                                       Pair("optimizer", "categorical")));
  EXPECT_EQ(service_.assignment_calls(), 2);  // one failed attempt, one answered, then cached
}

TEST_F(ReporterTest, AssignmentErrorsCarryTheServerCode) {
  ReporterOptions wrong_token = Options();
  wrong_token.token = "guess";
  std::unique_ptr<Reporter> r = MakeReporter(wrong_token);
  absl::StatusOr<std::map<std::string, std::string>> a = r->Assignment();
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(a.status().message(), HasSubstr("hpt.v1.MetricsService/GetAssignment"));
  // Errors are not cached: the next call asks again.
  EXPECT_EQ(r->Assignment().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_.assignment_calls(), 2);
}

TEST_F(ReporterTest, UnreachableEndpointIsUnavailable) {
  server_->Shutdown();  // nothing listens on endpoint_ any more
  ReporterOptions o = Options();
  o.max_attempts = 2;
  absl::Status s = MakeReporter(o)->Report({{"loss", 1.0}});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("after 2 attempts"));
  EXPECT_TRUE(service_.reports().empty());
}

TEST_F(ReporterTest, ConcurrentReportsGetDistinctSeqsAndAllArrive) {
  std::unique_ptr<Reporter> r = MakeReporter();
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        results[t * kPerThread + i] = r->Report({{absl::StrCat("m", t), 1.0 * i}}, i);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const absl::Status& s : results) ASSERT_TRUE(s.ok()) << s;
  std::vector<hpt::v1::ReportRequest> reqs = service_.reports();
  ASSERT_EQ(reqs.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<uint64_t> seqs;
  for (size_t i = 0; i < reqs.size(); ++i) {
    seqs.insert(reqs[i].seq());
    if (i > 0) {
      EXPECT_GT(reqs[i].seq(), reqs[i - 1].seq());  // sent in seq order
    }
  }
  EXPECT_EQ(seqs.size(), reqs.size());
  EXPECT_EQ(service_.stored().size(), reqs.size());
}

TEST(ReporterCreateTest, RejectsBadOptions) {
  ReporterOptions base;
  base.endpoint = "127.0.0.1:1";
  base.trial_id = "t";
  base.token = "k";
  struct Case {
    std::function<void(ReporterOptions&)> edit;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {[](ReporterOptions& o) { o.endpoint.clear(); }, "ReporterOptions.endpoint is empty"},
           {[](ReporterOptions& o) { o.trial_id.clear(); }, "ReporterOptions.trial_id is empty"},
           {[](ReporterOptions& o) { o.token.clear(); }, "ReporterOptions.token is empty"},
           {[](ReporterOptions& o) { o.max_attempts = 0; }, "max_attempts is 0; at least 1"},
           {[](ReporterOptions& o) { o.rpc_timeout = absl::ZeroDuration(); },
            "rpc_timeout is 0; it must be > 0"},
           {[](ReporterOptions& o) { o.max_backoff = -absl::Seconds(1); }, "backoffs must be"},
       }) {
    ReporterOptions o = base;
    c.edit(o);
    absl::StatusOr<std::unique_ptr<Reporter>> r = Reporter::Create(o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
  }
  EXPECT_TRUE(Reporter::Create(base).ok());
}

}  // namespace
}  // namespace hpt::client
