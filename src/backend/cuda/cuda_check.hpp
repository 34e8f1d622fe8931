// How the CUDA backend turns runtime errors into gpumem errors: every message names the device,
// the call and CUDA's own name and description of the error, and clears the runtime's last error
// so that a failure does not surface again from an unrelated later call.
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <string_view>

namespace gpumem::detail {

// "cudaErrorMemoryAllocation (out of memory)"
std::string cuda_error_text(cudaError_t error);

// Throws gpumem::Error "<where>: <call> failed: <error text>" unless `error` is cudaSuccess.
void check_cuda(cudaError_t error, std::string_view where, std::string_view call);

// Makes `ordinal` the calling thread's current device; throws like check_cuda.
void activate_device(int ordinal, std::string_view where);

// Makes `ordinal` the calling thread's current device for the object's lifetime, then gives the
// thread its own device back: gpumem is called from programs (PyTorch, CuPy, threads that serve
// other devices) that keep a current device of their own. Costs a cudaGetDevice when the device
// is current already. Throws like check_cuda, naming `where` (or "cuda device N" when empty).
class ScopedDevice {
 public:
  ScopedDevice(int ordinal, std::string_view where);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = -1;  // the device to give back; -1: nothing to do
};

}  // namespace gpumem::detail
