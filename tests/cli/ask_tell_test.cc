#include "cli/ask_tell.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

using Json = nlohmann::ordered_json;
using suggest::Assignment;
using suggest::Distribution;
using suggest::History;
using suggest::ParamType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kOk[] = R"({"ok":true})";
constexpr char kAsk[] = R"({"op":"ask"})";

std::string Err(const std::string& message) {
  Json reply = Json::object();
  reply["error"] = message;
  return reply.dump();
}

std::string Init(const std::string& space, uint64_t seed = 0) {
  return absl::StrCat(R"({"op":"init","space":)", space, R"(,"seed":)", seed, "}");
}

std::string AskN(int n) { return absl::StrCat(R"({"op":"ask","n":)", n, "}"); }

std::string Tell(const std::string& params, const std::string& value) {
  return absl::StrCat(R"({"op":"tell","params":)", params, R"(,"value":)", value, "}");
}

// Every parameter type; the reply mapping below is written out by hand for it.
constexpr char kMixedSpace[] =
    R"([{"name":"x","type":"float","low":0,"high":1},)"
    R"({"name":"lr","type":"float","low":1e-5,"high":0.1,"log":true},)"
    R"({"name":"k","type":"int","low":0,"high":10},)"
    R"({"name":"c","type":"categorical","choices":["a",2,true,null,0.5]},)"
    R"({"name":"d","type":"discrete","values":[1,2.5,10]}])";

// What the client must see for one assignment of kMixedSpace.
Json MixedReply(const Assignment& a) {
  static const std::map<std::string, Json> kChoice = {
      {"a", "a"}, {"2", 2}, {"true", true}, {"null", nullptr}, {"0.5", 0.5}};
  static const std::map<std::string, Json> kDiscrete = {{"1", 1}, {"2.5", 2.5}, {"10", 10}};
  Json params = Json::object();
  for (const suggest::ParamValue& v : a) {
    if (v.name == "x" || v.name == "lr") {
      params[v.name] = *suggest::Numeric(v.value);
    } else if (v.name == "k") {
      int64_t k = -1;
      EXPECT_TRUE(absl::SimpleAtoi(v.value, &k)) << v.value;
      params[v.name] = k;
    } else if (v.name == "c") {
      params[v.name] = kChoice.at(v.value);
    } else {
      params[v.name] = kDiscrete.at(v.value);
    }
  }
  return params;
}

std::string ParamsReply(const Json& params) {
  Json reply = Json::object();
  reply["params"] = params;
  return reply.dump();
}

// --------------------------------------------------------------------------------- protocol

TEST(AskTellProtocol, BlankLinesGetNoReply) {
  AskTellSession s({.name = "random"});
  EXPECT_EQ(s.Handle(""), "");
  EXPECT_EQ(s.Handle("  \t "), "");
  EXPECT_EQ(s.Handle("\r"), "");
  EXPECT_FALSE(s.initialized());
}

TEST(AskTellProtocol, MalformedRequests) {
  AskTellSession s({.name = "random"});
  EXPECT_EQ(s.Handle("not json"),
            Err("bad JSON: parse error at line 1, column 2: syntax error while parsing value - "
                "invalid literal; last read: 'no'"));
  EXPECT_EQ(s.Handle(R"({"op":"ask"}{"op":"ask"})"),
            Err("bad JSON: parse error at line 1, column 13: syntax error while parsing value - "
                "unexpected '{'; expected end of input"));
  EXPECT_EQ(s.Handle(R"({"op":"ask")"),
            Err("bad JSON: parse error at line 1, column 12: syntax error while parsing object - "
                "unexpected end of input; expected '}'"));
  EXPECT_EQ(s.Handle("[1]"),
            Err(R"(a request must be a JSON object like {"op":"ask"}; got array)"));
  EXPECT_EQ(s.Handle("42"),
            Err(R"(a request must be a JSON object like {"op":"ask"}; got number 42)"));
  EXPECT_EQ(s.Handle("{}"),
            Err(R"(a request needs "op", one of init, ask, tell, close (it is missing))"));
  EXPECT_EQ(s.Handle(R"({"op":1})"),
            Err(R"(a request needs "op", one of init, ask, tell, close; got number 1)"));
  EXPECT_EQ(s.Handle(R"({"op":"fly"})"),
            Err(R"(unknown op "fly"; allowed: init, ask, tell, close)"));
  EXPECT_EQ(s.Handle(R"({"op":"close","now":true})"),
            Err(R"(close: unknown field "now"; allowed: op)"));
  EXPECT_FALSE(s.closed());
}

TEST(AskTellProtocol, InvalidUtf8GetsAValidJsonError) {
  AskTellSession s({.name = "random"});
  const std::string reply = s.Handle("{\"op\":\"\xff\"}");
  Json parsed = Json::parse(reply);  // throws (fails the test) if the reply is not JSON
  ASSERT_TRUE(parsed.contains("error"));
  EXPECT_THAT(parsed["error"].get<std::string>(),
              HasSubstr("syntax error while parsing value - invalid string: ill-formed UTF-8"));
}

