#include "gpumem/memory/page_arena_allocator.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "memory/arena_fixture.hpp"
#include "support/log_capture.hpp"

namespace gpumem {
namespace {

using test_support::ArenaFixture;
using test_support::FaultyDevice;
using test_support::kPage;
using test_support::LogCapture;
using test_support::pages_spanned;
using test_support::TestSource;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(PageArenaAllocator, NeedsVirtualMemoryManagement) {
  SimDevice device(SimDeviceConfig::parse("capacity=1GiB,vm=off,name=old-gpu"));
  TestSource source(device, 1 * kGiB);
  EXPECT_THAT([&] { PageArenaAllocator arena(source); },
              ThrowsMessage<Unsupported>(AllOf(HasSubstr("virtual memory"), HasSubstr("old-gpu"),
                                               HasSubstr("device-local"))));
  ArenaFixture f;
  EXPECT_THAT([&] { PageArenaAllocator arena(f.source, {.granularity = 3}); },
              ThrowsMessage<InvalidArgument>(HasSubstr("granularity 3")));
}

TEST(PageArenaAllocator, DescribesItsRangeInPlacements) {
  ArenaFixture f;
  EXPECT_EQ(f.arena.name(), "arena");
  EXPECT_EQ(f.arena.page_size(), kPage);
  EXPECT_EQ(f.arena.range_size(), 4 * kGiB) << "four times the heap by default";
  EXPECT_EQ(f.device.query_heap(0).usage, 0u) << "the range costs no memory";
  const Placement a = f.arena.allocate(1000, 1, true);
  const Placement b = f.arena.allocate(5 * kMiB, 1, true);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a.block.id, b.block.id);
  EXPECT_EQ(a.block.size, 4 * kGiB);
  EXPECT_EQ(a.block.address, b.block.address);
  EXPECT_EQ(a.size, 1024u) << "sizes are multiples of 256 B";
  EXPECT_EQ(b.address(), b.block.address + b.offset);
  EXPECT_EQ(a.block.address % f.arena.base_alignment(), 0u);
  // Small requests are packed in a region of their own at the end of the range.
  EXPECT_GE(a.offset, f.arena.range_size() / 8 * 7);
  EXPECT_LT(b.offset, f.arena.range_size() / 8 * 7);
  f.arena.deallocate(a);
  f.arena.deallocate(b);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, MapsPagesOnlyUnderLiveAllocations) {
  ArenaFixture f;
  const Placement a = f.arena.allocate(3 * kMiB, 256, true);  // pages 0 and 1
  ASSERT_TRUE(a);
  SimVmCounters vm = f.device.vm_counters();
  EXPECT_EQ(vm.page_creations, pages_spanned(a));
  EXPECT_EQ(vm.mappings(), pages_spanned(a));
  // The next one shares a's second page: only the pages beyond it are mapped.
  const Placement b = f.arena.allocate(2 * kMiB, 256, true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.offset, a.offset + a.size);
  vm = f.device.vm_counters();
  EXPECT_EQ(vm.mappings(), 3u);
  HeapAllocatorStats s = f.arena.stats();
  EXPECT_EQ(s.reserved_bytes, 3 * kPage);
  EXPECT_EQ(s.blocks, 3u);
  EXPECT_EQ(s.live_bytes, 5 * kMiB);
  EXPECT_EQ(s.live_count, 2u);
  EXPECT_EQ(s.cached_bytes, 0u);
  EXPECT_EQ(f.source.reserved(), 3 * kPage) << "every page is reserved against the budget";
  EXPECT_EQ(f.device.query_heap(0).usage, 3 * kPage);

  // Free calls no driver: the pages stay mapped, cached for reuse.
  f.arena.deallocate(a);
  f.arena.deallocate(b);
  EXPECT_EQ(f.device.vm_counters().unmaps, 0u);
  s = f.arena.stats();
  EXPECT_EQ(s.reserved_bytes, 3 * kPage);
  EXPECT_EQ(s.cached_bytes, 3 * kPage);
  EXPECT_EQ(s.live_bytes, 0u);
  EXPECT_EQ(s.peak_reserved_bytes, 3 * kPage);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, ReusesCachedPagesInPlaceWithoutDriverCalls) {
  ArenaFixture f;
  const Placement a = f.arena.allocate(6 * kMiB, 256, true);
  f.arena.deallocate(a);
  const SimVmCounters before = f.device.vm_counters();
  const Placement b = f.arena.allocate(6 * kMiB, 256, true);
  EXPECT_EQ(b.offset, a.offset);
  const SimVmCounters after = f.device.vm_counters();
  EXPECT_EQ(after.maps, before.maps);
  EXPECT_EQ(after.page_creations, before.page_creations);
  EXPECT_EQ(f.arena.page_counters().reused_in_place, 3u);
  f.arena.deallocate(b);
}

TEST(PageArenaAllocator, FreedPagesServeRequestsElsewhereWithoutGrowth) {
  ArenaFixture f;
  // x | a (2 pages) | y, then a goes: its two pages are cached in the middle.
  const Placement x = f.arena.allocate(2 * kMiB, 256, true);
  const Placement a = f.arena.allocate(4 * kMiB, 256, true);
  const Placement y = f.arena.allocate(2 * kMiB, 256, true);
  ASSERT_EQ(a.offset, 2 * kMiB);
  EXPECT_EQ(f.pages_held(), 4u);
  f.arena.deallocate(a);
  const SimVmCounters before = f.device.vm_counters();

  // An 8 MiB alignment keeps b out of a's hole: it lands on unmapped addresses.
  const Placement b = f.arena.allocate(4 * kMiB, 8 * kMiB, true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.offset, 8 * kMiB);
  EXPECT_EQ(f.pages_held(), 4u) << "a's pages moved under b: no growth";
  EXPECT_EQ(f.source.reserved(), 4 * kPage);
  const SimVmCounters after = f.device.vm_counters();
  EXPECT_EQ(after.page_creations, before.page_creations);
  EXPECT_EQ(after.unmaps - before.unmaps, 2u) << "stolen from a's place";
  EXPECT_EQ(after.maps - before.maps, 2u) << "and mapped under b";
  EXPECT_EQ(f.arena.page_counters().stolen, 2u);
  EXPECT_EQ(f.arena.stats().cached_bytes, 0u);
  EXPECT_EQ(f.arena.validate(), "");

  // Once nothing idle is left, the next request grows the footprint.
  const Placement c = f.arena.allocate(2 * kMiB, 8 * kMiB, true);
  EXPECT_EQ(f.pages_held(), 5u);
  EXPECT_EQ(f.arena.page_counters().created, 5u);
  for (const Placement& p : {x, y, b, c}) f.arena.deallocate(p);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, MapsAndUnmapsRunsOfNeighbouringPagesInOneCall) {
  ArenaFixture f;
  const Placement x = f.arena.allocate(2 * kMiB, 256, true);  // page 0
  const Placement a = f.arena.allocate(8 * kMiB, 256, true);  // pages 1-4
  ASSERT_TRUE(a);
  SimVmCounters vm = f.device.vm_counters();
  EXPECT_EQ(vm.maps, 5u);
  EXPECT_EQ(vm.map_calls, 2u) << "a's four neighbouring holes map as one run";
  f.arena.deallocate(a);
  // Kept out of a's place by its alignment, b takes a's four cached pages: one unmap call for
  // them, one map call under b.
  const Placement b = f.arena.allocate(8 * kMiB, 64 * kMiB, true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.offset, 64 * kMiB);
  EXPECT_EQ(f.arena.page_counters().stolen, 4u);
  vm = f.device.vm_counters();
  EXPECT_EQ(vm.unmaps, 4u);
  EXPECT_EQ(vm.unmap_calls, 1u);
  EXPECT_EQ(vm.map_calls, 3u);
  f.arena.deallocate(b);
  f.arena.deallocate(x);
  f.arena.trim();
  vm = f.device.vm_counters();
  EXPECT_EQ(vm.unmap_calls, 3u) << "trim unmaps b's four pages as one run, x's page alone";
  EXPECT_EQ(vm.pages_held(), 0u);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, PlacesRequestsWherePagesAreAlreadyMapped) {
  ArenaFixture f;
  // a (3 pages) | x | c (2 pages) | y; c goes and its pages are trimmed, then a goes: a 4 MiB
  // hole with nothing behind it, and a 6 MiB one with a's three pages still mapped.
  const Placement a = f.arena.allocate(6 * kMiB, 256, true);
  const Placement x = f.arena.allocate(2 * kMiB, 256, true);
  const Placement c = f.arena.allocate(4 * kMiB, 256, true);
  const Placement y = f.arena.allocate(2 * kMiB, 256, true);
  ASSERT_EQ(c.offset, 8 * kMiB);
  f.arena.deallocate(c);
  f.arena.trim();
  f.arena.deallocate(a);
  const SimVmCounters before = f.device.vm_counters();
  const ArenaPageCounters pages_before = f.arena.page_counters();
  // TLSF's good fit is c's exact hole; the arena takes a's mapped pages in place instead of
  // moving two of them there (an unmap and a map each on a GPU).
  const Placement b = f.arena.allocate(4 * kMiB, 256, true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.offset, a.offset);
  const SimVmCounters after = f.device.vm_counters();
  EXPECT_EQ(after.maps, before.maps);
  EXPECT_EQ(after.unmaps, before.unmaps);
  EXPECT_EQ(after.page_creations, before.page_creations);
  EXPECT_EQ(f.arena.page_counters().reused_in_place - pages_before.reused_in_place, 2u);
  for (const Placement& p : {x, y, b}) f.arena.deallocate(p);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, StealsTheOldestCachedPages) {
  ArenaFixture f;
  std::vector<Placement> p;
  p.reserve(5);
  for (int i = 0; i < 5; ++i) p.push_back(f.arena.allocate(2 * kMiB, 256, true));  // pages 0-4
  f.arena.deallocate(p[1]);  // cached first: the oldest
  f.arena.deallocate(p[3]);
  // Needs one page at 16 MiB: page 1's, so page 3 stays mapped for reuse in place.
  const Placement q = f.arena.allocate(2 * kMiB, 16 * kMiB, true);
  ASSERT_EQ(q.offset, 16 * kMiB);
  EXPECT_EQ(f.pages_held(), 5u);
  const SimVmCounters before = f.device.vm_counters();
  const Placement r = f.arena.allocate(2 * kMiB, 256, true);  // TLSF reuses the newest hole
  ASSERT_EQ(r.offset, 6 * kMiB);
  EXPECT_EQ(f.device.vm_counters().maps, before.maps) << "page 3 was still mapped";
  for (const Placement& x : {p[0], p[2], p[4], q, r}) f.arena.deallocate(x);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, BudgetRefusalChangesNothing) {
  ArenaFixture f(4 * kPage);
  const Placement a = f.arena.allocate(8 * kMiB, 256, true);
  ASSERT_TRUE(a);
  const Placement refused = f.arena.allocate(1 * kMiB, 256, true);
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.refusal, GrowthRefusal::Budget);
  EXPECT_EQ(f.pages_held(), 4u);
  EXPECT_EQ(f.arena.stats().live_count, 1u);
  EXPECT_EQ(f.source.reserved(), 4 * kPage);
  EXPECT_EQ(f.arena.validate(), "");

