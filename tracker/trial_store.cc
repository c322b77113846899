#include "tracker/trial_store.h"

#include "tracker/sqlite_store.h"

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
  for (TrialState s :
       {TrialState::kPending, TrialState::kRunning, TrialState::kSucceeded, TrialState::kFailed,
        TrialState::kKilled, TrialState::kEarlyStopped, TrialState::kMetricsUnavailable}) {
    if (name == TrialStateName(s)) return s;
  }
  return absl::InvalidArgumentError("unknown trial state \"" + name + "\"");
}

const char* FiringStateName(FiringState s) {
  switch (s) {
    case FiringState::kPending:
      return "PENDING";
    case FiringState::kDone:
      return "DONE";
    case FiringState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

const char* RankStrategyName(RankStrategy s) {
  switch (s) {
    case RankStrategy::kObjective:
      return "objective";
    case RankStrategy::kMin:
      return "min";
    case RankStrategy::kMax:
      return "max";
    case RankStrategy::kLatest:
      return "latest";
    case RankStrategy::kBestAtStep:
      return "best-at-step";
  }
  return "unknown";
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

absl::StatusOr<StudyState> ParseStudyState(const std::string& name) {
  for (StudyState s :
       {StudyState::kCreated, StudyState::kRunning, StudyState::kSucceeded, StudyState::kFailed}) {
    if (name == StudyStateName(s)) return s;
  }
  return absl::InvalidArgumentError("unknown study state \"" + name + "\"");
}

absl::StatusOr<std::unique_ptr<TrialStore>> TrialStore::Open(const StoreOptions& options,
                                                             const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(options, path);
  if (!store.ok()) return store.status();
  return std::unique_ptr<TrialStore>(*std::move(store));
}

}  // namespace hpt::tracker
