#include "trial_runner/k8s/k8s_runner.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "trial_runner/k8s/labels.h"

namespace hpt::runner::k8s {
namespace {

using nlohmann::json;

constexpr char kTrialSelector[] = "hpt.dev/trial";  // every object hpt labels

// The value of a string member, "" when absent or not a string.
std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& Member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

const json& Meta(const json& object) { return Member(object, "metadata"); }
std::string Name(const json& object) { return Str(Meta(object), "name"); }
std::string Uid(const json& object) { return Str(Meta(object), "uid"); }
std::string LabelOf(const json& object, const char* key) {
  return Str(Member(Meta(object), "labels"), key);
}
std::string AnnotationOf(const json& object, const char* key) {
  return Str(Member(Meta(object), "annotations"), key);
}

// resourceVersions are opaque strings to clients; in practice (etcd) they are increasing
// integers, which is used only to avoid replacing a cached object by an older copy.
int64_t Rv(const json& object) {
  int64_t v = -1;
  if (!absl::SimpleAtoi(Str(Meta(object), "resourceVersion"), &v)) return -1;
  return v;
}

// The condition of `type` whose status is "True", or null.
const json* TrueCondition(const json& object, const char* type) {
  const json& conditions = Member(Member(object, "status"), "conditions");
  if (!conditions.is_array()) return nullptr;
  for (const json& c : conditions) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return &c;
  }
  return nullptr;
}

const json* ConditionOf(const json& object, const char* type) {
  const json& conditions = Member(Member(object, "status"), "conditions");
  if (!conditions.is_array()) return nullptr;
  for (const json& c : conditions) {
    if (Str(c, "type") == type) return &c;
  }
  return nullptr;
}

// The status of the named container ("" = the first one listed in the pod spec).
const json* ContainerStatus(const json& pod, const std::string& container) {
  std::string name = container;
  if (name.empty()) {
    const json& containers = Member(Member(pod, "spec"), "containers");
    if (containers.is_array() && !containers.empty()) name = Str(containers[0], "name");
  }
  const json& statuses = Member(Member(pod, "status"), "containerStatuses");
  if (!statuses.is_array()) return nullptr;
  for (const json& s : statuses) {
    if (name.empty() || Str(s, "name") == name) return &s;
  }
  return nullptr;
}

// Newest first: by creationTimestamp (RFC 3339 in UTC compares as text), then name.
void SortNewestFirst(std::vector<json>* pods) {
  std::sort(pods->begin(), pods->end(), [](const json& a, const json& b) {
    const std::string ta = Str(Meta(a), "creationTimestamp");
    const std::string tb = Str(Meta(b), "creationTimestamp");
    if (ta != tb) return ta > tb;
    return Name(a) > Name(b);
  });
}

// "; container train: exit code 1 (Error: message)" for a terminated primary container.
std::string TerminationDetail(const json& pod, const std::string& container,
                              std::optional<int>* exit_code) {
  const json* cs = ContainerStatus(pod, container);
  if (cs == nullptr) return "";
  const json& terminated = Member(Member(*cs, "state"), "terminated");
  if (!terminated.is_object()) return "";
  std::string out = absl::StrCat("; pod ", Name(pod), " container ", Str(*cs, "name"));
  const json& code = Member(terminated, "exitCode");
  if (code.is_number_integer()) {
    *exit_code = code.get<int>();
    absl::StrAppend(&out, ": exit code ", code.get<int>());
  }
  const std::string reason = Str(terminated, "reason");
  const std::string message = Str(terminated, "message");
  if (!reason.empty() || !message.empty()) {
    absl::StrAppend(&out, " (", reason, reason.empty() || message.empty() ? "" : ": ", message,
                    ")");
  }
  return out;
}

}  // namespace

RunStatus DeriveRunStatus(const json& job, const std::vector<json>& pods_in,
                          const std::string& primary_container) {
  RunStatus st;
  st.trial_name = Name(job);
  std::vector<json> pods = pods_in;
  SortNewestFirst(&pods);
  const json* newest = pods.empty() ? nullptr : &pods.front();

  if (const json* c = TrueCondition(job, "Complete"); c != nullptr) {
    st.phase = RunPhase::kSucceeded;
    st.reason = "Completed";
    st.message = "Job completed";
    if (newest)
      absl::StrAppend(&st.message, TerminationDetail(*newest, primary_container, &st.exit_code));
    return st;
  }
  if (const json* c = TrueCondition(job, "Failed"); c != nullptr) {
    const json* disruption = newest ? TrueCondition(*newest, "DisruptionTarget") : nullptr;
    if (disruption != nullptr) {
      st.phase = RunPhase::kPreempted;
      st.reason = Str(*disruption, "reason");
      if (st.reason.empty()) st.reason = "DisruptionTarget";
      st.message = absl::StrCat("pod ", Name(*newest), " was disrupted (", st.reason, ")");
      const std::string m = Str(*disruption, "message");
      if (!m.empty()) absl::StrAppend(&st.message, ": ", m);
      return st;
    }
    st.phase = RunPhase::kFailed;
    st.reason = Str(*c, "reason");
    if (st.reason.empty()) st.reason = "Failed";
    st.message = Str(*c, "message");
    if (st.message.empty()) st.message = "Job failed";
    if (newest)
      absl::StrAppend(&st.message, TerminationDetail(*newest, primary_container, &st.exit_code));
    return st;
  }
  if (TrueCondition(job, "Suspended") != nullptr) {
    st.phase = RunPhase::kPending;
    st.reason = "Suspended";
    st.message = "the Job is suspended (waiting for admission, e.g. by a Kueue queue)";
    return st;
  }
  if (newest == nullptr) {
    st.phase = RunPhase::kPending;
    st.reason = "Created";
    st.message = "waiting for the Job controller to create a pod";
    return st;
  }
  const std::string pod = Name(*newest);
  const std::string phase = Str(Member(*newest, "status"), "phase");
  if (phase == "Running") {
    st.phase = RunPhase::kRunning;
    st.reason = "Running";
    st.message = absl::StrCat("pod ", pod);
    const std::string node = Str(Member(*newest, "spec"), "nodeName");
    if (!node.empty()) absl::StrAppend(&st.message, " on node ", node);
    return st;
  }
  if (phase == "Succeeded") {
    st.phase = RunPhase::kRunning;
    st.reason = "Running";
    st.message = absl::StrCat("pod ", pod, " succeeded; waiting for the Job to complete");
    return st;
  }
  if (phase == "Failed") {
    // The Job is not failed yet: its controller starts another pod within backoffLimit.
    st.phase = RunPhase::kPending;
    st.reason = "Restarting";
    const json* disruption = TrueCondition(*newest, "DisruptionTarget");
    std::optional<int> ignored;
    st.message = disruption != nullptr
                     ? absl::StrCat("pod ", pod, " was disrupted (", Str(*disruption, "reason"),
                                    "); the Job starts another")
                     : absl::StrCat("pod ", pod, " failed",
                                    TerminationDetail(*newest, primary_container, &ignored),
                                    "; the Job starts another within its backoffLimit");
    return st;
  }
  st.phase = RunPhase::kPending;
  if (const json* sched = ConditionOf(*newest, "PodScheduled");
      sched != nullptr && Str(*sched, "status") == "False") {
    st.reason = Str(*sched, "reason");
    if (st.reason.empty()) st.reason = "Unschedulable";
    st.message = absl::StrCat("pod ", pod, ": ", Str(*sched, "message"));
    return st;
  }
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& statuses = Member(Member(*newest, "status"), list);
    if (!statuses.is_array()) continue;
    for (const json& s : statuses) {
      const json& waiting = Member(Member(s, "state"), "waiting");
      const std::string reason = Str(waiting, "reason");
      if (reason.empty() || reason == "ContainerCreating" || reason == "PodInitializing") continue;
      st.reason = reason;
      st.message = absl::StrCat("pod ", pod, " container ", Str(s, "name"), ": ", reason);
      const std::string m = Str(waiting, "message");
      if (!m.empty()) absl::StrAppend(&st.message, ": ", m);
      return st;
    }
  }
  st.reason = "PodPending";
  st.message = absl::StrCat("pod ", pod, " is ", phase.empty() ? "Pending" : phase);
  return st;
}

