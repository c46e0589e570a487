#include "common/threadpool.h"

#include "common/wait.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace anyprec {
namespace {

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
      std::shared_ptr<Job> job;
      waitUntil(cv_, lock, [&] { return (job = pick()) != nullptr; });
      lock.unlock();
      work(*job);
      job.reset();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
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
  {
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
