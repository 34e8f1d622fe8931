#include "backend/cuda/cuda_check.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"

namespace gpumem::detail {

std::string cuda_error_text(cudaError_t error) {
  return fmt::format("{} ({})", cudaGetErrorName(error), cudaGetErrorString(error));
}

void check_cuda(cudaError_t error, std::string_view where, std::string_view call) {
  if (error == cudaSuccess) return;
  static_cast<void>(cudaGetLastError());  // a sticky error stays; any other is cleared
  throw Error(fmt::format("{}: {} failed: {}", where, call, cuda_error_text(error)));
}

void activate_device(int ordinal, std::string_view where) {
  check_cuda(cudaSetDevice(ordinal), where, fmt::format("cudaSetDevice({})", ordinal));
}

ScopedDevice::ScopedDevice(int ordinal, std::string_view where) {
  if (cudaGetDevice(&previous_) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    previous_ = -1;
  }
  if (previous_ == ordinal) {
    previous_ = -1;
    return;
  }
  if (where.empty()) {
    activate_device(ordinal, fmt::format("cuda device {}", ordinal));
  } else {
    activate_device(ordinal, where);
  }
}

ScopedDevice::~ScopedDevice() {
  // Nothing to report to from a destructor; a device that was current a moment ago stays valid.
  if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
  }
}

}  // namespace gpumem::detail
