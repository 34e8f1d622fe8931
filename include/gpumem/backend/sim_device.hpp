// The simulated backend: device memory with no bytes behind it.
//
// It hands out address ranges in whole pages (2 MiB by default, like CUDA's physical allocation
// granularity) up to a configured capacity and takes them back, so allocator policy, footprint
// and fragmentation can be measured for any device size on any machine, at full speed. Blocks
// cannot be mapped; copies complete at once without moving anything.
//
//   gpumem::SimDevice device(gpumem::SimDeviceConfig::parse("capacity=80GiB,page=2MiB"));
//   gpumem::RawBlock block = device.try_allocate_block(0, 3 * gpumem::kMiB, 256);  // 4 MiB taken
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {

struct SimDeviceConfig {
  std::string name = "sim";
  std::uint64_t page_size = 2 * kMiB;
  std::uint64_t capacity = 80 * kGiB;               // the device-local heap
  std::uint64_t host_visible_capacity = 16 * kGiB;  // an upload heap; 0 for none

  // "capacity=16GiB,page=64KiB,upload=1GiB,name=my-sim": keys may appear in any order; unknown
  // keys and bad sizes throw InvalidArgument naming them.
  static SimDeviceConfig parse(std::string_view spec);
};

class SimDevice final : public Device {
 public:
  explicit SimDevice(SimDeviceConfig config = {});
  ~SimDevice() override;

  const DeviceInfo& info() const noexcept override { return info_; }
  HeapReport query_heap(std::uint32_t heap) override;
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override;
  void free_block(const RawBlock& block) override;
  std::byte* map(const RawBlock& block) override;  // always Unsupported: nothing to map
  FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                  std::uint64_t dst_offset, std::uint64_t size) override;
  bool is_complete(FenceValue fence) override;
  void wait(FenceValue fence) override;

  void set_external_usage(std::uint32_t heap, std::uint64_t bytes);
  const SimDeviceConfig& config() const noexcept { return config_; }

 private:
  struct State;
  SimDeviceConfig config_;
  DeviceInfo info_;
  std::unique_ptr<State> state_;
};

}  // namespace gpumem
