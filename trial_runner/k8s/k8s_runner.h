// K8sRunner: runs each trial as a batch/v1 Job on a Kubernetes cluster, through KubeClient (no
// kubectl). The engine hands it the rendered Job (TrialLaunch::manifest); the runner adds what
// belongs to this run and watches the Job and its pods until the trial ends.
//
//   absl::StatusOr<KubeConfig> config = LoadKubeConfig({.kubeconfig = flags.kubeconfig});
//   absl::StatusOr<std::unique_ptr<KubeClient>> client = KubeClient::Create(*config);
//   absl::StatusOr<std::unique_ptr<K8sRunner>> runner =
//       K8sRunner::Create(*std::move(client), {.default_namespace = config->namespace_});
//   (*runner)->Launch({.trial_name = "mnist-00001", .study_name = "mnist",
//                      .env = {{"HPT_ENDPOINT", "hptd.ml.svc:7070"}},
//                      .secret_env = {{"HPT_TRIAL_TOKEN", token}}, .manifest = job.dump()});
//   absl::StatusOr<RunStatus> st = (*runner)->Poll("mnist-00001");
//
// Launch (synchronous; the client's retries included):
//   1. The Job: the manifest's metadata.name (the trial's name: a DNS-1123 label of at most 63
//      characters) in TrialLaunch::namespace_ (else the runner's default). Labels hpt.dev/study
//      and hpt.dev/trial (LabelValue of the names) on the Job and its pod template when the
//      manifest lacks them; annotations hpt.dev/attempt and hpt.dev/primary-container; the
//      runner's JobSettings defaults where the Job has no value (ApplyJobSettings).
//   2. The primary container (TrialLaunch::primary_container, else the first) gets every
//      TrialLaunch::env entry as a literal env var (replacing one of the same name), and every
//      secret_env entry as valueFrom.secretKeyRef of the trial's Secret "<job>-hpt-token-<attempt>"
//      (type Opaque, labelled like the Job), so the token never appears in the Job spec.
//   3. The Secret is created first (409: updated with a merge patch), then the Job; then the
//      Secret gets an ownerReference to the Job, so the cluster deletes it with the Job.
//   4. Create answers: 201 -> the trial is Pending "Created". 409 AlreadyExists -> the existing
//      Job is adopted when it is this trial's (label hpt.dev/trial and the attempt annotation
//      match: a create whose answer was lost, or an engine restart), never duplicated; a Job of
//      an earlier attempt that has finished is deleted and the create repeated (a retry); any
//      other Job of that name fails the Launch with AlreadyExists. 422 Invalid -> the trial ends
//      Failed with reason "Invalid" and the API server's message (Launch returns OK); the Secret
//      is deleted. Other errors (after the client's retries) are returned.
// Launch returns InvalidArgument for a manifest that is not a batch/v1 Job with a valid name
// and a pod template with containers, or an unknown primary container.
//
// Status (from an informer-like cache per namespace: list, then watch with resourceVersion and
// bookmarks; a 410 or a broken stream re-lists; a full re-list every resync_period):
//   Pending   "Created"            no pod yet
//   Pending   "Suspended"          the Job is suspended (e.g. waiting for Kueue to admit it)
//   Pending   "Unschedulable" / "ImagePullBackOff" / "CreateContainerConfigError" / ...
//                                  the newest pod's scheduling or container waiting reason
//   Pending   "PodPending"         a pod exists and waits for nothing named
//   Running   "Running"            "pod P on node N"
//   Succeeded "Completed"          Job condition Complete=True
//   Failed    <condition reason>   Job condition Failed=True: "BackoffLimitExceeded",
//                                  "DeadlineExceeded", "PodFailurePolicy", ...; the message adds
//                                  the primary container's exit code and reason (exit_code set)
//   Preempted <disruption reason>  Job failed and its newest pod has condition DisruptionTarget=
//                                  True ("PreemptionByScheduler", "EvictionByEvictionAPI",
//                                  "TerminationByKubelet", "DeletionByTaintManager", ...)
//   Failed    "Cancelled"          Cancel() deleted the Job
//   Failed    "JobDeleted"         the Job disappeared without Cancel()
//   Failed    "Invalid"            the API server refused the Job (422)
// When a trial ends (Succeeded, Failed or Preempted with a pod), the primary container's log
// (its last log_tail_lines lines) is copied to TrialLaunch::log_path (for the StdOut metrics
// collector) and the trial's Secret is deleted; only then does Poll show the final phase.
//
// Restarts: Jobs outlive the runner. Adopt(study) lists the study's Jobs (label hpt.dev/study)
// in adopt_namespaces and reattaches to them (Poll/Cancel work on them; their log_path is "").
// A Launch of an adopted trial with its attempt then only attaches the launch's log_path (and
// primary container): the Job is never created twice. For an unfinished trial that Adopt did not
// return (its Job was deleted while no engine ran, or the engine died between the trial's record
// and its Job's create), Reclaim(launch) checks the cluster: no Job of that name in the trial's
// namespace, and no pod of the trial (label hpt.dev/trial, or job-name=<job>) that has not ended.
// Then it deletes the trial's leftover token Secrets and the engine may run the trial again as
// its next attempt (new Secret, new Job); otherwise nothing is touched and the trial is not run
// again. Ended pods are left alone: a new attempt's status only counts pods its own Job owns.
//
// Thread-safety: thread-safe. Each namespace in use has two watch threads (Jobs, Pods); one
// worker thread finishes ended trials. Poll never calls the API server.
#ifndef HPT_TRIAL_RUNNER_K8S_K8S_RUNNER_H_
#define HPT_TRIAL_RUNNER_K8S_K8S_RUNNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "trial_runner/k8s/job_settings.h"
#include "trial_runner/k8s/kube_client.h"
#include "trial_runner/trial_runner.h"

