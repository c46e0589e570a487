// Native tests of the precision-gated GEMM (gated.h): every ISA this CPU runs and every skipping
// strategy against a direct integer computation from the codes, for every (B, Bhb) with
// 1 <= Bhb < B <= 8, unsigned / bipolar / signed weights of 1..8 bits, odd shapes that cross the
// micro-tile (8), group (16), task (64 x 128) and K word / K block boundaries, and thresholds
//   -inf (every output on: out == the dense B-bit bitGemm),
//   +inf (none on: out == O_hb == 2^(B-Bhb) * bitGemm of the top Bhb planes),
//   random values, exact O_hb values (the gate is strict) and NaN (never on),
//   per-column mixes that make whole micro-tiles on (the hybrid's dense path).
// Also the micro-kernels alone (gate, low-plane group, fused high planes + gate) against their scalar twins.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

// The shared harness (EXPECT, Packed, valueOf, randomCodes) is in test_util.h. Operands are packed
// by the scalar reference so every ISA's gated kernel reads the same planes.
Packed packWith(const std::vector<uint8_t>& codes, size_t rows, size_t cols, int planes) {
  return test::packWith(scalarPlatform(), codes, rows, cols, planes, 1);
}

const char* encName(Encoding e) {
  return e == Encoding::Unsigned ? "unsigned" : e == Encoding::Bipolar ? "bipolar" : "signed";
}
const char* strategyName(GatedStrategy s) {
  switch (s) {
    case GatedStrategy::Auto: return "auto";
    case GatedStrategy::Compact: return "compact";
    case GatedStrategy::Tiles: return "tiles";
    case GatedStrategy::Hybrid: return "hybrid";
  }
  return "?";
}

// Direct sums from the codes: O_hb and the dense result, M x N each.
struct Reference {
  std::vector<int64_t> hb, dense;
};

Reference direct(const std::vector<uint8_t>& ac, int aStored, int aBits, int highBits, const std::vector<uint8_t>& bc,
                 int bStored, int bBits, Encoding bEnc, size_t m, size_t n, size_t k) {
  const int low = aBits - highBits;
  Reference ref{std::vector<int64_t>(m * n), std::vector<int64_t>(m * n)};
  std::vector<int64_t> bv(n * k);
  for (size_t x = 0; x < n * k; ++x) bv[x] = valueOf(bc[x] >> (bStored - bBits), bBits, bEnc);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      int64_t hb = 0, all = 0;
      for (size_t t = 0; t < k; ++t) {
        const int64_t p = ac[i * k + t] >> (aStored - aBits);
        hb += ((p >> low) << low) * bv[j * k + t];
        all += p * bv[j * k + t];
      }
      ref.hb[i * n + j] = hb;
      ref.dense[i * n + j] = all;
    }
  }
  return ref;
}

// f(shape, aBits, highBits, wBits, combo) for every shape x (B, Bhb) split x weight bits; combo
// counts the calls from 1 (the tests rotate encodings, strategies and threads on it).
template <size_t NS, size_t NP, size_t NW, typename F>
void forEachCase(const Shape (&shapes)[NS], const int (&splits)[NP][2], const int (&wbits)[NW], F f) {
  int combo = 0;
  for (const Shape& s : shapes)
    for (const auto& sp : splits)
      for (int wb : wbits) f(s, sp[0], sp[1], wb, ++combo);
}

// The fused epilogue (GatedSpec::epilogue, no mask): every ISA and strategy against the exact
// results of the direct sums put through the scalar reference's row loops (int32ToFloat plus the
// residual add, int32ToCodes), for B/Bhb 3/2, 4/2, 4/1 and 8/4, bipolar weights of 1, 2, 4 and 8
// bits, odd shapes across the tile and task edges, every output on, none on and a mix.
void checkFusedEpilogue(std::mt19937_64& rng) {
  const float inf = std::numeric_limits<float>::infinity();
  const Shape shapes[] = {{1, 1, 1}, {9, 17, 63}, {70, 130, 100}, {129, 33, 290}};
  const int splits[][2] = {{3, 2}, {4, 2}, {4, 1}, {8, 4}};
  const int wbits[] = {1, 2, 4, 8};
  const GatedStrategy strategies[] = {GatedStrategy::Auto, GatedStrategy::Tiles, GatedStrategy::Hybrid};
  const EpilogueTable& ref = *scalarPlatform().epilogue;
  forEachCase(shapes, splits, wbits, [&](const Shape& s, int aBits, int hb, int wb, int combo) {
    auto ac = randomCodes(rng, s.m * s.k, aBits);
    auto bc = randomCodes(rng, s.n * s.k, wb);
    Packed A = packWith(ac, s.m, s.k, aBits), B = packWith(bc, s.n, s.k, wb);
    const Reference r = direct(ac, aBits, aBits, hb, bc, wb, wb, Encoding::Bipolar, s.m, s.n, s.k);
    // Per-column epilogue: scale of either sign around the accumulator range, shift, residual.
    std::vector<float> scale(s.n), shift(s.n), residual(s.m * s.n);
    const float unit = 1.0f / static_cast<float>(s.k * ((1 << aBits) - 1) * ((1 << wb) - 1));
    for (size_t j = 0; j < s.n; ++j) {
      scale[j] = unit * static_cast<float>(static_cast<int>(rng() % 7) - 2) * 0.75f;
      shift[j] = static_cast<float>(static_cast<int>(rng() % 9) - 4) * 0.125f;
    }
    for (float& v : residual) v = static_cast<float>(static_cast<int>(rng() % 17) - 8) * 0.0625f;
    for (int tc = 0; tc < 3; ++tc) {  // thresholds: every output on, none, a mix
      std::vector<float> thr(s.n, tc == 0 ? -inf : inf);
      if (tc == 2)
        for (size_t j = 0; j < s.n; ++j) thr[j] = static_cast<float>(r.hb[(rng() % s.m) * s.n + j]);
      std::vector<int32_t> exact(s.m * s.n);
      uint64_t wantOn = 0;
      for (size_t x = 0; x < s.m * s.n; ++x) {
        const bool on = static_cast<double>(r.hb[x]) > static_cast<double>(thr[x % s.n]);
        wantOn += on;
        exact[x] = static_cast<int32_t>(on ? r.dense[x] : r.hb[x]);
      }
      for (int kind = 0; kind < 3; ++kind) {  // float + clamp, float + residual, codes
        Epilogue e;
        e.kind = kind == 2 ? OutputKind::Codes : OutputKind::Float32;
        e.scale = scale.data();
        e.shift = kind == 1 ? nullptr : shift.data();
        if (kind == 0) e.lo = 0.0f;
        if (kind == 1) e.residual = residual.data();
        e.codeBits = kind == 2 ? 1 + combo % 8 : 0;
        std::vector<float> wantF(s.m * s.n);
        std::vector<uint8_t> wantC(s.m * s.n);
        for (size_t i = 0; i < s.m; ++i) {
          const size_t at = i * s.n;
          if (kind == 2) {
            ref.int32ToCodes(exact.data() + at, e.scale, e.shift, static_cast<float>((1 << e.codeBits) - 1),
                             wantC.data() + at, s.n);
          } else {
            ref.int32ToFloat(exact.data() + at, e.scale, e.shift, e.lo, e.hi, wantF.data() + at, s.n);
            if (e.residual)
              for (size_t j = 0; j < s.n; ++j) wantF[at + j] = wantF[at + j] + e.residual[at + j];
          }
        }
        for (const Platform* isa : availablePlatforms()) {
          for (GatedStrategy st : strategies) {
            if (st != GatedStrategy::Auto && (combo + kind + static_cast<int>(st)) % 3 != 0) continue;
            GatedSpec spec{A.view(), B.view(), aBits, hb, wb, Encoding::Bipolar, thr.data(), st};
            spec.epilogue = e;
            const int threads = 1 + (combo + kind) % 3;
            std::vector<float> outF(s.m * s.n, -777.0f);
            std::vector<uint8_t> outC(s.m * s.n, 0xEE);
            void* out = kind == 2 ? static_cast<void*>(outC.data()) : static_cast<void*>(outF.data());
            const uint64_t on = gatedGemm(*isa, spec, out, nullptr, threads);
            size_t bad = 0;
            for (size_t x = 0; x < s.m * s.n; ++x) {
              // Bit for bit (NaN never arises here: finite scales and shifts).
              bad += kind == 2 ? outC[x] != wantC[x] : std::memcmp(&outF[x], &wantF[x], sizeof(float)) != 0;
            }
            EXPECT(bad == 0 && on == wantOn,
                   "[%s/%s] fused epilogue %s m=%zu n=%zu k=%zu B=%d Bhb=%d w=%d thr=%d: %zu wrong, on %llu want %llu",
                   isa->name, strategyName(st), kind == 2 ? "codes" : kind == 1 ? "float+residual" : "float",
                   s.m, s.n, s.k, aBits, hb, wb, tc, bad, (unsigned long long)on, (unsigned long long)wantOn);
          }
        }
      }
    }
  });
}

