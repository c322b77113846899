// TLS for hpt's gRPC servers (hptd's metrics and StudyService ports) and for the clients that call
// them (the CLI), from PEM files.
//
//   ServerTls tls{.cert_file = "hptd.crt", .key_file = "hptd.key", .client_ca_file = "ca.crt"};
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = MakeServerCredentials(tls);
//   ...
//   ClientTls client{.ca_file = "ca.crt"};
//   absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> c = MakeChannelCredentials(client);
//   grpc::CreateCustomChannel("hptd.ml.svc:7071", *c, ChannelArgumentsFor(client));
//
// Files are read once, when the credentials are made. Errors are InvalidArgument and name the
// file and what is wrong with it (unreadable, empty, not PEM, a certificate without its key).
// Thread-safe (no state).
#ifndef HPT_ENGINE_TLS_H_
#define HPT_ENGINE_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hpt::engine {

struct ServerTls {
  std::string cert_file;       // PEM certificate chain of the server
  std::string key_file;        // PEM private key of that certificate
  std::string client_ca_file;  // set: mutual TLS, clients must present a certificate it signed
  // Any file given turns TLS on (and then cert_file and key_file are both required).
  bool enabled() const {
    return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty();
  }
};

// Plaintext credentials when `tls` is not enabled; TLS ones otherwise.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls);

struct ClientTls {
  bool enabled = false;     // false: plaintext (a Unix socket, or a server without TLS)
  std::string ca_file;      // roots that verify the server; empty: the system's roots
  std::string cert_file;    // client certificate and key, for a server asking for mutual TLS
  std::string key_file;
  std::string server_name;  // the name to check in the server's certificate, when it is not
                            // the host dialled (e.g. dialling an IP)
};

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTls& tls);
// Channel arguments for `tls` (the server-name override); empty ones otherwise.
grpc::ChannelArguments ChannelArgumentsFor(const ClientTls& tls);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_TLS_H_
