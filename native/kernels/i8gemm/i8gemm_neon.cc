// NEON int8 variant without the dot-product extension (ARMv8.0-A). B bytes are sign-extended to
// int16 (SXTL), A bytes zero-extended (UXTL; <= 255 is a valid int16), and SMLAL forms exact
// int16 x int16 products accumulated into int32 lanes (wrap-around, see i8gemm.h). 16 bytes of B
// = 4 columns x 4 k: lanes of column c's accumulator hold its 4 k phases, summed at the end (ADDV).
// Register tile: 1 row x 16 columns (16 q accumulators).
#include <arm_neon.h>

#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace {

void tileNeon(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  for (int j0 = 0; j0 < t.n; j0 += static_cast<int>(kI8NBlock)) {
    const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
    for (int i = 0; i < t.m; ++i) {
      const uint8_t* a = t.a + static_cast<size_t>(i) * t.lda;
      int32x4_t acc[16];
      for (int q = 0; q < 16; ++q) acc[q] = vdupq_n_s32(0);
      for (size_t k4 = 0; k4 < t.kPad / 4; k4 += 2) {
        // 8 bytes of A = two k4 groups
        const int16x8_t a16 = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a + k4 * 4)));
        const int16x4_t aLo = vget_low_s16(a16), aHi = vget_high_s16(a16);
        for (int g = 0; g < 2; ++g) {
          const int16x4_t av = g == 0 ? aLo : aHi;
          const int8_t* bk = b + (k4 + g) * 64;
          for (int q = 0; q < 4; ++q) {
            const int8x16_t raw = vld1q_s8(bk + q * 16);
            const int16x8_t lo = vmovl_s8(vget_low_s8(raw)), hi = vmovl_s8(vget_high_s8(raw));
            acc[q * 4 + 0] = vmlal_s16(acc[q * 4 + 0], vget_low_s16(lo), av);
            acc[q * 4 + 1] = vmlal_s16(acc[q * 4 + 1], vget_high_s16(lo), av);
            acc[q * 4 + 2] = vmlal_s16(acc[q * 4 + 2], vget_low_s16(hi), av);
            acc[q * 4 + 3] = vmlal_s16(acc[q * 4 + 3], vget_high_s16(hi), av);
          }
        }
      }
      int32_t* c = t.c + static_cast<size_t>(i) * t.ldc + j0;
      for (int q = 0; q < 16; ++q) c[q] = vaddvq_s32(acc[q]);
    }
  }
}

}  // namespace

const I8Kernel kI8Neon = {"neon", byteRowsGeneric, tileNeon, nullptr, 0};

}  // namespace anyprec
