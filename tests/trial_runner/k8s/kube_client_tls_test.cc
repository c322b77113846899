// KubeClient over TLS, as kubeconfigs use it: the cluster's CA, a client certificate and key
// (mutual TLS), and insecure-skip-tls-verify. The certificates are made for each run with the
// openssl command (the test skips when it is missing); the server is cpp-httplib's SSLServer,
// which demands a client certificate signed by the same CA.
#include <httplib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/test_certs.h"
#include "trial_runner/k8s/kube_client.h"

namespace hpt::runner::k8s {
namespace {

namespace fs = std::filesystem;
using ::hpt::test_support::ReadFile;
using ::testing::HasSubstr;

class KubeClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        ("kube_client_tls_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    certs_ok_ = hpt::test_support::MakeTestCerts(*dir_).ok();
  }

  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    if (!certs_ok_) GTEST_SKIP() << "the openssl command could not make test certificates";
    const std::string d = dir_->string();
    server_ = std::make_unique<httplib::SSLServer>((d + "/server.crt").c_str(),
                                                   (d + "/server.key").c_str(),
                                                   (d + "/ca.crt").c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/api/v1/namespaces/ml/pods", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]})",
                      "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    server_->stop();
    thread_.join();
  }

  KubeConfig Config() {
    KubeConfig c;
    c.server = "https://127.0.0.1:" + std::to_string(port_);
    return c;
  }

  absl::Status ListPods(KubeConfig config) {
    KubeClientOptions o;
    o.max_attempts = 2;
    o.initial_backoff = absl::Milliseconds(5);
    absl::StatusOr<std::unique_ptr<KubeClient>> client = KubeClient::Create(std::move(config), o);
    if (!client.ok()) return client.status();
    return (*client)->List(kPods, "ml", "").status();
  }

  static fs::path* dir_;
  static bool certs_ok_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
};

fs::path* KubeClientTlsTest::dir_ = nullptr;
bool KubeClientTlsTest::certs_ok_ = false;

TEST_F(KubeClientTlsTest, ClusterCaAndClientCertificate) {
  KubeConfig c = Config();
  c.certificate_authority_pem = ReadFile(*dir_ / "ca.crt");
  c.client_certificate_pem = ReadFile(*dir_ / "client.crt");
  c.client_key_pem = ReadFile(*dir_ / "client.key");
  absl::Status s = ListPods(c);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(KubeClientTlsTest, ServerNotSignedByTheSystemTrustIsRefused) {
  KubeConfig c = Config();
  c.client_certificate_pem = ReadFile(*dir_ / "client.crt");
  c.client_key_pem = ReadFile(*dir_ / "client.key");
  absl::Status s = ListPods(c);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot reach the Kubernetes API server"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("certificate"));
}

TEST_F(KubeClientTlsTest, InsecureSkipTlsVerifyAcceptsAnyServer) {
  KubeConfig c = Config();
  c.insecure_skip_tls_verify = true;
  c.client_certificate_pem = ReadFile(*dir_ / "client.crt");
  c.client_key_pem = ReadFile(*dir_ / "client.key");
  absl::Status s = ListPods(c);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(KubeClientTlsTest, NoClientCertificateIsRefusedByTheServer) {
  KubeConfig c = Config();
  c.certificate_authority_pem = ReadFile(*dir_ / "ca.crt");
  absl::Status s = ListPods(c);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

}  // namespace
}  // namespace hpt::runner::k8s
