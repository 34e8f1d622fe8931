#include "gpumem/core/allocation_registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;

TEST(AllocationRegistry, GivesUniqueIdsAndKeepsRecords) {
  AllocationRegistry r;
  const Tag tag("registry-test");
  auto a = r.insert({.size = 100, .heap = 1, .category = Category::Texture, .tag = tag});
  auto b = r.insert({.size = 200});
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(r.live_count(), 2u);
  const AllocationRecord rec = r.get(a);
  EXPECT_EQ(rec.size, 100u);
  EXPECT_EQ(rec.heap, 1u);
  EXPECT_EQ(rec.tag, tag);
  EXPECT_EQ(rec.category, Category::Texture);
  EXPECT_EQ(r.remove(a).size, 100u);
  EXPECT_EQ(r.live_count(), 1u);
  EXPECT_FALSE(r.contains(a));
  EXPECT_TRUE(r.contains(b));
}

TEST(AllocationRegistry, DoubleRemoveIsRefusedAndChangesNothing) {
  AllocationRegistry r;
  auto a = r.insert({.size = 100});
  auto keep = r.insert({.size = 7});
  r.remove(a);
  EXPECT_THAT([&] { r.remove(a); },
              ::testing::ThrowsMessage<InvalidHandle>(HasSubstr("freed twice")));
  // The freed slot is reused; the stale handle must still be refused.
  auto c = r.insert({.size = 300});
  EXPECT_THROW(r.remove(a), InvalidHandle);
  EXPECT_EQ(r.live_count(), 2u);
  EXPECT_EQ(r.get(c).size, 300u);
  EXPECT_EQ(r.get(keep).size, 7u);
}

TEST(AllocationRegistry, ForeignAndEmptyHandlesAreRefused) {
  AllocationRegistry mine;
  AllocationRegistry other;
  auto theirs = other.insert({.size = 1});
  EXPECT_THAT([&] { mine.remove(theirs); },
              ::testing::ThrowsMessage<InvalidHandle>(HasSubstr("foreign")));
  EXPECT_THROW(mine.remove(AllocationHandle{}), InvalidHandle);
  AllocationHandle forged = mine.insert({.size = 1});
  forged.slot += 16 * 1000;
  EXPECT_THROW(mine.remove(forged), InvalidHandle);
  EXPECT_EQ(other.live_count(), 1u);
}

TEST(AllocationRegistry, OlderThanFindsLeakSuspects) {
  AllocationRegistry r({.enabled = true});
  auto old_one = r.insert({.size = 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto young = r.insert({.size = 2});
  const auto suspects = r.older_than(std::chrono::milliseconds(20));
  ASSERT_EQ(suspects.size(), 1u);
  EXPECT_EQ(suspects[0].id, old_one.id);
  EXPECT_EQ(r.older_than(std::chrono::milliseconds(0)).size(), 2u);
  r.remove(young);
}

TEST(AllocationRegistry, OlderThanNeedsTracking) {
  AllocationRegistry r({.enabled = false});
  r.insert({.size = 1});
  EXPECT_THROW(r.older_than(std::chrono::seconds(1)), Unsupported);
}

TEST(AllocationRegistry, LeakReportListsExactlyTheLiveOnes) {
  AllocationRegistry r({.enabled = true, .stack_sample_every = 1, .stack_depth = 8});
  auto freed = r.insert({.size = 10});
  r.insert({.size = 3 * 1024 * 1024, .heap = 0, .tag = Tag("leaky")});
  r.remove(freed);
  const LeakReport report = r.leak_report();
  ASSERT_EQ(report.leaks.size(), 1u);
  EXPECT_EQ(report.leaked_bytes, 3u * 1024 * 1024);
  ASSERT_TRUE(report.leaks[0].stack);
  EXPECT_FALSE(report.leaks[0].stack->frames.empty());
  HeapInfo heap;
  heap.name = "device-local";
  const std::string text = report.to_string({heap});
  EXPECT_THAT(text, HasSubstr("1 allocation still live, 3.0 MiB"));
  EXPECT_THAT(text, HasSubstr("'leaky' 3.0 MiB on device-local"));
  EXPECT_THAT(text, HasSubstr("age"));
  EXPECT_THAT(text, HasSubstr("at "));
}

TEST(AllocationRegistry, StacksAreSampled) {
  AllocationRegistry r({.enabled = true, .stack_sample_every = 4, .stack_depth = 4});
  int with_stack = 0;
  for (int i = 0; i < 40; ++i) {
    if (r.get(r.insert({.size = 1})).stack) ++with_stack;
  }
  EXPECT_EQ(with_stack, 10);
}

TEST(AllocationRegistry, ThreadsInsertAndRemoveConcurrently) {
  AllocationRegistry r;
  std::vector<std::thread> threads;
  std::mutex ids_mutex;
  std::set<std::uint64_t> ids;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      std::vector<AllocationHandle> mine;
      for (int i = 0; i < 5000; ++i) {
        mine.push_back(r.insert({.size = static_cast<std::uint64_t>(i)}));
        if (i % 2 == 1) {
          r.remove(mine.front());
          mine.erase(mine.begin());
        }
      }
      std::lock_guard lock(ids_mutex);
      for (const auto& h : mine) ids.insert(h.id);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ids.size(), 8u * 2500u);
  EXPECT_EQ(r.live_count(), 8u * 2500u);
  EXPECT_EQ(r.live().size(), 8u * 2500u);
}

}  // namespace
}  // namespace gpumem

namespace gpumem {
namespace {

TEST(AllocationRegistry, RelocateKeepsTheHandleAndMovesTheRecord) {
  AllocationRegistry r;
  const RawBlock a{.id = 1, .heap = 0, .size = 4096, .address = 0x1000};
  const RawBlock b{.id = 2, .heap = 0, .size = 4096, .address = 0x9000};
  auto h = r.insert({.size = 64, .block = a, .offset = 128});
  EXPECT_EQ(r.locate(h).block.id, 1u);
  EXPECT_EQ(r.locate(h).offset, 128u);
  r.relocate(h, b, 256, {7, 8, 9});
  EXPECT_EQ(r.locate(h).block.address, 0x9000u);
  EXPECT_EQ(r.locate(h).offset, 256u);
  EXPECT_EQ(r.get(h).allocator_token[2], 9u);
  std::size_t seen = 0;
  r.for_each_live([&](const AllocationHandle& handle, const AllocationRecord& record) {
    EXPECT_EQ(handle, h);
    EXPECT_EQ(record.offset, 256u);
    ++seen;
  });
  EXPECT_EQ(seen, 1u);
  r.remove(h);
  EXPECT_THROW(r.relocate(h, a, 0, {}), InvalidHandle);
  EXPECT_THROW(r.locate(h), InvalidHandle);
}

}  // namespace
}  // namespace gpumem
