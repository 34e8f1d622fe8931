#include "gpumem/memory/stream_ordered_allocator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/block_pool_allocator.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"

namespace gpumem {
namespace {

// Retries asked for by callbacks, per request: a callback that always says "try again" without
// freeing anything must not hang the program.
constexpr int kMaxCallbackRounds = 16;

const StreamAllocatorOptions& checked(const StreamAllocatorOptions& o) {
  if (!is_power_of_two(o.alignment)) {
    throw InvalidArgument(
        fmt::format("StreamAllocatorOptions: alignment {} is not a power of two", o.alignment));
  }
  return o;
}

}  // namespace

StreamOrderedAllocator::StreamOrderedAllocator(HeapGovernor& governor, StreamOrdering& ordering,
                                               StreamAllocatorOptions options)
    : governor_(governor), ordering_(ordering), options_(checked(options)) {
  using Backing = StreamAllocatorOptions::Backing;
  const bool maps_pages = governor.device().virtual_memory() != nullptr;
  if (options_.backing == Backing::Arena || (options_.backing == Backing::Auto && maps_pages)) {
    ArenaOptions arena = arena_options(governor, options_);
    arena.before_unmap = [this] { wait_for_frees(); };
    backing_ = std::make_unique<PageArenaAllocator>(governor, arena);
  } else {
    backing_ = std::make_unique<BlockPoolAllocator>(governor, pool_options(options_));
  }
}

ArenaOptions StreamOrderedAllocator::arena_options(HeapGovernor& governor,
                                                   const StreamAllocatorOptions& options) {
  ArenaOptions arena;
  // The arena bounds its cache as a fraction of the heap.
  arena.max_cached_fraction =
      std::min(1.0, static_cast<double>(options.release_threshold) /
                        static_cast<double>(std::max<std::uint64_t>(governor.heap().size, 1)));
  arena.idle_slack_fraction = options.idle_slack_fraction;
  // Without virtual memory the arena refuses to be made, naming the device.
  if (const VirtualMemory* vm = governor.device().virtual_memory(); vm != nullptr) {
    arena.max_piece_pages =
        std::max<std::uint64_t>(1, options.max_piece_bytes / vm->page_size(governor.heap().index));
  }
  return arena;
}

PoolOptions StreamOrderedAllocator::pool_options(const StreamAllocatorOptions& options) {
  PoolOptions pool;
  // Keep empty blocks up to the threshold (a block pool caches whole blocks, not bytes).
  pool.max_empty_bytes = std::max<std::uint64_t>(options.release_threshold, 1);
  pool.max_empty_blocks = options.release_threshold == 0 ? 0 : UINT32_MAX;
  return pool;
}

StreamOrderedAllocator::~StreamOrderedAllocator() {
  try {
    wait_for_frees();
    // What is still live may still be in use on any stream.
    if (!live_.empty()) {
      ordering_.synchronize_device();
      synchronizations_.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    log_message(LogLevel::Error,
                fmt::format("stream-ordered allocator of heap '{}': synchronising before "
                            "giving memory back failed: {}",
                            governor_.heap().name, e.what()));
  }
  live_.for_each([&](std::uint64_t address, const Live& live) {
    backing_->deallocate(live.placement(address, governor_.heap().index));
  });
  if (!live_.empty()) {
    log_message(LogLevel::Warning,
                fmt::format("stream-ordered allocator of heap '{}' destroyed with {} "
                            "allocation(s) still live; their memory is given back with it",
                            governor_.heap().name, live_.size()));
  }
  backing_.reset();
  for (const Stream& s : streams_) ordering_.destroy_event(s.event);
}

static_assert(sizeof(Placement::token) == 3 * sizeof(std::uint64_t));

std::uint64_t StreamOrderedAllocator::this_thread_number() noexcept {
  static std::atomic<std::uint64_t> next{1};
  thread_local const std::uint64_t number = next.fetch_add(1, std::memory_order_relaxed);
  return number;
}

void StreamOrderedAllocator::throw_unrecordable(const Placement& p) const {
  throw Error(
      fmt::format("stream-ordered allocator of heap '{}': its {} placed an allocation on "
                  "heap {} (or with a refusal), which its pointer table cannot hold",
                  governor_.heap().name, backing_->name(), p.block.heap));
}

Placement StreamOrderedAllocator::try_place(std::uint64_t bytes) {
  return backing_->allocate(bytes, options_.alignment, /*movable=*/false);
}

void* StreamOrderedAllocator::allocate(std::uint64_t bytes, StreamHandle stream) {
  if (bytes == 0) return nullptr;
  Placement p = try_place(bytes);
  if (!p) {
    // What the cache holds may be enough once given back (the arena already reuses its cached
    // pages, the pool its empty blocks, but neither frees them for a request that needs more).
    trim();
    p = try_place(bytes);
  }
  for (int round = 0; !p && round < kMaxCallbackRounds; ++round) {
    std::vector<OutOfMemoryCallback> callbacks;
    {
      std::lock_guard lock(callbacks_mutex_);
      callbacks = callbacks_;
    }
    const MemoryFacts f = facts(bytes);
    bool retry = false;
    for (const OutOfMemoryCallback& callback : callbacks) retry = callback(f) || retry;
    if (!retry) break;
    {
      std::lock_guard lock(mutex_);
      ++oom_retries_;
    }
    trim();
    p = try_place(bytes);
  }
  if (!p) {
    governor_.metrics().count(MetricsRecorder::Event::OutOfMemory);
    throw OutOfMemory(facts(bytes),
                      fmt::format("{} reserved, {} live, largest free range {} ({}; refused by "
                                  "the {})",
                                  format_bytes(backing_->stats().reserved_bytes),
                                  format_bytes(backing_->stats().live_bytes),
                                  format_bytes(backing_->largest_free_range()), backing_->name(),
                                  to_string(p.refusal)));
  }
  const std::uint64_t address = p.address();
  try {
    if (p.block.heap != governor_.heap().index || p.refusal != GrowthRefusal::None) {
      throw_unrecordable(p);
    }
    const Live live = Live::of(p, bytes);
    std::lock_guard lock(mutex_);
    const std::size_t s = stream_index(stream);
    if (streams_.size() > 1) order_after_frees(s);
    live_.insert(address, live);
  } catch (...) {
    backing_->deallocate(p);
    throw;
  }
  governor_.metrics().on_allocate(governor_.heap().index, options_.category, bytes);
  return reinterpret_cast<void*>(address);
}

void StreamOrderedAllocator::deallocate(void* ptr, std::uint64_t bytes, StreamHandle stream) {
  if (ptr == nullptr) return;
  const auto address = reinterpret_cast<std::uint64_t>(ptr);
  Live freed;
  {
    std::lock_guard lock(mutex_);
    const Live* live = live_.find(address);
    if (live == nullptr) {
      throw InvalidArgument(
          fmt::format("stream-ordered allocator of heap '{}': {:#x} is not a "
                      "live allocation here (freed twice, or not ours)",
                      governor_.heap().name, address));
    }
    if (live->bytes != bytes) {
      throw InvalidArgument(
          fmt::format("stream-ordered allocator of heap '{}': {:#x} was "
                      "allocated with {} bytes, freed with {}; nothing freed",
                      governor_.heap().name, address, live->bytes, bytes));
    }
    Stream& s = streams_[stream_index(stream)];
    if (s.thread != 0) {
      // Only this thread can name its per-thread stream, so the event is recorded now.
      ordering_.record(s.event, s.handle);
      s.freed_through = ++s.generation;
    } else {
      s.dirty = true;
      s.freed_through = s.generation + 1;  // the next record captures this free
    }
    freed = *live;
    live_.erase(address);
  }
  governor_.metrics().on_free(governor_.heap().index, options_.category, bytes);
  // Set before the memory is back in the cache, so whoever unmaps it next waits first.
  freed_since_wait_.store(true, std::memory_order_release);
  backing_->deallocate(freed.placement(address, governor_.heap().index));
}

std::size_t StreamOrderedAllocator::find_or_add_stream(StreamHandle handle) {
  const std::uint64_t thread = ordering_.is_per_thread(handle) ? this_thread_number() : 0;
  const auto is = [&](const Stream& s) { return s.handle == handle && s.thread == thread; };
  const auto it = std::find_if(streams_.begin(), streams_.end(), is);
  if (it != streams_.end()) return last_stream_ = static_cast<std::size_t>(it - streams_.begin());
  Stream s{.handle = handle, .thread = thread, .event = ordering_.create_event()};
  streams_.push_back(std::move(s));
  return last_stream_ = streams_.size() - 1;
}

void StreamOrderedAllocator::order_after_frees(std::size_t stream) {
  Stream& to = streams_[stream];
  to.seen.resize(streams_.size(), 0);
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    if (i == stream) continue;
    Stream& from = streams_[i];
    if (from.dirty) {
      ordering_.record(from.event, from.handle);
      ++from.generation;
      from.dirty = false;
    }
    if (to.seen[i] < from.generation) {
      ordering_.wait(to.handle, from.event);
      to.seen[i] = from.generation;
      ++stream_waits_;
    }
  }
}

void StreamOrderedAllocator::forget_stream(StreamHandle stream) {
  const std::uint64_t thread = ordering_.is_per_thread(stream) ? this_thread_number() : 0;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    Stream& s = streams_[i];
    if (s.handle != stream || s.thread != thread) continue;
    if (s.dirty) {
      ordering_.record(s.event, s.handle);
      ++s.generation;
      s.dirty = false;
    }
    // Others still wait on its event (kept) until they have; then the slot is dead: a new stream
    // with the same handle gets a slot of its own.
    s.handle = ~StreamHandle{0};
    s.thread = ~std::uint64_t{0};
  }
}

