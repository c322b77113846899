#include "suggest/gp/encoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hpt::suggest::gp {
namespace {

bool LogScaled(const ParameterSpec& p) {
  return p.distribution == Distribution::kLogUniform || p.distribution == Distribution::kLogNormal;
}

// Values may sit a hair outside [min, max] after a round trip through text.
bool InRange(double v, double min, double max) {
  const double tolerance = 1e-9 * std::max(1.0, std::fabs(max - min));
  return v >= min - tolerance && v <= max + tolerance;
}

}  // namespace

absl::StatusOr<SpaceEncoding> SpaceEncoding::Create(const SearchSpace& space) {
  if (absl::Status s = ValidateSearchSpace(space); !s.ok()) return s;
  SpaceEncoding enc(space);
  for (size_t i = 0; i < enc.space_.params.size(); ++i) {
    const ParameterSpec& spec = enc.space_.params[i];
    Param p;
    p.index = static_cast<int>(i);
    p.offset = enc.dims_;
    switch (spec.type) {
      case ParamType::kCategorical:
        p.kind = Kind::kOneHot;
        enc.dims_ += static_cast<int>(spec.list.size());
        break;
      case ParamType::kDiscrete: {
        p.kind = Kind::kList;
        std::vector<std::pair<double, std::string>> items;
        for (const std::string& item : spec.list) {
          absl::StatusOr<double> v = Numeric(item);
          if (!v.ok()) return v.status();
          items.emplace_back(*v, item);
        }
        std::stable_sort(items.begin(), items.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& [v, label] : items) {
          p.values.push_back(v);
          p.labels.push_back(std::move(label));
        }
        p.log = p.values.front() > 0 && p.values.back() >= 1000 * p.values.front();
        enc.dims_ += 1;
        break;
      }
      case ParamType::kInt:
      case ParamType::kDouble: {
        std::optional<internal::Lattice> lattice = internal::NumericLattice(spec);
        p.kind = lattice.has_value() ? Kind::kLattice : Kind::kContinuous;
        if (lattice.has_value()) p.lattice = *lattice;
        p.log = LogScaled(spec);
        enc.dims_ += 1;
        break;
      }
    }
    if (p.kind == Kind::kList) {
      p.lo = enc.Warp(p, p.values.front());
      p.hi = enc.Warp(p, p.values.back());
    } else if (p.kind != Kind::kOneHot) {
      p.lo = enc.Warp(p, spec.min);
      p.hi = enc.Warp(p, spec.max);
    }
    enc.params_.push_back(std::move(p));
  }
  enc.continuous_.assign(enc.dims_, false);
  for (const Param& p : enc.params_) {
    if (p.kind == Kind::kContinuous) enc.continuous_[p.offset] = true;
  }
  return enc;
}

double SpaceEncoding::Warp(const Param& p, double v) const { return p.log ? std::log(v) : v; }
double SpaceEncoding::Unwarp(const Param& p, double w) const { return p.log ? std::exp(w) : w; }

double SpaceEncoding::ToUnit(const Param& p, double v) const {
  if (!(p.hi > p.lo)) return 0.5;
  return std::clamp((Warp(p, v) - p.lo) / (p.hi - p.lo), 0.0, 1.0);
}

double SpaceEncoding::Cardinality() const {
  double total = 1;
  for (const Param& p : params_) {
    switch (p.kind) {
      case Kind::kContinuous:
        return std::numeric_limits<double>::infinity();
      case Kind::kLattice:
        total *= static_cast<double>(p.lattice.count);
        break;
      case Kind::kList:
        total *= static_cast<double>(p.values.size());
        break;
      case Kind::kOneHot:
        total *= static_cast<double>(space_.params[p.index].list.size());
        break;
    }
  }
  return total;
}

absl::StatusOr<Eigen::VectorXd> SpaceEncoding::Encode(const Assignment& a) const {
  std::map<std::string, const std::string*> values;
  for (const ParamValue& v : a) {
    if (space_.Find(v.name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown parameter '", v.name, "'"));
    }
    values[v.name] = &v.value;
  }
  Eigen::VectorXd z = Eigen::VectorXd::Zero(dims_);
  for (const Param& p : params_) {
    const ParameterSpec& spec = space_.params[p.index];
    auto it = values.find(spec.name);
    if (it == values.end()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", spec.name, "' has no value"));
    }
    const std::string& text = *it->second;
    auto invalid = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", spec.name, "': value \"", text, "\" ", why));
    };
    if (p.kind == Kind::kOneHot) {
      auto pos = std::find(spec.list.begin(), spec.list.end(), text);
      if (pos == spec.list.end()) return invalid("is not one of its values");
      z(p.offset + static_cast<int>(pos - spec.list.begin())) = 1;
      continue;
    }
    absl::StatusOr<double> v = Numeric(text);
    if (!v.ok()) return invalid("is not a number");
    if (p.kind == Kind::kList) {
      auto pos = std::find(p.labels.begin(), p.labels.end(), text);
      if (pos == p.labels.end()) {
        pos = std::find_if(p.labels.begin(), p.labels.end(), [&](const std::string& label) {
          return p.values[&label - p.labels.data()] == *v;
        });
      }
      if (pos == p.labels.end()) return invalid("is not one of its values");
      z(p.offset) = ToUnit(p, p.values[pos - p.labels.begin()]);
      continue;
    }
    if (!InRange(*v, spec.min, spec.max)) {
      return invalid(
          absl::StrCat("is outside [", FormatDouble(spec.min), ", ", FormatDouble(spec.max), "]"));
    }
    double value = std::clamp(*v, spec.min, spec.max);
    if (p.kind == Kind::kLattice) {
      const double k = std::round((value - p.lattice.min) / p.lattice.step);
      if (spec.type == ParamType::kInt && value != std::round(value)) {
        return invalid("is not an integer");
      }
      value = p.lattice.min +
              std::clamp(k, 0.0, static_cast<double>(p.lattice.count - 1)) * p.lattice.step;
    }
    z(p.offset) = ToUnit(p, value);
  }
  return z;
}

