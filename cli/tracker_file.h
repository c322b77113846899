// The tracker file as the read-only commands (leaderboard, trials, show, compare, export, ...)
// open it, and the study they name.
#ifndef HPT_CLI_TRACKER_FILE_H_
#define HPT_CLI_TRACKER_FILE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"
#include "tracker/trial_store.h"

namespace hpt::cli {

// Prints "hpt: <message>" on stderr; returns 1, the exit status of a failed command.
int Fail(const absl::Status& s);

// Opens the tracker file at `db`. NotFound (saying how to name another file) when there is none:
// a query never creates one.
absl::StatusOr<std::unique_ptr<tracker::TrialStore>> OpenExisting(const std::string& db);

// The study named `name`, or the only study when `name` is empty. NotFound lists the studies
// there are; InvalidArgument when `name` is empty and the file holds several.
absl::StatusOr<tracker::StudyRecord> ResolveStudy(tracker::TrialStore* store,
                                                  const std::string& name);

// The study's spec (for metric strategies), when its stored text still parses.
std::optional<engine::StudySpec> SpecOf(const tracker::StudyRecord& s);

}  // namespace hpt::cli

#endif  // HPT_CLI_TRACKER_FILE_H_
