#include "engine/study_service.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/grpc_status.h"
#include "engine/trigger_manager.h"
#include "hpt/v1/study.grpc.pb.h"

namespace hpt::engine {
namespace {

using grpc::ServerContext;

hpt::v1::StudyState ToProto(tracker::StudyState s) {
  switch (s) {
    case tracker::StudyState::kCreated:
      return hpt::v1::CREATED;
    case tracker::StudyState::kRunning:
      return hpt::v1::RUNNING;
    case tracker::StudyState::kSucceeded:
      return hpt::v1::SUCCEEDED;
    case tracker::StudyState::kFailed:
      return hpt::v1::FAILED;
  }
  return hpt::v1::STUDY_STATE_UNSPECIFIED;
}

void Fill(const StudyView& v, hpt::v1::Study* out) {
  const tracker::StudyRecord& r = v.record;
  out->set_name(r.name);
  out->set_state(ToProto(r.state));
  out->set_reason(r.reason);
  out->set_message(r.message);
  out->set_project(r.project);
  out->set_experiment(r.experiment);
  out->set_algorithm(r.algorithm);
  out->set_objective_metric(r.objective_metric);
  out->set_maximize(r.maximize);
  out->set_created_unix_ms(r.created_ms);
  out->set_finished_unix_ms(r.finished_ms);
  out->set_live(v.live);
  const Progress& p = v.progress;
  hpt::v1::StudyProgress* q = out->mutable_progress();
  q->set_created(p.created);
  q->set_pending(p.pending);
  q->set_running(p.running);
  q->set_succeeded(p.succeeded);
  q->set_failed(p.failed);
  q->set_killed(p.killed);
  q->set_metrics_unavailable(p.metrics_unavailable);
  q->set_early_stopped(p.early_stopped);
  if (p.max_trials) q->set_max_trial_count(*p.max_trials);
  q->set_parallel_trial_count(v.parallel_trial_count);
  if (v.max_failed_trial_count) q->set_max_failed_trial_count(*v.max_failed_trial_count);
  if (p.best) q->set_best(*p.best);
  q->set_best_trial(p.best_trial);
  q->set_last_event(p.last_event);
}

void Fill(const tracker::TrialRecord& t, hpt::v1::Trial* out) {
  out->set_name(t.name);
  out->set_state(tracker::TrialStateName(t.state));
  out->set_reason(t.reason);
  out->set_message(t.message);
  if (t.objective) out->set_objective(*t.objective);
  for (const auto& [name, value] : t.params) (*out->mutable_params())[name] = value;
  out->set_seed(t.seed);
  out->set_attempt(t.attempt);
  out->set_created_unix_ms(t.created_ms);
  out->set_started_unix_ms(t.started_ms);
  out->set_finished_unix_ms(t.finished_ms);
}

void Fill(const tracker::TriggerFiring& f, hpt::v1::TriggerFiring* out) {
  out->set_id(f.id);
  out->set_trigger(f.trigger);
  out->set_time_ms(f.time_ms);
  if (f.value) out->set_value(*f.value);
  if (f.best) out->set_best(*f.best);
  out->set_reason(f.reason);
  out->set_action(f.action);
  out->set_state(tracker::FiringStateName(f.state));
  out->set_result(f.result);
  out->set_finished_ms(f.finished_ms);
}

void Fill(const TriggerView& v, hpt::v1::TriggerInfo* out) {
  out->set_name(v.record.name);
  out->set_summary(v.summary);
  out->set_applied_ms(v.record.applied_ms);
  out->set_updated_ms(v.record.updated_ms);
  if (v.last) {
    out->set_last_reason(v.last->reason);
    out->set_has_last_value(v.last->value.has_value());
    if (v.last->value) out->set_last_value(*v.last->value);
    out->set_last_evaluated_ms(v.last_evaluated_ms);
  }
  if (v.last_firing) {
    out->set_last_fired_ms(v.last_firing->time_ms);
    out->set_last_firing_state(tracker::FiringStateName(v.last_firing->state));
    out->set_last_firing_result(v.last_firing->result);
  }
}

// Compares in time independent of where the strings differ.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

class AdminServer::Service final : public hpt::v1::StudyService::Service {
 public:
  Service(StudyManager* manager, tracker::TrialStore* store, TriggerManager* triggers,
          std::string token)
      : manager_(manager), store_(store), triggers_(triggers), token_(std::move(token)) {}

  void Stop() { stopping_.store(true); }

