// libFuzzer entry of the study_yaml target (tests/fuzz/fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hpt::fuzz::StudyYamlOneInput(data, size);
}
