// The page-mapped arena: the heap allocator that wastes least. It reserves one large range of
// virtual addresses up front, sub-allocates it by TLSF over offsets, and maps physical pages
// only under live allocations. Physical pages are interchangeable, so memory freed in one place
// serves a request anywhere else without the footprint growing: an allocation that lands on
// unmapped addresses takes a cached page (mapped, but under no live allocation) from elsewhere,
// unmaps it there and maps it here, and only when none is left beyond a small slack of idle
// pages (ArenaOptions::idle_slack_fraction) creates a new page. Free never
// calls the driver: pages whose last allocation goes stay mapped, ready for reuse in place,
// until another allocation takes them, trim() releases them, or the cache bound or the heap's
// soft limit sends them back.
//
// Placement: TLSF good-fit, offsets and sizes in multiples of 256 B, and requests below an
// eighth of a page kept apart from the rest, packed in their own part of the range (measured in
// the .cpp). Mapped first: when the good fit would land on unmapped addresses, the smallest
// free range TLSF probes with pages under all of the request is taken instead, so after a
// warm-up most requests reuse pages in place. It needs the device's virtual memory management (CUDA
// VMM; the simulator models it).
//
//   gpumem::PageArenaAllocator arena(governor);  // Unsupported where the device has no VMM
//   gpumem::Placement p = arena.allocate(3 * gpumem::kMiB, 256, /*movable=*/true);
//   if (p) arena.deallocate(p);  // its pages stay mapped, cached for the next request
//   arena.trim();                // unmaps and releases every cached page
//
// Thread safety: every method may be called from several threads at once. One mutex covers
// the TLSF metadata and the page accounting. It is held across the map and unmap calls that
// page transitions need, because a page shared by two neighbouring allocations must be mapped
// before either is handed out; those calls happen only when a page changes hands, which in
// steady state is rare next to allocations and frees. Budget reservations and the creation and
// release of pages run without it, so pressure subscribers may call back into the arena.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/alloc/tlsf_metadata.hpp"
#include "gpumem/backend/virtual_memory.hpp"
#include "gpumem/memory/heap_allocator.hpp"

namespace gpumem {

struct ArenaOptions {
  // Virtual range reserved up front, as a multiple of the heap size. Addresses are cheap and a
  // range larger than memory means holes in it cost nothing but addresses, so fragmentation of
  // the range can hardly refuse a request the budget allows. Falls back to smaller ranges (down
  // to the heap size) when the device cannot reserve this much.
  std::uint32_t range_multiple = 4;
  // Offsets and sizes are multiples of this (a power of two): 256 B is the alignment cudaMalloc
  // guarantees; coarser (4 KiB, 64 KiB) measured no better.
  std::uint64_t granularity = 256;
  // Cached pages (mapped, under no live allocation) kept for reuse, as a fraction of the heap
  // size; a free that would cache more releases the oldest ones. 0 keeps none.
  double max_cached_fraction = 0.125;
  // Idle pages kept mapped where they are, as a fraction of the peak live bytes so far: a
  // request over unmapped addresses takes cached pages from elsewhere (an unmap and a map each,
  // ~50 us per 2 MiB page on an H200, plus a device synchronisation) only while more than this
  // many are idle; otherwise it makes new ones (a creation and a map, once), which later
  // placements then reuse in place. The trade-off: peak reserved may exceed peak live by this
  // fraction (plus the partly used pages at allocation ends), and in exchange fewer pages change
  // hands. Requests already go where pages stand when such a free range is near the good fit
  // (mapped-first placement), which saves more moves than the slack did and lets it be 0.
  // Measured on the sim replays (page maps per 1,000 events / peak reserved over peak live),
  // mapped-first with 0: churn200k 18.9 / 1.059, llama_generate_kv 1.54 / 1.017, resnet50_train
  // 454 / 1.002; with 0.01: 13.0 / 1.058, 1.36 / 1.021, 444 / 1.006, but 1.10 on the 20k-event
  // churn of the tests (0.0025 and below keep it at 1.085). Good fit alone with 0.01 (before):
  // 24.9 / 1.057, 1.76 / 1.028, 476 / 1.008.
  // The cache bound (max_cached_fraction) and the soft limit still apply on top.
  double idle_slack_fraction = 0.0;
  // Called, with the arena's lock held, before a page that held allocations is unmapped (taken
  // from under a freed allocation for another request, trimmed, or released past the cache
  // bound). A caller whose frees are stream-ordered waits here for the GPU work still touching
  // freed memory: unmapping does not wait for it. Empty: nothing to wait for.
  std::function<void()> before_unmap;
};

// Counts of page transitions since construction, for tests and benchmarks.
struct ArenaPageCounters {
  std::uint64_t created = 0;          // new physical pages (each after a budget reservation)
  std::uint64_t reused_in_place = 0;  // cached pages taken by an allocation over them
  std::uint64_t stolen = 0;           // cached pages unmapped elsewhere and mapped under a request
  std::uint64_t released = 0;         // pages given back (trim, cache bound, soft limit)
};

class PageArenaAllocator final : public HeapAllocator {
 public:
  // Throws Unsupported (naming the device and heap) when the device has no virtual memory
  // management, InvalidArgument for bad options, and OutOfMemory when no range of at least the
  // heap size can be reserved.
  explicit PageArenaAllocator(BlockSource& source, const ArenaOptions& options = {});
  // Gives back every page and the range. Allocations still live are logged and go with them.
  ~PageArenaAllocator() override;

