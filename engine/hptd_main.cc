// hptd: the long-running hpt engine. It serves, over one tracker file:
//   - hpt.v1.MetricsService, Katib's api.v1.beta1.DBManager and gRPC health on --listen (what
//     trials report to; HPT_ENDPOINT);
//   - hpt.v1.StudyService (submit, follow, stop, resume, delete, change the budget of studies) on
//     a Unix socket (--admin-socket; its permissions decide: 0600) and, with --admin-token-file, on
//     --admin-listen for callers sending the token;
//   TLS on both TCP ports with --tls-cert/--tls-key, mutual TLS with --tls-client-ca (StudyService)
//   and --metrics-tls-client-ca (metrics); --config FILE reads any of these flags from a file;
// and runs every submitted study on one trial runner (local processes or Kubernetes Jobs), and
// evaluates the retraining triggers applied to it (`hpt trigger apply`) every --trigger-interval
// seconds and whenever a model metric is reported (`hpt report`).
// SIGTERM / SIGINT: stops taking work, lets acknowledged writes finish, leaves trials running
// (their studies stay RUNNING in the tracker).
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/metrics_service.h"
#include "engine/runner_factory.h"
#include "engine/study_manager.h"
#include "engine/study_service.h"
#include "engine/tls.h"
#include "engine/trigger_manager.h"
#include "tracker/trial_store.h"

namespace {

namespace fs = std::filesystem;

int Fail(const std::string& message) {
  std::cerr << "hptd: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hptd: the hpt engine daemon"};
  std::string db = std::getenv("HPT_DB") ? std::getenv("HPT_DB") : "hpt.db";
  std::string listen = "127.0.0.1:7070";
  std::string endpoint, admin_socket, admin_listen, admin_token_file, runs_dir;
  hpt::engine::RunnerConfig runner_config;
  app.add_option("--db", db, "tracker file (default ./hpt.db or $HPT_DB)");
  app.add_option("--listen", listen, "where trials report metrics (host:port)");
  app.add_option("--endpoint", endpoint,
                 "HPT_ENDPOINT given to trials, e.g. hptd.ml.svc:7070 (default: --listen)");
  app.add_option("--admin-socket", admin_socket,
                 "Unix socket of the StudyService (default: hptd.sock beside the db; \"\" = none)");
  app.add_option("--admin-listen", admin_listen,
                 "also serve the StudyService on this TCP address (needs --admin-token-file)");
  app.add_option("--admin-token-file", admin_token_file,
                 "file holding the admin token TCP callers must send");
  hpt::engine::ServerTls tls;
  std::string metrics_client_ca;
  app.add_option("--tls-cert", tls.cert_file,
                 "PEM certificate: serve TLS on --listen and --admin-listen (with --tls-key)");
  app.add_option("--tls-key", tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", tls.client_ca_file,
                 "PEM CA: --admin-listen callers must present a certificate it signed (mTLS)");
  app.add_option("--metrics-tls-client-ca", metrics_client_ca,
                 "PEM CA: trials must present a certificate it signed on --listen (mTLS)");
  app.set_config("--config", "",
                 "read options from this file (TOML or INI: `listen = \"0.0.0.0:7070\"`; flags "
                 "given on the command line win)");
  app.add_option("--runs-dir", runs_dir,
                 "trial directories and logs (default hpt-runs beside the db)");
  app.add_option("--runner", runner_config.kind, "where trials run: local or kubernetes")
      ->check(CLI::IsMember({"local", "kubernetes"}));
  app.add_option("--gpus", runner_config.gpus, "local runner: GPU ids to hand out, e.g. 0,1");
  app.add_option("--kubeconfig", runner_config.kubeconfig, "kubernetes runner: kubeconfig file");
  app.add_option("--context", runner_config.context, "kubernetes runner: kubeconfig context");
  app.add_option("--priority-class", runner_config.job_defaults.priority_class_name,
                 "priorityClassName of trial Jobs that set none");
  app.add_option("--queue", runner_config.job_defaults.queue_name,
                 "Kueue LocalQueue of trial Jobs that name none");
  app.add_option("--service-account", runner_config.job_defaults.service_account_name,
                 "serviceAccountName of trial pods that set none");
  double trigger_interval_s = 30;
  app.add_option("--trigger-interval", trigger_interval_s,
                 "seconds between evaluations of the retraining triggers (default 30; also "
                 "evaluated right after each `hpt report` and `hpt trigger apply`)")
      ->check([](const std::string& v) -> std::string {
        double seconds = 0;
        if (absl::SimpleAtod(v, &seconds) && seconds > 0 && seconds <= 86400) return "";
        return "must be a number of seconds in (0, 86400], e.g. 30 or 0.5; got \"" + v + "\"";
      });
  bool admin_socket_given = false;
  CLI11_PARSE(app, argc, argv);
  admin_socket_given = app.count("--admin-socket") > 0;

