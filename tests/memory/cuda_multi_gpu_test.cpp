// One stream-ordered allocator per GPU on a machine with two or more: allocations made from
// many threads land on the allocator's own device and nowhere else (the driver's pointer
// attributes and the content of every block say so), the calling thread's current device is
// left alone, and peer access, once requested, lets one device copy into and write another's
// allocations. With fewer than two CUDA devices (or a build without CUDA) each test skips with
// the reason.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gpumem/core/units.hpp"

#if GPUMEM_HAS_CUDA
#include <cuda_runtime_api.h>

#include "gpumem/memory/cuda_stream_allocator.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_CUDA

TEST(CudaMultiGpu, IsNotBuilt) { GTEST_SKIP() << "built with GPUMEM_WITH_CUDA=OFF"; }

#else

void check(cudaError_t e) { ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e); }

// The CUDA device ordinal the driver says `p` belongs to; -1 when it is not device memory.
int owner_of(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess || a.type != cudaMemoryTypeDevice) return -1;
  return a.device;
}

// Whether every byte of [p, p + bytes) on `device` is `value`. The copy is issued by the block's
// own device: pages on CUDA virtual memory are mapped for it (and granted peers) only.
bool holds(const void* p, std::uint64_t bytes, unsigned char value, int device) {
  std::vector<unsigned char> host(bytes);
  if (cudaSetDevice(device) != cudaSuccess ||
      cudaMemcpy(host.data(), p, bytes, cudaMemcpyDeviceToHost) != cudaSuccess) {
    return false;
  }
  for (const unsigned char c : host) {
    if (c != value) return false;
  }
  return true;
}

class CudaMultiGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    const CudaAvailability& cuda = cuda_availability();
    if (!cuda.available) GTEST_SKIP() << "no CUDA device: " << cuda.detail;
    if (cuda.device_count < 2) {
      GTEST_SKIP() << "needs 2 CUDA devices, found " << cuda.device_count;
    }
    devices_ = static_cast<int>(cuda.device_count);
  }

  int devices_ = 0;
};

struct Block {
  void* p;
  std::uint64_t bytes;
  int device;
  unsigned char value;
};

// Four threads per device. Each makes its device current and allocates on a stream of its own
// from its device's allocator and, with the legacy default stream, from the next device's
// allocator (so an allocator is called from threads whose current device is another). Every
// block is filled with a value of its own; only once all threads are done is every block checked
// for its device and its value: memory shared between devices would have been overwritten.
TEST_F(CudaMultiGpu, EachDevicesAllocationsStayOnItFromManyThreads) {
  for (const bool virtual_memory : {true, false}) {
    SCOPED_TRACE(virtual_memory ? "arena" : "pool");
    std::vector<std::unique_ptr<CudaStreamAllocator> > gpus;
    gpus.reserve(static_cast<std::size_t>(devices_));
    for (int d = 0; d < devices_; ++d) {
      gpus.push_back(std::make_unique<CudaStreamAllocator>(CudaAllocatorOptions{
          .device = static_cast<std::uint32_t>(d), .virtual_memory = virtual_memory}));
    }
    constexpr int kThreadsPerDevice = 4;
    constexpr int kBlocksPerThread = 24;
    std::mutex mutex;
    std::vector<Block> blocks;
    std::vector<cudaStream_t> streams;  // destroyed once their blocks are freed
    std::vector<std::string> problems;
    std::atomic<unsigned> next_value{1};
    const auto worker = [&](int home) {
      const auto report = [&](const std::string& what) {
        const std::lock_guard lock(mutex);
        problems.push_back("thread on device " + std::to_string(home) + ": " + what);
      };
      if (cudaSetDevice(home) != cudaSuccess) return report("cudaSetDevice failed");
      cudaStream_t stream = nullptr;
      if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
        return report("cudaStreamCreate failed");
      }
      std::vector<Block> mine;
      for (int i = 0; i < kBlocksPerThread; ++i) {
        const bool away = i % 3 == 2;
        const int device = away ? (home + 1) % devices_ : home;
        const cudaStream_t on = away ? nullptr : stream;
        const std::uint64_t bytes = (1 + static_cast<std::uint64_t>(i) * 37 % 9) * kMiB + 256;
        const auto value = static_cast<unsigned char>(next_value.fetch_add(1) % 251 + 1);
        void* p = gpus[static_cast<std::size_t>(device)]->allocate(bytes, on);
        int current = -1;
        if (cudaGetDevice(&current) != cudaSuccess || current != home) {
          report("the allocator changed the current device to " + std::to_string(current));
        }
        // Written on the stream it was allocated on, by its own device (see holds()).
        if (cudaSetDevice(device) != cudaSuccess ||
            cudaMemsetAsync(p, value, bytes, on) != cudaSuccess ||
            cudaSetDevice(home) != cudaSuccess) {
          report("cudaMemsetAsync failed");
        }
        mine.push_back({p, bytes, device, value});
      }
      if (cudaStreamSynchronize(stream) != cudaSuccess) report("cudaStreamSynchronize failed");
      const std::lock_guard lock(mutex);
      blocks.insert(blocks.end(), mine.begin(), mine.end());
      streams.push_back(stream);
    };
    std::vector<std::thread> threads;
    for (int d = 0; d < devices_; ++d) {
      for (int t = 0; t < kThreadsPerDevice; ++t) threads.emplace_back(worker, d);
    }
    for (std::thread& t : threads) t.join();
    for (const std::string& problem : problems) ADD_FAILURE() << problem;
    ASSERT_EQ(blocks.size(),
              static_cast<std::size_t>(devices_ * kThreadsPerDevice * kBlocksPerThread));
    for (int d = 0; d < devices_; ++d) {
      check(cudaSetDevice(d));
      check(cudaDeviceSynchronize());  // the legacy-stream writes of the away blocks
    }
    for (const Block& b : blocks) {
      EXPECT_EQ(owner_of(b.p), b.device) << b.p;
      EXPECT_TRUE(holds(b.p, b.bytes, b.value, b.device)) << b.p << " on device " << b.device;
    }
    for (const Block& b : blocks)
      gpus[static_cast<std::size_t>(b.device)]->deallocate(b.p, b.bytes);
    for (int d = 0; d < devices_; ++d) {
      const StreamAllocatorStats s = gpus[static_cast<std::size_t>(d)]->stats();
      EXPECT_EQ(s.heap.live_count, 0U) << "device " << d;
      EXPECT_GT(s.heap.peak_reserved_bytes, 0U) << "device " << d;
    }
    gpus.clear();  // the allocators let go of the streams before they are destroyed
    for (cudaStream_t s : streams) check(cudaStreamDestroy(s));
  }
  check(cudaSetDevice(0));
}

