#include "client/cpp/hpt_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "hpt/v1/metrics.grpc.pb.h"

namespace hpt::client {
namespace {

constexpr char kReportMethod[] = "hpt.v1.MetricsService/Report";
constexpr char kAssignmentMethod[] = "hpt.v1.MetricsService/GetAssignment";

// Per process, shared by every Reporter, so two Reporters of one trial never reuse a number.
std::atomic<uint64_t> next_seq{1};

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

absl::Status CheckMetric(const std::string& name, double value) {
  if (name.empty()) return absl::InvalidArgumentError("metric name is empty");
  if (name.size() > kMaxMetricNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("metric name \"", name.substr(0, 32),
                                                   "...\" is ", name.size(), " bytes; at most ",
                                                   kMaxMetricNameBytes, " allowed"));
  }
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric \"", name, "\" is ", value, "; metric values must be finite"));
  }
  return absl::OkStatus();
}

bool UsesTls(const ReporterOptions& o) {
  return o.tls || !o.tls_ca_pem.empty() || !o.tls_cert_pem.empty() || !o.tls_key_pem.empty();
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ReporterOptions& o) {
  if (!UsesTls(o)) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = o.tls_ca_pem;
  ssl.pem_cert_chain = o.tls_cert_pem;
  ssl.pem_private_key = o.tls_key_pem;
  return grpc::SslCredentials(ssl);
}

grpc::ChannelArguments ChannelArguments(const ReporterOptions& o) {
  grpc::ChannelArguments args;
  if (UsesTls(o) && !o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
  return args;
}

// The contents of the file named by environment variable `var` into `out` (left alone when the
// variable is unset or empty).
absl::Status ReadEnvFile(const char* var, std::string* out) {
  const char* path = std::getenv(var);
  if (path == nullptr || *path == '\0') return absl::OkStatus();
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(var, "=", path, ": cannot read it, or it is empty"));
  }
  *out = ss.str();
  return absl::OkStatus();
}

}  // namespace

struct Reporter::Impl {
  explicit Impl(ReporterOptions o)
      : options(std::move(o)),
        channel(grpc::CreateCustomChannel(options.endpoint, Credentials(options),
                                          ChannelArguments(options))),
        stub(hpt::v1::MetricsService::NewStub(channel)) {}

  // Runs `call` until it succeeds, fails with a non-retryable code, or max_attempts is reached.
  // Each attempt gets a fresh context with its own deadline.
  absl::Status Call(const char* method,
                    const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    absl::Duration backoff = options.initial_backoff;
    for (int attempt = 1;; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.rpc_timeout));
      grpc::Status s = call(&ctx);
      if (s.ok()) return absl::OkStatus();
      if (!Retryable(s.error_code()) || attempt >= options.max_attempts) {
        std::string suffix =
            Retryable(s.error_code()) ? absl::StrCat(" (after ", attempt, " attempts)") : "";
        return absl::Status(
            static_cast<absl::StatusCode>(s.error_code()),
            absl::StrCat(method, " at ", options.endpoint, suffix, ": ", s.error_message()));
      }
      absl::SleepFor(std::min(backoff, options.max_backoff));
      backoff *= 2;
    }
  }

  const ReporterOptions options;
  const std::shared_ptr<grpc::Channel> channel;
  const std::unique_ptr<hpt::v1::MetricsService::Stub> stub;  // thread-safe

  // Held for a whole Report (retries included), so one Reporter's seqs arrive in order.
  absl::Mutex send_mu;
  absl::Mutex assignment_mu;
  std::optional<TrialAssignment> assignment ABSL_GUARDED_BY(assignment_mu);
};

Reporter::Reporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reporter::~Reporter() = default;

absl::StatusOr<std::unique_ptr<Reporter>> Reporter::FromEnv() {
  ReporterOptions options;
  std::vector<std::string> missing;
  for (auto [var, field] :
       {std::pair{kEnvEndpoint, &options.endpoint}, std::pair{kEnvTrialId, &options.trial_id},
        std::pair{kEnvTrialToken, &options.token}}) {
    const char* value = std::getenv(var);
    if (value == nullptr || *value == '\0') {
      missing.push_back(var);
    } else {
      *field = value;
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        absl::StrJoin(missing, ", "), missing.size() == 1 ? " is" : " are",
        " not set: hpt gives every trial HPT_ENDPOINT, HPT_TRIAL_ID and HPT_TRIAL_TOKEN; run this "
        "under hpt (hpt run study.yaml)"));
  }
  for (auto [var, pem] : {std::pair{"HPT_TLS_CA", &options.tls_ca_pem},
                          std::pair{"HPT_TLS_CERT", &options.tls_cert_pem},
                          std::pair{"HPT_TLS_KEY", &options.tls_key_pem}}) {
    if (absl::Status s = ReadEnvFile(var, pem); !s.ok()) return s;
  }
  const char* tls = std::getenv("HPT_TLS");
  options.tls = tls != nullptr && std::string(tls) == "1";
  if (const char* name = std::getenv("HPT_TLS_SERVER_NAME")) options.tls_server_name = name;
  return Create(std::move(options));
}

