#include "trial_runner/local/local_runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace hpt::runner {

namespace {

constexpr char kDefaultPath[] = "/bin:/usr/bin";  // glibc's execvp default when PATH is unset
constexpr char kRecordHeader[] = "hpt-process 1";
// How often the heartbeat compares a running trial's start time with the recorded one.
constexpr absl::Duration kIdentityCheckInterval = absl::Seconds(1);
// How long Reclaim waits for a process group to vanish after SIGKILL before giving up.
constexpr absl::Duration kReclaimKillWait = absl::Seconds(10);

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);
  return desc != nullptr ? desc : absl::StrCat("error ", err);
}

std::string SignalText(int sig) {
  const char* desc = sigdescr_np(sig);
  return absl::StrCat("signal ", sig, " (", desc != nullptr ? desc : "unknown", ")");
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "killed by " + SignalText(WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

// Reads a small file whole (a /proc file or a process record). NotFound when it does not exist.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ESRCH) return absl::NotFoundError(path + " does not exist");
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", ErrnoText(err)));
  }
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      // A process that exits while its /proc file is read.
      if (err == ESRCH) return absl::NotFoundError(path + " does not exist");
      return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", ErrnoText(err)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

// What /proc/<pid>/stat says about a process.
struct ProcStat {
  char state = '?';  // 'R', 'S', ..., 'Z' (zombie), 'X' (dead)
  pid_t pgrp = 0;
  uint64_t start_time = 0;  // field 22: clock ticks after boot
};

// NotFound when there is no such process.
absl::StatusOr<ProcStat> ReadProcStat(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses; the last ')' ends it.
  const size_t paren = text->rfind(')');
  if (paren == std::string::npos) return absl::UnavailableError(path + " is not readable");
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*text).substr(paren + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); field k is fields[k - 3].
  ProcStat st;
  int64_t pgrp = 0;
  if (fields.size() < 20 || fields[0].empty() || !absl::SimpleAtoi(fields[2], &pgrp) ||
      !absl::SimpleAtoi(fields[19], &st.start_time)) {
    return absl::UnavailableError(absl::StrCat(path, " has an unexpected format"));
  }
  st.state = fields[0][0];
  st.pgrp = static_cast<pid_t>(pgrp);
  return st;
}

bool IsLive(const ProcStat& st) { return st.state != 'Z' && st.state != 'X'; }

std::string BootId() {
  absl::StatusOr<std::string> id = ReadSmallFile("/proc/sys/kernel/random/boot_id");
  return id.ok() ? std::string(absl::StripAsciiWhitespace(*id)) : "";
}

// The processes of group `pgid` that have not exited (zombies waiting to be reaped do not count).
std::vector<pid_t> LiveGroupMembers(pid_t pgid) {
  std::vector<pid_t> members;
  if (kill(-pgid, 0) != 0 && errno == ESRCH) return members;  // no member at all, zombies included
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return members;
  while (struct dirent* e = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid) || pid <= 0) continue;
    absl::StatusOr<ProcStat> st = ReadProcStat(pid);
    if (st.ok() && st->pgrp == pgid && IsLive(*st)) members.push_back(pid);
  }
  closedir(proc);
  return members;
}

// Signals a trial's process group; when the group is gone (its main process moved to another
// one) the main process alone.
void SignalTrial(pid_t pid, int sig) {
  if (kill(-pid, sig) != 0 && errno == ESRCH) kill(pid, sig);
}

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    Reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Moves `fd` to a number >= 3 (keeping O_CLOEXEC) so that the child's dup2 onto 0..2 can never
// clobber it, even when the runner's process has closed its standard streams.
Fd AboveStdio(Fd fd) {
  if (!fd.valid() || fd.get() > 2) return fd;
  return Fd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
}

// Everything the child needs, prepared before fork() so that the child allocates nothing.
struct SpawnPlan {
  std::vector<std::string> argv;
  std::vector<std::string> env;         // NAME=value
  std::vector<std::string> candidates;  // paths to try with execve, in order
  std::string working_dir;              // absolute
  std::string log_path;                 // absolute
  std::string record_path;              // the process record; its trial name and attempt:
  std::string trial_name;
  int attempt = 1;
};

// A started process.
struct Spawned {
  pid_t pid = 0;
  uint64_t start_time = 0;   // 0 when /proc could not tell
  std::string record_error;  // why no process record was written; empty when it was
};

// What the child reports through the pipe when it cannot exec.
enum ChildStage : int32_t { kStageSetpgid = 1, kStageStdio = 2, kStageChdir = 3, kStageExec = 4 };
struct ChildError {
  int32_t stage;
  int32_t err;
};

struct ChildArgs {
  char* const* argv;
  char* const* envp;
  const char* const* candidates;
  size_t num_candidates;
  const char* working_dir;
  int null_fd;
  int log_fd;
  int err_fd;
  int max_fd;
  const struct sigaction* default_action;
  const sigset_t* empty_mask;
};

