// Module registration: the per-environment Instance and every family's exports.
#include "addon.h"

namespace anyprec {
namespace addon {

Instance::~Instance() {
  std::unique_lock<std::mutex> lock(mutex);
  cv.wait(lock, [&] { return pending == 0; });
}

Instance& instance(Napi::Env env) { return *env.GetInstanceData<Instance>(); }

void exportFunction(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, [fn](const Napi::CallbackInfo& info) { return guarded(info, fn); }, name));
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new Instance());
  registerPlatform(env, exports);
  registerPack(env, exports);
  registerConv(env, exports);
  registerEltwise(env, exports);
  registerGemm(env, exports);
  registerGated(env, exports);
  registerFloatGemm(env, exports);
  registerTrain(env, exports);
  return exports;
}

}  // namespace
}  // namespace addon
}  // namespace anyprec

static Napi::Object InitAnyprec(Napi::Env env, Napi::Object exports) { return anyprec::addon::Init(env, exports); }

NODE_API_MODULE(anyprec, InitAnyprec)
