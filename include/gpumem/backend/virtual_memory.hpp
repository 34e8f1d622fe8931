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

#include <cstddef>
#include <cstdint>
#include <span>

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

  // Maps pages[i] at address + i × page size: a run of pages in one go, in fewer driver calls
  // where the backend can (CUDA: one cuMemSetAccess for the run). Fewer calls are not less work
  // on CUDA: measured on an H200, cuMemSetAccess and cuMemUnmap cost ~28 and ~20 us per page in
  // the range whether it is one call or one per page (docs/PERFORMANCE.md). All or nothing: when
  // it throws, none of the run is mapped. The default maps page by page.
  virtual void map_run(std::uint32_t heap, std::uint64_t address,
                       std::span<const PhysicalPage> pages) {
    const std::uint64_t size = page_size(heap);
    for_each_or_undo(
        pages.size(), [&](std::size_t i) { map(heap, address + i * size, pages[i]); },
        [&](std::size_t i) { unmap(heap, address + i * size); });
  }
  // Unmaps a run mapped as map_run would have: `pages` are the pages mapped at address + i ×
  // page size (CUDA: one cuMemUnmap for all). All or nothing: when it throws, the run is mapped
  // as before. The default unmaps page by page and maps back what it unmapped on a failure.
  virtual void unmap_run(std::uint32_t heap, std::uint64_t address,
                         std::span<const PhysicalPage> pages) {
    const std::uint64_t size = page_size(heap);
    for_each_or_undo(
        pages.size(), [&](std::size_t i) { unmap(heap, address + i * size); },
        [&](std::size_t i) { map(heap, address + i * size, pages[i]); });
  }

 protected:
  // Runs step(i) for i in [0, count); when one throws, undo(j) for each j done before it (an
  // undo that fails too is dropped: the first failure is the one to report), then rethrows.
  // What makes a run all or nothing when it is done page by page.
  template <typename Step, typename Undo>
  static void for_each_or_undo(std::size_t count, Step&& step, Undo&& undo) {
    std::size_t done = 0;
    try {
      for (; done < count; ++done) step(done);
    } catch (...) {
      for (std::size_t j = 0; j < done; ++j) {
        try {
          undo(j);
        } catch (...) {  // NOLINT(bugprone-empty-catch): see above
        }
      }
      throw;
    }
  }
};

}  // namespace gpumem
