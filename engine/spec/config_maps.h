// Internal to engine/spec: finds trial templates kept in Kubernetes ConfigMaps.
//
// Katib reads v1alpha1 worker templates from ConfigMap `worker-template` and v1beta1
// `trialTemplate.configMap` entries from the cluster. hpt reads them from files instead, in this
// order: other documents of the study file itself, the files listed in `spec.hpt.configMapFiles`
// (relative to the study file), then every *.yaml / *.yml file in the study file's directory.
//
//   ConfigMapFinder finder(&sink, "exp/study.yaml", "exp");
//   std::optional<ConfigMapFinder::Entry> e =
//       finder.Find("worker-template", "", "cpuWorkerTemplate.yaml", field);
//
// Thread-compatible.
#ifndef HPT_ENGINE_SPEC_CONFIG_MAPS_H_
#define HPT_ENGINE_SPEC_CONFIG_MAPS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/spec/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace hpt::engine::spec_internal {

// Reads a whole file. NotFound when it does not exist, FailedPrecondition when it cannot be read
// (a directory, no permission) or holds more than 16 MiB (reading stops there: /dev/zero); the
// message names the path.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

class ConfigMapFinder {
 public:
  struct Entry {
    std::string text;  // data[key]
    std::string file;  // the file holding the ConfigMap
    int line = 0;      // 1-based line where `text` begins in `file`
  };

  // `study_file` is the study's path as given; `base_dir` the directory relative paths start
  // from and the one scanned, or empty when the study has no directory (it was given as text).
  ConfigMapFinder(Sink* sink, std::string study_file, std::string base_dir);

  // Documents of the study file other than the study itself (searched first).
  void AddStudyDocuments(const std::vector<YAML::Node>& docs, absl::string_view text);
  // Loads one `spec.hpt.configMapFiles` entry; a missing, malformed or non-regular file (a device,
  // a pipe) is reported at `entry`.
  void AddFile(const std::string& relative_path, const Field& entry);

  // data[key] of the ConfigMap called `name` (when `namespace_` is non-empty, a ConfigMap that
  // names a different namespace does not match). Not found: an error at `at` naming the ConfigMap,
  // the key, the files searched and how to supply it; returns nullopt.
  std::optional<Entry> Find(absl::string_view name, absl::string_view namespace_,
                            absl::string_view key, const Field& at);

 private:
  struct Doc {
    std::string file;
    std::shared_ptr<const std::string> text;
    YAML::Node node;
  };
  void ScanDirectory();
  bool AlreadyLoaded(const std::string& path) const;

  Sink* sink_;
  std::string study_file_;
  std::string base_dir_;
  bool scanned_ = false;
  std::vector<std::string> files_;  // every file searched, in order
  std::vector<Doc> docs_;
};

}  // namespace hpt::engine::spec_internal

#endif  // HPT_ENGINE_SPEC_CONFIG_MAPS_H_