// The gate kernel alone against the scalar one: odd column counts, rows, shifts, negative terms,
// thresholds at INT32_MIN / INT32_MAX (always / never on), values inside the documented domain.
void checkGateKernel(const GatedKernelTable& g, std::mt19937_64& rng) {
  const size_t colsList[] = {1, 7, 8, 9, 15, 16, 17, 31, 63, 100, 128};
  for (size_t cols : colsList) {
    for (int rows : {1, 5, 9, 16, 17, 33}) {
      const size_t ldAcc = cols + 3, ldOut = cols + 2, stride = 8, tileStride = 17;
      std::vector<int64_t> acc(rows * ldAcc);
      std::vector<int32_t> rowTerm(rows), rowLow(rows), thr(cols);
      for (auto& x : acc) x = static_cast<int64_t>(rng() % 2000001) - 1000000;
      for (auto& x : rowTerm) x = static_cast<int32_t>(rng() % 2000001) - 1000000;
      for (auto& x : rowLow) x = static_cast<int32_t>(rng() % 2000001) - 1000000;
      for (auto& x : thr) x = static_cast<int32_t>(rng() % 40000001) - 20000000;
      thr[0] = INT32_MIN;
      if (cols > 1) thr[cols - 1] = INT32_MAX;
      for (int shift = 1; shift <= 9; shift += 4) {
        for (int withTiles = 0; withTiles <= 3; ++withTiles) {  // 2: no tile counts, group lists; 3: no mask too
          const bool withLists = withTiles >= 2, withMask = withTiles != 3;
          std::vector<int32_t> out0(rows * ldOut, 7), out1 = out0;
          std::vector<uint8_t> m0(rows * ldOut, 9), m1 = m0;
          std::vector<uint16_t> b0(rows * stride, 0xABCD), b1 = b0;
          std::vector<uint8_t> t0((rows + 7) / 8 * tileStride, 3), t1 = t0;
          // Lists: groups of 16 rows x 16 columns, 9 per row of groups (one more than cols needs).
          const size_t groupsPerRow = 9, nGroups = (rows + 15) / 16 * groupsPerRow;
          std::vector<uint8_t> l0(nGroups * kListStride, 0xEE), l1(nGroups * kListStride, 0x11);
          std::vector<uint32_t> c0(nGroups, 0), c1(nGroups, 0);
          GateArgs a{acc.data(), ldAcc, rows, cols, shift, rowTerm.data(), rowLow.data(), thr.data(), out0.data(), ldOut,
                     withMask ? m0.data() : nullptr, ldOut, b0.data(), stride, withTiles == 1 ? t0.data() : nullptr, tileStride};
          if (withLists) {
            a.lists = l0.data();
            a.listStride = kListStride;
            a.listGroupsPerRow = groupsPerRow;
            a.listCounts = c0.data();
          }
          const size_t on0 = kScalarGatedTable.gate(a);
          a.out = out1.data();
          a.mask = withMask ? m1.data() : nullptr;
          a.bits = b1.data();
          a.tileOn = withTiles == 1 ? t1.data() : nullptr;
          if (withLists) {
            a.lists = l1.data();
            a.listCounts = c1.data();
          }
          const size_t on1 = g.gate(a);
          // Only the words covering cols are specified, and only each list's first count entries.
          bool bitsOk = true;
          for (int r = 0; r < rows; ++r)
            for (size_t w = 0; w < (cols + 15) / 16; ++w) bitsOk = bitsOk && b0[r * stride + w] == b1[r * stride + w];
          bool listsOk = c0 == c1;
          size_t listed = 0;
          for (size_t q = 0; q < nGroups && listsOk; ++q) {
            listed += c0[q];
            for (size_t e = 0; e < c0[q]; ++e) listsOk = listsOk && l0[q * kListStride + e] == l1[q * kListStride + e];
          }
          // The scalar lists themselves: exactly the outputs the on-masks mark.
          if (withLists) listsOk = listsOk && listed == on0;
          EXPECT(on0 == on1 && out0 == out1 && m0 == m1 && bitsOk && t0 == t1 && listsOk,
                 "[%s] gate rows=%d cols=%zu shift=%d tiles=%d lists=%d", g.name, rows, cols, shift, withTiles == 1,
                 withLists);
        }
      }
    }
  }
}

