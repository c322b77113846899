// The GPU benchmark of the Gaussian-process linear algebra (the proof of the CUDA backend): hpt's
// CUDA backend against its Eigen backend on the same data, timing
//   (a) a fit with fixed hyperparameters (kernel matrix, Cholesky, alpha: GpModel::Create) and the
//       posterior mean and variance of every candidate (GpModel::Predict);
//   (b) a hyperparameter fit on all n points (gp::FitHyperparameters from the prior's mode, at
//       most --fit-evaluations likelihood-and-gradient evaluations, no restarts), then (a) with
//       the fitted hyperparameters;
// for n = --sizes observations in d = --dims dimensions and --candidates candidates, plus a
// crossover table (likelihood + gradient, and a fit + 1k-candidate posterior, for small n on both
// backends) that measures where LinalgBackend::ForSize() should switch to CUDA.
//
// It writes <out>/hpt_gpu_bench.json (settings, timings with per-call breakdowns, the crossover)
// and, under <out>/data/, the inputs, the fixed hyperparameters and hpt's predictions as raw
// little-endian float64 files (row-major) that bench/gpu/gpytorch_bench.py reads to time GPyTorch
// on the same data and check its predictions against hpt's.
//
//   build/bench/hpt_gp_gpu_bench --out=/tmp/gpu-bench            # the full run (needs a GPU)
//   build/bench/hpt_gp_gpu_bench --allow-cpu-only --sizes=200 --candidates=2000  # a dry run
//
// Without a usable device it prints why and exits with status 2 (unless --allow-cpu-only, which
// times the Eigen backend alone: a check of the driver itself).
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "suggest/gp/gp_model.h"
#include "suggest/linalg/backend.h"
#include "suggest/linalg/cuda/cuda_backend.h"
#include "suggest/linalg/eigen_backend.h"

namespace hpt::suggest {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using linalg::GpHyperparameters;
using linalg::LinalgBackend;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Options {
  std::string out = "gpu-bench";
  std::vector<int> sizes = {1000, 5000, 10000, 20000};
  int candidates = 100000;
  int dims = 10;
  int fit_evaluations = 30;
  int eigen_max_n = 1000;  // Eigen is skipped above this n (minutes per run beyond)
  int repeats = 3;         // CUDA runs of (a) per n; the median is reported
  std::vector<int> crossover_sizes = {100, 200, 300, 500, 750, 1000, 1500, 2000};
  int crossover_candidates = 1000;
  bool allow_cpu_only = false;
};

bool ParseInts(absl::string_view text, std::vector<int>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) return false;
    out->push_back(v);
  }
  return !out->empty();
}

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    auto positive = [&](int* field) { return absl::SimpleAtoi(value, field) && *field >= 1; };
    bool ok = true;
    if (key == "--out") {
      o->out = value;
      ok = !value.empty();
    } else if (key == "--sizes") {
      ok = ParseInts(value, &o->sizes);
    } else if (key == "--candidates") {
      ok = positive(&o->candidates);
    } else if (key == "--dims") {
      ok = positive(&o->dims);
    } else if (key == "--fit-evaluations") {
      ok = positive(&o->fit_evaluations);
    } else if (key == "--eigen-max-n") {
      ok = absl::SimpleAtoi(value, &o->eigen_max_n) && o->eigen_max_n >= 0;
    } else if (key == "--repeats") {
      ok = positive(&o->repeats);
    } else if (key == "--crossover-sizes") {
      ok = value == "none" ? (o->crossover_sizes.clear(), true)
                           : ParseInts(value, &o->crossover_sizes);
    } else if (key == "--crossover-candidates") {
      ok = positive(&o->crossover_candidates);
    } else if (key == "--allow-cpu-only") {
      o->allow_cpu_only = true;
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "hpt_gp_gpu_bench: bad argument " << arg
                << "\nflags: --out=DIR --sizes=N,N.. --candidates=M --dims=D --fit-evaluations=E "
                   "--eigen-max-n=N --repeats=R --crossover-sizes=N,N..|none "
                   "--crossover-candidates=M --allow-cpu-only\n";
      return false;
    }
  }
  return true;
}

Eigen::MatrixXd Points(int n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd x(n, d);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x(i, j) = u(rng);
  }
  return x;
}

