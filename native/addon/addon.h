// The Node-API binding's shared parts: per-environment state, argument helpers and the async job
// (one file each), and the registration function of every kernel family's bindings. The binding
// checks what memory safety needs (types, lengths, ranges that size allocations) and decides
// nothing: every kernel choice is the kernels' (gemm/gemm.h, platform/platform.h).
#pragma once
#include <napi.h>

#include <condition_variable>
#include <initializer_list>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/align.h"
#include "common/types.h"
#include "eltwise/epilogue.h"
#include "platform/platform.h"

namespace anyprec {
struct ConvShape;
struct GemmSpec;
struct I8Weights;
namespace addon {

// Memory blocks for input copies (below), kept between async jobs of one environment and used on
// its JS thread only: fresh pages cost a page fault each on first touch, which made copying a
// large input cost more than the copy itself.
struct SpareBlocks {
  struct Block {
    std::unique_ptr<uint8_t[]> memory;
    size_t size = 0;
  };
  static constexpr size_t kMaxKeptBytes = size_t{64} << 20;
  std::vector<Block> blocks;
  size_t bytes = 0;
  // A kept block of at least n bytes (and not more than twice that), or a new one.
  Block take(size_t n);
  void give(Block b);
};

// Per-environment state (the main thread and each worker_thread get their own).
struct Instance {
  const Platform* isa = defaultPlatform();
  int threads = 1;
  // Async jobs whose pool work has not finished (they write outputs in this environment's heap).
  // The environment's cleanup hook waits for them: that wait needs no JS, so a worker terminated
  // mid-job still exits.
  std::mutex mutex;
  std::condition_variable cv;
  int running = 0;
  SpareBlocks spare;
  // The async jobs' completion channel (async_job.cc; made at the first job, JS thread only).
  std::shared_ptr<void> completions;
  void jobStarted();
  void jobFinished();
  void waitForJobs();
  ~Instance();
};
Instance& instance(Napi::Env env);

// Private copies of an async job's inputs (async_job.h says why). While a CopyScope is active on
// the JS thread, typedMemory() returns a copy of every array over a plain (detachable) ArrayBuffer,
// at the same offset modulo the cache line as the original; arrays over a SharedArrayBuffer are
// used in place.
struct InputCopies {
  SpareBlocks* spare = nullptr;  // where blocks come from and go back to (JS thread only)
  std::vector<SpareBlocks::Block> blocks;
  void* copy(const void* src, size_t n);
  // On the JS thread once the job no longer reads them: the blocks go back to `spare`.
  void recycle();
};
class CopyScope {
 public:
  explicit CopyScope(InputCopies* copies);
  ~CopyScope();
  CopyScope(const CopyScope&) = delete;
  CopyScope& operator=(const CopyScope&) = delete;

