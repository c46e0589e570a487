// Native tests of the int8 path from activation codes (I8Codes: the codes read in place by a conv tile, or
// lowered into the tile's byte rows; no bit planes): every int8 variant this CPU runs, on every platform's
// epilogue table, against the planes route on the scalar platform (packConvInputReference, then
// the bit-serial GEMM): bit-identical int32, float and code outputs. Random convolutions (1 x 1,
// 3 x 3, 3 x 5, 5 x 3; strides 1..3, padding 0..3, dilation 1..2, batch 1 / 3 / 17, odd channel
// counts) and linear layers, activation bits 1..8 (unsigned, signed, bipolar where nothing is
// padded), weight bits 1..8 in every encoding, N across the 16- / 32- / 64-column tiles, 1 and 3
// threads; the ResNet-20 conv shapes at 4 and 8 bits; a long-K linear layer; the tiles'
// kUsed / nUsed shortcuts; the indirect conv tile alone against plain loops; and a grid of
// convolutions over both codes routes (the conv tile where c is a multiple of 4, the copy path
// where not): 1 x 1 / 3 x 3, strides 1 / 2, padding 0 / 1, batch 1 / 3 / 17, c 3 / 5 / 16 / 32 / 64.
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

struct Case {
  ConvShape s;
  size_t n;  // output channels
  int aBits, bBits, bPlanes;
  Encoding aEnc, bEnc;
  int threads;
};

std::string describe(const Case& c) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "n=%zu h=%zu w=%zu c=%zu kernel=%zux%zu stride=%zu,%zu pad=%zu,%zu dil=%zu,%zu N=%zu a=%d-bit %s "
                "b=%d-bit %s (stored %d) threads=%d",
                c.s.n, c.s.h, c.s.w, c.s.c, c.s.kh, c.s.kw, c.s.strideH, c.s.strideW, c.s.padH, c.s.padW, c.s.dilH,
                c.s.dilW, c.n, c.aBits, encodingName(c.aEnc), c.bBits, encodingName(c.bEnc), c.bPlanes, c.threads);
  return buf;
}

// One case on one variant and one platform: the codes route against the scalar planes route,
// for an int32, a float and a codes epilogue.
void checkCase(const I8Kernel& kern, const Platform& isa, const Case& c, std::mt19937_64& rng) {
  const ConvShape& s = c.s;
  const size_t m = s.rows(), k = s.k();
  std::vector<uint8_t> x(s.inputCount());
  for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << c.aBits) - 1));
  // The planes route: lowered and packed with exactly aBits planes.
  std::vector<uint64_t> planes(packedWords(m, k, c.aBits));
  std::vector<int32_t> pops(m * c.aBits);
  packConvInputReference(scalarPlatform(), x.data(), s, c.aBits, planes.data(), pops.data(), 1);
  const PackedView a{planes.data(), m, k, c.aBits, pops.data()};
  Packed B = packWith(scalarPlatform(), randomCodes(rng, c.n * k, c.bPlanes), c.n, k, c.bPlanes, 1);
  const GemmSpec spec{a, B.view(), c.aBits, c.bBits, c.aEnc, c.bEnc};
  if (checkGemm(spec).kind != ErrorKind::None) return;
  const GemmSpec codesSpec{PackedView{nullptr, m, k, c.aBits, nullptr}, B.view(), c.aBits, c.bBits, c.aEnc, c.bEnc};
  std::vector<int8_t> wData(i8WeightBytes(c.n, k));
  std::vector<int32_t> wSum(i8NPad(c.n));
  prepareI8Weights(kern, spec.b, c.bBits, c.bEnc, wData.data(), wSum.data(), 2);
  const I8Weights w{wData.data(), wSum.data(), c.n, k, c.bBits, c.bEnc};
  const I8Codes codes{x.data(), s};
  const Int8Route route{&kern, &w};

  std::vector<int32_t> ref(m * c.n, 0x7eadbeef), got(m * c.n, 0x1eadbeef);
  bitGemm(scalarPlatform(), spec, ref.data(), Epilogue(), 1);
  runGemm(GemmPlan(isa, codesSpec, codes, got.data(), Epilogue(), route), c.threads);
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += got[i] != ref[i];
  EXPECT(bad == 0, "[%s on %s] int32 %s: %zu of %zu wrong", kern.name, isa.name, describe(c).c_str(), bad, got.size());

  std::vector<float> scale(c.n), shift(c.n), residual(m * c.n);
  for (size_t j = 0; j < c.n; ++j) {
    scale[j] = 1.0f / static_cast<float>(1 + rng() % 3000);
    shift[j] = static_cast<float>(static_cast<int>(rng() % 200) - 100) / 128.0f;
  }
  for (auto& r : residual) r = static_cast<float>(static_cast<int>(rng() % 64) - 32) / 16.0f;
  Epilogue fe;
  fe.kind = OutputKind::Float32;
  fe.scale = scale.data();
  fe.shift = shift.data();
  fe.lo = 0.0f;
  fe.residual = residual.data();
  std::vector<float> fRef(m * c.n, -1.0f), fGot(m * c.n, -2.0f);
  bitGemm(scalarPlatform(), spec, fRef.data(), fe, 1);
  runGemm(GemmPlan(isa, codesSpec, codes, fGot.data(), fe, route), c.threads);
  EXPECT(std::memcmp(fRef.data(), fGot.data(), fRef.size() * sizeof(float)) == 0, "[%s on %s] float %s", kern.name,
         isa.name, describe(c).c_str());

  Epilogue qe;
  qe.kind = OutputKind::Codes;
  qe.scale = scale.data();
  qe.shift = shift.data();
  qe.codeBits = 1 + static_cast<int>(rng() % 8);
  std::vector<uint8_t> qRef(m * c.n, 0xEE), qGot(m * c.n, 0xDD);
  bitGemm(scalarPlatform(), spec, qRef.data(), qe, 1);
  runGemm(GemmPlan(isa, codesSpec, codes, qGot.data(), qe, route), c.threads);
  EXPECT(qRef == qGot, "[%s on %s] codes %s", kern.name, isa.name, describe(c).c_str());
}

