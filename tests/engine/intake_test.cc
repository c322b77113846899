// hptd's metric intake under load: 1,000 trials report at once over gRPC on loopback (half with
// unary Report calls, half with ReportStream) to a real MetricsServer over a real SQLite tracker
// file, mixing in replays and refused reports; then every trial's stored points are compared with
// what was acknowledged. Also every refusal's exact status code. Not timed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/metrics_service.h"
#include "engine/token.h"
#include "hpt/v1/metrics.grpc.pb.h"
#include "tracker/trial_store.h"

namespace hpt::engine {
namespace {

constexpr int kTrials = 1000;
constexpr int kRequests = 8;  // acknowledged requests per trial
constexpr int kPoints = 20;   // points per request
constexpr int kMaxPoints = 500;
constexpr int kMaxMessageBytes = 64 << 10;
const char* const kNames[] = {"loss", "accuracy"};

// The g-th point trial i reports: metrics alternate, a step per pair, a value only it sends.
double ValueOf(int trial, int64_t g) { return trial * 1000.0 + g + 0.25; }

// Outstanding calls; the test waits for zero.
class Pending {
 public:
  void Add() {
    std::lock_guard<std::mutex> l(mu_);
    ++n_;
  }
  void Done() {
    std::lock_guard<std::mutex> l(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  // False when calls are still outstanding after `limit` (a hang, not a slow machine).
  bool Wait(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, limit, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// Mismatches seen on client threads, reported by the test thread.
class Problems {
 public:
  void Add(std::string s) {
    std::lock_guard<std::mutex> l(mu_);
    if (list_.size() < 20) list_.push_back(std::move(s));
    ++count_;
  }
  int count() {
    std::lock_guard<std::mutex> l(mu_);
    return count_;
  }
  std::string Summary() {
    std::lock_guard<std::mutex> l(mu_);
    std::string out;
    for (const std::string& s : list_) out += s + "\n";
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
  int count_ = 0;
};

struct Expect {
  grpc::StatusCode code = grpc::StatusCode::OK;
  int64_t stored = 0;
  bool duplicate = false;
};

class IntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("intake_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = tracker::TrialStore::Open({}, (dir_ / "hpt.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto study = store_->CreateStudy({.name = "intake", .objective_metric = "loss"});
    ASSERT_TRUE(study.ok()) << study.status();
    for (int i = 0; i < kTrials; ++i) {
      Trial t{.name = absl::StrFormat("intake-%05d", i), .token = NewTrialToken()};
      auto rec = store_->CreateTrial(
          {.study_id = study->id, .name = t.name, .token_hash = HashToken(t.token)});
      ASSERT_TRUE(rec.ok()) << rec.status();
      t.id = rec->id;
      ASSERT_TRUE(store_->SetTrialState(t.id, tracker::TrialState::kRunning, "", "").ok());
      trials_.push_back(std::move(t));
    }
    server_ = std::make_unique<MetricsServer>(
        store_.get(), MetricsServerOptions{.max_points_per_request = kMaxPoints,
                                           .max_message_bytes = kMaxMessageBytes});
    auto port = server_->Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    for (int c = 0; c < 4; ++c) {
      grpc::ChannelArguments args;
      args.SetInt("hpt.test.channel", c);  // a connection each
      args.SetMaxSendMessageSize(-1);      // the server, not the client, enforces the limit
      stubs_.push_back(hpt::v1::MetricsService::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials(), args)));
    }
  }

  void TearDown() override {
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  struct Trial {
    std::string name;
    std::string token;
    int64_t id = 0;
  };

  // Request `seq` of trial i: kPoints points with explicit steps, g = (seq - 1) * kPoints + j.
  hpt::v1::ReportRequest Request(int i, uint64_t seq) const {
    hpt::v1::ReportRequest r;
    r.set_trial_id(trials_[i].name);
    r.set_token(trials_[i].token);
    r.set_seq(seq);
    for (int j = 0; j < kPoints; ++j) {
      const int64_t g = static_cast<int64_t>(seq - 1) * kPoints + j;
      hpt::v1::MetricPoint* p = r.add_points();
      p->set_name(kNames[g % 2]);
      p->set_step(g / 2);
      p->set_value(ValueOf(i, g));
    }
    return r;
  }

  hpt::v1::MetricsService::Stub* Stub(int i) { return stubs_[i % stubs_.size()].get(); }

  grpc::Status Report(const hpt::v1::ReportRequest& r, hpt::v1::ReportResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stubs_[0]->Report(&ctx, r, resp);
  }

  // Checks that trial i stored exactly the points of seqs 1..n, each (metric, step) once.
  void ExpectStoredExactly(int i, int n) {
    auto h = store_->MetricHistory(trials_[i].id, "");
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_EQ(h->size(), static_cast<size_t>(n * kPoints)) << trials_[i].name;
    std::set<std::pair<std::string, int64_t>> seen;
    for (const tracker::StoredPoint& p : *h) {
      ASSERT_TRUE(seen.emplace(p.name, p.step).second)
          << trials_[i].name << " stored " << p.name << " step " << p.step << " twice";
      const int64_t g = p.step * 2 + (p.name == kNames[0] ? 0 : 1);
      ASSERT_TRUE(p.name == kNames[0] || p.name == kNames[1]) << p.name;
      ASSERT_LT(g, n * kPoints) << trials_[i].name << " stored an unacknowledged point";
      ASSERT_EQ(p.value, ValueOf(i, g)) << trials_[i].name << " " << p.name << " " << p.step;
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::vector<Trial> trials_;
  std::unique_ptr<MetricsServer> server_;
  std::vector<std::unique_ptr<hpt::v1::MetricsService::Stub>> stubs_;
};

// One trial's unary calls, one at a time, each checked against its expectation.
class UnaryScript {
 public:
  UnaryScript(hpt::v1::MetricsService::Stub* stub, std::string who,
              std::vector<std::pair<hpt::v1::ReportRequest, Expect>> steps, Pending* pending,
              Problems* problems)
      : stub_(stub),
        who_(std::move(who)),
        steps_(std::move(steps)),
        pending_(pending),
        problems_(problems) {}

  void Start() {
    pending_->Add();
    Next();
  }

 private:
  void Next() {
    if (index_ == steps_.size()) {
      pending_->Done();
      return;
    }
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    resp_.Clear();
    stub_->async()->Report(ctx_.get(), &steps_[index_].first, &resp_,
                           [this](grpc::Status s) { Done(s); });
  }

  void Done(const grpc::Status& s) {
    const Expect& e = steps_[index_].second;
    const uint64_t seq = steps_[index_].first.seq();
    if (s.error_code() != e.code) {
      problems_->Add(absl::StrCat(who_, " step ", index_, " (seq ", seq, "): got code ",
                                  s.error_code(), " \"", s.error_message(), "\", want ", e.code));
    } else if (s.ok() && (resp_.seq() != seq || resp_.stored() != e.stored ||
                          resp_.duplicate() != e.duplicate)) {
      problems_->Add(absl::StrCat(who_, " step ", index_, ": ack seq ", resp_.seq(), " stored ",
                                  resp_.stored(), " duplicate ", resp_.duplicate()));
    }
    ++index_;
    Next();
  }

  hpt::v1::MetricsService::Stub* stub_;
  const std::string who_;
  std::vector<std::pair<hpt::v1::ReportRequest, Expect>> steps_;
  Pending* pending_;
  Problems* problems_;
  size_t index_ = 0;
  std::unique_ptr<grpc::ClientContext> ctx_;
  hpt::v1::ReportResponse resp_;
};

// One ReportStream carrying `requests`, then WritesDone; checks the final status and counts.
class StreamScript : public grpc::ClientWriteReactor<hpt::v1::ReportRequest> {
 public:
  StreamScript(hpt::v1::MetricsService::Stub* stub, std::string who,
               std::vector<hpt::v1::ReportRequest> requests, Expect expect, int64_t expect_requests,
               Pending* pending, Problems* problems)
      : who_(std::move(who)),
        requests_(std::move(requests)),
        expect_(expect),
        expect_requests_(expect_requests),
        pending_(pending),
        problems_(problems) {
    pending_->Add();
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    stub->async()->ReportStream(&ctx_, &resp_, this);
    StartWrite(&requests_[0]);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the server ended the stream; OnDone has its status
    if (++written_ == requests_.size()) {
      StartWritesDone();
    } else {
      StartWrite(&requests_[written_]);
    }
  }

  void OnDone(const grpc::Status& s) override {
    if (s.error_code() != expect_.code) {
      problems_->Add(absl::StrCat(who_, " stream: got code ", s.error_code(), " \"",
                                  s.error_message(), "\", want ", expect_.code));
    } else if (s.ok() &&
               (resp_.requests() != expect_requests_ || resp_.stored() != expect_.stored)) {
      problems_->Add(absl::StrCat(who_, " stream: ", resp_.requests(), " requests, ",
                                  resp_.stored(), " stored"));
    }
    pending_->Done();
    delete this;
  }

 private:
  grpc::ClientContext ctx_;
  const std::string who_;
  std::vector<hpt::v1::ReportRequest> requests_;
  const Expect expect_;
  const int64_t expect_requests_;
  Pending* pending_;
  Problems* problems_;
  size_t written_ = 0;
  hpt::v1::ReportStreamResponse resp_;
};

TEST_F(IntakeTest, ThousandConcurrentTrialsLoseAndDuplicateNothing) {
  Pending pending;
  Problems problems;
  std::vector<std::unique_ptr<UnaryScript>> unary;
  const Expect ok{.stored = kPoints};
  const Expect replayed{.stored = 0, .duplicate = true};
  for (int i = 0; i < kTrials; ++i) {
    const std::string who = trials_[i].name;
    if (i % 2 == 0) {
      // Unary: seqs 1..kRequests; after seq 4 a replay of seq 2, a report with the next trial's
      // token and one with a NaN, none of which may store anything.
      std::vector<std::pair<hpt::v1::ReportRequest, Expect>> steps;
      for (int seq = 1; seq <= kRequests; ++seq) {
        steps.emplace_back(Request(i, seq), ok);
        if (seq == 4) {
          steps.emplace_back(Request(i, 2), replayed);
          hpt::v1::ReportRequest stolen = Request(i, 100);
          stolen.set_token(trials_[(i + 1) % kTrials].token);
          steps.emplace_back(stolen, Expect{.code = grpc::StatusCode::PERMISSION_DENIED});
          hpt::v1::ReportRequest nan = Request(i, 101);
          nan.mutable_points(7)->set_value(std::nan(""));
          steps.emplace_back(nan, Expect{.code = grpc::StatusCode::INVALID_ARGUMENT});
        }
      }
      unary.push_back(
          std::make_unique<UnaryScript>(Stub(i), who, std::move(steps), &pending, &problems));
    } else {
      // Stream: seqs 1..kRequests with a replay of seq 3 in the middle.
      std::vector<hpt::v1::ReportRequest> requests;
      for (int seq = 1; seq <= kRequests; ++seq) {
        requests.push_back(Request(i, seq));
        if (seq == 5) requests.push_back(Request(i, 3));
      }
      // Started below, all at once with the unary ones; deletes itself.
      new StreamScript(Stub(i), who, std::move(requests), Expect{.stored = kRequests * kPoints},
                       kRequests + 1, &pending, &problems);
    }
  }
  for (auto& u : unary) u->Start();
  ASSERT_TRUE(pending.Wait(std::chrono::seconds(300))) << "reports still unanswered";
  EXPECT_EQ(problems.count(), 0) << problems.Summary();
  for (int i = 0; i < kTrials; ++i) {
    ExpectStoredExactly(i, kRequests);
    if (HasFatalFailure()) return;
  }
}

TEST_F(IntakeTest, EveryRefusalHasItsOwnCodeAndStoresNothing) {
  hpt::v1::ReportResponse resp;
  auto expect_code = [&](const hpt::v1::ReportRequest& r, grpc::StatusCode code,
                         const std::string& in_message) {
    grpc::Status s = Report(r, &resp);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(in_message), std::string::npos)
        << "\"" << s.error_message() << "\" does not say \"" << in_message << "\"";
  };
  // Another trial's token.
  hpt::v1::ReportRequest r = Request(0, 1);
  r.set_token(trials_[1].token);
  expect_code(r, grpc::StatusCode::PERMISSION_DENIED, trials_[0].name);
  r.set_token("");
  expect_code(r, grpc::StatusCode::PERMISSION_DENIED, "HPT_TRIAL_TOKEN");
  // Non-finite values.
  for (double v : {std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    r = Request(0, 1);
    r.mutable_points(3)->set_value(v);
    expect_code(r, grpc::StatusCode::INVALID_ARGUMENT, "points[3].value");
  }
  // Names: empty, one byte over the limit.
  r = Request(0, 1);
  r.mutable_points(0)->set_name("");
  expect_code(r, grpc::StatusCode::INVALID_ARGUMENT, "points[0].name is empty");
  r = Request(0, 1);
  r.mutable_points(5)->set_name(std::string(257, 'n'));
  expect_code(r, grpc::StatusCode::INVALID_ARGUMENT, "257 bytes; at most 256");
  // Negative steps.
  r = Request(0, 1);
  r.mutable_points(2)->set_step(-1);
  expect_code(r, grpc::StatusCode::INVALID_ARGUMENT, "points[2].step");
  // Too many points.
  r = Request(0, 1);
  while (r.points_size() <= kMaxPoints) *r.add_points() = r.points(0);
  expect_code(r, grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("at most ", kMaxPoints));
  // A message over the server's receive limit, refused by gRPC before hpt sees it.
  r = Request(0, 1);
  r.mutable_points(0)->set_name(std::string(kMaxMessageBytes, 'x'));
  EXPECT_EQ(Report(r, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Unknown and missing trials.
  r = Request(0, 1);
  r.set_trial_id("no-such-trial");
  expect_code(r, grpc::StatusCode::NOT_FOUND, "no-such-trial");
  r.set_trial_id("");
  expect_code(r, grpc::StatusCode::INVALID_ARGUMENT, "HPT_TRIAL_ID");
  // Nothing of it was stored, and seq 1 was not consumed.
  ExpectStoredExactly(0, 0);
  ASSERT_TRUE(Report(Request(0, 1), &resp).ok());
  EXPECT_FALSE(resp.duplicate());
  EXPECT_EQ(resp.stored(), kPoints);

  // A finished trial, already known to the server (its id and token are cached): refused from the
  // moment it finished.
  ASSERT_TRUE(
      store_->SetTrialState(trials_[0].id, tracker::TrialState::kEarlyStopped, "", "").ok());
  expect_code(Request(0, 2), grpc::StatusCode::FAILED_PRECONDITION, "EARLY_STOPPED");
  ExpectStoredExactly(0, 1);

  // A stream ends with its first refused message; the messages before it were committed.
  Pending pending;
  Problems problems;
  std::vector<hpt::v1::ReportRequest> requests = {Request(2, 1), Request(2, 2), Request(2, 3)};
  requests[2].mutable_points(0)->set_value(std::numeric_limits<double>::infinity());
  requests.push_back(Request(2, 4));  // never read
  new StreamScript(Stub(2), "stream", std::move(requests),
                   Expect{.code = grpc::StatusCode::INVALID_ARGUMENT}, 0, &pending, &problems);
  ASSERT_TRUE(pending.Wait(std::chrono::seconds(120)));
  EXPECT_EQ(problems.count(), 0) << problems.Summary();
  ExpectStoredExactly(2, 2);

  // The server still serves.
  ASSERT_TRUE(Report(Request(4, 1), &resp).ok());
  EXPECT_EQ(resp.stored(), kPoints);
}

// The server keeps each trial's id and token hash; a trial deleted behind its back (by another
// process) and made anew under the same name must neither be refused nor get the old one's
// reports.
TEST_F(IntakeTest, ATrialMadeAnewUnderAnOldNameIsServedFromTheFile) {
  hpt::v1::ReportResponse resp;
  ASSERT_TRUE(Report(Request(5, 1), &resp).ok());  // trials 5 and 6 are now cached
  ASSERT_TRUE(Report(Request(6, 1), &resp).ok());
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "hpt.db").c_str(), &raw), SQLITE_OK);
    sqlite3_busy_timeout(raw, 10000);
    const std::string sql =
        absl::StrCat("PRAGMA foreign_keys = ON; DELETE FROM trials WHERE id IN (", trials_[5].id,
                     ", ", trials_[6].id, ")");
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  // Trial 6 is gone: NOT_FOUND, though the server knew it.
  grpc::Status s = Report(Request(6, 2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  // Trial 5 is made anew with another token.
  const std::string old_token = trials_[5].token;
  trials_[5].token = NewTrialToken();
  auto study = store_->FindStudy("intake");
  ASSERT_TRUE(study.ok());
  auto rec = store_->CreateTrial(
      {.study_id = study->id, .name = trials_[5].name, .token_hash = HashToken(trials_[5].token)});
  ASSERT_TRUE(rec.ok()) << rec.status();
  trials_[5].id = rec->id;
  s = Report(Request(5, 1), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.duplicate());  // a new trial: its seqs start over
  ExpectStoredExactly(5, 1);
  hpt::v1::ReportRequest stale = Request(5, 2);
  stale.set_token(old_token);
  EXPECT_EQ(Report(stale, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ExpectStoredExactly(5, 1);
}

}  // namespace
}  // namespace hpt::engine
