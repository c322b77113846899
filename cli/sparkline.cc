#include "cli/sparkline.h"

#include <algorithm>
#include <cmath>

namespace hpt::cli {
namespace {

constexpr const char* kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
constexpr int kLevels = 8;

}  // namespace

std::vector<double> DownsampleMeans(const std::vector<double>& values, size_t max_width) {
  const size_t n = values.size();
  const size_t width = std::min(n, std::max<size_t>(max_width, 1));
  std::vector<double> out;
  out.reserve(width);
  for (size_t b = 0; b < width; ++b) {
    const size_t begin = b * n / width, end = (b + 1) * n / width;
    // Summing value / count keeps the sum finite for values near the largest double.
    double mean = 0;
    for (size_t i = begin; i < end; ++i) mean += values[i] / static_cast<double>(end - begin);
    out.push_back(mean);
  }
  return out;
}

std::string Sparkline(const std::vector<double>& values, size_t max_width) {
  const std::vector<double> columns = DownsampleMeans(values, max_width);
  if (columns.empty()) return "";
  const auto [lo_it, hi_it] = std::minmax_element(columns.begin(), columns.end());
  // Halved so that hi - lo cannot overflow.
  const double lo = *lo_it / 2, span = *hi_it / 2 - lo;
  std::string line;
  for (double v : columns) {
    int level = kLevels / 2 - 1;  // ▄ for a constant series
    if (span > 0) {
      level = static_cast<int>(std::lround((v / 2 - lo) / span * (kLevels - 1)));
      level = std::clamp(level, 0, kLevels - 1);
    }
    line += kBlocks[level];
  }
  return line;
}

}  // namespace hpt::cli
