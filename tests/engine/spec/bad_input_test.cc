// Bad input the study loader must refuse with a clear error, found by the fuzz targets
// (tests/fuzz; each input is kept under tests/fuzz/regressions/) or by review.
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "engine/spec/study_spec.h"
#include "engine/spec/yaml_reader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "suggest/search_space.h"
#include "tests/engine/spec/spec_test_util.h"

namespace hpt::engine {
namespace {

using ::hpt::engine::testing_util::Dump;
using ::hpt::engine::testing_util::Errors;
using ::hpt::engine::testing_util::Loaded;
using ::hpt::engine::testing_util::LoadFile;
using ::hpt::engine::testing_util::LoadText;
using ::hpt::engine::testing_util::TempDir;
using spec_internal::EscapeNonUtf8;
using spec_internal::FirstNonUtf8Byte;
using spec_internal::LoadYamlDocuments;
using spec_internal::Loc;

// A valid Experiment; `command` is the trial container's command line (flow YAML, on line 29
// from column 26), `hpt` what follows (from line 30).
std::string Experiment(const std::string& command, const std::string& hpt = "") {
  return R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: exp
spec:
  objective:
    type: maximize
    objectiveMetricName: accuracy
  algorithm:
    algorithmName: random
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.01", max: "0.1"}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: lr
        reference: lr
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: busybox
                command: )" +
         command + "\n" + hpt;
}

// The only error diagnostic, as printed.
std::string OnlyError(const Loaded& r) {
  std::vector<Diagnostic> errors = Errors(r);
  if (errors.size() != 1) return "want 1 error, got:\n" + Dump(r.diags);
  return errors[0].ToString();
}

TEST(BadInput, ValidExperimentLoads) {
  Loaded r = LoadText(Experiment(R"(["sh", "-c", "echo ${trialParameters.lr} é €"])"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
}

// Fuzz: bytes that are not UTF-8 reached the trialSpec, whose JSON serialization threw
// (nlohmann type_error 316), and LoadStudyText answered Internal; in a v1alpha1 template they
// reached the rendered manifest, and the controller's manifest.dump() threw.
TEST(BadInput, TextThatIsNotUtf8IsMalformedYaml) {
  Loaded r = LoadText(Experiment("[\"sh\", \"-c\", \"echo \xCE\"]"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnlyError(r),
            "study.yaml:29:45: error: malformed YAML: invalid UTF-8 (byte 0xce); hpt reads YAML "
            "text in UTF-8 (convert other encodings to UTF-8, e.g. with iconv)");
  // An overlong form, a UTF-16 surrogate, and a character cut short.
  for (const char* bad : {"\xC0\xAF", "\xED\xA0\x80", "\xE2\x82"}) {
    r = LoadText(Experiment(std::string("[\"echo\", \"") + bad));
    EXPECT_TRUE(absl::StartsWith(OnlyError(r),
                                 "study.yaml:29:36: error: malformed YAML: invalid UTF-8 (byte 0x"))
        << Dump(r.diags);
  }
}

// A NUL byte makes yaml-cpp read the text as UTF-16 or UTF-32 (at the start) or keep it in a
// string; neither is a study hpt can store.
TEST(BadInput, NulByteIsMalformedYaml) {
  Loaded r = LoadText(std::string("a: 1\nb: x\0y\n", 12));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnlyError(r),
            "study.yaml:2:5: error: malformed YAML: a NUL byte; hpt reads YAML text in UTF-8 "
            "(convert UTF-16 or UTF-32 files to UTF-8, e.g. with iconv)");
  // UTF-16 with its byte order mark.
  r =
      LoadText(std::string("\xFF\xFE"
                           "a\0:\0 \0"
                           "1\0",
                           10));
  EXPECT_TRUE(absl::StartsWith(OnlyError(r), "study.yaml:1:4: error: malformed YAML: a NUL byte;"))
      << Dump(r.diags);
}

// Fuzz: yaml-cpp 0.7 decodes the escapes \N and \_ to the single bytes 0x85 and 0xA0, which are
// not UTF-8 (U+0085 and U+00A0 are 0xC2 0x85 and 0xC2 0xA0).
TEST(BadInput, EscapesThatYamlCppDecodesWronglyAreRefused) {
  for (const char* escape : {R"(\N)", R"(\_)"}) {
    Loaded r = LoadText(Experiment(std::string(R"(["echo", "a)") + escape + R"(b"])"));
    EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument) << escape;
    EXPECT_EQ(OnlyError(r),
              "study.yaml:29:35: error: malformed YAML: the escapes \\N and \\_ are not supported "
              "(the YAML parser decodes them to invalid UTF-8); write \\u0085 for \\N and \\u00A0 "
              "for \\_")
        << escape;
  }
  // What to write instead works.
  Loaded r = LoadText(Experiment(R"(["echo", "a\u0085b\u00A0c\x85"])"));
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  EXPECT_NE(r.spec->trial_template.source.find("\"a\xC2\x85"
                                               "b\xC2\xA0"
                                               "c\xC2\x85\""),
            std::string::npos)
      << r.spec->trial_template.source;
}

// Fuzz: yaml-cpp's "unknown escape character: " quotes one byte, here the first of 'é'.
TEST(BadInput, ParserMessagesAreUtf8) {
  Loaded r = LoadText("a: \"\\\xC3\xA9\"\n");
  const std::string error = OnlyError(r);
  EXPECT_EQ(error, "study.yaml:1:7: error: malformed YAML: unknown escape character: \\xc3");
  EXPECT_NO_THROW((void)nlohmann::json(error).dump());
}

// Fuzz (regressions/study_yaml/discrete_value_with_blanks_fails_search_space_check.yaml): the
// loader read the discrete value " 128" as a number but kept the blank, and the samplers'
// ValidateSearchSpace then refused the loaded space ("is not a finite number"), so the study
// failed only when it ran.
TEST(BadInput, DiscreteValuesAreKeptAsTheNumbersRead) {
  std::string yaml = Experiment(R"(["echo", "${trialParameters.lr}"])");
  const std::string lr = R"(    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.01", max: "0.1"}
)";
  const std::string discrete = R"(    - name: lr
      parameterType: discrete
      feasibleSpace: {list: [" 128", "64 ", "+32", " 64"]}
)";
  yaml.replace(yaml.find(lr), lr.size(), discrete);
  Loaded r = LoadText(yaml);
  ASSERT_TRUE(r.spec.ok()) << Dump(r.diags);
  ASSERT_EQ(r.spec->space.params.size(), 1u);
  EXPECT_EQ(r.spec->space.params[0].list, (std::vector<std::string>{"128", "64", "+32", "64"}));
  EXPECT_TRUE(suggest::ValidateSearchSpace(r.spec->space).ok());
  ASSERT_EQ(r.diags.size(), 1u) << Dump(r.diags);
  EXPECT_EQ(r.diags[0].ToString(),
            "study.yaml:14:52: warning: spec.parameters[0].feasibleSpace.list[3]: value \"64\" is "
            "listed more than once");
}

