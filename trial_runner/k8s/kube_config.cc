#include "trial_runner/k8s/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace hpt::runner::k8s {
namespace {

namespace fs = std::filesystem;

// One named entry of clusters / contexts / users: the inner map (may be null) and the file
// that defined it (relative paths inside are relative to that file's directory).
struct Entry {
  YAML::Node node;
  std::string file;
};

// One or more kubeconfig documents merged first-wins per name.
struct RawConfig {
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> contexts;
  std::map<std::string, Entry> users;
  std::string current_context;
  std::string current_context_file;
};

std::string FileLabel(const std::string& file) {
  return file.empty() ? std::string("<kubeconfig>") : file;
}

// "file:line:column" (1-based), or just the file when the mark is unknown.
std::string Where(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return FileLabel(file);
  return absl::StrCat(FileLabel(file), ":", mark.line + 1, ":", mark.column + 1);
}

std::string Where(const Entry& entry) { return Where(entry.file, entry.node.Mark()); }

std::string Names(const std::map<std::string, Entry>& entries) {
  if (entries.empty()) return "none";
  std::vector<std::string> quoted;
  for (const auto& [name, entry] : entries) quoted.push_back(absl::StrCat("\"", name, "\""));
  return absl::StrJoin(quoted, ", ");
}

// A string field of a map; "" when absent or null. InvalidArgument when not a scalar.
absl::StatusOr<std::string> GetString(const YAML::Node& map, const char* key,
                                      const std::string& file, const std::string& what) {
  if (!map.IsMap()) return std::string();
  const YAML::Node value = map[key];
  if (!value.IsDefined() || value.IsNull()) return std::string();
  if (!value.IsScalar()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(file, value.Mark()), ": ", what, ".", key, " must be a string"));
  }
  return value.Scalar();
}

bool HasField(const YAML::Node& map, const char* key) {
  if (!map.IsMap()) return false;
  const YAML::Node value = map[key];
  return value.IsDefined() && !value.IsNull();
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(what, " file ", path, " does not exist"));
  }
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " file ", path, " is a directory, not a file"));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    std::string message = absl::StrCat("cannot open ", what, " file ", path, ": ", strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(message) : absl::UnavailableError(message);
  }
  std::string content;
  char buffer[8192];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) content.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    return absl::UnavailableError(absl::StrCat("cannot read ", what, " file ", path));
  }
  return content;
}

// A file named inside a kubeconfig: relative to the kubeconfig file's directory, made absolute.
std::string ResolvePath(const std::string& name, const std::string& kubeconfig_file) {
  fs::path p{std::string(name)};
  if (p.is_relative()) p = fs::path(std::string(kubeconfig_file)).parent_path() / p;
  std::error_code ec;
  fs::path absolute = fs::absolute(p, ec);
  return (ec ? p : absolute).lexically_normal().string();
}

// `<prefix>-data` (base64, wins) or `<prefix>` (a file) of `entry`; "" when neither is set.
absl::StatusOr<std::string> DataOrFile(const Entry& entry, const std::string& prefix,
                                       const std::string& what) {
  const std::string data_key = prefix + "-data";
  absl::StatusOr<std::string> data = GetString(entry.node, data_key.c_str(), entry.file, what);
  if (!data.ok()) return data.status();
  if (!data->empty()) {
    std::string compact;
    for (char c : *data) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) compact.push_back(c);
    }
    std::string decoded;
    if (!absl::Base64Unescape(compact, &decoded)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(entry.file, entry.node[data_key].Mark()), ": ", what, ".", data_key,
                       " is not valid base64 (it holds the base64 of a PEM file)"));
    }
    return decoded;
  }
  absl::StatusOr<std::string> file = GetString(entry.node, prefix.c_str(), entry.file, what);
  if (!file.ok() || file->empty()) return file;
  return ReadFile(ResolvePath(*file, entry.file), absl::StrCat(what, ".", prefix));
}

