#include "trial_runner/k8s/kube_config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::runner::k8s {
namespace {

namespace fs = std::filesystem;

constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr char kCertPem[] = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
constexpr char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

// Clears the variables LoadKubeConfig() and InClusterConfig() read, restores them afterwards, and
// gives each test a fresh directory.
class KubeConfigTest : public ::testing::Test {
 protected:
  static constexpr const char* kVars[] = {"KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST",
                                          "KUBERNETES_SERVICE_PORT"};

  void SetUp() override {
    for (const char* var : kVars) {
      const char* value = std::getenv(var);
      saved_.push_back(value == nullptr ? std::nullopt : std::optional<std::string>(value));
      unsetenv(var);
    }
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "hpt_kube_config_test" / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  void TearDown() override {
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i].has_value()) {
        setenv(kVars[i], saved_[i]->c_str(), 1);
      } else {
        unsetenv(kVars[i]);
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Service-account files under dir_/sa; each one only when its content is given.
  InClusterPaths ServiceAccount(std::optional<std::string> token, std::optional<std::string> ca,
                                std::optional<std::string> ns) {
    const fs::path sa = dir_ / "sa";
    fs::create_directories(sa);
    InClusterPaths paths{.token_file = (sa / "token").string(),
                         .ca_file = (sa / "ca.crt").string(),
                         .namespace_file = (sa / "namespace").string()};
    if (token) WriteFile(paths.token_file, *token);
    if (ca) WriteFile(paths.ca_file, *ca);
    if (ns) WriteFile(paths.namespace_file, *ns);
    return paths;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::vector<std::optional<std::string>> saved_;
};

// A kubeconfig with two contexts over two clusters and two users.
constexpr char kTwoContexts[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example.com:6443/
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:443
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: alice
    namespace: ml
- name: prod
  context:
    cluster: prod-cluster
    user: bob
users:
- name: alice
  user:
    token: alice-token
- name: bob
  user:
    token: bob-token
)";

TEST_F(KubeConfigTest, TokenUserFromCurrentContext) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(kTwoContexts, "/etc/kube/config", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://dev.example.com:6443");  // trailing slash removed
  EXPECT_EQ(c->namespace_, "ml");
  EXPECT_EQ(c->bearer_token, "alice-token");
  EXPECT_EQ(c->token_file, "");
  EXPECT_EQ(c->client_certificate_pem, "");
  EXPECT_EQ(c->client_key_pem, "");
  EXPECT_EQ(c->certificate_authority_pem, "");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->context, "dev");
  EXPECT_EQ(c->source, "/etc/kube/config");
}

TEST_F(KubeConfigTest, NamedContextWinsOverCurrentContext) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(kTwoContexts, "/etc/kube/config", "prod");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://10.0.0.1:443");
  EXPECT_EQ(c->namespace_, "default");  // the context sets none
  EXPECT_EQ(c->bearer_token, "bob-token");
  EXPECT_TRUE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->context, "prod");
}

TEST_F(KubeConfigTest, MissingContextListsTheContextsThatExist) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(kTwoContexts, "/etc/kube/config", "staging");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "context \"staging\" not found in /etc/kube/config (contexts: \"dev\", \"prod\")");
}

TEST_F(KubeConfigTest, MissingCurrentContextIsNamedAsSuch) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(R"(current-context: gone
contexts:
- name: a
  context: {cluster: x}
)",
                                                 "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), "current-context \"gone\" not found in cfg (contexts: \"a\")");
}

TEST_F(KubeConfigTest, NoCurrentContextAndNoneGiven) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig("", "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "no context selected: current-context is not set in cfg and no context was given "
            "(contexts: none)");
}

TEST_F(KubeConfigTest, MissingClusterAndUserAreNotFound) {
  constexpr char kYaml[] = R"(current-context: a
clusters:
- name: c1
  cluster: {server: "https://h:1"}
contexts:
- name: a
  context: {cluster: c2, user: u1}
- name: b
  context: {cluster: c1, user: u2}
users:
- name: u1
  user: {token: t}
)";
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(kYaml, "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "cluster \"c2\" of context \"a\" not found in cfg (clusters: \"c1\")");
  c = ParseKubeConfig(kYaml, "cfg", "b");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), "user \"u2\" of context \"b\" not found in cfg (users: \"u1\")");
}

