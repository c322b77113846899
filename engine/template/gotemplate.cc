#include "engine/template/gotemplate.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hpt::engine::gotemplate {

// The static type of dot (and of every field) in the worker data model.
enum class Type { kData, kParamList, kParam, kString };

struct Template::Node {
  enum class Kind { kText, kPrint, kWith, kRange };
  Kind kind = Kind::kText;
  std::string text;                 // kText
  std::vector<std::string> fields;  // kPrint/kWith/kRange: the field chain; empty means "."
  std::vector<Node> body;           // kWith/kRange
  std::vector<Node> else_body;      // kWith/kRange
};

namespace {

using Node = Template::Node;

constexpr char kSupported[] =
    "supported: {{.StudyID}}, {{.TrialID}}, {{.WorkerID}}, {{.NameSpace}}, "
    "{{with .HyperParameters}}, {{range .}} with {{.Name}}, {{.Value}}, {{.ParameterType}}, "
    "{{else}}, {{end}}, {{/* comments */}} and the trim markers \"{{- \" and \" -}}\"";

// ----------------------------------------------------------------------------------------------
// Lexer: splits the text into text, comment and action tokens, the way Go's text/template lexer
// does (trim markers are applied here, to the neighbouring text).

enum class Tok {
  kText,
  kComment,
  kLeftDelim,
  kRightDelim,
  kSpace,
  kField,       // .Name
  kDot,         // .
  kIdentifier,  // with, range, end, else, if, printf, true, nil, ...
  kVariable,    // $x, $
  kPipe,
  kLeftParen,
  kRightParen,
  kComma,
  kDeclare,  // :=
  kAssign,   // =
  kString,
  kRawString,
  kChar,
  kNumber,
  kEOF,
};

struct Token {
  Tok kind;
  std::string text;
  size_t offset;  // of the token's first byte in the template
};

struct LexError {
  std::string message;
  size_t offset = 0;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  bool Run(std::vector<Token>* out, LexError* err) {
    out_ = out;
    err_ = err;
    size_t pos = 0;
    bool trim_next_text = false;  // the previous action ended with " -}}"
    while (true) {
      const size_t delim = in_.find("{{", pos);
      const size_t text_end = delim == std::string_view::npos ? in_.size() : delim;
      size_t text_begin = pos;
      if (trim_next_text) {
        while (text_begin < text_end && IsSpace(in_[text_begin])) ++text_begin;
      }
      const bool trim_left = delim != std::string_view::npos && delim + 3 < in_.size() &&
                             in_[delim + 2] == '-' && IsSpace(in_[delim + 3]);
      size_t trimmed_end = text_end;
      if (trim_left) {
        while (trimmed_end > text_begin && IsSpace(in_[trimmed_end - 1])) --trimmed_end;
      }
      if (trimmed_end > text_begin) {
        Emit(Tok::kText, text_begin, trimmed_end - text_begin);
      }
      if (delim == std::string_view::npos) break;

      const size_t after = delim + 2 + (trim_left ? 2 : 0);
      if (in_.substr(after, 2) == "/*") {
        if (!LexComment(delim, after, &pos, &trim_next_text)) return false;
        continue;
      }
      Emit(Tok::kLeftDelim, delim, after - delim);
      if (!LexInsideAction(delim, after, &pos, &trim_next_text)) return false;
    }
    Emit(Tok::kEOF, in_.size(), 0);
    return true;
  }

 private:
  void Emit(Tok kind, size_t offset, size_t len) {
    out_->push_back(Token{kind, std::string(in_.substr(offset, len)), offset});
  }
  bool Fail(size_t offset, std::string message) {
    err_->offset = offset;
    err_->message = std::move(message);
    return false;
  }
  // " -}}" at p.
  bool AtRightTrimDelim(size_t p) const {
    return p + 3 < in_.size() && IsSpace(in_[p]) && in_[p + 1] == '-' &&
           in_.substr(p + 2, 2) == "}}";
  }

