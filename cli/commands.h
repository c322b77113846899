// The hpt subcommands. Each returns the process exit status: 0 success, 1 failure (a message on
// stderr says what and where), 2 usage errors (CLI11).
#ifndef HPT_CLI_COMMANDS_H_
#define HPT_CLI_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tracker/trial_store.h"

namespace hpt::cli {

struct GlobalOptions {
  std::string db = "hpt.db";
};

struct RunOptions {
  std::string study;
  std::string name;
  std::string gpus;      // "0,1" or empty
  std::string runs_dir;  // empty: <dir of db>/hpt-runs
  bool let_running_finish = false;
  int top = 10;
  // Where trials run: "local" (processes on this machine) or "kubernetes" (a batch/v1 Job per
  // trial in the study's namespace).
  std::string runner = "local";
  std::string kubeconfig;  // --kubeconfig; empty: $KUBECONFIG, ~/.kube/config, in-cluster
  std::string context;     // --context; empty: the current context
  std::string listen = "127.0.0.1:0";  // the metrics service's address
  std::string endpoint;  // HPT_ENDPOINT for trials; empty: the address the service listens on
  // Defaults for every trial Job (the study's spec.hpt.kubernetes and the template win).
  std::string priority_class, queue, service_account;
  std::optional<int64_t> backoff_limit, ttl_seconds_after_finished;
};

struct QueryOptions {
  std::string study;
  std::string trial;
  std::string format = "table";
  int top = 10;
  std::string filter;  // leaderboard, trials: the trial filter language (tracker/filter.h)
  // leaderboard across studies (cli/leaderboard.cc), grouped by (project, experiment).
  bool all_studies = false;               // --all
  std::optional<std::string> project;     // --project
  std::optional<std::string> experiment;  // --experiment
  std::string metric;                     // --metric: rank by this metric, not the objective
  std::string strategy;                   // --strategy: min | max | latest | best-at-step
  std::optional<int64_t> step;            // --step: best-at-step's last step
  std::string order;                      // --order: desc | asc (largest or smallest first)
  std::vector<std::string> params;        // --params: parameter columns (default: all)
  std::vector<std::string> metrics;       // --metrics: metric columns (default: all)
  std::vector<std::string> group_by;      // --group-by params.X,...: mean/std/count per value
};

struct SuggestOptions {
  std::string algorithm;              // a registered algorithm name (suggest::KnownAlgorithms)
  std::vector<std::string> settings;  // "key=value", in command-line order
};

// Prints the top `q.top` trials of `study` by its objective in `q.format`.
int PrintLeaderboard(tracker::TrialStore* store, const tracker::StudyRecord& study,
                     const QueryOptions& q, std::ostream& out);

// hptd's StudyService (cli/remote.cc).
struct RemoteOptions {
  // "unix:PATH" or "host:port"; empty: $HPT_SERVER, else unix:<dir of --db>/hptd.sock.
  std::string server;
  std::string token_file;  // admin token for a TCP server; empty: $HPT_ADMIN_TOKEN_FILE
  // TLS to a TCP server (engine/tls.h ClientTls). On when --tls or any of the files is given, or
  // $HPT_TLS is 1; each file defaults to $HPT_TLS_CA / $HPT_TLS_CERT / $HPT_TLS_KEY.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
};

struct SubmitOptions {
  std::string study;
  std::string name;
  bool allow_rename = false;
  bool watch = false;
};

struct ControlOptions {
  std::string study;
  bool let_running_finish = false;            // stop
  std::optional<int> parallel_trial_count;    // update
  std::optional<int> max_trial_count;         // resume, update
  std::optional<int> max_failed_trial_count;  // update
  bool force = false;                         // delete: a running study too
  bool yes = false;                           // delete: no question asked
};

int Submit(const GlobalOptions& g, const RemoteOptions& r, const SubmitOptions& o);
// The studies hptd knows (no study), or one study in full.
int Status(const GlobalOptions& g, const RemoteOptions& r, const std::string& study);
// A live view until the study ends: 0 when it succeeded, 1 otherwise.
int Watch(const GlobalOptions& g, const RemoteOptions& r, const std::string& study);
int StopStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o);
int ResumeStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o);
int UpdateStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o);
// Asks first on a terminal (unless --yes); without a terminal --yes is required (exit 2).
int DeleteStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o);

