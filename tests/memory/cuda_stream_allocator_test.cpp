// The stream-ordered allocator on a real GPU: content survives, stream order holds across
// streams and threads, out of memory is reported and recovered from, trim gives everything back,
// and the pool over cudaMalloc serves where virtual memory is turned off. Without a GPU (or a
// build without CUDA) each test skips with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "support/handoff_queue.hpp"

#if GPUMEM_HAS_CUDA
#include <cuda_runtime_api.h>

#include "gpumem/memory/cuda_stream_allocator.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_CUDA

TEST(CudaStreamAllocator, IsNotBuilt) { GTEST_SKIP() << "built with GPUMEM_WITH_CUDA=OFF"; }

#else

#define SKIP_WITHOUT_GPU()                                              \
  do {                                                                  \
    if (!cuda_availability().available) {                               \
      GTEST_SKIP() << "no CUDA device: " << cuda_availability().detail; \
    }                                                                   \
  } while (false)

void check(cudaError_t e) { ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e); }

// Fills `bytes` at `p` with `value` on `stream` and reads them back after the stream is done.
bool holds(void* p, std::uint64_t bytes, unsigned char value, cudaStream_t stream) {
  std::vector<unsigned char> host(bytes);
  if (cudaMemcpyAsync(host.data(), p, bytes, cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess) {
    return false;
  }
  for (const unsigned char c : host) {
    if (c != value) return false;
  }
  return true;
}

// Two non-blocking streams, forgotten by the allocator and destroyed at the end of the test.
struct StreamPair {
  explicit StreamPair(CudaStreamAllocator& allocator) : gpu(allocator) {
    static_cast<void>(cudaStreamCreateWithFlags(&first, cudaStreamNonBlocking));
    static_cast<void>(cudaStreamCreateWithFlags(&second, cudaStreamNonBlocking));
  }
  ~StreamPair() {
    for (cudaStream_t stream : {first, second}) {
      gpu.forget_stream(stream);
      static_cast<void>(cudaStreamDestroy(stream));
    }
  }
  StreamPair(const StreamPair&) = delete;
  StreamPair& operator=(const StreamPair&) = delete;

  CudaStreamAllocator& gpu;
  cudaStream_t first = nullptr;
  cudaStream_t second = nullptr;
};

TEST(CudaStreamAllocator, KeepsContentAndReusesOnTheSameStream) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu;
  EXPECT_EQ(gpu.backing_name(), "arena");
  void* p = gpu.allocate(3 * kMiB + 5);
  check(cudaMemsetAsync(p, 0x5a, 3 * kMiB + 5, nullptr));
  EXPECT_TRUE(holds(p, 3 * kMiB + 5, 0x5a, nullptr));
  gpu.deallocate(p, 3 * kMiB + 5);
  void* q = gpu.allocate(3 * kMiB + 5);
  EXPECT_EQ(q, p);
  gpu.deallocate(q, 3 * kMiB + 5);
  EXPECT_EQ(gpu.stats().stream_waits, 0U);
}

TEST(CudaStreamAllocator, MetricsCarryTheGovernorsBudgetAndPressure) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu;
  void* p = gpu.allocate(8 * kMiB);
  const MetricsSnapshot m = gpu.metrics();
  const HeapFigures& h = m.heaps.at(CudaDevice::kDeviceLocalHeap);
  EXPECT_GT(h.budget_hard, 0u);
  EXPECT_EQ(h.budget_hard, gpu.governor().budget().hard());
  EXPECT_EQ(h.budget_soft, gpu.governor().budget().soft());
  EXPECT_GT(h.driver_budget, 0u) << "cudaMemGetInfo's figure";
  EXPECT_EQ(h.pressure, gpu.governor().pressure());
  EXPECT_GE(h.reserved_bytes, 8 * kMiB);
  EXPECT_TRUE(m.within_budget);
  gpu.deallocate(p, 8 * kMiB);
}