std::string StripTrailingSlashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Adds one kubeconfig document to `raw`; names already present are kept (first wins).
absl::Status AddDocument(const std::string& yaml, const std::string& file, RawConfig& raw) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(file, e.mark), ": malformed kubeconfig YAML: ", e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();  // an empty file adds nothing, as in kubectl
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(file, root.Mark()),
                     ": a kubeconfig must be a YAML mapping with clusters, contexts, users and "
                     "current-context"));
  }
  struct Section {
    const char* list;
    const char* item;
    std::map<std::string, Entry>* entries;
  };
  for (const Section& section :
       {Section{"clusters", "cluster", &raw.clusters},
        Section{"contexts", "context", &raw.contexts}, Section{"users", "user", &raw.users}}) {
    const YAML::Node list = root[section.list];
    if (!list.IsDefined() || list.IsNull()) continue;
    if (!list.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(file, list.Mark()), ": ", section.list,
                                                     " must be a list of {name, ", section.item,
                                                     "}"));
    }
    for (const YAML::Node& item : list) {
      if (!item.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(Where(file, item.Mark()), ": an entry of ",
                                                       section.list, " must be a mapping {name, ",
                                                       section.item, "}"));
      }
      absl::StatusOr<std::string> name = GetString(item, "name", file, section.item);
      if (!name.ok()) return name.status();
      if (name->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(file, item.Mark()), ": an entry of ", section.list, " has no name"));
      }
      const YAML::Node inner = item[section.item];
      if (inner.IsDefined() && !inner.IsNull() && !inner.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(Where(file, inner.Mark()), ": ",
                                                       section.item, " of \"", *name,
                                                       "\" must be a mapping"));
      }
      // An entry without its inner map keeps the item's position for error messages.
      section.entries->emplace(*name, Entry{inner.IsMap() ? inner : item, file});
    }
  }
  absl::StatusOr<std::string> current = GetString(root, "current-context", file, "kubeconfig");
  if (!current.ok()) return current.status();
  if (raw.current_context.empty() && !current->empty()) {
    raw.current_context = *current;
    raw.current_context_file = file;
  }
  return absl::OkStatus();
}

absl::Status ResolveCluster(const Entry& cluster, const std::string& name, KubeConfig& config) {
  const std::string what = absl::StrCat("cluster \"", name, "\"");
  absl::StatusOr<std::string> server = GetString(cluster.node, "server", cluster.file, what);
  if (!server.ok()) return server.status();
  config.server = StripTrailingSlashes(std::string(absl::StripAsciiWhitespace(*server)));
  if (config.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " at ", Where(cluster), " has no server (e.g. https://host:6443)"));
  }
  if (!absl::StartsWith(config.server, "https://") && !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(what, " at ", Where(cluster), ": server \"",
                                                   config.server,
                                                   "\" must start with https:// or http://"));
  }
  absl::StatusOr<std::string> ca = DataOrFile(cluster, "certificate-authority", what);
  if (!ca.ok()) return ca.status();
  config.certificate_authority_pem = *std::move(ca);
  if (HasField(cluster.node, "insecure-skip-tls-verify")) {
    const YAML::Node insecure = cluster.node["insecure-skip-tls-verify"];
    try {
      config.insecure_skip_tls_verify = insecure.as<bool>();
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(absl::StrCat(Where(cluster.file, insecure.Mark()), ": ",
                                                     what,
                                                     ".insecure-skip-tls-verify must be true or "
                                                     "false"));
    }
  }
  return absl::OkStatus();
}

absl::Status ResolveUser(const Entry& user, const std::string& name, KubeConfig& config) {
  const std::string what = absl::StrCat("user \"", name, "\"");
  absl::StatusOr<std::string> token = GetString(user.node, "token", user.file, what);
  if (!token.ok()) return token.status();
  absl::StatusOr<std::string> token_file = GetString(user.node, "tokenFile", user.file, what);
  if (!token_file.ok()) return token_file.status();
  if (!token->empty()) {
    config.bearer_token = *token;
  } else if (!token_file->empty()) {
    config.token_file = ResolvePath(*token_file, user.file);
    absl::StatusOr<std::string> content =
        ReadFile(config.token_file, absl::StrCat(what, ".tokenFile"));
    if (!content.ok()) return content.status();
    config.bearer_token = std::string(absl::StripAsciiWhitespace(*content));
    if (config.bearer_token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ".tokenFile ", config.token_file, " is empty"));
    }
  }
  absl::StatusOr<std::string> cert = DataOrFile(user, "client-certificate", what);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = DataOrFile(user, "client-key", what);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " at ", Where(user), " has a client ",
                     cert->empty() ? "key" : "certificate", " but no client ",
                     cert->empty() ? "certificate (client-certificate or -data)"
                                   : "key (client-key or client-key-data)"));
  }
  config.client_certificate_pem = *std::move(cert);
  config.client_key_pem = *std::move(key);
  if (config.bearer_token.empty() && config.client_certificate_pem.empty()) {
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      if (HasField(user.node, unsupported)) {
        return absl::UnimplementedError(
            absl::StrCat("not supported yet: user.", unsupported,
                         " (use a token, tokenFile or client certificate) in ", what, " at ",
                         Where(user.file, user.node[unsupported].Mark())));
      }
    }
  }
  return absl::OkStatus();
}

