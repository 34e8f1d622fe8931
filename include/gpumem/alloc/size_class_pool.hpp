// A size-class pool caches released buffers by power-of-two class so that the next request of a
// similar size reuses one instead of calling the driver. A request of n bytes is served from the
// class bit_ceil(n); each class keeps at most max_pooled_per_bucket buffers, and a buffer that
// finds its class full goes back to the caller (or to the release callback) to be really freed.
// It is generic over the buffer: a GPU buffer handle, a pinned host allocation, a test struct.
//
//   gpumem::SizeClassPool<DeviceBuffer> pool({.max_pooled_per_bucket = 8},
//                                            [&](DeviceBuffer&& b) { device.destroy(b); });
//   gpumem::PooledBuffer<DeviceBuffer> buf =
//       pool.acquire(bytes, [&](std::uint64_t capacity) { return device.create(capacity); });
//   auto shared = buf;  // both hold it; the last one dropped returns it to the pool
//
// Or without reference counting: try_get(size) and, when done, return_buffer(capacity, buffer),
// which hands the buffer back when its class is full.
//
// Size 0 (or above 2^63, which has no power-of-two class) throws InvalidArgument.
//
// Thread safety: every SizeClassPool member may be called from several threads at once (a mutex
// and counters per class). PooledBuffer is like std::shared_ptr: distinct copies may be used
// and dropped on different threads; access to the shared buffer itself is the holders' business.
// The release callback runs with no lock held and must not throw. The pool may be destroyed
// while PooledBuffers are out: they then release their buffer when the last copy drops.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpumem/core/error.hpp"

namespace gpumem {

// The capacity of the class that serves `size`: the next power of two.
inline std::uint64_t size_class_of(std::uint64_t size) {
  if (size == 0 || size > (std::uint64_t{1} << 63)) {
    throw InvalidArgument("size_class_of: size " + std::to_string(size) +
                          " has no power-of-two class (1..2^63)");
  }
  return std::bit_ceil(size);
}

struct SizeClassPoolOptions {
  std::size_t max_pooled_per_bucket = 8;
};

struct SizeClassPoolStatistics {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t pooled_returns = 0;    // buffers taken back into a class
  std::uint64_t rejected_returns = 0;  // buffers turned away because their class was full
  std::uint64_t pooled_count = 0;      // buffers cached now
  std::uint64_t pooled_bytes = 0;      // their capacities summed
  double hit_rate = 0.0;               // hits / (hits + misses); 0 before any request
};

namespace detail {

// The pool's state, shared with every PooledBuffer so a buffer can find its way back after the
// SizeClassPool object itself is gone.
template <typename Buffer>
class SizeClassPoolCore {
 public:
  using Release = std::function<void(Buffer&&)>;

  SizeClassPoolCore(SizeClassPoolOptions options, Release release)
      : options_(options), release_(std::move(release)) {}
  ~SizeClassPoolCore() { drain(); }
  SizeClassPoolCore(const SizeClassPoolCore&) = delete;
  SizeClassPoolCore& operator=(const SizeClassPoolCore&) = delete;

  std::optional<Buffer> try_get(std::uint64_t size) {
    Bucket& bucket = buckets_[static_cast<std::size_t>(std::countr_zero(size_class_of(size)))];
    std::unique_lock lock(bucket.mutex);
    if (bucket.cached.empty()) {
      bucket.misses.add(1);
      return std::nullopt;
    }
    Cached cached = std::move(bucket.cached.back());
    bucket.cached.pop_back();
    bucket.hits.add(1);
    bucket.pooled_count.sub(1);
    bucket.pooled_bytes.sub(cached.capacity);
    lock.unlock();
    return std::move(cached.buffer);
  }