// hpt trigger apply / list / delete / history / evaluate and hpt report: hptd's retraining
// triggers (cli/trigger.cc, docs/triggers.md).
struct TriggerOptions {
  std::string file;              // apply: the RetrainTrigger YAML
  std::string name;              // delete (required), history (empty: every trigger)
  int limit = 0;                 // history: the last this many firings (0 = all)
  std::string format = "table";  // list, history: table | json | csv
};
struct ReportOptions {
  std::string project;  // required
  std::string experiment, model;
  std::optional<int64_t> time_ms;    // --time: Unix milliseconds (default now)
  std::vector<std::string> metrics;  // NAME=VALUE, in command-line order
};
// Loads the file here first (errors and warnings with file:line:column on stderr; errors exit
// 1), reads action.submitStudy.file when it names one, then applies it to hptd.
int ApplyTrigger(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o);
int ListTriggers(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o);
int DeleteTrigger(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o);
int TriggerHistory(const GlobalOptions& g, const RemoteOptions& r, const TriggerOptions& o);
// Evaluates every trigger now and prints the firings made.
int EvaluateTriggers(const GlobalOptions& g, const RemoteOptions& r);
// Sends deployed-model metric points: exit 2 for a malformed NAME=VALUE, 1 when hptd refuses.
int Report(const GlobalOptions& g, const RemoteOptions& r, const ReportOptions& o);

int Run(const GlobalOptions& g, const RunOptions& o);
int Validate(const std::vector<std::string>& files);
// The first `trials` trials' manifests; a warm-started study suggests from its sources in --db.
int Render(const GlobalOptions& g, const std::string& study, int trials);
// One study's leaderboard (PrintLeaderboard), or, when any option of the cross-study leaderboard
// is given or the file holds several studies and none is named, RankedLeaderboard.
int Leaderboard(const GlobalOptions& g, const QueryOptions& q);
// Trials of every study in scope ranked by the objective or a metric's strategy, top `q.top` per
// (project, experiment), or (--group-by) groups of trials by parameter values with their
// count, mean, std, min and max, ranked by the mean (cli/leaderboard.cc).
int RankedLeaderboard(tracker::TrialStore* store, const QueryOptions& q, std::ostream& out);
int Trials(const GlobalOptions& g, const QueryOptions& q);
int Show(const GlobalOptions& g, const QueryOptions& q);
int Studies(const GlobalOptions& g, const QueryOptions& q);
// hpt compare / history / export / import (cli/compare.cc).
struct CompareOptions {
  std::vector<std::string> trials;  // two or more trial names, from any studies
  std::string format = "table";     // table | json | csv
};
struct HistoryOptions {
  std::string trial;
  std::string metric;  // empty: every metric
  std::string format = "table";
};
struct ExportOptions {
  std::string study;            // empty: the only study in the file
  std::string format = "json";  // json (hpt.export/v1, importable) | csv (flat, not importable)
  std::string output;           // empty: stdout
};
struct ImportOptions {
  std::string file;  // an hpt.export/v1 JSON file
  std::string name;  // empty: the exported study's name
};
// Trials side by side: study, state, attempt, seed, objective, params, metrics.
int Compare(const GlobalOptions& g, const CompareOptions& o);
// A trial's metric points in insertion order (table: with a sparkline per metric).
int History(const GlobalOptions& g, const HistoryOptions& o);
int Export(const GlobalOptions& g, const ExportOptions& o);
int Import(const GlobalOptions& g, const ImportOptions& o);
// Serves the ask/tell protocol (cli/ask_tell.h, docs/suggest-protocol.md) on stdin/stdout until
// close or end of input: 0 then, 1 when stdout cannot be written, 2 for bad options.
int Suggest(const SuggestOptions& o);

}  // namespace hpt::cli

#endif  // HPT_CLI_COMMANDS_H_
