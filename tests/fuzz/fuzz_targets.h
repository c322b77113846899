// hpt's fuzz targets: what each does with one input and which outcomes count as bugs.
//
// Each target takes arbitrary bytes and drives one parser of untrusted text end to end. Any
// exception escaping, crash, sanitizer report, hang or runaway allocation is a bug, and so is a
// broken contract the target checks after the call (e.g. a refusal without an error diagnostic,
// a status code the API does not document, a rendered manifest that cannot be serialized). A
// broken contract calls Fail(), which prints what broke and aborts, so libFuzzer saves the input
// and the replay test (regressions_test.cc) crashes on it.
//
// The same functions back two programs:
//   - the libFuzzer binaries (<target>_fuzzer.cc: LLVMFuzzerTestOneInput forwards here), built
//     by clang with -DHPT_BUILD_FUZZ=ON (scripts/fuzz.sh);
//   - hpt_fuzz_regressions_test, built by any compiler with the normal tests, which runs every
//     file of tests/fuzz/regressions/<target>/ and tests/fuzz/corpus/<target>/ through them.
//
// Each entry point returns 0 (libFuzzer's convention; the value means nothing else). Thread-
// compatible: libFuzzer calls them from one thread.
#ifndef HPT_TESTS_FUZZ_FUZZ_TARGETS_H_
#define HPT_TESTS_FUZZ_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hpt::fuzz {

// study_yaml: the bytes as a study file (LoadStudyText with diagnostics); when a spec loads, the
// template checks (CheckTrialTemplate), the algorithm's sampler construction (MakeSampler), and
// RenderTrial with two assignments (every parameter at its first value, and one from the random
// sampler with a fixed seed), then the manifest serialized as the controller does.
int StudyYamlOneInput(const uint8_t* data, size_t size);

// gotemplate: the bytes as a v1alpha1 worker template (gotemplate::Template::Parse), executed
// with no hyperparameters and with three when it parses.
int GoTemplateOneInput(const uint8_t* data, size_t size);

// yaml_json: the bytes as YAML for YamlToJson; a result must serialize.
int YamlJsonOneInput(const uint8_t* data, size_t size);

// Whether `s` is UTF-8 that nlohmann::json can serialize (its own check, independent of hpt's).
bool IsUtf8(const std::string& s);

// Reports a broken contract of `target` on stderr and aborts.
[[noreturn]] void Fail(std::string_view target, std::string_view what);

}  // namespace hpt::fuzz

#endif  // HPT_TESTS_FUZZ_FUZZ_TARGETS_H_
