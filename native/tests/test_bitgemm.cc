// Native tests: every ISA this CPU runs (and the scalar reference) against a direct integer
// computation from the codes, for every (aBits, bBits) in 1..8 x 1..8, every pair of encodings,
// truncated use of 8-plane packs, odd shapes that cross every tile and block boundary.
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

// The micro-kernel alone against the scalar one, walking every tile edge: mr 1..8 (from every
// lane offset that fits), np 1..8, kWords 1..3 and a long odd one, every plane-count pair on a
// rotation, signs and XOR. acc starts random (the kernel must ADD) and is surrounded by guard
// cells the kernel must not touch (ldAcc wider than np*8).
void checkMicroKernel(const KernelTable& isa, std::mt19937_64& rng) {
  const size_t kWordsList[] = {1, 2, 3, 37};
  int combo = 0;
  for (size_t kWords : kWordsList) {
    for (int mr = 1; mr <= 8; ++mr) {
      for (int np = 1; np <= 8; ++np) {
        for (int lane0 = 0; lane0 + mr <= 8; lane0 += (mr == 8 ? 1 : 8 - mr)) {
          ++combo;
          const int aPlanes = 1 + combo % 8, bPlanes = 1 + (combo / 8 + combo) % 8;
          const int aStored = aPlanes + combo % 2, bStored = bPlanes + (combo / 2) % 2;
          const size_t kTotal = kWords + combo % 3;  // the call covers a K block at offset k0
          const size_t k0 = combo % 3 == 2 ? 1 : 0;
          std::vector<uint64_t> a(static_cast<size_t>(aStored) * kTotal * 8), b(static_cast<size_t>(np) * bStored * kTotal * 8);
          for (auto& w : a) w = rng();
          for (auto& w : b) w = rng();
          const size_t ldAcc = static_cast<size_t>(np) * 8 + 5;
          std::vector<int64_t> ref((mr + 2) * ldAcc);
          for (auto& x : ref) x = static_cast<int64_t>(rng() % 2000001) - 1000000;
          const std::vector<int64_t> orig = ref;
          std::vector<int64_t> got = ref;
          BitTileArgs t{};
          t.a = a.data() + lane0 + k0 * 8;
          t.aPlaneStride = kTotal * 8;
          t.b = b.data() + k0 * 8;
          t.bPanelStride = static_cast<size_t>(bStored) * kTotal * 8;
          t.bPlaneStride = kTotal * 8;
          t.mr = mr;
          t.np = np;
          t.aPlanes = aPlanes;
          t.bPlanes = bPlanes;
          t.aNegTop = (combo / 3) % 2;
          t.bNegTop = (combo / 5) % 2;
          t.useXor = aPlanes == 1 && bPlanes == 1 && combo % 2;
          t.kWords = kWords;
          t.ldAcc = ldAcc;
          t.acc = ref.data() + ldAcc;  // row 0 and row mr+1 are guards
          kScalarTable.bitTile(t);
          t.acc = got.data() + ldAcc;
          isa.bitTile(t);
          EXPECT(ref == got, "[%s] bitTile mr=%d np=%d lane0=%d kWords=%zu a=%d/%d b=%d/%d neg=%d%d xor=%d", isa.name,
                 mr, np, lane0, kWords, aPlanes, aStored, bPlanes, bStored, t.aNegTop, t.bNegTop, t.useXor);
          // overwrite: the tile's cells get the sums alone (= ref - the initial values), whatever
          // they held; guard rows and the columns past np*8 keep their values.
          std::vector<int64_t> init(ref.size());
          for (auto& x : init) x = static_cast<int64_t>(rng() % 2000001) - 1000000;
          std::vector<int64_t> over = init;
          t.overwrite = true;
          t.acc = over.data() + ldAcc;
          isa.bitTile(t);
          size_t badOver = 0;
          for (size_t row = 0; row < ref.size() / ldAcc; ++row) {
            for (size_t col = 0; col < ldAcc; ++col) {
              const size_t i = row * ldAcc + col;
              const bool inTile = row >= 1 && row <= static_cast<size_t>(mr) && col < static_cast<size_t>(np) * 8;
              if (inTile ? over[i] != ref[i] - orig[i] : over[i] != init[i]) ++badOver;
            }
          }
          EXPECT(badOver == 0, "[%s] bitTile overwrite mr=%d np=%d kWords=%zu a=%d b=%d: %zu cells wrong", isa.name, mr, np,
                 kWords, aPlanes, bPlanes, badOver);
        }
      }
    }
  }
}

