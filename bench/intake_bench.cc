// hptd's metric intake end to end: N concurrent reporting trials (default 1,000), each with its
// own trial id, token and seq sequence, report over gRPC on loopback to hptd's MetricsServer,
// which commits to a SQLite tracker file; a point counts once the server has acknowledged it
// (acknowledged = committed). After each run every trial's stored points are compared with what
// was acknowledged: the same points, each (trial, metric, step) once, the same values.
//
//   build/bench/hpt_bench_intake --mode unary --batch 100 --seconds 10 --runs 3
//   build/bench/hpt_bench_intake --mode stream --batch 100
//   build/bench/hpt_bench_intake --ceiling          # raw SQLite inserts into hpt's own schema
//   build/bench/hpt_bench_intake --connect 127.0.0.1:7070 --db /path/of/hptd.db
//
// Modes: `unary` sends Report calls of --batch points, one outstanding call per reporter;
// `stream` keeps a ReportStream per reporter and writes requests of --batch points, closing the
// stream (WritesDone; the OK status acknowledges every request it carried) after
// --stream-messages requests and opening the next. Each run uses a fresh tracker file (in-process
// server) or a fresh study (--connect). Prints one JSON object on stdout; progress on stderr.
//
// --ceiling: the physical ceiling of the same writes without gRPC or the store: one prepared
// INSERT into hpt's own `metrics` table (schema made by TrialStore::Open, same pragmas), the
// harness's matrix (synchronous NORMAL/FULL x all rows in one transaction / 1000 per
// transaction / 1 per transaction, rows step-major over 100 trials x 10 metrics) plus the intake's
// own order (--trials trials x --names metrics, --batch points per trial in a row, --group rows
// per transaction).
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/metrics_service.h"
#include "engine/token.h"
#include "hpt/v1/metrics.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tracker/trial_store.h"

namespace {

namespace fs = std::filesystem;
namespace engine = hpt::engine;
namespace tracker = hpt::tracker;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Config {
  std::string mode = "unary";  // unary | stream | both
  int trials = 1000;
  int batch = 100;
  int names = 4;
  double seconds = 10;
  int runs = 3;
  int channels = 8;
  int stream_messages = 10;
  int retries = 5;
  std::string dir;      // where fresh tracker files go
  std::string connect;  // an hptd already listening (then --db is its tracker file)
  std::string db;
  int max_batch_points = tracker::StoreOptions{}.max_batch_points;
  int worker_threads = engine::MetricsServerOptions{}.worker_threads;
  bool background_checkpoints = tracker::StoreOptions{}.background_checkpoints;
  bool keep = false;
  bool verify = true;
  bool ceiling = false;
  int ceiling_rows = 2'000'000;
  int intake_rows = 8'000'000;
  std::string ceiling_cases = "harness,intake";
  int group = 10'000;
  double ceiling_cap_s = 20;
};

const char* kMetricNames[] = {"loss",         "accuracy",     "learning_rate", "val_loss",
                              "val_accuracy", "grad_norm",    "throughput",    "epoch_time",
                              "gpu_memory",   "custom_metric"};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time of the calling thread (the SQLite work of a ceiling case, checkpoints included).
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

// CPU seconds used so far by each thread of this process, summed by thread name
// (/proc/self/task/*/stat): where the time goes, e.g. "hpt-writer" (the tracker's writer).
std::map<std::string, double> ThreadCpu() {
  std::map<std::string, double> out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (const fs::directory_entry& task : fs::directory_iterator("/proc/self/task", ec)) {
    std::FILE* f = std::fopen((task.path() / "stat").c_str(), "r");
    if (f == nullptr) continue;
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // pid (comm) state ppid ... field 14 utime, 15 stime; comm may hold spaces.
    const char* open = std::strchr(buf, '(');
    const char* close = std::strrchr(buf, ')');
    if (open == nullptr || close == nullptr) continue;
    std::string name(open + 1, close);
    unsigned long long utime = 0, stime = 0;
    if (std::sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                    &stime) != 2) {
      continue;
    }
    // gRPC and the bench name threads by role, with numbers: group them.
    while (!name.empty() && (std::isdigit(static_cast<unsigned char>(name.back())) ||
                             name.back() == '-' || name.back() == '_')) {
      name.pop_back();
    }
    out[name] += (utime + stime) / tick;
  }
  return out;
}

// The g-th point reporter r ever sends: metric g % names at step g / names, with a value that
// is a deterministic function of (r, g) and not an integer (SQLite stores integral REALs as
// integers, which would flatter the figures).
struct PointSpec {
  const char* name;
  int64_t step;
  double value;
};
PointSpec PointOf(int reporter, int64_t g, int names) {
  uint64_t h = (static_cast<uint64_t>(reporter) << 40) ^ static_cast<uint64_t>(g);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return {kMetricNames[g % names], g / names,
          std::ldexp(static_cast<double>(h >> 11), -53) * 100.0 - 50.0};
}

