// Katib's file/stdout metric formats, parsed the way Katib's metrics collector does (CONTRACT
// §3.2, §3.3), with robust number parsing (scientific notation; Katib issues #1702/#1754).
//
// TEXT: training code prints `name=value` lines (StdOut collector) or writes them to a file (File
// collector, format TEXT). A line is considered only when it contains one of the metric names as a
// substring; an optional leading RFC3339 timestamp token gives the time; every filter regex (RE2
// syntax, which is Go's) is applied find-all over the line, group 1 (trimmed) is the name and must
// equal a metric name, group 2 (trimmed) is the value.
//
//   absl::StatusOr<TextMetricsParser> p = TextMetricsParser::Create({"loss", "accuracy"}, {});
//   if (!p.ok()) return p.status();
//   std::vector<TextMetric> m = p->ParseText("2024-01-02T03:04:05Z epoch 1 loss=0.31\n");
//   // m[0] = {.name = "loss", .value = 0.31, .time_ms = 1704164645000, .line = 1}
//
// JSON (File collector, format JSON; cloudml-hypertune style): one JSON object per line, e.g.
// `{"loss": "0.31", "timestamp": 1640995200.5}`; see ParseJsonMetrics().
//
// Thread-safety: everything here is a pure function or a const method of an immutable object;
// one TextMetricsParser may be used by many threads at once.
#ifndef HPT_TRIAL_RUNNER_METRICS_TEXT_H_
#define HPT_TRIAL_RUNNER_METRICS_TEXT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hpt::runner {

// Katib's default filter: ([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)
extern const char kDefaultMetricsFormat[];

struct TextMetric {
  std::string name;
  double value = 0;
  int64_t time_ms = 0;  // from a leading RFC3339 timestamp (ms since the Unix epoch); 0: none
  int line = 0;         // 1-based line number in the text
};

class TextMetricsParser {
 public:
  // Compiles `formats` (RE2 syntax; each must have at least two capture groups: group 1 the
  // metric name, group 2 its value). Empty `formats` means Katib's default (kDefaultMetricsFormat).
  // InvalidArgument when `metric_names` is empty or holds an empty name, or when a format does not
  // compile or has fewer than two groups (the message names the format and its index).
  static absl::StatusOr<TextMetricsParser> Create(std::vector<std::string> metric_names,
                                                  std::vector<std::string> formats);

  // Parses one line (without its line terminator) and appends the matches of the wanted metric
  // names to `out`, in the order the formats and then the matches appear. Values that do not parse
  // as finite numbers (ParseMetricValue) are skipped.
  void ParseLine(std::string_view line, int line_number, std::vector<TextMetric>* out) const;

  // Splits `text` on '\n' (a trailing '\r' is dropped from each line) and parses every line.
  std::vector<TextMetric> ParseText(std::string_view text) const;

  const std::vector<std::string>& metric_names() const;
  // The formats in use (kDefaultMetricsFormat alone when Create got none).
  const std::vector<std::string>& formats() const;

 private:
  struct Impl;
  explicit TextMetricsParser(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;  // immutable, shared by copies
};

// Create() + ParseText() in one call; the errors are Create()'s.
absl::StatusOr<std::vector<TextMetric>> ParseTextMetrics(std::string_view text,
                                                         std::vector<std::string> metric_names,
                                                         std::vector<std::string> formats);

// Katib's JSON lines format. Every non-empty line (blank lines are skipped) must be a JSON object;
// otherwise InvalidArgument naming the 1-based line number and what was wrong. For each metric
// name, obj[name] is taken only when it is a JSON string holding a number (ParseMetricValue);
// numbers and other types are ignored, as Katib does. obj["timestamp"] may be an RFC3339 string or
// epoch seconds (a JSON number); anything else (or a missing or unparsable one) gives time_ms 0.
// InvalidArgument too when `metric_names` is empty or holds an empty name.
absl::StatusOr<std::vector<TextMetric>> ParseJsonMetrics(
    std::string_view text, const std::vector<std::string>& metric_names);

// Parses a metric value the way a user means it: optional surrounding whitespace, an optional
// sign, decimal digits with an optional fraction and exponent ("888", "-7.5e-05", "1.23E10",
// ".98", "+3", "1."). nullopt for an empty string, trailing garbage, hex, inf/nan, or a value out
// of double's range. Locale-independent.
std::optional<double> ParseMetricValue(std::string_view text);

// Parses an RFC3339 / RFC3339Nano timestamp ("2024-01-02T03:04:05Z",
// "2024-01-02T03:04:05.123456789+01:00") into milliseconds since the Unix epoch (fractions below
// a millisecond are truncated toward the past). nullopt unless the whole string is such a
// timestamp with a valid date and time (seconds 0..59, offsets up to ±23:59).
std::optional<int64_t> ParseRfc3339Millis(std::string_view text);

}  // namespace hpt::runner

#endif  // HPT_TRIAL_RUNNER_METRICS_TEXT_H_
