#include "engine/study_manager.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/validate.h"

namespace hpt::engine {

struct StudyManager::Running {
  std::unique_ptr<StudyController> controller;
  std::thread thread;
  Progress progress;
  int parallel_trial_count = 0;
  std::optional<int> max_trial_count;
  std::optional<int> max_failed_trial_count;
  bool started = false;  // the study is in the store (the first progress report)
  bool done = false;     // Run() returned
  absl::Status result;
};

StudyManager::StudyManager(tracker::TrialStore* store, runner::TrialRunner* runner,
                           StudyManagerOptions options)
    : store_(store), runner_(runner), options_(std::move(options)) {}

StudyManager::~StudyManager() { Shutdown(); }

void StudyManager::Shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (auto& [name, r] : running_) {
      r->controller->RequestDetach();
      if (r->thread.joinable()) threads.push_back(std::move(r->thread));
    }
  }
  for (std::thread& t : threads) t.join();
}

void StudyManager::ReapLocked() {
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second->done && it->second->thread.joinable()) it->second->thread.join();
    it = it->second->done ? running_.erase(it) : std::next(it);
  }
}

absl::StatusOr<StudyView> StudyManager::Submit(const std::string& yaml,
                                               const std::string& file_name,
                                               const SubmitOptions& submit) {
  std::vector<Diagnostic> diags;
  const std::string file = file_name.empty() ? "<submitted>" : file_name;
  absl::StatusOr<StudySpec> spec = LoadStudyText(yaml, file, &diags);
  if (spec.ok()) {
    CheckStudy(*spec, &diags);
    if (absl::Status s = StatusFromDiagnostics(diags); !s.ok()) spec = s;
  }
  if (!spec.ok()) return spec.status();
  ControllerOptions co;
  co.study_name = submit.name.empty() ? spec->name : submit.name;
  // Choose the final name now, so that the caller learns it.
  {
    absl::MutexLock lock(&mu_);
    const std::string base = co.study_name;
    for (int suffix = 2;; ++suffix) {
      absl::StatusOr<tracker::StudyRecord> taken = store_->FindStudy(co.study_name);
      if (absl::IsNotFound(taken.status()) && !running_.contains(co.study_name)) break;
      if (!taken.ok() && !absl::IsNotFound(taken.status())) return taken.status();
      if (!submit.allow_rename) {
        return absl::AlreadyExistsError(absl::StrCat(
            "a study named ", base, " exists; choose another name, or allow a -2, -3, ... suffix"));
      }
      co.study_name = absl::StrCat(base, "-", suffix);
    }
  }
  return Start(*std::move(spec), std::move(co), /*resume=*/false);
}

absl::StatusOr<std::vector<std::string>> StudyManager::RecoverAll() {
  absl::StatusOr<std::vector<tracker::StudyRecord>> studies = store_->ListStudies();
  if (!studies.ok()) return studies.status();
  std::vector<std::string> taken_up;
  for (const tracker::StudyRecord& study : *studies) {
    if (study.state != tracker::StudyState::kRunning) continue;
    {
      absl::MutexLock lock(&mu_);
      ReapLocked();
      if (running_.contains(study.name)) continue;
    }
    std::vector<Diagnostic> diags;
    absl::StatusOr<StudySpec> spec = LoadStudyText(study.spec_yaml, study.spec_path, &diags);
    absl::Status started = spec.status();
    if (spec.ok()) {
      ControllerOptions co;
      co.study_name = study.name;
      started = Start(*std::move(spec), std::move(co), /*resume=*/true, /*recover=*/true).status();
    }
    if (!started.ok()) {
      const std::string message =
          absl::StrCat("cannot take the study up after a restart: ", started.message());
      store_->SetStudyState(study.id, tracker::StudyState::kFailed, "ExperimentFailed", message)
          .IgnoreError();
      store_->AddEvent(study.id, 0, "ExperimentFailed", message).IgnoreError();
      continue;
    }
    taken_up.push_back(study.name);
  }
  return taken_up;
}

