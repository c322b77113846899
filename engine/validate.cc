#include "engine/validate.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/spec/yaml_reader.h"
#include "engine/template/render.h"
#include "suggest/grid_sampler.h"
#include "suggest/sampler.h"

namespace hpt::engine {

namespace {

// The 1-based line and column of the first `key:` in the study's text, so diagnostics about
// values the loader keeps without positions (the algorithm) still point into the file.
void LocateKey(const StudySpec& spec, const std::string& key, Diagnostic* d) {
  const std::string needle = key + ":";
  size_t pos = spec.source_yaml.find(needle);
  while (pos != std::string::npos && pos > 0 && spec.source_yaml[pos - 1] != ' ' &&
         spec.source_yaml[pos - 1] != '\n' && spec.source_yaml[pos - 1] != '{') {
    pos = spec.source_yaml.find(needle, pos + 1);
  }
  if (pos == std::string::npos) return;
  const size_t line_start = spec.source_yaml.rfind('\n', pos);
  d->line = 1 + static_cast<int>(
                    std::count(spec.source_yaml.begin(), spec.source_yaml.begin() + pos, '\n'));
  d->column = static_cast<int>(pos - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
}

}  // namespace

void CheckStudy(const StudySpec& spec, std::vector<Diagnostic>* diagnostics) {
  const bool v1alpha1 = spec.dialect == Dialect::kStudyJobV1alpha1;
  const std::string algo_path =
      v1alpha1 ? "spec.suggestionSpec.suggestionAlgorithm" : "spec.algorithm.algorithmName";
  absl::StatusOr<std::unique_ptr<suggest::Sampler>> sampler =
      suggest::MakeSampler(spec.algorithm, spec.space, 0);
  if (!sampler.ok()) {
    Diagnostic d{
        .file = spec.file, .path = algo_path, .message = std::string(sampler.status().message())};
    d.unsupported = absl::IsUnimplemented(sampler.status());
    LocateKey(spec, v1alpha1 ? "suggestionAlgorithm" : "algorithmName", &d);
    diagnostics->push_back(d);
  } else if (!v1alpha1 && spec.algorithm.name == "grid" && spec.max_trial_count) {
    absl::StatusOr<int64_t> size = suggest::GridSize(spec.space, spec.algorithm);
    if (size.ok() && *spec.max_trial_count > *size) {
      diagnostics->push_back(
          {.file = spec.file,
           .path = "spec.maxTrialCount",
           .message = absl::StrCat("Max Trial Count: ", *spec.max_trial_count,
                                   " > all possible search combinations: ", *size,
                                   "; lower maxTrialCount or widen the grid")});
    }
  }
  CheckTrialTemplate(spec, diagnostics);
}

absl::StatusOr<StudySpec> LoadAndCheckStudy(const std::string& path,
                                            std::vector<Diagnostic>* diagnostics) {
  std::vector<Diagnostic> local;
  std::vector<Diagnostic>* diags = diagnostics ? diagnostics : &local;
  absl::StatusOr<StudySpec> spec = LoadStudyFile(path, diags);
  if (!spec.ok()) return spec.status();
  CheckStudy(*spec, diags);
  if (absl::Status s = StatusFromDiagnostics(*diags); !s.ok()) return s;
  return spec;
}

absl::Status ValidateFile(const std::string& path, std::vector<Diagnostic>* diagnostics) {
  // A ConfigMap of worker templates is not a study: check each template the way Katib's
  // StudyJob webhook would when a study names it through templatePath.
  YAML::Node doc;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    spec_internal::Loc loc;
    // Guarded parse (yaml-cpp 0.7 hangs on some malformed input); on any parse error
    // LoadAndCheckStudy below reports it with its position.
    std::optional<std::vector<YAML::Node>> docs =
        spec_internal::LoadYamlDocuments(text.str(), &error, &loc);
    if (docs && docs->size() == 1) doc = (*docs)[0];
  }
  if (doc.IsMap() && doc["kind"] && doc["kind"].IsScalar() && doc["kind"].Scalar() == "ConfigMap") {
    const size_t first = diagnostics->size();
    const YAML::Node data = doc["data"];
    if (!data || !data.IsMap() || data.size() == 0) {
      diagnostics->push_back({.file = path,
                              .line = doc.Mark().line + 1,
                              .path = "data",
                              .message = "a worker-template ConfigMap needs data entries holding "
                                         "Go templates of Job, TFJob or PyTorchJob manifests"});
    } else {
      std::string ns = "default";
      if (doc["metadata"] && doc["metadata"]["namespace"]) {
        ns = doc["metadata"]["namespace"].as<std::string>("default");
      }
      for (auto it = data.begin(); it != data.end(); ++it) {
        StudySpec spec;
        spec.dialect = Dialect::kStudyJobV1alpha1;
        spec.file = path;
        spec.namespace_ = ns;
        spec.name = "worker-template";
        spec.trial_template.source = it->second.as<std::string>("");
        spec.trial_template.source_name = path;
        spec.trial_template.source_line = it->second.Mark().line + 2;  // block scalar body
        std::vector<Diagnostic> found;
        CheckTrialTemplate(spec, &found);
        for (Diagnostic& d : found) {
          d.path = absl::StrCat("data[", it->first.as<std::string>(""), "]",
                                d.path.empty() ? "" : ": ", d.path);
          diagnostics->push_back(d);
        }
      }
    }
    std::vector<Diagnostic> mine(diagnostics->begin() + first, diagnostics->end());
    return StatusFromDiagnostics(mine);
  }
  return LoadAndCheckStudy(path, diagnostics).status();
}

}  // namespace hpt::engine
