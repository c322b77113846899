// Writes a JSON value as block-style YAML that Kubernetes tools read back to the same JSON:
// strings that YAML would read as another type ("0.5", "true", "null", "") are quoted.
#ifndef HPT_CLI_YAML_OUT_H_
#define HPT_CLI_YAML_OUT_H_

#include <string>

#include "nlohmann/json.hpp"

namespace hpt::cli {

std::string ToYaml(const nlohmann::json& value);

}  // namespace hpt::cli

#endif  // HPT_CLI_YAML_OUT_H_
