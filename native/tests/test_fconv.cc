// Native tests of the float32 convolution (fconv/fconv.h): every ISA this CPU runs (and the
// scalar reference) on odd geometries (1..64 input channels, 1..64 output channels, 1x1..7x7
// kernels, strides 1/2, padding 0/1/3, dilation, batch 1/3/17, K across several K blocks):
//  - the sums within the fgemm bound of a float64 direct convolution;
//  - bit-identical to im2colFloat + floatGemm (pre-packed weights) + the eltwise pass (channel
//    affine and clamp, or the activation quantiser) of the same ISA: the path it replaces;
//  - the same bits on 1 and 3 threads, and each sample of a batch gets its batch-1 bits;
//  - a fused residual add and second output (float or codes) give the separate passes' bits.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

struct Geometry {
  size_t n, h, w, c, o, kh, kw, stride, pad, dil;
};

struct Layer {
  Geometry g;
  ConvShape s;
  std::vector<float> x, weights, packed, bias, scale, shift;
};

Layer makeLayer(std::mt19937_64& rng, const Geometry& g) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Layer l{g, ConvShape{g.n, g.h, g.w, g.c, g.kh, g.kw, g.stride, g.stride, g.pad, g.pad, g.dil, g.dil}, {}, {}, {}, {}, {}, {}};
  const size_t k = l.s.k();
  l.x.resize(l.s.inputCount());
  for (auto& v : l.x) v = u(rng);
  l.weights.resize(g.o * k);
  for (auto& v : l.weights) v = u(rng) / std::sqrt(float(k));
  l.packed.assign(floatPackedSize(g.o, k), std::numeric_limits<float>::quiet_NaN());
  packFloatPanels(l.weights.data(), g.o, k, l.packed.data(), 0, floatPaddedCols(g.o) / kFloatPanel);
  l.bias.resize(g.o);
  l.scale.resize(g.o);
  l.shift.resize(g.o);
  for (size_t j = 0; j < g.o; ++j) {
    l.bias[j] = 0.5f * u(rng);
    l.scale[j] = 0.5f + 0.5f * u(rng);
    l.shift[j] = 0.5f + 0.5f * u(rng);
  }
  return l;
}

// Float64 direct convolution (+ bias) and sum |x * w| + |bias| per output (for the bound).
void reference(const Layer& l, bool withBias, std::vector<double>* ref, std::vector<double>* mag) {
  const ConvShape& s = l.s;
  const size_t oh = s.outH(), ow = s.outW(), o = l.g.o, k = s.k();
  ref->assign(s.rows() * o, 0.0);
  mag->assign(s.rows() * o, 0.0);
  for (size_t img = 0; img < s.n; ++img)
    for (size_t oy = 0; oy < oh; ++oy)
      for (size_t ox = 0; ox < ow; ++ox) {
        const size_t row = (img * oh + oy) * ow + ox;
        for (size_t j = 0; j < o; ++j) {
          double sum = withBias ? l.bias[j] : 0.0, g = withBias ? std::fabs(l.bias[j]) : 0.0;
          for (size_t ky = 0; ky < s.kh; ++ky)
            for (size_t kx = 0; kx < s.kw; ++kx) {
              const long iy = long(oy * s.strideH + ky * s.dilH) - long(s.padH);
              const long ix = long(ox * s.strideW + kx * s.dilW) - long(s.padW);
              if (iy < 0 || ix < 0 || iy >= long(s.h) || ix >= long(s.w)) continue;
              for (size_t ch = 0; ch < s.c; ++ch) {
                const double p = double(l.x[((img * s.h + size_t(iy)) * s.w + size_t(ix)) * s.c + ch]) *
                                 double(l.weights[j * k + (ky * s.kw + kx) * s.c + ch]);
                sum += p;
                g += std::fabs(p);
              }
            }
          (*ref)[row * o + j] = sum;
          (*mag)[row * o + j] = g;
        }
      }
}

