// Trial filters: a small boolean language over a trial's metrics, parameters and attributes, parsed
// once and compiled to a SQL WHERE fragment, so that a filtered leaderboard is answered by SQLite
// (never by evaluating rows in C++). Unlike MLflow's search syntax it has `or`, `not` and
// parentheses, and its parse errors point at the column.
//
//   absl::StatusOr<Filter> f = ParseFilter(
//       "metrics.accuracy >= 0.9 and (params.optimizer = 'adam' or "
//       "params.optimizer in ('sgd', 'ftrl')) and state = 'SUCCEEDED'");
//   if (!f.ok()) return f.status();  // InvalidArgument, with the column and a caret
//   SqlFilter where = f->ToSql();
//   // "SELECT t.name FROM trials t JOIN studies s ON s.id = t.study_id WHERE " + where.where,
//   // then BindSqlValues(stmt, 1, where.args). The connection needs RegisterFilterFunctions.
//
// Grammar (keywords, function names, field prefixes and attribute names are case-insensitive;
// metric, parameter and annotation names are not):
//
//   filter     := [or_expr]                          -- empty: every trial
//   or_expr    := and_expr ('or' and_expr)*
//   and_expr   := not_expr ('and' not_expr)*
//   not_expr   := 'not' not_expr | '(' or_expr ')' | condition
//   condition  := field ('=' | '==' | '!=' | '<>' | '<' | '<=' | '>' | '>=') value
//               | field ['not'] 'in' '(' value (',' value)* ')'
//               | field ['not'] 'like' string        -- SQL LIKE: % any run, _ any one char
//               | field 'is' ['not'] 'null'
//   field      := 'metrics.' NAME                    -- see "metrics" below
//               | ('min' | 'max' | 'last' | 'count') '(' 'metrics.' NAME ')'
//               | 'params.' NAME | 'annotations.' NAME
//               | 'state' | 'reason' | 'trial' | 'study' | 'project' | 'experiment'
//               | 'objective' | 'attempt' | 'seed' | 'created' | 'started' | 'finished'
//   NAME       := [A-Za-z_][A-Za-z0-9_./:-]*  |  '`' any text, '``' for a backquote '`'
//   value      := number | string
//   number     := ['+' | '-'] (digits ['.' [digits]] | '.' digits) [('e' | 'E') ['+' | '-'] digits]
//   string     := '...' | "..."                      -- the quote doubled inside: 'it''s'
//
// Precedence: comparisons, then `not`, then `and`, then `or`. Names may hold '.', '/', ':' and
// '-' (metrics.val/loss, metrics.train.loss, annotations.`ai.bloomberg.com/project`).
//
// Fields and their values:
//   metrics.NAME       the trial's value of a metric: for the study's objective metric its best
//                      (min when the study minimizes, max when it maximizes), for any other
//                      metric its last reported value. min/max/last(metrics.NAME): that summary;
//                      count(metrics.NAME): how many points (0 for a metric never reported).
//   params.NAME        the parameter's text. Compared with a string: text comparison
//                      (case-sensitive). Compared with a number: numeric when the text is a
//                      number ("0.01", "1e-3", " 64 ": the number grammar above, surrounding
//                      spaces allowed), false otherwise. annotations.KEY (a study annotation)
//                      behaves the same way.
//   state              one of the trial states of trial_store.h (checked when parsing,
//                      case-insensitively); reason, trial (its name), study, project,
//                      experiment: text.
//   objective          the trial's stored objective; attempt; seed (an unsigned 64-bit integer,
//                      compared exactly); created, started, finished: unix milliseconds (0 = not
//                      yet).
// Numbers compare only with numeric fields and strings only with text fields, parameters and
// annotations (anything else is a parse error); `like` takes a string pattern and applies to text
// fields, parameters and annotations. It is SQLite's LIKE: case-insensitive for ASCII letters,
// with no escape character. An `in` list holds only numbers or only strings. `is [not] null`
// applies to metrics (count excepted), parameters, annotations and objective; the other fields are
// never null.
//
// Missing values: a condition on a metric, parameter or annotation the trial does not have, or on
// a null objective, is false, whatever the operator (`!=`, `not in` and `not like` included);
// `is null` / `is not null` test presence. `not` is the plain complement of what it negates, so
// `not metrics.loss > 1` holds for a trial without a loss, while `metrics.loss <= 1` does not.
// Every condition is thus true or false, never SQL NULL, and `x or not x` holds for every trial.
//
// Limits (each a parse error): parentheses and `not` nest at most kMaxFilterDepth deep; at most
// kMaxFilterConditions conditions and kMaxFilterValues values in all. They keep every filter that
// parses within what SQLite 3.40 can prepare (its parser stack holds 100 entries and its
// expression trees are at most 1000 deep), with room for the query around it.
//
// Thread-safety: ParseFilter and RegisterFilterFunctions may be called from any thread. A Filter
// is immutable: its const methods may be called concurrently, and copies share their tree.
#ifndef HPT_TRACKER_FILTER_H_
#define HPT_TRACKER_FILTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hpt::tracker {

