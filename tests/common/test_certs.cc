#include "tests/common/test_certs.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace hpt::test_support {

absl::StatusOr<TestCerts> MakeTestCerts(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::ofstream(dir / "client.ext") << "extendedKeyUsage=clientAuth\n";
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  auto ca = [&](const std::string& name) {
    return absl::StrCat("openssl req -x509 ", key, " -keyout ", name, ".key -out ", name,
                        ".crt -days 2 -subj /CN=hpt-test-", name, " && ");
  };
  auto signed_by_ca = [&](const std::string& name, const std::string& cn) {
    return absl::StrCat("openssl req ", key, " -keyout ", name, ".key -out ", name,
                        ".csr -subj /CN=", cn, " && openssl x509 -req -in ", name,
                        ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ", name,
                        ".ext -out ", name, ".crt");
  };
  const std::string script =
      absl::StrCat("cd '", dir.string(), "' && ", ca("ca"), ca("other-ca"),
                   signed_by_ca("server", "127.0.0.1"), " && ", signed_by_ca("client", "hpt-client"),
                   " >/dev/null 2>&1");
  if (std::system(script.c_str()) != 0) {
    return absl::FailedPreconditionError(
        "the openssl command could not make test certificates (is openssl installed?)");
  }
  return TestCerts{.ca_crt = dir / "ca.crt",
                   .ca_key = dir / "ca.key",
                   .server_crt = dir / "server.crt",
                   .server_key = dir / "server.key",
                   .client_crt = dir / "client.crt",
                   .client_key = dir / "client.key",
                   .other_ca_crt = dir / "other-ca.crt"};
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace hpt::test_support
