// Helpers shared by the suggest tests: example spaces, a value checker and history builders.
#ifndef HPT_TESTS_SUGGEST_SAMPLER_TEST_UTIL_H_
#define HPT_TESTS_SUGGEST_SAMPLER_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "suggest/sampler.h"
#include "suggest/search_space.h"

namespace hpt::suggest::testing {

inline ParameterSpec Double(std::string name, double min, double max,
                            Distribution d = Distribution::kUniform,
                            std::optional<double> step = std::nullopt) {
  return {.name = std::move(name),
          .type = ParamType::kDouble,
          .min = min,
          .max = max,
          .step = step,
          .distribution = d,
          .list = {}};
}

inline ParameterSpec Int(std::string name, double min, double max,
                         std::optional<double> step = std::nullopt,
                         Distribution d = Distribution::kUniform) {
  return {.name = std::move(name),
          .type = ParamType::kInt,
          .min = min,
          .max = max,
          .step = step,
          .distribution = d,
          .list = {}};
}

inline ParameterSpec Categorical(std::string name, std::vector<std::string> list) {
  return {.name = std::move(name),
          .type = ParamType::kCategorical,
          .min = 0,
          .max = 0,
          .step = std::nullopt,
          .distribution = Distribution::kUniform,
          .list = std::move(list)};
}

inline ParameterSpec Discrete(std::string name, std::vector<std::string> list) {
  ParameterSpec p = Categorical(std::move(name), std::move(list));
  p.type = ParamType::kDiscrete;
  return p;
}

// Every kind of parameter and distribution (random and sobol).
inline SearchSpace MixedSpace() {
  SearchSpace s;
  s.params = {
      Double("lr", 1e-5, 1e-1, Distribution::kLogUniform),
      Double("momentum", 0.5, 0.99),
      Double("wd", 0, 0.1, Distribution::kNormal),
      Double("scale", 0.1, 10, Distribution::kLogNormal),
      Double("dropout", 0, 0.5, Distribution::kUniform, 0.05),
      Double("temp", 0.001, 1, Distribution::kLogUniform, 0.001),
      Int("layers", 1, 8),
      Int("units", 16, 256, 16),
      Int("heads", 1, 64, std::nullopt, Distribution::kLogUniform),
      Int("depth", -5, 5, std::nullopt, Distribution::kNormal),
      Categorical("opt", {"sgd", "adam", "rmsprop"}),
      Discrete("batch", {"16", "32", "64", "128"}),
  };
  return s;
}

// Every double has a step (grid v1beta1), and the v1alpha1 points of DefaultGrid=3 fall on the
// steps too. 5*3*3*3*2*2 = 540 combinations in v1beta1 mode.
inline SearchSpace GridSpace() {
  SearchSpace s;
  s.params = {
      Double("lr", 0.01, 0.05, Distribution::kLogUniform, 0.01),
      Double("dropout", 0, 0.5, Distribution::kUniform, 0.25),
      Int("layers", 1, 3),
      Int("units", 16, 48, 16),
      Categorical("opt", {"sgd", "adam"}),
      Discrete("batch", {"16", "32"}),
  };
  return s;
}

// Checks that `a` assigns every parameter of `space`, in order, a well-typed value inside it.
inline void ExpectValid(const SearchSpace& space, const Assignment& a) {
  ASSERT_EQ(a.size(), space.params.size());
  for (size_t j = 0; j < a.size(); ++j) {
    const ParameterSpec& p = space.params[j];
    const std::string& v = a[j].value;
    SCOPED_TRACE(absl::StrCat("parameter ", p.name, " = \"", v, "\""));
    EXPECT_EQ(a[j].name, p.name);
    switch (p.type) {
      case ParamType::kDouble: {
        absl::StatusOr<double> x = Numeric(v);
        ASSERT_TRUE(x.ok());
        EXPECT_GE(*x, p.min);
        EXPECT_LE(*x, p.max);
        if (p.step.has_value()) {
          const double k = (*x - p.min) / *p.step;
          EXPECT_NEAR(k, std::round(k), 1e-6);
        }
        break;
      }
      case ParamType::kInt: {
        int64_t x = 0;
        ASSERT_TRUE(absl::SimpleAtoi(v, &x));
        EXPECT_EQ(v, FormatInt(x));  // canonical integer spelling
        EXPECT_GE(x, static_cast<int64_t>(p.min));
        EXPECT_LE(x, static_cast<int64_t>(p.max));
        const int64_t step = p.step.has_value() ? static_cast<int64_t>(*p.step) : 1;
        EXPECT_EQ((x - static_cast<int64_t>(p.min)) % step, 0);
        break;
      }
      case ParamType::kDiscrete:
      case ParamType::kCategorical:
        EXPECT_NE(std::find(p.list.begin(), p.list.end(), v), p.list.end());
        break;
    }
  }
}

inline Observation Pending(Assignment a) {
  return {.params = std::move(a), .value = std::nullopt, .pending = true};
}

inline Observation Finished(Assignment a, std::optional<double> value) {
  return {.params = std::move(a), .value = value, .pending = false};
}

// Appends `batch` to `history` as pending trials.
inline void AddPending(const std::vector<Assignment>& batch, History* history) {
  for (const Assignment& a : batch) history->trials.push_back(Pending(a));
}

inline std::unique_ptr<Sampler> MustMake(const AlgorithmSpec& algo, const SearchSpace& space,
                                         uint64_t seed) {
  absl::StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(algo, space, seed);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

inline std::vector<Assignment> MustSuggest(Sampler& s, const SearchSpace& space,
                                           const History& history, int n) {
  absl::StatusOr<std::vector<Assignment>> r = s.Suggest(space, history, n);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : std::vector<Assignment>{};
}

// The value of parameter `name` in `a` ("" when absent).
inline std::string ValueOf(const Assignment& a, const std::string& name) {
  for (const ParamValue& v : a) {
    if (v.name == name) return v.value;
  }
  return "";
}

}  // namespace hpt::suggest::testing

#endif  // HPT_TESTS_SUGGEST_SAMPLER_TEST_UTIL_H_
