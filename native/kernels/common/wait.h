// anyprec kernels, common floor: a passive condition-variable wait within the C++ runtime of
// GCC 11 (libstdc++ GLIBCXX_3.4.29: RHEL 9, Amazon Linux 2023) and glibc 2.32.
// Why not cv.wait(lock, ready): built with GCC 12's headers it binds the symbol version
// GLIBCXX_3.4.30 (GCC 12's libstdc++ only). Why not wait_for: on a steady clock the headers call
// pthread_cond_clockwait, which a glibc >= 2.34 link binds at GLIBC_2.34. wait_until on the
// system clock is inline in the headers and calls pthread_cond_timedwait (in every glibc).
// The deadline is only an upper bound on one wait: a wake-up at it (or early, after the clock is
// set) is one more spurious wake-up, which the predicate loop absorbs; notify wakes it as before.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace anyprec {

// Blocks on cv (with `lock` held on entry and on return) until ready() is true; the same contract
// as cv.wait(lock, ready).
template <class Ready>
void waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Ready ready) {
  while (!ready()) cv.wait_until(lock, std::chrono::system_clock::now() + std::chrono::hours(1));
}

}  // namespace anyprec
