#include "trial_runner/local/local_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::runner {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Generous: the machine running the tests may be heavily loaded. Waits end as soon as the
// condition holds, so the timeout only matters when a test fails.
constexpr auto kTimeout = std::chrono::seconds(30);

bool WaitFor(const std::function<bool()>& condition) {
  const auto end = std::chrono::steady_clock::now() + kTimeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool IsTerminal(RunPhase p) {
  return p == RunPhase::kSucceeded || p == RunPhase::kFailed || p == RunPhase::kPreempted;
}

// Polls until the trial is finished; fails the test (and returns the last status) on timeout.
RunStatus WaitTerminal(TrialRunner& runner, const std::string& name) {
  RunStatus last;
  bool done = WaitFor([&] {
    absl::StatusOr<RunStatus> st = runner.Poll(name);
    if (!st.ok()) {
      ADD_FAILURE() << st.status();
      return true;
    }
    last = *st;
    return IsTerminal(st->phase);
  });
  EXPECT_TRUE(done) << "trial " << name << " did not finish; last status "
                    << RunPhaseName(last.phase) << " " << last.reason << ": " << last.message;
  return last;
}

RunPhase PhaseOf(TrialRunner& runner, const std::string& name) {
  absl::StatusOr<RunStatus> st = runner.Poll(name);
  EXPECT_TRUE(st.ok()) << st.status();
  return st.ok() ? st->phase : RunPhase::kPreempted;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Waits until `path` holds a complete line and returns it without the newline.
std::string WaitForLine(const fs::path& path) {
  std::string text;
  EXPECT_TRUE(WaitFor([&] {
    text = ReadFile(path);
    return !text.empty() && text.back() == '\n';
  })) << "no line in "
      << path;
  return std::string(absl::StripSuffix(text, "\n"));
}

pid_t ReadPid(const fs::path& path) {
  int pid = 0;
  std::string line = WaitForLine(path);
  EXPECT_TRUE(absl::SimpleAtoi(line, &pid)) << "'" << line << "'";
  return pid;
}

// True once `pid` no longer runs: gone, or a zombie waiting for its (new) parent to reap it.
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  if (stat.empty()) return true;
  return paren != std::string::npos && paren + 2 < stat.size() &&
         (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

class LocalRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           absl::StrCat("hpt_local_runner_test_", getpid(), "_", info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A trial running `script` with /bin/sh in its own directory under dir_.
  TrialLaunch Sh(const std::string& name, const std::string& script) {
    TrialLaunch l;
    l.trial_name = name;
    l.study_name = "study";
    l.argv = {"/bin/sh", "-c", script};
    l.working_dir = (dir_ / name).string();
    return l;
  }

  static LocalRunnerOptions Fast(double grace_seconds = 10) {
    LocalRunnerOptions o;
    o.grace_period_seconds = grace_seconds;
    o.poll_interval_ms = 5;
    return o;
  }

  fs::path dir_;
};

TEST_F(LocalRunnerTest, ExitZeroSucceeds) {
  LocalRunner runner(Fast());
  ASSERT_TRUE(runner.Launch(Sh("ok", "exit 0")).ok());
  absl::StatusOr<RunStatus> first = runner.Poll("ok");
  ASSERT_TRUE(first.ok());
  // Launch returns once the process exists.
  EXPECT_TRUE(first->phase == RunPhase::kRunning || first->phase == RunPhase::kSucceeded)
      << RunPhaseName(first->phase);
  RunStatus st = WaitTerminal(runner, "ok");
  EXPECT_EQ(st.trial_name, "ok");
  EXPECT_EQ(st.phase, RunPhase::kSucceeded);
  EXPECT_EQ(st.reason, "Completed");
  EXPECT_EQ(st.message, "exit status 0");
  EXPECT_EQ(st.exit_code, 0);
  EXPECT_EQ(st.log_path, (dir_ / "ok" / "trial.log").string());
}

TEST_F(LocalRunnerTest, NonZeroExitIsError) {
  LocalRunner runner(Fast());
  ASSERT_TRUE(runner.Launch(Sh("one", "exit 1")).ok());
  ASSERT_TRUE(runner.Launch(Sh("seven", "exit 7")).ok());
  RunStatus st = WaitTerminal(runner, "one");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Error");
  EXPECT_EQ(st.message, "exit status 1");
  EXPECT_EQ(st.exit_code, 1);
  st = WaitTerminal(runner, "seven");
  EXPECT_EQ(st.message, "exit status 7");
  EXPECT_EQ(st.exit_code, 7);
}

TEST_F(LocalRunnerTest, DeathBySignalIsReported) {
  LocalRunner runner(Fast());
  ASSERT_TRUE(runner.Launch(Sh("killed", "kill -9 $$")).ok());
  RunStatus st = WaitTerminal(runner, "killed");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Signal");
  EXPECT_EQ(st.message, "killed by signal 9 (Killed)");
  EXPECT_EQ(st.exit_code, std::nullopt);
}

TEST_F(LocalRunnerTest, CommandNotFoundIsLaunchFailed) {
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("missing", "");
  l.argv = {"hpt-no-such-command-4711", "--flag"};
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "missing");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "LaunchFailed");
  EXPECT_EQ(st.message, "cannot execute 'hpt-no-such-command-4711': No such file or directory");

  l = Sh("missing-path", "");
  l.argv = {(dir_ / "nowhere" / "train").string()};
  ASSERT_TRUE(runner.Launch(l).ok());
  st = WaitTerminal(runner, "missing-path");
  EXPECT_EQ(st.reason, "LaunchFailed");
  EXPECT_EQ(st.message, absl::StrCat("cannot execute '", (dir_ / "nowhere" / "train").string(),
                                     "': No such file or directory"));
}

TEST_F(LocalRunnerTest, FileWithoutExecutePermissionIsLaunchFailed) {
  // No execute bit at all: even root gets EACCES.
  const fs::path script = dir_ / "not-executable.sh";
  WriteFile(script, "#!/bin/sh\nexit 0\n");
  chmod(script.c_str(), 0644);
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("noexec", "");
  l.argv = {script.string()};
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "noexec");
  EXPECT_EQ(st.reason, "LaunchFailed");
  EXPECT_EQ(st.message, absl::StrCat("cannot execute '", script.string(), "': Permission denied"));
}

