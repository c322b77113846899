// hpt run / validate / render.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/yaml_out.h"
#include "engine/controller.h"
#include "engine/metrics_service.h"
#include "engine/runner_factory.h"
#include "engine/template/render.h"
#include "engine/validate.h"
#include "engine/warm_start.h"
#include "suggest/sampler.h"
#include "tracker/trial_store.h"

namespace hpt::cli {
namespace {

namespace fs = std::filesystem;

engine::StudyController* g_controller = nullptr;

void OnSignal(int) {
  if (g_controller) g_controller->RequestStop();
}

void PrintDiagnostics(const std::vector<engine::Diagnostic>& diags) {
  for (const engine::Diagnostic& d : diags) std::cerr << d.ToString() << "\n";
}

class ProgressPrinter {
 public:
  explicit ProgressPrinter(const std::string& metric) : metric_(metric), tty_(isatty(1)) {}
  // Ends the live line (TTY) so later output starts on a fresh line.
  void Finish() {
    if (tty_ && drawn_) std::cout << "\n";
    drawn_ = false;
  }

  void operator()(const engine::Progress& p) {
    std::string best = p.best ? absl::StrCat("best ", metric_, "=", suggest::FormatDouble(*p.best),
                                             " (", p.best_trial, ")")
                              : "best -";
    std::string counts = absl::StrCat(
        p.finished(), "/", p.max_trials ? std::to_string(*p.max_trials) : "?", " done, ", p.running,
        " running, ", p.pending, " pending, ", p.failed + p.metrics_unavailable, " failed");
    if (!tty_) {
      if (p.last_event != last_event_) std::cout << "[" << counts << "] " << p.last_event << "\n";
      last_event_ = p.last_event;
      std::cout.flush();
      return;
    }
    // Events worth keeping on screen (failures, completions) scroll above the live line.
    if (p.last_event != last_event_ && p.last_event.find("launched") == std::string::npos) {
      std::cout << "\r\033[K" << p.last_event << "\n";
    }
    last_event_ = p.last_event;
    std::string bar;
    if (p.max_trials && *p.max_trials > 0) {
      const int width = 24;
      int fill = std::min(width, p.finished() * width / *p.max_trials);
      bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
    }
    std::cout << "\r\033[K" << bar << counts << "  " << best << std::flush;
    drawn_ = true;
  }

