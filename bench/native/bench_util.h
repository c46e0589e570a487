// Helpers shared by the native micro-benchmarks (bench/native/*_bench.cc): option lists, shapes,
// the clock, the median and the float FMA ceiling. Header-only; internal linkage (each bench is
// its own program).
#pragma once
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace anyprec_bench {
namespace {

struct Shape {
  size_t m, k, n;
};

// "a,b,c" -> {"a", "b", "c"}
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t e = s.find(sep, start);
    out.push_back(s.substr(start, e == std::string::npos ? std::string::npos : e - start));
    if (e == std::string::npos) break;
    start = e + 1;
  }
  return out;
}

// The value of a "--key=value" argument when arg starts with key ("--key="), else nullptr.
inline const char* optionValue(const char* arg, const char* key) {
  const size_t n = std::strlen(key);
  return std::strncmp(arg, key, n) == 0 ? arg + n : nullptr;
}

// "MxKxN,MxKxN" -> shapes; false (after a message on stderr) if one is malformed or has a zero.
inline bool parseShapes(const std::string& list, std::vector<Shape>& shapes) {
  shapes.clear();
  for (const auto& s : split(list, ',')) {
    Shape sh{};
    if (std::sscanf(s.c_str(), "%zux%zux%zu", &sh.m, &sh.k, &sh.n) != 3 || !sh.m || !sh.k || !sh.n) {
      std::fprintf(stderr, "bad shape '%s' (expected MxKxN, all positive)\n", s.c_str());
      return false;
    }
    shapes.push_back(sh);
  }
  return true;
}

// Seconds on the calling thread's CPU clock (threadClock: what the kernels really ran, one
// thread) or the monotonic wall clock.
inline double clockSeconds(bool threadClock) {
  timespec ts;
  clock_gettime(threadClock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? NAN : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A float kernel table's FMA ceiling in Gflop/s: its register-only loop (table.ceiling(iters),
// table.ceilingFlops flops per iteration) sized to about 20 ms a run, then the median over `reps`
// runs, on clockSeconds(threadClock).
template <typename FloatTable>
double floatCeilingGflops(const FloatTable& table, int reps, bool threadClock) {
  uint64_t iters = 1 << 16;
  for (;;) {
    const double t0 = clockSeconds(threadClock);
    volatile float sink = table.ceiling(iters);
    (void)sink;
    if (clockSeconds(threadClock) - t0 > 0.02 || iters > (uint64_t{1} << 34)) break;
    iters *= 2;
  }
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    const double t0 = clockSeconds(threadClock);
    volatile float sink = table.ceiling(iters);
    (void)sink;
    rates.push_back(double(iters) * table.ceilingFlops / (clockSeconds(threadClock) - t0) * 1e-9);
  }
  return median(rates);
}

}  // namespace
}  // namespace anyprec_bench
