#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

constexpr std::uint64_t kPage = 2 * kMiB;

SimDevice small_sim() { return SimDevice(SimDeviceConfig::parse("capacity=16MiB,page=2MiB")); }

TEST(SimVirtualMemory, RunsMapAndUnmapInOneCallAllOrNothing) {
  SimDevice device = small_sim();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 8 * kPage);
  const std::vector<PhysicalMemory> pages = {vm.try_create(0, 1), vm.try_create(0, 1),
                                             vm.try_create(0, 1)};
  vm.map_run(0, base, pages);
  SimVmCounters c = device.vm_counters();
  EXPECT_EQ(c.maps, 3u);
  EXPECT_EQ(c.map_calls, 1u);
  // A run that leaves the reservation is refused whole: its first page is not left mapped.
  const PhysicalMemory extra[] = {vm.try_create(0, 1), vm.try_create(0, 1)};
  EXPECT_THAT([&] { vm.map_run(0, base + 7 * kPage, extra); },
              ThrowsMessage<InvalidArgument>(HasSubstr("no reservation")));
  EXPECT_EQ(device.vm_counters().mappings(), 3u);
  // A run to unmap with a hole in it is refused whole too: its first page stays mapped.
  const PhysicalMemory last_and_hole[] = {pages[2], extra[0]};
  EXPECT_THAT([&] { vm.unmap_run(0, base + 2 * kPage, last_and_hole); },
              ThrowsMessage<InvalidArgument>(HasSubstr("nothing is mapped there")));
  EXPECT_EQ(device.vm_counters().mappings(), 3u);
  vm.unmap_run(0, base, pages);
  c = device.vm_counters();
  EXPECT_EQ(c.unmap_calls, 1u) << "the refused runs are no calls";
  EXPECT_EQ(c.map_calls, 1u);
  EXPECT_EQ(c.mappings(), 0u);
  for (const PhysicalMemory p : pages) vm.release(0, p);
  for (const PhysicalMemory p : extra) vm.release(0, p);
  vm.unreserve(0, base, 8 * kPage);
}

TEST(SimVirtualMemory, PiecesOfSeveralPagesMapAndUnmapWhole) {
  SimDevice device = small_sim();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 8 * kPage);
  const PhysicalMemory three = vm.try_create(0, 3);
  const PhysicalMemory one = vm.try_create(0, 1);
  ASSERT_TRUE(three && one);
  EXPECT_EQ(three.pages, 3u);
  EXPECT_EQ(device.query_heap(0).usage, 4 * kPage);
  // Back to back in one call: pages 1-3 and 4.
  const PhysicalMemory run[] = {three, one};
  vm.map_run(0, base + kPage, run);
  SimVmCounters c = device.vm_counters();
  EXPECT_EQ(c.creations, 2u);
  EXPECT_EQ(c.page_creations, 4u);
  EXPECT_EQ(c.piece_maps, 2u);
  EXPECT_EQ(c.maps, 4u);
  EXPECT_EQ(c.map_calls, 1u);

  const std::string inside = fmt::format("{:#x}", base + 2 * kPage);
  EXPECT_THAT([&] { vm.unmap(0, base + 2 * kPage); },
              ThrowsMessage<InvalidArgument>(AllOf(HasSubstr(inside), HasSubstr("starts before"))));
  const PhysicalMemory two = vm.try_create(0, 2);
  EXPECT_THAT([&] { vm.map(0, base, two); },  // page 1 is three's
              ThrowsMessage<InvalidArgument>(HasSubstr("already; unmap it first")));
  EXPECT_THAT([&] { vm.map(0, base + 7 * kPage, two); },
              ThrowsMessage<InvalidArgument>(HasSubstr("runs past the end of the reservation")));
  EXPECT_THAT([&] { vm.map(0, base + 5 * kPage, PhysicalMemory{.id = two.id, .pages = 1}); },
              ThrowsMessage<InvalidHandle>(HasSubstr("created with another size")));
  EXPECT_THAT([&] { vm.try_create(0, 0); },
              ThrowsMessage<InvalidArgument>(HasSubstr("a piece holds 1 to 8 pages")));
  EXPECT_THAT([&] { vm.try_create(0, 9); }, ThrowsMessage<InvalidArgument>(HasSubstr("9 page(s)")));
  EXPECT_FALSE(vm.try_create(0, 3)) << "16 MiB: 3 more pages do not fit beside the 6 held";
  EXPECT_EQ(device.vm_counters().piece_maps, 2u) << "refused calls are not counted";

  vm.unmap(0, base + kPage);  // all three pages
  c = device.vm_counters();
  EXPECT_EQ(c.piece_unmaps, 1u);
  EXPECT_EQ(c.unmaps, 3u);
  // The same piece elsewhere, right after one: the two now unmap as one run from page 4.
  vm.map(0, base + 5 * kPage, three);
  const PhysicalMemory moved[] = {one, three};
  vm.unmap_run(0, base + 4 * kPage, moved);
  EXPECT_EQ(device.vm_counters().mappings(), 0u);
  for (const PhysicalMemory m : {three, one, two}) vm.release(0, m);
  c = device.vm_counters();
  EXPECT_EQ(c.releases, 3u);
  EXPECT_EQ(c.pages_held(), 0u);
  vm.unreserve(0, base, 8 * kPage);
}