  // A comment must follow "{{" or "{{- " directly and end with "*/}}" or "*/ -}}", as in Go.
  bool LexComment(size_t delim, size_t after, size_t* pos, bool* trim_next_text) {
    const size_t end = in_.find("*/", after + 2);
    if (end == std::string_view::npos) return Fail(delim, "unclosed comment");
    const size_t p = end + 2;
    if (AtRightTrimDelim(p)) {
      *pos = p + 4;
      *trim_next_text = true;
    } else if (in_.substr(p, 2) == "}}") {
      *pos = p + 2;
      *trim_next_text = false;
    } else {
      return Fail(p, "comment ends before closing delimiter: write \"*/}}\" or \"*/ -}}\"");
    }
    Emit(Tok::kComment, delim, *pos - delim);
    return true;
  }

  bool LexInsideAction(size_t delim, size_t p, size_t* pos, bool* trim_next_text) {
    while (true) {
      if (AtRightTrimDelim(p)) {
        Emit(Tok::kRightDelim, p, 4);
        *pos = p + 4;
        *trim_next_text = true;
        return true;
      }
      if (in_.substr(p, 2) == "}}") {
        Emit(Tok::kRightDelim, p, 2);
        *pos = p + 2;
        *trim_next_text = false;
        return true;
      }
      if (p >= in_.size()) return Fail(delim, "unclosed action: \"{{\" has no matching \"}}\"");
      const char c = in_[p];
      if (IsSpace(c)) {
        size_t q = p;
        while (q < in_.size() && IsSpace(in_[q])) ++q;
        if (in_.substr(q, 3) == "-}}") --q;  // the last space belongs to the " -}}" marker
        if (q > p) Emit(Tok::kSpace, p, q - p);
        p = q;
        continue;
      }
      if (c == '.') {
        if (p + 1 < in_.size() && IsIdentChar(in_[p + 1]) && !IsDigit(in_[p + 1])) {
          size_t q = p + 1;
          while (q < in_.size() && IsIdentChar(in_[q])) ++q;
          Emit(Tok::kField, p, q - p);
          p = q;
        } else if (p + 1 < in_.size() && IsDigit(in_[p + 1])) {
          p = LexNumber(p);
        } else {
          Emit(Tok::kDot, p, 1);
          ++p;
        }
        continue;
      }
      const auto digit_at = [&](size_t i) { return i < in_.size() && IsDigit(in_[i]); };
      if (IsDigit(c) || ((c == '-' || c == '+') &&
                         (digit_at(p + 1) || (in_.substr(p + 1, 1) == "." && digit_at(p + 2))))) {
        p = LexNumber(p);
        continue;
      }
      if (c == '-' || c == '+') {
        return Fail(p, absl::StrCat("unexpected \"", std::string(1, c),
                                    "\" in action; a trim marker needs a space: \"{{- \" and "
                                    "\" -}}\""));
      }
      if (c == '"' || c == '\'') {
        size_t q = p + 1;
        while (q < in_.size() && in_[q] != c && in_[q] != '\n') q += in_[q] == '\\' ? 2 : 1;
        if (q >= in_.size() || in_[q] != c) {
          return Fail(p,
                      c == '"' ? "unterminated quoted string" : "unterminated character constant");
        }
        Emit(c == '"' ? Tok::kString : Tok::kChar, p, q + 1 - p);
        p = q + 1;
        continue;
      }
      if (c == '`') {
        const size_t q = in_.find('`', p + 1);
        if (q == std::string_view::npos) return Fail(p, "unterminated raw quoted string");
        Emit(Tok::kRawString, p, q + 1 - p);
        p = q + 1;
        continue;
      }
      if (c == '$') {
        size_t q = p + 1;
        while (q < in_.size() && IsIdentChar(in_[q])) ++q;
        Emit(Tok::kVariable, p, q - p);
        p = q;
        continue;
      }
      if (IsIdentChar(c)) {
        size_t q = p;
        while (q < in_.size() && IsIdentChar(in_[q])) ++q;
        Emit(Tok::kIdentifier, p, q - p);
        p = q;
        continue;
      }
      switch (c) {
        case '|':
          Emit(Tok::kPipe, p++, 1);
          continue;
        case '(':
          Emit(Tok::kLeftParen, p++, 1);
          continue;
        case ')':
          Emit(Tok::kRightParen, p++, 1);
          continue;
        case ',':
          Emit(Tok::kComma, p++, 1);
          continue;
        case '=':
          Emit(Tok::kAssign, p++, 1);
          continue;
        case ':':
          if (in_.substr(p, 2) == ":=") {
            Emit(Tok::kDeclare, p, 2);
            p += 2;
            continue;
          }
          return Fail(p, "unexpected \":\" in action (expected \":=\")");
        case '}':
          return Fail(p, "unexpected \"}\" in action (an action ends with \"}}\")");
        case '/':
          if (in_.substr(p, 2) == "/*") {
            return Fail(p,
                        "a comment must start right after \"{{\" or \"{{- \" and end right "
                        "before \"}}\" or \" -}}\"");
          }
          break;
        default:
          break;
      }
      return Fail(p, absl::StrCat("unrecognized character in action: '", std::string(1, c), "'"));
    }
  }

