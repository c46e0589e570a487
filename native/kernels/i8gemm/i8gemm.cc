// ISA-independent parts of the int8 path: byte mapping, weight preparation and the measured
// table of when the int8 path beats bit-serial (per variant).
#include "i8gemm/i8gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/threadpool.h"

namespace anyprec {

// ---- byte mapping ------------------------------------------------------------------------------

ByteMap byteMapA(Encoding e, int bits) {
  ByteMap m{};
  for (int p = 0; p < bits; ++p) m.planeValue[p] = static_cast<uint8_t>(1u << (bits - 1 - p));
  if (e == Encoding::Signed) {
    // a' = u XOR 2^(bits-1) = core + 2^(bits-1), in 0..2^bits-1
    m.xorValue = static_cast<uint8_t>(1u << (bits - 1));
    m.offset = int64_t{1} << (bits - 1);
  }
  return m;
}

ByteMap byteMapB(Encoding e, int bits) {
  ByteMap m{};
  for (int p = 0; p < bits; ++p) m.planeValue[p] = static_cast<uint8_t>(1u << (bits - 1 - p));
  if (e == Encoding::Signed) {
    // two's complement sign extension: the top plane sets bits (bits-1)..7
    m.planeValue[0] = static_cast<uint8_t>((0xFFu << (bits - 1)) & 0xFFu);
  } else if (bits == 8) {
    // u in 0..255 does not fit s8: b' = u - 128 (XOR 0x80), ob = 128
    m.xorValue = 0x80;
    m.offset = 128;
  }
  return m;
}

// ---- byte rebuilding (portable) -----------------------------------------------------------------

namespace {
// spread[x] has byte i = bit i of x (0 or 1); times v (<= 255) gives bytes 0 or v, no carries.
struct SpreadTable {
  uint64_t v[256];
  SpreadTable() {
    for (int x = 0; x < 256; ++x) {
      uint64_t s = 0;
      for (int i = 0; i < 8; ++i) s |= static_cast<uint64_t>((x >> i) & 1) << (8 * i);
      v[x] = s;
    }
  }
};
const SpreadTable kSpread;
}  // namespace

void byteRowsGeneric(const ByteRowsArgs& a) {
  const size_t planeStride = a.kWords * kPanelRows;
  const uint64_t xorWord = 0x0101010101010101ull * a.xorValue;
  for (int r = 0; r < a.rows; ++r) {
    uint8_t* out = a.out + static_cast<size_t>(r) * a.ldOut;
    const uint64_t* lane = a.panel + a.lane0 + r;
    for (size_t w = 0; w < a.kWords; ++w) {
      uint64_t bytes[8];
      for (int i = 0; i < 8; ++i) bytes[i] = 0;
      for (int p = 0; p < a.planes; ++p) {
        const uint64_t bits = lane[p * planeStride + w * kPanelRows];
        const uint64_t v = a.planeValue[p];
        for (int i = 0; i < 8; ++i) bytes[i] |= kSpread.v[(bits >> (8 * i)) & 0xFF] * v;
      }
      for (int i = 0; i < 8; ++i) bytes[i] ^= xorWord;
      const size_t t0 = w * 64;
      const size_t valid = std::min<size_t>(64, a.k - t0);
      std::memcpy(out + t0, bytes, valid);
      if (valid < 64) std::memset(out + t0 + valid, 0, 64 - valid);
    }
    const size_t done = a.kWords * 64;
    if (a.kPad > done) std::memset(out + done, 0, a.kPad - done);
  }
}

// ---- weight preparation ------------------------------------------------------------------------

namespace {
constexpr size_t kPrepBlocksPerTask = 4;  // 64 columns per task
}

size_t prepareI8WeightsTasks(size_t n) {
  const size_t blocks = i8NPad(n) / kI8NBlock;
  return (blocks + kPrepBlocksPerTask - 1) / kPrepBlocksPerTask;
}

void prepareI8WeightsTask(const I8Kernel& kern, const PackedView& b, int bits, Encoding enc, int8_t* data,
                          int32_t* colSum, size_t task) {
  const size_t kPad = i8KPad(b.cols), kWords = kWordsFor(b.cols);
  const size_t blocks = i8NPad(b.rows) / kI8NBlock;
  const size_t blk0 = task * kPrepBlocksPerTask, blk1 = std::min(blocks, blk0 + kPrepBlocksPerTask);
  const ByteMap map = byteMapB(enc, bits);
  thread_local std::vector<uint8_t> rowsBuf;
  rowsBuf.resize(kI8NBlock * kPad);
  uint8_t* rows = rowsBuf.data();
  const size_t panelWords = static_cast<size_t>(b.planes) * kWords * kPanelRows;
  for (size_t blk = blk0; blk < blk1; ++blk) {
    const size_t j0 = blk * kI8NBlock;
    // 16 rows = two panels of 8
    for (size_t half = 0; half < 2; ++half) {
      const size_t r0 = j0 + half * kPanelRows;
      uint8_t* out = rows + half * kPanelRows * kPad;
      const int nRows = r0 >= b.rows ? 0 : static_cast<int>(std::min<size_t>(kPanelRows, b.rows - r0));
      if (nRows > 0) {
        ByteRowsArgs args{};
        args.panel = b.data + (r0 / kPanelRows) * panelWords;
        args.kWords = kWords;
        args.lane0 = 0;
        args.rows = nRows;
        args.planes = bits;
        std::memcpy(args.planeValue, map.planeValue, 8);
        args.xorValue = map.xorValue;
        args.k = b.cols;
        args.kPad = kPad;
        args.out = out;
        args.ldOut = kPad;
        kern.byteRows(args);
      }
      if (nRows < kPanelRows) std::memset(out + nRows * kPad, 0, (kPanelRows - nRows) * kPad);
    }
    int8_t* dst = data + blk * kPad * kI8NBlock;
    for (size_t k4 = 0; k4 < kPad / 4; ++k4) {
      for (size_t j = 0; j < kI8NBlock; ++j) std::memcpy(dst + (k4 * kI8NBlock + j) * 4, rows + j * kPad + k4 * 4, 4);
    }
    for (size_t j = 0; j < kI8NBlock; ++j) {
      int64_t s = 0;
      const int8_t* r = reinterpret_cast<const int8_t*>(rows + j * kPad);
      for (size_t t = 0; t < b.cols; ++t) s += r[t];
      colSum[j0 + j] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(s)));
    }
  }
}

