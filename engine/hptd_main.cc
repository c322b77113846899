// hptd: the long-running hpt engine. This first cut serves hpt.v1.MetricsService, Katib's
// api.v1.beta1.DBManager and the gRPC health service over one tracker file; the study service
// (submit/watch/stop) comes with the daemon issue.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "engine/metrics_service.h"
#include "tracker/trial_store.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hptd: the hpt engine daemon (metrics intake over gRPC into a SQLite tracker)"};
  std::string db = std::getenv("HPT_DB") ? std::getenv("HPT_DB") : "hpt.db";
  std::string listen = "127.0.0.1:7070";
  app.add_option("--db", db, "tracker file (default ./hpt.db or $HPT_DB)");
  app.add_option("--listen", listen, "address to serve on (host:port)");
  CLI11_PARSE(app, argc, argv);

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
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::cerr << "hptd: serving on port " << *port << " (db " << db << ")\n";
  while (!g_stop) pause();
  std::cerr << "hptd: shutting down\n";
  server.Shutdown();
  return 0;
}
