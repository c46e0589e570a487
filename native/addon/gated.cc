// Bindings of the gated family: gatedGemm and gatedGemmAsync.
#include <memory>

#include "addon.h"
#include "async_job.h"
#include "common/checked.h"
#include "gated/gated.h"
#include "gemm/gemm.h"
#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace addon {
namespace {

// gatedGemm(a, b, aBits, highBits, bBits, bEncoding, thresholds: Float32Array, strategy?,
//           b2?, b2Bits?, b2Encoding?, epilogue?, mask?, out?, int8Weights?, highSums?, lowOnly?)
// -> { out, mask: Uint8Array | null, on: number }. out (sync gatedGemm only): the caller's output
// array (callerOutput: the epilogue's type, M x N, sharing no memory with the operands), written
// and returned instead of a new one. a is unsigned; thresholds are in the exact
// result's integer units (gated/gated.h); b2 (optional, with b2Bits and b2Encoding) is a second
// weight operand added to b (GatedSpec::b2); epilogue (bitGemm's) makes out a Float32Array or
// Uint8Array of codes instead of the exact Int32Array; mask (default true) whether the M x N
// on-mask is written; int8Weights (15th, sync and async: prepareInt8's weights of b at bBits /
// bEncoding) computes the high part on the int8 route (GatedHigh::Int8: the same results; no b2);
// highSums (16th: Int32Array, M x N) gives the high part instead (GatedSpec::highSums: the value
// sums of the high codes p >> L, e.g. the dense int8 route's exact results for them), and lowOnly
// (17th, with highSums) says a holds only the L low planes (the codes p & (2^L - 1)).
struct GatedArgs {
  GatedSpec spec;
  Napi::Value thresholds;
  Napi::Value b2;  // empty without a second operand
  std::vector<Napi::Value> keep;  // arrays the epilogue reads
  bool mask = true;
  I8Weights int8{};
  Napi::Value int8Value;  // empty without int8 weights
  Napi::Value highSums;   // empty without given high sums
};

GatedStrategy strategyArg(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (v.IsUndefined() || v.IsNull()) return GatedStrategy::Auto;
  if (!v.IsString()) throwType(env, "strategy must be a string: 'auto', 'compact', 'tiles' or 'hybrid'");
  const std::string st = v.As<Napi::String>().Utf8Value();
  if (st == "auto") return GatedStrategy::Auto;
  if (st == "compact") return GatedStrategy::Compact;
  if (st == "tiles") return GatedStrategy::Tiles;
  if (st == "hybrid") return GatedStrategy::Hybrid;
  throwRange(env, "strategy must be 'auto', 'compact', 'tiles' or 'hybrid', got '" + st + "'");
}

GatedArgs gatedArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7)
    throwType(env, "gatedGemm(a, b, aBits, highBits, bBits, bEncoding, thresholds, strategy?, b2?, b2Bits?, b2Encoding?, "
                   "epilogue?, mask?) takes 7 to 13 arguments");
  GatedArgs g{};
  GatedSpec& s = g.spec;
  s.a = packedArg(info[0], "a");
  s.b = packedArg(info[1], "b");
  s.aBits = static_cast<int>(intArg(info[2], "aBits", 2, 8));
  s.highBits = static_cast<int>(intArg(info[3], "highBits", 1, 7));
  s.bBits = static_cast<int>(intArg(info[4], "bBits", 1, 8));
  s.bEnc = encodingArg(info[5], "bEncoding");
  auto thr = typedArg(info[6], "thresholds", napi_float32_array, "Float32Array");
  if (thr.ElementLength() != s.b.rows)
    throwRange(env, "thresholds must hold one value per output column (b.rows = " + std::to_string(s.b.rows) +
                        "), got " + std::to_string(thr.ElementLength()));
  s.thresholds = typedData<const float>(thr);
  g.thresholds = info[6];
  for (size_t j = 0; j < s.b.rows; ++j) {
    if (s.thresholds[j] != s.thresholds[j]) throwRange(env, "thresholds[" + std::to_string(j) + "] is NaN");
  }
  s.strategy = info.Length() > 7 ? strategyArg(info[7]) : GatedStrategy::Auto;
  if (info.Length() > 8 && !info[8].IsUndefined() && !info[8].IsNull()) {
    if (info.Length() < 11) throwType(env, "gatedGemm: b2 needs b2Bits and b2Encoding");
    s.b2 = packedArg(info[8], "b2");
    s.b2Bits = static_cast<int>(intArg(info[9], "b2Bits", 1, 8));
    s.b2Enc = encodingArg(info[10], "b2Encoding");
    g.b2 = info[8];
  }
  if (int8WeightsArg(info, 14, GemmSpec{s.a, s.b, s.aBits, s.bBits, Encoding::Unsigned, s.bEnc}, &g.int8)) {
    s.high = GatedHigh::Int8;
    g.int8Value = info[14];
  }
  if (info.Length() > 15 && !info[15].IsUndefined() && !info[15].IsNull()) {
    auto hs = typedArg(info[15], "highSums", napi_int32_array, "Int32Array");
    if (hs.ElementLength() != s.a.rows * s.b.rows)
      throwRange(env, "highSums must hold M x N = " + std::to_string(s.a.rows * s.b.rows) + " values, got " +
                          std::to_string(hs.ElementLength()));
    s.highSums = typedData<const int32_t>(hs);
    s.ldHighSums = s.b.rows;
    g.highSums = info[15];
    if (info.Length() > 16 && !info[16].IsUndefined() && !info[16].IsNull()) {
      if (!info[16].IsBoolean()) throwType(env, "lowOnly must be a boolean");
      s.lowOnly = info[16].As<Napi::Boolean>().Value();
    }
  }
  throwIfFailed(env, checkGated(s));
  s.epilogue = epilogueArg(info[11], s.a.rows, s.b.rows, &g.keep, {info[0], info[1]});
  if (!info[12].IsUndefined() && !info[12].IsNull()) {
    if (!info[12].IsBoolean()) throwType(env, "mask must be a boolean");
    g.mask = info[12].As<Napi::Boolean>().Value();
  }
  return g;
}

