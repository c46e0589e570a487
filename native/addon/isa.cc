// Bindings of the platform: which ISA (Platform) this environment uses, threads, the int8
// variants this CPU runs, and the popcount ceiling of the current ISA.
#include "addon.h"
#include "bitgemm/bitgemm.h"
#include "common/threadpool.h"
#include "i8gemm/i8gemm.h"
#include "selftest/selftest.h"

#include <map>
#include <mutex>

namespace anyprec {
namespace addon {
namespace {

constexpr int kMaxThreads = 1024;

// The load-time self-test of a platform (selftest/selftest.h), run once per process and platform.
const SelfTestReport& selfTest(const Platform& p) {
  static std::mutex mutex;
  static std::map<const Platform*, SelfTestReport> done;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = done.find(&p);
  if (it != done.end()) return it->second;
  return done.emplace(&p, runKernelSelfTest(p)).first->second;
}

// Throws when the platform's kernels failed their self-test: wrong answers must never be returned.
void requireSelfTest(Napi::Env env, const Platform& p) {
  const SelfTestReport& r = selfTest(p);
  if (r.error.empty()) return;
  throw Napi::Error::New(env, std::string("anyprec: the ") + p.name + " kernels computed a wrong result on this CPU in the " +
                                  "load-time self-test (" + r.error + "). Set ANYPREC_ISA=scalar to run the reference " +
                                  "kernels instead, and please report it with the output of `npx anyprec doctor`.");
}

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
  const Platform* p = findPlatform(name);
  requireSelfTest(env, *p);
  instance(env).isa = p;
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

// selfTest() -> { isa, ok, error, micros, families: { name: micros } }: the current ISA's
// load-time self-test (run once) and each kernel family's share of its time.
Napi::Value SelfTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Platform& p = *instance(env).isa;
  const SelfTestReport& r = selfTest(p);
  auto out = Napi::Object::New(env);
  out.Set("isa", Napi::String::New(env, p.name));
  out.Set("ok", Napi::Boolean::New(env, r.error.empty()));
  out.Set("error", r.error.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.error)));
  out.Set("micros", Napi::Number::New(env, r.micros));
  auto families = Napi::Object::New(env);
  for (int i = 0; i < r.familyCount; ++i) families.Set(r.families[i].name, Napi::Number::New(env, r.families[i].micros));
  out.Set("families", families);
  return out;
}

}  // namespace

void registerPlatform(Napi::Env env, Napi::Object exports) {
  // The kernels this environment dispatches to are checked against the scalar reference before
  // anything can call them (a failure makes the require throw).
  requireSelfTest(env, *instance(env).isa);
  exportFunction(env, exports, "selfTest", SelfTest);
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