TEST_F(KubeConfigTest, ContextWithoutUserIsAnonymous) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(R"(current-context: a
clusters: [{name: c, cluster: {server: "http://localhost:8080"}}]
contexts: [{name: a, context: {cluster: c}}]
)",
                                                 "cfg", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "http://localhost:8080");
  EXPECT_EQ(c->bearer_token, "");
  EXPECT_EQ(c->client_certificate_pem, "");
}

TEST_F(KubeConfigTest, ContextWithoutClusterIsInvalid) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(R"(current-context: a
contexts:
- name: a
  context:
    user: u
)",
                                                 "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "context \"a\" at cfg:5:5 names no cluster");
}

std::string CertDataConfig(const std::string& cert_b64, const std::string& key_b64) {
  return absl::StrCat(R"(current-context: a
clusters:
- name: c
  cluster:
    server: https://h:6443
    certificate-authority-data: )",
                      absl::Base64Escape(kCaPem), R"(
contexts:
- name: a
  context: {cluster: c, user: u}
users:
- name: u
  user:
    client-certificate-data: )",
                      cert_b64, R"(
    client-key-data: )",
                      key_b64, "\n");
}

TEST_F(KubeConfigTest, CertificateAndKeyData) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(
      CertDataConfig(absl::Base64Escape(kCertPem), absl::Base64Escape(kKeyPem)), "cfg", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->client_certificate_pem, kCertPem);
  EXPECT_EQ(c->client_key_pem, kKeyPem);
  EXPECT_EQ(c->certificate_authority_pem, kCaPem);
  EXPECT_EQ(c->bearer_token, "");
}

TEST_F(KubeConfigTest, BadBase64IsInvalidArgument) {
  absl::StatusOr<KubeConfig> c =
      ParseKubeConfig(CertDataConfig(absl::Base64Escape(kCertPem), "not*base64!"), "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "cfg:14:22: user \"u\".client-key-data is not valid base64 (it holds the base64 of a "
            "PEM file)");
}

TEST_F(KubeConfigTest, CertificateWithoutKeyIsInvalid) {
  std::string yaml = CertDataConfig(absl::Base64Escape(kCertPem), "\"\"");
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(yaml, "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "user \"u\" at cfg:13:5 has a client certificate but no client key (client-key or "
            "client-key-data)");
}

TEST_F(KubeConfigTest, CertificateKeyAndCaFilesAreRelativeToTheKubeconfigDirectory) {
  WriteFile(dir_ / "certs" / "client.crt", kCertPem);
  WriteFile(dir_ / "certs" / "client.key", kKeyPem);
  WriteFile(dir_ / "ca.crt", kCaPem);
  WriteFile(dir_ / "token", "file-token\n");
  const std::string yaml = R"(current-context: a
clusters:
- name: c
  cluster:
    server: https://h:6443
    certificate-authority: ca.crt
contexts:
- name: a
  context: {cluster: c, user: u}
users:
- name: u
  user:
    client-certificate: certs/client.crt
    client-key: ./certs/client.key
    tokenFile: token
)";
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(yaml, Path("config"), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->client_certificate_pem, kCertPem);
  EXPECT_EQ(c->client_key_pem, kKeyPem);
  EXPECT_EQ(c->certificate_authority_pem, kCaPem);
  EXPECT_EQ(c->bearer_token, "file-token");  // the trailing newline is not part of the token
  EXPECT_EQ(c->token_file, Path("token"));

  // The same files named by absolute paths, from a kubeconfig elsewhere.
  const std::string absolute = absl::StrCat(R"(current-context: a
clusters: [{name: c, cluster: {server: "https://h:6443", certificate-authority: ")",
                                            Path("ca.crt"), R"("}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
users: [{name: u, user: {client-certificate: ")",
                                            Path("certs/client.crt"), R"(", client-key: ")",
                                            Path("certs/client.key"), R"("}}]
)");
  c = ParseKubeConfig(absolute, "/nonexistent/dir/config", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->client_certificate_pem, kCertPem);
  EXPECT_EQ(c->client_key_pem, kKeyPem);
  EXPECT_EQ(c->certificate_authority_pem, kCaPem);
}

TEST_F(KubeConfigTest, MissingCertificateFileIsNotFound) {
  const std::string yaml = R"(current-context: a
clusters: [{name: c, cluster: {server: "https://h:6443", certificate-authority: missing-ca.crt}}]
contexts: [{name: a, context: {cluster: c}}]
)";
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(yaml, Path("config"), "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), absl::StrCat("cluster \"c\".certificate-authority file ",
                                               Path("missing-ca.crt"), " does not exist"));
}