// Runs in the child between fork() and exec: async-signal-safe calls only, no allocation.
[[noreturn]] void RunChild(const ChildArgs& a) {
  auto fail = [&a](int32_t stage, int err) {
    ChildError e{stage, err};
    ssize_t ignored = write(a.err_fd, &e, sizeof(e));
    (void)ignored;
    _exit(127);
  };
  if (setpgid(0, 0) != 0) fail(kStageSetpgid, errno);
  // Ignored signals survive exec; reset every disposition, then unblock everything (the parent
  // blocked all signals around fork so that none of its handlers can run here).
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, a.default_action, nullptr);
  sigprocmask(SIG_SETMASK, a.empty_mask, nullptr);
  if (dup2(a.null_fd, STDIN_FILENO) < 0 || dup2(a.log_fd, STDOUT_FILENO) < 0 ||
      dup2(a.log_fd, STDERR_FILENO) < 0) {
    fail(kStageStdio, errno);
  }
  if (chdir(a.working_dir) != 0) fail(kStageChdir, errno);
  // Every other descriptor is closed at exec (err_fd already is O_CLOEXEC and must stay open
  // until then). Without close_range (Linux < 5.11), close them one by one.
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < a.max_fd; ++fd) {
      if (fd != a.err_fd) close(fd);
    }
  }
  // execvp's search: skip entries where the file is missing, remember EACCES, stop at any other
  // error.
  bool saw_eacces = false;
  int last_err = ENOENT;
  for (size_t i = 0; i < a.num_candidates; ++i) {
    execve(a.candidates[i], a.argv, a.envp);
    int err = errno;
    if (err == EACCES) {
      saw_eacces = true;
    } else if (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV ||
               err == ETIMEDOUT) {
      last_err = err;
    } else {
      fail(kStageExec, err);
    }
  }
  fail(kStageExec, saw_eacces ? EACCES : last_err);
  _exit(127);  // not reached
}

// Forks and execs the plan. Returns the pid (also the process group id) once the child has
// exec'ed, or an error message for "LaunchFailed". The process record is written between the
// fork and the exec, so an engine that dies at any moment after the fork leaves one.
absl::StatusOr<Spawned> Spawn(const SpawnPlan& plan) {
  std::error_code ec;
  std::filesystem::create_directories(plan.working_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create working directory '", plan.working_dir, "': ", ec.message()));
  }
  std::filesystem::path log_dir = std::filesystem::path(plan.log_path).parent_path();
  std::filesystem::create_directories(log_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create the directory of log file '",
                                            plan.log_path, "': ", ec.message()));
  }
  Fd log_fd =
      AboveStdio(Fd(open(plan.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)));
  if (!log_fd.valid()) {
    return absl::InternalError(
        absl::StrCat("cannot open log file '", plan.log_path, "': ", ErrnoText(errno)));
  }
  Fd null_fd = AboveStdio(Fd(open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (!null_fd.valid()) {
    return absl::InternalError(absl::StrCat("cannot open /dev/null: ", ErrnoText(errno)));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("cannot create a pipe: ", ErrnoText(errno)));
  }
  Fd read_end(pipe_fds[0]);
  Fd write_end = AboveStdio(Fd(pipe_fds[1]));
  if (!write_end.valid()) {
    return absl::InternalError(absl::StrCat("cannot create a pipe: ", ErrnoText(errno)));
  }

  auto pointers = [](const std::vector<std::string>& v) {
    std::vector<char*> p;
    p.reserve(v.size() + 1);
    for (const std::string& s : v) p.push_back(const_cast<char*>(s.c_str()));
    p.push_back(nullptr);
    return p;
  };
  std::vector<char*> argv = pointers(plan.argv);
  std::vector<char*> envp = pointers(plan.env);
  std::vector<const char*> candidates;
  for (const std::string& c : plan.candidates) candidates.push_back(c.c_str());
  struct sigaction default_action;
  memset(&default_action, 0, sizeof(default_action));
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  long open_max = sysconf(_SC_OPEN_MAX);
  ChildArgs args{argv.data(),
                 envp.data(),
                 candidates.data(),
                 candidates.size(),
                 plan.working_dir.c_str(),
                 null_fd.get(),
                 log_fd.get(),
                 write_end.get(),
                 static_cast<int>(std::clamp<long>(open_max, 256, 1 << 20)),
                 &default_action,
                 &empty_mask};

  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  pid_t pid = fork();
  if (pid == 0) RunChild(args);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("cannot start a process: ", ErrnoText(fork_errno)));
  }
  // Also from this side, so that the group exists whichever process runs first (EACCES once the
  // child has exec'ed is fine: it did it itself).
  setpgid(pid, pid);
  write_end.Reset();
  log_fd.Reset();
  null_fd.Reset();
  Spawned spawned{.pid = pid};
  absl::StatusOr<ProcessRecord> record = RecordOfProcess(pid, plan.trial_name, plan.attempt);
  if (record.ok()) {
    spawned.start_time = record->start_time;
    if (absl::Status w = WriteProcessRecord(plan.record_path, *record); !w.ok()) {
      spawned.record_error = std::string(w.message());
    }
  } else {
    spawned.record_error = std::string(record.status().message());
  }

  ChildError report{};
  size_t got = 0;
  while (got < sizeof(report)) {
    ssize_t n = read(read_end.get(), reinterpret_cast<char*>(&report) + got, sizeof(report) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < sizeof(report)) return spawned;  // EOF: the exec closed the pipe

  if (spawned.record_error.empty()) unlink(plan.record_path.c_str());
  pid_t waited;
  do {
    waited = waitpid(pid, nullptr, 0);
  } while (waited < 0 && errno == EINTR);
  const std::string why = ErrnoText(report.err);
  switch (report.stage) {
    case kStageSetpgid:
      return absl::InternalError("cannot create a process group for the trial: " + why);
    case kStageStdio:
      return absl::InternalError("cannot redirect stdin, stdout and stderr: " + why);
    case kStageChdir:
      return absl::InternalError(
          absl::StrCat("cannot enter working directory '", plan.working_dir, "': ", why));
    default:
      return absl::InternalError(absl::StrCat("cannot execute '", plan.argv[0], "': ", why));
  }
}

