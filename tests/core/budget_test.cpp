#include "gpumem/core/budget.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace gpumem {
namespace {

HeapInfo heap_of(HeapKind kind, std::uint64_t size, std::string name = "heap") {
  HeapInfo h;
  h.name = std::move(name);
  h.kind = kind;
  h.size = size;
  return h;
}

TEST(HeapLimits, DeviceHeapTakesTheSmallerOfFractionAndMargin) {
  const Config c = Config::defaults();
  // 16 GiB: 0.9 × 16 GiB = 14.4 GiB < 16 GiB − 512 MiB.
  EXPECT_EQ(compute_heap_limits(heap_of(HeapKind::DeviceLocal, 16 * kGiB), 16 * kGiB, c).hard,
            static_cast<std::uint64_t>(0.9 * static_cast<double>(16 * kGiB)));
  // 4 GiB: 4 GiB − 512 MiB = 3.5 GiB < 0.9 × 4 GiB = 3.6 GiB.
  EXPECT_EQ(compute_heap_limits(heap_of(HeapKind::DeviceLocal, 4 * kGiB), 4 * kGiB, c).hard,
            3584 * kMiB);
  // Smaller than the margin: nothing may be used.
  EXPECT_EQ(compute_heap_limits(heap_of(HeapKind::Shared, 256 * kMiB), 256 * kMiB, c).hard, 0u);
}

TEST(HeapLimits, HostVisibleHeapsGet512MiBByDefault) {
  const Config c = Config::defaults();
  for (HeapKind kind : {HeapKind::Upload, HeapKind::Readback, HeapKind::PinnedHost}) {
    EXPECT_EQ(compute_heap_limits(heap_of(kind, 94 * kGiB), 94 * kGiB, c).hard, 512 * kMiB);
    // Never more than the driver allows.
    EXPECT_EQ(compute_heap_limits(heap_of(kind, 256 * kMiB), 256 * kMiB, c).hard, 256 * kMiB);
  }
}

TEST(HeapLimits, SoftLimitIsAFractionAndFixedBudgetsWin) {
  Config c = Config::defaults();
  const BudgetLimits computed =
      compute_heap_limits(heap_of(HeapKind::Upload, 8 * kGiB), 8 * kGiB, c);
  EXPECT_EQ(computed.soft, static_cast<std::uint64_t>(0.85 * static_cast<double>(512 * kMiB)));

  c.heap_budgets["vram"] = {.soft = 1 * kGiB, .hard = 2 * kGiB};
  const BudgetLimits fixed =
      compute_heap_limits(heap_of(HeapKind::DeviceLocal, 8 * kGiB, "vram"), 8 * kGiB, c);
  EXPECT_EQ(fixed.hard, 2 * kGiB);
  EXPECT_EQ(fixed.soft, 1 * kGiB);
  // A fixed budget above what the driver allows is capped at the driver budget.
  const BudgetLimits capped =
      compute_heap_limits(heap_of(HeapKind::DeviceLocal, 8 * kGiB, "vram"), 1 * kGiB, c);
  EXPECT_EQ(capped.hard, 1 * kGiB);
}

TEST(BudgetCounter, RefusesWhatWouldCrossTheHardLimit) {
  BudgetCounter b({.soft = 0, .hard = 100});
  EXPECT_EQ(b.soft(), 100u);  // no soft limit: same as hard
  EXPECT_TRUE(b.try_reserve(60));
  EXPECT_FALSE(b.try_reserve(41));
  EXPECT_TRUE(b.try_reserve(40));
  EXPECT_EQ(b.used(), 100u);
  EXPECT_FALSE(b.try_reserve(1));
  b.release(50);
  EXPECT_FALSE(b.try_reserve(30, /*extra=*/30));  // 50 + 30 + 30 > 100
  EXPECT_TRUE(b.try_reserve(30, 20));
  EXPECT_FALSE(b.try_reserve(UINT64_MAX));  // no wrap-around
  EXPECT_FALSE(b.try_reserve(1, UINT64_MAX));
}

TEST(BudgetCounter, ConcurrentReservationsNeverCrossTheLimit) {
  constexpr std::uint64_t kLimit = 1'000'000;
  BudgetCounter b({.soft = 0, .hard = kLimit});
  std::atomic<std::uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        const std::uint64_t bytes = 1 + static_cast<std::uint64_t>((i * 7 + t) % 97);
        if (b.try_reserve(bytes)) {
          granted += bytes;
          if (i % 3 == 0) {
            b.release(bytes);
            granted -= bytes;
          }
        }
        EXPECT_LE(b.used(), kLimit);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.used(), granted.load());
  EXPECT_LE(b.used(), kLimit);
}

TEST(HeapBudget, DriverUsageBeyondOursCountsAsExternal) {
  const Config c = Config::defaults();
  HeapInfo h = heap_of(HeapKind::DeviceLocal, 10 * kGiB);
  HeapBudget b(h, c);
  EXPECT_EQ(b.hard(), 9 * kGiB);
  EXPECT_FALSE(b.driver_budget().has_value());
  ASSERT_TRUE(b.try_reserve(1 * kGiB));
  b.update_from_driver(10 * kGiB, 4 * kGiB, c);  // others use 3 GiB
  EXPECT_EQ(b.external(), 3 * kGiB);
  EXPECT_EQ(b.usage(), 4 * kGiB);
  EXPECT_EQ(b.driver_budget().value(), 10 * kGiB);
  EXPECT_TRUE(b.would_exceed(5 * kGiB + 1));
  EXPECT_FALSE(b.would_exceed(5 * kGiB));
  EXPECT_FALSE(b.try_reserve(5 * kGiB + 1));
  EXPECT_NEAR(b.usage_fraction(), 4.0 / 9.0, 1e-12);
  // The budget shrinks with the driver's.
  b.update_from_driver(4 * kGiB, 4 * kGiB, c);
  EXPECT_EQ(b.hard(), 3584 * kMiB);
  EXPECT_FALSE(b.within_budget());
}

TEST(HeapBudget, AFixedLimitCountsOnlyOurOwnBytes) {
  Config c = Config::defaults();
  c.heap_budgets["vram"] = {.soft = 200 * kMiB, .hard = 256 * kMiB};
  HeapBudget b(heap_of(HeapKind::DeviceLocal, 10 * kGiB, "vram"), c);
  ASSERT_TRUE(b.try_reserve(100 * kMiB));
  b.update_from_driver(10 * kGiB, 612 * kMiB, c);  // a CUDA context and others: 512 MiB
  EXPECT_EQ(b.external(), 512 * kMiB);             // still reported
  EXPECT_EQ(b.usage(), 100 * kMiB);                // but not held against the fixed limit
  EXPECT_TRUE(b.try_reserve(156 * kMiB));
  EXPECT_FALSE(b.try_reserve(1));
  EXPECT_DOUBLE_EQ(b.usage_fraction(), 1.0);
}

}  // namespace
}  // namespace gpumem
