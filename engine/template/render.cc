#include "engine/template/render.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "engine/template/gotemplate.h"
#include "engine/template/yaml_json.h"
#include "trial_runner/k8s/job_settings.h"
#include "trial_runner/k8s/labels.h"

namespace hpt::engine {
namespace {

using nlohmann::json;

using runner::k8s::kKatibExperimentLabel;
using runner::k8s::kKatibTrialLabel;
using runner::k8s::kStudyLabel;
using runner::k8s::kTrialLabel;
constexpr char kTrialNameEnv[] = "KATIB_TRIAL_NAME";
constexpr char kGpuResource[] = "nvidia.com/gpu";
constexpr char kParamPrefix[] = "${trialParameters.";
constexpr char kMetaPrefix[] = "${trialSpec.";
constexpr char kMetaAllowed[] =
    "${trialSpec.Name}, ${trialSpec.Namespace}, ${trialSpec.Kind}, ${trialSpec.APIVersion}, "
    "${trialSpec.Labels[<key>]}, ${trialSpec.Annotations[<key>]}";
constexpr char kInvalidWorkerTemplate[] = "Invalid worker template.";
constexpr char kUnreferencedParameter[] =
    "unable to find parameter from ParameterAssignment in TrialParameters";

// The most text one rendering may produce. A template renders to at most its size plus, per
// ${trialParameters.x} (v1beta1) or range iteration (v1alpha1), a parameter value, so a small
// study could otherwise ask for gigabytes. Kubernetes stores objects of at most 1.5 MiB (etcd's
// request limit) and Linux passes at most 2 MiB of arguments to a process.
constexpr size_t kMaxRenderedBytes = 4 << 20;

// A position in the file the template came from; 0 when unknown.
struct Loc {
  int line = 0;
  int column = 0;
};

// Returns InvalidArgument(`message`) and records where the problem is.
absl::Status Problem(Loc* loc, Loc at, std::string message) {
  if (loc != nullptr) *loc = at;
  return absl::InvalidArgumentError(std::move(message));
}

// The file a template position refers to: the template's own source when the loader named one.
std::string TemplateFile(const StudySpec& spec) {
  const TrialTemplateSpec& t = spec.trial_template;
  return t.source_name.empty() ? spec.file : t.source_name;
}

// True when the template text is part of the study file itself (so spec.source_yaml holds it).
bool TemplateInStudyFile(const StudySpec& spec) {
  const TrialTemplateSpec& t = spec.trial_template;
  return t.source_name.empty() || t.source_name == spec.file;
}

Loc TemplateStart(const StudySpec& spec) { return Loc{spec.trial_template.source_line, 0}; }

std::string_view LineOf(std::string_view text, int line) {
  int current = 1;
  size_t begin = 0;
  while (current < line) {
    const size_t nl = text.find('\n', begin);
    if (nl == std::string_view::npos) return {};
    begin = nl + 1;
    ++current;
  }
  const size_t end = text.find('\n', begin);
  std::string_view out = text.substr(begin, end == std::string_view::npos ? end : end - begin);
  if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
  return out;
}

// Maps a position inside the template text to the study file. The line follows from source_line;
// the column is known when the file's line ends with the template's line (a block scalar).
Loc MapTemplatePosition(const StudySpec& spec, std::string_view template_text,
                        gotemplate::Position p) {
  const int first = spec.trial_template.source_line;
  if (first <= 0) return Loc{};
  Loc loc{first + p.line - 1, 0};
  if (TemplateInStudyFile(spec)) {
    const std::string_view file_line = LineOf(spec.source_yaml, loc.line);
    const std::string_view tmpl_line = LineOf(template_text, p.line);
    if (!tmpl_line.empty() && file_line.size() >= tmpl_line.size() &&
        file_line.substr(file_line.size() - tmpl_line.size()) == tmpl_line) {
      loc.column = static_cast<int>(file_line.size() - tmpl_line.size()) + p.column;
    }
  }
  return loc;
}

// The first place `needle` occurs in the study file, when the template is part of it.
Loc FindInStudyFile(const StudySpec& spec, std::string_view needle) {
  if (!TemplateInStudyFile(spec) || needle.empty()) return TemplateStart(spec);
  const size_t at = spec.source_yaml.find(needle);
  if (at == std::string::npos) return TemplateStart(spec);
  Loc loc{1, 1};
  for (size_t i = 0; i < at; ++i) {
    if (spec.source_yaml[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else {
      ++loc.column;
    }
  }
  return loc;
}

// "<file>:<line>:<column>: <message>" with whatever of the location is known.
absl::Status WithLocation(const StudySpec& spec, Loc loc, const absl::Status& s) {
  if (s.ok()) return s;
  std::string where = TemplateFile(spec);
  if (loc.line > 0) {
    absl::StrAppend(&where, ":", loc.line);
    if (loc.column > 0) absl::StrAppend(&where, ":", loc.column);
  }
  if (where.empty()) return s;
  return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
}

std::string TypeName(const json& j) { return std::string(j.type_name()); }

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Returns parent[key] as an object, creating it when absent or null.
absl::StatusOr<json*> ObjectChild(json& parent, const std::string& key, const std::string& path) {
  json& child = parent[key];
  if (child.is_null()) child = json::object();
  if (!child.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " must be a map, got ", TypeName(child)));
  }
  return &child;
}

// parent[key] when it is an object, else nullptr.
const json* FindObject(const json& parent, const std::string& key) {
  if (!parent.is_object()) return nullptr;
  const auto it = parent.find(key);
  if (it == parent.end() || !it->is_object()) return nullptr;
  return &*it;
}

// obj[key] when obj is a map and that is a non-empty list, else nullptr.
const json* FindNonEmptyArray(const json* obj, const std::string& key) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  const auto it = obj->find(key);
  if (it == obj->end() || !it->is_array() || it->empty()) return nullptr;
  return &*it;
}

std::string StringAt(const json& obj, const std::string& key) {
  if (!obj.is_object()) return "";
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// ----------------------------------------------------------------------------------------------
// Workload kinds.

struct KindInfo {
  const char* kind;
  const char* api_version;  // the one Katib allows by default
  const char* replica_key;  // nullptr for a batch Job (its pod template is spec.template)
  std::vector<const char*> primary_roles;  // the first present one holds the primary container
};

const std::vector<KindInfo>& Kinds() {
  static const std::vector<KindInfo> kinds = {
      {"Job", "batch/v1", nullptr, {}},
      {"TFJob", "kubeflow.org/v1", "tfReplicaSpecs", {"Chief", "Master", "Worker"}},
      {"PyTorchJob", "kubeflow.org/v1", "pytorchReplicaSpecs", {"Master", "Worker"}},
      {"XGBoostJob", "kubeflow.org/v1", "xgbReplicaSpecs", {"Master", "Worker"}},
      {"MPIJob", "kubeflow.org/v1", "mpiReplicaSpecs", {"Launcher", "Worker"}},
  };
  return kinds;
}

const KindInfo* FindKind(const std::string& kind) {
  for (const KindInfo& k : Kinds()) {
    if (kind == k.kind) return &k;
  }
  return nullptr;
}

std::string KindList() {
  std::vector<std::string> names;
  for (const KindInfo& k : Kinds()) names.push_back(k.kind);
  return absl::StrJoin(names, ", ");
}

struct PodTemplate {
  json* pod;  // the PodTemplateSpec object
  std::string path;
};

// The pod templates of a workload; the first one is the primary container's.
absl::StatusOr<std::vector<PodTemplate>> PodTemplates(json& manifest, const KindInfo& kind) {
  std::vector<PodTemplate> out;
  auto spec_it = manifest.find("spec");
  if (spec_it == manifest.end() || !spec_it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("a ", kind.kind, " needs a spec map"));
  }
  json& spec = *spec_it;
  if (kind.replica_key == nullptr) {
    auto t = spec.find("template");
    if (t == spec.end() || !t->is_object()) {
      return absl::InvalidArgumentError("a Job needs spec.template (the pod template)");
    }
    out.push_back({&*t, "spec.template"});
    return out;
  }
  const std::string replicas_path = absl::StrCat("spec.", kind.replica_key);
  auto replicas = spec.find(kind.replica_key);
  if (replicas == spec.end() || !replicas->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kind.kind, " needs ", replicas_path, " (a map of replica roles)"));
  }
  auto template_of = [&](const std::string& role) -> json* {
    auto r = replicas->find(role);
    if (r == replicas->end() || !r->is_object()) return nullptr;
    auto t = r->find("template");
    return t != r->end() && t->is_object() ? &*t : nullptr;
  };
  for (const char* role : kind.primary_roles) {
    if (json* t = template_of(role)) {
      out.push_back({t, absl::StrCat(replicas_path, ".", role, ".template")});
      break;
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        replicas_path, " has no replica with a pod template among ",
        absl::StrJoin(kind.primary_roles, ", "), "; the primary container is looked up there"));
  }
  for (auto& [role, unused] : replicas->items()) {
    json* t = template_of(role);
    if (t != nullptr && t != out.front().pod) {
      out.push_back({t, absl::StrCat(replicas_path, ".", role, ".template")});
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------------------
// v1alpha1: the Go-template subset.

std::string KatibTypeName(const StudySpec& spec, const std::string& param) {
  const suggest::ParameterSpec* p = spec.space.Find(param);
  if (p == nullptr) return "UNKNOWN_TYPE";
  switch (p->type) {
    case suggest::ParamType::kDouble:
      return "DOUBLE";
    case suggest::ParamType::kInt:
      return "INT";
    case suggest::ParamType::kDiscrete:
      return "DISCRETE";
    case suggest::ParamType::kCategorical:
      return "CATEGORICAL";
  }
  return "UNKNOWN_TYPE";
}

gotemplate::WorkerData WorkerDataOf(const StudySpec& spec, const TrialContext& ctx) {
  gotemplate::WorkerData d{.study_id = ctx.study_name,
                           .trial_id = ctx.trial_name,
                           .worker_id = ctx.trial_name,
                           .name_space = ctx.namespace_};
  for (const suggest::ParamValue& v : ctx.params) {
    d.hyper_parameters.push_back({v.name, v.value, KatibTypeName(spec, v.name)});
  }
  return d;
}

// Renders one spec.hpt.local.command element (or any short text) as a Go template.
absl::StatusOr<std::string> RenderGoText(const std::string& text, const std::string& what,
                                         const gotemplate::WorkerData& data) {
  absl::StatusOr<gotemplate::Template> t =
      gotemplate::Template::Parse(text, [&](gotemplate::Position p) {
        return absl::StrCat(what, ", template line ", p.line, ", column ", p.column);
      });
  if (!t.ok()) return t.status();
  absl::StatusOr<std::string> out = t->Execute(data, kMaxRenderedBytes);
  if (!out.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " renders to more than ", kMaxRenderedBytes >> 20, " MiB"));
  }
  return out;
}