 private:
  InputCopies* previous_;
};

// ---- argument helpers (args.cc) ---------------------------------------------------------------
[[noreturn]] void throwType(Napi::Env env, const std::string& msg);
[[noreturn]] void throwRange(Napi::Env env, const std::string& msg);
// A CheckResult from the kernels as a TypeError / RangeError (nothing if it passed).
void throwIfFailed(Napi::Env env, const CheckResult& r);
// Runs fn, turning the kernels' C++ errors (SizeError, bad_alloc, invalid_argument) into JS errors.
Napi::Value guarded(const Napi::CallbackInfo& info, Napi::Value (*fn)(const Napi::CallbackInfo&));
// The JS error for a C++ exception (Napi::Error as is; SizeError and invalid_argument: RangeError).
Napi::Error errorFor(Napi::Env env, std::exception_ptr e);

// An integer argument in [lo, hi].
int64_t intArg(const Napi::Value& v, const char* name, int64_t lo, int64_t hi);
// A dimension: an integer in [lo, 2^31].
size_t dimArg(const Napi::Value& v, const char* name, int64_t lo);
// A typed array argument of one element type (TypeError naming the argument otherwise).
Napi::TypedArray typedArg(const Napi::Value& v, const char* name, napi_typedarray_type type, const char* typeName);
// Start of a typed array's elements (also for arrays over a SharedArrayBuffer); a private copy
// of them inside a CopyScope.
void* typedMemory(const Napi::TypedArray& t);
template <typename T>
T* typedData(const Napi::TypedArray& t) {
  return static_cast<T*>(typedMemory(t));
}
// A Float32Array of exactly `count` values, or null/undefined (then nullptr) when optional.
const float* floatsArg(const Napi::Value& v, const char* name, size_t count, const std::string& what);
// A convolution geometry from arguments first..first+11 (n, h, w, c, kernel h/w, stride h/w,
// padding h/w, dilation h/w), checked by checkConvShape (RangeError naming what is wrong).
ConvShape convShapeArgs(const Napi::CallbackInfo& info, size_t first);
// Encoding from 'unsigned' | 'bipolar' | 'signed'.
Encoding encodingArg(const Napi::Value& v, const char* name);
// A packed operand { data: BigUint64Array, planePop: Int32Array, rows, cols, bits } with every
// length checked against its shape.
PackedView packedArg(const Napi::Value& v, const char* name);

// A typed array of `count` elements whose memory is NOT zero-filled, for outputs a kernel writes
// in full (napi_create_arraybuffer zero-fills: ~6% of a small CNN's run in memset alone).
template <typename T>
Napi::TypedArrayOf<T> newUninitialized(Napi::Env env, size_t count) {
  Napi::ArrayBuffer ab = Napi::Buffer<uint8_t>::New(env, count * sizeof(T)).ArrayBuffer();
  return Napi::TypedArrayOf<T>::New(env, count, ab, 0);
}
// A typed array of `count` T starting on a cache line (kCacheLine spare bytes allow the shift);
// *data receives the start. Zero-filled only when asked.
template <typename T>
Napi::TypedArrayOf<T> newAligned(Napi::Env env, size_t count, T** data, bool zeroed = false) {
  const size_t bytes = count * sizeof(T) + kCacheLine;
  Napi::ArrayBuffer buf = zeroed ? Napi::ArrayBuffer::New(env, bytes) : Napi::Buffer<uint8_t>::New(env, bytes).ArrayBuffer();
  const size_t offset = alignPadding(buf.Data());
  *data = reinterpret_cast<T*>(static_cast<uint8_t*>(buf.Data()) + offset);
  return Napi::TypedArrayOf<T>::New(env, count, buf, offset);
}
// An optional caller-owned output (sync entries only; undefined/null: nullptr, the entry allocates):
// a typed array of `type` holding exactly `count` elements whose memory overlaps none of `inputs`
// (typed arrays, or packed operands whose data and planePop are checked). TypeError / RangeError
// naming `name` otherwise. The kernel writes every element, so its old contents do not matter.
void* outputArg(const Napi::Value& v, const char* name, napi_typedarray_type type, const char* typeName, size_t count,
                const std::vector<Napi::Value>& inputs);
// { data, planePop } for a packed operand of rows x k codes with `bits` planes (sizes checked:
// SizeError); not zero-filled (packing writes every word, padding lanes and bits included, and
// every row's popcounts).
Napi::Object newPacked(Napi::Env env, size_t rows, size_t k, int bits, uint64_t** planes, int32_t** planePop);

// ---- shared by GEMM families (gemm.cc) ----------------------------------------------------------
// A GEMM epilogue argument of an M x N product (undefined / null: Int32); `keep` receives the
// arrays it reads (for async jobs to pin).
Epilogue epilogueArg(const Napi::Value& arg, size_t m, size_t n, std::vector<Napi::Value>* keep,
                     const std::vector<Napi::Value>& inputs);
// The output array of an M x N GEMM for the epilogue's kind; *data receives its memory.
Napi::Value newOutput(Napi::Env env, const Epilogue& e, size_t m, size_t n, void** data);
// The caller's output array of an M x N GEMM (sync entries only; `outV` undefined or null: nullptr,
// the entry allocates): a typed array of the epilogue's type and m*n elements sharing no memory
// with `ins` (the call's operands) or the epilogue's arrays, nor with the epilogue's codes output.
void* callerOutput(const Napi::Value& outV, const Napi::Value& epilogue, const Epilogue& e, size_t m, size_t n,
                   std::vector<Napi::Value> ins);

// ---- family registrations (one file each) -------------------------------------------------------
// Optional argument `at`: prepared int8 weights { data: Int8Array, colSum: Int32Array, rows, cols,
// bits, encoding } (from prepareInt8) that fit s.b at s.bBits / s.bEnc, viewed into *w; false
// where the argument is absent (undefined / null). gemm.cc.
bool int8WeightsArg(const Napi::CallbackInfo& info, size_t at, const GemmSpec& s, I8Weights* w);

void exportFunction(Napi::Env env, Napi::Object exports, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&));
void registerPlatform(Napi::Env env, Napi::Object exports);
void registerPack(Napi::Env env, Napi::Object exports);
void registerConv(Napi::Env env, Napi::Object exports);
void registerEltwise(Napi::Env env, Napi::Object exports);
void registerGemm(Napi::Env env, Napi::Object exports);
void registerGated(Napi::Env env, Napi::Object exports);
void registerFloatGemm(Napi::Env env, Napi::Object exports);
void registerFloatConv(Napi::Env env, Napi::Object exports);  // fconv.cc: float convolution
void registerTrain(Napi::Env env, Napi::Object exports);  // train.cc: float training kernels (ftrain/)
void registerRunner(Napi::Env env, Napi::Object exports);  // runner.cc: the plan runner (runner/)

}  // namespace addon
}  // namespace anyprec
