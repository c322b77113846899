#include "suggest/internal/settings.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hpt::suggest::internal {

absl::Status CheckNoDuplicateSettings(const AlgorithmSpec& algo) {
  std::set<absl::string_view> seen;
  for (const auto& [key, value] : algo.settings) {
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("algorithm '", algo.name, "': setting '", key, "' is given more than once"));
    }
  }
  return absl::OkStatus();
}

absl::Status UnknownSetting(const AlgorithmSpec& algo, absl::string_view key,
                            absl::string_view allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat("algorithm '", algo.name, "': unknown setting '", key, "'; allowed: ", allowed));
}

absl::Status BadSettingValue(const AlgorithmSpec& algo, absl::string_view key,
                             absl::string_view value, absl::string_view allowed) {
  return absl::InvalidArgumentError(absl::StrCat("algorithm '", algo.name, "': setting ", key,
                                                 "=\"", value,
                                                 "\" is invalid; allowed: ", allowed));
}

absl::Status CheckSettingNames(const AlgorithmSpec& algo,
                               std::initializer_list<absl::string_view> allowed) {
  const std::string allowed_text = allowed.size() == 0
                                       ? std::string("none (") + algo.name + " takes no settings)"
                                       : absl::StrJoin(allowed, ", ");
  for (const auto& [key, value] : algo.settings) {
    bool known = false;
    for (absl::string_view a : allowed) known = known || key == a;
    if (!known) return UnknownSetting(algo, key, allowed_text);
  }
  return CheckNoDuplicateSettings(algo);
}

absl::StatusOr<std::optional<uint64_t>> ParseRandomState(const AlgorithmSpec& algo) {
  const std::string* value = algo.Find("random_state");
  if (value == nullptr) return std::optional<uint64_t>();
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed) || parsed < 0) {
    return BadSettingValue(algo, "random_state", *value, "an integer >= 0");
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(parsed));
}

}  // namespace hpt::suggest::internal
