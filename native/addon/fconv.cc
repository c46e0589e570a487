// Bindings of the fconv family: packFloatWeights, floatConv and floatConvAsync.
#include <memory>

#include "addon.h"
#include "async_job.h"
#include "common/checked.h"
#include "conv/conv.h"
#include "fconv/fconv.h"
#include "fgemm/fgemm.h"

namespace anyprec {
namespace addon {
namespace {

// packFloatWeights(w: Float32Array, n, k) -> Float32Array: W (n x k, row-major) in fgemm's
// panel layout, floatPackedSize(n, k) floats, made once per layer and passed to floatConv.
Napi::Value PackFloatWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throwType(env, "packFloatWeights(w, n, k) takes 3 arguments");
  auto w = typedArg(info[0], "w", napi_float32_array, "Float32Array");
  const size_t n = dimArg(info[1], "n", 1), k = dimArg(info[2], "k", 1);
  const size_t nk = mulOrThrow({n, k}, "w (n * k)");
  if (w.ElementLength() != nk)
    throwRange(env, "w must hold n*k = " + std::to_string(nk) + " values, got " + std::to_string(w.ElementLength()));
  const size_t count = bufferOrThrow(mulOrThrow({floatPaddedCols(n), k}, "packed w"), sizeof(float), "packed w");
  auto out = newUninitialized<float>(env, count);
  packFloatPanels(typedData<const float>(w), n, k, out.Data(), 0, floatPaddedCols(n) / kFloatPanel);
  return out;
}

// floatConv(x, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, wPacked, outChannels, bias, scale,
//           shift, lo, hi, bits[, out[, residual, next, nextScale, nextShift, nextLo, nextHi,
//           nextBits]]) -> Float32Array (bits 0) or Uint8Array (codes of 1..8 bits). The sync entry
// alone takes the optional tail: the caller's output, a residual added to the float output and a
// second output (Float32Array, or Uint8Array with nextBits) of the stored output's affine.
constexpr size_t kConvArgs = 21;
constexpr size_t kFusedArgs = 29;

struct ConvArgs {
  FloatConvSpec spec;
  size_t outputs;
  bool hasBias, hasScale, hasShift;
};

const float* optionalFloats(const Napi::Value& v, const char* name, size_t count, bool* present) {
  *present = !v.IsUndefined() && !v.IsNull();
  if (!*present) return nullptr;
  typedArg(v, name, napi_float32_array, "Float32Array or null");
  return floatsArg(v, name, count, "one value per output channel");
}

ConvArgs convArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < kConvArgs)
    throwType(env, "floatConv(x, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, wPacked, outChannels, bias, scale, "
                   "shift, lo, hi, bits) takes 21 arguments");
  ConvArgs a{};
  FloatConvSpec& s = a.spec;
  auto x = typedArg(info[0], "x", napi_float32_array, "Float32Array");
  s.shape = convShapeArgs(info, 1);
  if (x.ElementLength() != s.shape.inputCount())
    throwRange(env, "x must hold n*h*w*c = " + std::to_string(s.shape.inputCount()) + " values, got " +
                        std::to_string(x.ElementLength()));
  s.outChannels = dimArg(info[14], "outChannels", 1);
  const size_t k = s.shape.k();
  const size_t packed = mulOrThrow({floatPaddedCols(s.outChannels), k}, "packed weights");
  s.wPacked = floatsArg(info[13], "wPacked", packed, "floatPackedSize(outChannels, kh*kw*c) floats");
  s.bias = optionalFloats(info[15], "bias", s.outChannels, &a.hasBias);
  s.scale = optionalFloats(info[16], "scale", s.outChannels, &a.hasScale);
  s.shift = optionalFloats(info[17], "shift", s.outChannels, &a.hasShift);
  for (size_t i = 18; i < 20; ++i)
    if (!info[i].IsNumber()) throwType(env, std::string(i == 18 ? "lo" : "hi") + " must be a number");
  s.lo = static_cast<float>(info[18].As<Napi::Number>().DoubleValue());
  s.hi = static_cast<float>(info[19].As<Napi::Number>().DoubleValue());
  s.codeBits = static_cast<int>(intArg(info[20], "bits", 0, 8));
  const std::string bad = checkFloatConvSpec(s);
  if (!bad.empty()) throwRange(env, "floatConv: " + bad);
  a.outputs = bufferOrThrow(mulOrThrow({s.shape.rows(), s.outChannels}, "floatConv output"),
                            s.codeBits > 0 ? 1 : sizeof(float), "floatConv output");
  s.x = typedData<const float>(x);
  return a;
}

