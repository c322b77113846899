#include "tests/trial_runner/k8s/fake_apiserver.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <deque>
#include <map>
#include <random>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hpt::runner::k8s::testing {
namespace {

using json = nlohmann::json;

// What the server knows about each resource it serves.
struct ResourceInfo {
  std::string resource;     // "jobs"
  std::string group;        // "batch"; "" = core
  std::string kind;         // "Job"
  std::string api_version;  // "batch/v1"
  size_t max_name_length;
};

const ResourceInfo kJobs{"jobs", "batch", "Job", "batch/v1", 63};
const ResourceInfo kPods{"pods", "", "Pod", "v1", 253};
const ResourceInfo kSecrets{"secrets", "", "Secret", "v1", 253};

const ResourceInfo* FindResource(bool core, absl::string_view resource) {
  if (core) {
    if (resource == "pods") return &kPods;
    if (resource == "secrets") return &kSecrets;
  } else if (resource == "jobs") {
    return &kJobs;
  }
  return nullptr;
}

// "jobs.batch" / "pods": how the real server names a resource in messages.
std::string QualifiedResource(const ResourceInfo& info) {
  return info.group.empty() ? info.resource : absl::StrCat(info.resource, ".", info.group);
}
// "Job.batch" / "Pod": the qualified kind used in Invalid messages.
std::string QualifiedKind(const ResourceInfo& info) {
  return info.group.empty() ? info.kind : absl::StrCat(info.kind, ".", info.group);
}

json StatusFailure(int code, absl::string_view reason, absl::string_view message,
                   json details = json::object()) {
  json status = json::object();
  status["kind"] = "Status";
  status["apiVersion"] = "v1";
  status["metadata"] = json::object();
  status["status"] = "Failure";
  status["message"] = std::string(message);
  status["reason"] = std::string(reason);
  status["details"] = std::move(details);
  status["code"] = code;
  return status;
}

json ObjectDetails(const ResourceInfo& info, absl::string_view name) {
  json details = json::object();
  details["name"] = std::string(name);
  if (!info.group.empty()) details["group"] = info.group;
  details["kind"] = info.resource;
  return details;
}

void Reply(httplib::Response& res, int code, const json& body) {
  res.status = code;
  res.set_content(body.dump(), "application/json");
}

// A label selector: equality, inequality and existence terms, all of which must hold.
struct Requirement {
  enum Op { kEquals, kNotEquals, kExists, kNotExists } op;
  std::string key;
  std::string value;
};

absl::StatusOr<std::vector<Requirement>> ParseSelector(absl::string_view selector) {
  std::vector<Requirement> requirements;
  if (absl::StripAsciiWhitespace(selector).empty()) return requirements;
  for (absl::string_view raw : absl::StrSplit(selector, ',')) {
    absl::string_view term = absl::StripAsciiWhitespace(raw);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("unable to parse requirement: \"", term, "\": ", why));
    };
    if (term.empty()) return bad("empty requirement");
    if (absl::StrContains(term, "(") || absl::StrContains(term, ")") ||
        absl::StrContains(term, " in ") || absl::StrContains(term, " notin ")) {
      return bad(
          "set-based requirements (in, notin) are not supported by the fake API server; "
          "use k=v, k==v, k!=v, k or !k");
    }
    Requirement r;
    size_t pos;
    if (term[0] == '!') {
      r.op = Requirement::kNotExists;
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(1)));
    } else if ((pos = term.find("!=")) != absl::string_view::npos) {
      r.op = Requirement::kNotEquals;
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(0, pos)));
      r.value = std::string(absl::StripAsciiWhitespace(term.substr(pos + 2)));
    } else if ((pos = term.find('=')) != absl::string_view::npos) {
      r.op = Requirement::kEquals;
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(0, pos)));
      size_t value_start = pos + 1;
      if (value_start < term.size() && term[value_start] == '=') ++value_start;
      r.value = std::string(absl::StripAsciiWhitespace(term.substr(value_start)));
    } else {
      r.op = Requirement::kExists;
      r.key = std::string(term);
    }
    if (r.key.empty()) return bad("the key is empty");
    if (r.key.find_first_of("=! ") != std::string::npos) return bad("invalid key");
    requirements.push_back(std::move(r));
  }
  return requirements;
}

bool Matches(const std::vector<Requirement>& requirements, const json& object) {
  const json* labels = nullptr;
  auto metadata = object.find("metadata");
  if (metadata != object.end() && metadata->is_object()) {
    auto it = metadata->find("labels");
    if (it != metadata->end() && it->is_object()) labels = &*it;
  }
  for (const Requirement& r : requirements) {
    std::optional<std::string> value;
    if (labels != nullptr) {
      auto it = labels->find(r.key);
      if (it != labels->end() && it->is_string()) value = it->get<std::string>();
    }
    switch (r.op) {
      case Requirement::kEquals:
        if (!value || *value != r.value) return false;
        break;
      case Requirement::kNotEquals:
        if (value && *value == r.value) return false;
        break;
      case Requirement::kExists:
        if (!value) return false;
        break;
      case Requirement::kNotExists:
        if (value) return false;
        break;
    }
  }
  return true;
}

bool IsDns1123Subdomain(absl::string_view name) {
  if (name.empty()) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty()) return false;
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (label.front() == '-' || label.back() == '-') return false;
  }
  return true;
}

std::string NowRfc3339(bool nanos) {
  absl::Time now = absl::Now();
  return nanos ? absl::FormatTime("%Y-%m-%d%ET%H:%M:%E9SZ", now, absl::UTCTimeZone())
               : absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", now, absl::UTCTimeZone());
}

std::string EventLine(absl::string_view type, const json& object) {
  json event = json::object();
  event["type"] = std::string(type);
  event["object"] = object;
  return event.dump() + "\n";
}

