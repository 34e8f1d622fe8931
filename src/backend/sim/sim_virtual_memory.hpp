// The simulator's virtual memory management: reservations are address ranges taken from the
// heap's address space (the one blocks come from, so the two never overlap), physical pages are
// counted against the heap's capacity (the one blocks count against), and mappings are records
// in VmBooks, which refuses every misuse a driver would. Nothing is touched, so it runs at
// bookkeeping speed, and an allocator whose page accounting is wrong fails its tests here.
//
//   detail::SimVirtualMemory vm(info, 2 * kMiB, ledger, spaces);
//   std::uint64_t base = vm.reserve(0, 64 * kMiB);
//   vm.map(0, base, vm.try_create_page(0));
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
  // `info`, `ledger` and `spaces` (one per heap) must outlive this object. Pages and
  // reservations still out when it goes need no giving back: nothing stands behind them.
  SimVirtualMemory(const DeviceInfo& info, std::uint64_t page_size, BlockLedger& ledger,
                   std::vector<std::unique_ptr<SimAddressSpace>>& spaces)
      : books_(info, page_size), ledger_(ledger), spaces_(spaces) {}

  std::uint64_t page_size(std::uint32_t heap) const override;
  std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) override;
  void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) override;
  PhysicalPage try_create_page(std::uint32_t heap) override;
  void release_page(std::uint32_t heap, PhysicalPage page) override;
  void map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) override;
  void unmap(std::uint32_t heap, std::uint64_t address) override;
  // One call each (counted so), all or nothing, as the interface asks.
  void map_run(std::uint32_t heap, std::uint64_t address,
               std::span<const PhysicalPage> pages) override;
  void unmap_run(std::uint32_t heap, std::uint64_t address,
                 std::span<const PhysicalPage> pages) override;

  SimVmCounters counts() const noexcept { return books_.counts(); }

 private:
  VmBooks books_;
  BlockLedger& ledger_;
  std::vector<std::unique_ptr<SimAddressSpace>>& spaces_;
};

}  // namespace gpumem::detail
