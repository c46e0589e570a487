// anyprec training kernels, the weight-gradient GEMM in the reference summation order:
//   C[i][j] (+)= sum over t = 0..K-1 of A[t][i] * B[t][j]     (A stored K x M, B stored K x N)
// every product rounded to float32, then added to the running sum, t increasing (the order of
// ftrain::gemmT with transA): bit-identical to the plain loop on every ISA and thread count.
// Each output block is held in vector registers over the whole of K; one instance per ISA file
// (wgrad_<isa>.cc, body in wgrad_impl.h), the vector width set by the ISA.
#pragma once
#include <cstddef>

namespace anyprec {
struct ConvShape;

namespace ftrain {

using WgradFn = void (*)(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate,
                         int threads);

void wgradScalar(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads);
#if defined(__x86_64__) || defined(_M_X64)
void wgradAvx2(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads);
void wgradAvx512(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads);
#endif
#if defined(__aarch64__)
void wgradNeon(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads);
#endif

// The weight gradient of a convolution without its lowering in memory: gw (o x k, the lowered
// column order [kh][kw][c]) (+)= gy^T . im2col(x), gy rows x o, x NHWC, each output summed in the
// same order as above (t = the output position): bit-identical to the WgradFn on im2col(x). The
// lowering's rows are read in place from x (zeros in the padding). Returns false, doing nothing,
// when the channels do not split into the ISA's vectors (c % W != 0; the caller lowers instead).
using WgradConvFn = bool (*)(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw,
                             bool accumulate, int threads);

bool wgradConvScalar(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                     int threads);
#if defined(__x86_64__) || defined(_M_X64)
bool wgradConvAvx2(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                   int threads);
bool wgradConvAvx512(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                     int threads);
#endif
#if defined(__aarch64__)
bool wgradConvNeon(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                   int threads);
#endif

// The instance for the float kernel table named `isa` ("avx512", "avx2", "neon"; else scalar).
WgradFn wgradFor(const char* isa);
WgradConvFn wgradConvFor(const char* isa);

}  // namespace ftrain
}  // namespace anyprec
