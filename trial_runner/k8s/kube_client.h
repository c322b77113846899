// KubeClient: a small Kubernetes REST client (libcurl + nlohmann/json, no kubectl) for the few
// resources hpt's runner uses: batch/v1 Jobs, and core/v1 Pods (with logs) and Secrets. It
// speaks to one API server described by a KubeConfig (kube_config.h).
//
//   absl::StatusOr<KubeConfig> config = LoadKubeConfig({});
//   absl::StatusOr<std::unique_ptr<KubeClient>> client = KubeClient::Create(*config);
//   absl::StatusOr<nlohmann::json> job = (*client)->Create(kJobs, "ml", manifest);
//   if (IsApiAlreadyExists(job.status())) { ... adopt the existing Job ... }
//   absl::Status s = (*client)->Watch(kJobs, "ml", {.label_selector = "hpt.dev/study=s1"},
//       [&](const WatchEvent& e) { Apply(e); return true; }, &stop);
//
// Retries. Every call but Watch() is retried, within KubeClientOptions::max_attempts, on
//   - 429 TooManyRequests: after the Retry-After header (or the Status' retryAfterSeconds),
//     capped at max_retry_after; after the backoff when the server names no delay;
//   - 500, 502, 503 and 504, and transport failures (connection refused or reset, timeouts):
//     after a capped, jittered exponential backoff (a uniform draw in [d/2, d], d doubling from
//     initial_backoff up to max_backoff).
// Creates are retried too: a Create that reached the server before its answer was lost comes
// back as 409 AlreadyExists, which the caller must treat as "created" (the runner adopts the
// Job it finds, never duplicates it).
//
// Errors. A refusal from the API server is a Status whose code follows the HTTP status, whose
// message is "<METHOD> <path>: <code> <reason>: <the server's message>" and which carries the
// HTTP status and the metav1.Status reason (HttpStatus(), StatusReason()):
//   400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound,
//   405 Unimplemented, 409 AlreadyExists (reason AlreadyExists) or Aborted (Conflict),
//   410 OutOfRange (Gone / Expired: re-list), 422 InvalidArgument (reason Invalid; the message
//   lists the field causes), 429 ResourceExhausted, 5xx Unavailable (504: DeadlineExceeded).
// A transport failure is Unavailable (DeadlineExceeded for a timeout) naming the URL and curl's
// error; a body that is not the JSON expected is Internal; Cancelled after Shutdown().
//
// Thread-safety: thread-safe; calls may run concurrently from any number of threads (each uses its
// own curl handle; idle handles and their connections are reused).
#ifndef HPT_TRIAL_RUNNER_K8S_KUBE_CLIENT_H_
#define HPT_TRIAL_RUNNER_K8S_KUBE_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "trial_runner/k8s/kube_config.h"

namespace hpt::runner::k8s {

// A namespaced resource type: where it lives in the API and what it is called.
struct ResourceType {
  const char* api_prefix;   // "/apis/batch/v1" or "/api/v1"
  const char* plural;       // "jobs"
  const char* kind;         // "Job"
  const char* api_version;  // "batch/v1"
};
inline constexpr ResourceType kJobs{"/apis/batch/v1", "jobs", "Job", "batch/v1"};
inline constexpr ResourceType kPods{"/api/v1", "pods", "Pod", "v1"};
inline constexpr ResourceType kSecrets{"/api/v1", "secrets", "Secret", "v1"};

struct KubeClientOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration request_timeout = absl::Seconds(30);  // whole request, retries not included
  int max_attempts = 8;                                // per call, the first one included
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  absl::Duration max_retry_after = absl::Seconds(60);  // cap on a server's Retry-After
  uint64_t jitter_seed = 0;                            // 0: seeded from the clock
  std::string user_agent = "hpt";
};

// The HTTP status of an API server refusal (0 when `status` did not come from the server).
int HttpStatus(const absl::Status& status);
// The metav1.Status reason of an API server refusal ("AlreadyExists", "Expired", "Invalid", ...;
// "" when none).
std::string StatusReason(const absl::Status& status);
// 409 with reason AlreadyExists.
bool IsApiAlreadyExists(const absl::Status& status);
// 410 Gone / Expired: the resourceVersion is too old; list again.
bool IsApiGone(const absl::Status& status);

struct WatchOptions {
  std::string label_selector;    // "" = every object
  std::string resource_version;  // "" = replay the current objects as ADDED first
  int timeout_seconds = 300;     // the server ends the stream after this long
  bool bookmarks = true;         // allowWatchBookmarks
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED or BOOKMARK (ERROR events end Watch())
  nlohmann::json object;
};

class KubeClient {
 public:
  // InvalidArgument when the config has no server or the options are out of range
  // (max_attempts < 1, a non-positive timeout or backoff).
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(KubeConfig config,
                                                            KubeClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  const KubeConfig& config() const;

  // POST: creates `object` in namespace `ns` and returns it as stored (uid, resourceVersion).
  absl::StatusOr<nlohmann::json> Create(const ResourceType& type, std::string_view ns,
                                        const nlohmann::json& object);
  absl::StatusOr<nlohmann::json> Get(const ResourceType& type, std::string_view ns,
                                     std::string_view name);
  // The List object: items[] and metadata.resourceVersion (the point to watch from). `ns` ""
  // lists across every namespace.
  absl::StatusOr<nlohmann::json> List(const ResourceType& type, std::string_view ns,
                                      std::string_view label_selector);
  // DELETE with propagationPolicy ("Background", "Foreground" or "Orphan"). NotFound when the
  // object is already gone.
  absl::Status Delete(const ResourceType& type, std::string_view ns, std::string_view name,
                      std::string_view propagation_policy = "Background");
  // PATCH with a JSON merge patch (RFC 7386); returns the patched object.
  absl::StatusOr<nlohmann::json> MergePatch(const ResourceType& type, std::string_view ns,
                                            std::string_view name, const nlohmann::json& patch);
  // A container's log ("" container = the pod's only container): its last `tail_lines` lines
  // when > 0, else all of it.
  absl::StatusOr<std::string> PodLog(std::string_view ns, std::string_view pod,
                                     std::string_view container, int64_t tail_lines = 0);

  // Watches `type` in `ns` ("" = every namespace). Calls `on_event` for each event, in order,
  // from the calling thread. Returns OK when the server ends the stream (its timeout) or when
  // `on_event` returns false; Cancelled when *stop becomes true (checked about once a second)
  // or after Shutdown(); OutOfRange (IsApiGone) for a 410 ERROR event or response; the refusal's
  // Status for other ERROR events and HTTP errors; Unavailable when the connection breaks. Not
  // retried: the caller re-watches from the last resourceVersion it saw (or re-lists on 410).
  absl::Status Watch(const ResourceType& type, std::string_view ns, const WatchOptions& options,
                     const std::function<bool(const WatchEvent&)>& on_event,
                     const std::atomic<bool>* stop = nullptr);

  // Ends every call in progress (Cancelled) and makes every later call fail at once. Waits for
  // nothing; safe to call more than once.
  void Shutdown();

 private:
  class Impl;
  explicit KubeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hpt::runner::k8s

#endif  // HPT_TRIAL_RUNNER_K8S_KUBE_CLIENT_H_
