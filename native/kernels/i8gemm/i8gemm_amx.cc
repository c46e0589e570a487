// AMX-INT8 variant: TDPBUSD on 16x64-byte tiles (u8 x s8 -> int32, wrap-around, no saturation).
// Tiles: tmm0..3 = a 32 x 32 block of C, tmm4/5 = two 16-row A tiles (64 k each, straight from
// the row-major activation bytes), tmm6/7 = two 16-column B tiles (16 rows of 64 bytes: exactly
// 64 consecutive bytes of the prepared layout per k4 row). Each loaded tile feeds two TDPBUSD.
// The tile configuration is loaded per call (it is per thread) and released at the end so the
// thread does not keep the large AMX state. The OS permission (arch_prctl) is requested once at
// detection (platform/cpu.cc); this variant is only listed when it was granted.
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_x86.h"

namespace anyprec {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t startRow;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Loop order: 32-column B strips outside, 32-row blocks inside, each block over the whole K.
// The B strip (32 x K bytes, streamed from memory once per call) is reused by every row block
// while it sits in L2; the activation rows (a few hundred KiB) stay in L2 throughout. Measured on
// the Xeon this was written on (/tmp harness, 256x4096x4096 as tasks of R rows x C columns, one
// thread, medians of 7 interleaved rounds): R=256 2290 Gop/s, R=128 2100, R=64 1620, R=32 1310,
// nearly independent of C (64..1024); blocking K by 1024 with C reloaded was 10-20% slower at
// every R. Hence the driver gives this variant tasks of up to 256 rows.
constexpr size_t kPrefetchSteps = 4;

void tileAmx(const I8TileArgs& t) {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int i = 0; i < 8; ++i) {
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  _tile_loadconfig(&cfg);
  const size_t blockBytes = t.kPad * kI8NBlock;
  const int mPad = (t.m + 31) / 32 * 32;
  const size_t lda = t.lda, ldcBytes = t.ldc * sizeof(int32_t);
  for (int j0 = 0; j0 < t.n; j0 += 32) {
    const int8_t* b0 = t.b + (j0 / kI8NBlock) * blockBytes;
    const int8_t* b1 = b0 + blockBytes;
    for (int i0 = 0; i0 < mPad; i0 += 32) {
      int32_t* c0 = t.c + static_cast<size_t>(i0) * t.ldc + j0;
      int32_t* c1 = c0 + 16 * t.ldc;
      const uint8_t* a0 = t.a + static_cast<size_t>(i0) * lda;
      const uint8_t* a1 = a0 + 16 * lda;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (size_t k = 0; k < t.kPad; k += 64) {
        if (i0 == 0) {
          // The first row block pulls the strip from memory: prefetch its B tiles 4 k-steps
          // ahead (measured +24% at 64 rows, +6% at 256 rows with B not in cache). Past the
          // strip's end this runs into the next block, harmlessly (prefetches never fault).
          const char* p0 = reinterpret_cast<const char*>(b0 + (k + kPrefetchSteps * 64) * 16);
          const char* p1 = reinterpret_cast<const char*>(b1 + (k + kPrefetchSteps * 64) * 16);
          for (int line = 0; line < 16; ++line) {
            _mm_prefetch(p0 + line * 64, _MM_HINT_T0);
            _mm_prefetch(p1 + line * 64, _MM_HINT_T0);
          }
        }
        _tile_loadd(4, a0 + k, lda);
        _tile_loadd(6, b0 + k * 16, 64);
        _tile_loadd(5, a1 + k, lda);
        _tile_loadd(7, b1 + k * 16, 64);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
      }
      _tile_stored(0, c0, ldcBytes);
      _tile_stored(1, c0 + 16, ldcBytes);
      _tile_stored(2, c1, ldcBytes);
      _tile_stored(3, c1 + 16, ldcBytes);
    }
  }
  _tile_release();
}

}  // namespace

const I8Kernel kI8Amx = {"amx", byteRowsAvx512, tileAmx, nullptr, 0};

}  // namespace anyprec
