// anyprec training kernels, a "same"-padded convolution computed directly, summed into its output:
//   out[img][y][x][j] += sum over taps (ky, kx) and inputs i of
//                        in[img][y * sh + p - ky][x * sw + p - kx][i] * wt[ky][kx][i][j]
// (in zero outside the image), for dilation 1, an odd kernel and padding p = (k - 1) / 2 on both
// axes; out is n x ((h - 1) / sh + 1) x ((w - 1) / sw + 1) x cout: at stride 1 the size of in (the
// 3x3 convolutions of a ResNet block), at stride 2 half of it (a block's downsampling 3x3; used
// for the forward only). Written with the taps mirrored it is the
// input gradient of such a convolution (in = gy, wt[tap][oc][c] = w[oc][tap][c], out = gx); with the
// weights' taps flipped it is its forward (in = x, wt[tap][c][oc] = w[oc][flip(tap)][c], out = y).
// No lowered matrix is written: the kh rows of `in` that an output row reads, copied with their
// zero margin, are read by register tiles of RI pixels x VJ vectors of output channels, each summed
// over every tap and input (ky, kx, i increasing) and then added to out once. Float32 products and
// sums, unfused; results do not depend on the thread count (a task owns whole rows of out). One
// instance per ISA file (sameconv_<isa>.cc, body in sameconv_impl.h).
#pragma once
#include <cstddef>

namespace anyprec {
namespace ftrain {

struct SameConvSpec {
  size_t n, h, w;     // images and their size (in and out alike)
  size_t kh, kw;      // odd kernel sizes; the padding is (k - 1) / 2
  size_t cin, cout;   // channels of in and of out
  const float* in;    // n x h x w x cin
  const float* wt;    // kh x kw x cin x cout
  float* out;         // n x oh x ow x cout (h x w at stride 1), added to
  size_t strideH = 1, strideW = 1;
  bool assign = false;  // out's contents unread: the result (bits too) of adding to a zero-filled out
};

// Returns false, doing nothing, when cout does not split into the ISA's vectors (cout % W != 0),
// a kernel size is even or a stride is 0.
using SameConvFn = bool (*)(const SameConvSpec& s, int threads);

bool sameConvScalar(const SameConvSpec& s, int threads);
#if defined(__x86_64__) || defined(_M_X64)
bool sameConvAvx2(const SameConvSpec& s, int threads);
bool sameConvAvx512(const SameConvSpec& s, int threads);
#endif
#if defined(__aarch64__)
bool sameConvNeon(const SameConvSpec& s, int threads);
#endif

// The instance for the float kernel table named `isa` ("avx512", "avx2", "neon"; else scalar).
SameConvFn sameConvFor(const char* isa);

}  // namespace ftrain
}  // namespace anyprec
