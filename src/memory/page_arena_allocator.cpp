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
  if (o.max_piece_pages == 0) throw InvalidArgument("ArenaOptions: max_piece_pages must be >= 1");
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
                            "still live; their memory is released with it",
                            source_.heap().name, live_count_, format_bytes(live_bytes_)));
  }
  try {
    for (const Piece& piece : pieces_) {
      if (!piece.memory) continue;
      if (piece.first != kNone) vm_.unmap(heap_, slot_address(piece.first));
      vm_.release(heap_, piece.memory);
    }
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
  // memory rarely changes hands (each move costs an unmap and a map, ~60 us per piece on CUDA).
  const auto try_place = [&](Region& r) -> std::optional<TlsfAllocation> {
    if (held_pages_ == busy_pages_ + pooled_pages_) return r.tlsf.try_allocate(rounded, align);
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
  // subscribers who call back into us: do it without the lock, then plan again, since others
  // may have freed, mapped or taken memory meanwhile.
  CoverPlan plan;
  for (;;) {
    plan = plan_cover(first, last);
    if (plan.to_create.empty()) break;
    // Idle pieces too large for the holes go back first, so that their memory returns in
    // pieces of the right size.
    std::vector<PhysicalMemory> recut(plan.to_release.size());
    recut.resize(take_pieces(plan.to_release, recut, "cutting them to size"));
    lock.unlock();
    give_back(recut);
    const GrowthRefusal refusal = grow(plan.to_create);
    lock.lock();
    if (refusal != GrowthRefusal::None) {
      region->tlsf.free(*a);
      lock.unlock();
      release_idle(Release::PoolAndExcess);  // what this request made serves nobody now
      return {.refusal = refusal};
    }
  }
  if (!commit(first, last, plan)) {
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
    if (slots_[s].piece == kNone) return false;
  }
  return true;
}

std::uint64_t PageArenaAllocator::idle_pages_kept() const noexcept {
  const double kept = options_.idle_slack_fraction * static_cast<double>(peak_live_bytes_);
  return static_cast<std::uint64_t>(kept) >> page_shift_;
}

PageArenaAllocator::CoverPlan PageArenaAllocator::plan_cover(std::uint32_t first,
                                                             std::uint32_t last) const {
  CoverPlan plan;
  std::uint64_t holes = 0;
  std::uint64_t here = 0;  // idle pages of pieces over [first, last]: reused in place
  for (std::uint32_t s = first; s <= last;) {
    const std::uint32_t p = slots_[s].piece;
    if (p == kNone) {
      ++holes;
      ++s;
      continue;
    }
    if (pieces_[p].busy == 0) here += pieces_[p].memory.pages;
    s = pieces_[p].first + static_cast<std::uint32_t>(pieces_[p].memory.pages);
  }
  if (holes == 0) return plan;
  // Candidates, each used once: pooled pieces, then idle pieces elsewhere (oldest first) while
  // more than the slack stays idle, as many as there are holes and a few more to choose a fit
  // from. Idle pieces over the request's own pages are never candidates.
  constexpr std::size_t kFitChoices = 16;
  std::vector<std::uint32_t> candidates(pool_.begin(), pool_.end());
  const std::size_t pooled = candidates.size();
  const std::uint64_t keep = idle_pages_kept();
  std::uint64_t stealable = idle_pages_ - here > keep ? idle_pages_ - here - keep : 0;
  for (std::uint32_t p = oldest_idle_;
       p != kNone && stealable != 0 && candidates.size() < pooled + holes + kFitChoices;
       p = pieces_[p].newer) {
    const Piece& piece = pieces_[p];
    const bool over_request = piece.first <= last && piece.first + piece.memory.pages > first;
    if (over_request || piece.memory.pages > stealable) continue;
    candidates.push_back(p);
    stealable -= piece.memory.pages;
  }
  std::vector<bool> used(candidates.size(), false);
  for (std::uint32_t s = first; s <= last;) {
    if (slots_[s].piece != kNone) {
      ++s;
      continue;
    }
    std::uint32_t end = s;  // the run of unmapped slots in the request: [s, end]
    while (end < last && slots_[end + 1].piece == kNone) ++end;
    for (std::uint32_t at = s; at <= end;) {
      const std::uint64_t need = end - at + 1;
      // Best fit among the candidates no larger than the rest of the run (a larger one would
      // strand memory here that requests elsewhere might need), pooled ones first.
      std::size_t best = candidates.size();
      for (const bool from_pool : {true, false}) {
        const std::size_t begin = from_pool ? 0 : pooled;
        const std::size_t stop = from_pool ? pooled : candidates.size();
        for (std::size_t i = begin; i < stop; ++i) {
          const std::uint64_t pages = pieces_[candidates[i]].memory.pages;
          if (used[i] || pages > need) continue;
          if (best == candidates.size() || pages > pieces_[candidates[best]].memory.pages) best = i;
        }
        if (best != candidates.size()) break;
      }
      if (best == candidates.size()) {
        // New pieces for the rest of the run. Where an idle piece is too large for it, the
        // smallest such goes back, so that the memory held does not grow while idle memory
        // could serve: it returns in pieces of the right size.
        for (std::uint64_t left = need; left != 0;) {
          const std::uint64_t pages = std::min(left, options_.max_piece_pages);
          plan.to_create.push_back(pages);
          left -= pages;
        }
        std::size_t larger = candidates.size();
        for (std::size_t i = 0; i < candidates.size(); ++i) {
          if (used[i]) continue;
          if (larger == candidates.size() ||
              pieces_[candidates[i]].memory.pages < pieces_[candidates[larger]].memory.pages) {
            larger = i;
          }
        }
        if (larger != candidates.size()) {
          used[larger] = true;
          plan.to_release.push_back(candidates[larger]);
        }
        break;
      }
      used[best] = true;
      const std::uint64_t pages = pieces_[candidates[best]].memory.pages;
      plan.covers.push_back({.slot = at, .piece = candidates[best]});
      at += static_cast<std::uint32_t>(pages);
    }
    s = end + 1;
  }
  return plan;
}

bool PageArenaAllocator::commit(std::uint32_t first, std::uint32_t last, const CoverPlan& plan) {
  std::uint64_t reused = 0;
  for (std::uint32_t s = first; s <= last; ++s) {
    if (slots_[s].piece != kNone && slots_[s].live == 0) ++reused;
  }
  // Idle pieces elsewhere come off their slots first, neighbours in one call.
  std::vector<std::uint32_t> moved;
  for (const Cover& c : plan.covers) {
    if (pieces_[c.piece].first != kNone) moved.push_back(c.piece);
  }
  if (!moved.empty()) {
    std::sort(moved.begin(), moved.end(), [&](std::uint32_t a, std::uint32_t b) {
      return pieces_[a].first < pieces_[b].first;
    });
    const std::size_t unmapped = unmap_idle(moved, "moving them");
    std::uint64_t pages = 0;
    for (std::size_t i = 0; i < unmapped; ++i) {
      pages += pieces_[moved[i]].memory.pages;
      // Pooled for now: a failure below leaves them there, where the next request finds them.
      pool_.push_back(moved[i]);
      pooled_pages_ += pieces_[moved[i]].memory.pages;
    }
    counters_.stolen += pages;
    counters_.pieces_moved += unmapped;
    if (unmapped != moved.size()) return false;
  }
  for (const Cover& c : plan.covers) {
    const auto it = std::find(pool_.begin(), pool_.end(), c.piece);
    *it = pool_.back();
    pool_.pop_back();
    pooled_pages_ -= pieces_[c.piece].memory.pages;
  }
  // Mapped in runs of neighbouring pieces, one call each.
  std::vector<PhysicalMemory> run;
  for (std::size_t i = 0; i < plan.covers.size();) {
    std::size_t j = i + 1;
    while (j < plan.covers.size() &&
           plan.covers[j].slot ==
               plan.covers[j - 1].slot + pieces_[plan.covers[j - 1].piece].memory.pages) {
      ++j;
    }
    run.clear();
    for (std::size_t k = i; k < j; ++k) run.push_back(pieces_[plan.covers[k].piece].memory);
    try {
      vm_.map_run(heap_, slot_address(plan.covers[i].slot), run);
    } catch (const std::exception& e) {
      // Only a driver failing (out of resources, or a backend bug) gets here. What this commit
      // mapped stays mapped and idle; the rest goes back to the pool.
      log_message(LogLevel::Error,
                  fmt::format("page-mapped arena of heap '{}': mapping {} piece(s) at offset {} "
                              "failed: {}",
                              source_.heap().name, run.size(),
                              std::uint64_t{plan.covers[i].slot} << page_shift_, e.what()));
      for (std::size_t k = i; k < plan.covers.size(); ++k) {
        pool_.push_back(plan.covers[k].piece);
        pooled_pages_ += pieces_[plan.covers[k].piece].memory.pages;
      }
      return false;
    }
    for (std::size_t k = i; k < j; ++k) {
      const Cover& c = plan.covers[k];
      pieces_[c.piece].first = c.slot;
      for (std::uint64_t n = 0; n < pieces_[c.piece].memory.pages; ++n) {
        slots_[c.slot + n].piece = c.piece;
      }
      idle_push(c.piece);  // busy from the count below
    }
    i = j;
  }
  for (std::uint32_t s = first; s <= last; ++s) {
    if (slots_[s].live++ != 0) continue;
    ++busy_pages_;
    Piece& piece = pieces_[slots_[s].piece];
    if (piece.busy++ == 0) idle_unlink(slots_[s].piece);
  }
  counters_.reused_in_place += reused;
  return true;
}

std::size_t PageArenaAllocator::unmap_idle(std::span<const std::uint32_t> pieces,
                                           const char* why) noexcept {
  std::size_t done = 0;
  try {
    if (options_.before_unmap) options_.before_unmap();
    std::vector<PhysicalMemory> run;
    while (done < pieces.size()) {
      std::size_t end = done + 1;
      while (end < pieces.size() &&
             pieces_[pieces[end]].first ==
                 pieces_[pieces[end - 1]].first + pieces_[pieces[end - 1]].memory.pages) {
        ++end;
      }
      run.clear();
      for (std::size_t i = done; i < end; ++i) run.push_back(pieces_[pieces[i]].memory);
      vm_.unmap_run(heap_, slot_address(pieces_[pieces[done]].first), run);  // on failure all stay
      for (std::size_t i = done; i < end; ++i) {
        Piece& piece = pieces_[pieces[i]];
        idle_unlink(pieces[i]);
        for (std::uint64_t n = 0; n < piece.memory.pages; ++n)
          slots_[piece.first + n].piece = kNone;
        piece.first = kNone;
      }
      done = end;
    }
  } catch (const std::exception& e) {
    log_message(LogLevel::Error,
                fmt::format("page-mapped arena of heap '{}': unmapping idle memory for {} "
                            "failed: {}",
                            source_.heap().name, why, e.what()));
  }
  return done;
}

GrowthRefusal PageArenaAllocator::grow(std::span<const std::uint64_t> sizes) {
  std::uint64_t total = 0;
  for (const std::uint64_t pages : sizes) total += pages;
  if (!source_.reserve(total << page_shift_)) return GrowthRefusal::Budget;
  std::uint64_t made_pages = 0;
  GrowthRefusal refusal = GrowthRefusal::None;
  for (const std::uint64_t pages : sizes) {
    PhysicalMemory memory;
    try {
      memory = vm_.try_create(heap_, pages);
    } catch (const std::exception& e) {
      log_message(LogLevel::Error,
                  fmt::format("page-mapped arena of heap '{}': creating {} page(s) failed: {}",
                              source_.heap().name, pages, e.what()));
    }
    if (!memory) {
      refusal = GrowthRefusal::Device;
      break;
    }
    made_pages += pages;
    std::lock_guard lock(mutex_);
    std::uint32_t index = 0;
    if (free_piece_records_.empty()) {
      index = static_cast<std::uint32_t>(pieces_.size());
      pieces_.emplace_back();
    } else {
      index = free_piece_records_.back();
      free_piece_records_.pop_back();
    }
    pieces_[index] = Piece{.memory = memory};
    pool_.push_back(index);
    pooled_pages_ += pages;
    held_pages_ += pages;
    ++held_pieces_;
    peak_held_pages_ = std::max(peak_held_pages_, held_pages_);
    counters_.created += pages;
    ++counters_.pieces_created;
  }
  // Pieces made before the device refused stay pooled until the caller gives them back.
  if (made_pages != total) source_.unreserve((total - made_pages) << page_shift_);
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
  bool idled_any = false;
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
      --busy_pages_;
      const std::uint32_t p = slots_[s].piece;
      if (--pieces_[p].busy != 0) continue;
      idle_push(p);  // stays mapped: free never calls the driver
      idled_any = true;
    }
    if (!idled_any ||
        (pooled_pages_ + idle_pages_ <= max_cached_pages_ && source_.fits_soft_limit(0))) {
      return;
    }
  }
  release_idle(Release::Excess);
}

