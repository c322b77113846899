// An in-process fake Kubernetes API server for tests of hpt's REST client and Kubernetes runner.
// It serves plain HTTP (no TLS, no authentication: the Authorization header is recorded but not
// checked) on 127.0.0.1 at an ephemeral port, and holds batch/v1 Jobs, core/v1 Pods and Secrets
// in memory. Tests drive it the way a kubelet / job controller would (SetJobStatus,
// CreatePodForJob, SetPodStatus, SetPodLog) and inject faults (FailNext, StallNext,
// DropWatches, Compact).
//
//   absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start();
//   ASSERT_TRUE(server.ok()) << server.status();
//   // point the client at (*server)->base_url(), e.g. "http://127.0.0.1:40123"
//   ... client creates Job "trial-1" in namespace "ml" ...
//   (*server)->CreatePodForJob("ml", "trial-1", "trial-1-abcde", "Running");
//   (*server)->SetJobStatus("ml", "trial-1", nlohmann::json::parse(R"({"succeeded":1,
//       "conditions":[{"type":"Complete","status":"True"}]})"));
//   (*server)->FailNext({.count = 2, .code = 429, .retry_after_seconds = 1});
//
// Paths served (every namespace exists; "{r}" is jobs under /apis/batch/v1, pods or secrets
// under /api/v1):
//   POST   .../namespaces/{ns}/{r}                create
//   GET    .../namespaces/{ns}/{r}                list (labelSelector), or watch (watch=1|true)
//   GET    .../{r}                                list / watch across all namespaces
//   GET    .../namespaces/{ns}/{r}/{name}         get
//   DELETE .../namespaces/{ns}/{r}/{name}         delete (propagationPolicy)
//   PATCH  .../namespaces/{ns}/{r}/{name}         JSON merge patch (application/merge-patch+json;
//                                                  other patch types: 415); name, namespace, uid
//                                                  and creationTimestamp are kept; a Secret's
//                                                  stringData is merged into data, as on create
//   GET    /api/v1/namespaces/{ns}/pods/{name}/log  the text set by SetPodLog (container,
//                                                  timestamps, tailLines)
// Anything else: 404 NotFound Status ("the server could not find the requested resource"), or
// 405 MethodNotAllowed for PUT (and PATCH of a collection) on a known path.
//
// Faithful to the real API server (so a client written against this works against a cluster):
//   - Error bodies are real metav1.Status objects (kind, apiVersion, metadata, status, message,
//     reason, details{name, group, kind[, causes]}, code) with the real messages, e.g.
//     `jobs.batch "x" already exists` (409 AlreadyExists), `jobs.batch "x" not found`
//     (404 NotFound), `Job.batch "x" is invalid: spec.template.spec.containers: Required value`
//     (422 Invalid, details.kind "Job", causes[{reason, message, field}]), 400 BadRequest for a
//     body that is not a JSON object or whose apiVersion/kind/namespace does not match the path,
//     429 TooManyRequests with Retry-After, 500 InternalError, 503 ServiceUnavailable.
//   - Create fills metadata.uid, resourceVersion, creationTimestamp (RFC 3339, seconds),
//     namespace, generation (1) and honours metadata.generateName. A Job gets the defaults the
//     real server gives (parallelism 1, completions 1, backoffLimit 6, completionMode NonIndexed,
//     suspend false, spec.selector.matchLabels{controller-uid}, template labels controller-uid,
//     job-name and their batch.kubernetes.io/ forms) and "status": {}.
//   - resourceVersion is one global counter shown as a decimal string, increased by every write,
//     like etcd; list responses carry metadata.resourceVersion = the counter at list time.
//   - Watch streams newline-delimited JSON events {"type":..., "object":...} (chunked) for changes
//     after resourceVersion N; resourceVersion absent or "0" first replays the current objects as
//     ADDED (like the real server). N older than the retained history (see Compact) gives one
//     ERROR event with a 410 Expired Status ("too old resource version: N (M)") and the stream
//     ends. allowWatchBookmarks=true watchers get BOOKMARK events (SendBookmark) whose object
//     has only kind, apiVersion and metadata.resourceVersion. timeoutSeconds ends a watch
//     cleanly after that long.
//   - Deleting a Job deletes the Pods labelled job-name=<job> and the Secrets with an
//     ownerReference to its uid in its namespace unless propagationPolicy=Orphan; an unknown
//     propagationPolicy is 422 Invalid.
//   - Job names must be DNS-1123 subdomains of at most 63 characters (the real server requires
//     that because the name becomes the job-name label); Pod and Secret names DNS-1123
//     subdomains of at most 253. A Job's pod template needs containers and a restartPolicy of
//     Never or OnFailure; a Pod needs containers.
//   - Pod logs: a pod with several containers needs ?container= (400 otherwise, as the real one).
// Simplified (differs from a real cluster; do not rely on it):
//   - Namespaces need not exist; there is no admission, RBAC, quota, PUT, strategic/JSON patch,
//   fieldSelector,
//     deleteCollection, log follow, server-side apply or schema validation beyond the rules above.
//   - Deletion is immediate for every propagation policy (no deletionTimestamp, finalizers or
//     garbage collector delay; Foreground and Background both delete the pods first). DELETE
//     returns the deleted Pod, or a Success Status for Jobs and Secrets.
//   - Label selectors support `k=v`, `k==v`, `k!=v`, `k` and `!k` joined by commas; set-based
//     forms (`in`, `notin`) are a 400 BadRequest here. A watch with a selector does not turn an
//     object that stops matching into a DELETED event.
//   - Lists are one page: limit and continue are ignored.
//   - Watch responses are "Content-Type: application/json;stream=watch" (the real server says
//     "application/json"): cpp-httplib would gzip an application/json stream for a client that
//     accepts gzip and hold events back in the compressor. Parse the media type, not the string.
//   - Nothing happens by itself: no controller creates pods or updates status; tests do.
//   - At most 32 requests are served at once (open watches and stalled requests count); the
//     event history keeps the last 100000 events (older ones are compacted away).
//   - A watch that falls behind a Compact() gets the 410 ERROR event too (the real server would
//     usually have kept it going).
//
// Thread-safety: every public method may be called from any thread, concurrently with the HTTP
// traffic. The destructor stops the server: open watches and stalled requests end, and no thread
// is left running.
#ifndef HPT_TESTS_TRIAL_RUNNER_K8S_FAKE_APISERVER_H_
#define HPT_TESTS_TRIAL_RUNNER_K8S_FAKE_APISERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hpt::runner::k8s::testing {

