#include "engine/spec/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/spec/config_maps.h"
#include "yaml-cpp/eventhandler.h"

namespace hpt::engine::spec_internal {
namespace {

constexpr absl::string_view kQuotedTag = "!";
constexpr absl::string_view kStrTag = "tag:yaml.org,2002:str";

// A scalar written in quotes, as a block scalar, or tagged !!str: a string whatever it looks like.
bool IsStringScalar(const YAML::Node& node) {
  return node.IsScalar() && (node.Tag() == kQuotedTag || node.Tag() == kStrTag);
}

bool IsNullText(absl::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> BoolText(absl::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

}  // namespace

Loc LocOf(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

Loc LocOf(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  return LocOf(node.Mark());
}

void Sink::Push(Diagnostic::Severity severity, Loc loc, absl::string_view path, std::string message,
                bool unsupported) {
  Diagnostic d;
  d.severity = severity;
  d.file = file_;
  d.line = loc.line;
  d.column = loc.column;
  d.path = std::string(path);
  d.message = std::move(message);
  d.unsupported = unsupported;
  diagnostics_.push_back(std::move(d));
}

void Sink::Error(Loc loc, absl::string_view path, std::string message) {
  Push(Diagnostic::Severity::kError, loc, path, std::move(message), false);
}

void Sink::Warning(Loc loc, absl::string_view path, std::string message) {
  Push(Diagnostic::Severity::kWarning, loc, path, std::move(message), false);
}

void Sink::Unsupported(Loc loc, absl::string_view path, absl::string_view what) {
  Push(Diagnostic::Severity::kError, loc, path, absl::StrCat("not supported yet: ", what), true);
}

bool Sink::HasErrors() const {
  for (const Diagnostic& d : diagnostics_) {
    if (d.severity == Diagnostic::Severity::kError) return true;
  }
  return false;
}

std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (IsStringScalar(node)) return absl::StrCat("the string ", Quote(node.Scalar()));
  return Quote(node.Scalar());
}

std::string JoinPath(absl::string_view parent, absl::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(parent, ".", key);
}

std::string IndexPath(absl::string_view parent, size_t index) {
  return absl::StrCat(parent, "[", index, "]");
}

MapReader::MapReader(Sink* sink, const Field& field)
    : sink_(sink), path_(field.path), loc_(field.key_loc) {
  if (!field.present) return;
  if (!field.node.IsMap()) {
    sink_->Error(field.loc, path_, absl::StrCat("must be a map, got ", Describe(field.node)));
    return;
  }
  Init(field.node);
}

MapReader::MapReader(Sink* sink, const YAML::Node& node, std::string path)
    : sink_(sink), path_(std::move(path)), loc_(LocOf(node)) {
  if (loc_.line == 0) loc_ = {1, 1};
  if (node.IsMap()) Init(node);
}

void MapReader::Init(const YAML::Node& node) {
  is_map_ = true;
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      sink_->Error(LocOf(key), path_,
                   absl::StrCat("map keys must be plain strings, got ", Describe(key)));
      continue;
    }
    bool duplicate = false;
    for (const Entry& e : entries_) {
      if (e.key == key.Scalar()) {
        sink_->Error(LocOf(key), JoinPath(path_, key.Scalar()),
                     absl::StrCat("duplicate key ", Quote(key.Scalar()), " (first at line ",
                                  LocOf(e.key_node).line, "); a key may appear once"));
        duplicate = true;
        break;
      }
    }
    if (duplicate) continue;
    entries_.push_back(Entry{key.Scalar(), key, kv.second, false});
  }
}

bool MapReader::Has(absl::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return !e.value.IsNull();
  }
  return false;
}

Field MapReader::Get(absl::string_view key) {
  Field f;
  f.path = JoinPath(path_, key);
  f.key_loc = loc_;
  f.loc = loc_;
  for (Entry& e : entries_) {
    if (e.key != key) continue;
    e.used = true;
    f.key_loc = LocOf(e.key_node);
    f.loc = f.key_loc;
    if (e.value.IsNull()) return f;  // `key:` or `key: ~` reads as absent
    f.present = true;
    f.node = e.value;
    Loc value_loc = LocOf(e.value);
    if (value_loc.line > 0) f.loc = value_loc;
    return f;
  }
  return f;
}