absl::Status ValidateK8sRunnerOptions(const K8sRunnerOptions& o) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (!IsDnsLabel(o.default_namespace)) {
    return bad(absl::StrCat("K8sRunnerOptions.default_namespace \"", o.default_namespace,
                            "\" is not a valid namespace (a DNS-1123 label: lower-case letters, "
                            "digits and '-', at most 63 characters)"));
  }
  for (const std::string& ns : o.adopt_namespaces) {
    if (!IsDnsLabel(ns)) {
      return bad(absl::StrCat("K8sRunnerOptions.adopt_namespaces: \"", ns,
                              "\" is not a valid namespace (a DNS-1123 label)"));
    }
  }
  if (absl::Status s = ValidateJobSettings(o.job_defaults); !s.ok()) {
    return bad(absl::StrCat("K8sRunnerOptions.job_defaults: ", s.message()));
  }
  if (o.watch_timeout_seconds < 1) {
    return bad(absl::StrCat("K8sRunnerOptions.watch_timeout_seconds must be >= 1, got ",
                            o.watch_timeout_seconds));
  }
  const std::pair<const char*, absl::Duration> durations[] = {
      {"resync_period", o.resync_period},
      {"rewatch_backoff", o.rewatch_backoff},
      {"deletion_wait", o.deletion_wait}};
  for (const auto& [name, d] : durations) {
    if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
      return bad(absl::StrCat("K8sRunnerOptions.", name, " must be a positive finite duration"));
    }
  }
  if (o.log_tail_lines < 1) {
    return bad(
        absl::StrCat("K8sRunnerOptions.log_tail_lines must be >= 1, got ", o.log_tail_lines));
  }
  return absl::OkStatus();
}

class K8sRunner::Impl {
 public:
  Impl(std::unique_ptr<KubeClient> client, K8sRunnerOptions options)
      : client_(std::move(client)), options_(std::move(options)) {
    worker_ = std::thread([this] { WorkLoop(); });
  }

  ~Impl() {
    {
      absl::MutexLock lock(&mu_);
      stop_.store(true);
      cv_.SignalAll();
    }
    client_->Shutdown();
    worker_.join();
    for (auto& [ns, cache] : caches_) {
      for (std::thread& t : cache->threads) t.join();
    }
  }

  absl::Status Launch(const TrialLaunch& l);
  absl::StatusOr<RunStatus> Poll(const std::string& trial_name);
  absl::Status Cancel(const std::string& trial_name);
  absl::StatusOr<std::vector<RunStatus>> Adopt(const std::string& study_name);
  absl::StatusOr<Reclaimed> Reclaim(const TrialLaunch& l);
  absl::Status Purge(const std::string& study_name);
  // Where the study's Jobs may be: adopt_namespaces (else the default namespace) and the
  // namespaces of its trials this runner knows.
  std::vector<std::string> StudyNamespaces(const std::string& study_name);

 private:
  enum class Stage { kActive, kFinishing, kDone };

  struct Trial {
    std::string name, study, ns, job_name, secret_name, primary_container, log_path;
    int attempt = 1;
    std::string job_uid;  // "" until the Job exists
    Stage stage = Stage::kActive;
    bool adopted = false;      // found by Adopt(); a Launch of the same attempt attaches to it
    bool cancelling = false;   // Cancel() is deleting the Job
    bool job_deleted = false;  // the Job is gone, not by Cancel()
    RunStatus status;          // what Poll() shows
    // While kFinishing: the ended Job (its final status is derived with a fresh list of its
    // pods, which the pod watch may not have delivered yet), or a status decided without it.
    json ended_job;
    std::optional<RunStatus> decided;
    // kDone: the pod whose log is the trial's, when it was not copied (no log_path yet: an
    // adopted trial that ended before the engine attached to it).
    std::string uncopied_log_pod;
  };

  struct Cache {
    std::map<std::string, json> jobs, pods;  // by name
    std::vector<std::thread> threads;
  };

  // Starts the namespace's watch threads once.
  void EnsureWatching(const std::string& ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto& cache = caches_[ns];
    if (cache != nullptr) return;
    cache = std::make_unique<Cache>();
    cache->threads.emplace_back([this, ns] { WatchLoop(ns, kJobs); });
    cache->threads.emplace_back([this, ns] { WatchLoop(ns, kPods); });
  }

