#include "gpumem/alloc/virtual_block.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gpumem/alloc/size_class_pool.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

TEST(VirtualBlock, AllocatesWithUserDataAndStatistics) {
  VirtualBlock block(4096);
  const auto a = block.try_allocate(100, 16, 7);
  const auto b = block.try_allocate(200, 256, 8);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(block.user_data(*a), 7u);
  block.set_user_data(*b, 9);
  EXPECT_EQ(block.user_data(*b), 9u);
  EXPECT_EQ(block.allocation_size(*b), 200u);
  BlockStatistics s = block.statistics();
  EXPECT_EQ(s.allocation_count, 2u);
  EXPECT_EQ(s.allocated_bytes, 300u);
  EXPECT_EQ(s.free_bytes, 4096u - 300u);
  std::uint64_t visited = 0;
  block.for_each_allocation([&](const TlsfAllocationInfo& info) { visited += info.size; });
  EXPECT_EQ(visited, 300u);
  EXPECT_FALSE(block.try_allocate(4096));
  EXPECT_THROW(block.try_allocate(0), InvalidArgument);
  block.free(*a);
  EXPECT_THROW(block.free(*a), InvalidHandle);
  block.clear();
  EXPECT_TRUE(block.empty());
  EXPECT_THROW(block.free(*b), InvalidHandle);
  EXPECT_EQ(block.validate(), "");
  s = block.statistics();
  EXPECT_EQ(s.free_range_count, 1u);
  EXPECT_EQ(s.largest_free_range, 4096u);
}

// 8 threads allocate and free on one VirtualBlock and one SizeClassPool. Every byte of the block
// records which thread holds it, so overlapping ranges given to two threads are caught at once.
// Every pooled buffer counts its holders (decremented before a holder drops it), so a buffer
// handed out while some holder still has it is caught too. Copies of PooledBuffers cross threads
// through a mailbox, so the last reference drops on any thread.
TEST(ThreadStress, VirtualBlockAndSizeClassPool) {
  constexpr int kThreads = 8;
  constexpr int kOperations = 3000;
  constexpr std::uint64_t kBlockSize = 64 * 1024;
  VirtualBlock block(kBlockSize);
  std::vector<std::atomic<std::uint8_t>> owner(kBlockSize);

  struct Buffer {
    std::size_t id;
  };
  std::vector<std::atomic<int>> holders(1 << 16);
  std::atomic<std::size_t> made{0};
  std::atomic<std::size_t> released{0};
  auto pool = std::make_unique<SizeClassPool<Buffer>>(
      SizeClassPoolOptions{.max_pooled_per_bucket = 4}, [&](Buffer&&) { released.fetch_add(1); });
  std::mutex mailbox_mutex;
  std::vector<PooledBuffer<Buffer>> mailbox(16);
  std::atomic<int> failures{0};
  const auto drop = [&](PooledBuffer<Buffer>& p) {
    if (!p) return;
    holders[p->id].fetch_sub(1);
    p.reset();
  };

  const auto worker = [&](int thread) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(thread) + 1);
    const auto tag = static_cast<std::uint8_t>(thread + 1);
    std::vector<VirtualAllocation> live;
    const auto claim = [&](std::uint64_t offset, std::uint64_t size, std::uint8_t from,
                           std::uint8_t to) {
      for (std::uint64_t i = offset; i < offset + size; ++i) {
        std::uint8_t expected = from;
        if (!owner[i].compare_exchange_strong(expected, to)) failures.fetch_add(1);
      }
    };
    for (int op = 0; op < kOperations; ++op) {
      if (live.empty() || rng() % 2 == 0) {
        const std::uint64_t size = 1 + rng() % 256;
        const std::uint64_t alignment = std::uint64_t{1} << rng() % 6;
        if (auto a = block.try_allocate(size, alignment, static_cast<std::uint64_t>(thread))) {
          if (a->offset() % alignment != 0) failures.fetch_add(1);
          claim(a->offset(), size, 0, tag);
          live.push_back(*a);
        }
      } else {
        const std::size_t pick = rng() % live.size();
        const VirtualAllocation a = live[pick];
        live[pick] = live.back();
        live.pop_back();
        if (block.user_data(a) != static_cast<std::uint64_t>(thread)) failures.fetch_add(1);
        claim(a.offset(), block.allocation_size(a), tag, 0);
        block.free(a);
      }

      PooledBuffer<Buffer> buffer =
          pool->acquire(1 + rng() % 4096, [&](std::uint64_t) { return Buffer{made.fetch_add(1)}; });
      if (holders[buffer->id].fetch_add(1) != 0) failures.fetch_add(1);
      if (rng() % 4 == 0) {
        PooledBuffer<Buffer> copy = buffer;
        holders[copy->id].fetch_add(1);
        {
          std::lock_guard lock(mailbox_mutex);
          std::swap(copy, mailbox[rng() % mailbox.size()]);
        }
        drop(copy);  // what another thread left there, or nothing
      }
      drop(buffer);
    }
    for (const VirtualAllocation& a : live) {
      claim(a.offset(), block.allocation_size(a), tag, 0);
      block.free(a);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(block.validate(), "");
  const BlockStatistics s = block.statistics();
  EXPECT_EQ(s.allocation_count, 0u);
  EXPECT_EQ(s.free_range_count, 1u);

  for (PooledBuffer<Buffer>& slot : mailbox) drop(slot);
  const SizeClassPoolStatistics ps = pool->statistics();
  EXPECT_EQ(ps.hits + ps.misses, static_cast<std::uint64_t>(kThreads * kOperations));
  EXPECT_EQ(ps.misses, made.load());
  EXPECT_GT(ps.hits, 0u);
  // Every buffer made is either cached or was released: none lost, none released twice.
  EXPECT_EQ(ps.pooled_count + released.load(), made.load());
  pool.reset();
  EXPECT_EQ(released.load(), made.load());
}

}  // namespace
}  // namespace gpumem
