// StagingRing on every backend: content across chunking and wrap-around, several threads, each
// full-ring policy, out-of-order completion, destruction with copies pending, budgets and bad
// input. Policy cases run through a GatedDevice so that copies stay in flight until released.
#include "gpumem/transfer/staging_ring.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "transfer/transfer_fixture.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class StagingRingTest : public test_support::TransferTest {
 protected:
  std::unique_ptr<Manager> usable_manager(bool gated = false, Config config = {}) {
    return TransferTest::usable_manager(gated, std::move(config), [](Manager& m) {
      EXPECT_THROW(StagingRing(m, {.ring_size = kMiB, .chunk_size = kMiB}), Unsupported);
    });
  }
  // Upload memory placed without pools, under a fixed budget of `bytes` on the upload heap (not
  // counting what others use there: NVIDIA's small upload heap is never empty).
  Config exact_upload_budget(std::uint64_t bytes) {
    const Manager probe(device_);
    Config c;
    c.heap_budgets[probe.heaps()[probe.heap_for(HeapKind::Upload)].name] = {.soft = bytes,
                                                                            .hard = bytes};
    c.allocators.host_visible = AllocatorKind::Direct;
    return c;
  }
  // Why a budget on the upload heap cannot be tested alone here, or empty.
  static std::string shared_heap_reason(const Manager& m) {
    if (m.heap_for(HeapKind::Upload) != m.heap_for(HeapKind::DeviceLocal)) return {};
    return "uploads and device memory share heap '" + m.heaps()[m.heap_for(HeapKind::Upload)].name +
           "' here";
  }
};

TEST_P(StagingRingTest, ChunkedUploadArrivesIntact) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m, {.ring_size = kMiB, .chunk_size = 256 * kKiB});
  const std::vector<std::byte> bytes = test_support::pattern(3 * kMiB + 123, 7);
  Allocation dst = device_buffer(*m, 4 * kMiB);
  const TransferTicket t = ring.stage_upload(bytes, dst, 4096);
  ring.wait(t);
  EXPECT_TRUE(ring.is_complete(t));
  expect_content(*m, dst, 4096, bytes);
  const StagingStatistics s = ring.statistics();
  EXPECT_EQ(s.uploads, 1U);
  EXPECT_EQ(s.chunks, 13U);  // 12 full chunks of 256 KiB and 123 bytes
  EXPECT_EQ(s.bytes_staged, bytes.size());
  EXPECT_EQ(s.bytes_completed, bytes.size());
  EXPECT_EQ(s.active_transfers, 0U);
  EXPECT_EQ(s.used_bytes, 0U);
  EXPECT_GT(s.achieved_gbps, 0.0);
  EXPECT_EQ(staging_bytes(*m), kMiB);  // counted by the manager, on the upload heap's budget
  EXPECT_EQ(m->heaps()[ring.heap()].kind, m->heaps()[m->heap_for(HeapKind::Upload)].kind);
}

TEST_P(StagingRingTest, UploadsOfOddSizesWrapAroundTheRingIntact) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m, {.ring_size = kMiB, .chunk_size = kMiB, .alignment = 256});
  Allocation dst = device_buffer(*m, 12 * kMiB);
  std::vector<std::vector<std::byte>> sent;
  std::vector<std::uint64_t> offsets;
  std::uint64_t offset = 0;
  for (unsigned i = 0; offset + 400 * kKiB < dst.size(); ++i) {  // no waits in between
    sent.push_back(test_support::pattern(300 * kKiB + i * 4099, i));
    offsets.push_back(offset);
    ring.stage_upload(sent.back(), dst, offset);
    offset += sent.back().size();
  }
  ring.flush();
  for (std::size_t i = 0; i < sent.size(); ++i) expect_content(*m, dst, offsets[i], sent[i]);
  EXPECT_GT(ring.statistics().bytes_staged, 10 * ring.statistics().capacity);  // wrapped often
}

TEST_P(StagingRingTest, SeveralThreadsUploadAtOnce) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m, {.ring_size = kMiB, .chunk_size = 128 * kKiB, .copy_threads = 2});
  constexpr unsigned kThreads = 8;
  constexpr unsigned kUploads = 12;
  constexpr std::uint64_t kSlot = 160 * kKiB;
  Allocation dst = device_buffer(*m, kThreads * kUploads * kSlot);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (unsigned u = 0; u < kUploads; ++u) {
        const unsigned slot = t * kUploads + u;
        const std::vector<std::byte> bytes = test_support::pattern(kSlot - slot * 64, slot);
        const TransferTicket ticket = ring.stage_upload(bytes, dst, slot * kSlot);
        if (u % 3 == 0) ring.wait(ticket);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ring.flush();
  for (unsigned slot = 0; slot < kThreads * kUploads; ++slot) {
    expect_content(*m, dst, slot * kSlot, test_support::pattern(kSlot - slot * 64, slot));
  }
  EXPECT_EQ(ring.statistics().uploads, kThreads * kUploads);
  EXPECT_EQ(ring.statistics().active_transfers, 0U);
}

