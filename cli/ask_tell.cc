#include "cli/ask_tell.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "suggest/sampler.h"

namespace hpt::cli {

using Json = nlohmann::ordered_json;
using suggest::Assignment;
using suggest::Distribution;
using suggest::History;
using suggest::Observation;
using suggest::ParamType;
using suggest::ParamValue;
using suggest::SearchSpace;

namespace {

// 2^53: beyond it doubles no longer hold every integer.
constexpr double kMaxExactInteger = 9007199254740992.0;
constexpr char kOps[] = "init, ask, tell, close";
constexpr char kSpaceExample[] = R"({"name":"x","type":"float","low":0,"high":1})";

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string ErrorReply(absl::string_view message) {
  Json reply = Json::object();
  reply["error"] = std::string(message);
  return Dump(reply);
}

std::string OkReply() { return R"({"ok":true})"; }

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// A JSON value for messages: `string "abc"`, `number 1.5`, `boolean true`, `null`, `array`.
std::string Describe(const Json& j) {
  if (j.is_null()) return "null";
  if (j.is_object() || j.is_array()) return j.type_name();
  std::string text = Dump(j);
  if (text.size() > 80) text = absl::StrCat(text.substr(0, 77), "...");
  return absl::StrCat(j.type_name(), " ", text);
}

// The value of a finite JSON number (booleans are not numbers).
std::optional<double> FiniteNumber(const Json& j) {
  if (!j.is_number()) return std::nullopt;
  const double v = j.get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

// " (it is missing)", " (it is empty)" or "; got <Describe>", for messages about member `it`.
std::string Missing(const Json& object, Json::const_iterator it) {
  if (it == object.end()) return " (it is missing)";
  if ((it->is_array() || it->is_object()) && it->empty()) return " (it is empty)";
  return absl::StrCat("; got ", Describe(*it));
}

bool IsIntegral(double v) { return std::trunc(v) == v && std::fabs(v) <= kMaxExactInteger; }

// InvalidArgument naming the first member of `object` that is not in `allowed`.
absl::Status CheckFields(const Json& object, std::initializer_list<absl::string_view> allowed,
                         absl::string_view where) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return Invalid(absl::StrCat(where, ": unknown field \"", it.key(),
                                  "\"; allowed: ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

// One parameter as the client declared it.
struct ClientParam {
  suggest::ParameterSpec spec;
  // kCategorical / kDiscrete: the values exactly as init gave them, parallel to spec.list (which
  // holds their text: a string choice itself, anything else its JSON text).
  std::vector<Json> choices;
  // kDiscrete: the values as numbers, parallel to `choices`.
  std::vector<double> numbers;
  // spec.list item -> its index.
  std::unordered_map<std::string, size_t> index_of;
};

// A parameter value's identity for matching a tell to an ask: the double's bits (kDouble, -0 as
// +0), the integer (kInt), or the choice's index (lists). 8 bytes per parameter.
void AppendKey(uint64_t bits, std::string* key) {
  for (int i = 0; i < 8; ++i) key->push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}
uint64_t DoubleKey(double v) { return std::bit_cast<uint64_t>(v == 0 ? 0.0 : v); }
uint64_t IntKey(int64_t v) { return static_cast<uint64_t>(v); }

absl::Status ParseRange(const Json& item, const std::string& where, ClientParam* p) {
  const bool is_int = p->spec.type == ParamType::kInt;
  if (absl::Status s = CheckFields(item, {"name", "type", "low", "high", "log", "step"}, where);
      !s.ok()) {
    return s;
  }
  const absl::string_view kind = is_int ? "an integer within +-2^53" : "a finite number";
  double bounds[2] = {0, 0};
  const char* const keys[2] = {"low", "high"};
  for (int b = 0; b < 2; ++b) {
    auto it = item.find(keys[b]);
    if (it == item.end()) {
      return Invalid(absl::StrCat(where, ": \"", keys[b], "\" is required (", kind, ")"));
    }
    std::optional<double> v = FiniteNumber(*it);
    if (!v.has_value() || (is_int && !IsIntegral(*v))) {
      return Invalid(
          absl::StrCat(where, ": \"", keys[b], "\" must be ", kind, "; got ", Describe(*it)));
    }
    bounds[b] = *v;
  }
  if (bounds[0] > bounds[1]) {
    return Invalid(absl::StrCat(where, ": \"low\" (", suggest::FormatDouble(bounds[0]),
                                ") must be <= \"high\" (", suggest::FormatDouble(bounds[1]), ")"));
  }
  p->spec.min = bounds[0];
  p->spec.max = bounds[1];
  bool log = false;
  if (auto it = item.find("log"); it != item.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return Invalid(absl::StrCat(where, ": \"log\" must be true or false; got ", Describe(*it)));
    }
    log = it->get<bool>();
  }
  if (auto it = item.find("step"); it != item.end() && !it->is_null()) {
    std::optional<double> step = FiniteNumber(*it);
    if (!step.has_value() || *step <= 0 || (is_int && !IsIntegral(*step))) {
      return Invalid(absl::StrCat(where, ": \"step\" must be ",
                                  is_int ? "an integer >= 1" : "a finite number > 0", "; got ",
                                  Describe(*it)));
    }
    if (log && !(is_int && *step == 1)) {
      return Invalid(absl::StrCat(where, ": \"log\": true cannot be combined with \"step\"",
                                  is_int ? " other than 1" : ""));
    }
    p->spec.step = *step;
  }
  if (log) {
    if (!(p->spec.min > 0)) {
      return Invalid(absl::StrCat(where, ": \"log\": true needs \"low\" > 0; got ",
                                  suggest::FormatDouble(p->spec.min)));
    }
    p->spec.distribution = Distribution::kLogUniform;
  }
  return absl::OkStatus();
}

// The choices of a categorical ("choices") or the values of a discrete ("values") parameter.
absl::Status ParseList(const Json& item, const std::string& where, ClientParam* p) {
  const bool discrete = p->spec.type == ParamType::kDiscrete;
  const char* const field = discrete ? "values" : "choices";
  if (absl::Status s = CheckFields(item, {"name", "type", field}, where); !s.ok()) return s;
  const absl::string_view allowed =
      discrete ? "finite numbers" : "strings, numbers, booleans or null";
  const absl::string_view one = discrete ? "a finite number" : "a string, number, boolean or null";
  auto it = item.find(field);
  if (it == item.end() || !it->is_array() || it->empty()) {
    return Invalid(absl::StrCat(where, ": \"", field, "\" must be a non-empty list of ", allowed,
                                Missing(item, it)));
  }
  std::unordered_map<double, size_t> number_index;
  for (size_t j = 0; j < it->size(); ++j) {
    const Json& c = (*it)[j];
    const std::string at = absl::StrCat(where, ": \"", field, "\"[", j, "]");
    const bool ok_type =
        discrete ? FiniteNumber(c).has_value()
                 : (c.is_string() || c.is_boolean() || c.is_null() || FiniteNumber(c).has_value());
    if (!ok_type) {
      return Invalid(absl::StrCat(at, " must be ", one, "; got ", Describe(c)));
    }
    std::string text = c.is_string() ? c.get<std::string>() : Dump(c);
    std::optional<size_t> same;
    if (auto found = p->index_of.find(text); found != p->index_of.end()) same = found->second;
    if (c.is_number()) {
      auto [found, inserted] = number_index.emplace(c.get<double>(), j);
      if (!inserted) same = found->second;
    }
    if (same.has_value()) {
      return Invalid(absl::StrCat(at, " (", Describe(c), ") repeats \"", field, "\"[", *same, "] (",
                                  Describe(p->choices[*same]), "); ", field,
                                  " must be distinct, also when written as text"));
    }
    p->index_of.emplace(text, j);
    p->spec.list.push_back(std::move(text));
    p->choices.push_back(c);
    if (discrete) p->numbers.push_back(c.get<double>());
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientParam> ParseParam(const Json& item, size_t index) {
  std::string where = absl::StrCat("space[", index, "]");
  if (!item.is_object()) {
    return Invalid(absl::StrCat(where, ": a parameter must be an object like ", kSpaceExample,
                                "; got ", Describe(item)));
  }
  auto name = item.find("name");
  if (name == item.end() || !name->is_string() || name->get<std::string>().empty()) {
    return Invalid(
        absl::StrCat(where, ": \"name\" must be a non-empty string", Missing(item, name)));
  }
  ClientParam p;
  p.spec.name = name->get<std::string>();
  absl::StrAppend(&where, " (\"", p.spec.name, "\")");
  auto type = item.find("type");
  const std::string type_name =
      type != item.end() && type->is_string() ? type->get<std::string>() : "";
  if (type_name == "float") {
    p.spec.type = ParamType::kDouble;
  } else if (type_name == "int") {
    p.spec.type = ParamType::kInt;
  } else if (type_name == "categorical") {
    p.spec.type = ParamType::kCategorical;
  } else if (type_name == "discrete") {
    p.spec.type = ParamType::kDiscrete;
  } else {
    return Invalid(absl::StrCat(
        where, ": \"type\" must be one of float, int, categorical, discrete", Missing(item, type)));
  }
  absl::Status s = p.spec.type == ParamType::kDouble || p.spec.type == ParamType::kInt
                       ? ParseRange(item, where, &p)
                       : ParseList(item, where, &p);
  if (!s.ok()) return s;
  return p;
}

absl::StatusOr<std::vector<ClientParam>> ParseSpace(const Json& request) {
  auto space = request.find("space");
  if (space == request.end() || !space->is_array() || space->empty()) {
    return Invalid(absl::StrCat("\"space\" must be a non-empty list of parameters like [",
                                kSpaceExample, "]", Missing(request, space)));
  }
  std::vector<ClientParam> params;
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < space->size(); ++i) {
    absl::StatusOr<ClientParam> p = ParseParam((*space)[i], i);
    if (!p.ok()) return p.status();
    auto [it, inserted] = seen.emplace(p->spec.name, i);
    if (!inserted) {
      return Invalid(absl::StrCat("space[", i, "]: name \"", p->spec.name,
                                  "\" is already used by space[", it->second,
                                  "]; names must be unique"));
    }
    params.push_back(*std::move(p));
  }
  return params;
}

// A non-negative integer member of `request` (absent or null: nullopt).
absl::StatusOr<std::optional<uint64_t>> OptionalCount(const Json& request, const char* field) {
  auto it = request.find(field);
  if (it == request.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_unsigned()) {
    return Invalid(absl::StrCat("\"", field, "\" must be an integer >= 0; got ", Describe(*it)));
  }
  return it->get<uint64_t>();
}

// What the client sees of a value the sampler proposed, and its identity (AppendKey).
absl::StatusOr<std::pair<Json, uint64_t>> FromSampler(const ClientParam& p,
                                                      const std::string& value) {
  switch (p.spec.type) {
    case ParamType::kDouble:
    case ParamType::kInt: {
      absl::StatusOr<double> v = suggest::Numeric(value);
      if (!v.ok()) break;
      if (p.spec.type == ParamType::kDouble) return std::pair(Json(*v), DoubleKey(*v));
      if (!IsIntegral(*v)) break;
      const int64_t i = static_cast<int64_t>(*v);
      return std::pair(Json(i), IntKey(i));
    }
    case ParamType::kDiscrete:
    case ParamType::kCategorical:
      if (auto it = p.index_of.find(value); it != p.index_of.end()) {
        return std::pair(p.choices[it->second], static_cast<uint64_t>(it->second));
      }
      break;
  }
  return absl::InternalError(absl::StrCat("the sampler proposed \"", value, "\" for parameter \"",
                                          p.spec.name, "\" (", ParamTypeName(p.spec.type),
                                          "), which is not one of its values"));
}

std::string ListForMessage(const std::vector<Json>& values) {
  constexpr size_t kShown = 10;
  std::vector<std::string> shown;
  for (size_t i = 0; i < values.size() && i < kShown; ++i) shown.push_back(Dump(values[i]));
  if (values.size() > kShown) shown.push_back(absl::StrCat("... (", values.size(), " in all)"));
  return absl::StrJoin(shown, ", ");
}

// The value string a told value is recorded with (formatted as samplers format it) and its
// identity (AppendKey); InvalidArgument when it is not a value of `p`.
absl::StatusOr<std::pair<std::string, uint64_t>> FromClient(const ClientParam& p, const Json& v) {
  const std::string where = absl::StrCat("parameter \"", p.spec.name, "\"");
  const suggest::ParameterSpec& s = p.spec;
  switch (s.type) {
    case ParamType::kDouble:
    case ParamType::kInt: {
      const bool is_int = s.type == ParamType::kInt;
      std::optional<double> x = FiniteNumber(v);
      if (!x.has_value() || (is_int && !IsIntegral(*x))) {
        return Invalid(absl::StrCat(where, " must be ", is_int ? "an integer" : "a finite number",
                                    "; got ", Describe(v)));
      }
      if (*x < s.min || *x > s.max) {
        return Invalid(absl::StrCat(where, ": ", Dump(v), " is outside [",
                                    suggest::FormatDouble(s.min), ", ",
                                    suggest::FormatDouble(s.max), "]"));
      }
      if (s.step.has_value()) {
        // As Optuna: on the lattice low + k*step (doubles up to 1e-8 of a step).
        const double k = (*x - s.min) / *s.step;
        const bool on_lattice =
            is_int ? std::fmod(*x - s.min, *s.step) == 0 : std::fabs(k - std::round(k)) < 1e-8;
        if (!on_lattice) {
          return Invalid(absl::StrCat(where, ": ", Dump(v), " is not low + k*step (low ",
                                      suggest::FormatDouble(s.min), ", step ",
                                      suggest::FormatDouble(*s.step), ")"));
        }
      }
      if (is_int) {
        const int64_t i = static_cast<int64_t>(*x);
        return std::pair(suggest::FormatInt(i), IntKey(i));
      }
      return std::pair(suggest::FormatDouble(*x), DoubleKey(*x));
    }
    case ParamType::kDiscrete: {
      std::optional<double> x = FiniteNumber(v);
      if (x.has_value()) {
        for (size_t i = 0; i < p.numbers.size(); ++i) {
          if (p.numbers[i] == *x) return std::pair(s.list[i], static_cast<uint64_t>(i));
        }
      }
      return Invalid(absl::StrCat(where, ": ", Describe(v),
                                  " is not one of the values: ", ListForMessage(p.choices)));
    }
    case ParamType::kCategorical:
      for (size_t i = 0; i < p.choices.size(); ++i) {
        if (p.choices[i] == v) return std::pair(s.list[i], static_cast<uint64_t>(i));
      }
      return Invalid(absl::StrCat(where, ": ", Describe(v),
                                  " is not one of the choices: ", ListForMessage(p.choices)));
  }
  return absl::InternalError(absl::StrCat(where, " has an unknown type"));
}

// The parse error without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string ParseErrorMessage(const std::exception& e, absl::string_view line) {
  absl::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    if (size_t close = what.find("] "); close != absl::string_view::npos) {
      what.remove_prefix(close + 2);
    }
  }
  std::string message = absl::StrCat("bad JSON: ", what);
  if (line.find("NaN") != absl::string_view::npos ||
      line.find("Infinity") != absl::string_view::npos) {
    absl::StrAppend(&message,
                    " (NaN and Infinity are not JSON; tell a failed trial with \"value\": null)");
  }
  return message;
}

}  // namespace

struct AskTellSession::Study {
  std::vector<ClientParam> params;
  std::unordered_map<std::string, size_t> index_of;  // parameter name -> index in `params`
  SearchSpace space;
  std::unique_ptr<suggest::Sampler> sampler;
  std::optional<uint64_t> budget;
  History history;
  // The identity of an asked trial's values -> its indices in history.trials, in ask order.
  std::unordered_map<std::string, std::vector<size_t>> asked;
};

AskTellSession::AskTellSession(suggest::AlgorithmSpec algorithm)
    : algorithm_(std::move(algorithm)) {}

AskTellSession::~AskTellSession() = default;

const SearchSpace& AskTellSession::space() const {
  static const SearchSpace kEmpty;
  return study_ ? study_->space : kEmpty;
}

const History& AskTellSession::history() const {
  static const History kEmpty;
  return study_ ? study_->history : kEmpty;
}

std::optional<uint64_t> AskTellSession::budget() const {
  return study_ ? study_->budget : std::nullopt;
}

std::string AskTellSession::Handle(std::string_view raw) {
  absl::string_view line(raw.data(), raw.size());
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (absl::StripAsciiWhitespace(line).empty()) return "";
  try {
    Json request;
    try {
      request = Json::parse(line.data(), line.data() + line.size());
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for 1e999
      return ErrorReply(ParseErrorMessage(e, line));
    }
    if (!request.is_object()) {
      return ErrorReply(absl::StrCat("a request must be a JSON object like {\"op\":\"ask\"}; got ",
                                     Describe(request)));
    }
    auto op = request.find("op");
    if (op == request.end() || !op->is_string()) {
      return ErrorReply(
          absl::StrCat("a request needs \"op\", one of ", kOps, Missing(request, op)));
    }
    const std::string name = op->get<std::string>();
    if (name == "init") return Init(request);
    if (name == "ask" || name == "tell") {
      if (!study_) {
        return ErrorReply(absl::StrCat(name, ": send init first (", R"({"op":"init","space":[)",
                                       kSpaceExample, "]})"));
      }
      return name == "ask" ? Ask(request) : Tell(request);
    }
    if (name == "close") {
      if (absl::Status s = CheckFields(request, {"op"}, "close"); !s.ok()) {
        return ErrorReply(s.message());
      }
      closed_ = true;
      return OkReply();
    }
    return ErrorReply(absl::StrCat("unknown op ", Dump(*op), "; allowed: ", kOps));
  } catch (const std::exception& e) {
    return ErrorReply(absl::StrCat("internal error: ", e.what()));
  } catch (...) {
    return ErrorReply("internal error");
  }
}

std::string AskTellSession::Init(const Json& request) {
  auto fail = [](const absl::Status& s) { return ErrorReply(absl::StrCat("init: ", s.message())); };
  if (study_) {
    return ErrorReply(
        "init: the study is already initialized; one study per process (start another "
        "hpt suggest for another study)");
  }
  if (absl::Status s = CheckFields(request, {"op", "space", "seed", "budget"}, "init"); !s.ok()) {
    return ErrorReply(s.message());
  }
  absl::StatusOr<std::optional<uint64_t>> seed = OptionalCount(request, "seed");
  if (!seed.ok()) return fail(seed.status());
  absl::StatusOr<std::optional<uint64_t>> budget = OptionalCount(request, "budget");
  if (!budget.ok()) return fail(budget.status());
  absl::StatusOr<std::vector<ClientParam>> params = ParseSpace(request);
  if (!params.ok()) return fail(params.status());

  auto study = std::make_unique<Study>();
  study->params = *std::move(params);
  for (size_t i = 0; i < study->params.size(); ++i) {
    study->index_of.emplace(study->params[i].spec.name, i);
    study->space.params.push_back(study->params[i].spec);
  }
  if (absl::Status s = suggest::ValidateSearchSpace(study->space); !s.ok()) {
    return ErrorReply(absl::StrCat("init: space: ", s.message()));
  }
  absl::StatusOr<std::unique_ptr<suggest::Sampler>> sampler =
      suggest::MakeSampler(algorithm_, study->space, seed->value_or(0));
  if (!sampler.ok()) return fail(sampler.status());
  study->sampler = *std::move(sampler);
  study->budget = *budget;
  study_ = std::move(study);
  return OkReply();
}

std::string AskTellSession::Ask(const Json& request) {
  if (absl::Status s = CheckFields(request, {"op", "n"}, "ask"); !s.ok()) {
    return ErrorReply(s.message());
  }
  auto n_it = request.find("n");
  const bool batch = n_it != request.end();
  int n = 1;
  if (batch) {
    bool ok = false;
    if (n_it->is_number_unsigned()) {
      ok = n_it->get<uint64_t>() >= 1 && n_it->get<uint64_t>() <= kMaxAskBatch;
    } else if (n_it->is_number_integer()) {
      ok = n_it->get<int64_t>() >= 1 && n_it->get<int64_t>() <= kMaxAskBatch;
    }
    if (!ok) {
      return ErrorReply(absl::StrCat("ask: \"n\" must be an integer from 1 to ", kMaxAskBatch,
                                     "; got ", Describe(*n_it)));
    }
    n = static_cast<int>(n_it->get<int64_t>());
  }
  Study& study = *study_;
  absl::StatusOr<std::vector<Assignment>> proposed =
      study.sampler->Suggest(study.space, study.history, n);
  if (!proposed.ok()) return ErrorReply(absl::StrCat("ask: ", proposed.status().message()));
  if (proposed->size() > static_cast<size_t>(n)) proposed->resize(n);
  if (!batch && proposed->empty()) {
    return ErrorReply(absl::StrCat("search space exhausted: algorithm '", algorithm_.name,
                                   "' has nothing more to propose after ",
                                   study.history.trials.size(), " trials"));
  }

  // Decode everything before recording anything, so a bad proposal changes no state.
  Json list = Json::array();
  std::vector<Assignment> ordered;
  std::vector<std::string> keys;
  for (Assignment& a : *proposed) {
    Json params = Json::object();
    Assignment in_order(study.params.size());
    std::vector<bool> seen(study.params.size(), false);
    for (ParamValue& v : a) {
      auto it = study.index_of.find(v.name);
      if (it == study.index_of.end() || seen[it->second]) {
        return ErrorReply(absl::StrCat("ask: internal error: the sampler proposed ",
                                       it == study.index_of.end() ? "an unknown" : "a repeated",
                                       " parameter \"", v.name, "\""));
      }
      seen[it->second] = true;
      in_order[it->second] = std::move(v);
    }
    std::string key;
    for (size_t i = 0; i < study.params.size(); ++i) {
      if (!seen[i]) {
        return ErrorReply(absl::StrCat("ask: internal error: the sampler proposed no value for \"",
                                       study.params[i].spec.name, "\""));
      }
      absl::StatusOr<std::pair<Json, uint64_t>> value =
          FromSampler(study.params[i], in_order[i].value);
      if (!value.ok())
        return ErrorReply(absl::StrCat("ask: internal error: ", value.status().message()));
      params[study.params[i].spec.name] = std::move(value->first);
      AppendKey(value->second, &key);
    }
    list.push_back(std::move(params));
    ordered.push_back(std::move(in_order));
    keys.push_back(std::move(key));
  }
  for (size_t k = 0; k < ordered.size(); ++k) {
    study.asked[keys[k]].push_back(study.history.trials.size());
    study.history.trials.push_back(
        Observation{.params = std::move(ordered[k]), .value = std::nullopt, .pending = true});
  }
  Json reply = Json::object();
  if (batch) {
    reply["params_list"] = std::move(list);
  } else {
    reply["params"] = std::move(list[0]);
  }
  return Dump(reply);
}

std::string AskTellSession::Tell(const Json& request) {
  if (absl::Status s = CheckFields(request, {"op", "params", "value", "state"}, "tell"); !s.ok()) {
    return ErrorReply(s.message());
  }
  Study& study = *study_;
  auto params = request.find("params");
  if (params == request.end() || !params->is_object()) {
    return ErrorReply(
        absl::StrCat("tell: \"params\" must be an object with a value for every parameter",
                     Missing(request, params)));
  }
  Assignment assignment(study.params.size());
  std::vector<uint64_t> key_parts(study.params.size());
  std::vector<bool> seen(study.params.size(), false);
  for (auto it = params->begin(); it != params->end(); ++it) {
    auto found = study.index_of.find(it.key());
    if (found == study.index_of.end()) {
      std::vector<std::string> names;
      for (const ClientParam& p : study.params) names.push_back(p.spec.name);
      return ErrorReply(absl::StrCat("tell: unknown parameter \"", it.key(),
                                     "\"; the space has: ", absl::StrJoin(names, ", ")));
    }
    const size_t i = found->second;
    absl::StatusOr<std::pair<std::string, uint64_t>> value = FromClient(study.params[i], *it);
    if (!value.ok()) return ErrorReply(absl::StrCat("tell: ", value.status().message()));
    seen[i] = true;
    assignment[i] = ParamValue{.name = it.key(), .value = std::move(value->first)};
    key_parts[i] = value->second;
  }
  std::string key;
  for (size_t i = 0; i < study.params.size(); ++i) {
    if (!seen[i]) {
      return ErrorReply(absl::StrCat("tell: parameter \"", study.params[i].spec.name,
                                     "\" is missing; params need a value for every parameter"));
    }
    AppendKey(key_parts[i], &key);
  }

  bool failed = false;
  auto state = request.find("state");
  if (state != request.end()) {
    if (!state->is_string() ||
        (state->get<std::string>() != "complete" && state->get<std::string>() != "failed")) {
      return ErrorReply(absl::StrCat("tell: \"state\" must be \"complete\" or \"failed\"; got ",
                                     Describe(*state)));
    }
    failed = state->get<std::string>() == "failed";
  }
  std::optional<double> value;
  auto value_it = request.find("value");
  if (failed) {
    if (value_it != request.end() && !value_it->is_null()) {
      return ErrorReply(
          absl::StrCat("tell: a failed trial has no value; leave \"value\" out or send null; got ",
                       Describe(*value_it)));
    }
  } else if (value_it == request.end() || (value_it->is_null() && state != request.end())) {
    return ErrorReply(absl::StrCat(
        "tell: \"value\" must be a finite number (minimized), or null for a failed trial",
        value_it == request.end() ? " (it is missing)"
                                  : "; \"state\":\"complete\" needs a number"));
  } else if (!value_it->is_null()) {
    value = FiniteNumber(*value_it);
    if (!value.has_value()) {
      return ErrorReply(absl::StrCat(
          "tell: \"value\" must be a finite number (minimized), or null for a failed trial; got ",
          Describe(*value_it)));
    }
  }

  if (auto asked = study.asked.find(key); asked != study.asked.end()) {
    for (size_t index : asked->second) {
      Observation& trial = study.history.trials[index];
      if (!trial.pending) continue;
      trial.pending = false;
      trial.value = value;
      return OkReply();
    }
    return ErrorReply(
        "tell: the trial asked with these params was already told; each asked trial takes "
        "exactly one tell");
  }
  study.history.trials.push_back(
      Observation{.params = std::move(assignment), .value = value, .pending = false});
  return OkReply();
}

}  // namespace hpt::cli