// Renders the worker template and reads it as YAML; checks metadata.name/namespace as Katib's
// webhook and controller do.
absl::StatusOr<json> RenderV1alpha1Manifest(const StudySpec& spec, const TrialContext& ctx,
                                            Loc* loc) {
  const std::string& source = spec.trial_template.source;
  if (absl::StripAsciiWhitespace(source).empty()) {
    return Problem(loc, TemplateStart(spec), "the worker template is empty");
  }
  gotemplate::Position pos;
  absl::StatusOr<gotemplate::Template> t = gotemplate::Template::Parse(source, nullptr, &pos);
  if (!t.ok()) {
    return Problem(loc, MapTemplatePosition(spec, source, pos), std::string(t.status().message()));
  }
  absl::StatusOr<std::string> rendered = t->Execute(WorkerDataOf(spec, ctx), kMaxRenderedBytes);
  if (!rendered.ok()) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat("the worker template rendered for trial ", Quote(ctx.trial_name),
                                " is larger than ", kMaxRenderedBytes >> 20,
                                " MiB (each {{range}} repeats its text per hyperparameter)"));
  }
  absl::StatusOr<json> manifest = YamlToJson(*rendered);
  if (!manifest.ok()) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat("the worker template rendered for trial ", Quote(ctx.trial_name),
                                " is not a valid manifest: ", manifest.status().message(),
                                " (line numbers count lines of the rendered text)"));
  }
  if (!manifest->is_object()) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat("the worker template must render to a map (a Kubernetes "
                                "object), got ",
                                TypeName(*manifest)));
  }
  const json* metadata = FindObject(*manifest, "metadata");
  const std::string name = metadata ? StringAt(*metadata, "name") : "";
  const std::string ns = metadata ? StringAt(*metadata, "namespace") : "";
  if (name != ctx.trial_name) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat(kInvalidWorkerTemplate, " metadata.name ",
                                name.empty() ? "is missing" : "is " + Quote(name),
                                " but must be the WorkerID ", Quote(ctx.trial_name),
                                "; write \"name: {{.WorkerID}}\""));
  }
  if (ns != ctx.namespace_) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat(kInvalidWorkerTemplate, " metadata.namespace ",
                                ns.empty() ? "is missing" : "is " + Quote(ns),
                                " but must be the study's namespace ", Quote(ctx.namespace_),
                                "; write \"namespace: {{.NameSpace}}\""));
  }
  return manifest;
}

