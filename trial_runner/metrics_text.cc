#include "trial_runner/metrics_text.h"

#include <locale.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"

namespace hpt::runner {

const char kDefaultMetricsFormat[] = R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))";

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Trims ASCII whitespace (this abseil's string_view is not std::string_view).
std::string_view Trim(std::string_view s) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(s.data(), s.size()));
  return std::string_view(t.data(), t.size());
}

// Reads exactly `n` digits at `*pos`.
std::optional<int> ReadDigits(std::string_view s, size_t* pos, size_t n) {
  if (*pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (!IsDigit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  return v;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// Calls `fn(line, line_number)` for every '\n'-separated line of `text`, without a trailing '\r'.
template <typename Fn>
void ForEachLine(std::string_view text, Fn fn) {
  int number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line, ++number);
    start = end + 1;
  }
}

absl::Status CheckMetricNames(const std::vector<std::string>& names) {
  if (names.empty()) {
    return absl::InvalidArgumentError("metric names: at least one metric name is required");
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric names[", i, "] is empty; metric names must be non-empty"));
    }
  }
  return absl::OkStatus();
}

// Length in bytes of the UTF-8 sequence that starts with `c` (1 for stray bytes).
size_t Utf8Length(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF7) return 4;
  if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}

}  // namespace

std::optional<double> ParseMetricValue(std::string_view text) {
  std::string_view s = Trim(text);
  // Validate the grammar first so that strtod's extras (hex, inf, nan) are refused:
  //   [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  size_t mantissa_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++mantissa_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exponent_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;

  // strtod_l in the "C" locale: the decimal point is '.' whatever the process locale says.
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t{});
  std::string body(s.substr(s[0] == '+' || s[0] == '-' ? 1 : 0));
  char* end = nullptr;
  double v = strtod_l(body.c_str(), &end, c_locale);
  if (end != body.c_str() + body.size() || !std::isfinite(v)) return std::nullopt;
  return negative ? -v : v;
}

std::optional<int64_t> ParseRfc3339Millis(std::string_view s) {
  size_t pos = 0;
  std::optional<int> year = ReadDigits(s, &pos, 4);
  if (!year || !Expect(s, &pos, '-')) return std::nullopt;
  std::optional<int> month = ReadDigits(s, &pos, 2);
  if (!month || !Expect(s, &pos, '-')) return std::nullopt;
  std::optional<int> day = ReadDigits(s, &pos, 2);
  if (!day || !Expect(s, &pos, 'T')) return std::nullopt;
  std::optional<int> hour = ReadDigits(s, &pos, 2);
  if (!hour || !Expect(s, &pos, ':')) return std::nullopt;
  std::optional<int> minute = ReadDigits(s, &pos, 2);
  if (!minute || !Expect(s, &pos, ':')) return std::nullopt;
  std::optional<int> second = ReadDigits(s, &pos, 2);
  if (!second) return std::nullopt;
  int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int scale = 100;
    while (pos < s.size() && IsDigit(s[pos])) {
      if (digits < 3) millis += (s[pos] - '0') * scale, scale /= 10;
      ++pos, ++digits;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
  }
  int offset_minutes = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '-' ? -1 : 1;
    std::optional<int> oh = ReadDigits(s, &pos, 2);
    if (!oh || !Expect(s, &pos, ':')) return std::nullopt;
    std::optional<int> om = ReadDigits(s, &pos, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_minutes = sign * (*oh * 60 + *om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 59) return std::nullopt;

  using namespace std::chrono;
  year_month_day ymd{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                     std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) return std::nullopt;
  int64_t days = sys_days{ymd}.time_since_epoch().count();
  int64_t seconds = days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

struct TextMetricsParser::Impl {
  std::vector<std::string> names;
  std::vector<std::string> formats;
  std::vector<std::unique_ptr<RE2>> regexes;
};

TextMetricsParser::TextMetricsParser(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<TextMetricsParser> TextMetricsParser::Create(std::vector<std::string> metric_names,
                                                            std::vector<std::string> formats) {
  if (absl::Status s = CheckMetricNames(metric_names); !s.ok()) return s;
  if (formats.empty()) formats.push_back(kDefaultMetricsFormat);
  auto impl = std::make_shared<Impl>();
  RE2::Options options;
  options.set_log_errors(false);
  for (size_t i = 0; i < formats.size(); ++i) {
    auto re = std::make_unique<RE2>(formats[i], options);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metrics format [", i, "] '", formats[i],
          "' is not a valid regular expression: ", re->error(), " (RE2/Go syntax is expected)"));
    }
    if (re->NumberOfCapturingGroups() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metrics format [", i, "] '", formats[i], "' has ", re->NumberOfCapturingGroups(),
          " capture group(s); it needs at least two: group 1 the metric name, group 2 its value"));
    }
    impl->regexes.push_back(std::move(re));
  }
  impl->names = std::move(metric_names);
  impl->formats = std::move(formats);
  return TextMetricsParser(std::move(impl));
}

