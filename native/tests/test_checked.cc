// Overflow-checked sizes (common/checked.h) and the geometry guards that use them: a hostile conv
// geometry (kernel and stride 2^31, padding 2^30, the case a crafted model file reached) must be
// refused by the shape check or by the size helpers, never turned into a wrapped size.
#include <cstdio>
#include <limits>
#include <string>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

constexpr size_t kMax = std::numeric_limits<size_t>::max();

template <typename F>
bool throwsSizeError(F f) {
  try {
    f();
  } catch (const SizeError&) {
    return true;
  }
  return false;
}

void checkHelpers() {
  size_t r = 7;
  EXPECT(checkedMul(0, kMax, &r) && r == 0, "0 * max = 0");
  EXPECT(checkedMul(size_t{1} << 32, size_t{1} << 31, &r) && r == size_t{1} << 63, "2^32 * 2^31");
  r = 7;
  EXPECT(!checkedMul(size_t{1} << 32, size_t{1} << 32, &r) && r == 7, "2^32 * 2^32 overflows, result untouched");
  EXPECT(!checkedMul(kMax / 3 + 1, 3, &r), "(max/3 + 1) * 3 overflows");
  EXPECT(checkedMul(kMax / 3, 3, &r) && r == kMax / 3 * 3, "max/3 * 3 fits");
  EXPECT(checkedAdd(kMax - 1, 1, &r) && r == kMax, "max-1 + 1 fits");
  EXPECT(!checkedAdd(kMax, 1, &r), "max + 1 overflows");
  EXPECT(mulOrThrow({3, 5, 7}, "x") == 105, "3*5*7");
  EXPECT(mulOrThrow({}, "x") == 1, "empty product");
  EXPECT(throwsSizeError([] { mulOrThrow({size_t{1} << 31, size_t{1} << 31, size_t{1} << 31}, "x"); }),
         "2^93 throws SizeError");
  EXPECT(throwsSizeError([] { addOrThrow(kMax, 2, "x"); }), "max + 2 throws SizeError");
  EXPECT(fitsBuffer(kMaxBufferBytes / 4, 4), "exactly the bound fits");
  EXPECT(!fitsBuffer(kMaxBufferBytes / 4 + 1, 4), "one element past the bound does not");
  EXPECT(!fitsBuffer(kMax, 2), "an overflowing byte count does not fit");
  EXPECT(bufferOrThrow(1000, 8, "x") == 1000, "a small buffer passes through");
  EXPECT(throwsSizeError([] { bufferOrThrow(kMaxBufferBytes, 2, "x"); }), "8 GiB throws SizeError");
  try {
    bufferOrThrow(kMaxBufferBytes, 2, "lowered matrix");
  } catch (const SizeError& e) {
    EXPECT(std::string(e.what()).find("lowered matrix") != std::string::npos, "message names the buffer: %s", e.what());
  }
}

ConvShape conv(size_t n, size_t h, size_t w, size_t c, size_t k, size_t stride, size_t pad) {
  return ConvShape{n, h, w, c, k, k, stride, stride, pad, pad, 1, 1};
}

