#include "gpumem/alloc/tlsf_metadata.hpp"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "owner_id.hpp"

namespace gpumem {
namespace {

// 32 lists per power of two: a range in a list is at most 1/32 (3%) longer than the list's lower
// bound, which bounds the waste of taking a list's head without looking at its size.
constexpr std::uint32_t kSecondLevelBits = 5;
constexpr std::uint32_t kSecondLevelCount = 1u << kSecondLevelBits;

std::uint32_t floor_log2(std::uint64_t value) {
  return 63u - static_cast<std::uint32_t>(std::countl_zero(value));
}

// The list a free range of `size` (>= 1) lives in: its size rounded down to a class boundary.
// Sizes below 32 get one list each; above, the first level is the power of two and the second
// the next five bits.
std::uint32_t list_of(std::uint64_t size) {
  if (size < kSecondLevelCount) return static_cast<std::uint32_t>(size);
  const std::uint32_t msb = floor_log2(size);
  const std::uint32_t first = msb - kSecondLevelBits + 1;
  const auto second =
      static_cast<std::uint32_t>(size >> (msb - kSecondLevelBits)) ^ kSecondLevelCount;
  return first * kSecondLevelCount + second;
}

// The first list whose every range is at least `size` (<= 2^63) long: size rounded up to a
// class boundary.
std::uint32_t search_list_of(std::uint64_t size) {
  if (size >= kSecondLevelCount) {
    size += (std::uint64_t{1} << (floor_log2(size) - kSecondLevelBits)) - 1;
  }
  return list_of(size);
}

// The shortest range that list_of maps to `list`.
std::uint64_t list_lower_bound(std::uint32_t list) {
  const std::uint32_t first = list / kSecondLevelCount;
  const std::uint64_t second = list % kSecondLevelCount;
  if (first == 0) return second;
  return (kSecondLevelCount + second) << (first - 1);
}

// Bytes of padding that put `offset` on `alignment` (a power of two, offset < 2^63: no overflow).
std::uint64_t padding_for(std::uint64_t offset, std::uint64_t alignment) {
  return ((offset + alignment - 1) & ~(alignment - 1)) - offset;
}

}  // namespace

TlsfMetadata::TlsfMetadata(std::uint64_t size)
    : size_(size), owner_(detail::next_owner_id()), list_count_(0) {
  if (size == 0 || size > kMaxSize) {
    throw InvalidArgument(
        fmt::format("TlsfMetadata: block size {} is outside 1..2^63 bytes", size));
  }
  list_count_ = list_of(size) + 1;
  heads_.resize(list_count_);
  second_level_maps_.resize(list_count_ / kSecondLevelCount + 1);
  reset();
}

std::uint64_t TlsfMetadata::guaranteed_fit_size(std::uint64_t size, std::uint64_t alignment) {
  if (!is_power_of_two(alignment)) {
    throw InvalidArgument(fmt::format(
        "TlsfMetadata::guaranteed_fit_size: alignment {} is not a power of two", alignment));
  }
  const std::uint64_t slack = alignment - 1;
  if (size == 0 || size > kMaxSize || slack > kMaxSize - size) return UINT64_MAX;
  return list_lower_bound(search_list_of(size + slack));
}

std::optional<TlsfAllocation> TlsfMetadata::try_allocate(std::uint64_t size,
                                                         std::uint64_t alignment,
                                                         std::uint64_t user_data) {
  return try_allocate_preferring(size, alignment, {}, user_data);
}

std::optional<TlsfAllocation> TlsfMetadata::try_allocate_preferring(
    std::uint64_t size, std::uint64_t alignment,
    const std::function<bool(std::uint64_t offset)>& prefer, std::uint64_t user_data) {
  if (size == 0) throw InvalidArgument("TlsfMetadata::try_allocate: size 0 is not allocatable");
  if (!is_power_of_two(alignment)) {
    throw InvalidArgument(
        fmt::format("TlsfMetadata::try_allocate: alignment {} is not a power of two", alignment));
  }
  // Also keeps every size below 2^63 from here on, and splitting needs at most two new nodes.
  if (size > free_bytes_ || nodes_.size() >= kNil - 2) return std::nullopt;

  const auto fits = [&](std::uint32_t index) {
    const Node& n = nodes_[index];
    const std::uint64_t pad = padding_for(n.offset, alignment);
    return pad < n.size && size <= n.size - pad;
  };

  // 1. The good-fit list for the bare size: its head fits whenever the head happens to be aligned,
  //    which is the common case when sizes are multiples of the alignment.
  std::uint32_t chosen = kNil;
  std::uint32_t probe_end = search_list_of(size);
  const std::uint32_t good = first_nonempty_list(probe_end);
  if (good != kNil && fits(heads_[good])) chosen = heads_[good];
  // 2. Any range of size + alignment - 1 fits whatever its offset: still O(1).
  if (chosen == kNil && alignment > 1) {
    probe_end = list_count_;
    if (alignment - 1 <= size_ - size) {
      probe_end = search_list_of(size + alignment - 1);
      const std::uint32_t roomy = first_nonempty_list(probe_end);
      if (roomy != kNil) chosen = heads_[roomy];
    }
  }
  // 3. Ranges the O(1) paths cannot vouch for: those in the bare size's own class and, with
  //    alignment, those between. Bounded by kMaxFitProbes.
  if (chosen == kNil) chosen = probe(size, alignment, list_of(size), probe_end);
  if (chosen == kNil) return std::nullopt;
  // 4. A caller's preference: the smallest fitting range (of the first kMaxFitProbes) where it
  //    likes the allocation's offset, when it does not like the good fit's.
  if (prefer && !prefer(nodes_[chosen].offset + padding_for(nodes_[chosen].offset, alignment))) {
    if (const std::uint32_t liked = probe_preferred(size, alignment, prefer); liked != kNil) {
      chosen = liked;
    }
  }

  remove_free(chosen);
  const std::uint64_t pad = padding_for(nodes_[chosen].offset, alignment);
  if (pad != 0) {
    const std::uint32_t aligned = split_off(chosen, pad);
    insert_free(chosen);  // its physical predecessor is used: free ranges never touch
    chosen = aligned;
  }
  if (nodes_[chosen].size > size) insert_free(split_off(chosen, size));

  Node& n = nodes_[chosen];
  n.prev_free = ++next_generation_;
  n.next_free = kUsed;
  user_data_[chosen] = user_data;
  free_bytes_ -= size;
  ++allocation_count_;
  return TlsfAllocation(n.offset, chosen, n.prev_free, owner_);
}

void TlsfMetadata::free(const TlsfAllocation& allocation) {
  std::uint32_t index = live_node(allocation, "free");
  free_bytes_ += nodes_[index].size;
  --allocation_count_;

  // Coalesce: the later range of each free pair is absorbed, so first_ never changes.
  const auto absorb_next = [this](std::uint32_t keep) {
    Node& n = nodes_[keep];
    const std::uint32_t gone = n.next_phys;
    n.size += nodes_[gone].size;
    n.next_phys = nodes_[gone].next_phys;
    if (n.next_phys != kNil) nodes_[n.next_phys].prev_phys = keep;
    release_node(gone);
  };
  const std::uint32_t prev = nodes_[index].prev_phys;
  if (prev != kNil && nodes_[prev].next_free != kUsed) {
    remove_free(prev);
    absorb_next(prev);
    index = prev;
  }
  const std::uint32_t next = nodes_[index].next_phys;
  if (next != kNil && nodes_[next].next_free != kUsed) {
    remove_free(next);
    absorb_next(index);
  }
  insert_free(index);
}

void TlsfMetadata::clear() { reset(); }

void TlsfMetadata::reset() {
  // Handles from before stay stale: their nodes are pooled, and reuse brings new generations.
  free_nodes_ = kNil;
  for (std::uint32_t i = static_cast<std::uint32_t>(nodes_.size()); i-- > 0;) release_node(i);
  std::fill(heads_.begin(), heads_.end(), kNil);
  std::fill(second_level_maps_.begin(), second_level_maps_.end(), 0u);
  first_level_map_ = 0;
  free_range_count_ = 0;
  allocation_count_ = 0;
  free_bytes_ = size_;

  first_ = acquire_node();
  Node& whole = nodes_[first_];
  whole.offset = 0;
  whole.size = size_;
  whole.prev_phys = kNil;
  whole.next_phys = kNil;
  insert_free(first_);
}

std::uint64_t TlsfMetadata::allocation_size(const TlsfAllocation& allocation) const {
  return nodes_[live_node(allocation, "allocation_size")].size;
}

std::uint64_t TlsfMetadata::user_data(const TlsfAllocation& allocation) const {
  return user_data_[live_node(allocation, "user_data")];
}

void TlsfMetadata::set_user_data(const TlsfAllocation& allocation, std::uint64_t user_data) {
  user_data_[live_node(allocation, "set_user_data")] = user_data;
}

std::uint64_t TlsfMetadata::largest_free_range() const {
  if (first_level_map_ == 0) return 0;
  const std::uint32_t first = floor_log2(first_level_map_);
  const std::uint32_t second = floor_log2(second_level_maps_[first]);
  std::uint64_t largest = 0;
  for (std::uint32_t i = heads_[first * kSecondLevelCount + second]; i != kNil;
       i = nodes_[i].next_free) {
    largest = std::max(largest, nodes_[i].size);
  }
  return largest;
}

BlockStatistics TlsfMetadata::statistics() const {
  BlockStatistics s;
  s.size = size_;
  s.allocated_bytes = allocated_bytes();
  s.allocation_count = allocation_count_;
  s.free_bytes = free_bytes_;
  s.free_range_count = free_range_count_;
  s.largest_free_range = largest_free_range();
  if (free_bytes_ != 0) {
    s.fragmentation =
        1.0 - static_cast<double>(s.largest_free_range) / static_cast<double>(free_bytes_);
  }
  return s;
}

std::uint32_t TlsfMetadata::acquire_node() {
  if (free_nodes_ == kNil) {
    nodes_.emplace_back();
    user_data_.emplace_back();
    return static_cast<std::uint32_t>(nodes_.size() - 1);
  }
  const std::uint32_t index = free_nodes_;
  free_nodes_ = nodes_[index].next_free;
  return index;
}

void TlsfMetadata::release_node(std::uint32_t index) {
  Node& n = nodes_[index];
  n.prev_free = kNil;
  n.next_free = free_nodes_;
  free_nodes_ = index;
}

void TlsfMetadata::insert_free(std::uint32_t index) {
  const std::uint32_t list = list_of(nodes_[index].size);
  Node& n = nodes_[index];
  n.prev_free = kNil;
  n.next_free = heads_[list];
  if (n.next_free != kNil) nodes_[n.next_free].prev_free = index;
  heads_[list] = index;
  second_level_maps_[list / kSecondLevelCount] |= 1u << (list % kSecondLevelCount);
  first_level_map_ |= std::uint64_t{1} << (list / kSecondLevelCount);
  ++free_range_count_;
}

void TlsfMetadata::remove_free(std::uint32_t index) {
  Node& n = nodes_[index];
  if (n.next_free != kNil) nodes_[n.next_free].prev_free = n.prev_free;
  if (n.prev_free != kNil) {
    nodes_[n.prev_free].next_free = n.next_free;
  } else {
    const std::uint32_t list = list_of(n.size);
    heads_[list] = n.next_free;
    if (n.next_free == kNil) {
      const std::uint32_t first = list / kSecondLevelCount;
      second_level_maps_[first] &= ~(1u << (list % kSecondLevelCount));
      if (second_level_maps_[first] == 0) first_level_map_ &= ~(std::uint64_t{1} << first);
    }
  }
  n.prev_free = kNil;
  n.next_free = kNil;
  --free_range_count_;
}

std::uint32_t TlsfMetadata::first_nonempty_list(std::uint32_t list) const {
  if (list >= list_count_) return kNil;
  std::uint32_t first = list / kSecondLevelCount;
  std::uint32_t second_map = second_level_maps_[first] & (~0u << (list % kSecondLevelCount));
  if (second_map == 0) {
    // first < 60 since sizes stay below 2^64, so the shift is defined.
    const std::uint64_t first_map = first_level_map_ & (~std::uint64_t{0} << (first + 1));
    if (first_map == 0) return kNil;
    first = static_cast<std::uint32_t>(std::countr_zero(first_map));
    second_map = second_level_maps_[first];
  }
  return first * kSecondLevelCount + static_cast<std::uint32_t>(std::countr_zero(second_map));
}

std::uint32_t TlsfMetadata::probe(std::uint64_t size, std::uint64_t alignment,
                                  std::uint32_t first_list, std::uint32_t end_list) const {
  std::uint32_t probes = 0;
  for (std::uint32_t list = first_nonempty_list(first_list); list < end_list;
       list = first_nonempty_list(list + 1)) {
    for (std::uint32_t i = heads_[list]; i != kNil; i = nodes_[i].next_free) {
      const Node& n = nodes_[i];
      const std::uint64_t pad = padding_for(n.offset, alignment);
      if (pad < n.size && size <= n.size - pad) return i;
      if (++probes == kMaxFitProbes) return kNil;
    }
  }
  return kNil;
}

std::uint32_t TlsfMetadata::probe_preferred(
    std::uint64_t size, std::uint64_t alignment,
    const std::function<bool(std::uint64_t offset)>& prefer) const {
  std::uint32_t probes = 0;
  for (std::uint32_t list = first_nonempty_list(list_of(size)); list < list_count_;
       list = first_nonempty_list(list + 1)) {
    for (std::uint32_t i = heads_[list]; i != kNil; i = nodes_[i].next_free) {
      const Node& n = nodes_[i];
      const std::uint64_t pad = padding_for(n.offset, alignment);
      if (pad < n.size && size <= n.size - pad && prefer(n.offset + pad)) return i;
      if (++probes == kMaxFitProbes) return kNil;
    }
  }
  return kNil;
}

std::uint32_t TlsfMetadata::split_off(std::uint32_t index, std::uint64_t keep) {
  const std::uint32_t tail = acquire_node();  // may move nodes_: take references after
  Node& n = nodes_[index];
  Node& t = nodes_[tail];
  t.offset = n.offset + keep;
  t.size = n.size - keep;
  t.prev_free = kNil;
  t.next_free = kNil;
  t.prev_phys = index;
  t.next_phys = n.next_phys;
  if (t.next_phys != kNil) nodes_[t.next_phys].prev_phys = tail;
  n.next_phys = tail;
  n.size = keep;
  return tail;
}

std::uint32_t TlsfMetadata::live_node(const TlsfAllocation& allocation,
                                      const char* operation) const {
  if (allocation.owner_ == owner_ && allocation.node_ < nodes_.size()) {
    const Node& n = nodes_[allocation.node_];
    if (n.next_free == kUsed && n.prev_free == allocation.generation_ &&
        n.offset == allocation.offset_) {
      return allocation.node_;
    }
  }
  throw_invalid_handle(allocation, operation);
}

void TlsfMetadata::throw_invalid_handle(const TlsfAllocation& allocation,
                                        const char* operation) const {
  const char* problem = "is stale: its allocation was already freed";
  if (allocation.owner_ == 0) {
    problem = "is empty (default-constructed)";
  } else if (allocation.owner_ != owner_) {
    problem = "belongs to another block";
  } else if (allocation.node_ >= nodes_.size()) {
    problem = "was not issued by this block";
  }
  throw InvalidHandle(fmt::format("TlsfMetadata::{}: the handle of offset {} {}", operation,
                                  allocation.offset_, problem));
}

std::string TlsfMetadata::validate() const {
  const std::uint64_t node_count = nodes_.size();
  if (user_data_.size() != node_count) return "user data and nodes differ in count";
  enum Seen : std::uint8_t { kNotSeen, kInChain, kInPool };
  std::vector<Seen> seen(node_count, kNotSeen);

  // Physical chain: tiles [0, size_) in order, no empty range, no two free neighbours.
  std::uint64_t expected_offset = 0;
  std::uint64_t chain_nodes = 0, used_bytes = 0, used_count = 0, free_ranges = 0;
  std::uint32_t prev = kNil;
  for (std::uint32_t i = first_; i != kNil; prev = i, i = nodes_[i].next_phys) {
    if (i >= node_count || seen[i] != kNotSeen) return "physical chain leaves the pool or loops";
    seen[i] = kInChain;
    ++chain_nodes;
    const Node& n = nodes_[i];
    if (n.prev_phys != prev) return fmt::format("node {}: prev_phys does not point back", i);
    if (n.offset != expected_offset) {
      return fmt::format("node {}: offset {} where {} was expected", i, n.offset, expected_offset);
    }
    if (n.size == 0 || n.size > size_ - n.offset) {
      return fmt::format("node {}: size {} at offset {} does not fit", i, n.size, n.offset);
    }
    if (n.next_free == kUsed) {
      used_bytes += n.size;
      ++used_count;
    } else {
      ++free_ranges;
      if (prev != kNil && nodes_[prev].next_free != kUsed) {
        return fmt::format("nodes {} and {}: free neighbours were not coalesced", prev, i);
      }
    }
    expected_offset += n.size;
  }
  if (expected_offset != size_) {
    return fmt::format("ranges cover {} bytes of {}", expected_offset, size_);
  }
  if (used_bytes != allocated_bytes() || used_count != allocation_count_ ||
      free_ranges != free_range_count_) {
    return fmt::format(
        "counters (allocated {}, count {}, free ranges {}) differ from a recount ({}, {}, {})",
        allocated_bytes(), allocation_count_, free_range_count_, used_bytes, used_count,
        free_ranges);
  }

  // Free lists: every free range of the chain in the list of its class, nothing else; bitmaps
  // mark exactly the non-empty lists.
  std::uint64_t listed = 0;
  for (std::uint32_t list = 0; list < list_count_; ++list) {
    const std::uint32_t first = list / kSecondLevelCount;
    const bool marked = (second_level_maps_[first] >> (list % kSecondLevelCount)) & 1u;
    if (marked != (heads_[list] != kNil)) return fmt::format("list {}: bitmap bit is wrong", list);
    std::uint32_t prev_free = kNil;
    for (std::uint32_t i = heads_[list]; i != kNil; prev_free = i, i = nodes_[i].next_free) {
      if (i >= node_count || seen[i] != kInChain || nodes_[i].next_free == kUsed ||
          ++listed > free_ranges) {
        return fmt::format("list {}: holds {}, which is not a free range", list, i);
      }
      const Node& n = nodes_[i];
      if (n.prev_free != prev_free) return fmt::format("node {}: prev_free is wrong", i);
      if (list_of(n.size) != list) {
        return fmt::format("node {} of size {} is in list {}, not {}", i, n.size, list,
                           list_of(n.size));
      }
    }
  }
  if (listed != free_ranges) return fmt::format("{} free ranges, {} listed", free_ranges, listed);
  for (std::uint32_t first = 0; first < second_level_maps_.size(); ++first) {
    const bool marked = (first_level_map_ >> first) & 1u;
    if (marked != (second_level_maps_[first] != 0)) {
      return fmt::format("first-level bit {} is wrong", first);
    }
  }

  // Pool: every node is either in the chain or pooled, never both.
  std::uint64_t pooled = 0;
  for (std::uint32_t i = free_nodes_; i != kNil; i = nodes_[i].next_free) {
    if (i >= node_count || seen[i] != kNotSeen) return fmt::format("pooled node {} is in use", i);
    seen[i] = kInPool;
    ++pooled;
  }
  if (pooled + chain_nodes != node_count) {
    return fmt::format("{} nodes: {} in the chain, {} pooled", node_count, chain_nodes, pooled);
  }
  return {};
}

}  // namespace gpumem
