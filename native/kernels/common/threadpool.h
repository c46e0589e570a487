// anyprec kernels: a persistent thread pool; its waits watch briefly where that was measured free,
// else they are passive.
// Jobs are lists of independent tasks; each job says how many threads may work on it at once,
// so the pool scales with cores while a one-thread setting stays exactly one thread.
#pragma once
#include <cstddef>
#include <exception>
#include <functional>

namespace anyprec {

using TaskFn = std::function<void(size_t)>;
// Called once on a pool thread after the last task; error is null when every task succeeded.
using DoneFn = std::function<void(std::exception_ptr error)>;

// Runs fn(0..n-1) on the calling thread plus up to width-1 pool threads; returns when all are
// done and rethrows the first exception a task threw.
void parallelRun(size_t n, int width, const TaskFn& fn);

// Runs fn(0..n-1) on up to `width` pool threads without blocking the caller; done() is called
// on the pool thread that finished last.
void parallelRunAsync(size_t n, int width, TaskFn fn, DoneFn done);

// While one lives, idle pool workers keep watching for new work instead of sleeping, where watching
// was measured free (poolWatches): for a program run at > 1 thread, whose split ops come between
// ops on one thread. Keep one only for the length of such a run.
class PoolHold {
 public:
  explicit PoolHold(bool on = true);  // on = false: holds nothing
  ~PoolHold();
  PoolHold(const PoolHold&) = delete;
  PoolHold& operator=(const PoolHold&) = delete;

 private:
  bool on_;
};

// Whether this process's pool watches for work before sleeping (measured once: a thread's compute
// loop runs at full speed beside a watching thread, i.e. they do not share one core).
bool poolWatches();

// Hardware threads of this machine (at least 1).
int hardwareThreads();

}  // namespace anyprec
