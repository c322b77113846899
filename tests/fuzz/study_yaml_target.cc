// study_yaml: a study file through the loader, the template checks and the renderer.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/spec/study_spec.h"
#include "engine/template/render.h"
#include "nlohmann/json.hpp"
#include "suggest/sampler.h"
#include "suggest/search_space.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hpt::fuzz {
namespace {

using engine::Diagnostic;
using engine::StudySpec;

constexpr char kTarget[] = "study_yaml";
// The name the text is loaded under: no directory, so no ConfigMap files are scanned.
constexpr char kFileName[] = "<fuzz>";

void CheckDiagnostics(const std::vector<Diagnostic>& diags, const std::string& text,
                      const char* stage) {
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const Diagnostic& d : diags) {
    const std::string s = d.ToString();
    if (d.message.empty()) {
      Fail(kTarget, absl::StrCat(stage, ": a diagnostic without a message: ", s));
    }
    // Diagnostics are printed as JSON (hpt validate --json) and sent over gRPC.
    if (!IsUtf8(s)) Fail(kTarget, absl::StrCat(stage, ": a diagnostic that is not UTF-8: ", s));
    if (d.line < 0 || d.column < 0) {
      Fail(kTarget, absl::StrCat(stage, ": a diagnostic with a negative position: ", s));
    }
    if (d.file == kFileName && d.line > lines + 1) {
      Fail(kTarget,
           absl::StrCat(stage, ": a diagnostic past the end of the text (", lines, " lines): ", s));
    }
  }
}

bool HasError(const std::vector<Diagnostic>& diags) {
  return std::any_of(diags.begin(), diags.end(), [](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::kError;
  });
}

// Every parameter at its first value: the minimum, or the list's first item.
suggest::Assignment FirstValues(const suggest::SearchSpace& space) {
  suggest::Assignment a;
  for (const suggest::ParameterSpec& p : space.params) {
    std::string v;
    switch (p.type) {
      case suggest::ParamType::kDouble:
        v = suggest::FormatDouble(p.min);
        break;
      case suggest::ParamType::kInt:
        v = suggest::FormatInt(static_cast<int64_t>(p.min));
        break;
      case suggest::ParamType::kDiscrete:
      case suggest::ParamType::kCategorical:
        v = p.list.empty() ? "" : p.list.front();
        break;
    }
    a.push_back({p.name, v});
  }
  return a;
}

void Render(const StudySpec& spec, const suggest::Assignment& params) {
  engine::TrialContext ctx{.study_name = spec.name,
                           .trial_name = spec.name + "-00001",
                           .namespace_ = spec.namespace_,
                           .params = params};
  absl::StatusOr<engine::RenderedTrial> r = engine::RenderTrial(spec, ctx);
  if (!r.ok()) {
    if (!absl::IsInvalidArgument(r.status()) || r.status().message().empty()) {
      Fail(kTarget, absl::StrCat("RenderTrial: undocumented status ", r.status().ToString()));
    }
    if (!IsUtf8(std::string(r.status().message()))) {
      Fail(kTarget,
           absl::StrCat("RenderTrial: a message that is not UTF-8: ", r.status().ToString()));
    }
    return;
  }
  if (r->kind.empty() || !r->manifest.is_object()) {
    Fail(kTarget,
         absl::StrCat("RenderTrial: OK without a kind or an object: ",
                      r->manifest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  // What the controller does with it (engine/controller.cc); throws on invalid UTF-8.
  (void)r->manifest.dump(2);
  (void)r->manifest.dump();
}

}  // namespace

int StudyYamlOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<Diagnostic> diags;
  absl::StatusOr<StudySpec> spec = engine::LoadStudyText(text, kFileName, &diags);
  CheckDiagnostics(diags, text, "LoadStudyText");
  if (!IsUtf8(std::string(spec.status().message()))) {
    Fail(kTarget,
         absl::StrCat("LoadStudyText: a message that is not UTF-8: ", spec.status().ToString()));
  }
  if (!spec.ok()) {
    // InvalidArgument, or Unimplemented for "not supported yet"; Internal means an exception
    // reached LoadStudyText's last-resort handler.
    if (!absl::IsInvalidArgument(spec.status()) && !absl::IsUnimplemented(spec.status())) {
      Fail(kTarget, absl::StrCat("LoadStudyText: undocumented status ", spec.status().ToString()));
    }
    if (!HasError(diags)) {
      Fail(kTarget, absl::StrCat("LoadStudyText refused the text without an error diagnostic: ",
                                 spec.status().ToString()));
    }
    return 0;
  }
  if (HasError(diags)) Fail(kTarget, "LoadStudyText: OK with an error diagnostic");
  if (absl::Status s = suggest::ValidateSearchSpace(spec->space); !s.ok()) {
    Fail(kTarget, absl::StrCat("LoadStudyText accepted an invalid search space: ", s.ToString()));
  }

  std::vector<Diagnostic> checks;
  engine::CheckTrialTemplate(*spec, &checks);
  CheckDiagnostics(checks, text, "CheckTrialTemplate");

  // The study's own algorithm, as `hpt validate` checks it (construction only: suggesting is the
  // samplers' business and can be slow).
  absl::StatusOr<std::unique_ptr<suggest::Sampler>> own =
      suggest::MakeSampler(spec->algorithm, spec->space, 0);
  if (!own.ok() && !absl::IsNotFound(own.status()) && !absl::IsUnimplemented(own.status()) &&
      !absl::IsInvalidArgument(own.status())) {
    Fail(kTarget, absl::StrCat("MakeSampler: undocumented status ", own.status().ToString()));
  }

  Render(*spec, FirstValues(spec->space));
  absl::StatusOr<std::unique_ptr<suggest::Sampler>> random =
      suggest::MakeSampler(suggest::AlgorithmSpec{.name = "random"}, spec->space, 42);
  if (!random.ok()) {
    Fail(kTarget,
         absl::StrCat("the random sampler refused a loaded space: ", random.status().ToString()));
  }
  absl::StatusOr<std::vector<suggest::Assignment>> next =
      (*random)->Suggest(spec->space, suggest::History{}, 1);
  if (!next.ok() || next->size() != 1) {
    Fail(kTarget, absl::StrCat("the random sampler gave no assignment for a loaded space: ",
                               next.status().ToString()));
  }
  Render(*spec, next->front());
  return 0;
}

}  // namespace hpt::fuzz