void PageArenaAllocator::trim() { release_idle(Release::All); }

void PageArenaAllocator::release_idle(Release what) noexcept {
  std::array<PhysicalMemory, kReleaseBatch> pieces{};
  for (;;) {
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      n = take_idle_pieces(pieces, what);
    }
    if (n == 0) return;
    give_back(std::span(pieces.data(), n));
    // Pieces pooled after this first pass were made for requests still in flight.
    if (n < pieces.size() && what == Release::PoolAndExcess) what = Release::Excess;
  }
}

std::size_t PageArenaAllocator::take_idle_pieces(std::span<PhysicalMemory> out,
                                                 Release what) noexcept {
  std::vector<std::uint32_t> chosen;
  std::uint64_t pooled_left = pooled_pages_;
  std::uint64_t idle_left = idle_pages_;
  // Whether to take more idle memory now. The soft limit is judged before any of it is
  // unreserved, so while over it a call takes a whole batch; the caller comes back until the
  // heap is under it or nothing is idle.
  const auto wanted = [&] {
    return what == Release::All || !source_.fits_soft_limit(0) ||
           pooled_left + idle_left > max_cached_pages_;
  };
  for (auto it = pool_.rbegin(); it != pool_.rend() && chosen.size() < out.size() &&
                                 (what == Release::PoolAndExcess || wanted());
       ++it) {
    chosen.push_back(*it);
    pooled_left -= pieces_[*it].memory.pages;
  }
  for (std::uint32_t p = oldest_idle_; p != kNone && chosen.size() < out.size() && wanted();
       p = pieces_[p].newer) {
    chosen.push_back(p);
    idle_left -= pieces_[p].memory.pages;
  }
  return take_pieces(chosen, out, "giving them back");
}