// Random convolutions and linear layers (the same list for every variant).
std::vector<Case> randomCases(std::mt19937_64 rng) {
  const size_t channels[] = {1, 3, 4, 5, 8, 16, 17, 32, 33, 64};
  const size_t kernels[][2] = {{1, 1}, {3, 3}, {3, 5}, {5, 3}};
  const size_t outs[] = {1, 5, 16, 17, 31, 32, 33, 48, 64, 70};
  const size_t batches[] = {1, 3, 17};
  std::vector<Case> cases;
  for (int trial = 0; cases.size() < 160; ++trial) {
    Case c{};
    ConvShape& s = c.s;
    s.n = batches[rng() % 3];
    s.c = channels[rng() % 10];
    if (trial % 8 == 7) {  // a linear layer: the 1 x 1 convolution of an M x 1 x 1 x K image
      s = i8MatrixCodes(nullptr, 1 + rng() % 40, 1 + rng() % 700).shape;
    } else {
      const size_t* kern = kernels[trial % 4];
      s.kh = kern[0];
      s.kw = kern[1];
      s.strideH = 1 + rng() % 2;
      s.strideW = trial % 3 == 0 ? s.strideH : 1 + rng() % 3;
      s.padH = rng() % 3;
      s.padW = trial % 5 == 0 ? 3 : rng() % 3;
      s.dilH = 1 + rng() % 2;
      s.dilW = trial % 2 == 0 ? 1 : 1 + rng() % 2;
      const size_t spanH = s.dilH * (s.kh - 1) + 1, spanW = s.dilW * (s.kw - 1) + 1;
      s.h = std::max<size_t>(1, spanH > 2 * s.padH ? spanH - 2 * s.padH : 1) + rng() % 7;
      s.w = std::max<size_t>(1, spanW > 2 * s.padW ? spanW - 2 * s.padW : 1) + rng() % 7;
      if (s.n == 17 && s.c > 16) s.n = 3;  // keep each case small
    }
    if (!checkConvShape(s).empty()) continue;
    c.n = outs[rng() % 10];
    c.aBits = 1 + trial % 8;
    c.bBits = 1 + static_cast<int>(rng() % 8);
    c.bPlanes = std::min(8, c.bBits + static_cast<int>(rng() % 3));
    const bool padded = s.padH > 0 || s.padW > 0;
    const int ae = static_cast<int>(rng() % 3);
    c.aEnc = padded && kEncs[ae] == Encoding::Bipolar ? Encoding::Signed : kEncs[ae];  // bipolar has no zero to pad
    c.bEnc = kEncs[rng() % 3];
    c.threads = trial % 3 == 0 ? 3 : 1;
    cases.push_back(c);
  }
  return cases;
}

