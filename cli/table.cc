#include "cli/table.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

std::string CsvCell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Display width of UTF-8 text (counts code points; good enough for table alignment).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Digits with an optional sign: what JSON should show as an integer.
bool IsInteger(const std::string& s) {
  const size_t start = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  return s.size() > start && s.find_first_not_of("0123456789", start) == std::string::npos;
}

}  // namespace

absl::Status PrintAligned(const Table& t, std::ostream& out);

absl::Status PrintTable(const Table& t, const std::string& format, std::ostream& out) {
  if (format == "json") {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : t.rows) {
      nlohmann::json o = nlohmann::json::object();
      for (size_t c = 0; c < t.columns.size(); ++c) {
        const std::string& cell = c < r.size() ? r[c] : std::string();
        const bool num = c < t.numeric.size() && t.numeric[c];
        absl::StatusOr<double> v = suggest::Numeric(cell);
        int64_t integer = 0;
        if (cell.empty()) {
          o[t.columns[c]] = nullptr;
        } else if (num && IsInteger(cell) && absl::SimpleAtoi(cell, &integer)) {
          o[t.columns[c]] = integer;  // ranks, counts, steps: 3, not 3.0
        } else if (num && v.ok()) {
          o[t.columns[c]] = *v;
        } else {
          o[t.columns[c]] = cell;
        }
      }
      rows.push_back(std::move(o));
    }
    out << rows.dump(2) << "\n";
    return absl::OkStatus();
  }
  if (format == "csv") {
    for (size_t c = 0; c < t.columns.size(); ++c) out << (c ? "," : "") << CsvCell(t.columns[c]);
    out << "\n";
    for (const auto& r : t.rows) {
      for (size_t c = 0; c < t.columns.size(); ++c) {
        out << (c ? "," : "") << CsvCell(c < r.size() ? r[c] : "");
      }
      out << "\n";
    }
    return absl::OkStatus();
  }
  if (format != "table") {
    return absl::InvalidArgumentError("unknown --format \"" + format +
                                      "\"; allowed: table, json, csv");
  }
  // Numbers with a fraction or an exponent (metrics, parameter values) are shown with 6
  // significant digits here; integers (counts, steps, seeds) as they are. json and csv keep every
  // digit.
  Table shown = t;
  for (auto& r : shown.rows) {
    for (size_t c = 0; c < r.size(); ++c) {
      const bool integer = IsInteger(r[c]);
      absl::StatusOr<double> v = suggest::Numeric(r[c]);
      if (v.ok() && !integer && r[c].size() > 8) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.6g", *v);
        r[c] = buf;
      }
    }
  }
  return PrintAligned(shown, out);
}

absl::Status PrintAligned(const Table& t, std::ostream& out) {
  std::vector<size_t> w(t.columns.size());
  for (size_t c = 0; c < t.columns.size(); ++c) w[c] = Width(t.columns[c]);
  for (const auto& r : t.rows) {
    for (size_t c = 0; c < t.columns.size() && c < r.size(); ++c)
      w[c] = std::max(w[c], Width(r[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const std::string& s = c < cells.size() ? cells[c] : std::string();
      out << s;
      if (c + 1 < t.columns.size()) out << std::string(w[c] - Width(s) + 2, ' ');
    }
    out << "\n";
  };
  line(t.columns);
  std::vector<std::string> rule;
  for (size_t c = 0; c < t.columns.size(); ++c) rule.push_back(std::string(w[c], '-'));
  line(rule);
  for (const auto& r : t.rows) line(r);
  return absl::OkStatus();
}

}  // namespace hpt::cli
