// The run-time choice of LinalgBackend (backend_selector.h), with a fake CUDA factory: parsing of
// HPT_LINALG / HPT_LINALG_CROSSOVER, the size rule, the single probe and the single log line.
// Runs in every build (no CUDA needed).
#include "suggest/linalg/backend_selector.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_linalg_backend.h"
#include "gtest/gtest.h"

namespace hpt::suggest::linalg {
namespace {

TEST(ParseSelectorSettingsTest, UnsetAndEmptyMeanAutoWithTheDefaultCrossover) {
  std::vector<std::string> warnings;
  for (const char* value : {static_cast<const char*>(nullptr), ""}) {
    const SelectorSettings s = ParseSelectorSettings(value, value, &warnings);
    EXPECT_EQ(s.preference, LinalgPreference::kAuto);
    EXPECT_EQ(s.crossover, kDefaultCudaCrossover);
  }
  EXPECT_TRUE(warnings.empty());
}

TEST(ParseSelectorSettingsTest, KnownValuesInAnyCase) {
  std::vector<std::string> warnings;
  EXPECT_EQ(ParseSelectorSettings("cpu", nullptr, &warnings).preference, LinalgPreference::kCpu);
  EXPECT_EQ(ParseSelectorSettings("CUDA", nullptr, &warnings).preference, LinalgPreference::kCuda);
  EXPECT_EQ(ParseSelectorSettings("Auto", nullptr, &warnings).preference, LinalgPreference::kAuto);
  EXPECT_EQ(ParseSelectorSettings(nullptr, "0", &warnings).crossover, 0);
  EXPECT_EQ(ParseSelectorSettings(nullptr, "12345", &warnings).crossover, 12345);
  EXPECT_TRUE(warnings.empty());
}

TEST(ParseSelectorSettingsTest, AnUnknownBackendMeansCpuWithOneWarning) {
  std::vector<std::string> warnings;
  const SelectorSettings s = ParseSelectorSettings("gpu", nullptr, &warnings);
  EXPECT_EQ(s.preference, LinalgPreference::kCpu);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0],
            "hpt: HPT_LINALG=\"gpu\" is not one of auto, cpu, cuda; using the eigen (CPU) backend");
  // Null warnings are allowed.
  EXPECT_EQ(ParseSelectorSettings("cuda ", nullptr, nullptr).preference, LinalgPreference::kCpu);
}

TEST(ParseSelectorSettingsTest, ABadCrossoverKeepsTheDefaultWithOneWarning) {
  for (const char* bad : {"-1", "2k", "1e3", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    std::vector<std::string> warnings;
    const SelectorSettings s = ParseSelectorSettings("auto", bad, &warnings);
    EXPECT_EQ(s.preference, LinalgPreference::kAuto);
    EXPECT_EQ(s.crossover, kDefaultCudaCrossover);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], std::string("hpt: HPT_LINALG_CROSSOVER=\"") + bad +
                               "\" is not a non-negative integer; using 2000");
  }
}

TEST(WantsCudaTest, TheRuleOfBackendH) {
  const SelectorSettings automatic{.preference = LinalgPreference::kAuto, .crossover = 500};
  EXPECT_FALSE(WantsCuda(automatic, std::nullopt));  // Default(): no size, no CUDA
  EXPECT_FALSE(WantsCuda(automatic, 499));
  EXPECT_TRUE(WantsCuda(automatic, 500));
  EXPECT_TRUE(WantsCuda(automatic, 20000));
  const SelectorSettings cpu{.preference = LinalgPreference::kCpu, .crossover = 0};
  EXPECT_FALSE(WantsCuda(cpu, std::nullopt));
  EXPECT_FALSE(WantsCuda(cpu, 1000000));
  const SelectorSettings cuda{.preference = LinalgPreference::kCuda, .crossover = 500};
  EXPECT_TRUE(WantsCuda(cuda, std::nullopt));
  EXPECT_TRUE(WantsCuda(cuda, 1));
}

// A selector whose CUDA factory is a FakeLinalgBackend (or fails with `failure`), counting the
// factory calls and recording log lines.
struct Harness {
  explicit Harness(SelectorSettings settings, absl::Status failure = absl::OkStatus(),
                   bool has_factory = true) {
    BackendSelector::CudaFactory factory;
    if (has_factory) {
      factory = [this, failure]() -> absl::StatusOr<std::unique_ptr<LinalgBackend>> {
        ++factory_calls;
        if (!failure.ok()) return failure;
        return std::make_unique<FakeLinalgBackend>();
      };
    }
    selector = std::make_unique<BackendSelector>(
        settings, std::move(factory), [this](const std::string& line) { log.push_back(line); });
  }

  std::atomic<int> factory_calls{0};
  std::vector<std::string> log;
  std::unique_ptr<BackendSelector> selector;
};

TEST(BackendSelectorTest, AutoUsesEigenBelowTheCrossoverWithoutProbing) {
  Harness h({.preference = LinalgPreference::kAuto, .crossover = 1000});
  EXPECT_STREQ(h.selector->Default().Name(), "eigen");
  EXPECT_STREQ(h.selector->ForSize(999).Name(), "eigen");
  EXPECT_EQ(h.factory_calls, 0);
  EXPECT_TRUE(h.log.empty());
  // The same Eigen instance every time.
  EXPECT_EQ(&h.selector->Default(), &h.selector->ForSize(10));
}