TEST_F(KubeConfigTest, DataWinsOverFileAndTokenWinsOverTokenFile) {
  const std::string yaml = absl::StrCat(R"(current-context: a
clusters:
- name: c
  cluster:
    server: https://h:6443
    certificate-authority: does-not-exist.crt
    certificate-authority-data: )",
                                        absl::Base64Escape(kCaPem), R"(
contexts: [{name: a, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: inline, tokenFile: does-not-exist}}]
)");
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(yaml, Path("config"), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->certificate_authority_pem, kCaPem);
  EXPECT_EQ(c->bearer_token, "inline");
  EXPECT_EQ(c->token_file, "");
}

TEST_F(KubeConfigTest, InsecureSkipTlsVerifyMustBeABoolean) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(R"(current-context: a
clusters:
- name: c
  cluster:
    server: https://h:6443
    insecure-skip-tls-verify: maybe
contexts: [{name: a, context: {cluster: c}}]
)",
                                                 "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "cfg:6:31: cluster \"c\".insecure-skip-tls-verify must be true or false");
}

TEST_F(KubeConfigTest, ServerIsRequiredAndMustBeHttpOrHttps) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(R"(current-context: a
clusters:
- name: c
  cluster:
    insecure-skip-tls-verify: true
contexts: [{name: a, context: {cluster: c}}]
)",
                                                 "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "cluster \"c\" at cfg:5:5 has no server (e.g. https://host:6443)");

  c = ParseKubeConfig(R"(current-context: a
clusters: [{name: c, cluster: {server: "h:6443"}}]
contexts: [{name: a, context: {cluster: c}}]
)",
                      "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "cluster \"c\" at cfg:2:31: server \"h:6443\" must start with https:// or http://");
}

std::string UserConfig(const std::string& user) {
  return absl::StrCat(R"(current-context: a
clusters: [{name: c, cluster: {server: "https://h:6443"}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
users:
- name: u
  user:
)",
                      user);
}

TEST_F(KubeConfigTest, ExecPluginIsUnimplemented) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(UserConfig(R"(    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
)"),
                                                 "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(c.status().message(),
            "not supported yet: user.exec (use a token, tokenFile or client certificate) in user "
            "\"u\" at cfg:8:7");
}

TEST_F(KubeConfigTest, AuthProviderAndBasicAuthAreUnimplemented) {
  absl::StatusOr<KubeConfig> c =
      ParseKubeConfig(UserConfig("    auth-provider: {name: gcp}\n"), "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(c.status().message(),
            "not supported yet: user.auth-provider (use a token, tokenFile or client certificate) "
            "in user \"u\" at cfg:7:20");
  c = ParseKubeConfig(UserConfig("    username: admin\n    password: secret\n"), "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(c.status().message(),
            "not supported yet: user.username (use a token, tokenFile or client certificate) in "
            "user \"u\" at cfg:7:15");
}

TEST_F(KubeConfigTest, ExecAlongsideATokenUsesTheToken) {
  absl::StatusOr<KubeConfig> c =
      ParseKubeConfig(UserConfig("    token: t\n    exec: {command: aws}\n"), "cfg", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bearer_token, "t");
}

TEST_F(KubeConfigTest, MalformedYamlReportsLineAndColumn) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig(R"(current-context: a
users:
  - name: u
    user:
      token: [1, 2
)",
                                                 "/k/config", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "/k/config:6:1: malformed kubeconfig YAML: end of sequence flow not found");
}

