// The binding's async job: phases of independent tasks on the kernel pool (each phase only once
// the previous one has finished), then the promise resolves with `result` on the JS thread.
//
// Completions. Each environment has one completion channel, a thread-safe function made at its
// first job and kept: the pool thread that finishes a job queues it there, and the JS thread
// settles every queued job in one wake-up. A channel per call (made, called once, released) cost
// a handle opened and closed and a second wake-up of the event loop for every call. The channel
// holds the event loop open only while a job is in flight (referenced at the first job started,
// unreferenced when the last one settles), so an idle process exits.
//
// Lifetimes. The caller may detach, transfer or resize an input's ArrayBuffer while the job runs
// (postMessage with a transfer list, ArrayBuffer.prototype.transfer, structuredClone): that frees
// or moves its memory, and no Node-API reference prevents it. So the job reads private copies of
// every input over a plain ArrayBuffer (made during setup, see InputCopies in addon.h); arrays over
// a SharedArrayBuffer cannot be detached and are only referenced. Outputs are made by the job and
// reach JS only when it resolves. `owned` keeps the plan the phases run alive. When the
// environment is torn down mid-job (worker.terminate(), process exit), its cleanup hook waits
// for the pool work (bounded: no JS is needed for it), and the job's JS handles are left alone.
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

struct AsyncJob;
struct Completions;
void finishOnJsThread(Napi::Env env, Napi::Function, Completions* channel, AsyncJob* job);
using JobTsfn = Napi::TypedThreadSafeFunction<Completions, AsyncJob, finishOnJsThread>;

// An environment's completion channel (above). `live` is touched on the JS thread only.
struct Completions {
  JobTsfn tsfn;
  size_t live = 0;  // jobs started and not yet settled
};

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
  InputCopies copies;
  Completions* channel = nullptr;
  std::string error;
  Instance* inst = nullptr;
  int width = 1;
  // Optional: runs on the JS thread after the last phase, before the promise resolves with
  // `result` (to fill in what only the finished run knows).
  std::function<void(Napi::Value result)> beforeResolve;
  AsyncJob(Napi::Env env, const char* jobName) : deferred(Napi::Promise::Deferred::New(env)), name(jobName) {}
  // Keeps an argument's JS object alive until the job settles (its memory: see above).
  void pin(const Napi::Value& v) { pinned.push_back(Napi::Persistent(v)); }
};

// Builds a job with `setup` (which validates the arguments and may throw: the promise then
// rejects with the matching JS error) and starts it on the pool. Every typed-array input setup
// reads through typedMemory() is copied (above).
Napi::Value startAsync(Napi::Env env, const char* name, const std::function<void(AsyncJob&)>& setup);

}  // namespace addon
}  // namespace anyprec
