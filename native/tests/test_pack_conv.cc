// Conv input packing from bit streams, on every ISA this CPU runs:
//  - packStreams against streams built bit by bit (odd counts, partial word ranges, tails);
//  - gatherPanel against rows concatenated bit by bit from random runs (odd offsets and lengths
//    across word edges, 1..8 rows and planes);
//  - gatherPanels (bands of evenly spaced panels) against gatherPanel once per panel;
//  - packConvInput against packConvInputReference (the gather-and-pack path on the scalar
//    platform) over channels 1..130, kernels 1x1..7x7, strides 1..3, padding 0..3, dilation 1..2,
//    batch 1/3/17, planes 1..8, 1 and 3 threads. Outputs start as garbage: every word is written.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

constexpr uint64_t kGarbage = 0xA5A5A5A5A5A5A5A5ull;

bool streamBit(const std::vector<uint8_t>& codes, size_t i, int planes, int plane) {
  return i < codes.size() && ((codes[i] >> (planes - 1 - plane)) & 1u);
}

void checkPackStreams(const Platform& isa, std::mt19937_64& rng) {
  for (size_t count : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{200}, size_t{511}}) {
    for (int planes = 1; planes <= 8; ++planes) {
      std::vector<uint8_t> codes(count);
      for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
      const size_t words = count / 64 + 2;
      for (size_t word0 : {size_t{0}, size_t{1}}) {
        const size_t stride = words + 3;
        std::vector<uint64_t> st(static_cast<size_t>(planes) * stride, kGarbage);
        isa.bitplane->packStreams({codes.data(), count, planes, word0, words, st.data(), stride});
        bool ok = true;
        for (int pl = 0; pl < planes; ++pl) {
          for (size_t w = 0; w < stride; ++w) {
            uint64_t want = kGarbage;
            if (w >= word0 && w < words) {
              want = 0;
              for (size_t j = 0; j < 64; ++j) want |= uint64_t{streamBit(codes, w * 64 + j, planes, pl)} << j;
            }
            ok = ok && st[static_cast<size_t>(pl) * stride + w] == want;
          }
        }
        EXPECT(ok, "[%s] packStreams count=%zu planes=%d word0=%zu", isa.name, count, planes, word0);
      }
    }
  }
}

void checkGatherPanel(const Platform& isa, std::mt19937_64& rng) {
  const size_t count = 1500;  // codes in the streams
  for (int trial = 0; trial < 400; ++trial) {
    const int planes = 1 + static_cast<int>(rng() % 8);
    const int rows = 1 + static_cast<int>(rng() % 8);
    std::vector<uint8_t> codes(count);
    for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
    const size_t words = count / 64 + 1 + kGatherSlackWords;
    std::vector<uint64_t> st(static_cast<size_t>(planes) * words);
    scalarPlatform().bitplane->packStreams({codes.data(), count, planes, 0, words, st.data(), words});
    // runs of 1..200 bits (short ones more often); rows and runs starting at any bit, or on bytes
    // (C a multiple of 8), or rows evenly spaced as a conv's output positions (step 8..80 bits)
    const int layout = trial % 6 < 3 ? trial % 6 : 3;
    const uint64_t align = layout == 0 ? 1 : 8;
    const uint64_t runBits = layout == 1 ? 8 * (1 + rng() % 25) : 1 + rng() % (trial % 3 == 0 ? 200 : 40);
    const size_t runs = 1 + rng() % 6;
    std::vector<uint64_t> runOffset(runs), rowBit(rows);
    for (auto& o : runOffset) o = rng() % 600 / align * align;
    const uint64_t step = 8 * (1 + rng() % 10);
    for (int r = 0; r < rows; ++r) {
      rowBit[r] = layout == 3 ? (r == 0 ? rng() % 300 / 8 * 8 : rowBit[0] + r * step)
                              : rng() % (count - 600 - 200) / align * align;
    }
    const size_t k = runs * runBits, kWords = kWordsFor(k);
    std::vector<uint64_t> panel(static_cast<size_t>(planes) * kWords * kPanelRows, kGarbage);
    std::vector<int32_t> pops(static_cast<size_t>(rows) * planes + 1, -1);
    isa.bitplane->gatherPanel({st.data(), words, planes, rowBit.data(), rows, runOffset.data(), runs, runBits, kWords,
                               panel.data(), pops.data()});
    bool ok = pops.back() == -1;
    for (int pl = 0; pl < planes; ++pl) {
      for (int r = 0; r < kPanelRows; ++r) {
        int32_t ones = 0;
        for (size_t w = 0; w < kWords; ++w) {
          uint64_t want = 0;
          for (size_t j = 0; j < 64 && r < rows && w * 64 + j < k; ++j) {
            const size_t t = w * 64 + j;
            const size_t code = rowBit[r] + runOffset[t / runBits] + t % runBits;
            want |= uint64_t{streamBit(codes, code, planes, pl)} << j;
          }
          ones += __builtin_popcountll(want);
          ok = ok && panel[(static_cast<size_t>(pl) * kWords + w) * kPanelRows + r] == want;
        }
        if (r < rows) ok = ok && pops[static_cast<size_t>(r) * planes + pl] == ones;
      }
    }
    EXPECT(ok, "[%s] gatherPanel trial %d: rows=%d planes=%d runs=%zu x %llu bits", isa.name, trial, rows, planes,
           runs, static_cast<unsigned long long>(runBits));
  }
}

