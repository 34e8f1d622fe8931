// Where a heap allocator gets device memory. Every byte it takes from the device is first
// reserved against the heap's hard budget here, so no allocator, however it grows, can push a
// heap past its limit; footprint metrics and pressure follow from the same calls.
//
//   gpumem::BlockGrant grant = source.acquire_block(64 * gpumem::kMiB, 256);
//   if (!grant) return fail(grant.refusal);
//   ...
//   source.release_block(grant.block);
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <string_view>

#include "gpumem/backend/device.hpp"

namespace gpumem {

enum class GrowthRefusal : std::uint8_t {
  None,    // granted
  Budget,  // the heap's hard budget would be crossed
  Device,  // the budget allowed it but the device had no memory
};

constexpr std::string_view to_string(GrowthRefusal r) {
  switch (r) {
    case GrowthRefusal::None:
      return "none";
    case GrowthRefusal::Budget:
      return "budget";
    case GrowthRefusal::Device:
      return "device";
  }
  return "unknown";
}

struct BlockGrant {
  RawBlock block;
  GrowthRefusal refusal = GrowthRefusal::None;
  explicit operator bool() const noexcept { return static_cast<bool>(block); }
};

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  BlockSource() = default;
  BlockSource(const BlockSource&) = delete;
  BlockSource& operator=(const BlockSource&) = delete;

  virtual Device& device() noexcept = 0;
  virtual const HeapInfo& heap() const noexcept = 0;

  // Counts `bytes` of device memory against the budget before the caller takes it from the
  // device (as blocks, or as physical pages); false when the hard limit would be crossed.
  virtual bool reserve(std::uint64_t bytes) noexcept = 0;
  // Gives back what reserve() counted, after the memory went back to the device.
  virtual void unreserve(std::uint64_t bytes) noexcept = 0;
  // True when `bytes` more would still be within the soft limit (for keeping cached memory).
  virtual bool fits_soft_limit(std::uint64_t bytes) const noexcept = 0;

  // reserve() + Device::try_allocate_block(), rolled back when the device refuses.
  BlockGrant acquire_block(std::uint64_t size, std::uint64_t alignment);
  // Device::free_block() + unreserve().
  void release_block(const RawBlock& block) noexcept;
};

}  // namespace gpumem