// The low-plane group kernel alone against the scalar one: every plane-count pair, signs, alpha
// shifts, K words 1..3, 5 (K = 288) and long, on-sets from empty rows to full groups, 1..16 rows, groups with
// one real panel (stride 0). out starts random and must change only at gated-on outputs.
void checkLowGroupKernel(const GatedKernelTable& g, std::mt19937_64& rng) {
  const size_t kWordsList[] = {1, 2, 3, 5, 37};
  int combo = 0;
  for (size_t kWords : kWordsList) {
    for (int ap = 1; ap <= 8; ++ap) {
      for (int bp = 1; bp <= 8; ++bp) {
        ++combo;
        const int aStored = ap + combo % 2, bStored = bp + (combo / 2) % 2;
        const size_t kTotal = kWords + combo % 3, k0 = combo % 3 == 2 ? 1 : 0;
        std::vector<uint64_t> a(2 * aStored * kTotal * 8), b(2 * bStored * kTotal * 8);
        for (auto& w : a) w = rng();
        for (auto& w : b) w = rng();
        const bool oneA = combo % 5 == 0, oneB = combo % 7 == 0;
        const int rows = oneA ? 1 + combo % 8 : 1 + combo % 16;
        const size_t bitsStride = 3, ldOut = 16 + combo % 5;
        // Density: full, empty, sparse, half.
        const int density = combo % 4;
        std::vector<uint16_t> bits(16 * bitsStride, 0xFFFF);  // rows >= `rows` must not be read
        for (int r = 0; r < rows; ++r) {
          unsigned m = 0;
          for (int c = 0; c < 16; ++c) {
            const bool on = density == 0 ? true : density == 1 ? false : density == 2 ? rng() % 10 == 0 : rng() % 2 == 0;
            m |= static_cast<unsigned>(on) << c;
          }
          if (oneB) m &= 0xFF;
          bits[r * bitsStride] = static_cast<uint16_t>(m);
        }
        std::vector<int32_t> out0(16 * ldOut), out1;
        for (auto& x : out0) x = static_cast<int32_t>(rng() % 2000001) - 1000000;
        out1 = out0;
        std::vector<uint32_t> scratch(2 * kGroupScratch);
        std::vector<int64_t> acc(kGroupScratch);
        LowGroupArgs t{};
        t.a = a.data() + k0 * 8;
        t.aPanelStride = oneA ? 0 : static_cast<size_t>(aStored) * kTotal * 8;
        t.aPlaneStride = kTotal * 8;
        t.b = b.data() + k0 * 8;
        t.bPanelStride = oneB ? 0 : static_cast<size_t>(bStored) * kTotal * 8;
        t.bPlaneStride = kTotal * 8;
        t.aPlanes = ap;
        t.bPlanes = bp;
        t.aNegTop = (combo / 3) % 2;
        t.bNegTop = (combo / 5) % 2;
        t.kWords = kWords;
        t.onBits = bits.data();
        t.bitsStride = bitsStride;
        t.rows = rows;
        t.ldOut = ldOut;
        t.alphaShift = combo % 2;
        t.entries = scratch.data();
        t.offsets = scratch.data() + kGroupScratch;
        t.acc = acc.data();
        t.out = out0.data();
        const size_t n0 = kScalarGatedTable.lowGroup(t);
        t.out = out1.data();
        std::fill(scratch.begin(), scratch.end(), 0xDEADBEEFu);
        std::fill(acc.begin(), acc.end(), -12345);
        const size_t n1 = g.lowGroup(t);
        EXPECT(n0 == n1 && out0 == out1, "[%s] lowGroup a=%d b=%d kWords=%zu rows=%d density=%d neg=%d%d oneA=%d oneB=%d",
               g.name, ap, bp, kWords, rows, density, t.aNegTop, t.bNegTop, oneA, oneB);
        {  // The same group from a list the gate would have made (row-major), junk past its end.
          std::vector<uint8_t> list(kListStride, 0xC7);
          size_t count = 0;
          for (int r = 0; r < rows; ++r)
            for (unsigned w = bits[r * bitsStride]; w != 0; w &= w - 1)
              list[count++] = static_cast<uint8_t>(static_cast<unsigned>(r) | static_cast<unsigned>(__builtin_ctz(w)) << 4);
          std::vector<int32_t> out2(out1.size());
          for (size_t x = 0; x < out2.size(); ++x) out2[x] = out1[x] - (out0[x] - out1[x]);  // any start
          std::vector<int32_t> want = out2;
          t.out = want.data();
          kScalarGatedTable.lowGroup(t);  // from the on-masks
          t.list = list.data();
          t.listCount = count;
          t.out = out2.data();
          const size_t n2 = g.lowGroup(t);
          EXPECT(n2 == count && count == n0 && out2 == want, "[%s] lowGroup from a list a=%d b=%d kWords=%zu rows=%d density=%d",
                 g.name, ap, bp, kWords, rows, density);
          t.list = nullptr;
          t.listCount = 0;
          t.out = out1.data();
        }
        // Very wide outputs (offsets that do not fit next to the indexes): two rows only.
        if (combo % 16 == 1) {
          const size_t wide = (size_t{1} << 20) + 3;
          std::vector<int32_t> w0(2 * wide, 5), w1(2 * wide, 5);
          bits[0] = 0x8421;
          bits[bitsStride] = oneB ? 0x00F1 : 0xF00F;
          t.rows = 2;
          t.ldOut = wide;
          t.out = w0.data();
          const size_t m0 = kScalarGatedTable.lowGroup(t);
          t.out = w1.data();
          const size_t m1 = g.lowGroup(t);
          EXPECT(m0 == m1 && w0 == w1, "[%s] lowGroup ldOut=%zu a=%d b=%d", g.name, wide, ap, bp);
        }
      }
    }
  }
}