std::map<std::string, std::string> CaptureEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

LocalRunnerOptions Normalize(LocalRunnerOptions o) {
  if (o.gpus.has_value()) {
    std::vector<int>& ids = *o.gpus;
    ids.erase(std::remove_if(ids.begin(), ids.end(), [](int id) { return id < 0; }), ids.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  auto clamp_seconds = [](double s) { return std::isfinite(s) ? std::clamp(s, 0.0, 1e6) : 10.0; };
  o.grace_period_seconds = clamp_seconds(o.grace_period_seconds);
  o.shutdown_grace_seconds = clamp_seconds(o.shutdown_grace_seconds);
  o.poll_interval_ms = std::clamp(o.poll_interval_ms, 1, 60000);
  return o;
}

// Deadlines must not move with the wall clock.
absl::Duration MonotonicNow() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// A launch's working directory and log file, absolute.
struct TrialPaths {
  std::filesystem::path working_dir;
  std::filesystem::path log_path;
};

// Resolves relative paths against the current directory (`where` prefixes errors).
absl::StatusOr<TrialPaths> ResolvePaths(const TrialLaunch& launch, const std::string& where) {
  std::error_code ec;
  std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (ec) {
    return absl::FailedPreconditionError(
        where + "cannot read the runner's current directory: " + ec.message());
  }
  TrialPaths paths;
  // An absolute path replaces cwd; "a/b/" becomes "<cwd>/a/b".
  paths.working_dir = (cwd / launch.working_dir).lexically_normal();
  if (!paths.working_dir.has_filename() && paths.working_dir != paths.working_dir.root_path()) {
    paths.working_dir = paths.working_dir.parent_path();
  }
  paths.log_path = launch.log_path.empty() ? paths.working_dir / "trial.log"
                                           : (cwd / launch.log_path).lexically_normal();
  return paths;
}

}  // namespace

std::string ProcessRecordPath(const std::string& log_path) { return log_path + ".hpt-process"; }

absl::StatusOr<ProcessRecord> RecordOfProcess(pid_t pid, const std::string& trial_name,
                                              int attempt) {
  absl::StatusOr<ProcStat> st = ReadProcStat(pid);
  if (!st.ok()) return st.status();
  return ProcessRecord{.trial_name = trial_name,
                       .attempt = attempt,
                       .pid = pid,
                       .pgid = st->pgrp,
                       .start_time = st->start_time,
                       .boot_id = BootId()};
}

absl::Status WriteProcessRecord(const std::string& path, const ProcessRecord& record) {
  const std::string text =
      absl::StrCat(kRecordHeader, "\npid=", record.pid, "\npgid=", record.pgid,
                   "\nstart_time=", record.start_time, "\nboot_id=", record.boot_id,
                   "\nattempt=", record.attempt, "\ntrial=", record.trial_name, "\n");
  const std::string tmp = absl::StrCat(path, ".tmp", getpid());
  auto fail = [&](const char* what) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot ", what, " process record ", path, ": ", ErrnoText(err)));
  };
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("create");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return fail("write");
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return fail("write");
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail("rename into place the");
  return absl::OkStatus();
}

absl::StatusOr<ProcessRecord> ReadProcessRecord(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(absl::StrCat("no process record at ", path));
    }
    return text.status();
  }
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(path, " is not a process record: ", why));
  };
  absl::string_view rest = *text;
  if (!absl::ConsumePrefix(&rest, absl::StrCat(kRecordHeader, "\n"))) {
    return bad(absl::StrCat("it does not start with \"", kRecordHeader, "\""));
  }
  ProcessRecord r;
  bool have_pid = false, have_pgid = false, have_start = false, have_attempt = false;
  while (!rest.empty()) {
    // "trial=" comes last and takes the rest of the file (a name could hold anything).
    if (absl::ConsumePrefix(&rest, "trial=")) {
      if (!absl::ConsumeSuffix(&rest, "\n")) return bad("the trial line is cut short");
      r.trial_name = std::string(rest);
      if (!have_pid || !have_pgid || !have_start || !have_attempt || r.trial_name.empty()) {
        return bad("pid, pgid, start_time, attempt or trial is missing");
      }
      return r;
    }
    const size_t eol = rest.find('\n');
    if (eol == absl::string_view::npos) return bad("the last line is cut short");
    absl::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 1);
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    int64_t number = 0;
    const bool numeric = absl::SimpleAtoi(kv.second, &number);
    if (kv.first == "boot_id") {
      r.boot_id = std::string(kv.second);
    } else if (kv.first == "pid" && numeric && number > 0) {
      r.pid = static_cast<pid_t>(number);
      have_pid = true;
    } else if (kv.first == "pgid" && numeric && number > 0) {
      r.pgid = static_cast<pid_t>(number);
      have_pgid = true;
    } else if (kv.first == "start_time" && numeric && number >= 0) {
      r.start_time = static_cast<uint64_t>(number);
      have_start = true;
    } else if (kv.first == "attempt" && numeric && number >= 1) {
      r.attempt = static_cast<int>(number);
      have_attempt = true;
    } else {
      return bad(absl::StrCat("unexpected line \"", line, "\""));
    }
  }
  return bad("the trial line is missing");
}

