// Manager::defragment on real host memory: handles keep their identity, contents follow the
// moves, immovable allocations stay put, and the heap's footprint shrinks.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem {
namespace {

std::byte pattern(std::uint64_t id, std::uint64_t i) {
  return static_cast<std::byte>((id * 131) ^ (i * 29 + (i >> 8)));
}

void fill(const Allocation& a) {
  std::byte* at = a.map();
  for (std::uint64_t i = 0; i < a.size(); ++i) at[i] = pattern(a.id(), i);
}

bool intact(const Allocation& a) {
  const std::byte* at = a.map();
  for (std::uint64_t i = 0; i < a.size(); ++i) {
    if (at[i] != pattern(a.id(), i)) return false;
  }
  return true;
}

Config pooled() {
  Config c;
  c.allocators.device = AllocatorKind::Pool;
  return c;
}

TEST(ManagerDefragment, MovesKeepHandlesAndContentsAndShrinkTheHeap) {
  Manager manager(
      std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(1 * kGiB, 64 * kMiB)), pooled());
  const std::uint32_t heap = manager.heap_for(HeapKind::DeviceLocal);
  std::vector<Allocation> live;
  for (int i = 0; i < 600; ++i) {
    live.push_back(manager.allocate(
        {.size = 64 * kKiB + static_cast<std::uint64_t>(i) * 512, .movable = i % 50 != 0}));
    fill(live.back());
  }
  // Free three in four: what is left is scattered over every block the pool grew.
  std::vector<Allocation> kept;
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (i % 4 == 0) kept.push_back(std::move(live[i]));
  }
  live.clear();
  const std::uint64_t reserved_before = manager.allocator(heap).stats().reserved_bytes;

  std::vector<std::uint64_t> immovable_addresses;
  std::vector<std::uint64_t> addresses_before;
  for (const Allocation& a : kept) addresses_before.push_back(a.address());

  std::uint64_t moves = 0;
  for (int pass = 0; pass < 20; ++pass) {
    const DefragResult r = manager.defragment(heap, {.max_bytes = 4 * kMiB, .max_moves = 16});
    EXPECT_LE(r.moves, 16u);
    EXPECT_LE(r.bytes_moved, 4 * kMiB + 128 * kKiB);  // one move may straddle the limit check
    moves += r.moves;
    for (const Allocation& a : kept) ASSERT_TRUE(intact(a)) << "allocation #" << a.id();
    if (r.moves == 0) break;
  }
  EXPECT_GT(moves, 0u);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    // Requests with i % 50 == 0 were immovable; kept[j] is request 4j.
    if ((4 * i) % 50 == 0) {
      EXPECT_EQ(kept[i].address(), addresses_before[i]) << "immovable #" << kept[i].id();
    }
    if (kept[i].address() != addresses_before[i]) ++moved;
    EXPECT_EQ(manager.live_allocations().size(), kept.size());
  }
  EXPECT_GT(moved, 0u);
  manager.trim();
  EXPECT_LT(manager.allocator(heap).stats().reserved_bytes, reserved_before);
  // Freeing through the moved handles balances the books.
  kept.clear();
  manager.trim();
  EXPECT_EQ(manager.allocator(heap).stats().reserved_bytes, 0u);
  EXPECT_EQ(manager.budget(heap).own, 0u);
}

TEST(ManagerDefragment, AllocatorsWithNothingToCompactDoNothing) {
  Config direct;
  direct.allocators.device = AllocatorKind::Direct;
  Manager manager(std::make_shared<SimDevice>(SimDeviceConfig{}), direct);
  Allocation a = manager.allocate({.size = 3 * kMiB});
  const std::uint64_t address = a.address();
  const DefragResult r = manager.defragment(manager.heap_for(HeapKind::DeviceLocal));
  EXPECT_EQ(r.moves, 0u);
  EXPECT_EQ(a.address(), address);
}

TEST(ManagerDefragment, RejectsAnUnknownHeap) {
  Manager manager(std::make_shared<SimDevice>(SimDeviceConfig{}));
  EXPECT_THROW(manager.defragment(99), InvalidArgument);
}

}  // namespace
}  // namespace gpumem
