// Executor: a fixed pool of worker threads running queued closures in FIFO order. The gRPC
// callback reactors hand blocking work (SQLite commits) to it and Finish from the worker, so no
// reaction ever blocks a gRPC thread.
//
//   Executor pool(4);
//   pool.Submit([reactor] { ...; reactor->Finish(grpc::Status::OK); });
//
// Thread-safe. The destructor runs every closure already submitted, then joins the workers.
#ifndef HPT_ENGINE_EXECUTOR_H_
#define HPT_ENGINE_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace hpt::engine {

class Executor {
 public:
  explicit Executor(int threads);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  // Queues `fn` (move-only closures are fine).
  void Submit(absl::AnyInvocable<void() &&> fn);

 private:
  void Work();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void() &&>> queue_;  // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace hpt::engine

#endif  // HPT_ENGINE_EXECUTOR_H_
