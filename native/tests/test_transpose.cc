// The float layout change (EpilogueTable::transposeClamp, eltwise transposeFloats): every table
// moves rows x cols to cols x rows bit for bit, clamping as floatAffine clamps without scale and
// shift (NaN and -0 kept, +-inf bounds a plain copy), at shapes with and without whole 8 x 8
// tiles, walked along either side, for 1, 3 and 17 images at 1 and 3 threads; nchwToNhwc is the
// unclamped case.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "eltwise/eltwise.h"
#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

float clampRef(float y, float lo, float hi) {
  y = y < lo ? lo : y;
  return y > hi ? hi : y;
}

std::vector<float> values(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-2.0f, 3.0f);
  std::vector<float> x(count);
  const float special[] = {-0.0f, 0.0f, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::infinity(), 1.0f, 6.0f, -std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < count; ++i) x[i] = rng() % 7 == 0 ? special[rng() % 8] : uni(rng);
  return x;
}

std::vector<float> reference(const std::vector<float>& x, size_t n, size_t rows, size_t cols, float lo, float hi) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < n; ++i)
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c)
        out[i * rows * cols + c * rows + r] = clampRef(x[i * rows * cols + r * cols + c], lo, hi);
  return out;
}

}  // namespace

int main() {
  const float inf = std::numeric_limits<float>::infinity();
  const struct {
    float lo, hi;
  } bounds[] = {{-inf, inf}, {0.0f, 1.0f}, {0.0f, inf}, {-1.0f, 6.0f}};
  const struct {
    size_t rows, cols;
  } shapes[] = {{1, 1}, {1, 13}, {13, 1}, {8, 8}, {7, 9}, {9, 7}, {16, 24}, {24, 16}, {3, 1024}, {64, 1024}, {1024, 64},
                {17, 33}, {33, 17}, {64, 49}, {49, 64}, {15, 1000}, {1000, 15}};
  const std::vector<const EpilogueTable*> tables = epilogueTablesToCheck();
  for (const auto& sh : shapes) {
    const std::vector<float> x = values(sh.rows * sh.cols, static_cast<unsigned>(sh.rows * 131 + sh.cols));
    for (const auto& b : bounds) {
      const std::vector<float> want = reference(x, 1, sh.rows, sh.cols, b.lo, b.hi);
      for (const EpilogueTable* t : tables) {
        std::vector<float> got(x.size() + 1, 12345.0f);
        t->transposeClamp(x.data(), sh.rows, sh.cols, b.lo, b.hi, got.data());
        EXPECT(std::memcmp(got.data(), want.data(), want.size() * 4) == 0, "%s: %zu x %zu clamped to [%g, %g] differs",
               t->name, sh.rows, sh.cols, b.lo, b.hi);
        EXPECT(got[x.size()] == 12345.0f, "%s: %zu x %zu wrote past its output", t->name, sh.rows, sh.cols);
      }
    }
  }
  // The whole-tensor entry: images side by side, split over threads, on every platform.
  for (const Platform* p : availablePlatforms()) {
    for (size_t n : {1, 3, 17}) {
      for (const auto& sh : {shapes[4], shapes[8], shapes[13], shapes[14]}) {
        const std::vector<float> x = values(n * sh.rows * sh.cols, static_cast<unsigned>(n));
        const std::vector<float> want = reference(x, n, sh.rows, sh.cols, 0.0f, 1.0f);
        for (int threads : {1, 3}) {
          std::vector<float> got(x.size());
          transposeFloats(*p, x.data(), n, sh.rows, sh.cols, 0.0f, 1.0f, got.data(), threads);
          EXPECT(std::memcmp(got.data(), want.data(), want.size() * 4) == 0, "%s: %zu images of %zu x %zu at %d threads differ",
                 p->name, n, sh.rows, sh.cols, threads);
        }
        // nchwToNhwc (c = rows, h * w = cols): the unclamped transpose, NaN and -0 kept.
        const std::vector<float> plain = reference(x, n, sh.rows, sh.cols, -inf, inf);
        std::vector<float> c(x.size());
        nchwToNhwc(*p, x.data(), n, sh.rows, sh.cols, 1, c.data(), 3);
        EXPECT(std::memcmp(plain.data(), c.data(), c.size() * 4) == 0, "%s: nchwToNhwc differs from the plain transpose", p->name);
      }
    }
  }
  std::printf("transpose: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
