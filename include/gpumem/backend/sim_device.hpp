// The simulated backend: device memory with no bytes behind it.
//
// It hands out address ranges in whole pages (2 MiB by default, like CUDA's physical allocation
// granularity) up to a configured capacity and takes them back, so allocator policy, footprint
// and fragmentation can be measured for any device size on any machine, at full speed. Blocks
// cannot be mapped; copies complete at once without moving anything.
//
// It also models virtual memory management (virtual_memory(), on unless the config turns it
// off): reservations are address ranges cut from the same space as blocks, physical memory
// counts against the same capacity, and every misuse a driver would reject (mapping outside a
// reservation or over a mapped page, unmapping where no piece starts, releasing mapped memory,
// unreserving with pages mapped, releasing twice) throws InvalidArgument or InvalidHandle naming
// what and where. vm_counters() tells tests and benchmarks how much driver work an allocator
// caused.
//
//   gpumem::SimDevice device(gpumem::SimDeviceConfig::parse("capacity=80GiB,page=2MiB"));
//   gpumem::RawBlock block = device.try_allocate_block(0, 3 * gpumem::kMiB, 256);  // 4 MiB taken
//   gpumem::VirtualMemory& vm = *device.virtual_memory();
//   std::uint64_t base = vm.reserve(0, 64 * gpumem::kMiB);
//   vm.map(0, base, vm.try_create(0, 2));  // 4 MiB more of the capacity taken
//   std::uint64_t maps = device.vm_counters().piece_maps;  // 1 (2 pages: maps == 2)
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
  bool virtual_memory = true;  // off: virtual_memory() is null, as on a device without VMM

  // "capacity=16GiB,page=64KiB,upload=1GiB,name=my-sim,vm=off": keys may appear in any order;
  // unknown keys, bad sizes and vm values other than on/off throw InvalidArgument naming them.
  static SimDeviceConfig parse(std::string_view spec);
};

// Virtual memory calls the simulator has served since it was created (failed calls excluded).
struct SimVmCounters {
  std::uint64_t reserves = 0;
  std::uint64_t unreserves = 0;
  // Pieces of physical memory created and released (a cuMemCreate and a cuMemRelease each on
  // CUDA, whatever their size), and the pages they held.
  std::uint64_t creations = 0;
  std::uint64_t releases = 0;
  std::uint64_t page_creations = 0;
  std::uint64_t page_releases = 0;
  // Pieces mapped and unmapped (what CUDA's cuMemMap, cuMemSetAccess and cuMemUnmap cost is
  // per), and the pages they covered (a run refused midway counts what it undid both ways).
  std::uint64_t piece_maps = 0;
  std::uint64_t piece_unmaps = 0;
  std::uint64_t maps = 0;
  std::uint64_t unmaps = 0;
  // Calls that mapped or unmapped them: a run of pieces is one call (map_run, unmap_run), as it
  // is one cuMemSetAccess or one cuMemUnmap on CUDA.
  std::uint64_t map_calls = 0;
  std::uint64_t unmap_calls = 0;

  std::uint64_t pages_held() const noexcept { return page_creations - page_releases; }
  std::uint64_t mappings() const noexcept { return maps - unmaps; }
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
  VirtualMemory* virtual_memory() noexcept override;

  SimVmCounters vm_counters() const noexcept;
  void set_external_usage(std::uint32_t heap, std::uint64_t bytes);
  const SimDeviceConfig& config() const noexcept { return config_; }

 private:
  struct State;
  SimDeviceConfig config_;
  DeviceInfo info_;
  std::unique_ptr<State> state_;
};

}  // namespace gpumem
