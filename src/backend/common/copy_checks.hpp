// Argument checks every backend's copy and fence calls share, so each error reads the same.
#pragma once

#include <cstdint>

#include "gpumem/backend/device.hpp"

namespace gpumem::detail {

// Throws InvalidArgument when [offset, offset + size) leaves either block.
void check_copy_range(const DeviceInfo& device, const RawBlock& src, std::uint64_t src_offset,
                      const RawBlock& dst, std::uint64_t dst_offset, std::uint64_t size);
// Throws InvalidArgument for a fence value the device never returned.
void check_fence(const DeviceInfo& device, FenceValue fence, FenceValue last_issued);

}  // namespace gpumem::detail
