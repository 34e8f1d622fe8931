#include "gpumem/alloc/linear_allocator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

bool overlaps(const LinearAllocation& a, const LinearAllocation& b) {
  return a.offset() < b.offset() + b.size() && b.offset() < a.offset() + a.size();
}

std::vector<LinearAllocation> live_of(const LinearAllocator& linear) {
  std::vector<LinearAllocation> out;
  linear.for_each_allocation([&](const LinearAllocation& a) { out.push_back(a); });
  return out;
}

TEST(LinearAllocator, RejectsBadArguments) {
  EXPECT_THROW(LinearAllocator(0, LinearMode::Ring), InvalidArgument);
  EXPECT_THROW(LinearAllocator((std::uint64_t{1} << 63) + 1, LinearMode::FreeAll), InvalidArgument);
  LinearAllocator ring(1024, LinearMode::Ring);
  EXPECT_THROW(ring.try_allocate(0), InvalidArgument);
  EXPECT_THROW(ring.try_allocate(16, 3), InvalidArgument);
  EXPECT_THROW(ring.try_allocate(16, 0), InvalidArgument);
  EXPECT_THROW(ring.try_allocate(16, 1, StackSide::Upper), InvalidArgument);
  EXPECT_FALSE(ring.try_allocate(1025));
  EXPECT_FALSE(ring.try_allocate(UINT64_MAX, std::uint64_t{1} << 63));
  EXPECT_EQ(ring.validate(), "");
  EXPECT_TRUE(ring.empty());
}

TEST(LinearAllocator, FreeAllBumpsAndResets) {
  LinearAllocator bump(1000, LinearMode::FreeAll);
  const auto a = bump.try_allocate(10);
  const auto b = bump.try_allocate(100, 64);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->offset(), 0u);
  EXPECT_EQ(b->offset(), 64u);
  EXPECT_EQ(bump.used_bytes(), 164u);  // padding counts as used
  EXPECT_EQ(bump.statistics().allocated_bytes, 110u);
  EXPECT_THROW(bump.free(*a), InvalidArgument);
  EXPECT_TRUE(bump.try_allocate(836));
  EXPECT_FALSE(bump.try_allocate(1));
  EXPECT_DOUBLE_EQ(bump.occupancy(), 1.0);
  EXPECT_EQ(bump.validate(), "");
  bump.reset();
  EXPECT_EQ(bump.used_bytes(), 0u);
  EXPECT_EQ(bump.allocation_count(), 0u);
  const auto whole = bump.try_allocate(1000);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->offset(), 0u);
  EXPECT_THROW(bump.oldest(), InvalidArgument);
}

TEST(LinearAllocator, DoubleStackCollides) {
  LinearAllocator stack(1000, LinearMode::DoubleStack);
  const auto low = stack.try_allocate(300);
  const auto high = stack.try_allocate(300, 256, StackSide::Upper);
  ASSERT_TRUE(low && high);
  EXPECT_EQ(low->offset(), 0u);
  EXPECT_EQ(high->offset(), 512u);  // aligned down from 700
  EXPECT_EQ(high->side(), StackSide::Upper);
  EXPECT_EQ(stack.used_bytes(), 300u + 488u);
  // 212 bytes remain between the stacks: [300, 512).
  EXPECT_FALSE(stack.try_allocate(213));
  EXPECT_FALSE(stack.try_allocate(213, 1, StackSide::Upper));
  EXPECT_FALSE(stack.try_allocate(200, 256, StackSide::Upper));  // 312 would fall under 300
  const auto meet = stack.try_allocate(212, 1, StackSide::Upper);
  ASSERT_TRUE(meet);
  EXPECT_EQ(meet->offset(), 300u);
  EXPECT_FALSE(stack.try_allocate(1));
  EXPECT_FALSE(stack.try_allocate(1, 1, StackSide::Upper));
  EXPECT_EQ(stack.validate(), "");
  // Freeing below the top defers: the space returns when the top goes too.
  stack.free(*high);
  EXPECT_EQ(stack.statistics().pending_free_count, 1u);
  EXPECT_FALSE(stack.try_allocate(1, 1, StackSide::Upper));
  stack.free(*meet);
  EXPECT_EQ(stack.statistics().pending_free_count, 0u);
  EXPECT_EQ(stack.used_bytes(), 300u);
  EXPECT_THROW(stack.free(*meet), InvalidHandle);
  stack.free(*low);
  EXPECT_TRUE(stack.empty());
  EXPECT_EQ(stack.used_bytes(), 0u);
  EXPECT_EQ(stack.validate(), "");
}

