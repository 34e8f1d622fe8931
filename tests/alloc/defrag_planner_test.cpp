#include "gpumem/alloc/defrag_planner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// The layout a plan acts on, with the moves applied one by one as a caller would apply them.
// Every check of the plan's contract happens here, at the moment each move is applied.
class Model {
 public:
  explicit Model(const std::vector<DefragBlock>& blocks) {
    for (const DefragBlock& b : blocks) {
      blocks_[b.index] = {b.size, b.base_alignment, {}};
      for (const DefragAllocation& a : b.allocations) {
        blocks_[b.index].live[a.offset] = a;
        where_[a.id] = {b.index, a.offset};
      }
    }
  }

  // Applies the plan; fails the test at the first move that breaks the contract.
  void apply(const DefragPlan& plan, const DefragLimits& limits) {
    EXPECT_LE(plan.moves.size(), limits.max_moves);
    std::uint64_t bytes = 0;
    for (const DefragMove& m : plan.moves) {
      SCOPED_TRACE(::testing::Message()
                   << "move of id " << m.id << " from " << m.from_block << "@" << m.from_offset
                   << " to " << m.to_block << "@" << m.to_offset);
      ASSERT_TRUE(where_.contains(m.id));
      ASSERT_EQ(where_[m.id].first, m.from_block);
      ASSERT_EQ(where_[m.id].second, m.from_offset);
      Block& from = blocks_.at(m.from_block);
      const DefragAllocation a = from.live.at(m.from_offset);
      ASSERT_TRUE(a.movable) << "an immovable allocation was moved";
      ASSERT_EQ(a.size, m.size);
      ASSERT_TRUE(blocks_.contains(m.to_block));
      Block& to = blocks_.at(m.to_block);
      ASSERT_EQ(m.to_offset % a.alignment, 0u) << "destination not aligned";
      if (m.to_block != m.from_block) {
        ASSERT_LE(a.alignment, to.base_alignment);
      }
      ASSERT_LE(m.to_offset + m.size, to.size) << "destination outside its block";
      // Live now: everything not yet moved away, earlier destinations, and this move's source.
      for (const auto& [offset, other] : to.live) {
        ASSERT_TRUE(m.to_offset + m.size <= offset || offset + other.size <= m.to_offset)
            << "destination overlaps live id " << other.id << " at " << offset;
      }
      from.live.erase(m.from_offset);
      DefragAllocation moved = a;
      moved.offset = m.to_offset;
      to.live[m.to_offset] = moved;
      where_[m.id] = {m.to_block, m.to_offset};
      bytes += m.size;
      ++moves_;
    }
    EXPECT_EQ(plan.bytes, bytes);
    EXPECT_LE(bytes, limits.max_bytes);
  }

  // The layout after the moves, as planner input again.
  std::vector<DefragBlock> blocks() const {
    std::vector<DefragBlock> out;
    for (const auto& [index, b] : blocks_) {
      DefragBlock block{.index = index, .size = b.size, .base_alignment = b.base_alignment};
      for (const auto& [offset, a] : b.live) block.allocations.push_back(a);
      out.push_back(block);
    }
    return out;
  }

  std::vector<std::uint32_t> empty_blocks() const {
    std::vector<std::uint32_t> out;
    for (const auto& [index, b] : blocks_) {
      if (b.live.empty()) out.push_back(index);
    }
    return out;
  }

  std::pair<std::uint32_t, std::uint64_t> where(std::uint64_t id) const { return where_.at(id); }
  std::uint64_t moves() const { return moves_; }

 private:
  struct Block {
    std::uint64_t size;
    std::uint64_t base_alignment;
    std::map<std::uint64_t, DefragAllocation> live;
  };
  std::map<std::uint32_t, Block> blocks_;
  std::map<std::uint64_t, std::pair<std::uint32_t, std::uint64_t>> where_;
  std::uint64_t moves_ = 0;
};

