// The Node-API binding: validates arguments, wraps buffers, runs long work off the event loop.
// No arithmetic of its own and no knowledge of models.
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bitgemm.h"
#include "fgemm.h"
#include "gated.h"
#include "i8gemm.h"
#include "threadpool.h"

namespace anyprec {
void RegisterTrainBindings(Napi::Env env, Napi::Object exports);  // train_binding.cc
namespace {

constexpr int kMaxThreads = 1024;

// Per-environment state (main thread and each worker_thread get their own).
struct Instance {
  const KernelTable* isa = defaultTable();
  int threads = 1;
  // Async jobs still running on the pool; teardown waits for them so their buffers stay alive.
  std::mutex mutex;
  std::condition_variable cv;
  int pending = 0;
  ~Instance() {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return pending == 0; });
  }
};

Instance& instance(Napi::Env env) { return *env.GetInstanceData<Instance>(); }

[[noreturn]] void throwType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] void throwRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

std::string isaList() {
  std::string s;
  for (const KernelTable* t : availableTables()) s += (s.empty() ? "" : ", ") + std::string(t->name);
  return s;
}

// An integer argument in [lo, hi].
int64_t intArg(const Napi::Value& v, const char* name, int64_t lo, int64_t hi) {
  Napi::Env env = v.Env();
  if (!v.IsNumber()) throwType(env, std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d))) || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi)) {
    throwRange(env, std::string(name) + " must be an integer in " + std::to_string(lo) + ".." +
                        std::to_string(hi) + ", got " + v.ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

// Start of a typed array's elements. napi_get_typedarray_info works for arrays over a
// SharedArrayBuffer too (ArrayBuffer().Data() does not), which models shared with workers use.
template <typename T>
T* typedData(const Napi::TypedArray& t) {
  void* data = nullptr;
  napi_status st = napi_get_typedarray_info(t.Env(), t, nullptr, nullptr, &data, nullptr, nullptr);
  if (st != napi_ok) throw Napi::Error::New(t.Env(), "cannot read typed array memory");
  return static_cast<T*>(data);
}

const float* floatData(const Napi::TypedArray& t) { return typedData<const float>(t); }

Napi::TypedArray typedArg(const Napi::Value& v, const char* name, napi_typedarray_type type,
                          const char* typeName) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throwType(v.Env(), std::string(name) + " must be a " + typeName);
  return v.As<Napi::TypedArray>();
}

// ---- ISA and threads -----------------------------------------------------------------------

Napi::Value Isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), instance(info.Env()).isa->name);
}

Napi::Value AvailableIsas(const Napi::CallbackInfo& info) {
  auto arr = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (const KernelTable* t : availableTables()) arr.Set(i++, Napi::String::New(info.Env(), t->name));
  return arr;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwType(env, "isa must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  const KernelTable* t = findTable(name);
  if (t == nullptr) {
    bool known = false;
    for (const auto& k : knownIsaNames()) known = known || k == name;
    if (known) throwRange(env, "isa '" + name + "' is not supported on this CPU; available: " + isaList());
    throwRange(env, "isa must be one of avx512, avx2, neon, scalar; got '" + name + "'");
  }
  instance(env).isa = t;
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwType(env, "threads must be a number");
  instance(env).threads = static_cast<int>(intArg(info[0], "threads", 1, kMaxThreads));
  return env.Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), instance(info.Env()).threads);
}

Napi::Value HardwareThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), hardwareThreads());
}

// ---- packing ----------------------------------------------------------------------------------

// A typed array of `count` elements whose memory is NOT zero-filled, for outputs a kernel writes
// in full (every element): napi_create_buffer allocates without zeroing, napi_create_arraybuffer
// (Napi::TypedArrayOf<T>::New) zero-fills, which cost ~6% of a small CNN's run in memset alone.
template <typename T>
Napi::TypedArrayOf<T> newUninitialized(Napi::Env env, size_t count) {
  Napi::ArrayBuffer ab = Napi::Buffer<uint8_t>::New(env, count * sizeof(T)).ArrayBuffer();
  return Napi::TypedArrayOf<T>::New(env, count, ab, 0);
}

// A BigUint64Array of `words` words starting on a cache line (64 spare bytes allow the shift).
Napi::BigUint64Array newPlanes(Napi::Env env, size_t words, uint64_t** planes) {
  // Not zero-filled: packPanel writes every word of its panel, padding lanes and bits included.
  auto buf = Napi::Buffer<uint8_t>::New(env, words * 8 + 64).ArrayBuffer();
  const uintptr_t base = reinterpret_cast<uintptr_t>(buf.Data());
  const size_t offset = ((base + 63) & ~uintptr_t{63}) - base;
  *planes = reinterpret_cast<uint64_t*>(base + offset);
  return Napi::BigUint64Array::New(env, words, buf, offset);
}

