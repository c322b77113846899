// yaml_json: YAML text to JSON (engine/template/yaml_json.h), as a rendered v1alpha1 manifest or
// a ConfigMap template is read.
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/template/yaml_json.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_targets.h"

namespace hpt::fuzz {

int YamlJsonOneInput(const uint8_t* data, size_t size) {
  constexpr char kTarget[] = "yaml_json";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::json> j = engine::YamlToJson(text);
  if (!j.ok()) {
    if (!absl::IsInvalidArgument(j.status()) || j.status().message().empty()) {
      Fail(kTarget, absl::StrCat("YamlToJson: undocumented status ", j.status().ToString()));
    }
    if (!IsUtf8(std::string(j.status().message()))) {
      Fail(kTarget,
           absl::StrCat("YamlToJson: a message that is not UTF-8: ", j.status().ToString()));
    }
    return 0;
  }
  // A manifest is sent on as JSON text; nlohmann throws on strings that are not UTF-8.
  const std::string dumped = j->dump();
  // JSON text reads back as the same value.
  if (nlohmann::json::parse(dumped) != *j) {
    Fail(kTarget, absl::StrCat("the JSON does not read back as itself: ", dumped));
  }
  return 0;
}

}  // namespace hpt::fuzz
