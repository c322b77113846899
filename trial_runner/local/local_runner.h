// LocalRunner: runs each trial as a local process group on this machine, with optional GPU slots.
//
//   LocalRunnerOptions options;
//   options.gpus = std::vector<int>{0, 1};  // hand out GPUs 0 and 1 (CUDA_VISIBLE_DEVICES)
//   absl::StatusOr<std::unique_ptr<LocalRunner>> runner = LocalRunner::Create(options);
//   if (!runner.ok()) return runner.status();
//   absl::Status s = (*runner)->Launch({.trial_name = "quickstart-00001",
//                                       .study_name = "quickstart",
//                                       .argv = {"python3", "train.py", "--lr=0.01"},
//                                       .working_dir = "/tmp/hpt/quickstart-00001",
//                                       .gpus = 1,
//                                       .deadline_seconds = 3600});
//   absl::StatusOr<RunStatus> st = (*runner)->Poll("quickstart-00001");
//
// How a trial runs:
// - argv[0] is looked up in the PATH of the trial's environment unless it contains a '/'
//   (a relative path is then taken from the working directory). The process gets its own process
//   group (the group id is its pid), stdin from /dev/null, stdout and stderr appended to the log
//   file, and no other file descriptor of the runner's process. Signal dispositions and the signal
//   mask are reset to the defaults.
// - Environment: the runner's process environment as it was when the runner was constructed, then
//   TrialLaunch::env on top. When GPUs are managed, CUDA_VISIBLE_DEVICES is then set to the
//   trial's GPU ids ("0,1"; the empty string for a trial asking for none, which hides every GPU),
//   overriding any value from TrialLaunch::env.
// - working_dir is created (like mkdir -p); empty means the runner's current directory. log_path
//   (parent directories created) defaults to <working_dir>/trial.log. Relative paths are resolved
//   against the runner's current directory at Launch; RunStatus::log_path is absolute.
// - deadline_seconds counts from the moment the process starts (time queued for GPUs does not
//   count), like a Job's activeDeadlineSeconds.
// - When the trial's main process exits, every process left in its process group is killed with
//   SIGKILL, so nothing lingers (a process that leaves the group with setsid() escapes this). When
//   the main process itself has left its group (the group is gone), signals go to it alone.
// - Process record: while the process runs, the runner keeps a small text file beside the log,
//   `<log_path>.hpt-process` (ProcessRecordPath), naming the trial, the attempt, the pid and
//   process group, the process's start time (/proc/<pid>/stat field 22) and the boot id. It is
//   written right after fork (before exec) and removed when the runner reaps the process (or when
//   Reclaim finds nothing of the trial left). An engine that dies with kill -9 leaves its trials'
//   processes running on their own; the record is how the next runner instance finds them
//   (Reclaim). When it cannot be written, the trial still runs and its Running message says so.
//
// Statuses (RunStatus::phase / reason / message):
//   Pending   "WaitingForGPU"    queued until enough GPUs are free (FIFO)
//   Pending   "Starting"         briefly, while Launch() starts the process
//   Running   "Running"          "pid N" ("pid N; no process record, so an engine restart cannot
//                                find it (...)" when the record could not be written)
//   Running   "Terminating"      after Cancel or the deadline, until the process has exited
//   Succeeded "Completed"        "exit status 0"
//   Failed    "Error"            "exit status N" (exit_code = N)
//   Failed    "Signal"           "killed by signal 9 (Killed)" (a signal this runner did not send)
//   Failed    "DeadlineExceeded" "exceeded activeDeadlineSeconds=N"
//   Failed    "Cancelled"        "cancelled; killed by signal 15 (Terminated)", "cancelled; killed
//                                by SIGKILL after the 10s grace period", "cancelled while waiting
//                                for GPUs", or "runner shut down; ..."
//   Failed    "Unschedulable"    the trial asks for more GPUs than the runner manages
//   Failed    "LaunchFailed"     "cannot execute 'foo': No such file or directory", "cannot create
//                                working directory '/x': Permission denied", ...
//   Failed    "Lost"             the process vanished without this runner seeing its end: "process
//                                N vanished: its exit status was collected by someone else (is
//                                SIGCHLD ignored in this process?)", or "process N vanished: its
//                                pid now belongs to another process" (the heartbeat below)
// exit_code is set whenever the process exited normally (not when a signal killed it).
//
// Heartbeat: every poll_interval_ms the monitor asks the kernel about each running trial's main
// process (waitid without reaping). A process that is gone without this runner having collected
// its status ends the trial at once ("Lost"). About once a second it also compares the process's
// start time with the one recorded at launch, so that a pid reused for another child of this
// process (possible only once someone else reaped ours) is never mistaken for the trial.
//
// Restarts: Adopt() only knows the trials launched through this instance (a later instance never
// follows earlier processes again). A runner that is destroyed stops its processes; an engine
// killed with SIGKILL leaves them running, orphaned. After a restart the engine calls Reclaim()
// for each unfinished trial: through the process record it stops (SIGTERM, SIGKILL after the
// shutdown grace) what is left of the trial's process group, but only when the recorded process
// is provably the same one (same boot, same pid, same start time; or, once the leader is gone,
// live members of its group, whose id the kernel cannot hand out again while they exist), and
// then the engine may launch the trial again.
//
// Thread-safety: thread-safe. One monitor thread per runner reaps processes every
// poll_interval_ms, enforces deadlines and grace periods and starts queued trials. The runner must
// be the only one waiting for its children: do not set SIGCHLD to SIG_IGN nor call
// waitpid(-1, ...) elsewhere in the process.
#ifndef HPT_TRIAL_RUNNER_LOCAL_LOCAL_RUNNER_H_
#define HPT_TRIAL_RUNNER_LOCAL_LOCAL_RUNNER_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "trial_runner/trial_runner.h"

