// hpt: the command line of the hpt hyperparameter tuning engine.
//
//   hpt run study.yaml                 run a study on this machine (local processes, ./hpt.db)
//   hpt validate FILE...               check study files (and worker-template ConfigMaps)
//   hpt render study.yaml --trials 3   print the first trials' manifests as a YAML stream
//   hpt leaderboard [STUDY]            best trials by the objective (--all / --project P:
//                                      across studies; --metric, --group-by params.x)
//   hpt trials [STUDY]                 every trial of a study
//   hpt show TRIAL                     one trial in full
//   hpt compare T1 T2 ...              trials side by side; hpt history TRIAL: its metric points
//   hpt export STUDY > f.json          a study as one file; hpt import f.json rebuilds it
//   hpt suggest --algorithm random     ask/tell over JSON lines on stdin/stdout (any harness)
//   hpt submit study.yaml --watch      run a study in hptd and follow it (status, watch, stop,
//                                      resume, update: the same study in hptd)
//   hpt trigger apply trigger.yaml     a retraining trigger in hptd (list, delete, history,
//                                      evaluate); hpt report --project P auc=0.93: a deployed
//                                      model's metric for the triggers
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/commands.h"

int main(int argc, char** argv) {
  using hpt::cli::GlobalOptions;
  CLI::App app{"hpt: hyperparameter tuning and experiment tracking (Katib-compatible studies)"};
  app.require_subcommand(1);
  GlobalOptions g;
  if (const char* env = std::getenv("HPT_DB"); env && *env) g.db = env;
  app.add_option("--db", g.db, "tracker SQLite file (default ./hpt.db, or $HPT_DB)");

  // run
  hpt::cli::RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run",
                                         "run a study on this machine: local processes, "
                                         "metrics over gRPC into the tracker file");
  run_cmd
      ->add_option("study", run.study,
                   "study YAML (Katib StudyJob v1alpha1 or Experiment "
                   "v1beta1)")
      ->required();
  run_cmd->add_option("--name", run.name, "study name in the tracker (default metadata.name)");
  run_cmd->add_option("--gpus", run.gpus, "GPU ids to hand out by nvidia.com/gpu limits, e.g. 0,1");
  run_cmd->add_option("--runs-dir", run.runs_dir,
                      "where trial directories and logs go (default hpt-runs beside the db)");
  run_cmd->add_flag("--let-running-finish", run.let_running_finish,
                    "when the study completes, let running trials finish instead of stopping them");
  run_cmd->add_option("--top", run.top, "leaderboard rows printed at the end")->default_val(10);
  run_cmd->add_option("--runner", run.runner, "where trials run: local or kubernetes")
      ->check(CLI::IsMember({"local", "kubernetes"}))
      ->default_val("local");
  run_cmd->add_option("--kubeconfig", run.kubeconfig,
                      "kubeconfig file (default $KUBECONFIG, ~/.kube/config, then in-cluster)");
  run_cmd->add_option("--context", run.context, "kubeconfig context (default the current one)");
  run_cmd->add_option("--listen", run.listen, "address of the metrics service")
      ->default_val("127.0.0.1:0");
  run_cmd->add_option("--endpoint", run.endpoint,
                      "HPT_ENDPOINT given to trials: an address their pods can reach (default "
                      "the --listen address)");
  run_cmd->add_option("--priority-class", run.priority_class,
                      "priorityClassName of trial Jobs that set none");
  run_cmd->add_option("--queue", run.queue,
                      "Kueue LocalQueue (kueue.x-k8s.io/queue-name) of trial Jobs that name none");
  run_cmd->add_option("--service-account", run.service_account,
                      "serviceAccountName of trial pods that set none");
  run_cmd->add_option("--backoff-limit", run.backoff_limit,
                      "backoffLimit of trial Jobs that set none");
  run_cmd->add_option("--ttl-seconds-after-finished", run.ttl_seconds_after_finished,
                      "ttlSecondsAfterFinished of trial Jobs that set none");

  // validate
  std::vector<std::string> validate_files;
  CLI::App* validate_cmd = app.add_subcommand("validate", "check study files without running them");
  validate_cmd->add_option("files", validate_files, "study YAMLs or worker-template ConfigMaps")
      ->required();

  // render
  std::string render_study;
  int render_trials = 1;
  CLI::App* render_cmd = app.add_subcommand(
      "render", "print the rendered trial manifests of the first N suggestions (YAML stream)");
  render_cmd->add_option("study", render_study, "study YAML")->required();
  render_cmd->add_option("--trials", render_trials, "number of trials")->default_val(1);

  // leaderboard / trials / show
  hpt::cli::QueryOptions q;
  CLI::App* lb_cmd = app.add_subcommand(
      "leaderboard", "best trials of a study, or of many studies per project/experiment");
  lb_cmd->add_option("study", q.study,
                     "study name (optional: without it, the only study, or every study)");
  lb_cmd->add_option("--top", q.top, "rows (0 = all)")->default_val(10);
  lb_cmd->add_option("--format", q.format, "table | json | csv")->default_val("table");
  constexpr char kFilterHelp[] =
      "only trials matching this filter, e.g. \"metrics.accuracy >= 0.9 and (params.optimizer = "
      "'adam' or params.lr < 0.01) and state = 'SUCCEEDED'\" (docs/queries.md)";
  lb_cmd->add_option("--filter", q.filter, kFilterHelp);
  lb_cmd->add_flag("--all", q.all_studies,
                   "every study, top rows per project/experiment (the default when the file "
                   "holds several studies and none is named)");
  lb_cmd->add_option("--project", q.project, "only studies of this project (annotation)");
  lb_cmd->add_option("--experiment", q.experiment, "only studies of this experiment (annotation)");
  lb_cmd->add_option("--metric", q.metric, "rank by this metric instead of the objective");
  lb_cmd->add_option("--strategy", q.strategy,
                     "the metric's value: min | max | latest | best-at-step (best up to --step)");
  lb_cmd->add_option("--step", q.step, "best-at-step: the last step counted");
  lb_cmd->add_option("--order", q.order, "desc (largest first) | asc (smallest first)");
  lb_cmd->add_option("--params", q.params, "parameter columns (default: all)")->delimiter(',');
  lb_cmd->add_option("--metrics", q.metrics, "metric columns (default: all)")->delimiter(',');
  lb_cmd
      ->add_option("--group-by", q.group_by,
                   "params.NAME[,params.NAME2]: count, mean, std, min, max per value, "
                   "ranked by the mean")
      ->delimiter(',');
  CLI::App* trials_cmd = app.add_subcommand("trials", "every trial of a study");
  trials_cmd->add_option("study", q.study, "study name (optional when the file holds one study)");
  trials_cmd->add_option("--format", q.format, "table | json | csv")->default_val("table");
  trials_cmd->add_option("--filter", q.filter, kFilterHelp);
  CLI::App* show_cmd = app.add_subcommand("show", "one trial in full: params, metrics, events");
  show_cmd->add_option("trial", q.trial, "trial name")->required();
  show_cmd->add_option("--format", q.format, "table | json")->default_val("table");
  CLI::App* studies_cmd = app.add_subcommand("studies", "the studies in the tracker file");
  studies_cmd->add_option("--format", q.format, "table | json | csv")->default_val("table");

  // compare / history / export / import
  hpt::cli::CompareOptions compare;
  CLI::App* compare_cmd =
      app.add_subcommand("compare", "trials side by side (from any studies); * marks differences");
  compare_cmd->add_option("trials", compare.trials, "two or more trial names")
      ->required()
      ->expected(2, -1);
  compare_cmd->add_option("--format", compare.format, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->default_val("table");
  hpt::cli::HistoryOptions history;
  CLI::App* history_cmd = app.add_subcommand(
      "history", "a trial's metric points in insertion order, with a sparkline per metric");
  history_cmd->add_option("trial", history.trial, "trial name")->required();
  history_cmd->add_option("--metric", history.metric, "only this metric");
  history_cmd->add_option("--format", history.format, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->default_val("table");
  hpt::cli::ExportOptions export_opts;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "a study with its trials, metric points and events as one file (hpt import)");
  export_cmd->add_option("study", export_opts.study,
                         "study name (optional when the file holds one study)");
  export_cmd
      ->add_option("--format", export_opts.format,
                   "json (hpt.export/v1, for hpt import) | csv (one row per trial, for "
                   "spreadsheets; not importable)")
      ->check(CLI::IsMember({"json", "csv"}))
      ->default_val("json");
  export_cmd->add_option("--output,-o", export_opts.output, "file to write (default stdout)");
  hpt::cli::ImportOptions import_opts;
  CLI::App* import_cmd =
      app.add_subcommand("import", "rebuild a study from an hpt export (JSON) into --db");
  import_cmd->add_option("file", import_opts.file, "hpt.export/v1 JSON file")->required();
  import_cmd
      ->add_option("--name", import_opts.name,
                   "the study's name here (its trials are renamed with it); default: as exported")
      ->check([](const std::string& v) { return v.empty() ? "must not be empty" : ""; });

  // suggest
  hpt::cli::SuggestOptions suggest;
  CLI::App* suggest_cmd =
      app.add_subcommand("suggest",
                         "serve a sampler over JSON lines on stdin/stdout: init, ask, tell, close "
                         "(docs/suggest-protocol.md)");
  suggest_cmd
      ->add_option("--algorithm", suggest.algorithm, "algorithm name, e.g. random, sobol, grid")
      ->required();
  suggest_cmd->add_option("--setting", suggest.settings,
                          "algorithm setting KEY=VALUE (repeatable, in order)");

  // hptd's StudyService
  hpt::cli::RemoteOptions remote;
  auto add_remote = [&remote](CLI::App* cmd) {
    cmd->add_option("--server", remote.server,
                    "hptd's StudyService: unix:PATH or host:port (default $HPT_SERVER, else "
                    "unix:hptd.sock beside --db)");
    cmd->add_option("--token-file", remote.token_file,
                    "admin token for a TCP server (default $HPT_ADMIN_TOKEN_FILE)");
    cmd->add_flag("--tls", remote.tls,
                  "TLS to a TCP server, verified by the system's CAs "
                  "(default on when $HPT_TLS is 1)");
    cmd->add_option("--tls-ca", remote.tls_ca,
                    "PEM CA that signed hptd's certificate (implies --tls; default $HPT_TLS_CA)");
    cmd->add_option("--tls-cert", remote.tls_cert,
                    "PEM client certificate for mutual TLS (default $HPT_TLS_CERT)");
    cmd->add_option("--tls-key", remote.tls_key, "PEM key of --tls-cert (default $HPT_TLS_KEY)");
    cmd->add_option("--tls-server-name", remote.tls_server_name,
                    "name to check in hptd's certificate when it is not the host dialled");
  };
  hpt::cli::SubmitOptions submit;
  CLI::App* submit_cmd = app.add_subcommand("submit", "submit a study to hptd");
  submit_cmd->add_option("study", submit.study, "study YAML")->required();
  submit_cmd->add_option("--name", submit.name, "study name (default metadata.name)");
  submit_cmd->add_flag("--allow-rename", submit.allow_rename,
                       "give a taken name a -2, -3, ... suffix instead of failing");
  submit_cmd->add_flag("--watch", submit.watch, "then follow it (as hpt watch)");
  add_remote(submit_cmd);
  std::string status_study;
  CLI::App* status_cmd = app.add_subcommand("status", "hptd's studies, or one study in full");
  status_cmd->add_option("study", status_study, "study name");
  add_remote(status_cmd);
  std::string watch_study;
  CLI::App* watch_cmd = app.add_subcommand(
      "watch", "a live view of a study in hptd until it ends (exit 0 when it succeeded)");
  watch_cmd->add_option("study", watch_study, "study name")->required();
  add_remote(watch_cmd);
  hpt::cli::ControlOptions control;
  CLI::App* stop_cmd = app.add_subcommand("stop", "stop a study in hptd (ExperimentStopped)");
  stop_cmd->add_option("study", control.study, "study name")->required();
  stop_cmd->add_flag("--let-running-finish", control.let_running_finish,
                     "start no new trial but let the running ones finish");
  add_remote(stop_cmd);
  CLI::App* resume_cmd =
      app.add_subcommand("resume", "run a stopped or finished study in hptd again");
  resume_cmd->add_option("study", control.study, "study name")->required();
  resume_cmd->add_option("--max-trial-count", control.max_trial_count,
                         "a larger maxTrialCount (needed when it ended at its limit)");
  add_remote(resume_cmd);
  CLI::App* update_cmd =
      app.add_subcommand("update", "change the budget of a study running in hptd");
  update_cmd->add_option("study", control.study, "study name")->required();
  update_cmd->add_option("--parallel", control.parallel_trial_count, "parallelTrialCount");
  update_cmd->add_option("--max-trial-count", control.max_trial_count, "maxTrialCount");
  update_cmd->add_option("--max-failed-trial-count", control.max_failed_trial_count,
                         "maxFailedTrialCount");
  add_remote(update_cmd);
  CLI::App* delete_cmd = app.add_subcommand(
      "delete", "delete a study in hptd with its trials, metrics and logs (cannot be undone)");
  delete_cmd->add_option("study", control.study, "study name")->required();
  delete_cmd->add_flag("--force", control.force, "also a running study (its trials are stopped)");
  delete_cmd->add_flag("--yes,-y", control.yes, "do not ask (required without a terminal)");
  add_remote(delete_cmd);

  // retraining triggers (docs/triggers.md)
  hpt::cli::TriggerOptions trig;
  CLI::App* trigger_cmd =
      app.add_subcommand("trigger", "retraining triggers in hptd (docs/triggers.md)");
  trigger_cmd->require_subcommand(1);
  CLI::App* tapply_cmd = trigger_cmd->add_subcommand(
      "apply", "check a RetrainTrigger file here, then create or replace it in hptd");
  tapply_cmd->add_option("file", trig.file, "RetrainTrigger YAML")->required();
  add_remote(tapply_cmd);
  CLI::App* tlist_cmd = trigger_cmd->add_subcommand(
      "list", "the triggers: what each watches, its last value and its last firing");
  tlist_cmd->add_option("--format", trig.format, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->default_val("table");
  add_remote(tlist_cmd);
  CLI::App* tdelete_cmd = trigger_cmd->add_subcommand("delete", "delete a trigger and its history");
  tdelete_cmd->add_option("name", trig.name, "trigger name")->required();
  add_remote(tdelete_cmd);
  CLI::App* thistory_cmd = trigger_cmd->add_subcommand(
      "history", "the firings of a trigger (of every trigger without a name), oldest first");
  thistory_cmd->add_option("name", trig.name, "trigger name (default: every trigger)");
  thistory_cmd->add_option("--limit", trig.limit, "only the last N firings (0 = all)")
      ->default_val(0);
  thistory_cmd->add_option("--format", trig.format, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->default_val("table");
  add_remote(thistory_cmd);
  CLI::App* tevaluate_cmd = trigger_cmd->add_subcommand(
      "evaluate", "evaluate every trigger now and print the firings made");
  add_remote(tevaluate_cmd);
  hpt::cli::ReportOptions report;
  CLI::App* report_cmd = app.add_subcommand(
      "report", "send a deployed model's metric points to hptd's triggers: NAME=VALUE ...");
  report_cmd->add_option("--project", report.project, "the model's project")->required();
  report_cmd->add_option("--experiment", report.experiment, "the model's experiment");
  report_cmd->add_option("--model", report.model, "the model's name");
  report_cmd->add_option("--time", report.time_ms,
                         "when the points were measured, Unix milliseconds (default now)");
  report_cmd->add_option("metrics", report.metrics, "NAME=VALUE, e.g. auc=0.93")->required();
  add_remote(report_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every usage error exits 2, as commands.h promises.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (*run_cmd) return hpt::cli::Run(g, run);
  if (*validate_cmd) return hpt::cli::Validate(validate_files);
  if (*render_cmd) return hpt::cli::Render(g, render_study, render_trials);
  if (*lb_cmd) return hpt::cli::Leaderboard(g, q);
  if (*trials_cmd) return hpt::cli::Trials(g, q);
  if (*show_cmd) return hpt::cli::Show(g, q);
  if (*studies_cmd) return hpt::cli::Studies(g, q);
  if (*compare_cmd) return hpt::cli::Compare(g, compare);
  if (*history_cmd) return hpt::cli::History(g, history);
  if (*export_cmd) return hpt::cli::Export(g, export_opts);
  if (*import_cmd) return hpt::cli::Import(g, import_opts);
  if (*suggest_cmd) return hpt::cli::Suggest(suggest);
  if (*submit_cmd) return hpt::cli::Submit(g, remote, submit);
  if (*status_cmd) return hpt::cli::Status(g, remote, status_study);
  if (*watch_cmd) return hpt::cli::Watch(g, remote, watch_study);
  if (*stop_cmd) return hpt::cli::StopStudy(g, remote, control);
  if (*resume_cmd) return hpt::cli::ResumeStudy(g, remote, control);
  if (*update_cmd) return hpt::cli::UpdateStudy(g, remote, control);
  if (*delete_cmd) return hpt::cli::DeleteStudy(g, remote, control);
  if (*tapply_cmd) return hpt::cli::ApplyTrigger(g, remote, trig);
  if (*tlist_cmd) return hpt::cli::ListTriggers(g, remote, trig);
  if (*tdelete_cmd) return hpt::cli::DeleteTrigger(g, remote, trig);
  if (*thistory_cmd) return hpt::cli::TriggerHistory(g, remote, trig);
  if (*tevaluate_cmd) return hpt::cli::EvaluateTriggers(g, remote);
  if (*report_cmd) return hpt::cli::Report(g, remote, report);
  return 2;
}
