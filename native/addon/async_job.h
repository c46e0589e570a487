// The binding's async job: phases of independent tasks on the kernel pool (each phase only once
// the previous one has finished), then the promise resolves with `result` on the JS thread
// through a thread-safe function. Inputs stay pinned by references until then; `owned` keeps
// the plan the phases run alive.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "common/threadpool.h"

namespace anyprec {
namespace addon {

struct AsyncJob {
  struct Phase {
    size_t tasks;
    TaskFn run;
  };
  Napi::Promise::Deferred deferred;
  const char* name;
  std::vector<Napi::Reference<Napi::Value>> pinned;
  Napi::Reference<Napi::Value> result;
  std::vector<Phase> phases;
  std::shared_ptr<void> owned;
  Napi::ThreadSafeFunction tsfn;
  std::string error;
  Instance* inst = nullptr;
  int width = 1;
  // Optional: runs on the JS thread after the last phase, before the promise resolves with
  // `result` (to fill in what only the finished run knows).
  std::function<void(Napi::Value result)> beforeResolve;
  AsyncJob(Napi::Env env, const char* jobName) : deferred(Napi::Promise::Deferred::New(env)), name(jobName) {}
  void pin(const Napi::Value& v) { pinned.push_back(Napi::Persistent(v)); }
};

// Builds a job with `setup` (which validates the arguments and may throw: the promise then
// rejects with the matching JS error) and starts it on the pool.
Napi::Value startAsync(Napi::Env env, const char* name, const std::function<void(AsyncJob&)>& setup);

}  // namespace addon
}  // namespace anyprec
