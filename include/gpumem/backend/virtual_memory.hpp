// Virtual memory management: the optional capability of a device to reserve address ranges
// without memory and map physical memory into them (CUDA's cuMemAddressReserve / cuMemCreate /
// cuMemMap; the simulator models it). It is what lets the page-mapped arena treat physical memory
// as interchangeable: memory freed in one place serves a request anywhere else.
//
// Physical memory comes in pieces of one or more pages, each created, mapped, unmapped and
// released as a unit, as CUDA's are (cuMemMap maps a whole allocation or nothing). What the
// driver charges is per piece, not per page: on an H200 a piece of 64 pages costs about what a
// piece of one does to create, map and unmap (bench/cuda_vmm_costs, docs/PERFORMANCE.md).
//
//   if (gpumem::VirtualMemory* vm = device.virtual_memory()) {
//     std::uint64_t base = vm->reserve(0, 64 * gpumem::kGiB);
//     gpumem::PhysicalMemory memory = vm->try_create(0, /*pages=*/4);
//     vm->map(0, base, memory);  // [base, base + 4 pages)
//   }
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace gpumem {

// One piece of physical memory: `pages` pages (of Device::virtual_memory()->page_size(heap)
// bytes each) that are mapped and released together.
struct PhysicalMemory {
  std::uint64_t id = 0;
  std::uint64_t pages = 0;
  explicit operator bool() const noexcept { return id != 0; }
};

class VirtualMemory {
 public:
  virtual ~VirtualMemory() = default;
  VirtualMemory() = default;
  VirtualMemory(const VirtualMemory&) = delete;
  VirtualMemory& operator=(const VirtualMemory&) = delete;

  // Granularity of reservations, physical memory and mappings on the heap; a power of two.
  virtual std::uint64_t page_size(std::uint32_t heap) const = 0;
  // A range of `size` bytes (a multiple of the page size) of addresses with nothing behind them;
  // 0 when the address space is exhausted. InvalidArgument for a bad heap or size.
  virtual std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) = 0;
  // Gives back a whole reservation; every page in it must be unmapped first.
  virtual void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) = 0;
  // A piece of `pages` pages (at least 1), or an empty one when the device has no memory left
  // for it.
  virtual PhysicalMemory try_create(std::uint32_t heap, std::uint64_t pages) = 0;
  // The memory must not be mapped anywhere.
  virtual void release(std::uint32_t heap, PhysicalMemory memory) = 0;
  // Maps all of `memory` from a page-aligned address, inside one reservation (and makes it
  // accessible). Every page of the range must be unmapped.
  virtual void map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) = 0;
  // Unmaps the piece whose mapping starts at `address`, all of it.
  virtual void unmap(std::uint32_t heap, std::uint64_t address) = 0;

  // Maps pieces back to back from `address` (each starts where the one before ends), in fewer
  // driver calls where the backend can (CUDA: one cuMemSetAccess for the run; the work is per
  // piece all the same). All or nothing: when it throws, none of the run is mapped. The default
  // maps piece by piece.
  virtual void map_run(std::uint32_t heap, std::uint64_t address,
                       std::span<const PhysicalMemory> pieces) {
    const std::uint64_t size = page_size(heap);
    std::uint64_t at = address;
    for_each_or_undo(
        pieces.size(),
        [&](std::size_t i) {
          map(heap, at, pieces[i]);
          at += pieces[i].pages * size;
        },
        [&](std::size_t i) { unmap(heap, start_of(address, pieces, i, size)); });
  }
  // Unmaps a run mapped as map_run would have: `pieces` are those mapped back to back from
  // `address` (CUDA: one cuMemUnmap for all). All or nothing: when it throws, the run is mapped
  // as before. The default unmaps piece by piece and maps back what it unmapped on a failure.
  virtual void unmap_run(std::uint32_t heap, std::uint64_t address,
                         std::span<const PhysicalMemory> pieces) {
    const std::uint64_t size = page_size(heap);
    std::uint64_t at = address;
    for_each_or_undo(
        pieces.size(),
        [&](std::size_t i) {
          unmap(heap, at);
          at += pieces[i].pages * size;
        },
        [&](std::size_t i) { map(heap, start_of(address, pieces, i, size), pieces[i]); });
  }

 protected:
  // Where pieces[i] of a run from `address` starts.
  static std::uint64_t start_of(std::uint64_t address, std::span<const PhysicalMemory> pieces,
                                std::size_t i, std::uint64_t page_size) noexcept {
    for (std::size_t j = 0; j < i; ++j) address += pieces[j].pages * page_size;
    return address;
  }
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
