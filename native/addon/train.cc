// Node-API bindings of the float training kernels (native/kernels/ftrain): argument checks and
// buffer wrapping only. Sync calls; each takes the thread count to use as its last argument.
#include <napi.h>

#include "addon.h"

#include <cmath>
#include <string>

#include "conv/conv.h"
#include "fgemm/fgemm.h"
#include "ftrain/conv_train.h"
#include "ftrain/eltwise_train.h"
#include "ftrain/ftrain.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

[[noreturn]] void trainTypeError(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] void trainRangeError(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

size_t sizeArg(const Napi::CallbackInfo& info, size_t i, const char* name, double lo, double hi) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) trainTypeError(info.Env(), std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(std::floor(d) == d) || d < lo || d > hi)
    trainRangeError(info.Env(), std::string(name) + " must be an integer in " + std::to_string(static_cast<long long>(lo)) +
                                    ".." + std::to_string(static_cast<long long>(hi)) + ", got " + v.ToString().Utf8Value());
  return static_cast<size_t>(d);
}

bool boolArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBoolean()) trainTypeError(info.Env(), std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// A Float32Array argument holding exactly `count` values (count 0: any length, returned as is).
float* floatArg(const Napi::CallbackInfo& info, size_t i, const char* name, size_t count) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    trainTypeError(info.Env(), std::string(name) + " must be a Float32Array");
  auto t = v.As<Napi::TypedArray>();
  if (t.ElementLength() != count)
    trainRangeError(info.Env(), std::string(name) + " must hold " + std::to_string(count) + " values, got " +
                                    std::to_string(t.ElementLength()));
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), t, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok)
    throw Napi::Error::New(info.Env(), "cannot read typed array memory");
  return static_cast<float*>(data);
}

constexpr double kMaxDim = 2147483647.0;
constexpr double kMaxThreads = 1024.0;
constexpr size_t kMaxElems = size_t{1} << 40;

size_t product(Napi::Env env, size_t a, size_t b, const char* what) {
  if (a != 0 && b > kMaxElems / a) trainRangeError(env, std::string(what) + " is too large");
  return a * b;
}

// trainGemm(transA, transB, m, n, k, a, b, c, accumulate, threads): c (m x n) (+)= op(a) op(b)
Napi::Value TrainGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 10) trainTypeError(env, "trainGemm takes 10 arguments");
  ftrain::GemmTSpec s{};
  s.transA = boolArg(info, 0, "transA");
  s.transB = boolArg(info, 1, "transB");
  s.m = sizeArg(info, 2, "m", 1, kMaxDim);
  s.n = sizeArg(info, 3, "n", 1, kMaxDim);
  s.k = sizeArg(info, 4, "k", 1, kMaxDim);
  s.a = floatArg(info, 5, "a", product(env, s.m, s.k, "m*k"));
  s.b = floatArg(info, 6, "b", product(env, s.k, s.n, "k*n"));
  s.c = floatArg(info, 7, "c", product(env, s.m, s.n, "m*n"));
  s.accumulate = boolArg(info, 8, "accumulate");
  const int threads = static_cast<int>(sizeArg(info, 9, "threads", 1, kMaxThreads));
  const std::string bad = ftrain::checkGemmT(s);
  if (!bad.empty()) trainRangeError(env, "trainGemm: " + bad);
  ftrain::gemmT(s, threads);
  return env.Undefined();
}

ConvShape trainConvShape(const Napi::CallbackInfo& info, size_t first) {
  static const char* names[12] = {"n", "h", "w", "c", "kh", "kw", "strideH", "strideW", "padH", "padW", "dilH", "dilW"};
  size_t v[12];
  for (size_t i = 0; i < 12; ++i) v[i] = sizeArg(info, first + i, names[i], (i == 8 || i == 9) ? 0 : 1, kMaxDim);
  ConvShape s{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  const std::string bad = checkConvShape(s);
  if (!bad.empty()) trainRangeError(info.Env(), "conv shape: " + bad);
  return s;
}

// col2im(cols, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, x, accumulate, threads)
Napi::Value Col2im(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 16) trainTypeError(env, "col2im takes 16 arguments");
  const ConvShape s = trainConvShape(info, 1);
  const size_t rows = product(env, product(env, s.n, s.outH(), "rows"), s.outW(), "rows");
  const float* cols = floatArg(info, 0, "cols", product(env, rows, s.k(), "rows*k"));
  float* x = floatArg(info, 13, "x", product(env, product(env, s.n * s.h, s.w, "n*h*w"), s.c, "n*h*w*c"));
  const bool acc = boolArg(info, 14, "accumulate");
  const int threads = static_cast<int>(sizeArg(info, 15, "threads", 1, kMaxThreads));
  ftrain::col2im(cols, s, x, acc, threads);
  return env.Undefined();
}