DefragAllocation at(std::uint64_t id, std::uint64_t offset, std::uint64_t size, bool movable = true,
                    std::uint64_t alignment = 1) {
  return {.id = id, .offset = offset, .size = size, .alignment = alignment, .movable = movable};
}

TEST(DefragPlanner, EmptiesTheLeastFullBlockIntoTheFullest) {
  const std::vector<DefragBlock> blocks{
      {.index = 0,
       .size = 100,
       .allocations = {at(1, 0, 10), at(2, 20, 10), at(3, 40, 10), at(4, 60, 10)}},
      {.index = 1, .size = 100, .allocations = {at(5, 0, 10), at(6, 10, 10)}},
  };
  const DefragPlan plan = DefragPlanner().plan(blocks);
  Model model(blocks);
  model.apply(plan, {});
  // Into block 0's lowest holes, in offset order for equal sizes; block 0 is then tight below 80.
  const std::vector<DefragMove> expected{
      {.id = 5, .from_block = 1, .from_offset = 0, .to_block = 0, .to_offset = 10, .size = 10},
      {.id = 6, .from_block = 1, .from_offset = 10, .to_block = 0, .to_offset = 30, .size = 10},
      {.id = 4, .from_block = 0, .from_offset = 60, .to_block = 0, .to_offset = 50, .size = 10},
  };
  EXPECT_EQ(plan.moves, expected);
  EXPECT_EQ(plan.emptied_blocks, std::vector<std::uint32_t>{1});
  EXPECT_EQ(plan.bytes, 30u);
}

TEST(DefragPlanner, SlidesAllocationsDownWithinABlock) {
  const std::vector<DefragBlock> blocks{
      {.index = 7, .size = 100, .allocations = {at(2, 50, 10), at(1, 20, 10), at(3, 90, 5)}}};
  const DefragPlan plan = DefragPlanner().plan(blocks);
  Model model(blocks);
  model.apply(plan, {});
  EXPECT_EQ(model.where(1), std::make_pair(7u, std::uint64_t{0}));
  EXPECT_EQ(model.where(2), std::make_pair(7u, std::uint64_t{10}));
  EXPECT_EQ(model.where(3), std::make_pair(7u, std::uint64_t{20}));
  EXPECT_TRUE(plan.emptied_blocks.empty());
}

TEST(DefragPlanner, NeverMovesOntoItsOwnSource) {
  // The only gap below is shorter than the allocation: sliding would overlap the source.
  const std::vector<DefragBlock> blocks{{.index = 0, .size = 100, .allocations = {at(1, 5, 10)}}};
  EXPECT_TRUE(DefragPlanner().plan(blocks).moves.empty());
}

TEST(DefragPlanner, ImmovableAllocationsStayAndTheirBlocksFillFirst) {
  // Block 0 holds less but is pinned by an immovable allocation, so it can never be released:
  // block 1 is the one emptied, into block 0.
  const std::vector<DefragBlock> blocks{
      {.index = 0, .size = 100, .allocations = {at(1, 40, 10, /*movable=*/false)}},
      {.index = 1, .size = 100, .allocations = {at(2, 0, 30), at(3, 50, 20)}},
  };
  const DefragPlan plan = DefragPlanner().plan(blocks);
  Model model(blocks);
  model.apply(plan, {});
  EXPECT_EQ(model.where(1), std::make_pair(0u, std::uint64_t{40}));
  EXPECT_EQ(model.where(2), std::make_pair(0u, std::uint64_t{0}));  // largest first, lowest fit
  EXPECT_EQ(model.where(3), std::make_pair(0u, std::uint64_t{50}));
  EXPECT_EQ(plan.emptied_blocks, std::vector<std::uint32_t>{1});
}