TEST(AskTellProtocol, DeepNestingIsAnErrorNotACrash) {
  AskTellSession s({.name = "random"});
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_EQ(s.Handle(deep), Err(R"(a request must be a JSON object like {"op":"ask"}; got array)"));
  const std::string open = std::string(200000, '[');
  EXPECT_THAT(s.Handle(open), StartsWith(R"({"error":"bad JSON: parse error at line 1)"));
}

TEST(AskTellProtocol, NanAndOverflowAreNotNumbers) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1}])")), kOk);
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"x":0.5},"value":NaN})"),
            Err("bad JSON: parse error at line 1, column 41: syntax error while parsing value - "
                "invalid literal; last read: '\"value\":N' (NaN and Infinity are not JSON; tell a "
                "failed trial with \"value\": null)"));
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"x":0.5},"value":1e999})"),
            Err("bad JSON: number overflow parsing '1e999'"));
  EXPECT_TRUE(s.history().trials.empty());
}

TEST(AskTellProtocol, AskAndTellNeedInitFirst) {
  AskTellSession s({.name = "random"});
  const std::string hint =
      R"( ({"op":"init","space":[{"name":"x","type":"float","low":0,"high":1}]}))";
  EXPECT_EQ(s.Handle(kAsk), Err("ask: send init first" + hint));
  EXPECT_EQ(s.Handle(Tell(R"({"x":0.5})", "1")), Err("tell: send init first" + hint));
}

TEST(AskTellProtocol, CloseBeforeInitAndWithCrLf) {
  AskTellSession s({.name = "random"});
  EXPECT_EQ(s.Handle("{\"op\":\"close\"}\r"), kOk);
  EXPECT_TRUE(s.closed());
}

// ------------------------------------------------------------------------------------- init

TEST(AskTellInit, BuildsTheSearchSpace) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(absl::StrCat(R"({"op":"init","space":)", kMixedSpace, R"(,"budget":100})")),
            kOk);
  EXPECT_TRUE(s.initialized());
  EXPECT_EQ(s.budget(), 100u);
  suggest::SearchSpace expected;
  expected.params = {
      {.name = "x", .type = ParamType::kDouble, .min = 0, .max = 1},
      {.name = "lr",
       .type = ParamType::kDouble,
       .min = 1e-5,
       .max = 0.1,
       .distribution = Distribution::kLogUniform},
      {.name = "k", .type = ParamType::kInt, .min = 0, .max = 10},
      {.name = "c", .type = ParamType::kCategorical, .list = {"a", "2", "true", "null", "0.5"}},
      {.name = "d", .type = ParamType::kDiscrete, .list = {"1", "2.5", "10"}},
  };
  EXPECT_EQ(s.space(), expected);
}

TEST(AskTellInit, StepsAndIntLog) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(
      s.Handle(Init(R"([{"name":"q","type":"float","low":0,"high":1,"step":0.25},)"
                    R"({"name":"n","type":"int","low":2,"high":64,"step":2},)"
                    R"({"name":"m","type":"int","low":1,"high":64,"log":true,"step":1},)"
                    R"({"name":"z","type":"float","low":1,"high":2,"log":false,"step":null}])")),
      kOk);
  ASSERT_EQ(s.space().params.size(), 4u);
  EXPECT_EQ(s.space().params[0].step, 0.25);
  EXPECT_EQ(s.space().params[1].step, 2);
  EXPECT_EQ(s.space().params[2].step, 1);
  EXPECT_EQ(s.space().params[2].distribution, Distribution::kLogUniform);
  EXPECT_EQ(s.space().params[3].step, std::nullopt);
  EXPECT_EQ(s.space().params[3].distribution, Distribution::kUniform);
  EXPECT_EQ(s.budget(), std::nullopt);
}

struct BadInit {
  std::string request;
  std::string error;
};

