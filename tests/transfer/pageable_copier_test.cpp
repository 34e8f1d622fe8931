// PageableCopier on every backend: ordinary host memory to device memory and back through a few
// chunks, content checked, nothing allocated after construction, several threads at once.
#include "gpumem/transfer/pageable_copier.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "transfer/transfer_fixture.hpp"

namespace gpumem {
namespace {

class PageableCopierTest : public test_support::TransferTest {
 protected:
  void SetUp() override {
    TransferTest::SetUp();
    if (IsSkipped()) return;
    manager_ = manager();
    if (const std::string why = no_bytes_reason(*manager_); !why.empty()) GTEST_SKIP() << why;
  }
  // Chunks small enough that the copies below take many of them.
  static constexpr PageableCopierOptions kSmall{
      .chunk_size = 256 * kKiB, .chunks = 3, .copy_threads = 3};
  std::unique_ptr<Manager> manager_;
};

TEST_P(PageableCopierTest, RoundTripsPageableMemoryThroughAFewChunks) {
  PageableCopier copier(*manager_, kSmall);
  const std::uint64_t held = manager_->metrics().total.live_bytes;
  Allocation device = device_buffer(*manager_, 6 * kMiB);
  for (unsigned round = 0; round < 3; ++round) {
    const std::vector<std::byte> sent = test_support::pattern(5 * kMiB + 12345 * round, 50 + round);
    copier.upload(sent, device, 777);
    expect_content(*manager_, device, 777, sent);
    std::vector<std::byte> got(sent.size());
    copier.download(device, 777, got);
    EXPECT_EQ(test_support::checksum(got.data(), got.size()),
              test_support::checksum(sent.data(), sent.size()));
  }
  // Steady state: the chunks made at construction did all the work.
  EXPECT_EQ(copier.readback().statistics().buffer_allocations, 0U);
  EXPECT_EQ(copier.ring().statistics().capacity, 3 * 256 * kKiB);
  EXPECT_EQ(copier.ring().statistics().grows, 0U);
  EXPECT_EQ(manager_->metrics().total.live_bytes, held + device.size());
  EXPECT_GT(copier.ring().statistics().chunks, 3 * 20U);
}

TEST_P(PageableCopierTest, SeveralThreadsCopyAtOnce) {
  PageableCopier copier(*manager_, kSmall);
  constexpr unsigned kThreads = 4;
  constexpr std::uint64_t kSize = kMiB + 999;
  Allocation device = device_buffer(*manager_, kThreads * 2 * kMiB);
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (unsigned i = 0; i < 4; ++i) {
        const std::vector<std::byte> sent = test_support::pattern(kSize, t * 10 + i);
        copier.upload(sent, device, t * 2 * kMiB);
        std::vector<std::byte> got(kSize);
        copier.download(device, t * 2 * kMiB, got);
        if (got != sent) ++wrong[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (unsigned t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST_P(PageableCopierTest, RefusesBadOptionsAndRanges) {
  EXPECT_THROW(PageableCopier(*manager_, {.chunk_size = 0}), InvalidArgument);
  EXPECT_THROW(PageableCopier(*manager_, {.chunk_size = kMiB, .chunks = 1}), InvalidArgument);
  PageableCopier copier(*manager_, kSmall);
  Allocation device = device_buffer(*manager_, kMiB);
  std::vector<std::byte> bytes(kMiB);
  EXPECT_THROW(copier.upload(bytes, device, 1), InvalidArgument);
  EXPECT_THROW(copier.download(device, 1, bytes), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, PageableCopierTest,
                         ::testing::ValuesIn(test_support::backends()), test_support::backend_name);

}  // namespace
}  // namespace gpumem