// One request as the server saw it, in arrival order.
struct RecordedRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // "/apis/batch/v1/namespaces/ml/jobs"
  std::string query;   // decoded parameters sorted by name: "labelSelector=a=b&watch=1"; "" none
  std::string body;
  std::string authorization;  // the Authorization header ("" when none)
};

// The next `count` requests whose method and path match answer `code` with a Status body.
struct FailureSpec {
  int count = 1;
  int code = 500;  // 429 TooManyRequests, 500 InternalError, 503 ServiceUnavailable, 504 Timeout,
                   // anything else: reason "Unknown"
  int retry_after_seconds = 0;  // > 0: a Retry-After header and details.retryAfterSeconds
  std::string method;           // "" = any method
  std::string path_prefix;      // "" = any path
};

class FakeApiServer {
 public:
  // Binds 127.0.0.1 at an ephemeral port and starts serving. Unavailable when no port could be
  // bound. The server is ready when this returns.
  static absl::StatusOr<std::unique_ptr<FakeApiServer>> Start();

  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;
  // Ends open watches and stalled requests, stops serving and joins every thread.
  ~FakeApiServer();

  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:<port>", no trailing slash

  // --- Driving state like a kubelet / job controller would. Each write bumps resourceVersion
  // and sends a watch event. NotFound when the object does not exist.

  // Replaces the Job's status (MODIFIED), e.g. {"failed":1,"conditions":[{"type":"Failed",
  // "status":"True","reason":"BackoffLimitExceeded"}]}. InvalidArgument unless `status` is an
  // object.
  absl::Status SetJobStatus(std::string_view ns, std::string_view job,
                            const nlohmann::json& status);
  // Creates a Pod as the job controller would (ADDED): the Job's template labels (job-name,
  // controller-uid, ...), an ownerReference to the Job (controller: true), the template's spec
  // and status.phase = `phase`. NotFound (no such Job), AlreadyExists (the pod exists).
  absl::Status CreatePodForJob(std::string_view ns, std::string_view job, std::string_view pod,
                               std::string_view phase);
  // Replaces the Pod's status (MODIFIED), e.g. {"phase":"Failed","conditions":[{"type":
  // "DisruptionTarget","status":"True","reason":"PreemptionByScheduler"}]}. InvalidArgument
  // unless `status` is an object.
  absl::Status SetPodStatus(std::string_view ns, std::string_view pod,
                            const nlohmann::json& status);
  // Sets what GET .../pods/{pod}/log returns for `container` ("" = the pod's only / first
  // container). Does not change resourceVersion. NotFound when the pod does not exist.
  absl::Status SetPodLog(std::string_view ns, std::string_view pod, std::string_view text,
                         std::string_view container = "");

  // --- Watch control.

  // Forgets the event history: a watch from any resourceVersion older than the current one now
  // gets a 410 Expired ERROR event.
  void Compact();
  // Sends a BOOKMARK with the current resourceVersion to every open watch that asked for
  // bookmarks.
  void SendBookmark();
  // Closes every open watch stream abruptly (no terminating chunk), as a restarting API server
  // or a dropped connection would. Watches opened later are not affected.
  void DropWatches();
  // Number of watch streams open now.
  int OpenWatches() const;

  // --- Fault injection.

  // The next spec.count matching requests answer spec.code (see FailureSpec). Specs queue up:
  // a request takes the oldest spec whose method and path it matches.
  void FailNext(const FailureSpec& spec);
  // Shorthand: the next `count` requests (any path) answer `code`.
  void FailNext(int count, int code, int retry_after_seconds = 0);
  // The next request (any path) waits `duration` before it is handled (to test client timeouts).
  // The wait ends early when the server shuts down.
  void StallNext(std::chrono::milliseconds duration);

  // --- Inspection. Returned objects are copies.

  std::vector<nlohmann::json> Jobs(std::string_view ns = "") const;  // "" = every namespace
  std::vector<nlohmann::json> Pods(std::string_view ns = "") const;
  std::vector<nlohmann::json> Secrets(std::string_view ns = "") const;
  // The object, or nullopt. `resource` is "jobs", "pods" or "secrets".
  std::optional<nlohmann::json> Get(std::string_view resource, std::string_view ns,
                                    std::string_view name) const;
  std::vector<RecordedRequest> Requests() const;
  // Requests with this method ("" = any) whose path starts with `path_prefix`.
  int RequestCount(std::string_view method, std::string_view path_prefix = "") const;
  // The current global resourceVersion.
  int64_t ResourceVersion() const;

 private:
  class Impl;
  explicit FakeApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hpt::runner::k8s::testing

#endif  // HPT_TESTS_TRIAL_RUNNER_K8S_FAKE_APISERVER_H_
