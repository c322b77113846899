#include "engine/template/gotemplate.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::engine::gotemplate {
namespace {

using ::testing::HasSubstr;

WorkerData Data(std::vector<HyperParameter> params = {}) {
  return WorkerData{.study_id = "study-1",
                    .trial_id = "trial-7",
                    .worker_id = "trial-7",
                    .name_space = "kubeflow",
                    .hyper_parameters = std::move(params)};
}

WorkerData ThreeParams() {
  return Data({{"--lr", "0.01", "DOUBLE"},
               {"--num-layers", "3", "INT"},
               {"--optimizer", "adam", "CATEGORICAL"}});
}

std::string Render(const std::string& text, const WorkerData& data) {
  absl::StatusOr<Template> t = Template::Parse(text);
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return "<error>";
  return t->Execute(data);
}

// The error message of a template that must not parse.
std::string ParseError(const std::string& text, Position* pos = nullptr) {
  absl::StatusOr<Template> t = Template::Parse(text, nullptr, pos);
  EXPECT_FALSE(t.ok()) << "parsed: " << text;
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

TEST(GoTemplateTest, PlainTextIsCopied) {
  EXPECT_EQ(Render("", Data()), "");
  EXPECT_EQ(Render("kind: Job\n  a }} b { {\n", Data()), "kind: Job\n  a }} b { {\n");
  EXPECT_EQ(Render("héllo – ünïcode", Data()), "héllo – ünïcode");
}

TEST(GoTemplateTest, PrintsContextFields) {
  EXPECT_EQ(Render("{{.StudyID}} {{.TrialID}} {{.WorkerID}} {{.NameSpace}}", Data()),
            "study-1 trial-7 trial-7 kubeflow");
}

TEST(GoTemplateTest, SpacesInsideActions) {
  EXPECT_EQ(Render("[{{ .WorkerID }}|{{.WorkerID }}|{{   .WorkerID}}|{{\t.NameSpace\n}}]", Data()),
            "[trial-7|trial-7|trial-7|kubeflow]");
}

TEST(GoTemplateTest, TrimMarkersTrimAllAdjacentWhitespace) {
  EXPECT_EQ(Render("a  \n\t {{- .WorkerID -}} \n\r\n  b", Data()), "atrial-7b");
  EXPECT_EQ(Render("a \n{{- .WorkerID}} \nb", Data()), "atrial-7 \nb");
  EXPECT_EQ(Render("a \n{{.WorkerID -}} \nb", Data()), "a \ntrial-7b");
  // Only whitespace is trimmed, and only next to the marker.
  EXPECT_EQ(Render("x.{{- .WorkerID -}}.y", Data()), "x.trial-7.y");
  // Trimming reaches across an empty text between two actions.
  EXPECT_EQ(Render("{{.WorkerID -}}  \n  {{- .NameSpace}}", Data()), "trial-7kubeflow");
  // "{{- " needs whitespace after the dash; a tab or newline counts.
  EXPECT_EQ(Render("a {{-\t.WorkerID}}", Data()), "atrial-7");
  EXPECT_EQ(Render("a {{-\n.WorkerID\n-}} b", Data()), "atrial-7b");
}

TEST(GoTemplateTest, Comments) {
  EXPECT_EQ(Render("a{{/* note */}}b", Data()), "ab");
  EXPECT_EQ(Render("a{{/* multi\nline {{.Foo}} */}}b", Data()), "ab");
  EXPECT_EQ(Render("a \n {{- /* note */ -}} \n b", Data()), "ab");
  EXPECT_EQ(Render("a \n {{- /* note */}} \n b", Data()), "a \n b");
}

TEST(GoTemplateTest, KatibHyperParameterIdiom) {
  const std::string text =
      "command:\n"
      "- \"--batch-size=64\"\n"
      "{{- with .HyperParameters}}\n"
      "{{- range .}}\n"
      "- \"{{.Name}}={{.Value}}\"\n"
      "{{- end}}\n"
      "{{- end}}\n"
      "restartPolicy: Never\n";
  EXPECT_EQ(Render(text, ThreeParams()),
            "command:\n"
            "- \"--batch-size=64\"\n"
            "- \"--lr=0.01\"\n"
            "- \"--num-layers=3\"\n"
            "- \"--optimizer=adam\"\n"
            "restartPolicy: Never\n");
  // An empty list is false for {{with}}: its body is skipped.
  EXPECT_EQ(Render(text, Data()),
            "command:\n"
            "- \"--batch-size=64\"\n"
            "restartPolicy: Never\n");
}

TEST(GoTemplateTest, WithAndRangeElse) {
  const std::string with = "{{with .HyperParameters}}has {{len}}{{else}}none{{end}}";
  EXPECT_THAT(ParseError(with), HasSubstr("function call \"len\""));
  EXPECT_EQ(Render("{{with .HyperParameters}}some{{else}}none{{end}}", Data()), "none");
  EXPECT_EQ(Render("{{with .HyperParameters}}some{{else}}none{{end}}", ThreeParams()), "some");
  EXPECT_EQ(
      Render("{{range .HyperParameters}}{{.Name}};{{else}}empty {{.WorkerID}}{{end}}", Data()),
      "empty trial-7");
  EXPECT_EQ(Render("{{range .HyperParameters}}{{.Name}}:{{.ParameterType}};{{end}}", ThreeParams()),
            "--lr:DOUBLE;--num-layers:INT;--optimizer:CATEGORICAL;");
}

TEST(GoTemplateTest, WithOnStringsAndDot) {
  EXPECT_EQ(Render("{{with .NameSpace}}ns={{.}}{{end}}", Data()), "ns=kubeflow");
  WorkerData empty_ns = Data();
  empty_ns.name_space = "";
  EXPECT_EQ(Render("{{with .NameSpace}}ns={{.}}{{else}}no ns{{end}}", empty_ns), "no ns");
  // {{with .}} on the data itself (a struct) is always true.
  EXPECT_EQ(Render("{{with .}}{{.WorkerID}}{{end}}", Data()), "trial-7");
}

TEST(GoTemplateTest, NestedBlocks) {
  const std::string text =
      "{{with .HyperParameters}}[{{range .}}({{with .Value}}{{.}}{{end}}){{end}}]{{end}}";
  EXPECT_EQ(Render(text, ThreeParams()), "[(0.01)(3)(adam)]");
  EXPECT_EQ(Render("{{range .HyperParameters}}{{with .Name}}<{{.}}>{{end}}{{end}}", ThreeParams()),
            "<--lr><--num-layers><--optimizer>");
}

TEST(GoTemplateTest, ExecuteIsRepeatable) {
  absl::StatusOr<Template> t = Template::Parse("{{.WorkerID}}");
  ASSERT_TRUE(t.ok());
  WorkerData a = Data();
  WorkerData b = Data();
  b.worker_id = "other";
  EXPECT_EQ(t->Execute(a), "trial-7");
  EXPECT_EQ(t->Execute(b), "other");
  const Template copy = *t;
  EXPECT_EQ(copy.Execute(a), "trial-7");
}

struct BadCase {
  std::string text;
  std::string fragment;
  int line;
  int column;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << "\"" << c.text << "\""; }

class GoTemplateErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(GoTemplateErrorTest, NamesConstructAndPosition) {
  const BadCase& c = GetParam();
  Position pos;
  const std::string message = ParseError(c.text, &pos);
  EXPECT_THAT(message, HasSubstr(c.fragment));
  EXPECT_EQ(pos.line, c.line) << message;
  EXPECT_EQ(pos.column, c.column) << message;
  EXPECT_THAT(message, HasSubstr("template line " + std::to_string(c.line) + ", column " +
                                 std::to_string(c.column) + ": "));
}

INSTANTIATE_TEST_SUITE_P(
    Unsupported, GoTemplateErrorTest,
    ::testing::Values(
        BadCase{"{{if .WorkerID}}x{{end}}", "unsupported template construct {{if}}", 1, 3},
        BadCase{"a\n  {{ if .WorkerID}}x{{end}}", "unsupported template construct {{if}}", 2, 6},
        BadCase{"{{printf \"%s\" .WorkerID}}",
                "unsupported template construct function call \"printf\"", 1, 3},
        BadCase{"{{.WorkerID | printf \"%q\"}}", "unsupported template construct pipeline \"|\"", 1,
                13},
        BadCase{"{{$x := .WorkerID}}{{$x}}", "unsupported template construct variable $x", 1, 3},
        BadCase{"{{with $x := .HyperParameters}}{{end}}",
                "unsupported template construct variable $x", 1, 8},
        BadCase{"{{template \"x\"}}", "unsupported template construct {{template}}", 1, 3},
        BadCase{"{{define \"x\"}}{{end}}", "unsupported template construct {{define}}", 1, 3},
        BadCase{"{{block \"x\" .}}{{end}}", "unsupported template construct {{block}}", 1, 3},
        BadCase{"{{range .HyperParameters}}{{break}}{{end}}",
                "unsupported template construct {{break}}", 1, 29},
        BadCase{"{{with .HyperParameters}}{{else if .WorkerID}}{{end}}",
                "unsupported template construct {{else if}}", 1, 33},
        BadCase{"{{with .HyperParameters}}{{else with .WorkerID}}{{end}}",
                "unsupported template construct {{else with}}", 1, 33},
        BadCase{"{{ 3 }}", "unsupported template construct literal 3", 1, 4},
        BadCase{"{{-3}}", "unsupported template construct literal -3", 1, 3},
        BadCase{"{{\"abc\"}}", "unsupported template construct literal \"abc\"", 1, 3},
        BadCase{"{{`raw`}}", "unsupported template construct literal `raw`", 1, 3},
        BadCase{"{{true}}", "unsupported template construct literal true", 1, 3},
        BadCase{"{{nil}}", "unsupported template construct literal nil", 1, 3},
        BadCase{"{{(.WorkerID)}}", "unsupported template construct parenthesized expression", 1, 3},
        BadCase{"{{.WorkerID .NameSpace}}",
                "unsupported template construct argument .NameSpace after {{.WorkerID}}", 1, 13},
        BadCase{"{{.Foo}}",
                "unknown field .Foo on dot, which is the template data {StudyID, TrialID, "
                "WorkerID, NameSpace, HyperParameters}; it has .StudyID, .TrialID, .WorkerID, "
                ".NameSpace and .HyperParameters",
                1, 3},
        BadCase{"x\n{{.Name}}", "unknown field .Name on dot, which is the template data", 2, 3},
        BadCase{"{{range .HyperParameters}}\n  {{.Valu}}{{end}}",
                "unknown field .Valu on dot, which is a HyperParameter {Name, Value, "
                "ParameterType}; it has .Name, .Value and .ParameterType",
                2, 5},
        BadCase{"{{.WorkerID.Foo}}",
                "unknown field .Foo on .WorkerID, which is a string; a string has no fields", 1,
                12},
        BadCase{"{{.HyperParameters.Name}}",
                "unknown field .Name on .HyperParameters, which is the .HyperParameters list; a "
                "list has no fields",
                1, 19},
        // An unknown field is caught even in a body that an empty list would skip.
        BadCase{"{{with .HyperParameters}}{{range .}}{{.Foo}}{{end}}{{end}}", "unknown field .Foo",
                1, 39},
        BadCase{"{{.HyperParameters}}",
                "{{.HyperParameters}} is the .HyperParameters list, not a string: visit its "
                "elements with {{range .}}",
                1, 3},
        BadCase{"{{range .HyperParameters}}{{.}}{{end}}",
                "{{.}} is a HyperParameter {Name, Value, ParameterType}, not a string: print "
                "{{.Name}}, {{.Value}} or {{.ParameterType}}",
                1, 29},
        BadCase{"{{.}}", "{{.}} is the template data", 1, 3},
        BadCase{"{{range .WorkerID}}{{end}}",
                "{{range .WorkerID}}: cannot range over a string; only .HyperParameters is a list",
                1, 3},
        BadCase{"{{range .}}{{end}}", "cannot range over the template data", 1, 3},
        BadCase{"{{with}}{{end}}", "missing value for {{with}}", 1, 3},
        BadCase{"a\nb {{.WorkerID", "unclosed action: \"{{\" has no matching \"}}\"", 2, 3},
        BadCase{"{{.WorkerID}", "unexpected \"}\" in action (an action ends with \"}}\")", 1, 12},
        BadCase{"{{.WorkerID\n", "unclosed action", 1, 1},
        BadCase{"{{end}}", "unexpected {{end}}: no {{with}} or {{range}} is open", 1, 3},
        BadCase{"{{with .WorkerID}}{{end}}{{end}}", "unexpected {{end}}", 1, 28},
        BadCase{"{{else}}", "unexpected {{else}}: no {{with}} or {{range}} is open", 1, 3},
        BadCase{"{{with .HyperParameters}}\nx",
                "unexpected end of template: {{with}} at line 1, column 3 has no matching {{end}}",
                2, 2},
        BadCase{"{{with .HyperParameters}}{{range .}}{{end}}",
                "unexpected end of template: {{with}} at line 1, column 3 has no matching {{end}}",
                1, 44},
        BadCase{"{{with .HyperParameters}}{{else}}{{else}}{{end}}",
                "{{with}} has more than one {{else}}", 1, 36},
        BadCase{"{{}}", "empty action {{}}", 1, 1}, BadCase{"{{-  -}}", "empty action {{}}", 1, 1},
        BadCase{"{{- -}}", "unexpected \"-\" in action", 1, 5},
        BadCase{"{{.WorkerID-}}",
                "unexpected \"-\" in action; a trim marker needs a space: \"{{- \" and \" -}}\"", 1,
                12},
        BadCase{"{{-.WorkerID}}", "a trim marker needs a space", 1, 3},
        BadCase{"{{/* note */ }}", "comment ends before closing delimiter", 1, 13},
        BadCase{"x {{/* note", "unclosed comment", 1, 3},
        BadCase{"{{ /* note */}}", "a comment must start right after \"{{\"", 1, 4},
        BadCase{"{{\"abc}}", "unterminated quoted string", 1, 3},
        BadCase{"{{.WorkerID := 1}}", "unsupported template construct variable assignment \":=\"",
                1, 13},
        BadCase{"{{.WorkerID, .NameSpace}}", "unexpected \",\" in action", 1, 12},
        BadCase{"{{@}}", "unrecognized character in action: '@'", 1, 3}));

TEST(GoTemplateTest, NestingIsBounded) {
  std::string ok, too_deep;
  for (int i = 0; i < 100; ++i) ok += "{{with .}}";
  ok += "{{.WorkerID}}";
  for (int i = 0; i < 100; ++i) ok += "{{end}}";
  EXPECT_EQ(Render(ok, Data()), "trial-7");
  for (int i = 0; i < 101; ++i) too_deep += "{{with .}}";
  Position pos;
  EXPECT_THAT(ParseError(too_deep, &pos),
              HasSubstr("{{with}}/{{range}} blocks nested deeper than 100 levels"));
  EXPECT_EQ(pos.column, 100 * 10 + 3);
}

TEST(GoTemplateTest, CustomWhereFormatsTheLocation) {
  absl::StatusOr<Template> t = Template::Parse("a\n {{if}}", [](Position p) {
    return "study.yaml:" + std::to_string(40 + p.line) + ":" + std::to_string(p.column);
  });
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()),
              ::testing::StartsWith("study.yaml:42:4: unsupported template construct {{if}} ("
                                    "supported: {{.StudyID}}"));
}

}  // namespace
}  // namespace hpt::engine::gotemplate
