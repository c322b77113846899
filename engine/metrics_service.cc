#include "engine/metrics_service.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/executor.h"
#include "engine/grpc_status.h"
#include "engine/spec/study_spec.h"
#include "engine/token.h"
#include "hpt/v1/metrics.grpc.pb.h"
#include "katib/v1beta1/api.grpc.pb.h"
#include "trial_runner/metrics_text.h"

namespace hpt::engine {
namespace {

using tracker::TrialRecord;

// Trials whose id and token hash the server keeps (more: the cache starts over).
constexpr size_t kMaxCachedTrials = 1 << 16;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status CheckName(const std::string& name, int max_bytes, const std::string& where) {
  if (name.empty()) return absl::InvalidArgumentError(where + ".name is empty");
  if (static_cast<int>(name.size()) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".name is ", name.size(), " bytes; at most ", max_bytes, " allowed"));
  }
  return absl::OkStatus();
}

}  // namespace

struct MetricsServer::Impl : public hpt::v1::MetricsService::CallbackService,
                             public api::v1::beta1::DBManager::CallbackService {
  Impl(tracker::TrialStore* s, MetricsServerOptions o)
      : store(s), options(o), pool(o.worker_threads) {}

  // What a report needs to know about a trial. The token hash changes when the trial is run again
  // after an engine restart (TrialStore::SetTrialTokenHash): every append is checked against the
  // hash it was authorized with inside its transaction, so a stale entry never lets an old token
  // through; the refusal drops the entry.
  struct TrialKey {
    int64_t id = 0;
    std::string token_hash;
  };
  using Done = absl::AnyInvocable<void(absl::StatusOr<tracker::AppendResult>) &&>;

  tracker::TrialStore* store;
  MetricsServerOptions options;
  Executor pool;

  std::mutex types_mu;
  std::map<int64_t, std::map<std::string, std::string>> param_types;  // by study id

  // Trials that reported, by name, so that a report costs no read. Bounded; refilled on demand.
  std::mutex trials_mu;
  std::unordered_map<std::string, TrialKey> trials;  // guarded by trials_mu

  // Finds a trial by name (the trial_id of the API). NOT_FOUND when there is none.
  absl::StatusOr<TrialRecord> FindTrialByName(const std::string& name) {
    if (name.empty()) return absl::InvalidArgumentError("trial_id is empty (set HPT_TRIAL_ID)");
    absl::StatusOr<TrialRecord> t = store->FindTrial(name);
    if (!t.ok()) {
      if (absl::IsNotFound(t.status())) return UnknownTrial(name);
      return t.status();
    }
    return t;
  }

  static absl::Status UnknownTrial(const std::string& name) {
    return absl::NotFoundError(absl::StrCat("unknown trial \"", name, "\""));
  }

  absl::Status CheckToken(const TrialRecord& t, const std::string& token) {
    return CheckToken(t.name, t.token_hash, token);
  }
  static absl::Status CheckToken(const std::string& name, const std::string& token_hash,
                                 const std::string& token) {
    if (token_hash.empty() || !TokenMatches(token, token_hash)) {
      return absl::PermissionDeniedError(
          absl::StrCat("wrong token for trial \"", name, "\" (use HPT_TRIAL_TOKEN)"));
    }
    return absl::OkStatus();
  }

  // Runs `fn` with trial `name`'s key and whether it came from the cache: at once when it is
  // cached (unless `fresh`), else on the pool after a read (a report for a known trial never
  // waits for a thread).
  void WithTrial(const std::string& name, bool fresh,
                 absl::AnyInvocable<void(absl::StatusOr<TrialKey>, bool cached) &&> fn) {
    if (name.empty()) {
      std::move(fn)(absl::InvalidArgumentError("trial_id is empty (set HPT_TRIAL_ID)"), false);
      return;
    }
    std::optional<TrialKey> cached;
    if (!fresh) {
      std::lock_guard<std::mutex> l(trials_mu);
      auto it = trials.find(name);
      if (it != trials.end()) cached = it->second;
    }
    if (cached.has_value()) {  // run outside the lock
      std::move(fn)(*std::move(cached), true);
      return;
    }
    pool.Submit([this, name, fn = std::move(fn)]() mutable {
      absl::StatusOr<TrialRecord> t = FindTrialByName(name);
      if (!t.ok()) {
        Forget(name);
        std::move(fn)(t.status(), false);
        return;
      }
      TrialKey key{.id = t->id, .token_hash = t->token_hash};
      {
        std::lock_guard<std::mutex> l(trials_mu);
        if (trials.size() >= kMaxCachedTrials) trials.clear();
        trials.insert_or_assign(name, key);
      }
      std::move(fn)(std::move(key), false);
    });
  }

  void Forget(const std::string& name) {
    std::lock_guard<std::mutex> l(trials_mu);
    trials.erase(name);
  }

  // Appends `points` for trial `name` once committed (refused for a finished trial, and, when
  // `token_hash` is not empty, for a trial whose token is no longer the one of that hash) and
  // hands the outcome to `done`. A trial that vanished from the file, or whose token changed, is
  // forgotten.
  void Append(const std::string& name, int64_t trial_id, const std::string& token_hash,
              uint64_t seq, std::vector<tracker::MetricPoint> points, Done done) {
    store->AppendMetricsAsync(
        trial_id, seq, std::move(points), {.require_open = true, .expect_token_hash = token_hash},
        [this, name, done = std::move(done)](absl::StatusOr<tracker::AppendResult> r) mutable {
          if (absl::IsNotFound(r.status())) {
            Forget(name);
            r = UnknownTrial(name);
          } else if (absl::IsPermissionDenied(r.status())) {
            Forget(name);
            r = absl::PermissionDeniedError(
                absl::StrCat("wrong token for trial \"", name,
                             "\": the trial has a new token (it was run again); this report came "
                             "from an earlier attempt"));
          }
          std::move(done)(std::move(r));
        });
  }

  // The points of `req`, validated. INVALID_ARGUMENT names the first bad point.
  absl::StatusOr<std::vector<tracker::MetricPoint>> PointsOf(const hpt::v1::ReportRequest& req) {
    if (req.points_size() > options.max_points_per_request) {
      return absl::InvalidArgumentError(absl::StrCat("request has ", req.points_size(),
                                                     " points; at most ",
                                                     options.max_points_per_request, " allowed"));
    }
    std::vector<tracker::MetricPoint> points;
    points.reserve(req.points_size());
    const int64_t now = NowMs();
    for (int i = 0; i < req.points_size(); ++i) {
      const hpt::v1::MetricPoint& p = req.points(i);
      if (p.name().empty() || static_cast<int>(p.name().size()) > options.max_metric_name_bytes) {
        return CheckName(p.name(), options.max_metric_name_bytes, absl::StrCat("points[", i, "]"));
      }
      if (!std::isfinite(p.value())) {
        return absl::InvalidArgumentError(absl::StrCat("points[", i, "].value of \"", p.name(),
                                                       "\" is ", p.value(),
                                                       "; values must be finite"));
      }
      if (p.has_step() && (p.step() < 0 || p.step() == std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError(absl::StrCat("points[", i, "].step of \"", p.name(),
                                                       "\" is ", p.step(),
                                                       "; steps must be in [0, 2^63 - 1)"));
      }
      tracker::MetricPoint& mp = points.emplace_back();
      mp.name = p.name();
      mp.value = p.value();
      mp.time_ms = p.time_unix_ms() > 0 ? p.time_unix_ms() : now;
      if (p.has_step()) mp.step = p.step();
    }
    return points;
  }

  // One report, from Report or ReportStream: validated here, checked against the trial's token,
  // and stored; `done` runs once the points are committed (on a store thread) or at once when
  // the report is refused. Never blocks.
  void HandleReport(const hpt::v1::ReportRequest& req, Done done) {
    absl::StatusOr<std::vector<tracker::MetricPoint>> points = PointsOf(req);
    if (!points.ok()) {
      std::move(done)(points.status());
      return;
    }
    Authorized(req.trial_id(), req.token(),
               [this, name = req.trial_id(), seq = req.seq(), points = *std::move(points),
                done = std::move(done)](absl::StatusOr<TrialKey> key) mutable {
                 if (!key.ok()) {
                   std::move(done)(key.status());
                   return;
                 }
                 Append(name, key->id, key->token_hash, seq, std::move(points), std::move(done));
               });
  }

  // Runs `fn` with trial `name`'s key once `token` is its token, or with the refusal. A token
  // that does not match the cached hash is checked once more against the file, so that a trial
  // made anew under an old name (new token) is never refused for a stale cache entry.
  void Authorized(const std::string& name, const std::string& token,
                  absl::AnyInvocable<void(absl::StatusOr<TrialKey>) &&> fn) {
    WithTrial(
        name, /*fresh=*/false,
        [this, name, token, fn = std::move(fn)](absl::StatusOr<TrialKey> key, bool cached) mutable {
          key = WithToken(std::move(key), name, token);
          if (!cached || !absl::IsPermissionDenied(key.status())) {
            std::move(fn)(std::move(key));
            return;
          }
          WithTrial(name, /*fresh=*/true,
                    [name, token, fn = std::move(fn)](absl::StatusOr<TrialKey> key, bool) mutable {
                      std::move(fn)(WithToken(std::move(key), name, token));
                    });
        });
  }

  // `key`, or PERMISSION_DENIED when `token` is not its trial's token.
  static absl::StatusOr<TrialKey> WithToken(absl::StatusOr<TrialKey> key, const std::string& name,
                                            const std::string& token) {
    if (!key.ok()) return key;
    if (absl::Status s = CheckToken(name, key->token_hash, token); !s.ok()) return s;
    return key;
  }

  // ---- hpt.v1.MetricsService ----
  grpc::ServerUnaryReactor* Report(grpc::CallbackServerContext* ctx,
                                   const hpt::v1::ReportRequest* req,
                                   hpt::v1::ReportResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    HandleReport(*req, [reactor, req, resp](absl::StatusOr<tracker::AppendResult> r) {
      if (r.ok()) {
        resp->set_seq(req->seq());
        resp->set_stored(r->stored);
        resp->set_duplicate(r->duplicate);
      }
      reactor->Finish(ToGrpcStatus(r.status()));
    });
    return reactor;
  }

  class StreamReactor : public grpc::ServerReadReactor<hpt::v1::ReportRequest> {
   public:
    StreamReactor(Impl* impl, hpt::v1::ReportStreamResponse* resp) : impl_(impl), resp_(resp) {
      StartRead(&req_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {  // the client half-closed (or the call broke): everything read was acknowledged
        Finish(grpc::Status::OK);
        return;
      }
      // The next message is read only after this one is committed.
      impl_->HandleReport(req_, [this](absl::StatusOr<tracker::AppendResult> r) {
        if (!r.ok()) {
          Finish(ToGrpcStatus(r.status()));
          return;
        }
        resp_->set_requests(resp_->requests() + 1);
        resp_->set_stored(resp_->stored() + r->stored);
        StartRead(&req_);
      });
    }
    void OnDone() override { delete this; }

   private:
    Impl* impl_;
    hpt::v1::ReportStreamResponse* resp_;
    hpt::v1::ReportRequest req_;
  };

  grpc::ServerReadReactor<hpt::v1::ReportRequest>* ReportStream(
      grpc::CallbackServerContext*, hpt::v1::ReportStreamResponse* resp) override {
    return new StreamReactor(this, resp);
  }

  // The parameter types of a study, read once from its stored spec.
  std::map<std::string, std::string> ParamTypes(const tracker::StudyRecord& study) {
    std::lock_guard<std::mutex> l(types_mu);
    auto it = param_types.find(study.id);
    if (it != param_types.end()) return it->second;
    std::map<std::string, std::string> types;
    absl::StatusOr<StudySpec> spec = LoadStudyText(study.spec_yaml, study.spec_path, nullptr);
    if (spec.ok()) {
      for (const suggest::ParameterSpec& p : spec->space.params) {
        types[p.name] = suggest::ParamTypeName(p.type);
      }
    }
    param_types[study.id] = types;
    return types;
  }

  grpc::ServerUnaryReactor* GetAssignment(grpc::CallbackServerContext* ctx,
                                          const hpt::v1::GetAssignmentRequest* req,
                                          hpt::v1::GetAssignmentResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    pool.Submit([this, reactor, req, resp] {
      absl::Status s = [&]() -> absl::Status {
        absl::StatusOr<TrialRecord> t = FindTrialByName(req->trial_id());
        if (!t.ok()) return t.status();
        if (absl::Status c = CheckToken(*t, req->token()); !c.ok()) return c;
        absl::StatusOr<tracker::StudyRecord> study = store->GetStudy(t->study_id);
        if (!study.ok()) return study.status();
        std::map<std::string, std::string> types = ParamTypes(*study);
        resp->set_trial_id(t->name);
        resp->set_study(study->name);
        resp->set_seed(t->seed);
        resp->set_objective_metric(study->objective_metric);
        for (const auto& [name, value] : t->params) {
          hpt::v1::Parameter* p = resp->add_parameters();
          p->set_name(name);
          p->set_value(value);
          p->set_type(types.count(name) ? types[name] : "");
        }
        return absl::OkStatus();
      }();
      reactor->Finish(ToGrpcStatus(s));
    });
    return reactor;
  }

  // ---- api.v1.beta1.DBManager (Katib) ----
  // Katib's API has no credentials: a report is accepted for a known trial that has not finished.
  // Values are Katib strings and must parse as finite numbers; an empty time_stamp means "now"
  // (Katib drops such logs; hpt keeps them).
  grpc::ServerUnaryReactor* ReportObservationLog(
      grpc::CallbackServerContext* ctx, const api::v1::beta1::ReportObservationLogRequest* req,
      api::v1::beta1::ReportObservationLogReply*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<std::vector<tracker::MetricPoint>> points = KatibPoints(*req);
    if (!points.ok()) {
      reactor->Finish(ToGrpcStatus(points.status()));
      return reactor;
    }
    KatibAppend(reactor, req->trial_name(), *std::move(points), /*fresh=*/false);
    return reactor;
  }

  // Stores a Katib report for trial `name` and finishes `reactor`. Katib's reports carry no
  // token, but the token hash remembered with the trial's id still identifies the trial: a
  // report checked against a stale entry (the trial was given a new token, or the name now
  // belongs to a trial made anew) is looked up once more from the file, never stored elsewhere.
  void KatibAppend(grpc::ServerUnaryReactor* reactor, std::string name,
                   std::vector<tracker::MetricPoint> points, bool fresh) {
    WithTrial(name, fresh,
              [this, reactor, name, points = std::move(points)](absl::StatusOr<TrialKey> key,
                                                                  bool cached) mutable {
                if (!key.ok()) {
                  reactor->Finish(ToGrpcStatus(key.status()));
                  return;
                }
                std::vector<tracker::MetricPoint> retry;
                if (cached) retry = points;
                Append(name, key->id, key->token_hash, 0, std::move(points),
                       [this, reactor, name, cached, retry = std::move(retry)](
                           absl::StatusOr<tracker::AppendResult> r) mutable {
                         if (cached && absl::IsPermissionDenied(r.status())) {
                           KatibAppend(reactor, name, std::move(retry), /*fresh=*/true);
                           return;
                         }
                         reactor->Finish(ToGrpcStatus(r.status()));
                       });
              });
  }

  // The points of a Katib report, validated.
  absl::StatusOr<std::vector<tracker::MetricPoint>> KatibPoints(
      const api::v1::beta1::ReportObservationLogRequest& req) {
    const auto& logs = req.observation_log().metric_logs();
    if (logs.size() > options.max_points_per_request) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request has ", logs.size(), " metric logs; at most ", options.max_points_per_request));
    }
    std::vector<tracker::MetricPoint> points;
    const int64_t now = NowMs();
    for (int i = 0; i < logs.size(); ++i) {
      const auto& log = logs[i];
      const std::string where = absl::StrCat("observation_log.metric_logs[", i, "]");
      if (absl::Status c =
              CheckName(log.metric().name(), options.max_metric_name_bytes, where + ".metric");
          !c.ok()) {
        return c;
      }
      std::optional<double> v = runner::ParseMetricValue(log.metric().value());
      if (!v) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".metric.value of \"", log.metric().name(), "\" is \"",
                         log.metric().value(), "\"; must be a finite number"));
      }
      int64_t time_ms = now;
      if (!log.time_stamp().empty()) {
        std::optional<int64_t> t = runner::ParseRfc3339Millis(log.time_stamp());
        if (!t) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ".time_stamp \"", log.time_stamp(),
                           "\" is not an RFC3339 time (e.g. 2024-01-02T03:04:05Z)"));
        }
        time_ms = *t;
      }
      points.push_back({.name = log.metric().name(), .value = *v, .time_ms = time_ms});
    }
    return points;
  }

  grpc::ServerUnaryReactor* GetObservationLog(
      grpc::CallbackServerContext* ctx, const api::v1::beta1::GetObservationLogRequest* req,
      api::v1::beta1::GetObservationLogReply* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    pool.Submit([this, reactor, req, resp] {
      absl::Status s = [&]() -> absl::Status {
        absl::StatusOr<TrialRecord> t = FindTrialByName(req->trial_name());
        if (!t.ok()) return t.status();
        int64_t lo = INT64_MIN, hi = INT64_MAX;
        for (auto [text, bound] : {std::pair{&req->start_time(), &lo}, {&req->end_time(), &hi}}) {
          if (text->empty()) continue;
          std::optional<int64_t> t = runner::ParseRfc3339Millis(*text);
          if (!t) {
            return absl::InvalidArgumentError(absl::StrCat(
                "time bound \"", *text, "\" is not an RFC3339 time (e.g. 2024-01-02T03:04:05Z)"));
          }
          *bound = *t;
        }
        absl::StatusOr<std::vector<tracker::StoredPoint>> pts =
            store->MetricHistory(t->id, req->metric_name());
        if (!pts.ok()) return pts.status();
        std::stable_sort(pts->begin(), pts->end(),
                         [](const auto& a, const auto& b) { return a.time_ms < b.time_ms; });
        for (const tracker::StoredPoint& p : *pts) {
          if (p.time_ms < lo || p.time_ms > hi) continue;
          auto* log = resp->mutable_observation_log()->add_metric_logs();
          log->set_time_stamp(absl::FormatTime(
              "%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixMillis(p.time_ms), absl::UTCTimeZone()));
          log->mutable_metric()->set_name(p.name);
          log->mutable_metric()->set_value(suggest::FormatDouble(p.value));
        }
        return absl::OkStatus();
      }();
      reactor->Finish(ToGrpcStatus(s));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DeleteObservationLog(
      grpc::CallbackServerContext* ctx, const api::v1::beta1::DeleteObservationLogRequest* req,
      api::v1::beta1::DeleteObservationLogReply*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    pool.Submit([this, reactor, req] {
      absl::Status s = [&]() -> absl::Status {
        absl::StatusOr<TrialRecord> t = FindTrialByName(req->trial_name());
        if (!t.ok()) return t.status();
        return store->DeleteMetrics(t->id);
      }();
      reactor->Finish(ToGrpcStatus(s));
    });
    return reactor;
  }
};

MetricsServer::MetricsServer(tracker::TrialStore* store, MetricsServerOptions options)
    : impl_(std::make_unique<Impl>(store, options)) {}

MetricsServer::~MetricsServer() { Shutdown(); }

absl::StatusOr<int> MetricsServer::Start(const std::string& address) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // Without SO_REUSEPORT: a second server on a taken port fails here instead of silently sharing
  // it, and two servers asking for port 0 never get the same one (gRPC's default would let
  // reports reach the wrong process).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(address,
                           impl_->options.credentials ? impl_->options.credentials
                                                      : grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(impl_->options.max_message_bytes);
  builder.RegisterService(static_cast<hpt::v1::MetricsService::CallbackService*>(impl_.get()));
  builder.RegisterService(static_cast<api::v1::beta1::DBManager::CallbackService*>(impl_.get()));
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address, " (address in use by another process, or not this host's)"));
  }
  return port;
}

void MetricsServer::Shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    server_.reset();
  }
}

}  // namespace hpt::engine
