// Bindings of the GEMM entry (gemm/gemm.h): bitGemm and its int8 route, prepared int8 weights,
// and what the route picks (gemmPath, int8Kernel). Every choice is the kernels'.
#include <memory>

#include "addon.h"
#include "async_job.h"
#include "bitplane/pack.h"
#include "conv/conv.h"
#include "gemm/gemm.h"

namespace anyprec {
namespace addon {
// Optional argument `at` (bitGemm: the 8th): prepared weights { data: Int8Array, colSum: Int32Array,
// rows, cols, bits, encoding } (from prepareInt8) = run the int8 path; false without them.
bool int8WeightsArg(const Napi::CallbackInfo& info, size_t at, const GemmSpec& s, I8Weights* w) {
  Napi::Env env = info.Env();
  if (info.Length() <= at || info[at].IsUndefined() || info[at].IsNull()) return false;
  if (!info[at].IsObject()) throwType(env, "int8Weights must be prepared weights (from prepareInt8())");
  auto o = info[at].As<Napi::Object>();
  w->n = dimArg(o.Get("rows"), "int8Weights.rows", 0);
  w->k = dimArg(o.Get("cols"), "int8Weights.cols", 1);
  w->bits = static_cast<int>(intArg(o.Get("bits"), "int8Weights.bits", 1, 8));
  w->enc = encodingArg(o.Get("encoding"), "int8Weights.encoding");
  auto data = typedArg(o.Get("data"), "int8Weights.data", napi_int8_array, "Int8Array");
  auto sums = typedArg(o.Get("colSum"), "int8Weights.colSum", napi_int32_array, "Int32Array");
  const size_t bytes = int8WeightBytesChecked(w->n, w->k);
  if (data.ElementLength() != bytes)
    throwRange(env, "int8Weights.data must hold " + std::to_string(bytes) + " bytes, got " +
                        std::to_string(data.ElementLength()));
  if (sums.ElementLength() != int8ColSumCount(w->n))
    throwRange(env, "int8Weights.colSum must hold " + std::to_string(int8ColSumCount(w->n)) + " values, got " +
                        std::to_string(sums.ElementLength()));
  w->data = typedData<const int8_t>(data);
  w->colSum = typedData<const int32_t>(sums);
  const std::string bad = checkI8Weights(s, *w);
  if (!bad.empty()) throwRange(env, "int8Weights do not fit b: " + bad);
  return true;
}

namespace {

// bitGemm(a, b, aBits, bBits, aEncoding, bEncoding, epilogue?, int8Weights?)
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
  throwIfFailed(env, checkGemm(s));
  return s;
}

// epilogue.codes (output 'float' only): { bits, scale, shift, out } — the dual output, the codes of
// every stored value (quantizeUnit(y * scale[j] + shift[j])) written to `out`, a Uint8Array of m*n
// sharing no memory with the call's inputs or the epilogue's arrays (the float output is checked in
// GemmCall).
void codesArg(const Napi::Object& eo, const Napi::Value& v, size_t m, size_t n, Epilogue* e,
              std::vector<Napi::Value>* keep, const std::vector<Napi::Value>& inputs) {
  Napi::Env env = eo.Env();
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject()) throwType(env, "epilogue.codes must be an object { bits, scale, shift, out }");
  auto o = v.As<Napi::Object>();
  e->codeBits = static_cast<int>(intArg(o.Get("bits"), "epilogue.codes.bits", 1, 8));
  e->codeScale = floatsArg(o.Get("scale"), "epilogue.codes.scale", n, "one value per output column");
  e->codeShift = floatsArg(o.Get("shift"), "epilogue.codes.shift", n, "one value per output column");
  const Napi::Value none = env.Undefined();
  const Napi::Value shift = eo.Get("shift"), residual = eo.Get("residual");
  std::vector<Napi::Value> others(inputs);
  for (const Napi::Value& x : {eo.Get("scale"), shift.IsTypedArray() ? shift : none,
                               residual.IsTypedArray() ? residual : none, o.Get("scale"), o.Get("shift")})
    others.push_back(x);
  e->codes = static_cast<uint8_t*>(outputArg(o.Get("out"), "epilogue.codes.out", napi_uint8_array, "Uint8Array",
                                             gemmOutputCount(m, n, 1), others));
  if (e->codes == nullptr) throwType(env, "epilogue.codes.out must be a Uint8Array (where the codes go)");
  keep->push_back(o.Get("scale"));
  keep->push_back(o.Get("shift"));
  keep->push_back(o.Get("out"));
}

}  // namespace

