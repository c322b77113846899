// StudySpec helpers that read what the loader stored: the study's project/experiment and which
// annotations its trials carry.
#include "engine/spec/study_spec.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hpt::engine {
namespace {

// <prefix><suffix> when the study has it, else the first annotation whose key ends with `suffix`.
std::string AnnotationEnding(const StudySpec& spec, const std::string& suffix) {
  const std::map<std::string, std::string>& annotations = spec.annotations;
  const auto own = annotations.find(spec.hpt.kubernetes.annotation_prefix + suffix);
  if (own != annotations.end()) return own->second;
  for (const auto& [key, value] : annotations) {
    if (key.size() > suffix.size() && absl::EndsWith(key, suffix)) return value;
  }
  return "";
}

}  // namespace

bool KubernetesSettings::Propagates(const std::string& key) const {
  if (propagate_annotations.empty()) return true;
  for (const std::string& entry : propagate_annotations) {
    if (!entry.empty() && entry.back() == '*') {
      if (absl::StartsWith(key, absl::string_view(entry).substr(0, entry.size() - 1))) {
        return true;
      }
    } else if (key == entry) {
      return true;
    }
  }
  return false;
}

std::string StudyProject(const StudySpec& spec) { return AnnotationEnding(spec, "/project"); }

std::string StudyExperiment(const StudySpec& spec) { return AnnotationEnding(spec, "/experiment"); }

}  // namespace hpt::engine
