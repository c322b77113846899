// hpt_fake_cluster: the fake API server (fake_apiserver.h) plus a pretend kubelet, as a process,
// for end-to-end tests of `hpt run --runner kubernetes`.
//
//   hpt_fake_cluster KUBECONFIG_OUT [NAMESPACE]
//
// Writes a kubeconfig for the server (namespace NAMESPACE, default "default") to KUBECONFIG_OUT,
// prints "ready <base url>" and serves until its standard input closes. Every Job created gets
// one pod; a primary container whose command is `sh -c "echo TEXT"` "prints" TEXT (the pod's log),
// and the Job completes. A Job whose script contains "exit 1" fails (BackoffLimitExceeded); one
// containing "preempt-once" has its first attempt preempted (DisruptionTarget).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include "tests/trial_runner/k8s/fake_apiserver.h"

namespace {

using hpt::runner::k8s::testing::FakeApiServer;
using json = nlohmann::json;

// The primary container (hpt.dev/primary-container, else the first) of a Job's pod template.
json PrimaryContainer(const json& job) {
  const json& containers = job["spec"]["template"]["spec"]["containers"];
  const std::string primary =
      job["metadata"].value("annotations", json::object()).value("hpt.dev/primary-container", "");
  for (const json& c : containers) {
    if (c.value("name", "") == primary) return c;
  }
  return containers.empty() ? json::object() : containers[0];
}

void RunJob(FakeApiServer* server, const json& job) {
  const std::string ns = job["metadata"]["namespace"];
  const std::string name = job["metadata"]["name"];
  const std::string attempt =
      job["metadata"].value("annotations", json::object()).value("hpt.dev/attempt", "1");
  const std::string pod = name + "-a" + attempt;
  if (!server->CreatePodForJob(ns, name, pod, "Running").ok()) return;
  const json container = PrimaryContainer(job);
  std::string script;
  const json& command = container.value("command", json::array());
  if (command.size() >= 3 && command[0] == "sh" && command[1] == "-c") script = command[2];
  std::string out;
  if (script.rfind("echo ", 0) == 0) {
    out = script.substr(5);
    const size_t end = out.find_first_of(";&|");
    if (end != std::string::npos) out = out.substr(0, end);
    out += "\n";
  }
  if (script.find("preempt-once") != std::string::npos && attempt == "1") {
    server
        ->SetPodStatus(ns, pod,
                       {{"phase", "Failed"},
                        {"conditions",
                         {{{"type", "DisruptionTarget"},
                           {"status", "True"},
                           {"reason", "PreemptionByScheduler"},
                           {"message", "Preempted by a higher-priority pod"}}}}})
        .IgnoreError();
    server
        ->SetJobStatus(
            ns, name,
            {{"failed", 1},
             {"conditions",
              {{{"type", "Failed"}, {"status", "True"}, {"reason", "BackoffLimitExceeded"}}}}})
        .IgnoreError();
    return;
  }
  server->SetPodLog(ns, pod, out, container.value("name", "")).IgnoreError();
  const bool fail = script.find("exit 1") != std::string::npos;
  json terminated = {{"exitCode", fail ? 1 : 0}, {"reason", fail ? "Error" : "Completed"}};
  server
      ->SetPodStatus(
          ns, pod,
          {{"phase", fail ? "Failed" : "Succeeded"},
           {"containerStatuses",
            {{{"name", container.value("name", "")}, {"state", {{"terminated", terminated}}}}}}})
      .IgnoreError();
  json condition = fail ? json{{"type", "Failed"},
                               {"status", "True"},
                               {"reason", "BackoffLimitExceeded"},
                               {"message", "Job has reached the specified backoff limit"}}
                        : json{{"type", "Complete"}, {"status", "True"}};
  server
      ->SetJobStatus(ns, name,
                     {{fail ? "failed" : "succeeded", 1}, {"conditions", json::array({condition})}})
      .IgnoreError();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: hpt_fake_cluster KUBECONFIG_OUT [NAMESPACE]\n";
    return 2;
  }
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

  std::atomic<bool> stop{false};
  std::thread stdin_watch([&] {
    char buf[256];
    while (::read(0, buf, sizeof(buf)) > 0) {
    }
    stop = true;
  });
  std::set<std::string> seen;
  while (!stop) {
    for (const json& job : (*server)->Jobs()) {
      if (seen.insert(job["metadata"].value("uid", "")).second) RunJob(server->get(), job);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stdin_watch.join();
  return 0;
}
