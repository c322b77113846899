#include "engine/template/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/spec/yaml_reader.h"

namespace hpt::engine {
namespace {

using nlohmann::json;

// "line 3, column 5: <message>: \"  foo: [\"" (the line quoted from `text`); the bare message
// where the place is unknown.
std::string Locate(std::string_view text, spec_internal::Loc loc, const std::string& message) {
  if (loc.line <= 0) return message;
  std::string out = absl::StrCat("line ", loc.line, ", column ", loc.column, ": ", message);
  size_t begin = 0;
  for (int i = 1; i < loc.line && begin != std::string_view::npos; ++i) {
    begin = text.find('\n', begin);
    if (begin != std::string_view::npos) ++begin;
  }
  if (begin != std::string_view::npos && begin <= text.size()) {
    const size_t end = text.find('\n', begin);
    std::string line(text.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // A line that is not UTF-8 would make the message itself unprintable as JSON, and a NUL
    // byte would cut it short wherever it is read as a C string.
    if (line.find('\0') == std::string::npos &&
        spec_internal::FirstNonUtf8Byte(line) == absl::string_view::npos) {
      absl::StrAppend(&out, ": \"", line, "\"");
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<nlohmann::json> YamlToJson(std::string_view text) {
  // The spec loader's guarded parse: yaml-cpp 0.7 never returns on some malformed input.
  std::string error;
  spec_internal::Loc error_loc;
  std::optional<std::vector<YAML::Node>> docs = spec_internal::LoadYamlDocuments(
      absl::string_view(text.data(), text.size()), &error, &error_loc);
  if (!docs) {
    if (absl::StartsWith(error, "malformed YAML: ")) error.erase(0, 16);
    return absl::InvalidArgumentError(
        absl::StrCat("invalid YAML: ", Locate(text, error_loc, error)));
  }
  if (docs->empty() || (docs->size() == 1 && (*docs)[0].IsNull())) {
    return absl::InvalidArgumentError("the YAML text is empty");
  }
  if (docs->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("the YAML text holds ", docs->size(),
                                                   " documents; exactly one object is expected"));
  }
  using spec_internal::YamlJsonError;
  YamlJsonError e;
  std::optional<json> j = spec_internal::ConvertYamlToJson<json>(
      (*docs)[0], spec_internal::YamlJsonOptions{.strict_keys = true}, &e);
  if (j) return *std::move(j);
  switch (e.kind) {
    case YamlJsonError::Kind::kTooDeep:
      return absl::InvalidArgumentError(
          Locate(text, e.loc,
                 absl::StrCat("nested deeper than ", spec_internal::kMaxJsonDepth, " levels")));
    case YamlJsonError::Kind::kTooLarge:
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", spec_internal::kMaxJsonNodes,
                       " values (do YAML aliases expand into a huge document?)"));
    case YamlJsonError::Kind::kNonScalarKey:
      return absl::InvalidArgumentError(
          Locate(text, e.loc, "a mapping key must be a plain string"));
    case YamlJsonError::Kind::kDuplicateKey:
      return absl::InvalidArgumentError(
          Locate(text, e.loc, absl::StrCat("duplicate key \"", e.key, "\"")));
  }
  return absl::InternalError("unknown YAML -> JSON error");
}

}  // namespace hpt::engine