// bitGemm's optional 7th argument (and the gated GEMM's epilogue): { output: 'int32' | 'float' |
// 'codes', scale, shift?, min?, max?, bits?, residual?, codes? } (residual: 'float' only, m x n floats
// added after the clamp; codes: see codesArg, checked against `inputs`, the call's other arrays).
// `keep` receives the arrays the epilogue reads (for async jobs to pin).
Epilogue epilogueArg(const Napi::Value& arg, size_t m, size_t n, std::vector<Napi::Value>* keep,
                     const std::vector<Napi::Value>& inputs) {
  Napi::Env env = arg.Env();
  Epilogue e;
  if (arg.IsUndefined() || arg.IsNull()) return e;
  if (!arg.IsObject()) throwType(env, "epilogue must be an object { output, scale, shift?, min?, max?, bits? }");
  auto o = arg.As<Napi::Object>();
  Napi::Value out = o.Get("output");
  if (!out.IsString()) throwType(env, "epilogue.output must be 'int32', 'float' or 'codes'");
  const std::string kind = out.As<Napi::String>().Utf8Value();
  if (kind == "int32") return e;
  if (kind == "float") e.kind = OutputKind::Float32;
  else if (kind == "codes") e.kind = OutputKind::Codes;
  else throwRange(env, "epilogue.output must be 'int32', 'float' or 'codes', got '" + kind + "'");
  e.scale = floatsArg(o.Get("scale"), "epilogue.scale", n, "one value per output column");
  keep->push_back(o.Get("scale"));
  Napi::Value shift = o.Get("shift");
  if (!shift.IsUndefined() && !shift.IsNull()) {
    e.shift = floatsArg(shift, "epilogue.shift", n, "one value per output column");
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
  Napi::Value residual = o.Get("residual");
  if (!residual.IsUndefined() && !residual.IsNull()) {
    if (e.kind != OutputKind::Float32) throwRange(env, "epilogue.residual needs output 'float'");
    auto r = typedArg(residual, "epilogue.residual", napi_float32_array, "Float32Array");
    const size_t count = gemmOutputCount(m, n, sizeof(float));
    if (r.ElementLength() != count)
      throwRange(env, "epilogue.residual must hold m*n = " + std::to_string(count) + " values, got " +
                          std::to_string(r.ElementLength()));
    e.residual = typedData<const float>(r);
    keep->push_back(residual);
  }
  if (e.kind == OutputKind::Float32) {
    e.lo = bound("min", -__builtin_inff());
    e.hi = bound("max", __builtin_inff());
    if (e.lo > e.hi) throwRange(env, "epilogue.min must not exceed epilogue.max");
    codesArg(o, o.Get("codes"), m, n, &e, keep, inputs);
  } else {
    e.codeBits = static_cast<int>(intArg(o.Get("bits"), "epilogue.bits", 1, 8));
  }
  return e;
}

// The output array of an M x N GEMM for the epilogue's type; *data receives its memory.
Napi::Value newOutput(Napi::Env env, const Epilogue& e, size_t m, size_t n, void** data) {
  const size_t count = gemmOutputCount(m, n, outputElementBytes(e.kind));
  if (e.kind == OutputKind::Float32) {
    auto a = newUninitialized<float>(env, count);
    *data = a.Data();
    return a;
  }
  if (e.kind == OutputKind::Codes) {
    auto a = newUninitialized<uint8_t>(env, count);
    *data = a.Data();
    return a;
  }
  auto a = newUninitialized<int32_t>(env, count);
  *data = a.Data();
  return a;
}

// The caller's output array (sync entries only; `outV` undefined: nullptr, the entry allocates): a
// typed array of the epilogue's type and m*n elements sharing no memory with `ins` (the call's
// operands) or the epilogue's arrays, nor with the epilogue's codes output.
void* callerOutput(const Napi::Value& outV, const Napi::Value& epilogue, const Epilogue& e, size_t m, size_t n,
                   std::vector<Napi::Value> ins) {
  const size_t count = gemmOutputCount(m, n, outputElementBytes(e.kind));
  if (epilogue.IsObject()) {
    auto o = epilogue.As<Napi::Object>();
    for (const char* key : {"scale", "shift", "residual"}) ins.push_back(o.Get(key));
  }
  void* data = nullptr;
  if (e.kind == OutputKind::Float32) data = outputArg(outV, "out", napi_float32_array, "Float32Array", count, ins);
  else if (e.kind == OutputKind::Codes) data = outputArg(outV, "out", napi_uint8_array, "Uint8Array", count, ins);
  else data = outputArg(outV, "out", napi_int32_array, "Int32Array", count, ins);
  if (data != nullptr && e.codes != nullptr) {  // the caller's float output and the caller's codes
    const auto* f = static_cast<const uint8_t*>(data);
    const uint8_t* c = e.codes;
    const size_t cells = m * n;
    if (c < f + cells * sizeof(float) && f < c + cells)
      throwRange(outV.Env(), "epilogue.codes.out must not share memory with out");
  }
  return data;
}


namespace {


// Everything one bitGemm call needs, checked; the plan and the weights' view live in it.
struct GemmCall {
  GemmSpec spec;
  Epilogue epi;
  I8Weights weights{};
  bool int8 = false;
  std::vector<Napi::Value> keep;
  Napi::Value out;
  void* data = nullptr;
  std::unique_ptr<GemmPlan> plan;
  // sync: the 9th argument may be the caller's output array (reused between calls).
  GemmCall(const Napi::CallbackInfo& info, bool sync) {
    spec = gemmArgs(info);
    epi = epilogueArg(info[6], spec.a.rows, spec.b.rows, &keep, {info[0], info[1]});
    int8 = int8WeightsArg(info, 7, spec, &weights);
    // The codes' array is the caller's; an async job could outlive (or race a transfer of) it.
    if (!sync && epi.codes != nullptr) throwType(info.Env(), "epilogue.codes is for bitGemm (sync) only");
    if (sync && info.Length() >= 9) data = callerOutput(info[8], info[6], epi, spec.a.rows, spec.b.rows, {info[0], info[1]});
    if (data == nullptr) out = newOutput(info.Env(), epi, spec.a.rows, spec.b.rows, &data);
    else out = info[8];
    // With prepared weights the int8 path runs the platform's variant for this M (gemm/gemm.h).
    plan.reset(new GemmPlan(*instance(info.Env()).isa, spec, data, epi, Int8Route{nullptr, int8 ? &weights : nullptr}));
  }
};

Napi::Value BitGemm(const Napi::CallbackInfo& info) {
  GemmCall call(info, true);
  runGemm(*call.plan, instance(info.Env()).threads);
  return call.out;
}

Napi::Value BitGemmAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "bitGemmAsync", [&](AsyncJob& job) {
    auto call = std::make_shared<GemmCall>(info, false);
    job.pin(info[0]);
    job.pin(info[1]);
    if (call->int8) job.pin(info[7]);
    for (const auto& k : call->keep) job.pin(k);
    job.result = Napi::Persistent(call->out);
    const GemmPlan* plan = call->plan.get();
    if (plan->prepareTasks() > 0) job.phases.push_back({plan->prepareTasks(), [plan](size_t t) { plan->prepare(t); }});
    job.phases.push_back({plan->tasks(), [plan](size_t t) { plan->run(t); }});
    job.owned = call;
  });
}

