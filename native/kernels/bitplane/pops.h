// The per-row plane popcounts of one packed panel (KernelTable::panelPops), written once and
// compiled per ISA: included only by bitplane_<isa>.cc, with internal linkage so each keeps its
// own copy built with its own flags (with -mavx512vpopcntdq the 8-lane loop is one VPOPCNTQ per
// word of K and plane; at the baseline x86-64 ISA __builtin_popcountll is a library call, so the
// scalar file passes a shift-and-add popcount instead).
#pragma once
#include <cstddef>
#include <cstdint>

#include "bitplane/bitplane.h"

namespace anyprec {
namespace {

// planePop[r * planes + p] = sum over the panel's kWords words of popcount(plane p of row r), for
// the panel's first `rows` rows.
template <typename Pop>
inline void panelPopsWith(const uint64_t* panel, int rows, int planes, size_t kWords, int32_t* planePop, Pop pop) {
  for (int pl = 0; pl < planes; ++pl) {
    const uint64_t* w = panel + static_cast<size_t>(pl) * kWords * kPanelRows;
    uint64_t lane[kPanelRows] = {};
    for (size_t i = 0; i < kWords; ++i)
      for (int r = 0; r < kPanelRows; ++r) lane[r] += pop(w[i * kPanelRows + r]);
    for (int r = 0; r < rows; ++r) planePop[r * planes + pl] = static_cast<int32_t>(lane[r]);
  }
}

inline uint64_t popcountBuiltin(uint64_t x) { return static_cast<uint64_t>(__builtin_popcountll(x)); }

}  // namespace
}  // namespace anyprec