// Styblinski-Tang on [-5, 5]^d with a little noise, standardized (as hpt's sampler standardizes).
Eigen::VectorXd Values(const Eigen::MatrixXd& x, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, 0.01);
  Eigen::VectorXd y(x.rows());
  for (int i = 0; i < x.rows(); ++i) {
    const Eigen::ArrayXd z = 10 * x.row(i).array() - 5;
    y(i) = 0.5 * (z.pow(4) - 16 * z.square() + 5 * z).sum();
  }
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  for (int i = 0; i < y.size(); ++i) y(i) += noise(rng);
  return y;
}

GpHyperparameters FixedHyper(int d) {
  GpHyperparameters h;
  h.type = linalg::KernelType::kMatern52;
  h.log_lengthscales = Eigen::VectorXd::Constant(d, std::log(0.8));
  h.log_signal_variance = 0;
  h.log_noise_variance = std::log(1e-3);
  h.mean = 0;
  return h;
}

// hpt's fit starts at its prior's mode (gp_model.h): the same start for GPyTorch's fit.
GpHyperparameters PriorMode(int d) {
  GpHyperparameters h;
  h.log_lengthscales = Eigen::VectorXd::Constant(d, std::sqrt(2.0) + 0.5 * std::log(d));
  h.log_signal_variance = 0;
  h.log_noise_variance = -4;
  h.mean = 0;
  return h;
}

Json HyperJson(const GpHyperparameters& h) {
  const Eigen::VectorXd l = h.log_lengthscales.array().exp();
  return Json{{"kernel", linalg::KernelTypeName(h.type)},
              {"lengthscales", std::vector<double>(l.data(), l.data() + l.size())},
              {"signal_variance", std::exp(h.log_signal_variance)},
              {"noise_variance", std::exp(h.log_noise_variance)},
              {"mean", h.mean}};
}

// Writes m row-major as raw float64.
absl::Status WriteMatrix(const std::filesystem::path& path, const Eigen::MatrixXd& m) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = m;
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(rows.data()),
          static_cast<std::streamsize>(rows.size() * sizeof(double)));
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

// Forwards every call to `inner`, adding up the seconds spent per method.
class TimedBackend final : public LinalgBackend {
 public:
  explicit TimedBackend(LinalgBackend* inner) : inner_(inner) {}

  void Reset() {
    seconds_.clear();
    calls_.clear();
    gradients_ = 0;
  }
  // Likelihood evaluations that asked for the gradient.
  int Gradients() const { return gradients_; }
  Json Breakdown() const {
    Json j = Json::object();
    for (const auto& [name, s] : seconds_) j[name] = {{"seconds", s}, {"calls", calls_.at(name)}};
    return j;
  }
  int Calls(const std::string& name) const {
    auto it = calls_.find(name);
    return it == calls_.end() ? 0 : it->second;
  }

  absl::Status Cholesky(const Eigen::MatrixXd& a, Eigen::MatrixXd* lower,
                        double* jitter_used) override {
    return Time("Cholesky", [&] { return inner_->Cholesky(a, lower, jitter_used); });
  }
  absl::Status SolveLower(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                          Eigen::MatrixXd* x) override {
    return Time("SolveLower", [&] { return inner_->SolveLower(lower, b, x); });
  }
  absl::Status SolveUpper(const Eigen::MatrixXd& upper, const Eigen::MatrixXd& b,
                          Eigen::MatrixXd* x) override {
    return Time("SolveUpper", [&] { return inner_->SolveUpper(upper, b, x); });
  }
  absl::Status CholeskySolve(const Eigen::MatrixXd& lower, const Eigen::MatrixXd& b,
                             Eigen::MatrixXd* x) override {
    return Time("CholeskySolve", [&] { return inner_->CholeskySolve(lower, b, x); });
  }
  absl::Status KernelMatrix(const linalg::KernelParams& kernel, const Eigen::MatrixXd& a,
                            const Eigen::MatrixXd& b, Eigen::MatrixXd* out) override {
    return Time("KernelMatrix", [&] { return inner_->KernelMatrix(kernel, a, b, out); });
  }
  absl::Status NegLogMarginalLikelihood(const GpHyperparameters& h, const Eigen::MatrixXd& x,
                                        const Eigen::VectorXd& y, double* value,
                                        Eigen::VectorXd* gradient) override {
    if (gradient != nullptr) ++gradients_;
    return Time("NegLogMarginalLikelihood",
                [&] { return inner_->NegLogMarginalLikelihood(h, x, y, value, gradient); });
  }
  absl::Status Posterior(const linalg::PosteriorFactor& f, const Eigen::MatrixXd& z,
                         Eigen::VectorXd* mean, Eigen::VectorXd* variance) override {
    return Time("Posterior", [&] { return inner_->Posterior(f, z, mean, variance); });
  }
  const char* Name() const override { return inner_->Name(); }

