// Bindings of the plan runner (runner/runner.h): buildProgram(description) -> program handle,
// runProgram(program, input) and runProgramAsync(program, input).
//
// The description is a plain object { buffers: bytes[], input, output, ops: [...] } (the fields of
// each op below); every field is checked here (type, range) and every buffer's size against what
// its op reads or writes (runner.h), so a wrong description is a TypeError / RangeError naming the
// field. The program's constants (weights, prepared int8 weights, epilogue tables) are read once:
// arrays over a plain ArrayBuffer are copied into the program (a caller may detach them later),
// arrays over a SharedArrayBuffer (a model's shared weights) are used in place and referenced.
//
// Arenas: a program keeps at most one between runs (JS thread only), when the caller asks it to
// (`keep`: the caller accounts for its bytes; releaseArenas drops it). A run takes the kept one or
// makes one, and gives it back (keep) or frees it when it returns (sync) or settles (async):
// concurrent async runs each compute in their own arena. The async form copies the input into the run's arena on the
// JS thread when it is called, so the caller may detach or reuse the input at once.
#include <cstring>
#include <memory>

#include "addon.h"
#include "async_job.h"
#include "bitplane/pack.h"
#include "common/checked.h"
#include "fgemm/fgemm.h"
#include "gemm/gemm.h"
#include "runner/runner.h"

namespace anyprec {
namespace addon {
namespace {

using runner::BufferId;

// What a program's runs share (native only): the program and the memory of its constants.
struct ProgramData {
  InputCopies constants;                             // copies of the detachable constant arrays
  std::vector<std::unique_ptr<I8Weights>> int8;      // prepared weights' views (stable addresses)
  std::unique_ptr<runner::Program> program;
};

// The JS handle's payload: the shared data, the references that keep shared constants alive, and
// the spare arenas (JS thread only).
struct ProgramBox {
  std::shared_ptr<ProgramData> data;
  std::vector<Napi::Reference<Napi::Value>> pins;
  std::unique_ptr<runner::Arena> spare;
  std::unique_ptr<runner::Arena> take() { return spare ? std::move(spare) : data->program->newArena(); }
  void give(std::unique_ptr<runner::Arena> a, bool keep) {
    if (keep && !spare) spare = std::move(a);
  }
};

constexpr napi_type_tag kProgramTag = {0x616e797072656331ull, 0x70726f6772616d31ull};

// ---- reading a description ----------------------------------------------------------------------

struct Reader {
  Napi::Env env;
  ProgramBox* box;
  size_t buffers;

