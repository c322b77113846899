// Tests of tracker/filter.h: parsing and printing, every parse error with its column, and the
// compiled SQL evaluated by SQLite against a small database built here with the tracker's tables
// (and metric_summaries).
#include "tracker/filter.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::tracker {
namespace {

using ::testing::HasSubstr;
using Names = std::vector<std::string>;

// ---- parsing and printing ----

// The canonical text of `text`'s filter ("<error: ...>" when it does not parse).
std::string Canonical(const std::string& text) {
  absl::StatusOr<Filter> f = ParseFilter(text);
  if (!f.ok()) return absl::StrCat("<error: ", f.status().message(), ">");
  return f->ToString();
}

TEST(FilterParseTest, PrintsCanonicalForm) {
  const std::pair<std::string, std::string> cases[] = {
      {"metrics.accuracy >= 0.9 and (params.optimizer = 'adam' or params.optimizer in "
       "('sgd','ftrl')) and state = 'SUCCEEDED'",
       "metrics.accuracy >= 0.9 and (params.optimizer = 'adam' or params.optimizer in ('sgd', "
       "'ftrl')) and state = 'SUCCEEDED'"},
      {"METRICS.acc == 1 AND Params.opt <> 'x' OR NOT State = 'running'",
       "metrics.acc = 1 and params.opt != 'x' or not state = 'RUNNING'"},
      {"metrics.a<1", "metrics.a < 1"},
      {"metrics.a<=1", "metrics.a <= 1"},
      {"metrics.a>1", "metrics.a > 1"},
      {"metrics.a>=-1", "metrics.a >= -1"},
      {"metrics.a!=+1.50", "metrics.a != +1.50"},
      {"MIN(Metrics.val/loss) < 1e-3", "min(metrics.val/loss) < 1e-3"},
      {"max(metrics.a) > .5 or last(metrics.b) < 5. or count(metrics.c) = 0",
       "max(metrics.a) > .5 or last(metrics.b) < 5. or count(metrics.c) = 0"},
      {"metrics.`val loss` < 1", "metrics.`val loss` < 1"},
      {"metrics.`a``b` < 1", "metrics.`a``b` < 1"},
      {"metrics.`abc` < 1", "metrics.abc < 1"},
      {"metrics.`1abc` < 1", "metrics.`1abc` < 1"},
      {"metrics.train.loss < 1", "metrics.train.loss < 1"},
      {"min(metrics.`x y`) < 1", "min(metrics.`x y`) < 1"},
      {"params.x = \"it's\"", "params.x = 'it''s'"},
      {"params.x = 'say \"hi\"'", "params.x = 'say \"hi\"'"},
      {"params.x = \"a\"\"b\"", "params.x = 'a\"b'"},
      {"params.x = ''", "params.x = ''"},
      {"state = 'succeeded'", "state = 'SUCCEEDED'"},
      {"state IN ('failed', \"Killed\")", "state in ('FAILED', 'KILLED')"},
      {"state like 'succ%'", "state like 'succ%'"},
      {"params.x NOT IN (1, -2.5, +3)", "params.x not in (1, -2.5, +3)"},
      {"params.x NOT LIKE \"a%\"", "params.x not like 'a%'"},
      {"objective IS NOT NULL", "objective is not null"},
      {"objective is null", "objective is null"},
      {"annotations.ai.bloomberg.com/project = 'x'", "annotations.ai.bloomberg.com/project = 'x'"},
      {"annotations.`ai.bloomberg.com/project` = 'x'",
       "annotations.ai.bloomberg.com/project = 'x'"},
      {"params.`my param` = 1", "params.`my param` = 1"},
      {"reason = 'a' and trial = 'b' and study = 'c' and project = 'd' and experiment = 'e'",
       "reason = 'a' and trial = 'b' and study = 'c' and project = 'd' and experiment = 'e'"},
      {"attempt = 1 and seed = 2 and created > 3 and started > 4 and finished > 5",
       "attempt = 1 and seed = 2 and created > 3 and started > 4 and finished > 5"},
      {"seed = 18446744073709551615", "seed = 18446744073709551615"},
      {" \t\n trial = 'a'\n", "trial = 'a'"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(Canonical(input), expected) << "input: " << input;
  }
}

TEST(FilterParseTest, KeepsOnlyTheParenthesesPrecedenceNeeds) {
  const std::pair<std::string, std::string> cases[] = {
      // and binds tighter than or, not tighter than and.
      {"trial = 'a' or trial = 'b' and trial = 'c'", "trial = 'a' or trial = 'b' and trial = 'c'"},
      {"trial = 'a' or (trial = 'b' and trial = 'c')",
       "trial = 'a' or trial = 'b' and trial = 'c'"},
      {"(trial = 'a' or trial = 'b') and trial = 'c'",
       "(trial = 'a' or trial = 'b') and trial = 'c'"},
      {"trial = 'a' and (trial = 'b' or trial = 'c') and trial = 'd'",
       "trial = 'a' and (trial = 'b' or trial = 'c') and trial = 'd'"},
      {"not trial = 'a' and trial = 'b'", "not trial = 'a' and trial = 'b'"},
      {"(not trial = 'a') and trial = 'b'", "not trial = 'a' and trial = 'b'"},
      {"not (trial = 'a' and trial = 'b')", "not (trial = 'a' and trial = 'b')"},
      {"not (trial = 'a' or trial = 'b')", "not (trial = 'a' or trial = 'b')"},
      {"not (trial = 'a')", "not trial = 'a'"},
      {"NOT NOT trial = 'a'", "not not trial = 'a'"},
      {"not (not (trial = 'a'))", "not not trial = 'a'"},
      {"((trial = 'a'))", "trial = 'a'"},
      // and/or are associative: nested runs flatten.
      {"trial = 'a' and (trial = 'b' and trial = 'c')",
       "trial = 'a' and trial = 'b' and trial = 'c'"},
      {"(trial = 'a' or trial = 'b') or (trial = 'c' or trial = 'd')",
       "trial = 'a' or trial = 'b' or trial = 'c' or trial = 'd'"},
      {"((trial = 'a' or trial = 'b') and trial = 'c') or trial = 'd'",
       "(trial = 'a' or trial = 'b') and trial = 'c' or trial = 'd'"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(Canonical(input), expected) << "input: " << input;
  }
}

TEST(FilterParseTest, CanonicalTextParsesToTheSameFilter) {
  for (const char* text : {
           "metrics.accuracy >= 0.9 and (params.optimizer = 'adam' or params.optimizer in "
           "('sgd','ftrl')) and state = 'SUCCEEDED'",
           "not (metrics.`a``b c` > 1 or params.`'q'` like '%''%') and annotations.k is null",
           "min(metrics.x) < -1e-3 or count(metrics.y) != 2 and seed >= 9223372036854775809",
           "((a.b = 1))",
       }) {
    absl::StatusOr<Filter> first = ParseFilter(text);
    if (!first.ok()) {
      EXPECT_THAT(std::string(first.status().message()), HasSubstr("unknown field 'a.b'"));
      continue;
    }
    absl::StatusOr<Filter> second = ParseFilter(first->ToString());
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->ToString(), first->ToString());
    const SqlFilter a = first->ToSql(), b = second->ToSql();
    EXPECT_EQ(a.where, b.where);
    EXPECT_EQ(a.args, b.args);
  }
}

TEST(FilterParseTest, EmptyFilterMatchesEverything) {
  for (const char* text : {"", "   ", "\n\t"}) {
    absl::StatusOr<Filter> f = ParseFilter(text);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE(f->empty());
    EXPECT_EQ(f->ToString(), "");
    EXPECT_EQ(f->ToSql().where, "1");
    EXPECT_TRUE(f->ToSql().args.empty());
  }
  EXPECT_TRUE(Filter().empty());
  EXPECT_EQ(Filter().ToSql().where, "1");
  absl::StatusOr<Filter> f = ParseFilter("trial = 'a'");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->empty());
}

TEST(FilterParseTest, CompilesToParameterizedSql) {
  absl::StatusOr<Filter> f = ParseFilter("state = 'failed'");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->ToSql().where, "(t.state = ?)");
  EXPECT_EQ(f->ToSql().args, std::vector<SqlValue>{std::string("FAILED")});

