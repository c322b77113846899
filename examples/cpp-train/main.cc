// hpt example: a C++ training program that hpt tunes.
//
// A one-hidden-layer network (tanh units, linear output) fits a noisy 1-D curve,
// y = sin(3x) + 0.3 x^2 on [-2, 2], by minibatch SGD with heavy-ball momentum and L2 weight
// decay. The learning rate, momentum, weight decay, hidden units and batch size all change the
// validation error it reaches in the given epochs.
//
//   hpt_example_cpp_train --lr=0.05 --momentum=0.9 --hidden=16 --batch_size=16 --epochs=30
//
// Each epoch prints a Katib-style line, `epoch=3 loss=0.052100 train_loss=0.049800` (loss is the
// validation mean squared error), and, when run as an hpt trial (HPT_ENDPOINT set), reports
// `loss` and `train_loss` with step=epoch through hpt::client::Reporter. The data are the same
// for every trial; --seed (default: the trial's seed from hpt, else 0) drives the weight
// initialization and the shuffling. Exit status: 0 done, 1 hpt refused a report, 2 bad flags.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "client/cpp/hpt_client.h"

ABSL_FLAG(double, lr, 0.05, "learning rate, > 0 (try 1e-3 .. 0.5, log scale)");
ABSL_FLAG(double, momentum, 0.9, "heavy-ball momentum, in [0, 1) (try 0 .. 0.99)");
ABSL_FLAG(double, weight_decay, 0.0, "L2 weight decay, >= 0 (try 0 .. 0.01)");
ABSL_FLAG(int, hidden, 16, "hidden units, >= 1 (try 2 .. 64)");
ABSL_FLAG(int, batch_size, 16, "minibatch size, >= 1 (try 4 .. 128)");
ABSL_FLAG(int, epochs, 30, "epochs, >= 1");
ABSL_FLAG(int64_t, seed, -1, "initialization/shuffling seed; < 0: the trial's seed, else 0");

namespace {

constexpr uint64_t kDataSeed = 1234;  // every trial sees the same data
constexpr int kTrain = 400;
constexpr int kVal = 200;
constexpr double kGradClip = 5.0;  // global norm clip: bad settings stay finite, just bad

struct Sample {
  double x, y;
};

std::vector<Sample> MakeData(int n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::vector<Sample> data(n);
  for (Sample& s : data) {
    s.x = u(rng);
    s.y = std::sin(3.0 * s.x) + 0.3 * s.x * s.x + noise(rng);
  }
  return data;
}

// y_hat = c + sum_j v_j tanh(w_j x + b_j). Parameters in one vector: per hidden unit j,
// [w_j, b_j, v_j]; then c.
class Network {
 public:
  Network(int hidden, std::mt19937_64& rng) : hidden_(hidden), theta_(3 * hidden + 1, 0.0) {
    std::normal_distribution<double> w(0.0, 1.0), v(0.0, 1.0 / std::sqrt(hidden));
    for (int j = 0; j < hidden; ++j) {
      theta_[3 * j] = w(rng);
      theta_[3 * j + 1] = w(rng);
      theta_[3 * j + 2] = v(rng);
    }
  }

  double Predict(double x) const {
    double y = theta_.back();
    for (int j = 0; j < hidden_; ++j) {
      y += theta_[3 * j + 2] * std::tanh(theta_[3 * j] * x + theta_[3 * j + 1]);
    }
    return y;
  }

  // Adds the gradient of the batch's mean squared error to `grad`.
  void Gradient(const std::vector<Sample>& data, size_t begin, size_t end,
                std::vector<double>& grad) const {
    const double scale = 2.0 / static_cast<double>(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const double x = data[i].x;
      const double dy = (Predict(x) - data[i].y) * scale;
      grad.back() += dy;
      for (int j = 0; j < hidden_; ++j) {
        const double h = std::tanh(theta_[3 * j] * x + theta_[3 * j + 1]);
        const double dh = dy * theta_[3 * j + 2] * (1.0 - h * h);
        grad[3 * j] += dh * x;
        grad[3 * j + 1] += dh;
        grad[3 * j + 2] += dy * h;
      }
    }
  }