absl::StatusOr<StudyView> StudyManager::Start(StudySpec spec, ControllerOptions co, bool resume,
                                              bool recover) {
  co.endpoint = options_.endpoint;
  co.runs_dir = options_.runs_dir;
  co.python_path = options_.python_path;
  co.cluster = options_.cluster;
  co.poll_interval_ms = options_.poll_interval_ms;
  co.store_name = options_.store_name;
  co.resume = resume;
  co.recover = recover;
  co.stop_running_on_completion = !spec.hpt.finish_running_on_completion;
  const std::string name = co.study_name;

  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("hptd is shutting down");
  ReapLocked();
  if (running_.contains(name)) {
    return absl::FailedPreconditionError(absl::StrCat("study ", name, " is running"));
  }
  if (deleting_.contains(name)) {
    return absl::FailedPreconditionError(absl::StrCat("study ", name, " is being deleted"));
  }
  auto r = std::make_unique<Running>();
  Running* raw = r.get();
  r->parallel_trial_count = spec.parallel_trial_count;
  r->max_trial_count = spec.max_trial_count;
  r->max_failed_trial_count = spec.max_failed_trial_count;
  co.on_progress = [this, raw, name](const Progress& p) {
    absl::MutexLock lock(&mu_);
    raw->progress = p;
    raw->started = true;
    const uint64_t version = ++versions_[name];
    auto& events = events_[name];
    events.emplace_back(version, p.last_event);
    if (events.size() > kMaxEvents) events.pop_front();
  };
  r->controller = std::make_unique<StudyController>(std::move(spec), store_, runner_, co);
  running_[name] = std::move(r);
  raw->thread = std::thread([this, raw, name] {
    absl::StatusOr<tracker::StudyRecord> result = raw->controller->Run();
    absl::MutexLock lock(&mu_);
    raw->result = result.status();
    raw->done = true;
    budgets_[name] = {raw->parallel_trial_count, raw->max_trial_count, raw->max_failed_trial_count};
    ++versions_[name];
  });
  // Return once the study is in the store (or its controller gave up).
  mu_.Await(absl::Condition(
      +[](Running* r) { return r->started || r->done; }, raw));
  if (raw->done && !raw->started) {
    absl::Status s = raw->result;
    if (raw->thread.joinable()) raw->thread.join();
    running_.erase(name);
    return s.ok() ? absl::InternalError("the study ended before it started") : s;
  }
  return ViewLocked(name);
}

absl::StatusOr<StudyView> StudyManager::ViewLocked(const std::string& name) {
  absl::StatusOr<tracker::StudyRecord> record = store_->FindStudy(name);
  if (!record.ok()) return record.status();
  StudyView v;
  v.record = *std::move(record);
  auto it = running_.find(name);
  if (it != running_.end() && !it->second->done) {
    const Running& r = *it->second;
    v.progress = r.progress;
    v.progress.max_trials = r.max_trial_count;
    v.parallel_trial_count = r.parallel_trial_count;
    v.max_failed_trial_count = r.max_failed_trial_count;
    v.live = true;
    return v;
  }
  absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store_->ListTrials(v.record.id);
  if (!trials.ok()) return trials.status();
  v.progress = ProgressFromTrials(v.record, *trials);
  if (auto b = budgets_.find(name); b != budgets_.end()) {
    v.progress.max_trials = b->second.max_trial_count;
    v.parallel_trial_count = b->second.parallel_trial_count;
    v.max_failed_trial_count = b->second.max_failed_trial_count;
    return v;
  }
  // The budget as the stored spec says.
  std::vector<Diagnostic> ignored;
  absl::StatusOr<StudySpec> spec = LoadStudyText(v.record.spec_yaml, v.record.spec_path, &ignored);
  if (spec.ok()) {
    v.progress.max_trials = spec->max_trial_count;
    v.parallel_trial_count = spec->parallel_trial_count;
    v.max_failed_trial_count = spec->max_failed_trial_count;
  }
  return v;
}

absl::StatusOr<StudyView> StudyManager::Get(const std::string& name) {
  absl::MutexLock lock(&mu_);
  return ViewLocked(name);
}

absl::StatusOr<std::vector<StudyView>> StudyManager::List() {
  absl::StatusOr<std::vector<tracker::StudyRecord>> studies = store_->ListStudies();
  if (!studies.ok()) return studies.status();
  std::vector<StudyView> out;
  absl::MutexLock lock(&mu_);
  for (const tracker::StudyRecord& s : *studies) {
    absl::StatusOr<StudyView> v = ViewLocked(s.name);
    if (!v.ok()) return v.status();
    out.push_back(*std::move(v));
  }
  return out;
}

absl::StatusOr<StudyView> StudyManager::Stop(const std::string& name, bool let_running_finish) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(name);
  if (it == running_.end() || it->second->done) {
    absl::StatusOr<StudyView> v = ViewLocked(name);
    if (!v.ok()) return v.status();
    return absl::FailedPreconditionError(absl::StrCat(
        "study ", name, " is not running (", tracker::StudyStateName(v->record.state), ")"));
  }
  it->second->controller->RequestStop(let_running_finish);
  ++versions_[name];
  return ViewLocked(name);
}

absl::StatusOr<StudyView> StudyManager::Resume(const std::string& name,
                                               std::optional<int> max_trial_count) {
  StudySpec spec;
  {
    absl::MutexLock lock(&mu_);
    ReapLocked();
    if (running_.contains(name)) {
      return absl::FailedPreconditionError(absl::StrCat("study ", name, " is running"));
    }
    absl::StatusOr<StudyView> v = ViewLocked(name);
    if (!v.ok()) return v.status();
    std::vector<Diagnostic> diags;
    absl::StatusOr<StudySpec> loaded =
        LoadStudyText(v->record.spec_yaml, v->record.spec_path, &diags);
    if (!loaded.ok()) return loaded.status();
    spec = *std::move(loaded);
    const int have = v->progress.finished();
    if (max_trial_count) {
      if (*max_trial_count <= have) {
        return absl::InvalidArgumentError(absl::StrCat("maxTrialCount ", *max_trial_count,
                                                       " is not above the ", have,
                                                       " finished trials of study ", name));
      }
      spec.max_trial_count = *max_trial_count;
    } else if (spec.max_trial_count && have >= *spec.max_trial_count) {
      return absl::FailedPreconditionError(
          absl::StrCat("study ", name, " has its ", have, " of maxTrialCount ",
                       *spec.max_trial_count, " trials; resume it with a larger maxTrialCount"));
    }
  }
  ControllerOptions co;
  co.study_name = name;
  return Start(std::move(spec), std::move(co), /*resume=*/true);
}