void checkConvGuard() {
  // An ordinary 3x3 convolution: valid, and its sizes are the plain products.
  const ConvShape ok = conv(2, 9, 7, 5, 3, 2, 1);
  EXPECT(checkConvShape(ok).empty(), "valid conv: %s", checkConvShape(ok).c_str());
  EXPECT(ok.outH() == 5 && ok.outW() == 4, "conv out %zux%zu", ok.outH(), ok.outW());
  EXPECT(ok.rows() == 2 * 5 * 4 && ok.k() == 3 * 3 * 5 && ok.inputCount() == 2 * 9 * 7 * 5, "conv sizes");
  EXPECT(im2colFloatCount(ok) == 40 * 45, "im2col count");
  EXPECT(packedWordsChecked(ok.rows(), ok.k(), 3) == packedWords(ok.rows(), ok.k(), 3), "packed words agree");

  // The crafted geometry: kernel = stride = 2^31, padding = 2^30. With c = 1 the shape is
  // representable (one output position, K = 2^62) but no buffer of it may be allocated.
  const size_t big = size_t{1} << 31, pad = size_t{1} << 30;
  const ConvShape hostile = conv(1, 8, 8, 1, big, big, pad);
  if (checkConvShape(hostile).empty()) {
    EXPECT(throwsSizeError([&] { im2colFloatCount(hostile); }), "im2col of K = 2^62 is refused");
    EXPECT(throwsSizeError([&] { packedWordsChecked(hostile.rows(), hostile.k(), 8); }), "packing K = 2^62 is refused");
  }
  // With more channels K = 2^62 * c overflows size_t: the shape check itself refuses it.
  for (size_t c : {4u, 16u, 2048u}) {
    const std::string why = checkConvShape(conv(1, 8, 8, c, big, big, pad));
    EXPECT(!why.empty(), "kernel 2^31 with c=%zu must be refused", c);
    EXPECT(throwsSizeError([&] { conv(1, 8, 8, c, big, big, pad).k(); }), "k() of c=%zu throws", c);
  }
  // Padding 2^31 - 1 with a small kernel: billions of output positions.
  const ConvShape wide = conv(64, 8, 8, 64, 1, 1, big - 1);
  const std::string whyWide = checkConvShape(wide);
  EXPECT(!whyWide.empty() || throwsSizeError([&] { im2colFloatCount(wide); }), "padding 2^31-1 is refused");
  // Sizes near the top of size_t overflow in the padded extent.
  EXPECT(!checkConvShape(conv(1, kMax - 4, 8, 1, 3, 1, 4)).empty(), "padded height overflow is refused");
  EXPECT(!checkConvShape(ConvShape{1, 8, 8, 1, 3, 3, 1, 1, 0, 0, kMax / 2, 1}).empty(), "dilated span overflow is refused");
  EXPECT(!checkConvShape(conv(size_t{1} << 40, size_t{1} << 20, size_t{1} << 20, 64, 1, 1, 0)).empty(),
         "input size overflow is refused");

  // Pooling: the same guards.
  const PoolShape pool{2, 8, 8, 3, 2, 2, 2, 2, 0, 0};
  EXPECT(checkPoolShape(pool).empty() && pool.outputCount() == 2 * 4 * 4 * 3, "valid pool");
  EXPECT(!checkPoolShape(PoolShape{1, kMax - 1, 8, 1, 3, 3, 1, 1, 1, 1}).empty(), "pool extent overflow is refused");
  EXPECT(!checkPoolShape(PoolShape{size_t{1} << 40, size_t{1} << 20, size_t{1} << 20, 64, 1, 1, 1, 1, 0, 0}).empty(),
         "pool size overflow is refused");

  // The pooling loops step through the taps inside the image only (counted, not timed): a window
  // of 2^30 or 2^31 taps padded by half of it over a 1 x 3 image is 3 taps per output, where the
  // loops once stepped through all of its padding (minutes per call).
  const PoolShape plain{2, 8, 8, 3, 2, 2, 2, 2, 0, 0};  // 2 images x 4 x 4 outputs x 4 taps
  EXPECT(maxPoolSteps(plain) == 2 * 4 * 4 * 4, "pool steps, no padding: %zu", maxPoolSteps(plain));
  const PoolShape padded{1, 4, 4, 1, 3, 3, 1, 1, 1, 1};  // per axis 2 + 3 + 3 + 2 taps inside
  EXPECT(maxPoolSteps(padded) == 10 * 10, "pool steps, padding 1: %zu", maxPoolSteps(padded));
  for (size_t k : {size_t{1} << 30, size_t{1} << 31}) {
    const PoolShape huge{2, 1, 3, 4, 3, k, k, 1, 1, k / 2};  // outputs 1 x 4 per image
    EXPECT(checkPoolShape(huge).empty() && huge.outH() == 1 && huge.outW() == 4, "window of %zu taps is valid", k);
    EXPECT(maxPoolSteps(huge) == 2 * 4 * 3, "pool steps, window of %zu taps: %zu", k, maxPoolSteps(huge));
  }
}

}  // namespace

int main() {
  checkHelpers();
  checkConvGuard();
  std::printf("checked sizes: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
