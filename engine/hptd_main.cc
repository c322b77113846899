// hptd: the long-running hpt engine. This first cut serves hpt.v1.MetricsService, Katib's
// api.v1.beta1.DBManager and the gRPC health service over one tracker file; the study service
// (submit/watch/stop) comes with the daemon issue.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "engine/metrics_service.h"
#include "tracker/trial_store.h"

int main(int argc, char** argv) {
  CLI::App app{"hptd: the hpt engine daemon (metrics intake over gRPC into a SQLite tracker)"};
  std::string db = std::getenv("HPT_DB") ? std::getenv("HPT_DB") : "hpt.db";
  std::string listen = "127.0.0.1:7070";
  app.add_option("--db", db, "tracker file (default ./hpt.db or $HPT_DB)");
  app.add_option("--listen", listen, "address to serve on (host:port)");
  CLI11_PARSE(app, argc, argv);

  // SIGINT/SIGTERM are blocked in every thread (gRPC's included) and taken with sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto store = hpt::tracker::TrialStore::Open({}, db);
  if (!store.ok()) {
    std::cerr << "hptd: cannot open " << db << ": " << store.status().message() << "\n";
    return 1;
  }
  hpt::engine::MetricsServer server(store->get(), {});
  absl::StatusOr<int> port = server.Start(listen);
  if (!port.ok()) {
    std::cerr << "hptd: " << port.status().message() << "\n";
    return 1;
  }
  std::cerr << "hptd: serving on port " << *port << " (db " << db << ")\n";
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "hptd: shutting down\n";
  server.Shutdown();
  return 0;
}
