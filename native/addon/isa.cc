// Bindings of the platform: which ISA (Platform) this environment uses, threads, the int8
// variants this CPU runs, and the popcount ceiling of the current ISA.
#include "addon.h"
#include "bitgemm/bitgemm.h"
#include "common/threadpool.h"
#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace addon {
namespace {

constexpr int kMaxThreads = 1024;

Napi::Value Isa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), instance(info.Env()).isa->name); }

Napi::Value AvailableIsas(const Napi::CallbackInfo& info) {
  auto arr = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (const Platform* p : availablePlatforms()) arr.Set(i++, Napi::String::New(info.Env(), p->name));
  return arr;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwType(env, "isa must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  const std::string bad = isaChoiceError(name);
  if (!bad.empty()) throwRange(env, bad);
  instance(env).isa = findPlatform(name);
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwType(env, "threads must be a number");
  instance(env).threads = static_cast<int>(intArg(info[0], "threads", 1, kMaxThreads));
  return env.Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), instance(info.Env()).threads); }

Napi::Value HardwareThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), hardwareThreads()); }

Napi::Value AvailableInt8Kernels(const Napi::CallbackInfo& info) {
  auto arr = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (const I8Kernel* k : availableI8Kernels()) arr.Set(i++, Napi::String::New(info.Env(), k->name));
  return arr;
}

// popcountCeiling(iterations) -> { checksum, bitMacs } on the current ISA, one thread.
Napi::Value PopcountCeiling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwType(env, "iterations must be a number");
  const uint64_t iters = static_cast<uint64_t>(intArg(info[0], "iterations", 1, int64_t{1} << 40));
  const CeilingRun r = popcountCeiling(*instance(env).isa, iters);
  auto out = Napi::Object::New(env);
  out.Set("checksum", Napi::Number::New(env, static_cast<double>(r.checksum)));
  out.Set("bitMacs", Napi::Number::New(env, r.bitMacs));
  return out;
}

}  // namespace

void registerPlatform(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "isa", Isa);
  exportFunction(env, exports, "availableIsas", AvailableIsas);
  exportFunction(env, exports, "setIsa", SetIsa);
  exportFunction(env, exports, "setThreads", SetThreads);
  exportFunction(env, exports, "threads", Threads);
  exportFunction(env, exports, "hardwareThreads", HardwareThreads);
  exportFunction(env, exports, "availableInt8Kernels", AvailableInt8Kernels);
  exportFunction(env, exports, "popcountCeiling", PopcountCeiling);
  const std::string ignored = ignoredIsaFromEnvironment();
  exports.Set("isaFromEnvironment", ignored.empty() ? env.Null() : Napi::Value(Napi::String::New(env, ignored)));
}

}  // namespace addon
}  // namespace anyprec