// ----------------------------------------------------------------------------------------------
// v1beta1: ${trialParameters.x} substitution.

struct MetaRef {
  std::string key;    // Name, Namespace, Kind, APIVersion, Labels, Annotations
  std::string index;  // Labels[index] / Annotations[index]
};

// Whether `reference` is a trial-metadata reference ("${trialSpec.…}"); `ok` says whether it is
// a valid one.
bool IsMetaReference(const std::string& reference, MetaRef* out, bool* ok) {
  *ok = false;
  if (reference.rfind(kMetaPrefix, 0) != 0) return false;
  if (reference.back() != '}') return true;
  const std::string inner =
      reference.substr(sizeof(kMetaPrefix) - 1, reference.size() - sizeof(kMetaPrefix));
  if (inner == "Name" || inner == "Namespace" || inner == "Kind" || inner == "APIVersion") {
    out->key = inner;
    *ok = true;
    return true;
  }
  for (const char* key : {"Labels", "Annotations"}) {
    const std::string open = absl::StrCat(key, "[");
    if (inner.rfind(open, 0) == 0 && inner.size() > open.size() + 1 && inner.back() == ']') {
      out->key = key;
      out->index = inner.substr(open.size(), inner.size() - open.size() - 1);
      *ok = true;
      return true;
    }
  }
  return true;
}

std::string Placeholder(const std::string& name) { return absl::StrCat(kParamPrefix, name, "}"); }

// Every match of Katib's leftover check \$\{trialParameters\..+?\}, in order, without repeats.
// Linear in the text's size.
std::vector<std::string> LeftoverPlaceholders(std::string_view text) {
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  const std::string_view prefix = kParamPrefix;
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string_view::npos) {
    size_t i = at + prefix.size();
    if (i < text.size() && text[i] != '\n') ++i;  // ".+?" takes at least one character
    while (i < text.size() && text[i] != '}' && text[i] != '\n') ++i;
    if (i < text.size() && text[i] == '}' && i > at + prefix.size()) {
      const std::string_view p = text.substr(at, i + 1 - at);
      if (seen.insert(p).second) out.emplace_back(p);
      at = i + 1;
    } else {
      // No '}' before the end of the line: no later match starts before it either.
      at = std::max(i, at + 1);
    }
  }
  return out;
}

// The first few of `items`, joined, and how many more there are.
std::string JoinSome(const std::vector<std::string>& items) {
  constexpr size_t kShown = 10;
  if (items.size() <= kShown) return absl::StrJoin(items, ", ");
  return absl::StrCat(absl::StrJoin(items.begin(), items.begin() + kShown, ", "), " and ",
                      items.size() - kShown, " more");
}

std::string TrialParameterNames(const StudySpec& spec) {
  std::vector<std::string> names;
  for (const TrialParameterSpec& tp : spec.trial_template.trial_parameters)
    names.push_back(tp.name);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

std::string SpaceNames(const StudySpec& spec) {
  std::vector<std::string> names;
  for (const suggest::ParameterSpec& p : spec.space.params) names.push_back(p.name);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

bool LooksLikeJson(std::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) return c == '{' || c == '[';
  }
  return false;
}

// The template text as an object: JSON (a serialized trialSpec), else YAML (a ConfigMap entry).
absl::StatusOr<json> ParseTemplateText(std::string_view text) {
  std::string json_error;
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    json_error = e.what();
  }
  absl::StatusOr<json> yaml = YamlToJson(text);
  if (yaml.ok()) return yaml;
  if (LooksLikeJson(text)) return absl::InvalidArgumentError("invalid JSON: " + json_error);
  return yaml.status();
}

// Substitutes every ${trialParameters.x} in `text` (Katib's plain replace, no escaping) and
// rejects placeholders that no trialParameter defines.
absl::StatusOr<std::string> Substitute(
    const StudySpec& spec, std::string_view text,
    const std::vector<std::pair<std::string, std::string>>& values, const std::string& what,
    Loc* loc) {
  std::vector<std::pair<std::string, std::string>> replacements;
  for (const auto& [name, value] : values) replacements.emplace_back(Placeholder(name), value);
  // The output's size first: every placeholder may be used any number of times.
  std::map<std::string_view, size_t> value_sizes;
  for (const auto& [placeholder, value] : replacements) value_sizes[placeholder] = value.size();
  size_t size = text.size();
  size_t close = text.find('}');  // the first '}' at or after `at` (each found once: linear)
  for (size_t at = text.find(kParamPrefix); at != std::string_view::npos;
       at = text.find(kParamPrefix, at + 1)) {
    if (close < at) close = text.find('}', at);
    if (close == std::string_view::npos) break;
    const auto it = value_sizes.find(text.substr(at, close + 1 - at));
    if (it == value_sizes.end()) continue;
    size += it->second - std::min(it->second, close + 1 - at);
    if (size > kMaxRenderedBytes) {
      return Problem(loc, TemplateStart(spec),
                     absl::StrCat(what, " is larger than ", kMaxRenderedBytes >> 20,
                                  " MiB with the ${trialParameters.x} replaced by their values"));
    }
    at = close;
  }
  std::string out = absl::StrReplaceAll(absl::string_view(text.data(), text.size()), replacements);
  const std::vector<std::string> leftovers = LeftoverPlaceholders(out);
  if (!leftovers.empty()) {
    return Problem(loc, FindInStudyFile(spec, leftovers.front()),
                   absl::StrCat(what, " uses ", JoinSome(leftovers),
                                ", which spec.trialTemplate.trialParameters does not define "
                                "(defined: ",
                                TrialParameterNames(spec), ")"));
  }
  return out;
}