inline constexpr int kMaxFilterDepth = 40;
inline constexpr int kMaxFilterConditions = 500;
inline constexpr int kMaxFilterValues = 10000;

// A value bound to one `?` of a SqlFilter: integers with sqlite3_bind_int64, doubles with
// sqlite3_bind_double, strings with sqlite3_bind_text.
using SqlValue = std::variant<int64_t, double, std::string>;

// A compiled filter: a boolean SQL expression (never NULL) and the values of its `?` placeholders,
// in order. The expression refers to the current trial as `t` (table trials) and its study as `s`
// (table studies), so it fits
//   SELECT ... FROM trials t JOIN studies s ON s.id = t.study_id WHERE <where>
// and reads metric_summaries, metric_names, params and study_annotations through correlated
// subqueries whose own aliases are ms, mn, p and a. It calls the SQL function hpt_num
// (RegisterFilterFunctions). No text of the filter is ever part of `where`: every name and value
// is a bound parameter, so `where` depends only on the filter's shape.
struct SqlFilter {
  std::string where;
  std::vector<SqlValue> args;
};

namespace filter_internal {
struct Node;
}  // namespace filter_internal

class Filter {
 public:
  // The empty filter: matches every trial (ToSql() is "1" with no args).
  Filter();

  // Whether this is the empty filter.
  bool empty() const { return root_ == nullptr; }

  // The filter in canonical form: lower-case keywords, single-quoted strings, `=` and `!=` for
  // their synonyms, states in upper case, the fewest parentheses that keep its meaning, names in
  // backquotes only when they need them. ParseFilter(ToString()) gives the same filter. "" for the
  // empty filter.
  std::string ToString() const;

  // The filter compiled to SQL (see SqlFilter). Deterministic: the same filter always gives the
  // same text, so a prepared-statement cache can key on it.
  SqlFilter ToSql() const;

 private:
  friend absl::StatusOr<Filter> ParseFilter(std::string_view text);
  explicit Filter(std::shared_ptr<const filter_internal::Node> root);

  std::shared_ptr<const filter_internal::Node> root_;  // null: the empty filter
};

// Parses `text` (grammar above). Whitespace-only text gives the empty filter. InvalidArgument for
// anything else that is not a valid filter, with a message of the form
//   filter column 20: expected a value after '>=', got the end of the filter
//     metrics.accuracy >=
//                        ^
// naming the 1-based column (counted in characters; "line L, column C" when the text has several
// lines), what was expected and what was found.
absl::StatusOr<Filter> ParseFilter(std::string_view text);

// Registers the SQL functions that SqlFilter::where calls on connection `db`; call it once per
// connection before preparing a filtered query:
//   hpt_num(x): x as a number when it is one (an INTEGER or REAL value, or text that is a decimal
//   number in the grammar above, surrounding ASCII whitespace allowed), else NULL. Deterministic
//   and innocuous (usable in indexes, views and triggers).
// InvalidArgument for a null `db`; otherwise the code of SQLite's error (e.g. Unavailable while
// statements using the function are running). Thread-safety: as any use of `db`.
absl::Status RegisterFilterFunctions(sqlite3* db);

// Binds `values` to the parameters first_index, first_index + 1, ... of `stmt` (1-based, as in
// SQLite). InvalidArgument for a null `stmt`, first_index < 1, or more values than the statement
// has parameters; ResourceExhausted when SQLite is out of memory or a string is too large.
absl::Status BindSqlValues(sqlite3_stmt* stmt, int first_index,
                           const std::vector<SqlValue>& values);

}  // namespace hpt::tracker

#endif  // HPT_TRACKER_FILTER_H_
