#include "gpumem/memory/block_pool_allocator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/memory/heap_governor.hpp"

namespace gpumem {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A heap's governor with the config, metrics and subscribers that must outlive it.
struct GovernedHeap {
  GovernedHeap(std::unique_ptr<Device> dev, Config cfg = {}, std::uint32_t heap = 0)
      : device(std::move(dev)),
        config(std::move(cfg)),
        metrics(device->info().heaps),
        governor(*device, heap, config, metrics, subscribers) {}

  std::unique_ptr<Device> device;
  Config config;
  MetricsRecorder metrics;
  PressureSubscribers subscribers;
  HeapGovernor governor;
};

// Simulated device-local heap: no bytes behind it, 64 KiB pages so block sizes stay exact.
std::unique_ptr<GovernedHeap> sim_heap(std::uint64_t hard = 0, std::uint64_t soft = 0) {
  Config config;
  if (hard != 0) config.heap_budgets["device-local"] = {.soft = soft, .hard = hard};
  return std::make_unique<GovernedHeap>(
      std::make_unique<SimDevice>(SimDeviceConfig::parse("capacity=4GiB,page=64KiB")), config);
}

// Host memory laid out like a discrete GPU: real bytes, device-local heap of 1 GiB.
std::unique_ptr<GovernedHeap> host_heap() {
  return std::make_unique<GovernedHeap>(
      std::make_unique<HostDevice>(HostDeviceConfig::discrete_like(1 * kGiB, 64 * kMiB)));
}

// Keeps error logs for inspection (and out of the test output).
class ErrorLog {
 public:
  ErrorLog() {
    set_log_sink([this](LogLevel level, std::string_view text) {
      std::lock_guard lock(mutex_);
      if (level == LogLevel::Error) errors_.emplace_back(text);
    });
  }
  ~ErrorLog() { set_log_sink(nullptr); }
  std::vector<std::string> errors() {
    std::lock_guard lock(mutex_);
    return errors_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> errors_;
};

std::vector<std::uint64_t> block_sizes(const BlockPoolAllocator& pool) {
  std::vector<std::uint64_t> sizes;
  for (const PoolBlockStatistics& b : pool.pool_statistics().blocks) sizes.push_back(b.block.size);
  return sizes;
}

TEST(BlockPoolAllocator, DefaultsFollowTheHeapSize) {
  HeapInfo big{.size = 80 * kGiB, .granularity = 2 * kMiB};
  const PoolOptions a = PoolOptions{}.resolved_for(big);
  EXPECT_EQ(a.preferred_block_size, 256 * kMiB);
  EXPECT_EQ(a.dedicated_threshold, 128 * kMiB);
  EXPECT_EQ(a.max_empty_blocks, 1u);
  EXPECT_EQ(a.max_empty_bytes, 256 * kMiB);

  HeapInfo small{.size = 512 * kMiB, .granularity = 256};
  EXPECT_EQ(PoolOptions{}.resolved_for(small).preferred_block_size, 64 * kMiB);
  HeapInfo odd{.size = 12 * kMiB, .granularity = 2 * kMiB};  // 1.5 MiB rounds up to a page
  EXPECT_EQ(PoolOptions{}.resolved_for(odd).preferred_block_size, 2 * kMiB);

  const PoolOptions given =
      PoolOptions{
          .preferred_block_size = 3 * kMiB, .dedicated_threshold = 100, .max_empty_bytes = 7}
          .resolved_for(odd);
  EXPECT_EQ(given.preferred_block_size, 4 * kMiB);
  EXPECT_EQ(given.dedicated_threshold, 100u);
  EXPECT_EQ(given.max_empty_bytes, 7u);
  EXPECT_THROW(PoolOptions{.block_alignment = 3}.resolved_for(odd), InvalidArgument);
}

TEST(BlockPoolAllocator, BlocksGrowFromAnEighthToThePreferredSize) {
  auto heap = sim_heap();
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 64 * kMiB});
  std::vector<Placement> live;
  while (pool.stats().blocks < 6) {
    live.push_back(pool.allocate(1 * kMiB, 256, true));
    ASSERT_TRUE(live.back());
  }
  EXPECT_THAT(block_sizes(pool),
              ElementsAre(8 * kMiB, 16 * kMiB, 32 * kMiB, 64 * kMiB, 64 * kMiB, 64 * kMiB));
  // Each block was filled before the next was taken.
  EXPECT_EQ(live.size(), 8u + 16u + 32u + 64u + 64u + 1u);
  EXPECT_EQ(pool.stats().reserved_bytes, heap->governor.budget().own_usage());
  for (const Placement& p : live) pool.deallocate(p);
}

