// One suite that every backend available at run time passes, through the Manager: sizes and
// alignments, bytes written and read back, budgets, pressure, metrics, out-of-memory, eight
// threads at once and leak reports. A backend is added with one line in test_support::backends();
// where this build or machine lacks it, its cases skip with the reason, and where a backend cannot
// do something a case needs (the simulator has no bytes), that case skips saying so.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"
#include "support/backends.hpp"

namespace gpumem {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

void fill(std::byte* bytes, std::uint64_t size, std::uint64_t seed) {
  for (std::uint64_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<std::byte>((i * 2654435761U + seed) >> 7 & 0xff);
  }
}

bool matches(const std::byte* bytes, std::uint64_t size, std::uint64_t seed) {
  std::vector<std::byte> expected(size);
  fill(expected.data(), size, seed);
  return std::memcmp(bytes, expected.data(), size) == 0;
}

// Direct placement: usage is the requests rounded to the heap's granularity, so budget figures
// are exact. Pools are what the data, thread and leak cases use.
Config with(AllocatorKind kind, Config c = {}) {
  c.allocators = {.device = kind, .host_visible = kind};
  return c;
}

class Conformance : public test_support::BackendTest {
 protected:
  std::unique_ptr<Manager> manager(Config config) {
    return std::make_unique<Manager>(device_, std::move(config));
  }
  // The heap of device memory requests (device-local, else shared), and its name.
  std::uint32_t device_heap(const Manager& m) const { return m.heap_for(HeapKind::DeviceLocal); }
  const std::string& heap_name(const Manager& m, std::uint32_t heap) const {
    return m.heaps()[heap].name;
  }
  std::uint64_t granule(const Manager& m, std::uint32_t heap) const {
    return std::max<std::uint64_t>(m.heaps()[heap].granularity, 2 * kMiB);
  }
  // The kinds of request the device serves (a readback request may land on a shared heap).
  static std::vector<HeapKind> kinds(const Manager& m) {
    std::vector<HeapKind> out;
    for (const HeapKind k : {HeapKind::DeviceLocal, HeapKind::Upload, HeapKind::Readback}) {
      try {
        static_cast<void>(m.heap_for(k));
        out.push_back(k);
      } catch (const InvalidArgument&) {
        // no heap serves it: not asked for below
      }
    }
    return out;
  }
  // Whether the CPU reaches the backend's bytes; the reason when not.
  std::string no_bytes_reason(Manager& m) {
    Allocation probe = m.allocate({.size = 64, .kind = HeapKind::Upload});
    try {
      static_cast<void>(probe.map());
      return {};
    } catch (const Unsupported& e) {
      return std::string("the backend has no bytes to read back: ") + e.what();
    }
  }
};

TEST_P(Conformance, AllocatesAndFreesManySizesAndAlignments) {
  auto m = manager(with(AllocatorKind::Pool));
  const std::uint32_t heap = device_heap(*m);
  const std::uint64_t large = std::min(m->budget(heap).hard / 2, m->device().max_block_size(heap));
  std::vector<Allocation> live;
  for (const std::uint64_t size :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{3}, std::uint64_t{255},
        std::uint64_t{4097}, std::uint64_t{65537}, kMiB + 7, 3 * kMiB + 1}) {
    for (const std::uint64_t alignment : {std::uint64_t{1}, std::uint64_t{16}, std::uint64_t{256},
                                          std::uint64_t{4096}, 64 * kKiB}) {
      Allocation a = m->allocate({.size = size, .alignment = alignment});
      ASSERT_TRUE(a);
      EXPECT_EQ(a.size(), size);
      EXPECT_EQ(a.heap(), heap);
      if (size != 0) {
        EXPECT_EQ(a.offset() % alignment, 0U) << size << " aligned to " << alignment;
        EXPECT_EQ(a.address() % alignment, 0U) << size << " aligned to " << alignment;
        EXPECT_LE(a.offset() + size, a.block().size);
      }
      live.push_back(std::move(a));
    }
  }
  // Allocations never overlap within a block.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> ends;  // (block, start) -> end
  for (const Allocation& a : live) {
    if (a.size() != 0) ends[{a.block().id, a.offset()}] = a.offset() + a.size();
  }
  for (auto it = ends.begin(); it != ends.end(); ++it) {
    const auto next = std::next(it);
    if (next != ends.end() && next->first.first == it->first.first) {
      EXPECT_LE(it->second, next->first.second);
    }
  }
  Allocation big = m->allocate({.size = large});
  EXPECT_EQ(big.size(), large);
  EXPECT_EQ(m->metrics().total.live_count, live.size() + 1);
  live.clear();
  big.reset();
  EXPECT_EQ(m->metrics().total.live_bytes, 0U);
  m->trim();
  EXPECT_EQ(m->budget(heap).own, 0U);
  EXPECT_THROW(m->allocate({.size = 64, .alignment = 3}), InvalidArgument);
  EXPECT_THROW(m->allocate({.size = m->heaps()[heap].size + 1}), InvalidArgument);
}

