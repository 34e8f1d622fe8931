// The page-mapped arena: the heap allocator that wastes least. It reserves one large range of
// virtual addresses up front, sub-allocates it by TLSF over offsets, and maps physical memory
// only under live allocations. Physical memory is interchangeable, so memory freed in one place
// serves a request anywhere else without the footprint growing: an allocation that lands on
// unmapped addresses takes idle physical memory (mapped, but under no live allocation) from
// elsewhere, unmaps it there and maps it here, and only when none is left beyond a small slack of
// idle memory (ArenaOptions::idle_slack_fraction) creates new memory. Free never calls the
// driver: memory whose last allocation goes stays mapped, ready for reuse in place, until another
// allocation takes it, trim() releases it, or the cache bound or the heap's soft limit sends it
// back.
//
// Physical memory comes in pieces of whole pages, each mapped, moved and released as a unit
// (VirtualMemory; CUDA maps a cuMemCreate allocation whole or not at all). The driver charges per
// piece, not per page (~50 us to create and map a piece of 2 MiB or of 128 MiB on an H200), so
// the arena can make one piece per run of unmapped pages a request covers (up to
// ArenaOptions::max_piece_pages). A piece goes back, or moves, only once no live allocation
// touches any of its pages, and only to a run at least as long, so none of it is stranded; where
// only larger idle pieces are left, one goes back and new memory is made in the size needed.
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
//   arena.trim();                // unmaps and releases all idle memory
//
// Thread safety: every method may be called from several threads at once. One mutex covers
// the TLSF metadata and the page accounting. It is held across the map and unmap calls that
// moving memory needs, because a page shared by two neighbouring allocations must be mapped
// before either is handed out; those calls happen only when memory changes hands, which in
// steady state is rare next to allocations and frees. Budget reservations and the creation and
// release of memory run without it, so pressure subscribers may call back into the arena.
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
  // Idle memory (pieces under no live allocation) kept for reuse, as a fraction of the heap
  // size; a free that would keep more releases the oldest pieces. 0 keeps none.
  double max_cached_fraction = 0.125;
  // The most pages a piece of physical memory is made with: a run of unmapped pages longer than
  // this gets several. The driver charges per piece, so large pieces make memory fast (on CUDA
  // ~50 us per piece of any size up to 512 MiB); but a piece goes back or moves only whole, once
  // nothing on any of its pages is live, so memory freed under part of one cannot serve
  // elsewhere. One page (the default) holds the least; the stream-ordered allocator makes
  // pieces of up to 1 GiB. Measured (simulator, 2 MiB pages, the other options at their
  // defaults; peak reserved over peak live / pieces made): one page: churn200k 1.059 / 930,
  // resnet50_train 1.002 / 2,810, gpt2_train 1.003 / 11,772; 4 pages: 1.064 / 356, 1.005 / 769,
  // 1.012 / 3,032; 512 pages: 1.094 / 242, 1.010 / 138, 1.036 / 282.
  std::uint64_t max_piece_pages = 1;
  // Idle memory kept mapped where it is, as a fraction of the peak live bytes so far: a
  // request over unmapped addresses takes idle pieces from elsewhere (an unmap and a map each,
  // ~60 us per piece on an H200, after waiting for the GPU work that freed it) only while more
  // than this much is idle; otherwise it makes new memory (a creation and a map, once), which
  // later placements then reuse in place. The trade-off: peak reserved may exceed peak live by
  // this fraction (plus the partly used pages at allocation ends), and in exchange less memory
  // changes hands. Requests already go where pages stand when such a free range is near the good
  // fit (mapped-first placement), which saves more moves than the slack did and lets it be 0.
  // Measured on the sim replays (page maps per 1,000 events / peak reserved over peak live),
  // mapped-first with 0: churn200k 18.9 / 1.059, llama_generate_kv 1.54 / 1.017, resnet50_train
  // 454 / 1.002; with 0.01: 13.0 / 1.058, 1.36 / 1.021, 444 / 1.006, but 1.10 on the 20k-event
  // churn of the tests (0.0025 and below keep it at 1.085). Good fit alone with 0.01 (before):
  // 24.9 / 1.057, 1.76 / 1.028, 476 / 1.008.
  // The cache bound (max_cached_fraction) and the soft limit still apply on top.
  double idle_slack_fraction = 0.0;
  // Called, with the arena's lock held, before memory that held allocations is unmapped (taken
  // from under a freed allocation for another request, trimmed, or released past the cache
  // bound). A caller whose frees are stream-ordered waits here for the GPU work still touching
  // freed memory: unmapping does not wait for it. Empty: nothing to wait for.
  std::function<void()> before_unmap;
};