void FillRequest(hpt::v1::ReportRequest& req, const std::string& trial, const std::string& token,
                 int reporter, uint64_t seq, int batch, int names) {
  req.set_trial_id(trial);
  req.set_token(token);
  req.set_seq(seq);
  req.mutable_points()->Clear();  // keeps the allocated elements for reuse
  const int64_t first = static_cast<int64_t>(seq - 1) * batch;
  for (int j = 0; j < batch; ++j) {
    PointSpec p = PointOf(reporter, first + j, names);
    hpt::v1::MetricPoint* mp = req.add_points();
    mp->set_name(p.name);
    mp->set_step(p.step);
    mp->set_value(p.value);
    mp->set_time_unix_ms(0);
  }
}

// Latencies in microseconds, collected from many threads.
class Latencies {
 public:
  void Add(double us) {
    std::lock_guard<std::mutex> l(mu_);
    v_.push_back(us);
  }
  json Summary() {
    std::lock_guard<std::mutex> l(mu_);
    if (v_.empty()) return json::object();
    std::sort(v_.begin(), v_.end());
    auto q = [&](double f) {
      return v_[std::min(v_.size() - 1, static_cast<size_t>(f * v_.size()))] / 1e3;
    };
    return {{"p50_ms", q(0.5)},
            {"p90_ms", q(0.9)},
            {"p99_ms", q(0.99)},
            {"max_ms", v_.back() / 1e3},
            {"count", v_.size()}};
  }

 private:
  std::mutex mu_;
  std::vector<double> v_;
};

struct Trial {
  std::string name;
  std::string token;
  int64_t id = 0;
};

// Shared state of one run.
struct Run {
  const Config* cfg = nullptr;
  std::vector<Trial> trials;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<hpt::v1::MetricsService::Stub>> stubs;
  Clock::time_point deadline;
  std::atomic<int64_t> acked_points{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> failures{0};
  std::atomic<int> running{0};
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int64_t> error_codes;  // guarded by mu
  Latencies latency;
  // Per reporter: every seq in [1, acked[r]] was acknowledged (reporters send in seq order).
  std::vector<uint64_t> acked;

  void Error(const grpc::Status& s) {
    std::lock_guard<std::mutex> l(mu);
    ++error_codes[absl::StrCat(s.error_code(), ": ", s.error_message().substr(0, 120))];
  }
  void ReporterDone() {
    std::lock_guard<std::mutex> l(mu);
    if (--running == 0) cv.notify_all();
  }
};

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// One trial reporting with unary calls: one call outstanding, seq 1, 2, ...; a retryable failure
// resends the same seq (which the server acknowledges once whether or not it had stored it).
class UnaryReporter {
 public:
  UnaryReporter(Run* run, int index) : run_(run), index_(index) {}
  void Start() { Send(1, 0); }

 private:
  void Send(uint64_t seq, int attempt) {
    const Config& cfg = *run_->cfg;
    const Trial& t = run_->trials[index_];
    if (attempt == 0) FillRequest(req_, t.name, t.token, index_, seq, cfg.batch, cfg.names);
    ctx_ = std::make_unique<grpc::ClientContext>();
    sent_ = Clock::now();
    run_->stubs[index_ % run_->stubs.size()]->async()->Report(
        ctx_.get(), &req_, &resp_, [this, seq, attempt](grpc::Status s) { Done(seq, attempt, s); });
  }

  void Done(uint64_t seq, int attempt, const grpc::Status& s) {
    const Config& cfg = *run_->cfg;
    const Clock::time_point now = Clock::now();
    if (s.ok()) {
      run_->latency.Add(std::chrono::duration<double, std::micro>(now - sent_).count());
      const bool replay = attempt > 0 && resp_.duplicate();
      if (resp_.seq() != seq || (!replay && (resp_.duplicate() || resp_.stored() != cfg.batch))) {
        run_->Error(grpc::Status(grpc::StatusCode::INTERNAL,
                                 absl::StrCat("bad ack: seq ", resp_.seq(), " stored ",
                                              resp_.stored(), " duplicate ", resp_.duplicate())));
        ++run_->failures;
        run_->ReporterDone();
        return;
      }
      run_->acked[index_] = seq;
      run_->acked_points += cfg.batch;
      if (now >= run_->deadline) {
        run_->ReporterDone();
        return;
      }
      Send(seq + 1, 0);
      return;
    }
    run_->Error(s);
    if (Retryable(s) && attempt < cfg.retries) {
      ++run_->retries;
      Send(seq, attempt + 1);
      return;
    }
    ++run_->failures;
    run_->ReporterDone();
  }