void StreamOrderedAllocator::wait_for_frees() {
  const std::lock_guard one_at_a_time(wait_mutex_);
  if (!freed_since_wait_.exchange(false, std::memory_order_acq_rel)) return;
  struct Pending {
    std::size_t stream;
    EventHandle event;
    std::uint64_t generation;
  };
  std::vector<Pending> pending;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      Stream& s = streams_[i];
      if (s.waited >= s.freed_through) continue;
      if (s.dirty) {  // never a per-thread stream: those record at the free
        ordering_.record(s.event, s.handle);
        ++s.generation;
        s.dirty = false;
      }
      pending.push_back({.stream = i, .event = s.event, .generation = s.generation});
    }
  }
  // Off the lock: a stream that records its event again meanwhile only makes the wait longer.
  for (const Pending& p : pending) {
    try {
      ordering_.synchronize(p.event);
    } catch (...) {
      freed_since_wait_.store(true, std::memory_order_release);  // the next unmap tries again
      throw;
    }
    event_waits_.fetch_add(1, std::memory_order_relaxed);
  }
  const std::lock_guard lock(mutex_);
  for (const Pending& p : pending) {
    Stream& s = streams_[p.stream];
    s.waited = std::max(s.waited, p.generation);
  }
}

void StreamOrderedAllocator::trim() {
  wait_for_frees();
  backing_->trim();
}