// Packing reads exactly rows x k codes: each panel's codes end at a page boundary followed by
// an inaccessible page, so a read past the last code of the last row (or from a row >= rows)
// faults. Also ldCodes > k.
void checkPackBounds(const KernelTable& isa, std::mt19937_64& rng) {
#if defined(__linux__)
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t ks[] = {1, 63, 64, 65, 200};
  for (size_t k : ks) {
    for (int rows = 1; rows <= 8; ++rows) {
      for (int planes = 1; planes <= 8; planes += 3) {
        const size_t ld = k + (rows % 3);
        const size_t bytes = (rows - 1) * ld + k;
        const size_t mapped = (bytes + page - 1) / page * page + page;
        void* mem = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
          EXPECT(false, "mmap failed");
          return;
        }
        uint8_t* guard = static_cast<uint8_t*>(mem) + mapped - page;
        mprotect(guard, page, PROT_NONE);
        uint8_t* codes = guard - bytes;
        for (size_t i = 0; i < bytes; ++i) codes[i] = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
        const size_t kWords = kWordsFor(k);
        std::vector<uint64_t> ref(static_cast<size_t>(planes) * kWords * 8, 1), got(ref.size(), 2);
        kScalarTable.packPanel({codes, ld, rows, k, planes, kWords, ref.data()});
        isa.packPanel({codes, ld, rows, k, planes, kWords, got.data()});
        EXPECT(ref == got, "[%s] packPanel rows=%d k=%zu ld=%zu planes=%d", isa.name, rows, k, ld, planes);
        munmap(mem, mapped);
      }
    }
  }
#else
  (void)isa;
  (void)rng;
#endif
}

}  // namespace

