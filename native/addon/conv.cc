// Bindings of the conv family: im2colFloat, packConv, maxPool. Every geometry goes through the
// kernels' overflow-checked shape check before anything is sized from it.
#include "addon.h"
#include "bitplane/pack.h"
#include "conv/conv.h"

namespace anyprec {
namespace addon {
namespace {

void checkInputLength(Napi::Env env, const Napi::TypedArray& x, size_t count, const char* name, const char* what) {
  if (x.ElementLength() != count)
    throwRange(env, std::string(name) + " must hold n*h*w*c = " + std::to_string(count) + " " + what + ", got " +
                        std::to_string(x.ElementLength()));
}

// im2colFloat(x: Float32Array, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw) -> Float32Array
Napi::Value Im2colFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 13) throwType(env, "im2colFloat takes 13 arguments");
  auto x = typedArg(info[0], "x", napi_float32_array, "Float32Array");
  const ConvShape s = convShapeArgs(info, 1);
  checkInputLength(env, x, s.inputCount(), "x", "values");
  auto out = newUninitialized<float>(env, im2colFloatCount(s));
  im2colFloat(typedData<const float>(x), s, out.Data(), instance(env).threads);
  return out;
}

// packConv(codes, n, h, w, c, kh, kw, strideH, strideW, padH, padW, dilH, dilW, bits)
//   -> { data, planePop, rows, cols }: NHWC codes lowered for a convolution and packed.
Napi::Value PackConv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 14) throwType(env, "packConv takes 14 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  const ConvShape s = convShapeArgs(info, 1);
  const int bits = static_cast<int>(intArg(info[13], "bits", 1, 8));
  checkInputLength(env, codes, s.inputCount(), "codes", "codes");
  const uint8_t* src = typedData<const uint8_t>(codes);
  const size_t bad = findBadCode(src, codes.ElementLength(), bits);
  if (bad != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(bad) + "] = " + std::to_string(src[bad]) + " does not fit in " +
                        std::to_string(bits) + " bits");
  const size_t rows = s.rows(), k = s.k();
  uint64_t* planes = nullptr;
  int32_t* pops = nullptr;
  Napi::Object out;
  // Optional 15th/16th arguments: the caller's data (BigUint64Array) and planePop (Int32Array) to
  // write (reused between calls), sized as newPacked's and sharing no memory with codes.
  if (info.Length() >= 16 && !info[14].IsUndefined() && !info[14].IsNull()) {
    planes = static_cast<uint64_t*>(outputArg(info[14], "out.data", napi_biguint64_array, "BigUint64Array",
                                              packedWordsChecked(rows, k, bits), {info[0]}));
    pops = static_cast<int32_t*>(outputArg(info[15], "out.planePop", napi_int32_array, "Int32Array",
                                           planePopCountChecked(rows, bits), {info[0], info[14]}));
    if (pops == nullptr) throwType(env, "out.planePop must be an Int32Array");
    out = Napi::Object::New(env);
    out.Set("data", info[14]);
    out.Set("planePop", info[15]);
  } else {
    out = newPacked(env, rows, k, bits, &planes, &pops);
  }
  packConvInput(*instance(env).isa, src, s, bits, planes, pops, instance(env).threads);
  out.Set("rows", Napi::Number::New(env, static_cast<double>(rows)));
  out.Set("cols", Napi::Number::New(env, static_cast<double>(k)));
  return out;
}

// maxPool(x: Uint8Array | Float32Array, n, h, w, c, kh, kw, sh, sw, ph, pw) -> same type
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11) throwType(env, "maxPool takes 11 arguments");
  const bool bytes = info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  const bool floats = info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  if (!bytes && !floats) throwType(env, "x must be a Uint8Array or Float32Array");
  auto x = info[0].As<Napi::TypedArray>();
  const char* names[] = {"n", "h", "w", "c", "kernel[0]", "kernel[1]", "stride[0]", "stride[1]", "padding[0]", "padding[1]"};
  size_t v[10];
  for (size_t i = 0; i < 10; ++i) v[i] = dimArg(info[1 + i], names[i], i >= 8 ? 0 : 1);
  PoolShape s{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
  const std::string bad = checkPoolShape(s);
  if (!bad.empty()) throwRange(env, "pool shape: " + bad);
  checkInputLength(env, x, s.inputCount(), "x", "values");
  const size_t count = s.outputCount();
  const int threads = instance(env).threads;
  if (bytes) {
    auto out = newUninitialized<uint8_t>(env, count);
    maxPool(typedData<const uint8_t>(x), s, out.Data(), threads);
    return out;
  }
  auto out = newUninitialized<float>(env, count);
  maxPool(typedData<const float>(x), s, out.Data(), threads);
  return out;
}

}  // namespace

void registerConv(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "im2colFloat", Im2colFloat);
  exportFunction(env, exports, "packConv", PackConv);
  exportFunction(env, exports, "maxPool", MaxPool);
}

}  // namespace addon
}  // namespace anyprec
