// Kubernetes client configuration: where the API server is and how to authenticate to it, found
// the way kubectl finds it. This is everything hpt's small REST client (libcurl, no kubectl)
// needs to talk to one API server; nothing here makes a network call.
//
// Resolution order of LoadKubeConfig(), first match wins:
//   1. options.kubeconfig (`--kubeconfig`): that one file; NotFound when it does not exist.
//   2. $KUBECONFIG, a ':'-separated list of files. Missing files are skipped (as kubectl does);
//      the existing ones are merged like kubectl: for clusters, contexts and users the first file
//      that defines a name wins, and current-context is the first non-empty one. When none of
//      the listed files exists, resolution goes on with step 3 (kubectl would stop here with an
//      empty configuration; going on gives a more useful answer).
//   3. $HOME/.kube/config.
//   4. In-cluster (the pod's service account), when $KUBERNETES_SERVICE_HOST is set and no
//      context was asked for; see InClusterConfig().
// Otherwise FailedPrecondition, naming every place looked at.
//
// From a kubeconfig, the context (options.context, else current-context) selects a cluster
// (server, certificate-authority[-data], insecure-skip-tls-verify) and a user (token, tokenFile,
// client-certificate[-data], client-key[-data]). `*-data` is base64 and wins over the file
// form; a relative file path is relative to the directory of the kubeconfig file that defined
// the entry. `token` wins over `tokenFile`. exec plugins, auth-provider and username/password
// are not supported yet (Unimplemented) unless the user also has a token or a client
// certificate.
//
//   absl::StatusOr<KubeConfig> config = LoadKubeConfig({.context = "gpu-cluster"});
//   if (!config.ok()) return config.status();
//   // config->server == "https://10.0.0.1:6443", config->namespace_ == "ml", ...
//
// Thread-safety: every function here is safe to call from several threads, but reads the
// environment ($KUBECONFIG, $HOME, $KUBERNETES_SERVICE_HOST/_PORT) with getenv(), so it must not
// race with setenv()/unsetenv() in another thread. Nothing here throws.
#ifndef HPT_TRIAL_RUNNER_K8S_KUBE_CONFIG_H_
#define HPT_TRIAL_RUNNER_K8S_KUBE_CONFIG_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hpt::runner::k8s {

// Everything a REST client needs to talk to one API server. Credentials are held in memory as
// PEM text / token text; file paths are kept only where a client may re-read them.
struct KubeConfig {
  std::string server;      // "https://host:port" (never a trailing slash)
  std::string namespace_;  // the context's namespace; "default" when unset
  // Bearer token ("" when none). Read from tokenFile / the service-account token when so
  // configured; token_file is then that file's path, for clients that refresh rotating tokens.
  std::string bearer_token;
  std::string token_file;
  std::string client_certificate_pem;  // client certificate + key ("" when none)
  std::string client_key_pem;
  std::string certificate_authority_pem;  // "" = the system's trust store
  bool insecure_skip_tls_verify = false;
  std::string context;  // the context used ("" in-cluster)
  // Where it came from: the kubeconfig file that defined the context, or "in-cluster".
  std::string source;
};

// Where the in-cluster service-account files are; overridable for tests.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// kubectl's `--kubeconfig` and `--context` flags; empty = not given.
struct KubeConfigOptions {
  std::string kubeconfig;
  std::string context;
  InClusterPaths in_cluster;  // used by step 4 of the resolution
};

// Finds and resolves the configuration (resolution order in the file comment).
// Errors: NotFound (the --kubeconfig file, or the context / cluster / user named, does not
// exist; the message lists the contexts that do), InvalidArgument (malformed YAML with
// file:line:column, bad base64, missing or non-http(s) server, a certificate without its key),
// Unimplemented (unsupported auth), PermissionDenied (a file cannot be read),
// FailedPrecondition (no configuration anywhere), and InClusterConfig()'s errors.
absl::StatusOr<KubeConfig> LoadKubeConfig(const KubeConfigOptions& options);

// Resolves one kubeconfig document. `path` is the file it was read from: it is named in errors
// and relative file paths are resolved against its directory (against the current directory
// when `path` has none). `context` empty = the document's current-context. Same errors as
// LoadKubeConfig() except FailedPrecondition.
absl::StatusOr<KubeConfig> ParseKubeConfig(std::string_view yaml, std::string_view path,
                                           std::string_view context);

// The pod's service account: server from $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT
// (an IPv6 host is bracketed: https://[fd00::1]:443), the token (required; token_file is set for
// refresh), the CA (optional: "" when the file is absent) and the namespace ("default" when the
// file is absent). Errors: FailedPrecondition (not in a cluster: either variable unset or
// empty), NotFound (no token file), InvalidArgument (empty token, bad port), PermissionDenied.
absl::StatusOr<KubeConfig> InClusterConfig(const InClusterPaths& paths = {});

}  // namespace hpt::runner::k8s

#endif  // HPT_TRIAL_RUNNER_K8S_KUBE_CONFIG_H_
