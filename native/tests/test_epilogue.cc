// The GEMM finish of every epilogue table this CPU can run (EpilogueTable::finishTile / storeTile,
// and the combine / int32ToFloat / int32ToCodes rows) against the scalar table, element for element
// and bit for bit, and the scalar table against the contract spelled out here: every row length
// 1..70 (every vector tail), 1..9 rows with a leading dimension wider than the row, every output
// kind, null / non-null scale and shift, residual on / off, code bits 1..8, multipliers 1, 2, 4, -2,
// values past both clamps, exact .5 ties and non-finite scales. Nothing may be written outside the
// tile.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

bool sameFloat(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;  // bitwise: -0 and +0 differ
}

// The contract of one element (epilogue.h), written out independently of the kernels.
struct Case {
  OutputKind kind;
  bool scale, shift, residual;
  int bits;  // Codes
  float lo, hi;
};

float affine(int32_t e, const Case& c, float scale, float shift) {
  float y = static_cast<float>(e);
  if (c.scale) y = y * scale;
  if (c.shift) y = y + shift;
  return y;
}

uint8_t codeOf(float y, int bits) {
  if (std::isnan(y)) return 0;
  const float cl = y <= 0.0f ? 0.0f : y >= 1.0f ? 1.0f : y;
  return static_cast<uint8_t>(std::nearbyint(cl * static_cast<float>((1 << bits) - 1)));  // half to even
}

float floatOf(float y, const Case& c, float res) {
  if (!std::isnan(y)) y = y < c.lo ? c.lo : y > c.hi ? c.hi : y;
  return c.residual ? y + res : y;
}

}  // namespace

