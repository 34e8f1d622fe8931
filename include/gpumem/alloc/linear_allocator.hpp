// Linear allocation over a range [0, size) of offsets: each allocation starts where the previous
// one ended (plus alignment padding), so allocating is a compare and an add. Three modes:
//
// - FreeAll: a bump allocator. Single allocations cannot be freed; reset() frees them all
//   (per-frame scratch, upload batches).
// - DoubleStack: a lower stack grows up from 0, an upper stack grows down from size; a request
//   that would make them meet gets no space. Frees may come in any order; a freed allocation's
//   space returns once every allocation above it on its stack is freed too.
// - Ring: FIFO reuse for staging rings. Frees may come in any order (fences do not always signal
//   in submission order), but space is reclaimed oldest first: a freed allocation stays reserved
//   ("pending") until every older allocation is freed. When the tail of the range is too short
//   the allocation wraps to offset 0; an allocation never straddles the end, and the skipped tail
//   stays reserved with it.
//
//   gpumem::LinearAllocator ring(64 * gpumem::kMiB, gpumem::LinearMode::Ring);
//   if (auto a = ring.try_allocate(bytes, 256)) {
//     copy_into_staging(a->offset(), data, bytes);
//     submit(a->offset(), fence);
//     in_flight.push_back({*a, fence});
//   }
//   while (!in_flight.empty() && signalled(in_flight.front().fence)) {
//     ring.free(in_flight.front().allocation);
//     in_flight.pop_front();
//   }
//
// Size 0 and non-power-of-two alignments throw InvalidArgument; no room gives an empty
// optional. A handle that is stale, from another allocator, or freed twice throws InvalidHandle.
//
// Thread safety: none. One thread at a time (a StagingRing adds its own lock); const members may
// run concurrently with each other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gpumem {

enum class LinearMode : std::uint8_t { FreeAll, DoubleStack, Ring };

// Which stack of a DoubleStack allocator an allocation comes from; the other modes use Lower.
enum class StackSide : std::uint8_t { Lower, Upper };

class LinearAllocation {
 public:
  LinearAllocation() = default;
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t size() const noexcept { return size_; }
  StackSide side() const noexcept { return side_; }
  friend bool operator==(const LinearAllocation&, const LinearAllocation&) = default;

 private:
  friend class LinearAllocator;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t id_ = 0;    // unique per allocator, never reused
  std::uint64_t slot_ = 0;  // position on its stack; 0 in a ring
  std::uint32_t owner_ = 0;
  StackSide side_ = StackSide::Lower;
};

struct LinearStatistics {
  std::uint64_t size = 0;
  // Bytes that cannot be allocated until something is reclaimed: live and pending allocations
  // with their alignment padding and, in a ring, the tail skipped by a wrap.
  std::uint64_t used_bytes = 0;
  std::uint64_t allocated_bytes = 0;     // bytes requested by live (not yet freed) allocations
  std::uint64_t allocation_count = 0;    // live allocations
  std::uint64_t pending_free_count = 0;  // freed, still waiting for older or upper ones
  double occupancy = 0.0;                // used_bytes / size
};

class LinearAllocator {
 public:
  // size in 1..2^63, otherwise InvalidArgument.
  LinearAllocator(std::uint64_t size, LinearMode mode);

  // side Upper is for DoubleStack only (InvalidArgument otherwise).
  std::optional<LinearAllocation> try_allocate(std::uint64_t size, std::uint64_t alignment = 1,
                                               StackSide side = StackSide::Lower);
  // InvalidArgument in FreeAll mode; InvalidHandle for a handle that is not live here.
  void free(const LinearAllocation& allocation);
  // Ring only: the oldest live allocation (the next one a FIFO consumer retires), if any.
  std::optional<LinearAllocation> oldest() const;
  // Ring only: frees oldest(); false when nothing is in flight.
  bool free_oldest();
  // Frees everything; handles given out before become stale.
  void reset();

  LinearMode mode() const noexcept { return mode_; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t used_bytes() const noexcept;
  std::uint64_t free_bytes() const noexcept { return size_ - used_bytes(); }
  double occupancy() const noexcept;
  std::uint64_t allocation_count() const noexcept { return live_count_; }
  bool empty() const noexcept { return live_count_ == 0; }
  LinearStatistics statistics() const;

  // Calls f(const LinearAllocation&) for every live allocation: the lower side first, bottom to
  // top (for a ring: oldest to newest, i.e. the ranges in flight in FIFO order), then the upper
  // side from the end of the range down. f must not allocate or free here.
  template <typename F>
  void for_each_allocation(F&& f) const {
    for (std::uint64_t i = 0; i < lower_count_; ++i) {
      const Entry& e = lower_at(i);
      if (!e.freed) f(handle_of(e, i, StackSide::Lower));
    }
    for (std::uint64_t i = 0; i < upper_.size(); ++i) {
      if (!upper_[i].freed) f(handle_of(upper_[i], i, StackSide::Upper));
    }
  }

  // Rechecks every invariant (entries chained cursor to cursor, no overlap, no allocation across
  // the end, counters). Empty when all hold, otherwise the first one broken.
  std::string validate() const;

 private:
  struct Entry {
    std::uint64_t cursor_before = 0;  // where the stack top / ring tail stood before it
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::uint64_t id = 0;
    bool freed = false;
  };

  // Lower entries live in a circular buffer (capacity a power of two) so the ring pops its
  // oldest in O(1) and reuses the storage without allocating.
  const Entry& lower_at(std::uint64_t i) const {
    return lower_[(lower_head_ + i) & (lower_.size() - 1)];
  }
  Entry& lower_at(std::uint64_t i) { return lower_[(lower_head_ + i) & (lower_.size() - 1)]; }
  LinearAllocation handle_of(const Entry& e, std::uint64_t slot, StackSide side) const {
    LinearAllocation a;
    a.offset_ = e.offset;
    a.size_ = e.size;
    a.id_ = e.id;
    a.slot_ = mode_ == LinearMode::Ring ? 0 : slot;  // a ring finds entries by id
    a.owner_ = owner_;
    a.side_ = side;
    return a;
  }
  std::optional<std::uint64_t> place_lower(std::uint64_t size, std::uint64_t alignment) const;
  std::optional<std::uint64_t> place_upper(std::uint64_t size, std::uint64_t alignment) const;
  void push_lower(const Entry& entry);
  Entry& live_entry(const LinearAllocation& allocation);
  void reclaim();
  std::uint64_t ring_head() const { return lower_count_ == 0 ? 0 : lower_at(0).cursor_before; }

  std::uint64_t size_;
  LinearMode mode_;
  std::uint32_t owner_;
  std::vector<Entry> lower_;
  std::uint64_t lower_head_ = 0;
  std::uint64_t lower_count_ = 0;
  std::vector<Entry> upper_;       // DoubleStack only
  std::uint64_t lower_end_ = 0;    // top of the lower stack; in a ring, the tail
  std::uint64_t upper_begin_ = 0;  // bottom of the upper stack (size_ when empty)
  std::uint64_t next_id_ = 1;
  std::uint64_t live_count_ = 0;
  std::uint64_t allocated_bytes_ = 0;
};

}  // namespace gpumem