TEST_P(Conformance, WritesPatternsAndReadsThemBackThroughMapOrCopy) {
  auto m = manager(with(AllocatorKind::Pool));
  if (const std::string why = no_bytes_reason(*m); !why.empty()) GTEST_SKIP() << why;
  std::uint64_t seed = 1;
  const std::vector<HeapKind> served = kinds(*m);
  ASSERT_GE(served.size(), 2U) << "data goes up and down through an upload heap";
  const HeapKind down_kind = served.back();
  for (const HeapKind kind : served) {
    for (const std::uint64_t size :
         {std::uint64_t{1}, std::uint64_t{333}, 64 * kKiB + 5, 2 * kMiB + 17}) {
      ++seed;
      Allocation a = m->allocate({.size = size, .kind = kind});
      std::byte* direct = nullptr;
      try {
        direct = a.map();
      } catch (const Unsupported&) {
        direct = nullptr;  // device memory: reached through copies below
      }
      if (direct != nullptr) {
        fill(direct, size, seed);
        EXPECT_TRUE(matches(a.map(), size, seed)) << to_string(kind) << " " << size;
      }
      // Through the device: upload -> a -> readback, whatever a's heap is.
      Allocation up = m->allocate({.size = size, .kind = HeapKind::Upload});
      Allocation down = m->allocate({.size = size, .kind = down_kind});
      fill(up.map(), size, seed + 1000);
      std::memset(down.map(), 0, size);
      Device& d = m->device();
      d.copy(up.block(), up.offset(), a.block(), a.offset(), size);
      d.wait(d.copy(a.block(), a.offset(), down.block(), down.offset(), size));
      EXPECT_TRUE(matches(down.map(), size, seed + 1000)) << to_string(kind) << " " << size;
      if (direct != nullptr) {
        EXPECT_TRUE(matches(a.map(), size, seed + 1000)) << to_string(kind) << " " << size;
      }
    }
  }
}

TEST_P(Conformance, BudgetsWarnAtTheSoftLimitAndRefuseAtTheHardOne) {
  Config c;
  auto probe = manager(with(AllocatorKind::Direct));
  const std::uint32_t heap = device_heap(*probe);
  const std::string name = heap_name(*probe, heap);
  const std::uint64_t g = granule(*probe, heap);
  probe.reset();
  c.heap_budgets[name] = {.soft = 4 * g, .hard = 8 * g};
  auto m = manager(with(AllocatorKind::Direct, c));
  Allocation a = m->allocate({.size = 5 * g});
  EXPECT_THAT(log_.all(), HasSubstr(fmt::format("heap '{}' crossed its soft limit", name)));
  EXPECT_EQ(m->metrics().events.soft_limit_crossings, 1U);
  EXPECT_TRUE(m->would_exceed(4 * g, heap));
  try {
    m->allocate({.size = 4 * g});
    FAIL() << "expected BudgetExceeded";
  } catch (const BudgetExceeded& e) {
    EXPECT_EQ(e.facts().heap, name);
    EXPECT_EQ(e.facts().requested, 4 * g);
    EXPECT_EQ(e.facts().budget, 8 * g);
    EXPECT_EQ(e.facts().usage, 5 * g);
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr(fmt::format("heap '{}'", name)), HasSubstr(format_bytes(4 * g)),
                      HasSubstr(format_bytes(5 * g) + " of " + format_bytes(8 * g))));
  }
  EXPECT_FALSE(m->try_allocate({.size = 4 * g}));
  EXPECT_EQ(m->metrics().events.budget_refusals, 2U);
  EXPECT_EQ(m->metrics().total.live_count, 1U);  // nothing half-allocated
  EXPECT_TRUE(m->allocate({.size = 3 * g}));     // up to the limit is fine
}

