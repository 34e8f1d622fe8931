#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

#if defined(__linux__)

constexpr std::uint64_t kPage = 2 * kMiB;

// 8 MiB device-local (four pages), 4 MiB upload and readback.
HostDevice vm_device() {
  HostDeviceConfig config = HostDeviceConfig::discrete_like(8 * kMiB, 4 * kMiB);
  config.virtual_memory = true;
  return HostDevice(config);
}

std::byte* at(std::uint64_t address) { return reinterpret_cast<std::byte*>(address); }

TEST(HostVirtualMemory, IsOffUnlessAskedFor) {
  EXPECT_EQ(HostDevice().virtual_memory(), nullptr);
  HostDevice device = vm_device();
  ASSERT_NE(device.virtual_memory(), nullptr);
  EXPECT_EQ(device.virtual_memory()->page_size(0), kPage);
}

TEST(HostVirtualMemory, PiecesKeepTheirBytesAcrossMovesAndTheirFileRangesAreReused) {
  HostDevice device = vm_device();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 8 * kPage);
  ASSERT_NE(base, 0u);
  const PhysicalMemory three = vm.try_create(0, 3);
  ASSERT_TRUE(three);
  vm.map(0, base, three);
  for (std::uint64_t i = 0; i < 3; ++i) at(base + i * kPage)[5] = std::byte{0x40} | std::byte(i);
  // Moved whole, every page keeps its bytes, in order.
  vm.unmap(0, base);
  vm.map(0, base + 4 * kPage, three);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(at(base + (4 + i) * kPage)[5], std::byte{0x40} | std::byte(i));
  }
  EXPECT_THROW(vm.unmap(0, base + 5 * kPage), InvalidArgument) << "not where the piece starts";
  vm.unmap(0, base + 4 * kPage);
  // Released, its range of the memory file serves the next pieces: first one page, then two,
  // both zeroed (the released memory was punched out).
  vm.release(0, three);
  const PhysicalMemory one = vm.try_create(0, 1);
  const PhysicalMemory two = vm.try_create(0, 2);
  ASSERT_TRUE(one && two);
  const PhysicalMemory run[] = {one, two};
  vm.map_run(0, base, run);
  for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(at(base + i * kPage)[5], std::byte{0});
  EXPECT_EQ(device.query_heap(0).usage, 3 * kPage);
  vm.unmap_run(0, base, run);
  vm.release(0, one);
  vm.release(0, two);
  vm.unreserve(0, base, 8 * kPage);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

TEST(HostVirtualMemory, OnePageMappedTwiceShowsTheSameBytes) {
  HostDevice device = vm_device();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t first = vm.reserve(0, 2 * kPage);
  const std::uint64_t second = vm.reserve(0, kPage);
  ASSERT_NE(first, 0u);
  ASSERT_NE(second, 0u);
  EXPECT_EQ(first % kPage, 0u);
  const PhysicalMemory page = vm.try_create(0, 1);
  ASSERT_TRUE(page);
  vm.map(0, first + kPage, page);
  vm.map(0, second, page);

  std::memset(at(first + kPage), 0x5a, kPage);
  std::memcpy(at(first + kPage) + 1000, "gpumem", 6);
  EXPECT_EQ(std::memcmp(at(second) + 1000, "gpumem", 6), 0);
  EXPECT_EQ(at(second)[kPage - 1], std::byte{0x5a});
  at(second)[7] = std::byte{0x11};
  EXPECT_EQ(at(first + kPage)[7], std::byte{0x11});
  EXPECT_EQ(device.query_heap(0).usage, kPage) << "one page, however often it is mapped";

  // The page keeps its bytes when it moves, as when the arena steals it.
  vm.unmap(0, first + kPage);
  vm.map(0, first, page);
  EXPECT_EQ(std::memcmp(at(first) + 1000, "gpumem", 6), 0);

  vm.unmap(0, first);
  vm.unmap(0, second);
  vm.release(0, page);
  vm.unreserve(0, first, 2 * kPage);
  vm.unreserve(0, second, kPage);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

TEST(HostVirtualMemory, ReleasedPagesComeBackZeroed) {
  HostDevice device = vm_device();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, kPage);
  PhysicalMemory page = vm.try_create(0, 1);
  vm.map(0, base, page);
  std::memset(at(base), 0xab, kPage);
  vm.unmap(0, base);
  vm.release(0, page);
  page = vm.try_create(0, 1);  // the same piece of the file again
  vm.map(0, base, page);
  EXPECT_EQ(at(base)[0], std::byte{0});
  EXPECT_EQ(at(base)[kPage - 1], std::byte{0});
  vm.unmap(0, base);
  vm.release(0, page);
  vm.unreserve(0, base, kPage);
}

