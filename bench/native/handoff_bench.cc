// What a parallelRun hand-off costs on this machine: a job of `tasks` tasks of ~`us` microseconds of
// register-only work each, on 1 and 2 (or --threads) threads, with the pool held (workers watching
// between jobs where poolWatches(), as during a program run) and without (workers may sleep
// between jobs; a gap of --gap microseconds between jobs lets them). Prints medians of --reps jobs
// and (split - one/threads): the hand-off's cost beside ideal scaling.
//   handoff_bench [--threads=2] [--reps=2000] [--gap=0]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "common/threadpool.h"

namespace {

volatile uint64_t sink;

// ~n ns of dependent multiply-adds (calibrated below).
void spin(uint64_t iters) {
  uint64_t x = iters | 1;
  for (uint64_t i = 0; i < iters; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  sink = x;
}

double nowUs() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 2000;
  double gap = 0;
  for (int i = 1; i < argc; ++i) {
    if (const char* v = anyprec_bench::optionValue(argv[i], "--threads=")) threads = std::atoi(v);
    if (const char* v = anyprec_bench::optionValue(argv[i], "--reps=")) reps = std::atoi(v);
    if (const char* v = anyprec_bench::optionValue(argv[i], "--gap=")) gap = std::atof(v);
  }
  // iterations per microsecond
  double t0 = nowUs();
  spin(20000000);
  const double perUs = 20000000 / (nowUs() - t0);
  std::printf("pool watches: %s; %d threads; gap %.0f us\n", anyprec::poolWatches() ? "yes" : "no", threads, gap);
  std::printf("%8s %6s %5s %12s %12s %12s\n", "task_us", "tasks", "held", "1t_us", "split_us", "overhead_us");
  for (double us : {0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0})
    for (size_t tasks : {size_t{2}, size_t{8}})
      for (int held = 0; held < 2; ++held) {
        const anyprec::PoolHold hold(held == 1);
        const uint64_t iters = static_cast<uint64_t>(us * perUs);
        std::vector<double> one, many;
        for (int r = 0; r < reps; ++r)
          for (int w : {1, threads}) {
            if (gap > 0) {
              const double end = nowUs() + gap;
              while (nowUs() < end) {}
            }
            const double a = nowUs();
            anyprec::parallelRun(tasks, w, [&](size_t) { spin(iters); });
            (w == 1 ? one : many).push_back(nowUs() - a);
          }
        const double m1 = anyprec_bench::median(one), mn = anyprec_bench::median(many);
        const double ideal = m1 / std::min<double>(threads, tasks);
        std::printf("%8.0f %6zu %5d %12.2f %12.2f %12.2f\n", us, tasks, held, m1, mn, mn - ideal);
      }
  return 0;
}
