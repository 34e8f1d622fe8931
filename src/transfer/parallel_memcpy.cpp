#include "transfer/parallel_memcpy.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gpumem::detail {
namespace {

// Below this a piece costs more to hand over than to copy.
constexpr std::size_t kMinPiece = std::size_t{256} * 1024;
// How long an idle worker watches for the next piece before it sleeps: chunks of one transfer
// follow each other within microseconds, and a futex wake-up per piece would cost as much.
constexpr std::chrono::microseconds kSpin{50};

void pause() noexcept {
#if defined(__SSE2__)
  _mm_pause();
#endif
}

// Large copies with non-temporal stores: the destination (staging memory, or the caller's
// buffer of a download) is not read into the cache first, which saves a third of the memory
// traffic, and the copy does not evict what the caches hold.
void stream_copy(std::byte* dst, const std::byte* src, std::size_t size) {
#if defined(__SSE2__)
  const std::size_t head =
      std::min(size, (16 - (reinterpret_cast<std::uintptr_t>(dst) & 15)) & std::uintptr_t{15});
  std::memcpy(dst, src, head);
  dst += head;
  src += head;
  size -= head;
  const std::size_t blocks = size / 64;
  for (std::size_t i = 0; i < blocks; ++i, dst += 64, src += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 32));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 48), d);
  }
  _mm_sfence();  // the stores are visible before the piece is reported done
  std::memcpy(dst, src, size % 64);
#else
  std::memcpy(dst, src, size);
#endif
}

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
  queued_count_.store(pieces_.size(), std::memory_order_relaxed);
  lock.unlock();
  stream_copy(piece.dst, piece.src, piece.size);
  const bool last = piece.remaining->fetch_sub(1, std::memory_order_acq_rel) == 1;
  lock.lock();
  if (last) done_.notify_all();
  return true;
}

void ParallelMemcpy::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (run_one(lock)) continue;
    if (stopping_) return;
    lock.unlock();
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (queued_count_.load(std::memory_order_relaxed) == 0 &&
           std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 64; ++i) pause();
    }
    lock.lock();
    queued_.wait(lock, [this] { return stopping_ || !pieces_.empty(); });
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
  queued_count_.store(pieces_.size(), std::memory_order_relaxed);
  lock.unlock();
  queued_.notify_all();
  stream_copy(dst, src, std::min(step, size));
  remaining.fetch_sub(1, std::memory_order_acq_rel);
  lock.lock();
  // Help with whatever is queued (pieces of this copy or of another caller's) until this copy is
  // done; then nothing refers to `remaining` any more.
  while (remaining.load(std::memory_order_acquire) != 0) {
    if (!run_one(lock)) done_.wait(lock);
  }
}

}  // namespace gpumem::detail