  double MeanSquaredError(const std::vector<Sample>& data) const {
    double sum = 0.0;
    for (const Sample& s : data) sum += (Predict(s.x) - s.y) * (Predict(s.x) - s.y);
    return sum / static_cast<double>(data.size());
  }

  std::vector<double>& theta() { return theta_; }

 private:
  int hidden_;
  std::vector<double> theta_;
};

int Fail(const std::string& message, int code) {
  std::cerr << "hpt_example_cpp_train: " << message << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Trains a tiny network on a 1-D curve; reports to hpt.");
  absl::ParseCommandLine(argc, argv);
  const double lr = absl::GetFlag(FLAGS_lr);
  const double momentum = absl::GetFlag(FLAGS_momentum);
  const double weight_decay = absl::GetFlag(FLAGS_weight_decay);
  const int hidden = absl::GetFlag(FLAGS_hidden);
  const int batch_size = absl::GetFlag(FLAGS_batch_size);
  const int epochs = absl::GetFlag(FLAGS_epochs);
  if (!(lr > 0)) return Fail(absl::StrFormat("--lr=%g: the learning rate must be > 0", lr), 2);
  if (!(momentum >= 0 && momentum < 1)) {
    return Fail(absl::StrFormat("--momentum=%g: must be in [0, 1)", momentum), 2);
  }
  if (!(weight_decay >= 0)) {
    return Fail(absl::StrFormat("--weight_decay=%g: must be >= 0", weight_decay), 2);
  }
  if (hidden < 1 || batch_size < 1 || epochs < 1) {
    return Fail(absl::StrFormat("--hidden=%d --batch_size=%d --epochs=%d: each must be >= 1",
                                hidden, batch_size, epochs),
                2);
  }

  // Under hpt, report over gRPC; standalone, the printed lines are all there is.
  std::unique_ptr<hpt::client::Reporter> reporter;
  const char* endpoint = std::getenv(hpt::client::kEnvEndpoint);
  if (endpoint != nullptr && *endpoint != '\0') {
    absl::StatusOr<std::unique_ptr<hpt::client::Reporter>> r = hpt::client::Reporter::FromEnv();
    if (!r.ok()) return Fail(r.status().ToString(), 1);
    reporter = std::move(*r);
  }
  uint64_t seed = 0;
  if (absl::GetFlag(FLAGS_seed) >= 0) {
    seed = static_cast<uint64_t>(absl::GetFlag(FLAGS_seed));
  } else if (reporter != nullptr) {
    absl::StatusOr<hpt::client::TrialAssignment> a = reporter->GetAssignment();
    if (!a.ok()) return Fail(a.status().ToString(), 1);
    seed = a->seed;
  }

  std::mt19937_64 data_rng(kDataSeed);
  std::vector<Sample> train = MakeData(kTrain, data_rng);
  const std::vector<Sample> val = MakeData(kVal, data_rng);
  std::mt19937_64 rng(seed);
  Network net(hidden, rng);
  std::vector<double>& theta = net.theta();
  std::vector<double> velocity(theta.size(), 0.0), grad(theta.size());

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    std::shuffle(train.begin(), train.end(), rng);
    for (size_t begin = 0; begin < train.size(); begin += batch_size) {
      const size_t end = std::min(train.size(), begin + static_cast<size_t>(batch_size));
      std::fill(grad.begin(), grad.end(), 0.0);
      net.Gradient(train, begin, end, grad);
      const double norm =
          std::sqrt(std::inner_product(grad.begin(), grad.end(), grad.begin(), 0.0));
      const double clip = norm > kGradClip ? kGradClip / norm : 1.0;
      for (size_t i = 0; i < theta.size(); ++i) {
        velocity[i] = momentum * velocity[i] + grad[i] * clip + weight_decay * theta[i];
        theta[i] -= lr * velocity[i];
      }
    }
    const double loss = net.MeanSquaredError(val);
    const double train_loss = net.MeanSquaredError(train);
    std::cout << absl::StrFormat("epoch=%d loss=%.6f train_loss=%.6f", epoch, loss, train_loss)
              << std::endl;
    if (reporter != nullptr) {
      absl::Status s =
          reporter->Report({{"loss", loss}, {"train_loss", train_loss}}, epoch, epoch == epochs);
      if (!s.ok()) return Fail(s.ToString(), 1);
    }
  }
  return 0;
}