// int8Codes(codes, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, aBits, aEncoding, b, bBits, bEncoding,
//           epilogue?, int8Weights): the int8 path with A from NHWC activation codes lowered for the
// convolution (a linear layer: the 1 x 1 convolution of an M x 1 x 1 x K image), no bit planes.
Napi::Value Int8Codes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 20)
    throwType(env, "int8Codes(codes, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, aBits, aEncoding, b, bBits, "
                   "bEncoding, epilogue, int8Weights) takes 20 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  const ConvShape shape = convShapeArgs(info, 1);
  GemmSpec spec{};
  spec.aBits = static_cast<int>(intArg(info[13], "aBits", 1, 8));
  spec.aEnc = encodingArg(info[14], "aEncoding");
  spec.a = PackedView{nullptr, shape.rows(), shape.k(), spec.aBits, nullptr};
  spec.b = packedArg(info[15], "b");
  spec.bBits = static_cast<int>(intArg(info[16], "bBits", 1, 8));
  spec.bEnc = encodingArg(info[17], "bEncoding");
  throwIfFailed(env, checkGemm(spec));
  if (codes.ElementLength() != shape.inputCount())
    throwRange(env, "codes must hold n*h*w*c = " + std::to_string(shape.inputCount()) + " codes, got " +
                        std::to_string(codes.ElementLength()));
  const uint8_t* src = typedData<const uint8_t>(codes);
  const size_t bad = findBadCode(src, codes.ElementLength(), spec.aBits);
  if (bad != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(bad) + "] = " + std::to_string(src[bad]) + " does not fit in " +
                        std::to_string(spec.aBits) + " bits");
  std::vector<Napi::Value> keep;
  const Epilogue epi = epilogueArg(info[18], spec.a.rows, spec.b.rows, &keep, {info[0], info[15]});
  I8Weights weights{};
  if (!int8WeightsArg(info, 19, spec, &weights)) throwType(env, "int8Weights must be prepared weights (from prepareInt8())");
  // Optional 21st argument: the caller's output array (reused between calls).
  void* data = info.Length() > 20 ? callerOutput(info[20], info[18], epi, spec.a.rows, spec.b.rows, {info[0], info[15]}) : nullptr;
  Napi::Value out = data != nullptr ? info[20] : newOutput(env, epi, spec.a.rows, spec.b.rows, &data);
  const Instance& inst = instance(env);
  const GemmPlan plan(*inst.isa, spec, I8Codes{src, shape}, data, epi, Int8Route{nullptr, &weights});
  runGemm(plan, inst.threads);
  return out;
}

