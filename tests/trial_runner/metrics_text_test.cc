#include "trial_runner/metrics_text.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::runner {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// 2024-01-02T03:04:05Z in milliseconds since the Unix epoch.
constexpr int64_t kJan2 = 1704164645000;

std::vector<TextMetric> Parse(std::string_view text, std::vector<std::string> names,
                              std::vector<std::string> formats = {}) {
  absl::StatusOr<std::vector<TextMetric>> m =
      ParseTextMetrics(text, std::move(names), std::move(formats));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : std::vector<TextMetric>{};
}

// One metric expected: returns its value (NaN and a failure otherwise).
double One(std::string_view line, const std::string& name) {
  std::vector<TextMetric> m = Parse(line, {name});
  EXPECT_EQ(m.size(), 1u) << "line: " << line;
  if (m.size() != 1) return std::nan("");
  EXPECT_EQ(m[0].name, name);
  return m[0].value;
}

TEST(ParseMetricValueTest, AcceptsDecimalAndScientificNotation) {
  EXPECT_EQ(ParseMetricValue("888"), 888.0);
  EXPECT_EQ(ParseMetricValue("-7.5e-05"), -7.5e-05);
  EXPECT_EQ(ParseMetricValue("1.23E10"), 1.23e10);
  EXPECT_EQ(ParseMetricValue(".98"), 0.98);
  EXPECT_EQ(ParseMetricValue("+3"), 3.0);
  EXPECT_EQ(ParseMetricValue("1."), 1.0);
  EXPECT_EQ(ParseMetricValue("-0.5"), -0.5);
  EXPECT_EQ(ParseMetricValue("2e+3"), 2000.0);
  EXPECT_EQ(ParseMetricValue("  0.25\t"), 0.25);
}

