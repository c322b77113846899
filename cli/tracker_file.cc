#include "cli/tracker_file.h"

#include <filesystem>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hpt::cli {

int Fail(const absl::Status& s) {
  std::cerr << "hpt: " << s.message() << "\n";
  return 1;
}

absl::StatusOr<std::unique_ptr<tracker::TrialStore>> OpenExisting(const std::string& db) {
  if (!std::filesystem::exists(db)) {
    return absl::NotFoundError(
        absl::StrCat("no tracker file ", db, " (run a study first, or pass --db PATH / HPT_DB)"));
  }
  return tracker::TrialStore::Open({}, db);
}

absl::StatusOr<tracker::StudyRecord> ResolveStudy(tracker::TrialStore* store,
                                                  const std::string& name) {
  absl::StatusOr<std::vector<tracker::StudyRecord>> all = store->ListStudies();
  if (!all.ok()) return all.status();
  std::vector<std::string> names;
  for (const tracker::StudyRecord& r : *all) {
    if (!name.empty() && r.name == name) return r;
    names.push_back(r.name);
  }
  const std::string listed = names.empty() ? "(none)" : absl::StrJoin(names, ", ");
  if (!name.empty()) {
    return absl::NotFoundError(absl::StrCat("no study \"", name, "\"; studies: ", listed));
  }
  if (all->empty()) return absl::NotFoundError("the tracker file holds no study yet");
  if (all->size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the tracker file holds ", all->size(), " studies; name one: ", listed));
  }
  return all->front();
}

std::optional<engine::StudySpec> SpecOf(const tracker::StudyRecord& s) {
  absl::StatusOr<engine::StudySpec> spec = engine::LoadStudyText(s.spec_yaml, s.spec_path, nullptr);
  if (!spec.ok()) return std::nullopt;
  return *std::move(spec);
}

}  // namespace hpt::cli
