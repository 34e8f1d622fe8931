#include "gpumem/alloc/virtual_block.hpp"

namespace gpumem {

std::optional<VirtualAllocation> VirtualBlock::try_allocate(std::uint64_t size,
                                                            std::uint64_t alignment,
                                                            std::uint64_t user_data) {
  std::lock_guard lock(mutex_);
  return tlsf_.try_allocate(size, alignment, user_data);
}

void VirtualBlock::free(const VirtualAllocation& allocation) {
  std::lock_guard lock(mutex_);
  tlsf_.free(allocation);
}

void VirtualBlock::clear() {
  std::lock_guard lock(mutex_);
  tlsf_.clear();
}

std::uint64_t VirtualBlock::allocation_size(const VirtualAllocation& allocation) const {
  std::lock_guard lock(mutex_);
  return tlsf_.allocation_size(allocation);
}

std::uint64_t VirtualBlock::user_data(const VirtualAllocation& allocation) const {
  std::lock_guard lock(mutex_);
  return tlsf_.user_data(allocation);
}

void VirtualBlock::set_user_data(const VirtualAllocation& allocation, std::uint64_t user_data) {
  std::lock_guard lock(mutex_);
  tlsf_.set_user_data(allocation, user_data);
}

bool VirtualBlock::empty() const {
  std::lock_guard lock(mutex_);
  return tlsf_.empty();
}

BlockStatistics VirtualBlock::statistics() const {
  std::lock_guard lock(mutex_);
  return tlsf_.statistics();
}

std::string VirtualBlock::validate() const {
  std::lock_guard lock(mutex_);
  return tlsf_.validate();
}

}  // namespace gpumem
