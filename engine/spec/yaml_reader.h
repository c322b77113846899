// Internal to engine/spec: typed, located reading of yaml-cpp nodes for the study loader.
//
// Everything here reports problems into a Sink (file:line:column, field path, what is allowed)
// instead of throwing or stopping, so that one pass over a study finds every problem.
//
//   Sink sink("study.yaml");
//   MapReader root(&sink, doc, "");
//   Field name = MapReader(&sink, root.Get("metadata")).Get("name");
//   std::optional<std::string> s = ReadString(&sink, name);   // nullopt: absent or reported
//
// Not part of the public API: only engine/spec and engine/template (whose YamlToJson wraps
// LoadYamlDocuments and ConvertYamlToJson) include this header.
// engine/trigger also reads RetrainTrigger documents with it (and spec_internal::ReadTextFile).
// Thread-compatible (no shared state).
#ifndef HPT_ENGINE_SPEC_YAML_READER_H_
#define HPT_ENGINE_SPEC_YAML_READER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/spec/study_spec.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace hpt::engine::spec_internal {

// A 1-based position in a file; {0, 0} when unknown.
struct Loc {
  int line = 0;
  int column = 0;
};

// The 1-based position of `node` (yaml-cpp marks are 0-based); {0, 0} for a node without a mark.
Loc LocOf(const YAML::Node& node);
Loc LocOf(const YAML::Mark& mark);

// Collects diagnostics for one load.
class Sink {
 public:
  explicit Sink(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  void Error(Loc loc, absl::string_view path, std::string message);
  void Warning(Loc loc, absl::string_view path, std::string message);
  // An error with `unsupported` set; the message reads "not supported yet: <what>".
  void Unsupported(Loc loc, absl::string_view path, absl::string_view what);
  // The same, for a diagnostic in another file (a ConfigMap file).
  void Add(Diagnostic d) { diagnostics_.push_back(std::move(d)); }

  bool HasErrors() const;
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }

 private:
  void Push(Diagnostic::Severity severity, Loc loc, absl::string_view path, std::string message,
            bool unsupported);

  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

// How a node reads in a message: `"abc"` (plain scalar), `the string "3"` (quoted scalar),
// `a map`, `a list`, `null`.
std::string Describe(const YAML::Node& node);

// Quotes `s` for a message: "abc" with `"` and `\` escaped and control characters shown as \n etc.
std::string Quote(absl::string_view s);

// "a.b" / "a[3]" path joins; an empty parent gives the bare key.
std::string JoinPath(absl::string_view parent, absl::string_view key);
std::string IndexPath(absl::string_view parent, size_t index);

// One field of a map (or one item of a list) as found in the file.
struct Field {
  bool present = false;  // false when the key is absent or its value is null (`key:` / `key: ~`)
  YAML::Node node;       // the value; only meaningful when `present`
  std::string path;      // e.g. "spec.parameters[2].feasibleSpace.min"
  Loc key_loc;           // the key (the enclosing map's key when the key is absent)
  Loc loc;               // the value (key_loc when absent or null)
  explicit operator bool() const { return present; }

  Field() = default;
  Field(const Field&) = default;
  // Assigning a YAML::Node that already refers to a node rewrites the referred node in the
  // document (yaml-cpp's reference semantics), so Fields are never assigned, only initialized.
  Field& operator=(const Field&) = delete;
};

// Reads one mapping node. Keys that are asked for (Get) or declared (Accept) are known; the rest
// are reported by ReportUnknown. Duplicate keys and non-scalar keys are errors, reported once at
// construction; Get returns the first occurrence.
class MapReader {
 public:
  // `field` absent: an empty map. Present but not a map: an error ("must be a map, got a list").
  MapReader(Sink* sink, const Field& field);
  // A document root.
  MapReader(Sink* sink, const YAML::Node& node, std::string path);

  bool is_map() const { return is_map_; }
  const std::string& path() const { return path_; }
  // Where this map's key is (or the map itself for a root): the place to report a missing key.
  Loc loc() const { return loc_; }
  bool Has(absl::string_view key) const;

