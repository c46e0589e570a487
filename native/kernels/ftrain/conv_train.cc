// anyprec training kernels, the convolution hot path: see conv_train.h.
#include "ftrain/conv_train.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/threadpool.h"
#include "conv/conv.h"
#include "fgemm/fgemm.h"
#include "ftrain/ftrain.h"
#include "ftrain/wgrad.h"

namespace anyprec {
namespace ftrain {

namespace {

// A growable buffer whose contents are not initialised (std::vector would zero every new float).
struct Scratch {
  std::unique_ptr<float[]> data;
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      data.reset(new float[n]);
      size = n;
    }
    return data.get();
  }
};

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

void convForward(const FloatKernelTable& isa, const float* x, const ConvShape& s, const float* wCol, size_t o,
                 const float* bias, float* y, int threads) {
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
                  const float* gy, float* gwCol, float* gx, int threads) {
  const size_t rows = s.rows(), k = s.k();
  const float* cols = lowered(x, s, threads);
  // gwCol (o x k) += gy^T . cols, in the reference order (wgrad.h)
  wgradFor(isa.name)(o, k, rows, gy, cols, gwCol, true, threads);
  if (gx == nullptr) return;
  // gcols (rows x k) = gy . wCol, as floatGemm's A . B^T with B = wCol^T (k x o).
  std::vector<float> wT(k * o);
  for (size_t j = 0; j < o; ++j)
    for (size_t i = 0; i < k; ++i) wT[i * o + j] = wCol[j * k + i];
  float* gcols = loweringScratch().get(rows * k);  // the lowering above is no longer needed
  FloatGemmSpec spec{};
  spec.a = gy;
  spec.m = rows;
  spec.k = o;
  spec.b = wT.data();
  spec.n = k;
  floatGemm(isa, spec, gcols, threads);
  if (!loweringIsInput(s)) {
    col2im(gcols, s, gx, true, threads);
    return;
  }
  const size_t total = rows * k, span = size_t{1} << 14;
  parallelRun((total + span - 1) / span, threads, [&](size_t t) {
    const size_t i1 = std::min(total, (t + 1) * span);
    for (size_t i = t * span; i < i1; ++i) gx[i] += gcols[i];
  });
}

}  // namespace ftrain
}  // namespace anyprec