  // Puts `object` into the cache unless the cache already has a newer copy.
  static void Put(std::map<std::string, json>* map, json object) {
    const std::string name = Name(object);
    auto it = map->find(name);
    if (it != map->end() && Uid(it->second) == Uid(object) && Rv(it->second) > Rv(object)) {
      return;
    }
    (*map)[name] = std::move(object);
  }

  Trial* FindByJob(const std::string& ns, const std::string& job_name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Job name = trial name, so this is one lookup; the namespace must match too.
    auto it = trials_.find(job_name);
    if (it == trials_.end() || it->second->ns != ns || it->second->job_name != job_name) {
      return nullptr;
    }
    return it->second.get();
  }

  // Recomputes a trial's status from the cache; an ended trial goes to the worker.
  void Refresh(Trial* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Before the create is answered the uid is unknown, and a Job of that name in the cache
    // may be an earlier attempt's.
    if (t->stage != Stage::kActive || t->cancelling || t->job_uid.empty()) return;
    Cache& cache = *caches_[t->ns];
    auto job = cache.jobs.find(t->job_name);
    const bool have_job = job != cache.jobs.end() && Uid(job->second) == t->job_uid;
    if (!have_job) {
      if (!t->job_deleted) return;  // not created yet, or the cache is catching up
      RunStatus st = t->status;
      st.phase = RunPhase::kFailed;
      st.reason = "JobDeleted";
      st.message = absl::StrCat("the Job ", t->ns, "/", t->job_name,
                                " was deleted before it finished (not by hpt)");
      st.exit_code.reset();
      t->decided = std::move(st);
      BeginFinish(t);
      return;
    }
    RunStatus st = StatusOf(*t, job->second, PodsOf(cache.pods, t->job_uid));
    if (st.phase == RunPhase::kPending || st.phase == RunPhase::kRunning) {
      t->status = std::move(st);
      return;
    }
    t->ended_job = job->second;
    BeginFinish(t);
  }

  // The job controller labels its pods with the Job's uid (the unprefixed label before 1.27).
  static bool OwnedBy(const json& pod, const std::string& job_uid) {
    return LabelOf(pod, "batch.kubernetes.io/controller-uid") == job_uid ||
           LabelOf(pod, "controller-uid") == job_uid;
  }

  static std::vector<json> PodsOf(const std::map<std::string, json>& pods,
                                  const std::string& job_uid) {
    std::vector<json> out;
    for (const auto& [name, pod] : pods) {
      if (OwnedBy(pod, job_uid)) out.push_back(pod);
    }
    return out;
  }

  static RunStatus StatusOf(const Trial& t, const json& job, const std::vector<json>& pods) {
    RunStatus st = DeriveRunStatus(job, pods, t.primary_container);
    st.trial_name = t.name;
    st.attempt = t.attempt;
    st.log_path = t.log_path;
    return st;
  }

  void BeginFinish(Trial* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    t->stage = Stage::kFinishing;
    work_.push_back(t->name);
    cv_.SignalAll();
  }

  // The worker: copies ended trials' logs, deletes their Secrets, publishes the final status.
  void WorkLoop() {
    for (;;) {
      std::string name;
      Trial copy;
      {
        absl::MutexLock lock(&mu_);
        while (work_.empty() && !stop_.load()) cv_.Wait(&mu_);
        if (stop_.load()) return;
        name = work_.front();
        work_.pop_front();
        auto it = trials_.find(name);
        if (it == trials_.end() || it->second->stage != Stage::kFinishing) continue;
        copy = *it->second;
      }
      RunStatus final_status;
      std::string log_pod, note;
      if (copy.decided.has_value()) {
        final_status = *copy.decided;
      } else {
        // The Job's pods as they are now: the pod watch may lag behind the Job's.
        std::vector<json> pods;
        absl::StatusOr<json> list =
            client_->List(kPods, copy.ns, absl::StrCat(kTrialLabel, "=", LabelValue(copy.name)));
        if (list.ok() && Member(*list, "items").is_array()) {
          for (const json& pod : Member(*list, "items")) {
            if (OwnedBy(pod, copy.job_uid)) pods.push_back(pod);
          }
        } else {
          absl::MutexLock lock(&mu_);
          pods = PodsOf(caches_[copy.ns]->pods, copy.job_uid);
        }
        final_status = StatusOf(copy, copy.ended_job, pods);
        SortNewestFirst(&pods);
        if (!pods.empty()) log_pod = Name(pods.front());
      }
      if (!copy.log_path.empty() && !log_pod.empty()) {
        absl::Status s = CopyLog(copy, log_pod);
        if (!s.ok()) note = absl::StrCat("; the log could not be copied: ", s.message());
      }
      if (!copy.secret_name.empty()) {
        absl::Status s = client_->Delete(kSecrets, copy.ns, copy.secret_name);
        if (!s.ok() && !absl::IsNotFound(s) && !absl::IsCancelled(s)) {
          absl::StrAppend(&note, "; the trial's Secret could not be deleted: ", s.message());
        }
      }
      absl::MutexLock lock(&mu_);
      auto it = trials_.find(name);
      if (it == trials_.end() || it->second->stage != Stage::kFinishing) continue;
      Trial& t = *it->second;
      t.status = std::move(final_status);
      absl::StrAppend(&t.status.message, note);
      if (copy.log_path.empty()) t.uncopied_log_pod = log_pod;
      t.stage = Stage::kDone;
    }
  }

  absl::Status CopyLog(const Trial& t, const std::string& pod) {
    absl::StatusOr<std::string> log =
        client_->PodLog(t.ns, pod, t.primary_container, options_.log_tail_lines);
    if (!log.ok()) return log.status();
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path path(t.log_path);
    if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << *log;
    out.close();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", t.log_path));
    return absl::OkStatus();
  }

  // Sleeps unless the runner stops meanwhile; false when it did.
  bool SleepFor(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + d;
    while (!stop_.load() && absl::Now() < deadline) cv_.WaitWithDeadline(&mu_, deadline);
    return !stop_.load();
  }

