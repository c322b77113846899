#include "trial_runner/k8s/kube_client.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/trial_runner/k8s/fake_apiserver.h"

namespace hpt::runner::k8s {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using testing::FakeApiServer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

json JobJson(const std::string& name, json labels = json::object()) {
  json job = json::parse(R"({
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {},
    "spec": {"template": {"spec": {"restartPolicy": "Never",
      "containers": [{"name": "trial", "image": "python:3.11"}]}}}})");
  job["metadata"]["name"] = name;
  if (!labels.empty()) job["metadata"]["labels"] = labels;
  return job;
}

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = NewClient({});
  }

  std::unique_ptr<KubeClient> NewClient(KubeConfig config, KubeClientOptions options = Fast()) {
    if (config.server.empty()) config.server = server_->base_url();
    absl::StatusOr<std::unique_ptr<KubeClient>> client =
        KubeClient::Create(std::move(config), std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Short backoffs so retried calls finish quickly.
  static KubeClientOptions Fast() {
    KubeClientOptions o;
    o.initial_backoff = absl::Milliseconds(5);
    o.max_backoff = absl::Milliseconds(50);
    o.request_timeout = absl::Seconds(5);
    o.jitter_seed = 42;
    return o;
  }

  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<KubeClient> client_;
};

TEST_F(KubeClientTest, CreateGetListDelete) {
  absl::StatusOr<json> created =
      client_->Create(kJobs, "ml", JobJson("t1", {{"hpt.dev/trial", "t1"}}));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "ml");
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("t2")).ok());

  absl::StatusOr<json> got = client_->Get(kJobs, "ml", "t1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["metadata"]["uid"], (*created)["metadata"]["uid"]);

  absl::StatusOr<json> list = client_->List(kJobs, "ml", "hpt.dev/trial");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ((*list)["items"].size(), 1u);
  EXPECT_EQ((*list)["items"][0]["metadata"]["name"], "t1");
  EXPECT_EQ((*list)["metadata"]["resourceVersion"], std::to_string(server_->ResourceVersion()));
  absl::StatusOr<json> all = client_->List(kJobs, "", "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)["items"].size(), 2u);

  EXPECT_TRUE(client_->Delete(kJobs, "ml", "t1").ok());
  absl::Status again = client_->Delete(kJobs, "ml", "t1");
  EXPECT_TRUE(absl::IsNotFound(again)) << again;
  EXPECT_EQ(HttpStatus(again), 404);
  EXPECT_EQ(StatusReason(again), "NotFound");
  EXPECT_EQ(again.message(),
            "DELETE /apis/batch/v1/namespaces/ml/jobs/t1?propagationPolicy=Background: 404 "
            "NotFound: jobs.batch \"t1\" not found");
  EXPECT_TRUE(absl::IsNotFound(client_->Get(kJobs, "ml", "t1").status()));
}

TEST_F(KubeClientTest, AlreadyExistsIsRecognizable) {
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("t1")).ok());
  absl::StatusOr<json> dup = client_->Create(kJobs, "ml", JobJson("t1"));
  EXPECT_TRUE(absl::IsAlreadyExists(dup.status())) << dup.status();
  EXPECT_TRUE(IsApiAlreadyExists(dup.status()));
  EXPECT_THAT(std::string(dup.status().message()),
              HasSubstr("409 AlreadyExists: jobs.batch \"t1\" already exists"));
  EXPECT_EQ(server_->Jobs("ml").size(), 1u);
}

TEST_F(KubeClientTest, InvalidObjectGives422WithTheServersMessage) {
  json job = JobJson("t1");
  job["spec"]["template"]["spec"].erase("restartPolicy");
  absl::StatusOr<json> r = client_->Create(kJobs, "ml", job);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_EQ(HttpStatus(r.status()), 422);
  EXPECT_EQ(StatusReason(r.status()), "Invalid");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Job.batch \"t1\" is invalid"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("restartPolicy"));
  EXPECT_EQ(server_->RequestCount("POST"), 1);  // never retried
}

TEST_F(KubeClientTest, BadRequestIsNotRetried) {
  json wrong = JobJson("t1");
  wrong["kind"] = "Pod";
  absl::StatusOr<json> r = client_->Create(kJobs, "ml", wrong);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_EQ(HttpStatus(r.status()), 400);
  EXPECT_EQ(server_->RequestCount("POST"), 1);
}

TEST_F(KubeClientTest, TooManyRequestsHonoursRetryAfter) {
  server_->FailNext({.count = 1, .code = 429, .retry_after_seconds = 1});
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<json> r = client_->Create(kJobs, "ml", JobJson("t1"));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_->RequestCount("POST"), 2);
  // The client waited the server's second, not its own 5 ms backoff.
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
}