 private:
  template <typename F>
  absl::Status Time(const std::string& name, const F& f) {
    const Clock::time_point start = Clock::now();
    absl::Status s = f();
    seconds_[name] += Seconds(start);
    ++calls_[name];
    return s;
  }

  LinalgBackend* inner_;
  std::map<std::string, double> seconds_;
  std::map<std::string, int> calls_;
  int gradients_ = 0;
};

struct Prediction {
  Eigen::VectorXd mean;
  Eigen::VectorXd variance;
};

// (a): GpModel::Create + Predict. Returns the seconds, or the error.
absl::StatusOr<double> FixedFitAndPosterior(TimedBackend& la, const Eigen::MatrixXd& x,
                                            const Eigen::VectorXd& y, const GpHyperparameters& h,
                                            const Eigen::MatrixXd& z, Prediction* out) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<gp::GpModel> model = gp::GpModel::Create(la, x, y, h);
  if (!model.ok()) return model.status();
  if (absl::Status s = model->Predict(z, &out->mean, &out->variance); !s.ok()) return s;
  return Seconds(start);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// max |a - b| / max |b|.
double RelativeDifference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  if (a.size() != b.size() || b.size() == 0) return std::nan("");
  return (a - b).cwiseAbs().maxCoeff() / std::max(b.cwiseAbs().maxCoeff(), 1e-300);
}

struct Backends {
  std::unique_ptr<LinalgBackend> cuda;  // null when no device (--allow-cpu-only)
  linalg::EigenBackend eigen;
};

// Times (a) and (b) for one n on one backend; `runs` runs of (a).
Json RunOne(LinalgBackend& backend, const Options& o, const Eigen::MatrixXd& x,
            const Eigen::VectorXd& y, const Eigen::MatrixXd& z, int runs, Prediction* prediction) {
  TimedBackend la(&backend);
  const int n = static_cast<int>(x.rows());
  const GpHyperparameters fixed = FixedHyper(o.dims);
  Json result{{"backend", backend.Name()}, {"n", n}};
  std::vector<double> times;
  Json breakdown;
  for (int r = 0; r < runs; ++r) {
    la.Reset();
    Prediction p;
    absl::StatusOr<double> t = FixedFitAndPosterior(la, x, y, fixed, z, &p);
    if (!t.ok()) {
      result["fixed"] = {{"error", t.status().ToString()}};
      std::cerr << "  " << backend.Name() << " n=" << n << " (a) failed: " << t.status() << "\n";
      return result;
    }
    times.push_back(*t);
    breakdown = la.Breakdown();
    if (r == 0 && prediction != nullptr) *prediction = std::move(p);
  }
  result["fixed"] = {{"seconds", Median(times)}, {"runs", times}, {"breakdown", breakdown}};
  std::cerr << "  " << backend.Name() << " n=" << n << " (a) " << Median(times) << " s\n";

  la.Reset();
  const Clock::time_point start = Clock::now();
  gp::GpFitOptions fit{.kernel = linalg::KernelType::kMatern52,
                       .restarts = 0,
                       .max_evaluations = o.fit_evaluations,
                       .max_fit_points = n,
                       .seed = 1};
  absl::StatusOr<GpHyperparameters> h = gp::FitHyperparameters(la, x, y, fit);
  const double fit_seconds = Seconds(start);
  // NLopt's L-BFGS evaluates with the gradient; the fit also evaluates its start and its end
  // point without (see gp_model.cc).
  const int evaluations = la.Gradients();
  const int value_only = la.Calls("NegLogMarginalLikelihood") - evaluations;
  if (!h.ok()) {
    result["full"] = {{"error", h.status().ToString()}};
    return result;
  }
  Prediction p;
  const Json fit_breakdown = la.Breakdown();
  la.Reset();
  absl::StatusOr<double> t = FixedFitAndPosterior(la, x, y, *h, z, &p);
  if (!t.ok()) {
    result["full"] = {{"error", t.status().ToString()}};
    return result;
  }
  result["full"] = {{"seconds", fit_seconds + *t},
                    {"fit_seconds", fit_seconds},
                    {"likelihood_evaluations", evaluations},
                    {"value_only_evaluations", value_only},
                    {"seconds_per_evaluation", fit_seconds / std::max(evaluations, 1)},
                    {"fitted", HyperJson(*h)},
                    {"fit_breakdown", fit_breakdown},
                    {"posterior_breakdown", la.Breakdown()}};
  std::cerr << "  " << backend.Name() << " n=" << n << " (b) " << fit_seconds + *t << " s ("
            << evaluations << " evaluations)\n";
  return result;
}