  // List, then watch from the list's resourceVersion; re-watch when a stream ends, re-list on
  // 410 and every resync_period, back off after errors.
  void WatchLoop(const std::string& ns, const ResourceType& type) {
    const bool jobs = std::string_view(type.plural) == "jobs";
    std::string rv;
    absl::Time listed = absl::InfinitePast();
    absl::Duration backoff = options_.rewatch_backoff;
    while (!stop_.load()) {
      if (rv.empty() || absl::Now() - listed > options_.resync_period) {
        absl::StatusOr<json> list = client_->List(type, ns, kTrialSelector);
        if (!list.ok()) {
          if (!SleepFor(backoff)) return;
          backoff = std::min(backoff * 2, absl::Seconds(30));
          continue;
        }
        rv = Str(Meta(*list), "resourceVersion");
        listed = absl::Now();
        backoff = options_.rewatch_backoff;
        ReplaceCache(ns, jobs, Member(*list, "items"));
        if (jobs) ConfirmMissingJobs(ns);
      }
      absl::Status s = client_->Watch(
          type, ns,
          {.label_selector = kTrialSelector,
           .resource_version = rv,
           .timeout_seconds = options_.watch_timeout_seconds},
          [&](const WatchEvent& e) {
            const std::string v = Str(Meta(e.object), "resourceVersion");
            if (!v.empty()) rv = v;
            if (e.type != "BOOKMARK") ApplyEvent(ns, jobs, e);
            return !stop_.load() && absl::Now() - listed <= options_.resync_period;
          },
          &stop_);
      if (stop_.load()) return;
      if (s.ok()) {
        backoff = options_.rewatch_backoff;
        continue;
      }
      if (IsApiGone(s)) {
        rv.clear();  // too old: list again
        continue;
      }
      if (!SleepFor(backoff)) return;
      backoff = std::min(backoff * 2, absl::Seconds(30));
    }
  }

  void ReplaceCache(const std::string& ns, bool jobs, const json& items) {
    absl::MutexLock lock(&mu_);
    Cache& cache = *caches_[ns];
    std::map<std::string, json>& map = jobs ? cache.jobs : cache.pods;
    std::map<std::string, json> fresh;
    if (items.is_array()) {
      for (const json& item : items) Put(&fresh, item);
    }
    // A Job this runner created after the list was taken is kept until a GET says otherwise.
    for (auto& [name, object] : map) {
      if (!fresh.contains(name) && jobs) {
        Trial* t = FindByJob(ns, name);
        if (t != nullptr && Uid(object) == t->job_uid) fresh[name] = object;
      }
    }
    map = std::move(fresh);
    for (auto& [name, t] : trials_) {
      if (t->ns == ns) Refresh(t.get());
    }
  }

  // After a re-list: a Job that is missing is confirmed gone with a GET before its trial fails.
  void ConfirmMissingJobs(const std::string& ns) {
    std::vector<std::pair<std::string, std::string>> check;  // job name, uid
    {
      absl::MutexLock lock(&mu_);
      for (auto& [name, t] : trials_) {
        if (t->ns == ns && t->stage == Stage::kActive && !t->job_uid.empty()) {
          check.emplace_back(t->job_name, t->job_uid);
        }
      }
    }
    for (const auto& [job_name, uid] : check) {
      absl::StatusOr<json> job = client_->Get(kJobs, ns, job_name);
      if (!job.ok() && !absl::IsNotFound(job.status())) continue;
      absl::MutexLock lock(&mu_);
      Trial* t = FindByJob(ns, job_name);
      if (t == nullptr || t->job_uid != uid) continue;
      Cache& cache = *caches_[ns];
      if (job.ok() && Uid(*job) == uid) {
        Put(&cache.jobs, *job);
      } else {
        if (auto it = cache.jobs.find(job_name); it != cache.jobs.end() && Uid(it->second) == uid) {
          cache.jobs.erase(it);
        }
        t->job_deleted = true;
      }
      Refresh(t);
    }
  }

  void ApplyEvent(const std::string& ns, bool jobs, const WatchEvent& e) {
    absl::MutexLock lock(&mu_);
    Cache& cache = *caches_[ns];
    std::map<std::string, json>& map = jobs ? cache.jobs : cache.pods;
    const std::string name = Name(e.object);
    if (e.type == "DELETED") {
      auto it = map.find(name);
      if (it != map.end() && Uid(it->second) == Uid(e.object)) map.erase(it);
    } else if (e.type == "ADDED" || e.type == "MODIFIED") {
      Put(&map, e.object);
    } else {
      return;
    }
    std::string job_name = name;
    if (!jobs) {
      job_name = LabelOf(e.object, "batch.kubernetes.io/job-name");
      if (job_name.empty()) job_name = LabelOf(e.object, "job-name");  // before Kubernetes 1.27
    }
    Trial* t = FindByJob(ns, job_name);
    if (t == nullptr) return;
    if (jobs && e.type == "DELETED" && Uid(e.object) == t->job_uid) t->job_deleted = true;
    Refresh(t);
  }

  // Deletes `job_name` (if it is there) and waits until it is gone; for a retry.
  absl::Status DeleteAndWait(const std::string& ns, const std::string& job_name) {
    absl::Status s = client_->Delete(kJobs, ns, job_name, "Background");
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    const absl::Time deadline = absl::Now() + options_.deletion_wait;
    for (;;) {
      absl::StatusOr<json> job = client_->Get(kJobs, ns, job_name);
      if (absl::IsNotFound(job.status())) return absl::OkStatus();
      if (!job.ok()) return job.status();
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("the Job ", ns, "/", job_name,
                         " of the previous attempt is still being "
                         "deleted after ",
                         absl::FormatDuration(options_.deletion_wait)));
      }
      if (!SleepFor(absl::Milliseconds(200))) return absl::CancelledError("runner stopping");
    }
  }

  // Ends a trial whose Launch failed.
  void Fail(const std::string& name, const std::string& reason, const std::string& message) {
    absl::MutexLock lock(&mu_);
    auto it = trials_.find(name);
    if (it == trials_.end()) return;
    Trial& t = *it->second;
    t.status.phase = RunPhase::kFailed;
    t.status.reason = reason;
    t.status.message = message;
    t.stage = Stage::kDone;
  }

  std::unique_ptr<KubeClient> client_;
  const K8sRunnerOptions options_;
  std::atomic<bool> stop_{false};

  absl::Mutex mu_;
  absl::CondVar cv_;  // work_ has items, or stop_
  std::map<std::string, std::unique_ptr<Trial>> trials_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<Cache>> caches_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> work_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

