// BlockPoolAllocator::defragment on real host memory: the bytes of every allocation must survive
// every pass at the placement on_move reports, and the pool must shrink.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/memory/block_pool_allocator.hpp"
#include "gpumem/memory/heap_governor.hpp"

namespace gpumem {
namespace {

struct HostPool {
  explicit HostPool(const PoolOptions& options)
      : device(HostDeviceConfig::discrete_like(1 * kGiB, 64 * kMiB)),
        metrics(device.info().heaps),
        governor(device, 0, config, metrics, subscribers),
        pool(governor, options) {}

  HostDevice device;
  Config config;
  MetricsRecorder metrics;
  PressureSubscribers subscribers;
  HeapGovernor governor;
  BlockPoolAllocator pool;
};

// What an owner (the Manager, later) holds per allocation: a handle whose identity stays while
// its placement changes.
struct Handle {
  Placement placement;
  Placement original;
  bool movable = true;
  std::uint8_t seed = 0;
};

std::byte pattern(std::uint8_t seed, std::uint64_t i) {
  return static_cast<std::byte>(seed ^ (i * 29 + (i >> 8)));
}

void fill(HostDevice& device, const Handle& h) {
  std::byte* at = device.map(h.placement.block) + h.placement.offset;
  for (std::uint64_t i = 0; i < h.placement.size; ++i) at[i] = pattern(h.seed, i);
}

bool intact(HostDevice& device, const Handle& h) {
  const std::byte* at = device.map(h.placement.block) + h.placement.offset;
  for (std::uint64_t i = 0; i < h.placement.size; ++i) {
    if (at[i] != pattern(h.seed, i)) return false;
  }
  return true;
}

// Owner handles by where they are now, as on_move finds them.
class Owner {
 public:
  Handle& add(const Handle& h) {
    handles_.push_back(std::make_unique<Handle>(h));
    index_[key(h.placement)] = handles_.back().get();
    return *handles_.back();
  }
  void remove_if(const std::function<bool(const Handle&)>& pred, BlockPoolAllocator& pool) {
    std::erase_if(handles_, [&](const std::unique_ptr<Handle>& h) {
      if (!pred(*h)) return false;
      index_.erase(key(h->placement));
      pool.deallocate(h->placement);
      return true;
    });
  }
  // Follows one move; fails the test when the move names nothing the owner holds.
  void on_move(const Placement& from, const Placement& to) {
    const auto it = index_.find(key(from));
    ASSERT_NE(it, index_.end()) << "moved a placement nobody holds";
    Handle& h = *it->second;
    ASSERT_EQ(h.placement.token, from.token) << "on_move's old placement is not the owner's";
    ASSERT_TRUE(h.movable) << "an immovable allocation was moved";
    ASSERT_EQ(to.size, from.size);
    index_.erase(it);
    h.placement = to;
    ASSERT_TRUE(index_.emplace(key(to), &h).second) << "moved onto another live allocation";
  }
  const std::vector<std::unique_ptr<Handle>>& handles() const { return handles_; }