  f = ParseFilter("params.lr > 0.5 and attempt in (1, 2)");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->ToSql().where,
            "((IFNULL(hpt_num((SELECT p.value FROM params p WHERE p.trial_id = t.id AND p.name = "
            "?)) > ?, 0)) AND (t.attempt IN (?, ?)))");
  EXPECT_EQ(f->ToSql().args,
            (std::vector<SqlValue>{std::string("lr"), 0.5, int64_t{1}, int64_t{2}}));

  f = ParseFilter("max(metrics.`x'y`) is null");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->ToSql().where,
            "((SELECT ms.max_value FROM metric_summaries ms JOIN metric_names mn ON mn.id = "
            "ms.name_id WHERE ms.trial_id = t.id AND mn.name = ?) IS NULL)");
  EXPECT_EQ(f->ToSql().args, std::vector<SqlValue>{std::string("x'y")});

  // Seeds compare as unsigned 64-bit integers.
  f = ParseFilter("seed > 9223372036854775808");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->ToSql().where, "((t.seed < 0, t.seed) > (?, ?))");
  EXPECT_EQ(f->ToSql().args,
            (std::vector<SqlValue>{int64_t{1}, std::numeric_limits<int64_t>::min()}));
}

TEST(FilterParseTest, NoFilterTextEverBecomesSql) {
  const std::string evil = "x'); DROP TABLE trials; --";
  absl::StatusOr<Filter> f = ParseFilter(
      absl::StrCat("params.`", evil, "` = '", absl::StrReplaceAll(evil, {{"'", "''"}}),
                   "' or metrics.`", evil, "` > 1 or annotations.`", evil, "` like '%",
                   absl::StrReplaceAll(evil, {{"'", "''"}}), "' or state = \"pending\""));
  ASSERT_TRUE(f.ok()) << f.status();
  const SqlFilter sql = f->ToSql();
  EXPECT_THAT(sql.where, ::testing::Not(HasSubstr("DROP")));
  EXPECT_THAT(sql.where, ::testing::Not(HasSubstr("PENDING")));
  EXPECT_THAT(sql.where, ::testing::Not(HasSubstr("pending")));
  EXPECT_EQ(sql.args.size(), 8u);
}

// ---- errors ----

// The first line of `text`'s parse error, or "OK" / the wrong code.
std::string FirstErrorLine(const std::string& text) {
  absl::StatusOr<Filter> f = ParseFilter(text);
  if (f.ok()) return "OK";
  if (!absl::IsInvalidArgument(f.status())) return f.status().ToString();
  const std::string message(f.status().message());
  return message.substr(0, message.find('\n'));
}

TEST(FilterErrorTest, ShowsTheFilterWithACaretUnderTheColumn) {
  absl::StatusOr<Filter> f = ParseFilter("metrics.accuracy >=");
  ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.status().message(),
            "filter column 20: expected a value after '>=', got the end of the filter\n"
            "  metrics.accuracy >=\n"
            "                     ^");

  f = ParseFilter("metrics.accuracy >= 0.9 and");
  EXPECT_EQ(f.status().message(),
            "filter column 28: expected a condition such as metrics.accuracy >= 0.9, got the end "
            "of the filter\n"
            "  metrics.accuracy >= 0.9 and\n"
            "                             ^");

  // Columns count characters, not UTF-8 bytes.
  f = ParseFilter("trial = 'é' and é");
  EXPECT_EQ(f.status().message(),
            "filter column 17: unexpected character (byte 0xc3); names other than "
            "[A-Za-z0-9_./:-] go in backquotes\n"
            "  trial = 'é' and é\n"
            "                  ^");

  // Tabs stay tabs so that the caret lines up.
  f = ParseFilter("\tstate = 1");
  EXPECT_EQ(f.status().message(),
            "filter column 10: state is text; compare it with a quoted string, got the number 1\n"
            "  \tstate = 1\n"
            "  \t        ^");

  // Several lines: the line and the column in it.
  f = ParseFilter("study = 'a'\n  and params.x in ()\n");
  EXPECT_EQ(f.status().message(),
            "filter line 2, column 20: an 'in' list needs at least one value: in ('a', 'b')\n"
            "    and params.x in ()\n"
            "                     ^");
  f = ParseFilter("study = 'a' and\n");
  EXPECT_EQ(f.status().message(),
            "filter line 2, column 1: expected a condition such as metrics.accuracy >= 0.9, got "
            "the end of the filter\n"
            "  \n"
            "  ^");
}