  // Memory freed anywhere serves the next request, within the same budget.
  f.arena.deallocate(a);
  const Placement b = f.arena.allocate(3 * kMiB, 8 * kMiB, true);
  const Placement c = f.arena.allocate(1 * kMiB, 256, true);
  EXPECT_TRUE(b);
  EXPECT_TRUE(c);
  // Two pages idle but three needed: refused without touching the idle ones.
  const Placement d = f.arena.allocate(5 * kMiB, 16 * kMiB, true);
  EXPECT_EQ(d.refusal, GrowthRefusal::Budget);
  EXPECT_EQ(f.arena.stats().cached_bytes, 2 * kPage);
  EXPECT_EQ(f.arena.stats().blocks, 4u);
  EXPECT_EQ(f.arena.validate(), "");
  f.arena.deallocate(b);
  f.arena.deallocate(c);
  EXPECT_EQ(f.arena.allocate(2 * kGiB, 256, true).refusal, GrowthRefusal::Budget);
}

TEST(PageArenaAllocator, DeviceRefusalGivesBackWhatItTook) {
  // The budget allows 1 GiB but the device has 5 pages.
  ArenaFixture f(1 * kGiB, {}, "capacity=10MiB,page=2MiB,upload=0");
  const Placement a = f.arena.allocate(4 * kMiB, 256, true);
  ASSERT_TRUE(a);
  // Needs four pages; the device makes three and refuses the fourth.
  const Placement refused = f.arena.allocate(8 * kMiB, 8 * kMiB, true);
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.refusal, GrowthRefusal::Device);
  EXPECT_EQ(f.pages_held(), 2u) << "the three pages made for it went back";
  EXPECT_EQ(f.source.reserved(), 2 * kPage);
  EXPECT_EQ(f.device.query_heap(0).usage, 2 * kPage);
  EXPECT_EQ(f.device.vm_counters().pages_held(), 2u);
  EXPECT_EQ(f.arena.validate(), "");
  const Placement b = f.arena.allocate(6 * kMiB, 8 * kMiB, true);
  EXPECT_TRUE(b) << "three pages still fit";
  f.arena.deallocate(a);
  f.arena.deallocate(b);
}