namespace hpt::runner {

struct LocalRunnerOptions {
  // nullopt: GPUs are not managed; CUDA_VISIBLE_DEVICES is left as the environment has it and
  // TrialLaunch::gpus is ignored. A list: the GPU ids (distinct, >= 0) handed out to trials, lowest
  // ids first; a trial waits (FIFO) until enough of them are free (trials asking for none never
  // wait). An empty list manages zero GPUs:
  // every trial sees none and a trial asking for one is Unschedulable.
  std::optional<std::vector<int>> gpus;
  // Seconds between SIGTERM and SIGKILL when a trial is cancelled or exceeds its deadline. A
  // longer grace lets training code save a checkpoint; it also delays the slot's release.
  double grace_period_seconds = 10;
  // Grace between SIGTERM and SIGKILL when the runner is destroyed with trials still running
  // (the smaller of this and grace_period_seconds); it bounds how long the destructor blocks.
  double shutdown_grace_seconds = 2;
  // How often the monitor thread checks its processes (reaping, deadlines, queued trials). Lower
  // values notice exits sooner and cost a few system calls per running trial per interval.
  int poll_interval_ms = 20;
};

// InvalidArgument, naming the member, for duplicate or negative GPU ids, a negative or non-finite
// grace period, or poll_interval_ms outside [1, 60000].
absl::Status ValidateLocalRunnerOptions(const LocalRunnerOptions& options);

// The record the runner keeps of a trial's running process (see "Process record" above).
struct ProcessRecord {
  std::string trial_name;
  int attempt = 1;
  pid_t pid = 0;
  pid_t pgid = 0;
  // Clock ticks after boot at which the process started (/proc/<pid>/stat field 22); with the
  // pid and the boot id it names one process for the machine's lifetime.
  uint64_t start_time = 0;
  std::string boot_id;  // /proc/sys/kernel/random/boot_id
};

// Where the record of a trial logging to `log_path` lives: "<log_path>.hpt-process".
std::string ProcessRecordPath(const std::string& log_path);

// The record of live process `pid` as it is now (its process group, start time and the boot id),
// for `trial_name` / `attempt`. NotFound when there is no such process; Unavailable when /proc
// cannot be read.
absl::StatusOr<ProcessRecord> RecordOfProcess(pid_t pid, const std::string& trial_name,
                                              int attempt);

// Writes `record` to `path` atomically (a temporary file renamed over it). Unavailable (naming
// the path) when the file cannot be written.
absl::Status WriteProcessRecord(const std::string& path, const ProcessRecord& record);

// Reads a record written by WriteProcessRecord. NotFound when there is none; DataLoss when the
// file is not a well-formed record.
absl::StatusOr<ProcessRecord> ReadProcessRecord(const std::string& path);

class LocalRunner final : public TrialRunner {
 public:
  // Validates `options` (ValidateLocalRunnerOptions) and starts the runner's monitor thread.
  static absl::StatusOr<std::unique_ptr<LocalRunner>> Create(LocalRunnerOptions options);

  // Starts the monitor thread. `options` should be valid (see Create); invalid values are made
  // valid: duplicate and negative GPU ids dropped, durations clamped into range.
  explicit LocalRunner(LocalRunnerOptions options = {});

  // Stops every trial still running (SIGTERM to its process group, SIGKILL after the shutdown
  // grace), fails queued ones ("Cancelled"), reaps them and joins the monitor thread. Blocks until
  // every trial process has exited. No other call may run concurrently with or after it.
  ~LocalRunner() override;