TEST(AskTellInit, BadSpacesNameTheItemAndField) {
  const std::string ex = R"({"name":"x","type":"float","low":0,"high":1})";
  const std::vector<BadInit> cases = {
      {R"({"op":"init"})",
       R"(init: "space" must be a non-empty list of parameters like [)" + ex + "] (it is missing)"},
      {R"({"op":"init","space":[]})",
       R"(init: "space" must be a non-empty list of parameters like [)" + ex + "] (it is empty)"},
      {R"({"op":"init","space":{"x":1}})",
       R"(init: "space" must be a non-empty list of parameters like [)" + ex + "]; got object"},
      {Init(R"(["x"])"),
       R"(init: space[0]: a parameter must be an object like )" + ex + R"(; got string "x")"},
      {Init(R"([{"type":"float","low":0,"high":1}])"),
       R"(init: space[0]: "name" must be a non-empty string (it is missing))"},
      {Init(R"([{"name":"","type":"float","low":0,"high":1}])"),
       R"(init: space[0]: "name" must be a non-empty string; got string "")"},
      {Init(R"([{"name":"x","type":"double","low":0,"high":1}])"),
       R"(init: space[0] ("x"): "type" must be one of float, int, categorical, discrete; got string "double")"},
      {Init(R"([{"name":"x","low":0,"high":1}])"),
       R"(init: space[0] ("x"): "type" must be one of float, int, categorical, discrete (it is missing))"},
      {Init(R"([{"name":"x","type":"float","high":1}])"),
       R"(init: space[0] ("x"): "low" is required (a finite number))"},
      {Init(R"([{"name":"x","type":"float","low":"0","high":1}])"),
       R"(init: space[0] ("x"): "low" must be a finite number; got string "0")"},
      {Init(R"([{"name":"x","type":"float","low":0,"high":true}])"),
       R"(init: space[0] ("x"): "high" must be a finite number; got boolean true)"},
      {Init(R"([{"name":"k","type":"int","low":0.5,"high":3}])"),
       R"(init: space[0] ("k"): "low" must be an integer within +-2^53; got number 0.5)"},
      {Init(R"([{"name":"k","type":"int","low":0,"high":18014398509481984}])"),
       R"(init: space[0] ("k"): "high" must be an integer within +-2^53; got number 18014398509481984)"},
      {Init(R"([{"name":"x","type":"float","low":2,"high":1}])"),
       R"(init: space[0] ("x"): "low" (2) must be <= "high" (1))"},
      {Init(R"([{"name":"x","type":"float","low":0,"high":1,"log":"yes"}])"),
       R"(init: space[0] ("x"): "log" must be true or false; got string "yes")"},
      {Init(R"([{"name":"x","type":"float","low":0,"high":1,"log":true}])"),
       R"(init: space[0] ("x"): "log": true needs "low" > 0; got 0)"},
      {Init(R"([{"name":"x","type":"float","low":0,"high":1,"step":0}])"),
       R"(init: space[0] ("x"): "step" must be a finite number > 0; got number 0)"},
      {Init(R"([{"name":"k","type":"int","low":0,"high":9,"step":1.5}])"),
       R"(init: space[0] ("k"): "step" must be an integer >= 1; got number 1.5)"},
      {Init(R"([{"name":"x","type":"float","low":1,"high":9,"log":true,"step":1}])"),
       R"(init: space[0] ("x"): "log": true cannot be combined with "step")"},
      {Init(R"([{"name":"k","type":"int","low":1,"high":9,"log":true,"step":2}])"),
       R"(init: space[0] ("k"): "log": true cannot be combined with "step" other than 1)"},
      {Init(R"([{"name":"x","type":"float","min":0,"max":1}])"),
       R"(init: space[0] ("x"): unknown field "min"; allowed: name, type, low, high, log, step)"},
      {Init(R"([{"name":"c","type":"categorical","values":["a"]}])"),
       R"(init: space[0] ("c"): unknown field "values"; allowed: name, type, choices)"},
      {Init(R"([{"name":"c","type":"categorical"}])"),
       R"(init: space[0] ("c"): "choices" must be a non-empty list of strings, numbers, booleans or null (it is missing))"},
      {Init(R"([{"name":"c","type":"categorical","choices":[]}])"),
       R"(init: space[0] ("c"): "choices" must be a non-empty list of strings, numbers, booleans or null (it is empty))"},
      {Init(R"([{"name":"c","type":"categorical","choices":"ab"}])"),
       R"(init: space[0] ("c"): "choices" must be a non-empty list of strings, numbers, booleans or null; got string "ab")"},
      {Init(R"([{"name":"c","type":"categorical","choices":["a",[1]]}])"),
       R"(init: space[0] ("c"): "choices"[1] must be a string, number, boolean or null; got array)"},
      {Init(R"([{"name":"c","type":"categorical","choices":["a","b","a"]}])"),
       R"(init: space[0] ("c"): "choices"[2] (string "a") repeats "choices"[0] (string "a"); choices must be distinct, also when written as text)"},
      {Init(R"([{"name":"c","type":"categorical","choices":[1,1.0]}])"),
       R"(init: space[0] ("c"): "choices"[1] (number 1.0) repeats "choices"[0] (number 1); choices must be distinct, also when written as text)"},
      {Init(R"([{"name":"c","type":"categorical","choices":["1",1]}])"),
       R"(init: space[0] ("c"): "choices"[1] (number 1) repeats "choices"[0] (string "1"); choices must be distinct, also when written as text)"},
      {Init(R"([{"name":"d","type":"discrete","values":[1,"2"]}])"),
       R"(init: space[0] ("d"): "values"[1] must be a finite number; got string "2")"},
      {Init(R"([{"name":"d","type":"discrete","values":[0.5,5e-1]}])"),
       R"(init: space[0] ("d"): "values"[1] (number 0.5) repeats "values"[0] (number 0.5); values must be distinct, also when written as text)"},
      {Init(R"([{"name":"d","type":"discrete","choices":[1]}])"),
       R"(init: space[0] ("d"): unknown field "choices"; allowed: name, type, values)"},
      {Init(R"([{"name":"x","type":"float","low":0,"high":1},)"
            R"({"name":"x","type":"int","low":0,"high":1}])"),
       R"(init: space[1]: name "x" is already used by space[0]; names must be unique)"},
      {Init(R"([{"name":"x","type":"float","low":0,"high":1,"step":1e-300}])"),
       "init: space: parameter 'x' (double): feasibleSpace.step 1e-300 is too small for the "
       "range [0, 1] (more than 2^53 values)"},
      {R"({"op":"init","space":[)" + ex + R"(],"sampler":"tpe"})",
       R"(init: unknown field "sampler"; allowed: op, space, seed, budget)"},
      {R"({"op":"init","space":[)" + ex + R"(],"seed":-1})",
       R"(init: "seed" must be an integer >= 0; got number -1)"},
      {R"({"op":"init","space":[)" + ex + R"(],"seed":"7"})",
       R"(init: "seed" must be an integer >= 0; got string "7")"},
      {R"({"op":"init","space":[)" + ex + R"(],"seed":1.5})",
       R"(init: "seed" must be an integer >= 0; got number 1.5)"},
      {R"({"op":"init","space":[)" + ex + R"(],"budget":-3})",
       R"(init: "budget" must be an integer >= 0; got number -3)"},
  };
  for (const BadInit& c : cases) {
    AskTellSession s({.name = "random"});
    EXPECT_EQ(s.Handle(c.request), Err(c.error)) << c.request;
    EXPECT_FALSE(s.initialized()) << c.request;
  }
}

