// Native micro-benchmark of a low-bit convolution's phases, per ISA this CPU runs (a tuning tool,
// not a test): the lowering + packing of the input (packConvInput), then the bit-serial GEMM with
// an Int32 output (the popcount core and the exact finish) and with the Codes epilogue the
// networks use (scale, shift, quantiser), one thread. Activations unsigned, weights bipolar, as
// the networks' qconv2d layers. Times are the median of --reps repetitions on the thread's CPU
// clock; "share" columns split packConvInput + GEMM(codes).
//
//   bitconv_bench [--isa=NAME] [--bits=1,2] [--reps=N] [--batch=1,64] [--layer=SUBSTRING] [--min]
// (--min: the fastest repetition instead of the median)
// (built by CMakeLists.txt as build-native/bitconv_bench; by hand: g++ -O2 -std=c++17 -Inative/kernels -Ibench/native bench/native/bitconv_bench.cc
//  build-native/libanyprec_kernels.a -lpthread -o build-native/bitconv_bench)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels.h"

using namespace anyprec;
using namespace anyprec_bench;

namespace {

struct Layer {
  const char* name;
  size_t h, w, c, oc;
};

// The qconv2d layers of the benchmarked networks (3x3, stride 1, padding 1).
const Layer kLayers[] = {
    {"conv 64->64 32x32", 32, 32, 64, 64}, {"cnn conv1 32->64 28x28", 28, 28, 32, 64},
    {"cnn conv2 64->64 14x14", 14, 14, 64, 64}, {"r20 16->16 32x32", 32, 32, 16, 16},
    {"r20 32->32 16x16", 16, 16, 32, 32}, {"r20 64->64 8x8", 8, 8, 64, 64},
};

std::vector<int> intList(const char* s) {
  std::vector<int> v;
  while (*s) {
    v.push_back(std::atoi(s));
    const char* c = std::strchr(s, ',');
    if (!c) break;
    s = c + 1;
  }
  return v;
}

bool gMin = false;

template <class F>
double timeMedian(int reps, F&& f) {
  std::vector<double> t;
  f();  // warm
  for (int i = 0; i < reps; ++i) {
    const double t0 = clockSeconds(true);
    f();
    t.push_back(clockSeconds(true) - t0);
  }
  return gMin ? *std::min_element(t.begin(), t.end()) : median(t);
}

}  // namespace

int main(int argc, char** argv) {
  std::string isaName, only;
  std::vector<int> bitsList = {1, 2}, batches = {1, 64};
  int reps = 21;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!std::strncmp(a, "--isa=", 6)) isaName = a + 6;
    else if (!std::strncmp(a, "--bits=", 7)) bitsList = intList(a + 7);
    else if (!std::strncmp(a, "--batch=", 8)) batches = intList(a + 8);
    else if (!std::strncmp(a, "--reps=", 7)) reps = std::atoi(a + 7);
    else if (!std::strncmp(a, "--layer=", 8)) only = a + 8;
    else if (!std::strcmp(a, "--min")) gMin = true;
  }
  std::mt19937_64 rng(7);
  for (const Platform* p : availablePlatforms()) {
    if (!isaName.empty() && isaName != p->name) continue;
    if (isaName.empty() && p != availablePlatforms().back() && availablePlatforms().size() > 1 &&
        std::string(p->name) == "scalar")
      continue;
    std::printf("ISA %s\n", p->name);
    std::printf("%-24s %5s %4s %10s %10s %10s %10s %7s %7s\n", "layer", "batch", "bits", "pack ms", "gemm32 ms",
                "gemmQ ms", "total ms", "pack%", "epi%");
    for (const Layer& L : kLayers) {
      if (!only.empty() && std::string(L.name).find(only) == std::string::npos) continue;
      for (int batch : batches) {
        for (int bits : bitsList) {
          ConvShape s{static_cast<size_t>(batch), L.h, L.w, L.c, 3, 3, 1, 1, 1, 1, 1, 1};
          const size_t m = s.rows(), k = s.k(), n = L.oc;
          std::vector<uint8_t> x(s.inputCount());
          for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
          std::vector<uint8_t> wc(n * k);
          for (auto& v : wc) v = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
          std::vector<uint64_t> a(packedWords(m, k, bits)), b(packedWords(n, k, bits));
          std::vector<int32_t> aPop(m * bits), bPop(n * bits);
          pack(*p, wc.data(), n, k, bits, b.data(), bPop.data(), 1);
          std::vector<float> scale(n), shift(n);
          for (size_t j = 0; j < n; ++j) {
            scale[j] = 0.01f + 0.001f * static_cast<float>(j % 7);
            shift[j] = 0.5f;
          }
          GemmSpec spec{{a.data(), m, k, bits, aPop.data()}, {b.data(), n, k, bits, bPop.data()}, bits, bits,
                        Encoding::Unsigned, Encoding::Bipolar};
          std::vector<int32_t> c32(m * n);
          std::vector<uint8_t> cq(m * n);
          Epilogue q;
          q.kind = OutputKind::Codes;
          q.scale = scale.data();
          q.shift = shift.data();
          q.codeBits = bits;
          const double tp = timeMedian(reps, [&] { packConvInput(*p, x.data(), s, bits, a.data(), aPop.data(), 1); });
          const double t32 = timeMedian(reps, [&] { bitGemm(*p, spec, c32.data(), 1); });
          const double tq = timeMedian(reps, [&] { bitGemm(*p, spec, cq.data(), q, 1); });
          const double tot = tp + tq;
          std::printf("%-24s %5d %4d %10.4f %10.4f %10.4f %10.4f %6.1f%% %6.1f%%\n", L.name, batch, bits, tp * 1e3,
                      t32 * 1e3, tq * 1e3, tot * 1e3, 100 * tp / tot, 100 * (tq - t32) / tot);
        }
      }
    }
  }
  return 0;
}
