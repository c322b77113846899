#include "engine/trigger_manager.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

namespace hpt::engine {
namespace {

using trigger::ActionSpec;
using trigger::ConditionSpec;
using trigger::TriggerSpec;
using trigger::WatchSpec;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* ActionName(const ActionSpec& a) {
  return a.kind == ActionSpec::Kind::kRetrainTrial ? "retrainTrial" : "submitStudy";
}

// The annotation studies made by a trigger carry its name in.
constexpr char kTriggerAnnotation[] = "hpt.dev/trigger";

absl::StatusOr<YAML::Node> ParseMap(const std::string& text, const std::string& what) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(what, " is not a YAML map"));
    return root;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, " does not parse: ", e.what()));
  }
}

// Sets metadata.name and adds `annotations` to metadata.annotations.
void Rename(YAML::Node& root, const std::string& name,
            const std::map<std::string, std::string>& annotations) {
  YAML::Node metadata = root["metadata"];
  if (!metadata.IsMap()) {
    root["metadata"] = YAML::Node(YAML::NodeType::Map);
    metadata = root["metadata"];
  }
  metadata["name"] = name;
  YAML::Node notes = metadata["annotations"];
  if (!notes.IsMap()) {
    metadata["annotations"] = YAML::Node(YAML::NodeType::Map);
    notes = metadata["annotations"];
  }
  for (const auto& [key, value] : annotations) notes[key] = value;
}

