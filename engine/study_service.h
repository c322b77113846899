// The admin side of hptd: hpt.v1.StudyService (proto/hpt/v1/study.proto) over a StudyManager and
// (optionally) a TriggerManager for retraining triggers, served on a Unix socket (whose file
// permissions decide who may use it: 0600, hptd's user) and, when an admin token is configured,
// on TCP for callers sending "authorization: Bearer <token>". Every RPC, the trigger RPCs
// included, is authorized the same way. There is no anonymous study submission over TCP.
//
//   AdminServer admin(&manager, store, {.unix_socket = "/var/run/hpt/hptd.sock",
//                                       .triggers = &triggers});
//   absl::Status s = admin.Start();
//   ...
//   admin.Shutdown();
//
// Thread-safe. Requests run on gRPC's synchronous thread pool; Watch holds one thread per
// watcher.
#ifndef HPT_ENGINE_STUDY_SERVICE_H_
#define HPT_ENGINE_STUDY_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/study_manager.h"
#include "tracker/trial_store.h"

namespace grpc {
class Server;
class ServerCredentials;
}  // namespace grpc

namespace hpt::engine {

class TriggerManager;

struct AdminServerOptions {
  std::string unix_socket;  // path; "" = none. An existing socket file is replaced.
  std::string tcp_address;  // "host:port" ("…:0" picks a port); "" = none. Needs admin_token.
  std::string admin_token;  // the bearer token TCP callers must send
  // TLS of the TCP address (MakeServerCredentials, engine/tls.h); null: plaintext. The Unix socket
  // is always plaintext: its file permissions decide who may connect.
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials;
  // The retraining triggers the trigger RPCs (ApplyTrigger, ListTriggers, ...) drive; not owned,
  // must outlive the server. Null: those RPCs answer UNIMPLEMENTED.
  TriggerManager* triggers = nullptr;
};

class AdminServer {
 public:
  AdminServer(StudyManager* manager, tracker::TrialStore* store, AdminServerOptions options);
  ~AdminServer();  // Shutdown()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and serves. InvalidArgument when neither address is given, or TCP without a token (or a
  // token shorter than 16 characters); Unavailable when an address cannot be bound. Returns the
  // TCP port (0 without TCP).
  absl::StatusOr<int> Start();
  // Ends open Watch streams and stops serving.
  void Shutdown();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  AdminServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace hpt::engine

#endif  // HPT_ENGINE_STUDY_SERVICE_H_
