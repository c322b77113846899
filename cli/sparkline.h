// Sparkline: a series of numbers drawn as one line of Unicode block characters, for a terminal
// (`hpt history`).
//
//   Sparkline({3, 1, 4, 1, 5});  // "▅▁▆▁█"
//
// Each value becomes one of ▁▂▃▄▅▆▇█, scaled from the series' lowest to its highest value. A series
// longer than `max_width` is first downsampled to `max_width` columns, each the mean of a run of
// consecutive values (the runs differ in length by at most one). A constant series is a flat line
// of ▄; an empty one is "". Values must be finite.
//
// Thread-safety: a pure function.
#ifndef HPT_CLI_SPARKLINE_H_
#define HPT_CLI_SPARKLINE_H_

#include <cstddef>
#include <string>
#include <vector>

namespace hpt::cli {

inline constexpr size_t kSparklineWidth = 60;

// The line (UTF-8; one character per column, at most max(max_width, 1) columns).
std::string Sparkline(const std::vector<double>& values, size_t max_width = kSparklineWidth);

// The column values Sparkline draws: `values` downsampled to at most `max_width` bucket means.
std::vector<double> DownsampleMeans(const std::vector<double>& values, size_t max_width);

}  // namespace hpt::cli

#endif  // HPT_CLI_SPARKLINE_H_