// The smallest measured n from which CUDA is faster at every larger measured n (null if never).
Json Crossover(const std::vector<int>& sizes, const std::vector<double>& cpu,
               const std::vector<double>& gpu) {
  std::optional<int> from;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (!(gpu[i] < cpu[i])) break;
    from = sizes[i];
  }
  return from.has_value() ? Json(*from) : Json(nullptr);
}

Json RunCrossover(Backends& b, const Options& o) {
  Json table = Json::array();
  std::vector<double> nll_cpu, nll_gpu, fit_cpu, fit_gpu;
  const Eigen::MatrixXd z = Points(o.crossover_candidates, o.dims, 3);
  for (int n : o.crossover_sizes) {
    const Eigen::MatrixXd x = Points(n, o.dims, 1000 + n);
    const Eigen::VectorXd y = Values(x, 2000 + n);
    const GpHyperparameters h = FixedHyper(o.dims);
    const int runs = n <= 500 ? 5 : n <= 1000 ? 3 : 1;
    Json row{{"n", n}};
    for (LinalgBackend* la : {static_cast<LinalgBackend*>(&b.eigen), b.cuda.get()}) {
      std::vector<double> nll, fixed;
      for (int r = 0; r < runs; ++r) {
        double value = 0;
        Eigen::VectorXd gradient;
        Clock::time_point start = Clock::now();
        if (absl::Status s = la->NegLogMarginalLikelihood(h, x, y, &value, &gradient); !s.ok()) {
          std::cerr << "crossover: " << s << "\n";
        }
        nll.push_back(Seconds(start));
        TimedBackend timed(la);
        Prediction p;
        absl::StatusOr<double> t = FixedFitAndPosterior(timed, x, y, h, z, &p);
        fixed.push_back(t.ok() ? *t : std::nan(""));
      }
      row[la->Name()] = {{"likelihood_and_gradient_seconds", Median(nll)},
                         {"fixed_fit_and_posterior_seconds", Median(fixed)}};
      (la == &b.eigen ? nll_cpu : nll_gpu).push_back(Median(nll));
      (la == &b.eigen ? fit_cpu : fit_gpu).push_back(Median(fixed));
    }
    std::cerr << "  crossover n=" << n << ": likelihood eigen " << nll_cpu.back() << " s, cuda "
              << nll_gpu.back() << " s; fit+posterior eigen " << fit_cpu.back() << " s, cuda "
              << fit_gpu.back() << " s\n";
    table.push_back(row);
  }
  return Json{{"candidates", o.crossover_candidates},
              {"rows", table},
              {"likelihood_crossover_n", Crossover(o.crossover_sizes, nll_cpu, nll_gpu)},
              {"fixed_fit_crossover_n", Crossover(o.crossover_sizes, fit_cpu, fit_gpu)}};
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, &o)) return 1;
  Backends b;
  Json report{{"settings",
               {{"sizes", o.sizes},
                {"candidates", o.candidates},
                {"dims", o.dims},
                {"fit_evaluations", o.fit_evaluations},
                {"eigen_max_n", o.eigen_max_n},
                {"repeats", o.repeats}}}};
  absl::StatusOr<std::unique_ptr<LinalgBackend>> cuda = linalg::MakeCudaBackend();
  if (cuda.ok()) {
    b.cuda = std::move(*cuda);
  } else {
    std::cerr << "hpt_gp_gpu_bench: no CUDA device: " << cuda.status() << "\n";
    report["cuda_error"] = cuda.status().ToString();
    if (!o.allow_cpu_only) return 2;
  }
  const std::filesystem::path out(o.out);
  const std::filesystem::path data = out / "data";
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) {
    std::cerr << "hpt_gp_gpu_bench: cannot create " << data << ": " << ec.message() << "\n";
    return 1;
  }

  // Warm-up: handles, module loading and first allocations stay out of the timings.
  {
    const Eigen::MatrixXd x = Points(256, o.dims, 7);
    const Eigen::MatrixXd z = Points(1024, o.dims, 8);
    for (LinalgBackend* la : {static_cast<LinalgBackend*>(&b.eigen), b.cuda.get()}) {
      if (la == nullptr) continue;
      TimedBackend timed(la);
      Prediction p;
      (void)FixedFitAndPosterior(timed, x, Values(x, 9), FixedHyper(o.dims), z, &p);
      double v = 0;
      Eigen::VectorXd g;
      (void)la->NegLogMarginalLikelihood(FixedHyper(o.dims), x, Values(x, 9), &v, &g);
    }
  }

  const Eigen::MatrixXd z = Points(o.candidates, o.dims, 2);
  if (absl::Status s = WriteMatrix(data / "candidates.f64", z); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  report["fixed_hyperparameters"] = HyperJson(FixedHyper(o.dims));
  report["fit_start"] = HyperJson(PriorMode(o.dims));
  report["data"] = {{"dir", std::filesystem::absolute(data).string()},
                    {"candidates", "candidates.f64"}};
  Json runs = Json::array();
  Json datasets = Json::array();
  for (int n : o.sizes) {
    std::cerr << "n = " << n << "\n";
    const Eigen::MatrixXd x = Points(n, o.dims, 100 + n);
    const Eigen::VectorXd y = Values(x, 200 + n);
    const std::string stem = absl::StrCat("n", n);
    Json dataset{{"n", n}, {"x", stem + "_x.f64"}, {"y", stem + "_y.f64"}};
    if (absl::Status s = WriteMatrix(data / (stem + "_x.f64"), x); !s.ok()) return 1;
    if (absl::Status s = WriteMatrix(data / (stem + "_y.f64"), y); !s.ok()) return 1;

    Prediction gpu_prediction, cpu_prediction;
    if (b.cuda != nullptr) {
      runs.push_back(RunOne(*b.cuda, o, x, y, z, o.repeats, &gpu_prediction));
    }
    if (n <= o.eigen_max_n) {
      Json cpu = RunOne(b.eigen, o, x, y, z, 1, &cpu_prediction);
      if (b.cuda != nullptr && gpu_prediction.mean.size() > 0) {
        cpu["cuda_vs_eigen"] = {
            {"mean", RelativeDifference(gpu_prediction.mean, cpu_prediction.mean)},
            {"variance", RelativeDifference(gpu_prediction.variance, cpu_prediction.variance)}};
      }
      runs.push_back(cpu);
    }
    // The predictions GPyTorch is checked against: CUDA's, else Eigen's.
    const Prediction& reference = b.cuda != nullptr ? gpu_prediction : cpu_prediction;
    if (reference.mean.size() == z.rows()) {
      if (!WriteMatrix(data / (stem + "_mean.f64"), reference.mean).ok() ||
          !WriteMatrix(data / (stem + "_variance.f64"), reference.variance).ok()) {
        return 1;
      }
      dataset["hpt_mean"] = stem + "_mean.f64";
      dataset["hpt_variance"] = stem + "_variance.f64";
      dataset["hpt_backend"] = b.cuda != nullptr ? "cuda" : "eigen";
    }
    datasets.push_back(dataset);
  }
  report["data"]["sets"] = datasets;
  report["runs"] = runs;
  if (b.cuda != nullptr && !o.crossover_sizes.empty()) {
    std::cerr << "crossover\n";
    report["crossover"] = RunCrossover(b, o);
  }
  std::ofstream f(out / "hpt_gpu_bench.json");
  f << report.dump(2) << "\n";
  if (!f) {
    std::cerr << "hpt_gp_gpu_bench: cannot write " << (out / "hpt_gpu_bench.json") << "\n";
    return 1;
  }
  std::cout << (out / "hpt_gpu_bench.json").string() << "\n";
  return 0;
}

}  // namespace
}  // namespace hpt::suggest

int main(int argc, char** argv) { return hpt::suggest::Main(argc, argv); }
