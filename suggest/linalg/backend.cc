#include "suggest/linalg/backend.h"

#include "suggest/linalg/eigen_backend.h"

namespace hpt::suggest::linalg {

LinalgBackend& LinalgBackend::Default() {
  static EigenBackend* const backend = new EigenBackend();  // never destroyed
  return *backend;
}

}  // namespace hpt::suggest::linalg
