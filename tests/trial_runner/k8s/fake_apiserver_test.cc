#include "tests/trial_runner/k8s/fake_apiserver.h"

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::runner::k8s::testing {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kJobs[] = "/apis/batch/v1/namespaces/ml/jobs";
constexpr char kPods[] = "/api/v1/namespaces/ml/pods";

json JobJson(const std::string& name, json labels = json::object()) {
  json job = json::parse(R"({
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {},
    "spec": {"template": {"spec": {"restartPolicy": "Never",
      "containers": [{"name": "trial", "image": "python:3.11"}]}}}})");
  if (!name.empty()) job["metadata"]["name"] = name;
  if (!labels.empty()) job["metadata"]["labels"] = labels;
  return job;
}

struct Reply {
  int status = 0;
  json body;
  std::string retry_after;
};

// Reads newline-delimited watch events from one streaming GET on its own thread.
class WatchStream {
 public:
  WatchStream(int port, std::string path, httplib::Headers headers = {})
      : client_("127.0.0.1", port) {
    client_.set_read_timeout(60, 0);
    thread_ = std::thread([this, path, headers] {
      httplib::Result result = client_.Get(path, headers, [this](const char* data, size_t size) {
        absl::MutexLock lock(&mu_);
        buffer_.append(data, size);
        size_t newline;
        while ((newline = buffer_.find('\n')) != std::string::npos) {
          events_.push_back(json::parse(buffer_.substr(0, newline)));
          buffer_.erase(0, newline + 1);
        }
        return true;
      });
      absl::MutexLock lock(&mu_);
      done_ = true;
      status_ = result ? result->status : 0;
      error_ = result.error();
    });
  }
  ~WatchStream() {
    // stop() is a no-op before the request is sent, so repeat it until the thread ends.
    while (true) {
      client_.stop();
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Milliseconds(50))) break;
    }
    thread_.join();
  }

  // Waits until `n` events arrived or the stream ended (at most 30 s); returns them all.
  std::vector<json> WaitForEvents(size_t n) {
    absl::MutexLock lock(&mu_);
    auto ready = [this, n]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n || done_; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(30));
    return events_;
  }
  // Waits (at most 30 s) for the stream to end; true when it did.
  bool WaitDone() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(30));
  }
  int status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  httplib::Error error() {
    absl::MutexLock lock(&mu_);
    return error_;
  }

 private:
  httplib::Client client_;
  std::thread thread_;
  absl::Mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  std::vector<json> events_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int status_ ABSL_GUARDED_BY(mu_) = 0;
  httplib::Error error_ ABSL_GUARDED_BY(mu_) = httplib::Error::Success;
};

class FakeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  httplib::Client NewClient() {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(30, 0);
    client.set_connection_timeout(10, 0);
    return client;
  }

  static Reply ToReply(const httplib::Result& result) {
    Reply reply;
    if (!result) {
      ADD_FAILURE() << "request failed: " << httplib::to_string(result.error());
      return reply;
    }
    reply.status = result->status;
    reply.retry_after = result->get_header_value("Retry-After");
    reply.body = json::parse(result->body, nullptr, /*allow_exceptions=*/false);
    if (reply.body.is_discarded()) reply.body = result->body;  // plain text (logs)
    return reply;
  }

  Reply Get(const std::string& path) { return ToReply(NewClient().Get(path)); }
  Reply Post(const std::string& path, const std::string& body) {
    return ToReply(NewClient().Post(path, body, "application/json"));
  }
  Reply Post(const std::string& path, const json& body) { return Post(path, body.dump()); }
  Reply Delete(const std::string& path, const std::string& body = "") {
    return ToReply(NewClient().Delete(path, body, "application/json"));
  }

  // Waits (at most 30 s) until the server has `n` open watches.
  bool AwaitOpenWatches(int n) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (server_->OpenWatches() != n) {
      if (absl::Now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  std::unique_ptr<FakeApiServer> server_;
};

std::vector<std::string> Names(const json& items) {
  std::vector<std::string> names;
  for (const json& item : items) names.push_back(item["metadata"]["name"].get<std::string>());
  return names;
}

TEST_F(FakeApiServerTest, CreateFillsMetadataAndJobDefaults) {
  Reply created = Post(kJobs, JobJson("trial-1", {{"study", "s1"}}));
  ASSERT_EQ(created.status, 201) << created.body;
  const json& job = created.body;
  EXPECT_EQ(job["kind"], "Job");
  EXPECT_EQ(job["apiVersion"], "batch/v1");
  EXPECT_EQ(job["metadata"]["name"], "trial-1");
  EXPECT_EQ(job["metadata"]["namespace"], "ml");
  EXPECT_EQ(job["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(job["metadata"]["generation"], 1);
  EXPECT_EQ(job["metadata"]["labels"], json({{"study", "s1"}}));
  std::string uid = job["metadata"]["uid"];
  EXPECT_THAT(uid,
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_THAT(job["metadata"]["creationTimestamp"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  EXPECT_EQ(job["spec"]["parallelism"], 1);
  EXPECT_EQ(job["spec"]["completions"], 1);
  EXPECT_EQ(job["spec"]["backoffLimit"], 6);
  EXPECT_EQ(job["spec"]["completionMode"], "NonIndexed");
  EXPECT_EQ(job["spec"]["suspend"], false);
  EXPECT_EQ(job["spec"]["selector"],
            json({{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}}));
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"],
            json({{"controller-uid", uid},
                  {"job-name", "trial-1"},
                  {"batch.kubernetes.io/controller-uid", uid},
                  {"batch.kubernetes.io/job-name", "trial-1"}}));
  EXPECT_EQ(job["status"], json::object());

  Reply got = Get(std::string(kJobs) + "/trial-1");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, job);
  std::vector<json> jobs = server_->Jobs("ml");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0], job);
  EXPECT_TRUE(server_->Jobs("other").empty());
  EXPECT_EQ(server_->Get("jobs", "ml", "trial-1"), job);
  EXPECT_EQ(server_->Get("jobs", "ml", "nope"), std::nullopt);
}

TEST_F(FakeApiServerTest, GenerateNameAndSecretStringData) {
  json job = JobJson("");
  job["metadata"]["generateName"] = "trial-";
  Reply created = Post(kJobs, job);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_THAT(created.body["metadata"]["name"].get<std::string>(),
              MatchesRegex("trial-[a-z0-9]{5}"));

  Reply secret = Post("/api/v1/namespaces/ml/secrets",
                      json::parse(R"({"metadata":{"name":"creds"},"stringData":{"k":"hello"}})"));
  ASSERT_EQ(secret.status, 201) << secret.body;
  EXPECT_EQ(secret.body["kind"], "Secret");
  EXPECT_EQ(secret.body["type"], "Opaque");
  EXPECT_EQ(secret.body["data"], json({{"k", "aGVsbG8="}}));
  EXPECT_FALSE(secret.body.contains("stringData"));
  EXPECT_EQ(server_->Secrets("ml").size(), 1u);
}

TEST_F(FakeApiServerTest, ResourceVersionIsOneIncreasingCounterAcrossResources) {
  EXPECT_EQ(server_->ResourceVersion(), 0);
  EXPECT_EQ(Post(kJobs, JobJson("a")).body["metadata"]["resourceVersion"], "1");
  ASSERT_TRUE(server_->CreatePodForJob("ml", "a", "a-1", "Pending").ok());
  EXPECT_EQ(Post(kJobs, JobJson("b")).body["metadata"]["resourceVersion"], "3");
  ASSERT_TRUE(server_->SetJobStatus("ml", "a", {{"active", 1}}).ok());
  EXPECT_EQ(server_->ResourceVersion(), 4);
  Reply a = Get(std::string(kJobs) + "/a");
  EXPECT_EQ(a.body["metadata"]["resourceVersion"], "4");
  EXPECT_EQ(a.body["status"], json({{"active", 1}}));
  Reply list = Get(kJobs);
  EXPECT_EQ(list.body["metadata"]["resourceVersion"], "4");
  EXPECT_EQ(list.body["kind"], "JobList");
  EXPECT_EQ(list.body["apiVersion"], "batch/v1");
  EXPECT_THAT(Names(list.body["items"]), ElementsAre("a", "b"));
  EXPECT_FALSE(list.body["items"][0].contains("kind"));  // like the real server
}

TEST_F(FakeApiServerTest, DuplicateCreateIsAlreadyExistsStatus) {
  ASSERT_EQ(Post(kJobs, JobJson("x")).status, 201);
  Reply again = Post(kJobs, JobJson("x"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body, json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","message":"jobs.batch \"x\" already exists","reason":"AlreadyExists",
      "details":{"name":"x","group":"batch","kind":"jobs"},"code":409})"));
  ASSERT_EQ(Post(kPods, json::parse(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"i"}]}})"))
                .status,
            201);
  Reply pod = Post(kPods, json::parse(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"i"}]}})"));
  EXPECT_EQ(pod.status, 409);
  EXPECT_EQ(pod.body["message"], "pods \"p\" already exists");
  EXPECT_EQ(pod.body["details"], json({{"name", "p"}, {"kind", "pods"}}));
  EXPECT_EQ(server_->Jobs().size(), 1u);
}

