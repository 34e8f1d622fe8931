#include "gpumem/backend/sim_device.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;

TEST(SimDevice, ParsesItsSpec) {
  const SimDeviceConfig c = SimDeviceConfig::parse("capacity=16GiB,page=64KiB,upload=0,name=t");
  EXPECT_EQ(c.capacity, 16 * kGiB);
  EXPECT_EQ(c.page_size, 64 * kKiB);
  EXPECT_EQ(c.host_visible_capacity, 0u);
  EXPECT_EQ(c.name, "t");
  SimDevice device(c);
  ASSERT_EQ(device.info().heaps.size(), 1u);
  EXPECT_EQ(device.info().heaps[0].granularity, 64 * kKiB);
  EXPECT_THAT(
      [] { SimDeviceConfig::parse("capacity=16GiB,colour=red"); },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("unknown sim device option 'colour'")));
  EXPECT_THROW(SimDeviceConfig::parse("capacity"), InvalidArgument);
  EXPECT_THROW(SimDevice(SimDeviceConfig::parse("page=3MiB")), InvalidArgument);
  EXPECT_THROW(SimDevice(SimDeviceConfig::parse("capacity=1MiB")), InvalidArgument);
}

TEST(SimDevice, HandsOutWholePagesUpToCapacity) {
  SimDevice device(SimDeviceConfig::parse("capacity=10MiB,page=2MiB"));
  const HeapInfo& heap = device.info().heaps[0];
  EXPECT_EQ(heap.size, 10 * kMiB);
  RawBlock a = device.try_allocate_block(0, 1, 256);
  RawBlock b = device.try_allocate_block(0, 3 * kMiB, 256);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a.size, 2 * kMiB);
  EXPECT_EQ(b.size, 4 * kMiB);
  EXPECT_EQ(a.address % (2 * kMiB), 0u);
  EXPECT_EQ(device.query_heap(0).usage, 6 * kMiB);
  EXPECT_FALSE(device.try_allocate_block(0, 5 * kMiB, 256));
  RawBlock c = device.try_allocate_block(0, 4 * kMiB, 256);
  EXPECT_TRUE(c);
  device.free_block(b);
  EXPECT_EQ(device.query_heap(0).usage, 6 * kMiB);
  EXPECT_THROW(device.map(a), Unsupported);
  EXPECT_THROW(device.free_block(b), InvalidHandle);
  device.free_block(a);
  device.free_block(c);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

TEST(SimDevice, AddressRangesNeverOverlapAndAllComeBack) {
  SimDevice device(SimDeviceConfig::parse("capacity=1GiB,page=64KiB"));
  std::mt19937_64 rng(3);
  std::vector<RawBlock> live;
  for (int i = 0; i < 3000; ++i) {
    if (live.empty() || rng() % 3 != 0) {
      RawBlock b = device.try_allocate_block(0, 1 + rng() % (8 * kMiB), 4096);
      if (b) live.push_back(b);
    } else {
      const std::size_t k = rng() % live.size();
      device.free_block(live[k]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    // Check overlap against the most recent block only; every block is checked when made.
    if (!live.empty()) {
      const RawBlock& n = live.back();
      for (std::size_t j = 0; j + 1 < live.size(); ++j) {
        const RawBlock& o = live[j];
        ASSERT_TRUE(n.address + n.size <= o.address || o.address + o.size <= n.address);
      }
    }
  }
  std::uint64_t held = 0;
  for (const RawBlock& b : live) held += b.size;
  EXPECT_EQ(device.query_heap(0).usage, held);
  for (const RawBlock& b : live) device.free_block(b);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
  // Everything coalesced: the whole capacity fits in one block again.
  RawBlock all = device.try_allocate_block(0, 1 * kGiB, 4096);
  EXPECT_TRUE(all);
}

}  // namespace
}  // namespace gpumem