TEST(PageArenaAllocator, DriverFailuresAreRefusalsThatLeaveTheBooksExact) {
  // Pages one by one, and in pieces of several pages: the same five pages are then three pieces
  // (the keeper's page, and two pieces of two pages).
  for (const std::uint64_t piece_pages : {1U, 512U}) {
    SCOPED_TRACE(fmt::format("max_piece_pages {}", piece_pages));
    const std::uint64_t five_pages_in = piece_pages == 1 ? 5 : 3;
    FaultyDevice device;
    TestSource source(device, 1 * kGiB);
    PageArenaAllocator arena(source, {.max_piece_pages = piece_pages});
    LogCapture log;
    const auto books_exact = [&] {
      EXPECT_EQ(arena.validate(), "");
      EXPECT_EQ(arena.stats().reserved_bytes, source.reserved());
      const SimVmCounters vm = device.sim_.vm_counters();
      EXPECT_EQ(arena.stats().reserved_bytes, vm.pages_held() * kPage);
      EXPECT_EQ(arena.stats().blocks, vm.creations - vm.releases);
    };
    const Placement keeper = arena.allocate(1 * kMiB, 256, true);  // page 0
    const Placement a = arena.allocate(4 * kMiB, 8 * kMiB, true);  // pages 4 and 5
    arena.deallocate(a);

    // Pages 8-11, one run, two of its pages new and two taken from a's place: the second map
    // fails, and the run maps all or nothing, so all four end up pooled.
    device.vm.maps_until_failure = 1;
    const Placement b = arena.allocate(8 * kMiB, 16 * kMiB, true);
    EXPECT_FALSE(b);
    EXPECT_EQ(b.refusal, GrowthRefusal::Device);
    EXPECT_THAT(log.all(), HasSubstr("injected map failure"));
    EXPECT_EQ(arena.stats().live_count, 1u);
    EXPECT_EQ(arena.stats().blocks, five_pages_in);
    EXPECT_EQ(arena.stats().cached_bytes, 4 * kPage);
    books_exact();
    // The pooled pages serve the same request once the driver is well, and are idle after it.
    const Placement e = arena.allocate(8 * kMiB, 16 * kMiB, true);
    ASSERT_TRUE(e);
    EXPECT_EQ(arena.stats().blocks, five_pages_in);
    arena.deallocate(e);
    books_exact();

    // Pages 16 and 17: taking two of the idle pages fails to unmap, and they stay idle.
    device.vm.unmaps_until_failure = 0;
    const Placement c = arena.allocate(4 * kMiB, 32 * kMiB, true);
    EXPECT_EQ(c.refusal, GrowthRefusal::Device);
    EXPECT_THAT(log.all(), HasSubstr("injected unmap failure"));
    EXPECT_EQ(arena.stats().cached_bytes, 4 * kPage);
    books_exact();

    // A trim whose first unmap fails keeps every page idle; the next trim gives them back.
    device.vm.unmaps_until_failure = 0;
    arena.trim();
    EXPECT_EQ(arena.stats().blocks, five_pages_in);
    books_exact();
    arena.trim();
    EXPECT_EQ(arena.stats().blocks, 1u);
    books_exact();

    // With the driver well again, everything works and goes back.
    const Placement d = arena.allocate(8 * kMiB, 256, true);
    EXPECT_TRUE(d);
    arena.deallocate(d);
    arena.deallocate(keeper);
    arena.trim();
    EXPECT_EQ(source.reserved(), 0u);
    EXPECT_EQ(device.sim_.vm_counters().pages_held(), 0u);
  }
}

