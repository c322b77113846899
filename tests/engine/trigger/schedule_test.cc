// Durations, times and cron schedules (engine/trigger/schedule.h).
#include "engine/trigger/schedule.h"

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace hpt::engine::trigger {
namespace {

// ms since the epoch of a UTC civil time.
int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0) {
  return absl::ToUnixMillis(
      absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone()));
}

// ---- Durations.

TEST(ParseDuration, Forms) {
  EXPECT_EQ(*ParseDuration("90s"), 90'000);
  EXPECT_EQ(*ParseDuration("5m"), 300'000);
  EXPECT_EQ(*ParseDuration("6h"), 21'600'000);
  EXPECT_EQ(*ParseDuration("2d"), 172'800'000);
  EXPECT_EQ(*ParseDuration("1h30m"), 5'400'000);
  EXPECT_EQ(*ParseDuration("30m1h"), 5'400'000);
  EXPECT_EQ(*ParseDuration("1d2h3m4s5ms"), 93'784'005);
  EXPECT_EQ(*ParseDuration("250ms"), 250);
  EXPECT_EQ(*ParseDuration("1.5h"), 5'400'000);
  EXPECT_EQ(*ParseDuration(".5s"), 500);
  EXPECT_EQ(*ParseDuration("90"), 90'000);
  EXPECT_EQ(*ParseDuration("1.5"), 1'500);
  EXPECT_EQ(*ParseDuration("0"), 0);
  EXPECT_EQ(*ParseDuration("0s"), 0);
  EXPECT_EQ(*ParseDuration("  2d "), 172'800'000);
  EXPECT_EQ(*ParseDuration("3650d"), kMaxDurationMillis);
  EXPECT_EQ(*ParseDuration("0.0004"), 0);  // rounded to the millisecond
  EXPECT_EQ(*ParseDuration("0.0005"), 1);
}

void ExpectBadDuration(const std::string& text, const std::string& message) {
  absl::StatusOr<int64_t> d = ParseDuration(text);
  ASSERT_FALSE(d.ok()) << text << " -> " << *d;
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_EQ(d.status().message(), message) << text;
}

TEST(ParseDuration, Bad) {
  ExpectBadDuration("5x", "unknown unit \"x\"; units are d, h, m, s, ms");
  ExpectBadDuration("5sec", "unknown unit \"sec\"; units are d, h, m, s, ms");
  ExpectBadDuration("5M", "unknown unit \"M\"; units are d, h, m, s, ms");
  ExpectBadDuration("-5m", "must not be negative");
  ExpectBadDuration("-0", "must not be negative");
  ExpectBadDuration("", "is empty");
  ExpectBadDuration("   ", "is empty");
  ExpectBadDuration("1h30", "missing unit after \"30\"; units are d, h, m, s, ms");
  ExpectBadDuration("1h1h", "unit \"h\" appears twice");
  ExpectBadDuration("h", "expected a number at character 1, got \"h\"");
  ExpectBadDuration("1h 30m", "expected a number at character 3, got \" \"");
  ExpectBadDuration("1..5s", "missing unit after \"1.\"; units are d, h, m, s, ms");
  ExpectBadDuration("+5m", "expected a number at character 1, got \"+\"");
  ExpectBadDuration("1e3", "unknown unit \"e\"; units are d, h, m, s, ms");
  ExpectBadDuration("3651d", "is longer than the limit 3650d");
  ExpectBadDuration("315360001", "is longer than the limit 3650d");
  ExpectBadDuration("3650d1ms", "is longer than the limit 3650d");
  ExpectBadDuration("1234567890123456789012345678901s",
                    "expected a number at character 1, got \"1\"");
}

TEST(FormatDuration, Forms) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(90'000), "1m30s");
  EXPECT_EQ(FormatDuration(5'400'000), "1h30m");
  EXPECT_EQ(FormatDuration(93'600'000), "1d2h");
  EXPECT_EQ(FormatDuration(86'400'000), "1d");
  EXPECT_EQ(FormatDuration(1'500), "1s500ms");
  EXPECT_EQ(FormatDuration(7), "7ms");
  EXPECT_EQ(FormatDuration(-60'000), "-1m");
}

TEST(FormatDuration, RoundTrips) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> ms(0, kMaxDurationMillis);
  for (int i = 0; i < 2000; ++i) {
    int64_t v = ms(rng) >> (rng() % 40);  // all magnitudes
    absl::StatusOr<int64_t> back = ParseDuration(FormatDuration(v));
    ASSERT_TRUE(back.ok()) << v << " " << FormatDuration(v) << " " << back.status();
    EXPECT_EQ(*back, v) << FormatDuration(v);
  }
}

TEST(FormatTimeUtc, Forms) {
  EXPECT_EQ(FormatTimeUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimeUtc(Utc(2024, 2, 29, 3, 0)), "2024-02-29T03:00:00Z");
  EXPECT_EQ(FormatTimeUtc(Utc(2024, 2, 29, 3, 0) + 250), "2024-02-29T03:00:00.250Z");
  EXPECT_EQ(FormatTimeUtc(-1000), "1969-12-31T23:59:59Z");
}

// ---- Cron parsing.

void ExpectBadCron(const std::string& expr, int column, const std::string& message) {
  CronError error;
  EXPECT_FALSE(CronSchedule::Parse(expr, &error).has_value()) << expr;
  EXPECT_EQ(error.column, column) << expr << ": " << error.message;
  EXPECT_EQ(error.message, message) << expr;
}

TEST(CronParse, Errors) {
  ExpectBadCron("0 3 * * MOX", 9,
                "day-of-week: unknown name \"MOX\" (allowed: 0-7 (0 and 7 are Sunday) or SUN-SAT)");
  ExpectBadCron("60 * * * *", 1, "minute: value 60 is out of range (allowed: 0-59)");
  ExpectBadCron("0 24 * * *", 3, "hour: value 24 is out of range (allowed: 0-23)");
  ExpectBadCron("0 0 0 * *", 5, "day-of-month: value 0 is out of range (allowed: 1-31)");
  ExpectBadCron("0 0 * 13 *", 7, "month: value 13 is out of range (allowed: 1-12 or JAN-DEC)");
  ExpectBadCron("0 0 * * 8", 9,
                "day-of-week: value 8 is out of range (allowed: 0-7 (0 and 7 are Sunday) or "
                "SUN-SAT)");
  ExpectBadCron("0 0 * JANX *", 7, "month: unknown name \"JANX\" (allowed: 1-12 or JAN-DEC)");
  ExpectBadCron("a * * * *", 1, "minute: bad value \"a\" (allowed: 0-59)");
  ExpectBadCron("1x * * * *", 1, "minute: bad value \"1x\" (allowed: 0-59)");
  ExpectBadCron("* * * *", 8,
                "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  ExpectBadCron("* * * * * *", 11,
                "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  ExpectBadCron("*/0 * * * *", 3, "minute: the step after '/' must be at least 1");
  ExpectBadCron("*/ * * * *", 3, "minute: the step after '/' must be a positive integer, got \"\"");
  ExpectBadCron("*/x * * * *", 3,
                "minute: the step after '/' must be a positive integer, got \"x\"");
  ExpectBadCron("0 5-3 * * *", 3,
                "hour: range \"5-3\" goes backwards (write the smaller value first)");
  ExpectBadCron("1,,2 * * * *", 3, "minute: empty item in a list (a stray ',')");
  ExpectBadCron("0 3 * * MON-", 13,
                "day-of-week: expected a value (0-7 (0 and 7 are Sunday) or SUN-SAT)");
  ExpectBadCron("0 0 30 2 *", 5,
                "day-of-month: \"30\" never occurs in month \"2\" (February has at most 29 days; "
                "April, June, September and November 30), so the expression never matches");
  ExpectBadCron("0 0 31 APR,JUN *", 5,
                "day-of-month: \"31\" never occurs in month \"APR,JUN\" (February has at most 29 "
                "days; April, June, September and November 30), so the expression never matches");
  ExpectBadCron("@reboot", 1,
                "unknown macro \"@reboot\" (allowed: @yearly, @annually, @monthly, @weekly, "
                "@daily, @midnight, @hourly)");
  ExpectBadCron("", 1, "empty; expected 5 fields: minute hour day-of-month month day-of-week");
  ExpectBadCron("  0 0 * * * x", 13,
                "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
}

TEST(CronParse, StatusForm) {
  absl::StatusOr<CronSchedule> s = CronSchedule::Parse("0 3 * * MOX");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "invalid cron expression \"0 3 * * MOX\": column 9: day-of-week: unknown name \"MOX\" "
            "(allowed: 0-7 (0 and 7 are Sunday) or SUN-SAT)");
  absl::StatusOr<int64_t> next = NextCronTime("61 * * * *", 0);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CronParse, Accepted) {
  for (const char* expr : {"0 0 31 4,5 *", "0 0 29 2 *", "0 0 30 2 MON", "0 0 31 4 1-5",
                           "0 9 * jan-mar mon-fri", "*/15 0-23/2 1-31/3 */2 0-7/7", "5/20 * * * *",
                           "0,30 * * * SUN,sat", "@daily", "@HOURLY", "\t0  3 * * *  "}) {
    CronError error;
    EXPECT_TRUE(CronSchedule::Parse(expr, &error).has_value()) << expr << ": " << error.message;
  }
}

// ---- Next cron time.

int64_t Next(const std::string& expr, int64_t after) {
  absl::StatusOr<int64_t> t = NextCronTime(expr, after);
  EXPECT_TRUE(t.ok()) << expr << ": " << t.status();
  return t.ok() ? *t : -1;
}

TEST(NextCronTime, Daily) {
  EXPECT_EQ(Next("0 3 * * *", Utc(2024, 1, 1, 3, 0)), Utc(2024, 1, 2, 3, 0));  // strictly after
  EXPECT_EQ(Next("0 3 * * *", Utc(2024, 1, 1, 3, 0) - 1), Utc(2024, 1, 1, 3, 0));
  EXPECT_EQ(Next("0 3 * * *", Utc(2024, 1, 1, 3, 0) + 59'999), Utc(2024, 1, 2, 3, 0));
  EXPECT_EQ(Next("@daily", Utc(2023, 12, 31, 23, 59)), Utc(2024, 1, 1, 0, 0));
  EXPECT_EQ(Next("@hourly", Utc(2024, 1, 1, 5, 1)), Utc(2024, 1, 1, 6, 0));
  EXPECT_EQ(Next("@weekly", Utc(2024, 1, 1)), Utc(2024, 1, 7));  // 2024-01-07 is a Sunday
  EXPECT_EQ(Next("@monthly", Utc(2024, 1, 1)), Utc(2024, 2, 1));
  EXPECT_EQ(Next("@yearly", Utc(2024, 1, 1)), Utc(2025, 1, 1));
}

TEST(NextCronTime, Steps) {
  EXPECT_EQ(Next("*/15 * * * *", Utc(2024, 1, 1, 10, 7)), Utc(2024, 1, 1, 10, 15));
  EXPECT_EQ(Next("*/15 * * * *", Utc(2024, 1, 1, 10, 45)), Utc(2024, 1, 1, 11, 0));
  EXPECT_EQ(Next("*/15 * * * *", Utc(2023, 12, 31, 23, 50)), Utc(2024, 1, 1, 0, 0));
  EXPECT_EQ(Next("1-5/2 * * * *", Utc(2024, 1, 1, 10, 3)), Utc(2024, 1, 1, 10, 5));
  EXPECT_EQ(Next("1-5/2 * * * *", Utc(2024, 1, 1, 10, 5)), Utc(2024, 1, 1, 11, 1));
  EXPECT_EQ(Next("5/20 * * * *", Utc(2024, 1, 1, 10, 26)), Utc(2024, 1, 1, 10, 45));
  EXPECT_EQ(Next("5/20 * * * *", Utc(2024, 1, 1, 10, 45)), Utc(2024, 1, 1, 11, 5));
  EXPECT_EQ(Next("0 */7 * * *", Utc(2024, 1, 1, 21, 0)), Utc(2024, 1, 2, 0, 0));  // 0,7,14,21
}

TEST(NextCronTime, MonthEndsAndLeapDays) {
  EXPECT_EQ(Next("0 0 29 2 *", Utc(2023, 3, 1)), Utc(2024, 2, 29));
  EXPECT_EQ(Next("0 0 29 2 *", Utc(2024, 2, 29)), Utc(2028, 2, 29));
  EXPECT_EQ(Next("0 0 29 2 *", Utc(2096, 3, 1)), Utc(2104, 2, 29));  // 2100 is not a leap year
  EXPECT_EQ(Next("0 0 31 * *", Utc(2024, 4, 1)), Utc(2024, 5, 31));
  EXPECT_EQ(Next("0 0 31 * *", Utc(2024, 5, 31)), Utc(2024, 7, 31));
  EXPECT_EQ(Next("0 0 30 * *", Utc(2024, 2, 1)), Utc(2024, 3, 30));
  EXPECT_EQ(Next("59 23 28-31 2 *", Utc(2023, 2, 28, 23, 59)), Utc(2024, 2, 28, 23, 59));
  EXPECT_EQ(Next("59 23 28-31 2 *", Utc(2024, 2, 28, 23, 59)), Utc(2024, 2, 29, 23, 59));
  EXPECT_EQ(Next("0 12 1 JAN,jul *", Utc(2024, 1, 1, 12, 0)), Utc(2024, 7, 1, 12, 0));
}

TEST(NextCronTime, DayOfMonthOrDayOfWeek) {
  // Both restricted: either matches. 2024-10-11 is a Friday, the 13th a Sunday.
  EXPECT_EQ(Next("0 0 13 * FRI", Utc(2024, 10, 5)), Utc(2024, 10, 11));
  EXPECT_EQ(Next("0 0 13 * FRI", Utc(2024, 10, 11)), Utc(2024, 10, 13));
  EXPECT_EQ(Next("0 0 13 * FRI", Utc(2024, 10, 13)), Utc(2024, 10, 18));
  // Day-of-month begins with '*': both must match. 2024-01-15 is the first odd-day Monday after
  // the 1st (the 8th is even).
  EXPECT_EQ(Next("0 0 */2 * MON", Utc(2024, 1, 1)), Utc(2024, 1, 15));
  // Day-of-week begins with '*' (every other day from Sunday: SUN, TUE, THU, SAT) and the 13th:
  // 2024-10-13 is a Sunday; 2024-11-13 a Wednesday (no), 2024-12-13 a Friday (no), 2025-01-13 a
  // Monday (no), 2025-02-13 a Thursday.
  EXPECT_EQ(Next("0 0 13 * */2", Utc(2024, 10, 1)), Utc(2024, 10, 13));
  EXPECT_EQ(Next("0 0 13 * */2", Utc(2024, 10, 13)), Utc(2025, 2, 13));
  // Sunday as 0, 7 and SUN.
  EXPECT_EQ(Next("0 0 * * 0", Utc(2024, 1, 1)), Utc(2024, 1, 7));
  EXPECT_EQ(Next("0 0 * * 7", Utc(2024, 1, 1)), Utc(2024, 1, 7));
  EXPECT_EQ(Next("0 0 * * sun", Utc(2024, 1, 1)), Utc(2024, 1, 7));
  EXPECT_EQ(Next("0 0 * * 5-7", Utc(2024, 1, 1)), Utc(2024, 1, 5));
  EXPECT_EQ(Next("0 9 * * MON-FRI", Utc(2024, 1, 5, 9, 0)), Utc(2024, 1, 8, 9, 0));
}

TEST(NextCronTime, BeforeTheEpoch) {
  EXPECT_EQ(Next("0 0 1 1 *", -1), 0);
  EXPECT_EQ(Next("* * * * *", -1), 0);
  EXPECT_EQ(Next("* * * * *", -60'001), -60'000);
  EXPECT_EQ(Next("* * * * *", -60'000), 0);
}

// ---- Next against a minute-by-minute search over random expressions.

struct RandomField {
  std::string text;
  std::vector<bool> values;  // indexed by value; day-of-week 7 folded into 0
};

// A random field over [lo, hi] whose set is computed here, independently of the parser.
RandomField MakeField(std::mt19937_64& rng, int lo, int hi, const std::vector<std::string>& names,
                      int names_first, bool fold_seven, int star_weight) {
  auto pick = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  RandomField f;
  f.values.assign(hi + 1, false);
  auto set = [&](int a, int b, int step) {
    for (int v = a; v <= b; v += step) f.values[fold_seven && v == 7 ? 0 : v] = true;
  };
  auto value_text = [&](int v) {
    if (!names.empty() && v >= names_first && v - names_first < static_cast<int>(names.size()) &&
        pick(0, 1) == 0) {
      std::string n = names[v - names_first];
      if (pick(0, 1) == 0) n = absl::AsciiStrToLower(n);
      return n;
    }
    return absl::StrCat(v);
  };
  if (pick(0, 9) < star_weight) {
    if (pick(0, 2) == 0) {
      int step = pick(1, (hi - lo) / 2 + 1);
      f.text = absl::StrCat("*/", step);
      set(lo, hi, step);
    } else {
      f.text = "*";
      set(lo, hi, 1);
    }
    return f;
  }
  std::vector<std::string> items;
  int count = pick(1, 3);
  for (int i = 0; i < count; ++i) {
    int a = pick(lo, hi);
    switch (pick(0, 3)) {
      case 0:
        items.push_back(value_text(a));
        set(a, a, 1);
        break;
      case 1: {
        int b = pick(a, hi);
        items.push_back(absl::StrCat(value_text(a), "-", value_text(b)));
        set(a, b, 1);
        break;
      }
      case 2: {
        int b = pick(a, hi);
        int step = pick(1, 10);
        items.push_back(absl::StrCat(value_text(a), "-", value_text(b), "/", step));
        set(a, b, step);
        break;
      }
      default: {
        int step = pick(1, 10);
        items.push_back(absl::StrCat(value_text(a), "/", step));
        set(a, hi, step);
        break;
      }
    }
  }
  f.text = absl::StrJoin(items, ",");
  return f;
}

TEST(NextCronTime, MatchesMinuteByMinuteSearch) {
  const std::vector<std::string> months = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                           "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  const std::vector<std::string> days = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
  std::mt19937_64 rng(20240229);
  const absl::TimeZone utc = absl::UTCTimeZone();
  constexpr int kSearchMinutes = 45 * 24 * 60;  // 45 days, minute by minute
  int checked = 0;
  int found = 0;
  for (int e = 0; e < 300; ++e) {
    RandomField minute = MakeField(rng, 0, 59, {}, 0, false, 3);
    RandomField hour = MakeField(rng, 0, 23, {}, 0, false, 5);
    RandomField dom = MakeField(rng, 1, 31, {}, 0, false, 7);
    RandomField month = MakeField(rng, 1, 12, months, 1, false, 8);
    RandomField dow = MakeField(rng, 0, 7, days, 0, true, 6);
    const std::string expr =
        absl::StrJoin({minute.text, hour.text, dom.text, month.text, dow.text}, " ");
    std::optional<CronSchedule> schedule = CronSchedule::Parse(expr, nullptr);
    if (!schedule) continue;  // a day that never occurs in the months (checked above)
    const bool dom_star = dom.text[0] == '*';
    const bool dow_star = dow.text[0] == '*';
    auto matches = [&](absl::CivilMinute m) {
      bool d = dom.values[m.day()];
      bool w = dow.values[(static_cast<int>(absl::GetWeekday(absl::CivilDay(m))) + 1) % 7];
      bool day = (dom_star || dow_star) ? (d && w) : (d || w);
      return minute.values[m.minute()] && hour.values[m.hour()] && month.values[m.month()] && day;
    };
    for (int q = 0; q < 2; ++q) {
      // A start between 2023 and 2030, not on a whole minute half of the time.
      int64_t start = Utc(2023, 1, 1) + std::uniform_int_distribution<int64_t>(
                                            0, int64_t{7} * 365 * kMillisPerDay)(rng);
      if (q == 0) start -= start % kMillisPerMinute;
      absl::CivilMinute m = absl::ToCivilMinute(absl::FromUnixMillis(start), utc) + 1;
      std::optional<int64_t> want;
      for (int i = 0; i < kSearchMinutes; ++i, ++m) {
        if (matches(m)) {
          want = absl::ToUnixMillis(absl::FromCivil(m, utc));
          break;
        }
      }
      std::optional<int64_t> got = schedule->Next(start);
      ++checked;
      if (want) {
        ++found;
        ASSERT_EQ(got, want) << expr << " after " << FormatTimeUtc(start) << ": got "
                             << (got ? FormatTimeUtc(*got) : "none") << ", want "
                             << FormatTimeUtc(*want);
        EXPECT_TRUE(schedule->Matches(*want)) << expr;
        EXPECT_TRUE(schedule->Matches(*want + 59'999)) << expr;
      } else {
        ASSERT_TRUE(got.has_value()) << expr;  // every accepted expression matches eventually
        EXPECT_GT(*got, start + int64_t{kSearchMinutes} * kMillisPerMinute) << expr;
        EXPECT_TRUE(schedule->Matches(*got)) << expr;
      }
    }
  }
  // The generator must exercise both branches.
  EXPECT_GT(checked, 500);
  EXPECT_GT(found, 300);
  EXPECT_LT(found, checked);
}

}  // namespace
}  // namespace hpt::engine::trigger
