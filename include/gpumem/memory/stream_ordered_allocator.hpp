// A stream-ordered caching allocator over one heap: allocate(bytes, stream) and
// deallocate(ptr, bytes, stream) with the semantics of cudaMallocAsync/cudaFreeAsync. A free is
// ordered after the work submitted to its stream before it, so the memory is reusable at once by
// later work on the same stream; another stream may take it only once it is ordered after that
// work too. Memory comes from the page-mapped arena where the device maps pages (physical pages
// reused across the whole range), else from a block pool; both grow through the heap's
// HeapGovernor, so budgets and pressure apply.
//
// Cross-stream reuse: freed memory returns to the arena or pool at once, shared by every stream.
// When stream B allocates and another stream A has freed memory since B last synchronised with
// it, an event is recorded on A and B is made to wait on it (the "B waits" choice: no allocation
// ever blocks the CPU, and a free on A costs nothing). The dependency is coarse (B waits on all of
// A's work up to its last free, whichever block B gets), as cudaMallocAsync's own "internal
// dependencies" are; with one stream there is none. Per-thread default streams record their
// event at the free, on the thread that owns them. Call forget_stream() before destroying a
// stream that freed memory here.
//
// Giving memory back (cudaMallocAsync's rules): memory stays mapped where it is while the cache
// is under the release threshold: the arena makes new pages rather than move cached ones (by
// default up to an idle cache as large as the peak live bytes, its safety bound; see
// idle_slack_fraction), and frees never call the driver. Memory goes back only on trim(), when a
// request would otherwise fail, past the release threshold, or over the heap's soft limit.
// Unmapping does not wait for work in flight, so before it the CPU waits on the events of the
// streams that freed memory since the last such wait (recorded on them now if need be, or at the
// free for per-thread streams): only those streams, up to their frees, never the whole device. The
// arena's hook does not name the pages it unmaps, so the wait covers every freeing stream's frees,
// not only those of the pages.
//
// Out of memory: the cache is released (after those waits) and the request retried; then the
// out-of-memory callbacks run and, while one returns true, the request is retried; then
// OutOfMemory is thrown with the heap, requested bytes, reserved and live bytes, the largest free
// range and the pressure.
//
// Metrics: every allocation and free is counted (relaxed atomics) in the governor's
// MetricsRecorder under the heap and StreamAllocatorOptions::category: counts, live bytes, peaks.
//
//   gpumem::StreamOrderedAllocator allocator(governor, ordering, {.release_threshold = 8 * kGiB});
//   void* p = allocator.allocate(1 * gpumem::kMiB, stream);
//   launch(kernel, stream, p);
//   allocator.deallocate(p, 1 * gpumem::kMiB, stream);  // reusable by stream at once
//
// Thread safety: every method may be called from several threads at once. One mutex covers the
// pointer table and the stream table; event records and stream waits (asynchronous calls) are
// made under it, waits of the CPU (events, the device) never are; a second mutex lets one thread
// at a time wait for the frees before unmapping.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "gpumem/alloc/address_table.hpp"
#include "gpumem/backend/stream_ordering.hpp"
#include "gpumem/core/category.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/block_pool_allocator.hpp"
#include "gpumem/memory/heap_allocator.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"

namespace gpumem {

struct StreamAllocatorOptions {
  enum class Backing : std::uint8_t {
    Auto,   // the arena where the device maps pages, else the pool
    Arena,  // Unsupported without virtual memory management
    Pool,   // a block pool, e.g. over cudaMalloc
  };
  Backing backing = Backing::Auto;
  // Cached memory (held under no live allocation) kept for reuse; beyond it, frees give memory
  // back. The default keeps everything, like cudaMallocAsync with its threshold at maximum.
  std::uint64_t release_threshold = std::numeric_limits<std::uint64_t>::max();
  // Alignment of every allocation (a power of two, at most the arena's page size).
  std::uint64_t alignment = 256;
  // Arena only: idle pages kept where they are, as a fraction of the peak live bytes (0 to 1;
  // ArenaOptions::idle_slack_fraction). Below it a request over unmapped addresses makes new
  // pages; above it, it moves cached pages, each move an unmap after waiting on the freeing
  // streams. 1 (the most) moves almost never, as cudaMallocAsync never does, for a higher peak
  // reserved; docs/PERFORMANCE.md has the measured trade-off.
  double idle_slack_fraction = 1.0;
  // Arena only: the largest piece of physical memory made at once (ArenaOptions::max_piece_pages,
  // in bytes; at least one page). Large pieces make a heap that grows from empty fast, since the
  // driver charges per piece (~50 us on an H200 whatever its size), at some cost in footprint:
  // a piece goes back or moves only whole. docs/PERFORMANCE.md has the measured trade-off.
  std::uint64_t max_piece_bytes = 1 * kGiB;
  // What the allocations are counted as in the metrics.
  Category category = Category::Buffer;

