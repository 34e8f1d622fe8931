// A VirtualBlock sub-allocates a range of offsets that the caller owns the memory behind: a
// descriptor heap, a slice of a buffer, an address range. It is TlsfMetadata behind a lock, with
// a 64-bit user value per allocation.
//
//   gpumem::VirtualBlock heap(4096);  // 4096 descriptors
//   if (auto a = heap.try_allocate(16, 1, /*user_data=*/material_id)) {
//     write_descriptors(a->offset(), 16);
//     heap.free(*a);
//   }
//
// Size 0, a non-power-of-two alignment or a handle that is not live throw as in TlsfMetadata;
// running out of space returns an empty optional.
//
// Thread safety: every member may be called from several threads at once; one mutex serialises
// them. for_each_allocation holds it while calling back, so the callback must not call back into
// the same block.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "gpumem/alloc/tlsf_metadata.hpp"

namespace gpumem {

using VirtualAllocation = TlsfAllocation;

class VirtualBlock {
 public:
  explicit VirtualBlock(std::uint64_t size) : tlsf_(size) {}

  std::optional<VirtualAllocation> try_allocate(std::uint64_t size, std::uint64_t alignment = 1,
                                                std::uint64_t user_data = 0);
  void free(const VirtualAllocation& allocation);
  void clear();

  std::uint64_t allocation_size(const VirtualAllocation& allocation) const;
  std::uint64_t user_data(const VirtualAllocation& allocation) const;
  void set_user_data(const VirtualAllocation& allocation, std::uint64_t user_data);

  std::uint64_t size() const noexcept { return tlsf_.size(); }  // fixed at construction
  bool empty() const;
  BlockStatistics statistics() const;
  std::string validate() const;

  // Calls f(const TlsfAllocationInfo&) for each allocation in ascending offset order.
  template <typename F>
  void for_each_allocation(F&& f) const {
    std::lock_guard lock(mutex_);
    tlsf_.for_each_allocation(std::forward<F>(f));
  }

 private:
  mutable std::mutex mutex_;
  TlsfMetadata tlsf_;
};

}  // namespace gpumem
