// Epilogue row loops (epilogue.h) for neon (AArch64 Advanced SIMD: 4 lanes). The GEMM finish runs
// the explicit loops of epilogue_simd.h over the lane set below; NEON has no masked loads, so a row
// tail goes through a zero-filled 4-lane buffer (copied in, computed as a whole vector, its first
// rem lanes copied out). The other entries are the generic loops compiled with these flags.
#include <arm_neon.h>

#include <cstring>

#include "eltwise/epilogue_simd.h"

namespace anyprec {
namespace {

using epilogue_simd::Full;

struct Neon {
  static constexpr size_t kLanes = 4;
  using I = int32x4_t;
  using F = float32x4_t;
  using I64 = int64x2_t;
  struct Part {
    size_t rem;
  };
  // x * mul for mul in {1, 2, 4, -2}: ((x << s) ^ neg) - neg, neg = 0 or -1 (two's complement negation).
  struct MulOp {
    int64x2_t shift, neg;
  };

  static Part part(size_t rem) { return {rem}; }
  static I64 set64(int64_t v) { return vdupq_n_s64(v); }
  static MulOp mulOp(int64_t mul) {
    const int64_t s = mul == 1 ? 0 : mul == 4 ? 2 : 1;
    return {vdupq_n_s64(s), vdupq_n_s64(mul < 0 ? -1 : 0)};
  }

  // The first rem elements of p in a zero-filled vector's worth of T.
  template <typename T>
  struct Padded {
    T v[4] = {};
    Padded(const T* p, size_t rem) { std::memcpy(v, p, rem * sizeof(T)); }
  };

  static int64x2_t times(int64x2_t x, const MulOp& mo) { return vsubq_s64(veorq_s64(vshlq_s64(x, mo.shift), mo.neg), mo.neg); }
  static I combine(const int64_t* core, const int64_t* col, I64 rt, const MulOp& mo, Full) {
    const int64x2_t lo = vaddq_s64(vaddq_s64(times(vld1q_s64(core), mo), rt), vld1q_s64(col));
    const int64x2_t hi = vaddq_s64(vaddq_s64(times(vld1q_s64(core + 2), mo), rt), vld1q_s64(col + 2));
    return vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));  // vmovn truncates
  }
  static I combine(const int64_t* core, const int64_t* col, I64 rt, const MulOp& mo, Part m) {
    const Padded<int64_t> c(core, m.rem), t(col, m.rem);
    return combine(c.v, t.v, rt, mo, Full{});
  }

  static I loadI(const int32_t* p, Full) { return vld1q_s32(p); }
  static I loadI(const int32_t* p, Part m) { return vld1q_s32(Padded<int32_t>(p, m.rem).v); }
  static F loadF(const float* p, Full) { return vld1q_f32(p); }
  static F loadF(const float* p, Part m) { return vld1q_f32(Padded<float>(p, m.rem).v); }
  static void storeI(int32_t* p, I v, Full) { vst1q_s32(p, v); }
  static void storeI(int32_t* p, I v, Part m) {
    int32_t t[4];
    vst1q_s32(t, v);
    std::memcpy(p, t, m.rem * sizeof(int32_t));
  }
  static void storeF(float* p, F v, Full) { vst1q_f32(p, v); }
  static void storeF(float* p, F v, Part m) {
    float t[4];
    vst1q_f32(t, v);
    std::memcpy(p, t, m.rem * sizeof(float));
  }
  // Codes 0..255 in int32 lanes -> 4 bytes (narrowing truncations).
  static uint32_t codeBytes(I v) {
    const int16x4_t h = vmovn_s32(v);
    const uint8x8_t b = vmovn_u16(vreinterpretq_u16_s16(vcombine_s16(h, h)));
    return vget_lane_u32(vreinterpret_u32_u8(b), 0);
  }
  static void storeCodes(uint8_t* p, I v, Full) {
    const uint32_t w = codeBytes(v);
    std::memcpy(p, &w, 4);
  }
  static void storeCodes(uint8_t* p, I v, Part m) {
    const uint32_t w = codeBytes(v);
    std::memcpy(p, &w, m.rem);
  }

  static F cvt(I v) { return vcvtq_f32_s32(v); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F set1(float v) { return vdupq_n_f32(v); }
  // NEON's fmax / fmin propagate NaN and order signed zeros, unlike the C ternaries; compares and
  // selects spell the ternaries out: y < lo ? lo : y, then y > hi ? hi : y (clampTo).
  static F clamp(F y, F lo, F hi) {
    y = vbslq_f32(vcltq_f32(y, lo), lo, y);
    return vbslq_f32(vcgtq_f32(y, hi), hi, y);
  }
  // quantizeUnit: y > 0 ? y : 0 (NaN -> 0), c < 1 ? c : 1, then the round-half-even step.
  static I quantize(F y, F levels) {
    const F zero = vdupq_n_f32(0.0f), one = vdupq_n_f32(1.0f), magic = vdupq_n_f32(12582912.0f);
    F c = vbslq_f32(vcgtq_f32(y, zero), y, zero);
    c = vbslq_f32(vcltq_f32(c, one), c, one);
    return vcvtq_s32_f32(vsubq_f32(vaddq_f32(vmulq_f32(c, levels), magic), magic));
  }
};

}  // namespace

const EpilogueTable kNeonEpilogueTable = epilogue_simd::table<Neon>("neon");

}  // namespace anyprec
