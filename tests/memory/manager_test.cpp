#include "gpumem/memory/manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "support/log_capture.hpp"

namespace gpumem {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Counts driver queries so tests can prove what does and does not reach the driver.
class CountingDevice final : public Device {
 public:
  explicit CountingDevice(std::shared_ptr<HostDevice> inner) : inner_(std::move(inner)) {}
  const DeviceInfo& info() const noexcept override { return inner_->info(); }
  HeapReport query_heap(std::uint32_t heap) override {
    ++queries;
    return inner_->query_heap(heap);
  }
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override {
    return inner_->try_allocate_block(heap, size, alignment);
  }
  void free_block(const RawBlock& block) override { inner_->free_block(block); }
  std::byte* map(const RawBlock& block) override { return inner_->map(block); }
  FenceValue copy(const RawBlock& s, std::uint64_t so, const RawBlock& d, std::uint64_t dof,
                  std::uint64_t n) override {
    return inner_->copy(s, so, d, dof, n);
  }
  bool is_complete(FenceValue f) override { return inner_->is_complete(f); }
  void wait(FenceValue f) override { inner_->wait(f); }

  std::atomic<int> queries{0};

 private:
  std::shared_ptr<HostDevice> inner_;
};

// A host device like a discrete GPU: 1 GiB device-local (budget 512 MiB with defaults),
// 64 MiB upload and readback heaps.
std::shared_ptr<HostDevice> small_device() {
  return std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(1 * kGiB, 64 * kMiB));
}

// Accounting tests use the direct allocator (one device block per allocation), so a heap's usage
// is the requests rounded to its granularity; the allocators' own policies are tested on their own
// and through AutoAllocator* below.
Config exact(Config c = {}) {
  c.allocators = {.device = AllocatorKind::Direct, .host_visible = AllocatorKind::Direct};
  return c;
}

using test_support::LogCapture;

TEST(Manager, AllocatesTracksAndFrees) {
  auto device = small_device();
  Manager m(device, exact());
  {
    Allocation a = m.allocate({.size = 1000, .category = Category::Texture, .tag = Tag("t")});
    ASSERT_TRUE(a);
    EXPECT_EQ(a.size(), 1000u);
    EXPECT_EQ(a.heap(), 0u);
    EXPECT_NE(a.address(), 0u);
    a.map()[999] = std::byte{1};  // real memory on the host backend
    Allocation u =
        m.allocate({.size = 4096, .kind = HeapKind::Upload, .category = Category::Staging});
    EXPECT_EQ(u.heap(), 1u);
    const MetricsSnapshot s = m.metrics();
    EXPECT_EQ(s.total.live_count, 2u);
    EXPECT_EQ(s.category(Category::Texture).live_bytes, 1000u);
    EXPECT_EQ(s.heaps[0].reserved_bytes, 1024u);
    EXPECT_EQ(s.heaps[1].usage.live_bytes, 4096u);
    EXPECT_EQ(s.host_visible_bytes, 1000u + 4096u);  // host heaps are all CPU-visible
    EXPECT_EQ(m.live_allocations().size(), 2u);
    EXPECT_EQ(m.budget(0).own, 1024u);
  }
  const MetricsSnapshot s = m.metrics();
  EXPECT_EQ(s.total.live_count, 0u);
  EXPECT_EQ(s.total.freed_bytes, 5096u);
  EXPECT_EQ(s.total.peak_bytes, 5096u);
  EXPECT_EQ(m.budget(0).own, 0u);
  EXPECT_EQ(device->query_heap(0).usage, 0u);
}

TEST(Manager, DefaultBudgetsFollowTheConfig) {
  Manager m(small_device(), exact());
  // device-local 1 GiB: min(0.9 GiB, 1 GiB − 512 MiB) = 512 MiB; host-visible: 64 MiB heap.
  EXPECT_EQ(m.budget(0).hard, 512 * kMiB);
  EXPECT_EQ(m.budget(1).hard, 64 * kMiB);
  Config c;
  c.host_visible_budget = 16 * kMiB;
  Manager n(small_device(), exact(c));
  EXPECT_EQ(n.budget(1).hard, 16 * kMiB);
  EXPECT_EQ(n.budget(2).hard, 16 * kMiB);
}

