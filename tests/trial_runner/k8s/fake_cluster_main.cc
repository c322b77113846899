// hpt_fake_cluster: the fake API server (fake_apiserver.h) plus a pretend kubelet, as a process,
// for end-to-end tests of `hpt run --runner kubernetes`.
//
//   hpt_fake_cluster KUBECONFIG_OUT [NAMESPACE]
//
// Writes a kubeconfig for the server (namespace NAMESPACE, default "default") to KUBECONFIG_OUT,
// prints "ready <base url>" and serves until its standard input closes. A FakeKubelet
// (fake_kubelet.h) runs every Job created: `sh -c "echo TEXT"` prints TEXT, "exit 1" fails,
// "preempt-once" preempts the first attempt.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>

#include "tests/trial_runner/k8s/fake_apiserver.h"
#include "tests/trial_runner/k8s/fake_kubelet.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: hpt_fake_cluster KUBECONFIG_OUT [NAMESPACE]\n";
    return 2;
  }
  using hpt::runner::k8s::testing::FakeApiServer;
  using hpt::runner::k8s::testing::FakeKubelet;
  const std::string ns = argc == 3 ? argv[2] : "default";
  absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start();
  if (!server.ok()) {
    std::cerr << "hpt_fake_cluster: " << server.status() << "\n";
    return 1;
  }
  {
    std::ofstream out(argv[1]);
    out << "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        << "clusters:\n- name: fake\n  cluster:\n    server: " << (*server)->base_url() << "\n"
        << "users:\n- name: fake\n  user:\n    token: fake-token\n"
        << "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
        << "    namespace: " << ns << "\n";
    if (!out) {
      std::cerr << "hpt_fake_cluster: cannot write " << argv[1] << "\n";
      return 1;
    }
  }
  std::cout << "ready " << (*server)->base_url() << std::endl;

  FakeKubelet kubelet(server->get(), {});
  // Serve until standard input closes (the test that started this process ended).
  char buf[256];
  while (::read(0, buf, sizeof(buf)) > 0) {
  }
  return 0;
}
