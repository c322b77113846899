#include "engine/controller.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/early_stopping.h"
#include "engine/template/render.h"
#include "engine/token.h"
#include "engine/warm_start.h"
#include "suggest/sampler.h"
#include "trial_runner/metrics_text.h"

namespace hpt::engine {
namespace {

namespace fs = std::filesystem;
using tracker::TrialRecord;
using tracker::TrialState;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a: the default study seed is derived from the study's name, so a re-run reproduces it.
uint64_t NameSeed(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

bool Better(bool maximize, double a, double b) { return maximize ? a > b : a < b; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last non-empty lines of a log, for failure messages.
std::string LogTail(const std::string& path, int lines) {
  std::string text = ReadFile(path);
  std::vector<std::string> all;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) {
    if (!l.empty()) all.push_back(l);
  }
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    absl::StrAppend(&out, out.empty() ? "" : " | ", all[i]);
  }
  return out;
}

}  // namespace

uint64_t StudySeed(const StudySpec& spec, const std::string& study_name) {
  return spec.hpt.seed ? *spec.hpt.seed : NameSeed(study_name);
}

std::string TrialName(const std::string& study_name, int index) {
  return absl::StrFormat("%s-%05d", study_name, index);
}

double ValueByStrategy(const StudySpec& spec, const tracker::MetricSummary& metric) {
  auto it = spec.objective.strategies.find(metric.name);
  MetricStrategy st = MetricStrategy::kLatest;
  if (it != spec.objective.strategies.end()) {
    st = it->second;
  } else if (metric.name == spec.objective.metric) {
    st = spec.objective.maximize ? MetricStrategy::kMax : MetricStrategy::kMin;
  }
  switch (st) {
    case MetricStrategy::kMin:
      return metric.min;
    case MetricStrategy::kMax:
      return metric.max;
    case MetricStrategy::kLatest:
      break;
  }
  return metric.latest;
}

std::optional<double> ObjectiveFrom(const StudySpec& spec,
                                    const std::vector<tracker::MetricSummary>& summaries) {
  for (const tracker::MetricSummary& m : summaries) {
    if (m.name == spec.objective.metric && m.count > 0) return ValueByStrategy(spec, m);
  }
  return std::nullopt;
}

StudyController::StudyController(StudySpec spec, tracker::TrialStore* store,
                                 runner::TrialRunner* runner, ControllerOptions options)
    : spec_(std::move(spec)),
      store_(store),
      runner_(runner),
      options_(std::move(options)),
      parallel_(std::max(1, spec_.parallel_trial_count)),
      max_trials_(spec_.max_trial_count.value_or(-1)),
      max_failed_(spec_.max_failed_trial_count.value_or(-1)) {}

namespace {

// What Run() reads from the controller while it runs: the requests and the live budget.
struct LiveFlags {
  const std::atomic<bool>* stop;
  const std::atomic<bool>* let_running_finish;
  const std::atomic<bool>* detach;
  const std::atomic<int>* parallel;    // >= 1
  const std::atomic<int>* max_trials;  // -1: unlimited
  const std::atomic<int>* max_failed;  // -1: unset
};

std::optional<int> Limit(const std::atomic<int>* v) {
  const int x = v->load();
  return x < 0 ? std::nullopt : std::optional<int>(x);
}

// State of one Run(); kept out of the header.
class RunState {
 public:
  RunState(const StudySpec& spec, tracker::TrialStore* store, runner::TrialRunner* runner,
           const ControllerOptions& options, LiveFlags flags)
      : spec_(spec), store_(store), runner_(runner), options_(options), flags_(flags) {}

  absl::StatusOr<tracker::StudyRecord> Run();

 private:
  struct Active {
    int64_t id;
    std::string name;
    std::string log_path;
    std::string trial_dir;
    runner::TrialLaunch launch;  // for a retry after preemption
    int preemptions = 0;
    int64_t objective_points = 0;  // early stopping: points seen at the last look
    bool judged = false;           // early stopping (Katib's rule): judged once
    bool cancelled = false;        // by the controller (study completed or stopped)
    bool running = false;          // RUNNING recorded in the store
  };

  absl::Status CreateStudy();
  // spec.hpt.warmStart: reads the named studies once and keeps their mapped trials in warm_ and
  // the text of the WarmStart event in warm_message_. Before CreateStudy: a fresh study that
  // names a missing study fails before anything is written.
  absl::Status LoadWarmStart();
  // The launch of a trial as rendered (env, log path, manifest); no token.
  runner::TrialLaunch MakeLaunch(const std::string& name, uint64_t trial_seed,
                                 const RenderedTrial& r, const fs::path& trial_dir);
  // options_.recover: the unfinished trials of a study taken up after a restart. Those the runner
  // still has (Adopt) are followed again. For the others the runner stops what is left of them
  // (TrialRunner::Reclaim); a trial it can vouch for is run again once (Requeue), any other is
  // recorded FAILED "TrialLost".
  absl::Status Recover(const std::vector<TrialRecord>& trials);
  // Runs trial `t`, lost with the previous engine, again: the next attempt with the same
  // parameters and seed and a new token (the lost attempt's process can no longer report), its
  // points deleted, a TrialRequeued event recorded before the launch (the mark that it was run
  // again once).
  absl::Status Requeue(const TrialRecord& t, runner::TrialLaunch launch,
                       const runner::Reclaimed& reclaimed);
  // options_.resume: takes up the stored study and the counts of its trials.
  absl::Status ResumeStudy(const std::string& name);
  absl::Status LaunchTrials(int n);
  absl::Status LaunchOne(const suggest::Assignment& params);
  absl::Status Observe();
  absl::Status Finish(const Active& a, const runner::RunStatus& st);
  // Launches the next attempt of a preempted trial; false when the launch failed (the trial
  // is then finished as failed).
  absl::StatusOr<bool> RetryPreempted(Active& a, const runner::RunStatus& st);
  absl::Status CollectFallbackMetrics(const Active& a);
  // Early stopping: stops running trials the rule condemns (EARLY_STOPPED), freeing their slots.
  absl::Status ApplyEarlyStopping();
  // Feeds a succeeded trial's objective points to the early-stopping rule.
  void FeedRule(int64_t trial_id);
  absl::StatusOr<suggest::History> BuildHistory();
  // Returns true (and the verdict) when the study is complete.
  bool Complete(tracker::StudyState* state, std::string* reason, std::string* message);
  absl::Status CancelActive();
  void Notify(const std::string& event);