// prepareInt8(b, bBits, bEncoding) -> prepared weights for the int8 path of bitGemm.
struct PrepareCall {
  PackedView b;
  int bits;
  Encoding enc;
  int8_t* data = nullptr;
  int32_t* sums = nullptr;
  Napi::Object out;
  explicit PrepareCall(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3) throwType(env, "prepareInt8(b, bBits, bEncoding) takes 3 arguments");
    b = packedArg(info[0], "b");
    bits = static_cast<int>(intArg(info[1], "bBits", 1, b.planes));
    enc = encodingArg(info[2], "bEncoding");
    // 64-byte aligned and zero-filled (padding columns and K bytes stay zero).
    auto dataArray = newAligned<int8_t>(env, int8WeightBytesChecked(b.rows, b.cols), &data, true);
    auto colSum = Napi::Int32Array::New(env, int8ColSumCount(b.rows));
    sums = colSum.Data();
    out = Napi::Object::New(env);
    out.Set("data", dataArray);
    out.Set("colSum", colSum);
    out.Set("rows", Napi::Number::New(env, static_cast<double>(b.rows)));
    out.Set("cols", Napi::Number::New(env, static_cast<double>(b.cols)));
    out.Set("bits", Napi::Number::New(env, bits));
    out.Set("encoding", Napi::String::New(env, encodingName(enc)));
  }
};

