#include "transfer/transfer_checks.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace gpumem::detail {
namespace {

bool fits(std::uint64_t size, std::uint64_t target_size, std::uint64_t offset) {
  return offset <= target_size && size <= target_size - offset;
}

[[noreturn]] void refuse(std::string_view what, std::uint64_t size, std::string_view target,
                         std::uint64_t target_size, std::uint64_t offset) {
  throw InvalidArgument(fmt::format("{} of {} bytes at offset {} does not fit {} of {} bytes", what,
                                    size, offset, target, target_size));
}

}  // namespace

void check_range(std::string_view what, std::uint64_t size, const RawBlock& target,
                 std::uint64_t offset) {
  if (!target) throw InvalidArgument(fmt::format("{}: the block is empty", what));
  if (!fits(size, target.size, offset)) {
    refuse(what, size, fmt::format("block {} (heap {})", target.id, target.heap), target.size,
           offset);
  }
}

void check_range(std::string_view what, std::uint64_t size, const Allocation& target,
                 std::uint64_t offset) {
  if (!target) throw InvalidArgument(fmt::format("{}: the allocation is empty", what));
  if (!fits(size, target.size(), offset)) {
    refuse(what, size, fmt::format("allocation {}", target.id()), target.size(), offset);
  }
}

std::uint32_t transfer_heap(std::string_view what, const Manager& manager,
                            std::optional<std::uint32_t> chosen, HeapKind kind) {
  if (!chosen) return manager.heap_for(kind);
  if (*chosen >= manager.heaps().size()) {
    throw InvalidArgument(fmt::format("{} options: heap {} does not exist (the device has {})",
                                      what, *chosen, manager.heaps().size()));
  }
  return *chosen;
}

AllocationRequest staging_request(std::uint64_t size, std::uint32_t heap, std::uint64_t alignment,
                                  const Tag& tag) {
  return {.size = size,
          .alignment = std::max<std::uint64_t>(alignment, 4096),
          .heap = heap,
          .category = Category::Staging,
          .tag = tag,
          .movable = false};
}

}  // namespace gpumem::detail
