// parallel_for() on a process-wide pool of worker threads, started on first use and kept: a fast
// encoder finishes a Kodak image in well under a millisecond on eight threads, where starting
// and joining seven threads per call would cost a good part of that. One call uses the pool at a
// time; a call that finds it busy (encodes from several threads at once) starts its own threads
// as before, so calls never wait on each other.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "bc_encoders.hpp"

namespace gpumem::detail {
namespace {

class WorkerPool {
 public:
  ~WorkerPool() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Runs job() on the calling thread and on up to `helpers` pool threads; returns once every
  // started copy has returned. False (nothing run) when another call holds the pool.
  bool try_run(unsigned helpers, const std::function<void()>& job) {
    const std::unique_lock busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      const std::lock_guard lock(mutex_);
      while (threads_.size() < helpers) threads_.emplace_back([this] { work(); });
      job_ = &job;
      waiting_ = helpers;
    }
    wake_.notify_all();
    job();
    // The caller's copy returns only when no work is left to claim: helpers that have not
    // started yet are not needed; those running finish what they claimed.
    std::unique_lock lock(mutex_);
    waiting_ = 0;
    done_.wait(lock, [this] { return running_ == 0; });
    job_ = nullptr;
    return true;
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stop_ || waiting_ > 0; });
      if (stop_) return;
      --waiting_;
      ++running_;
      const std::function<void()>* job = job_;
      lock.unlock();
      (*job)();
      lock.lock();
      if (--running_ == 0) done_.notify_all();
    }
  }

  std::mutex busy_;  // held by the call using the pool
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void()>* job_ = nullptr;
  unsigned waiting_ = 0;  // helpers asked for that have not picked the job up yet
  unsigned running_ = 0;  // helpers inside the job
  bool stop_ = false;
};

WorkerPool& pool() {
  static WorkerPool kPool;
  return kPool;
}

}  // namespace

void parallel_for(std::size_t count, unsigned threads,
                  const std::function<void(std::size_t, std::size_t)>& body) {
  if (count == 0) return;
  threads = static_cast<unsigned>(std::min<std::size_t>(std::max(1U, threads), count));
  // About 16 chunks per thread: small enough that the last ones to finish leave the others idle
  // only briefly (BC7 blocks differ a lot in cost), large enough that the atomic counter is not
  // contended. Tied to the thread count, so more threads get finer chunks.
  const std::size_t chunk = std::clamp<std::size_t>(count / (std::size_t{threads} * 16), 1, 1024);
  const std::size_t chunks = (count + chunk - 1) / chunk;
  std::atomic<std::size_t> next{0};
  const std::function<void()> worker = [&] {
    for (std::size_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      body(c * chunk, std::min(count, (c + 1) * chunk));
    }
  };
  if (threads == 1) {
    worker();
    return;
  }
  if (pool().try_run(threads - 1, worker)) return;
  std::vector<std::thread> own;
  own.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) own.emplace_back(worker);
  worker();
  for (std::thread& t : own) t.join();
}

}  // namespace gpumem::detail
