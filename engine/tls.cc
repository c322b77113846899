#include "engine/tls.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hpt::engine {
namespace {

// The PEM text of `path`, checked to hold a block of `kind` ("CERTIFICATE", "PRIVATE KEY": the
// latter also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY"). `what` names the file in errors.
absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& what,
                                    const std::string& kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", path, "\": cannot read it (", std::strerror(errno), ")"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", path, "\" is empty"));
  }
  if (!absl::StrContains(text, "-----BEGIN ") ||
      !absl::StrContains(text, absl::StrCat(kind, "-----"))) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", path, "\" is not a PEM file with a ",
                                                   kind, " (\"-----BEGIN ", kind, "-----\")"));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        tls.cert_file.empty()
            ? "TLS needs the server's certificate (--tls-cert) as well as its key"
            : "TLS needs the server's private key (--tls-key) as well as its certificate");
  }
  absl::StatusOr<std::string> cert = ReadPem(tls.cert_file, "TLS certificate", "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(tls.key_file, "TLS private key", "PRIVATE KEY");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  if (!tls.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.client_ca_file, "TLS client CA", "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTls& tls) {
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.ca_file, "TLS CA", "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs its key and a key its certificate (--tls-cert and "
        "--tls-key together)");
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadPem(tls.cert_file, "TLS client certificate", "CERTIFICATE");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(tls.key_file, "TLS client key", "PRIVATE KEY");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

grpc::ChannelArguments ChannelArgumentsFor(const ClientTls& tls) {
  grpc::ChannelArguments args;
  if (tls.enabled && !tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  return args;
}

}  // namespace hpt::engine
