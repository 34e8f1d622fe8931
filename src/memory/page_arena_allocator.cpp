#include "gpumem/memory/page_arena_allocator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// The range's base is aligned to this (or to the range size, if smaller), by reserving that
// much more: TLSF aligns offsets, and offsets from an aligned base are aligned addresses.
constexpr std::uint64_t kMaxBaseAlignment = 1 * kGiB;

static_assert(sizeof(TlsfAllocation) <= sizeof(Placement::token) &&
                  std::is_trivially_copyable_v<TlsfAllocation>,
              "the TLSF handle must fit the placement's token");

VirtualMemory& require_virtual_memory(BlockSource& source) {
  VirtualMemory* vm = source.device().virtual_memory();
  if (vm == nullptr) {
    throw Unsupported(fmt::format(
        "the page-mapped arena needs virtual memory management, which {} device '{}' does not "
        "offer (heap '{}')",
        source.device().info().backend, source.device().info().name, source.heap().name));
  }
  return *vm;
}

const ArenaOptions& checked(const ArenaOptions& o) {
  if (o.range_multiple == 0) throw InvalidArgument("ArenaOptions: range_multiple must be >= 1");
  if (!is_power_of_two(o.granularity)) {
    throw InvalidArgument(
        fmt::format("ArenaOptions: granularity {} is not a power of two", o.granularity));
  }
  if (!(o.max_cached_fraction >= 0.0)) {
    throw InvalidArgument(
        fmt::format("ArenaOptions: max_cached_fraction {} is negative", o.max_cached_fraction));
  }
  if (!(o.idle_slack_fraction >= 0.0 && o.idle_slack_fraction <= 1.0)) {
    throw InvalidArgument(fmt::format("ArenaOptions: idle_slack_fraction {} is not between 0 and 1",
                                      o.idle_slack_fraction));
  }
  return o;
}

TlsfAllocation handle_of(const Placement& placement) {
  TlsfAllocation handle;
  std::memcpy(static_cast<void*>(&handle), placement.token.data(), sizeof handle);
  return handle;
}

}  // namespace

PageArenaAllocator::PageArenaAllocator(BlockSource& source, const ArenaOptions& options)
    : source_(source),
      vm_(require_virtual_memory(source)),
      heap_(source.heap().index),
      options_(checked(options)),
      page_size_(vm_.page_size(heap_)),
      page_shift_(static_cast<std::uint32_t>(std::countr_zero(page_size_))),
      large_{TlsfMetadata(reserve_range()), 0},
      small_{TlsfMetadata(block_.size - large_.tlsf.size()), large_.tlsf.size()},
      slots_(block_.size >> page_shift_) {
  const double cached = options_.max_cached_fraction * static_cast<double>(source.heap().size);
  max_cached_pages_ = static_cast<std::uint64_t>(cached) >> page_shift_;
}

std::uint64_t PageArenaAllocator::reserve_range() {
  const HeapInfo& heap = source_.heap();
  std::uint64_t heap_pages = (heap.size + page_size_ - 1) >> page_shift_;
  // Slot indices are 32 bits, and TLSF takes sizes below 2^63.
  const std::uint64_t max_pages =
      std::min<std::uint64_t>(kNone - 1, TlsfMetadata::kMaxSize >> (page_shift_ + 1));
  heap_pages = std::min(heap_pages, max_pages);
  // Two pages at least: one for each region.
  heap_pages = std::max<std::uint64_t>(heap_pages, 2);
  std::uint64_t pages = heap_pages > max_pages / options_.range_multiple
                            ? max_pages
                            : heap_pages * options_.range_multiple;
  for (;; pages /= 2) {
    const std::uint64_t size = pages << page_shift_;
    const std::uint64_t alignment =
        std::max(page_size_, std::min(kMaxBaseAlignment, std::bit_floor(size)));
    const std::uint64_t reservation = size + alignment - page_size_;
    if (const std::uint64_t base = vm_.reserve(heap_, reservation); base != 0) {
      reservation_base_ = base;
      reservation_size_ = reservation;
      base_alignment_ = alignment;
      block_ = {.id = 0, .heap = heap_, .size = size, .address = 0};
      align_up(base, alignment, block_.address);
      // The address doubles as the id: it is unique while the range is reserved, and no device
      // block can share it because blocks and reservations come from one address space.
      block_.id = block_.address;
      return (pages - std::max<std::uint64_t>(1, pages / kSmallDivisor)) << page_shift_;
    }
    if (pages / 2 < heap_pages) break;
  }
  throw OutOfMemory(MemoryFacts{.heap = heap.name, .requested = heap_pages << page_shift_},
                    fmt::format("device '{}' could not reserve a range of addresses as large as "
                                "the heap for the page-mapped arena",
                                source_.device().info().name));
}