namespace hpt::runner::k8s {

struct K8sRunnerOptions {
  std::string default_namespace = "default";  // for launches that name none
  JobSettings job_defaults;                   // hpt's configuration; the Job's own values win
  std::vector<std::string> adopt_namespaces;  // where Adopt() looks; empty = default_namespace
  int watch_timeout_seconds = 300;            // per watch request (the server ends it)
  absl::Duration resync_period = absl::Minutes(10);   // full re-list even when watches are fine
  absl::Duration rewatch_backoff = absl::Seconds(1);  // first delay after a failed watch/list
  absl::Duration deletion_wait = absl::Seconds(60);   // a retry waits this long for the old Job
  int64_t log_tail_lines = 1000000;                   // of an ended trial's log
};

// InvalidArgument, naming the member, for an invalid namespace (DNS-1123 label), invalid
// job_defaults, watch_timeout_seconds < 1, non-positive durations or log_tail_lines < 1.
absl::Status ValidateK8sRunnerOptions(const K8sRunnerOptions& options);

// The trial's status from its Job and the Job's pods (any order), by the table in the file
// comment; `primary_container` "" = the first container. Exposed for tests.
RunStatus DeriveRunStatus(const nlohmann::json& job, const std::vector<nlohmann::json>& pods,
                          const std::string& primary_container);

class K8sRunner final : public TrialRunner {
 public:
  static absl::StatusOr<std::unique_ptr<K8sRunner>> Create(std::unique_ptr<KubeClient> client,
                                                           K8sRunnerOptions options);
  // Stops the watch and worker threads. Jobs keep running in the cluster (Adopt finds them).
  ~K8sRunner() override;

  K8sRunner(const K8sRunner&) = delete;
  K8sRunner& operator=(const K8sRunner&) = delete;

  absl::Status Launch(const TrialLaunch& launch) override;
  absl::StatusOr<RunStatus> Poll(const std::string& trial_name) override;
  // Deletes the Job (propagationPolicy Background: its pods get their termination grace period)
  // and the Secret; the trial is then Failed "Cancelled". OK when already ended; NotFound for an
  // unknown trial; the API server's error when the Job could not be deleted.
  absl::Status Cancel(const std::string& trial_name) override;
  // The study's Jobs (label hpt.dev/study=LabelValue(study_name)) in adopt_namespaces, known to
  // the runner from now on, ordered by trial name. Errors: the API server's, as returned by List.
  absl::StatusOr<std::vector<RunStatus>> Adopt(const std::string& study_name) override;
  // After a restart, for a trial Adopt() did not return: makes sure nothing of it runs in the
  // cluster any more (TrialRunner::Reclaim). Looks in launch.namespace_ (else the default
  // namespace) for the Job launch.manifest names (else one named launch.trial_name) and for the
  // trial's pods; deletes nothing but the trial's token Secrets ("<job>-hpt-token-<attempt>",
  // labelled hpt.dev/trial), and only when it returns OK. OK: no Job and no pod that has not
  // ended (Succeeded/Failed); Reclaimed::attempt is the highest attempt found in a Secret's name
  // or an ended pod's token reference (0: none). FailedPrecondition, naming what was found: the
  // Job exists (not adopted: its labels were changed, or its namespace is not one Adopt looks
  // in; delete it to let hpt run the trial again), a pod of the trial is still Pending, Running
  // or Unknown (e.g. being terminated), or this runner still follows the trial. InvalidArgument:
  // an invalid namespace or Job name. The API server's error (other than 404) from a Get, List or
  // Delete: Unavailable etc. (Secrets deleted before it stay deleted; calling again is safe).
  // Unimplemented, asking nothing of the API server, for a launch with neither a manifest nor a
  // namespace (the engine's names-only call for finished trials): where it ran is unknown.
  absl::StatusOr<Reclaimed> Reclaim(const TrialLaunch& launch) override;
  // Deletes the study's Jobs (propagationPolicy Background: their pods go with them) and token
  // Secrets, found by label in adopt_namespaces and in the namespaces of its trials this runner
  // knows, and forgets its trials. Errors: the API server's, from List or Delete (objects deleted
  // before the error stay deleted; calling again finishes the job).
  absl::Status Purge(const std::string& study_name) override;

 private:
  class Impl;
  explicit K8sRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hpt::runner::k8s

#endif  // HPT_TRIAL_RUNNER_K8S_K8S_RUNNER_H_