TEST(AskTellInit, SamplerErrorsComeFromTheRegistry) {
  const std::string space = R"([{"name":"x","type":"float","low":0,"high":1}])";
  {
    AskTellSession s({.name = "nope"});
    EXPECT_EQ(s.Handle(Init(space)),
              Err(absl::StrCat("init: unknown algorithm 'nope'; known: ",
                               absl::StrJoin(suggest::KnownAlgorithms(), ", "))));
  }
  {
    AskTellSession s({.name = "random", .settings = {{"foo", "1"}}});
    EXPECT_EQ(s.Handle(Init(space)),
              Err("init: algorithm 'random': unknown setting 'foo'; allowed: random_state"));
  }
  {
    AskTellSession s({.name = "grid"});
    EXPECT_EQ(s.Handle(Init(space)),
              Err("init: grid needs feasibleSpace.step for double parameter 'x'"));
    EXPECT_FALSE(s.initialized());
  }
}

TEST(AskTellInit, OneStudyPerSessionButAFailedInitCanBeRetried) {
  AskTellSession s({.name = "random"});
  EXPECT_THAT(s.Handle(Init("[]")), StartsWith(R"({"error":"init: )"));
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1}])")), kOk);
  EXPECT_EQ(s.Handle(Init(R"([{"name":"y","type":"float","low":0,"high":1}])")),
            Err("init: the study is already initialized; one study per process (start another "
                "hpt suggest for another study)"));
  EXPECT_EQ(s.space().params[0].name, "x");
}

TEST(AskTellInit, SettingsReachTheSampler) {
  const std::string space = Init(R"([{"name":"x","type":"float","low":0,"high":1}])", 0);
  AskTellSession a({.name = "random", .settings = {{"random_state", "5"}}});
  AskTellSession b({.name = "random"});
  AskTellSession c({.name = "random"});
  ASSERT_EQ(a.Handle(space), kOk);
  ASSERT_EQ(b.Handle(space), kOk);
  ASSERT_EQ(c.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1}])", 5)), kOk);
  const std::string from_setting = a.Handle(kAsk);
  EXPECT_NE(from_setting, b.Handle(kAsk));  // random_state overrides the seed 0 ...
  EXPECT_EQ(from_setting, c.Handle(kAsk));  // ... exactly like seed 5
}

// -------------------------------------------------------------------------------------- ask

// ask/tell against a reference sampler fed the same history: the replies are the sampler's own
// proposals, typed, in the space's order.
class AskTellAgainstSampler : public ::testing::TestWithParam<std::string> {};

