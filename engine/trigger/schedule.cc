#include "engine/trigger/schedule.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace hpt::engine::trigger {
namespace {

std::string QuoteText(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A decimal number "12", "1.5", ".5" as digits / 10^decimals (exact).
struct Decimal {
  __int128 digits = 0;
  int decimals = 0;
};

// The decimal number starting at text[*pos]; advances *pos. nullopt when there is no digit, or
// more than 30 digits.
std::optional<Decimal> ReadDecimal(absl::string_view text, size_t* pos) {
  size_t i = *pos;
  Decimal out;
  int count = 0;
  bool dot = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (IsDigit(c)) {
      if (++count > 30) return std::nullopt;
      out.digits = out.digits * 10 + (c - '0');
      if (dot) ++out.decimals;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (count == 0) return std::nullopt;
  *pos = i;
  return out;
}

// value * unit_ms rounded to the nearest millisecond (halves up); nullopt past kMaxDurationMillis.
std::optional<int64_t> ToMillis(const Decimal& value, int64_t unit_ms) {
  __int128 scale = 1;
  for (int i = 0; i < value.decimals; ++i) scale *= 10;
  // digits < 10^30 and unit_ms < 10^8: no overflow.
  __int128 ms = (value.digits * unit_ms + scale / 2) / scale;
  if (ms > kMaxDurationMillis) return std::nullopt;
  return static_cast<int64_t>(ms);
}

std::optional<int64_t> UnitMillis(absl::string_view unit) {
  if (unit == "d") return kMillisPerDay;
  if (unit == "h") return kMillisPerHour;
  if (unit == "m") return kMillisPerMinute;
  if (unit == "s") return kMillisPerSecond;
  if (unit == "ms") return 1;
  return std::nullopt;
}

constexpr char kUnits[] = "units are d, h, m, s, ms";

absl::Status TooLong() {
  return absl::InvalidArgumentError(
      absl::StrCat("is longer than the limit ", kMaxDurationMillis / kMillisPerDay, "d"));
}

}  // namespace

absl::StatusOr<int64_t> ParseDuration(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return absl::InvalidArgumentError("is empty");
  if (text.front() == '-') return absl::InvalidArgumentError("must not be negative");
  // A bare number: seconds.
  {
    size_t end = 0;
    std::optional<Decimal> seconds = ReadDecimal(text, &end);
    if (seconds && end == text.size()) {
      std::optional<int64_t> ms = ToMillis(*seconds, kMillisPerSecond);
      if (!ms) return TooLong();
      return *ms;
    }
  }
  int64_t total = 0;
  size_t pos = 0;
  std::vector<std::string> seen;
  while (pos < text.size()) {
    size_t number_start = pos;
    std::optional<Decimal> value = ReadDecimal(text, &pos);
    if (!value) {
      return absl::InvalidArgumentError(absl::StrCat("expected a number at character ",
                                                     number_start + 1, ", got ",
                                                     QuoteText(text.substr(number_start, 1))));
    }
    size_t unit_start = pos;
    while (pos < text.size() && IsAlpha(text[pos])) ++pos;
    absl::string_view unit = text.substr(unit_start, pos - unit_start);
    if (unit.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing unit after ",
                       QuoteText(text.substr(number_start, pos - number_start)), "; ", kUnits));
    }
    std::optional<int64_t> unit_ms = UnitMillis(unit);
    if (!unit_ms) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown unit ", QuoteText(unit), "; ", kUnits));
    }
    for (const std::string& u : seen) {
      if (u == unit) {
        return absl::InvalidArgumentError(absl::StrCat("unit ", QuoteText(unit), " appears twice"));
      }
    }
    seen.emplace_back(unit);
    std::optional<int64_t> ms = ToMillis(*value, *unit_ms);
    if (!ms || *ms > kMaxDurationMillis - total) return TooLong();
    total += *ms;
  }
  return total;
}

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  // Negate in unsigned arithmetic so that INT64_MIN is safe.
  uint64_t rest = ms < 0 ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  if (ms < 0) out = "-";
  const std::array<std::pair<uint64_t, const char*>, 5> units = {{{kMillisPerDay, "d"},
                                                                  {kMillisPerHour, "h"},
                                                                  {kMillisPerMinute, "m"},
                                                                  {kMillisPerSecond, "s"},
                                                                  {1, "ms"}}};
  for (const auto& [size, name] : units) {
    if (rest >= size) {
      absl::StrAppend(&out, rest / size, name);
      rest %= size;
    }
  }
  return out;
}

