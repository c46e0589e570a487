// The dual-output GEMM finish (a Float32 epilogue that also writes the codes of every value it
// stores: Epilogue::codes / TileFinish::codes) against the two-pass result it replaces — the Float32
// finish, then the activation quantiser over the stored floats — bit for bit, on every epilogue
// table this CPU can run: row lengths 1..70 (every vector tail), 1..9 rows with a leading dimension
// wider than the row, residual on / off, clamps on / off, null / non-null scale and shift of the
// float part, code bits 1..8, exact .5 ties and values past both quantiser clamps. Nothing may be
// written outside the tile. Then whole GEMMs (odd M, N, K; bit-serial and int8 routes) on every
// platform: bitGemm with the dual epilogue vs bitGemm + quantizeActivations.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

bool sameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The quantiser of one stored value, written out from the contract (epilogue.h).
uint8_t codeOf(float stored, float scale, float shift, int bits) {
  const float y = stored * scale + shift;
  if (std::isnan(y)) return 0;
  const float c = y <= 0.0f ? 0.0f : y >= 1.0f ? 1.0f : y;
  return static_cast<uint8_t>(std::nearbyint(c * static_cast<float>((1 << bits) - 1)));
}

void tiles(std::mt19937_64& rng, const std::vector<const EpilogueTable*>& tables) {
  const EpilogueTable& ref = kScalarEpilogueTable;
  const int64_t muls[] = {1, 2, 4, -2};
  size_t count = 0;
  for (size_t n = 1; n <= 70; ++n) {
    for (int variant = 0; variant < 16; ++variant) {
      const bool residual = variant & 1, clamp = variant & 2, scaleOn = variant & 4, shiftOn = variant & 8;
      const int bits = 1 + static_cast<int>(rng() % 8);
      const bool ties = rng() % 2 == 0;
      const size_t rows = 1 + rng() % 9, ld = n + rng() % 5, ldAcc = n + rng() % 3;
      const int64_t mul = muls[rng() % 4];
      std::vector<int64_t> acc(rows * ldAcc), colTerm(n), rowTerm(rows);
      std::vector<float> scale(n), shift(n), res(rows * ld), cScale(n), cShift(n);
      for (auto& v : acc) v = static_cast<int64_t>(rng() % 400) - 200;
      for (auto& v : colTerm) v = static_cast<int64_t>(rng() % 40) - 20;
      for (auto& v : rowTerm) v = static_cast<int64_t>(rng() % 40) - 20;
      for (size_t j = 0; j < n; ++j) {
        // Float part on a 2^-8 grid, the codes' affine on 2^-k steps: sums * levels land on .5 often.
        scale[j] = ties ? 1.0f / 256.0f : static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 40000.0f;
        shift[j] = static_cast<float>(static_cast<int>(rng() % 64) - 16) / 512.0f;
        cScale[j] = ties ? 0.5f : static_cast<float>(static_cast<int>(rng() % 2001) - 500) / 700.0f;
        cShift[j] = ties ? static_cast<float>(static_cast<int>(rng() % 32)) / 64.0f
                         : static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 1500.0f;
      }
      for (auto& v : res) v = static_cast<float>(static_cast<int>(rng() % 512) - 128) / 256.0f;
      std::vector<int32_t> exact(rows * ld, 0);
      for (size_t r = 0; r < rows; ++r)
        for (size_t j = 0; j < n; ++j)
          exact[r * ld + j] = static_cast<int32_t>(mul * acc[r * ldAcc + j] + rowTerm[r] + colTerm[j]);

      TileFinish f;
      f.kind = OutputKind::Float32;
      f.scale = scaleOn ? scale.data() : nullptr;
      f.shift = shiftOn ? shift.data() : nullptr;
      f.lo = clamp ? -0.25f : -INFINITY;
      f.hi = clamp ? 1.5f : INFINITY;
      f.residual = residual ? res.data() : nullptr;
      f.ldOut = ld;
      // Two passes: the plain Float32 finish (scalar table), then the quantiser over what it stored.
      std::vector<float> wantF(rows * ld + 1, 7.0f);
      f.out = wantF.data();
      ref.finishTile(acc.data(), ldAcc, rows, mul, rowTerm.data(), colTerm.data(), f, n);
      std::vector<uint8_t> wantC(rows * ld + 1, 0xA5);
      for (size_t r = 0; r < rows; ++r)
        for (size_t j = 0; j < n; ++j) wantC[r * ld + j] = codeOf(wantF[r * ld + j], cScale[j], cShift[j], bits);
      f.codeScale = cScale.data();
      f.codeShift = cShift.data();
      f.levels = static_cast<float>((1 << bits) - 1);
      for (const EpilogueTable* t : tables) {
        for (int from = 0; from < 2; ++from) {
          std::vector<float> gotF(rows * ld + 1, 7.0f);
          std::vector<uint8_t> gotC(rows * ld + 1, 0xA5);
          f.out = gotF.data();
          f.codes = gotC.data();
          if (from == 0) t->finishTile(acc.data(), ldAcc, rows, mul, rowTerm.data(), colTerm.data(), f, n);
          else t->storeTile(exact.data(), ld, rows, f, n);
          f.codes = nullptr;
          size_t diffC = 0;
          for (size_t e = 0; e < gotC.size(); ++e) diffC += gotC[e] != wantC[e];
          EXPECT(sameBits(gotF, wantF) && diffC == 0,
                 "[%s] %s n=%zu rows=%zu ld=%zu residual=%d clamp=%d scale=%d shift=%d bits=%d ties=%d: %zu codes differ%s",
                 t->name, from == 0 ? "finishTile" : "storeTile", n, rows, ld, residual, clamp, scaleOn, shiftOn, bits,
                 ties, diffC, sameBits(gotF, wantF) ? "" : ", floats differ");
          ++count;
        }
      }
    }
  }
  std::printf("dual finish tiles: %zu checked\n", count);
}

