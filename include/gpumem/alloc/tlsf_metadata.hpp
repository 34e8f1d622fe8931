// Two-level segregated fit (TLSF, Masmano et al. 2004) bookkeeping over a range [0, size) of
// offsets. It knows nothing of memory: the same metadata sub-allocates a device block, a staging
// buffer or a descriptor heap. Free ranges sit in size-class lists found through two bitmaps, so
// allocate and free take a bounded number of steps; neighbours coalesce on free.
//
//   gpumem::TlsfMetadata tlsf(256 * gpumem::kMiB);
//   if (auto a = tlsf.try_allocate(64 * gpumem::kKiB, 256)) {
//     bind(resource, a->offset());
//     tlsf.free(*a);
//   }
//
// Choices callers depend on:
// - A size of 0 is rejected with InvalidArgument: it has no distinct offset to hand out.
// - Out of space is normal here, so try_allocate returns an empty optional (including for sizes
//   larger than the block, which covers requests whose rounding would overflow). Only misuse
//   throws: size 0, an alignment that is not a power of two, a handle that is not live here.
// - largest_free_range is exact. It is computed on demand from the highest non-empty list (the
//   bitmaps point at it in O(1)); the cost is that list's length, which is 1 in steady use
//   because the largest ranges rarely share a size class.
// - The search is good-fit: the O(1) paths take the head of the first list whose every range
//   fits. Only when those are empty does it examine single ranges in the lists below, at most
//   kMaxFitProbes of them, so a range that fits can be missed if more than kMaxFitProbes
//   candidates stand before it. Success is guaranteed when some free range is at least
//   guaranteed_fit_size(size, alignment) long.
//
// Thread safety: none. One thread at a time (VirtualBlock adds a lock); const members may run
// concurrently with each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace gpumem {

// Refers to one live allocation of one TlsfMetadata. A handle that was freed, or that came from
// another instance, is recognised and rejected with InvalidHandle: it carries the id of its
// instance and a 32-bit generation stamped at allocation, so it goes stale even when its node is
// reused (only a reuse exactly 2^32 allocations later at the same offset could pass).
class TlsfAllocation {
 public:
  TlsfAllocation() = default;
  std::uint64_t offset() const noexcept { return offset_; }
  friend bool operator==(const TlsfAllocation&, const TlsfAllocation&) = default;

 private:
  friend class TlsfMetadata;
  TlsfAllocation(std::uint64_t offset, std::uint32_t node, std::uint32_t generation,
                 std::uint32_t owner)
      : offset_(offset), node_(node), generation_(generation), owner_(owner) {}

  std::uint64_t offset_ = 0;
  std::uint32_t node_ = 0;
  std::uint32_t generation_ = 0;
  std::uint32_t owner_ = 0;  // 0: default-constructed, never live
};

// One allocated range, as for_each_allocation reports it.
struct TlsfAllocationInfo {
  TlsfAllocation handle;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint64_t user_data = 0;
};

// Kept up to date on every allocate and free, except largest_free_range and fragmentation which
// are derived when statistics() is called.
struct BlockStatistics {
  std::uint64_t size = 0;
  std::uint64_t allocated_bytes = 0;
  std::uint64_t allocation_count = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t free_range_count = 0;
  std::uint64_t largest_free_range = 0;
  // 1 - largest_free_range / free_bytes: 0 when the free space is one range (or there is none),
  // near 1 when it is scattered in many small pieces.
  double fragmentation = 0.0;
};

class TlsfMetadata {
 public:
  // Ranges examined one by one before a search gives up (see the header comment).
  static constexpr std::uint32_t kMaxFitProbes = 32;
  // The largest block: keeps every size-class computation free of overflow.
  static constexpr std::uint64_t kMaxSize = std::uint64_t{1} << 63;

  // size in 1..kMaxSize, otherwise InvalidArgument.
  explicit TlsfMetadata(std::uint64_t size);

  // Empty when no free range was found for the request; throws InvalidArgument for size 0 or an
  // alignment that is not a power of two.
  std::optional<TlsfAllocation> try_allocate(std::uint64_t size, std::uint64_t alignment = 1,
                                             std::uint64_t user_data = 0);
  // As try_allocate, but when `prefer` (called with the offset an allocation would get) turns
  // down the good fit, takes the smallest fitting free range it accepts among the first
  // kMaxFitProbes from the request's size class up; the good fit when it accepts none. Lets a
  // caller steer requests to ranges it likes better, e.g. the arena to addresses already backed
  // by memory. An empty `prefer` accepts everything.
  std::optional<TlsfAllocation> try_allocate_preferring(
      std::uint64_t size, std::uint64_t alignment,
      const std::function<bool(std::uint64_t offset)>& prefer, std::uint64_t user_data = 0);
  // Throws InvalidHandle for a handle that is not live in this instance.
  void free(const TlsfAllocation& allocation);
  // Frees every allocation; handles given out before become stale.
  void clear();

