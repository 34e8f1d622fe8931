#include "gpumem/backend/cuda_stream_ordering.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <string>

#include "backend/cuda/cuda_check.hpp"
#include "gpumem/backend/cuda_device.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// Makes `ordinal` current for one call and gives the caller its own device back: the
// allocator is called from programs (PyTorch among them) that keep their own current device.
class ScopedDevice {
 public:
  explicit ScopedDevice(int ordinal) {
    if (cudaGetDevice(&previous_) != cudaSuccess) {
      static_cast<void>(cudaGetLastError());
      previous_ = -1;
    }
    if (previous_ != ordinal) {
      detail::activate_device(ordinal, fmt::format("cuda device {}", ordinal));
    } else {
      previous_ = -1;
    }
  }
  ~ScopedDevice() {
    if (previous_ >= 0) static_cast<void>(cudaSetDevice(previous_));
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = -1;
};

cudaEvent_t as_event(EventHandle e) { return reinterpret_cast<cudaEvent_t>(e); }
cudaStream_t as_stream(StreamHandle s) { return reinterpret_cast<cudaStream_t>(s); }

}  // namespace

CudaStreamOrdering::CudaStreamOrdering(int ordinal) : ordinal_(ordinal) {
  const CudaAvailability& cuda = cuda_availability();
  if (!cuda.available) throw Unsupported("cuda: unavailable: " + cuda.detail);
}

bool CudaStreamOrdering::is_per_thread(StreamHandle stream) const noexcept {
  return stream == reinterpret_cast<StreamHandle>(cudaStreamPerThread);
}

EventHandle CudaStreamOrdering::create_event() {
  const ScopedDevice device(ordinal_);
  cudaEvent_t event = nullptr;
  detail::check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                     fmt::format("cuda device {}", ordinal_), "cudaEventCreateWithFlags");
  return reinterpret_cast<EventHandle>(event);
}

void CudaStreamOrdering::destroy_event(EventHandle event) noexcept {
  if (cudaEventDestroy(as_event(event)) != cudaSuccess) static_cast<void>(cudaGetLastError());
}

void CudaStreamOrdering::record(EventHandle event, StreamHandle stream) {
  const ScopedDevice device(ordinal_);
  detail::check_cuda(cudaEventRecord(as_event(event), as_stream(stream)),
                     fmt::format("cuda device {}", ordinal_),
                     fmt::format("cudaEventRecord(stream {:#x})", stream));
}

void CudaStreamOrdering::wait(StreamHandle stream, EventHandle event) {
  const ScopedDevice device(ordinal_);
  detail::check_cuda(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0),
                     fmt::format("cuda device {}", ordinal_),
                     fmt::format("cudaStreamWaitEvent(stream {:#x})", stream));
}

void CudaStreamOrdering::synchronize_device() {
  const ScopedDevice device(ordinal_);
  detail::check_cuda(cudaDeviceSynchronize(), fmt::format("cuda device {}", ordinal_),
                     "cudaDeviceSynchronize");
}

}  // namespace gpumem
