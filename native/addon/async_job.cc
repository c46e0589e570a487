#include "async_job.h"

#include <mutex>

namespace anyprec {
namespace addon {
namespace {

void finishAsync(AsyncJob* raw) {
  Napi::ThreadSafeFunction tsfn = raw->tsfn;
  tsfn.BlockingCall([raw](Napi::Env env, Napi::Function) {
    std::unique_ptr<AsyncJob> job(raw);
    if (job->error.empty()) {
      if (job->beforeResolve) job->beforeResolve(job->result.Value());
      job->deferred.Resolve(job->result.Value());
    } else {
      job->deferred.Reject(Napi::Error::New(env, std::string(job->name) + " failed: " + job->error).Value());
    }
    job->tsfn.Release();
    std::lock_guard<std::mutex> lock(job->inst->mutex);
    --job->inst->pending;
    job->inst->cv.notify_all();
  });
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

}  // namespace

Napi::Value startAsync(Napi::Env env, const char* name, const std::function<void(AsyncJob&)>& setup) {
  auto job = std::make_unique<AsyncJob>(env, name);
  try {
    setup(*job);
    job->inst = &instance(env);
    job->width = job->inst->threads;
    job->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), std::string("anyprec.") + name, 0, 1);
  } catch (...) {
    job->deferred.Reject(errorFor(env, std::current_exception()).Value());
    return job->deferred.Promise();
  }
  Napi::Promise promise = job->deferred.Promise();
  AsyncJob* raw = job.release();
  {
    std::lock_guard<std::mutex> lock(raw->inst->mutex);
    ++raw->inst->pending;
  }
  runPhase(raw, 0);
  return promise;
}

}  // namespace addon
}  // namespace anyprec
