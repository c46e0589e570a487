// NEON int8 variant with the ARMv8.2-A dot-product extension (SDOT, compiled with
// -march=armv8.2-a+dotprod; listed only when HWCAP_ASIMDDP says the CPU has it). SDOT is signed x
// signed, so A bytes are flipped to s8 (a'' = a' XOR 0x80 = a' - 128) in registers and the tile
// adds back 128 * sum_k b'[j][k] (colSum): sum a' b' = sum a'' b' + 128 * sum b' (mod 2^32).
// Register tile: 4 rows x 16 columns = 16 q accumulators; B: 4 q (16 columns x 4 k) per k4 step,
// A: one q per row per 16 k, used lane by lane (SDOT by element).
#include <arm_neon.h>

#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace {

template <int MR>
void block(const uint8_t* a, size_t lda, const int8_t* b, size_t kPad, const int32_t* colSum, int32_t* c, size_t ldc) {
  int32x4_t acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4; ++q) acc[r][q] = vdupq_n_s32(0);
  const uint8x16_t flip = vdupq_n_u8(0x80);
  for (size_t k = 0; k < kPad; k += 16) {
    int8x16_t av[MR];
    for (int r = 0; r < MR; ++r) av[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + r * lda + k), flip));
    const int8_t* bk = b + (k / 4) * 64;
#define ANYPREC_SDOT_GROUP(g)                                                              \
  {                                                                                        \
    int8x16_t bv[4];                                                                       \
    for (int q = 0; q < 4; ++q) bv[q] = vld1q_s8(bk + (g) * 64 + q * 16);                  \
    for (int r = 0; r < MR; ++r)                                                           \
      for (int q = 0; q < 4; ++q) acc[r][q] = vdotq_laneq_s32(acc[r][q], bv[q], av[r], g); \
  }
    ANYPREC_SDOT_GROUP(0)
    ANYPREC_SDOT_GROUP(1)
    ANYPREC_SDOT_GROUP(2)
    ANYPREC_SDOT_GROUP(3)
#undef ANYPREC_SDOT_GROUP
  }
  int32x4_t fix[4];
  for (int q = 0; q < 4; ++q) fix[q] = vshlq_n_s32(vld1q_s32(colSum + q * 4), 7);  // 128 * colSum, wraps
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4; ++q) vst1q_s32(c + r * ldc + q * 4, vaddq_s32(acc[r][q], fix[q]));
}

using BlockFn = void (*)(const uint8_t*, size_t, const int8_t*, size_t, const int32_t*, int32_t*, size_t);
constexpr int kMr = 4;
const BlockFn kBlocks[kMr + 1] = {nullptr, block<1>, block<2>, block<3>, block<4>};

void tileNeonDot(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  for (int j0 = 0; j0 < t.n; j0 += static_cast<int>(kI8NBlock)) {
    const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
    for (int i0 = 0; i0 < t.m; i0 += kMr) {
      const int mr = t.m - i0 < kMr ? t.m - i0 : kMr;
      kBlocks[mr](t.a + i0 * t.lda, t.lda, b, t.kPad, t.colSum + j0, t.c + i0 * t.ldc + j0, t.ldc);
    }
  }
}

}  // namespace

const I8Kernel kI8NeonDot = {"neon-dot", byteRowsGeneric, tileNeonDot, nullptr, 0};

}  // namespace anyprec
