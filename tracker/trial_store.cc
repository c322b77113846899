#include "tracker/trial_store.h"

namespace hpt::tracker {

const char* TrialStateName(TrialState s) {
  switch (s) {
    case TrialState::kPending:
      return "PENDING";
    case TrialState::kRunning:
      return "RUNNING";
    case TrialState::kSucceeded:
      return "SUCCEEDED";
    case TrialState::kFailed:
      return "FAILED";
    case TrialState::kKilled:
      return "KILLED";
    case TrialState::kEarlyStopped:
      return "EARLY_STOPPED";
    case TrialState::kMetricsUnavailable:
      return "METRICS_UNAVAILABLE";
  }
  return "UNKNOWN";
}

absl::StatusOr<TrialState> ParseTrialState(const std::string& name) {
  for (TrialState s : {TrialState::kPending, TrialState::kRunning, TrialState::kSucceeded,
                       TrialState::kFailed, TrialState::kKilled, TrialState::kEarlyStopped,
                       TrialState::kMetricsUnavailable}) {
    if (name == TrialStateName(s)) return s;
  }
  return absl::InvalidArgumentError("unknown trial state \"" + name + "\"");
}

bool IsTerminal(TrialState s) { return s != TrialState::kPending && s != TrialState::kRunning; }

const char* StudyStateName(StudyState s) {
  switch (s) {
    case StudyState::kCreated:
      return "CREATED";
    case StudyState::kRunning:
      return "RUNNING";
    case StudyState::kSucceeded:
      return "SUCCEEDED";
    case StudyState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

}  // namespace hpt::tracker
