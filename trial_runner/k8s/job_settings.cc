#include "trial_runner/k8s/job_settings.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hpt::runner::k8s {
namespace {

using nlohmann::json;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty()) return false;
  size_t begin = 0;
  while (true) {
    size_t end = s.find('.', begin);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view part = s.substr(begin, end - begin);
    if (part.empty() || !IsLowerAlnum(part.front()) || !IsLowerAlnum(part.back())) return false;
    for (char c : part) {
      if (!IsLowerAlnum(c) && c != '-') return false;
    }
    if (end == s.size()) return true;
    begin = end + 1;
  }
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

void CheckName(const char* field, const std::string& value, size_t max_length,
               std::vector<std::string>* problems) {
  if (value.empty()) return;
  const std::string problem = DnsSubdomainProblem(value, max_length);
  if (!problem.empty()) problems->push_back(absl::StrCat(field, " ", problem));
}

void CheckRange(const char* field, const std::optional<int64_t>& value, int64_t min,
                std::vector<std::string>* problems) {
  if (!value.has_value() || (*value >= min && *value <= kInt32Max)) return;
  problems->push_back(absl::StrCat(field, " must be an integer between ", min, " and ", kInt32Max,
                                   ", got ", *value));
}

// parent[key] as an object, created when absent or null.
absl::StatusOr<json*> ObjectAt(json& parent, const char* key, const std::string& path) {
  json& child = parent[key];
  if (child.is_null()) child = json::object();
  if (!child.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot apply the Job settings: ", path,
                                                   " must be a map, got ", child.type_name()));
  }
  return &child;
}

// Writes obj[key] = value unless obj has a non-null value there.
void SetIfAbsent(json& obj, const char* key, json value) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) obj[key] = std::move(value);
}

}  // namespace

bool IsDnsLabel(std::string_view name, size_t max_length) {
  if (name.empty() || name.size() > max_length) return false;
  if (!IsLowerAlnum(name.front()) || !IsLowerAlnum(name.back())) return false;
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

std::string DnsSubdomainProblem(std::string_view name, size_t max_length) {
  const std::string rule = absl::StrCat(
      "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending "
      "with a letter or digit, at most ",
      max_length, " characters)");
  if (name.size() > max_length) {
    return absl::StrCat(rule, ", got ", name.size(), " characters");
  }
  if (!IsDnsSubdomain(name)) return absl::StrCat(rule, ", got ", Quote(name));
  return "";
}

absl::Status ValidateJobSettings(const JobSettings& settings) {
  std::vector<std::string> problems;
  CheckName("priorityClassName", settings.priority_class_name, kMaxNameLength, &problems);
  if (settings.active_deadline_seconds.has_value() && *settings.active_deadline_seconds <= 0) {
    problems.push_back(absl::StrCat("activeDeadlineSeconds must be > 0 (seconds), got ",
                                    *settings.active_deadline_seconds));
  }
  CheckRange("backoffLimit", settings.backoff_limit, 0, &problems);
  CheckRange("ttlSecondsAfterFinished", settings.ttl_seconds_after_finished, 0, &problems);
  CheckName("serviceAccountName", settings.service_account_name, kMaxNameLength, &problems);
  CheckName("queueName", settings.queue_name, kMaxLabelValueLength, &problems);
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid Job settings: ", absl::StrJoin(problems, "; ")));
}

absl::Status ApplyJobSettings(const JobSettings& settings, nlohmann::json* job) {
  if (absl::Status s = ValidateJobSettings(settings); !s.ok()) return s;
  const auto string_at = [job](const char* key) -> std::string {
    auto it = job->find(key);
    return it != job->end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (!job->is_object() || string_at("apiVersion") != "batch/v1" || string_at("kind") != "Job") {
    const std::string what = job->is_object()
                                 ? absl::StrCat("apiVersion ", Quote(string_at("apiVersion")),
                                                ", kind ", Quote(string_at("kind")))
                                 : std::string(job->type_name());
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot apply the Job settings: the object is not a batch/v1 Job (got ", what, ")"));
  }
  // Work on a copy so that a failure leaves `*job` as it was.
  json out = *job;
  const bool needs_pod =
      !settings.priority_class_name.empty() || !settings.service_account_name.empty();
  const bool needs_spec = needs_pod || settings.active_deadline_seconds.has_value() ||
                          settings.backoff_limit.has_value() ||
                          settings.ttl_seconds_after_finished.has_value();
  if (!settings.queue_name.empty()) {
    absl::StatusOr<json*> metadata = ObjectAt(out, "metadata", "metadata");
    if (!metadata.ok()) return metadata.status();
    absl::StatusOr<json*> labels = ObjectAt(**metadata, "labels", "metadata.labels");
    if (!labels.ok()) return labels.status();
    SetIfAbsent(**labels, kKueueQueueLabel, settings.queue_name);
  }
  if (needs_spec) {
    absl::StatusOr<json*> spec = ObjectAt(out, "spec", "spec");
    if (!spec.ok()) return spec.status();
    if (settings.active_deadline_seconds.has_value()) {
      SetIfAbsent(**spec, "activeDeadlineSeconds", *settings.active_deadline_seconds);
    }
    if (settings.backoff_limit.has_value()) {
      SetIfAbsent(**spec, "backoffLimit", *settings.backoff_limit);
    }
    if (settings.ttl_seconds_after_finished.has_value()) {
      SetIfAbsent(**spec, "ttlSecondsAfterFinished", *settings.ttl_seconds_after_finished);
    }
    if (needs_pod) {
      absl::StatusOr<json*> pod = ObjectAt(**spec, "template", "spec.template");
      if (!pod.ok()) return pod.status();
      absl::StatusOr<json*> pod_spec = ObjectAt(**pod, "spec", "spec.template.spec");
      if (!pod_spec.ok()) return pod_spec.status();
      if (!settings.priority_class_name.empty()) {
        SetIfAbsent(**pod_spec, "priorityClassName", settings.priority_class_name);
      }
      if (!settings.service_account_name.empty()) {
        SetIfAbsent(**pod_spec, "serviceAccountName", settings.service_account_name);
      }
    }
  }
  *job = std::move(out);
  return absl::OkStatus();
}

}  // namespace hpt::runner::k8s