double tolerance(size_t k, double mag) {
  return 2.0 * double(k + 2) * std::ldexp(1.0, -24) * mag + std::numeric_limits<float>::min();
}

enum class Epi { None, Affine, Codes };

FloatConvSpec specOf(const Layer& l, bool withBias, Epi epi, int bits) {
  FloatConvSpec s;
  s.x = l.x.data();
  s.shape = l.s;
  s.wPacked = l.packed.data();
  s.outChannels = l.g.o;
  s.bias = withBias ? l.bias.data() : nullptr;
  if (epi != Epi::None) {
    s.scale = l.scale.data();
    s.shift = l.shift.data();
  }
  if (epi == Epi::Affine) s.lo = 0.0f;
  if (epi == Epi::Codes) s.codeBits = bits;
  return s;
}

std::vector<float> convFloats(const Platform& isa, const FloatConvSpec& s, int threads) {
  std::vector<float> out(s.shape.rows() * s.outChannels, std::numeric_limits<float>::quiet_NaN());
  floatConv(isa, s, out.data(), threads);
  return out;
}

std::vector<uint8_t> convCodes(const Platform& isa, const FloatConvSpec& s, int threads) {
  std::vector<uint8_t> out(s.shape.rows() * s.outChannels, 0xEE);
  floatConv(isa, s, out.data(), threads);
  return out;
}

// The path fconv replaces: im2col, the GEMM on pre-packed weights, the eltwise pass.
std::vector<float> loweredSums(const Platform& isa, const Layer& l, bool withBias) {
  std::vector<float> cols(im2colFloatCount(l.s));
  im2colFloat(l.x.data(), l.s, cols.data(), 1);
  std::vector<float> c(l.s.rows() * l.g.o);
  FloatGemmSpec g{cols.data(), l.s.rows(), l.s.k(), nullptr, l.packed.data(), l.g.o, withBias ? l.bias.data() : nullptr};
  floatGemm(*isa.fgemm, g, c.data(), 1);
  return c;
}

}  // namespace

