#include "gpumem/backend/host_device.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;

TEST(HostDevice, SystemLayoutIsOneSharedHeapOfPhysicalMemory) {
  HostDevice device;
  ASSERT_EQ(device.info().heaps.size(), 1u);
  const HeapInfo& heap = device.info().heaps[0];
  EXPECT_EQ(heap.kind, HeapKind::Shared);
  EXPECT_GT(heap.size, 64 * kMiB);
  EXPECT_TRUE(heap.flags.host_visible);
  EXPECT_EQ(device.info().type, DeviceType::Cpu);
}

TEST(HostDevice, BlocksHoldRealBytesAndCopiesMoveThem) {
  HostDevice device(HostDeviceConfig::discrete_like(64 * kMiB, 16 * kMiB));
  RawBlock a = device.try_allocate_block(0, 1000, 256);
  RawBlock b = device.try_allocate_block(1, 4096, 64);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a.size, 1024u);  // rounded up to the 64-byte granularity (and alignment)
  EXPECT_EQ(a.address % 256, 0u);
  std::memset(device.map(a), 0x5A, a.size);
  const FenceValue fence = device.copy(a, 10, b, 100, 500);
  device.wait(fence);
  EXPECT_TRUE(device.is_complete(fence));
  const std::byte* bytes = device.map(b);
  EXPECT_EQ(bytes[100], std::byte{0x5A});
  EXPECT_EQ(bytes[599], std::byte{0x5A});
  device.free_block(a);
  device.free_block(b);
}

TEST(HostDevice, CapacityIsEnforcedAndExternalUsageReported) {
  HostDevice device(HostDeviceConfig::discrete_like(1 * kMiB, 1 * kMiB));
  RawBlock a = device.try_allocate_block(0, 768 * kKiB, 64);
  ASSERT_TRUE(a);
  EXPECT_FALSE(device.try_allocate_block(0, 512 * kKiB, 64));
  EXPECT_EQ(device.query_heap(0).usage, 768 * kKiB);
  device.set_external_usage(0, 200 * kKiB);
  EXPECT_EQ(device.query_heap(0).usage, 968 * kKiB);
  EXPECT_EQ(device.query_heap(0).budget, 1 * kMiB);
  EXPECT_FALSE(device.try_allocate_block(0, 100 * kKiB, 64));  // others took it
  device.free_block(a);
  const RawBlock b = device.try_allocate_block(0, 100 * kKiB, 64);
  EXPECT_TRUE(b);
  // b stays out: the device gives it back when destroyed (LeakSanitizer checks in CI).
}

TEST(HostDevice, BadInputIsRefusedClearly) {
  HostDevice device(HostDeviceConfig::discrete_like(1 * kMiB, 1 * kMiB));
  EXPECT_THAT([&] { device.try_allocate_block(7, 64, 64); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("no heap 7")));
  EXPECT_THROW(device.try_allocate_block(0, 0, 64), InvalidArgument);
  EXPECT_THROW(device.try_allocate_block(0, 64, 48), InvalidArgument);
  EXPECT_THROW(device.try_allocate_block(0, UINT64_MAX, 64), InvalidArgument);
  RawBlock a = device.try_allocate_block(0, 64, 64);
  device.free_block(a);
  EXPECT_THAT([&] { device.free_block(a); },
              ::testing::ThrowsMessage<InvalidHandle>(HasSubstr("freed twice")));
  RawBlock forged{.id = 12345, .heap = 0, .size = 64, .address = 12345};
  EXPECT_THROW(device.map(forged), InvalidHandle);
  RawBlock b = device.try_allocate_block(0, 128, 64);
  EXPECT_THROW(device.copy(b, 100, b, 0, 100), InvalidArgument);
  EXPECT_THROW(device.wait(999), InvalidArgument);
  device.free_block(b);
  EXPECT_THROW(HostDevice(HostDeviceConfig{.name = "x", .heaps = {}}), InvalidArgument);
}

}  // namespace
}  // namespace gpumem
