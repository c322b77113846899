// The located YAML readers and the YAML -> JSON conversion behind engine/spec.
#include "engine/spec/yaml_reader.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::engine::spec_internal {
namespace {

using ::testing::SizeIs;

TEST(ParseNumber, WholeTextOnly) {
  EXPECT_EQ(ParseNumber("0.01"), 0.01);
  EXPECT_EQ(ParseNumber(" +1e3 "), 1000.0);
  EXPECT_EQ(ParseNumber("-.5"), -0.5);
  EXPECT_EQ(ParseNumber("abc"), std::nullopt);
  EXPECT_EQ(ParseNumber("1.0abc"), std::nullopt);
  EXPECT_EQ(ParseNumber(""), std::nullopt);
  EXPECT_EQ(ParseNumber("++1"), std::nullopt);
  EXPECT_EQ(ParseNumber("inf"), std::nullopt);
  EXPECT_EQ(ParseNumber("nan"), std::nullopt);
  EXPECT_EQ(ParseNumber("0x10"), std::nullopt);
}

TEST(ParseInt64, WholeTextOnly) {
  EXPECT_EQ(ParseInt64("42"), 42);
  EXPECT_EQ(ParseInt64("+7"), 7);
  EXPECT_EQ(ParseInt64("-3"), -3);
  EXPECT_EQ(ParseInt64("3.0"), std::nullopt);
  EXPECT_EQ(ParseInt64("99999999999999999999"), std::nullopt);
}

TEST(Describe, SaysHowAValueWasWritten) {
  YAML::Node n = YAML::Load("{a: x, b: 'x', c: [1], d: {e: 1}, f: ~}");
  EXPECT_EQ(Describe(n["a"]), "\"x\"");
  EXPECT_EQ(Describe(n["b"]), "the string \"x\"");
  EXPECT_EQ(Describe(n["c"]), "a list");
  EXPECT_EQ(Describe(n["d"]), "a map");
  EXPECT_EQ(Describe(n["f"]), "null");
  EXPECT_EQ(Quote("a\"b\\c\nd"), R"("a\"b\\c\nd")");
}

TEST(YamlToJson, CoreSchemaTyping) {
  YAML::Node n = YAML::Load(R"(
i: 42
neg: -7
plus: +5
big: 18446744073709551615
hex: 0x1F
oct: 0o17
f: 1.5
e: 2e3
dot: .5
t: true
F: FALSE
n: null
tilde: ~
empty:
q: "42"
sq: 'true'
tagged: !!str 12
yes: yes
inf: .inf
nan: .nan
ver: 1.2.3
dash: "-"
block: |
  a
list: [1, "2", x]
nested: {a: {b: [true]}}
)");
  std::string error;
  std::optional<nlohmann::ordered_json> converted = YamlToJson(n, &error);
  ASSERT_TRUE(converted.has_value()) << error;
  const nlohmann::ordered_json& j = *converted;
  EXPECT_EQ(j["i"], 42);
  EXPECT_TRUE(j["i"].is_number_integer());
  EXPECT_EQ(j["neg"], -7);
  EXPECT_EQ(j["plus"], 5);
  EXPECT_EQ(j["big"], 18446744073709551615ull);
  EXPECT_EQ(j["hex"], 31);
  EXPECT_EQ(j["oct"], 15);
  EXPECT_EQ(j["f"], 1.5);
  EXPECT_EQ(j["e"], 2000.0);
  EXPECT_EQ(j["dot"], 0.5);
  EXPECT_EQ(j["t"], true);
  EXPECT_EQ(j["F"], false);
  EXPECT_TRUE(j["n"].is_null());
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["q"], "42");
  EXPECT_EQ(j["sq"], "true");
  EXPECT_EQ(j["tagged"], "12");
  EXPECT_EQ(j["yes"], "yes");
  EXPECT_EQ(j["inf"], ".inf");
  EXPECT_EQ(j["nan"], ".nan");
  EXPECT_EQ(j["ver"], "1.2.3");
  EXPECT_EQ(j["dash"], "-");
  EXPECT_EQ(j["block"], "a\n");
  EXPECT_EQ(j["list"], nlohmann::ordered_json::parse(R"([1, "2", "x"])"));
  EXPECT_EQ(j["nested"]["a"]["b"][0], true);
  // Keys keep the file's order.
  EXPECT_EQ(j.begin().key(), "i");
}

TEST(YamlToJson, CyclicAndExplodingAliasesAreErrors) {
  std::string error;
  EXPECT_EQ(YamlToJson(YAML::Load("a: &x\n  b: *x\n"), &error), std::nullopt);
  EXPECT_EQ(error, "is nested more than 100 levels deep (an alias that refers to itself?)");

  // Ten levels of ten aliases each: 10^10 values once expanded.
  std::string laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 10; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) laughs += (k ? ", " : "") + prev;
    laughs += "]\n";
  }
  error.clear();
  EXPECT_EQ(YamlToJson(YAML::Load(laughs), &error), std::nullopt);
  EXPECT_EQ(error, "has more than 1000000 values (aliases that expand too far?)");
}