absl::StatusOr<int> StudyManager::Delete(const std::string& name, bool force) {
  absl::StatusOr<tracker::StudyRecord> record;
  absl::StatusOr<std::vector<tracker::TrialRecord>> trials;
  {
    absl::MutexLock lock(&mu_);
    if (deleting_.contains(name)) {
      return absl::FailedPreconditionError(
          absl::StrCat("study ", name, " is being deleted already"));
    }
    absl::Status checked = PrepareDeleteLocked(name, force, &record, &trials);
    if (!checked.ok()) return checked;
    deleting_.insert(name);  // no Resume or second Delete while the runner purges
  }
  // The runner's traces first (Kubernetes Jobs), outside the lock (API calls may take a while):
  // should that fail, the study is still whole and the delete can be asked again.
  const absl::Status purged = runner_->Purge(name);
  absl::MutexLock lock(&mu_);
  deleting_.erase(name);
  if (!purged.ok()) {
    return absl::Status(purged.code(), absl::StrCat("cannot delete the workloads of study ", name,
                                                    " (nothing deleted): ", purged.message()));
  }
  if (absl::Status s = store_->DeleteStudy(record->id); !s.ok()) return s;
  events_.erase(name);
  budgets_.erase(name);
  ++versions_[name];  // watchers wake up and find it gone
  // Trial directories hold the trials' logs and outputs; they go with the study.
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(options_.runs_dir) / name, ec);
  if (ec) {
    return absl::DataLossError(absl::StrCat("study ", name,
                                            " was deleted from the tracker, but "
                                            "its trial directories under ",
                                            options_.runs_dir,
                                            " could not be removed: ", ec.message()));
  }
  return static_cast<int>(trials->size());
}

absl::Status StudyManager::PrepareDeleteLocked(
    const std::string& name, bool force, absl::StatusOr<tracker::StudyRecord>* record,
    absl::StatusOr<std::vector<tracker::TrialRecord>>* trials) {
  ReapLocked();
  if (auto it = running_.find(name); it != running_.end()) {
    if (!force) {
      return absl::FailedPreconditionError(
          absl::StrCat("study ", name,
                       " is running; stop it first, or delete it with force (its running "
                       "trials are stopped)"));
    }
    Running* raw = it->second.get();
    raw->controller->RequestStop(/*let_running_finish=*/false);
    ++versions_[name];
    mu_.Await(absl::Condition(
        +[](Running* r) { return r->done; }, raw));
    ReapLocked();
  }
  *record = store_->FindStudy(name);
  if (!record->ok()) return record->status();
  if (!force && ((*record)->state == tracker::StudyState::kRunning ||
                 (*record)->state == tracker::StudyState::kCreated)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "study ", name, " is ", tracker::StudyStateName((*record)->state),
        " in the tracker but not run by this hptd (another hpt process on the same file?); stop "
        "that process first, or delete it with force"));
  }
  *trials = store_->ListTrials((*record)->id);
  return trials->status();
}

absl::StatusOr<StudyView> StudyManager::Update(const std::string& name, const StudyLimits& limits) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(name);
  if (it == running_.end() || it->second->done) {
    if (absl::StatusOr<StudyView> v = ViewLocked(name); !v.ok()) return v.status();
    return absl::FailedPreconditionError(
        absl::StrCat("study ", name, " is not running; resume it to give it more trials"));
  }
  Running& r = *it->second;
  if (absl::Status s = r.controller->SetLimits(limits); !s.ok()) return s;
  if (limits.parallel_trial_count) r.parallel_trial_count = *limits.parallel_trial_count;
  if (limits.max_trial_count) r.max_trial_count = *limits.max_trial_count;
  if (limits.max_failed_trial_count) r.max_failed_trial_count = *limits.max_failed_trial_count;
  ++versions_[name];
  return ViewLocked(name);
}

absl::StatusOr<StudyUpdate> StudyManager::WaitForChange(const std::string& name, uint64_t version,
                                                        absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || versions_[name] > version;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  absl::StatusOr<StudyView> v = ViewLocked(name);
  if (!v.ok()) return v.status();
  StudyUpdate u{*std::move(v), versions_[name], {}};
  for (const auto& [at, event] : events_[name]) {
    if (at > version) u.events.push_back(event);
  }
  return u;
}

}  // namespace hpt::engine