TEST(LinearAllocator, DoubleStackRandomNeverOverlaps) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    LinearAllocator stack(1 + rng() % 10000, LinearMode::DoubleStack);
    std::vector<LinearAllocation> live;
    for (int op = 0; op < 1000; ++op) {
      if (rng() % 3 != 0 || live.empty()) {
        const StackSide side = rng() % 2 ? StackSide::Upper : StackSide::Lower;
        const std::uint64_t alignment = std::uint64_t{1} << rng() % 8;
        const std::uint64_t before = stack.free_bytes();
        const std::uint64_t size = 1 + rng() % 700;
        const auto a = stack.try_allocate(size, alignment, side);
        if (!a) {
          // Failing only when the gap between the stacks is really too short.
          ASSERT_LT(before, size + alignment - 1);
          continue;
        }
        ASSERT_EQ(a->offset() % alignment, 0u);
        ASSERT_LE(a->offset() + a->size(), stack.size());
        for (const LinearAllocation& other : live) ASSERT_FALSE(overlaps(*a, other));
        live.push_back(*a);
      } else {
        const std::size_t pick = rng() % live.size();
        stack.free(live[pick]);
        EXPECT_THROW(stack.free(live[pick]), InvalidHandle);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      ASSERT_EQ(stack.validate(), "");
      ASSERT_EQ(stack.allocation_count(), live.size());
    }
    for (const LinearAllocation& a : live) stack.free(a);
    EXPECT_EQ(stack.used_bytes(), 0u);
  }
}

TEST(LinearAllocator, RingWrapsWithoutStraddlingTheEnd) {
  LinearAllocator ring(100, LinearMode::Ring);
  const auto a = ring.try_allocate(40);
  const auto b = ring.try_allocate(40);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ring.free_oldest());  // a: head moves to 40
  const auto c = ring.try_allocate(15);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->offset(), 80u);
  // 5 bytes left at the end, 40 at the start: the next 30 wraps to 0.
  const auto d = ring.try_allocate(30);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->offset(), 0u);
  EXPECT_EQ(ring.used_bytes(), 90u);  // b 40, c 15, the skipped tail 5, d 30
  EXPECT_FALSE(ring.try_allocate(11));
  const auto e = ring.try_allocate(10);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset(), 30u);
  EXPECT_DOUBLE_EQ(ring.occupancy(), 1.0);
  EXPECT_EQ(ring.validate(), "");

  // FIFO: the oldest is b, then c, d, e.
  EXPECT_EQ(ring.oldest(), b);
  EXPECT_EQ(live_of(ring), (std::vector<LinearAllocation>{*b, *c, *d, *e}));
  ring.free(*b);
  ring.free(*c);  // d becomes the oldest and keeps the skipped tail until it goes
  EXPECT_EQ(ring.oldest(), d);
  EXPECT_EQ(ring.used_bytes(), 45u);
  ring.free(*d);
  ring.free(*e);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.used_bytes(), 0u);
  EXPECT_FALSE(ring.free_oldest());
  const auto whole = ring.try_allocate(100);  // an empty ring restarts at 0
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->offset(), 0u);
}

TEST(LinearAllocator, RingDefersOutOfOrderFrees) {
  LinearAllocator ring(1000, LinearMode::Ring);
  const auto a = ring.try_allocate(100);
  const auto b = ring.try_allocate(100);
  const auto c = ring.try_allocate(100);
  ASSERT_TRUE(a && b && c);
  ring.free(*b);
  LinearStatistics s = ring.statistics();
  EXPECT_EQ(s.allocation_count, 2u);
  EXPECT_EQ(s.pending_free_count, 1u);
  EXPECT_EQ(s.used_bytes, 300u);  // b's space waits for a
  EXPECT_EQ(s.allocated_bytes, 200u);
  EXPECT_EQ(live_of(ring), (std::vector<LinearAllocation>{*a, *c}));
  EXPECT_THROW(ring.free(*b), InvalidHandle);  // pending, but freed twice all the same
  ring.free(*a);
  s = ring.statistics();
  EXPECT_EQ(s.pending_free_count, 0u);
  EXPECT_EQ(s.used_bytes, 100u);
  EXPECT_EQ(ring.oldest(), c);
  EXPECT_THROW(ring.free(*a), InvalidHandle);  // reclaimed
  EXPECT_EQ(ring.validate(), "");
}

TEST(LinearAllocator, RejectsForeignAndStaleHandles) {
  LinearAllocator ring(1000, LinearMode::Ring);
  LinearAllocator other(1000, LinearMode::Ring);
  const auto mine = ring.try_allocate(10);
  const auto theirs = other.try_allocate(10);
  ASSERT_TRUE(mine && theirs);
  EXPECT_THROW(ring.free(*theirs), InvalidHandle);
  EXPECT_THROW(ring.free(LinearAllocation{}), InvalidHandle);
  ring.reset();
  EXPECT_THROW(ring.free(*mine), InvalidHandle);

  // A stack slot reused by a later allocation does not revive the old handle.
  LinearAllocator stack(1000, LinearMode::DoubleStack);
  const auto first = stack.try_allocate(10);
  ASSERT_TRUE(first);
  stack.free(*first);
  const auto second = stack.try_allocate(10);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->offset(), first->offset());
  EXPECT_THROW(stack.free(*first), InvalidHandle);
  EXPECT_EQ(stack.allocation_count(), 1u);
  EXPECT_EQ(ring.validate(), "");
  EXPECT_EQ(stack.validate(), "");
}

