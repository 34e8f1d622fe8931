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

PhysicalPage SimVirtualMemory::try_create_page(std::uint32_t heap) {
  books_.check_heap(heap, "try_create_page");
  if (!ledger_.try_take(heap, books_.page_size())) return {};
  return books_.add_page(heap, 0);
}

void SimVirtualMemory::release_page(std::uint32_t heap, PhysicalPage page) {
  books_.remove_page(heap, page);
  ledger_.give_back(heap, books_.page_size());
}

void SimVirtualMemory::map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) {
  books_.map(heap, address, page, [](std::uint64_t) {});
  books_.count_call(true);
}

void SimVirtualMemory::unmap(std::uint32_t heap, std::uint64_t address) {
  books_.unmap(heap, address, [] {});
  books_.count_call(false);
}

void SimVirtualMemory::map_run(std::uint32_t heap, std::uint64_t address,
                               std::span<const PhysicalPage> pages) {
  const std::uint64_t size = books_.page_size();
  for_each_or_undo(
      pages.size(),
      [&](std::size_t i) { books_.map(heap, address + i * size, pages[i], [](std::uint64_t) {}); },
      [&](std::size_t i) { books_.unmap(heap, address + i * size, [] {}); });
  books_.count_call(true);
}

void SimVirtualMemory::unmap_run(std::uint32_t heap, std::uint64_t address,
                                 std::span<const PhysicalPage> pages) {
  const std::uint64_t size = books_.page_size();
  for_each_or_undo(
      pages.size(), [&](std::size_t i) { books_.unmap(heap, address + i * size, [] {}); },
      [&](std::size_t i) { books_.map(heap, address + i * size, pages[i], [](std::uint64_t) {}); });
  books_.count_call(false);
}

}  // namespace gpumem::detail