  Run* run_;
  const int index_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  hpt::v1::ReportRequest req_;
  hpt::v1::ReportResponse resp_;
  Clock::time_point sent_;
};

class StreamReporter;

// One ReportStream of one reporter, carrying up to --stream-messages requests. Deletes itself in
// OnDone after handing over to the next stream.
class StreamCall : public grpc::ClientWriteReactor<hpt::v1::ReportRequest> {
 public:
  StreamCall(StreamReporter* owner, uint64_t first_seq);
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  void WriteNext();

  StreamReporter* owner_;
  const uint64_t first_seq_;
  uint64_t next_seq_;
  grpc::ClientContext ctx_;
  hpt::v1::ReportRequest req_;
  hpt::v1::ReportStreamResponse resp_;
  std::vector<Clock::time_point> written_;  // when each request was handed to the stream
};

class StreamReporter {
 public:
  StreamReporter(Run* run, int index) : run_(run), index_(index) {}
  void Start() { new StreamCall(this, 1); }

  // Called by a finished stream that carried seqs [first, end).
  void StreamDone(uint64_t first, uint64_t end, const grpc::Status& s,
                  const hpt::v1::ReportStreamResponse& resp,
                  const std::vector<Clock::time_point>& written) {
    const Config& cfg = *run_->cfg;
    const Clock::time_point now = Clock::now();
    const int64_t n = static_cast<int64_t>(end - first);
    if (s.ok()) {
      // Replays (after a failed stream) are acknowledged without being stored again.
      if (resp.requests() != n || resp.stored() > n * cfg.batch ||
          (attempt_ == 0 && resp.stored() != n * cfg.batch)) {
        run_->Error(grpc::Status(grpc::StatusCode::INTERNAL,
                                 absl::StrCat("bad stream ack: ", resp.requests(), " requests, ",
                                              resp.stored(), " stored; sent ", n)));
        ++run_->failures;
        run_->ReporterDone();
        return;
      }
      for (const Clock::time_point& w : written) {
        run_->latency.Add(std::chrono::duration<double, std::micro>(now - w).count());
      }
      run_->acked[index_] = end - 1;
      run_->acked_points += n * cfg.batch;
      attempt_ = 0;
      if (now >= run_->deadline) {
        run_->ReporterDone();
        return;
      }
      new StreamCall(this, end);
      return;
    }
    run_->Error(s);
    if (Retryable(s) && attempt_ < cfg.retries) {
      ++attempt_;
      ++run_->retries;
      new StreamCall(this, first);  // the whole stream again: stored requests come back as replays
      return;
    }
    ++run_->failures;
    run_->ReporterDone();
  }

  Run* run() { return run_; }
  int index() const { return index_; }

