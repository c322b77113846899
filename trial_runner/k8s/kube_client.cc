#include "trial_runner/k8s/kube_client.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace hpt::runner::k8s {
namespace {

using nlohmann::json;

constexpr char kHttpStatusPayload[] = "hpt.dev/k8s-http-status";
constexpr char kReasonPayload[] = "hpt.dev/k8s-status-reason";
constexpr size_t kMaxIdleHandles = 8;
// Error bodies are read in full, but only this much of one goes into a message.
constexpr size_t kMaxBodyInMessage = 2048;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusCode CodeForHttp(int http, absl::string_view reason) {
  switch (http) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http >= 500) return absl::StatusCode::kUnavailable;
  if (http >= 400) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kInternal;  // an unexpected 1xx/3xx
}

std::string Truncate(absl::string_view s) {
  if (s.size() <= kMaxBodyInMessage) return std::string(s);
  return absl::StrCat(s.substr(0, kMaxBodyInMessage), "... (", s.size(), " bytes)");
}

// The Status for a refusal: from a metav1.Status body when there is one, from the HTTP status
// and the raw body otherwise. `what` is "<METHOD> <path>".
absl::Status RefusalStatus(absl::string_view what, int http, absl::string_view body) {
  std::string reason, message;
  json status = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (status.is_object()) {
    if (auto r = status.find("reason"); r != status.end() && r->is_string()) reason = *r;
    if (auto m = status.find("message"); m != status.end() && m->is_string()) message = *m;
    // The causes of a 422 name the fields; the message usually lists them too, so they are
    // added only when it does not.
    const json* causes = nullptr;
    if (auto d = status.find("details"); d != status.end() && d->is_object()) {
      if (auto c = d->find("causes"); c != d->end() && c->is_array()) causes = &*c;
    }
    if (causes != nullptr) {
      for (const json& c : *causes) {
        if (!c.is_object()) continue;
        std::string field = c.value("field", ""), text = c.value("message", "");
        if (text.empty() || absl::StrContains(message, text)) continue;
        absl::StrAppend(&message, message.empty() ? "" : "; ", field, field.empty() ? "" : ": ",
                        text);
      }
    }
  }
  if (message.empty()) message = body.empty() ? "(empty response)" : Truncate(body);
  absl::Status s(CodeForHttp(http, reason),
                 absl::StrCat(what, ": ", http, reason.empty() ? "" : " ", reason, ": ", message));
  s.SetPayload(kHttpStatusPayload, absl::Cord(std::to_string(http)));
  if (!reason.empty()) s.SetPayload(kReasonPayload, absl::Cord(reason));
  return s;
}

bool RetryableHttp(int http) {
  return http == 429 || http == 500 || http == 502 || http == 503 || http == 504;
}

bool RetryableCurl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

std::string Escape(CURL* curl, std::string_view s) {
  char* e = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

}  // namespace

int HttpStatus(const absl::Status& status) {
  auto p = status.GetPayload(kHttpStatusPayload);
  int code = 0;
  if (!p || !absl::SimpleAtoi(std::string(*p), &code)) return 0;
  return code;
}

std::string StatusReason(const absl::Status& status) {
  auto p = status.GetPayload(kReasonPayload);
  return p ? std::string(*p) : "";
}

bool IsApiAlreadyExists(const absl::Status& status) {
  return HttpStatus(status) == 409 && StatusReason(status) == "AlreadyExists";
}

bool IsApiGone(const absl::Status& status) { return HttpStatus(status) == 410; }

class KubeClient::Impl {
 public:
  Impl(KubeConfig config, KubeClientOptions options)
      : config_(std::move(config)),
        options_(std::move(options)),
        rng_(options_.jitter_seed != 0 ? options_.jitter_seed
                                       : static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {
    bearer_token_ = config_.bearer_token;
    token_read_ = absl::Now();
  }

  ~Impl() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  // One HTTP exchange's outcome.
  struct Response {
    CURLcode curl = CURLE_OK;
    std::string curl_error;
    int http = 0;
    std::string body;
    std::string retry_after;  // the Retry-After header
  };

  // Called with each piece of the body of a 200 response; returns false to stop the transfer.
  using DataSink = std::function<bool(std::string_view)>;

  std::string Path(const ResourceType& type, std::string_view ns, std::string_view name,
                   std::string_view subresource) {
    CURL* h = Acquire();
    std::string p = type.api_prefix;
    if (!ns.empty()) absl::StrAppend(&p, "/namespaces/", Escape(h, ns));
    absl::StrAppend(&p, "/", type.plural);
    if (!name.empty()) absl::StrAppend(&p, "/", Escape(h, name));
    if (!subresource.empty()) absl::StrAppend(&p, "/", std::string(subresource));
    Release(h);
    return p;
  }

  std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
    if (params.empty()) return "";
    CURL* h = Acquire();
    std::vector<std::string> parts;
    for (const auto& [k, v] : params) parts.push_back(absl::StrCat(k, "=", Escape(h, v)));
    Release(h);
    return absl::StrCat("?", absl::StrJoin(parts, "&"));
  }