TEST(SimVirtualMemory, MapsPagesIntoReservationsAndCountsTheCalls) {
  SimDevice device = small_sim();
  VirtualMemory& vm = *device.virtual_memory();
  EXPECT_EQ(vm.page_size(0), kPage);
  const std::uint64_t base = vm.reserve(0, 8 * kPage);
  ASSERT_NE(base, 0u);
  EXPECT_EQ(base % kPage, 0u);
  EXPECT_EQ(device.query_heap(0).usage, 0u) << "addresses cost no memory";

  const PhysicalMemory a = vm.try_create(0, 1);
  const PhysicalMemory b = vm.try_create(0, 1);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(device.query_heap(0).usage, 2 * kPage);
  vm.map(0, base, a);
  vm.map(0, base + 7 * kPage, b);
  vm.unmap(0, base);
  vm.map(0, base + kPage, a);  // a page moves: what the arena does when it steals one

  SimVmCounters c = device.vm_counters();
  EXPECT_EQ(c.reserves, 1u);
  EXPECT_EQ(c.page_creations, 2u);
  EXPECT_EQ(c.maps, 3u);
  EXPECT_EQ(c.unmaps, 1u);
  EXPECT_EQ(c.pages_held(), 2u);
  EXPECT_EQ(c.mappings(), 2u);

  vm.unmap(0, base + kPage);
  vm.unmap(0, base + 7 * kPage);
  vm.release(0, a);
  vm.release(0, b);
  vm.unreserve(0, base, 8 * kPage);
  c = device.vm_counters();
  EXPECT_EQ(c.pages_held(), 0u);
  EXPECT_EQ(c.mappings(), 0u);
  EXPECT_EQ(c.unreserves, 1u);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

TEST(SimVirtualMemory, PagesAndBlocksShareTheHeapsCapacity) {
  SimDevice device = small_sim();  // 8 pages
  VirtualMemory& vm = *device.virtual_memory();
  const RawBlock block = device.try_allocate_block(0, 6 * kPage, 256);
  ASSERT_TRUE(block);
  const PhysicalMemory p1 = vm.try_create(0, 1);
  const PhysicalMemory p2 = vm.try_create(0, 1);
  ASSERT_TRUE(p1);
  ASSERT_TRUE(p2);
  EXPECT_FALSE(vm.try_create(0, 1)) << "the blocks and pages fill the capacity";
  EXPECT_FALSE(device.try_allocate_block(0, kPage, 256));
  vm.release(0, p1);
  EXPECT_TRUE(device.try_allocate_block(0, kPage, 256)) << "a released page makes room for a block";
  device.free_block(block);
  EXPECT_TRUE(vm.try_create(0, 1)) << "a freed block makes room for pages";

  device.set_external_usage(0, 16 * kMiB);
  EXPECT_FALSE(vm.try_create(0, 1)) << "memory used by others leaves none for pages";
}

TEST(SimVirtualMemory, ReservationsNeverOverlapBlocks) {
  SimDevice device(SimDeviceConfig::parse("capacity=1GiB,page=2MiB"));
  VirtualMemory& vm = *device.virtual_memory();
  struct Range {
    std::uint64_t start, size;
  };
  std::vector<Range> ranges;
  for (std::uint64_t i = 0; i < 8; ++i) {
    const RawBlock block = device.try_allocate_block(0, (i + 1) * kPage, 256);
    ASSERT_TRUE(block);
    ranges.push_back({block.address, block.size});
    const std::uint64_t size = (9 - i) * kPage;
    ranges.push_back({vm.reserve(0, size), size});
    ASSERT_NE(ranges.back().start, 0u);
  }
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    for (std::size_t j = i + 1; j < ranges.size(); ++j) {
      const bool disjoint = ranges[i].start + ranges[i].size <= ranges[j].start ||
                            ranges[j].start + ranges[j].size <= ranges[i].start;
      EXPECT_TRUE(disjoint) << "ranges " << i << " and " << j << " overlap";
    }
  }
  // Addresses run out long before memory would: a reservation larger than the 16 TiB window
  // of the heap is refused with 0, not an exception.
  EXPECT_EQ(vm.reserve(0, std::uint64_t{32} * 1024 * kGiB), 0u);
}

