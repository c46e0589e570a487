// The Node-API binding: validates arguments, wraps buffers, runs long work off the event loop.
// No arithmetic of its own and no knowledge of models.
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "bitgemm.h"
#include "threadpool.h"

namespace anyprec {
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
  const uint8_t* src = static_cast<const uint8_t*>(codes.ArrayBuffer().Data()) + codes.ByteOffset();
  const size_t bad = findBadCode(src, rows * cols, bits);
  if (bad != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(bad) + "] = " + std::to_string(src[bad]) +
                        " does not fit in " + std::to_string(bits) + " bits (must be < " +
                        std::to_string(1 << bits) + ")");
  const size_t words = packedWords(rows, cols, bits);
  // 64 spare bytes so the planes can start on a cache line.
  auto buf = Napi::ArrayBuffer::New(env, words * 8 + 64);
  const uintptr_t base = reinterpret_cast<uintptr_t>(buf.Data());
  const size_t offset = ((base + 63) & ~uintptr_t{63}) - base;
  auto data = Napi::BigUint64Array::New(env, words, buf, offset);
  auto pops = Napi::Int32Array::New(env, rows * bits);
  pack(*instance(env).isa, src, rows, cols, bits, reinterpret_cast<uint64_t*>(base + offset),
       pops.Data(), instance(env).threads);
  auto out = Napi::Object::New(env);
  out.Set("data", data);
  out.Set("planePop", pops);
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
  p.data = reinterpret_cast<const uint64_t*>(static_cast<const uint8_t*>(data.ArrayBuffer().Data()) +
                                             data.ByteOffset());
  p.planePop = reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(pops.ArrayBuffer().Data()) +
                                                pops.ByteOffset());
  return p;
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

Napi::Value BitGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GemmSpec s = gemmArgs(info);
  auto c = Napi::Int32Array::New(env, s.a.rows * s.b.rows);
  Instance& inst = instance(env);
  bitGemm(*inst.isa, s, c.Data(), inst.threads);
  return c;
}

// The async job: inputs pinned by references, output buffer made up front, resolved on the JS
// thread through a thread-safe function when the pool thread that ran the last tile finishes.
struct AsyncGemm {
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference aRef, bRef;
  Napi::Reference<Napi::Int32Array> outRef;
  std::unique_ptr<GemmPlan> plan;
  Napi::ThreadSafeFunction tsfn;
  std::string error;
  Instance* inst;
  explicit AsyncGemm(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

Napi::Value BitGemmAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<AsyncGemm>(env);
  try {
    const GemmSpec s = gemmArgs(info);
    auto c = Napi::Int32Array::New(env, s.a.rows * s.b.rows);
    Instance& inst = instance(env);
    job->aRef = Napi::Persistent(info[0].As<Napi::Object>());
    job->bRef = Napi::Persistent(info[1].As<Napi::Object>());
    job->outRef = Napi::Persistent(c);
    job->plan = std::make_unique<GemmPlan>(*inst.isa, s, c.Data());
    job->inst = &inst;
    job->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), "anyprec.bitGemmAsync", 0, 1);
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
    return job->deferred.Promise();
  }
  Napi::Promise promise = job->deferred.Promise();
  AsyncGemm* raw = job.release();
  {
    std::lock_guard<std::mutex> lock(raw->inst->mutex);
    ++raw->inst->pending;
  }
  const int width = raw->inst->threads;
  parallelRunAsync(
      raw->plan->tasks(), width, [raw](size_t t) { raw->plan->run(t); },
      [raw](std::exception_ptr err) {
        if (err) {
          try {
            std::rethrow_exception(err);
          } catch (const std::exception& e) {
            raw->error = e.what();
          } catch (...) {
            raw->error = "unknown native error";
          }
        }
        Napi::ThreadSafeFunction tsfn = raw->tsfn;
        tsfn.BlockingCall([raw](Napi::Env env, Napi::Function) {
          std::unique_ptr<AsyncGemm> job(raw);
          if (job->error.empty()) {
            job->deferred.Resolve(job->outRef.Value());
          } else {
            job->deferred.Reject(Napi::Error::New(env, "bitGemmAsync failed: " + job->error).Value());
          }
          job->tsfn.Release();
          std::lock_guard<std::mutex> lock(job->inst->mutex);
          --job->inst->pending;
          job->inst->cv.notify_all();
        });
      });
  return promise;
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
  exports.Set("bitGemm", Napi::Function::New(env, BitGemm, "bitGemm"));
  exports.Set("bitGemmAsync", Napi::Function::New(env, BitGemmAsync, "bitGemmAsync"));
  exports.Set("popcountCeiling", Napi::Function::New(env, PopcountCeiling, "popcountCeiling"));
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
