#include "trial_runner/k8s/labels.h"

#include <cstdint>
#include <cstdio>

namespace hpt::runner::k8s {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string LabelValue(std::string_view name) {
  constexpr size_t kMax = 63;
  std::string out;
  out.reserve(name.size());
  for (char c : name) out.push_back(IsAlnum(c) || c == '.' || c == '_' || c == '-' ? c : '-');
  if (out.size() > kMax) {
    uint32_t h = 2166136261u;  // FNV-1a of the original name
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%08x", h);
    out = out.substr(0, kMax - 9) + "-" + hex;
  }
  size_t b = 0, e = out.size();
  while (b < e && !IsAlnum(out[b])) ++b;
  while (e > b && !IsAlnum(out[e - 1])) --e;
  return out.substr(b, e - b);
}

}  // namespace hpt::runner::k8s