  Napi::Object object(const Napi::Value& v, const std::string& name) const {
    if (!v.IsObject() || v.IsArray()) throwType(env, name + " must be an object");
    return v.As<Napi::Object>();
  }
  // A typed array constant: read through typedData (a copy inside the build's CopyScope) and pinned.
  template <typename T>
  const T* constant(const Napi::Value& v, const std::string& name, napi_typedarray_type type, const char* typeName,
                    size_t count, const std::string& what) {
    auto t = typedArg(v, name.c_str(), type, typeName);
    if (t.ElementLength() != count)
      throwRange(env, name + " must hold " + what + " (" + std::to_string(count) + "), got " + std::to_string(t.ElementLength()));
    box->pins.push_back(Napi::Persistent(v));
    return typedData<const T>(t);
  }
  const float* floats(const Napi::Object& o, const std::string& owner, const char* key, size_t count, const std::string& what,
                      bool optional) {
    Napi::Value v = o.Get(key);
    if (optional && (v.IsUndefined() || v.IsNull())) return nullptr;
    return constant<float>(v, owner + "." + key, napi_float32_array, "Float32Array", count, what);
  }
  size_t dim(const Napi::Object& o, const std::string& owner, const char* key, int64_t lo) const {
    return dimArg(o.Get(key), (owner + "." + key).c_str(), lo);
  }
  int integer(const Napi::Object& o, const std::string& owner, const char* key, int64_t lo, int64_t hi) const {
    return static_cast<int>(intArg(o.Get(key), (owner + "." + key).c_str(), lo, hi));
  }
  float number(const Napi::Object& o, const std::string& owner, const char* key, float dflt) const {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return dflt;
    if (!v.IsNumber()) throwType(env, owner + "." + key + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d != d) throwRange(env, owner + "." + key + " must not be NaN");
    return static_cast<float>(d);
  }
  BufferId buffer(const Napi::Value& v, const std::string& name) const {
    if (buffers == 0) throwRange(env, name + ": the program declares no buffers");
    return static_cast<BufferId>(intArg(v, name.c_str(), 0, static_cast<int64_t>(buffers) - 1));
  }
  BufferId buffer(const Napi::Object& o, const std::string& owner, const char* key) const {
    return buffer(o.Get(key), owner + "." + key);
  }
  Encoding encoding(const Napi::Object& o, const std::string& owner, const char* key) const {
    return encodingArg(o.Get(key), (owner + "." + key).c_str());
  }
  // owner.shape: an array of `count` dimensions (what `form` lists), positive but for the two
  // paddings at 8 and 9; the geometry then checked by `check` (RangeError naming what is wrong).
  template <typename Shape, size_t count>
  Shape shapeArray(const Napi::Object& o, const std::string& owner, const char* form,
                   std::string (*check)(const Shape&)) const {
    const std::string name = owner + ".shape";
    Napi::Value v = o.Get("shape");
    if (!v.IsArray() || v.As<Napi::Array>().Length() != count) throwType(env, name + " must be an array " + form);
    auto a = v.As<Napi::Array>();
    size_t d[12] = {};
    for (uint32_t i = 0; i < count; ++i)
      d[i] = dimArg(a.Get(i), (name + "[" + std::to_string(i) + "]").c_str(), i == 8 || i == 9 ? 0 : 1);
    Shape s;
    if constexpr (count == 12) s = Shape{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]};
    else s = Shape{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]};
    const std::string bad = check(s);
    if (!bad.empty()) throwRange(env, name + ": " + bad);
    return s;
  }
  ConvShape convShape(const Napi::Object& o, const std::string& owner) const {
    return shapeArray<ConvShape, 12>(o, owner, "[n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw]", checkConvShape);
  }
  PoolShape poolShape(const Napi::Object& o, const std::string& owner) const {
    return shapeArray<PoolShape, 10>(o, owner, "[n, h, w, c, kh, kw, sh, sw, ph, pw]", checkPoolShape);
  }
  // Constant packed weights { data, planePop, rows, cols, bits } (lengths checked by packedArg).
  PackedView packed(const Napi::Object& o, const std::string& owner, const char* key) {
    const std::string name = owner + "." + key;
    Napi::Value v = o.Get(key);
    PackedView p = packedArg(v, name.c_str());  // reads through typedData: copies where detachable
    box->pins.push_back(Napi::Persistent(v));
    return p;
  }
  // Prepared int8 weights { data: Int8Array, colSum: Int32Array, rows, cols, bits, encoding } for spec.
  const I8Weights* int8(const Napi::Object& o, const std::string& owner, const GemmSpec& spec, bool required) {
    const std::string name = owner + ".int8Weights";
    Napi::Value v = o.Get("int8Weights");
    if (v.IsUndefined() || v.IsNull()) {
      if (required) throwType(env, name + " must be prepared int8 weights (prepareInt8)");
      return nullptr;
    }
    Napi::Object w = object(v, name);
    auto out = std::make_unique<I8Weights>();
    out->n = dim(w, name, "rows", 0);
    out->k = dim(w, name, "cols", 1);
    out->bits = integer(w, name, "bits", 1, 8);
    out->enc = encoding(w, name, "encoding");
    out->data = constant<int8_t>(w.Get("data"), name + ".data", napi_int8_array, "Int8Array",
                                 int8WeightBytesChecked(out->n, out->k), "the prepared bytes");
    out->colSum = constant<int32_t>(w.Get("colSum"), name + ".colSum", napi_int32_array, "Int32Array",
                                    int8ColSumCount(out->n), "one sum per padded column");
    const std::string bad = checkI8Weights(spec, *out);
    if (!bad.empty()) throwRange(env, name + " do not fit b: " + bad);
    box->data->int8.push_back(std::move(out));
    return box->data->int8.back().get();
  }
  runner::GemmEpilogue epilogue(const Napi::Object& op, const std::string& owner, size_t n) {
    const std::string name = owner + ".epilogue";
    Napi::Object o = object(op.Get("epilogue"), name);
    runner::GemmEpilogue e;
    Napi::Value kind = o.Get("output");
    const std::string k = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
    if (k == "codes") {
      e.kind = OutputKind::Codes;
      e.codeBits = integer(o, name, "bits", 1, 8);
    } else if (k != "float") {
      throwRange(env, name + ".output must be 'float' or 'codes'");
    }
    e.scale = floats(o, name, "scale", n, "one value per output column", false);
    e.shift = floats(o, name, "shift", n, "one value per output column", true);
    if (e.kind == OutputKind::Codes) return e;
    e.lo = number(o, name, "min", -__builtin_inff());
    e.hi = number(o, name, "max", __builtin_inff());
    Napi::Value residual = o.Get("residual");
    if (!residual.IsUndefined() && !residual.IsNull()) e.residual = buffer(residual, name + ".residual");
    Napi::Value codes = o.Get("codes");
    if (!codes.IsUndefined() && !codes.IsNull()) {
      const std::string cname = name + ".codes";
      Napi::Object c = object(codes, cname);
      e.dualBits = integer(c, cname, "bits", 1, 8);
      e.codeScale = floats(c, cname, "scale", n, "one value per output column", false);
      e.codeShift = floats(c, cname, "shift", n, "one value per output column", false);
      e.codes = buffer(c, cname, "out");
    }
    return e;
  }

