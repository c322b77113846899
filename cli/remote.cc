// hpt submit / status / watch / stop / resume / update / delete: the CLI side of hptd's
// StudyService.
#include "cli/remote.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "engine/tls.h"
#include "hpt/v1/study.grpc.pb.h"
#include "suggest/search_space.h"

namespace hpt::cli {
namespace {

namespace fs = std::filesystem;

const char* StateName(hpt::v1::StudyState s) {
  switch (s) {
    case hpt::v1::CREATED:
      return "CREATED";
    case hpt::v1::RUNNING:
      return "RUNNING";
    case hpt::v1::SUCCEEDED:
      return "SUCCEEDED";
    case hpt::v1::FAILED:
      return "FAILED";
    default:
      return "UNKNOWN";
  }
}

// The value of flag `flag`, else of environment variable `env` ("" when neither is set).
std::string FlagOrEnv(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  const char* v = std::getenv(env);
  return v != nullptr ? v : "";
}

// TLS as the flags and HPT_TLS* say; never for a Unix socket (its permissions decide).
engine::ClientTls ClientTlsOf(const RemoteOptions& r, const std::string& server) {
  engine::ClientTls tls;
  tls.ca_file = FlagOrEnv(r.tls_ca, "HPT_TLS_CA");
  tls.cert_file = FlagOrEnv(r.tls_cert, "HPT_TLS_CERT");
  tls.key_file = FlagOrEnv(r.tls_key, "HPT_TLS_KEY");
  tls.server_name = r.tls_server_name;
  tls.enabled = !absl::StartsWith(server, "unix:") &&
                (r.tls || FlagOrEnv("", "HPT_TLS") == "1" || !tls.ca_file.empty() ||
                 !tls.cert_file.empty() || !r.tls_server_name.empty());
  return tls;
}

}  // namespace

std::unique_ptr<Remote> Remote::Connect(const GlobalOptions& g, const RemoteOptions& r) {
  auto remote = std::unique_ptr<Remote>(new Remote);
  std::string server = r.server;
  if (server.empty()) {
    const char* env = std::getenv("HPT_SERVER");
    server =
        env && *env ? env : "unix:" + (fs::absolute(g.db).parent_path() / "hptd.sock").string();
  }
  remote->server_ = server;
  std::string token_file = r.token_file;
  if (token_file.empty()) {
    const char* env = std::getenv("HPT_ADMIN_TOKEN_FILE");
    if (env) token_file = env;
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      std::cerr << "hpt: cannot read the admin token file " << token_file << "\n";
      return nullptr;
    }
    remote->token_ = std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  const engine::ClientTls tls = ClientTlsOf(r, server);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      engine::MakeChannelCredentials(tls);
  if (!credentials.ok()) {
    std::cerr << "hpt: " << credentials.status().message() << "\n";
    return nullptr;
  }
  remote->stub_ = hpt::v1::StudyService::NewStub(
      grpc::CreateCustomChannel(server, *credentials, engine::ChannelArgumentsFor(tls)));
  return remote;
}

std::unique_ptr<grpc::ClientContext> Remote::Context(int seconds) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (seconds > 0) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  }
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  return ctx;
}

int Remote::Failed(const grpc::Status& s) const {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::cerr << "hpt: cannot reach hptd at " << server_ << ": " << s.error_message()
              << " (start it with `hptd --db ...`, or point --server / $HPT_SERVER at it)\n";
  } else {
    std::cerr << "hpt: " << s.error_message() << "\n";
  }
  return 1;
}