TEST(FilterErrorTest, EveryErrorNamesItsColumn) {
  const std::pair<std::string, std::string> cases[] = {
      // Missing or misplaced pieces.
      {"metrics.accuracy >= ",
       "filter column 21: expected a value after '>=', got the end of "
       "the filter"},
      {"not",
       "filter column 4: expected a condition such as metrics.accuracy >= 0.9, got the "
       "end of the filter"},
      {"and trial = 'a'",
       "filter column 1: expected a condition such as metrics.accuracy >= "
       "0.9, got the keyword 'and'"},
      {"in = 1",
       "filter column 1: expected a condition such as metrics.accuracy >= 0.9, got "
       "the keyword 'in'"},
      {"'a' = trial",
       "filter column 1: expected a condition such as metrics.accuracy >= 0.9, "
       "got the string 'a'"},
      {"0.9 < metrics.a",
       "filter column 1: expected a condition such as metrics.accuracy >= "
       "0.9, got the number 0.9"},
      {"()", "filter column 2: expected a condition after '(', got ')'"},
      {"(state = 'FAILED'",
       "filter column 18: expected ')' to close the '(' at column 1, got "
       "the end of the filter"},
      {"(trial = 'a' trial",
       "filter column 14: expected 'and', 'or' or ')', got the name "
       "'trial'"},
      {"state = 'FAILED' 'x'",
       "filter column 18: expected 'and', 'or' or the end of the "
       "filter, got the string 'x'"},
      {"state = 'FAILED' (",
       "filter column 18: expected 'and', 'or' or the end of the filter, "
       "got '('"},
      {"state = 'FAILED')", "filter column 17: unmatched ')': no '(' before it to close"},
      {"metrics.x",
       "filter column 10: expected a comparison after metrics.x (=, !=, <, <=, >, "
       ">=, in, not in, like, not like, is null, is not null), got the end of the "
       "filter"},
      {"metrics.x metrics.y",
       "filter column 11: expected a comparison after metrics.x (=, !=, "
       "<, <=, >, >=, in, not in, like, not like, is null, is not null), "
       "got the name 'metrics.y'"},
      {"metrics.a `b``c`",
       "filter column 11: expected a comparison after metrics.a (=, !=, <, "
       "<=, >, >=, in, not in, like, not like, is null, is not null), got "
       "the name `b``c`"},
      {"state = SUCCEEDED",
       "filter column 9: expected a value (a number or a quoted string) "
       "after '=', got the name 'SUCCEEDED'; fields compare only with "
       "values; quote text: 'SUCCEEDED'"},
      {"metrics.a > metrics.b",
       "filter column 13: expected a value (a number or a quoted "
       "string) after '>', got the name 'metrics.b'; fields compare "
       "only with values; quote text: 'metrics.b'"},
      {"params.x = and", "filter column 12: expected a value after '=', got the keyword 'and'"},
      // Fields and functions.
      {"foo = 1",
       "filter column 1: unknown field 'foo'; fields are metrics.NAME, "
       "min|max|last|count(metrics.NAME), params.NAME, annotations.KEY, state, "
       "reason, trial, study, project, experiment, objective, attempt, seed, created, "
       "started, finished"},
      {"metric.acc > 1",
       "filter column 1: unknown field 'metric.acc'; fields are metrics.NAME, "
       "min|max|last|count(metrics.NAME), params.NAME, annotations.KEY, "
       "state, reason, trial, study, project, experiment, objective, attempt, "
       "seed, created, started, finished"},
      {"avg(metrics.x) > 1",
       "filter column 1: unknown function 'avg'; functions are min, max, "
       "last and count, of a metric: max(metrics.accuracy)"},
      {"min(params.x) > 1",
       "filter column 5: expected a metric in min(), e.g. "
       "min(metrics.loss), got the name 'params.x'"},
      {"count() > 1",
       "filter column 7: expected a metric in count(), e.g. count(metrics.loss), "
       "got ')'"},
      {"min(metrics.x > 1", "filter column 15: expected ')' to close min(, got '>'"},
      {"metrics. > 1",
       "filter column 9: expected a metric name right after 'metrics.' "
       "(letters, digits, _ . / : -, or any text in backquotes: metrics.`my "
       "name`)"},
      {"params.",
       "filter column 8: expected a parameter name right after 'params.' (letters, "
       "digits, _ . / : -, or any text in backquotes: params.`my name`)"},
      {"annotations. `x` = 'a'",
       "filter column 13: expected an annotation name right after "
       "'annotations.' (letters, digits, _ . / : -, or any text in "
       "backquotes: annotations.`my name`)"},
      {"max(metrics.) > 1",
       "filter column 13: expected a metric name right after 'metrics.' "
       "(letters, digits, _ . / : -, or any text in backquotes: "
       "metrics.`my name`)"},
      // Lexical errors.
      {"params.opt = 'adam", "filter column 14: unterminated string: no closing '"},
      {"params.opt = \"adam", "filter column 14: unterminated string: no closing \""},
      {"params.opt = 'it''s", "filter column 14: unterminated string: no closing '"},
      {"metrics.`abc > 1", "filter column 9: unterminated name: no closing `"},
      {"metrics.`` > 1", "filter column 9: empty name ``"},
      {"params.x = 1.2.3",
       "filter column 12: malformed number '1.2.3'; numbers look like 3, "
       "-0.5, 1e-3"},
      {"params.x = 1e",
       "filter column 12: malformed number '1e'; numbers look like 3, -0.5, "
       "1e-3"},
      {"params.x = -12abc",
       "filter column 12: malformed number '-12abc'; numbers look like 3, "
       "-0.5, 1e-3"},
      {"params.x = 1e999", "filter column 12: number 1e999 is out of range"},
      {"params.x = - 1", "filter column 12: unexpected character '-'"},
      {"params.x = .", "filter column 12: unexpected character '.'"},
      {"params.x ! 1", "filter column 10: unexpected '!'; use '!=' or 'not'"},
      {"trial = 'a' && trial = 'b'", "filter column 13: unexpected '&&'; use 'and'"},
      {"trial = 'a' || trial = 'b'", "filter column 13: unexpected '||'; use 'or'"},
      {"trial = 'a' & trial = 'b'", "filter column 13: unexpected '&'"},
      {"trial = 'a' # c", "filter column 13: unexpected character '#'"},
      {std::string("trial = 'a' \x01"),
       "filter column 13: unexpected character (byte 0x01); "
       "names other than [A-Za-z0-9_./:-] go in backquotes"},
      {std::string("trial = 'a'\0", 12),
       "filter column 12: unexpected character (byte 0x00); "
       "names other than [A-Za-z0-9_./:-] go in backquotes"},
      // A lexical error is reported where the parser meets it, after earlier parse errors.
      {"state = 1 and 'x",
       "filter column 9: state is text; compare it with a quoted string, "
       "got the number 1"},
      // Operators.
      {"params.x in ()",
       "filter column 14: an 'in' list needs at least one value: in ('a', "
       "'b')"},
      {"params.x in 1", "filter column 13: expected '(' after 'in', got the number 1"},
      {"params.x in (1, )", "filter column 17: expected a value after ',', got ')'"},
      {"params.x in (1 2)",
       "filter column 16: expected ',' or ')' in the 'in' list, got the "
       "number 2"},
      {"params.x in (1",
       "filter column 15: expected ',' or ')' in the 'in' list, got the end "
       "of the filter"},
      {"params.x in (1, 'a')",
       "filter column 17: an 'in' list holds only numbers or only "
       "strings; this one mixes them"},
      {"params.x like 5",
       "filter column 15: 'like' takes a quoted pattern such as 'adam%', got "
       "the number 5"},
      {"params.x like abc",
       "filter column 15: expected a value (a number or a quoted string) "
       "after 'like', got the name 'abc'; fields compare only with values; "
       "quote text: 'abc'"},
      {"params.x not 5",
       "filter column 14: expected 'in' or 'like' after 'not', got the number "
       "5"},
      {"params.x is 5",
       "filter column 13: expected 'null' or 'not null' after 'is', got the "
       "number 5"},
      {"params.x is not 5", "filter column 17: expected 'null' after 'is not', got the number 5"},
      // Types.
      {"state = 1",
       "filter column 9: state is text; compare it with a quoted string, got the "
       "number 1"},
      {"trial in ('a', 2)",
       "filter column 16: trial is text; compare it with a quoted string, "
       "got the number 2"},
      {"state = 'DONE'",
       "filter column 9: unknown trial state 'DONE'; states are PENDING, "
       "RUNNING, SUCCEEDED, FAILED, KILLED, EARLY_STOPPED, "
       "METRICS_UNAVAILABLE"},
      {"state not in ('FAILED', 'Succeded')",
       "filter column 25: unknown trial state "
       "'Succeded'; states are PENDING, RUNNING, "
       "SUCCEEDED, FAILED, KILLED, EARLY_STOPPED, "
       "METRICS_UNAVAILABLE"},
      {"metrics.acc = 'x'",
       "filter column 15: metrics.acc is a number; compare it with a "
       "number, got the string 'x'"},
      {"count(metrics.acc) in (1, '2')",
       "filter column 27: count(metrics.acc) is a number; "
       "compare it with a number, got the string '2'"},
      {"attempt > '1'",
       "filter column 11: attempt is a number; compare it with a number, got "
       "the string '1'"},
      {"metrics.acc like 'a%'",
       "filter column 13: 'like' applies to text (params, annotations, "
       "state, reason, trial, study, project, experiment), not to the "
       "number metrics.acc"},
      {"created not like 'a%'",
       "filter column 13: 'like' applies to text (params, "
       "annotations, state, reason, trial, study, project, "
       "experiment), not to the number created"},
      {"state is null",
       "filter column 7: state is never null; 'is null' applies to metrics, "
       "params, annotations and objective"},
      {"count(metrics.acc) is not null",
       "filter column 20: count(metrics.acc) is 0, never "
       "null, for a trial without the metric; compare it "
       "with 0"},
      {"seed = -1", "filter column 8: seed is an integer from 0 to 2^64-1; got the number -1"},
      {"seed = 1.5", "filter column 8: seed is an integer from 0 to 2^64-1; got the number 1.5"},
      {"seed = 18446744073709551616",
       "filter column 8: seed is an integer from 0 to 2^64-1; "
       "got the number 18446744073709551616"},
      {"seed in (1, 'x')",
       "filter column 13: seed is an integer from 0 to 2^64-1; got the "
       "string 'x'"},
      {"seed like '1%'",
       "filter column 6: 'like' applies to text (params, annotations, state, "
       "reason, trial, study, project, experiment), not to the number seed"},
      {"seed is null",
       "filter column 6: seed is never null; 'is null' applies to metrics, "
       "params, annotations and objective"},
      // Long text in messages is shortened.
      {"params.x = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' 'b'",
       "filter column 65: expected 'and', 'or' or the end of the filter, got the string 'b'"},
      {"state = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
       "filter column 9: unknown trial state 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'; states "
       "are PENDING, RUNNING, SUCCEEDED, FAILED, KILLED, EARLY_STOPPED, METRICS_UNAVAILABLE"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(FirstErrorLine(input), expected) << "input: " << input;
  }
}

TEST(FilterErrorTest, BoundsNestingDepth) {
  auto nested = [](int depth) {
    return absl::StrCat(std::string(depth, '('), "trial = 'a'", std::string(depth, ')'));
  };
  EXPECT_EQ(FirstErrorLine(nested(kMaxFilterDepth)), "OK");
  EXPECT_EQ(FirstErrorLine(nested(kMaxFilterDepth + 1)),
            "filter column 41: the filter nests parentheses and 'not' more than 40 deep");

  std::string nots;
  for (int i = 0; i < kMaxFilterDepth; ++i) nots += "not ";
  EXPECT_EQ(FirstErrorLine(nots + "trial = 'a'"), "OK");
  EXPECT_EQ(FirstErrorLine(nots + "not trial = 'a'"),
            "filter column 161: the filter nests parentheses and 'not' more than 40 deep");
  // Parentheses and not count together.
  EXPECT_EQ(
      FirstErrorLine(absl::StrCat(std::string(20, '('), nots.substr(0, 80), "(", "trial = 'a'")),
      "filter column 101: the filter nests parentheses and 'not' more than 40 deep");
  // Far deeper input fails the same way, without exhausting the stack.
  EXPECT_EQ(FirstErrorLine(std::string(1000000, '(')),
            "filter column 41: the filter nests parentheses and 'not' more than 40 deep");
}

TEST(FilterErrorTest, BoundsConditionsAndValues) {
  std::string text = "trial = 'a'";
  for (int i = 1; i < kMaxFilterConditions; ++i) text += " or trial = 'a'";
  EXPECT_EQ(FirstErrorLine(text), "OK");
  EXPECT_EQ(
      FirstErrorLine(text + " or trial = 'a'"),
      absl::StrCat("filter column ", text.size() + 5, ": the filter has more than 500 conditions"));

  std::string list = "params.x in (0";
  for (int i = 1; i < kMaxFilterValues; ++i) list += ",0";
  EXPECT_EQ(FirstErrorLine(list + ")"), "OK");
  EXPECT_EQ(FirstErrorLine(list + ",0)"), absl::StrCat("filter column ", list.size() + 2,
                                                       ": the filter has more than 10000 values"));
}

// ---- evaluation by SQLite ----

// The tracker's tables (tracker/schema.cc) that filters read, plus metric_summaries.
constexpr char kSchema[] = R"sql(
CREATE TABLE studies (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, project TEXT NOT NULL DEFAULT '',
  experiment TEXT NOT NULL DEFAULT '', objective_metric TEXT NOT NULL DEFAULT '',
  maximize INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE study_annotations (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (study_id, key)) WITHOUT ROWID;
CREATE TABLE trials (
  id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  name TEXT NOT NULL UNIQUE, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '', objective REAL, seed INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX trials_by_study ON trials(study_id);
CREATE TABLE params (
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE, ord INTEGER NOT NULL,
  name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (trial_id, ord)) WITHOUT ROWID;
CREATE TABLE metric_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE metric_summaries (
  trial_id INTEGER NOT NULL, name_id INTEGER NOT NULL,
  count INTEGER NOT NULL, min_value REAL NOT NULL, max_value REAL NOT NULL,
  last_value REAL NOT NULL, last_step INTEGER NOT NULL,
  PRIMARY KEY (trial_id, name_id)) WITHOUT ROWID;
)sql";

// mnist maximizes accuracy, cifar minimizes val/loss, nlp minimizes loss. Seeds are stored as
// the int64 with the uint64's bits: m4's is 2^63 + 1, m5's 2^64 - 1.
constexpr char kData[] = R"sql(
INSERT INTO studies (id, name, project, experiment, objective_metric, maximize, state, created_ms)
VALUES (1, 'mnist', 'vision', 'e1', 'accuracy', 1, 'RUNNING', 1),
       (2, 'cifar', 'vision', 'e2', 'val/loss', 0, 'RUNNING', 2),
       (3, 'nlp', 'text', '', 'loss', 0, 'CREATED', 3);
INSERT INTO study_annotations (study_id, key, value)
VALUES (1, 'ai.bloomberg.com/project', 'alpha'), (1, 'team', 'ml'), (1, 'priority', '10'),
       (2, 'ai.bloomberg.com/project', 'beta'), (2, 'priority', '9');
INSERT INTO trials (id, study_id, name, state, reason, objective, seed, attempt, created_ms,
                    started_ms, finished_ms)
VALUES (1, 1, 'm1', 'SUCCEEDED', 'Completed', 0.95, 1, 1, 1000, 1100, 1900),
       (2, 1, 'm2', 'SUCCEEDED', 'Completed', 0.92, 2, 2, 2000, 2100, 2900),
       (3, 1, 'm3', 'FAILED', 'Error', NULL, 3, 1, 3000, 3100, 3200),
       (4, 1, 'm4', 'SUCCEEDED', 'Completed', 0.97, -9223372036854775807, 1, 4000, 4100, 4900),
       (5, 1, 'm5', 'RUNNING', '', NULL, -1, 3, 5000, 5100, 0),
       (6, 2, 'c1', 'SUCCEEDED', 'Completed', 0.2, 6, 1, 6000, 6100, 6900),
       (7, 2, 'c2', 'EARLY_STOPPED', 'EarlyStopped', 0.6, 7, 1, 7000, 7100, 7900),
       (8, 2, 'c3', 'KILLED', 'Killed', NULL, 8, 0, 8000, 0, 8100),
       (9, 3, 'n1', 'METRICS_UNAVAILABLE', '', NULL, 9, 1, 9000, 9100, 9900),
       (10, 3, 'n2', 'PENDING', '', NULL, 10, 0, 10000, 0, 0);
INSERT INTO params (trial_id, ord, name, value)
VALUES (1, 0, 'optimizer', 'adam'), (1, 1, 'lr', '0.01'), (1, 2, 'layers', '3'),
       (2, 0, 'optimizer', 'sgd'), (2, 1, 'lr', '0.1'), (2, 2, 'layers', 'abc'),
       (3, 0, 'optimizer', 'ftrl'), (3, 1, 'lr', '1e-3'),
       (4, 0, 'optimizer', 'rmsprop'), (4, 1, 'lr', ' 0.05 '),
       (5, 0, 'optimizer', 'Adam'), (5, 1, 'lr', '1e-2'),
       (6, 0, 'optimizer', 'sgd'), (6, 1, 'lr', '0.05'), (6, 2, 'batch', '64'),
       (7, 0, 'optimizer', 'adam'), (7, 1, 'lr', '0.2'), (7, 2, 'batch', '128'),
       (9, 0, 'my param', 'x y'), (9, 1, 'optimizer', 'it''s'),
       (10, 0, 'dropout', '0.5');
INSERT INTO metric_names (id, name)
VALUES (1, 'accuracy'), (2, 'loss'), (3, 'val/loss'), (4, 'train.loss'), (5, 'weird name');
INSERT INTO metric_summaries (trial_id, name_id, count, min_value, max_value, last_value,
                              last_step)
VALUES (1, 1, 3, 0.5, 0.95, 0.93, 2), (1, 2, 3, 0.1, 0.9, 0.2, 2),
       (2, 1, 4, 0.4, 0.92, 0.85, 3), (2, 2, 4, 0.3, 1.2, 0.35, 3),
       (4, 1, 2, 0.3, 0.97, 0.96, 1),
       (5, 3, 5, 0.1, 0.9, 0.6, 4),
       (6, 3, 10, 0.2, 1.5, 0.55, 9), (6, 1, 10, 0.1, 0.95, 0.7, 9),
       (7, 3, 3, 0.6, 2.0, 0.9, 2),
       (9, 4, 2, 1.0, 2.0, 1.5, 1), (9, 5, 1, 7, 7, 7, 0), (9, 2, 2, 0.8, 0.9, 0.85, 1);
)sql";

const Names kAll = {"c1", "c2", "c3", "m1", "m2", "m3", "m4", "m5", "n1", "n2"};

class FilterSqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "hpt_filter_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << "mkdtemp " << tmpl;
    dir_ = tmpl;
    ASSERT_EQ(sqlite3_open_v2((dir_ + "/hpt.db").c_str(), &db_,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
              SQLITE_OK);
    ASSERT_TRUE(RegisterFilterFunctions(db_).ok());
    ASSERT_EQ(sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    ASSERT_EQ(sqlite3_exec(db_, kData, nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
  }
  void TearDown() override {
    sqlite3_close_v2(db_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs `sql` (one text column) with `args`; the rows, or {"<error ...>"}.
  Names Query(const std::string& sql, const std::vector<SqlValue>& args) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      return {absl::StrCat("<error preparing: ", sqlite3_errmsg(db_), ">")};
    }
    Names out;
    if (sqlite3_bind_parameter_count(st) != static_cast<int>(args.size())) {
      out.push_back(absl::StrCat("<error: ", sqlite3_bind_parameter_count(st), " parameters, ",
                                 args.size(), " values>"));
    } else if (absl::Status s = BindSqlValues(st, 1, args); !s.ok()) {
      out.push_back(absl::StrCat("<error binding: ", s.ToString(), ">"));
    } else {
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(st, 0);
        out.push_back(text == nullptr ? "<null>" : reinterpret_cast<const char*>(text));
      }
      if (rc != SQLITE_DONE) out.push_back(absl::StrCat("<error: ", sqlite3_errmsg(db_), ">"));
    }
    sqlite3_finalize(st);
    return out;
  }

  // The names of the trials `filter` selects, in name order.
  Names Select(const std::string& filter) {
    absl::StatusOr<Filter> f = ParseFilter(filter);
    if (!f.ok()) return {absl::StrCat("<parse error: ", f.status().message(), ">")};
    const SqlFilter sql = f->ToSql();
    return Query(absl::StrCat("SELECT t.name FROM trials t JOIN studies s ON s.id = t.study_id "
                              "WHERE ",
                              sql.where, " ORDER BY t.name"),
                 sql.args);
  }

  // hpt_num(value) as "typeof:value".
  std::string HptNum(const std::string& value_sql) {
    Names r = Query(absl::StrCat("SELECT typeof(hpt_num(", value_sql, ")) || ':' || ",
                                 "IFNULL(hpt_num(", value_sql, "), 'null')"),
                    {});
    return r.size() == 1 ? r[0] : absl::StrJoin(r, "|");
  }

  std::string dir_;
  sqlite3* db_ = nullptr;
};

TEST_F(FilterSqlTest, IssueExample) {
  EXPECT_EQ(Select("metrics.accuracy >= 0.9 and (params.optimizer = 'adam' or params.optimizer "
                   "in ('sgd','ftrl')) and state = 'SUCCEEDED'"),
            (Names{"m1", "m2"}));
  EXPECT_EQ(Select(""), kAll);
}

TEST_F(FilterSqlTest, MetricsDefaultToTheBestOfTheObjectiveAndTheLastOfOthers) {
  // mnist maximizes accuracy: its trials use max; c1's accuracy is not cifar's objective: last.
  EXPECT_EQ(Select("metrics.accuracy >= 0.9"), (Names{"m1", "m2", "m4"}));
  EXPECT_EQ(Select("metrics.accuracy = 0.92"), (Names{"m2"}));
  EXPECT_EQ(Select("metrics.accuracy = 0.7"), (Names{"c1"}));
  // cifar minimizes val/loss: min; m5's val/loss is not mnist's objective: last (0.6, min 0.1).
  EXPECT_EQ(Select("metrics.val/loss < 0.5"), (Names{"c1"}));
  EXPECT_EQ(Select("metrics.val/loss > 0.58"), (Names{"c2", "m5"}));
  // nlp minimizes loss (n1: min 0.8); mnist's loss is last (m1 0.2, m2 0.35).
  EXPECT_EQ(Select("metrics.loss < 0.3"), (Names{"m1"}));
  EXPECT_EQ(Select("metrics.loss < 0.85"), (Names{"m1", "m2", "n1"}));
  EXPECT_EQ(Select("metrics.train.loss = 1.5"), (Names{"n1"}));
  EXPECT_EQ(Select("metrics.`weird name` = 7"), (Names{"n1"}));
  EXPECT_EQ(Select("metrics.`weird name` = 7.0"), (Names{"n1"}));
  EXPECT_EQ(Select("metrics.never_reported > -1e300"), Names{});
}

TEST_F(FilterSqlTest, MetricSummaries) {
  EXPECT_EQ(Select("max(metrics.accuracy) >= 0.9"), (Names{"c1", "m1", "m2", "m4"}));
  EXPECT_EQ(Select("last(metrics.accuracy) >= 0.9"), (Names{"m1", "m4"}));
  EXPECT_EQ(Select("min(metrics.accuracy) < 0.35"), (Names{"c1", "m4"}));
  EXPECT_EQ(Select("min(metrics.val/loss) <= 0.1"), (Names{"m5"}));
  EXPECT_EQ(Select("last(metrics.val/loss) < 0.58"), (Names{"c1"}));
  EXPECT_EQ(Select("count(metrics.accuracy) >= 4"), (Names{"c1", "m2"}));
  EXPECT_EQ(Select("count(metrics.accuracy) = 0"), (Names{"c2", "c3", "m3", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("count(metrics.accuracy) in (2, 3)"), (Names{"m1", "m4"}));
  EXPECT_EQ(Select("COUNT(metrics.`weird name`) = 1"), (Names{"n1"}));
}

TEST_F(FilterSqlTest, MissingValuesMakeEveryComparisonFalse) {
  EXPECT_EQ(Select("metrics.accuracy is null"), (Names{"c2", "c3", "m3", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("metrics.accuracy is not null"), (Names{"c1", "m1", "m2", "m4"}));
  EXPECT_EQ(Select("max(metrics.accuracy) is null"), (Names{"c2", "c3", "m3", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("metrics.accuracy < 0.9"), (Names{"c1"}));
  EXPECT_EQ(Select("metrics.accuracy != 0.95"), (Names{"c1", "m2", "m4"}));
  EXPECT_EQ(Select("metrics.accuracy not in (0.95, 0.97)"), (Names{"c1", "m2"}));
  // `not` is the complement: trials without the metric are not >= 0.9.
  EXPECT_EQ(Select("not metrics.accuracy >= 0.9"),
            (Names{"c1", "c2", "c3", "m3", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("not params.optimizer = 'adam'"),
            (Names{"c1", "c3", "m2", "m3", "m4", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("params.optimizer != 'adam'"), (Names{"c1", "m2", "m3", "m4", "m5", "n1"}));
  EXPECT_EQ(Select("objective > 0.5"), (Names{"c2", "m1", "m2", "m4"}));
  EXPECT_EQ(Select("objective <= 0.5"), (Names{"c1"}));
  EXPECT_EQ(Select("objective is null"), (Names{"c3", "m3", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("not objective > 0.5"), (Names{"c1", "c3", "m3", "m5", "n1", "n2"}));
  // Every condition is true or false, never NULL: x or not x holds everywhere.
  for (const char* x :
       {"metrics.accuracy >= 0.9", "min(metrics.loss) < 1", "params.layers != 3",
        "params.lr > 0.01", "params.optimizer like 'a%'", "params.optimizer not in ('sgd')",
        "annotations.priority >= 10", "annotations.team = 'ml'", "objective > 0.5",
        "params.`my param` not like 'x%'"}) {
    EXPECT_EQ(Select(absl::StrCat(x, " or not (", x, ")")), kAll) << x;
    EXPECT_EQ(Select(absl::StrCat(x, " and not (", x, ")")), Names{}) << x;
  }
}

TEST_F(FilterSqlTest, ParamsCompareAsTextOrAsNumbers) {
  EXPECT_EQ(Select("params.optimizer = 'adam'"), (Names{"c2", "m1"}));
  EXPECT_EQ(Select("params.optimizer == \"Adam\""), (Names{"m5"}));
  EXPECT_EQ(Select("params.optimizer > 'r'"), (Names{"c1", "m2", "m4"}));  // 'Adam' < 'r'
  EXPECT_EQ(Select("params.optimizer in ('sgd','ftrl')"), (Names{"c1", "m2", "m3"}));
  EXPECT_EQ(Select("params.optimizer not in ('sgd','ftrl')"),
            (Names{"c2", "m1", "m4", "m5", "n1"}));
  EXPECT_EQ(Select("params.optimizer = 'it''s'"), (Names{"n1"}));
  EXPECT_EQ(Select("params.optimizer = \"it's\""), (Names{"n1"}));
  EXPECT_EQ(Select("params.`my param` = 'x y'"), (Names{"n1"}));
  // Numbers: numeric when the text is a number (1e-2 = 0.01; surrounding spaces allowed).
  EXPECT_EQ(Select("params.lr = 0.01"), (Names{"m1", "m5"}));
  EXPECT_EQ(Select("params.lr = '0.01'"), (Names{"m1"}));
  EXPECT_EQ(Select("params.lr < 0.05"), (Names{"m1", "m3", "m5"}));
  EXPECT_EQ(Select("params.lr >= 0.05"), (Names{"c1", "c2", "m2", "m4"}));
  EXPECT_EQ(Select("params.lr = 5e-2"), (Names{"c1", "m4"}));
  EXPECT_EQ(Select("params.batch in (64, 128)"), (Names{"c1", "c2"}));
  EXPECT_EQ(Select("params.batch in (64.0)"), (Names{"c1"}));
  EXPECT_EQ(Select("params.batch in ('64.0')"), Names{});
  EXPECT_EQ(Select("params.batch not in (64)"), (Names{"c2"}));
  EXPECT_EQ(Select("params.batch > 100"), (Names{"c2"}));
  EXPECT_EQ(Select("params.batch > '100'"), (Names{"c1", "c2"}));  // text: '64', '128' > '100'
  EXPECT_EQ(Select("params.dropout > 0.4"), (Names{"n2"}));
  // ... and false otherwise, != included.
  EXPECT_EQ(Select("params.layers > 2"), (Names{"m1"}));
  EXPECT_EQ(Select("params.layers != 3"), Names{});
  EXPECT_EQ(Select("params.layers != 'abc'"), (Names{"m1"}));
  EXPECT_EQ(Select("not params.layers = 3"),
            (Names{"c1", "c2", "c3", "m2", "m3", "m4", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("params.optimizer = 0"), Names{});
  EXPECT_EQ(Select("params.layers is null"),
            (Names{"c1", "c2", "c3", "m3", "m4", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("params.layers is not null"), (Names{"m1", "m2"}));
}

TEST_F(FilterSqlTest, Like) {
  // SQLite's LIKE: case-insensitive for ASCII letters.
  EXPECT_EQ(Select("params.optimizer like 'adam'"), (Names{"c2", "m1", "m5"}));
  EXPECT_EQ(Select("params.optimizer like 's%'"), (Names{"c1", "m2"}));
  EXPECT_EQ(Select("params.optimizer like '_gd'"), (Names{"c1", "m2"}));
  EXPECT_EQ(Select("params.optimizer not like 's%'"), (Names{"c2", "m1", "m3", "m4", "m5", "n1"}));
  EXPECT_EQ(Select("params.optimizer like '%''%'"), (Names{"n1"}));
  EXPECT_EQ(Select("trial like 'c%'"), (Names{"c1", "c2", "c3"}));
  EXPECT_EQ(Select("state like 'early%'"), (Names{"c2"}));
  EXPECT_EQ(Select("state not like '%ED'"), (Names{"m5", "n1", "n2"}));
  EXPECT_EQ(Select("annotations.ai.bloomberg.com/project like 'b%'"), (Names{"c1", "c2", "c3"}));
  EXPECT_EQ(Select("annotations.team not like 'x%'"), (Names{"m1", "m2", "m3", "m4", "m5"}));
}

TEST_F(FilterSqlTest, Annotations) {
  const Names mnist = {"m1", "m2", "m3", "m4", "m5"};
  EXPECT_EQ(Select("annotations.`ai.bloomberg.com/project` = 'alpha'"), mnist);
  EXPECT_EQ(Select("annotations.ai.bloomberg.com/project = 'beta'"), (Names{"c1", "c2", "c3"}));
  EXPECT_EQ(Select("annotations.priority > 9.5"), mnist);    // numbers: 10 > 9.5, 9 is not
  EXPECT_EQ(Select("annotations.priority > '9'"), Names{});  // text: '10' < '9'
  EXPECT_EQ(Select("annotations.priority in (9, 11)"), (Names{"c1", "c2", "c3"}));
  EXPECT_EQ(Select("annotations.team is null"), (Names{"c1", "c2", "c3", "n1", "n2"}));
  EXPECT_EQ(Select("annotations.Team is null"), kAll);  // keys are case-sensitive
}

TEST_F(FilterSqlTest, Attributes) {
  EXPECT_EQ(Select("state = 'succeeded'"), (Names{"c1", "m1", "m2", "m4"}));
  EXPECT_EQ(Select("state in ('FAILED', 'killed')"), (Names{"c3", "m3"}));
  EXPECT_EQ(Select("state != 'SUCCEEDED'"), (Names{"c2", "c3", "m3", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("state not in ('SUCCEEDED', 'RUNNING', 'pending')"),
            (Names{"c2", "c3", "m3", "n1"}));
  EXPECT_EQ(Select("state = 'METRICS_UNAVAILABLE' or state = 'early_stopped'"),
            (Names{"c2", "n1"}));
  EXPECT_EQ(Select("reason = 'Error'"), (Names{"m3"}));
  EXPECT_EQ(Select("reason = ''"), (Names{"m5", "n1", "n2"}));
  EXPECT_EQ(Select("trial = 'c2'"), (Names{"c2"}));
  EXPECT_EQ(Select("trial > 'm4'"), (Names{"m5", "n1", "n2"}));
  EXPECT_EQ(Select("study = 'nlp'"), (Names{"n1", "n2"}));
  EXPECT_EQ(Select("project = 'vision' and experiment = 'e2'"), (Names{"c1", "c2", "c3"}));
  EXPECT_EQ(Select("experiment = ''"), (Names{"n1", "n2"}));
  EXPECT_EQ(Select("attempt >= 2"), (Names{"m2", "m5"}));
  EXPECT_EQ(Select("attempt = 0"), (Names{"c3", "n2"}));
  EXPECT_EQ(Select("created >= 5000 and created < 9000"), (Names{"c1", "c2", "c3", "m5"}));
  EXPECT_EQ(Select("created >= 5e3 and created < 8999.5"), (Names{"c1", "c2", "c3", "m5"}));
  EXPECT_EQ(Select("started = 0"), (Names{"c3", "n2"}));
  EXPECT_EQ(Select("finished = 0"), (Names{"m5", "n2"}));
}

TEST_F(FilterSqlTest, SeedsCompareAsUnsigned) {
  // m4's seed is 2^63 + 1 = 9223372036854775809, m5's 2^64 - 1.
  EXPECT_EQ(Select("seed = 18446744073709551615"), (Names{"m5"}));
  EXPECT_EQ(Select("seed = 9223372036854775809"), (Names{"m4"}));
  EXPECT_EQ(Select("seed in (1, 9223372036854775809)"), (Names{"m1", "m4"}));
  EXPECT_EQ(Select("seed not in (1, 2, 3, 6, 7, 8, 9, 10, 9223372036854775809)"), (Names{"m5"}));
  EXPECT_EQ(Select("seed > 9223372036854775807"), (Names{"m4", "m5"}));
  EXPECT_EQ(Select("seed > 9223372036854775809"), (Names{"m5"}));
  EXPECT_EQ(Select("seed >= 9223372036854775809"), (Names{"m4", "m5"}));
  EXPECT_EQ(Select("seed < 9223372036854775809"),
            (Names{"c1", "c2", "c3", "m1", "m2", "m3", "n1", "n2"}));
  EXPECT_EQ(Select("seed <= 1"), (Names{"m1"}));
  EXPECT_EQ(Select("seed < 3"), (Names{"m1", "m2"}));
  EXPECT_EQ(Select("seed >= 9"), (Names{"m4", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("seed != 1"), (Names{"c1", "c2", "c3", "m2", "m3", "m4", "m5", "n1", "n2"}));
}

TEST_F(FilterSqlTest, PrecedenceAndParentheses) {
  // and binds tighter than or.
  EXPECT_EQ(Select("trial = 'm1' or trial = 'm2' and state = 'FAILED'"), (Names{"m1"}));
  EXPECT_EQ(Select("(trial = 'm1' or trial = 'm2') and state = 'FAILED'"), Names{});
  EXPECT_EQ(Select("state = 'FAILED' and trial = 'm3' or trial = 'n2'"), (Names{"m3", "n2"}));
  EXPECT_EQ(Select("state = 'FAILED' and (trial = 'm3' or trial = 'n2')"), (Names{"m3"}));
  // not binds tighter than and.
  EXPECT_EQ(Select("not trial = 'm1' and trial like 'm%'"), (Names{"m2", "m3", "m4", "m5"}));
  EXPECT_EQ(Select("not (trial = 'm1' and trial like 'm%')"),
            (Names{"c1", "c2", "c3", "m2", "m3", "m4", "m5", "n1", "n2"}));
  EXPECT_EQ(Select("not not trial = 'm1'"), (Names{"m1"}));
  EXPECT_EQ(Select("((trial = 'm1' or (trial = 'c1' and (state = 'SUCCEEDED'))) or not (not "
                   "(study = 'nlp')))"),
            (Names{"c1", "m1", "n1", "n2"}));
  EXPECT_EQ(Select("METRICS.accuracy >= 0.9 AND NOT State = 'running' Or Trial = 'n2'"),
            (Names{"m1", "m2", "m4", "n2"}));
}

// The shapes that need the most of SQLite's parser stack and expression depth, at the limits.
TEST_F(FilterSqlTest, LargestFiltersRunInSqlite) {
  const std::string kLeaf = "metrics.accuracy >= 0.9";  // the most complex SQL a condition gets
  const Names kLeafTrials = {"m1", "m2", "m4"};
  const char* kOps[] = {" or ", " and "};
  // Nested to the right: x or (x and (x or (...))).
  std::string right = kLeaf;
  for (int i = 0; i < kMaxFilterDepth; ++i) right = kLeaf + kOps[i % 2] + "(" + right + ")";
  EXPECT_EQ(Select(right), kLeafTrials);
  // Nested to the left: (((x or x) and x) or x) ...
  std::string left = kLeaf;
  for (int i = 0; i < kMaxFilterDepth; ++i) left = "(" + left + kOps[i % 2] + kLeaf + ")";
  EXPECT_EQ(Select(left), kLeafTrials);
  // With not: not (x or not (x and not (...))).
  std::string nots = kLeaf;
  for (int i = 0; i < kMaxFilterDepth / 2; ++i) {
    nots = "not (" + kLeaf + kOps[i % 2] + nots + ")";
  }
  // not (x or not x) is false, so not (x and false) is true, not (x or true) false, ...
  EXPECT_EQ(Select(nots), kAll);
  EXPECT_EQ(Select(nots + " and " + kLeaf), kLeafTrials);
  // The deepest path goes into the lighter child as often as the conditions allow: each level
  // (heavy) or (path), heavy holding one condition more than the path.
  std::string light = kLeaf;
  int conditions = 1, depth = 1;
  while (conditions * 2 + 1 <= kMaxFilterConditions - kMaxFilterDepth) {
    std::string heavy = kLeaf;
    for (int i = 0; i < conditions; ++i) heavy += kOps[depth % 2] + kLeaf;
    light = "(" + heavy + ")" + kOps[(depth + 1) % 2] + "(" + light + ")";
    conditions = conditions * 2 + 1;
    ++depth;
  }
  for (; depth < kMaxFilterDepth; ++depth) {
    light = kLeaf + kOps[depth % 2] + "(" + light + ")";
    ++conditions;
  }
  ASSERT_EQ(FirstErrorLine(light), "OK");
  EXPECT_EQ(Select(light), kLeafTrials);
  // All the conditions along one path, each level's child first among many siblings: SQLite's
  // left-deep chains put it below all of them.
  std::string wide = kLeaf;
  const int siblings = (kMaxFilterConditions - 1) / (kMaxFilterDepth - 1);
  for (int i = 0; i < kMaxFilterDepth - 1; ++i) {
    std::string level = "(" + wide + ")";
    for (int j = 0; j < siblings; ++j) level += kOps[i % 2] + kLeaf;
    wide = level;
  }
  ASSERT_EQ(FirstErrorLine(wide), "OK");
  EXPECT_EQ(Select(wide), kLeafTrials);
  // One flat run of every condition allowed.
  std::string flat = kLeaf;
  for (int i = 1; i < kMaxFilterConditions; ++i) flat += " or " + kLeaf;
  EXPECT_EQ(Select(flat), kLeafTrials);
  // Every value allowed.
  std::string list = "params.batch in (0";
  for (int i = 1; i < kMaxFilterValues - 1; ++i) list += ", 1";
  EXPECT_EQ(Select(list + ", 64)"), (Names{"c1"}));
}

TEST_F(FilterSqlTest, SubqueriesUseKeysNotScans) {
  absl::StatusOr<Filter> f = ParseFilter(
      "metrics.accuracy >= 0.9 and max(metrics.loss) < 1 and params.lr > 0.01 and "
      "annotations.team = 'ml'");
  ASSERT_TRUE(f.ok()) << f.status();
  const SqlFilter sql = f->ToSql();
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db_,
                               absl::StrCat("EXPLAIN QUERY PLAN SELECT t.name FROM trials t JOIN "
                                            "studies s ON s.id = t.study_id WHERE ",
                                            sql.where)
                                   .c_str(),
                               -1, &st, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db_);
  ASSERT_TRUE(BindSqlValues(st, 1, sql.args).ok());
  std::vector<std::string> details;
  while (sqlite3_step(st) == SQLITE_ROW) {
    details.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 3)));
  }
  sqlite3_finalize(st);
  const std::string all = absl::StrJoin(details, "\n");
  for (const std::string& d : details) {
    if (absl::StartsWith(d, "SCAN")) {
      EXPECT_TRUE(d == "SCAN t" || d == "SCAN s") << all;
    }
  }
  EXPECT_THAT(all, HasSubstr("SEARCH ms USING PRIMARY KEY (trial_id=? AND name_id=?)"));
  EXPECT_THAT(all, HasSubstr("SEARCH p USING PRIMARY KEY (trial_id=?)"));
  EXPECT_THAT(all, HasSubstr("SEARCH a USING PRIMARY KEY (study_id=? AND key=?)"));
}

TEST_F(FilterSqlTest, HptNum) {
  EXPECT_EQ(HptNum("'3'"), "integer:3");
  EXPECT_EQ(HptNum("'+4'"), "integer:4");
  EXPECT_EQ(HptNum("'-0'"), "integer:0");
  EXPECT_EQ(HptNum("'-2.5'"), "real:-2.5");
  EXPECT_EQ(HptNum("' 1e3 '"), "real:1000.0");
  EXPECT_EQ(HptNum("'.5'"), "real:0.5");
  EXPECT_EQ(HptNum("'5.'"), "real:5.0");
  EXPECT_EQ(HptNum("'1E-2'"), "real:0.01");
  EXPECT_EQ(HptNum("'99999999999999999999'"), "real:1.0e+20");
  EXPECT_EQ(HptNum("'9223372036854775807'"), "integer:9223372036854775807");
  EXPECT_EQ(HptNum("7"), "integer:7");
  EXPECT_EQ(HptNum("2.5"), "real:2.5");
  for (const char* not_a_number :
       {"'abc'", "''", "' '", "'1e'", "'1e+'", "'0x10'", "'inf'", "'nan'", "'-inf'", "'1e999'",
        "'1,5'", "'1 2'", "'--1'", "'+-1'", "'.'", "'-'", "'1.2.3'", "NULL", "X'31'"}) {
    EXPECT_EQ(HptNum(not_a_number), "null:null") << not_a_number;
  }
  // Deterministic: usable in an index expression.
  EXPECT_EQ(sqlite3_exec(db_, "CREATE INDEX params_num ON params(hpt_num(value))", nullptr, nullptr,
                         nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db_);
}

TEST(FilterApiTest, RegisterAndBindRefuseBadArguments) {
  EXPECT_EQ(RegisterFilterFunctions(nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BindSqlValues(nullptr, 1, {}).code(), absl::StatusCode::kInvalidArgument);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT ?, ?, ?", -1, &st, nullptr), SQLITE_OK);
  EXPECT_EQ(BindSqlValues(st, 0, {int64_t{1}}).code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = BindSqlValues(st, 2, {int64_t{1}, 2.5, std::string("x")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "BindSqlValues: binding 3 values from parameter 2 but the statement has 3 "
            "parameters");
  ASSERT_TRUE(BindSqlValues(st, 2, {2.5, std::string("x")}).ok());
  ASSERT_TRUE(BindSqlValues(st, 1, {int64_t{-7}}).ok());
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_type(st, 0), SQLITE_INTEGER);
  EXPECT_EQ(sqlite3_column_int64(st, 0), -7);
  EXPECT_EQ(sqlite3_column_type(st, 1), SQLITE_FLOAT);
  EXPECT_EQ(sqlite3_column_double(st, 1), 2.5);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 2))), "x");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// Conditions whose trial sets the tests above pin down, to build random filters from.
const char* const kConditions[] = {"metrics.accuracy >= 0.9",
                                   "max(metrics.accuracy) >= 0.9",
                                   "metrics.val/loss < 0.5",
                                   "count(metrics.accuracy) = 0",
                                   "metrics.loss is null",
                                   "params.optimizer = 'adam'",
                                   "params.optimizer != 'adam'",
                                   "params.lr < 0.05",
                                   "params.layers != 3",
                                   "params.batch in (64, 128)",
                                   "params.optimizer like 's%'",
                                   "params.optimizer not in ('sgd')",
                                   "annotations.priority > 9.5",
                                   "annotations.team is null",
                                   "state = 'succeeded'",
                                   "state in ('FAILED', 'KILLED')",
                                   "trial like 'c%'",
                                   "study = 'nlp'",
                                   "objective > 0.5",
                                   "objective is not null",
                                   "seed > 9223372036854775807",
                                   "attempt >= 2",
                                   "started = 0",
                                   "finished != 0"};

class RandomFilters {
 public:
  explicit RandomFilters(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // A random valid filter at most `depth` deep, and the trials it selects, computed from the
  // sets of its conditions (`leaf_rows`) with set algebra.
  std::pair<std::string, std::set<std::string>> Make(
      int depth, const std::vector<std::set<std::string>>& leaf_rows) {
    const int kind = depth == 0 ? 0 : Uniform(0, 3);
    if (kind == 0) {
      const int i = Uniform(0, static_cast<int>(std::size(kConditions)) - 1);
      return {kConditions[i], leaf_rows[i]};
    }
    if (kind == 1) {
      auto [text, rows] = Make(depth - 1, leaf_rows);
      std::set<std::string> complement;
      for (const std::string& t : kAll) {
        if (!rows.count(t)) complement.insert(t);
      }
      return {absl::StrCat(Uniform(0, 1) ? "NOT " : "not ", Wrap(text)), complement};
    }
    const bool is_and = kind == 2;
    std::string text;
    std::set<std::string> rows;
    const int n = Uniform(2, 4);
    for (int i = 0; i < n; ++i) {
      auto [child_text, child_rows] = Make(depth - 1, leaf_rows);
      if (i == 0) {
        rows = child_rows;
      } else if (is_and) {
        std::set<std::string> both;
        for (const std::string& t : rows) {
          if (child_rows.count(t)) both.insert(t);
        }
        rows = both;
      } else {
        rows.insert(child_rows.begin(), child_rows.end());
      }
      if (i > 0) text += is_and ? (Uniform(0, 1) ? " and " : " AND ") : " or ";
      text += Wrap(child_text);
    }
    return {text, rows};
  }

 private:
  // Conditions go bare or in parentheses, anything else in parentheses.
  std::string Wrap(const std::string& text) {
    const bool condition =
        std::find(std::begin(kConditions), std::end(kConditions), text) != std::end(kConditions);
    return condition && Uniform(0, 1) ? text : absl::StrCat("(", text, ")");
  }

  std::mt19937 rng_;
};

// Random filters select exactly the trials that set algebra on their conditions' trials gives:
// and = intersection, or = union, not = complement, whatever the nesting.
TEST_F(FilterSqlTest, RandomFiltersAgreeWithSetAlgebra) {
  std::vector<std::set<std::string>> leaf_rows;
  for (const char* c : kConditions) {
    const Names rows = Select(c);
    for (const std::string& r : rows) ASSERT_FALSE(absl::StartsWith(r, "<")) << c << ": " << r;
    leaf_rows.emplace_back(rows.begin(), rows.end());
  }
  RandomFilters gen(7);
  for (int i = 0; i < 1500; ++i) {
    auto [text, expected] = gen.Make(gen.Uniform(1, 5), leaf_rows);
    absl::StatusOr<Filter> f = ParseFilter(text);
    ASSERT_TRUE(f.ok()) << text << ": " << f.status();
    const Names rows = Select(text);
    ASSERT_EQ(rows, Names(expected.begin(), expected.end())) << text;
    ASSERT_EQ(Select(f->ToString()), rows) << text << " printed as " << f->ToString();
  }
}

// Random bytes, random token soup and random edits of valid filters: ParseFilter never crashes
// and fails only with InvalidArgument; whatever parses prints to text that parses to the same
// filter, and compiles to SQL that SQLite runs.
TEST_F(FilterSqlTest, RandomInputNeverBreaksAnything) {
  const std::vector<std::string> pieces = {"metrics.accuracy",
                                           "params.lr",
                                           "state",
                                           "seed",
                                           "objective",
                                           "annotations.priority",
                                           "min(metrics.loss)",
                                           "metrics.`a b`",
                                           "and",
                                           "or",
                                           "not",
                                           "(",
                                           ")",
                                           "in",
                                           "like",
                                           "is",
                                           "null",
                                           "=",
                                           "!=",
                                           "<",
                                           ">=",
                                           ",",
                                           "'adam'",
                                           "'SUCCEEDED'",
                                           "0.5",
                                           "-1",
                                           "1e3",
                                           "18446744073709551615",
                                           "`x`",
                                           "metrics.",
                                           "\"s\"",
                                           "'",
                                           "`",
                                           "!"};
  const std::string edits = "()'\"`,.=<>!-+ 0123456789eaorntl%_\\\n\t\x01\xc3\xa9";
  std::vector<std::set<std::string>> leaf_rows(std::size(kConditions));
  RandomFilters gen(11);
  int parsed = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string text;
    switch (i % 3) {
      case 0:
        for (int j = gen.Uniform(0, 30); j > 0; --j) text += static_cast<char>(gen.Uniform(0, 255));
        break;
      case 1:
        for (int j = gen.Uniform(1, 12); j > 0; --j) {
          text += pieces[gen.Uniform(0, static_cast<int>(pieces.size()) - 1)];
          if (gen.Uniform(0, 3) != 0) text += ' ';
        }
        break;
      case 2:
        text = gen.Make(gen.Uniform(1, 4), leaf_rows).first;
        for (int j = gen.Uniform(1, 3); j > 0; --j) {
          const size_t at = gen.Uniform(0, static_cast<int>(text.size()) - 1);
          if (gen.Uniform(0, 1)) {
            text.erase(at, 1);
          } else {
            text.insert(at, 1, edits[gen.Uniform(0, static_cast<int>(edits.size()) - 1)]);
          }
        }
        break;
    }
    absl::StatusOr<Filter> f = ParseFilter(text);
    if (!f.ok()) {
      ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << text;
      ASSERT_TRUE(absl::StartsWith(f.status().message(), "filter ")) << f.status();
      continue;
    }
    ++parsed;
    absl::StatusOr<Filter> again = ParseFilter(f->ToString());
    ASSERT_TRUE(again.ok()) << text << " -> " << f->ToString() << ": " << again.status();
    ASSERT_EQ(again->ToString(), f->ToString()) << text;
    const Names rows = Select(text);
    for (const std::string& r : rows) ASSERT_FALSE(absl::StartsWith(r, "<")) << text << ": " << r;
    ASSERT_EQ(Select(f->ToString()), rows) << text;
  }
  EXPECT_GT(parsed, 200);  // some random edits leave a valid filter
}

}  // namespace
}  // namespace hpt::tracker