// Picks the context in `raw` and resolves its cluster and user. `label` names the file(s).
absl::StatusOr<KubeConfig> Resolve(const RawConfig& raw, const std::string& context,
                                   const std::string& label) {
  const bool from_current = context.empty();
  const std::string& name = from_current ? raw.current_context : context;
  if (name.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no context selected: current-context is not set in ", label,
                     " and no context was given (contexts: ", Names(raw.contexts), ")"));
  }
  auto context_it = raw.contexts.find(name);
  if (context_it == raw.contexts.end()) {
    return absl::NotFoundError(absl::StrCat(from_current ? "current-context" : "context", " \"",
                                            name, "\" not found in ", label,
                                            " (contexts: ", Names(raw.contexts), ")"));
  }
  const Entry& ctx = context_it->second;
  const std::string what = absl::StrCat("context \"", name, "\"");
  absl::StatusOr<std::string> cluster_name = GetString(ctx.node, "cluster", ctx.file, what);
  if (!cluster_name.ok()) return cluster_name.status();
  absl::StatusOr<std::string> user_name = GetString(ctx.node, "user", ctx.file, what);
  if (!user_name.ok()) return user_name.status();
  absl::StatusOr<std::string> ns = GetString(ctx.node, "namespace", ctx.file, what);
  if (!ns.ok()) return ns.status();

  KubeConfig config;
  config.context = name;
  config.source = FileLabel(ctx.file);
  config.namespace_ = ns->empty() ? "default" : *ns;
  if (cluster_name->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " at ", Where(ctx), " names no cluster"));
  }
  auto cluster_it = raw.clusters.find(*cluster_name);
  if (cluster_it == raw.clusters.end()) {
    return absl::NotFoundError(absl::StrCat("cluster \"", *cluster_name, "\" of ", what,
                                            " not found in ", label,
                                            " (clusters: ", Names(raw.clusters), ")"));
  }
  absl::Status status = ResolveCluster(cluster_it->second, *cluster_name, config);
  if (!status.ok()) return status;
  if (!user_name->empty()) {  // a context without a user talks to the server anonymously
    auto user_it = raw.users.find(*user_name);
    if (user_it == raw.users.end()) {
      return absl::NotFoundError(absl::StrCat("user \"", *user_name, "\" of ", what,
                                              " not found in ", label,
                                              " (users: ", Names(raw.users), ")"));
    }
    status = ResolveUser(user_it->second, *user_name, config);
    if (!status.ok()) return status;
  }
  return config;
}

absl::StatusOr<KubeConfig> ParseWithContext(const std::string& yaml, const std::string& path,
                                            const std::string& context) {
  RawConfig raw;
  absl::Status status = AddDocument(yaml, path, raw);
  if (!status.ok()) return status;
  return Resolve(raw, context, FileLabel(path));
}