  // A call with retries; returns the body of a 2xx response.
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& path_query,
                                   const std::string& body, const std::string& content_type) {
    const std::string what = absl::StrCat(method, " ", path_query);
    absl::Status last;
    for (int attempt = 1;; ++attempt) {
      if (shutdown_.load()) return absl::CancelledError(what + ": the client was shut down");
      Response r = Perform(method, path_query, body, content_type, nullptr, nullptr,
                           options_.request_timeout);
      absl::Duration delay = Backoff(attempt);
      if (r.curl == CURLE_OK && r.http >= 200 && r.http < 300) return std::move(r.body);
      if (r.curl == CURLE_ABORTED_BY_CALLBACK) {
        return absl::CancelledError(what + ": the client was shut down");
      }
      bool retry;
      if (r.curl != CURLE_OK) {
        last = TransportStatus(what, r);
        retry = RetryableCurl(r.curl);
      } else {
        last = RefusalStatus(what, r.http, r.body);
        retry = RetryableHttp(r.http);
        if (r.http == 429) {
          if (std::optional<absl::Duration> ra = RetryAfter(r); ra) delay = *ra;
        }
      }
      if (!retry) return last;
      if (attempt >= options_.max_attempts) {
        absl::Status out(last.code(),
                         absl::StrCat(last.message(), " (gave up after ", attempt, " attempts)"));
        last.ForEachPayload(
            [&](absl::string_view url, const absl::Cord& p) { out.SetPayload(url, p); });
        return out;
      }
      if (!SleepFor(delay)) return absl::CancelledError(what + ": the client was shut down");
    }
  }

  absl::StatusOr<json> CallJson(const std::string& method, const std::string& path_query,
                                const std::string& body, const std::string& content_type) {
    absl::StatusOr<std::string> text = Call(method, path_query, body, content_type);
    if (!text.ok()) return text.status();
    json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InternalError(
          absl::StrCat(method, " ", path_query,
                       ": the API server's answer is not a JSON object: ", Truncate(*text)));
    }
    return j;
  }

  absl::Status Watch(const std::string& path_query, const std::string& what,
                     const std::function<bool(const WatchEvent&)>& on_event,
                     const std::atomic<bool>* stop, int timeout_seconds) {
    std::string pending;
    absl::Status event_error;
    bool stopped_by_callback = false;
    auto handle_line = [&](std::string_view raw) -> bool {
      absl::string_view line =
          absl::StripAsciiWhitespace(absl::string_view(raw.data(), raw.size()));
      if (line.empty()) return true;
      json e = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
      if (!e.is_object() || !e.contains("type") || !e["type"].is_string()) {
        event_error = absl::InternalError(
            absl::StrCat(what, ": a watch event that is not {type, object}: ", Truncate(line)));
        return false;
      }
      WatchEvent ev{e["type"].get<std::string>(), e.value("object", json())};
      if (ev.type == "ERROR") {
        const int code = ev.object.is_object() ? ev.object.value("code", 500) : 500;
        event_error = RefusalStatus(what, code, ev.object.dump());
        return false;
      }
      if (!on_event(ev)) {
        stopped_by_callback = true;
        return false;
      }
      return true;
    };
    DataSink sink = [&](std::string_view data) -> bool {
      pending.append(data);
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (!handle_line(std::string_view(pending).substr(start, nl - start))) return false;
      }
      pending.erase(0, start);
      return true;
    };
    // The server ends the stream after timeout_seconds; the client allows a minute more.
    Response r = Perform("GET", path_query, "", "", &sink, stop,
                         absl::Seconds(timeout_seconds) + absl::Minutes(1));
    if (stopped_by_callback) return absl::OkStatus();
    if (!event_error.ok()) return event_error;
    if (r.curl == CURLE_ABORTED_BY_CALLBACK || shutdown_.load() || (stop && stop->load())) {
      return absl::CancelledError(what + ": watch stopped");
    }
    if (r.curl != CURLE_OK) return TransportStatus(what, r);
    if (r.http != 200) return RefusalStatus(what, r.http, r.body);
    if (!pending.empty() && !handle_line(pending)) {
      return stopped_by_callback ? absl::OkStatus() : event_error;
    }
    return absl::OkStatus();
  }

  void Shutdown() {
    {
      absl::MutexLock lock(&sleep_mu_);
      shutdown_.store(true);
      sleep_cv_.SignalAll();
    }
    // Wakes transfers blocked in recv (an idle watch) at once, rather than at curl's next
    // progress callback.
    absl::MutexLock lock(&sockets_mu_);
    for (curl_socket_t fd : sockets_) ::shutdown(fd, SHUT_RDWR);
  }

  const KubeConfig& config() const { return config_; }

 private:
  struct Transfer {
    Impl* impl;
    CURL* handle;
    const std::atomic<bool>* stop;
    DataSink* sink;
    Response* response;
    bool sink_stopped = false;
  };

  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    absl::string_view line(data, size * n);
    if (absl::StartsWith(line, "HTTP/")) t->response->retry_after.clear();  // a new response
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos &&
        absl::EqualsIgnoreCase(line.substr(0, colon), "Retry-After")) {
      t->response->retry_after = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
    return size * n;
  }

  static size_t OnData(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t bytes = size * n;
    long code = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &code);
    if (t->sink != nullptr && code == 200) {
      if (!(*t->sink)(std::string_view(data, bytes))) {
        t->sink_stopped = true;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
      }
      return bytes;
    }
    t->response->body.append(data, bytes);
    return bytes;
  }

  // curl's sockets are opened and closed here so that Shutdown() can find them.
  static curl_socket_t OnOpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
    auto* impl = static_cast<Impl*>(user);
    curl_socket_t fd =
        ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd == CURL_SOCKET_BAD) return fd;
    absl::MutexLock lock(&impl->sockets_mu_);
    impl->sockets_.insert(fd);
    if (impl->shutdown_.load()) ::shutdown(fd, SHUT_RDWR);
    return fd;
  }

  static int OnCloseSocket(void* user, curl_socket_t fd) {
    auto* impl = static_cast<Impl*>(user);
    absl::MutexLock lock(&impl->sockets_mu_);
    impl->sockets_.erase(fd);
    return ::close(fd);
  }

  static int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(user);
    if (t->impl->shutdown_.load()) return 1;
    if (t->stop != nullptr && t->stop->load()) return 1;
    return 0;
  }

  Response Perform(const std::string& method, const std::string& path_query,
                   const std::string& body, const std::string& content_type, DataSink* sink,
                   const std::atomic<bool>* stop, absl::Duration timeout) {
    Response r;
    CURL* h = Acquire();
    if (h == nullptr) {
      r.curl = CURLE_FAILED_INIT;
      r.curl_error = "curl_easy_init failed";
      return r;
    }
    Transfer t{this, h, stop, sink, &r};
    char error[CURL_ERROR_SIZE] = {0};
    const std::string url = config_.server + path_query;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::OnData);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, &Impl::OnOpenSocket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, &Impl::OnCloseSocket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &Impl::OnProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    if (sink != nullptr) curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);

    // TLS: the configured CA (else the system's), the client certificate, or no verification.
    curl_blob ca{}, cert{}, key{};
    if (!config_.certificate_authority_pem.empty()) {
      ca = {const_cast<char*>(config_.certificate_authority_pem.data()),
            config_.certificate_authority_pem.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (!config_.client_certificate_pem.empty()) {
      cert = {const_cast<char*>(config_.client_certificate_pem.data()),
              config_.client_certificate_pem.size(), CURL_BLOB_NOCOPY};
      key = {const_cast<char*>(config_.client_key_pem.data()), config_.client_key_pem.size(),
             CURL_BLOB_NOCOPY};
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (config_.insecure_skip_tls_verify) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    const std::string token = Token();
    if (!token.empty()) {
      const std::string auth = absl::StrCat("Authorization: Bearer ", token);
      headers = curl_slist_append(headers, auth.c_str());
    }
    if (!content_type.empty()) {
      const std::string ct = absl::StrCat("Content-Type: ", content_type);
      headers = curl_slist_append(headers, ct.c_str());
    }
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
      if (method != "DELETE" || !body.empty()) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      }
    }

    r.curl = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    r.http = static_cast<int>(code);
    if (t.sink_stopped && r.curl == CURLE_WRITE_ERROR) r.curl = CURLE_OK;
    if (r.curl != CURLE_OK) r.curl_error = error[0] ? error : curl_easy_strerror(r.curl);
    curl_slist_free_all(headers);
    // A handle whose transfer was cut short may hold a broken connection; do not reuse it.
    const bool reusable = r.curl == CURLE_OK && !t.sink_stopped;
    Release(h, reusable);
    return r;
  }

  absl::Status TransportStatus(const std::string& what, const Response& r) {
    const std::string text = absl::StrCat(what, ": cannot reach the Kubernetes API server at ",
                                          config_.server, ": ", r.curl_error);
    return r.curl == CURLE_OPERATION_TIMEDOUT ? absl::DeadlineExceededError(text)
                                              : absl::UnavailableError(text);
  }

  std::optional<absl::Duration> RetryAfter(const Response& r) {
    int seconds = -1;
    if (!absl::SimpleAtoi(r.retry_after, &seconds) || seconds < 0) {
      json status = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      if (status.is_object() && status.contains("details") && status["details"].is_object()) {
        const json& d = status["details"];
        if (d.contains("retryAfterSeconds") && d["retryAfterSeconds"].is_number_integer()) {
          seconds = d["retryAfterSeconds"].get<int>();
        }
      }
    }
    if (seconds < 0) return std::nullopt;
    return std::min(absl::Seconds(seconds), options_.max_retry_after);
  }

  // A uniform draw in [d/2, d], d = initial_backoff * 2^(attempt-1) capped at max_backoff.
  absl::Duration Backoff(int attempt) {
    absl::Duration d = options_.initial_backoff;
    for (int i = 1; i < attempt && d < options_.max_backoff; ++i) d *= 2;
    d = std::min(d, options_.max_backoff);
    absl::MutexLock lock(&rng_mu_);
    std::uniform_real_distribution<double> u(0.5, 1.0);
    return d * u(rng_);
  }

  // Sleeps unless the client is shut down meanwhile; false when it was.
  bool SleepFor(absl::Duration d) {
    absl::MutexLock lock(&sleep_mu_);
    const absl::Time deadline = absl::Now() + d;
    while (!shutdown_.load() && absl::Now() < deadline) {
      sleep_cv_.WaitWithDeadline(&sleep_mu_, deadline);
    }
    return !shutdown_.load();
  }

  // The bearer token; a token file (rotating service-account tokens) is re-read every minute.
  std::string Token() {
    absl::MutexLock lock(&token_mu_);
    if (!config_.token_file.empty() && absl::Now() - token_read_ > absl::Minutes(1)) {
      token_read_ = absl::Now();
      std::ifstream in(config_.token_file);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string t(absl::StripAsciiWhitespace(ss.str()));
      if (in && !t.empty()) bearer_token_ = std::move(t);  // keep the old one on a failed read
    }
    return bearer_token_;
  }

  CURL* Acquire() {
    {
      absl::MutexLock lock(&pool_mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void Release(CURL* h, bool reusable = true) {
    if (h == nullptr) return;
    if (reusable) {
      curl_easy_reset(h);
      absl::MutexLock lock(&pool_mu_);
      if (idle_.size() < kMaxIdleHandles) {
        idle_.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }

  const KubeConfig config_;
  const KubeClientOptions options_;
  std::atomic<bool> shutdown_{false};

  absl::Mutex sleep_mu_;
  absl::CondVar sleep_cv_;

  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);

  absl::Mutex token_mu_;
  std::string bearer_token_ ABSL_GUARDED_BY(token_mu_);
  absl::Time token_read_ ABSL_GUARDED_BY(token_mu_);

  absl::Mutex pool_mu_;
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(pool_mu_);

  absl::Mutex sockets_mu_;
  std::set<curl_socket_t> sockets_ ABSL_GUARDED_BY(sockets_mu_);
};

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(KubeConfig config,
                                                               KubeClientOptions options) {
  if (config.server.empty()) {
    return absl::InvalidArgumentError("the Kubernetes configuration names no API server");
  }
  if (!absl::StartsWith(config.server, "http://") && !absl::StartsWith(config.server, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the API server must be an http:// or https:// URL, got \"", config.server, "\""));
  }
  while (absl::EndsWith(config.server, "/")) config.server.pop_back();
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("KubeClientOptions.max_attempts must be >= 1, got ", options.max_attempts));
  }
  const std::pair<const char*, absl::Duration> durations[] = {
      {"connect_timeout", options.connect_timeout},
      {"request_timeout", options.request_timeout},
      {"initial_backoff", options.initial_backoff},
      {"max_backoff", options.max_backoff},
      {"max_retry_after", options.max_retry_after}};
  for (const auto& [name, d] : durations) {
    if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("KubeClientOptions.", name,
                                                     " must be a positive finite duration, got ",
                                                     absl::FormatDuration(d)));
    }
  }
  GlobalInit();
  return std::unique_ptr<KubeClient>(
      new KubeClient(std::make_unique<Impl>(std::move(config), std::move(options))));
}