  LocalRunner(const LocalRunner&) = delete;
  LocalRunner& operator=(const LocalRunner&) = delete;

  // Starts the trial's process, or queues it when it needs GPUs that are not free (Pending,
  // "WaitingForGPU"). Returns once the process has been started (or has failed to start: the
  // trial is then Failed "LaunchFailed" and Launch still returns OK). Errors: InvalidArgument for
  // an empty trial_name, an empty argv or argv[0], a string holding a NUL character, an env name
  // that is empty or holds '=', negative gpus or a deadline that is not a positive number;
  // AlreadyExists when this runner already knows the trial name, unless that trial has finished
  // and launch.attempt is higher (a retry, which replaces it). secret_env is added to env.
  absl::Status Launch(const TrialLaunch& launch) override;

  // A snapshot of the trial's status. NotFound for a name this runner does not know.
  absl::StatusOr<RunStatus> Poll(const std::string& trial_name) override;

  // Asks a trial to stop: a queued trial ends Failed "Cancelled" at once; a running one gets
  // SIGTERM on its process group now and SIGKILL after grace_period_seconds, then ends Failed
  // "Cancelled" (Poll shows Running "Terminating" meanwhile). Does not wait for the exit. OK when
  // the trial is already finished or terminating (a trial past its deadline stays
  // "DeadlineExceeded"); NotFound for an unknown name.
  absl::Status Cancel(const std::string& trial_name) override;

  // Statuses of the trials of `study_name` known to this runner instance (finished ones
  // included), ordered by trial name. A new instance knows none: after a restart this is empty.
  // Never fails.
  absl::StatusOr<std::vector<RunStatus>> Adopt(const std::string& study_name) override;

  // After an engine restart: stops what an earlier runner left of the trial, found through the
  // process record beside the log `launch` names (resolved as Launch would). The recorded
  // process group gets SIGTERM, then SIGKILL after the shutdown grace (the smaller of
  // shutdown_grace_seconds and grace_period_seconds); Reclaim returns once no live process of
  // the group is left (it blocks that long). Nothing is signalled unless the record provably
  // names that group (see "Restarts" above): a record from before a reboot, or whose pid now
  // belongs to another process, means nothing is left. OK with what was done (no record: nothing
  // to stop, attempt 0). InvalidArgument for an empty trial_name; FailedPrecondition when this
  // instance is running the trial itself, when the record is unreadable or names another trial,
  // or when the group could not be stopped (e.g. EPERM).
  absl::StatusOr<Reclaimed> Reclaim(const TrialLaunch& launch) override;

 private:
  struct Trial;

  // Starts `trial` (already marked as starting, GPUs allocated): prepares argv and the
  // environment under the lock, forks and execs without it, then records the outcome.
  void Start(Trial* trial) ABSL_LOCKS_EXCLUDED(mu_);
  // Reaps exited processes, sends SIGTERM/SIGKILL when deadlines and grace periods expire.
  // Times (`now` here and below) are readings of the monotonic clock (MonotonicNow() in the .cc).
  void ReapAndEnforceLocked(absl::Duration now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops queued trials from the head of the queue while enough GPUs are free, allocating them.
  std::vector<Trial*> TakeStartableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AllocateGpusLocked(Trial* trial) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseGpusLocked(Trial* trial) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends SIGTERM to a running trial's group and arms the SIGKILL timer.
  void TerminateLocked(Trial* trial, absl::Duration now, absl::Duration grace)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the end of a trial whose main process was reaped; `wait_status` nullopt: the process
  // vanished without this runner collecting its status ("Lost", `lost_message` says how).
  void FinishExitedLocked(Trial* trial, std::optional<int> wait_status,
                          const std::string& lost_message = "") ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MonitorLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const LocalRunnerOptions options_;
  // The process environment when the runner was constructed, as NAME -> value.
  const std::map<std::string, std::string> base_env_;

  absl::Mutex mu_;
  absl::CondVar wake_;  // signalled when the monitor has new work or must stop
  std::map<std::string, std::unique_ptr<Trial>> trials_ ABSL_GUARDED_BY(mu_);
  std::deque<Trial*> queue_ ABSL_GUARDED_BY(mu_);  // waiting for GPUs, FIFO
  std::set<int> free_gpus_ ABSL_GUARDED_BY(mu_);
  std::set<Trial*> running_ ABSL_GUARDED_BY(mu_);  // with a process not yet reaped
  int live_ ABSL_GUARDED_BY(mu_) = 0;              // trials starting or running
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread monitor_;  // last: started once everything above is initialized
};

}  // namespace hpt::runner

#endif  // HPT_TRIAL_RUNNER_LOCAL_LOCAL_RUNNER_H_