namespace {

std::string Best(const hpt::v1::Study& s) {
  const hpt::v1::StudyProgress& p = s.progress();
  if (!p.has_best()) return "best -";
  return absl::StrCat("best ", s.objective_metric(), "=", suggest::FormatDouble(p.best()), " (",
                      p.best_trial(), ")");
}

int Finished(const hpt::v1::StudyProgress& p) {
  return p.succeeded() + p.failed() + p.killed() + p.metrics_unavailable() + p.early_stopped();
}

void PrintStudy(const hpt::v1::Study& s, std::ostream& out) {
  const hpt::v1::StudyProgress& p = s.progress();
  out << "study " << s.name() << ": " << StateName(s.state()) << " (" << s.reason() << ") "
      << s.message() << "\n";
  out << "  algorithm " << s.algorithm() << ", objective "
      << (s.maximize() ? "maximize " : "minimize ") << s.objective_metric();
  if (!s.project().empty()) out << ", project " << s.project();
  if (!s.experiment().empty()) out << ", experiment " << s.experiment();
  out << "\n  trials: " << Finished(p) << "/"
      << (p.has_max_trial_count() ? std::to_string(p.max_trial_count()) : "unlimited")
      << " finished (" << p.succeeded() << " succeeded, " << p.failed() + p.metrics_unavailable()
      << " failed, " << p.killed() << " stopped), " << p.running() << " running, " << p.pending()
      << " pending; parallel " << p.parallel_trial_count();
  if (p.has_max_failed_trial_count()) out << ", maxFailedTrialCount " << p.max_failed_trial_count();
  out << "\n  " << Best(s) << (s.live() ? "" : "  (not running in hptd)") << "\n";
}

// One line of the live view: a bar of finished/max, counts, the best so far, rate and ETA.
std::string ViewLine(const hpt::v1::Study& s, double rate_per_min) {
  const hpt::v1::StudyProgress& p = s.progress();
  const int done = Finished(p);
  std::string bar, eta;
  if (p.has_max_trial_count() && p.max_trial_count() > 0) {
    const int width = 24;
    const int fill = std::min(width, done * width / p.max_trial_count());
    bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
    if (rate_per_min > 0 && done < p.max_trial_count()) {
      const double minutes = (p.max_trial_count() - done) / rate_per_min;
      eta = minutes < 1 ? absl::StrFormat(", ETA %.0fs", minutes * 60)
                        : absl::StrFormat(", ETA %.1f min", minutes);
    }
  }
  return absl::StrCat(
      bar, done, "/", p.has_max_trial_count() ? std::to_string(p.max_trial_count()) : "?",
      " done, ", p.running(), " running, ", p.pending(), " pending, ",
      p.failed() + p.metrics_unavailable(), " failed  ", Best(s),
      rate_per_min > 0 ? absl::StrFormat("  %.1f trials/min", rate_per_min) : "", eta);
}

}  // namespace

int Submit(const GlobalOptions& g, const RemoteOptions& r, const SubmitOptions& o) {
  std::ifstream in(o.study, std::ios::binary);
  if (!in) {
    std::cerr << "hpt: cannot read " << o.study << "\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::SubmitRequest req;
  req.set_spec_yaml(text.str());
  // Absolute, so that an hptd on this machine finds what the study names beside it.
  req.set_file_name(fs::absolute(o.study).string());
  req.set_name(o.name);
  req.set_allow_rename(o.allow_rename);
  hpt::v1::Study study;
  grpc::Status s = remote->stub()->Submit(remote->Context().get(), req, &study);
  if (!s.ok()) return remote->Failed(s);
  std::cout << "hpt: submitted study " << study.name() << "\n";
  if (o.watch) return Watch(g, r, study.name());
  return 0;
}

int Status(const GlobalOptions& g, const RemoteOptions& r, const std::string& name) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  if (!name.empty()) {
    hpt::v1::StudyRef ref;
    ref.set_name(name);
    hpt::v1::Study study;
    grpc::Status s = remote->stub()->Get(remote->Context().get(), ref, &study);
    if (!s.ok()) return remote->Failed(s);
    PrintStudy(study, std::cout);
    return 0;
  }
  hpt::v1::ListStudiesResponse all;
  grpc::Status s = remote->stub()->List(remote->Context().get(), {}, &all);
  if (!s.ok()) return remote->Failed(s);
  if (all.studies().empty()) std::cout << "no studies\n";
  for (const hpt::v1::Study& study : all.studies()) {
    std::cout << absl::StrFormat("%-28s %-10s %s\n", study.name(), StateName(study.state()),
                                 ViewLine(study, 0));
  }
  return 0;
}