// pack(codes: Uint8Array, rows, cols, bits) -> { data: BigUint64Array, planePop: Int32Array }
Napi::Value Pack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throwType(env, "pack(codes, rows, cols, bits) takes 4 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  const size_t rows = static_cast<size_t>(intArg(info[1], "rows", 0, int64_t{1} << 31));
  const size_t cols = static_cast<size_t>(intArg(info[2], "cols", 1, int64_t{1} << 31));
  const int bits = static_cast<int>(intArg(info[3], "bits", 1, 8));
  if (codes.ElementLength() != rows * cols)
    throwRange(env, "codes must hold rows*cols = " + std::to_string(rows * cols) + " codes, got " +
                        std::to_string(codes.ElementLength()));
  const uint8_t* src = typedData<const uint8_t>(codes);
  const size_t bad = findBadCode(src, rows * cols, bits);
  if (bad != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(bad) + "] = " + std::to_string(src[bad]) +
                        " does not fit in " + std::to_string(bits) + " bits (must be < " +
                        std::to_string(1 << bits) + ")");
  const size_t words = packedWords(rows, cols, bits);
  uint64_t* planes = nullptr;
  auto data = newPlanes(env, words, &planes);
  auto pops = newUninitialized<int32_t>(env, rows * bits);  // panelPops writes every row
  pack(*instance(env).isa, src, rows, cols, bits, planes,
       pops.Data(), instance(env).threads);
  auto out = Napi::Object::New(env);
  out.Set("data", data);
  out.Set("planePop", pops);
  return out;
}

// Arguments first..first+11: n, h, w, c, kernel h/w, stride h/w, padding h/w, dilation h/w.
ConvShape convShapeArgs(const Napi::CallbackInfo& info, size_t first) {
  constexpr int64_t kMax = int64_t{1} << 31;
  const char* names[] = {"n", "h", "w", "c", "kernel[0]", "kernel[1]", "stride[0]", "stride[1]",
                         "padding[0]", "padding[1]", "dilation[0]", "dilation[1]"};
  size_t v[12];
  for (size_t i = 0; i < 12; ++i) {
    const bool pad = i == 8 || i == 9;
    v[i] = static_cast<size_t>(intArg(info[first + i], names[i], pad ? 0 : 1, kMax));
  }
  ConvShape s{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  const std::string bad = checkConvShape(s);
  if (!bad.empty()) throwRange(info.Env(), "conv shape: " + bad);
  return s;
}

// im2colFloat(x: Float32Array, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw) -> Float32Array
Napi::Value Im2colFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 13) throwType(env, "im2colFloat takes 13 arguments");
  auto x = typedArg(info[0], "x", napi_float32_array, "Float32Array");
  const ConvShape s = convShapeArgs(info, 1);
  if (x.ElementLength() != s.n * s.h * s.w * s.c)
    throwRange(env, "x must hold n*h*w*c = " + std::to_string(s.n * s.h * s.w * s.c) + " values, got " +
                        std::to_string(x.ElementLength()));
  auto out = newUninitialized<float>(env, s.rows() * s.k());
  im2colFloat(floatData(x), s, out.Data(), instance(env).threads);
  return out;
}

// maxPool(x: Uint8Array | Float32Array, n, h, w, c, kh, kw, sh, sw, ph, pw) -> same type
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11) throwType(env, "maxPool takes 11 arguments");
  if (!info[0].IsTypedArray()) throwType(env, "x must be a Uint8Array or Float32Array");
  auto x = info[0].As<Napi::TypedArray>();
  const char* names[] = {"n", "h", "w", "c", "kernel[0]", "kernel[1]", "stride[0]", "stride[1]", "padding[0]", "padding[1]"};
  size_t v[10];
  for (size_t i = 0; i < 10; ++i) v[i] = static_cast<size_t>(intArg(info[1 + i], names[i], i >= 8 ? 0 : 1, int64_t{1} << 31));
  PoolShape s{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
  const std::string bad = checkPoolShape(s);
  if (!bad.empty()) throwRange(env, "pool shape: " + bad);
  if (x.ElementLength() != s.n * s.h * s.w * s.c)
    throwRange(env, "x must hold n*h*w*c = " + std::to_string(s.n * s.h * s.w * s.c) + " values, got " +
                        std::to_string(x.ElementLength()));
  const size_t count = s.n * s.outH() * s.outW() * s.c;
  const int threads = instance(env).threads;
  if (x.TypedArrayType() == napi_uint8_array) {
    auto out = newUninitialized<uint8_t>(env, count);
    maxPool(typedData<const uint8_t>(x), s, out.Data(), threads);
    return out;
  }
  if (x.TypedArrayType() == napi_float32_array) {
    auto out = newUninitialized<float>(env, count);
    maxPool(typedData<const float>(x), s, out.Data(), threads);
    return out;
  }
  throwType(env, "x must be a Uint8Array or Float32Array");
}