PageArenaAllocator::~PageArenaAllocator() {
  if (live_count_ != 0) {
    log_message(LogLevel::Warning,
                fmt::format("page-mapped arena of heap '{}' destroyed with {} allocation(s) ({}) "
                            "still live; their pages are released with it",
                            source_.heap().name, live_count_, format_bytes(live_bytes_)));
  }
  try {
    for (std::uint32_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].page == 0) continue;
      vm_.unmap(heap_, slot_address(s));
      vm_.release_page(heap_, {.id = slots_[s].page});
    }
    for (const PhysicalPage page : pool_) vm_.release_page(heap_, page);
    vm_.unreserve(heap_, reservation_base_, reservation_size_);
  } catch (const std::exception& e) {
    log_message(LogLevel::Error, fmt::format("page-mapped arena of heap '{}': the device refused "
                                             "to take its memory back: {}",
                                             source_.heap().name, e.what()));
  }
  source_.unreserve(held_pages_ << page_shift_);
}

// Placement, as measured (peak reserved / peak live, sim with 2 MiB pages; churn200k, then the
// traces resnet50_train, gpt2_train, llama_generate_kv):
//   TLSF good-fit, 256 B granularity, one region:          1.078  1.0012  1.0031  1.0165
//   same, granularity 4 KiB / 64 KiB:                      1.084 / 1.090, the traces within ±0.01
//   requests >= 2 MiB (or >= 8 MiB) page-aligned:           1.181 (1.084), the traces up to 1.026
//     (with the small region below: 1.124 (1.068))
//   requests < page/8 in a region of their own:            1.048  1.0020  1.0025  1.0179
// (churn with seeds 1-4: one region 1.073-1.095, small ones apart 1.055-1.064.) A page costs as
// much whether one byte of it is live or all of it: what wastes memory is a small allocation
// left alone on a page, pinning it after its neighbours went. Kept apart, small allocations pack
// into few pages, and large ones tile their region with neighbours sharing boundary pages.
// Page-aligning large requests wastes the tail page of each, so they start wherever TLSF puts
// them. A request that its region has no room for tries the other.
Placement PageArenaAllocator::allocate(std::uint64_t size, std::uint64_t alignment,
                                       bool /*movable: the arena never moves anything*/) {
  std::uint64_t rounded = 0;
  if (size > block_.size || !align_up(size, options_.granularity, rounded)) {
    return {.refusal = GrowthRefusal::Budget};  // more than the range: more than the heap too
  }
  const std::uint64_t align = std::max(alignment, options_.granularity);
  if (align > base_alignment_) return {.refusal = GrowthRefusal::Device};

  std::unique_lock lock(mutex_);
  const bool small = rounded < page_size_ / kSmallDivisor;
  Region* region = small ? &small_ : &large_;
  // Mapped first: a request goes where pages already stand under all of it when such a free
  // range is among those TLSF probes, so after a warm-up placements reuse pages in place and
  // pages rarely change hands (each move costs an unmap and a map, ~50 us per page on CUDA).
  const auto try_place = [&](Region& r) -> std::optional<TlsfAllocation> {
    if (cached_pages_ == 0) return r.tlsf.try_allocate(rounded, align);
    // Captured through one pointer, so the std::function holds it without a heap allocation.
    const struct {
      const PageArenaAllocator* arena;
      std::uint64_t base;
      std::uint64_t size;
    } where{this, r.base, rounded};
    return r.tlsf.try_allocate_preferring(rounded, align, [w = &where](std::uint64_t offset) {
      return w->arena->all_mapped(w->base + offset, w->size);
    });
  };
  std::optional<TlsfAllocation> a = try_place(*region);
  if (!a) {
    region = small ? &large_ : &small_;
    // The small region starts on a page boundary, so it can honour at most that alignment.
    if (region->base % align == 0) a = try_place(*region);
  }
  if (!a) {
    return {.refusal =
                rounded > source_.heap().size ? GrowthRefusal::Budget : GrowthRefusal::Device};
  }
  const std::uint64_t offset = region->base + a->offset();
  const auto first = static_cast<std::uint32_t>(offset >> page_shift_);
  const auto last = static_cast<std::uint32_t>((offset + rounded - 1) >> page_shift_);
  // Growing takes the budget's and the device's time, and the budget may notify pressure
  // subscribers who call back into us: do it without the lock, then look again, since others
  // may have freed or taken pages meanwhile.
  for (std::uint64_t missing; (missing = pages_missing(first, last)) != 0;) {
    lock.unlock();
    const GrowthRefusal refusal = grow(missing);
    lock.lock();
    if (refusal != GrowthRefusal::None) {
      region->tlsf.free(*a);
      lock.unlock();
      release_idle(Release::PoolAndExcess);  // what this request made serves nobody now
      return {.refusal = refusal};
    }
  }
  if (!commit_pages(first, last)) {
    region->tlsf.free(*a);
    return {.refusal = GrowthRefusal::Device};
  }
  live_bytes_ += rounded;
  peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
  ++live_count_;
  Placement placement{.block = block_, .offset = offset, .size = rounded};
  std::memcpy(placement.token.data(), &*a, sizeof *a);
  return placement;
}