TEST(Manager, HardLimitRefusesWithTheFacts) {
  LogCapture log;
  Manager m(small_device(), exact());
  Allocation a = m.allocate({.size = 400 * kMiB});
  EXPECT_TRUE(m.would_exceed(200 * kMiB));
  EXPECT_FALSE(m.would_exceed(100 * kMiB));
  try {
    m.allocate({.size = 200 * kMiB, .tag = Tag("big")});
    FAIL() << "expected BudgetExceeded";
  } catch (const BudgetExceeded& e) {
    EXPECT_EQ(e.facts().heap, "device-local");
    EXPECT_EQ(e.facts().requested, 200 * kMiB);
    EXPECT_EQ(e.facts().budget, 512 * kMiB);
    EXPECT_EQ(e.facts().usage, 400 * kMiB);
    EXPECT_EQ(e.facts().pressure, PressureLevel::Medium);  // 400 / 512 = 78 %
    EXPECT_THAT(e.what(), AllOf(HasSubstr("heap 'device-local'"), HasSubstr("200.0 MiB"),
                                HasSubstr("400.0 MiB of 512.0 MiB")));
  }
  EXPECT_THROW(m.check_budget(200 * kMiB), BudgetExceeded);
  EXPECT_NO_THROW(m.check_budget(100 * kMiB));
  EXPECT_FALSE(m.try_allocate({.size = 200 * kMiB}));
  EXPECT_EQ(m.metrics().events.budget_refusals, 2u);
  EXPECT_EQ(m.metrics().total.live_count, 1u);  // nothing half-allocated
  EXPECT_TRUE(m.within_budget());
}

TEST(Manager, DedicatedBlocksAreBudgetedTrackedAndGivenBack) {
  LogCapture log;
  auto device = small_device();
  Manager m(device);  // pooled: a dedicated block must bypass the pool
  int made = 0;
  const Manager::BlockMaker make = [&](std::uint32_t heap, std::uint64_t size) {
    ++made;
    return device->try_allocate_block(heap, size, 1);
  };
  {
    Allocation a = m.allocate_dedicated({.size = 300 * kMiB + 1, .tag = Tag("image")}, make);
    EXPECT_EQ(a.offset(), 0U);
    EXPECT_GE(a.block().size, 300 * kMiB + 1);
    EXPECT_EQ(m.budget(0).own, a.block().size);
    EXPECT_EQ(m.metrics().total.live_bytes, 300 * kMiB + 1);
    ASSERT_EQ(m.leak_report().leaks.size(), 1U);
    EXPECT_TRUE(m.leak_report().leaks[0].dedicated);
    // The hard limit (512 MiB) holds before the maker is asked.
    EXPECT_THROW(m.allocate_dedicated({.size = 300 * kMiB}, make), BudgetExceeded);
    EXPECT_EQ(made, 1);
  }
  EXPECT_EQ(m.budget(0).own, 0U);  // given back to the device, not cached in a pool
  EXPECT_EQ(m.metrics().total.live_count, 0U);
  EXPECT_THROW(
      m.allocate_dedicated({.size = kMiB}, [](std::uint32_t, std::uint64_t) { return RawBlock{}; }),
      OutOfMemory);
  EXPECT_THROW(m.allocate_dedicated({.size = kMiB}, {}), InvalidArgument);
  EXPECT_EQ(m.budget(0).own, 0U);
}

