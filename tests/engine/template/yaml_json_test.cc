#include "engine/template/yaml_json.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpt::engine {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Yaml(const std::string& text) {
  absl::StatusOr<json> j = YamlToJson(text);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : json();
}

TEST(YamlToJsonTest, PlainScalarsAreTypedQuotedOnesStayStrings) {
  const json j = Yaml(
      "int: 12\n"
      "neg: -7\n"
      "plus: +3\n"
      "hex: 0x1F\n"
      "oct: 0o17\n"
      "float: 1.5\n"
      "exp: 1e3\n"
      "dot: .5\n"
      "t: true\n"
      "f: False\n"
      "n1: null\n"
      "n2: ~\n"
      "n3:\n"
      "s: abc\n"
      "q1: '12'\n"
      "q2: \"true\"\n"
      "q3: 'null'\n"
      "yes: yes\n"
      "off: off\n"
      "inf: .inf\n"
      "ver: 1.2.3\n"
      "block: |\n"
      "  12\n");
  EXPECT_EQ(j["int"], json(12));
  EXPECT_TRUE(j["int"].is_number_integer());
  EXPECT_EQ(j["neg"], json(-7));
  EXPECT_EQ(j["plus"], json(3));
  EXPECT_EQ(j["hex"], json(31));
  EXPECT_EQ(j["oct"], json(15));
  EXPECT_EQ(j["float"], json(1.5));
  EXPECT_TRUE(j["float"].is_number_float());
  EXPECT_EQ(j["exp"], json(1000.0));
  EXPECT_EQ(j["dot"], json(0.5));
  EXPECT_EQ(j["t"], json(true));
  EXPECT_EQ(j["f"], json(false));
  EXPECT_TRUE(j["n1"].is_null());
  EXPECT_TRUE(j["n2"].is_null());
  EXPECT_TRUE(j["n3"].is_null());
  EXPECT_EQ(j["s"], json("abc"));
  EXPECT_EQ(j["q1"], json("12"));
  EXPECT_EQ(j["q2"], json("true"));
  EXPECT_EQ(j["q3"], json("null"));
  EXPECT_EQ(j["yes"], json("yes"));
  EXPECT_EQ(j["off"], json("off"));
  EXPECT_EQ(j["inf"], json(".inf"));
  EXPECT_EQ(j["ver"], json("1.2.3"));
  EXPECT_EQ(j["block"], json("12\n"));
}

TEST(YamlToJsonTest, LargeIntegers) {
  const json j =
      Yaml("a: 9223372036854775807\nb: 18446744073709551615\nc: 1844674407370955161500\n");
  EXPECT_EQ(j["a"].get<int64_t>(), INT64_MAX);
  EXPECT_EQ(j["b"].get<uint64_t>(), UINT64_MAX);
  EXPECT_TRUE(j["c"].is_number_float());
  EXPECT_DOUBLE_EQ(j["c"].get<double>(), 1844674407370955161500.0);
}

TEST(YamlToJsonTest, NestedStructureAndJsonInput) {
  EXPECT_EQ(Yaml("kind: Job\nspec:\n  containers:\n  - name: a\n    args: [x, 1]\n"),
            json::parse(R"({"kind":"Job","spec":{"containers":[{"name":"a","args":["x",1]}]}})"));
  EXPECT_EQ(Yaml(R"({"a": [1, "2", {"b": null}]})"), json::parse(R"({"a":[1,"2",{"b":null}]})"));
}

TEST(YamlToJsonTest, InvalidYamlQuotesTheLine) {
  absl::StatusOr<json> j = YamlToJson("kind: Job\nspec: [a,\n  b: c\n");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(j.status().message()), HasSubstr("invalid YAML: line "));
  absl::StatusOr<json> tab = YamlToJson("a:\n\t- b\n");
  ASSERT_FALSE(tab.ok());
  EXPECT_THAT(std::string(tab.status().message()),
              HasSubstr("line 2, column 2: illegal block entry"));
  EXPECT_THAT(std::string(tab.status().message()), HasSubstr(": \"\t- b\""));
}

TEST(YamlToJsonTest, DuplicateKeys) {
  absl::StatusOr<json> j = YamlToJson("a: 1\nb:\n  c: 1\n  c: 2\n");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(j.status().message(), "line 4, column 3: duplicate key \"c\": \"  c: 2\"");
}

TEST(YamlToJsonTest, NonScalarKey) {
  absl::StatusOr<json> j = YamlToJson("? [a, b]\n: 1\n");
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(std::string(j.status().message()), HasSubstr("a mapping key must be a plain string"));
}

TEST(YamlToJsonTest, AliasBombsAndDeepNestingAreRefused) {
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 7; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) bomb += ", " + prev;
    bomb += "]\n";
  }
  absl::StatusOr<json> j = YamlToJson(bomb);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(),
            "more than 1000000 values (do YAML aliases expand into a huge document?)");

  std::string deep;
  for (int i = 0; i < 150; ++i) deep += "[";
  for (int i = 0; i < 150; ++i) deep += "]";
  j = YamlToJson(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(std::string(j.status().message()), HasSubstr("nested deeper than 100 levels"));
}

TEST(YamlToJsonTest, EmptyAndMultiDocument) {
  absl::StatusOr<json> empty = YamlToJson("  \n# only a comment\n");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "the YAML text is empty");
  absl::StatusOr<json> two = YamlToJson("a: 1\n---\nb: 2\n");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message(),
            "the YAML text holds 2 documents; exactly one object is expected");
}

}  // namespace
}  // namespace hpt::engine