bool PageArenaAllocator::all_mapped(std::uint64_t offset, std::uint64_t size) const noexcept {
  const std::uint64_t last = (offset + size - 1) >> page_shift_;
  for (std::uint64_t s = offset >> page_shift_; s <= last; ++s) {
    if (slots_[s].page == 0) return false;
  }
  return true;
}

std::uint64_t PageArenaAllocator::pages_missing(std::uint32_t first,
                                                std::uint32_t last) const noexcept {
  std::uint64_t holes = 0;
  std::uint64_t cached_here = 0;  // these it reuses in place; they cannot also be stolen
  for (std::uint32_t s = first; s <= last; ++s) {
    if (slots_[s].page == 0) {
      ++holes;
    } else if (slots_[s].live == 0) {
      ++cached_here;
    }
  }
  // Cached pages elsewhere are taken only beyond the slack: below it a new page is made, which
  // costs as much as a move once and then stays where the placements keep coming back.
  const std::uint64_t cached_elsewhere = cached_pages_ - cached_here;
  const std::uint64_t keep = idle_pages_kept();
  const std::uint64_t stealable = cached_elsewhere > keep ? cached_elsewhere - keep : 0;
  const std::uint64_t idle = pool_.size() + stealable;
  return holes > idle ? holes - idle : 0;
}

std::uint64_t PageArenaAllocator::idle_pages_kept() const noexcept {
  const double kept = options_.idle_slack_fraction * static_cast<double>(peak_live_bytes_);
  return static_cast<std::uint64_t>(kept) >> page_shift_;
}

bool PageArenaAllocator::commit_pages(std::uint32_t first, std::uint32_t last) {
  // Pages in the range come off the cache list before any page is stolen for a hole, so the
  // oldest cached page is never one of them.
  std::size_t holes = 0;
  for (std::uint32_t s = first; s <= last; ++s) {
    PageSlot& slot = slots_[s];
    if (slot.live++ != 0) continue;
    if (slot.page == 0) {
      ++holes;
    } else {
      cache_unlink(s);
      ++counters_.reused_in_place;
    }
  }
  if (holes == 0) return true;
  // The pages for the holes: pooled ones first, then the oldest cached ones elsewhere.
  std::vector<PhysicalPage> pages(holes);
  std::size_t have = 0;
  for (; have < holes && !pool_.empty(); ++have) {
    pages[have] = pool_.back();
    pool_.pop_back();
  }
  if (have < holes) {
    const std::size_t stolen = take_oldest_cached(std::span(pages).subspan(have), "taking");
    counters_.stolen += stolen;
    have += stolen;
  }
  // Mapped in runs of neighbouring holes, one call each.
  std::size_t used = 0;
  bool mapped_all = have == holes;
  for (std::uint32_t s = first; mapped_all && s <= last;) {
    if (slots_[s].page != 0) {
      ++s;
      continue;
    }
    std::uint32_t end = s;
    while (end < last && slots_[end + 1].page == 0) ++end;
    const std::span run = std::span(pages).subspan(used, end - s + 1);
    try {
      vm_.map_run(heap_, slot_address(s), run);
    } catch (const std::exception& e) {
      // Only a driver failing (out of resources, or a backend bug) gets here.
      log_message(
          LogLevel::Error,
          fmt::format("page-mapped arena of heap '{}': mapping {} page(s) at offset {} "
                      "failed: {}",
                      source_.heap().name, run.size(), std::uint64_t{s} << page_shift_, e.what()));
      mapped_all = false;
      break;
    }
    for (const PhysicalPage page : run) slots_[s++].page = page.id;
    used += run.size();
  }
  if (mapped_all) return true;
  // Undo the counts: what got mapped for this allocation becomes cached, the pages in hand go
  // to the pool.
  pool_.insert(pool_.end(), pages.begin() + static_cast<std::ptrdiff_t>(used),
               pages.begin() + static_cast<std::ptrdiff_t>(have));
  for (std::uint32_t t = first; t <= last; ++t) {
    if (--slots_[t].live == 0 && slots_[t].page != 0) cache_push(t);
  }
  return false;
}