// Whole GEMMs on every platform: the dual epilogue vs the Float32 epilogue + quantizeActivations.
void gemms(std::mt19937_64& rng) {
  const Shape shapes[] = {{1, 17, 65}, {7, 16, 144}, {33, 31, 200}, {64, 64, 576}, {13, 5, 9}};
  size_t count = 0;
  for (const Platform* isa : availablePlatforms()) {
    for (const Shape& s : shapes) {
      for (int aBits : {1, 2, 4}) {
        const int bBits = 1 + static_cast<int>(rng() % 2), codeBits = 1 + static_cast<int>(rng() % 8);
        Packed a = packWith(*isa, randomCodes(rng, s.m * s.k, aBits), s.m, s.k, aBits, 1);
        Packed b = packWith(*isa, randomCodes(rng, s.n * s.k, bBits), s.n, s.k, bBits, 1);
        const GemmSpec spec{a.view(), b.view(), aBits, bBits, Encoding::Unsigned, Encoding::Bipolar};
        std::vector<float> scale(s.n), shift(s.n), cScale(s.n), cShift(s.n), res(s.m * s.n);
        for (size_t j = 0; j < s.n; ++j) {
          scale[j] = static_cast<float>(static_cast<int>(rng() % 200) + 1) / 4096.0f;
          shift[j] = static_cast<float>(static_cast<int>(rng() % 64) - 32) / 256.0f;
          cScale[j] = static_cast<float>(static_cast<int>(rng() % 200) + 50) / 256.0f;
          cShift[j] = static_cast<float>(static_cast<int>(rng() % 64)) / 128.0f;
        }
        for (auto& v : res) v = static_cast<float>(static_cast<int>(rng() % 256) - 128) / 128.0f;
        Epilogue e;
        e.kind = OutputKind::Float32;
        e.scale = scale.data();
        e.shift = shift.data();
        e.residual = res.data();
        for (int route = 0; route < 2; ++route) {  // bit-serial, then the int8 route
          const Int8Route r{route == 1 ? isa->int8 : nullptr, nullptr};
          Epilogue plain = e;
          std::vector<float> want(s.m * s.n), got(s.m * s.n);
          bitGemm(*isa, spec, want.data(), plain, 2, r);
          std::vector<uint8_t> wantC(s.m * s.n), gotC(s.m * s.n, 0xA5);
          quantizeActivations(*isa, want.data(), want.size(), s.n, cScale.data(), cShift.data(), codeBits, wantC.data(), 1);
          Epilogue dual = e;
          dual.codes = gotC.data();
          dual.codeScale = cScale.data();
          dual.codeShift = cShift.data();
          dual.codeBits = codeBits;
          bitGemm(*isa, spec, got.data(), dual, 2, r);
          EXPECT(sameBits(got, want) && gotC == wantC, "[%s] %s gemm %zux%zux%zu a%d w%d codes %d: dual output differs",
                 isa->name, route == 1 ? isa->int8->name : "bit-serial", s.m, s.n, s.k, aBits, bBits, codeBits);
          ++count;
        }
      }
    }
  }
  std::printf("dual finish gemms: %zu checked\n", count);
}

}  // namespace

int main() {
  std::mt19937_64 rng(23);
  const std::vector<const EpilogueTable*> tables = epilogueTablesToCheck();
  std::string names;
  for (const EpilogueTable* t : tables) names += std::string(" ") + t->name;
  std::printf("epilogue tables:%s\n", names.c_str());
  tiles(rng, tables);
  gemms(rng);
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
