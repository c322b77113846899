#include "suggest/linalg/backend_selector.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "suggest/linalg/fallback_backend.h"

namespace hpt::suggest::linalg {

SelectorSettings ParseSelectorSettings(const char* hpt_linalg, const char* hpt_linalg_crossover,
                                       std::vector<std::string>* warnings) {
  SelectorSettings settings;
  auto warn = [&](std::string line) {
    if (warnings != nullptr) warnings->push_back(std::move(line));
  };
  if (hpt_linalg != nullptr && *hpt_linalg != '\0') {
    const std::string value = absl::AsciiStrToLower(hpt_linalg);
    if (value == "auto") {
      settings.preference = LinalgPreference::kAuto;
    } else if (value == "cpu") {
      settings.preference = LinalgPreference::kCpu;
    } else if (value == "cuda") {
      settings.preference = LinalgPreference::kCuda;
    } else {
      settings.preference = LinalgPreference::kCpu;
      warn(absl::StrCat("hpt: HPT_LINALG=\"", hpt_linalg,
                        "\" is not one of auto, cpu, cuda; using the eigen (CPU) backend"));
    }
  }
  if (hpt_linalg_crossover != nullptr && *hpt_linalg_crossover != '\0') {
    int64_t crossover = 0;
    if (absl::SimpleAtoi(hpt_linalg_crossover, &crossover) && crossover >= 0) {
      settings.crossover = crossover;
    } else {
      warn(absl::StrCat("hpt: HPT_LINALG_CROSSOVER=\"", hpt_linalg_crossover,
                        "\" is not a non-negative integer; using ", settings.crossover));
    }
  }
  return settings;
}

bool WantsCuda(const SelectorSettings& settings, std::optional<int64_t> n) {
  switch (settings.preference) {
    case LinalgPreference::kCpu:
      return false;
    case LinalgPreference::kCuda:
      return true;
    case LinalgPreference::kAuto:
      return n.has_value() && *n >= settings.crossover;
  }
  return false;
}

BackendSelector::BackendSelector(SelectorSettings settings, CudaFactory make_cuda, Log log)
    : settings_(settings), make_cuda_(std::move(make_cuda)), log_(std::move(log)) {}

std::unique_ptr<BackendSelector> BackendSelector::FromEnvironment(CudaFactory make_cuda, Log log) {
  std::vector<std::string> warnings;
  const SelectorSettings settings = ParseSelectorSettings(
      std::getenv("HPT_LINALG"), std::getenv("HPT_LINALG_CROSSOVER"), &warnings);
  if (log) {
    for (const std::string& line : warnings) log(line);
  }
  return std::make_unique<BackendSelector>(settings, std::move(make_cuda), std::move(log));
}

LinalgBackend* BackendSelector::Cuda() {
  std::call_once(probe_once_, [this] {
    std::string why;
    if (!make_cuda_) {
      // Under auto a CPU-only build has nothing to report: only an explicit request is unmet.
      if (settings_.preference != LinalgPreference::kCuda) return;
      why =
          "this build has no CUDA backend (configured with HPT_WITH_CUDA=OFF, or no CUDA "
          "toolkit was found)";
    } else {
      absl::StatusOr<std::unique_ptr<LinalgBackend>> cuda = make_cuda_();
      if (cuda.ok() && *cuda != nullptr) {
        cuda_ = std::make_unique<FallbackBackend>(std::move(*cuda), &eigen_, log_);
        return;
      }
      why = cuda.ok() ? std::string("the CUDA factory returned no backend")
                      : cuda.status().ToString();
    }
    if (log_) {
      log_(absl::StrCat("hpt: CUDA linear algebra is unavailable: ", why,
                        "; using the eigen (CPU) backend"));
    }
  });
  return cuda_.get();
}

LinalgBackend& BackendSelector::Choose(std::optional<int64_t> n) {
  if (WantsCuda(settings_, n)) {
    if (LinalgBackend* cuda = Cuda(); cuda != nullptr) return *cuda;
  }
  return eigen_;
}

LinalgBackend& BackendSelector::Default() { return Choose(std::nullopt); }

LinalgBackend& BackendSelector::ForSize(int64_t n) { return Choose(n); }

}  // namespace hpt::suggest::linalg