  // A buffer of `capacity` bytes serves every request up to that, so it is filed under the
  // largest class not above it. Hands the buffer back when that class is full.
  std::optional<Buffer> put_back(std::uint64_t capacity, Buffer&& buffer) {
    if (capacity == 0) throw InvalidArgument("SizeClassPool::return_buffer: capacity 0");
    Bucket& bucket = buckets_[static_cast<std::size_t>(std::bit_width(capacity) - 1)];
    std::lock_guard lock(bucket.mutex);
    if (!closed_.load(std::memory_order_relaxed) &&
        bucket.cached.size() < options_.max_pooled_per_bucket) {
      // Reserved once, so steady-state returns never allocate.
      if (bucket.cached.capacity() == 0) bucket.cached.reserve(options_.max_pooled_per_bucket);
      bucket.cached.push_back(Cached{capacity, std::move(buffer)});
      bucket.pooled_returns.add(1);
      bucket.pooled_count.add(1);
      bucket.pooled_bytes.add(capacity);
      return std::nullopt;
    }
    bucket.rejected_returns.add(1);
    return std::optional<Buffer>(std::move(buffer));
  }

  void release(Buffer&& buffer) {
    if (release_) release_(std::move(buffer));
  }

  // Releases every cached buffer, outside the class locks.
  void drain() {
    for (Bucket& bucket : buckets_) {
      std::vector<Cached> taken;
      {
        std::lock_guard lock(bucket.mutex);
        taken.swap(bucket.cached);
        bucket.pooled_count.sub(bucket.pooled_count.get());
        bucket.pooled_bytes.sub(bucket.pooled_bytes.get());
      }
      for (Cached& cached : taken) release(std::move(cached.buffer));
    }
  }

  // The owning SizeClassPool is gone: nothing more is cached. Each put_back reads the flag under
  // its class lock, and drain() takes every class lock after the store, so no buffer is cached
  // after the drain.
  void close() {
    closed_.store(true, std::memory_order_relaxed);
    drain();
  }

  SizeClassPoolStatistics statistics() const {
    SizeClassPoolStatistics s;
    for (const Bucket& bucket : buckets_) {
      s.hits += bucket.hits.get();
      s.misses += bucket.misses.get();
      s.pooled_returns += bucket.pooled_returns.get();
      s.rejected_returns += bucket.rejected_returns.get();
      s.pooled_count += bucket.pooled_count.get();
      s.pooled_bytes += bucket.pooled_bytes.get();
    }
    if (s.hits + s.misses != 0) {
      s.hit_rate = static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses);
    }
    return s;
  }

  const SizeClassPoolOptions& options() const noexcept { return options_; }

 private:
  struct Cached {
    std::uint64_t capacity;
    Buffer buffer;
  };
  // Changed only under its class lock, read by statistics() without it. Atomic so that read is
  // defined; updated with a plain load and store because the lock already serialises writers,
  // which keeps locked read-modify-write instructions off the hit path.
  class Counter {
   public:
    void add(std::uint64_t n) noexcept { value_.store(get() + n, std::memory_order_relaxed); }
    void sub(std::uint64_t n) noexcept { value_.store(get() - n, std::memory_order_relaxed); }
    std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

   private:
    std::atomic<std::uint64_t> value_{0};
  };
  // One cache line or two per class, so threads working on different classes do not contend.
  struct alignas(64) Bucket {
    std::mutex mutex;
    std::vector<Cached> cached;
    Counter hits, misses, pooled_returns, rejected_returns, pooled_count, pooled_bytes;
  };

  const SizeClassPoolOptions options_;
  const Release release_;
  std::array<Bucket, 64> buckets_;  // class 2^i lives in buckets_[i]
  std::atomic<bool> closed_{false};
};

}  // namespace detail

template <typename Buffer>
class SizeClassPool;

