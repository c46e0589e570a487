// Bindings of the fgemm family: floatGemm and floatGemmAsync.
#include <memory>

#include "addon.h"
#include "async_job.h"
#include "common/checked.h"
#include "fgemm/fgemm.h"

namespace anyprec {
namespace addon {
namespace {

// floatGemm(a: Float32Array, m, k, b: Float32Array, n, bias?: Float32Array | null)
FloatGemmSpec floatGemmArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "floatGemm(a, m, k, b, n, bias?) takes 5 or 6 arguments");
  FloatGemmSpec s{};
  auto a = typedArg(info[0], "a", napi_float32_array, "Float32Array");
  s.m = dimArg(info[1], "m", 0);
  s.k = dimArg(info[2], "k", 1);
  auto b = typedArg(info[3], "b", napi_float32_array, "Float32Array");
  s.n = dimArg(info[4], "n", 0);
  const size_t mk = mulOrThrow({s.m, s.k}, "a (m * k)"), nk = mulOrThrow({s.n, s.k}, "b (n * k)");
  if (a.ElementLength() != mk)
    throwRange(env, "a must hold m*k = " + std::to_string(mk) + " values, got " + std::to_string(a.ElementLength()));
  if (b.ElementLength() != nk)
    throwRange(env, "b must hold n*k = " + std::to_string(nk) + " values, got " + std::to_string(b.ElementLength()));
  // The plan packs B into panels of floatPackedSize(n, k) floats: bound that allocation too.
  bufferOrThrow(mulOrThrow({floatPaddedCols(s.n), s.k}, "packed b"), sizeof(float), "packed b");
  s.a = typedData<const float>(a);
  s.b = typedData<const float>(b);
  if (info.Length() > 5 && !info[5].IsUndefined() && !info[5].IsNull()) {
    auto bias = typedArg(info[5], "bias", napi_float32_array, "Float32Array, null or undefined");
    if (bias.ElementLength() != s.n)
      throwRange(env, "bias must hold n = " + std::to_string(s.n) + " values, got " + std::to_string(bias.ElementLength()));
    s.bias = typedData<const float>(bias);
  }
  return s;
}

size_t outputCount(const FloatGemmSpec& s) {
  return bufferOrThrow(mulOrThrow({s.m, s.n}, "floatGemm output"), sizeof(float), "floatGemm output");
}

Napi::Value FloatGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const FloatGemmSpec s = floatGemmArgs(info);
  auto c = newUninitialized<float>(env, outputCount(s));
  const Instance& inst = instance(env);
  floatGemm(*inst.isa->fgemm, s, c.Data(), inst.threads);
  return c;
}

Napi::Value FloatGemmAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "floatGemmAsync", [&](AsyncJob& job) {
    const FloatGemmSpec s = floatGemmArgs(info);
    auto c = newUninitialized<float>(info.Env(), outputCount(s));
    auto plan = std::make_shared<FloatGemmPlan>(*instance(info.Env()).isa->fgemm, s, c.Data());
    job.pin(info[0]);
    job.pin(info[3]);
    if (s.bias != nullptr) job.pin(info[5]);
    job.result = Napi::Persistent(Napi::Value(c));
    job.phases.push_back({plan->packTasks(), [p = plan.get()](size_t t) { p->pack(t); }});
    job.phases.push_back({plan->tasks(), [p = plan.get()](size_t t) { p->run(t); }});
    job.owned = plan;
  });
}

}  // namespace

void registerFloatGemm(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "floatGemm", FloatGemm);
  exportFunction(env, exports, "floatGemmAsync", FloatGemmAsync);
}

}  // namespace addon
}  // namespace anyprec