 private:
  Run* run_;
  const int index_;
  int attempt_ = 0;
};

StreamCall::StreamCall(StreamReporter* owner, uint64_t first_seq)
    : owner_(owner), first_seq_(first_seq), next_seq_(first_seq) {
  Run* run = owner_->run();
  run->stubs[owner_->index() % run->stubs.size()]->async()->ReportStream(&ctx_, &resp_, this);
  WriteNext();
  StartCall();
}

void StreamCall::WriteNext() {
  Run* run = owner_->run();
  const Config& cfg = *run->cfg;
  const Trial& t = run->trials[owner_->index()];
  FillRequest(req_, t.name, t.token, owner_->index(), next_seq_, cfg.batch, cfg.names);
  written_.push_back(Clock::now());
  ++next_seq_;
  StartWrite(&req_);
}

void StreamCall::OnWriteDone(bool ok) {
  if (!ok) return;  // the stream broke; OnDone reports its status
  const Config& cfg = *owner_->run()->cfg;
  if (next_seq_ - first_seq_ >= static_cast<uint64_t>(cfg.stream_messages) ||
      Clock::now() >= owner_->run()->deadline) {
    StartWritesDone();
    return;
  }
  WriteNext();
}

void StreamCall::OnDone(const grpc::Status& s) {
  owner_->StreamDone(first_seq_, next_seq_, s, resp_, written_);
  delete this;
}

// ---- the server side of a run ----

struct Target {
  std::unique_ptr<tracker::TrialStore> store;  // the tracker file (in-process or --db)
  std::unique_ptr<engine::MetricsServer> server;
  std::string address;
  std::string db_path;
};

absl::Status Prepare(const Config& cfg, int run_index, const std::string& mode, Target& target,
                     Run& run) {
  const std::string tag = absl::StrCat(mode, "-b", cfg.batch, "-r", run_index, "-", getpid());
  tracker::StoreOptions options;
  options.max_batch_points = cfg.max_batch_points;
  options.background_checkpoints = cfg.background_checkpoints;
  if (cfg.connect.empty()) {
    target.db_path = (fs::path(cfg.dir) / absl::StrCat("intake-", tag, ".db")).string();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(target.db_path + suffix);
  } else {
    target.db_path = cfg.db;
  }
  absl::StatusOr<std::unique_ptr<tracker::TrialStore>> store =
      tracker::TrialStore::Open(options, target.db_path);
  if (!store.ok()) return store.status();
  target.store = *std::move(store);
  absl::StatusOr<tracker::StudyRecord> study = target.store->CreateStudy(
      {.name = absl::StrCat("intake-", tag), .algorithm = "random", .objective_metric = "loss"});
  if (!study.ok()) return study.status();
  run.trials.resize(cfg.trials);
  for (int i = 0; i < cfg.trials; ++i) {
    Trial& t = run.trials[i];
    t.name = absl::StrFormat("intake-%s-%05d", tag, i);
    t.token = engine::NewTrialToken();
    absl::StatusOr<tracker::TrialRecord> rec = target.store->CreateTrial(
        {.study_id = study->id, .name = t.name, .token_hash = engine::HashToken(t.token)});
    if (!rec.ok()) return rec.status();
    t.id = rec->id;
    absl::Status s = target.store->SetTrialState(t.id, tracker::TrialState::kRunning, "", "");
    if (!s.ok()) return s;
  }
  if (cfg.connect.empty()) {
    engine::MetricsServerOptions sopts;
    sopts.worker_threads = cfg.worker_threads;
    target.server = std::make_unique<engine::MetricsServer>(target.store.get(), sopts);
    absl::StatusOr<int> port = target.server->Start("127.0.0.1:0");
    if (!port.ok()) return port.status();
    target.address = absl::StrCat("127.0.0.1:", *port);
  } else {
    target.address = cfg.connect;
  }
  for (int c = 0; c < cfg.channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("hpt.bench.channel", c);  // distinct arguments: a connection of its own
    args.SetMaxReceiveMessageSize(-1);
    run.channels.push_back(
        grpc::CreateCustomChannel(target.address, grpc::InsecureChannelCredentials(), args));
    run.stubs.push_back(hpt::v1::MetricsService::NewStub(run.channels.back()));
  }
  for (auto& ch : run.channels) {
    if (!ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", target.address));
    }
  }
  run.acked.assign(cfg.trials, 0);
  return absl::OkStatus();
}

// Compares every trial's stored points with its acknowledged ones.
json Verify(const Config& cfg, Run& run, tracker::TrialStore& store) {
  int64_t expected = 0, stored = 0, missing = 0, extra = 0, duplicates = 0, wrong_values = 0,
          trials_ok = 0;
  const Clock::time_point t0 = Clock::now();
  for (int r = 0; r < cfg.trials; ++r) {
    const int64_t n = static_cast<int64_t>(run.acked[r]) * cfg.batch;
    expected += n;
    absl::StatusOr<std::vector<tracker::StoredPoint>> h = store.MetricHistory(run.trials[r].id, "");
    if (!h.ok()) {
      missing += n;
      continue;
    }
    stored += static_cast<int64_t>(h->size());
    std::vector<bool> seen(n, false);
    int64_t bad = 0;
    for (const tracker::StoredPoint& p : *h) {
      int name_index = -1;
      for (int k = 0; k < cfg.names; ++k) {
        if (p.name == kMetricNames[k]) name_index = k;
      }
      const int64_t g = p.step * cfg.names + name_index;
      if (name_index < 0 || p.step < 0 || g >= n) {
        ++extra;
        ++bad;
        continue;
      }
      if (seen[g]) {
        ++duplicates;
        ++bad;
        continue;
      }
      seen[g] = true;
      if (p.value != PointOf(r, g, cfg.names).value) {
        ++wrong_values;
        ++bad;
      }
    }
    const int64_t lost = std::count(seen.begin(), seen.end(), false);
    missing += lost;
    if (bad == 0 && lost == 0) ++trials_ok;
  }
  return {{"expected_points", expected},
          {"stored_points", stored},
          {"missing", missing},
          {"extra", extra},
          {"duplicates", duplicates},
          {"wrong_values", wrong_values},
          {"trials_exact", trials_ok},
          {"ok", missing == 0 && extra == 0 && duplicates == 0 && wrong_values == 0 &&
                     trials_ok == cfg.trials},
          {"seconds", Seconds(Clock::now() - t0)}};
}

absl::StatusOr<json> OneRun(const Config& cfg, const std::string& mode, int run_index) {
  Target target;
  Run run;
  run.cfg = &cfg;
  if (absl::Status s = Prepare(cfg, run_index, mode, target, run); !s.ok()) return s;

  std::vector<std::unique_ptr<UnaryReporter>> unary;
  std::vector<std::unique_ptr<StreamReporter>> streams;
  run.running = cfg.trials;
  const double cpu0 = CpuSeconds();
  const std::map<std::string, double> threads0 = ThreadCpu();
  const Clock::time_point start = Clock::now();
  run.deadline = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(cfg.seconds));
  for (int r = 0; r < cfg.trials; ++r) {
    if (mode == "unary") {
      unary.push_back(std::make_unique<UnaryReporter>(&run, r));
      unary.back()->Start();
    } else {
      streams.push_back(std::make_unique<StreamReporter>(&run, r));
      streams.back()->Start();
    }
  }
  {
    std::unique_lock<std::mutex> l(run.mu);
    run.cv.wait(l, [&] { return run.running.load() == 0; });
  }
  const double elapsed = Seconds(Clock::now() - start);
  const double cpu = CpuSeconds() - cpu0;
  json thread_us_per_point = json::object();
  for (const auto& [name, secs] : ThreadCpu()) {
    auto it = threads0.find(name);
    const double used = secs - (it == threads0.end() ? 0.0 : it->second);
    if (used > 0.005 && run.acked_points.load() > 0) {
      thread_us_per_point[name] = used * 1e6 / run.acked_points.load();
    }
  }
  const double rate = run.acked_points.load() / elapsed;
  std::fprintf(stderr, "  %s batch=%d run %d: %.0f points/s acknowledged (%lld in %.2f s), %s\n",
               mode.c_str(), cfg.batch, run_index, rate,
               static_cast<long long>(run.acked_points.load()), elapsed,
               run.failures.load() == 0 ? "no failures" : "FAILURES");