  // The defaults hold memory speed first, as cudaMallocAsync does: large pieces, nothing moved
  // under the slack. Footprint first instead: pages of 2 MiB that move where they are needed,
  // no idle slack (each move waits for the GPU work that freed the memory). For programs that
  // make their memory once and reuse it for long, such as training loops (the PyTorch plug-in's
  // choice); docs/PERFORMANCE.md compares the two.
  static StreamAllocatorOptions footprint_first() {
    return {.idle_slack_fraction = 0.0, .max_piece_bytes = 2 * kMiB};
  }
};

struct StreamAllocatorStats {
  HeapAllocatorStats heap;             // the arena's or pool's figures
  std::uint64_t streams = 0;           // streams seen (until forgotten)
  std::uint64_t stream_waits = 0;      // cross-stream waits made on allocations
  std::uint64_t event_waits = 0;       // CPU waits on a freeing stream's event before unmapping
  std::uint64_t synchronizations = 0;  // device synchronisations (only at destruction with
                                       // allocations still live)
  std::uint64_t out_of_memory_retries = 0;
};

class StreamOrderedAllocator {
 public:
  // Called when memory ran out even after the cache was released; true asks for one more try
  // (after freeing something, say). Runs with no gpumem lock held.
  using OutOfMemoryCallback = std::function<bool(const MemoryFacts&)>;

  // `governor` and `ordering` must outlive the allocator. Throws Unsupported for an arena backing
  // where the device has no virtual memory management, InvalidArgument for bad options.
  StreamOrderedAllocator(HeapGovernor& governor, StreamOrdering& ordering,
                         StreamAllocatorOptions options = {});
  // Waits for the frees (and, with allocations still live, for the device), then gives
  // everything back (allocations still live are logged).
  ~StreamOrderedAllocator();
  StreamOrderedAllocator(const StreamOrderedAllocator&) = delete;
  StreamOrderedAllocator& operator=(const StreamOrderedAllocator&) = delete;

  // nullptr for 0 bytes. Throws OutOfMemory (see above); BudgetExceeded never: the budget is one
  // of the reasons memory runs out here.
  void* allocate(std::uint64_t bytes, StreamHandle stream);
  // `bytes` must be what was asked for; nullptr is ignored. InvalidArgument for a pointer that is
  // not live here or a size that does not match (nothing is freed then).
  void deallocate(void* ptr, std::uint64_t bytes, StreamHandle stream);

  // Waits for the streams that freed memory, then gives all cached memory back.
  void trim();
  // Before destroying a stream: orders its frees (an event other streams will wait on) and drops
  // it from the table.
  void forget_stream(StreamHandle stream);

  std::size_t on_out_of_memory(OutOfMemoryCallback callback);

  // The options the allocator gives its arena (its before_unmap hook aside) or its pool for
  // `options`: to build the same backing without the stream layer, as bench/replay_bench does to
  // measure what the layer costs.
  static ArenaOptions arena_options(HeapGovernor& governor, const StreamAllocatorOptions& options);
  static PoolOptions pool_options(const StreamAllocatorOptions& options);
  StreamAllocatorStats stats() const;
  const HeapAllocator& backing() const noexcept { return *backing_; }
  std::string_view backing_name() const noexcept { return backing_->name(); }

