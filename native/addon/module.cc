// Module registration: the per-environment Instance and every family's exports.
#include "addon.h"
#include "common/wait.h"

namespace anyprec {
namespace addon {

void Instance::jobStarted() {
  std::lock_guard<std::mutex> lock(mutex);
  ++running;
}

void Instance::jobFinished() {
  std::lock_guard<std::mutex> lock(mutex);
  --running;
  cv.notify_all();
}

void Instance::waitForJobs() {
  std::unique_lock<std::mutex> lock(mutex);
  waitUntil(cv, lock, [&] { return running == 0; });
}

Instance::~Instance() { waitForJobs(); }

Instance& instance(Napi::Env env) { return *env.GetInstanceData<Instance>(); }

void exportFunction(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, [fn](const Napi::CallbackInfo& info) { return guarded(info, fn); }, name));
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* inst = new Instance();
  env.SetInstanceData(inst);
  // Hooks run in reverse order of registration: this one after those of the jobs' thread-safe
  // functions (made later), which only mark them closing, and before the environment (and with
  // it the Instance and the heap the jobs write into) goes away.
  napi_status st = napi_add_env_cleanup_hook(env, [](void* arg) { static_cast<Instance*>(arg)->waitForJobs(); }, inst);
  if (st != napi_ok) throw Napi::Error::New(env, "anyprec: cannot register the environment cleanup hook");
  registerPlatform(env, exports);
  registerPack(env, exports);
  registerConv(env, exports);
  registerEltwise(env, exports);
  registerGemm(env, exports);
  registerGated(env, exports);
  registerFloatGemm(env, exports);
  registerFloatConv(env, exports);
  registerTrain(env, exports);
  registerRunner(env, exports);
  return exports;
}

}  // namespace
}  // namespace addon
}  // namespace anyprec

static Napi::Object InitAnyprec(Napi::Env env, Napi::Object exports) { return anyprec::addon::Init(env, exports); }

NODE_API_MODULE(anyprec, InitAnyprec)
