// Native tests of the int8 path: every int8 variant this CPU runs against the scalar bit-serial
// GEMM (bit-identical int32, float and code outputs) for every (aBits, bBits) in 1..8 x 1..8, every
// encoding pair, odd shapes (K = 1, 63, 64, 65, 511, 513, 4099; M, N off every tile size; M, N, K one
// below / at / one above each register-tile and K-block edge),
// operands stored with more planes than used (truncation), 1 and 3 threads; plus the byte
// rebuilding and the tile kernels alone (full byte range, a K long enough to wrap int32).
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

const Encoding kEncs[] = {Encoding::Unsigned, Encoding::Bipolar, Encoding::Signed};
const char* kEncNames[] = {"unsigned", "bipolar", "signed"};

// byteRows of a variant against the portable one: every lane offset / row count, odd K, random
// plane values and XOR constants; the padding bytes must come out zero.
void checkByteRows(const I8Kernel& kern, std::mt19937_64& rng) {
  const size_t ks[] = {1, 31, 32, 33, 63, 64, 65, 200, 513};
  for (size_t k : ks) {
    const size_t kWords = kWordsFor(k), kPad = i8KPad(k) + (k % 2 ? 64 : 0);
    for (int planes = 1; planes <= 8; ++planes) {
      std::vector<uint64_t> panel(static_cast<size_t>(planes + 1) * kWords * 8);
      for (auto& w : panel) w = rng();
      for (int lane0 = 0; lane0 < 8; lane0 += 3) {
        const int rows = 8 - lane0 - static_cast<int>(rng() % 2);
        ByteRowsArgs a{};
        a.panel = panel.data();
        a.kWords = kWords;
        a.lane0 = lane0;
        a.rows = rows;
        a.planes = planes;
        for (int p = 0; p < 8; ++p) a.planeValue[p] = static_cast<uint8_t>(rng());
        a.xorValue = static_cast<uint8_t>(rng() % 3 == 0 ? 0 : rng());
        a.k = k;
        a.kPad = kPad;
        a.ldOut = kPad + 7;
        std::vector<uint8_t> ref(rows * a.ldOut, 0xA5), got(ref);
        a.out = ref.data();
        byteRowsGeneric(a);
        a.out = got.data();
        kern.byteRows(a);
        EXPECT(ref == got, "[%s] byteRows k=%zu planes=%d lane0=%d rows=%d", kern.name, k, planes, lane0, rows);
        bool padZero = true;
        for (int r = 0; r < rows; ++r)
          for (size_t t = k; t < kPad; ++t) padZero = padZero && ref[r * a.ldOut + t] == 0;
        EXPECT(padZero, "byteRowsGeneric padding k=%zu", k);
      }
    }
  }
}

// Each column's sum of b' over K (wrapping, as I8TileArgs::colSum; the kernels that shift A by 128,
// e.g. neon-dot's signed dot products, add it back), from the tile layout of b.
std::vector<int32_t> columnSums(const std::vector<int8_t>& b, int n, size_t kPad) {
  std::vector<int32_t> colSum(n, 0);
  for (int j = 0; j < n; ++j) {
    uint32_t s = 0;
    for (size_t t = 0; t < kPad; ++t) s += static_cast<uint32_t>(b[(j / 16) * kPad * 16 + (t / 4) * 64 + (j % 16) * 4 + t % 4]);
    colSum[j] = static_cast<int32_t>(s);
  }
  return colSum;
}

