// A LinalgBackend double for the selector and fallback tests: every call is counted and answers
// with the status the test scripted (writing a recognizable value into its outputs on OK).
#ifndef HPT_TESTS_SUGGEST_FAKE_LINALG_BACKEND_H_
#define HPT_TESTS_SUGGEST_FAKE_LINALG_BACKEND_H_

#include <atomic>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "suggest/linalg/backend.h"

namespace hpt::suggest::linalg {

class FakeLinalgBackend final : public LinalgBackend {
 public:
  explicit FakeLinalgBackend(std::string name = "fake-cuda") : name_(std::move(name)) {}

  // What every call returns from now on.
  void set_status(absl::Status s) { status_ = std::move(s); }
  int calls() const { return calls_.load(); }

  // On OK each call fills its output with this marker (1x1 matrices, 1-vectors, *value).
  static constexpr double kMarker = 42;

  absl::Status Cholesky(const Eigen::MatrixXd&, Eigen::MatrixXd* lower,
                        double* jitter_used) override {
    if (jitter_used != nullptr) *jitter_used = kMarker;
    return Answer(lower);
  }
  absl::Status SolveLower(const Eigen::MatrixXd&, const Eigen::MatrixXd&,
                          Eigen::MatrixXd* x) override {
    return Answer(x);
  }
  absl::Status SolveUpper(const Eigen::MatrixXd&, const Eigen::MatrixXd&,
                          Eigen::MatrixXd* x) override {
    return Answer(x);
  }
  absl::Status CholeskySolve(const Eigen::MatrixXd&, const Eigen::MatrixXd&,
                             Eigen::MatrixXd* x) override {
    return Answer(x);
  }
  absl::Status KernelMatrix(const KernelParams&, const Eigen::MatrixXd&, const Eigen::MatrixXd&,
                            Eigen::MatrixXd* out) override {
    return Answer(out);
  }
  absl::Status NegLogMarginalLikelihood(const GpHyperparameters&, const Eigen::MatrixXd&,
                                        const Eigen::VectorXd&, double* value,
                                        Eigen::VectorXd* gradient) override {
    ++calls_;
    if (!status_.ok()) return status_;
    *value = kMarker;
    if (gradient != nullptr) *gradient = Eigen::VectorXd::Constant(1, kMarker);
    return status_;
  }
  absl::Status Posterior(const PosteriorFactor&, const Eigen::MatrixXd&, Eigen::VectorXd* mean,
                         Eigen::VectorXd* variance) override {
    ++calls_;
    if (!status_.ok()) return status_;
    *mean = Eigen::VectorXd::Constant(1, kMarker);
    *variance = Eigen::VectorXd::Constant(1, kMarker);
    return status_;
  }
  const char* Name() const override { return name_.c_str(); }

 private:
  absl::Status Answer(Eigen::MatrixXd* out) {
    ++calls_;
    if (status_.ok()) *out = Eigen::MatrixXd::Constant(1, 1, kMarker);
    return status_;
  }

  const std::string name_;
  absl::Status status_ = absl::OkStatus();
  std::atomic<int> calls_{0};
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_TESTS_SUGGEST_FAKE_LINALG_BACKEND_H_
