#include "tracker/filter.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "tracker/sqlite_util.h"
#include "tracker/trial_store.h"

namespace hpt::tracker {

namespace filter_internal {

enum class Source { kMetric, kParam, kAnnotation, kAttribute };
enum class Agg { kDefault, kMin, kMax, kLast, kCount };
// What a field compares with: numbers, strings, or either (parameters and annotations are text
// that may hold a number); kSeed: unsigned 64-bit integers.
enum class Kind { kNumber, kText, kEither, kSeed };

struct Attribute {
  const char* name;
  const char* column;
  Kind kind;
  bool nullable;
};

constexpr Attribute kAttributes[] = {
    {"state", "t.state", Kind::kText, false},
    {"reason", "t.reason", Kind::kText, false},
    {"trial", "t.name", Kind::kText, false},
    {"study", "s.name", Kind::kText, false},
    {"project", "s.project", Kind::kText, false},
    {"experiment", "s.experiment", Kind::kText, false},
    {"objective", "t.objective", Kind::kNumber, true},
    {"attempt", "t.attempt", Kind::kNumber, false},
    {"seed", "t.seed", Kind::kSeed, false},
    {"created", "t.created_ms", Kind::kNumber, false},
    {"started", "t.started_ms", Kind::kNumber, false},
    {"finished", "t.finished_ms", Kind::kNumber, false},
};

struct Field {
  Source source = Source::kAttribute;
  Agg agg = Agg::kDefault;          // metrics only
  const Attribute* attr = nullptr;  // attributes only
  std::string name;                 // metric, parameter or annotation name
};

struct Literal {
  // int64_t or double for numbers (a seed's is its uint64 bit pattern), std::string for strings.
  SqlValue value;
  std::string spelling;  // numbers: as written
};

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn, kLike, kNotLike, kIsNull, kIsNotNull };

struct Node {
  enum class Type { kOr, kAnd, kNot, kCondition };
  Type type = Type::kCondition;
  std::vector<std::unique_ptr<Node>> children;  // kOr/kAnd: two or more; kNot: one
  int conditions = 1;                           // conditions in this subtree
  // kCondition:
  Field field;
  Op op = Op::kEq;
  std::vector<Literal> values;  // comparisons and like: one; in: one or more; is null: none
};

}  // namespace filter_internal

namespace {

using filter_internal::Agg;
using filter_internal::Attribute;
using filter_internal::Field;
using filter_internal::kAttributes;
using filter_internal::Kind;
using filter_internal::Literal;
using filter_internal::Node;
using filter_internal::Op;
using filter_internal::Source;

// ---- numbers ----

using Number = std::variant<int64_t, double>;

// Length of the longest prefix of `s` that is a number of the grammar, or 0 when none is. Sets
// `integral` when that number has no fraction and no exponent.
size_t NumberPrefix(absl::string_view s, bool* integral) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++digits;
  *integral = true;
  if (i < s.size() && s[i] == '.') {
    *integral = false;
    ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    size_t exp_digits = 0;
    while (j < s.size() && absl::ascii_isdigit(s[j])) ++j, ++exp_digits;
    if (exp_digits == 0) return 0;  // "1e", "1e+": not a number
    *integral = false;
    i = j;
  }
  return i;
}

// The value of `s`, which must be exactly a number of the grammar (no whitespace). An integer
// that fits int64_t is an int64_t, any other number a double; nullopt when `s` is not a number or
// is beyond the range of double. `big` (when not null) receives an integer above INT64_MAX that
// fits uint64_t.
std::optional<Number> ParseNumber(absl::string_view s, std::optional<uint64_t>* big = nullptr) {
  bool integral = false;
  if (s.empty() || NumberPrefix(s, &integral) != s.size()) return std::nullopt;
  absl::string_view digits = s;  // from_chars takes no leading +
  if (s[0] == '+') digits.remove_prefix(1);
  const char* first = digits.data();
  const char* last = first + digits.size();
  if (integral) {
    int64_t i = 0;
    std::from_chars_result r = std::from_chars(first, last, i);
    if (r.ec == std::errc() && r.ptr == last) return i;
    if (big != nullptr && digits[0] != '-') {
      uint64_t u = 0;
      r = std::from_chars(first, last, u);
      if (r.ec == std::errc() && r.ptr == last) *big = u;
    }
  }
  double d = 0;
  std::from_chars_result r = std::from_chars(first, last, d);
  if (r.ec != std::errc() || r.ptr != last || !std::isfinite(d)) return std::nullopt;
  return d;
}

void HptNum(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  sqlite3_value* v = argv[0];
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
      sqlite3_result_int64(ctx, sqlite3_value_int64(v));
      return;
    case SQLITE_FLOAT:
      sqlite3_result_double(ctx, sqlite3_value_double(v));
      return;
    case SQLITE_TEXT: {
      const unsigned char* text = sqlite3_value_text(v);
      if (text == nullptr) {
        sqlite3_result_error_nomem(ctx);
        return;
      }
      absl::string_view s(reinterpret_cast<const char*>(text),
                          static_cast<size_t>(sqlite3_value_bytes(v)));
      std::optional<Number> n = ParseNumber(absl::StripAsciiWhitespace(s));
      if (!n.has_value()) {
        sqlite3_result_null(ctx);
      } else if (const int64_t* i = std::get_if<int64_t>(&*n)) {
        sqlite3_result_int64(ctx, *i);
      } else {
        sqlite3_result_double(ctx, std::get<double>(*n));
      }
      return;
    }
    default:
      sqlite3_result_null(ctx);
  }
}

