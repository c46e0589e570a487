#include "common/threadpool.h"

#include "common/wait.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace anyprec {
namespace {

// Watching instead of sleeping. A futex wake-up of an idle worker costs ~5 us on an idle bare-metal
// core, but 20-60 us on a VM whose idle vCPU has halted (measured on a 2-vCPU Zen 3 VM, 2026-12-07:
// 2 tasks of 20 us took 32 us on 2 threads after a passive wait, 11 us with the worker watching),
// while the ops of one program follow each other within microseconds and most of their tasks end
// within tens of microseconds. So, where watching is free:
//  - a worker that ran out of tasks watches for new work for kWorkerSpin before sleeping, and for
//    as long as a PoolHold lives (the runner holds the pool for one program run at > 1 thread, so
//    the ops that run on one thread between two split ones do not put the worker to sleep);
//  - a caller whose last tasks are still running on workers watches for them for kCallerSpin.
// Watchers yield the core between looks (another runnable thread goes first); past the bound and
// without a hold the waits are passive, so an idle pool costs nothing.
// Watching is not free where two hardware threads share one core's throughput (SMT siblings, or a
// VM whose two vCPUs share one core): there the watcher slowed the thread doing the work —
// ResNet-20 at batch 1, 2 threads ÷ 1 thread went from 1.09-1.22x with 50/200 us watches to
// 0.97-1.03x without (2026-12-07). So whether to watch is measured once per process, before the
// pool's first worker starts (watchIsFree): a thread's compute loop alone and beside a watcher.
constexpr std::chrono::microseconds kWorkerSpin{50};
constexpr std::chrono::microseconds kCallerSpin{200};
// The compute loop may run at most this much slower beside a watcher for watching to count as free:
// on separate cores it runs within a few percent (clock boost), on one shared core far slower.
constexpr double kWatchSlowdown = 1.10;
constexpr int kWatchTries = 3;

std::atomic<int> holds{0};  // live PoolHolds

// One timing of a compute loop of ~100 us (a dependent multiply-add chain over an L1 array),
// in ns.
double computeSample() {
  static thread_local uint64_t data[512];
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  const auto t0 = std::chrono::steady_clock::now();
  for (int rep = 0; rep < 128; ++rep)
    for (int i = 0; i < 512; ++i) {
      x = x * 6364136223846793005ULL + data[i];
      data[i] = x >> 7;
    }
  const auto t1 = std::chrono::steady_clock::now();
  static std::atomic<uint64_t> sink{0};
  sink.fetch_add(x, std::memory_order_relaxed);
  return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

// Whether a thread that watches (yields and looks, as the pool's waits do) leaves a thread that
// computes at full speed: the fastest of 5 compute samples alone against the fastest of 5 beside
// a watcher, interleaved (~2 ms, once). A busy machine tends to answer "not free": passive waits.
bool measureWatchIsFree() {
  if (std::thread::hardware_concurrency() < 2) return false;
  double alone = 1e30, watched = 1e30;
  try {
    for (int round = 0; round < 5; ++round) {
      alone = std::min(alone, computeSample());
      std::atomic<bool> stop{false}, started{false};
      std::thread watcher([&] {
        started.store(true, std::memory_order_release);
        while (!stop.load(std::memory_order_acquire)) std::this_thread::yield();
      });
      while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
      watched = std::min(watched, computeSample());
      stop.store(true, std::memory_order_release);
      watcher.join();
    }
  } catch (...) {
    return false;  // no thread: no pool worker either
  }
  return watched <= alone * kWatchSlowdown;
}

// ANYPREC_POOL_WATCH=0 / 1 overrides the measurement (never / always watch): for a machine where
// it misjudges, and to test both kinds of wait on one machine.
bool watchIsFree() {
  static const bool free = [] {
    const char* env = std::getenv("ANYPREC_POOL_WATCH");
    if (env != nullptr && (env[0] == '0' || env[0] == '1') && env[1] == '\0') return env[0] == '1';
    // A shared core slows every watched sample of every try; a one-off disturbance (a timer tick,
    // another process, a vCPU the host is waking) spoils one try. Seen on a 2-vCPU Zen 3 VM with
    // nothing else running: 1 process in 12 measured "not free" (then every hand-off waits 8-80 us
    // for a sleeping worker instead of ~1 us). So "not free" must hold on kWatchTries tries in a row.
    for (int i = 0; i < kWatchTries; ++i)
      if (measureWatchIsFree()) return true;
    return false;
  }();
  return free;
}

// Calls ready() until it is true, or `bound` has passed and no PoolHold lives (heldToo), or at once
// where watching is not free; returns its last answer. Yields between checks.
template <class Ready>
bool spinUntil(std::chrono::microseconds bound, bool heldToo, Ready ready) {
  if (ready()) return true;
  if (!watchIsFree()) return false;
  const auto end = std::chrono::steady_clock::now() + bound;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      std::this_thread::yield();
      if (ready()) return true;
    }
    if (heldToo && holds.load(std::memory_order_acquire) > 0) continue;
    if (std::chrono::steady_clock::now() >= end) return ready();
  }
}