TEST_F(FakeApiServerTest, InvalidObjectsAre422WithCauses) {
  Reply no_name = Post(kJobs, JobJson(""));
  EXPECT_EQ(no_name.status, 422);
  EXPECT_EQ(no_name.body, json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","reason":"Invalid","code":422,
      "message":"Job.batch \"\" is invalid: metadata.name: Required value: name or generateName is required",
      "details":{"name":"","group":"batch","kind":"Job","causes":[{"reason":"FieldValueRequired",
        "message":"Required value: name or generateName is required","field":"metadata.name"}]}})"));

  Reply bad_name = Post(kJobs, JobJson("Bad_Name"));
  EXPECT_EQ(bad_name.status, 422);
  EXPECT_EQ(bad_name.body["reason"], "Invalid");
  EXPECT_EQ(bad_name.body["details"]["causes"][0]["field"], "metadata.name");
  EXPECT_EQ(bad_name.body["details"]["causes"][0]["reason"], "FieldValueInvalid");
  EXPECT_THAT(bad_name.body["message"].get<std::string>(),
              StartsWith("Job.batch \"Bad_Name\" is invalid: metadata.name: Invalid value: "
                         "\"Bad_Name\": a lowercase RFC 1123 subdomain"));

  std::string long_name(64, 'a');
  Reply too_long = Post(kJobs, JobJson(long_name));
  EXPECT_EQ(too_long.status, 422);
  EXPECT_EQ(too_long.body["details"]["causes"][0]["message"],
            "Invalid value: \"" + long_name + "\": must be no more than 63 characters");
  EXPECT_EQ(Post(kJobs, JobJson(std::string(63, 'a'))).status, 201);

  json no_containers = JobJson("nc");
  no_containers["spec"]["template"]["spec"].erase("containers");
  Reply nc = Post(kJobs, no_containers);
  EXPECT_EQ(nc.status, 422);
  EXPECT_EQ(nc.body, json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","reason":"Invalid","code":422,
      "message":"Job.batch \"nc\" is invalid: spec.template.spec.containers: Required value",
      "details":{"name":"nc","group":"batch","kind":"Job","causes":[{"reason":"FieldValueRequired",
        "message":"Required value","field":"spec.template.spec.containers"}]}})"));

  json two = JobJson("two");
  two["spec"]["template"]["spec"]["restartPolicy"] = "Always";
  two["spec"]["template"]["spec"]["containers"][0].erase("image");
  Reply both = Post(kJobs, two);
  EXPECT_EQ(both.status, 422);
  EXPECT_EQ(both.body["message"],
            "Job.batch \"two\" is invalid: [spec.template.spec.containers[0].image: Required "
            "value, spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported "
            "values: \"OnFailure\", \"Never\"]");
  EXPECT_EQ(both.body["details"]["causes"].size(), 2u);

  Reply pod = Post(kPods, json::parse(R"({"metadata":{"name":"p"},"spec":{}})"));
  EXPECT_EQ(pod.status, 422);
  EXPECT_EQ(pod.body["message"], "Pod \"p\" is invalid: spec.containers: Required value");
  EXPECT_EQ(pod.body["details"]["kind"], "Pod");
  EXPECT_FALSE(pod.body["details"].contains("group"));
  EXPECT_EQ(server_->Jobs().size(), 1u);
  EXPECT_EQ(server_->ResourceVersion(), 1);
}

TEST_F(FakeApiServerTest, MalformedBodiesAre400) {
  Reply not_json = Post(kJobs, std::string("{not json"));
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.body["kind"], "Status");
  EXPECT_EQ(not_json.body["reason"], "BadRequest");
  EXPECT_EQ(not_json.body["code"], 400);
  EXPECT_THAT(not_json.body["message"].get<std::string>(),
              StartsWith("the object provided is unrecognized (must be of type Job): couldn't "
                         "get version/kind; json parse error: "));
  EXPECT_EQ(Post(kJobs, std::string("[1,2]")).status, 400);

  json pod_as_job = JobJson("x");
  pod_as_job["apiVersion"] = "v1";
  Reply wrong_version = Post(kJobs, pod_as_job);
  EXPECT_EQ(wrong_version.status, 400);
  EXPECT_EQ(wrong_version.body["message"],
            "the API version in the data (\"v1\") does not match the expected API version "
            "(batch/v1)");

  json other_ns = JobJson("x");
  other_ns["metadata"]["namespace"] = "prod";
  Reply ns = Post(kJobs, other_ns);
  EXPECT_EQ(ns.status, 400);
  EXPECT_EQ(ns.body["message"],
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
  EXPECT_TRUE(server_->Jobs().empty());
}