absl::Status ValidateLocalRunnerOptions(const LocalRunnerOptions& options) {
  if (options.gpus.has_value()) {
    std::set<int> seen;
    for (int id : *options.gpus) {
      if (id < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("LocalRunnerOptions.gpus: GPU id ", id, " is negative; ids are >= 0"));
      }
      if (!seen.insert(id).second) {
        return absl::InvalidArgumentError(absl::StrCat("LocalRunnerOptions.gpus: GPU id ", id,
                                                       " is listed twice; ids must be distinct"));
      }
    }
  }
  auto check_seconds = [](const char* name, double s) {
    if (!std::isfinite(s) || s < 0) {
      return absl::InvalidArgumentError(absl::StrCat("LocalRunnerOptions.", name, " is ", s,
                                                     "; it must be a finite number >= 0"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check_seconds("grace_period_seconds", options.grace_period_seconds);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = check_seconds("shutdown_grace_seconds", options.shutdown_grace_seconds);
      !s.ok()) {
    return s;
  }
  if (options.poll_interval_ms < 1 || options.poll_interval_ms > 60000) {
    return absl::InvalidArgumentError(absl::StrCat("LocalRunnerOptions.poll_interval_ms is ",
                                                   options.poll_interval_ms,
                                                   "; it must be within [1, 60000]"));
  }
  return absl::OkStatus();
}

struct LocalRunner::Trial {
  enum class State { kQueued, kStarting, kRunning, kDone };
  // Why the runner is stopping the trial, if it is.
  enum class Stop { kNone, kCancel, kDeadline, kShutdown };

  TrialLaunch launch;
  std::string working_dir;  // absolute
  RunStatus status;
  State state = State::kQueued;
  pid_t pid = 0;            // > 0 while kRunning: the main process and its process group
  uint64_t start_time = 0;  // of the main process (/proc); 0: unknown, not checked
  absl::Duration next_identity_check = absl::ZeroDuration();  // monotonic
  std::string record_path;                                    // the process record, while running
  std::vector<int> gpus;                                      // allocated GPU ids
  absl::Duration deadline = absl::InfiniteDuration();         // monotonic
  Stop stop = Stop::kNone;
  bool term_sent = false;
  bool kill_sent = false;
  absl::Duration kill_at = absl::InfiniteDuration();  // monotonic
  absl::Duration grace;                               // between term_sent and kill_at
};

absl::StatusOr<std::unique_ptr<LocalRunner>> LocalRunner::Create(LocalRunnerOptions options) {
  if (absl::Status s = ValidateLocalRunnerOptions(options); !s.ok()) return s;
  return std::make_unique<LocalRunner>(std::move(options));
}

LocalRunner::LocalRunner(LocalRunnerOptions options)
    : options_(Normalize(std::move(options))), base_env_(CaptureEnvironment()) {
  if (options_.gpus.has_value()) free_gpus_.insert(options_.gpus->begin(), options_.gpus->end());
  monitor_ = std::thread([this] { MonitorLoop(); });
}

LocalRunner::~LocalRunner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    const absl::Duration now = MonotonicNow();
    const absl::Duration grace =
        absl::Seconds(std::min(options_.shutdown_grace_seconds, options_.grace_period_seconds));
    for (Trial* t : queue_) {
      t->state = Trial::State::kDone;
      t->status.phase = RunPhase::kFailed;
      t->status.reason = "Cancelled";
      t->status.message = "runner shut down while the trial was waiting for GPUs";
    }
    queue_.clear();
    for (Trial* t : running_) {
      if (!t->term_sent) {
        t->stop = Trial::Stop::kShutdown;
        TerminateLocked(t, now, grace);
      } else if (now + grace < t->kill_at) {
        t->kill_at = now + grace;
        t->grace = grace;
      }
    }
    wake_.SignalAll();
  }
  monitor_.join();
}

