// Virtual memory management for the host backend, with real bytes, the way CUDA VMM works:
// a reservation is a range of addresses mapped PROT_NONE, a physical page is a page-sized
// offset in a memory file of its heap (memfd), and mapping a page maps that piece of the file
// at an address of a reservation, shared, so one page mapped at two addresses shows the same
// bytes at both. Pages count against the heap's capacity, the one its blocks count against;
// VmBooks refuses every misuse a driver would. Linux only (memfd_create).
//
//   detail::HostVirtualMemory vm(info, ledger);
//   std::uint64_t base = vm.reserve(0, 64 * kMiB);
//   vm.map(0, base, vm.try_create_page(0));
//   std::memset(reinterpret_cast<void*>(base), 1, vm.page_size(0));
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "backend/common/block_ledger.hpp"
#include "backend/common/vm_books.hpp"
#include "gpumem/backend/virtual_memory.hpp"

namespace gpumem::detail {

class HostVirtualMemory final : public VirtualMemory {
 public:
  // Like CUDA's granularity; also keeps an arena's per-page bookkeeping small.
  static constexpr std::uint64_t kPageSize = std::uint64_t{2} << 20;

  // `info` and `ledger` must outlive this object.
  HostVirtualMemory(const DeviceInfo& info, BlockLedger& ledger);
  // Unmaps every reservation still out and closes the memory files.
  ~HostVirtualMemory() override;

  std::uint64_t page_size(std::uint32_t heap) const override;
  std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) override;
  void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) override;
  PhysicalPage try_create_page(std::uint32_t heap) override;
  void release_page(std::uint32_t heap, PhysicalPage page) override;
  void map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) override;
  void unmap(std::uint32_t heap, std::uint64_t address) override;

 private:
  // A heap's memory file: sparse, as long as the heap, opened on first use. Released pages
  // get their memory punched out and their offsets reused.
  struct HeapFile {
    int fd = -1;
    std::uint64_t next_offset = 0;
    std::vector<std::uint64_t> free_offsets;
  };

  // The offset of a page-sized piece of the heap's file, or nullopt-like UINT64_MAX when the
  // file cannot be opened. files_mutex_ must be held.
  std::uint64_t take_offset(std::uint32_t heap);

  const DeviceInfo& info_;
  BlockLedger& ledger_;
  VmBooks books_;
  std::mutex files_mutex_;
  std::vector<HeapFile> files_;
};

}  // namespace gpumem::detail