std::string SpaceEncoding::SnapNumeric(const Param& p, double u, double* snapped_u) const {
  const ParameterSpec& spec = space_.params[p.index];
  u = std::clamp(u, 0.0, 1.0);
  const double w = p.lo + u * (p.hi - p.lo);
  switch (p.kind) {
    case Kind::kContinuous: {
      const double v = std::clamp(Unwarp(p, w), spec.min, spec.max);
      *snapped_u = ToUnit(p, v);
      return FormatDouble(v);
    }
    case Kind::kLattice: {
      const double v = Unwarp(p, w);
      const int64_t last = p.lattice.count - 1;
      const int64_t k0 = std::clamp<int64_t>(
          static_cast<int64_t>(std::floor((v - p.lattice.min) / p.lattice.step)), 0, last);
      const int64_t k1 = std::min(k0 + 1, last);
      auto point = [&](int64_t k) {
        return std::min(p.lattice.min + static_cast<double>(k) * p.lattice.step, spec.max);
      };
      const int64_t k =
          std::fabs(Warp(p, point(k1)) - w) < std::fabs(Warp(p, point(k0)) - w) ? k1 : k0;
      *snapped_u = ToUnit(p, point(k));
      return internal::LatticeValue(spec, p.lattice, k);
    }
    case Kind::kList: {
      size_t best = 0;
      for (size_t i = 1; i < p.values.size(); ++i) {
        if (std::fabs(Warp(p, p.values[i]) - w) < std::fabs(Warp(p, p.values[best]) - w)) {
          best = i;
        }
      }
      *snapped_u = ToUnit(p, p.values[best]);
      return p.labels[best];
    }
    case Kind::kOneHot:
      break;
  }
  *snapped_u = u;
  return "";
}

Assignment SpaceEncoding::Decode(const Eigen::VectorXd& z) const {
  Assignment a;
  a.reserve(params_.size());
  for (const Param& p : params_) {
    const ParameterSpec& spec = space_.params[p.index];
    if (p.kind == Kind::kOneHot) {
      Eigen::Index best = 0;
      z.segment(p.offset, static_cast<Eigen::Index>(spec.list.size())).maxCoeff(&best);
      a.push_back({spec.name, spec.list[best]});
      continue;
    }
    double unused = 0;
    a.push_back({spec.name, SnapNumeric(p, z(p.offset), &unused)});
  }
  return a;
}

Assignment SpaceEncoding::FromUnitPerParameter(const double* u) const {
  Assignment a;
  a.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& p = params_[i];
    const ParameterSpec& spec = space_.params[p.index];
    const double ui = std::clamp(u[i], 0.0, 1.0);
    auto bin = [&](size_t count) {
      return std::min(count - 1, static_cast<size_t>(ui * static_cast<double>(count)));
    };
    switch (p.kind) {
      case Kind::kContinuous: {
        double unused = 0;
        a.push_back({spec.name, SnapNumeric(p, ui, &unused)});
        break;
      }
      case Kind::kLattice:
        a.push_back(
            {spec.name, internal::LatticeValue(
                            spec, p.lattice,
                            static_cast<int64_t>(bin(static_cast<size_t>(p.lattice.count))))});
        break;
      case Kind::kList:
        a.push_back({spec.name, p.labels[bin(p.labels.size())]});
        break;
      case Kind::kOneHot:
        a.push_back({spec.name, spec.list[bin(spec.list.size())]});
        break;
    }
  }
  return a;
}

std::vector<Assignment> SpaceEncoding::Enumerate(double limit) const {
  std::vector<Assignment> out;
  const double total = Cardinality();
  if (!(total <= limit)) return out;
  std::vector<size_t> radix;
  for (const Param& p : params_) {
    const ParameterSpec& spec = space_.params[p.index];
    radix.push_back(p.kind == Kind::kLattice ? static_cast<size_t>(p.lattice.count)
                    : p.kind == Kind::kList  ? p.labels.size()
                                             : spec.list.size());
  }
  std::vector<size_t> digit(params_.size(), 0);
  for (size_t count = 0; count < static_cast<size_t>(total); ++count) {
    Assignment a;
    for (size_t i = 0; i < params_.size(); ++i) {
      const Param& p = params_[i];
      const ParameterSpec& spec = space_.params[p.index];
      if (p.kind == Kind::kLattice) {
        a.push_back(
            {spec.name, internal::LatticeValue(spec, p.lattice, static_cast<int64_t>(digit[i]))});
      } else if (p.kind == Kind::kList) {
        a.push_back({spec.name, p.labels[digit[i]]});
      } else {
        a.push_back({spec.name, spec.list[digit[i]]});
      }
    }
    out.push_back(std::move(a));
    for (size_t i = params_.size(); i-- > 0;) {  // odometer: the last parameter moves fastest
      if (++digit[i] < radix[i]) break;
      digit[i] = 0;
    }
  }
  return out;
}

}  // namespace hpt::suggest::gp