struct Case {
  const char* name;
  std::vector<float> thr;
};

// The fused high planes + gate alone (GatedKernelTable::highGate, where an ISA has it) against the
// scalar bit-plane kernel's sums put through the scalar gate: every high-plane x weight-plane count,
// K words 1..3 and long, signed and unsigned weights, 1..8 rows in the first or second panel of a
// group (the rows before it gated first: the group's lists continue), column counts across the
// 8/16 edges and a whole task, with and without the earlier K blocks' sums, the mask, the lists
// and the micro-tile counts.
void checkHighGateKernel(const GatedKernelTable& g, std::mt19937_64& rng) {
  if (g.highGate == nullptr) return;
  const size_t kWordsList[] = {1, 2, 3, 21};
  const size_t colsList[] = {1, 7, 8, 9, 16, 17, 24, 33, 128};
  const KernelTable& dense = *scalarPlatform().bitplane;
  int combo = 0;
  for (size_t kWords : kWordsList) {
    for (int ap = 1; ap <= 7; ++ap) {
      for (int bp = 1; bp <= 8; ++bp) {
        ++combo;
        const size_t cols = colsList[combo % 9];
        const int mr = 1 + (combo * 3) % 8, panel = (combo / 2) % 2, r0 = kPanelRows * panel, rows = r0 + mr;
        const int aStored = ap + combo % 2, bStored = bp + (combo / 3) % 2;
        const size_t kTotal = kWords + combo % 3, k0 = combo % 3 == 2 ? 1 : 0;
        const size_t bPanels = (cols + 7) / 8, ldAcc = bPanels * 8 + 5, ldOut = cols + 3, bitsStride = 9, tileStride = 17;
        const bool earlier = combo % 4 >= 2, withMask = combo % 3 != 0, lists = combo % 5 != 0, tiles = combo % 7 == 0;
        const bool bNeg = (combo / 5) % 2;
        std::vector<uint64_t> a(static_cast<size_t>(aStored) * kTotal * 8), b(bPanels * bStored * kTotal * 8);
        for (auto& w : a) w = rng();
        for (auto& w : b) w = rng();
        // The sums the gate sees: rows < r0 arbitrary, the panel's rows the scalar bitTile's sums
        // (plus the earlier blocks' sums, random).
        std::vector<int64_t> prior(rows * ldAcc), sums(rows * ldAcc);
        for (auto& x : prior) x = earlier ? static_cast<int64_t>(rng() % 2000001) - 1000000 : 0;
        for (int r = 0; r < r0; ++r)
          for (size_t c = 0; c < cols; ++c) sums[r * ldAcc + c] = static_cast<int64_t>(rng() % 2000001) - 1000000;
        for (size_t p0 = 0; p0 < bPanels; p0 += 8) {
          BitTileArgs t{};
          t.a = a.data() + k0 * 8;
          t.aPlaneStride = kTotal * 8;
          t.b = b.data() + p0 * bStored * kTotal * 8 + k0 * 8;
          t.bPanelStride = static_cast<size_t>(bStored) * kTotal * 8;
          t.bPlaneStride = kTotal * 8;
          t.mr = mr;
          t.np = static_cast<int>(std::min<size_t>(8, bPanels - p0));
          t.aPlanes = ap;
          t.bPlanes = bp;
          t.bNegTop = bNeg;
          t.kWords = kWords;
          t.acc = sums.data() + r0 * ldAcc + p0 * 8;
          t.ldAcc = ldAcc;
          t.overwrite = true;
          dense.bitTile(t);
        }
        for (int r = r0; r < rows; ++r)
          for (size_t c = 0; c < cols; ++c) sums[r * ldAcc + c] += prior[r * ldAcc + c];
        std::vector<int32_t> rowTerm(rows), rowLow(rows), thr(cols);
        for (auto& x : rowTerm) x = static_cast<int32_t>(rng() % 200001) - 100000;
        for (auto& x : rowLow) x = static_cast<int32_t>(rng() % 200001) - 100000;
        const int shift = 1 + combo % 9;
        for (size_t c = 0; c < cols; ++c) {  // around the values, some exactly equal (strict), some extreme
          const int64_t v = sums[(r0 + rng() % mr) * ldAcc + c] * (int64_t{1} << shift) + rowTerm[r0];  // (a multiply: << of a negative is UB in C++17)
          const int kind = static_cast<int>(rng() % 6);
          thr[c] = kind == 0 ? INT32_MIN : kind == 1 ? INT32_MAX : static_cast<int32_t>(v + static_cast<int64_t>(rng() % 5) - 2);
        }
        struct State {
          std::vector<int32_t> out;
          std::vector<uint8_t> mask, tileOn, lists;
          std::vector<uint16_t> bits;
          std::vector<uint32_t> counts;
        };
        auto fresh = [&](uint8_t junk) {
          return State{std::vector<int32_t>(rows * ldOut, 7), std::vector<uint8_t>(rows * ldOut, 9),
                       std::vector<uint8_t>(2 * tileStride, 3), std::vector<uint8_t>(8 * kListStride, junk),
                       std::vector<uint16_t>(rows * bitsStride, 0xABCD), std::vector<uint32_t>(8, 0)};
        };
        auto args = [&](State& st, const int64_t* acc, int nRows) {
          GateArgs x{acc, ldAcc, nRows, cols, shift, rowTerm.data(), rowLow.data(), thr.data(), st.out.data(), ldOut,
                     withMask ? st.mask.data() : nullptr, ldOut, st.bits.data(), bitsStride,
                     tiles ? st.tileOn.data() : nullptr, tileStride, nullptr, 0, 0, nullptr};
          if (lists) {
            x.lists = st.lists.data();
            x.listStride = kListStride;
            x.listGroupsPerRow = 8;
            x.listCounts = st.counts.data();
          }
          return x;
        };
        State want = fresh(0xEE), got = fresh(0x11);
        const size_t wantOn = kScalarGatedTable.gate(args(want, sums.data(), rows));
        size_t gotOn = 0;
        if (r0 > 0) gotOn += kScalarGatedTable.gate(args(got, sums.data(), r0));
        HighGateArgs h{};
        h.a = a.data() + k0 * 8;
        h.aPlaneStride = kTotal * 8;
        h.b = b.data() + k0 * 8;
        h.bPanelStride = static_cast<size_t>(bStored) * kTotal * 8;
        h.bPlaneStride = kTotal * 8;
        h.aPlanes = ap;
        h.bPlanes = bp;
        h.bNegTop = bNeg;
        h.kWords = kWords;
        h.panel = panel;
        h.mr = mr;
        h.gate = args(got, earlier ? prior.data() : nullptr, -1);
        gotOn += g.highGate(h);
        bool bitsOk = true;
        for (int r = 0; r < rows; ++r)
          for (size_t w = 0; w < (cols + 15) / 16; ++w) bitsOk = bitsOk && want.bits[r * bitsStride + w] == got.bits[r * bitsStride + w];
        bool listsOk = want.counts == got.counts;
        for (size_t q = 0; q < 8 && listsOk; ++q)
          for (size_t e = 0; e < want.counts[q]; ++e) listsOk = listsOk && want.lists[q * kListStride + e] == got.lists[q * kListStride + e];
        EXPECT(wantOn == gotOn && want.out == got.out && want.mask == got.mask && bitsOk && listsOk && want.tileOn == got.tileOn,
               "[%s] highGate a=%d b=%d kWords=%zu mr=%d panel=%d cols=%zu earlier=%d neg=%d mask=%d lists=%d tiles=%d: on %zu "
               "want %zu, out %d, mask %d, bits %d, lists %d, tiles %d",
               g.name, ap, bp, kWords, mr, panel, cols, earlier, bNeg, withMask, lists, tiles, gotOn, wantOn,
               want.out == got.out, want.mask == got.mask, bitsOk, listsOk, want.tileOn == got.tileOn);
      }
    }
  }
}