  // The field `key`; marks it known. Absent keys give a Field with present=false, the would-be
  // path, and this map's location.
  Field Get(absl::string_view key);
  // Marks keys as known without reading them (accepted and ignored).
  void Accept(std::initializer_list<absl::string_view> keys);
  // Every key never asked for or accepted: a warning ("unknown key ... ; hpt ignores it"), or an
  // error when `strict`. `allowed` lists the keys this map takes, for the message.
  void ReportUnknown(bool strict, absl::string_view allowed);

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool used = false;
  };
  void Init(const YAML::Node& node);

  Sink* sink_;
  std::string path_;
  Loc loc_;
  bool is_map_ = false;
  std::vector<Entry> entries_;
};

// The items of a list field (each a Field with path "x[i]"). Absent: empty. Present but not a list:
// an error and empty.
std::vector<Field> ReadList(Sink* sink, const Field& field);

// Reports "is required" (plus `what`, e.g. "a list of {name, value}") when `field` is absent.
// Returns field.present.
bool Require(Sink* sink, const Field& field, absl::string_view what);

// Scalar readers. Each returns nullopt when the field is absent (nothing reported) or when the
// value is wrong (reported at the value's location with what is allowed).
//
// Any scalar, plain or quoted.
std::optional<std::string> ReadString(Sink* sink, const Field& field);
// A plain (unquoted) integer in [min, max], as Kubernetes reads an int field; a quoted one is an
// error that says to remove the quotes.
std::optional<int64_t> ReadInt(Sink* sink, const Field& field, int64_t min, int64_t max);
std::optional<uint64_t> ReadUint64(Sink* sink, const Field& field);
// A plain finite number.
std::optional<double> ReadNumber(Sink* sink, const Field& field);
// A finite number written as a YAML number or a string (Katib's feasible values): "0.01" or 0.01.
// Also returns the text as written in `text` when non-null.
std::optional<double> ReadNumeric(Sink* sink, const Field& field, std::string* text);
// true/false (also True/TRUE/False/FALSE), unquoted.
std::optional<bool> ReadBool(Sink* sink, const Field& field);
// A list of scalars.
std::optional<std::vector<std::string>> ReadStringList(Sink* sink, const Field& field);
// A map of scalar values (labels, env).
std::optional<std::map<std::string, std::string>> ReadStringMap(Sink* sink, const Field& field);

// The whole of `text` as a finite number (leading '+' and surrounding blanks allowed).
std::optional<double> ParseNumber(absl::string_view text);
// The whole of `text` as a decimal integer (leading '+' allowed).
std::optional<int64_t> ParseInt64(absl::string_view text);

// YAML -> JSON, the way Kubernetes reads a manifest: maps become objects, lists arrays; quoted and
// block scalars (and !!str or application-tagged ones) stay strings; plain scalars (and those
// tagged !!int, !!float, !!bool, !!null) are typed by YAML 1.2's core schema: null (~, null, Null,
// NULL, empty), true/True/TRUE, false/False/FALSE, integers (123, -7, +3, 0x1F, 0o17: int64 where
// they fit, else uint64, else a decimal one is a double) and floats (1.5, 1e-3, .5, 5.). .inf,
// .nan, yes/no/on/off and a number beyond a double's range stay strings.
// Aliases can make a YAML graph cyclic or exponentially large: conversion stops deeper than
// kMaxJsonDepth or larger than kMaxJsonNodes values.
inline constexpr int kMaxJsonDepth = 100;
inline constexpr size_t kMaxJsonNodes = 1'000'000;

struct YamlJsonOptions {
  // A repeated key and a key that is not a scalar (a map, a list, null) are errors. Otherwise a
  // repeated key's last value wins and a non-scalar key is its YAML text.
  bool strict_keys = false;
};

