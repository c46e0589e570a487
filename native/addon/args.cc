// Argument helpers of the binding: numbers, typed arrays, encodings, packed operands, outputs,
// and the translation of the kernels' C++ errors into JS errors.
#include <cstring>
#include <new>
#include <stdexcept>

#include "addon.h"
#include "bitplane/pack.h"
#include "common/checked.h"
#include "conv/conv.h"

namespace anyprec {
namespace addon {

void throwType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
void throwRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

void throwIfFailed(Napi::Env env, const CheckResult& r) {
  if (r.kind == ErrorKind::Type) throwType(env, r.message);
  if (r.kind == ErrorKind::Range) throwRange(env, r.message);
}

Napi::Error errorFor(Napi::Env env, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Napi::Error& err) {
    return err;
  } catch (const SizeError& err) {
    return Napi::RangeError::New(env, err.what());
  } catch (const std::invalid_argument& err) {
    return Napi::RangeError::New(env, err.what());
  } catch (const std::bad_alloc&) {
    return Napi::RangeError::New(env, "out of memory");
  } catch (const std::exception& err) {
    return Napi::Error::New(env, err.what());
  } catch (...) {
    return Napi::Error::New(env, "unknown native error");
  }
}

Napi::Value guarded(const Napi::CallbackInfo& info, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw errorFor(info.Env(), std::current_exception());
  }
}

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

size_t dimArg(const Napi::Value& v, const char* name, int64_t lo) {
  return static_cast<size_t>(intArg(v, name, lo, int64_t{1} << 31));
}

ConvShape convShapeArgs(const Napi::CallbackInfo& info, size_t first) {
  const char* names[] = {"n", "h", "w", "c", "kernel[0]", "kernel[1]", "stride[0]", "stride[1]",
                         "padding[0]", "padding[1]", "dilation[0]", "dilation[1]"};
  size_t v[12];
  for (size_t i = 0; i < 12; ++i) v[i] = dimArg(info[first + i], names[i], i == 8 || i == 9 ? 0 : 1);
  ConvShape s{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  const std::string bad = checkConvShape(s);
  if (!bad.empty()) throwRange(info.Env(), "conv shape: " + bad);
  return s;
}

namespace {
thread_local InputCopies* activeCopies = nullptr;
}

SpareBlocks::Block SpareBlocks::take(size_t n) {
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].size >= n && blocks[i].size / 2 <= n) {
      Block b = std::move(blocks[i]);
      blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
      bytes -= b.size;
      return b;
    }
  }
  return Block{std::unique_ptr<uint8_t[]>(new uint8_t[n]), n};
}

void SpareBlocks::give(Block b) {
  if (b.size > kMaxKeptBytes) return;
  while (!blocks.empty() && bytes + b.size > kMaxKeptBytes) {  // the oldest go first
    bytes -= blocks.front().size;
    blocks.erase(blocks.begin());
  }
  bytes += b.size;
  blocks.push_back(std::move(b));
}

void* InputCopies::copy(const void* src, size_t n) {
  const size_t shift = reinterpret_cast<uintptr_t>(src) % kCacheLine;
  const size_t need = n + 2 * kCacheLine;
  SpareBlocks::Block block = spare ? spare->take(need) : SpareBlocks::Block{std::unique_ptr<uint8_t[]>(new uint8_t[need]), need};
  uint8_t* start = block.memory.get() + alignPadding(block.memory.get()) + shift;
  std::memcpy(start, src, n);
  blocks.push_back(std::move(block));
  return start;
}

void InputCopies::recycle() {
  if (spare != nullptr) {
    for (auto& b : blocks) spare->give(std::move(b));
  }
  blocks.clear();
}

CopyScope::CopyScope(InputCopies* copies) : previous_(activeCopies) { activeCopies = copies; }
CopyScope::~CopyScope() { activeCopies = previous_; }

void* typedMemory(const Napi::TypedArray& t) {
  // napi_get_typedarray_info works for arrays over a SharedArrayBuffer too (ArrayBuffer().Data()
  // does not), which models shared with workers use.
  Napi::Env env = t.Env();
  void* data = nullptr;
  napi_value buffer = nullptr;
  napi_status st = napi_get_typedarray_info(env, t, nullptr, nullptr, &data, &buffer, nullptr);
  if (st != napi_ok) throw Napi::Error::New(env, "cannot read typed array memory");
  if (activeCopies == nullptr || data == nullptr || t.ByteLength() == 0) return data;
  bool detachable = false;  // false for a SharedArrayBuffer
  if (napi_is_arraybuffer(env, buffer, &detachable) != napi_ok)
    throw Napi::Error::New(env, "cannot read typed array memory");
  return detachable ? activeCopies->copy(data, t.ByteLength()) : data;
}