// packConv(codes, n, h, w, c, kh, kw, strideH, strideW, padH, padW, dilH, dilW, bits)
//   -> { data, planePop, rows, cols }: NHWC codes lowered for a convolution and packed.
Napi::Value PackConv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 14) throwType(env, "packConv takes 14 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  ConvShape s = convShapeArgs(info, 1);
  const int bits = static_cast<int>(intArg(info[13], "bits", 1, 8));
  if (codes.ElementLength() != s.n * s.h * s.w * s.c)
    throwRange(env, "codes must hold n*h*w*c = " + std::to_string(s.n * s.h * s.w * s.c) + " codes, got " +
                        std::to_string(codes.ElementLength()));
  const uint8_t* src = typedData<const uint8_t>(codes);
  const size_t badIndex = findBadCode(src, codes.ElementLength(), bits);
  if (badIndex != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(badIndex) + "] = " + std::to_string(src[badIndex]) +
                        " does not fit in " + std::to_string(bits) + " bits");
  const size_t rows = s.rows(), k = s.k();
  const size_t words = packedWords(rows, k, bits);
  uint64_t* planes = nullptr;
  auto data = newPlanes(env, words, &planes);
  auto pops = newUninitialized<int32_t>(env, rows * bits);  // panelPops writes every row
  packConvInput(*instance(env).isa, src, s, bits, planes, pops.Data(),
                instance(env).threads);
  auto out = Napi::Object::New(env);
  out.Set("data", data);
  out.Set("planePop", pops);
  out.Set("rows", Napi::Number::New(env, static_cast<double>(rows)));
  out.Set("cols", Napi::Number::New(env, static_cast<double>(k)));
  return out;
}

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
  const size_t channels = static_cast<size_t>(intArg(info[1], "channels", 1, int64_t{1} << 31));
  if (x.ElementLength() % channels != 0)
    throwRange(env, "x must hold a multiple of channels (" + std::to_string(channels) + ") values, got " +
                        std::to_string(x.ElementLength()));
  const float* per[2] = {nullptr, nullptr};
  const char* names[2] = {"scale", "shift"};
  for (int i = 0; i < 2; ++i) {
    if (info[2 + i].IsUndefined() || info[2 + i].IsNull()) continue;
    auto t = typedArg(info[2 + i], names[i], napi_float32_array, "Float32Array or null");
    if (t.ElementLength() != channels)
      throwRange(env, std::string(names[i]) + " must hold one value per channel (" + std::to_string(channels) +
                          "), got " + std::to_string(t.ElementLength()));
    per[i] = floatData(t);
  }
  return {ints ? nullptr : floatData(x), ints ? typedData<const int32_t>(x) : nullptr, x.ElementLength(), channels,
          per[0], per[1]};
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
  if (a.xi != nullptr)
    channelAffine(*instance(env).isa, a.xi, a.n, a.channels, a.scale, a.shift, lo, hi, out.Data(), instance(env).threads);
  else
    channelAffine(*instance(env).isa, a.x, a.n, a.channels, a.scale, a.shift, lo, hi, out.Data(), instance(env).threads);
  return out;
}

// quantizeActivations(x: Float32Array | Int32Array, channels, scale?: Float32Array|null, shift?: ..., bits) -> Uint8Array
Napi::Value QuantizeActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "quantizeActivations(x, channels, scale, shift, bits) takes 5 arguments");
  const ChannelArgs a = channelArgs(info);
  const int bits = static_cast<int>(intArg(info[4], "bits", 1, 8));
  auto out = newUninitialized<uint8_t>(env, a.n);
  if (a.xi != nullptr)
    quantizeActivations(*instance(env).isa, a.xi, a.n, a.channels, a.scale, a.shift, bits, out.Data(), instance(env).threads);
  else
    quantizeActivations(*instance(env).isa, a.x, a.n, a.channels, a.scale, a.shift, bits, out.Data(), instance(env).threads);
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
  codesToFloat(*instance(env).isa, src, n, floatData(table), out.Data(), instance(env).threads);
  return out;
}

// ---- GEMM ---------------------------------------------------------------------------------------

PackedView packedArg(const Napi::Value& v, const char* name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throwType(env, std::string(name) + " must be a Packed operand (from pack())");
  auto o = v.As<Napi::Object>();
  const std::string n(name);
  PackedView p{};
  p.rows = static_cast<size_t>(intArg(o.Get("rows"), (n + ".rows").c_str(), 0, int64_t{1} << 31));
  p.cols = static_cast<size_t>(intArg(o.Get("cols"), (n + ".cols").c_str(), 1, int64_t{1} << 31));
  p.planes = static_cast<int>(intArg(o.Get("bits"), (n + ".bits").c_str(), 1, 8));
  auto data = typedArg(o.Get("data"), (n + ".data").c_str(), napi_biguint64_array, "BigUint64Array");
  auto pops = typedArg(o.Get("planePop"), (n + ".planePop").c_str(), napi_int32_array, "Int32Array");
  if (data.ElementLength() != packedWords(p.rows, p.cols, p.planes))
    throwRange(env, n + ".data must hold " + std::to_string(packedWords(p.rows, p.cols, p.planes)) +
                        " words for its shape, got " + std::to_string(data.ElementLength()));
  if (pops.ElementLength() != p.rows * p.planes)
    throwRange(env, n + ".planePop must hold rows*bits = " + std::to_string(p.rows * p.planes) +
                        " counts, got " + std::to_string(pops.ElementLength()));
  p.data = typedData<const uint64_t>(data);
  p.planePop = typedData<const int32_t>(pops);
  return p;
}

// unpack(packed) -> Uint8Array of rows*cols codes.
Napi::Value Unpack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwType(env, "unpack(packed) takes 1 argument");
  const PackedView p = packedArg(info[0], "packed");
  auto out = Napi::Uint8Array::New(env, p.rows * p.cols);
  unpack(p, out.Data());
  return out;
}

Encoding encodingArg(const Napi::Value& v, const char* name) {
  Napi::Env env = v.Env();
  if (!v.IsString()) throwType(env, std::string(name) + " must be a string: 'unsigned', 'bipolar' or 'signed'");
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "unsigned") return Encoding::Unsigned;
  if (s == "bipolar") return Encoding::Bipolar;
  if (s == "signed") return Encoding::Signed;
  throwRange(env, std::string(name) + " must be 'unsigned', 'bipolar' or 'signed', got '" + s + "'");
}

