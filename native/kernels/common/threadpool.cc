#include "common/threadpool.h"

#include "common/wait.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace anyprec {
namespace {

// Bounded spins before a passive wait. A futex wake-up costs ~5 us here even on an idle core and up to
// a scheduler slice (ms) on a loaded machine, while the ops of one program follow each other within
// microseconds and most tasks end within tens of microseconds. So a worker that ran out of tasks
// watches for new work for kWorkerSpin before sleeping (an op right after the last one finds it
// awake), and a caller whose last tasks are still running on workers watches for them for
// kCallerSpin before sleeping (it would otherwise give its core away and wait for it back). Both
// yield the core while they watch, so on a busy machine another runnable thread goes first; past
// the bound the waits are passive as before, so an idle pool costs nothing.
// Both bounds are 0 (passive waits): on a 2-vCPU VM whose two busy vCPUs share one core's throughput,
// the watching thread slowed the one doing the work — ResNet-20 at batch 1, 2 threads ÷ 1 thread went
// from 1.09–1.22× with 50/200 µs watches to 0.97–1.03× without (quiet, 2026-12-07). Raise them only
// with a measurement on the machine in question.
constexpr std::chrono::microseconds kWorkerSpin{0};
constexpr std::chrono::microseconds kCallerSpin{0};

// Calls ready() until it is true or `bound` has passed; returns its last answer. Yields between
// checks (a waiting thread never holds a core another thread wants).
template <class Ready>
bool spinUntil(std::chrono::microseconds bound, Ready ready) {
  if (ready()) return true;
  const auto end = std::chrono::steady_clock::now() + bound;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      std::this_thread::yield();
      if (ready()) return true;
    }
    if (std::chrono::steady_clock::now() >= end) return ready();
  }
}

struct Job {
  size_t n = 0;
  int width = 1;
  TaskFn fn;
  DoneFn done;                       // async only
  std::atomic<size_t> next{0};
  std::atomic<size_t> finished{0};
  int joined = 0;                    // threads that took part (guarded by the pool mutex)
  std::mutex errMutex;
  std::exception_ptr error;
  // sync completion
  std::mutex doneMutex;
  std::condition_variable doneCv;
  bool complete = false;
};

class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  void submit(const std::shared_ptr<Job>& job, int workersWanted) {
    if (workersWanted <= 0) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_) < workersWanted && workers_ < kMaxWorkers) {
        std::thread(&Pool::loop, this).detach();
        ++workers_;
      }
      queue_.push_back(job);
      posted_.fetch_add(1, std::memory_order_release);
    }
    if (workersWanted == 1) cv_.notify_one(); else cv_.notify_all();
  }

  // Runs tasks of `job` on this thread until none is left to take.
  static void work(Job& job) {
    for (;;) {
      const size_t t = job.next.fetch_add(1, std::memory_order_relaxed);
      if (t >= job.n) return;
      try {
        job.fn(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(job.errMutex);
        if (!job.error) job.error = std::current_exception();
      }
      if (job.finished.fetch_add(1, std::memory_order_acq_rel) + 1 == job.n) finish(job);
    }
  }

 private:
  static constexpr unsigned kMaxWorkers = 512;

  static void finish(Job& job) {
    if (job.done) {
      std::exception_ptr err;
      {
        std::lock_guard<std::mutex> lock(job.errMutex);
        err = job.error;
      }
      job.done(err);
      return;
    }
    std::lock_guard<std::mutex> lock(job.doneMutex);
    job.complete = true;
    job.doneCv.notify_all();
  }

  // Front-most job that still has tasks and a free seat; drops exhausted jobs.
  std::shared_ptr<Job> pick() {
    for (auto it = queue_.begin(); it != queue_.end();) {
      Job& j = **it;
      if (j.next.load(std::memory_order_relaxed) >= j.n) {
        it = queue_.erase(it);
        continue;
      }
      if (j.joined < j.width) {
        ++j.joined;
        return *it;
      }
      ++it;
    }
    return nullptr;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      std::shared_ptr<Job> job = pick();
      if (!job) {
        // Watch (lock released) for a submit, then take the lock and look; sleep if none came.
        // A job pushed after this look is found by the predicate under the lock (no lost wake-up).
        const uint64_t seen = posted_.load(std::memory_order_acquire);
        lock.unlock();
        spinUntil(kWorkerSpin, [&] { return posted_.load(std::memory_order_acquire) != seen; });
        lock.lock();
        waitUntil(cv_, lock, [&] { return (job = pick()) != nullptr; });
      }
      lock.unlock();
      work(*job);
      job.reset();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::atomic<uint64_t> posted_{0};  // jobs submitted so far (what a watching worker looks at)
  unsigned workers_ = 0;
};

}  // namespace

int hardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void parallelRun(size_t n, int width, const TaskFn& fn) {
  if (n == 0) return;
  width = std::max(1, width);
  if (width == 1 || n == 1) {
    for (size_t t = 0; t < n; ++t) fn(t);
    return;
  }
  auto job = std::make_shared<Job>();
  job->n = n;
  job->width = width - 1;  // pool seats; the caller works too
  job->fn = fn;
  Pool::instance().submit(job, static_cast<int>(std::min<size_t>(n - 1, width - 1)));
  Pool::work(*job);
  // The last tasks may still run on workers: watch for them before sleeping. finished is counted
  // after a task's error is stored (acq_rel), so it is visible once every task is counted.
  if (!spinUntil(kCallerSpin, [&] { return job->finished.load(std::memory_order_acquire) == job->n; })) {
    std::unique_lock<std::mutex> lock(job->doneMutex);
    waitUntil(job->doneCv, lock, [&] { return job->complete; });
  }
  if (job->error) std::rethrow_exception(job->error);
}

void parallelRunAsync(size_t n, int width, TaskFn fn, DoneFn done) {
  width = std::max(1, width);
  if (n == 0) {
    n = 1;  // still complete on a pool thread, never re-entrantly on the caller
    fn = [](size_t) {};
  }
  auto job = std::make_shared<Job>();
  job->n = n;
  job->width = width;
  job->fn = std::move(fn);
  job->done = std::move(done);
  Pool::instance().submit(job, static_cast<int>(std::min<size_t>(n, width)));
}

}  // namespace anyprec
