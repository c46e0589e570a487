// Bindings of the eltwise family: channelAffine, quantizeActivations, codesToFloat, addFloats.
#include "addon.h"
#include "bitplane/pack.h"
#include "eltwise/eltwise.h"

namespace anyprec {
namespace addon {
namespace {

// Arguments 0..3 shared by channelAffine and quantizeActivations: x (Float32Array, or Int32Array
// for a GEMM's integer results), channels, scale, shift.
struct ChannelArgs {
  const float* x;      // null when x is an Int32Array
  const int32_t* xi;   // null when x is a Float32Array
  size_t n, channels;
  const float* scale;
  const float* shift;
};

ChannelArgs channelArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool ints = info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
  auto x = ints ? info[0].As<Napi::TypedArray>() : typedArg(info[0], "x", napi_float32_array, "Float32Array or Int32Array");
  const size_t channels = dimArg(info[1], "channels", 1);
  if (x.ElementLength() % channels != 0)
    throwRange(env, "x must hold a multiple of channels (" + std::to_string(channels) + ") values, got " +
                        std::to_string(x.ElementLength()));
  const float* per[2] = {nullptr, nullptr};
  const char* names[2] = {"scale", "shift"};
  for (int i = 0; i < 2; ++i) {
    if (info[2 + i].IsUndefined() || info[2 + i].IsNull()) continue;
    typedArg(info[2 + i], names[i], napi_float32_array, "Float32Array or null");
    per[i] = floatsArg(info[2 + i], names[i], channels, "one value per channel");
  }
  return {ints ? nullptr : typedData<const float>(x), ints ? typedData<const int32_t>(x) : nullptr, x.ElementLength(),
          channels, per[0], per[1]};
}

// channelAffine(x: Float32Array | Int32Array, channels, scale|null, shift|null, lo, hi) -> Float32Array
Napi::Value ChannelAffine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) throwType(env, "channelAffine(x, channels, scale, shift, lo, hi) takes 6 arguments");
  const ChannelArgs a = channelArgs(info);
  for (int i = 4; i < 6; ++i)
    if (!info[i].IsNumber()) throwType(env, std::string(i == 4 ? "lo" : "hi") + " must be a number");
  const float lo = static_cast<float>(info[4].As<Napi::Number>().DoubleValue());
  const float hi = static_cast<float>(info[5].As<Napi::Number>().DoubleValue());
  if (!(lo <= hi)) throwRange(env, "lo must not exceed hi (and neither may be NaN)");
  auto out = newUninitialized<float>(env, a.n);
  const Instance& inst = instance(env);
  if (a.xi != nullptr) channelAffine(*inst.isa, a.xi, a.n, a.channels, a.scale, a.shift, lo, hi, out.Data(), inst.threads);
  else channelAffine(*inst.isa, a.x, a.n, a.channels, a.scale, a.shift, lo, hi, out.Data(), inst.threads);
  return out;
}

// quantizeActivations(x: Float32Array | Int32Array, channels, scale?, shift?, bits) -> Uint8Array
Napi::Value QuantizeActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "quantizeActivations(x, channels, scale, shift, bits) takes 5 arguments");
  const ChannelArgs a = channelArgs(info);
  const int bits = static_cast<int>(intArg(info[4], "bits", 1, 8));
  auto out = newUninitialized<uint8_t>(env, a.n);
  const Instance& inst = instance(env);
  if (a.xi != nullptr) quantizeActivations(*inst.isa, a.xi, a.n, a.channels, a.scale, a.shift, bits, out.Data(), inst.threads);
  else quantizeActivations(*inst.isa, a.x, a.n, a.channels, a.scale, a.shift, bits, out.Data(), inst.threads);
  return out;
}

// codesToFloat(codes: Uint8Array, table: Float32Array) -> Float32Array: out[i] = table[codes[i]]
Napi::Value CodesToFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throwType(env, "codesToFloat(codes, table) takes 2 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  auto table = typedArg(info[1], "table", napi_float32_array, "Float32Array");
  const size_t entries = table.ElementLength();
  if (entries < 1 || entries > 256) throwRange(env, "table must hold 1..256 values, got " + std::to_string(entries));
  const uint8_t* src = typedData<const uint8_t>(codes);
  const size_t n = codes.ElementLength();
  const size_t bad = findCodeAtLeast(src, n, static_cast<unsigned>(entries));
  if (bad != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(bad) + "] = " + std::to_string(src[bad]) + " has no entry in a table of " +
                        std::to_string(entries) + " values");
  auto out = newUninitialized<float>(env, n);
  codesToFloat(*instance(env).isa, src, n, typedData<const float>(table), out.Data(), instance(env).threads);
  return out;
}

// addFloats(a: Float32Array, b: Float32Array) -> Float32Array: a + b element-wise (float32)
Napi::Value AddFloats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throwType(env, "addFloats(a, b) takes 2 arguments");
  auto a = typedArg(info[0], "a", napi_float32_array, "Float32Array");
  auto b = typedArg(info[1], "b", napi_float32_array, "Float32Array");
  const size_t n = a.ElementLength();
  if (b.ElementLength() != n)
    throwRange(env, "b must hold as many values as a (" + std::to_string(n) + "), got " + std::to_string(b.ElementLength()));
  auto out = newUninitialized<float>(env, n);
  addFloats(typedData<const float>(a), typedData<const float>(b), n, out.Data(), instance(env).threads);
  return out;
}

}  // namespace

void registerEltwise(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "channelAffine", ChannelAffine);
  exportFunction(env, exports, "quantizeActivations", QuantizeActivations);
  exportFunction(env, exports, "codesToFloat", CodesToFloat);
  exportFunction(env, exports, "addFloats", AddFloats);
}

}  // namespace addon
}  // namespace anyprec