TEST_P(AskTellAgainstSampler, RepliesAreTheSamplersProposalsTyped) {
  const std::string algo = GetParam();
  AskTellSession s({.name = algo});
  ASSERT_EQ(s.Handle(Init(kMixedSpace, 7)), kOk);
  auto ref = suggest::MakeSampler({.name = algo}, s.space(), 7);
  ASSERT_TRUE(ref.ok()) << ref.status();
  History expected_history;
  for (int round = 0; round < 20; ++round) {
    auto proposal = (*ref)->Suggest(s.space(), expected_history, 1);
    ASSERT_TRUE(proposal.ok()) << proposal.status();
    ASSERT_EQ(proposal->size(), 1u);
    const Json params = MixedReply((*proposal)[0]);
    ASSERT_EQ(s.Handle(kAsk), ParamsReply(params)) << "round " << round;
    ASSERT_EQ(s.history().trials.size(), static_cast<size_t>(round + 1));
    EXPECT_EQ(s.history().trials.back().params, (*proposal)[0]);
    EXPECT_TRUE(s.history().trials.back().pending);
    // Tell it back exactly as a client would: the reply's params re-serialized.
    ASSERT_EQ(s.Handle(Tell(params.dump(), absl::StrCat(round * 0.5))), kOk);
    EXPECT_FALSE(s.history().trials.back().pending);
    EXPECT_EQ(s.history().trials.back().value, round * 0.5);
    expected_history.trials.push_back({(*proposal)[0], round * 0.5, false});
  }
  auto batch = (*ref)->Suggest(s.space(), expected_history, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 4u);
  Json list = Json::array();
  for (const Assignment& a : *batch) list.push_back(MixedReply(a));
  Json reply = Json::object();
  reply["params_list"] = list;
  EXPECT_EQ(s.Handle(AskN(4)), reply.dump());
  ASSERT_EQ(s.history().trials.size(), 24u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(s.history().trials[20 + k].params, (*batch)[k]);
    EXPECT_TRUE(s.history().trials[20 + k].pending);
  }
}

INSTANTIATE_TEST_SUITE_P(Samplers, AskTellAgainstSampler, ::testing::Values("random", "sobol"));

TEST(AskTellAsk, SameSeedSameRepliesOtherSeedOthers) {
  AskTellSession a({.name = "random"}), b({.name = "random"}), c({.name = "random"});
  ASSERT_EQ(a.Handle(Init(kMixedSpace, 3)), kOk);
  ASSERT_EQ(b.Handle(Init(kMixedSpace, 3)), kOk);
  ASSERT_EQ(c.Handle(Init(kMixedSpace, 4)), kOk);
  const std::string first = a.Handle(AskN(5));
  EXPECT_EQ(first, b.Handle(AskN(5)));
  EXPECT_NE(first, c.Handle(AskN(5)));
}

TEST(AskTellAsk, BadN) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1}])")), kOk);
  const std::string prefix = R"(ask: "n" must be an integer from 1 to 10000; got )";
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":0})"), Err(prefix + "number 0"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":-1})"), Err(prefix + "number -1"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":10001})"), Err(prefix + "number 10001"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":18446744073709551615})"),
            Err(prefix + "number 18446744073709551615"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":2.0})"), Err(prefix + "number 2.0"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":"3"})"), Err(prefix + R"(string "3")"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":true})"), Err(prefix + "boolean true"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","n":null})"), Err(prefix + "null"));
  EXPECT_EQ(s.Handle(R"({"op":"ask","count":2})"),
            Err(R"(ask: unknown field "count"; allowed: op, n)"));
  EXPECT_TRUE(s.history().trials.empty());
}

TEST(AskTellAsk, BatchOfOneIsAListAndTheLargestBatchWorks) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"k","type":"int","low":3,"high":3}])")), kOk);
  EXPECT_EQ(s.Handle(AskN(1)), R"({"params_list":[{"k":3}]})");
  const Json reply = Json::parse(s.Handle(AskN(kMaxAskBatch)));
  ASSERT_EQ(reply["params_list"].size(), static_cast<size_t>(kMaxAskBatch));
  EXPECT_EQ(reply["params_list"][kMaxAskBatch - 1].dump(), R"({"k":3})");
  EXPECT_EQ(s.history().trials.size(), static_cast<size_t>(kMaxAskBatch + 1));
}

// ------------------------------------------------------------------------------------- grid

TEST(AskTellGrid, ExhaustionPlainAskIsAnErrorBatchGivesWhatIsLeft) {
  const std::string space = Init(R"([{"name":"k","type":"int","low":0,"high":2}])");
  AskTellSession s({.name = "grid"});
  ASSERT_EQ(s.Handle(space), kOk);
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"k":0}})");
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"k":1}})");
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"k":2}})");
  EXPECT_EQ(s.Handle(kAsk), Err("search space exhausted: algorithm 'grid' has nothing more to "
                                "propose after 3 trials"));
  EXPECT_EQ(s.Handle(AskN(3)), R"({"params_list":[]})");
  EXPECT_EQ(s.history().trials.size(), 3u);

  AskTellSession b({.name = "grid"});
  ASSERT_EQ(b.Handle(space), kOk);
  EXPECT_EQ(b.Handle(AskN(4)), R"({"params_list":[{"k":0},{"k":1},{"k":2}]})");
  EXPECT_EQ(b.Handle(AskN(2)), R"({"params_list":[]})");
  // Telling results does not bring points back.
  EXPECT_EQ(b.Handle(Tell(R"({"k":1})", "0.5")), kOk);
  EXPECT_EQ(b.Handle(kAsk), Err("search space exhausted: algorithm 'grid' has nothing more to "
                                "propose after 3 trials"));
}

