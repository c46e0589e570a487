// Bindings of the GEMM entry (gemm/gemm.h): bitGemm and its int8 route, prepared int8 weights,
// and what the route picks (gemmPath, int8Kernel). Every choice is the kernels'.
#include <memory>

#include "addon.h"
#include "async_job.h"
#include "gemm/gemm.h"

namespace anyprec {
namespace addon {
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

namespace {

// Optional 9th argument (sync only): the output, a typed array of the epilogue's type and m*n
// elements, sharing no memory with a, b or the epilogue's arrays; nullptr when absent.
void* outputOf(const Napi::CallbackInfo& info, const Epilogue& e, size_t m, size_t n) {
  const size_t count = gemmOutputCount(m, n, outputElementBytes(e.kind));
  const Napi::Value none = info.Env().Undefined();
  Napi::Value ins[] = {info[0], info[1], none, none, none};
  if (info[6].IsObject()) {
    auto o = info[6].As<Napi::Object>();
    ins[2] = o.Get("scale");
    ins[3] = o.Get("shift");
    ins[4] = o.Get("residual");
  }
  if (e.kind == OutputKind::Float32)
    return outputArg(info[8], "out", napi_float32_array, "Float32Array", count, {ins[0], ins[1], ins[2], ins[3], ins[4]});
  if (e.kind == OutputKind::Codes)
    return outputArg(info[8], "out", napi_uint8_array, "Uint8Array", count, {ins[0], ins[1], ins[2], ins[3]});
  return outputArg(info[8], "out", napi_int32_array, "Int32Array", count, {ins[0], ins[1]});
}

// Optional 8th argument: prepared weights { data: Int8Array, colSum: Int32Array, rows, cols, bits,
// encoding } (from prepareInt8) = run the int8 path; nullptr without them.
bool int8WeightsArg(const Napi::CallbackInfo& info, const GemmSpec& s, I8Weights* w) {
  Napi::Env env = info.Env();
  if (info.Length() < 8 || info[7].IsUndefined() || info[7].IsNull()) return false;
  if (!info[7].IsObject()) throwType(env, "int8Weights must be prepared weights (from prepareInt8())");
  auto o = info[7].As<Napi::Object>();
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
    int8 = int8WeightsArg(info, spec, &weights);
    // The codes' array is the caller's; an async job could outlive (or race a transfer of) it.
    if (!sync && epi.codes != nullptr) throwType(info.Env(), "epilogue.codes is for bitGemm (sync) only");
    if (sync && info.Length() >= 9) data = outputOf(info, epi, spec.a.rows, spec.b.rows);
    if (data == nullptr) {
      out = newOutput(info.Env(), epi, spec.a.rows, spec.b.rows, &data);
    } else {
      out = info[8];
      if (epi.codes != nullptr) {  // the caller's float output and the caller's codes
        const auto* f = static_cast<const uint8_t*>(data);
        const uint8_t* c = epi.codes;
        const size_t count = spec.a.rows * spec.b.rows;
        if (c < f + count * sizeof(float) && f < c + count)
          throwRange(info.Env(), "epilogue.codes.out must not share memory with out");
      }
    }
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

// gemmPath(aBits, bBits, m, n, k) -> 'int8' | 'bitserial': what automatic dispatch picks on this ISA.
Napi::Value GemmPathOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throwType(env, "gemmPath(aBits, bBits, m, n, k) takes 5 arguments");
  const int aBits = static_cast<int>(intArg(info[0], "aBits", 1, 8));
  const int bBits = static_cast<int>(intArg(info[1], "bBits", 1, 8));
  const size_t m = dimArg(info[2], "m", 0), n = dimArg(info[3], "n", 0), k = dimArg(info[4], "k", 1);
  return Napi::String::New(env, gemmPathName(gemmPath(*instance(env).isa, aBits, bBits, m, n, k)));
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
  exportFunction(env, exports, "prepareInt8", PrepareInt8);
  exportFunction(env, exports, "prepareInt8Async", PrepareInt8Async);
  exportFunction(env, exports, "gemmPath", GemmPathOf);
  exportFunction(env, exports, "int8Kernel", Int8Kernel);
}

}  // namespace addon
}  // namespace anyprec