TEST_F(KubeConfigTest, WrongShapesAreInvalidArgument) {
  absl::StatusOr<KubeConfig> c = ParseKubeConfig("- a\n- b\n", "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "cfg:1:1: a kubeconfig must be a YAML mapping with clusters, contexts, users and "
            "current-context");
  c = ParseKubeConfig("clusters:\n  c: {server: x}\n", "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "cfg:2:3: clusters must be a list of {name, cluster}");
  c = ParseKubeConfig("users:\n- user: {token: t}\n", "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "cfg:2:3: an entry of users has no name");
  c = ParseKubeConfig("contexts:\n- name: a\n  context: [x]\n", "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "cfg:3:12: context of \"a\" must be a mapping");
  c = ParseKubeConfig(UserConfig("    token: [a, b]\n"), "cfg", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "cfg:7:12: user \"u\".token must be a string");
}

TEST_F(KubeConfigTest, ExplicitKubeconfigFile) {
  WriteFile(dir_ / "explicit", kTwoContexts);
  absl::StatusOr<KubeConfig> c =
      LoadKubeConfig({.kubeconfig = Path("explicit"), .context = "prod"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bearer_token, "bob-token");
  EXPECT_EQ(c->source, Path("explicit"));

  c = LoadKubeConfig({.kubeconfig = Path("absent")});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            absl::StrCat("kubeconfig (--kubeconfig) file ", Path("absent"), " does not exist"));
}

TEST_F(KubeConfigTest, KubeconfigEnvWithSeveralPathsMergesFirstWins) {
  WriteFile(dir_ / "a.yaml", R"(current-context: first
clusters: [{name: shared, cluster: {server: "https://from-a:6443"}}]
contexts: [{name: first, context: {cluster: shared, user: only-in-b, namespace: a-ns}}]
)");
  WriteFile(dir_ / "b.yaml", R"(current-context: second
clusters:
- {name: shared, cluster: {server: "https://from-b:6443"}}
- {name: b-cluster, cluster: {server: "https://b-only:6443"}}
contexts:
- {name: first, context: {cluster: b-cluster}}
- {name: second, context: {cluster: b-cluster, user: only-in-b}}
users: [{name: only-in-b, user: {tokenFile: b-token}}]
)");
  WriteFile(dir_ / "b-token", "tok-b");
  WriteFile(dir_ / "home" / ".kube" / "config", "this file must not be read: [");
  setenv("HOME", Path("home").c_str(), 1);
  const std::string env = absl::StrCat(Path("missing.yaml"), ":", Path("a.yaml"),
                                       "::", Path("b.yaml"), ":", Path("a.yaml"));
  setenv("KUBECONFIG", env.c_str(), 1);

  absl::StatusOr<KubeConfig> c = LoadKubeConfig({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->context, "first");               // a.yaml's current-context
  EXPECT_EQ(c->server, "https://from-a:6443");  // a.yaml's "shared" wins over b.yaml's
  EXPECT_EQ(c->namespace_, "a-ns");             // a.yaml's "first" wins
  EXPECT_EQ(c->bearer_token, "tok-b");          // the user only b.yaml has
  EXPECT_EQ(c->token_file, Path("b-token"));    // relative to b.yaml's directory
  EXPECT_EQ(c->source, Path("a.yaml"));

  c = LoadKubeConfig({.context = "second"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://b-only:6443");
  EXPECT_EQ(c->source, Path("b.yaml"));

  c = LoadKubeConfig({.context = "third"});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            absl::StrCat("context \"third\" not found in ", Path("a.yaml"), ":", Path("b.yaml"),
                         " (contexts: \"first\", \"second\")"));
}

TEST_F(KubeConfigTest, MalformedFileInKubeconfigEnvIsReported) {
  WriteFile(dir_ / "bad.yaml", "a: b\n  c: d\n");
  setenv("KUBECONFIG", Path("bad.yaml").c_str(), 1);
  absl::StatusOr<KubeConfig> c = LoadKubeConfig({});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            absl::StrCat(Path("bad.yaml"), ":2:4: malformed kubeconfig YAML: illegal map value"));
}

TEST_F(KubeConfigTest, HomeFallbackWhenKubeconfigEnvNamesNoExistingFile) {
  WriteFile(dir_ / "home" / ".kube" / "config", kTwoContexts);
  setenv("HOME", Path("home").c_str(), 1);
  absl::StatusOr<KubeConfig> c = LoadKubeConfig({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->context, "dev");
  EXPECT_EQ(c->source, Path("home/.kube/config"));

  setenv("KUBECONFIG", Path("nope").c_str(), 1);
  c = LoadKubeConfig({.context = "prod"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->context, "prod");
  EXPECT_EQ(c->source, Path("home/.kube/config"));
}

TEST_F(KubeConfigTest, InClusterIpv4) {
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  InClusterPaths paths = ServiceAccount("sa-token\n", kCaPem, "experiments\n");
  absl::StatusOr<KubeConfig> c = InClusterConfig(paths);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->bearer_token, "sa-token");
  EXPECT_EQ(c->token_file, paths.token_file);
  EXPECT_EQ(c->certificate_authority_pem, kCaPem);
  EXPECT_EQ(c->namespace_, "experiments");
  EXPECT_EQ(c->client_certificate_pem, "");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->context, "");
  EXPECT_EQ(c->source, "in-cluster");
}

TEST_F(KubeConfigTest, InClusterIpv6WithoutCaOrNamespaceFiles) {
  setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  absl::StatusOr<KubeConfig> c = InClusterConfig(ServiceAccount("t", std::nullopt, std::nullopt));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://[fd00:10:96::1]:6443");
  EXPECT_EQ(c->certificate_authority_pem, "");
  EXPECT_EQ(c->namespace_, "default");
}

TEST_F(KubeConfigTest, InClusterErrors) {
  InClusterPaths paths = ServiceAccount(std::nullopt, kCaPem, "ns");
  absl::StatusOr<KubeConfig> c = InClusterConfig(paths);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.status().message(),
            "not running in a Kubernetes pod: $KUBERNETES_SERVICE_HOST and "
            "$KUBERNETES_SERVICE_PORT must both be set (KUBERNETES_SERVICE_HOST is not)");

  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  c = InClusterConfig(paths);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.status().message(),
            "not running in a Kubernetes pod: $KUBERNETES_SERVICE_HOST and "
            "$KUBERNETES_SERVICE_PORT must both be set (KUBERNETES_SERVICE_PORT is not)");

  setenv("KUBERNETES_SERVICE_PORT", "https", 1);
  c = InClusterConfig(paths);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "$KUBERNETES_SERVICE_PORT is \"https\"; expected a port number 1..65535");

  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  c = InClusterConfig(paths);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            absl::StrCat("service-account token file ", paths.token_file, " does not exist"));

  WriteFile(paths.token_file, " \n");
  c = InClusterConfig(paths);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            absl::StrCat("service-account token file ", paths.token_file, " is empty"));
}