// The tile kernel alone against the scalar one, on random bytes of the full range.
void checkTile(const I8Kernel& kern, std::mt19937_64& rng) {
  struct Case { int m, n; size_t kPad; };
  const Case cases[] = {{1, 32, 64}, {1, 64, 128}, {1, 96, 192}, {2, 32, 64}, {5, 64, 256}, {12, 32, 64},
                        {13, 96, 320}, {16, 32, 64}, {17, 64, 128}, {31, 32, 576}, {32, 64, 64}, {45, 128, 1024},
                        {3, 32, 66048}};  // the last one: |sum| up to 255*128*66048 > 2^31 (wraps)
  std::vector<Case> all(std::begin(cases), std::end(cases));
  // The register and cache tiles' edges, one below / at / one above each: rows around the 6-row
  // (avx512-vnni) and 12-row tiles, columns around the 32- and 64-column tiles, and K (kPad, in
  // steps of 64) around the 512-byte K block and twice it.
  for (int m : {5, 6, 7, 11, 12, 13})
    for (int n : {32, 64, 96})
      for (size_t kPad : {448, 512, 576, 960, 1024, 1088}) all.push_back({m, n, kPad});
  // avx2's dense loop (8 x 8 bits: the full byte range here): every row remainder of its 6-row tile
  // (2..4 and 8..10 rows), columns past its 64-column chunk (96, 128), K blocks of 576 bytes and a
  // partial one, and more rows than tileAvx2 passes per call (96: 100 = 96 + 4)
  for (int m : {2, 3, 4, 8, 9, 10})
    for (int n : {32, 96})
      for (size_t kPad : {64, 576, 640, 1216}) all.push_back({m, n, kPad});
  all.push_back({100, 128, 1152});
  for (const Case& c : all) {
    const size_t mPad = i8MPad(c.m);
    std::vector<uint8_t> a(mPad * c.kPad, 0);
    for (size_t i = 0; i < c.m * c.kPad; ++i) a[i] = static_cast<uint8_t>(c.kPad > 60000 ? 255 - rng() % 2 : rng());
    std::vector<int8_t> b(static_cast<size_t>(c.n) * c.kPad);
    for (auto& x : b) x = static_cast<int8_t>(c.kPad > 60000 ? -128 + static_cast<int>(rng() % 2) : rng());
    const std::vector<int32_t> colSum = columnSums(b, c.n, c.kPad);
    std::vector<int32_t> ref(mPad * c.n, 0x5a5a5a5a), got(ref);
    I8TileArgs t{a.data(), c.kPad, b.data(), c.kPad, colSum.data(), c.m, c.n, ref.data(), static_cast<size_t>(c.n)};
    kI8Scalar.tile(t);
    t.c = got.data();
    kern.tile(t);
    size_t bad = 0;
    for (size_t i = 0; i < static_cast<size_t>(c.m) * c.n; ++i) bad += ref[i] != got[i];
    EXPECT(bad == 0, "[%s] tile m=%d n=%d kPad=%zu: %zu wrong", kern.name, c.m, c.n, c.kPad, bad);
  }
  // Bounded operands (I8TileArgs::maxProduct; avx2 adds in int16 under it): a' / b' bytes of
  // aBits x bBits codes, half at the extremes (a' max, b' most negative), long K (many int16 flushes).
  const struct { int a, b; Encoding e; int m, n; size_t kPad; } bounded[] = {
      {4, 4, Encoding::Unsigned, 13, 64, 4096}, {2, 3, Encoding::Signed, 7, 32, 1088}, {8, 6, Encoding::Bipolar, 6, 32, 640},
      {7, 8, Encoding::Signed, 1, 96, 2048},    {4, 8, Encoding::Unsigned, 12, 32, 576}, {1, 1, Encoding::Unsigned, 5, 32, 66048},
      // 8 x 8 bits (no int16 bound: avx2's wide loop, B widened per K block): rows 3 + 3 + 2 and 2,
      // K over several K blocks and a partial one (640 = 576 + 64; kPad is a multiple of 64 by contract), a 16-column remainder
      {8, 8, Encoding::Bipolar, 8, 48, 2304},   {8, 8, Encoding::Unsigned, 2, 16, 640},
      // 48 and 112 columns (a 32-column step, then 16): avx512-vnni's tile once left the last 16 unwritten
      // at 2+ rows; one row at 48 and 16 columns: it read a 32-column block where 16 were left (inside
      // this test's buffers, so only the rows case failed here)
      {8, 8, Encoding::Bipolar, 1, 48, 640},    {4, 4, Encoding::Unsigned, 1, 16, 576},  {8, 8, Encoding::Signed, 9, 112, 1152}};
  for (const auto& c : bounded) {
    const int maxA = (1 << c.a) - 1;
    int bLo = -128, bHi = 127;
    if (c.e == Encoding::Signed) bLo = -(1 << (c.b - 1)), bHi = (1 << (c.b - 1)) - 1;
    else if (c.b < 8) bLo = 0, bHi = (1 << c.b) - 1;
    const int bExt = bLo < 0 ? bLo : bHi;
    std::vector<uint8_t> a(i8MPad(c.m) * c.kPad, 0);
    for (size_t i = 0; i < c.m * c.kPad; ++i) a[i] = static_cast<uint8_t>(rng() % 2 ? maxA : rng() % (maxA + 1));
    std::vector<int8_t> b(static_cast<size_t>(c.n) * c.kPad);
    for (auto& x : b) x = static_cast<int8_t>(rng() % 2 ? bExt : bLo + static_cast<int>(rng() % (bHi - bLo + 1)));
    const std::vector<int32_t> colSum = columnSums(b, c.n, c.kPad);
    std::vector<int32_t> ref(i8MPad(c.m) * c.n, 0x5a5a5a5a), got(ref);
    I8TileArgs t{a.data(), c.kPad, b.data(), c.kPad, colSum.data(), c.m, c.n, ref.data(), static_cast<size_t>(c.n)};
    kI8Scalar.tile(t);
    t.c = got.data();
    t.maxProduct = i8MaxProduct(c.a, c.b, c.e);
    kern.tile(t);
    size_t bad = 0;
    for (size_t i = 0; i < static_cast<size_t>(c.m) * c.n; ++i) bad += ref[i] != got[i];
    EXPECT(bad == 0, "[%s] bounded tile %dx%d m=%d n=%d kPad=%zu: %zu wrong", kern.name, c.a, c.b, c.m, c.n, c.kPad, bad);
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(20261126);
  std::printf("int8 variants on this CPU:");
  for (const I8Kernel* k : availableI8Kernels()) std::printf(" %s", k->name);
  std::printf("\nbit-serial tables:");
  for (const Platform* t : availablePlatforms()) std::printf(" %s(int8: %s / %s at M=1)", t->name, int8KernelFor(*t, 256).name,
                                                             int8KernelFor(*t, 1).name);
  std::printf("\n");

  const Shape shapes[] = {{1, 1, 1},    {3, 5, 63},   {9, 17, 64},  {13, 40, 65}, {33, 37, 511},
                          {5, 70, 513}, {2, 33, 4099}, {37, 3, 200}, {1, 300, 130}, {70, 9, 100},
                          // tile edges (m, n, k): 6 / 12 rows, 32 / 64 columns, the 512-value K block
                          {6, 64, 512}, {7, 65, 511}, {5, 63, 1025}, {12, 96, 1024}, {13, 31, 1023}};

  for (const I8Kernel* kern : i8KernelsToCheck()) {
    const int before = failures;
    checkByteRows(*kern, rng);
    checkTile(*kern, rng);
    for (const Shape& s : shapes) {
      for (int ab = 1; ab <= 8; ++ab) {
        for (int bb = 1; bb <= 8; ++bb) {
          // stored planes: exactly the bits used, or more (the top bits of a deeper pack)
          const int aPlanes = std::min(8, ab + static_cast<int>(rng() % 3));
          const int bPlanes = std::min(8, bb + static_cast<int>(rng() % 3));
          auto ac = randomCodes(rng, s.m * s.k, aPlanes);
          auto bc = randomCodes(rng, s.n * s.k, bPlanes);
          Packed A = packWith(scalarPlatform(), ac, s.m, s.k, aPlanes, 1);
          Packed B = packWith(scalarPlatform(), bc, s.n, s.k, bPlanes, 1);
          for (int ea = 0; ea < 3; ++ea) {
            for (int eb = 0; eb < 3; ++eb) {
              GemmSpec spec{A.view(), B.view(), ab, bb, kEncs[ea], kEncs[eb]};
              if (checkGemm(spec).kind != ErrorKind::None) continue;
              std::vector<int32_t> ref(s.m * s.n, 0x7eadbeef);
              bitGemm(scalarPlatform(), spec, ref.data(), 1);
              // prepared weights (3 threads) passed in, and the plan's own copy
              std::vector<int8_t> wData(i8WeightBytes(s.n, s.k));
              std::vector<int32_t> wSum(i8NPad(s.n));
              prepareI8Weights(*kern, spec.b, bb, kEncs[eb], wData.data(), wSum.data(), 3);
              const I8Weights w{wData.data(), wSum.data(), s.n, s.k, bb, kEncs[eb]};
              for (int threads : {1, 3}) {
                std::vector<int32_t> got(s.m * s.n, 0x7eadbeef);
                const Int8Route route{kern, threads == 1 ? nullptr : &w};
                bitGemm(scalarPlatform(), spec, got.data(), Epilogue(), threads, route);
                size_t bad = 0;
                for (size_t i = 0; i < got.size(); ++i) bad += got[i] != ref[i];
                EXPECT(bad == 0, "[%s] m=%zu n=%zu k=%zu a=%d-bit %s (stored %d) b=%d-bit %s (stored %d) threads=%d: %zu wrong",
                       kern->name, s.m, s.n, s.k, ab, kEncNames[ea], aPlanes, bb, kEncNames[eb], bPlanes, threads, bad);
              }
              // epilogues, on a rotation of the bit pairs
              if ((ab * 8 + bb + ea + eb) % 5 == 0) {
                std::vector<float> scale(s.n), shift(s.n);
                for (size_t j = 0; j < s.n; ++j) {
                  scale[j] = 1.0f / static_cast<float>(1 + rng() % 1000);
                  shift[j] = static_cast<float>(static_cast<int>(rng() % 200) - 100) / 64.0f;
                }
                Epilogue fe;
                fe.kind = OutputKind::Float32;
                fe.scale = scale.data();
                fe.shift = shift.data();
                fe.lo = -3.0f;
                fe.hi = 5.0f;
                std::vector<float> fRef(s.m * s.n), fGot(s.m * s.n, -1.0f);
                bitGemm(scalarPlatform(), spec, fRef.data(), fe, 1);
                bitGemm(scalarPlatform(), spec, fGot.data(), fe, 3, Int8Route{kern, &w});
                EXPECT(std::memcmp(fRef.data(), fGot.data(), fRef.size() * sizeof(float)) == 0,
                       "[%s] float epilogue m=%zu n=%zu k=%zu a=%d b=%d", kern->name, s.m, s.n, s.k, ab, bb);
                Epilogue qe;
                qe.kind = OutputKind::Codes;
                qe.scale = scale.data();
                qe.shift = shift.data();
                qe.codeBits = 1 + static_cast<int>(rng() % 8);
                std::vector<uint8_t> qRef(s.m * s.n), qGot(s.m * s.n, 0xEE);
                bitGemm(scalarPlatform(), spec, qRef.data(), qe, 1);
                bitGemm(scalarPlatform(), spec, qGot.data(), qe, 1, Int8Route{kern, nullptr});
                EXPECT(qRef == qGot, "[%s] codes epilogue m=%zu n=%zu k=%zu a=%d b=%d", kern->name, s.m, s.n, s.k, ab, bb);
              }
            }
          }
        }
      }
    }
    std::printf("%s: %s\n", kern->name, failures == before ? "ok" : "FAILED");
  }

  // Prepared weights that do not match the spec are refused.
  {
    auto bc = randomCodes(rng, 5 * 70, 4);
    Packed B = packWith(scalarPlatform(), bc, 5, 70, 4, 1);
    Packed A = packWith(scalarPlatform(), randomCodes(rng, 3 * 70, 4), 3, 70, 4, 1);
    GemmSpec spec{A.view(), B.view(), 4, 4, Encoding::Unsigned, Encoding::Signed};
    const I8Weights w{nullptr, nullptr, 5, 70, 3, Encoding::Signed};
    EXPECT(!checkI8Weights(spec, w).empty(), "weights for 3 bits must not serve 4");
    const I8Weights w2{nullptr, nullptr, 5, 70, 4, Encoding::Unsigned};
    EXPECT(!checkI8Weights(spec, w2).empty(), "weights for unsigned must not serve signed");
    const I8Weights w3{nullptr, nullptr, 5, 70, 4, Encoding::Signed};
    EXPECT(checkI8Weights(spec, w3).empty(), "matching weights accepted");
  }

  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
