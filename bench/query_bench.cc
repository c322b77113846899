// Leaderboard and filter queries over a large tracker file (issue 7's target: with 10,000 trials
// and 1,000,000 metric points in one SQLite file, a leaderboard answers in under 50 ms and a
// filtered query in under 200 ms).
//
//   build/bench/hpt_bench_query --db /tmp/hpt-query.db --runs 21 [--hpt build/cli/hpt]
//
// The file is made once (20 studies in 5 projects x 2 experiments, 500 trials each with 4
// parameters, 50 steps of `loss` and `accuracy` each: 100 points per trial), through the
// TrialStore API the engine uses, and reused when it is already there with that shape. Each query
// then runs --runs times on one open store; the first run is reported apart (cold caches), the
// median and the 90th percentile of the others. With --hpt, the same leaderboards also run as
// `hpt leaderboard` processes (start, open, query, print), timed from fork to exit. Prints one
// JSON object on stdout.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tracker/trial_store.h"

namespace {

using hpt::tracker::MetricPoint;
using hpt::tracker::RankQuery;
using hpt::tracker::RankStrategy;
using hpt::tracker::TrialState;
using hpt::tracker::TrialStore;

constexpr int kProjects = 5, kExperiments = 2, kStudiesPerGroup = 2, kTrialsPerStudy = 500;
constexpr int kSteps = 50;  // of each of the two metrics
constexpr int kStudies = kProjects * kExperiments * kStudiesPerGroup;
constexpr int64_t kTrials = int64_t{kStudies} * kTrialsPerStudy;
constexpr int64_t kPoints = kTrials * kSteps * 2;

// The example filter, on this file's parameters.
constexpr char kFilter[] =
    "metrics.accuracy >= 0.9 and (params.optimizer = 'adam' or params.optimizer in "
    "('sgd','ftrl')) and state = 'SUCCEEDED'";

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void Die(const absl::Status& s) {
  std::cerr << "hpt_bench_query: " << s << "\n";
  std::exit(1);
}

// Builds the file: deterministic values, so every run of the bench reads the same data.
void Populate(TrialStore* store) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const char* optimizers[] = {"adam", "sgd", "ftrl", "rmsprop"};
  const auto start = std::chrono::steady_clock::now();
  int64_t points = 0;
  for (int s = 0; s < kStudies; ++s) {
    const int group = s / kStudiesPerGroup;
    hpt::tracker::NewStudy ns{.name = absl::StrCat("study-", s),
                              .project = absl::StrCat("project-", group / kExperiments),
                              .experiment = absl::StrCat("exp-", group % kExperiments),
                              .algorithm = "random",
                              .objective_metric = "accuracy",
                              .maximize = true};
    absl::StatusOr<hpt::tracker::StudyRecord> study = store->CreateStudy(ns);
    if (!study.ok()) Die(study.status());
    for (int t = 0; t < kTrialsPerStudy; ++t) {
      const double lr = std::pow(10, -4 + 3 * u(rng));
      const std::string optimizer = optimizers[rng() % 4];
      absl::StatusOr<hpt::tracker::TrialRecord> trial =
          store->CreateTrial({.study_id = study->id,
                              .name = absl::StrCat(ns.name, "-", t),
                              .params = {{"lr", absl::StrCat(lr)},
                                         {"optimizer", optimizer},
                                         {"hidden", absl::StrCat(16 << (rng() % 5))},
                                         {"dropout", absl::StrCat(0.1 * (rng() % 6))}},
                              .seed = rng()});
      if (!trial.ok()) Die(trial.status());
      if (absl::Status st = store->SetTrialState(trial->id, TrialState::kRunning, "", "");
          !st.ok()) {
        Die(st);
      }
      // A learning curve: accuracy rises towards a ceiling set by the params, with noise.
      const double ceiling = 0.75 + 0.24 * u(rng) - 0.05 * std::abs(std::log10(lr) + 2.5);
      std::vector<MetricPoint> batch;
      double best = 0;
      for (int step = 0; step < kSteps; ++step) {
        const double progress = 1 - std::exp(-0.1 * (step + 1));
        const double acc = std::clamp(ceiling * progress + 0.01 * (u(rng) - 0.5), 0.0, 1.0);
        best = std::max(best, acc);
        batch.push_back({.name = "accuracy", .step = step, .value = acc});
        batch.push_back({.name = "loss", .step = step, .value = 2.5 * (1 - acc) + 0.05 * u(rng)});
      }
      absl::StatusOr<hpt::tracker::AppendResult> r = store->AppendMetrics(trial->id, 0, batch);
      if (!r.ok()) Die(r.status());
      points += r->stored;
      const bool failed = rng() % 20 == 0;
      absl::Status st = failed
                            ? store->SetTrialState(trial->id, TrialState::kFailed, "Error", "")
                            : store->SetTrialState(trial->id, TrialState::kSucceeded, "", "", best);
      if (!st.ok()) Die(st);
    }
    std::cerr << "  study " << s + 1 << "/" << kStudies << ", " << points << " points\n";
  }
  std::cerr << "populated in " << Ms(std::chrono::steady_clock::now() - start) / 1000 << " s\n";
}

struct Timing {
  double first_ms = 0, median_ms = 0, p90_ms = 0;
  size_t rows = 0;
};