// bitGemm(a, b, aBits, bBits, aEncoding, bEncoding)
GemmSpec gemmArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) throwType(env, "bitGemm(a, b, aBits, bBits, aEncoding, bEncoding) takes 6 arguments");
  GemmSpec s{};
  s.a = packedArg(info[0], "a");
  s.b = packedArg(info[1], "b");
  s.aBits = static_cast<int>(intArg(info[2], "aBits", 1, 8));
  s.bBits = static_cast<int>(intArg(info[3], "bBits", 1, 8));
  s.aEnc = encodingArg(info[4], "aEncoding");
  s.bEnc = encodingArg(info[5], "bEncoding");
  const CheckResult r = checkGemm(s);
  if (r.kind == ErrorKind::Type) throwType(env, r.message);
  if (r.kind == ErrorKind::Range) throwRange(env, r.message);
  return s;
}

// Optional 7th argument of bitGemm: { output: 'int32' | 'float' | 'codes', scale, shift, min, max, bits }.
// `keep` receives the arrays the epilogue reads (for async jobs to pin).
Epilogue epilogueArg(const Napi::CallbackInfo& info, size_t n, std::vector<Napi::Value>* keep) {
  Napi::Env env = info.Env();
  Epilogue e;
  if (info.Length() < 7 || info[6].IsUndefined() || info[6].IsNull()) return e;
  if (!info[6].IsObject()) throwType(env, "epilogue must be an object { output, scale, shift?, min?, max?, bits? }");
  auto o = info[6].As<Napi::Object>();
  Napi::Value out = o.Get("output");
  if (!out.IsString()) throwType(env, "epilogue.output must be 'int32', 'float' or 'codes'");
  const std::string kind = out.As<Napi::String>().Utf8Value();
  if (kind == "int32") return e;
  if (kind == "float") e.kind = OutputKind::Float32;
  else if (kind == "codes") e.kind = OutputKind::Codes;
  else throwRange(env, "epilogue.output must be 'int32', 'float' or 'codes', got '" + kind + "'");
  auto scale = typedArg(o.Get("scale"), "epilogue.scale", napi_float32_array, "Float32Array");
  if (scale.ElementLength() != n)
    throwRange(env, "epilogue.scale must hold one value per output column (" + std::to_string(n) + "), got " +
                        std::to_string(scale.ElementLength()));
  e.scale = floatData(scale);
  keep->push_back(scale);
  Napi::Value shiftV = o.Get("shift");
  if (!shiftV.IsUndefined() && !shiftV.IsNull()) {
    auto shift = typedArg(shiftV, "epilogue.shift", napi_float32_array, "Float32Array");
    if (shift.ElementLength() != n)
      throwRange(env, "epilogue.shift must hold one value per output column (" + std::to_string(n) + "), got " +
                          std::to_string(shift.ElementLength()));
    e.shift = floatData(shift);
    keep->push_back(shift);
  }
  auto bound = [&](const char* key, float dflt) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return dflt;
    if (!v.IsNumber()) throwType(env, std::string("epilogue.") + key + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d != d) throwRange(env, std::string("epilogue.") + key + " must not be NaN");
    return static_cast<float>(d);
  };
  if (e.kind == OutputKind::Float32) {
    e.lo = bound("min", -__builtin_inff());
    e.hi = bound("max", __builtin_inff());
    if (e.lo > e.hi) throwRange(env, "epilogue.min must not exceed epilogue.max");
  } else {
    e.codeBits = static_cast<int>(intArg(o.Get("bits"), "epilogue.bits", 1, 8));
  }
  return e;
}

Napi::Value newOutput(Napi::Env env, const Epilogue& e, size_t count, void** data) {
  switch (e.kind) {
    case OutputKind::Float32: {
      auto a = newUninitialized<float>(env, count);
      *data = a.Data();
      return a;
    }
    case OutputKind::Codes: {
      auto a = newUninitialized<uint8_t>(env, count);
      *data = a.Data();
      return a;
    }
    default: {
      auto a = newUninitialized<int32_t>(env, count);
      *data = a.Data();
      return a;
    }
  }
}

// ---- int8 path -----------------------------------------------------------------------------------

// Prepared int8 weights as JS holds them: { data: Int8Array, colSum: Int32Array, rows, cols, bits, encoding }.
struct I8WeightsArg {
  I8Weights w{};
  bool present = false;
};

const char* encodingString(Encoding e) {
  return e == Encoding::Signed ? "signed" : e == Encoding::Bipolar ? "bipolar" : "unsigned";
}

// Optional 8th argument of bitGemm: prepared weights (from prepareInt8) = run the int8 path.
I8WeightsArg int8WeightsArg(const Napi::CallbackInfo& info, const GemmSpec& s) {
  Napi::Env env = info.Env();
  I8WeightsArg r;
  if (info.Length() < 8 || info[7].IsUndefined() || info[7].IsNull()) return r;
  if (!info[7].IsObject()) throwType(env, "int8Weights must be prepared weights (from prepareInt8())");
  auto o = info[7].As<Napi::Object>();
  r.w.n = static_cast<size_t>(intArg(o.Get("rows"), "int8Weights.rows", 0, int64_t{1} << 31));
  r.w.k = static_cast<size_t>(intArg(o.Get("cols"), "int8Weights.cols", 1, int64_t{1} << 31));
  r.w.bits = static_cast<int>(intArg(o.Get("bits"), "int8Weights.bits", 1, 8));
  r.w.enc = encodingArg(o.Get("encoding"), "int8Weights.encoding");
  auto data = typedArg(o.Get("data"), "int8Weights.data", napi_int8_array, "Int8Array");
  auto sums = typedArg(o.Get("colSum"), "int8Weights.colSum", napi_int32_array, "Int32Array");
  if (data.ElementLength() != i8WeightBytes(r.w.n, r.w.k))
    throwRange(env, "int8Weights.data must hold " + std::to_string(i8WeightBytes(r.w.n, r.w.k)) + " bytes, got " +
                        std::to_string(data.ElementLength()));
  if (sums.ElementLength() != i8NPad(r.w.n))
    throwRange(env, "int8Weights.colSum must hold " + std::to_string(i8NPad(r.w.n)) + " values, got " +
                        std::to_string(sums.ElementLength()));
  r.w.data = typedData<const int8_t>(data);
  r.w.colSum = typedData<const int32_t>(sums);
  const std::string bad = checkI8Weights(s, r.w);
  if (!bad.empty()) throwRange(env, "int8Weights do not fit b: " + bad);
  r.present = true;
  return r;
}