// A reference ring: every allocation remembers where the tail stood before it, space is taken
// only at the tail (or at 0 after a wrap) and comes back oldest first.
struct ReferenceRing {
  struct Entry {
    LinearAllocation handle;
    std::uint64_t tail_before;
    bool freed;
  };
  std::uint64_t size;
  std::deque<Entry> entries;
  std::uint64_t tail = 0;

  std::uint64_t head() const { return entries.empty() ? 0 : entries.front().tail_before; }
  // Where the ring should place the request, or UINT64_MAX for nowhere.
  std::uint64_t expected_offset(std::uint64_t bytes, std::uint64_t alignment) const {
    const std::uint64_t aligned = (tail + alignment - 1) / alignment * alignment;
    const bool wrapped = !entries.empty() && tail <= head();
    const std::uint64_t limit = wrapped ? head() : size;
    if (aligned + bytes <= limit) return aligned;
    if (!wrapped && bytes <= head()) return 0;
    return UINT64_MAX;
  }
  void free(const LinearAllocation& a) {
    for (Entry& e : entries) {
      if (e.handle == a) e.freed = true;
    }
    while (!entries.empty() && entries.front().freed) entries.pop_front();
    if (entries.empty()) tail = 0;
  }
};

TEST(LinearAllocator, RingMatchesReferenceOverManySeeds) {
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    const std::uint64_t size = 64 + rng() % 4096;
    LinearAllocator ring(size, LinearMode::Ring);
    ReferenceRing ref{size, {}, 0};
    std::uint64_t wraps = 0;
    for (int op = 0; op < 2000; ++op) {
      const std::uint64_t in_flight = ring.allocation_count();
      if (in_flight == 0 || rng() % 100 < 55) {
        const std::uint64_t bytes = 1 + rng() % (size / 3);
        const std::uint64_t alignment = std::uint64_t{1} << rng() % 7;
        const std::uint64_t expected = ref.expected_offset(bytes, alignment);
        const auto a = ring.try_allocate(bytes, alignment);
        if (expected == UINT64_MAX) {
          ASSERT_FALSE(a);
          continue;
        }
        ASSERT_TRUE(a);
        ASSERT_EQ(a->offset(), expected);
        ASSERT_EQ(a->offset() % alignment, 0u);
        ASSERT_LE(a->offset() + bytes, size);  // never straddles the end
        // No overlap with anything not yet reclaimed (live or pending).
        for (const auto& e : ref.entries) ASSERT_FALSE(overlaps(*a, e.handle));
        if (a->offset() < ref.tail) ++wraps;
        ref.entries.push_back({*a, ref.tail, false});
        ref.tail = a->offset() + bytes;
      } else if (rng() % 100 < 80) {
        const auto oldest = ring.oldest();
        ASSERT_TRUE(oldest);
        ring.free(*oldest);
        ref.free(*oldest);
      } else {
        // Out of order: a random live one.
        std::vector<LinearAllocation> live = live_of(ring);
        const LinearAllocation pick = live[rng() % live.size()];
        ring.free(pick);
        ref.free(pick);
      }
      // FIFO order and occupancy.
      std::vector<LinearAllocation> expected_live;
      for (const auto& e : ref.entries) {
        if (!e.freed) expected_live.push_back(e.handle);
      }
      ASSERT_EQ(live_of(ring), expected_live);
      if (!expected_live.empty()) {
        ASSERT_EQ(ring.oldest(), expected_live.front());
      }
      const std::uint64_t used = ref.entries.empty()     ? 0
                                 : ref.tail > ref.head() ? ref.tail - ref.head()
                                                         : size - ref.head() + ref.tail;
      ASSERT_EQ(ring.used_bytes(), used);
      ASSERT_DOUBLE_EQ(ring.occupancy(), static_cast<double>(used) / static_cast<double>(size));
      ASSERT_EQ(ring.statistics().pending_free_count, ref.entries.size() - expected_live.size());
      ASSERT_EQ(ring.validate(), "");
    }
    EXPECT_GT(wraps, 0u) << "the workload never wrapped";
    while (ring.free_oldest()) {
    }
    EXPECT_EQ(ring.used_bytes(), 0u);
  }
}

}  // namespace
}  // namespace gpumem