TEST_F(FakeApiServerTest, MissingObjectsAndUnknownPathsAre404) {
  Reply missing = Get(std::string(kJobs) + "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","message":"jobs.batch \"nope\" not found","reason":"NotFound",
      "details":{"name":"nope","group":"batch","kind":"jobs"},"code":404})"));
  Reply delete_missing = Delete(std::string(kPods) + "/nope");
  EXPECT_EQ(delete_missing.status, 404);
  EXPECT_EQ(delete_missing.body["message"], "pods \"nope\" not found");

  json unknown = json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","message":"the server could not find the requested resource",
      "reason":"NotFound","details":{},"code":404})");
  for (const char* path :
       {"/apis/apps/v1/namespaces/ml/deployments", "/api/v1/namespaces/ml/configmaps",
        "/api/v1/namespaces/ml/jobs", "/healthz", "/api/v1/namespaces/ml"}) {
    Reply reply = Get(path);
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_EQ(reply.body, unknown) << path;
  }
  Reply put = ToReply(NewClient().Put(std::string(kJobs) + "/x", "{}", "application/json"));
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.body["reason"], "MethodNotAllowed");
}

TEST_F(FakeApiServerTest, ListFiltersByLabelSelector) {
  ASSERT_EQ(Post(kJobs, JobJson("a", {{"study", "s1"}, {"tier", "gpu"}})).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("b", {{"study", "s1"}})).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("c", {{"study", "s2"}, {"tier", "cpu"}})).status, 201);
  ASSERT_EQ(Post("/apis/batch/v1/namespaces/other/jobs", JobJson("d", {{"study", "s1"}})).status,
            201);
  auto names = [this](const std::string& query) {
    Reply reply = Get(std::string(kJobs) + query);
    EXPECT_EQ(reply.status, 200) << query << " " << reply.body;
    return Names(reply.body["items"]);
  };
  EXPECT_THAT(names(""), ElementsAre("a", "b", "c"));
  EXPECT_THAT(names("?labelSelector=study%3Ds1"), ElementsAre("a", "b"));
  EXPECT_THAT(names("?labelSelector=study%3D%3Ds1,tier%3Dgpu"), ElementsAre("a"));
  EXPECT_THAT(names("?labelSelector=study!%3Ds1"), ElementsAre("c"));
  EXPECT_THAT(names("?labelSelector=tier!%3Dgpu"), ElementsAre("b", "c"));
  EXPECT_THAT(names("?labelSelector=tier"), ElementsAre("a", "c"));
  EXPECT_THAT(names("?labelSelector=!tier"), ElementsAre("b"));
  EXPECT_THAT(names("?labelSelector=study%3Ds3"), ElementsAre());

  Reply all = Get("/apis/batch/v1/jobs?labelSelector=study%3Ds1");
  EXPECT_EQ(all.status, 200);
  EXPECT_THAT(Names(all.body["items"]), ElementsAre("a", "b", "d"));

  Reply set_based = Get(std::string(kJobs) + "?labelSelector=study%20in%20(s1,s2)");
  EXPECT_EQ(set_based.status, 400);
  EXPECT_EQ(set_based.body["reason"], "BadRequest");
  EXPECT_THAT(set_based.body["message"].get<std::string>(),
              StartsWith("unable to parse requirement: "));
  EXPECT_EQ(Get(std::string(kJobs) + "?labelSelector=%3Dx").status, 400);
}

TEST_F(FakeApiServerTest, DeletingAJobDeletesItsPodsUnlessOrphan) {
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("b")).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("c")).status, 201);
  for (const char* job : {"a", "b", "c"}) {
    ASSERT_TRUE(server_->CreatePodForJob("ml", job, std::string(job) + "-1", "Running").ok());
  }
  std::string a_uid = (*server_->Get("jobs", "ml", "a"))["metadata"]["uid"];

  Reply deleted = Delete(std::string(kJobs) + "/a?propagationPolicy=Background");
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(
      deleted.body,
      json({{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Success"},
            {"details", {{"name", "a"}, {"group", "batch"}, {"kind", "jobs"}, {"uid", a_uid}}}}));
  EXPECT_EQ(server_->Get("pods", "ml", "a-1"), std::nullopt);
  EXPECT_EQ(Get(std::string(kJobs) + "/a").status, 404);

  // DeleteOptions in the body, as client-go sends them.
  EXPECT_EQ(Delete(std::string(kJobs) + "/b", R"({"propagationPolicy":"Foreground"})").status, 200);
  EXPECT_EQ(server_->Get("pods", "ml", "b-1"), std::nullopt);

  EXPECT_EQ(Delete(std::string(kJobs) + "/c?propagationPolicy=Orphan").status, 200);
  std::optional<json> orphan = server_->Get("pods", "ml", "c-1");
  ASSERT_TRUE(orphan.has_value());
  EXPECT_FALSE((*orphan)["metadata"].contains("ownerReferences"));
  EXPECT_TRUE(server_->Jobs().empty());

  Reply bad_policy = Delete(std::string(kPods) + "/c-1?propagationPolicy=Sometimes");
  EXPECT_EQ(bad_policy.status, 422);
  EXPECT_EQ(bad_policy.body["reason"], "Invalid");
  EXPECT_EQ(bad_policy.body["details"]["causes"][0]["field"], "propagationPolicy");

  Reply pod = Delete(std::string(kPods) + "/c-1");
  EXPECT_EQ(pod.status, 200);
  EXPECT_EQ(pod.body["kind"], "Pod");
  EXPECT_EQ(pod.body["metadata"]["name"], "c-1");
  EXPECT_TRUE(server_->Pods().empty());
}