  std::unique_ptr<runner::Op> op(const Napi::Object& o, const std::string& name) {
    Napi::Value kindV = o.Get("op");
    if (!kindV.IsString()) throwType(env, name + ".op must be a string naming the op");
    const std::string kind = kindV.As<Napi::String>().Utf8Value();
    if (kind == "nchwToNhwc")
      return runner::nchwToNhwcOp(buffer(o, name, "x"), buffer(o, name, "out"), dim(o, name, "n", 1), dim(o, name, "c", 1),
                                  dim(o, name, "h", 1), dim(o, name, "w", 1), number(o, name, "min", -__builtin_inff()),
                                  number(o, name, "max", __builtin_inff()));
    if (kind == "transpose")
      return runner::transposeOp(buffer(o, name, "x"), buffer(o, name, "out"), dim(o, name, "n", 1),
                                 dim(o, name, "rows", 1), dim(o, name, "cols", 1),
                                 static_cast<size_t>(integer(o, name, "elemBytes", 1, 4)));
    if (kind == "floatConv") {
      FloatConvSpec s;
      s.shape = convShape(o, name);
      s.outChannels = dim(o, name, "outChannels", 1);
      s.wPacked = floats(o, name, "weights", mulOrThrow({floatPaddedCols(s.outChannels), s.shape.k()}, "packed weights"),
                         "floatPackedSize(outChannels, kh*kw*c) floats", false);
      s.bias = floats(o, name, "bias", s.outChannels, "one value per output channel", true);
      s.scale = floats(o, name, "scale", s.outChannels, "one value per output channel", true);
      s.shift = floats(o, name, "shift", s.outChannels, "one value per output channel", true);
      s.lo = number(o, name, "min", -__builtin_inff());
      s.hi = number(o, name, "max", __builtin_inff());
      s.codeBits = integer(o, name, "bits", 0, 8);
      BufferId residual = runner::kNoBuffer, next = runner::kNoBuffer;
      Napi::Value r = o.Get("residual"), nx = o.Get("next");
      if (!r.IsUndefined() && !r.IsNull()) residual = buffer(r, name + ".residual");
      if (!nx.IsUndefined() && !nx.IsNull()) {
        const std::string nname = name + ".next";
        Napi::Object n = object(nx, nname);
        next = buffer(n, nname, "out");
        s.nextScale = floats(n, nname, "scale", s.outChannels, "one value per output channel", true);
        s.nextShift = floats(n, nname, "shift", s.outChannels, "one value per output channel", true);
        s.nextLo = number(n, nname, "min", -__builtin_inff());
        s.nextHi = number(n, nname, "max", __builtin_inff());
        s.nextBits = integer(n, nname, "bits", 0, 8);
      }
      return runner::floatConvOp(buffer(o, name, "x"), buffer(o, name, "out"), s, residual, next);
    }
    if (kind == "quantize" || kind == "affine") {
      const size_t count = dim(o, name, "count", 1), channels = dim(o, name, "channels", 1);
      const float* scale = floats(o, name, "scale", channels, "one value per channel", true);
      const float* shift = floats(o, name, "shift", channels, "one value per channel", true);
      const BufferId x = buffer(o, name, "x"), out = buffer(o, name, "out");
      if (kind == "quantize") return runner::quantizeOp(x, out, count, channels, scale, shift, integer(o, name, "bits", 1, 8));
      return runner::affineOp(x, out, count, channels, scale, shift, number(o, name, "min", -__builtin_inff()),
                              number(o, name, "max", __builtin_inff()));
    }
    if (kind == "codesToFloat") {
      auto t = typedArg(o.Get("table"), (name + ".table").c_str(), napi_float32_array, "Float32Array");
      if (t.ElementLength() < 1 || t.ElementLength() > 256)
        throwRange(env, name + ".table must hold 1..256 values, got " + std::to_string(t.ElementLength()));
      float table[256] = {};
      std::memcpy(table, typedData<const float>(t), t.ElementLength() * sizeof(float));
      return runner::codesToFloatOp(buffer(o, name, "x"), buffer(o, name, "out"), dim(o, name, "count", 1), table);
    }
    if (kind == "add")
      return runner::addOp(buffer(o, name, "a"), buffer(o, name, "b"), buffer(o, name, "out"), dim(o, name, "count", 1));
    if (kind == "globalAvgPool")
      return runner::globalAvgPoolOp(buffer(o, name, "x"), buffer(o, name, "out"), dim(o, name, "n", 1),
                                     dim(o, name, "h", 1), dim(o, name, "w", 1), dim(o, name, "c", 1));
    if (kind == "maxPool")
      return runner::maxPoolOp(buffer(o, name, "x"), buffer(o, name, "out"), poolShape(o, name),
                               static_cast<size_t>(integer(o, name, "elemBytes", 1, 4)));
    if (kind == "pack")
      return runner::packOp(buffer(o, name, "x"), buffer(o, name, "data"), buffer(o, name, "pops"),
                            dim(o, name, "rows", 1), dim(o, name, "k", 1), integer(o, name, "planes", 1, 8));
    if (kind == "packConv")
      return runner::packConvOp(buffer(o, name, "x"), buffer(o, name, "data"), buffer(o, name, "pops"),
                                convShape(o, name), integer(o, name, "planes", 1, 8));
    if (kind == "gemm") {
      runner::GemmOperands g;
      g.aData = buffer(o, name, "aData");
      g.aPops = buffer(o, name, "aPops");
      g.aRows = dim(o, name, "aRows", 1);
      g.aPlanes = integer(o, name, "aPlanes", 1, 8);
      g.aBits = integer(o, name, "aBits", 1, g.aPlanes);
      g.aEnc = encoding(o, name, "aEncoding");
      g.b = packed(o, name, "b");
      g.bBits = integer(o, name, "bBits", 1, g.b.planes);
      g.bEnc = encoding(o, name, "bEncoding");
      const GemmSpec spec{PackedView{nullptr, g.aRows, g.b.cols, g.aPlanes, nullptr}, g.b, g.aBits, g.bBits, g.aEnc, g.bEnc};
      throwIfFailed(env, checkGemm(spec));
      g.int8 = int8(o, name, spec, false);
      return runner::gemmOp(g, epilogue(o, name, g.b.rows), buffer(o, name, "out"));
    }
    if (kind == "int8Codes") {
      const ConvShape shape = convShape(o, name);
      const int aBits = integer(o, name, "aBits", 1, 8);
      const Encoding aEnc = encoding(o, name, "aEncoding");
      const PackedView b = packed(o, name, "b");
      const int bBits = integer(o, name, "bBits", 1, b.planes);
      const Encoding bEnc = encoding(o, name, "bEncoding");
      const GemmSpec spec{PackedView{nullptr, shape.rows(), shape.k(), aBits, nullptr}, b, aBits, bBits, aEnc, bEnc};
      throwIfFailed(env, checkGemm(spec));
      const I8Weights* w = int8(o, name, spec, true);
      return runner::int8CodesOp(buffer(o, name, "x"), shape, aBits, aEnc, b, bBits, bEnc, w, epilogue(o, name, b.rows),
                                 buffer(o, name, "out"));
    }
    throwRange(env, name + ".op '" + kind + "' is not a runner op");
  }
};

constexpr size_t kMaxEntries = size_t{1} << 20;

// buildProgram({ buffers, input, output, ops }) -> program handle
Napi::Value BuildProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throwType(env, "buildProgram(description) takes an object { buffers, input, output, ops }");
  auto desc = info[0].As<Napi::Object>();
  Napi::Value buffersV = desc.Get("buffers"), opsV = desc.Get("ops");
  if (!buffersV.IsArray()) throwType(env, "description.buffers must be an array of sizes in bytes");
  if (!opsV.IsArray()) throwType(env, "description.ops must be an array of ops");
  auto buffersA = buffersV.As<Napi::Array>();
  auto opsA = opsV.As<Napi::Array>();
  if (buffersA.Length() > kMaxEntries || opsA.Length() > kMaxEntries)
    throwRange(env, "description: at most " + std::to_string(kMaxEntries) + " buffers and ops");
  std::vector<size_t> bytes(buffersA.Length());
  for (uint32_t i = 0; i < buffersA.Length(); ++i)
    bytes[i] = static_cast<size_t>(intArg(buffersA.Get(i), ("description.buffers[" + std::to_string(i) + "]").c_str(), 1,
                                          static_cast<int64_t>(kMaxBufferBytes)));
  auto box = std::make_unique<ProgramBox>();
  box->data = std::make_shared<ProgramData>();
  Reader r{env, box.get(), bytes.size()};
  const BufferId input = r.buffer(desc.Get("input"), "description.input");
  const BufferId output = r.buffer(desc.Get("output"), "description.output");
  std::vector<std::unique_ptr<runner::Op>> ops;
  ops.reserve(opsA.Length());
  {
    CopyScope scope(&box->data->constants);  // constants over a plain ArrayBuffer are copied
    for (uint32_t i = 0; i < opsA.Length(); ++i) {
      const std::string name = "ops[" + std::to_string(i) + "]";
      ops.push_back(r.op(r.object(opsA.Get(i), name), name));
    }
  }
  box->data->program = std::make_unique<runner::Program>(*instance(env).isa, std::move(bytes), std::move(ops), input, output);
  if (box->data->program->outputBytes() % sizeof(float) != 0)
    throwRange(env, "description.output must be a buffer of floats");
  auto handle = Napi::External<ProgramBox>::New(env, box.release(), [](Napi::Env, ProgramBox* b) { delete b; });
  handle.TypeTag(&kProgramTag);
  return handle;
}

