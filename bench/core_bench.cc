// Costs of the foundation's hot paths: a sampler's Suggest as the history grows, and the
// tracker's metric intake (AppendMetrics, acknowledged = committed) from concurrent reporters.
//   build/bench/hpt_bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "suggest/sampler.h"
#include "tracker/trial_store.h"

namespace {

hpt::suggest::SearchSpace TenParams() {
  hpt::suggest::SearchSpace s;
  for (int i = 0; i < 8; ++i) {
    s.params.push_back({.name = absl::StrCat("x", i),
                        .type = hpt::suggest::ParamType::kDouble,
                        .min = 0,
                        .max = 1});
  }
  s.params.push_back({.name = "k", .type = hpt::suggest::ParamType::kInt, .min = 1, .max = 64});
  s.params.push_back(
      {.name = "c", .type = hpt::suggest::ParamType::kCategorical, .list = {"a", "b", "c"}});
  return s;
}

// One Suggest(n=1) after `history` finished trials, for each sampler.
void BM_Suggest(benchmark::State& state, const char* algorithm) {
  const hpt::suggest::SearchSpace space = TenParams();
  auto sampler = hpt::suggest::MakeSampler({.name = algorithm}, space, 1);
  if (!sampler.ok()) {
    state.SkipWithError(std::string(sampler.status().message()).c_str());
    return;
  }
  hpt::suggest::History history;
  auto first = (*sampler)->Suggest(space, history, static_cast<int>(state.range(0)));
  for (auto& a : *first) history.trials.push_back({.params = a, .value = 1.0});
  for (auto _ : state) {
    auto next = (*sampler)->Suggest(space, history, 1);
    benchmark::DoNotOptimize(next);
  }
}
BENCHMARK_CAPTURE(BM_Suggest, random, "random")->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK_CAPTURE(BM_Suggest, sobol, "sobol")->Arg(100)->Arg(1000)->Arg(10000);

// Metric points/s through AppendMetrics: `threads` reporters, each appending batches of
// range(0) points to its own trial; every call returns after its commit.
void BM_AppendMetrics(benchmark::State& state) {
  static std::unique_ptr<hpt::tracker::TrialStore> store;
  static std::vector<int64_t> trials;
  static std::string dir;
  if (state.thread_index() == 0) {
    dir = (std::filesystem::temp_directory_path() / absl::StrCat("hpt_bench_", getpid()))
              .string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    store = std::move(*hpt::tracker::TrialStore::Open({}, absl::StrCat(dir, "/bench.db")));
    auto study = store->CreateStudy({.name = "bench", .objective_metric = "loss"});
    trials.clear();
    for (int i = 0; i < state.threads(); ++i) {
      trials.push_back(
          store->CreateTrial({.study_id = study->id, .name = absl::StrCat("t", i)})->id);
    }
  }
  // Google Benchmark starts the timed loop of all threads together, after thread 0's setup.
  const int batch = static_cast<int>(state.range(0));
  std::vector<hpt::tracker::MetricPoint> points(batch);
  for (int i = 0; i < batch; ++i) points[i] = {.name = i % 2 ? "loss" : "accuracy", .value = 0.5};
  uint64_t seq = 0;
  for (auto _ : state) {
    auto r = store->AppendMetrics(trials[state.thread_index()], ++seq, points);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  if (state.thread_index() == 0) {
    store.reset();
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_AppendMetrics)->Arg(1)->Arg(100)->Threads(1)->Threads(16)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