namespace {

// Sets env var `name` of `container` to a literal value or a valueFrom, replacing any entry of
// that name.
void SetEnv(json* container, const std::string& name, json entry) {
  json& env = (*container)["env"];
  if (!env.is_array()) env = json::array();
  entry["name"] = name;
  for (json& e : env) {
    if (Str(e, "name") == name) {
      e = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

void SetIfAbsent(json* object, const char* key, const std::string& value) {
  if (!object->contains(key)) (*object)[key] = value;
}

// A Job that hpt has not finished with (no Complete/Failed condition).
bool Finished(const json& job) {
  return TrueCondition(job, "Complete") != nullptr || TrueCondition(job, "Failed") != nullptr;
}

// The attempt in the name of a token Secret of `job_name` ("<job>-hpt-token-<attempt>"); 0 when
// `name` is not one.
int TokenSecretAttempt(const std::string& job_name, const std::string& name) {
  const std::string prefix = absl::StrCat(job_name, "-hpt-token-");
  int attempt = 0;
  if (!absl::StartsWith(name, prefix) ||
      !absl::SimpleAtoi(absl::string_view(name).substr(prefix.size()), &attempt) || attempt < 1) {
    return 0;
  }
  return attempt;
}

// The highest attempt among the token Secrets of `job_name` that the pod's containers read
// (env valueFrom.secretKeyRef); 0 when none.
int PodAttempt(const json& pod, const std::string& job_name) {
  int attempt = 0;
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Member(Member(pod, "spec"), list);
    if (!containers.is_array()) continue;
    for (const json& container : containers) {
      const json& env = Member(container, "env");
      if (!env.is_array()) continue;
      for (const json& e : env) {
        const json& ref = Member(Member(e, "valueFrom"), "secretKeyRef");
        attempt = std::max(attempt, TokenSecretAttempt(job_name, Str(ref, "name")));
      }
    }
  }
  return attempt;
}

// `s` with `context` before its message; same code and payloads (HttpStatus, StatusReason).
absl::Status WithContext(const absl::Status& s, absl::string_view context) {
  absl::Status out(s.code(), absl::StrCat(context, s.message()));
  s.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

absl::Status K8sRunner::Impl::Launch(const TrialLaunch& l) {
  const std::string where = absl::StrCat("trial '", l.trial_name, "': ");
  if (l.trial_name.empty()) return absl::InvalidArgumentError("a trial needs a name");
  json job = json::parse(l.manifest, nullptr, /*allow_exceptions=*/false);
  if (job.is_discarded() || !job.is_object()) {
    return absl::InvalidArgumentError(
        where + "the Kubernetes runner needs the rendered workload as a JSON object");
  }
  if (Str(job, "apiVersion") != "batch/v1" || Str(job, "kind") != "Job") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "the Kubernetes runner runs batch/v1 Jobs; this trial's workload is ",
                     Str(job, "apiVersion"), " ", Str(job, "kind"),
                     " (TFJob, PyTorchJob and other kinds are not supported yet)"));
  }
  const std::string job_name = Name(job);
  if (!IsDnsLabel(job_name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "metadata.name \"", job_name,
        "\" is not a valid Job name: a DNS-1123 label (lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters)"));
  }
  const std::string ns = !l.namespace_.empty() ? l.namespace_ : options_.default_namespace;
  if (!IsDnsLabel(ns)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "namespace \"", ns, "\" is not a valid namespace (a DNS-1123 label)"));
  }
  if (l.attempt < 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, "attempt must be >= 1, got ", l.attempt));
  }
  json& pod_template = job["spec"]["template"];
  json& containers = pod_template["spec"]["containers"];
  if (!containers.is_array() || containers.empty()) {
    return absl::InvalidArgumentError(where +
                                      "spec.template.spec.containers must be a non-empty list");
  }
  size_t primary_index = 0;
  if (!l.primary_container.empty()) {
    primary_index = containers.size();
    for (size_t i = 0; i < containers.size(); ++i) {
      if (Str(containers[i], "name") == l.primary_container) primary_index = i;
    }
    if (primary_index == containers.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "the primary container \"",
                                                     l.primary_container,
                                                     "\" is not in spec.template.spec.containers"));
    }
  }
  const std::string primary_name = Str(containers[primary_index], "name");

  // What belongs to this run: namespace, selection labels, attempt, defaults, env, Secret.
  job["metadata"]["namespace"] = ns;
  const std::string study_label = LabelValue(l.study_name.empty() ? l.trial_name : l.study_name);
  const std::string trial_label = LabelValue(l.trial_name);
  for (json* object : {&job, &pod_template}) {
    json& labels = (*object)["metadata"]["labels"];
    if (!labels.is_object()) labels = json::object();
    SetIfAbsent(&labels, kStudyLabel, study_label);
    SetIfAbsent(&labels, kTrialLabel, trial_label);
  }
  json& annotations = job["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations[kAttemptAnnotation] = std::to_string(l.attempt);
  annotations[kPrimaryContainerAnnotation] = primary_name;
  if (absl::Status s = ApplyJobSettings(options_.job_defaults, &job); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, s.message()));
  }
  // Taken after every other change to `job`, which may move its members.
  json* primary = &job["spec"]["template"]["spec"]["containers"][primary_index];
  for (const auto& [name, value] : l.env) {
    json entry = json::object();
    entry["value"] = value;
    SetEnv(primary, name, std::move(entry));
  }
  const std::string secret_name =
      l.secret_env.empty() ? "" : absl::StrCat(job_name, "-hpt-token-", l.attempt);
  for (const auto& [name, value] : l.secret_env) {
    json ref = json::object();
    ref["name"] = secret_name;
    ref["key"] = name;
    json entry = json::object();
    entry["valueFrom"]["secretKeyRef"] = std::move(ref);
    SetEnv(primary, name, std::move(entry));
  }

  bool retry = false;
  {
    absl::MutexLock lock(&mu_);
    if (stop_.load()) return absl::FailedPreconditionError(where + "the runner is stopping");
    auto it = trials_.find(l.trial_name);
    if (it != trials_.end() && it->second->adopted && it->second->attempt == l.attempt &&
        it->second->ns == ns && it->second->job_name == job_name) {
      // The engine takes up a trial this runner adopted: attach what it knows (where the log
      // goes); the Job is not created again. A trial that ended meanwhile gets its log now.
      Trial* known = it->second.get();
      if (!l.primary_container.empty()) known->primary_container = primary_name;
      known->adopted = false;
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](Trial* t) { return t->stage != Stage::kFinishing; }, known),
                           absl::Seconds(30));
      known->log_path = l.log_path;
      known->status.log_path = l.log_path;
      if (known->stage != Stage::kDone || known->uncopied_log_pod.empty() || l.log_path.empty()) {
        return absl::OkStatus();
      }
      Trial copy = *known;
      const std::string pod = std::exchange(known->uncopied_log_pod, "");
      mu_.Unlock();
      absl::Status copied = CopyLog(copy, pod);
      mu_.Lock();
      auto again = trials_.find(l.trial_name);
      if (!copied.ok() && again != trials_.end() && again->second.get() == known) {
        absl::StrAppend(&known->status.message,
                        "; the log could not be copied: ", copied.message());
      }
      return absl::OkStatus();
    }
    if (it != trials_.end()) {
      const Trial& known = *it->second;
      if (known.stage != Stage::kDone || l.attempt <= known.attempt) {
        return absl::AlreadyExistsError(absl::StrCat(
            where, "already known to this runner (", RunPhaseName(known.status.phase), ", attempt ",
            known.attempt, "); a retry needs a finished trial and a higher attempt"));
      }
      retry = true;
    }
    auto t = std::make_unique<Trial>();
    t->name = l.trial_name;
    t->study = l.study_name;
    t->ns = ns;
    t->job_name = job_name;
    t->secret_name = secret_name;
    t->primary_container = primary_name;
    t->log_path = l.log_path;
    t->attempt = l.attempt;
    t->status = {.trial_name = l.trial_name,
                 .phase = RunPhase::kPending,
                 .reason = "Creating",
                 .message = absl::StrCat("creating Job ", ns, "/", job_name),
                 .log_path = l.log_path,
                 .attempt = l.attempt};
    trials_[l.trial_name] = std::move(t);
    EnsureWatching(ns);
  }

  auto give_up = [&](const absl::Status& s) {
    if (!secret_name.empty()) client_->Delete(kSecrets, ns, secret_name).IgnoreError();
    Fail(l.trial_name, "LaunchFailed", std::string(s.message()));
    return s;
  };
  if (retry) {
    if (absl::Status s = DeleteAndWait(ns, job_name); !s.ok()) return give_up(s);
  }
  if (!secret_name.empty()) {
    json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata",
                    {{"name", secret_name},
                     {"namespace", ns},
                     {"labels", {{kStudyLabel, study_label}, {kTrialLabel, trial_label}}}}},
                   {"type", "Opaque"},
                   {"stringData", l.secret_env}};
    absl::StatusOr<json> created = client_->Create(kSecrets, ns, secret);
    if (IsApiAlreadyExists(created.status())) {
      // A leftover of this name (an engine that died between the Secret and the Job): its
      // ownerReference may name a Job that is gone, whose garbage collection would take the
      // Secret from under the new Job; the reference to the new Job is set below.
      json patch = {{"stringData", l.secret_env}};
      patch["metadata"]["ownerReferences"] = nullptr;
      created = client_->MergePatch(kSecrets, ns, secret_name, patch);
    }
    if (!created.ok()) return give_up(created.status());
  }

  absl::StatusOr<json> created = client_->Create(kJobs, ns, job);
  if (IsApiAlreadyExists(created.status())) {
    // Ours (a create whose answer was lost, or a restart), an earlier attempt's, or foreign.
    absl::StatusOr<json> existing = client_->Get(kJobs, ns, job_name);
    if (!existing.ok()) return give_up(existing.status());
    const bool same_trial = LabelOf(*existing, kTrialLabel) == trial_label &&
                            LabelOf(*existing, kStudyLabel) == study_label;
    const std::string attempt = AnnotationOf(*existing, kAttemptAnnotation);
    if (same_trial && attempt == std::to_string(l.attempt)) {
      created = std::move(existing);
    } else if (same_trial && Finished(*existing)) {
      if (absl::Status s = DeleteAndWait(ns, job_name); !s.ok()) return give_up(s);
      created = client_->Create(kJobs, ns, job);
    } else {
      return give_up(absl::AlreadyExistsError(
          absl::StrCat(where, "a Job named ", ns, "/", job_name,
                       same_trial ? absl::StrCat(" from attempt ", attempt.empty() ? "?" : attempt,
                                                 " of this trial is still running")
                                  : " already exists and was not created by hpt for this trial",
                       "; delete it or rename the study")));
    }
  }
  if (!created.ok()) {
    if (HttpStatus(created.status()) == 422) {
      if (!secret_name.empty()) client_->Delete(kSecrets, ns, secret_name).IgnoreError();
      Fail(l.trial_name, "Invalid",
           absl::StrCat("the API server refused the Job: ", created.status().message()));
      return absl::OkStatus();
    }
    return give_up(created.status());
  }
  if (!secret_name.empty()) {
    // The cluster deletes the Secret with the Job; the runner deletes it when the trial ends.
    json owner = {
        {"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", job_name}, {"uid", Uid(*created)}};
    client_
        ->MergePatch(kSecrets, ns, secret_name,
                     {{"metadata", {{"ownerReferences", json::array({owner})}}}})
        .IgnoreError();
  }
  absl::MutexLock lock(&mu_);
  auto it = trials_.find(l.trial_name);
  if (it == trials_.end()) return absl::OkStatus();
  Trial& t = *it->second;
  t.job_uid = Uid(*created);
  Put(&caches_[ns]->jobs, *std::move(created));
  t.status.reason = "Created";
  t.status.message = absl::StrCat("Job ", ns, "/", job_name, " created");
  Refresh(&t);
  return absl::OkStatus();
}