std::string Emit(const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace

absl::StatusOr<std::string> RetrainStudyYaml(
    const std::string& study_yaml, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& params,
    const std::map<std::string, std::string>& annotations) {
  absl::StatusOr<YAML::Node> parsed = ParseMap(study_yaml, "the champion's study");
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *parsed;
  try {
    const std::string api = root["apiVersion"] ? root["apiVersion"].as<std::string>() : "";
    const std::string kind = root["kind"] ? root["kind"].as<std::string>() : "";
    if (api != "kubeflow.org/v1beta1" || kind != "Experiment") {
      return absl::InvalidArgumentError(absl::StrCat(
          "retrainTrial runs the champion's study again with its parameters fixed, which hpt "
          "does for kubeflow.org/v1beta1 Experiments; this study is ",
          api.empty() ? "(no apiVersion)" : api, " ", kind,
          " (submit a study with the champion's values instead)"));
    }
    Rename(root, name, annotations);
    YAML::Node spec = root["spec"];
    if (!spec.IsMap()) return absl::InvalidArgumentError("the champion's study has no spec");
    YAML::Node algorithm(YAML::NodeType::Map);
    algorithm["algorithmName"] = "grid";
    spec["algorithm"] = algorithm;
    spec["maxTrialCount"] = 1;
    spec["parallelTrialCount"] = 1;
    spec.remove("earlyStopping");
    if (spec["hpt"].IsMap()) spec["hpt"].remove("warmStart");
    YAML::Node parameters = spec["parameters"];
    if (!parameters.IsSequence()) {
      return absl::InvalidArgumentError("the champion's study has no spec.parameters list");
    }
    for (size_t i = 0; i < parameters.size(); ++i) {
      YAML::Node p = parameters[i];
      const std::string pname = p["name"] ? p["name"].as<std::string>() : "";
      auto it = std::find_if(params.begin(), params.end(),
                             [&](const auto& kv) { return kv.first == pname; });
      if (it == params.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("the champion has no value for parameter \"", pname, "\""));
      }
      p["parameterType"] = "categorical";
      YAML::Node space(YAML::NodeType::Map);
      YAML::Node list(YAML::NodeType::Sequence);
      list.push_back(it->second);
      space["list"] = list;
      p["feasibleSpace"] = space;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the champion's study cannot be rewritten: ", e.what()));
  }
  return Emit(root);
}

absl::StatusOr<std::string> SubmittedStudyYaml(
    const std::string& study_yaml, const std::string& name,
    const std::vector<std::string>& warm_start,
    const std::map<std::string, std::string>& annotations) {
  absl::StatusOr<YAML::Node> parsed = ParseMap(study_yaml, "the study to submit");
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *parsed;
  try {
    Rename(root, name, annotations);
    if (!warm_start.empty()) {
      YAML::Node spec = root["spec"];
      if (!spec.IsMap()) return absl::InvalidArgumentError("the study to submit has no spec");
      if (!spec["hpt"].IsMap()) spec["hpt"] = YAML::Node(YAML::NodeType::Map);
      YAML::Node studies(YAML::NodeType::Sequence);
      for (const std::string& s : warm_start) studies.push_back(s);
      YAML::Node ws(YAML::NodeType::Map);
      ws["studies"] = studies;
      spec["hpt"]["warmStart"] = ws;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the study to submit cannot be rewritten: ", e.what()));
  }
  return Emit(root);
}

TriggerManager::TriggerManager(tracker::TrialStore* store, StudyManager* studies,
                               TriggerManagerOptions options)
    : store_(store), studies_(studies), options_(options) {}

TriggerManager::~TriggerManager() { Stop(); }

void TriggerManager::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
  }
  // Firings a crash left PENDING: their actions run again, and find their study when it was
  // already submitted.
  {
    absl::MutexLock eval(&eval_mu_);
    absl::StatusOr<std::vector<tracker::TriggerFiring>> all = store_->ListFirings(0, 0);
    if (!all.ok()) {
      std::cerr << "hptd: triggers: cannot read firings: " << all.status().message() << "\n";
    } else {
      for (const tracker::TriggerFiring& f : *all) {
        if (f.state != tracker::FiringState::kPending) continue;
        absl::StatusOr<tracker::TriggerRecord> record = store_->FindTrigger(f.trigger);
        if (!record.ok()) continue;
        absl::StatusOr<TriggerSpec> spec =
            trigger::LoadTriggerText(record->spec_yaml, record->spec_path, nullptr);
        if (!spec.ok()) {
          store_
              ->FinishFiring(f.id, tracker::FiringState::kFailed,
                             std::string(spec.status().message()))
              .IgnoreError();
          continue;
        }
        Fire(*spec, *record, f);
      }
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

void TriggerManager::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void TriggerManager::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void TriggerManager::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // Until the interval ends, or earlier when a schedule comes due or a cooldown ends.
      absl::Duration wait = options_.interval;
      const int64_t now = NowMs();
      for (const auto& [name, last] : last_) {
        const trigger::Decision& d = last.first;
        int64_t due = 0;
        if (d.next_due_ms) due = std::max(*d.next_due_ms, d.next_eligible_ms);
        if (d.cooling_down) due = std::max(due, d.next_eligible_ms);
        if (due > now) wait = std::min(wait, absl::Milliseconds(due - now));
      }
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](TriggerManager* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->mu_) {
                                 return m->wake_ || m->stop_;
                               },
                               this),
                           wait);
      if (stop_) return;
      wake_ = false;
    }
    absl::StatusOr<std::vector<tracker::TriggerFiring>> fired = EvaluateAll();
    if (!fired.ok()) {
      std::cerr << "hptd: triggers: " << fired.status().message() << "\n";
    }
  }
}

