#include "backend/sim/sim_virtual_memory.hpp"

namespace gpumem::detail {

std::uint64_t SimVirtualMemory::page_size(std::uint32_t heap) const {
  books_.check_heap(heap, "page_size");
  return books_.page_size();
}

std::uint64_t SimVirtualMemory::reserve(std::uint32_t heap, std::uint64_t size) {
  books_.check_reservation_size(heap, size);
  const std::uint64_t base = spaces_[heap]->take(size, books_.page_size());
  if (base != 0) books_.add_reservation(heap, base, size);
  return base;
}

void SimVirtualMemory::unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) {
  books_.remove_reservation(heap, base, size);
  spaces_[heap]->give(base, size);
}

PhysicalMemory SimVirtualMemory::try_create(std::uint32_t heap, std::uint64_t pages) {
  books_.check_piece_size(heap, pages, "try_create");
  if (!ledger_.try_take(heap, pages * books_.page_size())) return {};
  return books_.add_memory(heap, pages, 0);
}

void SimVirtualMemory::release(std::uint32_t heap, PhysicalMemory memory) {
  books_.remove_memory(heap, memory);
  ledger_.give_back(heap, memory.pages * books_.page_size());
}

void SimVirtualMemory::map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) {
  books_.map(heap, address, memory, [](std::uint64_t) {});
  books_.count_call(true);
}

void SimVirtualMemory::unmap(std::uint32_t heap, std::uint64_t address) {
  books_.unmap(heap, address, [](std::uint64_t) {});
  books_.count_call(false);
}

void SimVirtualMemory::map_run(std::uint32_t heap, std::uint64_t address,
                               std::span<const PhysicalMemory> pieces) {
  const std::uint64_t size = books_.page_size();
  std::uint64_t at = address;
  for_each_or_undo(
      pieces.size(),
      [&](std::size_t i) {
        books_.map(heap, at, pieces[i], [](std::uint64_t) {});
        at += pieces[i].pages * size;
      },
      [&](std::size_t i) {
        books_.unmap(heap, start_of(address, pieces, i, size), [](std::uint64_t) {});
      });
  books_.count_call(true);
}

void SimVirtualMemory::unmap_run(std::uint32_t heap, std::uint64_t address,
                                 std::span<const PhysicalMemory> pieces) {
  const std::uint64_t size = books_.page_size();
  std::uint64_t at = address;
  for_each_or_undo(
      pieces.size(),
      [&](std::size_t i) {
        books_.unmap(heap, at, [](std::uint64_t) {});
        at += pieces[i].pages * size;
      },
      [&](std::size_t i) {
        books_.map(heap, start_of(address, pieces, i, size), pieces[i], [](std::uint64_t) {});
      });
  books_.count_call(false);
}

}  // namespace gpumem::detail