// The gate's on-lists through the whole plan (Auto = Compact): every fraction of outputs on from
// none to all, set per column from the O_hb quantiles (so groups run from empty to full), for the
// activation splits 3/2, 4/2 and 8/4, 1/2/4/8-bit weights, odd shapes across the group (16), task
// (64 x 128) and K-word edges, with and without the mask, every ISA against the direct sums.
void checkGateFractions(std::mt19937_64& rng) {
  const Shape shapes[] = {{17, 15, 63}, {33, 47, 145}, {70, 130, 290}, {129, 17, 577}};
  const int splits[][2] = {{3, 2}, {4, 2}, {8, 4}};
  const int wbits[] = {1, 2, 4, 8};
  const double onFractions[] = {0.0, 0.05, 0.1, 0.2, 0.5, 0.9, 1.0};
  const Encoding encs[] = {Encoding::Bipolar, Encoding::Signed, Encoding::Unsigned};
  forEachCase(shapes, splits, wbits, [&](const Shape& s, int aBits, int hb, int wb, int combo) {
    const Encoding enc = encs[combo % 3];
    auto ac = randomCodes(rng, s.m * s.k, aBits);
    auto bc = randomCodes(rng, s.n * s.k, wb);
    Packed A = packWith(ac, s.m, s.k, aBits), B = packWith(bc, s.n, s.k, wb);
    const Reference r = direct(ac, aBits, aBits, hb, bc, wb, wb, enc, s.m, s.n, s.k);
    for (double f : onFractions) {
      std::vector<float> thr(s.n);
      std::vector<int64_t> col(s.m);
      for (size_t j = 0; j < s.n; ++j) {
        for (size_t i = 0; i < s.m; ++i) col[i] = r.hb[i * s.n + j];
        std::sort(col.begin(), col.end());
        const size_t off = s.m - static_cast<size_t>(std::llround(f * static_cast<double>(s.m)));
        thr[j] = off == 0 ? -std::numeric_limits<float>::infinity() : static_cast<float>(col[off - 1]);
      }
      std::vector<int32_t> want(s.m * s.n);
      std::vector<uint8_t> wantMask(s.m * s.n);
      uint64_t wantOn = 0;
      for (size_t x = 0; x < s.m * s.n; ++x) {
        const bool on = static_cast<double>(r.hb[x]) > static_cast<double>(thr[x % s.n]);
        wantMask[x] = on;
        wantOn += on;
        want[x] = static_cast<int32_t>(on ? r.dense[x] : r.hb[x]);
      }
      for (const Platform* isa : availablePlatforms()) {
        for (int withMask = 0; withMask <= 1; ++withMask) {
          GatedSpec spec{A.view(), B.view(), aBits, hb, wb, enc, thr.data(), GatedStrategy::Auto};
          std::vector<int32_t> out(s.m * s.n, 0x7eadbeef);
          std::vector<uint8_t> mask(s.m * s.n, 0x5a);
          const uint64_t on = gatedGemm(*isa, spec, out.data(), withMask ? mask.data() : nullptr, 1 + combo % 2);
          EXPECT(out == want && on == wantOn && (!withMask || mask == wantMask),
                 "[%s] fractions m=%zu n=%zu k=%zu B/Bhb=%d/%d w=%d enc=%s on=%.2f mask=%d: on %llu want %llu",
                 isa->name, s.m, s.n, s.k, aBits, hb, wb, encName(enc), f, withMask, (unsigned long long)on,
                 (unsigned long long)wantOn);
        }
      }
    }
  });
}

}  // namespace

