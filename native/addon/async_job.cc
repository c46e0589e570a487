#include "async_job.h"

namespace anyprec {
namespace addon {

// Called on the JS thread once the pool work is done, or with a null env when the environment is
// being torn down before it could run (the thread-safe function empties its queue that way).
void finishOnJsThread(Napi::Env env, Napi::Function, Completions* channel, AsyncJob* raw) {
  std::unique_ptr<AsyncJob> job(raw);
  if (env == nullptr) {
    // No JS can run: free the native parts and leave the JS handles (references, deferred) to the
    // dying environment; deleting them now would call into it.
    job->owned.reset();
    job->copies = InputCopies();
    job->phases.clear();
    job->beforeResolve = nullptr;
    job.release();
    return;
  }
  if (--channel->live == 0) channel->tsfn.Unref(env);  // idle: the channel no longer keeps the loop alive
  job->copies.recycle();  // the pool is done with them
  if (job->error.empty()) {
    if (job->beforeResolve) job->beforeResolve(job->result.Value());
    job->deferred.Resolve(job->result.Value());
  } else {
    job->deferred.Reject(Napi::Error::New(env, std::string(job->name) + " failed: " + job->error).Value());
  }
}

namespace {

// On the pool thread that finished the last phase (or failed).
void finishAsync(AsyncJob* raw) {
  Instance* inst = raw->inst;
  // After this call the job belongs to the JS thread (or to the teardown). napi_closing: the
  // environment is going away and will not call back; its JS handles go with it.
  if (raw->channel->tsfn.NonBlockingCall(raw) != napi_ok) {
    // Not queued: nothing else holds the job. Its native parts can go; its JS handles stay.
    raw->owned.reset();
    raw->copies = InputCopies();
  }
  inst->jobFinished();  // last: the environment's teardown may proceed once this returns
}

void runPhase(AsyncJob* raw, size_t phase) {
  if (phase == raw->phases.size()) return finishAsync(raw);
  const AsyncJob::Phase& p = raw->phases[phase];
  parallelRunAsync(p.tasks, raw->width, p.run, [raw, phase](std::exception_ptr err) {
    if (err) {
      try {
        std::rethrow_exception(err);
      } catch (const std::exception& e) {
        raw->error = e.what();
      } catch (...) {
        raw->error = "unknown native error";
      }
      return finishAsync(raw);
    }
    runPhase(raw, phase + 1);
  });
}

// The environment's completion channel, made at its first job (unreferenced until a job starts).
Completions& completionsOf(Napi::Env env, Instance& inst) {
  if (!inst.completions) {
    auto channel = std::make_shared<Completions>();
    channel->tsfn = JobTsfn::New(env, "anyprec.asyncJob", 0, 1, channel.get());
    channel->tsfn.Unref(env);
    inst.completions = channel;
  }
  return *static_cast<Completions*>(inst.completions.get());
}

}  // namespace

Napi::Value startAsync(Napi::Env env, const char* name, const std::function<void(AsyncJob&)>& setup) {
  auto job = std::make_unique<AsyncJob>(env, name);
  try {
    job->inst = &instance(env);
    job->copies.spare = &job->inst->spare;
    {
      CopyScope scope(&job->copies);
      setup(*job);
    }
    job->width = job->inst->threads;
    job->channel = &completionsOf(env, *job->inst);
  } catch (...) {
    job->deferred.Reject(errorFor(env, std::current_exception()).Value());
    return job->deferred.Promise();
  }
  Napi::Promise promise = job->deferred.Promise();
  AsyncJob* raw = job.release();
  if (raw->channel->live++ == 0) raw->channel->tsfn.Ref(env);  // in flight: keep the loop alive
  raw->inst->jobStarted();
  runPhase(raw, 0);
  return promise;
}

}  // namespace addon
}  // namespace anyprec