Napi::Object gatedResult(Napi::Env env, const GatedArgs& g, void** out, uint8_t** mask, Napi::Value callerOut = Napi::Value(),
                          std::vector<Napi::Value> ins = {}) {
  const GatedSpec& s = g.spec;
  auto result = Napi::Object::New(env);
  void* caller = nullptr;
  if (!callerOut.IsEmpty() && !callerOut.IsUndefined() && !callerOut.IsNull()) {
    ins.push_back(g.thresholds);
    for (const auto& k : g.keep) ins.push_back(k);
    if (!g.b2.IsEmpty()) ins.push_back(g.b2);
    if (!g.highSums.IsEmpty()) ins.push_back(g.highSums);
    caller = callerOutput(callerOut, env.Undefined(), s.epilogue, s.a.rows, s.b.rows, ins);
  }
  if (caller != nullptr) {
    *out = caller;
    result.Set("out", callerOut);
  } else {
    result.Set("out", newOutput(env, s.epilogue, s.a.rows, s.b.rows, out));
  }
  *mask = nullptr;
  if (g.mask) {
    auto m = newUninitialized<uint8_t>(env, mulOrThrow({s.a.rows, s.b.rows}, "gated GEMM mask"));
    *mask = m.Data();
    result.Set("mask", m);
  } else {
    result.Set("mask", env.Null());
  }
  result.Set("on", Napi::Number::New(env, 0));
  return result;
}

Napi::Value GatedGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GatedArgs g = gatedArgs(info);
  if (g.spec.high == GatedHigh::Int8) g.spec.highWeights = &g.int8;
  void* out = nullptr;
  uint8_t* mask = nullptr;
  Napi::Object result = gatedResult(env, g, &out, &mask, info.Length() > 13 ? info[13] : env.Undefined(), {info[0], info[1]});
  const Instance& inst = instance(env);
  const uint64_t on = gatedGemm(*inst.isa, g.spec, out, mask, inst.threads);
  result.Set("on", Napi::Number::New(env, static_cast<double>(on)));
  return result;
}

Napi::Value GatedGemmAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "gatedGemmAsync", [&](AsyncJob& job) {
    GatedArgs g = gatedArgs(info);
    // The plan copies the weights' view (g is gone when the job runs; the arrays are pinned below).
    if (g.spec.high == GatedHigh::Int8) g.spec.highWeights = &g.int8;
    void* out = nullptr;
    uint8_t* mask = nullptr;
    Napi::Object result = gatedResult(info.Env(), g, &out, &mask);
    auto plan = std::make_shared<GatedPlan>(*instance(info.Env()).isa, g.spec, out, mask);
    job.pin(info[0]);
    job.pin(info[1]);
    job.pin(g.thresholds);
    if (!g.b2.IsEmpty()) job.pin(g.b2);
    if (!g.int8Value.IsEmpty()) job.pin(g.int8Value);
    if (!g.highSums.IsEmpty()) job.pin(g.highSums);
    for (const auto& k : g.keep) job.pin(k);
    job.result = Napi::Persistent(Napi::Value(result));
    job.phases.push_back({plan->tasks(), [p = plan.get()](size_t t) { p->run(t); }});
    job.beforeResolve = [p = plan.get()](Napi::Value r) {
      r.As<Napi::Object>().Set("on", Napi::Number::New(r.Env(), static_cast<double>(p->onCount())));
    };
    job.owned = plan;
  });
}

}  // namespace

void registerGated(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "gatedGemm", GatedGemm);
  exportFunction(env, exports, "gatedGemmAsync", GatedGemmAsync);
}

}  // namespace addon
}  // namespace anyprec