// Fuzz (regressions/study_yaml/step_gives_more_than_2p53_values.yaml): the loader accepted a step
// that suggest::ValidateSearchSpace refuses; the samplers' rules now have the last word.
TEST(BadInput, LoadedSpacesPassTheSamplersChecks) {
  std::string yaml = Experiment(R"(["echo", "${trialParameters.lr}"])");
  const std::string range = R"(feasibleSpace: {min: "0.01", max: "0.1"})";
  yaml.replace(yaml.find(range), range.size(),
               R"(feasibleSpace: {min: "0.5", max: "9.1e307", step: "0.1"})");
  Loaded r = LoadText(yaml);
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnlyError(r),
            "study.yaml:14:22: error: spec.parameters[0].feasibleSpace: parameter 'lr' (double): "
            "feasibleSpace.step 0.1 is too small for the range [0.5, 9.1e+307] (more than 2^53 "
            "values)");
}

TEST(BadInput, Utf8Helpers) {
  EXPECT_EQ(FirstNonUtf8Byte(""), absl::string_view::npos);
  EXPECT_EQ(FirstNonUtf8Byte("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), absl::string_view::npos);
  EXPECT_EQ(FirstNonUtf8Byte(std::string("a\0b", 3)), absl::string_view::npos);  // NUL is UTF-8
  EXPECT_EQ(FirstNonUtf8Byte("ab\x80"), 2u);            // a continuation byte alone
  EXPECT_EQ(FirstNonUtf8Byte("a\xC1\xBF"), 1u);         // overlong 2-byte form
  EXPECT_EQ(FirstNonUtf8Byte("\xE0\x9F\xBF"), 0u);      // overlong 3-byte form
  EXPECT_EQ(FirstNonUtf8Byte("\xED\xBF\xBF"), 0u);      // a surrogate
  EXPECT_EQ(FirstNonUtf8Byte("\xF4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(FirstNonUtf8Byte("\xF0\x9F\x98"), 0u);      // cut short
  EXPECT_EQ(FirstNonUtf8Byte("\xE2\x28\xA1"), 0u);      // a bad continuation
  EXPECT_EQ(FirstNonUtf8Byte("\xF4\x8F\xBF\xBF"), absl::string_view::npos);  // U+10FFFF
  EXPECT_EQ(EscapeNonUtf8("a\xC3\xA9 \xC3 b\xFF"), "a\xC3\xA9 \\xc3 b\\xff");

  std::string error;
  Loc loc;
  EXPECT_EQ(LoadYamlDocuments("k: v\n# \xC3\xA9\n\xEF\xBB\xBF", &error, &loc).has_value(), true)
      << error;
  EXPECT_EQ(LoadYamlDocuments("k: v\n  x: \xFF", &error, &loc), std::nullopt);
  EXPECT_EQ(loc.line, 2);
  EXPECT_EQ(loc.column, 6);
}

// Review: spec.hpt.configMapFiles naming a device or a pipe made the loader (in hptd too) read
// /dev/zero until memory ran out, or block forever on a FIFO without a writer.
TEST(BadInput, ConfigMapFilesMustBeRegularFiles) {
  Loaded r = LoadText(Experiment(R"(["true"])", "  hpt:\n    configMapFiles: [/dev/zero]\n"));
  EXPECT_EQ(r.spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnlyError(r),
            "study.yaml:31:22: error: spec.hpt.configMapFiles[0]: cannot read /dev/zero: not a "
            "regular file (a device, a pipe or a socket); list files holding ConfigMaps");

  TempDir dir("fifo");
  const std::string fifo = dir.path() + "/templates.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string study = dir.Write("study.yaml", Experiment(R"(["true"])",
                                                               "  hpt:\n    configMapFiles: "
                                                               "[templates.yaml]\n"));
  r = LoadFile(study);
  EXPECT_EQ(OnlyError(r), study + ":31:22: error: spec.hpt.configMapFiles[0]: cannot read " + fifo +
                              ": not a regular file (a device, a pipe or a socket); list files "
                              "holding ConfigMaps");
}

// Review: the same for a study file itself: reading stops at 16 MiB.
TEST(BadInput, StudyFilesAreReadUpTo16MiB) {
  Loaded r = LoadFile("/dev/zero");
  EXPECT_EQ(r.spec.status(),
            absl::FailedPreconditionError("cannot read /dev/zero: larger than 16 MiB, too large "
                                          "for a study or ConfigMap file"));
  ASSERT_EQ(r.diags.size(), 1u);
  EXPECT_EQ(r.diags[0].ToString(),
            "/dev/zero: error: cannot read /dev/zero: larger than 16 MiB, too large for a study "
            "or ConfigMap file");
}

}  // namespace
}  // namespace hpt::engine