// The geometry's output rows and lowered width, checked against overflow.
size_t convRows(Napi::Env env, const ConvShape& s) { return product(env, product(env, s.n, s.outH(), "rows"), s.outW(), "rows"); }
size_t convInput(Napi::Env env, const ConvShape& s) { return product(env, product(env, s.n * s.h, s.w, "n*h*w"), s.c, "n*h*w*c"); }

// convForward(x, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, wCol, o, bias | null, y, threads)
Napi::Value ConvForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 18) trainTypeError(env, "convForward takes 18 arguments");
  const ConvShape s = trainConvShape(info, 1);
  const float* x = floatArg(info, 0, "x", convInput(env, s));
  const size_t o = sizeArg(info, 14, "o", 1, kMaxDim);
  const float* w = floatArg(info, 13, "wCol", product(env, o, s.k(), "o*k"));
  const float* bias = info[15].IsNull() ? nullptr : floatArg(info, 15, "bias", o);
  float* y = floatArg(info, 16, "y", product(env, convRows(env, s), o, "rows*o"));
  const int threads = static_cast<int>(sizeArg(info, 17, "threads", 1, kMaxThreads));
  ftrain::convForward(*addon::instance(env).isa->fgemm, x, s, w, o, bias, y, threads);
  return env.Undefined();
}

// convBackward(x, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, wCol, o, gy, gwCol, gx | null, threads[, gxAssign])
Napi::Value ConvBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 19) trainTypeError(env, "convBackward takes 19 or 20 arguments");
  const ConvShape s = trainConvShape(info, 1);
  const size_t inCount = convInput(env, s);
  const float* x = floatArg(info, 0, "x", inCount);
  const size_t o = sizeArg(info, 14, "o", 1, kMaxDim);
  const size_t wCount = product(env, o, s.k(), "o*k");
  const float* w = floatArg(info, 13, "wCol", wCount);
  const float* gy = floatArg(info, 15, "gy", product(env, convRows(env, s), o, "rows*o"));
  float* gw = floatArg(info, 16, "gwCol", wCount);
  float* gx = info[17].IsNull() ? nullptr : floatArg(info, 17, "gx", inCount);
  const int threads = static_cast<int>(sizeArg(info, 18, "threads", 1, kMaxThreads));
  if (gx != nullptr && (gx == x || gx == gy)) trainRangeError(env, "gx must not share memory with x or gy");
  const bool gxAssign = info.Length() > 19 && !info[19].IsUndefined() && boolArg(info, 19, "gxAssign");
  ftrain::convBackward(*addon::instance(env).isa->fgemm, x, s, w, o, gy, gw, gx, threads, gxAssign);
  return env.Undefined();
}

// channelMoments(x, rows, c, mean, var, threads)
Napi::Value ChannelMoments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) trainTypeError(env, "channelMoments takes 6 arguments");
  const size_t rows = sizeArg(info, 1, "rows", 1, kMaxElems);
  const size_t c = sizeArg(info, 2, "channels", 1, kMaxDim);
  const float* x = floatArg(info, 0, "x", product(env, rows, c, "rows*channels"));
  float* mean = floatArg(info, 3, "mean", c);
  float* var = floatArg(info, 4, "var", c);
  const int threads = static_cast<int>(sizeArg(info, 5, "threads", 1, kMaxThreads));
  ftrain::channelMoments(x, rows, c, mean, var, threads, addon::instance(env).isa->fgemm->name);
  return env.Undefined();
}

// batchNormBackward(g, x, rows, c, mean, invstd, gamma, dx | null, dgamma, dbeta, threads)
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11) trainTypeError(env, "batchNormBackward takes 11 arguments");
  const size_t rows = sizeArg(info, 2, "rows", 1, kMaxElems);
  const size_t c = sizeArg(info, 3, "channels", 1, kMaxDim);
  const size_t count = product(env, rows, c, "rows*channels");
  const float* g = floatArg(info, 0, "g", count);
  const float* x = floatArg(info, 1, "x", count);
  const float* mean = floatArg(info, 4, "mean", c);
  const float* invstd = floatArg(info, 5, "invstd", c);
  const float* gamma = floatArg(info, 6, "gamma", c);
  float* dx = info[7].IsNull() ? nullptr : floatArg(info, 7, "dx", count);
  float* dgamma = floatArg(info, 8, "dgamma", c);
  float* dbeta = floatArg(info, 9, "dbeta", c);
  const int threads = static_cast<int>(sizeArg(info, 10, "threads", 1, kMaxThreads));
  if (dx != nullptr && (dx == g || dx == x)) trainRangeError(env, "dx must not share memory with g or x");
  ftrain::batchNormBackward(g, x, rows, c, mean, invstd, gamma, dx, dgamma, dbeta, threads,
                            addon::instance(env).isa->fgemm->name);
  return env.Undefined();
}