  const StudySpec& spec_;
  tracker::TrialStore* store_;
  runner::TrialRunner* runner_;
  const ControllerOptions& options_;
  const LiveFlags flags_;

  tracker::StudyRecord study_;
  uint64_t seed_ = 0;
  std::unique_ptr<suggest::Sampler> sampler_;
  suggest::History warm_;  // warm-start observations, before the study's own in every Suggest
  std::string warm_message_;
  std::optional<MedianStopRule> stop_rule_;
  std::vector<Active> active_;
  Progress progress_;
  int rounds_ = 0;          // v1alpha1 suggestion rounds issued
  bool exhausted_ = false;  // the sampler returned fewer than asked
  bool goal_reached_ = false;
};

absl::Status RunState::ResumeStudy(const std::string& name) {
  absl::StatusOr<tracker::StudyRecord> study = store_->FindStudy(name);
  if (!study.ok()) return study.status();
  absl::StatusOr<std::vector<TrialRecord>> trials = store_->ListTrials(study->id);
  if (!trials.ok()) return trials.status();
  int unfinished = 0;
  for (const TrialRecord& t : *trials) {
    if (!tracker::IsTerminal(t.state)) ++unfinished;
  }
  if (unfinished > 0 && !options_.recover) {
    return absl::FailedPreconditionError(
        absl::StrCat("study ", name, " has ", unfinished,
                     " unfinished trials from an earlier run; an engine restart takes them up"));
  }
  study_ = *study;
  seed_ = study_.seed;
  if (options_.recover) {
    if (absl::Status s = Recover(*trials); !s.ok()) return s;
    trials = store_->ListTrials(study_.id);
    if (!trials.ok()) return trials.status();
  }
  progress_ = ProgressFromTrials(study_, *trials);
  progress_.pending = progress_.running = 0;  // recounted from active_ by Notify
  store_
      ->AddEvent(study_.id, 0, "ExperimentRestarted",
                 absl::StrCat("resumed with ", progress_.finished(), " finished trials"))
      .IgnoreError();
  return store_->SetStudyState(study_.id, tracker::StudyState::kRunning, "ExperimentRestarted",
                               "Experiment is restarted");
}

absl::Status RunState::CreateStudy() {
  std::string base = options_.study_name.empty() ? spec_.name : options_.study_name;
  if (options_.resume) return ResumeStudy(base);
  seed_ = StudySeed(spec_, base);
  tracker::NewStudy ns{.name = base,
                       .project = StudyProject(spec_),
                       .experiment = StudyExperiment(spec_),
                       .spec_yaml = spec_.source_yaml,
                       .spec_path = spec_.file,
                       .algorithm = spec_.algorithm.name,
                       .objective_metric = spec_.objective.metric,
                       .maximize = spec_.objective.maximize,
                       .seed = seed_,
                       .annotations = spec_.annotations};
  for (int suffix = 2;; ++suffix) {
    absl::StatusOr<tracker::StudyRecord> s = store_->CreateStudy(ns);
    if (s.ok()) {
      study_ = *s;
      break;
    }
    if (!absl::IsAlreadyExists(s.status()) || suffix > 10000) return s.status();
    ns.name = absl::StrCat(base, "-", suffix);
  }
  progress_.study = study_.name;
  return store_->SetStudyState(study_.id, tracker::StudyState::kRunning, "ExperimentRunning",
                               "Experiment is running");
}

absl::Status RunState::LoadWarmStart() {
  if (!spec_.hpt.warm_start) return absl::OkStatus();
  const std::string base = options_.study_name.empty() ? spec_.name : options_.study_name;
  const std::string store_name =
      options_.store_name.empty() ? "the tracker file" : options_.store_name;
  std::vector<WarmStartSource> sources;
  std::vector<std::string> missing;
  for (const std::string& name : spec_.hpt.warm_start->studies) {
    if (options_.resume && name == base) {
      return absl::InvalidArgumentError(absl::StrCat(
          "warmStart: study \"", name, "\" is the study being resumed; it cannot seed itself"));
    }
    absl::StatusOr<std::vector<WarmStartSource>> one =
        LoadWarmStartSources(*store_, {name}, store_name);
    // A resumed study already ran with what its sources gave: one deleted since is left out.
    if (options_.resume && absl::IsNotFound(one.status())) {
      missing.push_back(name);
      continue;
    }
    if (!one.ok()) return one.status();
    sources.push_back(std::move(one->front()));
  }
  absl::StatusOr<WarmStartResult> mapped = MapWarmStart(spec_, sources);
  if (!mapped.ok()) return mapped.status();
  warm_ = std::move(mapped->history);
  std::vector<std::string> notes = std::move(mapped->notes);
  for (const std::string& name : missing) {
    notes.push_back(absl::StrCat("no study \"", name, "\" in ", store_name, " any more"));
  }
  warm_message_ = notes.empty() ? "no studies named" : absl::StrJoin(notes, ", ");
  return absl::OkStatus();
}

absl::StatusOr<suggest::History> RunState::BuildHistory() {
  absl::StatusOr<std::vector<TrialRecord>> trials = store_->ListTrials(study_.id);
  if (!trials.ok()) return trials.status();
  suggest::History h = warm_;
  for (const TrialRecord& t : *trials) {
    suggest::Observation o;
    for (const auto& [name, value] : t.params) o.params.push_back({name, value});
    o.pending = !tracker::IsTerminal(t.state);
    if (t.state == TrialState::kSucceeded && t.objective) {
      o.value = spec_.objective.maximize ? -*t.objective : *t.objective;
    }
    h.trials.push_back(std::move(o));
  }
  return h;
}

void RunState::Notify(const std::string& event) {
  progress_.last_event = event;
  progress_.max_trials = Limit(flags_.max_trials);
  progress_.running = 0;
  progress_.pending = 0;
  for (const Active& a : active_) {
    absl::StatusOr<runner::RunStatus> st = runner_->Poll(a.name);
    if (st.ok() && st->phase == runner::RunPhase::kPending) {
      ++progress_.pending;
    } else {
      ++progress_.running;  // running, or ended and not yet observed
    }
  }
  if (options_.on_progress) options_.on_progress(progress_);
}

runner::TrialLaunch RunState::MakeLaunch(const std::string& name, uint64_t trial_seed,
                                         const RenderedTrial& r, const fs::path& trial_dir) {
  runner::TrialLaunch launch{.trial_name = name,
                             .study_name = study_.name,
                             .argv = r.argv,
                             .env = r.env,
                             .gpus = r.gpus,
                             .deadline_seconds = r.active_deadline_seconds,
                             .manifest = r.manifest.dump(),
                             .namespace_ = spec_.namespace_};
  if (spec_.dialect == Dialect::kExperimentV1beta1) {
    launch.primary_container = spec_.trial_template.primary_container_name;
  }
  launch.log_path = (trial_dir / "trial.log").string();
  launch.env["HPT_TRIAL_ID"] = name;
  launch.env["HPT_ENDPOINT"] = options_.endpoint;
  launch.env["KATIB_TRIAL_NAME"] = name;
  launch.env["HPT_TRIAL_SEED"] = std::to_string(trial_seed);
  launch.env["HPT_STUDY"] = study_.name;
  launch.env["HPT_TRIAL_ATTEMPT"] = std::to_string(launch.attempt);
  launch.env["PYTHONUNBUFFERED"] = "1";
  if (!options_.cluster) {
    launch.working_dir = !r.working_dir.empty() ? r.working_dir
                         : spec_.hpt.local      ? fs::absolute(spec_.file).parent_path().string()
                                                : trial_dir.string();
    launch.env["HPT_TRIAL_DIR"] = trial_dir.string();
    if (!options_.python_path.empty()) {
      const char* old = std::getenv("PYTHONPATH");
      launch.env["PYTHONPATH"] =
          old && *old ? absl::StrCat(options_.python_path, ":", old) : options_.python_path;
    }
  }
  return launch;
}

absl::Status RunState::Recover(const std::vector<TrialRecord>& trials) {
  absl::StatusOr<std::vector<runner::RunStatus>> adopted = runner_->Adopt(study_.name);
  if (!adopted.ok()) return adopted.status();
  std::map<std::string, int> attempts;  // the runner's trials: name -> attempt
  for (const runner::RunStatus& st : *adopted) attempts[st.trial_name] = st.attempt;
  // Trials already run again once after a restart: the TrialRequeued event, written before that
  // launch, is the mark.
  absl::StatusOr<std::vector<tracker::Event>> events = store_->ListEvents(study_.id);
  if (!events.ok()) return events.status();
  std::set<int64_t> requeued;
  for (const tracker::Event& e : *events) {
    if (e.kind == "TrialRequeued") requeued.insert(e.trial_id);
  }
  for (const TrialRecord& t : trials) {
    const fs::path trial_dir = fs::absolute(fs::path(options_.runs_dir) / study_.name / t.name);
    if (tracker::IsTerminal(t.state)) {
      // A finished trial's process may outlive the engine too (an early-stopped trial is
      // recorded before its process has ended): stop what is left, if the runner can tell.
      if (!attempts.contains(t.name)) {
        runner_
            ->Reclaim({.trial_name = t.name,
                       .study_name = study_.name,
                       .working_dir = trial_dir.string(),
                       .log_path = (trial_dir / "trial.log").string()})
            .IgnoreError();
      }
      continue;
    }
    auto known = attempts.find(t.name);
    suggest::Assignment params;
    for (const auto& [name, value] : t.params) params.push_back({name, value});
    absl::StatusOr<RenderedTrial> r = RenderTrial(spec_, {.study_name = study_.name,
                                                          .trial_name = t.name,
                                                          .namespace_ = spec_.namespace_,
                                                          .params = params});
    std::string lost;  // why the trial is recorded lost; empty: it is followed or run again
    if (known != attempts.end()) {
      if (r.ok()) {
        // Still running in the runner (a Kubernetes Job): attach to it again. Its token is the
        // one it started with (only its hash is kept), so no Secret is made.
        runner::TrialLaunch launch = MakeLaunch(t.name, t.seed, *r, trial_dir);
        launch.attempt = known->second;
        launch.env["HPT_TRIAL_ATTEMPT"] = std::to_string(launch.attempt);
        if (absl::Status s = runner_->Launch(launch); !s.ok()) return s;
        store_
            ->AddEvent(study_.id, t.id, "TrialAdopted",
                       absl::StrCat("attempt ", launch.attempt,
                                    " found in the runner after a "
                                    "restart; followed again"))
            .IgnoreError();
        active_.push_back({.id = t.id,
                           .name = t.name,
                           .log_path = launch.log_path,
                           .trial_dir = trial_dir.string(),
                           .launch = std::move(launch),
                           .running = t.state == TrialState::kRunning});
        continue;
      }
      lost = absl::StrCat("cannot render the trial again: ", r.status().message());
    } else {
      // The runner no longer knows it (a local process of the previous engine). The launch
      // locates what may be left of it (the local runner's record beside the log).
      runner::TrialLaunch launch;
      if (r.ok()) {
        launch = MakeLaunch(t.name, t.seed, *r, trial_dir);
      } else {
        launch = {.trial_name = t.name,
                  .study_name = study_.name,
                  .working_dir = trial_dir.string(),
                  .log_path = (trial_dir / "trial.log").string()};
      }
      absl::StatusOr<runner::Reclaimed> reclaimed = runner_->Reclaim(launch);
      if (absl::IsUnimplemented(reclaimed.status())) {
        lost =
            "the trial's process ended with the previous engine (the runner no longer knows "
            "it); it is not run again";
      } else if (!reclaimed.ok()) {
        lost = absl::StrCat("the trial was lost with the previous engine and is not run again: ",
                            reclaimed.status().message());
      } else if (!r.ok()) {
        lost = absl::StrCat("the trial was lost with the previous engine (", reclaimed->message,
                            ") and cannot be rendered again: ", r.status().message());
      } else if (requeued.contains(t.id)) {
        lost = absl::StrCat(
            "the trial was lost with the previous engine (", reclaimed->message,
            ") after it had already been run again once after an engine restart; it is not run "
            "again");
      } else {
        if (absl::Status s = Requeue(t, std::move(launch), *reclaimed); !s.ok()) return s;
        continue;
      }
    }
    if (absl::Status s = store_->SetTrialState(t.id, TrialState::kFailed, "TrialLost", lost);
        !s.ok()) {
      return s;
    }
    store_->AddEvent(study_.id, t.id, "TrialLost", lost).IgnoreError();
  }
  return absl::OkStatus();
}

absl::Status RunState::Requeue(const TrialRecord& t, runner::TrialLaunch launch,
                               const runner::Reclaimed& reclaimed) {
  int64_t discarded = 0;
  if (absl::StatusOr<std::vector<tracker::MetricSummary>> sums = store_->Summaries(t.id);
      sums.ok()) {
    for (const tracker::MetricSummary& m : *sums) discarded += m.count;
  }
  // The new token first: from its commit on, nothing the lost attempt still sends is stored
  // (reports already authorized are checked against the token in their transaction), so the
  // deletion below is final.
  const std::string token = NewTrialToken();
  if (absl::Status s = store_->SetTrialTokenHash(t.id, HashToken(token)); !s.ok()) return s;
  if (absl::Status s = store_->DeleteMetrics(t.id); !s.ok()) return s;
  launch.attempt = std::max({t.attempt, reclaimed.attempt, 1}) + 1;
  launch.env["HPT_TRIAL_ATTEMPT"] = std::to_string(launch.attempt);
  launch.secret_env = {{"HPT_TRIAL_TOKEN", token}};
  std::string message = absl::StrCat("the previous engine ended while the trial ran (",
                                     reclaimed.message, "); run again as attempt ", launch.attempt,
                                     " with the same parameters and a new token");
  absl::StrAppend(&message, discarded > 0
                                ? absl::StrCat("; the ", discarded,
                                               " metric points of the lost attempt were discarded")
                                : "; the lost attempt had reported no metric points");
  if (t.state == TrialState::kRunning) {
    if (absl::Status s =
            store_->SetTrialState(t.id, TrialState::kPending, "TrialRequeued", message);
        !s.ok()) {
      return s;
    }
  }
  // Recorded before the launch: an engine that dies after it knows the trial was run again.
  if (absl::Status s = store_->AddEvent(study_.id, t.id, "TrialRequeued", message); !s.ok()) {
    return s;
  }
  if (absl::Status s = runner_->Launch(launch); !s.ok()) {
    const std::string why =
        absl::StrCat("the re-queued trial could not be launched: ", s.message());
    if (absl::Status f = store_->SetTrialState(t.id, TrialState::kFailed, "LaunchFailed", why);
        !f.ok()) {
      return f;
    }
    store_->AddEvent(study_.id, t.id, "TrialFailed", why).IgnoreError();
    return absl::OkStatus();
  }
  const fs::path trial_dir = fs::path(launch.log_path).parent_path();
  active_.push_back({.id = t.id,
                     .name = t.name,
                     .log_path = launch.log_path,
                     .trial_dir = trial_dir.string(),
                     .launch = std::move(launch)});
  return absl::OkStatus();
}

absl::Status RunState::LaunchOne(const suggest::Assignment& params) {
  const int index = progress_.created + 1;
  const std::string name = TrialName(study_.name, index);
  const uint64_t trial_seed = SplitMix64(seed_ ^ static_cast<uint64_t>(index));
  const std::string token = NewTrialToken();
  const fs::path trial_dir = fs::absolute(fs::path(options_.runs_dir) / study_.name / name);

  tracker::NewTrial nt{
      .study_id = study_.id, .name = name, .seed = trial_seed, .token_hash = HashToken(token)};
  for (const suggest::ParamValue& p : params) nt.params.emplace_back(p.name, p.value);

  TrialContext ctx{.study_name = study_.name,
                   .trial_name = name,
                   .namespace_ = spec_.namespace_,
                   .params = params};
  absl::StatusOr<RenderedTrial> r = RenderTrial(spec_, ctx);
  if (r.ok()) nt.manifest = r->manifest.dump(2);
  absl::StatusOr<TrialRecord> t = store_->CreateTrial(nt);
  if (!t.ok()) return t.status();
  ++progress_.created;

  auto fail = [&](const std::string& reason, const std::string& message) -> absl::Status {
    ++progress_.failed;
    absl::Status s = store_->SetTrialState(t->id, TrialState::kFailed, reason, message);
    store_->AddEvent(study_.id, t->id, "TrialFailed", message).IgnoreError();
    Notify(absl::StrCat(name, " FAILED: ", message));
    return s;
  };
  if (!r.ok()) return fail("TemplateError", std::string(r.status().message()));

  std::error_code ec;
  fs::create_directories(trial_dir, ec);
  if (ec) return fail("LaunchFailed", "cannot create " + trial_dir.string() + ": " + ec.message());

  runner::TrialLaunch launch = MakeLaunch(name, trial_seed, *r, trial_dir);
  launch.secret_env = {{"HPT_TRIAL_TOKEN", token}};
  store_
      ->AddEvent(study_.id, t->id, "TrialCreated",
                 options_.cluster
                     ? absl::StrCat("launched as ", r->kind, " ", spec_.namespace_, "/", name,
                                    "; log ", launch.log_path)
                     : absl::StrCat("launched in ", launch.working_dir, "; log ", launch.log_path))
      .IgnoreError();
  if (absl::Status s = runner_->Launch(launch); !s.ok()) {
    return fail("LaunchFailed", std::string(s.message()));
  }
  active_.push_back({.id = t->id,
                     .name = name,
                     .log_path = launch.log_path,
                     .trial_dir = trial_dir.string(),
                     .launch = std::move(launch)});
  Notify(absl::StrCat(name, " launched"));
  return absl::OkStatus();
}

absl::Status RunState::LaunchTrials(int n) {
  if (n <= 0 || exhausted_) return absl::OkStatus();
  absl::StatusOr<suggest::History> h = BuildHistory();
  if (!h.ok()) return h.status();
  absl::StatusOr<std::vector<suggest::Assignment>> next = sampler_->Suggest(spec_.space, *h, n);
  if (!next.ok()) return next.status();
  if (static_cast<int>(next->size()) < n) exhausted_ = true;
  for (const suggest::Assignment& a : *next) {
    if (absl::Status s = LaunchOne(a); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RunState::CollectFallbackMetrics(const Active& a) {
  const MetricsCollectorSpec& mc = spec_.metrics_collector;
  if (mc.kind != CollectorKind::kStdOut && mc.kind != CollectorKind::kFile) {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<tracker::MetricSummary>> have = store_->Summaries(a.id);
  if (!have.ok()) return have.status();
  if (!have->empty()) return absl::OkStatus();  // the trial reported over gRPC: that is the record

  std::string path = a.log_path;
  if (mc.kind == CollectorKind::kFile) {
    path = mc.file_path;
    if (!fs::exists(path)) path = (fs::path(a.trial_dir) / fs::path(mc.file_path).relative_path());
  }
  std::vector<runner::TextMetric> found;
  if (mc.kind == CollectorKind::kFile && mc.file_format == "JSON") {
    absl::StatusOr<std::vector<runner::TextMetric>> j =
        runner::ParseJsonMetrics(ReadFile(path), spec_.MetricNames());
    if (!j.ok()) return j.status();
    found = std::move(*j);
  } else {
    absl::StatusOr<runner::TextMetricsParser> parser =
        runner::TextMetricsParser::Create(spec_.MetricNames(), mc.metrics_format);
    if (!parser.ok()) return parser.status();
    found = parser->ParseText(ReadFile(path));
  }
  if (found.empty()) return absl::OkStatus();
  std::vector<tracker::MetricPoint> points;
  for (const runner::TextMetric& m : found) {
    points.push_back({.name = m.name, .value = m.value, .time_ms = m.time_ms});
  }
  store_
      ->AddEvent(study_.id, a.id, "MetricsCollected",
                 absl::StrCat(points.size(), " points parsed from ", path))
      .IgnoreError();
  return store_->AppendMetrics(a.id, 0, points).status();
}

absl::Status RunState::Finish(const Active& a, const runner::RunStatus& st) {
  if (absl::Status s = CollectFallbackMetrics(a); !s.ok()) {
    store_->AddEvent(study_.id, a.id, "MetricsCollectionFailed", std::string(s.message()))
        .IgnoreError();
  }
  absl::StatusOr<std::vector<tracker::MetricSummary>> sums = store_->Summaries(a.id);
  if (!sums.ok()) return sums.status();
  std::optional<double> objective = ObjectiveFrom(spec_, *sums);

  TrialState state;
  std::string reason, message;
  if (a.cancelled) {
    state = TrialState::kKilled;
    reason = "TrialKilled";
    message = "stopped by hpt: the study completed or was stopped";
  } else if (st.phase == runner::RunPhase::kSucceeded) {
    if (objective) {
      state = TrialState::kSucceeded;
      reason = "TrialSucceeded";
      message = absl::StrCat("Trial has succeeded; ", spec_.objective.metric, "=",
                             suggest::FormatDouble(*objective));
    } else {
      state = TrialState::kMetricsUnavailable;
      reason = "MetricsUnavailable";
      message =
          absl::StrCat("the trial succeeded but never reported the objective metric \"",
                       spec_.objective.metric, "\" (over gRPC, or as \"", spec_.objective.metric,
                       "=<number>\" lines on stdout); log: ", a.log_path);
    }
  } else {
    state = TrialState::kFailed;
    reason = absl::StrCat("TrialFailed. Job reason: ", st.reason);
    message = st.message;
    if (st.phase == runner::RunPhase::kPreempted) {
      absl::StrAppend(&message, "; preempted ", a.preemptions + 1,
                      " times, more than spec.hpt.kubernetes.preemptionRetries=",
                      spec_.hpt.kubernetes.preemption_retries, " allows");
    }
    std::string tail = LogTail(a.log_path, 3);
    if (!tail.empty()) absl::StrAppend(&message, "; log tail: ", tail);
    absl::StrAppend(&message, "; log: ", a.log_path);
  }
  if (state != TrialState::kSucceeded) objective.reset();
  if (absl::Status s = store_->SetTrialState(a.id, state, reason, message, objective); !s.ok()) {
    return s;
  }
  store_->AddEvent(study_.id, a.id, reason, message).IgnoreError();

  std::string event = absl::StrCat(a.name, " ", tracker::TrialStateName(state));
  switch (state) {
    case TrialState::kSucceeded:
      ++progress_.succeeded;
      FeedRule(a.id);
      absl::StrAppend(&event, " ", spec_.objective.metric, "=", suggest::FormatDouble(*objective));
      if (!progress_.best || Better(spec_.objective.maximize, *objective, *progress_.best)) {
        progress_.best = objective;
        progress_.best_trial = a.name;
      }
      if (spec_.objective.goal) {
        const double g = *spec_.objective.goal;
        // v1alpha1 compares the trial's last value strictly; v1beta1 the best value, inclusive.
        const double v = *objective;
        goal_reached_ = goal_reached_ || (spec_.objective.goal_inclusive
                                              ? (spec_.objective.maximize ? v >= g : v <= g)
                                              : (spec_.objective.maximize ? v > g : v < g));
      }
      break;
    case TrialState::kMetricsUnavailable:
      ++progress_.metrics_unavailable;
      absl::StrAppend(&event, ": ", message);
      break;
    case TrialState::kKilled:
      ++progress_.killed;
      break;
    default:
      ++progress_.failed;
      absl::StrAppend(&event, ": ", message);
      break;
  }
  Notify(event);
  return absl::OkStatus();
}

absl::Status RunState::Observe() {
  for (size_t i = 0; i < active_.size();) {
    absl::StatusOr<runner::RunStatus> st = runner_->Poll(active_[i].name);
    if (absl::IsNotFound(st.status())) {
      // The runner forgot the trial: it cannot end any other way.
      st = runner::RunStatus{
          .trial_name = active_[i].name,
          .phase = runner::RunPhase::kFailed,
          .reason = "Lost",
          .message = absl::StrCat("the runner no longer knows the trial: ", st.status().message()),
          .attempt = active_[i].launch.attempt};
    } else if (!st.ok()) {
      return st.status();
    }
    // A workload that ran (it succeeded, or its process exited) ran even when no poll saw it
    // running: recorded so, its attempt counts (a requeued trial that finished between two polls
    // is attempt 2, not 1).
    const bool ran = st->phase == runner::RunPhase::kRunning ||
                     st->phase == runner::RunPhase::kSucceeded ||
                     (st->phase != runner::RunPhase::kPending && st->exit_code.has_value());
    if (ran && !active_[i].running) {
      active_[i].running = true;
      if (absl::Status s = store_->SetTrialState(active_[i].id, TrialState::kRunning,
                                                 "TrialRunning", "Trial is running");
          !s.ok()) {
        return s;
      }
    }
    const bool done = st->phase == runner::RunPhase::kSucceeded ||
                      st->phase == runner::RunPhase::kFailed ||
                      st->phase == runner::RunPhase::kPreempted;
    if (!done) {
      ++i;
      continue;
    }
    if (st->phase == runner::RunPhase::kPreempted && !active_[i].cancelled &&
        active_[i].preemptions < spec_.hpt.kubernetes.preemption_retries) {
      absl::StatusOr<bool> retried = RetryPreempted(active_[i], *st);
      if (!retried.ok()) return retried.status();
      if (*retried) {
        ++i;
        continue;
      }
      runner::RunStatus failed = *st;
      failed.phase = runner::RunPhase::kFailed;
      failed.reason = "LaunchFailed";
      st = failed;
    }
    Active a = active_[i];
    active_.erase(active_.begin() + i);
    if (absl::Status s = Finish(a, *st); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void RunState::FeedRule(int64_t trial_id) {
  if (!stop_rule_) return;
  absl::StatusOr<std::vector<tracker::StoredPoint>> points =
      store_->MetricHistory(trial_id, spec_.objective.metric);
  if (points.ok()) stop_rule_->AddFinished(*points);
}

absl::Status RunState::ApplyEarlyStopping() {
  if (!stop_rule_) return absl::OkStatus();
  for (size_t i = 0; i < active_.size();) {
    Active& a = active_[i];
    if (!a.running || a.cancelled || (a.judged && stop_rule_->judges_once())) {
      ++i;
      continue;
    }
    absl::StatusOr<std::vector<tracker::MetricSummary>> sums = store_->Summaries(a.id);
    if (!sums.ok()) return sums.status();
    int64_t count = 0;
    for (const tracker::MetricSummary& m : *sums) {
      if (m.name == spec_.objective.metric) count = m.count;
    }
    if (count == a.objective_points || count < 1) {
      ++i;
      continue;
    }
    a.objective_points = count;
    absl::StatusOr<std::vector<tracker::StoredPoint>> points =
        store_->MetricHistory(a.id, spec_.objective.metric);
    if (!points.ok()) return points.status();
    std::string why;
    const bool stop = stop_rule_->ShouldStop(*points, &why);
    if (points->size() >= static_cast<size_t>(stop_rule_->start_step())) a.judged = true;
    if (!stop) {
      ++i;
      continue;
    }
    // Stop it and free its slot now; the runner finishes the process on its own.
    if (absl::Status s = runner_->Cancel(a.name); !s.ok()) return s;
    absl::StatusOr<std::vector<tracker::MetricSummary>> final_sums = store_->Summaries(a.id);
    std::optional<double> value;
    if (final_sums.ok()) value = ObjectiveFrom(spec_, *final_sums);
    const std::string message = absl::StrCat("Trial is early stopped: ", why);
    if (absl::Status s = store_->SetTrialState(a.id, TrialState::kEarlyStopped, "TrialEarlyStopped",
                                               message, value);
        !s.ok()) {
      return s;
    }
    store_->AddEvent(study_.id, a.id, "TrialEarlyStopped", message).IgnoreError();
    ++progress_.early_stopped;
    const std::string name = a.name;
    active_.erase(active_.begin() + i);
    Notify(absl::StrCat(name, " EARLY_STOPPED: ", why));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> RunState::RetryPreempted(Active& a, const runner::RunStatus& st) {
  ++a.preemptions;
  const int budget = spec_.hpt.kubernetes.preemption_retries;
  // The retry starts from scratch and reports its points (and report seqs) from the start.
  int64_t discarded = 0;
  if (absl::StatusOr<std::vector<tracker::MetricSummary>> sums = store_->Summaries(a.id);
      sums.ok()) {
    for (const tracker::MetricSummary& m : *sums) discarded += m.count;
  }
  if (absl::Status s = store_->DeleteMetrics(a.id); !s.ok()) return s;
  if (a.running) {
    if (absl::Status s =
            store_->SetTrialState(a.id, TrialState::kPending, "TrialPreempted", st.message);
        !s.ok()) {
      return s;
    }
    a.running = false;
  }
  a.launch.attempt = st.attempt + 1;
  a.launch.env["HPT_TRIAL_ATTEMPT"] = std::to_string(a.launch.attempt);
  std::string message = absl::StrCat(st.reason, ": ", st.message, "; retry ", a.preemptions, " of ",
                                     budget, " (attempt ", a.launch.attempt, ")");
  if (discarded > 0) {
    absl::StrAppend(&message, "; the ", discarded,
                    " metric points of the preempted attempt were discarded");
  }
  store_->AddEvent(study_.id, a.id, "TrialPreempted", message).IgnoreError();
  if (absl::Status s = runner_->Launch(a.launch); !s.ok()) {
    store_
        ->AddEvent(study_.id, a.id, "TrialRetryFailed",
                   absl::StrCat("the retry could not be launched: ", s.message()))
        .IgnoreError();
    return false;
  }
  Notify(
      absl::StrCat(a.name, " preempted (", st.reason, "); retry ", a.preemptions, " of ", budget));
  return true;
}

bool RunState::Complete(tracker::StudyState* state, std::string* reason, std::string* message) {
  const Progress& p = progress_;
  if (goal_reached_) {
    *state = tracker::StudyState::kSucceeded;
    *reason = "ExperimentGoalReached";
    *message =
        absl::StrCat("Experiment has succeeded because Objective goal has reached: ", p.best_trial,
                     " ", spec_.objective.metric, "=", suggest::FormatDouble(*p.best));
    return true;
  }
  const int bad = p.failed + p.metrics_unavailable;
  const std::optional<int> max_failed = Limit(flags_.max_failed);
  const std::optional<int> max_trials = Limit(flags_.max_trials);
  if (spec_.dialect == Dialect::kExperimentV1beta1 && max_failed && bad != 0 &&
      bad >= *max_failed) {
    *state = tracker::StudyState::kFailed;
    *reason = "ExperimentFailed";
    *message = absl::StrCat("Experiment has failed because max failed count has reached: ", bad,
                            " failed or metrics-unavailable trials");
    return true;
  }
  if (max_trials && p.finished() >= *max_trials) {
    *state = tracker::StudyState::kSucceeded;
    *reason = "ExperimentMaxTrialsReached";
    *message = absl::StrCat(
        "Experiment has succeeded because max trial count has reached: ", p.finished(), " trials");
    return true;
  }
  if (spec_.dialect == Dialect::kStudyJobV1alpha1 && active_.empty() && spec_.request_count > 0 &&
      rounds_ >= spec_.request_count) {
    *state = tracker::StudyState::kSucceeded;
    *reason = "ExperimentMaxTrialsReached";
    *message = absl::StrCat("StudyJob completed ", rounds_, " of ", spec_.request_count,
                            " suggestion rounds");
    return true;
  }
  if (exhausted_ && active_.empty()) {
    *state = tracker::StudyState::kSucceeded;
    *reason = "ExperimentSuggestionEndReached";
    *message =
        absl::StrCat("the ", spec_.algorithm.name, " algorithm has no more assignments to suggest");
    return true;
  }
  return false;
}

absl::Status RunState::CancelActive() {
  for (Active& a : active_) {
    a.cancelled = true;
    if (absl::Status s = runner_->Cancel(a.name); !s.ok()) return s;
  }
  // Wait for the runner to confirm every cancellation, then record them.
  while (!active_.empty()) {
    if (absl::Status s = Observe(); !s.ok()) return s;
    if (!active_.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_interval_ms));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<tracker::StudyRecord> RunState::Run() {
  if (absl::Status s = LoadWarmStart(); !s.ok()) return s;
  if (absl::Status s = CreateStudy(); !s.ok()) return s;
  if (spec_.hpt.warm_start) {
    store_->AddEvent(study_.id, 0, "WarmStart", warm_message_).IgnoreError();
    Notify(absl::StrCat("warm start: ", warm_message_));
  }
  absl::StatusOr<std::unique_ptr<suggest::Sampler>> sampler =
      suggest::MakeSampler(spec_.algorithm, spec_.space, seed_);
  if (!sampler.ok()) {
    store_
        ->SetStudyState(study_.id, tracker::StudyState::kFailed, "ExperimentFailed",
                        absl::StrCat("Suggestion has failed: ", sampler.status().message()))
        .IgnoreError();
    return sampler.status();
  }
  sampler_ = std::move(*sampler);
  if (spec_.early_stopping) {
    stop_rule_.emplace(*spec_.early_stopping, spec_.objective.maximize);
    if (options_.resume) {
      absl::StatusOr<std::vector<TrialRecord>> trials = store_->ListTrials(study_.id);
      if (!trials.ok()) return trials.status();
      for (const TrialRecord& t : *trials) {
        if (t.state == TrialState::kSucceeded) FeedRule(t.id);
      }
    }
  }
  Notify("study started");

  tracker::StudyState final_state = tracker::StudyState::kSucceeded;
  std::string reason, message;
  for (;;) {
    if (flags_.detach->load()) {
      // Shutting down: the study stays RUNNING and its trials stay with the runner.
      Notify("detached: the study stays RUNNING");
      return store_->GetStudy(study_.id);
    }
    if (flags_.stop->load()) {
      if (flags_.let_running_finish->load()) {
        while (!active_.empty() && !flags_.detach->load()) {
          if (absl::Status s = Observe(); !s.ok()) return s;
          std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_interval_ms));
        }
        if (!active_.empty()) continue;  // detached meanwhile
      } else if (absl::Status s = CancelActive(); !s.ok()) {
        return s;
      }
      final_state = tracker::StudyState::kFailed;
      reason = "ExperimentStopped";
      message = "stopped by the user";
      break;
    }
    if (absl::Status s = Observe(); !s.ok()) return s;
    if (absl::Status s = ApplyEarlyStopping(); !s.ok()) return s;
    if (Complete(&final_state, &reason, &message)) {
      if (!active_.empty()) {
        if (options_.stop_running_on_completion) {
          if (absl::Status s = CancelActive(); !s.ok()) return s;
        } else {
          // Let the running trials finish, then record them.
          while (!active_.empty()) {
            if (absl::Status s = Observe(); !s.ok()) return s;
            std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_interval_ms));
          }
        }
      }
      break;
    }
    absl::Status launched;
    if (spec_.dialect == Dialect::kStudyJobV1alpha1) {
      // Synchronous rounds: a new round only when every worker of the last one has finished.
      if (active_.empty() && (spec_.request_count <= 0 || rounds_ < spec_.request_count)) {
        int n = spec_.request_number > 0 ? spec_.request_number : 1 << 20;  // grid: 0 = all
        ++rounds_;
        launched = LaunchTrials(n);
        if (launched.ok() && active_.empty() && progress_.created == 0) exhausted_ = true;
      }
    } else {
      const int finished = progress_.finished();
      int want = flags_.parallel->load();
      if (const std::optional<int> max_trials = Limit(flags_.max_trials); max_trials) {
        want = std::min(want, *max_trials - finished);
      }
      launched = LaunchTrials(want - static_cast<int>(active_.size()));
    }
    if (!launched.ok()) {
      CancelActive().IgnoreError();
      store_
          ->SetStudyState(study_.id, tracker::StudyState::kFailed, "ExperimentFailed",
                          absl::StrCat("Suggestion has failed: ", launched.message()))
          .IgnoreError();
      return launched;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_interval_ms));
  }
  if (absl::Status s = store_->SetStudyState(study_.id, final_state, reason, message); !s.ok()) {
    return s;
  }
  store_->AddEvent(study_.id, 0, reason, message).IgnoreError();
  Notify(absl::StrCat("study ", tracker::StudyStateName(final_state), ": ", message));
  return store_->GetStudy(study_.id);
}

}  // namespace

Progress ProgressFromTrials(const tracker::StudyRecord& study,
                            const std::vector<tracker::TrialRecord>& trials) {
  Progress p;
  p.study = study.name;
  for (const TrialRecord& t : trials) {
    ++p.created;
    switch (t.state) {
      case TrialState::kPending:
        ++p.pending;
        break;
      case TrialState::kRunning:
        ++p.running;
        break;
      case TrialState::kSucceeded:
        ++p.succeeded;
        if (t.objective && (!p.best || Better(study.maximize, *t.objective, *p.best))) {
          p.best = t.objective;
          p.best_trial = t.name;
        }
        break;
      case TrialState::kKilled:
        ++p.killed;
        break;
      case TrialState::kEarlyStopped:
        ++p.early_stopped;
        break;
      case TrialState::kMetricsUnavailable:
        ++p.metrics_unavailable;
        break;
      case TrialState::kFailed:
        ++p.failed;
        break;
    }
  }
  return p;
}

absl::StatusOr<tracker::StudyRecord> StudyController::Run() {
  RunState state(spec_, store_, runner_, options_,
                 {.stop = &stop_,
                  .let_running_finish = &let_running_finish_,
                  .detach = &detach_,
                  .parallel = &parallel_,
                  .max_trials = &max_trials_,
                  .max_failed = &max_failed_});
  return state.Run();
}

absl::Status StudyController::SetLimits(const StudyLimits& limits) {
  if (spec_.dialect == Dialect::kStudyJobV1alpha1) {
    return absl::FailedPreconditionError(
        "a v1alpha1 StudyJob runs in fixed rounds (requestcount x requestNumber); its budget "
        "cannot change while it runs");
  }
  if (limits.parallel_trial_count && *limits.parallel_trial_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parallelTrialCount must be >= 1, got ", *limits.parallel_trial_count));
  }
  if (limits.max_trial_count && *limits.max_trial_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("maxTrialCount must be >= 1, got ", *limits.max_trial_count));
  }
  if (limits.max_failed_trial_count && *limits.max_failed_trial_count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("maxFailedTrialCount must be >= 0, got ", *limits.max_failed_trial_count));
  }
  if (limits.parallel_trial_count) parallel_.store(*limits.parallel_trial_count);
  if (limits.max_trial_count) max_trials_.store(*limits.max_trial_count);
  if (limits.max_failed_trial_count) max_failed_.store(*limits.max_failed_trial_count);
  return absl::OkStatus();
}

}  // namespace hpt::engine