std::size_t PageArenaAllocator::take_pieces(std::span<const std::uint32_t> chosen,
                                            std::span<PhysicalMemory> out,
                                            const char* why) noexcept {
  std::size_t n = 0;
  std::uint64_t pages = 0;
  const auto take = [&](std::uint32_t p) {
    out[n++] = pieces_[p].memory;
    pages += pieces_[p].memory.pages;
    forget_piece(p);
  };
  std::vector<std::uint32_t> mapped;
  for (const std::uint32_t p : chosen) {
    if (pieces_[p].first != kNone) {
      mapped.push_back(p);
      continue;
    }
    const auto it = std::find(pool_.begin(), pool_.end(), p);
    *it = pool_.back();
    pool_.pop_back();
    pooled_pages_ -= pieces_[p].memory.pages;
    take(p);
  }
  if (!mapped.empty()) {
    std::sort(mapped.begin(), mapped.end(), [&](std::uint32_t a, std::uint32_t b) {
      return pieces_[a].first < pieces_[b].first;
    });
    const std::size_t unmapped = unmap_idle(mapped, why);
    for (std::size_t i = 0; i < unmapped; ++i) take(mapped[i]);
  }
  held_pages_ -= pages;
  held_pieces_ -= n;
  counters_.released += pages;
  return n;
}