void prepareI8Weights(const I8Kernel& kern, const PackedView& b, int bits, Encoding enc, int8_t* data,
                      int32_t* colSum, int threads) {
  parallelRun(prepareI8WeightsTasks(b.rows), threads,
              [&](size_t t) { prepareI8WeightsTask(kern, b, bits, enc, data, colSum, t); });
}

// ---- ceiling ------------------------------------------------------------------------------------

uint64_t i8CeilingScalar(uint64_t iters, uint64_t seed) {
  // 4 independent accumulators, each a 4-byte u8 x s8 dot product per iteration (16 MACs).
  uint8_t a[4];
  int8_t b[4];
  for (int q = 0; q < 4; ++q) {
    a[q] = static_cast<uint8_t>(seed >> (8 * q));
    b[q] = static_cast<int8_t>(seed >> (8 * q + 32));
  }
  uint32_t acc[4] = {0, 1, 2, 3};
  for (uint64_t it = 0; it < iters; ++it) {
    for (int c = 0; c < 4; ++c) {
      int32_t s = 0;
      for (int q = 0; q < 4; ++q) s += static_cast<int32_t>(a[q]) * b[q];
      acc[c] = acc[c] * 3u + static_cast<uint32_t>(s);  // the multiply keeps the loop from being folded
    }
  }
  return (uint64_t{acc[0]} ^ acc[1]) + (uint64_t{acc[2]} ^ acc[3]);
}