std::string FormatTimeUtc(int64_t ms) {
  absl::Time t = absl::FromUnixMillis(ms);
  const char* format = ms % kMillisPerSecond == 0 ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%E3SZ";
  return absl::FormatTime(format, t, absl::UTCTimeZone());
}

// ---------------------------------------------------------------------------------------------
// Cron.

namespace {

struct FieldRule {
  const char* name;          // "minute"
  int min;                   // smallest value written
  int max;                   // largest value written (7 for day-of-week)
  const char* const* names;  // names for min, min+1, ... (nullptr: none)
  int names_first;           // the value of names[0]
  int name_count;
  const char* allowed;  // "0-59"
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr FieldRule kRules[5] = {
    {"minute", 0, 59, nullptr, 0, 0, "0-59"},
    {"hour", 0, 23, nullptr, 0, 0, "0-23"},
    {"day-of-month", 1, 31, nullptr, 0, 0, "1-31"},
    {"month", 1, 12, kMonthNames, 1, 12, "1-12 or JAN-DEC"},
    {"day-of-week", 0, 7, kDayNames, 0, 7, "0-7 (0 and 7 are Sunday) or SUN-SAT"},
};

struct Token {
  absl::string_view text;
  int column;  // 1-based in the whole expression
};

class FieldParser {
 public:
  FieldParser(const FieldRule& rule, CronError* error) : rule_(rule), error_(error) {}

  // Sets bits[v] for every value the field names. False with the error set.
  bool Parse(Token field, std::vector<bool>* bits) {
    bits->assign(rule_.max + 1, false);
    size_t start = 0;
    while (true) {
      size_t comma = field.text.find(',', start);
      size_t end = comma == absl::string_view::npos ? field.text.size() : comma;
      Token item{field.text.substr(start, end - start), field.column + static_cast<int>(start)};
      if (item.text.empty()) return Fail(item.column, "empty item in a list (a stray ',')");
      if (!ParseItem(item, bits)) return false;
      if (comma == absl::string_view::npos) return true;
      start = comma + 1;
    }
  }

 private:
  bool Fail(int column, std::string message) {
    if (error_ != nullptr) {
      error_->column = column;
      error_->message = absl::StrCat(rule_.name, ": ", message);
    }
    return false;
  }

  std::optional<int> Value(Token t) {
    if (t.text.empty()) {
      Fail(t.column, absl::StrCat("expected a value (", rule_.allowed, ")"));
      return std::nullopt;
    }
    if (IsDigit(t.text.front())) {
      int v = 0;
      for (char c : t.text) {
        if (!IsDigit(c)) {
          Fail(t.column,
               absl::StrCat("bad value ", QuoteText(t.text), " (allowed: ", rule_.allowed, ")"));
          return std::nullopt;
        }
        v = std::min(v * 10 + (c - '0'), 1000000);
      }
      if (v < rule_.min || v > rule_.max) {
        Fail(t.column,
             absl::StrCat("value ", v, " is out of range (allowed: ", rule_.allowed, ")"));
        return std::nullopt;
      }
      return v;
    }
    if (rule_.names != nullptr) {
      std::string upper = absl::AsciiStrToUpper(t.text);
      for (int i = 0; i < rule_.name_count; ++i) {
        if (upper == rule_.names[i]) return rule_.names_first + i;
      }
      Fail(t.column,
           absl::StrCat("unknown name ", QuoteText(t.text), " (allowed: ", rule_.allowed, ")"));
      return std::nullopt;
    }
    Fail(t.column,
         absl::StrCat("bad value ", QuoteText(t.text), " (allowed: ", rule_.allowed, ")"));
    return std::nullopt;
  }