// ---- trial states ----

// The names of trial_store.h's states. TrialStateName answers "UNKNOWN" past the last one, so a
// state added there is accepted here without a change.
const std::vector<std::string>& TrialStateNames() {
  static const std::vector<std::string>* names = [] {
    auto* v = new std::vector<std::string>;
    for (int i = 0; i < 64; ++i) {
      std::string name = TrialStateName(static_cast<TrialState>(i));
      if (name == "UNKNOWN") break;
      v->push_back(std::move(name));
    }
    return v;
  }();
  return *names;
}

// ---- printing ----

bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsNameChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '/' || c == ':' || c == '-';
}

std::string QuoteName(absl::string_view name) {
  bool bare = !name.empty() && IsNameStart(name[0]);
  for (char c : name) bare = bare && IsNameChar(c);
  if (bare) return std::string(name);
  std::string out = "`";
  for (char c : name) {
    out += c;
    if (c == '`') out += '`';
  }
  return out + "`";
}

std::string QuoteString(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

const char* AggName(Agg agg) {
  switch (agg) {
    case Agg::kMin:
      return "min";
    case Agg::kMax:
      return "max";
    case Agg::kLast:
      return "last";
    case Agg::kCount:
      return "count";
    case Agg::kDefault:
      break;
  }
  return "";
}

std::string FieldText(const Field& f) {
  switch (f.source) {
    case Source::kMetric:
      if (f.agg == Agg::kDefault) return "metrics." + QuoteName(f.name);
      return absl::StrCat(AggName(f.agg), "(metrics.", QuoteName(f.name), ")");
    case Source::kParam:
      return "params." + QuoteName(f.name);
    case Source::kAnnotation:
      return "annotations." + QuoteName(f.name);
    case Source::kAttribute:
      break;
  }
  return f.attr->name;
}

std::string LiteralText(const Literal& l) {
  if (const std::string* s = std::get_if<std::string>(&l.value)) return QuoteString(*s);
  return l.spelling;
}

const char* OpText(Op op) {
  switch (op) {
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kNotIn:
      return "not in";
    case Op::kLike:
      return "like";
    case Op::kNotLike:
      return "not like";
    case Op::kIsNull:
      return "is null";
    case Op::kIsNotNull:
      return "is not null";
  }
  return "";
}

// Binding strength: a child binding less tightly than its parent needs parentheses.
int Strength(Node::Type type) {
  switch (type) {
    case Node::Type::kOr:
      return 1;
    case Node::Type::kAnd:
      return 2;
    case Node::Type::kNot:
      return 3;
    case Node::Type::kCondition:
      break;
  }
  return 4;
}

void Print(const Node& n, int parent_strength, std::string& out) {
  const int strength = Strength(n.type);
  const bool parens = strength < parent_strength;
  if (parens) out += '(';
  switch (n.type) {
    case Node::Type::kOr:
    case Node::Type::kAnd:
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (i > 0) out += n.type == Node::Type::kOr ? " or " : " and ";
        Print(*n.children[i], strength, out);
      }
      break;
    case Node::Type::kNot:
      out += "not ";
      Print(*n.children[0], strength, out);
      break;
    case Node::Type::kCondition:
      absl::StrAppend(&out, FieldText(n.field), " ", OpText(n.op));
      if (n.op == Op::kIn || n.op == Op::kNotIn) {
        out += " (";
        for (size_t i = 0; i < n.values.size(); ++i) {
          if (i > 0) out += ", ";
          out += LiteralText(n.values[i]);
        }
        out += ')';
      } else if (!n.values.empty()) {
        absl::StrAppend(&out, " ", LiteralText(n.values[0]));
      }
      break;
  }
  if (parens) out += ')';
}

// ---- SQL ----

Kind FieldKind(const Field& f) {
  switch (f.source) {
    case Source::kMetric:
      return Kind::kNumber;
    case Source::kParam:
    case Source::kAnnotation:
      return Kind::kEither;
    case Source::kAttribute:
      break;
  }
  return f.attr->kind;
}

// Whether the field is SQL NULL for some trials.
bool FieldNullable(const Field& f) {
  switch (f.source) {
    case Source::kMetric:
      return f.agg != Agg::kCount;
    case Source::kParam:
    case Source::kAnnotation:
      return true;
    case Source::kAttribute:
      break;
  }
  return f.attr->nullable;
}