// gatherPanels (where the ISA has it) against the scalar gatherPanel once per panel: bands of 1..6
// panels, rows 16..64 bits apart in steps of 16 with starts on bytes (the layout it is built for),
// and the layouts it hands on (steps of 8 or of any bits, starts anywhere, steps past 64 bits).
void checkGatherPanels(const Platform& isa, std::mt19937_64& rng) {
  if (isa.bitplane->gatherPanels == nullptr) return;
  const size_t count = 3000;  // codes in the streams
  for (int trial = 0; trial < 300; ++trial) {
    const int planes = 1 + static_cast<int>(rng() % 8);
    std::vector<uint8_t> codes(count);
    for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
    const size_t words = count / 64 + 1 + kGatherSlackWords;
    std::vector<uint64_t> st(static_cast<size_t>(planes) * words);
    scalarPlatform().bitplane->packStreams({codes.data(), count, planes, 0, words, st.data(), words});
    const int layout = trial % 4;  // 0, 1: the fast layout; 2: bytes, any step; 3: any bit
    const uint64_t align = layout == 3 ? 1 : 8;
    const uint64_t rowStep = layout < 2 ? 16 * (1 + rng() % 4) : layout == 2 ? 8 * (1 + rng() % 12) : 1 + rng() % 90;
    const uint64_t runBits = layout == 0 ? 16 * (1 + rng() % 14) : 1 + rng() % (trial % 3 == 0 ? 200 : 60);
    const size_t runs = 1 + rng() % 5, panels = 1 + rng() % 6;
    std::vector<uint64_t> runOffset(runs), panelBit(panels);
    for (auto& o : runOffset) o = rng() % 900 / align * align;
    for (auto& b : panelBit) b = rng() % (count - 900 - 1000 - 8 * 90) / align * align;
    const size_t k = runs * runBits, kWords = kWordsFor(k);
    const size_t panelWords = static_cast<size_t>(planes) * kWords * kPanelRows;
    std::vector<uint64_t> want(panels * panelWords, kGarbage), got(want.size(), ~kGarbage);
    std::vector<int32_t> wantPop(panels * kPanelRows * planes, -1), gotPop(wantPop.size() + 1, -2);
    for (size_t q = 0; q < panels; ++q) {
      uint64_t rowBit[kPanelRows];
      for (int r = 0; r < kPanelRows; ++r) rowBit[r] = panelBit[q] + r * rowStep;
      scalarPlatform().bitplane->gatherPanel({st.data(), words, planes, rowBit, kPanelRows, runOffset.data(), runs,
                                              runBits, kWords, want.data() + q * panelWords,
                                              wantPop.data() + q * kPanelRows * planes});
    }
    isa.bitplane->gatherPanels({st.data(), words, planes, panelBit.data(), panels, rowStep, runOffset.data(), runs,
                                runBits, kWords, got.data(), gotPop.data()});
    const bool popsOk = std::equal(wantPop.begin(), wantPop.end(), gotPop.begin()) && gotPop.back() == -2;
    EXPECT(want == got && popsOk, "[%s] gatherPanels trial %d: panels=%zu planes=%d step=%llu runs=%zu x %llu bits",
           isa.name, trial, panels, planes, static_cast<unsigned long long>(rowStep), runs,
           static_cast<unsigned long long>(runBits));
  }
}