// A 1-bit Codes epilogue (the bit-serial GEMM's integer-bounds finish, EpilogueTable::finishCodes1,
// where it is exact; the float finish otherwise) against the Int32 GEMM put through the scalar
// table's int32ToCodes, column by column: random scales of both signs, exact ties (y = 0.5 at some
// results), zero and negative zero, NaN, infinities and huge values (the float finish), null scale
// or shift; every encoding pair (mul 1, 2, 4 and -2), odd N (the tails), 1 and 3 threads.
void checkCodes1(const Platform& isa, std::mt19937_64& rng) {
  const Encoding encs[] = {Encoding::Unsigned, Encoding::Bipolar, Encoding::Signed};
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  struct Shape3 {
    size_t m, n, k;
  };
  const Shape3 shapes[] = {{37, 16, 144}, {64, 64, 576}, {9, 13, 65}, {70, 130, 300}, {5, 7, 3}};
  for (const Shape3& s : shapes) {
    auto ac = randomCodes(rng, s.m * s.k, 1);
    auto bc = randomCodes(rng, s.n * s.k, 1);
    Packed A = packWith(isa, ac, s.m, s.k, 1, 1);
    Packed B = packWith(isa, bc, s.n, s.k, 1, 1);
    for (int ea = 0; ea < 3; ++ea) {
      for (int eb = 0; eb < 3; ++eb) {
        GemmSpec spec{A.view(), B.view(), 1, 1, encs[ea], encs[eb]};
        std::vector<int32_t> exact(s.m * s.n);
        bitGemm(isa, spec, exact.data(), 1);
        for (int pattern = 0; pattern < 7; ++pattern) {
          std::vector<float> scale(s.n), shift(s.n);
          for (size_t j = 0; j < s.n; ++j) {
            const int r = static_cast<int>(rng() % 1000);
            switch (pattern) {
              case 0:  // random, both signs, some constant columns
                scale[j] = static_cast<float>(r - 500) / (50.0f * static_cast<float>(s.k));
                shift[j] = static_cast<float>(static_cast<int>(rng() % 3001) - 1000) / 1000.0f;
                break;
              case 1:  // ties: y = 0.5 exactly at some exact results
                scale[j] = (rng() % 2 ? 1.0f : -1.0f) / 256.0f;
                shift[j] = static_cast<float>(static_cast<int>(rng() % 64) - 16) / 512.0f;
                break;
              case 2:  // zero, negative zero, tiny, with shifts on either side of 0.5
                scale[j] = r % 3 == 0 ? 0.0f : r % 3 == 1 ? -0.0f : 1e-30f;
                shift[j] = r % 2 ? 0.5f : 0.50001f;
                break;
              case 3:  // a NaN, infinity or huge value somewhere: the float finish
                scale[j] = static_cast<float>(r - 500) / 1000.0f;
                shift[j] = 0.25f;
                if (j == s.n / 2) (r % 4 == 0 ? scale[j] : shift[j]) = r % 3 == 0 ? nan : r % 3 == 1 ? -inf : 1e30f;
                break;
              default:  // large scale and shift (far from the threshold), exact integers
                scale[j] = static_cast<float>(r - 500) * 4096.0f;
                shift[j] = static_cast<float>(static_cast<int>(rng() % 9) - 4);
                break;
            }
          }
          // patterns 4..6: both, scale only, shift only
          const float* sc = pattern == 6 ? nullptr : scale.data();
          const float* sh = pattern == 5 ? nullptr : shift.data();
          std::vector<uint8_t> want(s.m * s.n), got(s.m * s.n, 0xA5);
          for (size_t i = 0; i < s.m; ++i)
            scalarPlatform().epilogue->int32ToCodes(exact.data() + i * s.n, sc, sh, 1.0f, want.data() + i * s.n, s.n);
          Epilogue epi;
          epi.kind = OutputKind::Codes;
          epi.scale = sc;
          epi.shift = sh;
          epi.codeBits = 1;
          bitGemm(isa, spec, got.data(), epi, 1 + pattern % 3);
          size_t bad = 0;
          for (size_t e = 0; e < want.size(); ++e) bad += want[e] != got[e];
          EXPECT(bad == 0, "[%s] 1-bit codes m=%zu n=%zu k=%zu enc %d x %d pattern %d: %zu wrong", isa.name, s.m, s.n,
                 s.k, ea, eb, pattern, bad);
        }
      }
    }
  }
}