TEST(BlockPoolAllocator, FirstBlockIsAtLeastTwiceTheRequest) {
  auto heap = sim_heap();
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 64 * kMiB});
  const Placement p = pool.allocate(6 * kMiB, 1, true);
  ASSERT_TRUE(p);
  EXPECT_EQ(p.block.size, 16 * kMiB);  // an eighth (8 MiB) would hold it with little room left
  pool.deallocate(p);
}

TEST(BlockPoolAllocator, LargeRequestsGetDedicatedBlocksFreedAtOnce) {
  auto heap = sim_heap();
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 64 * kMiB});
  EXPECT_EQ(pool.options().dedicated_threshold, 32 * kMiB);
  const Placement shared = pool.allocate(32 * kMiB, 256, true);  // at the threshold: shared
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared.block.size, 64 * kMiB);
  const std::uint64_t before = pool.stats().reserved_bytes;

  const Placement big = pool.allocate(32 * kMiB + 1, 256, true);
  ASSERT_TRUE(big);
  EXPECT_EQ(big.offset, 0u);
  EXPECT_EQ(big.block.size, 32 * kMiB + 64 * kKiB);  // one block of its own, in whole pages
  EXPECT_EQ(big.size, big.block.size);
  EXPECT_EQ(pool.stats().reserved_bytes, before + big.block.size);
  const PoolStatistics s = pool.pool_statistics();
  ASSERT_EQ(s.blocks.size(), 2u);
  EXPECT_FALSE(s.blocks[0].dedicated);
  EXPECT_TRUE(s.blocks[1].dedicated);

  pool.deallocate(big);
  EXPECT_EQ(pool.stats().reserved_bytes, before);
  EXPECT_EQ(heap->governor.budget().own_usage(), before);
  pool.deallocate(shared);
}

TEST(BlockPoolAllocator, KeepsOneEmptyBlockAndTrimReleasesIt) {
  auto heap = sim_heap();
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 8 * kMiB});
  std::vector<Placement> live;
  while (pool.stats().blocks < 3) live.push_back(pool.allocate(512 * kKiB, 1, true));
  ASSERT_THAT(block_sizes(pool), ElementsAre(1 * kMiB, 2 * kMiB, 4 * kMiB));

  for (const Placement& p : live) pool.deallocate(p);
  // The first block to empty is kept; the others go back as they empty.
  HeapAllocatorStats s = pool.stats();
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.reserved_bytes, 1 * kMiB);
  EXPECT_EQ(s.cached_bytes, 1 * kMiB);
  EXPECT_EQ(s.live_bytes, 0u);
  EXPECT_EQ(pool.pool_statistics().empty_blocks, 1u);

  // The kept block is used again without a device call.
  const Placement again = pool.allocate(512 * kKiB, 1, true);
  EXPECT_EQ(pool.stats().blocks, 1u);
  pool.deallocate(again);

  pool.trim();
  s = pool.stats();
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(s.peak_reserved_bytes, 7 * kMiB);
  EXPECT_EQ(heap->governor.budget().own_usage(), 0u);
}

TEST(BlockPoolAllocator, RetentionStopsAtItsByteLimit) {
  auto heap = sim_heap();
  BlockPoolAllocator pool(
      heap->governor,
      {.preferred_block_size = 8 * kMiB, .max_empty_blocks = 5, .max_empty_bytes = 3 * kMiB});
  std::vector<Placement> live;
  while (pool.stats().blocks < 3) live.push_back(pool.allocate(512 * kKiB, 1, true));
  ASSERT_THAT(block_sizes(pool), ElementsAre(1 * kMiB, 2 * kMiB, 4 * kMiB));
  for (const Placement& p : live) pool.deallocate(p);
  // 1 + 2 MiB fit the 3 MiB limit; the 4 MiB block does not.
  EXPECT_EQ(pool.stats().reserved_bytes, 3 * kMiB);
  EXPECT_EQ(pool.pool_statistics().empty_blocks, 2u);
}