TEST(CudaStreamAllocator, AnotherStreamRunsOnlyAfterTheFreeingStreamsWork) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu;
  const StreamPair s(gpu);
  cudaStream_t a = s.first;
  cudaStream_t b = s.second;
  constexpr std::uint64_t kBytes = 256 * kMiB;
  void* p = gpu.allocate(kBytes, a);
  for (int i = 0; i < 20; ++i) check(cudaMemsetAsync(p, i, kBytes, a));  // long work on a
  gpu.deallocate(p, kBytes, a);
  void* q = gpu.allocate(kBytes, b);
  EXPECT_EQ(gpu.stats().stream_waits, 1U);
  check(cudaMemsetAsync(q, 0x77, kBytes, b));
  check(cudaStreamSynchronize(b));
  // b waited for a's memsets: they are all done, and b's write came last.
  EXPECT_EQ(cudaStreamQuery(a), cudaSuccess);
  EXPECT_TRUE(holds(q, kBytes, 0x77, b));
  gpu.deallocate(q, kBytes, b);
}

TEST(CudaStreamAllocator, ProducerAndConsumerThreadsOnTheirOwnStreams) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu;
  const StreamPair s(gpu);  // first produces, second consumes
  // Bounded, so the consumer keeps up and the budget is never the limit.
  test_support::HandoffQueue<std::pair<void*, std::uint64_t> > queue(64);
  constexpr int kItems = 300;
  std::atomic<int> bad{0};
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      const std::uint64_t bytes = 4096 * (1 + static_cast<std::uint64_t>(i) * 7919 % 2000);
      void* p = gpu.allocate(bytes, s.first);
      if (cudaMemsetAsync(p, i & 0xff, bytes, s.first) != cudaSuccess) ++bad;
      if (cudaStreamSynchronize(s.first) != cudaSuccess) ++bad;  // handed over when written
      queue.push({p, bytes});
    }
  });
  std::thread consumer([&] {
    for (int i = 0; i < kItems; ++i) {
      const auto [p, bytes] = queue.pop();
      if (!holds(p, bytes, static_cast<unsigned char>(i & 0xff), s.second)) ++bad;
      gpu.deallocate(p, bytes, s.second);
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(gpu.stats().heap.live_count, 0U);
  EXPECT_GE(gpu.stats().stream_waits, 1U);
}

TEST(CudaStreamAllocator, PerThreadDefaultStreamsFromTwoThreads) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu;
  std::atomic<int> bad{0};
  const auto work = [&](unsigned char value) {
    for (int i = 0; i < 50; ++i) {
      void* p = gpu.allocate(1 * kMiB, cudaStreamPerThread);
      if (cudaMemsetAsync(p, value, 1 * kMiB, cudaStreamPerThread) != cudaSuccess) ++bad;
      if (!holds(p, 1 * kMiB, value, cudaStreamPerThread)) ++bad;
      gpu.deallocate(p, 1 * kMiB, cudaStreamPerThread);
    }
  };
  std::thread one(work, 1);
  std::thread two(work, 2);
  one.join();
  two.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(gpu.stats().streams, 2U);
}

TEST(CudaStreamAllocator, FullBudgetThrowsWithFactsAndRecovers) {
  SKIP_WITHOUT_GPU();
  CudaAllocatorOptions options;
  options.config.heap_budgets["device-local"] = {.soft = 0, .hard = 1 * kGiB};
  CudaStreamAllocator gpu(options);
  std::vector<void*> held;
  try {
    for (;;) held.push_back(gpu.allocate(64 * kMiB));
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.facts().heap, "device-local");
    EXPECT_EQ(e.facts().requested, 64 * kMiB);
    EXPECT_EQ(e.facts().budget, 1 * kGiB);
    EXPECT_EQ(e.facts().live, 1 * kGiB);
    EXPECT_EQ(e.facts().reserved, 1 * kGiB);
  }
  EXPECT_EQ(held.size(), 16U);
  for (void* p : held) gpu.deallocate(p, 64 * kMiB);
  gpu.trim();
  EXPECT_EQ(gpu.stats().heap.reserved_bytes, 0U);
  EXPECT_EQ(gpu.governor().budget().own_usage(), 0U);
  held.clear();
  for (int i = 0; i < 16; ++i) held.push_back(gpu.allocate(64 * kMiB));
  for (void* p : held) gpu.deallocate(p, 64 * kMiB);
}