std::size_t PageArenaAllocator::take_oldest_cached(std::span<PhysicalPage> out,
                                                   const char* why) noexcept {
  if (out.empty() || cached_pages_ == 0) return 0;
  std::vector<std::uint32_t> victims;
  victims.reserve(std::min<std::uint64_t>(out.size(), cached_pages_));
  for (std::uint32_t s = oldest_cached_; s != kNone && victims.size() < out.size();
       s = slots_[s].newer) {
    victims.push_back(s);
  }
  // Neighbours unmap in one call.
  std::sort(victims.begin(), victims.end());
  std::size_t taken = 0;
  try {
    if (options_.before_unmap) options_.before_unmap();
    for (std::size_t begin = 0; begin < victims.size();) {
      std::size_t end = begin + 1;
      while (end < victims.size() && victims[end] == victims[end - 1] + 1) ++end;
      const std::span run = out.subspan(taken, end - begin);
      for (std::size_t i = 0; i < run.size(); ++i) run[i].id = slots_[victims[begin + i]].page;
      vm_.unmap_run(heap_, slot_address(victims[begin]), run);  // first: on failure all stay
      for (std::size_t i = begin; i < end; ++i) {
        cache_unlink(victims[i]);
        slots_[victims[i]].page = 0;
      }
      taken += run.size();
      begin = end;
    }
  } catch (const std::exception& e) {
    log_message(LogLevel::Error,
                fmt::format("page-mapped arena of heap '{}': unmapping cached pages for {} "
                            "failed: {}",
                            source_.heap().name, why, e.what()));
  }
  return taken;
}

GrowthRefusal PageArenaAllocator::grow(std::uint64_t count) {
  if (!source_.reserve(count << page_shift_)) return GrowthRefusal::Budget;
  std::array<PhysicalPage, kReleaseBatch> made{};
  std::uint64_t left = count;
  GrowthRefusal refusal = GrowthRefusal::None;
  while (left != 0 && refusal == GrowthRefusal::None) {
    std::size_t n = 0;
    while (n < made.size() && n < left) {
      try {
        made[n] = vm_.try_create_page(heap_);
      } catch (const std::exception& e) {
        log_message(LogLevel::Error, fmt::format("page-mapped arena of heap '{}': creating a "
                                                 "page failed: {}",
                                                 source_.heap().name, e.what()));
        made[n] = {};
      }
      if (!made[n]) {
        refusal = GrowthRefusal::Device;
        break;
      }
      ++n;
    }
    left -= n;
    std::lock_guard lock(mutex_);
    pool_.insert(pool_.end(), made.begin(), made.begin() + static_cast<std::ptrdiff_t>(n));
    held_pages_ += n;
    peak_held_pages_ = std::max(peak_held_pages_, held_pages_);
    counters_.created += n;
  }
  // Pages made before the device refused stay pooled until the caller gives them back.
  if (left != 0) source_.unreserve(left << page_shift_);
  return refusal;
}

