// AskTellSession: one study driven by ask/tell requests in JSON lines, the protocol of
// `hpt suggest` (docs/suggest-protocol.md). It lets any program (a benchmark harness, a training
// script in another language) use hpt's samplers the way Optuna's `study.ask()` / `study.tell()`
// are used, without linking hpt.
//
//   AskTellSession session({.name = "random"});
//   session.Handle(R"({"op":"init","space":[{"name":"x","type":"float","low":0,"high":1}]})");
//   // -> {"ok":true}
//   session.Handle(R"({"op":"ask"})");
//   // -> {"params":{"x":0.42}}
//   session.Handle(R"({"op":"tell","params":{"x":0.42},"value":1.5})");
//   // -> {"ok":true}
//   session.Handle(R"({"op":"close"})");
//   // -> {"ok":true}, and closed() is true
//
// Requests (one JSON object per line):
//   init   {"op":"init","space":[...],"seed":0,"budget":100}  builds the search space and the
//          sampler (MakeSampler with the session's algorithm and `seed`, default 0); `budget` is
//          informational. Space items: {"name","type":"float","low","high"[,"log"][,"step"]},
//          {"name","type":"int","low","high"[,"log"][,"step"]} (bounds inclusive),
//          {"name","type":"categorical","choices":[strings, numbers, booleans or null]},
//          {"name","type":"discrete","values":[numbers]}.
//   ask    {"op":"ask"} -> {"params":{...}};  {"op":"ask","n":4} -> {"params_list":[...]} (n in
//          1..kMaxAskBatch; fewer entries, possibly none, once the sampler has nothing more to
//          propose, where a plain ask answers an error). Every asked assignment is a pending trial.
//   tell   {"op":"tell","params":{...},"value":1.25}  finishes the earliest pending asked
//          trial with these params (value is minimized); params never asked are recorded as a
//          finished external trial. "value": null or "state":"failed" records a failed trial.
//   close  {"op":"close"} -> {"ok":true}; closed() turns true.
// Replies carry typed values: float and discrete -> JSON numbers, int -> JSON integers,
// categorical -> the choice exactly as init gave it. Anything wrong -> {"error":"..."} saying what,
// where and what is allowed; the session keeps serving and its state is unchanged.
//
// Not thread-safe: one caller at a time (the `hpt suggest` loop).
#ifndef HPT_CLI_ASK_TELL_H_
#define HPT_CLI_ASK_TELL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json_fwd.hpp"
#include "suggest/search_space.h"

namespace hpt::cli {

// The most assignments one ask may request.
inline constexpr int kMaxAskBatch = 10000;

class AskTellSession {
 public:
  // `algorithm` is handed to MakeSampler at init; an unknown name or bad setting is reported then,
  // since the registry validates settings against the search space.
  explicit AskTellSession(suggest::AlgorithmSpec algorithm);
  ~AskTellSession();
  AskTellSession(const AskTellSession&) = delete;
  AskTellSession& operator=(const AskTellSession&) = delete;

  // Handles one request line (a trailing '\r' is ignored) and returns its reply: one line of JSON
  // without the newline. A blank line (only whitespace) is no request: returns "" and changes
  // nothing. Never throws; malformed requests and sampler failures are {"error":"..."} replies.
  std::string Handle(std::string_view line);

  // True once a close request was answered; the caller should stop reading.
  bool closed() const { return closed_; }
  // True once an init request succeeded.
  bool initialized() const { return study_ != nullptr; }
  // The search space init built (empty before init).
  const suggest::SearchSpace& space() const;
  // The trials so far in creation order (asked ones as pending until told, external tells as
  // finished); empty before init. Values are the strings the sampler produced, or for external
  // trials the told values formatted the same way (FormatDouble / FormatInt / the choice's text).
  const suggest::History& history() const;
  // The `budget` init declared, if any.
  std::optional<uint64_t> budget() const;

 private:
  struct Study;

  std::string Init(const nlohmann::ordered_json& request);
  std::string Ask(const nlohmann::ordered_json& request);
  std::string Tell(const nlohmann::ordered_json& request);

  const suggest::AlgorithmSpec algorithm_;
  std::unique_ptr<Study> study_;
  bool closed_ = false;
};

}  // namespace hpt::cli

#endif  // HPT_CLI_ASK_TELL_H_