absl::StatusOr<std::vector<trigger::SeriesPoint>> TriggerManager::Series(TriggerSpec& spec) {
  std::vector<trigger::SeriesPoint> out;
  switch (spec.watch.source) {
    case WatchSpec::Source::kNone:
      return out;
    case WatchSpec::Source::kModel: {
      const trigger::ModelWatch& m = spec.watch.model;
      // The window's last N points suffice unless the condition needs the best of the whole
      // series.
      const bool whole = spec.condition.kind == ConditionSpec::Kind::kDropFromBest ||
                         spec.condition.kind == ConditionSpec::Kind::kNewBest;
      const bool by_points = spec.aggregate.window == trigger::AggregateSpec::Window::kPoints;
      absl::StatusOr<std::vector<tracker::ModelPoint>> points =
          store_->ModelSeries({.project = m.project,
                               .experiment = m.experiment,
                               .model = m.name,
                               .metric = m.metric,
                               .last_n = whole || !by_points ? 0 : spec.aggregate.window_points});
      if (!points.ok()) return points.status();
      for (const tracker::ModelPoint& p : *points) out.push_back({p.time_ms, p.value});
      return out;
    }
    case WatchSpec::Source::kStudy: {
      absl::StatusOr<tracker::StudyRecord> study = store_->FindStudy(spec.watch.study.name);
      if (absl::IsNotFound(study.status())) {
        return absl::NotFoundError(
            absl::StrCat("watch.study.name: no study \"", spec.watch.study.name, "\""));
      }
      if (!study.ok()) return study.status();
      spec.watch.study.goal = study->maximize ? trigger::Goal::kMaximize : trigger::Goal::kMinimize;
      absl::StatusOr<std::vector<tracker::TrialRecord>> trials = store_->ListTrials(study->id);
      if (!trials.ok()) return trials.status();
      std::vector<const tracker::TrialRecord*> done;
      for (const tracker::TrialRecord& t : *trials) {
        if (t.state == tracker::TrialState::kSucceeded && t.objective) done.push_back(&t);
      }
      std::stable_sort(done.begin(), done.end(), [](const auto* a, const auto* b) {
        return a->finished_ms < b->finished_ms;
      });
      for (const tracker::TrialRecord* t : done) out.push_back({t->finished_ms, *t->objective});
      return out;
    }
  }
  return out;
}

absl::StatusOr<AppliedTrigger> TriggerManager::Apply(const std::string& yaml,
                                                     const std::string& file_name,
                                                     const std::string& study_yaml) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<TriggerSpec> spec = trigger::LoadTriggerText(yaml, file_name, &diagnostics);
  if (!spec.ok()) return spec.status();
  const std::string where = absl::StrCat("trigger \"", spec->name, "\": ");
  if (spec->action.kind == ActionSpec::Kind::kRetrainTrial) {
    absl::StatusOr<tracker::StudyRecord> champion = store_->FindStudy(spec->action.study);
    if (absl::IsNotFound(champion.status())) {
      return absl::NotFoundError(
          absl::StrCat(where, "action.retrainTrial.study: no study \"", spec->action.study, "\""));
    }
    if (!champion.ok()) return champion.status();
    absl::StatusOr<StudySpec> loaded =
        LoadStudyText(champion->spec_yaml, champion->spec_path, nullptr);
    if (loaded.ok() && loaded->dialect != Dialect::kExperimentV1beta1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "action.retrainTrial.study: study \"", champion->name,
                       "\" is a v1alpha1 StudyJob; retrainTrial reruns kubeflow.org/v1beta1 "
                       "Experiments (use submitStudy)"));
    }
  }
  std::string kept_study_yaml;
  if (spec->action.kind == ActionSpec::Kind::kSubmitStudy && spec->action.study_yaml.empty()) {
    if (study_yaml.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "action.submitStudy.file: the text of ", spec->action.file,
          " was not sent with the trigger (hpt trigger apply reads it beside the trigger file)"));
    }
    absl::StatusOr<StudySpec> loaded = LoadStudyText(study_yaml, spec->action.file, nullptr);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat(where, "action.submitStudy.file ", spec->action.file, ": ",
                                       loaded.status().message()));
    }
    kept_study_yaml = study_yaml;
  }
  // newBest's baseline: the watched best now (Series also checks a watched study exists).
  absl::StatusOr<std::vector<trigger::SeriesPoint>> series = Series(*spec);
  if (!series.ok()) {
    return absl::Status(series.status().code(), absl::StrCat(where, series.status().message()));
  }
  const int64_t now = NowMs();
  trigger::Decision d = trigger::Evaluate(*spec, *series, {.applied_ms = now}, now);
  AppliedTrigger out;
  absl::StatusOr<tracker::TriggerRecord> record =
      store_->ApplyTrigger({.name = spec->name,
                            .spec_yaml = yaml,
                            .spec_path = file_name,
                            .study_yaml = kept_study_yaml,
                            .baseline = d.best},
                           &out.created);
  if (!record.ok()) return record.status();
  out.record = *std::move(record);
  out.summary = trigger::Summary(*spec);
  for (Diagnostic& diag : diagnostics) {
    if (diag.severity == Diagnostic::Severity::kWarning) out.diagnostics.push_back(std::move(diag));
  }
  {
    absl::MutexLock lock(&mu_);
    last_.erase(spec->name);
  }
  Wake();
  return out;
}

