#include "suggest/linalg/backend.h"

#include <iostream>
#include <memory>
#include <string>

#include "suggest/linalg/backend_selector.h"
#ifdef HPT_HAVE_CUDA_BACKEND  // defined for this file only, in CUDA builds (suggest/CMakeLists.txt)
#include "suggest/linalg/cuda/cuda_backend.h"
#endif

namespace hpt::suggest::linalg {
namespace {

BackendSelector::CudaFactory BuildCudaFactory() {
#ifdef HPT_HAVE_CUDA_BACKEND
  return [] { return MakeCudaBackend(); };
#else
  return nullptr;
#endif
}

void LogToStderr(const std::string& line) { std::cerr << line << std::endl; }

BackendSelector& ProcessSelector() {
  // Never destroyed: the backends may hold device resources that must not be released after the
  // CUDA runtime has shut down at exit.
  static BackendSelector* const selector =
      BackendSelector::FromEnvironment(BuildCudaFactory(), &LogToStderr).release();
  return *selector;
}

}  // namespace

LinalgBackend& LinalgBackend::Default() { return ProcessSelector().Default(); }

LinalgBackend& LinalgBackend::ForSize(int64_t n) { return ProcessSelector().ForSize(n); }

}  // namespace hpt::suggest::linalg
