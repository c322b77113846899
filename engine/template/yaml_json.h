// YAML text to JSON, the way a Kubernetes manifest written in YAML is read.
//
// Plain (unquoted) scalars are typed by the YAML 1.2 core schema: null (~, null, Null, NULL,
// empty), bool (true/True/TRUE, false/False/FALSE), int (123, -7, 0x1F, 0o17) and float (1.5,
// 1e-3, .5); everything else, and every quoted or block scalar, stays a string. YAML 1.1's
// yes/no/on/off are strings here, and so are .inf and .nan (JSON has no such numbers) and numbers
// beyond a double's range. The typing is the study loader's (spec_internal::ConvertYamlToJson).
//
//   absl::StatusOr<nlohmann::json> j = YamlToJson("kind: Job\nspec: {parallelism: 2}\n");
//   // (*j)["spec"]["parallelism"] == 2
//
// Pure function; thread-safe.
#ifndef HPT_ENGINE_TEMPLATE_YAML_JSON_H_
#define HPT_ENGINE_TEMPLATE_YAML_JSON_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hpt::engine {

// Parses exactly one YAML document. InvalidArgument when the text is not valid YAML, is not UTF-8
// (or holds a NUL byte, or the escapes \N or \_ that yaml-cpp decodes wrongly), is empty, holds
// more than one document, repeats a mapping key, uses a non-scalar key, nests deeper than 100
// levels or expands (through aliases) to more than a million values; the message gives the line
// and column (1-based) and quotes that line of `text` where there is one (UTF-8 without NUL).
absl::StatusOr<nlohmann::json> YamlToJson(std::string_view text);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_TEMPLATE_YAML_JSON_H_