TEST(CudaStreamAllocator, CallbacksFreeAndTheRequestIsRetried) {
  SKIP_WITHOUT_GPU();
  CudaAllocatorOptions options;
  options.config.heap_budgets["device-local"] = {.soft = 0, .hard = 256 * kMiB};
  CudaStreamAllocator gpu(options);
  std::vector<void*> held;
  held.reserve(5);
  for (int i = 0; i < 4; ++i) held.push_back(gpu.allocate(64 * kMiB));
  int calls = 0;
  gpu.on_out_of_memory([&](const MemoryFacts&) {
    ++calls;
    if (held.empty()) return false;
    gpu.deallocate(held.back(), 64 * kMiB);
    held.pop_back();
    return true;
  });
  held.push_back(gpu.allocate(64 * kMiB));
  EXPECT_EQ(calls, 1);
  for (void* p : held) gpu.deallocate(p, 64 * kMiB);
}

TEST(CudaStreamAllocator, FallsBackToCudaMallocBlocksWithoutVirtualMemory) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu({.virtual_memory = false});
  EXPECT_EQ(gpu.backing_name(), "pool");
  std::vector<void*> held;
  for (int i = 1; i <= 40; ++i) {
    void* p = gpu.allocate(static_cast<std::uint64_t>(i) * 100 * kKiB);
    check(cudaMemsetAsync(p, i, static_cast<std::uint64_t>(i) * 100 * kKiB, nullptr));
    held.push_back(p);
  }
  for (std::size_t i = 1; i <= 40; ++i) {
    EXPECT_TRUE(holds(held[i - 1], i * 100 * kKiB, static_cast<unsigned char>(i), nullptr));
    gpu.deallocate(held[i - 1], i * 100 * kKiB);
  }
  gpu.trim();
  EXPECT_EQ(gpu.stats().heap.reserved_bytes, 0U);
}

// Both threads produce and both consume: each allocates on its own stream, writes, records an
// event and hands the block over without waiting; the other makes its stream wait for the event,
// checks the content and frees the block on its own stream. Frees come from two threads on two
// streams at once, each of memory the other stream last wrote.
TEST(CudaStreamAllocator, TwoThreadsFreeEachOthersBlocksOnTheirOwnStreams) {
  SKIP_WITHOUT_GPU();
  CudaStreamAllocator gpu;
  const StreamPair s(gpu);
  struct Handoff {
    void* p;
    std::uint64_t bytes;
    unsigned char value;
    cudaEvent_t written;
  };
  test_support::HandoffQueue<Handoff> to_second(32);
  test_support::HandoffQueue<Handoff> to_first(32);
  constexpr int kItems = 200;
  std::atomic<int> bad{0};
  const auto side = [&](cudaStream_t mine, test_support::HandoffQueue<Handoff>& out,
                        test_support::HandoffQueue<Handoff>& in, int salt) {
    for (int i = 0; i < kItems; ++i) {
      const std::uint64_t bytes = 4096 * (1 + static_cast<std::uint64_t>(i + salt) * 7919 % 1500);
      const auto value = static_cast<unsigned char>((i * 2 + salt) & 0xff);
      void* p = gpu.allocate(bytes, mine);
      cudaEvent_t written = nullptr;
      if (cudaEventCreateWithFlags(&written, cudaEventDisableTiming) != cudaSuccess ||
          cudaMemsetAsync(p, value, bytes, mine) != cudaSuccess ||
          cudaEventRecord(written, mine) != cudaSuccess) {
        ++bad;
      }
      out.push({p, bytes, value, written});
      const Handoff h = in.pop();
      if (cudaStreamWaitEvent(mine, h.written, 0) != cudaSuccess) ++bad;
      if (!holds(h.p, h.bytes, h.value, mine)) ++bad;
      static_cast<void>(cudaEventDestroy(h.written));
      gpu.deallocate(h.p, h.bytes, mine);
    }
  };
  std::thread first(side, s.first, std::ref(to_second), std::ref(to_first), 0);
  std::thread second(side, s.second, std::ref(to_first), std::ref(to_second), 1);
  first.join();
  second.join();
  EXPECT_EQ(bad.load(), 0);
  const StreamAllocatorStats stats = gpu.stats();
  EXPECT_EQ(stats.heap.live_count, 0U);
  EXPECT_EQ(stats.streams, 2U);
  gpu.trim();
  EXPECT_EQ(gpu.stats().heap.reserved_bytes, 0U);
}