TEST(PageArenaAllocator, TrimReturnsEveryCachedPage) {
  ArenaFixture f;
  std::vector<Placement> p;
  for (std::uint64_t size : {3 * kMiB, 100 * kKiB, 17 * kMiB, 5 * kKiB, 1 * kMiB}) {
    p.push_back(f.arena.allocate(size, 256, true));
  }
  const Placement keep = p[2];
  for (const Placement& x : p) {
    if (x.offset != keep.offset) f.arena.deallocate(x);
  }
  f.arena.trim();
  EXPECT_EQ(f.arena.stats().cached_bytes, 0u);
  EXPECT_EQ(f.pages_held(), pages_spanned(keep)) << "pages under a live allocation stay";
  EXPECT_EQ(f.arena.validate(), "");
  f.arena.deallocate(keep);
  f.arena.trim();
  const HeapAllocatorStats s = f.arena.stats();
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_GT(s.peak_reserved_bytes, 0u);
  EXPECT_EQ(f.source.reserved(), 0u);
  EXPECT_EQ(f.device.query_heap(0).usage, 0u);
  const SimVmCounters vm = f.device.vm_counters();
  EXPECT_EQ(vm.pages_held(), 0u);
  EXPECT_EQ(vm.mappings(), 0u);
  EXPECT_EQ(f.arena.page_counters().released, vm.page_creations);
}

