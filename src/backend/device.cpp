#include "gpumem/backend/device.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"

namespace gpumem {

const HeapInfo& Device::heap(std::uint32_t index) const {
  const DeviceInfo& i = info();
  if (index >= i.heaps.size()) {
    throw InvalidArgument(fmt::format("{} device '{}' has no heap {} (it has {})", i.backend,
                                      i.name, index, i.heaps.size()));
  }
  return i.heaps[index];
}

}  // namespace gpumem