  bool ParseItem(Token item, std::vector<bool>* bits) {
    int step = 1;
    bool has_step = false;
    Token base = item;
    if (size_t slash = item.text.find('/'); slash != absl::string_view::npos) {
      has_step = true;
      base.text = item.text.substr(0, slash);
      Token step_text{item.text.substr(slash + 1), item.column + static_cast<int>(slash) + 1};
      if (step_text.text.empty() ||
          !std::all_of(step_text.text.begin(), step_text.text.end(), IsDigit)) {
        return Fail(step_text.column, absl::StrCat("the step after '/' must be a positive integer, "
                                                   "got ",
                                                   QuoteText(step_text.text)));
      }
      step = 0;
      for (char c : step_text.text) step = std::min(step * 10 + (c - '0'), 1000000);
      if (step < 1) return Fail(step_text.column, "the step after '/' must be at least 1");
    }
    int lo = rule_.min;
    int hi = rule_.max;
    if (base.text == "*") {
      // every value
    } else if (size_t dash = base.text.find('-'); dash != absl::string_view::npos) {
      Token a{base.text.substr(0, dash), base.column};
      Token b{base.text.substr(dash + 1), base.column + static_cast<int>(dash) + 1};
      std::optional<int> va = Value(a);
      if (!va) return false;
      std::optional<int> vb = Value(b);
      if (!vb) return false;
      if (*va > *vb) {
        return Fail(base.column, absl::StrCat("range ", QuoteText(base.text),
                                              " goes backwards (write the smaller value first)"));
      }
      lo = *va;
      hi = *vb;
    } else {
      std::optional<int> v = Value(base);
      if (!v) return false;
      lo = *v;
      hi = has_step ? rule_.max : *v;  // "a/n" is "a-max/n"
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
    return true;
  }

  const FieldRule& rule_;
  CronError* error_;
};

std::optional<absl::string_view> Macro(absl::string_view name) {
  if (name == "@yearly" || name == "@annually") return "0 0 1 1 *";
  if (name == "@monthly") return "0 0 1 * *";
  if (name == "@weekly") return "0 0 * * 0";
  if (name == "@daily" || name == "@midnight") return "0 0 * * *";
  if (name == "@hourly") return "0 * * * *";
  return std::nullopt;
}

constexpr int kDaysInMonth[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

// 0 = Sunday.
int WeekdayOf(absl::CivilDay day) {
  // absl::Weekday counts from Monday = 0.
  return (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
}

}  // namespace

std::optional<CronSchedule> CronSchedule::Parse(absl::string_view expr, CronError* error) {
  auto fail = [error](int column, std::string message) -> std::optional<CronSchedule> {
    if (error != nullptr) {
      error->column = column;
      error->message = std::move(message);
    }
    return std::nullopt;
  };
  CronSchedule out;
  out.expr_ = std::string(expr);
  absl::string_view text = expr;
  int offset = 0;  // column of text[0], 0-based
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
    ++offset;
  }
  text = absl::StripTrailingAsciiWhitespace(text);
  if (text.empty()) {
    return fail(1, "empty; expected 5 fields: minute hour day-of-month month day-of-week");
  }
  if (text.front() == '@') {
    std::optional<absl::string_view> fields = Macro(absl::AsciiStrToLower(text));
    if (!fields) {
      return fail(offset + 1, absl::StrCat("unknown macro ", QuoteText(text),
                                           " (allowed: @yearly, @annually, @monthly, @weekly, "
                                           "@daily, @midnight, @hourly)"));
    }
    std::optional<CronSchedule> parsed = Parse(*fields, error);
    if (parsed) parsed->expr_ = std::string(expr);
    return parsed;
  }

  std::vector<Token> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    size_t start = i;
    while (i < text.size() && !absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
    fields.push_back(Token{text.substr(start, i - start), offset + static_cast<int>(start) + 1});
  }
  if (fields.size() != 5) {
    int column = fields.size() > 5 ? fields[5].column : offset + static_cast<int>(text.size()) + 1;
    return fail(column, absl::StrCat("expected 5 fields (minute hour day-of-month month "
                                     "day-of-week), got ",
                                     fields.size()));
  }
  std::vector<bool> bits;
  for (int f = 0; f < 5; ++f) {
    FieldParser parser(kRules[f], error);
    if (!parser.Parse(fields[f], &bits)) return std::nullopt;
    for (int v = 0; v < static_cast<int>(bits.size()); ++v) {
      if (!bits[v]) continue;
      switch (f) {
        case 0:
          out.minutes_.set(v);
          break;
        case 1:
          out.hours_.set(v);
          break;
        case 2:
          out.days_of_month_.set(v);
          break;
        case 3:
          out.months_.set(v);
          break;
        case 4:
          out.weekdays_.set(v % 7);
          break;
      }
    }
  }
  out.dom_star_ = fields[2].text.front() == '*';
  out.dow_star_ = fields[4].text.front() == '*';

  // With the AND rule, some month of the field must have some day of the field.
  if (out.dom_star_ || out.dow_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!out.months_[m]) continue;
      for (int d = 1; d <= kDaysInMonth[m]; ++d) {
        if (out.days_of_month_[d]) {
          possible = true;
          break;
        }
      }
    }
    if (!possible) {
      return fail(fields[2].column,
                  absl::StrCat("day-of-month: ", QuoteText(fields[2].text),
                               " never occurs in month ", QuoteText(fields[3].text),
                               " (February has at most 29 days; April, June, September and "
                               "November 30), so the expression never matches"));
    }
  }
  return out;
}

absl::StatusOr<CronSchedule> CronSchedule::Parse(absl::string_view expr) {
  CronError error;
  std::optional<CronSchedule> parsed = Parse(expr, &error);
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat("invalid cron expression ", QuoteText(expr),
                                                   ": column ", error.column, ": ", error.message));
  }
  return *std::move(parsed);
}