TEST(AskTellGrid, OriginalChoiceValuesAndLatticeFloats) {
  AskTellSession s({.name = "grid"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"c","type":"categorical","choices":[true,"b",3,null]},)"
                          R"({"name":"x","type":"float","low":0,"high":1,"step":0.5}])")),
            kOk);
  EXPECT_EQ(s.Handle(AskN(12)),
            R"({"params_list":[{"c":true,"x":0.0},{"c":true,"x":0.5},{"c":true,"x":1.0},)"
            R"({"c":"b","x":0.0},{"c":"b","x":0.5},{"c":"b","x":1.0},)"
            R"({"c":3,"x":0.0},{"c":3,"x":0.5},{"c":3,"x":1.0},)"
            R"({"c":null,"x":0.0},{"c":null,"x":0.5},{"c":null,"x":1.0}]})");
  EXPECT_EQ(s.history().trials[4].params,
            (Assignment{{.name = "c", .value = "b"}, {.name = "x", .value = "0.5"}}));
}

TEST(AskTellGrid, ExternalTellsAreSkipped) {
  AskTellSession s({.name = "grid"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"k","type":"int","low":0,"high":2},)"
                          R"({"name":"d","type":"discrete","values":[0.5,1]}])")),
            kOk);
  EXPECT_EQ(s.Handle(Tell(R"({"d":0.5,"k":0})", "3")), kOk);  // any key order
  EXPECT_EQ(s.history().trials[0].params,
            (Assignment{{.name = "k", .value = "0"}, {.name = "d", .value = "0.5"}}));
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"k":0,"d":1}})");
}

// ------------------------------------------------------------------------------------- tell

TEST(AskTellTell, MatchesAskedTrialsByValueNotSpelling) {
  AskTellSession s({.name = "grid"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1,"step":0.5},)"
                          R"({"name":"k","type":"int","low":4,"high":5}])")),
            kOk);
  ASSERT_EQ(s.Handle(kAsk), R"({"params":{"x":0.0,"k":4}})");
  // 0 for 0.0, 4.0 for 4, -0.0 for 0: the same values, so the asked trial is finished.
  EXPECT_EQ(s.Handle(Tell(R"({"x":-0.0,"k":4.0})", "2.5")), kOk);
  ASSERT_EQ(s.history().trials.size(), 1u);
  EXPECT_EQ(s.history().trials[0].value, 2.5);
  EXPECT_FALSE(s.history().trials[0].pending);
  // The stored values stay the sampler's strings.
  EXPECT_EQ(s.history().trials[0].params,
            (Assignment{{.name = "x", .value = "0"}, {.name = "k", .value = "4"}}));
  EXPECT_EQ(s.Handle(Tell(R"({"x":0,"k":4})", "1")),
            Err("tell: the trial asked with these params was already told; each asked trial "
                "takes exactly one tell"));
  // 5e-1 was never asked: an external trial, recorded as samplers write values, and skipped.
  EXPECT_EQ(s.Handle(Tell(R"({"x":5e-1,"k":4})", "7")), kOk);
  ASSERT_EQ(s.history().trials.size(), 2u);
  EXPECT_EQ(s.history().trials[1].params,
            (Assignment{{.name = "x", .value = "0.5"}, {.name = "k", .value = "4"}}));
  EXPECT_EQ(s.history().trials[1].value, 7);
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"x":0.0,"k":5}})");
}

TEST(AskTellTell, IdenticalAsksAreFinishedInOrderOneTellEach) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"c","type":"categorical","choices":["only"]}])")), kOk);
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"c":"only"}})");
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"c":"only"}})");
  EXPECT_EQ(s.Handle(Tell(R"({"c":"only"})", "1")), kOk);
  EXPECT_FALSE(s.history().trials[0].pending);
  EXPECT_TRUE(s.history().trials[1].pending);
  EXPECT_EQ(s.Handle(Tell(R"({"c":"only"})", "2")), kOk);
  EXPECT_EQ(s.history().trials[1].value, 2);
  EXPECT_EQ(s.Handle(Tell(R"({"c":"only"})", "3")),
            Err("tell: the trial asked with these params was already told; each asked trial "
                "takes exactly one tell"));
  EXPECT_EQ(s.history().trials.size(), 2u);
}

TEST(AskTellTell, ExternalTrialsMayRepeat) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1}])")), kOk);
  EXPECT_EQ(s.Handle(Tell(R"({"x":0.25})", "1")), kOk);
  EXPECT_EQ(s.Handle(Tell(R"({"x":0.25})", "1.5")), kOk);
  ASSERT_EQ(s.history().trials.size(), 2u);
  EXPECT_EQ(s.history().trials[1].params, (Assignment{{.name = "x", .value = "0.25"}}));
  EXPECT_EQ(s.history().trials[1].value, 1.5);
}

