// AsyncReadback on every backend: content of downloads small and split over several buffers,
// collected in any order; polling; max_pending_ops; a steady stream allocating nothing; results
// discarded when nobody collects them; destruction with copies pending; several threads; the
// seeds' named-buffer pattern. Gated cases decide when copies complete.
#include "gpumem/transfer/async_readback.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "transfer/transfer_fixture.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class AsyncReadbackTest : public test_support::TransferTest {
 protected:
  std::unique_ptr<Manager> usable_manager(bool gated = false) {
    return TransferTest::usable_manager(gated, {}, [](Manager& m) {
      // The simulator has no readback heap either: its upload heap is what cannot be mapped.
      EXPECT_THROW(AsyncReadback(m, {.pre_allocate = 1, .heap = m.heap_for(HeapKind::Upload)}),
                   Unsupported);
    });
  }
  // Device memory holding pattern(size, seed).
  Allocation source(Manager& m, std::uint64_t size, unsigned seed) {
    Allocation a = device_buffer(m, size);
    write(m, a, test_support::pattern(size, seed));
    return a;
  }
  static bool same(const std::vector<std::byte>& got, std::uint64_t size, unsigned seed) {
    const std::vector<std::byte> want = test_support::pattern(size, seed);
    return got.size() == size &&
           test_support::checksum(got.data(), size) == test_support::checksum(want.data(), size);
  }
};

TEST_P(AsyncReadbackTest, DownloadsCollectedInAnyOrderHoldTheirBytes) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m, {.buffer_size = 256 * kKiB, .pre_allocate = 2, .copy_threads = 2});
  Allocation small = source(*m, 1000, 1);
  Allocation large = source(*m, kMiB + 4097, 2);  // five buffers
  Allocation middle = source(*m, 256 * kKiB, 3);
  const TransferTicket a = readback.start_download(small);
  const TransferTicket b = readback.start_download(large);
  const TransferTicket c = readback.start_download(middle, 4096, 8192);
  EXPECT_EQ(readback.statistics().pending, 3U);
  std::vector<std::byte> part(8192);
  readback.wait_download(c, part);
  EXPECT_EQ(test_support::checksum(part.data(), part.size()),
            test_support::checksum(test_support::pattern(256 * kKiB, 3).data() + 4096, 8192));
  EXPECT_TRUE(same(readback.wait_download(b), large.size(), 2));
  EXPECT_TRUE(same(readback.wait_download(a), small.size(), 1));
  const ReadbackStatistics s = readback.statistics();
  EXPECT_EQ(s.collected, 3U);
  EXPECT_EQ(s.bytes_collected, 1000 + kMiB + 4097 + 8192);
  EXPECT_EQ(s.pending, 0U);
  EXPECT_EQ(s.buffers, 2U);  // back to the pre-allocated pool after the spike
  EXPECT_EQ(staging_bytes(*m), 2 * 256 * kKiB);
  EXPECT_THROW(readback.wait_download(a), InvalidHandle);  // collected once
}

TEST_P(AsyncReadbackTest, CompletionsInAnyOrderArePolledWithoutBlocking) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m, {.buffer_size = 64 * kKiB, .pre_allocate = 2});
  Allocation first = source(*m, 64 * kKiB, 4);
  Allocation second = source(*m, 64 * kKiB, 5);
  const FenceValue before = gate_->issued();
  const TransferTicket a = readback.start_download(first);
  const TransferTicket b = readback.start_download(second);
  EXPECT_FALSE(readback.try_get(a));
  EXPECT_FALSE(readback.is_complete(b));
  gate_->release(before + 2);  // the second completes first
  EXPECT_FALSE(readback.is_complete(a));
  const std::optional<std::vector<std::byte>> got = readback.try_get(b);
  ASSERT_TRUE(got);
  EXPECT_TRUE(same(*got, 64 * kKiB, 5));
  EXPECT_FALSE(readback.try_get(a));  // still pending, still collectable
  gate_->release(before + 1);
  std::vector<std::byte> out(64 * kKiB);
  EXPECT_TRUE(readback.try_get(a, out));
  EXPECT_TRUE(same(out, 64 * kKiB, 4));
}

TEST_P(AsyncReadbackTest, RefusesDownloadsBeyondMaxPendingOps) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m, {.buffer_size = 64 * kKiB, .pre_allocate = 2, .max_pending_ops = 2});
  Allocation src = source(*m, 64 * kKiB, 6);
  const TransferTicket a = readback.start_download(src);
  readback.start_download(src);
  try {
    readback.start_download(src);
    ADD_FAILURE() << "a third download started with max_pending_ops 2";
  } catch (const TransferQueueFull& e) {
    EXPECT_THAT(e.what(), HasSubstr("max_pending_ops"));
  }
  EXPECT_FALSE(readback.try_start_download(src.block(), src.offset(), src.size()));
  gate_->set_open(true);
  gate_->release_all();
  EXPECT_TRUE(same(readback.wait_download(a), 64 * kKiB, 6));
  EXPECT_TRUE(readback.try_start_download(src.block(), src.offset(), src.size()));
}