std::size_t StreamOrderedAllocator::on_out_of_memory(OutOfMemoryCallback callback) {
  std::lock_guard lock(callbacks_mutex_);
  callbacks_.push_back(std::move(callback));
  return callbacks_.size() - 1;
}

MemoryFacts StreamOrderedAllocator::facts(std::uint64_t bytes) const {
  const HeapAllocatorStats s = backing_->stats();
  return {.heap = governor_.heap().name,
          .requested = bytes,
          .budget = governor_.budget().hard(),
          .usage = governor_.budget().usage(),
          .pressure = governor_.pressure(),
          .reserved = s.reserved_bytes,
          .live = s.live_bytes,
          .largest_free = backing_->largest_free_range()};
}

StreamAllocatorStats StreamOrderedAllocator::stats() const {
  StreamAllocatorStats s{.heap = backing_->stats(),
                         .event_waits = event_waits_.load(std::memory_order_relaxed),
                         .synchronizations = synchronizations_.load(std::memory_order_relaxed)};
  std::lock_guard lock(mutex_);
  s.streams = static_cast<std::uint64_t>(
      std::count_if(streams_.begin(), streams_.end(),
                    [](const Stream& st) { return st.handle != ~StreamHandle{0}; }));
  s.stream_waits = stream_waits_;
  s.out_of_memory_retries = oom_retries_;
  return s;
}

}  // namespace gpumem
