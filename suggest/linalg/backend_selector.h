// BackendSelector: the run-time choice between the CPU (Eigen) and the CUDA LinalgBackend behind
// LinalgBackend::Default() and LinalgBackend::ForSize() (see backend.h for the rules and the
// environment variables). The process-wide selector reads the environment once; tests build their
// own from explicit settings, a fake CUDA factory and a log that records lines.
//
//   BackendSelector selector(ParseSelectorSettings("auto", "500", &log_lines),
//                            [] { return MakeCudaBackend(); }, [](const std::string& line) {
//                              std::cerr << line << "\n";
//                            });
//   LinalgBackend& la = selector.ForSize(1000);   // CUDA if a device answers, else Eigen
//
// Thread-safe: Default() and ForSize() may be called from several threads at once; the CUDA
// factory runs at most once.
#ifndef HPT_SUGGEST_LINALG_BACKEND_SELECTOR_H_
#define HPT_SUGGEST_LINALG_BACKEND_SELECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "suggest/linalg/backend.h"
#include "suggest/linalg/eigen_backend.h"

namespace hpt::suggest::linalg {

// HPT_LINALG.
enum class LinalgPreference { kAuto, kCpu, kCuda };

struct SelectorSettings {
  LinalgPreference preference = LinalgPreference::kAuto;
  // ForSize(n) prefers CUDA under kAuto when n >= crossover.
  int64_t crossover = kDefaultCudaCrossover;
};

// Reads the values of HPT_LINALG and HPT_LINALG_CROSSOVER (null or empty: unset). HPT_LINALG is
// auto, cpu or cuda in any letter case; any other value gives kCpu. The crossover is a
// non-negative decimal integer; any other value keeps the default. Each rejected value appends
// one line to *warnings (may be null).
SelectorSettings ParseSelectorSettings(const char* hpt_linalg, const char* hpt_linalg_crossover,
                                       std::vector<std::string>* warnings);

// Whether a problem wants the CUDA backend under `settings`, before any device is probed: n is
// the problem size, or nullopt for Default() (no size known). Pure.
bool WantsCuda(const SelectorSettings& settings, std::optional<int64_t> n);

class BackendSelector {
 public:
  // Makes the CUDA backend, or says why there is none (Unavailable: no device or driver).
  using CudaFactory = std::function<absl::StatusOr<std::unique_ptr<LinalgBackend>>()>;
  // Receives one line (no trailing newline) per logged event.
  using Log = std::function<void(const std::string&)>;

  // `make_cuda` is null in a build without the CUDA backend.
  BackendSelector(SelectorSettings settings, CudaFactory make_cuda, Log log);

  // Settings from the HPT_LINALG and HPT_LINALG_CROSSOVER environment variables; their warnings
  // go to `log` at once.
  static std::unique_ptr<BackendSelector> FromEnvironment(CudaFactory make_cuda, Log log);

  BackendSelector(const BackendSelector&) = delete;
  BackendSelector& operator=(const BackendSelector&) = delete;

  // See LinalgBackend::Default() and ForSize(). The references live as long as this object.
  LinalgBackend& Default();
  LinalgBackend& ForSize(int64_t n);

  const SelectorSettings& settings() const { return settings_; }

 private:
  // The CUDA backend (wrapped in a FallbackBackend over eigen_), or null when none could be made.
  // Probes once; a failed probe logs one line (a build without CUDA logs only under kCuda).
  LinalgBackend* Cuda();
  LinalgBackend& Choose(std::optional<int64_t> n);

  const SelectorSettings settings_;
  const CudaFactory make_cuda_;
  const Log log_;
  EigenBackend eigen_;
  std::once_flag probe_once_;
  std::unique_ptr<LinalgBackend> cuda_;  // written once under probe_once_
};

}  // namespace hpt::suggest::linalg

#endif  // HPT_SUGGEST_LINALG_BACKEND_SELECTOR_H_