TEST_P(AsyncReadbackTest, SteadyDownloadsAllocateNothingAfterPreAllocation) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m, {.buffer_size = 128 * kKiB, .pre_allocate = 1});
  readback.pre_allocate(3);
  EXPECT_EQ(readback.statistics().pooled, 3U);
  Allocation src = source(*m, 128 * kKiB, 7);
  for (int round = 0; round < 20; ++round) {
    std::vector<TransferTicket> tickets;
    for (int i = 0; i < 3; ++i) tickets.push_back(readback.start_download(src));
    for (const TransferTicket t : tickets)
      EXPECT_TRUE(same(readback.wait_download(t), src.size(), 7));
  }
  EXPECT_EQ(readback.statistics().buffer_allocations, 0U);
  EXPECT_EQ(readback.statistics().collected, 60U);
}

TEST_P(AsyncReadbackTest, DiscardsResultsNobodyCollects) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m, {.buffer_size = 64 * kKiB, .pre_allocate = 2, .discard_after = 20ms});
  Allocation src = source(*m, 64 * kKiB, 8);
  const FenceValue before = gate_->issued();
  const TransferTicket done = readback.start_download(src);
  const TransferTicket running = readback.start_download(src);
  const TransferTicket spike = readback.start_download(src);  // a third buffer, made now
  gate_->release(before + 1);
  gate_->release(before + 3);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(readback.discard_expired(), 2U);  // not the one still being written
  EXPECT_THROW(readback.try_get(done), InvalidHandle);
  EXPECT_THROW(readback.is_complete(spike), InvalidHandle);
  EXPECT_EQ(readback.statistics().pending, 1U);
  gate_->release(before + 2);
  std::this_thread::sleep_for(1ms);
  EXPECT_EQ(readback.discard_expired(), 1U);
  EXPECT_THROW(readback.wait_download(running), InvalidHandle);
  const ReadbackStatistics s = readback.statistics();
  EXPECT_EQ(s.discarded, 3U);
  EXPECT_EQ(s.buffers, 2U);  // the spike's buffer went back to the manager
  EXPECT_EQ(staging_bytes(*m), 2 * 64 * kKiB);
}

TEST_P(AsyncReadbackTest, DestroyingWithDownloadsPendingWaitsForThemAndFreesTheBuffers) {
  auto m = usable_manager(true);
  SKIP_WITHOUT_BYTES();
  Allocation src = source(*m, 64 * kKiB, 9);
  std::atomic<bool> released{false};
  std::thread releaser;
  {
    AsyncReadback readback(*m, {.buffer_size = 64 * kKiB, .pre_allocate = 1});
    readback.start_download(src);
    readback.start_download(src);
    releaser = std::thread([&] {
      std::this_thread::sleep_for(50ms);
      released = true;
      gate_->release_all();
    });
  }
  EXPECT_TRUE(released.load());
  releaser.join();
  EXPECT_EQ(staging_bytes(*m), 0U);
}

TEST_P(AsyncReadbackTest, SeveralThreadsDownloadAtOnce) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m, {.buffer_size = 64 * kKiB, .pre_allocate = 4});
  constexpr unsigned kThreads = 6;
  std::vector<Allocation> sources;
  for (unsigned t = 0; t < kThreads; ++t) sources.push_back(source(*m, 100 * kKiB + t, 20 + t));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        if (!same(readback.wait_download(readback.start_download(sources[t])), 100 * kKiB + t,
                  20 + t)) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(readback.statistics().collected, kThreads * 15);
}

TEST_P(AsyncReadbackTest, NamedBufferPatternOfTheSeeds) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  AsyncReadback readback(*m);
  std::map<std::string, Allocation> buffers;
  buffers.emplace("positions", source(*m, 3000, 30));
  buffers.emplace("normals", source(*m, 5000, 31));
  std::map<std::string, TransferTicket> pending;
  const auto start_async_download = [&](const std::string& name) {
    pending[name] = readback.start_download(buffers.at(name));
  };
  const auto wait_for_download = [&](const std::string& name) {
    return readback.wait_download(pending.extract(name).mapped());
  };
  start_async_download("positions");
  start_async_download("normals");
  EXPECT_TRUE(same(wait_for_download("normals"), 5000, 31));
  EXPECT_TRUE(same(wait_for_download("positions"), 3000, 30));
}

TEST_P(AsyncReadbackTest, RefusesBadOptionsRangesAndOutputs) {
  auto m = usable_manager();
  SKIP_WITHOUT_BYTES();
  EXPECT_THROW(AsyncReadback(*m, {.buffer_size = 0}), InvalidArgument);
  EXPECT_THROW(AsyncReadback(*m, {.max_pending_ops = 0}), InvalidArgument);
  AsyncReadback readback(*m, {.buffer_size = 4096, .pre_allocate = 1});
  Allocation src = source(*m, 4096, 40);
  EXPECT_THROW(readback.start_download(src, 1, 4096), InvalidArgument);
  const TransferTicket t = readback.start_download(src);
  std::vector<std::byte> wrong(100);
  try {
    readback.wait_download(t, wrong);
    ADD_FAILURE() << "a 100-byte output took a 4096-byte download";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("4096 bytes"));
  }
  EXPECT_TRUE(same(readback.wait_download(t), 4096, 40));  // still collectable
  EXPECT_THROW(readback.is_complete(TransferTicket{999}), InvalidHandle);
  EXPECT_TRUE(readback.wait_download(readback.start_download(src, 0, 0)).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, AsyncReadbackTest, ::testing::ValuesIn(test_support::backends()),
                         test_support::backend_name);

}  // namespace
}  // namespace gpumem