int main() {
  std::mt19937_64 rng(77);
  // n, h, w, c, o, kh, kw, stride, pad, dilation
  const std::vector<Geometry> geometries = {
      {1, 32, 32, 3, 16, 3, 3, 1, 1, 1},   // ResNet-20's stem
      {3, 16, 16, 16, 32, 1, 1, 2, 0, 1},  // its 1x1 stride-2 shortcuts
      {2, 8, 8, 32, 64, 1, 1, 2, 0, 1},
      {2, 1, 1, 64, 10, 1, 1, 1, 0, 1},    // its FC as a 1x1 conv of a 1x1 image
      {1, 7, 9, 1, 1, 3, 3, 1, 1, 1},
      {3, 9, 7, 3, 10, 5, 5, 2, 3, 1},
      {17, 5, 6, 5, 17, 3, 3, 1, 0, 1},
      {1, 11, 10, 3, 33, 7, 7, 2, 3, 1},
      {3, 6, 7, 5, 16, 1, 1, 1, 0, 1},
      {1, 12, 9, 1, 17, 7, 7, 1, 3, 1},
      {2, 10, 10, 5, 33, 3, 3, 2, 1, 2},   // dilation 2
      {1, 9, 9, 64, 17, 3, 3, 1, 1, 1},    // K = 576: three K blocks, a block edge inside a tap
      {2, 6, 5, 29, 40, 3, 3, 1, 1, 1},    // K = 261: a K block edge mid-channel
      {1, 20, 20, 3, 1, 5, 5, 1, 0, 1},
      // Strided tiles of every row count (output rows 1..13 wide cut into balanced tiles) and
      // width (1..4 panels, partial ones): ResNet-20's 64 -> 64 8x8 and 16 -> 32 3x3/2 shapes.
      {2, 8, 8, 64, 64, 3, 3, 1, 1, 1},
      {3, 13, 11, 7, 48, 3, 3, 1, 1, 1},
      {2, 9, 26, 16, 32, 3, 3, 2, 1, 1},
      {1, 5, 4, 9, 61, 3, 3, 1, 1, 1},
      {2, 7, 3, 4, 23, 3, 3, 1, 1, 1},
      {1, 6, 2, 5, 9, 1, 1, 1, 0, 1},
      {2, 6, 7, 3, 80, 3, 3, 1, 1, 1},   // two column blocks of the strided path
  };
  std::vector<const Platform*> isas = availablePlatforms();
  if (std::find(isas.begin(), isas.end(), &scalarPlatform()) == isas.end()) isas.push_back(&scalarPlatform());
  std::printf("ISAs:");
  for (const Platform* p : isas) std::printf(" %s", p->name);
  std::printf("\n");

  for (const Geometry& g : geometries) {
    const Layer l = makeLayer(rng, g);
    EXPECT(checkConvShape(l.s).empty(), "geometry rejected: %s", checkConvShape(l.s).c_str());
    const size_t k = l.s.k(), count = l.s.rows() * g.o;
    for (bool withBias : {false, true}) {
      std::vector<double> ref, mag;
      reference(l, withBias, &ref, &mag);
      for (const Platform* isa : isas) {
        const std::vector<float> sums = convFloats(*isa, specOf(l, withBias, Epi::None, 0), 1 + int(g.n % 3));
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < count; ++i)
          if (!(std::fabs(double(sums[i]) - ref[i]) <= tolerance(k, mag[i])) && bad++ == 0) first = i;
        EXPECT(bad == 0, "[%s] n=%zu %zux%zu c=%zu o=%zu k=%zux%zu s=%zu p=%zu: %zu outside the bound, out[%zu] = %.9g ref %.9g",
               isa->name, g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.stride, g.pad, bad, first, bad ? sums[first] : 0.0,
               bad ? ref[first] : 0.0);
        // The lowered path's bits, sums and each epilogue.
        const std::vector<float> lowered = loweredSums(*isa, l, withBias);
        EXPECT(std::memcmp(sums.data(), lowered.data(), count * sizeof(float)) == 0,
               "[%s] c=%zu o=%zu k=%zux%zu: sums differ from im2col + floatGemm", isa->name, g.c, g.o, g.kh, g.kw);
        std::vector<float> affine(count);
        channelAffine(*isa, lowered.data(), count, g.o, l.scale.data(), l.shift.data(), 0.0f, __builtin_inff(),
                      affine.data(), 1);
        const std::vector<float> fused = convFloats(*isa, specOf(l, withBias, Epi::Affine, 0), 2);
        EXPECT(std::memcmp(fused.data(), affine.data(), count * sizeof(float)) == 0,
               "[%s] c=%zu o=%zu: fused affine differs from channelAffine", isa->name, g.c, g.o);
        // A residual block's sum and the next block's input (batch norm + ReLU, or its codes) in
        // the epilogue: the bits of channelAffine, addFloats and channelAffine /
        // quantizeActivations run one after another.
        {
          std::vector<float> residual(count), sum(count), next(count);
          std::uniform_real_distribution<float> u(-1.0f, 1.0f);
          for (auto& v : residual) v = u(rng);
          addFloats(affine.data(), residual.data(), count, sum.data(), 1);
          const float* nextScale = l.shift.data();  // any per-channel values, distinct from scale
          const float* nextShift = l.scale.data();
          channelAffine(*isa, sum.data(), count, g.o, nextScale, nextShift, 0.0f, __builtin_inff(), next.data(), 1);
          FloatConvSpec s = specOf(l, withBias, Epi::Affine, 0);
          s.residual = residual.data();
          std::vector<float> second(count, std::numeric_limits<float>::quiet_NaN());
          s.next = second.data();
          s.nextScale = nextScale;
          s.nextShift = nextShift;
          s.nextLo = 0.0f;
          const std::vector<float> both = convFloats(*isa, s, 2);
          EXPECT(std::memcmp(both.data(), sum.data(), count * sizeof(float)) == 0,
                 "[%s] c=%zu o=%zu: fused residual add differs from addFloats", isa->name, g.c, g.o);
          EXPECT(std::memcmp(second.data(), next.data(), count * sizeof(float)) == 0,
                 "[%s] c=%zu o=%zu: fused second output differs from channelAffine of the sum", isa->name, g.c, g.o);
          std::vector<uint8_t> nextCodes(count), secondCodes(count, 0xEE);
          quantizeActivations(*isa, sum.data(), count, g.o, nextScale, nextShift, 3, nextCodes.data(), 1);
          s.next = secondCodes.data();
          s.nextBits = 3;
          s.nextLo = -__builtin_inff();
          const std::vector<float> again = convFloats(*isa, s, 3);
          EXPECT(std::memcmp(again.data(), sum.data(), count * sizeof(float)) == 0 && secondCodes == nextCodes,
                 "[%s] c=%zu o=%zu: fused second codes differ from quantizeActivations of the sum", isa->name, g.c, g.o);
        }
        for (int bits : {1, 2, 8}) {
          std::vector<uint8_t> q(count);
          quantizeActivations(*isa, lowered.data(), count, g.o, l.scale.data(), l.shift.data(), bits, q.data(), 1);
          const std::vector<uint8_t> codes = convCodes(*isa, specOf(l, withBias, Epi::Codes, bits), 3);
          EXPECT(codes == q, "[%s] c=%zu o=%zu bits=%d: fused quantiser differs from quantizeActivations", isa->name,
                 g.c, g.o, bits);
        }
        // Threads and batch do not change a bit: 1 vs 3 threads, and each sample alone.
        const std::vector<float> three = convFloats(*isa, specOf(l, withBias, Epi::None, 0), 3);
        EXPECT(std::memcmp(sums.data(), three.data(), count * sizeof(float)) == 0, "[%s] 1 and 3 threads differ",
               isa->name);
        if (g.n > 1) {
          const size_t perIn = g.h * g.w * g.c, perOut = count / g.n;
          size_t differ = 0;
          for (size_t img = 0; img < g.n; ++img) {
            FloatConvSpec one = specOf(l, withBias, Epi::None, 0);
            one.x = l.x.data() + img * perIn;
            one.shape.n = 1;
            const std::vector<float> alone = convFloats(*isa, one, 1);
            differ += std::memcmp(alone.data(), sums.data() + img * perOut, perOut * sizeof(float)) != 0;
          }
          EXPECT(differ == 0, "[%s] c=%zu o=%zu n=%zu: %zu samples differ from their batch-1 result", isa->name, g.c,
                 g.o, g.n, differ);
        }
      }
    }
  }
  // Spec checks.
  {
    FloatConvSpec s;
    EXPECT(!checkFloatConvSpec(s).empty(), "zero output channels accepted");
    s.outChannels = 4;
    EXPECT(checkFloatConvSpec(s).empty(), "a plain spec rejected");
    s.codeBits = 9;
    EXPECT(!checkFloatConvSpec(s).empty(), "9 code bits accepted");
    s.codeBits = 0;
    s.lo = 1.0f;
    s.hi = 0.0f;
    EXPECT(!checkFloatConvSpec(s).empty(), "lo > hi accepted");
    s.lo = 0.0f;
    float residual = 0.0f;
    s.residual = &residual;
    EXPECT(checkFloatConvSpec(s).empty(), "a residual with float output rejected");
    s.codeBits = 2;
    EXPECT(!checkFloatConvSpec(s).empty(), "a residual with codes output accepted");
    s.codeBits = 0;
    s.nextBits = 9;
    EXPECT(!checkFloatConvSpec(s).empty(), "9 code bits of the second output accepted");
    s.nextBits = 0;
    s.nextLo = 2.0f;
    s.nextHi = 1.0f;
    EXPECT(!checkFloatConvSpec(s).empty(), "second output lo > hi accepted");
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
