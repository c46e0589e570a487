// The K walk shared by the indirect conv tiles (I8ConvTileArgs; i8gemm_avx512.cc, i8gemm_avxvnni.cc).
// Plain C++, included by files compiled with different flags: everything is internal to each file.
#pragma once
#include <cstddef>
#include <cstdint>

namespace anyprec {
namespace {

// K steps of 4 bytes per K block of a conv tile with more than one row: 144 (576 bytes, ResNet-20's
// largest K in one block) keeps a 64-column block of weights at 36 KiB, near L1, while the row
// blocks walk it; a longer K (a wide layer, a linear layer as one tap) is walked in such blocks.
constexpr size_t kConvKc4 = 144;

// Splits the K steps q0..q1-1 (4 bytes each; a tap is c4 steps) into their pieces per tap:
// piece(t, qa, qb, q) for tap t's steps qa..qb-1 (counted inside the tap), q its first step in K.
template <typename Piece>
inline void forTapPieces(size_t c4, size_t q0, size_t q1, Piece&& piece) {
  size_t t = q0 / c4, qa = q0 - t * c4;
  for (size_t q = q0; q < q1; ++t, qa = 0) {
    const size_t qb = q1 - q < c4 - qa ? qa + (q1 - q) : c4;
    piece(t, qa, qb, q);
    q += qb - qa;
  }
}

// The exact finish a conv tile applies as it stores its last K block (I8ConvTileArgs::rowConst):
// rowConst / colConst at the block's first row / column.
struct ConvFinish {
  const uint32_t* rowConst;
  const uint32_t* colConst;
  uint32_t mul;
};

}  // namespace
}  // namespace anyprec