void checkConvShapes(const Platform& isa, std::mt19937_64 rng) {
  const size_t channels[] = {1, 3, 5, 8, 16, 17, 32, 33, 64, 100, 128, 130};
  const size_t kernels[][2] = {{1, 1}, {3, 3}, {5, 3}, {3, 5}, {7, 7}};
  const size_t batches[] = {1, 3, 17};
  int cases = 0;
  for (int trial = 0; trial < 240; ++trial) {
    const size_t c = channels[trial % 12];
    const size_t* kern = kernels[(trial / 12) % 5];
    ConvShape s{};
    s.n = batches[rng() % 3];
    s.c = c;
    s.kh = kern[0];
    s.kw = kern[1];
    s.strideH = 1 + rng() % 3;
    s.strideW = trial % 3 == 0 ? s.strideH : 1 + rng() % 3;
    s.padH = rng() % 4;
    s.padW = rng() % 4;
    s.dilH = 1 + rng() % 2;
    s.dilW = trial % 2 == 0 ? 1 : 1 + rng() % 2;
    const size_t spanH = s.dilH * (s.kh - 1) + 1, spanW = s.dilW * (s.kw - 1) + 1;
    s.h = std::max<size_t>(1, spanH > 2 * s.padH ? spanH - 2 * s.padH : 1) + rng() % 6;
    s.w = std::max<size_t>(1, spanW > 2 * s.padW ? spanW - 2 * s.padW : 1) + rng() % 6;
    if (s.n == 17 && c > 32) s.n = 3;  // keep each case small
    if (!checkConvShape(s).empty()) continue;
    const int planes = 1 + trial % 8;
    std::vector<uint8_t> x(s.inputCount());
    for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
    const size_t rows = s.rows(), k = s.k();
    std::vector<uint64_t> want(packedWords(rows, k, planes), kGarbage), got(want.size(), ~kGarbage);
    std::vector<int32_t> wantPop(rows * planes, -1), gotPop(rows * planes, -2);
    packConvInputReference(scalarPlatform(), x.data(), s, planes, want.data(), wantPop.data(), 1);
    const int threads = trial % 2 == 0 ? 1 : 3;
    packConvInput(isa, x.data(), s, planes, got.data(), gotPop.data(), threads);
    EXPECT(want == got && wantPop == gotPop,
           "[%s] packConvInput n=%zu h=%zu w=%zu c=%zu kernel=%zux%zu stride=%zu,%zu pad=%zu,%zu dil=%zu,%zu "
           "planes=%d threads=%d",
           isa.name, s.n, s.h, s.w, s.c, s.kh, s.kw, s.strideH, s.strideW, s.padH, s.padW, s.dilH, s.dilW, planes,
           threads);
    ++cases;
  }
  EXPECT(cases >= 200, "[%s] only %d conv shapes were valid", isa.name, cases);
  // A padding far larger than the image: the padded streams would take ~2^36 words per plane, so
  // packConvInput must take the reference path (else this allocation fails)
  {
    const size_t huge = size_t{1} << 17;
    const ConvShape s{2, 1, 1, 3, 1, 1, huge, huge, huge, huge, 1, 1};
    EXPECT(checkConvShape(s).empty() && s.rows() == 18, "huge-padding shape is valid, 3 x 3 positions per image");
    const std::vector<uint8_t> x{1, 2, 3, 0, 3, 1};
    std::vector<uint64_t> want(packedWords(s.rows(), s.k(), 2), kGarbage), got(want.size(), ~kGarbage);
    std::vector<int32_t> wantPop(s.rows() * 2, -1), gotPop(s.rows() * 2, -2);
    packConvInputReference(scalarPlatform(), x.data(), s, 2, want.data(), wantPop.data(), 1);
    packConvInput(isa, x.data(), s, 2, got.data(), gotPop.data(), 1);
    EXPECT(want == got && wantPop == gotPop, "[%s] packConvInput with padding 2^17", isa.name);
  }
  // The channel counts whole panels are gathered for (16, 32, 64) and one that is not a multiple of
  // 16: 1x1 and 3x3, stride 1 and 2, padding 0 and 1, widths with and without panels across the
  // ends of output rows, batch 1/3/17, every plane count.
  int sweep = 0;
  for (size_t c : {size_t{16}, size_t{32}, size_t{64}, size_t{24}}) {
    for (size_t kern : {size_t{1}, size_t{3}}) {
      for (size_t stride : {size_t{1}, size_t{2}}) {
        for (size_t pad : {size_t{0}, size_t{1}}) {
          const size_t n = std::vector<size_t>{1, 3, 17}[sweep % 3];
          const size_t w = std::vector<size_t>{16, 11, 32, 8}[(sweep / 3) % 4];
          const size_t h = c == 64 ? 3 : 5;
          ConvShape s{n, h, w, c, kern, kern, stride, stride, pad, pad, 1, 1};
          const int planes = 1 + sweep % 8;
          ++sweep;
          if (!checkConvShape(s).empty()) continue;
          std::vector<uint8_t> x(s.inputCount());
          for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
          std::vector<uint64_t> want(packedWords(s.rows(), s.k(), planes), kGarbage), got(want.size(), ~kGarbage);
          std::vector<int32_t> wantPop(s.rows() * planes, -1), gotPop(s.rows() * planes, -2);
          packConvInputReference(scalarPlatform(), x.data(), s, planes, want.data(), wantPop.data(), 1);
          packConvInput(isa, x.data(), s, planes, got.data(), gotPop.data(), 1 + sweep % 2);
          EXPECT(want == got && wantPop == gotPop,
                 "[%s] packConvInput sweep n=%zu h=%zu w=%zu c=%zu kernel=%zu stride=%zu pad=%zu planes=%d", isa.name, n, h,
                 w, c, kern, stride, pad, planes);
        }
      }
    }
  }
  // ResNet-like rows: whole panels inside one output row (8 positions a fixed step apart)
  for (const ConvShape& s : {ConvShape{2, 8, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}, ConvShape{1, 4, 24, 32, 3, 3, 1, 1, 1, 1, 1, 1},
                             ConvShape{1, 3, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1}, ConvShape{1, 3, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1},
                             ConvShape{1, 5, 33, 32, 3, 3, 2, 2, 1, 1, 1, 1}, ConvShape{3, 4, 16, 8, 1, 1, 1, 1, 0, 0, 1, 1},
                             ConvShape{1, 6, 18, 16, 3, 3, 1, 1, 0, 0, 1, 2}}) {
    for (int planes : {1, 2, 5, 8}) {
      std::vector<uint8_t> x(s.inputCount());
      for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
      std::vector<uint64_t> want(packedWords(s.rows(), s.k(), planes), kGarbage), got(want.size(), ~kGarbage);
      std::vector<int32_t> wantPop(s.rows() * planes, -1), gotPop(s.rows() * planes, -2);
      packConvInputReference(scalarPlatform(), x.data(), s, planes, want.data(), wantPop.data(), 1);
      packConvInput(isa, x.data(), s, planes, got.data(), gotPop.data(), 2);
      EXPECT(want == got && wantPop == gotPop, "[%s] packConvInput n=%zu h=%zu w=%zu c=%zu stride=%zu planes=%d",
             isa.name, s.n, s.h, s.w, s.c, s.strideW, planes);
    }
  }
}

