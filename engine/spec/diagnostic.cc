#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/spec/study_spec.h"

namespace hpt::engine {

std::string Diagnostic::ToString() const {
  std::string out = file.empty() ? std::string("<input>") : file;
  if (line > 0) {
    absl::StrAppend(&out, ":", line);
    if (column > 0) absl::StrAppend(&out, ":", column);
  }
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

absl::Status StatusFromDiagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> errors;
  bool all_unsupported = true;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity != Diagnostic::Severity::kError) continue;
    errors.push_back(d.ToString());
    all_unsupported = all_unsupported && d.unsupported;
  }
  if (errors.empty()) return absl::OkStatus();
  std::string msg = absl::StrJoin(errors, "\n");
  return all_unsupported ? absl::UnimplementedError(msg) : absl::InvalidArgumentError(msg);
}

std::vector<std::string> StudySpec::MetricNames() const {
  std::vector<std::string> names{objective.metric};
  for (const std::string& m : objective.additional_metrics) {
    if (m != objective.metric) names.push_back(m);
  }
  return names;
}

}  // namespace hpt::engine
