// Bindings of the eltwise family: channelAffine, quantizeActivations, codesToFloat, addFloats, splitCodes,
// nchwToNhwc, globalAvgPool.
#include "addon.h"
#include "bitplane/pack.h"
#include "common/checked.h"
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

template <typename T> struct ArrayKind;
template <> struct ArrayKind<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "Float32Array";
};
template <> struct ArrayKind<uint8_t> {
  static constexpr napi_typedarray_type kType = napi_uint8_array;
  static constexpr const char* kName = "Uint8Array";
};

// The optional output argument info[index] (count elements of T, sharing no memory with the
// call's other typed-array arguments), or a fresh array; *value receives the array returned.
template <typename T>
T* outputOr(const Napi::CallbackInfo& info, size_t index, size_t count, Napi::Value* value) {
  if (info.Length() > index && !info[index].IsUndefined() && !info[index].IsNull()) {
    const Napi::Value none = info.Env().Undefined();
    Napi::Value ins[4] = {none, none, none, none};
    for (size_t i = 0; i < index && i < 4; ++i) ins[i] = info[i];
    *value = info[index];
    return static_cast<T*>(outputArg(info[index], "out", ArrayKind<T>::kType, ArrayKind<T>::kName, count,
                                     {ins[0], ins[1], ins[2], ins[3]}));
  }
  auto out = newUninitialized<T>(info.Env(), count);
  *value = out;
  return out.Data();
}

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
  Napi::Value outValue;
  float* out = outputOr<float>(info, 6, a.n, &outValue);
  const Instance& inst = instance(env);
  if (a.xi != nullptr) channelAffine(*inst.isa, a.xi, a.n, a.channels, a.scale, a.shift, lo, hi, out, inst.threads);
  else channelAffine(*inst.isa, a.x, a.n, a.channels, a.scale, a.shift, lo, hi, out, inst.threads);
  return outValue;
}

// quantizeActivations(x: Float32Array | Int32Array, channels, scale?, shift?, bits) -> Uint8Array
Napi::Value QuantizeActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "quantizeActivations(x, channels, scale, shift, bits) takes 5 arguments");
  const ChannelArgs a = channelArgs(info);
  const int bits = static_cast<int>(intArg(info[4], "bits", 1, 8));
  Napi::Value outValue;
  uint8_t* out = outputOr<uint8_t>(info, 5, a.n, &outValue);
  const Instance& inst = instance(env);
  if (a.xi != nullptr) quantizeActivations(*inst.isa, a.xi, a.n, a.channels, a.scale, a.shift, bits, out, inst.threads);
  else quantizeActivations(*inst.isa, a.x, a.n, a.channels, a.scale, a.shift, bits, out, inst.threads);
  return outValue;
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
  Napi::Value outValue;
  float* out = outputOr<float>(info, 2, n, &outValue);
  codesToFloat(*instance(env).isa, src, n, typedData<const float>(table), out, instance(env).threads);
  return outValue;
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

// splitCodes(codes: Uint8Array, lowBits, hi: Uint8Array, lo: Uint8Array) -> undefined: hi[i] =
// codes[i] >> lowBits, lo[i] = codes[i] & (2^lowBits - 1); hi and lo as long as codes, all three
// distinct arrays.
Napi::Value SplitCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throwType(env, "splitCodes(codes, lowBits, hi, lo) takes 4 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  const int lowBits = static_cast<int>(intArg(info[1], "lowBits", 1, 7));
  auto hi = typedArg(info[2], "hi", napi_uint8_array, "Uint8Array");
  auto lo = typedArg(info[3], "lo", napi_uint8_array, "Uint8Array");
  const size_t n = codes.ElementLength();
  if (hi.ElementLength() != n || lo.ElementLength() != n)
    throwRange(env, "hi and lo must hold as many codes as codes (" + std::to_string(n) + ")");
  const uint8_t* src = typedData<const uint8_t>(codes);
  uint8_t* h = typedData<uint8_t>(hi);
  uint8_t* l = typedData<uint8_t>(lo);
  auto overlaps = [n](const uint8_t* a, const uint8_t* b) { return n > 0 && a < b + n && b < a + n; };
  if (overlaps(src, h) || overlaps(src, l) || overlaps(h, l)) throwRange(env, "codes, hi and lo must not overlap");
  splitCodes(src, n, lowBits, h, l, instance(env).threads);
  return env.Undefined();
}

// The four dimensions of a layout / pooling call (arguments 1..4), their product checked
// against x's length.
struct Dims {
  size_t d[4];
  size_t count;
};
Dims dimsArgs(const Napi::CallbackInfo& info, const Napi::TypedArray& x, const char* const names[4], const char* what) {
  Dims r{};
  r.count = 1;
  for (size_t i = 0; i < 4; ++i) {
    r.d[i] = dimArg(info[1 + i], names[i], 1);
    r.count = mulOrThrow({r.count, r.d[i]}, what);
  }
  if (x.ElementLength() != r.count)
    throwRange(info.Env(), std::string("x must hold ") + what + " = " + std::to_string(r.count) + " values, got " +
                               std::to_string(x.ElementLength()));
  return r;
}

// nchwToNhwc(x: Float32Array, n, c, h, w, out?) -> Float32Array (n x h x w x c)
Napi::Value NchwToNhwc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "nchwToNhwc(x, n, c, h, w) takes 5 arguments");
  auto x = typedArg(info[0], "x", napi_float32_array, "Float32Array");
  const char* const names[4] = {"n", "c", "h", "w"};
  const Dims d = dimsArgs(info, x, names, "n*c*h*w");
  Napi::Value outValue;
  float* out = outputOr<float>(info, 5, d.count, &outValue);
  nchwToNhwc(*instance(env).isa, typedData<const float>(x), d.d[0], d.d[1], d.d[2], d.d[3], out, instance(env).threads);
  return outValue;
}

// globalAvgPool(x: Float32Array, n, h, w, c, out?) -> Float32Array (n x c)
Napi::Value GlobalAvgPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "globalAvgPool(x, n, h, w, c) takes 5 arguments");
  auto x = typedArg(info[0], "x", napi_float32_array, "Float32Array");
  const char* const names[4] = {"n", "h", "w", "c"};
  const Dims d = dimsArgs(info, x, names, "n*h*w*c");
  Napi::Value outValue;
  float* out = outputOr<float>(info, 5, d.d[0] * d.d[3], &outValue);
  globalAvgPool(typedData<const float>(x), d.d[0], d.d[1], d.d[2], d.d[3], out, instance(env).threads);
  return outValue;
}

}  // namespace

void registerEltwise(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "nchwToNhwc", NchwToNhwc);
  exportFunction(env, exports, "globalAvgPool", GlobalAvgPool);
  exportFunction(env, exports, "channelAffine", ChannelAffine);
  exportFunction(env, exports, "quantizeActivations", QuantizeActivations);
  exportFunction(env, exports, "codesToFloat", CodesToFloat);
  exportFunction(env, exports, "addFloats", AddFloats);
  exportFunction(env, exports, "splitCodes", SplitCodes);
}

}  // namespace addon
}  // namespace anyprec