  std::string_view name() const noexcept override { return "arena"; }
  // Alignments above base_alignment() are refused as GrowthRefusal::Device, as are requests the
  // range has no room for (it is larger than the heap, so the budget refuses first unless the
  // range is badly fragmented).
  Placement allocate(std::uint64_t size, std::uint64_t alignment, bool movable) override;
  // A placement this arena did not hand out, or one already freed, is logged as an error and
  // changes nothing.
  void deallocate(const Placement& placement) noexcept override;
  // reserved_bytes: physical pages held (under live allocations, cached, or made for a request
  // in flight) × page size; blocks: those pages; cached_bytes: the idle ones.
  HeapAllocatorStats stats() const override;
  // Of the range's addresses (either region): how large a request could be placed without
  // anything being freed, budget permitting.
  std::uint64_t largest_free_range() const override;
  void trim() override;

  ArenaPageCounters page_counters() const;
  std::uint64_t page_size() const noexcept { return page_size_; }
  std::uint64_t range_size() const noexcept { return block_.size; }
  // The alignment of the range's base address: the largest alignment allocate honours.
  std::uint64_t base_alignment() const noexcept { return base_alignment_; }

  // Rechecks the page accounting against a recount from the live allocations (counts per page,
  // every page mapped exactly where something is live or cached, the cache list, the counters)
  // and the TLSF metadata. Empty when all hold, otherwise the first thing broken. For tests.
  std::string validate() const;

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // One page-sized piece of the range. 24 bytes; the cache links matter only while the slot
  // holds a page with no live allocation on it.
  struct PageSlot {
    std::uint64_t page = 0;  // PhysicalPage id mapped here; 0 for none
    std::uint32_t live = 0;  // live allocations touching the page
    std::uint32_t older = kNone;
    std::uint32_t newer = kNone;
  };

  // Pages made or released per round trip of the lock.
  static constexpr std::size_t kReleaseBatch = 32;
  // Requests below page_size / kSmallDivisor go to the small region.
  static constexpr std::uint64_t kSmallDivisor = 8;

  // A part of the range with its own TLSF: the large region [0, small.base), then the small one.
  struct Region {
    TlsfMetadata tlsf;
    std::uint64_t base = 0;  // of its offset 0, in the range
  };

