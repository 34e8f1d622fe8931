#include "gpumem/alloc/linear_allocator.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "owner_id.hpp"

namespace gpumem {
namespace {

constexpr std::uint64_t kMaxSize = std::uint64_t{1} << 63;

}  // namespace

LinearAllocator::LinearAllocator(std::uint64_t size, LinearMode mode)
    : size_(size), mode_(mode), owner_(detail::next_owner_id()), upper_begin_(size) {
  if (size == 0 || size > kMaxSize) {
    throw InvalidArgument(fmt::format("LinearAllocator: size {} is outside 1..2^63 bytes", size));
  }
}

std::optional<LinearAllocation> LinearAllocator::try_allocate(std::uint64_t size,
                                                              std::uint64_t alignment,
                                                              StackSide side) {
  if (size == 0) throw InvalidArgument("LinearAllocator::try_allocate: size 0 is not allocatable");
  if (!is_power_of_two(alignment)) {
    throw InvalidArgument(fmt::format(
        "LinearAllocator::try_allocate: alignment {} is not a power of two", alignment));
  }
  if (side == StackSide::Upper && mode_ != LinearMode::DoubleStack) {
    throw InvalidArgument("LinearAllocator::try_allocate: only a DoubleStack has an upper side");
  }
  const bool lower = side == StackSide::Lower;
  const std::optional<std::uint64_t> offset =
      lower ? place_lower(size, alignment) : place_upper(size, alignment);
  if (!offset) return std::nullopt;

  const Entry entry{lower ? lower_end_ : upper_begin_, *offset, size, next_id_++, false};
  std::uint64_t slot = 0;
  if (lower) {
    push_lower(entry);
    lower_end_ = *offset + size;
    slot = lower_count_ - 1;
  } else {
    upper_.push_back(entry);
    upper_begin_ = *offset;
    slot = upper_.size() - 1;
  }
  ++live_count_;
  allocated_bytes_ += size;
  return handle_of(entry, slot, side);
}

std::optional<std::uint64_t> LinearAllocator::place_lower(std::uint64_t size,
                                                          std::uint64_t alignment) const {
  // Offsets stay below 2^63 and alignments are at most 2^63, so align_up cannot overflow.
  std::uint64_t aligned = 0;
  if (mode_ != LinearMode::Ring) {
    align_up(lower_end_, alignment, aligned);
    if (aligned > upper_begin_ || size > upper_begin_ - aligned) return std::nullopt;
    return aligned;
  }
  // The ring's free space is [tail, end) plus [0, head) while it has not wrapped, and [tail, head)
  // once it has. tail == head with entries present means full.
  const std::uint64_t head = ring_head();
  const bool wrapped = lower_count_ != 0 && lower_end_ <= head;
  const std::uint64_t limit = wrapped ? head : size_;
  align_up(lower_end_, alignment, aligned);
  if (aligned <= limit && size <= limit - aligned) return aligned;
  if (!wrapped && size <= head) return 0;  // skip the short tail rather than split across the end
  return std::nullopt;
}

std::optional<std::uint64_t> LinearAllocator::place_upper(std::uint64_t size,
                                                          std::uint64_t alignment) const {
  if (size > upper_begin_) return std::nullopt;
  const std::uint64_t offset = (upper_begin_ - size) & ~(alignment - 1);
  if (offset < lower_end_) return std::nullopt;
  return offset;
}

void LinearAllocator::push_lower(const Entry& entry) {
  if (lower_count_ == lower_.size()) {
    // Grow by doubling, unrolling the circle so the oldest entry lands at index 0.
    std::vector<Entry> grown(std::max<std::size_t>(16, lower_.size() * 2));
    for (std::uint64_t i = 0; i < lower_count_; ++i) grown[i] = lower_at(i);
    lower_ = std::move(grown);
    lower_head_ = 0;
  }
  ++lower_count_;
  lower_at(lower_count_ - 1) = entry;
}

void LinearAllocator::free(const LinearAllocation& allocation) {
  if (mode_ == LinearMode::FreeAll) {
    throw InvalidArgument(
        "LinearAllocator::free: a FreeAll allocator frees only all at once, through reset()");
  }
  Entry& entry = live_entry(allocation);
  entry.freed = true;
  --live_count_;
  allocated_bytes_ -= entry.size;
  reclaim();
}

void LinearAllocator::reclaim() {
  if (mode_ == LinearMode::Ring) {
    while (lower_count_ != 0 && lower_at(0).freed) {
      lower_head_ = (lower_head_ + 1) & (lower_.size() - 1);
      --lower_count_;
    }
    // An empty ring restarts at 0: the longest possible run is free again.
    if (lower_count_ == 0) lower_end_ = 0;
    return;
  }
  while (lower_count_ != 0 && lower_at(lower_count_ - 1).freed) {
    lower_end_ = lower_at(lower_count_ - 1).cursor_before;
    --lower_count_;
  }
  while (!upper_.empty() && upper_.back().freed) {
    upper_begin_ = upper_.back().cursor_before;
    upper_.pop_back();
  }
}

LinearAllocator::Entry& LinearAllocator::live_entry(const LinearAllocation& allocation) {
  const char* problem = nullptr;
  if (allocation.owner_ == 0) {
    problem = "is empty (default-constructed)";
  } else if (allocation.owner_ != owner_) {
    problem = "belongs to another allocator";
  } else if (allocation.id_ == 0 || allocation.id_ >= next_id_) {
    problem = "was not issued by this allocator";
  } else {
    Entry* entry = nullptr;
    if (allocation.side_ == StackSide::Upper) {
      if (allocation.slot_ < upper_.size()) entry = &upper_[allocation.slot_];
    } else if (mode_ == LinearMode::Ring) {
      // Ring ids are consecutive from the oldest entry on: the position follows from the id.
      const std::uint64_t oldest_id = lower_count_ == 0 ? next_id_ : lower_at(0).id;
      if (allocation.id_ >= oldest_id && allocation.id_ - oldest_id < lower_count_) {
        entry = &lower_at(allocation.id_ - oldest_id);
      }
    } else if (allocation.slot_ < lower_count_) {
      entry = &lower_at(allocation.slot_);
    }
    if (entry != nullptr && entry->id == allocation.id_ && !entry->freed) return *entry;
    problem = "is stale: its allocation was already freed";
  }
  throw InvalidHandle(fmt::format("LinearAllocator::free: the handle of offset {} {}",
                                  allocation.offset_, problem));
}

std::optional<LinearAllocation> LinearAllocator::oldest() const {
  if (mode_ != LinearMode::Ring) {
    throw InvalidArgument("LinearAllocator::oldest: only a Ring frees in allocation order");
  }
  // reclaim() pops freed entries off the front, so the front is always live.
  if (lower_count_ == 0) return std::nullopt;
  return handle_of(lower_at(0), 0, StackSide::Lower);
}

bool LinearAllocator::free_oldest() {
  const std::optional<LinearAllocation> front = oldest();
  if (!front) return false;
  free(*front);
  return true;
}

void LinearAllocator::reset() {
  lower_head_ = 0;
  lower_count_ = 0;
  upper_.clear();
  lower_end_ = 0;
  upper_begin_ = size_;
  live_count_ = 0;
  allocated_bytes_ = 0;
}

std::uint64_t LinearAllocator::used_bytes() const noexcept {
  if (mode_ != LinearMode::Ring) return lower_end_ + (size_ - upper_begin_);
  if (lower_count_ == 0) return 0;
  const std::uint64_t head = ring_head();
  return lower_end_ > head ? lower_end_ - head : size_ - head + lower_end_;
}

double LinearAllocator::occupancy() const noexcept {
  return static_cast<double>(used_bytes()) / static_cast<double>(size_);
}

LinearStatistics LinearAllocator::statistics() const {
  LinearStatistics s;
  s.size = size_;
  s.used_bytes = used_bytes();
  s.allocated_bytes = allocated_bytes_;
  s.allocation_count = live_count_;
  s.pending_free_count = lower_count_ + upper_.size() - live_count_;
  s.occupancy = occupancy();
  return s;
}

std::string LinearAllocator::validate() const {
  std::uint64_t live = 0, bytes = 0, reserved = 0;
  std::uint64_t cursor = mode_ == LinearMode::Ring ? ring_head() : 0;
  for (std::uint64_t i = 0; i < lower_count_; ++i) {
    const Entry& e = lower_at(i);
    if (e.cursor_before != cursor) {
      return fmt::format("lower entry {}: starts from {}, the previous one ended at {}", i,
                         e.cursor_before, cursor);
    }
    if (e.size == 0 || e.offset > size_ || e.size > size_ - e.offset) {
      return fmt::format("lower entry {}: [{}, +{}) leaves the range", i, e.offset, e.size);
    }
    const bool wraps = e.offset < e.cursor_before;
    if (wraps && (mode_ != LinearMode::Ring || e.offset != 0)) {
      return fmt::format("lower entry {}: offset {} lies below its cursor {}", i, e.offset,
                         e.cursor_before);
    }
    if (i > 0) {
      // Ring ids must be consecutive: live_entry finds entries by id.
      const std::uint64_t prev_id = lower_at(i - 1).id;
      if (mode_ == LinearMode::Ring ? e.id != prev_id + 1 : e.id <= prev_id) {
        return fmt::format("lower entry {}: id {} out of order after {}", i, e.id, prev_id);
      }
    }
    if (e.freed && mode_ == LinearMode::FreeAll) return "a FreeAll entry is marked freed";
    reserved +=
        wraps ? size_ - e.cursor_before + e.offset + e.size : e.offset + e.size - e.cursor_before;
    if (!e.freed) {
      ++live;
      bytes += e.size;
    }
    cursor = e.offset + e.size;
  }
  if (lower_count_ != 0) {
    const std::uint64_t reclaimable = mode_ == LinearMode::Ring ? 0 : lower_count_ - 1;
    if (mode_ != LinearMode::FreeAll && lower_at(reclaimable).freed) {
      return "a freed lower entry was not reclaimed";
    }
  }
  if (cursor != lower_end_) return fmt::format("lower end {} where {}", lower_end_, cursor);

  cursor = size_;
  for (std::uint64_t i = 0; i < upper_.size(); ++i) {
    const Entry& e = upper_[i];
    if (e.cursor_before != cursor || e.size == 0 || e.offset > cursor ||
        e.size > cursor - e.offset) {
      return fmt::format("upper entry {}: [{}, +{}) does not sit below {}", i, e.offset, e.size,
                         cursor);
    }
    reserved += cursor - e.offset;
    if (!e.freed) {
      ++live;
      bytes += e.size;
    }
    cursor = e.offset;
  }
  if (!upper_.empty() && upper_.back().freed) return "a freed upper entry was not reclaimed";
  if (cursor != upper_begin_) return fmt::format("upper begin {} where {}", upper_begin_, cursor);
  if (lower_end_ > upper_begin_) {
    return fmt::format("stacks cross: lower end {} above upper begin {}", lower_end_, upper_begin_);
  }
  if (reserved != used_bytes() || reserved > size_) {
    return fmt::format("entries reserve {} bytes, used_bytes says {} of {}", reserved, used_bytes(),
                       size_);
  }
  if (live != live_count_ || bytes != allocated_bytes_) {
    return fmt::format("counters ({} live, {} bytes) differ from a recount ({}, {})", live_count_,
                       allocated_bytes_, live, bytes);
  }
  return {};
}

}  // namespace gpumem