absl::StatusOr<RunStatus> K8sRunner::Impl::Poll(const std::string& trial_name) {
  absl::MutexLock lock(&mu_);
  auto it = trials_.find(trial_name);
  if (it == trials_.end()) {
    return absl::NotFoundError(
        absl::StrCat("trial '", trial_name, "' is not known to this runner"));
  }
  return it->second->status;
}

absl::Status K8sRunner::Impl::Cancel(const std::string& trial_name) {
  std::string ns, job_name, secret_name;
  {
    absl::MutexLock lock(&mu_);
    auto it = trials_.find(trial_name);
    if (it == trials_.end()) {
      return absl::NotFoundError(
          absl::StrCat("trial '", trial_name, "' is not known to this runner"));
    }
    Trial& t = *it->second;
    if (t.stage != Stage::kActive || t.cancelling) return absl::OkStatus();
    t.cancelling = true;
    ns = t.ns;
    job_name = t.job_name;
    secret_name = t.secret_name;
  }
  absl::Status s = client_->Delete(kJobs, ns, job_name, "Background");
  if (!s.ok() && !absl::IsNotFound(s)) {
    absl::MutexLock lock(&mu_);
    if (auto it = trials_.find(trial_name); it != trials_.end()) {
      it->second->cancelling = false;
      Refresh(it->second.get());
    }
    return s;
  }
  if (!secret_name.empty()) client_->Delete(kSecrets, ns, secret_name).IgnoreError();
  absl::MutexLock lock(&mu_);
  auto it = trials_.find(trial_name);
  if (it == trials_.end()) return absl::OkStatus();
  Trial& t = *it->second;
  if (t.stage != Stage::kActive) return absl::OkStatus();
  t.status.phase = RunPhase::kFailed;
  t.status.reason = "Cancelled";
  t.status.message = absl::StrCat("cancelled by hpt: the Job ", ns, "/", job_name,
                                  " was deleted (its pods stop within their grace period)");
  t.status.exit_code.reset();
  t.stage = Stage::kDone;
  return absl::OkStatus();
}

