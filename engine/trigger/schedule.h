// Time for retraining triggers: durations ("90s", "1h30m"), 5-field cron expressions evaluated in
// UTC, and the RFC 3339 form of a time for messages.
//
//   absl::StatusOr<int64_t> ms = ParseDuration("1h30m");            // 5'400'000
//   absl::StatusOr<int64_t> t = NextCronTime("0 3 * * MON-FRI", now_ms);
//   // t: the first minute strictly after now_ms at 03:00 UTC on a weekday
//
// Cron syntax (classic Vixie cron, in UTC; no seconds field):
//   minute hour day-of-month month day-of-week
//   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT
//   (0 and 7 are Sunday). Each field is a comma-separated list of items; an item is `*`, a value,
//   a range `a-b` (a <= b), each optionally followed by `/step` (step >= 1); `a/step` means
//   `a-max/step`. Names are case-insensitive and may appear in ranges (MON-FRI). The macros @yearly
//   (@annually), @monthly, @weekly, @daily (@midnight) and @hourly stand for their 5 fields.
//   Day rule: when both day-of-month and day-of-week are restricted, a day matches when EITHER
//   matches ("0 0 13 * FRI": every 13th and every Friday); when one of them begins with `*` (`*`,
//   `*/2`), a day matches when BOTH match, as in classic cron.
//
// Everything here is pure and thread-safe (CronSchedule is immutable after Parse).
#ifndef HPT_ENGINE_TRIGGER_SCHEDULE_H_
#define HPT_ENGINE_TRIGGER_SCHEDULE_H_

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hpt::engine::trigger {

inline constexpr int64_t kMillisPerSecond = 1000;
inline constexpr int64_t kMillisPerMinute = 60 * kMillisPerSecond;
inline constexpr int64_t kMillisPerHour = 60 * kMillisPerMinute;
inline constexpr int64_t kMillisPerDay = 24 * kMillisPerHour;
// The longest duration ParseDuration accepts (3650 days), far from int64 overflow.
inline constexpr int64_t kMaxDurationMillis = 3650 * kMillisPerDay;

// Parses a duration into milliseconds. Accepted: a non-negative number of seconds ("90", "1.5"), or
// one or more <number><unit> parts ("90s", "5m", "6h", "2d", "1h30m", "1.5h", "250ms") with units
// d (days of 24 h), h, m, s, ms; each unit at most once. The result is rounded to the nearest
// millisecond. InvalidArgument (a message without the input, e.g. "unknown unit \"x\"; units are
// d, h, m, s, ms") for anything else: empty text, a negative value, an unknown or missing unit, a
// repeated unit, more than kMaxDurationMillis.
absl::StatusOr<int64_t> ParseDuration(absl::string_view text);

// The shortest unit form of `ms` that ParseDuration reads back to the same value: "0s", "90s" is
// "1m30s", "1d6h", "1s500ms". Negative values get a leading '-'.
std::string FormatDuration(int64_t ms);

// `ms` since the Unix epoch as RFC 3339 in UTC: "2024-02-29T03:00:00Z" (with ".250" milliseconds
// when not a whole second).
std::string FormatTimeUtc(int64_t ms);

// Where and why a cron expression does not parse. `column` is 1-based within the expression.
struct CronError {
  int column = 1;
  std::string message;  // e.g. "day-of-week: unknown name \"MOX\" (allowed: SUN-SAT or 0-7)"
};

// A parsed 5-field cron expression. Copyable value type.
class CronSchedule {
 public:
  // nullopt with `*error` set (when non-null) on a syntax or range error. An expression that can
  // never match (day-of-month 30 or 31 only in February, 31 only in months of 30 days) is an error
  // too, at the day-of-month field.
  static std::optional<CronSchedule> Parse(absl::string_view expr, CronError* error);
  // The same as a Status: InvalidArgument "invalid cron expression \"...\": column N: <message>".
  static absl::StatusOr<CronSchedule> Parse(absl::string_view expr);

  // The first whole minute t (in ms since the epoch, UTC) with t > after_ms that matches. nullopt
  // only when nothing matches within 400 years (a full Gregorian cycle: never).
  std::optional<int64_t> Next(int64_t after_ms) const;
  // Whether the minute holding `time_ms` matches.
  bool Matches(int64_t time_ms) const;

  const std::string& expr() const { return expr_; }

 private:
  CronSchedule() = default;
  bool DayMatches(int day_of_month, int weekday) const;

  std::string expr_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 0 unused
  std::bitset<13> months_;         // bit 0 unused
  std::bitset<7> weekdays_;        // 0 = Sunday
  bool dom_star_ = false;          // the day-of-month field begins with '*'
  bool dow_star_ = false;          // the day-of-week field begins with '*'
};

// CronSchedule::Parse(expr) then Next(after_ms). InvalidArgument for a bad expression; NotFound
// when it never matches.
absl::StatusOr<int64_t> NextCronTime(absl::string_view expr, int64_t after_ms);

}  // namespace hpt::engine::trigger

#endif  // HPT_ENGINE_TRIGGER_SCHEDULE_H_