absl::StatusOr<std::unique_ptr<Reporter>> Reporter::Create(ReporterOptions options) {
  for (auto [name, value] :
       {std::pair{"endpoint", &options.endpoint}, std::pair{"trial_id", &options.trial_id},
        std::pair{"token", &options.token}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("ReporterOptions.", name, " is empty"));
    }
  }
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "ReporterOptions.tls_cert_pem and tls_key_pem go together: set both or neither");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReporterOptions.max_attempts is ", options.max_attempts, "; at least 1"));
  }
  if (options.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("ReporterOptions.rpc_timeout is ",
                                                   absl::FormatDuration(options.rpc_timeout),
                                                   "; it must be > 0"));
  }
  if (options.initial_backoff < absl::ZeroDuration() ||
      options.max_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ReporterOptions backoffs must be >= 0");
  }
  return std::unique_ptr<Reporter>(new Reporter(std::make_unique<Impl>(std::move(options))));
}

absl::Status Reporter::Report(const std::vector<std::pair<std::string, double>>& metrics,
                              std::optional<int64_t> step, bool final) {
  if (step.has_value() && *step < 0) {
    return absl::InvalidArgumentError(absl::StrCat("step is ", *step, "; steps are integers >= 0"));
  }
  hpt::v1::ReportRequest request;
  request.set_trial_id(impl_->options.trial_id);
  request.set_token(impl_->options.token);
  request.set_final(final);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  for (const auto& [name, value] : metrics) {
    if (absl::Status s = CheckMetric(name, value); !s.ok()) return s;
    hpt::v1::MetricPoint* p = request.add_points();
    p->set_name(name);
    p->set_value(value);
    p->set_time_unix_ms(now_ms);
    if (step.has_value()) p->set_step(*step);
  }
  if (metrics.empty() && !final) return absl::OkStatus();

  absl::MutexLock lock(&impl_->send_mu);
  request.set_seq(next_seq.fetch_add(1));
  hpt::v1::ReportResponse response;
  return impl_->Call(kReportMethod, [&](grpc::ClientContext* ctx) {
    return impl_->stub->Report(ctx, request, &response);
  });
}

absl::StatusOr<TrialAssignment> Reporter::GetAssignment() {
  {
    absl::MutexLock lock(&impl_->assignment_mu);
    if (impl_->assignment.has_value()) return *impl_->assignment;
  }
  hpt::v1::GetAssignmentRequest request;
  request.set_trial_id(impl_->options.trial_id);
  request.set_token(impl_->options.token);
  hpt::v1::GetAssignmentResponse response;
  absl::Status s = impl_->Call(kAssignmentMethod, [&](grpc::ClientContext* ctx) {
    response.Clear();
    return impl_->stub->GetAssignment(ctx, request, &response);
  });
  if (!s.ok()) return s;
  TrialAssignment a;
  a.trial_id = response.trial_id();
  a.study = response.study();
  a.seed = response.seed();
  a.objective_metric = response.objective_metric();
  for (const hpt::v1::Parameter& p : response.parameters()) {
    a.values[p.name()] = p.value();
    a.types[p.name()] = p.type();
  }
  absl::MutexLock lock(&impl_->assignment_mu);
  if (!impl_->assignment.has_value()) impl_->assignment = std::move(a);
  return *impl_->assignment;
}

absl::StatusOr<std::map<std::string, std::string>> Reporter::Assignment() {
  absl::StatusOr<TrialAssignment> a = GetAssignment();
  if (!a.ok()) return a.status();
  return std::move(a->values);
}

const std::string& Reporter::endpoint() const { return impl_->options.endpoint; }
const std::string& Reporter::trial_id() const { return impl_->options.trial_id; }

}  // namespace hpt::client