  grpc::Status Submit(ServerContext* ctx, const hpt::v1::SubmitRequest* req,
                      hpt::v1::Study* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    return Reply(manager_->Submit(req->spec_yaml(), req->file_name(),
                                  {.name = req->name(), .allow_rename = req->allow_rename()}),
                 resp);
  }

  grpc::Status Get(ServerContext* ctx, const hpt::v1::StudyRef* req,
                   hpt::v1::Study* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    return Reply(manager_->Get(req->name()), resp);
  }

  grpc::Status List(ServerContext* ctx, const hpt::v1::ListStudiesRequest*,
                    hpt::v1::ListStudiesResponse* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    absl::StatusOr<std::vector<StudyView>> all = manager_->List();
    if (!all.ok()) return ToGrpcStatus(all.status());
    for (const StudyView& v : *all) Fill(v, resp->add_studies());
    return grpc::Status::OK;
  }

  grpc::Status Stop(ServerContext* ctx, const hpt::v1::StopRequest* req,
                    hpt::v1::Study* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    return Reply(manager_->Stop(req->name(), req->let_running_finish()), resp);
  }

  grpc::Status Resume(ServerContext* ctx, const hpt::v1::ResumeRequest* req,
                      hpt::v1::Study* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    std::optional<int> max;
    if (req->has_max_trial_count()) max = req->max_trial_count();
    return Reply(manager_->Resume(req->name(), max), resp);
  }

  grpc::Status Update(ServerContext* ctx, const hpt::v1::UpdateRequest* req,
                      hpt::v1::Study* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    StudyLimits limits;
    if (req->has_parallel_trial_count()) limits.parallel_trial_count = req->parallel_trial_count();
    if (req->has_max_trial_count()) limits.max_trial_count = req->max_trial_count();
    if (req->has_max_failed_trial_count()) {
      limits.max_failed_trial_count = req->max_failed_trial_count();
    }
    return Reply(manager_->Update(req->name(), limits), resp);
  }

  grpc::Status Delete(ServerContext* ctx, const hpt::v1::DeleteRequest* req,
                      hpt::v1::DeleteResponse* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    absl::StatusOr<int> trials = manager_->Delete(req->name(), req->force());
    if (!trials.ok()) return ToGrpcStatus(trials.status());
    resp->set_name(req->name());
    resp->set_trials(*trials);
    return grpc::Status::OK;
  }

  grpc::Status ListTrials(ServerContext* ctx, const hpt::v1::ListTrialsRequest* req,
                          hpt::v1::ListTrialsResponse* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    absl::StatusOr<tracker::StudyRecord> study = store_->FindStudy(req->name());
    if (!study.ok()) return ToGrpcStatus(study.status());
    absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store_->ListTrials(study->id);
    if (!trials.ok()) return ToGrpcStatus(trials.status());
    for (const tracker::TrialRecord& t : *trials) Fill(t, resp->add_trials());
    return grpc::Status::OK;
  }

  grpc::Status Leaderboard(ServerContext* ctx, const hpt::v1::ListTrialsRequest* req,
                           hpt::v1::ListTrialsResponse* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    if (req->limit() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("limit must be >= 0, got ", req->limit()));
    }
    absl::StatusOr<tracker::StudyRecord> study = store_->FindStudy(req->name());
    if (!study.ok()) return ToGrpcStatus(study.status());
    absl::StatusOr<std::vector<tracker::TrialRecord>> board =
        store_->Leaderboard(study->id, req->limit());
    if (!board.ok()) return ToGrpcStatus(board.status());
    for (const tracker::TrialRecord& t : *board) Fill(t, resp->add_trials());
    return grpc::Status::OK;
  }

  grpc::Status MetricHistory(ServerContext* ctx, const hpt::v1::MetricHistoryRequest* req,
                             hpt::v1::MetricHistoryResponse* resp) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    absl::StatusOr<tracker::TrialRecord> trial = store_->FindTrial(req->trial());
    if (!trial.ok()) return ToGrpcStatus(trial.status());
    absl::StatusOr<std::vector<tracker::StoredPoint>> points =
        store_->MetricHistory(trial->id, req->metric());
    if (!points.ok()) return ToGrpcStatus(points.status());
    for (const tracker::StoredPoint& p : *points) {
      hpt::v1::StoredPoint* out = resp->add_points();
      out->set_name(p.name);
      out->set_step(p.step);
      out->set_value(p.value);
      out->set_time_unix_ms(p.time_ms);
    }
    return grpc::Status::OK;
  }

