// The simulator's virtual memory management: reservations are address ranges taken from the
// heap's address space (the one blocks come from, so the two never overlap), physical memory is
// counted against the heap's capacity (the one blocks count against), and mappings are records
// in VmBooks, which refuses every misuse a driver would. Nothing is touched, so it runs at
// bookkeeping speed, and an allocator whose page accounting is wrong fails its tests here.
//
//   detail::SimVirtualMemory vm(info, 2 * kMiB, ledger, spaces);
//   std::uint64_t base = vm.reserve(0, 64 * kMiB);
//   vm.map(0, base, vm.try_create(0, 4));  // 4 pages from base
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/common/block_ledger.hpp"
#include "backend/common/vm_books.hpp"
#include "backend/sim/sim_address_space.hpp"
#include "gpumem/backend/virtual_memory.hpp"

namespace gpumem::detail {

class SimVirtualMemory final : public VirtualMemory {
 public:
  // `info`, `ledger` and `spaces` (one per heap) must outlive this object. Memory and
  // reservations still out when it goes need no giving back: nothing stands behind them.
  SimVirtualMemory(const DeviceInfo& info, std::uint64_t page_size, BlockLedger& ledger,
                   std::vector<std::unique_ptr<SimAddressSpace>>& spaces)
      : books_(info, page_size), ledger_(ledger), spaces_(spaces) {}

  std::uint64_t page_size(std::uint32_t heap) const override;
  std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) override;
  void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) override;
  PhysicalMemory try_create(std::uint32_t heap, std::uint64_t pages) override;
  void release(std::uint32_t heap, PhysicalMemory memory) override;
  void map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) override;
  void unmap(std::uint32_t heap, std::uint64_t address) override;
  // One call each (counted so), all or nothing, as the interface asks.
  void map_run(std::uint32_t heap, std::uint64_t address,
               std::span<const PhysicalMemory> pieces) override;
  void unmap_run(std::uint32_t heap, std::uint64_t address,
                 std::span<const PhysicalMemory> pieces) override;

  SimVmCounters counts() const noexcept { return books_.counts(); }

 private:
  VmBooks books_;
  BlockLedger& ledger_;
  std::vector<std::unique_ptr<SimAddressSpace>>& spaces_;
};

}  // namespace gpumem::detail