TEST(BlockPoolAllocator, NoEmptyBlockIsKeptAboveTheSoftLimit) {
  // Soft limit 2 MiB: with 3 MiB reserved the heap is above it when the first block empties.
  auto heap = sim_heap(/*hard=*/64 * kMiB, /*soft=*/2 * kMiB);
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 8 * kMiB});
  const Placement a = pool.allocate(512 * kKiB, 1, true);  // 1 MiB block
  const Placement b = pool.allocate(1 * kMiB, 1, true);    // 2 MiB block
  ASSERT_NE(a.block.id, b.block.id);
  pool.deallocate(a);
  EXPECT_EQ(pool.stats().reserved_bytes, 2 * kMiB) << "kept above the soft limit";
  pool.deallocate(b);  // now 2 MiB reserved: within the soft limit, so kept
  EXPECT_EQ(pool.stats().reserved_bytes, 2 * kMiB);
  pool.trim();
}

TEST(BlockPoolAllocator, ZeroRetentionReleasesEveryEmptyBlock) {
  auto heap = sim_heap();
  BlockPoolAllocator pool(heap->governor,
                          {.preferred_block_size = 8 * kMiB, .max_empty_blocks = 0});
  const Placement a = pool.allocate(100, 1, true);
  pool.deallocate(a);
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
  EXPECT_EQ(heap->governor.budget().own_usage(), 0u);
}

TEST(BlockPoolAllocator, BudgetRefusalTriesSmallerBlocksAndNeverCrossesTheHardLimit) {
  auto heap = sim_heap(/*hard=*/20 * kMiB);
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 16 * kMiB});
  std::vector<Placement> live;
  for (;;) {
    const Placement p = pool.allocate(1 * kMiB, 1, true);
    ASSERT_LE(heap->governor.budget().own_usage(), 20 * kMiB);
    if (!p) {
      EXPECT_EQ(p.refusal, GrowthRefusal::Budget);
      break;
    }
    live.push_back(p);
  }
  // 2 + 4 + 8 MiB, then 16 and 8 are refused and 4 fits, then 2: every byte of the budget used.
  EXPECT_THAT(block_sizes(pool), ElementsAre(2 * kMiB, 4 * kMiB, 8 * kMiB, 4 * kMiB, 2 * kMiB));
  EXPECT_EQ(live.size(), 20u);
  EXPECT_EQ(pool.stats().reserved_bytes, 20 * kMiB);
  EXPECT_EQ(pool.stats().peak_reserved_bytes, 20 * kMiB);
  for (const Placement& p : live) pool.deallocate(p);
}

TEST(BlockPoolAllocator, BudgetRefusalGivesBackEmptyBlocksAndRetries) {
  auto heap = sim_heap(/*hard=*/20 * kMiB);
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 16 * kMiB});
  std::vector<Placement> live;
  while (pool.stats().reserved_bytes < 18 * kMiB) live.push_back(pool.allocate(1 * kMiB, 1, true));
  ASSERT_THAT(block_sizes(pool), ElementsAre(2 * kMiB, 4 * kMiB, 8 * kMiB, 4 * kMiB));
  const std::uint64_t emptied = pool.pool_statistics().blocks[1].block.id;  // 4 MiB
  std::erase_if(live, [&](const Placement& p) {
    if (p.block.id != emptied) return false;
    pool.deallocate(p);
    return true;
  });
  ASSERT_EQ(pool.pool_statistics().empty_blocks, 1u);

  // 5 MiB fits no block, and 18 + 5 MiB is over budget until the empty block goes back.
  const Placement p = pool.allocate(5 * kMiB, 1, true);
  ASSERT_TRUE(p);
  EXPECT_EQ(p.block.size, 5 * kMiB);
  EXPECT_EQ(pool.stats().reserved_bytes, 19 * kMiB);
  EXPECT_EQ(pool.pool_statistics().empty_blocks, 0u);
  pool.deallocate(p);
  for (const Placement& q : live) pool.deallocate(q);
}

TEST(BlockPoolAllocator, DeviceRefusalIsReportedAndSmallerBlocksAreTried) {
  auto heap = host_heap();
  auto& device = dynamic_cast<HostDevice&>(*heap->device);
  BlockPoolAllocator pool(heap->governor);
  ASSERT_EQ(pool.options().preferred_block_size, 128 * kMiB);  // 1 GiB heap / 8
  // Others take all but 1 MiB; the budget does not know yet (no driver refresh).
  device.set_external_usage(0, 1 * kGiB - 1 * kMiB);

  const Placement too_big = pool.allocate(2 * kMiB, 256, true);
  EXPECT_FALSE(too_big);
  EXPECT_EQ(too_big.refusal, GrowthRefusal::Device);
  EXPECT_EQ(heap->governor.budget().own_usage(), 0u) << "reservation rolled back";
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);

  const Placement fits = pool.allocate(512 * kKiB, 256, true);  // 16 MiB down to 1 MiB
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits.block.size, 1 * kMiB);
  pool.deallocate(fits);

  const Placement dedicated = pool.allocate(100 * kMiB, 256, true);
  EXPECT_EQ(dedicated.refusal, GrowthRefusal::Device);
}