  grpc::Status Watch(ServerContext* ctx, const hpt::v1::StudyRef* req,
                     grpc::ServerWriter<hpt::v1::StudyEvent>* writer) override {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    uint64_t version = 0;
    bool first = true;
    while (!ctx->IsCancelled() && !stopping_.load()) {
      absl::StatusOr<StudyUpdate> u =
          manager_->WaitForChange(req->name(), first ? 0 : version, absl::Milliseconds(500));
      if (!u.ok()) return ToGrpcStatus(u.status());
      if (first || u->version != version) {
        // One message per controller event since the last one sent (each with the study as it
        // is now); a new watcher first gets the events kept so far (the last 1000).
        std::vector<std::string> events = u->events;
        if (events.empty()) events.push_back("");
        for (const std::string& e : events) {
          hpt::v1::StudyEvent event;
          Fill(u->view, event.mutable_study());
          event.set_event(e.empty() ? u->view.progress.last_event : e);
          if (!writer->Write(event)) return grpc::Status::OK;  // the client left
        }
        first = false;
        version = u->version;
      }
      if (!u->view.live) return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "hptd is shutting down");
  }

  grpc::Status ApplyTrigger(ServerContext* ctx, const hpt::v1::ApplyTriggerRequest* req,
                            hpt::v1::TriggerInfo* resp) override {
    if (grpc::Status a = AuthorizeTriggers(ctx); !a.ok()) return a;
    absl::StatusOr<AppliedTrigger> t =
        triggers_->Apply(req->yaml(), req->file_name(), req->study_yaml());
    if (!t.ok()) return ToGrpcStatus(t.status());
    resp->set_name(t->record.name);
    resp->set_created(t->created);
    resp->set_summary(t->summary);
    for (const Diagnostic& d : t->diagnostics) resp->add_warnings(d.ToString());
    resp->set_applied_ms(t->record.applied_ms);
    resp->set_updated_ms(t->record.updated_ms);
    return grpc::Status::OK;
  }

  grpc::Status ListTriggers(ServerContext* ctx, const hpt::v1::ListTriggersRequest*,
                            hpt::v1::ListTriggersResponse* resp) override {
    if (grpc::Status a = AuthorizeTriggers(ctx); !a.ok()) return a;
    absl::StatusOr<std::vector<TriggerView>> all = triggers_->List();
    if (!all.ok()) return ToGrpcStatus(all.status());
    for (const TriggerView& v : *all) Fill(v, resp->add_triggers());
    return grpc::Status::OK;
  }

  grpc::Status DeleteTrigger(ServerContext* ctx, const hpt::v1::TriggerRef* req,
                             hpt::v1::TriggerRef* resp) override {
    if (grpc::Status a = AuthorizeTriggers(ctx); !a.ok()) return a;
    if (absl::Status s = triggers_->Delete(req->name()); !s.ok()) return ToGrpcStatus(s);
    resp->set_name(req->name());
    return grpc::Status::OK;
  }