struct Job {
  size_t n = 0;
  int width = 1;
  TaskFn fn;
  DoneFn done;                       // async only
  // Tasks not yet taken: [front, back), packed as front << 32 | back (n < 2^32 tasks; larger jobs
  // take from the front only, through `next`). See Pool::take.
  std::atomic<uint64_t> span{0};
  std::atomic<size_t> next{0};
  bool twoEnded = false;
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

  Pool() { watchIsFree(); }  // measured before any worker runs

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

  // Where a sync job's tasks go. The caller takes them from the front, the pool's workers from the
  // back: split ops of one program then give the caller the same (first) part of their rows op
  // after op, and a worker the same last part, so an op reads mostly what the same core wrote in
  // the op before, instead of half of it from the other core's cache (at batch 1 a program's
  // buffers are a few KB to a few hundred KB, and moving them between cores cost more than the
  // split saved). Any task still goes to whoever is free first: no thread waits on a late one.
  static bool take(Job& job, bool fromBack, size_t* task) {
    if (!job.twoEnded) {
      *task = job.next.fetch_add(1, std::memory_order_relaxed);
      return *task < job.n;
    }
    uint64_t cur = job.span.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = cur >> 32, b = cur & 0xFFFFFFFFu;
      if (f >= b) return false;
      const uint64_t want = fromBack ? (f << 32 | (b - 1)) : ((f + 1) << 32 | b);
      if (job.span.compare_exchange_weak(cur, want, std::memory_order_relaxed)) {
        *task = static_cast<size_t>(fromBack ? b - 1 : f);
        return true;
      }
    }
  }

  static bool exhausted(const Job& job) {
    if (!job.twoEnded) return job.next.load(std::memory_order_relaxed) >= job.n;
    const uint64_t cur = job.span.load(std::memory_order_relaxed);
    return (cur >> 32) >= (cur & 0xFFFFFFFFu);
  }

  // Runs tasks of `job` on this thread until none is left to take.
  static void work(Job& job, bool fromBack) {
    for (;;) {
      size_t t;
      if (!take(job, fromBack, &t)) return;
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
      if (exhausted(j)) {
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
        spinUntil(kWorkerSpin, true, [&] { return posted_.load(std::memory_order_acquire) != seen; });
        lock.lock();
        // A hold's start (wakeForHold) wakes a sleeping worker too: it watches again.
        waitUntil(cv_, lock, [&] {
          job = pick();
          return job != nullptr || (holds.load(std::memory_order_acquire) > 0 && watchIsFree());
        });
        if (!job) continue;
      }
      lock.unlock();
      work(*job, true);
      job.reset();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;

 public:
  // Wakes the sleeping workers to watch (a hold started): their 20-60 us wake-up then overlaps the
  // run's first ops instead of delaying its first split op.
  void wakeForHold() {
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }

 private:
  std::deque<std::shared_ptr<Job>> queue_;
  std::atomic<uint64_t> posted_{0};  // jobs submitted so far (what a watching worker looks at)
  unsigned workers_ = 0;
};

}  // namespace

PoolHold::PoolHold(bool on) : on_(on) {
  if (on_ && holds.fetch_add(1, std::memory_order_acq_rel) == 0 && watchIsFree()) Pool::instance().wakeForHold();
}
PoolHold::~PoolHold() {
  if (on_) holds.fetch_sub(1, std::memory_order_acq_rel);
}

bool poolWatches() { return watchIsFree(); }

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
  if (n <= 0xFFFFFFFFu) {
    job->twoEnded = true;
    job->span.store(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  Pool::instance().submit(job, static_cast<int>(std::min<size_t>(n - 1, width - 1)));
  Pool::work(*job, false);
  // The last tasks may still run on workers: watch for them before sleeping. finished is counted
  // after a task's error is stored (acq_rel), so it is visible once every task is counted.
  if (!spinUntil(kCallerSpin, false, [&] { return job->finished.load(std::memory_order_acquire) == job->n; })) {
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
