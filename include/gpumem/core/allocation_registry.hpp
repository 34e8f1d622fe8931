// The record of every live allocation: unique ids, what each allocation is (size, heap,
// category, tag, backend block), when it was made and, when sampled, who made it.
//
// A handle is validated on every free: a handle freed twice, or one from another registry,
// is refused with InvalidHandle and nothing changes. Live records can be listed at any time,
// filtered by age to find leak suspects, and turned into a leak report.
//
//   gpumem::AllocationRegistry registry({.enabled = true});
//   gpumem::AllocationHandle h = registry.insert({.size = 256, .heap = 0});
//   for (const auto& r : registry.older_than(std::chrono::minutes(5))) suspect(r);
//   registry.remove(h);
//
// Thread safety: all methods may be called concurrently. Records live in 16 shards, each with
// its own lock; a thread inserts into its own shard, so threads rarely meet.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpumem/core/category.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/heap.hpp"
#include "gpumem/core/stack_trace.hpp"
#include "gpumem/core/tag.hpp"

namespace gpumem {

using Clock = std::chrono::steady_clock;

struct AllocationHandle {
  std::uint64_t id = 0;     // unique in the process; 0 means "no allocation"
  std::uint32_t slot = 0;   // where the record lives in its registry
  std::uint32_t owner = 0;  // which registry (manager) made it

  explicit operator bool() const noexcept { return id != 0; }
  friend bool operator==(const AllocationHandle&, const AllocationHandle&) = default;
};

struct AllocationRecord {
  std::uint64_t id = 0;
  std::uint64_t size = 0;      // bytes requested
  std::uint64_t reserved = 0;  // bytes of device memory set aside for it (the size, rounded)
  std::uint32_t heap = 0;
  Category category = Category::Buffer;
  Tag tag;
  RawBlock block;                                  // the backend block that holds it
  std::uint64_t offset = 0;                        // where in the block it starts
  std::array<std::uint64_t, 3> allocator_token{};  // the heap allocator's own record of it
  bool dedicated = false;     // the block is its alone, made by the caller (not the heap allocator)
  Clock::time_point created;  // the epoch when tracking is off
  std::shared_ptr<const StackTrace> stack;  // null unless sampled

  Clock::duration age(Clock::time_point now = Clock::now()) const { return now - created; }
};

struct LeakReport {
  std::vector<AllocationRecord> leaks;  // oldest first
  std::uint64_t leaked_bytes = 0;
  Clock::time_point taken;
  bool times_tracked = true;  // ages are meaningful only when tracking was on

  bool empty() const noexcept { return leaks.empty(); }
  // Human-readable: one line per leak (id, tag, heap, size, age) and its stack when captured.
  std::string to_string(const std::vector<HeapInfo>& heaps = {}) const;
};

class AllocationRegistry {
 public:
  explicit AllocationRegistry(TrackingConfig tracking = {});
  ~AllocationRegistry();
  AllocationRegistry(const AllocationRegistry&) = delete;
  AllocationRegistry& operator=(const AllocationRegistry&) = delete;

  // Stores the record, giving it its id, creation time and (when sampled) stack.
  AllocationHandle insert(AllocationRecord record);
  // Takes a live record out; throws InvalidHandle naming the problem when `handle` is empty,
  // from another registry, or no longer live (freed twice).
  AllocationRecord remove(const AllocationHandle& handle);
  // A copy of a live record; throws InvalidHandle like remove().
  AllocationRecord get(const AllocationHandle& handle) const;
  bool contains(const AllocationHandle& handle) const noexcept;

  // Where a live allocation is now. Defragmentation moves allocations; handles stay the same.
  struct Location {
    RawBlock block;
    std::uint64_t offset = 0;
  };
  Location locate(const AllocationHandle& handle) const;
  // Records that a live allocation moved; throws InvalidHandle like remove().
  void relocate(const AllocationHandle& handle, const RawBlock& block, std::uint64_t offset,
                const std::array<std::uint64_t, 3>& allocator_token);
  // Calls f(handle, record) for every live record, one shard at a time under its lock: f must
  // not call back into the registry.
  template <typename F>
  void for_each_live(F&& f) const {
    for (std::uint32_t s = 0; s < kShards; ++s) {
      std::lock_guard lock(shards_[s].mutex);
      const auto& slots = shards_[s].slots;
      for (std::uint32_t i = 0; i < slots.size(); ++i) {
        if (!slots[i].live) continue;
        f(
            AllocationHandle{
                .id = slots[i].record.id, .slot = (i << kShardBits) | s, .owner = owner_},
            slots[i].record);
      }
    }
  }

  std::uint64_t live_count() const noexcept;
  std::vector<AllocationRecord> live() const;  // oldest first
  std::vector<AllocationRecord> older_than(Clock::duration age) const;
  LeakReport leak_report() const;

  std::uint32_t owner() const noexcept { return owner_; }
  const TrackingConfig& tracking() const noexcept { return tracking_; }

 private:
  struct Slot {
    AllocationRecord record;
    bool live = false;
  };
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::deque<Slot> slots;
    std::vector<std::uint32_t> free_slots;
  };
  static constexpr std::uint32_t kShardBits = 4;
  static constexpr std::uint32_t kShards = 1u << kShardBits;

  // Finds the live slot of a handle or throws; the shard's lock must be held.
  Slot& live_slot(Shard& shard, const AllocationHandle& handle) const;
  Shard& shard_of(const AllocationHandle& handle) const;
  template <typename Keep>
  std::vector<AllocationRecord> collect(Keep keep) const;

  TrackingConfig tracking_;
  std::uint32_t owner_;
  std::atomic<std::uint64_t> sample_counter_{0};
  std::atomic<std::uint64_t> live_count_{0};
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace gpumem