ProgramBox& programArg(const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::External<ProgramBox>>().CheckTypeTag(&kProgramTag))
    throwType(v.Env(), "program must be a program handle (from buildProgram)");
  return *v.As<Napi::External<ProgramBox>>().Data();
}

// The input's memory (never a private copy) after checking it holds the program's input bytes.
const void* inputArg(const Napi::Value& v, const ProgramBox& box) {
  auto t = typedArg(v, "input", napi_float32_array, "Float32Array");
  const size_t want = box.data->program->inputBytes();
  if (t.ByteLength() != want)
    throwRange(v.Env(), "input must hold " + std::to_string(want / sizeof(float)) + " values, got " +
                            std::to_string(t.ElementLength()) + " (a detached buffer holds none)");
  void* data = nullptr;
  if (napi_get_typedarray_info(v.Env(), t, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok)
    throw Napi::Error::New(v.Env(), "cannot read typed array memory");
  return data;
}

// programInfo(program) -> { arenaBytes, inputBytes, outputBytes, ops }
Napi::Value ProgramInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const runner::Program& p = *programArg(info[0]).data->program;
  auto o = Napi::Object::New(env);
  o.Set("arenaBytes", Napi::Number::New(env, static_cast<double>(p.arenaBytes())));
  o.Set("inputBytes", Napi::Number::New(env, static_cast<double>(p.inputBytes())));
  o.Set("outputBytes", Napi::Number::New(env, static_cast<double>(p.outputBytes())));
  o.Set("ops", Napi::Number::New(env, static_cast<double>(p.ops())));
  return o;
}