void PageArenaAllocator::forget_piece(std::uint32_t piece) noexcept {
  pieces_[piece] = Piece{};
  free_piece_records_.push_back(piece);
}

void PageArenaAllocator::give_back(std::span<const PhysicalMemory> pieces) noexcept {
  std::uint64_t pages = 0;
  for (const PhysicalMemory memory : pieces) {
    pages += memory.pages;
    try {
      vm_.release(heap_, memory);
    } catch (const std::exception& e) {
      // Only a backend bug gets here; keep the books as if the memory went back.
      log_message(LogLevel::Error,
                  fmt::format("page-mapped arena of heap '{}': the device refused to release "
                              "memory {:#x} ({} page(s)): {}",
                              source_.heap().name, memory.id, memory.pages, e.what()));
    }
  }
  source_.unreserve(pages << page_shift_);
}

void PageArenaAllocator::idle_push(std::uint32_t piece) noexcept {
  Piece& p = pieces_[piece];
  p.older = newest_idle_;
  p.newer = kNone;
  if (newest_idle_ != kNone) {
    pieces_[newest_idle_].newer = piece;
  } else {
    oldest_idle_ = piece;
  }
  newest_idle_ = piece;
  idle_pages_ += p.memory.pages;
}

void PageArenaAllocator::idle_unlink(std::uint32_t piece) noexcept {
  Piece& p = pieces_[piece];
  (p.older != kNone ? pieces_[p.older].newer : oldest_idle_) = p.newer;
  (p.newer != kNone ? pieces_[p.newer].older : newest_idle_) = p.older;
  p.older = kNone;
  p.newer = kNone;
  idle_pages_ -= p.memory.pages;
}