// The output array (float or codes) and where the kernel writes it.
Napi::Value newOutput(Napi::Env env, const ConvArgs& a, void** data) {
  if (a.spec.codeBits > 0) {
    auto out = newUninitialized<uint8_t>(env, a.outputs);
    *data = out.Data();
    return out;
  }
  auto out = newUninitialized<float>(env, a.outputs);
  *data = out.Data();
  return out;
}

bool given(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && !info[i].IsUndefined() && !info[i].IsNull();
}

// The optional residual and second output (arguments 22..28) into the spec.
void fusedArgs(const Napi::CallbackInfo& info, ConvArgs* a) {
  Napi::Env env = info.Env();
  FloatConvSpec& s = a->spec;
  const size_t count = s.shape.rows() * s.outChannels;
  const bool residual = given(info, 22), next = given(info, 23);
  if (!residual && !next) return;
  if (s.codeBits > 0) throwRange(env, "floatConv: a residual or a second output needs float output (bits 0)");
  if (next && info.Length() < kFusedArgs) throwType(env, "floatConv with a second output takes 29 arguments");
  if (residual) {
    typedArg(info[22], "residual", napi_float32_array, "Float32Array or null");
    s.residual = floatsArg(info[22], "residual", count, "one value per output");
  }
  if (!next) return;
  bool present = false;
  s.nextScale = optionalFloats(info[24], "nextScale", s.outChannels, &present);
  s.nextShift = optionalFloats(info[25], "nextShift", s.outChannels, &present);
  for (size_t i = 26; i < 28; ++i)
    if (!info[i].IsNumber()) throwType(env, std::string(i == 26 ? "nextLo" : "nextHi") + " must be a number");
  s.nextLo = static_cast<float>(info[26].As<Napi::Number>().DoubleValue());
  s.nextHi = static_cast<float>(info[27].As<Napi::Number>().DoubleValue());
  s.nextBits = static_cast<int>(intArg(info[28], "nextBits", 0, 8));
  const bool codes = s.nextBits > 0;
  s.next = outputArg(info[23], "next", codes ? napi_uint8_array : napi_float32_array, codes ? "Uint8Array" : "Float32Array",
                     count, {info[0], info[13], info[15], info[16], info[17], info[21], info[22], info[24], info[25]});
}

Napi::Value FloatConv(const Napi::CallbackInfo& info) {
  ConvArgs a = convArgs(info);
  fusedArgs(info, &a);
  const std::string bad = checkFloatConvSpec(a.spec);
  if (!bad.empty()) throwRange(info.Env(), "floatConv: " + bad);
  void* data = nullptr;
  Napi::Value out;
  // Optional 22nd argument: the caller's output (Float32Array, or Uint8Array for codes) of the
  // output's size, sharing no memory with x, the weights or the epilogue's arrays.
  if (info.Length() > kConvArgs && !info[kConvArgs].IsUndefined() && !info[kConvArgs].IsNull()) {
    const bool codes = a.spec.codeBits > 0;
    std::vector<Napi::Value> inputs = {info[0], info[13], info[15], info[16], info[17]};
    // The residual is read after the output rows are written: they must not share memory.
    if (a.spec.residual != nullptr) inputs.push_back(info[22]);
    data = outputArg(info[kConvArgs], "out", codes ? napi_uint8_array : napi_float32_array,
                     codes ? "Uint8Array" : "Float32Array", a.outputs, inputs);
    out = info[kConvArgs];
  } else {
    out = newOutput(info.Env(), a, &data);
  }
  const Instance& inst = instance(info.Env());
  floatConv(*inst.isa, a.spec, data, inst.threads);
  return out;
}

Napi::Value FloatConvAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "floatConvAsync", [&](AsyncJob& job) {
    const ConvArgs a = convArgs(info);
    void* data = nullptr;
    Napi::Value out = newOutput(info.Env(), a, &data);
    auto plan = std::make_shared<FloatConvPlan>(*instance(info.Env()).isa, a.spec, data);
    job.pin(info[0]);
    job.pin(info[13]);
    const bool optional[3] = {a.hasBias, a.hasScale, a.hasShift};
    for (size_t i = 0; i < 3; ++i)
      if (optional[i]) job.pin(info[15 + i]);
    job.result = Napi::Persistent(out);
    job.phases.push_back({plan->tasks(), [p = plan.get()](size_t t) { p->run(t); }});
    job.owned = plan;
  });
}

}  // namespace

void registerFloatConv(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "packFloatWeights", PackFloatWeights);
  exportFunction(env, exports, "floatConv", FloatConv);
  exportFunction(env, exports, "floatConvAsync", FloatConvAsync);
}

}  // namespace addon
}  // namespace anyprec
