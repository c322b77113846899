#include "trial_runner/trial_runner.h"

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

}  // namespace hpt::runner
