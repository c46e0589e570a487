// anyprec training kernels, the convolution hot path: see conv_train.h.
#include "ftrain/conv_train.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/threadpool.h"
#include "conv/conv.h"
#include "fgemm/fgemm.h"
#include "ftrain/ftrain.h"
#include "ftrain/sameconv.h"
#include "ftrain/common.h"
#include "ftrain/wgrad.h"

namespace anyprec {
namespace ftrain {

float* Scratch::get(size_t n) {
  if (n > size) {
    data.reset(new float[n]);
    size = n;
  }
  return data.get();
}

namespace {

// The lowered input of the calling thread's current layer (forward: the GEMM's A; backward: the
// lowering for the weight gradient, then the input-gradient columns). Reused across layers and
// steps: the first layer's size is allocated once and stays.
Scratch& loweringScratch() {
  thread_local Scratch s;
  return s;
}

// A 1x1, stride-1, unpadded convolution's lowering is its input itself.
bool loweringIsInput(const ConvShape& s) {
  return s.kh == 1 && s.kw == 1 && s.strideH == 1 && s.strideW == 1 && s.padH == 0 && s.padW == 0;
}

const float* lowered(const float* x, const ConvShape& s, int threads) {
  if (loweringIsInput(s)) return x;
  float* cols = loweringScratch().get(s.rows() * s.k());
  im2colFloat(x, s, cols, threads);
  return cols;
}

}  // namespace

WgradFn wgradFor(const char* isa) {
  const std::string name = isa != nullptr ? isa : "";
#if defined(__x86_64__) || defined(_M_X64)
  if (name == "avx512") return wgradAvx512;
  if (name == "avx2") return wgradAvx2;
#endif
#if defined(__aarch64__)
  if (name == "neon") return wgradNeon;
#endif
  return wgradScalar;
}

WgradConvFn wgradConvFor(const char* isa) {
  const std::string name = isa != nullptr ? isa : "";
#if defined(__x86_64__) || defined(_M_X64)
  if (name == "avx512") return wgradConvAvx512;
  if (name == "avx2") return wgradConvAvx2;
#endif
#if defined(__aarch64__)
  if (name == "neon") return wgradConvNeon;
#endif
  return wgradConvScalar;
}

SameConvFn sameConvFor(const char* isa) {
  const std::string name = isa != nullptr ? isa : "";
#if defined(__x86_64__) || defined(_M_X64)
  if (name == "avx512") return sameConvAvx512;
  if (name == "avx2") return sameConvAvx2;
#endif
#if defined(__aarch64__)
  if (name == "neon") return sameConvNeon;
#endif
  return sameConvScalar;
}

namespace {
// Dilation 1, an odd kernel larger than 1x1 and padding (k - 1) / 2: sameconv.h's shapes (any
// stride for the forward, stride 1 for the input gradient).
bool isSameConv(const ConvShape& s) {
  return s.dilH == 1 && s.dilW == 1 && s.kh % 2 == 1 && s.kw % 2 == 1 && s.kh * s.kw > 1 &&
         s.padH == (s.kh - 1) / 2 && s.padW == (s.kw - 1) / 2;
}
bool isStride1(const ConvShape& s) { return s.strideH == 1 && s.strideW == 1; }

// The convolution's weights (wCol, o x [tap][c]) as the direct kernel's [tap][in][out] matrix:
// for the forward (in = c, out = o) with the taps flipped, for the input gradient (in = o,
// out = c) as they are. In the calling thread's scratch.
const float* sameConvWeights(const float* wCol, const ConvShape& s, size_t o, bool forward) {
  thread_local Scratch scratch;
  const size_t c = s.c, k = s.k(), taps = s.kh * s.kw;
  float* wt = scratch.get(taps * c * o);
  for (size_t oc = 0; oc < o; ++oc)
    for (size_t t = 0; t < taps; ++t) {
      const float* src = wCol + oc * k + t * c;
      if (forward) {
        float* dst = wt + (taps - 1 - t) * c * o + oc;
        for (size_t ch = 0; ch < c; ++ch) dst[ch * o] = src[ch];
      } else {
        std::memcpy(wt + (t * o + oc) * c, src, c * sizeof(float));
      }
    }
  return wt;
}
}  // namespace

void convForward(const FloatKernelTable& isa, const float* x, const ConvShape& s, const float* wCol, size_t o,
                 const float* bias, float* y, int threads) {
  if (isSameConv(s)) {
    // y = bias, then += the direct convolution, where the output channels fit the ISA; without a
    // bias it writes y as if y were zero-filled (no filling pass)
    const size_t rows = s.rows();
    if (bias != nullptr)
      for (size_t r = 0; r < rows; ++r) std::memcpy(y + r * o, bias, o * sizeof(float));
    SameConvSpec spec{s.n, s.h, s.w, s.kh, s.kw, s.c, o, x, sameConvWeights(wCol, s, o, true), y,
                      s.strideH, s.strideW};
    spec.assign = bias == nullptr;
    if (sameConvFor(isa.name)(spec, threads)) return;
  }
  FloatGemmSpec spec{};
  spec.a = lowered(x, s, threads);
  spec.m = s.rows();
  spec.k = s.k();
  spec.b = wCol;
  spec.n = o;
  spec.bias = bias;
  floatGemm(isa, spec, y, threads);
}

void convBackward(const FloatKernelTable& isa, const float* x, const ConvShape& s, const float* wCol, size_t o,
                  const float* gy, float* gwCol, float* gx, int threads, bool gxAssign) {
  const size_t rows = s.rows(), k = s.k();
  // gwCol (o x k) += gy^T . cols, in the reference order (wgrad.h): the lowering read in place
  // from x where the channels fit the ISA's vectors, else lowered into the scratch first.
  if (loweringIsInput(s) || !wgradConvFor(isa.name)(x, s, o, gy, gwCol, true, threads))
    wgradFor(isa.name)(o, k, rows, gy, lowered(x, s, threads), gwCol, true, threads);
  if (gx == nullptr) return;
  // gx += the input gradient: directly for a stride-1 "same" convolution (sameconv.h), else as
  // col2im(gcols) with gcols (rows x k) = gy . wCol, floatGemm's A . B^T with B = wCol^T (k x o).
  if (isSameConv(s) && isStride1(s)) {
    SameConvSpec spec{s.n, s.h, s.w, s.kh, s.kw, o, s.c, gy, sameConvWeights(wCol, s, o, false), gx};
    spec.assign = gxAssign;
    if (sameConvFor(isa.name)(spec, threads)) return;
  }
  thread_local Scratch wTScratch;
  float* wT = wTScratch.get(k * o);
  for (size_t j = 0; j < o; ++j)
    for (size_t i = 0; i < k; ++i) wT[i * o + j] = wCol[j * k + i];
  float* gcols = loweringScratch().get(rows * k);  // any lowering above is no longer needed
  FloatGemmSpec spec{};
  spec.a = gy;
  spec.m = rows;
  spec.k = o;
  spec.b = wT;
  spec.n = k;
  floatGemm(isa, spec, gcols, threads);
  if (!loweringIsInput(s)) {
    col2im(gcols, s, gx, !gxAssign, threads);  // (not accumulating: it zero-fills, then adds)
    return;
  }
  const size_t total = rows * k, span = size_t{1} << 14;
  parallelRun((total + span - 1) / span, threads, [&](size_t t) {
    const size_t i1 = std::min(total, (t + 1) * span);
    if (gxAssign)
      for (size_t i = t * span; i < i1; ++i) gx[i] = 0.0f + gcols[i];
    else
      for (size_t i = t * span; i < i1; ++i) gx[i] += gcols[i];
  });
}

}  // namespace ftrain
}  // namespace anyprec