// Resolves each trialParameter to its value for this trial, with Katib's run-time checks.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> TrialParameterValues(
    const StudySpec& spec, const TrialContext& ctx, Loc* loc) {
  const Loc start = TemplateStart(spec);
  std::vector<std::pair<std::string, std::string>> values;
  std::set<std::string> referenced;
  size_t non_meta = 0;
  std::optional<json> tmpl;  // the template's own object, parsed when a reference needs it
  for (const TrialParameterSpec& tp : spec.trial_template.trial_parameters) {
    const std::string what =
        absl::StrCat("trialParameter ", Quote(tp.name), " (reference ", Quote(tp.reference), ")");
    MetaRef meta;
    bool valid = false;
    if (!IsMetaReference(tp.reference, &meta, &valid)) {
      if (spec.space.Find(tp.reference) == nullptr) {
        return Problem(loc, start,
                       absl::StrCat(what, ": the reference is neither a parameter of the study (",
                                    SpaceNames(spec), ") nor a trial metadata reference (",
                                    kMetaAllowed, ")"));
      }
      ++non_meta;
      referenced.insert(tp.reference);
      const suggest::ParamValue* v = nullptr;
      for (const suggest::ParamValue& pv : ctx.params) {
        if (pv.name == tp.reference) v = &pv;
      }
      if (v == nullptr) {
        return Problem(loc, start,
                       absl::StrCat(what, ": the assignment of trial ", Quote(ctx.trial_name),
                                    " has no value for parameter ", Quote(tp.reference)));
      }
      values.emplace_back(tp.name, v->value);
      continue;
    }
    if (!valid) {
      return Problem(
          loc, start,
          absl::StrCat(what, ": not a valid trial metadata reference; allowed: ", kMetaAllowed));
    }
    if (meta.key == "Name") {
      values.emplace_back(tp.name, ctx.trial_name);
      continue;
    }
    if (meta.key == "Namespace") {
      values.emplace_back(tp.name, ctx.namespace_);
      continue;
    }
    if (!tmpl.has_value()) {
      absl::StatusOr<json> parsed = ParseTemplateText(spec.trial_template.source);
      if (!parsed.ok()) {
        return Problem(
            loc, start,
            absl::StrCat(what, ": cannot read the trial template: ", parsed.status().message()));
      }
      tmpl = *std::move(parsed);
    }
    std::string value;
    bool found = false;
    if (meta.key == "Kind" || meta.key == "APIVersion") {
      const std::string field = meta.key == "Kind" ? "kind" : "apiVersion";
      value = StringAt(*tmpl, field);
      found = !value.empty();
      if (!found) {
        return Problem(loc, start, absl::StrCat(what, ": the trial template has no ", field));
      }
    } else {
      const std::string field = meta.key == "Labels" ? "labels" : "annotations";
      const json* metadata = FindObject(*tmpl, "metadata");
      const json* map = metadata ? FindObject(*metadata, field) : nullptr;
      if (map != nullptr) {
        auto it = map->find(meta.index);
        if (it != map->end() && it->is_string()) {
          value = it->get<std::string>();
          found = true;
        }
      }
      if (!found) {
        return Problem(loc, start,
                       absl::StrCat(what, ": the trial template's metadata.", field, " has no key ",
                                    Quote(meta.index)));
      }
    }
    values.emplace_back(tp.name, value);
  }
  for (const suggest::ParamValue& pv : ctx.params) {
    if (referenced.count(pv.name) == 0) {
      return Problem(
          loc, start,
          absl::StrCat(kUnreferencedParameter, ": parameter ", Quote(pv.name),
                       " is not the reference of any spec.trialTemplate.trialParameters entry; "
                       "add one (e.g. {name: ",
                       pv.name, ", reference: ", pv.name, "}) and use ", Placeholder(pv.name),
                       " in the template"));
    }
  }
  if (ctx.params.size() != non_meta) {
    return Problem(loc, start,
                   absl::StrCat("the assignment of trial ", Quote(ctx.trial_name), " has ",
                                ctx.params.size(), " parameter values but the template has ",
                                non_meta, " non-metadata trialParameters; they must be equal"));
  }
  return values;
}

absl::StatusOr<json> RenderV1beta1Manifest(
    const StudySpec& spec, const TrialContext& ctx,
    std::vector<std::pair<std::string, std::string>>* values_out, Loc* loc) {
  const std::string& source = spec.trial_template.source;
  if (absl::StripAsciiWhitespace(source).empty()) {
    return Problem(loc, TemplateStart(spec), "the trial template is empty");
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> values =
      TrialParameterValues(spec, ctx, loc);
  if (!values.ok()) return values.status();
  absl::StatusOr<std::string> text = Substitute(spec, source, *values, "the trial template", loc);
  if (!text.ok()) return text.status();
  absl::StatusOr<json> manifest = ParseTemplateText(*text);
  if (!manifest.ok()) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat("the trial template of trial ", Quote(ctx.trial_name),
                                " is not a valid manifest after substituting its "
                                "trialParameters (values are inserted without escaping): ",
                                manifest.status().message()));
  }
  if (!manifest->is_object()) {
    return Problem(loc, TemplateStart(spec),
                   absl::StrCat("the trial template must be a map (a Kubernetes object), got ",
                                TypeName(*manifest)));
  }
  json& metadata = (*manifest)["metadata"];
  if (metadata.is_null()) metadata = json::object();
  if (!metadata.is_object()) {
    return Problem(loc, TemplateStart(spec), "metadata must be a map, got " + TypeName(metadata));
  }
  metadata["name"] = ctx.trial_name;
  metadata["namespace"] = ctx.namespace_;
  *values_out = *std::move(values);
  return manifest;
}

// ----------------------------------------------------------------------------------------------
// What both dialects share: labels, annotations, env, the primary container and local settings.

// The annotations every trial workload and pod template gets: the study's annotations that
// spec.hpt.kubernetes.propagateAnnotations lets through, then hpt's own <prefix>/study, /trial,
// /project and /experiment (the last two only when the study has them), which replace a study
// annotation of the same key.
std::map<std::string, std::string> TrialAnnotations(const StudySpec& spec,
                                                    const TrialContext& ctx) {
  const KubernetesSettings& k8s = spec.hpt.kubernetes;
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : spec.annotations) {
    if (k8s.Propagates(key)) out[key] = value;
  }
  const std::string& prefix = k8s.annotation_prefix;
  out[prefix + "/study"] = ctx.study_name;
  out[prefix + "/trial"] = ctx.trial_name;
  if (std::string project = StudyProject(spec); !project.empty()) {
    out[prefix + "/project"] = std::move(project);
  }
  if (std::string experiment = StudyExperiment(spec); !experiment.empty()) {
    out[prefix + "/experiment"] = std::move(experiment);
  }
  return out;
}

