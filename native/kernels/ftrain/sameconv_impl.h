// anyprec training kernels, the body of the direct "same" convolution (sameconv.h), per ISA file.
// The template is instantiated once per ISA file (sameconv_<isa>.cc), compiled with that ISA's
// flags; everything here has internal linkage (the ISA files' copies must never be merged).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "common/threadpool.h"
#include "ftrain/sameconv.h"
#include "ftrain/common.h"

namespace anyprec {
namespace ftrain {
namespace {

// RI consecutive pixels of one output row x VJ vectors of W output channels (wt: the tile's
// chunk of weights, kh x kw x cin x (VJ * W) contiguous; out already at the tile's first
// channel, pixel stride cout), added to out (assign: written as if out held +0). ip: the padded input at the tile's first pixel, tap (kh-1, kw-1)
// (row stride rowStep, pixel stride cin); tap (ky, kx) reads it (kh-1-ky) rows and (kw-1-kx)
// pixels further on; the tile's next output pixel reads pixStep floats further on (cin times the
// stride). PS: pixStep as a compile-time constant (0: use the argument), so that the RI pixels'
// reads are immediate offsets rather than RI offsets in general registers (x86-64 has 16; a
// 16-pixel tile spilled them and reloaded one per product).
template <int W, int RI, int VJ, size_t PS = 0>
inline void tile(const float* ip, size_t rowStep, size_t cin, size_t pixStepArg, size_t kh, size_t kw, const float* wt,
                 size_t cout, float* out, bool assign) {
  const size_t pixStep = PS != 0 ? PS : pixStepArg;
  constexpr size_t kChunk = static_cast<size_t>(W) * VJ;
  typedef float V __attribute__((vector_size(W * 4)));
  V acc[RI][VJ];
  ANYPREC_FTRAIN_UNROLL
  for (int r = 0; r < RI; ++r) {
    ANYPREC_FTRAIN_UNROLL
    for (int v = 0; v < VJ; ++v) acc[r][v] = V{};
  }
  for (size_t ky = 0; ky < kh; ++ky)
    for (size_t kx = 0; kx < kw; ++kx) {
      const float* g = ip + (kh - 1 - ky) * rowStep + (kw - 1 - kx) * cin;
      const float* wk = wt + (ky * kw + kx) * cin * kChunk;
      // (two inputs per iteration: half the loop overhead; a few % faster on Zen 3 AVX2)
      ANYPREC_FTRAIN_UNROLL2
      for (size_t i = 0; i < cin; ++i) {
        V wv[VJ];
        ANYPREC_FTRAIN_UNROLL
        for (int v = 0; v < VJ; ++v) std::memcpy(&wv[v], wk + i * kChunk + v * W, sizeof(V));
        ANYPREC_FTRAIN_UNROLL
        for (int r = 0; r < RI; ++r) {
          const V b = g[r * pixStep + i] - V{};  // in every lane (x - (+0) = x, -0 included)
          ANYPREC_FTRAIN_UNROLL
          for (int v = 0; v < VJ; ++v) {
            const V p = b * wv[v];
            acc[r][v] = acc[r][v] + p;
          }
        }
      }
    }
  ANYPREC_FTRAIN_UNROLL
  for (int r = 0; r < RI; ++r) {
    ANYPREC_FTRAIN_UNROLL
    for (int v = 0; v < VJ; ++v) {
      V cur{};  // assign: +0 in every lane, the sum then as on a zero-filled out
      if (!assign) std::memcpy(&cur, out + r * cout + v * W, sizeof(V));
      cur = cur + acc[r][v];
      std::memcpy(out + r * cout + v * W, &cur, sizeof(V));
    }
  }
}

// One tile (tile<W, RI, VJ>) with the pixel stride as a constant where it is one of the network's
// channel counts (x the stride).
template <int W, int RI, int VJ>
inline void tileAt(const float* ip, size_t rowStep, size_t cin, size_t pixStep, size_t kh, size_t kw, const float* wt,
                   size_t cout, float* out, bool assign) {
  switch (pixStep) {
    case 16: tile<W, RI, VJ, 16>(ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign); break;
    case 32: tile<W, RI, VJ, 32>(ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign); break;
    case 64: tile<W, RI, VJ, 64>(ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign); break;
    case 128: tile<W, RI, VJ, 128>(ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign); break;
    default: tile<W, RI, VJ>(ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign);
  }
}

// The last `left` (< R) pixels of a row as one tile of that many pixels (R - 1, R - 2, ... down
// to 1), not one pixel at a time: a 1-pixel tile's few accumulators are bound by the add latency.
template <int W, int R, int VJ>
inline void tailTile(size_t left, const float* ip, size_t rowStep, size_t cin, size_t pixStep, size_t kh, size_t kw,
                     const float* wt, size_t cout, float* out, bool assign) {
  if constexpr (R > 1) {
    if (left == R - 1) tileAt<W, R - 1, VJ>(ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign);
    else tailTile<W, R - 1, VJ>(left, ip, rowStep, cin, pixStep, kh, kw, wt, cout, out, assign);
  }
}

template <int W, int RI, int VJ>
void sameConv(const SameConvSpec& s, int threads) {
  const size_t n = s.n, h = s.h, w = s.w, kh = s.kh, kw = s.kw, cin = s.cin, cout = s.cout;
  const size_t ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const size_t hp = h + 2 * ph, wp = w + 2 * pw, rowStep = wp * cin;
  const size_t sh = s.strideH, sw = s.strideW, pixStep = sw * cin;
  const size_t oh = (hp - kh) / sh + 1, ow = (wp - kw) / sw + 1;
  constexpr size_t kChunk = static_cast<size_t>(W) * VJ;
  // the weights chunk by chunk (kh x kw x cin x kChunk each, contiguous): a tile reads its chunk's
  // rows one after the other, not kChunk floats at every cout (a stride of 256 bytes at cout =
  // 64 falls on a quarter of L1's sets, and the chunk's rows no longer fit; 64 -> 64 at 8x8 ran
  // at 80% of 64 -> 16)
  const float* wt = s.wt;
  if (cout > kChunk) {
    thread_local Scratch packScratch;
    const size_t rowsW = kh * kw * cin;
    float* wp = packScratch.get(rowsW * cout);
    for (size_t c0 = 0; c0 < cout; c0 += kChunk)
      for (size_t r = 0; r < rowsW; ++r)
        std::memcpy(wp + c0 * rowsW + r * kChunk, s.wt + r * cout + c0, kChunk * sizeof(float));
    wt = wp;
  }
  parallelRun(n * oh, threads, [&](size_t task) {
    const size_t img = task / oh, y = task % oh;
    // output row y, tap (ky, kx) reads padded row y * sh + (kh - 1 - ky): the kh padded rows from
    // y * sh on, with their zero margins, copied into the calling thread's buffer (a few KiB that
    // stay in L1; a padded copy of the whole input went out to memory and back: 7% of a stride-1
    // 16-channel forward, 30% of a stride-2 one)
    thread_local Scratch rowsScratch;
    float* irow = rowsScratch.get(kh * rowStep);
    for (size_t r = 0; r < kh; ++r) {
      float* row = irow + r * rowStep;
      const size_t py = y * sh + r;  // padded row; image row py - ph
      if (py < ph || py >= ph + h) {
        std::memset(row, 0, rowStep * sizeof(float));
        continue;
      }
      std::memset(row, 0, pw * cin * sizeof(float));
      std::memcpy(row + pw * cin, s.in + (img * h + (py - ph)) * w * cin, w * cin * sizeof(float));
      std::memset(row + (pw + w) * cin, 0, pw * cin * sizeof(float));
    }
    float* orow = s.out + (img * oh + y) * ow * cout;
    for (size_t c0 = 0; c0 < cout; c0 += kChunk) {
      size_t x = 0;
      for (; x + RI <= ow; x += RI)
        tileAt<W, RI, VJ>(irow + x * pixStep, rowStep, cin, pixStep, kh, kw, wt + c0 * kh * kw * cin, cout,
                          orow + x * cout + c0, s.assign);
      if (x < ow)
        tailTile<W, RI, VJ>(ow - x, irow + x * pixStep, rowStep, cin, pixStep, kh, kw, wt + c0 * kh * kw * cin,
                            cout, orow + x * cout + c0, s.assign);
    }
  });
}

// The ISA's entry: 4, 2 or 1 vectors of output channels per tile (as they allow), with RI4, RI2
// or RI1 pixels per tile: sized so that the accumulators, the weight vectors, the broadcast input
// and a product fit the ISA's vector registers (16 accumulators with 32 registers; 12 with
// AVX2's 16, and no 4-vector tile there: a spilled accumulator is a store and a reload on its
// dependency chain). RI4 = 0: no 4-vector tile.
template <int W, int RI4 = 4, int RI2 = 8, int RI1 = 16>
bool sameConvDispatch(const SameConvSpec& s, int threads) {
  if (s.kh % 2 == 0 || s.kw % 2 == 0 || s.strideH == 0 || s.strideW == 0) return false;
  if (RI4 > 0 && s.cout % (4 * W) == 0) sameConv<W, (RI4 > 0 ? RI4 : 1), 4>(s, threads);
  else if (s.cout % (2 * W) == 0) sameConv<W, RI2, 2>(s, threads);
  else if (s.cout % W == 0) sameConv<W, RI1, 1>(s, threads);
  else return false;
  return true;
}

}  // namespace
}  // namespace ftrain
}  // namespace anyprec
