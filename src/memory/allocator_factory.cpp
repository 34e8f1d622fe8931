#include "gpumem/memory/allocator_factory.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/memory/block_pool_allocator.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"

namespace gpumem {

AllocatorKind resolve_allocator_kind(AllocatorKind kind, BlockSource& source) {
  if (kind != AllocatorKind::Auto) return kind;
  // Device memory on a device that can map pages goes to the arena, which wastes least (see
  // docs/PERFORMANCE.md); host-visible heaps stay small and are mapped by the CPU, where a pool of
  // persistently mapped blocks is what Vulkan and CUDA users expect.
  const bool device_memory = !uses_host_visible_budget(source.heap().kind);
  if (device_memory && source.device().virtual_memory() != nullptr) return AllocatorKind::Arena;
  return AllocatorKind::Pool;
}

std::unique_ptr<HeapAllocator> make_heap_allocator(AllocatorKind kind, BlockSource& source) {
  switch (resolve_allocator_kind(kind, source)) {
    case AllocatorKind::Direct:
      return std::make_unique<DirectAllocator>(source);
    case AllocatorKind::Pool:
      return std::make_unique<BlockPoolAllocator>(source);
    case AllocatorKind::Arena:
      return std::make_unique<PageArenaAllocator>(source);  // Unsupported without VMM
    case AllocatorKind::Auto:
      break;
  }
  throw Unsupported(fmt::format("allocator '{}' is not available for heap '{}' of device '{}'",
                                to_string(kind), source.heap().name, source.device().info().name));
}

std::vector<AllocatorKind> available_allocator_kinds() {
  return {AllocatorKind::Direct, AllocatorKind::Pool, AllocatorKind::Arena};
}

}  // namespace gpumem