TEST_F(LocalRunnerTest, EnvironmentIsTheRunnersPlusOverrides) {
  ASSERT_EQ(setenv("HPT_RUNNER_TEST_BASE", "from-runner", 1), 0);
  ASSERT_EQ(setenv("HPT_RUNNER_TEST_OVERRIDDEN", "old", 1), 0);
  ASSERT_EQ(setenv("CUDA_VISIBLE_DEVICES", "7", 1), 0);
  LocalRunner runner(Fast());  // captures the environment now
  unsetenv("HPT_RUNNER_TEST_BASE");
  unsetenv("HPT_RUNNER_TEST_OVERRIDDEN");
  unsetenv("CUDA_VISIBLE_DEVICES");

  TrialLaunch l = Sh("env",
                     "printf '%s|%s|%s|%s\\n' \"$HPT_RUNNER_TEST_BASE\" "
                     "\"$HPT_RUNNER_TEST_OVERRIDDEN\" \"$HPT_TRIAL_ID\" "
                     "\"$CUDA_VISIBLE_DEVICES\" > env.txt");
  l.env = {{"HPT_RUNNER_TEST_OVERRIDDEN", "new value"}, {"HPT_TRIAL_ID", "env-42"}};
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "env");
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.message;
  // GPUs are not managed: CUDA_VISIBLE_DEVICES passes through untouched.
  EXPECT_EQ(ReadFile(dir_ / "env" / "env.txt"), "from-runner|new value|env-42|7\n");
}

TEST_F(LocalRunnerTest, CommandIsLookedUpInTheTrialsPath) {
  const fs::path bin = dir_ / "bin";
  fs::create_directories(bin);
  WriteFile(bin / "hpt-test-tool", "#!/bin/sh\necho \"tool ran with $1\"\n");
  chmod((bin / "hpt-test-tool").c_str(), 0755);
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("path", "");
  l.argv = {"hpt-test-tool", "arg1"};
  l.env = {{"PATH", absl::StrCat(dir_.string(), "/empty:", bin.string(), ":/usr/bin:/bin")}};
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "path");
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.reason << ": " << st.message;
  EXPECT_EQ(ReadFile(st.log_path), "tool ran with arg1\n");
}

TEST_F(LocalRunnerTest, WorkingDirectoryIsCreatedAndUsed) {
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("wd", "pwd > where.txt");
  const fs::path wd = dir_ / "deep" / "er" / "wd";
  l.working_dir = wd.string();
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "wd");
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.message;
  EXPECT_EQ(ReadFile(wd / "where.txt"), wd.string() + "\n");
  EXPECT_EQ(st.log_path, (wd / "trial.log").string());
  EXPECT_TRUE(fs::exists(wd / "trial.log"));
}

TEST_F(LocalRunnerTest, RelativePathsResolveAgainstTheCurrentDirectory) {
  const fs::path saved = fs::current_path();
  fs::current_path(dir_);
  LocalRunner runner(Fast());
  TrialLaunch here = Sh("here", "pwd");
  here.working_dir = "";
  absl::Status s1 = runner.Launch(here);
  TrialLaunch rel = Sh("rel", "pwd");
  rel.working_dir = "rel/dir/";
  rel.log_path = "logs/rel.log";
  absl::Status s2 = runner.Launch(rel);
  fs::current_path(saved);  // Poll results are absolute; the runner no longer needs it
  ASSERT_TRUE(s1.ok()) << s1;
  ASSERT_TRUE(s2.ok()) << s2;

  RunStatus st = WaitTerminal(runner, "here");
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.message;
  EXPECT_EQ(st.log_path, (dir_ / "trial.log").string());
  EXPECT_EQ(ReadFile(dir_ / "trial.log"), dir_.string() + "\n");
  st = WaitTerminal(runner, "rel");
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.message;
  EXPECT_EQ(st.log_path, (dir_ / "logs" / "rel.log").string());
  EXPECT_EQ(ReadFile(dir_ / "logs" / "rel.log"), (dir_ / "rel" / "dir").string() + "\n");
}

TEST_F(LocalRunnerTest, UncreatableWorkingDirectoryIsLaunchFailed) {
  WriteFile(dir_ / "file", "x");
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("badwd", "exit 0");
  l.working_dir = (dir_ / "file" / "sub").string();
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "badwd");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "LaunchFailed");
  EXPECT_THAT(st.message,
              StartsWith(absl::StrCat("cannot create working directory '", l.working_dir, "'")));
}