 private:
  static std::pair<std::uint64_t, std::uint64_t> key(const Placement& p) {
    return {p.block.id, p.offset};
  }
  std::vector<std::unique_ptr<Handle>> handles_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Handle*> index_;
};

// Every live allocation intact, no two overlapping, immovable ones where they started.
void expect_consistent(HostDevice& device, const Owner& owner) {
  std::map<std::uint64_t, const Handle*> by_address;
  for (const auto& h : owner.handles()) {
    ASSERT_TRUE(intact(device, *h))
        << "bytes of the allocation of seed " << int{h->seed} << " changed at block "
        << h->placement.block.id << " offset " << h->placement.offset;
    if (!h->movable) {
      ASSERT_EQ(h->placement.block.id, h->original.block.id);
      ASSERT_EQ(h->placement.offset, h->original.offset);
    }
    by_address.emplace(h->placement.address(), h.get());
  }
  std::uint64_t end = 0;
  for (const auto& [address, h] : by_address) {
    ASSERT_LE(end, address) << "two live allocations overlap";
    end = address + h->placement.size;
  }
}

// Fills a pool with allocations of varied sizes (one in forty immovable, so some blocks are pinned
// and most are not), then frees every other one: many blocks, each about half full, with holes
// throughout.
void fragment(HostPool& h, Owner& owner, std::uint64_t count) {
  std::mt19937_64 rng(17);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t size = 4 * kKiB + rng() % (60 * kKiB);
    const bool movable = i % 40 != 3;
    Handle handle{.movable = movable, .seed = static_cast<std::uint8_t>(i * 37 + 1)};
    handle.placement = h.pool.allocate(size, std::uint64_t{16} << (i % 4), movable);
    ASSERT_TRUE(handle.placement);
    handle.original = handle.placement;
    fill(h.device, owner.add(handle));
  }
  std::uint64_t i = 0;
  owner.remove_if([&](const Handle&) { return i++ % 2 == 0; }, h.pool);
}

TEST(PoolDefragmentation, BoundedPassesKeepEveryByteAndReleaseBlocks) {
  HostPool h({.preferred_block_size = 1 * kMiB, .max_empty_blocks = 0});
  Owner owner;
  fragment(h, owner, 600);
  if (HasFatalFailure()) return;
  const HeapAllocatorStats start = h.pool.stats();
  const PoolStatistics start_stats = h.pool.pool_statistics();
  ASSERT_GT(start.blocks, 10u);
  ASSERT_GT(start_stats.fragmentation, 0.3);

  const DefragLimits limits{.max_bytes = 512 * kKiB, .max_moves = 12};
  std::uint64_t released = 0;
  std::uint64_t moves = 0;
  std::uint64_t reserved = start.reserved_bytes;
  int passes = 0;
  for (;; ++passes) {
    ASSERT_LT(passes, 500) << "defragmentation did not converge";
    std::uint64_t calls = 0;
    std::uint64_t bytes = 0;
    const DefragResult r =
        h.pool.defragment(limits, [&](const Placement& from, const Placement& to) {
          ++calls;
          bytes += to.size;
          owner.on_move(from, to);
          // The bytes are at the new place when the owner hears of it.
          for (const auto& handle : owner.handles()) {
            if (handle->placement.token == to.token) {
              ASSERT_TRUE(intact(h.device, *handle));
            }
          }
        });
    if (HasFatalFailure()) return;
    EXPECT_EQ(r.moves, calls);
    EXPECT_EQ(r.bytes_moved, bytes);
    EXPECT_LE(r.moves, limits.max_moves);
    EXPECT_LE(r.bytes_moved, limits.max_bytes);
    // Fragmentation may rise for a pass (a block being emptied has holes until it is gone);
    // the pass reports the pool's figure, and over all passes it falls.
    EXPECT_DOUBLE_EQ(r.fragmentation_after, h.pool.pool_statistics().fragmentation);
    expect_consistent(h.device, owner);
    if (HasFatalFailure()) return;
    const HeapAllocatorStats s = h.pool.stats();
    EXPECT_EQ(s.live_count, owner.handles().size());
    EXPECT_EQ(s.live_bytes, start.live_bytes);
    EXPECT_EQ(s.reserved_bytes, h.governor.budget().own_usage());
    EXPECT_LE(s.reserved_bytes, reserved) << "a pass took memory";
    reserved = s.reserved_bytes;
    released += r.blocks_released;
    moves += r.moves;
    if (r.moves == 0) break;
  }
  const HeapAllocatorStats end = h.pool.stats();
  const PoolStatistics end_stats = h.pool.pool_statistics();
  EXPECT_GT(passes, 3) << "the limits should have spread the work over several passes";
  EXPECT_GT(released, 0u);
  EXPECT_EQ(end.blocks, start.blocks - released);
  EXPECT_LT(end.reserved_bytes, start.reserved_bytes);
  EXPECT_LT(end_stats.fragmentation, start_stats.fragmentation / 2);
  // Half of the bytes were freed: what is left fits in clearly fewer blocks.
  EXPECT_LE(end.blocks * 4, start.blocks * 3);
  EXPECT_GT(moves, 0u);
  RecordProperty("passes", passes);
  RecordProperty("blocks_before", static_cast<int>(start.blocks));
  RecordProperty("blocks_after", static_cast<int>(end.blocks));

  // The owner's updated placements are the live ones: they deallocate cleanly.
  owner.remove_if([](const Handle&) { return true; }, h.pool);
  EXPECT_EQ(h.pool.stats().live_count, 0u);
  EXPECT_EQ(h.pool.stats().reserved_bytes, 0u);
}

TEST(PoolDefragmentation, UnboundedPassMovesOnlyMovableAllocations) {
  HostPool h({.preferred_block_size = 1 * kMiB, .max_empty_blocks = 0});
  Owner owner;
  fragment(h, owner, 300);
  if (HasFatalFailure()) return;
  const std::uint64_t blocks_before = h.pool.stats().blocks;
  const DefragResult r = h.pool.defragment(
      {}, [&](const Placement& from, const Placement& to) { owner.on_move(from, to); });
  if (HasFatalFailure()) return;
  expect_consistent(h.device, owner);
  EXPECT_GT(r.moves, 0u);
  EXPECT_GT(r.blocks_released, 0u);
  EXPECT_EQ(h.pool.stats().blocks, blocks_before - r.blocks_released);
  EXPECT_LT(r.fragmentation_after, r.fragmentation_before);
  owner.remove_if([](const Handle&) { return true; }, h.pool);
}

TEST(PoolDefragmentation, NothingToDoOnACompactPool) {
  HostPool h({.preferred_block_size = 1 * kMiB});
  Owner owner;
  for (int i = 0; i < 8; ++i) {
    Handle handle{.seed = static_cast<std::uint8_t>(i)};
    handle.placement = h.pool.allocate(64 * kKiB, 256, true);
    handle.original = handle.placement;
    fill(h.device, owner.add(handle));
  }
  int calls = 0;
  const DefragResult r =
      h.pool.defragment({}, [&](const Placement&, const Placement&) { ++calls; });
  EXPECT_EQ(r.moves, 0u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(r.fragmentation_before, 0.0);
  expect_consistent(h.device, owner);
  owner.remove_if([](const Handle&) { return true; }, h.pool);
}

// Other threads keep allocating and freeing immovable memory while passes run: the pool's lock
// keeps its books straight and nobody's bytes are touched.
TEST(PoolDefragmentation, OthersMayAllocateDuringAPass) {
  HostPool h({.preferred_block_size = 1 * kMiB, .max_empty_blocks = 0});
  Owner owner;
  fragment(h, owner, 400);
  if (HasFatalFailure()) return;
  std::atomic<bool> done{false};
  std::atomic<int> corrupted{0};
  std::thread other([&] {
    std::mt19937_64 rng(9);
    std::vector<Handle> mine;
    while (!done.load()) {
      if (mine.size() < 40 && (mine.empty() || rng() % 2 == 0)) {
        Handle handle{.movable = false, .seed = static_cast<std::uint8_t>(rng())};
        handle.placement = h.pool.allocate(1 * kKiB + rng() % (32 * kKiB), 64, false);
        if (!handle.placement) continue;
        fill(h.device, handle);
        mine.push_back(handle);
      } else {
        const std::size_t victim = rng() % mine.size();
        if (!intact(h.device, mine[victim])) ++corrupted;
        h.pool.deallocate(mine[victim].placement);
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(victim));
      }
    }
    for (const Handle& handle : mine) {
      if (!intact(h.device, handle)) ++corrupted;
      h.pool.deallocate(handle.placement);
    }
  });
  for (int pass = 0; pass < 200; ++pass) {
    const DefragResult r = h.pool.defragment(
        {.max_moves = 4},
        [&](const Placement& from, const Placement& to) { owner.on_move(from, to); });
    if (HasFatalFailure() || r.moves == 0) break;
  }
  done = true;
  other.join();
  EXPECT_EQ(corrupted.load(), 0);
  expect_consistent(h.device, owner);
  owner.remove_if([](const Handle&) { return true; }, h.pool);
  EXPECT_EQ(h.pool.stats().live_count, 0u);
}

}  // namespace
}  // namespace gpumem
