// Scalar int8 variant: the plainest form of the tile (u8 x s8 sums in uint32, i.e. int32 with
// wrap-around; see i8gemm.h for why wrap-around is exact). The reference the SIMD variants are
// tested against, and what the int8 path runs on a CPU without SIMD.
#include <cstring>

#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace {

void tileScalar(const I8TileArgs& t) {
  const int rows = t.m;
  for (int j0 = 0; j0 < t.n; j0 += static_cast<int>(kI8NBlock)) {
    const int8_t* blk = t.b + static_cast<size_t>(j0 / kI8NBlock) * t.kPad * kI8NBlock;
    for (int i = 0; i < rows; ++i) {
      const uint8_t* a = t.a + static_cast<size_t>(i) * t.lda;
      uint32_t acc[kI8NBlock] = {};
      for (size_t k4 = 0; k4 < t.kPad / 4; ++k4) {
        const int8_t* b = blk + k4 * 4 * kI8NBlock;
        for (size_t j = 0; j < kI8NBlock; ++j) {
          int32_t s = 0;  // 4 products: |s| <= 4 * 255 * 128, no overflow
          for (int q = 0; q < 4; ++q) s += static_cast<int32_t>(a[k4 * 4 + q]) * b[j * 4 + q];
          acc[j] += static_cast<uint32_t>(s);
        }
      }
      int32_t* c = t.c + static_cast<size_t>(i) * t.ldc + j0;
      for (size_t j = 0; j < kI8NBlock; ++j) c[j] = static_cast<int32_t>(acc[j]);
    }
  }
}

}  // namespace

const I8Kernel kI8Scalar = {"scalar", byteRowsGeneric, tileScalar, i8CeilingScalar, kI8CeilingScalarMacs};

}  // namespace anyprec