TEST_F(KubeClientTest, RetryAfterIsCapped) {
  KubeClientOptions o = Fast();
  o.max_retry_after = absl::Milliseconds(20);
  std::unique_ptr<KubeClient> client = NewClient({}, o);
  server_->FailNext({.count = 2, .code = 429, .retry_after_seconds = 3600});
  absl::StatusOr<json> r = client->Get(kJobs, "ml", "nope");
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_EQ(server_->RequestCount("GET"), 3);
}

TEST_F(KubeClientTest, ServerErrorsAreRetriedWithBackoff) {
  server_->FailNext({.count = 3, .code = 503});
  server_->FailNext({.count = 1, .code = 500});
  absl::StatusOr<json> r = client_->Create(kJobs, "ml", JobJson("t1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_->RequestCount("POST"), 5);
  EXPECT_EQ(server_->Jobs("ml").size(), 1u);
}

TEST_F(KubeClientTest, GivesUpAfterMaxAttempts) {
  KubeClientOptions o = Fast();
  o.max_attempts = 3;
  std::unique_ptr<KubeClient> client = NewClient({}, o);
  server_->FailNext({.count = 10, .code = 503});
  absl::StatusOr<json> r = client->Get(kJobs, "ml", "t1");
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(HttpStatus(r.status()), 503);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("(gave up after 3 attempts)"));
  EXPECT_EQ(server_->RequestCount("GET"), 3);
}

TEST_F(KubeClientTest, TimeoutsAreRetried) {
  KubeClientOptions o = Fast();
  o.request_timeout = absl::Milliseconds(300);
  std::unique_ptr<KubeClient> client = NewClient({}, o);
  ASSERT_TRUE(client->Create(kJobs, "ml", JobJson("t1")).ok());
  server_->StallNext(std::chrono::milliseconds(3000));
  absl::StatusOr<json> r = client->Get(kJobs, "ml", "t1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_->RequestCount("GET"), 2);
}

TEST_F(KubeClientTest, UnreachableServerIsUnavailable) {
  KubeClientOptions o = Fast();
  o.max_attempts = 2;
  const std::string url = server_->base_url();
  server_.reset();  // nothing listens on the port any more
  std::unique_ptr<KubeClient> client = NewClient({.server = url}, o);
  absl::StatusOr<json> r = client->Get(kJobs, "ml", "t1");
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(HttpStatus(r.status()), 0);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("cannot reach the Kubernetes API server at " + url));
}

TEST_F(KubeClientTest, SendsTheBearerToken) {
  std::unique_ptr<KubeClient> client = NewClient({.bearer_token = "s3cret"});
  ASSERT_TRUE(client->List(kPods, "ml", "").ok());
  std::vector<testing::RecordedRequest> requests = server_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].authorization, "Bearer s3cret");
  EXPECT_EQ(requests[0].path, "/api/v1/namespaces/ml/pods");
}

TEST_F(KubeClientTest, MergePatch) {
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "s1"}}},
                 {"stringData", {{"token", "a"}}}};
  ASSERT_TRUE(client_->Create(kSecrets, "ml", secret).ok());
  absl::StatusOr<json> patched = client_->MergePatch(
      kSecrets, "ml", "s1",
      {{"metadata", {{"labels", {{"x", "y"}}}}}, {"stringData", {{"token", "b"}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["metadata"]["labels"]["x"], "y");
  absl::StatusOr<json> missing = client_->MergePatch(kSecrets, "ml", "nope", json::object());
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

TEST_F(KubeClientTest, PodLog) {
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("t1")).ok());
  ASSERT_TRUE(server_->CreatePodForJob("ml", "t1", "t1-abc", "Running").ok());
  ASSERT_TRUE(server_->SetPodLog("ml", "t1-abc", "loss=1\nloss=0.5\nloss=0.25\n").ok());
  absl::StatusOr<std::string> all = client_->PodLog("ml", "t1-abc", "trial");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, "loss=1\nloss=0.5\nloss=0.25\n");
  absl::StatusOr<std::string> tail = client_->PodLog("ml", "t1-abc", "", 2);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(*tail, "loss=0.5\nloss=0.25\n");
  absl::StatusOr<std::string> wrong = client_->PodLog("ml", "t1-abc", "sidecar");
  EXPECT_TRUE(absl::IsInvalidArgument(wrong.status())) << wrong.status();
}