std::string Label(const json& object, const std::string& key) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return "";
  auto it = labels->find(key);
  return it != labels->end() && it->is_string() ? it->get<std::string>() : "";
}

struct Cause {
  std::string reason;
  std::string message;
  std::string field;
};

json InvalidStatus(const ResourceInfo& info, absl::string_view name,
                   const std::vector<Cause>& causes) {
  std::vector<std::string> parts;
  json cause_list = json::array();
  for (const Cause& c : causes) {
    parts.push_back(absl::StrCat(c.field, ": ", c.message));
    cause_list.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  std::string joined =
      parts.size() == 1 ? parts[0] : absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
  json details = json::object();
  details["name"] = std::string(name);
  if (!info.group.empty()) details["group"] = info.group;
  details["kind"] = info.kind;
  details["causes"] = cause_list;
  return StatusFailure(422, "Invalid",
                       absl::StrCat(QualifiedKind(info), " \"", name, "\" is invalid: ", joined),
                       details);
}

// The containers of a pod spec must exist and have a name and an image.
void ValidateContainers(const json& pod_spec, const std::string& prefix,
                        std::vector<Cause>& causes) {
  auto containers = pod_spec.is_object() ? pod_spec.find("containers") : pod_spec.end();
  if (!pod_spec.is_object() || containers == pod_spec.end() || !containers->is_array() ||
      containers->empty()) {
    causes.push_back({"FieldValueRequired", "Required value", prefix + "containers"});
    return;
  }
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& c = (*containers)[i];
    std::string field = absl::StrCat(prefix, "containers[", i, "].");
    for (const char* key : {"name", "image"}) {
      auto it = c.is_object() ? c.find(key) : c.end();
      if (!c.is_object() || it == c.end() || !it->is_string() || it->get<std::string>().empty()) {
        causes.push_back({"FieldValueRequired", "Required value", field + key});
      }
    }
  }
}

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

class FakeApiServer::Impl {
 public:
  Impl() : rng_(std::random_device{}()) {}