// `is_pod`: a pod template, which also gets the study's own labels (Katib gives trial pods the
// Trial's labels, which include the Experiment's).
absl::Status AddLabelsAndAnnotations(const StudySpec& spec, const TrialContext& ctx,
                                     const std::map<std::string, std::string>& annotations_to_add,
                                     json& object, const std::string& path, bool is_pod) {
  absl::StatusOr<json*> metadata = ObjectChild(object, "metadata", path + "metadata");
  if (!metadata.ok()) return metadata.status();
  absl::StatusOr<json*> labels = ObjectChild(**metadata, "labels", path + "metadata.labels");
  if (!labels.ok()) return labels.status();
  const std::string study = runner::k8s::LabelValue(ctx.study_name);
  const std::string trial = runner::k8s::LabelValue(ctx.trial_name);
  (**labels)[kStudyLabel] = study;
  (**labels)[kTrialLabel] = trial;
  (**labels)[kKatibExperimentLabel] = study;
  (**labels)[kKatibTrialLabel] = trial;
  if (is_pod) {
    for (const auto& [key, value] : spec.labels) {
      if (!(*labels)->contains(key)) (**labels)[key] = value;  // the template's own win
    }
  }
  if (annotations_to_add.empty()) return absl::OkStatus();
  absl::StatusOr<json*> annotations =
      ObjectChild(**metadata, "annotations", path + "metadata.annotations");
  if (!annotations.ok()) return annotations.status();
  for (const auto& [key, value] : annotations_to_add) {
    if (!(*annotations)->contains(key)) (**annotations)[key] = value;  // the template's own win
  }
  return absl::OkStatus();
}

// Writes obj[key] = value unless obj has a non-null value there (the template's own wins).
void SetIfAbsent(json& obj, const char* key, json value) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) obj[key] = std::move(value);
}

bool HasJobSettings(const runner::k8s::JobSettings& js) {
  return !js.priority_class_name.empty() || js.active_deadline_seconds.has_value() ||
         js.backoff_limit.has_value() || js.ttl_seconds_after_finished.has_value() ||
         !js.service_account_name.empty() || !js.queue_name.empty();
}

// spec.hpt.kubernetes on a Kubeflow training job: the Kueue label on the workload,
// priorityClassName / serviceAccountName on every replica's pod spec, backoffLimit and
// ttlSecondsAfterFinished in spec.runPolicy (activeDeadlineSeconds is written with the deadline).
absl::Status ApplyKubeflowJobSettings(const runner::k8s::JobSettings& js, json& manifest,
                                      std::vector<PodTemplate>& pods) {
  if (!js.queue_name.empty()) {
    // AddLabelsAndAnnotations has made metadata.labels a map.
    SetIfAbsent(manifest["metadata"]["labels"], runner::k8s::kKueueQueueLabel, js.queue_name);
  }
  if (js.backoff_limit.has_value() || js.ttl_seconds_after_finished.has_value()) {
    absl::StatusOr<json*> run_policy = ObjectChild(manifest["spec"], "runPolicy", "spec.runPolicy");
    if (!run_policy.ok()) return run_policy.status();
    if (js.backoff_limit.has_value()) SetIfAbsent(**run_policy, "backoffLimit", *js.backoff_limit);
    if (js.ttl_seconds_after_finished.has_value()) {
      SetIfAbsent(**run_policy, "ttlSecondsAfterFinished", *js.ttl_seconds_after_finished);
    }
  }
  if (js.priority_class_name.empty() && js.service_account_name.empty()) return absl::OkStatus();
  for (PodTemplate& p : pods) {
    absl::StatusOr<json*> pod_spec = ObjectChild(*p.pod, "spec", p.path + ".spec");
    if (!pod_spec.ok()) return pod_spec.status();
    if (!js.priority_class_name.empty()) {
      SetIfAbsent(**pod_spec, "priorityClassName", js.priority_class_name);
    }
    if (!js.service_account_name.empty()) {
      SetIfAbsent(**pod_spec, "serviceAccountName", js.service_account_name);
    }
  }
  return absl::OkStatus();
}

absl::Status AppendStrings(const json& container, const char* key, const std::string& path,
                           std::vector<std::string>* out) {
  auto it = container.find(key);
  if (it == container.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", key, " must be a list of strings, got ", TypeName(*it)));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", key, "[", i,
                                                     "] must be a string (quote it), got ",
                                                     TypeName(v), " ", v.dump()));
    }
    out->push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

absl::StatusOr<int> GpuLimit(const json& container, const std::string& path, bool* present) {
  *present = false;
  const json* resources = FindObject(container, "resources");
  const json* limits = resources ? FindObject(*resources, "limits") : nullptr;
  if (limits == nullptr) return 0;
  auto it = limits->find(kGpuResource);
  if (it == limits->end() || it->is_null()) return 0;
  *present = true;
  const std::string where = absl::StrCat(path, ".resources.limits[\"", kGpuResource, "\"]");
  if (it->is_number_integer() && it->get<int64_t>() >= 0 && it->get<int64_t>() <= 1 << 20) {
    return static_cast<int>(it->get<int64_t>());
  }
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    if (!s.empty() && s.size() <= 7 &&
        std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::stoi(s);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, " must be a whole number of GPUs, got ", it->dump()));
}

