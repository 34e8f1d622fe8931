#include "gpumem/memory/block_pool_allocator.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <type_traits>

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"

namespace gpumem {
namespace {

// ---- Placement::token: the TLSF handle's bytes and the block's slot in 24 bytes ----
//
// TlsfAllocation holds a 64-bit offset and three 32-bit words (node, generation, owner): 20
// bytes of value and 4 of tail padding. The token stores those 20 bytes and the slot in the
// padding's place. The asserts catch a change of that layout's size; tests catch a reordering
// (every deallocate would be refused).
constexpr std::size_t kHandleBytes = sizeof(std::uint64_t) + 3 * sizeof(std::uint32_t);
static_assert(std::is_trivially_copyable_v<TlsfAllocation>);
static_assert(sizeof(TlsfAllocation) == kHandleBytes + sizeof(std::uint32_t));
static_assert(!std::has_unique_object_representations_v<TlsfAllocation>,
              "TlsfAllocation has no padding left for the slot: widen Placement::token");
static_assert(sizeof(Placement::token) == sizeof(TlsfAllocation));

// Set in the slot word of a dedicated allocation's token, whose handle bytes instead hold the
// slot's generation (a dedicated slot has no TLSF to tell a stale token from a live one).
constexpr std::uint32_t kDedicatedBit = 0x8000'0000u;

using TokenBytes = std::array<std::byte, sizeof(Placement::token)>;

std::array<std::uint64_t, 3> make_token(const void* handle_bytes, std::uint32_t slot_word) {
  TokenBytes bytes{};
  std::memcpy(bytes.data(), handle_bytes, kHandleBytes);
  std::memcpy(bytes.data() + kHandleBytes, &slot_word, sizeof slot_word);
  return std::bit_cast<std::array<std::uint64_t, 3>>(bytes);
}

struct DecodedToken {
  std::uint32_t slot_word = 0;
  TlsfAllocation handle;
  std::uint32_t generation = 0;  // dedicated tokens only
};

DecodedToken read_token(const std::array<std::uint64_t, 3>& token) {
  const auto bytes = std::bit_cast<TokenBytes>(token);
  DecodedToken d;
  std::memcpy(&d.slot_word, bytes.data() + kHandleBytes, sizeof d.slot_word);
  // The handle is trivially copyable; its last 4 bytes are padding and stay as they are.
  std::memcpy(static_cast<void*>(&d.handle), bytes.data(), kHandleBytes);
  std::memcpy(&d.generation, bytes.data(), sizeof d.generation);
  return d;
}

// ---- TLSF user data: what defragmentation needs to know of each allocation ----
constexpr std::uint64_t kMovableBit = 1u << 8;

std::uint64_t user_data_of(std::uint64_t alignment, bool movable) {
  return static_cast<std::uint64_t>(std::countr_zero(alignment)) | (movable ? kMovableBit : 0);
}
std::uint64_t alignment_of(std::uint64_t user_data) { return std::uint64_t{1} << (user_data & 63); }
bool movable_of(std::uint64_t user_data) { return (user_data & kMovableBit) != 0; }

// What the device's address guarantees for offset 0 of a block: its lowest set bit. Address 0
// (a backend without addresses) leaves only the offsets to align.
std::uint64_t base_alignment_of(const RawBlock& block) {
  return block.address == 0 ? DefragBlock::kAnyAlignment : (block.address & (~block.address + 1));
}

// The TLSF picks offsets itself (good fit) and cannot be told one. To land on the planned offset
// the TLSF is asked up to kPlacementAttempts times, the ranges it offered first being held
// meanwhile so that each attempt gets a different one. Failing the planned offset, the lowest
// offer below `below` is kept (a move within a block must land below its source). The other
// offers are freed, which coalesces the free space back exactly as it was.
constexpr std::size_t kPlacementAttempts = 16;

std::optional<TlsfAllocation> place_near(TlsfMetadata& tlsf, std::uint64_t size,
                                         std::uint64_t alignment, std::uint64_t user_data,
                                         std::uint64_t planned, std::uint64_t below) {
  std::array<TlsfAllocation, kPlacementAttempts> offers;
  std::size_t count = 0;
  std::size_t best = kPlacementAttempts;  // none yet
  while (count < offers.size()) {
    const std::optional<TlsfAllocation> a = tlsf.try_allocate(size, alignment, user_data);
    if (!a) break;
    offers[count] = *a;
    if (a->offset() < below &&
        (best == kPlacementAttempts || a->offset() < offers[best].offset())) {
      best = count;
    }
    ++count;
    if (a->offset() == planned) {
      best = count - 1;
      break;
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (i != best) tlsf.free(offers[i]);
  }
  if (best == kPlacementAttempts) return std::nullopt;
  return offers[best];
}

// Halving steps below the preferred block size that new blocks may start at: 1/8, 1/4, 1/2.
constexpr int kGrowthSteps = 3;

}  // namespace

struct BlockPoolAllocator::Slot {
  enum class Kind : std::uint8_t { Unused, Shared, Dedicated };
  Kind kind = Kind::Unused;
  std::uint32_t generation = 0;  // bumped whenever the slot is vacated
  RawBlock block;
  std::uint64_t base_alignment = 0;
  std::optional<TlsfMetadata> tlsf;  // shared blocks only
};

// Why a deallocate was refused, kept without allocating (deallocate is noexcept).
struct BlockPoolAllocator::Problem {
  std::array<char, 160> text{};
  void set(const char* what) noexcept { std::strncpy(text.data(), what, text.size() - 1); }
};

PoolOptions PoolOptions::resolved_for(const HeapInfo& heap) const {
  if (!is_power_of_two(block_alignment)) {
    throw InvalidArgument(
        fmt::format("PoolOptions: block_alignment {} is not a power of two", block_alignment));
  }
  const std::uint64_t granularity = is_power_of_two(heap.granularity) ? heap.granularity : 1;
  PoolOptions r = *this;
  if (r.preferred_block_size == 0) {
    r.preferred_block_size = heap.size > kGiB ? 256 * kMiB : heap.size / 8;
  }
  if (!align_up(std::max(r.preferred_block_size, granularity), granularity,
                r.preferred_block_size) ||
      r.preferred_block_size > TlsfMetadata::kMaxSize) {
    throw InvalidArgument(
        fmt::format("PoolOptions: preferred_block_size {} is too large", preferred_block_size));
  }
  if (r.dedicated_threshold == 0) r.dedicated_threshold = r.preferred_block_size / 2;
  if (r.max_empty_bytes == 0) r.max_empty_bytes = r.preferred_block_size;
  return r;
}

BlockPoolAllocator::BlockPoolAllocator(BlockSource& source, const PoolOptions& options)
    : source_(source),
      options_(options.resolved_for(source.heap())),
      granularity_(is_power_of_two(source.heap().granularity) ? source.heap().granularity : 1) {}

BlockPoolAllocator::~BlockPoolAllocator() {
  std::vector<RawBlock> blocks;
  for (const Slot& s : slots_) {
    if (s.kind != Slot::Kind::Unused) blocks.push_back(s.block);
  }
  if (live_count_ != 0) {
    log_message(LogLevel::Warning,
                fmt::format("pool allocator of heap '{}' destroyed with {} allocations ({}) live; "
                            "their blocks are released",
                            source_.heap().name, live_count_, format_bytes(live_bytes_)));
  }
  release(blocks);
}

// ---------------------------------------------------------------------------------------------
// Allocation

Placement BlockPoolAllocator::allocate(std::uint64_t size, std::uint64_t alignment, bool movable) {
  if (size > options_.dedicated_threshold) return allocate_dedicated(size, alignment);
  const std::uint64_t user_data = user_data_of(alignment, movable);
  {
    std::lock_guard lock(mutex_);
    if (auto placed = place_locked(size, alignment, user_data)) return *placed;
  }
  return grow_and_allocate(size, alignment, user_data);
}

std::optional<Placement> BlockPoolAllocator::place_locked(std::uint64_t size,
                                                          std::uint64_t alignment,
                                                          std::uint64_t user_data) {
  for (const std::uint32_t slot : order_) {
    Slot& s = slots_[slot];
    if (alignment > s.base_alignment || s.tlsf->free_bytes() < size) continue;
    const bool was_empty = s.tlsf->empty();
    const std::optional<TlsfAllocation> a = s.tlsf->try_allocate(size, alignment, user_data);
    if (!a) continue;
    note_taken_locked(slot, was_empty, size);
    live_bytes_ += size;
    ++live_count_;
    return placement_locked(slot, *a, size);
  }
  return std::nullopt;
}

Placement BlockPoolAllocator::grow_and_allocate(std::uint64_t size, std::uint64_t alignment,
                                                std::uint64_t user_data) {
  BlockGrant grant = grow(size, alignment);
  if (!grant && grant.refusal == GrowthRefusal::Budget) {
    // Empty blocks kept for reuse hold budget that this request can use.
    const std::vector<RawBlock> empties = take_empty_blocks();
    if (!empties.empty()) {
      release(empties);
      grant = grow(size, alignment);
    }
  }

  std::optional<Placement> placed;
  RawBlock unused;
  {
    std::lock_guard lock(mutex_);
    if (grant) {
      // Another thread may have grown or freed while this one was at the device: the blocks
      // are searched again, oldest first, and the new block may stay unused.
      std::uint32_t slot = 0;
      try {
        slot = add_slot_locked(grant.block, /*dedicated=*/false);
      } catch (...) {
        source_.release_block(grant.block);  // out of host memory: give the block back
        throw;
      }
      placed = place_locked(size, alignment, user_data);
      const Slot& s = slots_[slot];
      if (s.tlsf->empty() && (!placed || !keep_empty_locked(s.block.size, /*counted=*/true))) {
        unused = remove_slot_locked(slot);
      }
    } else {
      placed = place_locked(size, alignment, user_data);
    }
  }
  if (unused) source_.release_block(unused);
  if (placed) return *placed;
  if (grant) {
    // The new block was aligned for the request and large enough: only a backend that broke
    // its promises gets here.
    log_message(LogLevel::Error,
                fmt::format("pool allocator of heap '{}': a new block of {} did not fit {} bytes "
                            "aligned to {}",
                            source_.heap().name, format_bytes(grant.block.size), size, alignment));
    return {.refusal = GrowthRefusal::Device};
  }
  return {.refusal = grant.refusal};
}

std::uint64_t BlockPoolAllocator::next_block_size(std::uint64_t need) const {
  std::uint64_t largest = 0;
  {
    std::lock_guard lock(mutex_);
    for (const std::uint32_t slot : order_) {
      largest = std::max(largest, slots_[slot].block.size);
    }
  }
  std::uint64_t size = options_.preferred_block_size;
  for (int step = 0; step < kGrowthSteps; ++step) {
    std::uint64_t half = 0;
    if (!align_up(size / 2, granularity_, half) || half <= largest || half / 2 < need) break;
    size = half;
  }
  return std::max(size, need);
}

BlockGrant BlockPoolAllocator::grow(std::uint64_t size, std::uint64_t alignment) {
  std::uint64_t need = 0;
  if (!align_up(size, granularity_, need)) return {.refusal = GrowthRefusal::Budget};
  const std::uint64_t block_alignment = std::max(options_.block_alignment, alignment);
  // Smaller blocks are worth trying whatever refused: the budget's headroom and the device's
  // free memory both shrink as usage grows.
  for (std::uint64_t block_size = next_block_size(need);;) {
    const BlockGrant grant = source_.acquire_block(block_size, block_alignment);
    if (grant || block_size == need) return grant;
    std::uint64_t half = 0;
    align_up(block_size / 2, granularity_, half);  // cannot overflow: below block_size
    block_size = std::max(half, need);
  }
}

Placement BlockPoolAllocator::allocate_dedicated(std::uint64_t size, std::uint64_t alignment) {
  BlockGrant grant = source_.acquire_block(size, alignment);
  if (!grant && grant.refusal == GrowthRefusal::Budget) {
    const std::vector<RawBlock> empties = take_empty_blocks();
    if (!empties.empty()) {
      release(empties);
      grant = source_.acquire_block(size, alignment);
    }
  }
  if (!grant) return {.refusal = grant.refusal};
  std::lock_guard lock(mutex_);
  std::uint32_t slot = 0;
  try {
    slot = add_slot_locked(grant.block, /*dedicated=*/true);
  } catch (...) {
    source_.release_block(grant.block);
    throw;
  }
  live_bytes_ += grant.block.size;
  ++live_count_;
  const std::uint32_t generation = slots_[slot].generation;
  std::array<std::byte, kHandleBytes> handle_bytes{};
  std::memcpy(handle_bytes.data(), &generation, sizeof generation);
  return {.block = grant.block,
          .offset = 0,
          .size = grant.block.size,
          .token = make_token(handle_bytes.data(), slot | kDedicatedBit)};
}

// ---------------------------------------------------------------------------------------------
// Deallocation and retention

void BlockPoolAllocator::deallocate(const Placement& placement) noexcept {
  RawBlock to_release;
  Problem problem;  // set only for a placement that is not live here
  {
    std::lock_guard lock(mutex_);
    free_locked(placement, to_release, problem);
  }
  if (to_release) source_.release_block(to_release);
  if (problem.text[0] != '\0') {
    try {
      log_message(LogLevel::Error,
                  fmt::format("pool allocator of heap '{}': deallocate of a placement that is not "
                              "live here (block {:#x}, offset {}, {} bytes) ignored: {}",
                              source_.heap().name, placement.block.id, placement.offset,
                              placement.size, problem.text.data()));
    } catch (...) {
      // Logging must not turn a refused deallocate into a crash.
    }
  }
}

void BlockPoolAllocator::free_locked(const Placement& placement, RawBlock& to_release,
                                     Problem& problem) {
  const DecodedToken token = read_token(placement.token);
  const std::uint32_t slot = token.slot_word & ~kDedicatedBit;
  const bool dedicated = (token.slot_word & kDedicatedBit) != 0;
  if (slot >= slots_.size()) {
    problem.set("its token names no block of this pool");
    return;
  }
  Slot& s = slots_[slot];
  const Slot::Kind expected = dedicated ? Slot::Kind::Dedicated : Slot::Kind::Shared;
  if (s.kind != expected || s.block.id != placement.block.id ||
      (dedicated && s.generation != token.generation)) {
    problem.set("its block is not held by this pool, or no longer");
    return;
  }
  if (dedicated) {
    live_bytes_ -= s.block.size;
    --live_count_;
    to_release = remove_slot_locked(slot);
    return;
  }
  const std::uint64_t free_before = s.tlsf->free_bytes();
  try {
    s.tlsf->free(token.handle);  // throws InvalidHandle, changing nothing, unless live
  } catch (const std::exception& e) {
    problem.set(e.what());
    return;
  }
  const std::uint64_t size = s.tlsf->free_bytes() - free_before;  // saves a second lookup
  live_bytes_ -= size;
  --live_count_;
  to_release = note_given_locked(slot, size);
}

// `counted`: whether the block is already among empty_blocks_ and empty_bytes_.
bool BlockPoolAllocator::keep_empty_locked(std::uint64_t block_size, bool counted) const {
  const std::uint64_t blocks = empty_blocks_ + (counted ? 0 : 1);
  const std::uint64_t bytes = empty_bytes_ + (counted ? 0 : block_size);
  return blocks <= options_.max_empty_blocks && bytes <= options_.max_empty_bytes &&
         source_.fits_soft_limit(0);
}

void BlockPoolAllocator::trim() { release(take_empty_blocks()); }

std::vector<RawBlock> BlockPoolAllocator::take_empty_blocks() {
  std::vector<RawBlock> blocks;
  std::lock_guard lock(mutex_);
  if (empty_blocks_ == 0) return blocks;
  std::vector<std::uint32_t> empties;
  for (const std::uint32_t slot : order_) {
    if (slots_[slot].tlsf->empty()) empties.push_back(slot);
  }
  for (const std::uint32_t slot : empties) blocks.push_back(remove_slot_locked(slot));
  return blocks;
}

void BlockPoolAllocator::release(const std::vector<RawBlock>& blocks) noexcept {
  for (const RawBlock& block : blocks) source_.release_block(block);
}

// ---------------------------------------------------------------------------------------------
// Slots

std::uint32_t BlockPoolAllocator::add_slot_locked(const RawBlock& block, bool dedicated) {
  // Everything that can throw comes before the first change, so a throw changes nothing.
  std::optional<TlsfMetadata> tlsf;
  if (!dedicated) {
    tlsf.emplace(block.size);
    order_.reserve(order_.size() + 1);
  }
  std::uint32_t slot = 0;
  if (free_slots_.empty()) {
    // free_slots_ can then take every slot back without allocating (deallocate is noexcept).
    free_slots_.reserve(slots_.size() + 1);
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  Slot& s = slots_[slot];
  s.block = block;
  s.base_alignment = base_alignment_of(block);
  if (dedicated) {
    s.kind = Slot::Kind::Dedicated;
    ++dedicated_blocks_;
  } else {
    s.kind = Slot::Kind::Shared;
    s.tlsf = std::move(tlsf);
    order_.push_back(slot);
    shared_free_bytes_ += block.size;
    ++empty_blocks_;
    empty_bytes_ += block.size;
  }
  reserved_ += block.size;
  peak_reserved_ = std::max(peak_reserved_, reserved_);
  return slot;
}

RawBlock BlockPoolAllocator::remove_slot_locked(std::uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.kind == Slot::Kind::Shared) {
    order_.erase(std::find(order_.begin(), order_.end(), slot));
    shared_free_bytes_ -= s.tlsf->free_bytes();
    if (s.tlsf->empty()) {
      --empty_blocks_;
      empty_bytes_ -= s.block.size;
    }
    s.tlsf.reset();
  } else {
    --dedicated_blocks_;
  }
  reserved_ -= s.block.size;
  const RawBlock block = s.block;
  s = Slot{.generation = s.generation + 1};
  free_slots_.push_back(slot);
  return block;
}

void BlockPoolAllocator::note_taken_locked(std::uint32_t slot, bool was_empty, std::uint64_t size) {
  shared_free_bytes_ -= size;
  if (was_empty) {
    --empty_blocks_;
    empty_bytes_ -= slots_[slot].block.size;
  }
}

RawBlock BlockPoolAllocator::note_given_locked(std::uint32_t slot, std::uint64_t size) {
  shared_free_bytes_ += size;
  Slot& s = slots_[slot];
  if (!s.tlsf->empty()) return {};
  const bool keep = keep_empty_locked(s.block.size, /*counted=*/false);
  ++empty_blocks_;
  empty_bytes_ += s.block.size;
  return keep ? RawBlock{} : remove_slot_locked(slot);
}

Placement BlockPoolAllocator::placement_locked(std::uint32_t slot, const TlsfAllocation& handle,
                                               std::uint64_t size) const {
  return {.block = slots_[slot].block,
          .offset = handle.offset(),
          .size = size,
          .token = make_token(&handle, slot)};
}

// ---------------------------------------------------------------------------------------------
// Statistics

HeapAllocatorStats BlockPoolAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return {.reserved_bytes = reserved_,
          .peak_reserved_bytes = peak_reserved_,
          .live_bytes = live_bytes_,
          .live_count = live_count_,
          .blocks = order_.size() + dedicated_blocks_,
          .cached_bytes = shared_free_bytes_};
}

std::uint64_t BlockPoolAllocator::largest_free_range() const {
  std::lock_guard lock(mutex_);
  std::uint64_t largest = 0;
  for (const std::uint32_t slot : order_) {
    largest = std::max(largest, slots_[slot].tlsf->statistics().largest_free_range);
  }
  return largest;
}

PoolStatistics BlockPoolAllocator::pool_statistics() const {
  PoolStatistics p;
  p.totals = stats();
  std::lock_guard lock(mutex_);
  for (const std::uint32_t slot : order_) {
    p.blocks.push_back({.block = slots_[slot].block, .usage = slots_[slot].tlsf->statistics()});
  }
  for (const Slot& s : slots_) {
    if (s.kind != Slot::Kind::Dedicated) continue;
    p.blocks.push_back(
        {.block = s.block,
         .dedicated = true,
         .usage = {.size = s.block.size, .allocated_bytes = s.block.size, .allocation_count = 1}});
  }
  p.empty_blocks = empty_blocks_;
  p.empty_bytes = empty_bytes_;
  p.fragmentation = fragmentation_locked();
  return p;
}

double BlockPoolAllocator::fragmentation_locked() const {
  std::uint64_t free = 0;
  std::uint64_t largest = 0;
  for (const std::uint32_t slot : order_) {
    const TlsfMetadata& t = *slots_[slot].tlsf;
    if (t.empty()) continue;
    free += t.free_bytes();
    largest += t.largest_free_range();
  }
  return free == 0 ? 0.0 : 1.0 - static_cast<double>(largest) / static_cast<double>(free);
}

// ---------------------------------------------------------------------------------------------
// Defragmentation

DefragResult BlockPoolAllocator::defragment(const DefragLimits& limits,
                                            const MoveCallback& on_move) {
  std::lock_guard pass_lock(defrag_mutex_);  // a second pass would plan from a stale snapshot
  DefragResult result;
  std::vector<DefragBlock> blocks;
  std::vector<TlsfAllocation> handles;   // by DefragAllocation::id; follows the moves
  std::vector<std::uint64_t> block_ids;  // by slot, as planned: a slot may be reused meanwhile
  {
    std::lock_guard lock(mutex_);
    result.fragmentation_before = fragmentation_locked();
    block_ids.resize(slots_.size());
    for (const std::uint32_t slot : order_) {
      const Slot& s = slots_[slot];
      if (s.tlsf->empty()) continue;
      block_ids[slot] = s.block.id;
      DefragBlock& b = blocks.emplace_back(
          DefragBlock{.index = slot, .size = s.block.size, .base_alignment = s.base_alignment});
      s.tlsf->for_each_allocation([&](const TlsfAllocationInfo& info) {
        b.allocations.push_back({.id = handles.size(),
                                 .offset = info.offset,
                                 .size = info.size,
                                 .alignment = alignment_of(info.user_data),
                                 .movable = movable_of(info.user_data)});
        handles.push_back(info.handle);
      });
    }
  }
  const DefragPlan plan = DefragPlanner(limits).plan(blocks);

  Device& device = source_.device();
  for (const DefragMove& m : plan.moves) {
    TlsfAllocation& handle = handles[m.id];
    Placement from;
    Placement to;
    TlsfAllocation destination;
    {
      std::lock_guard lock(mutex_);
      const auto still_held = [&](std::uint32_t slot) {
        return slot < slots_.size() && slots_[slot].kind == Slot::Kind::Shared &&
               slots_[slot].block.id == block_ids[slot];
      };
      // An earlier move of this allocation that was skipped leaves it where it was.
      if (!still_held(m.from_block) || !still_held(m.to_block) ||
          handle.offset() != m.from_offset) {
        ++result.moves_skipped;
        continue;
      }
      TlsfMetadata& source_tlsf = *slots_[m.from_block].tlsf;
      TlsfMetadata& target_tlsf = *slots_[m.to_block].tlsf;
      std::uint64_t user_data = 0;
      try {
        user_data = source_tlsf.user_data(handle);
      } catch (const InvalidHandle&) {
        ++result.moves_skipped;  // freed despite the contract; nothing of it to move
        continue;
      }
      const bool was_empty = target_tlsf.empty();
      // Into another block any offset serves (the source block is being emptied); within a
      // block only a lower one gains anything.
      const std::uint64_t below = m.to_block == m.from_block ? handle.offset() : UINT64_MAX;
      const std::optional<TlsfAllocation> placed =
          place_near(target_tlsf, m.size, alignment_of(user_data), user_data, m.to_offset, below);
      if (!placed) {
        ++result.moves_skipped;
        continue;
      }
      note_taken_locked(m.to_block, was_empty, m.size);
      destination = *placed;
      from = placement_locked(m.from_block, handle, m.size);
      to = placement_locked(m.to_block, destination, m.size);
    }

    try {
      device.wait(device.copy(from.block, from.offset, to.block, to.offset, m.size));
    } catch (...) {
      RawBlock unused;
      {
        std::lock_guard lock(mutex_);
        slots_[m.to_block].tlsf->free(destination);
        unused = note_given_locked(m.to_block, m.size);
      }
      if (unused) source_.release_block(unused);
      throw;
    }

    RawBlock emptied;
    {
      std::lock_guard lock(mutex_);
      slots_[m.from_block].tlsf->free(handle);
      emptied = note_given_locked(m.from_block, m.size);
      handle = destination;
    }
    if (emptied) {
      source_.release_block(emptied);
      ++result.blocks_released;
    }
    ++result.moves;
    result.bytes_moved += m.size;
    on_move(from, to);
  }

  std::lock_guard lock(mutex_);
  result.fragmentation_after = fragmentation_locked();
  return result;
}

}  // namespace gpumem