TEST(Manager, HardLimitHoldsUnderEightThreads) {
  LogCapture log;
  auto device = small_device();
  Manager m(device, exact());
  std::atomic<std::uint64_t> max_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Allocation> mine;
      for (int i = 0; i < 400; ++i) {
        const std::uint64_t size = (1 + static_cast<std::uint64_t>((i * 13 + t) % 16)) * kMiB;
        if (Allocation a = m.try_allocate({.size = size})) mine.push_back(std::move(a));
        if (i % 3 == 0 && !mine.empty()) mine.erase(mine.begin());
        const std::uint64_t used = m.budget(0).own;
        std::uint64_t prev = max_seen.load();
        while (used > prev && !max_seen.compare_exchange_weak(prev, used)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_seen.load(), 512 * kMiB);
  EXPECT_GT(m.metrics().events.budget_refusals, 0u);  // the limit was really reached
  EXPECT_EQ(m.metrics().total.live_count, 0u);
  EXPECT_EQ(device->query_heap(0).usage, 0u);
}

TEST(Manager, PressureTransitionsReachSubscribersInOrder) {
  LogCapture log;
  Config c;
  c.heap_budgets["device-local"] = {.soft = 0, .hard = 100 * kMiB};
  Manager m(small_device(), exact(c));
  std::vector<std::pair<PressureLevel, PressureLevel>> seen;
  m.on_pressure([&](const PressureEvent& e) {
    EXPECT_EQ(e.heap_name, "device-local");
    EXPECT_EQ(e.budget, 100 * kMiB);
    seen.emplace_back(e.from, e.to);
  });
  std::vector<Allocation> held;
  for (int i = 0; i < 96; ++i) held.push_back(m.allocate({.size = 1 * kMiB}));
  EXPECT_EQ(m.pressure(0), PressureLevel::Critical);
  EXPECT_EQ(m.pressure(), PressureLevel::Critical);
  held.resize(10);
  EXPECT_EQ(m.pressure(0), PressureLevel::Low);
  using L = PressureLevel;
  const std::vector<std::pair<L, L>> expected{{L::Low, L::Medium},    {L::Medium, L::High},
                                              {L::High, L::Critical}, {L::Critical, L::High},
                                              {L::High, L::Medium},   {L::Medium, L::Low}};
  EXPECT_EQ(seen, expected);
  // Warnings at 75 % and 90 %, once each.
  const std::string text = log.all();
  EXPECT_THAT(text, HasSubstr("over 75% of its budget"));
  EXPECT_THAT(text, HasSubstr("over 90% of its budget"));
  EXPECT_EQ(std::count(log.lines.begin(), log.lines.end(), log.lines.front()), 1);
}

TEST(Manager, PressureQueriesNeverCallTheDriver) {
  auto counting = std::make_shared<CountingDevice>(small_device());
  Manager m(counting, exact());
  const int after_construction = counting->queries.load();
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(m.pressure(0), PressureLevel::Low);
    ASSERT_FALSE(m.would_exceed(1));
  }
  EXPECT_EQ(counting->queries.load(), after_construction);
}

TEST(Manager, DriverFiguresRefreshAfterEnoughBytes) {
  auto host = small_device();
  auto counting = std::make_shared<CountingDevice>(host);
  Config c;
  c.refresh = {.max_age = std::chrono::hours(1), .max_bytes = 64 * kMiB};
  Manager m(counting, exact(c));
  const int start = counting->queries.load();
  host->set_external_usage(0, 300 * kMiB);  // another program takes memory
  Allocation small = m.allocate({.size = 1 * kMiB});
  EXPECT_EQ(counting->queries.load(), start);  // not due yet
  EXPECT_EQ(m.budget(0).external, 0u);
  Allocation big = m.allocate({.size = 64 * kMiB});  // moves usage by the policy's bytes
  EXPECT_EQ(counting->queries.load(), start + 1);
  EXPECT_EQ(m.budget(0).external, 300 * kMiB);
  EXPECT_EQ(m.metrics().heaps[0].driver_usage, 365 * kMiB);
  // Others' usage now counts against our budget.
  EXPECT_THROW(m.allocate({.size = 200 * kMiB}), BudgetExceeded);
}

