// The subset of Go's text/template that Katib v1alpha1 worker templates use.
//
// Katib's StudyJob controller renders `workerSpec.goTemplate` with Go's text/template and the data
// {StudyID, TrialID, WorkerID, NameSpace, HyperParameters}, where each HyperParameter has Name,
// Value and ParameterType. This is a small lexer, parser (with a static type check of every field
// against that data model) and evaluator for the part of the language such templates need:
//
//   {{.StudyID}} {{.TrialID}} {{.WorkerID}} {{.NameSpace}}         print a string field
//   {{with .HyperParameters}}...{{else}}...{{end}}                  with (empty list = false)
//   {{range .}}...{{else}}...{{end}}  / {{range .HyperParameters}}  dot = each HyperParameter
//   {{.Name}} {{.Value}} {{.ParameterType}}                         fields of a HyperParameter
//   {{/* comment */}}  {{- trim left   trim right -}}               Go's exact trim semantics
//
// Everything else (if, function calls such as printf, pipelines, variables, literals,
// parentheses, define/template/block, break/continue, unknown fields) is rejected at Parse time
// with InvalidArgument naming the construct and its line and column, so a template never renders
// to silently wrong output.
//
//   absl::StatusOr<gotemplate::Template> t = gotemplate::Template::Parse(text);
//   if (!t.ok()) return t.status();
//   std::string yaml = t->Execute({.study_id = "s", .trial_id = "w1", .worker_id = "w1",
//                                  .name_space = "kubeflow",
//                                  .hyper_parameters = {{"--lr", "0.01", "DOUBLE"}}});
//
// A parsed Template is immutable: Execute may be called from several threads at once.
#ifndef HPT_ENGINE_TEMPLATE_GOTEMPLATE_H_
#define HPT_ENGINE_TEMPLATE_GOTEMPLATE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hpt::engine::gotemplate {

// One element of {{.HyperParameters}} (Katib's api.Parameter).
struct HyperParameter {
  std::string name;            // {{.Name}}, e.g. "--lr"
  std::string value;           // {{.Value}}, e.g. "0.01"
  std::string parameter_type;  // {{.ParameterType}}: "DOUBLE", "INT", "DISCRETE", "CATEGORICAL"
};

// The data a v1alpha1 worker template is executed with.
struct WorkerData {
  std::string study_id;                          // {{.StudyID}}
  std::string trial_id;                          // {{.TrialID}}
  std::string worker_id;                         // {{.WorkerID}}
  std::string name_space;                        // {{.NameSpace}}
  std::vector<HyperParameter> hyper_parameters;  // {{.HyperParameters}}
};

// A place in the template text; both 1-based (the column counts bytes).
struct Position {
  int line = 0;
  int column = 0;
};

// Formats a template position for an error message. The default gives
// "template line 3, column 7".
using WhereFn = std::function<std::string(Position)>;

class Template {
 public:
  // Parses and type-checks `text`. InvalidArgument "<where>: <problem>" for anything outside the
  // subset, an unterminated action or comment, an unmatched {{end}}/{{else}}, a block without
  // {{end}}, or blocks nested deeper than 100; `error_pos` (may be null) then receives the
  // position of the offending construct.
  static absl::StatusOr<Template> Parse(std::string_view text, const WhereFn& where = nullptr,
                                        Position* error_pos = nullptr);

  // Renders the template. Cannot fail: every field was checked by Parse.
  std::string Execute(const WorkerData& data) const;
  // The same, but stops once the output exceeds `max_bytes`: InvalidArgument then. Ranges repeat
  // their body per hyperparameter, so the output can grow with the product of the template's and
  // the values' sizes.
  absl::StatusOr<std::string> Execute(const WorkerData& data, size_t max_bytes) const;

  struct Node;  // defined in gotemplate.cc

 private:
  explicit Template(std::shared_ptr<const std::vector<Node>> nodes) : nodes_(std::move(nodes)) {}
  std::shared_ptr<const std::vector<Node>> nodes_;
};

}  // namespace hpt::engine::gotemplate

#endif  // HPT_ENGINE_TEMPLATE_GOTEMPLATE_H_