TEST(DefragPlanner, KeepsABlockWholeWhenNotAllOfItFitsElsewhere) {
  const std::vector<DefragBlock> blocks{
      {.index = 0, .size = 100, .allocations = {at(1, 0, 90)}},
      {.index = 1, .size = 100, .allocations = {at(2, 30, 10), at(3, 60, 10)}},
  };
  const DefragPlan plan = DefragPlanner().plan(blocks);
  Model model(blocks);
  model.apply(plan, {});
  for (const DefragMove& m : plan.moves) EXPECT_EQ(m.to_block, 1u) << "a copy that frees nothing";
  EXPECT_EQ(model.where(2), std::make_pair(1u, std::uint64_t{0}));
  EXPECT_EQ(model.where(3), std::make_pair(1u, std::uint64_t{10}));
}

TEST(DefragPlanner, HonoursAlignmentAndBlockBaseAlignment) {
  const std::vector<DefragBlock> blocks{
      // Fullest, but its offset 0 is only 4-aligned: nothing needing 16 goes there.
      {.index = 0, .size = 256, .base_alignment = 4, .allocations = {at(1, 0, 200)}},
      {.index = 1, .size = 256, .allocations = {at(2, 0, 3), at(3, 8, 100), at(4, 150, 16)}},
      {.index = 2, .size = 256, .allocations = {at(5, 100, 16, true, 16)}},
  };
  const DefragPlan plan = DefragPlanner().plan(blocks);
  Model model(blocks);
  model.apply(plan, {});
  EXPECT_NE(model.where(5).first, 0u);
  EXPECT_EQ(model.where(5).second % 16, 0u);
  EXPECT_EQ(plan.emptied_blocks, std::vector<std::uint32_t>{2});
}

