#include "tests/trial_runner/k8s/fake_kubelet.h"

#include <chrono>
#include <utility>

namespace hpt::runner::k8s::testing {
namespace {

using json = nlohmann::json;

std::string Annotation(const json& job, const char* key, const std::string& fallback) {
  const json& meta = job["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return fallback;
  return meta["annotations"].value(key, fallback);
}

json PrimaryContainer(const json& job) {
  const json& containers = job["spec"]["template"]["spec"]["containers"];
  const std::string primary = Annotation(job, "hpt.dev/primary-container", "");
  for (const json& c : containers) {
    if (c.value("name", "") == primary) return c;
  }
  return containers.empty() ? json::object() : containers[0];
}

}  // namespace

FakeKubelet::FakeKubelet(FakeApiServer* server, Options options)
    : server_(server), options_(std::move(options)), thread_([this] { Loop(); }) {}

FakeKubelet::~FakeKubelet() {
  stop_ = true;
  thread_.join();
}

void FakeKubelet::Loop() {
  while (!stop_) {
    for (const json& job : server_->Jobs()) {
      if (!seen_.insert(job["metadata"].value("uid", "")).second) continue;
      ++jobs_seen_;
      Run(job);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void FakeKubelet::Run(const json& job) {
  const std::string ns = job["metadata"]["namespace"];
  const std::string name = job["metadata"]["name"];
  const std::string attempt = Annotation(job, "hpt.dev/attempt", "1");
  const std::string pod = name + "-a" + attempt;
  if (!server_->CreatePodForJob(ns, name, pod, "Running").ok()) return;
  const json container = PrimaryContainer(job);
  const std::string container_name = container.value("name", "");
  std::string script;
  const json command = container.value("command", json::array());
  if (command.size() >= 3 && command[0] == "sh" && command[1] == "-c" && command[2].is_string()) {
    script = command[2];
  }
  std::string out;
  if (script.rfind("echo ", 0) == 0) {
    out = script.substr(5);
    out = out.substr(0, out.find_first_of(";&|")) + "\n";
  }

  if (options_.preempt.count(name + " " + attempt) > 0 ||
      (script.find("preempt-once") != std::string::npos && attempt == "1")) {
    // What the preempted attempt printed must never count.
    server_->SetPodLog(ns, pod, "loss=0.0000001\n", container_name).IgnoreError();
    server_
        ->SetPodStatus(ns, pod,
                       {{"phase", "Failed"},
                        {"conditions",
                         {{{"type", "DisruptionTarget"},
                           {"status", "True"},
                           {"reason", "PreemptionByScheduler"},
                           {"message", "Preempted by a higher-priority pod"}}}}})
        .IgnoreError();
    server_
        ->SetJobStatus(
            ns, name,
            {{"failed", 1},
             {"conditions",
              {{{"type", "Failed"}, {"status", "True"}, {"reason", "BackoffLimitExceeded"}}}}})
        .IgnoreError();
    return;
  }
  server_->SetPodLog(ns, pod, out, container_name).IgnoreError();
  const bool fail = script.find("exit 1") != std::string::npos;
  const json terminated = {{"exitCode", fail ? 1 : 0}, {"reason", fail ? "Error" : "Completed"}};
  server_
      ->SetPodStatus(ns, pod,
                     {{"phase", fail ? "Failed" : "Succeeded"},
                      {"containerStatuses",
                       {{{"name", container_name}, {"state", {{"terminated", terminated}}}}}}})
      .IgnoreError();
  const json condition = fail ? json{{"type", "Failed"},
                                     {"status", "True"},
                                     {"reason", "BackoffLimitExceeded"},
                                     {"message", "Job has reached the specified backoff limit"}}
                              : json{{"type", "Complete"}, {"status", "True"}};
  server_
      ->SetJobStatus(ns, name,
                     {{fail ? "failed" : "succeeded", 1}, {"conditions", json::array({condition})}})
      .IgnoreError();
}

}  // namespace hpt::runner::k8s::testing
