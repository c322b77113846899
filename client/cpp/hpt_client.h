// hpt_client: how a C++ training program reports metrics to hpt and reads its parameters.
//
// Every hpt trial finds HPT_ENDPOINT (host:port), HPT_TRIAL_ID and HPT_TRIAL_TOKEN in its
// environment. A Reporter sends (name, step, value, time) points to hpt.v1.MetricsService over
// gRPC; an OK from Report means hpt has committed them.
//
//   absl::StatusOr<std::unique_ptr<hpt::client::Reporter>> reporter =
//       hpt::client::Reporter::FromEnv();
//   if (!reporter.ok()) { /* not running under hpt: print metrics instead */ }
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     ...
//     absl::Status s = (*reporter)->Report({{"loss", loss}, {"accuracy", acc}}, epoch);
//     if (!s.ok()) { std::cerr << s << "\n"; return 1; }
//   }
//
// Retries and idempotency: each Report carries a sequence number counted per process from 1
// (shared by all Reporters of the process). A call failing with UNAVAILABLE or DEADLINE_EXCEEDED
// is retried with capped exponential backoff under the SAME sequence number, so hpt stores it at
// most once. One process per trial should report (e.g. rank 0 of a distributed job).
//
// Thread-safety: a Reporter is thread-safe. Reports from one Reporter are sent one at a time in
// sequence-number order; Assignment() is fetched once and cached.
#ifndef HPT_CLIENT_CPP_HPT_CLIENT_H_
#define HPT_CLIENT_CPP_HPT_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hpt::client {

// Environment variables hpt sets for every trial.
inline constexpr char kEnvEndpoint[] = "HPT_ENDPOINT";
inline constexpr char kEnvTrialId[] = "HPT_TRIAL_ID";
inline constexpr char kEnvTrialToken[] = "HPT_TRIAL_TOKEN";

// Longest metric name hpt accepts, in bytes.
inline constexpr size_t kMaxMetricNameBytes = 256;

struct ReporterOptions {
  std::string endpoint;  // host:port of hpt's MetricsService; required
  std::string trial_id;  // required
  std::string token;     // required
  // TLS: on when `tls` is set or any PEM is given. tls_ca_pem verifies hpt's certificate (empty:
  // the system's roots); tls_cert_pem and tls_key_pem are a client certificate for mutual TLS;
  // tls_server_name is the name to check when it is not the endpoint's host. FromEnv takes them
  // from HPT_TLS=1, HPT_TLS_CA, HPT_TLS_CERT, HPT_TLS_KEY (file paths), HPT_TLS_SERVER_NAME.
  bool tls = false;
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem, tls_server_name;
  // Deadline of each attempt of a call.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // Attempts per call when the server answers UNAVAILABLE or DEADLINE_EXCEEDED (>= 1).
  int max_attempts = 5;
  // Sleep before the 2nd attempt; doubles per attempt up to max_backoff. Worst case with the
  // defaults: 0.1 + 0.2 + 0.4 + 0.8 s of sleeping before giving up.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
};

// The trial's assignment as hpt holds it (GetAssignment).
struct TrialAssignment {
  std::string trial_id;
  std::string study;
  std::map<std::string, std::string> values;  // name -> the string put into the template
  std::map<std::string, std::string> types;   // name -> double | int | discrete | categorical
  uint64_t seed = 0;                          // for reproducible training code
  std::string objective_metric;
};

class Reporter {
 public:
  // Reads HPT_ENDPOINT, HPT_TRIAL_ID and HPT_TRIAL_TOKEN (and the HPT_TLS* variables of
  // ReporterOptions). FailedPrecondition naming every missing (or empty) variable when the
  // program does not run under hpt, or a TLS file that cannot be read. Connects lazily: an
  // unreachable endpoint shows up on the first call, not here.
  static absl::StatusOr<std::unique_ptr<Reporter>> FromEnv();
  // FromEnv with explicit settings. InvalidArgument when a required field is empty or a
  // number is out of range.
  static absl::StatusOr<std::unique_ptr<Reporter>> Create(ReporterOptions options);

  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;
  ~Reporter();

  // Reports each (name, value) as one point with the given step (absent: hpt numbers the
  // metric's points 0, 1, 2, ...) and the current time. `final` tells hpt the trial has reported
  // everything. An empty `metrics` sends nothing unless `final` is set.
  // InvalidArgument (nothing sent): an empty or over-long name, a NaN or infinite value, a
  // negative step. Otherwise the server's status with its code: OK once committed;
  // PermissionDenied (wrong token), NotFound (unknown trial), FailedPrecondition (trial already
  // finished), InvalidArgument, and Unavailable / DeadlineExceeded after the last retry.
  absl::Status Report(const std::vector<std::pair<std::string, double>>& metrics,
                      std::optional<int64_t> step = std::nullopt, bool final = false);

  // The trial's parameters, {name: value string}, fetched once and cached. Errors carry the
  // server's code (as for Report).
  absl::StatusOr<std::map<std::string, std::string>> Assignment();
  // Everything GetAssignment returns (types, seed, study, objective), cached likewise.
  absl::StatusOr<TrialAssignment> GetAssignment();

  const std::string& endpoint() const;
  const std::string& trial_id() const;

 private:
  struct Impl;
  explicit Reporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hpt::client

#endif  // HPT_CLIENT_CPP_HPT_CLIENT_H_