HeapAllocatorStats PageArenaAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return {.reserved_bytes = held_pages_ << page_shift_,
          .peak_reserved_bytes = peak_held_pages_ << page_shift_,
          .live_bytes = live_bytes_,
          .live_count = live_count_,
          .blocks = held_pieces_,
          .cached_bytes = (held_pages_ - busy_pages_) << page_shift_};
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
  std::vector<std::uint32_t> busy(pieces_.size());
  std::uint64_t busy_pages = 0;
  for (std::uint32_t s = 0; s < slots_.size(); ++s) {
    const PageSlot& slot = slots_[s];
    if (slot.live != recount[s]) {
      return fmt::format("page {} (offset {}): {} live allocation(s) counted, {} recounted", s,
                         std::uint64_t{s} << page_shift_, slot.live, recount[s]);
    }
    if (slot.piece == kNone) {
      if (slot.live != 0) {
        return fmt::format("page {} (offset {}) is under a live allocation but unmapped", s,
                           std::uint64_t{s} << page_shift_);
      }
      continue;
    }
    const Piece& piece = pieces_[slot.piece];
    if (!piece.memory || piece.first == kNone || s < piece.first ||
        s >= piece.first + piece.memory.pages) {
      return fmt::format("page {} names piece {}, which is not mapped over it", s, slot.piece);
    }
    if (slot.live != 0) {
      ++busy[slot.piece];
      ++busy_pages;
    }
  }
  std::uint64_t held = 0;
  std::uint64_t pieces = 0;
  std::uint64_t pooled = 0;
  std::uint64_t idle = 0;
  for (std::uint32_t p = 0; p < pieces_.size(); ++p) {
    const Piece& piece = pieces_[p];
    if (!piece.memory) continue;
    held += piece.memory.pages;
    ++pieces;
    const auto in_pool = static_cast<std::size_t>(std::count(pool_.begin(), pool_.end(), p));
    if (piece.first == kNone) {
      if (in_pool != 1) return fmt::format("piece {} is unmapped but pooled {} times", p, in_pool);
      pooled += piece.memory.pages;
      continue;
    }
    if (in_pool != 0) return fmt::format("piece {} is mapped and pooled", p);
    for (std::uint64_t n = 0; n < piece.memory.pages; ++n) {
      if (slots_[piece.first + n].piece != p) {
        return fmt::format("piece {} is mapped from page {}, but page {} names {}", p, piece.first,
                           piece.first + n, slots_[piece.first + n].piece);
      }
    }
    if (piece.busy != busy[p]) {
      return fmt::format("piece {}: {} busy page(s) counted, {} recounted", p, piece.busy, busy[p]);
    }
    if (piece.busy == 0) idle += piece.memory.pages;
  }
  std::uint64_t listed = 0;
  std::uint32_t prev = kNone;
  for (std::uint32_t p = oldest_idle_; p != kNone; prev = p, p = pieces_[p].newer) {
    if (p >= pieces_.size() || (listed += pieces_[p].memory.pages) > idle) {
      return "the idle list holds pieces that are not idle";
    }
    if (pieces_[p].older != prev) return fmt::format("idle list: piece {} links back wrongly", p);
    if (pieces_[p].first == kNone || pieces_[p].busy != 0) {
      return fmt::format("idle list: piece {} is not mapped and idle", p);
    }
  }
  if (prev != newest_idle_ || listed != idle || idle != idle_pages_) {
    return fmt::format("{} idle page(s) counted, {} listed, {} found", idle_pages_, listed, idle);
  }
  if (held != held_pages_ || pieces != held_pieces_ || pooled != pooled_pages_ ||
      busy_pages != busy_pages_) {
    return fmt::format(
        "held {} page(s) in {} piece(s), {} pooled, {} busy counted; {} in {}, {} "
        "and {} recounted",
        held_pages_, held_pieces_, pooled_pages_, busy_pages_, held, pieces, pooled, busy_pages);
  }
  return {};
}

}  // namespace gpumem
