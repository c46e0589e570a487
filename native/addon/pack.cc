// Bindings of the bitplane family: pack and unpack.
#include "addon.h"
#include "bitplane/pack.h"
#include "common/checked.h"

namespace anyprec {
namespace addon {
namespace {

// pack(codes: Uint8Array, rows, cols, bits) -> { data: BigUint64Array, planePop: Int32Array }
Napi::Value Pack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throwType(env, "pack(codes, rows, cols, bits) takes 4 arguments");
  auto codes = typedArg(info[0], "codes", napi_uint8_array, "Uint8Array");
  const size_t rows = dimArg(info[1], "rows", 0);
  const size_t cols = dimArg(info[2], "cols", 1);
  const int bits = static_cast<int>(intArg(info[3], "bits", 1, 8));
  const size_t count = mulOrThrow({rows, cols}, "codes (rows * cols)");
  if (codes.ElementLength() != count)
    throwRange(env, "codes must hold rows*cols = " + std::to_string(count) + " codes, got " +
                        std::to_string(codes.ElementLength()));
  const uint8_t* src = typedData<const uint8_t>(codes);
  const size_t bad = findBadCode(src, count, bits);
  if (bad != SIZE_MAX)
    throwRange(env, "codes[" + std::to_string(bad) + "] = " + std::to_string(src[bad]) + " does not fit in " +
                        std::to_string(bits) + " bits (must be < " + std::to_string(1 << bits) + ")");
  uint64_t* planes = nullptr;
  int32_t* pops = nullptr;
  Napi::Object out = newPacked(env, rows, cols, bits, &planes, &pops);
  pack(*instance(env).isa, src, rows, cols, bits, planes, pops, instance(env).threads);
  return out;
}

// unpack(packed) -> Uint8Array of rows*cols codes.
Napi::Value Unpack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwType(env, "unpack(packed) takes 1 argument");
  const PackedView p = packedArg(info[0], "packed");
  auto out = Napi::Uint8Array::New(env, bufferOrThrow(mulOrThrow({p.rows, p.cols}, "unpacked codes"), 1, "unpacked codes"));
  unpack(p, out.Data());
  return out;
}

}  // namespace

void registerPack(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "pack", Pack);
  exportFunction(env, exports, "unpack", Unpack);
}

}  // namespace addon
}  // namespace anyprec