// The tiles' shortcuts: bytes past kUsed are zero (a variant may stop there) and columns past
// nUsed are not read (a variant may skip them): the used region equals the scalar tile's.
void checkTileShortcuts(const I8Kernel& kern, std::mt19937_64& rng) {
  struct Shape { int m, n, nUsed; size_t kPad, kUsed; };
  const Shape shapes[] = {{1, 32, 16, 192, 144}, {13, 32, 16, 192, 144}, {12, 32, 16, 64, 4}, {25, 32, 16, 1088, 1028},
                          {7, 64, 48, 320, 288}, {30, 96, 80, 576, 576}, {6, 32, 32, 192, 148}, {256, 32, 16, 192, 144}};
  for (const Shape& sh : shapes) {
    const size_t mPad = i8MPad(sh.m);
    std::vector<uint8_t> a(mPad * sh.kPad, 0);
    for (int i = 0; i < sh.m; ++i)
      for (size_t t = 0; t < sh.kUsed; ++t) a[i * sh.kPad + t] = static_cast<uint8_t>(rng());
    std::vector<int8_t> b(static_cast<size_t>(sh.n) * sh.kPad, 0);
    for (int j = 0; j < sh.n; ++j)
      for (size_t t = 0; t < sh.kUsed; ++t) b[(j / 16) * sh.kPad * 16 + (t / 4) * 64 + (j % 16) * 4 + t % 4] = static_cast<int8_t>(rng());
    std::vector<int32_t> colSum(sh.n, 0);
    for (int j = 0; j < sh.n; ++j)
      for (size_t t = 0; t < sh.kPad; ++t) colSum[j] += b[(j / 16) * sh.kPad * 16 + (t / 4) * 64 + (j % 16) * 4 + t % 4];
    std::vector<int32_t> ref(mPad * sh.n, 0x5a5a5a5a), got(ref);
    I8TileArgs t{a.data(), sh.kPad, b.data(), sh.kPad, colSum.data(), sh.m, sh.n, ref.data(), static_cast<size_t>(sh.n), 0, 0};
    kI8Scalar.tile(t);
    t.c = got.data();
    t.kUsed = sh.kUsed;
    t.nUsed = sh.nUsed;
    kern.tile(t);
    size_t bad = 0;
    for (int i = 0; i < sh.m; ++i)
      for (int j = 0; j < sh.nUsed; ++j) bad += ref[i * sh.n + j] != got[i * sh.n + j];
    EXPECT(bad == 0, "[%s] tile m=%d n=%d nUsed=%d kPad=%zu kUsed=%zu: %zu wrong", kern.name, sh.m, sh.n, sh.nUsed,
           sh.kPad, sh.kUsed, bad);
  }
}