int Watch(const GlobalOptions& g, const RemoteOptions& r, const std::string& name) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::StudyRef ref;
  ref.set_name(name);
  std::unique_ptr<grpc::ClientContext> ctx = remote->Context(0);
  std::unique_ptr<grpc::ClientReader<hpt::v1::StudyEvent>> reader =
      remote->stub()->Watch(ctx.get(), ref);
  const bool tty = isatty(1);
  hpt::v1::StudyEvent event;
  hpt::v1::Study last;
  std::string last_event;
  const auto start = std::chrono::steady_clock::now();
  int first_done = -1;
  bool drawn = false;
  while (reader->Read(&event)) {
    last = event.study();
    const int done = Finished(last.progress());
    if (first_done < 0) first_done = done;
    const double minutes =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
    const double rate = minutes > 0.05 && done > first_done ? (done - first_done) / minutes : 0;
    const std::string line = ViewLine(last, rate);
    if (event.event() != last_event && !event.event().empty()) {
      if (tty) {
        std::cout << "\r\033[K" << event.event() << "\n";
      } else {
        std::cout << "[" << line << "] " << event.event() << "\n";
      }
      last_event = event.event();
    }
    if (tty) {
      std::cout << "\r\033[K" << line << std::flush;
      drawn = true;
    }
  }
  if (drawn) std::cout << "\n";
  grpc::Status s = reader->Finish();
  if (!s.ok()) return remote->Failed(s);
  PrintStudy(last, std::cout);
  return last.state() == hpt::v1::SUCCEEDED ? 0 : 1;
}

int StopStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::StopRequest req;
  req.set_name(o.study);
  req.set_let_running_finish(o.let_running_finish);
  hpt::v1::Study study;
  grpc::Status s = remote->stub()->Stop(remote->Context().get(), req, &study);
  if (!s.ok()) return remote->Failed(s);
  std::cout << "hpt: stopping study " << study.name()
            << (o.let_running_finish ? " (running trials finish first)" : "") << "\n";
  return 0;
}

int ResumeStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o) {
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::ResumeRequest req;
  req.set_name(o.study);
  if (o.max_trial_count) req.set_max_trial_count(*o.max_trial_count);
  hpt::v1::Study study;
  grpc::Status s = remote->stub()->Resume(remote->Context().get(), req, &study);
  if (!s.ok()) return remote->Failed(s);
  std::cout << "hpt: resumed study " << study.name() << "\n";
  PrintStudy(study, std::cout);
  return 0;
}

int UpdateStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o) {
  if (!o.parallel_trial_count && !o.max_trial_count && !o.max_failed_trial_count) {
    std::cerr << "hpt: update needs --parallel, --max-trial-count or --max-failed-trial-count\n";
    return 2;
  }
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::UpdateRequest req;
  req.set_name(o.study);
  if (o.parallel_trial_count) req.set_parallel_trial_count(*o.parallel_trial_count);
  if (o.max_trial_count) req.set_max_trial_count(*o.max_trial_count);
  if (o.max_failed_trial_count) req.set_max_failed_trial_count(*o.max_failed_trial_count);
  hpt::v1::Study study;
  grpc::Status s = remote->stub()->Update(remote->Context().get(), req, &study);
  if (!s.ok()) return remote->Failed(s);
  PrintStudy(study, std::cout);
  return 0;
}

int DeleteStudy(const GlobalOptions& g, const RemoteOptions& r, const ControlOptions& o) {
  if (!o.yes) {
    if (!::isatty(STDIN_FILENO)) {
      std::cerr << "hpt: delete removes study " << o.study
                << " with its trials, metrics and logs; without a terminal to ask on, pass --yes\n";
      return 2;
    }
    std::cerr << "hpt: delete study " << o.study
              << " with all its trials, metrics and logs? This cannot be undone. [y/N] "
              << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
    if (answer != "y" && answer != "yes") {
      std::cerr << "hpt: nothing deleted\n";
      return 1;
    }
  }
  std::unique_ptr<Remote> remote = Remote::Connect(g, r);
  if (!remote) return 1;
  hpt::v1::DeleteRequest req;
  req.set_name(o.study);
  req.set_force(o.force);
  hpt::v1::DeleteResponse resp;
  grpc::Status s = remote->stub()->Delete(remote->Context().get(), req, &resp);
  if (!s.ok()) return remote->Failed(s);
  std::cout << "hpt: deleted study " << resp.name() << " and its " << resp.trials() << " trial"
            << (resp.trials() == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace hpt::cli