TEST(DefragPlanner, RespectsLimitsAndConvergesOverPasses) {
  std::vector<DefragBlock> blocks;
  std::uint64_t id = 0;
  for (std::uint32_t b = 0; b < 4; ++b) {
    DefragBlock block{.index = b, .size = 1000};
    for (std::uint64_t offset = 0; offset + 50 <= 1000; offset += 100) {
      block.allocations.push_back(at(id++, offset, 50));
    }
    blocks.push_back(block);
  }
  // Passes until nothing is left to plan; returns the passes taken.
  const auto converge = [](Model& model, const DefragLimits& limits) {
    int passes = 0;
    for (;; ++passes) {
      if (passes == 200) return passes;
      const DefragPlan plan = DefragPlanner(limits).plan(model.blocks());
      if (plan.moves.empty()) return passes;
      EXPECT_LE(plan.moves.size(), limits.max_moves);
      EXPECT_LE(plan.bytes, limits.max_bytes);
      model.apply(plan, limits);
    }
  };
  Model bounded(blocks);
  const int bounded_passes = converge(bounded, {.max_bytes = 120, .max_moves = 2});
  EXPECT_LT(bounded_passes, 200) << "bounded passes did not converge";
  // Four half-full blocks hold two blocks' worth: block 3 empties into block 0's holes, then
  // block 2 into block 1's, two moves per pass; an unbounded pass does all of it at once.
  EXPECT_EQ(bounded.empty_blocks(), (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(DefragPlanner().plan(blocks).emptied_blocks, (std::vector<std::uint32_t>{2, 3}));
  Model unbounded(blocks);
  EXPECT_EQ(converge(unbounded, {}), 1);
  EXPECT_EQ(unbounded.empty_blocks(), bounded.empty_blocks());
  EXPECT_EQ(bounded_passes, 10);  // 20 moves at 2 per pass
}

TEST(DefragPlanner, SkipsMovesLargerThanTheByteLimit) {
  const std::vector<DefragBlock> blocks{
      {.index = 0, .size = 100, .allocations = {at(1, 10, 40), at(2, 70, 5)}}};
  const DefragPlan plan = DefragPlanner({.max_bytes = 20}).plan(blocks);
  ASSERT_EQ(plan.moves.size(), 1u);
  EXPECT_EQ(plan.moves[0].id, 2u);
}

TEST(DefragPlanner, IsDeterministicWhateverTheInputOrder) {
  std::mt19937_64 rng(3);
  std::vector<DefragBlock> blocks;
  std::uint64_t id = 0;
  for (std::uint32_t b = 0; b < 6; ++b) {
    DefragBlock block{.index = b * 3, .size = 4096};
    for (std::uint64_t offset = 0; offset < 4096;) {
      const std::uint64_t size = 16 + rng() % 200;
      if (offset + size > 4096) break;
      if (rng() % 2) block.allocations.push_back(at(id++, offset, size));
      offset += size + rng() % 64;
    }
    blocks.push_back(block);
  }
  const DefragPlan first = DefragPlanner().plan(blocks);
  EXPECT_FALSE(first.moves.empty());
  std::vector<DefragBlock> shuffled = blocks;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (DefragBlock& b : shuffled) std::shuffle(b.allocations.begin(), b.allocations.end(), rng);
  const DefragPlan second = DefragPlanner().plan(shuffled);
  EXPECT_EQ(first.moves, second.moves);
  EXPECT_EQ(first.emptied_blocks, second.emptied_blocks);
}

TEST(DefragPlanner, RejectsLayoutsThatCannotBe) {
  const auto plan = [](std::vector<DefragBlock> blocks) { DefragPlanner().plan(blocks); };
  EXPECT_THROW(plan({{.index = 0, .size = 100, .allocations = {at(1, 0, 20), at(2, 10, 5)}}}),
               InvalidArgument);
  EXPECT_THROW(plan({{.index = 0, .size = 100, .allocations = {at(1, 90, 20)}}}), InvalidArgument);
  EXPECT_THROW(plan({{.index = 0, .size = 100, .allocations = {at(1, 0, 0)}}}), InvalidArgument);
  EXPECT_THROW(plan({{.index = 0, .size = 100, .allocations = {at(1, 0, 8, true, 3)}}}),
               InvalidArgument);
  EXPECT_THROW(plan({{.index = 0, .size = 100, .allocations = {at(1, 0, 8)}},
                     {.index = 1, .size = 100, .allocations = {at(1, 0, 8)}}}),
               InvalidArgument);
  EXPECT_THROW(plan({{.index = 4, .size = 100}, {.index = 4, .size = 100}}), InvalidArgument);
  EXPECT_THROW(plan({{.index = 0, .size = 100, .base_alignment = 12}}), InvalidArgument);
  EXPECT_NO_THROW(plan({}));
}

// Random layouts, random limits, passes until nothing is left to plan: every move of every pass
// obeys the contract, and the passes end.
TEST(DefragPlanner, RandomLayoutsKeepTheContractToTheEnd) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 150; ++round) {
    SCOPED_TRACE(round);
    std::vector<DefragBlock> blocks;
    std::uint64_t id = 0;
    const std::uint32_t block_count = 1 + static_cast<std::uint32_t>(rng() % 6);
    for (std::uint32_t b = 0; b < block_count; ++b) {
      const std::uint64_t size = 256 << (rng() % 4);
      DefragBlock block{
          .index = b, .size = size, .base_alignment = std::uint64_t{1} << (rng() % 8)};
      for (std::uint64_t offset = rng() % 16; offset < size;) {
        const std::uint64_t alignment = std::uint64_t{1} << (rng() % 4);
        offset = (offset + alignment - 1) / alignment * alignment;
        const std::uint64_t length = 1 + rng() % 48;
        if (offset + length > size) break;
        if (rng() % 3 != 0) {
          block.allocations.push_back(at(id++, offset, length, rng() % 8 != 0, alignment));
        }
        offset += length + rng() % 24;
      }
      blocks.push_back(block);
    }
    const DefragLimits limits{.max_bytes = 16 + rng() % 200,
                              .max_moves = 1 + static_cast<std::uint32_t>(rng() % 6)};
    Model model(blocks);
    for (int pass = 0;; ++pass) {
      ASSERT_LT(pass, 1000) << "passes did not converge";
      const DefragPlan plan = DefragPlanner(limits).plan(model.blocks());
      if (plan.moves.empty()) break;
      model.apply(plan, limits);
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace gpumem