I8CeilingRun i8Ceiling(const I8Kernel& kern, uint64_t iterations) {
  I8CeilingRun r;
  const bool own = kern.ceiling != nullptr;
  r.checksum = (own ? kern.ceiling : i8CeilingScalar)(iterations, 0x5DEECE66Dull + iterations);
  r.macs = static_cast<double>(iterations) * static_cast<double>(own ? kern.ceilingMacsPerIter : kI8CeilingScalarMacs);
  return r;
}

// ---- dispatch ----------------------------------------------------------------------------------
//
// gemm/gemm.h decides from the measured ceilings (popcount vs VNNI) where a variant has a ceiling
// loop (avx512-vnni, avx-vnni) at two rows or more; this table serves the rest: one row (GEMV)
// for every variant, and amx, avx2, neon, neon-dot and scalar at every row count. (avx2 has a
// ceiling loop since its 2026-12 kernel, but keeps this row: the rule's fitted e ratios are the
// VNNI kernels'. The row below was measured with the kernel before, which was 2-3x slower on an
// AMD Zen 3 (tiles and GEMMs of 1-256 rows measured): it now takes int8 later than it could. To be
// re-measured on the machine the table was fitted on.)
// Measured on the machine this was written on (Intel Xeon, Emerald Rapids class, 2 shared vCPUs;
// one thread, thread CPU time, medians of 5 interleaved rounds; unsigned activations x bipolar
// weights, both packed with 8 planes), with
//   build-native/i8gemm_bench --isa=avx512 --variants=amx,avx512-vnni --all-ratios --bits=1,2,3,4,6,8
//     --shapes=1x2048x2048,4x2048x2048,8x2048x2048,16x2048x2048,64x2048x2048,256x2048x2048,1x4096x4096,64x4096x4096 --reps=5
//   build-native/i8gemm_bench --isa=avx2 --variants=avx-vnni,avx2 --all-ratios --bits=1,2,3,4,6,8
//     --shapes=1x2048x2048,4x2048x2048,16x2048x2048,64x2048x2048,256x2048x2048 --reps=5
//   build-native/i8gemm_bench --isa=scalar --variants=scalar --bits=1,2,3,4,8 --shapes=1x1024x512,16x1024x512,64x512x512
// Ratios bit-serial time / int8 time at the bit pairs around each threshold (a x w):
//   amx vs avx512 (int8 time does not depend on bits; AMX vs VNNI at M=16: 0.82 vs 0.74 ms, so
//   AMX only from 32 rows): M=64 (2048^2) 1x2 0.67, 2x2 1.16, 1x3 0.93, 1x4 1.24; M=64 (4096^2)
//   1x2 1.22, 1x3 1.70; M=256: 1x1 1.07 (1.01-1.11 in other runs: kept bit-serial), 1x2 1.67.
//   After the B prefetch in i8gemm_amx.cc (--variants=amx --bits=1,2 --reps=7): 1x1 / 1x2 at
//   32x2048^2 0.66 / 1.11, 64x2048^2 0.64 / 1.06, 64x4096^2 0.81 / 1.48, 128x1024^2 0.74 / 1.10,
//   256x1024^2 0.79 / 1.21, 256x4096^2 0.94 / 1.69: int8 from 2 pairs at every M >= 32.
//   avx512-vnni vs avx512: M=1 (4096^2) 8x3 0.84, 3x8 1.01, 4x6 0.93, 6x4 0.88, 4x8 1.27, 8x4 1.11;
//   M=4 3x6 0.97, 4x4 0.85, 4x6 1.26, 3x8 1.31; M=8 3x4 0.92, 4x4 1.20, 2x8 1.21; M=16 2x4 0.96,
//   3x3 1.07, 2x6 1.44; M=64 2x3 0.85, 3x3 1.24, 2x4 1.20; M=256 2x2 0.68, 2x3 0.99, 1x6 1.22.
//   avx-vnni vs avx2: M=1 2x8 0.92, 3x6 0.92, 3x8 1.32, 6x4 1.13; M=4 3x3 0.88, 1x8 0.97, 2x6 1.25,
//   3x4 1.17; M=16 2x2 0.84, 1x4 0.92, 2x3 1.25; M=64 1x3 0.89, 2x2 1.11; M=256 1x3 0.94, 2x2 1.22.
//   avx2 vs avx2: M=1 3x8 0.99, 4x6 0.90, 4x8 1.26, 6x6 1.32; M=4 2x6 0.83, 4x4 1.02, 2x8 1.12;
//   M=16 3x3 0.76, 2x6 1.09, 3x4 1.03; M=64 3x3 0.90, 2x6 1.23, 3x4 1.17.
//   scalar vs scalar: 3x1 0.87-0.92, 2x2 1.00-1.14, 1x4 1.00-1.12 (all shapes alike).
// At one row (GEMV) the weights stream from memory and activation bits are nearly free for
// bit-serial, so its cost is ~ bBits * (aBits + d), not aBits * bBits. Fitted to the M=1 ratios
// above (and the 1x8 / 8x8 ratios 0.59 / 2.22 for avx512-vnni, 0.59 / 2.98 for avx-vnni, 0.44 /
// 2.24 for avx2): avx512-vnni d = 1.5, avx-vnni and avx2 d = 0.7; the rule
// bBits * (2 * aBits + e) >= T1 below classifies every measured M=1 pair correctly.
// neon-dot and neon are NOT measured (no arm64 hardware here; qemu timings mean nothing): their
// rows are estimates by analogy (sdot ~ avx-vnni, widening smlal ~ avx2) until someone measures.
namespace {
struct DispatchRow {
  const I8Kernel* kernel;
  int m1Extra;       // e: at M = 1 the int8 path is taken when bBits * (2 * aBits + e) >= threshold[0]
  int threshold[6];  // M = 1 (see m1Extra) | 2-7 | 8-15 | 16-31 | 32-127 | >= 128: smallest aBits*bBits taking int8
};
const DispatchRow kDispatch[] = {
#if defined(__x86_64__) || defined(_M_X64)
    {&kI8Amx, 3, {70, 20, 16, 10, 2, 2}},  // only chosen from 32 rows (platform/platform.cc)
    {&kI8Avx512Vnni, 3, {70, 20, 16, 10, 8, 6}},
    {&kI8AvxVnni, 1, {47, 10, 8, 5, 4, 4}},
    {&kI8Avx2, 1, {62, 16, 14, 12, 10, 10}},
#endif
#if defined(__aarch64__)
    {&kI8NeonDot, 1, {47, 10, 8, 6, 5, 5}},  // estimate
    {&kI8Neon, 1, {62, 16, 14, 12, 10, 10}},  // estimate
#endif
    {&kI8Scalar, 0, {8, 4, 4, 4, 4, 4}},
};

int rowBucket(size_t m) {
  if (m <= 1) return 0;
  if (m < 8) return 1;
  if (m < 16) return 2;
  if (m < 32) return 3;
  if (m < 128) return 4;
  return 5;
}
}  // namespace

bool preferInt8(const I8Kernel& kern, int aBits, int bBits, size_t m, size_t n) {
  if (m == 0 || n == 0) return false;
  for (const DispatchRow& row : kDispatch) {
    if (row.kernel != &kern) continue;
    const int bucket = rowBucket(m);
    if (bucket == 0) return bBits * (2 * aBits + row.m1Extra) >= row.threshold[0];
    return aBits * bBits >= row.threshold[bucket];
  }
  return false;
}

double int8TableRatio(const I8Kernel& kern, int aBits, int bBits, size_t m, size_t n) {
  if (m == 0 || n == 0) return 0;
  for (const DispatchRow& row : kDispatch) {
    if (row.kernel != &kern) continue;
    const int bucket = rowBucket(m);
    const int cost = bucket == 0 ? bBits * (2 * aBits + row.m1Extra) : aBits * bBits;
    return static_cast<double>(cost) / row.threshold[bucket];
  }
  return 0;
}

}  // namespace anyprec
