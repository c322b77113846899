// TLS on hptd's two gRPC servers: the metrics service (trials) and the StudyService's TCP port
// (admins), with real certificates made by the openssl command (skipped without it).
#include "engine/tls.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "client/cpp/hpt_client.h"
#include "engine/metrics_service.h"
#include "engine/study_manager.h"
#include "engine/study_service.h"
#include "engine/token.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hpt/v1/metrics.grpc.pb.h"
#include "hpt/v1/study.grpc.pb.h"
#include "tests/common/test_certs.h"
#include "tracker/trial_store.h"
#include "trial_runner/local/local_runner.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kToken[] = "an-admin-token-of-32-characters!";

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) / ("tls_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    absl::StatusOr<test_support::TestCerts> certs = test_support::MakeTestCerts(*dir_ / "certs");
    if (certs.ok()) certs_ = new test_support::TestCerts(*std::move(certs));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete certs_;
  }

  void SetUp() override {
    if (certs_ == nullptr) GTEST_SKIP() << "the openssl command could not make certificates";
    auto store = tracker::TrialStore::Open({}, (*dir_ / (TestName() + ".db")).string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  static std::string TestName() {
    return ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  ServerTls Server(bool mutual) const {
    return {.cert_file = certs_->server_crt.string(),
            .key_file = certs_->server_key.string(),
            .client_ca_file = mutual ? certs_->ca_crt.string() : ""};
  }

  // A MetricsServer with `tls`, and a trial that may report to it; returns the port.
  int StartMetrics(const ServerTls& tls) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = MakeServerCredentials(tls);
    EXPECT_TRUE(creds.ok()) << creds.status();
    auto study = store_->CreateStudy(
        {.name = "s", .spec_yaml = "x", .algorithm = "random", .objective_metric = "loss"});
    EXPECT_TRUE(study.ok()) << study.status();
    token_ = NewTrialToken();
    auto trial = store_->CreateTrial(
        {.study_id = study->id, .name = "s-00001", .token_hash = HashToken(token_)});
    EXPECT_TRUE(trial.ok()) << trial.status();
    metrics_ = std::make_unique<MetricsServer>(store_.get(),
                                               MetricsServerOptions{.credentials = *creds});
    absl::StatusOr<int> port = metrics_->Start("127.0.0.1:0");
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }

  // One report over a channel with `client`; the call's status.
  grpc::Status Report(int port, const ClientTls& client, const std::string& host = "127.0.0.1") {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
        MakeChannelCredentials(client);
    EXPECT_TRUE(creds.ok()) << creds.status();
    auto stub = hpt::v1::MetricsService::NewStub(grpc::CreateCustomChannel(
        host + ":" + std::to_string(port), *creds, ChannelArgumentsFor(client)));
    hpt::v1::ReportRequest req;
    req.set_trial_id("s-00001");
    req.set_token(token_);
    req.set_seq(++seq_);
    auto* p = req.add_points();
    p->set_name("loss");
    p->set_value(0.5);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    hpt::v1::ReportResponse resp;
    return stub->Report(&ctx, req, &resp);
  }

  static fs::path* dir_;
  static test_support::TestCerts* certs_;
  std::unique_ptr<tracker::TrialStore> store_;
  std::unique_ptr<MetricsServer> metrics_;
  std::string token_;
  uint64_t seq_ = 0;
};

fs::path* TlsTest::dir_ = nullptr;
test_support::TestCerts* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, MetricsOverTlsVerifiedByTheCa) {
  const int port = StartMetrics(Server(/*mutual=*/false));
  grpc::Status s = Report(port, {.enabled = true, .ca_file = certs_->ca_crt.string()});
  EXPECT_TRUE(s.ok()) << s.error_message();
  // The name in the certificate is checked: "localhost" is in it too.
  s = Report(port, {.enabled = true, .ca_file = certs_->ca_crt.string()}, "localhost");
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(store_->Summaries(store_->FindTrial("s-00001")->id)->at(0).count, 2);

  // A server the client's CA did not sign, or a plaintext client: no call gets through.
  s = Report(port, {.enabled = true, .ca_file = certs_->other_ca_crt.string()});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  s = Report(port, {.enabled = false});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // A name the certificate does not hold.
  s = Report(port, {.enabled = true, .ca_file = certs_->ca_crt.string(),
                    .server_name = "hptd.example.com"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(store_->Summaries(store_->FindTrial("s-00001")->id)->at(0).count, 2);
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  const int port = StartMetrics(Server(/*mutual=*/true));
  grpc::Status s = Report(port, {.enabled = true, .ca_file = certs_->ca_crt.string()});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  s = Report(port, {.enabled = true,
                    .ca_file = certs_->ca_crt.string(),
                    .cert_file = certs_->client_crt.string(),
                    .key_file = certs_->client_key.string()});
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// Training code's C++ client (client/cpp) over TLS, configured as a trial's environment would.
TEST_F(TlsTest, CppClientReportsOverMutualTls) {
  const int port = StartMetrics(Server(/*mutual=*/true));
  client::ReporterOptions o{.endpoint = "127.0.0.1:" + std::to_string(port),
                            .trial_id = "s-00001",
                            .token = token_,
                            .tls_ca_pem = test_support::ReadFile(certs_->ca_crt),
                            .tls_cert_pem = test_support::ReadFile(certs_->client_crt),
                            .tls_key_pem = test_support::ReadFile(certs_->client_key)};
  o.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<client::Reporter>> reporter = client::Reporter::Create(o);
  ASSERT_TRUE(reporter.ok()) << reporter.status();
  absl::Status s = (*reporter)->Report({{"loss", 0.25}}, 1);
  EXPECT_TRUE(s.ok()) << s;

  o.tls_cert_pem.clear();
  EXPECT_EQ(client::Reporter::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.tls_key_pem.clear();  // TLS without a client certificate: the server refuses the handshake
  reporter = client::Reporter::Create(o);
  ASSERT_TRUE(reporter.ok()) << reporter.status();
  EXPECT_EQ((*reporter)->Report({{"loss", 0.5}}, 2).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->Summaries(store_->FindTrial("s-00001")->id)->at(0).count, 1);
}

TEST_F(TlsTest, StudyServiceOverMutualTlsStillNeedsTheAdminToken) {
  runner::LocalRunner runner(runner::LocalRunnerOptions{});
  StudyManager manager(store_.get(), &runner, {.runs_dir = (*dir_ / "runs").string()});
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      MakeServerCredentials(Server(/*mutual=*/true));
  ASSERT_TRUE(creds.ok()) << creds.status();
  AdminServer admin(&manager, store_.get(),
                    {.tcp_address = "127.0.0.1:0", .admin_token = kToken,
                     .tcp_credentials = *creds});
  absl::StatusOr<int> port = admin.Start();
  ASSERT_TRUE(port.ok()) << port.status();

  auto list = [&](const ClientTls& client, const std::string& token) {
    auto stub = hpt::v1::StudyService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(*port), *MakeChannelCredentials(client),
        ChannelArgumentsFor(client)));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    hpt::v1::ListStudiesResponse resp;
    return stub->List(&ctx, {}, &resp);
  };
  const ClientTls mutual{.enabled = true,
                         .ca_file = certs_->ca_crt.string(),
                         .cert_file = certs_->client_crt.string(),
                         .key_file = certs_->client_key.string()};
  EXPECT_TRUE(list(mutual, kToken).ok());
  EXPECT_EQ(list(mutual, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(list({.enabled = true, .ca_file = certs_->ca_crt.string()}, kToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(list({.enabled = false}, kToken).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, BadFilesAreClearErrors) {
  const fs::path not_pem = *dir_ / "not.pem";
  std::ofstream(not_pem) << "hello\n";
  const fs::path empty = *dir_ / "empty.pem";
  std::ofstream(empty).flush();
  const std::string crt = certs_->server_crt.string(), key = certs_->server_key.string();

  struct Case {
    ServerTls tls;
    std::string message;
  };
  const Case cases[] = {
      {{.cert_file = crt}, "needs the server's private key (--tls-key)"},
      {{.key_file = key}, "needs the server's certificate (--tls-cert)"},
      {{.client_ca_file = crt}, "needs the server's certificate (--tls-cert)"},
      {{.cert_file = "/no/such.crt", .key_file = key},
       "TLS certificate \"/no/such.crt\": cannot read it (No such file or directory)"},
      {{.cert_file = not_pem.string(), .key_file = key},
       "is not a PEM file with a CERTIFICATE"},
      {{.cert_file = crt, .key_file = crt}, "TLS private key \"" + crt +
                                                "\" is not a PEM file with a PRIVATE KEY"},
      {{.cert_file = crt, .key_file = key, .client_ca_file = empty.string()},
       "TLS client CA \"" + empty.string() + "\" is empty"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = MakeServerCredentials(c.tls);
    ASSERT_FALSE(creds.ok()) << c.message;
    EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(creds.status().message()), HasSubstr(c.message));
  }
  EXPECT_TRUE(MakeServerCredentials({}).ok());  // no files: plaintext

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> client =
      MakeChannelCredentials({.enabled = true, .cert_file = certs_->client_crt.string()});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("--tls-cert and --tls-key"));
  client = MakeChannelCredentials({.enabled = true, .ca_file = not_pem.string()});
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("is not a PEM file"));
  EXPECT_TRUE(MakeChannelCredentials({.enabled = true}).ok());  // the system's roots
}

}  // namespace
}  // namespace hpt::engine