// prepareInt8(b, bBits, bEncoding) -> prepared weights for the int8 path of bitGemm.
struct PrepareArgs {
  PackedView b;
  int bits;
  Encoding enc;
};

PrepareArgs prepareArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throwType(env, "prepareInt8(b, bBits, bEncoding) takes 3 arguments");
  PrepareArgs p{};
  p.b = packedArg(info[0], "b");
  p.bits = static_cast<int>(intArg(info[1], "bBits", 1, p.b.planes));
  p.enc = encodingArg(info[2], "bEncoding");
  return p;
}

// A new prepared-weights object (64-byte aligned data) for p; *data and *sums receive the storage.
Napi::Object newI8Weights(Napi::Env env, const PrepareArgs& p, int8_t** data, int32_t** sums) {
  const size_t bytes = i8WeightBytes(p.b.rows, p.b.cols);
  auto buf = Napi::ArrayBuffer::New(env, bytes + 64);
  const uintptr_t base = reinterpret_cast<uintptr_t>(buf.Data());
  const size_t offset = ((base + 63) & ~uintptr_t{63}) - base;
  *data = reinterpret_cast<int8_t*>(base + offset);
  auto colSum = Napi::Int32Array::New(env, i8NPad(p.b.rows));
  *sums = colSum.Data();
  auto o = Napi::Object::New(env);
  o.Set("data", Napi::Int8Array::New(env, bytes, buf, offset));
  o.Set("colSum", colSum);
  o.Set("rows", Napi::Number::New(env, static_cast<double>(p.b.rows)));
  o.Set("cols", Napi::Number::New(env, static_cast<double>(p.b.cols)));
  o.Set("bits", Napi::Number::New(env, p.bits));
  o.Set("encoding", Napi::String::New(env, encodingString(p.enc)));
  return o;
}

// The variant that rebuilds weight bytes (the layout does not depend on it).
const I8Kernel& prepareKernel(Napi::Env env) { return i8KernelFor(*instance(env).isa, 256); }

Napi::Value PrepareInt8(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PrepareArgs p = prepareArgs(info);
  int8_t* data = nullptr;
  int32_t* sums = nullptr;
  Napi::Object o = newI8Weights(env, p, &data, &sums);
  prepareI8Weights(prepareKernel(env), p.b, p.bits, p.enc, data, sums, instance(env).threads);
  return o;
}

// gemmPath(aBits, bBits, m, n, k) -> 'int8' | 'bitserial': what automatic dispatch picks on this ISA.
Napi::Value GemmPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "gemmPath(aBits, bBits, m, n, k) takes 5 arguments");
  const int aBits = static_cast<int>(intArg(info[0], "aBits", 1, 8));
  const int bBits = static_cast<int>(intArg(info[1], "bBits", 1, 8));
  const size_t m = static_cast<size_t>(intArg(info[2], "m", 0, int64_t{1} << 31));
  const size_t n = static_cast<size_t>(intArg(info[3], "n", 0, int64_t{1} << 31));
  const size_t k = static_cast<size_t>(intArg(info[4], "k", 1, int64_t{1} << 31));
  return Napi::String::New(env, preferInt8(*instance(env).isa, aBits, bBits, m, n, k) ? "int8" : "bitserial");
}

// int8Kernel(m?) -> name of the int8 variant the current ISA uses for an m-row GEMM (default 256).
Napi::Value Int8Kernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t m = 256;
  if (info.Length() >= 1 && !info[0].IsUndefined()) m = static_cast<size_t>(intArg(info[0], "m", 0, int64_t{1} << 31));
  return Napi::String::New(env, i8KernelFor(*instance(env).isa, m).name);
}

Napi::Value AvailableInt8Kernels(const Napi::CallbackInfo& info) {
  auto arr = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (const I8Kernel* k : availableI8Kernels()) arr.Set(i++, Napi::String::New(info.Env(), k->name));
  return arr;
}

Napi::Value BitGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GemmSpec s = gemmArgs(info);
  std::vector<Napi::Value> keep;
  const Epilogue e = epilogueArg(info, s.b.rows, &keep);
  const I8WeightsArg w = int8WeightsArg(info, s);
  void* data = nullptr;
  Napi::Value c = newOutput(env, e, s.a.rows * s.b.rows, &data);
  Instance& inst = instance(env);
  Int8Route route;
  if (w.present) route = Int8Route{&i8KernelFor(*inst.isa, s.a.rows), &w.w};
  bitGemm(*inst.isa, s, data, e, inst.threads, route);
  return c;
}

// ---- async jobs ----------------------------------------------------------------------------------

