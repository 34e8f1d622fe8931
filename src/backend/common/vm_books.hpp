// The bookkeeping of a backend that implements VirtualMemory itself (sim, host): which address
// ranges are reserved, which pieces of physical memory exist, and which is mapped where. It
// refuses every misuse a driver would (mapping outside a reservation or over a mapped page,
// unmapping where no piece starts, releasing mapped memory, unreserving with pages mapped, using
// released memory) with an InvalidArgument or InvalidHandle that names the call, the address or
// piece, and the heap. The
// backend adds what is real for it: where addresses and memory come from, and what a mapping
// does; map and unmap run the backend's action under the books' lock, between the checks and
// the record, so a mapping that fails leaves no trace and two threads cannot map one address.
//
//   detail::VmBooks books(info, 2 * kMiB);
//   books.add_reservation(0, base, 64 * kMiB);
//   PhysicalMemory memory = books.add_memory(0, /*pages=*/2, /*backing=*/0);
//   books.map(0, base, memory, [](std::uint64_t backing) { /* the backend's mapping */ });
//
// Thread safety: every method may be called from several threads at once (one lock; the
// counters are atomics read without it).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/backend/virtual_memory.hpp"

namespace gpumem::detail {

class VmBooks {
 public:
  // `info` must outlive the books.
  VmBooks(const DeviceInfo& info, std::uint64_t page_size);

  std::uint64_t page_size() const noexcept { return page_size_; }
  // InvalidArgument naming `operation` for a heap the device lacks.
  void check_heap(std::uint32_t heap, const char* operation) const;
  // InvalidArgument unless size is a positive multiple of the page size.
  void check_reservation_size(std::uint32_t heap, std::uint64_t size) const;

  void add_reservation(std::uint32_t heap, std::uint64_t base, std::uint64_t size);
  // InvalidHandle when [base, +size) is not a reservation of the heap, InvalidArgument while
  // pages are mapped in it.
  void remove_reservation(std::uint32_t heap, std::uint64_t base, std::uint64_t size);

  // InvalidArgument unless 1 <= pages and the piece fits the heap (named by `operation`).
  void check_piece_size(std::uint32_t heap, std::uint64_t pages, const char* operation) const;
  // A new piece of `pages` pages; `backing` is the backend's own record of its memory (the
  // host's file offset).
  PhysicalMemory add_memory(std::uint32_t heap, std::uint64_t pages, std::uint64_t backing);
  // Returns the piece's backing. InvalidHandle for memory that is not live (or named with
  // another size), InvalidArgument for memory of another heap or memory still mapped.
  std::uint64_t remove_memory(std::uint32_t heap, PhysicalMemory memory);

  // Checks the mapping, runs map_action(backing of the memory), then records it.
  template <typename Action>
  void map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory, Action&& map_action) {
    std::lock_guard lock(mutex_);
    const MapTarget target = check_map(heap, address, memory);
    map_action(records_[target.record].backing);
    commit_map(target, memory);
  }
  // Checks a piece's mapping starts at the address, runs unmap_action(pages of the piece), then
  // records it.
  template <typename Action>
  void unmap(std::uint32_t heap, std::uint64_t address, Action&& unmap_action) {
    std::lock_guard lock(mutex_);
    const UnmapTarget target = check_unmap(heap, address);
    unmap_action(records_[target.record].pages);
    commit_unmap(target);
  }

  // Calls served since creation, refused ones excluded. The simulator's public type serves:
  // it is the one backend that reports them.
  SimVmCounters counts() const noexcept;
  // A map or unmap call of the backend served, whatever the number of pieces it covered.
  void count_call(bool map) noexcept {
    (map ? map_calls_ : unmap_calls_).fetch_add(1, std::memory_order_relaxed);
  }
  // The reservations still out as (base, size), for a backend tearing down.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reservations() const;

 private:
  // What is mapped in one reservation, by page index: the id of the piece mapped over the page
  // (with kContinued set on every page after its first), 0 for a hole. Stored in chunks made on
  // first use, so a reservation of terabytes costs memory only where pages are mapped.
  struct Reservation {
    std::uint32_t heap = 0;
    std::uint64_t size = 0;
    std::uint64_t mapped = 0;
    std::vector<std::unique_ptr<std::uint64_t[]>> chunks;
  };
  using ReservationMap = std::map<std::uint64_t, Reservation>;  // by base
  struct MemoryRecord {
    std::uint64_t backing = 0;
    std::uint64_t pages = 0;
    std::uint32_t generation = 0;  // part of the id, so a released id goes stale
    std::uint32_t heap = 0;
    std::uint32_t mappings = 0;  // a piece may be mapped at several addresses
    bool live = false;
  };
  struct MapTarget {
    ReservationMap::iterator reservation;
    std::uint64_t address;
    std::uint32_t record;
  };
  using UnmapTarget = MapTarget;

  // With mutex_ held.
  ReservationMap::iterator reservation_at(std::uint32_t heap, std::uint64_t address,
                                          const char* operation);
  std::uint32_t live_memory(std::uint32_t heap, PhysicalMemory memory, const char* operation) const;
  // The slot of the page at `address`; null where its chunk was never made (all holes) unless
  // `create`.
  std::uint64_t* slot(ReservationMap::iterator r, std::uint64_t address, bool create);
  MapTarget check_map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory);
  void commit_map(const MapTarget& target, PhysicalMemory memory) noexcept;
  UnmapTarget check_unmap(std::uint32_t heap, std::uint64_t address);
  void commit_unmap(const UnmapTarget& target) noexcept;

  const DeviceInfo& info_;
  const std::uint64_t page_size_;

  mutable std::mutex mutex_;
  ReservationMap reservations_;        // heaps' address ranges are disjoint, so one map serves all
  std::vector<MemoryRecord> records_;  // by id's low 32 bits - 1
  std::vector<std::uint32_t> free_records_;

  std::atomic<std::uint64_t> reserves_{0};
  std::atomic<std::uint64_t> unreserves_{0};
  std::atomic<std::uint64_t> creations_{0};
  std::atomic<std::uint64_t> releases_{0};
  std::atomic<std::uint64_t> page_creations_{0};
  std::atomic<std::uint64_t> page_releases_{0};
  std::atomic<std::uint64_t> piece_maps_{0};
  std::atomic<std::uint64_t> piece_unmaps_{0};
  std::atomic<std::uint64_t> maps_{0};
  std::atomic<std::uint64_t> unmaps_{0};
  std::atomic<std::uint64_t> map_calls_{0};
  std::atomic<std::uint64_t> unmap_calls_{0};
};

}  // namespace gpumem::detail
