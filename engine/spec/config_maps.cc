#include "engine/spec/config_maps.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hpt::engine::spec_internal {
namespace {

namespace fs = std::filesystem;

// Files beside the study larger than this are not ConfigMaps anyone writes by hand; skipped.
constexpr std::uintmax_t kMaxScannedFileBytes = 4 << 20;
// No study or ConfigMap file is this large; reading stops here (/dev/zero, a runaway pipe).
constexpr size_t kMaxTextFileBytes = 16 << 20;

std::string ScalarOr(const YAML::Node& map, const char* key) {
  if (!map.IsMap()) return "";
  YAML::Node v = map[key];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": no such file"));
  }
  if (fs::is_directory(st)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": it is a directory, not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string out;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    out.append(buffer, static_cast<size_t>(in.gcount()));
    if (out.size() > kMaxTextFileBytes) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", path, ": larger than ", kMaxTextFileBytes >> 20,
                       " MiB, too large for a study or ConfigMap file"));
    }
  }
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat("error while reading ", path));
  }
  return out;
}

ConfigMapFinder::ConfigMapFinder(Sink* sink, std::string study_file, std::string base_dir)
    : sink_(sink), study_file_(std::move(study_file)), base_dir_(std::move(base_dir)) {}

void ConfigMapFinder::AddStudyDocuments(const std::vector<YAML::Node>& docs,
                                        absl::string_view text) {
  if (docs.empty()) return;
  auto shared = std::make_shared<const std::string>(text);
  for (const YAML::Node& d : docs) docs_.push_back(Doc{study_file_, shared, d});
}

bool ConfigMapFinder::AlreadyLoaded(const std::string& path) const {
  std::error_code ec;
  for (const std::string& f : files_) {
    if (f == path || fs::equivalent(f, path, ec)) return true;
  }
  if (fs::equivalent(study_file_, path, ec)) return true;
  return false;
}

void ConfigMapFinder::AddFile(const std::string& relative_path, const Field& entry) {
  fs::path p = relative_path;
  if (p.is_relative() && !base_dir_.empty()) p = fs::path(base_dir_) / p;
  std::string path = p.lexically_normal().string();
  if (AlreadyLoaded(path)) return;
  // A device or a pipe could block the reader forever (a FIFO without a writer).
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st) && !fs::is_directory(st)) {
    sink_->Error(entry.loc, entry.path,
                 absl::StrCat("cannot read ", path,
                              ": not a regular file (a device, a pipe or a socket); list files "
                              "holding ConfigMaps"));
    return;
  }
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) {
    sink_->Error(entry.loc, entry.path,
                 absl::StrCat(text.status().message(),
                              " (paths in spec.hpt.configMapFiles are relative to the study "
                              "file's directory)"));
    return;
  }
  std::string error;
  Loc loc;
  std::optional<std::vector<YAML::Node>> docs = LoadYamlDocuments(*text, &error, &loc);
  if (!docs) {
    sink_->Error(entry.loc, entry.path,
                 absl::StrCat("cannot read ", path, ":", loc.line, ":", loc.column, ": ", error));
    return;
  }
  files_.push_back(path);
  auto shared = std::make_shared<const std::string>(std::move(*text));
  for (const YAML::Node& d : *docs) docs_.push_back(Doc{path, shared, d});
}

