// Helpers for the study-loader tests: load text, find diagnostics, and assert where they point.
#ifndef HPT_TESTS_ENGINE_SPEC_SPEC_TEST_UTIL_H_
#define HPT_TESTS_ENGINE_SPEC_SPEC_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/spec/study_spec.h"
#include "gtest/gtest.h"

namespace hpt::engine::testing_util {

struct Loaded {
  absl::StatusOr<StudySpec> spec;
  std::vector<Diagnostic> diags;
};

inline Loaded LoadText(const std::string& yaml, const std::string& file = "study.yaml") {
  Loaded r;
  r.spec = LoadStudyText(yaml, file, &r.diags);
  return r;
}

inline Loaded LoadFile(const std::string& path) {
  Loaded r;
  r.spec = LoadStudyFile(path, &r.diags);
  return r;
}

inline std::string Dump(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const Diagnostic& d : diags) {
    out += "  " + d.ToString() + (d.unsupported ? " [unsupported]" : "") + "\n";
  }
  return out.empty() ? "  (no diagnostics)\n" : out;
}

inline std::vector<Diagnostic> Errors(const Loaded& r) {
  std::vector<Diagnostic> out;
  for (const Diagnostic& d : r.diags) {
    if (d.severity == Diagnostic::Severity::kError) out.push_back(d);
  }
  return out;
}

inline std::vector<Diagnostic> Warnings(const Loaded& r) {
  std::vector<Diagnostic> out;
  for (const Diagnostic& d : r.diags) {
    if (d.severity == Diagnostic::Severity::kWarning) out.push_back(d);
  }
  return out;
}

// Succeeds when exactly one diagnostic of `severity` has `path`, sits at line:column, and its
// message contains `text`.
inline ::testing::AssertionResult HasDiag(const Loaded& r, Diagnostic::Severity severity,
                                          const std::string& path, int line, int column,
                                          const std::string& text) {
  std::vector<const Diagnostic*> found;
  for (const Diagnostic& d : r.diags) {
    if (d.severity == severity && d.path == path) found.push_back(&d);
  }
  if (found.size() != 1) {
    return ::testing::AssertionFailure()
           << found.size() << " diagnostics with path \"" << path << "\"; all:\n"
           << Dump(r.diags);
  }
  const Diagnostic& d = *found[0];
  if (d.line != line || d.column != column || d.message.find(text) == std::string::npos) {
    return ::testing::AssertionFailure() << "want " << line << ":" << column << " with \"" << text
                                         << "\", got " << d.ToString() << "\nall:\n"
                                         << Dump(r.diags);
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult HasError(const Loaded& r, const std::string& path, int line,
                                           int column, const std::string& text) {
  return HasDiag(r, Diagnostic::Severity::kError, path, line, column, text);
}

inline ::testing::AssertionResult HasWarning(const Loaded& r, const std::string& path, int line,
                                             int column, const std::string& text) {
  return HasDiag(r, Diagnostic::Severity::kWarning, path, line, column, text);
}

// A fresh directory under the test's temp dir, removed at destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("hpt_spec_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Write(const std::string& relative, const std::string& text) const {
    std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace hpt::engine::testing_util

#endif  // HPT_TESTS_ENGINE_SPEC_SPEC_TEST_UTIL_H_
