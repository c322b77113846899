#include "engine/template/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/spec/yaml_reader.h"

namespace hpt::engine {
namespace {

using nlohmann::json;

bool AllOf(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool IsDec(char c) { return c >= '0' && c <= '9'; }
bool IsOct(char c) { return c >= '0' && c <= '7'; }
bool IsHex(char c) { return IsDec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool IsCoreFloat(std::string_view s) {
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
    if (!AllOf(s.substr(i), IsDec)) return false;
    i = s.size();
  }
  return i == s.size();
}

json ResolvePlain(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty()) return nullptr;
  const std::string_view v(s);
  const bool sign = !v.empty() && (v[0] == '-' || v[0] == '+');
  int base = 0;
  std::string_view digits;
  if (AllOf(sign ? v.substr(1) : v, IsDec)) {
    base = 10;
    digits = v.substr(v[0] == '+' ? 1 : 0);
  } else if (v.size() > 2 && v.substr(0, 2) == "0o" && AllOf(v.substr(2), IsOct)) {
    base = 8;
    digits = v.substr(2);
  } else if (v.size() > 2 && v.substr(0, 2) == "0x" && AllOf(v.substr(2), IsHex)) {
    base = 16;
    digits = v.substr(2);
  }
  if (base != 0) {
    int64_t i = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i, base);
    if (ec == std::errc() && p == digits.data() + digits.size()) return i;
    uint64_t u = 0;
    auto [pu, ecu] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
    if (ecu == std::errc() && pu == digits.data() + digits.size()) return u;
    if (base == 10) return std::strtod(s.c_str(), nullptr);  // beyond 64 bits
    return s;
  }
  if (IsCoreFloat(v)) return std::strtod(s.c_str(), nullptr);
  return s;
}

// "line 3, column 5: <message>: \"  foo: [\"" (the line quoted from `text`).
std::string Locate(std::string_view text, const YAML::Mark& mark, const std::string& message) {
  if (mark.is_null() || mark.line < 0) return message;
  std::string out =
      absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ", message);
  size_t begin = 0;
  for (int i = 0; i < mark.line && begin != std::string_view::npos; ++i) {
    begin = text.find('\n', begin);
    if (begin != std::string_view::npos) ++begin;
  }
  if (begin != std::string_view::npos && begin <= text.size()) {
    const size_t end = text.find('\n', begin);
    std::string line(text.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    absl::StrAppend(&out, ": \"", line, "\"");
  }
  return out;
}

// Aliases can make a YAML graph cyclic or exponentially large ("billion laughs"): conversion
// stops at these limits.
constexpr int kMaxDepth = 100;
constexpr size_t kMaxNodes = 1'000'000;

struct Budget {
  size_t nodes = 0;
};

absl::StatusOr<json> Convert(const YAML::Node& node, std::string_view text, int depth,
                             Budget* budget) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        Locate(text, node.Mark(), absl::StrCat("nested deeper than ", kMaxDepth, " levels")));
  }
  if (++budget->nodes > kMaxNodes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "more than ", kMaxNodes, " values (do YAML aliases expand into a huge document?)"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      if (node.Tag() == "?") return ResolvePlain(node.Scalar());
      return json(node.Scalar());
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<json> v = Convert(item, text, depth + 1, budget);
        if (!v.ok()) return v.status();
        arr.push_back(*std::move(v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      std::set<std::string> seen;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              Locate(text, kv.first.Mark(), "a mapping key must be a plain string"));
        }
        const std::string& key = kv.first.Scalar();
        if (!seen.insert(key).second) {
          return absl::InvalidArgumentError(
              Locate(text, kv.first.Mark(), absl::StrCat("duplicate key \"", key, "\"")));
        }
        absl::StatusOr<json> v = Convert(kv.second, text, depth + 1, budget);
        if (!v.ok()) return v.status();
        obj[key] = *std::move(v);
      }
      return obj;
    }
  }
  return json(nullptr);
}

}  // namespace

absl::StatusOr<nlohmann::json> YamlToJson(std::string_view text) {
  // The spec loader's guarded parse: yaml-cpp 0.7 never returns on some malformed input.
  std::string error;
  spec_internal::Loc error_loc;
  std::optional<std::vector<YAML::Node>> parsed = spec_internal::LoadYamlDocuments(
      absl::string_view(text.data(), text.size()), &error, &error_loc);
  if (!parsed) {
    YAML::Mark mark;
    mark.line = error_loc.line - 1;
    mark.column = error_loc.column - 1;
    if (absl::StartsWith(error, "malformed YAML: ")) error.erase(0, 16);
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", Locate(text, mark, error)));
  }
  std::vector<YAML::Node> docs = *std::move(parsed);
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    return absl::InvalidArgumentError("the YAML text is empty");
  }
  if (docs.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("the YAML text holds ", docs.size(),
                                                   " documents; exactly one object is expected"));
  }
  try {
    Budget budget;
    return Convert(docs[0], text, 0, &budget);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", Locate(text, e.mark, e.msg)));
  }
}

}  // namespace hpt::engine
