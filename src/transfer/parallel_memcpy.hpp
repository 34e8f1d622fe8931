// A memcpy that splits large copies over a few worker threads, so the CPU side of a transfer
// (caller bytes into pinned staging memory, or pinned readback memory into caller bytes) keeps up
// with the copy engine: one thread copies 10-20 GB/s, the link moves 50+ GB/s.
//
//   detail::ParallelMemcpy memcpy(4);  // the calling thread and three workers
//   memcpy.copy(staging, data, 8 * gpumem::kMiB);
//
// Thread safety: copy() may be called from several threads at once; their pieces share the
// workers, and a caller helps with queued pieces (its own or others') until its copy is done.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace gpumem::detail {

class ParallelMemcpy {
 public:
  // `threads` counts the calling thread: 1 copies inline with no workers. 0 is taken as 1.
  explicit ParallelMemcpy(std::uint32_t threads);
  ~ParallelMemcpy();
  ParallelMemcpy(const ParallelMemcpy&) = delete;
  ParallelMemcpy& operator=(const ParallelMemcpy&) = delete;

  // Copies `size` bytes (ranges must not overlap); returns when all of them are copied.
  void copy(std::byte* dst, const std::byte* src, std::size_t size);
  std::uint32_t threads() const noexcept { return static_cast<std::uint32_t>(workers_.size()) + 1; }

 private:
  struct Piece {
    std::byte* dst;
    const std::byte* src;
    std::size_t size;
    std::atomic<std::size_t>* remaining;  // pieces of its copy not yet done
  };
  void work();
  bool run_one(std::unique_lock<std::mutex>& lock);  // runs a queued piece, if any

  std::mutex mutex_;
  std::condition_variable queued_;  // pieces queued, or stopping
  std::condition_variable done_;    // a piece finished
  std::deque<Piece> pieces_;
  std::atomic<std::size_t> queued_count_{0};  // pieces_.size(), read by spinning workers
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace gpumem::detail
