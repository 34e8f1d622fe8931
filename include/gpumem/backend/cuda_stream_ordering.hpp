// CUDA streams and events behind StreamOrdering, for the stream-ordered allocator of one device:
// events are cudaEvent_t without timing, records and waits are cudaEventRecord and
// cudaStreamWaitEvent, and synchronising is cudaDeviceSynchronize. Streams are cudaStream_t
// values: 0 (legacy default), cudaStreamPerThread, or a stream of this device.
//
//   gpumem::CudaStreamOrdering ordering(0);
//   gpumem::StreamOrderedAllocator allocator(governor, ordering);
//
// The class exists in builds with CUDA (GPUMEM_HAS_CUDA). Thread safety: every method may be
// called from several threads at once. Each call makes the device current for its duration and
// restores the caller's current device afterwards.
#pragma once

#include "gpumem/backend/stream_ordering.hpp"

namespace gpumem {

class CudaStreamOrdering final : public StreamOrdering {
 public:
  // The device's CUDA ordinal; Unsupported when CUDA is unavailable.
  explicit CudaStreamOrdering(int ordinal);

  bool is_per_thread(StreamHandle stream) const noexcept override;
  // Errors throw gpumem::Error naming the call.
  EventHandle create_event() override;
  void destroy_event(EventHandle event) noexcept override;
  void record(EventHandle event, StreamHandle stream) override;
  void wait(StreamHandle stream, EventHandle event) override;
  void synchronize(EventHandle event) override;
  void synchronize_device() override;

 private:
  int ordinal_;
};

}  // namespace gpumem