absl::Status LocalRunner::Launch(const TrialLaunch& launch) {
  if (launch.trial_name.empty()) {
    return absl::InvalidArgumentError("Launch: trial_name is empty; every trial needs a name");
  }
  const std::string where = absl::StrCat("Launch of trial '", launch.trial_name, "': ");
  if (launch.argv.empty() || launch.argv[0].empty()) {
    return absl::InvalidArgumentError(
        where + "argv is empty; it must hold the command to run and its arguments");
  }
  for (size_t i = 0; i < launch.argv.size(); ++i) {
    if (HasNul(launch.argv[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "argv[", i, "] holds a NUL character, which a command line cannot"));
    }
  }
  for (const auto& [name, value] : launch.env) {
    if (name.empty() || name.find('=') != std::string::npos || HasNul(name) || HasNul(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "environment variable '", name,
                       "' is invalid; names must be non-empty without '=' and values without NUL"));
    }
  }
  if (HasNul(launch.working_dir) || HasNul(launch.log_path)) {
    return absl::InvalidArgumentError(where + "working_dir or log_path holds a NUL character");
  }
  if (launch.gpus < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "gpus is ", launch.gpus, "; it must be >= 0"));
  }
  if (launch.deadline_seconds.has_value() &&
      !(std::isfinite(*launch.deadline_seconds) && *launch.deadline_seconds > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "deadline_seconds is ", *launch.deadline_seconds, "; it must be a positive number"));
  }

  absl::StatusOr<TrialPaths> paths = ResolvePaths(launch, where);
  if (!paths.ok()) return paths.status();
  const std::filesystem::path& working_dir = paths->working_dir;
  const std::filesystem::path& log_path = paths->log_path;

  Trial* trial = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::FailedPreconditionError(where + "the runner is shutting down");
    }
    if (auto it = trials_.find(launch.trial_name); it != trials_.end()) {
      const Trial& known = *it->second;
      const bool retry =
          known.state == Trial::State::kDone && launch.attempt > known.launch.attempt;
      if (!retry) {
        return absl::AlreadyExistsError(absl::StrCat(
            "trial '", launch.trial_name, "' already exists in this runner (",
            RunPhaseName(known.status.phase), ", attempt ", known.launch.attempt,
            "); trial names must be unique, and a retry needs a finished trial and a higher "
            "attempt"));
      }
      trials_.erase(it);
    }
    auto owned = std::make_unique<Trial>();
    trial = owned.get();
    trial->launch = launch;
    for (const auto& [name, value] : launch.secret_env) trial->launch.env[name] = value;
    trial->status.attempt = launch.attempt;
    trial->working_dir = working_dir.string();
    trial->status.trial_name = launch.trial_name;
    trial->status.log_path = log_path.string();
    trials_.emplace(launch.trial_name, std::move(owned));

    if (options_.gpus.has_value()) {
      const size_t total = options_.gpus->size();
      const size_t wanted = static_cast<size_t>(launch.gpus);
      if (wanted > total) {
        trial->state = Trial::State::kDone;
        trial->status.phase = RunPhase::kFailed;
        trial->status.reason = "Unschedulable";
        trial->status.message =
            absl::StrCat("trial asks for ", wanted, " GPU(s) but this runner manages ", total,
                         " (ids [", absl::StrJoin(*options_.gpus, ","), "])");
        return absl::OkStatus();
      }
      if (wanted > 0 && (!queue_.empty() || free_gpus_.size() < wanted)) {
        trial->state = Trial::State::kQueued;
        trial->status.phase = RunPhase::kPending;
        trial->status.reason = "WaitingForGPU";
        trial->status.message =
            absl::StrCat("waiting for ", wanted, " of the ", total, " GPU(s) this runner manages");
        queue_.push_back(trial);
        return absl::OkStatus();
      }
      AllocateGpusLocked(trial);
    }
    trial->state = Trial::State::kStarting;
    trial->status.phase = RunPhase::kPending;
    trial->status.reason = "Starting";
    trial->status.message = "starting the process";
    ++live_;
  }
  Start(trial);
  return absl::OkStatus();
}