const std::vector<std::string>& TextMetricsParser::metric_names() const { return impl_->names; }
const std::vector<std::string>& TextMetricsParser::formats() const { return impl_->formats; }

void TextMetricsParser::ParseLine(std::string_view line, int line_number,
                                  std::vector<TextMetric>* out) const {
  const std::vector<std::string>& names = impl_->names;
  bool wanted = false;
  for (const std::string& name : names) {
    if (line.find(name) != std::string_view::npos) {
      wanted = true;
      break;
    }
  }
  if (!wanted) return;

  // Katib: the first space-separated token, when the line has a space and the token is a
  // timestamp.
  int64_t time_ms = 0;
  if (size_t space = line.find(' '); space != std::string_view::npos) {
    time_ms = ParseRfc3339Millis(line.substr(0, space)).value_or(0);
  }

  const re2::StringPiece text(line.data(), line.size());
  re2::StringPiece groups[3];
  for (const std::unique_ptr<RE2>& re : impl_->regexes) {
    // Find-all with Go's rules: non-overlapping matches; an empty match right where the previous
    // match ended is ignored; after an empty match the search moves on by one character.
    size_t pos = 0;
    std::optional<size_t> previous_end;
    while (pos <= line.size() && re->Match(text, pos, line.size(), RE2::UNANCHORED, groups, 3)) {
      size_t begin = static_cast<size_t>(groups[0].data() - line.data());
      size_t end = begin + groups[0].size();
      bool empty = begin == end;
      if (!(empty && previous_end == begin)) {
        std::string_view name =
            Trim(std::string_view(groups[1].data() ? groups[1].data() : "", groups[1].size()));
        std::string_view value =
            Trim(std::string_view(groups[2].data() ? groups[2].data() : "", groups[2].size()));
        for (const std::string& wanted_name : names) {
          if (name != wanted_name) continue;
          if (std::optional<double> v = ParseMetricValue(value)) {
            out->push_back(TextMetric{std::string(name), *v, time_ms, line_number});
          }
          break;
        }
        previous_end = end;
      }
      if (!empty) {
        pos = end;
      } else if (begin < line.size()) {
        pos = begin + Utf8Length(static_cast<unsigned char>(line[begin]));
      } else {
        break;
      }
    }
  }
}

std::vector<TextMetric> TextMetricsParser::ParseText(std::string_view text) const {
  std::vector<TextMetric> out;
  ForEachLine(text, [&](std::string_view line, int number) { ParseLine(line, number, &out); });
  return out;
}

absl::StatusOr<std::vector<TextMetric>> ParseTextMetrics(std::string_view text,
                                                         std::vector<std::string> metric_names,
                                                         std::vector<std::string> formats) {
  absl::StatusOr<TextMetricsParser> parser =
      TextMetricsParser::Create(std::move(metric_names), std::move(formats));
  if (!parser.ok()) return parser.status();
  return parser->ParseText(text);
}

absl::StatusOr<std::vector<TextMetric>> ParseJsonMetrics(
    std::string_view text, const std::vector<std::string>& metric_names) {
  if (absl::Status s = CheckMetricNames(metric_names); !s.ok()) return s;
  std::vector<TextMetric> out;
  absl::Status status;
  ForEachLine(text, [&](std::string_view line, int number) {
    if (!status.ok() || Trim(line).empty()) return;
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "JSON metrics line ", number, ": not valid JSON (", e.what(),
          "); each non-empty line must be one JSON object such as {\"loss\": \"0.31\"}"));
      return;
    }
    if (!obj.is_object()) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "JSON metrics line ", number, ": expected a JSON object, got ", obj.type_name(),
          "; each non-empty line must be one JSON object such as {\"loss\": \"0.31\"}"));
      return;
    }
    int64_t time_ms = 0;
    if (auto ts = obj.find("timestamp"); ts != obj.end()) {
      if (ts->is_string()) {
        time_ms = ParseRfc3339Millis(ts->get_ref<const std::string&>()).value_or(0);
      } else if (ts->is_number()) {
        double seconds = ts->get<double>();
        // Beyond ±2^53 ms the value is no useful time (and the cast would overflow).
        if (std::isfinite(seconds) && std::abs(seconds) < 9.0e12) {
          time_ms = static_cast<int64_t>(std::floor(seconds * 1000.0));
        }
      }
    }
    for (const std::string& name : metric_names) {
      auto it = obj.find(name);
      if (it == obj.end() || !it->is_string()) continue;
      if (std::optional<double> v = ParseMetricValue(it->get_ref<const std::string&>())) {
        out.push_back(TextMetric{name, *v, time_ms, number});
      }
    }
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace hpt::runner