 private:
  // What the pointer table keeps of a live allocation, in one cache line (a free reads it, most
  // often cold): the placement less what follows from the address and the heap (the block's
  // address is the allocation's less its offset, the block's heap is the governor's, a live
  // placement has no refusal), and the size asked for.
  struct alignas(64) Live {
    std::uint64_t block_id = 0;
    std::uint64_t block_size = 0;
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::array<std::uint64_t, 3> token{};
    std::uint64_t bytes = 0;

    static Live of(const Placement& p, std::uint64_t bytes) noexcept {
      Live live{.block_id = p.block.id,
                .block_size = p.block.size,
                .offset = p.offset,
                .size = p.size,
                .bytes = bytes};
      std::copy(p.token.begin(), p.token.end(), live.token.begin());
      return live;
    }
    Placement placement(std::uint64_t address, std::uint32_t heap) const noexcept {
      Placement p{
          .block = {.id = block_id, .heap = heap, .size = block_size, .address = address - offset},
          .offset = offset,
          .size = size};
      std::copy(token.begin(), token.end(), p.token.begin());
      return p;
    }
  };
  static_assert(sizeof(Live) == 64);
  struct Stream {
    StreamHandle handle = 0;
    std::uint64_t thread = 0;  // per-thread streams: the owning thread's number; else 0
    EventHandle event = 0;
    bool dirty = false;               // frees since the event was last recorded
    std::uint64_t generation = 0;     // records of the event
    std::uint64_t freed_through = 0;  // the record (generation) that captures the last free
    std::uint64_t waited = 0;         // the last record the CPU saw complete
    std::vector<std::uint64_t> seen;  // per other stream: the generation waited on
  };

  // With mutex_ held: the stream's index. Fast path, on every allocation and free: the stream
  // of the last lookup, told without asking the ordering (a virtual call) whether the handle is
  // per-thread, which depends on the handle alone and was answered when its slot was made
  // (thread 0: not per-thread). Forgotten slots have a thread number no thread gets.
  std::size_t stream_index(StreamHandle handle) {
    if (last_stream_ < streams_.size()) {
      const Stream& last = streams_[last_stream_];
      if (last.handle == handle && (last.thread == 0 || last.thread == this_thread_number())) {
        return last_stream_;
      }
    }
    return find_or_add_stream(handle);
  }
  std::size_t find_or_add_stream(StreamHandle handle);
  // A number per thread, for telling per-thread streams apart (thread ids are not integers).
  static std::uint64_t this_thread_number() noexcept;
  // Error for a placement the pointer table cannot hold (see Live).
  [[noreturn]] void throw_unrecordable(const Placement& p) const;
  // With mutex_ held: makes `stream` wait for frees on the other streams.
  void order_after_frees(std::size_t stream);
  Placement try_place(std::uint64_t bytes);
  // Without mutex_: returns once the work before every free so far has completed, waiting on
  // the freeing streams' events (recording them first where frees are not yet captured).
  void wait_for_frees();
  MemoryFacts facts(std::uint64_t bytes) const;

  HeapGovernor& governor_;
  StreamOrdering& ordering_;
  const StreamAllocatorOptions options_;
  std::unique_ptr<HeapAllocator> backing_;
  // One wait_for_frees at a time: a second caller must not find the flag cleared and unmap
  // while the first still waits. Taken under the arena's lock (its hook), never the other way.
  std::mutex wait_mutex_;
  // Set by every free; cleared by the wait that makes freed memory safe to unmap.
  std::atomic<bool> freed_since_wait_{false};
  std::atomic<std::uint64_t> event_waits_{0};
  std::atomic<std::uint64_t> synchronizations_{0};

  mutable std::mutex mutex_;
  AddressTable<Live> live_;  // by address
  std::vector<Stream> streams_;
  std::size_t last_stream_ = 0;  // where the last lookup found its stream
  std::uint64_t stream_waits_ = 0;
  std::uint64_t oom_retries_ = 0;

  std::mutex callbacks_mutex_;
  std::vector<OutOfMemoryCallback> callbacks_;
};

}  // namespace gpumem