  run.stubs.clear();
  run.channels.clear();
  if (target.server) target.server->Shutdown();
  json result = {
      {"mode", mode},
      {"batch", cfg.batch},
      {"run", run_index},
      {"points_per_s", rate},
      {"acked_points", run.acked_points.load()},
      {"seconds", elapsed},
      {"process_cpu_s", cpu},
      {"cpu_us_per_point", run.acked_points.load() > 0 ? cpu * 1e6 / run.acked_points.load() : 0.0},
      {"thread_cpu_us_per_point", thread_us_per_point},
      {"ack_latency", run.latency.Summary()},
      {"retries", run.retries.load()},
      {"failed_reporters", run.failures.load()}};
  {
    std::lock_guard<std::mutex> l(run.mu);
    if (!run.error_codes.empty()) result["errors"] = run.error_codes;
  }
  if (cfg.verify) {
    json v = Verify(cfg, run, *target.store);
    std::fprintf(stderr,
                 "    verify: %s (%lld expected, %lld stored, %lld missing, %lld extra, "
                 "%lld duplicates, %lld wrong values)\n",
                 v["ok"].get<bool>() ? "exact" : "MISMATCH",
                 static_cast<long long>(v["expected_points"].get<int64_t>()),
                 static_cast<long long>(v["stored_points"].get<int64_t>()),
                 static_cast<long long>(v["missing"].get<int64_t>()),
                 static_cast<long long>(v["extra"].get<int64_t>()),
                 static_cast<long long>(v["duplicates"].get<int64_t>()),
                 static_cast<long long>(v["wrong_values"].get<int64_t>()));
    result["verify"] = v;
  }
  target.server.reset();
  target.store.reset();
  if (cfg.connect.empty() && !cfg.keep) {
    std::error_code ec;
    result["db_bytes"] = fs::file_size(target.db_path, ec);
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(target.db_path + suffix, ec);
  }
  return result;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// ---- --ceiling: raw SQLite into hpt's schema ----

struct CeilingCase {
  std::string order;  // "harness" (step-major, 100 trials x 10 metrics) or "intake"
  // "hpt" (the store's own metrics table), "v1" (schema 1's layout) or "by_trial" (keyed by
  // (trial, insertion order) alone: the alternative that was measured and not taken, as it makes
  // one metric's history read every metric of the trial).
  std::string table;
  std::string sync;
  int64_t txn_rows;  // 0 = everything in one transaction
  int64_t rows;
  double cap_s;
};

// Schema 1's metric layout (a rowid table plus an index on (trial, metric, step), with foreign
// keys), created beside the store's own tables for comparison.
constexpr char kV1Table[] = R"sql(
CREATE TABLE metrics_v1 (
  id       INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  name_id  INTEGER NOT NULL REFERENCES metric_names(id),
  step     INTEGER NOT NULL,
  value    REAL    NOT NULL,
  time_ms  INTEGER NOT NULL);
CREATE INDEX metrics_v1_by_trial ON metrics_v1(trial_id, name_id, step);
)sql";