void EmitField(const Field& f, SqlFilter& out) {
  switch (f.source) {
    case Source::kMetric: {
      switch (f.agg) {
        case Agg::kDefault:
          out.where +=
              "(SELECT CASE WHEN s.objective_metric = ? THEN CASE WHEN s.maximize <> 0 THEN "
              "ms.max_value ELSE ms.min_value END ELSE ms.last_value END";
          out.args.emplace_back(f.name);
          break;
        case Agg::kMin:
          out.where += "(SELECT ms.min_value";
          break;
        case Agg::kMax:
          out.where += "(SELECT ms.max_value";
          break;
        case Agg::kLast:
          out.where += "(SELECT ms.last_value";
          break;
        case Agg::kCount:
          out.where += "IFNULL((SELECT ms.count";
          break;
      }
      out.where +=
          " FROM metric_summaries ms JOIN metric_names mn ON mn.id = ms.name_id"
          " WHERE ms.trial_id = t.id AND mn.name = ?)";
      if (f.agg == Agg::kCount) out.where += ", 0)";
      out.args.emplace_back(f.name);
      return;
    }
    case Source::kParam:
      out.where += "(SELECT p.value FROM params p WHERE p.trial_id = t.id AND p.name = ?)";
      out.args.emplace_back(f.name);
      return;
    case Source::kAnnotation:
      out.where +=
          "(SELECT a.value FROM study_annotations a WHERE a.study_id = s.id AND a.key = ?)";
      out.args.emplace_back(f.name);
      return;
    case Source::kAttribute:
      out.where += f.attr->column;
      return;
  }
}

const char* SqlOp(Op op) {
  switch (op) {
    case Op::kEq:
      return " = ";
    case Op::kNe:
      return " <> ";
    case Op::kLt:
      return " < ";
    case Op::kLe:
      return " <= ";
    case Op::kGt:
      return " > ";
    case Op::kGe:
      return " >= ";
    case Op::kIn:
      return " IN ";
    case Op::kNotIn:
      return " NOT IN ";
    case Op::kLike:
      return " LIKE ";
    case Op::kNotLike:
      return " NOT LIKE ";
    case Op::kIsNull:
      return " IS NULL";
    case Op::kIsNotNull:
      return " IS NOT NULL";
  }
  return "";
}

void EmitCondition(const Node& n, SqlFilter& out) {
  const Field& f = n.field;
  if (n.op == Op::kIsNull || n.op == Op::kIsNotNull) {
    EmitField(f, out);
    out.where += SqlOp(n.op);
    return;
  }
  const bool numeric = !std::holds_alternative<std::string>(n.values[0].value);
  // Seeds are stored as the int64 with the same bits as the uint64: their unsigned order is that
  // of (top bit set, int64 value).
  if (FieldKind(f) == Kind::kSeed && n.op != Op::kEq && n.op != Op::kNe && n.op != Op::kIn &&
      n.op != Op::kNotIn) {
    const int64_t v = std::get<int64_t>(n.values[0].value);
    absl::StrAppend(&out.where, "(t.seed < 0, t.seed)", SqlOp(n.op), "(?, ?)");
    out.args.emplace_back(int64_t{v < 0 ? 1 : 0});
    out.args.emplace_back(v);
    return;
  }
  const bool nullable = FieldNullable(f);
  if (nullable) out.where += "IFNULL(";
  const bool to_number = numeric && FieldKind(f) == Kind::kEither;
  if (to_number) out.where += "hpt_num(";
  EmitField(f, out);
  if (to_number) out.where += ")";
  out.where += SqlOp(n.op);
  if (n.op == Op::kIn || n.op == Op::kNotIn) {
    out.where += '(';
    for (size_t i = 0; i < n.values.size(); ++i) {
      out.where += i == 0 ? "?" : ", ?";
      out.args.push_back(n.values[i].value);
    }
    out.where += ')';
  } else {
    out.where += '?';
    out.args.push_back(n.values[0].value);
  }
  if (nullable) out.where += ", 0)";
}

// SQLite 3.40's parser stack holds 100 entries (YYSTACKDEPTH) and its expression trees at most
// 1000 levels (SQLITE_MAX_EXPR_DEPTH), so the SQL is shaped to stay shallow:
// - `not` is pushed down to the conditions (De Morgan; exact, as every condition is 0 or 1), so
//   it never nests;
// - an and/or writes its heaviest child (most conditions) first: a child written after
//   "x AND " keeps those two entries on the parser stack while it is parsed, the first child
//   costs nothing but its parenthesis. Any path from the root goes into a lighter child at most
//   log2(kMaxFilterConditions) times, so the stack needs about the nesting depth plus 2 * 9;
// - and/or runs are flat left-deep chains, whose height is the number of siblings before a child:
//   at most kMaxFilterConditions - 1 along any path.
void Emit(const Node& n, bool negate, SqlFilter& out) {
  switch (n.type) {
    case Node::Type::kOr:
    case Node::Type::kAnd: {
      const bool is_and = (n.type == Node::Type::kAnd) != negate;
      size_t heaviest = 0;
      for (size_t i = 1; i < n.children.size(); ++i) {
        if (n.children[i]->conditions > n.children[heaviest]->conditions) heaviest = i;
      }
      out.where += '(';
      Emit(*n.children[heaviest], negate, out);
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (i == heaviest) continue;
        out.where += is_and ? " AND " : " OR ";
        Emit(*n.children[i], negate, out);
      }
      out.where += ')';
      return;
    }
    case Node::Type::kNot:
      Emit(*n.children[0], !negate, out);
      return;
    case Node::Type::kCondition:
      out.where += negate ? "(NOT (" : "(";
      EmitCondition(n, out);
      out.where += negate ? "))" : ")";
      return;
  }
}

// ---- lexing ----