TEST(ParseMetricValueTest, RejectsWhatIsNotAFiniteDecimalNumber) {
  for (const char* bad : {"",    " ",   "+",     "-",      ".",     "e5",  "1e",
                          "1e+", "--1", "+-1",   "1.2.3",  "0x1p3", "inf", "-inf",
                          "nan", "NaN", "1e999", "-1e999", "12abc", "1 2", "unavailable"}) {
    EXPECT_EQ(ParseMetricValue(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(ParseRfc3339MillisTest, ParsesUtcFractionsAndOffsets) {
  EXPECT_EQ(ParseRfc3339Millis("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339Millis("2024-01-02T03:04:05Z"), kJan2);
  EXPECT_EQ(ParseRfc3339Millis("2024-01-02T03:04:05.123456Z"), kJan2 + 123);
  EXPECT_EQ(ParseRfc3339Millis("2024-01-02T03:04:05.5Z"), kJan2 + 500);
  EXPECT_EQ(ParseRfc3339Millis("2024-01-02T03:04:05.123456789Z"), kJan2 + 123);
  EXPECT_EQ(ParseRfc3339Millis("2024-01-02T03:04:05+01:00"), kJan2 - 3600 * 1000);
  EXPECT_EQ(ParseRfc3339Millis("2024-01-02T03:04:05.250-02:30"), kJan2 + 9000 * 1000 + 250);
  EXPECT_EQ(ParseRfc3339Millis("2024-02-29T00:00:00Z"), 1709164800000);
}

TEST(ParseRfc3339MillisTest, RejectsMalformedOrInvalidTimestamps) {
  for (const char* bad :
       {"", "2024-01-02", "2024-01-02T03:04:05", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05z",
        "2024-13-02T03:04:05Z", "2023-02-29T00:00:00Z", "2024-01-32T00:00:00Z",
        "2024-01-02T24:00:00Z", "2024-01-02T03:60:00Z", "2024-01-02T03:04:60Z",
        "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05.1234567890Z", "2024-01-02T03:04:05+0100",
        "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05Zjunk", "24-01-02T03:04:05Z", "INFO"}) {
    EXPECT_EQ(ParseRfc3339Millis(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(TextMetricsTest, DefaultFormatAcceptsKatibExamples) {
  EXPECT_DOUBLE_EQ(One("loss=0.3", "loss"), 0.3);
  EXPECT_DOUBLE_EQ(One("accuracy=.98", "accuracy"), 0.98);
  EXPECT_DOUBLE_EQ(One("Score=-7.53e-05", "Score"), -7.53e-05);
  EXPECT_DOUBLE_EQ(One("Score=1.23E10", "Score"), 1.23e10);
}

// Katib issues #1702 and #1754: scientific notation and plain integers must both parse whole.
TEST(TextMetricsTest, ScientificNotationAndIntegersParseWhole) {
  EXPECT_DOUBLE_EQ(One("loss=-7.5e-05", "loss"), -7.5e-05);
  EXPECT_DOUBLE_EQ(One("loss=1.23E10", "loss"), 1.23e10);
  EXPECT_DOUBLE_EQ(One("steps=888", "steps"), 888.0);
  EXPECT_DOUBLE_EQ(One("accuracy=.98", "accuracy"), 0.98);
  EXPECT_DOUBLE_EQ(One("gain=+3", "gain"), 3.0);
  EXPECT_DOUBLE_EQ(One("lr=1e-3", "lr"), 1e-3);
}

TEST(TextMetricsTest, SpacesAroundTheEqualsSignAreAccepted) {
  EXPECT_DOUBLE_EQ(One("accuracy = 0.9", "accuracy"), 0.9);
  EXPECT_DOUBLE_EQ(One("epoch 3: accuracy   =0.75 (best)", "accuracy"), 0.75);
}

TEST(TextMetricsTest, NamesMayHoldDigitsUnderscoresBarsAndDashes) {
  EXPECT_DOUBLE_EQ(One("val-loss_2=0.5", "val-loss_2"), 0.5);
  EXPECT_DOUBLE_EQ(One("a|b=7", "a|b"), 7.0);
}

TEST(TextMetricsTest, NameMustEqualAMetricName) {
  // The line contains "loss" (it passes the substring filter) but the name found is "val_loss".
  EXPECT_THAT(Parse("val_loss=0.5", {"loss"}), IsEmpty());
  EXPECT_THAT(Parse("Loss=0.5", {"loss"}), IsEmpty());
  std::vector<TextMetric> m = Parse("val_loss=0.5 loss=0.25", {"loss"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name, "loss");
  EXPECT_DOUBLE_EQ(m[0].value, 0.25);
}

TEST(TextMetricsTest, OnlyLinesContainingAMetricNameAreConsidered) {
  std::vector<TextMetric> m = Parse(
      "epoch=1 lr=0.1\n"
      "loss=0.5 epoch=1\n"
      "nothing here\n",
      {"loss", "epoch"});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].name, "epoch");
  EXPECT_EQ(m[0].line, 1);
  EXPECT_EQ(m[1].name, "loss");
  EXPECT_EQ(m[1].line, 2);
  EXPECT_EQ(m[2].name, "epoch");
  EXPECT_EQ(m[2].line, 2);
  EXPECT_THAT(Parse("lr=0.1 momentum=0.9", {"loss"}), IsEmpty());
}

TEST(TextMetricsTest, AllMatchesOfALineAreTakenInOrder) {
  std::vector<TextMetric> m = Parse("loss=0.3 accuracy=0.9 loss=0.2", {"accuracy", "loss"});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].name, "loss");
  EXPECT_DOUBLE_EQ(m[0].value, 0.3);
  EXPECT_EQ(m[1].name, "accuracy");
  EXPECT_DOUBLE_EQ(m[1].value, 0.9);
  EXPECT_EQ(m[2].name, "loss");
  EXPECT_DOUBLE_EQ(m[2].value, 0.2);
}

TEST(TextMetricsTest, ValuesThatAreNotNumbersAreSkipped) {
  EXPECT_THAT(Parse("loss=abc", {"loss"}), IsEmpty());
  EXPECT_THAT(Parse("loss=", {"loss"}), IsEmpty());
  EXPECT_THAT(Parse("loss=inf", {"loss"}), IsEmpty());
  EXPECT_THAT(Parse("loss=nan", {"loss"}), IsEmpty());
  EXPECT_THAT(Parse("loss=1e999", {"loss"}), IsEmpty());
}

TEST(TextMetricsTest, LeadingTimestampGivesTheTime) {
  std::vector<TextMetric> m = Parse(
      "2024-01-02T03:04:05.123456Z loss=0.3\n"
      "2024-01-02T03:04:05+01:00 loss=0.2\n"
      "loss=0.1\n"
      "2024-13-02T03:04:05Z loss=0.05\n"
      "2024-01-02T03:04:05Z\tloss=0.04\n"
      "epoch 1 2024-01-02T03:04:05Z loss=0.03\n",
      {"loss"});
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[0].time_ms, kJan2 + 123);
  EXPECT_EQ(m[1].time_ms, kJan2 - 3600 * 1000);
  EXPECT_EQ(m[2].time_ms, 0);  // no timestamp
  EXPECT_EQ(m[3].time_ms, 0);  // not a valid date
  EXPECT_EQ(m[4].time_ms, 0);  // the first space-separated token is "<ts>\tloss=0.04"
  EXPECT_EQ(m[5].time_ms, 0);  // not the first token
  EXPECT_DOUBLE_EQ(m[4].value, 0.04);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m[i].line, i + 1);
}

TEST(TextMetricsTest, KatibExampleTrainingLine) {
  std::vector<TextMetric> m =
      Parse("2024-01-02T03:04:05Z INFO Train Epoch: 1 [0/60000 (0%)]\tloss=2.3000\n", {"loss"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name, "loss");
  EXPECT_DOUBLE_EQ(m[0].value, 2.3);
  EXPECT_EQ(m[0].time_ms, kJan2);
  EXPECT_EQ(m[0].line, 1);
}

TEST(TextMetricsTest, KatibCustomFilter) {
  const std::string filter = R"({metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)})";
  std::vector<TextMetric> m = Parse(
      "{metricName: accuracy, metricValue: 0.9}\n"
      "{metricName: loss, metricValue: -12}\n"
      "accuracy=0.1\n",  // the default format is not in use
      {"accuracy", "loss"}, {filter});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, "accuracy");
  EXPECT_DOUBLE_EQ(m[0].value, 0.9);
  EXPECT_EQ(m[1].name, "loss");
  EXPECT_DOUBLE_EQ(m[1].value, -12.0);
}

TEST(TextMetricsTest, EveryFormatIsApplied) {
  std::vector<TextMetric> m =
      Parse("loss: 0.5 | acc -> 0.75", {"loss", "acc"}, {R"((\w+):\s*(\S+))", R"((\w+) -> (\S+))"});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, "loss");
  EXPECT_DOUBLE_EQ(m[0].value, 0.5);
  EXPECT_EQ(m[1].name, "acc");
  EXPECT_DOUBLE_EQ(m[1].value, 0.75);
}

TEST(TextMetricsTest, FindAllKeepsGoSemantics) {
  // '^' matches only at the start of the line, not where the previous match ended.
  std::vector<TextMetric> m = Parse("a=1 b=2", {"a", "b"}, {R"(^(\w+)=(\d+))"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name, "a");
  // Non-ASCII text around the metrics is fine, and a format that can match the empty string
  // does not loop.
  m = Parse("\xc3\xa9poque 1 \xe2\x80\x94 loss=0.5", {"loss"}, {R"((\w*)=?([\d.]*))"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_DOUBLE_EQ(m[0].value, 0.5);
}

TEST(TextMetricsTest, GroupsAreTrimmed) {
  std::vector<TextMetric> m = Parse("[ loss ; 0.5 ]", {"loss"}, {R"(\[([^;]*);([^\]]*)\])"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].name, "loss");
  EXPECT_DOUBLE_EQ(m[0].value, 0.5);
}

TEST(TextMetricsTest, LinesSplitOnNewlineWithoutCarriageReturn) {
  std::vector<TextMetric> m = Parse("start\r\nloss=1\r\n\r\nloss=2", {"loss"});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].line, 2);
  EXPECT_DOUBLE_EQ(m[0].value, 1.0);
  EXPECT_EQ(m[1].line, 4);
  EXPECT_DOUBLE_EQ(m[1].value, 2.0);
  EXPECT_THAT(Parse("", {"loss"}), IsEmpty());
}

TEST(TextMetricsTest, ParserIsReusableAndReportsItsFormats) {
  absl::StatusOr<TextMetricsParser> p = TextMetricsParser::Create({"loss"}, {});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->formats(), std::vector<std::string>{kDefaultMetricsFormat});
  EXPECT_EQ(p->metric_names(), std::vector<std::string>{"loss"});
  TextMetricsParser copy = *p;
  std::vector<TextMetric> out;
  copy.ParseLine("loss=1", 7, &out);
  p->ParseLine("loss=2", 8, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].line, 7);
  EXPECT_DOUBLE_EQ(out[1].value, 2.0);
  EXPECT_EQ(std::string(kDefaultMetricsFormat),
            R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))");
}

TEST(TextMetricsTest, BadFormatsAreInvalidArgument) {
  absl::StatusOr<TextMetricsParser> p = TextMetricsParser::Create({"loss"}, {"(unclosed"});
  ASSERT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("metrics format [0] '(unclosed'"));
  EXPECT_THAT(p.status().message(), HasSubstr("not a valid regular expression"));

  p = TextMetricsParser::Create({"loss"}, {R"((\w+)=(\S+))", R"((\w+)=\S+)"});
  ASSERT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("metrics format [1] '(\\w+)=\\S+' has 1 capture"));

  p = TextMetricsParser::Create({"loss"}, {R"(\w+=\S+)"});
  ASSERT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("has 0 capture group(s)"));
}

