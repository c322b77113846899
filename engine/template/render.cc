#include "engine/template/render.h"

namespace hpt::engine {
// Implementation lands with the template work (see render.h).
}  // namespace hpt::engine
