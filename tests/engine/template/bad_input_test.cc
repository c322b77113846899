// Bad input YamlToJson and RenderTrial must refuse with a clear error, found by the fuzz targets
// (tests/fuzz; each input is kept under tests/fuzz/regressions/).
#include <string>

#include "absl/status/status.h"
#include "engine/template/gotemplate.h"
#include "engine/template/render.h"
#include "engine/template/yaml_json.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/template/test_specs.h"

namespace hpt::engine {
namespace {

using testing::V1alpha1Context;
using testing::V1alpha1Spec;

// Fuzz (regressions/yaml_json/invalid_utf8_byte_in_scalar.yaml): yaml-cpp kept the byte 0xCE in
// the string, and the JSON's dump() threw nlohmann's type_error 316. The line is not quoted: the
// message itself must be UTF-8 (and free of NUL bytes).
TEST(BadInputTest, YamlThatIsNotUtf8IsRefused) {
  EXPECT_EQ(YamlToJson("a: 1\nbig: 184\xCC\xCE\n").status(),
            absl::InvalidArgumentError(
                "invalid YAML: line 2, column 9: invalid UTF-8 (byte 0xcc); hpt reads YAML text "
                "in UTF-8 (convert other encodings to UTF-8, e.g. with iconv)"));
  EXPECT_EQ(YamlToJson(std::string("a: \0", 4)).status(),
            absl::InvalidArgumentError(
                "invalid YAML: line 1, column 4: a NUL byte; hpt reads YAML text in UTF-8 "
                "(convert UTF-16 or UTF-32 files to UTF-8, e.g. with iconv)"));
  // UTF-8, with a byte order mark, reads as before.
  absl::StatusOr<nlohmann::json> j = YamlToJson("\xEF\xBB\xBFk: \"\xC3\xA9 \\xe9 \\u20AC\"\n");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["k"], "\xC3\xA9 \xC3\xA9 \xE2\x82\xAC");
}

// Fuzz (regressions/yaml_json/nel_escape_decodes_to_invalid_utf8.yaml): yaml-cpp 0.7 decodes
// "\N" to the byte 0x85 (and "\_" to 0xA0), not to UTF-8.
TEST(BadInputTest, NelAndNbspEscapesAreRefused) {
  EXPECT_EQ(YamlToJson("k: \"tab\\Nx\"\n").status(),
            absl::InvalidArgumentError(
                "invalid YAML: line 1, column 4: the escapes \\N and \\_ are not supported (the "
                "YAML parser decodes them to invalid UTF-8); write \\u0085 for \\N and \\u00A0 for "
                "\\_: \"k: \"tab\\Nx\"\""));
  EXPECT_EQ(YamlToJson("- \"\\_\"\n").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<nlohmann::json> j = YamlToJson("k: \"a\\u0085b\\u00A0\"\n");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["k"].dump(),
            "\"a\xC2\x85"
            "b\xC2\xA0\"");
}

// Fuzz (regressions/yaml_json/unknown_escape_message_splits_utf8.yaml): yaml-cpp's message
// quoted the first byte of a two-byte character (and points at its second byte).
TEST(BadInputTest, ParserMessagesStayUtf8) {
  absl::StatusOr<nlohmann::json> j = YamlToJson("k: \"\\\xC3\xA9\"\n");
  EXPECT_EQ(j.status(),
            absl::InvalidArgumentError("invalid YAML: line 1, column 7: unknown escape character: "
                                       "\\xc3: \"k: \"\\\xC3\xA9\"\""));
  EXPECT_NO_THROW((void)nlohmann::json(std::string(j.status().message())).dump());
}

// A v1alpha1 template (or a parameter value) that is not UTF-8 rendered a manifest the
// controller could not serialize; now RenderTrial refuses it.
TEST(BadInputTest, RenderTrialRefusesManifestsThatAreNotUtf8) {
  TrialContext ctx = V1alpha1Context();
  ctx.params[2].value = "ad\xFFm";
  absl::StatusOr<RenderedTrial> r = RenderTrial(V1alpha1Spec(), ctx);
  EXPECT_EQ(r.status(),
            absl::InvalidArgumentError(
                "/studies/random-example.yaml:7: the worker template rendered for trial "
                "\"random-example-1\" is not a valid manifest: invalid YAML: line 18, column 26: "
                "invalid UTF-8 (byte 0xff); hpt reads YAML text in UTF-8 (convert other encodings "
                "to UTF-8, e.g. with iconv) (line numbers count lines of the rendered text)"));
}

// Review: a ${trialParameters.x} used many times, or a {{range}} over a long value, made a small
// study render to gigabytes (a 315 KB study took 1 GB to validate). Rendering stops at 4 MiB.
TEST(BadInputTest, RenderedTextIsAtMost4MiB) {
  nlohmann::json trial_spec = testing::RandomTrialSpec();
  nlohmann::json& command = trial_spec["spec"]["template"]["spec"]["containers"][0]["command"];
  for (int i = 0; i < 5; ++i) command.push_back("--lr=${trialParameters.learningRate}");
  TrialContext ctx = testing::V1beta1Context();
  ctx.params[0].value = std::string(1 << 20, '1');  // 1 MiB, 6 times
  EXPECT_EQ(RenderTrial(testing::V1beta1Spec(trial_spec), ctx).status(),
            absl::InvalidArgumentError("/studies/random/random.yaml:30: the trial template is "
                                       "larger than 4 MiB with the ${trialParameters.x} replaced "
                                       "by their values"));
  ctx.params[0].value = std::string(600 << 10, '1');  // 3.5 MiB in all: fine
  EXPECT_TRUE(RenderTrial(testing::V1beta1Spec(trial_spec), ctx).ok());

  TrialContext alpha = V1alpha1Context();
  alpha.params[0].value = std::string(5 << 20, '1');
  EXPECT_EQ(RenderTrial(V1alpha1Spec(), alpha).status(),
            absl::InvalidArgumentError(
                "/studies/random-example.yaml:7: the worker template rendered for trial "
                "\"random-example-1\" is larger than 4 MiB (each {{range}} repeats its text per "
                "hyperparameter)"));
}

// Review: the search for undefined ${trialParameters.x} went back to the end of the line from
// every "${trialParameters." on it (a 1 MB line took 49 s); it is linear now, and lists the first
// ten of many.
TEST(BadInputTest, UndefinedPlaceholdersAreFoundInLinearTime) {
  nlohmann::json trial_spec = testing::RandomTrialSpec();
  nlohmann::json& command = trial_spec["spec"]["template"]["spec"]["containers"][0]["command"];
  std::string run;
  for (int i = 0; i < 100000; ++i) run += "${trialParameters.";  // 1.8 MB, no '}'
  for (int i = 0; i < 12; ++i) command.push_back("${trialParameters.u" + std::to_string(i) + "}");
  StudySpec spec = testing::V1beta1Spec();
  // A ConfigMap template (YAML text): the run is one line of its own.
  spec.trial_template.source = "# " + run + "\n" + trial_spec.dump();
  EXPECT_EQ(RenderTrial(spec, testing::V1beta1Context()).status(),
            absl::InvalidArgumentError(
                "/studies/random/random.yaml:30: the trial template uses ${trialParameters.u0}, "
                "${trialParameters.u1}, ${trialParameters.u2}, ${trialParameters.u3}, "
                "${trialParameters.u4}, ${trialParameters.u5}, ${trialParameters.u6}, "
                "${trialParameters.u7}, ${trialParameters.u8}, ${trialParameters.u9} and 2 more, "
                "which spec.trialTemplate.trialParameters does not define (defined: learningRate, "
                "momentum)"));
}

TEST(BadInputTest, GoTemplateExecuteWithALimit) {
  absl::StatusOr<gotemplate::Template> t =
      gotemplate::Template::Parse("{{range .HyperParameters}}{{.Value}};{{end}}");
  ASSERT_TRUE(t.ok()) << t.status();
  const gotemplate::WorkerData data{.hyper_parameters = {{"a", "12345", "int"}, {"b", "6", "int"}}};
  EXPECT_EQ(t->Execute(data, 8).value_or(""), "12345;6;");
  EXPECT_EQ(t->Execute(data, 7).status(),
            absl::InvalidArgumentError("the template renders to more than 7 bytes"));
  EXPECT_EQ(t->Execute(data), "12345;6;");
}

}  // namespace
}  // namespace hpt::engine