TEST(HostVirtualMemory, PagesCountAgainstTheHeapLikeBlocks) {
  HostDevice device = vm_device();
  VirtualMemory& vm = *device.virtual_memory();
  const RawBlock block = device.try_allocate_block(0, 4 * kMiB, 64);
  ASSERT_TRUE(block);
  const PhysicalMemory a = vm.try_create(0, 1);
  const PhysicalMemory b = vm.try_create(0, 1);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_FALSE(vm.try_create(0, 1)) << "8 MiB: the block and two pages fill it";
  EXPECT_FALSE(device.try_allocate_block(0, 64, 64));
  vm.release(0, a);
  device.free_block(block);
  EXPECT_TRUE(vm.try_create(1, 1)) << "heaps have their own memory";
  vm.release(0, b);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

TEST(HostVirtualMemory, RefusesMisuseLikeADriver) {
  HostDevice device = vm_device();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 2 * kPage);
  const PhysicalMemory page = vm.try_create(0, 1);
  vm.map(0, base, page);
  EXPECT_THAT([&] { vm.map(0, base, page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("already; unmap it first")));
  EXPECT_THAT([&] { vm.unmap(0, base + kPage); },
              ThrowsMessage<InvalidArgument>(HasSubstr("nothing is mapped")));
  EXPECT_THAT([&] { vm.map(0, base + 2 * kPage, page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("no reservation")));
  EXPECT_THAT([&] { vm.release(0, page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("still mapped")));
  EXPECT_THAT([&] { vm.unreserve(0, base, 2 * kPage); },
              ThrowsMessage<InvalidArgument>(HasSubstr("still mapped")));
  at(base)[0] = std::byte{1};  // the refused calls left the mapping as it was
  vm.unmap(0, base);
  vm.release(0, page);
  EXPECT_THROW(vm.release(0, page), InvalidHandle);
  vm.unreserve(0, base, 2 * kPage);
}

TEST(HostVirtualMemory, ReservationsStillOutGoWithTheDevice) {
  // Nothing to assert beyond a clean exit (ASan would report a leak of the books; the address
  // ranges and memory files are closed by the destructor).
  HostDevice device = vm_device();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 2 * kPage);
  vm.map(0, base, vm.try_create(0, 1));
  std::memset(at(base), 1, kPage);
}

TEST(HostVirtualMemory, ServesSeveralThreadsAtOnce) {
  HostDeviceConfig config = HostDeviceConfig::discrete_like(64 * kMiB, 4 * kMiB);
  config.virtual_memory = true;
  HostDevice device(config);
  VirtualMemory& vm = *device.virtual_memory();
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::uint64_t base = vm.reserve(0, 2 * kPage);
      for (int i = 0; i < 50; ++i) {
        const PhysicalMemory page = vm.try_create(0, 1);
        if (!page) continue;
        const std::uint64_t address = base + static_cast<std::uint64_t>(i % 2) * kPage;
        vm.map(0, address, page);
        std::memset(at(address), t + 1, 4096);
        if (at(address)[4095] != std::byte(t + 1)) ++bad[static_cast<std::size_t>(t)];
        vm.unmap(0, address);
        vm.release(0, page);
      }
      vm.unreserve(0, base, 2 * kPage);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

#else

TEST(HostVirtualMemory, IsLinuxOnly) { EXPECT_EQ(HostDevice().virtual_memory(), nullptr); }

#endif

}  // namespace
}  // namespace gpumem