// Why a conversion stopped; callers word the message.
struct YamlJsonError {
  enum class Kind {
    kTooDeep,       // nested deeper than kMaxJsonDepth (an alias that refers to itself?)
    kTooLarge,      // more than kMaxJsonNodes values (aliases that expand too far?)
    kNonScalarKey,  // strict_keys: a key that is a map, a list or null
    kDuplicateKey,  // strict_keys: `key` appears twice in one map
  };
  Kind kind = Kind::kTooDeep;
  Loc loc;          // the node too deep, or the key; {0, 0} for kTooLarge
  std::string key;  // kDuplicateKey: the repeated key
};

// The conversion above. `Json` is nlohmann::ordered_json (keys in file order) or nlohmann::json
// (keys sorted). nullopt with `*error` set on the first problem. Throws nothing.
template <typename Json>
std::optional<Json> ConvertYamlToJson(const YAML::Node& node, const YamlJsonOptions& options,
                                      YamlJsonError* error);
extern template std::optional<nlohmann::json> ConvertYamlToJson(const YAML::Node&,
                                                                const YamlJsonOptions&,
                                                                YamlJsonError*);
extern template std::optional<nlohmann::ordered_json> ConvertYamlToJson(const YAML::Node&,
                                                                        const YamlJsonOptions&,
                                                                        YamlJsonError*);

// The trialSpec's conversion: file order kept, keys not strict, the reason worded for a
// diagnostic on the field ("is nested more than 100 levels deep ...") in `*error`.
std::optional<nlohmann::ordered_json> YamlToJson(const YAML::Node& node, std::string* error);

// Parses every document of `text` (null documents included, as yaml-cpp gives them). On malformed
// YAML returns nullopt with the message in `*error` and its place in `*error_loc`. Malformed here
// too: text that is not UTF-8 or holds a NUL byte (UTF-16 and UTF-32 text do), and the escapes
// \N and \_ in double-quoted scalars, which yaml-cpp 0.7 decodes to bytes that are not UTF-8.
// yaml-cpp 0.7 never returns, allocating without bound, on some malformed input (a ',' at the top
// of a document, outside any [...] or {...}); an event-only pass with a budget proportional to the
// text's size runs first and turns that into an error. Throws nothing.
std::optional<std::vector<YAML::Node>> LoadYamlDocuments(absl::string_view text, std::string* error,
                                                         Loc* error_loc);

// The documents of a file a loader reads, empty ones (`---` alone, comments) left out. A parse
// error, or no document at all ("the file holds no YAML document; <expected>"), is reported
// into `sink` and gives nullopt.
std::optional<std::vector<YAML::Node>> LoadFileDocuments(Sink* sink, absl::string_view text,
                                                         absl::string_view expected);

// The offset of the first byte of `text` that is not part of well-formed UTF-8 (overlong forms,
// UTF-16 surrogates and code points past U+10FFFF are not); absl::string_view::npos when there is
// none.
size_t FirstNonUtf8Byte(absl::string_view text);
// `text` with every byte that is not part of well-formed UTF-8 written as \xNN.
std::string EscapeNonUtf8(absl::string_view text);

// One load of a document (a study, a trigger): runs `read` with a Sink for `file`. A yaml-cpp
// exception becomes an error at its mark ("cannot read the YAML: ..."); any other exception is
// InternalError naming `what` ("study", "trigger") and the file. Then sorts the diagnostics
// (this file's by position first, then other files' in the order found), appends them to
// `diagnostics` (when not null) and returns StatusFromDiagnostics of them.
absl::Status RunLoad(const std::string& file, absl::string_view what,
                     absl::FunctionRef<void(Sink*)> read, std::vector<Diagnostic>* diagnostics);

// The text of the file at `path` for a loader; a failure is also appended to `diagnostics` (when
// not null) as a diagnostic of that file. NotFound / FailedPrecondition as ReadTextFile.
absl::StatusOr<std::string> ReadLoadedFile(const std::string& path,
                                           std::vector<Diagnostic>* diagnostics);

// The 1-based line where the text of scalar `node` begins in `source` (the file the node was parsed
// from): for a block scalar (`|`, `|-`, `>`) the line after its indicator.
int ScalarTextLine(const YAML::Node& node, absl::string_view source);

}  // namespace hpt::engine::spec_internal

#endif  // HPT_ENGINE_SPEC_YAML_READER_H_