// The indirect conv tile alone (I8ConvTileArgs) against plain loops: random windows through row
// pointers and tap offsets, rows across the register tiles' edges (1, 5..7, 11..13, 25, 100), the
// 16 / 32 / 64-column blocks and their remainders, taps of 4..64 bytes and one longer than a K
// block (split inside the tap), with and without the fused exact finish (mul 1, 2, 4).
// aBits > 0: the operands are a'/b' bytes of aBits x bBits codes (bEnc), half of them at the range's
// extremes (a' max, b' most negative: the sums furthest from 0), and the tile is told the bound
// (maxProduct: avx2 then adds in int16, see i8gemm_avx2.cc); aBits = 0: random bytes, no bound.
void checkConvTile(const I8Kernel& kern, std::mt19937_64& rng, int aBits = 0, int bBits = 0,
                   Encoding bEnc = Encoding::Unsigned) {
  struct Shape { int m, n, nUsed; size_t taps, tapBytes; };
  const Shape shapes[] = {{1, 32, 16, 9, 16},  {5, 32, 16, 9, 16},  {12, 32, 32, 9, 32}, {13, 64, 48, 9, 20},
                          {7, 64, 64, 4, 64},  {25, 96, 80, 9, 4},  {100, 128, 128, 3, 64}, {11, 32, 16, 1, 1028},
                          {6, 64, 64, 2, 600}, {1, 64, 64, 1, 2048}};
  const int maxA = aBits > 0 ? (1 << aBits) - 1 : 255;
  int bLo = -128, bHi = 127;
  if (aBits > 0 && bEnc == Encoding::Signed) bLo = -(1 << (bBits - 1)), bHi = (1 << (bBits - 1)) - 1;
  else if (aBits > 0 && bBits < 8) bLo = 0, bHi = (1 << bBits) - 1;
  const int bExtreme = bLo < 0 ? bLo : bHi;
  auto aByte = [&] { return static_cast<uint8_t>(aBits > 0 && rng() % 2 ? maxA : static_cast<int>(rng() % (maxA + 1))); };
  auto bByte = [&] {
    return static_cast<int8_t>(aBits > 0 && rng() % 2 ? bExtreme : bLo + static_cast<int>(rng() % (bHi - bLo + 1)));
  };
  std::vector<uint8_t> image(1 << 16);
  for (auto& v : image) v = aByte();
  for (const Shape& sh : shapes) {
    const size_t k = sh.taps * sh.tapBytes, kPad = i8KPad(k);
    std::vector<ptrdiff_t> off(sh.taps);
    for (auto& o : off) o = static_cast<ptrdiff_t>(rng() % 4096);
    std::vector<const uint8_t*> rows(sh.m);
    for (auto& r : rows) r = image.data() + rng() % (image.size() - 4096 - sh.tapBytes);
    std::vector<int8_t> b(static_cast<size_t>(sh.n) * kPad, 0);
    for (int j = 0; j < sh.n; ++j)
      for (size_t t = 0; t < k; ++t) b[(j / 16) * kPad * 16 + (t / 4) * 64 + (j % 16) * 4 + t % 4] = bByte();
    std::vector<uint32_t> rowConst(sh.m), colConst(sh.n);
    for (auto& v : rowConst) v = static_cast<uint32_t>(rng());
    for (auto& v : colConst) v = static_cast<uint32_t>(rng());
    for (uint32_t mul : {0u, 1u, 2u, 4u}) {  // 0: no finish
      std::vector<int32_t> got(static_cast<size_t>(sh.m) * sh.n, 0x5a5a5a5a);
      I8ConvTileArgs t{};
      t.rows = rows.data();
      t.tapOffset = off.data();
      t.taps = sh.taps;
      t.tapBytes = sh.tapBytes;
      t.b = b.data();
      t.kPad = kPad;
      t.m = sh.m;
      t.n = sh.n;
      t.nUsed = sh.nUsed;
      t.c = got.data();
      t.ldc = static_cast<size_t>(sh.n);
      if (aBits > 0) t.maxProduct = i8MaxProduct(aBits, bBits, bEnc);
      if (mul != 0) {
        t.rowConst = rowConst.data();
        t.colConst = colConst.data();
        t.mul = mul;
      }
      kern.convTile(t);
      size_t bad = 0;
      for (int i = 0; i < sh.m; ++i)
        for (int j = 0; j < sh.nUsed; ++j) {
          uint32_t s = 0;
          for (size_t tap = 0; tap < sh.taps; ++tap)
            for (size_t q = 0; q < sh.tapBytes; ++q) {
              const size_t kk = tap * sh.tapBytes + q;
              s += static_cast<uint32_t>(rows[i][off[tap] + static_cast<ptrdiff_t>(q)] *
                                         b[(j / 16) * kPad * 16 + (kk / 4) * 64 + (j % 16) * 4 + kk % 4]);
            }
          if (mul != 0) s = mul * s + rowConst[i] + colConst[j];
          bad += static_cast<uint32_t>(got[i * sh.n + j]) != s;
        }
      EXPECT(bad == 0, "[%s] conv tile m=%d n=%d nUsed=%d taps=%zu tapBytes=%zu mul=%u bits %dx%d: %zu wrong", kern.name,
             sh.m, sh.n, sh.nUsed, sh.taps, sh.tapBytes, mul, aBits, bBits, bad);
    }
  }
}