Napi::TypedArray typedArg(const Napi::Value& v, const char* name, napi_typedarray_type type, const char* typeName) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throwType(v.Env(), std::string(name) + " must be a " + typeName);
  return v.As<Napi::TypedArray>();
}

const float* floatsArg(const Napi::Value& v, const char* name, size_t count, const std::string& what) {
  auto t = typedArg(v, name, napi_float32_array, "Float32Array");
  if (t.ElementLength() != count)
    throwRange(v.Env(), std::string(name) + " must hold " + what + " (" + std::to_string(count) + "), got " +
                            std::to_string(t.ElementLength()));
  return typedData<const float>(t);
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

PackedView packedArg(const Napi::Value& v, const char* name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throwType(env, std::string(name) + " must be a Packed operand (from pack())");
  auto o = v.As<Napi::Object>();
  const std::string n(name);
  PackedView p{};
  p.rows = dimArg(o.Get("rows"), (n + ".rows").c_str(), 0);
  p.cols = dimArg(o.Get("cols"), (n + ".cols").c_str(), 1);
  p.planes = static_cast<int>(intArg(o.Get("bits"), (n + ".bits").c_str(), 1, 8));
  auto data = typedArg(o.Get("data"), (n + ".data").c_str(), napi_biguint64_array, "BigUint64Array");
  auto pops = typedArg(o.Get("planePop"), (n + ".planePop").c_str(), napi_int32_array, "Int32Array");
  const size_t words = packedWordsChecked(p.rows, p.cols, p.planes);
  if (data.ElementLength() != words)
    throwRange(env, n + ".data must hold " + std::to_string(words) + " words for its shape, got " +
                        std::to_string(data.ElementLength()));
  if (pops.ElementLength() != p.rows * p.planes)
    throwRange(env, n + ".planePop must hold rows*bits = " + std::to_string(p.rows * p.planes) + " counts, got " +
                        std::to_string(pops.ElementLength()));
  p.data = typedData<const uint64_t>(data);
  p.planePop = typedData<const int32_t>(pops);
  return p;
}

namespace {
// The bytes [begin, end) behind a typed array (its real memory: no private copy).
struct ByteRange {
  const uint8_t* begin = nullptr;
  const uint8_t* end = nullptr;
};
ByteRange rangeOf(const Napi::TypedArray& t) {
  void* data = nullptr;
  if (napi_get_typedarray_info(t.Env(), t, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok)
    throw Napi::Error::New(t.Env(), "cannot read typed array memory");
  const auto* b = static_cast<const uint8_t*>(data);
  return {b, b + t.ByteLength()};
}
bool overlaps(const ByteRange& a, const ByteRange& b) {
  return a.begin != nullptr && b.begin != nullptr && a.begin < b.end && b.begin < a.end;
}
}  // namespace

void* outputArg(const Napi::Value& v, const char* name, napi_typedarray_type type, const char* typeName, size_t count,
                const std::vector<Napi::Value>& inputs) {
  Napi::Env env = v.Env();
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  auto out = typedArg(v, name, type, typeName);
  if (out.ElementLength() != count)
    throwRange(env, std::string(name) + " must hold exactly " + std::to_string(count) + " elements, got " +
                        std::to_string(out.ElementLength()));
  const ByteRange o = rangeOf(out);
  for (const Napi::Value& in : inputs) {
    std::vector<Napi::TypedArray> arrays;
    if (in.IsTypedArray()) {
      arrays.push_back(in.As<Napi::TypedArray>());
    } else if (in.IsObject()) {
      for (const char* key : {"data", "planePop"}) {
        Napi::Value f = in.As<Napi::Object>().Get(key);
        if (f.IsTypedArray()) arrays.push_back(f.As<Napi::TypedArray>());
      }
    }
    for (const auto& a : arrays)
      if (overlaps(o, rangeOf(a))) throwRange(env, std::string(name) + " must not share memory with an input of the call");
  }
  void* data = nullptr;
  napi_get_typedarray_info(env, out, nullptr, nullptr, &data, nullptr, nullptr);
  return data;
}

Napi::Object newPacked(Napi::Env env, size_t rows, size_t k, int bits, uint64_t** planes, int32_t** planePop) {
  const size_t words = packedWordsChecked(rows, k, bits);
  const size_t pops = planePopCountChecked(rows, bits);
  auto data = newAligned<uint64_t>(env, words, planes);
  auto popArray = newUninitialized<int32_t>(env, pops);
  *planePop = popArray.Data();
  auto out = Napi::Object::New(env);
  out.Set("data", data);
  out.Set("planePop", popArray);
  return out;
}

}  // namespace addon
}  // namespace anyprec