TEST(BlockPoolAllocator, HonoursAlignment) {
  auto heap = sim_heap();
  // Blocks of odd page counts: their addresses are 64 KiB-aligned and not always more, so larger
  // alignments need the block's address taken into account, not only the offset.
  BlockPoolAllocator pool(heap->governor,
                          {.preferred_block_size = 49 * 64 * kKiB, .block_alignment = 64 * kKiB});
  std::mt19937_64 rng(5);
  std::vector<Placement> live;
  for (int i = 0; i < 500; ++i) {
    const std::uint64_t alignment = std::uint64_t{1} << (rng() % 22);  // up to 2 MiB
    const std::uint64_t size = 1 + rng() % (256 * kKiB);
    const Placement p = pool.allocate(size, alignment, true);
    ASSERT_TRUE(p);
    EXPECT_EQ(p.address() % alignment, 0u) << "alignment " << alignment;
    EXPECT_LE(p.offset + p.size, p.block.size);
    EXPECT_EQ(p.size, size);
    live.push_back(p);
    if (rng() % 3 == 0) {
      const std::size_t victim = rng() % live.size();
      pool.deallocate(live[victim]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
    }
  }
  for (const Placement& p : live) pool.deallocate(p);
  EXPECT_EQ(pool.stats().live_bytes, 0u);
}

// What the tests write into an allocation: a pattern no other allocation shares.
void fill(std::byte* at, std::uint64_t size, std::uint64_t seed) {
  for (std::uint64_t i = 0; i < size; ++i) {
    at[i] = static_cast<std::byte>((seed * 131 + i * 7) >> 3 ^ seed);
  }
}
bool intact(const std::byte* at, std::uint64_t size, std::uint64_t seed) {
  for (std::uint64_t i = 0; i < size; ++i) {
    if (at[i] != static_cast<std::byte>((seed * 131 + i * 7) >> 3 ^ seed)) return false;
  }
  return true;
}

std::uint64_t log_uniform(std::mt19937_64& rng, double low, double high) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return static_cast<std::uint64_t>(std::exp(std::log(low) + u * std::log(high / low)));
}

// Random allocations and frees against a reference of live address ranges on real host memory:
// no two live ranges overlap, every byte written stays as written, and the books balance.
TEST(BlockPoolAllocator, RandomOperationsMatchAReference) {
  auto heap = host_heap();
  Device& device = *heap->device;
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 2 * kMiB});
  struct Live {
    Placement placement;
    std::uint64_t seed;
  };
  std::map<std::uint64_t, Live> by_address;
  std::mt19937_64 rng(1);
  std::uint64_t live_bytes = 0;
  const auto free_one = [&] {
    auto it = by_address.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(rng() % by_address.size()));
    const Placement& p = it->second.placement;
    ASSERT_TRUE(intact(device.map(p.block) + p.offset, p.size, it->second.seed))
        << "content of the allocation at " << it->first << " changed";
    live_bytes -= p.size;
    pool.deallocate(p);
    by_address.erase(it);
  };
  for (std::uint64_t step = 0; step < 3000; ++step) {
    if (by_address.empty() || rng() % 100 < (by_address.size() < 200 ? 70 : 30)) {
      const std::uint64_t size = log_uniform(rng, 1, 1.5 * kMiB);  // some dedicated
      const std::uint64_t alignment = std::uint64_t{1} << (rng() % 9);
      const Placement p = pool.allocate(size, alignment, true);
      ASSERT_TRUE(p);
      ASSERT_EQ(p.address() % alignment, 0u);
      auto next = by_address.lower_bound(p.address());
      if (next != by_address.end()) {
        ASSERT_LE(p.address() + p.size, next->first);
      }
      if (next != by_address.begin()) {
        const auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second.placement.size, p.address());
      }
      fill(device.map(p.block) + p.offset, p.size, step);
      by_address.emplace(p.address(), Live{p, step});
      live_bytes += p.size;
    } else {
      free_one();
      if (HasFatalFailure()) return;
    }
    const HeapAllocatorStats s = pool.stats();
    ASSERT_EQ(s.live_bytes, live_bytes);
    ASSERT_EQ(s.live_count, by_address.size());
    ASSERT_EQ(s.reserved_bytes, heap->governor.budget().own_usage());
    // Shared blocks are allocated or free byte for byte; dedicated ones are all allocated.
    ASSERT_EQ(s.reserved_bytes, s.live_bytes + s.cached_bytes);
  }
  PoolStatistics stats = pool.pool_statistics();
  std::uint64_t reserved = 0;
  for (const PoolBlockStatistics& b : stats.blocks) {
    reserved += b.block.size;
    EXPECT_EQ(b.usage.size, b.block.size);
  }
  EXPECT_EQ(reserved, stats.totals.reserved_bytes);
  while (!by_address.empty()) {
    free_one();
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(pool.stats().live_bytes, 0u);
  EXPECT_LE(pool.stats().blocks, 1u);
}