  const fs::path db_dir = fs::absolute(db).parent_path();
  if (!admin_socket_given) admin_socket = (db_dir / "hptd.sock").string();
  if (runs_dir.empty()) runs_dir = (db_dir / "hpt-runs").string();
  std::string admin_token;
  if (!admin_token_file.empty()) {
    std::ifstream in(admin_token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) return Fail("cannot read --admin-token-file " + admin_token_file);
    admin_token = std::string(absl::StripAsciiWhitespace(ss.str()));
  }

  // SIGINT/SIGTERM are blocked in every thread (gRPC's included) and taken with sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto store = hpt::tracker::TrialStore::Open({}, db);
  if (!store.ok()) return Fail(absl::StrCat("cannot open ", db, ": ", store.status().message()));
  std::string where;
  auto runner = hpt::engine::MakeRunner(runner_config, &where);
  if (!runner.ok())
    return Fail(absl::StrCat("--runner ", runner_config.kind, ": ", runner.status().message()));

  // TLS: the metrics port has its own client CA (trials authenticate with their tokens; mTLS
  // there is optional and separate from the admin port's).
  hpt::engine::ServerTls metrics_tls = tls;
  metrics_tls.client_ca_file = metrics_client_ca;
  if (!tls.enabled() && !metrics_client_ca.empty()) {
    return Fail("--metrics-tls-client-ca needs --tls-cert and --tls-key");
  }
  auto metrics_credentials = hpt::engine::MakeServerCredentials(metrics_tls);
  if (!metrics_credentials.ok()) return Fail(std::string(metrics_credentials.status().message()));
  auto admin_credentials = hpt::engine::MakeServerCredentials(tls);
  if (!admin_credentials.ok()) return Fail(std::string(admin_credentials.status().message()));

  hpt::engine::MetricsServer metrics(store->get(), {.credentials = *metrics_credentials});
  absl::StatusOr<int> port = metrics.Start(listen);
  if (!port.ok()) return Fail(std::string(port.status().message()));
  if (endpoint.empty()) endpoint = absl::StrCat(listen.substr(0, listen.rfind(':')), ":", *port);

  hpt::engine::StudyManager manager(store->get(), runner->get(),
                                    {.endpoint = endpoint,
                                     .runs_dir = runs_dir,
                                     .python_path = hpt::engine::DefaultPythonPath(),
                                     .cluster = runner_config.kind == "kubernetes",
                                     .store_name = db});
  hpt::engine::TriggerManager triggers(store->get(), &manager,
                                       {.interval = absl::Seconds(trigger_interval_s)});
  hpt::engine::AdminServer admin(&manager, store->get(),
                                 {.unix_socket = admin_socket,
                                  .tcp_address = admin_listen,
                                  .admin_token = admin_token,
                                  .tcp_credentials = *admin_credentials,
                                  .triggers = &triggers});
  absl::StatusOr<int> admin_port = admin.Start();
  if (!admin_port.ok()) return Fail(std::string(admin_port.status().message()));

  // Studies left RUNNING by a previous hptd (a crash, or a shutdown that left trials running).
  absl::StatusOr<std::vector<std::string>> recovered = manager.RecoverAll();
  if (!recovered.ok()) return Fail(std::string(recovered.status().message()));
  for (const std::string& name : *recovered) {
    std::cerr << "hptd: study " << name << " taken up again" << std::endl;
  }
  // After the recovery: a firing a crash left PENDING may name a study that was taken up again.
  triggers.Start();
  std::cerr << "hptd: metrics on port " << *port << " (HPT_ENDPOINT " << endpoint
            << "); studies on " << (admin_socket.empty() ? "" : "unix:" + admin_socket)
            << (admin_listen.empty() ? "" : absl::StrCat(" and port ", *admin_port))
            << "; trials on " << where << "; db " << db << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "hptd: shutting down (trials keep running; studies stay RUNNING)" << std::endl;
  admin.Shutdown();
  triggers.Stop();  // an action running finishes first
  manager.Shutdown();
  metrics.Shutdown();
  return 0;
}