TEST_P(StagingRingTest, CompletionsInAnyOrderRetireRangesOldestFirst) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m, {.ring_size = kMiB, .chunk_size = 256 * kKiB});
  Allocation dst = device_buffer(*m, kMiB);
  const std::vector<std::byte> bytes = test_support::pattern(256 * kKiB, 3);
  const FenceValue before = gate_->issued();
  const TransferTicket a = ring.stage_upload(bytes, dst, 0);
  const TransferTicket b = ring.stage_upload(bytes, dst, 256 * kKiB);
  const TransferTicket c = ring.stage_upload(bytes, dst, 512 * kKiB);
  EXPECT_EQ(ring.statistics().active_transfers, 3U);
  gate_->release(before + 3);  // the newest completes first
  EXPECT_TRUE(ring.is_complete(c));
  EXPECT_FALSE(ring.is_complete(a));
  EXPECT_FALSE(ring.is_complete(b));
  EXPECT_EQ(ring.statistics().used_bytes, 3 * 256 * kKiB);  // c's range waits for a and b
  gate_->release(before + 1);
  EXPECT_TRUE(ring.is_complete(a));
  EXPECT_FALSE(ring.is_complete(b));
  EXPECT_EQ(ring.statistics().active_transfers, 1U);
  gate_->release(before + 2);
  ring.wait(b);
  EXPECT_EQ(ring.statistics().used_bytes, 0U);
  for (const std::uint64_t at : {std::uint64_t{0}, 256 * kKiB, 512 * kKiB})
    expect_content(*m, dst, at, bytes);
}

TEST_P(StagingRingTest, FailPolicyThrowsWhenFullAndRecovers) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m,
                   {.ring_size = kMiB, .chunk_size = 512 * kKiB, .policy = FullRingPolicy::Fail});
  Allocation dst = device_buffer(*m, 2 * kMiB);
  const std::vector<std::byte> bytes = test_support::pattern(512 * kKiB, 5);
  ring.stage_upload(bytes, dst, 0);
  ring.stage_upload(bytes, dst, 512 * kKiB);
  try {
    ring.stage_upload(bytes, dst, kMiB);
    ADD_FAILURE() << "a full ring with policy fail accepted an upload";
  } catch (const TransferQueueFull& e) {
    EXPECT_THAT(e.what(), HasSubstr("'fail'"));
    EXPECT_THAT(e.what(), HasSubstr(m->heaps()[ring.heap()].name));
    EXPECT_THAT(e.what(), HasSubstr("512.0 KiB chunk"));
  }
  EXPECT_EQ(ring.statistics().active_transfers, 2U);  // the refused upload left nothing behind
  gate_->set_open(true);
  gate_->release_all();
  ring.wait(ring.stage_upload(bytes, dst, kMiB));  // room again: the old copies retire first
  expect_content(*m, dst, kMiB, bytes);
}

TEST_P(StagingRingTest, WaitPolicyBlocksUntilTheOldestCopyCompletes) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m, {.ring_size = kMiB, .chunk_size = 512 * kKiB});
  Allocation dst = device_buffer(*m, 2 * kMiB);
  const std::vector<std::byte> bytes = test_support::pattern(512 * kKiB, 9);
  const FenceValue first = gate_->issued() + 1;
  ring.stage_upload(bytes, dst, 0);
  ring.stage_upload(bytes, dst, 512 * kKiB);
  auto third = std::async(std::launch::async, [&] { return ring.stage_upload(bytes, dst, kMiB); });
  EXPECT_EQ(third.wait_for(50ms), std::future_status::timeout);  // waiting for room
  gate_->release(first);
  const TransferTicket t = third.get();
  EXPECT_EQ(ring.statistics().stalls, 1U);
  gate_->release_all();
  ring.wait(t);
  expect_content(*m, dst, kMiB, bytes);
}

TEST_P(StagingRingTest, GrowPolicyGrowsToItsCapThenWaitsAndShrinksBack) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  StagingRing ring(*m, {.ring_size = kMiB,
                        .chunk_size = 512 * kKiB,
                        .policy = FullRingPolicy::Grow,
                        .max_ring_size = 2 * kMiB,
                        .shrink_after = 0ms});
  Allocation dst = device_buffer(*m, 3 * kMiB);
  const std::vector<std::byte> bytes = test_support::pattern(512 * kKiB, 11);
  for (std::uint64_t i = 0; i < 4; ++i) ring.stage_upload(bytes, dst, i * 512 * kKiB);
  EXPECT_EQ(ring.statistics().capacity, 2 * kMiB);
  EXPECT_EQ(ring.statistics().grows, 1U);
  EXPECT_EQ(staging_bytes(*m), 2 * kMiB);  // the spike is on the budget too
  auto fifth =
      std::async(std::launch::async, [&] { return ring.stage_upload(bytes, dst, 2 * kMiB); });
  EXPECT_EQ(fifth.wait_for(50ms), std::future_status::timeout);  // at the cap: waits
  gate_->set_open(true);
  gate_->release_all();
  ring.wait(fifth.get());
  ring.flush();
  ring.trim();
  EXPECT_EQ(ring.statistics().capacity, kMiB);
  EXPECT_EQ(ring.statistics().shrinks, 1U);
  EXPECT_EQ(staging_bytes(*m), kMiB);
  for (std::uint64_t i = 0; i < 5; ++i) expect_content(*m, dst, i * 512 * kKiB, bytes);
}