TEST(BlockPoolAllocator, EightThreadsAllocateAndFreeAtOnce) {
  auto heap = host_heap();
  Device& device = *heap->device;
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 8 * kMiB});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 100);
      std::vector<std::pair<Placement, std::uint64_t>> mine;
      for (std::uint64_t step = 0; step < 3000; ++step) {
        if (mine.empty() || rng() % 2 == 0) {
          const std::uint64_t size = log_uniform(rng, 16, 2.0 * kMiB);
          const Placement p = pool.allocate(size, 64, true);
          if (!p) {
            ++failures;
            continue;
          }
          const std::uint64_t seed = step * 8 + static_cast<std::uint64_t>(t);
          fill(device.map(p.block) + p.offset, std::min<std::uint64_t>(p.size, 4096), seed);
          mine.emplace_back(p, seed);
        } else {
          const std::size_t victim = rng() % mine.size();
          const auto [p, seed] = mine[victim];
          if (!intact(device.map(p.block) + p.offset, std::min<std::uint64_t>(p.size, 4096),
                      seed)) {
            ++failures;
          }
          pool.deallocate(p);
          mine[victim] = mine.back();
          mine.pop_back();
        }
      }
      for (const auto& [p, seed] : mine) pool.deallocate(p);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const HeapAllocatorStats s = pool.stats();
  EXPECT_EQ(s.live_count, 0u);
  EXPECT_EQ(s.live_bytes, 0u);
  EXPECT_LE(s.blocks, 1u);
  EXPECT_EQ(s.reserved_bytes, heap->governor.budget().own_usage());
}

TEST(BlockPoolAllocator, DeallocatingWhatIsNotLiveHereChangesNothing) {
  ErrorLog log;
  auto heap = sim_heap();
  BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 8 * kMiB});
  BlockPoolAllocator other(heap->governor, {.preferred_block_size = 8 * kMiB});
  const Placement keep = pool.allocate(1000, 16, true);
  const Placement freed = pool.allocate(2000, 16, true);
  const Placement dedicated = pool.allocate(5 * kMiB, 16, true);
  const Placement foreign = other.allocate(1000, 16, true);
  pool.deallocate(freed);
  pool.deallocate(dedicated);
  const HeapAllocatorStats before = pool.stats();
  const std::uint64_t budget_before = heap->governor.budget().own_usage();

  Placement corrupt = keep;
  corrupt.token[2] ^= 0x0000'0100'0000'0000;  // another slot
  Placement stale_generation = keep;
  stale_generation.token[1] ^= 1;  // the handle no longer matches
  for (const Placement& bad : {freed, dedicated, foreign, Placement{}, corrupt, stale_generation}) {
    pool.deallocate(bad);
  }
  const HeapAllocatorStats after = pool.stats();
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  EXPECT_EQ(after.live_count, before.live_count);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_EQ(heap->governor.budget().own_usage(), budget_before);
  EXPECT_EQ(log.errors().size(), 6u);
  EXPECT_THAT(log.errors().front(), HasSubstr("not live here"));

  // Everything still works, and the live allocation is still live.
  pool.deallocate(keep);
  EXPECT_EQ(pool.stats().live_count, 0u);
  EXPECT_EQ(log.errors().size(), 6u);
  other.deallocate(foreign);
}

TEST(BlockPoolAllocator, DestructionGivesEveryBlockBack) {
  auto heap = sim_heap();
  {
    BlockPoolAllocator pool(heap->governor, {.preferred_block_size = 8 * kMiB});
    const Placement a = pool.allocate(1000, 16, true);
    const Placement b = pool.allocate(5 * kMiB, 16, true);
    pool.deallocate(a);
    pool.deallocate(b);
    EXPECT_GT(heap->governor.budget().own_usage(), 0u);  // the kept empty block
  }
  EXPECT_EQ(heap->governor.budget().own_usage(), 0u);
}

}  // namespace
}  // namespace gpumem
