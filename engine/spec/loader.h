// Internal to engine/spec: the pieces of LoadStudyText shared by the two Katib dialects.
//
// load_study.cc reads the document, `metadata` and `spec.hpt`, then hands `spec` to
// ReadStudyJobV1alpha1 (v1alpha1.cc) or ReadExperimentV1beta1 (v1beta1.cc). Each reader fills
// the StudySpec, applies Katib's defaults and reports every problem into the Sink.
// Thread-compatible.
#ifndef HPT_ENGINE_SPEC_LOADER_H_
#define HPT_ENGINE_SPEC_LOADER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/spec/config_maps.h"
#include "engine/spec/study_spec.h"
#include "engine/spec/yaml_reader.h"
#include "suggest/search_space.h"

namespace hpt::engine::spec_internal {

struct LoadContext {
  Sink* sink = nullptr;
  absl::string_view text;  // the study file's text
  ConfigMapFinder* config_maps = nullptr;
};

// The dialect readers. `spec` is the study's `spec` map; they read every key they know and leave
// the unknown ones for the caller's ReportUnknown. `spec.hpt` is read by the caller.
void ReadStudyJobV1alpha1(LoadContext& ctx, MapReader& spec, StudySpec* out);
void ReadExperimentV1beta1(LoadContext& ctx, MapReader& spec, StudySpec* out);

// Key spellings of a parameter list entry in each dialect.
struct ParameterKeys {
  absl::string_view type;      // "parameterType" (v1beta1) / "parametertype" (v1alpha1)
  absl::string_view feasible;  // "feasibleSpace" / "feasible"
  bool has_distribution;       // feasibleSpace.distribution exists in v1beta1 only
};

// Reads and validates a parameter list (both dialects' rules; see docs/study-reference.md).
void ReadParameters(Sink* sink, const Field& list, const ParameterKeys& keys,
                    suggest::SearchSpace* space);

// Reads a list of {name, value} settings (algorithmSettings, suggestionParameters, ...). Names are
// required and unique; values are any scalar ("" when absent).
std::vector<std::pair<std::string, std::string>> ReadSettings(Sink* sink, const Field& list);

// Reads `spec.hpt` (strict: unknown keys are errors) and loads its configMapFiles into `finder`.
void ReadHptExtensions(Sink* sink, const Field& hpt, ConfigMapFinder* finder, HptExtensions* out);

// The workload kind named by a template: the `kind` of `yaml_text` parsed as YAML or, when that
// fails (Go-template syntax), of the first top-level `kind:` line. Empty when none is found.
std::string TemplateKind(absl::string_view template_text);

// Katib's default success/failure conditions (and primary pod labels) for a workload kind, applied
// when both conditions are empty. Returns false when `kind` has no defaults.
bool ApplyConditionDefaults(absl::string_view kind, TrialTemplateSpec* t);

}  // namespace hpt::engine::spec_internal

#endif  // HPT_ENGINE_SPEC_LOADER_H_