TEST_F(LocalRunnerTest, LogCapturesStdoutAndStderrAndAppends) {
  const fs::path log = dir_ / "logs" / "nested" / "run.log";
  fs::create_directories(log.parent_path());
  WriteFile(log, "earlier run\n");
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("log",
                     "echo out; echo err >&2; "
                     "if read line; then echo \"stdin: $line\"; else echo 'stdin: eof'; fi");
  l.log_path = log.string();
  ASSERT_TRUE(runner.Launch(l).ok());
  RunStatus st = WaitTerminal(runner, "log");
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.message;
  EXPECT_EQ(st.log_path, log.string());
  EXPECT_EQ(ReadFile(log), "earlier run\nout\nerr\nstdin: eof\n");

  // Parent directories of the log are created.
  const fs::path log2 = dir_ / "new" / "dirs" / "run.log";
  l = Sh("log2", "echo hi");
  l.log_path = log2.string();
  ASSERT_TRUE(runner.Launch(l).ok());
  EXPECT_EQ(WaitTerminal(runner, "log2").phase, RunPhase::kSucceeded);
  EXPECT_EQ(ReadFile(log2), "hi\n");
}

TEST_F(LocalRunnerTest, RunnerFileDescriptorsAreNotInherited) {
  int leaked = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 3);
  LocalRunner runner(Fast());
  ASSERT_TRUE(runner
                  .Launch(Sh("fds", absl::StrCat("if [ -e /proc/$$/fd/", leaked,
                                                 " ]; then echo leaked; else echo closed; fi")))
                  .ok());
  RunStatus st = WaitTerminal(runner, "fds");
  close(leaked);
  ASSERT_EQ(st.phase, RunPhase::kSucceeded) << st.message;
  EXPECT_EQ(ReadFile(st.log_path), "closed\n");
}

TEST_F(LocalRunnerTest, IgnoredSignalsAreResetInTheChild) {
  LocalRunner runner(Fast());
  // A shell cannot un-ignore a signal ignored at its start, so this only dies if the runner reset
  // the disposition.
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGUSR1, &ignore, &old), 0);
  absl::Status s = runner.Launch(Sh("usr1", "kill -USR1 $$; exit 3"));
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  RunStatus st = WaitTerminal(runner, "usr1");
  EXPECT_EQ(st.reason, "Signal");
  EXPECT_EQ(st.message, "killed by signal 10 (User defined signal 1)");
}

TEST_F(LocalRunnerTest, DeadlineKillsTheWholeProcessGroup) {
  LocalRunner runner(Fast(/*grace_seconds=*/0.5));
  TrialLaunch l = Sh("slow", "sleep 120 & echo $! > child.pid; sleep 120");
  l.deadline_seconds = 2;
  ASSERT_TRUE(runner.Launch(l).ok());
  pid_t child = ReadPid(dir_ / "slow" / "child.pid");
  ASSERT_GT(child, 0);
  RunStatus st = WaitTerminal(runner, "slow");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "DeadlineExceeded");
  EXPECT_EQ(st.message, "exceeded activeDeadlineSeconds=2");
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); })) << "child sleep " << child << " lives";
}

TEST_F(LocalRunnerTest, OrphansAreKilledWhenTheMainProcessExits) {
  LocalRunner runner(Fast());
  ASSERT_TRUE(runner.Launch(Sh("orphan", "sleep 120 & echo $! > child.pid; exit 0")).ok());
  RunStatus st = WaitTerminal(runner, "orphan");
  EXPECT_EQ(st.phase, RunPhase::kSucceeded);
  pid_t child = ReadPid(dir_ / "orphan" / "child.pid");
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); })) << "orphan " << child << " lives";
}

TEST_F(LocalRunnerTest, CancelSendsSigterm) {
  LocalRunner runner(Fast(/*grace_seconds=*/60));
  ASSERT_TRUE(runner.Launch(Sh("cancel", "echo $$ > main.pid; sleep 120")).ok());
  ReadPid(dir_ / "cancel" / "main.pid");
  ASSERT_TRUE(runner.Cancel("cancel").ok());
  RunStatus st = WaitTerminal(runner, "cancel");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Cancelled");
  // The shell died of SIGTERM well before the 60 s grace period: no SIGKILL was needed.
  EXPECT_EQ(st.message, "cancelled; killed by signal 15 (Terminated)");
  // Cancelling a finished trial is fine and changes nothing.
  EXPECT_TRUE(runner.Cancel("cancel").ok());
  EXPECT_EQ(runner.Poll("cancel")->message, st.message);
}

TEST_F(LocalRunnerTest, CancelEscalatesToSigkillAfterTheGracePeriod) {
  LocalRunner runner(Fast(/*grace_seconds=*/0.3));
  ASSERT_TRUE(
      runner.Launch(Sh("stubborn", "trap '' TERM; echo ready > ready; while :; do sleep 1; done"))
          .ok());
  WaitForLine(dir_ / "stubborn" / "ready");
  ASSERT_TRUE(runner.Cancel("stubborn").ok());
  RunStatus st = WaitTerminal(runner, "stubborn");
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Cancelled");
  EXPECT_EQ(st.message, "cancelled; killed by SIGKILL after the 300ms grace period");
}

TEST_F(LocalRunnerTest, TerminatingTrialIsRunningUntilItExits) {
  std::unique_ptr<LocalRunner> runner = std::make_unique<LocalRunner>(Fast(/*grace_seconds=*/600));
  ASSERT_TRUE(
      runner->Launch(Sh("stubborn", "trap '' TERM; echo $$ > main.pid; while :; do sleep 1; done"))
          .ok());
  pid_t main_pid = ReadPid(dir_ / "stubborn" / "main.pid");
  ASSERT_TRUE(runner->Cancel("stubborn").ok());
  // The script ignores SIGTERM and the grace period is long: it is still running.
  absl::StatusOr<RunStatus> st = runner->Poll("stubborn");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->phase, RunPhase::kRunning);
  EXPECT_EQ(st->reason, "Terminating");
  EXPECT_THAT(st->message, HasSubstr("SIGTERM sent to process group"));
  // The destructor does not wait for the whole grace period (shutdown_grace_seconds applies).
  runner.reset();
  EXPECT_TRUE(ProcessGone(main_pid));
}