void MapReader::Accept(std::initializer_list<absl::string_view> keys) {
  for (absl::string_view k : keys) {
    for (Entry& e : entries_) {
      if (e.key == k) e.used = true;
    }
  }
}

void MapReader::ReportUnknown(bool strict, absl::string_view allowed) {
  for (Entry& e : entries_) {
    if (e.used) continue;
    e.used = true;
    std::string path = JoinPath(path_, e.key);
    if (strict) {
      sink_->Error(LocOf(e.key_node), path,
                   absl::StrCat("unknown key ", Quote(e.key), "; allowed keys: ", allowed));
    } else {
      sink_->Warning(
          LocOf(e.key_node), path,
          absl::StrCat("unknown key ", Quote(e.key),
                       " is ignored (check its spelling; known keys here: ", allowed, ")"));
    }
  }
}

std::vector<Field> ReadList(Sink* sink, const Field& field) {
  std::vector<Field> items;
  if (!field.present) return items;
  if (!field.node.IsSequence()) {
    sink->Error(field.loc, field.path, absl::StrCat("must be a list, got ", Describe(field.node)));
    return items;
  }
  size_t i = 0;
  for (const YAML::Node& value : field.node) {
    Field item;
    item.path = IndexPath(field.path, i++);
    item.node = value;  // rebinds: item.node is still unset
    item.present = !value.IsNull();
    // yaml-cpp marks an empty item (`-` alone) at the token after it; point at the list instead.
    Loc loc = item.present ? LocOf(value) : Loc{};
    item.key_loc = loc.line > 0 ? loc : field.loc;
    item.loc = item.key_loc;
    items.push_back(std::move(item));
  }
  return items;
}

bool Require(Sink* sink, const Field& field, absl::string_view what) {
  if (field.present) return true;
  std::string message = "is required";
  if (!what.empty()) absl::StrAppend(&message, " (", what, ")");
  sink->Error(field.key_loc, field.path, std::move(message));
  return false;
}

std::optional<std::string> ReadString(Sink* sink, const Field& field) {
  if (!field.present) return std::nullopt;
  if (!field.node.IsScalar()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a string, got ", Describe(field.node)));
    return std::nullopt;
  }
  return field.node.Scalar();
}

std::optional<double> ParseNumber(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '+') return std::nullopt;
  double out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(out)) {
    return std::nullopt;
  }
  return out;
}

std::optional<int64_t> ParseInt64(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '+') return std::nullopt;
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

std::optional<int64_t> ReadInt(Sink* sink, const Field& field, int64_t min, int64_t max) {
  if (!field.present) return std::nullopt;
  if (!field.node.IsScalar()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be an integer, got ", Describe(field.node)));
    return std::nullopt;
  }
  std::optional<int64_t> v = ParseInt64(field.node.Scalar());
  if (IsStringScalar(field.node)) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be an integer, got ", Describe(field.node),
                             v ? " (write the number without quotes)" : ""));
    return std::nullopt;
  }
  if (!v) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be an integer, got ", Describe(field.node)));
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be an integer between ", min, " and ", max, ", got ", *v));
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> ReadUint64(Sink* sink, const Field& field) {
  if (!field.present) return std::nullopt;
  absl::string_view text;
  if (field.node.IsScalar() && !IsStringScalar(field.node)) {
    text = absl::StripAsciiWhitespace(field.node.Scalar());
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  }
  uint64_t out = 0;
  bool ok = !text.empty() && text.front() != '-' && text.front() != '+';
  if (ok) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    ok = ec == std::errc() && ptr == text.data() + text.size();
  }
  if (!ok) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be an unsigned integer (0 to 18446744073709551615), got ",
                             Describe(field.node)));
    return std::nullopt;
  }
  return out;
}

std::optional<double> ReadNumber(Sink* sink, const Field& field) {
  if (!field.present) return std::nullopt;
  std::optional<double> v;
  if (field.node.IsScalar()) v = ParseNumber(field.node.Scalar());
  if (!field.node.IsScalar() || !v) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a number, got ", Describe(field.node)));
    return std::nullopt;
  }
  if (IsStringScalar(field.node)) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a number, got ", Describe(field.node),
                             " (write the number without quotes)"));
    return std::nullopt;
  }
  return v;
}