int main() {
  std::mt19937_64 rng(12345);
  const Encoding encs[] = {Encoding::Unsigned, Encoding::Bipolar, Encoding::Signed};
  const char* encNames[] = {"unsigned", "bipolar", "signed"};
  const Shape shapes[] = {{1, 1, 1},   {9, 17, 63},  {8, 8, 64},   {13, 23, 65}, {5, 40, 511},
                          {17, 9, 513}, {3, 11, 4099}, {1, 130, 200}, {70, 9, 100}, {2, 3, 1}};

  std::printf("ISAs on this CPU:");
  for (const Platform* t : availablePlatforms()) std::printf(" %s", t->name);
  std::printf("\n");

  for (const Platform* isa : availablePlatforms()) {
    const int before = failures;
    checkMicroKernel(*isa->bitplane, rng);
    checkPackBounds(*isa->bitplane, rng);
    checkCodes1(*isa, rng);
    // Packing: bit-identical to the scalar reference, including padding words and plane popcounts.
    for (const Shape& s : shapes) {
      for (int planes = 1; planes <= 8; ++planes) {
        auto codes = randomCodes(rng, s.n * s.k, planes);
        Packed ref = packWith(scalarPlatform(), codes, s.n, s.k, planes, 1);
        Packed got = packWith(*isa, codes, s.n, s.k, planes, 3);
        EXPECT(ref.data == got.data, "[%s] pack data rows=%zu k=%zu planes=%d", isa->name, s.n, s.k, planes);
        EXPECT(ref.pop == got.pop, "[%s] pack popcounts rows=%zu k=%zu planes=%d", isa->name, s.n, s.k, planes);
      }
    }
    // GEMM against the direct sum, for every bit combination and encoding pair.
    for (const Shape& s : shapes) {
      for (int stored8 = 0; stored8 <= 1; ++stored8) {
        for (int ab = 1; ab <= 8; ++ab) {
          for (int bb = 1; bb <= 8; ++bb) {
            const int aPlanes = stored8 ? 8 : ab, bPlanes = stored8 ? 8 : bb;
            auto ac = randomCodes(rng, s.m * s.k, aPlanes);
            auto bc = randomCodes(rng, s.n * s.k, bPlanes);
            Packed A = packWith(*isa, ac, s.m, s.k, aPlanes, 2);
            Packed B = packWith(*isa, bc, s.n, s.k, bPlanes, 2);
            for (int ea = 0; ea < 3; ++ea) {
              for (int eb = 0; eb < 3; ++eb) {
                GemmSpec spec{A.view(), B.view(), ab, bb, encs[ea], encs[eb]};
                CheckResult cr = checkGemm(spec);
                EXPECT(cr.kind == ErrorKind::None, "[%s] unexpected check failure: %s", isa->name, cr.message.c_str());
                std::vector<int32_t> got(s.m * s.n, 0x7eadbeef);
                bitGemm(*isa, spec, got.data(), (ab + bb) % 3 + 1);
                size_t bad = 0;
                for (size_t i = 0; i < s.m; ++i) {
                  for (size_t j = 0; j < s.n; ++j) {
                    int64_t want = 0;
                    for (size_t t = 0; t < s.k; ++t) {
                      want += valueOf(ac[i * s.k + t] >> (aPlanes - ab), ab, encs[ea]) *
                              valueOf(bc[j * s.k + t] >> (bPlanes - bb), bb, encs[eb]);
                    }
                    if (got[i * s.n + j] != want) ++bad;
                  }
                }
                EXPECT(bad == 0, "[%s] gemm m=%zu n=%zu k=%zu a=%d-bit %s (stored %d) b=%d-bit %s (stored %d): %zu wrong",
                       isa->name, s.m, s.n, s.k, ab, encNames[ea], aPlanes, bb, encNames[eb], bPlanes, bad);
              }
            }
          }
        }
      }
    }
    std::printf("%s: %s\n", isa->name, failures == before ? "ok" : "FAILED");
  }

  // Overflow guard: the largest K that is safe for 8x8 unsigned is 33025 (255*255*33025 < 2^31).
  {
    PackedView a{nullptr, 1, 33025, 8, nullptr}, b{nullptr, 1, 33025, 8, nullptr};
    EXPECT(checkGemm({a, b, 8, 8, Encoding::Unsigned, Encoding::Unsigned}).kind == ErrorKind::None, "K=33025 must be allowed");
    a.cols = b.cols = 33026;
    EXPECT(checkGemm({a, b, 8, 8, Encoding::Unsigned, Encoding::Unsigned}).kind == ErrorKind::Range, "K=33026 must be refused");
    EXPECT(checkGemm({a, b, 8, 8, Encoding::Signed, Encoding::Signed}).kind == ErrorKind::None, "signed 8x8 K=33026 fits");
    EXPECT(checkGemm({a, b, 9, 8, Encoding::Signed, Encoding::Signed}).kind == ErrorKind::Range, "aBits 9 must be refused");
    b.cols = 5;
    EXPECT(checkGemm({a, b, 1, 1, Encoding::Signed, Encoding::Signed}).kind == ErrorKind::Range, "K mismatch must be refused");
  }
  // Codes validation.
  {
    std::vector<uint8_t> c = {0, 1, 2, 3, 4};
    EXPECT(findBadCode(c.data(), c.size(), 2) == 4, "code 4 is not a 2-bit code");
    EXPECT(findBadCode(c.data(), c.size(), 3) == SIZE_MAX, "all fit in 3 bits");
  }

  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