TEST_F(LocalRunnerTest, DestructorLeavesNoProcessBehind) {
  pid_t mains[2], children[2];
  {
    LocalRunnerOptions o = Fast();
    o.shutdown_grace_seconds = 0.2;
    LocalRunner runner(o);
    ASSERT_TRUE(
        runner.Launch(Sh("plain", "echo $$ > main.pid; sleep 120 & echo $! > child.pid; wait"))
            .ok());
    ASSERT_TRUE(runner
                    .Launch(Sh("stubborn",
                               "trap '' TERM; echo $$ > main.pid; sleep 120 & echo $! > child.pid; "
                               "while :; do sleep 1; done"))
                    .ok());
    mains[0] = ReadPid(dir_ / "plain" / "main.pid");
    children[0] = ReadPid(dir_ / "plain" / "child.pid");
    mains[1] = ReadPid(dir_ / "stubborn" / "main.pid");
    children[1] = ReadPid(dir_ / "stubborn" / "child.pid");
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_GT(mains[i], 0);
    ASSERT_GT(children[i], 0);
    // The main processes were reaped by the destructor.
    EXPECT_TRUE(ProcessGone(mains[i])) << mains[i];
    EXPECT_TRUE(WaitFor([&] { return ProcessGone(children[i]); })) << children[i];
  }
}

TEST_F(LocalRunnerTest, GpuSlotsAreHandedOutLowestFirstAndQueued) {
  LocalRunnerOptions o = Fast();
  o.gpus = std::vector<int>{0, 1};
  LocalRunner runner(o);
  // Each trial writes its CUDA_VISIBLE_DEVICES and runs until its "release" file appears.
  auto gpu_trial = [&](const std::string& name, int gpus) {
    TrialLaunch l = Sh(name,
                       "echo \"[$CUDA_VISIBLE_DEVICES]\" > cvd; "
                       "while [ ! -f release ]; do sleep 0.02; done");
    l.gpus = gpus;
    return l;
  };
  auto release = [&](const std::string& name) { WriteFile(dir_ / name / "release", ""); };

  ASSERT_TRUE(runner.Launch(gpu_trial("a", 1)).ok());
  ASSERT_TRUE(runner.Launch(gpu_trial("b", 1)).ok());
  ASSERT_TRUE(runner.Launch(gpu_trial("c", 1)).ok());
  EXPECT_EQ(PhaseOf(runner, "a"), RunPhase::kRunning);
  EXPECT_EQ(PhaseOf(runner, "b"), RunPhase::kRunning);
  absl::StatusOr<RunStatus> c = runner.Poll("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->phase, RunPhase::kPending);
  EXPECT_EQ(c->reason, "WaitingForGPU");
  EXPECT_EQ(WaitForLine(dir_ / "a" / "cvd"), "[0]");
  EXPECT_EQ(WaitForLine(dir_ / "b" / "cvd"), "[1]");

  // A trial without GPUs does not wait and sees none.
  ASSERT_TRUE(runner.Launch(gpu_trial("cpu", 0)).ok());
  EXPECT_EQ(PhaseOf(runner, "cpu"), RunPhase::kRunning);
  EXPECT_EQ(WaitForLine(dir_ / "cpu" / "cvd"), "[]");

  // More GPUs than the runner has: Unschedulable at once.
  ASSERT_TRUE(runner.Launch(gpu_trial("huge", 3)).ok());
  absl::StatusOr<RunStatus> huge = runner.Poll("huge");
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->phase, RunPhase::kFailed);
  EXPECT_EQ(huge->reason, "Unschedulable");
  EXPECT_EQ(huge->message, "trial asks for 3 GPU(s) but this runner manages 2 (ids [0,1])");

  // "a" ends: "c" gets the freed GPU 0.
  EXPECT_EQ(PhaseOf(runner, "c"), RunPhase::kPending);
  release("a");
  EXPECT_EQ(WaitTerminal(runner, "a").phase, RunPhase::kSucceeded);
  EXPECT_TRUE(WaitFor([&] { return PhaseOf(runner, "c") == RunPhase::kRunning; }));
  EXPECT_EQ(WaitForLine(dir_ / "c" / "cvd"), "[0]");

  for (const char* name : {"b", "c", "cpu"}) {
    release(name);
    EXPECT_EQ(WaitTerminal(runner, name).phase, RunPhase::kSucceeded) << name;
  }
}

TEST_F(LocalRunnerTest, GpuQueueIsFirstInFirstOut) {
  LocalRunnerOptions o = Fast();
  o.gpus = std::vector<int>{3, 5};
  LocalRunner runner(o);
  auto gpu_trial = [&](const std::string& name, int gpus) {
    TrialLaunch l = Sh(name,
                       "echo \"[$CUDA_VISIBLE_DEVICES]\" > cvd; "
                       "while [ ! -f release ]; do sleep 0.02; done");
    l.gpus = gpus;
    return l;
  };
  auto release = [&](const std::string& name) { WriteFile(dir_ / name / "release", ""); };

  ASSERT_TRUE(runner.Launch(gpu_trial("first", 1)).ok());
  ASSERT_TRUE(runner.Launch(gpu_trial("big", 2)).ok());
  // One GPU is free, but "small" queues behind "big".
  ASSERT_TRUE(runner.Launch(gpu_trial("small", 1)).ok());
  ASSERT_TRUE(runner.Launch(gpu_trial("dropped", 1)).ok());
  EXPECT_EQ(WaitForLine(dir_ / "first" / "cvd"), "[3]");
  EXPECT_EQ(PhaseOf(runner, "big"), RunPhase::kPending);
  EXPECT_EQ(PhaseOf(runner, "small"), RunPhase::kPending);

  // Cancelling a queued trial ends it at once.
  ASSERT_TRUE(runner.Cancel("dropped").ok());
  absl::StatusOr<RunStatus> dropped = runner.Poll("dropped");
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->phase, RunPhase::kFailed);
  EXPECT_EQ(dropped->reason, "Cancelled");
  EXPECT_EQ(dropped->message, "cancelled while waiting for GPUs");

  release("first");
  EXPECT_EQ(WaitForLine(dir_ / "big" / "cvd"), "[3,5]");
  EXPECT_EQ(PhaseOf(runner, "small"), RunPhase::kPending);
  release("big");
  EXPECT_EQ(WaitForLine(dir_ / "small" / "cvd"), "[3]");
  release("small");
  EXPECT_EQ(WaitTerminal(runner, "small").phase, RunPhase::kSucceeded);
  EXPECT_FALSE(fs::exists(dir_ / "dropped"));  // never started
}

