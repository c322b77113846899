// Internal to the CLI: a connection to hptd's StudyService as the remote commands make it
// (cli/remote.cc, cli/trigger.cc): the server from --server / $HPT_SERVER (else the Unix socket
// beside --db), the admin token from --token-file / $HPT_ADMIN_TOKEN_FILE, TLS from the --tls*
// flags / $HPT_TLS*.
//
//   std::unique_ptr<Remote> remote = Remote::Connect(g, r);
//   if (!remote) return 1;  // the reason is on stderr
//   grpc::Status s = remote->stub()->Get(remote->Context().get(), ref, &study);
//   if (!s.ok()) return remote->Failed(s);
//
// Not thread-safe (one command uses one).
#ifndef HPT_CLI_REMOTE_H_
#define HPT_CLI_REMOTE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "hpt/v1/study.grpc.pb.h"

namespace hpt::cli {

class Remote {
 public:
  // Null (with the reason on stderr) when the token file cannot be read or the TLS files do not
  // load. Connecting is lazy: an unreachable hptd shows in the first call.
  static std::unique_ptr<Remote> Connect(const GlobalOptions& g, const RemoteOptions& r);

  // A context for one call (deadline `seconds`, 0 = none), with the admin token when there is one.
  std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) const;

  // Prints the failure of a call to stderr ("hpt: ..."); returns 1.
  int Failed(const grpc::Status& s) const;

  hpt::v1::StudyService::Stub* stub() { return stub_.get(); }
  const std::string& server() const { return server_; }

 private:
  Remote() = default;
  std::string server_;
  std::string token_;
  std::unique_ptr<hpt::v1::StudyService::Stub> stub_;
};

}  // namespace hpt::cli

#endif  // HPT_CLI_REMOTE_H_
