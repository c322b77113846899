// TrialRunner: how a trial's workload runs (a local process group, later a Kubernetes Job).
//
//   std::unique_ptr<TrialRunner> runner = std::make_unique<LocalRunner>(LocalRunnerOptions{});
//   runner->Launch({.trial_name = "quickstart-00001", .argv = {"python3", "train.py"}, ...});
//   absl::StatusOr<RunStatus> st = runner->Poll("quickstart-00001");
//
// The engine holds a TrialRunner& and sees only RunStatus; runner specifics stay in the runner.
// Thread-safety: implementations are thread-safe.
#ifndef HPT_TRIAL_RUNNER_TRIAL_RUNNER_H_
#define HPT_TRIAL_RUNNER_TRIAL_RUNNER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hpt::runner {

enum class RunPhase { kPending, kRunning, kSucceeded, kFailed, kPreempted };
// "Pending", "Running", "Succeeded", "Failed", "Preempted".
const char* RunPhaseName(RunPhase p);

struct RunStatus {
  std::string trial_name;
  RunPhase phase = RunPhase::kPending;
  // Machine-readable cause: "Completed", "Error", "DeadlineExceeded", "Cancelled", "Signal",
  // "LaunchFailed", "WaitingForGPU", ...
  std::string reason;
  std::string message;  // for humans, e.g. "exit status 1" or "killed by SIGKILL"
  std::optional<int> exit_code;
  // Where stdout/stderr went: the local runner's log file; the Kubernetes runner copies the
  // primary container's log there when the trial ends.
  std::string log_path;
  int attempt = 1;  // the TrialLaunch::attempt this status belongs to
};

struct TrialLaunch {
  std::string trial_name;  // unique; the key of Poll/Cancel
  std::string study_name;
  std::vector<std::string> argv;           // command + args; argv[0] looked up in PATH
  std::map<std::string, std::string> env;  // added to (and overriding) the runner's environment
  std::string working_dir;                 // created if missing; empty: the runner's choice
  std::string log_path;                    // stdout+stderr; empty: <working_dir>/trial.log
  int gpus = 0;                            // nvidia.com/gpu limit
  std::optional<double> deadline_seconds;  // activeDeadlineSeconds: killed after this long
  // Environment values that must not be written into a spec, such as the trial's token. The
  // local runner adds them to `env`; the Kubernetes runner keeps them in a per-trial Secret that
  // the primary container reads through secretKeyRef.
  std::map<std::string, std::string> secret_env;
  // 1 for a trial's first run; a retry (after Preempted) launches the same trial_name again with
  // a higher attempt.
  int attempt = 1;

  // For runners that run a rendered workload (Kubernetes): the object as JSON text, its
  // namespace ("" = the runner's default) and the name of the container running the training
  // code ("" = the first container of the pod template). The local runner ignores them.
  std::string manifest;
  std::string namespace_;
  std::string primary_container;
};

// What TrialRunner::Reclaim found of a trial's workload left behind by an earlier instance of
// the runner (an engine that crashed or was restarted).
struct Reclaimed {
  // The attempt the earlier workload was running, when the runner knows it; 0 when it does not
  // (e.g. no trace of the trial was found).
  int attempt = 0;
  // For humans, e.g. "process group 4242 (attempt 2) was still running; stopped it with
  // SIGTERM" or "no process left: pid 4242 (attempt 1) has exited".
  std::string message;
};

class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  // Starts (or queues, e.g. waiting for GPUs) a trial. AlreadyExists when the name is known,
  // unless the known trial has finished and `launch.attempt` is higher than its attempt: that
  // is a retry, which replaces it. InvalidArgument for a launch the runner cannot run (e.g. an
  // empty argv). A workload that cannot be started is not an error here: the trial ends Failed
  // with reason "LaunchFailed" (or the API server's reason).
  virtual absl::Status Launch(const TrialLaunch& launch) = 0;
  // Current status. NotFound for an unknown trial. Preempted (the workload was evicted or
  // preempted by the cluster) is final for that attempt; the engine may Launch a retry.
  virtual absl::StatusOr<RunStatus> Poll(const std::string& trial_name) = 0;
  // Stops a trial: SIGTERM to its process group, SIGKILL after the grace period. The trial then
  // ends Failed with reason "Cancelled" (queued trials end at once). OK when already finished.
  virtual absl::Status Cancel(const std::string& trial_name) = 0;
  // After an engine restart, the trials of `study_name` that still exist in the runner.
  virtual absl::StatusOr<std::vector<RunStatus>> Adopt(const std::string& study_name) = 0;
  // After an engine restart, for an unfinished trial that Adopt() did not return: makes sure that
  // nothing of the trial's workload from an earlier instance of the runner still runs (the local
  // runner stops a process group orphaned by an engine that died, found through the record it
  // keeps beside the trial's log), so that the engine may launch the trial again. `launch` is the
  // trial's launch as the engine would make it now (trial_name, log_path and working_dir locate
  // the traces). May block while the workload stops (the local runner: a few seconds at most).
  // OK: nothing of the trial runs any more. Unimplemented (this default): the runner cannot tell,
  // so the trial must not be run again. FailedPrecondition: something of the trial may still run
  // and could not be stopped or identified (the message says what); the trial must not be run
  // again either. Thread-safe like the other methods.
  virtual absl::StatusOr<Reclaimed> Reclaim(const TrialLaunch& launch);
  // The study `study_name` is being deleted: removes what the runner still keeps of its trials
  // outside the engine (Kubernetes: the study's Jobs, their pods and token Secrets, so that a new
  // study of the same name never finds them) and forgets them. Running trials should have been
  // cancelled first. OK when there is nothing to remove (this default: the local runner keeps
  // nothing once a process has ended); otherwise the runner's error, and the caller should not
  // delete the study's records.
  virtual absl::Status Purge(const std::string& study_name);
};

}  // namespace hpt::runner

#endif  // HPT_TRIAL_RUNNER_TRIAL_RUNNER_H_