TEST_F(LocalRunnerTest, ZeroManagedGpus) {
  LocalRunnerOptions o = Fast();
  o.gpus = std::vector<int>{};
  LocalRunner runner(o);
  TrialLaunch l = Sh("gpu", "exit 0");
  l.gpus = 1;
  ASSERT_TRUE(runner.Launch(l).ok());
  EXPECT_EQ(runner.Poll("gpu")->reason, "Unschedulable");
  ASSERT_TRUE(runner.Launch(Sh("cpu", "echo \"[$CUDA_VISIBLE_DEVICES]\"")).ok());
  RunStatus st = WaitTerminal(runner, "cpu");
  EXPECT_EQ(st.phase, RunPhase::kSucceeded);
  EXPECT_EQ(ReadFile(st.log_path), "[]\n");
}

TEST_F(LocalRunnerTest, UnmanagedGpusIgnoreTheRequest) {
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("gpu", "exit 0");
  l.gpus = 8;
  ASSERT_TRUE(runner.Launch(l).ok());
  EXPECT_EQ(WaitTerminal(runner, "gpu").phase, RunPhase::kSucceeded);
}

TEST_F(LocalRunnerTest, BadCallsReturnExactErrors) {
  LocalRunner runner(Fast());
  ASSERT_TRUE(runner.Launch(Sh("dup", "exit 0")).ok());
  absl::Status s = runner.Launch(Sh("dup", "exit 0"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr("trial 'dup' already exists"));
  WaitTerminal(runner, "dup");
  EXPECT_EQ(runner.Launch(Sh("dup", "exit 0")).code(), absl::StatusCode::kAlreadyExists);

  EXPECT_EQ(runner.Poll("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runner.Cancel("nope").code(), absl::StatusCode::kNotFound);

  TrialLaunch l = Sh("empty-argv", "");
  l.argv.clear();
  s = runner.Launch(l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("argv is empty"));
  l.argv = {""};
  EXPECT_EQ(runner.Launch(l).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runner.Poll("empty-argv").status().code(), absl::StatusCode::kNotFound);

  l = Sh("", "exit 0");
  EXPECT_EQ(runner.Launch(l).code(), absl::StatusCode::kInvalidArgument);
  l = Sh("neg-gpus", "exit 0");
  l.gpus = -1;
  EXPECT_EQ(runner.Launch(l).code(), absl::StatusCode::kInvalidArgument);
  l = Sh("zero-deadline", "exit 0");
  l.deadline_seconds = 0;
  EXPECT_EQ(runner.Launch(l).code(), absl::StatusCode::kInvalidArgument);
  l = Sh("bad-env", "exit 0");
  l.env = {{"A=B", "c"}};
  EXPECT_EQ(runner.Launch(l).code(), absl::StatusCode::kInvalidArgument);
  l = Sh("nul", "exit 0");
  l.argv.push_back(std::string("a\0b", 3));
  EXPECT_EQ(runner.Launch(l).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LocalRunnerTest, AdoptListsTheStudysTrialsOfThisInstance) {
  LocalRunner runner(Fast());
  TrialLaunch l = Sh("b-trial", "exit 0");
  l.study_name = "s1";
  ASSERT_TRUE(runner.Launch(l).ok());
  l = Sh("a-trial", "exit 1");
  l.study_name = "s1";
  ASSERT_TRUE(runner.Launch(l).ok());
  l = Sh("other", "exit 0");
  l.study_name = "s2";
  ASSERT_TRUE(runner.Launch(l).ok());
  WaitTerminal(runner, "a-trial");
  WaitTerminal(runner, "b-trial");

  absl::StatusOr<std::vector<RunStatus>> adopted = runner.Adopt("s1");
  ASSERT_TRUE(adopted.ok());
  ASSERT_EQ(adopted->size(), 2u);
  EXPECT_EQ((*adopted)[0].trial_name, "a-trial");
  EXPECT_EQ((*adopted)[0].reason, "Error");
  EXPECT_EQ((*adopted)[1].trial_name, "b-trial");
  EXPECT_EQ((*adopted)[1].reason, "Completed");

  // A new instance (as after an engine restart) knows nothing.
  LocalRunner fresh(Fast());
  adopted = fresh.Adopt("s1");
  ASSERT_TRUE(adopted.ok());
  EXPECT_TRUE(adopted->empty());
}

TEST(LocalRunnerOptionsTest, ValidationNamesTheBadMember) {
  LocalRunnerOptions o;
  EXPECT_TRUE(ValidateLocalRunnerOptions(o).ok());
  o.gpus = std::vector<int>{0, 1, 0};
  absl::Status s = ValidateLocalRunnerOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("LocalRunnerOptions.gpus: GPU id 0 is listed twice"));
  o.gpus = std::vector<int>{-1};
  EXPECT_EQ(ValidateLocalRunnerOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o.gpus.reset();
  o.grace_period_seconds = -1;
  s = ValidateLocalRunnerOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("grace_period_seconds"));
  o.grace_period_seconds = 1;
  o.poll_interval_ms = 0;
  EXPECT_EQ(ValidateLocalRunnerOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalRunner::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.poll_interval_ms = 10;
  absl::StatusOr<std::unique_ptr<LocalRunner>> runner = LocalRunner::Create(o);
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_NE(*runner, nullptr);
}

// ---- Process records, Reclaim after an engine restart, the heartbeat ----

// Starts `script` under /bin/sh in a process group of its own, like a trial's process that an
// engine killed with SIGKILL left behind. The process is this test's child: reap it.
pid_t StartGroup(const std::string& script) {
  const char* text = script.c_str();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", text, static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

// Reaps `pid` (a child of this test) and returns its wait status.
int Reap(pid_t pid) {
  int ws = 0;
  pid_t w;
  do {
    w = waitpid(pid, &ws, 0);
  } while (w < 0 && errno == EINTR);
  EXPECT_EQ(w, pid);
  return ws;
}

// True while `pid` runs (exists and is not a zombie).
bool Alive(pid_t pid) { return !ProcessGone(pid); }

class ReclaimTest : public LocalRunnerTest {
 protected:
  // The launch a restarted engine would make for trial `name`: its log in dir_/<name>/.
  TrialLaunch Lost(const std::string& name) {
    TrialLaunch l = Sh(name, "exit 0");
    l.log_path = (dir_ / name / "trial.log").string();
    fs::create_directories(dir_ / name);
    return l;
  }
  std::string RecordPath(const std::string& name) {
    return ProcessRecordPath((dir_ / name / "trial.log").string());
  }
  // Leaves a record of process `pid` for trial `name`, as the runner that started it would have.
  void LeaveRecord(const std::string& name, pid_t pid, int attempt,
                   const std::function<void(ProcessRecord&)>& edit = nullptr) {
    absl::StatusOr<ProcessRecord> r = RecordOfProcess(pid, name, attempt);
    ASSERT_TRUE(r.ok()) << r.status();
    if (edit) edit(*r);
    ASSERT_TRUE(WriteProcessRecord(RecordPath(name), *r).ok());
  }
  static LocalRunnerOptions ShortShutdownGrace() {
    LocalRunnerOptions o = Fast();
    o.shutdown_grace_seconds = 0.2;
    return o;
  }
};

TEST_F(ReclaimTest, RecordRoundTripsAndBadRecordsAreDataLoss) {
  fs::create_directories(dir_ / "r");
  const std::string path = RecordPath("r");
  EXPECT_EQ(path, (dir_ / "r" / "trial.log.hpt-process").string());
  EXPECT_EQ(ReadProcessRecord(path).status().code(), absl::StatusCode::kNotFound);
  const ProcessRecord in{.trial_name = "odd name=with spaces\nand a newline",
                         .attempt = 3,
                         .pid = 4242,
                         .pgid = 4242,
                         .start_time = 123456789012ULL,
                         .boot_id = "0f3c1b2a-boot"};
  ASSERT_TRUE(WriteProcessRecord(path, in).ok());
  absl::StatusOr<ProcessRecord> out = ReadProcessRecord(path);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->trial_name, in.trial_name);
  EXPECT_EQ(out->attempt, 3);
  EXPECT_EQ(out->pid, 4242);
  EXPECT_EQ(out->pgid, 4242);
  EXPECT_EQ(out->start_time, 123456789012ULL);
  EXPECT_EQ(out->boot_id, "0f3c1b2a-boot");
  // Nothing else is left beside it (the temporary file was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "r"), fs::directory_iterator()), 1);

  for (const std::string& bad :
       {std::string("garbage"), std::string("hpt-process 1\npid=1\n"),
        std::string("hpt-process 1\npid=x\npgid=1\nstart_time=1\nattempt=1\ntrial=t\n"),
        std::string("hpt-process 1\npid=1\npgid=1\nstart_time=1\nattempt=1\ntrial=t"),
        std::string("hpt-process 1\npid=1\nstart_time=1\nattempt=1\ntrial=t\n")}) {
    WriteFile(path, bad);
    absl::StatusOr<ProcessRecord> r = ReadProcessRecord(path);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr(path + " is not a process record")) << bad;
  }
  EXPECT_EQ(RecordOfProcess(0x3fffffff, "t", 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReclaimTest, RunnerKeepsARecordWhileTheProcessRunsAndRemovesIt) {
  LocalRunner runner(Fast(/*grace_seconds=*/60));
  TrialLaunch l = Sh("rec", "echo $$ > main.pid; sleep 120");
  l.attempt = 3;
  ASSERT_TRUE(runner.Launch(l).ok());
  const pid_t pid = ReadPid(dir_ / "rec" / "main.pid");
  absl::StatusOr<ProcessRecord> r = ReadProcessRecord(RecordPath("rec"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trial_name, "rec");
  EXPECT_EQ(r->attempt, 3);
  EXPECT_EQ(r->pid, pid);
  EXPECT_EQ(r->pgid, pid);
  absl::StatusOr<ProcessRecord> now = RecordOfProcess(pid, "rec", 3);
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(r->start_time, now->start_time);
  EXPECT_FALSE(r->boot_id.empty());
  EXPECT_EQ(r->boot_id, now->boot_id);
  EXPECT_EQ(runner.Poll("rec")->message, absl::StrCat("pid ", pid));

  // This runner runs it: Reclaim is not for it.
  absl::StatusOr<Reclaimed> mine = runner.Reclaim(Lost("rec"));
  EXPECT_EQ(mine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(mine.status().message(), HasSubstr("this runner is running it"));

  ASSERT_TRUE(runner.Cancel("rec").ok());
  EXPECT_EQ(WaitTerminal(runner, "rec").reason, "Cancelled");
  EXPECT_FALSE(fs::exists(RecordPath("rec")));
  absl::StatusOr<Reclaimed> ended = runner.Reclaim(Lost("rec"));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->attempt, 3);
  EXPECT_EQ(ended->message, "attempt 3 already ended in this runner");
}

TEST_F(ReclaimTest, StopsTheProcessGroupAnEarlierEngineLeftRunning) {
  fs::create_directories(dir_ / "orphan");
  const fs::path child_file = dir_ / "orphan" / "child.pid";
  const pid_t leader = StartGroup("sleep 120 & echo $! > " + child_file.string() + "; wait");
  LeaveRecord("orphan", leader, 2);
  const pid_t child = ReadPid(child_file);
  ASSERT_GT(child, 0);

  LocalRunner runner(ShortShutdownGrace());  // the next engine's runner
  absl::StatusOr<Reclaimed> r = runner.Reclaim(Lost("orphan"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 2);
  EXPECT_EQ(r->message,
            absl::StrCat("process ", leader, " (attempt 2) was still running (process group ",
                         leader, "); stopped it with SIGTERM"));
  const int ws = Reap(leader);
  ASSERT_TRUE(WIFSIGNALED(ws)) << ws;
  EXPECT_EQ(WTERMSIG(ws), SIGTERM);
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); })) << "child " << child << " lives";
  EXPECT_FALSE(fs::exists(RecordPath("orphan")));  // it has served
  // Reclaim does not launch anything, and the runner still takes the trial.
  EXPECT_EQ(runner.Poll("orphan").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(runner.Launch(Lost("orphan")).ok());
  EXPECT_EQ(WaitTerminal(runner, "orphan").phase, RunPhase::kSucceeded);
}

TEST_F(ReclaimTest, EscalatesToSigkillAfterTheShutdownGrace) {
  fs::create_directories(dir_ / "stubborn");
  const fs::path ready = dir_ / "stubborn" / "ready";
  const pid_t leader =
      StartGroup("trap '' TERM; echo ready > " + ready.string() + "; while :; do sleep 1; done");
  LeaveRecord("stubborn", leader, 1);
  WaitForLine(ready);
  LocalRunner runner(ShortShutdownGrace());
  absl::StatusOr<Reclaimed> r = runner.Reclaim(Lost("stubborn"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message,
            absl::StrCat("process ", leader, " (attempt 1) was still running (process group ",
                         leader, "); killed it with SIGKILL after the 200ms grace period"));
  const int ws = Reap(leader);
  ASSERT_TRUE(WIFSIGNALED(ws)) << ws;
  EXPECT_EQ(WTERMSIG(ws), SIGKILL);
}

TEST_F(ReclaimTest, StopsWhatIsLeftOfAGroupWhoseLeaderExited) {
  fs::create_directories(dir_ / "left");
  const fs::path child_file = dir_ / "left" / "child.pid";
  const pid_t leader = StartGroup("sleep 120 & echo $! > " + child_file.string() + "; exit 0");
  LeaveRecord("left", leader, 1);
  const pid_t child = ReadPid(child_file);
  EXPECT_EQ(Reap(leader), 0);  // the leader is gone; its group lives on in `child`
  ASSERT_TRUE(Alive(child));
  LocalRunner runner(ShortShutdownGrace());
  absl::StatusOr<Reclaimed> r = runner.Reclaim(Lost("left"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message,
            absl::StrCat("process ", leader, " (attempt 1) was still running (process group ",
                         leader, "); stopped it with SIGTERM"));
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); })) << "child " << child << " lives";
}

// The orphan's main process moved itself into another process group: its own group is empty,
// and the process is stopped on its own.
TEST_F(ReclaimTest, StopsALeaderThatLeftItsGroup) {
  fs::create_directories(dir_ / "mover");
  const fs::path moved = dir_ / "mover" / "moved";
  const pid_t leader = StartGroup(
      "exec python3 -c 'import os, time\n"
      "child = os.fork()\n"
      "if child == 0:\n"
      "    time.sleep(120)\n"
      "    os._exit(0)\n"
      "os.setpgid(child, child)\n"
      "os.setpgid(0, child)\n"
      "open(\"" +
      moved.string() +
      "\", \"w\").write(\"%d\\n\" % child)\n"
      "time.sleep(120)\n'");
  LeaveRecord("mover", leader, 1);
  const pid_t child = ReadPid(moved);
  ASSERT_GT(child, 0);
  LocalRunner runner(ShortShutdownGrace());
  absl::StatusOr<Reclaimed> r = runner.Reclaim(Lost("mover"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message,
            absl::StrCat("process ", leader, " (attempt 1) was still running (process group ",
                         leader, "); stopped it with SIGTERM"));
  const int ws = Reap(leader);
  ASSERT_TRUE(WIFSIGNALED(ws)) << ws;
  EXPECT_EQ(WTERMSIG(ws), SIGTERM);
  kill(-child, SIGKILL);  // it left the trial's group, like a setsid() child
}

// A record whose pid now names another process (its start time differs) must never lead to a
// signal: that process is not the trial's.
TEST_F(ReclaimTest, NeverSignalsARecycledPid) {
  const pid_t stranger = StartGroup("sleep 120");
  LocalRunner runner(ShortShutdownGrace());

  fs::create_directories(dir_ / "recycled");
  LeaveRecord("recycled", stranger, 1, [](ProcessRecord& r) { r.start_time -= 1; });
  absl::StatusOr<Reclaimed> r = runner.Reclaim(Lost("recycled"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->message,
            absl::StrCat("process ", stranger,
                         " (attempt 1) has exited and its pid now belongs to another "
                         "process, which was left alone: nothing of the trial is left"));

  // Same pid and start time, but from before a reboot.
  fs::create_directories(dir_ / "rebooted");
  LeaveRecord("rebooted", stranger, 4, [](ProcessRecord& r) { r.boot_id = "another-boot"; });
  r = runner.Reclaim(Lost("rebooted"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempt, 4);
  EXPECT_EQ(r->message, absl::StrCat("process ", stranger,
                                     " (attempt 4) ran before the machine restarted: nothing of it "
                                     "is left"));

  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the shutdown grace
  EXPECT_TRUE(Alive(stranger));
  EXPECT_FALSE(fs::exists(RecordPath("recycled")));
  EXPECT_FALSE(fs::exists(RecordPath("rebooted")));
  kill(-stranger, SIGKILL);
  Reap(stranger);
}

TEST_F(ReclaimTest, NothingLeftAndRecordsThatCannotBeTrusted) {
  LocalRunner runner(ShortShutdownGrace());
  absl::StatusOr<Reclaimed> none = runner.Reclaim(Lost("none"));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->attempt, 0);
  EXPECT_EQ(none->message, absl::StrCat("no process record at ", RecordPath("none"),
                                        ": no process of the trial is left"));

  const pid_t gone = StartGroup("exit 0");
  fs::create_directories(dir_ / "gone");
  LeaveRecord("gone", gone, 1);
  Reap(gone);
  absl::StatusOr<Reclaimed> exited = runner.Reclaim(Lost("gone"));
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_EQ(exited->message,
            absl::StrCat("process ", gone, " (attempt 1) has exited: nothing of it is left"));

  fs::create_directories(dir_ / "mine");
  ASSERT_TRUE(
      WriteProcessRecord(RecordPath("mine"), {.trial_name = "other", .pid = 1, .pgid = 1}).ok());
  absl::StatusOr<Reclaimed> other = runner.Reclaim(Lost("mine"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("belongs to trial 'other'"));
  EXPECT_TRUE(fs::exists(RecordPath("mine")));  // not ours to remove

  fs::create_directories(dir_ / "garbled");
  WriteFile(RecordPath("garbled"), "hpt-process 1\npid=");
  absl::StatusOr<Reclaimed> garbled = runner.Reclaim(Lost("garbled"));
  EXPECT_EQ(garbled.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(garbled.status().message(), HasSubstr("cannot tell whether its process still runs"));

  EXPECT_EQ(runner.Reclaim(TrialLaunch{}).status().code(), absl::StatusCode::kInvalidArgument);
}

// Heartbeat: a process whose exit status this runner never gets (here the kernel discards it:
// SIGCHLD is ignored) ends the trial "Lost" at the next look, and nothing is signalled (its pid
// may already be reused).
TEST_F(LocalRunnerTest, ProcessThatVanishedIsLost) {
  LocalRunner runner(Fast());
  struct sigaction ignore, old;
  memset(&ignore, 0, sizeof(ignore));
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGCHLD, &ignore, &old), 0);
  ASSERT_TRUE(runner.Launch(Sh("victim", "echo $$ > main.pid; exit 3")).ok());
  const pid_t pid = ReadPid(dir_ / "victim" / "main.pid");
  RunStatus st = WaitTerminal(runner, "victim");
  sigaction(SIGCHLD, &old, nullptr);
  EXPECT_EQ(st.phase, RunPhase::kFailed);
  EXPECT_EQ(st.reason, "Lost");
  EXPECT_EQ(st.message,
            absl::StrCat("process ", pid,
                         " vanished: its exit status was collected by someone else (is SIGCHLD "
                         "ignored in this process?)"));
  EXPECT_EQ(st.exit_code, std::nullopt);
  EXPECT_FALSE(fs::exists(ProcessRecordPath(st.log_path)));
}

// A main process that moves itself into another process group leaves its own group empty:
// Cancel still reaches it.
TEST_F(LocalRunnerTest, CancelReachesAMainProcessThatLeftItsGroup) {
  LocalRunner runner(Fast(/*grace_seconds=*/60));
  const std::string script =
      "import os, time\n"
      "child = os.fork()\n"
      "if child == 0:\n"
      "    time.sleep(120)\n"
      "    os._exit(0)\n"
      "os.setpgid(child, child)\n"
      "os.setpgid(0, child)\n"
      "with open('moved', 'w') as f:\n"
      "    f.write('%d\\n' % child)\n"
      "time.sleep(120)\n";
  TrialLaunch l = Sh("mover", "");
  l.argv = {"python3", "-c", script};
  ASSERT_TRUE(runner.Launch(l).ok());
  const pid_t child = ReadPid(dir_ / "mover" / "moved");
  ASSERT_TRUE(runner.Cancel("mover").ok());
  RunStatus st = WaitTerminal(runner, "mover");
  EXPECT_EQ(st.reason, "Cancelled");
  EXPECT_EQ(st.message, "cancelled; killed by signal 15 (Terminated)");
  kill(-child, SIGKILL);  // it left the trial's group, like a setsid() child: not the runner's
}

}  // namespace
}  // namespace hpt::runner
