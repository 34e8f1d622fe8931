#include "gpumem/alloc/size_class_pool.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// A stand-in for a GPU buffer: an id and the capacity it was made with.
struct FakeBuffer {
  int id = 0;
  std::uint64_t capacity = 0;
};

// Makes FakeBuffers with fresh ids and records the ids the pool releases.
struct Factory {
  int next_id = 1;
  std::vector<int> released;
  FakeBuffer make(std::uint64_t capacity) { return {next_id++, capacity}; }
  SizeClassPool<FakeBuffer>::Release releaser() {
    return [this](FakeBuffer&& b) { released.push_back(b.id); };
  }
};

TEST(SizeClassPool, ClassesArePowersOfTwo) {
  EXPECT_EQ(size_class_of(1), 1u);
  EXPECT_EQ(size_class_of(3), 4u);
  EXPECT_EQ(size_class_of(4096), 4096u);
  EXPECT_EQ(size_class_of(4097), 8192u);
  EXPECT_EQ(size_class_of(std::uint64_t{1} << 63), std::uint64_t{1} << 63);
  EXPECT_THROW(size_class_of(0), InvalidArgument);
  EXPECT_THROW(size_class_of((std::uint64_t{1} << 63) + 1), InvalidArgument);
  SizeClassPool<int> pool;
  EXPECT_THROW(pool.try_get(0), InvalidArgument);
  EXPECT_THROW((void)pool.return_buffer(0, 1), InvalidArgument);
}

TEST(SizeClassPool, MissReturnHit) {
  Factory f;
  SizeClassPool<FakeBuffer> pool({}, f.releaser());
  EXPECT_FALSE(pool.try_get(100));
  EXPECT_FALSE(pool.return_buffer(128, f.make(128)));  // taken
  const std::optional<FakeBuffer> hit = pool.try_get(100);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->id, 1);
  EXPECT_FALSE(pool.try_get(100));  // the class is empty again
  EXPECT_FALSE(pool.try_get(65));   // same class: still empty
  const SizeClassPoolStatistics s = pool.statistics();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_DOUBLE_EQ(s.hit_rate, 0.25);
  EXPECT_EQ(s.pooled_count, 0u);
  EXPECT_TRUE(f.released.empty());
}

TEST(SizeClassPool, FullClassHandsTheBufferBack) {
  Factory f;
  SizeClassPool<FakeBuffer> pool({.max_pooled_per_bucket = 2}, f.releaser());
  EXPECT_FALSE(pool.return_buffer(64, f.make(64)));
  EXPECT_FALSE(pool.return_buffer(64, f.make(64)));
  const std::optional<FakeBuffer> back = pool.return_buffer(64, f.make(64));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, 3);
  EXPECT_FALSE(pool.return_buffer(128, f.make(128)));  // another class has room
  SizeClassPoolStatistics s = pool.statistics();
  EXPECT_EQ(s.pooled_returns, 3u);
  EXPECT_EQ(s.rejected_returns, 1u);
  EXPECT_EQ(s.pooled_count, 3u);
  EXPECT_EQ(s.pooled_bytes, 256u);
  EXPECT_TRUE(f.released.empty());  // handed back, not released: the caller frees it

  pool.trim();
  s = pool.statistics();
  EXPECT_EQ(s.pooled_count, 0u);
  EXPECT_EQ(s.pooled_bytes, 0u);
  EXPECT_EQ(f.released.size(), 3u);

  SizeClassPool<FakeBuffer> none({.max_pooled_per_bucket = 0});
  EXPECT_TRUE(none.return_buffer(64, f.make(64)));
}

TEST(SizeClassPool, OddCapacityServesOnlyTheClassBelow) {
  SizeClassPool<FakeBuffer> pool;
  EXPECT_FALSE(pool.return_buffer(3000, FakeBuffer{7, 3000}));
  EXPECT_FALSE(pool.try_get(3000));  // class 4096: a 3000-byte buffer is too short
  const auto hit = pool.try_get(2048);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->id, 7);
}

TEST(SizeClassPool, LastReferenceReturnsTheBuffer) {
  Factory f;
  SizeClassPool<FakeBuffer> pool({}, f.releaser());
  int made = 0;
  const auto make = [&](std::uint64_t capacity) {
    ++made;
    return f.make(capacity);
  };
  PooledBuffer<FakeBuffer> a = pool.acquire(100, make);
  ASSERT_TRUE(a);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(a.capacity(), 128u);
  EXPECT_EQ(a->capacity, 128u);
  {
    PooledBuffer<FakeBuffer> b = a;
    PooledBuffer<FakeBuffer> c = b;
    EXPECT_EQ(a.use_count(), 3u);
    c = PooledBuffer<FakeBuffer>();
    EXPECT_EQ(a.use_count(), 2u);
  }
  EXPECT_EQ(pool.statistics().pooled_count, 0u);  // a still holds it
  PooledBuffer<FakeBuffer> moved = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(moved.use_count(), 1u);
  moved.reset();
  EXPECT_EQ(pool.statistics().pooled_count, 1u);

  PooledBuffer<FakeBuffer> again = pool.acquire(128, make);
  EXPECT_EQ(made, 1);  // a hit: the same buffer
  EXPECT_EQ(again->id, 1);
  EXPECT_TRUE(f.released.empty());
}

TEST(SizeClassPool, ReleasesWhatItCannotKeep) {
  Factory f;
  std::optional<PooledBuffer<FakeBuffer>> outliving;
  {
    SizeClassPool<FakeBuffer> pool({.max_pooled_per_bucket = 1}, f.releaser());
    const auto make = [&](std::uint64_t capacity) { return f.make(capacity); };
    PooledBuffer<FakeBuffer> x = pool.acquire(64, make);
    PooledBuffer<FakeBuffer> y = pool.acquire(64, make);
    outliving = pool.acquire(64, make);
    x.reset();  // pooled
    y.reset();  // class full: released
    EXPECT_EQ(f.released, std::vector<int>{2});
  }  // the pool ends: its cached buffer is released
  EXPECT_EQ(f.released, (std::vector<int>{2, 1}));
  outliving.reset();  // after the pool: released, not cached
  EXPECT_EQ(f.released, (std::vector<int>{2, 1, 3}));
}

TEST(SizeClassPool, HoldsMoveOnlyBuffers) {
  SizeClassPool<std::unique_ptr<int>> pool;
  EXPECT_FALSE(pool.return_buffer(8, std::make_unique<int>(5)));
  std::optional<std::unique_ptr<int>> hit = pool.try_get(8);
  ASSERT_TRUE(hit && *hit);
  EXPECT_EQ(**hit, 5);
  PooledBuffer<std::unique_ptr<int>> shared =
      pool.acquire(8, [](std::uint64_t) { return std::make_unique<int>(9); });
  EXPECT_EQ(**shared, 9);
}

}  // namespace
}  // namespace gpumem