TEST_F(FakeApiServerTest, HooksDriveJobAndPodState) {
  ASSERT_EQ(Post(kJobs, JobJson("a", {{"study", "s1"}})).status, 201);
  ASSERT_TRUE(server_->CreatePodForJob("ml", "a", "a-xyz", "Running").ok());
  json pod = *server_->Get("pods", "ml", "a-xyz");
  json job = *server_->Get("jobs", "ml", "a");
  EXPECT_EQ(pod["status"]["phase"], "Running");
  EXPECT_EQ(pod["metadata"]["labels"]["job-name"], "a");
  EXPECT_EQ(pod["metadata"]["labels"]["controller-uid"], job["metadata"]["uid"]);
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], job["metadata"]["uid"]);
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(pod["spec"]["containers"][0]["name"], "trial");
  Reply by_label = Get(std::string(kPods) + "?labelSelector=job-name%3Da");
  EXPECT_THAT(Names(by_label.body["items"]), ElementsAre("a-xyz"));

  json preempted = json::parse(R"({"phase":"Failed","conditions":[{"type":"DisruptionTarget",
      "status":"True","reason":"PreemptionByScheduler"}]})");
  ASSERT_TRUE(server_->SetPodStatus("ml", "a-xyz", preempted).ok());
  EXPECT_EQ(Get(std::string(kPods) + "/a-xyz").body["status"], preempted);

  EXPECT_EQ(server_->SetJobStatus("ml", "nope", json::object()).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(server_->SetJobStatus("ml", "a", json::array()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server_->SetPodStatus("ml", "nope", json::object()).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(server_->CreatePodForJob("ml", "nope", "p", "Pending").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(server_->CreatePodForJob("ml", "a", "a-xyz", "Pending").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(server_->SetPodLog("ml", "nope", "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeApiServerTest, PodLogs) {
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);
  ASSERT_TRUE(server_->CreatePodForJob("ml", "a", "a-1", "Running").ok());
  const std::string log_path = std::string(kPods) + "/a-1/log";
  Reply empty = ToReply(NewClient().Get(log_path));
  EXPECT_EQ(empty.status, 200);
  ASSERT_TRUE(server_->SetPodLog("ml", "a-1", "epoch 1 loss=0.5\nepoch 2 loss=0.25\n").ok());
  httplib::Result log = NewClient().Get(log_path);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->status, 200);
  EXPECT_EQ(log->body, "epoch 1 loss=0.5\nepoch 2 loss=0.25\n");
  EXPECT_EQ(NewClient().Get(log_path + "?container=trial")->body, log->body);
  EXPECT_EQ(NewClient().Get(log_path + "?tailLines=1")->body, "epoch 2 loss=0.25\n");
  EXPECT_THAT(NewClient().Get(log_path + "?timestamps=true")->body,
              MatchesRegex("[0-9-]+T[0-9:.]+Z epoch 1 loss=0.5\n[0-9-]+T[0-9:.]+Z epoch 2 "
                           "loss=0.25\n"));
  Reply bad_container = Get(log_path + "?container=sidecar");
  EXPECT_EQ(bad_container.status, 400);
  EXPECT_EQ(bad_container.body["message"], "container sidecar is not valid for pod a-1");
  EXPECT_EQ(Get(std::string(kPods) + "/nope/log").status, 404);

  ASSERT_EQ(Post(kPods, json::parse(R"({"metadata":{"name":"two"},"spec":{"containers":[
      {"name":"main","image":"i"},{"name":"sidecar","image":"i"}]}})"))
                .status,
            201);
  ASSERT_TRUE(server_->SetPodLog("ml", "two", "from sidecar", "sidecar").ok());
  Reply ambiguous = Get(std::string(kPods) + "/two/log");
  EXPECT_EQ(ambiguous.status, 400);
  EXPECT_EQ(ambiguous.body["message"],
            "a container name must be specified for pod two, choose one of: [main sidecar]");
  EXPECT_EQ(NewClient().Get(std::string(kPods) + "/two/log?container=sidecar")->body,
            "from sidecar");
}

TEST_F(FakeApiServerTest, WatchStreamsChangesInOrderFromAResourceVersion) {
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);                                   // rv 1
  ASSERT_EQ(Post(kJobs, JobJson("b")).status, 201);                                   // rv 2
  ASSERT_TRUE(server_->CreatePodForJob("ml", "a", "a-1", "Running").ok());            // rv 3 (pod)
  ASSERT_TRUE(server_->SetJobStatus("ml", "a", {{"active", 1}}).ok());                // rv 4
  ASSERT_EQ(Post("/apis/batch/v1/namespaces/other/jobs", JobJson("o")).status, 201);  // rv 5

  WatchStream watch(server_->port(), std::string(kJobs) + "?watch=1&resourceVersion=1");
  std::vector<json> events = watch.WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(events[0]["object"]["metadata"]["resourceVersion"], "2");
  EXPECT_EQ(events[0]["object"]["kind"], "Job");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "a");
  EXPECT_EQ(events[1]["object"]["metadata"]["resourceVersion"], "4");
  EXPECT_EQ(events[1]["object"]["status"], json({{"active", 1}}));

  // Live changes: the pod's deletion is not a job event; the job's is.
  json failed = json::parse(R"({"failed":1,"conditions":[{"type":"Failed","status":"True",
      "reason":"BackoffLimitExceeded"}]})");
  ASSERT_TRUE(server_->SetJobStatus("ml", "b", failed).ok());  // rv 6
  ASSERT_EQ(Delete(std::string(kJobs) + "/a").status, 200);    // pod rv 7, job rv 8
  events = watch.WaitForEvents(4);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2]["type"], "MODIFIED");
  EXPECT_EQ(events[2]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(events[2]["object"]["status"], failed);
  EXPECT_EQ(events[3]["type"], "DELETED");
  EXPECT_EQ(events[3]["object"]["metadata"]["name"], "a");
  EXPECT_EQ(events[3]["object"]["metadata"]["resourceVersion"], "8");
  EXPECT_EQ(server_->OpenWatches(), 1);
}