TEST(PageArenaAllocator, KeepsCachedPagesWithinTheirBound) {
  // 1/64 of 1 GiB: eight cached pages at most.
  ArenaFixture f(1 * kGiB, {.max_cached_fraction = 1.0 / 64});
  std::vector<Placement> p;
  p.reserve(20);
  for (int i = 0; i < 20; ++i) p.push_back(f.arena.allocate(2 * kMiB, 256, true));
  for (const Placement& x : p) f.arena.deallocate(x);
  EXPECT_EQ(f.arena.stats().cached_bytes, 8 * kPage);
  EXPECT_EQ(f.pages_held(), 8u);
  EXPECT_EQ(f.source.reserved(), 8 * kPage);
  EXPECT_EQ(f.arena.page_counters().released, 12u);
  EXPECT_EQ(f.arena.validate(), "");

  ArenaFixture none(1 * kGiB, {.max_cached_fraction = 0.0});
  const Placement a = none.arena.allocate(5 * kMiB, 256, true);
  none.arena.deallocate(a);
  EXPECT_EQ(none.pages_held(), 0u) << "no cache: freed pages go back at once";
}

TEST(PageArenaAllocator, ReleasesCachedPagesOverTheSoftLimit) {
  ArenaFixture f;
  const Placement a = f.arena.allocate(19 * kMiB, 256, true);
  const Placement b = f.arena.allocate(4 * kMiB, 256, true);
  f.arena.deallocate(a);
  EXPECT_EQ(f.arena.stats().cached_bytes, 9 * kPage) << "a's tail page is b's head page";
  f.source.over_soft_limit = true;
  f.arena.deallocate(b);
  EXPECT_EQ(f.pages_held(), 0u);
  EXPECT_EQ(f.source.reserved(), 0u);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, HonoursAlignment) {
  ArenaFixture f;
  std::mt19937_64 rng(3);
  std::vector<Placement> live;
  for (std::uint64_t alignment = 1; alignment <= 256 * kMiB; alignment *= 4) {
    for (std::uint64_t size : {std::uint64_t{1}, 300 * std::uint64_t{1}, 70 * kKiB, 3 * kMiB}) {
      const Placement p = f.arena.allocate(size + rng() % 64, alignment, true);
      ASSERT_TRUE(p);
      EXPECT_EQ(p.address() % std::max<std::uint64_t>(alignment, 256), 0u)
          << "size " << size << " alignment " << alignment;
      EXPECT_EQ(p.size % 256, 0u);
      EXPECT_GE(p.size, size);
      live.push_back(p);
    }
  }
  EXPECT_EQ(f.arena.validate(), "");
  const Placement too_aligned = f.arena.allocate(256, f.arena.base_alignment() * 2, true);
  EXPECT_EQ(too_aligned.refusal, GrowthRefusal::Device);
  for (const Placement& p : live) f.arena.deallocate(p);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaAllocator, RandomOperationsKeepThePageBooksExact) {
  // With pages one by one, and in pieces of several pages (as the stream allocator makes).
  for (const std::uint64_t piece_pages : {1U, 3U, 512U}) {
    SCOPED_TRACE(fmt::format("max_piece_pages {}", piece_pages));
    ArenaFixture f(1 * kGiB, {.max_cached_fraction = 1.0 / 32, .max_piece_pages = piece_pages});
    std::mt19937_64 rng(11);
    std::map<std::uint64_t, Placement> live;  // by offset
    std::uint64_t live_bytes = 0;
    const auto overlaps_neighbour = [&](const Placement& p) {
      auto next = live.lower_bound(p.offset);
      if (next != live.end() && next->first < p.offset + p.size) return true;
      if (next != live.begin() &&
          std::prev(next)->second.offset + std::prev(next)->second.size > p.offset) {
        return true;
      }
      return false;
    };
    for (int step = 0; step < 4000; ++step) {
      const bool allocate = live.empty() || (rng() % 100) < (live.size() < 60 ? 70u : 30u);
      if (allocate) {
        // Log-uniform sizes from 256 B to 16 MiB, with odd sizes and alignments mixed in.
        const std::uint64_t size = (std::uint64_t{256} << (rng() % 17)) + rng() % 5000;
        const std::uint64_t alignment = std::uint64_t{1} << (rng() % 24);
        const Placement p = f.arena.allocate(size, alignment, true);
        ASSERT_TRUE(p) << "step " << step;
        ASSERT_FALSE(overlaps_neighbour(p)) << "step " << step;
        ASSERT_EQ(p.address() % std::max<std::uint64_t>(alignment, 256), 0u);
        live.emplace(p.offset, p);
        live_bytes += p.size;
      } else {
        auto it = std::next(live.begin(), static_cast<std::ptrdiff_t>(rng() % live.size()));
        live_bytes -= it->second.size;
        f.arena.deallocate(it->second);
        live.erase(it);
      }
      if (step % 97 == 0 || step < 50) {
        ASSERT_EQ(f.arena.validate(), "") << "step " << step;
        if (step % 5 == 0) f.arena.trim();
      }
      const HeapAllocatorStats s = f.arena.stats();
      ASSERT_EQ(s.live_bytes, live_bytes);
      ASSERT_EQ(s.live_count, live.size());
      ASSERT_EQ(s.reserved_bytes, f.source.reserved());
      const SimVmCounters vm = f.device.vm_counters();
      ASSERT_EQ(s.reserved_bytes, vm.pages_held() * kPage);
      ASSERT_EQ(s.blocks, vm.creations - vm.releases);
    }
    for (const auto& [offset, p] : live) f.arena.deallocate(p);
    EXPECT_EQ(f.arena.validate(), "");
    f.arena.trim();
    EXPECT_EQ(f.source.reserved(), 0u);
  }
}