Timing Time(int runs, const std::function<size_t()>& query) {
  std::vector<double> ms;
  Timing out;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    out.rows = query();
    const double t = Ms(std::chrono::steady_clock::now() - start);
    if (i == 0) {
      out.first_ms = t;
    } else {
      ms.push_back(t);
    }
  }
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    out.median_ms = ms[ms.size() / 2];
    out.p90_ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  }
  return out;
}

// Runs `args` as a process with stdout to /dev/null; its wall time from fork to exit.
double RunProcess(const std::vector<std::string>& args) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "hpt_bench_query: " << args[0] << " failed\n";
    std::exit(1);
  }
  return Ms(std::chrono::steady_clock::now() - start);
}

nlohmann::json ToJson(const Timing& t) {
  return {
      {"first_ms", t.first_ms}, {"median_ms", t.median_ms}, {"p90_ms", t.p90_ms}, {"rows", t.rows}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hpt leaderboard and filter queries over 10,000 trials / 1,000,000 points"};
  std::string db = "/tmp/hpt-query-bench.db", hpt;
  int runs = 21;
  app.add_option("--db", db, "the tracker file (made when absent)");
  app.add_option("--runs", runs, "runs of each query (the first is reported apart)")
      ->check(CLI::Range(2, 10000));
  app.add_option("--hpt", hpt, "the hpt binary: also time `hpt leaderboard` processes");
  CLI11_PARSE(app, argc, argv);

  const bool fresh = !std::filesystem::exists(db);
  absl::StatusOr<std::unique_ptr<TrialStore>> store = TrialStore::Open({}, db);
  if (!store.ok()) Die(store.status());
  if (fresh) Populate(store->get());
  absl::StatusOr<std::vector<hpt::tracker::StudyRecord>> studies = (*store)->ListStudies();
  if (!studies.ok()) Die(studies.status());
  absl::StatusOr<std::vector<hpt::tracker::TrialRecord>> all = (*store)->FindTrials("", 0, 0);
  if (!all.ok()) Die(all.status());
  if (studies->size() != kStudies || static_cast<int64_t>(all->size()) != kTrials) {
    std::cerr << "hpt_bench_query: " << db << " holds " << studies->size() << " studies and "
              << all->size() << " trials, not this bench's " << kStudies << " and " << kTrials
              << "; remove it\n";
    return 1;
  }
  TrialStore* s = store->get();
  auto rank = [&](RankQuery q) {
    return [s, q] {
      absl::StatusOr<std::vector<hpt::tracker::RankedTrial>> r = s->RankTrials(q);
      if (!r.ok()) Die(r.status());
      return r->size();
    };
  };
  const int64_t study0 = studies->front().id;
  nlohmann::json out = {{"db", db},          {"studies", kStudies}, {"trials", kTrials},
                        {"points", kPoints}, {"runs", runs},        {"filter", kFilter}};
  nlohmann::json& q = out["queries"];
  q["leaderboard_one_study_top10"] = ToJson(Time(runs, [&] {
    absl::StatusOr<std::vector<hpt::tracker::TrialRecord>> r = s->Leaderboard(study0, 10);
    if (!r.ok()) Die(r.status());
    return r->size();
  }));
  q["leaderboard_all_studies_top10_per_group"] = ToJson(Time(runs, rank({.limit_per_group = 10})));
  q["leaderboard_metric_latest_loss_top10"] =
      ToJson(Time(runs, rank({.metric = "loss",
                              .strategy = RankStrategy::kLatest,
                              .descending = false,
                              .limit_per_group = 10})));
  q["leaderboard_best_at_step_25_top10"] =
      ToJson(Time(runs, rank({.metric = "accuracy",
                              .strategy = RankStrategy::kBestAtStep,
                              .step = 25,
                              .descending = true,
                              .limit_per_group = 10})));
  q["filtered_find_trials"] = ToJson(Time(runs, [&] {
    absl::StatusOr<std::vector<hpt::tracker::TrialRecord>> r = s->FindTrials(kFilter, 0, 0);
    if (!r.ok()) Die(r.status());
    return r->size();
  }));
  q["filtered_leaderboard_top10_per_group"] =
      ToJson(Time(runs, rank({.filter = kFilter, .limit_per_group = 10})));
  q["group_by_feed_every_ranked_trial"] = ToJson(Time(runs, rank({})));
  if (!hpt.empty()) {
    hpt = std::filesystem::absolute(hpt).string();
    auto process = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {hpt, "--db", db});
      return Time(runs, [&] {
        RunProcess(args);
        return size_t{0};
      });
    };
    nlohmann::json& p = out["processes"];
    p["hpt_leaderboard_study_json"] =
        ToJson(process({"leaderboard", studies->front().name, "--format", "json"}));
    p["hpt_leaderboard_all_json"] = ToJson(process({"leaderboard", "--all", "--format", "json"}));
    p["hpt_leaderboard_all_filter_json"] =
        ToJson(process({"leaderboard", "--all", "--filter", kFilter, "--format", "json"}));
    p["hpt_leaderboard_group_by_json"] = ToJson(
        process({"leaderboard", "--all", "--group-by", "params.optimizer", "--format", "json"}));
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