KubeClient::KubeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubeClient::~KubeClient() = default;

const KubeConfig& KubeClient::config() const { return impl_->config(); }

absl::StatusOr<json> KubeClient::Create(const ResourceType& type, std::string_view ns,
                                        const json& object) {
  return impl_->CallJson("POST", impl_->Path(type, ns, "", ""), object.dump(), "application/json");
}

absl::StatusOr<json> KubeClient::Get(const ResourceType& type, std::string_view ns,
                                     std::string_view name) {
  return impl_->CallJson("GET", impl_->Path(type, ns, name, ""), "", "");
}

absl::StatusOr<json> KubeClient::List(const ResourceType& type, std::string_view ns,
                                      std::string_view label_selector) {
  std::vector<std::pair<std::string, std::string>> q;
  if (!label_selector.empty()) q.emplace_back("labelSelector", std::string(label_selector));
  return impl_->CallJson("GET", impl_->Path(type, ns, "", "") + impl_->Query(q), "", "");
}

absl::Status KubeClient::Delete(const ResourceType& type, std::string_view ns,
                                std::string_view name, std::string_view propagation_policy) {
  std::vector<std::pair<std::string, std::string>> q;
  if (!propagation_policy.empty()) {
    q.emplace_back("propagationPolicy", std::string(propagation_policy));
  }
  return impl_->Call("DELETE", impl_->Path(type, ns, name, "") + impl_->Query(q), "", "").status();
}