// An optional boolean argument (`keep`: the program keeps the run's arena for the next run;
// `timed`: the run reports each op's time).
bool flagArg(const Napi::CallbackInfo& info, size_t at, const char* name) {
  if (info.Length() <= at || info[at].IsUndefined()) return false;
  if (!info[at].IsBoolean()) throwType(info.Env(), std::string(name) + " must be a boolean");
  return info[at].As<Napi::Boolean>().Value();
}

// releaseArenas(program): frees the arena the program keeps between runs.
Napi::Value ReleaseArenas(const Napi::CallbackInfo& info) {
  programArg(info[0]).spare.reset();
  return info.Env().Undefined();
}

// A run's result: the output floats (a fresh array, or the caller's `out`), or with `timed`
// { output, times: Float64Array (ms per op) }.
struct RunResult {
  Napi::Value value;
  float* output = nullptr;
  double* times = nullptr;
  RunResult(Napi::Env env, const runner::Program& p, bool timed, const Napi::Value& callerOut = Napi::Value(),
            float* callerData = nullptr) {
    Napi::Value out = callerOut;
    output = callerData;
    if (callerData == nullptr) {
      auto fresh = newUninitialized<float>(env, p.outputBytes() / sizeof(float));
      output = fresh.Data();
      out = fresh;
    }
    if (!timed) {
      value = out;
      return;
    }
    auto t = Napi::Float64Array::New(env, p.ops());
    times = t.Data();
    auto o = Napi::Object::New(env);
    o.Set("output", out);
    o.Set("times", t);
    value = o;
  }
};