// Collects watch events on a thread of its own.
class Watcher {
 public:
  Watcher(KubeClient* client, WatchOptions options, int stop_after = -1)
      : thread_([this, client, options, stop_after] {
          absl::Status s = client->Watch(
              kJobs, "ml", options,
              [&](const WatchEvent& e) {
                absl::MutexLock lock(&mu_);
                events_.push_back(e.type + " " + e.object["metadata"].value("name", ""));
                return stop_after < 0 || static_cast<int>(events_.size()) < stop_after;
              },
              &stop_);
          absl::MutexLock lock(&mu_);
          result_ = s;
          done_ = true;
        }) {}
  ~Watcher() {
    stop_ = true;
    thread_.join();
  }
  // Waits until `n` events arrived (or the watch ended).
  std::vector<std::string> Events(size_t n) {
    absl::MutexLock lock(&mu_);
    auto ready = [&] { return events_.size() >= n || done_; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(30));
    return events_;
  }
  absl::Status Result() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(30));
    return result_;
  }
  void Stop() { stop_ = true; }

 private:
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::vector<std::string> events_;
  absl::Status result_;
  bool done_ = false;
  std::thread thread_;
};

TEST_F(KubeClientTest, WatchReplaysThenStreamsInOrder) {
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("a")).ok());
  Watcher w(client_.get(), {});
  EXPECT_THAT(w.Events(1), ElementsAre("ADDED a"));
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("b")).ok());
  ASSERT_TRUE(server_->SetJobStatus("ml", "a", {{"active", 1}}).ok());
  ASSERT_TRUE(client_->Delete(kJobs, "ml", "b").ok());
  EXPECT_THAT(w.Events(4), ElementsAre("ADDED a", "ADDED b", "MODIFIED a", "DELETED b"));
  w.Stop();
  EXPECT_TRUE(absl::IsCancelled(w.Result()));
}

TEST_F(KubeClientTest, WatchFromResourceVersionAndBookmarks) {
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("a")).ok());
  const std::string rv = std::to_string(server_->ResourceVersion());
  Watcher w(client_.get(), {.resource_version = rv});
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("b")).ok());
  EXPECT_THAT(w.Events(1), ElementsAre("ADDED b"));
  server_->SendBookmark();
  EXPECT_THAT(w.Events(2), ElementsAre("ADDED b", "BOOKMARK "));
}

TEST_F(KubeClientTest, WatchCallbackCanEndTheWatch) {
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("a")).ok());
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("b")).ok());
  Watcher w(client_.get(), {}, /*stop_after=*/1);
  EXPECT_TRUE(w.Result().ok()) << w.Result();
  EXPECT_THAT(w.Events(1), ElementsAre("ADDED a"));
}

TEST_F(KubeClientTest, WatchTooOldIsGone) {
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("a")).ok());
  const std::string rv = std::to_string(server_->ResourceVersion());
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("b")).ok());
  server_->Compact();
  Watcher w(client_.get(), {.resource_version = rv});
  absl::Status s = w.Result();
  EXPECT_TRUE(IsApiGone(s)) << s;
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("410 Expired: too old resource version"));
}

TEST_F(KubeClientTest, WatchServerTimeoutEndsCleanly) {
  Watcher w(client_.get(), {.timeout_seconds = 1});
  EXPECT_TRUE(w.Result().ok()) << w.Result();
}

TEST_F(KubeClientTest, DroppedWatchIsUnavailable) {
  Watcher w(client_.get(), {});
  ASSERT_TRUE(client_->Create(kJobs, "ml", JobJson("a")).ok());
  EXPECT_THAT(w.Events(1), ElementsAre("ADDED a"));
  server_->DropWatches();
  absl::Status s = w.Result();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

TEST_F(KubeClientTest, WatchRefusalKeepsTheServersStatus) {
  server_->FailNext({.count = 1, .code = 403});
  Watcher w(client_.get(), {});
  absl::Status s = w.Result();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_EQ(HttpStatus(s), 403);
}

TEST_F(KubeClientTest, ShutdownCancelsARetryingCall) {
  server_->FailNext({.count = 1, .code = 429, .retry_after_seconds = 30});
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    client_->Shutdown();
  });
  absl::StatusOr<json> r = client_->Get(kJobs, "ml", "a");
  t.join();
  EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  EXPECT_TRUE(absl::IsCancelled(client_->Get(kJobs, "ml", "a").status()));
}

TEST(KubeClientCreateTest, RejectsBadConfigurationAndOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(KubeClient::Create({}).status()));
  absl::Status s = KubeClient::Create({.server = "ftp://x"}).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              StartsWith("the API server must be an http:// or https:// URL"));
  KubeClientOptions o;
  o.max_attempts = 0;
  s = KubeClient::Create({.server = "http://127.0.0.1:1"}, o).status();
  EXPECT_EQ(s.message(), "KubeClientOptions.max_attempts must be >= 1, got 0");
  o = {};
  o.max_backoff = absl::ZeroDuration();
  s = KubeClient::Create({.server = "http://127.0.0.1:1"}, o).status();
  EXPECT_THAT(std::string(s.message()),
              StartsWith("KubeClientOptions.max_backoff must be a positive"));
}

}  // namespace
}  // namespace hpt::runner::k8s