  std::uint64_t allocation_size(const TlsfAllocation& allocation) const;
  std::uint64_t user_data(const TlsfAllocation& allocation) const;
  void set_user_data(const TlsfAllocation& allocation, std::uint64_t user_data);

  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t allocated_bytes() const noexcept { return size_ - free_bytes_; }
  std::uint64_t allocation_count() const noexcept { return allocation_count_; }
  std::uint64_t free_bytes() const noexcept { return free_bytes_; }
  bool empty() const noexcept { return allocation_count_ == 0; }
  std::uint64_t largest_free_range() const;
  BlockStatistics statistics() const;
  // Range records ever created (the metadata footprint is 40 bytes each, user data included).
  // They are recycled, so this stays at the most ranges that existed at once.
  std::size_t node_count() const noexcept { return nodes_.size(); }

  // The shortest free range that certainly satisfies try_allocate(size, alignment): any range
  // in a size-class list at or above the one this maps to fits with room for alignment padding.
  // UINT64_MAX for size 0 or when no block could guarantee it; InvalidArgument for an alignment
  // that is not a power of two.
  static std::uint64_t guaranteed_fit_size(std::uint64_t size, std::uint64_t alignment);

  // Calls f(const TlsfAllocationInfo&) for each allocation in ascending offset order (what a
  // defragmentation planner walks). f must not allocate or free here.
  template <typename F>
  void for_each_allocation(F&& f) const {
    for (std::uint32_t i = first_; i != kNil; i = nodes_[i].next_phys) {
      const Node& n = nodes_[i];
      if (n.next_free != kUsed) continue;
      f(TlsfAllocationInfo{TlsfAllocation(n.offset, i, n.prev_free, owner_), n.offset, n.size,
                           user_data_[i]});
    }
  }

  // Rechecks every invariant (physical chain tiles [0, size), no two free neighbours, each free
  // range in the list of its class, bitmaps, counters, node pool). Empty when all hold,
  // otherwise a description of the first one broken.
  std::string validate() const;

 private:
  static constexpr std::uint32_t kNil = UINT32_MAX;
  static constexpr std::uint32_t kUsed = UINT32_MAX - 1;  // next_free of an allocated range

  // A range of the block, free or allocated, or a spare record in the node pool. 32 bytes, so two
  // share a cache line and none straddles two: the hot paths touch several scattered nodes, and
  // their cache misses are most of an operation's cost. The two link words mean:
  //   free range:  prev_free, next_free link its size-class list;
  //   allocated:   prev_free holds the allocation's generation, next_free is kUsed;
  //   pooled:      next_free links the pool.
  // Indices rather than pointers keep the pool a plain vector that may grow.
  struct Node {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::uint32_t prev_phys = kNil;
    std::uint32_t next_phys = kNil;
    std::uint32_t prev_free = kNil;
    std::uint32_t next_free = kNil;
  };

  std::uint32_t acquire_node();
  void release_node(std::uint32_t index);
  void insert_free(std::uint32_t index);
  void remove_free(std::uint32_t index);
  std::uint32_t first_nonempty_list(std::uint32_t list) const;
  std::uint32_t probe(std::uint64_t size, std::uint64_t alignment, std::uint32_t first_list,
                      std::uint32_t end_list) const;
  std::uint32_t probe_preferred(std::uint64_t size, std::uint64_t alignment,
                                const std::function<bool(std::uint64_t offset)>& prefer) const;
  std::uint32_t split_off(std::uint32_t index, std::uint64_t keep);
  std::uint32_t live_node(const TlsfAllocation& allocation, const char* operation) const;
  [[noreturn]] void throw_invalid_handle(const TlsfAllocation& allocation,
                                         const char* operation) const;
  void reset();

  std::uint64_t size_;
  std::uint32_t owner_;
  std::uint32_t list_count_;
  std::vector<Node> nodes_;
  std::vector<std::uint64_t> user_data_;  // by node index; only allocated ones are meaningful
  std::uint32_t next_generation_ = 0;     // stamps each allocation; see TlsfAllocation
  std::uint32_t first_ = kNil;            // range at offset 0
  std::uint32_t free_nodes_ = kNil;       // spare nodes, linked through next_free
  std::uint64_t first_level_map_ = 0;
  std::vector<std::uint32_t> second_level_maps_;
  std::vector<std::uint32_t> heads_;  // one free list per (first, second) level pair
  std::uint64_t free_bytes_ = 0;
  std::uint64_t allocation_count_ = 0;
  std::uint64_t free_range_count_ = 0;
};

}  // namespace gpumem