// Fills everything of `out` but the manifest's name/namespace, which the dialects set.
// `render_local` renders one spec.hpt.local.command element.
absl::Status Finish(
    const StudySpec& spec, const TrialContext& ctx,
    const std::function<absl::StatusOr<std::string>(const std::string&, size_t)>& render_local,
    RenderedTrial* out) {
  json& manifest = out->manifest;
  out->kind = StringAt(manifest, "kind");
  out->api_version = StringAt(manifest, "apiVersion");
  if (out->kind.empty()) return absl::InvalidArgumentError("the trial template has no kind");
  if (out->api_version.empty()) {
    return absl::InvalidArgumentError("the trial template has no apiVersion");
  }
  const KindInfo* kind = FindKind(out->kind);
  if (kind == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("kind ", Quote(out->kind),
                                                   " is not a supported trial workload; "
                                                   "supported: ",
                                                   KindList()));
  }
  absl::StatusOr<std::vector<PodTemplate>> pods = PodTemplates(manifest, *kind);
  if (!pods.ok()) return pods.status();

  // The primary container.
  json& pod = *pods->front().pod;
  const std::string pod_path = pods->front().path;
  const json* containers = FindNonEmptyArray(FindObject(pod, "spec"), "containers");
  if (containers == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(pod_path, ".spec.containers must be a non-empty list"));
  }
  size_t primary = 0;
  if (spec.dialect == Dialect::kExperimentV1beta1) {
    const std::string& want = spec.trial_template.primary_container_name;
    if (want.empty()) {
      return absl::InvalidArgumentError(
          "spec.trialTemplate.primaryContainerName is required (the container that runs the "
          "training code)");
    }
    std::vector<std::string> names;
    bool found = false;
    for (size_t i = 0; i < containers->size(); ++i) {
      const std::string name = StringAt((*containers)[i], "name");
      names.push_back(Quote(name));
      if (name == want && !found) {
        primary = i;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("primaryContainerName ", Quote(want), " is not a container of ", pod_path,
                       ".spec (containers found: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  json& container = pod["spec"]["containers"][primary];
  if (!container.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pod_path, ".spec.containers[", primary, "] must be a map"));
  }
  const std::string container_path = absl::StrCat(pod_path, ".spec.containers[", primary, "]");
  const std::string container_name = StringAt(container, "name");

  // Labels and annotations on the workload and on every pod template.
  const std::map<std::string, std::string> annotations = TrialAnnotations(spec, ctx);
  absl::Status s = AddLabelsAndAnnotations(spec, ctx, annotations, manifest, "", /*is_pod=*/false);
  for (PodTemplate& p : *pods) {
    if (s.ok()) {
      s = AddLabelsAndAnnotations(spec, ctx, annotations, *p.pod, p.path + ".", /*is_pod=*/true);
    }
  }
  if (!s.ok()) return s;

  // KATIB_TRIAL_NAME in the primary container; the env map.
  json& env = container["env"];
  if (env.is_null()) env = json::array();
  if (!env.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(container_path, ".env must be a list, got ", TypeName(env)));
  }
  bool has_trial_name = false;
  for (size_t i = 0; i < env.size(); ++i) {
    const json& e = env[i];
    const std::string path = absl::StrCat(container_path, ".env[", i, "]");
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) {
      return absl::InvalidArgumentError(path + " must be a map with a string name");
    }
    const std::string name = e["name"].get<std::string>();
    if (name == kTrialNameEnv) has_trial_name = true;
    auto value = e.find("value");
    if (value == e.end() || value->is_null()) continue;  // valueFrom: resolved in the cluster
    if (!value->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".value must be a string (quote it), got ", TypeName(*value), " ", value->dump()));
    }
    out->env[name] = value->get<std::string>();
  }
  if (!has_trial_name) {
    env.push_back(json{{"name", kTrialNameEnv}, {"value", ctx.trial_name}});
    out->env[kTrialNameEnv] = ctx.trial_name;
  }

  // argv.
  const std::optional<LocalOverride>& local = spec.hpt.local;
  if (local.has_value() && !local->command.empty()) {
    for (size_t i = 0; i < local->command.size(); ++i) {
      absl::StatusOr<std::string> arg = render_local(local->command[i], i);
      if (!arg.ok()) return arg.status();
      out->argv.push_back(*std::move(arg));
    }
  } else {
    s = AppendStrings(container, "command", container_path, &out->argv);
    if (s.ok()) s = AppendStrings(container, "args", container_path, &out->argv);
    if (!s.ok()) return s;
    if (out->argv.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "container ", Quote(container_name), " (", container_path,
          "): the primary container has no command; set spec.hpt.local.command to run it "
          "locally"));
    }
  }
  if (local.has_value()) {
    for (const auto& [name, value] : local->env) out->env[name] = value;
    if (!local->working_dir.empty()) {
      namespace fs = std::filesystem;
      fs::path dir(local->working_dir);
      if (dir.is_relative()) {
        const bool real_file = !spec.file.empty() && spec.file != "<string>";
        const fs::path base = real_file ? fs::path(spec.file).parent_path() : fs::path();
        dir = fs::absolute(base / dir);
      }
      out->working_dir = dir.lexically_normal().string();
      while (out->working_dir.size() > 1 && out->working_dir.back() == '/') {
        out->working_dir.pop_back();
      }
    }
  }

  // GPUs.
  bool gpu_present = false;
  absl::StatusOr<int> gpus = GpuLimit(container, container_path, &gpu_present);
  if (!gpus.ok()) return gpus.status();
  out->gpus = *gpus;
  if (!gpu_present && spec.hpt.gpus_per_trial.has_value() && *spec.hpt.gpus_per_trial > 0) {
    out->gpus = *spec.hpt.gpus_per_trial;
    absl::StatusOr<json*> resources =
        ObjectChild(container, "resources", container_path + ".resources");
    if (!resources.ok()) return resources.status();
    absl::StatusOr<json*> limits =
        ObjectChild(**resources, "limits", container_path + ".resources.limits");
    if (!limits.ok()) return limits.status();
    (**limits)[kGpuResource] = out->gpus;
  }

  // The deadline: Job spec.activeDeadlineSeconds, or spec.runPolicy.activeDeadlineSeconds of
  // the Kubeflow training jobs.
  json& workload_spec = manifest["spec"];
  const runner::k8s::JobSettings& job_settings = spec.hpt.kubernetes.job;
  s = runner::k8s::ValidateJobSettings(job_settings);
  if (!s.ok()) return s;
  const bool in_run_policy = kind->replica_key != nullptr;
  const std::string deadline_path =
      in_run_policy ? "spec.runPolicy.activeDeadlineSeconds" : "spec.activeDeadlineSeconds";
  const json* holder = in_run_policy ? FindObject(workload_spec, "runPolicy") : &workload_spec;
  const json* deadline = nullptr;
  if (holder != nullptr) {
    auto it = holder->find("activeDeadlineSeconds");
    if (it != holder->end() && !it->is_null()) deadline = &*it;
  }
  if (deadline != nullptr) {
    if (!deadline->is_number() || deadline->get<double>() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          deadline_path, " must be a positive number of seconds, got ", deadline->dump()));
    }
    out->active_deadline_seconds = deadline->get<double>();
  } else if (spec.hpt.trial_deadline_seconds.has_value() ||
             job_settings.active_deadline_seconds.has_value()) {
    // The loader lets only one of spec.hpt.trialDeadlineSeconds and
    // spec.hpt.kubernetes.activeDeadlineSeconds through; trialDeadlineSeconds first otherwise.
    json seconds;
    if (spec.hpt.trial_deadline_seconds.has_value()) {
      out->active_deadline_seconds = *spec.hpt.trial_deadline_seconds;
      seconds = static_cast<int64_t>(std::ceil(*spec.hpt.trial_deadline_seconds));
    } else {
      out->active_deadline_seconds = static_cast<double>(*job_settings.active_deadline_seconds);
      seconds = *job_settings.active_deadline_seconds;
    }
    json* target = &workload_spec;
    if (in_run_policy) {
      absl::StatusOr<json*> run_policy = ObjectChild(workload_spec, "runPolicy", "spec.runPolicy");
      if (!run_policy.ok()) return run_policy.status();
      target = *run_policy;
    }
    (*target)["activeDeadlineSeconds"] = std::move(seconds);
  }

  // The tenancy settings of spec.hpt.kubernetes; the template's own values win.
  if (HasJobSettings(job_settings)) {
    s = in_run_policy ? ApplyKubeflowJobSettings(job_settings, manifest, *pods)
                      : runner::k8s::ApplyJobSettings(job_settings, &manifest);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<RenderedTrial> RenderTrialAt(const StudySpec& spec, const TrialContext& ctx,
                                            Loc* loc) {
  RenderedTrial out;
  if (spec.dialect == Dialect::kStudyJobV1alpha1) {
    absl::StatusOr<json> manifest = RenderV1alpha1Manifest(spec, ctx, loc);
    if (!manifest.ok()) return manifest.status();
    out.manifest = *std::move(manifest);
    const gotemplate::WorkerData data = WorkerDataOf(spec, ctx);
    absl::Status s = Finish(
        spec, ctx,
        [&](const std::string& arg, size_t i) {
          return RenderGoText(arg, absl::StrCat("spec.hpt.local.command[", i, "]"), data);
        },
        &out);
    if (!s.ok()) return Problem(loc, TemplateStart(spec), std::string(s.message()));
    return out;
  }
  std::vector<std::pair<std::string, std::string>> values;
  absl::StatusOr<json> manifest = RenderV1beta1Manifest(spec, ctx, &values, loc);
  if (!manifest.ok()) return manifest.status();
  out.manifest = *std::move(manifest);
  absl::Status s = Finish(
      spec, ctx,
      [&](const std::string& arg, size_t i) {
        return Substitute(spec, arg, values, absl::StrCat("spec.hpt.local.command[", i, "]"),
                          nullptr);
      },
      &out);
  if (!s.ok()) return Problem(loc, TemplateStart(spec), std::string(s.message()));
  return out;
}

// ----------------------------------------------------------------------------------------------
// CheckTrialTemplate.

class Checker {
 public:
  Checker(const StudySpec& spec, std::vector<Diagnostic>* diagnostics)
      : spec_(spec), diagnostics_(diagnostics) {}

  void Run() {
    if (spec_.dialect == Dialect::kStudyJobV1alpha1) {
      CheckV1alpha1();
    } else {
      CheckV1beta1();
    }
  }

 private:
  void Error(const std::string& path, const std::string& message, Loc loc) {
    Diagnostic d;
    d.severity = Diagnostic::Severity::kError;
    d.file = loc.line > 0 ? TemplateFile(spec_) : spec_.file;
    d.line = loc.line;
    d.column = loc.column;
    d.path = path;
    d.message = message;
    diagnostics_->push_back(std::move(d));
    ++errors_;
  }

  std::string DryRunTrialName() const {
    return absl::StrCat(spec_.name.empty() ? "study" : spec_.name, "-dry-run");
  }

  // A dry RenderTrial; its problem (if any) becomes a diagnostic at `path`.
  void DryRender(const TrialContext& ctx, const std::string& path) {
    Loc loc = TemplateStart(spec_);
    absl::StatusOr<RenderedTrial> r = RenderTrialAt(spec_, ctx, &loc);
    if (!r.ok()) Error(path, std::string(r.status().message()), loc);
  }

  void CheckV1alpha1() {
    const std::string path = TemplateInStudyFile(spec_) ? "spec.workerSpec.goTemplate.rawTemplate"
                                                        : "spec.workerSpec.goTemplate.templatePath";
    // Katib renders the template with an empty parameter set and checks kind, name, namespace.
    TrialContext ctx{.study_name = spec_.study_name.empty() ? spec_.name : spec_.study_name,
                     .trial_name = DryRunTrialName(),
                     .namespace_ = spec_.namespace_,
                     .params = {}};
    Loc loc = TemplateStart(spec_);
    absl::StatusOr<json> manifest = RenderV1alpha1Manifest(spec_, ctx, &loc);
    if (!manifest.ok()) {
      Error(path, std::string(manifest.status().message()), loc);
      return;
    }
    const std::string kind = StringAt(*manifest, "kind");
    if (kind != "Job" && kind != "TFJob" && kind != "PyTorchJob") {
      Error(path + ".kind",
            absl::StrCat(kInvalidWorkerTemplate, " kind ",
                         kind.empty() ? "is missing" : "is " + Quote(kind),
                         "; a StudyJob worker must be a Job, TFJob or PyTorchJob"),
            TemplateStart(spec_));
      return;
    }
    DryRender(ctx, path);
  }

  void CheckV1beta1() {
    const TrialTemplateSpec& t = spec_.trial_template;
    const std::string path =
        LooksLikeJson(t.source) ? "spec.trialTemplate.trialSpec" : "spec.trialTemplate.configMap";
    if (absl::StripAsciiWhitespace(t.source).empty()) {
      Error(path, "the trial template is empty", TemplateStart(spec_));
      return;
    }
    std::set<std::string> referenced;
    for (size_t i = 0; i < t.trial_parameters.size(); ++i) {
      const TrialParameterSpec& tp = t.trial_parameters[i];
      const std::string tp_path = absl::StrCat("spec.trialTemplate.trialParameters[", i, "]");
      if (t.source.find(Placeholder(tp.name)) == std::string::npos) {
        Error(tp_path + ".name",
              absl::StrCat("trialParameter ", Quote(tp.name), " is not used: ",
                           Placeholder(tp.name), " does not occur in the trial template"),
              Loc{});
      }
      MetaRef meta;
      bool valid = false;
      if (IsMetaReference(tp.reference, &meta, &valid)) {
        if (!valid) {
          Error(tp_path + ".reference",
                absl::StrCat(Quote(tp.reference),
                             " is not a valid trial metadata reference; allowed: ", kMetaAllowed),
                Loc{});
        }
      } else if (spec_.space.Find(tp.reference) == nullptr) {
        Error(tp_path + ".reference",
              absl::StrCat(Quote(tp.reference), " is neither a parameter of spec.parameters (",
                           SpaceNames(spec_), ") nor a trial metadata reference (", kMetaAllowed,
                           ")"),
              Loc{});
      } else {
        referenced.insert(tp.reference);
      }
    }
    for (size_t i = 0; i < spec_.space.params.size(); ++i) {
      const std::string& name = spec_.space.params[i].name;
      if (referenced.count(name) == 0) {
        Error(absl::StrCat("spec.parameters[", i, "]"),
              absl::StrCat("parameter ", Quote(name),
                           " is not the reference of any spec.trialTemplate.trialParameters "
                           "entry, so every trial would fail with \"",
                           kUnreferencedParameter, "\""),
              Loc{});
      }
    }

    // The dry run: every placeholder replaced with a test value.
    std::vector<std::pair<std::string, std::string>> replacements;
    for (const TrialParameterSpec& tp : t.trial_parameters) {
      replacements.emplace_back(Placeholder(tp.name), "test-value");
    }
    const std::string replaced = absl::StrReplaceAll(t.source, replacements);
    const std::vector<std::string> leftovers = LeftoverPlaceholders(replaced);
    // One error each for the first few (each is located by a search of the file).
    constexpr size_t kLocated = 10;
    for (size_t i = 0; i < leftovers.size() && i < kLocated; ++i) {
      Error(path,
            absl::StrCat(leftovers[i],
                         " is not defined in spec.trialTemplate.trialParameters (defined: ",
                         TrialParameterNames(spec_), ")"),
            FindInStudyFile(spec_, leftovers[i]));
    }
    if (leftovers.size() > kLocated) {
      Error(path,
            absl::StrCat(leftovers.size() - kLocated,
                         " more ${trialParameters.x} are not defined in "
                         "spec.trialTemplate.trialParameters"),
            TemplateStart(spec_));
    }
    absl::StatusOr<json> object = ParseTemplateText(replaced);
    if (!object.ok()) {
      Error(path,
            absl::StrCat("the trial template is not a valid manifest: ", object.status().message()),
            TemplateStart(spec_));
      return;
    }
    if (!object->is_object()) {
      Error(path,
            "the trial template must be a map (a Kubernetes object), got " + TypeName(*object),
            TemplateStart(spec_));
      return;
    }
    if (const json* metadata = FindObject(*object, "metadata")) {
      for (const char* field : {"name", "namespace"}) {
        if (metadata->contains(field)) {
          Error(absl::StrCat(path, ".metadata.", field),
                absl::StrCat("metadata.name and metadata.namespace in the trial template must be "
                             "omitted: each trial's workload is named after the trial and runs "
                             "in the study's namespace"),
                TemplateStart(spec_));
        }
      }
    }
    const std::string api_version = StringAt(*object, "apiVersion");
    const std::string kind = StringAt(*object, "kind");
    if (api_version.empty()) Error(path + ".apiVersion", "is required", TemplateStart(spec_));
    if (kind.empty()) Error(path + ".kind", "is required", TemplateStart(spec_));
    if (!api_version.empty() && !kind.empty()) {
      const KindInfo* k = FindKind(kind);
      if (k == nullptr || api_version != k->api_version) {
        Error(path + ".kind",
              absl::StrCat("kind ", Quote(kind), " with apiVersion ", Quote(api_version),
                           " is not a supported trial workload; allowed: Job (batch/v1), TFJob, "
                           "PyTorchJob, XGBoostJob, MPIJob (kubeflow.org/v1)"),
              TemplateStart(spec_));
      } else if (kind == "Job") {
        const json* job_spec = FindObject(*object, "spec");
        const json* pod = job_spec ? FindObject(*job_spec, "template") : nullptr;
        const json* pod_spec = pod ? FindObject(*pod, "spec") : nullptr;
        if (FindNonEmptyArray(pod_spec, "containers") == nullptr) {
          Error(path + ".spec.template.spec.containers",
                "a batch/v1 Job needs a non-empty list of containers", TemplateStart(spec_));
        }
      }
    }
    if (errors_ > 0) return;

    // A full render with a representative value per parameter catches the rest (primary
    // container, metadata references, GPU limits, ...).
    TrialContext ctx{.study_name = spec_.name,
                     .trial_name = DryRunTrialName(),
                     .namespace_ = spec_.namespace_,
                     .params = {}};
    for (const suggest::ParameterSpec& p : spec_.space.params) {
      std::string value = "test-value";
      if (p.type == suggest::ParamType::kInt) {
        value = suggest::FormatInt(static_cast<int64_t>(p.min));
      } else if (p.type == suggest::ParamType::kDouble) {
        value = suggest::FormatDouble(p.min);
      } else if (!p.list.empty()) {
        value = p.list.front();
      }
      ctx.params.push_back({p.name, value});
    }
    DryRender(ctx, path);
  }

  const StudySpec& spec_;
  std::vector<Diagnostic>* diagnostics_;
  int errors_ = 0;
};

}  // namespace

absl::StatusOr<RenderedTrial> RenderTrial(const StudySpec& spec, const TrialContext& ctx) {
  Loc loc;
  absl::StatusOr<RenderedTrial> r = RenderTrialAt(spec, ctx, &loc);
  if (!r.ok()) return WithLocation(spec, loc, r.status());
  return r;
}

void CheckTrialTemplate(const StudySpec& spec, std::vector<Diagnostic>* diagnostics) {
  if (diagnostics == nullptr) return;
  Checker(spec, diagnostics).Run();
}

}  // namespace hpt::engine