TEST_P(Conformance, PressureRisesAndFallsThroughEveryLevelInOrder) {
  auto probe = manager(with(AllocatorKind::Direct));
  const std::uint32_t heap = device_heap(*probe);
  const std::string name = heap_name(*probe, heap);
  const std::uint64_t g = granule(*probe, heap);
  probe.reset();
  Config c;
  c.heap_budgets[name] = {.soft = 0, .hard = 50 * g};
  auto m = manager(with(AllocatorKind::Direct, c));
  std::vector<std::pair<PressureLevel, PressureLevel>> seen;
  m->on_pressure([&](const PressureEvent& e) {
    if (e.heap == heap) seen.emplace_back(e.from, e.to);
  });
  std::vector<Allocation> held;
  for (int i = 0; i < 48; ++i) held.push_back(m->allocate({.size = g}));
  EXPECT_EQ(m->pressure(heap), PressureLevel::Critical);
  held.resize(5);
  EXPECT_EQ(m->pressure(heap), PressureLevel::Low);
  using L = PressureLevel;
  const std::vector<std::pair<L, L>> expected{{L::Low, L::Medium},    {L::Medium, L::High},
                                              {L::High, L::Critical}, {L::Critical, L::High},
                                              {L::High, L::Medium},   {L::Medium, L::Low}};
  EXPECT_EQ(seen, expected);
}

TEST_P(Conformance, MetricsMatchARecountOfTheLiveAllocations) {
  auto m = manager(with(AllocatorKind::Pool));
  std::mt19937_64 random(42);
  const std::vector<HeapKind> served = kinds(*m);
  std::vector<Allocation> live;
  for (int i = 0; i < 600; ++i) {
    if (!live.empty() && random() % 3 == 0) {
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(random() % live.size()));
      continue;
    }
    const HeapKind kind = served[random() % served.size()];
    const auto category = static_cast<Category>(random() % kCategoryCount);
    live.push_back(
        m->allocate({.size = random() % (256 * kKiB), .kind = kind, .category = category}));
  }
  const MetricsSnapshot s = m->metrics();
  std::array<UsageFigures, kCategoryCount> by_category{};
  std::vector<UsageFigures> by_heap(m->heaps().size());
  std::uint64_t bytes = 0;
  for (const Allocation& a : live) {
    bytes += a.size();
    for (UsageFigures* f :
         {&by_category[static_cast<std::size_t>(a.category())], &by_heap[a.heap()]}) {
      ++f->live_count;
      f->live_bytes += a.size();
    }
  }
  EXPECT_EQ(s.total.live_count, live.size());
  EXPECT_EQ(s.total.live_bytes, bytes);
  for (std::size_t c = 0; c < kCategoryCount; ++c) {
    EXPECT_EQ(s.by_category[c].live_count, by_category[c].live_count) << c;
    EXPECT_EQ(s.by_category[c].live_bytes, by_category[c].live_bytes) << c;
  }
  ASSERT_EQ(s.heaps.size(), by_heap.size());
  for (std::size_t h = 0; h < by_heap.size(); ++h) {
    EXPECT_EQ(s.heaps[h].usage.live_count, by_heap[h].live_count) << h;
    EXPECT_EQ(s.heaps[h].usage.live_bytes, by_heap[h].live_bytes) << h;
    EXPECT_GE(s.heaps[h].reserved_bytes, s.heaps[h].usage.live_bytes) << h;
  }
  EXPECT_EQ(m->live_allocations().size(), live.size());
}

TEST_P(Conformance, OutOfMemoryIsAnErrorAndTheAllocatorGoesOn) {
  // The manager's driver figures are not refreshed, so memory taken behind its back (as another
  // process would) is unknown to its budget: the device, not the budget, says no.
  Config c = with(AllocatorKind::Direct);
  c.refresh.max_age = std::chrono::hours(1);
  c.refresh.max_bytes = std::numeric_limits<std::uint64_t>::max() / 2;
  auto m = manager(c);
  const std::uint32_t heap = device_heap(*m);
  const HeapInfo info = m->heaps()[heap];
  std::uint64_t chunk = 0;
  align_up(std::min({info.size / 4, m->budget(heap).hard / 2, m->device().max_block_size(heap)}),
           info.granularity, chunk);
  chunk = std::min(chunk, m->device().max_block_size(heap));  // rounding up may not pass it
  // Smaller pieces where the device will not make one block that large.
  std::vector<RawBlock> others;
  while (others.empty() && chunk >= 16 * info.granularity) {
    if (const RawBlock b = device_->try_allocate_block(heap, chunk, 256)) {
      others.push_back(b);
    } else {
      chunk /= 2;
    }
  }
  for (int i = 0; i < 256 && !others.empty(); ++i) {
    const RawBlock b = device_->try_allocate_block(heap, chunk, 256);
    if (!b) break;
    others.push_back(b);
  }
  ASSERT_FALSE(others.empty());
  try {
    m->allocate({.size = chunk});
    ADD_FAILURE() << "expected OutOfMemory after others took " << others.size() << " x "
                  << format_bytes(chunk);
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.facts().heap, info.name);
    EXPECT_EQ(e.facts().requested, chunk);
    EXPECT_THAT(e.what(), HasSubstr("could not provide"));
  }
  EXPECT_FALSE(m->try_allocate({.size = chunk}));
  EXPECT_EQ(m->metrics().events.out_of_memory, 2U);
  EXPECT_EQ(m->metrics().total.live_count, 0U);
  EXPECT_EQ(m->budget(heap).own, 0U);  // the reservation was rolled back
  device_->free_block(others.back());
  others.pop_back();
  EXPECT_TRUE(m->allocate({.size = chunk}));  // keeps working afterwards
  EXPECT_TRUE(m->allocate({.size = 4096}));
  for (const RawBlock& b : others) device_->free_block(b);
}

