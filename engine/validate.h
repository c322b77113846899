// Whole-study validation behind `hpt validate`, `hpt run` and `hpt render`: the loader's checks
// (LoadStudyFile) plus those that need the other modules — the trial template's dry run (Katib's
// webhook checks), the algorithm and its settings against the sampler registry, and v1beta1
// grid's "maxTrialCount <= number of grid points".
//
//   std::vector<Diagnostic> diags;
//   absl::StatusOr<StudySpec> spec = LoadAndCheckStudy("study.yaml", &diags);
//
// Thread-compatible free functions.
#ifndef HPT_ENGINE_VALIDATE_H_
#define HPT_ENGINE_VALIDATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"

namespace hpt::engine {

// Appends the problems of an already-loaded spec to `diagnostics`.
void CheckStudy(const StudySpec& spec, std::vector<Diagnostic>* diagnostics);

// LoadStudyFile + CheckStudy. Same status rules as LoadStudyFile: InvalidArgument when any error,
// Unimplemented when every error is a "not supported yet" one.
absl::StatusOr<StudySpec> LoadAndCheckStudy(const std::string& path,
                                            std::vector<Diagnostic>* diagnostics);

// `hpt validate` of one file: a study (LoadAndCheckStudy), or a ConfigMap of v1alpha1 worker
// templates (each data entry is rendered with no hyperparameters and must give a Job, TFJob or
// PyTorchJob manifest). Problems are appended to `diagnostics`; same status rules.
absl::Status ValidateFile(const std::string& path, std::vector<Diagnostic>* diagnostics);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_VALIDATE_H_
