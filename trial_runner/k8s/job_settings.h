// JobSettings: the tenancy settings of a trial's batch/v1 Job that a study or hpt's configuration
// may impose on every trial: priority class, deadline, retries, clean-up, service account and the
// Kueue queue. Used twice: the template renderer applies the study's settings (spec.hpt.kubernetes,
// so the stored manifest is what runs), and the Kubernetes runner applies the cluster-wide
// defaults from hpt's configuration (flags of `hpt run` / hptd) to what is still unset.
//
//   JobSettings s{.priority_class_name = "team-a-high", .backoff_limit = 0,
//                 .queue_name = "team-a"};
//   absl::Status st = ApplyJobSettings(s, &job);  // job: a batch/v1 Job as JSON
//   // job.spec.backoffLimit == 0, job.spec.template.spec.priorityClassName == "team-a-high",
//   // job.metadata.labels["kueue.x-k8s.io/queue-name"] == "team-a"; values the Job already
//   // had are kept.
//
// Thread-safety: plain functions without shared state.
#ifndef HPT_TRIAL_RUNNER_K8S_JOB_SETTINGS_H_
#define HPT_TRIAL_RUNNER_K8S_JOB_SETTINGS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace hpt::runner::k8s {

// Kueue's queue label (https://kueue.sigs.k8s.io): a Job carrying it is admitted by that
// LocalQueue.
inline constexpr char kKueueQueueLabel[] = "kueue.x-k8s.io/queue-name";

// The longest Kubernetes object name (a DNS-1123 subdomain) and the longest label value.
inline constexpr size_t kMaxNameLength = 253;
inline constexpr size_t kMaxLabelValueLength = 63;

// Every member is optional: empty / nullopt = leave the Job as it is.
struct JobSettings {
  std::string priority_class_name;                    // spec.template.spec.priorityClassName
  std::optional<int64_t> active_deadline_seconds;     // spec.activeDeadlineSeconds (> 0)
  std::optional<int64_t> backoff_limit;               // spec.backoffLimit (>= 0)
  std::optional<int64_t> ttl_seconds_after_finished;  // spec.ttlSecondsAfterFinished (>= 0)
  std::string service_account_name;                   // spec.template.spec.serviceAccountName
  std::string queue_name;  // metadata.labels["kueue.x-k8s.io/queue-name"]
};

// InvalidArgument, naming the member (by its Kubernetes field name, e.g. "backoffLimit") and what
// is allowed, for a negative backoff limit or TTL, a deadline <= 0, a backoff limit or TTL above
// 2147483647 (int32 fields), or a priority class / service account / queue name that is not a
// valid Kubernetes name (DNS-1123 subdomain, <= 253 characters; queue names are label values,
// <= 63 characters). Every problem is listed, joined by "; ": "invalid Job settings: backoffLimit
// must be an integer between 0 and 2147483647, got -1; queueName must be a DNS-1123 subdomain
// (...), got \"Team A\"".
absl::Status ValidateJobSettings(const JobSettings& settings);

// Why `name` is not a DNS-1123 subdomain of at most `max_length` characters (lowercase letters,
// digits, '-' and '.'; dot-separated parts that start and end with a letter or digit), worded to
// follow a field's name: `must be a DNS-1123 subdomain (...), got "Team_A"`. Empty when `name` is
// valid. The rule ValidateJobSettings applies to names; the study loader uses it to report a
// problem at the field's place in the file.
std::string DnsSubdomainProblem(std::string_view name, size_t max_length = kMaxNameLength);

// Whether `name` is a DNS-1123 label of at most `max_length` characters (lowercase letters, digits
// and '-', starting and ending with a letter or digit, no '.'): the rule for namespaces and for
// names that become label values or hostnames, such as a Job's.
bool IsDnsLabel(std::string_view name, size_t max_length = kMaxLabelValueLength);

// Applies `settings` to the Job `job` (apiVersion batch/v1, kind Job): each member that is set
// and whose field the Job does not already have is written; a field the Job has keeps its value.
// Objects on the way (metadata.labels, spec.template.spec) are created when missing.
// A value that is null counts as absent. InvalidArgument when `job` is not a Job (an object with
// apiVersion batch/v1 and kind Job), when a field on the way is not an object (naming its path),
// or when ValidateJobSettings fails; `*job` is then left unchanged.
absl::Status ApplyJobSettings(const JobSettings& settings, nlohmann::json* job);

}  // namespace hpt::runner::k8s

#endif  // HPT_TRIAL_RUNNER_K8S_JOB_SETTINGS_H_