// A job on the kernel pool: phases of independent tasks run one after another (each phase only
// once the previous one has finished), then the promise resolves with `result` on the JS thread
// through a thread-safe function. Inputs stay pinned by references until then; `owned` keeps
// the plan the phases run alive.
struct AsyncJob {
  struct Phase {
    size_t tasks;
    TaskFn run;
  };
  Napi::Promise::Deferred deferred;
  const char* name;
  std::vector<Napi::Reference<Napi::Value>> pinned;
  Napi::Reference<Napi::Value> result;
  std::vector<Phase> phases;
  std::shared_ptr<void> owned;
  Napi::ThreadSafeFunction tsfn;
  std::string error;
  Instance* inst = nullptr;
  int width = 1;
  // Optional: runs on the JS thread after the last phase, before the promise resolves with
  // `result` (to fill in what only the finished run knows).
  std::function<void(Napi::Value result)> beforeResolve;
  AsyncJob(Napi::Env env, const char* jobName) : deferred(Napi::Promise::Deferred::New(env)), name(jobName) {}
  void pin(const Napi::Value& v) { pinned.push_back(Napi::Persistent(v)); }
};

void finishAsync(AsyncJob* raw) {
  Napi::ThreadSafeFunction tsfn = raw->tsfn;
  tsfn.BlockingCall([raw](Napi::Env env, Napi::Function) {
    std::unique_ptr<AsyncJob> job(raw);
    if (job->error.empty()) {
      if (job->beforeResolve) job->beforeResolve(job->result.Value());
      job->deferred.Resolve(job->result.Value());
    } else {
      job->deferred.Reject(Napi::Error::New(env, std::string(job->name) + " failed: " + job->error).Value());
    }
    job->tsfn.Release();
    std::lock_guard<std::mutex> lock(job->inst->mutex);
    --job->inst->pending;
    job->inst->cv.notify_all();
  });
}

void runPhase(AsyncJob* raw, size_t phase) {
  if (phase == raw->phases.size()) return finishAsync(raw);
  const AsyncJob::Phase& p = raw->phases[phase];
  parallelRunAsync(p.tasks, raw->width, p.run, [raw, phase](std::exception_ptr err) {
    if (err) {
      try {
        std::rethrow_exception(err);
      } catch (const std::exception& e) {
        raw->error = e.what();
      } catch (...) {
        raw->error = "unknown native error";
      }
      return finishAsync(raw);
    }
    runPhase(raw, phase + 1);
  });
}

// Builds a job with `setup` (which validates the arguments and may throw a Napi::Error: the
// promise then rejects with it) and starts it on the pool.
Napi::Value startAsync(Napi::Env env, const char* name, const std::function<void(AsyncJob&)>& setup) {
  auto job = std::make_unique<AsyncJob>(env, name);
  try {
    setup(*job);
    job->inst = &instance(env);
    job->width = job->inst->threads;
    job->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), std::string("anyprec.") + name, 0, 1);
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
    return job->deferred.Promise();
  }
  Napi::Promise promise = job->deferred.Promise();
  AsyncJob* raw = job.release();
  {
    std::lock_guard<std::mutex> lock(raw->inst->mutex);
    ++raw->inst->pending;
  }
  runPhase(raw, 0);
  return promise;
}

// A GEMM plan together with the prepared-weights view it points to (kept alive with it).
struct GemmJob {
  I8Weights weights{};
  std::unique_ptr<GemmPlan> plan;
};

Napi::Value BitGemmAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "bitGemmAsync", [&](AsyncJob& job) {
    const GemmSpec s = gemmArgs(info);
    std::vector<Napi::Value> keep;
    const Epilogue e = epilogueArg(info, s.b.rows, &keep);
    const I8WeightsArg w = int8WeightsArg(info, s);
    void* data = nullptr;
    Napi::Value c = newOutput(info.Env(), e, s.a.rows * s.b.rows, &data);
    const KernelTable& isa = *instance(info.Env()).isa;
    auto gj = std::make_shared<GemmJob>();
    gj->weights = w.w;
    Int8Route route;
    if (w.present) route = Int8Route{&i8KernelFor(isa, s.a.rows), &gj->weights};
    gj->plan = std::make_unique<GemmPlan>(isa, s, data, e, route);
    job.pin(info[0]);
    job.pin(info[1]);
    if (w.present) job.pin(info[7]);
    for (const auto& k : keep) job.pin(k);
    job.result = Napi::Persistent(c);
    GemmPlan* plan = gj->plan.get();
    if (plan->prepareTasks() > 0) job.phases.push_back({plan->prepareTasks(), [plan](size_t t) { plan->prepare(t); }});
    job.phases.push_back({plan->tasks(), [plan](size_t t) { plan->run(t); }});
    job.owned = gj;
  });
}

Napi::Value PrepareInt8Async(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "prepareInt8Async", [&](AsyncJob& job) {
    const PrepareArgs p = prepareArgs(info);
    int8_t* data = nullptr;
    int32_t* sums = nullptr;
    Napi::Object o = newI8Weights(info.Env(), p, &data, &sums);
    const I8Kernel* kern = &prepareKernel(info.Env());
    job.pin(info[0]);
    job.result = Napi::Persistent(Napi::Value(o));
    job.phases.push_back({prepareI8WeightsTasks(p.b.rows), [kern, p, data, sums](size_t t) {
                            prepareI8WeightsTask(*kern, p.b, p.bits, p.enc, data, sums, t);
                          }});
  });
}

// ---- precision-gated GEMM ------------------------------------------------------------------------

