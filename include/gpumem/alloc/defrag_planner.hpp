// Plans one incremental defragmentation pass over blocks of offsets: which allocations to move,
// and where, so that whole blocks empty (and can be given back) and the free space left inside
// blocks gathers into fewer, larger ranges. It only plans; the caller copies the bytes and
// updates its own records. Like the rest of alloc/, it knows offsets and sizes, not memory.
//
//   gpumem::DefragPlanner planner({.max_bytes = 64 * gpumem::kMiB, .max_moves = 100});
//   gpumem::DefragPlan plan = planner.plan(blocks);
//   for (const gpumem::DefragMove& m : plan.moves) {   // in order
//     copy(m.from_block, m.from_offset, m.to_block, m.to_offset, m.size);
//     release(m.from_block, m.from_offset);
//   }
//
// The algorithm (deterministic: the same input gives the same plan):
// 1. Order the blocks as destinations: blocks holding an immovable allocation first (they can
//    never be given back, so filling their holes costs nothing in blocks released), then by
//    allocated bytes, fullest first; ties by block index.
// 2. Empty blocks, least full first: for a block with allocations, all of them movable, place
//    each (largest first) at the lowest offset that fits in the first block ahead of it in that
//    order. Only when every allocation of the block finds a place are its moves kept, so no copy
//    is spent on a block that would stay. A block receives moves only from blocks behind it, and
//    blocks ahead only lose free space, so nothing is moved twice and successive passes converge.
// 3. Slide down: in each block still holding allocations, in that order, take the movable
//    allocations by ascending offset and move each to the lowest offset that fits entirely below
//    its current one.
// Moves beyond the limits are left out (the next pass plans them again from the new state).
// Cost: O(n log n) to sort plus O(r) per placement attempt, r the ranges live in the block tried.
//
// Moves are to be applied in order, each as: copy the bytes, then release the source range.
// Every destination lies in free space at the moment its move is applied: it overlaps no range
// that is live then — not the original allocations still in place, not earlier moves'
// destinations, and not its own source (so the copy needs no overlap support).
//
// Thread safety: DefragPlanner is immutable after construction; plan() may run on several threads
// at once.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace gpumem {

// What one pass may do. A move that would cross either limit is not planned.
struct DefragLimits {
  std::uint64_t max_bytes = UINT64_MAX;  // sum of the sizes of the moved allocations
  std::uint32_t max_moves = UINT32_MAX;
};

struct DefragAllocation {
  std::uint64_t id = 0;  // the caller's, opaque here; unique within one plan() call
  std::uint64_t offset = 0;
  std::uint64_t size = 0;       // > 0
  std::uint64_t alignment = 1;  // a power of two; destinations honour it
  bool movable = true;          // false: never moved
};

struct DefragBlock {
  // Where offset 0 of this block is aligned to, as a power of two: allocations needing more are
  // not moved into it.
  static constexpr std::uint64_t kAnyAlignment = std::uint64_t{1} << 63;

  std::uint32_t index = 0;  // the caller's block number; unique within one plan() call
  std::uint64_t size = 0;
  std::uint64_t base_alignment = kAnyAlignment;
  std::vector<DefragAllocation> allocations;  // any order; must lie in [0, size), not overlapping
};

struct DefragMove {
  std::uint64_t id = 0;
  std::uint32_t from_block = 0;
  std::uint64_t from_offset = 0;
  std::uint32_t to_block = 0;
  std::uint64_t to_offset = 0;
  std::uint64_t size = 0;

  friend bool operator==(const DefragMove&, const DefragMove&) = default;
};

struct DefragPlan {
  std::vector<DefragMove> moves;  // to be applied in this order
  std::uint64_t bytes = 0;        // sum of the moves' sizes
  // Blocks that held allocations and hold none once every move is applied, by index, ascending.
  std::vector<std::uint32_t> emptied_blocks;
};

class DefragPlanner {
 public:
  explicit DefragPlanner(DefragLimits limits = {}) noexcept : limits_(limits) {}

  // Throws InvalidArgument, naming the block and allocation, when the input is not a valid
  // layout: duplicate block indices or allocation ids, size 0, an alignment that is not a power
  // of two, a range outside its block or overlapping another.
  DefragPlan plan(std::span<const DefragBlock> blocks) const;

  const DefragLimits& limits() const noexcept { return limits_; }

 private:
  DefragLimits limits_;
};

}  // namespace gpumem