// The layout step before a conv's input is quantised and lowered: nchwToNhwc against the plain
// index formula, channel counts below, at and off its groups of 8, planes shorter and longer than
// its position blocks, 1 and 2 threads, every platform.
void checkNchwToNhwc(const Platform& isa) {
  std::mt19937_64 rng(5);
  for (size_t c : {size_t{1}, size_t{3}, size_t{8}, size_t{13}, size_t{64}, size_t{100}}) {
    for (size_t hw : {size_t{1}, size_t{7}, size_t{33 * 33}}) {
      for (int threads : {1, 2}) {
        const size_t n = 2, h = hw == 1 ? 1 : hw == 7 ? 7 : 33, w = hw / h;
        std::vector<float> x(n * c * h * w), got(x.size(), -1.0f);
        for (auto& v : x) v = static_cast<float>(rng() % 100000);
        nchwToNhwc(isa, x.data(), n, c, h, w, got.data(), threads);
        bool ok = true;
        for (size_t i = 0; i < n; ++i)
          for (size_t ch = 0; ch < c; ++ch)
            for (size_t p = 0; p < h * w; ++p) ok = ok && got[(i * h * w + p) * c + ch] == x[(i * c + ch) * h * w + p];
        EXPECT(ok, "[%s] nchwToNhwc n=%zu c=%zu h=%zu w=%zu threads=%d", isa.name, n, c, h, w, threads);
      }
    }
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(11);
  for (const Platform* isa : availablePlatforms()) {
    checkNchwToNhwc(*isa);
    checkPackStreams(*isa, rng);
    checkGatherPanel(*isa, rng);
    checkGatherPanels(*isa, rng);
    checkConvShapes(*isa, std::mt19937_64(23));  // the same shapes on every ISA
  }
  std::printf("pack_conv: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