// runProgram(program, input: Float32Array, keep?, timed?, out?) -> Float32Array (the output: a
// fresh array, or `out`, a Float32Array of the output's size sharing no memory with the input),
// or { output, times } when timed. The run reads the input in place and writes the output straight
// into the returned array where the program allows (Program::inputInPlace / outputInPlace).
Napi::Value RunProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throwType(env, "runProgram(program, input, keep?, timed?, out?) takes 2 to 5 arguments");
  ProgramBox& box = programArg(info[0]);
  const bool keep = flagArg(info, 2, "keep"), timed = flagArg(info, 3, "timed");
  const void* src = inputArg(info[1], box);
  const runner::Program& p = *box.data->program;
  float* callerOut = nullptr;
  if (info.Length() > 4)
    callerOut = static_cast<float*>(outputArg(info[4], "out", napi_float32_array, "Float32Array",
                                              p.outputBytes() / sizeof(float), {info[1]}));
  std::unique_ptr<runner::Arena> arena = box.take();
  RunResult result(env, p, timed, callerOut ? info[4] : Napi::Value(), callerOut);
  p.run(*arena, instance(env).threads, result.times, src, result.output);
  box.give(std::move(arena), keep);
  return result.value;
}

// runProgramAsync(program, input, keep?, timed?) -> Promise of runProgram's result: the input
// copied now, the run on the pool.
Napi::Value RunProgramAsync(const Napi::CallbackInfo& info) {
  return startAsync(info.Env(), "runProgramAsync", [&](AsyncJob& job) {
    Napi::Env env = info.Env();
    if (info.Length() < 2) throwType(env, "runProgramAsync(program, input, keep?, timed?) takes 2 to 4 arguments");
    ProgramBox* box = &programArg(info[0]);
    const bool keep = flagArg(info, 2, "keep"), timed = flagArg(info, 3, "timed");
    const void* src = inputArg(info[1], *box);
    struct Run {
      std::shared_ptr<ProgramData> data;
      std::unique_ptr<runner::Arena> arena;
    };
    auto run = std::make_shared<Run>(Run{box->data, box->take()});
    const runner::Program& p = *box->data->program;
    std::memcpy(run->arena->input(), src, p.inputBytes());
    const RunResult result(env, p, timed);
    const int threads = instance(env).threads;
    job.pin(info[0]);  // the handle (and with it the shared constants) lives until the job settles
    job.result = Napi::Persistent(result.value);
    job.phases.push_back({1, [r = run.get(), dst = result.output, times = result.times, threads](size_t) {
                            const runner::Program& prog = *r->data->program;
                            prog.run(*r->arena, threads, times, nullptr, dst);
                          }});
    job.beforeResolve = [box, run, keep](Napi::Value) { box->give(std::move(run->arena), keep); };
    job.owned = run;
  });
}

}  // namespace

void registerRunner(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "buildProgram", BuildProgram);
  exportFunction(env, exports, "programInfo", ProgramInfo);
  exportFunction(env, exports, "runProgram", RunProgram);
  exportFunction(env, exports, "runProgramAsync", RunProgramAsync);
  exportFunction(env, exports, "releaseArenas", ReleaseArenas);
}

}  // namespace addon
}  // namespace anyprec