struct Token {
  enum class Type { kEnd, kError, kWord, kName, kNumber, kString, kLParen, kRParen, kComma, kOp };
  Type type = Type::kEnd;
  size_t pos = 0;    // byte offset of its first character
  size_t end = 0;    // byte offset just past it
  std::string text;  // kWord: as written; kName, kString: unescaped; kNumber, kOp: as written
  Number number;     // kNumber
  std::optional<uint64_t> big;  // kNumber: an integer above INT64_MAX that fits uint64_t
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// "filter column 12: <message>", the line of `text` holding `pos`, and a caret under it.
std::string FormatError(absl::string_view text, size_t pos, absl::string_view message) {
  pos = std::min(pos, text.size());
  size_t line_start = 0;
  int line = 1;
  for (size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  size_t line_end = text.find('\n', line_start);
  if (line_end == absl::string_view::npos) line_end = text.size();
  std::string echo;
  std::string pad;
  int column = 1;
  for (size_t i = line_start; i < line_end; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    echo += (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : static_cast<char>(c);
    if (i < pos && (c & 0xC0) != 0x80) {  // one column per character, not per UTF-8 byte
      ++column;
      pad += c == '\t' ? '\t' : ' ';
    }
  }
  const std::string where = text.find('\n') == absl::string_view::npos
                                ? absl::StrCat("filter column ", column)
                                : absl::StrCat("filter line ", line, ", column ", column);
  return absl::StrCat(where, ": ", message, "\n  ", echo, "\n  ", pad, "^");
}

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}

  // Every token of the text, ending with kEnd, or with kError (and error()) at the first
  // character that starts no token.
  std::vector<Token> Tokens() {
    std::vector<Token> out;
    while (true) {
      while (i_ < text_.size() && IsSpace(text_[i_])) ++i_;
      Token t = Next();
      const bool last = t.type == Token::Type::kEnd || t.type == Token::Type::kError;
      out.push_back(std::move(t));
      if (last) return out;
    }
  }

  const absl::Status& error() const { return error_; }

 private:
  Token Make(Token::Type type, size_t pos, size_t end, std::string text) {
    Token t;
    t.type = type;
    t.pos = pos;
    t.end = end;
    t.text = std::move(text);
    return t;
  }

  Token Fail(size_t pos, absl::string_view message) {
    error_ = absl::InvalidArgumentError(FormatError(text_, pos, message));
    return Make(Token::Type::kError, pos, pos, "");
  }

  bool At(size_t i, char c) const { return i < text_.size() && text_[i] == c; }

  Token Next() {
    const size_t pos = i_;
    if (pos == text_.size()) return Make(Token::Type::kEnd, pos, pos, "");
    const char c = text_[pos];
    switch (c) {
      case '(':
        return Make(Token::Type::kLParen, pos, ++i_, "(");
      case ')':
        return Make(Token::Type::kRParen, pos, ++i_, ")");
      case ',':
        return Make(Token::Type::kComma, pos, ++i_, ",");
      case '=':
      case '<':
      case '>':
      case '!': {
        size_t len = 1;
        const char n = pos + 1 < text_.size() ? text_[pos + 1] : '\0';
        if (n == '=' || (c == '<' && n == '>')) len = 2;
        if (c == '!' && len == 1) return Fail(pos, "unexpected '!'; use '!=' or 'not'");
        i_ += len;
        return Make(Token::Type::kOp, pos, i_, std::string(text_.substr(pos, len)));
      }
      case '&':
        return Fail(pos, At(pos + 1, '&') ? "unexpected '&&'; use 'and'" : "unexpected '&'");
      case '|':
        return Fail(pos, At(pos + 1, '|') ? "unexpected '||'; use 'or'" : "unexpected '|'");
      case '\'':
      case '"':
        return Quoted(c, Token::Type::kString);
      case '`':
        return Quoted(c, Token::Type::kName);
      default:
        break;
    }
    const size_t digits_at = (c == '+' || c == '-') ? pos + 1 : pos;
    const bool starts_number =
        digits_at < text_.size() && (absl::ascii_isdigit(text_[digits_at]) ||
                                     (text_[digits_at] == '.' && digits_at + 1 < text_.size() &&
                                      absl::ascii_isdigit(text_[digits_at + 1])));
    if (starts_number) {
      bool integral = false;
      const size_t len = NumberPrefix(text_.substr(pos), &integral);
      const size_t end = pos + len;
      if (len == 0 || (end < text_.size() && IsNameChar(text_[end]))) {
        // Show the whole run of characters that could belong to it.
        size_t run_end = digits_at;
        while (run_end < text_.size() && (IsNameChar(text_[run_end]) || text_[run_end] == '+')) {
          ++run_end;
        }
        return Fail(pos, absl::StrCat("malformed number '", text_.substr(pos, run_end - pos),
                                      "'; numbers look like 3, -0.5, 1e-3"));
      }
      Token t = Make(Token::Type::kNumber, pos, end, std::string(text_.substr(pos, len)));
      std::optional<Number> n = ParseNumber(t.text, &t.big);
      if (!n.has_value()) {
        return Fail(pos, absl::StrCat("number ", t.text, " is out of range"));
      }
      t.number = *n;
      i_ = end;
      return t;
    }
    if (IsNameStart(c)) {
      size_t end = pos + 1;
      while (end < text_.size() && IsNameChar(text_[end])) ++end;
      i_ = end;
      return Make(Token::Type::kWord, pos, end, std::string(text_.substr(pos, end - pos)));
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f) {
      return Fail(pos, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
    return Fail(pos, absl::StrCat("unexpected character (byte 0x", absl::Hex(u, absl::kZeroPad2),
                                  "); names other than [A-Za-z0-9_./:-] go in backquotes"));
  }

  // A string ('...' or "...") or a backquoted name, with its quote doubled inside.
  Token Quoted(char quote, Token::Type type) {
    const size_t pos = i_;
    std::string value;
    size_t i = pos + 1;
    while (true) {
      if (i >= text_.size()) {
        return Fail(pos,
                    type == Token::Type::kString
                        ? absl::StrCat("unterminated string: no closing ", std::string(1, quote))
                        : std::string("unterminated name: no closing `"));
      }
      if (text_[i] == quote) {
        if (At(i + 1, quote)) {
          value += quote;
          i += 2;
          continue;
        }
        break;
      }
      value += text_[i++];
    }
    i_ = i + 1;
    if (type == Token::Type::kName && value.empty()) return Fail(pos, "empty name ``");
    return Make(type, pos, i_, std::move(value));
  }

  absl::string_view text_;
  size_t i_ = 0;
  absl::Status error_;
};

// ---- parsing ----

bool IsKeyword(const Token& t, absl::string_view keyword) {
  return t.type == Token::Type::kWord && absl::EqualsIgnoreCase(t.text, keyword);
}

bool IsAnyKeyword(const Token& t) {
  for (absl::string_view k : {"and", "or", "not", "in", "like", "is", "null"}) {
    if (IsKeyword(t, k)) return true;
  }
  return false;
}

std::string Shorten(absl::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  size_t cut = kMax - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(s.substr(0, cut), "...");
}

std::string Describe(const Token& t) {
  switch (t.type) {
    case Token::Type::kEnd:
      return "the end of the filter";
    case Token::Type::kError:
      return "an error";
    case Token::Type::kWord:
      return absl::StrCat(IsAnyKeyword(t) ? "the keyword '" : "the name '", Shorten(t.text), "'");
    case Token::Type::kName:
      return absl::StrCat("the name `", Shorten(absl::StrReplaceAll(t.text, {{"`", "``"}})), "`");
    case Token::Type::kNumber:
      return absl::StrCat("the number ", Shorten(t.text));
    case Token::Type::kString:
      return absl::StrCat("the string ", Shorten(QuoteString(t.text)));
    case Token::Type::kLParen:
    case Token::Type::kRParen:
    case Token::Type::kComma:
    case Token::Type::kOp:
      return absl::StrCat("'", t.text, "'");
  }
  return "?";
}

constexpr char kFieldList[] =
    "fields are metrics.NAME, min|max|last|count(metrics.NAME), params.NAME, annotations.KEY, "
    "state, reason, trial, study, project, experiment, objective, attempt, seed, created, "
    "started, finished";

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {
    Lexer lexer(text);
    tokens_ = lexer.Tokens();
    lex_error_ = lexer.error();
  }

  absl::StatusOr<std::unique_ptr<Node>> Parse() {
    if (Peek().type == Token::Type::kEnd) return nullptr;
    absl::StatusOr<std::unique_ptr<Node>> root = ParseOr(0);
    if (!root.ok()) return root.status();
    if (Peek().type != Token::Type::kEnd) {
      if (Peek().type == Token::Type::kRParen) {
        return Error(Peek().pos, "unmatched ')': no '(' before it to close");
      }
      return Unexpected(Peek(), "'and', 'or' or the end of the filter");
    }
    return root;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(next_ + ahead, tokens_.size() - 1)];
  }
  const Token& Take() {
    const Token& t = Peek();
    if (next_ < tokens_.size() - 1) ++next_;
    return t;
  }

  absl::Status Error(size_t pos, absl::string_view message) const {
    return absl::InvalidArgumentError(FormatError(text_, pos, message));
  }
  // "expected <what>, got <t>", or the lexer's error when `t` is where lexing stopped.
  absl::Status Unexpected(const Token& t, absl::string_view what) const {
    if (t.type == Token::Type::kError) return lex_error_;
    return Error(t.pos, absl::StrCat("expected ", what, ", got ", Describe(t)));
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseJoined(Node::Type type, int depth) {
    const char* keyword = type == Node::Type::kOr ? "or" : "and";
    absl::StatusOr<std::unique_ptr<Node>> first =
        type == Node::Type::kOr ? ParseJoined(Node::Type::kAnd, depth) : ParseNot(depth);
    if (!first.ok() || !IsKeyword(Peek(), keyword)) return first;
    auto node = std::make_unique<Node>();
    node->type = type;
    node->conditions = 0;
    std::unique_ptr<Node> child = *std::move(first);
    while (true) {
      // (a or b) or c is a or b or c.
      node->conditions += child->conditions;
      if (child->type == type) {
        for (std::unique_ptr<Node>& c : child->children) node->children.push_back(std::move(c));
      } else {
        node->children.push_back(std::move(child));
      }
      if (!IsKeyword(Peek(), keyword)) break;
      Take();
      absl::StatusOr<std::unique_ptr<Node>> next =
          type == Node::Type::kOr ? ParseJoined(Node::Type::kAnd, depth) : ParseNot(depth);
      if (!next.ok()) return next.status();
      child = *std::move(next);
    }
    return node;
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseOr(int depth) {
    return ParseJoined(Node::Type::kOr, depth);
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseNot(int depth) {
    const Token& t = Peek();
    if (IsKeyword(t, "not") || t.type == Token::Type::kLParen) {
      if (depth >= kMaxFilterDepth) {
        return Error(t.pos, absl::StrCat("the filter nests parentheses and 'not' more than ",
                                         kMaxFilterDepth, " deep"));
      }
      Take();
      if (t.type == Token::Type::kLParen) {
        if (Peek().type == Token::Type::kRParen) {
          return Unexpected(Peek(), "a condition after '('");
        }
        absl::StatusOr<std::unique_ptr<Node>> inner = ParseOr(depth + 1);
        if (!inner.ok()) return inner.status();
        if (Peek().type == Token::Type::kEnd) {
          return Unexpected(Peek(),
                            absl::StrCat("')' to close the '(' at column ", ColumnOf(t.pos)));
        }
        if (Peek().type != Token::Type::kRParen) return Unexpected(Peek(), "'and', 'or' or ')'");
        Take();
        return inner;
      }
      absl::StatusOr<std::unique_ptr<Node>> inner = ParseNot(depth + 1);
      if (!inner.ok()) return inner.status();
      auto node = std::make_unique<Node>();
      node->type = Node::Type::kNot;
      node->conditions = (*inner)->conditions;
      node->children.push_back(*std::move(inner));
      return node;
    }
    return ParseCondition();
  }

  int ColumnOf(size_t pos) const {
    const size_t newline = text_.substr(0, pos).rfind('\n');
    int column = 1;
    for (size_t i = newline == absl::string_view::npos ? 0 : newline + 1; i < pos; ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    return column;
  }

  // metrics.NAME (`word` is the token "metrics..." just taken), for a field or a function's
  // argument. `prefix_len`: length of "metrics." as written.
  absl::StatusOr<std::string> ParseName(const Token& word, size_t prefix_len,
                                        absl::string_view what) {
    if (word.text.size() > prefix_len) return word.text.substr(prefix_len);
    const Token& next = Peek();
    if (next.type == Token::Type::kName && next.pos == word.end) {
      Take();
      return next.text;
    }
    if (next.type == Token::Type::kError && next.pos == word.end) return lex_error_;
    return Error(word.end, absl::StrCat("expected ", what, " name right after '", word.text,
                                        "' (letters, digits, _ . / : -, or any text in "
                                        "backquotes: ",
                                        word.text, "`my name`)"));
  }

  absl::StatusOr<Field> ParseField() {
    const Token& word = Peek();
    if (word.type != Token::Type::kWord || IsAnyKeyword(word)) {
      return Unexpected(word, "a condition such as metrics.accuracy >= 0.9");
    }
    Take();
    Field f;
    if (Peek().type == Token::Type::kLParen) {  // a function
      static constexpr std::pair<const char*, Agg> kFunctions[] = {
          {"min", Agg::kMin}, {"max", Agg::kMax}, {"last", Agg::kLast}, {"count", Agg::kCount}};
      const std::pair<const char*, Agg>* fn = nullptr;
      for (const auto& candidate : kFunctions) {
        if (absl::EqualsIgnoreCase(word.text, candidate.first)) fn = &candidate;
      }
      if (fn == nullptr) {
        return Error(word.pos, absl::StrCat("unknown function '", Shorten(word.text),
                                            "'; functions are min, max, last and count, of a "
                                            "metric: max(metrics.accuracy)"));
      }
      Take();  // (
      const Token& arg = Peek();
      if (arg.type != Token::Type::kWord || !absl::StartsWithIgnoreCase(arg.text, "metrics.")) {
        return Unexpected(
            arg, absl::StrCat("a metric in ", fn->first, "(), e.g. ", fn->first, "(metrics.loss)"));
      }
      Take();
      absl::StatusOr<std::string> name = ParseName(arg, 8, "a metric");
      if (!name.ok()) return name.status();
      if (Peek().type != Token::Type::kRParen) {
        return Unexpected(Peek(), absl::StrCat("')' to close ", fn->first, "("));
      }
      Take();
      f.source = Source::kMetric;
      f.agg = fn->second;
      f.name = *std::move(name);
      return f;
    }
    static constexpr std::pair<const char*, Source> kPrefixes[] = {
        {"metrics.", Source::kMetric},
        {"params.", Source::kParam},
        {"annotations.", Source::kAnnotation}};
    for (const auto& [prefix, source] : kPrefixes) {
      const absl::string_view p = prefix;
      if (absl::StartsWithIgnoreCase(word.text, p)) {
        absl::StatusOr<std::string> name = ParseName(word, p.size(),
                                                     source == Source::kMetric  ? "a metric"
                                                     : source == Source::kParam ? "a parameter"
                                                                                : "an annotation");
        if (!name.ok()) return name.status();
        f.source = source;
        f.name = *std::move(name);
        return f;
      }
    }
    for (const Attribute& a : kAttributes) {
      if (absl::EqualsIgnoreCase(word.text, a.name)) {
        f.source = Source::kAttribute;
        f.attr = &a;
        return f;
      }
    }
    return Error(word.pos, absl::StrCat("unknown field '", Shorten(word.text), "'; ", kFieldList));
  }

  // A number or a string after `after` (an operator, "(" or ",").
  absl::StatusOr<Literal> ParseValue(absl::string_view after) {
    const Token& t = Peek();
    if (t.type == Token::Type::kNumber || t.type == Token::Type::kString) {
      Take();
      Literal l;
      l.spelling = t.text;
      if (t.type == Token::Type::kString) {
        l.value = t.text;
      } else if (const int64_t* i = std::get_if<int64_t>(&t.number)) {
        l.value = *i;
      } else {
        l.value = std::get<double>(t.number);
      }
      return l;
    }
    if (t.type == Token::Type::kWord && !IsAnyKeyword(t)) {
      return Error(t.pos, absl::StrCat("expected a value (a number or a quoted string) after '",
                                       after, "', got ", Describe(t),
                                       "; fields compare only with values; quote text: ",
                                       QuoteString(Shorten(t.text))));
    }
    return Unexpected(t, absl::StrCat("a value after '", after, "'"));
  }

  // Checks that `value` (at `pos`) suits field `f` and normalizes it (states in upper case, seeds
  // as int64 bit patterns).
  absl::Status CheckValue(const Field& f, Op op, const Token& token, Literal& value) {
    const bool is_string = std::holds_alternative<std::string>(value.value);
    const std::string field = FieldText(f);
    switch (FieldKind(f)) {
      case Kind::kNumber:
        if (is_string) {
          return Error(token.pos, absl::StrCat(field,
                                               " is a number; compare it with a number, "
                                               "got ",
                                               Describe(token)));
        }
        return absl::OkStatus();
      case Kind::kSeed: {
        if (is_string || token.text[0] == '-' ||
            (!std::holds_alternative<int64_t>(value.value) && !token.big.has_value())) {
          return Error(token.pos,
                       absl::StrCat("seed is an integer from 0 to 2^64-1; got ", Describe(token)));
        }
        if (token.big.has_value()) value.value = static_cast<int64_t>(*token.big);
        return absl::OkStatus();
      }
      case Kind::kText:
        if (!is_string) {
          return Error(token.pos, absl::StrCat(field,
                                               " is text; compare it with a quoted "
                                               "string, got ",
                                               Describe(token)));
        }
        break;
      case Kind::kEither:
        return absl::OkStatus();
    }
    if (f.source == Source::kAttribute && absl::string_view(f.attr->name) == "state" &&
        op != Op::kLike && op != Op::kNotLike) {
      std::string& s = std::get<std::string>(value.value);
      const std::string upper = absl::AsciiStrToUpper(s);
      const std::vector<std::string>& states = TrialStateNames();
      for (const std::string& name : states) {
        if (upper == name) {
          s = upper;
          return absl::OkStatus();
        }
      }
      return Error(token.pos, absl::StrCat("unknown trial state ", QuoteString(Shorten(s)),
                                           "; states are ", absl::StrJoin(states, ", ")));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseCondition() {
    const size_t start = Peek().pos;
    if (++conditions_ > kMaxFilterConditions) {
      return Error(start,
                   absl::StrCat("the filter has more than ", kMaxFilterConditions, " conditions"));
    }
    absl::StatusOr<Field> field = ParseField();
    if (!field.ok()) return field.status();
    auto node = std::make_unique<Node>();
    node->field = *std::move(field);
    const std::string field_text = FieldText(node->field);
    const Token& op = Peek();
    if (op.type == Token::Type::kOp) {
      Take();
      static constexpr std::pair<const char*, Op> kOps[] = {
          {"=", Op::kEq}, {"==", Op::kEq}, {"!=", Op::kNe}, {"<>", Op::kNe},
          {"<", Op::kLt}, {"<=", Op::kLe}, {">", Op::kGt},  {">=", Op::kGe}};
      for (const auto& [text, value] : kOps) {
        if (op.text == text) node->op = value;
      }
      return WithValues(std::move(node), op.text);
    }
    bool negated = false;
    const Token* keyword = &op;
    if (IsKeyword(op, "not")) {
      Take();
      negated = true;
      keyword = &Peek();
      if (!IsKeyword(*keyword, "in") && !IsKeyword(*keyword, "like")) {
        return Unexpected(*keyword, "'in' or 'like' after 'not'");
      }
    }
    if (IsKeyword(*keyword, "in")) {
      Take();
      node->op = negated ? Op::kNotIn : Op::kIn;
      return WithValues(std::move(node), "in");
    }
    if (IsKeyword(*keyword, "like")) {
      if (FieldKind(node->field) != Kind::kText && FieldKind(node->field) != Kind::kEither) {
        return Error(keyword->pos,
                     absl::StrCat("'like' applies to text (params, annotations, state, reason, "
                                  "trial, study, project, experiment), not to the number ",
                                  field_text));
      }
      Take();
      node->op = negated ? Op::kNotLike : Op::kLike;
      const Token& pattern = Peek();
      if (pattern.type == Token::Type::kNumber) {
        return Error(pattern.pos, absl::StrCat("'like' takes a quoted pattern such as 'adam%', "
                                               "got ",
                                               Describe(pattern)));
      }
      return WithValues(std::move(node), "like");
    }
    if (IsKeyword(op, "is")) {
      if (!FieldNullable(node->field)) {
        return Error(op.pos, node->field.source == Source::kMetric
                                 ? absl::StrCat(field_text,
                                                " is 0, never null, for a trial without "
                                                "the metric; compare it with 0")
                                 : absl::StrCat(field_text,
                                                " is never null; 'is null' applies to "
                                                "metrics, params, annotations and objective"));
      }
      Take();
      node->op = Op::kIsNull;
      if (IsKeyword(Peek(), "not")) {
        Take();
        node->op = Op::kIsNotNull;
      }
      if (!IsKeyword(Peek(), "null")) {
        return Unexpected(Peek(), node->op == Op::kIsNull ? "'null' or 'not null' after 'is'"
                                                          : "'null' after 'is not'");
      }
      Take();
      return node;
    }
    return Unexpected(op, absl::StrCat("a comparison after ", field_text,
                                       " (=, !=, <, <=, >, >=, in, not in, like, not like, "
                                       "is null, is not null)"));
  }

  // The value of a comparison or like, or the list of an in, for `node`'s field and operator.
  absl::StatusOr<std::unique_ptr<Node>> WithValues(std::unique_ptr<Node> node,
                                                   absl::string_view after) {
    const bool list = node->op == Op::kIn || node->op == Op::kNotIn;
    if (list) {
      if (Peek().type != Token::Type::kLParen) {
        return Unexpected(Peek(), "'(' after 'in'");
      }
      Take();
      if (Peek().type == Token::Type::kRParen) {
        return Error(Peek().pos, "an 'in' list needs at least one value: in ('a', 'b')");
      }
      after = "(";
    }
    while (true) {
      const Token& token = Peek();
      if (++values_ > kMaxFilterValues) {
        return Error(token.pos,
                     absl::StrCat("the filter has more than ", kMaxFilterValues, " values"));
      }
      absl::StatusOr<Literal> value = ParseValue(after);
      if (!value.ok()) return value.status();
      if (absl::Status s = CheckValue(node->field, node->op, token, *value); !s.ok()) return s;
      if (!node->values.empty() && std::holds_alternative<std::string>(value->value) !=
                                       std::holds_alternative<std::string>(node->values[0].value)) {
        return Error(token.pos,
                     "an 'in' list holds only numbers or only strings; this one "
                     "mixes them");
      }
      node->values.push_back(*std::move(value));
      if (!list) return node;
      if (Peek().type == Token::Type::kRParen) {
        Take();
        return node;
      }
      if (Peek().type != Token::Type::kComma) {
        return Unexpected(Peek(), "',' or ')' in the 'in' list");
      }
      Take();
      after = ",";
    }
  }

  absl::string_view text_;
  std::vector<Token> tokens_;
  absl::Status lex_error_;
  size_t next_ = 0;
  int conditions_ = 0;
  int values_ = 0;
};

}  // namespace

Filter::Filter() = default;

Filter::Filter(std::shared_ptr<const filter_internal::Node> root) : root_(std::move(root)) {}

std::string Filter::ToString() const {
  std::string out;
  if (root_ != nullptr) Print(*root_, 0, out);
  return out;
}

SqlFilter Filter::ToSql() const {
  SqlFilter out;
  if (root_ == nullptr) {
    out.where = "1";
  } else {
    Emit(*root_, /*negate=*/false, out);
  }
  return out;
}

absl::StatusOr<Filter> ParseFilter(std::string_view text) {
  Parser parser(absl::string_view(text.data(), text.size()));
  absl::StatusOr<std::unique_ptr<Node>> root = parser.Parse();
  if (!root.ok()) return root.status();
  return Filter(std::shared_ptr<const Node>(*std::move(root)));
}

absl::Status RegisterFilterFunctions(sqlite3* db) {
  if (db == nullptr) return absl::InvalidArgumentError("RegisterFilterFunctions: db is null");
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
#ifdef SQLITE_INNOCUOUS
  flags |= SQLITE_INNOCUOUS;
#endif
  const int rc = sqlite3_create_function_v2(db, "hpt_num", 1, flags, nullptr, &HptNum, nullptr,
                                            nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return absl::Status(sqlite::SqliteStatusCode(rc),
                        absl::StrCat("registering the SQL function hpt_num: ", sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

absl::Status BindSqlValues(sqlite3_stmt* stmt, int first_index,
                           const std::vector<SqlValue>& values) {
  if (stmt == nullptr) return absl::InvalidArgumentError("BindSqlValues: stmt is null");
  if (first_index < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("BindSqlValues: first_index is ", first_index, "; parameters start at 1"));
  }
  const int count = sqlite3_bind_parameter_count(stmt);
  if (values.size() > static_cast<size_t>(count) ||
      first_index - 1 > count - static_cast<int>(values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("BindSqlValues: binding ", values.size(), " values from parameter ",
                     first_index, " but the statement has ", count, " parameters"));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const int index = first_index + static_cast<int>(i);
    int rc = SQLITE_OK;
    if (const int64_t* v = std::get_if<int64_t>(&values[i])) {
      rc = sqlite3_bind_int64(stmt, index, *v);
    } else if (const double* d = std::get_if<double>(&values[i])) {
      rc = sqlite3_bind_double(stmt, index, *d);
    } else {
      const std::string& s = std::get<std::string>(values[i]);
      rc = sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK) {
      return absl::Status(rc == SQLITE_NOMEM || rc == SQLITE_TOOBIG
                              ? absl::StatusCode::kResourceExhausted
                              : sqlite::SqliteStatusCode(rc),
                          absl::StrCat("binding filter value ", i + 1, " to parameter ", index,
                                       ": ", sqlite3_errstr(rc)));
    }
  }
  return absl::OkStatus();
}

}  // namespace hpt::tracker