// ---- element-wise loops of a step: every array argument the same length -----------------------

size_t lengthOf(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    trainTypeError(info.Env(), std::string(name) + " must be a Float32Array");
  return v.As<Napi::TypedArray>().ElementLength();
}
float boundArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber() || std::isnan(info[i].As<Napi::Number>().DoubleValue()))
    trainTypeError(info.Env(), std::string(name) + " must be a number (not NaN)");
  return static_cast<float>(info[i].As<Napi::Number>().DoubleValue());
}
int threadsArg(const Napi::CallbackInfo& info, size_t i) { return static_cast<int>(sizeArg(info, i, "threads", 1, kMaxThreads)); }

// trainRelu(x, y, threads) / trainClamp(x, y, lo, hi, threads)
Napi::Value TrainRelu(const Napi::CallbackInfo& info) {
  if (info.Length() < 3) trainTypeError(info.Env(), "trainRelu takes 3 arguments");
  const size_t n = lengthOf(info, 0, "x");
  ftrain::reluForward(floatArg(info, 0, "x", n), floatArg(info, 1, "y", n), n, threadsArg(info, 2));
  return info.Env().Undefined();
}
Napi::Value TrainClamp(const Napi::CallbackInfo& info) {
  if (info.Length() < 5) trainTypeError(info.Env(), "trainClamp takes 5 arguments");
  const size_t n = lengthOf(info, 0, "x");
  ftrain::clampForward(floatArg(info, 0, "x", n), floatArg(info, 1, "y", n), n, boundArg(info, 2, "lo"),
                       boundArg(info, 3, "hi"), threadsArg(info, 4));
  return info.Env().Undefined();
}
// trainMaskedAccumulate(x, g, gx, lo, hi, strictLo, threads[, assign])
Napi::Value TrainMaskedAccumulate(const Napi::CallbackInfo& info) {
  if (info.Length() < 7) trainTypeError(info.Env(), "trainMaskedAccumulate takes 7 or 8 arguments");
  const size_t n = lengthOf(info, 0, "x");
  const bool assign = info.Length() > 7 && !info[7].IsUndefined() && boolArg(info, 7, "assign");
  ftrain::maskedAccumulate(floatArg(info, 0, "x", n), floatArg(info, 1, "g", n), floatArg(info, 2, "gx", n), n,
                           boundArg(info, 3, "lo"), boundArg(info, 4, "hi"), boolArg(info, 5, "strictLo"), threadsArg(info, 6),
                           assign);
  return info.Env().Undefined();
}
// trainAdd(a, b, y, threads): y = a + b;  trainAccumulate(dst, src, threads): dst += src
Napi::Value TrainAdd(const Napi::CallbackInfo& info) {
  if (info.Length() < 4) trainTypeError(info.Env(), "trainAdd takes 4 arguments");
  const size_t n = lengthOf(info, 0, "a");
  ftrain::addForward(floatArg(info, 0, "a", n), floatArg(info, 1, "b", n), floatArg(info, 2, "y", n), n, threadsArg(info, 3));
  return info.Env().Undefined();
}
Napi::Value TrainAccumulate(const Napi::CallbackInfo& info) {
  if (info.Length() < 3) trainTypeError(info.Env(), "trainAccumulate takes 3 arguments");
  const size_t n = lengthOf(info, 0, "dst");
  ftrain::accumulate(floatArg(info, 0, "dst", n), floatArg(info, 1, "src", n), n, threadsArg(info, 2));
  return info.Env().Undefined();
}

}  // namespace

namespace addon {
void registerTrain(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "trainGemm", TrainGemm);
  exportFunction(env, exports, "col2im", Col2im);
  exportFunction(env, exports, "convForward", ConvForward);
  exportFunction(env, exports, "convBackward", ConvBackward);
  exportFunction(env, exports, "channelMoments", ChannelMoments);
  exportFunction(env, exports, "trainRelu", TrainRelu);
  exportFunction(env, exports, "trainClamp", TrainClamp);
  exportFunction(env, exports, "trainMaskedAccumulate", TrainMaskedAccumulate);
  exportFunction(env, exports, "trainAdd", TrainAdd);
  exportFunction(env, exports, "trainAccumulate", TrainAccumulate);
  exportFunction(env, exports, "batchNormBackward", BatchNormBackward);
}
}  // namespace addon

}  // namespace anyprec