int main() {
  std::mt19937_64 rng(11);
  const std::vector<const EpilogueTable*> tables = epilogueTablesToCheck();
  const EpilogueTable& ref = kScalarEpilogueTable;
  std::string names;
  for (const EpilogueTable* t : tables) names += std::string(" ") + t->name;
  std::printf("epilogue tables:%s\n", names.c_str());

  std::vector<Case> cases;
  for (int sc = 0; sc < 2; ++sc)
    for (int sh = 0; sh < 2; ++sh) {
      for (int bits = 1; bits <= 8; ++bits) cases.push_back({OutputKind::Codes, sc == 1, sh == 1, false, bits, 0, 0});
      for (int res = 0; res < 2; ++res) {
        cases.push_back({OutputKind::Float32, sc == 1, sh == 1, res == 1, 0, -0.25f, 0.75f});
        cases.push_back({OutputKind::Float32, sc == 1, sh == 1, res == 1, 0, -INFINITY, INFINITY});
      }
    }
  cases.push_back({OutputKind::Int32, false, false, false, 0, 0, 0});

  const float specials[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f};
  const int64_t muls[] = {1, 2, 4, -2};
  size_t bad = 0, refBad = 0, tiles = 0;
  std::map<const EpilogueTable*, size_t> tableBad;
  for (size_t n = 1; n <= 70; ++n) {
    for (const Case& c : cases) {
      const size_t rows = 1 + rng() % 9, ld = n + rng() % 5, ldAcc = n + rng() % 3;
      const int64_t mul = muls[rng() % 4];
      // ties: scale 2^-8 and shift a multiple of 2^-9, so c * levels often lands on k + 0.5 exactly;
      // else scales that carry y past both clamps, a few non-finite.
      const bool ties = rng() % 3 == 0;
      std::vector<int64_t> acc(rows * ldAcc), colTerm(n), rowTerm(rows);
      std::vector<float> scale(n), shift(n), residual(rows * ld);
      for (auto& v : acc) v = ties ? static_cast<int64_t>(rng() % 160) - 20 : static_cast<int64_t>(rng() % 200001) - 100000;
      for (auto& v : colTerm) v = ties ? static_cast<int64_t>(rng() % 40) - 20 : static_cast<int64_t>(rng() % 2000001) - 1000000;
      for (auto& v : rowTerm) v = ties ? static_cast<int64_t>(rng() % 40) - 20 : static_cast<int64_t>(rng() % 2001) - 1000;
      for (size_t j = 0; j < n; ++j) {
        if (ties) {
          scale[j] = 1.0f / 256.0f;
          shift[j] = static_cast<float>(static_cast<int>(rng() % 64) - 16) / 512.0f;
        } else {
          scale[j] = rng() % 13 == 0 ? specials[rng() % 5]
                                     : static_cast<float>(static_cast<int>(rng() % 2001) - 800) * (1.0f / 600000.0f);
          shift[j] = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 1000.0f;
        }
      }
      for (auto& v : residual) v = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 256.0f;

      TileFinish f;
      f.kind = c.kind;
      f.scale = c.scale ? scale.data() : nullptr;
      f.shift = c.shift ? shift.data() : nullptr;
      f.lo = c.lo;
      f.hi = c.hi;
      f.levels = static_cast<float>((1 << c.bits) - 1);
      f.residual = c.residual ? residual.data() : nullptr;
      f.ldOut = ld;
      const size_t bytes = outputElementBytes(c.kind), outBytes = (rows * ld + 1) * bytes;
      // The exact int32 results, for storeTile and the contract.
      std::vector<int32_t> exact(rows * ld);
      for (size_t r = 0; r < rows; ++r)
        for (size_t j = 0; j < n; ++j)
          exact[r * ld + j] = static_cast<int32_t>(mul * acc[r * ldAcc + j] + rowTerm[r] + colTerm[j]);

      std::vector<unsigned char> want(outBytes, 0xA5);
      f.out = want.data();
      ref.finishTile(acc.data(), ldAcc, rows, mul, rowTerm.data(), colTerm.data(), f, n);
      ++tiles;
      // The scalar table against the contract, and nothing written outside the tile.
      for (size_t r = 0; r < rows; ++r) {
        for (size_t j = 0; j < ld; ++j) {
          const size_t at = r * ld + j;
          const unsigned char* w = want.data() + at * bytes;
          if (j >= n) {
            for (size_t b = 0; b < bytes; ++b) refBad += w[b] != 0xA5;
            continue;
          }
          const float y = affine(exact[at], c, scale[j], shift[j]);
          if (c.kind == OutputKind::Int32) {
            int32_t got;
            std::memcpy(&got, w, 4);
            refBad += got != exact[at];
          } else if (c.kind == OutputKind::Codes) {
            refBad += *w != codeOf(y, c.bits);
          } else {
            float got;
            std::memcpy(&got, w, 4);
            refBad += !sameFloat(got, floatOf(y, c, residual[at]));
          }
        }
      }
      if (refBad > 0 && refBad < 5) std::fprintf(stderr, "scalar finishTile off the contract at n=%zu kind=%d\n", n, int(c.kind));

      for (const EpilogueTable* t : tables) {
        // finishTile from the core sums, then storeTile from the exact results: both must equal
        // the scalar tile byte for byte (NaN for NaN).
        for (int from = 0; from < (c.kind == OutputKind::Int32 ? 1 : 2); ++from) {
          std::vector<unsigned char> got(outBytes, 0xA5);
          f.out = got.data();
          if (from == 0) t->finishTile(acc.data(), ldAcc, rows, mul, rowTerm.data(), colTerm.data(), f, n);
          else t->storeTile(exact.data(), ld, rows, f, n);
          size_t diff = 0;
          for (size_t e = 0; e < rows * ld + 1; ++e) {
            const unsigned char* a = got.data() + e * bytes;
            const unsigned char* b = want.data() + e * bytes;
            if (c.kind == OutputKind::Float32 && e < rows * ld) {
              float fa, fb;
              std::memcpy(&fa, a, 4);
              std::memcpy(&fb, b, 4);
              diff += !sameFloat(fa, fb);
            } else {
              diff += std::memcmp(a, b, bytes) != 0;
            }
          }
          EXPECT(diff == 0, "[%s] %s n=%zu rows=%zu ld=%zu kind=%d scale=%d shift=%d residual=%d bits=%d mul=%lld: %zu elements differ",
                 t->name, from == 0 ? "finishTile" : "storeTile", n, rows, ld, int(c.kind), c.scale, c.shift,
                 c.residual, c.bits, static_cast<long long>(mul), diff);
          bad += diff;
          tableBad[t] += diff;
        }
      }
    }
    // The row entries at this length: each table against the scalar one.
    std::vector<int64_t> core(n), colTerm(n);
    std::vector<int32_t> v(n);
    std::vector<float> scale(n), shift(n);
    for (size_t j = 0; j < n; ++j) {
      core[j] = static_cast<int64_t>(rng() % 20001) - 10000;
      colTerm[j] = static_cast<int64_t>(rng() % 20001) - 10000;
      v[j] = static_cast<int32_t>(rng() % 600) - 150;
      scale[j] = 1.0f / 256.0f;
      shift[j] = static_cast<float>(static_cast<int>(rng() % 64) - 16) / 512.0f;
    }
    for (const EpilogueTable* t : tables) {
      for (int64_t mul : muls) {
        std::vector<int32_t> a(n + 1, 77), b(n + 1, 77);
        ref.combine(core.data(), mul, 5, colTerm.data(), a.data(), n);
        t->combine(core.data(), mul, 5, colTerm.data(), b.data(), n);
        EXPECT(a == b, "[%s] combine n=%zu mul=%lld", t->name, n, static_cast<long long>(mul));
        tableBad[t] += a != b;
      }
      for (int bits : {1, 4, 8}) {
        const float levels = static_cast<float>((1 << bits) - 1);
        std::vector<uint8_t> a(n + 1, 9), b(n + 1, 9);
        ref.int32ToCodes(v.data(), scale.data(), shift.data(), levels, a.data(), n);
        t->int32ToCodes(v.data(), scale.data(), shift.data(), levels, b.data(), n);
        EXPECT(a == b, "[%s] int32ToCodes n=%zu bits=%d", t->name, n, bits);
        tableBad[t] += a != b;
      }
      std::vector<float> a(n + 1, 3.0f), b(n + 1, 3.0f);
      ref.int32ToFloat(v.data(), scale.data(), nullptr, 0.0f, 0.5f, a.data(), n);
      t->int32ToFloat(v.data(), scale.data(), nullptr, 0.0f, 0.5f, b.data(), n);
      const bool same = std::memcmp(a.data(), b.data(), (n + 1) * 4) == 0;
      EXPECT(same, "[%s] int32ToFloat n=%zu", t->name, n);
      tableBad[t] += !same;
    }
  }
  EXPECT(refBad == 0, "scalar finishTile: %zu elements off the contract", refBad);
  for (const EpilogueTable* t : tables) std::printf("%s: %s\n", t->name, tableBad[t] == 0 && refBad == 0 ? "ok" : "FAILED");
  std::printf("%zu tiles x %zu tables, %zu elements differ; %d checks, %d failures\n", tiles, tables.size(), bad, checks,
              failures);
  return failures == 0 ? 0 : 1;
}
