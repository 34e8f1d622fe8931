// Virtual memory management for the host backend, with real bytes, the way CUDA VMM works:
// a reservation is a range of addresses mapped PROT_NONE, a piece of physical memory is a range
// of whole pages in a memory file of its heap (memfd), and mapping it maps that range of the file
// at an address of a reservation, shared, so memory mapped at two addresses shows the same bytes
// at both. Memory counts against the heap's capacity, the one its blocks count against;
// VmBooks refuses every misuse a driver would. Linux only (memfd_create).
//
//   detail::HostVirtualMemory vm(info, ledger);
//   std::uint64_t base = vm.reserve(0, 64 * kMiB);
//   vm.map(0, base, vm.try_create(0, 1));
//   std::memset(reinterpret_cast<void*>(base), 1, vm.page_size(0));
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <map>
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
  PhysicalMemory try_create(std::uint32_t heap, std::uint64_t pages) override;
  void release(std::uint32_t heap, PhysicalMemory memory) override;
  void map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) override;
  void unmap(std::uint32_t heap, std::uint64_t address) override;

 private:
  // A heap's memory file: sparse, opened on first use, as long as the heap to start with and
  // longer when its free ranges are too scattered for a piece. Released memory gets punched
  // out and its range reused (first fit; neighbouring free ranges merge).
  struct HeapFile {
    int fd = -1;
    std::uint64_t length = 0;
    std::map<std::uint64_t, std::uint64_t> free;  // offset -> bytes
  };

  // The offset of `bytes` free bytes of the heap's file, or UINT64_MAX when the file cannot be
  // opened or made longer. files_mutex_ must be held.
  std::uint64_t take_range(std::uint32_t heap, std::uint64_t bytes);
  // Gives a range back to the file's free ones. files_mutex_ must be held.
  static void give_range(HeapFile& file, std::uint64_t offset, std::uint64_t bytes);

  const DeviceInfo& info_;
  BlockLedger& ledger_;
  VmBooks books_;
  std::mutex files_mutex_;
  std::vector<HeapFile> files_;
};

}  // namespace gpumem::detail