TEST_F(KubeConfigTest, LoadFallsBackToInCluster) {
  setenv("HOME", Path("empty-home").c_str(), 1);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  KubeConfigOptions options;
  options.in_cluster = ServiceAccount("sa-token", kCaPem, "ns");
  absl::StatusOr<KubeConfig> c = LoadKubeConfig(options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "in-cluster");
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->bearer_token, "sa-token");
  EXPECT_EQ(c->namespace_, "ns");
}

TEST_F(KubeConfigTest, NothingFoundIsFailedPreconditionListingEveryPlace) {
  absl::StatusOr<KubeConfig> c = LoadKubeConfig({});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.status().message(),
            "no Kubernetes configuration found; looked at: --kubeconfig (not given); $KUBECONFIG "
            "(unset); ~/.kube/config ($HOME unset); in-cluster ($KUBERNETES_SERVICE_HOST unset). "
            "Pass --kubeconfig, set $KUBECONFIG, or run inside a pod");

  setenv("HOME", Path("home").c_str(), 1);
  setenv("KUBECONFIG", absl::StrCat(Path("x"), ":", Path("y")).c_str(), 1);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);  // not used: a context was asked for
  c = LoadKubeConfig({.context = "prod"});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.status().message(),
            absl::StrCat("no Kubernetes configuration found; looked at: --kubeconfig (not given); ",
                         Path("x"), " (from $KUBECONFIG; does not exist); ", Path("y"),
                         " (from $KUBECONFIG; does not exist); ", Path("home/.kube/config"),
                         " (does not exist); in-cluster (skipped: context \"prod\" was asked "
                         "for). Pass --kubeconfig, set $KUBECONFIG, or run inside a pod"));
}

}  // namespace
}  // namespace hpt::runner::k8s