TEST(PageArenaAllocator, EightThreadsAtOnce) {
  // With pages one by one, and in pieces of several pages (as the stream allocator makes).
  for (const std::uint64_t piece_pages : {1U, 3U, 512U}) {
    SCOPED_TRACE(fmt::format("max_piece_pages {}", piece_pages));
    ArenaFixture f(1 * kGiB, {.max_cached_fraction = 1.0 / 64, .max_piece_pages = piece_pages});
    constexpr int kThreads = 8;
    std::vector<std::vector<Placement>> kept(kThreads);
    std::atomic<int> refusals{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 100);
        std::vector<Placement> mine;
        for (int i = 0; i < 3000; ++i) {
          if (mine.size() < 12 && rng() % 3 != 0) {
            const Placement p =
                f.arena.allocate((std::uint64_t{256} << (rng() % 15)) + rng() % 999, 256, true);
            if (p) {
              mine.push_back(p);
            } else {
              ++refusals;
            }
          } else if (!mine.empty()) {
            const std::size_t k = rng() % mine.size();
            f.arena.deallocate(mine[k]);
            mine[k] = mine.back();
            mine.pop_back();
          }
          if (i % 500 == 0) f.arena.trim();
        }
        kept[static_cast<std::size_t>(t)] = std::move(mine);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(refusals.load(), 0);
    EXPECT_EQ(f.arena.validate(), "");
    std::vector<Placement> all;
    for (const auto& v : kept) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end(),
              [](const Placement& a, const Placement& b) { return a.offset < b.offset; });
    for (std::size_t i = 1; i < all.size(); ++i) {
      EXPECT_LE(all[i - 1].offset + all[i - 1].size, all[i].offset) << "placements overlap";
    }
    for (const Placement& p : all) f.arena.deallocate(p);
    f.arena.trim();
    EXPECT_EQ(f.arena.stats().live_count, 0u);
    EXPECT_EQ(f.source.reserved(), 0u);
    EXPECT_EQ(f.device.vm_counters().pages_held(), 0u);
  }
}

TEST(PageArenaAllocator, ForeignOrStalePlacementsAreLoggedAndChangeNothing) {
  ArenaFixture f;
  TestSource other_source(f.device, 1 * kGiB);
  PageArenaAllocator other(other_source);  // a second range of the same device
  const Placement mine = f.arena.allocate(3 * kMiB, 256, true);
  const Placement theirs = other.allocate(3 * kMiB, 256, true);
  const Placement gone = f.arena.allocate(1 * kMiB, 256, true);
  f.arena.deallocate(gone);
  const HeapAllocatorStats before = f.arena.stats();

  LogCapture log;
  f.arena.deallocate(theirs);
  f.arena.deallocate(gone);
  f.arena.deallocate(Placement{});
  Placement forged = mine;
  forged.token = theirs.token;  // this range, another arena's record
  f.arena.deallocate(forged);
  Placement shifted = mine;
  shifted.offset += 256;  // the right record at the wrong offset
  f.arena.deallocate(shifted);

  ASSERT_EQ(log.lines.size(), 5u) << log.all();
  for (const std::string& line : log.lines) {
    EXPECT_THAT(line, AllOf(HasSubstr("error"), HasSubstr("nothing freed")));
  }
  EXPECT_THAT(log.lines[0], HasSubstr("not this arena's range"));
  EXPECT_THAT(log.lines[1], HasSubstr("stale"));
  const HeapAllocatorStats after = f.arena.stats();
  EXPECT_EQ(after.live_count, before.live_count);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_EQ(f.arena.validate(), "");
  f.arena.deallocate(mine);
  other.deallocate(theirs);
  EXPECT_EQ(f.arena.stats().live_count, 0u);
}