TEST_P(Conformance, EightThreadsAllocateAndFreeAtOnce) {
  auto m = manager(with(AllocatorKind::Pool));
  const bool bytes = no_bytes_reason(*m).empty();
  const std::uint32_t upload_heap = m->heap_for(HeapKind::Upload);
  std::atomic<int> wrong{0};
  const auto churn = [&](int t) {
    std::mt19937_64 random(static_cast<std::uint64_t>(t));
    std::vector<std::pair<Allocation, std::uint64_t>> mine;
    for (int i = 0; i < 300; ++i) {
      const std::uint64_t size = random() % (128 * kKiB);
      const HeapKind kind = random() % 2 == 0 ? HeapKind::DeviceLocal : HeapKind::Upload;
      Allocation a = m->allocate({.size = size, .kind = kind});
      const std::uint64_t seed = random();
      if (bytes && a.heap() == upload_heap && size != 0) fill(a.map(), size, seed);
      mine.emplace_back(std::move(a), seed);
      if (random() % 2 == 0) {
        const std::size_t victim = random() % mine.size();
        const auto& [v, s] = mine[victim];
        // Another thread writing into this range would show here.
        if (bytes && v.size() != 0 && v.heap() == upload_heap && !matches(v.map(), v.size(), s)) {
          ++wrong;
        }
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(victim));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      try {
        churn(t);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(m->metrics().total.live_count, 0U);
  m->trim();
  for (std::uint32_t h = 0; h < m->heaps().size(); ++h) EXPECT_EQ(m->budget(h).own, 0U) << h;
}

TEST_P(Conformance, LeakReportListsExactlyTheLeakedAllocations) {
  std::optional<LeakReport> report;
  Config c = with(AllocatorKind::Pool);
  c.on_leak = [&](const LeakReport& r) { report = r; };
  std::vector<std::uint64_t> leaked;
  {
    auto m = manager(c);
    Allocation kept = m->allocate({.size = 100});
    for (const std::uint64_t size : {std::uint64_t{10}, std::uint64_t{0}, 3 * kMiB}) {
      Allocation a = m->allocate({.size = size, .category = Category::Texture, .tag = Tag("lost")});
      leaked.push_back(a.id());
      static_cast<void>(a.release());
    }
    m->allocate({.size = 5}).reset();
    kept.reset();
  }
  ASSERT_TRUE(report);
  std::vector<std::uint64_t> ids;
  for (const AllocationRecord& r : report->leaks) {
    ids.push_back(r.id);
    EXPECT_EQ(r.tag.name(), "lost");
  }
  EXPECT_THAT(ids, ::testing::UnorderedElementsAreArray(leaked));
  EXPECT_EQ(report->leaked_bytes, 10 + 3 * kMiB);
}

TEST_P(Conformance, MapsOrSaysWhyNot) {
  auto m = manager(with(AllocatorKind::Pool));
  Allocation upload = m->allocate({.size = 4096, .kind = HeapKind::Upload});
  try {
    std::byte* p = upload.map();
    ASSERT_NE(p, nullptr);
    p[4095] = std::byte{7};
    EXPECT_EQ(upload.map()[4095], std::byte{7});
  } catch (const Unsupported& e) {
    EXPECT_THAT(e.what(), HasSubstr(m->device().info().backend));
    GTEST_SKIP() << "no mapping: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance, ::testing::ValuesIn(test_support::backends()),
                         test_support::backend_name);

}  // namespace
}  // namespace gpumem
