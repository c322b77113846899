// Validation helpers for algorithm settings (internal to suggest/).
//
//   if (absl::Status s = internal::CheckSettingNames(algo, {"random_state"}); !s.ok()) return s;
//   absl::StatusOr<std::optional<uint64_t>> rs = internal::ParseRandomState(algo);
//
// Messages follow one pattern so users learn it once:
//   algorithm 'random': unknown setting 'foo'; allowed: random_state
//   algorithm 'random': setting random_state="-1" is invalid; allowed: an integer >= 0
// Plain functions; thread-safe.
#ifndef HPT_SUGGEST_INTERNAL_SETTINGS_H_
#define HPT_SUGGEST_INTERNAL_SETTINGS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "suggest/search_space.h"

namespace hpt::suggest::internal {

// InvalidArgument unless every setting name is in `allowed` and none is given twice. An empty
// `allowed` list says the algorithm takes no settings.
absl::Status CheckSettingNames(const AlgorithmSpec& algo,
                               std::initializer_list<absl::string_view> allowed);

// InvalidArgument if a setting name appears more than once.
absl::Status CheckNoDuplicateSettings(const AlgorithmSpec& algo);

// InvalidArgument: "algorithm 'A': unknown setting 'K'; allowed: <allowed>".
absl::Status UnknownSetting(const AlgorithmSpec& algo, absl::string_view key,
                            absl::string_view allowed);

// InvalidArgument: "algorithm 'A': setting K="V" is invalid; allowed: <allowed>".
absl::Status BadSettingValue(const AlgorithmSpec& algo, absl::string_view key,
                             absl::string_view value, absl::string_view allowed);

// The `random_state` setting (an integer >= 0), or nullopt when absent. InvalidArgument when
// malformed.
absl::StatusOr<std::optional<uint64_t>> ParseRandomState(const AlgorithmSpec& algo);

}  // namespace hpt::suggest::internal

#endif  // HPT_SUGGEST_INTERNAL_SETTINGS_H_