TEST(TextMetricsTest, MetricNamesAreRequired) {
  EXPECT_EQ(TextMetricsParser::Create({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = TextMetricsParser::Create({"loss", ""}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("metric names[1] is empty"));
}

TEST(JsonMetricsTest, TakesStringValuesAndTimestamps) {
  absl::StatusOr<std::vector<TextMetric>> m = ParseJsonMetrics(
      "{\"loss\": \"0.31\", \"timestamp\": 1640995200.5}\n"
      "\n"
      "  \n"
      "{\"loss\": \"-7.5e-05\", \"accuracy\": \"0.9\", \"timestamp\": \"2024-01-02T03:04:05Z\"}\n"
      "{\"loss\": 0.5, \"accuracy\": \"n/a\"}\n"
      "{\"accuracy\": \".98\", \"timestamp\": \"yesterday\"}\n"
      "{\"other\": \"1\", \"timestamp\": true}",
      {"loss", "accuracy"});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].name, "loss");
  EXPECT_DOUBLE_EQ((*m)[0].value, 0.31);
  EXPECT_EQ((*m)[0].time_ms, 1640995200500);
  EXPECT_EQ((*m)[0].line, 1);
  EXPECT_EQ((*m)[1].name, "loss");  // metric names' order within a line
  EXPECT_DOUBLE_EQ((*m)[1].value, -7.5e-05);
  EXPECT_EQ((*m)[1].time_ms, kJan2);
  EXPECT_EQ((*m)[1].line, 4);
  EXPECT_EQ((*m)[2].name, "accuracy");
  EXPECT_DOUBLE_EQ((*m)[2].value, 0.9);
  EXPECT_EQ((*m)[2].line, 4);
  // Line 5: a JSON number and a non-numeric string are both ignored.
  EXPECT_EQ((*m)[3].name, "accuracy");
  EXPECT_DOUBLE_EQ((*m)[3].value, 0.98);
  EXPECT_EQ((*m)[3].time_ms, 0);  // unparsable timestamp
  EXPECT_EQ((*m)[3].line, 6);
}

TEST(JsonMetricsTest, EmptyTextHasNoMetrics) {
  absl::StatusOr<std::vector<TextMetric>> m = ParseJsonMetrics("", {"loss"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(*m, IsEmpty());
}

TEST(JsonMetricsTest, ALineThatIsNotAJsonObjectIsInvalidArgument) {
  absl::StatusOr<std::vector<TextMetric>> m =
      ParseJsonMetrics("{\"loss\": \"0.3\"}\nloss=0.3\n", {"loss"});
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("JSON metrics line 2: not valid JSON"));

  m = ParseJsonMetrics("\n[1, 2]\n", {"loss"});
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(),
              HasSubstr("JSON metrics line 2: expected a JSON object, got array"));

  m = ParseJsonMetrics("\"loss\"", {"loss"});
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("line 1: expected a JSON object, got string"));

  m = ParseJsonMetrics("{\"loss\": \"0.3\"", {"loss"});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(ParseJsonMetrics("{}", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hpt::runner