// Counts of page transitions since construction, for tests and benchmarks. Pages are the
// arena's page size; pieces are what the driver charges for.
struct ArenaPageCounters {
  std::uint64_t created = 0;          // new physical pages (after a budget reservation)
  std::uint64_t pieces_created = 0;   // the pieces they came in
  std::uint64_t reused_in_place = 0;  // idle pages taken by an allocation over them
  std::uint64_t stolen = 0;           // idle pages unmapped elsewhere and mapped under a request
  std::uint64_t pieces_moved = 0;     // the pieces they came in
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
  // reserved_bytes: physical memory held (under live allocations, idle, or made for a request
  // in flight); blocks: the pieces it is in; cached_bytes: the pages under no live allocation.
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
  // every page under a live allocation mapped, each piece's pages and busy count, the idle list,
  // the pool, the totals) and the TLSF metadata. Empty when all hold, otherwise the first thing
  // broken. For tests.
  std::string validate() const;

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // One page-sized piece of the range: which piece of memory is mapped over it and how many
  // live allocations touch it.
  struct PageSlot {
    std::uint32_t piece = kNone;  // index in pieces_; kNone: unmapped
    std::uint32_t live = 0;
  };
  // One piece of physical memory held: mapped at slots [first, first + memory.pages), or pooled
  // (unmapped) with first == kNone.
  struct Piece {
    PhysicalMemory memory;
    std::uint32_t first = kNone;
    std::uint32_t busy = 0;  // of its pages, those under a live allocation
    // The idle list (mapped, busy == 0), oldest first; meaningful only while on it.
    std::uint32_t older = kNone;
    std::uint32_t newer = kNone;
  };
  // Where a request's unmapped pages get memory from: piece `piece` (pooled, or idle elsewhere
  // and moved) mapped from slot `slot`.
  struct Cover {
    std::uint32_t slot = 0;
    std::uint32_t piece = kNone;
  };
  struct CoverPlan {
    std::vector<Cover> covers;
    std::vector<std::uint64_t> to_create;   // sizes in pages of the pieces still missing
    std::vector<std::uint32_t> to_release;  // idle pieces too large for any hole, recut
  };

  // Pieces made or released per round trip of the lock.
  static constexpr std::size_t kReleaseBatch = 32;
  // Requests below page_size / kSmallDivisor go to the small region.
  static constexpr std::uint64_t kSmallDivisor = 8;

  // A part of the range with its own TLSF: the large region [0, small.base), then the small one.
  struct Region {
    TlsfMetadata tlsf;
    std::uint64_t base = 0;  // of its offset 0, in the range
  };

  enum class Release : std::uint8_t {
    Excess,         // idle memory beyond the cache bound, or any while over the soft limit
    PoolAndExcess,  // and every pooled piece (after a refused request)
    All,            // all idle memory (trim)
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
  void idle_push(std::uint32_t piece) noexcept;
  void idle_unlink(std::uint32_t piece) noexcept;
  // Whether a page is mapped under every byte of [offset, offset + size).
  bool all_mapped(std::uint64_t offset, std::uint64_t size) const noexcept;
  // Idle pages not to take from elsewhere (ArenaOptions::idle_slack_fraction).
  std::uint64_t idle_pages_kept() const noexcept;
  // How the unmapped pages of slots [first, last] get memory: pooled pieces first, then idle
  // pieces elsewhere beyond the slack, then new pieces (for which idle pieces too large to fit
  // go back).
  CoverPlan plan_cover(std::uint32_t first, std::uint32_t last) const;
  // Maps what the plan (with nothing left to create) names, then counts an allocation on slots
  // [first, last]. False, with nothing counted, when the device failed to map or unmap (logged);
  // the pieces in hand are then pooled or idle.
  bool commit(std::uint32_t first, std::uint32_t last, const CoverPlan& plan);
  // Unmaps idle pieces (after before_unmap), neighbours in one call; `why` names what for in
  // the log. Returns how many of them were unmapped, in order (a failed unmap is logged and
  // ends it, the rest still mapped and idle).
  std::size_t unmap_idle(std::span<const std::uint32_t> pieces, const char* why) noexcept;
  // Takes up to out.size() idle pieces of the kind `what` names out of the books: pooled ones
  // first, then the oldest idle (unmapped here).
  std::size_t take_idle_pieces(std::span<PhysicalMemory> out, Release what) noexcept;
  // Takes the chosen pieces (pooled, or mapped and idle: unmapped here, `why` naming what for
  // in the log) out of the books into `out`; how many (a failed unmap ends it).
  std::size_t take_pieces(std::span<const std::uint32_t> chosen, std::span<PhysicalMemory> out,
                          const char* why) noexcept;
  // Drops a piece's record (it is neither mapped nor pooled any more).
  void forget_piece(std::uint32_t piece) noexcept;
  // Without mutex_: creates pieces of the given sizes after reserving them against the budget
  // and adds them to the pool; None, or why not.
  GrowthRefusal grow(std::span<const std::uint64_t> sizes);
  // Without mutex_: releases pieces taken by take_idle_pieces and unreserves them.
  void give_back(std::span<const PhysicalMemory> pieces) noexcept;
  // Without mutex_: gives back idle memory of the kind `what` names until none is left.
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
  std::vector<Piece> pieces_;
  std::vector<std::uint32_t> free_piece_records_;
  // Unmapped pieces nobody uses yet: made outside the lock by an allocation that others then
  // served (they take these first), or left by one that was refused.
  std::vector<std::uint32_t> pool_;
  std::uint64_t pooled_pages_ = 0;
  std::uint32_t oldest_idle_ = kNone;
  std::uint32_t newest_idle_ = kNone;
  std::uint64_t idle_pages_ = 0;  // of the pieces on the idle list
  std::uint64_t busy_pages_ = 0;  // slots with live allocations
  std::uint64_t held_pages_ = 0;
  std::uint64_t peak_held_pages_ = 0;
  std::uint64_t held_pieces_ = 0;
  std::uint64_t live_bytes_ = 0;
  std::uint64_t peak_live_bytes_ = 0;  // what idle_slack_fraction is a fraction of
  std::uint64_t live_count_ = 0;
  ArenaPageCounters counters_;
};

}  // namespace gpumem
