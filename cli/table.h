// Tabular output for the CLI: one Table, printed as an aligned text table, JSON or CSV.
#ifndef HPT_CLI_TABLE_H_
#define HPT_CLI_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace hpt::cli {

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // each as long as `columns`
  // Per column: true when the JSON value should be a number (the cell parses as one).
  std::vector<bool> numeric;
};

// format: "table", "json" or "csv"; InvalidArgument otherwise.
absl::Status PrintTable(const Table& t, const std::string& format, std::ostream& out);

}  // namespace hpt::cli

#endif  // HPT_CLI_TABLE_H_
