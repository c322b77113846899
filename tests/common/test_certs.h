// Certificates for TLS tests, made for each run with the openssl command: a CA, a server
// certificate for 127.0.0.1 and localhost, a client certificate (mutual TLS) signed by that CA,
// and a second, unrelated CA to be refused.
//
//   absl::StatusOr<TestCerts> certs = MakeTestCerts(dir);
//   if (!certs.ok()) GTEST_SKIP() << certs.status();   // no openssl command here
//   ... certs->ca_crt, certs->server_crt, ...
#ifndef HPT_TESTS_COMMON_TEST_CERTS_H_
#define HPT_TESTS_COMMON_TEST_CERTS_H_

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace hpt::test_support {

struct TestCerts {
  std::filesystem::path ca_crt, ca_key;
  std::filesystem::path server_crt, server_key;  // CN and SAN 127.0.0.1, SAN DNS localhost
  std::filesystem::path client_crt, client_key;  // extendedKeyUsage clientAuth
  std::filesystem::path other_ca_crt;            // a CA that signed none of them
};

// Writes the files into `dir` (created when missing). FailedPrecondition when the openssl
// command is missing or fails.
absl::StatusOr<TestCerts> MakeTestCerts(const std::filesystem::path& dir);

// The whole text of `path` ("" when unreadable).
std::string ReadFile(const std::filesystem::path& path);

}  // namespace hpt::test_support

#endif  // HPT_TESTS_COMMON_TEST_CERTS_H_