TEST(Manager, DriverFiguresRefreshAfterMaxAge) {
  auto host = small_device();
  auto counting = std::make_shared<CountingDevice>(host);
  Config c;
  c.refresh = {.max_age = std::chrono::milliseconds(20), .max_bytes = 1 * kGiB};
  Manager m(counting, exact(c));
  const int start = counting->queries.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  Allocation a = m.allocate({.size = 1 * kMiB});
  EXPECT_EQ(counting->queries.load(), start + 1);
  m.refresh_driver_figures();
  EXPECT_EQ(counting->queries.load(), start + 1 + 3);
  EXPECT_GE(m.metrics().events.driver_refreshes, 5u);
}

TEST(Manager, OutOfMemoryFromTheDeviceIsAClearError) {
  auto host = small_device();
  Config c;
  c.refresh.max_age = std::chrono::hours(1);
  Manager m(host, exact(c));
  host->set_external_usage(0, 900 * kMiB);  // the manager does not know yet
  try {
    m.allocate({.size = 200 * kMiB});
    FAIL() << "expected OutOfMemory";
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.facts().heap, "device-local");
    EXPECT_EQ(e.facts().requested, 200 * kMiB);
    EXPECT_THAT(e.what(), HasSubstr("could not provide 200.0 MiB"));
  }
  EXPECT_EQ(m.budget(0).own, 0u);  // the reservation was rolled back
  EXPECT_FALSE(m.try_allocate({.size = 200 * kMiB}));
  EXPECT_EQ(m.metrics().events.out_of_memory, 2u);
  host->set_external_usage(0, 0);
  EXPECT_TRUE(m.allocate({.size = 200 * kMiB}));  // keeps working afterwards
}

TEST(Manager, TagBudgetsAreEnforcedAcrossHeaps) {
  LogCapture log;
  Config c;
  c.tag_budgets["textures"] = {.soft = 8 * kMiB, .hard = 10 * kMiB};
  Manager m(small_device(), exact(c));
  const Tag textures("textures");
  Allocation a = m.allocate({.size = 6 * kMiB, .tag = textures});
  Allocation b = m.allocate({.size = 3 * kMiB, .kind = HeapKind::Upload, .tag = textures});
  EXPECT_THAT(log.all(), HasSubstr("tag 'textures' crossed its soft limit"));
  try {
    m.allocate({.size = 2 * kMiB, .tag = textures});
    FAIL();
  } catch (const BudgetExceeded& e) {
    EXPECT_EQ(e.facts().tag, "textures");
    EXPECT_EQ(e.facts().budget, 10 * kMiB);
    EXPECT_EQ(e.facts().usage, 9 * kMiB);
    EXPECT_THAT(e.what(), HasSubstr("tag 'textures' on heap 'device-local'"));
  }
  EXPECT_EQ(m.budget(0).own, 6 * kMiB);  // heap reservation rolled back
  EXPECT_TRUE(m.allocate({.size = 2 * kMiB, .tag = Tag("other")}));
  b.reset();
  EXPECT_TRUE(m.allocate({.size = 2 * kMiB, .tag = textures}));
}

TEST(Manager, SoftLimitWarnsOnceAndCounts) {
  LogCapture log;
  Manager m(small_device(), exact());  // soft = 0.85 × 512 MiB
  std::vector<Allocation> held;
  for (int i = 0; i < 5; ++i) held.push_back(m.allocate({.size = 100 * kMiB}));
  EXPECT_EQ(m.metrics().events.soft_limit_crossings, 1u);
  EXPECT_THAT(log.all(), HasSubstr("heap 'device-local' crossed its soft limit"));
}