TEST(SimVirtualMemory, RefusesEveryMisuseNamingWhatAndWhere) {
  SimDevice device = small_sim();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 4 * kPage);
  const PhysicalMemory page = vm.try_create(0, 1);
  vm.map(0, base + kPage, page);
  const std::string at = fmt::format("{:#x}", base + kPage);

  EXPECT_THAT([&] { vm.map(0, base + 4 * kPage, vm.try_create(0, 1)); },
              ThrowsMessage<InvalidArgument>(AllOf(
                  HasSubstr(fmt::format("{:#x}", base + 4 * kPage)), HasSubstr("no reservation"))));
  EXPECT_THAT([&] { vm.map(0, base + 100, page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("not a multiple of the page size")));
  EXPECT_THAT(
      [&] { vm.map(0, base + kPage, page); },
      ThrowsMessage<InvalidArgument>(AllOf(HasSubstr(at), HasSubstr("already; unmap it first"))));
  EXPECT_THAT([&] { vm.unmap(0, base); },
              ThrowsMessage<InvalidArgument>(
                  AllOf(HasSubstr(fmt::format("{:#x}", base)), HasSubstr("nothing is mapped"))));
  EXPECT_THAT([&] { vm.release(0, page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("still mapped")));
  EXPECT_THAT(
      [&] { vm.unreserve(0, base, 4 * kPage); },
      ThrowsMessage<InvalidArgument>(AllOf(HasSubstr("1 page(s) still mapped"), HasSubstr(at))));
  EXPECT_THAT([&] { vm.unreserve(0, base, 2 * kPage); },
              ThrowsMessage<InvalidHandle>(HasSubstr("no such reservation")));
  EXPECT_THAT([&] { vm.map(0, base, PhysicalMemory{.id = 12345}); },
              ThrowsMessage<InvalidHandle>(HasSubstr("not live memory")));
  EXPECT_THAT([&] { vm.reserve(0, kPage + 1); },
              ThrowsMessage<InvalidArgument>(HasSubstr("not a positive multiple")));
  EXPECT_THAT([&] { vm.reserve(0, 0); }, ThrowsMessage<InvalidArgument>(HasSubstr("reserve")));
  EXPECT_THAT([&] { vm.try_create(3, 1); }, ThrowsMessage<InvalidArgument>(HasSubstr("heap 3")));

  // A page of one heap cannot be mapped into another's reservation.
  const PhysicalMemory upload_page = vm.try_create(1, 1);
  EXPECT_THAT([&] { vm.map(0, base, upload_page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("belongs to heap 'upload'")));
  EXPECT_THAT([&] { vm.map(1, base, upload_page); },
              ThrowsMessage<InvalidArgument>(HasSubstr("no reservation")));

  vm.unmap(0, base + kPage);
  vm.release(0, page);
  EXPECT_THAT([&] { vm.release(0, page); },
              ThrowsMessage<InvalidHandle>(
                  AllOf(HasSubstr(fmt::format("{:#x}", page.id)), HasSubstr("not live memory"))));
  // A released page's id stays stale even when its record is reused for a new page.
  const PhysicalMemory again = vm.try_create(0, 1);
  EXPECT_NE(again.id, page.id);
  EXPECT_THROW(vm.map(0, base, page), InvalidHandle);
  vm.unreserve(0, base, 4 * kPage);
  EXPECT_THROW(vm.unreserve(0, base, 4 * kPage), InvalidHandle);
  EXPECT_THROW(vm.unmap(0, base), InvalidArgument);

  // Refused calls are not counted.
  const SimVmCounters c = device.vm_counters();
  EXPECT_EQ(c.maps, 1u);
  EXPECT_EQ(c.unmaps, 1u);
  EXPECT_EQ(c.page_releases, 1u);
}

TEST(SimVirtualMemory, APageMayBeMappedAtSeveralAddresses) {
  SimDevice device = small_sim();
  VirtualMemory& vm = *device.virtual_memory();
  const std::uint64_t base = vm.reserve(0, 4 * kPage);
  const PhysicalMemory page = vm.try_create(0, 1);
  vm.map(0, base, page);
  vm.map(0, base + 3 * kPage, page);
  EXPECT_EQ(device.query_heap(0).usage, kPage) << "one page, however often it is mapped";
  vm.unmap(0, base);
  EXPECT_THROW(vm.release(0, page), InvalidArgument) << "still mapped once";
  vm.unmap(0, base + 3 * kPage);
  vm.release(0, page);
}

TEST(SimVirtualMemory, CanBeTurnedOff) {
  SimDevice device(SimDeviceConfig::parse("capacity=16MiB,vm=off"));
  EXPECT_EQ(device.virtual_memory(), nullptr);
  EXPECT_EQ(device.vm_counters().maps, 0u);
  EXPECT_TRUE(SimDeviceConfig::parse("vm=on").virtual_memory);
  EXPECT_THAT([] { SimDeviceConfig::parse("vm=maybe"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("vm='maybe'")));
  EXPECT_NE(SimDevice().virtual_memory(), nullptr) << "on by default, as on current GPUs";
}

TEST(SimVirtualMemory, ServesSeveralThreadsAtOnce) {
  SimDevice device(SimDeviceConfig::parse("capacity=1GiB,page=2MiB"));
  VirtualMemory& vm = *device.virtual_memory();
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const std::uint64_t base = vm.reserve(0, 4 * kPage);
      for (int i = 0; i < kRounds; ++i) {
        const PhysicalMemory page = vm.try_create(0, 1);
        if (!page) {
          ++failures;
          continue;
        }
        const std::uint64_t address = base + static_cast<std::uint64_t>(i % 4) * kPage;
        vm.map(0, address, page);
        vm.unmap(0, address);
        vm.release(0, page);
      }
      vm.unreserve(0, base, 4 * kPage);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const SimVmCounters c = device.vm_counters();
  EXPECT_EQ(c.maps, std::uint64_t{kThreads} * kRounds);
  EXPECT_EQ(c.mappings(), 0u);
  EXPECT_EQ(c.pages_held(), 0u);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
}

}  // namespace
}  // namespace gpumem