  grpc::Status TriggerHistory(ServerContext* ctx, const hpt::v1::TriggerHistoryRequest* req,
                              hpt::v1::TriggerHistoryResponse* resp) override {
    if (grpc::Status a = AuthorizeTriggers(ctx); !a.ok()) return a;
    if (req->limit() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("limit must be >= 0, got ", req->limit()));
    }
    absl::StatusOr<std::vector<tracker::TriggerFiring>> firings =
        triggers_->History(req->name(), req->limit());
    if (!firings.ok()) return ToGrpcStatus(firings.status());
    for (const tracker::TriggerFiring& f : *firings) Fill(f, resp->add_firings());
    return grpc::Status::OK;
  }

  grpc::Status ReportModelMetrics(ServerContext* ctx, const hpt::v1::ReportModelMetricsRequest* req,
                                  hpt::v1::ReportModelMetricsResponse* resp) override {
    if (grpc::Status a = AuthorizeTriggers(ctx); !a.ok()) return a;
    if (req->project().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "project is required (the project the model is deployed under)");
    }
    if (req->metrics().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "no metrics: give at least one name and value");
    }
    std::vector<tracker::ModelPoint> points;
    points.reserve(req->metrics_size());
    for (const hpt::v1::ModelMetric& m : req->metrics()) {
      points.push_back({.project = req->project(),
                        .experiment = req->experiment(),
                        .model = req->model(),
                        .metric = m.name(),
                        .value = m.value(),
                        .time_ms = m.time_ms()});
    }
    if (absl::Status s = triggers_->Report(points); !s.ok()) return ToGrpcStatus(s);
    resp->set_stored(static_cast<int64_t>(points.size()));
    return grpc::Status::OK;
  }

  grpc::Status EvaluateTriggers(ServerContext* ctx, const hpt::v1::EvaluateTriggersRequest*,
                                hpt::v1::TriggerHistoryResponse* resp) override {
    if (grpc::Status a = AuthorizeTriggers(ctx); !a.ok()) return a;
    absl::StatusOr<std::vector<tracker::TriggerFiring>> firings = triggers_->EvaluateAll();
    if (!firings.ok()) return ToGrpcStatus(firings.status());
    for (const tracker::TriggerFiring& f : *firings) Fill(f, resp->add_firings());
    return grpc::Status::OK;
  }

 private:
  // Authorize, then UNIMPLEMENTED when this hptd runs no triggers.
  grpc::Status AuthorizeTriggers(ServerContext* ctx) {
    if (grpc::Status a = Authorize(ctx); !a.ok()) return a;
    if (triggers_ == nullptr) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this hptd runs no triggers");
    }
    return grpc::Status::OK;
  }

  grpc::Status Reply(const absl::StatusOr<StudyView>& v, hpt::v1::Study* resp) {
    if (!v.ok()) return ToGrpcStatus(v.status());
    Fill(*v, resp);
    return grpc::Status::OK;
  }

  // The Unix socket's permissions already decided; TCP callers need the admin token.
  grpc::Status Authorize(ServerContext* ctx) {
    if (absl::StartsWith(ctx->peer(), "unix:")) return grpc::Status::OK;
    if (token_.empty()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the StudyService over TCP needs an admin token (hptd "
                          "--admin-token-file); use hptd's Unix socket instead");
    }
    auto it = ctx->client_metadata().find("authorization");
    const std::string given =
        it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
    if (!SameSecret(given, "Bearer " + token_)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          given.empty() ? "no admin token (metadata \"authorization: Bearer ...\")"
                                        : "wrong admin token");
    }
    return grpc::Status::OK;
  }

  StudyManager* manager_;
  tracker::TrialStore* store_;
  TriggerManager* triggers_;  // null: no triggers
  const std::string token_;
  std::atomic<bool> stopping_{false};
};

AdminServer::AdminServer(StudyManager* manager, tracker::TrialStore* store,
                         AdminServerOptions options)
    : service_(std::make_unique<Service>(manager, store, options.triggers, options.admin_token)),
      options_(std::move(options)) {}

AdminServer::~AdminServer() { Shutdown(); }

absl::StatusOr<int> AdminServer::Start() {
  if (options_.unix_socket.empty() && options_.tcp_address.empty()) {
    return absl::InvalidArgumentError("the admin server needs a Unix socket or a TCP address");
  }
  if (!options_.tcp_address.empty() && options_.admin_token.size() < 16) {
    return absl::InvalidArgumentError(
        options_.admin_token.empty()
            ? "serving the StudyService on TCP needs an admin token (--admin-token-file)"
            : "the admin token must be at least 16 characters");
  }
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a taken port is an error
  if (!options_.unix_socket.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.unix_socket, ec);  // a stale socket from an earlier run
    builder.AddListeningPort("unix:" + options_.unix_socket, grpc::InsecureServerCredentials());
  }
  int port = 0;
  if (!options_.tcp_address.empty()) {
    builder.AddListeningPort(
        options_.tcp_address,
        options_.tcp_credentials ? options_.tcp_credentials : grpc::InsecureServerCredentials(),
        &port);
  }
  builder.RegisterService(service_.get());
  // The socket is created with the process umask; only the owner may connect.
  const mode_t old_umask = ::umask(0177);
  server_ = builder.BuildAndStart();
  ::umask(old_umask);
  if (server_ == nullptr || (!options_.tcp_address.empty() && port == 0)) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot serve the StudyService on ",
                     options_.unix_socket.empty() ? "" : "unix:" + options_.unix_socket,
                     !options_.unix_socket.empty() && !options_.tcp_address.empty() ? " and " : "",
                     options_.tcp_address));
  }
  if (!options_.unix_socket.empty()) ::chmod(options_.unix_socket.c_str(), 0600);
  return port;
}

void AdminServer::Shutdown() {
  if (server_ == nullptr) return;
  service_->Stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_.reset();
  if (!options_.unix_socket.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.unix_socket, ec);
  }
}

}  // namespace hpt::engine