TEST(BackendSelectorTest, AutoUsesCudaFromTheCrossoverAndProbesOnce) {
  Harness h({.preference = LinalgPreference::kAuto, .crossover = 1000});
  LinalgBackend& big = h.selector->ForSize(1000);
  EXPECT_STREQ(big.Name(), "fake-cuda");
  EXPECT_EQ(&h.selector->ForSize(50000), &big);
  EXPECT_STREQ(h.selector->ForSize(10).Name(), "eigen");
  EXPECT_STREQ(h.selector->Default().Name(), "eigen");  // Default() does not care about size
  EXPECT_EQ(h.factory_calls, 1);
  EXPECT_TRUE(h.log.empty());
  // The CUDA backend answers through a FallbackBackend: calls reach the fake.
  double value = 0;
  ASSERT_TRUE(
      big.NegLogMarginalLikelihood({}, Eigen::MatrixXd(), Eigen::VectorXd(), &value, nullptr).ok());
  EXPECT_EQ(value, FakeLinalgBackend::kMarker);
}

TEST(BackendSelectorTest, CudaPreferenceAppliesToDefaultAndEverySize) {
  Harness h({.preference = LinalgPreference::kCuda, .crossover = 1000});
  EXPECT_STREQ(h.selector->Default().Name(), "fake-cuda");
  EXPECT_STREQ(h.selector->ForSize(1).Name(), "fake-cuda");
  EXPECT_EQ(h.factory_calls, 1);
}

TEST(BackendSelectorTest, CpuPreferenceNeverProbes) {
  Harness h({.preference = LinalgPreference::kCpu, .crossover = 0});
  EXPECT_STREQ(h.selector->Default().Name(), "eigen");
  EXPECT_STREQ(h.selector->ForSize(1000000).Name(), "eigen");
  EXPECT_EQ(h.factory_calls, 0);
  EXPECT_TRUE(h.log.empty());
}

TEST(BackendSelectorTest, NoDeviceFallsBackToEigenWithExactlyOneLogLine) {
  Harness h({.preference = LinalgPreference::kCuda, .crossover = 0},
            absl::UnavailableError("CUDA backend: no usable CUDA device: none"));
  for (int i = 0; i < 5; ++i) {
    EXPECT_STREQ(h.selector->Default().Name(), "eigen");
    EXPECT_STREQ(h.selector->ForSize(100000).Name(), "eigen");
  }
  EXPECT_EQ(h.factory_calls, 1);
  ASSERT_EQ(h.log.size(), 1u);
  EXPECT_EQ(h.log[0],
            "hpt: CUDA linear algebra is unavailable: UNAVAILABLE: CUDA backend: no usable CUDA "
            "device: none; using the eigen (CPU) backend");
}

TEST(BackendSelectorTest, ABuildWithoutCudaFallsBackWithOneLogLine) {
  Harness h({.preference = LinalgPreference::kCuda, .crossover = 0}, absl::OkStatus(),
            /*has_factory=*/false);
  EXPECT_STREQ(h.selector->Default().Name(), "eigen");
  EXPECT_STREQ(h.selector->ForSize(5).Name(), "eigen");
  ASSERT_EQ(h.log.size(), 1u);
  EXPECT_EQ(h.log[0],
            "hpt: CUDA linear algebra is unavailable: this build has no CUDA backend (configured "
            "with HPT_WITH_CUDA=OFF, or no CUDA toolkit was found); using the eigen (CPU) backend");
}

TEST(BackendSelectorTest, ABuildWithoutCudaIsSilentUnderAuto) {
  Harness h({.preference = LinalgPreference::kAuto, .crossover = 100}, absl::OkStatus(),
            /*has_factory=*/false);
  EXPECT_STREQ(h.selector->ForSize(5000).Name(), "eigen");
  EXPECT_STREQ(h.selector->ForSize(5000).Name(), "eigen");
  EXPECT_TRUE(h.log.empty());
}

TEST(BackendSelectorTest, ConcurrentCallersProbeOnce) {
  Harness h({.preference = LinalgPreference::kAuto, .crossover = 10},
            absl::UnavailableError("no device"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) EXPECT_STREQ(h.selector->ForSize(100).Name(), "eigen");
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(h.factory_calls, 1);
  EXPECT_EQ(h.log.size(), 1u);
}

TEST(BackendSelectorTest, FromEnvironmentReadsBothVariablesAndLogsTheirWarnings) {
  ASSERT_EQ(setenv("HPT_LINALG", "fast", 1), 0);
  ASSERT_EQ(setenv("HPT_LINALG_CROSSOVER", "300", 1), 0);
  std::vector<std::string> log;
  std::unique_ptr<BackendSelector> selector = BackendSelector::FromEnvironment(
      nullptr, [&](const std::string& line) { log.push_back(line); });
  EXPECT_EQ(selector->settings().preference, LinalgPreference::kCpu);
  EXPECT_EQ(selector->settings().crossover, 300);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(
      log[0],
      "hpt: HPT_LINALG=\"fast\" is not one of auto, cpu, cuda; using the eigen (CPU) backend");
  EXPECT_STREQ(selector->ForSize(1000).Name(), "eigen");
  EXPECT_EQ(log.size(), 1u);  // cpu never probes: no second line
  ASSERT_EQ(unsetenv("HPT_LINALG"), 0);
  ASSERT_EQ(unsetenv("HPT_LINALG_CROSSOVER"), 0);
}

}  // namespace
}  // namespace hpt::suggest::linalg
