// LoadStudyFile / LoadStudyText: the document, apiVersion/kind, metadata and spec.hpt; the
// dialect readers (v1alpha1.cc, v1beta1.cc) do the rest. yaml-cpp exceptions stop here.
#include <algorithm>
#include <exception>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/spec/config_maps.h"
#include "engine/spec/loader.h"
#include "engine/spec/study_spec.h"
#include "engine/spec/yaml_reader.h"

namespace hpt::engine {
namespace {

using spec_internal::ConfigMapFinder;
using spec_internal::Field;
using spec_internal::LoadContext;
using spec_internal::Loc;
using spec_internal::LocOf;
using spec_internal::MapReader;
using spec_internal::Quote;
using spec_internal::Require;
using spec_internal::Sink;

constexpr char kV1alpha1[] = "kubeflow.org/v1alpha1";
constexpr char kV1beta1[] = "kubeflow.org/v1beta1";
constexpr char kSupported[] =
    "hpt reads kind StudyJob (apiVersion kubeflow.org/v1alpha1) and kind Experiment (apiVersion "
    "kubeflow.org/v1beta1)";
constexpr size_t kMaxV1beta1NameLength = 40;

// The directory ConfigMap files are looked up in: the study file's, or none for text that did not
// come from a file ("<string>", "<stdin>", "").
std::string BaseDir(const std::string& file) {
  if (file.empty() || file.front() == '<') return "";
  std::filesystem::path parent = std::filesystem::path(file).parent_path();
  return parent.empty() ? "." : parent.string();
}

std::string KindOf(const YAML::Node& doc) {
  if (!doc.IsMap()) return "";
  const YAML::Node kind = doc["kind"];
  return kind.IsDefined() && kind.IsScalar() ? kind.Scalar() : "";
}

bool IsStudyKind(const std::string& kind) { return kind == "StudyJob" || kind == "Experiment"; }

// ^[a-z]([-a-z0-9]*[a-z0-9])?$, anchored at both ends (Katib's check is unanchored at the end).
bool IsValidV1beta1Name(absl::string_view s) {
  if (s.empty() || s.front() < 'a' || s.front() > 'z' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

void ReadMetadata(Sink* sink, const Field& field, StudySpec* out) {
  out->namespace_ = "default";
  if (!Require(sink, field, "{name, namespace, labels, annotations}")) return;
  MapReader m(sink, field);
  if (!m.is_map()) return;
  Field name = m.Get("name");
  Field ns = m.Get("namespace");
  Field labels = m.Get("labels");
  Field annotations = m.Get("annotations");
  // Kubernetes fills these in; a manifest saved from a cluster carries them. Accepted, ignored.
  m.Accept({"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
            "deletionGracePeriodSeconds", "finalizers", "ownerReferences", "managedFields",
            "selfLink"});
  m.ReportUnknown(false, "name, namespace, labels, annotations");

  if (Require(sink, name, "the study's name")) {
    if (std::optional<std::string> s = spec_internal::ReadString(sink, name)) {
      out->name = *s;
      if (s->empty()) {
        sink->Error(name.loc, name.path, "must not be empty");
      } else if (out->dialect == Dialect::kExperimentV1beta1) {
        if (!IsValidV1beta1Name(*s)) {
          sink->Error(name.loc, name.path,
                      absl::StrCat("must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ (lowercase letters, "
                                   "digits and '-', starting with a letter and not ending with "
                                   "'-'), got ",
                                   Quote(*s)));
        }
        if (s->size() > kMaxV1beta1NameLength) {
          sink->Error(name.loc, name.path,
                      absl::StrCat("must be at most ", kMaxV1beta1NameLength,
                                   " characters (trial and job names are derived from it), got ",
                                   s->size()));
        }
      }
    }
  }
  if (std::optional<std::string> s = spec_internal::ReadString(sink, ns)) {
    if (!s->empty()) out->namespace_ = *s;
  }
  if (auto l = spec_internal::ReadStringMap(sink, labels)) out->labels = std::move(*l);
  if (auto a = spec_internal::ReadStringMap(sink, annotations)) out->annotations = std::move(*a);
}

void ReadStudy(const std::string& text, Sink* sink, StudySpec* out) {
  std::optional<std::vector<YAML::Node>> loaded =
      spec_internal::LoadFileDocuments(sink, text, absl::StrCat("expected a study: ", kSupported));
  if (!loaded) return;
  const std::vector<YAML::Node>& docs = *loaded;

  // The study: the only document, or the one document of a study kind; other documents may hold
  // the ConfigMaps the study uses.
  size_t study_index = 0;
  if (docs.size() > 1) {
    std::vector<size_t> studies;
    std::vector<std::string> kinds;
    for (size_t i = 0; i < docs.size(); ++i) {
      std::string kind = KindOf(docs[i]);
      if (IsStudyKind(kind)) studies.push_back(i);
      kinds.push_back(kind.empty() ? "(no kind)" : kind);
    }
    if (studies.empty()) {
      sink->Error({1, 1}, "",
                  absl::StrCat("none of the ", docs.size(), " documents is a study (kinds: ",
                               absl::StrJoin(kinds, ", "), "); ", kSupported));
      return;
    }
    for (size_t i = 1; i < studies.size(); ++i) {
      sink->Error(LocOf(docs[studies[i]]), "",
                  absl::StrCat("a second study in the same file (the first starts at line ",
                               LocOf(docs[studies[0]]).line, "); hpt loads one study per file"));
    }
    study_index = studies[0];
  }
  const YAML::Node& doc = docs[study_index];
  std::vector<YAML::Node> others;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i != study_index) others.push_back(docs[i]);
  }

  if (!doc.IsMap()) {
    sink->Error(LocOf(doc), "",
                absl::StrCat("a study must be a map with apiVersion, kind, metadata and spec, got ",
                             spec_internal::Describe(doc)));
    return;
  }
  MapReader root(sink, doc, "");
  Field api = root.Get("apiVersion");
  Field kind = root.Get("kind");
  Field metadata = root.Get("metadata");
  Field spec = root.Get("spec");
  root.Accept({"status"});
  std::string api_text = spec_internal::ReadString(sink, api).value_or("");
  std::string kind_text = spec_internal::ReadString(sink, kind).value_or("");

  if (kind_text == "ConfigMap") {
    sink->Error(kind.loc, kind.path,
                absl::StrCat("this is a ConfigMap, not a study; ", kSupported,
                             ". A ConfigMap holding trial templates is read by the study that "
                             "uses it (from a file beside the study or one listed in "
                             "spec.hpt.configMapFiles)"));
    return;
  }
  if (api_text == kV1alpha1 && kind_text == "StudyJob") {
    out->dialect = Dialect::kStudyJobV1alpha1;
  } else if (api_text == kV1beta1 && kind_text == "Experiment") {
    out->dialect = Dialect::kExperimentV1beta1;
  } else {
    const Field& at = kind ? kind : api;
    std::string got = (api || kind) ? absl::StrCat("apiVersion ", Quote(api_text), " with kind ",
                                                   Quote(kind_text), " is not a study hpt reads")
                                    : "apiVersion and kind are missing";
    sink->Error(at.present ? at.loc : Loc{1, 1}, at.present ? at.path : "",
                absl::StrCat(got, "; ", kSupported));
    return;
  }
  out->api_version = api_text;
  out->kind = kind_text;

  ReadMetadata(sink, metadata, out);
  root.ReportUnknown(false, "apiVersion, kind, metadata, spec, status");
  if (!Require(sink, spec, "the study's objective, parameters, algorithm and trial template")) {
    return;
  }
  MapReader spec_map(sink, spec);
  if (!spec_map.is_map()) return;

  ConfigMapFinder finder(sink, out->file, BaseDir(out->file));
  finder.AddStudyDocuments(others, text);
  spec_internal::ReadHptExtensions(sink, spec_map.Get("hpt"), &finder, &out->hpt);
  LoadContext ctx{sink, text, &finder};
  if (out->dialect == Dialect::kStudyJobV1alpha1) {
    spec_internal::ReadStudyJobV1alpha1(ctx, spec_map, out);
  } else {
    spec_internal::ReadExperimentV1beta1(ctx, spec_map, out);
  }
}

// Orders the diagnostics by place (the study file first), hands them out, and picks the status.
}  // namespace

absl::StatusOr<StudySpec> LoadStudyText(const std::string& text, const std::string& file_name,
                                        std::vector<Diagnostic>* diagnostics) {
  StudySpec spec;
  spec.file = file_name.empty() ? "<string>" : file_name;
  spec.source_yaml = text;
  absl::Status s = spec_internal::RunLoad(
      spec.file, "study", [&](Sink* sink) { ReadStudy(text, sink, &spec); }, diagnostics);
  if (!s.ok()) return s;
  return spec;
}

absl::StatusOr<StudySpec> LoadStudyFile(const std::string& path,
                                        std::vector<Diagnostic>* diagnostics) {
  absl::StatusOr<std::string> text = spec_internal::ReadLoadedFile(path, diagnostics);
  if (!text.ok()) return text.status();
  return LoadStudyText(*text, path, diagnostics);
}

}  // namespace hpt::engine