constexpr char kByTrialTable[] = R"sql(
CREATE TABLE metrics_by_trial (
  trial_id INTEGER NOT NULL,
  name_id  INTEGER NOT NULL,
  ord      INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  value    REAL    NOT NULL,
  time_ms  INTEGER NOT NULL,
  PRIMARY KEY (trial_id, ord)) WITHOUT ROWID;
)sql";

// Runs one case on a fresh file whose schema TrialStore::Open made, with the store's connection
// settings; returns the harness's JSON fields plus the rate over the last quarter of the rows
// (the table grown: the steady state).
absl::StatusOr<json> CeilingRun(const Config& cfg, const CeilingCase& c) {
  const std::string path = (fs::path(cfg.dir) / absl::StrCat("ceiling-", getpid(), ".db")).string();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  const bool harness = c.order == "harness";
  const int trials = harness ? 100 : cfg.trials;
  const int names = harness ? 10 : cfg.names;
  {
    absl::StatusOr<std::unique_ptr<tracker::TrialStore>> store =
        tracker::TrialStore::Open({}, path);
    if (!store.ok()) return store.status();
    absl::StatusOr<tracker::StudyRecord> study = (*store)->CreateStudy({.name = "ceiling"});
    if (!study.ok()) return study.status();
    for (int t = 0; t < trials; ++t) {
      absl::StatusOr<tracker::TrialRecord> rec =
          (*store)->CreateTrial({.study_id = study->id, .name = absl::StrCat("t", t)});
      if (!rec.ok()) return rec.status();
      if (t == 0) {  // registers the metric names (ids 1..names), then forgets the points
        std::vector<tracker::MetricPoint> pts;
        for (int k = 0; k < names; ++k) pts.push_back({.name = kMetricNames[k], .value = 0});
        if (auto r = (*store)->AppendMetrics(rec->id, 0, pts); !r.ok()) return r.status();
        if (absl::Status s = (*store)->DeleteMetrics(rec->id); !s.ok()) return s;
      }
    }
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return absl::UnavailableError("open");
  auto exec = [&](const std::string& sql) -> absl::Status {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      absl::Status s = absl::InternalError(absl::StrCat(sql, ": ", err ? err : "?"));
      sqlite3_free(err);
      return s;
    }
    return absl::OkStatus();
  };
  // The store's writer connection: WAL, the synchronous level, foreign keys, a 64 MiB page cache
  // (kWriterCacheKib in tracker/sqlite_store.cc); SQLite's automatic checkpoints.
  for (const std::string& sql :
       {std::string("PRAGMA journal_mode = WAL"), "PRAGMA synchronous = " + c.sync,
        std::string("PRAGMA foreign_keys = ON"), std::string("PRAGMA cache_size = -65536")}) {
    if (absl::Status s = exec(sql); !s.ok()) return s;
  }
  const char* sql =
      "INSERT INTO metrics (trial_id, name_id, ord, step, value, time_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
  if (c.table == "v1") {
    if (absl::Status s = exec(kV1Table); !s.ok()) return s;
    sql =
        "INSERT INTO metrics_v1 (trial_id, name_id, step, value, time_ms, id) "
        "VALUES (?1, ?2, ?4, ?5, ?6, ?3)";
  } else if (c.table == "by_trial") {
    if (absl::Status s = exec(kByTrialTable); !s.ok()) return s;
    sql =
        "INSERT INTO metrics_by_trial (trial_id, name_id, ord, step, value, time_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
  }
  sqlite3_stmt* ins = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &ins, nullptr) != SQLITE_OK) {
    return absl::InternalError(sqlite3_errmsg(db));
  }
  std::vector<int64_t> steps(trials, 0);
  int64_t done = 0, in_txn = 0, ord = 0;
  bool capped = false;
  const Clock::time_point t0 = Clock::now();
  const double cpu0 = ThreadCpuSeconds();
  Clock::time_point quarter_start = t0;
  double quarter_cpu = cpu0;
  int64_t quarter_rows = 0;
  int trial = 0;
  int64_t run_left = 0;  // intake order: points of `trial` still to write in its current request
  for (int64_t i = 0; i < c.rows; ++i) {
    if (in_txn == 0) {
      if (absl::Status s = exec("BEGIN"); !s.ok()) return s;
      if (quarter_rows == 0 && i >= c.rows - c.rows / 4) {
        quarter_start = Clock::now();
        quarter_cpu = ThreadCpuSeconds();
        quarter_rows = c.rows - i;
      }
    }
    int64_t step;
    int name;
    if (harness) {
      step = i / (trials * names);
      trial = static_cast<int>((i / names) % trials);
      name = static_cast<int>(i % names);
    } else {
      if (run_left == 0) {
        trial = (trial + 1) % trials;
        run_left = cfg.batch;
      }
      const int64_t g = steps[trial]++;
      step = g / names;
      name = static_cast<int>(g % names);
      --run_left;
    }
    sqlite3_bind_int64(ins, 1, trial + 1);  // trial ids are 1..trials in the fresh file
    sqlite3_bind_int64(ins, 2, name + 1);   // metric name ids 1..names
    sqlite3_bind_int64(ins, 3, ++ord);
    sqlite3_bind_int64(ins, 4, step);
    sqlite3_bind_double(ins, 5, PointOf(trial, i, 1).value);
    sqlite3_bind_int64(ins, 6, 1'700'000'000'000 + i);
    if (sqlite3_step(ins) != SQLITE_DONE) return absl::InternalError(sqlite3_errmsg(db));
    sqlite3_reset(ins);
    ++in_txn;
    ++done;
    if ((c.txn_rows > 0 && in_txn >= c.txn_rows) || i == c.rows - 1) {
      if (absl::Status s = exec("COMMIT"); !s.ok()) return s;
      in_txn = 0;
      if (Seconds(Clock::now() - t0) > c.cap_s && i != c.rows - 1) {
        capped = true;
        break;
      }
    }
  }
  const Clock::time_point end = Clock::now();
  const double cpu_end = ThreadCpuSeconds();
  const double secs = Seconds(end - t0);
  sqlite3_finalize(ins);
  sqlite3_close(db);
  std::error_code ec;
  const auto db_bytes = fs::file_size(path, ec);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ec);
  json out = {{"order", c.order},
              {"table", c.table},
              {"sync", c.sync},
              {"batch", c.txn_rows},
              {"trials", trials},
              {"names", names},
              {"rows", c.rows},
              {"rows_done", done},
              {"seconds", secs},
              {"rows_per_s", done / secs},
              {"capped", capped},
              {"db_bytes", db_bytes},
              {"cpu_us_per_row", (cpu_end - cpu0) * 1e6 / done},
              {"sqlite", sqlite3_libversion()}};
  if (!capped && quarter_rows > 0) {
    out["last_quarter_rows_per_s"] = quarter_rows / Seconds(end - quarter_start);
    out["last_quarter_cpu_us_per_row"] = (cpu_end - quarter_cpu) * 1e6 / quarter_rows;
  }
  return out;
}