// Allocates 1 GiB blocks until the device (not a budget) is full, frees them all, trims, and
// does it again: nothing leaked, gpumem's footprint and the driver's free memory back where
// they were, the same number of blocks the second time. On the arena and on the pool.
TEST(CudaStreamAllocator, FillsTheDeviceFreesEverythingAndFillsItAgain) {
  SKIP_WITHOUT_GPU();
  constexpr std::uint64_t kChunk = kGiB;
  for (const bool virtual_memory : {true, false}) {
    SCOPED_TRACE(virtual_memory ? "arena" : "pool");
    CudaAllocatorOptions options{.virtual_memory = virtual_memory};
    options.config.gpu_memory_fraction = 1.0;  // the budget is the whole device
    options.config.min_free_bytes = 0;
    CudaStreamAllocator gpu(options);
    std::size_t free_before = 0;
    std::size_t total = 0;
    check(cudaMemGetInfo(&free_before, &total));
    const auto fill = [&] {
      std::vector<void*> held;
      try {
        for (;;) held.push_back(gpu.allocate(kChunk));
      } catch (const OutOfMemory& e) {
        EXPECT_EQ(e.facts().requested, kChunk);
        EXPECT_EQ(e.facts().live, held.size() * kChunk);
      }
      return held;
    };
    const std::vector<void*> first = fill();
    // The device's memory is the limit (less a chunk the driver or a partly used page keeps).
    EXPECT_GE((first.size() + 2) * kChunk, free_before) << first.size() << " blocks";
    ASSERT_FALSE(first.empty());
    check(cudaMemsetAsync(first.back(), 0x3c, kChunk, nullptr));  // real memory, to the last
    EXPECT_TRUE(holds(first.back(), kChunk, 0x3c, nullptr));
    for (void* p : first) gpu.deallocate(p, kChunk);
    gpu.trim();
    EXPECT_EQ(gpu.stats().heap.reserved_bytes, 0U);
    EXPECT_EQ(gpu.stats().heap.live_count, 0U);
    EXPECT_EQ(gpu.governor().budget().own_usage(), 0U);
    std::size_t free_after = 0;
    check(cudaMemGetInfo(&free_after, &total));
    EXPECT_GE(free_after + kChunk / 16, free_before);  // the driver may keep a few MiB
    const std::vector<void*> second = fill();
    EXPECT_EQ(second.size(), first.size());
    for (void* p : second) gpu.deallocate(p, kChunk);
    gpu.trim();
    EXPECT_EQ(gpu.stats().heap.reserved_bytes, 0U);
  }
}

TEST(CudaStreamAllocator, PeersGetAccessOnRequest) {
  SKIP_WITHOUT_GPU();
  if (cuda_availability().device_count < 2) GTEST_SKIP() << "one CUDA device: no peer to test";
  CudaStreamAllocator gpu0({.device = 0});
  int can = 0;
  check(cudaDeviceCanAccessPeer(&can, 1, 0));
  if (can == 0) GTEST_SKIP() << "device 1 cannot access device 0";
  void* before = gpu0.allocate(4 * kMiB);
  gpu0.enable_peer_access(1);
  void* after = gpu0.allocate(4 * kMiB);
  check(cudaSetDevice(1));
  check(cudaMemset(before, 1, 4 * kMiB));  // device 1 writes device 0's memory
  check(cudaMemset(after, 2, 4 * kMiB));
  check(cudaDeviceSynchronize());
  check(cudaSetDevice(0));
  EXPECT_TRUE(holds(before, 4 * kMiB, 1, nullptr));
  EXPECT_TRUE(holds(after, 4 * kMiB, 2, nullptr));
  gpu0.deallocate(before, 4 * kMiB);
  gpu0.deallocate(after, 4 * kMiB);
}

#endif

}  // namespace
}  // namespace gpumem
