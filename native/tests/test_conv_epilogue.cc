// Conv lowering: packConvInput equals pack() of a plainly built im2col matrix, word for word.
// Epilogues: float and code outputs equal the same float32 steps applied to the int32 GEMM.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

static uint8_t quantRef(float y, int bits) {
  const float c = std::fmin(std::fmax(y, 0.0f), 1.0f);
  const float v = c * static_cast<float>((1 << bits) - 1);
  return static_cast<uint8_t>(std::nearbyint(v));
}

int main() {
  std::mt19937_64 rng(7);
  const ConvShape shapes[] = {
      {2, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1},   {1, 8, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1},
      {3, 5, 6, 70, 1, 1, 2, 2, 0, 0, 1, 1},  {1, 11, 10, 5, 3, 2, 1, 2, 2, 0, 2, 1},
      {1, 4, 4, 1, 4, 4, 1, 1, 0, 0, 1, 1},   {2, 6, 6, 9, 5, 5, 3, 1, 2, 2, 1, 1},
      {2, 9, 11, 4, 3, 3, 1, 2, 2, 1, 1, 2},  {1, 2, 3, 2, 5, 5, 1, 1, 2, 2, 1, 1},
      {1, 5, 1, 3, 1, 3, 1, 1, 0, 1, 1, 1},
      // c >= 8: the direct lowering (channel strings of a packed image), across word edges
      {3, 5, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1},   {2, 6, 5, 33, 3, 3, 2, 1, 1, 1, 1, 1},
      {1, 7, 6, 64, 3, 3, 1, 1, 1, 1, 1, 1},  {2, 5, 5, 65, 3, 2, 1, 2, 1, 0, 1, 1},
      {1, 9, 8, 130, 3, 3, 2, 2, 2, 1, 2, 1}, {17, 4, 4, 16, 1, 1, 2, 2, 0, 0, 1, 1},
      {1, 3, 3, 24, 5, 5, 1, 1, 2, 2, 1, 1},  {1, 1, 1, 40, 3, 3, 1, 1, 1, 1, 1, 1}};
  for (const Platform* isa : availablePlatforms()) {
    for (const ConvShape& s : shapes) {
      EXPECT(checkConvShape(s).empty(), "valid shape refused");
      for (int planes : {1, 2, 3, 8}) {
        std::vector<uint8_t> x(s.n * s.h * s.w * s.c);
        for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
        const size_t rows = s.rows(), k = s.k(), oh = s.outH(), ow = s.outW();
        std::vector<uint8_t> lowered(rows * k, 0);
        for (size_t r = 0; r < rows; ++r) {
          const size_t img = r / (oh * ow), y = (r / ow) % oh, xx = r % ow;
          for (size_t ky = 0; ky < s.kh; ++ky)
            for (size_t kx = 0; kx < s.kw; ++kx)
              for (size_t c = 0; c < s.c; ++c) {
                const long iy = long(y * s.strideH + ky * s.dilH) - long(s.padH);
                const long ix = long(xx * s.strideW + kx * s.dilW) - long(s.padW);
                if (iy >= 0 && ix >= 0 && iy < long(s.h) && ix < long(s.w))
                  lowered[r * k + (ky * s.kw + kx) * s.c + c] = x[((img * s.h + iy) * s.w + ix) * s.c + c];
              }
        }
        std::vector<uint64_t> want(packedWords(rows, k, planes)), got(want.size(), ~0ull);
        std::vector<int32_t> wantPop(rows * planes), gotPop(rows * planes, -1);
        pack(scalarPlatform(), lowered.data(), rows, k, planes, want.data(), wantPop.data(), 1);
        packConvInput(*isa, x.data(), s, planes, got.data(), gotPop.data(), 3);
        EXPECT(want == got && wantPop == gotPop, "[%s] conv lowering n=%zu h=%zu w=%zu c=%zu k=%zux%zu planes=%d",
               isa->name, s.n, s.h, s.w, s.c, s.kh, s.kw, planes);
      }
    }
    ConvShape bad{1, 2, 2, 1, 5, 5, 1, 1, 0, 0, 1, 1};
    EXPECT(!checkConvShape(bad).empty(), "kernel larger than input must be refused");

    // Epilogues on a GEMM with bipolar weights.
    const size_t m = 13, n = 21, k = 300;
    for (int ab : {1, 2, 4}) {
      for (int bb : {1, 2, 8}) {
        std::vector<uint8_t> ac(m * k), bc(n * k);
        for (auto& v : ac) v = rng() & ((1u << ab) - 1);
        for (auto& v : bc) v = rng() & ((1u << bb) - 1);
        std::vector<uint64_t> A(packedWords(m, k, ab)), B(packedWords(n, k, bb));
        std::vector<int32_t> ap(m * ab), bp(n * bb);
        pack(*isa, ac.data(), m, k, ab, A.data(), ap.data(), 1);
        pack(*isa, bc.data(), n, k, bb, B.data(), bp.data(), 1);
        GemmSpec spec{{A.data(), m, k, ab, ap.data()}, {B.data(), n, k, bb, bp.data()}, ab, bb,
                      Encoding::Unsigned, Encoding::Bipolar};
        std::vector<int32_t> acc(m * n);
        bitGemm(*isa, spec, acc.data(), 2);
        std::vector<float> scale(n), shift(n);
        for (size_t j = 0; j < n; ++j) {
          scale[j] = std::ldexp(float(rng() % 1000) + 1, -14);
          shift[j] = (float(rng() % 2000) - 1000.0f) / 1500.0f;
        }
        Epilogue fe;
        fe.kind = OutputKind::Float32;
        fe.scale = scale.data();
        fe.shift = shift.data();
        fe.lo = 0.0f;
        std::vector<float> fo(m * n);
        bitGemm(*isa, spec, fo.data(), fe, 2);
        Epilogue qe = fe;
        qe.kind = OutputKind::Codes;
        qe.codeBits = ab;
        std::vector<uint8_t> qo(m * n);
        bitGemm(*isa, spec, qo.data(), qe, 2);
        size_t badF = 0, badQ = 0;
        for (size_t i = 0; i < m; ++i)
          for (size_t j = 0; j < n; ++j) {
            float y = static_cast<float>(acc[i * n + j]) * scale[j];
            y = y + shift[j];
            const float relu = y < 0.0f ? 0.0f : y;
            if (fo[i * n + j] != relu) ++badF;
            if (qo[i * n + j] != quantRef(y, ab)) ++badQ;
          }
        EXPECT(badF == 0 && badQ == 0, "[%s] epilogue a=%d b=%d: %zu float, %zu code mismatches", isa->name, ab, bb, badF, badQ);
      }
    }
    // quantizeActivations matches the epilogue's code path.
    std::vector<float> xs = {-1.0f, 0.0f, 0.1666f, 1.0f / 6.0f, 0.5f, 0.8333f, 1.0f, 2.0f, NAN};
    std::vector<uint8_t> q(xs.size());
    quantizeActivations(*isa, xs.data(), xs.size(), 1, nullptr, nullptr, 2, q.data(), 1);
    for (size_t i = 0; i < xs.size(); ++i) {
      const uint8_t want = std::isnan(xs[i]) ? 0 : quantRef(xs[i], 2);
      EXPECT(q[i] == want, "quantizeActivations(%g) = %d, want %d", double(xs[i]), q[i], want);
    }
    // ties: 0.5 * 1 = 0.5 -> 0 (half to even); 0.5 * 3 = 1.5 -> 2
    uint8_t t1, t2;
    float half = 0.5f;
    quantizeActivations(*isa, &half, 1, 1, nullptr, nullptr, 1, &t1, 1);
    quantizeActivations(*isa, &half, 1, 1, nullptr, nullptr, 2, &t2, 1);
    EXPECT(t1 == 0 && t2 == 2, "round half to even: got %d and %d", t1, t2);

    // The epilogue row loops of this ISA against an independent formulation (fmax / fmin /
    // nearbyint, NaN spelled out), for every null pattern of scale / shift, lengths that leave
    // every vector tail, special values, and in place for the float-to-float form.
    const EpilogueTable& ep = *isa->epilogue;
    EXPECT(std::string(ep.name) == isa->name, "[%s] epilogue table is '%s'", isa->name, ep.name);
    const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 0.5f, 1.0f, 1.5f / 255.0f, 2.5f / 15.0f, 1e-30f};
    std::uniform_real_distribution<float> uni(-1.5f, 2.5f);
    size_t epBad = 0;
    for (size_t n : {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 70}) {
      std::vector<float> xf(n), sc(n), sh(n);
      std::vector<int32_t> xi(n);
      for (size_t i = 0; i < n; ++i) {
        xf[i] = rng() % 5 == 0 ? specials[rng() % 10] : uni(rng);
        xi[i] = static_cast<int32_t>(rng() % 2001) - 1000;
        sc[i] = rng() % 7 == 0 ? 0.0f : uni(rng) / 500.0f;
        sh[i] = uni(rng) / 2.0f;
      }
      for (int pattern = 0; pattern < 4; ++pattern) {
        const float* scale = pattern & 1 ? sc.data() : nullptr;
        const float* shift = pattern & 2 ? sh.data() : nullptr;
        auto affine = [&](float x, size_t i) {
          float y = scale ? x * scale[i] : x;
          return shift ? y + shift[i] : y;
        };
        auto clampRef = [](float y, float lo, float hi) { return std::isnan(y) ? y : std::fmin(std::fmax(y, lo), hi); };
        auto same = [](float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
        for (int bits : {1, 2, 5, 8}) {
          const float levels = static_cast<float>((1 << bits) - 1);
          std::vector<uint8_t> qc(n + 1, 0xAB), qf(n + 1, 0xAB);
          ep.int32ToCodes(xi.data(), scale ? scale : sc.data(), shift, levels, qc.data(), n);
          ep.floatToCodes(xf.data(), scale, shift, levels, qf.data(), n);
          for (size_t i = 0; i < n; ++i) {
            const float yf = affine(xf[i], i);
            const float yI = shift ? static_cast<float>(xi[i]) * sc[i] + shift[i] : static_cast<float>(xi[i]) * sc[i];
            if (qc[i] != (std::isnan(yI) ? 0 : quantRef(yI, bits))) ++epBad;
            if (qf[i] != (std::isnan(yf) ? 0 : quantRef(yf, bits))) ++epBad;
          }
          if (qc[n] != 0xAB || qf[n] != 0xAB) ++epBad;  // nothing written past n
        }
        std::vector<float> fo(n + 1, 7.0f), io(n + 1, 7.0f), inPlace(xf);
        ep.floatAffine(xf.data(), scale, shift, -0.75f, 1.25f, fo.data(), n);
        ep.floatAffine(inPlace.data(), scale, shift, -0.75f, 1.25f, inPlace.data(), n);
        ep.int32ToFloat(xi.data(), scale ? scale : sc.data(), shift, -INFINITY, INFINITY, io.data(), n);
        for (size_t i = 0; i < n; ++i) {
          const float want = clampRef(affine(xf[i], i), -0.75f, 1.25f);
          if (!same(fo[i], want) || !same(inPlace[i], want)) ++epBad;
          const float wantI = static_cast<float>(xi[i]) * sc[i] + (shift ? shift[i] : 0.0f);
          if (!same(io[i], wantI)) ++epBad;
        }
        if (fo[n] != 7.0f || io[n] != 7.0f) ++epBad;
      }
    }
    for (int64_t mul : {1, 2, 4, -2}) {
      for (size_t n : {1, 5, 8, 13, 64, 67}) {
        std::vector<int64_t> core(n), colTerm(n);
        std::vector<int32_t> got(n + 1, 12345);
        for (size_t j = 0; j < n; ++j) {
          core[j] = static_cast<int64_t>(rng() % 200001) - 100000;
          colTerm[j] = static_cast<int64_t>(rng() % 2000001) - 1000000;
          if (n == 67) {  // sums past 32 bits that cancel: the result still fits int32
            core[j] += int64_t{3} << 33;
            colTerm[j] -= mul * (int64_t{3} << 33);
          }
        }
        const int64_t rowTerm = static_cast<int64_t>(rng() % 2001) - 1000;
        ep.combine(core.data(), mul, rowTerm, colTerm.data(), got.data(), n);
        for (size_t j = 0; j < n; ++j)
          if (got[j] != mul * core[j] + rowTerm + colTerm[j]) ++epBad;
        if (got[n] != 12345) ++epBad;
      }
    }
    // codesToFloat: a table lookup per code, every table size 1..256, lengths over vector tails.
    for (unsigned entries : {1u, 2u, 15u, 16u, 17u, 256u}) {
      std::vector<float> table(entries);
      for (auto& v : table) v = uni(rng);
      for (size_t n : {0, 1, 15, 16, 33, 70000}) {
        std::vector<uint8_t> codes(n);
        for (auto& c : codes) c = static_cast<uint8_t>(rng() % entries);
        std::vector<float> got(n + 1, 9.0f);
        codesToFloat(*isa, codes.data(), n, table.data(), got.data(), 3);
        for (size_t i = 0; i < n; ++i)
          if (got[i] != table[codes[i]]) ++epBad;
        if (got[n] != 9.0f) ++epBad;
        if (n > 0 && findCodeAtLeast(codes.data(), n, entries) != SIZE_MAX) ++epBad;
      }
    }
    // quantizeActivations / channelAffine over [rows, channels] tensors: blocks of rows share one
    // call (per-channel vectors repeated), so channel counts that do and do not divide the block,
    // row counts past a task, and more than one thread.
    for (size_t channels : {1, 3, 16, 64, 300}) {
      for (size_t rows : {1, 7, 700}) {
        const size_t n = rows * channels;
        std::vector<float> xs(n), sc(channels), sh(channels);
        for (auto& v : xs) v = uni(rng);
        for (auto& v : sc) v = uni(rng);
        for (auto& v : sh) v = uni(rng) / 3.0f;
        for (int pattern = 0; pattern < 4; ++pattern) {
          const float* scale = pattern & 1 ? sc.data() : nullptr;
          const float* shift = pattern & 2 ? sh.data() : nullptr;
          for (int threads : {1, 3}) {
            std::vector<uint8_t> q(n);
            std::vector<float> f(n);
            quantizeActivations(*isa, xs.data(), n, channels, scale, shift, 3, q.data(), threads);
            channelAffine(*isa, xs.data(), n, channels, scale, shift, -0.5f, 0.75f, f.data(), threads);
            // int32 inputs: float32(x) first (values past 2^24 round in that conversion)
            std::vector<int32_t> xi(n);
            for (size_t i = 0; i < n; ++i) xi[i] = static_cast<int32_t>(rng() % 600001) - 300000 + (i % 7 == 0 ? 50000000 : 0);
            std::vector<uint8_t> qi(n);
            std::vector<float> fi(n);
            quantizeActivations(*isa, xi.data(), n, channels, scale, shift, 3, qi.data(), threads);
            channelAffine(*isa, xi.data(), n, channels, scale, shift, -5e4f, 5e4f, fi.data(), threads);
            for (size_t i = 0; i < n; ++i) {
              const size_t c = i % channels;
              float y = scale ? xs[i] * scale[c] : xs[i];
              if (shift) y = y + shift[c];
              if (q[i] != quantRef(y, 3) || f[i] != std::fmin(std::fmax(y, -0.5f), 0.75f)) ++epBad;
              const float xv = static_cast<float>(xi[i]);
              float yi = scale ? xv * scale[c] : xv;
              if (shift) yi = yi + shift[c];
              if (qi[i] != quantRef(yi, 3) || fi[i] != std::fmin(std::fmax(yi, -5e4f), 5e4f)) ++epBad;
            }
          }
        }
      }
    }
    EXPECT(epBad == 0, "[%s] epilogue row loops: %zu mismatches against the reference", isa->name, epBad);
  }
  std::printf("conv/epilogue: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