TEST(PageArenaAllocator, GivesEverythingBackWhenDestroyed) {
  SimDevice device(SimDeviceConfig::parse("capacity=1GiB,page=2MiB,upload=0"));
  TestSource source(device, 1 * kGiB);
  LogCapture log;
  {
    PageArenaAllocator arena(source);
    (void)arena.allocate(5 * kMiB, 256, true);
    const Placement freed = arena.allocate(9 * kMiB, 256, true);
    arena.deallocate(freed);
  }
  EXPECT_THAT(log.all(), HasSubstr("destroyed with 1 allocation(s)"));
  EXPECT_EQ(source.reserved(), 0u);
  EXPECT_EQ(device.query_heap(0).usage, 0u);
  const SimVmCounters vm = device.vm_counters();
  EXPECT_EQ(vm.pages_held(), 0u);
  EXPECT_EQ(vm.unreserves, vm.reserves);
}

// Budget changes notify pressure subscribers synchronously; one that trims the arena from there
// must not deadlock it (the arena reserves pages without holding its lock).
TEST(PageArenaAllocator, PressureCallbacksMayCallBackIntoTheArena) {
  SimDevice device(SimDeviceConfig::parse("capacity=1GiB,page=2MiB,upload=0"));
  Config config;
  config.heap_budgets["device-local"] = {.soft = 48 * kMiB, .hard = 64 * kMiB};
  MetricsRecorder metrics(device.info().heaps);
  PressureSubscribers subscribers;
  HeapGovernor governor(device, 0, config, metrics, subscribers);
  PageArenaAllocator arena(governor);
  std::atomic<int> calls{0};
  subscribers.subscribe([&](const PressureEvent&) {
    ++calls;
    arena.trim();
    (void)arena.stats();
  });
  LogCapture log;
  std::vector<Placement> p;
  for (int i = 0; i < 30; ++i) {
    const Placement x = arena.allocate(2 * kMiB, 256, true);
    if (!x) break;
    p.push_back(x);
  }
  for (const Placement& x : p) arena.deallocate(x);
  arena.trim();
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(arena.validate(), "");
  EXPECT_EQ(arena.stats().reserved_bytes, 0u);
}

#if defined(__linux__)
// With real bytes behind the pages, each live allocation keeps its own pattern through churn
// that frees, steals and remaps pages: a page mapped under two allocations, or lost while one
// is live, would show up as a wrong byte (or a crash).
TEST(PageArenaAllocator, KeepsRealBytesApartOnTheHost) {
  // With pages one by one, and in pieces of several pages (as the stream allocator makes).
  for (const std::uint64_t piece_pages : {1U, 3U, 512U}) {
    SCOPED_TRACE(fmt::format("max_piece_pages {}", piece_pages));
    HostDeviceConfig config = HostDeviceConfig::discrete_like(64 * kMiB, 4 * kMiB);
    config.virtual_memory = true;
    HostDevice device(config);
    TestSource source(device, 64 * kMiB);
    PageArenaAllocator arena(source,
                             {.max_cached_fraction = 1.0 / 16, .max_piece_pages = piece_pages});
    std::mt19937_64 rng(5);
    struct Live {
      Placement placement;
      std::uint8_t pattern;
    };
    std::vector<Live> live;
    const auto check = [](const Live& l) {
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(l.placement.address());
      return bytes[0] == l.pattern && bytes[l.placement.size / 2] == l.pattern &&
             bytes[l.placement.size - 1] == l.pattern;
    };
    for (int step = 0; step < 1500; ++step) {
      if (live.size() < 24 && rng() % 2 == 0) {
        const Placement p =
            arena.allocate((std::uint64_t{256} << (rng() % 14)) + rng() % 777, 256, true);
        if (!p) continue;  // 64 MiB fills up now and then
        const auto pattern = static_cast<std::uint8_t>(step);
        std::memset(reinterpret_cast<void*>(p.address()), pattern, p.size);
        live.push_back({p, pattern});
      } else if (!live.empty()) {
        const std::size_t k = rng() % live.size();
        ASSERT_TRUE(check(live[k])) << "step " << step;
        arena.deallocate(live[k].placement);
        live[k] = live.back();
        live.pop_back();
      }
    }
    for (const Live& l : live) {
      EXPECT_TRUE(check(l));
      arena.deallocate(l.placement);
    }
    EXPECT_GT(arena.page_counters().stolen, 0u);
    EXPECT_EQ(arena.validate(), "");
    arena.trim();
    EXPECT_EQ(device.query_heap(0).usage, 0u);
  }
}
#endif

