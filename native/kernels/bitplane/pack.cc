// Packing driver: panels of codes through the ISA's packPanel and panelPops, split over threads.
#include "bitplane/pack.h"

#include <algorithm>

#include "common/checked.h"
#include "common/threadpool.h"
#include "platform/platform.h"

namespace anyprec {

size_t findBadCode(const uint8_t* codes, size_t n, int planes) {
  return planes >= 8 ? SIZE_MAX : findCodeAtLeast(codes, n, 1u << planes);
}

size_t findCodeAtLeast(const uint8_t* codes, size_t n, unsigned limitValue) {
  if (limitValue > 255) return SIZE_MAX;
  const uint8_t limit = static_cast<uint8_t>(limitValue);
  // Branch-free OR-reduction per block so the common (valid) case vectorises; locate on failure.
  constexpr size_t kBlock = 4096;
  for (size_t s = 0; s < n; s += kBlock) {
    const size_t e = std::min(n, s + kBlock);
    uint8_t bad = 0;
    for (size_t i = s; i < e; ++i) bad |= static_cast<uint8_t>(codes[i] >= limit);
    if (bad) {
      for (size_t i = s; i < e; ++i) {
        if (codes[i] >= limit) return i;
      }
    }
  }
  return SIZE_MAX;
}

size_t packedWordsChecked(size_t rows, size_t k, int planes) {
  // panelsFor / kWordsFor round up with an addition: bound the inputs first.
  const size_t panels = addOrThrow(rows, kPanelRows - 1, "packed rows") / kPanelRows;
  const size_t kWords = addOrThrow(k, 63, "packed columns") / 64;
  const size_t words = mulOrThrow({panels, static_cast<size_t>(planes), kWords, size_t{kPanelRows}}, "packed operand");
  return bufferOrThrow(words, sizeof(uint64_t), "packed operand");
}

size_t planePopCountChecked(size_t rows, int planes) {
  return bufferOrThrow(mulOrThrow({rows, static_cast<size_t>(planes)}, "plane popcounts"), sizeof(int32_t),
                       "plane popcounts");
}

void pack(const Platform& platform, const uint8_t* codes, size_t rows, size_t k, int planes, uint64_t* out,
          int32_t* planePop, int threads) {
  const KernelTable& isa = *platform.bitplane;
  const size_t kWords = kWordsFor(k);
  const size_t panelWords = static_cast<size_t>(planes) * kWords * kPanelRows;
  const size_t panels = panelsFor(rows);
  // Group panels so each task packs at least ~64 KiB of codes.
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 16) / std::max<size_t>(1, k * kPanelRows));
  const size_t tasks = (panels + perTask - 1) / perTask;
  parallelRun(tasks, threads, [&](size_t t) {
    const size_t p0 = t * perTask, p1 = std::min(panels, p0 + perTask);
    for (size_t p = p0; p < p1; ++p) {
      const size_t r0 = p * kPanelRows;
      const int nRows = static_cast<int>(std::min<size_t>(kPanelRows, rows - r0));
      uint64_t* panel = out + p * panelWords;
      PackPanelArgs args{codes + r0 * k, k, nRows, k, planes, kWords, panel};
      isa.packPanel(args);
      isa.panelPops(panel, nRows, planes, kWords, planePop + r0 * planes);
    }
  });
}

void unpack(const PackedView& p, uint8_t* codes) {
  const size_t kWords = kWordsFor(p.cols);
  for (size_t r = 0; r < p.rows; ++r) {
    const uint64_t* panel = p.data + (r / kPanelRows) * static_cast<size_t>(p.planes) * kWords * kPanelRows;
    for (size_t t = 0; t < p.cols; ++t) {
      unsigned q = 0;
      for (int pl = 0; pl < p.planes; ++pl) {
        const uint64_t w = panel[(static_cast<size_t>(pl) * kWords + t / 64) * kPanelRows + r % kPanelRows];
        q = (q << 1) | static_cast<unsigned>((w >> (t % 64)) & 1u);
      }
      codes[r * p.cols + t] = static_cast<uint8_t>(q);
    }
  }
}

}  // namespace anyprec
