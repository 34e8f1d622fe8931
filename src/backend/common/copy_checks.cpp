#include "backend/common/copy_checks.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"

namespace gpumem::detail {
namespace {

void check_range(const DeviceInfo& device, const char* which, const RawBlock& block,
                 std::uint64_t offset, std::uint64_t size) {
  if (offset > block.size || size > block.size - offset) {
    throw InvalidArgument(
        fmt::format("{} device '{}': copy {} range [{}, +{}) leaves the block of {} bytes",
                    device.backend, device.name, which, offset, size, block.size));
  }
}

}  // namespace

void check_copy_range(const DeviceInfo& device, const RawBlock& src, std::uint64_t src_offset,
                      const RawBlock& dst, std::uint64_t dst_offset, std::uint64_t size) {
  check_range(device, "source", src, src_offset, size);
  check_range(device, "destination", dst, dst_offset, size);
}

void check_fence(const DeviceInfo& device, FenceValue fence, FenceValue last_issued) {
  if (fence == 0 || fence > last_issued) {
    throw InvalidArgument(fmt::format("{} device '{}': fence {} was never issued (last is {})",
                                      device.backend, device.name, fence, last_issued));
  }
}

}  // namespace gpumem::detail