void PageArenaAllocator::deallocate(const Placement& placement) noexcept {
  if (placement.block.id != block_.id || placement.block.address != block_.address ||
      placement.block.size != block_.size) {
    log_message(LogLevel::Error,
                fmt::format("page-mapped arena of heap '{}': deallocate of a placement in block "
                            "{:#x} at offset {}, which is not this arena's range ({:#x}); "
                            "nothing freed",
                            source_.heap().name, placement.block.id, placement.offset, block_.id));
    return;
  }
  const TlsfAllocation handle = handle_of(placement);
  bool cached_any = false;
  {
    std::lock_guard lock(mutex_);
    Region& region = region_of(placement.offset);
    std::uint64_t size = 0;
    try {
      size = region.tlsf.allocation_size(handle);
    } catch (const std::exception& e) {
      log_message(LogLevel::Error,
                  fmt::format("page-mapped arena of heap '{}': deallocate at offset {}: {}; "
                              "nothing freed",
                              source_.heap().name, placement.offset, e.what()));
      return;
    }
    if (region.base + handle.offset() != placement.offset || size != placement.size) {
      log_message(LogLevel::Error,
                  fmt::format("page-mapped arena of heap '{}': deallocate of {} at offset {} does "
                              "not match its record ({} at offset {}); nothing freed",
                              source_.heap().name, placement.size, placement.offset, size,
                              region.base + handle.offset()));
      return;
    }
    region.tlsf.free(handle);
    live_bytes_ -= size;
    --live_count_;
    const auto first = static_cast<std::uint32_t>(placement.offset >> page_shift_);
    const auto last = static_cast<std::uint32_t>((placement.offset + size - 1) >> page_shift_);
    for (std::uint32_t s = first; s <= last; ++s) {
      if (--slots_[s].live != 0) continue;
      cache_push(s);  // stays mapped: free never calls the driver
      cached_any = true;
    }
    if (!cached_any ||
        (pool_.size() + cached_pages_ <= max_cached_pages_ && source_.fits_soft_limit(0))) {
      return;
    }
  }
  release_idle(Release::Excess);
}

void PageArenaAllocator::trim() { release_idle(Release::All); }

void PageArenaAllocator::release_idle(Release what) noexcept {
  std::array<PhysicalPage, kReleaseBatch> pages{};
  for (;;) {
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      n = take_idle_pages(pages, what);
    }
    if (n == 0) return;
    give_back(std::span(pages.data(), n));
    // Pages pooled after this first pass were made for requests still in flight.
    if (n < pages.size() && what == Release::PoolAndExcess) what = Release::Excess;
  }
}

std::size_t PageArenaAllocator::take_idle_pages(std::span<PhysicalPage> out,
                                                Release what) noexcept {
  std::size_t n = 0;
  // How many more idle pages to take now. The soft limit is judged before any of these pages is
  // unreserved, so while over it a call takes a whole batch; the caller comes back until the
  // heap is under it or nothing is idle.
  const auto wanted = [&]() -> std::size_t {
    const std::uint64_t idle = pool_.size() + cached_pages_;
    const std::size_t room = out.size() - n;
    if (what == Release::All || !source_.fits_soft_limit(0)) {
      return static_cast<std::size_t>(std::min<std::uint64_t>(idle, room));
    }
    return idle > max_cached_pages_
               ? static_cast<std::size_t>(std::min<std::uint64_t>(idle - max_cached_pages_, room))
               : 0;
  };
  while (!pool_.empty() && n < out.size() && (what == Release::PoolAndExcess || wanted() != 0)) {
    out[n++] = pool_.back();
    pool_.pop_back();
  }
  if (const std::size_t more = std::min<std::uint64_t>(wanted(), cached_pages_); more != 0) {
    n += take_oldest_cached(out.subspan(n, more), "giving them back");
  }
  held_pages_ -= n;
  counters_.released += n;
  return n;
}

void PageArenaAllocator::give_back(std::span<const PhysicalPage> pages) noexcept {
  for (const PhysicalPage page : pages) {
    try {
      vm_.release_page(heap_, page);
    } catch (const std::exception& e) {
      // Only a backend bug gets here; keep the books as if the page went back.
      log_message(LogLevel::Error,
                  fmt::format("page-mapped arena of heap '{}': the device refused to release "
                              "page {:#x}: {}",
                              source_.heap().name, page.id, e.what()));
    }
  }
  source_.unreserve(pages.size() << page_shift_);
}