absl::Status TriggerManager::Delete(const std::string& name) {
  absl::Status s = store_->DeleteTrigger(name);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    last_.erase(name);
  }
  return s;
}

absl::StatusOr<std::vector<TriggerView>> TriggerManager::List() {
  absl::StatusOr<std::vector<tracker::TriggerRecord>> records = store_->ListTriggers();
  if (!records.ok()) return records.status();
  std::vector<TriggerView> out;
  for (tracker::TriggerRecord& r : *records) {
    TriggerView v;
    absl::StatusOr<TriggerSpec> spec = trigger::LoadTriggerText(r.spec_yaml, r.spec_path, nullptr);
    v.summary = spec.ok() ? trigger::Summary(*spec)
                          : absl::StrCat("(does not load: ", spec.status().message(), ")");
    absl::StatusOr<std::vector<tracker::TriggerFiring>> last = store_->ListFirings(r.id, 1);
    if (last.ok() && !last->empty()) v.last_firing = last->front();
    {
      absl::MutexLock lock(&mu_);
      auto it = last_.find(r.name);
      if (it != last_.end()) {
        v.last = it->second.first;
        v.last_evaluated_ms = it->second.second;
      }
    }
    v.record = std::move(r);
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<tracker::TriggerFiring>> TriggerManager::History(const std::string& name,
                                                                            int limit) {
  int64_t id = 0;
  if (!name.empty()) {
    absl::StatusOr<tracker::TriggerRecord> r = store_->FindTrigger(name);
    if (!r.ok()) return r.status();
    id = r->id;
  }
  return store_->ListFirings(id, limit);
}

absl::Status TriggerManager::Report(const std::vector<tracker::ModelPoint>& points) {
  absl::Status s = store_->AppendModelMetrics(points);
  if (s.ok()) Wake();
  return s;
}

absl::StatusOr<std::vector<tracker::TriggerFiring>> TriggerManager::EvaluateAll(int64_t now_ms) {
  absl::MutexLock eval(&eval_mu_);
  absl::StatusOr<std::vector<tracker::TriggerRecord>> records = store_->ListTriggers();
  if (!records.ok()) return records.status();
  std::vector<tracker::TriggerFiring> fired;
  for (const tracker::TriggerRecord& record : *records) {
    const int64_t now = now_ms > 0 ? now_ms : NowMs();
    trigger::Decision d;
    absl::StatusOr<TriggerSpec> spec =
        trigger::LoadTriggerText(record.spec_yaml, record.spec_path, nullptr);
    absl::StatusOr<std::vector<trigger::SeriesPoint>> series =
        spec.ok() ? Series(*spec)
                  : absl::StatusOr<std::vector<trigger::SeriesPoint>>(spec.status());
    absl::StatusOr<std::vector<tracker::TriggerFiring>> last = store_->ListFirings(record.id, 1);
    if (!series.ok() || !last.ok()) {
      d.reason = std::string((!series.ok() ? series.status() : last.status()).message());
    } else {
      trigger::TriggerState state{.applied_ms = record.applied_ms,
                                  .best_at_last_firing = record.baseline};
      if (!last->empty()) {
        state.last_fired_ms = last->front().time_ms;
        if (last->front().best) state.best_at_last_firing = last->front().best;
      }
      d = trigger::Evaluate(*spec, *series, state, now);
    }
    {
      absl::MutexLock lock(&mu_);
      last_[record.name] = {d, now};
    }
    if (!d.fire) continue;
    absl::StatusOr<std::optional<tracker::TriggerFiring>> claimed =
        store_->ClaimFiring({.trigger_id = record.id,
                             .time_ms = now,
                             .value = d.value,
                             .best = d.best,
                             .reason = d.reason,
                             .action = ActionName(spec->action)},
                            spec->cooldown_ms);
    if (!claimed.ok()) return claimed.status();
    if (!claimed->has_value()) continue;  // another engine on this file fired it first
    fired.push_back(Fire(*spec, record, **std::move(claimed)));
  }
  return fired;
}

tracker::TriggerFiring TriggerManager::Fire(const TriggerSpec& spec,
                                            const tracker::TriggerRecord& record,
                                            tracker::TriggerFiring firing) {
  absl::StatusOr<std::string> made = RunAction(spec, record, firing);
  firing.state = made.ok() ? tracker::FiringState::kDone : tracker::FiringState::kFailed;
  firing.result = made.ok() ? *made : std::string(made.status().message());
  firing.finished_ms = NowMs();
  if (absl::Status s =
          store_->FinishFiring(firing.id, firing.state, firing.result, firing.finished_ms);
      !s.ok()) {
    std::cerr << "hptd: trigger " << record.name << ": cannot record firing " << firing.id << ": "
              << s.message() << "\n";
  }
  return firing;
}

bool TriggerManager::MadeBy(const std::string& study, const std::string& trigger) {
  absl::StatusOr<tracker::StudyRecord> s = store_->FindStudy(study);
  if (!s.ok()) return false;
  auto it = s->annotations.find(kTriggerAnnotation);
  return it != s->annotations.end() && it->second == trigger;
}

absl::StatusOr<std::string> TriggerManager::RunAction(const TriggerSpec& spec,
                                                      const tracker::TriggerRecord& record,
                                                      const tracker::TriggerFiring& firing) {
  std::map<std::string, std::string> annotations = {{kTriggerAnnotation, record.name}};
  std::string name, yaml, event;
  if (spec.action.kind == ActionSpec::Kind::kRetrainTrial) {
    absl::StatusOr<tracker::StudyRecord> study = store_->FindStudy(spec.action.study);
    if (absl::IsNotFound(study.status())) {
      return absl::NotFoundError(
          absl::StrCat("action.retrainTrial.study: no study \"", spec.action.study, "\""));
    }
    if (!study.ok()) return study.status();
    name = absl::StrCat(study->name, "-retrain-", firing.id);
    if (MadeBy(name, record.name)) return name;  // submitted before a crash
    absl::StatusOr<std::vector<tracker::TrialRecord>> best = store_->Leaderboard(study->id, 1);
    if (!best.ok()) return best.status();
    if (best->empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "study \"", study->name, "\" has no trial with an objective yet: no champion"));
    }
    const tracker::TrialRecord& champion = best->front();
    annotations["hpt.dev/champion"] = champion.name;
    absl::StatusOr<std::string> text =
        RetrainStudyYaml(study->spec_yaml, name, champion.params, annotations);
    if (!text.ok()) return text.status();
    yaml = *std::move(text);
    event = absl::StrCat("champion ", champion.name, " of study ", study->name);
  } else {
    const std::string& text =
        spec.action.study_yaml.empty() ? record.study_yaml : spec.action.study_yaml;
    absl::StatusOr<StudySpec> loaded = LoadStudyText(text, "<trigger>", nullptr);
    if (!loaded.ok()) return loaded.status();
    name = absl::StrCat(loaded->name, "-t", firing.id);
    if (MadeBy(name, record.name)) return name;
    absl::StatusOr<std::string> renamed =
        SubmittedStudyYaml(text, name, spec.action.warm_start_from, annotations);
    if (!renamed.ok()) return renamed.status();
    yaml = *std::move(renamed);
    event =
        spec.action.warm_start_from.empty()
            ? std::string("a new study")
            : absl::StrCat("warm-started from ", absl::StrJoin(spec.action.warm_start_from, ", "));
  }
  absl::StatusOr<StudyView> view =
      studies_->Submit(yaml, absl::StrCat("<trigger ", record.name, ">"), {.name = name});
  if (!view.ok()) return view.status();
  store_
      ->AddEvent(view->record.id, 0, "Triggered",
                 absl::StrCat("trigger ", record.name, " (firing ", firing.id, "): ", firing.reason,
                              "; ", event))
      .IgnoreError();
  return name;
}

}  // namespace hpt::engine
