// StudyExport: one study of a tracker file with everything needed to rebuild it in another file
// (its record, its trials with their parameters and metric points, its events), and its portable
// form, the versioned JSON document "hpt.export/v1" that `hpt export` writes and `hpt import`
// reads.
//
//   absl::StatusOr<StudyExport> e = ReadStudyExport(store, study);  // study: a StudyRecord
//   std::string text = ExportToJson(*e).dump(2);
//   ...
//   absl::StatusOr<StudyExport> back = ParseStudyExport(text);      // path-precise errors
//   RenameStudyExport("quickstart-copy", &*back);                  // optional: a new name
//   absl::StatusOr<tracker::StudyRecord> s = ImportStudyExport(other_store, *back);
//
// The format, hpt.export/v1: one JSON object, written with its fields in this order.
//   format   "hpt.export/v1"                                                       (required)
//   study    {name (required), project, experiment, spec_yaml, spec_path, algorithm,
//             objective_metric, maximize, seed, state, reason, message,
//             annotations {key: value}, created_ms, finished_ms}                   (required)
//   trials   [{name (required), params [{name, value}] in the trial's order, seed, state, reason,
//             message, objective (number or null), attempt, manifest, created_ms, started_ms,
//             finished_ms, metrics [{name, step, value, time_ms}] in insertion order}]
//            in creation order                                                     (required)
//   events   [{trial (a trial's name, or null for a study event), kind, message, time_ms}],
//            oldest first
// States are the tracker's names (study: CREATED, RUNNING, SUCCEEDED, FAILED; trial: PENDING,
// RUNNING, SUCCEEDED, FAILED, KILLED, EARLY_STOPPED, METRICS_UNAVAILABLE). Times are unix
// milliseconds (0 = not yet). Seeds are unsigned 64-bit JSON integers; metric values and
// objectives are JSON numbers written with enough digits to read back the same double. Optional
// fields default to "", 0, false, null, {} or []. Trials' token hashes are not exported: an
// imported trial accepts no report.
// Reading refuses another "format" (a later version needs a later hpt), unknown fields, missing
// required fields, wrong JSON types and values the tracker would refuse, each error naming the
// field by its path, e.g. `trials[3].metrics[7].value: expected a number, got "abc"`.
//
// Thread-safety: free functions over caller-owned values; the store is thread-safe itself.
#ifndef HPT_CLI_STUDY_EXPORT_H_
#define HPT_CLI_STUDY_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "tracker/trial_store.h"

namespace hpt::cli {

inline constexpr char kExportFormat[] = "hpt.export/v1";

// The most attempts an imported trial may have (each costs two state changes to replay).
inline constexpr int kMaxImportAttempts = 10000;

struct ExportedTrial {
  // id, study_id and token_hash are not part of the export (0 / empty).
  tracker::TrialRecord record;
  std::vector<tracker::StoredPoint> points;  // every metric, in insertion order
};

struct ExportedEvent {
  std::string trial;  // the trial's name; empty: a study event
  std::string kind, message;
  int64_t time_ms = 0;
};

struct StudyExport {
  tracker::StudyRecord study;  // id is 0
  std::vector<ExportedTrial> trials;
  std::vector<ExportedEvent> events;  // oldest first

  int64_t PointCount() const;
};

// Reads `study` with its trials, points and events from `store`. Not one snapshot: a study still
// running may gain points between the reads. NotFound when the study or one of its trials
// vanished meanwhile (deleted); Unavailable when the file is locked.
absl::StatusOr<StudyExport> ReadStudyExport(tracker::TrialStore* store,
                                            const tracker::StudyRecord& study);

// The hpt.export/v1 document.
nlohmann::ordered_json ExportToJson(const StudyExport& e);

// Reads an hpt.export/v1 document. InvalidArgument for anything the format does not allow, with
// the JSON path of the bad field (or line and column when the text is not JSON); Unimplemented
// for another hpt.export version.
absl::StatusOr<StudyExport> ParseStudyExport(const std::string& text);
absl::StatusOr<StudyExport> StudyExportFromJson(const nlohmann::ordered_json& j);

// Renames the study to `name` and its trials with it: a trial whose name starts with the old
// study name gets `name` in place of that prefix ("quickstart-00003" -> "copy-00003"), any other
// gets "<name>-" in front of its name. Events follow their trials. InvalidArgument for an empty
// name.
absl::Status RenameStudyExport(const std::string& name, StudyExport* e);

// Creates the study in `store` as `e` describes it: the study and trials with their parameters,
// seeds, states, reasons, messages, objectives and attempts, every metric point (name, step,
// value, time), the events (kind, message, time) in their order, and the study's and trials'
// own times (created/started/finished; TrialStore::Restore*Times). A study exported while it
// RUNNING is stored stopped instead (FAILED, reason ImportedWhileRunning, an event saying so),
// its PENDING and RUNNING trials KILLED: the copy must not be taken up by an hptd on `store`
// while its trials run elsewhere; `hpt resume` runs it again. Nothing is left
// behind when it fails: the partly created study is deleted. AlreadyExists when the study's name
// or a trial's name is taken in `store` (the message says which and suggests --name);
// InvalidArgument for what the store refuses; Unavailable when the file is locked.
absl::StatusOr<tracker::StudyRecord> ImportStudyExport(tracker::TrialStore* store,
                                                       const StudyExport& e);

}  // namespace hpt::cli

#endif  // HPT_CLI_STUDY_EXPORT_H_
