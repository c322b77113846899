// Replays every saved fuzz input through its target: tests/fuzz/regressions/<target>/ (inputs
// that once found a bug) and tests/fuzz/corpus/<target>/ (the seed corpus). Built by any
// compiler with the normal tests, so the gcc build checks the regressions too. A broken contract
// aborts (fuzz_targets.h), which fails the test; the input's path is printed first.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hpt::fuzz {
namespace {

namespace fs = std::filesystem;

using Entry = int (*)(const uint8_t*, size_t);

const fs::path kFuzzDir = fs::path(HPT_SOURCE_DIR) / "tests" / "fuzz";

// The input files of one folder, sorted; README files and dot files are not inputs.
std::vector<fs::path> InputsIn(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file() || name.front() == '.' || name.rfind("README", 0) == 0) continue;
    out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs every input of the target's two folders; returns how many ran from the corpus.
size_t Replay(const std::string& target, Entry entry) {
  size_t corpus = 0;
  for (const char* kind : {"regressions", "corpus"}) {
    for (const fs::path& p : InputsIn(kFuzzDir / kind / target)) {
      std::fprintf(stderr, "replaying %s\n", p.string().c_str());
      const std::string bytes = ReadAll(p);
      entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      if (std::string(kind) == "corpus") ++corpus;
    }
  }
  return corpus;
}

TEST(FuzzRegressions, StudyYaml) { EXPECT_GT(Replay("study_yaml", &StudyYamlOneInput), 0u); }

TEST(FuzzRegressions, GoTemplate) { EXPECT_GT(Replay("gotemplate", &GoTemplateOneInput), 0u); }

TEST(FuzzRegressions, YamlJson) { EXPECT_GT(Replay("yaml_json", &YamlJsonOneInput), 0u); }

// Every folder is a target's: a misnamed one would silently never be replayed.
TEST(FuzzRegressions, FoldersNameKnownTargets) {
  const std::set<std::string> known = {"study_yaml", "gotemplate", "yaml_json"};
  for (const char* kind : {"regressions", "corpus"}) {
    std::error_code ec;
    for (fs::directory_iterator it(kFuzzDir / kind, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_directory()) continue;
      EXPECT_EQ(known.count(it->path().filename().string()), 1u)
          << it->path() << " is not a fuzz target's folder";
    }
  }
}

// The entry points take empty input (libFuzzer starts with it).
TEST(FuzzRegressions, EmptyInput) {
  EXPECT_EQ(StudyYamlOneInput(nullptr, 0), 0);
  EXPECT_EQ(GoTemplateOneInput(nullptr, 0), 0);
  EXPECT_EQ(YamlJsonOneInput(nullptr, 0), 0);
}

}  // namespace
}  // namespace hpt::fuzz