TEST(AskTellTell, FailedTrials) {
  AskTellSession s({.name = "grid"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"k","type":"int","low":0,"high":5}])")), kOk);
  ASSERT_EQ(s.Handle(AskN(3)), R"({"params_list":[{"k":0},{"k":1},{"k":2}]})");
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"k":0},"value":null})"), kOk);
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"k":1},"state":"failed"})"), kOk);
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"k":2},"state":"failed","value":null})"), kOk);
  ASSERT_EQ(s.history().trials.size(), 3u);
  for (const suggest::Observation& t : s.history().trials) {
    EXPECT_FALSE(t.pending);
    EXPECT_EQ(t.value, std::nullopt);
  }
  // A failed trial was told: it cannot be told again.
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"k":1},"value":4})"),
            Err("tell: the trial asked with these params was already told; each asked trial "
                "takes exactly one tell"));
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"k":3},"value":null})"), kOk);  // external
  ASSERT_EQ(s.history().trials.size(), 4u);
  EXPECT_EQ(s.history().trials[3].value, std::nullopt);
  EXPECT_FALSE(s.history().trials[3].pending);
  EXPECT_EQ(s.Handle(R"({"op":"tell","params":{"k":4},"state":"complete","value":1})"), kOk);
  ASSERT_EQ(s.history().trials.size(), 5u);
  EXPECT_EQ(s.history().trials[4].value, 1);
  // Failed and external trials count as present for the grid.
  EXPECT_EQ(s.Handle(kAsk), R"({"params":{"k":5}})");
}