 private:
  std::string metric_;
  bool tty_;
  bool drawn_ = false;
  std::string last_event_;
};

}  // namespace

int Run(const GlobalOptions& g, const RunOptions& o) {
  std::vector<engine::Diagnostic> diags;
  absl::StatusOr<engine::StudySpec> spec = engine::LoadAndCheckStudy(o.study, &diags);
  PrintDiagnostics(diags);
  if (!spec.ok()) {
    if (diags.empty()) std::cerr << "hpt: " << spec.status().message() << "\n";
    std::cerr << "hpt: " << o.study << " is not a runnable study (see above)\n";
    return 1;
  }

  absl::StatusOr<std::unique_ptr<tracker::TrialStore>> store = tracker::TrialStore::Open({}, g.db);
  if (!store.ok()) {
    std::cerr << "hpt: cannot open tracker " << g.db << ": " << store.status().message() << "\n";
    return 1;
  }
  const bool kubernetes = o.runner == "kubernetes";
  std::string where;
  absl::StatusOr<std::unique_ptr<runner::TrialRunner>> runner = engine::MakeRunner(
      {.kind = o.runner,
       .gpus = o.gpus,
       .kubeconfig = o.kubeconfig,
       .context = o.context,
       .job_defaults = {.priority_class_name = o.priority_class,
                        .backoff_limit = o.backoff_limit,
                        .ttl_seconds_after_finished = o.ttl_seconds_after_finished,
                        .service_account_name = o.service_account,
                        .queue_name = o.queue}},
      &where);
  if (!runner.ok()) {
    std::cerr << "hpt: --runner " << o.runner << ": " << runner.status().message() << "\n";
    return 1;
  }
  if (kubernetes) std::cout << "hpt: trials on " << where << "\n";
  engine::MetricsServer server(store->get(), {});
  absl::StatusOr<int> port = server.Start(o.listen);
  if (!port.ok()) {
    std::cerr << "hpt: metrics server on --listen " << o.listen << ": " << port.status().message()
              << "\n";
    return 1;
  }

  engine::ControllerOptions co;
  const std::string listen_host = o.listen.substr(0, o.listen.rfind(':'));
  co.endpoint = !o.endpoint.empty() ? o.endpoint : absl::StrCat(listen_host, ":", *port);
  co.cluster = kubernetes;
  if (kubernetes && o.endpoint.empty()) {
    std::cout << "hpt: trials in the cluster reach no metrics service unless --endpoint names an "
                 "address their pods can reach; their logs (StdOut collector) are read when "
                 "they end\n";
  }
  co.runs_dir =
      !o.runs_dir.empty() ? o.runs_dir : (fs::absolute(g.db).parent_path() / "hpt-runs").string();
  co.python_path = engine::DefaultPythonPath();
  co.store_name = g.db;
  co.study_name = o.name;
  co.stop_running_on_completion = !o.let_running_finish && !spec->hpt.finish_running_on_completion;
  ProgressPrinter printer(spec->objective.metric);
  co.on_progress = [&printer](const engine::Progress& p) { printer(p); };

  std::cout << "hpt: study " << (o.name.empty() ? spec->name : o.name) << " ("
            << spec->algorithm.name << ", objective "
            << (spec->objective.maximize ? "maximize " : "minimize ") << spec->objective.metric
            << ") -> " << g.db << "; metrics on " << co.endpoint << "\n";
  engine::StudyController controller(*spec, store->get(), runner->get(), co);
  g_controller = &controller;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  absl::StatusOr<tracker::StudyRecord> result = controller.Run();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  g_controller = nullptr;
  printer.Finish();
  server.Shutdown();
  if (!result.ok()) {
    std::cerr << "hpt: study failed to run: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << "\nstudy " << result->name << ": " << tracker::StudyStateName(result->state) << " ("
            << result->reason << ") " << result->message << "\n\n";
  QueryOptions q{.study = result->name, .format = "table", .top = o.top};
  PrintLeaderboard(store->get(), *result, q, std::cout);
  std::cout << "\nmore: hpt --db " << g.db << " trials " << result->name << " | hpt show TRIAL\n";
  return result->state == tracker::StudyState::kSucceeded ? 0 : 1;
}

int Validate(const std::vector<std::string>& files) {
  int bad = 0;
  for (const std::string& f : files) {
    std::vector<engine::Diagnostic> diags;
    absl::Status s = engine::ValidateFile(f, &diags);
    PrintDiagnostics(diags);
    if (s.ok()) {
      std::cout << f << ": OK\n";
    } else {
      ++bad;
      if (diags.empty()) std::cerr << f << ": " << s.message() << "\n";
      std::cout << f << ": " << (absl::IsUnimplemented(s) ? "NOT SUPPORTED YET" : "INVALID")
                << "\n";
    }
  }
  return bad == 0 ? 0 : 1;
}

int Render(const GlobalOptions& g, const std::string& study, int trials) {
  std::vector<engine::Diagnostic> diags;
  absl::StatusOr<engine::StudySpec> spec = engine::LoadAndCheckStudy(study, &diags);
  PrintDiagnostics(diags);
  if (!spec.ok()) {
    if (diags.empty()) std::cerr << "hpt: " << spec.status().message() << "\n";
    return 1;
  }
  if (trials < 1) {
    std::cerr << "hpt: --trials must be >= 1\n";
    return 1;
  }
  const uint64_t seed = engine::StudySeed(*spec, spec->name);
  absl::StatusOr<std::unique_ptr<suggest::Sampler>> sampler =
      suggest::MakeSampler(spec->algorithm, spec->space, seed);
  if (!sampler.ok()) {
    std::cerr << "hpt: " << sampler.status().message() << "\n";
    return 1;
  }
  // A warm-started study suggests from its sources' trials, as `hpt run` will.
  suggest::History history;
  if (spec->hpt.warm_start) {
    if (!std::filesystem::exists(g.db)) {
      std::cerr << "hpt: warning: warmStart: no tracker file " << g.db
                << "; rendering as if the study started from scratch\n";
    } else {
      absl::StatusOr<std::unique_ptr<tracker::TrialStore>> store =
          tracker::TrialStore::Open({}, g.db);
      absl::StatusOr<std::vector<engine::WarmStartSource>> sources =
          store.ok() ? engine::LoadWarmStartSources(**store, spec->hpt.warm_start->studies, g.db)
                     : absl::StatusOr<std::vector<engine::WarmStartSource>>(store.status());
      absl::StatusOr<engine::WarmStartResult> warm =
          sources.ok() ? engine::MapWarmStart(*spec, *sources)
                       : absl::StatusOr<engine::WarmStartResult>(sources.status());
      if (!warm.ok()) {
        std::cerr << "hpt: " << warm.status().message() << "\n";
        return 1;
      }
      std::cerr << "hpt: warm start: " << warm->Summary() << "\n";
      history = std::move(warm->history);
    }
  }
  absl::StatusOr<std::vector<suggest::Assignment>> next =
      (*sampler)->Suggest(spec->space, history, trials);
  if (!next.ok()) {
    std::cerr << "hpt: " << next.status().message() << "\n";
    return 1;
  }
  int i = 0;
  for (const suggest::Assignment& a : *next) {
    ++i;
    engine::TrialContext ctx{.study_name = spec->name,
                             .trial_name = engine::TrialName(spec->name, i),
                             .namespace_ = spec->namespace_,
                             .params = a};
    absl::StatusOr<engine::RenderedTrial> r = engine::RenderTrial(*spec, ctx);
    if (!r.ok()) {
      std::cerr << "hpt: trial " << ctx.trial_name << ": " << r.status().message() << "\n";
      return 1;
    }
    std::cout << "---\n" << ToYaml(r->manifest);
  }
  return 0;
}

}  // namespace hpt::cli
