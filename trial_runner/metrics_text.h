// Katib's text metric format: `name=value` lines printed by training code (StdOut collector) or
// written to a file (File collector, TEXT format), parsed the way Katib's collector does, with
// robust number parsing (scientific notation, Katib issues #1702/#1754).
//
//   std::vector<TextMetric> m = ParseTextMetrics(log_text, {"loss", "accuracy"}, {});
//
// Pure functions; thread-compatible.
#ifndef HPT_TRIAL_RUNNER_METRICS_TEXT_H_
#define HPT_TRIAL_RUNNER_METRICS_TEXT_H_

#include <cstdint>
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
  int64_t time_ms = 0;   // from a leading RFC3339 timestamp; 0 when the line has none
  int line = 0;          // 1-based line number in the text
};

// Compiles `formats` (each must have two groups: name and value); InvalidArgument naming the bad
// one. Empty `formats` means Katib's default.
class TextMetricsParser {
 public:
  static absl::StatusOr<TextMetricsParser> Create(std::vector<std::string> metric_names,
                                                  std::vector<std::string> formats);
  // Parses one line; appends matches for the wanted metric names. Values that are not finite
  // numbers are skipped.
  void ParseLine(std::string_view line, int line_number, std::vector<TextMetric>* out) const;
  std::vector<TextMetric> ParseText(std::string_view text) const;

 private:
  struct Impl;
  std::vector<std::string> names_;
  std::vector<std::string> formats_;
};

}  // namespace hpt::runner

#endif  // HPT_TRIAL_RUNNER_METRICS_TEXT_H_