absl::StatusOr<KubeConfig> LoadFile(const std::string& path, const std::string& what,
                                    const std::string& context) {
  absl::StatusOr<std::string> yaml = ReadFile(path, what);
  if (!yaml.ok()) return yaml.status();
  return ParseWithContext(*yaml, path, context);
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

absl::StatusOr<KubeConfig> ParseKubeConfig(std::string_view yaml, std::string_view path,
                                           std::string_view context) {
  try {
    return ParseWithContext(std::string(yaml), std::string(path), std::string(context));
  } catch (const YAML::Exception& e) {  // not expected: every access above is checked
    return absl::InvalidArgumentError(
        absl::StrCat(Where(std::string(path), e.mark), ": invalid kubeconfig: ", e.msg));
  }
}

absl::StatusOr<KubeConfig> InClusterConfig(const InClusterPaths& paths) {
  const std::string host = Env("KUBERNETES_SERVICE_HOST");
  const std::string port = Env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "not running in a Kubernetes pod: $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT "
        "must both be set (",
        host.empty() ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT", " is not)"));
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("$KUBERNETES_SERVICE_PORT is \"", port,
                                                   "\"; expected a port number 1..65535"));
  }
  KubeConfig config;
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  config.server =
      absl::StrCat("https://", ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port_number);
  config.source = "in-cluster";
  config.token_file = paths.token_file;
  absl::StatusOr<std::string> token = ReadFile(paths.token_file, "service-account token");
  if (!token.ok()) return token.status();
  config.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
  if (config.bearer_token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service-account token file ", paths.token_file, " is empty"));
  }
  std::error_code ec;
  if (fs::exists(paths.ca_file, ec)) {
    absl::StatusOr<std::string> ca = ReadFile(paths.ca_file, "service-account CA");
    if (!ca.ok()) return ca.status();
    config.certificate_authority_pem = *std::move(ca);
  }
  config.namespace_ = "default";
  if (fs::exists(paths.namespace_file, ec)) {
    absl::StatusOr<std::string> ns = ReadFile(paths.namespace_file, "service-account namespace");
    if (!ns.ok()) return ns.status();
    std::string trimmed(absl::StripAsciiWhitespace(*ns));
    if (!trimmed.empty()) config.namespace_ = std::string(trimmed);
  }
  return config;
}

absl::StatusOr<KubeConfig> LoadKubeConfig(const KubeConfigOptions& options) {
  try {
    if (!options.kubeconfig.empty()) {
      return LoadFile(options.kubeconfig, "kubeconfig (--kubeconfig)", options.context);
    }
    std::vector<std::string> looked = {"--kubeconfig (not given)"};

    const std::string env = Env("KUBECONFIG");
    if (env.empty()) {
      looked.push_back("$KUBECONFIG (unset)");
    } else {
      RawConfig raw;
      std::vector<std::string> loaded;
      std::set<std::string> seen;
      for (absl::string_view piece : absl::StrSplit(env, ':', absl::SkipEmpty())) {
        const std::string path(piece);
        if (!seen.insert(path).second) continue;
        std::error_code ec;
        if (!fs::exists(path, ec)) {
          looked.push_back(absl::StrCat(path, " (from $KUBECONFIG; does not exist)"));
          continue;
        }
        absl::StatusOr<std::string> yaml = ReadFile(path, "kubeconfig (from $KUBECONFIG)");
        if (!yaml.ok()) return yaml.status();
        absl::Status status = AddDocument(*yaml, path, raw);
        if (!status.ok()) return status;
        loaded.push_back(path);
      }
      if (!loaded.empty()) return Resolve(raw, options.context, absl::StrJoin(loaded, ":"));
    }

    const std::string home = Env("HOME");
    if (home.empty()) {
      looked.push_back("~/.kube/config ($HOME unset)");
    } else {
      const std::string path = (fs::path(home) / ".kube" / "config").string();
      std::error_code ec;
      if (fs::exists(path, ec)) return LoadFile(path, "kubeconfig", options.context);
      looked.push_back(absl::StrCat(path, " (does not exist)"));
    }

    if (!options.context.empty()) {
      looked.push_back(
          absl::StrCat("in-cluster (skipped: context \"", options.context, "\" was asked for)"));
    } else if (!Env("KUBERNETES_SERVICE_HOST").empty()) {
      return InClusterConfig(options.in_cluster);
    } else {
      looked.push_back("in-cluster ($KUBERNETES_SERVICE_HOST unset)");
    }
    return absl::FailedPreconditionError(
        absl::StrCat("no Kubernetes configuration found; looked at: ", absl::StrJoin(looked, "; "),
                     ". Pass --kubeconfig, set $KUBECONFIG, or run inside a pod"));
  } catch (const YAML::Exception& e) {  // not expected: every access above is checked
    return absl::InvalidArgumentError(absl::StrCat("invalid kubeconfig: ", e.what()));
  }
}

}  // namespace hpt::runner::k8s
