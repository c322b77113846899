// The gRPC services training code reports to: hpt.v1.MetricsService and Katib's
// api.v1.beta1.DBManager (so code calling Katib's `report_metrics` reaches hpt unmodified).
//
//   MetricsServer server(store, {});
//   absl::StatusOr<int> port = server.Start("127.0.0.1:0");   // HPT_ENDPOINT=127.0.0.1:<port>
//   ...
//   server.Shutdown();
//
// A report is acknowledged only after its points are committed (TrialStore::AppendMetricsAsync),
// and no gRPC thread ever waits: a report for a trial the server already knows (id and token hash
// are kept in memory; a token changed since, TrialStore::SetTrialTokenHash, is caught in the
// writing transaction) is validated in the gRPC reaction and queued for the tracker's writer, and
// the call is finished from the tracker's completion thread after the commit; reads (a trial
// seen for the first time, GetAssignment, Katib's reads) run on a worker pool. Whether the trial
// has finished is decided in the transaction that would store the points.
// Status codes: NOT_FOUND (unknown trial), PERMISSION_DENIED (wrong token), FAILED_PRECONDITION
// (trial already finished), INVALID_ARGUMENT (NaN/Inf, empty or oversize names, too many points),
// RESOURCE_EXHAUSTED (a message over max_message_bytes, from gRPC), UNAVAILABLE (retry).
// Thread-safe.
#ifndef HPT_ENGINE_METRICS_SERVICE_H_
#define HPT_ENGINE_METRICS_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tracker/trial_store.h"

namespace grpc {
class Server;
class ServerCredentials;
}

namespace hpt::engine {

struct MetricsServerOptions {
  int max_points_per_request = 10000;  // more -> INVALID_ARGUMENT
  int max_metric_name_bytes = 256;     // longer -> INVALID_ARGUMENT
  int max_message_bytes = 4 << 20;     // gRPC receive limit (RESOURCE_EXHAUSTED beyond it)
  int worker_threads = 4;              // threads for reads (first report of a trial, queries)
  // TLS (MakeServerCredentials, engine/tls.h); null: plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

class MetricsServer {
 public:
  MetricsServer(tracker::TrialStore* store, MetricsServerOptions options);
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();  // Shutdown() if still running

  // Listens on `address` ("127.0.0.1:0" picks a free port) and returns the bound port.
  // Unavailable when the address cannot be bound.
  absl::StatusOr<int> Start(const std::string& address);
  // Stops accepting calls, waits for in-flight ones (their commits finish first).
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace hpt::engine

#endif  // HPT_ENGINE_METRICS_SERVICE_H_