  // Go accepts 0x1F, 1e9, 1_000, .5, -3, ...: take the longest run of number characters.
  size_t LexNumber(size_t p) {
    size_t q = p + 1;
    while (q < in_.size()) {
      const char c = in_[q];
      const char prev = in_[q - 1];
      if (IsIdentChar(c) || c == '.' ||
          ((c == '+' || c == '-') && (prev == 'e' || prev == 'E' || prev == 'p' || prev == 'P'))) {
        ++q;
      } else {
        break;
      }
    }
    Emit(Tok::kNumber, p, q - p);
    return q;
  }

  std::string_view in_;
  std::vector<Token>* out_ = nullptr;
  LexError* err_ = nullptr;
};

// ----------------------------------------------------------------------------------------------
// Parser and type checker.

const char* Describe(Type t) {
  switch (t) {
    case Type::kData:
      return "the template data {StudyID, TrialID, WorkerID, NameSpace, HyperParameters}";
    case Type::kParamList:
      return "the .HyperParameters list";
    case Type::kParam:
      return "a HyperParameter {Name, Value, ParameterType}";
    case Type::kString:
      return "a string";
  }
  return "";
}

// The type of field `name` of a value of type `t`, or false when there is none.
bool FieldType(Type t, const std::string& name, Type* out) {
  if (t == Type::kData) {
    if (name == "StudyID" || name == "TrialID" || name == "WorkerID" || name == "NameSpace") {
      *out = Type::kString;
      return true;
    }
    if (name == "HyperParameters") {
      *out = Type::kParamList;
      return true;
    }
  } else if (t == Type::kParam) {
    if (name == "Name" || name == "Value" || name == "ParameterType") {
      *out = Type::kString;
      return true;
    }
  }
  return false;
}

const char* FieldsOf(Type t) {
  switch (t) {
    case Type::kData:
      return "it has .StudyID, .TrialID, .WorkerID, .NameSpace and .HyperParameters";
    case Type::kParam:
      return "it has .Name, .Value and .ParameterType";
    case Type::kParamList:
      return "a list has no fields; visit its elements with {{range .}}";
    case Type::kString:
      return "a string has no fields";
  }
  return "";
}

std::string Spell(const std::vector<std::string>& fields) {
  if (fields.empty()) return ".";
  return "." + absl::StrJoin(fields, ".");
}

class Parser {
 public:
  Parser(std::string_view text, const std::vector<Token>& tokens, const WhereFn& where,
         Position* error_pos)
      : tokens_(tokens), where_(where), error_pos_(error_pos) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::Status Parse(std::vector<Node>* out) {
    Stop stop;
    const Token* stop_token = nullptr;
    absl::Status s = ParseList(Type::kData, out, &stop, &stop_token);
    if (!s.ok()) return s;
    if (stop == Stop::kEnd) {
      return Error(stop_token->offset, "unexpected {{end}}: no {{with}} or {{range}} is open");
    }
    if (stop == Stop::kElse) {
      return Error(stop_token->offset, "unexpected {{else}}: no {{with}} or {{range}} is open");
    }
    return absl::OkStatus();
  }