std::vector<std::string> K8sRunner::Impl::StudyNamespaces(const std::string& study_name) {
  std::vector<std::string> namespaces = options_.adopt_namespaces;
  if (namespaces.empty()) namespaces.push_back(options_.default_namespace);
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, t] : trials_) {
      if (t->study == study_name) namespaces.push_back(t->ns);
    }
  }
  std::sort(namespaces.begin(), namespaces.end());
  namespaces.erase(std::unique(namespaces.begin(), namespaces.end()), namespaces.end());
  return namespaces;
}

absl::StatusOr<std::vector<RunStatus>> K8sRunner::Impl::Adopt(const std::string& study_name) {
  const std::vector<std::string> namespaces = StudyNamespaces(study_name);
  const std::string selector = absl::StrCat(kStudyLabel, "=", LabelValue(study_name));
  std::vector<std::string> names;
  for (const std::string& ns : namespaces) {
    absl::StatusOr<json> jobs = client_->List(kJobs, ns, selector);
    if (!jobs.ok()) return jobs.status();
    absl::StatusOr<json> pods = client_->List(kPods, ns, selector);
    if (!pods.ok()) return pods.status();
    absl::MutexLock lock(&mu_);
    EnsureWatching(ns);
    Cache& cache = *caches_[ns];
    for (const json& pod : Member(*pods, "items")) Put(&cache.pods, pod);
    for (const json& job : Member(*jobs, "items")) {
      const std::string name = Name(job);
      names.push_back(name);
      Put(&cache.jobs, job);
      auto& t = trials_[name];
      if (t != nullptr) {
        Refresh(t.get());
        continue;
      }
      t = std::make_unique<Trial>();
      t->name = name;
      t->study = study_name;
      t->ns = ns;
      t->job_name = name;
      t->job_uid = Uid(job);
      t->primary_container = AnnotationOf(job, kPrimaryContainerAnnotation);
      int attempt = 1;
      if (absl::SimpleAtoi(AnnotationOf(job, kAttemptAnnotation), &attempt) && attempt >= 1) {
        t->attempt = attempt;
      }
      t->secret_name = absl::StrCat(name, "-hpt-token-", t->attempt);
      t->adopted = true;
      t->status = {.trial_name = name,
                   .phase = RunPhase::kPending,
                   .reason = "Adopted",
                   .message = absl::StrCat("Job ", ns, "/", name, " adopted"),
                   .attempt = t->attempt};
      Refresh(t.get());
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<RunStatus> out;
  absl::MutexLock lock(&mu_);
  for (const std::string& name : names) out.push_back(trials_[name]->status);
  return out;
}

absl::StatusOr<Reclaimed> K8sRunner::Impl::Reclaim(const TrialLaunch& l) {
  const std::string where = absl::StrCat("trial '", l.trial_name, "': ");
  if (l.trial_name.empty()) return absl::InvalidArgumentError("a trial needs a name");
  // Names only (the engine's call for finished trials, whose Jobs Adopt did not find): where the
  // trial ran is unknown, and looking in the default namespace would answer for another place
  // at the price of four API calls per finished trial at every restart.
  if (l.manifest.empty() && l.namespace_.empty()) {
    return absl::UnimplementedError(
        absl::StrCat(where, "without its namespace and manifest the runner cannot look for it"));
  }
  // The Job is named as Launch names it: the manifest's metadata.name, else the trial's name.
  std::string job_name = l.trial_name;
  if (!l.manifest.empty()) {
    const json manifest = json::parse(l.manifest, nullptr, /*allow_exceptions=*/false);
    if (!manifest.is_discarded() && !Name(manifest).empty()) job_name = Name(manifest);
  }
  if (!IsDnsLabel(job_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "\"", job_name,
                     "\" is not a valid Job name (a DNS-1123 label), so no Job of it "
                     "can be looked up"));
  }
  const std::string ns = !l.namespace_.empty() ? l.namespace_ : options_.default_namespace;
  if (!IsDnsLabel(ns)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "namespace \"", ns, "\" is not a valid namespace (a DNS-1123 label)"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = trials_.find(l.trial_name);
    if (it != trials_.end() && it->second->stage != Stage::kDone) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, "this runner still follows it (", RunPhaseName(it->second->status.phase),
          ", attempt ", it->second->attempt, " in namespace ", it->second->ns,
          "); it is not lost, so it is not run again"));
    }
  }

  // 1. A Job of that name, whatever its labels say, is never replaced blindly.
  absl::StatusOr<json> job = client_->Get(kJobs, ns, job_name);
  if (job.ok()) {
    const std::string attempt = AnnotationOf(*job, kAttemptAnnotation);
    return absl::FailedPreconditionError(absl::StrCat(
        where, "Job ", job_name, " in namespace ", ns, " exists (",
        Finished(*job) ? "finished" : "not finished",
        attempt.empty() ? "" : absl::StrCat(", attempt ", attempt),
        ") but was not adopted: its labels ", kStudyLabel, " and ", kTrialLabel,
        " do not name this trial, or the runner does not adopt from namespace ", ns,
        "; hpt does not run the trial again while the Job exists: delete it to let hpt run the "
        "trial again"));
  }
  if (!absl::IsNotFound(job.status())) {
    return WithContext(job.status(), absl::StrCat(where, "cannot tell whether its Job ", ns, "/",
                                                  job_name, " is left: "));
  }

  // 2. Its pods: those labelled for the trial (the runner's label on the pod template) and those
  // the Job controller labelled with the Job's name (a template whose hpt.dev/trial differs).
  std::map<std::string, json> pods;  // by name
  for (const std::string& selector : {absl::StrCat(kTrialLabel, "=", LabelValue(l.trial_name)),
                                      absl::StrCat("job-name=", job_name)}) {
    absl::StatusOr<json> list = client_->List(kPods, ns, selector);
    if (!list.ok()) {
      return WithContext(list.status(),
                         absl::StrCat(where, "cannot list its pods in namespace ", ns, ": "));
    }
    const json& items = Member(*list, "items");
    if (!items.is_array()) continue;
    for (const json& pod : items) pods[Name(pod)] = pod;
  }
  int attempt = 0;
  std::vector<std::string> live, ended;
  for (const auto& [name, pod] : pods) {
    const std::string phase = Str(Member(pod, "status"), "phase");
    if (phase == "Succeeded" || phase == "Failed") {
      ended.push_back(name);
      attempt = std::max(attempt, PodAttempt(pod, job_name));
      continue;
    }
    live.push_back(
        absl::StrCat(ns, "/", name, " (", phase.empty() ? "Pending" : phase,
                     Str(Meta(pod), "deletionTimestamp").empty() ? "" : ", being deleted", ")"));
  }
  if (!live.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "its Job ", ns, "/", job_name, " is gone but ", live.size() == 1 ? "pod " : "pods ",
        absl::StrJoin(live, ", "), live.size() == 1 ? " has" : " have",
        " not ended; hpt does not run the trial again while any of it may still run"));
  }

  // 3. Nothing runs: its token Secrets go (the next attempt gets a new Secret and token).
  absl::StatusOr<json> secrets =
      client_->List(kSecrets, ns, absl::StrCat(kTrialLabel, "=", LabelValue(l.trial_name)));
  if (!secrets.ok()) {
    return WithContext(secrets.status(),
                       absl::StrCat(where, "cannot list its Secrets in namespace ", ns, ": "));
  }
  std::vector<std::string> deleted;
  if (const json& items = Member(*secrets, "items"); items.is_array()) {
    for (const json& secret : items) {
      const std::string name = Name(secret);
      const int secret_attempt = TokenSecretAttempt(job_name, name);
      if (secret_attempt == 0) continue;  // labelled for the trial, but not its token Secret
      absl::Status s = client_->Delete(kSecrets, ns, name);
      if (!s.ok() && !absl::IsNotFound(s)) {
        return WithContext(
            s, absl::StrCat(where, "cannot delete its token Secret ", ns, "/", name, ": "));
      }
      attempt = std::max(attempt, secret_attempt);
      deleted.push_back(name);
    }
  }
  std::sort(deleted.begin(), deleted.end());
  Reclaimed out{.attempt = attempt,
                .message = absl::StrCat("no Job or running pod of trial ", l.trial_name,
                                        " is left in namespace ", ns)};
  if (!deleted.empty()) {
    absl::StrAppend(&out.message, "; its token Secret", deleted.size() == 1 ? " " : "s ",
                    absl::StrJoin(deleted, ", "), deleted.size() == 1 ? " was" : " were",
                    " deleted");
  }
  if (!ended.empty()) {
    absl::StrAppend(&out.message, "; its ended pod", ended.size() == 1 ? " " : "s ",
                    absl::StrJoin(ended, ", "), ended.size() == 1 ? " was" : " were",
                    " left as is");
  }
  return out;
}