int main() {
  std::mt19937_64 rng(20240607);
  const float inf = std::numeric_limits<float>::infinity();
  const Encoding encs[] = {Encoding::Bipolar, Encoding::Unsigned, Encoding::Signed};
  const GatedStrategy strategies[] = {GatedStrategy::Auto, GatedStrategy::Compact, GatedStrategy::Tiles, GatedStrategy::Hybrid};
  // M, N, K: single outputs, tile edges (8, 16, 64 rows; 8, 16, 128 columns), K across words.
  const Shape shapes[] = {{1, 1, 1},   {9, 17, 63},  {16, 16, 64}, {13, 23, 65}, {70, 9, 100},
                          {65, 130, 7}, {31, 47, 200}, {3, 5, 4099}, {129, 33, 77}};

  std::printf("ISAs on this CPU:");
  for (const Platform* t : availablePlatforms()) std::printf(" %s", t->name);
  std::printf("\n");
  std::vector<int> isaFailures(availablePlatforms().size(), 0);

  for (size_t ii = 0; ii < availablePlatforms().size(); ++ii) {
    const Platform* isa = availablePlatforms()[ii];
    const GatedKernelTable* g = isa->gated;
    EXPECT(std::string(g->name) == isa->name, "gated table for %s is %s", isa->name, g->name);
    const int before = failures;
    checkGateKernel(*g, rng);
    checkLowGroupKernel(*g, rng);
    checkHighGateKernel(*g, rng);
    isaFailures[ii] += failures - before;
  }
  checkFusedEpilogue(rng);
  checkGateFractions(rng);

  int combo = 0;
  for (const Shape& s : shapes) {
    for (int aBits = 2; aBits <= 8; ++aBits) {
      for (int hb = 1; hb < aBits; ++hb) {
        ++combo;
        // Weights: every encoding, bits on a rotation over 1..8; stored planes sometimes 8
        // (truncation: the top planes of an 8-bit pack).
        const Encoding bEnc = encs[combo % 3];
        const int bBits = 1 + (combo * 5) % 8;
        const int aStored = combo % 4 == 0 ? 8 : aBits, bStored = combo % 3 == 0 ? 8 : bBits;
        auto ac = randomCodes(rng, s.m * s.k, aStored);
        auto bc = randomCodes(rng, s.n * s.k, bStored);
        // Shapes with very long K get few combos.
        if (s.k > 1000 && combo % 4 != 0) continue;
        Packed A = packWith(ac, s.m, s.k, aStored), B = packWith(bc, s.n, s.k, bStored);
        const Reference ref = direct(ac, aStored, aBits, hb, bc, bStored, bBits, bEnc, s.m, s.n, s.k);

        // Threshold sets.
        std::vector<Case> cases;
        cases.push_back({"-inf", std::vector<float>(s.n, -inf)});
        cases.push_back({"+inf", std::vector<float>(s.n, inf)});
        {  // random around the O_hb values (some exactly equal to one: strict comparison)
          std::vector<float> t(s.n);
          for (size_t j = 0; j < s.n; ++j) {
            const int64_t pick = ref.hb[(rng() % s.m) * s.n + j];
            const int kind = static_cast<int>(rng() % 4);
            t[j] = kind == 0 ? static_cast<float>(pick)
                 : kind == 1 ? static_cast<float>(pick) + 0.5f
                 : kind == 2 ? static_cast<float>(pick) - 0.25f
                             : static_cast<float>(pick + static_cast<int64_t>(rng() % 41) - 20);
          }
          cases.push_back({"random", t});
        }
        {  // whole columns on (-inf) next to NaN, +inf and random: full micro-tiles for the hybrid
          std::vector<float> t(s.n);
          for (size_t j = 0; j < s.n; ++j) {
            const int kind = static_cast<int>((j / 3 + combo) % 5);
            t[j] = kind <= 1 ? -inf : kind == 2 ? std::numeric_limits<float>::quiet_NaN() : kind == 3 ? inf
                 : static_cast<float>(ref.hb[(rng() % s.m) * s.n + j]);
          }
          cases.push_back({"columns", t});
        }

        // Dense references for -inf / +inf through bitGemm itself (scalar ISA).
        std::vector<int32_t> denseC(s.m * s.n), highC(s.m * s.n);
        bitGemm(scalarPlatform(), GemmSpec{A.view(), B.view(), aBits, bBits, Encoding::Unsigned, bEnc}, denseC.data(), 1);
        bitGemm(scalarPlatform(), GemmSpec{A.view(), B.view(), hb, bBits, Encoding::Unsigned, bEnc}, highC.data(), 1);
        {
          bool ok = true;
          for (size_t x = 0; x < s.m * s.n; ++x)
            ok = ok && denseC[x] == ref.dense[x] && int64_t{highC[x]} * (int64_t{1} << (aBits - hb)) == ref.hb[x];
          EXPECT(ok, "reference self-check m=%zu n=%zu k=%zu B=%d Bhb=%d", s.m, s.n, s.k, aBits, hb);
        }

        for (size_t ii = 0; ii < availablePlatforms().size(); ++ii) {
          const Platform* isa = availablePlatforms()[ii];
          const int before = failures;
          for (const Case& c : cases) {
            // Expected from the direct sums.
            std::vector<int32_t> wantOut(s.m * s.n);
            std::vector<uint8_t> wantMask(s.m * s.n);
            uint64_t wantOn = 0;
            for (size_t i = 0; i < s.m; ++i) {
              for (size_t j = 0; j < s.n; ++j) {
                const size_t x = i * s.n + j;
                const bool on = static_cast<double>(ref.hb[x]) > static_cast<double>(c.thr[j]);
                wantMask[x] = on;
                wantOn += on;
                wantOut[x] = static_cast<int32_t>(on ? ref.dense[x] : ref.hb[x]);
              }
            }
            for (GatedStrategy st : strategies) {
              // Strategies other than Auto only on a rotation, to keep the run short.
              if (st != GatedStrategy::Auto && (combo + static_cast<int>(st)) % 2 != 0 && c.name[0] != 'c') continue;
              GatedSpec spec{A.view(), B.view(), aBits, hb, bBits, bEnc, c.thr.data(), st};
              CheckResult cr = checkGated(spec);
              EXPECT(cr.kind == ErrorKind::None, "unexpected check failure: %s", cr.message.c_str());
              std::vector<int32_t> out(s.m * s.n, 0x7eadbeef);
              std::vector<uint8_t> mask(s.m * s.n, 0x5a);
              const int threads = 1 + (combo + static_cast<int>(st)) % 3;
              const uint64_t on = gatedGemm(*isa, spec, out.data(), mask.data(), threads);
              size_t badOut = 0, badMask = 0, firstBad = SIZE_MAX;
              for (size_t x = 0; x < s.m * s.n; ++x) {
                if (out[x] != wantOut[x]) {
                  ++badOut;
                  if (firstBad == SIZE_MAX) firstBad = x;
                }
                badMask += mask[x] != wantMask[x];
              }
              EXPECT(badOut == 0 && badMask == 0 && on == wantOn,
                     "[%s/%s] m=%zu n=%zu k=%zu B=%d Bhb=%d b=%d-bit %s (stored %d/%d) thr=%s: %zu out wrong "
                     "(first at %zu: %d want %d), %zu mask wrong, on %llu want %llu",
                     isa->name, strategyName(st), s.m, s.n, s.k, aBits, hb, bBits, encName(bEnc), aStored, bStored,
                     c.name, badOut, firstBad, firstBad == SIZE_MAX ? 0 : out[firstBad],
                     firstBad == SIZE_MAX ? 0 : wantOut[firstBad], badMask, (unsigned long long)on,
                     (unsigned long long)wantOn);
              if (c.name[0] == '-' && c.name[1] == 'i') {
                EXPECT(out == denseC && on == s.m * s.n, "[%s] -inf must equal the dense bitGemm", isa->name);
              }
              if (c.name[0] == '+') {
                bool same = on == 0;
                for (size_t x = 0; x < s.m * s.n; ++x) same = same && int64_t{out[x]} == int64_t{highC[x]} * (int64_t{1} << (aBits - hb));
                EXPECT(same, "[%s] +inf must equal 2^(B-Bhb) * bitGemm of the top Bhb planes", isa->name);
              }
            }
          }
          isaFailures[ii] += failures - before;
        }
      }
    }
  }

  // Two weight operands (spec.b2): the gate on the summed O_hb, the low planes of both operands
  // only where on. Against the sum of two single-operand dense bitGemms (-inf), the sum of the two
  // high-only ones (+inf) and the direct sums (random / per-column thresholds), every ISA and
  // strategy. Includes the sign-magnitude split pgConv uses (8-bit bipolar + 1-bit unsigned).
  {
    const Shape shapes2[] = {{1, 1, 1}, {9, 17, 63}, {70, 9, 100}, {65, 130, 7}, {31, 47, 200}, {129, 33, 77}};
    int combo2 = 0;
    for (const Shape& s : shapes2) {
      for (int aBits = 2; aBits <= 8; ++aBits) {
        for (int hb = 1; hb < aBits; ++hb) {
          ++combo2;
          const bool signMag = combo2 % 4 == 0;
          const Encoding e1 = signMag ? Encoding::Bipolar : encs[combo2 % 3];
          const Encoding e2 = signMag ? Encoding::Unsigned : encs[(combo2 / 3) % 3];
          const int bits1 = signMag ? 8 : 1 + (combo2 * 5) % 8, bits2 = signMag ? 1 : 1 + (combo2 * 3) % 8;
          const int aStored = combo2 % 5 == 0 ? 8 : aBits;
          const int stored1 = combo2 % 3 == 0 ? 8 : bits1, stored2 = combo2 % 7 == 0 ? 8 : bits2;
          auto ac = randomCodes(rng, s.m * s.k, aStored);
          auto bc1 = randomCodes(rng, s.n * s.k, stored1), bc2 = randomCodes(rng, s.n * s.k, stored2);
          Packed A = packWith(ac, s.m, s.k, aStored), B1 = packWith(bc1, s.n, s.k, stored1),
                 B2 = packWith(bc2, s.n, s.k, stored2);
          const Reference r1 = direct(ac, aStored, aBits, hb, bc1, stored1, bits1, e1, s.m, s.n, s.k);
          const Reference r2 = direct(ac, aStored, aBits, hb, bc2, stored2, bits2, e2, s.m, s.n, s.k);
          std::vector<int64_t> hbSum(s.m * s.n), denseSum(s.m * s.n);
          for (size_t x = 0; x < s.m * s.n; ++x) {
            hbSum[x] = r1.hb[x] + r2.hb[x];
            denseSum[x] = r1.dense[x] + r2.dense[x];
          }
          // Single-operand dense GEMMs (scalar ISA): full and high-only.
          std::vector<int32_t> d1(s.m * s.n), d2(s.m * s.n), h1(s.m * s.n), h2(s.m * s.n);
          bitGemm(scalarPlatform(), GemmSpec{A.view(), B1.view(), aBits, bits1, Encoding::Unsigned, e1}, d1.data(), 1);
          bitGemm(scalarPlatform(), GemmSpec{A.view(), B2.view(), aBits, bits2, Encoding::Unsigned, e2}, d2.data(), 1);
          bitGemm(scalarPlatform(), GemmSpec{A.view(), B1.view(), hb, bits1, Encoding::Unsigned, e1}, h1.data(), 1);
          bitGemm(scalarPlatform(), GemmSpec{A.view(), B2.view(), hb, bits2, Encoding::Unsigned, e2}, h2.data(), 1);

          std::vector<Case> cases;
          cases.push_back({"-inf", std::vector<float>(s.n, -inf)});
          cases.push_back({"+inf", std::vector<float>(s.n, inf)});
          {
            std::vector<float> t(s.n);
            for (size_t j = 0; j < s.n; ++j) {
              const int64_t pick = hbSum[(rng() % s.m) * s.n + j];
              const int kind = static_cast<int>(rng() % 4);
              t[j] = kind == 0 ? static_cast<float>(pick)
                   : kind == 1 ? static_cast<float>(pick) + 0.5f
                   : kind == 2 ? static_cast<float>(pick) - 0.25f
                               : static_cast<float>(pick + static_cast<int64_t>(rng() % 41) - 20);
            }
            cases.push_back({"random", t});
          }
          {
            std::vector<float> t(s.n);
            for (size_t j = 0; j < s.n; ++j) {
              const int kind = static_cast<int>((j / 3 + combo2) % 5);
              t[j] = kind <= 1 ? -inf : kind == 2 ? std::numeric_limits<float>::quiet_NaN() : kind == 3 ? inf
                   : static_cast<float>(hbSum[(rng() % s.m) * s.n + j]);
            }
            cases.push_back({"columns", t});
          }
          for (size_t ii = 0; ii < availablePlatforms().size(); ++ii) {
            const Platform* isa = availablePlatforms()[ii];
            const int before = failures;
            for (const Case& c : cases) {
              std::vector<int32_t> wantOut(s.m * s.n);
              std::vector<uint8_t> wantMask(s.m * s.n);
              uint64_t wantOn = 0;
              for (size_t x = 0; x < s.m * s.n; ++x) {
                const bool on = static_cast<double>(hbSum[x]) > static_cast<double>(c.thr[x % s.n]);
                wantMask[x] = on;
                wantOn += on;
                wantOut[x] = static_cast<int32_t>(on ? denseSum[x] : hbSum[x]);
              }
              for (GatedStrategy st : strategies) {
                GatedSpec spec{A.view(), B1.view(), aBits, hb, bits1, e1, c.thr.data(), st};
                spec.b2 = B2.view();
                spec.b2Bits = bits2;
                spec.b2Enc = e2;
                CheckResult cr = checkGated(spec);
                EXPECT(cr.kind == ErrorKind::None, "two operands: unexpected check failure: %s", cr.message.c_str());
                std::vector<int32_t> out(s.m * s.n, 0x7eadbeef);
                std::vector<uint8_t> mask(s.m * s.n, 0x5a);
                const int threads = 1 + (combo2 + static_cast<int>(st)) % 3;
                const uint64_t on = gatedGemm(*isa, spec, out.data(), mask.data(), threads);
                size_t badOut = 0, badMask = 0;
                for (size_t x = 0; x < s.m * s.n; ++x) {
                  badOut += out[x] != wantOut[x];
                  badMask += mask[x] != wantMask[x];
                }
                EXPECT(badOut == 0 && badMask == 0 && on == wantOn,
                       "[%s/%s] two operands m=%zu n=%zu k=%zu B=%d Bhb=%d b=%d-bit %s + b2=%d-bit %s thr=%s: %zu out "
                       "wrong, %zu mask wrong, on %llu want %llu",
                       isa->name, strategyName(st), s.m, s.n, s.k, aBits, hb, bits1, encName(e1), bits2, encName(e2),
                       c.name, badOut, badMask, (unsigned long long)on, (unsigned long long)wantOn);
                if (c.name[0] == '-' && c.name[1] == 'i') {
                  bool same = on == s.m * s.n;
                  for (size_t x = 0; x < s.m * s.n; ++x) same = same && out[x] == d1[x] + d2[x];
                  EXPECT(same, "[%s/%s] two operands -inf must equal the sum of the two dense bitGemms", isa->name,
                         strategyName(st));
                }
                if (c.name[0] == '+') {
                  bool same = on == 0;
                  for (size_t x = 0; x < s.m * s.n; ++x)
                    same = same && int64_t{out[x]} == (int64_t{h1[x]} + h2[x]) * (int64_t{1} << (aBits - hb));
                  EXPECT(same, "[%s/%s] two operands +inf must equal 2^(B-Bhb) * the sum of the high-only bitGemms",
                         isa->name, strategyName(st));
                }
              }
            }
            isaFailures[ii] += failures - before;
          }
        }
      }
    }
  }

  // Argument checks.
  {
    PackedView a{nullptr, 1, 100, 4, nullptr}, b{nullptr, 1, 100, 2, nullptr};
    float thr = 0;
    auto kindOf = [&](int aBits, int hb, int bBits, Encoding e) {
      return checkGated(GatedSpec{a, b, aBits, hb, bBits, e, &thr}).kind;
    };
    EXPECT(kindOf(4, 2, 2, Encoding::Bipolar) == ErrorKind::None, "4/2 x 2 valid");
    EXPECT(kindOf(4, 4, 2, Encoding::Bipolar) == ErrorKind::Range, "highBits == aBits refused");
    EXPECT(kindOf(4, 0, 2, Encoding::Bipolar) == ErrorKind::Range, "highBits 0 refused");
    EXPECT(kindOf(1, 1, 2, Encoding::Bipolar) == ErrorKind::Range, "aBits 1 refused");
    EXPECT(kindOf(5, 2, 2, Encoding::Bipolar) == ErrorKind::Range, "aBits above stored refused");
    EXPECT(kindOf(4, 2, 3, Encoding::Bipolar) == ErrorKind::Range, "bBits above stored refused");
    b.cols = 99;
    EXPECT(kindOf(4, 2, 2, Encoding::Bipolar) == ErrorKind::Range, "K mismatch refused");
    PackedView big{nullptr, 1, 33026, 8, nullptr};
    EXPECT(checkGated(GatedSpec{big, big, 8, 4, 8, Encoding::Unsigned, &thr}).kind == ErrorKind::Range, "overflow refused");
    {  // second operand: rows must match, bits in range, the sum of both worst cases must fit
      PackedView a2{nullptr, 1, 100, 4, nullptr}, w{nullptr, 3, 100, 8, nullptr}, w2{nullptr, 3, 100, 1, nullptr};
      std::vector<float> t3(3, 0.0f);
      GatedSpec sp{a2, w, 4, 2, 8, Encoding::Bipolar, t3.data()};
      sp.b2 = w2;
      sp.b2Bits = 1;
      EXPECT(checkGated(sp).kind == ErrorKind::None, "two operands valid");
      sp.b2Bits = 2;
      CheckResult cr = checkGated(sp);
      EXPECT(cr.kind == ErrorKind::Range && cr.message.find("b2Bits") != std::string::npos, "b2Bits above stored: %s",
             cr.message.c_str());
      sp.b2Bits = 1;
      sp.b2.rows = 2;
      cr = checkGated(sp);
      EXPECT(cr.kind == ErrorKind::Range && cr.message.find("b2") != std::string::npos, "b2 rows mismatch: %s",
             cr.message.c_str());
      sp.b2.rows = 3;
      sp.b2.cols = 99;
      cr = checkGated(sp);
      EXPECT(cr.kind == ErrorKind::Range && cr.message.find("b2") != std::string::npos, "b2 K mismatch: %s",
             cr.message.c_str());
      // 8-bit a x 8-bit unsigned b fits alone at K = 33025 (255*255*33025 < 2^31), not with a +1 operand.
      PackedView ab{nullptr, 1, 33025, 8, nullptr}, wb{nullptr, 3, 33025, 8, nullptr}, wb2{nullptr, 3, 33025, 8, nullptr};
      GatedSpec big2{ab, wb, 8, 4, 8, Encoding::Unsigned, t3.data()};
      EXPECT(checkGated(big2).kind == ErrorKind::None, "one operand fits");
      big2.b2 = wb2;
      big2.b2Bits = 1;
      EXPECT(checkGated(big2).kind == ErrorKind::Range, "sum overflow refused");
    }
    EXPECT(gateThreshold(-inf) == INT64_MIN && gateThreshold(inf) == INT64_MAX, "infinite thresholds");
    EXPECT(gateThreshold(std::numeric_limits<float>::quiet_NaN()) == INT64_MAX, "NaN never on");
    EXPECT(gateThreshold(2.5f) == 2 && gateThreshold(-2.5f) == -3 && gateThreshold(-3.0f) == -3, "floor");
  }

  for (size_t ii = 0; ii < availablePlatforms().size(); ++ii)
    std::printf("%s: %s\n", availablePlatforms()[ii]->name, isaFailures[ii] == 0 ? "ok" : "FAILED");
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