absl::StatusOr<json> KubeClient::MergePatch(const ResourceType& type, std::string_view ns,
                                            std::string_view name, const json& patch) {
  return impl_->CallJson("PATCH", impl_->Path(type, ns, name, ""), patch.dump(),
                         "application/merge-patch+json");
}

absl::StatusOr<std::string> KubeClient::PodLog(std::string_view ns, std::string_view pod,
                                               std::string_view container, int64_t tail_lines) {
  std::vector<std::pair<std::string, std::string>> q;
  if (!container.empty()) q.emplace_back("container", std::string(container));
  if (tail_lines > 0) q.emplace_back("tailLines", std::to_string(tail_lines));
  return impl_->Call("GET", impl_->Path(kPods, ns, pod, "log") + impl_->Query(q), "", "");
}

absl::Status KubeClient::Watch(const ResourceType& type, std::string_view ns,
                               const WatchOptions& options,
                               const std::function<bool(const WatchEvent&)>& on_event,
                               const std::atomic<bool>* stop) {
  std::vector<std::pair<std::string, std::string>> q;
  q.emplace_back("watch", "1");
  if (!options.label_selector.empty()) q.emplace_back("labelSelector", options.label_selector);
  if (!options.resource_version.empty()) {
    q.emplace_back("resourceVersion", options.resource_version);
  }
  if (options.bookmarks) q.emplace_back("allowWatchBookmarks", "true");
  const int timeout = std::max(1, options.timeout_seconds);
  q.emplace_back("timeoutSeconds", std::to_string(timeout));
  const std::string path = impl_->Path(type, ns, "", "") + impl_->Query(q);
  return impl_->Watch(path, "GET " + path, on_event, stop, timeout);
}

void KubeClient::Shutdown() { impl_->Shutdown(); }

}  // namespace hpt::runner::k8s
