// Thread pool: every task runs exactly once, under concurrent sync and async submitters,
// and exceptions reach the caller.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/threadpool.h"

using namespace anyprec;

int main() {
  int failures = 0;
  for (int width : {1, 2, 3, 8}) {
    std::vector<std::atomic<int>> hits(1000);
    parallelRun(hits.size(), width, [&](size_t t) { hits[t]++; });
    for (auto& h : hits) if (h.load() != 1) { ++failures; break; }
  }
  // Concurrent submitters.
  {
    std::vector<std::thread> callers;
    std::atomic<long> total{0};
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&] {
        for (int rep = 0; rep < 50; ++rep) parallelRun(64, 3, [&](size_t t) { total += long(t); });
      });
    }
    for (auto& t : callers) t.join();
    if (total.load() != 4L * 50 * (63 * 64 / 2)) { ++failures; std::fprintf(stderr, "concurrent total wrong\n"); }
  }
  // Async completion.
  {
    std::mutex m;
    std::condition_variable cv;
    int done = 0;
    std::atomic<long> sum{0};
    for (int j = 0; j < 10; ++j) {
      parallelRunAsync(100, 2, [&](size_t t) { sum += long(t); }, [&](std::exception_ptr e) {
        std::lock_guard<std::mutex> l(m);
        if (e) ++failures;
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return done == 10; });
    if (sum.load() != 10L * 4950) { ++failures; std::fprintf(stderr, "async sum wrong\n"); }
  }
  // Errors propagate.
  {
    bool caught = false;
    try {
      parallelRun(10, 2, [](size_t t) { if (t == 7) throw std::runtime_error("boom"); });
    } catch (const std::runtime_error&) { caught = true; }
    if (!caught) { ++failures; std::fprintf(stderr, "exception lost\n"); }
  }
  std::printf("threadpool: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
