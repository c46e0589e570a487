// ISA-independent parts of the int8 path: byte mapping, weight preparation, variant detection
// (cpuid / xgetbv / arch_prctl, HWCAP) and the measured dispatch table.
#include "i8gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "bitgemm.h"
#include "threadpool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

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

// ---- variant detection -------------------------------------------------------------------------

namespace {

struct I8Features {
  bool avx2 = false, avxVnni = false, avx512Vnni = false, amx = false;
  bool neon = false, neonDot = false;
};

#if defined(__x86_64__) || defined(_M_X64)
// Asks Linux for the AMX tile data state (process-wide, needed once before any tile instruction).
// Refused (old kernel, seccomp, no XFD support) means no AMX: the other variants remain.
bool requestAmxPermission() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

I8Features detectI8() {
  I8Features f;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, popcnt = (c >> 23) & 1;
  if (!osxsave || __get_cpuid_max(0, nullptr) < 7) return f;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm = (xlo & 0x6) == 0x6, zmm = ymm && (xlo & 0xE0) == 0xE0;
  const bool tileState = ((xlo >> 17) & 3) == 3;  // XTILECFG + XTILEDATA enabled by the OS
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
  const bool f512 = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  const bool vpopcntdq = (c >> 14) & 1, vnni512 = (c >> 11) & 1;
  const bool amxTile = (d >> 24) & 1, amxInt8 = (d >> 25) & 1;
  unsigned a1 = 0, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  const bool avxVnni = (a1 >> 4) & 1;
  f.avx2 = ymm && avx2 && fma && popcnt && bmi2;
  const bool avx512 = f.avx2 && zmm && f512 && dq && bw && vl && vpopcntdq;  // the avx512 table's level
  f.avxVnni = f.avx2 && avxVnni;
  f.avx512Vnni = avx512 && vnni512;
  f.amx = f.avx512Vnni && amxTile && amxInt8 && tileState && requestAmxPermission();
#endif
#if defined(__aarch64__)
  f.neon = true;
#if defined(__linux__) && defined(HWCAP_ASIMD)
  const unsigned long hw = getauxval(AT_HWCAP);
  f.neon = (hw & HWCAP_ASIMD) != 0;
#if defined(HWCAP_ASIMDDP)
  f.neonDot = f.neon && (hw & HWCAP_ASIMDDP) != 0;
#endif
#endif
#endif
  return f;
}

const I8Features& features() {
  static const I8Features f = detectI8();
  return f;
}

}  // namespace

const std::vector<const I8Kernel*>& availableI8Kernels() {
  static const std::vector<const I8Kernel*> list = [] {
    std::vector<const I8Kernel*> v;
    const I8Features& f = features();
    (void)f;
#if defined(__x86_64__) || defined(_M_X64)
    if (f.amx) v.push_back(&kI8Amx);
    if (f.avx512Vnni) v.push_back(&kI8Avx512Vnni);
    if (f.avxVnni) v.push_back(&kI8AvxVnni);
    if (f.avx2) v.push_back(&kI8Avx2);
#endif
#if defined(__aarch64__)
    if (f.neonDot) v.push_back(&kI8NeonDot);
    if (f.neon) v.push_back(&kI8Neon);
#endif
    v.push_back(&kI8Scalar);
    return v;
  }();
  return list;
}

const I8Kernel* findI8Kernel(const std::string& name) {
  for (const I8Kernel* k : availableI8Kernels())
    if (name == k->name) return k;
  return nullptr;
}

// ---- dispatch ----------------------------------------------------------------------------------
//
// Measured table. AMX pays for tiles of 32 rows (a GEMM with fewer rows computes zero rows), so
// below kAmxMinRows rows the avx512 level uses avx512-vnni.
namespace {
constexpr size_t kAmxMinRows = 16;
}

const I8Kernel& i8KernelFor(const KernelTable& isa, size_t m) {
  const std::string name = isa.name;
  const I8Features& f = features();
  (void)f;
  (void)m;
#if defined(__x86_64__) || defined(_M_X64)
  if (name == "avx512") {
    if (f.amx && m >= kAmxMinRows) return kI8Amx;
    if (f.avx512Vnni) return kI8Avx512Vnni;
    if (f.avxVnni) return kI8AvxVnni;
    return kI8Avx2;
  }
  if (name == "avx2") return f.avxVnni ? kI8AvxVnni : kI8Avx2;
#endif
#if defined(__aarch64__)
  if (name == "neon") return f.neonDot ? kI8NeonDot : kI8Neon;
#endif
  return kI8Scalar;
}

bool preferInt8(const KernelTable& isa, int aBits, int bBits, size_t m, size_t n, size_t k) {
  (void)n;
  (void)k;
  const std::string kern = i8KernelFor(isa, m).name;
  const int pairs = aBits * bBits;
  // Smallest aBits*bBits from which the int8 path is faster, per variant and M range.
  int threshold;
  if (kern == "amx") threshold = 2;
  else if (kern == "avx512-vnni") threshold = m <= 1 ? 16 : 6;
  else if (kern == "avx-vnni") threshold = m <= 1 ? 12 : 4;
  else if (kern == "avx2") threshold = m <= 1 ? 16 : 8;
  else if (kern == "neon-dot") threshold = 6;
  else if (kern == "neon") threshold = 16;
  else threshold = 64;  // scalar: bit-serial popcount on 64-bit words wins up to 8x8
  return pairs >= threshold;
}

}  // namespace anyprec