TEST_P(StagingRingTest, GrowPolicyWaitsWhereTheBudgetHasNoRoom) {
  auto m = usable_manager(true, exact_upload_budget(3 * kMiB));
  SKIP_WITHOUT_BYTES();
  if (const std::string why = shared_heap_reason(*m); !why.empty()) GTEST_SKIP() << why;
  StagingRing ring(*m, {.ring_size = 2 * kMiB,
                        .chunk_size = 2 * kMiB,
                        .policy = FullRingPolicy::Grow,
                        .max_ring_size = 8 * kMiB});
  Allocation dst = device_buffer(*m, 4 * kMiB);
  const std::vector<std::byte> bytes = test_support::pattern(2 * kMiB, 13);
  ring.stage_upload(bytes, dst, 0);
  auto second =
      std::async(std::launch::async, [&] { return ring.stage_upload(bytes, dst, 2 * kMiB); });
  EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout);
  gate_->set_open(true);
  gate_->release_all();
  ring.wait(second.get());
  EXPECT_EQ(ring.statistics().grows, 0U);
  EXPECT_EQ(ring.statistics().stalls, 1U);
}

TEST_P(StagingRingTest, DestroyingWithCopiesPendingWaitsForThemAndFreesTheRing) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  Allocation dst = device_buffer(*m, kMiB);
  const std::vector<std::byte> bytes = test_support::pattern(kMiB, 17);
  std::atomic<bool> released{false};
  std::thread releaser;
  {
    StagingRing ring(*m, {.ring_size = kMiB, .chunk_size = 256 * kKiB});
    ring.stage_upload(bytes, dst, 0);
    EXPECT_EQ(ring.statistics().active_transfers, 1U);
    releaser = std::thread([&] {
      std::this_thread::sleep_for(50ms);
      released = true;
      gate_->release_all();
    });
  }  // waits here
  EXPECT_TRUE(released.load());
  releaser.join();
  EXPECT_EQ(staging_bytes(*m), 0U);  // nothing leaked
  expect_content(*m, dst, 0, bytes);
}

TEST_P(StagingRingTest, RefusesBadOptionsAndRangesAndUnknownTickets) {
  auto m = usable_manager(false, exact_upload_budget(2 * kMiB));
  SKIP_WITHOUT_BYTES();
  EXPECT_THROW(StagingRing(*m, {.ring_size = 0}), InvalidArgument);
  EXPECT_THROW(StagingRing(*m, {.ring_size = kMiB, .chunk_size = 2 * kMiB}), InvalidArgument);
  EXPECT_THROW(StagingRing(*m, {.ring_size = kMiB, .chunk_size = kMiB, .max_ring_size = kKiB}),
               InvalidArgument);
  EXPECT_THROW(StagingRing(*m, {.ring_size = kMiB, .chunk_size = kMiB, .alignment = 3}),
               InvalidArgument);
  EXPECT_THROW(StagingRing(*m, {.ring_size = kMiB, .chunk_size = kMiB, .heap = 99}),
               InvalidArgument);
  if (shared_heap_reason(*m).empty()) {
    EXPECT_THROW(StagingRing(*m, {.ring_size = 4 * kMiB, .chunk_size = kMiB}), BudgetExceeded);
  }
  StagingRing ring(*m, {.ring_size = 512 * kKiB, .chunk_size = 256 * kKiB});
  Allocation dst = device_buffer(*m, 4096);
  const std::vector<std::byte> bytes = test_support::pattern(4096, 1);
  try {
    ring.stage_upload(bytes, dst, 1);
    ADD_FAILURE() << "an upload past the destination's end was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("4096 bytes at offset 1"));
  }
  EXPECT_THROW(ring.stage_upload(bytes, RawBlock{}, 0), InvalidArgument);
  const TransferTicket empty = ring.stage_upload({}, dst, 4096);
  EXPECT_TRUE(ring.is_complete(empty));
  EXPECT_THROW(ring.is_complete(TransferTicket{}), InvalidHandle);
  EXPECT_THROW(ring.wait(TransferTicket{empty.id + 1}), InvalidHandle);
}

INSTANTIATE_TEST_SUITE_P(Backends, StagingRingTest, ::testing::ValuesIn(test_support::backends()),
                         test_support::backend_name);

}  // namespace
}  // namespace gpumem