  Position PositionOf(size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());  // 1-based
    return Position{static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  absl::Status Error(size_t offset, const std::string& message) {
    const Position pos = PositionOf(offset);
    if (error_pos_ != nullptr) *error_pos_ = pos;
    const std::string where =
        where_ ? where_(pos) : absl::StrCat("template line ", pos.line, ", column ", pos.column);
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
  }

 private:
  enum class Stop { kEnd, kElse, kEOF };

  absl::Status Unsupported(size_t offset, const std::string& what) {
    return Error(offset,
                 absl::StrCat("unsupported template construct ", what, " (", kSupported, ")"));
  }

  const Token& Peek() const { return tokens_[i_]; }
  const Token& Next() { return tokens_[i_++]; }
  void SkipSpace() {
    while (Peek().kind == Tok::kSpace) ++i_;
  }

  // Parses nodes until {{end}}, {{else}} or the end of the text; `dot` is the type of dot.
  absl::Status ParseList(Type dot, std::vector<Node>* out, Stop* stop, const Token** stop_token) {
    while (true) {
      const Token& t = Next();
      switch (t.kind) {
        case Tok::kEOF:
          *stop = Stop::kEOF;
          *stop_token = &t;
          return absl::OkStatus();
        case Tok::kText:
          out->push_back(Node{.kind = Node::Kind::kText, .text = t.text});
          break;
        case Tok::kComment:
          break;
        case Tok::kLeftDelim: {
          std::optional<Stop> action_stop;
          absl::Status s = ParseAction(t, dot, out, &action_stop, stop_token);
          if (!s.ok()) return s;
          if (action_stop.has_value()) {
            *stop = *action_stop;
            return absl::OkStatus();
          }
          break;
        }
        default:  // the lexer only yields the kinds above outside actions
          return Error(t.offset, "internal error: unexpected token outside an action");
      }
    }
  }

  // Parses one {{...}} whose left delimiter was `open`. Sets `stop` for {{end}} and {{else}}.
  absl::Status ParseAction(const Token& open, Type dot, std::vector<Node>* out,
                           std::optional<Stop>* stop, const Token** stop_token) {
    SkipSpace();
    const Token& t = Next();
    switch (t.kind) {
      case Tok::kRightDelim:
        return Error(open.offset, "empty action {{}}: " + std::string(kSupported));
      case Tok::kDot:
      case Tok::kField: {
        --i_;
        Node n{.kind = Node::Kind::kPrint};
        Type type;
        absl::Status s = ParseOperand(dot, &n.fields, &type);
        if (s.ok()) s = ExpectClose(Spell(n.fields));
        if (!s.ok()) return s;
        if (type != Type::kString) {
          const std::string hint =
              type == Type::kParamList
                  ? "visit its elements with {{range .}}"
                  : (type == Type::kParam ? "print {{.Name}}, {{.Value}} or {{.ParameterType}}"
                                          : "print one of its fields, e.g. {{.WorkerID}}");
          return Error(t.offset, absl::StrCat("{{", Spell(n.fields), "}} is ", Describe(type),
                                              ", not a string: ", hint));
        }
        out->push_back(std::move(n));
        return absl::OkStatus();
      }
      case Tok::kIdentifier:
        if (t.text == "with" || t.text == "range") {
          return ParseBlock(t, dot, out);
        }
        if (t.text == "end") {
          absl::Status s = ExpectClose("end");
          if (!s.ok()) return s;
          *stop = Stop::kEnd;
          *stop_token = &t;
          return absl::OkStatus();
        }
        if (t.text == "else") {
          SkipSpace();
          if (Peek().kind == Tok::kIdentifier) {
            return Unsupported(Peek().offset, "{{else " + Peek().text + "}}");
          }
          absl::Status s = ExpectClose("else");
          if (!s.ok()) return s;
          *stop = Stop::kElse;
          *stop_token = &t;
          return absl::OkStatus();
        }
        if (t.text == "if" || t.text == "template" || t.text == "define" || t.text == "block" ||
            t.text == "break" || t.text == "continue") {
          return Unsupported(t.offset, "{{" + t.text + "}}");
        }
        if (t.text == "true" || t.text == "false" || t.text == "nil") {
          return Unsupported(t.offset, "literal " + t.text);
        }
        return Unsupported(t.offset, "function call \"" + t.text + "\"");
      default:
        return UnsupportedToken(t);
    }
  }

  absl::Status UnsupportedToken(const Token& t) {
    switch (t.kind) {
      case Tok::kVariable:
        return Unsupported(t.offset, "variable " + t.text);
      case Tok::kDeclare:
      case Tok::kAssign:
        return Unsupported(t.offset, "variable assignment \"" + t.text + "\"");
      case Tok::kPipe:
        return Unsupported(t.offset, "pipeline \"|\"");
      case Tok::kLeftParen:
      case Tok::kRightParen:
        return Unsupported(t.offset, "parenthesized expression");
      case Tok::kString:
      case Tok::kRawString:
      case Tok::kChar:
      case Tok::kNumber:
        return Unsupported(t.offset, "literal " + t.text);
      case Tok::kIdentifier:
        return Unsupported(t.offset, "argument \"" + t.text + "\"");
      case Tok::kField:
      case Tok::kDot:
        return Unsupported(t.offset, "argument " + t.text);
      default:
        return Error(t.offset, "unexpected \"" + t.text + "\" in action");
    }
  }

  // After the last operand of an action: optional spaces, then "}}" or " -}}".
  absl::Status ExpectClose(const std::string& what) {
    SkipSpace();
    const Token& t = Next();
    if (t.kind == Tok::kRightDelim) return absl::OkStatus();
    if (t.kind == Tok::kPipe) return UnsupportedToken(t);
    if (t.kind == Tok::kField || t.kind == Tok::kDot || t.kind == Tok::kIdentifier ||
        t.kind == Tok::kString || t.kind == Tok::kRawString || t.kind == Tok::kChar ||
        t.kind == Tok::kNumber || t.kind == Tok::kVariable) {
      return Unsupported(t.offset, absl::StrCat("argument ", t.text, " after {{", what,
                                                "}} (arguments and method calls)"));
    }
    return UnsupportedToken(t);
  }

  // "." or a field chain ".A.B", type-checked against `dot`.
  absl::Status ParseOperand(Type dot, std::vector<std::string>* fields, Type* type) {
    const Token& t = Next();
    *type = dot;
    if (t.kind == Tok::kDot) return absl::OkStatus();
    if (t.kind != Tok::kField) return UnsupportedToken(t);
    const Token* f = &t;
    while (true) {
      const std::string name = f->text.substr(1);
      Type next;
      if (!FieldType(*type, name, &next)) {
        const std::string on = fields->empty() ? "dot, which is " : Spell(*fields) + ", which is ";
        return Error(f->offset, absl::StrCat("unknown field .", name, " on ", on, Describe(*type),
                                             "; ", FieldsOf(*type)));
      }
      fields->push_back(name);
      *type = next;
      if (Peek().kind != Tok::kField) return absl::OkStatus();
      f = &Next();
    }
  }

  // {{with X}} / {{range X}} ... [{{else}} ...] {{end}}; `keyword` is the with/range token.
  absl::Status ParseBlock(const Token& keyword, Type dot, std::vector<Node>* out) {
    // Parsing and execution recurse per block: bound the depth so no input exhausts the stack.
    constexpr int kMaxNesting = 100;
    if (nesting_ >= kMaxNesting) {
      return Error(keyword.offset, absl::StrCat("{{with}}/{{range}} blocks nested deeper than ",
                                                kMaxNesting, " levels"));
    }
    ++nesting_;
    absl::Status s = ParseBlockBody(keyword, dot, out);
    --nesting_;
    return s;
  }

  absl::Status ParseBlockBody(const Token& keyword, Type dot, std::vector<Node>* out) {
    const bool is_range = keyword.text == "range";
    Node n{.kind = is_range ? Node::Kind::kRange : Node::Kind::kWith};
    SkipSpace();
    if (Peek().kind == Tok::kRightDelim) {
      return Error(keyword.offset, "missing value for {{" + keyword.text + "}}");
    }
    Type type;
    absl::Status s = ParseOperand(dot, &n.fields, &type);
    if (s.ok()) s = ExpectClose(keyword.text + " " + Spell(n.fields));
    if (!s.ok()) return s;
    if (is_range && type != Type::kParamList) {
      return Error(keyword.offset,
                   absl::StrCat("{{range ", Spell(n.fields), "}}: cannot range over ",
                                Describe(type), "; only .HyperParameters is a list"));
    }
    const Type body_dot = is_range ? Type::kParam : type;
    Stop stop;
    const Token* stop_token = nullptr;
    s = ParseList(body_dot, &n.body, &stop, &stop_token);
    if (!s.ok()) return s;
    if (stop == Stop::kElse) {
      s = ParseList(dot, &n.else_body, &stop, &stop_token);
      if (!s.ok()) return s;
      if (stop == Stop::kElse) {
        return Error(stop_token->offset, "{{" + keyword.text + "}} has more than one {{else}}");
      }
    }
    if (stop == Stop::kEOF) {
      const Position p = PositionOf(keyword.offset);
      return Error(stop_token->offset,
                   absl::StrCat("unexpected end of template: {{", keyword.text, "}} at line ",
                                p.line, ", column ", p.column, " has no matching {{end}}"));
    }
    out->push_back(std::move(n));
    return absl::OkStatus();
  }

  const std::vector<Token>& tokens_;
  size_t i_ = 0;
  const WhereFn& where_;
  Position* error_pos_;
  std::vector<size_t> line_starts_;
  int nesting_ = 0;
};

// ----------------------------------------------------------------------------------------------
// Evaluator.

struct Dot {
  Type type = Type::kData;
  const WorkerData* data = nullptr;
  const HyperParameter* param = nullptr;
  const std::string* str = nullptr;
};

Dot Field(const Dot& d, const std::string& name) {
  Dot r;
  if (d.type == Type::kData) {
    if (name == "HyperParameters") {
      r.type = Type::kParamList;
      r.data = d.data;
      return r;
    }
    r.type = Type::kString;
    if (name == "StudyID") r.str = &d.data->study_id;
    if (name == "TrialID") r.str = &d.data->trial_id;
    if (name == "WorkerID") r.str = &d.data->worker_id;
    if (name == "NameSpace") r.str = &d.data->name_space;
    return r;
  }
  // Type::kParam (Parse admits no other field access).
  r.type = Type::kString;
  if (name == "Name") r.str = &d.param->name;
  if (name == "Value") r.str = &d.param->value;
  if (name == "ParameterType") r.str = &d.param->parameter_type;
  return r;
}

Dot Eval(Dot d, const std::vector<std::string>& fields) {
  for (const std::string& f : fields) d = Field(d, f);
  return d;
}

// Go's truth: a struct or non-nil pointer is true; a list or string is true when non-empty.
bool Truth(const Dot& d) {
  switch (d.type) {
    case Type::kParamList:
      return !d.data->hyper_parameters.empty();
    case Type::kString:
      return !d.str->empty();
    default:
      return true;
  }
}

// Appends the output of `nodes` to `out`; false as soon as `out` is longer than `max_bytes`.
bool Exec(const std::vector<Node>& nodes, const Dot& dot, size_t max_bytes, std::string* out) {
  for (const Node& n : nodes) {
    switch (n.kind) {
      case Node::Kind::kText:
        out->append(n.text);
        break;
      case Node::Kind::kPrint:
        out->append(*Eval(dot, n.fields).str);
        break;
      case Node::Kind::kWith: {
        const Dot v = Eval(dot, n.fields);
        const bool truth = Truth(v);
        if (!Exec(truth ? n.body : n.else_body, truth ? v : dot, max_bytes, out)) return false;
        break;
      }
      case Node::Kind::kRange: {
        const Dot v = Eval(dot, n.fields);
        if (v.data->hyper_parameters.empty()) {
          if (!Exec(n.else_body, dot, max_bytes, out)) return false;
          break;
        }
        for (const HyperParameter& p : v.data->hyper_parameters) {
          if (!Exec(n.body, Dot{.type = Type::kParam, .data = v.data, .param = &p}, max_bytes,
                    out)) {
            return false;
          }
        }
        break;
      }
    }
    if (out->size() > max_bytes) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Template> Template::Parse(std::string_view text, const WhereFn& where,
                                         Position* error_pos) {
  std::vector<Token> tokens;
  LexError lex_error;
  const bool lexed = Lexer(text).Run(&tokens, &lex_error);
  // The parser also formats lexer errors (it owns the line index).
  static const std::vector<Token> kNoTokens;
  Parser parser(text, lexed ? tokens : kNoTokens, where, error_pos);
  if (!lexed) return parser.Error(lex_error.offset, lex_error.message);
  auto nodes = std::make_shared<std::vector<Node>>();
  absl::Status s = parser.Parse(nodes.get());
  if (!s.ok()) return s;
  return Template(std::move(nodes));
}

std::string Template::Execute(const WorkerData& data) const {
  std::string out;
  Exec(*nodes_, Dot{.type = Type::kData, .data = &data}, std::string::npos, &out);
  return out;
}

absl::StatusOr<std::string> Template::Execute(const WorkerData& data, size_t max_bytes) const {
  std::string out;
  if (!Exec(*nodes_, Dot{.type = Type::kData, .data = &data}, max_bytes, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the template renders to more than ", max_bytes, " bytes"));
  }
  return out;
}

}  // namespace hpt::engine::gotemplate