absl::Status K8sRunner::Impl::Purge(const std::string& study_name) {
  const std::vector<std::string> namespaces = StudyNamespaces(study_name);
  const std::string selector = absl::StrCat(kStudyLabel, "=", LabelValue(study_name));
  for (const std::string& ns : namespaces) {
    for (const ResourceType* type : {&kJobs, &kSecrets}) {
      absl::StatusOr<json> objects = client_->List(*type, ns, selector);
      if (!objects.ok()) return objects.status();
      for (const json& object : Member(*objects, "items")) {
        absl::Status s = client_->Delete(*type, ns, Name(object), "Background");
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  for (auto it = trials_.begin(); it != trials_.end();) {
    if (it->second->study == study_name) {
      it = trials_.erase(it);
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<K8sRunner>> K8sRunner::Create(std::unique_ptr<KubeClient> client,
                                                             K8sRunnerOptions options) {
  if (client == nullptr) return absl::InvalidArgumentError("K8sRunner needs a KubeClient");
  if (absl::Status s = ValidateK8sRunnerOptions(options); !s.ok()) return s;
  return std::unique_ptr<K8sRunner>(
      new K8sRunner(std::make_unique<Impl>(std::move(client), std::move(options))));
}

K8sRunner::K8sRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
K8sRunner::~K8sRunner() = default;

absl::Status K8sRunner::Launch(const TrialLaunch& launch) {
  try {
    return impl_->Launch(launch);
  } catch (const nlohmann::json::exception& e) {
    // A manifest whose fields have unexpected types (e.g. a string where an object belongs).
    return absl::InvalidArgumentError(absl::StrCat(
        "trial '", launch.trial_name, "': the manifest is not a valid Job: ", e.what()));
  }
}
absl::StatusOr<RunStatus> K8sRunner::Poll(const std::string& trial_name) {
  return impl_->Poll(trial_name);
}
absl::Status K8sRunner::Cancel(const std::string& trial_name) { return impl_->Cancel(trial_name); }
absl::StatusOr<std::vector<RunStatus>> K8sRunner::Adopt(const std::string& study_name) {
  return impl_->Adopt(study_name);
}

absl::StatusOr<Reclaimed> K8sRunner::Reclaim(const TrialLaunch& launch) {
  return impl_->Reclaim(launch);
}

absl::Status K8sRunner::Purge(const std::string& study_name) { return impl_->Purge(study_name); }

}  // namespace hpt::runner::k8s