TEST(Manager, ZeroByteRequestsAreValidDistinctAndHoldNothing) {
  Manager m(small_device(), exact());
  Allocation a = m.allocate({.size = 0});
  Allocation b = m.allocate({.size = 0});
  ASSERT_TRUE(a);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(a.address(), 0u);
  EXPECT_EQ(m.budget(0).own, 0u);
  EXPECT_EQ(m.metrics().total.live_count, 2u);
  EXPECT_THROW(a.map(), InvalidArgument);
  const AllocationHandle h = b.release();
  m.free(h);
  EXPECT_THROW(m.free(h), InvalidHandle);
}

TEST(Manager, BadRequestsAreRefusedNamingTheProblem) {
  Manager m(small_device(), exact());
  EXPECT_THAT([&] { m.allocate({.size = 2 * kGiB}); },
              ::testing::ThrowsMessage<InvalidArgument>(AllOf(
                  HasSubstr("more than the whole heap 'device-local'"), HasSubstr("1.0 GiB"))));
  EXPECT_THAT([&] { m.allocate({.size = static_cast<std::uint64_t>(-4096)}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("negative size")));
  EXPECT_THAT([&] { m.allocate({.size = 64, .alignment = 48}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("alignment 48")));
  EXPECT_THAT([&] { m.allocate({.size = 64, .heap = 9}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("no heap 9")));
  EXPECT_THROW(m.try_allocate({.size = 64, .alignment = 3}), InvalidArgument);  // misuse throws
  EXPECT_THROW(m.budget(5), InvalidArgument);
  EXPECT_EQ(m.metrics().total.allocated_count, 0u);

  Manager sim_manager(std::make_shared<SimDevice>());
  EXPECT_THAT([&] { sim_manager.allocate({.size = 64, .kind = HeapKind::Readback}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("no readback heap")));
}

TEST(Manager, AlignmentIsHonoured) {
  Manager m(small_device(), exact());
  for (std::uint64_t align : {1u, 64u, 256u, 4096u, 65536u}) {
    Allocation a = m.allocate({.size = 100, .alignment = align});
    EXPECT_EQ(a.address() % align, 0u) << align;
  }
}

TEST(Manager, DoubleFreeAndForeignHandlesAreRefused) {
  Manager m(small_device(), exact());
  Manager other(small_device());
  Allocation a = m.allocate({.size = 128});
  const AllocationHandle h = a.release();
  EXPECT_THROW(other.free(h), InvalidHandle);
  m.free(h);
  EXPECT_THAT([&] { m.free(h); },
              ::testing::ThrowsMessage<InvalidHandle>(HasSubstr("freed twice")));
  EXPECT_EQ(m.metrics().total.freed_count, 1u);
  EXPECT_EQ(m.budget(0).own, 0u);
}

TEST(Manager, LeakReportOnDestructionListsExactlyTheLeaks) {
  auto device = small_device();
  std::optional<LeakReport> captured;
  Config c;
  c.tracking.stack_sample_every = 1;
  c.on_leak = [&](const LeakReport& r) { captured = r; };
  {
    Manager m(device, exact(c));
    Allocation kept = m.allocate({.size = 10});
    m.allocate({.size = 4 * kMiB, .category = Category::Texture, .tag = Tag("leaked-texture")})
        .release();
    m.allocate({.size = 20}).release();
    EXPECT_EQ(m.leak_report().leaks.size(), 3u);
    kept.reset();
  }
  ASSERT_TRUE(captured);
  ASSERT_EQ(captured->leaks.size(), 2u);
  EXPECT_EQ(captured->leaked_bytes, 4 * kMiB + 20);
  EXPECT_EQ(captured->leaks[0].tag.name(), "leaked-texture");
  EXPECT_THAT(captured->to_string(device->info().heaps),
              AllOf(HasSubstr("2 allocations still live"), HasSubstr("'leaked-texture' 4.0 MiB"),
                    HasSubstr("(texture)"), HasSubstr("\n      at "),
                    ::testing::Not(HasSubstr("gpumem::Manager::allocate"))));
  // The manager gave the leaked memory back to the device.
  EXPECT_EQ(device->query_heap(0).usage, 0u);
}

TEST(Manager, OlderThanFindsSuspects) {
  Manager m(small_device(), exact());
  Allocation old_one = m.allocate({.size = 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Allocation young = m.allocate({.size = 1});
  const auto suspects = m.older_than(std::chrono::milliseconds(20));
  ASSERT_EQ(suspects.size(), 1u);
  EXPECT_EQ(suspects[0].id, old_one.id());
}

TEST(Manager, InvalidConfigIsRejectedAtConstruction) {
  Config c;
  c.gpu_memory_fraction = 1.5;
  EXPECT_THAT([&] { Manager m(small_device(), exact(c)); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("gpu_memory_fraction")));
  Config unknown_heap;
  unknown_heap.heap_budgets["vram"] = {.hard = kGiB};
  EXPECT_THAT([&] { Manager m(small_device(), unknown_heap); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("'vram'")));
  EXPECT_THROW(Manager(nullptr), InvalidArgument);
}

TEST(Manager, ResetPeak) {
  Manager m(small_device(), exact());
  { Allocation a = m.allocate({.size = 10 * kMiB}); }
  Allocation b = m.allocate({.size = 1 * kMiB});
  EXPECT_EQ(m.metrics().total.peak_bytes, 10 * kMiB);
  m.reset_peak();
  EXPECT_EQ(m.metrics().total.peak_bytes, 1 * kMiB);
  EXPECT_EQ(m.metrics().heaps[0].peak_reserved_bytes, 1 * kMiB);
}

TEST(Manager, MovedAllocationsFreeOnce) {
  Manager m(small_device(), exact());
  Allocation a = m.allocate({.size = 64});
  Allocation b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  Allocation c = m.allocate({.size = 64});
  c = std::move(b);  // frees c's old allocation
  EXPECT_EQ(m.metrics().total.live_count, 1u);
  c.reset();
  EXPECT_EQ(m.metrics().total.live_count, 0u);
  EXPECT_EQ(m.metrics().total.freed_count, 2u);
}

TEST(Manager, AutoAllocatorPoolsOnTheHostAndMapsPagesOnTheSimulator) {
  Manager host(small_device());
  EXPECT_EQ(host.allocator(0).name(), "pool");
  EXPECT_EQ(host.allocator(1).name(), "pool");
  Manager sim(std::make_shared<SimDevice>(SimDeviceConfig{}));
  EXPECT_EQ(sim.allocator(sim.heap_for(HeapKind::DeviceLocal)).name(), "arena");
}

TEST(Manager, PooledMemoryStaysCachedUntilTrim) {
  auto device = small_device();
  Manager m(device);
  { Allocation a = m.allocate({.size = 1000}); }
  // The pool keeps its empty block for the next request instead of calling the device again.
  const std::uint64_t cached = m.allocator(0).stats().cached_bytes;
  EXPECT_GT(cached, 0u);
  EXPECT_EQ(m.budget(0).own, cached);
  m.trim();
  EXPECT_EQ(m.budget(0).own, 0u);
  EXPECT_EQ(device->query_heap(0).usage, 0u);
}

TEST(Manager, SmallRequestsAreNotRoundedToTheHeapGranularity) {
  // The simulator's pages are 2 MiB; the arena packs 1000-byte requests into one page.
  Manager m(std::make_shared<SimDevice>(SimDeviceConfig{}));
  std::vector<Allocation> small;
  for (int i = 0; i < 100; ++i) small.push_back(m.allocate({.size = 1000}));
  const std::uint32_t heap = m.heap_for(HeapKind::DeviceLocal);
  EXPECT_EQ(m.allocator(heap).stats().reserved_bytes, 2 * kMiB);
  for (const Allocation& a : small) EXPECT_EQ(a.address() % Manager::kDefaultAlignment, 0u);
}

}  // namespace
}  // namespace gpumem