Napi::Value PrepareInt8(const Napi::CallbackInfo& info) {
  PrepareCall p(info);
  const Instance& inst = instance(info.Env());
  prepareInt8(*inst.isa, p.b, p.bits, p.enc, p.data, p.sums, inst.threads);
  return p.out;
}

Napi::Value PrepareInt8Async(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "prepareInt8Async", [&](AsyncJob& job) {
    const PrepareCall p(info);
    const Platform* isa = instance(info.Env()).isa;
    job.pin(info[0]);
    job.result = Napi::Persistent(Napi::Value(p.out));
    job.phases.push_back({prepareInt8Tasks(p.b.rows), [isa, b = p.b, bits = p.bits, enc = p.enc, data = p.data,
                                                       sums = p.sums](size_t t) {
                            prepareInt8Task(*isa, b, bits, enc, data, sums, t);
                          }});
  });
}

// The (aBits, bBits, m, n, k) of gemmPath / gemmPathRatio, checked.
struct RouteArgs {
  int aBits, bBits;
  size_t m, n, k;
};
RouteArgs routeArgs(const Napi::CallbackInfo& info, const char* name) {
  if (info.Length() < 5) throwType(info.Env(), std::string(name) + "(aBits, bBits, m, n, k) takes 5 arguments");
  return {static_cast<int>(intArg(info[0], "aBits", 1, 8)), static_cast<int>(intArg(info[1], "bBits", 1, 8)),
          dimArg(info[2], "m", 0), dimArg(info[3], "n", 0), dimArg(info[4], "k", 1)};
}

// gemmPath(aBits, bBits, m, n, k) -> 'int8' | 'bitserial': what automatic dispatch picks on this ISA.
Napi::Value GemmPathOf(const Napi::CallbackInfo& info) {
  const RouteArgs a = routeArgs(info, "gemmPath");
  return Napi::String::New(info.Env(), gemmPathName(gemmPath(*instance(info.Env()).isa, a.aBits, a.bBits, a.m, a.n, a.k)));
}

// gemmPathRatio(aBits, bBits, m, n, k) -> the rule's estimate of time(bit-serial) / time(int8).
Napi::Value GemmPathRatio(const Napi::CallbackInfo& info) {
  const RouteArgs a = routeArgs(info, "gemmPathRatio");
  return Napi::Number::New(info.Env(), gemmPathRatio(*instance(info.Env()).isa, a.aBits, a.bBits, a.m, a.n, a.k));
}

// int8Kernel(m?) -> name of the int8 variant the current ISA uses for an m-row GEMM (default 256).
Napi::Value Int8Kernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t m = 256;
  if (info.Length() >= 1 && !info[0].IsUndefined()) m = dimArg(info[0], "m", 0);
  return Napi::String::New(env, int8KernelFor(*instance(env).isa, m).name);
}

}  // namespace

void registerGemm(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "bitGemm", BitGemm);
  exportFunction(env, exports, "bitGemmAsync", BitGemmAsync);
  exportFunction(env, exports, "int8Codes", Int8Codes);
  exportFunction(env, exports, "prepareInt8", PrepareInt8);
  exportFunction(env, exports, "prepareInt8Async", PrepareInt8Async);
  exportFunction(env, exports, "gemmPath", GemmPathOf);
  exportFunction(env, exports, "gemmPathRatio", GemmPathRatio);
  exportFunction(env, exports, "int8Kernel", Int8Kernel);
}

}  // namespace addon
}  // namespace anyprec