TEST_F(FakeApiServerTest, WatchWithoutResourceVersionReplaysStateAndFiltersBySelector) {
  ASSERT_EQ(Post(kJobs, JobJson("a", {{"study", "s1"}})).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("b", {{"study", "s2"}})).status, 201);
  // A client that accepts gzip (as libcurl may) still gets each event as it happens.
  WatchStream watch(server_->port(), std::string(kJobs) + "?watch=true&labelSelector=study%3Ds1",
                    {{"Accept-Encoding", "gzip, deflate"}});
  std::vector<json> events = watch.WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "a");
  ASSERT_EQ(Post(kJobs, JobJson("c", {{"study", "s2"}})).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("d", {{"study", "s1"}})).status, 201);
  events = watch.WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["type"], "ADDED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "d");
}

TEST_F(FakeApiServerTest, WatchAcrossNamespacesAndOfPods) {
  WatchStream jobs(server_->port(), "/apis/batch/v1/jobs?watch=1&resourceVersion=0");
  WatchStream pods(server_->port(), std::string(kPods) + "?watch=1&resourceVersion=0");
  ASSERT_TRUE(AwaitOpenWatches(2));
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);
  ASSERT_EQ(Post("/apis/batch/v1/namespaces/other/jobs", JobJson("b")).status, 201);
  ASSERT_TRUE(server_->CreatePodForJob("ml", "a", "a-1", "Pending").ok());
  ASSERT_TRUE(server_->SetPodStatus("ml", "a-1", {{"phase", "Running"}}).ok());
  std::vector<json> events = jobs.WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["object"]["metadata"]["namespace"], "ml");
  EXPECT_EQ(events[1]["object"]["metadata"]["namespace"], "other");
  events = pods.WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["kind"], "Pod");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[1]["object"]["status"]["phase"], "Running");
}

