// gotemplate: the hand-written Go-template subset (lexer, parser, type check, evaluator).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/template/gotemplate.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hpt::fuzz {
namespace {

using engine::gotemplate::HyperParameter;
using engine::gotemplate::Position;
using engine::gotemplate::Template;
using engine::gotemplate::WorkerData;

constexpr char kTarget[] = "gotemplate";

// The length of each line of `text` (1-based lines: [0] is line 1).
std::vector<size_t> LineLengths(std::string_view text) {
  std::vector<size_t> out;
  size_t begin = 0;
  while (true) {
    const size_t nl = text.find('\n', begin);
    out.push_back((nl == std::string_view::npos ? text.size() : nl) - begin);
    if (nl == std::string_view::npos) return out;
    begin = nl + 1;
  }
}

// An error position must name a place in the text: a line that exists, a column within it (or
// just past its end, for "unexpected end of template").
void CheckPosition(std::string_view text, Position pos, const absl::Status& s) {
  const std::vector<size_t> lines = LineLengths(text);
  if (pos.line < 1 || static_cast<size_t>(pos.line) > lines.size() || pos.column < 1 ||
      static_cast<size_t>(pos.column) > lines[pos.line - 1] + 1) {
    Fail(kTarget, absl::StrCat("error position ", pos.line, ":", pos.column,
                               " is outside the text (", lines.size(), " lines): ", s.ToString()));
  }
}

}  // namespace

int GoTemplateOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  Position pos;
  absl::StatusOr<Template> t = Template::Parse(text, nullptr, &pos);
  if (!t.ok()) {
    if (!absl::IsInvalidArgument(t.status())) {
      Fail(kTarget, absl::StrCat("Parse: undocumented status ", t.status().ToString()));
    }
    if (!absl::StartsWith(t.status().message(), "template line ")) {
      Fail(kTarget, absl::StrCat("Parse: error without its place: ", t.status().ToString()));
    }
    CheckPosition(text, pos, t.status());
    if (IsUtf8(std::string(text)) && !IsUtf8(std::string(t.status().message()))) {
      Fail(kTarget, absl::StrCat("Parse: a message that is not UTF-8 for UTF-8 text: ",
                                 t.status().ToString()));
    }
    // The caller's WhereFn words the place, and the same error is found again.
    Position pos2;
    absl::StatusOr<Template> again = Template::Parse(
        text, [](Position p) { return absl::StrCat("t.yaml:", p.line, ":", p.column); }, &pos2);
    if (again.ok() || pos2.line != pos.line || pos2.column != pos.column ||
        !absl::StartsWith(again.status().message(),
                          absl::StrCat("t.yaml:", pos.line, ":", pos.column, ": "))) {
      Fail(kTarget, absl::StrCat("Parse with a WhereFn disagrees: ", again.status().ToString(),
                                 " vs ", t.status().ToString()));
    }
    return 0;
  }

  const WorkerData none{.study_id = "study",
                        .trial_id = "trial-1",
                        .worker_id = "worker-1",
                        .name_space = "kubeflow"};
  WorkerData three = none;
  three.hyper_parameters = {{"--lr", "0.01", "double"},
                            {"--layers", "3", "int"},
                            {"--opt", "{{.Name}} $x", "categorical"}};
  const std::string out_none = t->Execute(none);
  const std::string out_three = t->Execute(three);
  if (t->Execute(three) != out_three) Fail(kTarget, "Execute is not deterministic");
  // The bounded Execute agrees, and refuses one byte less.
  absl::StatusOr<std::string> bounded = t->Execute(three, out_three.size());
  if (!bounded.ok() || *bounded != out_three) {
    Fail(kTarget, absl::StrCat("Execute with a limit of its own output's size gives ",
                               bounded.status().ToString()));
  }
  if (!out_three.empty() && t->Execute(three, out_three.size() - 1).ok()) {
    Fail(kTarget, "Execute with a limit one byte short of its output succeeds");
  }
  // Text without actions renders as itself.
  if (text.find("{{") == std::string_view::npos && (out_none != text || out_three != text)) {
    Fail(kTarget, absl::StrCat("text without actions rendered as \"", out_none, "\""));
  }
  // Trim markers remove ASCII spaces only: UTF-8 text renders as UTF-8.
  if (IsUtf8(std::string(text)) && (!IsUtf8(out_none) || !IsUtf8(out_three))) {
    Fail(kTarget, "UTF-8 text rendered as something that is not UTF-8");
  }
  // Actions only shrink the text or copy field values: the output is bounded by the template
  // length times the number of times a range body can run, plus what fields print.
  const size_t fields = 64;  // the longest field value above, with margin
  const size_t bound = (text.size() + 1) * (three.hyper_parameters.size() + 1) * fields;
  if (out_three.size() > bound) {
    Fail(kTarget, absl::StrCat("output of ", out_three.size(), " bytes from a template of ",
                               text.size(), " bytes"));
  }
  return 0;
}

}  // namespace hpt::fuzz