// Replays `trace` on a fresh arena over a plain budget; returns its page counters and its peak
// reserved over the peak live bytes.
std::pair<ArenaPageCounters, double> replay_churn(const ArenaOptions& options, const Trace& trace) {
  SimDevice device(SimDeviceConfig::parse("capacity=80GiB,page=2MiB"));
  TestSource source(device, 80 * kGiB);
  PageArenaAllocator arena(source, options);
  std::unordered_map<std::uint64_t, Placement> live;
  for (const TraceEvent& e : trace.events) {
    if (e.kind == TraceEvent::Kind::Allocate) {
      live.emplace(e.id, arena.allocate(e.bytes, 256, true));
    } else {
      arena.deallocate(live.at(e.id));
      live.erase(e.id);
    }
  }
  EXPECT_EQ(arena.validate(), "");
  const ArenaPageCounters counters = arena.page_counters();
  const double ratio = static_cast<double>(arena.stats().peak_reserved_bytes) /
                       static_cast<double>(summarize(trace).peak_live_bytes);
  for (const auto& [id, p] : live) arena.deallocate(p);
  return {counters, ratio};
}

const Trace& churn200k() {
  static const Trace trace = builtin_trace("churn200k");
  return trace;
}

TEST(PageArenaAllocator, IdleSlackTradesAFewPagesForFewerMoves) {
  const auto [tight, tight_ratio] = replay_churn({}, churn200k());  // no slack: the default
  const auto [slack, slack_ratio] = replay_churn({.idle_slack_fraction = 0.01}, churn200k());
  // Each move is an unmap and a map on the device: the slack must save a good share of them,
  // at a cost in footprint bounded by the slack (plus the partly used pages at the ends).
  EXPECT_LT(slack.stolen, tight.stolen * 9 / 10);
  EXPECT_LE(slack_ratio, tight_ratio + 0.02);
  EXPECT_THAT([] { return replay_churn({.idle_slack_fraction = -0.5}, churn200k()); },
              ThrowsMessage<InvalidArgument>(HasSubstr("idle_slack_fraction -0.5")));
}

TEST(PageArenaAllocator, ChurnMovesFewPagesOnceWarm) {
  // Page moves (an unmap and a map each, ~50 us per page on an H200) per 1,000 events of
  // churn200k. Placing requests where pages stand already (mapped first) saves about a third:
  // TLSF's good fit alone moved 20.3 per 1,000 (with the 1 % idle slack it had as default).
  const auto [counters, ratio] = replay_churn({}, churn200k());
  const double moves_per_1000 = static_cast<double>(counters.stolen) * 1000.0 /
                                static_cast<double>(churn200k().events.size());
  EXPECT_LT(moves_per_1000, 17.0);
  EXPECT_LE(ratio, 1.065);
}

TEST(PageArenaAllocator, ChurnFootprintStaysNearTheLiveBytes) {
  const Trace trace = make_churn_trace({.operations = 20'000, .target_live = 200});
  const TraceSummary summary = summarize(trace);
  SimDevice device(SimDeviceConfig::parse("capacity=80GiB,page=2MiB"));
  Config config;
  MetricsRecorder metrics(device.info().heaps);
  PressureSubscribers subscribers;
  HeapGovernor governor(device, 0, config, metrics, subscribers);
  PageArenaAllocator arena(governor);
  std::unordered_map<std::uint64_t, Placement> live;
  for (const TraceEvent& e : trace.events) {
    if (e.kind == TraceEvent::Kind::Allocate) {
      const Placement p = arena.allocate(e.bytes, 256, true);
      ASSERT_TRUE(p);
      live.emplace(e.id, p);
    } else {
      arena.deallocate(live.at(e.id));
      live.erase(e.id);
    }
  }
  EXPECT_EQ(arena.validate(), "");
  const double ratio = static_cast<double>(arena.stats().peak_reserved_bytes) /
                       static_cast<double>(summary.peak_live_bytes);
  EXPECT_LT(ratio, 1.085);
  EXPECT_GT(arena.page_counters().stolen, 0u);
  for (const auto& [id, p] : live) arena.deallocate(p);
  arena.trim();
  EXPECT_EQ(governor.budget().own_usage(), 0u);
}

}  // namespace
}  // namespace gpumem