// Peer access on request: each allocator lets the other device in, then device 1 copies device
// 0's block into its own (cudaMemcpyPeerAsync on one of its streams) and writes device 0's memory
// directly (a memset on device 1 through the mapping); both are checked byte for byte, and the
// blocks still belong to their own devices.
TEST_F(CudaMultiGpu, PeerAccessOnRequestCopiesAndWritesAcrossDevices) {
  int can_01 = 0;
  int can_10 = 0;
  check(cudaDeviceCanAccessPeer(&can_01, 0, 1));
  check(cudaDeviceCanAccessPeer(&can_10, 1, 0));
  if (can_01 == 0 || can_10 == 0) GTEST_SKIP() << "devices 0 and 1 cannot access each other";
  for (const bool virtual_memory : {true, false}) {
    SCOPED_TRACE(virtual_memory ? "arena" : "pool");
    CudaStreamAllocator gpu0({.device = 0, .virtual_memory = virtual_memory});
    CudaStreamAllocator gpu1({.device = 1, .virtual_memory = virtual_memory});
    gpu0.enable_peer_access(1);
    gpu1.enable_peer_access(0);
    constexpr std::uint64_t kBytes = 48 * kMiB + 4096;
    void* on0 = gpu0.allocate(kBytes);
    void* on1 = gpu1.allocate(kBytes);
    std::vector<unsigned char> pattern(kBytes);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      pattern[i] = static_cast<unsigned char>((i * 2654435761U) >> 13);
    }
    check(cudaMemcpy(on0, pattern.data(), kBytes, cudaMemcpyHostToDevice));

    check(cudaSetDevice(1));
    cudaStream_t stream = nullptr;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    check(cudaMemcpyPeerAsync(on1, 1, on0, 0, kBytes, stream));
    check(cudaStreamSynchronize(stream));
    std::vector<unsigned char> back(kBytes);
    check(cudaMemcpy(back.data(), on1, kBytes, cudaMemcpyDeviceToHost));
    EXPECT_EQ(back, pattern);

    // Device 1 writes device 0's memory in place: works only through peer access.
    check(cudaMemsetAsync(on0, 0xa5, kBytes, stream));
    check(cudaStreamSynchronize(stream));
    check(cudaStreamDestroy(stream));
    check(cudaSetDevice(0));
    EXPECT_TRUE(holds(on0, kBytes, 0xa5, 0));
    EXPECT_EQ(owner_of(on0), 0);
    EXPECT_EQ(owner_of(on1), 1);
    gpu0.deallocate(on0, kBytes);
    gpu1.deallocate(on1, kBytes);
  }
}

#endif

}  // namespace
}  // namespace gpumem