void LocalRunner::Start(Trial* trial) {
  SpawnPlan plan;
  {
    absl::MutexLock lock(&mu_);
    const TrialLaunch& launch = trial->launch;
    std::map<std::string, std::string> env = base_env_;
    for (const auto& [name, value] : launch.env) env[name] = value;
    if (options_.gpus.has_value()) env["CUDA_VISIBLE_DEVICES"] = absl::StrJoin(trial->gpus, ",");
    for (const auto& [name, value] : env) plan.env.push_back(absl::StrCat(name, "=", value));
    plan.argv = launch.argv;
    const std::string& command = launch.argv[0];
    if (command.find('/') != std::string::npos) {
      plan.candidates.push_back(command);
    } else {
      auto path = env.find("PATH");
      for (absl::string_view dir :
           absl::StrSplit(path != env.end() ? path->second : kDefaultPath, ':')) {
        // An empty entry means the current (working) directory.
        plan.candidates.push_back(dir.empty() ? command : absl::StrCat(dir, "/", command));
      }
    }
    plan.working_dir = trial->working_dir;
    plan.log_path = trial->status.log_path;
    plan.record_path = ProcessRecordPath(plan.log_path);
    plan.trial_name = launch.trial_name;
    plan.attempt = launch.attempt;
  }

  absl::StatusOr<Spawned> spawned = Spawn(plan);

  absl::MutexLock lock(&mu_);
  if (!spawned.ok()) {
    trial->state = Trial::State::kDone;
    trial->status.phase = RunPhase::kFailed;
    trial->status.reason = "LaunchFailed";
    trial->status.message = std::string(spawned.status().message());
    ReleaseGpusLocked(trial);
    --live_;
  } else {
    const absl::Duration now = MonotonicNow();
    trial->state = Trial::State::kRunning;
    trial->pid = spawned->pid;
    trial->start_time = spawned->start_time;
    trial->next_identity_check = now + kIdentityCheckInterval;
    if (spawned->record_error.empty()) trial->record_path = plan.record_path;
    running_.insert(trial);
    trial->status.phase = RunPhase::kRunning;
    trial->status.reason = "Running";
    trial->status.message = absl::StrCat("pid ", spawned->pid);
    if (!spawned->record_error.empty()) {
      absl::StrAppend(&trial->status.message,
                      "; no process record, so an engine restart cannot find it (",
                      spawned->record_error, ")");
    }
    if (trial->launch.deadline_seconds.has_value()) {
      trial->deadline = now + absl::Seconds(*trial->launch.deadline_seconds);
    }
    // Cancel() or the destructor came while the process was starting.
    if (stopping_ && trial->stop == Trial::Stop::kNone) trial->stop = Trial::Stop::kShutdown;
    if (trial->stop != Trial::Stop::kNone) {
      TerminateLocked(trial, now,
                      absl::Seconds(stopping_ ? std::min(options_.shutdown_grace_seconds,
                                                         options_.grace_period_seconds)
                                              : options_.grace_period_seconds));
    }
  }
  wake_.Signal();
}

absl::StatusOr<RunStatus> LocalRunner::Poll(const std::string& trial_name) {
  absl::MutexLock lock(&mu_);
  auto it = trials_.find(trial_name);
  if (it == trials_.end()) {
    return absl::NotFoundError(
        absl::StrCat("trial '", trial_name, "' is not known to this runner"));
  }
  return it->second->status;
}