// The conv grid of the indirect route and its fallback: 1 x 1 and 3 x 3, strides 1 / 2, padding
// 0 / 1, batch 1 / 3 / 17, c in {3, 5} (the copy path) and {16, 32, 64} (the conv tile), odd sizes.
std::vector<Case> gridCases(std::mt19937_64 rng) {
  std::vector<Case> cases;
  const size_t outs[] = {16, 32, 17, 48, 64};
  int trial = 0;
  for (size_t c : {3, 5, 16, 32, 64})
    for (size_t kern : {1, 3})
      for (size_t stride : {1, 2})
        for (size_t pad : {0, 1})
          for (size_t batch : {1, 3, 17}) {
            Case cs{};
            ConvShape& s = cs.s;
            s.n = batch;
            s.c = c;
            s.kh = s.kw = kern;
            s.strideH = s.strideW = stride;
            s.padH = s.padW = pad;
            s.dilH = s.dilW = 1;
            const size_t side = batch == 17 ? 3 : c >= 32 ? 5 : 7;
            s.h = side + rng() % 3;
            s.w = side + rng() % 4;
            cs.n = outs[rng() % 5];
            cs.aBits = trial % 2 == 0 ? 8 : 1 + static_cast<int>(rng() % 8);
            cs.bBits = trial % 3 == 0 ? 8 : 1 + static_cast<int>(rng() % 8);
            cs.bPlanes = cs.bBits;
            cs.aEnc = trial % 4 == 1 ? Encoding::Signed : Encoding::Unsigned;  // signed: the mapped (XOR) input
            cs.bEnc = kEncs[rng() % 3];
            cs.threads = trial % 5 == 0 ? 3 : 1;
            ++trial;
            cases.push_back(cs);
          }
  return cases;
}

}  // namespace

int main() {
  std::mt19937_64 rng(20261206);
  const std::vector<Case> cases = randomCases(std::mt19937_64(7));
  // ResNet-20's quantised convs (3 x 3, pad 1; stride 2 where a stage starts) at 4 and 8 bits.
  std::vector<Case> resnet;
  for (int bits : {4, 8}) {
    for (const ConvShape& s : {ConvShape{1, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1}, ConvShape{3, 32, 32, 16, 3, 3, 2, 2, 1, 1, 1, 1},
                               ConvShape{1, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1}, ConvShape{2, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, 1},
                               ConvShape{1, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1}}) {
      const size_t n = s.strideH == 2 ? 2 * s.c : s.c;
      resnet.push_back(Case{s, n, bits, bits, 8, Encoding::Unsigned, Encoding::Bipolar, 1});
    }
  }
  // A linear layer whose task rows (256 x ~4 KiB) exceed what a thread keeps: allocated per task.
  resnet.push_back(Case{i8MatrixCodes(nullptr, 300, 4100).shape, 40, 8, 8, 8, Encoding::Unsigned, Encoding::Bipolar, 3});
  const std::vector<Case> grid = gridCases(std::mt19937_64(11));
  for (const I8Kernel* kern : i8KernelsToCheck()) {
    const int before = failures;
    checkTileShortcuts(*kern, rng);
    if (kern->convTile != nullptr) {
      checkConvTile(*kern, rng);
      // bounded operands: int16 sums of many steps (4x4, 1x1), of 1 step at the bound's edge (2P
      // near 32767: 8x6 unsigned, 7x8 and 8x7 signed), of a few (4x8, 8x4)
      const struct { int a, b; Encoding e; } bounded[] = {{4, 4, Encoding::Unsigned}, {1, 1, Encoding::Bipolar},
                                                          {8, 6, Encoding::Unsigned}, {7, 8, Encoding::Signed},
                                                          {8, 7, Encoding::Signed},   {4, 8, Encoding::Bipolar},
                                                          {8, 4, Encoding::Signed},   {8, 8, Encoding::Unsigned}};
      for (const auto& bd : bounded) checkConvTile(*kern, rng, bd.a, bd.b, bd.e);
    }
    // the grid on the best epilogue table (the random cases cover every table)
    for (const Case& c : grid) checkCase(*kern, *availablePlatforms().front(), c, rng);
    for (const Platform* isa : availablePlatforms()) {
      for (const Case& c : cases) checkCase(*kern, *isa, c, rng);
      for (const Case& c : resnet) checkCase(*kern, *isa, c, rng);
    }
    std::printf("%s: %s\n", kern->name, failures == before ? "ok" : "FAILED");
  }
  // A lowered shape that does not match the spec's A is refused.
  {
    Packed B = packWith(scalarPlatform(), randomCodes(rng, 4 * 27, 4), 4, 27, 4, 1);
    const ConvShape s{1, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1};
    std::vector<uint8_t> x(s.inputCount(), 1);
    const GemmSpec spec{PackedView{nullptr, s.rows() + 1, 27, 4, nullptr}, B.view(), 4, 4, Encoding::Unsigned,
                        Encoding::Bipolar};
    std::vector<int32_t> out((s.rows() + 1) * 4);
    bool threw = false;
    try {
      GemmPlan plan(scalarPlatform(), spec, I8Codes{x.data(), s}, out.data(), Epilogue(), Int8Route());
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    EXPECT(threw, "codes whose lowered rows do not match a's rows are refused");
  }
  std::printf("i8codes: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
