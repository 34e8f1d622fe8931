// Virtual memory management: the optional capability of a device to reserve address ranges
// without memory and map physical pages into them (CUDA's cuMemAddressReserve / cuMemCreate /
// cuMemMap; the simulator models it). It is what lets the page-mapped arena treat physical pages
// as interchangeable: memory freed in one place serves a request anywhere else.
//
//   if (gpumem::VirtualMemory* vm = device.virtual_memory()) {
//     std::uint64_t base = vm->reserve(0, 64 * gpumem::kGiB);
//     gpumem::PhysicalPage page = vm->try_create_page(0);
//     vm->map(0, base, page);
//   }
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>

namespace gpumem {

// One page of physical memory (Device::virtual_memory()->page_size(heap) bytes).
struct PhysicalPage {
  std::uint64_t id = 0;
  explicit operator bool() const noexcept { return id != 0; }
};

class VirtualMemory {
 public:
  virtual ~VirtualMemory() = default;
  VirtualMemory() = default;
  VirtualMemory(const VirtualMemory&) = delete;
  VirtualMemory& operator=(const VirtualMemory&) = delete;

  // Granularity of reservations, pages and mappings on the heap; a power of two.
  virtual std::uint64_t page_size(std::uint32_t heap) const = 0;
  // A range of `size` bytes (a multiple of the page size) of addresses with nothing behind them;
  // 0 when the address space is exhausted. InvalidArgument for a bad heap or size.
  virtual std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) = 0;
  // Gives back a whole reservation; every page in it must be unmapped first.
  virtual void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) = 0;
  // One physical page, or an empty one when the device has no memory left.
  virtual PhysicalPage try_create_page(std::uint32_t heap) = 0;
  // The page must not be mapped anywhere.
  virtual void release_page(std::uint32_t heap, PhysicalPage page) = 0;
  // Maps one page at a page-aligned address inside a reservation (and makes it accessible).
  virtual void map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) = 0;
  virtual void unmap(std::uint32_t heap, std::uint64_t address) = 0;
};

}  // namespace gpumem
