#include <string>

#include "engine/spec/study_spec.h"

namespace hpt::engine {

std::string Diagnostic::ToString() const {
  std::string out = file.empty() ? std::string("<input>") : file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

std::vector<std::string> StudySpec::MetricNames() const {
  std::vector<std::string> names{objective.metric};
  for (const std::string& m : objective.additional_metrics) {
    if (m != objective.metric) names.push_back(m);
  }
  return names;
}

}  // namespace hpt::engine