TEST(LoadYamlDocuments, ErrorsCarryThePlace) {
  std::string error;
  Loc loc;
  std::optional<std::vector<YAML::Node>> docs =
      LoadYamlDocuments("a: 1\n---\nb: 2\n", &error, &loc);
  ASSERT_TRUE(docs.has_value()) << error;
  EXPECT_THAT(*docs, SizeIs(2));

  EXPECT_EQ(LoadYamlDocuments("a: [1, 2\nb: c", &error, &loc), std::nullopt);
  EXPECT_EQ(error, "malformed YAML: end of sequence flow not found");
  EXPECT_EQ(loc.line, 2);
  EXPECT_EQ(loc.column, 2);

  for (const char* hang : {",\n", "  ,\n", "\"a\",\n"}) {
    error.clear();
    EXPECT_EQ(LoadYamlDocuments(hang, &error, &loc), std::nullopt) << hang;
    EXPECT_EQ(error,
              "malformed YAML: the parser does not terminate here (a ',' outside any [...] or "
              "{...}?)");
  }
}

TEST(ScalarTextLine, BlockScalarsStartOnTheNextLine) {
  std::string text = "a: |-\n  x\nb: one\nc: >\n  y\n";
  YAML::Node n = YAML::Load(text);
  EXPECT_EQ(ScalarTextLine(n["a"], text), 2);
  EXPECT_EQ(ScalarTextLine(n["b"], text), 3);
  EXPECT_EQ(ScalarTextLine(n["c"], text), 5);
}

TEST(MapReader, KnownUnknownAndDuplicateKeys) {
  std::string text = "a: 1\nb: 2\na: 3\nc: ~\n";
  YAML::Node n = YAML::Load(text);
  Sink sink("f.yaml");
  MapReader m(&sink, n, "root");
  Field a = m.Get("a");
  EXPECT_TRUE(a.present);
  EXPECT_EQ(a.node.Scalar(), "1");
  EXPECT_EQ(a.path, "root.a");
  EXPECT_EQ(a.key_loc.line, 1);
  EXPECT_EQ(a.loc.column, 4);
  Field c = m.Get("c");
  EXPECT_FALSE(c.present);  // null reads as absent
  EXPECT_EQ(c.key_loc.line, 4);
  Field d = m.Get("d");
  EXPECT_FALSE(d.present);
  EXPECT_EQ(d.path, "root.d");
  EXPECT_EQ(d.key_loc.line, 1);  // the map's own place
  m.ReportUnknown(false, "a, c, d");
  ASSERT_THAT(sink.diagnostics(), SizeIs(2));
  EXPECT_EQ(sink.diagnostics()[0].ToString(),
            "f.yaml:3:1: error: root.a: duplicate key \"a\" (first at line 1); a key may appear "
            "once");
  EXPECT_EQ(sink.diagnostics()[1].ToString(),
            "f.yaml:2:1: warning: root.b: unknown key \"b\" is ignored (check its spelling; known "
            "keys here: a, c, d)");
}

TEST(Readers, TypeErrorsAreReportedNotThrown) {
  YAML::Node n = YAML::Load("i: [1]\nb: 'true'\nu: 1.5\ns: {x: 1}\nl: [a, [b]]\nm: {k: [v]}\n");
  Sink sink("f.yaml");
  MapReader m(&sink, n, "");
  EXPECT_EQ(ReadInt(&sink, m.Get("i"), 0, 10), std::nullopt);
  EXPECT_EQ(ReadBool(&sink, m.Get("b")), std::nullopt);
  EXPECT_EQ(ReadUint64(&sink, m.Get("u")), std::nullopt);
  EXPECT_EQ(ReadString(&sink, m.Get("s")), std::nullopt);
  EXPECT_EQ(ReadStringList(&sink, m.Get("l")), std::nullopt);
  EXPECT_EQ(ReadStringMap(&sink, m.Get("m")), std::nullopt);
  EXPECT_EQ(ReadInt(&sink, m.Get("absent"), 0, 10), std::nullopt);
  std::vector<std::string> got;
  for (const Diagnostic& d : sink.diagnostics()) got.push_back(d.ToString());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "f.yaml:1:4: error: i: must be an integer, got a list",
                     "f.yaml:2:4: error: b: must be true or false, got the string \"true\"",
                     "f.yaml:3:4: error: u: must be an unsigned integer (0 to "
                     "18446744073709551615), got \"1.5\"",
                     "f.yaml:4:4: error: s: must be a string, got a map",
                     "f.yaml:5:8: error: l[1]: must be a string, got a list",
                     "f.yaml:6:8: error: m.k: must be a string, got a list",
                 }));
}

}  // namespace
}  // namespace hpt::engine::spec_internal