void ConfigMapFinder::ScanDirectory() {
  if (scanned_) return;
  scanned_ = true;
  if (base_dir_.empty()) return;
  std::error_code ec;
  std::vector<std::string> candidates;
  for (fs::directory_iterator it(base_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::string ext = p.extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    std::error_code ec2;
    if (!it->is_regular_file(ec2) || ec2) continue;
    if (fs::file_size(p, ec2) > kMaxScannedFileBytes || ec2) continue;
    candidates.push_back(p.lexically_normal().string());
  }
  std::sort(candidates.begin(), candidates.end());
  for (const std::string& path : candidates) {
    if (AlreadyLoaded(path)) continue;
    absl::StatusOr<std::string> text = ReadTextFile(path);
    if (!text.ok()) continue;
    std::string error;
    Loc loc;
    std::optional<std::vector<YAML::Node>> docs = LoadYamlDocuments(*text, &error, &loc);
    // Not ours to judge: a file beside the study need not be YAML we understand.
    if (!docs) continue;
    files_.push_back(path);
    auto shared = std::make_shared<const std::string>(std::move(*text));
    for (const YAML::Node& d : *docs) docs_.push_back(Doc{path, shared, d});
  }
}

std::optional<ConfigMapFinder::Entry> ConfigMapFinder::Find(absl::string_view name,
                                                            absl::string_view namespace_,
                                                            absl::string_view key,
                                                            const Field& at) {
  // Where a ConfigMap of that name was found without the key, for the message.
  std::string found_without_key;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) ScanDirectory();
    for (const Doc& doc : docs_) {
      const YAML::Node& n = doc.node;
      if (!n.IsMap() || ScalarOr(n, "kind") != "ConfigMap") continue;
      YAML::Node meta = n["metadata"];
      if (ScalarOr(meta, "name") != name) continue;
      std::string ns = ScalarOr(meta, "namespace");
      if (!namespace_.empty() && !ns.empty() && ns != namespace_) continue;
      YAML::Node data = n["data"];
      std::optional<YAML::Node> value;
      std::vector<std::string> keys;
      if (data.IsDefined() && data.IsMap()) {
        for (const auto& kv : data) {
          if (!kv.first.IsScalar()) continue;
          keys.push_back(kv.first.Scalar());
          if (kv.first.Scalar() == key && !value) value.emplace(kv.second);
        }
      }
      if (!value) {
        if (found_without_key.empty()) {
          found_without_key =
              absl::StrCat(doc.file, ":", LocOf(n).line,
                           " (its keys: ", keys.empty() ? "none" : absl::StrJoin(keys, ", "), ")");
        }
        continue;
      }
      if (!value->IsScalar()) {
        Diagnostic d;
        d.file = doc.file;
        Loc loc = LocOf(*value);
        d.line = loc.line;
        d.column = loc.column;
        d.path = absl::StrCat("data.", key);
        d.message = absl::StrCat("must be the template text (a string, e.g. a `|` block), got ",
                                 Describe(*value));
        sink_->Add(std::move(d));
        return std::nullopt;
      }
      return Entry{value->Scalar(), doc.file, ScalarTextLine(*value, *doc.text)};
    }
  }

  std::string what = absl::StrCat("ConfigMap ", Quote(name));
  if (!namespace_.empty()) absl::StrAppend(&what, " (namespace ", Quote(namespace_), ")");
  if (!found_without_key.empty()) {
    sink_->Error(at.loc, at.path,
                 absl::StrCat(what, " has no key ", Quote(key), ": found at ", found_without_key));
    return std::nullopt;
  }
  std::vector<std::string> searched;
  for (const std::string& f : files_) searched.push_back(fs::path(f).filename().string());
  std::string where;
  if (searched.empty()) {
    where = base_dir_.empty() ? "no files to search: the study was given as text"
                              : absl::StrCat("no YAML files in ", base_dir_);
  } else {
    constexpr size_t kShown = 8;
    size_t more = searched.size() > kShown ? searched.size() - kShown : 0;
    if (more > 0) searched.resize(kShown);
    where = absl::StrCat("searched ", absl::StrJoin(searched, ", "),
                         more > 0 ? absl::StrCat(" and ", more, " more") : "");
  }
  sink_->Error(at.loc, at.path,
               absl::StrCat(what, " with key ", Quote(key), " not found (", where,
                            "); put the ConfigMap in a .yaml file beside the study, or list the "
                            "file that holds it in spec.hpt.configMapFiles"));
  return std::nullopt;
}

}  // namespace hpt::engine::spec_internal