void PageArenaAllocator::cache_push(std::uint32_t slot) noexcept {
  PageSlot& s = slots_[slot];
  s.older = newest_cached_;
  s.newer = kNone;
  if (newest_cached_ != kNone) {
    slots_[newest_cached_].newer = slot;
  } else {
    oldest_cached_ = slot;
  }
  newest_cached_ = slot;
  ++cached_pages_;
}

void PageArenaAllocator::cache_unlink(std::uint32_t slot) noexcept {
  PageSlot& s = slots_[slot];
  (s.older != kNone ? slots_[s.older].newer : oldest_cached_) = s.newer;
  (s.newer != kNone ? slots_[s.newer].older : newest_cached_) = s.older;
  s.older = kNone;
  s.newer = kNone;
  --cached_pages_;
}

HeapAllocatorStats PageArenaAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return {.reserved_bytes = held_pages_ << page_shift_,
          .peak_reserved_bytes = peak_held_pages_ << page_shift_,
          .live_bytes = live_bytes_,
          .live_count = live_count_,
          .blocks = held_pages_,
          .cached_bytes = (cached_pages_ + pool_.size()) << page_shift_};
}

std::uint64_t PageArenaAllocator::largest_free_range() const {
  std::lock_guard lock(mutex_);
  return std::max(large_.tlsf.statistics().largest_free_range,
                  small_.tlsf.statistics().largest_free_range);
}

ArenaPageCounters PageArenaAllocator::page_counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

std::string PageArenaAllocator::validate() const {
  std::lock_guard lock(mutex_);
  std::vector<std::uint32_t> recount(slots_.size());
  std::uint64_t bytes = 0;
  std::uint64_t count = 0;
  for (const Region* region : {&large_, &small_}) {
    if (std::string tlsf = region->tlsf.validate(); !tlsf.empty()) {
      return fmt::format("TLSF of the region at {}: {}", region->base, tlsf);
    }
    region->tlsf.for_each_allocation([&](const TlsfAllocationInfo& a) {
      const std::uint64_t offset = region->base + a.offset;
      for (std::uint64_t s = offset >> page_shift_; s <= (offset + a.size - 1) >> page_shift_;
           ++s) {
        ++recount[s];
      }
      bytes += a.size;
      ++count;
    });
  }
  if (bytes != live_bytes_ || count != live_count_) {
    return fmt::format("live {} in {} allocation(s) counted, {} in {} recounted", live_bytes_,
                       live_count_, bytes, count);
  }
  std::uint64_t mapped = 0;
  std::uint64_t cached = 0;
  for (std::uint32_t s = 0; s < slots_.size(); ++s) {
    const PageSlot& slot = slots_[s];
    if (slot.live != recount[s]) {
      return fmt::format("page {} (offset {}): {} live allocation(s) counted, {} recounted", s,
                         std::uint64_t{s} << page_shift_, slot.live, recount[s]);
    }
    if (slot.live != 0 && slot.page == 0) {
      return fmt::format("page {} (offset {}) is under a live allocation but unmapped", s,
                         std::uint64_t{s} << page_shift_);
    }
    if (slot.page != 0) ++mapped;
    if (slot.page != 0 && slot.live == 0) ++cached;
  }
  std::uint64_t listed = 0;
  std::uint32_t prev = kNone;
  for (std::uint32_t s = oldest_cached_; s != kNone; prev = s, s = slots_[s].newer) {
    if (s >= slots_.size() || ++listed > cached) return "the cache list holds pages not cached";
    if (slots_[s].older != prev) return fmt::format("cache list: page {} links back wrongly", s);
    if (slots_[s].page == 0 || slots_[s].live != 0) {
      return fmt::format("cache list: page {} is not a cached page", s);
    }
  }
  if (prev != newest_cached_ || listed != cached || cached != cached_pages_) {
    return fmt::format("{} cached page(s) counted, {} listed, {} found", cached_pages_, listed,
                       cached);
  }
  if (mapped + pool_.size() != held_pages_) {
    return fmt::format("{} page(s) held, {} mapped and {} pooled", held_pages_, mapped,
                       pool_.size());
  }
  return {};
}

}  // namespace gpumem