  ~Impl() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      cv_.SignalAll();
    }
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Start() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    // As the real API server (Go's net/http): without it, a response written in two pieces
    // waits for the client's delayed ACK, 40 ms a request.
    server_.set_tcp_nodelay(true);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Dispatch(req, res);
    };
    server_.Get(".*", handler);
    server_.Post(".*", handler);
    server_.Delete(".*", handler);
    server_.Put(".*", handler);
    server_.Patch(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) {
      return absl::UnavailableError("fake API server: could not bind a port on 127.0.0.1");
    }
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_ = true;
    });
    // stop() is a no-op until the server runs; wait so the destructor can always stop it.
    while (!server_.is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!server_.is_running()) {
      return absl::UnavailableError(
          absl::StrCat("fake API server: could not listen on 127.0.0.1:", port_));
    }
    return absl::OkStatus();
  }

  int port() const { return port_; }

  // ---- Test hooks.

  absl::Status SetStatus(const ResourceInfo& info, absl::string_view ns, absl::string_view name,
                         const json& status) {
    if (!status.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("fake API server: the status of ", info.resource, " ", ns, "/", name,
                       " must be a JSON object, got ", status.dump()));
    }
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(Key(info, ns, name));
    if (it == objects_.end()) return NotFoundError(info, ns, name);
    json updated = *it->second;
    updated["status"] = status;
    it->second = Write(info, std::string(ns), std::move(updated), "MODIFIED");
    return absl::OkStatus();
  }

  absl::Status CreatePodForJob(absl::string_view ns, absl::string_view job_name,
                               absl::string_view pod_name, absl::string_view phase) {
    absl::MutexLock lock(&mu_);
    auto job = objects_.find(Key(kJobs, ns, job_name));
    if (job == objects_.end()) return NotFoundError(kJobs, ns, job_name);
    auto key = Key(kPods, ns, pod_name);
    if (objects_.count(key) != 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("fake API server: pod ", ns, "/", pod_name, " already exists"));
    }
    const json& template_ = job->second->at("spec").at("template");
    json pod = {{"kind", "Pod"}, {"apiVersion", "v1"}};
    pod["metadata"] = template_.value("metadata", json::object());
    pod["metadata"]["name"] = std::string(pod_name);
    pod["metadata"]["namespace"] = std::string(ns);
    pod["metadata"]["uid"] = NewUid();
    pod["metadata"]["creationTimestamp"] = NowRfc3339(false);
    json owner = json::object();
    owner["apiVersion"] = "batch/v1";
    owner["kind"] = "Job";
    owner["name"] = std::string(job_name);
    owner["uid"] = job->second->at("metadata").at("uid");
    owner["controller"] = true;
    owner["blockOwnerDeletion"] = true;
    pod["metadata"]["ownerReferences"] = json::array({owner});
    pod["spec"] = template_.value("spec", json::object());
    pod["status"] = json::object();
    pod["status"]["phase"] = std::string(phase);
    objects_.emplace(key, Write(kPods, std::string(ns), std::move(pod), "ADDED"));
    return absl::OkStatus();
  }

  absl::Status SetPodLog(absl::string_view ns, absl::string_view pod, absl::string_view text,
                         absl::string_view container) {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(Key(kPods, ns, pod));
    if (it == objects_.end()) return NotFoundError(kPods, ns, pod);
    std::string name(container);
    if (name.empty()) {
      std::vector<std::string> names = ContainerNames(*it->second);
      if (!names.empty()) name = names[0];
    }
    logs_[{std::string(ns), std::string(pod), name}] = {std::string(text), NowRfc3339(true)};
    return absl::OkStatus();
  }

  void Compact() {
    absl::MutexLock lock(&mu_);
    history_.clear();
    compacted_rv_ = rv_;
  }

  void SendBookmark() {
    absl::MutexLock lock(&mu_);
    for (auto& [id, watch] : watches_) {
      if (watch->bookmarks) watch->pending_bookmarks.push_back(rv_);
    }
    cv_.SignalAll();
  }

  void DropWatches() {
    absl::MutexLock lock(&mu_);
    for (auto& [id, watch] : watches_) watch->dropped = true;
    cv_.SignalAll();
  }

  int OpenWatches() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(watches_.size());
  }

  void FailNext(const FailureSpec& spec) {
    if (spec.count <= 0) return;
    absl::MutexLock lock(&mu_);
    failures_.push_back(spec);
  }

  void StallNext(std::chrono::milliseconds duration) {
    absl::MutexLock lock(&mu_);
    stalls_.push_back(duration);
  }

  std::vector<json> List(const ResourceInfo& info, absl::string_view ns) const {
    absl::MutexLock lock(&mu_);
    std::vector<json> out;
    for (const auto& [key, object] : objects_) {
      if (std::get<0>(key) == info.resource && (ns.empty() || std::get<1>(key) == ns)) {
        out.push_back(*object);
      }
    }
    return out;
  }

  std::optional<json> GetObject(absl::string_view resource, absl::string_view ns,
                                absl::string_view name) const {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find({std::string(resource), std::string(ns), std::string(name)});
    if (it == objects_.end()) return std::nullopt;
    return *it->second;
  }

  std::vector<RecordedRequest> Requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  int RequestCount(absl::string_view method, absl::string_view path_prefix) const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count_if(requests_.begin(), requests_.end(), [&](const auto& r) {
      return (method.empty() || r.method == method) && absl::StartsWith(r.path, path_prefix);
    }));
  }

  int64_t ResourceVersion() const {
    absl::MutexLock lock(&mu_);
    return rv_;
  }

 private:
  using ObjectKey = std::tuple<std::string, std::string, std::string>;  // resource, ns, name
  // Objects are shared with the history: a stored object is replaced, never mutated, once an
  // event refers to it (Write() copies).
  using ObjectPtr = std::shared_ptr<const json>;

  struct Event {
    int64_t rv;
    std::string resource;
    std::string ns;
    std::string type;
    ObjectPtr object;
  };

  struct WatchState {
    std::string resource;
    std::string ns;  // "" = every namespace
    std::vector<Requirement> selector;
    bool bookmarks = false;
    int64_t cursor = 0;  // events with rv > cursor are still to be sent
    std::vector<int64_t> pending_bookmarks;
    bool dropped = false;
    std::string initial;  // written before anything else
    bool end_after_initial = false;
    std::optional<absl::Time> deadline;
  };

  struct PodLog {
    std::string text;
    std::string timestamp;
  };

  static ObjectKey Key(const ResourceInfo& info, absl::string_view ns, absl::string_view name) {
    return {info.resource, std::string(ns), std::string(name)};
  }

  static absl::Status NotFoundError(const ResourceInfo& info, absl::string_view ns,
                                    absl::string_view name) {
    return absl::NotFoundError(absl::StrCat("fake API server: ", QualifiedResource(info), " \"",
                                            name, "\" not found in namespace \"", ns, "\""));
  }

  static std::vector<std::string> ContainerNames(const json& pod) {
    std::vector<std::string> names;
    auto spec = pod.find("spec");
    if (spec == pod.end() || !spec->is_object()) return names;
    auto containers = spec->find("containers");
    if (containers == spec->end() || !containers->is_array()) return names;
    for (const json& c : *containers) {
      if (c.is_object() && c.contains("name") && c["name"].is_string()) {
        names.push_back(c["name"].get<std::string>());
      }
    }
    return names;
  }

  std::string NewUid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::uniform_int_distribution<int> hex(0, 15);
    std::string uid;
    const char* digits = "0123456789abcdef";
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) uid += '-';
      int d = hex(rng_);
      if (i == 12) d = 4;            // version 4
      if (i == 16) d = 8 + (d & 3);  // RFC 4122 variant
      uid += digits[d];
    }
    return uid;
  }

  // Stamps a new resourceVersion on `object`, records the event and returns the object to
  // store.
  ObjectPtr Write(const ResourceInfo& info, const std::string& ns, json object,
                  absl::string_view type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    ObjectPtr stored = std::make_shared<const json>(std::move(object));
    history_.push_back({rv_, info.resource, ns, std::string(type), stored});
    if (history_.size() > kMaxHistory) {
      compacted_rv_ = history_.front().rv;
      history_.pop_front();
    }
    cv_.SignalAll();
    return stored;
  }

  // Removes an existing object; returns it as the DELETED event carries it.
  ObjectPtr Erase(const ResourceInfo& info, const ObjectKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = objects_.find(key);
    json object = *it->second;
    objects_.erase(it);
    ObjectPtr deleted = Write(info, std::get<1>(key), std::move(object), "DELETED");
    if (info.resource == "pods") {
      for (auto log = logs_.begin(); log != logs_.end();) {
        if (std::get<0>(log->first) == std::get<1>(key) &&
            std::get<1>(log->first) == std::get<2>(key)) {
          log = logs_.erase(log);
        } else {
          ++log;
        }
      }
    }
    return deleted;
  }

  // ---- HTTP.

  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    std::optional<std::chrono::milliseconds> stall;
    std::optional<FailureSpec> failure;
    {
      absl::MutexLock lock(&mu_);
      std::vector<std::string> params;
      for (const auto& [key, value] : req.params) params.push_back(absl::StrCat(key, "=", value));
      requests_.push_back({req.method, req.path, absl::StrJoin(params, "&"), req.body,
                           req.get_header_value("Authorization")});
      if (!stalls_.empty()) {
        stall = stalls_.front();
        stalls_.pop_front();
      }
      for (auto it = failures_.begin(); it != failures_.end(); ++it) {
        if ((it->method.empty() || it->method == req.method) &&
            absl::StartsWith(req.path, it->path_prefix)) {
          failure = *it;
          if (--it->count <= 0) failures_.erase(it);
          break;
        }
      }
      if (stall) {
        absl::Time until = absl::Now() + absl::FromChrono(*stall);
        while (!stopping_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
        if (stopping_) {
          Reply(res, 503, StatusFailure(503, "ServiceUnavailable", "the server is shutting down"));
          return;
        }
      }
    }
    if (failure) return ReplyFailure(*failure, res);
    Route(req, res);
  }

  static void ReplyFailure(const FailureSpec& spec, httplib::Response& res) {
    std::string reason = "Unknown";
    std::string message = absl::StrCat("injected failure (HTTP ", spec.code, ")");
    switch (spec.code) {
      case 429:
        reason = "TooManyRequests";
        message = "Too many requests, please try again later.";
        break;
      case 500:
        reason = "InternalError";
        message = "Internal error occurred: injected by the fake API server";
        break;
      case 503:
        reason = "ServiceUnavailable";
        message = "the server is currently unable to handle the request";
        break;
      case 504:
        reason = "Timeout";
        message = "the server was unable to return a response in the time allotted";
        break;
    }
    json details = json::object();
    if (spec.retry_after_seconds > 0) {
      details["retryAfterSeconds"] = spec.retry_after_seconds;
      res.set_header("Retry-After", std::to_string(spec.retry_after_seconds));
    }
    Reply(res, spec.code, StatusFailure(spec.code, reason, message, details));
  }

  static void ReplyNoRoute(httplib::Response& res) {
    Reply(res, 404,
          StatusFailure(404, "NotFound", "the server could not find the requested resource"));
  }

  void Route(const httplib::Request& req, httplib::Response& res) {
    std::vector<absl::string_view> parts = absl::StrSplit(req.path, '/', absl::SkipEmpty());
    bool core;
    size_t i;
    if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
      core = true;
      i = 2;
    } else if (parts.size() >= 3 && parts[0] == "apis" && parts[1] == "batch" && parts[2] == "v1") {
      core = false;
      i = 3;
    } else {
      return ReplyNoRoute(res);
    }
    std::vector<absl::string_view> rest(parts.begin() + i, parts.end());
    std::string ns;
    if (!rest.empty() && rest[0] == "namespaces") {
      if (rest.size() < 3) return ReplyNoRoute(res);
      ns = std::string(rest[1]);
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.empty() || rest.size() > 3) return ReplyNoRoute(res);
    const ResourceInfo* info = FindResource(core, rest[0]);
    if (info == nullptr) return ReplyNoRoute(res);
    const std::string method = req.method;
    if (rest.size() == 3) {
      if (rest[2] != "log" || info != &kPods || ns.empty()) return ReplyNoRoute(res);
      if (method != "GET") return ReplyMethodNotAllowed(res);
      return GetLog(ns, std::string(rest[1]), req, res);
    }
    if (rest.size() == 2) {
      if (ns.empty()) return ReplyNoRoute(res);
      std::string name(rest[1]);
      if (method == "GET") return GetOne(*info, ns, name, res);
      if (method == "DELETE") return Delete(*info, ns, name, req, res);
      if (method == "PATCH") return Patch(*info, ns, name, req, res);
      return ReplyMethodNotAllowed(res);
    }
    if (method == "GET") {
      std::string watch = req.get_param_value("watch");
      if (watch == "1" || watch == "true") return Watch(*info, ns, req, res);
      return ListReply(*info, ns, req, res);
    }
    if (method == "POST" && !ns.empty()) return Create(*info, ns, req, res);
    return ReplyMethodNotAllowed(res);
  }

  static void ReplyMethodNotAllowed(httplib::Response& res) {
    Reply(res, 405,
          StatusFailure(405, "MethodNotAllowed",
                        "the server does not allow this method on the requested resource"));
  }

  static void ReplyBadRequest(httplib::Response& res, absl::string_view message) {
    Reply(res, 400, StatusFailure(400, "BadRequest", message));
  }

  void Create(const ResourceInfo& info, const std::string& ns, const httplib::Request& req,
              httplib::Response& res) {
    json object;
    try {
      object = json::parse(req.body);
    } catch (const json::exception& e) {
      return ReplyBadRequest(
          res, absl::StrCat("the object provided is unrecognized (must be of type ", info.kind,
                            "): couldn't get version/kind; json parse error: ", e.what()));
    }
    if (!object.is_object()) {
      return ReplyBadRequest(res, absl::StrCat("the object provided is unrecognized (must be of "
                                               "type ",
                                               info.kind, "): not a JSON object"));
    }
    if (object.contains("apiVersion") && object["apiVersion"] != info.api_version) {
      return ReplyBadRequest(
          res, absl::StrCat("the API version in the data (", object["apiVersion"].dump(),
                            ") does not match the expected API version (", info.api_version, ")"));
    }
    if (object.contains("kind") && object["kind"] != info.kind) {
      return ReplyBadRequest(res,
                             absl::StrCat("the kind in the data (", object["kind"].dump(),
                                          ") does not match the expected kind (", info.kind, ")"));
    }
    object["apiVersion"] = info.api_version;
    object["kind"] = info.kind;
    if (!object.contains("metadata")) object["metadata"] = json::object();
    json& metadata = object["metadata"];
    if (!metadata.is_object()) {
      return ReplyBadRequest(res, "metadata must be a JSON object");
    }
    if (metadata.contains("namespace") && metadata["namespace"] != ns) {
      return ReplyBadRequest(res,
                             "the namespace of the provided object does not match the namespace "
                             "sent on the request");
    }
    std::string name = metadata.value("name", "");
    std::string generate_name = metadata.value("generateName", "");

    absl::MutexLock lock(&mu_);
    if (name.empty() && !generate_name.empty()) {
      const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
      std::uniform_int_distribution<int> pick(0, 26);
      name = generate_name;
      for (int k = 0; k < 5; ++k) name += alphabet[pick(rng_)];
    }
    std::vector<Cause> causes;
    if (name.empty()) {
      causes.push_back({"FieldValueRequired", "Required value: name or generateName is required",
                        "metadata.name"});
    } else if (!IsDns1123Subdomain(name)) {
      causes.push_back(
          {"FieldValueInvalid",
           absl::StrCat("Invalid value: \"", name,
                        "\": a lowercase RFC 1123 subdomain must consist of lower case "
                        "alphanumeric characters, '-' or '.', and must start and end with an "
                        "alphanumeric character (e.g. 'example.com', regex used for validation "
                        "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
           "metadata.name"});
    } else if (name.size() > info.max_name_length) {
      causes.push_back({"FieldValueInvalid",
                        absl::StrCat("Invalid value: \"", name, "\": must be no more than ",
                                     info.max_name_length, " characters"),
                        "metadata.name"});
    }
    const json empty = json::object();
    const json& spec = object.contains("spec") ? object["spec"] : empty;
    if (&info == &kJobs) {
      const json* pod_spec = &empty;
      if (spec.is_object() && spec.contains("template") && spec["template"].is_object() &&
          spec["template"].contains("spec")) {
        pod_spec = &spec["template"]["spec"];
      }
      ValidateContainers(*pod_spec, "spec.template.spec.", causes);
      std::string restart = pod_spec->is_object() ? pod_spec->value("restartPolicy", "Always")
                                                  : std::string("Always");
      if (restart != "Never" && restart != "OnFailure") {
        causes.push_back({"FieldValueNotSupported",
                          absl::StrCat("Unsupported value: \"", restart,
                                       "\": supported values: \"OnFailure\", \"Never\""),
                          "spec.template.spec.restartPolicy"});
      }
    } else if (&info == &kPods) {
      ValidateContainers(spec, "spec.", causes);
    }
    if (!causes.empty()) return Reply(res, 422, InvalidStatus(info, name, causes));

    ObjectKey key = Key(info, ns, name);
    if (objects_.count(key) != 0) {
      return Reply(
          res, 409,
          StatusFailure(409, "AlreadyExists",
                        absl::StrCat(QualifiedResource(info), " \"", name, "\" already exists"),
                        ObjectDetails(info, name)));
    }
    std::string uid = NewUid();
    metadata["name"] = name;
    metadata["namespace"] = ns;
    metadata["uid"] = uid;
    metadata["creationTimestamp"] = NowRfc3339(false);
    if (&info == &kJobs) {
      metadata["generation"] = 1;
      json& job_spec = object["spec"];
      if (!job_spec.contains("parallelism")) job_spec["parallelism"] = 1;
      if (!job_spec.contains("completions")) job_spec["completions"] = 1;
      if (!job_spec.contains("backoffLimit")) job_spec["backoffLimit"] = 6;
      if (!job_spec.contains("completionMode")) job_spec["completionMode"] = "NonIndexed";
      if (!job_spec.contains("suspend")) job_spec["suspend"] = false;
      json& template_metadata = job_spec["template"]["metadata"];
      if (!template_metadata.is_object()) template_metadata = json::object();
      json& template_labels = template_metadata["labels"];
      if (!template_labels.is_object()) template_labels = json::object();
      if ((!metadata.contains("labels") || metadata["labels"].empty()) &&
          !template_labels.empty()) {
        metadata["labels"] = template_labels;
      }
      template_labels["controller-uid"] = uid;
      template_labels["job-name"] = name;
      template_labels["batch.kubernetes.io/controller-uid"] = uid;
      template_labels["batch.kubernetes.io/job-name"] = name;
      job_spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
      object["status"] = json::object();
    } else if (&info == &kPods) {
      object["status"] = {{"phase", "Pending"}};
    } else if (&info == &kSecrets) {
      if (!object.contains("type")) object["type"] = "Opaque";
      if (object.contains("stringData") && object["stringData"].is_object()) {
        for (const auto& [k, v] : object["stringData"].items()) {
          if (v.is_string()) object["data"][k] = absl::Base64Escape(v.get<std::string>());
        }
        object.erase("stringData");
      }
    }
    ObjectPtr stored = Write(info, ns, std::move(object), "ADDED");
    objects_.emplace(key, stored);
    Reply(res, 201, *stored);
  }

  void GetOne(const ResourceInfo& info, const std::string& ns, const std::string& name,
              httplib::Response& res) {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(Key(info, ns, name));
    if (it == objects_.end()) return ReplyNotFound(info, name, res);
    Reply(res, 200, *it->second);
  }

  static void ReplyNotFound(const ResourceInfo& info, const std::string& name,
                            httplib::Response& res) {
    Reply(res, 404,
          StatusFailure(404, "NotFound",
                        absl::StrCat(QualifiedResource(info), " \"", name, "\" not found"),
                        ObjectDetails(info, name)));
  }

  void ListReply(const ResourceInfo& info, const std::string& ns, const httplib::Request& req,
                 httplib::Response& res) {
    absl::StatusOr<std::vector<Requirement>> selector =
        ParseSelector(req.get_param_value("labelSelector"));
    if (!selector.ok()) return ReplyBadRequest(res, selector.status().message());
    absl::MutexLock lock(&mu_);
    json items = json::array();
    for (const auto& [key, object] : objects_) {
      if (std::get<0>(key) != info.resource || (!ns.empty() && std::get<1>(key) != ns)) continue;
      if (!Matches(*selector, *object)) continue;
      json item = *object;
      item.erase("kind");  // the real server leaves kind and apiVersion off list items
      item.erase("apiVersion");
      items.push_back(std::move(item));
    }
    Reply(res, 200,
          {{"kind", info.kind + "List"},
           {"apiVersion", info.api_version},
           {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
           {"items", std::move(items)}});
  }

  void Delete(const ResourceInfo& info, const std::string& ns, const std::string& name,
              const httplib::Request& req, httplib::Response& res) {
    std::string policy = req.get_param_value("propagationPolicy");
    if (policy.empty() && !req.body.empty()) {
      try {
        json options = json::parse(req.body);
        if (options.is_object()) policy = options.value("propagationPolicy", "");
      } catch (const json::exception& e) {
        return ReplyBadRequest(res, absl::StrCat("DeleteOptions: json parse error: ", e.what()));
      }
    }
    if (!policy.empty() && policy != "Background" && policy != "Foreground" && policy != "Orphan") {
      json cause = json::object();
      cause["reason"] = "FieldValueNotSupported";
      cause["message"] = absl::StrCat("Unsupported value: \"", policy,
                                      "\": supported values: \"Foreground\", \"Background\", "
                                      "\"Orphan\"");
      cause["field"] = "propagationPolicy";
      json details = json::object();
      details["group"] = "meta.k8s.io";
      details["kind"] = "DeleteOptions";
      details["causes"] = json::array({cause});
      return Reply(res, 422,
                   StatusFailure(422, "Invalid",
                                 absl::StrCat("DeleteOptions.meta.k8s.io \"\" is invalid: "
                                              "propagationPolicy: Unsupported value: \"",
                                              policy,
                                              "\": supported values: \"Foreground\", "
                                              "\"Background\", \"Orphan\""),
                                 details));
    }
    absl::MutexLock lock(&mu_);
    ObjectKey key = Key(info, ns, name);
    auto it = objects_.find(key);
    if (it == objects_.end()) return ReplyNotFound(info, name, res);
    if (&info == &kJobs) {
      std::vector<ObjectKey> pods;
      for (const auto& [pod_key, pod] : objects_) {
        if (std::get<0>(pod_key) == "pods" && std::get<1>(pod_key) == ns &&
            Label(*pod, "job-name") == name) {
          pods.push_back(pod_key);
        }
      }
      for (const ObjectKey& pod_key : pods) {
        if (policy == "Orphan") {
          ObjectPtr& pod = objects_[pod_key];
          json copy = *pod;
          copy["metadata"].erase("ownerReferences");
          pod = Write(kPods, ns, std::move(copy), "MODIFIED");
        } else {
          Erase(kPods, pod_key);
        }
      }
    }
    if (&info == &kJobs && policy != "Orphan") {
      // The garbage collector's part, done at once: Secrets owned by the Job go with it.
      const json uid = (*it->second)["metadata"]["uid"];
      std::vector<ObjectKey> owned;
      for (const auto& [other_key, other] : objects_) {
        if (std::get<0>(other_key) != "secrets" || std::get<1>(other_key) != ns) continue;
        const json& refs = (*other)["metadata"].value("ownerReferences", json::array());
        for (const json& ref : refs) {
          if (ref.is_object() && ref.value("uid", json()) == uid) owned.push_back(other_key);
        }
      }
      for (const ObjectKey& k : owned) Erase(kSecrets, k);
    }
    ObjectPtr deleted = Erase(info, key);
    if (&info == &kPods) return Reply(res, 200, *deleted);
    json details = ObjectDetails(info, name);
    details["uid"] = (*deleted)["metadata"]["uid"];
    Reply(res, 200,
          {{"kind", "Status"},
           {"apiVersion", "v1"},
           {"metadata", json::object()},
           {"status", "Success"},
           {"details", details}});
  }

  // JSON merge patch (RFC 7386) only; name, namespace, uid and creationTimestamp cannot change.
  void Patch(const ResourceInfo& info, const std::string& ns, const std::string& name,
             const httplib::Request& req, httplib::Response& res) {
    const std::string type = req.get_header_value("Content-Type");
    if (!absl::StartsWith(type, "application/merge-patch+json")) {
      return Reply(res, 415,
                   StatusFailure(415, "UnsupportedMediaType",
                                 absl::StrCat("the body of the request was in an unknown format - "
                                              "accepted media types include: "
                                              "application/merge-patch+json (this fake)"),
                                 json::object()));
    }
    json patch = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (patch.is_discarded() || !patch.is_object()) {
      return ReplyBadRequest(res, "the patch is not a JSON object");
    }
    absl::MutexLock lock(&mu_);
    ObjectKey key = Key(info, ns, name);
    auto it = objects_.find(key);
    if (it == objects_.end()) return ReplyNotFound(info, name, res);
    json object = *it->second;
    const json kept = object["metadata"];
    object.merge_patch(patch);
    if (!object["metadata"].is_object()) object["metadata"] = json::object();
    for (const char* field : {"name", "namespace", "uid", "creationTimestamp"}) {
      if (kept.contains(field)) object["metadata"][field] = kept[field];
    }
    if (&info == &kSecrets && object.contains("stringData")) {
      // Write-only, as on create: merged into data (base64), never stored.
      if (object["stringData"].is_object()) {
        for (const auto& [k, v] : object["stringData"].items()) {
          if (v.is_string()) object["data"][k] = absl::Base64Escape(v.get<std::string>());
        }
      }
      object.erase("stringData");
    }
    object["apiVersion"] = info.api_version;
    object["kind"] = info.kind;
    ObjectPtr stored = Write(info, ns, std::move(object), "MODIFIED");
    it->second = stored;
    Reply(res, 200, *stored);
  }

  void GetLog(const std::string& ns, const std::string& pod, const httplib::Request& req,
              httplib::Response& res) {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(Key(kPods, ns, pod));
    if (it == objects_.end()) return ReplyNotFound(kPods, pod, res);
    std::vector<std::string> names = ContainerNames(*it->second);
    std::string container = req.get_param_value("container");
    if (container.empty()) {
      if (names.size() > 1) {
        return ReplyBadRequest(res,
                               absl::StrCat("a container name must be specified for pod ", pod,
                                            ", choose one of: [", absl::StrJoin(names, " "), "]"));
      }
      if (!names.empty()) container = names[0];
    } else if (std::find(names.begin(), names.end(), container) == names.end()) {
      return ReplyBadRequest(res,
                             absl::StrCat("container ", container, " is not valid for pod ", pod));
    }
    auto log = logs_.find({ns, pod, container});
    std::vector<std::string> lines;
    if (log != logs_.end()) {
      for (absl::string_view line : absl::StrSplit(log->second.text, '\n')) {
        lines.push_back(std::string(line));
      }
      // "a\nb\n" splits into a, b and an empty last piece that is no line.
      if (!lines.empty() && lines.back().empty()) lines.pop_back();
    }
    std::string tail = req.get_param_value("tailLines");
    int64_t tail_lines;
    if (!tail.empty()) {
      if (!absl::SimpleAtoi(tail, &tail_lines) || tail_lines < 0) {
        return ReplyBadRequest(res, absl::StrCat("tailLines: invalid value \"", tail, "\""));
      }
      if (static_cast<size_t>(tail_lines) < lines.size()) {
        lines.erase(lines.begin(), lines.end() - tail_lines);
      }
    }
    bool timestamps = req.get_param_value("timestamps") == "true";
    std::string body;
    bool ends_with_newline = log != logs_.end() && absl::EndsWith(log->second.text, "\n");
    for (size_t k = 0; k < lines.size(); ++k) {
      if (timestamps) absl::StrAppend(&body, log->second.timestamp, " ");
      body += lines[k];
      if (k + 1 < lines.size() || ends_with_newline) body += '\n';
    }
    res.status = 200;
    res.set_content(body, "text/plain");
  }

  void Watch(const ResourceInfo& info, const std::string& ns, const httplib::Request& req,
             httplib::Response& res) {
    absl::StatusOr<std::vector<Requirement>> selector =
        ParseSelector(req.get_param_value("labelSelector"));
    if (!selector.ok()) return ReplyBadRequest(res, selector.status().message());
    auto watch = std::make_shared<WatchState>();
    watch->resource = info.resource;
    watch->ns = ns;
    watch->selector = *std::move(selector);
    watch->bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
    std::string timeout = req.get_param_value("timeoutSeconds");
    if (!timeout.empty()) {
      int64_t seconds;
      if (!absl::SimpleAtoi(timeout, &seconds) || seconds < 0) {
        return ReplyBadRequest(res,
                               absl::StrCat("timeoutSeconds: invalid value \"", timeout, "\""));
      }
      if (seconds > 0) watch->deadline = absl::Now() + absl::Seconds(seconds);
    }
    std::string rv_param = req.get_param_value("resourceVersion");
    int64_t from = 0;
    if (!rv_param.empty() && (!absl::SimpleAtoi(rv_param, &from) || from < 0)) {
      return ReplyBadRequest(res, absl::StrCat("resourceVersion: Invalid value: \"", rv_param,
                                               "\": must be a non-negative integer"));
    }
    int64_t id;
    {
      absl::MutexLock lock(&mu_);
      if (from == 0) {
        // Like the real server: the current state as ADDED events, then changes.
        for (const auto& [key, object] : objects_) {
          if (std::get<0>(key) != info.resource || (!ns.empty() && std::get<1>(key) != ns)) {
            continue;
          }
          if (Matches(watch->selector, *object)) watch->initial += EventLine("ADDED", *object);
        }
        watch->cursor = rv_;
      } else if (from < compacted_rv_) {
        watch->initial = ExpiredLine(from);
        watch->end_after_initial = true;
      } else {
        watch->cursor = from;
      }
      id = next_watch_id_++;
      watches_[id] = watch;
    }
    res.status = 200;
    // "application/json" would make httplib gzip the stream for clients that accept gzip, and
    // its deflate stream holds events back; this parameterised type is not compressed.
    res.set_chunked_content_provider(
        "application/json;stream=watch",
        [this, watch](size_t, httplib::DataSink& sink) { return StreamWatch(*watch, sink); },
        [this, id](bool) {
          absl::MutexLock lock(&mu_);
          watches_.erase(id);
        });
  }

  std::string ExpiredLine(int64_t from) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return EventLine("ERROR", StatusFailure(410, "Expired",
                                            absl::StrCat("too old resource version: ", from, " (",
                                                         compacted_rv_, ")"),
                                            json::object()));
  }

  // One step of a watch stream: waits (at most kPoll) for something to send, sends it. Returns
  // false to close the connection abruptly (dropped, shutting down, client gone).
  bool StreamWatch(WatchState& watch, httplib::DataSink& sink) {
    std::string out;
    bool end = false;
    {
      absl::MutexLock lock(&mu_);
      if (!watch.initial.empty()) {
        out = std::move(watch.initial);
        watch.initial.clear();
        end = watch.end_after_initial;
      } else {
        absl::Time until = absl::Now() + kPoll;
        if (watch.deadline && *watch.deadline < until) until = *watch.deadline;
        while (true) {
          if (watch.dropped || stopping_) return false;
          if (watch.cursor < compacted_rv_) {
            out = ExpiredLine(watch.cursor);
            end = true;
            break;
          }
          CollectEvents(watch, out);
          if (!out.empty()) break;
          if (watch.deadline && absl::Now() >= *watch.deadline) {
            end = true;
            break;
          }
          if (absl::Now() >= until) break;
          cv_.WaitWithDeadline(&mu_, until);
        }
      }
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) return false;
    if (end) sink.done();
    return true;
  }

  // Appends the events after watch.cursor that the watch selects, and pending bookmarks in
  // resourceVersion order.
  void CollectEvents(WatchState& watch, std::string& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto next = std::upper_bound(history_.begin(), history_.end(), watch.cursor,
                                 [](int64_t rv, const Event& e) { return rv < e.rv; });
    size_t bookmark = 0;
    auto emit_bookmarks_up_to = [&](int64_t rv) {
      while (bookmark < watch.pending_bookmarks.size() && watch.pending_bookmarks[bookmark] <= rv) {
        int64_t b = std::max(watch.pending_bookmarks[bookmark++], watch.cursor);
        out += EventLine("BOOKMARK", {{"kind", KindOf(watch.resource)},
                                      {"apiVersion", ApiVersionOf(watch.resource)},
                                      {"metadata", {{"resourceVersion", std::to_string(b)}}}});
        watch.cursor = b;
      }
    };
    for (; next != history_.end(); ++next) {
      emit_bookmarks_up_to(next->rv - 1);
      watch.cursor = next->rv;
      if (next->resource != watch.resource || (!watch.ns.empty() && next->ns != watch.ns)) {
        continue;
      }
      if (!Matches(watch.selector, *next->object)) continue;
      out += EventLine(next->type, *next->object);
    }
    emit_bookmarks_up_to(INT64_MAX);
    watch.pending_bookmarks.clear();
  }

  static std::string KindOf(const std::string& resource) {
    return resource == "jobs" ? kJobs.kind : resource == "pods" ? kPods.kind : kSecrets.kind;
  }
  static std::string ApiVersionOf(const std::string& resource) {
    return resource == "jobs" ? kJobs.api_version : "v1";
  }

  static constexpr size_t kMaxHistory = 100000;
  static constexpr absl::Duration kPoll = absl::Milliseconds(200);

  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // signalled on every write, bookmark, drop and on shutdown
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t compacted_rv_ ABSL_GUARDED_BY(mu_) = 0;  // watches from before this get 410
  std::map<ObjectKey, ObjectPtr> objects_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> history_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<WatchState>> watches_ ABSL_GUARDED_BY(mu_);
  int64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<ObjectKey, PodLog> logs_ ABSL_GUARDED_BY(mu_);  // ns, pod, container
  std::deque<FailureSpec> failures_ ABSL_GUARDED_BY(mu_);
  std::deque<std::chrono::milliseconds> stalls_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<FakeApiServer>> FakeApiServer::Start() {
  auto impl = std::make_unique<Impl>();
  absl::Status started = impl->Start();
  if (!started.ok()) return started;
  return std::unique_ptr<FakeApiServer>(new FakeApiServer(std::move(impl)));
}

FakeApiServer::FakeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeApiServer::~FakeApiServer() = default;

int FakeApiServer::port() const { return impl_->port(); }
std::string FakeApiServer::base_url() const {
  return absl::StrCat("http://127.0.0.1:", impl_->port());
}

absl::Status FakeApiServer::SetJobStatus(std::string_view ns, std::string_view job,
                                         const nlohmann::json& status) {
  return impl_->SetStatus(kJobs, A(ns), A(job), status);
}
absl::Status FakeApiServer::CreatePodForJob(std::string_view ns, std::string_view job,
                                            std::string_view pod, std::string_view phase) {
  return impl_->CreatePodForJob(A(ns), A(job), A(pod), A(phase));
}
absl::Status FakeApiServer::SetPodStatus(std::string_view ns, std::string_view pod,
                                         const nlohmann::json& status) {
  return impl_->SetStatus(kPods, A(ns), A(pod), status);
}
absl::Status FakeApiServer::SetPodLog(std::string_view ns, std::string_view pod,
                                      std::string_view text, std::string_view container) {
  return impl_->SetPodLog(A(ns), A(pod), A(text), A(container));
}

void FakeApiServer::Compact() { impl_->Compact(); }
void FakeApiServer::SendBookmark() { impl_->SendBookmark(); }
void FakeApiServer::DropWatches() { impl_->DropWatches(); }
int FakeApiServer::OpenWatches() const { return impl_->OpenWatches(); }

void FakeApiServer::FailNext(const FailureSpec& spec) { impl_->FailNext(spec); }
void FakeApiServer::FailNext(int count, int code, int retry_after_seconds) {
  impl_->FailNext({.count = count, .code = code, .retry_after_seconds = retry_after_seconds});
}
void FakeApiServer::StallNext(std::chrono::milliseconds duration) { impl_->StallNext(duration); }

std::vector<nlohmann::json> FakeApiServer::Jobs(std::string_view ns) const {
  return impl_->List(kJobs, A(ns));
}
std::vector<nlohmann::json> FakeApiServer::Pods(std::string_view ns) const {
  return impl_->List(kPods, A(ns));
}
std::vector<nlohmann::json> FakeApiServer::Secrets(std::string_view ns) const {
  return impl_->List(kSecrets, A(ns));
}
std::optional<nlohmann::json> FakeApiServer::Get(std::string_view resource, std::string_view ns,
                                                 std::string_view name) const {
  return impl_->GetObject(A(resource), A(ns), A(name));
}
std::vector<RecordedRequest> FakeApiServer::Requests() const { return impl_->Requests(); }
int FakeApiServer::RequestCount(std::string_view method, std::string_view path_prefix) const {
  return impl_->RequestCount(A(method), A(path_prefix));
}
int64_t FakeApiServer::ResourceVersion() const { return impl_->ResourceVersion(); }

}  // namespace hpt::runner::k8s::testing