int Ceiling(const Config& cfg) {
  json out = json::array();
  std::vector<CeilingCase> cases;
  if (absl::StrContains(cfg.ceiling_cases, "harness")) {
    for (const char* sync : {"NORMAL", "FULL"}) {
      for (int64_t txn : {int64_t{0}, int64_t{1000}, int64_t{1}}) {
        cases.push_back({"harness", "hpt", sync, txn, cfg.ceiling_rows, cfg.ceiling_cap_s});
      }
    }
  }
  if (absl::StrContains(cfg.ceiling_cases, "intake")) {
    for (const char* table : {"hpt", "v1", "by_trial"}) {
      cases.push_back({"intake", table, "NORMAL", cfg.group, cfg.intake_rows, 600});
    }
  }
  for (const CeilingCase& c : cases) {
    absl::StatusOr<json> r = CeilingRun(cfg, c);
    if (!r.ok()) {
      std::fprintf(stderr, "ceiling %s/%s/%s: %s\n", c.order.c_str(), c.table.c_str(),
                   c.sync.c_str(), std::string(r.status().message()).c_str());
      return 1;
    }
    const std::string txn = c.txn_rows == 0 ? "one txn" : absl::StrCat(c.txn_rows, "/txn");
    std::fprintf(stderr, "  %s table, %s order, sync=%s, %s: %.0f rows/s (%lld rows in %.1f s%s)",
                 c.table.c_str(), c.order.c_str(), c.sync.c_str(), txn.c_str(),
                 (*r)["rows_per_s"].get<double>(),
                 static_cast<long long>((*r)["rows_done"].get<int64_t>()),
                 (*r)["seconds"].get<double>(), (*r)["capped"].get<bool>() ? ", capped" : "");
    std::fprintf(stderr, ", %.2f us CPU/row", (*r)["cpu_us_per_row"].get<double>());
    if (r->contains("last_quarter_rows_per_s")) {
      std::fprintf(stderr, "; last quarter %.0f rows/s, %.2f us CPU/row",
                   (*r)["last_quarter_rows_per_s"].get<double>(),
                   (*r)["last_quarter_cpu_us_per_row"].get<double>());
    }
    std::fprintf(stderr, "\n");
    out.push_back(*r);
  }
  std::printf("%s\n", json{{"ceiling", out}}.dump(1).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  cfg.dir =
      std::getenv("BENCH_BUILD") ? std::getenv("BENCH_BUILD") : fs::temp_directory_path().string();
  CLI::App app{"hptd metric intake: N concurrent reporting trials over gRPC, verified"};
  app.add_option("--mode", cfg.mode, "unary, stream or both")
      ->check(CLI::IsMember({"unary", "stream", "both"}));
  app.add_option("--trials", cfg.trials, "concurrent reporting trials")
      ->check(CLI::Range(1, 100000));
  app.add_option("--batch", cfg.batch, "points per request")->check(CLI::Range(1, 100000));
  app.add_option("--names", cfg.names, "metrics per trial (points cycle through them)")
      ->check(CLI::Range(1, 10));
  app.add_option("--seconds", cfg.seconds, "reporting time per run")->check(CLI::PositiveNumber);
  app.add_option("--runs", cfg.runs, "runs per mode (the median is reported)")
      ->check(CLI::Range(1, 100));
  app.add_option("--channels", cfg.channels, "client connections")->check(CLI::Range(1, 1000));
  app.add_option("--stream-messages", cfg.stream_messages, "requests per ReportStream")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--dir", cfg.dir, "where tracker files go (default $BENCH_BUILD or /tmp)");
  app.add_option("--connect", cfg.connect, "an hptd already listening here (needs --db)");
  app.add_option("--db", cfg.db, "with --connect: the tracker file that hptd serves");
  app.add_option("--max-batch-points", cfg.max_batch_points, "StoreOptions.max_batch_points");
  app.add_option("--worker-threads", cfg.worker_threads, "MetricsServerOptions.worker_threads");
  app.add_flag("!--sqlite-checkpoints", cfg.background_checkpoints,
               "StoreOptions.background_checkpoints = false: SQLite's automatic checkpoints");
  app.add_flag("--keep", cfg.keep, "keep the tracker files");
  app.add_flag("!--no-verify", cfg.verify, "skip the stored == acknowledged check");
  app.add_flag("--ceiling", cfg.ceiling, "raw SQLite inserts into hpt's schema instead");
  app.add_option("--ceiling-rows", cfg.ceiling_rows, "rows per harness-order ceiling case");
  app.add_option("--intake-rows", cfg.intake_rows,
                 "rows per intake-order ceiling case (enough to reach the steady state)");
  app.add_option("--ceiling-cases", cfg.ceiling_cases,
                 "harness (its matrix and row order), intake (the intake's order), or both");
  app.add_option("--group", cfg.group, "ceiling, intake order: rows per transaction");
  app.add_option("--ceiling-cap", cfg.ceiling_cap_s,
                 "seconds per harness-order ceiling case at most");
  CLI11_PARSE(app, argc, argv);
  if (!cfg.connect.empty() && cfg.db.empty()) {
    std::fprintf(stderr, "--connect needs --db (the tracker file hptd serves)\n");
    return 2;
  }
  std::error_code ec;
  fs::create_directories(cfg.dir, ec);
  if (cfg.ceiling) return Ceiling(cfg);

  json out = {{"trials", cfg.trials},
              {"batch", cfg.batch},
              {"names", cfg.names},
              {"seconds", cfg.seconds},
              {"channels", cfg.channels},
              {"cores", std::thread::hardware_concurrency()},
              {"max_batch_points", cfg.max_batch_points},
              {"background_checkpoints", cfg.background_checkpoints}};
  bool all_exact = true;
  std::vector<std::string> modes = cfg.mode == "both" ? std::vector<std::string>{"unary", "stream"}
                                                      : std::vector<std::string>{cfg.mode};
  for (const std::string& mode : modes) {
    std::vector<double> rates;
    json runs = json::array();
    for (int i = 0; i < cfg.runs; ++i) {
      absl::StatusOr<json> r = OneRun(cfg, mode, i);
      if (!r.ok()) {
        std::fprintf(stderr, "%s run %d: %s\n", mode.c_str(), i,
                     std::string(r.status().message()).c_str());
        return 1;
      }
      rates.push_back((*r)["points_per_s"].get<double>());
      if (r->contains("verify") && !(*r)["verify"]["ok"].get<bool>()) all_exact = false;
      if ((*r)["failed_reporters"].get<int64_t>() != 0) all_exact = false;
      runs.push_back(*r);
    }
    out[mode] = {{"median_points_per_s", Median(rates)}, {"runs", runs}};
  }
  out["all_exact"] = all_exact;
  std::printf("%s\n", out.dump(1).c_str());
  return all_exact ? 0 : 3;
}