TEST(AskTellTell, BadTellsNameTheParameterAndChangeNothing) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1},)"
                          R"({"name":"units","type":"int","low":0,"high":10,"step":2},)"
                          R"({"name":"c","type":"categorical","choices":["a","b"]},)"
                          R"({"name":"d","type":"discrete","values":[1,2.5]},)"
                          R"({"name":"q","type":"float","low":0,"high":1,"step":0.25}])")),
            kOk);
  const std::string good = R"("x":0.5,"units":4,"c":"b","d":2.5)";
  auto with = [&](const std::string& extra) { return absl::StrCat("{", good, extra, "}"); };
  const std::vector<BadInit> cases = {
      {Tell(R"({"x":0.5,"units":4,"c":"b","d":2.5})", "1"),
       R"(tell: parameter "q" is missing; params need a value for every parameter)"},
      {Tell(with(R"(,"q":0.5,"zz":1)"), "1"),
       R"(tell: unknown parameter "zz"; the space has: x, units, c, d, q)"},
      {Tell(R"({"x":1.5,"units":4,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "x": 1.5 is outside [0, 1])"},
      {Tell(R"({"x":"0.5","units":4,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "x" must be a finite number; got string "0.5")"},
      {Tell(R"({"x":true,"units":4,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "x" must be a finite number; got boolean true)"},
      {Tell(R"({"x":null,"units":4,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "x" must be a finite number; got null)"},
      {Tell(R"({"x":0.5,"units":2.5,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "units" must be an integer; got number 2.5)"},
      {Tell(R"({"x":0.5,"units":12,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "units": 12 is outside [0, 10])"},
      {Tell(R"({"x":0.5,"units":3,"c":"b","d":2.5,"q":0})", "1"),
       R"(tell: parameter "units": 3 is not low + k*step (low 0, step 2))"},
      {Tell(with(R"(,"q":0.3)"), "1"),
       R"(tell: parameter "q": 0.3 is not low + k*step (low 0, step 0.25))"},
      {Tell(R"({"x":0.5,"units":4,"c":"z","d":2.5,"q":0})", "1"),
       R"(tell: parameter "c": string "z" is not one of the choices: "a", "b")"},
      {Tell(R"({"x":0.5,"units":4,"c":1,"d":2.5,"q":0})", "1"),
       R"(tell: parameter "c": number 1 is not one of the choices: "a", "b")"},
      {Tell(R"({"x":0.5,"units":4,"c":"b","d":2,"q":0})", "1"),
       R"(tell: parameter "d": number 2 is not one of the values: 1, 2.5)"},
      {Tell(R"({"x":0.5,"units":4,"c":"b","d":"1","q":0})", "1"),
       R"(tell: parameter "d": string "1" is not one of the values: 1, 2.5)"},
      {Tell("[1]", "1"),
       R"(tell: "params" must be an object with a value for every parameter; got array)"},
      {R"({"op":"tell","value":1})",
       R"(tell: "params" must be an object with a value for every parameter (it is missing))"},
      {Tell(with(R"(,"q":0)"), R"("1.5")"),
       R"(tell: "value" must be a finite number (minimized), or null for a failed trial; got string "1.5")"},
      {Tell(with(R"(,"q":0)"), "true"),
       R"(tell: "value" must be a finite number (minimized), or null for a failed trial; got boolean true)"},
      {absl::StrCat(R"({"op":"tell","params":)", with(R"(,"q":0)"), "}"),
       R"(tell: "value" must be a finite number (minimized), or null for a failed trial (it is missing))"},
      {absl::StrCat(R"({"op":"tell","params":)", with(R"(,"q":0)"),
                    R"(,"state":"complete","value":null})"),
       R"(tell: "value" must be a finite number (minimized), or null for a failed trial; "state":"complete" needs a number)"},
      {absl::StrCat(R"({"op":"tell","params":)", with(R"(,"q":0)"),
                    R"(,"state":"failed","value":1})"),
       R"(tell: a failed trial has no value; leave "value" out or send null; got number 1)"},
      {absl::StrCat(R"({"op":"tell","params":)", with(R"(,"q":0)"), R"(,"state":"pruned"})"),
       R"(tell: "state" must be "complete" or "failed"; got string "pruned")"},
      {absl::StrCat(R"({"op":"tell","params":)", with(R"(,"q":0)"), R"(,"values":[1]})"),
       R"(tell: unknown field "values"; allowed: op, params, value, state)"},
  };
  for (const BadInit& c : cases) {
    EXPECT_EQ(s.Handle(c.request), Err(c.error)) << c.request;
  }
  EXPECT_TRUE(s.history().trials.empty());
  // The same tell, corrected, is accepted.
  EXPECT_EQ(s.Handle(Tell(with(R"(,"q":0.75)"), "1")), kOk);
  ASSERT_EQ(s.history().trials.size(), 1u);
  EXPECT_EQ(s.history().trials[0].params, (Assignment{{.name = "x", .value = "0.5"},
                                                      {.name = "units", .value = "4"},
                                                      {.name = "c", .value = "b"},
                                                      {.name = "d", .value = "2.5"},
                                                      {.name = "q", .value = "0.75"}}));
}

TEST(AskTellTell, LongChoiceListsAreShortenedInMessages) {
  AskTellSession s({.name = "random"});
  ASSERT_EQ(
      s.Handle(Init(R"([{"name":"d","type":"discrete","values":[1,2,3,4,5,6,7,8,9,10,11,12]}])")),
      kOk);
  EXPECT_EQ(
      s.Handle(Tell(R"({"d":0})", "1")),
      Err(R"(tell: parameter "d": number 0 is not one of the values: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... (12 in all))"));
}

// --------------------------------------------------------------- every registered algorithm

bool ValidParams(const Json& p) {
  if (!p.is_object() || p.size() != 4) return false;
  const Json& x = p["x"];
  const Json& k = p["k"];
  const Json& c = p["c"];
  const Json& d = p["d"];
  const bool x_ok = x.is_number_float() && x.get<double>() >= 0 && x.get<double>() <= 1 &&
                    x.get<double>() * 8 == static_cast<int>(x.get<double>() * 8);
  const bool k_ok = k.is_number_integer() && k.get<int64_t>() >= 1 && k.get<int64_t>() <= 8;
  const bool c_ok = c == "a" || c == "b" || c == "c";
  const bool d_ok = d == 0.5 || d == 1 || d == 2;
  return x_ok && k_ok && c_ok && d_ok;
}

class EveryAlgorithm : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryAlgorithm, DrivesAStudyWithPendingFailedAndExternalTrials) {
  AskTellSession s({.name = GetParam()});
  ASSERT_EQ(s.Handle(Init(R"([{"name":"x","type":"float","low":0,"high":1,"step":0.125},)"
                          R"({"name":"k","type":"int","low":1,"high":8,"log":true},)"
                          R"({"name":"c","type":"categorical","choices":["a","b","c"]},)"
                          R"({"name":"d","type":"discrete","values":[0.5,1,2]}])",
                          11)),
            kOk);
  EXPECT_EQ(s.Handle(Tell(R"({"x":0.25,"k":2,"c":"b","d":1})", "3.5")), kOk);  // external
  for (int round = 0; round < 12; ++round) {
    const Json reply = Json::parse(s.Handle(kAsk));
    ASSERT_TRUE(reply.contains("params")) << reply.dump();
    const Json& p = reply["params"];
    ASSERT_TRUE(ValidParams(p)) << p.dump();
    const double value = (p["x"].get<double>() - 0.3) * (p["x"].get<double>() - 0.3) +
                         p["k"].get<double>() / 8 + (p["c"] == "a" ? 0 : 1);
    const std::string told = round == 5 ? "null" : absl::StrCat(value);  // one failed trial
    ASSERT_EQ(s.Handle(Tell(p.dump(), told)), kOk) << round;
  }
  const Json pending = Json::parse(s.Handle(kAsk));  // stays pending
  ASSERT_TRUE(ValidParams(pending["params"])) << pending.dump();
  const Json batch = Json::parse(s.Handle(AskN(3)));
  ASSERT_TRUE(batch.contains("params_list")) << batch.dump();
  ASSERT_EQ(batch["params_list"].size(), 3u);
  for (const Json& p : batch["params_list"]) EXPECT_TRUE(ValidParams(p)) << p.dump();
  EXPECT_EQ(s.history().trials.size(), 17u);
  EXPECT_EQ(s.Handle(R"({"op":"close"})"), kOk);
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryAlgorithm, ::testing::ValuesIn(suggest::KnownAlgorithms()));

}  // namespace
}  // namespace hpt::cli
