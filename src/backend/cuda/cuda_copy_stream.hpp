// The stream a CUDA device copies on, and the fences that say when each copy is done: fence n is
// an event recorded after the n-th copy. The stream runs copies in order, so fence n being done
// means every earlier one is done too, and the fences still pending form a queue.
//
//   detail::CudaCopyStream stream(ordinal, "cuda device 0 'NVIDIA H100'");
//   FenceValue fence = stream.copy(dst, src, bytes);
//   stream.wait(fence);
//
// Thread safety: every method may be called from several threads at once. The lock is held
// across cudaMemcpyAsync and cudaEventRecord (neither blocks on pinned or device memory) so that
// fence order is stream order; it is never held across cudaEventSynchronize.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "gpumem/backend/device.hpp"

namespace gpumem::detail {

class CudaCopyStream {
 public:
  // Makes a non-blocking stream on device `ordinal`; `where` prefixes error messages.
  CudaCopyStream(int ordinal, std::string where);
  // Waits for every copy, then destroys the events and the stream.
  ~CudaCopyStream();
  CudaCopyStream(const CudaCopyStream&) = delete;
  CudaCopyStream& operator=(const CudaCopyStream&) = delete;

  // Enqueues a copy of `size` bytes (ranges may overlap, as when defragmentation slides data
  // within a block) and returns its fence.
  FenceValue copy(void* dst, const void* src, std::uint64_t size);
  // For fences this stream issued; the caller checks that.
  bool is_complete(FenceValue fence);
  void wait(FenceValue fence);
  FenceValue last_issued() const noexcept { return issued_.load(std::memory_order_acquire); }

 private:
  struct Pending {
    FenceValue fence = 0;
    cudaEvent_t event = nullptr;
  };
  // Enqueues the copy itself, split into pieces where the ranges overlap. mutex_ must be held.
  void enqueue_copy(char* dst, const char* src, std::uint64_t size);
  // Retires the done fences at the queue's front. mutex_ must be held.
  void retire_done();
  cudaEvent_t take_event();         // mutex_ must be held
  void recycle(cudaEvent_t event);  // mutex_ must be held

  const int ordinal_;
  const std::string where_;
  cudaStream_t stream_ = nullptr;
  std::mutex mutex_;
  std::deque<Pending> pending_;     // fences issued and not known done, oldest first
  std::vector<cudaEvent_t> spare_;  // recorded-and-retired events ready for reuse
  std::uint32_t waiters_ = 0;       // threads in cudaEventSynchronize; mutex_ guards it
  std::atomic<FenceValue> issued_{0};
  std::atomic<FenceValue> completed_{0};
};

}  // namespace gpumem::detail