absl::Status LocalRunner::Cancel(const std::string& trial_name) {
  absl::MutexLock lock(&mu_);
  auto it = trials_.find(trial_name);
  if (it == trials_.end()) {
    return absl::NotFoundError(
        absl::StrCat("cannot cancel trial '", trial_name, "': it is not known to this runner"));
  }
  Trial* t = it->second.get();
  switch (t->state) {
    case Trial::State::kDone:
      break;
    case Trial::State::kQueued:
      queue_.erase(std::find(queue_.begin(), queue_.end(), t));
      t->state = Trial::State::kDone;
      t->status.phase = RunPhase::kFailed;
      t->status.reason = "Cancelled";
      t->status.message = "cancelled while waiting for GPUs";
      wake_.Signal();  // the trials behind it may fit now
      break;
    case Trial::State::kStarting:
      // Start() sends SIGTERM as soon as the process exists.
      if (t->stop == Trial::Stop::kNone) t->stop = Trial::Stop::kCancel;
      break;
    case Trial::State::kRunning:
      if (t->stop == Trial::Stop::kNone) {
        t->stop = Trial::Stop::kCancel;
        TerminateLocked(t, MonotonicNow(), absl::Seconds(options_.grace_period_seconds));
        wake_.Signal();
      }
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RunStatus>> LocalRunner::Adopt(const std::string& study_name) {
  absl::MutexLock lock(&mu_);
  std::vector<RunStatus> out;
  for (const auto& [name, t] : trials_) {
    if (t->launch.study_name == study_name) out.push_back(t->status);
  }
  return out;
}

absl::StatusOr<Reclaimed> LocalRunner::Reclaim(const TrialLaunch& launch) {
  if (launch.trial_name.empty()) {
    return absl::InvalidArgumentError("Reclaim: trial_name is empty; every trial needs a name");
  }
  const std::string where = absl::StrCat("Reclaim of trial '", launch.trial_name, "': ");
  {
    absl::MutexLock lock(&mu_);
    if (auto it = trials_.find(launch.trial_name); it != trials_.end()) {
      const Trial& t = *it->second;
      if (t.state != Trial::State::kDone) {
        return absl::FailedPreconditionError(absl::StrCat(where, "this runner is running it (",
                                                          RunPhaseName(t.status.phase),
                                                          "); cancel it instead"));
      }
      return Reclaimed{
          .attempt = t.launch.attempt,
          .message = absl::StrCat("attempt ", t.launch.attempt, " already ended in this runner")};
    }
  }
  absl::StatusOr<TrialPaths> paths = ResolvePaths(launch, where);
  if (!paths.ok()) return paths.status();
  const std::string record_path = ProcessRecordPath(paths->log_path.string());
  absl::StatusOr<ProcessRecord> record = ReadProcessRecord(record_path);
  if (absl::IsNotFound(record.status())) {
    return Reclaimed{.message = absl::StrCat("no process record at ", record_path,
                                             ": no process of the trial is left")};
  }
  if (!record.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "cannot tell whether its process still runs: ", record.status().message()));
  }
  if (record->trial_name != launch.trial_name) {
    return absl::FailedPreconditionError(absl::StrCat(where, "the process record ", record_path,
                                                      " belongs to trial '", record->trial_name,
                                                      "'; trials must not share a log file"));
  }
  const std::string what =
      absl::StrCat("process ", record->pid, " (attempt ", record->attempt, ")");
  // Nothing of the trial runs any more: its record has served.
  auto done = [&](std::string message) -> absl::StatusOr<Reclaimed> {
    unlink(record_path.c_str());
    return Reclaimed{.attempt = record->attempt, .message = std::move(message)};
  };
  const std::string boot_id = BootId();
  if (boot_id.empty() || record->boot_id != boot_id) {
    return done(absl::StrCat(what, " ran before the machine restarted: nothing of it is left"));
  }
  // The group is provably the trial's when its leader is the recorded process (same start
  // time), or when the leader is gone but members are left: the kernel does not hand a pid out
  // again while a process group of that id exists.
  absl::StatusOr<ProcStat> leader = ReadProcStat(record->pid);
  if (leader.ok() && leader->start_time != record->start_time) {
    return done(absl::StrCat(what,
                             " has exited and its pid now belongs to another process, which was "
                             "left alone: nothing of the trial is left"));
  }
  if (!leader.ok() && !absl::IsNotFound(leader.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "cannot tell whether its process still runs: ", leader.status().message()));
  }
  const pid_t pgid = record->pgid;
  // A leader that moved itself into another group is signalled on its own as well.
  const bool leader_moved = leader.ok() && leader->pgrp != pgid;
  auto leader_left = [&] {
    if (!leader_moved) return false;
    absl::StatusOr<ProcStat> st = ReadProcStat(record->pid);
    return st.ok() && st->start_time == record->start_time && IsLive(*st);
  };
  // The leader's pid handed out again since it was read: Linux gives out no pid still in use as
  // a process group id, so the trial's group is gone, and a group of that id now is another
  // process's (a trial just started, say), never to be signalled.
  auto pid_reused = [&] {
    absl::StatusOr<ProcStat> now = ReadProcStat(record->pid);
    return now.ok() && now->start_time != record->start_time;
  };
  auto anything_left = [&] {
    const bool members = !LiveGroupMembers(pgid).empty() || leader_left();
    return members && !pid_reused();  // read after the members: a reuse between is seen
  };
  if (!anything_left()) {
    return done(absl::StrCat(what, " has exited: nothing of it is left"));
  }
  auto wait_gone = [&](absl::Duration limit) {
    const absl::Duration end = MonotonicNow() + limit;
    while (anything_left()) {
      if (MonotonicNow() >= end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  };
  auto signal_group = [&](int sig, const char* verb) -> absl::Status {
    if (leader_left()) kill(record->pid, sig);
    if (pid_reused()) return absl::OkStatus();  // the group is gone; wait_gone then ends at once
    if (kill(-pgid, sig) == 0 || errno == ESRCH) return absl::OkStatus();
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(where, "cannot ", verb, " process group ",
                                                      pgid, " of ", what, ": ", ErrnoText(err)));
  };
  if (absl::Status s = signal_group(SIGTERM, "stop"); !s.ok()) return s;
  const absl::Duration grace =
      absl::Seconds(std::min(options_.shutdown_grace_seconds, options_.grace_period_seconds));
  if (wait_gone(grace)) {
    return done(absl::StrCat(what, " was still running (process group ", pgid,
                             "); stopped it with SIGTERM"));
  }
  if (absl::Status s = signal_group(SIGKILL, "kill"); !s.ok()) return s;
  if (!wait_gone(kReclaimKillWait)) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, "process group ", pgid, " of ", what, " is still alive ",
                     absl::FormatDuration(kReclaimKillWait), " after SIGKILL"));
  }
  return done(absl::StrCat(what, " was still running (process group ", pgid,
                           "); killed it with SIGKILL after the ", absl::FormatDuration(grace),
                           " grace period"));
}

void LocalRunner::AllocateGpusLocked(Trial* trial) {
  for (int i = 0; i < trial->launch.gpus; ++i) {
    trial->gpus.push_back(*free_gpus_.begin());
    free_gpus_.erase(free_gpus_.begin());
  }
}

void LocalRunner::ReleaseGpusLocked(Trial* trial) {
  free_gpus_.insert(trial->gpus.begin(), trial->gpus.end());
  trial->gpus.clear();
}

std::vector<LocalRunner::Trial*> LocalRunner::TakeStartableLocked() {
  std::vector<Trial*> ready;
  while (!queue_.empty() && free_gpus_.size() >= static_cast<size_t>(queue_.front()->launch.gpus)) {
    Trial* t = queue_.front();
    queue_.pop_front();
    AllocateGpusLocked(t);
    t->state = Trial::State::kStarting;
    t->status.reason = "Starting";
    t->status.message = "starting the process";
    ++live_;
    ready.push_back(t);
  }
  return ready;
}

