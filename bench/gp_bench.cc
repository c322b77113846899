// Google Benchmark drivers for the Gaussian-process code on the CPU backend: the likelihood with
// its gradient (one step of the hyperparameter fit), the hyperparameter fit, the posterior of a
// candidate batch, and one full bayesianoptimization suggestion, as n grows (d = 10).
//
//   build/bench/hpt_bench_gp --benchmark_filter=Suggest --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "suggest/gp/gp_model.h"
#include "suggest/linalg/backend.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::suggest {
namespace {

constexpr int kDims = 10;

Eigen::MatrixXd Points(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd x(n, kDims);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < kDims; ++j) x(i, j) = u(rng);
  }
  return x;
}

// Styblinski-Tang on [-5, 5]^d, standardized.
Eigen::VectorXd Values(const Eigen::MatrixXd& x) {
  Eigen::VectorXd y(x.rows());
  for (int i = 0; i < x.rows(); ++i) {
    const Eigen::ArrayXd z = 10 * x.row(i).array() - 5;
    y(i) = 0.5 * (z.pow(4) - 16 * z.square() + 5 * z).sum();
  }
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  return y;
}

linalg::GpHyperparameters Hyper() {
  linalg::GpHyperparameters h;
  h.log_lengthscales = Eigen::VectorXd::Constant(kDims, std::log(0.8));
  h.log_noise_variance = std::log(1e-3);
  return h;
}

void BM_LikelihoodAndGradient(benchmark::State& state) {
  const Eigen::MatrixXd x = Points(static_cast<int>(state.range(0)), 1);
  const Eigen::VectorXd y = Values(x);
  linalg::LinalgBackend& la = linalg::LinalgBackend::Default();
  for (auto _ : state) {
    double v = 0;
    Eigen::VectorXd g;
    benchmark::DoNotOptimize(la.NegLogMarginalLikelihood(Hyper(), x, y, &v, &g));
  }
}
BENCHMARK(BM_LikelihoodAndGradient)->Arg(100)->Arg(300)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_FitHyperparameters(benchmark::State& state) {
  const Eigen::MatrixXd x = Points(static_cast<int>(state.range(0)), 2);
  const Eigen::VectorXd y = Values(x);
  linalg::LinalgBackend& la = linalg::LinalgBackend::Default();
  for (auto _ : state) {
    benchmark::DoNotOptimize(gp::FitHyperparameters(la, x, y, {.restarts = 0}));
  }
}
BENCHMARK(BM_FitHyperparameters)->Arg(100)->Arg(300)->Unit(benchmark::kMillisecond);

// Fit with fixed hyperparameters (the Cholesky of n points) + posterior of 10,000 candidates.
void BM_FixedFitAndPosterior(benchmark::State& state) {
  const Eigen::MatrixXd x = Points(static_cast<int>(state.range(0)), 3);
  const Eigen::VectorXd y = Values(x);
  const Eigen::MatrixXd z = Points(10000, 4);
  linalg::LinalgBackend& la = linalg::LinalgBackend::Default();
  for (auto _ : state) {
    absl::StatusOr<gp::GpModel> model = gp::GpModel::Create(la, x, y, Hyper());
    Eigen::VectorXd mean, var;
    benchmark::DoNotOptimize(model->Predict(z, &mean, &var));
  }
}
BENCHMARK(BM_FixedFitAndPosterior)->Arg(100)->Arg(1000)->Arg(2000)->Unit(benchmark::kMillisecond);

// One suggestion of a fresh sampler (a cold hyperparameter fit) after n finished trials.
void BM_Suggest(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  SearchSpace space;
  for (int j = 0; j < kDims; ++j) {
    space.params.push_back({.name = "x" + std::to_string(j), .min = 0, .max = 1});
  }
  const Eigen::MatrixXd x = Points(n, 5);
  const Eigen::VectorXd y = Values(x);
  History history;
  for (int i = 0; i < n; ++i) {
    Assignment a;
    for (int j = 0; j < kDims; ++j) a.push_back({space.params[j].name, FormatDouble(x(i, j))});
    history.trials.push_back({.params = std::move(a), .value = y(i), .pending = false});
  }
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Sampler>> s =
        MakeSampler({.name = "bayesianoptimization", .settings = {}}, space, 1);
    benchmark::DoNotOptimize((*s)->Suggest(space, history, batch));
  }
}
BENCHMARK(BM_Suggest)
    ->Args({100, 1})
    ->Args({500, 1})
    ->Args({1000, 1})
    ->Args({1000, 8})
    ->Args({2000, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hpt::suggest

BENCHMARK_MAIN();