  enum class Release : std::uint8_t {
    Excess,         // idle pages beyond the cache bound, or any while over the soft limit
    PoolAndExcess,  // and every pooled page (after a refused request)
    All,            // every idle page (trim)
  };

  // Reserves the range (sets block_ and the reservation) and returns where the small region
  // starts.
  std::uint64_t reserve_range();
  // With mutex_ held.
  // The region of a placement's offset.
  Region& region_of(std::uint64_t offset) noexcept {
    return offset >= small_.base ? small_ : large_;
  }
  std::uint64_t slot_address(std::uint32_t slot) const noexcept {
    return block_.address + (std::uint64_t{slot} << page_shift_);
  }
  void cache_push(std::uint32_t slot) noexcept;
  void cache_unlink(std::uint32_t slot) noexcept;
  // Whether a page is mapped under every byte of [offset, offset + size).
  bool all_mapped(std::uint64_t offset, std::uint64_t size) const noexcept;
  // Pages [first, last] still need beyond the idle ones (pooled, or cached outside them).
  std::uint64_t pages_missing(std::uint32_t first, std::uint32_t last) const noexcept;
  // Cached pages not to take from elsewhere (ArenaOptions::idle_slack_fraction).
  std::uint64_t idle_pages_kept() const noexcept;
  // Counts an allocation on pages [first, last] and maps a page under each that has none:
  // pooled pages first, then pages stolen from the oldest cached slots, mapped in runs of
  // neighbouring holes. False, with the counts undone, when the device failed to map or unmap
  // (logged).
  bool commit_pages(std::uint32_t first, std::uint32_t last);
  // Takes up to out.size() idle pages of the kind `what` names out of the books: pooled ones
  // first, then the oldest cached (unmapped here; a failed unmap is logged and ends the batch).
  std::size_t take_idle_pages(std::span<PhysicalPage> out, Release what) noexcept;
  // Takes the out.size() oldest cached pages (at most) off their slots, unmapping neighbours in
  // one call, after before_unmap. Returns how many; a failed unmap is logged (naming `why` the
  // pages were taken) and ends it, the pages of that run still cached.
  std::size_t take_oldest_cached(std::span<PhysicalPage> out, const char* why) noexcept;
  // Without mutex_: creates `count` pages after reserving them against the budget and adds them
  // to the pool; None, or why not.
  GrowthRefusal grow(std::uint64_t count);
  // Without mutex_: releases pages taken by take_idle_pages and unreserves them.
  void give_back(std::span<const PhysicalPage> pages) noexcept;
  // Without mutex_: gives back idle pages of the kind `what` names until none is left.
  void release_idle(Release what) noexcept;

  BlockSource& source_;
  VirtualMemory& vm_;
  const std::uint32_t heap_;
  const ArenaOptions options_;
  std::uint64_t page_size_ = 0;
  std::uint32_t page_shift_ = 0;
  std::uint64_t max_cached_pages_ = 0;
  std::uint64_t reservation_base_ = 0;  // what vm_.reserve returned; block_ lies inside it
  std::uint64_t reservation_size_ = 0;
  std::uint64_t base_alignment_ = 0;
  RawBlock block_;  // the range handed out in placements

  mutable std::mutex mutex_;
  Region large_;
  Region small_;
  std::vector<PageSlot> slots_;
  // Unmapped pages nobody uses yet: made outside the lock by an allocation that others then
  // served (they take these first), or left by one that was refused.
  std::vector<PhysicalPage> pool_;
  std::uint32_t oldest_cached_ = kNone;
  std::uint32_t newest_cached_ = kNone;
  std::uint64_t cached_pages_ = 0;
  std::uint64_t held_pages_ = 0;
  std::uint64_t peak_held_pages_ = 0;
  std::uint64_t live_bytes_ = 0;
  std::uint64_t peak_live_bytes_ = 0;  // what idle_slack_fraction is a fraction of
  std::uint64_t live_count_ = 0;
  ArenaPageCounters counters_;
};

}  // namespace gpumem