void LocalRunner::TerminateLocked(Trial* trial, absl::Duration now, absl::Duration grace) {
  if (trial->term_sent) return;
  SignalTrial(trial->pid, SIGTERM);
  trial->term_sent = true;
  trial->grace = grace;
  trial->kill_at = now + grace;
  trial->status.reason = "Terminating";
  trial->status.message =
      absl::StrCat(trial->stop == Trial::Stop::kDeadline ? "deadline exceeded" : "stop requested",
                   "; SIGTERM sent to process group ", trial->pid, ", SIGKILL after ",
                   absl::FormatDuration(grace));
}

void LocalRunner::ReapAndEnforceLocked(absl::Duration now) {
  // FinishExitedLocked() erases from running_: iterate over a copy.
  const std::vector<Trial*> running(running_.begin(), running_.end());
  for (Trial* t : running) {
    // WNOWAIT leaves the zombie in place: its pid (the group id) cannot be reused until the
    // orphans of its group have been killed below.
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int r = waitid(P_PID, static_cast<id_t>(t->pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r != 0 && errno == EINTR) continue;  // next pass
    if (r == 0 && info.si_pid == 0) {        // still running
      if (t->start_time != 0 && now >= t->next_identity_check) {
        t->next_identity_check = now + kIdentityCheckInterval;
        absl::StatusOr<ProcStat> st = ReadProcStat(t->pid);
        if (st.ok() && st->start_time != t->start_time) {
          // Ours was reaped elsewhere and the pid went to another child of this process: signal
          // nothing, it is not the trial's.
          FinishExitedLocked(t, std::nullopt,
                             absl::StrCat("process ", t->pid,
                                          " vanished: its pid now belongs to another process (its "
                                          "exit status was collected by someone else)"));
          continue;
        }
      }
      if (t->stop == Trial::Stop::kNone && now >= t->deadline) {
        t->stop = Trial::Stop::kDeadline;
        TerminateLocked(t, now, absl::Seconds(options_.grace_period_seconds));
      }
      if (t->term_sent && !t->kill_sent && now >= t->kill_at) {
        SignalTrial(t->pid, SIGKILL);
        t->kill_sent = true;
      }
      continue;
    }
    if (r != 0) {  // ECHILD: someone else reaped it; the pid may already be reused, kill nothing
      FinishExitedLocked(t, std::nullopt,
                         absl::StrCat("process ", t->pid,
                                      " vanished: its exit status was collected by someone else "
                                      "(is SIGCHLD ignored in this process?)"));
      continue;
    }
    kill(-t->pid, SIGKILL);
    int wait_status = 0;
    pid_t w;
    do {
      w = waitpid(t->pid, &wait_status, 0);
    } while (w < 0 && errno == EINTR);
    FinishExitedLocked(t, w == t->pid ? std::optional<int>(wait_status) : std::nullopt);
  }
}

void LocalRunner::FinishExitedLocked(Trial* t, std::optional<int> wait_status,
                                     const std::string& lost_message) {
  if (!t->record_path.empty()) {
    unlink(t->record_path.c_str());
    t->record_path.clear();
  }
  t->state = Trial::State::kDone;
  t->pid = 0;
  running_.erase(t);
  ReleaseGpusLocked(t);
  --live_;
  RunStatus& st = t->status;
  st.phase = RunPhase::kFailed;
  st.exit_code.reset();
  if (!wait_status.has_value()) {
    st.reason = "Lost";
    st.message = lost_message;
    return;
  }
  const int ws = *wait_status;
  if (WIFEXITED(ws)) st.exit_code = WEXITSTATUS(ws);
  switch (t->stop) {
    case Trial::Stop::kDeadline:
      st.reason = "DeadlineExceeded";
      st.message = absl::StrCat("exceeded activeDeadlineSeconds=", *t->launch.deadline_seconds);
      return;
    case Trial::Stop::kCancel:
    case Trial::Stop::kShutdown: {
      st.reason = "Cancelled";
      std::string how = t->kill_sent && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL
                            ? absl::StrCat("killed by SIGKILL after the ",
                                           absl::FormatDuration(t->grace), " grace period")
                            : DescribeWaitStatus(ws);
      st.message =
          absl::StrCat(t->stop == Trial::Stop::kCancel ? "cancelled; " : "runner shut down; ", how);
      return;
    }
    case Trial::Stop::kNone:
      break;
  }
  if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
    st.phase = RunPhase::kSucceeded;
    st.reason = "Completed";
  } else if (WIFSIGNALED(ws)) {
    st.reason = "Signal";
  } else {
    st.reason = "Error";
  }
  st.message = DescribeWaitStatus(ws);
}

void LocalRunner::MonitorLoop() {
  mu_.Lock();
  while (true) {
    ReapAndEnforceLocked(MonotonicNow());
    if (!stopping_) {
      std::vector<Trial*> ready = TakeStartableLocked();
      if (!ready.empty()) {
        mu_.Unlock();
        for (Trial* t : ready) Start(t);
        mu_.Lock();
        continue;
      }
    }
    if (stopping_ && live_ == 0) break;
    if (live_ == 0) {
      wake_.Wait(&mu_);  // nothing to watch until a Launch, a Cancel or the destructor
    } else {
      wake_.WaitWithTimeout(&mu_, absl::Milliseconds(options_.poll_interval_ms));
    }
  }
  mu_.Unlock();
}

}  // namespace hpt::runner