// gatedGemm(a, b, aBits, highBits, bBits, bEncoding, thresholds: Float32Array, strategy?,
//           b2?, b2Bits?, b2Encoding?)
// -> { out: Int32Array, mask: Uint8Array, on: number }. a is unsigned; thresholds are in out's
// integer units (gated.h); b2 (optional, with b2Bits and b2Encoding) is a second weight operand
// added to b (GatedSpec::b2).
struct GatedArgs {
  GatedSpec spec;
  Napi::Value thresholds;
  Napi::Value b2;  // empty without a second operand
};

GatedArgs gatedArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7)
    throwType(env, "gatedGemm(a, b, aBits, highBits, bBits, bEncoding, thresholds, strategy?, b2?, b2Bits?, b2Encoding?) "
                   "takes 7 to 11 arguments");
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
  s.thresholds = floatData(thr);
  for (size_t j = 0; j < s.b.rows; ++j) {
    if (s.thresholds[j] != s.thresholds[j]) throwRange(env, "thresholds[" + std::to_string(j) + "] is NaN");
  }
  g.thresholds = thr;
  s.strategy = GatedStrategy::Auto;
  if (info.Length() > 7 && !info[7].IsUndefined() && !info[7].IsNull()) {
    if (!info[7].IsString()) throwType(env, "strategy must be a string: 'auto', 'compact', 'tiles' or 'hybrid'");
    const std::string st = info[7].As<Napi::String>().Utf8Value();
    if (st == "auto") s.strategy = GatedStrategy::Auto;
    else if (st == "compact") s.strategy = GatedStrategy::Compact;
    else if (st == "tiles") s.strategy = GatedStrategy::Tiles;
    else if (st == "hybrid") s.strategy = GatedStrategy::Hybrid;
    else throwRange(env, "strategy must be 'auto', 'compact', 'tiles' or 'hybrid', got '" + st + "'");
  }
  if (info.Length() > 8 && !info[8].IsUndefined() && !info[8].IsNull()) {
    if (info.Length() < 11) throwType(env, "gatedGemm: b2 needs b2Bits and b2Encoding");
    s.b2 = packedArg(info[8], "b2");
    s.b2Bits = static_cast<int>(intArg(info[9], "b2Bits", 1, 8));
    s.b2Enc = encodingArg(info[10], "b2Encoding");
    g.b2 = info[8];
  }
  const CheckResult r = checkGated(s);
  if (r.kind == ErrorKind::Type) throwType(env, r.message);
  if (r.kind == ErrorKind::Range) throwRange(env, r.message);
  return g;
}

Napi::Object gatedResult(Napi::Env env, size_t count, int32_t** out, uint8_t** mask) {
  auto o = newUninitialized<int32_t>(env, count);
  auto m = newUninitialized<uint8_t>(env, count);
  *out = o.Data();
  *mask = m.Data();
  auto result = Napi::Object::New(env);
  result.Set("out", o);
  result.Set("mask", m);
  result.Set("on", Napi::Number::New(env, 0));
  return result;
}

Napi::Value GatedGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GatedArgs g = gatedArgs(info);
  int32_t* out = nullptr;
  uint8_t* mask = nullptr;
  Napi::Object result = gatedResult(env, g.spec.a.rows * g.spec.b.rows, &out, &mask);
  Instance& inst = instance(env);
  const uint64_t on = gatedGemm(*inst.isa, g.spec, out, mask, inst.threads);
  result.Set("on", Napi::Number::New(env, static_cast<double>(on)));
  return result;
}

Napi::Value GatedGemmAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "gatedGemmAsync", [&](AsyncJob& job) {
    const GatedArgs g = gatedArgs(info);
    int32_t* out = nullptr;
    uint8_t* mask = nullptr;
    Napi::Object result = gatedResult(info.Env(), g.spec.a.rows * g.spec.b.rows, &out, &mask);
    auto plan = std::make_shared<GatedPlan>(*instance(info.Env()).isa, g.spec, out, mask);
    job.pin(info[0]);
    job.pin(info[1]);
    job.pin(g.thresholds);
    if (!g.b2.IsEmpty()) job.pin(g.b2);
    job.result = Napi::Persistent(Napi::Value(result));
    job.phases.push_back({plan->tasks(), [p = plan.get()](size_t t) { p->run(t); }});
    job.beforeResolve = [p = plan.get()](Napi::Value r) {
      r.As<Napi::Object>().Set("on", Napi::Number::New(r.Env(), static_cast<double>(p->onCount())));
    };
    job.owned = plan;
  });
}

// ---- float GEMM ----------------------------------------------------------------------------------


// floatGemm(a: Float32Array, m, k, b: Float32Array, n, bias?: Float32Array | null)
FloatGemmSpec floatGemmArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "floatGemm(a, m, k, b, n, bias?) takes 5 or 6 arguments");
  constexpr int64_t kMaxDim = int64_t{1} << 31;
  FloatGemmSpec s{};
  auto a = typedArg(info[0], "a", napi_float32_array, "Float32Array");
  s.m = static_cast<size_t>(intArg(info[1], "m", 0, kMaxDim));
  s.k = static_cast<size_t>(intArg(info[2], "k", 1, kMaxDim));
  auto b = typedArg(info[3], "b", napi_float32_array, "Float32Array");
  s.n = static_cast<size_t>(intArg(info[4], "n", 0, kMaxDim));
  if (a.ElementLength() != s.m * s.k)
    throwRange(env, "a must hold m*k = " + std::to_string(s.m * s.k) + " values, got " + std::to_string(a.ElementLength()));
  if (b.ElementLength() != s.n * s.k)
    throwRange(env, "b must hold n*k = " + std::to_string(s.n * s.k) + " values, got " + std::to_string(b.ElementLength()));
  s.a = floatData(a);
  s.b = floatData(b);
  if (info.Length() > 5 && !info[5].IsUndefined() && !info[5].IsNull()) {
    auto bias = typedArg(info[5], "bias", napi_float32_array, "Float32Array, null or undefined");
    if (bias.ElementLength() != s.n)
      throwRange(env, "bias must hold n = " + std::to_string(s.n) + " values, got " + std::to_string(bias.ElementLength()));
    s.bias = floatData(bias);
  }
  return s;
}

