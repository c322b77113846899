#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_targets.h"

namespace hpt::fuzz {

bool IsUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

void Fail(std::string_view target, std::string_view what) {
  std::fprintf(stderr, "hpt fuzz target %.*s: contract broken: %.*s\n",
               static_cast<int>(target.size()), target.data(), static_cast<int>(what.size()),
               what.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace hpt::fuzz