bool CronSchedule::DayMatches(int day_of_month, int weekday) const {
  bool dom = days_of_month_[day_of_month];
  bool dow = weekdays_[weekday];
  return (dom_star_ || dow_star_) ? (dom && dow) : (dom || dow);
}

bool CronSchedule::Matches(int64_t time_ms) const {
  absl::CivilMinute m = absl::ToCivilMinute(absl::FromUnixMillis(time_ms), absl::UTCTimeZone());
  return minutes_[m.minute()] && hours_[m.hour()] && months_[m.month()] &&
         DayMatches(m.day(), WeekdayOf(absl::CivilDay(m)));
}

std::optional<int64_t> CronSchedule::Next(int64_t after_ms) const {
  const absl::TimeZone utc = absl::UTCTimeZone();
  // The first whole minute strictly after after_ms (floor division for times before 1970).
  int64_t minute_index = after_ms / kMillisPerMinute;
  if (after_ms % kMillisPerMinute < 0) --minute_index;
  absl::CivilMinute t =
      absl::ToCivilMinute(absl::FromUnixMillis(minute_index * kMillisPerMinute), utc) + 1;
  const absl::civil_year_t last_year = t.year() + 400;
  while (t.year() <= last_year) {
    if (!months_[t.month()]) {
      t = absl::CivilMinute(absl::CivilMonth(t) + 1);
      continue;
    }
    if (!DayMatches(t.day(), WeekdayOf(absl::CivilDay(t)))) {
      t = absl::CivilMinute(absl::CivilDay(t) + 1);
      continue;
    }
    if (!hours_[t.hour()]) {
      t = absl::CivilMinute(absl::CivilHour(t) + 1);
      continue;
    }
    if (!minutes_[t.minute()]) {
      t += 1;
      continue;
    }
    return absl::ToUnixMillis(absl::FromCivil(t, utc));
  }
  return std::nullopt;
}

absl::StatusOr<int64_t> NextCronTime(absl::string_view expr, int64_t after_ms) {
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expr);
  if (!schedule.ok()) return schedule.status();
  std::optional<int64_t> next = schedule->Next(after_ms);
  if (!next) {
    return absl::NotFoundError(absl::StrCat("cron expression ", QuoteText(expr),
                                            " matches no time "
                                            "within 400 years after ",
                                            FormatTimeUtc(after_ms)));
  }
  return *next;
}

}  // namespace hpt::engine::trigger
