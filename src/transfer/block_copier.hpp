// The copy call of the transfer objects: Device::copy, except on CUDA, where it copies by
// address. A CUDA device's copy() knows only the blocks it handed out, while allocations of the
// page-mapped arena (the default for CUDA device memory) lie in address reservations that no
// block describes; CudaDevice::copy_addresses reaches both, on the same stream and fences.
// Callers check ranges against their blocks or allocations first.
//
//   detail::BlockCopier copy(device);
//   FenceValue f = copy(staging, offset, allocation.block(), allocation.offset(), n);
//
// Thread safety: as the device's.
#pragma once

#include <cstdint>

#include "gpumem/backend/device.hpp"

namespace gpumem {
class CudaDevice;
}

namespace gpumem::detail {

class BlockCopier {
 public:
  explicit BlockCopier(Device& device);
  FenceValue operator()(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                        std::uint64_t dst_offset, std::uint64_t size) const;
  Device& device() const noexcept { return device_; }

 private:
  Device& device_;
  CudaDevice* cuda_ = nullptr;
};

}  // namespace gpumem::detail