Napi::Value FloatGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const FloatGemmSpec s = floatGemmArgs(info);
  auto c = newUninitialized<float>(env, s.m * s.n);
  Instance& inst = instance(env);
  floatGemm(*floatTableFor(*inst.isa), s, c.Data(), inst.threads);
  return c;
}

Napi::Value FloatGemmAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "floatGemmAsync", [&](AsyncJob& job) {
    const FloatGemmSpec s = floatGemmArgs(info);
    auto c = newUninitialized<float>(info.Env(), s.m * s.n);
    auto plan = std::make_shared<FloatGemmPlan>(*floatTableFor(*instance(info.Env()).isa), s, c.Data());
    job.pin(info[0]);
    job.pin(info[3]);
    if (s.bias != nullptr) job.pin(info[5]);
    job.result = Napi::Persistent(Napi::Value(c));
    job.phases.push_back({plan->packTasks(), [p = plan.get()](size_t t) { p->pack(t); }});
    job.phases.push_back({plan->tasks(), [p = plan.get()](size_t t) { p->run(t); }});
    job.owned = plan;
  });
}

// popcountCeiling(iterations) -> { checksum, bitMacs } on the current ISA, one thread.
Napi::Value PopcountCeiling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwType(env, "iterations must be a number");
  const uint64_t iters = static_cast<uint64_t>(intArg(info[0], "iterations", 1, int64_t{1} << 40));
  const KernelTable* t = instance(env).isa;
  const uint64_t sum = t->ceiling(iters, 0x1234567u + iters);
  auto out = Napi::Object::New(env);
  out.Set("checksum", Napi::Number::New(env, static_cast<double>(sum)));
  out.Set("bitMacs", Napi::Number::New(env, static_cast<double>(iters) * static_cast<double>(t->ceilingBitsPerIter)));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new Instance());
  exports.Set("isa", Napi::Function::New(env, Isa, "isa"));
  exports.Set("availableIsas", Napi::Function::New(env, AvailableIsas, "availableIsas"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("threads", Napi::Function::New(env, Threads, "threads"));
  exports.Set("hardwareThreads", Napi::Function::New(env, HardwareThreads, "hardwareThreads"));
  exports.Set("pack", Napi::Function::New(env, Pack, "pack"));
  exports.Set("im2colFloat", Napi::Function::New(env, Im2colFloat, "im2colFloat"));
  exports.Set("maxPool", Napi::Function::New(env, MaxPool, "maxPool"));
  exports.Set("packConv", Napi::Function::New(env, PackConv, "packConv"));
  exports.Set("channelAffine", Napi::Function::New(env, ChannelAffine, "channelAffine"));
  exports.Set("quantizeActivations", Napi::Function::New(env, QuantizeActivations, "quantizeActivations"));
  exports.Set("codesToFloat", Napi::Function::New(env, CodesToFloat, "codesToFloat"));
  exports.Set("unpack", Napi::Function::New(env, Unpack, "unpack"));
  exports.Set("bitGemm", Napi::Function::New(env, BitGemm, "bitGemm"));
  exports.Set("bitGemmAsync", Napi::Function::New(env, BitGemmAsync, "bitGemmAsync"));
  exports.Set("prepareInt8", Napi::Function::New(env, PrepareInt8, "prepareInt8"));
  exports.Set("prepareInt8Async", Napi::Function::New(env, PrepareInt8Async, "prepareInt8Async"));
  exports.Set("gemmPath", Napi::Function::New(env, GemmPath, "gemmPath"));
  exports.Set("int8Kernel", Napi::Function::New(env, Int8Kernel, "int8Kernel"));
  exports.Set("availableInt8Kernels", Napi::Function::New(env, AvailableInt8Kernels, "availableInt8Kernels"));
  exports.Set("gatedGemm", Napi::Function::New(env, GatedGemm, "gatedGemm"));
  exports.Set("gatedGemmAsync", Napi::Function::New(env, GatedGemmAsync, "gatedGemmAsync"));
  exports.Set("floatGemm", Napi::Function::New(env, FloatGemm, "floatGemm"));
  exports.Set("floatGemmAsync", Napi::Function::New(env, FloatGemmAsync, "floatGemmAsync"));
  exports.Set("popcountCeiling", Napi::Function::New(env, PopcountCeiling, "popcountCeiling"));
  RegisterTrainBindings(env, exports);
  const char* forced = std::getenv("ANYPREC_ISA");
  exports.Set("isaFromEnvironment", forced && *forced && findTable(forced) == nullptr
                                        ? Napi::Value(Napi::String::New(env, forced))
                                        : env.Null());
  return exports;
}

}  // namespace
}  // namespace anyprec

static Napi::Object InitAnyprec(Napi::Env env, Napi::Object exports) { return anyprec::Init(env, exports); }

NODE_API_MODULE(anyprec, InitAnyprec)