TEST_F(FakeApiServerTest, BookmarksGoOnlyToWatchesThatAskedForThem) {
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);
  WatchStream with(server_->port(),
                   std::string(kJobs) + "?watch=1&resourceVersion=1&allowWatchBookmarks=true");
  WatchStream without(server_->port(), std::string(kJobs) + "?watch=1&resourceVersion=1");
  ASSERT_TRUE(AwaitOpenWatches(2));
  ASSERT_TRUE(server_->CreatePodForJob("ml", "a", "a-1", "Running").ok());  // rv 2, not a job
  server_->SendBookmark();
  ASSERT_EQ(Post(kJobs, JobJson("b")).status, 201);  // rv 3

  std::vector<json> events = with.WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], json::parse(R"({"type":"BOOKMARK","object":{"kind":"Job",
      "apiVersion":"batch/v1","metadata":{"resourceVersion":"2"}}})"));
  EXPECT_EQ(events[1]["type"], "ADDED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "b");
  events = without.WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
}

TEST_F(FakeApiServerTest, WatchFromACompactedResourceVersionGetsExpired) {
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);
  ASSERT_EQ(Post(kJobs, JobJson("b")).status, 201);
  server_->Compact();
  WatchStream expired(server_->port(), std::string(kJobs) + "?watch=1&resourceVersion=1");
  ASSERT_TRUE(expired.WaitDone());
  EXPECT_EQ(expired.status(), 200);
  std::vector<json> events = expired.WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], json::parse(R"js({"type":"ERROR","object":{"kind":"Status",
      "apiVersion":"v1","metadata":{},"status":"Failure",
      "message":"too old resource version: 1 (2)","reason":"Expired","details":{},
      "code":410}})js"));

  // From the current resourceVersion the watch works.
  WatchStream current(server_->port(), std::string(kJobs) + "?watch=1&resourceVersion=2");
  ASSERT_TRUE(AwaitOpenWatches(1));
  ASSERT_EQ(Post(kJobs, JobJson("c")).status, 201);
  events = current.WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "c");
}

TEST_F(FakeApiServerTest, WatchTimeoutSecondsEndsTheStreamCleanly) {
  WatchStream watch(server_->port(), std::string(kJobs) + "?watch=1&timeoutSeconds=1");
  ASSERT_TRUE(watch.WaitDone());
  EXPECT_EQ(watch.status(), 200);
  EXPECT_EQ(watch.error(), httplib::Error::Success);
  EXPECT_TRUE(watch.WaitForEvents(1).empty());
}

TEST_F(FakeApiServerTest, DropWatchesClosesOpenStreamsAbruptly) {
  ASSERT_EQ(Post(kJobs, JobJson("a")).status, 201);
  WatchStream watch(server_->port(), std::string(kJobs) + "?watch=1&resourceVersion=0");
  ASSERT_EQ(watch.WaitForEvents(1).size(), 1u);
  ASSERT_TRUE(AwaitOpenWatches(1));
  server_->DropWatches();
  ASSERT_TRUE(watch.WaitDone());
  EXPECT_NE(watch.error(), httplib::Error::Success);  // no terminating chunk
  ASSERT_TRUE(AwaitOpenWatches(0));

  // A new watch is not affected.
  WatchStream again(server_->port(), std::string(kJobs) + "?watch=1&resourceVersion=1");
  ASSERT_TRUE(AwaitOpenWatches(1));
  ASSERT_EQ(Post(kJobs, JobJson("b")).status, 201);
  std::vector<json> events = again.WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
}

TEST_F(FakeApiServerTest, DestructorEndsOpenWatchesAndStalledRequests) {
  WatchStream watch(server_->port(), std::string(kJobs) + "?watch=1");
  ASSERT_TRUE(AwaitOpenWatches(1));
  server_->StallNext(std::chrono::minutes(10));
  std::thread stalled([port = server_->port()] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(600, 0);
    client.Get(kJobs);  // answered 503 or cut off when the server stops
  });
  // Wait until the stalled request arrived (the watch was request 1).
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (server_->RequestCount("GET") < 2 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(server_->RequestCount("GET"), 2);
  server_.reset();
  stalled.join();
  EXPECT_TRUE(watch.WaitDone());
}

TEST_F(FakeApiServerTest, FailNextAnswers429WithRetryAfterThenRecovers) {
  server_->FailNext(2, 429, 3);
  for (int i = 0; i < 2; ++i) {
    Reply reply = Get(kJobs);
    EXPECT_EQ(reply.status, 429);
    EXPECT_EQ(reply.retry_after, "3");
    EXPECT_EQ(reply.body, json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
        "status":"Failure","message":"Too many requests, please try again later.",
        "reason":"TooManyRequests","details":{"retryAfterSeconds":3},"code":429})"));
  }
  Reply ok = Get(kJobs);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.retry_after, "");
  EXPECT_EQ(server_->RequestCount("GET", kJobs), 3);
}

