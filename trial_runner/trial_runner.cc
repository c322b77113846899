#include "trial_runner/trial_runner.h"

#include "absl/strings/str_cat.h"

namespace hpt::runner {

const char* RunPhaseName(RunPhase p) {
  switch (p) {
    case RunPhase::kPending:
      return "Pending";
    case RunPhase::kRunning:
      return "Running";
    case RunPhase::kSucceeded:
      return "Succeeded";
    case RunPhase::kFailed:
      return "Failed";
    case RunPhase::kPreempted:
      return "Preempted";
  }
  return "Unknown";
}

absl::StatusOr<Reclaimed> TrialRunner::Reclaim(const TrialLaunch& launch) {
  return absl::UnimplementedError(
      absl::StrCat("this runner cannot find what an earlier instance left of trial '",
                   launch.trial_name, "'; only trials it still knows (Adopt) can be followed"));
}

absl::Status TrialRunner::Purge(const std::string&) { return absl::OkStatus(); }

}  // namespace hpt::runner