std::optional<double> ReadNumeric(Sink* sink, const Field& field, std::string* text) {
  if (!field.present) return std::nullopt;
  if (!field.node.IsScalar()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a number (a YAML number or a string such as \"0.01\"), got ",
                             Describe(field.node)));
    return std::nullopt;
  }
  std::optional<double> v = ParseNumber(field.node.Scalar());
  if (!v) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a number, got ", Quote(field.node.Scalar())));
    return std::nullopt;
  }
  if (text != nullptr) *text = std::string(absl::StripAsciiWhitespace(field.node.Scalar()));
  return v;
}

std::optional<bool> ReadBool(Sink* sink, const Field& field) {
  if (!field.present) return std::nullopt;
  std::optional<bool> v;
  if (field.node.IsScalar() && !IsStringScalar(field.node)) v = BoolText(field.node.Scalar());
  if (!v) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be true or false, got ", Describe(field.node)));
  }
  return v;
}

std::optional<std::vector<std::string>> ReadStringList(Sink* sink, const Field& field) {
  if (!field.present) return std::nullopt;
  if (!field.node.IsSequence()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a list of strings, got ", Describe(field.node)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const Field& item : ReadList(sink, field)) {
    if (!item.present || !item.node.IsScalar()) {
      sink->Error(item.loc, item.path, absl::StrCat("must be a string, got ", Describe(item.node)));
      ok = false;
      continue;
    }
    out.push_back(item.node.Scalar());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> ReadStringMap(Sink* sink, const Field& field) {
  if (!field.present) return std::nullopt;
  if (!field.node.IsMap()) {
    sink->Error(field.loc, field.path,
                absl::StrCat("must be a map of strings, got ", Describe(field.node)));
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool ok = true;
  for (const auto& kv : field.node) {
    if (!kv.first.IsScalar()) {
      sink->Error(LocOf(kv.first), field.path,
                  absl::StrCat("map keys must be plain strings, got ", Describe(kv.first)));
      ok = false;
      continue;
    }
    const std::string& key = kv.first.Scalar();
    std::string path = JoinPath(field.path, key);
    if (out.count(key) > 0) {
      sink->Error(LocOf(kv.first), path,
                  absl::StrCat("duplicate key ", Quote(key), "; a key may appear once"));
      ok = false;
      continue;
    }
    if (kv.second.IsNull()) {
      out[key] = "";
      continue;
    }
    if (!kv.second.IsScalar()) {
      sink->Error(LocOf(kv.second), path,
                  absl::StrCat("must be a string, got ", Describe(kv.second)));
      ok = false;
      continue;
    }
    out[key] = kv.second.Scalar();
  }
  if (!ok) return std::nullopt;
  return out;
}

namespace {

bool AllOf(absl::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool IsDec(char c) { return c >= '0' && c <= '9'; }
bool IsOct(char c) { return c >= '0' && c <= '7'; }
bool IsHex(char c) { return IsDec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The core schema's float: [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
// (.inf and .nan are floats there too, but JSON has no such numbers: they stay strings.)
bool IsCoreFloat(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && IsDec(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDec(s[i])) ++i, ++frac_digits;
    if (int_digits == 0 && frac_digits == 0) return false;
  } else if (int_digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    return AllOf(s.substr(i), IsDec);
  }
  return i == s.size();
}

// A plain scalar (or one tagged !!int, !!float, !!bool or !!null) typed by the core schema.
// Integers are int64 where they fit, else uint64, else (decimal only) a double; a number beyond a
// double's range stays its text.
template <typename Json>
Json TypedScalar(const std::string& s) {
  if (IsNullText(s)) return Json(nullptr);
  if (std::optional<bool> b = BoolText(s)) return Json(*b);
  const absl::string_view v = s;  // not empty: "" is null
  const bool sign = v.front() == '-' || v.front() == '+';
  int base = 0;
  absl::string_view digits;
  if (AllOf(sign ? v.substr(1) : v, IsDec)) {
    base = 10;
    digits = v.front() == '+' ? v.substr(1) : v;  // from_chars takes '-' but not '+'
  } else if (v.size() > 2 && v.substr(0, 2) == "0o" && AllOf(v.substr(2), IsOct)) {
    base = 8;
    digits = v.substr(2);
  } else if (v.size() > 2 && v.substr(0, 2) == "0x" && AllOf(v.substr(2), IsHex)) {
    base = 16;
    digits = v.substr(2);
  }
  if (base != 0) {
    const char* end = digits.data() + digits.size();
    int64_t i = 0;
    auto r = std::from_chars(digits.data(), end, i, base);
    if (r.ec == std::errc() && r.ptr == end) return Json(i);
    uint64_t u = 0;
    r = std::from_chars(digits.data(), end, u, base);
    if (r.ec == std::errc() && r.ptr == end) return Json(u);
    if (base != 10) return Json(s);
  }
  if (base == 10 || IsCoreFloat(v)) {
    if (std::optional<double> d = ParseNumber(v)) return Json(*d);
  }
  return Json(s);
}

template <typename Json>
Json ScalarToJson(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  // "?" is a plain scalar's; "!" a quoted or block one's. Any tag other than the core schema's
  // (an application tag such as !Ref) keeps the text.
  if (tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
      tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
    return TypedScalar<Json>(node.Scalar());
  }
  return Json(node.Scalar());
}

template <typename Json>
class JsonBuilder {
 public:
  JsonBuilder(const YamlJsonOptions& options, YamlJsonError* error)
      : options_(options), error_(error) {}

  // false (with *error_ set) at the first problem.
  bool Build(const YAML::Node& node, int depth, Json* out) {
    if (depth > kMaxJsonDepth) return Fail(YamlJsonError::Kind::kTooDeep, LocOf(node));
    if (++nodes_ > kMaxJsonNodes) return Fail(YamlJsonError::Kind::kTooLarge, Loc{});
    if (!node.IsDefined() || node.IsNull()) {
      *out = nullptr;
      return true;
    }
    if (node.IsSequence()) {
      *out = Json::array();
      for (const YAML::Node& item : node) {
        Json v;
        if (!Build(item, depth + 1, &v)) return false;
        out->push_back(std::move(v));
      }
      return true;
    }
    if (node.IsMap()) {
      *out = Json::object();
      for (const auto& kv : node) {
        std::string key;
        if (kv.first.IsScalar()) {
          key = kv.first.Scalar();
        } else if (options_.strict_keys) {
          return Fail(YamlJsonError::Kind::kNonScalarKey, LocOf(kv.first));
        } else {
          key = YAML::Dump(kv.first);
        }
        if (options_.strict_keys && out->contains(key)) {
          return Fail(YamlJsonError::Kind::kDuplicateKey, LocOf(kv.first), std::move(key));
        }
        Json v;
        if (!Build(kv.second, depth + 1, &v)) return false;
        (*out)[key] = std::move(v);  // not strict: a repeated key's last value wins
      }
      return true;
    }
    *out = ScalarToJson<Json>(node);
    return true;
  }

 private:
  bool Fail(YamlJsonError::Kind kind, Loc loc, std::string key = "") {
    error_->kind = kind;
    error_->loc = loc;
    error_->key = std::move(key);
    return false;
  }

  const YamlJsonOptions& options_;
  YamlJsonError* error_;
  size_t nodes_ = 0;
};

}  // namespace

template <typename Json>
std::optional<Json> ConvertYamlToJson(const YAML::Node& node, const YamlJsonOptions& options,
                                      YamlJsonError* error) {
  Json out;
  if (!JsonBuilder<Json>(options, error).Build(node, 0, &out)) return std::nullopt;
  return out;
}

template std::optional<nlohmann::json> ConvertYamlToJson(const YAML::Node&, const YamlJsonOptions&,
                                                         YamlJsonError*);
template std::optional<nlohmann::ordered_json> ConvertYamlToJson(const YAML::Node&,
                                                                 const YamlJsonOptions&,
                                                                 YamlJsonError*);

std::optional<nlohmann::ordered_json> YamlToJson(const YAML::Node& node, std::string* error) {
  YamlJsonError e;
  std::optional<nlohmann::ordered_json> out =
      ConvertYamlToJson<nlohmann::ordered_json>(node, YamlJsonOptions{}, &e);
  if (out) return out;
  switch (e.kind) {
    case YamlJsonError::Kind::kTooDeep:
      *error = absl::StrCat("is nested more than ", kMaxJsonDepth,
                            " levels deep (an alias that refers to itself?)");
      break;
    case YamlJsonError::Kind::kTooLarge:
      *error =
          absl::StrCat("has more than ", kMaxJsonNodes, " values (aliases that expand too far?)");
      break;
    case YamlJsonError::Kind::kNonScalarKey:  // only with strict_keys
      *error = absl::StrCat("has a map key at line ", e.loc.line,
                            " that is a map, a list or null; keys must be plain strings");
      break;
    case YamlJsonError::Kind::kDuplicateKey:  // only with strict_keys
      *error = absl::StrCat("repeats the key ", Quote(e.key), " at line ", e.loc.line,
                            "; a key may appear once");
      break;
  }
  return std::nullopt;
}

namespace {

// Counts parser events and gives up past a budget; remembers the last place an event named.
// Also stops at a scalar whose value is not UTF-8: from UTF-8 text, yaml-cpp 0.7 makes one only
// for the escapes \N and \_ (it writes the bytes 0x85 and 0xA0 instead of U+0085 and U+00A0).
class EventBudget : public YAML::EventHandler {
 public:
  struct Exceeded {};
  struct NotUtf8 {};
  explicit EventBudget(size_t budget) : budget_(budget) {}
  const YAML::Mark& last() const { return last_; }

  void OnDocumentStart(const YAML::Mark& m) override { Tick(m); }
  void OnDocumentEnd() override { Tick(); }
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Tick(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Tick(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    Tick(m);
    if (FirstNonUtf8Byte(value) != absl::string_view::npos) throw NotUtf8{};
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Tick(m);
  }
  void OnSequenceEnd() override { Tick(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Tick(m);
  }
  void OnMapEnd() override { Tick(); }

 private:
  void Tick(const YAML::Mark& m) {
    last_ = m;
    Tick();
  }
  void Tick() {
    if (++events_ > budget_) throw Exceeded{};
  }
  size_t budget_;
  size_t events_ = 0;
  YAML::Mark last_ = YAML::Mark::null_mark();
};

}  // namespace

size_t FirstNonUtf8Byte(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return i;
    }
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return absl::string_view::npos;
}

std::string EscapeNonUtf8(absl::string_view text) {
  std::string out;
  while (!text.empty()) {
    const size_t bad = FirstNonUtf8Byte(text);
    if (bad == absl::string_view::npos) break;
    absl::StrAppend(&out, text.substr(0, bad), "\\x",
                    absl::Hex(static_cast<unsigned char>(text[bad]), absl::kZeroPad2));
    text.remove_prefix(bad + 1);
  }
  absl::StrAppend(&out, text);
  return out;
}

namespace {

// The 1-based line and byte column of `offset` in `text`.
Loc LocAt(absl::string_view text, size_t offset) {
  Loc loc{1, 1};
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else {
      ++loc.column;
    }
  }
  return loc;
}

}  // namespace

std::optional<std::vector<YAML::Node>> LoadYamlDocuments(absl::string_view text, std::string* error,
                                                         Loc* error_loc) {
  // yaml-cpp copies bytes that are not UTF-8 into its strings, which then cannot be written as
  // JSON (nlohmann throws) or sent in a protobuf string; a NUL byte makes it guess UTF-16 or
  // UTF-32 instead. Only UTF-8 text is read.
  if (const size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    *error =
        "malformed YAML: a NUL byte; hpt reads YAML text in UTF-8 (convert UTF-16 or UTF-32 "
        "files to UTF-8, e.g. with iconv)";
    *error_loc = LocAt(text, nul);
    return std::nullopt;
  }
  if (const size_t bad = FirstNonUtf8Byte(text); bad != absl::string_view::npos) {
    *error = absl::StrCat(
        "malformed YAML: invalid UTF-8 (byte 0x",
        absl::Hex(static_cast<unsigned char>(text[bad]), absl::kZeroPad2),
        "); hpt reads YAML text in UTF-8 (convert other encodings to UTF-8, e.g. with iconv)");
    *error_loc = LocAt(text, bad);
    return std::nullopt;
  }
  std::string source(text);
  // Well-formed YAML yields at most a few events per character (`a:` is a key and a null).
  EventBudget budget(4 * source.size() + 64);
  try {
    std::istringstream in(source);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(budget)) {
    }
  } catch (const EventBudget::Exceeded&) {
    *error =
        "malformed YAML: the parser does not terminate here (a ',' outside any [...] or "
        "{...}?)";
    *error_loc = LocOf(budget.last());
    return std::nullopt;
  } catch (const EventBudget::NotUtf8&) {
    *error =
        "malformed YAML: the escapes \\N and \\_ are not supported (the YAML parser decodes "
        "them to invalid UTF-8); write \\u0085 for \\N and \\u00A0 for \\_";
    *error_loc = LocOf(budget.last());
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    // yaml-cpp quotes one byte of the text in some messages ("unknown escape character: "),
    // which may be part of a multi-byte character.
    *error = absl::StrCat("malformed YAML: ", EscapeNonUtf8(e.msg));
    *error_loc = LocOf(e.mark);
    return std::nullopt;
  }
  try {
    return YAML::LoadAll(source);
  } catch (const YAML::Exception& e) {
    *error = absl::StrCat("malformed YAML: ", EscapeNonUtf8(e.msg));
    *error_loc = LocOf(e.mark);
    return std::nullopt;
  }
}

int ScalarTextLine(const YAML::Node& node, absl::string_view source) {
  Loc loc = LocOf(node);
  if (loc.line == 0) return 0;
  int pos = node.Mark().pos;
  if (pos >= 0 && static_cast<size_t>(pos) < source.size() &&
      (source[pos] == '|' || source[pos] == '>')) {
    return loc.line + 1;
  }
  return loc.line;
}

std::optional<std::vector<YAML::Node>> LoadFileDocuments(Sink* sink, absl::string_view text,
                                                         absl::string_view expected) {
  std::string error;
  Loc error_loc;
  std::optional<std::vector<YAML::Node>> all = LoadYamlDocuments(text, &error, &error_loc);
  if (!all) {
    sink->Error(error_loc, "", error);
    return std::nullopt;
  }
  std::vector<YAML::Node> docs;
  for (const YAML::Node& d : *all) {
    if (d.IsDefined() && !d.IsNull()) docs.push_back(d);
  }
  if (docs.empty()) {
    sink->Error({}, "", absl::StrCat("the file holds no YAML document; ", expected));
    return std::nullopt;
  }
  return docs;
}

absl::Status RunLoad(const std::string& file, absl::string_view what,
                     absl::FunctionRef<void(Sink*)> read, std::vector<Diagnostic>* diagnostics) {
  Sink sink(file);
  try {
    read(&sink);
  } catch (const YAML::Exception& e) {
    sink.Error(LocOf(e.mark), "", absl::StrCat("cannot read the YAML: ", EscapeNonUtf8(e.msg)));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("internal error while loading ", what, " ", file, ": ", e.what()));
  }
  std::vector<Diagnostic>& diags = sink.diagnostics();
  std::stable_sort(diags.begin(), diags.end(), [&file](const Diagnostic& a, const Diagnostic& b) {
    const bool a_other = a.file != file;
    const bool b_other = b.file != file;
    if (a_other != b_other) return !a_other;
    if (a_other) return false;  // other files: keep the order found
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
  if (diagnostics != nullptr) diagnostics->insert(diagnostics->end(), diags.begin(), diags.end());
  return StatusFromDiagnostics(diags);
}

absl::StatusOr<std::string> ReadLoadedFile(const std::string& path,
                                           std::vector<Diagnostic>* diagnostics) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok() && diagnostics != nullptr) {
    Diagnostic d;
    d.file = path;
    d.message = std::string(text.status().message());
    diagnostics->push_back(std::move(d));
  }
  return text;
}

}  // namespace hpt::engine::spec_internal
