#include "transfer/parallel_memcpy.hpp"

#include <algorithm>
#include <cstring>

namespace gpumem::detail {
namespace {

// Below this a piece costs more to hand over than to copy.
constexpr std::size_t kMinPiece = 256 * 1024;

}  // namespace

ParallelMemcpy::ParallelMemcpy(std::uint32_t threads) {
  for (std::uint32_t i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

ParallelMemcpy::~ParallelMemcpy() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  for (std::thread& t : workers_) t.join();
}

bool ParallelMemcpy::run_one(std::unique_lock<std::mutex>& lock) {
  if (pieces_.empty()) return false;
  const Piece piece = pieces_.front();
  pieces_.pop_front();
  lock.unlock();
  std::memcpy(piece.dst, piece.src, piece.size);
  const bool last = piece.remaining->fetch_sub(1, std::memory_order_acq_rel) == 1;
  lock.lock();
  if (last) done_.notify_all();
  return true;
}

void ParallelMemcpy::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    queued_.wait(lock, [this] { return stopping_ || !pieces_.empty(); });
    if (stopping_ && pieces_.empty()) return;
    run_one(lock);
  }
}

void ParallelMemcpy::copy(std::byte* dst, const std::byte* src, std::size_t size) {
  const std::size_t parts =
      std::min<std::size_t>(threads(), std::max<std::size_t>(size / kMinPiece, 1));
  if (parts <= 1) {
    std::memcpy(dst, src, size);
    return;
  }
  // Pieces end on 4 KiB boundaries so that no two threads write one page.
  const std::size_t step = (size / parts + 4095) & ~std::size_t{4095};
  std::atomic<std::size_t> remaining{(size + step - 1) / step};
  std::unique_lock lock(mutex_);
  for (std::size_t offset = step; offset < size; offset += step) {
    pieces_.push_back({dst + offset, src + offset, std::min(step, size - offset), &remaining});
  }
  lock.unlock();
  queued_.notify_all();
  std::memcpy(dst, src, std::min(step, size));
  remaining.fetch_sub(1, std::memory_order_acq_rel);
  lock.lock();
  // Help with whatever is queued (pieces of this copy or of another caller's) until this copy is
  // done; then nothing refers to `remaining` any more.
  while (remaining.load(std::memory_order_acquire) != 0) {
    if (!run_one(lock)) done_.wait(lock);
  }
}

}  // namespace gpumem::detail