TEST_F(FakeApiServerTest, FailNextServerErrorsCanTargetAMethodAndPath) {
  server_->FailNext({.count = 1, .code = 503, .method = "POST", .path_prefix = "/apis/batch/"});
  server_->FailNext(1, 500);
  // The GET skips the POST-only spec and takes the 500.
  Reply internal = Get(kJobs);
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.body["reason"], "InternalError");
  EXPECT_EQ(internal.body["code"], 500);
  EXPECT_EQ(internal.retry_after, "");
  EXPECT_EQ(Post(kPods, json::parse(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"i"}]}})"))
                .status,
            201);
  Reply unavailable = Post(kJobs, JobJson("a"));
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.body["reason"], "ServiceUnavailable");
  EXPECT_EQ(unavailable.body["message"], "the server is currently unable to handle the request");
  EXPECT_TRUE(server_->Jobs().empty());  // a failed create stores nothing
  EXPECT_EQ(Post(kJobs, JobJson("a")).status, 201);
}

TEST_F(FakeApiServerTest, StalledRequestTimesOutTheClientThenServingGoesOn) {
  server_->StallNext(std::chrono::minutes(10));
  httplib::Client impatient("127.0.0.1", server_->port());
  impatient.set_read_timeout(0, 50 * 1000);
  httplib::Result result = impatient.Get(kJobs);
  EXPECT_FALSE(result);
  EXPECT_EQ(result.error(), httplib::Error::Read);
  // The stall applied to one request only.
  EXPECT_EQ(Get(kJobs).status, 200);

  server_->StallNext(std::chrono::milliseconds(20));
  EXPECT_EQ(Get(kJobs).status, 200);  // a short stall still answers
}

TEST_F(FakeApiServerTest, RequestsAreRecorded) {
  httplib::Client client = NewClient();
  client.set_bearer_token_auth("secret-token");
  client.Get(std::string(kJobs) + "?labelSelector=a%3Db&watch=false");
  client.Post(kJobs, "{}", "application/json");
  std::vector<RecordedRequest> requests = server_->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, kJobs);
  EXPECT_EQ(requests[0].query, "labelSelector=a=b&watch=false");
  EXPECT_EQ(requests[0].authorization, "Bearer secret-token");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].body, "{}");
  EXPECT_EQ(server_->RequestCount("POST"), 1);
  EXPECT_EQ(server_->RequestCount("", "/api/"), 0);
  EXPECT_EQ(server_->RequestCount("", "/apis/"), 2);
}

TEST_F(FakeApiServerTest, MergePatchKeepsIdentityAndRejectsOtherPatchTypes) {
  constexpr char kSecrets[] = "/api/v1/namespaces/ml/secrets";
  ASSERT_EQ(Post(kSecrets, json{{"metadata", {{"name", "s"}}}, {"data", {{"a", "YQ=="}}}}).status,
            201);
  const json before = *server_->Get("secrets", "ml", "s");
  httplib::Result r = NewClient().Patch(
      std::string(kSecrets) + "/s",
      R"({"metadata": {"name": "renamed", "uid": "x", "labels": {"k": "v"}}, "data": {"a": null}})",
      "application/merge-patch+json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json after = *server_->Get("secrets", "ml", "s");
  EXPECT_EQ(after["metadata"]["name"], "s");
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);
  EXPECT_EQ(after["metadata"]["labels"]["k"], "v");
  EXPECT_FALSE(after["data"].contains("a"));
  EXPECT_NE(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);

  r = NewClient().Patch(std::string(kSecrets) + "/s", "{}",
                        "application/strategic-merge-patch+json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  r = NewClient().Patch(std::string(kSecrets) + "/nope", "{}", "application/merge-patch+json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(FakeApiServerTest, DeletingAJobDeletesTheSecretsItOwns) {
  Reply job = Post(kJobs, JobJson("t1"));
  ASSERT_EQ(job.status, 201);
  json owned = {{"metadata",
                 {{"name", "owned"},
                  {"ownerReferences",
                   {{{"apiVersion", "batch/v1"},
                     {"kind", "Job"},
                     {"name", "t1"},
                     {"uid", job.body["metadata"]["uid"]}}}}}}};
  ASSERT_EQ(Post("/api/v1/namespaces/ml/secrets", owned).status, 201);
  ASSERT_EQ(Post("/api/v1/namespaces/ml/secrets", json{{"metadata", {{"name", "free"}}}}).status,
            201);
  ASSERT_EQ(Delete(std::string(kJobs) + "/t1").status, 200);
  EXPECT_FALSE(server_->Get("secrets", "ml", "owned").has_value());
  EXPECT_TRUE(server_->Get("secrets", "ml", "free").has_value());
}

}  // namespace
}  // namespace hpt::runner::k8s::testing
