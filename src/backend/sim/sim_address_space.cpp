#include "backend/sim/sim_address_space.hpp"

#include <iterator>

#include "gpumem/core/units.hpp"

namespace gpumem::detail {

std::uint64_t SimAddressSpace::take(std::uint64_t size, std::uint64_t alignment) {
  std::lock_guard lock(mutex_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    std::uint64_t start = 0;
    if (!align_up(it->first, alignment, start)) continue;
    const std::uint64_t end = it->first + it->second;
    if (start > end || end - start < size) continue;
    const auto [range_start, range_size] = *it;
    free_.erase(it);
    if (start > range_start) free_.emplace(range_start, start - range_start);
    if (start + size < end) free_.emplace(start + size, end - start - size);
    return start;
  }
  return 0;
}

void SimAddressSpace::give(std::uint64_t start, std::uint64_t size) {
  std::lock_guard lock(mutex_);
  auto next = free_.lower_bound(start);
  if (next != free_.end() && next->first == start + size) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      prev->second += size;
      return;
    }
  }
  free_.emplace(start, size);
}

}  // namespace gpumem::detail
