// A fresh directory per test, for tests that need real files (tracker files, trial directories,
// sockets).
#ifndef HPT_TESTS_COMMON_TEST_DIRS_H_
#define HPT_TESTS_COMMON_TEST_DIRS_H_

#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace hpt::test_support {

// <gtest's temp dir>/<prefix>_<pid>_<the running test's name>, emptied and created. Unique per
// process and test, so tests of several binaries may run at once.
inline std::filesystem::path FreshTestDir(const std::string& prefix) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      (prefix + "_" + std::to_string(::getpid()) + "_" + (test ? test->name() : "setup"));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace hpt::test_support

#endif  // HPT_TESTS_COMMON_TEST_DIRS_H_