// A reference-counted hold on a buffer from a SizeClassPool; the last copy dropped returns the
// buffer to the pool (or releases it when its class is full or the pool is gone).
template <typename Buffer>
class PooledBuffer {
 public:
  PooledBuffer() = default;
  PooledBuffer(const PooledBuffer& other) noexcept : shared_(other.shared_) {
    if (shared_ != nullptr) shared_->references.fetch_add(1, std::memory_order_relaxed);
  }
  PooledBuffer(PooledBuffer&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
  PooledBuffer& operator=(PooledBuffer other) noexcept {
    std::swap(shared_, other.shared_);
    return *this;
  }
  ~PooledBuffer() { reset(); }

  // Drops this hold (and returns the buffer if it was the last one).
  void reset() noexcept {
    Shared* shared = std::exchange(shared_, nullptr);
    // acq_rel: the last holder must see every other holder's writes before the buffer moves on.
    if (shared == nullptr || shared->references.fetch_sub(1, std::memory_order_acq_rel) != 1) {
      return;
    }
    std::shared_ptr<detail::SizeClassPoolCore<Buffer>> core = std::move(shared->core);
    std::optional<Buffer> rejected = core->put_back(shared->capacity, std::move(shared->buffer));
    delete shared;
    if (rejected) core->release(std::move(*rejected));
  }

  Buffer& operator*() const noexcept { return shared_->buffer; }
  Buffer* operator->() const noexcept { return &shared_->buffer; }
  std::uint64_t capacity() const noexcept { return shared_ == nullptr ? 0 : shared_->capacity; }
  // Holders at the moment of the call; exact only when no other thread copies or drops.
  std::uint32_t use_count() const noexcept {
    return shared_ == nullptr ? 0 : shared_->references.load(std::memory_order_relaxed);
  }
  explicit operator bool() const noexcept { return shared_ != nullptr; }

 private:
  friend class SizeClassPool<Buffer>;
  // One allocation per handed-out buffer holds the count, the buffer and the way home.
  struct Shared {
    std::atomic<std::uint32_t> references{1};
    std::uint64_t capacity = 0;
    Buffer buffer;
    std::shared_ptr<detail::SizeClassPoolCore<Buffer>> core;
  };
  explicit PooledBuffer(Shared* shared) noexcept : shared_(shared) {}

  Shared* shared_ = nullptr;
};

template <typename Buffer>
class SizeClassPool {
 public:
  // Really frees a buffer the pool gives up (class full when a PooledBuffer drops, trim(), the
  // pool's end). Empty: the buffer is simply destroyed, which suits RAII buffer types.
  using Release = std::function<void(Buffer&&)>;

  explicit SizeClassPool(SizeClassPoolOptions options = {}, Release release = {})
      : core_(std::make_shared<detail::SizeClassPoolCore<Buffer>>(options, std::move(release))) {}
  ~SizeClassPool() { core_->close(); }
  SizeClassPool(const SizeClassPool&) = delete;
  SizeClassPool& operator=(const SizeClassPool&) = delete;

  // The capacity a buffer made for a request of `size` should have: bit_ceil(size).
  static std::uint64_t class_size(std::uint64_t size) { return size_class_of(size); }

  // A cached buffer of at least class_size(size) bytes (a hit), or empty (a miss).
  std::optional<Buffer> try_get(std::uint64_t size) { return core_->try_get(size); }

  // Caches a buffer that holds `capacity` bytes. Empty when it was taken; otherwise the buffer
  // comes back because its class is full, and the caller frees it.
  [[nodiscard]] std::optional<Buffer> return_buffer(std::uint64_t capacity, Buffer buffer) {
    return core_->put_back(capacity, std::move(buffer));
  }

  // A cached buffer for `size`, or make(class_size(size)) on a miss, held by a PooledBuffer.
  template <typename Make>
  PooledBuffer<Buffer> acquire(std::uint64_t size, Make&& make) {
    const std::uint64_t capacity = class_size(size);
    std::optional<Buffer> buffer = core_->try_get(size);
    if (!buffer) return share(capacity, std::forward<Make>(make)(capacity));
    return share(capacity, std::move(*buffer));
  }

  // Puts a buffer the caller already has under reference counting, returning here at the end.
  PooledBuffer<Buffer> share(std::uint64_t capacity, Buffer buffer) {
    if (capacity == 0) throw InvalidArgument("SizeClassPool::share: capacity 0");
    using Shared = typename PooledBuffer<Buffer>::Shared;
    auto* shared = new Shared{{1}, capacity, std::move(buffer), core_};
    return PooledBuffer<Buffer>(shared);
  }

  // Releases every cached buffer (under memory pressure, say).
  void trim() { core_->drain(); }

  SizeClassPoolStatistics statistics() const { return core_->statistics(); }
  const SizeClassPoolOptions& options() const noexcept { return core_->options(); }

 private:
  std::shared_ptr<detail::SizeClassPoolCore<Buffer>> core_;
};

}  // namespace gpumem
